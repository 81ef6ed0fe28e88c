// SPDX-License-Identifier: GPL-2.0
/*
 * The store's life cycle: open (create, check, migrate), close, integrity
 * check, and moving a database that cannot be used aside.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "array.h"
#include "store_int.h"


/* "PWst" in the header's application_id: tells our database from any other. */
#define STORE_APP_ID 0x50577374
/* Another process (an admin's sqlite3) may hold the lock briefly; do not fail at once. */
#define STORE_BUSY_MS 5000

/*
 * migrations[v] takes the schema from version v to v + 1. Each runs in its own
 * transaction together with the user_version bump, so a crash leaves either
 * version. Adding version 2 is one more entry and PW_STORE_SCHEMA_VERSION + 1.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta ("
	"	key TEXT PRIMARY KEY NOT NULL,"
	"	value TEXT NOT NULL"
	") WITHOUT ROWID;"
	/* AUTOINCREMENT: ids are never reused, so audit.alloc_id stays unambiguous. */
	"CREATE TABLE allocations ("
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"	service_type TEXT NOT NULL,"
	"	name TEXT NOT NULL DEFAULT '',"
	"	port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
	"	pid INTEGER NOT NULL,"
	"	start_time INTEGER NOT NULL,"
	"	uid INTEGER NOT NULL,"
	"	comm TEXT NOT NULL DEFAULT '',"
	/* By name, so reordering enum pw_alloc_state cannot reinterpret old rows. */
	"	state TEXT NOT NULL,"
	"	created_at INTEGER NOT NULL,"
	"	project TEXT NOT NULL DEFAULT '',"
	"	adopted INTEGER NOT NULL DEFAULT 0 CHECK (adopted IN (0, 1))"
	");"
	/* The database itself refuses a second allocation of a port. */
	"CREATE UNIQUE INDEX allocations_port ON allocations (port);"
	"CREATE TABLE audit ("
	"	id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"	ts_ms INTEGER NOT NULL,"
	"	uid INTEGER NOT NULL,"
	"	pid INTEGER NOT NULL,"
	"	action TEXT NOT NULL,"
	"	outcome TEXT NOT NULL,"
	"	port INTEGER NOT NULL DEFAULT 0,"
	"	alloc_id INTEGER NOT NULL DEFAULT 0,"
	"	service_type TEXT NOT NULL DEFAULT '',"
	"	detail TEXT NOT NULL DEFAULT ''"
	");"
	"INSERT INTO meta (key, value) VALUES"
	"	('created', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));",
	/* 1 -> 2: hold-until-bind leases (unix ms; 0: no hold) */
	"ALTER TABLE allocations ADD COLUMN hold_until INTEGER NOT NULL DEFAULT 0;",
	/* 2 -> 3: owned by the daemon itself, whichever runs (a restart's
	 * recovery keeps these instead of releasing them as orphans) */
	"ALTER TABLE allocations ADD COLUMN daemon_owned INTEGER NOT NULL DEFAULT 0"
	" CHECK (daemon_owned IN (0, 1));",
};

