// SPDX-License-Identifier: GPL-2.0
/*
 * user/bpfwatch.c against the real kernel (root). The test moves into its own
 * network namespace so the ports it binds are its own, causes real binds,
 * listens, closes and exits, and waits for their events with a deadline,
 * keeping only events about its own sockets and processes: the cgroup hooks
 * see the whole host.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bpfwatch.h"
#include "itest_lib.h"
#include "log.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define WAIT_MS		(3000 * (int)itest_slow())
#define MAX_EVENTS	4096
#define MAX_MINE	64

struct fixture {
	struct pw_bpf *bpf;
	/* Events about our own cookies and pids, in ring order. */
	struct pw_event ev[MAX_EVENTS];
	size_t n;
	size_t total;		/* every event consumed, ours or not */
	__u64 cookies[MAX_MINE];
	size_t ncookies;
	__u32 pids[MAX_MINE];
	size_t npids;
	pid_t child;		/* killed by teardown if a test fails early */
};

static bool mine(const struct fixture *f, const struct pw_event *e)
{
	size_t i;

	for (i = 0; i < f->ncookies; i++)
		if (e->cookie && e->cookie == f->cookies[i])
			return true;
	for (i = 0; i < f->npids; i++)
		if (e->kind == PW_EV_EXIT && e->pid == f->pids[i])
			return true;
	return false;
}

static int on_event(void *ctx, const struct pw_event *e)
{
	struct fixture *f = ctx;

	f->total++;
	if (mine(f, e) && f->n < MAX_EVENTS)
		f->ev[f->n++] = *e;
	return 0;
}

static void watch_cookie(struct fixture *f, __u64 cookie)
{
	assert_true(f->ncookies < MAX_MINE);
	f->cookies[f->ncookies++] = cookie;
}

static void watch_pid(struct fixture *f, pid_t pid)
{
	assert_true(f->npids < MAX_MINE);
	f->pids[f->npids++] = (__u32)pid;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Index of the first event of @kind about @cookie (or, for EXIT, @pid), or -1. */
static long find(const struct fixture *f, __u8 kind, __u64 cookie, __u32 pid)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->ev[i].kind == kind &&
		    (kind == PW_EV_EXIT ? f->ev[i].pid == pid : f->ev[i].cookie == cookie))
			return (long)i;
	return -1;
}

/* Drain the ring until the event is there or WAIT_MS pass. */
static long wait_for(struct fixture *f, __u8 kind, __u64 cookie, __u32 pid)
{
	long deadline = now_ms() + WAIT_MS, left, i;
	struct epoll_event ev;
	int n;

	for (;;) {
		assert_true(pw_bpf_consume(f->bpf) >= 0);
		i = find(f, kind, cookie, pid);
		if (i >= 0)
			return i;
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		n = epoll_wait(pw_bpf_fd(f->bpf), &ev, 1, (int)left);
		assert_true(n >= 0 || errno == EINTR);
	}
}

static const struct pw_event *expect(struct fixture *f, __u8 kind, __u64 cookie, __u32 pid)
{
	long i = wait_for(f, kind, cookie, pid);

	if (i < 0)
		fail_msg("no event of kind %u for cookie %llu pid %u within %d ms", kind,
			 (unsigned long long)cookie, pid, WAIT_MS);
	return &f->ev[i];
}

static bool have_hook(const struct fixture *f, const char *tp)
{
	return strstr(pw_bpf_hooks(f->bpf), tp) != NULL;
}

static __u64 sock_cookie(int fd, int opt)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, opt, &cookie, &len), 0);
	assert_int_not_equal(cookie, 0);
	return cookie;
}

static void my_comm(char comm[PW_COMM_LEN])
{
	memset(comm, 0, PW_COMM_LEN);
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
}

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	__u8 raw[16];		/* what the event's addr must hold */
};

static void make_addr(struct addr *a, int family, const char *ip, __u16 port)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
		memcpy(a->raw, &in->sin_addr, 4);
		a->len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
		memcpy(a->raw, &in6->sin6_addr, 16);
		a->len = sizeof(*in6);
	}
}

