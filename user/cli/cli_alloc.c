// SPDX-License-Identifier: GPL-2.0
/* CLI: allocate, run, release, list, check, types, audit. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct alloc_args {
	const char *type;
	json_t *args;
	bool quiet;
	bool explicit_pid;
	int listen;		/* run: 0, SOCK_STREAM (--listen) or SOCK_DGRAM (--udp) */
};

/* A duration: N (seconds), Nms, Ns, Nm, Nh. 0 or an exit code. */
static int parse_duration(const char *cmd, const char *opt, const char *s, unsigned long *ms)
{
	static const struct { const char *unit; unsigned long mul; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (end == s || *s == '-' || errno)
		return pw_cli_usage(cmd, "%s: \"%s\" is not a duration (e.g. 10s, 500ms, 2m)",
				    opt, s);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		if (v > 86400000ul / units[i].mul)
			return pw_cli_usage(cmd, "%s: %s is longer than a day", opt, s);
		*ms = v * units[i].mul;
		return 0;
	}
	return pw_cli_usage(cmd, "%s: unknown unit in \"%s\" (ms, s, m or h)", opt, s);
}

/* Options shared by allocate and run; returns 0, or an exit code. */
static int parse_alloc(const char *cmd, struct pw_cli *cli, int argc, char **argv,
		       struct alloc_args *aa, bool allow_pid)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "port", required_argument, NULL, 'p' },
		{ "pid", required_argument, NULL, 'P' }, { "project", required_argument, NULL, 'd' },
		{ "exclusive", no_argument, NULL, 'x' }, { "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "hold", required_argument, NULL, 'H' }, { "listen", no_argument, NULL, 'l' },
		{ "udp", no_argument, NULL, 'u' }, { 0 }
	};
	unsigned long v;
	int opt, r;

	aa->args = json_object();
	optind = 0;
again:
	/* "+": stop at the first non-option, so run's command keeps its own options */
	while ((opt = getopt_long(argc, argv, "+n:p:P:d:xqjhH:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			r = pw_cli_set_str(cmd, aa->args, "name", "--name", optarg);
			if (r)
				return r;
			break;
		case 'p':
			r = pw_cli_uint(cmd, "--port", optarg, 1, 65535, &v);
			if (r)
				return r;
			json_object_set_new(aa->args, "port", json_integer((json_int_t)v));
			break;
		case 'P':
			if (!allow_pid)
				return pw_cli_usage(cmd, "--pid: the command run becomes the owner");
			/* pid 0 would be the daemon's peer: this short-lived command */
			r = pw_cli_uint(cmd, "--pid", optarg, 1, 4194304, &v);
			if (r)
				return r;
			json_object_set_new(aa->args, "pid", json_integer((json_int_t)v));
			aa->explicit_pid = true;
			break;
		case 'd':
			r = pw_cli_set_str(cmd, aa->args, "project", "--project", optarg);
			if (r)
				return r;
			break;
		case 'x':
			json_object_set_new(aa->args, "exclusive", json_true());
			break;
		case 'q':
			aa->quiet = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			return -1;
		case 'H':
			r = parse_duration(cmd, "--hold", optarg, &v);
			if (r)
				return r;
			json_object_set_new(aa->args, "hold_ms", json_integer((json_int_t)v));
			break;
		case 'l':
		case 'u':
			if (allow_pid)
				return pw_cli_usage(cmd, "--%s: only for run", opt == 'l' ? "listen"
											 : "udp");
			aa->listen = opt == 'l' ? SOCK_STREAM : SOCK_DGRAM;
			break;
		default:
			return pw_cli_bad_option(cmd, argv[optind - 1]);
		}
	}
	/* SERVICE_TYPE may stand between options; "--" ends them */
	if (!aa->type && optind < argc && strcmp(argv[optind - 1], "--")) {
		aa->type = argv[optind++];
		goto again;
	}
	if (!aa->type)
		return pw_cli_usage(cmd, "SERVICE_TYPE: required");
	return pw_cli_set_str(cmd, aa->args, "service_type", "SERVICE_TYPE", aa->type);
}

static void print_alloc(json_t *a)
{
	printf("port %lld allocated to %s%s%s (id %lld, owner pid %lld %s)%s\n",
	       (long long)pw_jnum(a, "port"), pw_jsafe(a, "service_type"), *pw_jstr(a, "name") ? " " : "",
	       pw_jsafe(a, "name"), (long long)pw_jnum(a, "id"), (long long)pw_jnum(a, "pid"), pw_jsafe(a, "comm"),
	       json_is_true(json_object_get(a, "existing"))
		       ? " [existing: single-instance type]" : "");
}

