// SPDX-License-Identifier: GPL-2.0
/*
 * The allocation policy (see alloc_policy.h). Everything it knows about the
 * world comes from the config and the caller's struct pw_port_view.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc_policy.h"

static bool ask(bool (*fn)(void *ctx, uint16_t port), void *ctx, uint16_t port)
{
	return fn && fn(ctx, port);
}

static bool usable(const struct pw_config *cfg, const struct pw_port_view *v, uint16_t port)
{
	return !ask(v->allocated, v->ctx, port) && !ask(v->bound, v->ctx, port) &&
	       !ask(v->conflicted, v->ctx, port) && !pw_config_port_reserved(cfg, port, NULL);
}

/* One bit per port: which ports were already looked at, kept or not. */
struct seen {
	uint64_t bits[65536 / 64];
};

static bool test_and_set(struct seen *s, uint16_t port)
{
	uint64_t mask = UINT64_C(1) << (port % 64);
	bool was = s->bits[port / 64] & mask;

	s->bits[port / 64] |= mask;
	return was;
}

struct cands {
	const struct pw_config *cfg;
	const struct pw_port_view *v;
	struct seen seen;
	uint16_t *out;
	size_t n, max;
};

/* Consider @port once; true when the output is full. */
static bool offer(struct cands *c, uint16_t port)
{
	if (!test_and_set(&c->seen, port) && usable(c->cfg, c->v, port))
		c->out[c->n++] = port;
	return c->n == c->max;
}

size_t pw_alloc_candidates(const struct pw_config *cfg, const struct pw_service_type *t,
			   uint16_t requested, const struct pw_port_view *v, uint16_t *out,
			   size_t max)
{
	struct cands c = { .cfg = cfg, .v = v, .out = out, .max = max };

	if (!max)
		return 0;
	if (requested && requested >= t->range_lo && requested <= t->range_hi &&
	    offer(&c, requested))
		return c.n;
	for (size_t i = 0; i < t->n_preferred; i++)
		if (offer(&c, t->preferred[i]))
			return c.n;
	/* unsigned loop variable: range_hi may be 65535 */
	for (unsigned port = t->range_lo; port <= t->range_hi; port++)
		if (offer(&c, (uint16_t)port))
			break;
	return c.n;
}

int pw_alloc_check_request(const struct pw_service_type *t, uint16_t requested, char *err,
			   size_t errlen)
{
	if (!requested || (requested >= t->range_lo && requested <= t->range_hi))
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "port %u is outside the range of service type %s (%u-%u)",
			 requested, t->name, t->range_lo, t->range_hi);
	return -ERANGE;
}

void pw_alloc_range_stats(const struct pw_config *cfg, const struct pw_service_type *t,
			  const struct pw_port_view *v, struct pw_range_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned p = t->range_lo; p <= t->range_hi; p++) {
		uint16_t port = (uint16_t)p;

		out->total++;
		if (ask(v->allocated, v->ctx, port))
			out->allocated++;
		else if (pw_config_port_reserved(cfg, port, NULL))
			out->reserved++;
		else if (ask(v->bound, v->ctx, port))
			out->bound_unallocated++;
		else if (ask(v->conflicted, v->ctx, port))
			out->conflicted++;
		else
			out->free++;
	}
}

uint32_t pw_backoff_ms(const struct pw_config *cfg, unsigned attempt)
{
	double cap = PW_BACKOFF_MAX_MS, d = cfg->port_conflict.backoff_ms;

	if (d > cap)
		cap = d;
	/* Multiply step by step, stopping at the cap: no pow(), no overflow. */
	for (unsigned i = 0; i < attempt && d < cap; i++)
		d *= cfg->port_conflict.backoff_multiplier;
	return (uint32_t)(d < cap ? d : cap);
}
