/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A socket's holder, as the holders iterator (pw_holders in bpf/portwatch.bpf.c)
 * reports it. */
#ifndef PW_HOLDER_H
#define PW_HOLDER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PW_HOLDER_QUERY_MAX 4096	/* cookies per lookup */

struct pw_holder_rec {
	__u64 cookie;
	__u32 tgid;
	__u32 fd;
	__u32 uid;
	char comm[16];
	__u32 pad;
};

#endif
