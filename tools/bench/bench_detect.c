// SPDX-License-Identifier: GPL-2.0
/*
 * Detection latency (recovery layer 2): from kill(SIGKILL) of an owner to the
 * "stale" allocation event at a watch subscriber, p50/p99 over 1,000 owners
 * killed one at a time with BPF, and over 50 owners with --no-bpf for
 * comparison (default polling settings: 1 s interval, 3 failures). Also the
 * daemon's own figure: BPF timestamp of the exit to the state change.
 * Runs in a network namespace of its own, so its ports are its own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "itest_lib.h"

static char config[64];

static int write_config(void)
{
	FILE *f;
	int fd;

	snprintf(config, sizeof(config), "/tmp/pw-bench-detect-XXXXXX");
	fd = mkstemp(config);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	fprintf(f, "{\"service_types\": {\"b\": {\"port_range\": [30000, 31999]}},"
		   " \"recovery\": {\"health_monitoring\": {\"enabled\": true,"
		   " \"check_interval_ms\": 1000, \"fast_interval_ms\": 1000, \"max_failures\": 3}}}\n");
	return fclose(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait for the stale event of port; 0 or -1 after timeout_ms. */
static int wait_stale(struct pw_conn *w, unsigned port, int timeout_ms, unsigned *got_port)
{
	uint64_t dl = itest_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (itest_now_ns() < dl) {
		const char *line;
		json_t *e;
		bool hit;

		if (pw_conn_read_line(w, &line, (int)((dl - itest_now_ns()) / 1000000ull) + 1))
			return -1;
		/* the stream carries every bind and close too (100,000/s under
		 * the generator): parse only what may be a stale event */
		if (!strstr(line, "stale"))
			continue;
		e = json_loads(line, 0, NULL);
		hit = e && !strcmp(json_string_value(json_object_get(e, "event")), "allocation") &&
		      !strcmp(json_string_value(json_object_get(e, "state")), "stale") &&
		      (!port || json_integer_value(json_object_get(e, "port")) == port);
		if (hit && got_port)
			*got_port = (unsigned)json_integer_value(json_object_get(e, "port"));
		json_decref(e);
		if (hit)
			return 0;
	}
	return -1;
}

/*
 * Background load: a process that binds and closes a UDP socket on
 * 127.0.0.1:0 paced to rate cycles/s (2 events each), in 1 ms steps, until
 * killed; it writes the cycles done to *done (shared memory).
 */
static pid_t generator(long rate, volatile long *done)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlives the bench */
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timespec next;
	long per_ms = rate / 1000;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		for (long i = 0; i < per_ms; i++) {
			int fd = socket(AF_INET, SOCK_DGRAM, 0);

			if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
				_exit(1);
			close(fd);
		}
		*done += per_ms;
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}

struct run {
	uint64_t *lat;		/* ns, per owner */
	size_t n;
	long long daemon_p50, daemon_p99;
	long gen_rate;		/* background bind+close cycles/s asked for, 0: none */
	double gen_events_per_s;	/* background events/s achieved */
};

static int measure(bool no_bpf, size_t owners, bool one_by_one, struct run *out)
{
	const char *const bpf[] = { "--config", config, NULL };
	const char *const poll[] = { "--config", config, "--no-bpf", NULL };
	const char *const hold[] = { "hold", NULL };
	struct itest_proc *p = calloc(owners, sizeof(*p));
	unsigned *port = calloc(owners, sizeof(*port));
	struct itest_daemon d;
	struct pw_conn *w;
	const char *line;
	json_t *res;
	char buf[32];

	out->lat = calloc(owners, sizeof(uint64_t));
	out->n = 0;
	if (!p || !port || !out->lat || itest_daemon_start(&d, no_bpf ? poll : bpf))
		return -1;
	for (size_t i = 0; i < owners; i++) {
		if (itest_proc_spawn(&p[i], -1, hold) || itest_proc_line(&p[i], buf, sizeof(buf), 5000)) {
			fprintf(stderr, "bench_detect: owner %zu did not start\n", i);
			return -1;
		}
		if (itest_call(&d, "allocate", json_pack("{s:s, s:i}", "service_type", "b", "pid",
							 (int)p[i].pid), &res))
			return -1;
		port[i] = (unsigned)json_integer_value(json_object_get(res, "port"));
		json_decref(res);
	}
	if (pw_conn_open(&w, d.sock) || pw_conn_send(w, "watch", NULL) ||
	    pw_conn_read_line(w, &line, 5000))
		return -1;
	if (one_by_one) {
		volatile long *done = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		pid_t gen = 0;
		uint64_t g0 = itest_now_ns();

		if (done == MAP_FAILED)
			return -1;
		*done = 0;
		if (out->gen_rate) {
			gen = generator(out->gen_rate, done);
			if (gen < 0)
				return -1;
		}
		for (size_t i = 0; i < owners; i++) {
			uint64_t t0 = itest_now_ns();

			kill(p[i].pid, SIGKILL);
			if (wait_stale(w, port[i], 10000, NULL)) {
				fprintf(stderr, "bench_detect: no stale event for port %u\n", port[i]);
				return -1;
			}
			out->lat[out->n++] = itest_now_ns() - t0;
			itest_proc_kill(&p[i], SIGKILL);
		}
		if (gen > 0) {
			kill(gen, SIGKILL);
			waitpid(gen, NULL, 0);
			out->gen_events_per_s = 2.0 * (double)*done /
						((double)(itest_now_ns() - g0) / 1e9);
		}
		munmap((void *)done, sizeof(long));
	} else {
		uint64_t t0 = itest_now_ns();

		for (size_t i = 0; i < owners; i++)
			kill(p[i].pid, SIGKILL);
		for (size_t i = 0; i < owners; i++) {
			if (wait_stale(w, 0, 20000, NULL))
				return -1;
			out->lat[out->n++] = itest_now_ns() - t0;
		}
		for (size_t i = 0; i < owners; i++)
			itest_proc_kill(&p[i], SIGKILL);
	}
	if (itest_call(&d, "status", NULL, &res) == 0) {
		json_t *dl = json_object_get(res, "detection_latency_ns");

		out->daemon_p50 = json_integer_value(json_object_get(dl, "p50"));
		out->daemon_p99 = json_integer_value(json_object_get(dl, "p99"));
		json_decref(res);
	}
	pw_conn_close(w);
	itest_daemon_cleanup(&d);
	free(p);
	free(port);
	qsort(out->lat, out->n, sizeof(uint64_t), cmp_u64);
	return 0;
}

