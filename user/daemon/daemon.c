// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon core: start-up order, the kernel event path into the port map, and
 * the snapshot-based resync used at start, after ring-buffer drops, and as
 * the only source in polling mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "allocate.h"
#include "allocs.h"
#include "bpfwatch.h"
#include "caps.h"
#include "checks.h"
#include "config.h"
#include "daemon.h"
#include "holders.h"
#include "guard.h"
#include "safedir.h"
#include "log.h"
#include "metrics.h"
#include "netns_names.h"
#include "cmd.h"
#include "reload.h"
#include "sdnotify.h"
#include "autotypes.h"
#include "cleanup.h"
#include "http.h"
#include "portserver.h"
#include "preload.h"
#include "styxy.h"
#include "snapshot.h"
#include "journal.h"
#include "store.h"
#include "wire.h"

#define RESYNC_MIN_GAP_MS 100
/* service types the daemon may add while running (portserver, auto-allocation) */
#define PW_RUNTIME_TYPES 256

static const struct pw_server_limits server_limits = {
	.max_clients = 4096,
	.max_per_uid = 256,
	.root_reserve = 64,
	.max_out_bytes = 8 << 20,
	.max_watch_bytes = 4 << 20,
	.max_out_total = 16 << 20,
	.partial_timeout_ms = 5000,
	.idle_timeout_ms = 60000,
	.accept_pause_ms = 100,
};

void pw_daemon_broadcast(struct pw_daemon *d, json_t *obj)
{
	/* per-watcher filters, wall-clock time, netns names: cmd_ports.c */
	pw_cmd_watch_broadcast(d, obj);
}

static bool has_watchers(struct pw_daemon *d)
{
	struct pw_server_stats st;

	if (!d->server)
		return false;
	pw_server_stats(d->server, &st);
	return st.watchers > 0;
}

void pw_daemon_event(struct pw_daemon *d, const struct pw_event *ev, bool from_kernel)
{
	struct pw_sock removed;
	struct pw_event out = *ev;
	/* a release comes untimed from the kernel (its hook reads no clock) */
	bool timed = !from_kernel || ev->ts_ns;
	uint64_t ts = timed ? ev->ts_ns : pw_now_ns();
	int r;

	if (ev->kind >= PW_EV_KIND_MAX)
		return;
	/* Draining after a resync: a socket dumped, then released before we
	 * tracked it, has an entry nothing will remove (cookies never recur). */
	if (from_kernel && d->skip_before_ns && ev->kind == PW_EV_CLOSE && d->bpf)
		(void) pw_bpf_untrack_socket(d->bpf, ev->cookie);
	/* Events older than the snapshot just taken are already reflected in it;
	 * replaying them could resurrect a socket whose close was dropped. Not
	 * a close: the snapshot may have listed a socket already released (the
	 * hook runs before the kernel unhashes it), and a released socket is
	 * gone for good, whenever its close is applied. */
	if (from_kernel && ts < d->skip_before_ns && ev->kind != PW_EV_EXIT &&
	    ev->kind != PW_EV_CLOSE)
		return;
	d->events[ev->kind]++;
	r = pw_portmap_apply(d->map, ev, &removed);
	if (r < 0) {
		pw_warn("port map: out of memory, scheduling a resync");
		d->resync_pending = true;
		return;
	}
	if (from_kernel && timed && r != PW_PM_NONE) {
		uint64_t now = pw_now_ns();

		if (now > ev->ts_ns)
			pw_hist_record(&d->latency, now - ev->ts_ns);
	}
	/* sock_release cannot read the port: describe the socket that went */
	if (ev->kind == PW_EV_CLOSE) {
		if (r != PW_PM_REMOVED)
			return;
		pw_sock_to_event(&removed, PW_EV_CLOSE, &out);
		out.ts_ns = ts;
	}
	if (ev->kind == PW_EV_LISTEN || ev->kind == PW_EV_UNLISTEN) {
		const struct pw_sock *s = pw_portmap_find(d->map, ev->cookie);

		if (!s)
			return;
		pw_sock_to_event(s, ev->kind, &out);
		out.ts_ns = ts;
	}
	if (ev->kind == PW_EV_EXIT && from_kernel)
		pw_exits_add(d, (pid_t)ev->pid, (pid_t)ev->heir, ev->ts_ns);
	/* watchers see the bind before the allocation change it causes */
	if (has_watchers(d))
		pw_cmd_watch_event(d, &out);
	if (d->allocs)
		pw_allocs_on_event(d->allocs, &out,
				   r == PW_PM_REMOVED ? &removed : pw_portmap_find(d->map, ev->cookie),
				   r, from_kernel);
}

