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
/* closes remembered for the next snapshot (see closed_recently) */
#define CLOSED_RECENT 4096u

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

	/* first holder pid -> head of its chain (open addressing, like table) */
	__u32 *pid_keys, *pid_heads;
	size_t pid_cap, pid_count;

	/* The cookies of the last CLOSED_RECENT closes (a ring, closed_n in
	 * all), sorted into closed_sorted when a sync begins. The kernel runs
	 * the release hook before it unhashes the socket, so a snapshot taken
	 * just after a close was applied can still list it: it must not come
	 * back, and nothing would remove it again (cookies never recur). */
	__u64 closed[CLOSED_RECENT];
	__u64 closed_sorted[CLOSED_RECENT];
	size_t closed_n, n_sorted;
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
	m->pid_cap = 256;
	m->pid_keys = calloc(m->pid_cap, sizeof(*m->pid_keys));
	m->pid_heads = calloc(m->pid_cap, sizeof(*m->pid_heads));
	if (!m->table || !m->pid_keys || !m->pid_heads) {
		free(m->table);
		free(m->pid_keys);
		free(m->pid_heads);
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
	for (size_t k = 0; k < m->slab_used; k++) {
		struct pw_sock *s = slot(m, (__u32)k + 1);

		if (s->cookie)
			free(s->more);
	}
	for (size_t i = 0; i < m->n_pages; i++)
		free(m->pages[i]);
	free(m->pages);
	free(m->table);
	free(m->pid_keys);
	free(m->pid_heads);
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
		np[m->n_pages] = aligned_alloc(_Alignof(struct pw_sock),
					       PAGE_ENTRIES * sizeof(struct pw_sock));
		if (!np[m->n_pages])
			return NIL;
		m->n_pages++;
		m->slab_cap += PAGE_ENTRIES;
	}
	return (__u32)++m->slab_used;
}

/* --- the first-holder index: pid -> chain head ------------------------------ */

static inline size_t hash_pid(__u32 pid, size_t cap)
{
	return (size_t)(pid * 2654435761u) & (cap - 1);
}

/* Slot of pid's entry, or of the empty slot where it would go. */
static size_t pid_find(const struct pw_portmap *m, __u32 pid, bool *found)
{
	size_t i = hash_pid(pid, m->pid_cap);

	while (m->pid_keys[i]) {
		if (m->pid_keys[i] == pid) {
			*found = true;
			return i;
		}
		i = (i + 1) & (m->pid_cap - 1);
	}
	*found = false;
	return i;
}

static int pid_grow(struct pw_portmap *m)
{
	__u32 *ok = m->pid_keys, *oh = m->pid_heads;
	size_t ocap = m->pid_cap;
	bool found;

	m->pid_keys = calloc(ocap * 2, sizeof(*m->pid_keys));
	m->pid_heads = calloc(ocap * 2, sizeof(*m->pid_heads));
	if (!m->pid_keys || !m->pid_heads) {
		free(m->pid_keys);
		free(m->pid_heads);
		m->pid_keys = ok;
		m->pid_heads = oh;
		return -ENOMEM;
	}
	m->pid_cap = ocap * 2;
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (!ok[i])
			continue;
		j = pid_find(m, ok[i], &found);
		m->pid_keys[j] = ok[i];
		m->pid_heads[j] = oh[i];
	}
	free(ok);
	free(oh);
	return 0;
}

static void pid_remove_at(struct pw_portmap *m, size_t i)
{
	size_t mask = m->pid_cap - 1, j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!m->pid_keys[j])
			break;
		k = hash_pid(m->pid_keys[j], m->pid_cap);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			m->pid_keys[i] = m->pid_keys[j];
			m->pid_heads[i] = m->pid_heads[j];
			i = j;
		}
	}
	m->pid_keys[i] = 0;
	m->pid_heads[i] = NIL;
	m->pid_count--;
}

/* Link a socket into its first holder's chain; pid 0 is not indexed. A
 * failure to grow leaves it unindexed (found only by a scan). */
