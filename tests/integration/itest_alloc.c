// SPDX-License-Identifier: GPL-2.0
/*
 * Port allocation, durable state and the client API against a real daemon:
 * Styxy's configuration loads unchanged, a bad one is refused before the
 * socket exists, ports in use by others are never handed out, preferred and
 * requested ports, the error exit codes, single-instance types, release,
 * the JSON of list and check, what an unprivileged user may and may not do,
 * and `portwatch run`. Everything runs in a network namespace of the test's
 * own, so no socket of anyone else can land in the test ranges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"
#include "itest_run.h"

#define NOBODY 65534
#define STYXY_FIXTURE "tests/fixtures/styxy-core-ports.json"

/* One type per test, so the tests cannot see each other's allocations. */
static const char config_json[] =
	"{\n"
	"  \"_meta\": { \"description\": \"itest_alloc\" },\n"
	"  \"service_types\": {\n"
	"    \"t47\":   { \"port_range\": [47000, 47099], \"preferred_ports\": [47005, 47006] },\n"
	"    \"conf\":  { \"port_range\": [47100, 47199] },\n"
	"    \"small\": { \"port_range\": [47200, 47203] },\n"
	"    \"one\":   { \"port_range\": [47300, 47309], \"instance_behavior\": \"single\" },\n"
	"    \"rel\":   { \"port_range\": [47400, 47499] },\n"
	"    \"usr\":   { \"port_range\": [47500, 47599] },\n"
	"    \"runt\":  { \"port_range\": [47600, 47699] },\n"
	"    \"hide\":  { \"port_range\": [47800, 47803] }\n"
	"  }\n"
	"}\n";

/* "broken" is inverted; everything else is fine. */
static const char bad_json[] =
	"{ \"service_types\": {\n"
	"    \"good\":   { \"port_range\": [47000, 47099] },\n"
	"    \"broken\": { \"port_range\": [47799, 47700] }\n"
	"} }\n";

static char tmpdir[64];
static char cfg_path[128], bad_path[128];
static struct itest_daemon dmn;
static struct itest_proc holder;	/* long-lived root owner of root's allocations */
static char holder_pid[16];

static const char *const known_types[] = { "t47", "conf", "small", "one", "rel", "usr", "runt",
					   "hide" };

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/*
 * Run a command, its stderr into errfile, stdout discarded; return its
 * exit code, or -ETIMEDOUT (killed) when it still runs after timeout_ms.
 */
