// SPDX-License-Identifier: GPL-2.0
/*
 * Active health checks and metrics against a real daemon (root, real kernel):
 * HTTP checks follow a helper switching between 200 and 500, TCP checks a
 * helper closing and reopening its port (and ::1 when 127.0.0.1 refuses),
 * command checks see PORT and PORTWATCH_ID, fail on a non-zero exit, are
 * killed with their process group after timeout_ms and retried `retries`
 * times. Releasing allocations while their checks are in flight must leave
 * the daemon running and no child behind. Metrics come from `portwatch
 * metrics` and from --metrics-listen over HTTP, both through the Prometheus
 * text-format validator.
 *
 * Every allocation is owned by this test process; the helpers that bind the
 * ports are its children, so they count as the owner's. All of it runs in a
 * network namespace of the test's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "client.h"
#include "itest_lib.h"
#include "prom_parse.h"

/* scaled: under emulation (ITEST_SLOW) everything is slower */
#define WAIT_MS		(5000 * (int)itest_slow())
#define SLEEP_MARK	"29.75"		/* argv[1] of the slow check's sleep */
#define N_HANG		6

static const char config_fmt[] =
	"{\n"
	"  \"service_types\": {\n"
	"    \"web\": { \"port_range\": [47100, 47199], \"health_check\": { \"type\": \"http\",\n"
	"      \"path\": \"/\", \"interval_ms\": %u, \"timeout_ms\": %u, \"retries\": 0 } },\n"
	"    \"tcpsvc\": { \"port_range\": [47200, 47299], \"health_check\": { \"type\": \"tcp\",\n"
	"      \"interval_ms\": %u, \"timeout_ms\": %u } },\n"
	"    \"cmdok\": { \"port_range\": [47300, 47399], \"health_check\": {\n"
	"      \"type\": \"command\",\n"
	"      \"command\": \"test \\\"$PORT\\\" -gt 0 && test \\\"$PORTWATCH_ID\\\" -gt 0\",\n"
	"      \"interval_ms\": %u, \"timeout_ms\": %u } },\n"
	"    \"cmdbad\": { \"port_range\": [47400, 47499], \"health_check\": {\n"
	"      \"type\": \"command\", \"command\": \"exit 1\", \"interval_ms\": %u,\n"
	"      \"timeout_ms\": %u } },\n"
	"    \"cmdslow\": { \"port_range\": [47500, 47599], \"health_check\": {\n"
	"      \"type\": \"command\", \"command\": \"sleep " SLEEP_MARK "; true\",\n"
	"      \"interval_ms\": 200, \"timeout_ms\": 100 } },\n"
	/* fails every other attempt: one retry makes every round pass */
	"    \"flaky\": { \"port_range\": [47600, 47699], \"health_check\": {\n"
	"      \"type\": \"command\", \"interval_ms\": %u, \"timeout_ms\": %u, \"retries\": 1,\n"
	"      \"command\": \"echo x >> %s/attempts.$PORT; if [ -e %s/flag.$PORT ]; then "
	"rm -f %s/flag.$PORT; else touch %s/flag.$PORT; exit 1; fi\" } },\n"
	/* a listener that never answers: requests are in flight most of the time */
	"    \"hang\": { \"port_range\": [47700, 47799], \"health_check\": { \"type\": \"http\",\n"
	"      \"path\": \"/slow\", \"interval_ms\": 100, \"timeout_ms\": 80 } }\n"
	"  },\n"
	"  \"recovery\": { \"health_monitoring\": { \"grace_period_ms\": 60000 } }\n"
	"}\n";

static struct itest_daemon dmn;
static char cfg_path[200];
static unsigned metrics_port;

/* --- helpers ------------------------------------------------------------------ */

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static json_int_t num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* A free TCP port on 127.0.0.1 of this namespace. */
static unsigned free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void show_log(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", dmn.log);
	(void) !system(cmd);
}

/* Allocate for type, owned by this process. Returns the id, sets *port. */
static json_int_t allocate(const char *type, unsigned *port)
{
	json_t *res = NULL;
	json_int_t id;

	assert_int_equal(itest_call(&dmn, "allocate", json_pack("{s:s, s:i}", "service_type", type,
								 "pid", (int)getpid()), &res), 0);
	id = num(res, "id");
	*port = (unsigned)num(res, "port");
	assert_true(id > 0);
	json_decref(res);
	return id;
}

