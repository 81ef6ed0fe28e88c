// SPDX-License-Identifier: GPL-2.0
/*
 * The allocation index (core/allocs.c), its event path into the state machine
 * (core/health.c) and recovery layer 1 (core/allocate.c), driven directly:
 * a store in a temporary directory, a port map fed by hand, a loop, and
 * hooks that record what the core tells the outside. No BPF, no daemon.
 * Test binds are real, so each test runs in a network namespace of its own
 * (root needed, as for the integration tests).
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "allocate.h"
#include "allocs.h"
#include "config.h"
#include "loop.h"
#include "portmap.h"
#include "proc.h"
#include "journal.h"
#include "store_fixture.h"

/* Two types: "web" 41000-41003 (41000 preferred), "solo" single-instance.
 * Grace 0: a closed port turns stale at once; backoff short for the test. */
static const char config_json[] =
	"{\"service_types\": {"
	"  \"web\": {\"port_range\": [41000, 41003], \"preferred_ports\": [41000]},"
	"  \"solo\": {\"port_range\": [41100, 41101], \"instance_behavior\": \"single\"}},"
	" \"recovery\": {"
	"  \"port_conflict\": {\"enabled\": true, \"check_availability\": true,"
	"    \"max_retries\": 3, \"backoff_ms\": 5, \"backoff_multiplier\": 2,"
	"    \"conflict_hold_ms\": 60000},"
	"  \"health_monitoring\": {\"enabled\": true, \"check_interval_ms\": 60000,"
	"    \"max_failures\": 3, \"cleanup_stale_allocations\": true,"
	"    \"grace_period_ms\": 0, \"fast_interval_ms\": 1000}}}";

struct world {
	struct fixture fx;
	struct pw_loop *loop;
	struct pw_portmap *map;
	struct pw_config *cfg;
	struct pw_store *store;
	struct pw_allocs *as;
	/* what the hooks heard */
	char last_state[32], last_reason[96];
	unsigned changes, tracked, quiet_on, quiet_off;
	/* the allocate() outcome */
	bool done;
	enum pw_errcode code;
	uint16_t port;
	size_t n_conflicts;
	uint64_t next_cookie;
	/* what the storage thread said */
	uint64_t committed_seq;
	int committed_err;
	unsigned batches;
};

static void hook_committed(void *ctx, const struct pw_journal_done *d)
{
	struct world *w = ctx;

	w->batches++;
	w->committed_seq = d->seq;
	w->committed_err = d->err;
	pw_loop_quit(w->loop, 0);
}

static void hook_changed(void *ctx, const struct pw_alloc_change *ch)
{
	struct world *w = ctx;

	w->changes++;
	snprintf(w->last_state, sizeof(w->last_state), "%s", ch->state);
	snprintf(w->last_reason, sizeof(w->last_reason), "%s", ch->reason);
}

static void hook_track(void *ctx, pid_t pid)
{
	struct world *w = ctx;

	(void)pid;
	w->tracked++;
}

static void hook_quiet(void *ctx, bool on)
{
	struct world *w = ctx;

	if (on)
		w->quiet_on++;
	else
		w->quiet_off++;
}

static void own_netns(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct pw_store_info info;
	char err[256];

	assert_non_null(w);
	if (geteuid() != 0) {
		print_message("skipped: needs root (test binds in a network namespace)\n");
		exit(77);
	}
	own_netns();
	snprintf(w->fx.root, sizeof(w->fx.root), "/tmp/pw-test-allocs-XXXXXX");
	assert_non_null(mkdtemp(w->fx.root));
	snprintf(w->fx.dir, sizeof(w->fx.dir), "%s/state", w->fx.root);
	assert_int_equal(pw_loop_new(&w->loop), 0);
	assert_int_equal(pw_portmap_new(&w->map), 0);
	assert_int_equal(pw_config_load_string(config_json, &w->cfg, err, sizeof(err)), 0);
	assert_int_equal(pw_store_open(w->fx.dir, &w->store, &info), 0);
	struct pw_allocs_env env = {
		.loop = w->loop, .map = w->map, .cfg = w->cfg, .store = w->store,
		.hooks = { .ctx = w, .changed = hook_changed, .track_pid = hook_track,
			   .quiet = hook_quiet, .committed = hook_committed },
	};
	assert_int_equal(pw_allocs_new(&w->as, &env, NULL, 0), 0);	/* a new store */
	w->next_cookie = 1000;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	pw_allocate_cancel_all(w->as);
	pw_allocs_free(w->as);
	pw_store_close(w->store);
	pw_config_free(w->cfg);
	pw_portmap_free(w->map);
	pw_loop_free(w->loop);
	rm_rf(w->fx.root);
	free(w);
	return 0;
}

