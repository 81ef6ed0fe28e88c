// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation life cycle against the real kernel (recovery layer 2):
 * a killed owner's allocation is stale and released within 50 ms at a watch
 * subscriber; a never-bound owner's too; a closed port goes stale only after
 * the grace period and not when bound again within it; a foreign bind is a
 * conflict naming the pid; a reused pid does not keep a dead owner alive;
 * with --no-bpf, a dead owner is released after max_failures polls, not before;
 * a close, which the kernel reports with no time, reaches a watcher stamped by
 * the daemon and described as the socket was bound.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "itest_lib.h"

#define GRACE_MS 400

/* The grace period the daemon gets: a close and a bind again must fit in it,
 * two round trips to a helper, slower in emulation (scaled, within reason). */
static unsigned grace_ms(void)
{
	unsigned s = itest_slow();

	return GRACE_MS * (s < 10 ? s : 10);
}

static char config_path[64];

static int write_config(unsigned interval_ms)
{
	FILE *f;
	int fd;

	snprintf(config_path, sizeof(config_path), "/tmp/pw-itest-lc-XXXXXX");
	fd = mkstemp(config_path);
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fprintf(f, "{\"service_types\": {\"lc\": {\"port_range\": [45500, 45599]}},\n"
		   " \"recovery\": {\"health_monitoring\": {\"enabled\": true,"
		   " \"check_interval_ms\": %u, \"fast_interval_ms\": %u, \"max_failures\": 3,"
		   " \"cleanup_stale_allocations\": true, \"grace_period_ms\": %d}}}\n",
		interval_ms, interval_ms, grace_ms());
	return fclose(f);
}

static int start(struct itest_daemon *d, bool no_bpf, unsigned interval_ms)
{
	const char *const bpf[] = { "--config", config_path, NULL };
	const char *const poll[] = { "--config", config_path, "--no-bpf", "--poll-interval",
				     "100", NULL };

	if (write_config(interval_ms))
		return -1;
	return itest_daemon_start(d, no_bpf ? poll : bpf);
}

static void stop(struct itest_daemon *d)
{
	itest_daemon_cleanup(d);
	unlink(config_path);
}

/* An owner process: a helper that can open sockets on command. */
static void spawn_owner(struct itest_proc *p)
{
	const char *const args[] = { "listen", "udp4", "0", NULL };
	char line[64];

	assert_int_equal(itest_proc_spawn(p, -1, args), 0);
	assert_int_equal(itest_proc_line(p, line, sizeof(line), 5000), 0);
}

static unsigned allocate(struct itest_daemon *d, pid_t owner, json_int_t *id)
{
	json_t *res;
	unsigned port;

	assert_int_equal(itest_call(d, "allocate", json_pack("{s:s, s:i}", "service_type", "lc",
							     "pid", (int)owner), &res), 0);
	port = (unsigned)json_integer_value(json_object_get(res, "port"));
	if (id)
		*id = json_integer_value(json_object_get(res, "id"));
	json_decref(res);
	return port;
}

static const char *state_of(struct itest_daemon *d, unsigned port, char *buf, size_t len)
{
	json_t *res, *v;
	size_t i;

	snprintf(buf, len, "released");
	if (itest_call(d, "list", NULL, &res))
		return "error";
	json_array_foreach(res, i, v)
		if (json_integer_value(json_object_get(v, "port")) == port)
			snprintf(buf, len, "%s", json_string_value(json_object_get(v, "state")));
	json_decref(res);
	return buf;
}

static bool is_state(struct itest_daemon *d, unsigned port, const char *want)
{
	char buf[32];

	return !strcmp(state_of(d, port, buf, sizeof(buf)), want);
}

/* The next event of kind on port at w before the monotonic deadline dl_ns,
 * or NULL (caller frees). */
