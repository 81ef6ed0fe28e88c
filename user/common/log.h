/* SPDX-License-Identifier: GPL-2.0 */
/* Logging for the daemon: one line per message on stderr, with a level. */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <stdbool.h>

enum pw_log_level {
	PW_LOG_ERR = 0,
	PW_LOG_WARN = 1,
	PW_LOG_INFO = 2,
	PW_LOG_DEBUG = 3,
};

/* Messages above @max are dropped. Default PW_LOG_INFO. */
void pw_log_set_level(enum pw_log_level max);
enum pw_log_level pw_log_get_level(void);
void pw_log(enum pw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pw_err(...)   pw_log(PW_LOG_ERR, __VA_ARGS__)
#define pw_warn(...)  pw_log(PW_LOG_WARN, __VA_ARGS__)
#define pw_info(...)  pw_log(PW_LOG_INFO, __VA_ARGS__)
#define pw_debug(...) pw_log(PW_LOG_DEBUG, __VA_ARGS__)

#endif
