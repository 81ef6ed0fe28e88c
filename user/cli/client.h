/* SPDX-License-Identifier: GPL-2.0 */
/* Client side of the control socket: connect, request, read lines. */
#ifndef PW_CLIENT_H
#define PW_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct pw_conn;

/* The longest line (one answer) read, by default: the daemon's largest
 * answers are single lines too (100,000 audit records with 256-byte details
 * escaped at worst, some 170 MB; 100,000 sockets some 50 MB), so this is a
 * bound on a misbehaving peer, not on a real answer. */
#define PW_CONN_MAX_LINE_DEFAULT	(256u << 20)

/* The bound in force (PORTWATCH_MAX_LINE_MB), and setting it (bytes). */
size_t pw_conn_max_line(void);
void pw_conn_set_max_line(size_t bytes);

/* Connect to the daemon. 0 or -errno. */
int pw_conn_open(struct pw_conn **ret, const char *path);
void pw_conn_close(struct pw_conn *c);
/* Send a request (steals args). 0 or -errno. */
int pw_conn_send(struct pw_conn *c, const char *cmd, json_t *args);
/* Read one line (without the newline) into *line (owned by conn, valid until
 * the next call). timeout_ms < 0 waits forever, else is the longest wait for
 * the next bytes. 0, -ETIMEDOUT, -EPIPE at EOF, -EMSGSIZE past
 * pw_conn_max_line(). */
int pw_conn_read_line(struct pw_conn *c, const char **line, int timeout_ms);
/* The wait for each next byte of an answer in pw_conn_call (ms; < 0: none,
 * the default). */
void pw_conn_set_timeout(struct pw_conn *c, int timeout_ms);
/*
 * One request/response round trip. Returns 0 with *result (new reference),
 * a positive enum pw_errcode with msg filled, or -errno for transport errors.
 */
int pw_conn_call(struct pw_conn *c, const char *cmd, json_t *args, json_t **result,
		 char *msg, size_t msglen);
int pw_conn_fd(const struct pw_conn *c);
/* The next bytes of the line being received, as they come (a long answer
 * need not sit in memory whole): *eol once its newline was reached (not
 * included). Valid until the next read. 0 or -errno (-EPIPE: closed). */
int pw_conn_read_part(struct pw_conn *c, const char **data, size_t *len, bool *eol,
		      int timeout_ms);

#endif
