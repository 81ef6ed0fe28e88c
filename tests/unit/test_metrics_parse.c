// SPDX-License-Identifier: GPL-2.0
/*
 * The Prometheus text-format validator of tests/prom_parse.h on good and bad
 * input, then pw_metrics_render() of a daemon built in memory through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "allocs.h"
#include "config.h"
#include "metrics.h"
#include "prom_parse.h"

static void expect_valid(const char *text)
{
	char err[256];

	if (prom_validate(text, err, sizeof(err)))
		fail_msg("rejected: %s\n--- text:\n%s", err, text);
}

static void expect_invalid(const char *text, const char *why)
{
	char err[256];

	if (!prom_validate(text, err, sizeof(err)))
		fail_msg("accepted, expected \"%s\":\n%s", why, text);
	if (!strstr(err, why))
		fail_msg("error \"%s\" does not mention \"%s\"", err, why);
}

static void test_good(void **state)
{
	(void) state;
	expect_valid("");
	expect_valid("# HELP a_total Things.\n# TYPE a_total counter\na_total 1\n");
	expect_valid("# just a comment\n\n  \nup 1\n");
	expect_valid("m{a=\"x\\\\y\\\"z\\n\",b=\"\",} 3.5 1700000000000\n");
	expect_valid("m { a = \"1\" , b=\"2\" }  -2.5e-3\t-12\n");
	expect_valid("v{k=\"a\"} NaN\nv{k=\"b\"} +Inf\nv{k=\"c\"} -Inf\nv{k=\"d\"} .5\n");
	expect_valid("ns:rule_name 7\n");
	expect_valid("# HELP h Latency.\n# TYPE h histogram\n"
		     "h_bucket{op=\"r\",le=\"0.1\"} 1\nh_bucket{op=\"r\",le=\"1\"} 3\n"
		     "h_bucket{op=\"r\",le=\"+Inf\"} 3\nh_sum{op=\"r\"} 1.2\nh_count{op=\"r\"} 3\n"
		     "h_bucket{op=\"w\",le=\"0.1\"} 0\nh_bucket{op=\"w\",le=\"+Inf\"} 0\n"
		     "h_sum{op=\"w\"} 0\nh_count{op=\"w\"} 0\n");
	expect_valid("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 3\ns_count 2\n");
	/* a label called le outside histograms is an ordinary label */
	expect_valid("g{le=\"1\"} 1\ng{le=\"2\"} 1\n");
}

static void test_bad_lines(void **state)
{
	(void) state;
	expect_invalid("1abc 1\n", "bad metric name");
	expect_invalid("a-b 1\n", "expected a blank");
	expect_invalid("a{1x=\"v\"} 1\n", "bad label name");
	expect_invalid("a{__x=\"v\"} 1\n", "reserved label name");
	expect_invalid("a{x=\"v} 1\n", "unterminated");
	expect_invalid("a{x=\"\\t\"} 1\n", "bad escape");
	expect_invalid("a{x=\"1\",x=\"2\"} 1\n", "repeated");
	expect_invalid("a{x=v} 1\n", "not quoted");
	expect_invalid("a{x=\"1\" y=\"2\"} 1\n", "expected ','");
	expect_invalid("a{x=\"1\"}1\n", "expected a blank");
	expect_invalid("a\n", "expected a blank");
	expect_invalid("a abc\n", "bad value");
	expect_invalid("a 0x10\n", "bad value");
	expect_invalid("a 1 2 3\n", "trailing text");
	expect_invalid("a 1 1.5\n", "bad timestamp");
	expect_invalid("a 1", "newline");
	expect_invalid("# HELP a bad \\t escape\n", "bad escape");
	expect_invalid("# HELP 9a x\n", "bad metric name");
	expect_invalid("x 1\nx 2\n", "repeated");
	expect_invalid("x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2\n", "repeated");
}

static void test_bad_families(void **state)
{
	(void) state;
	expect_invalid("a 1\n# TYPE a counter\n", "after its samples");
	expect_invalid("# TYPE a counter\n# TYPE a gauge\n", "second TYPE");
	expect_invalid("# TYPE a flux\n", "unknown type");
	expect_invalid("# HELP a x\n# HELP a y\n", "second HELP");
	expect_invalid("a 1\nb 1\na{x=\"1\"} 2\n", "not in one group");
}

#define HIST_HEAD "# TYPE h histogram\n"

