// SPDX-License-Identifier: GPL-2.0
/*
 * Live port map. Entries live in a slab (pages of entries + free list) and are found by
 * cookie through an open-addressing hash of slot numbers (linear probing,
 * backward-shift deletion, so no tombstones accumulate under churn). Slot
 * numbers, not pointers, link the per-port chains, so growing the slab never
 * invalidates them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "portmap.h"

#define NIL 0u			/* slot references are index + 1 */
#define PAGE_SHIFT_ENTRIES 10
#define PAGE_ENTRIES (1u << PAGE_SHIFT_ENTRIES)

struct pw_portmap {
	/* fixed-size pages: growing never copies (no 2x peak at 100k sockets) */
	struct pw_sock **pages;
	size_t n_pages;
	size_t slab_cap;	/* n_pages * PAGE_ENTRIES */
	size_t slab_used;	/* high-water mark */
	__u32 free_head;	/* free list threaded through port_next */
	size_t count;

	__u32 *table;		/* slot + 1, NIL = empty */
	size_t table_cap;	/* power of two */

	__u32 port_head[65536];
	__u32 gen;
};

static inline size_t hash_cookie(__u64 c, size_t cap)
{
	/* cookies are sequential: mix them (splitmix64 finalizer) */
	c ^= c >> 30;
	c *= 0xbf58476d1ce4e5b9ULL;
	c ^= c >> 27;
	c *= 0x94d049bb133111ebULL;
	c ^= c >> 31;
	return (size_t)c & (cap - 1);
}

static inline struct pw_sock *slot(const struct pw_portmap *m, __u32 ref)
{
	return &m->pages[(ref - 1) >> PAGE_SHIFT_ENTRIES][(ref - 1) & (PAGE_ENTRIES - 1)];
}

int pw_portmap_new(struct pw_portmap **ret)
{
	struct pw_portmap *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->table_cap = 1024;
	m->table = calloc(m->table_cap, sizeof(*m->table));
	if (!m->table) {
		free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

void pw_portmap_free(struct pw_portmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_pages; i++)
		free(m->pages[i]);
	free(m->pages);
	free(m->table);
	free(m);
}

static size_t table_find(const struct pw_portmap *m, __u64 cookie, bool *found)
{
	size_t i = hash_cookie(cookie, m->table_cap);

	for (;;) {
		__u32 ref = m->table[i];

		if (ref == NIL) {
			*found = false;
			return i;
		}
		if (slot(m, ref)->cookie == cookie) {
			*found = true;
			return i;
		}
		i = (i + 1) & (m->table_cap - 1);
	}
}

static int table_grow(struct pw_portmap *m)
{
	size_t ncap = m->table_cap * 2;
	__u32 *nt, *old = m->table;
	size_t ocap = m->table_cap;

	nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	m->table = nt;
	m->table_cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		bool found;
		size_t j;

		if (old[i] == NIL)
			continue;
		j = table_find(m, slot(m, old[i])->cookie, &found);
		m->table[j] = old[i];
	}
	free(old);
	return 0;
}

