// SPDX-License-Identifier: GPL-2.0
/* portwatch: the command-line client of portwatchd. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "paths.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: portwatch [--socket PATH] [--json] COMMAND [ARGS...]\n"
"\n"
"Query and use portwatchd, the port allocator and kernel port watcher.\n"
"\n"
"Port map:\n"
"  ports [--tcp|--udp] [--listening] [--port N] [--pid N] [--netns ID]\n"
"                           every bound TCP/UDP socket, allocated or not\n"
"  watch [--count N]        live event stream (bind, close, listen, exit, ...)\n"
"  status                   mode, hooks, counters, latency, allocations\n"
"Allocation:\n"
"  allocate TYPE [--name NAME] [--port N] [--pid PID] [--project DIR] [--exclusive] [-q]\n"
"                           hand out a port of service type TYPE\n"
"  run TYPE [--name NAME] [--port N] [--project DIR] -- CMD [ARGS...]\n"
"                           allocate, then exec CMD with PORT and PORTWATCH_ID set\n"
"  release PORT | --id ID   give an allocation back\n"
"  list [--type TYPE]       allocations and what the kernel says of their ports\n"
"  check PORT               is PORT allocated, bound, reserved? by whom?\n"
"  types                    service types, ranges, used and free counts\n"
"  audit [--limit N]        the audit trail of changes and refusals\n"
"Health:\n"
"  health                   per-allocation health and evidence\n"
"  metrics                  Prometheus text format\n"
"  recover --dry-run        what start-up recovery would change now\n"
"\n"
"Options:\n"
"  -s, --socket PATH   control socket (default $PORTWATCH_SOCKET, else\n"
"                      " PW_DEFAULT_SOCKET ")\n"
"  -j, --json          machine-readable output (also accepted after COMMAND)\n"
"  -h, --help          this help; COMMAND --help for a command's own\n"
"\n"
"Exit status: 0 ok, 1 internal error, 2 bad arguments, 3 daemon not running,\n"
"4 bad request, 5 not permitted, 6 not found, 7 unknown service type,\n"
"8 range exhausted, 9 invalid port, 10 port conflict, 11 storage failure,\n"
"12 single-instance type already allocated, 13 watch dropped by the daemon\n"
"(it read too slowly; the reason is printed).\n");
}

static const struct {
	const char *name;
	int (*fn)(struct pw_cli *cli, int argc, char **argv);
} commands[] = {
	{ "ports", pw_cli_ports },
	{ "watch", pw_cli_watch },
	{ "status", pw_cli_status },
	{ "allocate", pw_cli_allocate },
	{ "run", pw_cli_run },
	{ "release", pw_cli_release },
	{ "list", pw_cli_list },
	{ "check", pw_cli_check },
	{ "types", pw_cli_types },
	{ "audit", pw_cli_audit },
	{ "health", pw_cli_health },
	{ "metrics", pw_cli_metrics },
	{ "recover", pw_cli_recover },
};

int pw_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "portwatch %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see portwatch %s --help)\n", cmd);
	return pw_errcode_exit(PW_E_USAGE);
}

int pw_cli_uint(const char *cmd, const char *what, const char *s, unsigned long max,
		unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || *s == '+' || v > max || (max == 65535 && !v))
		return pw_cli_usage(cmd, "%s: expected an integer %s%lu, got \"%s\"", what,
				    max == 65535 ? "1-" : "0-", max, s);
	*out = v;
	return 0;
}

void pw_cli_print_json(json_t *res)
{
	json_dumpf(res, stdout, JSON_INDENT(2));
	putchar('\n');
}

int pw_cli_call(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res)
{
	char msg[1024];
	int r;

	if (!cli->conn) {
		r = pw_conn_open(&cli->conn, cli->socket);
		if (r) {
			json_decref(args);
			if (cli->json)
				printf("{\"error\":{\"code\":\"no_daemon\",\"message\":"
				       "\"cannot connect to %s: %s\"}}\n", cli->socket, strerror(-r));
			fprintf(stderr, "portwatch: cannot connect to portwatchd at %s: %s "
				"(is portwatchd running?)\n", cli->socket, strerror(-r));
			return pw_errcode_exit(PW_E_NO_DAEMON);
		}
	}
	r = pw_conn_call(cli->conn, cmd, args, res, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "portwatch: lost the connection to portwatchd at %s: %s\n",
			cli->socket, strerror(-r));
		return pw_errcode_exit(PW_E_NO_DAEMON);
	}
	if (r > 0) {
		if (cli->json) {
			json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code",
					      pw_errcode_name(r), "message", msg);

			pw_cli_print_json(e);
			json_decref(e);
		}
		fprintf(stderr, "portwatch %s: %s\n", cmd, msg);
		return pw_errcode_exit(r);
	}
	return 0;
}

int pw_cli_query(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res)
{
	int r = pw_cli_call(cli, cmd, args, res);

	if (r || !cli->json)
		return r;
	pw_cli_print_json(*res);
	json_decref(*res);
	*res = NULL;
	return 0;
}

int pw_cli_call_raw(struct pw_cli *cli, const char *cmd, json_t *args, const char **result,
		    size_t *len)
{
	static const size_t plen = sizeof(PW_PROTO_OK_PREFIX) - 1;
	const char *line;
	json_t *res;
	size_t n;
	int r;

	if (!cli->conn) {
		/* pw_cli_call connects and reports a missing daemon */
		r = pw_cli_call(cli, "ping", NULL, &res);
		if (r) {
			json_decref(args);
			return r;
		}
		json_decref(res);
	}
	r = pw_conn_send(cli->conn, cmd, args);
	do
		r = r ? r : pw_conn_read_line(cli->conn, &line, -1);
	while (r == -EINTR);
	if (r) {
		fprintf(stderr, "portwatch: lost the connection to portwatchd at %s: %s\n",
			cli->socket, strerror(-r));
		return pw_errcode_exit(PW_E_NO_DAEMON);
	}
	n = strlen(line);
	if (n > plen && !strncmp(line, PW_PROTO_OK_PREFIX, plen) && line[n - 1] == '}') {
		*result = line + plen;
		*len = n - plen - 1;
		return 0;
	}
	/* an error, or a shape we do not know: the full parse says which */
	{
		char msg[1024];

		r = pw_proto_parse_response(line, &res, msg, sizeof(msg));
		if (r == 0) {
			json_decref(res);
			fprintf(stderr, "portwatch %s: unexpected response\n", cmd);
			return pw_errcode_exit(PW_E_INTERNAL);
		}
		if (r < 0)
			r = PW_E_INTERNAL;
		if (cli->json) {
			json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", pw_errcode_name(r),
					      "message", msg);

			pw_cli_print_json(e);
			json_decref(e);
		}
		fprintf(stderr, "portwatch %s: %s\n", cmd, msg);
		return pw_errcode_exit(r);
	}
}

int main(int argc, char **argv)
{
	struct pw_cli cli = { .socket = getenv("PORTWATCH_SOCKET") };
	int i, ret;

	if (!cli.socket || !*cli.socket)
		cli.socket = PW_DEFAULT_SOCKET;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (++i == argc) {
				fprintf(stderr, "portwatch: --socket needs a PATH\n");
				return 2;
			}
			cli.socket = argv[i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			cli.socket = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "portwatch: unknown option \"%s\" (see portwatch --help)\n",
				argv[i]);
			return 2;
		}
	}
	if (i == argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, argv[i]))
			continue;
		ret = commands[k].fn(&cli, argc - i, argv + i);
		pw_conn_close(cli.conn);
		return ret;
	}
	fprintf(stderr, "portwatch: unknown command \"%s\" (see portwatch --help)\n", argv[i]);
	return 2;
}
