// SPDX-License-Identifier: GPL-2.0
/*
 * CLI habits of Styxy users: its flag spellings for allocate (-s TYPE,
 * --service TYPE), cleanup [--dry-run], scan [START-END] over the live map,
 * doctor (each area with a verdict and a hint), config show|validate.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "utf8.h"

/* allocate: "-s TYPE" / "--service TYPE" / "--service=TYPE" become the
 * positional SERVICE_TYPE; everything else goes to allocate as it is. */
int pw_cli_allocate_styxy(struct pw_cli *cli, int argc, char **argv)
{
	char **v = calloc((size_t)argc + 2, sizeof(*v));
	char *type = NULL;
	int n = 0, r;

	if (!v)
		return 1;
	for (int i = 0; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--service")) && i + 1 < argc) {
			type = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--service=", 10)) {
			type = argv[i] + 10;
			continue;
		}
		if (!strcmp(argv[i], "--") && type)
			v[n++] = type, type = NULL;
		v[n++] = argv[i];
	}
	if (type)
		v[n++] = type;
	v[n] = NULL;
	r = pw_cli_allocate(cli, n, v);
	free(v);
	return r;
}

/* --- cleanup ----------------------------------------------------------------- */

static void print_report(json_t *rep)
{
	json_t *steps = json_object_get(rep, "steps"), *st, *a;
	size_t i, k;

	json_array_foreach(steps, i, st) {
		if (!strcmp(pw_jstr(st, "step"), "database"))
			continue;
		json_array_foreach(json_object_get(st, "actions"), k, a)
			printf("  %-10s %s\n", pw_jsafe(st, "step"), pw_cli_safe(json_string_value(a)));
	}
}

int pw_cli_cleanup(struct pw_cli *cli, int argc, char **argv)
{
	bool dry = false;
	json_t *res;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-n")) {
			dry = true;
		} else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			cli->json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: portwatch cleanup [--dry-run] [--json]\n\n"
			       "Apply start-up recovery now: release allocations whose owner is gone,\n"
			       "mark conflicts, keep one allocation per single-instance type. Runs even\n"
			       "when the config turns recovery at start-up off. Root only, except with\n"
			       "--dry-run, which lists what would be done.\n");
			return 0;
		} else {
			return pw_cli_usage("cleanup", "unexpected argument \"%s\"", argv[i]);
		}
	}
	r = pw_cli_call(cli, "cleanup", json_pack("{s:b}", "dry_run", dry), &res);
	if (r)
		return r;
	if (cli->json) {
		pw_cli_print_json(res);
	} else {
		printf("%s: %lld action(s)%s\n", dry ? "cleanup (dry run)" : "cleanup",
		       (long long)pw_jnum(res, "actions"), pw_jnum(res, "actions") ? ":" : "");
		print_report(res);
	}
	json_decref(res);
	return 0;
}

/* --- scan -------------------------------------------------------------------- */

