// SPDX-License-Identifier: GPL-2.0
/* Prometheus text format -> JSON samples (see prom_samples.h). */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "prom_samples.h"

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* The type of name from the # TYPE lines seen, trying histogram suffixes. */
static const char *type_of(json_t *types, const char *name)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	const char *t = json_string_value(json_object_get(types, name));
	char base[256];

	if (t)
		return t;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(sfx[i]);

		if (n > k && n - k < sizeof(base) && !strcmp(name + n - k, sfx[i])) {
			memcpy(base, name, n - k);
			base[n - k] = 0;
			t = json_string_value(json_object_get(types, base));
			if (t)
				return t;
		}
	}
	return "untyped";
}

/* name{labels} value: returns the sample, or NULL. *p advances past the line. */
static json_t *parse_sample(const char *s, const char *end, json_t *types)
{
	json_t *labels = json_object(), *v = NULL;
	char name[256], *num_end, num[64];
	size_t n = 0;
	double d;

	while (s < end && name_char(*s, n == 0) && n < sizeof(name) - 1)
		name[n++] = *s++;
	name[n] = 0;
	if (!n)
		goto fail;
	if (s < end && *s == '{') {
		s++;
		while (s < end && *s != '}') {
			char key[128], *val;
			size_t k = 0, vl = 0;

			while (s < end && name_char(*s, k == 0) && k < sizeof(key) - 1)
				key[k++] = *s++;
			key[k] = 0;
			if (!k || s + 1 >= end || s[0] != '=' || s[1] != '"')
				goto fail;
			s += 2;
			val = malloc((size_t)(end - s) + 1);
			if (!val)
				goto fail;
			while (s < end && *s != '"') {
				if (*s == '\\' && s + 1 < end) {
					s++;
					val[vl++] = *s == 'n' ? '\n' : *s;
				} else {
					val[vl++] = *s;
				}
				s++;
			}
			val[vl] = 0;
			if (s >= end) {
				free(val);
				goto fail;
			}
			s++;	/* closing quote */
			json_object_set_new(labels, key, json_string(val));
			free(val);
			if (s < end && *s == ',')
				s++;
		}
		if (s >= end)
			goto fail;
		s++;	/* } */
	}
	while (s < end && *s == ' ')
		s++;
	n = 0;
	while (s < end && *s != ' ' && n < sizeof(num) - 1)
		num[n++] = *s++;
	num[n] = 0;
	if (!strcmp(num, "NaN") || !strcmp(num, "+Inf") || !strcmp(num, "-Inf")) {
		v = json_string(num);
	} else {
		d = strtod(num, &num_end);
		if (!n || *num_end || !isfinite(d))
			goto fail;
		v = d == (double)(json_int_t)d && fabs(d) < 9e15 ? json_integer((json_int_t)d) :
		    json_real(d);
	}
	return json_pack("{s:s, s:o, s:o, s:s}", "name", name, "labels", labels, "value", v,
			 "type", type_of(types, name));
fail:
	json_decref(labels);
	json_decref(v);
	return NULL;
}

json_t *pw_prom_samples(const char *text)
{
	json_t *out = json_array(), *types = json_object();
	const char *p = text ? text : "";

	while (*p) {
		const char *end = strchr(p, '\n');

		if (!end)
			end = p + strlen(p);
		if (end > p && *p == '#') {
			char name[256], type[32];

			if (sscanf(p, "# TYPE %255s %31s", name, type) == 2)
				json_object_set_new(types, name, json_string(type));
		} else if (end > p) {
			json_t *s = parse_sample(p, end, types);

			if (!s) {
				json_decref(out);
				json_decref(types);
				return NULL;
			}
			json_array_append_new(out, s);
		}
		p = *end ? end + 1 : end;
	}
	json_decref(types);
	return out;
}
