// SPDX-License-Identifier: GPL-2.0
/* Aligned text tables for the CLI's human output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "utf8.h"

struct pw_table {
	unsigned ncols;
	size_t nrows, cap;
	char **cells;		/* (nrows + 1) * ncols, row 0 = headers */
	size_t *width;
	bool no_header;
	bool header_out;	/* printed by a flush */
};

struct pw_table *pw_table_new(unsigned ncols, const char *const *headers)
{
	struct pw_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->width = calloc(ncols, sizeof(*t->width));
	if (!t->width) {
		free(t);
		return NULL;
	}
	pw_table_add(t, headers);
	return t;
}

void pw_table_add(struct pw_table *t, const char *const *cells)
{
	if (!t)
		return;
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 32;
		char **n = realloc(t->cells, ncap * t->ncols * sizeof(*n));

		if (!n)
			return;
		t->cells = n;
		t->cap = ncap;
	}
	for (unsigned c = 0; c < t->ncols; c++) {
		const char *in = cells[c] ? cells[c] : "";
		/* names and comms are anyone's bytes: no escape sequence reaches
		 * the terminal, invalid UTF-8 and control characters show as \xNN */
		size_t n = strlen(in) * 4 + 1;
		char *s = malloc(n);
		size_t w;

		if (s)
			pw_term_safe(in, s, n);
		w = s ? strlen(s) : 0;

		t->cells[t->nrows * t->ncols + c] = s;
		if (w > t->width[c])
			t->width[c] = w;
	}
	t->nrows++;
}

void pw_table_print(struct pw_table *t)
{
	if (!t)
		return;
	for (size_t r = t->no_header || t->header_out ? 1 : 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c == t->ncols - 1)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)t->width[c], s ? s : "");
		}
	}
}

void pw_table_flush(struct pw_table *t)
{
	if (!t)
		return;
	pw_table_print(t);
	fflush(stdout);
	for (size_t i = t->ncols; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	t->nrows = 1;
	t->header_out = true;
}

void pw_table_no_header(struct pw_table *t)
{
	if (t)
		t->no_header = true;
}

void pw_table_free(struct pw_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}
