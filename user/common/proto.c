// SPDX-License-Identifier: GPL-2.0
/* Control protocol encoding and decoding (jansson). No I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"
#include "strbuf.h"

static const char *const errcode_names[PW_E_MAX] = {
	[PW_E_OK] = "ok",
	[PW_E_INTERNAL] = "internal",
	[PW_E_USAGE] = "usage",
	[PW_E_NO_DAEMON] = "no_daemon",
	[PW_E_BAD_REQUEST] = "bad_request",
	[PW_E_DENIED] = "denied",
	[PW_E_NOT_FOUND] = "not_found",
	[PW_E_UNKNOWN_TYPE] = "unknown_service_type",
	[PW_E_EXHAUSTED] = "exhausted",
	[PW_E_INVALID_PORT] = "invalid_port",
	[PW_E_CONFLICT] = "conflict",
	[PW_E_STORAGE] = "storage",
	[PW_E_EXISTS] = "exists",
};

const char *pw_errcode_name(enum pw_errcode c)
{
	return (unsigned)c < PW_E_MAX ? errcode_names[c] : "internal";
}

enum pw_errcode pw_errcode_parse(const char *name)
{
	for (int i = 0; i < PW_E_MAX; i++)
		if (!strcmp(name, errcode_names[i]))
			return i;
	return PW_E_INTERNAL;
}

int pw_errcode_exit(enum pw_errcode c)
{
	/* the enum order is the exit code order */
	return (unsigned)c < PW_E_MAX ? (int)c : 1;
}

int pw_proto_parse_request(const char *line, size_t len, struct pw_request *req,
			   char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v, *cmd, *args;

	memset(req, 0, sizeof(*req));
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "malformed JSON at column %d: %s", jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "request: expected a JSON object");
		goto fail;
	}
	v = json_object_get(root, "v");
	if (!v) {
		snprintf(err, errlen, "v: missing protocol version (this daemon speaks %d)",
			 PW_PROTO_VERSION);
		goto fail;
	}
	if (!json_is_integer(v) || json_integer_value(v) != PW_PROTO_VERSION) {
		snprintf(err, errlen, "v: unsupported protocol version (this daemon speaks %d)",
			 PW_PROTO_VERSION);
		goto fail;
	}
	cmd = json_object_get(root, "cmd");
	if (!json_is_string(cmd) || !json_string_length(cmd)) {
		snprintf(err, errlen, "cmd: expected a non-empty string");
		goto fail;
	}
	args = json_object_get(root, "args");
	if (args && !json_is_object(args)) {
		snprintf(err, errlen, "args: expected an object");
		goto fail;
	}
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(root, "args", args)) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	req->root = root;
	req->cmd = json_string_value(cmd);
	req->args = args;
	return 0;
fail:
	json_decref(root);
	return -EINVAL;
}

void pw_request_done(struct pw_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

static char *dump_line(json_t *obj)
{
	char *s, *line;
	size_t n;

	if (!obj)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *pw_proto_request(const char *cmd, json_t *args)
{
	return dump_line(json_pack("{s:i, s:s, s:o}", "v", PW_PROTO_VERSION, "cmd", cmd, "args",
				   args ? args : json_object()));
}

char *pw_proto_ok(json_t *result)
{
	return dump_line(json_pack("{s:i, s:b, s:o}", "v", PW_PROTO_VERSION, "ok", 1, "result",
				   result ? result : json_null()));
}

char *pw_proto_error(enum pw_errcode code, const char *fmt, ...)
{
	char msg[1024];
	json_t *m;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * msg may quote client or /proc text, and vsnprintf may cut a multibyte
	 * character: jansson refuses invalid UTF-8, and a NULL line would drop
	 * the client without telling it why. Fall back to ASCII.
	 */
	m = json_string(msg);
	if (!m) {
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		m = json_string(msg);
	}
	return dump_line(json_pack("{s:i, s:b, s:{s:s, s:o}}", "v", PW_PROTO_VERSION, "ok", 0,
				   "error", "code", pw_errcode_name(code), "message", m));
}

int pw_proto_parse_response(const char *line, json_t **result, char *msg, size_t msglen)
{
	json_t *root, *ok, *e;
	int ret = -EINVAL;

	root = json_loads(line, 0, NULL);
	if (!json_is_object(root))
		goto out;
	ok = json_object_get(root, "ok");
	if (json_is_true(ok)) {
		*result = json_incref(json_object_get(root, "result"));
		if (!*result)
			*result = json_null();
		ret = 0;
	} else if (json_is_false(ok)) {
		const char *code, *m;

		e = json_object_get(root, "error");
		code = json_string_value(json_object_get(e, "code"));
		m = json_string_value(json_object_get(e, "message"));
		snprintf(msg, msglen, "%s", m ? m : "unknown error");
		ret = code ? (int)pw_errcode_parse(code) : PW_E_INTERNAL;
		if (ret == PW_E_OK)
			ret = PW_E_INTERNAL;
	}
out:
	json_decref(root);
	return ret;
}

int pw_args_u64(json_t *args, const char *key, __u64 *val, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "args.%s: expected a non-negative integer", key);
		return -EINVAL;
	}
	*val = (__u64)json_integer_value(v);
	return 1;
}