static void table_remove_at(struct pw_portmap *m, size_t i)
{
	size_t mask = m->table_cap - 1, j = i;

	/* backward-shift: pull later members of the probe run into the hole */
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (m->table[j] == NIL)
			break;
		k = hash_cookie(slot(m, m->table[j])->cookie, m->table_cap);
		/* move j into i unless its home k lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			m->table[i] = m->table[j];
			i = j;
		}
	}
	m->table[i] = NIL;
}

static __u32 slab_alloc(struct pw_portmap *m)
{
	if (m->free_head != NIL) {
		__u32 ref = m->free_head;

		m->free_head = slot(m, ref)->port_next;
		return ref;
	}
	if (m->slab_used == m->slab_cap) {
		struct pw_sock **np = realloc(m->pages, (m->n_pages + 1) * sizeof(*np));

		if (!np)
			return NIL;
		m->pages = np;
		np[m->n_pages] = malloc(PAGE_ENTRIES * sizeof(struct pw_sock));
		if (!np[m->n_pages])
			return NIL;
		m->n_pages++;
		m->slab_cap += PAGE_ENTRIES;
	}
	return (__u32)++m->slab_used;
}

static void port_link(struct pw_portmap *m, __u32 ref)
{
	struct pw_sock *s = slot(m, ref);
	__u32 head = m->port_head[s->port];

	s->port_prev = NIL;
	s->port_next = head;
	if (head != NIL)
		slot(m, head)->port_prev = ref;
	m->port_head[s->port] = ref;
}

static void port_unlink(struct pw_portmap *m, __u32 ref)
{
	struct pw_sock *s = slot(m, ref);

	if (s->port_prev != NIL)
		slot(m, s->port_prev)->port_next = s->port_next;
	else
		m->port_head[s->port] = s->port_next;
	if (s->port_next != NIL)
		slot(m, s->port_next)->port_prev = s->port_prev;
}

static void fill_from_event(struct pw_sock *s, const struct pw_event *ev)
{
	s->cookie = ev->cookie;
	s->netns = ev->netns;
	s->bound_ns = ev->ts_ns;
	s->pid = ev->pid;
	s->uid = ev->uid;
	s->port = ev->port;
	s->proto = ev->proto;
	s->family = ev->family;
	s->state = ev->state ? ev->state : PW_SOCK_BOUND;
	memcpy(s->addr, ev->addr, sizeof(s->addr));
	memcpy(s->comm, ev->comm, sizeof(s->comm));
	s->comm[PW_COMM_LEN - 1] = '\0';
}

static int add_or_refresh(struct pw_portmap *m, const struct pw_event *ev)
{
	size_t i;
	bool found;
	__u32 ref;
	struct pw_sock *s;

	i = table_find(m, ev->cookie, &found);
	if (found) {
		s = slot(m, m->table[i]);
		s->gen = m->gen;
		/* an entry seen before its owner was known takes the owner now */
		if (!s->pid && ev->pid) {
			s->pid = ev->pid;
			s->uid = ev->uid;
			memcpy(s->comm, ev->comm, sizeof(s->comm));
			s->comm[PW_COMM_LEN - 1] = '\0';
		}
		/* A snapshot of an already known socket keeps the event's
		 * richer attribution (binder pid, bind time) but takes its state. */
		if (s->state != ev->state && ev->state) {
			s->state = ev->state;
			return PW_PM_UPDATED;
		}
		return PW_PM_NONE;
	}
	if ((m->count + 1) * 4 > m->table_cap * 3) {
		if (table_grow(m))
			return -ENOMEM;
		i = table_find(m, ev->cookie, &found);
	}
	ref = slab_alloc(m);
	if (ref == NIL)
		return -ENOMEM;
	s = slot(m, ref);
	fill_from_event(s, ev);
	s->gen = m->gen;
	m->table[i] = ref;
	port_link(m, ref);
	m->count++;
	return PW_PM_ADDED;
}

static void remove_at(struct pw_portmap *m, size_t i, struct pw_sock *removed)
{
	__u32 ref = m->table[i];
	struct pw_sock *s = slot(m, ref);

	if (removed)
		*removed = *s;
	port_unlink(m, ref);
	table_remove_at(m, i);
	s->cookie = 0;
	s->port_next = m->free_head;
	m->free_head = ref;
	m->count--;
}

int pw_portmap_apply(struct pw_portmap *m, const struct pw_event *ev, struct pw_sock *removed)
{
	bool found;
	size_t i;

	switch (ev->kind) {
	case PW_EV_BIND:
		return add_or_refresh(m, ev);
	case PW_EV_CLOSE:
		i = table_find(m, ev->cookie, &found);
		if (!found)
			return PW_PM_NONE;
		remove_at(m, i, removed);
		return PW_PM_REMOVED;
	case PW_EV_LISTEN:
	case PW_EV_UNLISTEN: {
		__u8 st = ev->kind == PW_EV_LISTEN ? PW_SOCK_LISTENING : PW_SOCK_BOUND;
		struct pw_sock *s;

		i = table_find(m, ev->cookie, &found);
		if (!found)
			return PW_PM_NONE;
		s = slot(m, m->table[i]);
		if (s->state == st)
			return PW_PM_NONE;
		s->state = st;
		return PW_PM_UPDATED;
	}
	default:
		return PW_PM_NONE;
	}
}

