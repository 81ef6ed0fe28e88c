// SPDX-License-Identifier: GPL-2.0
/* The storage thread and its batches (see journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "array.h"
#include "journal.h"
#include "log.h"

/*
 * While the disk stalls the open batch grows with what the loop keeps
 * writing. Past this many writes, those a crash may lose anyway (state
 * changes and audit records, which recovery derives again or which only
 * describe) are dropped and counted; writes a client waits for are kept
 * (new ones are refused while the disk stalls, so they stay few).
 */
#define OPEN_SOFT_MAX 16384

enum jop_kind { J_INSERT, J_STATE, J_OWNER, J_DELETE, J_AUDIT };

struct jop {
	enum jop_kind k;
	union {
		struct pw_alloc a;		/* insert, owner */
		struct {
			int64_t id;
			enum pw_alloc_state st;
		} s;				/* state */
		int64_t id;			/* delete */
		struct pw_audit au;		/* audit */
	};
};

enum jread_kind { R_AUDIT, R_PRUNE, R_FILE, R_CHECK };

struct jread {
	enum jread_kind k;
	void *ctx;			/* NULL: cancelled */
	pw_journal_page_fn page_fn;
	pw_journal_prune_fn prune_fn;
	pw_journal_check_fn check_fn;
	int64_t after;			/* < 0: start at the tail of tail records */
	size_t tail, limit;
	size_t max_records, batch;
	int64_t min_ts;
	char *path, *data;		/* R_FILE: written whole, then renamed */
	size_t data_len;
	/* the answer, filled in on the thread */
	int err;
	char msg[256];
	struct pw_audit *recs;
	size_t n, deleted;
};

struct jbatch {
	uint64_t seq;
	struct jop *ops;
	size_t n, cap;
	struct jread *reads;
	size_t nr, capr;
	bool fsync;
	uint64_t handed_ms;
	/* the end, filled in on the thread */
	int err;
	char why[384];
	struct pw_alloc *rows;
	size_t n_rows;
	bool reloaded;
	int64_t gen;
};

struct pw_journal {
	struct pw_store *s;
	bool threaded;
	struct jbatch open, flight;
	bool busy;			/* flight is the thread's until it is collected */
	bool stuck;			/* a flush gave up on the disk: the thread keeps it */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go, stop, finished;	/* under mu */
	struct pw_io done_io;		/* eventfd: the thread finished a batch */
	struct pw_loop *loop;
	pw_journal_done_fn done;
	void *done_ctx;
	int64_t next_id;
	uint64_t dropped;
	int64_t gen;
	char errmsg[384];
};

/* The thread of a journal the disk held at shutdown still uses it. */
static struct pw_journal *stuck_journal;

int pw_journal_new(struct pw_journal **ret, struct pw_store *s)
{
	struct pw_journal *j = calloc(1, sizeof(*j));
	int err;

	if (!j)
		return -ENOMEM;
	j->s = s;
	j->open.seq = 1;
	j->done_io.fd = -1;
	err = pw_store_next_id(s, &j->next_id);
	if (err) {
		free(j);
		return err;
	}
	j->gen = pw_store_generation(s);
	*ret = j;
	return 0;
}

bool pw_journal_threaded(const struct pw_journal *j)
{
	return j->threaded;
}

/* --- on the storage thread --------------------------------------------- */

static int apply(struct pw_store *s, struct jop *o)
{
	int err;

	switch (o->k) {
	case J_INSERT:
		return pw_store_insert(s, &o->a);
	case J_STATE:
		err = pw_store_set_state(s, o->s.id, o->s.st);
		break;
	case J_OWNER:
		err = pw_store_set_owner(s, &o->a);
		break;
	case J_DELETE:
		err = pw_store_delete(s, o->id);
		break;
	case J_AUDIT:
		return pw_store_audit_add(s, &o->au);
	default:
		return -EINVAL;
	}
	/* memory went ahead of the disk (a released allocation's late state
	 * change): nothing to store, not a failed batch */
	return err == -ENOENT ? 0 : err;
}

static void run_writes(struct pw_store *s, struct jbatch *b)
{
	int err;

	if (!b->n)
		return;
	(void) pw_store_set_sync(s, b->fsync);
	err = pw_store_begin(s);
	for (size_t i = 0; i < b->n && !err; i++)
		err = apply(s, &b->ops[i]);
	if (err)
		pw_store_rollback(s);
	else
		err = pw_store_commit(s);
	(void) pw_store_set_sync(s, true);
	if (!err)
		return;
	b->err = err;
	snprintf(b->why, sizeof(b->why), "%s (%s)", strerror(-err), pw_store_errmsg(s));
	b->reloaded = !pw_store_load_all(s, &b->rows, &b->n_rows);
}

