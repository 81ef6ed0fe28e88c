// SPDX-License-Identifier: GPL-2.0
/*
 * user/portmap.c: events, per-port chains, growth, snapshot sync, and random
 * churn (events and syncs) checked against a reference model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "portmap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* pid and ts_ns derive from the cookie, so attribution can be checked */
static struct pw_event mkev(__u8 kind, __u64 cookie, __u16 port)
{
	return (struct pw_event){ .kind = kind, .cookie = cookie, .port = port,
		.ts_ns = 1000 + cookie, .netns = 4026531840ULL, .pid = (__u32)(100 + cookie),
		.uid = 1000, .proto = IPPROTO_TCP, .family = AF_INET, .addr = { 127, 0, 0, 1 },
		.comm = "server" };
}

static int apply(struct pw_portmap *m, __u8 kind, __u64 cookie, __u16 port)
{
	struct pw_event ev = mkev(kind, cookie, port);

	return pw_portmap_apply(m, &ev, NULL);
}

static int setup(void **state)
{
	return pw_portmap_new((struct pw_portmap **)state) ? -1 : 0;
}

static int teardown(void **state)
{
	pw_portmap_free(*state);
	return 0;
}

/* The cookies on a port, in chain order; checks every entry is on that port. */
static size_t port_cookies(const struct pw_portmap *m, __u16 port, __u64 *out, size_t max)
{
	size_t n = 0;

	for (const struct pw_sock *s = pw_portmap_port_first(m, port); s;
	     s = pw_portmap_port_next(m, s)) {
		assert_int_equal(s->port, port);
		assert_true(n < max);
		out[n++] = s->cookie;
	}
	return n;
}

static bool has(const __u64 *v, size_t n, __u64 c)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == c)
			return true;
	return false;
}

static void test_bind_close(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event ev = mkev(PW_EV_BIND, 7, 8080);
	struct pw_sock gone;
	const struct pw_sock *s;

	ev.family = AF_INET6;
	ev.proto = IPPROTO_UDP;
	ev.addr[15] = 0x42;
	assert_int_equal(pw_portmap_size(m), 0);
	assert_null(pw_portmap_find(m, 7));
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	assert_int_equal(pw_portmap_size(m), 1);
	s = pw_portmap_find(m, 7);
	assert_non_null(s);
	assert_true(s->cookie == 7 && s->netns == ev.netns && s->bound_ns == ev.ts_ns);
	assert_true(s->pid == 107 && s->uid == 1000 && s->port == 8080);
	assert_true(s->proto == IPPROTO_UDP && s->family == AF_INET6);
	assert_int_equal(s->state, PW_SOCK_BOUND);	/* state 0 in the event means bound */
	assert_memory_equal(s->addr, ev.addr, 16);
	assert_string_equal(s->comm, "server");

	/* BIND twice: idempotent, keeps the first attribution */
	ev.pid = 999;
	ev.ts_ns = 5;
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_NONE);
	assert_int_equal(pw_portmap_size(m), 1);
	s = pw_portmap_find(m, 7);
	assert_true(s->pid == 107 && s->bound_ns == 1007);

	memset(&gone, 0, sizeof(gone));
	ev.kind = PW_EV_CLOSE;
	assert_int_equal(pw_portmap_apply(m, &ev, &gone), PW_PM_REMOVED);
	assert_true(gone.cookie == 7 && gone.port == 8080 && gone.pid == 107);
	assert_string_equal(gone.comm, "server");
	assert_int_equal(pw_portmap_size(m), 0);
	assert_null(pw_portmap_find(m, 7));
	assert_null(pw_portmap_port_first(m, 8080));

	/* CLOSE of an unknown or already closed socket changes nothing */
	memset(&gone, 0xab, sizeof(gone));
	assert_int_equal(pw_portmap_apply(m, &ev, &gone), PW_PM_NONE);
	assert_int_equal(gone.port, 0xabab);
	assert_int_equal(apply(m, PW_EV_CLOSE, 12345, 1), PW_PM_NONE);
	assert_int_equal(pw_portmap_size(m), 0);

	/* a comm without a NUL (kernel side) is stored terminated */
	ev = mkev(PW_EV_BIND, 3, 1);
	memset(ev.comm, 'x', sizeof(ev.comm));
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	assert_int_equal(strlen(pw_portmap_find(m, 3)->comm), PW_COMM_LEN - 1);
}

