/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Durable state: allocations and the audit trail in SQLite (WAL,
 * synchronous=FULL) at DIR/state.db. A write is durable when the call that
 * commits it returns 0. All int returns are 0 or a negative errno:
 * -ENOSPC disk full, -EBADMSG corrupt, -EBUSY locked by another process,
 * -EEXIST port already allocated, -EINVAL rejected by a schema check,
 * -ENOMEM, else -EIO; pw_store_errmsg() says what SQLite said.
 * Not thread safe: one struct pw_store per thread.
 */
#ifndef PW_STORE_H
#define PW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "alloc.h"

#define PW_STORE_DB_NAME "state.db"
/* The schema version this build creates and understands. */
#define PW_STORE_SCHEMA_VERSION 3

struct pw_store;

struct pw_store_info {
	char message[256];	/* why open failed, or what it did (created, migrated) */
	int schema_version;	/* found on disk (failure) or now in use (success) */
	bool created;		/* the database was empty and got a new schema */
	/* the generation counter (store_gen.c): the database's and the file's;
	 * regressed when the file is ahead: acknowledged commits were lost */
	bool regressed;
	int64_t gen_db, gen_file;
};

/*
 * Open (creating DIR 0700 and the database as needed), check, migrate. The
 * connection holds the database exclusively (locking_mode EXCLUSIVE, set
 * before its first read): the WAL index is on the heap, not in a mapped
 * -shm file, so no other connection or process reads it while it is open.
 * The full integrity_check runs here and a later pw_store_integrity_check()
 * with no row changed in between reuses its verdict; only what
 * quick_check finds refuses the file.
 * -EBADMSG: not a database, not portwatch's, or the check failed;
 * -EPROTO: written by a newer portwatchd (the file is left unchanged).
 * Both leave *ret untouched and say why in info->message; the caller decides
 * whether to pw_store_move_aside() and start empty. info may be NULL.
 */
int pw_store_open(const char *dir, struct pw_store **ret, struct pw_store_info *info);
/* Durable group commits so far (also in DIR/generation). */
int64_t pw_store_generation(const struct pw_store *s);
/* Rollback an open group, checkpoint the WAL, close. NULL ok. */
void pw_store_close(struct pw_store *s);
/* The last error's message; "" when none. Never NULL. */
const char *pw_store_errmsg(struct pw_store *s);
/* Full PRAGMA integrity_check: 0 when "ok", -EBADMSG with its first lines in msg. */
int pw_store_integrity_check(struct pw_store *s, char *msg, size_t len);
/*
 * Rename DIR/state.db and its -wal/-shm to state.db.corrupt.YYYYmmddTHHMMSSZ
 * (UTC; a ".N" suffix when taken), never deleting anything. The store must be
 * closed. newpath receives the database's new path. -ENOENT when there is none.
 */
int pw_store_move_aside(const char *dir, char *newpath, size_t len);

/*
 * Group commit: everything between begin and a successful commit becomes
 * durable at once, or (rollback, failed commit, crash) not at all. The calls
 * below work inside a group and outside (then each commits on its own).
 * If SQLite aborts the group (disk full, I/O error), every later call and the
 * commit return that error: nothing of the group was stored.
 * begin: -EALREADY inside a group; commit: -EINVAL outside one.
 */
int pw_store_begin(struct pw_store *s);
/*
 * Between transactions: fsync every commit (the default, synchronous=FULL),
 * or not (synchronous=NORMAL: in WAL mode a commit still survives the
 * daemon's own crash, not a power loss, and the next FULL commit makes it
 * durable too). -EBUSY inside a group.
 */
int pw_store_set_sync(struct pw_store *s, bool fsync_each_commit);
int pw_store_commit(struct pw_store *s);
void pw_store_rollback(struct pw_store *s);

/* The id the next insert without one would get (ids are never reused). */
int pw_store_next_id(struct pw_store *s, int64_t *id);
/*
 * Insert a->* and set a->id: a->id > 0 is used as given (an -EEXIST when
 * taken), else the next one. created_at 0 is set to now;
 * adopted is set when state is PW_ALLOC_ADOPTED.
 * -EEXIST when a->port is held by another allocation, in any state.
 */
int pw_store_insert(struct pw_store *s, struct pw_alloc *a);
/* -ENOENT when no allocation has this id. Setting ADOPTED also sets adopted, for good. */
int pw_store_set_state(struct pw_store *s, int64_t id, enum pw_alloc_state st);
/* The owner changed (handover, a held port bound): pid, start time, comm, hold. */
int pw_store_set_owner(struct pw_store *s, const struct pw_alloc *a);
/* Release. -ENOENT when no allocation has this id. */
int pw_store_delete(struct pw_store *s, int64_t id);
/* All allocations ordered by id into a malloc'ed array (NULL when none). */
int pw_store_load_all(struct pw_store *s, struct pw_alloc **out, size_t *n);
int pw_store_count(struct pw_store *s, size_t *n);

struct pw_audit {
	int64_t id;			/* set by the store */
	int64_t ts_ms;			/* unix time in ms; 0 on add means now */
	uid_t uid;			/* who asked */
	pid_t pid;
	char action[16];		/* allocate, release, refuse, conflict, state, recover */
	char outcome[16];		/* ok, denied, error, ... */
	uint16_t port;			/* 0 when none */
	int64_t alloc_id;		/* 0 when none */
	char service_type[PW_TYPE_MAX];
	char detail[256];
};

/* Append one record; a->action must not be empty (-EINVAL). */
int pw_store_audit_add(struct pw_store *s, const struct pw_audit *a);
/*
 * Records with id > after_id, oldest first, at most limit (0: no limit):
 * call again with the last id to page or follow. after_id < 0: the newest
 * limit records, still oldest first. *out is malloc'ed (NULL when none).
 */
int pw_store_audit_list(struct pw_store *s, int64_t after_id, size_t limit,
			struct pw_audit **out, size_t *n);
/* The after_id that pages through the newest limit records (0: all). */
int pw_store_audit_tail_start(struct pw_store *s, size_t limit, int64_t *after_id);
/* Retention: delete at most batch of the oldest records beyond the newest
 * max_records or older than min_ts_ms; *deleted says how many went. */
int pw_store_audit_prune(struct pw_store *s, size_t max_records, int64_t min_ts_ms, size_t batch,
			 size_t *deleted);

#endif
