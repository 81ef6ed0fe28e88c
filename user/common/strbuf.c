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

const char pw_digits2[200] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";
const unsigned pw_pow10_32[10] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
				   100000000, 1000000000 };

char *pw_raw_u64_wide(char *p, unsigned long long v)
{
	char tmp[20], *t = tmp + sizeof(tmp);
	size_t n;

	while (v > 0xffffffffull) {
		unsigned d = (unsigned)(v % 100);

		v /= 100;
		t -= 2;
		memcpy(t, pw_digits2 + 2 * d, 2);
	}
	n = pw_digits32((unsigned)v);
	pw_put32(t, (unsigned)v);
	t -= n;
	n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

void pw_sb_u64(struct pw_strbuf *sb, unsigned long long v)
{
	char *p = pw_sb_room(sb, 20);

	if (p)
		pw_sb_commit(sb, pw_raw_u64(p, v));
}

void pw_sb_i64(struct pw_strbuf *sb, long long v)
{
	char *p = pw_sb_room(sb, 21);

	if (p)
		pw_sb_commit(sb, pw_raw_i64(p, v));
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
	const unsigned char *p = (const unsigned char *)s;

	pw_sb_put(sb, "\"", 1);
	for (;;) {
		const unsigned char *run = p;
		unsigned char c;
		size_t k;

		/* printable ASCII goes as it is, a run at a time */
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			pw_sb_put(sb, (const char *)run, (size_t)(p - run));
		c = *p;
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			pw_sb_put(sb, esc, 2);
			p++;
		} else if (c < 0x20) {
			pw_sb_printf(sb, "\\u%04x", c);
			p++;
		} else if ((k = pw_utf8_seq(p, strnlen((const char *)p, 4))) != 0) {
			pw_sb_put(sb, (const char *)p, k);
			p += k;
		} else {
			/* not UTF-8: the byte as the text \xNN (see utf8.h) */
			pw_sb_printf(sb, "\\\\x%02x", c);
			p++;
		}
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