/* path written whole through path.tmp (never through a symlink), made
 * durable, then renamed over: a reader sees the old file or the new one. */
static int put_file(struct jread *r)
{
	char tmp[4200];
	ssize_t n;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < r->data_len && !err; off += (size_t)n) {
		n = write(fd, r->data + off, r->data_len - off);
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, r->path))
		err = -errno;
	if (err)
		(void) unlink(tmp);
	return err;
}

static void run_read(struct pw_store *s, struct jread *r)
{
	if (r->k == R_FILE) {
		r->err = put_file(r);
		if (r->err)
			snprintf(r->msg, sizeof(r->msg), "%s", strerror(-r->err));
		return;
	}
	if (r->k == R_CHECK) {
		/* its verdict is the message, "ok" included */
		r->err = pw_store_integrity_check(s, r->msg, sizeof(r->msg));
		return;
	}
	if (r->k == R_PRUNE) {
		r->err = pw_store_audit_prune(s, r->max_records, r->min_ts, r->batch, &r->deleted);
	} else {
		r->err = 0;
		if (r->after < 0)
			r->err = pw_store_audit_tail_start(s, r->tail, &r->after);
		if (!r->err)
			r->err = pw_store_audit_list(s, r->after, r->limit, &r->recs, &r->n);
	}
	if (r->err)
		snprintf(r->msg, sizeof(r->msg), "%s", pw_store_errmsg(s));
}

static void run_batch(struct pw_store *s, struct jbatch *b)
{
	run_writes(s, b);
	for (size_t i = 0; i < b->nr; i++)
		run_read(s, &b->reads[i]);
	b->gen = pw_store_generation(s);
}

static void *thread_main(void *arg)
{
	struct pw_journal *j = arg;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&j->mu);
		while (!j->go && !j->stop)
			pthread_cond_wait(&j->cv, &j->mu);
		if (!j->go) {
			pthread_mutex_unlock(&j->mu);
			return NULL;
		}
		pthread_mutex_unlock(&j->mu);
		run_batch(j->s, &j->flight);
		pthread_mutex_lock(&j->mu);
		j->go = false;
		j->finished = true;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
		(void) !write(j->done_io.fd, &one, sizeof(one));
	}
}

/* --- on the loop ------------------------------------------------------- */

static void batch_reset(struct jbatch *b)
{
	for (size_t i = 0; i < b->nr; i++) {
		free(b->reads[i].recs);
		free(b->reads[i].path);
		free(b->reads[i].data);
	}
	free(b->rows);
	b->rows = NULL;
	b->n_rows = 0;
	b->n = b->nr = 0;
	b->fsync = b->reloaded = false;
	b->err = 0;
	b->why[0] = '\0';
}

static void batch_fini(struct jbatch *b)
{
	batch_reset(b);
	free(b->ops);
	free(b->reads);
}

/* A read's answer to its reader (a file's failure to the log). */
static void deliver_one(struct jread *r)
{
	if (r->k == R_FILE) {
		if (r->err)
			pw_warn("%s: not saved: %s", r->path, r->msg);
	} else if (!r->ctx) {
		return;		/* cancelled */
	} else if (r->k == R_PRUNE) {
		r->prune_fn(r->ctx, r->err, r->msg, r->deleted);
	} else if (r->k == R_CHECK) {
		r->check_fn(r->ctx, r->err, r->msg);
	} else {
		struct pw_journal_audit_page p = { .err = r->err, .msg = r->msg, .after = r->after,
						   .recs = r->recs, .n = r->n };

		r->page_fn(r->ctx, &p);
	}
}

static void deliver_reads(struct jbatch *b)
{
	for (size_t i = 0; i < b->nr; i++)
		deliver_one(&b->reads[i]);
}

/* The thread's batch ended: tell the loop, then hand it the next one. */
static void collect(struct pw_journal *j)
{
	struct jbatch *b = &j->flight;
	struct pw_journal_done d = { .seq = b->seq, .err = b->err, .why = b->why,
				     .rows = b->rows, .n_rows = b->n_rows,
				     .reloaded = b->reloaded, .writes = b->n };

	j->busy = false;
	j->gen = b->gen;
	if (b->err) {
		snprintf(j->errmsg, sizeof(j->errmsg), "%s", b->why);
		/* the open batch was written on top of the failed one: it goes too */
		if (j->open.n) {
			d.seq = j->open.seq;
			j->open.n = 0;
			j->open.fsync = false;
			j->open.seq++;
		}
	}
	if (j->done)
		j->done(j->done_ctx, &d);
	deliver_reads(b);
	batch_reset(b);
	pw_journal_kick(j);
}

