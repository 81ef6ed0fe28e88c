// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket under a flood: 1,000 clients connect at once; some send
 * random bytes in lines, four at a time, ten times (each line gets an error
 * response), some a line over 64 KiB (an error, then closed), the rest
 * nothing at all. Meanwhile a
 * well-behaved client keeps asking for status and ports and gets each answer
 * within ANSWER_MS. Afterwards the daemon counts the clients still connected,
 * and none once they are gone. A slowloris client, silent or dribbling a
 * partial line, is disconnected after the 5 s partial-request timeout. A
 * client that pipelines requests and never reads is dropped before the
 * daemon buffers more than the output limit for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "itest_lib.h"
#include "proto.h"

#define N_CLIENTS	1000	/* a multiple of ten: see the mix in test_flood */
#define N_GARBAGE	(N_CLIENTS * 3 / 10)
#define N_BIG		(N_CLIENTS * 2 / 10)	/* the rest stay silent */
#define N_IDLE		(N_CLIENTS - N_GARBAGE - N_BIG)
#define BATCH_LINES	4	/* garbage lines sent at once, then the answers read */
#define BATCHES		10
#define GARBAGE_LINES	(BATCH_LINES * BATCHES)	/* per garbage client */
#define BIG_LEN		(PW_PROTO_MAX_LINE + 8192)
#define ANSWER_MS	200
#define PARTIAL_MS	5000	/* the daemon's partial-request timeout */

static struct itest_daemon daemon_;
static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64: reproducible from the printed seed */
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int setup(void **state)
{
	struct rlimit rl;

	(void) state;
	itest_require_root();
	/* a network namespace of its own: its ports, and the map it compares,
	 * are its own */
	if (itest_unshare_net())
		return -1;
	/* 1,000 sockets here and as many in the daemon, which inherits the limit */
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	if (rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return -1;
	}
	if (rl.rlim_cur < N_CLIENTS + 100) {
		fprintf(stderr, "RLIMIT_NOFILE hard limit %llu: too low for %d clients\n",
			(unsigned long long)rl.rlim_max, N_CLIENTS);
		return -1;
	}
	rng = itest_now_ns() | 1;
	print_message("seed %llu\n", (unsigned long long)rng);
	return itest_daemon_start(&daemon_, NULL);
}

static int teardown(void **state)
{
	(void) state;
	itest_daemon_cleanup(&daemon_);
	return 0;
}

static int connect_raw(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (strlen(daemon_.sock) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, daemon_.sock, strlen(daemon_.sock) + 1);
	/* blocking: a full backlog waits for the daemon to accept */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static json_int_t status_num(const char *key)
{
	json_t *res = NULL;
	json_int_t v = -1;

	if (!itest_call(&daemon_, "status", NULL, &res))
		v = json_integer_value(json_object_get(res, key));
	json_decref(res);
	return v;
}

/* The well-behaved client: status and ports, one after the other, timed. */
struct probe {
	int stop;
	uint64_t max_ns[2];
	unsigned count[2];
	unsigned failures;
};

static void *probe_main(void *arg)
{
	static const char *const cmds[2] = { "status", "ports" };
	struct probe *p = arg;
	struct pw_conn *c;

	if (pw_conn_open(&c, daemon_.sock)) {
		p->failures++;
		return NULL;
	}
	for (unsigned i = 0; !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE); i++) {
		unsigned k = i & 1;
		uint64_t t0 = itest_now_ns(), dt;
		json_t *res = NULL;
		const char *line;
		char msg[256];

		if (pw_conn_send(c, cmds[k], NULL) ||
		    pw_conn_read_line(c, &line, 5000 * (int)itest_slow())) {
			p->failures++;
			break;
		}
		dt = itest_now_ns() - t0;
		if (pw_proto_parse_response(line, &res, msg, sizeof(msg))) {
			fprintf(stderr, "%s: %s\n", cmds[k], msg);
			p->failures++;
		}
		json_decref(res);
		if (dt > p->max_ns[k])
			p->max_ns[k] = dt;
		p->count[k]++;
	}
	pw_conn_close(c);
	return NULL;
}

enum kind { GARBAGE, BIG, IDLE };

