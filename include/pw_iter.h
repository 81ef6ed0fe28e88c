/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One bound socket held by a process, as the iter/task_file program of
 * bpf/portwatch.bpf.c writes it: the whole host in one pass, every netns.
 */
#ifndef PW_ITER_H
#define PW_ITER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct pw_iter_sock {
	__u64 cookie;		/* socket cookie */
	__u64 netns;		/* netns cookie (inode number before 5.14) */
	__u32 inode;		/* sockfs inode, as "socket:[N]" in /proc/PID/fd */
	__u32 uid;
	__u16 port;		/* local port, host order */
	__u8 family;		/* AF_INET / AF_INET6 */
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 state;		/* TCP_* state */
	__u8 pad[3];
	__u8 addr[16];		/* local address, network order; IPv4 in addr[0..3] */
	__u32 pid;		/* a process holding it (tgid) */
	char comm[16];		/* that process's name */
	__u8 pad2[4];
};

#endif
