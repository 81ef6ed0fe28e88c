// SPDX-License-Identifier: GPL-2.0
/*
 * user/common/filter.c: the ss-style filter grammar. Tables of valid
 * expressions (their canonical form, and which sample sockets they match),
 * and of invalid ones (the column of the token named and a part of the
 * message), plus the bounds on length and depth.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "filter.h"

/* Sample sockets; "match" strings below list the letters of those matched. */
static struct pw_filter_rec recs[6];
#define NRECS 6

static void set_addr(uint8_t *dst, int family, const char *s)
{
	assert_int_equal(inet_pton(family, s, dst), 1);
}

static void init_recs(void)
{
	memset(recs, 0, sizeof(recs));
	/* a: tcp 127.0.0.1:8080 listening, python3, uid 0, netns cookie 1 inode 4026531840 "" */
	recs[0] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET,
		.state = PW_FSTATE_LISTENING, .sport = 8080, .pid = 100, .uid = 0, .comm = "python3",
		.netns_cookie = 1, .netns_ino = 4026531840u };
	set_addr(recs[0].saddr, AF_INET, "127.0.0.1");
	/* b: udp 0.0.0.0:53 bound, dnsmasq, uid 101, netns cookie 7 inode 4026532300 "blue" */
	recs[1] = (struct pw_filter_rec){ .proto = IPPROTO_UDP, .family = AF_INET,
		.state = PW_FSTATE_BOUND, .sport = 53, .pid = 200, .uid = 101, .comm = "dnsmasq",
		.netns_cookie = 7, .netns_ino = 4026532300u, .netns_name = "blue" };
	/* c: tcp [::1]:22 listening, sshd, uid 0 */
	recs[2] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET6,
		.state = PW_FSTATE_LISTENING, .sport = 22, .pid = 300, .comm = "sshd",
		.netns_cookie = 1, .netns_ino = 4026531840u };
	set_addr(recs[2].saddr, AF_INET6, "::1");
	/* d: tcp 10.1.2.3:40000 -> 10.9.9.9:443 connected, curl, uid 1000 */
	recs[3] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET,
		.state = PW_FSTATE_CONNECTED, .sport = 40000, .dport = 443, .pid = 400, .uid = 1000,
		.comm = "curl", .netns_cookie = 1, .netns_ino = 4026531840u };
	set_addr(recs[3].saddr, AF_INET, "10.1.2.3");
	set_addr(recs[3].daddr, AF_INET, "10.9.9.9");
	/* e: udp [fe80::1]:5353 bound, avahi-daemon, uid 105 */
	recs[4] = (struct pw_filter_rec){ .proto = IPPROTO_UDP, .family = AF_INET6,
		.state = PW_FSTATE_BOUND, .sport = 5353, .pid = 500, .uid = 105,
		.comm = "avahi-daemon", .netns_cookie = 1, .netns_ino = 4026531840u };
	set_addr(recs[4].saddr, AF_INET6, "fe80::1");
	/* f: tcp 0.0.0.0:3000 listening, no owner known */
	recs[5] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET,
		.state = PW_FSTATE_LISTENING, .sport = 3000, .netns_cookie = 1,
		.netns_ino = 4026531840u };
}

struct valid {
	const char *expr;
	const char *canon;	/* pw_filter_format */
	const char *match;	/* letters of recs matched */
};

