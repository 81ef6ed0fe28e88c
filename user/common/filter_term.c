// SPDX-License-Identifier: GPL-2.0
/*
 * The conditions of the filter grammar (filter.h): sport/dport with ports and
 * ranges, src/dst with addresses, prefixes and ports, state, proto, family,
 * comm, uid, pid, netns. Each fills its node or names the offending token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "filter_int.h"

/* --- terms ----------------------------------------------------------------- */

/* An optional comparison operator; C_EQ when none is written. */
static enum cmp parse_cmp(struct parser *p, bool ordered)
{
	static const struct { const char *w; enum cmp c; } words[] = {
		{ "eq", C_EQ }, { "neq", C_NE }, { "ne", C_NE }, { "lt", C_LT }, { "gt", C_GT },
		{ "le", C_LE }, { "ge", C_GE },
	};
	const struct tok *t = ff_peek(p);
	enum cmp c = C_EQ;
	bool found = true;

	switch (t->type) {
	case T_EQ: c = C_EQ; break;
	case T_NE: c = C_NE; break;
	case T_LT: c = C_LT; break;
	case T_GT: c = C_GT; break;
	case T_LE: c = C_LE; break;
	case T_GE: c = C_GE; break;
	default:
		found = false;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (ff_is_word(t, p->src, words[i].w)) {
				c = words[i].c;
				found = true;
			}
	}
	if (!found)
		return C_EQ;
	if (!ordered && c != C_EQ && c != C_NE) {
		ff_fail(p, t->off, -EINVAL, "\"%.*s\" does not apply here: only =, == and != do",
		     (int)t->len, p->src + t->off);
		return C_EQ;
	}
	p->pos++;
	return c;
}

/* Decimal 0..max from s[0..len); false when not a number or too large. */
static bool parse_num(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!len || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* PORT: N, N-M or * (the leading ':' already skipped). */
static int parse_portspec(struct parser *p, const struct tok *t, const char *s, size_t len,
			  bool *any, uint16_t *lo, uint16_t *hi)
{
	const char *dash = memchr(s, '-', len);
	uint64_t a, b;

	*any = false;
	if (len == 1 && *s == '*') {
		*any = true;
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	if (!dash) {
		if (!parse_num(s, len, 65535, &a))
			goto bad;
		*lo = *hi = (uint16_t)a;
		return 0;
	}
	if (!parse_num(s, (size_t)(dash - s), 65535, &a) ||
	    !parse_num(dash + 1, len - (size_t)(dash - s) - 1, 65535, &b))
		goto bad;
	if (a > b)
		return ff_fail(p, (unsigned)(s - p->src), -EINVAL,
			    "port range \"%.*s\" is inverted", (int)len, s);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	return ff_fail(p, t->off, -EINVAL, "\"%.*s\" is not a port (0-65535, a range N-M, or *;"
		    " service names are not looked up)", (int)t->len, p->src + t->off);
}

static int expect_word(struct parser *p, const char *after, const struct tok **out)
{
	const struct tok *t = ff_peek(p);
	char buf[64];

	if (t->type != T_WORD)
		return ff_fail(p, t->off, -EINVAL, "expected %s, found %s", after,
			    ff_tok_text(p, t, buf, sizeof(buf)));
	p->pos++;
	*out = t;
	return 0;
}

static int term_port(struct parser *p, int id, const char *kw)
{
	struct node *n = &p->f->nodes[id];
	const struct tok *t;
	const char *s;
	size_t len;
	uint16_t lo, hi;
	bool any;
	char what[48];

	n->cmp = (uint8_t)parse_cmp(p, true);
	if (p->rc)
		return p->rc;
	snprintf(what, sizeof(what), "a port after \"%s\"", kw);
	if (expect_word(p, what, &t))
		return p->rc;
	s = p->src + t->off;
	len = t->len;
	if (*s == ':') {
		s++;
		len--;
	}
	if (parse_portspec(p, t, s, len, &any, &lo, &hi))
		return p->rc;
	if (any && n->cmp != C_EQ && n->cmp != C_NE)
		return ff_fail(p, t->off, -EINVAL, "\"*\" cannot be compared with %s",
			       ff_cmp_name[n->cmp]);
	if (lo != hi && !any && n->cmp != C_EQ && n->cmp != C_NE)
		return ff_fail(p, t->off, -EINVAL, "a port range cannot be compared with %s",
			    ff_cmp_name[n->cmp]);
	n->lo = lo;
	n->hi = hi;
	return 0;
}

/* s points into the expression (in_src) or into a copy of part of token t. */
static int parse_addr(struct parser *p, const struct tok *t, const char *s, size_t len,
		      bool in_src, struct host *h)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	uint64_t pfx;

	if (alen == 1 && *s == '*' && !slash) {
		h->family = 0;
		return 0;
	}
	if (alen >= sizeof(buf))
		goto bad;
	memcpy(buf, s, alen);
	buf[alen] = 0;
	if (inet_pton(AF_INET, buf, h->addr) == 1) {
		h->family = AF_INET;
		h->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, h->addr) == 1) {
		h->family = AF_INET6;
		h->prefix = 128;
	} else {
		goto bad;
	}
	if (slash) {
		if (!parse_num(slash + 1, len - alen - 1, h->prefix, &pfx))
			return ff_fail(p, in_src ? (unsigned)(slash - p->src) : t->off, -EINVAL,
				    "\"%.*s\" is not a prefix length (0-%u)", (int)(len - alen - 1),
				    slash + 1, h->prefix);
		h->prefix = (uint8_t)pfx;
	}
	return 0;
bad:
	return ff_fail(p, t->off, -EINVAL, "\"%.*s\" is not an address (IPv4, [IPv6], a prefix"
		    " ADDR/LEN, or *; host names are not looked up)", (int)len, s);
}

