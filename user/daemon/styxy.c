// SPDX-License-Identifier: GPL-2.0
/*
 * The Styxy-compatible HTTP API (see styxy.h): the listener on http.c, the
 * bearer token (Styxy's auth.token: read when it holds 32+ characters, else
 * 64 hex characters generated and written 0600), routing, the instance
 * registry and the endpoints that only report (status, health, config,
 * metrics, audit). Allocation endpoints are in styxy_alloc.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocs.h"
#include "array.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "journal.h"
#include "styxy_int.h"

#define STYXY_MAX_BODY 10240		/* Styxy: express.json({ limit: '10kb' }) */
#define STYXY_VERSION "portwatch-styxy-compat"

/* --- answers -------------------------------------------------------------------- */

void styxy_error(struct pw_http_req *rq, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pw_http_reply_json(rq, status, json_pack("{s:b, s:s}", "success", 0, "error", msg));
}

/* One Styxy reply waiting for the group commit. */
struct styxy_wait {
	struct pw_http_req *rq;
	unsigned status;
	json_t *obj;
};

static void styxy_settled(void *ctx, const char *fail)
{
	struct styxy_wait *w = ctx;

	if (!fail) {
		pw_http_reply_json(w->rq, w->status, w->obj);
	} else {
		json_decref(w->obj);
		styxy_error(w->rq, 500, "%s", fail);
	}
	free(w);
}

void styxy_reply_settled(struct pw_styxy *s, struct pw_http_req *rq, unsigned status, json_t *obj,
			 int64_t alloc_id)
{
	struct styxy_wait *w = malloc(sizeof(*w));
	int r;

	if (!w) {
		json_decref(obj);
		styxy_error(rq, 500, "out of memory");
		return;
	}
	*w = (struct styxy_wait){ rq, status, obj };
	r = pw_settle_wait(&s->d->settle, alloc_id, "the change was not made", styxy_settled, w);
	if (r == 0)
		return;
	free(w);
	if (r < 0) {
		json_decref(obj);
		styxy_error(rq, 500, "out of memory");
		return;
	}
	pw_http_reply_json(rq, status, obj);
}