static const struct valid valid[] = {
	{ "", "all", "abcdef" },
	{ "   ", "all", "abcdef" },
	{ "sport = :8080", "sport = 8080", "a" },
	{ "sport == 8080", "sport = 8080", "a" },
	{ "sport=:8080", "sport = 8080", "a" },
	{ "sport :53", "sport = 53", "b" },
	{ "sport != :8080", "sport != 8080", "bcdef" },
	{ "sport neq :8080", "sport != 8080", "bcdef" },
	{ "sport ne 8080", "sport != 8080", "bcdef" },
	{ "sport < :1024", "sport < 1024", "bc" },
	{ "sport lt :1024", "sport < 1024", "bc" },
	{ "sport > :5353", "sport > 5353", "ad" },
	{ "sport gt 5353", "sport > 5353", "ad" },
	{ "sport <= :53", "sport <= 53", "bc" },
	{ "sport le 53", "sport <= 53", "bc" },
	{ "sport >= :5353", "sport >= 5353", "ade" },
	{ "sport ge :5353", "sport >= 5353", "ade" },
	{ "sport eq :22", "sport = 22", "c" },
	{ "sport = :3000-8080", "sport = 3000-8080", "aef" },
	{ "sport != 3000-8080", "sport != 3000-8080", "bcd" },
	{ "sport = *", "sport = 0-65535", "abcdef" },
	{ "dport = :443", "dport = 443", "d" },
	{ "dport = :0", "dport = 0", "abcef" },
	{ "src 127.0.0.1", "src = 127.0.0.1/32", "a" },
	{ "src 127.0.0.0/8", "src = 127.0.0.0/8", "a" },
	{ "src = 10.0.0.0/8", "src = 10.0.0.0/8", "d" },
	{ "src != 10.0.0.0/8", "src != 10.0.0.0/8", "abcef" },
	{ "src 127.0.0.1:8080", "src = 127.0.0.1/32:8080", "a" },
	{ "src 127.0.0.1:80", "src = 127.0.0.1/32:80", "" },
	{ "src 10.0.0.0/8:40000", "src = 10.0.0.0/8:40000", "d" },
	{ "src :53", "src = *:53", "b" },
	{ "src *:53", "src = *:53", "b" },
	{ "src *", "src = *", "abcdef" },
	{ "src ::1", "src = [::1/128]", "c" },
	{ "src [::1]", "src = [::1/128]", "c" },
	{ "src [::1]:22", "src = [::1/128]:22", "c" },
	{ "src [fe80::]/10", "src = [fe80::/10]", "e" },
	{ "src [fe80::/10]:5353", "src = [fe80::/10]:5353", "e" },
	{ "src fe80::/10", "src = [fe80::/10]", "e" },
	{ "src [::]/0", "src = [::/0]", "ce" },
	{ "src 0.0.0.0/0", "src = 0.0.0.0/0", "abdf" },
	{ "src 0.0.0.0", "src = 0.0.0.0/32", "bf" },
	{ "dst 10.9.9.9:443", "dst = 10.9.9.9/32:443", "d" },
	{ "dst :443", "dst = *:443", "d" },
	{ "state listening", "state listening", "acf" },
	{ "state listen", "state listening", "acf" },
	{ "state bound", "state bound", "be" },
	{ "state connected", "state connected", "d" },
	{ "state unconnected", "state unconnected", "abcef" },
	{ "state all", "state all", "abcdef" },
	{ "tcp", "proto tcp", "acdf" },
	{ "udp", "proto udp", "be" },
	{ "proto udp", "proto udp", "be" },
	{ "protocol tcp", "proto tcp", "acdf" },
	{ "family inet", "family inet", "abdf" },
	{ "family ipv6", "family inet6", "ce" },
	{ "family 6", "family inet6", "ce" },
	{ "comm python3", "comm = python3", "a" },
	{ "process = sshd", "comm = sshd", "c" },
	{ "comm != sshd", "comm != sshd", "abdef" },
	{ "comm 'py*'", NULL, NULL },	/* quotes are word characters: no match, no error */
	{ "comm py*", "comm = py*", "a" },
	{ "comm *d*", "comm = *d*", "bce" },
	{ "uid = 0", "uid = 0", "acf" },
	{ "uid 0", "uid = 0", "acf" },
	{ "uid >= 1000", "uid >= 1000", "d" },
	{ "uid gt 100", "uid > 100", "bde" },
	{ "pid = 300", "pid = 300", "c" },
	{ "pid < 250", "pid < 250", "abf" },
	{ "netns blue", "netns = blue", "b" },
	{ "netns = 4026532300", "netns = 4026532300", "b" },
	{ "netns 7", "netns = 7", "b" },
	{ "netns != 1", "netns != 1", "b" },
	{ "netns red", "netns = red", "" },
	{ "sport = :8080 or sport = :53", "(sport = 8080 or sport = 53)", "ab" },
	{ "sport = :8080 || sport = :53", "(sport = 8080 or sport = 53)", "ab" },
	{ "tcp and state listening", "(proto tcp and state listening)", "acf" },
	{ "tcp && state listening", "(proto tcp and state listening)", "acf" },
	{ "tcp state listening", "(proto tcp and state listening)", "acf" },
	{ "tcp sport > 1000 family inet", "((proto tcp and sport > 1000) and family inet)", "adf" },
	{ "not tcp", "not proto tcp", "be" },
	{ "! tcp", "not proto tcp", "be" },
	{ "!tcp", "not proto tcp", "be" },
	{ "not not tcp", "not not proto tcp", "acdf" },
	{ "( tcp )", "proto tcp", "acdf" },
	{ "(tcp)", "proto tcp", "acdf" },
	/* and binds tighter than or */
	{ "udp or tcp and sport = 22", "(proto udp or (proto tcp and sport = 22))", "bce" },
	{ "(udp or tcp) and sport = 22", "((proto udp or proto tcp) and sport = 22)", "c" },
	{ "not (sport = :22 or sport = :53) and state listening",
	  "(not (sport = 22 or sport = 53) and state listening)", "af" },
	{ "((((sport = :22))))", "sport = 22", "c" },
	{ "state listening and not src 127.0.0.0/8 and family inet",
	  "((state listening and not src = 127.0.0.0/8) and family inet)", "f" },
	{ "sport = :22\tor\nsport = :53", "(sport = 22 or sport = 53)", "bc" },
};

