/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Socket filter expressions in the style of ss(8): a tokenizer, a
 * recursive-descent parser producing an AST, and an evaluator over a plain
 * record. Pure: no I/O, no name lookups (callers resolve netns names and fill
 * the record from their own socket structs).
 *
 *   expr  := or
 *   or    := and { ("or" | "||") and }
 *   and   := unary { ["and" | "&&"] unary }        adjacent terms: implicit and
 *   unary := ("not" | "!") unary | "(" expr ")" | term
 *   term  := ("sport" | "dport") [OP] PORT         PORT: [:]N, [:]N-M (= and != only), *
 *          | ("src" | "dst") [= | == | !=] HOST    HOST: ADDR[/LEN][:PORT], [V6][/LEN][:PORT],
 *                                                         :PORT, *, *:PORT
 *          | "state" STATE                         bound | listening | connected | all
 *          | ("proto" | "protocol") ("tcp" | "udp") | "tcp" | "udp"
 *          | "family" ("inet" | "inet6" | "ipv4" | "ipv6" | "4" | "6")
 *          | ("comm" | "process") [= | == | !=] NAME    NAME may hold * ? [...] wildcards
 *          | ("uid" | "pid") [OP] N
 *          | "netns" [= | == | !=] (NAME | INODE | COOKIE)
 *   OP    := = | == | != | < | > | <= | >= | eq | neq | ne | lt | gt | le | ge
 *
 * Keywords are case-sensitive, as in ss.
 */
#ifndef PW_FILTER_H
#define PW_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_FILTER_MAX_LEN	4096	/* characters of expression */
#define PW_FILTER_MAX_DEPTH	64	/* nesting of parentheses and negations */
#define PW_FILTER_MAX_NODES	1024

enum pw_filter_state {
	PW_FSTATE_UNKNOWN = 0,
	PW_FSTATE_BOUND,	/* bound, not listening, no peer */
	PW_FSTATE_LISTENING,
	PW_FSTATE_CONNECTED,	/* has a peer */
};

/* What a filter is evaluated over. Addresses in network order, IPv4 in the
 * first 4 bytes; ports in host order (0: none). Strings may be NULL. */
struct pw_filter_rec {
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t family;		/* AF_INET / AF_INET6 */
	uint8_t state;		/* enum pw_filter_state */
	uint16_t sport, dport;
	uint8_t saddr[16], daddr[16];
	uint32_t pid, uid;
	const char *comm;
	uint64_t netns_cookie, netns_ino;
	const char *netns_name;
};

struct pw_filter_error {
	unsigned col;		/* 1-based column of the offending token (end: length + 1) */
	char msg[192];		/* a sentence naming the token, without the column */
};

struct pw_filter;

/*
 * Parse expr. 0 with *ret set (free with pw_filter_free), -EINVAL with err
 * filled, -E2BIG when the expression passes a bound, -ENOMEM. An empty (or
 * blank) expression matches everything.
 */
int pw_filter_parse(const char *expr, struct pw_filter **ret, struct pw_filter_error *err);
void pw_filter_free(struct pw_filter *f);
/* NULL matches everything. */
bool pw_filter_match(const struct pw_filter *f, const struct pw_filter_rec *r);
/* Whether the expression mentions a netns term (callers may skip resolving). */
bool pw_filter_uses_netns(const struct pw_filter *f);
/* The AST in a canonical fully-parenthesized form, for tests and -v. */
int pw_filter_format(const struct pw_filter *f, char *buf, size_t len);
/* Join argv with single spaces into buf (the CLI's expression). 0 or -E2BIG. */
int pw_filter_join(int argc, char *const *argv, char *buf, size_t len);

#endif
