// SPDX-License-Identifier: GPL-2.0
/* CLI: ports, watch, status. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "strbuf.h"
#include "filter.h"
#include "utf8.h"

#define JSON_OPT { "json", no_argument, NULL, 'j' }
#define HELP_OPT { "help", no_argument, NULL, 'h' }

static void fmt_addr(json_t *o, char *buf, size_t len)
{
	const char *fam = pw_jstr(o, "family");

	snprintf(buf, len, strcmp(fam, "ipv6") ? "%s:%lld" : "[%s]:%lld", pw_jstr(o, "addr"),
		 (long long)pw_jnum(o, "port"));
}

/* Offset of the first byte of s that is not part of valid UTF-8, or -1. */
static long bad_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left) {
		size_t k = pw_utf8_seq(p, left);

		if (!k)
			return (long)(p - (const unsigned char *)s);
		p += k;
		left -= k;
	}
	return -1;
}

/* A filter word from an option value: no spaces or operators, or the value
 * would change the expression around it; and a word the grammar takes, so
 * that a mistake is reported against the option (exit 2), not by the daemon
 * against an expression nobody typed. */
static int flag_word(const char *cmd, const char *opt, const char *kw, const char *v)
{
	struct pw_filter_error fe;
	struct pw_filter *f;
	char term[PW_FILTER_MAX_LEN + 1];

	if (!*v || strpbrk(v, " \t\n()!=<>&|"))
		return pw_cli_usage(cmd, "%s: \"%s\" cannot be matched (empty, or holds a space or"
				    " one of ()!=<>&|)", opt, v);
	if (bad_utf8(v) >= 0)
		return pw_cli_usage(cmd, "%s: not valid UTF-8", opt);
	if (strlen(v) > PW_FILTER_MAX_LEN - 16)
		return pw_cli_usage(cmd, "%s: longer than %d characters", opt,
				    PW_FILTER_MAX_LEN - 16);
	snprintf(term, sizeof(term), "%s = %s", kw, v);
	if (pw_filter_parse(term, &f, &fe))
		return pw_cli_usage(cmd, "%s: \"%s\": %s", opt, v, fe.msg);
	pw_filter_free(f);
	return 0;
}

/* Append " and TERM" (printf-style) to the flags' expression. */
static void __attribute__((format(printf, 2, 3))) add_term(char **expr, const char *fmt, ...)
{
	char *term = NULL, *n = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&term, fmt, ap) < 0)
		term = NULL;
	va_end(ap);
	if (!term)
		return;
	if (asprintf(&n, "%s%s%s", *expr ? *expr : "", *expr ? " and " : "", term) < 0)
		n = NULL;
	free(term);
	free(*expr);
	*expr = n;
}

/*
 * The expression of ports and watch: the words left after the options
 * (ss-style), and the filter options, joined with "and". Parsed here first,
 * so that a mistake is reported against what was typed (exit 2), then sent
 * for the daemon to evaluate. 0 with *out (NULL: no filter) or an exit code.
 */
static int build_filter(const char *cmd, int argc, char **argv, char *flags, char **out)
{
	char typed[PW_FILTER_MAX_LEN + 1];
	struct pw_filter_error fe;
	struct pw_filter *f;
	long at;
	int r;

	*out = NULL;
	if (pw_filter_join(argc, argv, typed, sizeof(typed))) {
		free(flags);
		return pw_cli_usage(cmd, "the filter expression is longer than %d characters",
				    PW_FILTER_MAX_LEN);
	}
	/* the daemon takes JSON strings: UTF-8 only (json_string() would give
	 * NULL, and the filter would go unsent: every socket) */
	at = bad_utf8(typed);
	if (at >= 0) {
		fe.col = (unsigned)at + 1;
		snprintf(fe.msg, sizeof(fe.msg), "a byte that is not UTF-8 (0x%02x)",
			 (unsigned char)typed[at]);
		free(flags);
		return pw_cli_filter_error(cmd, typed, &fe);
	}
	r = pw_filter_parse(typed, &f, &fe);
	if (r) {
		free(flags);
		return pw_cli_filter_error(cmd, typed, &fe);
	}
	pw_filter_free(f);
	if (!*typed) {
		*out = flags;
	} else if (!flags) {
		*out = strdup(typed);
	} else {
		if (asprintf(out, "(%s) and %s", typed, flags) < 0)
			*out = NULL;
		free(flags);
	}
	/* each part parsed; together they must still fit the daemon's bounds */
	if (*out) {
		r = pw_filter_parse(*out, &f, &fe);
		if (r) {
			free(*out);
			*out = NULL;
			return pw_cli_usage(cmd, "the filter with its options: %s", fe.msg);
		}
		pw_filter_free(f);
	}
	return 0;
}