void styxy_iso(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (ms < 0 || !gmtime_r(&t, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00.000Z");
		return;
	}
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* --- lock ids and Styxy's side data --------------------------------------------- */

void styxy_lock_id(const struct pw_alloc_rt *r, char out[37])
{
	snprintf(out, 37, "%08x-0000-4000-8000-%012llx", (unsigned)(r->a.created_at & 0xffffffff),
		 (unsigned long long)r->a.id);
}

int styxy_lock_lookup(struct pw_styxy *s, const char *lock, struct pw_alloc_rt **ret)
{
	static const char shape[] = "hhhhhhhh-hhhh-4hhh-Vhhh-hhhhhhhhhhhh";
	unsigned long long id;
	unsigned created;
	struct pw_alloc_rt *r;

	*ret = NULL;
	if (strlen(lock) != sizeof(shape) - 1)
		return -EINVAL;
	for (size_t i = 0; shape[i]; i++) {
		char c = lock[i] | 0x20;

		if (shape[i] == '-' ? lock[i] != '-' :
		    shape[i] == '4' ? lock[i] != '4' :
		    shape[i] == 'V' ? !strchr("89ab", c) :
		    !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
	}
	if (sscanf(lock, "%8x", &created) != 1 || sscanf(lock + 24, "%12llx", &id) != 1)
		return -EINVAL;
	r = pw_allocs_by_id(s->d->allocs, (int64_t)id);
	if (r && (unsigned)(r->a.created_at & 0xffffffff) == created)
		*ret = r;
	return 0;
}

static struct styxy_meta *meta_find(struct pw_styxy *s, int64_t id)
{
	for (size_t i = 0; i < s->n_meta; i++)
		if (s->meta[i].alloc_id == id)
			return &s->meta[i];
	return NULL;
}

const char *styxy_meta_instance(struct pw_styxy *s, int64_t alloc_id)
{
	struct styxy_meta *m = meta_find(s, alloc_id);

	return m ? m->instance_id : NULL;
}

int styxy_meta_set(struct pw_styxy *s, int64_t alloc_id, const char *instance_id)
{
	struct styxy_meta *m = meta_find(s, alloc_id);

	/* forget allocations that are gone, so the table stays small */
	for (size_t i = 0; !m && i < s->n_meta;) {
		if (!pw_allocs_by_id(s->d->allocs, s->meta[i].alloc_id))
			s->meta[i] = s->meta[--s->n_meta];
		else
			i++;
	}
	if (!m) {
		if (pw_array_grow((void **)&s->meta, &s->cap_meta, s->n_meta + 1, sizeof(*s->meta)))
			return -ENOMEM;
		m = &s->meta[s->n_meta++];
		m->alloc_id = alloc_id;
	}
	snprintf(m->instance_id, sizeof(m->instance_id), "%s", instance_id);
	return 0;
}

json_t *styxy_alloc_json(struct pw_styxy *s, const struct pw_alloc_rt *r)
{
	const char *inst = styxy_meta_instance(s, r->a.id);
	char lock[37], at[32];

	styxy_lock_id(r, lock);
	styxy_iso(r->a.created_at, at);
	if (!inst)
		inst = "";
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, "
			 "s:s, s:i}",
			 "port", r->a.port, "service_type", r->a.service_type, "service_name",
			 r->a.name, "instance_id", inst, "project_path", r->a.project, "lock_id",
			 lock, "lockId", lock, "serviceType", r->a.service_type, "serviceName",
			 r->a.name, "instanceId", inst, "projectPath", r->a.project, "process_id",
			 (int)r->a.pid, "allocated_at", at, "id", (json_int_t)r->a.id, "state",
			 pw_alloc_state_name(r->a.state), "uid", (int)r->a.uid);
}

/* --- instances ------------------------------------------------------------------ */

struct styxy_instance *styxy_instance_find(struct pw_styxy *s, const char *id)
{
	for (size_t i = 0; i < s->n_inst; i++)
		if (!strcmp(s->inst[i].id, id))
			return &s->inst[i];
	return NULL;
}

static bool valid_id(const char *id)
{
	return id && *id && strlen(id) < 128 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") ==
		       strlen(id);
}

static void instance_register(struct pw_styxy *s, struct pw_http_req *rq, json_t *body)
{
	const char *id = json_string_value(json_object_get(body, "instance_id"));
	const char *wd = json_string_value(json_object_get(body, "working_directory"));
	json_t *meta = json_object_get(body, "metadata"), *jpid;
	struct styxy_instance *in;
	struct pw_proc p;
	char at[32];

	if (!id && json_is_integer(json_object_get(body, "pid"))) {
		/* Styxy's /register-instance: "ldpreload-<pid>" */
		static char gen[64];

		snprintf(gen, sizeof(gen), "ldpreload-%lld",
			 (long long)json_integer_value(json_object_get(body, "pid")));
		id = gen;
	}
	if (!id) {
		styxy_error(rq, 400, "instance_id is required");
		return;
	}
	if (!valid_id(id)) {
		styxy_error(rq, 400, "instance_id can only contain letters, numbers, hyphens, and "
			    "underscores");
		return;
	}
	in = styxy_instance_find(s, id);
	if (!in) {
		if (pw_array_grow((void **)&s->inst, &s->cap_inst, s->n_inst + 1, sizeof(*s->inst))) {
			styxy_error(rq, 500, "out of memory");
			return;
		}
		in = &s->inst[s->n_inst++];
		memset(in, 0, sizeof(*in));
		snprintf(in->id, sizeof(in->id), "%s", id);
	}
	free(in->working_directory);
	in->working_directory = wd ? strdup(wd) : NULL;
	json_decref(in->metadata);
	in->metadata = json_is_object(meta) ? json_deep_copy(meta) : json_object();
	in->registered_ms = in->heartbeat_ms = pw_wall_ms();
	/* a pid makes the instance an owner for its allocations (portwatch) */
	jpid = json_object_get(body, "pid");
	if (!json_is_integer(jpid) && json_is_object(meta))
		jpid = json_object_get(meta, "pid");
	in->pid = 0;
	/* never init nor a kernel thread (kthreadd, pid 2, or its child): they
	 * never exit, the port would never return; the daemon owns it then */
	if (json_is_integer(jpid) && json_integer_value(jpid) > 1 &&
	    json_integer_value(jpid) < INT32_MAX && !pw_proc_read((pid_t)json_integer_value(jpid), &p) &&
	    p.pid != 2 && p.ppid != 2) {
		in->pid = p.pid;
		in->start_time = p.start_time;
	}
	styxy_iso(in->registered_ms, at);
	pw_http_reply_json(rq, 200, json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "instance_id",
					      id, "message", "Instance registered", "registered_at",
					      at));
}

static void instance_heartbeat(struct pw_styxy *s, struct pw_http_req *rq, const char *id)
{
	struct styxy_instance *in = styxy_instance_find(s, id);
	char at[32];

	if (!in) {
		styxy_error(rq, 404, "Instance not found");
		return;
	}
	in->heartbeat_ms = pw_wall_ms();
	styxy_iso(in->heartbeat_ms, at);
	pw_http_reply_json(rq, 200, json_pack("{s:b, s:s, s:s}", "success", 1, "instance_id", id,
					      "last_heartbeat", at));
}

static void instance_list(struct pw_styxy *s, struct pw_http_req *rq)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < s->n_inst; i++) {
		struct styxy_instance *in = &s->inst[i];
		json_t *locks = json_array();
		char reg[32], hb[32], lock[37];

		for (size_t k = 0; k < s->n_meta; k++) {
			struct pw_alloc_rt *r = pw_allocs_by_id(s->d->allocs, s->meta[k].alloc_id);

			if (r && !strcmp(s->meta[k].instance_id, in->id)) {
				styxy_lock_id(r, lock);
				json_array_append_new(locks, json_string(lock));
			}
		}
		styxy_iso(in->registered_ms, reg);
		styxy_iso(in->heartbeat_ms, hb);
		json_array_append_new(arr, json_pack(
			"{s:s, s:s?, s:s, s:s, s:o, s:O, s:i}", "instance_id", in->id,
			"working_directory", in->working_directory, "registered_at", reg,
			"last_heartbeat", hb, "active_allocations", locks, "metadata",
			in->metadata ? in->metadata : json_null(), "pid", (int)in->pid));
	}
	pw_http_reply_json(rq, 200, json_pack("{s:o}", "instances", arr));
}

