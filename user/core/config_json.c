// SPDX-License-Identifier: GPL-2.0
/*
 * JSON value readers for the config loader. The point of this file is the
 * messages: each names the key path and quotes the value as the file has it,
 * because whoever reads the message has the file open, not the code.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_json.h"
#include "log.h"

/* Enough to recognise the value; a whole object would drown the message. */
#define SHOWN_MAX 48

int pw_cfg_fail(struct pw_cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err && ctx->errlen) {
		va_start(ap, fmt);
		vsnprintf(ctx->err, ctx->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void show(const json_t *v, char *buf, size_t len)
{
	char *s;

	if (!v) {
		snprintf(buf, len, "nothing");
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s) {
		snprintf(buf, len, "an unprintable value");
		return;
	}
	if (strlen(s) >= len)
		snprintf(buf, len, "%.*s...", (int)len - 4, s);
	else
		snprintf(buf, len, "%s", s);
	free(s);
}

int pw_cfg_bad_value(struct pw_cfg_ctx *ctx, const char *path, const json_t *v, const char *fmt,
		     ...)
{
	char what[128], shown[SHOWN_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	show(v, shown, sizeof(shown));
	return pw_cfg_fail(ctx, "%s: %s, got %s", path, what, shown);
}

char *pw_cfg_path(char *buf, const char *parent, const char *key)
{
	snprintf(buf, PW_CFG_PATH_LEN, "%s%s%s", parent, *parent ? "." : "", key);
	return buf;
}

char *pw_cfg_index(char *buf, const char *path, size_t i)
{
	snprintf(buf, PW_CFG_PATH_LEN, "%s[%zu]", path, i);
	return buf;
}

static const struct pw_cfg_field *find_field(const struct pw_cfg_field *fields, size_t n,
					     const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fields[i].key, key))
			return &fields[i];
	return NULL;
}

static int store_field(struct pw_cfg_ctx *ctx, const struct pw_cfg_field *f, json_t *v,
		       const char *path, void *base)
{
	/* base is NULL for tables of PW_CFG_SEPARATE keys only: NULL + 0 is UB */
	char *dst = base ? (char *)base + f->off : NULL;
	json_int_t x;
	double d;

	switch (f->kind) {
	case PW_CFG_SEPARATE:
		return 0;
	case PW_CFG_BOOL:
		if (!json_is_boolean(v))
			return pw_cfg_bad_value(ctx, path, v, "expected true or false");
		*(bool *)dst = json_is_true(v);
		return 0;
	case PW_CFG_INT:
		if (!json_is_integer(v))
			return pw_cfg_bad_value(ctx, path, v, "expected an integer");
		x = json_integer_value(v);
		if (x < f->min || x > INT_MAX)
			return pw_cfg_bad_value(ctx, path, v, "expected an integer in %d..%d",
						f->min, INT_MAX);
		*(int *)dst = (int)x;
		return 0;
	case PW_CFG_DOUBLE:
		if (!json_is_number(v))
			return pw_cfg_bad_value(ctx, path, v, "expected a number");
		d = json_number_value(v);
		if (d < f->min)
			return pw_cfg_bad_value(ctx, path, v, "expected a number >= %d", f->min);
		*(double *)dst = d;
		return 0;
	}
	return -EINVAL;
}

int pw_cfg_fields(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, void *base,
		  const struct pw_cfg_field *fields, size_t n)
{
	char p[PW_CFG_PATH_LEN];
	const char *key;
	json_t *v;
	int err;

	json_object_foreach(obj, key, v) {
		const struct pw_cfg_field *f = find_field(fields, n, key);

		pw_cfg_path(p, path, key);
		if (!f) {
			pw_debug("config: %s: unknown key, ignored", p);
			continue;
		}
		err = store_field(ctx, f, v, p, base);
		if (err)
			return err;
	}
	return 0;
}

int pw_cfg_object(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, const char *key,
		  json_t **out)
{
	char p[PW_CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);

	/* set on failure too: a caller may test it before the error */
	*out = NULL;
	if (v && !json_is_object(v))
		return pw_cfg_bad_value(ctx, pw_cfg_path(p, path, key), v, "expected an object");
	*out = v;
	return 0;
}

int pw_cfg_string(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, const char *key,
		  const char *dflt, char **out)
{
	char p[PW_CFG_PATH_LEN];
	json_t *v = json_object_get(obj, key);
	const char *s = dflt;

	if (v) {
		if (!json_is_string(v))
			return pw_cfg_bad_value(ctx, pw_cfg_path(p, path, key), v,
						"expected a string");
		s = json_string_value(v);
	}
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -ENOMEM : 0;
}

int pw_cfg_port(struct pw_cfg_ctx *ctx, const json_t *v, const char *path, uint16_t *out)
{
	json_int_t x;

	if (!json_is_integer(v))
		return pw_cfg_bad_value(ctx, path, v, "expected a port number");
	x = json_integer_value(v);
	if (x < 1 || x > 65535)
		return pw_cfg_fail(ctx, "%s: port %lld is outside 1-65535", path, (long long)x);
	*out = (uint16_t)x;
	return 0;
}
