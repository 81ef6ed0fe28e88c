// SPDX-License-Identifier: GPL-2.0
/*
 * Loading the configuration from Styxy-format JSON (format in config.h). The
 * file is applied to a fresh copy of the defaults, which is handed out only
 * once all of it and the checks across types have passed: a bad file never
 * leaves a half-configured daemon.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "alloc.h"
#include "array.h"
#include "config.h"
#include "config_json.h"


#define SEP(k) { k, PW_CFG_SEPARATE, 0, 0 }
#define PC(k, kind, m, min) { k, PW_CFG_##kind, offsetof(struct pw_config, m), min }
#define CK(k, kind, m, min) { k, PW_CFG_##kind, offsetof(struct pw_check, m), min }
#define FIELDS(ctx, obj, path, base, table) \
	pw_cfg_fields(ctx, obj, path, base, table, ARRAY_SIZE(table))

static const struct pw_cfg_field root_fields[] = {
	SEP("service_types"), SEP("recovery"), SEP("auto_allocation"),
	SEP("auto_allocation_rules"), SEP("listeners"), SEP("leases"), SEP("access"),
};

static const struct pw_cfg_field lease_fields[] = {
	PC("max_per_uid", INT, leases.max_per_uid, 1),
	PC("max_per_uid_per_type", INT, leases.max_per_uid_per_type, 1),
	PC("hold_default_ms", INT, leases.hold_default_ms, 1),
	PC("hold_max_ms", INT, leases.hold_max_ms, 1),
};

static int parse_leases(struct pw_cfg_ctx *ctx, json_t *root)
{
	json_t *b;
	int err = pw_cfg_object(ctx, root, "", "leases", &b);

	if (err || !b)
		return err;
	err = FIELDS(ctx, b, "leases", ctx->c, lease_fields);
	if (!err && ctx->c->leases.hold_default_ms > ctx->c->leases.hold_max_ms) {
		snprintf(ctx->err, ctx->errlen, "leases.hold_default_ms: %d is more than "
			 "leases.hold_max_ms (%d)", ctx->c->leases.hold_default_ms,
			 ctx->c->leases.hold_max_ms);
		err = -EINVAL;
	}
	return err;
}

static const struct pw_cfg_field access_fields[] = {
	PC("show_other_users_names", BOOL, access.show_other_users_names, 0),
};

static int parse_access(struct pw_cfg_ctx *ctx, json_t *root)
{
	json_t *b;
	int err = pw_cfg_object(ctx, root, "", "access", &b);

	if (err || !b)
		return err;
	return FIELDS(ctx, b, "access", ctx->c, access_fields);
}

static const struct pw_cfg_field recovery_fields[] = {
	SEP("port_conflict"), SEP("health_monitoring"), SEP("system_recovery"), SEP("audit"),
};

static const struct pw_cfg_field port_conflict_fields[] = {
	PC("enabled", BOOL, port_conflict.enabled, 0),
	PC("check_availability", BOOL, port_conflict.check_availability, 0),
	PC("max_retries", INT, port_conflict.max_retries, 0),
	PC("backoff_ms", INT, port_conflict.backoff_ms, 1),
	PC("backoff_multiplier", DOUBLE, port_conflict.backoff_multiplier, 1),
	PC("conflict_hold_ms", INT, port_conflict.conflict_hold_ms, 1),
};

static const struct pw_cfg_field health_fields[] = {
	PC("enabled", BOOL, health.enabled, 0),
	PC("check_interval_ms", INT, health.check_interval_ms, 1),
	PC("max_failures", INT, health.max_failures, 1),
	PC("cleanup_stale_allocations", BOOL, health.cleanup_stale_allocations, 0),
	/* Zero grace is meaningful: a closed port turns stale at once. */
	PC("grace_period_ms", INT, health.grace_period_ms, 0),
	PC("fast_interval_ms", INT, health.fast_interval_ms, 1),
};

static const struct pw_cfg_field system_recovery_fields[] = {
	PC("enabled", BOOL, system_recovery.enabled, 0),
	PC("run_on_startup", BOOL, system_recovery.run_on_startup, 0),
	PC("backup_corrupted_state", BOOL, system_recovery.backup_corrupted_state, 0),
	PC("max_recovery_attempts", INT, system_recovery.max_recovery_attempts, 0),
};

