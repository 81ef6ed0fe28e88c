// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the control protocol decoder (user/proto.c).
 *
 * The input is what a client writes to the control socket. It is cut into
 * lines the way server.c's handle_lines() does (split on '\n', one trailing
 * '\r' dropped, empty lines skipped, nothing longer than PW_PROTO_MAX_LINE),
 * and each line goes through pw_proto_parse_request(), as the daemon sees it,
 * and pw_proto_parse_response(), as the CLI sees a line from the daemon.
 *
 * Besides the sanitizers, it checks the contracts the callers rely on:
 *   - a failed parse leaves a NUL-terminated, non-empty message, and the
 *     daemon can always turn it into an error response (pw_proto_error()
 *     returning NULL makes server.c drop the client without an answer);
 *   - a parsed request has a non-empty cmd and an object for args, and the
 *     pw_args_*() readers return 0 (value untouched), 1 or -EINVAL (message);
 *   - what the encoders write, the decoders read back unchanged.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "proto.h"

/* Same size as the buffers in server.c (handle_lines) and the CLI. */
#define ERR_LEN 256

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
				__LINE__, #cond);				\
			abort();						\
		}								\
	} while (0)

static void check_msg(const char *buf, size_t len)
{
	CHECK(memchr(buf, '\0', len));
	CHECK(buf[0] != '\0');
}

/*
 * The message as pw_proto_error() sends it: unchanged when it is valid UTF-8,
 * else with every non-ASCII byte replaced by '?'. Static buffer.
 */
static const char *expected_msg(const char *msg)
{
	static char buf[ERR_LEN];
	json_t *s = json_string(msg);

	if (s) {
		json_decref(s);
		return msg;
	}
	snprintf(buf, sizeof(buf), "%s", msg);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return buf;
}

/*
 * A line the daemon sends must decode back to what was encoded; @line is
 * freed. @code is PW_E_OK for pw_proto_ok() lines, @want the result or the
 * message.
 */
static void check_reply(char *line, enum pw_errcode code, json_t *want, const char *want_msg)
{
	char msg[ERR_LEN];
	json_t *result = NULL;
	size_t n;
	int r;

	/* Only out of memory or invalid UTF-8 in the message make these fail. */
	CHECK(line);
	n = strlen(line);
	CHECK(n && line[n - 1] == '\n');
	CHECK(!memchr(line, '\n', n - 1));
	memset(msg, 'X', sizeof(msg));
	r = pw_proto_parse_response(line, &result, msg, sizeof(msg));
	if (code == PW_E_OK) {
		CHECK(r == 0);
		CHECK(result);
		CHECK(json_equal(result, want));
		json_decref(result);
	} else {
		CHECK(r == (int)code);
		CHECK(!result);
		CHECK(memchr(msg, '\0', sizeof(msg)));
		/* pw_proto_error() truncates at 1023 bytes, msg holds 255 */
		if (want_msg && strlen(want_msg) < sizeof(msg))
			CHECK(!strcmp(msg, expected_msg(want_msg)));
	}
	free(line);
}

/* Each typed reader on one key, with the range limits the commands use. */
static void args_on_key(json_t *args, const char *key)
{
	static const __u32 u32_max[] = { 65535, 100000, INT32_MAX, UINT32_MAX };
	char err[ERR_LEN];
	const char *s;
	__u64 u64;
	__u32 u32;
	bool b;
	int r;

	for (size_t i = 0; i < sizeof(u32_max) / sizeof(u32_max[0]); i++) {
		u32 = 0xdeadbeef;
		memset(err, 'X', sizeof(err));
		r = pw_args_u32(args, key, u32_max[i], &u32, err, sizeof(err));
		CHECK(r == 0 || r == 1 || r == -EINVAL);
		if (r == 0)
			CHECK(u32 == 0xdeadbeef);
		else if (r == 1)
			CHECK(u32 <= u32_max[i]);
		else
			check_msg(err, sizeof(err));
	}

	u64 = 0xdeadbeefcafeULL;
	memset(err, 'X', sizeof(err));
	r = pw_args_u64(args, key, &u64, err, sizeof(err));
	CHECK(r == 0 || r == 1 || r == -EINVAL);
	if (r == 0)
		CHECK(u64 == 0xdeadbeefcafeULL);
	else if (r == 1)
		CHECK(u64 == (__u64)json_integer_value(json_object_get(args, key)));
	else
		check_msg(err, sizeof(err));

	s = (const char *)&u64;
	memset(err, 'X', sizeof(err));
	r = pw_args_str(args, key, &s, err, sizeof(err));
	CHECK(r == 0 || r == 1 || r == -EINVAL);
	if (r == 0)
		CHECK(s == (const char *)&u64);
	else if (r == 1)
		CHECK(s && strlen(s) == json_string_length(json_object_get(args, key)));
	else
		check_msg(err, sizeof(err));

	memset(&b, 0x55, sizeof(b));
	memset(err, 'X', sizeof(err));
	r = pw_args_bool(args, key, &b, err, sizeof(err));
	CHECK(r == 0 || r == 1 || r == -EINVAL);
	if (r == 0) {
		bool untouched;

		memset(&untouched, 0x55, sizeof(untouched));
		CHECK(!memcmp(&b, &untouched, sizeof(b)));
	} else if (r == 1) {
		CHECK(b == json_is_true(json_object_get(args, key)));
	} else {
		check_msg(err, sizeof(err));
	}
}

