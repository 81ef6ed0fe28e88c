// SPDX-License-Identifier: GPL-2.0
/*
 * Service types added while the daemon runs: the portserver's pool and the
 * types auto-allocated for unknown names (Styxy's "auto_allocation"). The
 * array is reserved once at start-up, so the type pointers that requests in
 * backoff hold stay valid when a type is added.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "config.h"

int pw_config_reserve_types(struct pw_config *c, size_t extra)
{
	struct pw_service_type *v;
	size_t want = c->n_types + extra;

	if (c->cap_types >= want)
		return 0;
	v = realloc(c->types, want * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + c->n_types, 0, extra * sizeof(*v));
	c->types = v;
	c->cap_types = want;
	return 0;
}

static bool overlaps_manual(const struct pw_config *c, uint16_t lo, uint16_t hi)
{
	for (size_t i = 0; i < c->n_types; i++)
		for (size_t j = 0; j < c->types[i].n_manual; j++)
			if (c->types[i].manual[j].port >= lo && c->types[i].manual[j].port <= hi)
				return true;
	return false;
}

/* The type whose range overlaps [lo, hi], NULL when none. */
static const struct pw_service_type *overlapping(const struct pw_config *c, uint16_t lo,
						 uint16_t hi)
{
	for (size_t i = 0; i < c->n_types; i++)
		if (!(lo > c->types[i].range_hi || c->types[i].range_lo > hi))
			return &c->types[i];
	return NULL;
}

int pw_config_add_type(struct pw_config *c, const char *name, const char *description,
		       uint16_t lo, uint16_t hi, bool single, char *err, size_t errlen)
{
	const struct pw_service_type *o;
	struct pw_service_type *t;

	if (!name || !*name || strlen(name) >= PW_TYPE_MAX || !lo || lo > hi) {
		snprintf(err, errlen, "service type \"%.64s\" [%u, %u]: invalid name or range",
			 name ? name : "", lo, hi);
		return -EINVAL;
	}
	if (pw_config_find_type(c, name)) {
		snprintf(err, errlen, "service type %s exists already", name);
		return -EEXIST;
	}
	o = overlapping(c, lo, hi);
	if (o) {
		snprintf(err, errlen, "service type %s: [%u, %u] overlaps %s [%u, %u]", name, lo, hi,
			 o->name, o->range_lo, o->range_hi);
		return -ERANGE;
	}
	if (c->n_types >= c->cap_types) {
		snprintf(err, errlen, "service type %s: no room for more run-time types", name);
		return -ENOSPC;
	}
	t = &c->types[c->n_types];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	t->description = strdup(description ? description : "");
	if (!t->name || !t->description) {
		free(t->name);
		free(t->description);
		memset(t, 0, sizeof(*t));
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->range_lo = lo;
	t->range_hi = hi;
	t->single = single;
	c->n_types++;
	return 0;
}

int pw_config_runtime_room(const struct pw_config *c, uint32_t uid, char *err, size_t errlen)
{
	size_t left = c->cap_types > c->n_types ? c->cap_types - c->n_types : 0;
	unsigned mine = 0;

	if (!left) {
		snprintf(err, errlen, "no room for more run-time types (%zu made)", c->n_types);
		return -ENOSPC;
	}
	if (uid == 0)
		return 0;
	for (size_t i = 0; i < c->n_types; i++)
		if (c->types[i].auto_allocated && c->types[i].created_by == uid)
			mine++;
	if (mine >= PW_RUNTIME_TYPES_PER_UID) {
		snprintf(err, errlen, "uid %u has auto-allocated %u service types, the most a user "
			 "may (%d); use one of them, or ask root", uid, mine,
			 PW_RUNTIME_TYPES_PER_UID);
		return -EDQUOT;
	}
	if (left <= PW_RUNTIME_TYPES_ROOT) {
		snprintf(err, errlen, "the run-time type table has %zu slots left, kept for root "
			 "(the last %d)", left, PW_RUNTIME_TYPES_ROOT);
		return -ENOSPC;
	}
	return 0;
}

int pw_config_find_gap(const struct pw_config *c, uint16_t lo, uint16_t hi, unsigned size,
		       bool from_high, uint16_t *ret_lo)
{
	unsigned a, b;

	if (!size || lo > hi || (unsigned)hi - lo + 1 < size)
		return -ENOSPC;
	if (!from_high) {
		for (a = lo; a + size - 1 <= hi; a++) {
			const struct pw_service_type *o;

			b = a + size - 1;
			o = overlapping(c, (uint16_t)a, (uint16_t)b);
			if (o) {
				a = o->range_hi;	/* the loop's a++ steps past it */
				continue;
			}
			if (overlaps_manual(c, (uint16_t)a, (uint16_t)b))
				continue;
			*ret_lo = (uint16_t)a;
			return 0;
		}
		return -ENOSPC;
	}
	for (b = hi; b >= (unsigned)lo + size - 1; b--) {
		const struct pw_service_type *o;

		a = b - size + 1;
		o = overlapping(c, (uint16_t)a, (uint16_t)b);
		if (o) {
			if (o->range_lo == 0 || o->range_lo < (unsigned)lo + size)
				return -ENOSPC;
			b = o->range_lo;	/* the loop's b-- steps below it */
			continue;
		}
		if (overlaps_manual(c, (uint16_t)a, (uint16_t)b))
			continue;
		*ret_lo = (uint16_t)a;
		return 0;
	}
	return -ENOSPC;
}
