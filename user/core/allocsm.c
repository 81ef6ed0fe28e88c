// SPDX-License-Identifier: GPL-2.0
/* Allocation state machine. Pure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "allocsm.h"

void pw_sm_init(struct pw_sm *sm, enum pw_alloc_state initial)
{
	memset(sm, 0, sizeof(*sm));
	sm->state = initial;
	/* restored from the store or adopted: these say the owner had bound the
	 * port, so a closed port gets the grace period and a passing check does
	 * not turn them into "reserved" */
	switch (initial) {
	case PW_ALLOC_BOUND:
	case PW_ALLOC_LISTENING:
	case PW_ALLOC_ADOPTED:
		sm->base = initial;
		sm->ever_bound = true;
		break;
	case PW_ALLOC_UNHEALTHY:
		sm->base = PW_ALLOC_BOUND;
		sm->ever_bound = true;
		sm->check_failing = true;
		break;
	default:
		sm->base = PW_ALLOC_RESERVED;
		break;
	}
}

static void verdict(struct pw_sm *sm, const struct pw_sm_params *p, enum pw_alloc_state to,
		    struct pw_sm_verdict *v, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void verdict(struct pw_sm *sm, const struct pw_sm_params *p, enum pw_alloc_state to,
		    struct pw_sm_verdict *v, const char *fmt, ...)
{
	va_list ap;

	memset(v, 0, sizeof(*v));
	v->old_state = sm->state;
	v->state = to;
	if (sm->state == to)
		return;
	v->changed = true;
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	sm->state = to;
	v->release = to == PW_ALLOC_STALE && p->cleanup_stale;
}

static void evidence(struct pw_sm *sm, enum pw_sm_evidence how, uint64_t now_ms)
{
	sm->last_evidence = how;
	sm->last_evidence_ms = now_ms;
}

void pw_sm_owner_gone(struct pw_sm *sm, const struct pw_sm_params *p, bool definitive,
		      uint64_t now_ms, struct pw_sm_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->old_state = v->state = sm->state;
	if (sm->state == PW_ALLOC_STALE)
		return;
	evidence(sm, definitive ? PW_SM_EV_EVENT : PW_SM_EV_POLL, now_ms);
	if (definitive) {
		verdict(sm, p, PW_ALLOC_STALE, v, "owner exited");
		return;
	}
	/* polled evidence needs max_failures in a row */
	if (++sm->poll_failures >= p->max_failures)
		verdict(sm, p, PW_ALLOC_STALE, v, "owner gone for %u polls", sm->poll_failures);
}

void pw_sm_owner_alive(struct pw_sm *sm, uint64_t now_ms)
{
	sm->poll_failures = 0;
	evidence(sm, PW_SM_EV_POLL, now_ms);
}

/* The state the observations and the check imply, when nothing is stale. */
static enum pw_alloc_state settled(const struct pw_sm *sm)
{
	if (sm->conflict_pid)
		return PW_ALLOC_CONFLICT;
	if (sm->check_failing && sm->base != PW_ALLOC_RESERVED)
		return PW_ALLOC_UNHEALTHY;
	return sm->base;
}

void pw_sm_observe(struct pw_sm *sm, const struct pw_sm_params *p, const struct pw_sm_obs *o,
		   enum pw_sm_evidence how, uint64_t now_ms, struct pw_sm_verdict *v)
{
	enum pw_alloc_state to;

	memset(v, 0, sizeof(*v));
	v->old_state = v->state = sm->state;
	if (sm->state == PW_ALLOC_STALE)
		return;
	evidence(sm, how, now_ms);
	sm->conflict_pid = o->foreign_pid;
	if (o->owner_socks) {
		sm->ever_bound = true;
		sm->grace_deadline_ms = 0;
		sm->base = o->owner_listening ? PW_ALLOC_LISTENING : PW_ALLOC_BOUND;
	} else if (sm->ever_bound) {
		/* closed: stale only if not bound again within the grace period */
		if (!sm->grace_deadline_ms)
			sm->grace_deadline_ms = now_ms + p->grace_ms;
	} else {
		sm->base = PW_ALLOC_RESERVED;
	}
	to = settled(sm);
	if (to == PW_ALLOC_CONFLICT)
		verdict(sm, p, to, v, "port bound by pid %lu outside the owner's process tree",
			(unsigned long)o->foreign_pid);
	else if (v->old_state == PW_ALLOC_CONFLICT)
		verdict(sm, p, to, v, "conflicting socket gone");
	else if (to == PW_ALLOC_LISTENING)
		verdict(sm, p, to, v, "owner listening");
	else if (to == PW_ALLOC_BOUND)
		verdict(sm, p, to, v, v->old_state == PW_ALLOC_LISTENING ? "owner stopped listening"
									: "owner bound the port");
	else
		verdict(sm, p, to, v, "port free");
}

void pw_sm_check(struct pw_sm *sm, const struct pw_sm_params *p, bool healthy, uint64_t now_ms,
		 struct pw_sm_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->old_state = v->state = sm->state;
	if (sm->state == PW_ALLOC_STALE)
		return;
	evidence(sm, PW_SM_EV_CHECK, now_ms);
	/* nothing to check before the owner binds: a failure then is no evidence,
	 * and must not make the first bind "unhealthy" */
	sm->check_failing = !healthy && sm->base != PW_ALLOC_RESERVED;
	verdict(sm, p, settled(sm), v, healthy ? "health check passes again"
					       : "health check failing");
}

void pw_sm_tick(struct pw_sm *sm, const struct pw_sm_params *p, uint64_t now_ms,
		struct pw_sm_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->old_state = v->state = sm->state;
	if (sm->state == PW_ALLOC_STALE || !sm->grace_deadline_ms || now_ms < sm->grace_deadline_ms)
		return;
	sm->grace_deadline_ms = 0;
	evidence(sm, PW_SM_EV_TIMER, now_ms);
	verdict(sm, p, PW_ALLOC_STALE, v, "port closed for longer than the grace period (%u ms)",
		p->grace_ms);
}

void pw_sm_rehold(struct pw_sm *sm)
{
	if (sm->state == PW_ALLOC_STALE)
		return;
	sm->base = PW_ALLOC_RESERVED;
	sm->ever_bound = false;
	sm->grace_deadline_ms = 0;
	sm->poll_failures = 0;
	sm->check_failing = false;
}