struct ports_opts {
	bool no_header;
	bool summary;
};

/* Rows printed this many at a time: the first ones set the widths. */
#define ROWS_PER_FLUSH 256

static void add_port_row(struct pw_table *t, json_t *v)
{
	char local[80], pid[16], uid[16], netns[300];
	const char *row[7];

	fmt_addr(v, local, sizeof(local));
	snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(v, "pid"));
	snprintf(uid, sizeof(uid), "%lld", (long long)pw_jnum(v, "uid"));
	pw_fmt_netns(v, netns, sizeof(netns));
	row[0] = pw_jstr(v, "proto");
	row[1] = local;
	row[2] = pw_jstr(v, "state");
	row[3] = pw_jnum(v, "pid") ? pid : "-";
	row[4] = *pw_jstr(v, "comm") ? pw_jstr(v, "comm") : "-";
	row[5] = uid;
	row[6] = netns;
	pw_table_add(t, row);
}

/*
 * The table of a streamed listing: the result array is cut into its
 * elements as the bytes come (depth and strings followed, nothing else
 * parsed), each element parsed alone and added as a row.
 */
struct rows {
	struct pw_table *t;
	struct pw_strbuf cur;		/* an element cut by a piece's end */
	int depth;			/* 1: inside the result array */
	bool in_str, esc, bad;
	size_t n, since_flush;
};

static void rows_element(struct rows *rw, const char *s, size_t n)
{
	json_error_t e;
	json_t *v = json_loadb(s, n, 0, &e);

	if (!json_is_object(v)) {
		rw->bad = true;
		json_decref(v);
		return;
	}
	add_port_row(rw->t, v);
	json_decref(v);
	rw->n++;
	if (++rw->since_flush == ROWS_PER_FLUSH) {
		pw_table_flush(rw->t);
		rw->since_flush = 0;
	}
}

static void rows_feed(void *ctx, const char *d, size_t n)
{
	struct rows *rw = ctx;
	size_t start = 0;
	bool open = rw->depth > 1;	/* an element began in an earlier piece */

	for (size_t i = 0; i < n; i++) {
		char ch = d[i];

		if (rw->in_str) {
			if (rw->esc)
				rw->esc = false;
			else if (ch == '\\')
				rw->esc = true;
			else if (ch == '"')
				rw->in_str = false;
			continue;
		}
		if (rw->depth <= 1) {
			if (ch == '[' && !rw->depth)
				rw->depth = 1;
			else if (ch == '{' && rw->depth == 1) {
				rw->depth = 2;
				start = i;
				open = true;
			}
			continue;	/* commas, blanks, the array's end */
		}
		if (ch == '"') {
			rw->in_str = true;
		} else if (ch == '{' || ch == '[') {
			rw->depth++;
		} else if ((ch == '}' || ch == ']') && --rw->depth == 1) {
			if (rw->cur.len) {
				pw_sb_put(&rw->cur, d + start, i + 1 - start);
				rows_element(rw, rw->cur.buf, rw->cur.len);
				rw->cur.len = 0;
			} else {
				rows_element(rw, d + start, i + 1 - start);
			}
			open = false;
		}
	}
	if (open && rw->depth > 1)
		pw_sb_put(&rw->cur, d + start, n - start);
}

/* The daemon's text to stdout as it comes, a write per read (no stdio
 * buffer between); the first error is kept and stops the output. */
static void write_out(void *ctx, const char *data, size_t len)
{
	int *err = ctx;

	while (len && !*err) {
		ssize_t n = write(STDOUT_FILENO, data, len);

		if (n < 0 && errno != EINTR)
			*err = errno;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
	}
}

