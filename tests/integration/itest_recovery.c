// SPDX-License-Identifier: GPL-2.0
/*
 * Start-up recovery against real state files (recovery layer 3):
 *   - a state database truncated to half, and one overwritten with random
 *     bytes: the daemon starts, keeps the corrupt file beside a new one,
 *     adopts the live sockets in managed ranges, and says so in status and
 *     in recover --dry-run;
 *   - two allocations of a single-instance type written while the daemon
 *     was down: the newest stays;
 *   - allocations whose owner died (or whose pid was reused) while the
 *     daemon was down are released, and the audit trail says why;
 *   - a full file system under the state directory: allocate fails with
 *     exit code 11 and says why, reads keep working, allocate works again
 *     once there is room, and nothing acknowledged is lost across a restart.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "itest_lib.h"
#include "itest_run.h"
#include "proto.h"

#define TYPE_LO		46000	/* "rtest": 46000-46099, multi-instance */
#define SINGLE_LO	46100	/* "rsingle": 46100-46119, single-instance */
#define SIDE_PORT	46900	/* owners' first socket: outside every managed range */
#define MAX_PROCS	8

struct fixture {
	struct itest_daemon d;
	struct itest_proc procs[MAX_PROCS];
	int n_procs;
	char mnt[64];		/* our tmpfs, "" when none */
	bool mounted;
};

static struct fixture fx;
static char cfg_path[64];
static const char *extra[8];

static int group_setup(void **state)
{
	FILE *f;
	int fd;

	(void) state;
	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/pw-itest-recov-XXXXXX");
	fd = mkstemp(cfg_path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f)
		return -1;
	fprintf(f, "{\"service_types\": {\n"
		   "  \"rtest\": {\"port_range\": [%d, %d]},\n"
		   "  \"rsingle\": {\"port_range\": [%d, %d], \"instance_behavior\": \"single\"}\n"
		   "}}\n", TYPE_LO, TYPE_LO + 99, SINGLE_LO, SINGLE_LO + 19);
	extra[0] = "--config";
	extra[1] = cfg_path;
	extra[2] = NULL;
	return fclose(f);
}

static int group_teardown(void **state)
{
	(void) state;
	(void) unlink(cfg_path);
	return 0;
}

static int setup(void **state)
{
	(void) state;
	memset(&fx, 0, sizeof(fx));
	return 0;
}

static int teardown(void **state)
{
	(void) state;
	for (int i = 0; i < fx.n_procs; i++)
		itest_proc_kill(&fx.procs[i], SIGKILL);
	itest_daemon_cleanup(&fx.d);
	if (fx.mounted && umount2(fx.mnt, MNT_DETACH))
		fprintf(stderr, "umount %s: %s\n", fx.mnt, strerror(errno));
	if (fx.mnt[0])
		(void) rmdir(fx.mnt);
	extra[2] = NULL;
	return 0;
}

/* A helper of ours; its first output line goes to line. */
static struct itest_proc *spawn(const char *const *args, char *line, size_t len)
{
	struct itest_proc *p;

	assert_true(fx.n_procs < MAX_PROCS);
	p = &fx.procs[fx.n_procs];
	assert_int_equal(itest_proc_spawn(p, -1, args), 0);
	fx.n_procs++;
	assert_int_equal(itest_proc_line(p, line, len, 5000 * itest_slow()), 0);
	return p;
}

static struct itest_proc *spawn_hold(void)
{
	const char *const args[] = { "hold", NULL };
	char line[64];

	return spawn(args, line, sizeof(line));
}

/* An owner that can listen on command; its first socket is outside the ranges. */
static struct itest_proc *spawn_owner(unsigned k)
{
	char side[16], line[64];
	const char *const args[] = { "listen", "udp4", side, NULL };

	snprintf(side, sizeof(side), "%u", SIDE_PORT + k);
	struct itest_proc *p = spawn(args, line, sizeof(line));

	assert_int_equal(atoi(line), SIDE_PORT + k);
	return p;
}