static const struct pw_cfg_field audit_fields[] = {
	PC("max_records", INT, audit.max_records, 1),
	PC("max_age_days", INT, audit.max_age_days, 1),
	PC("refusals_per_s", INT, audit.refusals_per_s, 1),
};

/* Styxy's informational keys belong to its format: accepted without a word. */
static const struct pw_cfg_field type_fields[] = {
	SEP("description"), SEP("port_range"), SEP("preferred_ports"), SEP("instance_behavior"),
	SEP("manual_allocations"), SEP("health_check"), SEP("multi_instance_pattern"),
	SEP("examples"),
};

static const struct pw_cfg_field manual_fields[] = {
	SEP("port"), SEP("description"), SEP("reason"), SEP("date"),
};

static const struct pw_cfg_field check_fields[] = {
	SEP("type"), SEP("path"), SEP("url"), SEP("command"),
	CK("interval_ms", INT, interval_ms, 1),
	CK("timeout_ms", INT, timeout_ms, 1),
	CK("retries", INT, retries, 0),
};

static int parse_recovery(struct pw_cfg_ctx *ctx, json_t *root)
{
	static const struct {
		const char *key;
		const struct pw_cfg_field *fields;
		size_t n;
	} blocks[] = {
		{ "port_conflict", port_conflict_fields, ARRAY_SIZE(port_conflict_fields) },
		{ "health_monitoring", health_fields, ARRAY_SIZE(health_fields) },
		{ "system_recovery", system_recovery_fields, ARRAY_SIZE(system_recovery_fields) },
		{ "audit", audit_fields, ARRAY_SIZE(audit_fields) },
	};
	char p[PW_CFG_PATH_LEN];
	json_t *rec, *b;
	int err;

	err = pw_cfg_object(ctx, root, "", "recovery", &rec);
	if (err || !rec)
		return err;
	err = FIELDS(ctx, rec, "recovery", NULL, recovery_fields);
	for (size_t i = 0; !err && i < ARRAY_SIZE(blocks); i++) {
		err = pw_cfg_object(ctx, rec, "recovery", blocks[i].key, &b);
		if (!err && b)
			err = pw_cfg_fields(ctx, b, pw_cfg_path(p, "recovery", blocks[i].key),
					    ctx->c, blocks[i].fields, blocks[i].n);
	}
	return err;
}

static int parse_range(struct pw_cfg_ctx *ctx, json_t *jt, const char *path,
		       struct pw_service_type *t)
{
	char p[PW_CFG_PATH_LEN], ep[PW_CFG_PATH_LEN];
	json_t *v = json_object_get(jt, "port_range");
	int err;

	pw_cfg_path(p, path, "port_range");
	if (!v)
		return pw_cfg_fail(ctx, "%s: missing, every service type needs one", p);
	if (!json_is_array(v) || json_array_size(v) != 2)
		return pw_cfg_bad_value(ctx, p, v, "expected [low, high]");
	err = pw_cfg_port(ctx, json_array_get(v, 0), pw_cfg_index(ep, p, 0), &t->range_lo);
	if (err)
		return err;
	err = pw_cfg_port(ctx, json_array_get(v, 1), pw_cfg_index(ep, p, 1), &t->range_hi);
	if (err)
		return err;
	if (t->range_lo > t->range_hi)
		return pw_cfg_fail(ctx, "%s: inverted range [%u, %u]", p, t->range_lo,
				   t->range_hi);
	return 0;
}

static int parse_preferred(struct pw_cfg_ctx *ctx, json_t *jt, const char *path,
			   struct pw_service_type *t)
{
	char p[PW_CFG_PATH_LEN], ep[PW_CFG_PATH_LEN];
	json_t *v = json_object_get(jt, "preferred_ports");
	size_t n;
	int err;

