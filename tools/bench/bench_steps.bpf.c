// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The steps of portwatch's hot path (bpf/portwatch.bpf.c), one per program,
 * for bench_steps to time in isolation with BPF_PROG_TEST_RUN: the kernel
 * runs a program `repeat` times back to back and reports the mean ns per run,
 * with none of a bind()'s or close()'s own work around it.
 *
 * tc programs, because they can be test-run with a repeat count and may call
 * everything timed here (the cgroup sock programs cannot be test-run). The
 * records are written field by field as the hooks write them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "pw_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* sized by bench_steps before load */
} events SEC(".maps");

/* as the daemon's pid_memo */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} memo SEC(".maps");

/* Records the ring buffer refused (full): bench_steps checks it stays 0. */
__u64 full = 0;

SEC("tc")
int step_empty(struct __sk_buff *skb)
{
	return 0;
}

/* a bind's record: reserve, every byte written once, submit silently */
SEC("tc")
int step_ring_bind(struct __sk_buff *skb)
{
	struct pw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&full, 1);
		return 0;
	}
	e->ts_ns = 1;
	e->cookie = 2;
	e->netns = 3;
	e->pid = 4;
	e->uid = 5;
	e->port = 6;
	e->kind = PW_EV_BIND;
	e->proto = 17;
	e->family = 2;
	e->state = PW_SOCK_BOUND;
	e->__pad0[0] = 0;
	e->__pad0[1] = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->exit_code = 0;
	e->heir = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* a release's record */
SEC("tc")
int step_ring_release(struct __sk_buff *skb)
{
	struct pw_event_release *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&full, 1);
		return 0;
	}
	e->ts_ns = 0;
	e->cookie = 2;
	e->port = 0;
	e->kind = PW_EV_CLOSE;
	e->proto = 17;
	e->family = 2;
	e->__pad[0] = e->__pad[1] = e->__pad[2] = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* the bind's timestamp */
SEC("tc")
int step_clock(struct __sk_buff *skb)
{
	return bpf_ktime_get_ns() == 0;
}

/* the release's wakeup decision */
SEC("tc")
int step_coarse_clock(struct __sk_buff *skb)
{
	return bpf_ktime_get_coarse_ns() == 0;
}

/* the bind's pid memo */
SEC("tc")
int step_percpu_lookup(struct __sk_buff *skb)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&memo, &zero) == NULL;
}