static int run_cmd(const char *const *argv, const char *errfile, int timeout_ms)
{
	int status = 0, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (!ITEST_WAIT(waitpid(pid, &status, WNOHANG) == pid,
			(uint64_t)timeout_ms * itest_slow())) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -ETIMEDOUT;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The CLI with --json against d (as uid, -1 = root); *res is its parsed
 * stdout (NULL if none). Returns the exit code. */
static int cli_on(struct itest_daemon *d, int uid, json_t **res, const char *const *args)
{
	const char *argv[32];
	char *out = NULL, *err = NULL;
	int n = 0, rc;

	argv[n++] = "--json";
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	/* with --json, an error is a JSON object on stderr */
	rc = itest_pw_uid(d->sock, uid, &out, &err, argv);
	if (res)
		*res = rc > 0 ? json_loads(err, 0, NULL) : rc == 0 ? json_loads(out, 0, NULL) : NULL;
	free(err);
	if (rc)
		print_message("  portwatch %s %s -> exit %d\n", args[0], args[1] ? args[1] : "",
			      rc);
	free(out);
	return rc;
}

#define CLI(uid, res, ...) cli_on(&dmn, (uid), (res), (const char *const[]){ __VA_ARGS__, NULL })

static json_int_t num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static const char *errmsg(json_t *res)
{
	return str(json_object_get(res, "error"), "message");
}

/* Allocate a port of type as root for the holder; the port, or -exit code. */
static int alloc_port(const char *type, json_t **res_out)
{
	json_t *res = NULL;
	int rc, port;

	rc = CLI(-1, &res, "allocate", type, "--pid", holder_pid);
	port = rc ? -rc : (int)num(res, "port");
	if (res_out)
		*res_out = res;
	else
		json_decref(res);
	return port;
}

static json_t *find_alloc(json_t *list, json_int_t port)
{
	size_t i;
	json_t *a;

	json_array_foreach(list, i, a)
		if (num(a, "port") == port)
			return a;
	return NULL;
}

static json_t *list_allocs(void)
{
	json_t *res = NULL;

	if (CLI(-1, &res, "list") || !json_is_array(res)) {
		json_decref(res);
		return NULL;
	}
	return res;
}

/* Is port absent from (gone) / present in `list`? */
static bool listed(json_int_t port)
{
	json_t *l = list_allocs();
	bool ok = l && find_alloc(l, port);

	json_decref(l);
	return ok;
}

static bool unlisted(json_int_t port)
{
	json_t *l = list_allocs();
	bool ok = l && !find_alloc(l, port);

	json_decref(l);
	return ok;
}

static bool listed_in_state(json_int_t port, const char *state)
{
	json_t *l = list_allocs(), *a;
	bool ok;

	a = l ? find_alloc(l, port) : NULL;
	ok = a && !strcmp(str(a, "state"), state);
	json_decref(l);
	return ok;
}

/* The daemon's port map shows port bound (by anyone, in our namespace). */
static bool daemon_sees_bound(unsigned port)
{
	json_t *res = NULL;
	bool ok;

	if (itest_call(&dmn, "check", json_pack("{s:i}", "port", (int)port), &res))
		return false;
	ok = json_is_true(json_object_get(res, "bound"));
	json_decref(res);
	return ok;
}

static json_t *audit_trail(void)
{
	json_t *res = NULL;

	if (CLI(-1, &res, "audit", "--limit", "100000") || !json_is_array(res)) {
		json_decref(res);
		return NULL;
	}
	return res;
}

/* An audit record matching action, outcome (NULL = any), port (0 = any) and
 * uid (-1 = any). */
static bool audited(json_t *trail, const char *action, const char *outcome, json_int_t port,
		    json_int_t uid)
{
	size_t i;
	json_t *r;

	json_array_foreach(trail, i, r) {
		if (strcmp(str(r, "action"), action))
			continue;
		if (outcome && strcmp(str(r, "outcome"), outcome))
			continue;
		if (port && num(r, "port") != port)
			continue;
		if (uid >= 0 && num(r, "uid") != uid)
			continue;
		return true;
	}
	return false;
}

static int spawn_holder(struct itest_proc *p, int uid, char *pidbuf, size_t len)
{
	const char *const args[] = { "hold", NULL };
	char line[32];

	if (itest_proc_spawn(p, uid, args) || itest_proc_line(p, line, sizeof(line), 5000))
		return -1;
	snprintf(pidbuf, len, "%d", p->pid);
	return atoi(line) == p->pid ? 0 : -1;
}

static int spawn_listener(struct itest_proc *p, unsigned port)
{
	char ports[16], line[64];
	const char *const args[] = { "listen", "tcp4", ports, NULL };

	snprintf(ports, sizeof(ports), "%u", port);
	if (itest_proc_spawn(p, -1, args) || itest_proc_line(p, line, sizeof(line), 5000))
		return -1;
	return (unsigned)strtoul(line, NULL, 10) == port ? 0 : -1;
}

static int setup(void **state)
{
	const char *extra[] = { "--config", cfg_path, NULL };
	int err;

	(void) state;
	itest_require_root();
	err = itest_unshare_net();
	if (err) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(-err));
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pw-itest-alloc-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	(void) chmod(tmpdir, 0755);
	snprintf(cfg_path, sizeof(cfg_path), "%s/portwatch.json", tmpdir);
	snprintf(bad_path, sizeof(bad_path), "%s/bad.json", tmpdir);
	if (write_file(cfg_path, config_json) || write_file(bad_path, bad_json))
		return -1;
	if (spawn_holder(&holder, -1, holder_pid, sizeof(holder_pid)))
		return -1;
	return itest_daemon_start(&dmn, extra);
}

