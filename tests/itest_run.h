/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run a program (the CLI, ss, a shell) and capture its stdout and stderr
 * separately, with its exit code: for tests that check where output goes.
 */
#ifndef PW_ITEST_RUN_H
#define PW_ITEST_RUN_H

/* Run argv (PATH searched) with PORTWATCH_SOCKET=sock when sock is not NULL,
 * stdin from /dev/null, killed after timeout_ms. *out and *err are malloc'd
 * (never NULL on success). Returns the exit code, 128+signal, or -errno. */
int itest_run(const char *const *argv, const char *sock, int timeout_ms, char **out, char **err);

/* The same as uid (>= 0; its gid the same number, no groups). */
int itest_run_uid(const char *const *argv, const char *sock, int uid, int timeout_ms, char **out,
		  char **err);

/* The same with argv[0] = $BUILD/portwatch. */
int itest_pw(const char *sock, char **out, char **err, const char *const *args);
/* The same as uid (-1: root). */
int itest_pw_uid(const char *sock, int uid, char **out, char **err, const char *const *args);

#endif