int pw_cli_ports(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcp", no_argument, NULL, 't' }, { "udp", no_argument, NULL, 'u' },
		{ "listening", no_argument, NULL, 'l' }, { "port", required_argument, NULL, 'p' },
		{ "pid", required_argument, NULL, 'P' }, { "netns", required_argument, NULL, 'n' },
		{ "comm", required_argument, NULL, 'c' }, { "uid", required_argument, NULL, 'U' },
		{ "no-header", no_argument, NULL, 'H' }, { "summary", no_argument, NULL, 's' },
		{ "ipv4", no_argument, NULL, '4' }, { "ipv6", no_argument, NULL, '6' },
		JSON_OPT, HELP_OPT, { 0 }
	};
	json_t *args = json_object(), *res;
	struct ports_opts po = { 0 };
	char *flags = NULL, *expr;
	unsigned long n;
	int opt, r;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "tulp:P:n:c:U:Hs46jh", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
		case 'u':
			json_object_set_new(args, "proto", json_string(opt == 't' ? "tcp" : "udp"));
			break;
		case 'l':
			json_object_set_new(args, "listening", json_true());
			break;
		case 'p':
		case 'P':
		case 'U':
			r = pw_cli_uint("ports", opt == 'p' ? "--port" : opt == 'P' ? "--pid" : "--uid",
					optarg, opt == 'U' ? 0 : 1,
					opt == 'p' ? 65535 : opt == 'P' ? 4194304 : UINT32_MAX, &n);
			if (r)
				goto fail;
			if (opt == 'U')
				add_term(&flags, "uid = %lu", n);
			else
				json_object_set_new(args, opt == 'p' ? "port" : "pid",
						    json_integer((json_int_t)n));
			break;
		case 'n':
		case 'c':
			r = flag_word("ports", opt == 'n' ? "--netns" : "--comm",
				      opt == 'n' ? "netns" : "comm", optarg);
			if (r)
				goto fail;
			add_term(&flags, "%s = %s", opt == 'n' ? "netns" : "comm", optarg);
			break;
		case '4':
		case '6':
			add_term(&flags, "family %c", opt);
			break;
		case 'H':
			po.no_header = true;
			break;
		case 's':
			po.summary = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("Usage: portwatch ports [EXPRESSION] [--tcp|--udp] [--listening] [-4|-6]\n"
			       "         [--port N] [--pid N] [--uid N] [--comm NAME] [--netns NAME|INODE|COOKIE]\n"
			       "         [--summary] [-H] [--json] [--pretty]\n\n"
			       "Every bound TCP/UDP socket the kernel reports, with its owner, in every\n"
			       "network namespace. EXPRESSION filters in the style of ss(8), e.g.\n"
			       "  portwatch ports state listening '( sport = :80 or sport = :443 )'\n"
			       "  portwatch ports sport ge :1024 and not src 127.0.0.0/8\n"
			       "Conditions: sport/dport [OP] [:]PORT or N-M; src/dst ADDR[/LEN][:PORT],\n"
			       "[V6][:PORT], :PORT; state bound|listening|connected|unconnected|all;\n"
			       "tcp, udp, proto P; family inet|inet6; comm NAME (wildcards * ? [..]);\n"
			       "uid/pid [OP] N; netns NAME|INODE|COOKIE. OP: = == != < > <= >= eq neq\n"
			       "lt gt le ge. Combine with and (or nothing), or, not, !, &&, ||, ( ).\n"
			       "The options add conditions joined with and. NETNS shows the namespace's\n"
			       "`ip netns` name, else its inode (as /proc/PID/ns/net). -H: no header.\n"
			       "--summary: counts by protocol, state, namespace, and the top holders.\n");
			json_decref(args);
			free(flags);
			return 0;
		default:
			r = pw_cli_bad_option("ports", argv[optind - 1]);
			goto fail;
		}
	}
	r = build_filter("ports", argc - optind, argv + optind, flags, &expr);
	flags = NULL;
	if (r)
		goto fail;
	if (expr)
		r = pw_cli_set_str(cli->name ? cli->name : "ports", args, "filter", "filter", expr);
	free(expr);
	if (r)
		goto fail;
	if (cli->json && !po.summary && !pw_cli_pretty(cli)) {
		/* the daemon's JSON as it comes: 100,000 sockets print without
		 * a parse, and never sit in memory whole */
		int werr = 0;

		fflush(stdout);
		r = pw_cli_call_stream(cli, "ports", args, write_out, &werr);
		if (!r)
			write_out(&werr, "\n", 1);
		if (!r && werr) {
			char msg[256];

			snprintf(msg, sizeof(msg), "cannot write the output: %s", strerror(werr));
			return pw_cli_internal("ports", msg);
		}
		return r;
	}
	if (!cli->json && !po.summary) {
		static const char *const hdr[] = { "PROTO", "LOCAL", "STATE", "PID", "COMM", "UID",
						   "NETNS" };
		struct rows rw = { .t = pw_table_new(7, hdr) };

		if (!rw.t)
			return pw_cli_usage("ports", "out of memory");
		if (po.no_header)
			pw_table_no_header(rw.t);
		r = pw_cli_call_stream(cli, "ports", args, rows_feed, &rw);
		if (!r && rw.bad)
			fprintf(stderr, "portwatch ports: some sockets could not be read from the "
				"answer\n");
		if (!r)
			pw_table_flush(rw.t);
		pw_table_free(rw.t);
		free(rw.cur.buf);
		return r;
	}
	r = pw_cli_call(cli, "ports", args, &res);
	if (r)
		return r;
	if (po.summary)
		pw_cli_ports_summary(cli, res, po.no_header);
	else
		pw_cli_print_json(res);
	json_decref(res);
	return 0;