struct fc {
	int fd;
	enum kind kind;
	char *out;
	size_t out_len, out_off;
	char in[16384];
	size_t in_len;
	unsigned want_lines, lines, bad_request, batch;
	bool eof, failed;
};

/* BATCH_LINES lines of random bytes without '\n' or '\r', each ending in '\n'. */
static char *garbage(size_t *len)
{
	char *b = malloc(BATCH_LINES * 129);
	size_t n = 0;

	if (!b)
		return NULL;
	for (int l = 0; l < BATCH_LINES; l++) {
		size_t ll = 1 + rnd() % 128;

		for (size_t i = 0; i < ll; i++) {
			char c;

			do
				c = (char)rnd();
			while (c == '\n' || c == '\r');
			b[n++] = c;
		}
		b[n++] = '\n';
	}
	*len = n;
	return b;
}

static void take_lines(struct fc *c)
{
	char *nl;

	while ((nl = memchr(c->in, '\n', c->in_len))) {
		char msg[512];
		json_t *res = NULL;
		int r;

		*nl = '\0';
		r = pw_proto_parse_response(c->in, &res, msg, sizeof(msg));
		json_decref(res);
		c->lines++;
		if (r == PW_E_BAD_REQUEST && (c->kind != BIG || strstr(msg, "larger than")))
			c->bad_request++;
		else
			c->failed = true;
		c->in_len -= (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->in_len);
	}
}

/* A garbage client sends its next batch once the last one is answered. */
static void next_batch(struct fc *c)
{
	if (c->kind != GARBAGE || c->out_off < c->out_len || c->lines >= c->want_lines ||
	    c->lines % BATCH_LINES || c->lines / BATCH_LINES != c->batch)
		return;
	free(c->out);
	c->out = garbage(&c->out_len);
	c->out_off = 0;
	c->batch++;
}

static bool finished(const struct fc *c)
{
	switch (c->kind) {
	case GARBAGE:
		return c->lines >= c->want_lines || c->eof;
	case BIG:
		return c->eof;
	default:
		return true;
	}
}

static void pump(struct fc *c, short revents)
{
	if ((revents & POLLOUT) && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->out_off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			c->out_off = c->out_len;	/* closed by the daemon: stop sending */
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len - 1,
				 MSG_DONTWAIT);

		if (n > 0) {
			c->in_len += (size_t)n;
			take_lines(c);
			if (c->in_len >= sizeof(c->in) - 1)
				c->failed = true;
			next_batch(c);
		} else if (n == 0 || errno != EAGAIN) {
			c->eof = true;
		}
	}
}

