// SPDX-License-Identifier: GPL-2.0
/*
 * The Styxy-compatible HTTP API, replaying the requests Styxy's CLI and
 * hooks send (method, path, headers, JSON body as its command modules and
 * daemon-client.js build them) and checking the answer members they read.
 * Its own network namespace: 127.0.0.1:9876 is ours. Also: Styxy's
 * core-ports.json plus a user override file merged by name, auto-allocation
 * of unknown types into the configured range, the config warnings, and
 * `cleanup` (root only unless --dry-run).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "itest_lib.h"

#define FIXTURE "tests/fixtures/styxy-core-ports.json"
#define BASE "http://127.0.0.1:9876"
#define NOBODY 65534

static struct itest_daemon dmn;
static char tmp[64], token_file[128], override[128], token[160];

struct buf {
	char *p;
	size_t n;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;
	char *np = realloc(b->p, b->n + size * nmemb + 1);

	if (!np)
		return 0;
	memcpy(np + b->n, ptr, size * nmemb);
	b->n += size * nmemb;
	np[b->n] = '\0';
	b->p = np;
	return size * nmemb;
}

/* One request as daemon-client.js makes it: JSON body with Content-Type,
 * "Authorization: Bearer <token>" when auth is given. The status in *code,
 * the body parsed (NULL when not JSON), the raw text in *raw if asked. */
static json_t *http(const char *method, const char *path, const char *body, const char *auth,
		    long *code, char **raw)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = { 0 };
	char url[512], hdr[256];
	json_t *o;

	assert_non_null(e);
	snprintf(url, sizeof(url), BASE "%s", path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L * itest_slow());
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", auth);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	o = b.p ? json_loads(b.p, 0, NULL) : NULL;
	if (raw)
		*raw = b.p;
	else
		free(b.p);
	return o;
}

#define API(method, path, body, code) http(method, path, body, token, code, NULL)

static bool uuid_v4_shape(const char *s)
{
	static const char shape[] = "hhhhhhhh-hhhh-4hhh-Vhhh-hhhhhhhhhhhh";

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		char c = s[i];

		if (shape[i] == '-' || shape[i] == '4' ? c != shape[i] :
		    shape[i] == 'V' ? !strchr("89ab", c) : !strchr("0123456789abcdef", c))
			return false;
	}
	return true;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* src/commands/allocate.js: POST /allocate */
static json_t *allocate(const char *type, const char *name, const char *instance, long *code)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "{\"service_type\":\"%s\",\"service_name\":\"%s\",\"instance_id\":\"%s\","
		 "\"project_path\":\"/tmp/proj\"}", type, name, instance);
	return API("POST", "/allocate", body, code);
}

static void release_lock(const char *lock)
{
	char path[128];
	long code;
	json_t *r;

	snprintf(path, sizeof(path), "/allocate/%s", lock);
	r = API("DELETE", path, NULL, &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
}

static json_t *find_alloc(json_t *list, const char *lock)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(list, "allocations"), i, a)
		if (!strcmp(jstr(a, "lock_id") ?: "", lock))
			return a;
	return NULL;
}

