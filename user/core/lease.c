// SPDX-License-Identifier: GPL-2.0
/*
 * Leases that follow real services. A port belongs to whoever holds a socket
 * on it now: when an allocation's owner exits and a live process still holds
 * one of the allocation's sockets (a daemonized child, an exec'd program, a
 * process the socket was passed to), the allocation passes to that holder.
 * With no holder left, a child the owner left alive inherits (daemonizing
 * before binding).
 * A held allocation (allocate --hold) outlives its requester until the first
 * bind of its port by a process of the allocation's uid (root's: root only),
 * which becomes the owner; a binder that leaves the port before the hold's
 * deadline hands it back to the hold; if nothing binds in time it is
 * released, "hold expired".
 *
 * The sockets of a port are classed once per owner (owner tree or foreign)
 * and the class kept on the socket, so an event costs no /proc walk per
 * socket on the port.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "allocs.h"
#include "array.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "journal.h"

static struct pw_class_cache *cache_slot(struct pw_allocs *as, uint32_t pid, uint32_t gen)
{
	return &as->class_cache[((pid * 2654435761u) ^ (gen * 40503u)) %
				ARRAY_SIZE(as->class_cache)];
}

enum pw_sock_class pw_lease_class(struct pw_allocs *as, const struct pw_alloc_rt *r,
				  const struct pw_sock *s)
{
	struct pw_class_cache *k;
	enum pw_sock_class c;

	if (s->tag_gen == r->tag_gen && s->tag)
		return (enum pw_sock_class)s->tag;
	if (!s->pid)
		return PW_CLASS_FOREIGN;
	k = cache_slot(as, s->pid, r->tag_gen);
	if (r->prev_tag_gen && s->tag_gen == r->prev_tag_gen && s->tag == PW_CLASS_OWNER) {
		/* the allocation's before the handover: ownership passed to one
		 * holder, the others (the heir's siblings) still hold its port */
		c = PW_CLASS_OWNER;
	} else if (k->pid == s->pid && k->tag_gen == r->tag_gen && k->cls) {
		c = (enum pw_sock_class)k->cls;
	} else {
		c = pw_proc_is_ancestor(r->a.pid, (pid_t)s->pid) ? PW_CLASS_OWNER
								 : PW_CLASS_FOREIGN;
		*k = (struct pw_class_cache){ .pid = s->pid, .tag_gen = r->tag_gen,
					      .cls = (uint8_t)c };
	}
	/* an unknown holder (pid 0) is classed again when it is known */
	if (s->pid)
		pw_portmap_tag(as->env.map, s, (__u8)c, r->tag_gen);
	return c;
}

/* The owner becomes the process p (read from /proc, or known to be gone);
 * a hold ends, unless keep_hold (the daemon taking over its own). */
static int set_owner(struct pw_allocs *as, struct pw_alloc_rt *r, const struct pw_proc *pp,
		     bool keep_hold, const char *why)
{
	struct pw_alloc a = r->a;
	struct pw_proc p = *pp;
	int err;

	a.pid = p.pid;
	a.start_time = p.start_time;
	snprintf(a.comm, sizeof(a.comm), "%s", p.comm);
	if (!keep_hold)
		a.hold_until = 0;
	a.daemon_owned = p.pid == as->self_pid;
	/* derived state, as a state change: recovery finds a live holder again */
	err = pw_journal_set_owner(as->journal, &a, false);
	if (err) {
		as->m.storage_errors_total++;
		return err;
	}
	pw_allocs_audit(as, 0, 0, "handover", "ok", a.port, a.id, a.service_type,
			"owner handed to pid %d (%.16s): %s", a.pid, a.comm, why);
	pw_info("allocation %lld port %u (%s): owner handed to pid %d (%s): %s", (long long)a.id,
		a.port, a.service_type, a.pid, a.comm, why);
	r->a = a;
	r->prev_tag_gen = r->tag_gen;
	r->tag_gen = ++as->next_tag_gen;
	r->cnt.valid = false;
	if (as->env.hooks.track_pid)
		as->env.hooks.track_pid(as->env.hooks.ctx, a.pid);
	if (as->env.hooks.changed) {
		char reason[128];
		struct pw_alloc_change ch = { .id = a.id, .port = a.port,
					      .service_type = a.service_type,
					      .old_state = pw_alloc_state_name(a.state),
					      .state = pw_alloc_state_name(a.state),
					      .reason = reason };

		snprintf(reason, sizeof(reason), "owner handed to pid %d (%.16s): %s", a.pid,
			 a.comm, why);
		as->env.hooks.changed(as->env.hooks.ctx, &ch);
	}
	return 0;
}

