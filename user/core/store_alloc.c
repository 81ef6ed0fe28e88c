// SPDX-License-Identifier: GPL-2.0
/* The allocations table: insert, state change, release, load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "store_int.h"

#define ALLOC_COLS \
	"id, service_type, name, port, pid, start_time, uid, comm, state, created_at, project," \
	" adopted, hold_until, daemon_owned"

static int bind_alloc(sqlite3_stmt *st, const struct pw_alloc *a, int64_t created)
{
	int rc;

	rc = store_bind_buf(st, 1, a->service_type, sizeof(a->service_type));
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 2, a->name, sizeof(a->name));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, a->port);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, a->pid);
	/* Ticks since boot fit in 63 bits; stored as the same bits either way. */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, (int64_t)a->start_time);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, a->uid);
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 7, a->comm, sizeof(a->comm));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 8, pw_alloc_state_name(a->state), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 9, created);
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 10, a->project, sizeof(a->project));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 11, a->adopted || a->state == PW_ALLOC_ADOPTED);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 12, a->hold_until);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 14, a->daemon_owned);
	return rc;
}

int pw_store_insert(struct pw_store *s, struct pw_alloc *a)
{
	int64_t created = a->created_at ? a->created_at : store_now_ms();
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	if ((unsigned int)a->state >= PW_ALLOC_STATE_MAX) {
		snprintf(s->errmsg, sizeof(s->errmsg), "insert: invalid state %d", a->state);
		return -EINVAL;
	}
	err = store_prepare(s, ST_INSERT,
			    "INSERT INTO allocations (service_type, name, port, pid, start_time,"
			    " uid, comm, state, created_at, project, adopted, hold_until, id,"
			    " daemon_owned)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
			    &st);
	if (err)
		return err;
	rc = bind_alloc(st, a, created);
	/* NULL: the next id; a caller that numbers its own (the journal) gives it */
	if (rc == SQLITE_OK)
		rc = a->id > 0 ? sqlite3_bind_int64(st, 13, a->id) : sqlite3_bind_null(st, 13);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "insert: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	err = store_step_done(s, st, "insert");
	if (err)
		return err;
	a->id = sqlite3_last_insert_rowid(s->db);
	a->created_at = created;
	a->adopted = a->adopted || a->state == PW_ALLOC_ADOPTED;
	return 0;
}

/* Run a prepared UPDATE/DELETE on one id: -ENOENT when it touched no row. */
static int change_one(struct pw_store *s, sqlite3_stmt *st, int64_t id, const char *what)
{
	int err;

	err = store_step_done(s, st, what);
	if (err)
		return err;
	if (!sqlite3_changes(s->db)) {
		snprintf(s->errmsg, sizeof(s->errmsg), "%s: no allocation %lld", what,
			 (long long)id);
		return -ENOENT;
	}
	return 0;
}

int pw_store_set_state(struct pw_store *s, int64_t id, enum pw_alloc_state state)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	if ((unsigned int)state >= PW_ALLOC_STATE_MAX) {
		snprintf(s->errmsg, sizeof(s->errmsg), "set_state: invalid state %d", state);
		return -EINVAL;
	}
	/* adopted sticks: an adopted allocation that later binds was still adopted. */
	err = store_prepare(s, ST_SET_STATE,
			    "UPDATE allocations SET state = ?2, adopted = (adopted OR ?3)"
			    " WHERE id = ?1", &st);
	if (err)
		return err;
	rc = sqlite3_bind_int64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, pw_alloc_state_name(state), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, state == PW_ALLOC_ADOPTED);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "set_state: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	return change_one(s, st, id, "set_state");
}

int pw_store_set_owner(struct pw_store *s, const struct pw_alloc *a)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	err = store_prepare(s, ST_SET_OWNER,
			    "UPDATE allocations SET pid = ?2, start_time = ?3, comm = ?4,"
			    " hold_until = ?5, daemon_owned = ?6 WHERE id = ?1", &st);
	if (err)
		return err;
	rc = sqlite3_bind_int64(st, 1, a->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->pid);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (int64_t)a->start_time);
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 4, a->comm, sizeof(a->comm));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, a->hold_until);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 6, a->daemon_owned);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "set_owner: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	return change_one(s, st, a->id, "set_owner");
}

int pw_store_delete(struct pw_store *s, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	err = store_prepare(s, ST_DELETE, "DELETE FROM allocations WHERE id = ?1", &st);
	if (err)
		return err;
	rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK)
		return store_fail(s, rc, "delete: bind");
	return change_one(s, st, id, "delete");
}

/* One row of ALLOC_COLS into @a: -EBADMSG for a state this build does not know. */
static int read_alloc(struct pw_store *s, sqlite3_stmt *st, struct pw_alloc *a)
{
	char state[32];
	int parsed;

	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	store_copy_text(a->service_type, sizeof(a->service_type), st, 1);
	store_copy_text(a->name, sizeof(a->name), st, 2);
	a->port = (uint16_t)sqlite3_column_int(st, 3);
	a->pid = (pid_t)sqlite3_column_int64(st, 4);
	a->start_time = (uint64_t)sqlite3_column_int64(st, 5);
	a->uid = (uid_t)sqlite3_column_int64(st, 6);
	store_copy_text(a->comm, sizeof(a->comm), st, 7);
	store_copy_text(state, sizeof(state), st, 8);
	a->created_at = sqlite3_column_int64(st, 9);
	store_copy_text(a->project, sizeof(a->project), st, 10);
	a->adopted = sqlite3_column_int(st, 11) != 0;
	a->hold_until = sqlite3_column_int64(st, 12);
	a->daemon_owned = sqlite3_column_int(st, 13) != 0;
	parsed = pw_alloc_state_parse(state);
	if (parsed < 0) {
		snprintf(s->errmsg, sizeof(s->errmsg), "allocation %lld: unknown state '%s'",
			 (long long)a->id, state);
		return -EBADMSG;
	}
	a->state = parsed;
	return 0;
}

int pw_store_load_all(struct pw_store *s, struct pw_alloc **out, size_t *n)
{
	struct pw_alloc *v = NULL;
	size_t used = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	/* sized once: growing a 776-byte-per-row array by doubling copied it
	 * over and over at start-up (10,000 rows: 7.6 MiB) */
	err = pw_store_count(s, &cap);
	if (err)
		return err;
	if (cap && !(v = malloc(cap * sizeof(*v))))
		return -ENOMEM;
	err = store_prepare(s, ST_LOAD_ALL,
			    "SELECT " ALLOC_COLS " FROM allocations ORDER BY id", &st);
	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pw_array_grow((void **)&v, &cap, used + 1, sizeof(*v))) {
			err = -ENOMEM;
			break;
		}
		err = read_alloc(s, st, &v[used]);
		if (err)
			break;
		used++;
	}
	return store_end_list(s, st, rc, err, "load_all", v, used, (void **)out, n);
}

int pw_store_count(struct pw_store *s, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	err = store_prepare(s, ST_COUNT, "SELECT count(*) FROM allocations", &st);
	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (size_t)sqlite3_column_int64(st, 0);
	return store_finish_read(s, st, rc, "count");
}

int pw_store_next_id(struct pw_store *s, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* AUTOINCREMENT's own counter, so an id once used is never used again */
	rc = sqlite3_prepare_v2(s->db,
				"SELECT max(coalesce((SELECT seq FROM sqlite_sequence"
				" WHERE name = 'allocations'), 0),"
				" coalesce((SELECT max(id) FROM allocations), 0)) + 1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(s, rc, "next id");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, rc, "next id");
}
