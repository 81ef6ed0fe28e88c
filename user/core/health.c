// SPDX-License-Identifier: GPL-2.0
/*
 * Health (recovery layer 2): evidence into the state machine. Kernel events
 * and snapshot changes observe an allocation's port; an owner's exit event
 * is definitive; a grace timer expires closed ports; the polling fallback
 * checks owners by pid + start time, faster without BPF and after drops.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "allocs.h"
#include "config.h"
#include "proc.h"

/* Arm the grace timer for the earliest pending deadline. */
static void arm_grace(struct pw_allocs *as)
{
	uint64_t first = 0, now = pw_now_ms();

	for (size_t i = 0; i < as->n; i++) {
		uint64_t dl = as->v[i].sm.grace_deadline_ms;

		if (dl && (!first || dl < first))
			first = dl;
	}
	if (first)
		(void) pw_timerfd_arm(as->grace_io.fd, first > now ? first - now : 1, 0);
}

/* Counted at all: in the host netns, a holder known, not our test binds. */
static bool countable(const struct pw_allocs *as, const struct pw_sock *s)
{
	return (!as->env.self_netns || s->netns == as->env.self_netns) && s->pid &&
	       (pid_t)s->pid != as->self_pid;
}

/* One socket into (dir 1) or out of (dir -1) the port's counts. */
static void count_sock(struct pw_allocs *as, struct pw_alloc_rt *r, const struct pw_sock *s,
		       int dir)
{
	struct pw_port_count *c = &r->cnt;

	if (pw_lease_class(as, r, s) == PW_CLASS_OWNER) {
		c->owner += (uint32_t)dir;
		if (s->state == PW_SOCK_LISTENING)
			c->owner_listening += (uint32_t)dir;
		return;
	}
	c->foreign += (uint32_t)dir;
	if (dir > 0)
		c->foreign_pid = s->pid;
	else if (!c->foreign)
		c->foreign_pid = 0;
	/* else the remembered holder may have gone while others remain: the
	 * conflict still stands, named after a holder that had the port */
}

/* Count the port from scratch (O(sockets on it)); claim: a binder that meets
 * the hold, when one is pending. */
static void recount(struct pw_allocs *as, struct pw_alloc_rt *r, const struct pw_sock **claim)
{
	const struct pw_sock *s;

	r->cnt = (struct pw_port_count){ .valid = true };
	for (s = pw_portmap_port_first(as->env.map, r->a.port); s;
	     s = pw_portmap_port_next(as->env.map, s)) {
		if (!countable(as, s))
			continue;
		if (!*claim && r->a.hold_until && pw_lease_class(as, r, s) != PW_CLASS_OWNER &&
		    s->uid == r->a.uid)
			*claim = s;	/* held for a binder of the same uid (root's: root) */
		count_sock(as, r, s, 1);
	}
}

/* Run the state machine on the counts. */
static void judge(struct pw_allocs *as, struct pw_alloc_rt *r, enum pw_sm_evidence how)
{
	struct pw_sm_obs o = { .owner_socks = r->cnt.owner,
			       .owner_listening = r->cnt.owner_listening > 0,
			       .foreign_pid = r->cnt.foreign ? r->cnt.foreign_pid : 0 };
	uint64_t had_deadline = r->sm.grace_deadline_ms;
	struct pw_sm_verdict v;

	pw_sm_observe(&r->sm, &as->smp, &o, how, pw_now_ms(), &v);
	if (r->sm.grace_deadline_ms && !had_deadline)
		arm_grace(as);
	pw_allocs_apply(as, r, &v);
}

