// SPDX-License-Identifier: GPL-2.0
/*
 * user/proto.c: request parsing and its error messages, request/response
 * lines, error codes, typed args, names, and the event JSON.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "proto.h"
#include "strbuf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *line, struct pw_request *req, char *err, size_t errlen)
{
	return pw_proto_parse_request(line, strlen(line), req, err, errlen);
}

/* The request is rejected and the message starts with prefix. */
static void reject(const char *line, const char *prefix)
{
	struct pw_request req;
	char err[256] = "";

	assert_int_equal(parse(line, &req, err, sizeof(err)), -EINVAL);
	assert_null(req.root);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("%s: error \"%s\" does not start with \"%s\"", line, err, prefix);
}

static void test_request_valid(void **state)
{
	/* a longer buffer: only len bytes are parsed */
	static const char buf[] = "{\"v\":1,\"cmd\":\"ports\",\"args\":{\"port\":80}}GARBAGE";
	struct pw_request req;
	char err[128] = "";

	(void)state;
	assert_int_equal(pw_proto_parse_request(buf, strlen(buf) - 7, &req, err, sizeof(err)), 0);
	assert_string_equal(req.cmd, "ports");
	assert_true(json_is_object(req.args));
	assert_int_equal(json_integer_value(json_object_get(req.args, "port")), 80);
	assert_ptr_equal(json_object_get(req.root, "args"), req.args);
	pw_request_done(&req);
	assert_null(req.root);
	assert_null(req.cmd);

	/* args absent: an empty object owned by root; key order and spaces free */
	assert_int_equal(parse(" { \"cmd\" : \"watch\" , \"v\" : 1 } ", &req, err, sizeof(err)), 0);
	assert_string_equal(req.cmd, "watch");
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 0);
	assert_ptr_equal(json_object_get(req.root, "args"), req.args);
	pw_request_done(&req);

	/* unknown top-level keys are tolerated */
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"x\",\"id\":7}", &req, err, sizeof(err)), 0);
	pw_request_done(&req);
}

static void test_request_invalid(void **state)
{
	(void)state;
	reject("{\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":2,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":0,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":-1,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":\"1\",\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":1.0,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":true,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":null,\"cmd\":\"ports\"}", "v:");
	reject("{\"v\":1}", "cmd:");
	reject("{\"v\":1,\"cmd\":\"\"}", "cmd:");
	reject("{\"v\":1,\"cmd\":5}", "cmd:");
	reject("{\"v\":1,\"cmd\":null}", "cmd:");
	reject("{\"v\":1,\"cmd\":[\"ports\"]}", "cmd:");
	reject("{\"v\":1,\"cmd\":\"ports\",\"args\":[]}", "args:");
	reject("{\"v\":1,\"cmd\":\"ports\",\"args\":\"port=80\"}", "args:");
	reject("{\"v\":1,\"cmd\":\"ports\",\"args\":5}", "args:");
	reject("{\"v\":1,\"cmd\":\"ports\",\"args\":null}", "args:");
	reject("[1,2]", "request:");
	reject("[]", "request:");
	reject("", "malformed JSON");
	reject("{", "malformed JSON");
	reject("{\"v\":1,", "malformed JSON");
	reject("\"v\"", "malformed JSON");
	reject("42", "malformed JSON");
	reject("{\"v\":1,\"cmd\":\"a\"} {}", "malformed JSON");
	reject("{\"v\":1,\"cmd\":\"a\"\x01}", "malformed JSON");
	reject("{\"v\":1,\"cmd\":\"\xff\"}", "malformed JSON");
	/* duplicate keys: an ambiguous request is refused, whichever copy differs */
	reject("{\"v\":1,\"v\":1,\"cmd\":\"ports\"}", "malformed JSON");
	reject("{\"v\":1,\"cmd\":\"ports\",\"cmd\":\"release\"}", "malformed JSON");
	reject("{\"v\":1,\"cmd\":\"a\",\"args\":{\"port\":1,\"port\":2}}", "malformed JSON");
	{
		struct pw_request req;
		char err[256];

		assert_int_equal(parse("{\"v\":1,\"cmd\":\"a\",\"cmd\":\"a\"}", &req, err,
				       sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "duplicate"));
		assert_non_null(strstr(err, "cmd"));

		/* a small error buffer is filled, not overrun */
		memset(err, 'x', sizeof(err));
		assert_int_equal(parse("{\"v\":1}", &req, err, 5), -EINVAL);
		assert_string_equal(err, "cmd:");
		assert_int_equal(err[5], 'x');
	}
}