static void test_auth(void **state)
{
	json_t *r;
	long code;
	char *raw;

	(void) state;
	/* daemon-client.js discovers the daemon by GET /status, without a token */
	r = http("GET", "/status", NULL, NULL, &code, NULL);
	assert_int_equal(code, 200);
	assert_string_equal(jstr(r, "status"), "running");
	assert_true(json_is_integer(json_object_get(r, "allocations")));
	json_decref(r);
	r = http("GET", "/allocations", NULL, NULL, &code, NULL);
	assert_int_equal(code, 401);
	assert_true(json_is_false(json_object_get(r, "success")));
	assert_non_null(strstr(jstr(r, "error"), "Authentication required"));
	json_decref(r);
	r = http("GET", "/allocations", NULL, "0123456789abcdef0123456789abcdef", &code, NULL);
	assert_int_equal(code, 401);
	assert_string_equal(jstr(r, "error"), "Invalid API key");
	json_decref(r);
	/* the token file is Styxy's: 64 hex digits, 0600 */
	{
		struct stat st;

		assert_int_equal(stat(token_file, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(st.st_uid, NOBODY);
		assert_int_equal(strlen(token), 64);
	}
	r = http("GET", "/nope", NULL, token, &code, &raw);
	assert_int_equal(code, 404);
	json_decref(r);
	free(raw);
}

static void test_allocate_check_list_release(void **state)
{
	json_t *r, *list, *a, *u;
	char lock[64], path[128];
	long code;
	int port;

	(void) state;
	r = allocate("dev", "web-app", "cli", &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "success")));
	port = (int)jint(r, "port");
	assert_true(port >= 3000 && port <= 3099);
	assert_true(uuid_v4_shape(jstr(r, "lock_id")));
	assert_non_null(strstr(jstr(r, "message"), "allocated for dev service"));
	snprintf(lock, sizeof(lock), "%s", jstr(r, "lock_id"));
	json_decref(r);

	/* src/commands/list.js reads these members */
	list = API("GET", "/allocations", NULL, &code);
	assert_int_equal(code, 200);
	a = find_alloc(list, lock);
	assert_non_null(a);
	assert_int_equal(jint(a, "port"), port);
	assert_string_equal(jstr(a, "service_type"), "dev");
	assert_string_equal(jstr(a, "service_name"), "web-app");
	assert_string_equal(jstr(a, "instance_id"), "cli");
	assert_string_equal(jstr(a, "project_path"), "/tmp/proj");
	assert_non_null(strchr(jstr(a, "allocated_at"), 'T'));
	/* it belongs to the key's owner: that user's portwatch CLI may release it */
	assert_int_equal(jint(a, "uid"), NOBODY);
	json_decref(list);

	/* src/commands/check.js */
	snprintf(path, sizeof(path), "/check/%d", port);
	r = API("GET", path, NULL, &code);
	assert_int_equal(code, 200);
	assert_int_equal(jint(r, "port"), port);
	assert_true(json_is_false(json_object_get(r, "available")));
	assert_string_equal(jstr(json_object_get(r, "allocated_to"), "lock_id"), lock);
	json_decref(r);
	r = API("GET", "/check/3099", NULL, &code);
	assert_true(json_is_true(json_object_get(r, "available")));
	assert_true(json_is_null(json_object_get(r, "allocated_to")));
	json_decref(r);
	r = API("GET", "/check/99999", NULL, &code);
	assert_int_equal(code, 500);
	json_decref(r);

	/* src/commands/release.js */
	snprintf(path, sizeof(path), "/allocate/%s", lock);
	r = API("DELETE", path, NULL, &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "success")));
	assert_int_equal(jint(r, "port"), port);
	json_decref(r);
	r = API("DELETE", path, NULL, &code);
	assert_int_equal(code, 400);
	assert_non_null(strstr(jstr(r, "error"), "not found"));
	json_decref(r);
	r = API("DELETE", "/allocate/not-a-uuid", NULL, &code);
	assert_int_equal(code, 400);
	assert_string_equal(jstr(r, "error"), "lock_id must be a valid UUID v4");
	json_decref(r);
	/* the control socket agrees: released */
	assert_int_equal(itest_call(&dmn, "check", json_pack("{s:i}", "port", port), &u), 0);
	assert_true(json_is_null(json_object_get(u, "allocation")));
	json_decref(u);
}

static void test_validation(void **state)
{
	static const char *const bad[] = {
		"{\"service_name\":\"x\"}",
		"{\"service_type\":\"bad type!\"}",
		"{\"service_type\":\"dev\",\"service_name\":\"no spaces\"}",
		"{\"service_type\":\"dev\",\"preferred_port\":70000}",
		"{\"service_type\":\"dev\",\"instance_id\":\"a/b\"}",
		"{bad json",
		"[1,2]",
	};
	char big[12000];
	json_t *r;
	long code;

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = API("POST", "/allocate", bad[i], &code);
		assert_int_equal(code, 400);
		assert_true(json_is_false(json_object_get(r, "success")));
		assert_non_null(jstr(r, "error"));
		json_decref(r);
	}
	/* a name too long is said to be too long, not to hold wrong characters */
	memset(big, 'a', 5000);
	memcpy(big, "{\"service_type\":\"dev\",\"service_name\":\"", 38);
	memcpy(big + 5000, "\"}", 3);
	r = API("POST", "/allocate", big, &code);
	assert_int_equal(code, 400);
	assert_non_null(strstr(jstr(r, "error"), "longer than"));
	json_decref(r);
	/* Styxy's 10 kB body limit */
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	r = API("POST", "/allocate", big, &code);
	assert_int_equal(code, 413);
	json_decref(r);
}