static void test_listen_unlisten_exit(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event ev = mkev(PW_EV_BIND, 1, 80);

	/* state events for unknown sockets do not create them */
	assert_int_equal(apply(m, PW_EV_LISTEN, 1, 80), PW_PM_NONE);
	assert_int_equal(apply(m, PW_EV_UNLISTEN, 1, 80), PW_PM_NONE);
	assert_int_equal(pw_portmap_size(m), 0);

	assert_int_equal(apply(m, PW_EV_BIND, 1, 80), PW_PM_ADDED);
	assert_int_equal(apply(m, PW_EV_UNLISTEN, 1, 80), PW_PM_NONE);
	assert_int_equal(apply(m, PW_EV_LISTEN, 1, 80), PW_PM_UPDATED);
	assert_int_equal(pw_portmap_find(m, 1)->state, PW_SOCK_LISTENING);
	assert_int_equal(apply(m, PW_EV_LISTEN, 1, 80), PW_PM_NONE);
	/* a BIND without a state does not undo listening; one with a state does */
	assert_int_equal(apply(m, PW_EV_BIND, 1, 80), PW_PM_NONE);
	assert_int_equal(pw_portmap_find(m, 1)->state, PW_SOCK_LISTENING);
	assert_int_equal(apply(m, PW_EV_UNLISTEN, 1, 80), PW_PM_UPDATED);
	assert_int_equal(pw_portmap_find(m, 1)->state, PW_SOCK_BOUND);
	ev.state = PW_SOCK_LISTENING;
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_UPDATED);
	assert_int_equal(pw_portmap_find(m, 1)->state, PW_SOCK_LISTENING);

	/* EXIT, unknown kinds: nothing, even with a matching cookie */
	assert_int_equal(apply(m, PW_EV_EXIT, 1, 80), PW_PM_NONE);
	assert_int_equal(apply(m, 0, 1, 80), PW_PM_NONE);
	assert_int_equal(apply(m, PW_EV_KIND_MAX, 1, 80), PW_PM_NONE);
	assert_int_equal(apply(m, 200, 1, 80), PW_PM_NONE);
	assert_int_equal(pw_portmap_size(m), 1);
	assert_non_null(pw_portmap_find(m, 1));
}

