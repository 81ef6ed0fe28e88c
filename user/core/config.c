// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration object: built-in defaults, lookups, teardown, and the
 * checks that span service types. Loading from JSON lives in config_load.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "config.h"
#include "config_json.h"


/*
 * Styxy's well-known ranges (its CORE port reference), so that services moving
 * from Styxy keep their ports even without a config file. The personal manual
 * allocations of that file are left out.
 */
static const struct builtin_type {
	const char *name;
	const char *description;
	uint16_t lo, hi;
	uint16_t preferred[4];
	bool single;
} builtin_types[] = {
/* Styxy prefers the first four ports from @p on. */
#define T(name, desc, lo, hi, p, single) { name, desc, lo, hi, { p, p + 1, p + 2, p + 3 }, single }
	T("dev", "Frontend development servers (React, Next.js, Vite)", 3000, 3099, 3000, false),
	T("api", "API servers and backend services", 8000, 8099, 8000, false),
	T("database", "Database services and PostgreSQL instances", 5430, 5499, 5430, false),
	T("auth", "Authentication services and Firebase Auth", 9099, 9199, 9099, false),
	/* 5000 is taken by macOS AirPlay, hence 5001. */
	T("functions", "Firebase Functions and serverless", 5000, 5099, 5001, false),
	T("ui", "Firebase UI and admin interfaces", 4000, 4099, 4000, false),
	T("hub", "Emulator coordination hubs", 4400, 4499, 4400, false),
	T("storybook", "Component development with Storybook", 6006, 6029, 6006, false),
	T("test", "Browser debugging and testing tools", 9200, 9299, 9200, false),
	T("proxy", "Development proxies and webpack dev server", 8100, 8199, 8100, false),
	T("docs", "Documentation servers", 4100, 4199, 4100, false),
	T("monitoring", "Development monitoring and metrics", 3100, 3199, 3100, false),
	T("build", "Build system services", 8200, 8299, 8200, false),
	T("infrastructure", "System infrastructure services", 6370, 6399, 6370, false),
	T("ai", "AI and ML services", 11400, 11499, 11430, true),
	T("messaging", "Message queues and brokers", 9050, 9098, 9050, false),
	T("coordination", "Service coordination and management", 9870, 9899, 9870, false),
#undef T
};

static void set_recovery_defaults(struct pw_config *c)
{
	c->port_conflict.enabled = true;
	c->port_conflict.check_availability = true;
	c->port_conflict.max_retries = 3;
	c->port_conflict.backoff_ms = 100;
	c->port_conflict.backoff_multiplier = 2.0;
	c->port_conflict.conflict_hold_ms = 60000;

	c->health.enabled = true;
	c->health.check_interval_ms = 30000;
	c->health.max_failures = 3;
	c->health.cleanup_stale_allocations = true;
	c->health.grace_period_ms = 2000;
	c->health.fast_interval_ms = 1000;

	c->system_recovery.enabled = true;
	c->system_recovery.run_on_startup = true;
	c->system_recovery.backup_corrupted_state = true;
	c->system_recovery.max_recovery_attempts = 3;

	/* a shared developer host: plenty for one person's services, not every port */
	c->leases.max_per_uid = 256;
	c->leases.max_per_uid_per_type = 32;
	c->leases.hold_default_ms = 30000;
	c->leases.hold_max_ms = 3600000;
	c->audit.max_records = 100000;
	c->audit.max_age_days = 90;
	c->audit.refusals_per_s = 10;
}

static int copy_builtin(struct pw_service_type *t, const struct builtin_type *b)
{
	size_t n = ARRAY_SIZE(b->preferred);

	t->name = strdup(b->name);
	t->description = strdup(b->description);
	t->preferred = calloc(n, sizeof(*t->preferred));
	if (!t->name || !t->description || !t->preferred)
		return -ENOMEM;
	memcpy(t->preferred, b->preferred, sizeof(b->preferred));
	t->n_preferred = n;
	t->range_lo = b->lo;
	t->range_hi = b->hi;
	t->single = b->single;
	return 0;
}

