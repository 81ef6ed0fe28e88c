// SPDX-License-Identifier: GPL-2.0
/* Daemon logging to stderr with a level prefix. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>

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

/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char prio[] = { [PW_LOG_ERR] = '3', [PW_LOG_WARN] = '4', [PW_LOG_INFO] = '6',
			     [PW_LOG_DEBUG] = '7' };

/* Is stderr the journal? systemd says which stream it connected in
 * JOURNAL_STREAM=dev:ino; a redirected stderr no longer matches. */
static bool stderr_is_journal(void)
{
	static int is = -1;
	unsigned long long dev, ino;
	const char *e;
	struct stat st;

	if (is >= 0)
		return is;
	e = getenv("JOURNAL_STREAM");
	is = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
	     st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
	return is;
}

static void vlog(enum pw_log_level lvl, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	/* a line whole, whichever thread logs (the storage thread, start-up's
	 * state reader) */
	flockfile(stderr);
	/* the journal stamps and names the line itself; the prefix sets its priority */
	if (stderr_is_journal()) {
		fprintf(stderr, "<%c>", prio[lvl]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
		return;
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld portwatchd %s: ", when, ts.tv_nsec / 1000000, level_names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
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