fail:
	free(flags);
	json_decref(args);
	return r;
}

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	(void) sig;
	stop = 1;
}

static void print_event_human(json_t *e)
{
	const char *ev = pw_jstr(e, "event");
	char local[80], netns[300];

	/* the daemon's wall-clock time of the event, with its UTC offset */
	printf("%s %-10s ", *pw_jstr(e, "ts") ? pw_jsafe(e, "ts") : "-", pw_cli_safe(ev));
	if (!strcmp(ev, "exit")) {
		printf("pid %lld (%s) exit_code %lld\n", (long long)pw_jnum(e, "pid"), pw_jsafe(e, "comm"),
		       (long long)pw_jnum(e, "exit_code"));
	} else if (!strcmp(ev, "allocation")) {
		printf("port %lld (%s, id %lld): %s -> %s: %s\n", (long long)pw_jnum(e, "port"),
		       pw_jsafe(e, "service_type"), (long long)pw_jnum(e, "id"), pw_jsafe(e, "old_state"),
		       pw_jsafe(e, "state"), pw_jsafe(e, "reason"));
	} else if (!strcmp(ev, "drops")) {
		printf("the ring buffer dropped events (%lld in all): a resync follows\n",
		       (long long)pw_jnum(e, "dropped"));
	} else if (!strcmp(ev, "resync")) {
		printf("resync: %lld sockets, %lld changes (resync %lld)\n",
		       (long long)pw_jnum(e, "sockets"), (long long)pw_jnum(e, "changes"),
		       (long long)pw_jnum(e, "resyncs"));
	} else {
		fmt_addr(e, local, sizeof(local));
		pw_fmt_netns(e, netns, sizeof(netns));
		printf("%s %s pid %lld (%s) netns %s\n", pw_jsafe(e, "proto"), pw_cli_safe(local),
		       (long long)pw_jnum(e, "pid"), pw_jsafe(e, "comm"), pw_cli_safe(netns));
	}
	fflush(stdout);
}

static const char *const event_kinds[] = { "bind", "close", "listen", "unlisten", "exit",
					   "allocation", "drops", "resync" };

/* --event KIND[,KIND...] into the array of kinds; an empty one (--event '',
 * a stray comma) is a mistake, not nothing. */
static int add_events(json_t *arr, const char *v)
{
	char *dup = strdup(v), *tok, *next;
	int r = 0;

	for (tok = dup; tok && !r; tok = next) {
		size_t k;

		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		if (!*tok) {
			r = pw_cli_usage("watch", "--event: an empty event kind in \"%s\" (one of "
					 "bind, close, listen, unlisten, exit, allocation, drops, "
					 "resync, separated by commas)", v);
			break;
		}

		for (k = 0; k < sizeof(event_kinds) / sizeof(event_kinds[0]); k++)
			if (!strcmp(tok, event_kinds[k]))
				break;
		if (k == sizeof(event_kinds) / sizeof(event_kinds[0]))
			r = pw_cli_usage("watch", "--event: \"%s\" is not one of bind, close, listen, "
					 "unlisten, exit, allocation, drops, resync", tok);
		else
			json_array_append_new(arr, json_string(tok));
	}
	free(dup);
	return r;
}

