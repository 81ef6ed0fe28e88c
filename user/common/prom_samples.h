/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Prometheus text format (0.0.4) as data: one object per sample,
 * {"name", "labels": {...}, "value", "type"}, for `portwatch metrics --json`.
 * Pure, no I/O.
 */
#ifndef PW_PROM_SAMPLES_H
#define PW_PROM_SAMPLES_H

#include <jansson.h>

/* A new array of samples, or NULL when the text does not parse. Values are
 * JSON numbers; NaN and infinities, which JSON lacks, are the strings "NaN",
 * "+Inf", "-Inf". "type" comes from the metric's # TYPE line (histogram
 * _bucket, _sum and _count samples take their histogram's), else "untyped". */
json_t *pw_prom_samples(const char *text);

#endif
