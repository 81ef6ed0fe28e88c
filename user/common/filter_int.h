/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the filter grammar: tokens, the AST's nodes and the parser state,
 * shared by filter.c (tokens, expressions), filter_term.c (conditions) and
 * filter_eval.c (evaluation, canonical form). Not for other modules.
 */
#ifndef PW_FILTER_INT_H
#define PW_FILTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* N_STATE values beyond enum pw_filter_state ("all" becomes N_ALL) */
#define STATE_UNCONNECTED	0xfe
#define STATE_ALL		0xff

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


extern const char *const ff_cmp_name[];

/* Internal names carry ff_ (filter, file-internal); the public ones pw_filter_. */

/* Record an error at byte offset off (the first one wins); returns rc. */
int ff_fail(struct parser *p, unsigned off, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const struct tok *ff_peek(struct parser *p);
bool ff_is_word(const struct tok *t, const char *src, const char *w);
/* The token as written, quoted and truncated, for messages. */
const char *ff_tok_text(struct parser *p, const struct tok *t, char *buf, size_t len);
/* A new node's index, or -1 with p->rc set. */
int ff_new_node(struct parser *p, enum node_kind kind, unsigned off);
/* One condition (filter_term.c): the node's index, or a negative errno. */
int ff_parse_term(struct parser *p);

#endif
