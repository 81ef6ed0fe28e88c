/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A growable byte buffer for building large responses (the port map of
 * 100,000 sockets) without a JSON object tree in between.
 */
#ifndef PW_STRBUF_H
#define PW_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct pw_strbuf {
	char *buf;
	size_t len, cap;
	bool oom;	/* an append failed; the content is truncated */
};

void pw_sb_grow(struct pw_strbuf *sb, size_t more);

/* Inline: a listing appends a few dozen pieces per socket. */
static inline void pw_sb_put(struct pw_strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap)
		pw_sb_grow(sb, n);
	if (sb->oom)
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

/* Inline too: for a constant name (pw_proto_name() and the like, inlined
 * where they are defined) the compiler folds the strlen. */
static inline void pw_sb_puts(struct pw_strbuf *sb, const char *s)
{
	pw_sb_put(sb, s, strlen(s));
}
void pw_sb_printf(struct pw_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integers, without printf's machinery (the hot paths: every socket
 * of a listing, every event). */
void pw_sb_u64(struct pw_strbuf *sb, unsigned long long v);
void pw_sb_i64(struct pw_strbuf *sb, long long v);
/* A string literal, its length known at compile time. */
#define pw_sb_lit(sb, lit) pw_sb_put((sb), "" lit, sizeof(lit) - 1)
/*
 * A writer that knows a bound on what it appends reserves the room once and
 * writes through a cursor, without a check per piece:
 *	char *p = pw_sb_room(sb, MAX);	(NULL after an allocation failure)
 *	p = pw_raw_lit(p, "..."); p = pw_raw_u64(p, v); ...
 *	pw_sb_commit(sb, p);
 */
static inline char *pw_sb_room(struct pw_strbuf *sb, size_t n)
{
	if (sb->len + n + 1 > sb->cap)
		pw_sb_grow(sb, n);
	return sb->oom ? NULL : sb->buf + sb->len;
}

static inline void pw_sb_commit(struct pw_strbuf *sb, char *end)
{
	sb->len = (size_t)(end - sb->buf);
	sb->buf[sb->len] = '\0';
}

static inline char *pw_raw_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* n bytes of s as a copy of max, a constant: s has max bytes to read and p
 * room for max. gcc makes a short memcpy of variable size a `rep movs`,
 * whose start-up costs more than the copy; this is a few vector moves. */
static inline char *pw_raw_put_upto(char *p, const char *s, size_t n, size_t max)
{
	memcpy(p, s, max);
	return p + n;
}

/* A NUL-terminated string; constant ones fold their strlen. */
static inline char *pw_raw_str(char *p, const char *s)
{
	return pw_raw_put(p, s, strlen(s));
}

#define pw_raw_lit(p, lit) pw_raw_put((p), "" lit, sizeof(lit) - 1)
/* Decimal numbers, inline: a listing writes five per socket. */
extern const char pw_digits2[200];	/* "00" to "99" */
extern const unsigned pw_pow10_32[10];

/* The number of decimal digits of w: log2 by the bit count, times log10(2)
 * as 1233 / 4096, one below or right; a compare says which. */
static inline unsigned pw_digits32(unsigned w)
{
	unsigned v = w | 1;	/* 0 has one digit; no other count changes */
	unsigned t = (unsigned)(32 - __builtin_clz(v)) * 1233 >> 12;

	return t + 1 - (v < pw_pow10_32[t]);
}

/* w's digits, written backwards to end at end, two per division. */
static inline void pw_put32(char *end, unsigned w)
{
	while (w >= 100) {
		unsigned d = w % 100;

		w /= 100;
		end -= 2;
		memcpy(end, pw_digits2 + 2 * d, 2);
	}
	if (w >= 10)
		memcpy(end - 2, pw_digits2 + 2 * w, 2);
	else
		end[-1] = (char)('0' + w);
}

/* Past 32 bits (cookies): out of line. */
char *pw_raw_u64_wide(char *p, unsigned long long v);

/* Decimal, at most 20 bytes. */
static inline char *pw_raw_u64(char *p, unsigned long long v)
{
	unsigned nd;

	if (v > 0xffffffffull)
		return pw_raw_u64_wide(p, v);
	nd = pw_digits32((unsigned)v);
	pw_put32(p + nd, (unsigned)v);
	return p + nd;
}

static inline char *pw_raw_i64(char *p, long long v)
{
	if (v >= 0)
		return pw_raw_u64(p, (unsigned long long)v);
	*p++ = '-';
	/* -LLONG_MIN does not fit: go through unsigned */
	return pw_raw_u64(p, 0ull - (unsigned long long)v);
}
/* A JSON string literal, quotes included; bytes that are not UTF-8 as \\xNN. */
void pw_sb_json_str(struct pw_strbuf *sb, const char *s);
/* Hand over the NUL-terminated buffer (NULL after an allocation failure). */
char *pw_sb_steal(struct pw_strbuf *sb);

#endif
