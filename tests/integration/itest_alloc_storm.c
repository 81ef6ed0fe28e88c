// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation storms: 16 clients, each on its own connection, make 2,000
 * allocations between them. No port is handed out twice and every one is
 * listed. Then the daemon is SIGKILLed halfway through such a storm and
 * restarted on the same state, three times: every allocation a client was
 * told about survives, none is duplicated, ports stay unique.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "itest_lib.h"
#include "proto.h"

#define CLIENTS 16
#define STORM 2000
#define KILL_ROUNDS 3
#define RANGE_LO 40000
#define RANGE_HI 44999	/* 5,000 ports: room for the kill rounds' survivors */
#define REPLY_MS 30000

static const char config_json[] =
	"{ \"service_types\": {\n"
	"    \"storm\": { \"port_range\": [40000, 44999] }\n"
	"} }\n";

static char tmpdir[64], cfg_path[128];
static const char *extra[] = { "--config", cfg_path, NULL };
static struct itest_daemon dmn;
static struct itest_proc holder;

/* What a client was told: port 0 = no acknowledgement. */
struct ack {
	int port;
	json_int_t id;
};

struct storm {
	int total;		/* allocations to ask for */
	atomic_int claimed;	/* requests handed to clients */
	atomic_int acked;
	atomic_int refused;	/* error responses: none expected */
	atomic_int cut;		/* clients that lost the daemon */
	atomic_int finished;	/* clients done */
	struct ack *acks;	/* [total], by claim order */
};

static void *client(void *arg)
{
	struct storm *s = arg;
	struct pw_conn *c;
	char msg[512];
	int slot;

	if (pw_conn_open(&c, dmn.sock)) {
		atomic_fetch_add(&s->cut, 1);
		atomic_fetch_add(&s->finished, 1);
		return NULL;
	}
	while ((slot = atomic_fetch_add(&s->claimed, 1)) < s->total) {
		json_t *res = NULL;
		const char *line;
		int r;

		r = pw_conn_send(c, "allocate", json_pack("{s:s, s:i}", "service_type", "storm",
							  "pid", (int)holder.pid));
		if (!r)
			r = pw_conn_read_line(c, &line, REPLY_MS * (int)itest_slow());
		if (r) {
			atomic_fetch_add(&s->cut, 1);
			break;
		}
		r = pw_proto_parse_response(line, &res, msg, sizeof(msg));
		if (r) {
			if (atomic_fetch_add(&s->refused, 1) < 5)
				fprintf(stderr, "allocate refused (%d): %s\n", r, msg);
			continue;
		}
		s->acks[slot].port = (int)json_integer_value(json_object_get(res, "port"));
		s->acks[slot].id = json_integer_value(json_object_get(res, "id"));
		atomic_fetch_add(&s->acked, 1);
		json_decref(res);
	}
	pw_conn_close(c);
	atomic_fetch_add(&s->finished, 1);
	return NULL;
}

/* Run a storm; with kill_at > 0, SIGKILL the daemon once that many were
 * acknowledged. Returns the acknowledgements (calloc'd, s->total long). */
static struct ack *run_storm(struct storm *s, int total, int kill_at)
{
	pthread_t th[CLIENTS];
	uint64_t t0 = itest_now_ns();
	bool reached = true;

	memset(s, 0, sizeof(*s));
	s->total = total;
	s->acks = calloc((size_t)total, sizeof(*s->acks));
	assert_non_null(s->acks);
	for (int i = 0; i < CLIENTS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, client, s), 0);
	if (kill_at) {
		reached = ITEST_WAIT(atomic_load(&s->acked) >= kill_at ||
				     atomic_load(&s->finished) == CLIENTS, 60000 * itest_slow());
		reached = reached && atomic_load(&s->acked) >= kill_at;
		itest_daemon_stop(&dmn, SIGKILL);
	}
	/* no assertion may leave while the clients use s */
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	print_message("storm: %d asked, %d acknowledged, %d refused, %d clients cut off, "
		      "%.0f ms\n", total, atomic_load(&s->acked), atomic_load(&s->refused),
		      atomic_load(&s->cut), (double)(itest_now_ns() - t0) / 1e6);
	if (!reached)
		fail_msg("the daemon was to be killed after %d acknowledgements, saw %d", kill_at,
			 atomic_load(&s->acked));
	return s->acks;
}

static json_t *list_allocs(void)
{
	json_t *res = NULL;

	if (itest_call(&dmn, "list", json_pack("{s:s}", "service_type", "storm"), &res))
		return NULL;
	return res;
}

/*
 * The listed allocations: unique ids and ports, all in the range and owned
 * by the holder. Fills by_port[port - RANGE_LO] with each one's id.
 */
static int cmp_id(const void *a, const void *b)
{
	json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;

	return x < y ? -1 : x > y;
}