int pw_lease_set_owner(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t pid, const char *why)
{
	struct pw_proc p;
	int err = pw_proc_read(pid, &p);

	return err ? err : set_owner(as, r, &p, false, why);
}

int pw_lease_daemon_takes_over(struct pw_allocs *as, struct pw_alloc_rt *r)
{
	struct pw_proc p;
	int err = pw_proc_read(as->self_pid, &p);

	return err ? err : set_owner(as, r, &p, true, "owned by the daemon, which restarted");
}

/* The socket on r's port after s (NULL: the first) held by a known process
 * other than the daemon, in the daemon's network namespace; NULL at the end. */
static const struct pw_sock *held_sock(struct pw_allocs *as, const struct pw_alloc_rt *r,
				       const struct pw_sock *s)
{
	s = s ? pw_portmap_port_next(as->env.map, s) : pw_portmap_port_first(as->env.map, r->a.port);
	for (; s; s = pw_portmap_port_next(as->env.map, s))
		if ((!as->env.self_netns || s->netns == as->env.self_netns) && s->pid &&
		    (pid_t)s->pid != as->self_pid)
			return s;
	return NULL;
}

/* A live holder of one of the allocation's own sockets, other than the old owner. */
static pid_t live_holder(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t old)
{
	const struct pw_sock *s;

	for (s = held_sock(as, r, NULL); s; s = held_sock(as, r, s)) {
		if ((pid_t)s->pid == old)
			continue;
		/* the class was fixed while the old owner lived */
		if (s->tag_gen != r->tag_gen || s->tag != PW_CLASS_OWNER)
			continue;
		return (pid_t)s->pid;
	}
	return 0;
}

pid_t pw_lease_holder_of_uid(struct pw_allocs *as, const struct pw_alloc_rt *r)
{
	const struct pw_sock *s;
	struct pw_proc p;

	for (s = held_sock(as, r, NULL); s; s = held_sock(as, r, s)) {
		/* the holder's own uid, not the socket's: root's allocation
		 * never passes to another user's process, nor a user's to root's */
		if (!pw_proc_read((pid_t)s->pid, &p) && p.uid == r->a.uid)
			return (pid_t)s->pid;
	}
	return 0;
}

/* Any socket on the port that is the allocation's, held by a live process
 * other than gone. */
static bool owner_socket(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t gone)
{
	const struct pw_sock *s;

	for (s = held_sock(as, r, NULL); s; s = held_sock(as, r, s)) {
		if ((pid_t)s->pid != gone && pw_lease_class(as, r, s) == PW_CLASS_OWNER)
			return true;
	}
	return false;
}

bool pw_lease_unclaim(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t gone)
{
	struct pw_alloc a = r->a;
	int err;

	if (!r->met_hold.until)
		return false;
	if (r->met_hold.until <= pw_wall_ms()) {
		r->met_hold.until = 0;	/* the hold's time is over: the claim stands */
		return false;
	}
	if (owner_socket(as, r, gone))
		return false;
	a.pid = r->met_hold.pid;
	a.start_time = r->met_hold.start_time;
	memcpy(a.comm, r->met_hold.comm, sizeof(a.comm));
	a.hold_until = r->met_hold.until;
	a.daemon_owned = r->met_hold.daemon_owned;
	err = pw_journal_set_owner(as->journal, &a, false);
	if (err) {
		as->m.storage_errors_total++;
		return false;
	}
	pw_allocs_audit(as, 0, 0, "handover", "ok", a.port, a.id, a.service_type,
			"held again for a binder: pid %d (%.16s) left the port before the hold's "
			"deadline", r->a.pid, r->a.comm);
	pw_info("allocation %lld port %u (%s): held again: pid %d (%s) left the port before the "
		"hold's deadline", (long long)a.id, a.port, a.service_type, r->a.pid, r->a.comm);
	r->a = a;
	r->met_hold.until = 0;
	r->prev_tag_gen = 0;
	r->tag_gen = ++as->next_tag_gen;
	r->cnt.valid = false;
	pw_sm_rehold(&r->sm);
	pw_lease_arm_holds(as);
	return true;
}

bool pw_lease_try_handover(struct pw_allocs *as, struct pw_alloc_rt *r, const char *why)
{
	pid_t h = live_holder(as, r, r->a.pid);

	return h && !pw_lease_set_owner(as, r, h, why);
}

