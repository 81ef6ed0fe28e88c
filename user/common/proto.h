/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control protocol: newline-delimited JSON over a Unix stream socket.
 *
 *   request:  {"v":1,"cmd":"ports","args":{...}}
 *   response: {"v":1,"ok":true,"result":...}
 *             {"v":1,"ok":false,"error":{"code":"not_found","message":"..."}}
 *   stream:   after a successful "watch", one event object per line.
 *
 * Pure encoding and decoding, no I/O.
 */
#ifndef PW_PROTO_H
#define PW_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "pw_event.h"

#define PW_PROTO_VERSION 1
#define PW_PROTO_MAX_LINE (64 * 1024)

/* Error codes carried in responses; each maps to a distinct CLI exit code. */
enum pw_errcode {
	PW_E_OK = 0,
	PW_E_INTERNAL,		/* exit 1 */
	PW_E_USAGE,		/* exit 2: bad command line (CLI only) */
	PW_E_NO_DAEMON,		/* exit 3: daemon not running (CLI only) */
	PW_E_BAD_REQUEST,	/* exit 4 */
	PW_E_DENIED,		/* exit 5 */
	PW_E_NOT_FOUND,		/* exit 6 */
	PW_E_UNKNOWN_TYPE,	/* exit 7 */
	PW_E_EXHAUSTED,		/* exit 8 */
	PW_E_INVALID_PORT,	/* exit 9 */
	PW_E_CONFLICT,		/* exit 10 */
	PW_E_STORAGE,		/* exit 11 */
	PW_E_EXISTS,		/* exit 12: singleton already allocated with --exclusive */
	PW_E_MAX,
};

const char *pw_errcode_name(enum pw_errcode c);
enum pw_errcode pw_errcode_parse(const char *name);	/* PW_E_INTERNAL if unknown */
int pw_errcode_exit(enum pw_errcode c);

struct pw_request {
	const char *cmd;	/* points into root */
	json_t *args;		/* borrowed from root; an empty object if absent */
	json_t *root;
};

/*
 * Parse one request line (without its newline). On error returns -EINVAL and
 * writes a message naming the offending field into err.
 */
int pw_proto_parse_request(const char *line, size_t len, struct pw_request *req,
			   char *err, size_t errlen);
void pw_request_done(struct pw_request *req);

/* Build a request line (with newline); steals args (may be NULL). malloc'd. */
char *pw_proto_request(const char *cmd, json_t *args);
/* How every successful response line begins (pw_proto_ok's output), so large
 * results can be written, and read, without a JSON object tree. */
#define PW_PROTO_OK_PREFIX "{\"v\":1,\"ok\":true,\"result\":"

/* Build response lines (with newline); pw_proto_ok steals result. malloc'd. */
char *pw_proto_ok(json_t *result);
char *pw_proto_error(enum pw_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Parse a response line. Returns 0 with *result (new reference) when ok,
 * or the (positive) error code with msg filled; -EINVAL if malformed.
 */
int pw_proto_parse_response(const char *line, json_t **result, char *msg, size_t msglen);

/* Optional typed args. Return 0 when absent (value untouched), 1 when set,
 * -EINVAL with err naming the key when of the wrong type or out of range. */
int pw_args_u32(json_t *args, const char *key, __u32 max, __u32 *val, char *err, size_t errlen);
int pw_args_u64(json_t *args, const char *key, __u64 *val, char *err, size_t errlen);
int pw_args_str(json_t *args, const char *key, const char **val, char *err, size_t errlen);
int pw_args_bool(json_t *args, const char *key, bool *val, char *err, size_t errlen);

/* Names used in JSON output. */
const char *pw_proto_name(__u8 proto);		/* "tcp" / "udp" */
const char *pw_family_name(__u8 family);	/* "ipv4" / "ipv6" */
const char *pw_event_kind_name(__u8 kind);	/* "bind", "close", ... */
const char *pw_sock_state_name(__u8 state);	/* "bound" / "listening" */
/* Text form of an event's address ("0.0.0.0", "::1"). buf >= 46 bytes. */
const char *pw_addr_str(__u8 family, const __u8 addr[16], char *buf, size_t len);

/* Copy a comm, replacing bytes that are not printable ASCII with '?'. */
void pw_comm_sanitize(const char *comm, char out[PW_COMM_LEN + 1]);
/* A kernel comm (PW_COMM_LEN bytes, NUL-terminated or not) as
 * pw_comm_sanitize() leaves it, written at p as a JSON string, quotes
 * included: at most 2 * PW_COMM_LEN + 2 bytes. Returns the end. */
char *pw_raw_comm(char *p, const char *comm);

/* The JSON object for a socket event (keys event, ts_ns, proto, family, addr,
 * port, state, pid, comm, uid, netns, cookie; exit_code for exits). */
json_t *pw_proto_event_json(const struct pw_event *ev);
/* The one writer of a socket's fields (the `ports` schema, also inside every
 * socket event): "proto":...,"cookie":N without braces. */
struct pw_strbuf;
void pw_proto_write_sock(struct pw_strbuf *sb, const struct pw_event *ev);
/*
 * The same for one socket of many (a listing): m keeps the text of the last
 * protocol, family and address (the row's head up to the port) and of the
 * last namespace number, which most sockets share, and says where this
 * socket's pid digits and comm string went in sb (offsets: sb may move),
 * for a writer that repeats them. Zero m before the first socket.
 */
struct pw_sock_memo_head {
	bool have;
	__u8 family, len;
	__u8 addr[16];
	char txt[112];		/* "proto":"..","family":"..","addr":"..","port": */
};
struct pw_sock_memo {
	struct pw_sock_memo_head head[3];	/* tcp, udp, other: they interleave */
	bool have_netns;
	__u8 netns_len;
	__u64 netns;
	char netns_txt[24];
	size_t pid_off, pid_len, comm_off, comm_len;	/* out */
};
void pw_proto_write_sock_memo(struct pw_strbuf *sb, const struct pw_event *ev,
			      struct pw_sock_memo *m);
/* An event object, braces included (what watchers get, one per line). */
void pw_proto_write_event(struct pw_strbuf *sb, const struct pw_event *ev);
/* The same with what watchers get beside: wall-clock time, the namespace's
 * inode and name (socket events). */
struct pw_proto_event_extra {
	const char *ts;			/* RFC 3339, NULL: left out */
	bool netns;			/* write netns_inode and netns_name */
	uint64_t netns_inode;
	const char *netns_name;		/* NULL: null */
};
void pw_proto_write_event_ex(struct pw_strbuf *sb, const struct pw_event *ev,
			     const struct pw_proto_event_extra *x);
/* ,"netns_inode":N,"netns_name":"name"|null (a socket's namespace as people know it) */
void pw_proto_write_netns(struct pw_strbuf *sb, uint64_t inode, const char *name);
/* Parse what sb holds into a JSON value and empty sb (NULL on OOM). */
json_t *pw_proto_json_of(struct pw_strbuf *sb);

#endif