/* One line, ending in the only "\n". */
static void assert_one_line(const char *line)
{
	size_t n;

	assert_non_null(line);
	n = strlen(line);
	assert_true(n >= 2);
	assert_int_equal(line[n - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
}

static void test_request_line(void **state)
{
	struct pw_request req;
	char err[128], *line;

	(void)state;
	line = pw_proto_request("alloc", json_pack("{s:s, s:i}", "name", "a\nb\"c", "port", 9));
	assert_one_line(line);
	assert_int_equal(parse(line, &req, err, sizeof(err)), 0);	/* "\n" is whitespace */
	assert_string_equal(req.cmd, "alloc");
	assert_string_equal(json_string_value(json_object_get(req.args, "name")), "a\nb\"c");
	assert_int_equal(json_integer_value(json_object_get(req.args, "port")), 9);
	assert_int_equal(json_integer_value(json_object_get(req.root, "v")), PW_PROTO_VERSION);
	pw_request_done(&req);
	free(line);

	line = pw_proto_request("ports", NULL);
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_request(line, strlen(line) - 1, &req, err, sizeof(err)), 0);
	assert_string_equal(req.cmd, "ports");
	assert_int_equal(json_object_size(req.args), 0);
	pw_request_done(&req);
	free(line);
}

static void test_response_lines(void **state)
{
	json_t *res = NULL, *want;
	char msg[128], *line;

	(void)state;
	want = json_pack("{s:i, s:[s, s]}", "port", 3001, "tags", "x\ny", "z");
	line = pw_proto_ok(json_incref(want));
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)), 0);
	assert_true(json_equal(res, want));
	json_decref(res);
	json_decref(want);
	free(line);

	line = pw_proto_ok(NULL);
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)), 0);
	assert_true(json_is_null(res));
	json_decref(res);
	free(line);

	line = pw_proto_error(PW_E_NOT_FOUND, "port %u is not \"allocated\"\n", 8080);
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)), PW_E_NOT_FOUND);
	assert_string_equal(msg, "port 8080 is not \"allocated\"\n");
	free(line);

	/* every code survives the trip; "ok" as an error code is no success */
	for (int c = PW_E_OK; c < PW_E_MAX; c++) {
		line = pw_proto_error(c, "e%d", c);
		assert_one_line(line);
		assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)),
				 c == PW_E_OK ? PW_E_INTERNAL : c);
		free(line);
	}

	/* a message longer than the caller's buffer is cut, nothing overflows */
	line = pw_proto_error(PW_E_CONFLICT, "%s", "0123456789abcdef");
	assert_int_equal(pw_proto_parse_response(line, &res, msg, 6), PW_E_CONFLICT);
	assert_string_equal(msg, "01234");
	free(line);
}

