/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The allocation state machine (recovery layer 2), driven by evidence:
 * kernel events (definitive), polls (counted against max_failures), active
 * check results and timer ticks. Pure: no I/O, the caller passes the time
 * and what it observed, and acts on the returned verdict.
 *
 *   reserved -> bound/listening -> stale -> (released)
 *        \          |      ^
 *         +---> conflict --+     unhealthy <-> bound/listening
 */
#ifndef PW_ALLOCSM_H
#define PW_ALLOCSM_H

#include <stdbool.h>
#include <stdint.h>
#include "alloc.h"

struct pw_sm_params {
	uint32_t grace_ms;		/* closed port tolerated this long */
	uint32_t max_failures;		/* polls in a row before acting */
	bool cleanup_stale;		/* release stale allocations */
};

/* What the port map says about an allocation's port right now. */
struct pw_sm_obs {
	unsigned owner_socks;		/* sockets held by the owner tree */
	bool owner_listening;
	uint32_t foreign_pid;		/* a socket held outside the owner tree, 0 = none */
};

enum pw_sm_evidence {
	PW_SM_EV_NONE = 0,
	PW_SM_EV_EVENT,
	PW_SM_EV_POLL,
	PW_SM_EV_CHECK,
	PW_SM_EV_TIMER,
};

struct pw_sm {
	enum pw_alloc_state state;
	enum pw_alloc_state base;	/* state the port observations imply */
	bool ever_bound;
	uint64_t grace_deadline_ms;	/* 0: not armed */
	unsigned poll_failures;
	bool check_failing;
	uint32_t conflict_pid;
	enum pw_sm_evidence last_evidence;
	uint64_t last_evidence_ms;
};

struct pw_sm_verdict {
	bool changed;
	enum pw_alloc_state old_state, state;
	char reason[96];
	bool release;			/* stale and cleanup_stale: release it now */
};

void pw_sm_init(struct pw_sm *sm, enum pw_alloc_state initial);
/* The owner (pid + start time) is gone. definitive: from a kernel event or a
 * /proc start-time mismatch seen by the caller; otherwise a poll failure. */
void pw_sm_owner_gone(struct pw_sm *sm, const struct pw_sm_params *p, bool definitive,
		      uint64_t now_ms, struct pw_sm_verdict *v);
void pw_sm_owner_alive(struct pw_sm *sm, uint64_t now_ms);
void pw_sm_observe(struct pw_sm *sm, const struct pw_sm_params *p, const struct pw_sm_obs *o,
		   enum pw_sm_evidence how, uint64_t now_ms, struct pw_sm_verdict *v);
void pw_sm_check(struct pw_sm *sm, const struct pw_sm_params *p, bool healthy, uint64_t now_ms,
		 struct pw_sm_verdict *v);
/* Timer: expire the grace period. */
/* Back to waiting for a first bind (a hold returned to its requester): the
 * next observation judges the port as never bound, "reserved" when free. */
void pw_sm_rehold(struct pw_sm *sm);
void pw_sm_tick(struct pw_sm *sm, const struct pw_sm_params *p, uint64_t now_ms,
		struct pw_sm_verdict *v);

#endif
