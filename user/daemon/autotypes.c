// SPDX-License-Identifier: GPL-2.0
/* Saved auto-allocated service types (see autotypes.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "allocs.h"
#include "autotypes.h"
#include "config.h"
#include "daemon.h"
#include "journal.h"
#include "log.h"

#define AUTOTYPES_FILE "auto-types.json"

int pw_autotypes_load(struct pw_daemon *d)
{
	char path[4096], err[256];
	json_error_t jerr;
	const char *name;
	json_t *root, *v;

	snprintf(path, sizeof(path), "%s/" AUTOTYPES_FILE, d->opts.state_dir);
	if (access(path, F_OK))
		return 0;
	root = json_load_file(path, 0, &jerr);
	if (!json_is_object(root)) {
		pw_warn("%s: %s: ignored", path, root ? "not an object" : jerr.text);
		json_decref(root);
		return 0;
	}
	json_object_foreach(root, name, v) {
		json_t *rng = json_object_get(v, "port_range");
		json_int_t lo = json_integer_value(json_array_get(rng, 0));
		json_int_t hi = json_integer_value(json_array_get(rng, 1));

		if (pw_config_find_type(d->cfg, name))
			continue;	/* the config defines it now */
		if (lo < 1 || hi > 65535 || lo > hi ||
		    pw_config_add_type(d->cfg, name, json_string_value(json_object_get(v,
				       "description")), (uint16_t)lo, (uint16_t)hi, false, err,
				       sizeof(err))) {
			pw_warn("%s: type %s [%lld, %lld] skipped: %s", path, name, (long long)lo,
				(long long)hi, lo < 1 || hi > 65535 || lo > hi ? "bad range" : err);
			continue;
		}
		d->cfg->types[d->cfg->n_types - 1].auto_allocated = true;
		/* counted against its uid's share again (none: root's) */
		d->cfg->types[d->cfg->n_types - 1].created_by =
			(uint32_t)json_integer_value(json_object_get(v, "uid"));
		pw_info("auto-allocated type %s [%lld, %lld] restored", name, (long long)lo,
			(long long)hi);
	}
	json_decref(root);
	return 0;
}

void pw_autotypes_save(struct pw_daemon *d)
{
	char path[4096], *text;
	json_t *root = json_object();

	for (size_t i = 0; i < d->cfg->n_types; i++) {
		const struct pw_service_type *t = &d->cfg->types[i];

		if (t->auto_allocated)
			json_object_set_new(root, t->name, json_pack("{s:[i,i], s:s, s:I}",
				"port_range", t->range_lo, t->range_hi, "description", t->description,
				"uid", (json_int_t)t->created_by));
	}
	snprintf(path, sizeof(path), "%s/" AUTOTYPES_FILE, d->opts.state_dir);
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	/* written by the storage thread: the loop never waits on the disk */
	if (!text || pw_journal_put_file(d->allocs->journal, path, text, strlen(text)))
		pw_warn("%s: not saved: out of memory", path);
}
