// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel event pipeline, measured (issue: event pipeline and port map):
 *   latency     kernel-to-map latency p50/p99 under a bind/close generator
 *   throughput  events/s handled with zero drops at the default ring size,
 *               against the generator's own rate in the same run
 *   overhead    a bind+close loop with the daemon attached vs detached
 *   ports       `portwatch ports --json` vs `ss -tulpn`, 10,000 sockets
 *               across 200 processes
 *   rss         daemon peak RSS with 100,000 tracked sockets
 * Every figure that is a claim is a ratio against a baseline of the same run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest_lib.h"

static double now_s(void)
{
	return (double)itest_now_ns() / 1e9;
}

/* One bind+close of a UDP socket on 127.0.0.1:0. */
static int bind_close(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int r;

	if (fd < 0)
		return -1;
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r;
}

/* Seconds for n bind+close cycles in this process. */
static double loop(long n)
{
	double t0 = now_s();

	for (long i = 0; i < n; i++)
		if (bind_close())
			return -1;
	return now_s() - t0;
}

/* Run procs generator processes of n cycles each; wall seconds. */
static double generate(int procs, long n)
{
	double t0 = now_s();

	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(loop(n) < 0 ? 1 : 0);
	}
	while (wait(NULL) > 0)
		;
	return now_s() - t0;
}

static json_t *status(struct itest_daemon *d)
{
	json_t *res = NULL;

	return itest_call(d, "status", NULL, &res) ? NULL : res;
}