/* HOST: ADDR[/LEN][:PORT] | [V6[/LEN]][/LEN][:PORT] | V6[/LEN] | :PORT | *[:PORT] */
static int parse_host(struct parser *p, const struct tok *t, struct host *h)
{
	const char *s = p->src + t->off, *colon, *port = NULL;
	size_t len = t->len, alen, plen = 0;
	char abuf[INET6_ADDRSTRLEN + 8];

	h->any_port = true;
	if (*s == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return ff_fail(p, t->off, -EINVAL, "\"%.*s\": missing \"]\"", (int)len, s);
		/* [V6/LEN] or [V6]/LEN */
		alen = (size_t)(close - s - 1);
		if (alen >= sizeof(abuf) - 4)
			return parse_addr(p, t, s + 1, alen, true, h);
		memcpy(abuf, s + 1, alen);
		colon = close + 1;
		if (*colon == '/') {
			const char *e = colon + 1;

			while (e < s + len && *e != ':')
				e++;
			if ((size_t)(e - colon) + alen >= sizeof(abuf))
				return ff_fail(p, t->off, -EINVAL, "\"%.*s\" is too long",
					       (int)len, s);
			memcpy(abuf + alen, colon, (size_t)(e - colon));
			alen += (size_t)(e - colon);
			colon = e;
		}
		if (colon < s + len) {
			if (*colon != ':')
				return ff_fail(p, (unsigned)(colon - p->src), -EINVAL,
					       "expected \":PORT\" after \"]\" in \"%.*s\"",
					       (int)len, s);
			port = colon + 1;
			plen = (size_t)(s + len - port);
		}
		if (alen == 1 && abuf[0] == '*') {
			h->family = 0;
		} else {
			/* messages point at the token: parse a copy */
			abuf[alen] = 0;
			if (parse_addr(p, t, abuf, alen, false, h))
				return p->rc;
		}
	} else {
		colon = memrchr(s, ':', len);
		/* several colons without brackets: a bare IPv6 address, no port */
		if (colon && memchr(s, ':', len) != colon && memchr(s, '.', len) == NULL)
			colon = NULL;
		if (colon && colon != s && memchr(s, ':', (size_t)(colon - s)) &&
		    memchr(s, '.', len)) {
			/* ::ffff:1.2.3.4 style, no port */
			colon = NULL;
		}
		alen = colon ? (size_t)(colon - s) : len;
		if (colon) {
			port = colon + 1;
			plen = (size_t)(s + len - port);
		}
		if (alen && parse_addr(p, t, s, alen, true, h))
			return p->rc;
		if (!alen)
			h->family = 0;
	}
	if (port) {
		if (parse_portspec(p, t, port, plen, &h->any_port, &h->plo, &h->phi))
			return p->rc;
	}
	return 0;
}

static int term_host(struct parser *p, int id, const char *kw)
{
	struct node *n = &p->f->nodes[id];
	const struct tok *t;
	char what[48];

	n->cmp = (uint8_t)parse_cmp(p, false);
	if (p->rc)
		return p->rc;
	snprintf(what, sizeof(what), "an address after \"%s\"", kw);
	if (expect_word(p, what, &t))
		return p->rc;
	return parse_host(p, t, &n->h);
}

static int term_choice(struct parser *p, int id, const char *kw, const char *const *names,
		       const uint8_t *vals, size_t count, const char *list)
{
	const struct tok *t;
	char what[64], buf[64];

	snprintf(what, sizeof(what), "%s after \"%s\"", list, kw);
	if (expect_word(p, what, &t))
		return p->rc;
	for (size_t i = 0; i < count; i++)
		if (ff_is_word(t, p->src, names[i])) {
			p->f->nodes[id].lo = vals[i];
			return 0;
		}
	return ff_fail(p, t->off, -EINVAL, "%s is not one of %s",
		       ff_tok_text(p, t, buf, sizeof(buf)), list);
}

static int term_num(struct parser *p, int id, const char *kw, uint64_t max)
{
	struct node *n = &p->f->nodes[id];
	const struct tok *t;
	char what[48];

	n->cmp = (uint8_t)parse_cmp(p, true);
	if (p->rc)
		return p->rc;
	snprintf(what, sizeof(what), "a number after \"%s\"", kw);
	if (expect_word(p, what, &t))
		return p->rc;
	if (!parse_num(p->src + t->off, t->len, max, &n->lo))
		return ff_fail(p, t->off, -EINVAL, "\"%.*s\" is not a number (0-%llu)", (int)t->len,
			    p->src + t->off, (unsigned long long)max);
	n->hi = n->lo;
	return 0;
}

