// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * portwatch kernel side: report binds, listens and releases of TCP/UDP sockets
 * and the exit of the processes that bound them, through one ring buffer.
 *
 * Every cgroup program here runs in the bind()/close() path of every process
 * on the host: they must always return 1 (0 denies the operation) and do as
 * little as possible for sockets nobody asked about.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "pw_event.h"
#include "pw_iter.h"
#include "pw_holder.h"

/* Not in vmlinux.h: these are macros in the kernel. */
#define AF_INET		2
#define AF_INET6	10

/* sk_userlocks bit (include/net/sock.h), set by bind() only, for an
 * address other than the wildcard. */
#define SOCK_BINDADDR_LOCK	4

/* cgroup sock programs: 1 lets the operation proceed. */
#define SK_PASS		1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* Sized by userspace before load (bpf_map__set_max_entries). */
} events SEC(".maps");

/*
 * Sockets whose release we report: bound while we were attached, or handed to
 * us by userspace from a snapshot. Not preallocated: a host has a few hundred
 * bound sockets, not 262144, and the cgroup hooks run in process context where
 * allocation is fine.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);	/* socket cookie */
	__type(value, __u16);	/* bound port, for CLOSE (0: tracked by userspace) */
} tracked_socks SEC(".maps");

/*
 * Tracking without a map (set by the daemon before load; the load is the
 * probe). A socket that bind() gave a specific address carries
 * SOCK_BINDADDR_LOCK in sk_userlocks until it is freed (set right after
 * post_bind), and a connect()'s implicit bind does not set it: such a socket
 * needs no entry in tracked_socks, its release reads the flags from the
 * socket. Binds to the wildcard address (post_bind cannot tell an
 * asked-for port) and snapshot sockets go into the hash as before (a flagged
 * one is also looked up there at release, see hash_max_cookie). Known gap: if another program
 * denies the bind after ours, the socket never gets the flag and its release
 * goes unreported (the port map keeps it until the next resync).
 * This spares the bind+close path the hash insert and delete (and their
 * allocation): post_bind4 went from ~630-770 to ~220-360 ns per run. Socket
 * storage (BPF_MAP_TYPE_SK_STORAGE) was measured slower than the hash here
 * (853 ns): its allocation, memcg charge and RCU free cost more than the
 * insert.
 */
const volatile __u8 track_by_userlocks = 0;
/*
 * The largest cookie userspace put into tracked_socks (snapshot sockets).
 * A flagged socket is in the hash only if userspace put it there, so one with
 * a larger cookie needs no lookup at release: with 262144 buckets (4 MiB) a
 * lookup is a cache and TLB miss that cost as much as the rest of the hook.
 * Cookies are handed out in per-CPU batches, so a smaller one proves nothing
 * and is looked up.
 */
__u64 hash_max_cookie = 0;

/*
 * Flagged TCP listeners whose release reported UNLISTEN: the LISTEN->CLOSE
 * transition that follows in tcp_close() must not report it again after the
 * CLOSE (a hashed socket is simply gone from tracked_socks by then). Closing
 * listeners are few; LRU so that a missed transition cannot fill it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* socket cookie */
	__type(value, __u8);
} closing_listeners SEC(".maps");

/* Processes (tgid) whose exit we report: binders and owners of allocations. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u8);
} tracked_pids SEC(".maps");

/*
 * The last tgid each CPU saw tracked in tracked_pids, and pids_forgotten
 * then: a process binding many sockets is known after its first bind, and
 * this spares the hash lookup (~15 ns of a bind). Any exit of a tracked
 * process bumps pids_forgotten, which voids every memo: a recycled pid is
 * looked up again. Written only after its tgid is in the hash; the worst a
 * preempted writer leaves is a memo that misses.
 */
struct pid_memo {
	__u32 tgid;
	__u32 gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pid_memo);
} pid_memo SEC(".maps");

__u32 pids_forgotten = 0;

