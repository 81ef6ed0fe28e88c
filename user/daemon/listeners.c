// SPDX-License-Identifier: GPL-2.0
/* Status and metrics of the optional listeners (see listeners.h). */
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "styxy.h"
#include "listeners.h"
#include "portserver.h"

void pw_listeners_status(struct pw_daemon *d, json_t *o)
{
	struct pw_portserver_stats st;

	if (d->portserver) {
		pw_portserver_stats(d->portserver, &st);
		json_object_set_new(o, "portserver", json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"address", pw_portserver_addr(d->portserver),
			"service_type", pw_portserver_type(d->portserver),
			"requests", (json_int_t)st.requests, "allocated", (json_int_t)st.allocated,
			"malformed", (json_int_t)st.malformed, "denied", (json_int_t)st.denied,
			"failed", (json_int_t)st.failed, "timed_out", (json_int_t)st.timed_out));
	} else {
		json_object_set_new(o, "portserver", json_null());
	}
	json_object_set_new(o, "styxy_http", d->styxy ? json_pack("{s:i}", "port",
				pw_styxy_port(d->styxy)) : json_null());
	json_object_set_new(o, "config_warnings", pw_config_warnings(d->cfg));
	json_object_set_new(o, "service_types", json_integer((json_int_t)d->cfg->n_types));
}

void pw_listeners_metrics(struct pw_daemon *d, FILE *f)
{
	struct pw_portserver_stats st;

	if (!d->portserver)
		return;
	pw_portserver_stats(d->portserver, &st);
	fprintf(f, "# HELP portwatch_portserver_requests_total portserver protocol requests, by "
		   "outcome.\n# TYPE portwatch_portserver_requests_total counter\n");
	fprintf(f, "portwatch_portserver_requests_total{outcome=\"allocated\"} %llu\n"
		   "portwatch_portserver_requests_total{outcome=\"malformed\"} %llu\n"
		   "portwatch_portserver_requests_total{outcome=\"denied\"} %llu\n"
		   "portwatch_portserver_requests_total{outcome=\"failed\"} %llu\n"
		   "portwatch_portserver_requests_total{outcome=\"timed_out\"} %llu\n",
		(unsigned long long)st.allocated, (unsigned long long)st.malformed,
		(unsigned long long)st.denied, (unsigned long long)st.failed,
		(unsigned long long)st.timed_out);
}
