// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "utf8.h"

void pw_sb_grow(struct pw_strbuf *sb, size_t more)
{
	size_t ncap;
	char *nb;

	if (sb->oom || sb->len + more + 1 <= sb->cap)
		return;
	ncap = sb->cap ? sb->cap : 4096;
	while (ncap < sb->len + more + 1)
		ncap *= 2;
	nb = realloc(sb->buf, ncap);
	if (!nb) {
		sb->oom = true;
		return;
	}
	sb->buf = nb;
	sb->cap = ncap;
}

void pw_sb_puts(struct pw_strbuf *sb, const char *s)
{
	pw_sb_put(sb, s, strlen(s));
}

void pw_sb_u64(struct pw_strbuf *sb, unsigned long long v)
{
	char tmp[20], *p = tmp + sizeof(tmp);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	pw_sb_put(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}

void pw_sb_i64(struct pw_strbuf *sb, long long v)
{
	if (v < 0) {
		pw_sb_put(sb, "-", 1);
		/* -LLONG_MIN does not fit: go through unsigned */
		pw_sb_u64(sb, 0ull - (unsigned long long)v);
		return;
	}
	pw_sb_u64(sb, (unsigned long long)v);
}

void pw_sb_printf(struct pw_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	pw_sb_grow(sb, 128);
	if (sb->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sb->cap - sb->len) {
		pw_sb_grow(sb, (size_t)n);
		if (sb->oom)
			return;
		va_start(ap, fmt);
		vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

void pw_sb_json_str(struct pw_strbuf *sb, const char *s)
{
	size_t left = strlen(s);

	pw_sb_put(sb, "\"", 1);
	while (left) {
		unsigned char c = (unsigned char)*s;
		size_t k = pw_utf8_seq((const unsigned char *)s, left);

		if (!k) {
			/* not UTF-8: the byte as the text \xNN (see utf8.h) */
			pw_sb_printf(sb, "\\\\x%02x", c);
			k = 1;
		} else if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			pw_sb_put(sb, esc, 2);
		} else if (c < 0x20) {
			pw_sb_printf(sb, "\\u%04x", c);
		} else {
			pw_sb_put(sb, s, k);
		}
		s += k;
		left -= k;
	}
	pw_sb_put(sb, "\"", 1);
}

char *pw_sb_steal(struct pw_strbuf *sb)
{
	char *b = sb->oom ? NULL : sb->buf;

	if (sb->oom)
		free(sb->buf);
	else if (!b)
		b = calloc(1, 1);
	memset(sb, 0, sizeof(*sb));
	return b;
}
