// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation benchmark: durable allocate+release round trips per second over
 * the control socket (one connection, then four at once), and the median wall
 * time of one `portwatch allocate` against exec'ing /bin/true (and the CLI's
 * bare start-up, `portwatch --help`) in the same run.
 * Runs its own daemon in a network namespace of its own; ends with one line
 * "BENCH {json}".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "itest_lib.h"

#define PAIRS 2000
#define CONNS 4
#define MAX_CONNS 16
#define EXEC_RUNS 50

static const char config_json[] =
	"{ \"service_types\": {\n"
	"    \"bench\": { \"port_range\": [40000, 44999] }\n"
	"} }\n";

static struct itest_daemon dmn;
static struct itest_proc holder;

struct pairs {
	int n;		/* pairs to do */
	int done;
	int err;	/* first failure: > 0 protocol error code, < 0 -errno */
};

/* n allocate+release pairs on one connection of its own. */
static void *do_pairs(void *arg)
{
	struct pairs *p = arg;
	struct pw_conn *c;
	char msg[512];
	int r;

	r = pw_conn_open(&c, dmn.sock);
	if (r) {
		p->err = r;
		return NULL;
	}
	for (p->done = 0; p->done < p->n; p->done++) {
		json_t *res = NULL;
		json_int_t id;

		r = pw_conn_call(c, "allocate", json_pack("{s:s, s:i}", "service_type", "bench",
							  "pid", (int)holder.pid), &res, msg,
				 sizeof(msg));
		if (r)
			break;
		id = json_integer_value(json_object_get(res, "id"));
		json_decref(res);
		r = pw_conn_call(c, "release", json_pack("{s:I}", "id", id), &res, msg,
				 sizeof(msg));
		if (r)
			break;
		json_decref(res);
	}
	if (r) {
		p->err = r;
		fprintf(stderr, "bench_alloc: request failed after %d pairs: %s\n", p->done,
			r > 0 ? msg : strerror(-r));
	}
	pw_conn_close(c);
	return NULL;
}

/* Allocate+release pairs per second, conns connections sharing PAIRS; < 0 on failure. */
static double pairs_per_s(int conns)
{
	struct pairs p[MAX_CONNS];
	pthread_t th[MAX_CONNS];
	uint64_t t0, t1;
	int total = 0;

	t0 = itest_now_ns();
	for (int i = 0; i < conns; i++) {
		p[i] = (struct pairs){ .n = PAIRS / conns };
		if (pthread_create(&th[i], NULL, do_pairs, &p[i]))
			return -1;
	}
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	t1 = itest_now_ns();
	for (int i = 0; i < conns; i++) {
		if (p[i].err)
			return -1;
		total += p[i].done;
	}
	return (double)total / ((double)(t1 - t0) / 1e9);
}

/* Wall time of fork + exec + wait of argv, stdout to /dev/null; ns or 0. */
static uint64_t time_exec(const char *const *argv)
{
	uint64_t t0 = itest_now_ns();
	int status, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 0;
	return itest_now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *t)
{
	qsort(t, EXEC_RUNS, sizeof(t[0]), cmp_u64);
	return (double)(t[EXEC_RUNS / 2 - 1] + t[EXEC_RUNS / 2]) / 2 / 1e6;
}

/*
 * Median wall times in ms of EXEC_RUNS runs of each of n commands, taken in
 * turns so that a change of load on the machine hits them all alike.
 * false if a run failed.
 */
static bool median_exec_ms(const char *const *const *argvs, size_t n, double *ms)
{
	uint64_t t[4][EXEC_RUNS];

	for (int i = 0; i < EXEC_RUNS; i++) {
		for (size_t k = 0; k < n; k++) {
			t[k][i] = time_exec(argvs[k]);
			if (!t[k][i]) {
				fprintf(stderr, "bench_alloc: %s %s failed\n", argvs[k][0],
					argvs[k][1] ? argvs[k][1] : "");
				return false;
			}
		}
	}
	for (size_t k = 0; k < n; k++)
		ms[k] = median_ms(t[k]);
	return true;
}

/* Release everything the CLI runs allocated. */
static void release_all(void)
{
	json_t *l = NULL, *a;
	size_t i;

	if (itest_call(&dmn, "list", NULL, &l))
		return;
	json_array_foreach(l, i, a) {
		json_t *res = NULL;

		if (!itest_call(&dmn, "release", json_pack("{s:O}", "id", json_object_get(a, "id")),
				&res))
			json_decref(res);
	}
	json_decref(l);
}