int pw_cli_allocate(struct pw_cli *cli, int argc, char **argv)
{
	struct alloc_args aa = { 0 };
	json_t *res;
	int r;

	r = parse_alloc("allocate", cli, argc, argv, &aa, true);
	if (r == -1) {
		printf("Usage: portwatch allocate SERVICE_TYPE [--name NAME] [--port PREFERRED]\n"
		       "         [--pid PID] [--project DIR] [--hold DURATION] [--exclusive]\n"
		       "         [--quiet] [--json]\n\n"
		       "Allocate a port of SERVICE_TYPE. The owner is this command's parent (your\n"
		       "shell or script) unless --pid names another of your own processes (root: any).\n"
		       "The port follows its sockets: when the owner exits while another process\n"
		       "holds a socket on it (a daemonized child), that process becomes the owner;\n"
		       "with none left, the allocation goes stale. --hold DURATION (10s, 500ms, 2m)\n"
		       "keeps it after the owner exits, until a process of your uid binds the port\n"
		       "(it becomes the owner) or the hold expires. --quiet prints the port only.\n"
		       "A single-instance type returns the live allocation; --exclusive fails instead.\n");
		json_decref(aa.args);
		return 0;
	}
	if (r) {
		json_decref(aa.args);
		return r;
	}
	if (optind < argc) {
		json_decref(aa.args);
		return pw_cli_usage("allocate", "unexpected argument \"%s\"", argv[optind]);
	}
	if (!aa.explicit_pid) {
		json_object_set_new(aa.args, "pid", json_integer(getppid()));
		json_object_set_new(aa.args, "pid_is_parent", json_true());
	}
	r = pw_cli_call(cli, "allocate", aa.args, &res);
	if (r)
		return r;
	if (cli->json)
		pw_cli_print_json(res);
	else if (aa.quiet)
		printf("%lld\n", (long long)pw_jnum(res, "port"));
	else
		print_alloc(res);
	json_decref(res);
	return 0;
}

/* Bind the port (any address, IPv6 with IPv4 where the host allows), listen
 * when TCP, and leave it as fd 3 for CMD the way systemd's socket activation
 * passes sockets (sd_listen_fds). 0 or an exit code. */
static int hand_socket(int type, uint16_t port, const char *name)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd, zero = 0, one = 1;
	char pid[16];

	fd = socket(AF_INET6, type, 0);
	if (fd >= 0 && (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
			(type == SOCK_STREAM &&
			 setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
			bind(fd, (struct sockaddr *)&s6, sizeof(s6)))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		fd = socket(AF_INET, type, 0);
		if (fd >= 0 && type == SOCK_STREAM)
			(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&s4, sizeof(s4))) {
			fprintf(stderr, "portwatch run: cannot bind port %u: %m\n", port);
			return pw_errcode_exit(PW_E_CONFLICT);
		}
	}
	if (type == SOCK_STREAM && listen(fd, SOMAXCONN)) {
		fprintf(stderr, "portwatch run: cannot listen on port %u: %m\n", port);
		return 1;
	}
	if (fd != 3 && (dup2(fd, 3) < 0 || close(fd))) {
		fprintf(stderr, "portwatch run: cannot pass the socket as fd 3: %m\n");
		return 1;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (setenv("LISTEN_FDS", "1", 1) || setenv("LISTEN_PID", pid, 1) ||
	    setenv("LISTEN_FDNAMES", name, 1)) {
		perror("portwatch run: setenv");
		return 1;
	}
	return 0;
}