static int term_str(struct parser *p, int id, const char *kw, size_t maxlen)
{
	struct node *n = &p->f->nodes[id];
	const struct tok *t;
	char what[48];

	n->cmp = (uint8_t)parse_cmp(p, false);
	if (p->rc)
		return p->rc;
	snprintf(what, sizeof(what), "a name after \"%s\"", kw);
	if (expect_word(p, what, &t))
		return p->rc;
	if (t->len > maxlen)
		return ff_fail(p, t->off, -EINVAL, "\"%.*s...\" is longer than %zu characters", 20,
			    p->src + t->off, maxlen);
	n->str = strndup(p->src + t->off, t->len);
	if (!n->str)
		return p->rc = -ENOMEM;
	n->is_num = parse_num(n->str, t->len, UINT64_MAX, &n->lo);
	return 0;
}

int ff_parse_term(struct parser *p)
{
	static const char *const states[] = { "bound", "listening", "listen", "connected",
					      "unconnected", "all" };
	static const uint8_t state_vals[] = { PW_FSTATE_BOUND, PW_FSTATE_LISTENING,
					      PW_FSTATE_LISTENING, PW_FSTATE_CONNECTED,
					      STATE_UNCONNECTED, STATE_ALL };
	static const char *const protos[] = { "tcp", "udp" };
	static const uint8_t proto_vals[] = { IPPROTO_TCP, IPPROTO_UDP };
	static const char *const fams[] = { "inet", "ipv4", "4", "inet6", "ipv6", "6" };
	static const uint8_t fam_vals[] = { AF_INET, AF_INET, AF_INET, AF_INET6, AF_INET6,
					    AF_INET6 };
	const struct tok *t = ff_peek(p);
	char kw[16], buf[64];
	int id, r;

	if (t->type != T_WORD)
		return ff_fail(p, t->off, -EINVAL,
			       "expected a condition (sport, dport, src, dst, state, proto, family,"
			       " comm, uid, pid, netns), \"not\" or \"(\", found %s",
			    ff_tok_text(p, t, buf, sizeof(buf)));
	snprintf(kw, sizeof(kw), "%.*s", (int)(t->len < 15 ? t->len : 15), p->src + t->off);
#define KW(w) ff_is_word(t, p->src, w)
	if (KW("or") || KW("and"))
		return ff_fail(p, t->off, -EINVAL, "expected a condition, found \"%s\" (it needs a"
			    " condition before it)", kw);
	if (KW("tcp") || KW("udp")) {
		id = ff_new_node(p, N_PROTO, t->off);
		if (id < 0)
			return p->rc;
		p->f->nodes[id].lo = KW("tcp") ? IPPROTO_TCP : IPPROTO_UDP;
		p->pos++;
		return id;
	}
	if (!(KW("sport") || KW("dport") || KW("src") || KW("dst") || KW("state") ||
	      KW("proto") || KW("protocol") || KW("family") || KW("comm") || KW("process") ||
	      KW("uid") || KW("pid") || KW("netns")))
		return ff_fail(p, t->off, -EINVAL,
			       "unknown condition %s (expected sport, dport, src, dst, state, proto,"
			       " family, comm, uid, pid or netns)",
			    ff_tok_text(p, t, buf, sizeof(buf)));
	id = ff_new_node(p, KW("sport") ? N_SPORT : KW("dport") ? N_DPORT : KW("src") ? N_SRC :
		      KW("dst") ? N_DST : KW("state") ? N_STATE : KW("family") ? N_FAMILY :
		      (KW("comm") || KW("process")) ? N_COMM : KW("uid") ? N_UID :
		      KW("pid") ? N_PID : KW("netns") ? N_NETNS : N_PROTO, t->off);
	if (id < 0)
		return p->rc;
	p->pos++;
	switch (p->f->nodes[id].kind) {
	case N_SPORT:
	case N_DPORT:
		r = term_port(p, id, kw);
		break;
	case N_SRC:
	case N_DST:
		r = term_host(p, id, kw);
		break;
	case N_STATE:
		r = term_choice(p, id, kw, states, state_vals, 6,
				"bound, listening, connected, unconnected or all");
		if (!r && p->f->nodes[id].lo == STATE_ALL)
			p->f->nodes[id].kind = N_ALL;
		break;
	case N_PROTO:
		r = term_choice(p, id, kw, protos, proto_vals, 2, "tcp or udp");
		break;
	case N_FAMILY:
		r = term_choice(p, id, kw, fams, fam_vals, 6, "inet, inet6, ipv4, ipv6, 4 or 6");
		break;
	case N_COMM:
		r = term_str(p, id, kw, 15);
		break;
	case N_NETNS:
		p->f->netns = true;
		r = term_str(p, id, kw, 255);
		break;
	default:
		r = term_num(p, id, kw, p->f->nodes[id].kind == N_UID ? UINT32_MAX : 4194304);
	}
#undef KW
	return r ? r : id;
}

