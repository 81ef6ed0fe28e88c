/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Least privilege: once BPF is loaded and attached, the first snapshot taken
 * and the control socket bound, the daemon keeps only the capabilities its
 * steady state uses (caps.c says which and why).
 */
#ifndef PW_CAPS_H
#define PW_CAPS_H

#include <stdint.h>
#include <linux/capability.h>

/* The capabilities kept, as a CapEff mask (/proc/PID/status). */
#define PW_CAPS_KEPT ((1ull << CAP_SYS_ADMIN) | (1ull << CAP_SYS_PTRACE) | \
		      (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_NET_BIND_SERVICE))

/*
 * Drop every other capability from the effective, permitted, inheritable and
 * ambient sets, and from the bounding set when CAP_SETPCAP allows (else
 * no_new_privs keeps exec'd health-check commands from regaining them).
 * Kept ones the process does not hold stay absent. 0 or -errno, logged.
 */
int pw_caps_drop(void);

#endif