static void pid_link(struct pw_portmap *m, __u32 ref)
{
	struct pw_sock *s = slot(m, ref);
	bool found;
	size_t i;

	s->pid_prev = s->pid_next = NIL;
	if (!s->pid)
		return;
	if ((m->pid_count + 1) * 4 > m->pid_cap * 3 && pid_grow(m))
		return;
	i = pid_find(m, s->pid, &found);
	if (found) {
		s->pid_next = m->pid_heads[i];
		slot(m, s->pid_next)->pid_prev = ref;
	} else {
		m->pid_keys[i] = s->pid;
		m->pid_count++;
	}
	m->pid_heads[i] = ref;
}

static void pid_unlink(struct pw_portmap *m, __u32 ref)
{
	struct pw_sock *s = slot(m, ref);
	bool found;
	size_t i;

	if (!s->pid)
		return;
	if (s->pid_prev != NIL) {
		slot(m, s->pid_prev)->pid_next = s->pid_next;
	} else {
		i = pid_find(m, s->pid, &found);
		if (!found || m->pid_heads[i] != ref)
			return;	/* never indexed */
		if (s->pid_next != NIL)
			m->pid_heads[i] = s->pid_next;
		else
			pid_remove_at(m, i);
	}
	if (s->pid_next != NIL)
		slot(m, s->pid_next)->pid_prev = s->pid_prev;
	s->pid_prev = s->pid_next = NIL;
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
	s->fd = -1;
	s->tag = 0;
	s->tag_gen = 0;
	s->n_more = 0;
	s->more = NULL;
}

static void set_first(struct pw_portmap *m, __u32 ref, __u32 pid, __u32 uid, __s32 fd,
		      const char *comm)
{
	struct pw_sock *s = slot(m, ref);

	pid_unlink(m, ref);
	s->pid = pid;
	s->uid = uid;
	s->fd = fd;
	memcpy(s->comm, comm, sizeof(s->comm));
	s->comm[PW_COMM_LEN - 1] = '\0';
	pid_link(m, ref);
}

