/* SPDX-License-Identifier: GPL-2.0 */
/* The daemon's state, passed around instead of globals. */
#ifndef PW_DAEMON_H
#define PW_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include "hist.h"
#include "loop.h"
#include "paths.h"
#include "portmap.h"
#include "proto.h"
#include "server.h"
#include "exits.h"
#include "settle.h"

struct pw_bpf;
struct pw_config;
struct pw_store;
struct pw_allocs;


struct pw_daemon_opts {
	const char *socket_path;
	const char *state_dir;
	const char *config_path;	/* NULL: PW_DEFAULT_CONFIG if it exists, else built-in */
	bool config_explicit;		/* --config given: a missing file is an error */
	bool no_bpf;
	size_t ringbuf_bytes;
	unsigned wakeup_gap_us;		/* (unsigned)-1: default */
	unsigned poll_interval_ms;	/* polling mode snapshot period */
	const char *metrics_listen;	/* ADDR:PORT or NULL */
	const char *portserver_addr;	/* @NAME or PATH, or NULL (portserver.c) */
	const char *portserver_type;	/* NULL: PW_PORTSERVER_TYPE */
	const char *styxy_listen;	/* Styxy-compatible API ADDR:PORT, or NULL */
	const char *styxy_token_file;	/* NULL: $HOME/.styxy/auth.token */
	const char *config_override;	/* merged over the types by name, or NULL */
	unsigned client_idle_ms;	/* control clients' idle timeout, 0: default */
};

enum pw_mode {
	PW_MODE_BPF,
	PW_MODE_POLLING,
};

struct pw_daemon {
	struct pw_daemon_opts opts;
	struct pw_loop *loop;
	struct pw_server *server;
	struct pw_bpf *bpf;
	struct pw_portmap *map;
	struct pw_config *cfg;
	struct pw_store *store;
	struct pw_allocs *allocs;
	json_t *recovery;		/* start-up recovery report */
	struct pw_settle settle;	/* replies waiting for the group commit */
	bool store_stuck;		/* shutdown: the disk held the storage thread */
	struct pw_exits exits;		/* exits waiting for their files to close */
	struct pw_holders *holders;	/* who holds a socket (BPF iterator), NULL: snapshots */
	enum pw_mode mode;
	bool config_failed;		/* init failed on the configuration: exit 3 */
	char mode_reason[256];		/* why polling, when it is */
	__u64 self_netns;		/* host netns cookie (the daemon's own) */

	struct pw_io signal_io;
	struct pw_io ring_io;
	struct pw_io poll_io;		/* polling-mode snapshots */
	struct pw_io resync_io;		/* rate-limited resync after drops */
	struct pw_io linger_io;		/* collect events submitted without wakeup */
	uint64_t last_events_ns;	/* last non-empty drain */

	uint64_t started_ns;
	uint64_t events[PW_EV_KIND_MAX];
	uint64_t dropped_seen;		/* BPF drop counter at the last check */
	uint64_t track_full_seen;	/* BPF tracking-map misses at the last check */
	uint64_t resyncs;
	uint64_t snapshots;
	uint64_t last_resync_ms;
	uint64_t drops_logged_ms;	/* rate limit of the drop warning */
	bool resync_pending;
	uint64_t skip_before_ns;	/* while draining after a snapshot */
	struct pw_hist latency;		/* event ts -> map updated */
	struct pw_http *metrics_http;	/* --metrics-listen server (metrics.c, http.c) */
	struct pw_styxy *styxy;		/* Styxy-compatible HTTP API (styxy*.c) */
	struct pw_portserver *portserver;	/* --portserver listener (portserver.c) */
	struct pw_netns_names *netns_names;	/* cookie -> inode, name (cmd_ports.c) */
	struct pw_sd *sd;		/* systemd notifications, NULL outside systemd */
	struct pw_reload *reload;	/* SIGHUP reloads (reload.c), NULL before the first */
	struct pw_guard *guard;		/* audit limits, retention, off-loop checks */
	int lock_fd;			/* flock on state_dir/lock, -1 before */
};

/* Set up everything (config, state, BPF or polling, snapshot, control
 * socket) in that order. Returns 0 or -errno, logged. */
int pw_daemon_init(struct pw_daemon *d, const struct pw_daemon_opts *opts);
/* What a loaded d->cfg needs before use (at start and after a reload): the
 * override file merged, room for run-time types, auto-allocated types, the
 * portserver's pool. 0 or -errno, logged. */
int pw_daemon_prepare_config(struct pw_daemon *d);
/* --check-config: load, print the verdict. 0 valid, -EINVAL otherwise. */
int pw_daemon_check_config(const struct pw_daemon_opts *o);
int pw_daemon_run(struct pw_daemon *d);
void pw_daemon_fini(struct pw_daemon *d);

/* Handle one event from BPF (or synthesized by a snapshot diff). */
void pw_daemon_event(struct pw_daemon *d, const struct pw_event *ev, bool from_kernel);
/* Take a snapshot and make the map equal to it; changes go to watchers. */
int pw_daemon_resync(struct pw_daemon *d, bool count_as_resync);

/* Take in the events already in the ring, so that an answer reflects every
 * bind and close that finished before its request came (the BPF hooks may
 * skip the wakeup; the ring has them all the same). */
void pw_daemon_catch_up(struct pw_daemon *d);

/* Send a JSON object to every watcher (steals obj). */
void pw_daemon_broadcast(struct pw_daemon *d, json_t *obj);

/* Request dispatch (cmd_*.c). */
void pw_daemon_request(void *ctx, struct pw_client *c, struct pw_request *req);

#endif
