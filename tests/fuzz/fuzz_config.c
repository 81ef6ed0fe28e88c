// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the config loader (user/config_load.c, config_json.c,
 * config.c). The input, NUL-terminated, is a config file's text.
 *
 * Besides the sanitizers, it checks what config.h promises:
 *   - a failed load returns -EINVAL or -ENOMEM, leaves *ret untouched and a
 *     NUL-terminated, non-empty message, and fails the same way with no
 *     message buffer at all (err NULL, errlen 0);
 *   - a loaded config holds the documented invariants (names, ranges,
 *     preferred ports inside the range, check timeouts), passes
 *     pw_config_validate(), and its lookups find what it holds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "alloc.h"
#include "config.h"

#define ERR_LEN 512

/* A poisoned value: failed loads must leave *ret alone. */
#define UNTOUCHED ((struct pw_config *)0x1)

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
				__LINE__, #cond);				\
			abort();						\
		}								\
	} while (0)

static void check_type(const struct pw_config *c, const struct pw_service_type *t)
{
	const char *by;

	CHECK(t->name && t->name[0] && strlen(t->name) < PW_TYPE_MAX);
	CHECK(t->description);
	CHECK(t->range_lo >= 1 && t->range_lo <= t->range_hi);
	CHECK(t->n_preferred == 0 || t->preferred);
	for (size_t i = 0; i < t->n_preferred; i++)
		CHECK(t->preferred[i] >= t->range_lo && t->preferred[i] <= t->range_hi);
	CHECK(t->n_manual == 0 || t->manual);
	for (size_t i = 0; i < t->n_manual; i++) {
		const struct pw_manual_alloc *m = &t->manual[i];

		CHECK(m->name && m->name[0] && strlen(m->name) < PW_NAME_MAX);
		CHECK(m->description);
		CHECK(m->port >= 1);
		by = NULL;
		CHECK(pw_config_port_reserved(c, m->port, &by));
		/* validate() allows a port in one manual allocation only */
		CHECK(by && !strcmp(by, m->name));
	}
	if (t->check) {
		CHECK(t->check->interval_ms >= 1);
		CHECK(t->check->timeout_ms >= 1 && t->check->timeout_ms <= t->check->interval_ms);
		CHECK(t->check->retries >= 0);
		switch (t->check->kind) {
		case PW_CHECK_TCP:
			CHECK(!t->check->target);
			break;
		case PW_CHECK_HTTP:
			CHECK(t->check->target && (t->check->target[0] == '/' ||
						   !strncmp(t->check->target, "http", 4)));
			break;
		case PW_CHECK_CMD:
			CHECK(t->check->target && t->check->target[0]);
			break;
		default:
			CHECK(!"unknown check kind");
		}
	}
	CHECK(pw_config_find_type(c, t->name) == t);
}

static void check_config(const struct pw_config *c)
{
	static const uint16_t ports[] = { 1, 80, 3000, 5000, 8080, 9999, 11430, 65535 };
	char err[ERR_LEN];
	const char *by;

	CHECK(c->n_types >= 1 && c->types);
	memset(err, 'X', sizeof(err));
	CHECK(pw_config_validate(c, err, sizeof(err)) == 0);
	for (size_t i = 0; i < c->n_types; i++)
		check_type(c, &c->types[i]);

	CHECK(c->port_conflict.max_retries >= 0);
	CHECK(c->port_conflict.backoff_ms >= 1);
	CHECK(c->port_conflict.backoff_multiplier >= 1);
	CHECK(c->port_conflict.conflict_hold_ms >= 1);
	CHECK(c->health.check_interval_ms >= 1);
	CHECK(c->health.max_failures >= 1);
	CHECK(c->health.grace_period_ms >= 0);
	CHECK(c->health.fast_interval_ms >= 1);
	CHECK(c->system_recovery.max_recovery_attempts >= 0);

	CHECK(!pw_config_find_type(c, NULL));
	(void) pw_config_find_type(c, "");
	(void) pw_config_find_type(c, "dev");
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		by = NULL;
		if (pw_config_port_reserved(c, ports[i], &by))
			CHECK(by);
		(void) pw_config_port_reserved(c, ports[i], NULL);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	/* jansson seeds its hash from /dev/urandom: keep runs reproducible */
	json_object_seed(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_config *c = UNTOUCHED, *c2 = UNTOUCHED;
	char err[ERR_LEN];
	char *json;
	int r, r2;

	json = malloc(size + 1);
	CHECK(json);
	memcpy(json, data, size);
	json[size] = '\0';

	memset(err, 'X', sizeof(err));
	r = pw_config_load_string(json, &c, err, sizeof(err));
	if (r == 0) {
		CHECK(c && c != UNTOUCHED);
		check_config(c);
		pw_config_free(c);
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(c == UNTOUCHED);
		CHECK(memchr(err, '\0', sizeof(err)));
		CHECK(err[0] != '\0');
		/* "@err may be NULL when @errlen is 0" */
		r2 = pw_config_load_string(json, &c2, NULL, 0);
		CHECK(r2 == r);
		CHECK(c2 == UNTOUCHED);
	}
	free(json);
	return 0;
}
