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
 * Services as they really run (leases), each listening on 127.0.0.1:PORT (tcp):
 *   helper daemonize PORT       listens, forks; the child prints "child PID" and
 *                               keeps listening; the parent then exits.
 *   helper setsid PORT          the same with a double fork and setsid().
 *   helper late PORT            forks; the parent exits at once; the child listens
 *                               once it is gone, prints "child PID", waits for EOF.
 *   helper setsid-late PORT     the same with a double fork and setsid().
 *   helper exec PORT            listens, then execs "helper hold" keeping the socket.
 *   helper recv PATH            listens on the Unix socket PATH ("ready"), takes one
 *                               fd over SCM_RIGHTS ("got"), keeps it until stdin EOF.
 *   helper recv-later PATH      the same, but receives only after a stdin line "take".
 *   helper pass PATH PORT       listens, sends the socket to PATH, prints "sent", exits.
 *   helper threads PORT         listens in a second thread ("ready") while the main
 *                               thread calls pthread_exit().
 *   helper reuse PORT N         N UDP sockets with SO_REUSEPORT ("bound"); stdin
 *                               "close" closes them all ("closed").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* A port argument: a number, or "-" to read it from stdin (the test allocates
 * it for this very process first). */
static unsigned port_arg(const char *a)
{
	char line[32];

	if (strcmp(a, "-"))
		return (unsigned)strtoul(a, NULL, 10);
	if (!fgets(line, sizeof(line), stdin))
		exit(1);
	return (unsigned)strtoul(line, NULL, 10);
}

