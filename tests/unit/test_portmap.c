// SPDX-License-Identifier: GPL-2.0
/*
 * user/portmap.c: events, per-port chains, growth, random churn against a
 * reference model, snapshot sync and iteration.
 */
#include <errno.h>
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

static struct pw_event mkev(__u8 kind, __u64 cookie, __u16 port)
{
	struct pw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.cookie = cookie;
	ev.port = port;
	ev.ts_ns = 1000 + cookie;
	ev.netns = 4026531840ULL;
	ev.pid = (__u32)(100 + cookie);
	ev.uid = 1000;
	ev.proto = IPPROTO_TCP;
	ev.family = AF_INET;
	ev.addr[0] = 127;
	ev.addr[3] = 1;
	memcpy(ev.comm, "server", 7);
	return ev;
}

static int apply(struct pw_portmap *m, __u8 kind, __u64 cookie, __u16 port)
{
	struct pw_event ev = mkev(kind, cookie, port);

	return pw_portmap_apply(m, &ev, NULL);
}

static int setup(void **state)
{
	struct pw_portmap *m = NULL;

	if (pw_portmap_new(&m))
		return -1;
	*state = m;
	return 0;
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
	assert_int_equal(s->pid, 107);
	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->port, 8080);
	assert_int_equal(s->proto, IPPROTO_UDP);
	assert_int_equal(s->family, AF_INET6);
	assert_int_equal(s->state, PW_SOCK_BOUND);	/* state 0 in the event means bound */
	assert_memory_equal(s->addr, ev.addr, 16);
	assert_string_equal(s->comm, "server");

	/* BIND twice: idempotent, keeps the first attribution */
	ev.pid = 999;
	ev.ts_ns = 5;
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_NONE);
	assert_int_equal(pw_portmap_size(m), 1);
	s = pw_portmap_find(m, 7);
	assert_int_equal(s->pid, 107);
	assert_true(s->bound_ns == 1007);

	memset(&gone, 0, sizeof(gone));
	ev.kind = PW_EV_CLOSE;
	assert_int_equal(pw_portmap_apply(m, &ev, &gone), PW_PM_REMOVED);
	assert_true(gone.cookie == 7);
	assert_int_equal(gone.port, 8080);
	assert_int_equal(gone.pid, 107);
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
}

