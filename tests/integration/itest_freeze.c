// SPDX-License-Identifier: GPL-2.0
/*
 * A stalled disk: the state filesystem frozen (FIFREEZE, as fsfreeze -f)
 * under a running daemon. Its event loop must not wait on the disk: kernel
 * events keep draining (a bind shows in `ports` at once), status and ports
 * answer, an allocation fails with a clear storage error after its timeout
 * (and at once while the stall lasts), and after the thaw allocation works
 * and nothing acknowledged is lost, across a restart too.
 *
 * The state filesystem is an ext4 image on a loop device this test creates,
 * mounted in a mount namespace of its own.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "client.h"
#include "itest_lib.h"
#include "itest_run.h"
#include "proto.h"

#define TYPE_LO		47000	/* "ftest": 47000-47099 */
#define BIND_LO		47500	/* the test's own binds, outside the range */
#define FROZEN_MS	10000	/* how long the filesystem stays frozen */
#define STORAGE_TIMEOUT_MS 5000	/* PW_STORAGE_TIMEOUT_MS */

static struct {
	struct itest_daemon d;
	struct itest_proc owner;
	bool owner_up;
	char root[64];		/* temp dir: image and mount point */
	char mnt[96], img[96], state[128], cfg[128];
	bool mounted, frozen, root_mounted;
	int mnt_fd;
} fx = { .mnt_fd = -1 };

static const char *extra[8];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void thaw(void)
{
	if (fx.frozen && ioctl(fx.mnt_fd, FITHAW, 0) == 0)
		fx.frozen = false;
}

static int setup(void **state)
{
	FILE *f;

	(void) state;
	itest_require_root();
	if (itest_unshare_net())
		return -1;
	/* our own mount namespace: the mount vanishes with us whatever happens */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	snprintf(fx.root, sizeof(fx.root), "/tmp/pw-itest-freeze-XXXXXX");
	if (!mkdtemp(fx.root))
		return -1;
	snprintf(fx.img, sizeof(fx.img), "%s/img", fx.root);
	snprintf(fx.mnt, sizeof(fx.mnt), "%s/mnt", fx.root);
	snprintf(fx.state, sizeof(fx.state), "%s/state", fx.mnt);
	snprintf(fx.cfg, sizeof(fx.cfg), "%s/config.json", fx.root);
	/* the image on a tmpfs of its own: a loop device over whatever /tmp is
	 * (an overlay over 9p in a matrix guest) may be refused */
	if (mount("tmpfs", fx.root, "tmpfs", MS_NOSUID | MS_NODEV, "size=80m,mode=0700")) {
		print_message("cannot mount a tmpfs for the image: %s\n", strerror(errno));
		return -1;
	}
	fx.root_mounted = true;
	if (mkdir(fx.mnt, 0700))
		return -1;
	/* a kernel with loop as a module (a matrix guest) loads it */
	if (access("/dev/loop-control", F_OK))
		(void) !system("modprobe -q loop");
	if (access("/dev/loop-control", F_OK)) {
		print_message("skipped: no loop devices here (/dev/loop-control)\n");
		exit(77);
	}
	if (run("truncate -s 64M %s && mkfs.ext4 -q -F %s >/dev/null 2>&1", fx.img, fx.img)) {
		print_message("cannot make an ext4 image (mkfs.ext4 from e2fsprogs)\n");
		return -1;
	}
	/* a kernel with loop and ext4 as modules (a matrix guest) loads them */
	if (run("mount -o loop %s %s 2>/dev/null", fx.img, fx.mnt) &&
	    run("modprobe -q loop; modprobe -q ext4; mount -o loop %s %s", fx.img, fx.mnt)) {
		print_message("cannot mount the image on a loop device\n");
		return -1;
	}
	fx.mounted = true;
	fx.mnt_fd = open(fx.mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.mnt_fd < 0)
		return -1;
	f = fopen(fx.cfg, "w");
	if (!f)
		return -1;
	fprintf(f, "{\"service_types\": {\"ftest\": {\"port_range\": [%d, %d]}}}\n", TYPE_LO,
		TYPE_LO + 99);
	fclose(f);
	extra[0] = "--config";
	extra[1] = fx.cfg;
	extra[2] = "--state-dir";
	extra[3] = fx.state;
	extra[4] = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void) state;
	thaw();
	if (fx.owner_up)
		itest_proc_kill(&fx.owner, SIGKILL);
	itest_daemon_cleanup(&fx.d);
	if (fx.mnt_fd >= 0)
		close(fx.mnt_fd);
	if (fx.mounted && umount2(fx.mnt, MNT_DETACH))
		fprintf(stderr, "umount %s: %s\n", fx.mnt, strerror(errno));
	(void) unlink(fx.img);
	(void) unlink(fx.cfg);
	(void) rmdir(fx.mnt);
	if (fx.root_mounted && umount2(fx.root, MNT_DETACH))
		fprintf(stderr, "umount %s: %s\n", fx.root, strerror(errno));
	fx.root_mounted = false;
	(void) rmdir(fx.root);
	return 0;
}