static void test_flood(void **state)
{
	static struct fc cl[N_CLIENTS];
	static struct pollfd pfd[N_CLIENTS];
	static int idx[N_CLIENTS];
	struct probe probe = { 0 };
	unsigned garbage_lines = 0, big_closed = 0, idle_closed = 0, failed = 0;
	uint64_t t0, deadline;
	unsigned during[2];
	double cpu0;
	pthread_t th;
	bool done = false;

	(void) state;
	assert_int_equal(pthread_create(&th, NULL, probe_main, &probe), 0);
	/* let the probe get a few answers before the flood, as a baseline */
	assert_true(ITEST_WAIT(__atomic_load_n(&probe.count[1], __ATOMIC_RELAXED) >= 3 ||
			       probe.failures, 5000 * itest_slow()));

	t0 = itest_now_ns();
	cpu0 = itest_cpu_ms(daemon_.pid);
	for (int k = 0; k < 2; k++)
		during[k] = __atomic_load_n(&probe.count[k], __ATOMIC_RELAXED);
	for (int i = 0; i < N_CLIENTS; i++) {
		struct fc *c = &cl[i];

		c->fd = connect_raw();
		assert_true(c->fd >= 0);
		/* interleaved: of every ten, three garbage, two big, five idle */
		c->kind = i % 10 < 3 ? GARBAGE : i % 10 < 5 ? BIG : IDLE;
	}
	print_message("%d clients connected in %.1f ms\n", N_CLIENTS,
		      (double)(itest_now_ns() - t0) / 1e6);
	for (int i = 0; i < N_CLIENTS; i++) {
		struct fc *c = &cl[i];

		if (c->kind == GARBAGE) {
			c->out = garbage(&c->out_len);
			c->batch = 1;
			c->want_lines = GARBAGE_LINES;
		} else if (c->kind == BIG) {
			c->out = malloc(BIG_LEN);
			assert_non_null(c->out);
			memset(c->out, 'x', BIG_LEN);
			c->out_len = BIG_LEN;
		}
	}

	deadline = itest_now_ns() + 30000000000ull * itest_slow();
	while (!done && itest_now_ns() < deadline) {
		int n = 0;

		for (int i = 0; i < N_CLIENTS; i++) {
			struct fc *c = &cl[i];

			if (c->eof || (c->kind != IDLE && finished(c)))
				continue;
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
			if (c->out_off < c->out_len)
				pfd[n].events |= POLLOUT;
			idx[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 100) < 0)
			continue;
		for (int k = 0; k < n; k++)
			if (pfd[k].revents)
				pump(&cl[idx[k]], pfd[k].revents);
		done = true;
		for (int i = 0; i < N_CLIENTS && done; i++)
			done = cl[i].kind == IDLE || finished(&cl[i]);
	}
	for (int k = 0; k < 2; k++)
		during[k] = __atomic_load_n(&probe.count[k], __ATOMIC_RELAXED) - during[k];
	print_message("flood handled in %.1f ms, the daemon using %.0f ms of CPU\n",
		      (double)(itest_now_ns() - t0) / 1e6, itest_cpu_ms(daemon_.pid) - cpu0);
	__atomic_store_n(&probe.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th, NULL), 0);

	for (int i = 0; i < N_CLIENTS; i++) {
		struct fc *c = &cl[i];

		if (c->kind == GARBAGE && c->lines == GARBAGE_LINES && c->bad_request == c->lines &&
		    !c->eof)
			garbage_lines += c->lines;
		else if (c->kind == BIG && c->eof && c->lines == 1 && c->bad_request == 1)
			big_closed++;
		else if (c->kind == IDLE && c->eof)
			idle_closed++;
		if (c->failed || (c->kind == GARBAGE && c->lines != GARBAGE_LINES) ||
		    (c->kind == BIG && !(c->eof && c->bad_request == 1)) ||
		    (c->kind == IDLE && c->eof))
			failed++;
	}
	print_message("garbage: %u error responses (of %d lines); oversized: %u of %d closed "
		      "with an error; idle: %u of %d closed; clients in trouble: %u\n",
		      garbage_lines, N_GARBAGE * GARBAGE_LINES, big_closed, N_BIG, idle_closed,
		      N_IDLE, failed);
	print_message("well-behaved client: status %u answers (%u during the flood), max %.2f ms;"
		      " ports %u answers (%u during the flood), max %.2f ms; failures %u\n",
		      probe.count[0], during[0], (double)probe.max_ns[0] / 1e6, probe.count[1],
		      during[1], (double)probe.max_ns[1] / 1e6, probe.failures);
	assert_true(done);
	assert_int_equal(failed, 0);
	assert_int_equal(garbage_lines, N_GARBAGE * GARBAGE_LINES);
	assert_int_equal(big_closed, N_BIG);
	assert_int_equal(probe.failures, 0);
	assert_true(during[0] >= 1 && during[1] >= 1);
	assert_true(probe.max_ns[0] < ANSWER_MS * 1000000ull * itest_slow());
	assert_true(probe.max_ns[1] < ANSWER_MS * 1000000ull * itest_slow());

	/* the garbage and idle clients are still connected, and this status call */
	assert_true(ITEST_WAIT(status_num("clients") == N_GARBAGE + N_IDLE + 1, 2000 * itest_slow()));
	for (int i = 0; i < N_CLIENTS; i++) {
		close(cl[i].fd);
		free(cl[i].out);
	}
	/* all gone: only the asking client remains */
	assert_true(ITEST_WAIT(status_num("clients") == 1, 2000 * itest_slow()));
	assert_int_equal(status_num("watchers"), 0);
}

/*
 * A client that pipelines requests and never reads the answers: the daemon
 * must not buffer them without bound. It is dropped once its unread output
 * passes the output limit (8 MiB), and the daemon's memory stays in bounds.
 */
