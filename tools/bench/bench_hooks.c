// SPDX-License-Identifier: GPL-2.0
/*
 * What the cgroup hooks cost a bind+close loop, measured finely enough to
 * see a few percent on a shared machine.
 *
 * The daemon's BPF programs, loaded and attached by the daemon's own loader
 * (pw_bpf_new), go on a cgroup of their own ("on") instead of the root, and
 * a consumer thread drains their ring buffer. A child process moves between
 * that cgroup and a sibling with nothing attached ("off") every CHUNK
 * bind+close cycles of a UDP socket on 127.0.0.1:0, in alternating order,
 * and counts its CPU time per chunk. The host's load changes
 * over tens of milliseconds and by 30% or more (bench_events' overhead
 * rounds, a daemon restart apart, vary that much): chunks of ~10 ms side by
 * side see the same host.
 *
 * Figures: the hooks' CPU per cycle, the median of the pairs' differences
 * (the host's interference adds time to either side, in bursts: a median of
 * differences stands still where totals and ratios move by 10%), and the
 * ratio it makes with the median detached cycle, which is the aim's ratio;
 * beside it the ratio of the totals and the median of the pairs' ratios
 * (BENCH_VERBOSE=1: each side's deciles too).
 * Every cycle of an "on" chunk must come back as a BIND and a CLOSE event,
 * and none of an "off" chunk.
 *
 * Not the daemon itself (bench_events' overhead rounds are): the consumer
 * here only counts. What the daemon does with the events happens on the
 * other CPU, and changed nothing measurable here when it drained every 1 ms
 * or every 20 ms.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpfwatch.h"
#include "itest_lib.h"

#define CHUNK 2500	/* cycles per chunk: ~10 ms */
#define PAIRS 400

struct consumer {
	struct pw_bpf *bpf;
	volatile int stop;
	long binds, closes;
};

static int on_event(void *ctx, const struct pw_event *ev)
{
	struct consumer *c = ctx;

	c->binds += ev->kind == PW_EV_BIND;
	c->closes += ev->kind == PW_EV_CLOSE;
	return 0;
}

/* Drain every millisecond at most: silent submissions (the wakeup gap)
 * are read by the next poll timeout, as the daemon's lingering does. */
static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct pollfd p = { .fd = pw_bpf_fd(c->bpf), .events = POLLIN };

	while (!c->stop) {
		(void) poll(&p, 1, 1);
		(void) pw_bpf_consume(c->bpf);
	}
	(void) pw_bpf_consume(c->bpf);
	return NULL;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU ns per bind+close cycle over n cycles, or -1. */
static double chunk(long n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	double t0 = thread_cpu_ns();

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0), r;

		if (fd < 0)
			return -1;
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (r)
			return -1;
	}
	return (thread_cpu_ns() - t0) / (double)n;
}

/* Move this process into the cgroup at dir. */
static int enter(const char *dir)
{
	char path[4200], pid[24];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return -1;
	r = fputs(pid, f) < 0;
	return (fclose(f) || r) ? -1 : 0;
}

/* The measuring child: PAIRS pairs of chunks, CPU ns per cycle of each side
 * into ns_on and ns_off (shared with the parent). It alone moves between
 * the cgroups, so the parent stays where it was. */
static int measure(const char *on, const char *off, double *ns_on, double *ns_off)
{
	/* warm-up, outside the figures */
	if (enter(off) || chunk(CHUNK) < 0)
		return 1;
	for (int i = 0; i < PAIRS; i++) {
		/* alternate which side goes first */
		const char *first = i % 2 ? on : off, *second = i % 2 ? off : on;
		double a, b;

		if (enter(first) || (a = chunk(CHUNK)) < 0 || enter(second) || (b = chunk(CHUNK)) < 0)
			return 1;
		ns_on[i] = i % 2 ? a : b;
		ns_off[i] = i % 2 ? b : a;
	}
	return 0;
}

/*
 * Remove the cgroups a run killed before its clean-up left behind (its pid
 * in their names is gone; a cgroup with a process in it does not go).
 */
