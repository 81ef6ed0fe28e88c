// SPDX-License-Identifier: GPL-2.0
/*
 * Crash storm: several clients allocate and release ports as fast as the
 * daemon answers, and the daemon is killed with SIGKILL at a random moment,
 * N times (default 50). After every kill, with the daemon stopped, the state
 * database must pass PRAGMA integrity_check, hold no port twice, and hold no
 * allocation without its audit record; after every restart, every
 * acknowledged allocation must be there with its id, no acknowledged release
 * may come back, and the daemon must load exactly what the database holds.
 * Allocations committed but not acknowledged (in flight at the kill) may be
 * there or not; they are counted and released.
 *
 *   crash_storm [--kills N] [--clients N] [--range LO-HI] [--seed S] [-v]
 *
 * Prints one summary line; exits 0 when nothing was lost or duplicated.
 * tests/integration/itest_crash.c runs the same code with N = 10.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "client.h"
#include "itest_lib.h"
#include "proto.h"

struct storm_opts {
	unsigned kills;
	unsigned clients;
	unsigned lo, hi;	/* the storm type's port range */
	uint64_t seed;		/* 0: from the clock */
	bool verbose;
};

struct storm_result {
	unsigned kills, restarts, integrity_ok;
	unsigned long acked;		/* allocations acknowledged */
	unsigned long released;		/* releases acknowledged */
	unsigned long lost;		/* acknowledged, then missing after a restart */
	unsigned long duplicates;	/* a port held twice, on disk or in the list */
	unsigned long resurrected;	/* acknowledged release, back after a restart */
	unsigned long unaudited;	/* allocation rows without their audit record */
	unsigned long unacked;		/* committed, not acknowledged (in flight) */
	unsigned long phantoms;		/* unknown allocations beyond those in flight */
	unsigned long load_diffs;	/* the daemon's list differs from the database */
	unsigned long errors;		/* error responses other than exhausted */
	unsigned long exhausted;
	bool aborted;			/* a restart failed: stopped early */
};

struct held {
	int64_t id;
	unsigned port;
};

struct storm {
	const struct storm_opts *o;
	struct storm_result *r;
	struct itest_daemon d;
	struct itest_proc owner;	/* every allocation's owner, alive throughout */
	const char *extra[4];
	char cfg[64];
	pthread_mutex_t mu;
	struct held *held;		/* acknowledged, not released */
	size_t n_held, cap_held;
	uint8_t *gone;			/* by id: release acknowledged */
	size_t cap_gone;
	unsigned long progress;		/* acknowledged operations, for the kill timing */
	int stop;
	uint64_t rng;
};

struct client {
	struct storm *s;
	pthread_t th;
	uint64_t rng;
	bool alloc_in_flight;
	bool release_in_flight;
	struct held releasing;
};