static int teardown(void **state)
{
	char cmd[128];

	(void) state;
	itest_daemon_cleanup(&dmn);
	itest_proc_end(&holder);
	if (tmpdir[0] && !getenv("ITEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void) !system(cmd);
	}
	return 0;
}

/* Styxy's own file: 17 types, every port_range as written, single honoured. */
static void test_styxy_config_loads(void **state)
{
	char path[PATH_MAX], bin[256], errf[160];
	const char *extra[] = { "--config", path, NULL };
	struct itest_daemon sd;
	json_t *fixture, *ftypes, *res = NULL, *t, *ft;
	const char *name;
	size_t i, matched = 0;

	(void) state;
	assert_non_null(realpath(STYXY_FIXTURE, path));
	fixture = json_load_file(path, 0, NULL);
	assert_non_null(fixture);
	ftypes = json_object_get(fixture, "service_types");
	assert_int_equal(json_object_size(ftypes), 17);

	assert_int_equal(itest_daemon_start(&sd, extra), 0);
	assert_int_equal(cli_on(&sd, -1, &res, (const char *const[]){ "types", NULL }), 0);
	assert_true(json_is_array(res));
	assert_int_equal(json_array_size(res), 17);
	json_array_foreach(res, i, t) {
		json_t *rg = json_object_get(t, "port_range");

		ft = json_object_get(ftypes, str(t, "name"));
		assert_non_null(ft);
		assert_true(json_equal(rg, json_object_get(ft, "port_range")));
		assert_int_equal(json_is_true(json_object_get(t, "single")),
				 !strcmp(str(ft, "instance_behavior"), "single"));
		name = str(t, "name");
		if (!strcmp(name, "dev") || !strcmp(name, "ai") || !strcmp(name, "coordination"))
			matched++;
		if (!strcmp(name, "dev")) {
			assert_int_equal(json_integer_value(json_array_get(rg, 0)), 3000);
			assert_int_equal(json_integer_value(json_array_get(rg, 1)), 3099);
			assert_false(json_is_true(json_object_get(t, "single")));
		} else if (!strcmp(name, "ai")) {
			assert_int_equal(json_integer_value(json_array_get(rg, 0)), 11400);
			assert_int_equal(json_integer_value(json_array_get(rg, 1)), 11499);
			assert_true(json_is_true(json_object_get(t, "single")));
		} else if (!strcmp(name, "coordination")) {
			assert_int_equal(json_integer_value(json_array_get(rg, 0)), 9870);
			assert_int_equal(json_integer_value(json_array_get(rg, 1)), 9899);
		}
	}
	assert_int_equal(matched, 3);
	json_decref(res);
	json_decref(fixture);
	itest_daemon_cleanup(&sd);

	snprintf(bin, sizeof(bin), "%s/portwatchd", itest_build());
	snprintf(errf, sizeof(errf), "%s/check.out", tmpdir);
	assert_int_equal(run_cmd((const char *const[]){ bin, "--check-config", "--config", path,
							NULL }, errf, 10000), 0);
}

/* An inverted range: exit 3 naming the key, before any socket exists. */
static void test_bad_config_refused(void **state)
{
	char bin[256], sock[160], sdir[160], errf[160], *err;
	int rc;

	(void) state;
	snprintf(bin, sizeof(bin), "%s/portwatchd", itest_build());
	snprintf(sock, sizeof(sock), "%s/bad.sock", tmpdir);
	snprintf(sdir, sizeof(sdir), "%s/bad-state", tmpdir);
	snprintf(errf, sizeof(errf), "%s/bad.err", tmpdir);

	rc = run_cmd((const char *const[]){ bin, "--config", bad_path, "--socket", sock,
					    "--state-dir", sdir, NULL }, errf, 10000);
	err = read_file(errf);
	print_message("portwatchd with an inverted range: exit %d: %s", rc, err ? err : "");
	assert_int_equal(rc, 3);
	assert_non_null(err);
	assert_non_null(strstr(err, "service_types.broken.port_range"));
	assert_int_not_equal(access(sock, F_OK), 0);
	free(err);

	rc = run_cmd((const char *const[]){ bin, "--check-config", "--config", bad_path, NULL },
		     errf, 10000);
	err = read_file(errf);
	assert_int_equal(rc, 3);
	assert_non_null(err);
	assert_non_null(strstr(err, "service_types.broken.port_range"));
	free(err);
}

/* A port a foreign process listens on is skipped, and the skip is audited. */
static void test_foreign_listener_never_handed_out(void **state)
{
	const unsigned busy = 47110;
	struct itest_proc l;
	json_t *trail;
	int got[40], n = 0, max = 0;

	(void) state;
	assert_int_equal(spawn_listener(&l, busy), 0);
	/* the range is 47100-47199: go well past the busy port */
	while (n < 40) {
		int port = alloc_port("conf", NULL);

		assert_true(port >= 47100 && port <= 47199);
		assert_int_not_equal(port, busy);
		for (int k = 0; k < n; k++)
			assert_int_not_equal(got[k], port);
		got[n++] = port;
		if (port > max)
			max = port;
	}
	assert_true(max > (int)busy);
	trail = audit_trail();
	assert_non_null(trail);
	assert_true(audited(trail, "conflict", NULL, busy, -1));
	json_decref(trail);
	itest_proc_end(&l);
}

static void test_preferred_requested_invalid_unknown(void **state)
{
	json_t *res = NULL;
	const char *msg;

	(void) state;
	/* preferred ports in the file's order, then the range from its start */
	assert_int_equal(alloc_port("t47", NULL), 47005);
	assert_int_equal(alloc_port("t47", NULL), 47006);
	assert_int_equal(alloc_port("t47", NULL), 47000);
	/* --port honoured when free */
	assert_int_equal(CLI(-1, &res, "allocate", "t47", "--port", "47050", "--pid", holder_pid),
			 0);
	assert_int_equal(num(res, "port"), 47050);
	json_decref(res);
	/* outside the type's range (another type's, and no type's): exit 9 */
	assert_int_equal(CLI(-1, &res, "allocate", "t47", "--port", "47100", "--pid", holder_pid),
			 9);
	assert_non_null(strstr(errmsg(res), "47000-47099"));
	json_decref(res);
	assert_int_equal(CLI(-1, NULL, "allocate", "t47", "--port", "48500", "--pid", holder_pid),
			 9);
	/* unknown type: exit 7, the message lists the known ones */
	assert_int_equal(CLI(-1, &res, "allocate", "nosuchtype", "--pid", holder_pid), 7);
	msg = errmsg(res);
	print_message("unknown type: %s\n", msg);
	assert_non_null(strstr(msg, "nosuchtype"));
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		assert_non_null(strstr(msg, known_types[i]));
	json_decref(res);
}

/* Exhausted: exit 8, counting allocated ports and ports held by others. */
static void test_exhausted(void **state)
{
	struct itest_proc l;
	json_t *res = NULL;
	const char *msg;

	(void) state;
	assert_int_equal(spawn_listener(&l, 47202), 0);
	/* the count of held ports comes from the port map: let it see the socket */
	assert_true(ITEST_WAIT(daemon_sees_bound(47202), 2000 * itest_slow()));
	assert_int_equal(alloc_port("small", NULL), 47200);
	assert_int_equal(alloc_port("small", NULL), 47201);
	assert_int_equal(alloc_port("small", NULL), 47203);
	assert_int_equal(CLI(-1, &res, "allocate", "small", "--pid", holder_pid), 8);
	msg = errmsg(res);
	print_message("exhausted: %s\n", msg);
	assert_non_null(strstr(msg, "3 of 4 ports allocated"));
	assert_non_null(strstr(msg, "1 held by unallocated sockets"));
	json_decref(res);
	itest_proc_end(&l);
}

static void test_singleton(void **state)
{
	json_t *a = NULL, *b = NULL;
	int port;

	(void) state;
	port = alloc_port("one", &a);
	assert_int_equal(port, 47300);
	assert_false(json_is_true(json_object_get(a, "existing")));
	assert_int_equal(alloc_port("one", &b), port);
	assert_true(json_is_true(json_object_get(b, "existing")));
	assert_int_equal(num(b, "id"), num(a, "id"));
	json_decref(a);
	json_decref(b);
	assert_int_equal(CLI(-1, &b, "allocate", "one", "--exclusive", "--pid", holder_pid), 12);
	assert_non_null(strstr(errmsg(b), "47300"));
	json_decref(b);
}

static void test_release(void **state)
{
	json_t *a = NULL, *res = NULL;
	char portbuf[16], idbuf[32];
	int p1, p2;

	(void) state;
	p1 = alloc_port("rel", NULL);
	p2 = alloc_port("rel", &a);
	assert_true(p1 > 0 && p2 > 0 && p1 != p2);
	snprintf(portbuf, sizeof(portbuf), "%d", p1);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)num(a, "id"));
	json_decref(a);

	assert_int_equal(CLI(-1, &res, "release", portbuf), 0);
	assert_int_equal(num(res, "port"), p1);
	assert_string_equal(str(res, "state"), "released");
	json_decref(res);
	assert_true(unlisted(p1));
	assert_true(listed(p2));

	assert_int_equal(CLI(-1, &res, "release", "--id", idbuf), 0);
	assert_int_equal(num(res, "port"), p2);
	json_decref(res);
	assert_true(unlisted(p2));

	/* twice, never allocated, no such id: exit 6 */
	assert_int_equal(CLI(-1, NULL, "release", portbuf), 6);
	assert_int_equal(CLI(-1, NULL, "release", "47499"), 6);
	assert_int_equal(CLI(-1, NULL, "release", "--id", idbuf), 6);
}