static int ring_event(void *ctx, const struct pw_event *ev)
{
	pw_daemon_event(ctx, ev, true);
	return 0;
}

static void snapshot_change(void *ctx, const struct pw_event *ev)
{
	struct pw_daemon *d = ctx;

	if (has_watchers(d))
		pw_cmd_watch_event(d, ev);
	if (d->allocs)
		pw_allocs_on_event(d->allocs, ev, NULL, PW_PM_NONE, false);
}

struct resync {
	struct pw_daemon *d;
	int changes;
};

/* One socket of a streamed snapshot: into the map, and tracked by BPF so
 * its release is reported even though BPF did not see it bound. */
static int resync_sock(void *ctx, const struct pw_event *ev)
{
	struct resync *rs = ctx;
	struct pw_daemon *d = rs->d;
	bool known = pw_portmap_find(d->map, ev->cookie) != NULL;
	int r = pw_portmap_sync_add(d->map, ev, snapshot_change, d);

	if (r < 0)
		return r;
	rs->changes += r;
	/* a socket already in the map was tracked when it was first seen */
	if (d->bpf && !known) {
		(void) pw_bpf_track_socket(d->bpf, ev->cookie);
		if (ev->pid)
			(void) pw_bpf_track_pid(d->bpf, ev->pid);
	}
	return 0;
}

int pw_daemon_resync(struct pw_daemon *d, bool count_as_resync)
{
	struct resync rs = { .d = d };
	uint64_t start = pw_now_ns();
	size_t n = 0;
	int err;

	if (d->bpf)
		pw_bpf_report_all_releases(d->bpf, true);
	/* streamed, not collected: 100,000 sockets need no second copy */
	pw_portmap_sync_begin(d->map);
	err = pw_snapshot_stream(resync_sock, &rs, &n);
	if (!err)
		rs.changes += pw_portmap_sync_end(d->map, snapshot_change, d);
	if (d->bpf) {
		/* releases that raced the snapshot are in the ring now */
		d->skip_before_ns = start;
		(void) pw_bpf_consume(d->bpf);
		pw_bpf_report_all_releases(d->bpf, false);
		(void) pw_bpf_consume(d->bpf);
		d->skip_before_ns = 0;
	}
	if (err)
		return err;
	d->last_resync_ms = pw_now_ms();
	/* the first one and any that changed something; polling mode's
	 * routine ones (one a second) only at debug */
	if (!d->snapshots++ || rs.changes)
		pw_info("snapshot: %zu sockets, %d changes in %.1f ms", n, rs.changes,
			(double)(pw_now_ns() - start) / 1e6);
	else
		pw_debug("snapshot: %zu sockets, no changes in %.1f ms", n,
			 (double)(pw_now_ns() - start) / 1e6);
	if (count_as_resync) {
		d->resyncs++;
		pw_info("resync %llu: %zu sockets, %d changes to the port map",
			(unsigned long long)d->resyncs, n, rs.changes);
		if (has_watchers(d))
			pw_daemon_broadcast(d, json_pack("{s:s, s:I, s:I, s:i, s:I}", "event",
							 "resync", "ts_ns", (json_int_t)pw_now_ns(),
							 "sockets", (json_int_t)n, "changes", rs.changes,
							 "resyncs", (json_int_t)d->resyncs));
	}
	if (d->allocs)
		pw_allocs_after_snapshot(d->allocs);
	return 0;
}

static void resync_now(struct pw_daemon *d)
{
	uint64_t before = d->bpf ? pw_bpf_dropped(d->bpf) : 0;
	int err;

	d->resync_pending = false;
	d->dropped_seen = before;
	pw_allocs_on_drops(d->allocs);
	err = pw_daemon_resync(d, true);
	if (err)
		pw_warn("resync failed: %s", strerror(-err));
	/* Events dropped while the snapshot was taken may be missing from what
	 * was drained after it; no later wakeup need come to notice: look now. */
	if (err || (d->bpf && pw_bpf_dropped(d->bpf) > before)) {
		d->resync_pending = true;
		(void) pw_timerfd_arm(d->resync_io.fd, RESYNC_MIN_GAP_MS, 0);
	}
}