/* Error text may quote client input or /proc data: never lose the response. */
static void test_error_not_utf8(void **state)
{
	char cmd[1201], msg[2048], *line;
	json_t *res = NULL;

	(void)state;
	line = pw_proto_error(PW_E_BAD_REQUEST, "comm \"%s\"", "a\xff\xc3z");
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)),
			 PW_E_BAD_REQUEST);
	assert_string_equal(msg, "comm \"a??z\"");
	free(line);

	/* valid UTF-8 cut in the middle of a character by the message limit */
	for (size_t i = 0; i + 2 < sizeof(cmd); i += 2)
		memcpy(cmd + i, "\xc3\xa9", 2);
	cmd[1200] = '\0';
	line = pw_proto_error(PW_E_BAD_REQUEST, "cmd: unknown command \"%s\"", cmd);
	assert_one_line(line);
	assert_int_equal(pw_proto_parse_response(line, &res, msg, sizeof(msg)),
			 PW_E_BAD_REQUEST);
	assert_int_equal(strncmp(msg, "cmd: unknown command \"", 22), 0);
	assert_int_equal(strlen(msg), 1023);	/* the whole message, cut only by its limit */
	free(line);
}

static void test_response_malformed(void **state)
{
	static const char *const bad[] = {
		"", "nope", "[]", "[true]", "{}", "{\"ok\":1}", "{\"ok\":\"true\"}",
		"{\"ok\":null}", "{\"ok\":true", "{\"v\":1,\"result\":3}",
	};
	json_t *res = NULL;
	char msg[64];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(pw_proto_parse_response(bad[i], &res, msg, sizeof(msg)), -EINVAL);
	assert_null(res);

	/* ok without a result: a null result, never a NULL one */
	assert_int_equal(pw_proto_parse_response("{\"ok\":true}", &res, msg, sizeof(msg)), 0);
	assert_true(json_is_null(res));
	json_decref(res);
	res = NULL;

	/* an error without details is still an error, never success */
	assert_int_equal(pw_proto_parse_response("{\"ok\":false}", &res, msg, sizeof(msg)),
			 PW_E_INTERNAL);
	assert_string_equal(msg, "unknown error");
	assert_int_equal(pw_proto_parse_response("{\"ok\":false,\"error\":{\"code\":\"bogus\","
						 "\"message\":\"m\"}}", &res, msg, sizeof(msg)),
			 PW_E_INTERNAL);
	assert_string_equal(msg, "m");
	assert_int_equal(pw_proto_parse_response("{\"ok\":false,\"error\":{\"code\":\"ok\"}}",
						 &res, msg, sizeof(msg)), PW_E_INTERNAL);
	assert_int_equal(pw_proto_parse_response("{\"ok\":false,\"error\":{\"code\":\"denied\"}}",
						 &res, msg, sizeof(msg)), PW_E_DENIED);
	assert_null(res);
}

static void test_errcodes(void **state)
{
	int exits[PW_E_MAX];

	(void)state;
	for (int c = 0; c < PW_E_MAX; c++) {
		const char *name = pw_errcode_name(c);

		assert_non_null(name);
		assert_true(name[0]);
		assert_int_equal(pw_errcode_parse(name), c);
		exits[c] = pw_errcode_exit(c);
		assert_true(exits[c] >= 0 && exits[c] < 126);
		for (int d = 0; d < c; d++) {
			assert_int_not_equal(exits[d], exits[c]);
			assert_string_not_equal(pw_errcode_name(d), name);
		}
	}
	/* the documented numbers, which scripts rely on */
	assert_int_equal(pw_errcode_exit(PW_E_OK), 0);
	assert_int_equal(pw_errcode_exit(PW_E_INTERNAL), 1);
	assert_int_equal(pw_errcode_exit(PW_E_USAGE), 2);
	assert_int_equal(pw_errcode_exit(PW_E_NO_DAEMON), 3);
	assert_int_equal(pw_errcode_exit(PW_E_NOT_FOUND), 6);
	assert_int_equal(pw_errcode_exit(PW_E_EXISTS), 12);
	assert_string_equal(pw_errcode_name(PW_E_NOT_FOUND), "not_found");
	assert_string_equal(pw_errcode_name(PW_E_MAX), "internal");
	assert_string_equal(pw_errcode_name((enum pw_errcode)-1), "internal");
	assert_int_equal(pw_errcode_exit(PW_E_MAX), 1);
	assert_int_equal(pw_errcode_parse("bogus"), PW_E_INTERNAL);
	assert_int_equal(pw_errcode_parse(""), PW_E_INTERNAL);
	assert_int_equal(pw_errcode_parse("NOT_FOUND"), PW_E_INTERNAL);
}

