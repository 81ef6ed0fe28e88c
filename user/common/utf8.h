/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Strings from processes and users (comm, names, projects, command lines)
 * may hold any bytes. JSON needs valid UTF-8 and a terminal needs no control
 * characters: each byte that is not part of a valid UTF-8 sequence is
 * written as the four characters \xNN, so nothing is lost and nothing is
 * hidden.
 */
#ifndef PW_UTF8_H
#define PW_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most left bytes), 0 if none:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
size_t pw_utf8_seq(const unsigned char *s, size_t left);
/* s as valid UTF-8 in out (size n, NUL-terminated, cut at a character):
 * invalid bytes as \xNN. Returns out. */
const char *pw_utf8_safe(const char *s, char *out, size_t n);
/* For a terminal: invalid bytes and control characters (C0, DEL, C1) as
 * \xNN, a backslash as \\. Returns out. */
const char *pw_term_safe(const char *s, char *out, size_t n);

#endif