	if (!v)
		return 0;
	pw_cfg_path(p, path, "preferred_ports");
	if (!json_is_array(v))
		return pw_cfg_bad_value(ctx, p, v, "expected an array of ports");
	n = json_array_size(v);
	if (!n)
		return 0;
	t->preferred = calloc(n, sizeof(*t->preferred));
	if (!t->preferred)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint16_t port;

		err = pw_cfg_port(ctx, json_array_get(v, i), pw_cfg_index(ep, p, i), &port);
		if (err)
			return err;
		if (port < t->range_lo || port > t->range_hi)
			return pw_cfg_fail(ctx, "%s: %u is outside port_range [%u, %u]", ep, port,
					   t->range_lo, t->range_hi);
		t->preferred[t->n_preferred++] = port;
	}
	return 0;
}

static int parse_behavior(struct pw_cfg_ctx *ctx, json_t *jt, const char *path,
			  struct pw_service_type *t)
{
	json_t *v = json_object_get(jt, "instance_behavior");
	const char *s = json_string_value(v);
	char p[PW_CFG_PATH_LEN];

	if (!v)
		return 0;
	if (!s || (strcmp(s, "single") && strcmp(s, "multi")))
		return pw_cfg_bad_value(ctx, pw_cfg_path(p, path, "instance_behavior"), v,
					"expected \"single\" or \"multi\"");
	t->single = !strcmp(s, "single");
	return 0;
}

static int parse_manual(struct pw_cfg_ctx *ctx, json_t *jt, const char *path,
			struct pw_service_type *t)
{
	char p[PW_CFG_PATH_LEN], mp[PW_CFG_PATH_LEN], pp[PW_CFG_PATH_LEN];
	const char *name;
	json_t *obj, *m;
	int err;

	err = pw_cfg_object(ctx, jt, path, "manual_allocations", &obj);
	if (err || !obj || !json_object_size(obj))
		return err;
	pw_cfg_path(p, path, "manual_allocations");
	t->manual = calloc(json_object_size(obj), sizeof(*t->manual));
	if (!t->manual)
		return -ENOMEM;
	json_object_foreach(obj, name, m) {
		struct pw_manual_alloc *a = &t->manual[t->n_manual++];

		pw_cfg_path(mp, p, name);
		if (!json_is_object(m))
			return pw_cfg_bad_value(ctx, mp, m, "expected an object with a \"port\"");
		if (!*name || strlen(name) >= PW_NAME_MAX)
			return pw_cfg_fail(ctx, "%s: a name must be 1-%d bytes long", mp,
					   PW_NAME_MAX - 1);
		a->name = strdup(name);
		if (!a->name)
			return -ENOMEM;
		err = pw_cfg_port(ctx, json_object_get(m, "port"), pw_cfg_path(pp, mp, "port"),
				  &a->port);
		if (!err)
			err = pw_cfg_string(ctx, m, mp, "description", "", &a->description);
		if (!err)
			err = FIELDS(ctx, m, mp, NULL, manual_fields);
		if (err)
			return err;
	}
	return 0;
}

static int check_target(struct pw_cfg_ctx *ctx, json_t *jc, const char *path,
			struct pw_check *chk)
{
	static const struct {
		const char *key;
		int kind;
	} keys[] = {
		{ "path", PW_CHECK_HTTP }, { "url", PW_CHECK_HTTP }, { "command", PW_CHECK_CMD },
	};
	char p[PW_CFG_PATH_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(jc, keys[i].key);
		const char *s = json_string_value(v);

		if (!v)
			continue;
		pw_cfg_path(p, path, keys[i].key);
		if (keys[i].kind != (int)chk->kind)
			return pw_cfg_fail(ctx, "%s: does not apply to this check type", p);
		if (chk->target)
			return pw_cfg_fail(ctx, "%s: give either path or url, not both", path);
		if (!s || !*s)
			return pw_cfg_bad_value(ctx, p, v, "expected a non-empty string");
		if (!strcmp(keys[i].key, "path") && s[0] != '/')
			return pw_cfg_bad_value(ctx, p, v, "expected a path starting with \"/\"");
		if (!strcmp(keys[i].key, "url") && strncmp(s, "http://", 7) &&
		    strncmp(s, "https://", 8))
			return pw_cfg_bad_value(ctx, p, v, "expected an http:// or https:// URL");
		chk->target = strdup(s);
		if (!chk->target)
			return -ENOMEM;
	}
	if (chk->target || chk->kind == PW_CHECK_TCP)
		return 0;
	if (chk->kind == PW_CHECK_CMD)
		return pw_cfg_fail(ctx, "%s.command: missing, a command check needs one", path);
	chk->target = strdup("/");
	return chk->target ? 0 : -ENOMEM;
}

