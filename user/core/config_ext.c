// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of Styxy's config format beyond types and recovery that
 * portwatch acts on: "auto_allocation" with "auto_allocation_rules" (a range
 * for an unknown type, placed as Styxy's RangeAnalyzer places it), and the
 * merge of a user override file over the loaded types by name (Styxy's
 * ~/.styxy/config.json over its core-ports.json). Also portwatch's own
 * "listeners" block:
 *
 *   "listeners": { "portserver": "@portserver", "portserver_type": "portserver",
 *                  "styxy_http": "127.0.0.1:9876",
 *                  "styxy_token_file": "/home/me/.styxy/auth.token" }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "array.h"
#include "config.h"
#include "config_json.h"

#define AA(k, kind, m, min) { k, PW_CFG_##kind, offsetof(struct pw_config, auto_alloc.m), min }

static const struct pw_cfg_field auto_fields[] = {
	AA("enabled", BOOL, enabled, 0),
	AA("default_chunk_size", INT, default_chunk_size, 1),
	AA("preserve_gaps", BOOL, preserve_gaps, 0),
	AA("gap_size", INT, gap_size, 0),
	{ "placement", PW_CFG_SEPARATE, 0, 0 },
	{ "min_port", PW_CFG_SEPARATE, 0, 0 },
	{ "max_port", PW_CFG_SEPARATE, 0, 0 },
};

static const struct pw_cfg_field listener_fields[] = {
	{ "portserver", PW_CFG_SEPARATE, 0, 0 },
	{ "portserver_type", PW_CFG_SEPARATE, 0, 0 },
	{ "styxy_http", PW_CFG_SEPARATE, 0, 0 },
	{ "styxy_token_file", PW_CFG_SEPARATE, 0, 0 },
};

/* Styxy's rules carry more (placement, preferred_range_start) that its
 * daemon does not use either. */
static const struct pw_cfg_field rule_fields[] = {
	{ "chunk_size", PW_CFG_SEPARATE, 0, 0 },
	{ "placement", PW_CFG_SEPARATE, 0, 0 },
	{ "preferred_range_start", PW_CFG_SEPARATE, 0, 0 },
};

void pw_config_ext_defaults(struct pw_config *c)
{
	c->auto_alloc.enabled = false;
	c->auto_alloc.default_chunk_size = 10;
	c->auto_alloc.placement = PW_PLACE_AFTER;
	c->auto_alloc.min_port = 10000;
	c->auto_alloc.max_port = 49151;
	c->auto_alloc.preserve_gaps = true;
	c->auto_alloc.gap_size = 10;
}

void pw_config_ext_free(struct pw_config *c)
{
	for (size_t i = 0; i < c->auto_alloc.n_rules; i++)
		free(c->auto_alloc.rules[i].pattern);
	free(c->auto_alloc.rules);
	free(c->listeners.portserver);
	free(c->listeners.portserver_type);
	free(c->listeners.styxy_http);
	free(c->listeners.styxy_token_file);
}

static int parse_port_key(struct pw_cfg_ctx *ctx, json_t *o, const char *key, uint16_t *out)
{
	char p[PW_CFG_PATH_LEN];
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	return pw_cfg_port(ctx, v, pw_cfg_path(p, "auto_allocation", key), out);
}

static int parse_rules(struct pw_cfg_ctx *ctx, json_t *root)
{
	struct pw_config *c = ctx->c;
	char p[PW_CFG_PATH_LEN];
	const char *pat;
	json_t *rules, *r;
	int err;

	err = pw_cfg_object(ctx, root, "", "auto_allocation_rules", &rules);
	if (err || !rules)
		return err;
	c->auto_alloc.rules = calloc(json_object_size(rules) + 1, sizeof(*c->auto_alloc.rules));
	if (!c->auto_alloc.rules)
		return -ENOMEM;
	json_object_foreach(rules, pat, r) {
		struct pw_auto_rule *ru = &c->auto_alloc.rules[c->auto_alloc.n_rules];
		json_t *cs;

		pw_cfg_path(p, "auto_allocation_rules", pat);
		if (!json_is_object(r))
			return pw_cfg_bad_value(ctx, p, r, "expected an object");
		err = pw_cfg_fields(ctx, r, p, NULL, rule_fields, ARRAY_SIZE(rule_fields));
		if (err)
			return err;
		cs = json_object_get(r, "chunk_size");
		ru->chunk_size = 0;
		if (cs && (!json_is_integer(cs) || json_integer_value(cs) < 1 ||
			   json_integer_value(cs) > 65535))
			return pw_cfg_bad_value(ctx, pw_cfg_path(p, p, "chunk_size"), cs,
						"expected an integer 1-65535");
		if (cs)
			ru->chunk_size = (int)json_integer_value(cs);
		ru->pattern = strdup(pat);
		if (!ru->pattern)
			return -ENOMEM;
		c->auto_alloc.n_rules++;
	}
	return 0;
}

static int parse_listeners(struct pw_cfg_ctx *ctx, json_t *root)
{
	struct pw_config *c = ctx->c;
	json_t *l;
	int err;

	err = pw_cfg_object(ctx, root, "", "listeners", &l);
	if (err || !l)
		return err;
	err = pw_cfg_fields(ctx, l, "listeners", NULL, listener_fields,
			    ARRAY_SIZE(listener_fields));
	if (!err)
		err = pw_cfg_string(ctx, l, "listeners", "portserver", NULL,
				    &c->listeners.portserver);
	if (!err)
		err = pw_cfg_string(ctx, l, "listeners", "portserver_type", NULL,
				    &c->listeners.portserver_type);
	if (!err)
		err = pw_cfg_string(ctx, l, "listeners", "styxy_http", NULL,
				    &c->listeners.styxy_http);
	if (!err)
		err = pw_cfg_string(ctx, l, "listeners", "styxy_token_file", NULL,
				    &c->listeners.styxy_token_file);
	return err;
}

int pw_config_ext_parse(struct pw_cfg_ctx *ctx, json_t *root)
{
	struct pw_config *c = ctx->c;
	json_t *aa = NULL, *pl;
	int err;

	err = pw_cfg_object(ctx, root, "", "auto_allocation", &aa);
	if (!err && aa)
		err = pw_cfg_fields(ctx, aa, "auto_allocation", c, auto_fields,
				    ARRAY_SIZE(auto_fields));
	if (!err && aa)
		err = parse_port_key(ctx, aa, "min_port", &c->auto_alloc.min_port);
	if (!err && aa)
		err = parse_port_key(ctx, aa, "max_port", &c->auto_alloc.max_port);
	pl = !err && aa ? json_object_get(aa, "placement") : NULL;
	if (!err && pl) {
		const char *s = json_string_value(pl);

		if (s && !strcmp(s, "after"))
			c->auto_alloc.placement = PW_PLACE_AFTER;
		else if (s && !strcmp(s, "before"))
			c->auto_alloc.placement = PW_PLACE_BEFORE;
		else if (s && !strcmp(s, "smart"))
			c->auto_alloc.placement = PW_PLACE_SMART;
		else
			err = pw_cfg_bad_value(ctx, "auto_allocation.placement", pl,
					       "expected \"after\", \"before\" or \"smart\"");
	}
	if (!err && c->auto_alloc.min_port > c->auto_alloc.max_port)
		err = pw_cfg_fail(ctx, "auto_allocation: min_port %u is above max_port %u",
				  c->auto_alloc.min_port, c->auto_alloc.max_port);
	if (!err)
		err = parse_rules(ctx, root);
	if (!err)
		err = parse_listeners(ctx, root);
	return err;
}

/* --- auto-allocation ------------------------------------------------------------ */

/* Styxy turns the pattern into ^...$ with '*' as ".*". */
static bool glob_match(const char *pat, const char *s)
{
	if (!*pat)
		return !*s;
	if (*pat == '*')
		return glob_match(pat + 1, s) || (*s && glob_match(pat, s + 1));
	return *s == *pat && glob_match(pat + 1, s + 1);
}

static int chunk_for(const struct pw_config *c, const char *name)
{
	for (size_t i = 0; i < c->auto_alloc.n_rules; i++)
		if (glob_match(c->auto_alloc.rules[i].pattern, name))
			return c->auto_alloc.rules[i].chunk_size ? c->auto_alloc.rules[i].chunk_size
								 : c->auto_alloc.default_chunk_size;
	return c->auto_alloc.default_chunk_size;
}

static int cmp_lo(const void *a, const void *b)
{
	const struct pw_service_type *x = *(const struct pw_service_type *const *)a;
	const struct pw_service_type *y = *(const struct pw_service_type *const *)b;

	return (int)x->range_lo - (int)y->range_lo;
}

/* The category: the name up to its first '-' (Styxy's extractCategory). */
static size_t category_len(const char *name)
{
	return strcspn(name, "-");
}

static long place(const struct pw_config *c, const char *name, unsigned size)
{
	const struct pw_service_type **v;
	unsigned gap = c->auto_alloc.preserve_gaps ? (unsigned)c->auto_alloc.gap_size : 0;
	unsigned lo = c->auto_alloc.min_port, hi = c->auto_alloc.max_port;
	long start = -1;
	size_t n = c->n_types;

	if (!n)
		return lo + size - 1 <= hi ? (long)lo : -1;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < n; i++)
		v[i] = &c->types[i];
	qsort(v, n, sizeof(*v), cmp_lo);
	if (c->auto_alloc.placement == PW_PLACE_SMART) {
		size_t cl = category_len(name);
		long max_end = -1;

		for (size_t i = 0; i + 1 < n && start < 0; i++)
			if ((long)v[i + 1]->range_lo - v[i]->range_hi - 1 >= (long)(size + 2 * gap))
				start = v[i]->range_hi + gap + 1;
		for (size_t i = 0; i < n && start < 0; i++)
			if (category_len(v[i]->name) == cl && !strncmp(v[i]->name, name, cl) &&
			    v[i]->range_hi > max_end)
				max_end = v[i]->range_hi;
		if (start < 0 && max_end >= 0) {
			long s = max_end + gap + 1, e = s + size - 1;

			for (size_t i = 0; i < n; i++)
				if (v[i]->range_lo > max_end && e + gap >= v[i]->range_lo)
					s = -1;
			start = s;
		}
	}
	if (start < 0 && c->auto_alloc.placement == PW_PLACE_BEFORE) {
		start = (long)v[0]->range_lo - gap - size;
		free(v);
		return start < (long)lo ? -1 : start;
	}
	if (start < 0) {
		long max_end = 0;

		for (size_t i = 0; i < n; i++)
			if (v[i]->range_hi > max_end)
				max_end = v[i]->range_hi;
		start = max_end + gap + 1;
		if (start < (long)lo)
			start = lo;
	}
	free(v);
	if (start + size - 1 > hi)
		return -1;
	return start;
}