void pw_sock_to_event(const struct pw_sock *s, __u8 kind, struct pw_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->ts_ns = s->bound_ns;
	ev->cookie = s->cookie;
	ev->netns = s->netns;
	ev->pid = s->pid;
	ev->uid = s->uid;
	ev->port = s->port;
	ev->proto = s->proto;
	ev->family = s->family;
	ev->state = s->state;
	memcpy(ev->addr, s->addr, sizeof(ev->addr));
	memcpy(ev->comm, s->comm, sizeof(ev->comm));
}

void pw_portmap_sync_begin(struct pw_portmap *m)
{
	m->gen++;
}

int pw_portmap_sync_add(struct pw_portmap *m, const struct pw_event *ev,
			pw_portmap_change_fn fn, void *ctx)
{
	struct pw_event out;
	int r = add_or_refresh(m, ev);

	if (r <= PW_PM_NONE)
		return r;
	if (fn) {
		if (r == PW_PM_ADDED) {
			fn(ctx, ev);
		} else {
			const struct pw_sock *s = pw_portmap_find(m, ev->cookie);

			pw_sock_to_event(s, s->state == PW_SOCK_LISTENING ? PW_EV_LISTEN
									: PW_EV_UNLISTEN, &out);
			fn(ctx, &out);
		}
	}
	return 1;
}

int pw_portmap_sync_end(struct pw_portmap *m, pw_portmap_change_fn fn, void *ctx)
{
	struct pw_event ev;
	int changes = 0;

	/* sweep: whatever the snapshot did not refresh is gone */
	for (size_t k = 0; k < m->slab_used; k++) {
		struct pw_sock *s = slot(m, (__u32)k + 1);
		struct pw_sock gone;
		bool found;
		size_t i;

		if (!s->cookie || s->gen == m->gen)
			continue;
		i = table_find(m, s->cookie, &found);
		if (!found)
			continue;
		remove_at(m, i, &gone);
		changes++;
		if (fn) {
			pw_sock_to_event(&gone, PW_EV_CLOSE, &ev);
			fn(ctx, &ev);
		}
	}
	return changes;
}

int pw_portmap_sync(struct pw_portmap *m, const struct pw_event *snap, size_t n,
		    pw_portmap_change_fn fn, void *ctx)
{
	int changes = 0;

	pw_portmap_sync_begin(m);
	for (size_t k = 0; k < n; k++) {
		int r = pw_portmap_sync_add(m, &snap[k], fn, ctx);

		if (r < 0)
			return r;
		changes += r;
	}
	return changes + pw_portmap_sync_end(m, fn, ctx);
}

size_t pw_portmap_size(const struct pw_portmap *m)
{
	return m->count;
}

const struct pw_sock *pw_portmap_find(const struct pw_portmap *m, __u64 cookie)
{
	bool found;
	size_t i = table_find(m, cookie, &found);

	return found ? slot(m, m->table[i]) : NULL;
}

const struct pw_sock *pw_portmap_next(const struct pw_portmap *m, size_t *iter)
{
	while (*iter < m->slab_used) {
		const struct pw_sock *s = slot(m, (__u32)++(*iter));

		if (s->cookie)
			return s;
	}
	return NULL;
}

const struct pw_sock *pw_portmap_port_first(const struct pw_portmap *m, __u16 port)
{
	__u32 ref = m->port_head[port];

	return ref == NIL ? NULL : slot(m, ref);
}

const struct pw_sock *pw_portmap_port_next(const struct pw_portmap *m, const struct pw_sock *s)
{
	return s->port_next == NIL ? NULL : slot(m, s->port_next);
}
