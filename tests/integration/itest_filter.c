// SPDX-License-Identifier: GPL-2.0
/*
 * Filters against the real kernel: in a network namespace of its own, the
 * test opens TCP and UDP sockets (IPv4 and IPv6, loopback and wildcard) and
 * checks that `portwatch ports EXPR` lists the same sockets as `ss EXPR` for
 * every expression ss understands, and the expected ones for the conditions
 * ss lacks (state bound, comm, uid, pid, family, netns by name, inode and
 * cookie). Then `watch EXPR` and `watch --event KIND` deliver only matching
 * events, with an RFC 3339 `ts`, and a bad expression is refused with its
 * column (CLI: exit 2; protocol: bad_request).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"
#include "itest_run.h"

#define VISIBLE_MS 2000

static struct itest_daemon daemon_;
static char cookie[32], inode[32], nsname[64];
static bool named;

/* The test's sockets: proto, family, address, port, listening. */
static const struct tsock {
	const char *proto;
	int family;
	const char *addr;
	unsigned port;
	bool listen;
	/* opened once the daemon runs (its bind event is what shows it): on
	 * 5.10 no snapshot sees a TCP socket bound and not listening (nor does
	 * ss there); the matrix measured 6.1 and later seeing it */
	bool late;
} socks[] = {
	{ "tcp", AF_INET, "127.0.0.1", 8080, true },
	{ "tcp", AF_INET, "0.0.0.0", 3000, true },
	{ "tcp", AF_INET6, "::1", 2222, true },
	{ "tcp", AF_INET, "127.0.0.2", 4444, false, true },	/* bound, not listening */
	{ "udp", AF_INET, "127.0.0.1", 5353, false },
	{ "udp", AF_INET6, "::", 5354, false },
	{ "udp", AF_INET, "0.0.0.0", 161, false },
};
#define NSOCKS (sizeof(socks) / sizeof(socks[0]))
static int fds[NSOCKS];

static int open_tsock(const struct tsock *t)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	fd = socket(t->family, !strcmp(t->proto, "tcp") ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (t->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)t->port);
		inet_pton(AF_INET6, t->addr, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)t->port);
		inet_pton(AF_INET, t->addr, &s4->sin_addr);
		len = sizeof(*s4);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) || (t->listen && listen(fd, 8))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "proto/port" of each socket a ports result lists, sorted, comma-joined. */
static char *ports_set(const char *json_text)
{
	json_error_t je;
	json_t *arr = json_loads(json_text, 0, &je), *v;
	char *items[64], *out;
	size_t i, n = 0, len = 1;

	if (!json_is_array(arr))
		fail_msg("ports --json printed no array (%s): %s", je.text, json_text);
	json_array_foreach(arr, i, v) {
		if (n == 64)
			break;
		if (asprintf(&items[n], "%s/%lld", json_string_value(json_object_get(v, "proto")),
			     (long long)json_integer_value(json_object_get(v, "port"))) < 0)
			fail();
		len += strlen(items[n++]) + 1;
	}
	json_decref(arr);
	qsort(items, n, sizeof(items[0]), cmp_str);
	out = calloc(1, len);
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, items[i]);
		free(items[i]);
	}
	return out;
}

/* The same set from `ss -H -tuan` lines: "tcp LISTEN 0 128 127.0.0.1:8080 0.0.0.0:*". */
static char *ss_set(const char *text)
{
	char *dup = strdup(text), *line, *save = NULL, *items[64], *out;
	size_t n = 0, len = 1;

	for (line = strtok_r(dup, "\n", &save); line && n < 64; line = strtok_r(NULL, "\n", &save)) {
		char proto[8], state[16], local[128], *colon;

		if (sscanf(line, "%7s %15s %*s %*s %127s", proto, state, local) != 3)
			continue;
		colon = strrchr(local, ':');
		if (!colon)
			continue;
		if (asprintf(&items[n], "%s/%s", proto, colon + 1) < 0)
			fail();
		len += strlen(items[n++]) + 1;
	}
	free(dup);
	qsort(items, n, sizeof(items[0]), cmp_str);
	out = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, items[i]);
		free(items[i]);
	}
	return out;
}

