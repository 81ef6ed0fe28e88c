// SPDX-License-Identifier: GPL-2.0
/*
 * systemd integration (sd-daemon(3)). The watchdog keep-alive is a timerfd on
 * the daemon's own event loop, so a loop that stops turning stops the
 * keep-alives and systemd restarts the service; the STATUS= line is refreshed
 * on the same tick.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "allocs.h"
#include "daemon.h"
#include "log.h"
#include "sdnotify.h"

/* Without a watchdog, the STATUS= line is refreshed this often. */
#define STATUS_REFRESH_MS 10000

struct pw_sd {
	struct pw_daemon *d;
	struct pw_io tick_io;
	bool watchdog;
	char status[160];	/* last STATUS= sent */
};

int pw_sd_listen_fd(const char *path)
{
	int n = sd_listen_fds(1), r;

	if (n < 0) {
		pw_err("systemd: passed sockets: %s", strerror(-n));
		return n;
	}
	if (n == 0)
		return -1;
	if (n > 1) {
		pw_err("systemd: %d sockets passed, portwatchd takes exactly one (its control socket)",
		       n);
		return -EINVAL;
	}
	r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, path, 0);
	if (r <= 0) {
		pw_err("systemd: the passed socket is not a listening Unix stream socket at %s%s%s",
		       path, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		return r < 0 ? r : -EINVAL;
	}
	pw_info("control socket %s passed by systemd", path);
	return SD_LISTEN_FDS_START;
}

static void status_line(struct pw_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "mode %s, %zu sockets in the port map, %zu allocations",
		 d->mode == PW_MODE_BPF ? "bpf" : "polling", pw_portmap_size(d->map),
		 d->allocs ? d->allocs->n : 0);
}

static void send_status(struct pw_sd *sd, const char *extra)
{
	char now[sizeof(sd->status)];

	status_line(sd->d, now, sizeof(now));
	if (!extra && !strcmp(now, sd->status))
		return;
	snprintf(sd->status, sizeof(sd->status), "%s", now);
	(void) sd_notifyf(0, "%sSTATUS=%s", extra ? extra : "", now);
}

static int on_tick(struct pw_io *io, uint32_t events)
{
	struct pw_sd *sd = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	if (sd->watchdog)
		(void) sd_notify(0, "WATCHDOG=1");
	send_status(sd, NULL);
	return 0;
}

int pw_sd_start(struct pw_daemon *d, struct pw_sd **ret)
{
	struct pw_sd *sd;
	uint64_t usec = 0, tick_ms;
	int r;

	*ret = NULL;
	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->d = d;
	sd->tick_io.fd = -1;
	/* unset: health-check commands must not think they are watched */
	r = sd_watchdog_enabled(1, &usec);
	sd->watchdog = r > 0;
	tick_ms = sd->watchdog ? usec / 2000 : STATUS_REFRESH_MS;
	if (!tick_ms)
		tick_ms = 1;
	r = pw_timerfd_new();
	if (r < 0)
		goto fail;
	sd->tick_io = (struct pw_io){ .fd = r, .fn = on_tick, .data = sd };
	r = pw_loop_add(d->loop, &sd->tick_io, EPOLLIN);
	if (!r)
		r = pw_timerfd_arm(sd->tick_io.fd, tick_ms, tick_ms);
	if (r)
		goto fail;
	if (sd->watchdog)
		pw_info("systemd: watchdog every %llu ms, keep-alives every %llu ms",
			(unsigned long long)(usec / 1000), (unsigned long long)tick_ms);
	send_status(sd, "READY=1\n");
	*ret = sd;
	return 0;
fail:
	pw_err("systemd: watchdog timer: %s", strerror(-r));
	pw_sd_free(d, sd);
	return r;
}

void pw_sd_free(struct pw_daemon *d, struct pw_sd *sd)
{
	if (!sd)
		return;
	if (sd->tick_io.fd >= 0) {
		pw_loop_del(d->loop, &sd->tick_io);
		close(sd->tick_io.fd);
	}
	free(sd);
}

void pw_sd_reloading(struct pw_daemon *d, struct pw_sd *sd, bool done)
{
	(void) d;
	if (!sd)
		return;
	if (done)
		send_status(sd, "READY=1\n");
	else
		(void) sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void pw_sd_stopping(struct pw_sd *sd)
{
	if (sd)
		(void) sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}