static void test_bad_histograms(void **state)
{
	(void) state;
	expect_invalid(HIST_HEAD "h_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
		       "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n", "not cumulative");
	expect_invalid(HIST_HEAD "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
		       "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "not above");
	expect_invalid(HIST_HEAD "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf");
	expect_invalid(HIST_HEAD "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
		       "h_sum 1\nh_count 3\n", "differs from _count");
	expect_invalid(HIST_HEAD "h_bucket{le=\"+Inf\"} 2\nh_sum 1\n", "missing _count");
	expect_invalid(HIST_HEAD "h_bucket{le=\"+Inf\"} 2\nh_count 2\n", "missing _sum");
	expect_invalid(HIST_HEAD "h_bucket 2\n", "bucket without le");
	expect_invalid(HIST_HEAD "h_bucket{le=\"x\"} 2\n", "not a number");
	expect_invalid(HIST_HEAD "h_sum{le=\"1\"} 2\n", "le on a non-bucket");
	expect_invalid(HIST_HEAD "h 2\n", "only _bucket");
	expect_invalid(HIST_HEAD "h_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"5\"} 1\n",
		       "after le=\"+Inf\"");
	expect_invalid("h_bucket{le=\"+Inf\"} 1\n" HIST_HEAD, "after its samples");
	/* the checks that need the whole group also run at the end of the text */
	expect_invalid(HIST_HEAD "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
		       "h_bucket{a=\"b\",le=\"+Inf\"} 1\n", "missing _count");
}

static void test_lookup(void **state)
{
	const char *text = "# TYPE h histogram\nh_bucket{a=\"1\",le=\"0.5\"} 4\n"
			   "h_bucket{a=\"1\",le=\"+Inf\"} 9\nh_sum{a=\"1\"} 2\nh_count{a=\"1\"} 9\n"
			   "g{b=\"x\",a=\"q\\\"\"} 5\nplain 6\n";
	double v = 0;

	(void) state;
	expect_valid(text);
	assert_int_equal(prom_value(text, "plain", NULL, &v), 0);
	assert_true(v == 6);
	assert_int_equal(prom_value(text, "g", "b=\"x\",a=\"q\\\"\"", &v), 0);
	assert_true(v == 5);
	assert_int_equal(prom_value(text, "h_count", "a=\"1\"", &v), 0);
	assert_true(v == 9);
	assert_int_equal(prom_value_le(text, "h_bucket", "a=\"1\"", "0.5", &v), 0);
	assert_true(v == 4);
	assert_int_equal(prom_value_le(text, "h_bucket", "a=\"1\"", "+Inf", &v), 0);
	assert_true(v == 9);
	assert_int_equal(prom_value(text, "g", "b=\"x\"", &v), -1);
	assert_int_equal(prom_value(text, "nope", NULL, &v), -1);
}

/* A daemon in memory: config, port map, two allocations, some figures. */
static void test_render(void **state)
{
	static const char cfg[] =
		"{\"service_types\": {\"web\": {\"port_range\": [47000, 47009]},"
		" \"we\\\"b\\\\x\\n\": {\"port_range\": [47010, 47019]}}}";
	struct pw_daemon d = { 0 };
	struct pw_alloc_rt *r;
	char err[256], *text;
	double v = -1;

	(void) state;
	assert_int_equal(pw_config_load_string(cfg, &d.cfg, err, sizeof(err)), 0);
	assert_int_equal(pw_portmap_new(&d.map), 0);
	d.allocs = calloc(1, sizeof(*d.allocs));
	assert_non_null(d.allocs);
	r = d.allocs->v = calloc(3, sizeof(*r));
	assert_non_null(r);
	d.allocs->n = 3;
	snprintf(r[0].a.service_type, sizeof(r[0].a.service_type), "web");
	r[0].a.state = PW_ALLOC_LISTENING;
	snprintf(r[1].a.service_type, sizeof(r[1].a.service_type), "we\"b\\x\n");
	r[1].a.state = PW_ALLOC_UNHEALTHY;
	/* a type no longer configured */
	snprintf(r[2].a.service_type, sizeof(r[2].a.service_type), "gone");
	r[2].a.state = PW_ALLOC_RESERVED;
	d.mode = PW_MODE_POLLING;
	d.started_ns = pw_now_ns();
	d.events[PW_EV_BIND] = 7;
	d.allocs->m.health_checks_unhealthy = 2;
	pw_hist_record(&d.latency, 300000);	/* 0.3 ms */
	pw_hist_record(&d.latency, 2000000000);	/* 2 s: only in +Inf */

	text = pw_metrics_render(&d);
	assert_non_null(text);
	expect_valid(text);
	assert_int_equal(prom_value(text, "portwatch_events_total", "kind=\"bind\"", &v), 0);
	assert_true(v == 7);
	assert_int_equal(prom_value(text, "portwatch_mode", "mode=\"polling\"", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value(text, "portwatch_mode", "mode=\"bpf\"", &v), 0);
	assert_true(v == 0);
	assert_int_equal(prom_value(text, "portwatch_allocations",
				    "state=\"listening\",service_type=\"web\"", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value(text, "portwatch_allocations",
				    "state=\"unhealthy\",service_type=\"we\\\"b\\\\x\\n\"", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value(text, "portwatch_allocations",
				    "state=\"reserved\",service_type=\"gone\"", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value(text, "portwatch_allocations",
				    "state=\"stale\",service_type=\"web\"", &v), 0);
	assert_true(v == 0);
	assert_int_equal(prom_value(text, "portwatch_health_checks_unhealthy_total", NULL, &v), 0);
	assert_true(v == 2);
	assert_int_equal(prom_value(text, "portwatch_ringbuf_dropped_total", NULL, &v), 0);
	assert_true(v == 0);
	assert_int_equal(prom_value_le(text, "portwatch_event_latency_seconds_bucket", NULL,
				       "0.0001", &v), 0);
	assert_true(v == 0);
	assert_int_equal(prom_value_le(text, "portwatch_event_latency_seconds_bucket", NULL,
				       "0.0005", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value_le(text, "portwatch_event_latency_seconds_bucket", NULL,
				       "1", &v), 0);
	assert_true(v == 1);
	assert_int_equal(prom_value_le(text, "portwatch_event_latency_seconds_bucket", NULL,
				       "+Inf", &v), 0);
	assert_true(v == 2);
	assert_int_equal(prom_value(text, "portwatch_event_latency_seconds_sum", NULL, &v), 0);
	assert_true(v > 2.0002 && v < 2.0004);
	assert_int_equal(prom_value(text, "portwatch_detection_latency_seconds_count", NULL, &v),
			 0);
	assert_true(v == 0);
	free(text);
	free(d.allocs->v);
	free(d.allocs);
	pw_portmap_free(d.map);
	pw_config_free(d.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_bad_families),
		cmocka_unit_test(test_bad_histograms),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
