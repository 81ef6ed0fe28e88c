// SPDX-License-Identifier: GPL-2.0
/*
 * Least privilege: a running daemon holds exactly the capabilities caps.h
 * documents (CapEff, CapPrm and CapBnd of /proc/PID/status; nothing inherited
 * or ambient), dropped after BPF was attached, and still does what each kept
 * one is for: owners of another user's sockets and sockets of another network
 * namespace in polling snapshots (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH,
 * CAP_SYS_ADMIN), and test binds below 1024 (CAP_NET_BIND_SERVICE).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "caps.h"
#include "itest_lib.h"

#define NOBODY 65534
#define WAIT_MS (5000 * (int)itest_slow())

static struct itest_daemon daemon_;

/* A "Cap*:" mask of /proc/PID/status, or ~0 when it cannot be read. */
static uint64_t status_caps(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	uint64_t v = ~0ull;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

static int start(const char *const *extra)
{
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	return itest_daemon_start(&daemon_, extra);
}

static int setup_bpf(void **state)
{
	(void) state;
	return start(NULL);
}

static int setup_polling(void **state)
{
	const char *const extra[] = { "--no-bpf", "--poll-interval", "100", NULL };

	(void) state;
	return start(extra);
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	return 0;
}

static void assert_documented_set(pid_t pid)
{
	json_t *res;

	/* an answer comes from the event loop, which runs after the drop */
	assert_int_equal(itest_call(&daemon_, "ping", NULL, &res), 0);
	json_decref(res);
	assert_int_equal(status_caps(pid, "CapEff"), PW_CAPS_KEPT);
	assert_int_equal(status_caps(pid, "CapPrm"), PW_CAPS_KEPT);
	/* root with CAP_SETPCAP: the bounding set shrinks too, so exec'd
	 * health-check commands cannot get the rest back */
	assert_int_equal(status_caps(pid, "CapBnd"), PW_CAPS_KEPT);
	assert_int_equal(status_caps(pid, "CapInh"), 0);
	assert_int_equal(status_caps(pid, "CapAmb"), 0);
}

/* Attached first, then dropped: the mode is bpf, the set is the documented one. */
static void test_bpf_mode_keeps_documented_set(void **state)
{
	json_t *res;

	(void) state;
	assert_int_equal(itest_call(&daemon_, "status", NULL, &res), 0);
	assert_string_equal(json_string_value(json_object_get(res, "mode")), "bpf");
	json_decref(res);
	assert_documented_set(daemon_.pid);
	/* no CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN left */
	assert_false(status_caps(daemon_.pid, "CapEff") &
		     ((1ull << CAP_BPF) | (1ull << CAP_PERFMON) | (1ull << CAP_NET_ADMIN)));
}

static bool owner_seen(unsigned port, pid_t pid, uint64_t netns)
{
	json_t *res, *s;
	bool ok;

	if (itest_call(&daemon_, "ports", NULL, &res))
		return false;
	s = itest_find_sock(res, port, "tcp", pid);
	ok = s && (!netns || (uint64_t)json_integer_value(json_object_get(s, "netns")) == netns);
	json_decref(res);
	return ok;
}

/* After the drop, polling snapshots still see another user's socket with its
 * owner, and a socket in another network namespace. */
static void test_snapshots_after_drop(void **state)
{
	const char *const args[] = { "listen", "tcp4", "0", NULL };
	struct itest_proc other = { 0 }, ns = { 0 };
	char port[16], nsport[16];

	(void) state;
	assert_documented_set(daemon_.pid);
	assert_int_equal(itest_proc_spawn(&other, NOBODY, args), 0);
	assert_int_equal(itest_proc_line(&other, port, sizeof(port), WAIT_MS), 0);
	assert_true(ITEST_WAIT(owner_seen((unsigned)atoi(port), other.pid, 0),
			       WAIT_MS * itest_slow()));
	assert_int_equal(itest_proc_spawn_netns(&ns, args), 0);
	assert_int_equal(itest_proc_line(&ns, nsport, sizeof(nsport), WAIT_MS), 0);
	assert_true(ITEST_WAIT(owner_seen((unsigned)atoi(nsport), ns.pid, 0),
			       WAIT_MS * itest_slow()));
	itest_proc_end(&other);
	itest_proc_end(&ns);
}

/* A type below 1024: the test bind before handing a port out still works. */
static void test_low_port_allocation(void **state)
{
	const char *cfg = "{\"service_types\": {\"low\": {\"port_range\": [900, 909]}}}";
	const char *const extra[] = { "--config", NULL, NULL };
	char path[200];
	json_t *res;
	FILE *f;

	(void) state;
	itest_daemon_cleanup(&daemon_);
	snprintf(path, sizeof(path), "/tmp/itest_caps.%d.json", (int)getpid());
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(cfg, f);
	fclose(f);
	((const char **)extra)[1] = path;
	assert_int_equal(itest_daemon_start(&daemon_, extra), 0);
	(void) unlink(path);
	assert_documented_set(daemon_.pid);
	assert_int_equal(itest_call(&daemon_, "allocate",
				    json_pack("{s:s, s:i}", "service_type", "low", "pid",
					      (int)getpid()), &res), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "port")), 900);
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bpf_mode_keeps_documented_set, setup_bpf,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshots_after_drop, setup_polling, teardown),
		cmocka_unit_test_setup_teardown(test_low_port_allocation, setup_bpf, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
