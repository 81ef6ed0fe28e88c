// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"

struct pw_conn {
	int fd;
	char *buf;
	size_t len, cap, consumed;
	int timeout_ms;		/* pw_conn_call's wait for the next bytes */
};

int pw_conn_open(struct pw_conn **ret, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pw_conn *c;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = -1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return err;
	}
	*ret = c;
	return 0;
}

void pw_conn_close(struct pw_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

void pw_conn_set_timeout(struct pw_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int pw_conn_fd(const struct pw_conn *c)
{
	return c->fd;
}

int pw_conn_send(struct pw_conn *c, const char *cmd, json_t *args)
{
	char *line = pw_proto_request(cmd, args);
	size_t off = 0, n;

	if (!line)
		return -ENOMEM;
	n = strlen(line);
	while (off < n) {
		ssize_t w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);

		if (w < 0) {
			int err = -errno;

			if (errno == EINTR)
				continue;
			free(line);
			return err;
		}
		off += (size_t)w;
	}
	free(line);
	return 0;
}

static size_t max_line = PW_CONN_MAX_LINE_DEFAULT;

size_t pw_conn_max_line(void)
{
	return max_line;
}

void pw_conn_set_max_line(size_t bytes)
{
	max_line = bytes;
}

int pw_conn_read_line(struct pw_conn *c, const char **line, int timeout_ms)
{
	/* drop the line handed out last time */
	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;
		int pr;

		if (nl) {
			*nl = '\0';
			c->consumed = (size_t)(nl - c->buf) + 1;
			*line = c->buf;
			return 0;
		}
		/* a peer that sends no newline does not get all our memory */
		if (c->len > max_line)
			return -EMSGSIZE;
		if (c->cap - c->len < 4096) {
			size_t ncap = c->cap ? c->cap * 2 : 65536;
			char *nb;

			if (ncap > max_line + 65536)
				ncap = max_line + 65536;
			nb = realloc(c->buf, ncap);

			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = ncap;
		}
		pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			return -EINTR;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (r == 0)
			return -EPIPE;
		c->len += (size_t)r;
	}
}

int pw_conn_read_part(struct pw_conn *c, const char **data, size_t *len, bool *eol,
		      int timeout_ms)
{
	char *nl;
	size_t n;

	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	if (!c->len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;
		int pr;

		if (c->cap < 65536) {
			char *nb = realloc(c->buf, 65536);

			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = 65536;
		}
		/* no deadline: the blocking socket waits by itself (a listing
		 * is some forty reads) */
		if (timeout_ms >= 0) {
			pr = poll(&pfd, 1, timeout_ms);
			if (pr < 0)
				return -errno;
			if (pr == 0)
				return -ETIMEDOUT;
		}
		r = recv(c->fd, c->buf, c->cap, 0);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		c->len = (size_t)r;
	}
	nl = memchr(c->buf, '\n', c->len);
	n = nl ? (size_t)(nl - c->buf) + 1 : c->len;
	*data = c->buf;
	*len = nl ? n - 1 : n;
	*eol = nl != NULL;
	c->consumed = n;
	return 0;
}

int pw_conn_call(struct pw_conn *c, const char *cmd, json_t *args, json_t **result,
		 char *msg, size_t msglen)
{
	const char *line;
	int err;

	err = pw_conn_send(c, cmd, args);
	if (err)
		return err;
	do
		err = pw_conn_read_line(c, &line, c->timeout_ms);
	while (err == -EINTR);
	if (err)
		return err;
	err = pw_proto_parse_response(line, result, msg, msglen);
	if (err < 0)
		snprintf(msg, msglen, "malformed response from the daemon");
	return err < 0 ? PW_E_INTERNAL : err;
}