/* err names the key when r < 0 */
static void assert_arg_err(int r, const char *err, const char *key)
{
	char want[64];

	snprintf(want, sizeof(want), "args.%s:", key);
	if (r < 0 && strncmp(err, want, strlen(want)))
		fail_msg("error \"%s\" does not name %s", err, want);
}

static void test_args(void **state)
{
	/* absent or null: 0, value untouched; wrong type or range: -EINVAL, untouched */
	static const struct { const char *key; __u32 max; int ret; __u32 val; } u32s[] = {
		{ "zz", 10, 0, 77 }, { "n", 10, 0, 77 }, { "a", 10, 1, 5 }, { "a", 5, 1, 5 },
		{ "a", 4, -EINVAL, 77 }, { "max", UINT32_MAX, 1, UINT32_MAX },
		{ "big", UINT32_MAX, -EINVAL, 77 }, { "neg", 10, -EINVAL, 77 },
		{ "s", 10, -EINVAL, 77 }, { "r", 10, -EINVAL, 77 }, { "b", 10, -EINVAL, 77 },
	};
	static const struct { const char *key; int ret; __u64 val; } u64s[] = {
		{ "zz", 0, 77 }, { "n", 0, 77 }, { "big", 1, 4294967296ULL }, { "a", 1, 5 },
		{ "i64", 1, INT64_MAX }, { "neg", -EINVAL, 77 }, { "o", -EINVAL, 77 },
		{ "r", -EINVAL, 77 }, { "s", -EINVAL, 77 },
	};
	static const struct { const char *key; int ret; const char *val; } strs[] = {
		{ "zz", 0, "untouched" }, { "n", 0, "untouched" }, { "s", 1, "str" },
		{ "a", -EINVAL, "untouched" }, { "b", -EINVAL, "untouched" },
	};
	static const struct { const char *key; int ret; int val; } bools[] = {
		{ "zz", 0, 2 }, { "n", 0, 2 }, { "b", 1, 1 }, { "f", 1, 0 },
		{ "bs", -EINVAL, 2 }, { "a", -EINVAL, 2 }, { "n0", -EINVAL, 2 },
	};
	json_t *a = json_loads("{\"a\":5,\"neg\":-1,\"s\":\"str\",\"b\":true,\"f\":false,"
			       "\"n\":null,\"big\":4294967296,\"max\":4294967295,\"r\":1.5,"
			       "\"i64\":9223372036854775807,\"bs\":\"true\",\"o\":{},\"n0\":0}",
			       0, NULL);
	char err[64];

	(void)state;
	assert_non_null(a);
	for (size_t i = 0; i < ARRAY_SIZE(u32s); i++) {
		__u32 u = 77;
		int r = pw_args_u32(a, u32s[i].key, u32s[i].max, &u, err, sizeof(err));

		assert_int_equal(r, u32s[i].ret);
		assert_true(u == u32s[i].val);
		assert_arg_err(r, err, u32s[i].key);
	}
	assert_int_equal(pw_args_u32(a, "a", 4, &(__u32){ 0 }, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of range"));
	for (size_t i = 0; i < ARRAY_SIZE(u64s); i++) {
		__u64 q = 77;
		int r = pw_args_u64(a, u64s[i].key, &q, err, sizeof(err));

		assert_int_equal(r, u64s[i].ret);
		assert_true(q == u64s[i].val);
		assert_arg_err(r, err, u64s[i].key);
	}
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		const char *v = "untouched";
		int r = pw_args_str(a, strs[i].key, &v, err, sizeof(err));

		assert_int_equal(r, strs[i].ret);
		assert_string_equal(v, strs[i].val);
		assert_arg_err(r, err, strs[i].key);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
		bool b = true;
		int r = pw_args_bool(a, bools[i].key, &b, err, sizeof(err));

		assert_int_equal(r, bools[i].ret);
		assert_int_equal(b, bools[i].val == 2 ? true : bools[i].val);
		assert_arg_err(r, err, bools[i].key);
	}
	/* no args object at all */
	assert_int_equal(pw_args_u32(NULL, "a", 10, &(__u32){ 0 }, err, sizeof(err)), 0);
	json_decref(a);
}

static void test_names_and_addr(void **state)
{
	__u8 a[16] = { 0 };
	char buf[INET6_ADDRSTRLEN];

	(void)state;
	assert_string_equal(pw_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(pw_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(pw_proto_name(IPPROTO_SCTP), "other");
	assert_string_equal(pw_family_name(AF_INET), "ipv4");
	assert_string_equal(pw_family_name(AF_INET6), "ipv6");
	assert_string_equal(pw_family_name(AF_UNIX), "other");
	assert_string_equal(pw_event_kind_name(PW_EV_BIND), "bind");
	assert_string_equal(pw_event_kind_name(PW_EV_CLOSE), "close");
	assert_string_equal(pw_event_kind_name(PW_EV_LISTEN), "listen");
	assert_string_equal(pw_event_kind_name(PW_EV_UNLISTEN), "unlisten");
	assert_string_equal(pw_event_kind_name(PW_EV_EXIT), "exit");
	assert_string_equal(pw_event_kind_name(0), "unknown");
	assert_string_equal(pw_event_kind_name(PW_EV_KIND_MAX), "unknown");
	assert_string_equal(pw_event_kind_name(255), "unknown");
	assert_string_equal(pw_sock_state_name(PW_SOCK_BOUND), "bound");
	assert_string_equal(pw_sock_state_name(PW_SOCK_LISTENING), "listening");

	assert_string_equal(pw_addr_str(AF_INET, a, buf, sizeof(buf)), "0.0.0.0");
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, sizeof(buf)), "::");
	memcpy(a, (__u8[]){ 127, 0, 0, 1 }, 4);
	a[15] = 0x99;	/* beyond the IPv4 address: ignored */
	assert_string_equal(pw_addr_str(AF_INET, a, buf, sizeof(buf)), "127.0.0.1");
	memset(a, 0xff, 4);
	assert_string_equal(pw_addr_str(AF_INET, a, buf, sizeof(buf)), "255.255.255.255");
	memcpy(a, (__u8[]){ 10, 100, 9, 200 }, 4);	/* one, two and three digits */
	assert_string_equal(pw_addr_str(AF_INET, a, buf, sizeof(buf)), "10.100.9.200");
	memset(a, 0, 16);
	a[15] = 1;
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, sizeof(buf)), "::1");
	memcpy(a, (__u8[]){ 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83,
			    0x29 }, 16);
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, sizeof(buf)), "2001:db8::ff00:42:8329");
	memcpy(a, (__u8[]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 }, 16);
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, sizeof(buf)), "::ffff:10.0.0.1");
	memset(a, 0xff, 16);
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, sizeof(buf)),
			    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* too small a buffer: a marker, never an overflow */
	assert_string_equal(pw_addr_str(AF_INET6, a, buf, 8), "?");
}

