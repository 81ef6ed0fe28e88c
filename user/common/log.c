// SPDX-License-Identifier: GPL-2.0
/* Daemon logging to stderr with a level prefix. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static enum pw_log_level max_level = PW_LOG_INFO;

static const char *const level_names[] = {
	[PW_LOG_ERR] = "error",
	[PW_LOG_WARN] = "warning",
	[PW_LOG_INFO] = "info",
	[PW_LOG_DEBUG] = "debug",
};

void pw_log_set_level(enum pw_log_level max)
{
	max_level = max;
}

enum pw_log_level pw_log_get_level(void)
{
	return max_level;
}

static void vlog(enum pw_log_level lvl, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld portwatchd %s: ", when, ts.tv_nsec / 1000000, level_names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void pw_log(enum pw_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > max_level)
		return;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}