static void test_singleton(void **state)
{
	json_t *a, *b;
	long code;

	(void) state;
	a = allocate("ai", "ollama", "inst-a", &code);
	assert_int_equal(code, 200);
	b = allocate("ai", "ollama", "inst-b", &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(b, "existing")));
	assert_int_equal(jint(b, "port"), jint(a, "port"));
	assert_string_equal(jstr(b, "lock_id"), jstr(a, "lock_id"));
	assert_string_equal(jstr(b, "existingInstanceId"), "inst-a");
	release_lock(jstr(a, "lock_id"));
	json_decref(a);
	json_decref(b);
}

static void test_auto_allocation(void **state)
{
	json_t *r, *cfg, *rng, *t;
	long code;
	int lo, hi;

	(void) state;
	/* rule "monitoring-*": chunk_size 20; placement "after" within 10000-49151 */
	r = allocate("monitoring-grafana", "g", "cli", &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "auto_allocated")));
	rng = json_object_get(r, "allocated_range");
	lo = (int)json_integer_value(json_array_get(rng, 0));
	hi = (int)json_integer_value(json_array_get(rng, 1));
	assert_int_equal(hi - lo + 1, 20);
	assert_int_equal(jint(r, "chunk_size"), 20);
	assert_true(lo >= 10000 && hi <= 49151);
	assert_true(jint(r, "port") >= lo && jint(r, "port") <= hi);
	release_lock(jstr(r, "lock_id"));
	json_decref(r);
	/* default chunk size, and the type stays (GET /config lists it) */
	r = allocate("brand-new", "x", "cli", &code);
	assert_int_equal(code, 200);
	rng = json_object_get(r, "allocated_range");
	assert_int_equal(json_integer_value(json_array_get(rng, 1)) -
			 json_integer_value(json_array_get(rng, 0)) + 1, 10);
	release_lock(jstr(r, "lock_id"));
	json_decref(r);
	cfg = API("GET", "/config", NULL, &code);
	t = json_object_get(json_object_get(cfg, "service_types"), "brand-new");
	assert_non_null(t);
	assert_true(json_is_array(json_object_get(t, "range")));
	json_decref(cfg);
	/* the JSON protocol auto-allocates too */
	assert_int_equal(itest_call(&dmn, "allocate", json_pack("{s:s, s:i}", "service_type",
				    "via-socket", "pid", getpid()), &r), 0);
	assert_true(jint(r, "port") >= 10000);
	t = r;
	assert_int_equal(itest_call(&dmn, "release", json_pack("{s:I}", "port", jint(t, "port")),
				    &r), 0);
	json_decref(r);
	json_decref(t);
}

static void test_system_usage_and_scan(void **state)
{
	const char *const args[] = { "listen", "tcp4", "0", NULL };
	struct itest_proc h;
	char line[32], path[64];
	json_t *r, *u, *p;
	unsigned port;
	long code;
	size_t i;
	bool seen = false;

	(void) state;
	assert_int_equal(itest_proc_spawn(&h, -1, args), 0);
	assert_int_equal(itest_proc_line(&h, line, sizeof(line), 5000), 0);
	port = (unsigned)atoi(line);
	snprintf(path, sizeof(path), "/check/%u", port);
	assert_true(ITEST_WAIT(({ r = API("GET", path, NULL, &code);
				  bool b = json_is_object(json_object_get(r, "system_usage"));
				  json_decref(r); b; }), 2000 * itest_slow()));
	r = API("GET", path, NULL, &code);
	assert_true(json_is_false(json_object_get(r, "available")));
	u = json_object_get(r, "system_usage");
	/* src/commands/check.js and scan.js read these */
	assert_string_equal(jstr(u, "protocol"), "tcp");
	assert_int_equal(jint(json_object_get(u, "process"), "pid"), h.pid);
	assert_string_equal(jstr(json_object_get(u, "process"), "name"), "helper");
	assert_string_equal(jstr(u, "tool"), "portwatch");
	assert_non_null(jstr(u, "local_address"));
	json_decref(r);
	snprintf(path, sizeof(path), "/scan?start=%u&end=%u", port > 1 ? port - 1 : port, port);
	r = API("GET", path, NULL, &code);
	assert_int_equal(code, 200);
	assert_non_null(jstr(r, "scan_range"));
	json_array_foreach(json_object_get(r, "ports_in_use"), i, p)
		seen |= jint(p, "port") == port && json_is_object(json_object_get(p, "system_usage"));
	assert_true(seen);
	json_decref(r);
	itest_proc_end(&h);
	/* /suggest/:type: free ports of the range; an unknown type falls back to dev */
	r = API("GET", "/suggest/api?count=3", NULL, &code);
	assert_int_equal(json_array_size(json_object_get(r, "suggestions")), 3);
	json_decref(r);
	r = API("GET", "/suggest/nonesuch", NULL, &code);
	assert_string_equal(jstr(r, "service_type"), "dev");
	json_decref(r);
}