struct exited {
	pid_t pid, heir;
	uint64_t ts_ns;
};

/*
 * The owner left no holder of the allocation's sockets, but a child alive
 * at its exit (the kernel names it, the heir): a server that forked and let
 * the parent exit before it bound anything (daemon(3) before bind(), as
 * redis does). The child inherits, if its uid may own the allocation (the
 * same, or any for root's). A child already gone as well (the middle of a
 * double fork) inherits all the same: the kernel tracked it as the heir, so
 * its own exit follows this one and passes the allocation on or ends it.
 */
static bool inherit(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t heir)
{
	struct pw_proc p;
	int err = pw_proc_read(heir, &p);

	if (err == -ENOENT || err == -ESRCH) {
		p = (struct pw_proc){ .pid = heir, .uid = r->a.uid };
		snprintf(p.comm, sizeof(p.comm), "(gone)");
	} else if (err || (r->a.uid && p.uid != r->a.uid)) {
		return false;
	}
	return !set_owner(as, r, &p, false, "previous owner exited, leaving this child");
}

static void owner_exited(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	const struct exited *ex = ctx;
	struct pw_sm_verdict v;
	uint64_t now;

	if (r->a.pid != ex->pid)
		return;
	if (pw_lease_try_handover(as, r, "previous owner exited") ||
	    (ex->heir && inherit(as, r, ex->heir)) || pw_lease_unclaim(as, r, ex->pid)) {
		pw_allocs_observe(as, r, PW_SM_EV_EVENT);
		return;
	}
	/* held for a binder: the requester may go, the hold decides */
	if (r->a.hold_until > pw_wall_ms())
		return;
	pw_sm_owner_gone(&r->sm, &as->smp, true, pw_now_ms(), &v);
	now = pw_now_ns();
	if (v.changed && now > ex->ts_ns)
		pw_hist_record(&as->m.detect_latency, now - ex->ts_ns);
	pw_allocs_apply(as, r, &v);
}

void pw_lease_owner_exited(struct pw_allocs *as, pid_t pid, pid_t heir, uint64_t ts_ns)
{
	struct exited ex = { .pid = pid, .heir = heir, .ts_ns = ts_ns };

	if (!as)
		return;
	/* its pid may come back as another process: classes of it are void */
	for (size_t i = 0; i < ARRAY_SIZE(as->class_cache); i++)
		if (as->class_cache[i].pid == (uint32_t)pid)
			as->class_cache[i].pid = 0;
	pw_allocs_each(as, owner_exited, &ex);
}

/* --- holds ------------------------------------------------------------------ */

void pw_lease_arm_holds(struct pw_allocs *as)
{
	int64_t first = 0, now = pw_wall_ms();

	for (size_t i = 0; i < as->n; i++) {
		int64_t h = as->v[i].a.hold_until;

		if (h && (!first || h < first))
			first = h;
	}
	(void) pw_timerfd_arm(as->hold_io.fd, first ? (first > now ? (uint64_t)(first - now) : 1)
						    : 0, 0);
}

static void hold_tick(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	int64_t now = *(int64_t *)ctx;
	struct pw_alloc a;

	if (!r->a.hold_until || r->a.hold_until > now)
		return;
	/* nobody bound it: a requester still alive keeps it as any owner does */
	if (pw_proc_alive(r->a.pid, r->a.start_time)) {
		a = r->a;
		a.hold_until = 0;
		if (!pw_journal_set_owner(as->journal, &a, false))
			r->a.hold_until = 0;
		return;
	}
	as->m.stale_cleaned_total++;
	(void) pw_allocs_release(as, r, 0, 0, "hold expired");
}

static int on_hold(struct pw_io *io, uint32_t events)
{
	struct pw_allocs *as = io->data;
	int64_t now = pw_wall_ms();

	(void) events;
	pw_timerfd_ack(io->fd);
	pw_allocs_each(as, hold_tick, &now);
	pw_lease_arm_holds(as);
	return 0;
}

int pw_lease_start(struct pw_allocs *as)
{
	int r = pw_loop_add_timer(as->env.loop, &as->hold_io, on_hold, as);

	if (!r)
		pw_lease_arm_holds(as);
	return r;
}

void pw_lease_stop(struct pw_allocs *as)
{
	pw_loop_close_io(as->env.loop, &as->hold_io);
}
