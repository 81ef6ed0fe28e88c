// SPDX-License-Identifier: GPL-2.0
/*
 * Scale: 250,000 bound sockets across 250 network namespaces (250 helper
 * processes x 1000 sockets, half TCP listeners, half UDP, on 127.0.0.1).
 *   tracking  bound while the daemon runs: all in the port map, no socket or
 *             pid the BPF side failed to track (status track_full)
 *   rss       the daemon's peak RSS with all of them tracked
 *   resync    a daemon started over them: the full snapshot (every netns,
 *             owners from /proc, port map, BPF tracking of each) as the
 *             daemon logs it, and its peak RSS then
 * The figures are absolute (aims: no misses, < 64 MiB, resync < 1 s); the
 * start of an empty daemon in the same run is the baseline of the resync.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest_lib.h"

#define PROCS 250
#define PER 1000

static long long jnum(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	if (k2)
		v = json_object_get(v, k2);
	return (long long)json_integer_value(v);
}

static long long stat_num(struct itest_daemon *d, const char *k1, const char *k2)
{
	json_t *res = NULL;
	long long v = -1;

	if (!itest_call(d, "status", NULL, &res)) {
		v = jnum(res, k1, k2);
		json_decref(res);
	}
	return v;
}

/* The last "snapshot: N sockets, C changes in X ms" of the daemon's log. */
static double snapshot_ms(const struct itest_daemon *d, long long *sockets)
{
	char line[512];
	double ms = -1;
	FILE *f = fopen(d->log, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "snapshot: ");
		long long n;
		int c;
		double x;

		if (p && sscanf(p, "snapshot: %lld sockets, %d changes in %lf ms", &n, &c, &x) == 3) {
			ms = x;
			*sockets = n;
		}
	}
	fclose(f);
	return ms;
}

int main(void)
{
	const char *const args[] = { "many", "1000", NULL };
	struct itest_daemon d = { .pid = 0 };
	struct itest_proc *p = calloc(PROCS, sizeof(*p));
	long long map_size, track_full, snap_n = 0, empty_n = 0, map2, full2;
	long rss_tracked, rss_resync;
	double empty_ms, resync_ms;
	char line[64];

	itest_require_root();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!p || itest_daemon_start(&d, NULL))
		return 1;
	/* baseline: the snapshot of a host without the bench's sockets */
	empty_ms = snapshot_ms(&d, &empty_n);
	for (int i = 0; i < PROCS; i++)
		if (itest_proc_spawn_netns(&p[i], args))
			return 1;
	for (int i = 0; i < PROCS; i++)
		if (itest_proc_line(&p[i], line, sizeof(line), 120000) || strcmp(line, "ready")) {
			fprintf(stderr, "bench_scale: helper %d: %s\n", i, line);
			return 1;
		}
	ITEST_WAIT(stat_num(&d, "map_size", NULL) >= (long long)PROCS * PER, 120000);
	map_size = stat_num(&d, "map_size", NULL);
	track_full = stat_num(&d, "track_full", NULL);
	rss_tracked = itest_status_kib(d.pid, "VmHWM");
	printf("scale: %d sockets bound in %d netns while attached: %lld in the port map, "
	       "tracking misses %lld (aim 0); daemon peak RSS %.1f MiB (aim < 64 MiB)\n",
	       PROCS * PER, PROCS, map_size, track_full, rss_tracked / 1024.0);

	/* a daemon started over all of them resyncs from a snapshot */
	itest_daemon_stop(&d, SIGTERM);
	if (itest_daemon_restart(&d, NULL)) {
		char cmd[256];

		fprintf(stderr, "bench_scale: the daemon did not start over them; its log:\n");
		snprintf(cmd, sizeof(cmd), "tail -5 '%s' >&2", d.log);
		(void) !system(cmd);
		return 1;
	}
	resync_ms = snapshot_ms(&d, &snap_n);
	map2 = stat_num(&d, "map_size", NULL);
	full2 = stat_num(&d, "track_full", NULL);
	rss_resync = itest_status_kib(d.pid, "VmHWM");
	printf("scale: resync of %lld sockets at start: %.1f ms (aim < 1000 ms; %lld sockets "
	       "without them: %.1f ms); port map %lld, tracking misses %lld, peak RSS %.1f MiB\n",
	       snap_n, resync_ms, empty_n, empty_ms, map2, full2, rss_resync / 1024.0);
	for (int i = 0; i < PROCS; i++)
		itest_proc_end(&p[i]);
	itest_daemon_cleanup(&d);
	printf("BENCH {\"name\":\"scale\",\"sockets\":%d,\"map_size\":%lld,\"track_full\":%lld,"
	       "\"rss_tracked_mib\":%.1f,\"resync_sockets\":%lld,\"resync_ms\":%.1f,"
	       "\"resync_empty_ms\":%.1f,\"resync_map_size\":%lld,\"resync_track_full\":%lld,"
	       "\"rss_resync_mib\":%.1f}\n", PROCS * PER, map_size, track_full,
	       rss_tracked / 1024.0, snap_n, resync_ms, empty_ms, map2, full2,
	       rss_resync / 1024.0);
	free(p);
	return 0;
}