int pw_cli_watch(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' }, { "event", required_argument, NULL, 'e' },
		JSON_OPT, HELP_OPT, { 0 }
	};
	unsigned long count = 0, seen = 0;
	struct sigaction sa = { .sa_handler = on_sigint };
	json_t *res, *args = json_object(), *events = json_array();
	char *expr = NULL;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "c:e:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			/* leave it out to follow until interrupted */
			r = pw_cli_uint("watch", "--count", optarg, 1, 1ul << 40, &count);
			if (r)
				goto fail;
			break;
		case 'e':
			r = add_events(events, optarg);
			if (r)
				goto fail;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("Usage: portwatch watch [EXPRESSION] [--event KIND[,KIND]]... [--count N]"
			       " [--json]\n\nFollow the live event stream (bind, close, listen, unlisten, "
			       "exit, allocation,\ndrops, resync) until interrupted, or until N events "
			       "with --count (N >= 1).\nEXPRESSION is the filter of `portwatch ports` "
			       "(see ports --help), evaluated\nby the daemon per event: an allocation "
			       "event matches on its port (sport), an\nexit on pid, comm and uid. drops "
			       "and resync events reach every watcher unless\n--event leaves them out. "
			       "Each event has ts (RFC 3339, the daemon's time zone)\nand ts_ns "
			       "(CLOCK_MONOTONIC): the kernel's time of the event, but a\nclose's "
			       "is when the daemon applied it (its hook reads no clock).\n");
			r = 0;
			goto fail;
		default:
			r = pw_cli_bad_option("watch", argv[optind - 1]);
			goto fail;
		}
	}
	r = build_filter("watch", argc - optind, argv + optind, NULL, &expr);
	if (r)
		goto fail;
	if (expr)
		r = pw_cli_set_str(cli->name ? cli->name : "ports", args, "filter", "filter", expr);
	free(expr);
	if (r)
		goto fail;
	if (json_array_size(events))
		json_object_set(args, "events", events);
	json_decref(events);
	r = pw_cli_call(cli, "watch", args, &res);
	if (r)
		return r;
	json_decref(res);
	/* no SA_RESTART: Ctrl-C interrupts the read */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stop && (!count || seen < count)) {
		const char *line;
		json_t *e;

		r = pw_conn_read_line(cli->conn, &line, -1);
		if (r == -EINTR)
			continue;
		if (r == -EMSGSIZE)
			return pw_cli_transport_error(cli, "watch", r);
		if (r) {
			fprintf(stderr, "portwatch watch: connection to portwatchd closed\n");
			return pw_errcode_exit(PW_E_NO_DAEMON);
		}
		seen++;
		e = json_loads(line, 0, NULL);
		/* the daemon let this watcher go, and says why */
		if (e && !strcmp(pw_jstr(e, "event"), "dropped")) {
			/* --json: the stream's last line says it (stderr stays free
			 * of text a JSON reader would trip on) */
			if (cli->json)
				printf("%s\n", line);
			else
				fprintf(stderr, "portwatch watch: dropped by portwatchd: %s\n",
					pw_jsafe(e, "reason"));
			json_decref(e);
			return PW_EXIT_DROPPED;
		}
		if (cli->json && !pw_cli_pretty(cli)) {
			printf("%s\n", line);
			json_decref(e);
			continue;
		}
		if (e && cli->json)
			pw_cli_print_json(e);
		else if (e)
			print_event_human(e);
		json_decref(e);
	}
	return 0;
fail:
	json_decref(events);
	json_decref(args);
	return r;
}