static json_t *next_event(struct pw_conn *w, const char *kind, unsigned port, uint64_t dl_ns)
{
	while (itest_now_ns() < dl_ns) {
		const char *line;
		json_t *e;

		if (pw_conn_read_line(w, &line, (int)((dl_ns - itest_now_ns()) / 1000000ull) + 1))
			return NULL;
		e = json_loads(line, 0, NULL);
		if (e && !strcmp(json_string_value(json_object_get(e, "event")), kind) &&
		    json_integer_value(json_object_get(e, "port")) == port)
			return e;
		json_decref(e);
	}
	return NULL;
}

/* Wait at a watch subscriber for an allocation event of port reaching state. */
static bool watch_for(struct pw_conn *w, unsigned port, const char *state, int timeout_ms,
		      char *reason, size_t rlen)
{
	uint64_t dl = itest_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	json_t *e;

	while ((e = next_event(w, "allocation", port, dl))) {
		static const char *const keys[] = { "id", "service_type", "old_state", "ts_ns" };
		bool hit = !strcmp(json_string_value(json_object_get(e, "state")), state);

		if (hit && reason)
			snprintf(reason, rlen, "%s", json_string_value(json_object_get(e, "reason")));
		for (size_t k = 0; hit && k < 4; k++)
			assert_non_null(json_object_get(e, keys[k]));
		json_decref(e);
		if (hit)
			return true;
	}
	return false;
}

static struct pw_conn *subscribe(struct itest_daemon *d)
{
	struct pw_conn *w;
	const char *line;

	assert_int_equal(pw_conn_open(&w, d->sock), 0);
	assert_int_equal(pw_conn_send(w, "watch", NULL), 0);
	assert_int_equal(pw_conn_read_line(w, &line, 5000), 0);
	return w;
}

static void test_kill_listening_owner(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner;
	struct pw_conn *w;
	char cmd[64], line[64];
	unsigned port;
	uint64_t t0;
	double stale_ms, released_ms;

	(void) state;
	assert_int_equal(start(&d, false, 30000), 0);
	spawn_owner(&owner);
	port = allocate(&d, owner.pid, NULL);
	w = subscribe(&d);
	snprintf(cmd, sizeof(cmd), "listen tcp4 %u\n", port);
	assert_int_equal(itest_proc_say(&owner, cmd), 0);
	assert_int_equal(itest_proc_line(&owner, line, sizeof(line), 5000), 0);
	assert_true(watch_for(w, port, "listening", 2000, NULL, 0));

	t0 = itest_now_ns();
	kill(owner.pid, SIGKILL);
	assert_true(watch_for(w, port, "stale", 50 * (int)itest_slow(), NULL, 0));
	stale_ms = (double)(itest_now_ns() - t0) / 1e6;
	assert_true(watch_for(w, port, "released", 50 * (int)itest_slow(), NULL, 0));
	released_ms = (double)(itest_now_ns() - t0) / 1e6;
	print_message("SIGKILL -> stale %.2f ms, released %.2f ms at the subscriber\n", stale_ms,
		      released_ms);
	assert_true(released_ms < 50.0 * itest_slow());
	itest_proc_kill(&owner, SIGKILL);
	pw_conn_close(w);
	stop(&d);
}

static void test_never_bound_owner_exits(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner;
	struct pw_conn *w;
	unsigned port;

	(void) state;
	json_t *e;

	assert_int_equal(start(&d, false, 30000), 0);
	spawn_owner(&owner);
	w = subscribe(&d);
	port = allocate(&d, owner.pid, NULL);
	assert_true(is_state(&d, port, "reserved"));
	/* the allocation's first event: made */
	e = next_event(w, "allocation", port, itest_now_ns() + 2000000000ull);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "old_state")), "none");
	assert_string_equal(json_string_value(json_object_get(e, "state")), "reserved");
	assert_string_equal(json_string_value(json_object_get(e, "reason")), "allocated");
	json_decref(e);
	itest_proc_end(&owner);	/* exits normally, never bound the port */
	assert_true(watch_for(w, port, "released", 50 * (int)itest_slow(), NULL, 0));
	pw_conn_close(w);
	stop(&d);
}