static void assert_alloc_keys(json_t *a)
{
	static const char *const keys[] = { "id", "service_type", "name", "port", "pid", "comm",
					    "uid", "state", "created_at", "project" };

	assert_true(json_is_object(a));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (!json_object_get(a, keys[k]))
			fail_msg("allocation JSON lacks \"%s\"", keys[k]);
	}
}

static void test_list_and_check_json(void **state)
{
	json_t *res = NULL, *l, *a;
	struct timeval tv;
	long long t0, t1;
	char portbuf[16];
	int port;

	(void) state;
	gettimeofday(&tv, NULL);
	t0 = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	assert_int_equal(CLI(-1, &res, "allocate", "rel", "--name", "svc-a", "--project",
			     "/srv/proj", "--pid", holder_pid), 0);
	gettimeofday(&tv, NULL);
	t1 = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	port = (int)num(res, "port");
	json_decref(res);

	l = list_allocs();
	assert_non_null(l);
	a = find_alloc(l, port);
	assert_alloc_keys(a);
	assert_true(num(a, "id") > 0);
	assert_string_equal(str(a, "service_type"), "rel");
	assert_string_equal(str(a, "name"), "svc-a");
	assert_string_equal(str(a, "project"), "/srv/proj");
	assert_int_equal(num(a, "pid"), holder.pid);
	assert_string_equal(str(a, "comm"), "helper");
	assert_int_equal(num(a, "uid"), 0);
	assert_string_equal(str(a, "state"), "reserved");
	/* wall-clock milliseconds, taken while the request ran (1 s of slack) */
	assert_true(num(a, "created_at") >= t0 - 1000 && num(a, "created_at") <= t1 + 1000);

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	assert_int_equal(CLI(-1, &res, "check", portbuf), 0);
	assert_int_equal(num(res, "port"), port);
	assert_string_equal(str(res, "service_type"), "rel");
	assert_alloc_keys(json_object_get(res, "allocation"));
	assert_int_equal(num(json_object_get(res, "allocation"), "id"), num(a, "id"));
	json_decref(res);
	json_decref(l);
	assert_int_equal(CLI(-1, NULL, "release", portbuf), 0);
}