/* The set `portwatch ports` lists for expr, restricted to this namespace. */
static char *pw_set(const char *expr)
{
	const char *args[] = { "--json", "ports", "--netns", cookie, expr, NULL };
	char *out, *err, *set;
	int rc = itest_pw(daemon_.sock, &out, &err, args);

	if (rc)
		fail_msg("portwatch ports '%s': exit %d: %s", expr, rc, err);
	set = ports_set(out);
	free(out);
	free(err);
	return set;
}

/* Open the test's sockets that are (not) late. 0 or -1. */
static int open_socks(bool late)
{
	for (size_t i = 0; i < NSOCKS; i++) {
		if (socks[i].late != late)
			continue;
		fds[i] = open_tsock(&socks[i]);
		if (fds[i] < 0) {
			fprintf(stderr, "cannot open %s %s:%u\n", socks[i].proto, socks[i].addr,
				socks[i].port);
			return -1;
		}
	}
	return 0;
}

static bool all_visible(void)
{
	char *set = pw_set("");
	bool ok = !strcmp(set, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354");

	free(set);
	return ok;
}

static int setup(void **state)
{
	struct stat st;
	char cmd[160];

	(void) state;
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	if (open_socks(false))
		return -1;
	snprintf(cookie, sizeof(cookie), "%llu", (unsigned long long)itest_netns_cookie());
	if (stat("/proc/self/ns/net", &st))
		return -1;
	snprintf(inode, sizeof(inode), "%llu", (unsigned long long)st.st_ino);
	/* name this namespace the way `ip netns` does (a bind mount in /run/netns) */
	snprintf(nsname, sizeof(nsname), "pwfilter-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "ip netns attach %s %d 2>/dev/null", nsname, (int)getpid());
	named = system(cmd) == 0;
	if (itest_daemon_start(&daemon_, NULL) || open_socks(true))
		return -1;
	if (!ITEST_WAIT(all_visible(), VISIBLE_MS * itest_slow())) {
		const char *args[] = { "--json", "ports", NULL };
		char *set = pw_set(""), *out = NULL, *err = NULL;

		(void) itest_pw(daemon_.sock, &out, &err, args);
		fprintf(stderr, "the test's sockets never all showed in ports: netns %s lists "
			"%s; all of ports says: %.2000s\n", cookie, set, out ? out : err);
		free(set);
		free(out);
		free(err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void) state;
	itest_daemon_cleanup(&daemon_);
	if (named) {
		snprintf(cmd, sizeof(cmd), "ip netns delete %s 2>/dev/null", nsname);
		(void) !system(cmd);
	}
	for (size_t i = 0; i < NSOCKS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* Expressions ss(8) shares: the same sockets. */
static void test_same_as_ss(void **state)
{
	static const char *const exprs[] = {
		"sport = :8080",
		"sport == :8080",
		"sport != :8080",
		"sport > :3000",
		"sport < :3000",
		"sport >= :3000",
		"sport <= :3000",
		"sport gt :3000",
		"sport lt :3000",
		"sport ge :5353 and sport le :5354",
		"dport = :0",
		"src 127.0.0.1",
		"src 127.0.0.0/8",
		"src 0.0.0.0",
		"src [::1]",
		"src :5353",
		"src 127.0.0.1:8080",
		"src [::1]:2222",
		"not src 127.0.0.1",
		"( sport = :8080 or sport = :5353 )",
		"sport = :8080 or sport = :5353 or src [::1]",
		"! sport = :8080",
		"not ( sport = :22 or src 127.0.0.0/8 )",
		"sport > :1000 and not src [::1]",
		"sport > :1000 && ! ( sport = :5354 || sport = :8080 )",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		const char *ss_argv[] = { "ss", "-H", "-tuan", exprs[i], NULL };
		char *out, *err, *want, *got, expr[256];
		int rc = itest_run(ss_argv, NULL, 10000, &out, &err);

		if (rc)
			fail_msg("ss '%s': exit %d: %s", exprs[i], rc, err);
		want = ss_set(out);
		/* Debian 12's ss does not dump bound, unlistened TCP sockets (ss -B
		 * arrived in iproute2 6.9): leave the test's one out of the comparison */
		snprintf(expr, sizeof(expr), "( %s ) and not ( tcp state bound )", exprs[i]);
		got = pw_set(expr);
		if (strcmp(got, want))
			fail_msg("'%s': portwatch lists [%s], ss [%s]", exprs[i], got, want);
		free(want);
		free(got);
		free(out);
		free(err);
	}
}

/* Conditions ss lacks, or means differently: the expected sockets. */
static void test_own_conditions(void **state)
{
	char uid_expr[64], pid_expr[64], comm_expr[64], nsn[96], nsi[64], nsc[64], other[64];
	char comm[32] = "", path[64];
	FILE *f;
	const struct { const char *expr; const char *want; } cases[] = {
		{ "state listening", "tcp/2222,tcp/3000,tcp/8080" },
		{ "state bound", "tcp/4444,udp/161,udp/5353,udp/5354" },
		{ "state connected", "" },
		{ "state all", "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ "tcp", "tcp/2222,tcp/3000,tcp/4444,tcp/8080" },
		{ "udp and family inet6", "udp/5354" },
		{ "family inet and state bound", "tcp/4444,udp/161,udp/5353" },
		{ "sport = :5000-6000", "udp/5353,udp/5354" },
		{ "sport != 1-5000", "tcp/8080,udp/5353,udp/5354" },
		{ "src 127.0.0.2", "tcp/4444" },
		{ uid_expr, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ "uid != 0", "" },
		{ pid_expr, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ comm_expr, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ "comm nosuchprocess", "" },
		{ nsi, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ nsc, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
		{ other, "" },
		{ named ? nsn : nsi, "tcp/2222,tcp/3000,tcp/4444,tcp/8080,udp/161,udp/5353,udp/5354" },
	};

	(void) state;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)getpid());
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	snprintf(uid_expr, sizeof(uid_expr), "uid = %d", (int)getuid());
	snprintf(pid_expr, sizeof(pid_expr), "pid = %d", (int)getpid());
	snprintf(comm_expr, sizeof(comm_expr), "comm %.10s*", comm);
	snprintf(nsi, sizeof(nsi), "netns = %s", inode);
	snprintf(nsc, sizeof(nsc), "netns %s", cookie);
	snprintf(nsn, sizeof(nsn), "netns %s", nsname);
	snprintf(other, sizeof(other), "not netns %s", inode);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = pw_set(cases[i].expr);

		if (strcmp(got, cases[i].want))
			fail_msg("'%s': portwatch lists [%s], want [%s]", cases[i].expr, got,
				 cases[i].want);
		free(got);
	}
}

/* The options: -4/-6, --comm, --uid, --netns by name and inode, -H. */
static void test_options(void **state)
{
	char *out, *err;
	int rc;

	(void) state;
	{
		const char *a[] = { "ports", "-H", "-6", "--netns", inode, NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 0);
		/* two IPv6 sockets, no header line */
		assert_null(strstr(out, "PROTO"));
		assert_non_null(strstr(out, "[::1]:2222"));
		assert_non_null(strstr(out, "[::]:5354"));
		assert_null(strstr(out, "8080"));
		/* NETNS shows the name when there is one, else the inode */
		assert_non_null(strstr(out, named ? nsname : inode));
		free(out);
		free(err);
	}
	{
		const char *a[] = { "--json", "ports", "-4", "--uid", "0", "--comm", "nosuch*",
				    NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 0);
		assert_string_equal(out, "[]\n");
		free(out);
		free(err);
	}
	if (named) {
		const char *a[] = { "--json", "ports", "--netns", nsname, "sport = :8080", NULL };
		json_t *arr, *s;

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 0);
		arr = json_loads(out, 0, NULL);
		assert_int_equal(json_array_size(arr), 1);
		s = json_array_get(arr, 0);
		assert_string_equal(json_string_value(json_object_get(s, "netns_name")), nsname);
		assert_int_equal(json_integer_value(json_object_get(s, "netns_inode")),
				 strtoll(inode, NULL, 10));
		json_decref(arr);
		free(out);
		free(err);
	}
	{
		/* a comm that would change the expression around it */
		const char *a[] = { "ports", "--comm", "a b", NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 2);
		assert_non_null(strstr(err, "--comm"));
		free(out);
		free(err);
	}
}

/* Errors name the column: the CLI before asking (exit 2, JSON on stderr with
 * --json), the daemon for any client (bad_request). */
static void test_errors(void **state)
{
	char *out, *err;
	json_t *e, *res = NULL;
	int rc;

	(void) state;
	{
		const char *a[] = { "ports", "sport", "=", ":80", "foo", NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 2);
		assert_string_equal(out, "");
		assert_non_null(strstr(err, "column 13: unknown condition \"foo\""));
		/* the expression, then a caret under column 13 */
		assert_non_null(strstr(err, "\n  sport = :80 foo\n              ^\n"));
		free(out);
		free(err);
	}
	{
		const char *a[] = { "--json", "ports", "( tcp", NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 2);
		assert_string_equal(out, "");
		e = json_loads(err, 0, NULL);
		assert_non_null(e);
		assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"),
								       "code")), "usage");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "error"),
								    "column")), 6);
		json_decref(e);
		free(out);
		free(err);
	}
	{
		const char *a[] = { "watch", "sport", "<", ":1-5", NULL };

		rc = itest_pw(daemon_.sock, &out, &err, a);
		assert_int_equal(rc, 2);
		assert_non_null(strstr(err, "column 9: a port range cannot be compared with <"));
		free(out);
		free(err);
	}
	rc = itest_call(&daemon_, "ports", json_pack("{s:s}", "filter", "src 10.0.0.0/33"), &res);
	assert_int_equal(rc, 4);	/* PW_E_BAD_REQUEST */
	rc = itest_call(&daemon_, "watch", json_pack("{s:s}", "filter", "sport ="), &res);
	assert_int_equal(rc, 4);
	rc = itest_call(&daemon_, "watch", json_pack("{s:[s]}", "events", "nosuch"), &res);
	assert_int_equal(rc, 4);
	rc = itest_call(&daemon_, "ports", json_pack("{s:i}", "filter", 7), &res);
	assert_int_equal(rc, 4);
}

