// SPDX-License-Identifier: GPL-2.0
/* Reply settlement after the group commit (see settle.h). */
#include <stdlib.h>

#include "array.h"
#include "settle.h"

void pw_settle_reply(struct pw_settle *st, struct pw_allocs *as, struct pw_client *c, char *line,
		     const char *what_if_failed)
{
	if (!pw_allocs_in_group(as)) {
		pw_client_send(c, line);
		return;
	}
	if (pw_array_grow((void **)&st->v, &st->cap, st->n + 1, sizeof(*st->v))) {
		free(line);
		pw_client_send(c, pw_proto_error(PW_E_INTERNAL, "out of memory"));
		return;
	}
	st->v[st->n].c = pw_client_ref(c);
	st->v[st->n++].what = what_if_failed;
	pw_client_send_tentative(c, line);
}

int pw_settle_batch(struct pw_settle *st, struct pw_allocs *as)
{
	char why[384] = "";
	int r = as ? pw_allocs_group_end(as, why, sizeof(why)) : 0;

	for (size_t i = 0; i < st->n; i++) {
		char *fail = r ? pw_proto_error(PW_E_STORAGE, "state storage failed, %s: %s",
						st->v[i].what, why) : NULL;

		pw_client_settle(st->v[i].c, fail);
		pw_client_unref(st->v[i].c);
		free(fail);
	}
	st->n = 0;
	return r;
}

void pw_settle_fini(struct pw_settle *st)
{
	free(st->v);
	*st = (struct pw_settle){ 0 };
}
