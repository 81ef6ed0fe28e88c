// SPDX-License-Identifier: GPL-2.0
/*
 * Every shell example of README.md (the indented lines starting "$ ") runs
 * here, as written, with `portwatch` on PATH talking to a test daemon, in a
 * network namespace of the test's own where it opened listeners on ports 80
 * and 443 and a UDP socket. Conventions (see the README's "CLI" section):
 *   # (not run: REASON)   skipped, and the reason printed
 *   # (exit N)            the status expected (else 0)
 *   a following indented line without "$": the start of what it prints (up
 *   to "..."), compared with the first line of its output (stdout, or
 *   stderr when stdout is empty).
 * An example that runs `portwatch run` starts a server: it runs in the
 * background until its allocation shows bound by its owner, is stopped, and
 * the allocation must be released. Some examples get a check of what the
 * text says they do, beyond their exit status.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "itest_lib.h"
#include "itest_run.h"

#define MAX_EXAMPLES 64

struct example {
	int line;
	char cmd[512];
	char expect[256];	/* "" when none */
	char skip[256];		/* the reason, "" when run */
	int want;
};

static struct itest_daemon daemon_;
static struct example ex[MAX_EXAMPLES];
static int n_ex;
static char bindir[160], path_env[4096];
static int fds[3];

static void parse_readme(void)
{
	FILE *f = fopen("README.md", "r");
	char line[1024];
	int no = 0;

	if (!f) {
		char p[300];

		snprintf(p, sizeof(p), "%s/../README.md", itest_build());
		f = fopen(p, "r");
	}
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct example *e = n_ex ? &ex[n_ex - 1] : NULL;
		char *m;

		no++;
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "    $ ", 6)) {
			/* an expected output line right after an example */
			if (e && e->line == no - 1 && !strncmp(line, "    ", 4) && line[4] &&
			    line[4] != ' ')
				snprintf(e->expect, sizeof(e->expect), "%.255s", line + 4);
			continue;
		}
		assert_true(n_ex < MAX_EXAMPLES);
		e = &ex[n_ex++];
		memset(e, 0, sizeof(*e));
		e->line = no;
		snprintf(e->cmd, sizeof(e->cmd), "%.511s", line + 6);
		m = strstr(e->cmd, "# (not run: ");
		if (m) {
			snprintf(e->skip, sizeof(e->skip), "%.255s", m + 12);
			e->skip[strcspn(e->skip, ")")] = 0;
		}
		m = strstr(e->cmd, "# (exit ");
		if (m)
			e->want = atoi(m + 8);
	}
	fclose(f);
}

static int listen_on(int type, unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, type, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 8)))
		return -1;
	return fd;
}

