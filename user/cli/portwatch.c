// SPDX-License-Identifier: GPL-2.0
/* portwatch: the command-line client of portwatchd. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <getopt.h>
#include <sys/stat.h>

#include "cli.h"
#include "filter.h"
#include "paths.h"
#include "proto.h"
#include "strbuf.h"
#include "utf8.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: portwatch [--socket PATH] [--json|--pretty] COMMAND [ARGS...]\n"
"\n"
"Query and use portwatchd, the port allocator and kernel port watcher.\n"
"\n"
"Port map:\n"
"  ports [EXPRESSION] [--tcp|--udp] [--listening] [-4|-6] [--port N] [--pid N]\n"
"        [--uid N] [--comm NAME] [--netns NAME|INODE|COOKIE] [--summary] [-H]\n"
"                           every bound TCP/UDP socket, allocated or not;\n"
"                           EXPRESSION as in ss: sport = :80 and not src 10.0.0.0/8\n"
"  watch [EXPRESSION] [--event KIND]... [--count N]\n"
"                           live event stream (bind, close, listen, exit, ...)\n"
"  status                   mode, hooks, counters, latency, allocations\n"
"Allocation:\n"
"  allocate TYPE [--name NAME] [--port N] [--pid PID] [--project DIR] [--hold DURATION]\n"
"           [--exclusive] [-q]\n"
"                           hand out a port of service type TYPE; --hold keeps it\n"
"                           for a later binder after the owner exits\n"
"  run TYPE [--name NAME] [--port N] [--project DIR] [--exclusive] [--listen|--udp]\n"
"           -- CMD [ARGS...]\n"
"                           allocate, then exec CMD with PORT and PORTWATCH_ID set;\n"
"                           --listen/--udp pass the bound socket as fd 3\n"
"  release PORT | --id ID   give an allocation back\n"
"  list [--type TYPE]       allocations and what the kernel says of their ports\n"
"  check PORT               is PORT allocated, bound, reserved? by whom?\n"
"  types                    service types, ranges, used and free counts\n"
"  audit [--limit N]        the audit trail of changes and refusals\n"
"Health:\n"
"  health                   per-allocation health and evidence\n"
"  metrics                  Prometheus text format\n"
"  recover --dry-run        what start-up recovery would change now\n"
"  cleanup [--dry-run]      apply recovery now (root), or list what it would do\n"
"  scan [START-END]         ports in use in a range, with their allocations\n"
"  doctor                   check daemon, kernel hooks, config, permissions, state\n"
"  config show|validate     the types in use; check a config file\n"
"\n"
"Options:\n"
"  -s, --socket PATH   control socket (default $PORTWATCH_SOCKET, else\n"
"                      " PW_DEFAULT_SOCKET ")\n"
"  -j, --json          machine-readable output (also accepted after COMMAND); one\n"
"                      line per document unless stdout is a terminal; errors are\n"
"                      then a JSON object {\"error\":{\"code\",\"message\"}} on stderr\n"
"      --pretty        JSON, indented even when stdout is not a terminal\n"
"  -h, --help          this help; COMMAND --help for a command's own\n"
"      --version       print the version and exit\n"
"\n"
"Environment: PORTWATCH_SOCKET (the socket), PORTWATCH_TIMEOUT (seconds a command\n"
"other than watch waits for the daemon's next byte, default 60, 0: no limit; then\n"
"exit 1), PORTWATCH_MAX_LINE_MB (the longest answer line read, 1-4096 MiB,\n"
"default 256; then exit 1).\n"
"\n"
"Exit status: 0 ok, 1 internal error, 2 bad arguments, 3 daemon not running,\n"
"4 bad request, 5 not permitted, 6 not found, 7 unknown service type,\n"
"8 range exhausted, 9 invalid port, 10 port conflict, 11 storage failure,\n"
"12 single-instance type already allocated, 13 watch dropped by the daemon\n"
"(it read too slowly; the reason is printed). Names, messages and what you typed\n"
"print with control characters and bytes that are not UTF-8 as \\xNN.\n");
}

static const struct {
	const char *name;
	int (*fn)(struct pw_cli *cli, int argc, char **argv);
} commands[] = {
	{ "ports", pw_cli_ports },
	{ "watch", pw_cli_watch },
	{ "status", pw_cli_status },
	{ "allocate", pw_cli_allocate_styxy },	/* + Styxy's -s TYPE */
	{ "run", pw_cli_run },
	{ "release", pw_cli_release },
	{ "list", pw_cli_list },
	{ "check", pw_cli_check },
	{ "types", pw_cli_types },
	{ "audit", pw_cli_audit },
	{ "health", pw_cli_health },
	{ "metrics", pw_cli_metrics },
	{ "recover", pw_cli_recover },
	{ "cleanup", pw_cli_cleanup },
	{ "scan", pw_cli_scan },
	{ "doctor", pw_cli_doctor },
	{ "config", pw_cli_config },
};