/* A watcher: `portwatch --json watch ARGS...` with its stdout on a pipe. */
struct watcher {
	pid_t pid;
	int out;
	char buf[8192];
	size_t len;
};

static size_t watchers_now(void)
{
	json_t *res = NULL;
	size_t n = 0;

	if (itest_call(&daemon_, "status", NULL, &res) == 0)
		n = (size_t)json_integer_value(json_object_get(res, "watchers"));
	json_decref(res);
	return n;
}

static void watch_start(struct watcher *w, const char *const *extra)
{
	const char *argv[32];
	char bin[256];
	int p[2], n = 0;
	size_t before = watchers_now();

	snprintf(bin, sizeof(bin), "%s/portwatch", itest_build());
	argv[n++] = bin;
	argv[n++] = "--json";
	argv[n++] = "watch";
	for (int i = 0; extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	w->len = 0;
	w->pid = fork();
	assert_true(w->pid >= 0);
	if (!w->pid) {
		dup2(p[1], 1);
		close(p[0]);
		setenv("PORTWATCH_SOCKET", daemon_.sock, 1);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	w->out = p[0];
	assert_true(ITEST_WAIT(watchers_now() > before, 5000 * itest_slow()));
}

/* Wait for the watcher to exit (it was given --count); its output. */
static char *watch_finish(struct watcher *w)
{
	int status = 0;
	uint64_t dl = itest_now_ns() + 5000ull * itest_slow() * 1000000ull;

	for (;;) {
		ssize_t r;

		if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
			while ((r = read(w->out, w->buf + w->len, sizeof(w->buf) - w->len - 1)) > 0)
				w->len += (size_t)r;
			break;
		}
		if (itest_now_ns() > dl) {
			kill(w->pid, SIGKILL);
			waitpid(w->pid, &status, 0);
			close(w->out);
			w->buf[w->len] = 0;
			fail_msg("watcher did not finish; it printed: %s", w->buf);
		}
		itest_yield();
	}
	close(w->out);
	w->buf[w->len] = 0;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return w->buf;
}

static void test_watch(void **state)
{
	const char *by_port[] = { "sport", "=", ":7001", "--count", "2", NULL };
	const char *by_kind[] = { "--event", "listen", "tcp", "--count", "1", NULL };
	struct tsock other = { "udp", AF_INET, "127.0.0.1", 7002, false };
	struct tsock mine = { "tcp", AF_INET, "127.0.0.1", 7001, true };
	struct watcher w1, w2;
	regex_t re;
	char *text, *line, *save = NULL;
	int fo, fm, lines = 0;

	(void) state;
	watch_start(&w1, by_port);
	watch_start(&w2, by_kind);
	/* not for w1 (port), not for w2 (udp bind) */
	fo = open_tsock(&other);
	assert_true(fo >= 0);
	/* w1: bind and listen... w1 takes 2 events: bind and listen of 7001 */
	fm = open_tsock(&mine);
	assert_true(fm >= 0);
	text = watch_finish(&w1);
	assert_int_equal(regcomp(&re, "\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
				 "[0-9]{2}\\.[0-9]{6}[+-][0-9]{2}:[0-9]{2}\"", REG_EXTENDED), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);

		assert_non_null(e);
		assert_int_equal(json_integer_value(json_object_get(e, "port")), 7001);
		assert_non_null(json_object_get(e, "ts_ns"));
		assert_int_equal(json_integer_value(json_object_get(e, "netns_inode")),
				 strtoll(inode, NULL, 10));
		if (regexec(&re, line, 0, NULL, 0))
			fail_msg("no RFC 3339 ts in %s", line);
		json_decref(e);
		lines++;
	}
	assert_int_equal(lines, 2);
	text = watch_finish(&w2);
	{
		json_t *e = json_loads(text, 0, NULL);

		assert_non_null(e);
		assert_string_equal(json_string_value(json_object_get(e, "event")), "listen");
		assert_int_equal(json_integer_value(json_object_get(e, "port")), 7001);
		json_decref(e);
	}
	regfree(&re);
	close(fo);
	close(fm);
}

