/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A validator of the Prometheus text exposition format 0.0.4, for tests.
 * Header-only: every test binary that needs it includes it.
 *
 * Checked: line grammar (comments, "# HELP", "# TYPE", `name{labels} value
 * [timestamp]`), metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not "__"-prefixed, not repeated), label value
 * escapes (\\ \" \n only), values (floats, NaN, +Inf, -Inf), one HELP and
 * one TYPE per metric, TYPE before the metric's first sample, a metric's
 * samples in one group, no repeated series, and for histograms: _bucket
 * samples with an "le" label in increasing order with cumulative counts,
 * ending in le="+Inf" equal to _count, plus a _sum, per label set.
 */
#ifndef PW_PROM_PARSE_H
#define PW_PROM_PARSE_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_NAME_MAX	128
#define PROM_LABELS_MAX	1024
#define PROM_MAX_LABELS	32
#define PROM_SERIES_MAX	(PROM_NAME_MAX + PROM_LABELS_MAX + 64)

struct prom_sample {
	char name[PROM_NAME_MAX];
	/* canonical: labels sorted by name, `a="v",b="w"`, values escaped; no "le" */
	char labels[PROM_LABELS_MAX];
	bool has_le;
	double le;
	double value;
};

struct prom_family {
	char name[PROM_NAME_MAX];
	char type[16];			/* "" until a TYPE line */
	bool help, has_samples;
};

struct prom_hgroup {
	char labels[PROM_LABELS_MAX];
	unsigned buckets;
	double last_le, last_count;
	bool inf, has_sum, has_count;
	double inf_count, count;
};

struct prom_state {
	struct prom_family *fam;
	size_t n_fam;
	long cur;			/* family whose samples come now, -1 none */
	char (*series)[PROM_SERIES_MAX];	/* of the current family */
	size_t n_series;
	struct prom_hgroup *hg;		/* of the current histogram family */
	size_t n_hg;
	unsigned line;
	char *err;
	size_t errlen;
};

static inline int prom_fail(struct prom_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int prom_fail(struct prom_state *st, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (st->errlen) {
		n = snprintf(st->err, st->errlen, "line %u: ", st->line);
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < st->errlen)
			vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static inline bool prom_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline const char *prom_skip_blanks(const char *p)
{
	while (prom_blank(*p))
		p++;
	return p;
}

static inline bool prom_name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
		return true;
	return !first && c >= '0' && c <= '9';
}

/* Length of the name at p (metric names allow ':'), 0 when none. */
static inline size_t prom_name_len(const char *p, bool colon)
{
	size_t n = 0;

	while (prom_name_char(p[n], n == 0, colon))
		n++;
	return n;
}

/* Go's ParseFloat as the format uses it: decimal floats, NaN, +Inf, -Inf. */
static inline bool prom_parse_float(const char *s, size_t n, double *v)
{
	char buf[64];
	size_t i = 0;
	bool digits = false;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "NaN")) {
		*v = NAN;
		return true;
	}
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "Inf") || !strcmp(buf, "-Inf")) {
		*v = buf[0] == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (buf[i] == '+' || buf[i] == '-')
		i++;
	for (; buf[i] >= '0' && buf[i] <= '9'; i++)
		digits = true;
	if (buf[i] == '.')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			digits = true;
	if (!digits)
		return false;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '+' || buf[i] == '-')
			i++;
		if (!(buf[i] >= '0' && buf[i] <= '9'))
			return false;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (buf[i])
		return false;
	*v = strtod(buf, NULL);
	return true;
}

struct prom_label {
	char name[PROM_NAME_MAX];
	char value[PROM_LABELS_MAX];	/* escaped, as in the text */
};

static inline int prom_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prom_label *)a)->name, ((const struct prom_label *)b)->name);
}

