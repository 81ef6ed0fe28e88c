// SPDX-License-Identifier: GPL-2.0
/*
 * pw_snapshot_take() against the real kernel (root): sockets this test creates,
 * in its own netns and in a child's fresh netns, must show up with the cookies,
 * ports, states and owners the kernel and /proc report for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "snapshot.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define WAIT_MS 5000

enum { TCP4_LISTEN, TCP6_LISTEN, TCP4_BOUND, UDP4, UDP6, NSOCK };

struct tsock {
	int fd;
	int family, type;
	__u64 cookie;
	__u16 port;
	__u8 addr[16];
};

struct fixture {
	struct tsock s[NSOCK];
	__u64 netns;
	char comm[PW_COMM_LEN];
	pid_t child;		/* killed by teardown if a check failed before */
	int release;
};

static __u64 sock_cookie(int fd)
{
	socklen_t len = sizeof(__u64);
	__u64 c = 0;

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len), 0);
	assert_true(c != 0);
	return c;
}

/* Bind a socket to loopback port 0 and record what the kernel picked. */
static void make_sock(struct tsock *t, int family, int type, bool listening)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	t->family = family;
	t->type = type;
	t->fd = socket(family, type | SOCK_CLOEXEC, 0);
	assert_true(t->fd >= 0);
	memset(t->addr, 0, sizeof(t->addr));
	if (family == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
		memcpy(t->addr, &in->sin_addr, 4);
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
		memcpy(t->addr, &in6->sin6_addr, 16);
	}
	assert_int_equal(bind(t->fd, (struct sockaddr *)&ss, len), 0);
	if (listening)
		assert_int_equal(listen(t->fd, 8), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(t->fd, (struct sockaddr *)&ss, &len), 0);
	t->port = ntohs(family == AF_INET ? in->sin_port : in6->sin6_port);
	assert_true(t->port != 0);
	t->cookie = sock_cookie(t->fd);
}

static void read_comm(char comm[PW_COMM_LEN])
{
	FILE *f = fopen("/proc/self/comm", "r");

	assert_non_null(f);
	assert_non_null(fgets(comm, PW_COMM_LEN, f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	make_sock(&fx->s[TCP4_LISTEN], AF_INET, SOCK_STREAM, true);
	make_sock(&fx->s[TCP6_LISTEN], AF_INET6, SOCK_STREAM, true);
	make_sock(&fx->s[TCP4_BOUND], AF_INET, SOCK_STREAM, false);
	make_sock(&fx->s[UDP4], AF_INET, SOCK_DGRAM, false);
	make_sock(&fx->s[UDP6], AF_INET6, SOCK_DGRAM, false);
	assert_int_equal(pw_netns_cookie_self(&fx->netns), 0);
	read_comm(fx->comm);
	fx->release = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	int i;

	for (i = 0; i < NSOCK; i++)
		if (fx->s[i].fd >= 0)
			close(fx->s[i].fd);
	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	if (fx->release >= 0)
		close(fx->release);
	free(fx);
	return 0;
}

static const struct pw_event *find(const struct pw_snapshot *snap, __u64 cookie)
{
	size_t i;

	for (i = 0; i < snap->n; i++)
		if (snap->socks[i].cookie == cookie)
			return &snap->socks[i];
	return NULL;
}

/* Bound-inactive TCP sockets are dumped from 6.9 on. */
static bool kernel_dumps_bound_inactive(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	assert_int_equal(uname(&u), 0);
	assert_int_equal(sscanf(u.release, "%d.%d", &major, &minor), 2);
	return major > 6 || (major == 6 && minor >= 9);
}

static void check(const struct fixture *fx, const struct tsock *t, const struct pw_event *ev,
		  __u8 state, __u64 now)
{
	assert_non_null(ev);
	assert_int_equal(ev->kind, PW_EV_BIND);
	assert_int_equal(ev->state, state);
	assert_int_equal(ev->proto, t->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
	assert_int_equal(ev->family, t->family);
	assert_int_equal(ev->port, t->port);
	assert_memory_equal(ev->addr, t->addr, sizeof(ev->addr));
	assert_true(ev->netns == fx->netns);
	assert_int_equal(ev->pid, getpid());
	assert_int_equal(ev->uid, geteuid());
	assert_string_equal(ev->comm, fx->comm);
	assert_true(ev->ts_ns > 0 && ev->ts_ns <= now);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void test_own_sockets(void **state)
{
	struct fixture *fx = *state;
	struct pw_snapshot snap = {};
	const struct pw_event *ev;
	__u64 now;

	assert_int_equal(pw_snapshot_take(&snap), 0);
	now = now_ns();
	check(fx, &fx->s[TCP4_LISTEN], find(&snap, fx->s[TCP4_LISTEN].cookie),
	      PW_SOCK_LISTENING, now);
	check(fx, &fx->s[TCP6_LISTEN], find(&snap, fx->s[TCP6_LISTEN].cookie),
	      PW_SOCK_LISTENING, now);
	check(fx, &fx->s[UDP4], find(&snap, fx->s[UDP4].cookie), PW_SOCK_BOUND, now);
	check(fx, &fx->s[UDP6], find(&snap, fx->s[UDP6].cookie), PW_SOCK_BOUND, now);

	ev = find(&snap, fx->s[TCP4_BOUND].cookie);
	if (kernel_dumps_bound_inactive())
		check(fx, &fx->s[TCP4_BOUND], ev, PW_SOCK_BOUND, now);
	else
		assert_null(ev);
	pw_snapshot_free(&snap);
	assert_null(snap.socks);
	assert_int_equal(snap.n, 0);
}

static void test_closed_socket_gone(void **state)
{
	struct fixture *fx = *state;
	struct pw_snapshot snap = {};
	struct tsock *t = &fx->s[UDP4];

	close(t->fd);
	t->fd = -1;
	assert_int_equal(pw_snapshot_take(&snap), 0);
	assert_null(find(&snap, t->cookie));
	assert_non_null(find(&snap, fx->s[UDP6].cookie));
	pw_snapshot_free(&snap);
}

static void ns_inode(const char *path, struct stat *st)
{
	assert_int_equal(stat(path, st), 0);
}

static void test_thread_stays_home(void **state)
{
	struct pw_snapshot snap = {};
	struct stat before, after;
	__u64 c1, c2;

	(void)state;
	ns_inode("/proc/thread-self/ns/net", &before);
	assert_int_equal(pw_netns_cookie_self(&c1), 0);
	assert_int_equal(pw_snapshot_take(&snap), 0);
	pw_snapshot_free(&snap);
	ns_inode("/proc/thread-self/ns/net", &after);
	assert_int_equal(pw_netns_cookie_self(&c2), 0);
	assert_true(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
	assert_true(c1 == c2 && c1 != 0);
}

struct child_report {
	int err;		/* 0, or the errno of the step that failed */
	__u16 port;
	__u64 cookie;
	__u64 netns;
};

static int lo_up(void)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			err = errno;
	}
	close(fd);
	return err;
}

/* Child: a UDP socket on 127.0.0.1 in a new netns, reported, held until @release closes. */
static void __attribute__((noreturn)) ns_child(int report, int release)
{
	struct child_report r = {};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa), clen = sizeof(r.cookie);
	char c;
	int fd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "pw-itest-ns");
	if (unshare(CLONE_NEWNET) < 0) {
		r.err = errno;
		goto out;
	}
	r.err = lo_up();
	if (r.err)
		goto out;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &r.cookie, &clen) < 0) {
		r.err = errno;
		goto out;
	}
	r.port = ntohs(sa.sin_port);
	r.err = -pw_netns_cookie_self(&r.netns);