/* Field 22 of /proc/PID/stat, read here rather than through the code under test. */
static unsigned long long start_time_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields count from the last ')' */
	p = strrchr(buf, ')');
	assert_non_null(p);
	p += 2;		/* field 3 */
	for (int f = 3; f < 22; f++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	return strtoull(p, NULL, 10);
}

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SQL on the stopped daemon's database, as an administrator would run it. */
static void db_exec(const char *sql)
{
	char path[256], *msg = NULL;
	sqlite3 *db = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/state.db", fx.d.state);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : "");
	sqlite3_free(msg);
	/* the last connection to close checkpoints the WAL into state.db */
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(rc, SQLITE_OK);
}

static void insert_alloc(const char *type, const char *name, unsigned port, pid_t pid,
			 unsigned long long start_time, long long created_at)
{
	char *sql = sqlite3_mprintf(
		"INSERT INTO allocations (service_type, name, port, pid, start_time, uid, comm,"
		" state, created_at, project, adopted) VALUES (%Q, %Q, %u, %d, %llu, 0, 'helper',"
		" 'reserved', %lld, '', 0)", type, name, port, (int)pid, start_time, created_at);

	assert_non_null(sql);
	db_exec(sql);
	sqlite3_free(sql);
}

static json_t *call(const char *cmd, json_t *args)
{
	json_t *res = NULL;

	assert_int_equal(itest_call(&fx.d, cmd, args, &res), 0);
	assert_non_null(res);
	return res;
}

static json_t *allocate(const char *type, unsigned port, pid_t pid)
{
	json_t *args = json_pack("{s:s, s:i}", "service_type", type, "pid", (int)pid);

	if (port)
		json_object_set_new(args, "port", json_integer(port));
	return call("allocate", args);
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static json_t *find_port(json_t *list, unsigned port)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (num(v, "port") == port)
			return v;
	return NULL;
}

static bool all_listening(const unsigned *ports, int n)
{
	json_t *list = NULL, *a;
	bool ok = true;

	if (itest_call(&fx.d, "list", NULL, &list))
		return false;
	for (int i = 0; i < n && ok; i++) {
		a = find_port(list, ports[i]);
		ok = a && !strcmp(str(a, "state"), "listening");
	}
	json_decref(list);
	return ok;
}

/* An audit record with this action and port whose detail contains what. */
static json_t *find_audit(json_t *audit, const char *action, unsigned port, const char *what)
{
	size_t i;
	json_t *v;

	json_array_foreach(audit, i, v)
		if (!strcmp(str(v, "action"), action) && num(v, "port") == port &&
		    strstr(str(v, "detail"), what))
			return v;
	return NULL;
}

static json_t *cli_json(int want_rc, const char *const *args)
{
	char *out = NULL, *err = NULL;
	json_t *j;

	/* with --json, an error is a JSON object on stderr */
	assert_int_equal(itest_pw(fx.d.sock, &out, &err, args), want_rc);
	assert_non_null(out);
	j = json_loads(want_rc ? err : out, 0, NULL);
	if (!j)
		fprintf(stderr, "not JSON: %s%s\n", out, err);
	free(out);
	free(err);
	assert_non_null(j);
	return j;
}

static json_t *recovery_step(json_t *report, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(report, "steps"), i, s)
		if (!strcmp(str(s, "step"), name))
			return s;
	fail_msg("recovery report without step %s", name);
	return NULL;
}

/* The one state.db.corrupt.<time> database beside the new state.db. */
static void find_corrupt(char *path, size_t len)
{
	struct dirent *e;
	int found = 0;
	DIR *dir;

	dir = opendir(fx.d.state);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);

		if (strncmp(e->d_name, "state.db.corrupt.", 17) ||
		    !strcmp(e->d_name + n - 4, "-wal") || !strcmp(e->d_name + n - 4, "-shm"))
			continue;
		snprintf(path, len, "%s/%s", fx.d.state, e->d_name);
		found++;
	}
	closedir(dir);
	assert_int_equal(found, 1);
}

static off_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	return st.st_size;
}

/* Overwrite path with as many random bytes as it holds; *bytes gets a copy. */
static size_t random_file(const char *path, char **bytes)
{
	off_t size = file_size(path);
	size_t len = size > 0 && size < (1 << 24) ? (size_t)size : 1;
	char *b = malloc(len);
	int fd;

	assert_true(size > 0);
	assert_non_null(b);
	for (size_t off = 0; off < len;) {
		ssize_t n = getrandom(b + off, len - off, 0);

		assert_true(n > 0);
		off += (size_t)n;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, len, 0), len);
	close(fd);
	*bytes = b;
	return len;
}

