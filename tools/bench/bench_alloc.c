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

#define PAIRS (getenv("BENCH_PAIRS") ? atoi(getenv("BENCH_PAIRS")) : 2000)
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

static int cmp_u64(const void *a, const void *b);

#define WINDOW 64	/* pipelined requests in flight per connection */

/* Read one reply line; its result's "id" into *id (when id). 0 or -1. */
static int read_reply(struct pw_conn *c, json_int_t *id)
{
	const char *line;
	json_t *root;
	int ok;

	if (pw_conn_read_line(c, &line, 30000))
		return -1;
	root = json_loads(line, 0, NULL);
	ok = root && json_is_true(json_object_get(root, "ok"));
	if (ok && id)
		*id = json_integer_value(json_object_get(json_object_get(root, "result"), "id"));
	json_decref(root);
	return ok ? 0 : -1;
}

/* n pairs pipelined on one connection: WINDOW allocates sent before their
 * replies are read, then WINDOW releases the same way. */
static void *do_pipelined(void *arg)
{
	struct pairs *p = arg;
	json_int_t ids[WINDOW];
	struct pw_conn *c;

	if (pw_conn_open(&c, dmn.sock)) {
		p->err = -1;
		return NULL;
	}
	for (p->done = 0; p->done < p->n && !p->err;) {
		int w = p->n - p->done < WINDOW ? p->n - p->done : WINDOW;

		for (int i = 0; i < w && !p->err; i++)
			if (pw_conn_send(c, "allocate", json_pack("{s:s, s:i}", "service_type",
								  "bench", "pid", (int)holder.pid)))
				p->err = -1;
		for (int i = 0; i < w && !p->err; i++)
			if (read_reply(c, &ids[i]))
				p->err = -1;
		for (int i = 0; i < w && !p->err; i++)
			if (pw_conn_send(c, "release", json_pack("{s:I}", "id", ids[i])))
				p->err = -1;
		for (int i = 0; i < w && !p->err; i++)
			if (read_reply(c, NULL))
				p->err = -1;
		if (!p->err)
			p->done += w;
	}
	if (p->err)
		fprintf(stderr, "bench_alloc: pipelined request failed after %d pairs\n", p->done);
	pw_conn_close(c);
	return NULL;
}

/* fdatasync of a 4 KiB write in dir: median and p99 ms over n. */
static void fsync_ms(const char *dir, int n, double *med, double *p99)
{
	char path[200], buf[4096] = { 1 };
	uint64_t t[256];
	int fd;

	snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	*med = *p99 = -1;
	if (fd < 0)
		return;
	for (int i = 0; i < n && i < 256; i++) {
		uint64_t t0 = itest_now_ns();

		if (pwrite(fd, buf, sizeof(buf), (off_t)(i % 16) * 4096) < 0 || fdatasync(fd))
			break;
		t[i] = itest_now_ns() - t0;
	}
	close(fd);
	unlink(path);
	qsort(t, (size_t)n, sizeof(uint64_t), cmp_u64);
	*med = (double)t[n / 2] / 1e6;
	*p99 = (double)t[n * 99 / 100] / 1e6;
}

/* Allocate+release pairs per second, conns connections sharing PAIRS; < 0 on failure. */
static double pairs_per_s_fn(int conns, void *(*fn)(void *))
{
	struct pairs p[MAX_CONNS];
	pthread_t th[MAX_CONNS];
	uint64_t t0, t1;
	int total = 0;

	t0 = itest_now_ns();
	for (int i = 0; i < conns; i++) {
		p[i] = (struct pairs){ .n = PAIRS / conns };
		if (pthread_create(&th[i], NULL, fn, &p[i]))
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

static double pairs_per_s(int conns)
{
	return pairs_per_s_fn(conns, do_pairs);
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
	double one, four, sixteen, pipe1, pipe16, fs_med, fs_p99;
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
	if (getenv("BENCH_ONLY") && !strncmp(getenv("BENCH_ONLY"), "pipelined", 9)) {
		/* for profiling the daemon under pipelined load only: "pipelined"
		 * on 1 connection, "pipelined16" on 16 */
		int conns = !strcmp(getenv("BENCH_ONLY"), "pipelined16") ? MAX_CONNS : 1;

		pipe1 = pairs_per_s_fn(conns, do_pipelined);
		printf("alloc: pipelined (%d in flight), %d connection%s: %.0f allocs/s\n", WINDOW,
		       conns, conns > 1 ? "s" : "", pipe1);
		ret = pipe1 < 0;
		goto cleanup;
	}
	if (getenv("BENCH_ONLY") && !strcmp(getenv("BENCH_ONLY"), "unpipelined")) {
		one = pairs_per_s(1);
		printf("alloc: %d durable allocate+release round trips, 1 connection: %.0f "
		       "allocs/s\n", PAIRS, one);
		ret = one < 0;
		goto cleanup;
	}
	one = pairs_per_s(1);
	four = pairs_per_s(CONNS);
	sixteen = pairs_per_s(MAX_CONNS);
	pipe1 = pairs_per_s_fn(1, do_pipelined);
	pipe16 = pairs_per_s_fn(MAX_CONNS, do_pipelined);
	fsync_ms(dmn.state, 100, &fs_med, &fs_p99);
	if (one < 0 || four < 0 || sixteen < 0 || pipe1 < 0 || pipe16 < 0)
		goto cleanup;
	printf("alloc: pipelined (%d in flight), 1 connection: %.0f allocs/s; %d connections: "
	       "%.0f allocs/s (aim >= 10,000 each)\n", WINDOW, pipe1, MAX_CONNS, pipe16);
	printf("alloc: fdatasync of 4 KiB in the state dir: median %.3f ms, p99 %.3f ms "
	       "(1 connection unpipelined: %.3f ms per allocate+release)\n", fs_med, fs_p99,
	       1e3 / one);
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

	out = json_pack("{s:s, s:i, s:f, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
			"name", "alloc",
			"pairs", PAIRS, "allocs_per_s_1conn", one, "conns", CONNS,
			"allocs_per_s_4conn", four, "allocs_per_s_16conn", sixteen, "cli_runs", EXEC_RUNS,
			"cli_allocate_median_ms", ms[2], "true_median_ms", ms[0],
			"cli_true_ratio", ms[2] / ms[0], "cli_help_median_ms", ms[1],
			"allocs_per_s_pipelined_1conn", pipe1, "allocs_per_s_pipelined_16conn", pipe16,
			"fsync_median_ms", fs_med, "fsync_p99_ms", fs_p99);
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