static int on_done(struct pw_io *io, uint32_t events)
{
	struct pw_journal *j = io->data;
	uint64_t v;
	bool finished;

	(void) events;
	(void) !read(io->fd, &v, sizeof(v));
	pthread_mutex_lock(&j->mu);
	finished = j->finished;
	j->finished = false;
	pthread_mutex_unlock(&j->mu);
	if (finished)
		collect(j);
	return 0;
}

int pw_journal_start(struct pw_journal *j, struct pw_loop *loop, pw_journal_done_fn done,
		     void *ctx)
{
	pthread_attr_t attr;
	pthread_condattr_t ca;
	struct sched_param sp = { 0 };
	sigset_t all, old;
	int err;

	j->done_io = (struct pw_io){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .fn = on_done,
				     .data = j };
	if (j->done_io.fd < 0)
		return -errno;
	err = pw_loop_add(loop, &j->done_io, EPOLLIN);
	if (err) {
		close(j->done_io.fd);
		j->done_io.fd = -1;
		return err;
	}
	j->loop = loop;
	j->done = done;
	j->done_ctx = ctx;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* an ordinary thread: not the loop's real-time class, no signals */
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
	pthread_attr_setschedparam(&attr, &sp);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&j->th, &attr, thread_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		pw_loop_close_io(loop, &j->done_io);
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		return err;
	}
	j->threaded = true;
	return 0;
}

