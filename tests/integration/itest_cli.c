// SPDX-License-Identifier: GPL-2.0
/*
 * Every CLI command in every mode against a real daemon, in a network
 * namespace of the test's own: human output (exit 0, nothing on stderr),
 * --json (stdout is one JSON document on one line, parsed by jansson), and
 * errors (nothing on stdout; one line on stderr, or with --json one JSON
 * object {"error":{"code","message"}} on stderr). Every exit status is
 * checked against the table in README.md: the status an error exits with is
 * the one the README gives its code. Then every command without a daemon
 * (exit 3, no_daemon).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"
#include "itest_run.h"

static struct itest_daemon daemon_;
static char cfg_path[200];
/* exit status of each error code, from README.md's table */
static json_t *readme_codes;
static char port_h[8], port_j[8], port_other[8], id_j[24];
static int checked;

enum { HUMAN = 1, JSON = 2, BOTH = 3 };

struct ccase {
	unsigned modes;
	int want;		/* exit status */
	int uid;		/* -1: root */
	bool multiline_err;	/* a filter error: message, expression, caret */
	const char *args[12];
};

/* The README's exit table: "| 7 | `unknown_service_type` | ... |". */
static json_t *read_exit_table(void)
{
	FILE *f = fopen("README.md", "r");
	json_t *m = json_object();
	char line[512];

	if (!f) {
		char path[300];

		snprintf(path, sizeof(path), "%s/../README.md", itest_build());
		f = fopen(path, "r");
	}
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f)) {
		char code[64];
		int st;

		if (sscanf(line, "| %d | `%63[a-z_]` |", &st, code) == 2)
			json_object_set_new(m, code, json_integer(st));
	}
	fclose(f);
	return m;
}

/*
 * Port 43300 held where the port map cannot see it: a UDP socket given the
 * port by connect() (no bind hook fires), this namespace's ephemeral range
 * pinned to it for the moment. The test bind of `allocate hide` fails on it:
 * a conflict, and with max_retries 0 the request gives up (exit 10).
 */
static int hidden_fd = -1;

static int hide_port(void)
{
	static const char *const range = "/proc/sys/net/ipv4/ip_local_port_range";
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char saved[64] = "";
	FILE *f = fopen(range, "r");
	int r = -1;

	if (!f || !fgets(saved, sizeof(saved), f))
		goto out;
	fclose(f);
	f = fopen(range, "w");
	if (!f || fputs("43300 43300", f) < 0 || fclose(f))
		return -1;
	f = NULL;
	hidden_fd = socket(AF_INET, SOCK_DGRAM, 0);
	r = hidden_fd >= 0 && !connect(hidden_fd, (struct sockaddr *)&to, sizeof(to)) ? 0 : -1;
	f = fopen(range, "w");
	if (!f || fputs(saved, f) < 0)
		r = -1;
out:
	if (f)
		fclose(f);
	return r;
}

