// SPDX-License-Identifier: GPL-2.0
/*
 * ss-style socket filter expressions: tokenizer, recursive-descent parser
 * into an array of nodes, evaluator. The grammar is in filter.h. No I/O: the
 * daemon compiles an expression once per request and evaluates it per socket
 * or event, and the unit test drives it directly.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "filter.h"

enum tok_type { T_END, T_WORD, T_LPAR, T_RPAR, T_NOT, T_AND, T_OR, T_EQ, T_NE, T_LT, T_GT,
		T_LE, T_GE };

struct tok {
	enum tok_type type;
	unsigned off, len;
};

enum node_kind { N_AND, N_OR, N_NOT, N_SPORT, N_DPORT, N_SRC, N_DST, N_STATE, N_PROTO,
		 N_FAMILY, N_COMM, N_UID, N_PID, N_NETNS, N_ALL };

enum cmp { C_EQ, C_NE, C_LT, C_GT, C_LE, C_GE };

struct host {
	uint8_t family;		/* 0: any address */
	uint8_t prefix;
	uint8_t addr[16];
	bool any_port;
	uint16_t plo, phi;
};

struct node {
	uint8_t kind, cmp;
	int l, r;			/* children (AND, OR: both; NOT: l) */
	uint64_t lo, hi;		/* numbers and port ranges, inclusive */
	bool is_num;			/* NETNS: a number (inode or cookie), else a name */
	struct host h;
	char *str;			/* COMM pattern, NETNS name */
};

struct pw_filter {
	struct node *nodes;
	int n, root;
	bool netns;
};

struct parser {
	const char *src;
	struct tok *toks;
	int ntok, pos, depth;
	struct pw_filter *f;
	struct pw_filter_error *err;
	int rc;
};

static const char *const cmp_name[] = { "=", "!=", "<", ">", "<=", ">=" };

/* --- tokens ---------------------------------------------------------------- */

static bool word_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && !strchr("()!=<>&|", c);
}

static int fail(struct parser *p, unsigned off, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, unsigned off, int rc, const char *fmt, ...)
{
	va_list ap;

	if (p->rc)
		return p->rc;
	p->err->col = off + 1;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	p->rc = rc;
	return rc;
}

static int tokenize(struct parser *p)
{
	const char *s = p->src;
	unsigned i = 0, n = (unsigned)strlen(s);

	/* at most one token per character, plus the end */
	p->toks = calloc(n + 1, sizeof(*p->toks));
	if (!p->toks)
		return -ENOMEM;
	while (i < n) {
		struct tok *t = &p->toks[p->ntok];
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			i++;
			continue;
		}
		t->off = i;
		t->len = 1;
		switch (c) {
		case '(': t->type = T_LPAR; break;
		case ')': t->type = T_RPAR; break;
		case '!': t->type = s[i + 1] == '=' ? T_NE : T_NOT; break;
		case '=': t->type = T_EQ; break;
		case '<': t->type = s[i + 1] == '=' ? T_LE : T_LT; break;
		case '>': t->type = s[i + 1] == '=' ? T_GE : T_GT; break;
		case '&':
		case '|':
			if (s[i + 1] != (char)c)
				return fail(p, i, -EINVAL, "unexpected \"%c\" (did you mean \"%c%c\"?)",
					    c, c, c);
			t->type = c == '&' ? T_AND : T_OR;
			break;
		default:
			if (!word_char(c))
				return fail(p, i, -EINVAL, "unexpected character 0x%02x", c);
			t->type = T_WORD;
			while (word_char((unsigned char)s[i + t->len]))
				t->len++;
		}
		/* two-character operators */
		if (t->type == T_NE || t->type == T_LE || t->type == T_GE ||
		    t->type == T_AND || t->type == T_OR || (c == '=' && s[i + 1] == '='))
			t->len = 2;
		i += t->len;
		p->ntok++;
	}
	p->toks[p->ntok].type = T_END;
	p->toks[p->ntok].off = n;
	return 0;
}

static const struct tok *peek(struct parser *p)
{
	return &p->toks[p->pos];
}

static bool is_word(const struct tok *t, const char *src, const char *w)
{
	return t->type == T_WORD && strlen(w) == t->len && !memcmp(src + t->off, w, t->len);
}