static int parse_range(const char *s, unsigned long *lo, unsigned long *hi)
{
	char *end;

	errno = 0;
	*lo = strtoul(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	if (*end == '-' || *end == ':') {
		const char *h = end + 1;

		*hi = strtoul(h, &end, 10);
		if (end == h || errno)
			return -EINVAL;
	} else {
		*hi = *lo;
	}
	return *end || !*lo || *lo > *hi || *hi > 65535 ? -EINVAL : 0;
}

int pw_cli_scan(struct pw_cli *cli, int argc, char **argv)
{
	unsigned long lo = 1, hi = 65535;
	json_t *ports, *allocs, *s, *out, *a;
	const char *const hdr[] = { "PORT", "PROTO", "ADDR", "PID", "COMM", "STATE", "ALLOCATION" };
	struct pw_table *t;
	size_t i, k;
	int r;

	for (int i2 = 1; i2 < argc; i2++) {
		if (!strcmp(argv[i2], "--json") || !strcmp(argv[i2], "-j")) {
			cli->json = true;
		} else if (!strcmp(argv[i2], "-h") || !strcmp(argv[i2], "--help")) {
			printf("Usage: portwatch scan [START-END] [--json]\n\n"
			       "Ports in use in the range (default 1-65535), from the live port map,\n"
			       "with the allocation that holds each, if any.\n");
			return 0;
		} else if (parse_range(argv[i2], &lo, &hi)) {
			return pw_cli_usage("scan", "\"%s\": expected START-END, 1 <= START <= END "
					    "<= 65535", argv[i2]);
		}
	}
	r = pw_cli_call(cli, "ports", NULL, &ports);
	if (r)
		return r;
	r = pw_cli_call(cli, "list", NULL, &allocs);
	if (r) {
		json_decref(ports);
		return r;
	}
	out = json_array();
	json_array_foreach(ports, i, s) {
		json_int_t p = pw_jnum(s, "port");

		if (p < (json_int_t)lo || p > (json_int_t)hi)
			continue;
		a = NULL;
		json_array_foreach(allocs, k, a)
			if (pw_jnum(a, "port") == p)
				break;
		if (k == json_array_size(allocs))
			a = NULL;
		json_array_append_new(out, json_pack("{s:O, s:O}", "socket", s, "allocation",
						     a ? a : json_null()));
	}
	/* allocations not bound are in use too (reserved) */
	json_array_foreach(allocs, k, a) {
		json_int_t p = pw_jnum(a, "port");
		bool seen = false;

		if (p < (json_int_t)lo || p > (json_int_t)hi)
			continue;
		json_array_foreach(ports, i, s)
			seen |= pw_jnum(s, "port") == p;
		if (!seen)
			json_array_append_new(out, json_pack("{s:n, s:O}", "socket", "allocation", a));
	}
	if (cli->json) {
		char range[16];
		json_t *doc;

		snprintf(range, sizeof(range), "%lu-%lu", lo, hi);
		doc = json_pack("{s:s, s:o}", "scan_range", range, "ports_in_use", out);
		pw_cli_print_json(doc);
		json_decref(doc);
		json_decref(ports);
		json_decref(allocs);
		return 0;
	}
	t = pw_table_new(7, hdr);
	json_array_foreach(out, i, s) {
		json_t *so = json_object_get(s, "socket"), *al = json_object_get(s, "allocation");
		char port[8], pid[16], alloc[160];

		snprintf(port, sizeof(port), "%lld",
			 (long long)pw_jnum(json_is_object(so) ? so : al, "port"));
		/* an owner the kernel did not name shows as "-", as in ports */
		if (pw_jnum(so, "pid"))
			snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(so, "pid"));
		else
			snprintf(pid, sizeof(pid), "-");
		if (json_is_object(al))
			snprintf(alloc, sizeof(alloc), "%s%s%s (id %lld, %s)",
				 pw_jstr(al, "service_type"), *pw_jstr(al, "name") ? " " : "",
				 pw_jstr(al, "name"), (long long)pw_jnum(al, "id"),
				 pw_jstr(al, "state"));
		else
			snprintf(alloc, sizeof(alloc), "-");
		pw_table_add(t, (const char *const[]){ port, json_is_object(so) ? pw_jstr(so, "proto")
								: "-",
				  json_is_object(so) ? pw_jstr(so, "addr") : "-",
				  json_is_object(so) ? pid : "-",
				  json_is_object(so) && *pw_jstr(so, "comm") ? pw_jstr(so, "comm") : "-",
				  json_is_object(so) ? pw_jstr(so, "state") : "reserved", alloc });
	}
	pw_table_print(t);
	pw_table_free(t);
	printf("%zu port(s) in use in %lu-%lu\n", json_array_size(out), lo, hi);
	json_decref(out);
	json_decref(ports);
	json_decref(allocs);
	return 0;
}

/* --- doctor --------------------------------------------------------------------- */