static int add_or_refresh(struct pw_portmap *m, const struct pw_event *ev, bool snapshot)
{
	size_t i;
	bool found;
	__u32 ref;
	struct pw_sock *s;

	i = table_find(m, ev->cookie, &found);
	if (found) {
		s = slot(m, m->table[i]);
		/* an entry seen before its owner was known takes the owner now;
		 * a snapshot names who holds it now (the binder may be gone): its
		 * first record of the socket, the lowest pid when it lists several */
		if (ev->pid && (!s->pid || (snapshot && s->gen != m->gen && s->pid != ev->pid)))
			set_first(m, m->table[i], ev->pid, ev->uid, -1, ev->comm);
		s->gen = m->gen;
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
	pid_link(m, ref);
	m->count++;
	return PW_PM_ADDED;
}

static void remove_at(struct pw_portmap *m, size_t i, struct pw_sock *removed)
{
	__u32 ref = m->table[i];
	struct pw_sock *s = slot(m, ref);

	if (removed) {
		*removed = *s;
		removed->more = NULL;
		removed->n_more = 0;
	}
	free(s->more);
	s->more = NULL;
	s->n_more = 0;
	pid_unlink(m, ref);
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
		return add_or_refresh(m, ev, false);
	case PW_EV_CLOSE:
		m->closed[m->closed_n++ & (CLOSED_RECENT - 1)] = ev->cookie;
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

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Whether the cookie's close was among the last CLOSED_RECENT before the
 * sync began: O(log CLOSED_RECENT), a bound independent of the map. */
static bool closed_recently(const struct pw_portmap *m, __u64 cookie)
{
	size_t lo = 0, hi = m->n_sorted;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->closed_sorted[mid] == cookie)
			return true;
		if (m->closed_sorted[mid] < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void pw_portmap_sync_begin(struct pw_portmap *m)
{
	m->gen++;
	m->n_sorted = m->closed_n < CLOSED_RECENT ? m->closed_n : CLOSED_RECENT;
	memcpy(m->closed_sorted, m->closed, m->n_sorted * sizeof(m->closed[0]));
	qsort(m->closed_sorted, m->n_sorted, sizeof(m->closed_sorted[0]), cmp_u64);
}

int pw_portmap_sync_add(struct pw_portmap *m, const struct pw_event *ev,
			pw_portmap_change_fn fn, void *ctx)
{
	struct pw_event out;
	int r;

	/* released, still hashed when the snapshot was read: gone (unless
	 * bound again since, which only a test's reused cookie can be) */
	if (m->n_sorted && closed_recently(m, ev->cookie) && !pw_portmap_find(m, ev->cookie))
		return PW_PM_NONE;
	r = add_or_refresh(m, ev, true);
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

/* Whether the four heads from a multiple of four on are all empty. */
static inline bool four_empty(const struct pw_portmap *m, unsigned from)
{
	__u64 a, b;

	memcpy(&a, &m->port_head[from], sizeof(a));
	memcpy(&b, &m->port_head[from + 2], sizeof(b));
	return (a | b) == 0;	/* NIL is 0 */
}

unsigned pw_portmap_next_port(const struct pw_portmap *m, unsigned from)
{
	/* most ports are empty: four at a time once aligned */
	for (; from < 65536 && (from & 3); from++)
		if (m->port_head[from] != NIL)
			return from;
	while (from < 65536 && four_empty(m, from))
		from += 4;
	while (from < 65536 && m->port_head[from] == NIL)
		from++;
	return from;
}

_Static_assert(sizeof(struct pw_sock) == 128, "a port-map entry is two cache lines");

unsigned pw_portmap_prefetch_ports(const struct pw_portmap *m, unsigned *from, unsigned n)
{
	unsigned p = *from, k = 0;

	for (; k < n; k++, p++) {
		const char *s;

		p = pw_portmap_next_port(m, p);
		if (p >= 65536)
			break;
		s = (const char *)slot(m, m->port_head[p]);
		/* an entry is two aligned cache lines */
		__builtin_prefetch(s);
		__builtin_prefetch(s + 64);
	}
	*from = p;
	return k;
}

const struct pw_sock *pw_portmap_port_next(const struct pw_portmap *m, const struct pw_sock *s)
{
	return s->port_next == NIL ? NULL : slot(m, s->port_next);
}

const struct pw_sock *pw_portmap_pid_first(const struct pw_portmap *m, __u32 pid)
{
	bool found;
	size_t i;

	if (!pid)
		return NULL;
	i = pid_find(m, pid, &found);
	return found ? slot(m, m->pid_heads[i]) : NULL;
}

const struct pw_sock *pw_portmap_pid_next(const struct pw_portmap *m, const struct pw_sock *s)
{
	return s->pid_next == NIL ? NULL : slot(m, s->pid_next);
}

int pw_portmap_set_holders(struct pw_portmap *m, __u64 cookie, const struct pw_sock_holder *h,
			   size_t n)
{
	static const char none[PW_COMM_LEN];
	struct pw_sock_holder *more = NULL;
	struct pw_sock *s;
	bool found;
	size_t i = table_find(m, cookie, &found);

	if (!found)
		return -ENOENT;
	if (n > 1) {
		more = malloc((n - 1) * sizeof(*more));
		if (!more)
			return -ENOMEM;
		memcpy(more, h + 1, (n - 1) * sizeof(*more));
	}
	s = slot(m, m->table[i]);
	free(s->more);
	s->more = more;
	s->n_more = n > 1 ? (__u32)(n - 1) : 0;
	if (n)
		set_first(m, m->table[i], h[0].pid, h[0].uid, h[0].fd, h[0].comm);
	else
		set_first(m, m->table[i], 0, s->uid, -1, none);
	return 0;
}

void pw_portmap_tag(struct pw_portmap *m, const struct pw_sock *s, __u8 tag, __u32 tag_gen)
{
	struct pw_sock *w = (struct pw_sock *)s;

	(void)m;
	w->tag = tag;
	w->tag_gen = tag_gen;
}
