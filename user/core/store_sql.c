// SPDX-License-Identifier: GPL-2.0
/*
 * SQLite plumbing shared by the store's files: error mapping, the statement
 * cache, step helpers, and group commit.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

int store_map_rc(int rc, int sys_errno)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		/* Only a duplicate is "exists"; a failed CHECK or NOT NULL is bad input. */
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		return -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		/* A full disk can also surface as an I/O error (e.g. growing the -shm file). */
		if (sys_errno == ENOSPC || sys_errno == EDQUOT)
			return -ENOSPC;
		return -EIO;
	default:
		return -EIO;
	}
}

int store_fail(struct pw_store *s, int rc, const char *what)
{
	int err;

	snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what,
		 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	err = store_map_rc(rc, s->db ? sqlite3_system_errno(s->db) : 0);
	/*
	 * A full disk or an I/O error, on a read as on a write, may make SQLite
	 * roll the whole group back. Remember it, so that later calls cannot
	 * silently autocommit on their own and the commit cannot report the
	 * group as stored.
	 */
	if (s->db && s->in_txn && !s->txn_err && sqlite3_get_autocommit(s->db))
		s->txn_err = err;
	return err;
}

int store_prepare(struct pw_store *s, enum store_stmt id, const char *sql, sqlite3_stmt **ret)
{
	int rc;

	if (!s->stmt[id]) {
		rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id],
					NULL);
		if (rc != SQLITE_OK)
			return store_fail(s, rc, "prepare");
	}
	*ret = s->stmt[id];
	return 0;
}

int store_check_txn(struct pw_store *s)
{
	return s->in_txn ? s->txn_err : 0;
}

int store_step_done(struct pw_store *s, sqlite3_stmt *st, const char *what)
{
	int rc, err = 0;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = store_fail(s, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

int store_finish_read(struct pw_store *s, sqlite3_stmt *st, int rc, const char *what)
{
	int err = 0;

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_fail(s, rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return err;
}

int store_bind_buf(sqlite3_stmt *st, int col, const char *buf, size_t size)
{
	/* SQLITE_STATIC: every caller steps and clears the bindings before returning. */
	return sqlite3_bind_text(st, col, buf, (int)strnlen(buf, size), SQLITE_STATIC);
}

void store_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pw_store_errmsg(struct pw_store *s)
{
	return s ? s->errmsg : "";
}

int pw_store_begin(struct pw_store *s)
{
	sqlite3_stmt *st = NULL;
	int err;

	if (s->in_txn)
		return -EALREADY;
	/* IMMEDIATE: take the write lock now, so BUSY shows here and not mid-group. */
	err = store_prepare(s, ST_BEGIN, "BEGIN IMMEDIATE", &st);
	if (!err)
		err = store_step_done(s, st, "begin");
	if (err)
		return err;
	s->in_txn = true;
	s->txn_err = 0;
	return 0;
}

static void rollback_raw(struct pw_store *s)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_get_autocommit(s->db))
		return;
	if (!store_prepare(s, ST_ROLLBACK, "ROLLBACK", &st))
		(void)store_step_done(s, st, "rollback");
}

int pw_store_commit(struct pw_store *s)
{
	sqlite3_stmt *st = NULL;
	int err;

	if (!s->in_txn)
		return -EINVAL;
	err = s->txn_err;
	/* the group counts itself: a later start sees whether it was kept */
	if (!err)
		err = store_gen_bump(s);
	if (!err)
		err = store_prepare(s, ST_COMMIT, "COMMIT", &st);
	if (!err)
		err = store_step_done(s, st, "commit");
	if (!err)
		store_gen_committed(s);
	/* A failed commit stores nothing: leave no half-open transaction behind. */
	if (err)
		rollback_raw(s);
	s->in_txn = false;
	s->txn_err = 0;
	return err;
}

void pw_store_rollback(struct pw_store *s)
{
	if (!s->in_txn)
		return;
	rollback_raw(s);
	s->in_txn = false;
	s->txn_err = 0;
}

int pw_store_set_sync(struct pw_store *s, bool fsync_each_commit)
{
	int rc;

	/* a pragma cannot change inside a transaction: only between them */
	if (s->in_txn)
		return -EBUSY;
	if (s->sync_normal == !fsync_each_commit)
		return 0;
	rc = sqlite3_exec(s->db, fsync_each_commit ? "PRAGMA synchronous=FULL;"
						   : "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_fail(s, rc, "set synchronous");
	s->sync_normal = !fsync_each_commit;
	return 0;
}