static void check_drops(struct pw_daemon *d)
{
	uint64_t dropped = pw_bpf_dropped(d->bpf);
	uint64_t now;

	if (pw_bpf_track_full(d->bpf) > d->track_full_seen) {
		d->track_full_seen = pw_bpf_track_full(d->bpf);
		pw_warn("bpf: tracking maps full (%llu misses): closes and exits may go unseen, "
			"polling covers them", (unsigned long long)d->track_full_seen);
		pw_allocs_on_drops(d->allocs);
	}
	if (dropped > d->dropped_seen) {
		if (has_watchers(d))
			pw_daemon_broadcast(d, json_pack("{s:s, s:I, s:I}", "event", "drops",
							 "ts_ns", (json_int_t)pw_now_ns(),
							 "dropped", (json_int_t)dropped));
		/* at most one line a second under sustained drops */
		if (pw_now_ms() - d->drops_logged_ms >= 1000) {
			pw_warn("ring buffer dropped %llu events (%llu in all), resyncing",
				(unsigned long long)(dropped - d->dropped_seen),
				(unsigned long long)dropped);
			d->drops_logged_ms = pw_now_ms();
		}
		d->dropped_seen = dropped;
		d->resync_pending = true;
	}
	if (!d->resync_pending)
		return;
	/* under sustained drops, resync at most every RESYNC_MIN_GAP_MS */
	now = pw_now_ms();
	if (now - d->last_resync_ms >= RESYNC_MIN_GAP_MS)
		resync_now(d);
	else
		(void) pw_timerfd_arm(d->resync_io.fd, RESYNC_MIN_GAP_MS - (now - d->last_resync_ms), 0);
}

/* While lingering, drain this often: the bound on an event's wait. */
#define LINGER_NS 250000ull
static void drain_ring(struct pw_daemon *d)
{
	uint64_t gap = pw_bpf_wakeup_gap_ns(d->bpf), now, armed = 0, again;
	int n = pw_bpf_consume(d->bpf);

	if (n < 0 && n != -EINTR)
		pw_warn("ring buffer: %s", strerror(-n));
	/* Events may come without a wakeup within a gap of the last forced one:
	 * keep looking every LINGER_NS until a gap passes without any. An idle
	 * ring arms nothing. */
	if (gap) {
		now = pw_now_ns();
		if (n > 0)
			d->last_events_ns = now;
		if (now - d->last_events_ns < gap + LINGER_NS)
			armed = LINGER_NS;
	}
	check_drops(d);
	/* exits that came meanwhile, or whose sockets are in flight: look
	 * again then, unless lingering looks sooner */
	again = pw_exits_settle(d);
	if (again && (!armed || again < armed))
		armed = again;
	if (armed) {
		struct itimerspec its = { .it_value = { (time_t)(armed / 1000000000ull),
							(long)(armed % 1000000000ull) } };

		(void) timerfd_settime(d->linger_io.fd, 0, &its, NULL);
	}
}

void pw_daemon_catch_up(struct pw_daemon *d)
{
	if (d->bpf)
		drain_ring(d);
}

static int on_ring(struct pw_io *io, uint32_t events)
{
	(void) events;
	drain_ring(io->data);
	return 0;
}

static int on_linger(struct pw_io *io, uint32_t events)
{
	(void) events;
	pw_timerfd_ack(io->fd);
	drain_ring(io->data);
	return 0;
}

static int on_resync_timer(struct pw_io *io, uint32_t events)
{
	struct pw_daemon *d = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	if (d->resync_pending)
		resync_now(d);
	return 0;
}

static int on_poll_timer(struct pw_io *io, uint32_t events)
{
	struct pw_daemon *d = io->data;
	int err;

	(void) events;
	pw_timerfd_ack(io->fd);
	err = pw_daemon_resync(d, false);
	if (err)
		pw_warn("polling snapshot failed: %s", strerror(-err));
	return 0;
}