static void verdict(json_t *arr, bool json, const char *area, const char *v, const char *what,
		    const char *hint)
{
	if (json) {
		/* what may hold the socket's path: any bytes, JSON takes UTF-8 */
		size_t n = strlen(what) * 4 + 1;
		char *u = malloc(n);

		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "area", area,
						     "verdict", v, "detail",
						     u ? pw_utf8_safe(what, u, n) : "", "hint",
						     hint ? hint : ""));
		free(u);
	} else {
		printf("%-12s %-5s %s%s%s\n", area, v, pw_cli_safe(what),
		       hint && *hint ? "\n             hint: " : "", hint ? hint : "");
	}
}

int pw_cli_doctor(struct pw_cli *cli, int argc, char **argv)
{
	json_t *arr = json_array(), *st = NULL, *rec = NULL, *w, *v;
	struct pw_conn *c = NULL;
	struct stat sb;
	char msg[512], buf[640];
	bool fail = false;
	size_t i;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") || !strcmp(argv[k], "-j")) {
			cli->json = true;
		} else if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
			printf("Usage: portwatch doctor [--json]\n\nCheck the daemon, its kernel "
			       "hooks, the config, permissions and the state, each with a verdict\n"
			       "(ok, warn, fail) and a hint. Exit status 1 when one fails.\n");
			json_decref(arr);
			return 0;
		} else {
			json_decref(arr);
			return pw_cli_usage("doctor", "unexpected argument \"%s\"", argv[k]);
		}
	}
	/* daemon */
	if (pw_cli_open(cli->socket, &c, msg, sizeof(msg))) {
		snprintf(buf, sizeof(buf), "no daemon answers on %s", cli->socket);
		verdict(arr, cli->json, "daemon", "fail", buf,
			"start it: `make run`, `systemctl start portwatchd`, or point at it with "
			"--socket / PORTWATCH_SOCKET");
		fail = true;
		goto out;
	}
	if (pw_conn_call(c, "status", NULL, &st, msg, sizeof(msg))) {
		verdict(arr, cli->json, "daemon", "fail", msg, "see the daemon's log");
		fail = true;
		goto out;
	}
	snprintf(buf, sizeof(buf), "portwatchd answers on %s, up %.0f s, %lld sockets in the map",
		 cli->socket, json_real_value(json_object_get(st, "uptime_s")),
		 (long long)pw_jnum(st, "map_size"));
	verdict(arr, cli->json, "daemon", "ok", buf, NULL);
	/* kernel hooks */
	if (!strcmp(pw_jstr(st, "mode"), "bpf")) {
		snprintf(buf, sizeof(buf), "BPF mode, cgroup %s, %lld events dropped",
			 pw_jstr(st, "cgroup"), (long long)pw_jnum(st, "dropped"));
		verdict(arr, cli->json, "kernel", pw_jnum(st, "dropped") ? "warn" : "ok", buf,
			pw_jnum(st, "dropped") ? "drops are healed by resyncs; a larger "
			"--ringbuf-size makes them rarer" : NULL);
	} else {
		snprintf(buf, sizeof(buf), "polling mode: %s", pw_jstr(st, "mode_reason"));
		verdict(arr, cli->json, "kernel", "warn", buf,
			"events come every poll interval instead of at once: run as root on a "
			"kernel with BTF and cgroup v2 (see the README's kernel requirements)");
	}
	/* config */
	w = json_object_get(st, "config_warnings");
	if (!json_array_size(w)) {
		snprintf(buf, sizeof(buf), "%lld service types, recovery and monitoring on",
			 (long long)pw_jnum(st, "service_types"));
		verdict(arr, cli->json, "config", "ok", buf, NULL);
	}
	json_array_foreach(w, i, v)
		verdict(arr, cli->json, "config", "warn", json_string_value(v),
			"set it to true in the config, or run `portwatch cleanup` after restarts");
	/* permissions */
	if (!stat(cli->socket, &sb)) {
		bool others = (sb.st_mode & 0006) == 0006;

		snprintf(buf, sizeof(buf), "socket %s mode %04o, you are uid %u%s", cli->socket,
			 sb.st_mode & 07777, getuid(), getuid() ? "" : " (root)");
		verdict(arr, cli->json, "permissions", others || !getuid() ? "ok" : "warn", buf,
			others ? (getuid() ? "you may release only your own allocations; "
				  "cleanup needs root" : NULL)
			       : "other users cannot connect: the socket is not world-writable");
	}
	/* state */
	if (json_is_false(json_object_get(json_object_get(st, "allocations"), "storage_ok"))) {
		verdict(arr, cli->json, "state", "fail", "state storage is failing",
			"check the disk holding the state directory (full? read-only?)");
		fail = true;
	} else if (!pw_conn_call(c, "recover", NULL, &rec, msg, sizeof(msg))) {
		json_t *steps = json_object_get(rec, "steps"), *s;
		long long n = 0;

		json_array_foreach(steps, i, s)
			if (strcmp(pw_jstr(s, "step"), "database"))
				n += pw_jnum(s, "count");
		snprintf(buf, sizeof(buf), "%lld allocation(s), %lld recovery action(s) pending",
			 (long long)pw_jnum(json_object_get(st, "allocations"), "total"), n);
		verdict(arr, cli->json, "state", n ? "warn" : "ok", buf,
			n ? "`portwatch cleanup --dry-run` lists them, `portwatch cleanup` (root) "
			    "applies them" : NULL);
	}
