// SPDX-License-Identifier: GPL-2.0
/*
 * The filter grammar's evaluator over struct pw_filter_rec, its canonical
 * (fully parenthesized) form, and the CLI's joining of words into one
 * expression.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "filter_int.h"

/* --- evaluation ------------------------------------------------------------ */

static bool cmp_range(enum cmp c, uint64_t v, uint64_t lo, uint64_t hi)
{
	switch (c) {
	case C_EQ: return v >= lo && v <= hi;
	case C_NE: return v < lo || v > hi;
	case C_LT: return v < lo;
	case C_GT: return v > hi;
	case C_LE: return v <= hi;
	case C_GE: return v >= lo;
	}
	return false;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, bytes))
		return false;
	return !rem || ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

static bool host_match(const struct host *h, uint8_t family, const uint8_t *addr,
		       uint16_t port)
{
	if (h->family && (h->family != family || !prefix_eq(h->addr, addr, h->prefix)))
		return false;
	return h->any_port || (port >= h->plo && port <= h->phi);
}

static bool eval(const struct pw_filter *f, int id, const struct pw_filter_rec *r)
{
	const struct node *n = &f->nodes[id];
	bool v;

	switch (n->kind) {
	case N_AND: return eval(f, n->l, r) && eval(f, n->r, r);
	case N_OR: return eval(f, n->l, r) || eval(f, n->r, r);
	case N_NOT: return !eval(f, n->l, r);
	case N_ALL: return true;
	case N_SPORT: return cmp_range(n->cmp, r->sport, n->lo, n->hi);
	case N_DPORT: return cmp_range(n->cmp, r->dport, n->lo, n->hi);
	case N_UID: return cmp_range(n->cmp, r->uid, n->lo, n->hi);
	case N_PID: return cmp_range(n->cmp, r->pid, n->lo, n->hi);
	case N_PROTO: return r->proto == n->lo;
	case N_FAMILY: return r->family == n->lo;
	case N_STATE:
		if (n->lo == STATE_UNCONNECTED)
			return r->state != PW_FSTATE_CONNECTED;
		return r->state == n->lo;
	case N_SRC:
		v = host_match(&n->h, r->family, r->saddr, r->sport);
		break;
	case N_DST:
		v = host_match(&n->h, r->family, r->daddr, r->dport);
		break;
	case N_COMM:
		v = fnmatch(n->str, r->comm ? r->comm : "", 0) == 0;
		break;
	case N_NETNS:
		if (n->is_num)
			v = (r->netns_ino && r->netns_ino == n->lo) ||
			    (r->netns_cookie && r->netns_cookie == n->lo);
		else
			v = r->netns_name && !strcmp(r->netns_name, n->str);
		break;
	default:
		return false;
	}
	return n->cmp == C_NE ? !v : v;
}

bool pw_filter_match(const struct pw_filter *f, const struct pw_filter_rec *r)
{
	if (!f || f->root < 0)
		return true;
	return eval(f, f->root, r);
}

/* --- formatting ------------------------------------------------------------ */

struct out {
	char *buf;
	size_t len, used;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + (o->used < o->len ? o->used : o->len),
		      o->used < o->len ? o->len - o->used : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

static void fmt_range(struct out *o, uint64_t lo, uint64_t hi)
{
	if (lo == hi)
		put(o, "%llu", (unsigned long long)lo);
	else
		put(o, "%llu-%llu", (unsigned long long)lo, (unsigned long long)hi);
}

static void fmt_node(const struct pw_filter *f, int id, struct out *o)
{
	static const char *const kinds[] = { "and", "or", "not", "sport", "dport", "src", "dst",
					     "state", "proto", "family", "comm", "uid", "pid",
					     "netns", "all" };
	static const char *const st[] = { "?", "bound", "listening", "connected" };
	const struct node *n = &f->nodes[id];
	char a[INET6_ADDRSTRLEN];

	switch (n->kind) {
	case N_AND:
	case N_OR:
		put(o, "(");
		fmt_node(f, n->l, o);
		put(o, " %s ", kinds[n->kind]);
		fmt_node(f, n->r, o);
		put(o, ")");
		return;
	case N_NOT:
		put(o, "not ");
		fmt_node(f, n->l, o);
		return;
	case N_ALL:
		put(o, "state all");
		return;
	default:
		break;
	}
	put(o, "%s ", kinds[n->kind]);
	switch (n->kind) {
	case N_SPORT:
	case N_DPORT:
	case N_UID:
	case N_PID:
		put(o, "%s ", ff_cmp_name[n->cmp]);
		fmt_range(o, n->lo, n->hi);
		break;
	case N_SRC:
	case N_DST:
		put(o, "%s ", ff_cmp_name[n->cmp]);
		if (!n->h.family)
			put(o, "*");
		else
			put(o, n->h.family == AF_INET6 ? "[%s/%u]" : "%s/%u",
			    inet_ntop(n->h.family, n->h.addr, a, sizeof(a)), n->h.prefix);
		if (!n->h.any_port) {
			put(o, ":");
			fmt_range(o, n->h.plo, n->h.phi);
		}
		break;
	case N_STATE:
		put(o, "%s", n->lo == STATE_UNCONNECTED ? "unconnected" : st[n->lo & 3]);
		break;
	case N_PROTO:
		put(o, "%s", n->lo == IPPROTO_TCP ? "tcp" : "udp");
		break;
	case N_FAMILY:
		put(o, "%s", n->lo == AF_INET ? "inet" : "inet6");
		break;
	case N_COMM:
	case N_NETNS:
		put(o, "%s %s", ff_cmp_name[n->cmp], n->str);
		break;
	}
}

int pw_filter_format(const struct pw_filter *f, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };

	if (len)
		buf[0] = 0;
	if (!f || f->root < 0)
		put(&o, "all");
	else
		fmt_node(f, f->root, &o);
	return o.used < len ? 0 : -E2BIG;
}

int pw_filter_join(int argc, char *const *argv, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return -E2BIG;
	buf[0] = 0;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (used + n + (i ? 1 : 0) + 1 > len)
			return -E2BIG;
		if (i)
			buf[used++] = ' ';
		memcpy(buf + used, argv[i], n + 1);
		used += n;
	}
	return 0;
}
