/* SPDX-License-Identifier: GPL-2.0 */
/* Growing a malloc'ed array by doubling; the size of a fixed one. */
#ifndef PW_ARRAY_H
#define PW_ARRAY_H

#include <errno.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Make room for need elements of elem bytes: 0, or -ENOMEM (array untouched). */
static inline int pw_array_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#endif
