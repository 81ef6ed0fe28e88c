/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The allocation policy: which ports a service type may be given, in which
 * order, and how long to back off after a conflict. Pure: no I/O, no globals;
 * the world is seen through struct pw_port_view, so tests drive it directly.
 */
#ifndef PW_ALLOC_POLICY_H
#define PW_ALLOC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The state of ports as the caller knows it. A NULL callback means "never". */
struct pw_port_view {
	void *ctx;
	bool (*allocated)(void *ctx, uint16_t port);	/* handed out by the store */
	bool (*bound)(void *ctx, uint16_t port);	/* any address, TCP or UDP, host netns,
							 * per the live port map */
	bool (*conflicted)(void *ctx, uint16_t port);	/* marked conflicted recently */
};

/* Backoff never grows past this, unless backoff_ms itself is larger. */
#define PW_BACKOFF_MAX_MS 5000

/*
 * Fill @out with at most @max candidate ports for type @t, best first: the
 * requested port (if nonzero and within the range; check it first with
 * pw_alloc_check_request()), then the preferred ports in order, then the rest
 * of the range ascending. Ports that are allocated, bound, conflicted or
 * reserved by a manual allocation of any type are left out, and none appears
 * twice. Returns the count; 0 when the range is exhausted.
 */
size_t pw_alloc_candidates(const struct pw_config *cfg, const struct pw_service_type *t,
			   uint16_t requested, const struct pw_port_view *v, uint16_t *out,
			   size_t max);

/*
 * 0 when @requested is 0 (no preference) or lies in @t's range; else -ERANGE
 * with a message naming the port and the range in @err (may be NULL if errlen is 0).
 */
int pw_alloc_check_request(const struct pw_service_type *t, uint16_t requested, char *err,
			   size_t errlen);

/*
 * Every port of the range is counted once, in the first class that applies:
 * allocated, reserved (manual allocation), bound_unallocated, conflicted, free.
 * So total is the sum of the others, and free equals the number of range
 * ports pw_alloc_candidates() can return.
 */
struct pw_range_stats {
	unsigned total, allocated, bound_unallocated, reserved, conflicted, free;
};

void pw_alloc_range_stats(const struct pw_config *cfg, const struct pw_service_type *t,
			  const struct pw_port_view *v, struct pw_range_stats *out);

/*
 * Delay before retry @attempt (0 for the first retry) after a conflict:
 * backoff_ms * backoff_multiplier^attempt, capped at PW_BACKOFF_MAX_MS (or at
 * backoff_ms when that is larger).
 */
uint32_t pw_backoff_ms(const struct pw_config *cfg, unsigned attempt);

#endif