static json_int_t allocate_ok(void);

/* A daemon on the image, an owner, n acknowledged allocations, then the
 * freeze. */
static void start_and_freeze(json_int_t *acked, int n)
{
	const char *const owner_args[] = { "hold", NULL };
	char line[64];

	assert_int_equal(itest_daemon_start(&fx.d, extra), 0);
	assert_int_equal(itest_proc_spawn(&fx.owner, -1, owner_args), 0);
	fx.owner_up = true;
	assert_int_equal(itest_proc_line(&fx.owner, line, sizeof(line), 5000), 0);
	for (int i = 0; i < n; i++)
		acked[i] = allocate_ok();
	assert_int_equal(ioctl(fx.mnt_fd, FIFREEZE, 0), 0);
	fx.frozen = true;
}

/* Every acknowledged allocation is listed (after a restart). */
static void assert_listed(json_t *list, const json_int_t *acked, int n)
{
	for (int i = 0; i < n; i++) {
		bool found = false;
		size_t k;
		json_t *a;

		json_array_foreach(list, k, a)
			found = found || json_integer_value(json_object_get(a, "id")) == acked[i];
		assert_true(found);
	}
}

static double ms_since(uint64_t t0)
{
	return (double)(itest_now_ns() - t0) / 1e6;
}

static json_t *call_ok(const char *cmd, json_t *args)
{
	json_t *res = NULL;

	assert_int_equal(itest_call(&fx.d, cmd, args, &res), 0);
	return res;
}

static json_int_t allocate_ok(void)
{
	json_t *res = call_ok("allocate", json_pack("{s:s, s:i}", "service_type", "ftest", "pid",
						    (int)fx.owner.pid));
	json_int_t id = json_integer_value(json_object_get(res, "id"));

	assert_true(id > 0);
	json_decref(res);
	return id;
}

/* An allocate in a child, so the test goes on while it waits: its answer
 * comes back on a pipe as "CODE MS MESSAGE". */
struct pending {
	pid_t pid;
	int fd;
};

static struct pending allocate_async(void)
{
	struct pending p;
	int pfd[2];

	assert_int_equal(pipe(pfd), 0);
	p.pid = itest_fork_as(-1);
	assert_true(p.pid >= 0);
	if (p.pid == 0) {
		uint64_t t0 = itest_now_ns();
		json_t *res = NULL;
		struct pw_conn *c;
		char line[1024], msg[900] = "";
		int code = pw_conn_open(&c, fx.d.sock);

		if (!code) {
			code = pw_conn_call(c, "allocate",
					    json_pack("{s:s, s:i}", "service_type", "ftest", "pid",
						      (int)fx.owner.pid), &res, msg, sizeof(msg));
			pw_conn_close(c);
		}
		json_decref(res);
		snprintf(line, sizeof(line), "%d %.0f %s", code, ms_since(t0), msg);
		(void) !write(pfd[1], line, strlen(line));
		_exit(0);
	}
	close(pfd[1]);
	p.fd = pfd[0];
	return p;
}

static void pending_end(struct pending *p, int *code, double *ms, char *msg, size_t len)
{
	char line[1024] = "";
	ssize_t n = read(p->fd, line, sizeof(line) - 1);
	int off = 0;

	assert_true(n > 0);
	line[n] = '\0';
	assert_int_equal(sscanf(line, "%d %lf %n", code, ms, &off), 2);
	snprintf(msg, len, "%s", line + off);
	close(p->fd);
	(void) waitpid(p->pid, NULL, 0);
}

static bool readable(int fd)
{
	fd_set rd;
	struct timeval tv = { 0 };

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	return select(fd + 1, &rd, NULL, NULL, &tv) == 1;
}

/* Bind a TCP listener of our own; the fd. */
static int listen_on(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	return fd;
}

