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

struct pw_cli {
	const char *socket;
	bool json;
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
/* The same, but a successful result is handed over as raw JSON text (owned by
 * the connection): printing a large result needs no parse. */
int pw_cli_call_raw(struct pw_cli *cli, const char *cmd, json_t *args, const char **result,
		    size_t *len);
/* pw_cli_call, and with --json print the result: then 0 with *res NULL.
 * 0 with *res set means human output is the caller's. */
int pw_cli_query(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res);
/* Print a usage error naming the argument; returns exit code 2. */
int pw_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print result as JSON (pretty, one document). */
void pw_cli_print_json(json_t *res);
/* Parse a port / pid / count argument; prints the error. */
int pw_cli_uint(const char *cmd, const char *what, const char *s, unsigned long max,
		unsigned long *out);

/* Aligned table on stdout. */
struct pw_table;
struct pw_table *pw_table_new(unsigned ncols, const char *const *headers);
void pw_table_add(struct pw_table *t, const char *const *cells);
void pw_table_print(struct pw_table *t);
void pw_table_free(struct pw_table *t);

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

#endif
