// SPDX-License-Identifier: GPL-2.0
/*
 * The generation counter: every group commit also counts itself in the
 * database (meta 'generation'), and once it is durable the count is written
 * to DIR/generation beside it. A database whose count is behind the file's
 * lost commits it had acknowledged (a deleted or garbled WAL, a truncated or
 * replaced state.db): the store opens, but says so, and the caller reports it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

#define GEN_FILE "generation"

static int64_t db_gen(struct pw_store *s)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'generation'", -1, &st,
			       NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int set_db_gen(struct pw_store *s, int64_t gen)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	/* once per commit: prepared once */
	err = store_prepare(s, ST_SET_GEN, "INSERT INTO meta (key, value) VALUES ('generation', ?1)"
			    " ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st);
	if (err)
		return err;
	rc = sqlite3_bind_int64(st, 1, gen);
	if (rc != SQLITE_OK) {
		sqlite3_clear_bindings(st);
		return store_fail(s, rc, "generation");
	}
	return store_step_done(s, st, "generation");
}

int store_gen_open(struct pw_store *s, const char *dir, struct pw_store_info *info)
{
	char path[PATH_MAX], buf[32];
	int64_t file_gen = 0;
	ssize_t n;

	s->gen_fd = -1;
	if (snprintf(path, sizeof(path), "%s/%s", dir, GEN_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	s->gen_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->gen_fd < 0) {
		snprintf(info->message, sizeof(info->message), "%.160s: %s", path, strerror(errno));
		return -errno;
	}
	n = pread(s->gen_fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		file_gen = strtoll(buf, NULL, 10);
	}
	s->gen = db_gen(s);
	info->gen_db = s->gen;
	info->gen_file = file_gen;
	if (file_gen > s->gen) {
		/* reported once: from now on the database counts from there */
		info->regressed = true;
		s->gen = file_gen;
		return set_db_gen(s, s->gen);
	}
	return 0;
}

int store_gen_bump(struct pw_store *s)
{
	return set_db_gen(s, s->gen + 1);
}

void store_gen_committed(struct pw_store *s)
{
	char buf[32];
	int len;

	s->gen++;
	if (s->gen_fd < 0)
		return;
	/* no fsync: a stale file only misses a loss, it never invents one */
	len = snprintf(buf, sizeof(buf), "%" PRId64 "\n", s->gen);
	(void) !pwrite(s->gen_fd, buf, (size_t)len, 0);
}

void store_gen_close(struct pw_store *s)
{
	if (s->gen_fd >= 0)
		close(s->gen_fd);
	s->gen_fd = -1;
}

int64_t pw_store_generation(const struct pw_store *s)
{
	return s->gen;
}
