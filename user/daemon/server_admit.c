// SPDX-License-Identifier: GPL-2.0
/* Admission: connections per uid with root's reserve, the file limit, and
 * pausing accept() on EMFILE instead of spinning. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "array.h"
#include "log.h"
#include "server_int.h"

/* File descriptors kept for the daemon itself (BPF, SQLite, snapshots of
 * network namespaces, health checks) when sizing the client limit. */
#define FD_RESERVE 128

static struct uid_slot *uid_slot(struct pw_server *s, uid_t uid)
{
	for (size_t i = 0; i < s->n_uids; i++)
		if (s->uids[i].uid == uid)
			return &s->uids[i];
	return NULL;
}

/* Admission: non-root uids share max_clients, each at most max_per_uid;
 * root also gets root_reserve more, so no user can lock root out. */
const char *srv_admit(struct pw_server *s, uid_t uid)
{
	struct uid_slot *u;

	if (uid == 0)
		return s->st.clients < s->st.max_clients + s->lim.root_reserve ? NULL :
			"too many clients, try again";
	if (s->nonroot >= s->st.max_clients)
		return "too many clients, try again";
	u = uid_slot(s, uid);
	if (u && u->n >= s->lim.max_per_uid)
		return "too many connections from this user";
	if (!u) {
		if (pw_array_grow((void **)&s->uids, &s->cap_uids, s->n_uids + 1,
				  sizeof(*s->uids)))
			return "out of memory, try again";
		u = &s->uids[s->n_uids++];
		*u = (struct uid_slot){ .uid = uid };
	}
	u->n++;
	s->nonroot++;
	return NULL;
}

void srv_uid_release(struct pw_server *s, uid_t uid)
{
	struct uid_slot *u;

	if (uid == 0)
		return;
	s->nonroot--;
	u = uid_slot(s, uid);
	if (u && --u->n == 0)
		*u = s->uids[--s->n_uids];
}

/* Out of file descriptors: the listener stays readable, so stop polling it
 * for accept_pause_ms instead of spinning on accept(). */
void srv_pause_accepting(struct pw_server *s, int err)
{
	if (s->accept_paused)
		return;
	if (pw_loop_mod(s->loop, &s->listen_io, 0) ||
	    pw_timerfd_arm(s->pause_io.fd, s->lim.accept_pause_ms, 0))
		return;
	s->accept_paused = true;
	s->st.accept_paused++;
	pw_warn("control socket: accept: %s; not accepting for %u ms", strerror(err),
		s->lim.accept_pause_ms);
}

int srv_resume_accepting(struct pw_io *io, uint32_t events)
{
	struct pw_server *s = io->data;

	(void) events;
	pw_timerfd_ack(io->fd);
	if (s->accept_paused && !pw_loop_mod(s->loop, &s->listen_io, EPOLLIN))
		s->accept_paused = false;
	return 0;
}

/* Raise the file limit to its hard limit, then size the client limit to fit
 * under it with room for the daemon's own descriptors and root's reserve. */
size_t srv_client_budget(const struct pw_server_limits *lim)
{
	struct rlimit rl;
	size_t max = lim->max_clients;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return max;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = cur;
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(max + lim->root_reserve + FD_RESERVE)) {
		size_t room = rl.rlim_cur > FD_RESERVE + lim->root_reserve + 16 ?
			(size_t)rl.rlim_cur - FD_RESERVE - lim->root_reserve : 16;

		pw_warn("file limit %llu: at most %zu clients (and %zu more for root)",
			(unsigned long long)rl.rlim_cur, room, lim->root_reserve);
		max = room;
	}
	return max;
}
