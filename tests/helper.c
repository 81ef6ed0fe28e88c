// SPDX-License-Identifier: GPL-2.0
/*
 * A process integration tests own and steer through stdin/stdout:
 *   helper listen PROTO PORT    PROTO tcp4|tcp6|udp4|udp6; PORT 0 = kernel's
 *                               choice. Prints the port, then obeys stdin:
 *                               "close" closes the socket (prints "closed"),
 *                               "listen PROTO PORT" opens another; EOF exits.
 *   helper hold                 prints its pid, waits for stdin EOF.
 *   helper churn N [tcp|udp]    N bind(127.0.0.1:0)/close cycles, prints "done N".
 *   helper many N               N sockets (half TCP listeners, half UDP),
 *                               prints "ready", waits for EOF.
 *   helper http PORT            minimal HTTP server on 127.0.0.1:PORT, answering
 *                               200; stdin "fail" switches to 500, "ok" back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_sock(const char *proto, unsigned port, bool any_addr)
{
	bool v6 = strchr(proto, '6') != NULL, tcp = !strncmp(proto, "tcp", 3);
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1;

	fd = socket(v6 ? AF_INET6 : AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6) {
		s6.sin6_addr = any_addr ? in6addr_any : in6addr_loopback;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)))
			goto fail;
	} else {
		s4.sin_addr.s_addr = htonl(any_addr ? INADDR_ANY : INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&s4, sizeof(s4)))
			goto fail;
	}
	if (tcp && listen(fd, 64))
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static unsigned local_port(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);

	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin6_port);	/* same offset in sockaddr_in */
}

static int cmd_listen(const char *proto, unsigned port)
{
	char line[256];
	int fd = open_sock(proto, port, true);

	if (fd < 0) {
		printf("error %s\n", strerror(errno));
		return 1;
	}
	printf("%u\n", local_port(fd));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char p[16];
		unsigned n;

		if (!strncmp(line, "close", 5) && fd >= 0) {
			close(fd);
			fd = -1;
			printf("closed\n");
		} else if (sscanf(line, "listen %15s %u", p, &n) == 2) {
			fd = open_sock(p, n, true);
			if (fd < 0)
				printf("error %s\n", strerror(errno));
			else
				printf("%u\n", local_port(fd));
		}
		fflush(stdout);
	}
	return 0;
}

static int cmd_churn(unsigned long n, const char *which)
{
	for (unsigned long i = 0; i < n; i++) {
		const char *proto = which ? which : (i & 1) ? "udp4" : "tcp4";
		int fd = open_sock(!strcmp(proto, "tcp") ? "tcp4" : !strcmp(proto, "udp") ? "udp4"
											    : proto, 0, false);

		if (fd < 0) {
			printf("error %s\n", strerror(errno));
			return 1;
		}
		close(fd);
	}
	printf("done %lu\n", n);
	return 0;
}

static int cmd_many(unsigned long n)
{
	struct rlimit rl = { .rlim_cur = n + 64, .rlim_max = n + 64 };
	char line[64];

	/* thousands of sockets in one process (benchmarks) */
	if (n + 64 > 1024)
		(void) setrlimit(RLIMIT_NOFILE, &rl);

	for (unsigned long i = 0; i < n; i++)
		if (open_sock(i & 1 ? "udp4" : "tcp4", 0, false) < 0) {
			printf("error %s\n", strerror(errno));
			return 1;
		}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

static int cmd_http(unsigned port)
{
	int lfd = open_sock("tcp4", port, false);
	bool fail = false;
	char buf[2048];

	if (lfd < 0) {
		printf("error %s\n", strerror(errno));
		return 1;
	}
	printf("%u\n", local_port(lfd));
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents) {
			ssize_t r = read(0, buf, sizeof(buf) - 1);

			if (r <= 0)
				return 0;
			buf[r] = '\0';
			fail = strstr(buf, "fail") != NULL;
			printf("mode %s\n", fail ? "fail" : "ok");
			fflush(stdout);
		}
		if (p[1].revents) {
			int c = accept(lfd, NULL, NULL);
			const char *resp = fail ? "HTTP/1.0 500 Internal Server Error\r\n"
						  "Content-Length: 0\r\n\r\n"
						: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";

			if (c < 0)
				continue;
			(void) !read(c, buf, sizeof(buf));
			(void) !write(c, resp, strlen(resp));
			close(c);
		}
	}
}

int main(int argc, char **argv)
{
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return cmd_listen(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	if (argc >= 3 && !strcmp(argv[1], "churn"))
		return cmd_churn(strtoul(argv[2], NULL, 10), argc > 3 ? argv[3] : NULL);
	if (argc >= 3 && !strcmp(argv[1], "many"))
		return cmd_many(strtoul(argv[2], NULL, 10));
	if (argc >= 3 && !strcmp(argv[1], "http"))
		return cmd_http((unsigned)strtoul(argv[2], NULL, 10));
	if (argc >= 2 && !strcmp(argv[1], "hold")) {
		printf("%d\n", getpid());
		while (fgets(line, sizeof(line), stdin))
			;
		return 0;
	}
	fprintf(stderr, "usage: helper listen|hold|churn|many|http ...\n");
	return 2;
}
