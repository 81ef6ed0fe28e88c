// SPDX-License-Identifier: GPL-2.0
/* CLI: ports, watch, status. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define JSON_OPT { "json", no_argument, NULL, 'j' }
#define HELP_OPT { "help", no_argument, NULL, 'h' }

static void fmt_addr(json_t *o, char *buf, size_t len)
{
	const char *fam = pw_jstr(o, "family");

	snprintf(buf, len, strcmp(fam, "ipv6") ? "%s:%lld" : "[%s]:%lld", pw_jstr(o, "addr"),
		 (long long)pw_jnum(o, "port"));
}

int pw_cli_ports(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcp", no_argument, NULL, 't' }, { "udp", no_argument, NULL, 'u' },
		{ "listening", no_argument, NULL, 'l' }, { "port", required_argument, NULL, 'p' },
		{ "pid", required_argument, NULL, 'P' }, { "netns", required_argument, NULL, 'n' },
		JSON_OPT, HELP_OPT, { 0 }
	};
	static const char *const hdr[] = { "PROTO", "LOCAL", "STATE", "PID", "COMM", "UID", "NETNS" };
	json_t *args = json_object(), *res, *v;
	struct pw_table *t;
	unsigned long n;
	size_t i;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "tulp:P:n:jh", opts, NULL)) != -1) {
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
		case 'n':
			r = pw_cli_uint("ports", opt == 'p' ? "--port" : opt == 'P' ? "--pid" : "--netns",
					optarg, opt == 'p' ? 65535 : opt == 'P' ? 4194304 : (unsigned long)-1 >> 1, &n);
			if (r) {
				json_decref(args);
				return r;
			}
			json_object_set_new(args, opt == 'p' ? "port" : opt == 'P' ? "pid" : "netns",
					    json_integer((json_int_t)n));
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("Usage: portwatch ports [--tcp|--udp] [--listening] [--port N] [--pid N] "
			       "[--netns ID] [--json]\n\nEvery bound TCP/UDP socket the kernel reports, "
			       "with its owner, in every network namespace.\n");
			json_decref(args);
			return 0;
		default:
			json_decref(args);
			return pw_cli_usage("ports", "bad option");
		}
	}
	if (optind < argc) {
		json_decref(args);
		return pw_cli_usage("ports", "unexpected argument \"%s\"", argv[optind]);
	}
	if (cli->json) {
		const char *raw;
		size_t len;

		/* the daemon's JSON as it is: 100,000 sockets print without a parse */
		r = pw_cli_call_raw(cli, "ports", args, &raw, &len);
		if (r)
			return r;
		fwrite(raw, 1, len, stdout);
		putchar('\n');
		return 0;
	}
	r = pw_cli_call(cli, "ports", args, &res);
	if (r)
		return r;
	t = pw_table_new(7, hdr);
	json_array_foreach(res, i, v) {
		char local[80], pid[16], uid[16], netns[24];
		const char *row[7];

		fmt_addr(v, local, sizeof(local));
		snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(v, "pid"));
		snprintf(uid, sizeof(uid), "%lld", (long long)pw_jnum(v, "uid"));
		snprintf(netns, sizeof(netns), "%lld", (long long)pw_jnum(v, "netns"));
		row[0] = pw_jstr(v, "proto");
		row[1] = local;
		row[2] = pw_jstr(v, "state");
		row[3] = pw_jnum(v, "pid") ? pid : "-";
		row[4] = *pw_jstr(v, "comm") ? pw_jstr(v, "comm") : "-";
		row[5] = uid;
		row[6] = netns;
		pw_table_add(t, row);
	}
	pw_table_print(t);
	pw_table_free(t);
	json_decref(res);
	return 0;
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
	char local[80], when[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("%s.%03ld %-10s ", when, ts.tv_nsec / 1000000, ev);
	if (!strcmp(ev, "exit")) {
		printf("pid %lld (%s) exit_code %lld\n", (long long)pw_jnum(e, "pid"), pw_jstr(e, "comm"),
		       (long long)pw_jnum(e, "exit_code"));
	} else if (!strcmp(ev, "allocation")) {
		printf("port %lld (%s, id %lld): %s -> %s: %s\n", (long long)pw_jnum(e, "port"),
		       pw_jstr(e, "service_type"), (long long)pw_jnum(e, "id"), pw_jstr(e, "old_state"),
		       pw_jstr(e, "state"), pw_jstr(e, "reason"));
	} else if (!strcmp(ev, "drops") || !strcmp(ev, "resync")) {
		char *s = json_dumps(e, JSON_COMPACT);

		printf("%s\n", s ? s : "");
		free(s);
	} else {
		fmt_addr(e, local, sizeof(local));
		printf("%s %s pid %lld (%s) netns %lld\n", pw_jstr(e, "proto"), local,
		       (long long)pw_jnum(e, "pid"), pw_jstr(e, "comm"), (long long)pw_jnum(e, "netns"));
	}
	fflush(stdout);
}