out:
	if (write(report, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	while (read(release, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static void test_child_netns(void **state)
{
	struct fixture *fx = *state;
	struct pw_snapshot snap = {};
	struct child_report r;
	const struct pw_event *ev;
	int report[2], release[2];
	struct pollfd pfd;
	pid_t pid;

	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(release, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(report[0]);
		close(release[1]);
		ns_child(report[1], release[0]);
	}
	fx->child = pid;
	fx->release = release[1];
	close(report[1]);
	close(release[0]);

	pfd = (struct pollfd){ .fd = report[0], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(report[0], &r, sizeof(r)), sizeof(r));
	close(report[0]);
	assert_int_equal(r.err, 0);
	assert_true(r.netns != 0 && r.netns != fx->netns);

	assert_int_equal(pw_snapshot_take(&snap), 0);
	ev = find(&snap, r.cookie);
	assert_non_null(ev);
	assert_true(ev->netns == r.netns);
	assert_int_equal(ev->pid, pid);
	assert_string_equal(ev->comm, "pw-itest-ns");
	assert_int_equal(ev->port, r.port);
	assert_int_equal(ev->proto, IPPROTO_UDP);
	assert_int_equal(ev->family, AF_INET);
	assert_int_equal(ev->state, PW_SOCK_BOUND);
	/* Our own sockets are still found next to the child's. */
	assert_non_null(find(&snap, fx->s[TCP4_LISTEN].cookie));
	pw_snapshot_free(&snap);

	/* Our own child only. Its files are closed by the time waitpid() returns. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	fx->child = 0;
	assert_int_equal(pw_snapshot_take(&snap), 0);
	assert_null(find(&snap, r.cookie));
	pw_snapshot_free(&snap);
}

static void test_netns_cookie_self(void **state)
{
	socklen_t len = sizeof(__u64);
	__u64 mine = 0, viasock = 0;
	int fd;

	(void)state;
	assert_int_equal(pw_netns_cookie_self(&mine), 0);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &viasock, &len) < 0) {
		struct stat st;

		/* before 5.14: the netns is named by its inode */
		assert_int_equal(errno, ENOPROTOOPT);
		assert_true(pw_netns_by_inode());
		assert_int_equal(stat("/proc/self/ns/net", &st), 0);
		viasock = st.st_ino;
	} else {
		assert_false(pw_netns_by_inode());
	}
	close(fd);
	assert_true(mine != 0 && mine == viasock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netns_cookie_self),
		cmocka_unit_test_setup_teardown(test_own_sockets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_socket_gone, setup, teardown),
		cmocka_unit_test(test_thread_stays_home),
		cmocka_unit_test_setup_teardown(test_child_netns, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "itest_snapshot: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