/* Parse `{...}` at *pp into the sample; *pp moves past it. */
static inline int prom_parse_labels(struct prom_state *st, const char **pp, struct prom_sample *s)
{
	struct prom_label *l = calloc(PROM_MAX_LABELS, sizeof(*l));
	const char *p = *pp + 1;
	size_t n = 0, off = 0;
	int r = 0;

	if (!l)
		return prom_fail(st, "out of memory");
	for (;;) {
		size_t len;
		const char *v;

		p = prom_skip_blanks(p);
		if (*p == '}')
			break;
		len = prom_name_len(p, false);
		if (!len || len >= PROM_NAME_MAX) {
			r = prom_fail(st, "bad label name at \"%.20s\"", p);
			goto out;
		}
		if (n == PROM_MAX_LABELS) {
			r = prom_fail(st, "more than %d labels", PROM_MAX_LABELS);
			goto out;
		}
		memcpy(l[n].name, p, len);
		if (len >= 2 && p[0] == '_' && p[1] == '_') {
			r = prom_fail(st, "reserved label name %s", l[n].name);
			goto out;
		}
		for (size_t k = 0; k < n; k++)
			if (!strcmp(l[k].name, l[n].name)) {
				r = prom_fail(st, "label %s repeated", l[n].name);
				goto out;
			}
		p = prom_skip_blanks(p + len);
		if (*p != '=') {
			r = prom_fail(st, "expected '=' after label %s", l[n].name);
			goto out;
		}
		p = prom_skip_blanks(p + 1);
		if (*p != '"') {
			r = prom_fail(st, "label %s: value not quoted", l[n].name);
			goto out;
		}
		for (v = ++p; *p && *p != '"'; p++) {
			if (*p != '\\')
				continue;
			p++;
			if (*p != '\\' && *p != '"' && *p != 'n') {
				r = prom_fail(st, "label %s: bad escape \"\\%c\"", l[n].name,
					      *p ? *p : ' ');
				goto out;
			}
		}
		if (*p != '"' || (size_t)(p - v) >= sizeof(l[n].value)) {
			r = prom_fail(st, "label %s: unterminated or too long value", l[n].name);
			goto out;
		}
		memcpy(l[n].value, v, (size_t)(p - v));
		n++;
		p = prom_skip_blanks(p + 1);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '}') {
			r = prom_fail(st, "expected ',' or '}' in labels at \"%.20s\"", p);
			goto out;
		}
		break;
	}
	*pp = p + 1;
	qsort(l, n, sizeof(*l), prom_label_cmp);
	for (size_t k = 0; k < n; k++) {
		if (!strcmp(l[k].name, "le")) {
			if (!prom_parse_float(l[k].value, strlen(l[k].value), &s->le)) {
				r = prom_fail(st, "le=\"%s\" is not a number", l[k].value);
				goto out;
			}
			s->has_le = true;
			continue;
		}
		off += (size_t)snprintf(s->labels + off, sizeof(s->labels) - off, "%s%s=\"%s\"",
					off ? "," : "", l[k].name, l[k].value);
		if (off >= sizeof(s->labels)) {
			r = prom_fail(st, "labels too long");
			goto out;
		}
	}
out:
	free(l);
	return r;
}

/* A sample line (leading blanks already skipped). */
static inline int prom_parse_sample(struct prom_state *st, const char *p, struct prom_sample *s)
{
	size_t len = prom_name_len(p, true);
	const char *v, *t;

	memset(s, 0, sizeof(*s));
	if (!len || len >= PROM_NAME_MAX)
		return prom_fail(st, "bad metric name at \"%.20s\"", p);
	memcpy(s->name, p, len);
	p += len;
	if (*prom_skip_blanks(p) == '{') {
		p = prom_skip_blanks(p);
		if (prom_parse_labels(st, &p, s))
			return -1;
	}
	if (!prom_blank(*p))
		return prom_fail(st, "%s: expected a blank before the value", s->name);
	v = p = prom_skip_blanks(p);
	while (*p && !prom_blank(*p))
		p++;
	if (!prom_parse_float(v, (size_t)(p - v), &s->value))
		return prom_fail(st, "%s: bad value \"%.*s\"", s->name, (int)(p - v), v);
	v = p = prom_skip_blanks(p);
	if (!*p)
		return 0;
	while (*p && !prom_blank(*p))
		p++;
	/* milliseconds since the epoch: an integer */
	t = v + (*v == '-');
	if (p == t || strspn(t, "0123456789") != (size_t)(p - t))
		return prom_fail(st, "%s: bad timestamp \"%.*s\"", s->name, (int)(p - v), v);
	if (*prom_skip_blanks(p))
		return prom_fail(st, "%s: trailing text \"%.20s\"", s->name, prom_skip_blanks(p));
	return 0;
}

