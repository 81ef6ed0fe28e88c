// SPDX-License-Identifier: GPL-2.0
/* libbpf's messages, routed into the daemon's log (debug unless -v). */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

#include "bpfwatch.h"
#include "log.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum pw_log_level lvl;
	char buf[1024];
	size_t n;

	lvl = level == LIBBPF_WARN ? PW_LOG_WARN : PW_LOG_DEBUG;
	/* libbpf warnings are expected while probing; keep them at debug
	 * unless asked, the caller reports the outcome itself. */
	if (lvl == PW_LOG_WARN)
		lvl = PW_LOG_DEBUG;
	if (lvl > pw_log_get_level())
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = 0;
	while (buf[n])
		n++;
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	pw_log(lvl, "libbpf: %s", buf);
	return 0;
}

void pw_log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