void pw_allocs_observe(struct pw_allocs *as, struct pw_alloc_rt *r, enum pw_sm_evidence how)
{
	const struct pw_sock *claim = NULL;

	recount(as, r, &claim);
	if (r->a.hold_until && (claim || r->cnt.owner)) {
		/* the hold is met: the first binder outside the requester's tree
		 * becomes the owner, a bind inside it just ends the hold; until
		 * the hold's deadline the requester is kept, to go back to */
		struct pw_alloc held = r->a;

		if (claim ? !pw_lease_set_owner(as, r, (pid_t)claim->pid,
						"bound the held port")
			  : !pw_lease_set_owner(as, r, r->a.pid, "the requester bound the held port")) {
			r->met_hold.until = held.hold_until;
			r->met_hold.pid = held.pid;
			r->met_hold.start_time = held.start_time;
			memcpy(r->met_hold.comm, held.comm, sizeof(r->met_hold.comm));
			r->met_hold.daemon_owned = held.daemon_owned;
			pw_lease_arm_holds(as);
			pw_allocs_observe(as, r, how);
			return;
		}
	}
	/* the binder left before the hold's deadline: held again (not stale) */
	if (!r->cnt.owner && r->met_hold.until && pw_lease_unclaim(as, r, 0)) {
		pw_allocs_observe(as, r, how);
		return;
	}
	judge(as, r, how);
}

void pw_allocs_port_changed(struct pw_allocs *as, uint16_t port)
{
	struct pw_alloc_rt *r = as ? pw_allocs_by_port(as, port) : NULL;

	if (r)
		r->cnt.valid = false;
}

void pw_allocs_on_event(struct pw_allocs *as, const struct pw_event *ev, const struct pw_sock *s,
			int change, bool from_kernel)
{
	enum pw_sm_evidence how = from_kernel ? PW_SM_EV_EVENT : PW_SM_EV_POLL;
	struct pw_alloc_rt *r;

	/* an exit is settled once the process's files are closed and its
	 * sockets' holders are known: pw_lease_owner_exited() */
	if (ev->kind == PW_EV_EXIT)
		return;
	if (as->env.self_netns && ev->netns != as->env.self_netns)
		return;
	r = pw_allocs_by_port(as, ev->port);
	if (!r)
		return;
	/* O(1): one socket in or out of the counts, when they are current and
	 * nothing needs the whole port (a pending hold looks for its binder) */
	if (!r->cnt.valid || r->a.hold_until || r->met_hold.until || !s ||
	    (change == PW_PM_REMOVED && s->pid && s->tag_gen != r->tag_gen)) {
		pw_allocs_observe(as, r, how);
		return;
	}
	switch (change) {
	case PW_PM_ADDED:
		if (countable(as, s))
			count_sock(as, r, s, 1);
		break;
	case PW_PM_REMOVED:
		if (countable(as, s))
			count_sock(as, r, s, -1);
		break;
	case PW_PM_UPDATED:
		/* listen / unlisten of a counted socket */
		if (countable(as, s) && pw_lease_class(as, r, s) == PW_CLASS_OWNER)
			r->cnt.owner_listening += s->state == PW_SOCK_LISTENING ? 1 : (uint32_t)-1;
		break;
	default:
		/* a refresh may have named a holder: count again */
		pw_allocs_observe(as, r, how);
		return;
	}
	judge(as, r, how);
}

static void observe_polled(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	(void) ctx;
	pw_allocs_observe(as, r, PW_SM_EV_POLL);
}

void pw_allocs_after_snapshot(struct pw_allocs *as)
{
	pw_allocs_each(as, observe_polled, NULL);
}

static void grace_tick(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	struct pw_sm_verdict v;

	pw_sm_tick(&r->sm, &as->smp, *(uint64_t *)ctx, &v);
	pw_allocs_apply(as, r, &v);
}

static int on_grace(struct pw_io *io, uint32_t events)
{
	struct pw_allocs *as = io->data;
	uint64_t now = pw_now_ms();

	(void) events;
	pw_timerfd_ack(io->fd);
	pw_allocs_each(as, grace_tick, &now);
	arm_grace(as);
	return 0;
}

/* Polling fallback: owners by pid + start time, counted against max_failures. */
/* How long polling stays primary after drops: a few fast rounds past
 * max_failures, so a dropped exit is detected on polled evidence. */
#define FAST_AFTER_DROPS_ROUNDS 10