static bool same_bytes(const char *path, const char *bytes, size_t len)
{
	char *back = malloc(len + 1);
	bool same;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !back) {
		free(back);
		return false;
	}
	n = pread(fd, back, len + 1, 0);
	close(fd);
	same = n == (ssize_t)len && !memcmp(back, bytes, len);
	free(back);
	return same;
}

enum corruption { TRUNCATE_HALF, RANDOM_BYTES };

static void corrupt_and_recover(enum corruption how)
{
	const char *const st_args[] = { "status", "--json", NULL };
	const char *const st_human[] = { "status", NULL };
	const char *const dry[] = { "recover", "--dry-run", "--json", NULL };
	const char *const dry_human[] = { "recover", "--dry-run", NULL };
	const char *const not_dry[] = { "recover", NULL };
	unsigned ports[3];
	struct itest_proc *own[3];
	char db[256], aside[512], wal[520], line[64], cmd[64], *out = NULL, *bytes = NULL;
	char *wal_bytes = NULL;
	size_t wal_len = 0;
	json_t *res, *rec, *a;
	off_t size, kept;
	size_t i, blen = 0;

	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	/* real state: three allocations whose owners listen on them */
	for (int k = 0; k < 3; k++) {
		own[k] = spawn_owner((unsigned)k);
		ports[k] = TYPE_LO + 10 + (unsigned)k;
		res = allocate("rtest", ports[k], own[k]->pid);
		assert_int_equal(num(res, "port"), ports[k]);
		json_decref(res);
		snprintf(cmd, sizeof(cmd), "listen tcp4 %u\n", ports[k]);
		assert_int_equal(itest_proc_say(own[k], cmd), 0);
		assert_int_equal(itest_proc_line(own[k], line, sizeof(line), 5000), 0);
		assert_int_equal(atoi(line), ports[k]);
	}
	assert_true(ITEST_WAIT(all_listening(ports, 3), 2000 * itest_slow()));
	itest_daemon_stop(&fx.d, SIGKILL);

	snprintf(db, sizeof(db), "%s/state.db", fx.d.state);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	if (how == TRUNCATE_HALF) {
		/*
		 * After SIGKILL the allocations live in state.db-wal, and a truncated
		 * state.db beside a complete WAL reads back whole (the WAL holds every
		 * page). Fold the WAL in first, so that half the file is half the data.
		 */
		db_exec("PRAGMA wal_checkpoint(TRUNCATE)");
		assert_true(file_size(wal) <= 0);
		size = file_size(db);
		assert_true(size >= 4 * 4096);
		kept = size / 2;
		assert_int_equal(truncate(db, kept), 0);
	} else {
		/* state.db and its WAL, as SIGKILL left them, become noise */
		size = kept = file_size(db);
		wal_len = random_file(wal, &wal_bytes);
		blen = random_file(db, &bytes);
		assert_int_equal(blen, size);
	}
	print_message("state.db %s: %lld -> %lld bytes%s\n",
		      how == TRUNCATE_HALF ? "truncated" : "overwritten with random bytes",
		      (long long)size, (long long)kept, wal_len ? ", its WAL too" : "");

	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);

	/* the corrupt file is kept, unchanged, beside a new database */
	find_corrupt(aside, sizeof(aside));
	assert_int_equal(file_size(aside), kept);
	assert_true(file_size(db) > 0);
	if (bytes) {
		assert_true(same_bytes(aside, bytes, blen));
		free(bytes);
		/* its WAL went with it: replayed into the new database it would do harm */
		snprintf(wal, sizeof(wal), "%s-wal", aside);
		assert_true(same_bytes(wal, wal_bytes, wal_len));
		free(wal_bytes);
	}

	/* live sockets in managed ranges are allocations again, owned by their listeners */
	res = call("list", NULL);
	assert_int_equal(json_array_size(res), 3);
	for (int k = 0; k < 3; k++) {
		a = find_port(res, ports[k]);
		assert_non_null(a);
		assert_true(json_is_true(json_object_get(a, "adopted")));
		assert_int_equal(num(a, "pid"), own[k]->pid);
		assert_string_equal(str(a, "comm"), "helper");
		assert_string_equal(str(a, "service_type"), "rtest");
		assert_string_equal(str(a, "state"), "listening");
	}
	json_decref(res);

	/* status says what happened */
	res = cli_json(0, st_args);
	rec = json_object_get(res, "recovery");
	assert_true(json_is_object(rec));
	assert_string_equal(str(json_object_get(rec, "database"), "moved_to"), aside);
	assert_true(*str(json_object_get(rec, "database"), "corrupt"));
	print_message("status: corrupt \"%s\", moved to %s\n",
		      str(json_object_get(rec, "database"), "corrupt"), aside);
	assert_int_equal(num(recovery_step(rec, "adopt"), "count"), 3);
	assert_int_equal(num(recovery_step(rec, "orphans"), "count"), 0);
	assert_string_equal(str(recovery_step(rec, "database"), "result"), "ok");
	assert_int_equal(num(json_object_get(res, "allocations"), "total"), 3);
	json_decref(res);
	assert_int_equal(itest_cli(&fx.d, -1, &out, st_human), 0);
	assert_non_null(strstr(out, "database was corrupt"));
	free(out);

	/* recover --dry-run: nothing left to do, and the start-up report with it */
	res = cli_json(0, dry);
	assert_true(json_is_true(json_object_get(res, "dry_run")));
	json_array_foreach(json_object_get(res, "steps"), i, a)
		assert_int_equal(num(a, "count"), 0);
	assert_string_equal(str(json_object_get(json_object_get(res, "last_startup"), "database"),
				"moved_to"), aside);
	json_decref(res);
	assert_int_equal(itest_cli(&fx.d, -1, NULL, dry_human), 0);
	assert_int_equal(itest_cli(&fx.d, -1, NULL, not_dry), 2);

	/* the audit trail has each adoption */
	res = call("audit", json_pack("{s:i}", "limit", 1000));
	for (int k = 0; k < 3; k++)
		assert_non_null(find_audit(res, "recover", ports[k], "adopted"));
	json_decref(res);

	/* an adopted port is not handed out again */
	res = allocate("rtest", ports[0], own[0]->pid);
	for (int k = 0; k < 3; k++)
		assert_int_not_equal(num(res, "port"), ports[k]);
	json_decref(res);
}