static void test_unprivileged_user(void **state)
{
	struct itest_proc other;	/* a root process, not an ancestor of the CLI */
	struct itest_proc mine;		/* a process of the user's own */
	char other_pid[16], mine_pid[16], rootport[16], ownport[16];
	json_t *res = NULL, *l, *trail;
	int port;

	(void) state;
	/* the CLI's parent is this test, root's: a user acts for its own uid
	 * only, so that owner is refused (leases) */
	assert_int_equal(CLI(NOBODY, &res, "allocate", "usr"), 5);
	assert_non_null(strstr(errmsg(res), "belongs to uid 0"));
	json_decref(res);
	/* for a process of its own: allowed, recorded as its uid */
	assert_int_equal(spawn_holder(&mine, NOBODY, mine_pid, sizeof(mine_pid)), 0);
	assert_int_equal(CLI(NOBODY, &res, "allocate", "usr", "--pid", mine_pid), 0);
	port = (int)num(res, "port");
	assert_int_equal(num(res, "uid"), NOBODY);
	json_decref(res);
	snprintf(ownport, sizeof(ownport), "%d", port);
	l = list_allocs();
	assert_non_null(find_alloc(l, port));
	assert_int_equal(num(find_alloc(l, port), "uid"), NOBODY);
	json_decref(l);

	/* root's allocation: not its to release */
	port = alloc_port("usr", NULL);
	assert_true(port > 0);
	snprintf(rootport, sizeof(rootport), "%d", port);
	assert_int_equal(CLI(NOBODY, &res, "release", rootport), 5);
	print_message("release by uid %d: %s\n", NOBODY, errmsg(res));
	assert_non_null(strstr(errmsg(res), "belongs to uid 0"));
	json_decref(res);
	assert_true(listed(port));

	/* root's process: not its to name as owner */
	assert_int_equal(spawn_holder(&other, -1, other_pid, sizeof(other_pid)), 0);
	assert_int_equal(CLI(NOBODY, &res, "allocate", "usr", "--pid", other_pid), 5);
	print_message("--pid of root's process by uid %d: %s\n", NOBODY, errmsg(res));
	assert_non_null(strstr(errmsg(res), other_pid));
	json_decref(res);
	itest_proc_end(&other);

	trail = audit_trail();
	assert_non_null(trail);
	assert_true(audited(trail, "release", "denied", port, NOBODY));
	assert_true(audited(trail, "allocate", "denied", 0, NOBODY));
	json_decref(trail);

	/* its own it may release; root may release anything */
	assert_int_equal(CLI(NOBODY, NULL, "release", ownport), 0);
	assert_int_equal(CLI(-1, NULL, "release", rootport), 0);
	itest_proc_end(&mine);
}