static void test_listen_unlisten_exit(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event ev;

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
	ev = mkev(PW_EV_BIND, 1, 80);
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

static void test_comm_terminated(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event ev = mkev(PW_EV_BIND, 3, 1);

	memset(ev.comm, 'x', sizeof(ev.comm));	/* no NUL from the kernel */
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	assert_int_equal(strlen(pw_portmap_find(m, 3)->comm), PW_COMM_LEN - 1);
}

/* SO_REUSEPORT-like: one port, many sockets; removal from head, middle, tail. */
static void test_port_chain(void **state)
{
	struct pw_portmap *m = *state;
	__u64 got[16];
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
	assert_int_equal(port_cookies(m, 0, got, 16), 1);
	assert_true(got[0] == 12);
	assert_int_equal(port_cookies(m, 65535, got, 16), 1);
	assert_true(got[0] == 13);
	assert_int_equal(port_cookies(m, 4998, got, 16), 0);

	/* the current chain order tells which is head, middle and tail */
	n = port_cookies(m, 5000, got, 16);
	assert_int_equal(apply(m, PW_EV_CLOSE, got[0], 5000), PW_PM_REMOVED);	/* head */
	assert_int_equal(apply(m, PW_EV_CLOSE, got[5], 5000), PW_PM_REMOVED);	/* tail */
	assert_int_equal(apply(m, PW_EV_CLOSE, got[2], 5000), PW_PM_REMOVED);	/* middle */
	{
		__u64 left[16];
		size_t k = port_cookies(m, 5000, left, 16);

		assert_int_equal(k, 3);
		assert_true(has(left, k, got[1]) && has(left, k, got[3]) && has(left, k, got[4]));
	}
	/* neighbours untouched */
	assert_int_equal(port_cookies(m, 5001, got, 16), 1);
	assert_int_equal(port_cookies(m, 4999, got, 16), 1);
	/* a freed slot reused on another port does not drag the old chain along */
	assert_int_equal(apply(m, PW_EV_BIND, 20, 7000), PW_PM_ADDED);
	assert_int_equal(port_cookies(m, 7000, got, 16), 1);
	assert_int_equal(port_cookies(m, 5000, got, 16), 3);
	n = port_cookies(m, 5000, got, 16);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(apply(m, PW_EV_CLOSE, got[i], 5000), PW_PM_REMOVED);
	assert_null(pw_portmap_port_first(m, 5000));
	assert_int_equal(pw_portmap_size(m), 5);
}

/* Every live socket exactly once through pw_portmap_next, checked by cookie. */
static void check_iteration(const struct pw_portmap *m, const bool *live, size_t ncookies)
{
	bool *seen = calloc(ncookies, 1);
	size_t iter = 0, n = 0;
	const struct pw_sock *s;

	assert_non_null(seen);
	while ((s = pw_portmap_next(m, &iter))) {
		assert_true(s->cookie < ncookies);
		assert_true(live[s->cookie]);
		assert_false(seen[s->cookie]);
		seen[s->cookie] = true;
		n++;
	}
	assert_null(pw_portmap_next(m, &iter));	/* stays at the end */
	assert_int_equal(n, pw_portmap_size(m));
	free(seen);
}

static void test_growth(void **state)
{
	struct pw_portmap *m = *state;
	enum { N = 20000 };
	bool *live = calloc(N + 1, 1);

	assert_non_null(live);
	for (__u64 c = 1; c <= N; c++) {
		assert_int_equal(apply(m, PW_EV_BIND, c, (__u16)(c % 300)), PW_PM_ADDED);
		live[c] = true;
	}
	assert_int_equal(pw_portmap_size(m), N);
	for (__u64 c = 1; c <= N; c++) {
		const struct pw_sock *s = pw_portmap_find(m, c);

		assert_non_null(s);
		assert_int_equal(s->port, c % 300);
		assert_int_equal(s->pid, 100 + c);
	}
	assert_null(pw_portmap_find(m, N + 1));
	check_iteration(m, live, N + 1);
	for (__u64 c = 1; c <= N; c += 2) {
		assert_int_equal(apply(m, PW_EV_CLOSE, c, 0), PW_PM_REMOVED);
		live[c] = false;
	}
	assert_int_equal(pw_portmap_size(m), N / 2);
	for (__u64 c = 1; c <= N; c++)
		assert_true(!!pw_portmap_find(m, c) == live[c]);
	check_iteration(m, live, N + 1);
	free(live);
}

/* --- churn against a reference model ---------------------------------- */

struct model {
	bool live;
	__u16 port;
	__u8 state;
};

static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	/* xorshift64: deterministic, so a failure reproduces */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void check_model(const struct pw_portmap *m, const struct model *md, size_t n,
			const __u16 *ports, size_t nports)
{
	size_t live = 0, on_ports = 0;
	bool *lv = calloc(n, 1);

	assert_non_null(lv);
	for (size_t c = 1; c < n; c++) {
		const struct pw_sock *s = pw_portmap_find(m, c);

		lv[c] = md[c].live;
		if (!md[c].live) {
			assert_null(s);
			continue;
		}
		live++;
		assert_non_null(s);
		assert_true(s->cookie == c);
		assert_int_equal(s->port, md[c].port);
		assert_int_equal(s->state, md[c].state);
	}
	assert_int_equal(pw_portmap_size(m), live);
	for (size_t p = 0; p < nports; p++) {
		size_t expect = 0, got = 0;

		for (size_t c = 1; c < n; c++)
			expect += md[c].live && md[c].port == ports[p];
		for (const struct pw_sock *s = pw_portmap_port_first(m, ports[p]); s;
		     s = pw_portmap_port_next(m, s)) {
			assert_int_equal(s->port, ports[p]);
			assert_true(s->cookie < n && lv[s->cookie]);
			lv[s->cookie] = false;	/* seen: a second visit fails */
			got++;
		}
		assert_int_equal(got, expect);
		on_ports += got;
	}
	assert_int_equal(on_ports, live);
	for (size_t c = 1; c < n; c++)
		lv[c] = md[c].live;
	check_iteration(m, lv, n);
	free(lv);
}

static void churn(struct pw_portmap *m, size_t ncookies, size_t ops)
{
	static const __u16 ports[] = { 0, 1, 80, 443, 8080, 8081, 30000, 65535 };
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
				*e = (struct model){ true, ev.port, ev.state ? ev.state : PW_SOCK_BOUND };
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
			if (e->live) {
				assert_true(gone.cookie == c);
				assert_int_equal(gone.port, e->port);
			}
			e->live = false;
			break;
		default: {
			__u8 st = (r >> 8) & 1 ? PW_SOCK_LISTENING : PW_SOCK_BOUND;

			ev = mkev(st == PW_SOCK_LISTENING ? PW_EV_LISTEN : PW_EV_UNLISTEN, c, 0);
			ret = pw_portmap_apply(m, &ev, NULL);
			assert_int_equal(ret, e->live && e->state != st ? PW_PM_UPDATED : PW_PM_NONE);
			if (e->live)
				e->state = st;
		}
		}
		if (op % 25000 == 0)
			check_model(m, md, ncookies + 1, ports, ARRAY_SIZE(ports));
	}
	check_model(m, md, ncookies + 1, ports, ARRAY_SIZE(ports));
	free(md);
}

