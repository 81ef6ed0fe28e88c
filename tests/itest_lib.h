/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Integration-test support: isolated daemons (own socket and state dir),
 * helper processes the test owns, CLI runs, and bounded waits on conditions.
 */
#ifndef PW_ITEST_LIB_H
#define PW_ITEST_LIB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

struct itest_daemon {
	pid_t pid;
	char dir[128];		/* temp dir: state/, sock, log */
	char sock[160];
	char state[160];
	char log[160];
	unsigned long nofile;	/* RLIMIT_NOFILE (soft and hard) of the daemon, 0: inherited */
};

/* Build dir of the binaries: $BUILD or "build". */
const char *itest_build(void);
/* Exit 77 (skipped) unless root. */
void itest_require_root(void);
/* Enter a fresh network namespace with lo up. 0 or -errno. */
int itest_unshare_net(void);

uint64_t itest_now_ns(void);
/* qsort() comparison of doubles, ascending (medians and percentiles). */
int itest_cmp_double(const void *a, const void *b);
/* Let other processes run between condition checks (bounded polls). */
void itest_yield(void);
/* Poll cond until true or timeout_ms: evaluates to true when it became true. */
#define ITEST_WAIT(cond, timeout_ms) ({					\
	uint64_t __dl = itest_now_ns() + (uint64_t)(timeout_ms) * 1000000ull;	\
	bool __ok;							\
	while (!(__ok = (cond)) && itest_now_ns() < __dl)		\
		itest_yield();						\
	__ok; })

/* Start portwatchd with extra args (NULL-terminated list), wait until its
 * socket answers (10 s). 0 or -errno. */
int itest_daemon_start(struct itest_daemon *d, const char *const *extra);
/* The same with the daemon's file limit at nofile, soft and hard (`ulimit -n`). */
int itest_daemon_start_nofile(struct itest_daemon *d, const char *const *extra,
			      unsigned long nofile);
/* Start over an existing dir (restart after a kill): keeps state. */
int itest_daemon_restart(struct itest_daemon *d, const char *const *extra);
/* SIGTERM (or sig), reap with a deadline; returns the exit status or -errno. */
int itest_daemon_stop(struct itest_daemon *d, int sig);
/* Remove the temp dir. */
void itest_daemon_cleanup(struct itest_daemon *d);
/* One request; 0 with *res, the error code (> 0), or -errno. */
int itest_call(struct itest_daemon *d, const char *cmd, json_t *args, json_t **res);

/* Run the CLI against d with args (NULL-terminated); capture stdout (malloc'd,
 * may be NULL) and return the exit code, or -errno. uid >= 0 runs as that uid. */
int itest_cli(struct itest_daemon *d, int uid, char **out, const char *const *args);

/* A helper process (build/tests/helper) with pipes to its stdin/stdout. */
struct itest_proc {
	pid_t pid;
	int in;		/* write end: the helper's stdin */
	int out;	/* read end: the helper's stdout */
};
/* Spawn with args; uid >= 0 runs it as that uid. 0 or -errno. */
int itest_proc_spawn(struct itest_proc *p, int uid, const char *const *args);
/* The same in a new network namespace of its own (lo up). */
int itest_proc_spawn_netns(struct itest_proc *p, const char *const *args);
/* Netns cookie of the caller's namespace. */
uint64_t itest_netns_cookie(void);
/* Scale for time limits: ITEST_SLOW (default 1; sanitizer builds set 4). */
unsigned itest_slow(void);
/* Read one line from fd (a pipe, a socket), a byte at a time so nothing past
 * it is consumed, within timeout_ms: 0, -ETIMEDOUT or -EPIPE. */
int itest_fd_line(int fd, char *buf, size_t len, int timeout_ms);
/* Read one line from the helper (timeout_ms). 0 or -errno. */
int itest_proc_line(struct itest_proc *p, char *buf, size_t len, int timeout_ms);
/* Write a line to the helper. */
int itest_proc_say(struct itest_proc *p, const char *line);
/* Kill with sig and reap. */
void itest_proc_kill(struct itest_proc *p, int sig);
/* Close stdin (the helper exits) and reap. */
void itest_proc_end(struct itest_proc *p);

/* SIGKILL every descendant of this process but keep (the daemon) and its
 * own, and reap what are children: what a failed test left running, so the
 * next test does not fail for it. The number killed. */
int itest_kill_strays(pid_t keep);

/* fork() a child that runs as uid (>= 0; -1 keeps root) and dies with the
 * test: returns 0 in the child, the pid in the parent, or -errno. */
pid_t itest_fork_as(int uid);
/* CPU time (utime + stime) of pid in ms, or -1. */
double itest_cpu_ms(pid_t pid);

/* A "kB" field of /proc/PID/status (VmRSS, VmHWM, ...), or -1. */
long itest_status_kib(pid_t pid, const char *field);

/* Find the port-map entry for port/proto ("tcp"/"udp") with pid (0 = any). */
json_t *itest_find_sock(json_t *ports, unsigned port, const char *proto, pid_t pid);

#endif
