// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include "alloc.h"

static const char *const state_names[PW_ALLOC_STATE_MAX] = {
	[PW_ALLOC_RESERVED] = "reserved",
	[PW_ALLOC_BOUND] = "bound",
	[PW_ALLOC_LISTENING] = "listening",
	[PW_ALLOC_STALE] = "stale",
	[PW_ALLOC_CONFLICT] = "conflict",
	[PW_ALLOC_UNHEALTHY] = "unhealthy",
	[PW_ALLOC_ADOPTED] = "adopted",
};

const char *pw_alloc_state_name(enum pw_alloc_state s)
{
	if ((unsigned)s >= PW_ALLOC_STATE_MAX)
		return "unknown";
	return state_names[s];
}

int pw_alloc_state_parse(const char *s)
{
	for (int i = 0; i < PW_ALLOC_STATE_MAX; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -1;
}