int pw_cli_run(struct pw_cli *cli, int argc, char **argv)
{
	struct alloc_args aa = { 0 };
	char port[16], id[32];
	json_t *res;
	int r;

	r = parse_alloc("run", cli, argc, argv, &aa, false);
	if (r == -1) {
		printf("Usage: portwatch run SERVICE_TYPE [--name NAME] [--port PREFERRED]\n"
		       "         [--project DIR] [--exclusive] [--listen | --udp] -- CMD [ARGS...]\n\n"
		       "Allocate a port, then exec CMD with PORT=<port> and PORTWATCH_ID=<id> in its\n"
		       "environment. CMD keeps this process's pid and becomes the owner: the\n"
		       "allocation is released when it (and whatever holds its sockets) exits.\n"
		       "CMD must use $PORT, e.g.\n"
		       "  portwatch run api -- sh -c 'exec python3 -m http.server \"$PORT\"'\n"
		       "--listen binds and listens on the port (TCP) before exec and passes it as\n"
		       "fd 3 with LISTEN_FDS=1, LISTEN_PID and LISTEN_FDNAMES, as systemd socket\n"
		       "activation does (--udp: a bound UDP socket): no other process can take the\n"
		       "port between allocation and the server's start. On a single-instance type\n"
		       "allocated to another owner, run fails (exit 12); if you own it, CMD gets it;\n"
		       "--exclusive fails on any existing one.\n");
		json_decref(aa.args);
		return 0;
	}
	if (r) {
		json_decref(aa.args);
		return r;
	}
	if (optind == argc) {
		json_decref(aa.args);
		return pw_cli_usage("run", "CMD: required after --");
	}
	/* exec keeps our pid and start time, so the command is the owner */
	json_object_set_new(aa.args, "pid", json_integer(getpid()));
	json_object_set_new(aa.args, "run", json_true());
	r = pw_cli_call(cli, "allocate", aa.args, &res);
	if (r)
		return r;
	snprintf(port, sizeof(port), "%lld", (long long)pw_jnum(res, "port"));
	snprintf(id, sizeof(id), "%lld", (long long)pw_jnum(res, "id"));
	json_decref(res);
	pw_conn_close(cli->conn);
	cli->conn = NULL;
	if (aa.listen) {
		r = hand_socket(aa.listen, (uint16_t)atoi(port), aa.type);
		if (r)
			return r;
	}
	if (setenv("PORT", port, 1) || setenv("PORTWATCH_ID", id, 1)) {
		perror("portwatch run: setenv");
		return 1;
	}
	fflush(stdout);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "portwatch run: cannot execute %s: %m\n", pw_cli_safe(argv[optind]));
	return 127;
}

int pw_cli_release(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	json_t *args = json_object(), *res;
	unsigned long v;
	bool have = false;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "i:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			r = pw_cli_uint("release", "--id", optarg, 1, (unsigned long)-1 >> 1, &v);
			if (r)
				goto out;
			json_object_set_new(args, "id", json_integer((json_int_t)v));
			have = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("Usage: portwatch release PORT | --id ID [--json]\n\nRelease an "
			       "allocation. Users may release their own; root any.\n");
			r = 0;
			goto out;
		default:
			r = pw_cli_bad_option("release", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc && have) {
		r = pw_cli_usage("release", "PORT and --id: give one or the other, got PORT \"%s\" "
				 "too", argv[optind]);
		goto out;
	}
	if (optind < argc) {
		r = pw_cli_uint("release", "PORT", argv[optind++], 1, 65535, &v);
		if (r)
			goto out;
		json_object_set_new(args, "port", json_integer((json_int_t)v));
		have = true;
	}
	if (!have) {
		r = pw_cli_usage("release", "PORT or --id ID: required");
		goto out;
	}
	if (optind < argc) {
		r = pw_cli_usage("release", "unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	r = pw_cli_call(cli, "release", args, &res);
	if (r)
		return r;
	if (cli->json)
		pw_cli_print_json(res);
	else
		printf("released port %lld (%s, id %lld)\n", (long long)pw_jnum(res, "port"),
		       pw_jsafe(res, "service_type"), (long long)pw_jnum(res, "id"));
	json_decref(res);
	return 0;
out:
	json_decref(args);
	return r;
}

static void fmt_time(json_int_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm);
}

int pw_cli_list(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	static const char *const hdr[] = { "ID", "PORT", "TYPE", "NAME", "STATE", "PID", "COMM",
					   "UID", "CREATED", "LIVE" };
	json_t *args = json_object(), *res, *a;
	struct pw_table *t;
	size_t i;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "t:jh", opts, NULL)) != -1) {
		if (opt == 't') {
			r = pw_cli_set_str("list", args, "service_type", "--type", optarg);
			if (r) {
				json_decref(args);
				return r;
			}
		} else if (opt == 'j') {
			cli->json = true;
		} else if (opt == 'h') {
			printf("Usage: portwatch list [--type TYPE] [--json]\n\nAllocations, with "
			       "what the live port map says of each port:\nfree, bound by the owner, "
			       "or bound by someone else.\n");
			json_decref(args);
			return 0;
		} else {
			json_decref(args);
			return pw_cli_bad_option("list", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		json_decref(args);
		return pw_cli_usage("list", "unexpected argument \"%s\"", argv[optind]);
	}
	r = pw_cli_query(cli, "list", args, &res);
	if (r || !res)
		return r;
	t = pw_table_new(10, hdr);
	json_array_foreach(res, i, a) {
		char id[24], port[8], pid[16], uid[16], created[32], live[64];
		json_t *l = json_object_get(a, "live");
		const char *row[10] = { id, port, pw_jstr(a, "service_type"),
					*pw_jstr(a, "name") ? pw_jstr(a, "name") : "-", pw_jstr(a, "state"),
					pid, pw_jstr(a, "comm"), uid, created, live };

		snprintf(id, sizeof(id), "%lld", (long long)pw_jnum(a, "id"));
		snprintf(port, sizeof(port), "%lld", (long long)pw_jnum(a, "port"));
		snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(a, "pid"));
		snprintf(uid, sizeof(uid), "%lld", (long long)pw_jnum(a, "uid"));
		fmt_time(pw_jnum(a, "created_at"), created, sizeof(created));
		if (!strcmp(pw_jstr(l, "status"), "bound_by_other"))
			snprintf(live, sizeof(live), "bound by pid %lld (%s)", (long long)pw_jnum(l, "pid"),
				 pw_jstr(l, "comm"));
		else
			snprintf(live, sizeof(live), "%s", !strcmp(pw_jstr(l, "status"), "free")
				 ? "free" : "bound by owner");
		pw_table_add(t, row);
	}
	pw_table_print(t);
	pw_table_free(t);
	json_decref(res);
	return 0;
}

