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
/* A JSON string literal, quotes included; bytes that are not UTF-8 as \\xNN. */
void pw_sb_json_str(struct pw_strbuf *sb, const char *s);
/* Hand over the NUL-terminated buffer (NULL after an allocation failure). */
char *pw_sb_steal(struct pw_strbuf *sb);

#endif
