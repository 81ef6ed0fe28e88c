// SPDX-License-Identifier: GPL-2.0
/*
 * CLI: `ports --summary`, in the spirit of `ss -s`: the sockets of a ports
 * result (filters applied) counted by protocol and family, by state, by
 * network namespace, and the processes holding the most. Computed from the
 * listing, so the daemon needs no second code path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TOP_HOLDERS 10

void pw_fmt_netns(json_t *sock, char *buf, size_t len)
{
	json_t *name = json_object_get(sock, "netns_name");

	if (json_is_string(name))
		snprintf(buf, len, "%s", json_string_value(name));
	else if (pw_jnum(sock, "netns_inode"))
		snprintf(buf, len, "%lld", (long long)pw_jnum(sock, "netns_inode"));
	else
		/* the namespace is gone, or was never seen by the resolver */
		snprintf(buf, len, "cookie:%lld", (long long)pw_jnum(sock, "netns"));
}

static void count(json_t *o, const char *key)
{
	json_object_set_new(o, key, json_integer(pw_jnum(o, key) + 1));
}

static int by_count_desc(const void *a, const void *b)
{
	json_int_t x = pw_jnum(*(json_t *const *)a, "sockets");
	json_int_t y = pw_jnum(*(json_t *const *)b, "sockets");

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Group the sockets by key(sock) into objects {label fields..., "sockets": n},
 * sorted by count, at most limit of them (0: all). */
static json_t *group(json_t *ports, bool holders, size_t limit)
{
	json_t *idx = json_object(), *arr = json_array(), *v, *g;
	json_t **sorted;
	const char *k;
	size_t i, n = 0;

	json_array_foreach(ports, i, v) {
		char key[320];

		if (holders)
			snprintf(key, sizeof(key), "%lld", (long long)pw_jnum(v, "pid"));
		else
			snprintf(key, sizeof(key), "%lld", (long long)pw_jnum(v, "netns"));
		g = json_object_get(idx, key);
		if (!g) {
			char nsname[300];

			if (holders) {
				g = json_pack("{s:I, s:s, s:I}", "pid", pw_jnum(v, "pid"), "comm",
					      pw_jstr(v, "comm"), "uid", pw_jnum(v, "uid"));
			} else {
				pw_fmt_netns(v, nsname, sizeof(nsname));
				g = json_pack("{s:s, s:I, s:I, s:O}", "netns", nsname, "netns_inode",
					      pw_jnum(v, "netns_inode"), "netns_cookie", pw_jnum(v, "netns"),
					      "netns_name", json_object_get(v, "netns_name") ?
					      json_object_get(v, "netns_name") : json_null());
			}
			json_object_set_new(idx, key, g);
		}
		count(g, "sockets");
	}
	sorted = calloc(json_object_size(idx) + 1, sizeof(*sorted));
	json_object_foreach(idx, k, g)
		if (sorted)
			sorted[n++] = g;
	if (sorted)
		qsort(sorted, n, sizeof(*sorted), by_count_desc);
	for (i = 0; i < n && (!limit || i < limit); i++)
		json_array_append(arr, sorted[i]);
	free(sorted);
	json_decref(idx);
	return arr;
}

void pw_cli_ports_summary(struct pw_cli *cli, json_t *ports, bool no_header)
{
	json_t *sum, *proto = json_object(), *state = json_object(), *v, *ns, *top;
	char key[32];
	const char *k;
	size_t i;

	json_array_foreach(ports, i, v) {
		snprintf(key, sizeof(key), "%s%s", pw_jstr(v, "proto"),
			 strcmp(pw_jstr(v, "family"), "ipv6") ? "4" : "6");
		count(proto, key);
		count(state, pw_jstr(v, "state"));
	}
	ns = group(ports, false, 0);
	top = group(ports, true, TOP_HOLDERS);
	sum = json_pack("{s:I, s:o, s:o, s:o, s:o}", "total", (json_int_t)json_array_size(ports),
			"by_proto", proto, "by_state", state, "by_netns", ns, "top_holders", top);
	if (cli->json) {
		pw_cli_print_json(sum);
		json_decref(sum);
		return;
	}
	printf("Total: %zu sockets\n", json_array_size(ports));
	printf("\nBy protocol:");
	json_object_foreach(proto, k, v)
		printf("  %s %lld", pw_cli_safe(k), (long long)json_integer_value(v));
	printf("\nBy state:   ");
	json_object_foreach(state, k, v)
		printf("  %s %lld", pw_cli_safe(k), (long long)json_integer_value(v));
	printf("\n\n");
	{
		static const char *const hdr[] = { "NETNS", "INODE", "COOKIE", "SOCKETS" };
		struct pw_table *t = pw_table_new(4, hdr);

		if (no_header)
			pw_table_no_header(t);
		json_array_foreach(ns, i, v) {
			char ino[24], ck[24], n[24];
			const char *row[4] = { pw_jstr(v, "netns"), ino, ck, n };

			snprintf(ino, sizeof(ino), "%lld", (long long)pw_jnum(v, "netns_inode"));
			snprintf(ck, sizeof(ck), "%lld", (long long)pw_jnum(v, "netns_cookie"));
			snprintf(n, sizeof(n), "%lld", (long long)pw_jnum(v, "sockets"));
			pw_table_add(t, row);
		}
		pw_table_print(t);
		pw_table_free(t);
	}
	printf("\nTop holders:\n");
	{
		static const char *const hdr[] = { "PID", "COMM", "UID", "SOCKETS" };
		struct pw_table *t = pw_table_new(4, hdr);

		if (no_header)
			pw_table_no_header(t);
		json_array_foreach(top, i, v) {
			char pid[16], uid[16], n[24];
			const char *row[4] = { pid, *pw_jstr(v, "comm") ? pw_jstr(v, "comm") : "-", uid,
					       n };

			snprintf(pid, sizeof(pid), "%lld", (long long)pw_jnum(v, "pid"));
			snprintf(uid, sizeof(uid), "%lld", (long long)pw_jnum(v, "uid"));
			snprintf(n, sizeof(n), "%lld", (long long)pw_jnum(v, "sockets"));
			if (!pw_jnum(v, "pid"))
				snprintf(pid, sizeof(pid), "-");
			pw_table_add(t, row);
		}
		pw_table_print(t);
		pw_table_free(t);
	}
	json_decref(sum);
}