static uint64_t storm_rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static int held_push(struct storm *s, struct held h)
{
	if (s->n_held == s->cap_held) {
		size_t ncap = s->cap_held ? s->cap_held * 2 : 256;
		struct held *n = realloc(s->held, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->held = n;
		s->cap_held = ncap;
	}
	s->held[s->n_held++] = h;
	return 0;
}

static void mark_gone(struct storm *s, int64_t id)
{
	if ((size_t)id >= s->cap_gone) {
		size_t ncap = s->cap_gone ? s->cap_gone : 1024;
		uint8_t *n;

		while (ncap <= (size_t)id)
			ncap *= 2;
		n = realloc(s->gone, ncap);
		if (!n)
			return;
		memset(n + s->cap_gone, 0, ncap - s->cap_gone);
		s->gone = n;
		s->cap_gone = ncap;
	}
	s->gone[id] = 1;
}

static bool is_gone(const struct storm *s, int64_t id)
{
	return id >= 0 && (size_t)id < s->cap_gone && s->gone[id];
}

/* One request; 0 with *res, a positive error code, or -errno (daemon gone). */
static int storm_call(struct pw_conn *c, const char *cmd, json_t *args, json_t **res)
{
	const char *line;
	char msg[512];
	int r;

	r = pw_conn_send(c, cmd, args);
	if (r)
		return r;
	do
		r = pw_conn_read_line(c, &line, 10000);
	while (r == -EINTR);
	if (r)
		return r;
	r = pw_proto_parse_response(line, res, msg, sizeof(msg));
	if (r > 0 && r != PW_E_EXHAUSTED)
		fprintf(stderr, "crash-storm: %s: %s\n", cmd, msg);
	return r < 0 ? -EPROTO : r;
}

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct storm *s = cl->s;
	struct pw_conn *c;
	size_t cap = (s->o->hi - s->o->lo + 1) / 2;

	/* a daemon that came back but refuses its clients must not pass */
	if (pw_conn_open(&c, s->d.sock)) {
		pthread_mutex_lock(&s->mu);
		s->r->errors++;
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		json_t *res = NULL;
		bool release;
		int r;

		pthread_mutex_lock(&s->mu);
		/* release about a third of the time, and always near half the range */
		release = s->n_held && (s->n_held >= cap || storm_rnd(&cl->rng) % 3 == 0);
		if (release) {
			size_t i = storm_rnd(&cl->rng) % s->n_held;

			cl->releasing = s->held[i];
			s->held[i] = s->held[--s->n_held];
			cl->release_in_flight = true;
		} else {
			cl->alloc_in_flight = true;
		}
		pthread_mutex_unlock(&s->mu);

		if (release)
			r = storm_call(c, "release", json_pack("{s:I}", "id",
							       (json_int_t)cl->releasing.id), &res);
		else
			r = storm_call(c, "allocate", json_pack("{s:s, s:i}", "service_type",
								"storm", "pid", s->owner.pid),
				       &res);
		if (r < 0)
			break;	/* killed: whatever was in flight stays in doubt */
		pthread_mutex_lock(&s->mu);
		if (release) {
			cl->release_in_flight = false;
			if (!r) {
				mark_gone(s, cl->releasing.id);
				s->r->released++;
				s->progress++;
			} else {
				s->r->errors++;
				(void) held_push(s, cl->releasing);
			}
		} else {
			cl->alloc_in_flight = false;
			if (!r) {
				struct held h = { json_integer_value(json_object_get(res, "id")),
						  (unsigned)json_integer_value(json_object_get(res,
											"port")) };

				if (held_push(s, h))
					s->r->errors++;
				s->r->acked++;
				s->progress++;
			} else if (r == PW_E_EXHAUSTED) {
				s->r->exhausted++;
			} else {
				s->r->errors++;
			}
		}
		pthread_mutex_unlock(&s->mu);
		json_decref(res);
	}
	pw_conn_close(c);
	return NULL;
}

struct db_row {
	int64_t id;
	unsigned port;
};

/* Step a prepared query (rc: the prepare's result): true with a row. */
static bool next_row(sqlite3_stmt *st, int *rc)
{
	if (*rc != SQLITE_OK && *rc != SQLITE_ROW)
		return false;
	*rc = sqlite3_step(st);
	return *rc == SQLITE_ROW;
}

/* With the daemon stopped: integrity, duplicates, audit, and the rows. 0 when ok. */
static int check_db(struct storm *s, struct db_row **rows, size_t *n_rows)
{
	char path[256];
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	size_t cap = 0;
	int bad = 0, rc;

	*rows = NULL;
	*n_rows = 0;
	snprintf(path, sizeof(path), "%s/state.db", s->d.state);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "crash-storm: open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	/* leave the WAL as the daemon left it: the restart must cope with it */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(db, 5000);

	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	while (next_row(st, &rc)) {
		const char *line = (const char *)sqlite3_column_text(st, 0);

		if (!line || strcmp(line, "ok")) {
			fprintf(stderr, "crash-storm: integrity_check: %s\n", line ? line : "?");
			bad = 1;
		}
	}
	if (rc != SQLITE_DONE)
		bad = 1;
	sqlite3_finalize(st);
	if (!bad)
		s->r->integrity_ok++;

	rc = sqlite3_prepare_v2(db, "SELECT port, count(*) FROM allocations GROUP BY port"
				" HAVING count(*) > 1", -1, &st, NULL);
	while (next_row(st, &rc)) {
		fprintf(stderr, "crash-storm: port %d held %d times on disk\n",
			sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
		s->r->duplicates++;
	}
	sqlite3_finalize(st);

	/* the allocation and its audit record are committed together */
	rc = sqlite3_prepare_v2(db, "SELECT id, port FROM allocations a WHERE NOT EXISTS"
				" (SELECT 1 FROM audit"
				"  WHERE alloc_id = a.id AND action = 'allocate')", -1, &st, NULL);
	while (next_row(st, &rc)) {
		fprintf(stderr, "crash-storm: allocation %lld (port %d) has no audit record\n",
			(long long)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1));
		s->r->unaudited++;
	}
	sqlite3_finalize(st);

	rc = sqlite3_prepare_v2(db, "SELECT id, port FROM allocations ORDER BY id", -1, &st, NULL);
	while (next_row(st, &rc)) {
		if (*n_rows == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct db_row *n = realloc(*rows, ncap * sizeof(*n));

			if (!n) {
				bad = 1;
				break;
			}
			*rows = n;
			cap = ncap;
		}
		(*rows)[(*n_rows)++] = (struct db_row){ sqlite3_column_int64(st, 0),
							(unsigned)sqlite3_column_int(st, 1) };
	}
	if (rc != SQLITE_DONE)
		bad = 1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return bad ? -1 : 0;
}

