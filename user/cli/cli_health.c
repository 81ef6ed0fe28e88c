// SPDX-License-Identifier: GPL-2.0
/* CLI: health, metrics, recover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prom_samples.h"

/* Only --json and --help; returns -1 after printing help. */
static int only_json(const char *cmd, struct pw_cli *cli, int argc, char **argv, const char *help,
		     bool *dry_run)
{
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--json") || !strcmp(argv[k], "-j")) {
			cli->json = true;
		} else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
			printf("%s", help);
			return -1;
		} else if (dry_run && !strcmp(argv[k], "--dry-run")) {
			*dry_run = true;
		} else {
			return pw_cli_usage(cmd, "unexpected argument \"%s\"", argv[k]);
		}
	}
	return 0;
}

int pw_cli_health(struct pw_cli *cli, int argc, char **argv)
{
	static const char *const hdr[] = { "ID", "PORT", "TYPE", "STATE", "EVIDENCE", "AGE",
					   "POLLS FAILED", "CHECK", "LAST CHECK" };
	json_t *res, *v, *tot;
	struct pw_table *t;
	size_t i;
	int r;

	r = only_json("health", cli, argc, argv, "Usage: portwatch health [--json]\n\n"
		      "Per allocation: state, last evidence (event, poll, check, timer) and its\n"
		      "age, owner polls failed in a row (POLLS FAILED), whether its active check\n"
		      "is passing or failing (CHECK, - when the type has none) and the last\n"
		      "check result; then totals.\n",
		      NULL);
	if (r)
		return r < 0 ? 0 : r;
	r = pw_cli_query(cli, "health", NULL, &res);
	if (r || !res)
		return r;
	t = pw_table_new(9, hdr);
	json_array_foreach(json_object_get(res, "allocations"), i, v) {
		char id[24], port[8], age[24], fails[12];
		const char *row[9] = { id, port, pw_jstr(v, "service_type"), pw_jstr(v, "state"),
				       pw_jstr(v, "last_evidence"), age, fails,
				       !json_is_true(json_object_get(v, "check_configured")) ? "-" :
				       json_is_true(json_object_get(v, "check_failing")) ? "failing" :
				       "passing",
				       *pw_jstr(v, "last_check") ? pw_jstr(v, "last_check") : "-" };

		snprintf(id, sizeof(id), "%lld", (long long)pw_jnum(v, "id"));
		snprintf(port, sizeof(port), "%lld", (long long)pw_jnum(v, "port"));
		snprintf(age, sizeof(age), "%.1fs", (double)pw_jnum(v, "last_evidence_age_ms") / 1e3);
		snprintf(fails, sizeof(fails), "%lld", (long long)pw_jnum(v, "consecutive_failures"));
		pw_table_add(t, row);
	}
	pw_table_print(t);
	pw_table_free(t);
	tot = json_object_get(res, "totals");
	printf("\n%lld allocation%s; checks: %lld run, %lld healthy, %lld unhealthy; "
	       "stale cleaned: %lld\n", (long long)pw_jnum(tot, "total"),
	       pw_jnum(tot, "total") == 1 ? "" : "s",
	       (long long)pw_jnum(tot, "health_checks_total"), (long long)pw_jnum(tot, "health_checks_healthy"),
	       (long long)pw_jnum(tot, "health_checks_unhealthy"),
	       (long long)pw_jnum(tot, "stale_allocations_cleaned_total"));
	json_decref(res);
	return 0;
}

int pw_cli_metrics(struct pw_cli *cli, int argc, char **argv)
{
	json_t *res;
	int r;

	r = only_json("metrics", cli, argc, argv, "Usage: portwatch metrics [--json]\n\n"
		      "Print the daemon's metrics in the Prometheus text format; with --json, the\n"
		      "samples as [{\"name\",\"labels\":{...},\"value\"}] (histogram buckets too).\n", NULL);
	if (r)
		return r < 0 ? 0 : r;
	r = pw_cli_call(cli, "metrics", NULL, &res);
	if (r)
		return r;
	if (cli->json) {
		json_t *samples = pw_prom_samples(pw_jstr(res, "text"));

		if (!samples) {
			json_decref(res);
			return pw_cli_internal("metrics", "the daemon's metrics text does not parse");
		}
		pw_cli_print_json(samples);
		json_decref(samples);
	} else {
		/* the text's own lines, each terminal-safe */
		const char *t = pw_jstr(res, "text");

		while (*t) {
			const char *nl = strchr(t, '\n');
			size_t n = nl ? (size_t)(nl - t) : strlen(t);
			char *line = strndup(t, n);

			printf("%s%s", pw_cli_safe(line ? line : ""), nl ? "\n" : "");
			free(line);
			t += n + (nl ? 1 : 0);
		}
	}
	json_decref(res);
	return 0;
}

int pw_cli_recover(struct pw_cli *cli, int argc, char **argv)
{
	bool dry_run = false;
	json_t *res, *st, *a;
	size_t i, k;
	int r;

	r = only_json("recover", cli, argc, argv, "Usage: portwatch recover --dry-run [--json]\n\n"
		      "Run the start-up recovery checks against the running daemon's state and\n"
		      "report what they would change (orphans, conflicts, duplicate singletons,\n"
		      "database integrity), changing nothing. Recovery itself runs at start-up.\n",
		      &dry_run);
	if (r)
		return r < 0 ? 0 : r;
	if (!dry_run)
		return pw_cli_usage("recover", "--dry-run is required: recovery proper runs when "
				    "portwatchd starts");
	r = pw_cli_query(cli, "recover", NULL, &res);
	if (r || !res)
		return r;
	json_array_foreach(json_object_get(res, "steps"), i, st) {
		json_t *age = json_object_get(st, "checked_ms_ago");

		printf("%-11s %lld%s%s", pw_jsafe(st, "step"), (long long)pw_jnum(st, "count"),
		       *pw_jstr(st, "result") ? "  " : "", pw_jsafe(st, "result"));
		/* a verdict reused from a check a few seconds old says so */
		if (json_integer_value(age) > 0)
			printf(" (checked %.1f s ago)", (double)json_integer_value(age) / 1000.0);
		putchar('\n');
		json_array_foreach(json_object_get(st, "actions"), k, a)
			printf("  would %s\n", pw_cli_safe(json_string_value(a)));
	}
	json_decref(res);
	return 0;
}
