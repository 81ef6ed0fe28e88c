/* SPDX-License-Identifier: GPL-2.0 */
/* The portwatch CLI: shared context and the command entry points. */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <stdbool.h>
#include <jansson.h>
#include "client.h"
#include "proto.h"

/* watch: the daemon dropped this watcher (it read too slowly), and said why */
#define PW_EXIT_DROPPED 13
/* One-shot commands wait this long for the daemon's next byte (seconds;
 * PORTWATCH_TIMEOUT overrides). */
#define PW_CLI_TIMEOUT_S 60

struct pw_cli {
	const char *socket;
	const char *name;	/* the command as typed: errors say "portwatch NAME:" */
	bool json;
	bool pretty;		/* JSON indented: stdout is a terminal, or --pretty */
	struct pw_conn *conn;
};

/* A string member of o ("" when absent or not a string). */
static inline const char *pw_jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* An integer member of o (0 when absent). */
static inline json_int_t pw_jnum(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* Round trip; on failure prints the error (JSON with --json) and returns
 * the exit code (> 0). 0 with *res on success. */
int pw_cli_call(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res);
/* pw_cli_call, with the result handed to fn in pieces as they arrive (a listing
 * of 100,000 sockets never sits in memory whole); an error before the
 * result began is reported as pw_cli_call does. 0 or the exit code. */
int pw_cli_call_stream(struct pw_cli *cli, const char *cmd, json_t *args,
		       void (*fn)(void *ctx, const char *data, size_t len), void *ctx);
/* pw_cli_call, and with --json print the result: then 0 with *res NULL.
 * 0 with *res set means human output is the caller's. */
int pw_cli_query(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res);
/* Connect to path with PORTWATCH_TIMEOUT set on the connection; on failure
 * -errno and msg says why (not a socket, or nothing listening). */
int pw_cli_open(const char *path, struct pw_conn **ret, char *msg, size_t len);
/* PORTWATCH_TIMEOUT in ms (-1: no limit). */
int pw_cli_timeout_ms(void);
/* A transport error (-errno from client.c) reported: a timeout or an
 * endless line exit 1, a lost connection 3. Returns the exit code. */
int pw_cli_transport_error(struct pw_cli *cli, const char *cmd, int err);
/* One error of the given enum pw_errcode, as text or JSON; the exit code. */
int pw_cli_error(int code, const char *cmd, const char *msg);
/* s for a terminal: control characters and bytes that are not UTF-8 as
 * \xNN. Valid until SAFE_RING (16) further calls: for the strings of one
 * printf. Every string from the daemon or the user printed in human mode
 * goes through it. */
const char *pw_cli_safe(const char *s);
/* pw_cli_safe of a string member of o. */
static inline const char *pw_jsafe(json_t *o, const char *k)
{
	return pw_cli_safe(pw_jstr(o, k));
}
/* json_object_set_new(obj, key, json_string(v)), or exit 2 naming what
 * when v is not UTF-8 (json_string() would give NULL: nothing set). */
int pw_cli_set_str(const char *cmd, json_t *obj, const char *key, const char *what,
		   const char *v);
/* Print a usage error naming the argument; returns exit code 2. */
int pw_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print result as JSON: indented on a terminal or with --pretty, else one line. */
void pw_cli_print_json(json_t *res);
/* Whether JSON output is indented. */
bool pw_cli_pretty(const struct pw_cli *cli);
/* An error object {"error":{"code","message"[,"column"]}} on stderr. */
void pw_cli_error_json(int code, const char *message, long column);
/* An internal error (exit 1), as text or JSON. */
int pw_cli_internal(const char *cmd, const char *msg);
/* An unknown option (or one missing its value), one line; exit code 2. */
int pw_cli_bad_option(const char *cmd, const char *arg);
/* A filter expression that does not parse: the column and a caret; exit 2. */
struct pw_filter_error;
int pw_cli_filter_error(const char *cmd, const char *expr, const struct pw_filter_error *fe);
/* `ports --summary` from a ports result (cli_summary.c). */
void pw_cli_ports_summary(struct pw_cli *cli, json_t *ports, bool no_header);
/* The NETNS cell of a socket: its `ip netns` name, else inode, else cookie. */
void pw_fmt_netns(json_t *sock, char *buf, size_t len);
/* Parse a port / pid / count argument in min-max; prints the error. */
int pw_cli_uint(const char *cmd, const char *what, const char *s, unsigned long min,
		unsigned long max, unsigned long *out);

/* Aligned table on stdout. */
struct pw_table;
struct pw_table *pw_table_new(unsigned ncols, const char *const *headers);
void pw_table_add(struct pw_table *t, const char *const *cells);
void pw_table_print(struct pw_table *t);
void pw_table_free(struct pw_table *t);
/* Print the rows only (-H). */
void pw_table_no_header(struct pw_table *t);
/* Print the rows held so far and let them go: the widths so far stay (a
 * later, wider cell widens its column from then on). For streamed tables. */
void pw_table_flush(struct pw_table *t);

int pw_cli_ports(struct pw_cli *cli, int argc, char **argv);
int pw_cli_watch(struct pw_cli *cli, int argc, char **argv);
int pw_cli_status(struct pw_cli *cli, int argc, char **argv);
int pw_cli_allocate(struct pw_cli *cli, int argc, char **argv);
int pw_cli_run(struct pw_cli *cli, int argc, char **argv);
int pw_cli_release(struct pw_cli *cli, int argc, char **argv);
int pw_cli_list(struct pw_cli *cli, int argc, char **argv);
int pw_cli_check(struct pw_cli *cli, int argc, char **argv);
int pw_cli_types(struct pw_cli *cli, int argc, char **argv);
int pw_cli_audit(struct pw_cli *cli, int argc, char **argv);
int pw_cli_health(struct pw_cli *cli, int argc, char **argv);
int pw_cli_metrics(struct pw_cli *cli, int argc, char **argv);
int pw_cli_recover(struct pw_cli *cli, int argc, char **argv);
/* cli_styxy.c */
int pw_cli_allocate_styxy(struct pw_cli *cli, int argc, char **argv);
int pw_cli_cleanup(struct pw_cli *cli, int argc, char **argv);
int pw_cli_scan(struct pw_cli *cli, int argc, char **argv);
int pw_cli_doctor(struct pw_cli *cli, int argc, char **argv);
int pw_cli_config(struct pw_cli *cli, int argc, char **argv);

#endif
