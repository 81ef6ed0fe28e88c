// SPDX-License-Identifier: GPL-2.0
/* user/common/utf8.c: valid UTF-8 kept, anything else as \xNN; terminal escapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "strbuf.h"
#include "utf8.h"

static void test_seq(void **state)
{
	(void) state;
	assert_int_equal(pw_utf8_seq((const unsigned char *)"a", 1), 1);
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xc3\xa9", 2), 2);	/* é */
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xe2\x82\xac", 3), 3);	/* € */
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xc3", 1), 0);	/* cut */
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xc0\xaf", 2), 0);	/* overlong */
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xe0\x80\xaf", 3), 0);
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xed\xa0\x80", 3), 0);	/* surrogate */
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\xff", 1), 0);
	assert_int_equal(pw_utf8_seq((const unsigned char *)"\x80", 1), 0);
}

static void test_safe(void **state)
{
	char out[64];

	(void) state;
	assert_string_equal(pw_utf8_safe("caf\xc3\xa9", out, sizeof(out)), "caf\xc3\xa9");
	assert_string_equal(pw_utf8_safe("\xff\xfe" "ab\xc3", out, sizeof(out)),
			    "\\xff\\xfeab\\xc3");
	/* control characters are valid UTF-8: JSON escapes them itself */
	assert_string_equal(pw_utf8_safe("\x1b[31m", out, sizeof(out)), "\x1b[31m");
	/* cut at a whole character or escape, never inside one */
	assert_string_equal(pw_utf8_safe("ab\xff", out, 5), "ab");
	assert_string_equal(pw_utf8_safe("a\xe2\x82\xac", out, 4), "a");
}

static void test_term(void **state)
{
	char out[64];

	(void) state;
	assert_string_equal(pw_term_safe("\x1b]0;x\x07" "ok", out, sizeof(out)),
			    "\\x1b]0;x\\x07ok");
	assert_string_equal(pw_term_safe("a\\b", out, sizeof(out)), "a\\\\b");
	assert_string_equal(pw_term_safe("\xc2\x9b" "1m", out, sizeof(out)), "\\xc2\\x9b1m");	/* C1 CSI */
	assert_string_equal(pw_term_safe("\x7f\xff", out, sizeof(out)), "\\x7f\\xff");
	assert_string_equal(pw_term_safe("caf\xc3\xa9", out, sizeof(out)), "caf\xc3\xa9");
}

/* The JSON writer never emits invalid UTF-8: jansson parses what it writes. */
static void test_json_str(void **state)
{
	struct pw_strbuf sb = { 0 };
	json_error_t e;
	json_t *j;
	char *s;

	(void) state;
	pw_sb_json_str(&sb, "\xff\x1b\"\\\xc3\xa9");
	s = pw_sb_steal(&sb);
	assert_non_null(s);
	j = json_loads(s, JSON_DECODE_ANY, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(j), "\\xff\x1b\"\\\xc3\xa9");
	json_decref(j);
	free(s);
	/* runs of plain text around each kind of escape, DEL as it is, a
	 * truncated sequence at the end */
	pw_sb_json_str(&sb, "abc\"def\\g\x01h\x7fi\xe2\x82\xacj\xe2\x82");
	s = pw_sb_steal(&sb);
	assert_string_equal(s, "\"abc\\\"def\\\\g\\u0001h\x7fi\xe2\x82\xacj\\\\xe2\\\\x82\"");
	free(s);
	pw_sb_json_str(&sb, "");
	s = pw_sb_steal(&sb);
	assert_string_equal(s, "\"\"");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_term),
		cmocka_unit_test(test_json_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
