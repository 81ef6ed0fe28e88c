/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by styxy.c (listener, auth, routing, instances, status endpoints)
 * and styxy_alloc.c (allocation endpoints). */
#ifndef PW_STYXY_INT_H
#define PW_STYXY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "http.h"
#include "styxy.h"

struct pw_alloc_rt;

/* Claude Code instances that registered (in memory, as Styxy keeps them
 * until it restarts). */
struct styxy_instance {
	char id[128];
	char *working_directory;
	int64_t registered_ms, heartbeat_ms;
	json_t *metadata;
	pid_t pid;			/* 0: unknown; set from metadata.pid / pid */
	uint64_t start_time;		/* of pid, when known */
};

/* What Styxy knows of an allocation that portwatch does not store. */
struct styxy_meta {
	int64_t alloc_id;
	char instance_id[128];
};

struct pw_styxy {
	struct pw_daemon *d;
	struct pw_http *http;
	char token[129];
	char token_file[512];
	uid_t token_uid;		/* the token file's owner: allocations belong to it */
	struct styxy_instance *inst;
	size_t n_inst, cap_inst;
	struct styxy_meta *meta;
	size_t n_meta, cap_meta;
	int64_t last_cleanup_ms;
	uint64_t requests, unauthorized;
};

/* Styxy's answers */
void styxy_error(struct pw_http_req *rq, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A reply that stands only if the open group commit succeeds. */
/* Answer once the write it reports is durable (alloc_id: an allocation it
 * reports, released again if the answer times out first). */
void styxy_reply_settled(struct pw_styxy *s, struct pw_http_req *rq, unsigned status, json_t *obj,
			 int64_t alloc_id);

/* "xxxxxxxx-0000-4000-8000-<id in 12 hex>": a UUID v4 shape Styxy's
 * validator accepts, stable for an allocation. */
void styxy_lock_id(const struct pw_alloc_rt *r, char out[37]);
/* The allocation a lock id names, NULL when none or stale. -EINVAL: not a UUID. */
int styxy_lock_lookup(struct pw_styxy *s, const char *lock, struct pw_alloc_rt **ret);
/* Styxy's allocation object (snake and camel case, as its daemon mixes them). */
json_t *styxy_alloc_json(struct pw_styxy *s, const struct pw_alloc_rt *r);
const char *styxy_meta_instance(struct pw_styxy *s, int64_t alloc_id);
int styxy_meta_set(struct pw_styxy *s, int64_t alloc_id, const char *instance_id);
struct styxy_instance *styxy_instance_find(struct pw_styxy *s, const char *id);
/* ISO 8601 UTC with milliseconds, as JavaScript's toISOString(). */
void styxy_iso(int64_t ms, char out[32]);

/* styxy_alloc.c */
void styxy_allocate(struct pw_styxy *s, struct pw_http_req *rq);
void styxy_release(struct pw_styxy *s, struct pw_http_req *rq, const char *lock);
void styxy_check(struct pw_styxy *s, struct pw_http_req *rq, const char *port);
void styxy_allocations(struct pw_styxy *s, struct pw_http_req *rq);
void styxy_scan(struct pw_styxy *s, struct pw_http_req *rq);
void styxy_suggest(struct pw_styxy *s, struct pw_http_req *rq, const char *type);
void styxy_cleanup(struct pw_styxy *s, struct pw_http_req *rq);

/* The request body as a JSON object ({} when empty); NULL with a 400 sent. */
json_t *styxy_body_object(struct pw_http_req *rq);

#endif