static void release(json_int_t id)
{
	json_t *res = NULL;

	assert_int_equal(itest_call(&dmn, "release", json_pack("{s:I}", "id", id), &res), 0);
	json_decref(res);
}

/* This allocation's entry of `health` (new reference), NULL when absent. */
static json_t *health_of(json_int_t id)
{
	json_t *res = NULL, *v, *out = NULL;
	size_t i;

	if (itest_call(&dmn, "health", NULL, &res))
		return NULL;
	json_array_foreach(json_object_get(res, "allocations"), i, v)
		if (num(v, "id") == id)
			out = json_incref(v);
	json_decref(res);
	return out;
}

static json_int_t health_total(const char *key)
{
	json_t *res = NULL;
	json_int_t n;

	if (itest_call(&dmn, "health", NULL, &res))
		return -1;
	n = num(json_object_get(res, "totals"), key);
	json_decref(res);
	return n;
}

/* In state, with a last check result starting with prefix (NULL: any). */
static bool health_is(json_int_t id, const char *state, const char *prefix)
{
	json_t *h = health_of(id);
	bool ok = h && !strcmp(str(h, "state"), state) &&
		  (!prefix || !strncmp(str(h, "last_check"), prefix, strlen(prefix)));

	json_decref(h);
	return ok;
}

static void wait_health(json_int_t id, const char *state, const char *prefix)
{
	json_t *h;
	char *s;

	if (ITEST_WAIT(health_is(id, state, prefix), WAIT_MS))
		return;
	h = health_of(id);
	s = h ? json_dumps(h, JSON_COMPACT) : NULL;
	show_log();
	fail_msg("allocation %lld: not %s with a check \"%s...\" within %d ms: %s", (long long)id,
		 state, prefix ? prefix : "", WAIT_MS, s ? s : "(gone)");
}

static void spawn(struct itest_proc *p, const char *const *args, char *line, size_t len)
{
	assert_int_equal(itest_proc_spawn(p, -1, args), 0);
	assert_int_equal(itest_proc_line(p, line, len, WAIT_MS), 0);
}

/* A helper listening on port (tcp4 or tcp6, any address). */
static void listen_on(struct itest_proc *p, const char *proto, unsigned port)
{
	char ps[8], line[64];

	snprintf(ps, sizeof(ps), "%u", port);
	spawn(p, (const char *[]){ "listen", proto, ps, NULL }, line, sizeof(line));
	assert_int_equal(atoi(line), (int)port);
}

static void say(struct itest_proc *p, const char *cmd, const char *reply)
{
	char line[64];

	assert_int_equal(itest_proc_say(p, cmd), 0);
	assert_int_equal(itest_proc_line(p, line, sizeof(line), WAIT_MS), 0);
	if (strncmp(line, reply, strlen(reply)))
		fail_msg("helper said \"%s\" to \"%s\", expected \"%s\"", line, cmd, reply);
}

/* Processes `sleep SLEEP_MARK` in this network namespace: the slow
 * check's, started by this test's daemon only. */
static int count_sleepers(void)
{
	DIR *dir = opendir("/proc");
	struct stat self, ns;
	struct dirent *e;
	int n = 0;

	assert_non_null(dir);
	assert_int_equal(stat("/proc/self/ns/net", &self), 0);
	while ((e = readdir(dir))) {
		char path[300], buf[64];
		ssize_t r;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
		if (stat(path, &ns) || ns.st_ino != self.st_ino || ns.st_dev != self.st_dev)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r > 0 && (size_t)r == sizeof("sleep " SLEEP_MARK) &&
		    !memcmp(buf, "sleep\0" SLEEP_MARK, sizeof("sleep " SLEEP_MARK)))
			n++;
	}
	closedir(dir);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void expect_valid_metrics(const char *text)
{
	char err[256];

	if (prom_validate(text, err, sizeof(err)))
		fail_msg("metrics rejected: %s\n%s", err, text);
}

/* --- tests ----------------------------------------------------------------------- */

