/* SPDX-License-Identifier: GPL-2.0 */
/* Facts about processes, from /proc. */
#ifndef PW_PROC_H
#define PW_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <dirent.h>
#include <sys/types.h>
#include <linux/types.h>

struct pw_proc {
	pid_t pid;
	pid_t ppid;
	uid_t uid;		/* real uid */
	pid_t tgid;		/* of status (pw_proc_read): pid's process, != pid for a thread */
	__u64 start_time;	/* field 22 of /proc/PID/stat, clock ticks since boot */
	char comm[16];
};

/* Read /proc/PID/stat and status. 0, -ENOENT if gone, or -errno. */
int pw_proc_read(pid_t pid, struct pw_proc *out);
/* true when pid is alive (any thread of it) and its start time equals start_time. */
bool pw_proc_alive(pid_t pid, __u64 start_time);
/* The state letter of /proc/PID/stat (out filled), or -ENOENT / -errno. */
int pw_proc_state(pid_t pid, struct pw_proc *out);
/* A kernel thread (kthreadd or its child): never an owner. */
bool pw_proc_kthread(pid_t pid);
/* true when anc is pid itself or one of its ancestors. */
bool pw_proc_is_ancestor(pid_t anc, pid_t pid);
/*
 * Parse the text of /proc/PID/stat: pid, comm, ppid, start_time (uid is left
 * 0, it is not in stat). 0 or -EINVAL.
 */
int pw_proc_parse_stat(const char *buf, struct pw_proc *out);

/* The pid a /proc directory entry names, 0 when it is not a pid. */
pid_t pw_proc_parse_pid(const char *name);
/* opendir() of path relative to dirfd, close-on-exec. 0 or -errno. */
int pw_proc_opendirat(int dirfd, const char *path, DIR **ret);

#endif
