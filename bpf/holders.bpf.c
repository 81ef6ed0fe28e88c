// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Who holds these sockets now? A task_file iterator that reports, for every
 * open file that is a socket whose cookie userspace put into `wanted`, the
 * process holding it (tgid, fd, uid, comm). One pass over the kernel's file
 * tables instead of a /proc walk, run only when a holder of a tracked socket
 * exits with the socket still open (daemonized servers, SCM_RIGHTS).
 *
 * Tasks that are exiting are skipped: their files are about to be closed,
 * and a socket held only by them has no holder left.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "pw_holder.h"

#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define PF_EXITING	0x00000004

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_HOLDER_QUERY_MAX);
	__type(key, __u64);	/* socket cookie */
	__type(value, __u8);
} wanted SEC(".maps");

SEC("iter/task_file")
int pw_holders(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct pw_holder_rec r = {};
	struct socket *sock;
	struct sock *sk;
	umode_t mode;
	__u64 cookie;

	if (!task || !file)
		return 0;
	if (task->flags & PF_EXITING)
		return 0;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	sock = (struct socket *)BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie || !bpf_map_lookup_elem(&wanted, &cookie))
		return 0;
	r.cookie = cookie;
	r.tgid = task->tgid;
	r.fd = ctx->fd;
	r.uid = BPF_CORE_READ(task, cred, uid.val);
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), BPF_CORE_READ(task, group_leader, comm));
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