static __u16 bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* --- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	(void) state;
	/* Our own network namespace: the ports we bind cannot collide with the
	 * host's services, and the host's traffic cannot be mistaken for ours. */
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		perror("SIOCGIFFLAGS lo");
		return -1;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr)) {
		perror("SIOCSIFFLAGS lo");
		return -1;
	}
	close(fd);
	pw_log_route_libbpf();
	return 0;
}

static int setup_unloaded(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int load(struct fixture *f, size_t ringbuf_bytes)
{
	struct pw_bpf_opts opts = { .ringbuf_bytes = ringbuf_bytes };

	return pw_bpf_new(&f->bpf, &opts, on_event, f);
}

static int setup_loaded(void **state)
{
	struct fixture *f;
	int err;

	if (setup_unloaded(state))
		return -1;
	f = *state;
	err = load(f, 0);
	if (err) {
		fprintf(stderr, "pw_bpf_new: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		(void) kill(f->child, SIGKILL);
		(void) waitpid(f->child, NULL, 0);
	}
	pw_bpf_free(f->bpf);
	free(f);
	return 0;
}

/* --- tests --------------------------------------------------------------- */

/*
 * Bind one socket and check every field of its BIND event, then (TCP) listen,
 * then close: UNLISTEN for a listener, and CLOSE last.
 */
static void check_socket(struct fixture *f, int family, int type, const char *ip, __u16 port)
{
	__u8 proto = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	const struct pw_event *e;
	struct addr a;
	char comm[PW_COMM_LEN];
	__u64 cookie, netns;
	long i_unlisten = -1, i_close;
	bool hashed;
	int fd;

	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && family == AF_INET6)
		skip();
	assert_true(fd >= 0);
	cookie = sock_cookie(fd, SO_COOKIE);
	/* SO_NETNS_COOKIE, or the netns inode before 5.14, as the daemon names it */
	netns = itest_netns_cookie();
	assert_int_not_equal(netns, 0);
	watch_cookie(f, cookie);
	make_addr(&a, family, ip, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	if (port)
		assert_int_equal(bound_port(fd), port);
	port = bound_port(fd);
	my_comm(comm);

	e = expect(f, PW_EV_BIND, cookie, 0);
	assert_int_equal(e->port, port);
	assert_int_equal(e->pid, getpid());
	assert_int_equal(e->uid, getuid());
	assert_int_equal(e->netns, netns);
	assert_int_equal(e->proto, proto);
	assert_int_equal(e->family, family);
	assert_int_equal(e->state, PW_SOCK_BOUND);
	assert_memory_equal(e->addr, a.raw, sizeof(a.raw));
	assert_string_equal(e->comm, comm);
	assert_true(e->ts_ns > 0);

	if (type == SOCK_STREAM) {
		assert_int_equal(listen(fd, 8), 0);
		if (have_hook(f, "inet_sock_set_state")) {
			e = expect(f, PW_EV_LISTEN, cookie, 0);
			assert_int_equal(e->port, port);
			assert_int_equal(e->netns, netns);
			assert_int_equal(e->family, family);
			assert_int_equal(e->proto, IPPROTO_TCP);
			assert_memory_equal(e->addr, a.raw, sizeof(a.raw));
		}
	}

	assert_int_equal(close(fd), 0);
	i_close = wait_for(f, PW_EV_CLOSE, cookie, 0);
	assert_true(i_close >= 0);
	e = &f->ev[i_close];
	/* A release names its socket by cookie, no more: the daemon has the
	 * rest from the bind. The port is the hash's (wildcard binds), or 0. */
	hashed = !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::") ||
		 strstr(pw_bpf_degraded(f->bpf), "reading sockets at release refused");
	assert_int_equal(e->port, hashed ? port : 0);
	assert_int_equal(e->pid, 0);
	assert_int_equal(e->netns, 0);
	assert_string_equal(e->comm, "");
	assert_int_equal(e->proto, proto);
	assert_int_equal(e->family, family);
	assert_int_equal(e->ts_ns, 0);	/* untimed: the daemon stamps it */
	if (type == SOCK_STREAM) {
		i_unlisten = find(f, PW_EV_UNLISTEN, cookie, 0);
		assert_true(i_unlisten >= 0 && i_unlisten < i_close);
		assert_int_equal(f->ev[i_unlisten].port, hashed ? port : 0);
	} else {
		assert_int_equal(find(f, PW_EV_LISTEN, cookie, 0), -1);
		assert_int_equal(find(f, PW_EV_UNLISTEN, cookie, 0), -1);
	}
	/* CLOSE is the last word about a cookie. */
	assert_int_equal(f->ev[f->n - 1].kind, PW_EV_CLOSE);
	assert_int_equal(pw_bpf_dropped(f->bpf), 0);
}

static void test_hooks(void **state)
{
	struct fixture *f = *state;
	const char *hooks = pw_bpf_hooks(f->bpf);

	print_message("hooks: %s\ncgroup: %s\n", hooks, pw_bpf_cgroup(f->bpf));
	assert_non_null(strstr(hooks, "cgroup/post_bind4,cgroup/post_bind6,cgroup/sock_release"));
	/* the optional hooks fall back quietly, and the tests that need them
	 * skip: on a kernel known to have them (this one, KERNEL.md) a hook
	 * that stopped loading must fail here. PW_ALLOW_MISSING_HOOKS=1 on
	 * other hosts. */
	if (!getenv("PW_ALLOW_MISSING_HOOKS")) {
		assert_non_null(strstr(hooks, "sched_process_exit"));
		assert_non_null(strstr(hooks, "inet_sock_set_state"));
	}
	assert_non_null(pw_bpf_cgroup(f->bpf));
	assert_true(pw_bpf_fd(f->bpf) >= 0);
}

static void test_tcp4_fixed(void **state)
{
	check_socket(*state, AF_INET, SOCK_STREAM, "127.0.0.1", 40101);
}

static void test_tcp4_any_port0(void **state)
{
	check_socket(*state, AF_INET, SOCK_STREAM, "0.0.0.0", 0);
}

static void test_tcp6_fixed(void **state)
{
	check_socket(*state, AF_INET6, SOCK_STREAM, "::1", 40102);
}

static void test_tcp6_port0(void **state)
{
	check_socket(*state, AF_INET6, SOCK_STREAM, "::", 0);
}

static void test_udp4_fixed(void **state)
{
	check_socket(*state, AF_INET, SOCK_DGRAM, "127.0.0.1", 40103);
}

static void test_udp4_port0(void **state)
{
	check_socket(*state, AF_INET, SOCK_DGRAM, "127.0.0.1", 0);
}

static void test_udp6_port0(void **state)
{
	check_socket(*state, AF_INET6, SOCK_DGRAM, "::1", 0);
}

/* A child binds a TCP listener and a UDP socket, then is killed. */
static void test_child_killed(void **state)
{
	struct fixture *f = *state;
	const struct pw_event *e;
	__u64 cookies[2];
	char comm[PW_COMM_LEN];
	long i_exit, i_tcp, i_udp;
	int pfd[2], status;
	pid_t pid;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof(cookies[0]);
		int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (t < 0 || u < 0 || bind(t, (struct sockaddr *)&sin, sizeof(sin)) ||
		    listen(t, 1) || bind(u, (struct sockaddr *)&sin, sizeof(sin)) ||
		    getsockopt(t, SOL_SOCKET, SO_COOKIE, &cookies[0], &len) ||
		    getsockopt(u, SOL_SOCKET, SO_COOKIE, &cookies[1], &len))
			_exit(1);
		if (write(pfd[1], cookies, sizeof(cookies)) != sizeof(cookies))
			_exit(1);
		for (;;)
			pause();	/* until SIGKILL */
	}
	f->child = pid;
	watch_pid(f, pid);
	assert_int_equal(read(pfd[0], cookies, sizeof(cookies)), sizeof(cookies));
	close(pfd[0]);
	close(pfd[1]);
	watch_cookie(f, cookies[0]);
	watch_cookie(f, cookies[1]);
	my_comm(comm);

	e = expect(f, PW_EV_BIND, cookies[0], 0);
	assert_int_equal(e->pid, pid);
	assert_int_equal(e->proto, IPPROTO_TCP);
	e = expect(f, PW_EV_BIND, cookies[1], 0);
	assert_int_equal(e->pid, pid);
	assert_int_equal(e->proto, IPPROTO_UDP);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = 0;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	i_tcp = wait_for(f, PW_EV_CLOSE, cookies[0], 0);
	i_udp = wait_for(f, PW_EV_CLOSE, cookies[1], 0);
	assert_true(i_tcp >= 0 && i_udp >= 0);
	assert_true(find(f, PW_EV_UNLISTEN, cookies[0], 0) >= 0);
	if (have_hook(f, "sched_process_exit")) {
		i_exit = wait_for(f, PW_EV_EXIT, 0, pid);
		assert_true(i_exit >= 0);
		e = &f->ev[i_exit];
		assert_int_equal(e->exit_code & 0x7f, SIGKILL);
		assert_int_equal(e->uid, getuid());
		assert_string_equal(e->comm, comm);
		assert_int_equal(e->cookie, 0);
		/* The exit comes before the release of the dead process's sockets. */
		assert_true(i_exit < i_tcp && i_exit < i_udp);
	}
	assert_int_equal(pw_bpf_dropped(f->bpf), 0);
}

/* Sockets and processes that predate the watcher are tracked on request. */
static void test_track_existing(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const struct pw_event *e;
	__u64 c_udp, c_tcp;
	int u, t;
	pid_t pid;

	/* Fork first: a child forked later would hold our sockets open. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();	/* until SIGKILL */
	}
	f->child = pid;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(u >= 0 && t >= 0);
	assert_int_equal(bind(u, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(bind(t, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(t, 1), 0);
	c_udp = sock_cookie(u, SO_COOKIE);
	c_tcp = sock_cookie(t, SO_COOKIE);

	assert_int_equal(load(f, 0), 0);
	watch_cookie(f, c_udp);
	watch_cookie(f, c_tcp);
	watch_pid(f, pid);
	assert_int_equal(pw_bpf_track_socket(f->bpf, c_udp), 0);
	assert_int_equal(pw_bpf_track_socket(f->bpf, c_udp), 0);	/* idempotent */
	assert_int_equal(pw_bpf_track_socket(f->bpf, c_tcp), 0);
	assert_int_equal(pw_bpf_track_pid(f->bpf, pid), 0);
	assert_int_equal(pw_bpf_track_pid(f->bpf, pid), 0);
	assert_int_equal(pw_bpf_track_socket(f->bpf, 0), -EINVAL);

	assert_int_equal(close(u), 0);
	e = expect(f, PW_EV_CLOSE, c_udp, 0);
	assert_int_equal(e->proto, IPPROTO_UDP);
	/* not seen bound: 0 from the hash, and not read when tracked by its
	 * bind flags */
	assert_int_equal(e->port, 0);
	assert_int_equal(close(t), 0);
	expect(f, PW_EV_CLOSE, c_tcp, 0);
	assert_true(find(f, PW_EV_UNLISTEN, c_tcp, 0) >= 0);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	f->child = 0;
	if (have_hook(f, "sched_process_exit")) {
		e = expect(f, PW_EV_EXIT, 0, pid);
		assert_int_equal(e->exit_code & 0x7f, SIGKILL);
	}
	/* The untracked binds of this test were never reported. */
	assert_int_equal(find(f, PW_EV_BIND, c_udp, 0), -1);
	assert_int_equal(pw_bpf_dropped(f->bpf), 0);
}

static int bind_any(int type)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static int bind_lo(int type)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Around a snapshot, untracked releases are reported too; only meanwhile. */
static void test_report_all_releases(void **state)
{
	struct fixture *f = *state;
	/* b on the wildcard: a socket bound to an address is found by its bind
	 * flags at release and always reported */
	int a = bind_lo(SOCK_DGRAM), b = bind_any(SOCK_STREAM), marker;
	__u64 c_a = sock_cookie(a, SO_COOKIE), c_b = sock_cookie(b, SO_COOKIE), c_m;

	assert_int_equal(load(f, 0), 0);
	watch_cookie(f, c_a);
	watch_cookie(f, c_b);
	pw_bpf_report_all_releases(f->bpf, true);
	assert_int_equal(close(a), 0);
	expect(f, PW_EV_CLOSE, c_a, 0);
	pw_bpf_report_all_releases(f->bpf, false);

	/* Releases reach the ring in order: once the marker's CLOSE is read,
	 * an event for b would have been read before it. */
	marker = bind_lo(SOCK_DGRAM);
	c_m = sock_cookie(marker, SO_COOKIE);
	watch_cookie(f, c_m);
	assert_int_equal(close(b), 0);
	assert_int_equal(close(marker), 0);
	expect(f, PW_EV_CLOSE, c_m, 0);
	assert_int_equal(find(f, PW_EV_CLOSE, c_b, 0), -1);
	assert_int_equal(pw_bpf_dropped(f->bpf), 0);
}

static void *park(void *arg)
{
	(void) arg;
	for (;;)
		pause();
	return NULL;
}

static bool zombie_leader(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
}

/*
 * The leader leaving with pthread_exit() is not the end of the process: EXIT
 * comes when the last thread goes.
 */
static void test_leader_thread_exit(void **state)
{
	struct fixture *f = *state;
	struct epoll_event ev;
	const struct pw_event *e;
	long deadline;
	int pfd[2], marker;
	__u64 c_m;
	char c;
	pid_t pid;

	if (!have_hook(f, "sched_process_exit"))
		skip();
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		(void) bind_lo(SOCK_DGRAM);	/* makes this process tracked */
		if (pthread_create(&t, NULL, park, NULL) || write(pfd[1], "x", 1) != 1)
			_exit(1);
		pthread_exit(NULL);
	}
	f->child = pid;
	watch_pid(f, pid);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	close(pfd[1]);

	/* Bounded wait for the leader to be gone while its thread lives on. */
	deadline = now_ms() + WAIT_MS;
	while (!zombie_leader(pid)) {
		assert_true(now_ms() < deadline);
		assert_true(pw_bpf_consume(f->bpf) >= 0);
		(void) epoll_wait(pw_bpf_fd(f->bpf), &ev, 1, 10);
	}
	marker = bind_lo(SOCK_DGRAM);
	c_m = sock_cookie(marker, SO_COOKIE);
	watch_cookie(f, c_m);
	assert_int_equal(close(marker), 0);
	expect(f, PW_EV_CLOSE, c_m, 0);
	assert_int_equal(find(f, PW_EV_EXIT, 0, pid), -1);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	f->child = 0;
	e = expect(f, PW_EV_EXIT, 0, pid);
	assert_int_equal(e->pid, pid);
	assert_int_equal(e->exit_code & 0x7f, SIGKILL);
}

/*
 * A daemonizing server: the tracked process forks and exits, its child forks
 * and exits in turn (a double fork), and only the grandchild lives on. Each
 * exit names the child it left alive as the heir, and the first heir, which
 * never bound anything, is reported when it exits because its parent's exit
 * made it tracked.
 */
static void test_exit_heir(void **state)
{
	struct fixture *f = *state;
	const struct pw_event *e;
	int go[2], ids[2], status;
	pid_t pid, kid, grandkid;
	char c;

	if (!have_hook(f, "sched_process_exit"))
		skip();
	/* the orphans come to this process, which reaps them */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ids, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pid_t k;

		(void) bind_lo(SOCK_DGRAM);	/* makes this process tracked */
		k = fork();
		if (k == 0) {
			pid_t g;

			/* wait until the parent is gone, then fork and go */
			close(go[1]);
			if (read(go[0], &c, 1) != 1)
				_exit(1);
			g = fork();
			if (g == 0) {
				for (;;)
					pause();	/* until SIGKILL */
			}
			_exit(g > 0 && write(ids[1], &g, sizeof(g)) == sizeof(g) ? 0 : 1);
		}
		_exit(k > 0 && write(ids[1], &k, sizeof(k)) == sizeof(k) ? 0 : 1);
	}
	f->child = pid;
	watch_pid(f, pid);
	assert_int_equal(read(ids[0], &kid, sizeof(kid)), sizeof(kid));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = kid;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	watch_pid(f, kid);
	e = expect(f, PW_EV_EXIT, 0, pid);
	assert_int_equal(e->heir, kid);

	/* the child was never bound: tracked only as the heir */
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(read(ids[0], &grandkid, sizeof(grandkid)), sizeof(grandkid));
	f->child = grandkid;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	watch_pid(f, grandkid);
	e = expect(f, PW_EV_EXIT, 0, kid);
	assert_int_equal(e->heir, grandkid);
	assert_int_equal(e->exit_code, 0);

	/* the last one leaves nobody */
	assert_int_equal(kill(grandkid, SIGKILL), 0);
	assert_int_equal(waitpid(grandkid, NULL, 0), grandkid);
	f->child = 0;
	e = expect(f, PW_EV_EXIT, 0, grandkid);
	assert_int_equal(e->heir, 0);
	assert_int_equal(e->exit_code & 0x7f, SIGKILL);
	close(go[0]);
	close(go[1]);
	close(ids[0]);
	close(ids[1]);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* A ring buffer too small for a burst drops events, counts them, and every
 * bind still succeeds. */
static void test_tiny_ring(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int i, fd, failed = 0, got;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(load(f, 4096), 0);
	for (i = 0; i < 2000; i++) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
			failed++;
		close(fd);
	}
	assert_int_equal(failed, 0);
	assert_true(pw_bpf_dropped(f->bpf) > 0);
	got = pw_bpf_consume(f->bpf);
	print_message("tiny ring: %d events read, %llu dropped\n", got,
		      (unsigned long long)pw_bpf_dropped(f->bpf));
	assert_true(got > 0);
	assert_true((size_t)got == f->total);
}

/* Attaching to something that is not a cgroup fails cleanly. */
static void test_bad_cgroup(void **state)
{
	struct fixture *f = *state;
	struct pw_bpf_opts opts = { .cgroup_path = "/proc" };
	struct pw_bpf *b = (struct pw_bpf *)f;

	assert_true(pw_bpf_new(&b, &opts, on_event, f) < 0);
	assert_ptr_equal(b, (struct pw_bpf *)f);	/* *ret untouched */
	opts.cgroup_path = "/nonexistent/cgroup";
	assert_int_equal(pw_bpf_new(&b, &opts, on_event, f), -ENOENT);
	assert_ptr_equal(b, (struct pw_bpf *)f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hooks, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_tcp4_fixed, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_tcp4_any_port0, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_tcp6_fixed, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_tcp6_port0, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_udp4_fixed, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_udp4_port0, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_udp6_port0, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_child_killed, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_track_existing, setup_unloaded, teardown),
		cmocka_unit_test_setup_teardown(test_report_all_releases, setup_unloaded, teardown),
		cmocka_unit_test_setup_teardown(test_leader_thread_exit, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_exit_heir, setup_loaded, teardown),
		cmocka_unit_test_setup_teardown(test_tiny_ring, setup_unloaded, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cgroup, setup_unloaded, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "itest_bpf: needs root, skipped\n");
		return 77;	/* run-tests.sh: skip */
	}
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