static void test_unread_answers(void **state)
{
	static char chunk[8192];
	uint64_t t0, deadline;
	size_t sent = 0;
	long rss0, rss1;
	bool dropped = false;
	int fd;

	(void) state;
	for (size_t i = 0; i < sizeof(chunk); i += 2)
		memcpy(chunk + i, "x\n", 2);	/* 2 bytes in, an error line of ~120 out */
	rss0 = itest_status_kib(daemon_.pid, "VmRSS");
	fd = connect_raw();
	assert_true(fd >= 0);
	t0 = itest_now_ns();
	deadline = t0 + 15000000000ull * itest_slow();
	while (!dropped && itest_now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			dropped = true;
		/* bounded input: 64 MiB of requests answered is far past any limit */
		if (sent > (64u << 20))
			break;
	}
	rss1 = itest_status_kib(daemon_.pid, "VmRSS");
	print_message("non-reading client: %s after %zu KiB of requests (%.0f ms); daemon RSS "
		      "%ld -> %ld KiB\n", dropped ? "dropped" : "NOT dropped", sent >> 10,
		      (double)(itest_now_ns() - t0) / 1e6, rss0, rss1);
	close(fd);
	assert_true(dropped);
#ifndef __SANITIZE_ADDRESS__
	/* (ASan's quarantine keeps freed memory resident: no bound to check there) */
	assert_true(rss1 - rss0 < 64 * 1024);
#endif
	/* and the daemon still answers */
	assert_true(status_num("clients") >= 1);
}