out:
	if (cli->json)
		pw_cli_print_json(arr);
	json_decref(arr);
	json_decref(st);
	json_decref(rec);
	pw_conn_close(c);
	return fail ? 1 : 0;
}

/* --- config ------------------------------------------------------------------------ */

/* portwatchd next to this program, else from PATH. */
static void daemon_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, len, "%s/portwatchd", self);
			if (!access(out, X_OK))
				return;
		}
	}
	snprintf(out, len, "portwatchd");
}

/* What portwatchd --check-config says, kept up to this many bytes. */
#define VERDICT_MAX 4096

/* The child's output (stdout and stderr, one pipe) into buf, the rest
 * drained and dropped. */
static void read_verdict(int fd, char *buf, size_t len)
{
	size_t off = 0;
	char sink[4096];

	for (;;) {
		ssize_t n = off < len - 1 ? read(fd, buf + off, len - 1 - off)
					  : read(fd, sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (off < len - 1)
			off += (size_t)n;
	}
	buf[off] = '\0';
}

/* The verdict as one sentence: lines joined with "; ", without the
 * daemon's "portwatchd: " prefix and the last newline. */
static void one_line(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (!strncmp(r, "portwatchd: ", 12) && (r == s || r[-1] == '\n')) {
			r += 12;
			continue;
		}
		if (*r == '\n') {
			r++;
			if (*r) {
				*w++ = ';';
				*w++ = ' ';
			}
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/*
 * portwatchd --check-config, its verdict captured: printed as it is when
 * valid (JSON {"valid":true,"message"} with --json); an invalid or missing
 * file is a bad argument (exit 2), one line naming the file, or one JSON
 * error object on stderr with --json.
 */
static int config_validate(struct pw_cli *cli, int argc, char **argv)
{
	const char *file = NULL, *override = NULL;
	char bin[PATH_MAX + 16], verdict_text[VERDICT_MAX];
	const char *args[8];
	int n = 0, status, fds[2];
	pid_t pid;

	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "--override") || !strcmp(argv[i], "-o")) && i + 1 < argc)
			override = argv[++i];
		else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			cli->json = true;
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			return pw_cli_usage("config", "unexpected argument \"%s\"", argv[i]);
	}
	daemon_path(bin, sizeof(bin));
	args[n++] = bin;
	args[n++] = "--check-config";
	if (file) {
		args[n++] = "--config";
		args[n++] = file;
	}
	if (override) {
		args[n++] = "--config-override";
		args[n++] = override;
	}
	args[n] = NULL;
	fflush(stdout);
	if (pipe2(fds, O_CLOEXEC))
		return pw_cli_internal("config", "cannot make a pipe");
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return pw_cli_internal("config", "cannot fork");
	}
	if (!pid) {
		if (dup2(fds[1], STDOUT_FILENO) < 0 || dup2(fds[1], STDERR_FILENO) < 0)
			_exit(127);
		execvp(bin, (char *const *)args);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	read_verdict(fds[0], verdict_text, sizeof(verdict_text));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return pw_cli_internal("config", "lost portwatchd --check-config");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (cli->json) {
			static char u[VERDICT_MAX * 4];
			json_t *doc;

			one_line(verdict_text);
			doc = json_pack("{s:b, s:s}", "valid", 1, "message",
					pw_utf8_safe(verdict_text, u, sizeof(u)));
			pw_cli_print_json(doc);
			json_decref(doc);
		} else {
			one_line(verdict_text);
			printf("%s\n", pw_cli_safe(verdict_text));
		}
		return 0;
	}
	one_line(verdict_text);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
		return pw_cli_internal("config", *verdict_text ? verdict_text
				       : "portwatchd --check-config did not run");
	return pw_cli_error(PW_E_USAGE, "config", *verdict_text ? verdict_text
			    : "the configuration is not valid");
}