static void test_http_check(void **state)
{
	struct itest_proc h;
	char ps[8], line[64], *out = NULL;
	unsigned port;
	json_int_t id;
	json_t *res = NULL;
	double v = 0;

	(void) state;
	id = allocate("web", &port);
	snprintf(ps, sizeof(ps), "%u", port);
	spawn(&h, (const char *[]){ "http", ps, NULL }, line, sizeof(line));
	assert_int_equal(atoi(line), (int)port);
	wait_health(id, "listening", "http 200 in ");

	say(&h, "fail\n", "mode fail");
	wait_health(id, "unhealthy", "http 500 in ");
	/* unhealthy is not stale: the allocation stays, with its state */
	assert_int_equal(itest_call(&dmn, "list", json_pack("{s:s}", "service_type", "web"), &res),
			 0);
	assert_int_equal(json_array_size(res), 1);
	assert_int_equal(num(json_array_get(res, 0), "id"), id);
	assert_string_equal(str(json_array_get(res, 0), "state"), "unhealthy");
	json_decref(res);

	say(&h, "ok\n", "mode ok");
	wait_health(id, "listening", "http 200 in ");

	assert_int_equal(itest_cli(&dmn, -1, &out, (const char *[]){ "metrics", NULL }), 0);
	assert_non_null(out);
	expect_valid_metrics(out);
	assert_int_equal(prom_value(out, "portwatch_health_checks_unhealthy_total", NULL, &v), 0);
	assert_true(v > 0);
	assert_int_equal(prom_value(out, "portwatch_health_checks_healthy_total", NULL, &v), 0);
	assert_true(v > 0);
	assert_int_equal(prom_value(out, "portwatch_allocations",
				    "service_type=\"web\",state=\"listening\"", &v), 0);
	assert_true(v == 1);
	free(out);

	release(id);
	itest_proc_end(&h);
}

static void test_tcp_check(void **state)
{
	struct itest_proc h;
	char cmd[64], reply[16];
	unsigned port;
	json_int_t id;

	(void) state;
	id = allocate("tcpsvc", &port);
	listen_on(&h, "tcp4", port);
	wait_health(id, "listening", "connect ok in ");
	say(&h, "close\n", "closed");
	/* closed within the grace period: the check is what turns it unhealthy */
	wait_health(id, "unhealthy", "connect refused");
	/* IPv6 only: 127.0.0.1 refuses, ::1 answers */
	snprintf(cmd, sizeof(cmd), "listen tcp6 %u\n", port);
	snprintf(reply, sizeof(reply), "%u", port);
	say(&h, cmd, reply);
	wait_health(id, "listening", "connect ok in ");
	release(id);
	itest_proc_end(&h);
}

static void test_command_check(void **state)
{
	struct itest_proc ok, bad;
	unsigned pok, pbad;
	json_int_t idok, idbad, total;

	(void) state;
	idok = allocate("cmdok", &pok);
	idbad = allocate("cmdbad", &pbad);
	listen_on(&ok, "tcp4", pok);
	listen_on(&bad, "tcp4", pbad);
	/* the command checks that PORT and PORTWATCH_ID are set */
	wait_health(idok, "listening", "exit 0");
	wait_health(idbad, "unhealthy", "exit 1");
	/* and stays so, round after round */
	total = health_total("health_checks_total");
	assert_true(ITEST_WAIT(health_total("health_checks_total") >= total + 10, WAIT_MS));
	assert_true(health_is(idok, "listening", "exit 0"));
	assert_true(health_is(idbad, "unhealthy", "exit 1"));
	release(idok);
	release(idbad);
	itest_proc_end(&ok);
	itest_proc_end(&bad);
}

static void test_command_timeout(void **state)
{
	struct itest_proc h;
	unsigned port;
	json_int_t id, total;

	(void) state;
	id = allocate("cmdslow", &port);
	listen_on(&h, "tcp4", port);
	wait_health(id, "unhealthy", "timeout after 100 ms");
	/* each timeout kills the whole group: sleeps never pile up */
	total = health_total("health_checks_total");
	assert_true(ITEST_WAIT(health_total("health_checks_total") >= total + 10, WAIT_MS));
	assert_true(count_sleepers() <= 1);
	/* releasing it kills the one running now */
	release(id);
	assert_true(ITEST_WAIT(count_sleepers() == 0, WAIT_MS));
	itest_proc_end(&h);
}

