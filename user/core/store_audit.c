// SPDX-License-Identifier: GPL-2.0
/* The audit trail: who asked for what, and what the daemon did about it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "store_int.h"

#define AUDIT_COLS "id, ts_ms, uid, pid, action, outcome, port, alloc_id, service_type, detail"

static int bind_audit(sqlite3_stmt *st, const struct pw_audit *a)
{
	int rc;

	rc = sqlite3_bind_int64(st, 1, a->ts_ms ? a->ts_ms : store_now_ms());
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, a->uid);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, a->pid);
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 4, a->action, sizeof(a->action));
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 5, a->outcome, sizeof(a->outcome));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 6, a->port);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, a->alloc_id);
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 8, a->service_type, sizeof(a->service_type));
	if (rc == SQLITE_OK)
		rc = store_bind_buf(st, 9, a->detail, sizeof(a->detail));
	return rc;
}

int pw_store_audit_add(struct pw_store *s, const struct pw_audit *a)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	if (!a->action[0]) {
		snprintf(s->errmsg, sizeof(s->errmsg), "audit_add: empty action");
		return -EINVAL;
	}
	err = store_prepare(s, ST_AUDIT_ADD,
			    "INSERT INTO audit (ts_ms, uid, pid, action, outcome, port, alloc_id,"
			    " service_type, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			    &st);
	if (err)
		return err;
	rc = bind_audit(st, a);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "audit_add: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	return store_step_done(s, st, "audit_add");
}

static void read_audit(sqlite3_stmt *st, struct pw_audit *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	a->ts_ms = sqlite3_column_int64(st, 1);
	a->uid = (uid_t)sqlite3_column_int64(st, 2);
	a->pid = (pid_t)sqlite3_column_int64(st, 3);
	store_copy_text(a->action, sizeof(a->action), st, 4);
	store_copy_text(a->outcome, sizeof(a->outcome), st, 5);
	a->port = (uint16_t)sqlite3_column_int(st, 6);
	a->alloc_id = sqlite3_column_int64(st, 7);
	store_copy_text(a->service_type, sizeof(a->service_type), st, 8);
	store_copy_text(a->detail, sizeof(a->detail), st, 9);
}

int pw_store_audit_list(struct pw_store *s, int64_t after_id, size_t limit,
			struct pw_audit **out, size_t *n)
{
	/* SQLite reads a negative LIMIT as none. */
	int64_t lim = !limit || limit > INT64_MAX ? -1 : (int64_t)limit;
	struct pw_audit *v = NULL;
	size_t used = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc, err;

	err = store_check_txn(s);
	if (err)
		return err;
	if (after_id >= 0) {
		err = store_prepare(s, ST_AUDIT_AFTER, "SELECT " AUDIT_COLS " FROM audit"
				    " WHERE id > ?1 ORDER BY id LIMIT ?2", &st);
		if (!err)
			rc = sqlite3_bind_int64(st, 1, after_id);
	} else {
		/* The newest @limit, then turned around so the newest comes last. */
		err = store_prepare(s, ST_AUDIT_TAIL, "SELECT * FROM (SELECT " AUDIT_COLS
				    " FROM audit ORDER BY id DESC LIMIT ?2) ORDER BY id", &st);
		rc = SQLITE_OK;
	}
	if (err)
		return err;
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, lim);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "audit_list: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pw_array_grow((void **)&v, &cap, used + 1, sizeof(*v))) {
			err = -ENOMEM;
			break;
		}
		read_audit(st, &v[used++]);
	}
	return store_end_list(s, st, rc, err, "audit_list", v, used, (void **)out, n);
}

int pw_store_audit_tail_start(struct pw_store *s, size_t limit, int64_t *after_id)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	*after_id = 0;
	if (!limit)
		return 0;
	err = store_check_txn(s);
	if (!err)
		err = store_prepare(s, ST_AUDIT_START, "SELECT id FROM audit ORDER BY id DESC"
				    " LIMIT 1 OFFSET ?1", &st);
	if (err)
		return err;
	rc = sqlite3_bind_int64(st, 1, limit > INT64_MAX ? INT64_MAX : (int64_t)limit - 1);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "audit_tail_start: bind");
		sqlite3_clear_bindings(st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*after_id = sqlite3_column_int64(st, 0) - 1;
	return store_finish_read(s, st, rc, "audit_tail_start");
}

int pw_store_audit_prune(struct pw_store *s, size_t max_records, int64_t min_ts_ms, size_t batch,
			 size_t *deleted)
{
	/* Both bounded by batch and by the rowid: the oldest records are the
	 * first ids, so neither scans the table. */
	static const char *const sql[2] = {
		"DELETE FROM audit WHERE id <= min((SELECT max(id) FROM audit) - ?1,"
		" (SELECT min(id) FROM audit) + ?2 - 1)",
		"DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?2)"
		" AND ts_ms < ?3",
	};
	int err;

	*deleted = 0;
	err = store_check_txn(s);
	if (err)
		return err;
	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL);

		if (rc == SQLITE_OK && i == 0)
			rc = sqlite3_bind_int64(st, 1, (int64_t)max_records);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, (int64_t)batch);
		if (rc == SQLITE_OK && i == 1)
			rc = sqlite3_bind_int64(st, 3, min_ts_ms);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return store_fail(s, rc, "audit_prune");
		*deleted += (size_t)sqlite3_changes(s->db);
	}
	return 0;
}