/* --- reporting endpoints ------------------------------------------------------------ */

static double uptime_s(struct pw_daemon *d)
{
	return (double)(pw_now_ns() - d->started_ns) / 1e9;
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static void status(struct pw_styxy *s, struct pw_http_req *rq)
{
	pw_http_reply_json(rq, 200, json_pack("{s:s, s:f, s:I, s:I, s:{s:I}, s:s}", "status",
					      "running", "uptime", uptime_s(s->d), "allocations",
					      (json_int_t)s->d->allocs->n, "instances",
					      (json_int_t)s->n_inst, "memory", "rss",
					      (json_int_t)rss_bytes(), "server", "portwatch"));
}

static void health(struct pw_styxy *s, struct pw_http_req *rq)
{
	struct pw_daemon *d = s->d;
	json_t *warn = pw_config_warnings(d->cfg);
	char now[32], last[32];
	const char *st = json_array_size(warn) ? "warning" : "healthy";

	if (d->allocs->storage_failing) {
		json_array_append_new(warn, json_string("state storage is failing"));
		st = "degraded";
	}
	styxy_iso(pw_wall_ms(), now);
	styxy_iso(s->last_cleanup_ms, last);
	pw_http_reply_json(rq, !strcmp(st, "degraded") ? 503 : 200, json_pack(
		"{s:s, s:s, s:f, s:s, s:{s:i, s:s}, s:{s:{s:s, s:I, s:I, s:s?}, s:{s:s, s:s}},"
		" s:{s:I, s:b}, s:o}",
		"status", st, "timestamp", now, "uptime", uptime_s(d), "version", STYXY_VERSION,
		"system", "pid", (int)getpid(), "platform", "linux",
		"services", "daemon", "status", "healthy", "allocations", (json_int_t)d->allocs->n,
		"instances", (json_int_t)s->n_inst, "last_cleanup",
		s->last_cleanup_ms ? last : NULL, "port_watcher", "status", "healthy", "mode",
		d->mode == PW_MODE_BPF ? "bpf" : "polling",
		"config", "service_types_loaded", (json_int_t)d->cfg->n_types, "auth_enabled", 1,
		"warnings", warn));
}

static void config(struct pw_styxy *s, struct pw_http_req *rq)
{
	const struct pw_config *c = s->d->cfg;
	json_t *types = json_object();

	for (size_t i = 0; i < c->n_types; i++) {
		const struct pw_service_type *t = &c->types[i];
		json_t *pref = json_array();

		for (size_t k = 0; k < t->n_preferred; k++)
			json_array_append_new(pref, json_integer(t->preferred[k]));
		json_object_set_new(types, t->name, json_pack(
			"{s:[i,i], s:[i,i], s:o, s:s, s:s}", "range", t->range_lo, t->range_hi,
			"port_range", t->range_lo, t->range_hi, "preferred_ports", pref,
			"description", t->description, "instance_behavior",
			t->single ? "single" : "multi"));
	}
	pw_http_reply_json(rq, 200, json_pack(
		"{s:o, s:{s:s, s:s}, s:{s:b, s:i, s:s, s:i, s:i}, s:o}", "service_types", types,
		"compliance", "source", "portwatch", "version", "2.0", "auto_allocation",
		"enabled", c->auto_alloc.enabled, "default_chunk_size",
		c->auto_alloc.default_chunk_size, "placement",
		c->auto_alloc.placement == PW_PLACE_BEFORE ? "before" :
		c->auto_alloc.placement == PW_PLACE_SMART ? "smart" : "after",
		"min_port", c->auto_alloc.min_port, "max_port", c->auto_alloc.max_port,
		"warnings", pw_config_warnings(c)));
}

static void metrics(struct pw_styxy *s, struct pw_http_req *rq)
{
	const char *fmt = pw_http_query(rq, "format");
	const struct pw_allocs_metrics *m = &s->d->allocs->m;
	char *text;

	if (fmt && !strcmp(fmt, "prometheus")) {
		text = pw_metrics_render(s->d);
		if (!text)
			styxy_error(rq, 500, "Failed to retrieve metrics");
		else
			pw_http_reply(rq, 200, PW_METRICS_CTYPE, text);
		return;
	}
	pw_http_reply_json(rq, 200, json_pack(
		"{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "counters",
		"ports_allocated_total", (json_int_t)m->allocated_total, "ports_released_total",
		(json_int_t)m->released_total, "allocation_errors_total",
		(json_int_t)m->refused_total, "port_conflicts_detected_total",
		(json_int_t)m->conflicts_total, "http_requests_total", (json_int_t)s->requests,
		"http_unauthorized_total", (json_int_t)s->unauthorized, "gauges",
		"allocations", (json_int_t)s->d->allocs->n, "instances", (json_int_t)s->n_inst));
}

struct audit_call {
	struct pw_styxy *s;
	struct pw_http_req *rq;
};

static void audit_page(void *ctx, const struct pw_journal_audit_page *p)
{
	struct audit_call *k = ctx;
	json_t *arr = json_array();
	char at[32], loc[600];

	for (size_t i = 0; !p->err && i < p->n; i++) {
		const struct pw_audit *r = &p->recs[i];

		styxy_iso(r->ts_ms, at);
		json_array_append_new(arr, json_pack(
			"{s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:s}", "timestamp", at, "action",
			r->action, "outcome", r->outcome, "port", r->port, "service_type",
			r->service_type, "uid", (int)r->uid, "pid", (int)r->pid, "detail", r->detail));
	}
	snprintf(loc, sizeof(loc), "%s (audit table)", k->s->d->opts.state_dir);
	pw_http_reply_json(k->rq, 200, json_pack("{s:b, s:s, s:n, s:o}", "enabled", 1,
						 "log_location", loc, "retention_days",
						 "recent_events", arr));
	free(k);
}

/* The newest 50 records, read on the storage thread. */
static void audit(struct pw_styxy *s, struct pw_http_req *rq)
{
	struct audit_call *k = malloc(sizeof(*k));

	if (!k) {
		styxy_error(rq, 500, "out of memory");
		return;
	}
	*k = (struct audit_call){ s, rq };
	if (pw_journal_audit_read(s->d->allocs->journal, -1, 50, 50, audit_page, k)) {
		free(k);
		styxy_error(rq, 500, "out of memory");
	}
}

/* --- routing ------------------------------------------------------------------------ */

static bool authorized(struct pw_styxy *s, struct pw_http_req *rq)
{
	const char *h = pw_http_header(rq, "Authorization");
	const char *key = NULL;
	size_t a, b;
	unsigned char diff = 0;

	if (h && !strncmp(h, "Bearer ", 7))
		key = h + 7;
	else
		key = pw_http_header(rq, "X-API-Key");
	if (!key) {
		styxy_error(rq, 401, "Authentication required. Provide API key via Authorization: "
			    "Bearer <key> or X-API-Key: <key> header");
		return false;
	}
	a = strlen(key);
	b = strlen(s->token);
	/* constant time over the token's length */
	for (size_t i = 0; i < b; i++)
		diff |= (unsigned char)(s->token[i] ^ (i < a ? key[i] : 0));
	if (diff || a != b) {
		styxy_error(rq, 401, "Invalid API key");
		return false;
	}
	return true;
}

/* "/prefix/<segment>" with nothing after the segment: the segment, else NULL. */
static const char *segment(const char *path, const char *prefix, const char *suffix)
{
	size_t n = strlen(prefix), sl = suffix ? strlen(suffix) : 0;
	const char *seg = path + n, *end;
	static char buf[256];

	if (strncmp(path, prefix, n) || !*seg)
		return NULL;
	end = strchr(seg, '/');
	if (suffix ? !end || strcmp(end, suffix) : end != NULL)
		return NULL;
	n = end ? (size_t)(end - seg) : strlen(seg);
	if (!n || n >= sizeof(buf) || (sl && n == 0))
		return NULL;
	memcpy(buf, seg, n);
	buf[n] = '\0';
	return buf;
}

json_t *styxy_body_object(struct pw_http_req *rq)
{
	size_t len;
	const char *b = pw_http_body(rq, &len);
	json_error_t jerr;
	json_t *o;

	if (!len)
		return json_object();
	o = json_loadb(b, len, 0, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		styxy_error(rq, 400, "invalid JSON body: %s", o ? "expected an object" : jerr.text);
		return NULL;
	}
	return o;
}

static void serve(void *ctx, struct pw_http_req *rq)
{
	struct pw_styxy *s = ctx;
	const char *m = pw_http_method(rq), *p = pw_http_path(rq), *seg;
	bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
	json_t *body;

	s->requests++;
	/* as on the control socket: binds and closes done before the request show */
	pw_daemon_catch_up(s->d);
	/* Styxy answers /status without a token (its CLI discovers the daemon so) */
	if (get && !strcmp(p, "/status")) {
		status(s, rq);
		return;
	}
	if (!authorized(s, rq)) {
		s->unauthorized++;
		return;
	}
	if (post && !strcmp(p, "/allocate")) {
		styxy_allocate(s, rq);
	} else if (!strcmp(m, "DELETE") && (seg = segment(p, "/allocate/", NULL))) {
		styxy_release(s, rq, seg);
	} else if (get && (seg = segment(p, "/check/", NULL))) {
		styxy_check(s, rq, seg);
	} else if (get && !strcmp(p, "/allocations")) {
		styxy_allocations(s, rq);
	} else if (get && !strcmp(p, "/health")) {
		health(s, rq);
	} else if (get && !strcmp(p, "/config")) {
		config(s, rq);
	} else if (get && !strcmp(p, "/metrics")) {
		metrics(s, rq);
	} else if (get && !strcmp(p, "/audit")) {
		audit(s, rq);
	} else if (get && !strcmp(p, "/scan")) {
		styxy_scan(s, rq);
	} else if (post && !strcmp(p, "/cleanup")) {
		styxy_cleanup(s, rq);
	} else if (get && !strcmp(p, "/instance/list")) {
		instance_list(s, rq);
	} else if (post && (!strcmp(p, "/instance/register") || !strcmp(p, "/register-instance"))) {
		body = styxy_body_object(rq);
		if (body)
			instance_register(s, rq, body);
		json_decref(body);
	} else if (!strcmp(m, "PUT") && (seg = segment(p, "/instance/", "/heartbeat"))) {
		instance_heartbeat(s, rq, seg);
	} else if (get && (seg = segment(p, "/suggest/", NULL))) {
		styxy_suggest(s, rq, seg);
	} else {
		/* Express's answer for an unknown route is a 404 too */
		styxy_error(rq, 404, "Cannot %s %s", m, p);
	}
}

/* --- the token file ------------------------------------------------------------------- */

static int load_or_create_token(struct pw_styxy *s)
{
	unsigned char raw[32];
	struct stat anc, st;
	char dir[512], *slash;
	ssize_t n;
	int fd;

	fd = open(s->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, s->token, sizeof(s->token) - 1);
		if (n >= 0 && !fstat(fd, &st)) {
			s->token[n] = '\0';
			s->token[strcspn(s->token, " \t\r\n")] = '\0';
			s->token_uid = st.st_uid;
		}
		close(fd);
		if (strlen(s->token) >= 32) {
			pw_info("styxy: loaded the API key from %s", s->token_file);
			return 0;
		}
	}
	/* as Styxy: a new 64-hex-digit key, the directory 0700, the file 0600;
	 * both belong to the owner of the nearest existing ancestor (the user's
	 * home), so that user's Styxy CLI can read the key */
	snprintf(dir, sizeof(dir), "%s", s->token_file);
	slash = strrchr(dir, '/');
	anc.st_uid = 0;
	anc.st_gid = 0;
	if (slash && slash != dir) {
		char up[512];

		*slash = '\0';
		snprintf(up, sizeof(up), "%s", dir);
		while (stat(up, &anc)) {
			char *u = strrchr(up, '/');

			if (!u || u == up) {
				(void) stat("/", &anc);
				break;
			}
			*u = '\0';
		}
		/* mkdir -p, as Styxy's mkdirSync(..., { recursive: true }) */
		for (char *q = strchr(dir + 1, '/'); ; q = strchr(q + 1, '/')) {
			if (q)
				*q = '\0';
			if (mkdir(dir, 0700) == 0)
				(void) !chown(dir, anc.st_uid, anc.st_gid);
			else if (errno != EEXIST)
				return -errno;
			if (!q)
				break;
			*q = '/';
		}
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(s->token + 2 * i, 3, "%02x", raw[i]);
	fd = open(s->token_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, s->token, strlen(s->token));
	s->token_uid = fchown(fd, anc.st_uid, anc.st_gid) ? 0 : anc.st_uid;
	if (close(fd) || n != (ssize_t)strlen(s->token))
		return -EIO;
	pw_info("styxy: generated a new API key in %s", s->token_file);
	return 0;
}

int pw_styxy_start(struct pw_daemon *d, const struct pw_styxy_opts *o)
{
	static const struct pw_http_opts ho = { .max_body = STYXY_MAX_BODY, .max_conns = 128,
						.timeout_s = 10, .mem_limit = 32768,
						.what = "styxy http" };
	struct pw_styxy *s = calloc(1, sizeof(*s));
	const char *home = getenv("HOME");
	int err;

	if (!s)
		return -ENOMEM;
	s->d = d;
	if (o->token_file)
		snprintf(s->token_file, sizeof(s->token_file), "%s", o->token_file);
	else
		snprintf(s->token_file, sizeof(s->token_file), "%s/.styxy/auth.token",
			 home && *home ? home : "/root");
	err = load_or_create_token(s);
	if (err) {
		pw_err("styxy: API key file %s: %s", s->token_file, strerror(-err));
		free(s);
		return err;
	}
	err = pw_http_new(&s->http, d->loop, o->listen, &ho, serve, s);
	if (err) {
		free(s);
		return err;
	}
	d->styxy = s;
	pw_info("styxy: Styxy-compatible API on http://%s (port %u), key %s", o->listen,
		pw_http_port(s->http), s->token_file);
	return 0;
}

void pw_styxy_stop(struct pw_daemon *d)
{
	struct pw_styxy *s = d->styxy;

	if (!s)
		return;
	pw_http_free(s->http);
	for (size_t i = 0; i < s->n_inst; i++) {
		free(s->inst[i].working_directory);
		json_decref(s->inst[i].metadata);
	}
	free(s->inst);
	free(s->meta);
	explicit_bzero(s->token, sizeof(s->token));
	free(s);
	d->styxy = NULL;
}

unsigned pw_styxy_port(const struct pw_styxy *s)
{
	return s ? pw_http_port(s->http) : 0;
}