static inline struct prom_family *prom_family_get(struct prom_state *st, const char *name,
						  bool create)
{
	struct prom_family *f;

	for (size_t i = 0; i < st->n_fam; i++)
		if (!strcmp(st->fam[i].name, name))
			return &st->fam[i];
	if (!create)
		return NULL;
	f = realloc(st->fam, (st->n_fam + 1) * sizeof(*f));
	if (!f)
		return NULL;
	st->fam = f;
	f = &st->fam[st->n_fam++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* The histogram checks that need the whole group: run when it ends. */
static inline int prom_end_family(struct prom_state *st)
{
	struct prom_family *f = st->cur >= 0 ? &st->fam[st->cur] : NULL;

	for (size_t i = 0; f && !strcmp(f->type, "histogram") && i < st->n_hg; i++) {
		struct prom_hgroup *g = &st->hg[i];

		if (!g->inf)
			return prom_fail(st, "%s{%s}: no le=\"+Inf\" bucket", f->name, g->labels);
		if (!g->has_count || !g->has_sum)
			return prom_fail(st, "%s{%s}: missing _%s", f->name, g->labels,
					 g->has_count ? "sum" : "count");
		if (g->inf_count != g->count)
			return prom_fail(st, "%s{%s}: +Inf bucket %g differs from _count %g",
					 f->name, g->labels, g->inf_count, g->count);
	}
	free(st->hg);
	st->hg = NULL;
	st->n_hg = 0;
	free(st->series);
	st->series = NULL;
	st->n_series = 0;
	st->cur = -1;
	return 0;
}

static inline int prom_histogram_sample(struct prom_state *st, const struct prom_family *f,
					const struct prom_sample *s, const char *suffix)
{
	struct prom_hgroup *g = NULL;

	if (!strcmp(suffix, "_bucket") != s->has_le)
		return prom_fail(st, "%s: %s", s->name, s->has_le ? "le on a non-bucket sample"
								: "bucket without le");
	for (size_t i = 0; i < st->n_hg && !g; i++)
		if (!strcmp(st->hg[i].labels, s->labels))
			g = &st->hg[i];
	if (!g) {
		g = realloc(st->hg, (st->n_hg + 1) * sizeof(*g));
		if (!g)
			return prom_fail(st, "out of memory");
		st->hg = g;
		g = &st->hg[st->n_hg++];
		memset(g, 0, sizeof(*g));
		snprintf(g->labels, sizeof(g->labels), "%s", s->labels);
	}
	if (!strcmp(suffix, "_sum")) {
		g->has_sum = true;
		return 0;
	}
	if (!strcmp(suffix, "_count")) {
		g->has_count = true;
		g->count = s->value;
		return 0;
	}
	if (g->inf)
		return prom_fail(st, "%s: bucket after le=\"+Inf\"", f->name);
	if (g->buckets && s->le <= g->last_le)
		return prom_fail(st, "%s: le %g not above the previous %g", f->name, s->le,
				 g->last_le);
	if (g->buckets && s->value < g->last_count)
		return prom_fail(st, "%s: le %g: count %g below the previous bucket's %g: not "
				 "cumulative", f->name, s->le, s->value, g->last_count);
	g->buckets++;
	g->last_le = s->le;
	g->last_count = s->value;
	if (isinf(s->le) && s->le > 0) {
		g->inf = true;
		g->inf_count = s->value;
	}
	return 0;
}

static inline bool prom_has_suffix(const char *name, const char *base, const char *suffix)
{
	size_t n = strlen(base);

	return !strncmp(name, base, n) && !strcmp(name + n, suffix);
}

/* Each series (name and label set, le included) once per text. */
static inline int prom_series_add(struct prom_state *st, const struct prom_sample *s)
{
	char key[PROM_SERIES_MAX];
	void *nv;

	snprintf(key, sizeof(key), "%s{%s}%s%.17g", s->name, s->labels, s->has_le ? "le=" : "",
		 s->has_le ? s->le : 0.0);
	for (size_t i = 0; i < st->n_series; i++)
		if (!strcmp(st->series[i], key))
			return prom_fail(st, "series %s repeated", key);
	nv = realloc(st->series, (st->n_series + 1) * sizeof(*st->series));
	if (!nv)
		return prom_fail(st, "out of memory");
	st->series = nv;
	snprintf(st->series[st->n_series++], sizeof(*st->series), "%s", key);
	return 0;
}

static inline int prom_sample_line(struct prom_state *st, const char *p)
{
	static const char *const hsuf[] = { "_bucket", "_sum", "_count" };
	struct prom_sample s;
	struct prom_family *f = NULL;
	const char *suffix = "";
	long idx;

	if (prom_parse_sample(st, p, &s))
		return -1;
	/* which family: a histogram/summary by suffix, else the exact name */
	for (size_t i = 0; i < st->n_fam && !f; i++) {
		struct prom_family *c = &st->fam[i];
		bool hist = !strcmp(c->type, "histogram"), sum = !strcmp(c->type, "summary");

		for (size_t k = 0; (hist || sum) && k < 3 && !f; k++)
			if ((hist || k) && prom_has_suffix(s.name, c->name, hsuf[k])) {
				f = c;
				suffix = hsuf[k];
			}
		if (!f && !strcmp(c->name, s.name))
			f = c;
	}
	if (!f && !(f = prom_family_get(st, s.name, true)))
		return prom_fail(st, "out of memory");
	if (!strcmp(f->type, "histogram") && !*suffix)
		return prom_fail(st, "%s: a histogram has only _bucket, _sum and _count samples",
				 s.name);
	idx = f - st->fam;
	if (idx != st->cur) {
		if (f->has_samples)
			return prom_fail(st, "%s: samples of %s not in one group", s.name, f->name);
		if (prom_end_family(st))
			return -1;
		st->cur = idx;
	}
	f->has_samples = true;
	if (prom_series_add(st, &s))
		return -1;
	if (!strcmp(f->type, "histogram"))
		return prom_histogram_sample(st, f, &s, suffix);
	return 0;
}

static inline int prom_comment_line(struct prom_state *st, const char *p)
{
	static const char *const types[] = {
		"counter", "gauge", "histogram", "summary", "untyped",
	};
	bool help, type;
	struct prom_family *f;
	char name[PROM_NAME_MAX];
	size_t len;

	p = prom_skip_blanks(p + 1);
	help = !strncmp(p, "HELP", 4) && (prom_blank(p[4]) || !p[4]);
	type = !strncmp(p, "TYPE", 4) && (prom_blank(p[4]) || !p[4]);
	if (!help && !type)
		return 0;	/* any other comment */
	p = prom_skip_blanks(p + 4);
	len = prom_name_len(p, true);
	if (!len || len >= sizeof(name) || (p[len] && !prom_blank(p[len])))
		return prom_fail(st, "%s: bad metric name at \"%.20s\"", help ? "HELP" : "TYPE", p);
	memcpy(name, p, len);
	name[len] = '\0';
	p = prom_skip_blanks(p + len);
	f = prom_family_get(st, name, true);
	if (!f)
		return prom_fail(st, "out of memory");
	if (help) {
		if (f->help)
			return prom_fail(st, "second HELP for %s", name);
		f->help = true;
		for (; *p; p++)
			if (*p == '\\' && (++p, *p != '\\' && *p != 'n'))
				return prom_fail(st, "HELP %s: bad escape", name);
		return 0;
	}
	if (f->type[0])
		return prom_fail(st, "second TYPE for %s", name);
	if (f->has_samples)
		return prom_fail(st, "TYPE for %s after its samples", name);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t tl = strlen(types[i]);

		if (!strncmp(p, types[i], tl) && !*prom_skip_blanks(p + tl))
			snprintf(f->type, sizeof(f->type), "%s", types[i]);
	}
	if (!f->type[0])
		return prom_fail(st, "TYPE %s: unknown type \"%s\"", name, p);
	/* a histogram's or summary's samples seen before its TYPE */
	for (size_t i = 0; i < st->n_fam && (!strcmp(f->type, "histogram") ||
					      !strcmp(f->type, "summary")); i++) {
		const char *fn = st->fam[i].name;

		if (st->fam[i].has_samples && (prom_has_suffix(fn, name, "_bucket") ||
					       prom_has_suffix(fn, name, "_sum") ||
					       prom_has_suffix(fn, name, "_count")))
			return prom_fail(st, "TYPE for %s after its samples", name);
	}
	return 0;
}

/* 0 when text is a valid exposition; -1 with "line N: why" in err. */
static inline int prom_validate(const char *text, char *err, size_t errlen)
{
	struct prom_state st = { .cur = -1, .err = err, .errlen = errlen };
	size_t len = strlen(text);
	const char *p = text;
	char *line = NULL;
	int r = 0;

	if (errlen)
		err[0] = '\0';
	if (len && text[len - 1] != '\n')
		return prom_fail(&st, "the text does not end with a newline");
	while (*p && !r) {
		const char *nl = strchr(p, '\n'), *q;
		size_t n = (size_t)(nl - p);

		st.line++;
		free(line);
		line = strndup(p, n);
		if (!line)
			return prom_fail(&st, "out of memory");
		p = nl + 1;
		q = prom_skip_blanks(line);
		if (!*q)
			continue;
		r = *q == '#' ? prom_comment_line(&st, q) : prom_sample_line(&st, q);
	}
	free(line);
	if (!r)
		r = prom_end_family(&st);
	free(st.hg);
	free(st.series);
	free(st.fam);
	return r;
}

/*
 * The value of the sample name{labels} in a valid text; labels as in the
 * text but in any order ("a=\"x\",b=\"y\""), NULL or "" for none; no "le"
 * (use prom_bucket). 0 when found, -1 otherwise.
 */
static inline int prom_value_le(const char *text, const char *name, const char *labels,
				const char *le, double *v)
{
	struct prom_state st = { .cur = -1 };
	struct prom_sample want = { 0 }, s;
	char lbuf[PROM_LABELS_MAX + 2];
	const char *lp = lbuf;
	double le_v = 0;
	int found = -1;

	snprintf(lbuf, sizeof(lbuf), "{%s}", labels ? labels : "");
	if (prom_parse_labels(&st, &lp, &want))
		return -1;
	if (le && !prom_parse_float(le, strlen(le), &le_v))
		return -1;
	for (const char *p = text; *p && found; ) {
		const char *nl = strchr(p, '\n');
		char *line = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
		const char *q;

		if (!line)
			return -1;
		q = prom_skip_blanks(line);
		if (*q && *q != '#' && !prom_parse_sample(&st, q, &s) && !strcmp(s.name, name) &&
		    !strcmp(s.labels, want.labels) && s.has_le == (le != NULL) &&
		    (!le || s.le == le_v)) {
			*v = s.value;
			found = 0;
		}
		free(line);
		p = nl ? nl + 1 : p + strlen(p);
	}
	return found;
}

static inline int prom_value(const char *text, const char *name, const char *labels, double *v)
{
	return prom_value_le(text, name, labels, NULL, v);
}

#endif
