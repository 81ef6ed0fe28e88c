/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NETLINK_SOCK_DIAG inet dumps through libmnl. The socket dumps the network
 * namespace it was created in, whichever namespace the caller is in later.
 */
#ifndef PW_SOCKDIAG_H
#define PW_SOCKDIAG_H

#include <linux/types.h>

struct mnl_socket;

/*
 * Pseudo-state of kernel 6.9+ (TCP_BOUND_INACTIVE = 13, include/net/tcp_states.h):
 * asking for it dumps TCP sockets that are bound but neither listening nor
 * connecting; they are reported with idiag_state TCP_CLOSE. Older kernels ignore
 * the bit. This is what `ss --bound-inactive` puts in idiag_states.
 */
#define PW_TCPF_BOUND_INACTIVE	(1U << 13)

struct pw_sockdiag_sock {
	__u64 cookie;		/* socket cookie, as bpf_get_socket_cookie() */
	__u32 inode;		/* sockfs inode, matches "socket:[N]" in /proc/PID/fd */
	__u32 uid;		/* idiag_uid */
	__u16 port;		/* local port, host order */
	__u8 family;		/* AF_INET / AF_INET6 */
	__u8 proto;		/* IPPROTO_TCP / IPPROTO_UDP, from the request */
	__u8 state;		/* TCP_* state as the kernel reports it */
	__u8 addr[16];		/* local address, network order; IPv4 in addr[0..3] */
};

/* Called once per dumped socket. 0 to go on, -errno to abort the dump. */
typedef int (*pw_sockdiag_fn)(const struct pw_sockdiag_sock *s, void *ctx);

/* Open and bind a sock_diag socket in the calling thread's netns. 0 or -errno. */
int pw_sockdiag_open(struct mnl_socket **ret);
void pw_sockdiag_close(struct mnl_socket *nl);

/*
 * Dump the sockets of @family/@proto whose state bit is set in @states
 * (1 << TCP_*). 0, -EINTR when the kernel flagged the dump inconsistent (the
 * callback may then have seen part of it twice: start over), or -errno.
 */
int pw_sockdiag_dump(struct mnl_socket *nl, __u8 family, __u8 proto, __u32 states,
		     pw_sockdiag_fn fn, void *ctx);

#endif
