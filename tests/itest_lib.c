// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "itest_lib.h"

const char *itest_build(void)
{
	const char *b = getenv("BUILD");

	return b && *b ? b : "build";
}

void itest_require_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root\n");
		exit(77);
	}
}

int itest_unshare_net(void)
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	return err;
}

uint64_t itest_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int itest_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void itest_yield(void)
{
	/* 200 us between condition checks: fine-grained enough for 50 ms
	 * deadlines, coarse enough not to starve the daemon on 2 cores */
	struct timespec ts = { 0, 200000 };

	nanosleep(&ts, NULL);
}

static int connectable(const char *sock)
{
	struct pw_conn *c;

	if (pw_conn_open(&c, sock))
		return 0;
	pw_conn_close(c);
	return 1;
}

static int spawn_daemon(struct itest_daemon *d, const char *const *extra)
{
	const char *argv[64];
	char bin[256];
	int n = 0, fd;

	snprintf(bin, sizeof(bin), "%s/portwatchd", itest_build());
	argv[n++] = bin;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = d->state;
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		/* a test that fails an assertion skips its cleanup: the daemon
		 * (and its BPF programs) must not outlive the test */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() == 1)
			_exit(126);
		if (d->nofile) {
			struct rlimit rl = { d->nofile, d->nofile };

			if (setrlimit(RLIMIT_NOFILE, &rl))
				_exit(125);
		}
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (!ITEST_WAIT(connectable(d->sock) || waitpid(d->pid, NULL, WNOHANG) == d->pid,
			15000 * itest_slow()))
		return -ETIMEDOUT;
	if (!connectable(d->sock)) {
		char cmd[256];

		fprintf(stderr, "portwatchd did not start; its log %s:\n", d->log);
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", d->log);
		(void) !system(cmd);
		d->pid = 0;
		return -ECHILD;
	}
	return 0;
}

int itest_daemon_start(struct itest_daemon *d, const char *const *extra)
{
	return itest_daemon_start_nofile(d, extra, 0);
}

int itest_daemon_start_nofile(struct itest_daemon *d, const char *const *extra,
			      unsigned long nofile)
{
	memset(d, 0, sizeof(*d));
	d->nofile = nofile;
	snprintf(d->dir, sizeof(d->dir), "/tmp/pw-itest-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	/* unprivileged test users must reach the socket inside */
	(void) chmod(d->dir, 0755);
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	return spawn_daemon(d, extra);
}

int itest_daemon_restart(struct itest_daemon *d, const char *const *extra)
{
	return spawn_daemon(d, extra);
}

int itest_daemon_stop(struct itest_daemon *d, int sig)
{
	int status = 0;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, sig ? sig : SIGTERM);
	if (!ITEST_WAIT(waitpid(d->pid, &status, WNOHANG) == d->pid, 10000)) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	d->pid = 0;
	return status;
}

void itest_daemon_cleanup(struct itest_daemon *d)
{
	char cmd[200];

	if (d->pid > 0)
		itest_daemon_stop(d, SIGTERM);
	if (!d->dir[0])
		return;
	if (getenv("ITEST_KEEP")) {
		fprintf(stderr, "kept %s\n", d->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	(void) !system(cmd);
}

int itest_call(struct itest_daemon *d, const char *cmd, json_t *args, json_t **res)
{
	struct pw_conn *c;
	char msg[1024];
	int r;

	r = pw_conn_open(&c, d->sock);
	if (r) {
		json_decref(args);
		return r;
	}
	r = pw_conn_call(c, cmd, args, res, msg, sizeof(msg));
	if (r > 0)
		fprintf(stderr, "itest_call %s: %s\n", cmd, msg);
	pw_conn_close(c);
	return r;
}

static void drop_to(int uid)
{
	if (uid < 0)
		return;
	if (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid))
		_exit(126);
}

int itest_cli(struct itest_daemon *d, int uid, char **out, const char *const *args)
{
	const char *argv[64];
	char bin[256], *buf = NULL;
	size_t len = 0, cap = 0;
	int pfd[2], n = 0, status;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/portwatch", itest_build());
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pfd[1], 1);
		setenv("PORTWATCH_SOCKET", d->sock, 1);
		drop_to(uid);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);

			if (!nb)
				break;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		r = read(pfd[0], buf + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	if (buf)
		buf[len] = '\0';
	waitpid(pid, &status, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int proc_spawn(struct itest_proc *p, int uid, bool netns, const char *const *args);

int itest_proc_spawn(struct itest_proc *p, int uid, const char *const *args)
{
	return proc_spawn(p, uid, false, args);
}

int itest_proc_spawn_netns(struct itest_proc *p, const char *const *args)
{
	return proc_spawn(p, -1, true, args);
}

uint64_t itest_netns_cookie(void)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) < 0 &&
		    errno == ENOPROTOOPT) {
			/* before 5.14 the daemon names a netns by its inode */
			struct stat st;

			if (stat("/proc/thread-self/ns/net", &st) == 0)
				c = st.st_ino;
		}
		close(fd);
	}
	return c;
}

