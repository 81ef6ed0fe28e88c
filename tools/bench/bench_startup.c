// SPDX-License-Identifier: GPL-2.0
/*
 * Start-up time to the first answer on the control socket with 10,000
 * allocations in the state, recovery included, against the same daemon
 * starting on an empty state in the same run. The allocations belong to a
 * live process of ours, so recovery checks every one and keeps them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "itest_lib.h"
#include "proc.h"
#include "store.h"

#define ALLOCS 10000
#define RUNS 5

static int fill_state(const char *dir, pid_t owner)
{
	struct pw_store *s;
	struct pw_proc p;
	int r;

	if (pw_proc_read(owner, &p) || pw_store_open(dir, &s, NULL))
		return -1;
	r = pw_store_begin(s);
	for (int i = 0; i < ALLOCS && !r; i++) {
		struct pw_alloc a = { .pid = owner, .start_time = p.start_time, .uid = 0,
				      .state = PW_ALLOC_RESERVED, .port = (uint16_t)(20000 + i) };

		snprintf(a.service_type, sizeof(a.service_type), "bulk");
		snprintf(a.comm, sizeof(a.comm), "%s", p.comm);
		r = pw_store_insert(s, &a);
	}
	if (!r)
		r = pw_store_commit(s);
	pw_store_close(s);
	return r;
}

/* Median ms from exec to the first answer, a status (daemon stopped between
 * runs): a socket that accepts while the loop is still busy is not ready. */
static double startup_ms(struct itest_daemon *d, const char *const *extra, size_t *n_allocs)
{
	double t[RUNS];

	for (int i = 0; i < RUNS; i++) {
		uint64_t t0 = itest_now_ns();
		json_t *res;

		if (itest_daemon_restart(d, extra) || itest_call(d, "status", NULL, &res))
			return -1;
		t[i] = (double)(itest_now_ns() - t0) / 1e6;
		if (n_allocs)
			*n_allocs = (size_t)json_integer_value(json_object_get(
				json_object_get(res, "allocations"), "total"));
		json_decref(res);
		itest_daemon_stop(d, SIGTERM);
	}
	qsort(t, RUNS, sizeof(double), itest_cmp_double);
	return t[RUNS / 2];
}

int main(void)
{
	const char *const hold[] = { "hold", NULL };
	char config[64], line[32];
	const char *extra[] = { "--config", config, NULL };
	struct itest_daemon empty, full;
	struct itest_proc owner;
	double t_empty, t_full;
	size_t n = 0;
	FILE *f;
	int fd;

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (itest_unshare_net())
		return 1;
	snprintf(config, sizeof(config), "/tmp/pw-bench-start-XXXXXX");
	fd = mkstemp(config);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return 1;
	fprintf(f, "{\"service_types\": {\"bulk\": {\"port_range\": [20000, 39999]}}}\n");
	fclose(f);
	if (itest_proc_spawn(&owner, -1, hold) || itest_proc_line(&owner, line, sizeof(line), 5000))
		return 1;

	/* directories first (start and stop once), then fill one */
	if (itest_daemon_start(&empty, extra) || itest_daemon_start(&full, extra))
		return 1;
	itest_daemon_stop(&empty, SIGTERM);
	itest_daemon_stop(&full, SIGTERM);
	if (fill_state(full.state, owner.pid)) {
		fprintf(stderr, "bench_startup: cannot fill the state\n");
		return 1;
	}
	t_empty = startup_ms(&empty, extra, NULL);
	t_full = startup_ms(&full, extra, &n);
	printf("startup: to the first answer, median of %d: empty state %.1f ms, %zu allocations "
	       "%.1f ms (aim < 100 ms); full/empty = %.2f\n", RUNS, t_empty, n, t_full,
	       t_full / t_empty);
	printf("BENCH {\"name\":\"startup\",\"allocations\":%zu,\"empty_ms\":%.1f,\"full_ms\":%.1f,"
	       "\"ratio\":%.2f}\n", n, t_empty, t_full, t_full / t_empty);
	itest_daemon_cleanup(&empty);
	itest_daemon_cleanup(&full);
	itest_proc_end(&owner);
	unlink(config);
	return n == ALLOCS ? 0 : 1;
}