int pw_cli_watch(struct pw_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' }, JSON_OPT, HELP_OPT, { 0 }
	};
	unsigned long count = 0, seen = 0;
	struct sigaction sa = { .sa_handler = on_sigint };
	json_t *res;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			r = pw_cli_uint("watch", "--count", optarg, 1ul << 40, &count);
			if (r)
				return r;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf("Usage: portwatch watch [--count N] [--json]\n\nFollow the live event "
			       "stream (bind, close, listen, unlisten, exit, allocation, drops,\n"
			       "resync) until interrupted, or until N events with --count.\n");
			return 0;
		default:
			return pw_cli_usage("watch", "bad option");
		}
	}
	r = pw_cli_call(cli, "watch", NULL, &res);
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
		if (r) {
			fprintf(stderr, "portwatch watch: connection to portwatchd closed\n");
			return pw_errcode_exit(PW_E_NO_DAEMON);
		}
		seen++;
		e = json_loads(line, 0, NULL);
		/* the daemon let this watcher go, and says why */
		if (e && !strcmp(pw_jstr(e, "event"), "dropped")) {
			if (cli->json)
				printf("%s\n", line);
			fprintf(stderr, "portwatch watch: dropped by portwatchd: %s\n",
				pw_jstr(e, "reason"));
			json_decref(e);
			return PW_EXIT_DROPPED;
		}
		if (cli->json) {
			printf("%s\n", line);
			json_decref(e);
			continue;
		}
		if (e)
			print_event_human(e);
		json_decref(e);
	}
	return 0;
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
			return pw_cli_usage(cmd, "bad option");
		}
	}
	if (optind < argc)
		return pw_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
	return 0;
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
	printf("mode:        %s%s%s\n", pw_jstr(res, "mode"), *pw_jstr(res, "mode_reason") ? " — " : "",
	       pw_jstr(res, "mode_reason"));
	if (!strcmp(pw_jstr(res, "mode"), "bpf")) {
		char *hooks = json_dumps(json_object_get(res, "hooks"), JSON_COMPACT);

		printf("hooks:       %s\n", hooks ? hooks : "");
		printf("cgroup:      %s\n", pw_jstr(res, "cgroup"));
		free(hooks);
	} else {
		printf("poll every:  %lld ms\n", (long long)pw_jnum(res, "poll_interval_ms"));
	}
	printf("uptime:      %.1f s\n", json_real_value(json_object_get(res, "uptime_s")));
	printf("map size:    %lld sockets\n", (long long)pw_jnum(res, "map_size"));
	printf("events:     ");
	ev = json_object_get(res, "events");
	json_object_foreach(ev, k, v)
		printf(" %s=%lld", k, (long long)json_integer_value(v));
	printf("\n");
	printf("dropped:     %lld   resyncs: %lld   snapshots: %lld\n", (long long)pw_jnum(res, "dropped"),
	       (long long)pw_jnum(res, "resyncs"), (long long)pw_jnum(res, "snapshots"));
	lat = json_object_get(res, "latency_ns");
	printf("latency:     p50 %.1f us  p99 %.1f us  max %.1f us  (%lld events, kernel to map)\n",
	       (double)pw_jnum(lat, "p50") / 1e3, (double)pw_jnum(lat, "p99") / 1e3,
	       (double)pw_jnum(lat, "max") / 1e3, (long long)pw_jnum(lat, "count"));
	printf("clients:     %lld (%lld watching)\n", (long long)pw_jnum(res, "clients"),
	       (long long)pw_jnum(res, "watchers"));
	al = json_object_get(res, "allocations");
	if (al) {
		printf("allocations: %lld", (long long)pw_jnum(al, "total"));
		json_object_foreach(json_object_get(al, "by_state"), k, v)
			if (json_integer_value(v))
				printf(" %s=%lld", k, (long long)json_integer_value(v));
		printf("%s\n", json_is_false(json_object_get(al, "storage_ok"))
			       ? "  (STORAGE FAILING: allocations refused)" : "");
	}
	v = json_object_get(res, "recovery");
	if (json_is_object(v)) {
		size_t i;
		json_t *st;

		printf("recovery:   ");
		json_array_foreach(json_object_get(v, "steps"), i, st)
			printf(" %s=%lld", pw_jstr(st, "step"), (long long)pw_jnum(st, "count"));
		if (json_object_get(v, "database"))
			printf("  (database was corrupt: moved to %s)",
			       pw_jstr(json_object_get(v, "database"), "moved_to"));
		printf("\n");
	}
	json_decref(res);
	return 0;
}