int pw_args_u32(json_t *args, const char *key, __u32 max, __u32 *val, char *err, size_t errlen)
{
	__u64 v;
	int r = pw_args_u64(args, key, &v, err, errlen);

	if (r <= 0)
		return r;
	if (v > max) {
		snprintf(err, errlen, "args.%s: %llu is out of range (0-%u)", key,
			 (unsigned long long)v, max);
		return -EINVAL;
	}
	*val = (__u32)v;
	return 1;
}

int pw_args_str(json_t *args, const char *key, const char **val, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "args.%s: expected a string", key);
		return -EINVAL;
	}
	*val = json_string_value(v);
	return 1;
}

int pw_args_bool(json_t *args, const char *key, bool *val, char *err, size_t errlen)
{
	json_t *v = json_object_get(args, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "args.%s: expected true or false", key);
		return -EINVAL;
	}
	*val = json_is_true(v);
	return 1;
}

const char *pw_proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "other";
}

const char *pw_family_name(__u8 family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "other";
}

const char *pw_event_kind_name(__u8 kind)
{
	static const char *const names[PW_EV_KIND_MAX] = {
		[PW_EV_BIND] = "bind",
		[PW_EV_CLOSE] = "close",
		[PW_EV_LISTEN] = "listen",
		[PW_EV_UNLISTEN] = "unlisten",
		[PW_EV_EXIT] = "exit",
	};

	return kind < PW_EV_KIND_MAX && names[kind] ? names[kind] : "unknown";
}

const char *pw_sock_state_name(__u8 state)
{
	return state == PW_SOCK_LISTENING ? "listening" : "bound";
}

const char *pw_addr_str(__u8 family, const __u8 addr[16], char *buf, size_t len)
{
	/* IPv4 by hand: inet_ntop formats each octet through sprintf, once per
	 * socket of a listing */
	if (family != AF_INET6 && len >= INET_ADDRSTRLEN) {
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			unsigned o = addr[i];

			if (i)
				*p++ = '.';
			if (o >= 100)
				*p++ = (char)('0' + o / 100);
			if (o >= 10)
				*p++ = (char)('0' + o / 10 % 10);
			*p++ = (char)('0' + o % 10);
		}
		*p = '\0';
		return buf;
	}
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* A comm byte as shown: comm is whatever the process set, and JSON wants
 * valid UTF-8, so printable ASCII only. */
static inline char comm_byte(char c)
{
	return c >= 0x20 && c < 0x7f ? c : '?';
}

void pw_comm_sanitize(const char *comm, char out[PW_COMM_LEN + 1])
{
	size_t i;

	for (i = 0; i < PW_COMM_LEN && comm[i]; i++)
		out[i] = comm_byte(comm[i]);
	out[i] = '\0';
}

#define BYTES_01 0x0101010101010101ULL
#define BYTES_80 0x8080808080808080ULL