static bool row_has(const struct db_row *rows, size_t n, int64_t id, unsigned port)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].id == id && rows[i].port == port)
			return true;
	return false;
}

/* After a restart: compare the daemon's allocations with what was acknowledged. */
static int reconcile(struct storm *s, struct client *cl, unsigned in_flight,
		     const struct db_row *rows, size_t n_rows)
{
	static int32_t by_port[65536];
	struct storm_result *r = s->r;
	json_t *list = NULL, *v;
	unsigned unknown = 0;
	size_t i;

	if (itest_call(&s->d, "list", NULL, &list) || !json_is_array(list)) {
		json_decref(list);
		return -1;
	}
	memset(by_port, 0xff, sizeof(by_port));
	if (json_array_size(list) != n_rows)
		r->load_diffs++;
	json_array_foreach(list, i, v) {
		int64_t id = json_integer_value(json_object_get(v, "id"));
		unsigned port = (unsigned)json_integer_value(json_object_get(v, "port"));

		if (port > 65535)
			continue;
		if (by_port[port] >= 0) {
			fprintf(stderr, "crash-storm: port %u listed twice\n", port);
			r->duplicates++;
		}
		by_port[port] = (int32_t)i;
		if (!row_has(rows, n_rows, id, port)) {
			fprintf(stderr, "crash-storm: allocation %lld port %u listed, "
				"not on disk\n", (long long)id, port);
			r->load_diffs++;
		}
		if (is_gone(s, id)) {
			fprintf(stderr, "crash-storm: released allocation %lld port %u is back\n",
				(long long)id, port);
			r->resurrected++;
		}
	}

	/* acknowledged allocations: all there, with their ids */
	for (size_t k = 0; k < s->n_held; k++) {
		json_t *a = by_port[s->held[k].port] >= 0
			    ? json_array_get(list, (size_t)by_port[s->held[k].port]) : NULL;

		if (!a || json_integer_value(json_object_get(a, "id")) != s->held[k].id) {
			fprintf(stderr, "crash-storm: acknowledged allocation %lld port %u lost\n",
				(long long)s->held[k].id, s->held[k].port);
			r->lost++;
			continue;
		}
		by_port[s->held[k].port] = -2;	/* accounted for */
	}
	/* releases in flight at the kill: either outcome is correct */
	for (unsigned c = 0; c < s->o->clients; c++) {
		struct held h = cl[c].releasing;
		json_t *a;

		if (!cl[c].release_in_flight)
			continue;
		cl[c].release_in_flight = false;
		a = by_port[h.port] >= 0 ? json_array_get(list, (size_t)by_port[h.port]) : NULL;
		if (a && json_integer_value(json_object_get(a, "id")) == h.id) {
			(void) held_push(s, h);
			by_port[h.port] = -2;
		} else {
			mark_gone(s, h.id);
		}
	}
	/* the rest were committed but never acknowledged: release them */
	for (unsigned p = s->o->lo; p <= s->o->hi; p++) {
		json_t *res = NULL;
		int64_t id;

		if (by_port[p] < 0)
			continue;
		id = json_integer_value(json_object_get(json_array_get(list, (size_t)by_port[p]),
							"id"));
		if (is_gone(s, id))
			continue;
		unknown++;
		if (itest_call(&s->d, "release", json_pack("{s:I}", "id", (json_int_t)id), &res))
			r->errors++;
		else
			mark_gone(s, id);
		json_decref(res);
	}
	r->unacked += unknown;
	if (unknown > in_flight) {
		fprintf(stderr, "crash-storm: %u unknown allocations, only %u were in flight\n",
			unknown, in_flight);
		r->phantoms += unknown - in_flight;
	}
	json_decref(list);
	return 0;
}

