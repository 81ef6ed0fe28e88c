// SPDX-License-Identifier: GPL-2.0
/*
 * Inet socket dumps over NETLINK_SOCK_DIAG (SOCK_DIAG_BY_FAMILY with an
 * inet_diag_req_v2), framed and parsed by libmnl.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <libmnl/libmnl.h>

#include "sockdiag.h"

/*
 * The kernel sizes each dump skb after the largest recvmsg() buffer it has seen,
 * up to 32 KiB: a buffer that large means fewer round trips for big dumps.
 */
#define DUMP_BUF_SIZE	32768

struct dump_ctx {
	pw_sockdiag_fn fn;
	void *ctx;
	__u8 proto;
	int err;		/* what stopped the dump: callback or kernel error */
};

int pw_sockdiag_open(struct mnl_socket **ret)
{
	struct mnl_socket *nl;
	int err;

	nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl);
		return err;
	}
	*ret = nl;
	return 0;
}

void pw_sockdiag_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}

static int on_sock(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *dc = data;
	const struct inet_diag_msg *msg;
	struct pw_sockdiag_sock s = {};

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*msg))) {
		dc->err = -EBADMSG;
		return MNL_CB_ERROR;
	}
	msg = mnl_nlmsg_get_payload(nlh);

	/* sock_diag_save_cookie() stores the low 32 bits in [0], the high in [1]. */
	s.cookie = (__u64)msg->id.idiag_cookie[1] << 32 | msg->id.idiag_cookie[0];
	s.inode = msg->idiag_inode;
	s.uid = msg->idiag_uid;
	s.port = ntohs(msg->id.idiag_sport);
	s.family = msg->idiag_family;
	s.proto = dc->proto;
	s.state = msg->idiag_state;
	if (s.family == AF_INET)
		memcpy(s.addr, msg->id.idiag_src, 4);
	else
		memcpy(s.addr, msg->id.idiag_src, 16);

	dc->err = dc->fn(&s, dc->ctx);
	return dc->err ? MNL_CB_ERROR : MNL_CB_OK;
}

static int on_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *dc = data;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		dc->err = -EBADMSG;
		return MNL_CB_ERROR;
	}
	if (!e->error)
		return MNL_CB_STOP;
	/* Subsystems disagree on the sign. */
	dc->err = e->error < 0 ? e->error : -e->error;
	return MNL_CB_ERROR;
}

/* NLMSG_DONE of a dump carries the dump's own return value (netlink_dump()). */
static int on_done(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *dc = data;
	int ret;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ret)))
		return MNL_CB_STOP;
	memcpy(&ret, mnl_nlmsg_get_payload(nlh), sizeof(ret));
	if (ret >= 0)
		return MNL_CB_STOP;
	dc->err = ret;
	return MNL_CB_ERROR;
}

/* Not const: mnl_cb_run2() takes a non-const array. */
static mnl_cb_t ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = on_error,
	[NLMSG_DONE] = on_done,
};

static bool has_end(const void *buf, ssize_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > 0 ? len : 0;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR)
			return true;
	return false;
}

/*
 * After a dump stopped half way, read the rest of it so the socket can serve
 * the next request: the kernel keeps sending until NLMSG_DONE. It queues the
 * next part before recvmsg() returns, so an empty queue means the dump is over
 * (MSG_DONTWAIT: never block on a dump that has already ended).
 */
static void drain(struct mnl_socket *nl, void *buf, ssize_t len)
{
	while (!has_end(buf, len)) {
		len = recv(mnl_socket_get_fd(nl), buf, DUMP_BUF_SIZE, MSG_DONTWAIT);
		if (len < 0 && errno == EINTR)
			len = 0;
		else if (len <= 0)
			return;
	}
}

int pw_sockdiag_dump(struct mnl_socket *nl, __u8 family, __u8 proto, __u32 states,
		     pw_sockdiag_fn fn, void *ctx)
{
	static unsigned int seq_counter;
	struct dump_ctx dc = { .fn = fn, .ctx = ctx, .proto = proto };
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	unsigned int seq, portid;
	ssize_t len;
	char *buf;
	int ret, err;

	buf = malloc(DUMP_BUF_SIZE);
	if (!buf)
		return -ENOMEM;

	seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = proto;
	req->idiag_states = states;
	/* idiag_ext stays 0: the base message has everything we need. */

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto cleanup;
	}
	portid = mnl_socket_get_portid(nl);

	for (;;) {
		len = mnl_socket_recvfrom(nl, buf, DUMP_BUF_SIZE);
		/* A signal must not cut the dump: the kernel would refuse the next (EBUSY). */
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0) {
			err = -errno;
			goto cleanup;
		}
		errno = 0;
		ret = mnl_cb_run2(buf, len, seq, portid, on_sock, &dc, ctl_cbs, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_STOP)
			break;
		if (ret < 0) {
			/* dc.err when our callbacks failed, errno when libmnl did (EINTR...) */
			err = dc.err ? dc.err : (errno ? -errno : -EPROTO);
			drain(nl, buf, len);
			goto cleanup;
		}
	}
	err = 0;
cleanup:
	free(buf);
	return err;
}