static long long jnum(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return (long long)json_integer_value(v);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_cmd(const char *cmd, int runs)
{
	double t[16];

	for (int i = 0; i < runs; i++) {
		double t0 = now_s();

		if (system(cmd) != 0)
			return -1;
		t[i] = now_s() - t0;
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	return t[runs / 2];
}

static long vm_hwm_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Spawn procs `helper many per` (each in its own netns when netns). */
static int spawn_many(struct itest_proc *p, int procs, int per, bool netns)
{
	char n[16], line[64];
	const char *const args[] = { "many", n, NULL };

	snprintf(n, sizeof(n), "%d", per);
	for (int i = 0; i < procs; i++) {
		if (netns ? itest_proc_spawn_netns(&p[i], args) : itest_proc_spawn(&p[i], -1, args))
			return -1;
	}
	for (int i = 0; i < procs; i++)
		if (itest_proc_line(&p[i], line, sizeof(line), 60000) || strcmp(line, "ready"))
			return -1;
	return 0;
}

int main(void)
{
	const long cycles = 100000, gen_cycles = 50000;
	struct itest_daemon d;
	struct itest_proc *many;
	double base1, base2, attached, gen_s, t_ports, t_ss;
	long long ev_before, ev_after, dropped, p50, p99, map_size;
	long rss_idle, rss_peak;
	char cmd[512];
	json_t *st;

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* overhead: detached, attached, detached again (noise check) */
	base1 = loop(cycles);
	if (itest_daemon_start(&d, NULL))
		return 1;
	attached = loop(cycles);
	itest_daemon_stop(&d, SIGTERM);
	base2 = loop(cycles);
	printf("overhead: %ld bind+close: detached %.3f s, attached %.3f s, detached again %.3f s\n",
	       cycles, base1, attached, base2);
	printf("overhead: ratio attached/detached = %.3f (aim <= 1.10)\n",
	       attached / ((base1 + base2) / 2));

	/* throughput and latency: 2 generator processes at full speed */
	if (itest_daemon_restart(&d, NULL))
		return 1;
	st = status(&d);
	ev_before = jnum(st, "events", "bind") + jnum(st, "events", "close");
	json_decref(st);
	gen_s = generate(2, gen_cycles);
	/* the daemon catches up: all 2 x gen_cycles x 2 events counted */
	ITEST_WAIT(({ json_t *s2 = status(&d); long long e = jnum(s2, "events", "bind") +
		   jnum(s2, "events", "close"); json_decref(s2); e - ev_before >= 4 * gen_cycles; }),
		   10000);
	st = status(&d);
	ev_after = jnum(st, "events", "bind") + jnum(st, "events", "close");
	dropped = jnum(st, "dropped", NULL);
	p50 = jnum(st, "latency_ns", "p50");
	p99 = jnum(st, "latency_ns", "p99");
	json_decref(st);
	printf("throughput: generator %.0f bind/s (%.0f events/s) on 2 processes; daemon handled "
	       "%lld events, dropped %lld; handled/produced = %.3f\n",
	       2.0 * gen_cycles / gen_s, 4.0 * gen_cycles / gen_s, ev_after - ev_before, dropped,
	       (double)(ev_after - ev_before) / (4.0 * gen_cycles));
	printf("latency: kernel-to-map p50 %.1f us, p99 %.1f us (aim p99 < 1000 us)\n", p50 / 1e3,
	       p99 / 1e3);

	/* ports --json vs ss -tulpn with 10,000 sockets across 200 processes */
	many = calloc(200, sizeof(*many));
	if (spawn_many(many, 200, 50, false))
		return 1;
	ITEST_WAIT(({ json_t *s2 = status(&d); long long n = jnum(s2, "map_size", NULL);
		   json_decref(s2); n >= 10000; }), 10000);
	snprintf(cmd, sizeof(cmd), "PORTWATCH_SOCKET=%s %s/portwatch ports --json >/dev/null",
		 d.sock, itest_build());
	t_ports = median_cmd(cmd, 5);
	t_ss = median_cmd("ss -tulpn >/dev/null", 5);
	printf("ports: 10,000 sockets / 200 processes: portwatch ports --json %.1f ms, "
	       "ss -tulpn %.1f ms: ss/portwatch = %.1fx (aim >= 10x)\n", t_ports * 1e3, t_ss * 1e3,
	       t_ss / t_ports);
	for (int i = 0; i < 200; i++)
		itest_proc_end(&many[i]);
	free(many);

	/* RSS with 100,000 sockets: 100 processes x 1000, each in its own netns
	 * so the ephemeral port space does not run out */
	rss_idle = vm_hwm_kib(d.pid);
	many = calloc(100, sizeof(*many));
	if (spawn_many(many, 100, 1000, true))
		return 1;
	ITEST_WAIT(({ json_t *s2 = status(&d); long long n = jnum(s2, "map_size", NULL);
		   json_decref(s2); n >= 100000; }), 30000);
	st = status(&d);
	map_size = jnum(st, "map_size", NULL);
	json_decref(st);
	/* a full listing of all of them, the heaviest request */
	snprintf(cmd, sizeof(cmd), "PORTWATCH_SOCKET=%s %s/portwatch ports --json >/dev/null",
		 d.sock, itest_build());
	(void) !system(cmd);
	rss_peak = vm_hwm_kib(d.pid);
	printf("rss: %lld sockets tracked: daemon peak RSS %.1f MiB (idle %.1f MiB) (aim < 32 MiB)\n",
	       map_size, rss_peak / 1024.0, rss_idle / 1024.0);
	for (int i = 0; i < 100; i++)
		itest_proc_end(&many[i]);
	free(many);
	itest_daemon_cleanup(&d);

	printf("BENCH {\"name\":\"events\",\"overhead_ratio\":%.3f,\"gen_binds_per_s\":%.0f,"
	       "\"handled_ratio\":%.3f,\"dropped\":%lld,\"latency_p50_us\":%.1f,"
	       "\"latency_p99_us\":%.1f,\"ports_ms\":%.2f,\"ss_ms\":%.2f,\"ss_over_ports\":%.1f,"
	       "\"rss_sockets\":%lld,\"rss_peak_mib\":%.1f}\n",
	       attached / ((base1 + base2) / 2), 2.0 * gen_cycles / gen_s,
	       (double)(ev_after - ev_before) / (4.0 * gen_cycles), dropped, p50 / 1e3, p99 / 1e3,
	       t_ports * 1e3, t_ss * 1e3, t_ss / t_ports, map_size, rss_peak / 1024.0);
	return 0;
}
