// SPDX-License-Identifier: GPL-2.0
/* Recovery on demand and the config warnings (see cleanup.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocs.h"
#include "cleanup.h"
#include "cmd.h"
#include "config.h"
#include "daemon.h"
#include "portmap.h"
#include "settle.h"

/* Whether a recovery action (a sentence of core/recovery.c, naming "port N")
 * is about the viewer's own: the allocation on the port is its, or with none,
 * every socket held there (in the daemon's namespace) is. Not found: not. */
static bool action_is_viewers(struct pw_daemon *d, const char *text, uid_t viewer)
{
	const char *p = strstr(text, "port ");
	const struct pw_alloc_rt *r;
	const struct pw_sock *s;
	unsigned long port;
	bool any = false;
	char *end;

	if (!p || p[5] < '0' || p[5] > '9')
		return false;
	port = strtoul(p + 5, &end, 10);
	if (!port || port > 65535)
		return false;
	r = pw_allocs_by_port(d->allocs, (uint16_t)port);
	if (r)
		return r->a.uid == viewer;
	for (s = pw_portmap_port_first(d->map, (__u16)port); s; s = pw_portmap_port_next(d->map, s)) {
		if (d->self_netns && s->netns != d->self_netns)
			continue;
		if (s->uid != viewer)
			return false;
		any = true;
	}
	return any;
}

void pw_recovery_redact(struct pw_daemon *d, json_t *report, uid_t viewer)
{
	json_t *st, *acts, *a;
	size_t i, k;

	if (!viewer)
		return;
	json_array_foreach(json_object_get(report, "steps"), i, st) {
		size_t hidden = 0;

		acts = json_object_get(st, "actions");
		if (!json_is_array(acts))
			continue;
		for (k = 0; k < json_array_size(acts);) {
			a = json_array_get(acts, k);
			if (json_is_string(a) && action_is_viewers(d, json_string_value(a), viewer)) {
				k++;
				continue;
			}
			(void) json_array_remove(acts, k);
			hidden++;
		}
		if (hidden)
			json_object_set_new(st, "hidden", json_integer((json_int_t)hidden));
	}
}

unsigned pw_recovery_now(struct pw_daemon *d, bool dry_run, json_t **report)
{
	typeof(d->cfg->system_recovery) saved = d->cfg->system_recovery;
	unsigned n = 0;
	json_t *rep, *st;
	size_t i;

	/* pw_recovery_run() obeys enabled/run_on_startup, meant for start-up:
	 * asked for explicitly, it runs (the core could take a "force" flag) */
	d->cfg->system_recovery.enabled = d->cfg->system_recovery.run_on_startup = true;
	rep = pw_recovery_run(d->allocs, dry_run, false);
	d->cfg->system_recovery = saved;
	json_array_foreach(json_object_get(rep, "steps"), i, st)
		if (strcmp(json_string_value(json_object_get(st, "step")) ?: "", "database"))
			n += (unsigned)json_integer_value(json_object_get(st, "count"));
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return n;
}

void pw_cmd_cleanup(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	const struct ucred *cred = pw_client_cred(c);
	bool dry_run = false;
	json_t *rep = NULL;
	unsigned n;
	char err[256], why[256];

	if (pw_args_bool(args, "dry_run", &dry_run, err, sizeof(err)) < 0) {
		pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "%s", err));
		return;
	}
	if (!dry_run && cred->uid != 0) {
		d->allocs->m.refused_total++;
		pw_allocs_audit(d->allocs, cred->uid, cred->pid, "recover", "denied", 0, 0, "",
				"cleanup refused: not root");
		pw_client_send(c, pw_proto_error(PW_E_DENIED, "cleanup releases other users' "
						 "allocations: only root may run it (try --dry-run)"));
		return;
	}
	if (!dry_run && pw_allocs_storage_stalled(d->allocs, why, sizeof(why))) {
		pw_client_send(c, pw_proto_error(PW_E_STORAGE, "cleanup not made: %s", why));
		return;
	}
	n = pw_recovery_now(d, dry_run, &rep);
	if (!rep) {
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	json_object_set_new(rep, "actions", json_integer(n));
	/* a dry run as a user: its own ports' actions only (they name pids) */
	pw_recovery_redact(d, rep, cred->uid);
	if (!dry_run)
		pw_allocs_audit(d->allocs, cred->uid, cred->pid, "recover", "ok", 0, 0, "",
				"cleanup: %u action(s)", n);
	pw_settle_reply(&d->settle, c, pw_proto_ok(rep), 0, "cleanup not stored");
}

json_t *pw_config_warnings(const struct pw_config *c)
{
	json_t *w = json_array();

	if (!c->health.enabled)
		json_array_append_new(w, json_string(
			"recovery.health_monitoring.enabled is false: no periodic polls; a dead "
			"owner is still released on its kernel exit event, but not found by polling"));
	if (!c->health.cleanup_stale_allocations)
		json_array_append_new(w, json_string(
			"recovery.health_monitoring.cleanup_stale_allocations is false: stale "
			"allocations are kept until released"));
	if (!c->system_recovery.enabled || !c->system_recovery.run_on_startup)
		json_array_append_new(w, json_string(
			"recovery.system_recovery is off: allocations whose owner died while the "
			"daemon was down stay until `portwatch cleanup`"));
	return w;
}