/* --json anywhere on the command line: errors are JSON from the start,
 * even those found before the command's own options are parsed. */
static bool json_errors;

void pw_cli_error_json(int code, const char *message, long column)
{
	json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", pw_errcode_name(code), "message",
			      message);

	if (e && column > 0)
		json_object_set_new(json_object_get(e, "error"), "column", json_integer(column));
	if (e)
		json_dumpf(e, stderr, JSON_COMPACT);
	fputc('\n', stderr);
	json_decref(e);
}

/* The last few escaped copies: enough for the strings of one printf. */
#define SAFE_RING 16

const char *pw_cli_safe(const char *s)
{
	static char *ring[SAFE_RING];
	static unsigned next;
	size_t n = strlen(s ? s : "") * 4 + 1;
	char **slot = &ring[next++ % SAFE_RING];

	free(*slot);
	*slot = malloc(n);
	if (!*slot)
		return "?";
	return pw_term_safe(s ? s : "", *slot, n);
}

/* One error: a line on stderr, or with --json a JSON object on stderr. A
 * message carries the daemon's words and what was typed: terminal-safe. */
static int cli_error(int code, const char *cmd, const char *msg)
{
	if (json_errors) {
		/* jansson needs UTF-8: other bytes become \xNN text */
		size_t n = strlen(msg) * 4 + 1;
		char *u = malloc(n);

		pw_cli_error_json(code, u ? pw_utf8_safe(msg, u, n) : "out of memory", 0);
		free(u);
	} else {
		fprintf(stderr, "portwatch%s%s: %s\n", cmd ? " " : "", cmd ? pw_cli_safe(cmd) : "",
			pw_cli_safe(msg));
	}
	return pw_errcode_exit(code);
}

int pw_cli_error(int code, const char *cmd, const char *msg)
{
	return cli_error(code, cmd, msg);
}

int pw_cli_usage(const char *cmd, const char *fmt, ...)
{
	char msg[1024], full[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s (see portwatch %s --help)", msg, cmd);
	return cli_error(PW_E_USAGE, cmd, json_errors ? msg : full);
}

int pw_cli_internal(const char *cmd, const char *msg)
{
	return cli_error(PW_E_INTERNAL, cmd, msg);
}

int pw_cli_bad_option(const char *cmd, const char *arg)
{
	return pw_cli_usage(cmd, "unknown option, or one missing its value: \"%s\"", arg);
}

int pw_cli_filter_error(const char *cmd, const char *expr, const struct pw_filter_error *fe)
{
	char msg[400], *head;
	const char *shown;
	size_t at, cols = 0;

	snprintf(msg, sizeof(msg), "filter: column %u: %s", fe->col, fe->msg);
	if (json_errors) {
		char u[sizeof(msg) * 4];

		pw_cli_error_json(PW_E_USAGE, pw_utf8_safe(msg, u, sizeof(u)), fe->col);
		return pw_errcode_exit(PW_E_USAGE);
	}
	/* ss-like: the expression, and a caret under the column. Both are
	 * shown terminal-safe, so the caret goes under the escaped text: as
	 * many places in as the escaped prefix has characters. */
	at = fe->col > 1 ? fe->col - 1 : 0;
	if (at > strlen(expr))
		at = strlen(expr);
	head = strndup(expr, at);
	shown = pw_cli_safe(head ? head : "");
	for (const unsigned char *p = (const unsigned char *)shown; *p; p++)
		cols += (*p & 0xc0) != 0x80;
	free(head);
	fprintf(stderr, "portwatch %s: %s\n  %s\n  %*s^\n", cmd, pw_cli_safe(msg),
		pw_cli_safe(expr), (int)cols, "");
	return pw_errcode_exit(PW_E_USAGE);
}

bool pw_cli_pretty(const struct pw_cli *cli)
{
	return cli->pretty || isatty(STDOUT_FILENO);
}

int pw_cli_uint(const char *cmd, const char *what, const char *s, unsigned long min,
		unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || *s == '+' || v < min || v > max)
		return pw_cli_usage(cmd, "%s: expected an integer %lu-%lu, got \"%s\"", what, min,
				    max, s);
	*out = v;
	return 0;
}