int pw_cli_config(struct pw_cli *cli, int argc, char **argv)
{
	json_t *types, *st, *t, *w, *v;
	size_t i;
	int r;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("Usage: portwatch config show [--json]\n"
		       "       portwatch config validate [FILE] [--override FILE] [--json]\n\n"
		       "show: the service types the daemon uses (after merges and\n"
		       "auto-allocation) and its config warnings. validate: check FILE (default:\n"
		       "the daemon's default path, else built-in) with portwatchd --check-config;\n"
		       "a file that is missing or not valid exits 2 with the reason.\n");
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "validate"))
		return config_validate(cli, argc, argv);
	if (strcmp(argv[1], "show"))
		return pw_cli_usage("config", "unknown subcommand \"%s\" (show, validate)", argv[1]);
	for (int k = 2; k < argc; k++) {
		if (!strcmp(argv[k], "--json") || !strcmp(argv[k], "-j"))
			cli->json = true;
		else
			return pw_cli_usage("config", "unexpected argument \"%s\"", argv[k]);
	}
	r = pw_cli_call(cli, "types", NULL, &types);
	if (r)
		return r;
	r = pw_cli_call(cli, "status", NULL, &st);
	if (r) {
		json_decref(types);
		return r;
	}
	w = json_object_get(st, "config_warnings");
	if (cli->json) {
		pw_cli_print_json(json_pack("{s:O, s:O}", "service_types", types, "warnings",
					    w ? w : json_null()));
	} else {
		const char *const hdr[] = { "TYPE", "RANGE", "PREFERRED", "BEHAVIOR", "USED", "FREE" };
		struct pw_table *tb = pw_table_new(6, hdr);

		json_array_foreach(types, i, t) {
			json_t *pr = json_object_get(t, "port_range"), *pp;
			char range[16], pref[64] = "", used[16], fr[16];
			size_t k, off = 0;

			snprintf(range, sizeof(range), "%lld-%lld",
				 (long long)json_integer_value(json_array_get(pr, 0)),
				 (long long)json_integer_value(json_array_get(pr, 1)));
			json_array_foreach(json_object_get(t, "preferred_ports"), k, pp)
				if (off < sizeof(pref) - 8)
					off += (size_t)snprintf(pref + off, sizeof(pref) - off, "%s%lld",
								k ? "," : "",
								(long long)json_integer_value(pp));
			snprintf(used, sizeof(used), "%lld", (long long)pw_jnum(t, "used"));
			snprintf(fr, sizeof(fr), "%lld", (long long)pw_jnum(t, "free"));
			pw_table_add(tb, (const char *const[]){ pw_jstr(t, "name"), range,
					  *pref ? pref : "-",
					  json_is_true(json_object_get(t, "single")) ? "single"
										    : "multi",
					  used, fr });
		}
		pw_table_print(tb);
		pw_table_free(tb);
		json_array_foreach(w, i, v)
			printf("warning: %s\n", pw_cli_safe(json_string_value(v)));
	}
	json_decref(types);
	json_decref(st);
	return 0;
}