static bool in_ports(unsigned port)
{
	json_t *res = NULL;
	bool found;

	if (itest_call(&fx.d, "ports", json_pack("{s:i}", "port", (int)port), &res))
		return false;
	found = itest_find_sock(res, port, "tcp", getpid()) != NULL;
	json_decref(res);
	return found;
}

/*
 * Where the daemon's threads sleep, from /proc/PID/task/TID/stack: false
 * if one sleeps in a page fault. Before Linux 6.4 a page fault holds the
 * process's mmap lock while it sleeps, and the loop's next brk or mmap (any
 * malloc that grows the heap) waits behind it: a storage thread faulting
 * on a frozen filesystem's mapped file stalls the whole daemon. *checked
 * is false where the kernel shows no stacks.
 */
static bool no_thread_in_page_fault(pid_t pid, bool *checked, bool verbose)
{
	char path[64], buf[4096];
	bool ok = true;
	struct dirent *e;
	DIR *dir;

	*checked = false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return true;
	while ((e = readdir(dir))) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stack", (int)pid, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		*checked = true;
		if (strstr(buf, "page_mkwrite") || strstr(buf, "handle_mm_fault") ||
		    strstr(buf, "exc_page_fault")) {
			if (verbose)
				print_message("daemon thread %s sleeps in a page fault:\n%s",
					      e->d_name, buf);
			ok = false;
		}
	}
	closedir(dir);
	return ok;
}

static void test_frozen_state_filesystem(void **state)
{
	unsigned slow = itest_slow(), binds = 0;
	json_int_t acked[4];
	double worst_bind = 0, worst_status = 0, ms, first_ms = 0;
	struct pending first, second;
	struct pollfd pf = { .events = POLLIN };
	bool first_open = true;
	int fds[64], nfd = 0, code, first_code = 0;
	char msg[1024], first_msg[1024] = "", *dump;
	uint64_t frozen_at, t0;
	json_t *res;

	(void) state;
	start_and_freeze(acked, 3);
	frozen_at = itest_now_ns();
	print_message("state filesystem frozen (FIFREEZE on %s)\n", fx.mnt);

	/* this one's commit is stuck on the disk */
	first = allocate_async();
	/* while frozen: events drain, reads answer */
	while (ms_since(frozen_at) < FROZEN_MS) {
		unsigned port = BIND_LO + binds;

		t0 = itest_now_ns();
		fds[nfd++] = listen_on(port);
		assert_true(ITEST_WAIT(in_ports(port), 2000 * slow));
		ms = ms_since(t0);
		worst_bind = ms > worst_bind ? ms : worst_bind;
		binds++;
		t0 = itest_now_ns();
		res = call_ok("status", NULL);
		json_decref(res);
		ms = ms_since(t0);
		worst_status = ms > worst_status ? ms : worst_status;
		if (nfd == (int)(sizeof(fds) / sizeof(fds[0])))
			break;
		/* the next bind in 200 ms; the allocation's answer may come first */
		pf.fd = first_open ? first.fd : -1;
		if (poll(&pf, 1, 200) == 1 && first_open) {
			pending_end(&first, &code, &first_ms, first_msg, sizeof(first_msg));
			first_open = false;
			first_code = code;
		}
	}
	print_message("frozen %.0f ms: %u binds, each in `ports` within %.1f ms at worst; "
		      "status within %.1f ms at worst\n", ms_since(frozen_at), binds, worst_bind,
		      worst_status);
	assert_true(worst_bind < 50.0 * slow);
	assert_true(worst_status < 50.0 * slow);

	/* the stuck allocation was told after its timeout, clearly */
	if (first_open) {
		assert_true(ITEST_WAIT(readable(first.fd), 2000 * slow));
		pending_end(&first, &first_code, &first_ms, first_msg, sizeof(first_msg));
	}
	print_message("allocate while frozen: code %d after %.0f ms: %s\n", first_code, first_ms,
		      first_msg);
	assert_int_equal(first_code, PW_E_STORAGE);
	assert_true(first_ms >= STORAGE_TIMEOUT_MS - 100 &&
		    first_ms < STORAGE_TIMEOUT_MS + 2000.0 * slow);
	assert_non_null(strstr(first_msg, "did not finish the commit"));
	assert_non_null(strstr(first_msg, "allocation not made"));

	/* the stall is known now: a new one is refused at once */
	second = allocate_async();
	assert_true(ITEST_WAIT(readable(second.fd), 1000 * slow));
	pending_end(&second, &code, &ms, msg, sizeof(msg));
	print_message("allocate during the stall: code %d after %.0f ms: %s\n", code, ms, msg);
	assert_int_equal(code, PW_E_STORAGE);
	assert_non_null(strstr(msg, "stalled"));
	/* the storage thread waits in a system call, not in a page fault on a
	 * mapped file of the frozen filesystem (the WAL index is on the heap) */
	{
		bool checked;

		/* a passing fault (fresh heap) is no matter: one that lasts is */
		if (!ITEST_WAIT(no_thread_in_page_fault(fx.d.pid, &checked, false), 1000 * slow))
			assert_true(no_thread_in_page_fault(fx.d.pid, &checked, true));
		print_message("daemon threads while frozen: %s\n", checked ?
			      "none sleeps in a page fault" : "not checked (no kernel stacks)");
	}
	/* and status says so */
	res = call_ok("status", NULL);
	dump = json_dumps(json_object_get(res, "storage"), JSON_COMPACT);
	print_message("status while frozen: storage %s\n", dump);
	free(dump);
	assert_true(json_is_false(json_object_get(json_object_get(res, "storage"), "ok")));
	assert_true(json_integer_value(json_object_get(json_object_get(res, "storage"),
						       "busy_ms")) >= STORAGE_TIMEOUT_MS);
	json_decref(res);

	thaw();
	print_message("thawed after %.0f ms\n", ms_since(frozen_at));
	/* the stuck batch commits, and the allocation its client was told
	 * failed is released again: only the acknowledged ones remain */
	assert_true(ITEST_WAIT(({
		json_t *l = NULL;
		bool only3 = !itest_call(&fx.d, "list", NULL, &l) &&
			     json_array_size(l) == 3;
		json_decref(l);
		only3; }), 5000 * slow));
	acked[3] = allocate_ok();

	/* nothing acknowledged is lost, across a restart either */
	assert_int_equal(itest_daemon_stop(&fx.d, SIGTERM), 0);
	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);
	res = call_ok("list", NULL);
	assert_listed(res, acked, 4);
	assert_int_equal(json_array_size(res), 4);
	json_decref(res);
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
}