int pw_config_auto_type(struct pw_config *c, const char *name,
			const struct pw_service_type **ret, char *err, size_t errlen)
{
	unsigned size;
	long start;
	char desc[128];
	int r;

	if (!c->auto_alloc.enabled) {
		snprintf(err, errlen, "auto-allocation is disabled (auto_allocation.enabled)");
		return -EPERM;
	}
	if (!*name || strlen(name) >= PW_TYPE_MAX || strspn(name,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(name)) {
		snprintf(err, errlen, "service_type can only contain letters, numbers, and "
			 "hyphens (1-%d of them)", PW_TYPE_MAX - 1);
		return -EINVAL;
	}
	size = (unsigned)chunk_for(c, name);
	start = place(c, name, size);
	if (start < 0 || start + size - 1 > 65535) {
		snprintf(err, errlen, "no free range of %u ports for %s within [%u, %u]", size, name,
			 c->auto_alloc.min_port, c->auto_alloc.max_port);
		return -ENOSPC;
	}
	snprintf(desc, sizeof(desc), "Auto-allocated service type for %s", name);
	r = pw_config_add_type(c, name, desc, (uint16_t)start, (uint16_t)(start + size - 1),
			       false, err, errlen);
	if (r)
		return r;
	c->types[c->n_types - 1].auto_allocated = true;
	*ret = &c->types[c->n_types - 1];
	return 0;
}

/* --- the override file ------------------------------------------------------------ */

int pw_config_merge_file(struct pw_config *c, const char *path, char *err, size_t errlen)
{
	struct pw_config *o = NULL;
	char e[512];
	int r;

	r = pw_config_load_file(path, &o, e, sizeof(e));
	if (r) {
		snprintf(err, errlen, "%s: %s", path, e);
		return r;
	}
	for (size_t j = 0; j < o->n_types; j++) {
		struct pw_service_type *mine = NULL, tmp;

		for (size_t i = 0; i < c->n_types; i++)
			if (!strcmp(c->types[i].name, o->types[j].name))
				mine = &c->types[i];
		if (!mine) {
			/* room without moving what callers hold: merging runs before
			 * any type pointer is handed out */
			size_t cap = c->cap_types > c->n_types ? c->cap_types : c->n_types;

			if (c->n_types >= cap) {
				struct pw_service_type *v = realloc(c->types,
								    (c->n_types + 1) * sizeof(*v));

				if (!v) {
					pw_config_free(o);
					snprintf(err, errlen, "out of memory");
					return -ENOMEM;
				}
				c->types = v;
				if (c->cap_types)
					c->cap_types = c->n_types + 1;
			}
			mine = &c->types[c->n_types++];
			memset(mine, 0, sizeof(*mine));
		}
		/* swap: o frees the replaced type (or the zeroed slot) */
		tmp = *mine;
		*mine = o->types[j];
		o->types[j] = tmp;
	}
	pw_config_free(o);
	r = pw_config_validate(c, e, sizeof(e));
	if (r)
		snprintf(err, errlen, "%s merged over the types: %s", path, e);
	return r;
}