/* A bind that changes an allocation reaches watchers before the allocation
 * event it causes. */
static void test_watch_order(void **state)
{
	const char *args[] = { "--event", "bind,allocation", "--count", "2", "sport", "=", NULL,
			       NULL };
	struct tsock t = { "tcp", AF_INET, "127.0.0.1", 0, false };
	struct watcher w;
	json_t *res = NULL, *e;
	char port[16], *text, *line, *save = NULL;
	const char *want[] = { "bind", "allocation" };
	int fd, i = 0;

	(void) state;
	assert_int_equal(itest_call(&daemon_, "allocate", json_pack("{s:s, s:i}", "service_type",
								     "dev", "pid", (int)getpid()),
				    &res), 0);
	t.port = (unsigned)json_integer_value(json_object_get(res, "port"));
	json_decref(res);
	snprintf(port, sizeof(port), ":%u", t.port);
	args[6] = port;
	watch_start(&w, args);
	fd = open_tsock(&t);
	assert_true(fd >= 0);
	text = watch_finish(&w);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		e = json_loads(line, 0, NULL);
		assert_non_null(e);
		assert_true(i < 2);
		assert_string_equal(json_string_value(json_object_get(e, "event")), want[i]);
		if (i == 1)
			assert_string_equal(json_string_value(json_object_get(e, "state")), "bound");
		json_decref(e);
	}
	assert_int_equal(i, 2);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_ss),
		cmocka_unit_test(test_own_conditions),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_order),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