static void exercise_request(const struct pw_request *req)
{
	/* The keys the commands read (cmd_*.c), whether present or not. */
	static const char *const keys[] = {
		"port", "pid", "id", "limit", "after_id", "netns", "service_type", "name",
		"project", "proto", "listening", "exclusive", "pid_is_parent", "",
	};
	const char *key;
	json_t *v;

	CHECK(req->root && json_is_object(req->root));
	CHECK(req->cmd && req->cmd[0]);
	CHECK(req->args && json_is_object(req->args));
	CHECK(json_object_get(req->root, "args") == req->args);

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		args_on_key(req->args, keys[i]);
	json_object_foreach(req->args, key, v)
		args_on_key(req->args, key);

	/* What the daemon answers to a command it does not know. */
	check_reply(pw_proto_error(PW_E_BAD_REQUEST, "cmd: unknown command \"%s\"", req->cmd),
		    PW_E_BAD_REQUEST, NULL, NULL);
	/* Any args echoed back as a result. */
	check_reply(pw_proto_ok(json_deep_copy(req->args)), PW_E_OK, req->args, NULL);
}

/* The CLI's request encoder, fed back to the daemon's decoder. */
static void roundtrip_request(const struct pw_request *req)
{
	char *line = pw_proto_request(req->cmd, json_deep_copy(req->args));
	struct pw_request again;
	char err[ERR_LEN];
	size_t n;

	CHECK(line);
	n = strlen(line);
	CHECK(n && line[n - 1] == '\n');
	CHECK(!memchr(line, '\n', n - 1));
	CHECK(pw_proto_parse_request(line, n - 1, &again, err, sizeof(err)) == 0);
	CHECK(!strcmp(again.cmd, req->cmd));
	CHECK(json_equal(again.args, req->args));
	pw_request_done(&again);
	CHECK(!again.root && !again.cmd && !again.args);
	free(line);
}

static void one_request(const char *line, size_t len)
{
	struct pw_request req;
	char err[ERR_LEN];
	int r;

	memset(err, 'X', sizeof(err));
	r = pw_proto_parse_request(line, len, &req, err, sizeof(err));
	CHECK(r == 0 || r == -EINVAL);
	if (r) {
		CHECK(!req.root && !req.cmd && !req.args);
		check_msg(err, sizeof(err));
		/* server.c sends exactly this; NULL would drop the client unanswered */
		check_reply(pw_proto_error(PW_E_BAD_REQUEST, "%s", err), PW_E_BAD_REQUEST, NULL,
			    err);
		return;
	}
	exercise_request(&req);
	roundtrip_request(&req);
	pw_request_done(&req);
	CHECK(!req.root && !req.cmd && !req.args);
}

/* The CLI reads a response up to its newline, which it replaces with a NUL. */
static void one_response(const char *line, size_t len)
{
	char *s = malloc(len + 1);
	json_t *result = NULL;
	char msg[ERR_LEN];
	int r;

	CHECK(s);
	memcpy(s, line, len);
	s[len] = '\0';
	memset(msg, 'X', sizeof(msg));
	r = pw_proto_parse_response(s, &result, msg, sizeof(msg));
	if (r == 0) {
		CHECK(result);
		json_decref(result);
	} else if (r > 0) {
		CHECK(r < PW_E_MAX);
		CHECK(!result);
		CHECK(memchr(msg, '\0', sizeof(msg)));
		/* Re-encoded with its code (when msg was not cut short), it reads back. */
		if (strlen(msg) < sizeof(msg) - 1)
			check_reply(pw_proto_error(r, "%s", msg), r, NULL, msg);
	} else {
		CHECK(r == -EINVAL);
		CHECK(!result);
	}
	free(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	/* jansson seeds its hash from /dev/urandom: keep runs reproducible */
	json_object_seed(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t start = 0;

	while (start < size) {
		const char *nl = memchr(buf + start, '\n', size - start);
		size_t len = (nl ? (size_t)(nl - buf) : size) - start;
		size_t rlen = len;

		if (rlen && buf[start + rlen - 1] == '\r')
			rlen--;
		/*
		 * The daemon parses only complete lines and drops a client whose
		 * line outgrows the limit; a trailing fragment still goes to the
		 * response decoder, as the last line of a CLI's read.
		 */
		if (nl && rlen && rlen <= PW_PROTO_MAX_LINE)
			one_request(buf + start, rlen);
		if (len <= PW_PROTO_MAX_LINE)
			one_response(buf + start, len);
		start += len + 1;
	}
	return 0;
}