/* 760 cookies, ~5/7 of them live, keep the first 1024-slot table (grown past
 * 768) near its limit: long probe runs that wrap around its end. */
static void test_churn_dense(void **state)
{
	churn(*state, 760, 100000);
}

/* 6000 cookies make the table grow while entries come and go. */
static void test_churn_growing(void **state)
{
	churn(*state, 6000, 100000);
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

static const struct pw_event *rec_find(const struct rec *r, __u64 cookie)
{
	const struct pw_event *hit = NULL;

	for (size_t i = 0; i < r->n; i++) {
		if (r->ev[i].cookie != cookie)
			continue;
		assert_null(hit);	/* reported once */
		hit = &r->ev[i];
	}
	return hit;
}

static void test_sync(void **state)
{
	struct pw_portmap *m = *state;
	struct pw_event snap[5];
	struct rec r = { .n = 0 };
	const struct pw_event *e;

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
	assert_null(rec_find(&r, 1));
	e = rec_find(&r, 2);
	assert_non_null(e);
	assert_int_equal(e->kind, PW_EV_LISTEN);
	assert_int_equal(e->port, 100);
	e = rec_find(&r, 4);
	assert_non_null(e);
	assert_int_equal(e->kind, PW_EV_UNLISTEN);
	e = rec_find(&r, 5);
	assert_non_null(e);
	assert_int_equal(e->kind, PW_EV_BIND);
	assert_int_equal(e->port, 300);
	e = rec_find(&r, 3);
	assert_non_null(e);
	assert_int_equal(e->kind, PW_EV_CLOSE);
	assert_int_equal(e->port, 100);
	assert_int_equal(e->pid, 103);

	/* the map now equals the snapshot */
	assert_int_equal(pw_portmap_size(m), 4);
	assert_null(pw_portmap_find(m, 3));
	assert_int_equal(pw_portmap_find(m, 2)->state, PW_SOCK_LISTENING);
	assert_int_equal(pw_portmap_find(m, 4)->state, PW_SOCK_BOUND);
	assert_int_equal(pw_portmap_find(m, 5)->port, 300);
	{
		__u64 got[8];

		assert_int_equal(port_cookies(m, 100, got, 8), 2);
	}

	/* same snapshot again: nothing to report; an event that raced it neither */
	r.n = 0;
	assert_int_equal(pw_portmap_sync(m, snap, 4, record, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(apply(m, PW_EV_BIND, 5, 300), PW_PM_NONE);

	/* no callback: still counted */
	assert_int_equal(pw_portmap_sync(m, snap, 1, NULL, NULL), 3);
	assert_int_equal(pw_portmap_size(m), 1);

	/* empty snapshot empties the map */
	r.n = 0;
	assert_int_equal(pw_portmap_sync(m, NULL, 0, record, &r), 1);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ev[0].kind, PW_EV_CLOSE);
	assert_true(r.ev[0].cookie == 1);
	assert_int_equal(pw_portmap_size(m), 0);
	assert_null(pw_portmap_port_first(m, 100));
	{
		size_t iter = 0;

		assert_null(pw_portmap_next(m, &iter));
	}
}

/* A large sync: half kept, half gone, new ones; sockets added between syncs count. */
static void test_sync_large(void **state)
{
	struct pw_portmap *m = *state;
	enum { N = 3000, NEW = 1000 };
	struct pw_event *snap = calloc(N / 2 + NEW, sizeof(*snap));
	bool live[N + NEW + 1] = { false };
	size_t n = 0;

	assert_non_null(snap);
	for (__u64 c = 1; c <= N; c++)
		assert_int_equal(apply(m, PW_EV_BIND, c, (__u16)(c % 50)), PW_PM_ADDED);
	for (__u64 c = 2; c <= N; c += 2) {
		snap[n++] = mkev(PW_EV_BIND, c, (__u16)(c % 50));
		live[c] = true;
	}
	for (__u64 c = N + 1; c <= N + NEW; c++) {
		snap[n++] = mkev(PW_EV_BIND, c, 7);
		live[c] = true;
	}
	assert_int_equal(pw_portmap_sync(m, snap, n, NULL, NULL), N / 2 + NEW);
	assert_int_equal(pw_portmap_size(m), n);
	for (__u64 c = 1; c <= N + NEW; c++)
		assert_true(!!pw_portmap_find(m, c) == live[c]);
	check_iteration(m, live, N + NEW + 1);
	/* a socket bound after the first sync and absent from the next goes */
	assert_int_equal(apply(m, PW_EV_BIND, 1, 1), PW_PM_ADDED);
	assert_int_equal(pw_portmap_sync(m, snap, n, NULL, NULL), 1);
	assert_null(pw_portmap_find(m, 1));
	free(snap);
}

static void test_sock_to_event(void **state)
{
	struct pw_portmap *m = *state, *m2 = NULL;
	struct pw_event ev = mkev(PW_EV_BIND, 0xfeedface12345ULL, 53), out;
	const struct pw_sock *s, *s2;

	ev.proto = IPPROTO_UDP;
	ev.family = AF_INET6;
	ev.state = PW_SOCK_LISTENING;
	for (int i = 0; i < 16; i++)
		ev.addr[i] = (__u8)(0xf0 + i);
	ev.uid = 4242;
	assert_int_equal(pw_portmap_apply(m, &ev, NULL), PW_PM_ADDED);
	s = pw_portmap_find(m, ev.cookie);
	memset(&out, 0x5a, sizeof(out));
	pw_sock_to_event(s, PW_EV_BIND, &out);
	/* byte-identical, padding and exit_code zeroed */
	assert_memory_equal(&out, &ev, sizeof(ev));
	pw_sock_to_event(s, PW_EV_CLOSE, &out);
	assert_int_equal(out.kind, PW_EV_CLOSE);

	assert_int_equal(pw_portmap_new(&m2), 0);
	pw_sock_to_event(s, PW_EV_BIND, &out);
	assert_int_equal(pw_portmap_apply(m2, &out, NULL), PW_PM_ADDED);
	s2 = pw_portmap_find(m2, ev.cookie);
	assert_non_null(s2);
	assert_memory_equal(s2, s, offsetof(struct pw_sock, comm) + PW_COMM_LEN);
	pw_portmap_free(m2);
	pw_portmap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_unlisten_exit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comm_terminated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_dense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_churn_growing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sock_to_event, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