struct invalid {
	const char *expr;
	unsigned col;
	const char *msg;	/* a part of the message */
	int rc;
};

static const struct invalid invalid[] = {
	{ "sport = :80 foo", 13, "unknown condition \"foo\"", -EINVAL },
	{ "bogus", 1, "unknown condition \"bogus\"", -EINVAL },
	{ "sport", 6, "expected a port after \"sport\", found the end", -EINVAL },
	{ "sport =", 8, "expected a port after \"sport\"", -EINVAL },
	{ "sport = :http", 9, "\":http\" is not a port", -EINVAL },
	{ "sport = :65536", 9, "is not a port", -EINVAL },
	{ "sport = :-1", 9, "is not a port", -EINVAL },
	{ "sport = :", 9, "is not a port", -EINVAL },
	{ "sport = :90-80", 10, "port range \"90-80\" is inverted", -EINVAL },
	{ "sport < :80-90", 9, "a port range cannot be compared with <", -EINVAL },
	{ "sport > *", 9, "\"*\" cannot be compared with >", -EINVAL },
	{ "sport = (", 9, "expected a port after \"sport\", found \"(\"", -EINVAL },
	{ "dport ! 80", 7, "expected a port after \"dport\", found \"!\"", -EINVAL },
	{ "src < 10.0.0.1", 5, "\"<\" does not apply here", -EINVAL },
	{ "src", 4, "expected an address after \"src\"", -EINVAL },
	{ "src 10.0.0.300", 5, "\"10.0.0.300\" is not an address", -EINVAL },
	{ "src example.com", 5, "host names are not looked up", -EINVAL },
	{ "src 10.0.0.0/33", 13, "\"33\" is not a prefix length (0-32)", -EINVAL },
	{ "src [::1]/129", 5, "\"129\" is not a prefix length (0-128)", -EINVAL },
	{ "src [::1", 5, "missing \"]\"", -EINVAL },
	{ "src [::1]x", 10, "expected \":PORT\" after \"]\"", -EINVAL },
	{ "src 10.0.0.1:99999", 5, "is not a port", -EINVAL },
	{ "dst [::1]:x", 5, "is not a port", -EINVAL },
	{ "state", 6, "expected bound, listening", -EINVAL },
	{ "state established", 7, "\"established\" is not one of bound, listening", -EINVAL },
	{ "proto sctp", 7, "\"sctp\" is not one of tcp or udp", -EINVAL },
	{ "family unix", 8, "\"unix\" is not one of inet", -EINVAL },
	{ "comm", 5, "expected a name after \"comm\"", -EINVAL },
	{ "comm < x", 6, "\"<\" does not apply here", -EINVAL },
	{ "comm abcdefghijklmnopq", 6, "is longer than 15 characters", -EINVAL },
	{ "uid = -1", 7, "\"-1\" is not a number (0-4294967295)", -EINVAL },
	{ "uid = 4294967296", 7, "is not a number", -EINVAL },
	{ "pid = 4194305", 7, "is not a number (0-4194304)", -EINVAL },
	{ "pid = abc", 7, "\"abc\" is not a number", -EINVAL },
	{ "netns", 6, "expected a name after \"netns\"", -EINVAL },
	{ "(tcp", 5, "expected \")\" to close the \"(\" at column 1, found the end", -EINVAL },
	{ "((tcp)", 7, "to close the \"(\" at column 1", -EINVAL },
	{ "tcp)", 4, "unbalanced \")\"", -EINVAL },
	{ "()", 2, "empty parentheses", -EINVAL },
	{ ")", 1, "expected a condition", -EINVAL },
	{ "tcp and", 8, "\"and\" needs a condition after it", -EINVAL },
	{ "tcp &&", 7, "\"&&\" needs a condition after it", -EINVAL },
	{ "tcp or", 7, "\"or\" needs a condition after it", -EINVAL },
	{ "tcp or or udp", 8, "\"or\" needs a condition after it", -EINVAL },
	{ "or tcp", 1, "found \"or\" (it needs a condition before it)", -EINVAL },
	{ "and", 1, "found \"and\" (it needs a condition before it)", -EINVAL },
	{ "not", 4, "\"not\" needs a condition after it", -EINVAL },
	{ "tcp !", 6, "\"!\" needs a condition after it", -EINVAL },
	{ "tcp & udp", 5, "unexpected \"&\" (did you mean \"&&\"?)", -EINVAL },
	{ "tcp | udp", 5, "unexpected \"|\"", -EINVAL },
	{ "tcp = udp", 5, "unexpected \"=\" (expected \"and\", \"or\" or a condition)", -EINVAL },
	{ "sport = :22 \x01", 13, "unexpected character 0x01", -EINVAL },
	{ "comm caf\xc3\xa9", 9, "unexpected character 0xc3", -EINVAL },
};

