/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal to config*.c: reading JSON values with error messages that name
 * the key path ("recovery.port_conflict.max_retries") and the value as written.
 * All return 0 or -EINVAL with the message in ctx->err (-ENOMEM without one).
 */
#ifndef PW_CONFIG_JSON_H
#define PW_CONFIG_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"

/* Longest key path in a message; longer ones are cut, never overflowed. */
#define PW_CFG_PATH_LEN 320

struct pw_cfg_ctx {
	char *err;		/* may be NULL when errlen is 0 */
	size_t errlen;
	struct pw_config *c;	/* the config being filled */
};

enum pw_cfg_kind {
	PW_CFG_SEPARATE,	/* a known key the caller parses itself, or accepts and ignores */
	PW_CFG_BOOL,		/* bool */
	PW_CFG_INT,		/* int, >= min */
	PW_CFG_DOUBLE,		/* double from any JSON number, >= min */
};

/* A member of a JSON object that maps onto a field at @off in a C struct. */
struct pw_cfg_field {
	const char *key;
	enum pw_cfg_kind kind;
	size_t off;
	int min;
};

/* -EINVAL with "fmt..." as the message. */
int pw_cfg_fail(struct pw_cfg_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -EINVAL with "path: <what>, got <value as JSON>". */
int pw_cfg_bad_value(struct pw_cfg_ctx *ctx, const char *path, const json_t *v, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));
/* "parent.key" (just "key" when parent is "") into buf[PW_CFG_PATH_LEN]; returns buf. */
char *pw_cfg_path(char *buf, const char *parent, const char *key);
/* "path[i]" into buf[PW_CFG_PATH_LEN]; returns buf. */
char *pw_cfg_index(char *buf, const char *path, size_t i);

/*
 * Walk the members of @obj at @path: those in @fields are stored into @base,
 * PW_CFG_SEPARATE ones skipped, unknown ones logged at debug level and ignored.
 */
int pw_cfg_fields(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, void *base,
		  const struct pw_cfg_field *fields, size_t n);
/* Optional object member: 0 with *out NULL when absent. */
int pw_cfg_object(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, const char *key,
		  json_t **out);
/* Optional string member, copied into *out; a copy of @dflt (may be NULL) when absent. */
int pw_cfg_string(struct pw_cfg_ctx *ctx, json_t *obj, const char *path, const char *key,
		  const char *dflt, char **out);
/* @v, found at @path, as a port number 1-65535. */
int pw_cfg_port(struct pw_cfg_ctx *ctx, const json_t *v, const char *path, uint16_t *out);

#endif
