/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-bench-evidence: the speed of the evidence core against the limits measured in the same
 * run (OpenSSL's raw verify rate, evmctl on the same IMA log). Figures, not pass/fail: the
 * machines are shared and noisy, so compare the ratios.
 */
#include <locale.h>
#include <stdio.h>

#include "vtc-bench.h"

void
vtc_bench_print(const gchar *name, gdouble value, const gchar *unit, gdouble limit)
{
        gchar v[G_ASCII_DTOSTR_BUF_SIZE];
        gchar l[G_ASCII_DTOSTR_BUF_SIZE];
        gchar r[G_ASCII_DTOSTR_BUF_SIZE];

        g_ascii_formatd(v, sizeof(v), "%.1f", value);
        g_ascii_formatd(l, sizeof(l), "%.1f", limit);
        g_ascii_formatd(r, sizeof(r), "%.3f", limit > 0 ? value / limit : 0.0);
        printf("{\"bench\":\"%s\",\"value\":%s,\"unit\":\"%s\",\"limit\":%s,\"ratio\":%s}\n",
               name,
               v,
               unit,
               l,
               r);
        fflush(stdout);
}

int
main(int argc, char **argv)
{
        gdouble seconds = 2.0;
        g_autofree gchar *only = NULL;
        g_autofree gchar *testdata = NULL;
        gboolean ok = TRUE;
        GOptionEntry entries[] = {
            {"seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "time budget per figure", "S"},
            {"only", 0, 0, G_OPTION_ARG_STRING, &only, "run only 'quote' or 'ima'", "WHAT"},
            {"testdata", 0, 0, G_OPTION_ARG_FILENAME, &testdata, "shared test corpus", "DIR"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- benchmark the evidence core");
        g_autoptr(GError) error = NULL;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_description(
            ctx,
            "Prints one JSON line per figure: {\"bench\",\"value\",\"unit\",\"limit\",\"ratio\"}.\n"
            "quote_verify_*: full quote checks per second against OpenSSL's raw verify rate for\n"
            "the same key. ima_replay_policy: entries per second replaying and checking a binary\n"
            "IMA log against a Keylime runtime policy (vtc-policy), with evmctl timed on the same log;\n"
            "ima_replay_allowlist: the same with a bare hash-set allowlist. *_cpu: per CPU second.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-bench-evidence: %s\n", error->message);
                return 2;
        }
        if (testdata == NULL)
                testdata = g_strdup(g_getenv("VTC_TESTDATA") != NULL ? g_getenv("VTC_TESTDATA")
                                                                     : "../shared/testdata");
        if (only == NULL || g_strcmp0(only, "quote") == 0)
                ok = vtc_bench_quote(seconds) && ok;
        if (only == NULL || g_strcmp0(only, "ima") == 0)
                ok = vtc_bench_ima(seconds, testdata) && ok;
        return ok ? 0 : 1;
}