static void test_grace_period(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner;
	char cmd[64], line[64];
	unsigned port;
	uint64_t t0;

	(void) state;
	assert_int_equal(start(&d, false, 30000), 0);
	spawn_owner(&owner);
	port = allocate(&d, owner.pid, NULL);
	snprintf(cmd, sizeof(cmd), "listen tcp4 %u\n", port);

	/* close, then bind again within the grace period: never stale */
	assert_int_equal(itest_proc_say(&owner, cmd), 0);
	assert_int_equal(itest_proc_line(&owner, line, sizeof(line), 5000), 0);
	assert_true(ITEST_WAIT(is_state(&d, port, "listening"), 1000 * itest_slow()));
	assert_int_equal(itest_proc_say(&owner, "close\n"), 0);
	assert_int_equal(itest_proc_line(&owner, line, sizeof(line), 5000), 0);
	assert_int_equal(itest_proc_say(&owner, cmd), 0);
	assert_int_equal(itest_proc_line(&owner, line, sizeof(line), 5000), 0);
	/* the second bind's event may still be on its way: between the close
	 * and it the port is held in its grace period, not listening */
	assert_true(ITEST_WAIT(is_state(&d, port, "listening"), 1000 * itest_slow()));
	/* the grace period passes; it must stay listening */
	assert_false(ITEST_WAIT(!is_state(&d, port, "listening"), grace_ms() * 2));

	/* close and stay closed: stale (and released) only after the grace period */
	assert_int_equal(itest_proc_say(&owner, "close\n"), 0);
	assert_int_equal(itest_proc_line(&owner, line, sizeof(line), 5000), 0);
	t0 = itest_now_ns();
	assert_false(ITEST_WAIT(is_state(&d, port, "released"), grace_ms() - 100));
	assert_true(ITEST_WAIT(is_state(&d, port, "released"), grace_ms() * 3 * itest_slow()));
	print_message("closed port released %.0f ms after close (grace %u ms)\n",
		      (double)(itest_now_ns() - t0) / 1e6, grace_ms());
	itest_proc_end(&owner);
	stop(&d);
}

static void test_foreign_bind_conflict(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner, intruder;
	const char *args[] = { "listen", "tcp4", NULL, NULL };
	char portbuf[16], line[64], reason[128] = "", needle[32];
	struct pw_conn *w;
	unsigned port;

	(void) state;
	assert_int_equal(start(&d, false, 30000), 0);
	spawn_owner(&owner);
	port = allocate(&d, owner.pid, NULL);
	w = subscribe(&d);
	snprintf(portbuf, sizeof(portbuf), "%u", port);
	args[2] = portbuf;
	assert_int_equal(itest_proc_spawn(&intruder, -1, args), 0);
	assert_int_equal(itest_proc_line(&intruder, line, sizeof(line), 5000), 0);
	assert_true(watch_for(w, port, "conflict", 1000, reason, sizeof(reason)));
	snprintf(needle, sizeof(needle), "pid %d", intruder.pid);
	assert_non_null(strstr(reason, needle));
	assert_true(is_state(&d, port, "conflict"));
	/* kept visible, and recovers when the intruder goes */
	itest_proc_end(&intruder);
	assert_true(ITEST_WAIT(is_state(&d, port, "reserved"), 1000 * itest_slow()));
	pw_conn_close(w);
	itest_proc_end(&owner);
	stop(&d);
}

/* Fork a `helper hold` whose pid is want (ns_last_pid), within a bound. */
static bool spawn_with_pid(struct itest_proc *p, pid_t want)
{
	const char *const args[] = { "hold", NULL };

	for (int tries = 0; tries < 50; tries++) {
		char buf[16];
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);

		if (fd < 0)
			return false;
		snprintf(buf, sizeof(buf), "%d", want - 1);
		(void) !write(fd, buf, strlen(buf));
		close(fd);
		if (itest_proc_spawn(p, -1, args))
			return false;
		if (p->pid == want)
			return true;
		itest_proc_end(p);	/* someone else forked in between: retry */
	}
	return false;
}

/* Clock ticks since boot, the unit of /proc/PID/stat's start time. */
static unsigned long long boot_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec) /
	       (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static unsigned long long start_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			      "%*d %*d %llu", &v);
	fclose(f);
	return v;
}