/* `portwatch run TYPE -- CMD`: CMD gets PORT, owns the allocation, and its
 * death releases it. */
static void test_run(void **state)
{
	char bin[256], helper[PATH_MAX], rel[256], cmd[PATH_MAX + 64], line[64];
	int in[2], out[2];
	struct itest_proc p;
	json_t *l, *a;
	unsigned port;
	pid_t pid;

	(void) state;
	snprintf(bin, sizeof(bin), "%s/portwatch", itest_build());
	snprintf(rel, sizeof(rel), "%s/tests/helper", itest_build());
	assert_non_null(realpath(rel, helper));
	snprintf(cmd, sizeof(cmd), "exec '%s' listen tcp4 \"$PORT\"", helper);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("PORTWATCH_SOCKET", dmn.sock, 1);
		execv(bin, (char *const *)(const char *const[]){ bin, "run", "runt", "--", "sh",
								 "-c", cmd, NULL });
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p = (struct itest_proc){ .pid = pid, .in = in[1], .out = out[0] };

	/* the helper prints the port it listens on: the one in $PORT */
	assert_int_equal(itest_proc_line(&p, line, sizeof(line), 5000 * (int)itest_slow()), 0);
	port = (unsigned)strtoul(line, NULL, 10);
	print_message("run: command listens on %u\n", port);
	assert_true(port >= 47600 && port <= 47699);

	assert_true(ITEST_WAIT(listed_in_state(port, "listening"), 2000 * itest_slow()));
	l = list_allocs();
	a = find_alloc(l, port);
	assert_non_null(a);
	assert_string_equal(str(a, "service_type"), "runt");
	assert_int_equal(num(a, "pid"), pid);
	assert_string_equal(str(a, "comm"), "helper");
	json_decref(l);

	itest_proc_kill(&p, SIGKILL);
	assert_true(ITEST_WAIT(unlisted(port), 5000 * itest_slow()));
}

