/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A log-linear latency histogram (8 sub-buckets per power of two, ~12%
 * resolution) over nanoseconds: constant memory, O(1) record, quantiles.
 * Pure, no I/O.
 */
#ifndef PW_HIST_H
#define PW_HIST_H

#include <stdint.h>

#define PW_HIST_SUB 8
#define PW_HIST_BUCKETS (64 * PW_HIST_SUB)

struct pw_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t buckets[PW_HIST_BUCKETS];
};

void pw_hist_record(struct pw_hist *h, uint64_t ns);
/* q in [0,1]; returns the upper bound of the bucket holding the quantile
 * (0 when empty). */
uint64_t pw_hist_quantile(const struct pw_hist *h, double q);
/* Observations <= le_ns (bucket resolution: counts buckets whose upper bound <= le_ns). */
uint64_t pw_hist_count_le(const struct pw_hist *h, uint64_t le_ns);

#endif
