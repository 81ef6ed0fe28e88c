// SPDX-License-Identifier: GPL-2.0
/*
 * Churn: 8 processes do 20,000 bind/close cycles between them. Afterwards the
 * port map agrees with `ss -tulpnH` for the host namespace, and either nothing
 * was dropped or a resync restored agreement. With a deliberately tiny ring
 * buffer, drops are counted, a resync happens, and the map agrees again.
 * Every bind of the churn succeeds while the programs are attached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "itest_lib.h"

#define PROCS 8
#define CYCLES 2500	/* x PROCS = 20,000 */

/* "proto/port" -> count, plus the pids ss names for it */
struct entry {
	char key[16];
	int ours, theirs;
	char pids[256];		/* ",pid,pid," as ss reports them */
};

struct table {
	struct entry e[512];
	int n;
};

static struct entry *slot(struct table *t, const char *proto, unsigned port)
{
	char key[16];

	snprintf(key, sizeof(key), "%s/%u", proto, port);
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].key, key))
			return &t->e[i];
	if (t->n == 512)
		return NULL;
	memset(&t->e[t->n], 0, sizeof(t->e[0]));
	snprintf(t->e[t->n].key, sizeof(t->e[0].key), "%s", key);
	snprintf(t->e[t->n].pids, sizeof(t->e[0].pids), ",");
	return &t->e[t->n++];
}

static int read_ss(struct table *t)
{
	FILE *f = popen("ss -tulpnH", "r");
	char line[1024];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char netid[8], state[16], local[128];
		struct entry *e;
		char *colon, *p;

		if (sscanf(line, "%7s %15s %*s %*s %127s", netid, state, local) != 3)
			continue;
		colon = strrchr(local, ':');
		if (!colon)
			continue;
		e = slot(t, netid, (unsigned)atoi(colon + 1));
		if (!e)
			continue;
		e->theirs++;
		for (p = strstr(line, "pid="); p; p = strstr(p + 4, "pid=")) {
			size_t n = strlen(e->pids);

			snprintf(e->pids + n, sizeof(e->pids) - n, "%d,", atoi(p + 4));
		}
	}
	return pclose(f) == 0 ? 0 : -1;
}

/* Our map, host namespace: TCP listeners and UDP sockets, as ss -tulpn lists. */
static int read_ours(struct itest_daemon *d, struct table *t, int *pid_mismatch)
{
	uint64_t host = itest_netns_cookie();
	json_t *res, *v;
	size_t i;

	if (itest_call(d, "ports", NULL, &res))
		return -1;
	*pid_mismatch = 0;
	json_array_foreach(res, i, v) {
		const char *proto = json_string_value(json_object_get(v, "proto"));
		const char *state = json_string_value(json_object_get(v, "state"));
		json_int_t pid = json_integer_value(json_object_get(v, "pid"));
		struct entry *e;
		char needle[24];

		if ((uint64_t)json_integer_value(json_object_get(v, "netns")) != host)
			continue;
		if (!strcmp(proto, "tcp") && strcmp(state, "listening"))
			continue;
		e = slot(t, proto, (unsigned)json_integer_value(json_object_get(v, "port")));
		if (!e)
			continue;
		e->ours++;
		snprintf(needle, sizeof(needle), ",%lld,", (long long)pid);
		if (pid && strcmp(e->pids, ",") && !strstr(e->pids, needle))
			(*pid_mismatch)++;
	}
	json_decref(res);
	return 0;
}

static bool agrees(struct itest_daemon *d, bool verbose)
{
	struct table t = { .n = 0 };
	int mism = 0;

	if (read_ss(&t) || read_ours(d, &t, &mism))
		return false;
	for (int i = 0; i < t.n; i++) {
		if (t.e[i].ours != t.e[i].theirs) {
			if (verbose)
				print_message("disagree on %s: map %d, ss %d\n", t.e[i].key,
					      t.e[i].ours, t.e[i].theirs);
			return false;
		}
	}
	if (mism && verbose)
		print_message("%d owner pids differ from ss\n", mism);
	return mism == 0;
}

static json_int_t status_num(struct itest_daemon *d, const char *key)
{
	json_t *res;
	json_int_t v;

	if (itest_call(d, "status", NULL, &res))
		return -1;
	v = json_integer_value(json_object_get(res, key));
	json_decref(res);
	return v;
}

static void churn(void)
{
	char n[16], line[64];
	struct itest_proc p[PROCS];
	const char *const args[] = { "churn", n, NULL };

	snprintf(n, sizeof(n), "%d", CYCLES);
	for (int i = 0; i < PROCS; i++)
		assert_int_equal(itest_proc_spawn(&p[i], -1, args), 0);
	for (int i = 0; i < PROCS; i++) {
		assert_int_equal(itest_proc_line(&p[i], line, sizeof(line), 120000), 0);
		/* "done N": every bind succeeded while the programs were attached */
		assert_string_equal(line, "done 2500");
		itest_proc_end(&p[i]);
	}
}

static void run_churn(const char *const *extra, bool tiny)
{
	const char *const largs[] = { "listen", "udp6", "0", NULL };
	struct itest_daemon d;
	struct itest_proc keep;
	json_int_t dropped, resyncs;
	char line[64];

	assert_int_equal(itest_daemon_start(&d, extra), 0);
	/* a socket of ours that lives through the churn: the comparison must
	 * find it with its owner */
	assert_int_equal(itest_proc_spawn(&keep, -1, largs), 0);
	assert_int_equal(itest_proc_line(&keep, line, sizeof(line), 5000), 0);
	churn();
	/* on a timeout, say where they differ */
	if (!ITEST_WAIT(agrees(&d, false), 5000 * itest_slow()) && !agrees(&d, true)) {
		print_message("dropped %lld, resyncs %lld\n", (long long)status_num(&d, "dropped"),
			      (long long)status_num(&d, "resyncs"));
		fail_msg("port map disagrees with ss");
	}
	dropped = status_num(&d, "dropped");
	resyncs = status_num(&d, "resyncs");
	print_message("%s ring: dropped %lld, resyncs %lld, map agrees with ss\n",
		      tiny ? "tiny" : "default", (long long)dropped, (long long)resyncs);
	if (tiny) {
		json_t *st;

		assert_true(dropped > 0);
		assert_true(resyncs > 0);
		/* after drops, polling is the primary source for owners, at the
		 * fast interval (1000 ms by default, 30000 otherwise) */
		assert_int_equal(itest_call(&d, "status", NULL, &st), 0);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "allocations"),
								    "health_poll_interval_ms")), 1000);
		json_decref(st);
	} else {
		/* nothing lost, or a resync restored agreement */
		assert_true(dropped == 0 || resyncs > 0);
	}
	itest_proc_end(&keep);
	itest_daemon_cleanup(&d);
}

static void test_churn_default_ring(void **state)
{
	(void) state;
	run_churn(NULL, false);
}

static void test_churn_tiny_ring(void **state)
{
	const char *const extra[] = { "--ringbuf-size", "4096", NULL };

	(void) state;
	run_churn(extra, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_churn_default_ring),
		cmocka_unit_test(test_churn_tiny_ring),
	};

	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