_Static_assert(ARRAY_SIZE(migrations) == PW_STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

static int sync_dir(const char *dir)
{
	int fd, err = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Create @dir 0700 if missing, and make its entry durable in the parent. */
static int make_dir(const char *dir, struct pw_store_info *info)
{
	char parent[PATH_MAX];
	struct stat st;
	int err;

	if (!mkdir(dir, 0700)) {
		snprintf(parent, sizeof(parent), "%s", dir);
		err = sync_dir(dirname(parent));
		if (err)
			snprintf(info->message, sizeof(info->message), "fsync %.160s: %s", parent,
				 strerror(-err));
		return err;
	}
	if (errno == EEXIST && !stat(dir, &st) && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	snprintf(info->message, sizeof(info->message), "%s: %s", dir, strerror(errno));
	return -errno;
}

/* First line(s) of a quick_check/integrity_check into msg: 0 when "ok". */
static int run_check(struct pw_store *s, const char *sql, char *msg, size_t len)
{
	sqlite3_stmt *st = NULL;
	size_t used = 0;
	int rc, lines = 0, err = 0;

	if (len)
		msg[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		if (!line || !strcmp(line, "ok"))
			continue;
		err = -EBADMSG;
		/* The first few problems say enough; a broken file can have thousands. */
		if (lines++ < 4 && used < len)
			used += snprintf(msg + used, len - used, "%s%s", used ? "; " : "", line);
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		if (!err)
			snprintf(msg, len, "ok");
		return err;
	}
fail:
	err = store_fail(s, rc, sql);
	snprintf(msg, len, "%s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return err;
}

int pw_store_integrity_check(struct pw_store *s, char *msg, size_t len)
{
	/* start-up recovery asks right after open: one full scan, not two */
	if (s->checked_ok && sqlite3_total_changes64(s->db) == s->checked_changes) {
		snprintf(msg, len, "ok");
		return 0;
	}
	s->checked_ok = false;
	return run_check(s, "PRAGMA integrity_check(16)", msg, len);
}

static int pragma_int(struct pw_store *s, const char *sql, int64_t *val)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*val = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	rc = rc == SQLITE_OK ? 0 : store_fail(s, rc, sql);
	sqlite3_finalize(st);
	return rc;
}

static int exec(struct pw_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_fail(s, rc, what);
}

/* Is this portwatch's database, and one we understand? Read-only. */
static int check_identity(struct pw_store *s, struct pw_store_info *info, int *version)
{
	int64_t app_id, ver, tables;
	int err;

	err = pragma_int(s, "PRAGMA application_id", &app_id);
	if (!err)
		err = pragma_int(s, "PRAGMA user_version", &ver);
	if (!err)
		err = pragma_int(s, "SELECT count(*) FROM sqlite_master", &tables);
	if (err) {
		/* Usually "file is not a database" or "database disk image is malformed". */
		snprintf(info->message, sizeof(info->message), "%s: %s", PW_STORE_DB_NAME,
			 sqlite3_errmsg(s->db));
		return err;
	}
	info->schema_version = (int)ver;
	if (app_id && app_id != STORE_APP_ID) {
		snprintf(info->message, sizeof(info->message),
			 "not a portwatch database (application_id 0x%08llx)",
			 (unsigned long long)app_id);
		return -EBADMSG;
	}
	if (ver > PW_STORE_SCHEMA_VERSION) {
		snprintf(info->message, sizeof(info->message),
			 "schema version %lld is newer than this portwatchd's %d",
			 (long long)ver, PW_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	if ((ver && app_id != STORE_APP_ID) || (!ver && tables)) {
		snprintf(info->message, sizeof(info->message),
			 "not a portwatch database (schema version %lld, %lld tables)",
			 (long long)ver, (long long)tables);
		return -EBADMSG;
	}
	*version = (int)ver;
	return 0;
}

static int configure(struct pw_store *s, struct pw_store_info *info)
{
	sqlite3_stmt *st = NULL;
	char mode[16] = "";
	int rc, err = 0;

	/* The pragma answers with the mode now in force: not "wal" means it cannot be. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_copy_text(mode, sizeof(mode), st, 0);
	else
		err = store_fail(s, rc, "journal_mode");
	sqlite3_finalize(st);
	if (!err && strcmp(mode, "wal")) {
		snprintf(s->errmsg, sizeof(s->errmsg), "journal_mode is '%s', not wal", mode);
		err = -EIO;
	}
	/*
	 * FULL: in WAL mode every commit fsyncs the WAL, so a commit that returned
	 * survives power loss, not only a crash of this process.
	 */
	if (!err)
		err = exec(s, "PRAGMA synchronous=FULL;"
			      "PRAGMA foreign_keys=ON;"
			      "PRAGMA cell_size_check=ON;"
			      "PRAGMA trusted_schema=OFF", "pragma");
	if (err)
		snprintf(info->message, sizeof(info->message), "%s", s->errmsg);
	return err;
}

static int migrate(struct pw_store *s, struct pw_store_info *info, int from)
{
	char bump[96];
	int v, err = 0;

	for (v = from; v < PW_STORE_SCHEMA_VERSION; v++) {
		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d; PRAGMA application_id=%d",
			 v + 1, STORE_APP_ID);
		err = exec(s, "BEGIN IMMEDIATE", "begin");
		if (!err)
			err = exec(s, migrations[v], "migrate");
		if (!err)
			err = exec(s, bump, "user_version");
		if (!err)
			err = exec(s, "COMMIT", "commit");
		if (err) {
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			snprintf(info->message, sizeof(info->message),
				 "migration to schema version %d: %.200s", v + 1,
				 s->errmsg);
			return err;
		}
	}
	info->schema_version = PW_STORE_SCHEMA_VERSION;
	if (!from)
		snprintf(info->message, sizeof(info->message), "created schema version %d",
			 PW_STORE_SCHEMA_VERSION);
	else if (from < PW_STORE_SCHEMA_VERSION)
		snprintf(info->message, sizeof(info->message), "migrated schema %d -> %d", from,
			 PW_STORE_SCHEMA_VERSION);
	return 0;
}

/* Close without writing: a database we refuse must stay as it is, -wal and all. */
static void discard(struct pw_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	store_gen_close(s);
	if (s->db) {
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_close(s->db);
	}
	free(s);
}

int pw_store_open(const char *dir, struct pw_store **ret, struct pw_store_info *info)
{
	struct pw_store_info scratch;
	struct pw_store *s = NULL;
	struct stat lst;
	char path[PATH_MAX], check[200];
	int rc, version = 0, err;
	bool full_ok;

	if (!info)
		info = &scratch;
	memset(info, 0, sizeof(*info));
	err = make_dir(dir, info);
	if (err)
		return err;
	if (snprintf(path, sizeof(path), "%s/%s", dir, PW_STORE_DB_NAME) >= (int)sizeof(path)) {
		snprintf(info->message, sizeof(info->message), "state directory path too long");
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->gen_fd = -1;
	/* never through a symlink: root would create or overwrite its target */
	if (!lstat(path, &lst) && !S_ISREG(lst.st_mode)) {
		snprintf(info->message, sizeof(info->message), "%.160s is %s, not a regular file: "
			 "refusing to open it", path, S_ISLNK(lst.st_mode) ? "a symlink" : "special");
		free(s);
		return -ELOOP;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		err = store_fail(s, rc, "open");
		snprintf(info->message, sizeof(info->message), "%s", s->errmsg);
		goto cleanup;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	/*
	 * Before the first read, so the WAL index lives on the heap: with the
	 * index in a mapped -shm file, the storage thread's write to it on a
	 * frozen or stalled filesystem sleeps in a page fault, and before Linux
	 * 6.4 a page fault holds the process's mmap lock, so the loop's next
	 * malloc (brk, mmap) would wait on the disk too. No file maps either.
	 */
	err = exec(s, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA mmap_size=0", "locking_mode");
	if (err) {
		snprintf(info->message, sizeof(info->message), "%s", s->errmsg);
		goto cleanup;
	}
	err = check_identity(s, info, &version);
	if (err)
		goto cleanup;
	/*
	 * The full check first: start-up recovery asks for it next and gets
	 * this verdict (pw_store_integrity_check), so a healthy start scans the
	 * file once, not twice. Only what quick_check finds (unreadable pages,
	 * not a wrong index, which recovery reports and REINDEX mends) refuses
	 * the file.
	 */
	err = run_check(s, "PRAGMA integrity_check(16)", check, sizeof(check));
	full_ok = !err;
	if (err == -EBADMSG)
		err = run_check(s, "PRAGMA quick_check(8)", check, sizeof(check));
	if (err) {
		snprintf(info->message, sizeof(info->message), "quick_check: %s", check);
		goto cleanup;
	}
	err = configure(s, info);
	if (err)
		goto cleanup;
	info->created = version == 0;
	err = migrate(s, info, version);
	if (err)
		goto cleanup;
	if (full_ok && version == PW_STORE_SCHEMA_VERSION) {
		s->checked_ok = true;
		s->checked_changes = sqlite3_total_changes64(s->db);
	}
	/* SQLite syncs the directory for a new WAL, not for a new database file. */
	if (info->created) {
		err = sync_dir(dir);
		if (err) {
			snprintf(info->message, sizeof(info->message), "fsync %s: %s", dir,
				 strerror(-err));
			goto cleanup;
		}
	}
	err = store_gen_open(s, dir, info);
	if (err)
		goto cleanup;
	s->errmsg[0] = '\0';
	*ret = s;
	s = NULL;
cleanup:
	discard(s);
	return err;
}

void pw_store_close(struct pw_store *s)
{
	if (!s)
		return;
	pw_store_rollback(s);
	for (int i = 0; i < ST_MAX; i++) {
		sqlite3_finalize(s->stmt[i]);
		s->stmt[i] = NULL;
	}
	/* Fold the WAL into the database so a copy of state.db alone is complete. */
	(void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_close(s->db);
	store_gen_close(s);
	free(s);
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st) || errno != ENOENT;
}

int pw_store_move_aside(const char *dir, char *newpath, size_t len)
{
	/* The WAL first: a WAL left beside a fresh database would be replayed into it. */
	static const char *const suffixes[] = { "-wal", "-shm", "" };
	char db[PATH_MAX], base[PATH_MAX], from[PATH_MAX + 8], to[PATH_MAX + 8], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (snprintf(db, sizeof(db), "%s/%s", dir, PW_STORE_DB_NAME) >= (int)sizeof(db))
		return -ENAMETOOLONG;
	if (!exists(db))
		return -ENOENT;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (n = 0; n < 1000; n++) {
		int w = n ? snprintf(base, sizeof(base), "%s.corrupt.%s.%d", db, stamp, n) :
			    snprintf(base, sizeof(base), "%s.corrupt.%s", db, stamp);

		if (w >= (int)sizeof(base) || (size_t)w >= len)
			return -ENAMETOOLONG;
		snprintf(from, sizeof(from), "%s-wal", base);
		snprintf(to, sizeof(to), "%s-shm", base);
		if (!exists(base) && !exists(from) && !exists(to))
			break;
	}
	if (n == 1000)
		return -EEXIST;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(from, sizeof(from), "%s%s", db, suffixes[i]);
		snprintf(to, sizeof(to), "%s%s", base, suffixes[i]);
		/* NOREPLACE: never overwrite an earlier corrupt copy, whatever races. */
		if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE))
			continue;
		if (errno == ENOENT && *suffixes[i])
			continue;
		return -errno;
	}
	snprintf(newpath, len, "%s", base);
	return sync_dir(dir);
}

int store_end_list(struct pw_store *s, sqlite3_stmt *st, int rc, int err, const char *what,
		   void *v, size_t used, void **out, size_t *n)
{
	if (!err)
		err = store_finish_read(s, st, rc, what);
	else
		store_finish_read(s, st, SQLITE_DONE, what);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*n = used;
	return 0;
}