static size_t check_list(json_t *l, json_int_t *by_port)
{
	static json_int_t ids[RANGE_HI - RANGE_LO + 1];
	size_t i;
	json_t *a;

	memset(by_port, 0, sizeof(*by_port) * (RANGE_HI - RANGE_LO + 1));
	assert_true(json_is_array(l));
	assert_true(json_array_size(l) <= RANGE_HI - RANGE_LO + 1);
	json_array_foreach(l, i, a) {
		json_int_t port = json_integer_value(json_object_get(a, "port"));
		json_int_t id = json_integer_value(json_object_get(a, "id"));

		assert_true(port >= RANGE_LO && port <= RANGE_HI);
		assert_true(id > 0);
		if (by_port[port - RANGE_LO])
			fail_msg("port %lld listed twice", (long long)port);
		by_port[port - RANGE_LO] = id;
		assert_int_equal(json_integer_value(json_object_get(a, "pid")), holder.pid);
		ids[i] = id;
	}
	qsort(ids, json_array_size(l), sizeof(*ids), cmp_id);
	for (i = 1; i < json_array_size(l); i++)
		if (ids[i] == ids[i - 1])
			fail_msg("id %lld listed twice", (long long)ids[i]);
	return json_array_size(l);
}

/* Every acknowledged allocation is listed, with its id; none acked twice. */
static void check_acks(const struct ack *acks, size_t n, const json_int_t *by_port)
{
	static bool seen[RANGE_HI - RANGE_LO + 1];

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		int p = acks[i].port;

		if (!p)
			continue;
		assert_true(p >= RANGE_LO && p <= RANGE_HI);
		if (seen[p - RANGE_LO])
			fail_msg("port %d handed out twice", p);
		seen[p - RANGE_LO] = true;
		if (by_port[p - RANGE_LO] != acks[i].id)
			fail_msg("acknowledged allocation id %lld port %d: %s",
				 (long long)acks[i].id, p,
				 by_port[p - RANGE_LO] ? "listed with another id" : "not listed");
	}
}

static int group_setup(void **state)
{
	const char *const args[] = { "hold", NULL };
	char line[32];
	FILE *f;
	int err;

	(void) state;
	itest_require_root();
	/* a namespace of our own: no one else's socket lands in the range */
	err = itest_unshare_net();
	if (err) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(-err));
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pw-itest-storm-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/portwatch.json", tmpdir);
	f = fopen(cfg_path, "w");
	if (!f)
		return -1;
	fputs(config_json, f);
	if (fclose(f))
		return -1;
	if (itest_proc_spawn(&holder, -1, args) ||
	    itest_proc_line(&holder, line, sizeof(line), 5000 * (int)itest_slow()))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void) state;
	itest_proc_end(&holder);
	if (tmpdir[0] && !getenv("ITEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		(void) !system(cmd);
	}
	return 0;
}

static int daemon_setup(void **state)
{
	(void) state;
	return itest_daemon_start(&dmn, extra);
}

static int daemon_teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&dmn);
	return 0;
}

static void test_storm_unique_and_listed(void **state)
{
	static json_int_t by_port[RANGE_HI - RANGE_LO + 1];
	struct storm s;
	struct ack *acks;
	json_t *l;

	(void) state;
	acks = run_storm(&s, STORM, 0);
	assert_int_equal(atomic_load(&s.refused), 0);
	assert_int_equal(atomic_load(&s.cut), 0);
	assert_int_equal(atomic_load(&s.acked), STORM);
	l = list_allocs();
	assert_non_null(l);
	assert_int_equal(check_list(l, by_port), STORM);
	check_acks(acks, STORM, by_port);
	json_decref(l);
	free(acks);
}

static void test_storm_sigkill_restart(void **state)
{
	static json_int_t by_port[RANGE_HI - RANGE_LO + 1];
	struct ack *all = NULL;
	size_t n_all = 0, acked_all = 0, listed;

	(void) state;
	for (int round = 1; round <= KILL_ROUNDS; round++) {
		struct storm s;
		struct ack *acks, *na;
		json_t *l;

		acks = run_storm(&s, STORM, STORM / 2);
		assert_int_equal(atomic_load(&s.refused), 0);
		/* the kill came mid-storm: someone was cut off */
		assert_true(atomic_load(&s.acked) < STORM);
		na = realloc(all, (n_all + STORM) * sizeof(*all));
		assert_non_null(na);
		all = na;
		memcpy(all + n_all, acks, STORM * sizeof(*all));
		n_all += STORM;
		acked_all += (size_t)atomic_load(&s.acked);
		free(acks);

		assert_int_equal(itest_daemon_restart(&dmn, extra), 0);
		l = list_allocs();
		assert_non_null(l);
		listed = check_list(l, by_port);
		check_acks(all, n_all, by_port);
		/* beyond the acknowledged: at most the requests in flight at the kill */
		print_message("round %d: %zu acknowledged so far, %zu listed after restart\n",
			      round, acked_all, listed);
		assert_true(listed >= acked_all);
		assert_true(listed <= acked_all + (size_t)round * CLIENTS);
		json_decref(l);
	}
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_storm_unique_and_listed, daemon_setup,
						daemon_teardown),
		cmocka_unit_test_setup_teardown(test_storm_sigkill_restart, daemon_setup,
						daemon_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