int main(void)
{
	const char *const hold[] = { "hold", NULL };
	char dir[64] = "/tmp/pw-bench-alloc-XXXXXX", cfg[128], cli[256], pid[16], line[32];
	char rm[96];
	const char *extra[] = { "--config", cfg, NULL };
	const char *true_argv[] = { "/bin/true", NULL };
	const char *cli_argv[] = { cli, "allocate", "bench", "--pid", pid, "--quiet", NULL };
	const char *help_argv[] = { cli, "--help", NULL };
	const char *const *const timed[] = { true_argv, help_argv, cli_argv };
	double ms[3];
	struct pairs warm = { .n = 50 };
	double one, four, sixteen;
	json_t *out;
	char *js;
	FILE *f;
	int err, ret = 1;

	itest_require_root();
	/* our own namespace: nobody else's sockets in the range, none of ours outside */
	err = itest_unshare_net();
	if (err) {
		fprintf(stderr, "bench_alloc: unshare(CLONE_NEWNET): %s\n", strerror(-err));
		return 1;
	}
	if (!mkdtemp(dir)) {
		perror("bench_alloc: mkdtemp");
		return 1;
	}
	snprintf(cfg, sizeof(cfg), "%s/portwatch.json", dir);
	snprintf(cli, sizeof(cli), "%s/portwatch", itest_build());
	f = fopen(cfg, "w");
	if (!f || fputs(config_json, f) < 0 || fclose(f)) {
		perror("bench_alloc: config");
		goto cleanup_dir;
	}
	if (itest_proc_spawn(&holder, -1, hold) ||
	    itest_proc_line(&holder, line, sizeof(line), 5000)) {
		fprintf(stderr, "bench_alloc: cannot start %s/tests/helper\n", itest_build());
		goto cleanup;
	}
	snprintf(pid, sizeof(pid), "%d", holder.pid);
	err = itest_daemon_start(&dmn, extra);
	if (err) {
		fprintf(stderr, "bench_alloc: portwatchd did not start: %s\n", strerror(-err));
		goto cleanup;
	}

	/* warm up the store and the page cache */
	do_pairs(&warm);
	if (warm.err)
		goto cleanup;
	one = pairs_per_s(1);
	four = pairs_per_s(CONNS);
	sixteen = pairs_per_s(MAX_CONNS);
	if (one < 0 || four < 0 || sixteen < 0)
		goto cleanup;
	printf("alloc: %d durable allocate+release round trips, 1 connection: %.0f allocs/s\n",
	       PAIRS, one);
	printf("alloc: %d durable allocate+release round trips, %d connections: %.0f allocs/s\n",
	       PAIRS, CONNS, four);
	printf("alloc: %d durable allocate+release round trips, %d connections: %.0f allocs/s "
	       "(group commit: x%.1f of 1 connection)\n", PAIRS, MAX_CONNS, sixteen, sixteen / one);

	setenv("PORTWATCH_SOCKET", dmn.sock, 1);
	if (!median_exec_ms(timed, 3, ms))
		goto cleanup;
	release_all();
	printf("alloc: `portwatch allocate` median %.3f ms over %d runs, /bin/true %.3f ms: "
	       "x%.1f (`portwatch --help`, no request: %.3f ms)\n", ms[2], EXEC_RUNS, ms[0],
	       ms[2] / ms[0], ms[1]);

	out = json_pack("{s:s, s:i, s:f, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:f}", "name", "alloc",
			"pairs", PAIRS, "allocs_per_s_1conn", one, "conns", CONNS,
			"allocs_per_s_4conn", four, "allocs_per_s_16conn", sixteen, "cli_runs", EXEC_RUNS,
			"cli_allocate_median_ms", ms[2], "true_median_ms", ms[0],
			"cli_true_ratio", ms[2] / ms[0], "cli_help_median_ms", ms[1]);
	js = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	if (js) {
		printf("BENCH %s\n", js);
		ret = 0;
	}
	free(js);
	json_decref(out);
cleanup:
	itest_daemon_cleanup(&dmn);
	itest_proc_end(&holder);
cleanup_dir:
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	(void) !system(rm);
	return ret;
}