static int setup(void **state)
{
	const char *const extra[] = { "--config", cfg_path, NULL };
	json_t *res = NULL;
	FILE *f;

	(void) state;
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	readme_codes = read_exit_table();
	if (json_object_size(readme_codes) != 12) {
		fprintf(stderr, "README.md: expected 12 error codes in the exit table, found %zu\n",
			json_object_size(readme_codes));
		return -1;
	}
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/itest_cli_cfg.%d.json", (int)getpid());
	f = fopen(cfg_path, "w");
	if (!f)
		return -1;
	fputs("{\"service_types\":{"
	      "\"dev\":{\"description\":\"dev\",\"port_range\":[43000,43099]},"
	      "\"solo\":{\"description\":\"single\",\"port_range\":[43100,43109],"
	      "\"instance_behavior\":\"single\"},"
	      "\"one\":{\"description\":\"one port\",\"port_range\":[43200,43200]},"
	      "\"hide\":{\"description\":\"held unseen\",\"port_range\":[43300,43300]}},"
	      "\"recovery\":{\"port_conflict\":{\"max_retries\":0,\"conflict_hold_ms\":1}}}\n",
	      f);
	fclose(f);
	if (itest_daemon_start(&daemon_, extra))
		return -1;
	/* after the start-up snapshot, which would list it */
	if (hide_port())
		return -1;
	/* allocations owned by this test: two to release (one per mode), one held */
	for (int i = 0; i < 3; i++) {
		char *dst = i == 0 ? port_h : i == 1 ? port_j : port_other;

		if (itest_call(&daemon_, "allocate", json_pack("{s:s, s:i}", "service_type", "dev",
							       "pid", (int)getpid()), &res))
			return -1;
		snprintf(dst, 8, "%lld", (long long)json_integer_value(json_object_get(res, "port")));
		if (i == 1)
			snprintf(id_j, sizeof(id_j), "%lld",
				 (long long)json_integer_value(json_object_get(res, "id")));
		json_decref(res);
	}
	/* "one" is full: its only port is allocated */
	if (itest_call(&daemon_, "allocate", json_pack("{s:s, s:i}", "service_type", "one", "pid",
						       (int)getpid()), &res))
		return -1;
	json_decref(res);
	return 0;
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	(void) unlink(cfg_path);
	if (hidden_fd >= 0)
		close(hidden_fd);
	json_decref(readme_codes);
	printf("%d command runs checked\n", checked);
	return 0;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char *describe(const char *const *args, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; args[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", args[i]);
	return buf;
}

/* One run of a case in one mode, with every check. */
static void run_case(const struct ccase *c, bool json, const char *sock)
{
	const char *argv[16];
	char *out, *err, what[256];
	int n = 0, rc;

	if (json)
		argv[n++] = "--json";
	for (int i = 0; c->args[i]; i++)
		argv[n++] = c->args[i];
	argv[n] = NULL;
	describe(argv, what, sizeof(what));
	if (c->uid >= 0) {
		const char *full[18];
		char bin[256];

		snprintf(bin, sizeof(bin), "%s/portwatch", itest_build());
		full[0] = bin;
		memcpy(full + 1, argv, (size_t)(n + 1) * sizeof(*argv));
		rc = itest_run_uid(full, sock, c->uid, 10000, &out, &err);
	} else {
		rc = itest_pw(sock, &out, &err, argv);
	}
	checked++;
	if (rc != c->want)
		fail_msg("portwatch %s: exit %d, want %d\nstdout: %s\nstderr: %s", what, rc, c->want,
			 out, err);
	if (!c->want) {
		if (*err)
			fail_msg("portwatch %s: exit 0 but stderr: %s", what, err);
		if (!*out)
			fail_msg("portwatch %s: printed nothing", what);
		if (json) {
			json_error_t je;
			json_t *doc = json_loads(out, JSON_DECODE_ANY, &je);

			if (!doc)
				fail_msg("portwatch %s: stdout is not JSON (%s at line %d): %s", what,
					 je.text, je.line, out);
			/* compact when stdout is not a terminal: one line */
			if (count_lines(out) != 1)
				fail_msg("portwatch %s: %d lines of JSON, want 1", what, count_lines(out));
			json_decref(doc);
		}
		goto out;
	}
	/* errors: nothing on stdout */
	if (*out)
		fail_msg("portwatch %s: exit %d with stdout: %s", what, rc, out);
	if (json) {
		json_error_t je;
		json_t *e = json_loads(err, 0, &je), *eo = json_object_get(e, "error");
		const char *code = json_string_value(json_object_get(eo, "code"));
		json_t *st = code ? json_object_get(readme_codes, code) : NULL;

		if (!e)
			fail_msg("portwatch %s: stderr is not JSON (%s): %s", what, je.text, err);
		if (!code || !json_is_string(json_object_get(eo, "message")))
			fail_msg("portwatch %s: no error.code and error.message: %s", what, err);
		if (!st || json_integer_value(st) != rc)
			fail_msg("portwatch %s: code %s exits %d; README.md says %lld", what, code, rc,
				 st ? (long long)json_integer_value(st) : -1ll);
		/* a conflict names each port and why, in words */
		if (!strcmp(code, "conflict") &&
		    !strstr(json_string_value(json_object_get(eo, "message")), "port 43300 ("))
			fail_msg("portwatch %s: conflict message without the port: %s", what, err);
		/* messages are sentences, not escaped JSON */
		if (strstr(json_string_value(json_object_get(eo, "message")), "{\""))
			fail_msg("portwatch %s: JSON inside the message: %s", what, err);
		if (count_lines(err) != 1)
			fail_msg("portwatch %s: JSON error of %d lines", what, count_lines(err));
		json_decref(e);
	} else if (!c->multiline_err && count_lines(err) != 1) {
		fail_msg("portwatch %s: error of %d lines, want 1: %s", what, count_lines(err), err);
	} else if (!*err) {
		fail_msg("portwatch %s: exit %d without a message", what, rc);
	}
out:
	free(out);
	free(err);
}

static void run_cases(const struct ccase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (cases[i].modes & HUMAN)
			run_case(&cases[i], false, daemon_.sock);
		if (cases[i].modes & JSON)
			run_case(&cases[i], true, daemon_.sock);
	}
}

static void test_success(void **state)
{
	const struct ccase cases[] = {
		{ BOTH, 0, -1, false, { "ports" } },
		{ BOTH, 0, -1, false, { "ports", "--tcp", "--listening" } },
		{ BOTH, 0, -1, false, { "ports", "--summary" } },
		{ BOTH, 0, -1, false, { "ports", "state", "bound", "or", "not", "tcp" } },
		{ BOTH, 0, -1, false, { "status" } },
		{ BOTH, 0, -1, false, { "types" } },
		{ BOTH, 0, -1, false, { "list" } },
		{ BOTH, 0, -1, false, { "list", "--type", "dev" } },
		{ BOTH, 0, -1, false, { "check", port_other } },
		{ BOTH, 0, -1, false, { "check", "2024" } },
		{ BOTH, 0, -1, false, { "audit" } },
		{ BOTH, 0, -1, false, { "audit", "--limit", "2" } },
		{ BOTH, 0, -1, false, { "health" } },
		{ BOTH, 0, -1, false, { "metrics" } },
		{ BOTH, 0, -1, false, { "recover", "--dry-run" } },
		{ BOTH, 0, -1, false, { "allocate", "dev", "--name", "cli" } },
		{ BOTH, 0, -1, false, { "allocate", "solo" } },
		{ HUMAN, 0, -1, false, { "allocate", "dev", "-q" } },
		/* run execs the command: its output, in either mode */
		{ BOTH, 0, -1, false, { "run", "dev", "--", "sh", "-c", "echo $PORT" } },
		{ HUMAN, 0, -1, false, { "release", port_h } },
		{ JSON, 0, -1, false, { "release", "--id", id_j } },
		{ HUMAN, 0, -1, false, { "--help" } },
		{ HUMAN, 0, -1, false, { "ports", "--help" } },
		{ HUMAN, 0, -1, false, { "run", "--help" } },
	};

	(void) state;
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_errors(void **state)
{
	static char long_name[300], huge_comm[5001];
	const struct ccase cases[] = {
		{ BOTH, 2, -1, false, { "nosuch" } },
		{ BOTH, 2, -1, false, { "--bogus", "ports" } },
		{ BOTH, 2, -1, false, { "ports", "--bogus" } },
		{ BOTH, 2, -1, false, { "ports", "--port" } },
		{ BOTH, 2, -1, false, { "ports", "--port", "0" } },
		{ BOTH, 2, -1, true, { "ports", "sport", "=" } },
		{ BOTH, 2, -1, false, { "ports", "--comm", "a(b" } },
		{ BOTH, 2, -1, false, { "watch", "--count", "0" } },
		{ BOTH, 2, -1, false, { "watch", "--event", "nosuch" } },
		{ BOTH, 2, -1, true, { "watch", "(", "tcp" } },
		{ BOTH, 2, -1, false, { "status", "extra" } },
		{ BOTH, 2, -1, false, { "allocate" } },
		{ BOTH, 7, -1, false, { "allocate", "nosuch" } },
		{ BOTH, 9, -1, false, { "allocate", "dev", "--port", "80" } },
		{ BOTH, 4, -1, false, { "allocate", "dev", "--name", long_name } },
		{ BOTH, 8, -1, false, { "allocate", "one" } },
		{ BOTH, 12, -1, false, { "allocate", "solo", "--exclusive" } },
		/* one mode, then the other after a case: a conflict holds the port
		 * off for conflict_hold_ms (1), which a quick second run may hit */
		{ HUMAN, 10, -1, false, { "allocate", "hide" } },
		{ BOTH, 5, 65534, false, { "release", port_other } },
		{ JSON, 10, -1, false, { "allocate", "hide" } },
		{ BOTH, 5, 65534, false, { "allocate", "dev", "--pid", "1" } },
		{ BOTH, 2, -1, false, { "run", "dev" } },
		{ BOTH, 7, -1, false, { "run", "nosuch", "--", "true" } },
		{ BOTH, 2, -1, false, { "release" } },
		{ BOTH, 2, -1, false, { "release", "0" } },
		{ BOTH, 6, -1, false, { "release", "1" } },
		{ BOTH, 6, -1, false, { "release", "--id", "999999" } },
		{ BOTH, 7, -1, false, { "list", "--type", "nosuch" } },
		{ BOTH, 2, -1, false, { "list", "x" } },
		{ BOTH, 2, -1, false, { "check" } },
		{ BOTH, 2, -1, false, { "check", "70000" } },
		{ BOTH, 2, -1, false, { "types", "x" } },
		{ BOTH, 2, -1, false, { "audit", "--limit", "0" } },
		{ BOTH, 2, -1, false, { "audit", "--limit", "x" } },
		{ BOTH, 2, -1, false, { "health", "x" } },
		{ BOTH, 2, -1, false, { "metrics", "x" } },
		{ BOTH, 2, -1, false, { "recover" } },
		/* arguments that are not UTF-8 are refused, not dropped */
		{ BOTH, 2, -1, false, { "allocate", "dev", "--name", "\xff" "bad" } },
		{ BOTH, 2, -1, false, { "allocate", "dev", "--project", "/tmp/\xfe" } },
		{ BOTH, 2, -1, false, { "allocate", "\xff" } },
		{ BOTH, 2, -1, false, { "list", "--type", "\xff" } },
		{ BOTH, 2, -1, true, { "ports", "comm", "\xff" "a" } },
		{ BOTH, 2, -1, false, { "ports", "--comm", "\xff" } },
		/* pid 0 would make the CLI itself the owner */
		{ BOTH, 2, -1, false, { "allocate", "dev", "--pid", "0" } },
		{ BOTH, 2, -1, false, { "ports", "--pid", "0" } },
		/* option values the grammar does not take: exit 2 from the CLI */
		{ BOTH, 2, -1, false, { "ports", "--comm", "\x1b[2J" } },
		{ BOTH, 2, -1, false, { "ports", "--netns", "a\x01" } },
		{ BOTH, 2, -1, false, { "ports", "--comm", huge_comm } },
		{ BOTH, 2, -1, false, { "watch", "--event", "" } },
		{ BOTH, 2, -1, false, { "watch", "--event", "," } },
		{ BOTH, 2, -1, false, { "watch", "--event", "bind," } },
		{ BOTH, 2, -1, false, { "watch", "--count", "-1" } },
		{ BOTH, 2, -1, false, { "release", "--id", "0" } },
		{ BOTH, 2, -1, false, { "release", "3001", "--id", "13" } },
		{ BOTH, 2, -1, false, { "release", "3001", "3002" } },
		{ BOTH, 2, -1, false, { "--socket", "", "status" } },
		{ BOTH, 2, -1, false, { "config", "validate", "/etc/passwd" } },
		{ BOTH, 2, -1, false, { "config", "validate", "/nonexistent/portwatch.json" } },
	};

	(void) state;
	memset(long_name, 'n', sizeof(long_name) - 1);
	memset(huge_comm, 'c', sizeof(huge_comm) - 1);
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Every command with no daemon behind the socket: exit 3, no_daemon. */
static void test_no_daemon(void **state)
{
	static const char *const cmds[][6] = {
		{ "ports" }, { "watch" }, { "status" }, { "allocate", "dev" },
		{ "run", "dev", "--", "true" }, { "release", "3000" }, { "list" }, { "check", "3000" },
		{ "types" }, { "audit" }, { "health" }, { "metrics" }, { "recover", "--dry-run" },
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct ccase c = { BOTH, 3, -1, false, { 0 } };

		memcpy(c.args, cmds[i], sizeof(cmds[i]));
		run_case(&c, false, "/nonexistent/portwatch.sock");
		run_case(&c, true, "/nonexistent/portwatch.sock");
	}
}

/* watch in both modes: a thread runs the CLI while this one binds. */
struct watch_run {
	bool json;
	int rc;
	char *out, *err;
};

static void *watch_thread(void *p)
{
	struct watch_run *w = p;
	const char *json_args[] = { "--json", "watch", "--count", "2", "sport", "=", ":7777",
				    NULL };

	w->rc = itest_pw(daemon_.sock, &w->out, &w->err, w->json ? json_args : json_args + 1);
	return NULL;
}

static size_t watchers_now(void)
{
	json_t *res = NULL;
	size_t n = 0;

	if (itest_call(&daemon_, "status", NULL, &res) == 0)
		n = (size_t)json_integer_value(json_object_get(res, "watchers"));
	json_decref(res);
	return n;
}

static void test_watch(void **state)
{
	(void) state;
	for (int mode = 0; mode < 2; mode++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7777),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct watch_run w = { .json = mode == 1 };
		size_t before = watchers_now();
		pthread_t th;
		char *line, *save = NULL;
		int fd, n = 0;

		assert_int_equal(pthread_create(&th, NULL, watch_thread, &w), 0);
		assert_true(ITEST_WAIT(watchers_now() > before, 5000 * itest_slow()));
		/* bind, close: two events */
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
		pthread_join(th, NULL);
		checked++;
		assert_int_equal(w.rc, 0);
		assert_string_equal(w.err, "");
		for (line = strtok_r(w.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (w.json) {
				json_t *e = json_loads(line, 0, NULL);

				if (!e)
					fail_msg("watch --json: not JSON: %s", line);
				assert_int_equal(json_integer_value(json_object_get(e, "port")), 7777);
				json_decref(e);
			} else if (!strstr(line, "127.0.0.1:7777")) {
				fail_msg("watch: %s", line);
			}
			n++;
		}
		assert_int_equal(n, 2);
		free(w.out);
		free(w.err);
	}
}

static char *pw_out(const char *const *args, int want)
{
	char *out, *err;
	int rc = itest_pw(daemon_.sock, &out, &err, args);

	if (rc != want)
		fail_msg("portwatch %s: exit %d, want %d: %s", args[0], rc, want, err);
	free(err);
	return out;
}

/* What the human output says, where the issue found it wanting. */
static void test_human_details(void **state)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(43050),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	const char *check[] = { "check", "43050", NULL };
	const char *status[] = { "status", NULL };
	const char *metrics[] = { "--json", "metrics", NULL };
	char want[64], *out;
	json_t *arr, *v;
	size_t i;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	(void) state;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	/* IPv6 with its port, and the owner */
	snprintf(want, sizeof(want), "pid %d (", (int)getpid());
	assert_true(ITEST_WAIT((out = pw_out(check, 0)) && strstr(out, "[::1]:43050") &&
			       strstr(out, want) ? true : (free(out), false), 5000 * itest_slow()));
	free(out);
	close(fd);
	/* hooks as a list, latency in a unit */
	out = pw_out(status, 0);
	assert_null(strstr(out, "[\""));
	assert_true(strstr(out, " µs") || strstr(out, " ns") || strstr(out, " ms") ||
		    strstr(out, "no events yet"));
	free(out);
	/* metrics --json: samples, not the text wrapped */
	out = pw_out(metrics, 0);
	arr = json_loads(out, 0, NULL);
	assert_true(json_is_array(arr) && json_array_size(arr) > 10);
	json_array_foreach(arr, i, v) {
		assert_true(json_is_string(json_object_get(v, "name")));
		assert_true(json_is_object(json_object_get(v, "labels")));
		assert_non_null(json_object_get(v, "value"));
	}
	json_decref(arr);
	free(out);
}

/* portwatchd refuses a malformed --metrics-listen while parsing: exit 2,
 * one line, before any BPF is loaded. */
static void test_daemon_args(void **state)
{
	static const char *const bad[] = { "9465", ":0", ":70000", "::1:9465", "[::1]9465",
					   "localhost:", NULL };
	char bin[256], *out, *err;

	(void) state;
	snprintf(bin, sizeof(bin), "%s/portwatchd", itest_build());
	for (int i = 0; bad[i]; i++) {
		const char *argv[] = { bin, "--socket", "/nonexistent/x.sock", "--metrics-listen",
				       bad[i], NULL };
		int rc = itest_run(argv, NULL, 5000, &out, &err);

		checked++;
		if (rc != 2 || count_lines(err) != 1 || !strstr(err, "--metrics-listen"))
			fail_msg("portwatchd --metrics-listen %s: exit %d: %s", bad[i], rc, err);
		free(out);
		free(err);
	}
	{
		const char *argv[] = { bin, "--bogus", NULL };
		int rc = itest_run(argv, NULL, 5000, &out, &err);

		assert_int_equal(rc, 2);
		assert_int_equal(count_lines(err), 1);
		free(out);
		free(err);
	}
}

/* portwatchd checks its paths and listener addresses while parsing: exit 2,
 * one line naming the option, nothing made on disk (no Styxy token), with
 * --check-config too. */
static void test_daemon_args_listeners(void **state)
{
	char bin[256], tok[128], *out, *err;
	struct stat st;
	static const char *const bad[][4] = {
		{ "--socket", "", NULL },
		{ "--state-dir", "", NULL },
		{ "--portserver", "", NULL },
		{ "--portserver", "@", NULL },
		{ "--portserver-type", "", NULL },
		{ "--styxy-http=foo", NULL },
		{ "--styxy-http=127.0.0.1:", NULL },
		{ "--config-override", "", NULL },
		/* the next option taken as the value */
		{ "--portserver", "--check-config", NULL },
		{ "--state-dir", "-v", NULL },
	};

	(void) state;
	snprintf(bin, sizeof(bin), "%s/portwatchd", itest_build());
	snprintf(tok, sizeof(tok), "/tmp/pw-itest-args-%d/auth.token", getpid());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int check = 0; check < 2; check++) {
			const char *argv[12] = { bin, "--no-bpf", "--styxy-token-file", tok };
			size_t n = 4;
			int rc;

			for (int k = 0; bad[i][k]; k++)
				argv[n++] = bad[i][k];
			/* never the default paths, even if the check regressed */
			if (strcmp(bad[i][0], "--socket"))
				argv[n++] = "--socket=/nonexistent/x.sock";
			if (strcmp(bad[i][0], "--state-dir"))
				argv[n++] = "--state-dir=/nonexistent/state";
			if (check)
				argv[n++] = "--check-config";
			argv[n] = NULL;
			rc = itest_run(argv, NULL, 5000, &out, &err);
			checked++;
			if (rc != 2 || count_lines(err) != 1 ||
			    !strstr(err, strtok(strdupa(bad[i][0]), "=")))
				fail_msg("portwatchd %s %s%s: exit %d: %s", bad[i][0],
					 bad[i][1] ? bad[i][1] : "", check ? " --check-config" : "",
					 rc, err);
			free(out);
			free(err);
		}
	}
	assert_int_not_equal(stat(tok, &st), 0);
	/* a bad listener in the config: --check-config says so, exit 3 */
	{
		char cfg[128];
		const char *argv[] = { bin, "--config", cfg, "--socket=/nonexistent/x.sock",
				       "--state-dir=/nonexistent/state", "--check-config", NULL };
		FILE *f;
		int rc;

		snprintf(cfg, sizeof(cfg), "/tmp/pw-itest-args-%d.json", getpid());
		f = fopen(cfg, "w");
		assert_non_null(f);
		fprintf(f, "{\"listeners\":{\"styxy_http\":\"foo\"}}\n");
		fclose(f);
		rc = itest_run(argv, NULL, 5000, &out, &err);
		(void) unlink(cfg);
		if (rc != 3 || !strstr(err, "listeners.styxy_http"))
			fail_msg("a config with styxy_http \"foo\": exit %d: %s", rc, err);
		free(out);
		free(err);
	}
}