static void test_pid_reuse_does_not_keep_allocation(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner, impostor;
	unsigned port;
	pid_t pid;

	(void) state;
	/* polling: the owner check is pid + start time, so a reused pid is
	 * still a dead owner */
	assert_int_equal(start(&d, true, 300), 0);
	spawn_owner(&owner);
	pid = owner.pid;
	port = allocate(&d, pid, NULL);
	/* start times have clock-tick resolution: a reuse within the owner's own
	 * tick is indistinguishable, so let the clock move on past it first */
	{
		unsigned long long st = start_ticks(pid);

		assert_true(st > 0);
		assert_true(ITEST_WAIT(boot_ticks() > st + 1, 1000));
	}
	itest_proc_kill(&owner, SIGKILL);
	if (!spawn_with_pid(&impostor, pid)) {
		stop(&d);
		skip();
	}
	print_message("pid %d reused by a new process\n", pid);
	assert_true(ITEST_WAIT(is_state(&d, port, "released"), 300 * 6 * itest_slow()));
	itest_proc_end(&impostor);
	stop(&d);
}

static void test_no_bpf_max_failures(void **state)
{
	struct itest_daemon d;
	struct itest_proc owner;
	unsigned port;
	uint64_t t0;
	double ms;

	(void) state;
	assert_int_equal(start(&d, true, 1000), 0);
	spawn_owner(&owner);
	port = allocate(&d, owner.pid, NULL);
	itest_proc_kill(&owner, SIGKILL);
	t0 = itest_now_ns();
	/* 3 failing polls 1 s apart: not before 2 s after the kill */
	assert_false(ITEST_WAIT(is_state(&d, port, "released"), 1900));
	assert_true(ITEST_WAIT(is_state(&d, port, "released"), 3000 * itest_slow()));
	ms = (double)(itest_now_ns() - t0) / 1e6;
	print_message("--no-bpf: released %.0f ms after the kill (3 polls of 1000 ms)\n", ms);
	assert_true(ms >= 1900.0);
	stop(&d);
}

static void test_close_stamped(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct itest_daemon d;
	struct pw_conn *w;
	json_t *bind_ev, *close_ev;
	uint64_t t_bind, t_close, before_close, dl = itest_now_ns() + 5000000000ull * itest_slow();
	unsigned port;
	int fd;

	(void) state;
	assert_int_equal(start(&d, false, 30000), 0);
	w = subscribe(&d);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	bind_ev = next_event(w, "bind", port, dl);
	assert_non_null(bind_ev);
	before_close = itest_now_ns();
	assert_int_equal(close(fd), 0);
	close_ev = next_event(w, "close", port, dl);
	assert_non_null(close_ev);
	t_bind = (uint64_t)json_integer_value(json_object_get(bind_ev, "ts_ns"));
	t_close = (uint64_t)json_integer_value(json_object_get(close_ev, "ts_ns"));
	/* stamped when applied: after the close, not 0, not the bind's time */
	assert_true(t_close >= before_close && t_close <= itest_now_ns());
	assert_true(t_bind > 0 && t_bind < before_close);
	/* described as bound: the binder, the protocol */
	assert_int_equal(json_integer_value(json_object_get(close_ev, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(close_ev, "proto")),
			    json_string_value(json_object_get(bind_ev, "proto")));
	print_message("close of port %u: stamped %.3f ms after close() began\n", port,
		      (double)(t_close - before_close) / 1e6);
	json_decref(bind_ev);
	json_decref(close_ev);
	pw_conn_close(w);
	stop(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_stamped),
		cmocka_unit_test(test_kill_listening_owner),
		cmocka_unit_test(test_never_bound_owner_exits),
		cmocka_unit_test(test_grace_period),
		cmocka_unit_test(test_foreign_bind_conflict),
		cmocka_unit_test(test_pid_reuse_does_not_keep_allocation),
		cmocka_unit_test(test_no_bpf_max_failures),
	};

	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