static bool storage_busy(void)
{
	json_t *res = NULL;
	bool busy;

	if (itest_call(&fx.d, "status", NULL, &res))
		return false;
	busy = json_integer_value(json_object_get(json_object_get(res, "storage"),
						  "pending_batch")) > 0;
	json_decref(res);
	return busy;
}

/* SIGTERM while the disk holds a commit: the daemon still shuts down after a
 * bounded wait, its waiting client told why, and what it acknowledged is
 * there after the thaw. */
static void test_shutdown_while_frozen(void **state)
{
	unsigned slow = itest_slow();
	json_int_t acked[2];
	struct pending stuck;
	char msg[1024];
	double ms;
	uint64_t t0;
	int status = -1, code;
	json_t *res;

	(void) state;
	start_and_freeze(acked, 2);
	stuck = allocate_async();
	assert_true(ITEST_WAIT(storage_busy(), 2000 * slow));

	t0 = itest_now_ns();
	assert_int_equal(kill(fx.d.pid, SIGTERM), 0);
	/* the waiting client is told, after a bounded wait for the disk */
	assert_true(ITEST_WAIT(readable(stuck.fd), (STORAGE_TIMEOUT_MS + 3000) * slow));
	pending_end(&stuck, &code, &ms, msg, sizeof(msg));
	print_message("SIGTERM with a commit held by the frozen disk: its waiting client is "
		      "answered after %.0f ms: code %d: %s\n", ms_since(t0), code, msg);
	assert_int_equal(code, PW_E_STORAGE);	/* never told "allocated" */
	assert_non_null(strstr(msg, "shutting down"));
	/* and the daemon has let go of everything: its socket is gone */
	assert_true(ITEST_WAIT(access(fx.d.sock, F_OK) != 0, 3000 * slow));
	/* its storage thread sleeps in the kernel until the thaw (a page fault
	 * on the frozen filesystem cannot be interrupted): reaped then */
	assert_int_equal(waitpid(fx.d.pid, &status, WNOHANG), 0);
	thaw();
	assert_true(ITEST_WAIT(waitpid(fx.d.pid, &status, WNOHANG) == fx.d.pid, 3000 * slow));
	fx.d.pid = 0;
	print_message("after the thaw: exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status)
									 : -1);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(itest_daemon_restart(&fx.d, extra), 0);
	res = call_ok("list", NULL);
	assert_listed(res, acked, 2);
	json_decref(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frozen_state_filesystem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_while_frozen, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