/* ports --json copies the daemon's text to stdout as it comes: a write
 * that fails (a full disk) is exit 1 and says so, not a silent cut. */
static void test_output_error(void **state)
{
	char cmd[512], *out, *err;
	const char *const argv[] = { "sh", "-c", cmd, NULL };
	int rc;

	(void) state;
	snprintf(cmd, sizeof(cmd), "exec '%s/portwatch' --socket '%s' ports --json >/dev/full",
		 itest_build(), daemon_.sock);
	rc = itest_run(argv, NULL, 5000, &out, &err);
	if (rc != 1 || !strstr(err, "cannot write the output"))
		fail_msg("ports --json >/dev/full: exit %d: %s", rc, err);
	free(out);
	free(err);
}


/* stderr of one run: exit want, and it holds each of the strings. */
static void expect_err(const char *const *args, int want, const char *has1, const char *has2)
{
	char *out, *err, what[256];
	int rc = itest_pw(daemon_.sock, &out, &err, args);

	describe(args, what, sizeof(what));
	checked++;
	if (rc != want || (has1 && !strstr(err, has1)) || (has2 && !strstr(err, has2)))
		fail_msg("portwatch %s: exit %d (want %d), stderr: %s (want \"%s\", \"%s\")", what,
			 rc, want, err, has1 ? has1 : "", has2 ? has2 : "");
	free(out);
	free(err);
}