/* Events lost because the ring buffer was full; userspace must resync. */
__u64 dropped = 0;
/* Sockets/pids we could not track (map full): their close/exit goes unseen. */
__u64 track_full = 0;
/*
 * Set by userspace while it takes a snapshot: a socket bound before the
 * programs were attached is not tracked yet, and its release between the
 * snapshot and pw_bpf_track_socket() would go unseen. Report every TCP/UDP
 * release meanwhile; userspace ignores cookies it does not know.
 */
__u32 report_all_releases = 0;

/*
 * Wakeup batching. Waking the daemon costs the producer an irq_work self-IPI
 * per event (an APIC MSR write: a VM exit on virtual machines), which
 * dominated the cost of a bind+close loop. So an event forces a wakeup only
 * when none was forced for wakeup_gap_ns; the others are submitted silently.
 * The daemon, after draining a non-empty batch, keeps draining on a short
 * timer until a gap has passed without events, so a silent event always
 * falls inside such a lingering window and waits at most one timer period.
 * An idle host still gets its first event delivered at once.
 */
const volatile __u64 wakeup_gap_ns = 5000000;
/* Set by the daemon to its own tgid only while it test-binds a port before
 * handing it out (it is single-threaded: nothing else of it binds then). */
__u32 quiet_tgid = 0;

__u64 last_wakeup_ns = 0;

/*
 * Set by userspace on kernels without SO_NETNS_COOKIE (before 5.14), where it
 * cannot learn a netns cookie: every event then names its netns by the
 * namespace's inode number, as the snapshot does.
 */
const volatile __u8 netns_by_inum = 0;