static int on_signal(struct pw_io *io, uint32_t events)
{
	struct pw_daemon *d = io->data;
	struct signalfd_siginfo si;

	(void) events;
	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			pw_info("%s received, shutting down", strsignal((int)si.ssi_signo));
			pw_loop_quit(d->loop, 0);
		} else if (si.ssi_signo == SIGHUP) {
			pw_reload_config(d);
		} else if (si.ssi_signo == SIGCHLD && d->allocs) {
			pw_checks_on_sigchld(d->allocs);
		}
	}
	return 0;
}

/* Refuse to start over a live daemon; a dead one's socket file is replaced. */
static int check_socket_free(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], *slash;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pw_err("--socket: path longer than %zu bytes: %s", sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		pw_err("another portwatchd is already serving %s", path);
		return -EADDRINUSE;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		char msg[512];

		*slash = '\0';
		/* a directory a user could change lets them swap the socket */
		r = pw_safedir(dir, 0755, msg, sizeof(msg));
		if (r) {
			pw_err("control socket directory: %s", msg);
			return r;
		}
	}
	return 0;
}

/* The state directory: trusted (only root can change it) and ours alone. */
static int lock_state_dir(struct pw_daemon *d)
{
	char msg[512];
	int r;

	r = pw_safedir(d->opts.state_dir, 0700, msg, sizeof(msg));
	if (!r) {
		r = pw_safedir_lock(d->opts.state_dir, msg, sizeof(msg));
		if (r >= 0) {
			d->lock_fd = r;
			return 0;
		}
	}
	pw_err("state directory: %s", msg);
	return r;
}

static int setup_signals(struct pw_daemon *d)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->signal_io = (struct pw_io){ .fd = fd, .fn = on_signal, .data = d };
	return pw_loop_add(d->loop, &d->signal_io, EPOLLIN);
}

static int start_watching(struct pw_daemon *d)
{
	struct pw_bpf_opts bo = { .ringbuf_bytes = d->opts.ringbuf_bytes,
				  .wakeup_gap_us = d->opts.wakeup_gap_us };
	int err, hr;

	if (d->opts.no_bpf) {
		snprintf(d->mode_reason, sizeof(d->mode_reason), "--no-bpf given");
	} else {
		err = pw_bpf_new(&d->bpf, &bo, ring_event, d);
		if (err)
			snprintf(d->mode_reason, sizeof(d->mode_reason),
				 "BPF unavailable (%s)", strerror(-err));
	}
	if (d->bpf) {
		d->mode = PW_MODE_BPF;
		(void) pw_bpf_consumer_realtime();
		d->ring_io = (struct pw_io){ .fd = pw_bpf_fd(d->bpf), .fn = on_ring, .data = d };
		err = pw_loop_add(d->loop, &d->ring_io, EPOLLIN);
		if (!err)
			err = pw_loop_add_timer(d->loop, &d->resync_io, on_resync_timer, d);
		if (!err)
			err = pw_loop_add_timer(d->loop, &d->linger_io, on_linger, d);
		if (err)
			return err;
		d->dropped_seen = pw_bpf_dropped(d->bpf);
		pw_info("mode bpf: hooks %s on cgroup %s", pw_bpf_hooks(d->bpf),
			pw_bpf_cgroup(d->bpf));
		/* who holds a socket whose binder exited: an iterator loaded
		 * with the rest (-EOPNOTSUPP: it did not load, and said why) */
		hr = pw_holders_new(&d->holders, d->bpf);
		if (hr && hr != -EOPNOTSUPP)
			pw_info("bpf: the holders iterator does not attach (%s): holders of "
				"sockets whose binder exited come from snapshots", strerror(-hr));
	} else {
		d->mode = PW_MODE_POLLING;
		pw_warn("mode polling only, every %u ms: %s", d->opts.poll_interval_ms,
			d->mode_reason);
	}
	err = pw_daemon_resync(d, false);
	if (err) {
		pw_err("initial socket snapshot failed: %s", strerror(-err));
		return err;
	}
	if (d->mode == PW_MODE_POLLING) {
		err = pw_loop_add_timer(d->loop, &d->poll_io, on_poll_timer, d);
		if (!err)
			err = pw_timerfd_arm(d->poll_io.fd, d->opts.poll_interval_ms,
					     d->opts.poll_interval_ms);
	}
	return err;
}