static int listen_on(unsigned port)
{
	int fd = open_sock("tcp4", port, false);

	if (fd < 0) {
		printf("error %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

static void forever(void)
{
	for (;;)
		pause();
}

/* fork; the parent waits until the child said who it is, then exits. */
static int cmd_daemonize(unsigned port, bool twice)
{
	int fd = listen_on(port), p[2];
	pid_t c;
	char b;

	(void) fd;
	if (pipe(p))
		return 1;
	c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		close(p[0]);
		if (twice) {
			setsid();
			c = fork();
			if (c < 0)
				_exit(1);
			if (c > 0)
				_exit(0);
		}
		printf("child %d\n", getpid());
		fflush(stdout);
		(void) !write(p[1], "x", 1);
		close(p[1]);
		forever();
	}
	close(p[1]);
	(void) !read(p[0], &b, 1);
	if (twice)
		(void) waitpid(c, NULL, 0);
	return 0;
}

/* Wait until the other end of the pipe is closed everywhere (its holder exited). */
static void await_gone(int p[2])
{
	char b;

	close(p[1]);
	(void) !read(p[0], &b, 1);
	close(p[0]);
}

/* Daemonize first, bind after: the parent exits at once, and the child (or,
 * twice, the grandchild of a double fork with setsid) listens only once the
 * process before it is gone, then prints "child PID". */
static int cmd_late(unsigned port, bool twice)
{
	int gone[2];
	char b[64];
	pid_t c;

	if (pipe(gone))
		return 1;
	c = fork();
	if (c)
		return c < 0;
	await_gone(gone);
	if (twice) {
		setsid();
		if (pipe(gone))
			_exit(1);
		c = fork();
		if (c)
			_exit(c < 0);
		await_gone(gone);
	}
	(void) listen_on(port);
	printf("child %d\n", getpid());
	/* until killed, or the test is gone (its end of stdin closed) */
	while (fgets(b, sizeof(b), stdin))
		;
	return 0;
}

static int cmd_exec(const char *self, unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);	/* no CLOEXEC: exec keeps it */
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (fd < 0 || bind(fd, (struct sockaddr *)&s4, sizeof(s4)) || listen(fd, 8)) {
		printf("error %s\n", strerror(errno));
		return 1;
	}
	execl(self, "helper", "hold", (char *)NULL);
	printf("error exec: %s\n", strerror(errno));
	return 1;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int cmd_recv(const char *path, bool later)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b, line[64];
	struct iovec io = { .iov_base = &b, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct sockaddr_un sa;
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c;

	if (l < 0 || unix_addr(path, &sa) || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1))
		return 1;
	printf("ready\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	/* later: the fd stays in flight until stdin says "take" */
	if (later && (!fgets(line, sizeof(line), stdin) || strcmp(line, "take\n")))
		return 1;
	if (c < 0 || recvmsg(c, &m, 0) <= 0 || !CMSG_FIRSTHDR(&m))
		return 1;
	printf("got\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

static int cmd_pass(const char *path, unsigned port)
{
	int fd = listen_on(port), c = socket(AF_UNIX, SOCK_STREAM, 0);
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, b = 'x';
	struct iovec io = { .iov_base = &b, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	struct sockaddr_un sa;

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	if (c < 0 || unix_addr(path, &sa) || connect(c, (struct sockaddr *)&sa, sizeof(sa)) ||
	    sendmsg(c, &m, 0) != 1) {
		printf("error %s\n", strerror(errno));
		return 1;
	}
	printf("sent\n");
	fflush(stdout);
	return 0;
}

static void *serve(void *arg)
{
	(void) arg;
	printf("ready\n");
	fflush(stdout);
	forever();
	return NULL;
}

static int cmd_threads(unsigned port)
{
	pthread_t t;

	(void) listen_on(port);
	if (pthread_create(&t, NULL, serve, NULL))
		return 1;
	pthread_exit(NULL);
}

static int cmd_reuse(unsigned port, unsigned long n)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct rlimit rl = { .rlim_cur = n + 64, .rlim_max = n + 64 };
	int *fds = calloc(n, sizeof(int)), one = 1;
	char line[64];

	if (!fds)
		return 1;
	if (n + 64 > 1024)
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	for (unsigned long i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fds[i] < 0 ||
		    setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    bind(fds[i], (struct sockaddr *)&s4, sizeof(s4))) {
			printf("error %s\n", strerror(errno));
			return 1;
		}
	}
	printf("bound\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "close", 5)) {
			for (unsigned long i = 0; i < n; i++)
				close(fds[i]);
			printf("closed\n");
			fflush(stdout);
		}
	}
	free(fds);
	return 0;
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
	if (argc >= 3 && !strcmp(argv[1], "daemonize"))
		return cmd_daemonize(port_arg(argv[2]), false);
	if (argc >= 3 && !strcmp(argv[1], "setsid"))
		return cmd_daemonize(port_arg(argv[2]), true);
	if (argc >= 3 && !strcmp(argv[1], "late"))
		return cmd_late(port_arg(argv[2]), false);
	if (argc >= 3 && !strcmp(argv[1], "setsid-late"))
		return cmd_late(port_arg(argv[2]), true);
	if (argc >= 3 && !strcmp(argv[1], "exec"))
		return cmd_exec("/proc/self/exe", port_arg(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "recv"))
		return cmd_recv(argv[2], false);
	if (argc >= 3 && !strcmp(argv[1], "recv-later"))
		return cmd_recv(argv[2], true);
	if (argc >= 4 && !strcmp(argv[1], "pass"))
		return cmd_pass(argv[2], port_arg(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "threads"))
		return cmd_threads(port_arg(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "reuse"))
		return cmd_reuse(port_arg(argv[2]), strtoul(argv[3], NULL, 10));
	if (argc >= 2 && !strcmp(argv[1], "hold")) {
		printf("%d\n", getpid());
		while (fgets(line, sizeof(line), stdin))
			;
		return 0;
	}
	fprintf(stderr, "usage: helper listen|hold|churn|many|http|daemonize|setsid|late|"
		"setsid-late|exec|recv|recv-later|"
		"pass|threads|reuse ...\n");
	return 2;
}