static void test_comm_sanitize(void **state)
{
	char in[PW_COMM_LEN], out[PW_COMM_LEN + 1];

	(void)state;
	pw_comm_sanitize("nginx", out);
	assert_string_equal(out, "nginx");
	pw_comm_sanitize("", out);
	assert_string_equal(out, "");
	pw_comm_sanitize("\xc3\xa9t\x01\x7f\x80~ \x1f", out);
	assert_string_equal(out, "??t???~ ?");
	memset(in, 'a', sizeof(in));	/* all 16 bytes used, no NUL */
	pw_comm_sanitize(in, out);
	assert_int_equal(strlen(out), PW_COMM_LEN);

	/* whatever the bytes, the result is printable ASCII and a valid JSON string */
	for (int c = 1; c < 256; c++) {
		json_t *j;

		memset(in, c, sizeof(in));
		in[c % PW_COMM_LEN] = (char)(255 - c);
		pw_comm_sanitize(in, out);
		for (size_t i = 0; out[i]; i++)
			assert_true(out[i] >= 0x20 && out[i] < 0x7f);
		j = json_string(out);
		assert_non_null(j);
		json_decref(j);
	}
}

/* pw_raw_comm: the sanitized comm as a JSON string, in one pass; the same
 * text as sanitizing, then escaping, for every byte in every position. */