static void sweep_stale(const char *mnt)
{
	char path[4200];
	struct dirent *de;
	DIR *d = opendir(mnt);
	int pid, end;

	if (!d)
		return;
	while ((de = readdir(d))) {
		end = 0;
		if (sscanf(de->d_name, "pw-bench-hooks-%d-o%*[nf]%n", &pid, &end) != 1 ||
		    !end || de->d_name[end] || pid <= 0 || !kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", mnt, de->d_name);
		if (!rmdir(path))
			fprintf(stderr, "hooks: removed %s, left by a run that was killed\n", path);
	}
	closedir(d);
}

/*
 * The aim's ratio, 1 + median difference / median detached cycle, over the
 * pairs picked by idx (n of them); scratch holds 2n doubles.
 */
static double ratio_of(const double *diff, const double *off, const int *idx, int n,
		       double *scratch)
{
	double *d = scratch, *o = scratch + n;

	for (int i = 0; i < n; i++) {
		d[i] = diff[idx[i]];
		o[i] = off[idx[i]];
	}
	qsort(d, (size_t)n, sizeof(double), itest_cmp_double);
	qsort(o, (size_t)n, sizeof(double), itest_cmp_double);
	return 1 + d[n / 2] / o[n / 2];
}

#define RESAMPLES 2000

/*
 * How far the run's ratio can be trusted: a percentile bootstrap over the
 * pairs (RESAMPLES resamplings with replacement, a fixed seed so that a run
 * always reports the same interval for the same pairs), 95% interval into
 * lo and hi. The pairs differ by more than the hooks cost, so one run's
 * ratio moves by a few hundredths; this says by how much.
 */
static void ratio_interval(const double *diff, const double *off, double *lo, double *hi)
{
	static double est[RESAMPLES], scratch[2 * PAIRS];
	static int idx[PAIRS];
	unsigned long long x = 0x9e3779b97f4a7c15ULL;

	for (int b = 0; b < RESAMPLES; b++) {
		for (int i = 0; i < PAIRS; i++) {
			/* xorshift64 */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			idx[i] = (int)(x % PAIRS);
		}
		est[b] = ratio_of(diff, off, idx, PAIRS, scratch);
	}
	qsort(est, RESAMPLES, sizeof(double), itest_cmp_double);
	*lo = est[RESAMPLES * 25 / 1000];
	*hi = est[RESAMPLES * 975 / 1000 - 1];
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

int main(void)
{
	char *mnt = NULL, on[4200], off[4200];
	static double ratio[PAIRS], diff[PAIRS];
	struct consumer c = { 0 };
	double *ns_on, *ns_off, sum_on = 0, sum_off = 0, hook_ns, cpu_ratio, lo, hi;
	pthread_t th;
	sigset_t stops;
	pid_t child;
	int err, st, status = 1;

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = pw_bpf_find_cgroup2(&mnt);
	if (err) {
		fprintf(stderr, "no cgroup v2 mount: %s\n", strerror(-err));
		return 1;
	}
	sweep_stale(mnt);
	snprintf(on, sizeof(on), "%s/pw-bench-hooks-%d-on", mnt, (int)getpid());
	snprintf(off, sizeof(off), "%s/pw-bench-hooks-%d-off", mnt, (int)getpid());
	ns_on = mmap(NULL, 2 * PAIRS * sizeof(double), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ns_on == MAP_FAILED)
		goto out_mnt;
	ns_off = ns_on + PAIRS;
	if (mkdir(on, 0755) || mkdir(off, 0755)) {
		fprintf(stderr, "cannot make cgroups under %s: %s\n", mnt, strerror(errno));
		goto out_dirs;
	}
	err = pw_bpf_new(&c.bpf, &(struct pw_bpf_opts){ .cgroup_path = on,
						       .wakeup_gap_us = (unsigned)-1 },
			 on_event, &c);
	if (err) {
		fprintf(stderr, "pw_bpf_new: %s\n", strerror(-err));
		goto out_dirs;
	}
	/* the consumer thread never takes the stop signals: they must
	 * interrupt the waitpid() below */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	err = pthread_create(&th, NULL, consume, &c);
	pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
	if (err) {
		pw_bpf_free(c.bpf);
		goto out_dirs;
	}
	child = fork();
	if (child == 0)
		_exit(measure(on, off, ns_on, ns_off));
	if (child > 0) {
		/* interrupted: stop the child, so that its cgroups can go */
		struct sigaction sa = { .sa_handler = on_stop };
		pid_t w;

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		while ((w = waitpid(child, &st, 0)) < 0 && errno == EINTR)
			if (stop_signal)
				(void) kill(child, SIGKILL);
		if (w == child && WIFEXITED(st) && !WEXITSTATUS(st) && !stop_signal)
			status = 0;
		if (stop_signal)
			fprintf(stderr, "hooks: %s, stopped\n", strsignal(stop_signal));
	}
	c.stop = 1;
	pthread_join(th, NULL);
	if (!status) {
		long want = (long)PAIRS * CHUNK;
		unsigned long long dropped = pw_bpf_dropped(c.bpf);

		for (int i = 0; i < PAIRS; i++) {
			ratio[i] = ns_on[i] / ns_off[i];
			diff[i] = ns_on[i] - ns_off[i];
			sum_on += ns_on[i];
			sum_off += ns_off[i];
		}
		ratio_interval(diff, ns_off, &lo, &hi);
		qsort(ratio, PAIRS, sizeof(double), itest_cmp_double);
		qsort(diff, PAIRS, sizeof(double), itest_cmp_double);
		qsort(ns_on, PAIRS, sizeof(double), itest_cmp_double);
		qsort(ns_off, PAIRS, sizeof(double), itest_cmp_double);
		printf("hooks: %d pairs of %d bind+close cycles, attached (own cgroup) and detached, "
		       "alternating\n", PAIRS, CHUNK);
		hook_ns = diff[PAIRS / 2];
		cpu_ratio = 1 + hook_ns / ns_off[PAIRS / 2];
		printf("hooks: cpu per cycle attached %.0f ns, detached %.0f ns (medians); the hooks "
		       "%.0f ns per cycle (median of the pairs' differences, quartiles %.0f-%.0f)\n",
		       ns_on[PAIRS / 2], ns_off[PAIRS / 2], hook_ns, diff[PAIRS / 4],
		       diff[3 * PAIRS / 4]);
		printf("hooks: cpu ratio attached/detached %.3f (aim <= 1.05); totals %.3f, median of "
		       "the pairs' ratios %.3f\n", cpu_ratio, sum_on / sum_off, ratio[PAIRS / 2]);
		printf("hooks: 95%% interval of that ratio %.3f-%.3f (bootstrap over the pairs, %d "
		       "resamplings)\n", lo, hi, RESAMPLES);
		if (getenv("BENCH_VERBOSE"))
			for (int d = 0; d < 10; d++)
				printf("hooks: decile %d: attached %.0f ns, detached %.0f ns\n", d,
				       ns_on[d * PAIRS / 10], ns_off[d * PAIRS / 10]);
		printf("hooks: events %ld binds, %ld closes for %ld attached cycles, dropped %llu\n",
		       c.binds, c.closes, want, dropped);
		/* every attached cycle reported, and no detached one */
		if (c.binds != want || c.closes != want || dropped) {
			fprintf(stderr, "hooks: events do not match the attached cycles\n");
			status = 1;
		}
		printf("BENCH {\"name\":\"hooks\",\"cpu_ratio\":%.3f,\"hook_ns\":%.0f,"
		       "\"cpu_ratio_totals\":%.3f,\"cpu_ratio_pairs\":%.3f,\"attached_ns\":%.0f,"
		       "\"detached_ns\":%.0f,\"cpu_ratio_lo\":%.3f,\"cpu_ratio_hi\":%.3f}\n",
		       cpu_ratio, hook_ns, sum_on / sum_off, ratio[PAIRS / 2], ns_on[PAIRS / 2],
		       ns_off[PAIRS / 2], lo, hi);
	}
	pw_bpf_free(c.bpf);
out_dirs:
	(void) rmdir(on);
	(void) rmdir(off);
	munmap(ns_on, 2 * PAIRS * sizeof(double));
out_mnt:
	free(mnt);
	return status;
}