static void test_retries(void **state)
{
	struct itest_proc h;
	struct pw_conn *w;
	char path[300];
	const char *line;
	unsigned port;
	json_int_t id;
	json_t *res = NULL;

	(void) state;
	/* every state change from here on */
	assert_int_equal(pw_conn_open(&w, dmn.sock), 0);
	assert_int_equal(pw_conn_send(w, "watch", NULL), 0);
	assert_int_equal(pw_conn_read_line(w, &line, WAIT_MS), 0);
	id = allocate("flaky", &port);
	listen_on(&h, "tcp4", port);
	wait_health(id, "listening", "exit 0");
	/* five rounds of two attempts each */
	snprintf(path, sizeof(path), "%s/attempts.%u", dmn.dir, port);
	assert_true(ITEST_WAIT(count_lines(path) >= 10, WAIT_MS));
	assert_true(health_is(id, "listening", "exit 0"));
	assert_int_equal(itest_call(&dmn, "ping", NULL, &res), 0);	/* events flushed */
	json_decref(res);
	while (pw_conn_read_line(w, &line, 0) == 0) {
		json_t *e = json_loads(line, 0, NULL);

		if (e && !strcmp(str(e, "event"), "allocation") && num(e, "id") == id &&
		    !strcmp(str(e, "state"), "unhealthy"))
			fail_msg("a failed first attempt counted despite retries: %s", line);
		json_decref(e);
	}
	pw_conn_close(w);
	release(id);
	itest_proc_end(&h);
}

/* Released while their checks are in flight: HTTP requests waiting on a
 * listener that never answers, and a slow command. */
static void test_release_in_flight(void **state)
{
	struct itest_proc h[N_HANG], slow;
	json_int_t id[N_HANG], sid;
	unsigned port;
	json_t *res = NULL;

	(void) state;
	for (int i = 0; i < N_HANG; i++) {
		id[i] = allocate("hang", &port);
		listen_on(&h[i], "tcp4", port);
	}
	sid = allocate("cmdslow", &port);
	listen_on(&slow, "tcp4", port);
	for (int i = 0; i < N_HANG; i++)
		wait_health(id[i], "unhealthy", "timeout after 80 ms");
	wait_health(sid, "unhealthy", "timeout after 100 ms");
	for (int i = 0; i < N_HANG; i++)
		release(id[i]);
	release(sid);
	assert_true(ITEST_WAIT(count_sleepers() == 0, WAIT_MS));
	/* still serving (a use after free would have ended it, SANITIZE=1 or not) */
	assert_int_equal(itest_call(&dmn, "ping", NULL, &res), 0);
	json_decref(res);
	for (int i = 0; i < N_HANG; i++)
		itest_proc_end(&h[i]);
	itest_proc_end(&slow);
}

struct buf {
	char *p;
	size_t n;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	char *np = realloc(b->p, b->n + size * nmemb + 1);

	if (!np)
		return 0;
	memcpy(np + b->n, ptr, size * nmemb);
	b->n += size * nmemb;
	np[b->n] = '\0';
	b->p = np;
	return size * nmemb;
}

/* GET path from the metrics listener: the status, the body in *b. */
static long http_get(const char *path, struct buf *b, char *ctype, size_t ctlen)
{
	CURL *e = curl_easy_init();
	char url[128];
	char *ct = NULL;
	long code = 0;

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", metrics_port, path);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_NOPROXY, "*"), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)WAIT_MS), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEDATA, b), CURLE_OK);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	(void) curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(ctype, ctlen, "%s", ct ? ct : "");
	curl_easy_cleanup(e);
	return code;
}