static void test_truncated_database(void **state)
{
	(void) state;
	corrupt_and_recover(TRUNCATE_HALF);
}

static void test_random_database(void **state)
{
	(void) state;
	corrupt_and_recover(RANDOM_BYTES);
}

static void test_duplicate_singletons(void **state)
{
	const char *const st_args[] = { "status", "--json", NULL };
	struct itest_proc *older, *newer;
	long long now;
	json_t *res, *a;

	(void) state;
	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	itest_daemon_stop(&fx.d, SIGKILL);

	/* two live owners; both rows written behind the stopped daemon's back */
	older = spawn_hold();
	newer = spawn_hold();
	now = wall_ms();
	insert_alloc("rsingle", "older", SINGLE_LO, older->pid, start_time_of(older->pid),
		     now - 60000);
	insert_alloc("rsingle", "newer", SINGLE_LO + 1, newer->pid, start_time_of(newer->pid),
		     now - 1000);
	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);

	res = call("list", json_pack("{s:s}", "service_type", "rsingle"));
	assert_int_equal(json_array_size(res), 1);
	a = json_array_get(res, 0);
	assert_int_equal(num(a, "port"), SINGLE_LO + 1);
	assert_int_equal(num(a, "pid"), newer->pid);
	assert_string_equal(str(a, "name"), "newer");
	json_decref(res);

	res = call("audit", json_pack("{s:i}", "limit", 1000));
	assert_non_null(find_audit(res, "release", SINGLE_LO, "duplicate singleton"));
	assert_null(find_audit(res, "release", SINGLE_LO + 1, ""));
	json_decref(res);

	res = cli_json(0, st_args);
	assert_int_equal(num(recovery_step(json_object_get(res, "recovery"), "singletons"),
			     "count"), 1);
	json_decref(res);

	/* the survivor is the type's one instance */
	res = allocate("rsingle", 0, older->pid);
	assert_true(json_is_true(json_object_get(res, "existing")));
	assert_int_equal(num(res, "port"), SINGLE_LO + 1);
	json_decref(res);
}