/* Owners are children: the index ignores sockets of its own process (they
 * are the daemon's test binds). */
static pid_t child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* a failed assertion leaves no child behind holding our stdout */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}

static struct pw_alloc owner_alloc_pid(const char *type, uint16_t port, pid_t pid)
{
	struct pw_alloc a = { .port = port, .pid = pid, .uid = 0, .state = PW_ALLOC_RESERVED };
	struct pw_proc p;

	assert_int_equal(pw_proc_read(pid, &p), 0);
	a.start_time = p.start_time;
	snprintf(a.service_type, sizeof(a.service_type), "%s", type);
	snprintf(a.comm, sizeof(a.comm), "%s", p.comm);
	return a;
}

static struct pw_alloc owner_alloc(const char *type, uint16_t port)
{
	return owner_alloc_pid(type, port, getpid());
}

/* Feed the port map and the allocations one event, as the daemon does. */
static void feed(struct world *w, struct pw_event *ev)
{
	struct pw_sock removed;
	int r;

	ev->ts_ns = pw_now_ns();
	r = pw_portmap_apply(w->map, ev, &removed);
	assert_true(r >= 0);
	pw_allocs_on_event(w->as, ev, r == PW_PM_REMOVED ? &removed
						  : pw_portmap_find(w->map, ev->cookie), r, true);
}

static uint64_t feed_bind(struct world *w, uint16_t port, pid_t pid)
{
	struct pw_event ev = { .kind = PW_EV_BIND, .cookie = ++w->next_cookie, .pid = (__u32)pid,
			       .port = port, .proto = IPPROTO_TCP, .family = AF_INET,
			       .state = PW_SOCK_BOUND };

	feed(w, &ev);
	return ev.cookie;
}