void pw_journal_kick(struct pw_journal *j)
{
	struct jbatch t;

	if (!j->threaded || j->busy || (!j->open.n && !j->open.nr))
		return;
	t = j->flight;
	j->flight = j->open;
	j->open = t;
	j->open.seq = j->flight.seq + 1;
	j->flight.handed_ms = pw_now_ms();
	j->busy = true;
	pthread_mutex_lock(&j->mu);
	j->go = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* Wait for the thread's batch until deadline (CLOCK_MONOTONIC): shutdown
 * only, this waits on the disk. -ETIMEDOUT when it is still there. */
static int wait_flight(struct pw_journal *j, const struct timespec *deadline)
{
	int err = 0;

	pthread_mutex_lock(&j->mu);
	while (!j->finished && !err)
		err = pthread_cond_timedwait(&j->cv, &j->mu, deadline);
	if (j->finished)
		err = 0;
	j->finished = false;
	pthread_mutex_unlock(&j->mu);
	if (err)
		return -ETIMEDOUT;
	collect(j);
	return 0;
}

int pw_journal_flush(struct pw_journal *j, unsigned timeout_ms)
{
	struct timespec dl;

	if (!j || !j->threaded || j->stuck)
		return j && j->stuck ? -ETIMEDOUT : 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pw_journal_kick(j);
	while (j->busy) {
		if (wait_flight(j, &dl)) {
			j->stuck = true;
			pw_err("storage: a commit has waited on the disk for %llu ms at shutdown; "
			       "%zu queued write(s) are not stored (nothing acknowledged is lost)",
			       (unsigned long long)pw_journal_busy_ms(j), j->flight.n + j->open.n);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

bool pw_journal_stuck(const struct pw_journal *j)
{
	return j && j->stuck;
}

void pw_journal_free(struct pw_journal *j)
{
	if (!j)
		return;
	if (j->threaded) {
		/* everything queued is stored before the end, or the disk holds
		 * the thread: it keeps its memory (the process is ending) */
		if (pw_journal_flush(j, PW_JOURNAL_FLUSH_MS)) {
			stuck_journal = j;
			return;
		}
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->th, NULL);
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		pw_loop_close_io(j->loop, &j->done_io);
	}
	batch_fini(&j->open);
	batch_fini(&j->flight);
	free(j);
}

uint64_t pw_journal_pending(const struct pw_journal *j)
{
	if (!j->threaded)
		return 0;
	if (j->open.n)
		return j->open.seq;
	/* nothing new: a reply still waits for the writes on the disk, made
	 * before it (an allocation it reports may be among them) */
	return j->busy && j->flight.n ? j->flight.seq : 0;
}

uint64_t pw_journal_busy_ms(const struct pw_journal *j)
{
	return j->busy ? pw_now_ms() - j->flight.handed_ms : 0;
}

uint64_t pw_journal_dropped(const struct pw_journal *j)
{
	return j->dropped;
}

int64_t pw_journal_generation(const struct pw_journal *j)
{
	return j->threaded ? j->gen : pw_store_generation(j->s);
}

const char *pw_journal_errmsg(const struct pw_journal *j)
{
	return j->threaded ? j->errmsg : pw_store_errmsg(j->s);
}

/* A write: applied at once (direct) or queued in the open batch. */
static int queue(struct pw_journal *j, struct jop *o, bool fsync)
{
	struct jbatch *b = &j->open;
	int err;

	if (!j->threaded) {
		err = apply(j->s, o);
		if (err)
			snprintf(j->errmsg, sizeof(j->errmsg), "%s", pw_store_errmsg(j->s));
		return err;
	}
	if (!fsync && b->n >= OPEN_SOFT_MAX) {
		if (!j->dropped++ || !(j->dropped & (j->dropped - 1)))
			pw_warn("storage stalled for %llu ms: %llu write(s) of state changes and "
				"audit records dropped so far", (unsigned long long)pw_journal_busy_ms(j),
				(unsigned long long)j->dropped);
		return 0;
	}
	if (pw_array_grow((void **)&b->ops, &b->cap, b->n + 1, sizeof(*b->ops)))
		return -ENOMEM;
	b->ops[b->n++] = *o;
	b->fsync = b->fsync || fsync;
	return 0;
}

int pw_journal_insert(struct pw_journal *j, struct pw_alloc *a)
{
	struct jop o = { .k = J_INSERT };
	int err;

	if (!a->created_at)
		a->created_at = pw_wall_ms();
	a->adopted = a->adopted || a->state == PW_ALLOC_ADOPTED;
	if (!j->threaded) {
		a->id = 0;
		err = pw_store_insert(j->s, a);
		if (err) {
			snprintf(j->errmsg, sizeof(j->errmsg), "%s", pw_store_errmsg(j->s));
			return err;
		}
		if (a->id >= j->next_id)
			j->next_id = a->id + 1;
		return 0;
	}
	a->id = j->next_id;
	o.a = *a;
	err = queue(j, &o, true);
	if (!err)
		j->next_id++;
	return err;
}

int pw_journal_set_state(struct pw_journal *j, int64_t id, enum pw_alloc_state st)
{
	struct jop o = { .k = J_STATE, .s = { id, st } };

	return queue(j, &o, false);
}

int pw_journal_set_owner(struct pw_journal *j, const struct pw_alloc *a, bool fsync)
{
	struct jop o = { .k = J_OWNER, .a = *a };

	return queue(j, &o, fsync);
}

int pw_journal_delete(struct pw_journal *j, int64_t id)
{
	struct jop o = { .k = J_DELETE, .id = id };

	return queue(j, &o, true);
}

int pw_journal_audit(struct pw_journal *j, const struct pw_audit *a)
{
	struct jop o = { .k = J_AUDIT, .au = *a };

	if (!o.au.ts_ms)
		o.au.ts_ms = pw_wall_ms();
	return queue(j, &o, false);
}

/* --- reads ------------------------------------------------------------- */

static int read_queue(struct pw_journal *j, struct jread *r)
{
	struct jbatch *b = &j->open;

	if (!j->threaded) {
		run_read(j->s, r);
		deliver_one(r);
		free(r->path);
		free(r->data);
		free(r->recs);
		return 0;
	}
	if (pw_array_grow((void **)&b->reads, &b->capr, b->nr + 1, sizeof(*b->reads)))
		return -ENOMEM;
	b->reads[b->nr++] = *r;
	return 0;
}

int pw_journal_audit_read(struct pw_journal *j, int64_t after_id, size_t tail, size_t limit,
			  pw_journal_page_fn fn, void *ctx)
{
	struct jread r = { .k = R_AUDIT, .ctx = ctx, .page_fn = fn, .after = after_id,
			   .tail = tail, .limit = limit };

	return read_queue(j, &r);
}

int pw_journal_audit_prune(struct pw_journal *j, size_t max_records, int64_t min_ts_ms,
			   size_t batch, pw_journal_prune_fn fn, void *ctx)
{
	struct jread r = { .k = R_PRUNE, .ctx = ctx, .prune_fn = fn, .max_records = max_records,
			   .min_ts = min_ts_ms, .batch = batch };

	return read_queue(j, &r);
}

int pw_journal_check(struct pw_journal *j, pw_journal_check_fn fn, void *ctx)
{
	struct jread r = { .k = R_CHECK, .ctx = ctx, .check_fn = fn };

	return read_queue(j, &r);
}

int pw_journal_put_file(struct pw_journal *j, const char *path, char *data, size_t len)
{
	struct jread r = { .k = R_FILE, .path = strdup(path), .data = data, .data_len = len };
	int err;

	if (!r.path) {
		free(data);
		return -ENOMEM;
	}
	err = read_queue(j, &r);
	if (err) {
		free(r.path);
		free(data);
	}
	return err;
}

void pw_journal_cancel(struct pw_journal *j, void *ctx)
{
	struct jbatch *bs[2] = { &j->open, &j->flight };

	/* the thread never reads ctx: clearing it races with nothing */
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < bs[k]->nr; i++)
			if (bs[k]->reads[i].ctx == ctx)
				bs[k]->reads[i].ctx = NULL;
}
