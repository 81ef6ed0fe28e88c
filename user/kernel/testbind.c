// SPDX-License-Identifier: GPL-2.0
/*
 * Test binds: can a service bind this port right now, TCP or UDP, IPv4 or
 * IPv6, on any address?
 *
 * One bind per protocol answers for both families: a socket bound to the IPv6
 * wildcard with IPV6_V6ONLY off ("dual-stack", what [::] servers bind)
 * conflicts with every socket on that port in either family and on any
 * address - 0.0.0.0, 127.0.0.1, [::], [::1], v4-mapped - exactly where a bind
 * to 0.0.0.0 and one to [::] (IPV6_V6ONLY on) would each have conflicted. So
 * two binds replace the four (tcp/ipv4, tcp/ipv6, udp/ipv4, udp/ipv6) with
 * the same verdict. Whether this kernel really behaves so is checked once, on
 * sockets of our own, before relying on it (some 6.x kernels had dual-stack
 * conflict regressions); if it does not, or there is no IPv6, the four binds
 * (or the two IPv4 ones) are made as before.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testbind.h"

enum mode { MODE_UNKNOWN, MODE_DUAL, MODE_SPLIT, MODE_V4 };

static enum mode mode;

/* v6only: 1 IPv6 only, 0 dual-stack (IPv6 sockets only). */
static int try_bind_addr(int family, int type, int v6only, uint16_t port, bool reuse)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, fd, err = 0;

	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* what servers do: TIME_WAIT leftovers are no conflict */
	if (reuse && type == SOCK_STREAM)
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) {
		err = -errno;
		close(fd);
		return err;
	}
	if (family == AF_INET6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
			       : bind(fd, (struct sockaddr *)&s4, sizeof(s4)))
		err = -errno;
	close(fd);
	return err;
}

/* A socket held for the self-check: bound to 127.0.0.1 or 0.0.0.0 on an
 * ephemeral port (listening if TCP). fd or -errno; *port its port. */
static int hold_v4(int type, bool loopback, bool reuse, uint16_t *port)
{
	int one = 1;
	struct sockaddr_in s4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK
								    : INADDR_ANY) };
	socklen_t len = sizeof(s4);
	int fd, err;

	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (reuse)
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s4, sizeof(s4)) ||
	    (type == SOCK_STREAM && listen(fd, 1)) ||
	    getsockname(fd, (struct sockaddr *)&s4, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(s4.sin_port);
	return fd;
}

/* Does a dual-stack bind see IPv4 sockets here? Checked on sockets of our
 * own: TCP and UDP on 0.0.0.0 and on 127.0.0.1. (IPv6 sockets need no check:
 * [::] conflicts with every IPv6 address whatever IPV6_V6ONLY says.) */
static enum mode probe(void)
{
	static const struct {
		int type;
		bool loopback, reuse;
	} held[] = {
		/* the listener of a server that set SO_REUSEADDR, as ours does */
		{ SOCK_STREAM, false, true }, { SOCK_STREAM, true, false },
		{ SOCK_DGRAM, false, false }, { SOCK_DGRAM, true, false },
	};
	int fd, err;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return MODE_V4;	/* no IPv6 at all: IPv4 binds only */
	close(fd);
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		uint16_t port = 0;

		fd = hold_v4(held[i].type, held[i].loopback, held[i].reuse, &port);
		if (fd == -EADDRNOTAVAIL && held[i].loopback)
			continue;	/* lo is down: checked on 0.0.0.0 only */
		if (fd < 0)
			return MODE_SPLIT;
		err = try_bind_addr(AF_INET6, held[i].type, 0, port, true);
		close(fd);
		if (err != -EADDRINUSE)
			return MODE_SPLIT;
	}
	return MODE_DUAL;
}

int pw_test_bind(uint16_t port, char *why, size_t len)
{
	static const struct {
		int family, type, v6only;
		const char *name;
	} dual[] = {
		{ AF_INET6, SOCK_STREAM, 0, "tcp/ipv4+ipv6" },
		{ AF_INET6, SOCK_DGRAM, 0, "udp/ipv4+ipv6" },
	}, split[] = {
		{ AF_INET, SOCK_STREAM, 1, "tcp/ipv4" },
		{ AF_INET6, SOCK_STREAM, 1, "tcp/ipv6" },
		{ AF_INET, SOCK_DGRAM, 1, "udp/ipv4" },
		{ AF_INET6, SOCK_DGRAM, 1, "udp/ipv6" },
	};
	const typeof(dual[0]) *v;
	size_t n;

	if (mode == MODE_UNKNOWN)
		mode = probe();
	v = mode == MODE_DUAL ? dual : split;
	n = mode == MODE_DUAL ? 2 : 4;
	for (size_t i = 0; i < n; i++) {
		int err;

		if (mode == MODE_V4 && v[i].family == AF_INET6)
			continue;
		err = try_bind_addr(v[i].family, v[i].type, v[i].v6only, port, true);
		if (err == -EAFNOSUPPORT && v[i].family == AF_INET6 && mode == MODE_SPLIT)
			continue;	/* IPv6 went away: nothing can bind it there */
		if (err) {
			snprintf(why, len, "%s: %s", v[i].name, strerror(-err));
			return err;
		}
	}
	return 0;
}

int pw_test_bind_binds(void)
{
	if (mode == MODE_UNKNOWN)
		mode = probe();
	return mode == MODE_DUAL ? 2 : mode == MODE_V4 ? 2 : 4;
}