static void test_instances_and_ownership(void **state)
{
	const char *const args[] = { "hold", NULL };
	struct itest_proc h;
	char line[32], body[256];
	json_t *r, *a, *inst;
	long code;
	size_t i;
	bool seen = false;
	int port;

	(void) state;
	assert_int_equal(itest_proc_spawn(&h, -1, args), 0);
	assert_int_equal(itest_proc_line(&h, line, sizeof(line), 5000), 0);
	/* src/commands/instances.js and the session-start hook */
	snprintf(body, sizeof(body), "{\"instance_id\":\"claude-test\",\"working_directory\":"
		 "\"/tmp/proj\",\"metadata\":{\"pid\":%d}}", h.pid);
	r = API("POST", "/instance/register", body, &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "success")));
	json_decref(r);
	r = API("PUT", "/instance/claude-test/heartbeat", NULL, &code);
	assert_int_equal(code, 200);
	assert_non_null(jstr(r, "last_heartbeat"));
	json_decref(r);
	r = API("PUT", "/instance/nobody-here/heartbeat", NULL, &code);
	assert_int_equal(code, 404);
	json_decref(r);
	r = API("POST", "/instance/register", "{}", &code);
	assert_int_equal(code, 400);
	json_decref(r);
	/* an allocation for the instance is owned by its process */
	a = allocate("api", "svc", "claude-test", &code);
	assert_int_equal(code, 200);
	port = (int)jint(a, "port");
	r = API("GET", "/instance/list", NULL, &code);
	json_array_foreach(json_object_get(r, "instances"), i, inst) {
		if (strcmp(jstr(inst, "instance_id"), "claude-test"))
			continue;
		seen = true;
		assert_string_equal(jstr(inst, "working_directory"), "/tmp/proj");
		assert_int_equal(json_array_size(json_object_get(inst, "active_allocations")), 1);
	}
	assert_true(seen);
	json_decref(r);
	assert_int_equal(itest_call(&dmn, "check", json_pack("{s:i}", "port", port), &r), 0);
	assert_int_equal(jint(json_object_get(r, "allocation"), "pid"), h.pid);
	json_decref(r);
	/* kthreadd (pid 2) never exits: as pid 1, no owner, the daemon holds it */
	r = API("POST", "/instance/register", "{\"instance_id\":\"kthread\",\"pid\":2}", &code);
	assert_int_equal(code, 200);
	json_decref(r);
	{
		json_t *k = allocate("api", "svc2", "kthread", &code), *c = NULL;
		char path[128];

		assert_int_equal(code, 200);
		assert_int_equal(itest_call(&dmn, "check", json_pack("{s:i}", "port",
					    (int)jint(k, "port")), &c), 0);
		assert_int_equal(jint(json_object_get(c, "allocation"), "pid"), dmn.pid);
		json_decref(c);
		snprintf(path, sizeof(path), "/allocate/%s", jstr(k, "lock_id"));
		json_decref(API("DELETE", path, NULL, &code));
		assert_int_equal(code, 200);
		json_decref(k);
	}
	/* ... and released when it exits */
	itest_proc_end(&h);
	assert_true(ITEST_WAIT(({ json_t *c = NULL; bool gone = !itest_call(&dmn, "check",
				  json_pack("{s:i}", "port", port), &c) &&
				  json_is_null(json_object_get(c, "allocation"));
				  json_decref(c); gone; }), 1000 * itest_slow()));
	json_decref(a);
}

