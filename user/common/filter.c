// SPDX-License-Identifier: GPL-2.0
/*
 * ss-style socket filter expressions: the tokenizer and the recursive-descent
 * parser of expressions (and, or, not, parentheses) into an array of nodes;
 * conditions are in filter_term.c, evaluation in filter_eval.c. The grammar
 * is in filter.h. No I/O: the daemon compiles an expression once per request
 * and evaluates it per socket or event, and the unit test drives it directly.
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

const char *const ff_cmp_name[] = { "=", "!=", "<", ">", "<=", ">=" };

/* --- tokens ---------------------------------------------------------------- */

static bool word_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && !strchr("()!=<>&|", c);
}

int ff_fail(struct parser *p, unsigned off, int rc, const char *fmt, ...)
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
				return ff_fail(p, i, -EINVAL,
					       "unexpected \"%c\" (did you mean \"%c%c\"?)", c, c, c);
			t->type = c == '&' ? T_AND : T_OR;
			break;
		default:
			if (!word_char(c))
				return ff_fail(p, i, -EINVAL, "unexpected character 0x%02x", c);
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

const struct tok *ff_peek(struct parser *p)
{
	return &p->toks[p->pos];
}

bool ff_is_word(const struct tok *t, const char *src, const char *w)
{
	return t->type == T_WORD && strlen(w) == t->len && !memcmp(src + t->off, w, t->len);
}

/* The token as the user wrote it, for messages (truncated when long). */
const char *ff_tok_text(struct parser *p, const struct tok *t, char *buf, size_t len)
{
	if (t->type == T_END)
		return "the end of the expression";
	snprintf(buf, len, "\"%.*s%s\"", (int)(t->len > 40 ? 40 : t->len), p->src + t->off,
		 t->len > 40 ? "..." : "");
	return buf;
}

/* --- nodes ----------------------------------------------------------------- */

int ff_new_node(struct parser *p, enum node_kind kind, unsigned off)
{
	struct pw_filter *f = p->f;

	if (f->n == PW_FILTER_MAX_NODES) {
		ff_fail(p, off, -E2BIG, "more than %d conditions", PW_FILTER_MAX_NODES);
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

/* --- expressions ----------------------------------------------------------- */

static int parse_or(struct parser *p);

static bool starts_unary(struct parser *p)
{
	const struct tok *t = ff_peek(p);

	return t->type == T_NOT || t->type == T_LPAR ||
	       (t->type == T_WORD && !ff_is_word(t, p->src, "or") && !ff_is_word(t, p->src, "and"));
}

static int parse_unary(struct parser *p)
{
	const struct tok *t = ff_peek(p);
	char buf[64];
	int id, sub;

	if (++p->depth > PW_FILTER_MAX_DEPTH)
		return ff_fail(p, t->off, -E2BIG, "nested deeper than %d levels",
			       PW_FILTER_MAX_DEPTH);
	if (t->type == T_NOT || ff_is_word(t, p->src, "not")) {
		p->pos++;
		if (ff_peek(p)->type == T_END)
			return ff_fail(p, ff_peek(p)->off, -EINVAL,
				       "\"%.*s\" needs a condition after it", (int)t->len,
				       p->src + t->off);
		sub = parse_unary(p);
		if (sub < 0)
			return sub;
		id = ff_new_node(p, N_NOT, t->off);
		if (id < 0)
			return p->rc;
		p->f->nodes[id].l = sub;
	} else if (t->type == T_LPAR) {
		p->pos++;
		if (ff_peek(p)->type == T_RPAR)
			return ff_fail(p, ff_peek(p)->off, -EINVAL, "empty parentheses");
		id = parse_or(p);
		if (id < 0)
			return id;
		if (ff_peek(p)->type != T_RPAR)
			return ff_fail(p, ff_peek(p)->off, -EINVAL,
				       "expected \")\" to close the \"(\" at column %u, found %s",
				       t->off + 1,
				    ff_tok_text(p, ff_peek(p), buf, sizeof(buf)));
		p->pos++;
	} else {
		id = ff_parse_term(p);
	}
	p->depth--;
	return id;
}

static int binary(struct parser *p, enum node_kind kind, int l, int r, unsigned off)
{
	int id = ff_new_node(p, kind, off);

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
		const struct tok *t = ff_peek(p);

		if (t->type == T_AND || ff_is_word(t, p->src, "and")) {
			p->pos++;
			if (!starts_unary(p))
				return ff_fail(p, ff_peek(p)->off, -EINVAL,
					       "\"%.*s\" needs a condition after it", (int)t->len,
					       p->src + t->off);
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
		const struct tok *t = ff_peek(p);

		if (t->type != T_OR && !ff_is_word(t, p->src, "or"))
			break;
		p->pos++;
		if (!starts_unary(p))
			return ff_fail(p, ff_peek(p)->off, -EINVAL,
				       "\"%.*s\" needs a condition after it", (int)t->len,
				       p->src + t->off);
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
		snprintf(p.err->msg, sizeof(p.err->msg),
			 "the expression is longer than %d characters", PW_FILTER_MAX_LEN);
		return -E2BIG;
	}
	p.f = calloc(1, sizeof(*p.f));
	if (!p.f)
		return -ENOMEM;
	p.f->root = -1;
	if (tokenize(&p))
		goto fail;
	if (ff_peek(&p)->type != T_END) {
		root = parse_or(&p);
		if (root < 0 || p.rc)
			goto fail;
		if (ff_peek(&p)->type != T_END) {
			ff_fail(&p, ff_peek(&p)->off, -EINVAL, ff_peek(&p)->type == T_RPAR ?
			     "unbalanced %s: no \"(\" before it" :
			     "unexpected %s (expected \"and\", \"or\" or a condition)",
			     ff_tok_text(&p, ff_peek(&p), buf, sizeof(buf)));
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