static void test_raw_comm(void **state)
{
	char in[PW_COMM_LEN], out[PW_COMM_LEN + 1], got[2 * PW_COMM_LEN + 3];
	struct pw_strbuf want = { 0 };

	(void)state;
	for (int c = 0; c < 256; c++) {
		for (int at = 0; at < PW_COMM_LEN; at++) {
			char *end;

			memset(in, 'a' + at % 26, sizeof(in));
			in[at] = (char)c;
			if (at % 3 == 0)
				in[(at + 5) % PW_COMM_LEN] = c % 2 ? '"' : '\\';
			if (at == 7)
				in[12] = '\0';	/* shorter than the field */
			pw_comm_sanitize(in, out);
			want.len = 0;
			pw_sb_json_str(&want, out);
			end = pw_raw_comm(got, in);
			assert_true((size_t)(end - got) <= 2 * PW_COMM_LEN + 2);
			assert_int_equal((size_t)(end - got), want.len);
			assert_memory_equal(got, want.buf, want.len);
		}
	}
	free(want.buf);
}

static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), n);
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(o, keys[i]))
			fail_msg("key %s missing", keys[i]);
}

#define INT_OF(o, k) json_integer_value(json_object_get(o, k))
#define STR_OF(o, k) json_string_value(json_object_get(o, k))