static void test_cleanup_health_metrics(void **state)
{
	json_t *r, *a, *list;
	char lock[64], *raw = NULL;
	long code;

	(void) state;
	/* an allocation with no live instance is the daemon's: it stays until
	 * DELETE or cleanup, as in Styxy (a hook's curl has long exited) */
	a = allocate("docs", "site", "hook", &code);
	snprintf(lock, sizeof(lock), "%s", jstr(a, "lock_id"));
	json_decref(a);
	/* src/commands/cleanup.js: not forced, a fresh allocation stays */
	r = API("POST", "/cleanup", "{\"force\":false}", &code);
	assert_int_equal(code, 200);
	assert_true(json_is_true(json_object_get(r, "success")));
	assert_true(json_is_integer(json_object_get(r, "cleaned")));
	json_decref(r);
	list = API("GET", "/allocations", NULL, &code);
	assert_non_null(find_alloc(list, lock));
	json_decref(list);
	r = API("POST", "/cleanup", "{\"force\":true}", &code);
	assert_true(jint(r, "cleaned") >= 1);
	json_decref(r);
	list = API("GET", "/allocations", NULL, &code);
	assert_null(find_alloc(list, lock));
	json_decref(list);
	/* /health: Styxy's core-ports.json turns monitoring off: a warning */
	r = API("GET", "/health", NULL, &code);
	assert_int_equal(code, 200);
	assert_string_equal(jstr(r, "status"), "warning");
	assert_true(json_array_size(json_object_get(r, "warnings")) >= 1);
	json_decref(r);
	/* /metrics?format=prometheus: the daemon's exposition */
	r = http("GET", "/metrics?format=prometheus", NULL, token, &code, &raw);
	assert_int_equal(code, 200);
	assert_non_null(strstr(raw, "portwatch_allocations_total"));
	json_decref(r);
	free(raw);
	r = API("GET", "/audit", NULL, &code);
	assert_true(json_array_size(json_object_get(r, "recent_events")) > 0);
	json_decref(r);
}

/* Styxy's core-ports.json unchanged plus an override: the merged type list
 * equals Styxy's (its 17 + the override's new one, dev replaced by name). */
static void test_config_merge_warnings_cleanup(void **state)
{
	static const char *const styxy17[] = {
		"dev", "api", "database", "auth", "functions", "ui", "hub", "storybook", "test",
		"proxy", "docs", "monitoring", "build", "infrastructure", "ai", "messaging",
		"coordination",
	};
	json_t *types, *t, *st;
	char *out = NULL;
	size_t i;
	int rc;

	(void) state;
	assert_int_equal(itest_call(&dmn, "types", NULL, &types), 0);
	for (size_t k = 0; k < sizeof(styxy17) / sizeof(styxy17[0]); k++) {
		bool found = false;

		json_array_foreach(types, i, t)
			found |= !strcmp(jstr(t, "name"), styxy17[k]);
		assert_true(found);
	}
	json_array_foreach(types, i, t) {
		if (!strcmp(jstr(t, "name"), "dev"))
			assert_int_equal(json_integer_value(json_array_get(
				json_object_get(t, "port_range"), 1)), 3049);
	}
	{
		bool extra = false;

		json_array_foreach(types, i, t)
			extra |= !strcmp(jstr(t, "name"), "my-extra");
		assert_true(extra);
	}
	json_decref(types);
	assert_int_equal(itest_call(&dmn, "status", NULL, &st), 0);
	assert_true(json_array_size(json_object_get(st, "config_warnings")) >= 1);
	json_decref(st);
	/* cleanup: a dry run for anyone, the real one for root only */
	rc = itest_cli(&dmn, NOBODY, &out, (const char *[]){ "cleanup", "--dry-run", NULL });
	assert_int_equal(rc, 0);
	free(out);
	out = NULL;
	rc = itest_cli(&dmn, NOBODY, &out, (const char *[]){ "cleanup", NULL });
	assert_int_equal(rc, 5);
	free(out);
	out = NULL;
	rc = itest_cli(&dmn, -1, &out, (const char *[]){ "cleanup", NULL });
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "cleanup:"));
	free(out);
	/* a dead owner's allocation left behind is what cleanup releases: the
	 * exit is seen live here, so check the report's shape only */
	rc = itest_cli(&dmn, -1, &out, (const char *[]){ "doctor", NULL });
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "config       warn"));
	free(out);
}

static bool status_answers(void)
{
	CURL *e = curl_easy_init();
	struct buf b = { 0 };
	long code = 0;

	curl_easy_setopt(e, CURLOPT_URL, BASE "/status");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	free(b.p);
	return code == 200;
}

static char opt_tok[160], opt_ovr[160];
static const char *extra[] = { "--config", FIXTURE, "--styxy-http=127.0.0.1:9876", opt_tok,
			       "--config-override", opt_ovr, NULL };

/* The daemon's owner of an allocation: its pid per `check`. */
static json_int_t owner_pid(json_int_t port)
{
	json_int_t pid = -1;
	json_t *c = NULL;

	if (!itest_call(&dmn, "check", json_pack("{s:I}", "port", port), &c))
		pid = jint(json_object_get(c, "allocation"), "pid");
	json_decref(c);
	return pid;
}