int pw_cli_set_str(const char *cmd, json_t *obj, const char *key, const char *what,
		   const char *v)
{
	json_t *s = json_string(v);

	/* json_string() takes UTF-8 only: NULL would set nothing, silently */
	if (!s)
		return pw_cli_usage(cmd, "%s: not valid UTF-8", what);
	json_object_set_new(obj, key, s);
	return 0;
}

/* One rule for every command: indented on a terminal or with --pretty,
 * compact (one line) otherwise. */
static bool pretty_out;

void pw_cli_print_json(json_t *res)
{
	json_dumpf(res, stdout, pretty_out ? JSON_INDENT(2) : JSON_COMPACT);
	putchar('\n');
}

/* PORTWATCH_TIMEOUT, read by main (ms; -1: no limit). */
static int timeout_ms = PW_CLI_TIMEOUT_S * 1000;

int pw_cli_timeout_ms(void)
{
	return timeout_ms;
}

int pw_cli_open(const char *path, struct pw_conn **ret, char *msg, size_t len)
{
	struct stat sb;
	int r = pw_conn_open(ret, path);

	if (!r) {
		pw_conn_set_timeout(*ret, timeout_ms);
		return 0;
	}
	/* a file or a directory refuses too: say what it is */
	if (!stat(path, &sb) && !S_ISSOCK(sb.st_mode))
		snprintf(msg, len, "cannot connect to portwatchd at %s: not a socket (a %s)", path,
			 S_ISDIR(sb.st_mode) ? "directory" : S_ISREG(sb.st_mode) ? "regular file"
			 : "file that is not a socket");
	else
		snprintf(msg, len, "cannot connect to portwatchd at %s: %s (is portwatchd "
			 "running?)", path, strerror(-r));
	return r;
}

/* The connection, made on first use; a missing daemon is reported (args
 * are dropped then). */
static int cli_connect(struct pw_cli *cli, json_t *args)
{
	char msg[1024];

	if (cli->conn)
		return 0;
	if (!pw_cli_open(cli->socket, &cli->conn, msg, sizeof(msg)))
		return 0;
	json_decref(args);
	return cli_error(PW_E_NO_DAEMON, NULL, msg);
}

int pw_cli_transport_error(struct pw_cli *cli, const char *cmd, int err)
{
	char msg[1024];

	/* a peer that stalls, or sends an endless line, is not a missing daemon */
	if (err == -ETIMEDOUT) {
		snprintf(msg, sizeof(msg), "portwatchd at %s sent nothing for %d s (the limit is "
			 "PORTWATCH_TIMEOUT, in seconds)", cli->socket, timeout_ms / 1000);
		return cli_error(PW_E_INTERNAL, cli->name ? cli->name : cmd, msg);
	}
	if (err == -EMSGSIZE) {
		snprintf(msg, sizeof(msg), "the answer from %s is longer than %zu MiB without a "
			 "newline (PORTWATCH_MAX_LINE_MB): not portwatchd, or a broken one",
			 cli->socket, pw_conn_max_line() >> 20);
		return cli_error(PW_E_INTERNAL, cli->name ? cli->name : cmd, msg);
	}
	snprintf(msg, sizeof(msg), "lost the connection to portwatchd at %s: %s", cli->socket,
		 strerror(-err));
	return cli_error(PW_E_NO_DAEMON, NULL, msg);
}