/* SO_REUSEPORT-like: one port, many sockets; removal from head, middle, tail. */
static void test_port_chain(void **state)
{
	struct pw_portmap *m = *state;
	__u64 got[16], left[16];
	size_t n;

	for (__u64 c = 1; c <= 6; c++) {
		struct pw_event ev = mkev(PW_EV_BIND, c, 5000);

		ev.netns = c % 2 ? 1 : 2;
		ev.proto = c % 3 ? IPPROTO_TCP : IPPROTO_UDP;
		ev.family = c > 3 ? AF_INET6 : AF_INET;
		assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	}
	assert_int_equal(apply(m, PW_EV_BIND, 10, 5001), PW_PM_ADDED);
	assert_int_equal(apply(m, PW_EV_BIND, 11, 4999), PW_PM_ADDED);
	assert_int_equal(apply(m, PW_EV_BIND, 12, 0), PW_PM_ADDED);
	assert_int_equal(apply(m, PW_EV_BIND, 13, 65535), PW_PM_ADDED);
	assert_int_equal(pw_portmap_size(m), 10);

	n = port_cookies(m, 5000, got, ARRAY_SIZE(got));
	assert_int_equal(n, 6);
	for (__u64 c = 1; c <= 6; c++)
		assert_true(has(got, n, c));
	assert_true(port_cookies(m, 0, left, 16) == 1 && left[0] == 12);
	assert_true(port_cookies(m, 65535, left, 16) == 1 && left[0] == 13);
	assert_int_equal(port_cookies(m, 4998, left, 16), 0);

	/* the chain order tells which is head, middle and tail */
	assert_int_equal(apply(m, PW_EV_CLOSE, got[0], 5000), PW_PM_REMOVED);	/* head */
	assert_int_equal(apply(m, PW_EV_CLOSE, got[5], 5000), PW_PM_REMOVED);	/* tail */
	assert_int_equal(apply(m, PW_EV_CLOSE, got[2], 5000), PW_PM_REMOVED);	/* middle */
	n = port_cookies(m, 5000, left, 16);
	assert_int_equal(n, 3);
	assert_true(has(left, n, got[1]) && has(left, n, got[3]) && has(left, n, got[4]));
	assert_int_equal(port_cookies(m, 5001, got, 16), 1);	/* neighbours untouched */
	assert_int_equal(port_cookies(m, 4999, got, 16), 1);
	/* a freed slot reused on another port does not drag the old chain along */
	assert_int_equal(apply(m, PW_EV_BIND, 20, 7000), PW_PM_ADDED);
	assert_int_equal(port_cookies(m, 7000, got, 16), 1);
	assert_int_equal(port_cookies(m, 5000, got, 16), 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(apply(m, PW_EV_CLOSE, left[i], 5000), PW_PM_REMOVED);
	assert_null(pw_portmap_port_first(m, 5000));
	assert_int_equal(pw_portmap_size(m), 5);
}

/* --- a reference model, and growth checked against it ------------------ */

struct model {
	bool live;
	__u16 port;
	__u8 state;
	bool closed;	/* a close was applied: a snapshot never brings it back */
};

static const __u16 ports[] = { 0, 1, 80, 443, 8080, 8081, 30000, 65535 };
static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	/* xorshift64: deterministic, so a failure reproduces */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void check_model(const struct pw_portmap *m, const struct model *md, size_t n)
{
	size_t live = 0, on_ports = 0, iter = 0;
	bool *lv = calloc(n, 1);
	const struct pw_sock *s;

	assert_non_null(lv);
	for (size_t c = 1; c < n; c++) {
		s = pw_portmap_find(m, c);
		lv[c] = md[c].live;
		if (!md[c].live) {
			assert_null(s);
			continue;
		}
		live++;
		assert_non_null(s);
		assert_true(s->cookie == c && s->port == md[c].port && s->state == md[c].state);
		assert_int_equal(s->pid, 100 + c);
	}
	assert_int_equal(pw_portmap_size(m), live);
	for (size_t p = 0; p < ARRAY_SIZE(ports); p++) {
		size_t expect = 0, got = 0;

		for (size_t c = 1; c < n; c++)
			expect += md[c].live && md[c].port == ports[p];
		for (s = pw_portmap_port_first(m, ports[p]); s; s = pw_portmap_port_next(m, s)) {
			assert_true(s->port == ports[p] && s->cookie < n && lv[s->cookie]);
			lv[s->cookie] = false;	/* seen: a second visit fails */
			got++;
		}
		assert_int_equal(got, expect);
		on_ports += got;
	}
	assert_int_equal(on_ports, live);
	/* pw_portmap_next: every live socket exactly once */
	for (size_t c = 1; c < n; c++)
		lv[c] = md[c].live;
	while ((s = pw_portmap_next(m, &iter))) {
		assert_true(s->cookie < n && lv[s->cookie]);
		lv[s->cookie] = false;
		live--;
	}
	assert_int_equal(live, 0);
	assert_null(pw_portmap_next(m, &iter));	/* stays at the end */
	free(lv);
}

static void test_growth(void **state)
{
	struct pw_portmap *m = *state;
	enum { N = 20000 };
	struct model *md = calloc(N + 1, sizeof(*md));
	const struct pw_sock *s;

	assert_non_null(md);
	for (__u64 c = 1; c <= N; c++) {
		md[c] = (struct model){ true, ports[c % ARRAY_SIZE(ports)], PW_SOCK_BOUND };
		assert_int_equal(apply(m, PW_EV_BIND, c, md[c].port), PW_PM_ADDED);
	}
	check_model(m, md, N + 1);
	assert_null(pw_portmap_find(m, N + 1));
	for (__u64 c = 1; c <= N; c += 2) {
		assert_int_equal(apply(m, PW_EV_CLOSE, c, 0), PW_PM_REMOVED);
		md[c].live = false;
	}
	check_model(m, md, N + 1);
	free(md);

	/* close-then-bind churn reuses the freed slot: memory stays bounded */
	s = pw_portmap_find(m, 2);
	for (__u64 c = 2; c < 100000; c++) {
		assert_int_equal(apply(m, PW_EV_CLOSE, c == 2 ? 2 : N + c - 1, 9), PW_PM_REMOVED);
		assert_int_equal(apply(m, PW_EV_BIND, N + c, 9), PW_PM_ADDED);
		assert_ptr_equal(pw_portmap_find(m, N + c), s);
	}
}

/* --- sync -------------------------------------------------------------- */

struct rec {
	struct pw_event ev[64];
	size_t n;
};

static void record(void *ctx, const struct pw_event *ev)
{
	struct rec *r = ctx;

	assert_true(r->n < ARRAY_SIZE(r->ev));
	r->ev[r->n++] = *ev;
}

/* The one report of cookie (NULL if none), of kind kind on port port. */
static const struct pw_event *rec_find(const struct rec *r, __u64 cookie, __u8 kind, __u16 port)
{
	const struct pw_event *hit = NULL;

	for (size_t i = 0; i < r->n; i++) {
		if (r->ev[i].cookie != cookie)
			continue;
		assert_null(hit);	/* reported once */
		hit = &r->ev[i];
		assert_int_equal(hit->kind, kind);
		assert_int_equal(hit->port, port);
	}
	return hit;
}

static void test_sync(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event snap[5];
	struct rec r = { .n = 0 };
	const struct pw_event *e;
	__u64 got[8];

	assert_int_equal(apply(m, PW_EV_BIND, 1, 100), PW_PM_ADDED);	/* unchanged */
	assert_int_equal(apply(m, PW_EV_BIND, 2, 100), PW_PM_ADDED);	/* starts listening */
	assert_int_equal(apply(m, PW_EV_BIND, 3, 100), PW_PM_ADDED);	/* gone */
	assert_int_equal(apply(m, PW_EV_BIND, 4, 200), PW_PM_ADDED);	/* stops listening */
	assert_int_equal(apply(m, PW_EV_LISTEN, 4, 200), PW_PM_UPDATED);

	snap[0] = mkev(PW_EV_BIND, 1, 100);
	snap[1] = mkev(PW_EV_BIND, 2, 100);
	snap[1].state = PW_SOCK_LISTENING;
	snap[2] = mkev(PW_EV_BIND, 4, 200);
	snap[2].state = PW_SOCK_BOUND;
	snap[3] = mkev(PW_EV_BIND, 5, 300);			/* new */
	snap[4] = snap[3];					/* duplicate in the dump */
	assert_int_equal(pw_portmap_sync(m, snap, 5, record, &r), 4);
	assert_int_equal(r.n, 4);
	assert_null(rec_find(&r, 1, 0, 0));
	assert_non_null(rec_find(&r, 2, PW_EV_LISTEN, 100));
	assert_non_null(rec_find(&r, 4, PW_EV_UNLISTEN, 200));
	assert_non_null(rec_find(&r, 5, PW_EV_BIND, 300));
	e = rec_find(&r, 3, PW_EV_CLOSE, 100);
	assert_non_null(e);
	assert_int_equal(e->pid, 103);

	/* the map now equals the snapshot */
	assert_int_equal(pw_portmap_size(m), 4);
	assert_null(pw_portmap_find(m, 3));
	assert_int_equal(pw_portmap_find(m, 2)->state, PW_SOCK_LISTENING);
	assert_int_equal(pw_portmap_find(m, 4)->state, PW_SOCK_BOUND);
	assert_int_equal(pw_portmap_find(m, 5)->port, 300);
	assert_int_equal(port_cookies(m, 100, got, 8), 2);

	/* same snapshot again: nothing to report; an event that raced it neither */
	r.n = 0;
	assert_int_equal(pw_portmap_sync(m, snap, 4, record, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(apply(m, PW_EV_BIND, 5, 300), PW_PM_NONE);

	/* no callback: still counted; a socket bound since the last sync counts too */
	assert_int_equal(apply(m, PW_EV_BIND, 6, 300), PW_PM_ADDED);
	assert_int_equal(pw_portmap_sync(m, snap, 1, NULL, NULL), 4);
	assert_int_equal(pw_portmap_size(m), 1);

	/* empty snapshot empties the map */
	r.n = 0;
	assert_int_equal(pw_portmap_sync(m, NULL, 0, record, &r), 1);
	assert_int_equal(r.n, 1);
	assert_non_null(rec_find(&r, 1, PW_EV_CLOSE, 100));
	assert_int_equal(pw_portmap_size(m), 0);
	assert_null(pw_portmap_port_first(m, 100));
	assert_null(pw_portmap_next(m, &(size_t){ 0 }));
}

/* --- random churn: events and syncs ------------------------------------ */

static bool differs(const struct model *a, const struct model *b)
{
	return a->live != b->live || (a->live && (a->port != b->port || a->state != b->state));
}

struct sync_ctx {
	const struct model *before, *after;
	bool *seen;
	size_t n;
};

/* A sync report must describe a real difference between before and after. */
static void on_sync(void *ctx, const struct pw_event *ev)
{
	struct sync_ctx *x = ctx;
	const struct model *b, *a;

	assert_true(ev->cookie > 0 && ev->cookie < x->n);
	b = &x->before[ev->cookie];
	a = &x->after[ev->cookie];
	assert_false(x->seen[ev->cookie]);
	x->seen[ev->cookie] = true;
	if (ev->kind == PW_EV_BIND)
		assert_true(!b->live && a->live && ev->port == a->port);
	else if (ev->kind == PW_EV_CLOSE)
		assert_true(b->live && !a->live && ev->port == b->port);
	else
		assert_true((ev->kind == PW_EV_LISTEN || ev->kind == PW_EV_UNLISTEN) &&
			    b->live && a->live && b->state != a->state &&
			    (ev->kind == PW_EV_LISTEN) == (a->state == PW_SOCK_LISTENING));
}

/* Sync to a snapshot that drops, adds and flips about a tenth of the model. */
static void churn_sync(struct pw_portmap *m, struct model *md, size_t n)
{
	struct model *after = calloc(n, sizeof(*after));
	struct pw_event *snap = calloc(n, sizeof(*snap));
	struct sync_ctx x = { md, after, calloc(n, 1), n };
	size_t k = 0;
	int changes = 0;

	assert_true(after && snap && x.seen);
	for (size_t c = 1; c < n; c++) {
		__u64 r = rnd();

		after[c] = md[c];
		if (r % 10 == 0 && !(md[c].closed && !md[c].live))
			after[c] = (struct model){ !md[c].live, ports[(r >> 8) % ARRAY_SIZE(ports)],
						   PW_SOCK_BOUND, md[c].closed };
		else if (r % 10 == 1 && md[c].live)
			after[c].state ^= PW_SOCK_BOUND ^ PW_SOCK_LISTENING;
		if (!after[c].live)
			continue;
		snap[k] = mkev(PW_EV_BIND, c, after[c].port);
		snap[k++].state = after[c].state;
		changes += differs(&after[c], &md[c]);
	}
	for (size_t c = 1; c < n; c++)
		changes += md[c].live && !after[c].live;
	assert_int_equal(pw_portmap_sync(m, snap, k, on_sync, &x), changes);
	for (size_t c = 1; c < n; c++)
		assert_true(x.seen[c] == differs(&after[c], &md[c]));
	memcpy(md, after, n * sizeof(*md));
	check_model(m, md, n);
	free(x.seen);
	free(snap);
	free(after);
}

static void churn(struct pw_portmap *m, size_t ncookies, size_t ops)
{
	struct model *md = calloc(ncookies + 1, sizeof(*md));

	assert_non_null(md);
	for (size_t op = 1; op <= ops; op++) {
		__u64 c = 1 + rnd() % ncookies, r = rnd();
		struct model *e = &md[c];
		struct pw_event ev;
		struct pw_sock gone;
		int ret;

		switch (r % 8) {
		case 0: case 1: case 2: case 3: case 4:	/* bind, sometimes as listening */
			ev = mkev(PW_EV_BIND, c, ports[(r >> 8) % ARRAY_SIZE(ports)]);
			ev.state = (r >> 16) % 4 == 0 ? PW_SOCK_LISTENING : 0;
			ret = pw_portmap_apply(m, &ev, NULL);
			if (!e->live) {
				assert_int_equal(ret, PW_PM_ADDED);
				*e = (struct model){ true, ev.port,
						     ev.state ? ev.state : PW_SOCK_BOUND, e->closed };
			} else if (ev.state && ev.state != e->state) {
				assert_int_equal(ret, PW_PM_UPDATED);
				e->state = ev.state;
			} else {
				assert_int_equal(ret, PW_PM_NONE);
			}
			break;
		case 5: case 6:
			ev = mkev(PW_EV_CLOSE, c, 0);
			ret = pw_portmap_apply(m, &ev, &gone);
			assert_int_equal(ret, e->live ? PW_PM_REMOVED : PW_PM_NONE);
			if (e->live)
				assert_true(gone.cookie == c && gone.port == e->port);
			e->live = false;
			e->closed = true;
			break;
		default: {
			__u8 st = (r >> 8) & 1 ? PW_SOCK_LISTENING : PW_SOCK_BOUND;

			ev = mkev(st == PW_SOCK_LISTENING ? PW_EV_LISTEN : PW_EV_UNLISTEN, c, 0);
			ret = pw_portmap_apply(m, &ev, NULL);
			assert_int_equal(ret, e->live && e->state != st ? PW_PM_UPDATED
								      : PW_PM_NONE);
			if (e->live)
				e->state = st;
		}
		}
		if (op % 20000 == 0)
			check_model(m, md, ncookies + 1);
		if (op % 20000 == 10000)
			churn_sync(m, md, ncookies + 1);
	}
	check_model(m, md, ncookies + 1);
	free(md);
}

/*
 * 200,000 operations. 760 cookies, ~5/7 of them live: the first 1024-slot
 * table (it grows past 768 entries) stays up to 3/4 full, with long probe
 * runs that wrap around its end. Then 6000 cookies: the table grows while
 * entries come and go.
 */
static void test_churn(void **state)
{
	struct pw_portmap *m2 = NULL;

	churn(*state, 760, 100000);
	assert_int_equal(pw_portmap_new(&m2), 0);
	churn(m2, 6000, 100000);
	pw_portmap_free(m2);
}

static void test_sock_to_event(void **state)
{
	struct pw_portmap *m = *state, *m2 = NULL;
	struct pw_event ev = mkev(PW_EV_BIND, 0xfeedface12345ULL, 53), out;
	const struct pw_sock *s;

	ev.proto = IPPROTO_UDP;
	ev.family = AF_INET6;
	ev.state = PW_SOCK_LISTENING;
	ev.uid = 4242;
	for (int i = 0; i < 16; i++)
		ev.addr[i] = (__u8)(0xf0 + i);
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	s = pw_portmap_find(m, ev.cookie);
	memset(&out, 0x5a, sizeof(out));
	pw_sock_to_event(s, PW_EV_BIND, &out);
	assert_memory_equal(&out, &ev, sizeof(ev));	/* padding and exit_code zeroed */
	pw_sock_to_event(s, PW_EV_CLOSE, &out);
	assert_int_equal(out.kind, PW_EV_CLOSE);

	/* and back: the same socket in another map */
	assert_int_equal(pw_portmap_new(&m2), 0);
	pw_sock_to_event(s, PW_EV_BIND, &out);
	assert_int_equal(pw_portmap_apply(m2, &out, NULL), PW_PM_ADDED);
	assert_non_null(pw_portmap_find(m2, ev.cookie));
	/* field by field where the struct has padding (before port) */
	assert_memory_equal(pw_portmap_find(m2, ev.cookie), s,
			    offsetof(struct pw_sock, addr) + sizeof(s->addr));
	assert_memory_equal(&pw_portmap_find(m2, ev.cookie)->port, &s->port,
			    offsetof(struct pw_sock, comm) + PW_COMM_LEN -
			    offsetof(struct pw_sock, port));
	pw_portmap_free(m2);
	pw_portmap_free(NULL);
}

static void count_change(void *ctx, const struct pw_event *ev)
{
	(void) ev;
	(*(int *)ctx)++;
}

/* Streamed sync: what the array form does, step by step; an ownerless entry
 * (a socket dumped before its owner was known) takes the owner of a later
 * bind; an unfinished stream (no end) removes nothing. */
static void test_streamed_sync_and_owner_adoption(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event a = mkev(PW_EV_BIND, 1, 4000), b = mkev(PW_EV_BIND, 2, 4001);
	struct pw_event c = mkev(PW_EV_BIND, 3, 4002), late;
	const struct pw_sock *s;
	int changes = 0;

	assert_int_equal(apply(m, PW_EV_BIND, 9, 4009), PW_PM_ADDED);
	a.pid = 0;
	a.comm[0] = '\0';
	pw_portmap_sync_begin(m);
	assert_int_equal(pw_portmap_sync_add(m, &a, count_change, &changes), 1);
	assert_int_equal(pw_portmap_sync_add(m, &b, count_change, &changes), 1);
	/* a retried dump hands a socket over twice: no second change */
	assert_int_equal(pw_portmap_sync_add(m, &b, count_change, &changes), 0);
	assert_int_equal(pw_portmap_sync_end(m, count_change, &changes), 1);	/* cookie 9 */
	assert_int_equal(changes, 3);
	assert_int_equal(pw_portmap_size(m), 2);
	assert_null(pw_portmap_find(m, 9));

	/* the owner arrives with the bind event (or the next snapshot) */
	s = pw_portmap_find(m, 1);
	assert_int_equal(s->pid, 0);
	late = mkev(PW_EV_BIND, 1, 4000);
	assert_int_equal(pw_portmap_apply(m, &late, NULL), PW_PM_NONE);
	assert_int_equal(s->pid, 101);
	assert_string_equal(s->comm, "server");
	/* a known owner is not replaced by a later one */
	late.pid = 555;
	(void) pw_portmap_apply(m, &late, NULL);
	assert_int_equal(s->pid, 101);

	/* an unfinished stream: c added, nothing swept */
	pw_portmap_sync_begin(m);
	assert_int_equal(pw_portmap_sync_add(m, &c, NULL, NULL), 1);
	assert_int_equal(pw_portmap_size(m), 3);
	assert_non_null(pw_portmap_find(m, 1));
	assert_non_null(pw_portmap_find(m, 2));
}

/* Ports in order: the next port with a socket from any port on (empty
 * ones skipped four at a time), against a scan of the model; and the
 * prefetch walk counts the same ports. */
static void test_port_order(void **state)
{
	struct pw_portmap *m = *state;
	static const __u16 used[] = { 0, 3, 4, 5, 8, 11, 12, 1000, 1003, 40000, 65532, 65535 };
	bool on[65536] = { false };
	unsigned from = 0, n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(used); i++) {
		assert_int_equal(apply(m, PW_EV_BIND, i + 1, used[i]), PW_PM_ADDED);
		on[used[i]] = true;
	}
	for (unsigned p = 0, want = 0; p <= 65536; p++) {
		if (p == 0 || (p <= 65535 && on[p - 1]) || p == 65536)
			for (want = p; want < 65536 && !on[want]; want++)
				;
		assert_int_equal(pw_portmap_next_port(m, p), want);
	}
	assert_int_equal(pw_portmap_prefetch_ports(m, &from, 5), 5);
	assert_int_equal(from, 9);			/* past port 8 */
	assert_int_equal(pw_portmap_prefetch_ports(m, &from, 0), 0);
	assert_int_equal(from, 9);
	n = pw_portmap_prefetch_ports(m, &from, 100);	/* the rest */
	assert_int_equal(n, ARRAY_SIZE(used) - 5);
	assert_int_equal(from, 65536);
	assert_int_equal(pw_portmap_prefetch_ports(m, &from, 3), 0);
}

/* The kernel reports a release before it unhashes the socket: a snapshot
 * read just after the close was applied can still list it. It stays gone;
 * so does one whose close comes after the snapshot but from before it. Only
 * the last 4096 closes are remembered. */
static void test_sync_after_close(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event a = mkev(PW_EV_BIND, 1, 4000), b = mkev(PW_EV_BIND, 2, 4001);
	int changes = 0;

	assert_int_equal(pw_portmap_apply(m, &a, NULL), PW_PM_ADDED);
	assert_int_equal(apply(m, PW_EV_CLOSE, 1, 0), PW_PM_REMOVED);
	pw_portmap_sync_begin(m);
	assert_int_equal(pw_portmap_sync_add(m, &a, count_change, &changes), 0);
	assert_int_equal(pw_portmap_sync_add(m, &b, count_change, &changes), 1);
	assert_int_equal(pw_portmap_sync_end(m, count_change, &changes), 0);
	assert_int_equal(changes, 1);
	assert_null(pw_portmap_find(m, 1));
	assert_int_equal(pw_portmap_size(m), 1);

	/* a close applied after the sync began removes what the sync added */
	pw_portmap_sync_begin(m);
	assert_int_equal(pw_portmap_sync_add(m, &(struct pw_event){ .kind = PW_EV_BIND,
			 .cookie = 3, .port = 4003, .pid = 103 }, NULL, NULL), 1);
	assert_int_equal(pw_portmap_sync_add(m, &b, NULL, NULL), 0);
	assert_int_equal(pw_portmap_sync_end(m, NULL, NULL), 0);
	assert_int_equal(apply(m, PW_EV_CLOSE, 3, 0), PW_PM_REMOVED);
	assert_int_equal(pw_portmap_size(m), 1);

	/* 4096 later closes push cookie 1 out: a snapshot may list it again */
	for (__u64 c = 100; c < 100 + 4096; c++)
		assert_int_equal(apply(m, PW_EV_CLOSE, c, 0), PW_PM_NONE);
	pw_portmap_sync_begin(m);
	assert_int_equal(pw_portmap_sync_add(m, &a, NULL, NULL), 1);
	assert_int_equal(pw_portmap_sync_add(m, &(struct pw_event){ .kind = PW_EV_BIND,
			 .cookie = 4195, .port = 4004 }, NULL, NULL), 0);	/* closed last */
	assert_int_equal(pw_portmap_sync_end(m, NULL, NULL), 1);	/* b */
	assert_non_null(pw_portmap_find(m, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_streamed_sync_and_owner_adoption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_after_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_unlisten_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sock_to_event, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