/* A mark (0x80) on every byte of x that is a NUL, a control, '"', '\\' or
 * not ASCII, and none below the first such byte (the borrows of the
 * subtractions only reach bytes above a true one). */
static inline uint64_t comm_special(uint64_t x)
{
	uint64_t q = x ^ (BYTES_01 * '"'), b = x ^ (BYTES_01 * '\\'), d = x ^ (BYTES_01 * 0x7f);

	return (((x - BYTES_01 * 0x20) & ~x) | x | ((q - BYTES_01) & ~q) |
		((b - BYTES_01) & ~b) | ((d - BYTES_01) & ~d)) & BYTES_80;
}

char *pw_raw_comm(char *p, const char *comm)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* most comms are plain: the first special byte ends them (the NUL, or
	 * none at all), and 16 bytes are copied as they are */
	uint64_t w[2], m;
	unsigned k;

	memcpy(w, comm, sizeof(w));
	m = comm_special(w[0]);
	k = m ? (unsigned)__builtin_ctzll(m) / 8 : (m = comm_special(w[1])) ?
		8 + (unsigned)__builtin_ctzll(m) / 8 : PW_COMM_LEN;
	if (k == PW_COMM_LEN || comm[k] == '\0') {
		*p = '"';
		memcpy(p + 1, comm, PW_COMM_LEN);
		p[k + 1] = '"';
		return p + k + 2;
	}
#endif
	/* pw_comm_sanitize() and the JSON escapes in one pass */
	*p++ = '"';
	for (size_t i = 0; i < PW_COMM_LEN && comm[i]; i++) {
		char c = comm_byte(comm[i]);

		if (c == '"' || c == '\\')
			*p++ = '\\';
		*p++ = c;
	}
	*p++ = '"';
	return p;
}

/* Keys and names (about 110 bytes), the address, six numbers of at most
 * 20 digits, a comm of at most 15 bytes escaped, and the slack of the fixed
 * size copies below: a bound with room to spare. */
#define SOCK_MAX 512

/* The row's head, "proto":"udp","family":"ipv4","addr":"127.0.0.1","port":
 * in h, which is then the memo of ev's address. */
static void memo_head(const struct pw_event *ev, struct pw_sock_memo_head *h)
{
	char addr[INET6_ADDRSTRLEN + 8];
	char *p = h->txt;

	pw_addr_str(ev->family, ev->addr, addr, sizeof(addr));
	p = pw_raw_lit(p, "\"proto\":\"");
	p = pw_raw_str(p, pw_proto_name(ev->proto));
	p = pw_raw_lit(p, "\",\"family\":\"");
	p = pw_raw_str(p, pw_family_name(ev->family));
	p = pw_raw_lit(p, "\",\"addr\":\"");
	p = pw_raw_str(p, addr);
	p = pw_raw_lit(p, "\",\"port\":");
	h->len = (__u8)(p - h->txt);
	h->family = ev->family;
	memcpy(h->addr, ev->addr, 16);
	h->have = true;
}

void pw_proto_write_sock_memo(struct pw_strbuf *sb, const struct pw_event *ev,
			      struct pw_sock_memo *m)
{
	struct pw_sock_memo_head *h =
		&m->head[ev->proto == IPPROTO_TCP ? 0 : ev->proto == IPPROTO_UDP ? 1 : 2];
	char *p, *t;