static void test_dead_owners_released(void **state)
{
	const char *const st_args[] = { "status", "--json", NULL };
	struct itest_proc *gone, *alive;
	unsigned long long st;
	json_int_t gone_id;
	json_t *res, *r;

	(void) state;
	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	gone = spawn_hold();
	alive = spawn_hold();
	res = allocate("rtest", TYPE_LO + 20, gone->pid);
	assert_int_equal(num(res, "port"), TYPE_LO + 20);
	gone_id = num(res, "id");
	json_decref(res);
	itest_daemon_stop(&fx.d, SIGKILL);

	/* while the daemon is down: one owner dies, one pid "is reused" */
	itest_proc_kill(gone, SIGKILL);
	st = start_time_of(alive->pid);
	insert_alloc("rtest", "reused", TYPE_LO + 21, alive->pid, st + 12345, wall_ms());
	insert_alloc("rtest", "alive", TYPE_LO + 22, alive->pid, st, wall_ms());
	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);

	res = call("list", NULL);
	assert_int_equal(json_array_size(res), 1);
	assert_int_equal(num(json_array_get(res, 0), "port"), TYPE_LO + 22);
	json_decref(res);

	res = call("audit", json_pack("{s:i}", "limit", 1000));
	r = find_audit(res, "release", TYPE_LO + 20, "owner gone");
	assert_non_null(r);
	assert_int_equal(num(r, "alloc_id"), gone_id);
	assert_string_equal(str(r, "outcome"), "ok");
	print_message("audit: %s %s port %lld: %s\n", str(r, "action"), str(r, "outcome"),
		      (long long)num(r, "port"), str(r, "detail"));
	assert_non_null(find_audit(res, "release", TYPE_LO + 21, "owner gone"));
	assert_null(find_audit(res, "release", TYPE_LO + 22, ""));
	json_decref(res);

	res = cli_json(0, st_args);
	assert_int_equal(num(recovery_step(json_object_get(res, "recovery"), "orphans"), "count"),
			 2);
	json_decref(res);
}

/* A listener of uid on port (tcp4), killed at teardown. */
static struct itest_proc *spawn_listener_as(int uid, unsigned port)
{
	char arg[16], line[64];
	const char *const args[] = { "listen", "tcp4", arg, NULL };
	struct itest_proc *p;

	snprintf(arg, sizeof(arg), "%u", port);
	assert_true(fx.n_procs < MAX_PROCS);
	p = &fx.procs[fx.n_procs];
	assert_int_equal(itest_proc_spawn(p, uid, args), 0);
	fx.n_procs++;
	assert_int_equal(itest_proc_line(p, line, sizeof(line), 5000 * itest_slow()), 0);
	assert_int_equal(atoi(line), (int)port);
	return p;
}

static const char *state_of(unsigned port)
{
	static char st[32];
	json_t *res = call("list", NULL);

	snprintf(st, sizeof(st), "%s", str(find_port(res, port), "state"));
	json_decref(res);
	return st;
}

/* The owner of a root allocation died while the daemon was down and another
 * user's process now listens on the port: that is no heir (README: a socket
 * held outside the owner's tree is a conflict, never an heir), the allocation
 * is released. A root process listening there inherits it, and the state
 * says it listens. */
static void test_dead_owner_heir_of_own_uid_only(void **state)
{
	struct itest_proc *gone, *gone2, *user, *root;
	json_t *res, *a;

	(void) state;
	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	gone = spawn_hold();
	gone2 = spawn_hold();
	json_decref(allocate("rtest", TYPE_LO + 30, gone->pid));
	json_decref(allocate("rtest", TYPE_LO + 31, gone2->pid));
	itest_daemon_stop(&fx.d, SIGKILL);

	itest_proc_kill(gone, SIGKILL);
	itest_proc_kill(gone2, SIGKILL);
	user = spawn_listener_as(65534, TYPE_LO + 30);
	root = spawn_listener_as(-1, TYPE_LO + 31);
	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);

	res = call("list", NULL);
	assert_null(find_port(res, TYPE_LO + 30));
	a = find_port(res, TYPE_LO + 31);
	assert_non_null(a);
	assert_int_equal(num(a, "pid"), root->pid);
	json_decref(res);
	/* observed at once, not left "reserved" */
	assert_true(ITEST_WAIT(!strcmp(state_of(TYPE_LO + 31), "listening"),
			       2000 * itest_slow()));
	res = call("audit", json_pack("{s:i}", "limit", 1000));
	assert_non_null(find_audit(res, "release", TYPE_LO + 30, "owner gone"));
	assert_null(find_audit(res, "handover", TYPE_LO + 30, ""));
	json_decref(res);
	(void) user;
}