/*
 * A restart keeps what Styxy keeps: auto-allocated types
 * (<state>/auto-types.json), and the allocations the daemon owns (for no
 * live instance), with their lock ids; the new daemon owns them.
 */
static void test_restart_keeps_types_and_allocations(void **state)
{
	json_t *cfg, *t, *a, *list;
	json_int_t lo, hi, port;
	char lock[64];
	long code;

	(void) state;
	a = allocate("api", "kept", "no-such-instance", &code);
	assert_int_equal(code, 200);
	port = jint(a, "port");
	snprintf(lock, sizeof(lock), "%s", jstr(a, "lock_id"));
	json_decref(a);
	assert_int_equal(owner_pid(port), dmn.pid);
	cfg = API("GET", "/config", NULL, &code);
	t = json_object_get(json_object_get(cfg, "service_types"), "brand-new");
	assert_non_null(t);
	lo = json_integer_value(json_array_get(json_object_get(t, "range"), 0));
	hi = json_integer_value(json_array_get(json_object_get(t, "range"), 1));
	json_decref(cfg);
	assert_int_equal(itest_daemon_stop(&dmn, SIGTERM), 0);
	assert_int_equal(itest_daemon_restart(&dmn, extra), 0);
	assert_true(ITEST_WAIT(status_answers(), 10000 * itest_slow()));
	cfg = API("GET", "/config", NULL, &code);
	t = json_object_get(json_object_get(cfg, "service_types"), "brand-new");
	assert_non_null(t);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(t, "range"), 0)), lo);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(t, "range"), 1)), hi);
	json_decref(cfg);
	/* the allocation too: same port and lock id, owned by this daemon */
	list = API("GET", "/allocations", NULL, &code);
	assert_int_equal(code, 200);
	a = find_alloc(list, lock);
	assert_non_null(a);
	assert_int_equal(jint(a, "port"), port);
	json_decref(list);
	assert_int_equal(owner_pid(port), dmn.pid);
	release_lock(lock);
	assert_int_equal(owner_pid(port), 0);
}

static int setup(void **state)
{
	FILE *f;
	int fd, n;

	(void) state;
	if (itest_unshare_net())
		return -1;
	snprintf(tmp, sizeof(tmp), "/tmp/pw-itest-sx-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(token_file, sizeof(token_file), "%s/home/.styxy/auth.token", tmp);
	/* a user's home: the generated key (and its directory) become theirs */
	snprintf(override, sizeof(override), "%s/home", tmp);
	if (chmod(tmp, 0755) || mkdir(override, 0755) || chown(override, NOBODY, NOBODY))
		return -1;
	snprintf(override, sizeof(override), "%s/config.json", tmp);
	f = fopen(override, "w");
	if (!f)
		return -1;
	fprintf(f, "{\"service_types\": {\"dev\": {\"port_range\": [3000, 3049]},\n"
		   " \"my-extra\": {\"port_range\": [47000, 47009]}}}\n");
	fclose(f);
	snprintf(opt_tok, sizeof(opt_tok), "--styxy-token-file=%s", token_file);
	extra[3] = opt_tok;
	snprintf(opt_ovr, sizeof(opt_ovr), "%s", override);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (itest_daemon_start(&dmn, extra))
		return -1;
	/* the control socket accepts before the daemon's loop runs: wait for
	 * the HTTP listener, which opens just after it */
	if (!ITEST_WAIT(status_answers(), 10000 * itest_slow()))
		return -1;
	/* the daemon generated the token (as Styxy's daemon does): read it */
	fd = open(token_file, O_RDONLY);
	if (fd < 0)
		return -1;
	n = (int)read(fd, token, sizeof(token) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	token[n] = '\0';
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void) state;
	itest_daemon_cleanup(&dmn);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd))
		return -1;
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_allocate_check_list_release),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_singleton),
		cmocka_unit_test(test_auto_allocation),
		cmocka_unit_test(test_system_usage_and_scan),
		cmocka_unit_test(test_instances_and_ownership),
		cmocka_unit_test(test_cleanup_health_metrics),
		cmocka_unit_test(test_config_merge_warnings_cleanup),
		cmocka_unit_test(test_restart_keeps_types_and_allocations),
	};

	itest_require_root();
	return cmocka_run_group_tests(tests, setup, teardown);
}
