/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allocate a port (recovery layer 1): the policy's next candidate, a test
 * bind with the kernel side quiet, conflicts marked and audited, the next
 * candidate after an exponential backoff on a timer (the loop serves others
 * meanwhile), and a durable add that joins the batch's group commit. Ends in
 * one call of the done() callback; the caller only parses and formats.
 */
#ifndef PW_ALLOCATE_H
#define PW_ALLOCATE_H

#include "alloc.h"
#include "alloc_policy.h"
#include "proto.h"

struct pw_allocs;
struct pw_alloc_rt;
struct pw_service_type;

struct pw_allocate_req {
	const struct pw_service_type *t;
	struct pw_alloc a;		/* owner, uid, name, project; the port is chosen */
	uint16_t requested;		/* 0: none */
	uint32_t hold_ms;		/* held for a binder this long after the requester; 0: no */
	uid_t caller_uid;		/* for the audit */
	pid_t caller_pid;
};

/* A candidate whose test bind failed. */
struct pw_conflict {
	uint16_t port;
	char reason[128];
};

struct pw_allocate_result {
	enum pw_errcode code;		/* PW_E_OK, or why not */
	const char *message;		/* a sentence when code is not PW_E_OK */
	struct pw_alloc_rt *r;		/* the allocation when PW_E_OK */
	const struct pw_conflict *conflicts;
	size_t n_conflicts;
};

/* Called once per request, possibly before pw_allocate() returns; res and
 * what it points to live only for the call. */
typedef void (*pw_allocate_done_fn)(void *ctx, const struct pw_allocate_result *res);

/* Start allocating; done() is called exactly once (also on ENOMEM here). */
void pw_allocate(struct pw_allocs *as, const struct pw_allocate_req *rq,
		 pw_allocate_done_fn done, void *ctx);
/* At shutdown: every request still in backoff ends with PW_E_INTERNAL. */
void pw_allocate_cancel_all(struct pw_allocs *as);

/* The policy's view of the world: the index, the live map, conflict marks. */
struct pw_port_view pw_allocate_view(struct pw_allocs *as);

/* A refused request: counted and audited (outcome "denied" or "error"). */
void pw_allocate_refused(struct pw_allocs *as, uid_t uid, pid_t pid, const char *outcome,
			 uint16_t port, const char *type, const char *msg);
/* Per-uid limits of the config (root has none): PW_E_OK, or PW_E_DENIED with a
 * sentence naming the limit. */
enum pw_errcode pw_allocate_limits(struct pw_allocs *as, uid_t uid, const char *type, char *err,
				   size_t errlen);
/* The live allocation of a single-instance type, NULL when none. */
struct pw_alloc_rt *pw_allocate_singleton(struct pw_allocs *as, const char *type);

#endif
