/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A Styxy-compatible HTTP API (github.com/cordlesssteve/styxy): the endpoints
 * its CLI and Claude Code hooks call, with their request and answer shapes
 * and its bearer-token auth, backed by portwatch's allocation index, port map
 * and health. Off by default; 127.0.0.1:9876 is Styxy's own address.
 */
#ifndef PW_STYXY_H
#define PW_STYXY_H

#include <stdbool.h>

struct pw_daemon;
struct pw_styxy;

#define PW_STYXY_DEFAULT_LISTEN "127.0.0.1:9876"

struct pw_styxy_opts {
	const char *listen;		/* ADDR:PORT */
	const char *token_file;		/* NULL: $HOME/.styxy/auth.token */
};

/* 0 or -errno, logged. */
int pw_styxy_start(struct pw_daemon *d, const struct pw_styxy_opts *o);
void pw_styxy_stop(struct pw_daemon *d);
/* The bound port (tests listen on :0). */
unsigned pw_styxy_port(const struct pw_styxy *s);

#endif
