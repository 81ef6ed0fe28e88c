// SPDX-License-Identifier: GPL-2.0
/*
 * What each step of the hooks' hot path costs on its own, in ns, from the
 * kernel's BPF_PROG_TEST_RUN (tools/bench/bench_steps.bpf.c): the bind's and
 * the release's ring-buffer records, the precise and the coarse clock, the
 * pid memo's per-CPU lookup.
 *
 * Each program runs REPEAT times in the kernel per round, ROUNDS rounds; a
 * step's cost is its fastest round's mean minus the empty program's fastest
 * (the test-run loop's own cost). The ring is drained between rounds, by
 * this thread: nobody reads it while a round writes.
 *
 * Then the bind's record again, with a consumer thread on the other CPU
 * reading the ring as it fills, in two ways: every millisecond (the daemon
 * drains batches on a timer, see the wakeup gap) and without pause (as a
 * consumer woken for every event would). The difference is what handing
 * records from one CPU to another costs the producer: its cache lines move.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "itest_lib.h"
#include "bench_steps.skel.h"

#define REPEAT 50000
#define ROUNDS 9
#define RING_BYTES (16u << 20)	/* REPEAT bind records fit: no round fills it */

enum consumer_mode { C_NONE, C_EVERY_MS, C_SPIN };

struct consumer {
	struct ring_buffer *rb;
	volatile int stop;
	volatile enum consumer_mode mode;
	long records;
};

static int count(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;

	(void) data;
	(void) size;
	c->records++;
	return 0;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void) sched_setaffinity(0, sizeof(set), &set);
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct timespec ms = { 0, 1000000 };

	pin(1);
	while (!c->stop) {
		if (c->mode == C_SPIN) {
			(void) ring_buffer__consume(c->rb);
			continue;
		}
		nanosleep(&ms, NULL);
		if (c->mode == C_EVERY_MS)
			(void) ring_buffer__consume(c->rb);
	}
	return NULL;
}

/*
 * Fastest and median round of prog, ns per run, into best and med; the ring
 * is drained after each round unless a consumer thread reads it. 0 or a
 * negative errno.
 */
static int time_prog(struct bpf_program *prog, struct consumer *c, double *best, double *med)
{
	char pkt[64] = { 0 };
	double ns[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = REPEAT);
		int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

		if (err)
			return -errno;
		ns[r] = opts.duration;
		if (c->mode == C_NONE)
			(void) ring_buffer__consume(c->rb);
	}
	qsort(ns, ROUNDS, sizeof(double), itest_cmp_double);
	*best = ns[0];
	*med = ns[ROUNDS / 2];
	return 0;
}

int main(void)
{
	struct bench_steps_bpf *s;
	struct consumer c = { .mode = C_NONE };
	struct {
		const char *key, *what;
		struct bpf_program *prog;
		double best, med;
	} step[6];
	double spin_best = 0, spin_med = 0, ms_best = 0, ms_med = 0;
	int n = 0, err, status = 1;
	bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	pthread_t th;

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);
	s = bench_steps_bpf__open();
	if (!s) {
		fprintf(stderr, "steps: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	err = bpf_map__set_max_entries(s->maps.events, RING_BYTES);
	if (!err)
		err = bench_steps_bpf__load(s);
	if (err) {
		fprintf(stderr, "steps: cannot load: %s\n", strerror(-err));
		goto out;
	}
	c.rb = ring_buffer__new(bpf_map__fd(s->maps.events), count, &c, NULL);
	if (!c.rb) {
		fprintf(stderr, "steps: ring buffer: %s\n", strerror(errno));
		goto out;
	}
#define STEP(p, k, w) step[n++] = (typeof(step[0])){ .key = k, .what = w, .prog = s->progs.p }
	STEP(step_empty, "empty", "the test-run loop (subtracted from the others)");
	STEP(step_ring_bind, "ring_bind", "a bind's record (80 bytes), reserved and submitted");
	STEP(step_ring_release, "ring_release", "a release's record (24 bytes)");
	STEP(step_clock, "clock", "bpf_ktime_get_ns (the bind's timestamp)");
	STEP(step_coarse_clock, "coarse_clock", "bpf_ktime_get_coarse_ns (a release's wakeup)");
	STEP(step_percpu_lookup, "percpu_lookup", "a per-CPU array lookup (the pid memo)");
	if (two_cpus)
		pin(0);
	for (int i = 0; i < n; i++) {
		err = time_prog(step[i].prog, &c, &step[i].best, &step[i].med);
		if (err) {
			fprintf(stderr, "steps: test run of %s: %s\n", step[i].key, strerror(-err));
			goto out;
		}
	}
	if (two_cpus) {
		err = pthread_create(&th, NULL, consume, &c);
		if (err) {
			fprintf(stderr, "steps: consumer thread: %s\n", strerror(err));
			goto out;
		}
		c.mode = C_EVERY_MS;
		err = time_prog(s->progs.step_ring_bind, &c, &ms_best, &ms_med);
		c.mode = C_SPIN;
		if (!err)
			err = time_prog(s->progs.step_ring_bind, &c, &spin_best, &spin_med);
		c.stop = 1;
		pthread_join(th, NULL);
		(void) ring_buffer__consume(c.rb);
		if (err) {
			fprintf(stderr, "steps: test run with a consumer: %s\n", strerror(-err));
			goto out;
		}
	}
	printf("steps: %d rounds of %d runs each in the kernel (BPF_PROG_TEST_RUN); fastest "
	       "round, its mean per run minus the empty program's; median round in brackets\n",
	       ROUNDS, REPEAT);
	for (int i = 0; i < n; i++)
		printf("steps: %-14s %5.1f ns (%5.1f)  %s\n", step[i].key,
		       i ? step[i].best - step[0].best : step[i].best,
		       i ? step[i].med - step[0].med : step[i].med, step[i].what);
	if (two_cpus)
		printf("steps: ring_bind with a consumer on the other CPU: reading every 1 ms %.1f ns "
		       "(%.1f), reading without pause %.1f ns (%.1f)\n", ms_best - step[0].best,
		       ms_med - step[0].med, spin_best - step[0].best, spin_med - step[0].med);
	printf("steps: records read %ld, refused (ring full) %llu\n", c.records,
	       (unsigned long long)s->bss->full);
	if (s->bss->full) {
		fprintf(stderr, "steps: the ring buffer filled: the ring figures are void\n");
		goto out;
	}
	printf("BENCH {\"name\":\"steps\"");
	for (int i = 1; i < n; i++)
		printf(",\"%s_ns\":%.1f", step[i].key, step[i].best - step[0].best);
	if (two_cpus)
		/* medians: the consumer's interference is what is measured */
		printf(",\"ring_bind_consumer_1ms_ns\":%.1f,\"ring_bind_consumer_spin_ns\":%.1f",
		       ms_med - step[0].med, spin_med - step[0].med);
	printf("}\n");
	status = 0;
out:
	ring_buffer__free(c.rb);
	bench_steps_bpf__destroy(s);
	return status;
}
