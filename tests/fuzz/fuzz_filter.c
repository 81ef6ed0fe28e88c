// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the filter grammar (user/common/filter.c): the text
 * a user types after `portwatch ports`, and what any client may send as
 * args.filter. Besides the sanitizers it checks the contracts:
 *   - a refusal names a column within the expression (1 .. length + 1) and
 *     says something;
 *   - an accepted expression has a canonical form that parses to itself and
 *     matches the same records;
 *   - evaluation terminates on every record.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
				__LINE__, #cond);				\
			abort();						\
		}								\
	} while (0)

static struct pw_filter_rec recs[4];

static void init(void)
{
	static int done;

	if (done++)
		return;
	recs[0] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET, .state = 2,
					  .sport = 80, .pid = 1, .comm = "nginx", .netns_ino = 7,
					  .netns_cookie = 1, .netns_name = "blue" };
	inet_pton(AF_INET, "127.0.0.1", recs[0].saddr);
	recs[1] = (struct pw_filter_rec){ .proto = IPPROTO_UDP, .family = AF_INET6, .state = 1,
					  .sport = 5353, .uid = 1000, .comm = "avahi" };
	recs[2] = (struct pw_filter_rec){ .proto = IPPROTO_TCP, .family = AF_INET6, .state = 3,
					  .sport = 40000, .dport = 443 };
	inet_pton(AF_INET6, "::1", recs[2].saddr);
	recs[3] = (struct pw_filter_rec){ 0 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_filter_error err;
	struct pw_filter *f = NULL, *g = NULL;
	char *s, canon[8192], again[8192];
	int r;

	init();
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	r = pw_filter_parse(s, &f, &err);
	if (r) {
		CHECK(f == NULL);
		CHECK(err.col >= 1 && err.col <= strlen(s) + 1);
		CHECK(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)));
		free(s);
		return 0;
	}
	/* the canonical form parenthesizes every and/or, so a long flat
	 * expression may pass the bounds once written that way: only then may
	 * it be refused */
	if (pw_filter_format(f, canon, sizeof(canon)) == 0 && strcmp(canon, "all") &&
	    (r = pw_filter_parse(canon, &g, &err)) != -E2BIG) {
		CHECK(r == 0);
		CHECK(pw_filter_format(g, again, sizeof(again)) == 0);
		CHECK(!strcmp(canon, again));
		for (int i = 0; i < 4; i++)
			CHECK(pw_filter_match(f, &recs[i]) == pw_filter_match(g, &recs[i]));
		pw_filter_free(g);
	} else {
		for (int i = 0; i < 4; i++)
			(void) pw_filter_match(f, &recs[i]);
	}
	pw_filter_free(f);
	free(s);
	return 0;
}
