/* SPDX-License-Identifier: GPL-2.0 */
/* Internals shared by the store_*.c files (store_sql.c implements them); not an API. */
#ifndef PW_STORE_INT_H
#define PW_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>
#include "store.h"

/* One slot per cached prepared statement; each is prepared on first use. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSERT,
	ST_SET_STATE,
	ST_SET_OWNER,
	ST_DELETE,
	ST_LOAD_ALL,
	ST_COUNT,
	ST_AUDIT_ADD,
	ST_AUDIT_AFTER,
	ST_AUDIT_TAIL,
	ST_AUDIT_START,
	ST_SET_GEN,
	ST_MAX,
};

struct pw_store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_MAX];
	bool in_txn;		/* between pw_store_begin and commit/rollback */
	int txn_err;		/* SQLite rolled the group back under us: this error */
	bool sync_normal;	/* synchronous=NORMAL now (opened FULL) */
	/* Open ran the full integrity_check and found it "ok" with nothing
	 * migrated: pw_store_integrity_check() reuses that verdict while no row
	 * has changed since (changes at the check: checked_changes). */
	bool checked_ok;
	long long checked_changes;
	char errmsg[256];
	int gen_fd;		/* DIR/generation, -1 when not open */
	int64_t gen;		/* durable group commits counted so far */
};

/* The negative errno for a SQLite (extended) result code. */
int store_map_rc(int rc, int sys_errno);
/* Record @what and SQLite's message for @rc in s->errmsg; return the errno. */
int store_fail(struct pw_store *s, int rc, const char *what);
/* Cached statement @id for @sql, prepared on first use. */
int store_prepare(struct pw_store *s, enum store_stmt id, const char *sql,
		  sqlite3_stmt **ret);
/* The error of an aborted group, else 0; every operation checks it first. */
int store_check_txn(struct pw_store *s);
/* Step a write statement to completion, then reset it and clear its bindings. */
int store_step_done(struct pw_store *s, sqlite3_stmt *st, const char *what);
/* Reset after a read; maps @rc when it is neither ROW nor DONE. */
int store_finish_read(struct pw_store *s, sqlite3_stmt *st, int rc, const char *what);
/* The end of a read into a growing array v of used rows: finish the
 * statement, then hand v over (*out, *n) or free it. err: the loop's error. */
int store_end_list(struct pw_store *s, sqlite3_stmt *st, int rc, int err, const char *what,
		   void *v, size_t used, void **out, size_t *n);
/* Bind a fixed-size char array, which need not be NUL-terminated. */
int store_bind_buf(sqlite3_stmt *st, int col, const char *buf, size_t size);
/* Copy a text column into a char array, truncating, always NUL-terminated. */
void store_copy_text(char *dst, size_t size, sqlite3_stmt *st, int col);
int64_t store_now_ms(void);
/* store_gen.c: the generation counter beside the database */
int store_gen_open(struct pw_store *s, const char *dir, struct pw_store_info *info);
int store_gen_bump(struct pw_store *s);
void store_gen_committed(struct pw_store *s);
void store_gen_close(struct pw_store *s);

#endif