int pw_config_default(struct pw_config **ret)
{
	struct pw_config *c;
	int err = 0;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	set_recovery_defaults(c);
	pw_config_ext_defaults(c);

	c->types = calloc(ARRAY_SIZE(builtin_types), sizeof(*c->types));
	if (!c->types) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Count as we go so that pw_config_free() sees every partial copy. */
	for (size_t i = 0; i < ARRAY_SIZE(builtin_types); i++) {
		c->n_types++;
		err = copy_builtin(&c->types[i], &builtin_types[i]);
		if (err)
			goto cleanup;
	}
	*ret = c;
	return 0;

cleanup:
	pw_config_free(c);
	return err;
}

static void free_type(struct pw_service_type *t)
{
	free(t->name);
	free(t->description);
	free(t->preferred);
	for (size_t i = 0; i < t->n_manual; i++) {
		free(t->manual[i].name);
		free(t->manual[i].description);
	}
	free(t->manual);
	if (t->check)
		free(t->check->target);
	free(t->check);
}

void pw_config_free(struct pw_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_types; i++)
		free_type(&c->types[i]);
	free(c->types);
	pw_config_ext_free(c);
	free(c);
}

const struct pw_service_type *pw_config_find_type(const struct pw_config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->n_types; i++)
		if (!strcmp(c->types[i].name, name))
			return &c->types[i];
	return NULL;
}

bool pw_config_port_reserved(const struct pw_config *c, uint16_t port, const char **by_name)
{
	if (!c)
		return false;
	for (size_t i = 0; i < c->n_types; i++) {
		const struct pw_service_type *t = &c->types[i];

		for (size_t j = 0; j < t->n_manual; j++) {
			if (t->manual[j].port != port)
				continue;
			if (by_name)
				*by_name = t->manual[j].name;
			return true;
		}
	}
	return false;
}

/* The manual allocation before types[ti].manual[mi] (in file order) that holds @port. */
static const struct pw_service_type *earlier_manual(const struct pw_config *c, size_t ti,
						    size_t mi, uint16_t port, size_t *at)
{
	for (size_t i = 0; i <= ti; i++) {
		const struct pw_service_type *t = &c->types[i];

		for (size_t j = 0; j < (i == ti ? mi : t->n_manual); j++) {
			if (t->manual[j].port == port) {
				*at = j;
				return t;
			}
		}
	}
	return NULL;
}

/* Quadratic, but configs hold tens of types, and errors come in file order. */
static int check_ranges(struct pw_cfg_ctx *ctx, const struct pw_config *c)
{
	for (size_t i = 0; i < c->n_types; i++) {
		const struct pw_service_type *a = &c->types[i];

		for (size_t j = i + 1; j < c->n_types; j++) {
			const struct pw_service_type *b = &c->types[j];

			if (!strcmp(a->name, b->name))
				return pw_cfg_fail(ctx, "service_types.%s: defined twice", a->name);
			if (a->range_lo > b->range_hi || b->range_lo > a->range_hi)
				continue;
			return pw_cfg_fail(ctx,
					   "service_types.%s.port_range: [%u, %u] overlaps "
					   "service_types.%s.port_range [%u, %u]",
					   a->name, a->range_lo, a->range_hi,
					   b->name, b->range_lo, b->range_hi);
		}
	}
	return 0;
}

static int check_manual(struct pw_cfg_ctx *ctx, const struct pw_config *c)
{
	for (size_t i = 0; i < c->n_types; i++) {
		const struct pw_service_type *a = &c->types[i];

		for (size_t j = 0; j < a->n_manual; j++) {
			const struct pw_manual_alloc *m = &a->manual[j];
			const struct pw_service_type *o;
			size_t at;

			o = earlier_manual(c, i, j, m->port, &at);
			if (!o)
				continue;
			return pw_cfg_fail(ctx,
					   "service_types.%s.manual_allocations.%s.port: %u is "
					   "already reserved by "
					   "service_types.%s.manual_allocations.%s",
					   a->name, m->name, m->port, o->name, o->manual[at].name);
		}
	}
	return 0;
}

int pw_config_validate(const struct pw_config *c, char *err, size_t errlen)
{
	struct pw_cfg_ctx ctx = { .err = err, .errlen = errlen };
	int r;

	r = check_ranges(&ctx, c);
	if (!r)
		r = check_manual(&ctx, c);
	return r;
}