/* --- the core's hooks and the daemon's state -------------------------------- */

static void hook_changed(void *ctx, const struct pw_alloc_change *ch)
{
	/* an event nobody watches is not built */
	if (has_watchers(ctx))
		pw_daemon_broadcast(ctx, pw_wire_alloc_event(ch));
}

static void hook_track_pid(void *ctx, pid_t pid)
{
	struct pw_daemon *d = ctx;

	if (d->bpf)
		(void) pw_bpf_track_pid(d->bpf, (__u32)pid);
}

static void hook_quiet(void *ctx, bool on)
{
	struct pw_daemon *d = ctx;

	if (d->bpf)
		pw_bpf_quiet(d->bpf, on);
}

static void hook_committed(void *ctx, const struct pw_journal_done *jd)
{
	struct pw_daemon *d = ctx;

	pw_settle_committed(&d->settle, jd);
}

/* The loop turn ended: its writes go to the storage thread. */
static void after_batch(void *ctx)
{
	struct pw_daemon *d = ctx;

	pw_allocs_kick(d->allocs);
}

/* The listeners block of the config, where no option overrides it. */
static void listeners_from_config(struct pw_daemon *d)
{
	struct pw_daemon_opts *o = &d->opts;

	if (!o->portserver_addr)
		o->portserver_addr = d->cfg->listeners.portserver;
	if (!o->portserver_type)
		o->portserver_type = d->cfg->listeners.portserver_type;
	if (!o->styxy_listen)
		o->styxy_listen = d->cfg->listeners.styxy_http;
	if (!o->styxy_token_file)
		o->styxy_token_file = d->cfg->listeners.styxy_token_file;
}

static void warn_config(struct pw_daemon *d)
{
	json_t *w = pw_config_warnings(d->cfg), *v;
	size_t i;

	json_array_foreach(w, i, v)
		pw_warn("config: %s", json_string_value(v));
	json_decref(w);
}

