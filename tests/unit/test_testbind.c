// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of user/kernel/testbind.c against the real kernel, in a network
 * namespace of its own: a port held by a socket of any protocol, family and
 * address (wildcard, loopback, IPv6-only, v4-mapped) fails the test bind;
 * the same port once closed passes.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "testbind.h"

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (!r)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return r;
}

static int setup(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET) || lo_up()) {
		print_message("needs root: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* A socket on addr (an IPv4 or IPv6 literal), port 0: fd, *port its port. */
static int hold(int type, const char *addr, int v6only, bool reuse, bool listening,
		uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int one = 1, fd, family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	fd = socket(family, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (reuse)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (family == AF_INET6) {
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
					    sizeof(v6only)), 0);
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		len = sizeof(*s6);
	} else {
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
		len = sizeof(*s4);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	if (listening)
		assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET6 ? s6->sin6_port : s4->sin_port);
	return fd;
}

static void test_holders_conflict(void **state)
{
	static const struct {
		int type;
		const char *addr;
		int v6only;
		bool reuse, listening;
	} cases[] = {
		{ SOCK_STREAM, "0.0.0.0", 0, false, true },
		{ SOCK_STREAM, "0.0.0.0", 0, true, true },
		{ SOCK_STREAM, "0.0.0.0", 0, false, false },
		{ SOCK_STREAM, "127.0.0.1", 0, false, true },
		{ SOCK_STREAM, "127.0.0.1", 0, false, false },
		{ SOCK_STREAM, "::", 1, false, true },
		{ SOCK_STREAM, "::", 0, true, true },
		{ SOCK_STREAM, "::1", 1, false, true },
		{ SOCK_STREAM, "::ffff:127.0.0.1", 0, false, true },
		{ SOCK_DGRAM, "0.0.0.0", 0, false, false },
		{ SOCK_DGRAM, "127.0.0.1", 0, false, false },
		{ SOCK_DGRAM, "::", 1, false, false },
		{ SOCK_DGRAM, "::", 0, false, false },
		{ SOCK_DGRAM, "::1", 1, false, false },
		{ SOCK_DGRAM, "::ffff:127.0.0.1", 0, false, false },
	};
	char why[128];

	(void)state;
	print_message("%d test binds per port on this kernel\n", pw_test_bind_binds());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t port;
		int fd = hold(cases[i].type, cases[i].addr, cases[i].v6only, cases[i].reuse,
			      cases[i].listening, &port);

		why[0] = '\0';
		if (pw_test_bind(port, why, sizeof(why)) != -EADDRINUSE)
			fail_msg("%s %s%s port %u: not seen by the test bind",
				 cases[i].type == SOCK_STREAM ? "tcp" : "udp", cases[i].addr,
				 cases[i].v6only ? " (v6only)" : "", port);
		assert_non_null(strstr(why, cases[i].type == SOCK_STREAM ? "tcp/" : "udp/"));
		assert_non_null(strstr(why, "in use"));
		close(fd);
		/* closed (no connection, no TIME_WAIT): free again */
		assert_int_equal(pw_test_bind(port, why, sizeof(why)), 0);
	}
}

static void test_free_port(void **state)
{
	char why[128] = "";
	uint16_t port;
	int fd;

	(void)state;
	/* a port the kernel just handed out and took back */
	fd = hold(SOCK_STREAM, "::", 0, false, false, &port);
	close(fd);
	assert_int_equal(pw_test_bind(port, why, sizeof(why)), 0);
	assert_int_equal(pw_test_bind(port, why, sizeof(why)), 0);
	assert_true(pw_test_bind_binds() == 2 || pw_test_bind_binds() == 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holders_conflict),
		cmocka_unit_test(test_free_port),
	};

	if (geteuid() != 0)
		return 77;	/* needs root: a network namespace of its own */
	return cmocka_run_group_tests(tests, setup, NULL);
}
