/* SPDX-License-Identifier: GPL-2.0 */
/*
 * portpicker's portserver protocol (python_portpicker, Debian's
 * python3-portpicker): a client connects to a Unix socket (a path, or "@name"
 * for the abstract namespace), writes a pid and a newline, and reads a port
 * and a newline. The port is allocated from one service type, owned by that
 * pid (checked with its start time), and released when the process exits.
 * Malformed or refused requests get no answer: the connection is closed, as
 * the reference server does, and counted.
 */
#ifndef PW_PORTSERVER_H
#define PW_PORTSERVER_H

#include <stdbool.h>
#include <stdint.h>

struct pw_daemon;
struct pw_portserver;

#define PW_PORTSERVER_TYPE "portserver"
/* The reference server's pool, for the built-in type. */
#define PW_PORTSERVER_LO 15000
#define PW_PORTSERVER_HI 24999

struct pw_portserver_stats {
	uint64_t requests;	/* connections that sent something or timed out */
	uint64_t allocated;	/* answered with a port */
	uint64_t malformed;	/* not a pid: closed without an answer */
	uint64_t denied;	/* pid 1, <= 0, gone, or another user's: refused */
	uint64_t failed;	/* the allocation failed (pool full, storage) */
	uint64_t timed_out;	/* silent clients closed */
};

/*
 * Make sure the pool type exists: when @type is the built-in name and the
 * config lacks it, add it with the reference range. Call before any request
 * is served (it may add a type to the config). 0 or -errno, logged.
 */
int pw_portserver_prepare(struct pw_daemon *d, const char *type);
/* Whether @addr is one pw_portserver_start() takes: "@name" or a path, of
 * 2 bytes at least, that fits a Unix socket address. */
bool pw_portserver_addr_ok(const char *addr);
/* Listen on @addr ("@name" or a path) serving @type. 0 or -errno, logged. */
int pw_portserver_start(struct pw_daemon *d, const char *addr, const char *type);
void pw_portserver_stop(struct pw_daemon *d);void pw_portserver_stats(const struct pw_portserver *ps, struct pw_portserver_stats *st);
const char *pw_portserver_addr(const struct pw_portserver *ps);
const char *pw_portserver_type(const struct pw_portserver *ps);

#endif