static void test_add_release(void **state)
{
	struct world *w = *state;
	struct pw_alloc a = owner_alloc("web", 41001);
	struct pw_alloc_rt *r;
	size_t n = 0;

	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	assert_true(a.id > 0);
	assert_int_equal(w->tracked, 1);
	r = pw_allocs_by_port(w->as, 41001);
	assert_non_null(r);
	assert_ptr_equal(pw_allocs_by_id(w->as, a.id), r);
	assert_int_equal(pw_allocs_add(w->as, &a, NULL), -EEXIST);
	assert_int_equal(pw_store_count(w->store, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(pw_allocs_release(w->as, r, 0, 0, "test"), 0);
	assert_null(pw_allocs_by_port(w->as, 41001));
	assert_string_equal(w->last_state, "released");
	assert_string_equal(w->last_reason, "test");
	assert_int_equal(pw_store_count(w->store, &n), 0);
	assert_int_equal(n, 0);
}

/* bound -> listening -> the owner's exit event -> stale, released at once. */
static void test_state_machine_from_events(void **state)
{
	struct world *w = *state;
	pid_t owner = child();
	struct pw_alloc a = owner_alloc_pid("web", 41002, owner);
	struct pw_event ev;
	uint64_t cookie;
	unsigned by_state[PW_ALLOC_STATE_MAX];

	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	assert_int_equal(pw_allocs_by_port(w->as, 41002)->a.state, PW_ALLOC_RESERVED);
	cookie = feed_bind(w, 41002, owner);
	assert_int_equal(pw_allocs_by_port(w->as, 41002)->a.state, PW_ALLOC_BOUND);
	assert_string_equal(w->last_state, "bound");
	assert_int_equal(pw_allocs_live(w->as, pw_allocs_by_port(w->as, 41002), NULL),
			 PW_LIVE_OWNER);

	ev = (struct pw_event){ .kind = PW_EV_LISTEN, .cookie = cookie, .pid = (__u32)owner,
				.port = 41002, .proto = IPPROTO_TCP, .family = AF_INET,
				.state = PW_SOCK_LISTENING };
	feed(w, &ev);
	assert_int_equal(pw_allocs_by_port(w->as, 41002)->a.state, PW_ALLOC_LISTENING);
	pw_allocs_count(w->as, "web", by_state);
	assert_int_equal(by_state[PW_ALLOC_LISTENING], 1);

	/* the owner's exit event: stale, and released (cleanup_stale) */
	reap(owner);
	pw_lease_owner_exited(w->as, owner, 0, pw_now_ns());
	assert_null(pw_allocs_by_port(w->as, 41002));
	assert_string_equal(w->last_state, "released");
	assert_int_equal(w->as->m.stale_cleaned_total, 1);
	assert_int_equal(w->as->m.detect_latency.count, 1);
}

/* A socket held by a process outside the owner tree: conflict. */
static void test_conflict_from_foreign_bind(void **state)
{
	struct world *w = *state;
	struct pw_alloc a = owner_alloc("web", 41003);

	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	(void)feed_bind(w, 41003, 1);	/* pid 1 is no descendant of ours */
	assert_int_equal(pw_allocs_by_port(w->as, 41003)->a.state, PW_ALLOC_CONFLICT);
	assert_int_equal(pw_allocs_live(w->as, pw_allocs_by_port(w->as, 41003), NULL),
			 PW_LIVE_OTHER);
	assert_int_equal(w->as->m.conflicts_total, 1);
}

/* The storage thread: writes of a loop turn share one commit, handed back
 * on the loop; nothing is in the store before it, everything after. */
static void test_group_commit(void **state)
{
	struct world *w = *state;
	struct pw_alloc a = owner_alloc("web", 41000), b = owner_alloc("web", 41001);
	uint64_t seq;
	size_t n = 9;

	assert_int_equal(pw_allocs_serve(w->as), 0);
	assert_int_equal(pw_allocs_pending(w->as), 0);
	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	assert_int_equal(pw_allocs_add(w->as, &b, NULL), 0);
	assert_true(a.id > 0 && b.id == a.id + 1);	/* numbered on the loop */
	seq = pw_allocs_pending(w->as);
	assert_true(seq > 0);
	pw_allocs_kick(w->as);
	/* handed to the thread: a reply still waits for it */
	assert_int_equal(pw_allocs_pending(w->as), seq);
	assert_int_equal(pw_loop_run(w->loop), 0);	/* until committed */
	assert_int_equal(pw_allocs_pending(w->as), 0);
	assert_int_equal(w->batches, 1);
	assert_int_equal(w->committed_err, 0);
	assert_true(w->committed_seq >= seq);
	/* the thread is idle: the store may be read here */
	assert_int_equal(pw_store_count(w->store, &n), 0);
	assert_int_equal(n, 2);
}

static void checked(void *ctx, int err, const char *msg)
{
	(void) ctx;
	assert_int_equal(err, 0);
	assert_string_equal(msg, "ok");
}

/* A batch the store refuses rolls back whole, and memory follows the disk. */
static void test_group_commit_fails(void **state)
{
	struct world *w = *state;
	struct pw_alloc on_disk = owner_alloc("web", 41002), a = owner_alloc("web", 41003);
	struct pw_alloc clash = owner_alloc("web", 41002), later = owner_alloc("web", 41004);
	size_t n = 9;

	/* a row memory does not know of, on a port the next batch takes */
	assert_int_equal(pw_store_insert(w->store, &on_disk), 0);
	assert_int_equal(pw_allocs_serve(w->as), 0);
	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	assert_int_equal(pw_allocs_add(w->as, &clash, NULL), 0);
	pw_allocs_kick(w->as);
	assert_int_equal(pw_loop_run(w->loop), 0);
	assert_int_equal(w->committed_err, -EEXIST);
	assert_true(w->as->storage_failing);
	/* neither write of the batch is stored; memory now has the disk's row */
	assert_int_equal(pw_store_count(w->store, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(w->as->n, 1);
	assert_non_null(pw_allocs_by_port(w->as, 41002));
	assert_int_equal(pw_allocs_by_port(w->as, 41002)->a.id, on_disk.id);
	assert_null(pw_allocs_by_port(w->as, 41003));

	/* a batch of reads alone (the daemon prunes the audit trail every
	 * 10 s) commits on a full disk too: storage still failing */
	assert_int_equal(pw_journal_check(w->as->journal, checked, w), 0);
	pw_allocs_kick(w->as);
	assert_int_equal(pw_loop_run(w->loop), 0);
	assert_int_equal(w->committed_err, 0);
	assert_true(w->as->storage_failing);
	/* a write stored: the disk takes writes again */
	assert_int_equal(pw_allocs_add(w->as, &later, NULL), 0);
	pw_allocs_kick(w->as);
	assert_int_equal(pw_loop_run(w->loop), 0);
	assert_int_equal(w->committed_err, 0);
	assert_false(w->as->storage_failing);
}

static void allocate_done(void *ctx, const struct pw_allocate_result *res)
{
	struct world *w = ctx;

	w->done = true;
	w->code = res->code;
	w->port = res->r ? res->r->a.port : 0;
	w->n_conflicts = res->n_conflicts;
	pw_loop_quit(w->loop, 0);
}

static void run_until_done(struct world *w)
{
	if (!w->done)
		assert_int_equal(pw_loop_run(w->loop), 0);
	assert_true(w->done);
}

static struct pw_allocate_req web_request(struct world *w, const char *type)
{
	struct pw_allocate_req rq = { .t = pw_config_find_type(w->cfg, type),
				      .a = owner_alloc(type, 0), .caller_pid = getpid() };

	assert_non_null(rq.t);
	return rq;
}

static int bind_tcp(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Layer 1: the preferred port is taken where the map cannot see it (no
 * event was fed): the test bind catches it, marks it, backs off on a timer
 * and hands out the next port. */
static void test_allocate_conflict_backoff(void **state)
{
	struct world *w = *state;
	struct pw_allocate_req rq = web_request(w, "web");
	int fd = bind_tcp(41000);

	pw_allocate(w->as, &rq, allocate_done, w);
	assert_false(w->done);	/* waiting in backoff, not blocking */
	assert_non_null(w->as->pending);
	run_until_done(w);
	assert_int_equal(w->code, PW_E_OK);
	assert_int_equal(w->port, 41001);
	assert_int_equal(w->n_conflicts, 1);
	assert_true(pw_allocs_conflicted(w->as, 41000));
	assert_null(w->as->pending);
	assert_true(w->quiet_on >= 2 && w->quiet_on == w->quiet_off);
	close(fd);
}

/* Every port taken: gives up with PW_E_CONFLICT after max_retries. */
static void test_allocate_gives_up(void **state)
{
	struct world *w = *state;
	struct pw_allocate_req rq = web_request(w, "web");
	int fds[4];

	for (int i = 0; i < 4; i++)
		fds[i] = bind_tcp((uint16_t)(41000 + i));
	pw_allocate(w->as, &rq, allocate_done, w);
	run_until_done(w);
	assert_int_equal(w->code, PW_E_CONFLICT);
	assert_int_equal(w->n_conflicts, 4);
	assert_int_equal(w->as->m.refused_total, 1);
	/* all marked now: the next request finds the range exhausted at once */
	w->done = false;
	pw_allocate(w->as, &rq, allocate_done, w);
	assert_true(w->done);
	assert_int_equal(w->code, PW_E_EXHAUSTED);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Shutdown with a request in backoff: it is ended and freed, not leaked. */
static void test_allocate_cancel(void **state)
{
	struct world *w = *state;
	struct pw_allocate_req rq = web_request(w, "web");
	int fd = bind_tcp(41000);

	pw_allocate(w->as, &rq, allocate_done, w);
	assert_false(w->done);
	pw_allocate_cancel_all(w->as);
	assert_true(w->done);
	assert_int_equal(w->code, PW_E_INTERNAL);
	assert_null(w->as->pending);
	close(fd);
}

static void test_singleton(void **state)
{
	struct world *w = *state;
	struct pw_allocate_req rq = web_request(w, "solo");

	assert_null(pw_allocate_singleton(w->as, "solo"));
	pw_allocate(w->as, &rq, allocate_done, w);
	assert_true(w->done);
	assert_int_equal(w->code, PW_E_OK);
	assert_int_equal(w->port, 41100);
	assert_non_null(pw_allocate_singleton(w->as, "solo"));
}

/* A held port bound and closed again (a probe) before the hold's deadline:
 * held again for the requester, the same deadline, "reserved"; the next
 * binder claims it as the first did. */
static void test_hold_given_back(void **state)
{
	struct world *w = *state;
	pid_t req = child(), probe = child(), svc = child();
	struct pw_alloc a = owner_alloc_pid("web", 41001, req);
	int64_t until = pw_wall_ms() + 60000;
	struct pw_alloc_rt *r;
	struct pw_event ev;
	uint64_t cookie;

	a.hold_until = until;
	a.daemon_owned = true;	/* as Styxy's are: the flag goes and comes back */
	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	reap(req);	/* the hook script that asked is gone */
	cookie = feed_bind(w, 41001, probe);
	r = pw_allocs_by_port(w->as, 41001);
	assert_non_null(r);
	assert_int_equal(r->a.pid, probe);
	assert_true(r->a.hold_until == 0);
	assert_false(r->a.daemon_owned);
	assert_int_equal(r->a.state, PW_ALLOC_BOUND);

	ev = (struct pw_event){ .kind = PW_EV_CLOSE, .cookie = cookie, .pid = (__u32)probe,
				.port = 41001, .proto = IPPROTO_TCP, .family = AF_INET };
	feed(w, &ev);
	r = pw_allocs_by_port(w->as, 41001);
	assert_non_null(r);
	assert_int_equal(r->a.pid, req);
	assert_true(r->a.hold_until == until);
	assert_true(r->a.daemon_owned);
	assert_int_equal(r->a.state, PW_ALLOC_RESERVED);
	assert_string_equal(w->last_state, "reserved");
	/* the grace timer (0 here) finds nothing to expire */
	assert_int_equal(w->as->m.stale_cleaned_total, 0);

	(void)feed_bind(w, 41001, svc);
	r = pw_allocs_by_port(w->as, 41001);
	assert_int_equal(r->a.pid, svc);
	assert_int_equal(r->a.state, PW_ALLOC_BOUND);
	reap(probe);
	reap(svc);
}

/* Start-up recovery: an allocation owned by an earlier daemon (gone) becomes
 * this one's, its hold kept; a process's whose owner is gone is released. */
static void test_recovery_keeps_daemon_owned(void **state)
{
	struct world *w = *state;
	pid_t old = child(), other = child();
	struct pw_alloc a = owner_alloc_pid("web", 41002, old);
	struct pw_alloc b = owner_alloc_pid("web", 41003, other);
	int64_t until = pw_wall_ms() + 600000;
	struct pw_alloc_rt *r;
	struct pw_proc self;
	json_t *report;

	a.daemon_owned = true;
	a.hold_until = until;
	assert_int_equal(pw_allocs_add(w->as, &a, NULL), 0);
	assert_int_equal(pw_allocs_add(w->as, &b, NULL), 0);
	reap(old);
	reap(other);
	report = pw_recovery_run(w->as, true, false);	/* a dry run changes nothing */
	assert_non_null(report);
	json_decref(report);
	assert_int_equal(pw_allocs_by_port(w->as, 41002)->a.pid, old);
	report = pw_recovery_run(w->as, false, false);
	assert_non_null(report);
	json_decref(report);
	r = pw_allocs_by_port(w->as, 41002);
	assert_non_null(r);
	assert_int_equal(pw_proc_read(getpid(), &self), 0);
	assert_int_equal(r->a.pid, getpid());
	assert_true(r->a.start_time == self.start_time);
	assert_true(r->a.daemon_owned);
	assert_true(r->a.hold_until == until);
	assert_null(pw_allocs_by_port(w->as, 41003));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_keeps_daemon_owned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_machine_from_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_from_foreign_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_conflict_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_singleton, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_given_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