static void test_metrics_http(void **state)
{
	struct buf b = { 0 };
	char ctype[128], reply[256] = "";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)metrics_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char junk[6000];
	double bpf = 0, polling = 0;
	ssize_t r;
	size_t got = 0;
	int fd;

	(void) state;
	assert_int_equal(http_get("/metrics", &b, ctype, sizeof(ctype)), 200);
	assert_non_null(strstr(ctype, "text/plain"));
	assert_non_null(strstr(ctype, "version=0.0.4"));
	assert_non_null(b.p);
	expect_valid_metrics(b.p);
	assert_int_equal(prom_value(b.p, "portwatch_mode", "mode=\"bpf\"", &bpf), 0);
	assert_int_equal(prom_value(b.p, "portwatch_mode", "mode=\"polling\"", &polling), 0);
	assert_true(bpf + polling == 1);
	free(b.p);
	b = (struct buf){ 0 };

	assert_int_equal(http_get("/nope", &b, ctype, sizeof(ctype)), 404);
	free(b.p);

	/* a request that never ends its headers is cut off at the buffer's size,
	 * with a 4xx answer */
	memset(junk, 'x', sizeof(junk));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	(void) !send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
	while (got < sizeof(reply) - 1 &&
	       (r = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
		got += (size_t)r;
	close(fd);
	/* libmicrohttpd answers 414 (the request line is too long for it) */
	assert_true(!strncmp(reply, "HTTP/1.", 7) && reply[9] == '4');
}

/* --metrics-listen on a port already taken: the daemon exits with status 1.
 * The listener starts after the control socket, so that socket may answer
 * for a moment before the daemon gives up. */
static void test_metrics_listen_busy(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct itest_daemon d2;
	socklen_t len = sizeof(sa);
	char addr[32], cmd[300];
	int fd, err, status = 0;

	(void) state;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	fprintf(stderr, "expected start-up failure follows:\n");
	err = itest_daemon_start(&d2, (const char *[]){ "--metrics-listen", addr, NULL });
	if (!err) {
		if (!ITEST_WAIT(waitpid(d2.pid, &status, WNOHANG) == d2.pid, WAIT_MS))
			status = -1;
		d2.pid = 0;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "grep -q 'metrics-listen %s: Address already in use' '%s'", addr,
		 d2.log);
	assert_int_equal(system(cmd), 0);
	itest_daemon_cleanup(&d2);
	if (!err)
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

/* --- fixture ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
	char mp[32], *dir = dmn.dir;
	FILE *f;
	unsigned t, iv;
	int err;

	(void) state;
	err = itest_unshare_net();
	if (err) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(-err));
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -1;
	/* what itest_daemon_start() does, with the config written in between */
	snprintf(dmn.dir, sizeof(dmn.dir), "/tmp/pw-itest-XXXXXX");
	if (!mkdtemp(dmn.dir))
		return -1;
	snprintf(dmn.sock, sizeof(dmn.sock), "%s/sock", dir);
	snprintf(dmn.state, sizeof(dmn.state), "%s/state", dir);
	snprintf(dmn.log, sizeof(dmn.log), "%s/log", dir);
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", dir);
	f = fopen(cfg_path, "w");
	if (!f)
		return -1;
	/* checks that must pass get a timeout scaled like every deadline here
	 * (and an interval no shorter: the config requires timeout <= interval) */
	t = 150 * itest_slow();
	iv = t > 200 ? t : 200;
	fprintf(f, config_fmt, iv, t, iv, t, iv, t, iv, t, iv, t, dir, dir, dir, dir);
	fclose(f);
	metrics_port = free_port();
	snprintf(mp, sizeof(mp), "127.0.0.1:%u", metrics_port);
	err = itest_daemon_restart(&dmn, (const char *[]){ "--config", cfg_path,
							  "--metrics-listen", mp, NULL });
	if (err) {
		fprintf(stderr, "portwatchd did not start: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	int status;

	(void) state;
	status = itest_daemon_stop(&dmn, 0);
	if (status) {
		fprintf(stderr, "portwatchd exit status %#x\n", status);
		show_log();
	}
	itest_daemon_cleanup(&dmn);
	curl_global_cleanup();
	return status ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_check),
		cmocka_unit_test(test_tcp_check),
		cmocka_unit_test(test_command_check),
		cmocka_unit_test(test_command_timeout),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_release_in_flight),
		cmocka_unit_test(test_metrics_http),
		cmocka_unit_test(test_metrics_listen_busy),
	};

	itest_require_root();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