static char matches(const struct pw_filter *f, char *buf)
{
	int n = 0;

	for (int i = 0; i < NRECS; i++)
		if (pw_filter_match(f, &recs[i]))
			buf[n++] = (char)('a' + i);
	buf[n] = 0;
	return 0;
}

static void test_valid(void **state)
{
	char canon[512], got[NRECS + 1];

	(void) state;
	init_recs();
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct pw_filter_error err;
		struct pw_filter *f = NULL;
		int r = pw_filter_parse(valid[i].expr, &f, &err);

		if (r)
			fail_msg("\"%s\": rejected at column %u: %s", valid[i].expr, err.col, err.msg);
		assert_int_equal(pw_filter_format(f, canon, sizeof(canon)), 0);
		if (valid[i].canon && strcmp(canon, valid[i].canon))
			fail_msg("\"%s\": parsed as \"%s\", want \"%s\"", valid[i].expr, canon,
				 valid[i].canon);
		matches(f, got);
		if (valid[i].match && strcmp(got, valid[i].match))
			fail_msg("\"%s\" (%s): matched \"%s\", want \"%s\"", valid[i].expr, canon, got,
				 valid[i].match);
		/* the canonical form parses to itself */
		if (valid[i].canon && strcmp(canon, "all")) {
			struct pw_filter *g = NULL;
			char again[512];

			if (pw_filter_parse(canon, &g, &err))
				fail_msg("canonical \"%s\" rejected at column %u: %s", canon, err.col,
					 err.msg);
			pw_filter_format(g, again, sizeof(again));
			assert_string_equal(again, canon);
			pw_filter_free(g);
		}
		pw_filter_free(f);
	}
}