static __always_inline __u64 wakeup_flags(__u64 ts_ns)
{
	/* no batching: the ring buffer's own adaptive wakeup */
	if (!wakeup_gap_ns)
		return 0;
	/* racy across CPUs, benignly: at worst two wakeups instead of one
	 * (a last wakeup at a release's coarse time is behind: the next one
	 * comes sooner) */
	if (ts_ns - last_wakeup_ns >= wakeup_gap_ns) {
		last_wakeup_ns = ts_ns;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void submit(struct pw_event *e)
{
	bpf_ringbuf_submit(e, wakeup_flags(e->ts_ns));
}

/*
 * Set by the daemon where cgroup programs may read the coarse clock (5.11):
 * a release decides its wakeup with it, and the daemon lingers longer by
 * the coarse clock's lag (pw_bpf_wakeup_gap_ns: two of its ticks).
 * The precise clock was ~35 ns of a release (bpf_ktime_get_ns reads the
 * TSC, which is slow on virtual machines).
 */
const volatile __u8 coarse_wakeup = 0;

/* A release carries no time: the daemon stamps it on receipt. */
static __always_inline __u64 release_wakeup_flags(void)
{
	__u64 now;

	if (!wakeup_gap_ns)
		return 0;
	if (!coarse_wakeup)
		return wakeup_flags(bpf_ktime_get_ns());
	now = bpf_ktime_get_coarse_ns();
	/* signed: the last forced wakeup may have read the precise clock,
	 * ahead of this one */
	if ((__s64)(now - last_wakeup_ns) < (__s64)wakeup_gap_ns)
		return BPF_RB_NO_WAKEUP;
	last_wakeup_ns = now;
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void track(void *map, const void *key, const void *value)
{
	long err;

	/* NOEXIST fails early without allocating when the key is known, which
	 * is the common case for a process binding many sockets. */
	err = bpf_map_update_elem(map, key, value, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */)
		__sync_fetch_and_add(&track_full, 1);
}

/* Make sure the exit of this process will be reported. */
static __always_inline void track_pid(__u32 tgid)
{
	__u32 zero = 0, gen = pids_forgotten;
	struct pid_memo *m = bpf_map_lookup_elem(&pid_memo, &zero);
	__u8 one = 1;
	long err;

	if (m && m->tgid == tgid && m->gen == gen)
		return;
	/* a lockless lookup spares the bucket lock the update would take */
	if (!bpf_map_lookup_elem(&tracked_pids, &tgid)) {
		err = bpf_map_update_elem(&tracked_pids, &tgid, &one, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST */) {
			__sync_fetch_and_add(&track_full, 1);
			return;
		}
	}
	if (m) {
		m->tgid = tgid;
		m->gen = gen;
	}
}

/* Room for a record, or NULL and the drop counted (userspace resyncs). */
static __always_inline void *ring_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		__sync_fetch_and_add(&dropped, 1);
	return e;
}

/* A cleared event of kind, stamped: for the rare ones (exits, TCP states). */
static __always_inline struct pw_event *reserve(__u8 kind)
{
	struct pw_event *e = ring_reserve(sizeof(*e));

	if (!e)
		return NULL;
	/* Ring memory is recycled: clear padding and the fields this kind does
	 * not fill so userspace never sees stale bytes. */
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

/*
 * The netns of a cgroup sock program's socket. Its context is the kernel's
 * struct sock (field accesses are rewritten by the verifier), which
 * bpf_probe_read_kernel may follow: cgroup sock programs have that helper
 * since 5.5, and only kernels that lack SO_NETNS_COOKIE take this path.
 */
static __always_inline __u64 ctx_netns(struct bpf_sock *ctx)
{
	const struct sock *sk = (const void *)ctx;
	struct net *net = NULL;

	if (!netns_by_inum)
		return bpf_get_netns_cookie(ctx);
	bpf_core_read(&net, sizeof(net), &sk->__sk_common.skc_net.net);
	return BPF_CORE_READ(net, ns.inum);
}

/* Did bind() give this socket a specific address? (see track_by_userlocks;
 * SOCK_BINDPORT_LOCK alone is a wildcard bind, which is in the hash) */
static __always_inline bool bind_pinned(const struct sock *sk)
{
	__u8 locks = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_userlocks);

	return locks & SOCK_BINDADDR_LOCK;
}

static __always_inline int on_post_bind(struct bpf_sock *ctx, bool v6)
{
	__u32 proto = ctx->protocol;
	struct pw_event *e;
	__u16 port = ctx->src_port;	/* host order; the chosen port for bind(0) */
	__u32 a[4] = {};
	__u64 cookie;
	__u32 tgid;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return SK_PASS;

	tgid = bpf_get_current_pid_tgid() >> 32;
	/* the daemon's test binds (is this port free?) are not the port map's
	 * business: skipped before any map or ring work */
	if (tgid == quiet_tgid)
		return SK_PASS;
	if (v6) {
		a[0] = ctx->src_ip6[0];
		a[1] = ctx->src_ip6[1];
		a[2] = ctx->src_ip6[2];
		a[3] = ctx->src_ip6[3];
	} else {
		a[0] = ctx->src_ip4;
	}
	/* Maps first: if the event is then dropped, the close and the exit
	 * are still reported and userspace can resync from them. */
	cookie = bpf_get_socket_cookie(ctx);
	/* bind() sets SOCK_BINDADDR_LOCK after this hook for any address but
	 * the wildcard: such a socket is found at release without the hash */
	if (!track_by_userlocks || !(a[0] | a[1] | a[2] | a[3]))
		track(&tracked_socks, &cookie, &port);
	track_pid(tgid);

	e = ring_reserve(sizeof(*e));
	if (!e)
		return SK_PASS;
	/* every byte written once, padding included: no clearing first */
	e->ts_ns = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->netns = ctx_netns(ctx);
	e->pid = tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->port = port;
	e->kind = PW_EV_BIND;
	e->proto = proto;
	e->family = v6 ? AF_INET6 : AF_INET;
	e->state = PW_SOCK_BOUND;
	e->__pad0[0] = 0;
	e->__pad0[1] = 0;
	__builtin_memcpy(e->addr, a, 16);
	/* fills all 16 bytes, zero after the name */
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->exit_code = 0;
	e->heir = 0;
	submit(e);
	return SK_PASS;
}

SEC("cgroup/post_bind4")
int pw_bind4(struct bpf_sock *ctx)
{
	return on_post_bind(ctx, false);
}

SEC("cgroup/post_bind6")
int pw_bind6(struct bpf_sock *ctx)
{
	return on_post_bind(ctx, true);
}

/*
 * A release is a cookie: the daemon has the rest from the bind.
 * Not a struct pw_event: the current task's pid, uid and comm, the netns
 * and the clearing of 80 bytes were ~65 ns of a ~220 ns hook that nobody
 * read (bpf_stats, tools/bench/hookcost.sh).
 */
static __always_inline void emit_release(struct bpf_sock *ctx, __u64 cookie, __u8 kind,
					 __u16 port)
{
	struct pw_event_release *e;

	e = ring_reserve(sizeof(*e));
	if (!e)
		return;
	e->ts_ns = 0;
	e->cookie = cookie;
	e->port = port;
	e->kind = kind;
	e->proto = ctx->protocol;
	e->family = ctx->family;
	e->__pad[0] = e->__pad[1] = e->__pad[2] = 0;
	bpf_ringbuf_submit(e, release_wakeup_flags());
}

SEC("cgroup/sock_release")
int pw_release(struct bpf_sock *ctx)
{
	__u32 proto = ctx->protocol;
	__u64 cookie;
	__u16 *tracked, port = 0;
	bool flagged = false;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return SK_PASS;
	if (track_by_userlocks) {
		const struct sock *sk = (const void *)ctx;

		if (bind_pinned(sk)) {
			flagged = true;
			/* the daemon's own test binds were never reported */
			if ((bpf_get_current_pid_tgid() >> 32) == quiet_tgid)
				return SK_PASS;
			/* no port: the daemon knows the socket by its cookie,
			 * and reading it here cost a probe read per close */
			cookie = bpf_get_socket_cookie(ctx);
			/* a snapshot may have put it in the hash too */
			if (cookie <= hash_max_cookie &&
			    bpf_map_lookup_elem(&tracked_socks, &cookie))
				bpf_map_delete_elem(&tracked_socks, &cookie);
			goto report;
		}
	}
	cookie = bpf_get_socket_cookie(ctx);
	tracked = bpf_map_lookup_elem(&tracked_socks, &cookie);
	if (tracked) {
		/* The port is not readable here: it was kept at bind. */
		port = *tracked;
		bpf_map_delete_elem(&tracked_socks, &cookie);
	} else if (!report_all_releases) {
		return SK_PASS;
	}
report:
	/*
	 * The LISTEN->CLOSE transition of a closed listener happens after this
	 * hook (in tcp_close), when the cookie is no longer tracked: report it
	 * here so that for every cookie CLOSE is the last event.
	 */
	if (proto == IPPROTO_TCP && ctx->state == TCP_LISTEN) {
		if (flagged) {
			__u8 one = 1;

			/* flagged (not in the hash): see closing_listeners */
			bpf_map_update_elem(&closing_listeners, &cookie, &one, BPF_ANY);
		}
		emit_release(ctx, cookie, PW_EV_UNLISTEN, port);
	}
	emit_release(ctx, cookie, PW_EV_CLOSE, port);
	return SK_PASS;
}

/* Children looked at for an heir: the first live one wins. */
#define HEIR_SCAN	8

/*
 * A child of p still alive (not a zombie), or 0. The tracepoint runs before
 * exit_notify() hands p's children to a reaper, and the children of p's
 * threads that left earlier were handed to p then (a live thread of the
 * same process is the first reaper): p->children is every child of the
 * process. Read under the tracepoint's RCU, as /proc reads it.
 */
static __always_inline __u32 live_child(struct task_struct *p)
{
	struct list_head *head = &p->children, *pos = BPF_CORE_READ(p, children.next);
	unsigned long off = bpf_core_field_offset(struct task_struct, sibling);

	for (int i = 0; i < HEIR_SCAN; i++) {
		struct task_struct *c;

		if (!pos || pos == head)
			return 0;
		c = (void *)pos - off;
		if (!BPF_CORE_READ(c, exit_state))
			return BPF_CORE_READ(c, tgid);
		pos = BPF_CORE_READ(pos, next);
	}
	return 0;
}

/*
 * Process exit. A process is gone when its last thread exits (signal->live
 * dropped to 0 before the tracepoint), which is not necessarily the leader:
 * the leader may have called pthread_exit() long before.
 *
 * A server that daemonizes forks and lets the parent exit, often before it
 * binds anything: the exit names a child still alive as the heir (the
 * daemon passes an allocation none of whose sockets is held to it), and the
 * heir is tracked from now on, so that its own exit, however soon (the
 * second fork of a double fork), is reported with its own heir.
 */
static __always_inline void emit_exit(struct task_struct *p, __u32 tgid, int exit_code)
{
	struct pw_event *e;
	__u8 one = 1;
	__u32 heir;

	if (bpf_map_delete_elem(&tracked_pids, &tgid))
		return;
	heir = live_child(p);
	if (heir && heir != tgid)
		track(&tracked_pids, &heir, &one);
	else
		heir = 0;
	/* void the binds' memos (pid_memo): this pid may come back */
	__sync_fetch_and_add(&pids_forgotten, 1);
	e = reserve(PW_EV_EXIT);
	if (!e)
		return;
	e->pid = tgid;
	/* The tracepoint runs in the exiting task: current is p. */
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->exit_code = exit_code;
	e->heir = heir;
	/* The leader's name, as in /proc/PID/comm, not the last thread's. */
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), BPF_CORE_READ(p, group_leader, comm));
	submit(e);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pw_exit_btf, struct task_struct *p)
{
	if (p->signal->live.counter)
		return 0;
	emit_exit(p, p->tgid, p->exit_code);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(pw_exit_raw, struct task_struct *p)
{
	if (BPF_CORE_READ(p, signal, live.counter))
		return 0;
	emit_exit(p, BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, exit_code));
	return 0;
}

