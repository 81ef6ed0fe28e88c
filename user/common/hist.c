// SPDX-License-Identifier: GPL-2.0
#include "hist.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, sub;

	if (v < PW_HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	/* the 3 bits below the leading one pick the sub-bucket */
	sub = (unsigned)(v >> (msb - 3)) & (PW_HIST_SUB - 1);
	return (msb - 2) * PW_HIST_SUB + sub;
}

static uint64_t bucket_upper(unsigned b)
{
	unsigned msb, sub;

	if (b < PW_HIST_SUB)
		return b;
	msb = b / PW_HIST_SUB + 2;
	sub = b % PW_HIST_SUB;
	if (msb >= 63)
		return UINT64_MAX;
	return ((uint64_t)(PW_HIST_SUB + sub + 1) << (msb - 3)) - 1;
}

void pw_hist_record(struct pw_hist *h, uint64_t ns)
{
	unsigned b = bucket_of(ns);

	if (b >= PW_HIST_BUCKETS)
		b = PW_HIST_BUCKETS - 1;
	h->buckets[b]++;
	h->count++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

uint64_t pw_hist_quantile(const struct pw_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (unsigned b = 0; b < PW_HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen > rank) {
			uint64_t up = bucket_upper(b);

			return up < h->max_ns ? up : h->max_ns;
		}
	}
	return h->max_ns;
}

uint64_t pw_hist_count_le(const struct pw_hist *h, uint64_t le_ns)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < PW_HIST_BUCKETS; b++) {
		if (bucket_upper(b) > le_ns)
			break;
		n += h->buckets[b];
	}
	return n;
}