/* Fill the file system under path; returns the bytes written. */
static long long fill(const char *path)
{
	static char block[16384];
	long long total = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (size_t chunk = sizeof(block); chunk >= 512; chunk /= 2) {
		for (;;) {
			ssize_t n = write(fd, block, chunk);

			if (n <= 0) {
				assert_int_equal(errno, ENOSPC);
				break;
			}
			total += n;
		}
	}
	close(fd);
	return total;
}

static void test_full_filesystem(void **state)
{
	const char *const st_args[] = { "status", "--json", NULL };
	const char *const list_args[] = { "list", NULL };
	const char *const ports_args[] = { "ports", NULL };
	const char *const st_human[] = { "status", NULL };
	char filler[128], pidbuf[16], *out = NULL;
	const char *alloc_args[] = { "--json", "allocate", "rtest", "--pid", pidbuf, NULL };
	json_int_t ids[8];
	unsigned ports[8];
	struct itest_proc *owner;
	json_t *res, *err, *a;
	int n = 0;

	(void) state;
	/* our own mount namespace: the tmpfs vanishes with us whatever happens */
	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(fx.mnt, sizeof(fx.mnt), "/tmp/pw-itest-full-XXXXXX");
	assert_non_null(mkdtemp(fx.mnt));
	assert_int_equal(mount("tmpfs", fx.mnt, "tmpfs", MS_NOSUID | MS_NODEV,
			       "size=512k,mode=0700"), 0);
	fx.mounted = true;
	extra[2] = "--state-dir";
	extra[3] = fx.mnt;
	extra[4] = NULL;

	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	owner = spawn_hold();
	snprintf(pidbuf, sizeof(pidbuf), "%d", owner->pid);
	for (; n < 5; n++) {
		res = allocate("rtest", 0, owner->pid);
		ids[n] = num(res, "id");
		ports[n] = (unsigned)num(res, "port");
		json_decref(res);
	}

	snprintf(filler, sizeof(filler), "%s/filler", fx.mnt);
	print_message("filler: %lld bytes fill the 512 KiB tmpfs\n", fill(filler));

	/* allocate fails with the storage code and says why */
	res = cli_json(11, alloc_args);
	err = json_object_get(res, "error");
	assert_string_equal(str(err, "code"), pw_errcode_name(PW_E_STORAGE));
	print_message("allocate on a full disk: exit 11, \"%s\"\n", str(err, "message"));
	assert_non_null(strstr(str(err, "message"), "allocation not made"));
	assert_non_null(strstr(str(err, "message"), "No space left on device"));
	json_decref(res);

	/* reads still work, and status shows the failing storage */
	assert_int_equal(itest_cli(&fx.d, -1, NULL, list_args), 0);
	assert_int_equal(itest_cli(&fx.d, -1, NULL, ports_args), 0);
	res = cli_json(0, st_args);
	assert_true(json_is_false(json_object_get(json_object_get(res, "allocations"),
						  "storage_ok")));
	assert_int_equal(num(json_object_get(res, "allocations"), "total"), 5);
	json_decref(res);
	assert_int_equal(itest_cli(&fx.d, -1, &out, st_human), 0);
	assert_non_null(strstr(out, "STORAGE FAILING"));
	free(out);

	/* room again: allocate works again */
	assert_int_equal(unlink(filler), 0);
	res = cli_json(0, alloc_args);
	ids[n] = num(res, "id");
	ports[n] = (unsigned)num(res, "port");
	n++;
	json_decref(res);
	res = cli_json(0, st_args);
	assert_true(json_is_true(json_object_get(json_object_get(res, "allocations"),
						 "storage_ok")));
	json_decref(res);

	/* nothing acknowledged was lost, nothing refused appeared */
	itest_daemon_stop(&fx.d, SIGKILL);
	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);
	res = call("list", NULL);
	assert_int_equal(json_array_size(res), n);
	for (int i = 0; i < n; i++) {
		a = find_port(res, ports[i]);
		assert_non_null(a);
		assert_int_equal(num(a, "id"), ids[i]);
	}
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_truncated_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_singletons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_owners_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_owner_heir_of_own_uid_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_filesystem, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
