// SPDX-License-Identifier: GPL-2.0
/* Health commands: health, metrics, recover. */
#include <stdlib.h>

#include "allocs.h"
#include "cleanup.h"
#include "cmd.h"
#include "config.h"
#include "guard.h"
#include "metrics.h"
#include "utf8.h"

static const char *evidence_name(enum pw_sm_evidence e)
{
	switch (e) {
	case PW_SM_EV_EVENT:
		return "event";
	case PW_SM_EV_POLL:
		return "poll";
	case PW_SM_EV_CHECK:
		return "check";
	case PW_SM_EV_TIMER:
		return "timer";
	default:
		return "none";
	}
}

void pw_cmd_health(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	struct pw_allocs *as = d->allocs;
	unsigned by_state[PW_ALLOC_STATE_MAX];
	uint64_t now = pw_now_ms();
	json_t *arr = json_array(), *tot = json_object();
	uid_t viewer = pw_client_cred(c)->uid;

	(void) args;
	for (size_t i = 0; i < as->n; i++) {
		const struct pw_alloc_rt *r = &as->v[i];
		char name[PW_NAME_MAX * 4];
		/* as list shows it (wire.h): another uid's owner without its pid,
		 * its name blank unless the config shows names */
		bool others = viewer != 0 && viewer != r->a.uid;

		json_array_append_new(arr, json_pack(
			"{s:I, s:i, s:s, s:s, s:i, s:s, s:s, s:I, s:i, s:s, s:I, s:b, s:b}",
			"id", (json_int_t)r->a.id, "port", r->a.port, "service_type",
			r->a.service_type, "name", pw_utf8_safe(others &&
				!d->cfg->access.show_other_users_names ? "" : r->a.name, name,
				sizeof(name)),
			"pid", others ? 0 : (int)r->a.pid, "state",
			pw_alloc_state_name(r->a.state), "last_evidence",
			evidence_name(r->sm.last_evidence), "last_evidence_age_ms",
			(json_int_t)(r->sm.last_evidence_ms ? now - r->sm.last_evidence_ms : 0),
			"consecutive_failures", (int)r->sm.poll_failures, "last_check",
			r->last_check, "grace_remaining_ms",
			(json_int_t)(r->sm.grace_deadline_ms > now ? r->sm.grace_deadline_ms - now : 0),
			/* consecutive_failures counts owner polls; a failing active check
			 * is this flag (checks count their own retries) */
			"check_configured", r->check != NULL, "check_failing", r->sm.check_failing));
	}
	pw_allocs_count(as, NULL, by_state);
	for (int s = 0; s < PW_ALLOC_STATE_MAX; s++)
		json_object_set_new(tot, pw_alloc_state_name(s), json_integer(by_state[s]));
	pw_client_send(c, pw_proto_ok(json_pack(
		"{s:o, s:{s:I, s:o, s:I, s:I, s:I, s:I, s:I}}", "allocations", arr, "totals", "total",
		(json_int_t)as->n, "by_state", tot, "health_checks_total",
		(json_int_t)as->m.health_checks_total, "health_checks_healthy",
		(json_int_t)as->m.health_checks_healthy, "health_checks_unhealthy",
		(json_int_t)as->m.health_checks_unhealthy, "stale_allocations_cleaned_total",
		(json_int_t)as->m.stale_cleaned_total, "health_polls_total",
		(json_int_t)as->m.health_polls_total)));
}

void pw_cmd_metrics(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	char *text = pw_metrics_render(d);

	(void) args;
	if (!text) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	pw_client_send(c, pw_proto_ok(json_pack("{s:s}", "text", text)));
	free(text);
}

void pw_cmd_recover(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	json_t *rep;

	(void) args;
	/* always a dry run from the socket: recovery proper runs at start-up,
	 * before any request is served */
	rep = pw_recovery_run(d->allocs, true, false);
	if (!rep) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	/* a user's copy is redacted: the start-up report stays whole */
	json_object_set_new(rep, "last_startup", !d->recovery ? json_null() :
			    pw_client_cred(c)->uid ? json_deep_copy(d->recovery) :
			    json_incref(d->recovery));
	pw_recovery_redact(d, rep, pw_client_cred(c)->uid);
	pw_recovery_redact(d, json_object_get(rep, "last_startup"), pw_client_cred(c)->uid);
	/* the integrity check reads the whole database: on a worker thread */
	pw_guard_recover(d->guard, c, rep);
}
