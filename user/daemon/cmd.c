// SPDX-License-Identifier: GPL-2.0
/* Request dispatch by table, as bpftool does for its commands. */
#include <string.h>

#include "cleanup.h"
#include "cmd.h"

static void cmd_ping(struct pw_daemon *d, struct pw_client *c, json_t *args)
{
	(void) d;
	(void) args;
	pw_client_send(c, pw_proto_ok(json_pack("{s:s, s:i}", "pong", "portwatchd", "v",
						PW_PROTO_VERSION)));
}

static const struct {
	const char *name;
	pw_cmd_fn fn;
} commands[] = {
	{ "ping", cmd_ping },
	{ "ports", pw_cmd_ports },
	{ "watch", pw_cmd_watch },
	{ "status", pw_cmd_status },
	{ "allocate", pw_cmd_allocate },
	{ "release", pw_cmd_release },
	{ "list", pw_cmd_list },
	{ "check", pw_cmd_check },
	{ "types", pw_cmd_types },
	{ "audit", pw_cmd_audit },
	{ "health", pw_cmd_health },
	{ "metrics", pw_cmd_metrics },
	{ "recover", pw_cmd_recover },
	{ "cleanup", pw_cmd_cleanup },
};

void pw_daemon_request(void *ctx, struct pw_client *c, struct pw_request *req)
{
	pw_daemon_catch_up(ctx);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(commands[i].name, req->cmd)) {
			commands[i].fn(ctx, c, req->args);
			return;
		}
	}
	pw_client_send(c, pw_proto_error(PW_E_BAD_REQUEST, "cmd: unknown command \"%s\"",
					 req->cmd));
}