static int setup(void **state)
{
	char target[300];

	(void) state;
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	fds[0] = listen_on(SOCK_STREAM, 80);
	fds[1] = listen_on(SOCK_STREAM, 443);
	fds[2] = listen_on(SOCK_DGRAM, 5353);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
		return -1;
	if (itest_daemon_start(&daemon_, NULL))
		return -1;
	/* `portwatch` on PATH, as the README assumes */
	snprintf(bindir, sizeof(bindir), "%s/bin", daemon_.dir);
	if (mkdir(bindir, 0755))
		return -1;
	if (!realpath(itest_build(), target))
		return -1;
	strcat(target, "/portwatch");
	{
		char link[200];

		snprintf(link, sizeof(link), "%s/portwatch", bindir);
		if (symlink(target, link))
			return -1;
	}
	snprintf(path_env, sizeof(path_env), "%s:%s", bindir, getenv("PATH") ? getenv("PATH") :
		 "/usr/bin:/bin");
	setenv("PATH", path_env, 1);
	return 0;
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

static json_t *call(const char *cmd, json_t *args)
{
	json_t *res = NULL;

	if (itest_call(&daemon_, cmd, args, &res))
		return NULL;
	return res;
}

/* The allocations of a type, as `list` gives them. */
static json_t *allocs_of(const char *type)
{
	return call("list", json_pack("{s:s}", "service_type", type));
}

static bool api_bound_by_owner(int *port)
{
	json_t *l = allocs_of("api"), *a;
	size_t i;
	bool ok = false;

	json_array_foreach(l, i, a)
		if (!strcmp(json_string_value(json_object_get(json_object_get(a, "live"), "status")) ?
			    json_string_value(json_object_get(json_object_get(a, "live"), "status")) :
			    "", "bound_by_owner")) {
			*port = (int)json_integer_value(json_object_get(a, "port"));
			ok = true;
		}
	json_decref(l);
	return ok;
}

static bool no_api_allocation(void)
{
	json_t *l = allocs_of("api");
	bool none = l && json_array_size(l) == 0;

	json_decref(l);
	return none;
}

/* An example that starts a server through `portwatch run`. */
static void run_server(const struct example *e)
{
	pid_t pid = fork();
	int port = 0, status;

	assert_true(pid >= 0);
	if (!pid) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("PORTWATCH_SOCKET", daemon_.sock, 1);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(126);
		execl("/bin/sh", "sh", "-c", e->cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	/* "gets PORT": the server listens on the allocated port, as its owner */
	if (!ITEST_WAIT(api_bound_by_owner(&port), 10000 * itest_slow())) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("README line %d: the server never listened on its allocated port", e->line);
	}
	print_message("  line %d: server listening on its allocated port %d\n", e->line, port);
	/* "released when it exits" */
	kill(-pid, SIGTERM);
	waitpid(pid, &status, 0);
	if (!ITEST_WAIT(no_api_allocation(), 5000 * itest_slow()))
		fail_msg("README line %d: the allocation outlived the server", e->line);
}

/* What the text says an example does, where a status says too little. */
static void check_effect(const struct example *e, const char *out, json_t *audit_before)
{
	if (strstr(e->cmd, "allocate dev -q")) {
		/* "owned by this shell": an allocation of dev, owner the shell; the
		 * shell of `sh -c` exits at once, so the port is released again */
		json_t *a = call("audit", json_pack("{s:i}", "limit", 10)), *r;
		json_int_t since = json_integer_value(json_object_get(json_array_get(audit_before, 0),
								      "id"));
		bool allocated = false;
		size_t i;

		json_array_foreach(a, i, r)
			if (json_integer_value(json_object_get(r, "id")) > since &&
			    !strcmp(json_string_value(json_object_get(r, "action")), "allocate") &&
			    !strcmp(json_string_value(json_object_get(r, "service_type")), "dev") &&
			    strstr(json_string_value(json_object_get(r, "detail")), "(sh)"))
				allocated = true;
		assert_true(allocated);
		json_decref(a);
	} else if (strstr(e->cmd, "ports --listening --tcp")) {
		char *dup = strdup(out), *line, *save = NULL;
		int rows = 0;

		for (line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!rows++) {
				assert_non_null(strstr(line, "PROTO"));
				continue;
			}
			assert_true(!strncmp(line, "tcp ", 4) && strstr(line, "listening"));
		}
		assert_true(rows >= 3);	/* the header, ports 80 and 443 */
		free(dup);
	} else if (strstr(e->cmd, "( sport = :80 or sport = :443 )")) {
		assert_non_null(strstr(out, "127.0.0.1:80 "));
		assert_non_null(strstr(out, "127.0.0.1:443 "));
		assert_null(strstr(out, "5353"));
	} else if (strstr(e->cmd, "jq")) {
		json_t *j = json_loads(out, JSON_DECODE_ANY, NULL);

		assert_non_null(j);
		json_decref(j);
	}
}

static void test_examples(void **state)
{
	int run = 0, skipped = 0;

	(void) state;
	parse_readme();
	assert_true(n_ex >= 8);
	for (int i = 0; i < n_ex; i++) {
		const struct example *e = &ex[i];
		const char *argv[] = { "sh", "-c", e->cmd, NULL };
		json_t *before;
		char *out, *err;
		int rc;

		if (*e->skip) {
			print_message("  line %d: not run (%s): %s\n", e->line, e->skip, e->cmd);
			skipped++;
			continue;
		}
		run++;
		if (strstr(e->cmd, "portwatch run ")) {
			run_server(e);
			continue;
		}
		before = call("audit", json_pack("{s:i}", "limit", 1));
		rc = itest_run(argv, daemon_.sock, 10000, &out, &err);
		print_message("  line %d: exit %d: %s\n", e->line, rc, e->cmd);
		if (rc != e->want)
			fail_msg("README line %d: `%s` exits %d, want %d\nstdout: %s\nstderr: %s", e->line,
				 e->cmd, rc, e->want, out, err);
		if (*e->expect) {
			const char *first = *out ? out : err;
			size_t n = strcspn(e->expect, ".");	/* up to "..." */

			if (strstr(e->expect, "...") == NULL)
				n = strlen(e->expect);
			else
				n = (size_t)(strstr(e->expect, "...") - e->expect);
			if (strncmp(first, e->expect, n))
				fail_msg("README line %d: `%s` printed\n%s\nwant it to start with\n%.*s",
					 e->line, e->cmd, first, (int)n, e->expect);
		}
		check_effect(e, out, before);
		json_decref(before);
		free(out);
		free(err);
	}
	print_message("README examples: %d run, %d not run\n", run, skipped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
