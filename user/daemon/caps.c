// SPDX-License-Identifier: GPL-2.0
/*
 * Capabilities after start-up (libcap-ng). Loading and attaching BPF needs
 * CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN or CAP_SYS_ADMIN; none of that is done
 * again, so they go. What the steady state still does, and needs:
 *
 * CAP_SYS_ADMIN        setns() into every other network namespace for the
 *                      sock_diag dumps of resyncs and polling snapshots; it is
 *                      also what lets bpf() map updates and lookups on the fds
 *                      we hold pass on kernels before 6.5 with unprivileged BPF
 *                      disabled (CAP_BPF alone is not enough for setns).
 * CAP_SYS_PTRACE       readlink /proc/PID/fd/N and open /proc/PID/ns/net of
 *                      other users' processes (ptrace read access): owners.
 * CAP_DAC_READ_SEARCH  list other users' /proc/PID/fd directories (mode 0500).
 * CAP_NET_BIND_SERVICE test binds of candidate ports below 1024, and
 *                      --metrics-listen on such a port.
 *
 * Measured (tools/caps/measure.sh, a polling daemon started without one of
 * them): without CAP_SYS_ADMIN a socket in another network namespace is never
 * seen; without CAP_SYS_PTRACE another user's socket has owner pid 0 and the
 * other namespace is not entered either (a root process holding capabilities
 * we dropped is ptrace-protected from us); without CAP_DAC_READ_SEARCH another
 * user's socket has owner pid 0; without CAP_NET_BIND_SERVICE every port of a
 * range below 1024 fails its test bind. The integration suite passes with
 * exactly these four (tests/integration/itest_caps.c checks the set).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <cap-ng.h>

#include "caps.h"
#include "log.h"

static const int kept[] = {
	CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_NET_BIND_SERVICE,
};

int pw_caps_drop(void)
{
	capng_select_t which = CAPNG_SELECT_BOTH;
	char *now;
	bool setpcap;
	int r;

	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_get_caps_process()) {
		pw_err("capabilities: cannot read this process's: %s", strerror(errno));
		return -EPERM;
	}
	setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE)
		return 0;	/* unprivileged: nothing to drop */
	/* from what we hold now, keep the listed ones only */
	{
		bool have[sizeof(kept) / sizeof(kept[0])];

		for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
			have[i] = capng_have_capability(CAPNG_PERMITTED, (unsigned)kept[i]);
		capng_clear(CAPNG_SELECT_ALL);
		for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
			if (!have[i])
				continue;
			capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED |
				     CAPNG_BOUNDING_SET, (unsigned)kept[i]);
		}
	}
	if (!setpcap) {
		/* the bounding set stays as given (systemd's CapabilityBoundingSet) */
		which = CAPNG_SELECT_CAPS;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
			r = -errno;
			pw_err("capabilities: no_new_privs: %s", strerror(-r));
			return r;
		}
	}
	r = capng_apply(which);
	if (r) {
		pw_err("capabilities: dropping failed (libcap-ng %d)", r);
		return -EPERM;
	}
	capng_clear(CAPNG_SELECT_BOTH);
	(void) capng_get_caps_process();
	now = capng_print_caps_text(CAPNG_PRINT_BUFFER, CAPNG_EFFECTIVE);
	pw_info("capabilities: kept %s", now ? now : "?");
	free(now);
	return 0;
}
