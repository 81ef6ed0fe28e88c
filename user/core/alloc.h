/* SPDX-License-Identifier: GPL-2.0 */
/* An allocation: a port handed to an owner process. Shared by store, policy, daemon. */
#ifndef PW_ALLOC_H
#define PW_ALLOC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum pw_alloc_state {
	PW_ALLOC_RESERVED = 0,	/* allocated, not yet bound */
	PW_ALLOC_BOUND,		/* bound by the owner (or a descendant) */
	PW_ALLOC_LISTENING,	/* TCP listening by the owner tree */
	PW_ALLOC_STALE,		/* owner gone, or port closed past the grace period */
	PW_ALLOC_CONFLICT,	/* bound by a process outside the owner tree */
	PW_ALLOC_UNHEALTHY,	/* an active check fails */
	PW_ALLOC_ADOPTED,	/* rebuilt from a live socket after state loss */
	PW_ALLOC_STATE_MAX,
};

#define PW_NAME_MAX 128
#define PW_TYPE_MAX 64
#define PW_PROJECT_MAX 512

struct pw_alloc {
	int64_t id;			/* > 0 once stored */
	char service_type[PW_TYPE_MAX];
	char name[PW_NAME_MAX];		/* may be empty */
	uint16_t port;
	pid_t pid;			/* owner */
	uint64_t start_time;		/* owner's /proc/PID/stat start time (ticks since boot) */
	uid_t uid;			/* uid the allocation belongs to */
	char comm[16];
	enum pw_alloc_state state;
	int64_t created_at;		/* unix time, milliseconds */
	char project[PW_PROJECT_MAX];	/* may be empty */
	bool adopted;			/* rebuilt from a live socket (sticky) */
	int64_t hold_until;		/* unix ms: held for a binder until then; 0 none */
	/* owned by the daemon itself (Styxy's allocations for no live
	 * instance): whichever daemon runs owns it, across restarts */
	bool daemon_owned;
};

const char *pw_alloc_state_name(enum pw_alloc_state s);
/* -1 when unknown */
int pw_alloc_state_parse(const char *s);

#endif
