/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's allocations: the durable store, an in-memory index by port,
 * and the per-allocation state machine fed by kernel events, polls and
 * checks.
 */
#ifndef PW_ALLOCS_H
#define PW_ALLOCS_H

#include <jansson.h>
#include "alloc.h"
#include "allocsm.h"
#include "daemon.h"

struct pw_check_rt;

struct pw_alloc_rt {
	struct pw_alloc a;
	struct pw_sm sm;
	struct pw_check_rt *check;	/* active check state, NULL if none */
	char last_check[96];		/* last active check result, "" if none */
};

struct pw_allocs_metrics {
	uint64_t allocated_total, released_total, refused_total, conflicts_total;
	uint64_t stale_cleaned_total, state_changes_total;
	uint64_t health_checks_total, health_checks_healthy, health_checks_unhealthy;
	uint64_t health_polls_total;
	uint64_t storage_errors_total;
	struct pw_hist detect_latency;	/* owner death (BPF ts) -> stale */
};

struct pw_allocs {
	struct pw_alloc_rt *v;		/* dense; order not meaningful */
	size_t n, cap;
	int32_t by_port[65536];		/* index into v, -1 when free */
	uint64_t conflicted_until[65536];	/* ms; test-bind conflicts held off */
	uint32_t skip_audited[65536];	/* holder pid last audited as in the way */
	struct pw_sm_params smp;
	struct pw_io grace_io;		/* earliest grace deadline */
	struct pw_io health_io;		/* polling fallback */
	unsigned health_interval_ms;	/* polling now */
	uint64_t fast_until_ms;		/* after ring-buffer drops: fast polls until then */
	struct pw_allocs_metrics m;
	json_t *recovery;		/* start-up recovery report */
	bool storage_failing;		/* last write failed (disk full...) */
	bool group;			/* a group transaction is open (this batch) */
	struct pw_settle {
		struct pw_client *c;
		const char *what;	/* "allocation not made", ... */
	} *settle;			/* clients with replies waiting for it */
	size_t n_settle, cap_settle;
	pid_t self_pid;
};

/* Configuration: load d->opts.config_path or the built-in defaults. Logs. */
int pw_allocs_load_config(struct pw_daemon *d);
/* --check-config: load, print the verdict. 0 valid, -EINVAL otherwise. */
int pw_allocs_check_config(const struct pw_daemon_opts *o);

/* Open state, run start-up recovery, arm timers. Needs the port map. Logs. */
int pw_allocs_init(struct pw_daemon *d);
void pw_allocs_fini(struct pw_daemon *d);

/* Port-map event / snapshot change (already applied to the map). */
void pw_allocs_on_event(struct pw_daemon *d, const struct pw_event *ev, bool from_kernel);
/* After a snapshot resync: re-observe every allocation (polled evidence). */
void pw_allocs_after_snapshot(struct pw_daemon *d);
void pw_allocs_on_sigchld(struct pw_daemon *d);
/* Ring-buffer events were lost (an owner's exit among them, maybe): poll at
 * the fast interval for a while, as when there is no BPF. */
void pw_allocs_on_drops(struct pw_daemon *d);
/* After a configuration reload: state-machine parameters and the owner poll
 * period follow d->cfg. */
void pw_allocs_config_changed(struct pw_daemon *d);
/* Add allocation figures to a status object. */
void pw_allocs_status(struct pw_daemon *d, json_t *status);

/*
 * Visit every allocation once. The visitor may release the one it is given
 * (a release moves the last allocation into its slot, which is then visited
 * too), but must not add or release others.
 */
typedef void (*pw_alloc_visit_fn)(struct pw_daemon *d, struct pw_alloc_rt *r, void *ctx);
void pw_allocs_each(struct pw_daemon *d, pw_alloc_visit_fn fn, void *ctx);

/* Lookups and changes used by the command handlers and recovery. */
struct pw_alloc_rt *pw_allocs_by_port(struct pw_daemon *d, uint16_t port);
struct pw_alloc_rt *pw_allocs_by_id(struct pw_daemon *d, int64_t id);
/* Store durably with its audit record (may be NULL; port and id are filled
 * in), in one transaction, then index. 0, -EEXIST, -ENOSPC, -EIO, -ENOMEM. */
struct pw_audit;
int pw_allocs_add(struct pw_daemon *d, struct pw_alloc *a, const struct pw_audit *audit);
/* Delete durably, then unindex (r becomes invalid). why goes to the audit. */
int pw_allocs_release(struct pw_daemon *d, struct pw_alloc_rt *r, uid_t uid, pid_t pid,
		      const char *why);
/* Observe r's port in the port map and run the state machine. */
void pw_allocs_observe(struct pw_daemon *d, struct pw_alloc_rt *r, enum pw_sm_evidence how);
/* Apply a state-machine verdict: persist, audit, broadcast, release. */
void pw_allocs_apply(struct pw_daemon *d, struct pw_alloc_rt *r, const struct pw_sm_verdict *v);
/* Write an audit record; failures are counted, not fatal. */
void pw_allocs_audit(struct pw_daemon *d, uid_t uid, pid_t pid, const char *action,
		     const char *outcome, uint16_t port, int64_t alloc_id, const char *type,
		     const char *fmt, ...) __attribute__((format(printf, 9, 10)));
/* JSON of an allocation, with the live map's view of its port. */
json_t *pw_alloc_json(struct pw_daemon *d, const struct pw_alloc_rt *r);
/* Is the port bound in the host netns (any proto/address), ignoring our own test binds? */
bool pw_allocs_port_bound(struct pw_daemon *d, uint16_t port, const struct pw_sock **by);

/*
 * Group commit: writes made while the loop handles one batch of events share
 * one durable commit at its end (pw_allocs_after_batch). pw_allocs_group opens
 * the group (0, or the store's error); pw_allocs_reply_durable sends a reply
 * that stands only if that commit succeeds.
 */
int pw_allocs_group(struct pw_daemon *d);
void pw_allocs_reply_durable(struct pw_daemon *d, struct pw_client *c, char *line,
			     const char *what_if_failed);
void pw_allocs_after_batch(void *daemon);

/* recovery.c: start-up recovery; dry_run reports without changing anything. */
json_t *pw_recovery_run(struct pw_daemon *d, bool dry_run, bool store_was_reset);

#endif