static double q_ms(const struct run *r, double q)
{
	size_t i = (size_t)(q * (double)r->n);

	return r->n ? (double)r->lat[i >= r->n ? r->n - 1 : i] / 1e6 : -1;
}

int main(void)
{
	struct run bpf = { 0 }, poll = { 0 }, busy = { .gen_rate = 50000 };

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (itest_unshare_net() || write_config())
		return 1;
	if (measure(false, 1000, true, &bpf)) {
		fprintf(stderr, "bench_detect: bpf run failed\n");
		return 1;
	}
	printf("detect (bpf): 1000 owners killed one by one: kill -> stale at subscriber "
	       "p50 %.3f ms, p99 %.3f ms (aim p99 < 1 ms)\n", q_ms(&bpf, 0.5), q_ms(&bpf, 0.99));
	printf("detect (bpf): daemon, BPF exit timestamp -> state change: p50 %.1f us, "
	       "p99 %.1f us (aim < 1 ms)\n", bpf.daemon_p50 / 1e3, bpf.daemon_p99 / 1e3);
	if (measure(false, 1000, true, &busy)) {
		fprintf(stderr, "bench_detect: bpf run under load failed\n");
		return 1;
	}
	printf("detect (bpf, background generator %.0f events/s): 1000 owners killed one by one: "
	       "kill -> stale at subscriber p50 %.3f ms, p99 %.3f ms (aim p99 < 5 ms)\n",
	       busy.gen_events_per_s, q_ms(&busy, 0.5), q_ms(&busy, 0.99));
	if (measure(true, 50, false, &poll)) {
		fprintf(stderr, "bench_detect: polling run failed\n");
		return 1;
	}
	printf("detect (--no-bpf, 1000 ms x 3 failures): 50 owners killed at once: "
	       "p50 %.0f ms, p99 %.0f ms; polling/bpf p50 = %.0fx\n", q_ms(&poll, 0.5),
	       q_ms(&poll, 0.99), q_ms(&poll, 0.5) / q_ms(&bpf, 0.5));
	printf("BENCH {\"name\":\"detect\",\"bpf_p50_ms\":%.3f,\"bpf_p99_ms\":%.3f,"
	       "\"daemon_p50_us\":%.1f,\"daemon_p99_us\":%.1f,\"poll_p50_ms\":%.0f,"
	       "\"poll_p99_ms\":%.0f,\"poll_over_bpf\":%.0f,\"busy_events_per_s\":%.0f,"
	       "\"busy_p50_ms\":%.3f,\"busy_p99_ms\":%.3f}\n", q_ms(&bpf, 0.5), q_ms(&bpf, 0.99),
	       bpf.daemon_p50 / 1e3, bpf.daemon_p99 / 1e3, q_ms(&poll, 0.5), q_ms(&poll, 0.99),
	       q_ms(&poll, 0.5) / q_ms(&bpf, 0.5), busy.gen_events_per_s, q_ms(&busy, 0.5),
	       q_ms(&busy, 0.99));
	unlink(config);
	free(bpf.lat);
	free(poll.lat);
	free(busy.lat);
	return 0;
}