static void arm_health(struct pw_allocs *as, unsigned interval_ms)
{

	if (as->health_interval_ms == interval_ms)
		return;
	as->health_interval_ms = interval_ms;
	(void) pw_timerfd_arm(as->health_io.fd, interval_ms, interval_ms);
}

void pw_allocs_on_drops(struct pw_allocs *as)
{
	const struct pw_config *cfg = as ? as->env.cfg : NULL;
	unsigned fast;

	if (!as)
		return;
	fast = (unsigned)cfg->health.fast_interval_ms;
	as->fast_until_ms = pw_now_ms() +
		(uint64_t)fast * (FAST_AFTER_DROPS_ROUNDS + (uint64_t)cfg->health.max_failures);
	arm_health(as, fast);
}

/* Polled evidence: counted against max_failures by the state machine. */
static void poll_owner(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx)
{
	uint64_t now = *(uint64_t *)ctx;
	struct pw_sm_verdict v = { 0 };

	if (pw_proc_alive(r->a.pid, r->a.start_time)) {
		pw_sm_owner_alive(&r->sm, now);
	} else if (pw_lease_try_handover(as, r, "previous owner is gone") ||
		   pw_lease_unclaim(as, r, r->a.pid)) {
		pw_allocs_observe(as, r, PW_SM_EV_POLL);
		return;
	} else if (r->a.hold_until > pw_wall_ms()) {
		return;	/* held for a binder: the hold decides */
	} else {
		pw_sm_owner_gone(&r->sm, &as->smp, false, now, &v);
	}
	pw_allocs_apply(as, r, &v);
}

static int on_health_poll(struct pw_io *io, uint32_t events)
{
	struct pw_allocs *as = io->data;
	const struct pw_config *cfg = as->env.cfg;
	uint64_t now = pw_now_ms();

	(void) events;
	pw_timerfd_ack(io->fd);
	as->m.health_polls_total++;
	/* drops are behind us: events are the primary source again */
	if (as->fast_until_ms && now >= as->fast_until_ms && !as->env.polling) {
		as->fast_until_ms = 0;
		if (cfg->health.enabled) {
			arm_health(as, (unsigned)cfg->health.check_interval_ms);
		} else {
			(void) pw_timerfd_arm(io->fd, 0, 0);
			as->health_interval_ms = 0;
		}
	}
	pw_allocs_each(as, poll_owner, &now);
	return 0;
}

void pw_allocs_config_changed(struct pw_allocs *as, const struct pw_config *cfg)
{
	if (!as)
		return;
	as->env.cfg = cfg;
	as->smp.grace_ms = (uint32_t)cfg->health.grace_period_ms;
	as->smp.max_failures = (uint32_t)cfg->health.max_failures;
	as->smp.cleanup_stale = cfg->health.cleanup_stale_allocations;
	if (as->env.polling || as->fast_until_ms) {
		arm_health(as, (unsigned)cfg->health.fast_interval_ms);
	} else if (cfg->health.enabled) {
		arm_health(as, (unsigned)cfg->health.check_interval_ms);
	} else {
		(void) pw_timerfd_arm(as->health_io.fd, 0, 0);
		as->health_interval_ms = 0;
	}
}

int pw_health_start(struct pw_allocs *as)
{
	const struct pw_config *cfg = as->env.cfg;
	int r;

	r = pw_loop_add_timer(as->env.loop, &as->grace_io, on_grace, as);
	if (!r)
		r = pw_loop_add_timer(as->env.loop, &as->health_io, on_health_poll, as);
	if (r)
		return r;
	/* event evidence is primary; polls are the fallback, faster without BPF */
	if (as->env.polling)
		arm_health(as, (unsigned)cfg->health.fast_interval_ms);
	else if (cfg->health.enabled)
		arm_health(as, (unsigned)cfg->health.check_interval_ms);
	return pw_lease_start(as);
}

void pw_health_stop(struct pw_allocs *as)
{
	pw_lease_stop(as);
	pw_loop_close_io(as->env.loop, &as->grace_io);
	pw_loop_close_io(as->env.loop, &as->health_io);
}