unsigned itest_slow(void)
{
	const char *s = getenv("ITEST_SLOW");
	unsigned v = s ? (unsigned)strtoul(s, NULL, 10) : 1;

	return v ? v : 1;
}

static int proc_spawn(struct itest_proc *p, int uid, bool netns, const char *const *args)
{
	const char *argv[32];
	char bin[256];
	int in[2], out[2], n = 0;

	snprintf(bin, sizeof(bin), "%s/tests/helper", itest_build());
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 30; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (netns && itest_unshare_net())
			_exit(125);
		drop_to(uid);
		/* after the uid change, which would clear it: never outlive the test */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	return 0;
}

int itest_fd_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	uint64_t dl = itest_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (n < len - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)((dl - itest_now_ns()) / 1000000ull);

		if (itest_now_ns() >= dl || poll(&pfd, 1, left > 0 ? left : 1) <= 0)
			return -ETIMEDOUT;
		if (read(fd, buf + n, 1) != 1)
			return -EPIPE;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

int itest_proc_line(struct itest_proc *p, char *buf, size_t len, int timeout_ms)
{
	return itest_fd_line(p->out, buf, len, timeout_ms);
}

int itest_proc_say(struct itest_proc *p, const char *line)
{
	size_t n = strlen(line);

	return write(p->in, line, n) == (ssize_t)n ? 0 : -EIO;
}

void itest_proc_kill(struct itest_proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, sig);
	waitpid(p->pid, NULL, 0);
	close(p->in);
	close(p->out);
	p->pid = 0;
}

void itest_proc_end(struct itest_proc *p)
{
	if (p->pid <= 0)
		return;
	close(p->in);
	waitpid(p->pid, NULL, 0);
	close(p->out);
	p->pid = 0;
}

json_t *itest_find_sock(json_t *ports, unsigned port, const char *proto, pid_t pid)
{
	size_t i;
	json_t *v;

	json_array_foreach(ports, i, v) {
		if (json_integer_value(json_object_get(v, "port")) != port)
			continue;
		if (proto && strcmp(json_string_value(json_object_get(v, "proto")), proto))
			continue;
		if (pid && json_integer_value(json_object_get(v, "pid")) != pid)
			continue;
		return v;
	}
	return NULL;
}

long itest_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, n) && line[n] == ':') {
			kib = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

pid_t itest_fork_as(int uid)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		drop_to(uid);
		/* after the uid change, which would clear it */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(126);
	}
	return pid;
}

/* /proc/PID/stat into buf: what follows the comm (which may hold anything,
 * ')' too: the last one ends it), or NULL. */
static const char *stat_after_comm(pid_t pid, char *buf, size_t len)
{
	char path[64], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp ? rp + 1 : NULL;
}

double itest_cpu_ms(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char buf[1024];
	const char *p = stat_after_comm(pid, buf, sizeof(buf));

	if (!p || sscanf(p + 1, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* pid's parent per /proc/PID/stat, or -1; *zombie when it is one. */
static pid_t parent_of(pid_t pid, bool *zombie)
{
	char buf[512], st = 0;
	const char *p = stat_after_comm(pid, buf, sizeof(buf));
	int ppid = -1;

	if (!p || sscanf(p, " %c %d", &st, &ppid) != 2)
		return -1;
	*zombie = st == 'Z';
	return (pid_t)ppid;
}

int itest_kill_strays(pid_t keep)
{
	pid_t self = getpid(), *pid = NULL, *ppid = NULL;
	size_t n = 0, cap = 0;
	bool *mine = NULL, *dead = NULL, grew = true;
	struct dirent *de;
	int killed = 0;
	DIR *dir = opendir("/proc");

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		long v = strtol(de->d_name, NULL, 10);
		bool z = false;
		pid_t pp;

		if (v <= 0 || (pid_t)v == self || (pp = parent_of((pid_t)v, &z)) < 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			pid_t *a = realloc(pid, nc * sizeof(*a)), *b;
			bool *c;

			if (!a)
				break;
			pid = a;
			b = realloc(ppid, nc * sizeof(*b));
			if (!b)
				break;
			ppid = b;
			c = realloc(dead, nc * sizeof(*c));
			if (!c)
				break;
			dead = c;
			cap = nc;
		}
		pid[n] = (pid_t)v;
		dead[n] = z;
		ppid[n++] = pp;
	}
	closedir(dir);
	mine = calloc(n ? n : 1, sizeof(*mine));
	/* descendants, a generation per pass; keep's subtree is not entered */
	while (mine && grew) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			bool m = ppid[i] == self;

			if (mine[i] || pid[i] == keep)
				continue;
			for (size_t j = 0; j < n && !m; j++)
				m = mine[j] && ppid[i] == pid[j];
			mine[i] = m;
			grew |= m;
		}
	}
	for (size_t i = 0; mine && i < n; i++) {
		if (mine[i] && !dead[i] && !kill(pid[i], SIGKILL))
			killed++;
	}
	for (size_t i = 0; mine && i < n; i++)
		if (mine[i] && ppid[i] == self)
			(void) waitpid(pid[i], NULL, 0);
	free(mine);
	free(dead);
	free(pid);
	free(ppid);
	return killed;
}
