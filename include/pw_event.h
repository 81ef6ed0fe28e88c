/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Events pushed by the BPF programs through the ring buffer, and produced by
 * the userspace snapshot code in the same shape so the port map has a single
 * input format. Fixed-width kernel-style types so both sides compile it;
 * explicit padding, size checked in userspace.
 */
#ifndef PW_EVENT_H
#define PW_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PW_COMM_LEN 16

enum pw_event_kind {
	PW_EV_BIND = 1,		/* socket bound (post_bind4/6), or seen by a snapshot */
	PW_EV_CLOSE = 2,	/* tracked socket released (sock_release) */
	PW_EV_LISTEN = 3,	/* TCP CLOSE -> LISTEN (listen()) */
	PW_EV_UNLISTEN = 4,	/* TCP LISTEN -> CLOSE */
	PW_EV_EXIT = 5,		/* whole process exit (pid == tgid) of a tracked pid */
	PW_EV_KIND_MAX,
};

/* Socket states in the port map. */
enum pw_sock_state {
	PW_SOCK_BOUND = 1,
	PW_SOCK_LISTENING = 2,
};

struct pw_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u64 cookie;		/* socket cookie (0 for EXIT) */
	__u64 netns;		/* netns cookie (0 for EXIT) */
	__u32 pid;		/* tgid of the binder / exiting process */
	__u32 uid;
	__u16 port;		/* host byte order */
	__u8 kind;		/* enum pw_event_kind */
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;		/* AF_INET / AF_INET6 */
	__u8 state;		/* enum pw_sock_state for BIND; unused otherwise */
	__u8 __pad0[2];
	__u8 addr[16];		/* network order; IPv4 in addr[0..3] */
	char comm[PW_COMM_LEN];
	__s32 exit_code;	/* EXIT only: task->exit_code */
	__u32 heir;		/* EXIT only: tgid of a child alive at the exit, 0: none */
};

/*
 * What a release says (CLOSE, and UNLISTEN of a closed listener): the socket
 * is known by its cookie, so the hook writes no more than this; userspace
 * reads it into a struct pw_event with the other fields zero.
 */
struct pw_event_release {
	__u64 ts_ns;		/* 0: the hook reads no clock, the daemon stamps it */
	__u64 cookie;
	__u16 port;		/* from the hash of tracked sockets, else 0 (not read) */
	__u8 kind;
	__u8 proto;
	__u8 family;
	__u8 __pad[3];
};

#ifndef __VMLINUX_H__
_Static_assert(sizeof(struct pw_event_release) == 24, "struct pw_event_release layout changed");
_Static_assert(sizeof(struct pw_event) == 80, "struct pw_event layout changed");
#endif

#endif /* PW_EVENT_H */