	/* once per socket of a listing: one reservation, then a cursor */
	p = pw_sb_room(sb, SOCK_MAX);
	if (!p)
		return;
	if (!h->have || h->family != ev->family || memcmp(h->addr, ev->addr, 16))
		memo_head(ev, h);
	/* the memo's whole buffers: a copy of constant size, not a loop */
	p = pw_raw_put_upto(p, h->txt, h->len, sizeof(h->txt));
	p = pw_raw_u64(p, ev->port);
	if (ev->state == PW_SOCK_LISTENING)
		p = pw_raw_lit(p, ",\"state\":\"listening\",\"pid\":");
	else
		p = pw_raw_lit(p, ",\"state\":\"bound\",\"pid\":");
	t = p;
	p = pw_raw_u64(p, ev->pid);
	m->pid_off = (size_t)(t - sb->buf);
	m->pid_len = (size_t)(p - t);
	p = pw_raw_lit(p, ",\"comm\":");
	t = p;
	p = pw_raw_comm(p, ev->comm);
	m->comm_off = (size_t)(t - sb->buf);
	m->comm_len = (size_t)(p - t);
	p = pw_raw_lit(p, ",\"uid\":");
	p = pw_raw_u64(p, ev->uid);
	p = pw_raw_lit(p, ",\"netns\":");
	if (!m->have_netns || m->netns != ev->netns) {
		m->netns_len = (__u8)(pw_raw_u64(m->netns_txt, ev->netns) - m->netns_txt);
		m->netns = ev->netns;
		m->have_netns = true;
	}
	p = pw_raw_put_upto(p, m->netns_txt, m->netns_len, sizeof(m->netns_txt));
	p = pw_raw_lit(p, ",\"cookie\":");
	p = pw_raw_u64(p, ev->cookie);
	pw_sb_commit(sb, p);
}

void pw_proto_write_sock(struct pw_strbuf *sb, const struct pw_event *ev)
{
	struct pw_sock_memo m;

	/* one socket (every event a watcher gets): the flags say the memo is
	 * empty; its ~450 bytes of text need no zeroing first */
	m.head[0].have = m.head[1].have = m.head[2].have = m.have_netns = false;
	pw_proto_write_sock_memo(sb, ev, &m);
}

void pw_proto_write_event(struct pw_strbuf *sb, const struct pw_event *ev)
{
	pw_proto_write_event_ex(sb, ev, NULL);
}

void pw_proto_write_event_ex(struct pw_strbuf *sb, const struct pw_event *ev,
			     const struct pw_proto_event_extra *x)
{
	char comm[PW_COMM_LEN + 1];

	pw_sb_printf(sb, "{\"event\":\"%s\",\"ts_ns\":%llu,",
		     ev->kind == PW_EV_EXIT ? "exit" : pw_event_kind_name(ev->kind),
		     (unsigned long long)ev->ts_ns);
	if (x && x->ts)
		pw_sb_printf(sb, "\"ts\":\"%s\",", x->ts);
	if (ev->kind == PW_EV_EXIT) {
		pw_comm_sanitize(ev->comm, comm);
		pw_sb_printf(sb, "\"pid\":%u,\"comm\":", ev->pid);
		pw_sb_json_str(sb, comm);
		pw_sb_printf(sb, ",\"uid\":%u,\"exit_code\":%d", ev->uid, (int)ev->exit_code);
		/* a child it left alive, which inherits what it owned */
		if (ev->heir)
			pw_sb_printf(sb, ",\"heir\":%u", ev->heir);
		pw_sb_puts(sb, "}");
		return;
	}
	pw_proto_write_sock(sb, ev);
	if (x && x->netns)
		pw_proto_write_netns(sb, x->netns_inode, x->netns_name);
	pw_sb_puts(sb, "}");
}

void pw_proto_write_netns(struct pw_strbuf *sb, uint64_t inode, const char *name)
{
	pw_sb_lit(sb, ",\"netns_inode\":");
	pw_sb_u64(sb, inode);
	pw_sb_lit(sb, ",\"netns_name\":");
	if (name)
		pw_sb_json_str(sb, name);
	else
		pw_sb_puts(sb, "null");
}

json_t *pw_proto_event_json(const struct pw_event *ev)
{
	struct pw_strbuf sb = { 0 };

	pw_proto_write_event(&sb, ev);
	return pw_proto_json_of(&sb);
}

json_t *pw_proto_json_of(struct pw_strbuf *sb)
{
	json_t *o = NULL;

	if (!sb->oom && sb->buf)
		o = json_loadb(sb->buf, sb->len, 0, NULL);
	free(sb->buf);
	*sb = (struct pw_strbuf){ 0 };
	return o;
}