static void test_event_json(void **state)
{
	static const char *const sock_keys[] = { "event", "ts_ns", "proto", "family", "addr",
		"port", "state", "pid", "comm", "uid", "netns", "cookie" };
	static const char *const exit_keys[] = { "event", "ts_ns", "pid", "comm", "uid",
		"exit_code" };
	static const struct { __u8 kind; const char *name; } kinds[] = {
		{ PW_EV_CLOSE, "close" }, { PW_EV_LISTEN, "listen" },
		{ PW_EV_UNLISTEN, "unlisten" },
	};
	struct pw_event ev = { .kind = PW_EV_BIND, .ts_ns = 123456789012345ULL, .cookie = 4097,
		.netns = 4026531840ULL, .pid = 4194304, .uid = 65534, .port = 65535,
		.proto = IPPROTO_UDP, .family = AF_INET6, .state = PW_SOCK_LISTENING,
		.addr = { [15] = 1 } };
	json_t *o;
	char *dump;

	(void)state;
	memcpy(ev.comm, "py\xe2\x9c\x93thon\nxxxxxxxxx", PW_COMM_LEN);	/* no NUL */
	o = pw_proto_event_json(&ev);
	assert_keys(o, sock_keys, ARRAY_SIZE(sock_keys));
	assert_string_equal(STR_OF(o, "event"), "bind");
	assert_true(INT_OF(o, "ts_ns") == 123456789012345LL);
	assert_string_equal(STR_OF(o, "proto"), "udp");
	assert_string_equal(STR_OF(o, "family"), "ipv6");
	assert_string_equal(STR_OF(o, "addr"), "::1");
	assert_int_equal(INT_OF(o, "port"), 65535);
	assert_string_equal(STR_OF(o, "state"), "listening");
	assert_int_equal(INT_OF(o, "pid"), 4194304);
	assert_string_equal(STR_OF(o, "comm"), "py???thon?xxxxxx");
	assert_int_equal(INT_OF(o, "uid"), 65534);
	assert_true(INT_OF(o, "netns") == 4026531840LL);
	assert_int_equal(INT_OF(o, "cookie"), 4097);
	dump = json_dumps(o, JSON_COMPACT);
	assert_non_null(dump);
	assert_null(strchr(dump, '\n'));
	free(dump);
	json_decref(o);

	ev.proto = IPPROTO_TCP;
	ev.family = AF_INET;
	memcpy(ev.addr, (__u8[]){ 10, 1, 2, 3 }, 4);
	ev.state = PW_SOCK_BOUND;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		ev.kind = kinds[i].kind;
		o = pw_proto_event_json(&ev);
		assert_keys(o, sock_keys, ARRAY_SIZE(sock_keys));
		assert_string_equal(STR_OF(o, "event"), kinds[i].name);
		assert_string_equal(STR_OF(o, "proto"), "tcp");
		assert_string_equal(STR_OF(o, "family"), "ipv4");
		assert_string_equal(STR_OF(o, "addr"), "10.1.2.3");
		assert_string_equal(STR_OF(o, "state"), "bound");
		json_decref(o);
	}

	ev = (struct pw_event){ .kind = PW_EV_EXIT, .ts_ns = 99, .pid = 31337, .uid = 0,
				.exit_code = -9, .comm = "worker", .cookie = 5, .port = 80 };
	o = pw_proto_event_json(&ev);
	assert_keys(o, exit_keys, ARRAY_SIZE(exit_keys));
	assert_string_equal(STR_OF(o, "event"), "exit");
	assert_int_equal(INT_OF(o, "ts_ns"), 99);
	assert_int_equal(INT_OF(o, "pid"), 31337);
	assert_string_equal(STR_OF(o, "comm"), "worker");
	assert_int_equal(INT_OF(o, "uid"), 0);
	assert_int_equal(INT_OF(o, "exit_code"), -9);
	json_decref(o);
	ev.exit_code = 256;	/* exit(1) as task->exit_code */
	o = pw_proto_event_json(&ev);
	assert_int_equal(INT_OF(o, "exit_code"), 256);
	assert_null(json_object_get(o, "heir"));
	json_decref(o);
	ev.heir = 31338;	/* a child it left alive */
	o = pw_proto_event_json(&ev);
	assert_int_equal(INT_OF(o, "heir"), 31338);
	assert_int_equal(INT_OF(o, "exit_code"), 256);
	json_decref(o);
}

/* The listing's integer appends agree with printf at the edges. */
static void test_sb_numbers(void **state)
{
	const long long sv[] = { 0, 1, -1, 9, 10, -10, 4294967295LL, INT64_MAX, INT64_MIN };
	/* the 32-bit path's edges and the 64-bit one's: 99/100, 2^32 - 1/2^32 */
	const unsigned long long uv[] = { 0, 7, 99, 100, 65535, 4294967295ULL, 4294967296ULL,
					  10000000000ULL, 18446744073709551615ULL };
	char want[32];

	(void) state;
	for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
		struct pw_strbuf sb = { 0 };

		pw_sb_i64(&sb, sv[i]);
		snprintf(want, sizeof(want), "%lld", sv[i]);
		assert_string_equal(sb.buf, want);
		free(sb.buf);
	}
	for (size_t i = 0; i < sizeof(uv) / sizeof(uv[0]); i++) {
		struct pw_strbuf sb = { 0 };

		pw_sb_lit(&sb, "n=");
		pw_sb_u64(&sb, uv[i]);
		snprintf(want, sizeof(want), "n=%llu", uv[i]);
		assert_string_equal(sb.buf, want);
		assert_int_equal(sb.len, strlen(want));
		free(sb.buf);
	}
	/* each side of every power of ten: the digit count's edges */
	for (unsigned long long p10 = 10; p10 <= 10000000000000000000ULL; p10 *= 10) {
		for (unsigned long long v = p10 - 1; v <= p10; v++) {
			struct pw_strbuf sb = { 0 };

			pw_sb_u64(&sb, v);
			snprintf(want, sizeof(want), "%llu", v);
			assert_string_equal(sb.buf, want);
			free(sb.buf);
		}
		if (p10 == 10000000000000000000ULL)
			break;
	}
	/* many in a row, across the buffer's growth: each ends where the next starts */
	{
		struct pw_strbuf sb = { 0 };
		size_t len = 0;

		for (unsigned long long v = 0; v < 3000; v++) {
			pw_sb_u64(&sb, v * 1000003ULL);
			pw_sb_lit(&sb, ",");
			len += (size_t)snprintf(want, sizeof(want), "%llu,", v * 1000003ULL);
		}
		assert_int_equal(sb.len, len);
		assert_int_equal(strlen(sb.buf), len);
		assert_memory_equal(sb.buf + len - strlen(want), want, strlen(want));
		free(sb.buf);
	}
}

