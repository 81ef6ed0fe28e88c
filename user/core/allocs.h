/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The allocation index: every allocation in memory, indexed by port, kept in
 * agreement with the durable store through one way into and out of a
 * transaction, plus the loop batch's group commit. The state machine's
 * verdicts are applied here (health.c feeds it evidence), and what the
 * outside must hear of goes out through the hooks the daemon wires at
 * start-up: the core never calls the daemon.
 *
 * Deliberate call pairs inside core/: allocs.c <-> checks.c (a check hangs
 * off each allocation: attached when it is added, freed when it goes; a
 * check's result comes back as a verdict) and allocs.c <-> health.c (a new
 * or reloaded allocation is observed at once; evidence comes back as a
 * verdict through pw_allocs_apply), with lease.c in the same group (an
 * owner that exits hands over or goes stale through the index; a held port
 * bound is seen by health.c's observation). Everything else calls down.
 */
#ifndef PW_ALLOCS_H
#define PW_ALLOCS_H

#include <jansson.h>
#include "alloc.h"
#include "allocsm.h"
#include "hist.h"
#include "loop.h"
#include "portmap.h"

struct pw_check_rt;
struct pw_checks;
struct pw_config;
struct pw_journal;
struct pw_journal_done;
struct pw_store;
struct pw_audit;
struct pw_allocate;

struct pw_alloc_rt {
	struct pw_alloc a;
	struct pw_sm sm;
	struct pw_check_rt *check;	/* active check state, NULL if none */
	char last_check[96];		/* last active check result, "" if none */
	uint32_t tag_gen;		/* the port's sockets are classed for this owner */
	/* the generation before the last handover: a socket that was the
	 * allocation's then stays the allocation's (siblings of the heir) */
	uint32_t prev_tag_gen;
	/* A hold met by a bind, until the hold's deadline: if the port is left
	 * with no holder before then, the allocation returns to held for the
	 * requester (a probe's bind + close never burns a hold). Memory only. */
	struct {
		int64_t until;		/* unix ms, 0: none pending */
		pid_t pid;
		uint64_t start_time;
		char comm[16];
		bool daemon_owned;
	} met_hold;
	/* What the port's sockets say, kept current event by event (O(1)); a
	 * full count of the port only when valid is false. */
	struct pw_port_count {
		bool valid;
		uint32_t owner, owner_listening, foreign;
		uint32_t foreign_pid;	/* one foreign holder (the last added) */
	} cnt;
};

struct pw_allocs_metrics {
	uint64_t allocated_total, released_total, refused_total, conflicts_total;
	uint64_t stale_cleaned_total, state_changes_total;
	uint64_t health_checks_total, health_checks_healthy, health_checks_unhealthy;
	uint64_t health_polls_total;
	uint64_t storage_errors_total;
	struct pw_hist detect_latency;	/* owner death (BPF ts) -> stale */
};

/* An allocation changed state, or went ("released" then). */
struct pw_alloc_change {
	int64_t id;
	uint16_t port;
	const char *service_type;
	const char *old_state, *state;
	const char *reason;
};

/* What the core tells the outside. Every callback may be NULL. */
struct pw_allocs_hooks {
	void *ctx;
	/* an allocation event for watchers */
	void (*changed)(void *ctx, const struct pw_alloc_change *ch);
	/* follow this owner's exit in the kernel */
	void (*track_pid)(void *ctx, pid_t pid);
	/* the daemon's own test binds follow: keep them out of the event stream */
	void (*quiet)(void *ctx, bool on);
	/* a batch of the storage thread ended (memory already follows a
	 * failed one): replies waiting for it are settled */
	void (*committed)(void *ctx, const struct pw_journal_done *d);
};

/* How long a request waits for storage before it is told it failed, and
 * how long the disk may hold a batch before new writes are refused. */
#define PW_STORAGE_TIMEOUT_MS 5000

/* The narrow things the index works with, owned by the caller. */
struct pw_allocs_env {
	struct pw_loop *loop;
	struct pw_portmap *map;
	const struct pw_config *cfg;
	struct pw_store *store;
	uint64_t self_netns;		/* the host netns cookie; 0: unknown, any */
	bool polling;			/* no kernel events: polls are primary */
	struct pw_allocs_hooks hooks;
};

struct pw_allocs {
	struct pw_allocs_env env;
	struct pw_alloc_rt *v;		/* dense; order not meaningful */
	size_t n, cap;
	int32_t by_port[65536];		/* index into v, -1 when free */
	uint64_t conflicted_until[65536];	/* ms; test-bind conflicts held off (allocate.c) */
	uint32_t skip_audited[65536];	/* holder pid last audited as in the way (allocate.c) */
	struct pw_sm_params smp;
	struct pw_io grace_io;		/* earliest grace deadline (health.c) */
	struct pw_io health_io;		/* polling fallback (health.c) */
	struct pw_io hold_io;		/* earliest hold expiry (lease.c) */
	uint32_t next_tag_gen;
	/* holder pid -> class for an owner (tag_gen): one /proc walk per process,
	 * not per socket; an exit forgets the pid (lease.c) */
	struct pw_class_cache {
		uint32_t pid, tag_gen;
		uint8_t cls;
	} class_cache[1024];
	unsigned health_interval_ms;	/* polling now */
	uint64_t fast_until_ms;		/* after ring-buffer drops: fast polls until then */
	struct pw_allocs_metrics m;
	struct pw_checks *checks;	/* active checks (checks.c) */
	struct pw_allocate *pending;	/* requests waiting in backoff (allocate.c) */
	bool storage_failing;		/* last write failed (disk full...) */
	struct pw_journal *journal;	/* every write to the store goes through it */
	bool serving;			/* the storage thread runs */
	pid_t self_pid;
};

/*
 * A new index of the stored allocations all[0..n) (pw_store_load_all of
 * env->store, read by the caller: the daemon reads them while BPF loads),
 * and the health timers armed. Start-up recovery (recovery.c) and active
 * checks (pw_checks_init) are the caller's next steps. 0 or -errno.
 */
int pw_allocs_new(struct pw_allocs **ret, const struct pw_allocs_env *env,
		  const struct pw_alloc *all, size_t n);
/* Cancels pending requests and checks, ends an open group. NULL ok. */
void pw_allocs_free(struct pw_allocs *as);

/*
 * Visit every allocation once. The visitor may release the one it is given
 * (a release moves the last allocation into its slot, which is then visited
 * too), but must not add or release others.
 */
typedef void (*pw_alloc_visit_fn)(struct pw_allocs *as, struct pw_alloc_rt *r, void *ctx);
void pw_allocs_each(struct pw_allocs *as, pw_alloc_visit_fn fn, void *ctx);

struct pw_alloc_rt *pw_allocs_by_port(struct pw_allocs *as, uint16_t port);
struct pw_alloc_rt *pw_allocs_by_id(struct pw_allocs *as, int64_t id);
/* Allocations by state; of one service type, or all with type NULL. */
void pw_allocs_count(const struct pw_allocs *as, const char *type,
		     unsigned by_state[PW_ALLOC_STATE_MAX]);
/* Is the port bound in the host netns (any proto/address)? by: one such socket. */
bool pw_allocs_port_bound(struct pw_allocs *as, uint16_t port, const struct pw_sock **by);
bool pw_allocs_conflicted(const struct pw_allocs *as, uint16_t port);

/* What the live map says of an allocation's port. */
enum pw_alloc_live {
	PW_LIVE_FREE,
	PW_LIVE_OWNER,			/* bound by the owner tree */
	PW_LIVE_OTHER,			/* bound outside it */
};
enum pw_alloc_live pw_allocs_live(struct pw_allocs *as, const struct pw_alloc_rt *r,
				  const struct pw_sock **by);

/*
 * Index and store with its audit record (may be NULL; port and id are filled
 * in). Before pw_allocs_serve the store has it when this returns (0,
 * -EEXIST, -ENOSPC, -EIO, -ENOMEM); after, it is in the open batch, durable
 * when pw_allocs_pending()'s batch ends (0, -EEXIST, -ENOMEM).
 */
int pw_allocs_add(struct pw_allocs *as, struct pw_alloc *a, const struct pw_audit *audit);
/* Unindex and delete (durable as for pw_allocs_add; r becomes invalid). why
 * goes to the audit. */
int pw_allocs_release(struct pw_allocs *as, struct pw_alloc_rt *r, uid_t uid, pid_t pid,
		      const char *why);
/* Apply a state-machine verdict: persist, audit, tell the hooks, release. */
void pw_allocs_apply(struct pw_allocs *as, struct pw_alloc_rt *r, const struct pw_sm_verdict *v);
/* Write an audit record; failures are counted, not fatal. */
void pw_allocs_audit(struct pw_allocs *as, uid_t uid, pid_t pid, const char *action,
		     const char *outcome, uint16_t port, int64_t alloc_id, const char *type,
		     const char *fmt, ...) __attribute__((format(printf, 9, 10)));

/*
 * Group commit: from pw_allocs_serve on, the store's writes run on the
 * storage thread (journal.h) and every write the loop makes while the
 * previous batch is on the disk shares the next commit. pw_allocs_pending:
 * the batch a reply waits for (0: nothing to wait for). pw_allocs_kick: the
 * loop turn ended. pw_allocs_flush: wait until all is stored (shutdown).
 */
int pw_allocs_serve(struct pw_allocs *as);
uint64_t pw_allocs_pending(const struct pw_allocs *as);
void pw_allocs_kick(struct pw_allocs *as);
/* false: the disk still held a commit after PW_JOURNAL_FLUSH_MS; the store
 * is then the stuck thread's (not to be closed). */
bool pw_allocs_flush(struct pw_allocs *as);
/* The disk has held a batch past PW_STORAGE_TIMEOUT_MS: new writes that a
 * client would wait for are refused; why says so. */
bool pw_allocs_storage_stalled(const struct pw_allocs *as, char *why, size_t len);

/* health.c: the event path into the state machine. */
/* Observe r's port in the port map and run the state machine. */
void pw_allocs_observe(struct pw_allocs *as, struct pw_alloc_rt *r, enum pw_sm_evidence how);
/*
 * Port-map event / snapshot change, already applied to the map. s is the
 * socket as the change left it (removed: its last copy), with change the
 * map's verdict (enum pw_portmap_change); s NULL when not known (snapshots):
 * the port is counted again.
 */
void pw_allocs_on_event(struct pw_allocs *as, const struct pw_event *ev, const struct pw_sock *s,
			int change, bool from_kernel);
/* The holders of sockets on port changed behind the events' back. */
void pw_allocs_port_changed(struct pw_allocs *as, uint16_t port);
/* After a snapshot resync: re-observe every allocation (polled evidence). */
void pw_allocs_after_snapshot(struct pw_allocs *as);
/* Ring-buffer events were lost (an owner's exit among them, maybe): poll at
 * the fast interval for a while, as when there is no BPF. */
void pw_allocs_on_drops(struct pw_allocs *as);
/* A reloaded configuration (the caller keeps the old one alive while requests
 * may point into it): state-machine parameters and the poll period follow. */
void pw_allocs_config_changed(struct pw_allocs *as, const struct pw_config *cfg);
/* Timers of the grace period and the polling fallback. 0 or -errno. */
int pw_health_start(struct pw_allocs *as);
void pw_health_stop(struct pw_allocs *as);

/* lease.c: owners that pass, holds that wait for a binder. */
/* A process exited (its whole thread group, its files closed): hand each
 * allocation it owned to a live holder of the allocation's sockets, else to
 * heir (a child it left alive, 0: none), or let it go stale (a held
 * allocation waits for its hold). */
void pw_lease_owner_exited(struct pw_allocs *as, pid_t pid, pid_t heir, uint64_t ts_ns);
/* The owner is gone by /proc (polls): hand over if a holder lives. true when
 * handed over. */
bool pw_lease_try_handover(struct pw_allocs *as, struct pw_alloc_rt *r, const char *why);
/* After a restart the dead owner's tree is unknown: a live holder of a socket
 * on the port whose process has the allocation's uid (root's: root only), 0
 * when none. A holder of another uid is never an heir. */
pid_t pw_lease_holder_of_uid(struct pw_allocs *as, const struct pw_alloc_rt *r);
/* Make pid the owner: persisted, audited, told. 0 or -errno. */
int pw_lease_set_owner(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t pid, const char *why);
/* A daemon-owned allocation of an earlier daemon becomes this one's, its
 * hold kept (start-up recovery). 0 or -errno. */
int pw_lease_daemon_takes_over(struct pw_allocs *as, struct pw_alloc_rt *r);
/* A hold met by a bind whose port has no holder left (gone: an exited pid,
 * not counted) before the hold's deadline returns to held for its requester.
 * true when it did; the caller observes the port again. */
bool pw_lease_unclaim(struct pw_allocs *as, struct pw_alloc_rt *r, pid_t gone);
/* Arm the hold timer for the earliest hold (after one is added or cleared). */
void pw_lease_arm_holds(struct pw_allocs *as);
int pw_lease_start(struct pw_allocs *as);
void pw_lease_stop(struct pw_allocs *as);
/* How the index classes a socket on an allocation's port. */
enum pw_sock_class { PW_CLASS_NONE, PW_CLASS_OWNER, PW_CLASS_FOREIGN };
enum pw_sock_class pw_lease_class(struct pw_allocs *as, const struct pw_alloc_rt *r,
				  const struct pw_sock *s);

/* recovery.c: start-up recovery; dry_run reports without changing anything. */
json_t *pw_recovery_run(struct pw_allocs *as, bool dry_run, bool store_was_reset);
/* Recovery step 1: open the state database in dir, moving a corrupt one aside
 * when the config allows (*report then says so, else NULL). 0 or -errno, logged. */
int pw_recovery_open_store(const char *dir, const struct pw_config *cfg, struct pw_store **ret,
			   bool *reset, json_t **report);

#endif
