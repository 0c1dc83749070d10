/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Each bench_*() prints one JSON line per figure on stdout:
 *   {"bench":"NAME","value":V,"unit":"U","limit":L,"ratio":V/L}
 * with the limit measured in the same run. @seconds is the time budget per figure.
 * Returns FALSE (after printing why on stderr) when a figure could not be measured.
 */
gboolean vtc_bench_quote(gdouble seconds);
gboolean vtc_bench_ima(gdouble seconds, const gchar *testdata_dir);

/* Prints one figure as a JSON line. */
void vtc_bench_print(const gchar *name, gdouble value, const gchar *unit, gdouble limit);

G_END_DECLS