/* A partial line, silent or dribbled, is cut off after PARTIAL_MS. */
static void test_slowloris(void **state)
{
	static const char partial[] = "{\"v\":1,\"cmd\":\"status\",\"args\":{\"pad\":\"";
	struct {
		int fd;
		bool dribble, closed, error_line;
		uint64_t closed_ns;
		char in[1024];
		size_t in_len;
	} c[2] = { { .dribble = false }, { .dribble = true } };
	uint64_t t0, next_drip, deadline;
	int idle;

	(void) state;
	idle = connect_raw();
	assert_true(idle >= 0);
	for (int i = 0; i < 2; i++) {
		c[i].fd = connect_raw();
		assert_true(c[i].fd >= 0);
		assert_int_equal(send(c[i].fd, partial, sizeof(partial) - 1, MSG_NOSIGNAL),
				 sizeof(partial) - 1);
	}
	t0 = next_drip = itest_now_ns();
	deadline = t0 + (PARTIAL_MS + 2000) * 1000000ull * itest_slow();
	while ((!c[0].closed || !c[1].closed) && itest_now_ns() < deadline) {
		struct pollfd p[2] = { { .fd = c[0].fd, .events = POLLIN },
				       { .fd = c[1].fd, .events = POLLIN } };

		/* the dribbler sends one more byte every 250 ms, never a newline */
		if (!c[1].closed && itest_now_ns() >= next_drip) {
			(void) send(c[1].fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			next_drip += 250000000ull;
		}
		if (poll(p, 2, 50) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents || c[i].closed)
				continue;
			n = recv(c[i].fd, c[i].in + c[i].in_len, sizeof(c[i].in) - c[i].in_len - 1,
				 MSG_DONTWAIT);
			if (n > 0) {
				c[i].in_len += (size_t)n;
				c[i].in[c[i].in_len] = '\0';
				c[i].error_line = strstr(c[i].in, "timed out") != NULL;
			} else if (n == 0 || errno != EAGAIN) {
				c[i].closed = true;
				c[i].closed_ns = itest_now_ns();
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		double ms = (double)(c[i].closed_ns - t0) / 1e6;

		print_message("%s partial request: %s after %.0f ms%s\n",
			      c[i].dribble ? "dribbled" : "silent", c[i].closed ? "closed" : "open",
			      c[i].closed ? ms : (double)(itest_now_ns() - t0) / 1e6,
			      c[i].error_line ? ", with an error response" : "");
		assert_true(c[i].closed);
		assert_true(c[i].error_line);
		/* not before the timeout; the daemon sweeps once a second */
		assert_true(ms >= PARTIAL_MS - 100);
		assert_true(ms <= (PARTIAL_MS + 2000) * itest_slow());
		close(c[i].fd);
	}
	/* a silent client without a partial line is only subject to the 60 s idle timeout */
	{
		struct pollfd p = { .fd = idle, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 0), 0);
	}
	close(idle);
}

/*
 * 300 clients each pipeline 40 requests in one write: each is served 16 per
 * turn, round robin, so a well-behaved client's requests wait behind one
 * turn of each, not behind 12,000 requests.
 */
static void test_pipelined_burst(void **state)
{
	static const char req[] = "{\"v\":1,\"cmd\":\"status\"}\n";
	struct probe probe = { 0 };
	char burst[40 * sizeof(req)];
	int fds[300];
	pthread_t th;
	uint64_t t0, burst_ns, bound_ns;
	size_t off = 0;

	(void) state;
	for (int i = 0; i < 40; i++, off += sizeof(req) - 1)
		memcpy(burst + off, req, sizeof(req) - 1);
	for (int i = 0; i < 300; i++) {
		fds[i] = connect_raw();
		assert_true(fds[i] >= 0);
	}
	assert_int_equal(pthread_create(&th, NULL, probe_main, &probe), 0);
	assert_true(ITEST_WAIT(__atomic_load_n(&probe.count[0], __ATOMIC_ACQUIRE) > 0, 5000 * itest_slow()));
	t0 = itest_now_ns();
	for (int i = 0; i < 300; i++)
		assert_int_equal(write(fds[i], burst, off), (ssize_t)off);
	/* until every burst is answered: 40 responses per client */
	for (int i = 0; i < 300; i++) {
		size_t lines = 0;
		char buf[65536];

		while (lines < 40) {
			ssize_t n;

			if (!ITEST_WAIT(({ struct pollfd pf = { fds[i], POLLIN, 0 };
					   poll(&pf, 1, 0) > 0; }), 20000 * itest_slow()))
				fail_msg("client %d: answers stopped after %zu", i, lines);
			n = read(fds[i], buf, sizeof(buf));
			assert_true(n > 0);
			for (ssize_t k = 0; k < n; k++)
				lines += buf[k] == '\n';
		}
		close(fds[i]);
	}
	__atomic_store_n(&probe.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	burst_ns = itest_now_ns() - t0;
	print_message("12,000 pipelined requests from 300 clients answered in %.1f ms; meanwhile "
		      "status max %.2f ms, ports max %.2f ms over %u+%u answers\n",
		      (double)burst_ns / 1e6, (double)probe.max_ns[0] / 1e6,
		      (double)probe.max_ns[1] / 1e6, probe.count[0], probe.count[1]);
	assert_int_equal(probe.failures, 0);
	/*
	 * Served in turns, the probe waits behind a fraction of the burst;
	 * served client by client, it would wait behind nearly all of it. The
	 * bound is 100 ms or half the burst, whichever is longer: the burst
	 * takes longer on a loaded or slower machine, and so does a turn. Its
	 * worst wait has measured up to 0.34 of the burst (175 ms of 522 ms),
	 * so a third was at the edge of what turns give.
	 */
	bound_ns = 100000000ull * itest_slow();
	if (burst_ns / 2 > bound_ns)
		bound_ns = burst_ns / 2;
	assert_true(probe.max_ns[0] < bound_ns);
	assert_true(probe.max_ns[1] < bound_ns);
}

/* A client that sends its requests and shuts down its write side (nc,
 * socat) still gets every answer, including one held for a group commit. */
static void test_half_close_gets_answers(void **state)
{
	char req[256], buf[8192];
	size_t len = 0;
	int fd, lines = 0;

	(void) state;
	snprintf(req, sizeof(req),
		 "{\"v\":1,\"cmd\":\"status\"}\n"
		 "{\"v\":1,\"cmd\":\"allocate\",\"args\":{\"service_type\":\"dev\",\"pid\":%d}}\n",
		 getpid());
	fd = connect_raw();
	assert_true(fd >= 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	for (;;) {
		ssize_t n;

		if (!ITEST_WAIT(({ struct pollfd pf = { fd, POLLIN, 0 }; poll(&pf, 1, 0) > 0; }),
				5000 * itest_slow()))
			fail_msg("no answer or EOF within the deadline");
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, 2);
	assert_non_null(strstr(buf, "\"port\""));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_unread_answers),
		cmocka_unit_test(test_slowloris),
		cmocka_unit_test(test_pipelined_burst),
		cmocka_unit_test(test_half_close_gets_answers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