/* The portwatch extension "health_check" (documented in config.h). */
static int parse_check(struct pw_cfg_ctx *ctx, json_t *jt, const char *path,
		       struct pw_service_type *t)
{
	static const char *const kinds[] = {
		[PW_CHECK_TCP] = "tcp", [PW_CHECK_HTTP] = "http", [PW_CHECK_CMD] = "command",
	};
	char p[PW_CFG_PATH_LEN], kp[PW_CFG_PATH_LEN];
	struct pw_check *chk;
	const char *kind;
	json_t *jc, *v;
	size_t i;
	int err;

	err = pw_cfg_object(ctx, jt, path, "health_check", &jc);
	if (err || !jc)
		return err;
	pw_cfg_path(p, path, "health_check");
	chk = t->check = calloc(1, sizeof(*chk));
	if (!chk)
		return -ENOMEM;

	v = json_object_get(jc, "type");
	if (!v)
		return pw_cfg_fail(ctx, "%s.type: missing", p);
	kind = json_string_value(v);
	for (i = 0; kind && i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(kind, kinds[i]))
			break;
	if (!kind || i == ARRAY_SIZE(kinds))
		return pw_cfg_bad_value(ctx, pw_cfg_path(kp, p, "type"), v,
					"expected \"tcp\", \"http\" or \"command\"");
	chk->kind = i;

	chk->interval_ms = ctx->c->health.check_interval_ms;
	chk->timeout_ms = 0;	/* not given: derived below */
	err = FIELDS(ctx, jc, p, chk, check_fields);
	if (err)
		return err;
	if (!chk->timeout_ms)
		chk->timeout_ms = chk->interval_ms < 1000 ? chk->interval_ms : 1000;
	/* A check still running when the next is due would pile up. */
	if (chk->timeout_ms > chk->interval_ms)
		return pw_cfg_fail(ctx, "%s.timeout_ms: %d is longer than interval_ms %d", p,
				   chk->timeout_ms, chk->interval_ms);
	return check_target(ctx, jc, p, chk);
}

static int parse_type(struct pw_cfg_ctx *ctx, const char *name, json_t *jt,
		      struct pw_service_type *t)
{
	char path[PW_CFG_PATH_LEN];
	int err;

	pw_cfg_path(path, "service_types", name);
	if (!json_is_object(jt))
		return pw_cfg_bad_value(ctx, path, jt, "expected an object");
	/* Type names travel in struct pw_alloc's fixed buffer. */
	if (!*name || strlen(name) >= PW_TYPE_MAX)
		return pw_cfg_fail(ctx, "%s: a type name must be 1-%d bytes long", path,
				   PW_TYPE_MAX - 1);
	t->name = strdup(name);
	if (!t->name)
		return -ENOMEM;
	err = FIELDS(ctx, jt, path, NULL, type_fields);
	if (!err)
		err = pw_cfg_string(ctx, jt, path, "description", "", &t->description);
	if (!err)
		err = parse_range(ctx, jt, path, t);
	if (!err)
		err = parse_preferred(ctx, jt, path, t);
	if (!err)
		err = parse_behavior(ctx, jt, path, t);
	if (!err)
		err = parse_manual(ctx, jt, path, t);
	if (!err)
		err = parse_check(ctx, jt, path, t);
	return err;
}

/*
 * The file's types replace the built-in ones. They are parsed into a scratch
 * config, so that one pw_config_free() releases whichever set is not kept.
 */
