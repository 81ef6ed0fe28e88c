/* SPDX-License-Identifier: GPL-2.0 */
/* Port-conflict probe: can a service bind this port right now? */
#ifndef PW_TESTBIND_H
#define PW_TESTBIND_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bind TCP and UDP on the IPv4 and IPv6 wildcard addresses, then close: one
 * dual-stack bind per protocol where this kernel shows (checked on the first
 * call) that it conflicts with IPv4 sockets too, else four binds. 0 when the
 * port is free for both; -EADDRINUSE (or another -errno) with what failed in
 * why ("tcp/ipv4+ipv6: Address already in use", "tcp/ipv6: ...").
 */
int pw_test_bind(uint16_t port, char *why, size_t len);
/* Binds each pw_test_bind() makes here: 2 (dual-stack, or IPv4 only) or 4. */
int pw_test_bind_binds(void);

#endif