/*
 * A listing's memo (the last address and namespace as text) changes nothing
 * in what is written: 2,000 sockets that share, then change, address,
 * family and namespace, each written with the memo and alone; and the memo
 * says where the pid and comm went.
 */
static void test_sock_memo(void **state)
{
	struct pw_strbuf with = { 0 }, alone = { 0 };
	struct pw_sock_memo m = { .have_netns = false };
	char want[64];

	(void) state;
	for (int i = 0; i < 2000; i++) {
		struct pw_event ev = { .kind = PW_EV_BIND };

		ev.cookie = 1000000007ull * (unsigned)i;
		ev.netns = (i / 7) % 3 ? 4026531840ull : 4026532000ull + (unsigned)(i % 2);
		ev.pid = (unsigned)(i % 9 ? 100 + i : 0);
		ev.uid = (unsigned)i;
		ev.proto = i % 3 ? IPPROTO_TCP : IPPROTO_UDP;
		ev.family = (i / 5) % 4 == 3 ? AF_INET6 : AF_INET;
		ev.state = (__u8)(1 + i % 2);
		ev.port = (__u16)i;
		if ((i / 3) % 5) {
			ev.addr[0] = 127;
			ev.addr[3] = (__u8)(1 + (i / 50) % 2);
		}
		if (ev.family == AF_INET6)
			ev.addr[15] = 1;
		snprintf(ev.comm, sizeof(ev.comm), "c%d\"\\", i % 4);
		pw_proto_write_sock_memo(&with, &ev, &m);
		snprintf(want, sizeof(want), "%u", ev.pid);
		assert_int_equal(m.pid_len, strlen(want));
		assert_memory_equal(with.buf + m.pid_off, want, m.pid_len);
		snprintf(want, sizeof(want), "\"c%d\\\"\\\\\"", i % 4);
		assert_int_equal(m.comm_len, strlen(want));
		assert_memory_equal(with.buf + m.comm_off, want, m.comm_len);
		pw_sb_lit(&with, "\n");
		pw_proto_write_sock(&alone, &ev);
		pw_sb_lit(&alone, "\n");
	}
	assert_int_equal(with.len, alone.len);
	assert_memory_equal(with.buf, alone.buf, alone.len);
	free(with.buf);
	free(alone.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sb_numbers),
		cmocka_unit_test(test_sock_memo),
		cmocka_unit_test(test_raw_comm),
		cmocka_unit_test(test_request_valid),
		cmocka_unit_test(test_request_invalid),
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_response_lines),
		cmocka_unit_test(test_error_not_utf8),
		cmocka_unit_test(test_response_malformed),
		cmocka_unit_test(test_errcodes),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_names_and_addr),
		cmocka_unit_test(test_comm_sanitize),
		cmocka_unit_test(test_event_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