/* Errors name what was typed, with the range that is really accepted. */
static void test_messages(void **state)
{
	const char *name[] = { "allocate", "dev", "--name", "\xff" "bad", NULL };
	const char *project[] = { "allocate", "dev", "--project", "/tmp/\xfe", NULL };
	const char *pid0[] = { "allocate", "dev", "--pid", "0", NULL };
	const char *comm[] = { "ports", "--comm", "\x1b[2J", NULL };
	const char *netns[] = { "ports", "--netns", "a\x01", NULL };
	const char *ev[] = { "watch", "--event", "bind,", NULL };
	const char *count[] = { "watch", "--count", "-1", NULL };
	const char *limit[] = { "audit", "--limit", "0", NULL };
	const char *two[] = { "release", "3001", "3002", NULL };
	const char *both[] = { "release", "3001", "--id", "13", NULL };
	const char *file[] = { "--socket", "/etc/passwd", "status", NULL };
	const char *dir[] = { "--socket", "/tmp", "status", NULL };
	const char *run[] = { "run", "nosuch", "--", "true", NULL };
	const char *help[] = { "--help", NULL };
	char *out;

	(void) state;
	expect_err(name, 2, "--name: not valid UTF-8", NULL);
	expect_err(project, 2, "--project: not valid UTF-8", NULL);
	expect_err(pid0, 2, "--pid", "1-4194304");
	expect_err(comm, 2, "--comm", "0x1b");
	expect_err(netns, 2, "--netns", "0x01");
	expect_err(ev, 2, "--event", "empty");
	expect_err(count, 2, "--count", "integer 1-");
	expect_err(limit, 2, "--limit", "integer 1-100000");
	expect_err(two, 2, "unexpected argument \"3002\"", NULL);
	expect_err(both, 2, "one or the other", NULL);
	expect_err(file, 3, "not a socket", NULL);
	expect_err(dir, 3, "not a socket", NULL);
	expect_err(run, 7, "portwatch run:", NULL);
	out = pw_out(help, 0);
	if (!strstr(out, "--hold") || !strstr(out, "--listen|--udp") ||
	    !strstr(out, "PORTWATCH_TIMEOUT"))
		fail_msg("--help without allocate --hold, run --listen|--udp or PORTWATCH_TIMEOUT:\n%s",
			 out);
	free(out);
}

