/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon configuration: service types with their port ranges, and the
 * recovery knobs. The file format is Styxy's (a Node.js port coordinator), so
 * an existing Styxy config loads unchanged:
 *
 *   {
 *     "service_types": {
 *       "dev": {
 *         "description": "...",
 *         "port_range": [3000, 3099],            required, 1 <= lo <= hi <= 65535
 *         "preferred_ports": [3000, 3001],       each within port_range
 *         "instance_behavior": "single",         or "multi" (the default)
 *         "manual_allocations": {                ports reserved globally, any range
 *           "chromadb": { "port": 9999, "description": "..." }
 *         },
 *         "multi_instance_pattern": "...",       accepted, ignored
 *         "examples": [...],                     accepted, ignored
 *         "health_check": {                      portwatch extension, see below
 *           "type": "http", "path": "/health",
 *           "interval_ms": 5000, "timeout_ms": 1000, "retries": 1
 *         }
 *       }
 *     },
 *     "recovery": {
 *       "port_conflict": { "enabled", "check_availability", "max_retries",
 *                          "backoff_ms", "backoff_multiplier", "conflict_hold_ms" },
 *       "health_monitoring": { "enabled", "check_interval_ms", "max_failures",
 *                              "cleanup_stale_allocations", "grace_period_ms",
 *                              "fast_interval_ms" },
 *       "system_recovery": { "enabled", "run_on_startup", "backup_corrupted_state",
 *                            "max_recovery_attempts" },
 *       "audit": { "max_records", "max_age_days", "refusals_per_s" }   (portwatch only)
 *     },
 *     "access": { "show_other_users_names" }                           (portwatch only)
 *   }
 *
 * "health_check" (portwatch only; Styxy ignores unknown keys too) adds an
 * active check on top of the passive socket tracking:
 *   "type": "tcp"      connect() to the allocated port on localhost;
 *           "http"     GET "path" (default "/") on the allocated port, or
 *                      the full "url" instead (not both); 2xx/3xx is healthy;
 *           "command"  run "command" (required); exit status 0 is healthy.
 *   "interval_ms"  between checks, default recovery.health_monitoring.check_interval_ms;
 *   "timeout_ms"   per attempt, default min(1000, interval_ms), at most interval_ms;
 *   "retries"      extra attempts before a check counts as failed, default 0.
 *
 * Keys missing from a file keep the built-in defaults (pw_config_default()),
 * except "service_types": when present it replaces the built-in types.
 * Unknown keys ("_meta", "instance_templates", "auto_allocation", ...) are
 * ignored with a debug message.
 */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct pw_manual_alloc {
	char *name;
	uint16_t port;
	char *description;		/* never NULL, may be "" */
};

struct pw_check {
	enum { PW_CHECK_TCP, PW_CHECK_HTTP, PW_CHECK_CMD } kind;
	char *target;			/* http: "/path" or URL; command: command line; tcp: NULL */
	int interval_ms, timeout_ms, retries;
};

struct pw_service_type {
	char *name;			/* shorter than PW_TYPE_MAX (alloc.h) */
	char *description;		/* never NULL, may be "" */
	uint16_t range_lo, range_hi;	/* inclusive */
	uint16_t *preferred;		/* each within the range, in the file's order */
	size_t n_preferred;
	bool single;			/* instance_behavior "single" */
	struct pw_manual_alloc *manual;
	size_t n_manual;
	struct pw_check *check;		/* optional active health check, NULL if none */
	bool auto_allocated;		/* by auto_allocation while running (config_ext.c) */
	uint32_t created_by;		/* the uid whose request auto-allocated it (0: root) */
};

/* Styxy's auto_allocation_rules: a glob ('*' wildcards) and its chunk size. */
struct pw_auto_rule {
	char *pattern;
	int chunk_size;
};

enum pw_placement { PW_PLACE_AFTER, PW_PLACE_BEFORE, PW_PLACE_SMART };

struct pw_config {
	struct pw_service_type *types;	/* in the file's order */
	size_t n_types;
	size_t cap_types;		/* slots reserved for run-time types (config_add.c) */
	struct {
		bool enabled, check_availability;
		int max_retries;
		int backoff_ms;
		double backoff_multiplier;	/* >= 1 */
		int conflict_hold_ms;
	} port_conflict;
	struct {
		bool enabled;
		int check_interval_ms;
		int max_failures;
		bool cleanup_stale_allocations;
		int grace_period_ms;
		int fast_interval_ms;
	} health;
	struct {
		bool enabled, run_on_startup, backup_corrupted_state;
		int max_recovery_attempts;
	} system_recovery;
	/* "leases" (portwatch's own block): what a non-root uid may hold, and
	 * how long a port may wait for its binder (allocate --hold). */
	struct {
		int max_per_uid;		/* allocations per uid in total (root: no limit) */
		int max_per_uid_per_type;	/* ... and of one service type */
		int hold_default_ms;		/* --hold without a duration */
		int hold_max_ms;		/* the longest hold a request may ask */
	} leases;
	/* Styxy's "auto_allocation" (config_ext.c): unknown types get a range */
	struct {
		bool enabled;			/* default false, as Styxy */
		int default_chunk_size;		/* 10 */
		enum pw_placement placement;	/* "after" */
		uint16_t min_port, max_port;	/* 10000, 49151 */
		bool preserve_gaps;		/* true */
		int gap_size;			/* 10 */
		struct pw_auto_rule *rules;	/* "auto_allocation_rules", in file order */
		size_t n_rules;
	} auto_alloc;
	/* portwatch's "listeners" block (config_ext.c); NULL: off. The daemon's
	 * options override them. */
	struct {
		char *portserver;		/* "@name" or a path */
		char *portserver_type;
		char *styxy_http;		/* "127.0.0.1:9876" */
		char *styxy_token_file;
	} listeners;
	struct {
		/* non-root callers see other users' allocation names and
		 * projects (list, check): off by default */
		bool show_other_users_names;
	} access;
	struct {
		int max_records;	/* audit trail kept to the newest this many */
		int max_age_days;	/* and to records younger than this */
		int refusals_per_s;	/* refusals audited per uid per second (burst 10x) */
	} audit;
};