/* The token as the user wrote it, for messages (truncated when long). */
static const char *tok_text(struct parser *p, const struct tok *t, char *buf, size_t len)
{
	if (t->type == T_END)
		return "the end of the expression";
	snprintf(buf, len, "\"%.*s%s\"", (int)(t->len > 40 ? 40 : t->len), p->src + t->off,
		 t->len > 40 ? "..." : "");
	return buf;
}

/* --- nodes ----------------------------------------------------------------- */

static int new_node(struct parser *p, enum node_kind kind, unsigned off)
{
	struct pw_filter *f = p->f;

	if (f->n == PW_FILTER_MAX_NODES) {
		fail(p, off, -E2BIG, "more than %d conditions", PW_FILTER_MAX_NODES);
		return -1;
	}
	if (!f->nodes) {
		f->nodes = calloc(PW_FILTER_MAX_NODES, sizeof(*f->nodes));
		if (!f->nodes) {
			p->rc = -ENOMEM;
			return -1;
		}
	}
	memset(&f->nodes[f->n], 0, sizeof(f->nodes[0]));
	f->nodes[f->n].kind = kind;
	f->nodes[f->n].l = f->nodes[f->n].r = -1;
	return f->n++;
}

/* --- terms ----------------------------------------------------------------- */

/* An optional comparison operator; C_EQ when none is written. */
static enum cmp parse_cmp(struct parser *p, bool ordered)
{
	static const struct { const char *w; enum cmp c; } words[] = {
		{ "eq", C_EQ }, { "neq", C_NE }, { "ne", C_NE }, { "lt", C_LT }, { "gt", C_GT },
		{ "le", C_LE }, { "ge", C_GE },
	};
	const struct tok *t = peek(p);
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
			if (is_word(t, p->src, words[i].w)) {
				c = words[i].c;
				found = true;
			}
	}
	if (!found)
		return C_EQ;
	if (!ordered && c != C_EQ && c != C_NE) {
		fail(p, t->off, -EINVAL, "\"%.*s\" does not apply here: only =, == and != do",
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
		return fail(p, (unsigned)(s - p->src), -EINVAL,
			    "port range \"%.*s\" is inverted", (int)len, s);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	return fail(p, t->off, -EINVAL, "\"%.*s\" is not a port (0-65535, a range N-M, or *;"
		    " service names are not looked up)", (int)t->len, p->src + t->off);
}

static int expect_word(struct parser *p, const char *after, const struct tok **out)
{
	const struct tok *t = peek(p);
	char buf[64];

	if (t->type != T_WORD)
		return fail(p, t->off, -EINVAL, "expected %s, found %s", after,
			    tok_text(p, t, buf, sizeof(buf)));
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
		return fail(p, t->off, -EINVAL, "\"*\" cannot be compared with %s", cmp_name[n->cmp]);
	if (lo != hi && !any && n->cmp != C_EQ && n->cmp != C_NE)
		return fail(p, t->off, -EINVAL, "a port range cannot be compared with %s",
			    cmp_name[n->cmp]);
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
			return fail(p, in_src ? (unsigned)(slash - p->src) : t->off, -EINVAL,
				    "\"%.*s\" is not a prefix length (0-%u)", (int)(len - alen - 1),
				    slash + 1, h->prefix);
		h->prefix = (uint8_t)pfx;
	}
	return 0;
bad:
	return fail(p, t->off, -EINVAL, "\"%.*s\" is not an address (IPv4, [IPv6], a prefix"
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
			return fail(p, t->off, -EINVAL, "\"%.*s\": missing \"]\"", (int)len, s);
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
				return fail(p, t->off, -EINVAL, "\"%.*s\" is too long", (int)len, s);
			memcpy(abuf + alen, colon, (size_t)(e - colon));
			alen += (size_t)(e - colon);
			colon = e;
		}
		if (colon < s + len) {
			if (*colon != ':')
				return fail(p, (unsigned)(colon - p->src), -EINVAL,
					    "expected \":PORT\" after \"]\" in \"%.*s\"", (int)len, s);
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
		if (is_word(t, p->src, names[i])) {
			p->f->nodes[id].lo = vals[i];
			return 0;
		}
	return fail(p, t->off, -EINVAL, "%s is not one of %s", tok_text(p, t, buf, sizeof(buf)),
		    list);
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
		return fail(p, t->off, -EINVAL, "\"%.*s\" is not a number (0-%llu)", (int)t->len,
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
		return fail(p, t->off, -EINVAL, "\"%.*s...\" is longer than %zu characters", 20,
			    p->src + t->off, maxlen);
	n->str = strndup(p->src + t->off, t->len);
	if (!n->str)
		return p->rc = -ENOMEM;
	n->is_num = parse_num(n->str, t->len, UINT64_MAX, &n->lo);
	return 0;
}

static int parse_term(struct parser *p)
{
	static const char *const states[] = { "bound", "listening", "listen", "connected",
					      "unconnected", "all" };
	static const uint8_t state_vals[] = { PW_FSTATE_BOUND, PW_FSTATE_LISTENING,
					      PW_FSTATE_LISTENING, PW_FSTATE_CONNECTED, 0xfe, 0xff };
	static const char *const protos[] = { "tcp", "udp" };
	static const uint8_t proto_vals[] = { IPPROTO_TCP, IPPROTO_UDP };
	static const char *const fams[] = { "inet", "ipv4", "4", "inet6", "ipv6", "6" };
	static const uint8_t fam_vals[] = { AF_INET, AF_INET, AF_INET, AF_INET6, AF_INET6,
					    AF_INET6 };
	const struct tok *t = peek(p);
	char kw[16], buf[64];
	int id, r;

	if (t->type != T_WORD)
		return fail(p, t->off, -EINVAL, "expected a condition (sport, dport, src, dst, state,"
			    " proto, family, comm, uid, pid, netns), \"not\" or \"(\", found %s",
			    tok_text(p, t, buf, sizeof(buf)));
	snprintf(kw, sizeof(kw), "%.*s", (int)(t->len < 15 ? t->len : 15), p->src + t->off);
#define KW(w) is_word(t, p->src, w)
	if (KW("or") || KW("and"))
		return fail(p, t->off, -EINVAL, "expected a condition, found \"%s\" (it needs a"
			    " condition before it)", kw);
	if (KW("tcp") || KW("udp")) {
		id = new_node(p, N_PROTO, t->off);
		if (id < 0)
			return p->rc;
		p->f->nodes[id].lo = KW("tcp") ? IPPROTO_TCP : IPPROTO_UDP;
		p->pos++;
		return id;
	}
	if (!(KW("sport") || KW("dport") || KW("src") || KW("dst") || KW("state") ||
	      KW("proto") || KW("protocol") || KW("family") || KW("comm") || KW("process") ||
	      KW("uid") || KW("pid") || KW("netns")))
		return fail(p, t->off, -EINVAL, "unknown condition %s (expected sport, dport, src,"
			    " dst, state, proto, family, comm, uid, pid or netns)",
			    tok_text(p, t, buf, sizeof(buf)));
	id = new_node(p, KW("sport") ? N_SPORT : KW("dport") ? N_DPORT : KW("src") ? N_SRC :
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
		if (!r && p->f->nodes[id].lo == 0xff)
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

/* --- expressions ----------------------------------------------------------- */

static int parse_or(struct parser *p);

static bool starts_unary(struct parser *p)
{
	const struct tok *t = peek(p);

	return t->type == T_NOT || t->type == T_LPAR ||
	       (t->type == T_WORD && !is_word(t, p->src, "or") && !is_word(t, p->src, "and"));
}

static int parse_unary(struct parser *p)
{
	const struct tok *t = peek(p);
	char buf[64];
	int id, sub;

	if (++p->depth > PW_FILTER_MAX_DEPTH)
		return fail(p, t->off, -E2BIG, "nested deeper than %d levels", PW_FILTER_MAX_DEPTH);
	if (t->type == T_NOT || is_word(t, p->src, "not")) {
		p->pos++;
		if (peek(p)->type == T_END)
			return fail(p, peek(p)->off, -EINVAL, "\"%.*s\" needs a condition after it",
				    (int)t->len, p->src + t->off);
		sub = parse_unary(p);
		if (sub < 0)
			return sub;
		id = new_node(p, N_NOT, t->off);
		if (id < 0)
			return p->rc;
		p->f->nodes[id].l = sub;
	} else if (t->type == T_LPAR) {
		p->pos++;
		if (peek(p)->type == T_RPAR)
			return fail(p, peek(p)->off, -EINVAL, "empty parentheses");
		id = parse_or(p);
		if (id < 0)
			return id;
		if (peek(p)->type != T_RPAR)
			return fail(p, peek(p)->off, -EINVAL, "expected \")\" to close the \"(\" at "
				    "column %u, found %s", t->off + 1,
				    tok_text(p, peek(p), buf, sizeof(buf)));
		p->pos++;
	} else {
		id = parse_term(p);
	}
	p->depth--;
	return id;
}

static int binary(struct parser *p, enum node_kind kind, int l, int r, unsigned off)
{
	int id = new_node(p, kind, off);

	if (id < 0)
		return p->rc;
	p->f->nodes[id].l = l;
	p->f->nodes[id].r = r;
	return id;
}

static int parse_and(struct parser *p)
{
	int l = parse_unary(p), r;

	while (l >= 0) {
		const struct tok *t = peek(p);

		if (t->type == T_AND || is_word(t, p->src, "and")) {
			p->pos++;
			if (!starts_unary(p))
				return fail(p, peek(p)->off, -EINVAL, "\"%.*s\" needs a condition after it",
					    (int)t->len, p->src + t->off);
		} else if (!starts_unary(p)) {
			break;
		}
		r = parse_unary(p);
		if (r < 0)
			return r;
		l = binary(p, N_AND, l, r, t->off);
	}
	return l;
}

static int parse_or(struct parser *p)
{
	int l = parse_and(p), r;

	while (l >= 0) {
		const struct tok *t = peek(p);

		if (t->type != T_OR && !is_word(t, p->src, "or"))
			break;
		p->pos++;
		if (!starts_unary(p))
			return fail(p, peek(p)->off, -EINVAL, "\"%.*s\" needs a condition after it",
				    (int)t->len, p->src + t->off);
		r = parse_and(p);
		if (r < 0)
			return r;
		l = binary(p, N_OR, l, r, t->off);
	}
	return l;
}

int pw_filter_parse(const char *expr, struct pw_filter **ret, struct pw_filter_error *err)
{
	struct pw_filter_error dummy;
	struct parser p = { .src = expr ? expr : "", .err = err ? err : &dummy };
	char buf[64];
	int root;

	memset(p.err, 0, sizeof(*p.err));
	if (strlen(p.src) > PW_FILTER_MAX_LEN) {
		p.err->col = PW_FILTER_MAX_LEN + 1;
		snprintf(p.err->msg, sizeof(p.err->msg), "the expression is longer than %d characters",
			 PW_FILTER_MAX_LEN);
		return -E2BIG;
	}
	p.f = calloc(1, sizeof(*p.f));
	if (!p.f)
		return -ENOMEM;
	p.f->root = -1;
	if (tokenize(&p))
		goto fail;
	if (peek(&p)->type != T_END) {
		root = parse_or(&p);
		if (root < 0 || p.rc)
			goto fail;
		if (peek(&p)->type != T_END) {
			fail(&p, peek(&p)->off, -EINVAL, peek(&p)->type == T_RPAR ?
			     "unbalanced %s: no \"(\" before it" :
			     "unexpected %s (expected \"and\", \"or\" or a condition)",
			     tok_text(&p, peek(&p), buf, sizeof(buf)));
			goto fail;
		}
		p.f->root = root;
	}
	free(p.toks);
	*ret = p.f;
	return 0;
fail:
	free(p.toks);
	pw_filter_free(p.f);
	return p.rc ? p.rc : -ENOMEM;
}

void pw_filter_free(struct pw_filter *f)
{
	if (!f)
		return;
	for (int i = 0; i < f->n; i++)
		free(f->nodes[i].str);
	free(f->nodes);
	free(f);
}

bool pw_filter_uses_netns(const struct pw_filter *f)
{
	return f && f->netns;
}

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
		if (n->lo == 0xfe)
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
		put(o, "%s ", cmp_name[n->cmp]);
		fmt_range(o, n->lo, n->hi);
		break;
	case N_SRC:
	case N_DST:
		put(o, "%s ", cmp_name[n->cmp]);
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
		put(o, "%s", n->lo == 0xfe ? "unconnected" : st[n->lo & 3]);
		break;
	case N_PROTO:
		put(o, "%s", n->lo == IPPROTO_TCP ? "tcp" : "udp");
		break;
	case N_FAMILY:
		put(o, "%s", n->lo == AF_INET ? "inet" : "inet6");
		break;
	case N_COMM:
	case N_NETNS:
		put(o, "%s %s", cmp_name[n->cmp], n->str);
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