/* No byte from the daemon or the user reaches the terminal as an escape
 * sequence: names, comms, messages and the echo of a filter are escaped
 * (\xNN) as the tables are. */
static void no_esc(const char *what, const char *s)
{
	if (strchr(s, '\x1b') || strchr(s, '\x07'))
		fail_msg("%s: a raw control character reached the output: %s", what, s);
}

static void test_escapes(void **state)
{
	const char *alloc[] = { "allocate", "dev", "--name", "E\x1b[2JX", NULL };
	const char *bad_type[] = { "allocate", "dev\x1b[31m", NULL };
	const char *check[] = { "check", "43051", NULL };
	char port[8], *out, *err;
	int rc;
	json_t *res = NULL;

	(void) state;
	/* print_alloc: the name as given */
	out = pw_out(alloc, 0);
	no_esc("allocate --name", out);
	assert_non_null(strstr(out, "E\\x1b[2JX"));
	free(out);
	/* check: another allocation's name and a holder's comm */
	assert_int_equal(itest_call(&daemon_, "allocate", json_pack("{s:s, s:s, s:i, s:i}",
		"service_type", "dev", "name", "N\x1b]0;T\x07", "pid", (int)getpid(),
		"port", 43051), &res), 0);
	snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(json_object_get(res,
										   "port")));
	json_decref(res);
	assert_string_equal(port, "43051");
	/* (a comm reaches us with its control characters already replaced by
	 * the daemon: the name is the string anyone may set) */
	out = pw_out(check, 0);
	no_esc("check", out);
	if (!strstr(out, "N\\x1b]0;T\\x07"))
		fail_msg("check: the allocation's name not escaped: %s", out);
	free(out);
	/* the daemon's message repeats what was typed */
	rc = itest_pw(daemon_.sock, &out, &err, bad_type);
	assert_int_equal(rc, 7);
	no_esc("allocate dev<ESC>", err);
	assert_non_null(strstr(err, "dev\\x1b[31m"));
	free(out);
	free(err);
	/* a filter's echo, with the caret under the escaped byte */
	{
		const char *f[] = { "ports", "comm", "a\x1b[2J", NULL };

		rc = itest_pw(daemon_.sock, &out, &err, f);
		assert_int_equal(rc, 2);
		no_esc("ports comm a<ESC>", err);
		if (!strstr(err, "\n  comm a\\x1b[2J\n        ^\n"))
			fail_msg("filter echo: %s", err);
		free(out);
		free(err);
	}
	/* release prints the daemon's words escaped too */
	{
		const char *rel[] = { "release", "43051", NULL };

		out = pw_out(rel, 0);
		no_esc("release", out);
		assert_non_null(strstr(out, "released port 43051"));
		free(out);
	}
}

