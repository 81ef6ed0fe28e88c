/* SPDX-License-Identifier: GPL-2.0 */
/* Client side of the control socket: connect, request, read lines. */
#ifndef PW_CLIENT_H
#define PW_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct pw_conn;

/* Connect to the daemon. 0 or -errno. */
int pw_conn_open(struct pw_conn **ret, const char *path);
void pw_conn_close(struct pw_conn *c);
/* Send a request (steals args). 0 or -errno. */
int pw_conn_send(struct pw_conn *c, const char *cmd, json_t *args);
/* Read one line (without the newline) into *line (owned by conn, valid until
 * the next call). timeout_ms < 0 waits forever. 0, -ETIMEDOUT, -EPIPE at EOF. */
int pw_conn_read_line(struct pw_conn *c, const char **line, int timeout_ms);
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