int pw_cli_call(struct pw_cli *cli, const char *cmd, json_t *args, json_t **res)
{
	char msg[1024];
	int r;

	r = cli_connect(cli, args);
	if (r)
		return r;
	r = pw_conn_call(cli->conn, cmd, args, res, msg, sizeof(msg));
	if (r < 0)
		return pw_cli_transport_error(cli, cmd, r);
	if (r > 0)
		return cli_error(r, cli->name ? cli->name : cmd, msg);
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

int pw_cli_call_stream(struct pw_cli *cli, const char *cmd, json_t *args,
		       void (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
	static const size_t plen = sizeof(PW_PROTO_OK_PREFIX) - 1;
	struct pw_strbuf head = { 0 };
	bool eol = false, streaming = false, held = false;
	size_t total = 0;	/* the answer's bytes so far: one line, bounded too */
	const char *data;
	char last = 0;
	json_t *res;
	size_t len;
	int r;

	r = cli_connect(cli, args);
	if (r)
		return r;
	r = pw_conn_send(cli->conn, cmd, args);
	while (!r && !eol) {
		do
			r = pw_conn_read_part(cli->conn, &data, &len, &eol, timeout_ms);
		while (r == -EINTR);
		if (r)
			break;
		total += len;
		if (total > pw_conn_max_line()) {
			r = -EMSGSIZE;
			break;
		}
		if (!streaming) {
			/* the answer's start says whether it is a result */
			pw_sb_put(&head, data, len);
			if (head.oom) {
				r = -ENOMEM;
				break;
			}
			if (head.len < plen + 1 && !eol)
				continue;
			if (strncmp(head.buf, PW_PROTO_OK_PREFIX, plen)) {
				if (!eol)
					continue;
				break;	/* an error line, whole in head */
			}
			streaming = true;
			data = head.buf + plen;
			len = head.len - plen;
		}
		/* the result is all but the answer's closing brace: one byte is
		 * held back until more follows */
		if (!len)
			continue;
		if (held)
			fn(ctx, &last, 1);
		fn(ctx, data, len - 1);
		last = data[len - 1];
		held = true;
	}
	if (r) {
		free(head.buf);
		return pw_cli_transport_error(cli, cmd, r);
	}
	if (streaming) {
		free(head.buf);
		return held && last == '}' ? 0 : cli_error(PW_E_INTERNAL, cmd, "truncated response");
	}
	/* an error, or a shape we do not know: the full parse says which */
	{
		char msg[1024];

		r = pw_proto_parse_response(head.buf ? head.buf : "", &res, msg, sizeof(msg));
		free(head.buf);
		if (r == 0) {
			json_decref(res);
			return cli_error(PW_E_INTERNAL, cmd, "unexpected response");
		}
		if (r < 0)
			r = PW_E_INTERNAL;
		return cli_error(r, cmd, msg);
	}
}

int main(int argc, char **argv)
{
	struct pw_cli cli = { .socket = getenv("PORTWATCH_SOCKET") };
	const char *tmo = getenv("PORTWATCH_TIMEOUT"), *maxl = getenv("PORTWATCH_MAX_LINE_MB");
	char msg[300];
	int i, k, ret;

	if (!cli.socket || !*cli.socket)
		cli.socket = PW_DEFAULT_SOCKET;
	/* --json and --pretty anywhere before "--" (run's command is its own) */
	for (i = 1, k = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[k++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			json_errors = true;
		if (!strcmp(argv[i], "--pretty")) {
			cli.json = cli.pretty = json_errors = true;
			continue;
		}
		argv[k++] = argv[i];
	}
	argc = k;
	argv[argc] = NULL;
	cli.pretty = cli.pretty || isatty(STDOUT_FILENO);
	pretty_out = cli.pretty;
	if (tmo && *tmo) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(tmo, &end, 10);
		if (errno || *end || *tmo == '-' || *tmo == '+' || v > 86400) {
			snprintf(msg, sizeof(msg), "PORTWATCH_TIMEOUT: expected seconds 0-86400 (0: "
				 "no limit), got \"%.100s\"", tmo);
			return cli_error(PW_E_USAGE, NULL, msg);
		}
		timeout_ms = v ? (int)v * 1000 : -1;
	}
	if (maxl && *maxl) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(maxl, &end, 10);
		if (errno || *end || *maxl == '-' || *maxl == '+' || v < 1 || v > 4096) {
			snprintf(msg, sizeof(msg), "PORTWATCH_MAX_LINE_MB: expected MiB 1-4096, got "
				 "\"%.100s\"", maxl);
			return cli_error(PW_E_USAGE, NULL, msg);
		}
		pw_conn_set_max_line((size_t)v << 20);
	}
	opterr = 0;	/* bad options: our one line, not getopt's and ours */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (++i == argc || !*argv[i])
				return cli_error(PW_E_USAGE, NULL, "--socket needs a PATH");
			cli.socket = argv[i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			if (!argv[i][9])
				return cli_error(PW_E_USAGE, NULL, "--socket needs a PATH");
			cli.socket = argv[i] + 9;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("portwatch %s\n", pw_version);
			return 0;
		} else {
			snprintf(msg, sizeof(msg), "unknown option \"%s\" (see portwatch --help)",
				 argv[i]);
			return cli_error(PW_E_USAGE, NULL, msg);
		}
	}
	if (i == argc) {
		if (json_errors)
			return cli_error(PW_E_USAGE, NULL, "COMMAND: required (see portwatch --help)");
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		if (strcmp(commands[c].name, argv[i]))
			continue;
		cli.name = commands[c].name;
		ret = commands[c].fn(&cli, argc - i, argv + i);
		pw_conn_close(cli.conn);
		return ret;
	}
	snprintf(msg, sizeof(msg), "unknown command \"%.200s\" (see portwatch --help)", argv[i]);
	return cli_error(PW_E_USAGE, NULL, msg);
}