/* scan: an unknown owner is "-", and --json says which range it scanned */
static void test_scan(void **state)
{
	const char *human[] = { "scan", "43000-43999", NULL };
	const char *js[] = { "--json", "scan", "43000-43999", NULL };
	char *out;
	json_t *doc;

	(void) state;
	out = pw_out(human, 0);
	assert_null(strstr(out, "  0  "));
	free(out);
	out = pw_out(js, 0);
	doc = json_loads(out, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "scan_range")), "43000-43999");
	json_decref(doc);
	free(out);
}

/*
 * A peer that is not a working portwatchd: one that accepts and never
 * answers (the CLI gives up after PORTWATCH_TIMEOUT, exit 1), one that
 * streams bytes without a newline (the CLI stops at its line cap, exit 1,
 * instead of growing without bound).
 */
struct fake_peer {
	int lfd;
	bool stream;
};

static void *fake_peer_thread(void *p)
{
	struct fake_peer *fp = p;
	int c = accept(fp->lfd, NULL, NULL);
	static char chunk[1 << 20];

	if (c < 0)
		return NULL;
	memset(chunk, 'x', sizeof(chunk));
	if (fp->stream) {
		while (send(c, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0)
			;
	} else {
		char b;

		/* until the client goes */
		while (recv(c, &b, 1, 0) > 0)
			;
	}
	close(c);
	return NULL;
}

static void test_hostile_peer(void **state)
{
	for (int mode = 0; mode < 2; mode++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct fake_peer fp = { .stream = mode == 1 };
		const char *args[] = { mode ? "status" : "list", NULL };
		pthread_t th;
		char *out, *err;
		uint64_t t0;
		int rc;

		(void) state;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/itest_cli_fake.%d", (int)getpid());
		(void) unlink(sa.sun_path);
		fp.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_true(fp.lfd >= 0);
		assert_int_equal(bind(fp.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(fp.lfd, 4), 0);
		assert_int_equal(pthread_create(&th, NULL, fake_peer_thread, &fp), 0);
		setenv("PORTWATCH_TIMEOUT", "1", 1);
		/* 256 MiB by default: 2 MiB makes the same point in an emulated guest */
		setenv("PORTWATCH_MAX_LINE_MB", "2", 1);
		t0 = itest_now_ns();
		rc = itest_pw(sa.sun_path, &out, &err, args);
		unsetenv("PORTWATCH_TIMEOUT");
		unsetenv("PORTWATCH_MAX_LINE_MB");
		checked++;
		if (rc != 1 || !strstr(err, mode ? "longer than 2 MiB" : "PORTWATCH_TIMEOUT"))
			fail_msg("portwatch %s against a %s peer: exit %d: %s", args[0],
				 mode ? "streaming" : "silent", rc, err);
		if (!mode && itest_now_ns() - t0 > 5000000000ull * itest_slow())
			fail_msg("PORTWATCH_TIMEOUT=1 took %.1f s",
				 (double)(itest_now_ns() - t0) / 1e9);
		free(out);
		free(err);
		pthread_join(th, NULL);
		close(fp.lfd);
		(void) unlink(sa.sun_path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_no_daemon),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_human_details),
		cmocka_unit_test(test_daemon_args),
		cmocka_unit_test(test_daemon_args_listeners),
		cmocka_unit_test(test_output_error),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_hostile_peer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