static int parse_types(struct pw_cfg_ctx *ctx, json_t *root)
{
	struct pw_service_type *old_types;
	struct pw_config *scratch;
	const char *name;
	json_t *obj, *jt;
	size_t old_n;
	int err;

	err = pw_cfg_object(ctx, root, "", "service_types", &obj);
	if (err || !obj)
		return err;
	if (!json_object_size(obj))
		return pw_cfg_fail(ctx, "service_types: empty, at least one type is needed");
	scratch = calloc(1, sizeof(*scratch));
	if (!scratch)
		return -ENOMEM;
	scratch->types = calloc(json_object_size(obj), sizeof(*scratch->types));
	if (!scratch->types) {
		err = -ENOMEM;
		goto cleanup;
	}
	json_object_foreach(obj, name, jt) {
		err = parse_type(ctx, name, jt, &scratch->types[scratch->n_types++]);
		if (err)
			goto cleanup;
	}
	old_types = ctx->c->types;
	old_n = ctx->c->n_types;
	ctx->c->types = scratch->types;
	ctx->c->n_types = scratch->n_types;
	scratch->types = old_types;
	scratch->n_types = old_n;
cleanup:
	pw_config_free(scratch);
	return err;
}

static int load_json(json_t *root, struct pw_config **ret, char *errbuf, size_t errlen)
{
	struct pw_cfg_ctx ctx = { .err = errbuf, .errlen = errlen };
	int err;

	err = pw_config_default(&ctx.c);
	if (err)
		goto cleanup;
	if (!json_is_object(root)) {
		err = pw_cfg_bad_value(&ctx, "top level", root, "expected an object");
		goto cleanup;
	}
	/* Recovery first: health checks take their default interval from it. */
	err = FIELDS(&ctx, root, "", NULL, root_fields);
	if (!err)
		err = parse_recovery(&ctx, root);
	if (!err)
		err = parse_leases(&ctx, root);
	if (!err)
		err = parse_access(&ctx, root);
	if (!err)
		err = parse_types(&ctx, root);
	if (!err)
		err = pw_config_ext_parse(&ctx, root);
	if (!err)
		err = pw_config_validate(ctx.c, errbuf, errlen);
	if (!err) {
		*ret = ctx.c;
		return 0;
	}
cleanup:
	if (err == -ENOMEM)
		pw_cfg_fail(&ctx, "out of memory");
	pw_config_free(ctx.c);
	return err;
}

static int syntax_error(const json_error_t *jerr, char *errbuf, size_t errlen)
{
	struct pw_cfg_ctx ctx = { .err = errbuf, .errlen = errlen };

	/*
	 * jansson reports running out of memory as a parse error, and fails
	 * without any text when its very first allocation fails.
	 */
	if (json_error_code(jerr) == json_error_out_of_memory || !jerr->text[0]) {
		pw_cfg_fail(&ctx, "out of memory");
		return -ENOMEM;
	}
	return pw_cfg_fail(&ctx, "invalid JSON at line %d, column %d: %s", jerr->line,
			   jerr->column, jerr->text);
}

int pw_config_load_string(const char *json, struct pw_config **ret, char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int err;

	/* Duplicate keys would silently drop a service type: make them errors. */
	root = json_loads(json ? json : "", JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return syntax_error(&jerr, errbuf, errlen);
	err = load_json(root, ret, errbuf, errlen);
	json_decref(root);
	return err;
}

int pw_config_load_file(const char *path, struct pw_config **ret, char *errbuf, size_t errlen)
{
	struct pw_cfg_ctx ctx = { .err = errbuf, .errlen = errlen };
	json_error_t jerr;
	json_t *root;
	int err;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pw_cfg_fail(&ctx, "open %s: %s", path, strerror(-err));
		return err;
	}
	errno = 0;
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	/* A directory opens fine and fails on read: say so, not "invalid JSON". */
	if (ferror(f)) {
		err = errno ? -errno : -EIO;
		pw_cfg_fail(&ctx, "read %s: %s", path, strerror(-err));
		json_decref(root);
		fclose(f);
		return err;
	}
	fclose(f);
	if (!root)
		return syntax_error(&jerr, errbuf, errlen);
	err = load_json(root, ret, errbuf, errlen);
	json_decref(root);
	return err;
}