/*
 * Load a config. 0 with *ret set, or -EINVAL (bad JSON or content), -ENOMEM,
 * -ENOENT / -errno (file unreadable), with *ret untouched and @err holding a
 * message naming the JSON key path and the value, e.g.
 * "service_types.dev.port_range: inverted range [3099, 3000]", or the line and
 * column of a JSON syntax error. Messages do not repeat the file name except
 * when the file cannot be opened. @err may be NULL when @errlen is 0.
 */
int pw_config_load_file(const char *path, struct pw_config **ret, char *err, size_t errlen);
int pw_config_load_string(const char *json, struct pw_config **ret, char *err, size_t errlen);

/* The built-in configuration, used when there is no config file. 0 or -ENOMEM. */
int pw_config_default(struct pw_config **ret);
void pw_config_free(struct pw_config *c);

/*
 * Checks across service types: no two port ranges overlap, no port is
 * manually allocated twice. 0 or -EINVAL with @err set. The loader calls it;
 * exposed for configs built in code.
 */
int pw_config_validate(const struct pw_config *c, char *err, size_t errlen);

/* NULL when there is no such type. */
const struct pw_service_type *pw_config_find_type(const struct pw_config *c, const char *name);
/*
 * true when a manual allocation of any type reserves @port; *by_name (if
 * by_name is not NULL) then points at that allocation's name.
 */
bool pw_config_port_reserved(const struct pw_config *c, uint16_t port, const char **by_name);

/*
 * Run-time service types (config_add.c): the portserver pool and types
 * auto-allocated for unknown names. The daemon reserves room once, before any
 * type pointer is handed out, so adding never moves the array:
 * pw_config_reserve_types() 0 or -ENOMEM; pw_config_add_type() 0, -EEXIST
 * (name taken), -ERANGE (overlaps a type; err names it), -ENOSPC (no reserved
 * slot left), -EINVAL (bad name or range), -ENOMEM.
 */
int pw_config_reserve_types(struct pw_config *c, size_t extra);
int pw_config_add_type(struct pw_config *c, const char *name, const char *description,
		       uint16_t lo, uint16_t hi, bool single, char *err, size_t errlen);
/*
 * Who may make one more auto-allocated type: root while a reserved slot is
 * left; another uid at most PW_RUNTIME_TYPES_PER_UID of its own (created_by),
 * and never the last PW_RUNTIME_TYPES_ROOT slots, so users together cannot
 * fill the table for root. 0, or -EDQUOT / -ENOSPC with err naming the limit.
 */
#define PW_RUNTIME_TYPES_PER_UID 8
#define PW_RUNTIME_TYPES_ROOT 64
int pw_config_runtime_room(const struct pw_config *c, uint32_t uid, char *err, size_t errlen);
/* The first free range of @size ports in [lo, hi] overlapping no type and no
 * manual allocation, searched from the low or the high end. 0 or -ENOSPC. */
int pw_config_find_gap(const struct pw_config *c, uint16_t lo, uint16_t hi, unsigned size,
		       bool from_high, uint16_t *ret_lo);

/* config_ext.c: defaults, parsing (called by the loader), teardown. */
void pw_config_ext_defaults(struct pw_config *c);
struct pw_cfg_ctx;
int pw_config_ext_parse(struct pw_cfg_ctx *ctx, json_t *root);
void pw_config_ext_free(struct pw_config *c);
/*
 * Add a type for an unknown name per auto_allocation and its rules: the
 * chunk size of the first matching rule (else the default), placed "after"
 * every range (plus the gap), "before" them, or "smart" (the first gap between
 * ranges wide enough, else after the last range of the same category, the
 * name's part before its first '-', else after). 0 with *ret, -EPERM when
 * auto-allocation is off, -ENOSPC, -EINVAL; err set.
 */
int pw_config_auto_type(struct pw_config *c, const char *name,
			const struct pw_service_type **ret, char *err, size_t errlen);
/* A user override file merged over c by type name: a type of the same name is
 * replaced, others are added; the result is validated. 0, or -errno with err. */
int pw_config_merge_file(struct pw_config *c, const char *path, char *err, size_t errlen);

#endif
