/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading, probing and attaching the BPF programs, and draining their ring
 * buffer. Everything libbpf lives behind this interface.
 */
#ifndef PW_BPFWATCH_H
#define PW_BPFWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "pw_event.h"

struct pw_bpf;

struct pw_bpf_opts {
	size_t ringbuf_bytes;		/* 0: default (2 MiB); rounded up to a power of 2 >= page size */
	const char *cgroup_path;	/* NULL: cgroup v2 mount from /proc/self/mountinfo */
	unsigned wakeup_gap_us;		/* force wakeups this far apart; (unsigned)-1: 5000 */
};

/* The first cgroup v2 mount point in /proc/self/mountinfo (the default
 * cgroup_path), malloc'd into *ret. 0, -ENOENT or -errno. */
int pw_bpf_find_cgroup2(char **ret);

/* Called once per ring-buffer event, from pw_bpf_consume(). Return 0. */
typedef int (*pw_bpf_event_fn)(void *ctx, const struct pw_event *ev);

/*
 * Probe what the kernel offers, load and attach. Returns 0, or a negative
 * errno with *ret untouched (the daemon then runs in polling mode). Logs what
 * it attached and, on failure, why.
 */
int pw_bpf_new(struct pw_bpf **ret, const struct pw_bpf_opts *opts, pw_bpf_event_fn fn, void *ctx);
void pw_bpf_free(struct pw_bpf *b);

/* The ring buffer's epoll fd: readable when events are waiting. */
int pw_bpf_fd(const struct pw_bpf *b);
/* Drain the ring buffer, calling fn per event. Returns events consumed or -errno. */
int pw_bpf_consume(struct pw_bpf *b);
/* Events are submitted without a wakeup when one was forced less than this
 * long ago: after a non-empty drain, keep draining until this much time has
 * passed without events (0: the ring buffer's own adaptive wakeups). */
__u64 pw_bpf_wakeup_gap_ns(const struct pw_bpf *b);
/* For kernel/holders.c: the holders' iterator program (not attached) and its
 * map of wanted cookies; NULL and -1 when this kernel would not load it. */
struct bpf_program;
struct bpf_program *pw_bpf_holders_prog(const struct pw_bpf *b);
int pw_bpf_holders_map_fd(const struct pw_bpf *b);
/* BPF-side count of events that could not be reserved in the ring buffer. */
__u64 pw_bpf_dropped(const struct pw_bpf *b);
/* BPF-side count of sockets/pids that could not be tracked (map full or no
 * memory): their release or exit goes unreported. */
__u64 pw_bpf_track_full(const struct pw_bpf *b);
/* Comma-separated hooks in use, e.g. "cgroup/post_bind4,cgroup/post_bind6,...". */
const char *pw_bpf_hooks(const struct pw_bpf *b);
/* Each optional hook or feature this kernel lacks and what stands in for it,
 * "; "-separated; "" when nothing is missing. */
const char *pw_bpf_degraded(const struct pw_bpf *b);
/* Cgroup path the programs are attached to. */
const char *pw_bpf_cgroup(const struct pw_bpf *b);

/* Make the BPF side report the release of a socket it did not see bound
 * (sockets from a snapshot). Idempotent. 0 or -errno. */
int pw_bpf_track_socket(struct pw_bpf *b, __u64 cookie);
/* Forget a socket tracked with pw_bpf_track_socket that was released before
 * it was tracked (its entry would otherwise stay). 0 or -errno. */
int pw_bpf_untrack_socket(struct pw_bpf *b, __u64 cookie);
/* While on, every TCP/UDP release is reported, tracked or not (set around
 * snapshots so sockets bound before attaching cannot close unseen). */
void pw_bpf_report_all_releases(struct pw_bpf *b, bool on);
/* While on, binds of the calling process are not reported (its test binds). */
void pw_bpf_quiet(struct pw_bpf *b, bool on);
/* Report the exit of this process (owners of allocations). 0 or -errno. */
int pw_bpf_track_pid(struct pw_bpf *b, __u32 pid);

/*
 * Run the calling process (the ring's consumer) under SCHED_FIFO priority 1,
 * reset for children on fork: woken by an event, it preempts ordinary tasks.
 * Under CPU contention (a burst of 200 processes binding at once) a
 * SCHED_OTHER daemon got 1/200 of a CPU and its kernel-to-map p99 went to
 * 40-150 ms; nice -20 still gave 23 ms; FIFO gives ~0.3 ms. The kernel's RT
 * throttling (sched_rt_runtime_us) bounds what a runaway could take. Logs the
 * outcome; 0 or -errno (EPERM without CAP_SYS_NICE: the daemon goes on).
 */
int pw_bpf_consumer_realtime(void);

/* Route libbpf's own messages into pw_log (debug ones only at PW_LOG_DEBUG). bpflog.c */
void pw_log_route_libbpf(void);

#endif