static int load_config(const char *path, struct pw_config **ret)
{
	char err[512];
	int r;

	r = path ? pw_config_load_file(path, ret, err, sizeof(err)) : pw_config_default(ret);
	if (r) {
		pw_err("config %s: %s", path ? path : "(built-in)", path ? err : strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	return 0;
}

int pw_daemon_check_config(const struct pw_daemon_opts *o)
{
	struct pw_config *cfg = NULL;
	char err[512];
	int r;

	r = o->config_path ? pw_config_load_file(o->config_path, &cfg, err, sizeof(err))
			   : pw_config_default(&cfg);
	if (r) {
		fprintf(stderr, "portwatchd: config %s: %s\n", o->config_path ? o->config_path : "",
			o->config_path ? err : strerror(-r));
		return -EINVAL;
	}
	if (o->config_override && pw_config_merge_file(cfg, o->config_override, err, sizeof(err))) {
		fprintf(stderr, "portwatchd: config override %s\n", err);
		pw_config_free(cfg);
		return -EINVAL;
	}
	/* the listeners the config names (the options are checked already) */
	{
		const char *ps = o->portserver_addr ?: cfg->listeners.portserver;
		const char *sx = o->styxy_listen ?: cfg->listeners.styxy_http;
		char host[256], port[8];
		bool bad_ps = ps && !pw_portserver_addr_ok(ps);

		if (bad_ps ||
		    (sx && pw_http_split_addr(sx, host, sizeof(host), port, sizeof(port)))) {
			fprintf(stderr, "portwatchd: config: listeners.%s \"%.64s\": expected %s\n",
				bad_ps ? "portserver" : "styxy_http", bad_ps ? ps : sx,
				bad_ps ? "@NAME or a socket path" : "ADDR:PORT");
			pw_config_free(cfg);
			return -EINVAL;
		}
	}
	printf("%s%s%s: valid, %zu service types\n",
	       o->config_path ? o->config_path : "built-in defaults",
	       o->config_override ? " + " : "", o->config_override ? o->config_override : "",
	       cfg->n_types);
	{
		json_t *w = pw_config_warnings(cfg), *v;
		size_t i;

		json_array_foreach(w, i, v)
			printf("warning: %s\n", json_string_value(v));
		json_decref(w);
	}
	pw_config_free(cfg);
	return 0;
}

/* State, start-up recovery and checks, against a complete port map; the
 * store opened and read by pl. */
static int start_state(struct pw_daemon *d, struct pw_preload *pl)
{
	struct pw_allocs_env env = {
		.loop = d->loop, .map = d->map, .cfg = d->cfg, .self_netns = d->self_netns,
		.polling = d->mode == PW_MODE_POLLING,
		.hooks = { .ctx = d, .changed = hook_changed, .track_pid = hook_track_pid,
			   .quiet = hook_quiet, .committed = hook_committed },
	};
	json_t *db_report, *report;
	bool reset;
	int r;

	pw_preload_join(pl);
	if (pl->err)
		return pl->err;
	d->store = env.store = pl->store;
	pl->store = NULL;
	db_report = pl->report;
	pl->report = NULL;
	reset = pl->reset;
	r = pw_allocs_new(&d->allocs, &env, pl->rows, pl->n);
	if (r) {
		json_decref(db_report);
		return r;
	}
	pw_info("state: %zu allocations loaded from %s", d->allocs->n, d->opts.state_dir);
	r = pw_settle_init(&d->settle, d->loop, d->allocs);
	if (r) {
		json_decref(db_report);
		return r;
	}
	pw_loop_set_after_batch(d->loop, after_batch, d);
	report = pw_recovery_run(d->allocs, false, reset);
	if (db_report && report)
		json_object_set_new(report, "database", db_report);
	else
		json_decref(db_report);
	d->recovery = report;
	return pw_checks_init(d->allocs);
}

static void stop_state(struct pw_daemon *d)
{
	pw_allocate_cancel_all(d->allocs);
	/* everything queued is stored and every waiting reply settled */
	if (d->allocs && !d->store_stuck)
		d->store_stuck = !pw_allocs_flush(d->allocs);
	pw_settle_fini(&d->settle, d->loop);
	pw_allocs_free(d->allocs);
	d->allocs = NULL;
	json_decref(d->recovery);
	d->recovery = NULL;
	/* a thread the disk holds still uses it: the process's end closes it */
	if (!d->store_stuck)
		pw_store_close(d->store);
	d->store = NULL;
	pw_config_free(d->cfg);
	d->cfg = NULL;
}

int pw_daemon_prepare_config(struct pw_daemon *d)
{
	const struct pw_daemon_opts *opts = &d->opts;
	int err;

	if (opts->config_override) {
		char cerr[768];

		err = pw_config_merge_file(d->cfg, opts->config_override, cerr, sizeof(cerr));
		if (err) {
			pw_err("config override %s", cerr);
			return -EINVAL;
		}
		pw_info("config: %s merged over the types by name: %zu service types",
			opts->config_override, d->cfg->n_types);
	}
	warn_config(d);
	/* room for run-time types (portserver pool, auto-allocation): added
	 * types never move the array that requests point into */
	err = pw_config_reserve_types(d->cfg, PW_RUNTIME_TYPES);
	if (!err)
		err = pw_autotypes_load(d);
	if (!err && opts->portserver_addr)
		err = pw_portserver_prepare(d, opts->portserver_type ? opts->portserver_type
								      : PW_PORTSERVER_TYPE);
	return err;
}

int pw_daemon_init(struct pw_daemon *d, const struct pw_daemon_opts *opts)
{
	struct pw_preload pl;
	struct pw_server_limits lim;
	int err, lfd;

	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	d->signal_io.fd = d->ring_io.fd = d->poll_io.fd = d->resync_io.fd = -1;
	d->linger_io.fd = -1;
	d->lock_fd = -1;
	d->started_ns = pw_now_ns();
	pw_log_route_libbpf();

	/* a bad config never starts a half-configured daemon */
	err = load_config(opts->config_path, &d->cfg);
	if (err) {
		d->config_failed = true;
		return err;
	}
	pw_info("config: %s, %zu service types",
		opts->config_path ? opts->config_path : "built-in defaults", d->cfg->n_types);
	listeners_from_config(d);
	opts = &d->opts;
	err = pw_daemon_prepare_config(d);
	if (err) {
		d->config_failed = err == -EINVAL;
		return err;
	}
	lfd = pw_sd_listen_fd(opts->socket_path);	/* systemd's socket, or -1 */
	if (lfd < -1)
		return lfd;
	err = lfd >= 0 ? 0 : check_socket_free(opts->socket_path);
	if (err)
		return err;
	err = pw_loop_new(&d->loop);
	if (!err)
		err = pw_portmap_new(&d->map);
	if (!err)
		err = setup_signals(d);
	if (err) {
		pw_err("start-up: %s", strerror(-err));
		return err;
	}
	(void) pw_netns_cookie_self(&d->self_netns);
	err = lock_state_dir(d);
	if (err)
		return err;
	/* the state is read while BPF loads; indexed and recovered against a
	 * complete port map */
	pw_preload_start(&pl, d->opts.state_dir, d->cfg);
	err = start_watching(d);
	if (!err)
		err = start_state(d, &pl);
	pw_preload_discard(&pl);
	if (err)
		return err;
	err = pw_guard_new(&d->guard, d);
	if (err) {
		pw_err("start-up: %s", strerror(-err));
		return err;
	}
	/* the control socket opens last: no request sees half-built state */
	lim = server_limits;
	if (opts->client_idle_ms)
		lim.idle_timeout_ms = opts->client_idle_ms;
	err = pw_server_new_fd(&d->server, d->loop, opts->socket_path, lfd, &lim,
			       pw_daemon_request, d);
	if (err) {
		pw_err("control socket %s: %s", opts->socket_path, strerror(-err));
		return err;
	}
	/* from now on the store is the storage thread's: the loop never waits on it */
	err = pw_allocs_serve(d->allocs);
	if (err) {
		pw_err("start-up: storage thread: %s", strerror(-err));
		return err;
	}
	if (opts->metrics_listen) {
		err = pw_metrics_http_start(d, opts->metrics_listen);
		if (err)
			return err;
	}
	if (opts->portserver_addr) {
		err = pw_portserver_start(d, opts->portserver_addr,
					  opts->portserver_type ? opts->portserver_type
								: PW_PORTSERVER_TYPE);
		if (err)
			return err;
	}
	if (opts->styxy_listen) {
		struct pw_styxy_opts so = { .listen = opts->styxy_listen,
					    .token_file = opts->styxy_token_file };

		err = pw_styxy_start(d, &so);
		if (err)
			return err;
	}
	pw_info("ready: %zu sockets in the port map, control socket %s",
		pw_portmap_size(d->map), opts->socket_path);
	/* everything privileged is done: BPF attached, socket bound */
	err = pw_caps_drop();
	if (!err)
		err = pw_sd_start(d, &d->sd);	/* READY=1: the socket accepts */
	return err;
}

int pw_daemon_run(struct pw_daemon *d)
{
	return pw_loop_run(d->loop);
}

void pw_daemon_fini(struct pw_daemon *d)
{
	pw_sd_stopping(d->sd);
	/* requests end first, while the clients and frontends their answers go
	 * to are still there: those in backoff, then those waiting for storage */
	if (d->allocs) {
		pw_allocate_cancel_all(d->allocs);
		d->store_stuck = !pw_allocs_flush(d->allocs);
		/* what still waits (the disk held it) is told so now */
		pw_settle_fini(&d->settle, d->loop);
	}
	pw_sd_free(d, d->sd);
	pw_metrics_http_stop(d);
	pw_guard_free(d->guard);
	d->guard = NULL;
	pw_server_free(d->server);
	d->server = NULL;
	stop_state(d);
	pw_portserver_stop(d);
	pw_styxy_stop(d);
	pw_reload_free(d);
	if (d->loop) {
		pw_loop_close_io(d->loop, &d->signal_io);
		pw_loop_close_io(d->loop, &d->poll_io);
		pw_loop_close_io(d->loop, &d->resync_io);
		pw_loop_close_io(d->loop, &d->linger_io);
		if (d->bpf)
			pw_loop_del(d->loop, &d->ring_io);
	}
	pw_exits_fini(&d->exits);
	pw_holders_free(d->holders);
	pw_bpf_free(d->bpf);
	pw_portmap_free(d->map);
	pw_netns_names_free(d->netns_names);
	pw_loop_free(d->loop);
	if (d->lock_fd > 0)
		close(d->lock_fd);	/* the lock goes with it */
	memset(d, 0, sizeof(*d));
}