static int write_config(struct storm *s)
{
	FILE *f;
	int fd;

	snprintf(s->cfg, sizeof(s->cfg), "/tmp/pw-crash-storm-XXXXXX");
	fd = mkstemp(s->cfg);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fprintf(f, "{\"service_types\": {\"storm\": {\"port_range\": [%u, %u]}}}\n", s->o->lo,
		s->o->hi);
	return fclose(f) ? -errno : 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in, out, err = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			err = -EIO;
			break;
		}
	if (n < 0)
		err = -errno;
	close(in);
	if (close(out) && !err)
		err = -errno;
	return err;
}

/*
 * Run from private copies of portwatchd and the helper: a rebuild of the tree
 * during a long run must not swap the binary under a restart.
 */
static int snapshot_bins(char *dir, size_t len)
{
	char from[300], to[300];
	int err;

	snprintf(dir, len, "/tmp/pw-crash-bin-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(to, sizeof(to), "%s/tests", dir);
	if (mkdir(to, 0755))
		return -errno;
	snprintf(from, sizeof(from), "%s/portwatchd", itest_build());
	snprintf(to, sizeof(to), "%s/portwatchd", dir);
	err = copy_file(from, to);
	if (err)
		return err;
	snprintf(from, sizeof(from), "%s/tests/helper", itest_build());
	snprintf(to, sizeof(to), "%s/tests/helper", dir);
	err = copy_file(from, to);
	if (!err)
		err = setenv("BUILD", dir, 1) ? -errno : 0;
	return err;
}

static void drop_bins(const char *dir, const char *old_build)
{
	char path[300];

	if (!dir[0])
		return;
	snprintf(path, sizeof(path), "%s/portwatchd", dir);
	(void) unlink(path);
	snprintf(path, sizeof(path), "%s/tests/helper", dir);
	(void) unlink(path);
	snprintf(path, sizeof(path), "%s/tests", dir);
	(void) rmdir(path);
	(void) rmdir(dir);
	if (old_build)
		(void) setenv("BUILD", old_build, 1);
	else
		(void) unsetenv("BUILD");
}

static void print_summary(const struct storm_opts *o, const struct storm_result *r)
{
	printf("crash-storm: %u kills (%u asked), %lu allocations and %lu releases acknowledged, "
	       "%lu lost, %lu duplicate ports, %lu resurrected, %lu without audit, "
	       "integrity_check ok %u/%u, %lu committed unacknowledged, %lu phantom, "
	       "%lu load differences, %lu errors, %lu exhausted%s\n", r->kills, o->kills, r->acked,
	       r->released, r->lost, r->duplicates, r->resurrected, r->unaudited, r->integrity_ok,
	       r->kills, r->unacked, r->phantoms, r->load_diffs, r->errors, r->exhausted,
	       r->aborted ? " (ABORTED: restart failed)" : "");
	fflush(stdout);
}

/* True when the run found nothing wrong. */
static bool storm_clean(const struct storm_result *r)
{
	return !r->aborted && !r->lost && !r->duplicates && !r->resurrected && !r->unaudited &&
	       r->integrity_ok == r->kills && !r->phantoms && !r->load_diffs && !r->errors;
}

/* Run the storm; r gets the figures. 0, or -errno when it could not run at all. */
static int storm_run(const struct storm_opts *o, struct storm_result *r)
{
	const char *const hold[] = { "hold", NULL };
	struct storm s = { .o = o, .r = r };
	char line[64], bins[64] = "", *old_build = NULL;
	struct client *cl;
	int err;

	memset(r, 0, sizeof(*r));
	cl = calloc(o->clients, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	pthread_mutex_init(&s.mu, NULL);
	s.rng = o->seed ? o->seed : itest_now_ns() | 1;
	printf("crash-storm: seed %llu, %u clients, ports %u-%u\n", (unsigned long long)s.rng,
	       o->clients, o->lo, o->hi);
	if (getenv("BUILD"))
		old_build = strdup(getenv("BUILD"));
	err = snapshot_bins(bins, sizeof(bins));
	if (!err)
		err = write_config(&s);
	if (err) {
		fprintf(stderr, "crash-storm: set-up: %s\n", strerror(-err));
		goto out;
	}
	s.extra[0] = "--config";
	s.extra[1] = s.cfg;
	err = itest_proc_spawn(&s.owner, -1, hold);
	if (!err)
		err = itest_proc_line(&s.owner, line, sizeof(line), 5000);
	if (!err)
		err = itest_daemon_start(&s.d, s.extra);
	if (err) {
		fprintf(stderr, "crash-storm: cannot start: %s\n", strerror(-err));
		goto out;
	}

	for (unsigned k = 0; k < o->kills; k++) {
		unsigned long target, before;
		unsigned in_flight = 0, jitter;
		struct db_row *rows = NULL;
		size_t n_rows = 0;
		uint64_t t0 = itest_now_ns();

		__atomic_store_n(&s.stop, 0, __ATOMIC_RELEASE);
		for (unsigned c = 0; c < o->clients; c++) {
			cl[c].s = &s;
			cl[c].rng = storm_rnd(&s.rng) | 1;
			cl[c].alloc_in_flight = false;
			if (pthread_create(&cl[c].th, NULL, client_main, &cl[c])) {
				err = -EAGAIN;
				goto out;
			}
		}
		/* the kill lands after a random number of acknowledged operations,
		 * and a random fraction of a millisecond or three later */
		pthread_mutex_lock(&s.mu);
		before = s.progress;
		pthread_mutex_unlock(&s.mu);
		target = before + storm_rnd(&s.rng) % 61;
		(void) ITEST_WAIT(({
			unsigned long p;

			pthread_mutex_lock(&s.mu);
			p = s.progress;
			pthread_mutex_unlock(&s.mu);
			p >= target; }), 10000);
		jitter = (unsigned)(storm_rnd(&s.rng) % 16);
		for (unsigned j = 0; j < jitter; j++)
			itest_yield();
		itest_daemon_stop(&s.d, SIGKILL);
		r->kills++;
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		for (unsigned c = 0; c < o->clients; c++) {
			pthread_join(cl[c].th, NULL);
			in_flight += cl[c].alloc_in_flight;
		}

		if (check_db(&s, &rows, &n_rows))
			fprintf(stderr, "crash-storm: kill %u: database check failed\n", k + 1);
		err = itest_daemon_restart(&s.d, s.extra);
		if (err) {
			fprintf(stderr, "crash-storm: kill %u: restart failed: %s\n", k + 1,
				strerror(-err));
			r->aborted = true;
			free(rows);
			break;
		}
		r->restarts++;
		if (reconcile(&s, cl, in_flight, rows, n_rows)) {
			fprintf(stderr, "crash-storm: kill %u: list failed\n", k + 1);
			r->errors++;
		}
		free(rows);
		if (o->verbose)
			printf("kill %u: %lu ops before it, %zu held, %zu rows, %u in flight, "
			       "%.0f ms\n", k + 1, s.progress - before, s.n_held, n_rows, in_flight,
			       (double)(itest_now_ns() - t0) / 1e6);
	}
	err = 0;
out:
	itest_daemon_cleanup(&s.d);
	itest_proc_end(&s.owner);
	if (s.cfg[0])
		(void) unlink(s.cfg);
	drop_bins(bins, old_build);
	free(old_build);
	pthread_mutex_destroy(&s.mu);
	free(s.held);
	free(s.gone);
	free(cl);
	return err;
}

#ifndef CRASH_STORM_NO_MAIN
#include <getopt.h>

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kills", required_argument, NULL, 'k' },
		{ "clients", required_argument, NULL, 'c' },
		{ "range", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct storm_opts o = { .kills = 50, .clients = 4, .lo = 46200, .hi = 46499 };
	struct storm_result r;
	int opt;

	while ((opt = getopt_long(argc, argv, "k:c:r:s:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			o.kills = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			if (sscanf(optarg, "%u-%u", &o.lo, &o.hi) != 2 || !o.lo || o.hi > 65535 ||
			    o.lo > o.hi) {
				fprintf(stderr, "crash_storm: --range LO-HI\n");
				return 2;
			}
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 10);
			break;
		case 'v':
			o.verbose = true;
			break;
		default:
			fprintf(stderr, "usage: crash_storm [--kills N] [--clients N] "
				"[--range LO-HI] [--seed S] [-v]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!o.clients || !o.kills) {
		fprintf(stderr, "crash_storm: --kills and --clients must be positive\n");
		return 2;
	}
	itest_require_root();
	if (storm_run(&o, &r))
		return 1;
	print_summary(&o, &r);
	return storm_clean(&r) ? 0 : 1;
}
#endif