static void test_invalid(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct pw_filter_error err;
		struct pw_filter *f = NULL;
		int r = pw_filter_parse(invalid[i].expr, &f, &err);

		if (!r)
			fail_msg("\"%s\": accepted", invalid[i].expr);
		assert_null(f);
		if (r != invalid[i].rc || err.col != invalid[i].col || !strstr(err.msg, invalid[i].msg))
			fail_msg("\"%s\": rc %d column %u \"%s\"; want rc %d column %u \"...%s...\"",
				 invalid[i].expr, r, err.col, err.msg, invalid[i].rc, invalid[i].col,
				 invalid[i].msg);
	}
}

static void test_bounds(void **state)
{
	struct pw_filter_error err;
	struct pw_filter *f = NULL;
	char *s = malloc(PW_FILTER_MAX_LEN + 64);
	size_t n = 0;

	(void) state;
	assert_non_null(s);
	/* too long */
	memset(s, ' ', PW_FILTER_MAX_LEN + 1);
	s[PW_FILTER_MAX_LEN + 1] = 0;
	assert_int_equal(pw_filter_parse(s, &f, &err), -E2BIG);
	assert_int_equal(err.col, PW_FILTER_MAX_LEN + 1);
	assert_non_null(strstr(err.msg, "longer than 4096"));
	/* as deep as allowed: 63 parentheses around a term */
	for (int i = 0; i < PW_FILTER_MAX_DEPTH - 1; i++)
		s[n++] = '(';
	n += (size_t)sprintf(s + n, "tcp");
	for (int i = 0; i < PW_FILTER_MAX_DEPTH - 1; i++)
		s[n++] = ')';
	s[n] = 0;
	assert_int_equal(pw_filter_parse(s, &f, &err), 0);
	pw_filter_free(f);
	/* one deeper: refused at the innermost token */
	n = 0;
	for (int i = 0; i < PW_FILTER_MAX_DEPTH; i++)
		s[n++] = '(';
	n += (size_t)sprintf(s + n, "tcp");
	s[n] = 0;
	f = NULL;
	assert_int_equal(pw_filter_parse(s, &f, &err), -E2BIG);
	assert_null(f);
	assert_int_equal(err.col, PW_FILTER_MAX_DEPTH + 1);
	assert_non_null(strstr(err.msg, "nested deeper than 64"));
	/* "not" counts as nesting too */
	n = 0;
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(s + n, "! ");
	n += (size_t)sprintf(s + n, "tcp");
	assert_int_equal(pw_filter_parse(s, &f, &err), -E2BIG);
	assert_int_equal(err.col, 2 * PW_FILTER_MAX_DEPTH + 1);
	/* too many conditions: 600 "tcp" joined by implicit and make 1,199 nodes */
	n = 0;
	for (int i = 0; i < 600; i++)
		n += (size_t)sprintf(s + n, "tcp ");
	s[n] = 0;
	assert_int_equal(pw_filter_parse(s, &f, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "more than 1024 conditions"));
	free(s);
}

static void test_join_and_null(void **state)
{
	char *argv[] = { "sport", "=", ":80", "or", "( dport = :22 )" };
	struct pw_filter_rec r = { .sport = 80 };
	struct pw_filter *f = NULL;
	char buf[64];

	(void) state;
	assert_int_equal(pw_filter_join(5, argv, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "sport = :80 or ( dport = :22 )");
	assert_int_equal(pw_filter_join(5, argv, buf, 10), -E2BIG);
	assert_int_equal(pw_filter_join(0, argv, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_true(pw_filter_match(NULL, &r));
	assert_int_equal(pw_filter_parse(NULL, &f, NULL), 0);
	assert_true(pw_filter_match(f, &r));
	assert_false(pw_filter_uses_netns(f));
	pw_filter_free(f);
	assert_int_equal(pw_filter_parse("tcp or netns blue", &f, NULL), 0);
	assert_true(pw_filter_uses_netns(f));
	pw_filter_free(f);
	pw_filter_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_join_and_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
