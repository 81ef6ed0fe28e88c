// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testbind.h"

static int try_bind(int family, int type, uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, fd, err = 0;

	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return family == AF_INET6 && errno == EAFNOSUPPORT ? 0 : -errno;
	/* what servers do: TIME_WAIT leftovers are no conflict */
	if (type == SOCK_STREAM)
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (family == AF_INET6 ? bind(fd, (struct sockaddr *)&s6, sizeof(s6))
			       : bind(fd, (struct sockaddr *)&s4, sizeof(s4)))
		err = -errno;
	close(fd);
	return err;
}

int pw_test_bind(uint16_t port, char *why, size_t len)
{
	static const struct {
		int family, type;
		const char *name;
	} probes[] = {
		{ AF_INET, SOCK_STREAM, "tcp/ipv4" },
		{ AF_INET6, SOCK_STREAM, "tcp/ipv6" },
		{ AF_INET, SOCK_DGRAM, "udp/ipv4" },
		{ AF_INET6, SOCK_DGRAM, "udp/ipv6" },
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int err = try_bind(probes[i].family, probes[i].type, port);

		if (err) {
			snprintf(why, len, "%s: %s", probes[i].name, strerror(-err));
			return err;
		}
	}
	return 0;
}