/* struct net's cookie was an atomic64_t before 5.14. */
struct net___atomic_cookie {
	atomic64_t net_cookie;
} __attribute__((preserve_access_index));

static __always_inline __u64 sk_netns_cookie(const struct sock *sk)
{
	struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);

	if (netns_by_inum)
		return BPF_CORE_READ(net, ns.inum);
	if (bpf_core_field_exists(net->net_cookie))
		return BPF_CORE_READ(net, net_cookie);
	if (bpf_core_field_exists(((struct net___atomic_cookie *)net)->net_cookie))
		return BPF_CORE_READ((struct net___atomic_cookie *)net, net_cookie.counter);
	return 0;
}

/* CLOSE->LISTEN is listen(), LISTEN->CLOSE is shutdown() or close(). */
static __always_inline __u8 listen_kind(int oldstate, int newstate)
{
	if (oldstate == TCP_CLOSE && newstate == TCP_LISTEN)
		return PW_EV_LISTEN;
	if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)
		return PW_EV_UNLISTEN;
	return 0;
}

/*
 * Runs in softirq for most transitions, so the current task says nothing
 * about the socket: everything comes from the sock, pid stays 0.
 */
static __always_inline void emit_state(const struct sock *sk, __u64 cookie, __u8 kind)
{
	struct pw_event *e;
	__u16 family;

	if (track_by_userlocks && bind_pinned(sk)) {
		/* its release already said UNLISTEN, then CLOSE */
		if (kind == PW_EV_UNLISTEN && !bpf_map_delete_elem(&closing_listeners, &cookie))
			return;
	} else if (!bpf_map_lookup_elem(&tracked_socks, &cookie)) {
		return;
	}
	e = reserve(kind);
	if (!e)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->cookie = cookie;
	e->netns = sk_netns_cookie(sk);
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->proto = IPPROTO_TCP;
	e->family = family;
	if (family == AF_INET6)
		bpf_core_read(e->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	else
		bpf_core_read(e->addr, 4, &sk->__sk_common.skc_rcv_saddr);
	submit(e);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pw_state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	__u8 kind = listen_kind(oldstate, newstate);

	if (!kind || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	emit_state(sk, bpf_get_socket_cookie((void *)sk), kind);
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(pw_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	__u8 kind = listen_kind(oldstate, newstate);

	if (!kind || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	/* No cookie helper for raw_tp; the cookie was generated at bind. */
	emit_state(sk, BPF_CORE_READ(sk, __sk_common.skc_cookie.counter), kind);
	return 0;
}

/*
 * Snapshot iterator: every bound TCP/UDP socket that some process holds,
 * with that process, from one walk over every task's files. sock_diag dumps
 * one netns per request, and each request walks the whole host-wide table
 * (so do iter/tcp and iter/udp, which are per-netns too): with 250 netns of
 * 1000 sockets that was 15 s, quadratic. A socket held by several processes
 * or fds comes once per fd; userspace takes the repeats in stride.
 */
#define PF_EXITING	0x00000004

SEC("iter/task_file")
int pw_iter_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct pw_iter_sock r = {};
	struct socket *so;
	struct sock *sk;
	__u16 family, proto;

	if (!task || !file || (task->flags & PF_EXITING))
		return 0;
	so = bpf_sock_from_file(file);
	if (!so)
		return 0;
	sk = so->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	proto = sk->sk_protocol;
	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 0;
	r.port = sk->__sk_common.skc_num;
	r.state = sk->__sk_common.skc_state;
	/* unbound, or a TCP socket past listen/bound (connections) */
	if (!r.port || (proto == IPPROTO_TCP && r.state != TCP_LISTEN && r.state != TCP_CLOSE))
		return 0;
	r.family = family;
	r.proto = proto;
	r.uid = sk->sk_uid.val;
	r.pid = task->tgid;
	r.cookie = bpf_get_socket_cookie(sk);
	r.netns = sk_netns_cookie(sk);
	r.inode = (__u32)file->f_inode->i_ino;
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->group_leader->comm);
	if (family == AF_INET6)
		bpf_probe_read_kernel(r.addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	else
		bpf_probe_read_kernel(r.addr, 4, &sk->__sk_common.skc_rcv_saddr);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/*
 * Who holds these sockets now? A task_file iterator that reports, for every
 * open file that is a socket whose cookie userspace put into holders_wanted,
 * the process holding it (tgid, fd, uid, comm). One pass over the kernel's
 * file tables instead of a /proc walk, run only when a holder of a tracked
 * socket exits with the socket still open (daemonized servers, SCM_RIGHTS).
 * In this object, not one of its own: libbpf parses the kernel's BTF once
 * per object (20-40 ms and ~10 MB at start-up).
 *
 * Tasks that are exiting are skipped: their files are about to be closed,
 * and a socket held only by them has no holder left.
 */
#define S_IFMT		00170000
#define S_IFSOCK	0140000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_HOLDER_QUERY_MAX);
	__type(key, __u64);	/* socket cookie */
	__type(value, __u8);
} holders_wanted SEC(".maps");

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
	if (!cookie || !bpf_map_lookup_elem(&holders_wanted, &cookie))
		return 0;
	r.cookie = cookie;
	r.tgid = task->tgid;
	r.fd = ctx->fd;
	r.uid = BPF_CORE_READ(task, cred, uid.val);
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), BPF_CORE_READ(task, group_leader, comm));
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