int pw_cli_check(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 }
	};
	json_t *res, *a, *s;
	unsigned long port;
	size_t i;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (opt == 'j') {
			cli->json = true;
		} else if (opt == 'h') {
			printf("Usage: portwatch check PORT [--json]\n\nIs PORT allocated? Bound? "
			       "By whom? Reserved?\n");
			return 0;
		} else {
			return pw_cli_bad_option("check", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return pw_cli_usage("check", "exactly one PORT expected");
	r = pw_cli_uint("check", "PORT", argv[optind], 1, 65535, &port);
	if (r)
		return r;
	r = pw_cli_query(cli, "check", json_pack("{s:i}", "port", (int)port), &res);
	if (r || !res)
		return r;
	a = json_object_get(res, "allocation");
	printf("port %lu", port);
	if (json_is_string(json_object_get(res, "service_type")))
		printf(" (range of %s)", pw_jsafe(res, "service_type"));
	printf("\n  allocated: ");
	if (json_is_object(a))
		printf("yes, id %lld to %s%s%s, owner pid %lld (%s), uid %lld, %s\n",
		       (long long)pw_jnum(a, "id"), pw_jsafe(a, "service_type"), *pw_jstr(a, "name") ? " " : "",
		       pw_jsafe(a, "name"), (long long)pw_jnum(a, "pid"), pw_jsafe(a, "comm"),
		       (long long)pw_jnum(a, "uid"), pw_jsafe(a, "state"));
	else
		printf("no\n");
	if (json_is_string(json_object_get(res, "reserved")))
		printf("  reserved:  manual allocation %s\n", pw_jsafe(res, "reserved"));
	if (json_is_true(json_object_get(res, "conflicted")))
		printf("  conflicted: a test bind failed recently\n");
	printf("  bound:     %s\n", json_array_size(json_object_get(res, "sockets")) ? "yes" : "no");
	json_array_foreach(json_object_get(res, "sockets"), i, s) {
		char local[200], owner[128], netns[300];

		snprintf(local, sizeof(local), strcmp(pw_jstr(s, "family"), "ipv6") ? "%s:%lld" :
			 "[%s]:%lld", pw_jsafe(s, "addr"), (long long)pw_jnum(s, "port"));
		if (pw_jnum(s, "pid"))
			snprintf(owner, sizeof(owner), "pid %lld (%s)", (long long)pw_jnum(s, "pid"),
				 pw_jsafe(s, "comm"));
		else
			/* the kernel did not say, and no /proc/PID/fd we can read holds it */
			snprintf(owner, sizeof(owner), "owner unknown");
		pw_fmt_netns(s, netns, sizeof(netns));
		printf("    %s %s %s, %s, uid %lld, netns %s\n", pw_jsafe(s, "proto"), local,
		       pw_jsafe(s, "state"), owner, (long long)pw_jnum(s, "uid"), pw_cli_safe(netns));
	}
	json_decref(res);
	return 0;
}

int pw_cli_types(struct pw_cli *cli, int argc, char **argv)
{
	static const char *const hdr[] = { "TYPE", "RANGE", "PREFERRED", "SINGLE", "USED", "FREE",
					   "DESCRIPTION" };
	json_t *res, *v;
	struct pw_table *t;
	size_t i;
	int r;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: portwatch types [--json]\n\nService types with their ranges and "
		       "how many ports are used and free.\n");
		return 0;
	}
	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") && strcmp(argv[k], "-j"))
			return pw_cli_usage("types", "unexpected argument \"%s\"", argv[k]);
		cli->json = true;
	}
	r = pw_cli_query(cli, "types", NULL, &res);
	if (r || !res)
		return r;
	t = pw_table_new(7, hdr);
	json_array_foreach(res, i, v) {
		json_t *rg = json_object_get(v, "port_range"), *p;
		char range[16], pref[64] = "", used[16], freec[16];
		size_t k, off = 0;
		const char *row[7] = { pw_jstr(v, "name"), range, pref,
				       json_is_true(json_object_get(v, "single")) ? "yes" : "no",
				       used, freec, pw_jstr(v, "description") };

		snprintf(range, sizeof(range), "%lld-%lld",
			 (long long)json_integer_value(json_array_get(rg, 0)),
			 (long long)json_integer_value(json_array_get(rg, 1)));
		json_array_foreach(json_object_get(v, "preferred_ports"), k, p)
			if (off < sizeof(pref) - 8)
				off += (size_t)snprintf(pref + off, sizeof(pref) - off, "%s%lld",
							k ? "," : "", (long long)json_integer_value(p));
		snprintf(used, sizeof(used), "%lld", (long long)pw_jnum(v, "used"));
		snprintf(freec, sizeof(freec), "%lld", (long long)pw_jnum(v, "free"));
		pw_table_add(t, row);
	}
	pw_table_print(t);
	pw_table_free(t);
	json_decref(res);
	return 0;
}