static int simple_opts(const char *cmd, int argc, char **argv, struct pw_cli *cli,
		       const char *help)
{
	static const struct option opts[] = { JSON_OPT, HELP_OPT, { 0 } };
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (opt == 'j') {
			cli->json = true;
		} else if (opt == 'h') {
			printf("%s", help);
			return -1;
		} else {
			return pw_cli_bad_option(cmd, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return pw_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

/* Nanoseconds in the unit that keeps 3 significant digits readable. */
static void fmt_ns(json_int_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%lld ns", (long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1f µs", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
}

int pw_cli_status(struct pw_cli *cli, int argc, char **argv)
{
	json_t *res, *ev, *lat, *al, *v;
	const char *k;
	int r;

	r = simple_opts("status", argc, argv, cli, "Usage: portwatch status [--json]\n\n"
			"Mode (bpf or polling), hooks, event counters, drops, resyncs,\n"
			"map size, uptime, kernel-to-map latency, allocations, recovery.\n");
	if (r)
		return r < 0 ? 0 : r;
	r = pw_cli_query(cli, "status", NULL, &res);
	if (r || !res)
		return r;
	printf("mode:        %s%s%s\n", pw_jsafe(res, "mode"), *pw_jstr(res, "mode_reason") ? " — " : "",
	       pw_jsafe(res, "mode_reason"));
	if (!strcmp(pw_jstr(res, "mode"), "bpf")) {
		size_t i;
		json_t *h;

		printf("hooks:      ");
		json_array_foreach(json_object_get(res, "hooks"), i, h)
			printf("%s%s", i ? ", " : " ", pw_cli_safe(json_string_value(h)));
		printf("\n");
		json_array_foreach(json_object_get(res, "degraded"), i, v)
			printf("degraded:    %s\n", pw_cli_safe(json_string_value(v)));
		printf("cgroup:      %s\n", pw_jsafe(res, "cgroup"));
	} else {
		printf("poll every:  %lld ms\n", (long long)pw_jnum(res, "poll_interval_ms"));
	}
	printf("uptime:      %.1f s\n", json_real_value(json_object_get(res, "uptime_s")));
	printf("map size:    %lld socket%s\n", (long long)pw_jnum(res, "map_size"),
	       pw_jnum(res, "map_size") == 1 ? "" : "s");
	printf("events:     ");
	ev = json_object_get(res, "events");
	json_object_foreach(ev, k, v)
		printf(" %s=%lld", pw_cli_safe(k), (long long)json_integer_value(v));
	printf("\n");
	printf("dropped:     %lld   resyncs: %lld   snapshots: %lld\n", (long long)pw_jnum(res, "dropped"),
	       (long long)pw_jnum(res, "resyncs"), (long long)pw_jnum(res, "snapshots"));
	lat = json_object_get(res, "latency_ns");
	{
		char p50[32], p99[32], max[32];

		fmt_ns(pw_jnum(lat, "p50"), p50, sizeof(p50));
		fmt_ns(pw_jnum(lat, "p99"), p99, sizeof(p99));
		fmt_ns(pw_jnum(lat, "max"), max, sizeof(max));
		/* the histogram keeps buckets 1/8 of a power of two wide: a quantile
		 * is known to lie in a bucket, and is shown as that bucket's top */
		if (!pw_jnum(lat, "count"))
			printf("latency:     no events yet (kernel to map)\n");
		else
		printf("latency:     p50 <= %s, p99 <= %s, max %s over %lld events, kernel to map\n"
		       "             (p50/p99: upper edge of the histogram bucket holding the\n"
		       "             quantile; buckets are 12.5%% wide, so the true value is at\n"
		       "             most 12.5%% lower)\n", p50, p99, max,
		       (long long)pw_jnum(lat, "count"));
	}
	printf("clients:     %lld (%lld watching)\n", (long long)pw_jnum(res, "clients"),
	       (long long)pw_jnum(res, "watchers"));
	al = json_object_get(res, "allocations");
	if (al) {
		printf("allocations: %lld", (long long)pw_jnum(al, "total"));
		json_object_foreach(json_object_get(al, "by_state"), k, v)
			if (json_integer_value(v))
				printf(" %s=%lld", pw_cli_safe(k), (long long)json_integer_value(v));
		printf("%s\n", json_is_false(json_object_get(al, "storage_ok"))
			       ? "  (STORAGE FAILING: allocations refused)" : "");
	}
	v = json_object_get(res, "storage");
	if (json_is_object(v) && !json_is_true(json_object_get(v, "ok")) && pw_jnum(v, "busy_ms"))
		printf("storage:     STALLED: a commit has waited %lld ms on the disk; "
		       "%lld write(s) dropped\n", (long long)pw_jnum(v, "busy_ms"),
		       (long long)pw_jnum(v, "dropped_writes"));
	v = json_object_get(res, "recovery");
	if (json_is_object(v)) {
		size_t i;
		json_t *st;

		printf("recovery:   ");
		json_array_foreach(json_object_get(v, "steps"), i, st)
			printf(" %s=%lld", pw_jsafe(st, "step"), (long long)pw_jnum(st, "count"));
		if (json_object_get(v, "database"))
			printf("  (database was corrupt: moved to %s)",
			       pw_jsafe(json_object_get(v, "database"), "moved_to"));
		printf("\n");
	}
	json_decref(res);
	return 0;
}
