// SPDX-License-Identifier: GPL-2.0
/* Valid UTF-8 and terminal-safe copies of untrusted strings (see utf8.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

size_t pw_utf8_seq(const unsigned char *s, size_t left)
{
	unsigned cp, need;

	if (!left)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (left < need + 1)
		return 0;
	for (unsigned i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

static const char *escape(const char *s, char *out, size_t n, bool term)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), o = 0;

	if (!n)
		return out;
	while (left) {
		size_t k = pw_utf8_seq(p, left);
		char tmp[5];
		const char *add;
		size_t alen;

		if (k && term && k == 1 && (*p < 0x20 || *p == 0x7f))
			k = 0;
		/* C1 controls, U+0080..U+009F, move a terminal too */
		if (k == 2 && term && p[0] == 0xc2 && p[1] < 0xa0)
			k = 0;
		if (k && term && *p == '\\') {
			add = "\\\\";
			alen = 2;
			k = 1;
		} else if (k) {
			add = (const char *)p;
			alen = k;
		} else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
			add = tmp;
			alen = 4;
			k = 1;
		}
		if (o + alen >= n)
			break;
		memcpy(out + o, add, alen);
		o += alen;
		p += k;
		left -= k;
	}
	out[o] = '\0';
	return out;
}

const char *pw_utf8_safe(const char *s, char *out, size_t n)
{
	return escape(s, out, n, false);
}

const char *pw_term_safe(const char *s, char *out, size_t n)
{
	return escape(s, out, n, true);
}