int pw_cli_audit(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'n' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	static const char *const hdr[] = { "ID", "TIME", "UID", "PID", "ACTION", "OUTCOME", "PORT",
					   "TYPE", "DETAIL" };
	json_t *args = json_object(), *res, *v;
	struct pw_table *t;
	unsigned long n;
	size_t i;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "n:jh", opts, NULL)) != -1) {
		if (opt == 'n') {
			r = pw_cli_uint("audit", "--limit", optarg, 1, 100000, &n);
			if (r) {
				json_decref(args);
				return r;
			}
			json_object_set_new(args, "limit", json_integer((json_int_t)n));
		} else if (opt == 'j') {
			cli->json = true;
		} else if (opt == 'h') {
			printf("Usage: portwatch audit [--limit N] [--json]\n\nThe newest N (1-100000, "
			       "default 50) audit records: allocations, releases, refusals, conflicts,\n"
			       "state changes and recovery actions, with who asked.\n");
			json_decref(args);
			return 0;
		} else {
			json_decref(args);
			return pw_cli_bad_option("audit", argv[optind - 1]);
		}
	}
	r = pw_cli_query(cli, "audit", args, &res);
	if (r || !res)
		return r;
	t = pw_table_new(9, hdr);
	json_array_foreach(res, i, v) {
		char id[24], when[32], uid[16], pid[16], port[8];
		const char *row[9] = { id, when, uid, pid, pw_jstr(v, "action"), pw_jstr(v, "outcome"), port,
				       pw_jstr(v, "service_type"), pw_jstr(v, "detail") };

		snprintf(id, sizeof(id), "%lld", (long long)pw_jnum(v, "id"));
		fmt_time(pw_jnum(v, "ts_ms"), when, sizeof(when));
		snprintf(uid, sizeof(uid), "%lld", (long long)pw_jnum(v, "uid"));
		snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(v, "pid"));
		snprintf(port, sizeof(port), "%lld", (long long)pw_jnum(v, "port"));
		pw_table_add(t, row);
	}
	pw_table_print(t);
	pw_table_free(t);
	json_decref(res);
	return 0;
}
