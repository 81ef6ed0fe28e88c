/* SPDX-License-Identifier: GPL-2.0 */
/* Port-conflict probe: can a service bind this port right now? */
#ifndef PW_TESTBIND_H
#define PW_TESTBIND_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bind TCP and UDP on the IPv4 and IPv6 wildcard addresses, then close.
 * 0 when all four succeed; -EADDRINUSE (or another -errno) with what failed
 * in why ("tcp/ipv6: Address already in use").
 */
int pw_test_bind(uint16_t port, char *why, size_t len);

#endif