static int write_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(val, f);
	return fclose(f);
}

/*
 * Recovery layer 1: a port held where the port map cannot see it (a UDP
 * socket given its port by connect(), which fires no bind hook) is caught by
 * the test bind, marked, audited, and the next port handed out after a
 * short backoff. Requested explicitly, the conflict costs no 5 s backoff.
 */
static void test_conflict_found_by_test_bind(void **state)
{
	static const char *const range = "/proc/sys/net/ipv4/ip_local_port_range";
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	char saved[64] = "", *out = NULL;
	json_t *res, *conf, *a;
	uint64_t t0;
	double ms;
	size_t i;
	bool audited = false;
	FILE *f;
	int fd;

	(void) state;
	/* this namespace's ephemeral range pinned to 47800: connect() takes it */
	f = fopen(range, "r");
	assert_non_null(f);
	assert_non_null(fgets(saved, sizeof(saved), f));
	fclose(f);
	assert_int_equal(write_sysctl(range, "47800 47800"), 0);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_int_equal(write_sysctl(range, saved), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &len), 0);
	assert_int_equal(ntohs(me.sin_port), 47800);

	/* the premise: the port map does not know it */
	assert_int_equal(itest_call(&dmn, "ports", json_pack("{s:i}", "port", 47800), &res), 0);
	assert_int_equal(json_array_size(res), 0);
	json_decref(res);

	t0 = itest_now_ns();
	assert_int_equal(itest_call(&dmn, "allocate", json_pack("{s:s, s:i, s:i}", "service_type",
					"hide", "port", 47800, "pid", atoi(holder_pid)), &res), 0);
	ms = (double)(itest_now_ns() - t0) / 1e6;
	print_message("conflict on 47800 found by the test bind; got %lld after %.0f ms\n",
		      (long long)json_integer_value(json_object_get(res, "port")), ms);
	assert_int_equal(json_integer_value(json_object_get(res, "port")), 47801);
	conf = json_object_get(res, "conflicts");
	assert_int_equal(json_array_size(conf), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(conf, 0), "port")), 47800);
	assert_true(ms < 2000.0 * itest_slow());	/* one 100 ms backoff, not the 5 s cap */
	json_decref(res);

	/* marked: while the hold lasts it is no candidate, and it is audited */
	assert_int_equal(itest_call(&dmn, "check", json_pack("{s:i}", "port", 47800), &res), 0);
	assert_true(json_is_true(json_object_get(res, "conflicted")));
	json_decref(res);
	{
		const char *const args[] = { "audit", "--json", "--limit", "50", NULL };

		assert_int_equal(itest_cli(&dmn, -1, &out, args), 0);
	}
	res = json_loads(out, 0, NULL);
	json_array_foreach(res, i, a)
		audited |= json_integer_value(json_object_get(a, "port")) == 47800 &&
			   !strcmp(json_string_value(json_object_get(a, "action")), "conflict") &&
			   !strcmp(json_string_value(json_object_get(a, "outcome")), "marked");
	assert_true(audited);
	json_decref(res);
	free(out);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_styxy_config_loads),
		cmocka_unit_test(test_bad_config_refused),
		cmocka_unit_test(test_foreign_listener_never_handed_out),
		cmocka_unit_test(test_preferred_requested_invalid_unknown),
		cmocka_unit_test(test_exhausted),
		cmocka_unit_test(test_singleton),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_list_and_check_json),
		cmocka_unit_test(test_unprivileged_user),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_conflict_found_by_test_bind),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
