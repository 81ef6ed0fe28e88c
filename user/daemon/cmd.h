/* SPDX-License-Identifier: GPL-2.0 */
/* Control-socket command handlers, dispatched by name from a table. */
#ifndef PW_CMD_H
#define PW_CMD_H

#include <jansson.h>
#include "daemon.h"

typedef void (*pw_cmd_fn)(struct pw_daemon *d, struct pw_client *c, json_t *args);

/* cmd_ports.c */
void pw_cmd_ports(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_watch(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_status(struct pw_daemon *d, struct pw_client *c, json_t *args);
/* Send an event object to the watchers whose filters take it, with `ts`
 * (RFC 3339) and the netns inode and name added (steals obj). */
void pw_cmd_watch_broadcast(struct pw_daemon *d, json_t *obj);
/* A kernel or snapshot event to the watchers (no JSON tree: per event). */
void pw_cmd_watch_event(struct pw_daemon *d, const struct pw_event *ev);
/* Add netns_inode and netns_name of the namespace with cookie to o. */
void pw_cmd_netns_json(struct pw_daemon *d, json_t *o, uint64_t cookie);

/* cmd_alloc.c */
void pw_cmd_allocate(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_release(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_list(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_check(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_types(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_audit(struct pw_daemon *d, struct pw_client *c, json_t *args);

/* cmd_health.c */
void pw_cmd_health(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_metrics(struct pw_daemon *d, struct pw_client *c, json_t *args);
void pw_cmd_recover(struct pw_daemon *d, struct pw_client *c, json_t *args);

#endif
