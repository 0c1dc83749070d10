/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-bench-hostd: batched host quotes against one quote per request, on a private swtpm.
 *
 * For each N, N binding requests are submitted at once (N concurrent requests) to hostd's
 * batcher (VtcHostdBatch over VtcHostdTpm, the real code and the real TPM worker thread), and
 * then N requests to the naive path: one TPM2_Quote per request through the same worker. Each
 * run prints one JSON line:
 *   {"bench":"hostd_binding","mode":"batched"|"naive","n":N,"requests_per_s":R,
 *    "hw_quotes":Q,"p50_ms":..,"p99_ms":..,"max_ms":..,"window_ms":W,"quote_ms":T,
 *    "target_p99_ms":W+T,"submit_ms":..,"batch_job_ms":..,"failed":F,"verified":true}
 * (naive runs print null for batch_job_ms and verified: they are bare quotes)
 * where quote_ms is the median time of one quote (AK quote + PCR read) measured first, and the
 * target is: 1,000 concurrent requests served by at most 2 quotes with p99 <= window + 1 quote.
 * Every batched answer is checked after the clock stops (inclusion proof, quote signature,
 * extraData = root, PCR values), as a verifier would.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>

#include "vtc-hostd-batch.h"
#include "vtc-swtpm.h"
#include "vtc-util.h"

typedef struct {
        guint8 uuid[16];
        guint8 binding[VTC_MERKLE_HASH_SIZE];
        gint64 submitted;
        gint64 answered;
        VtcHostdBatchAnswer *answer;
        GError *error;
} BenchRequest;

typedef struct {
        VtcHostdTpm *tpm;
        VtcHostdBatch *batch;
        VtcQuoteAk *ak;
        TPML_PCR_SELECTION selection;
        BenchRequest *reqs;
        guint n;
        guint n_done;
        guint n_failed;
} Bench;

static void
bench_fill(BenchRequest *reqs, guint n, guint salt)
{
        for (guint i = 0; i < n; i++) {
                guint8 text[8];

                memset(&reqs[i], 0, sizeof(reqs[i]));
                for (guint k = 0; k < 4; k++) {
                        text[k] = (guint8)(i >> (8 * k));
                        text[4 + k] = (guint8)(salt >> (8 * k));
                }
                vtc_merkle_binding(text, sizeof(text), NULL, 0, reqs[i].binding);
                memcpy(reqs[i].uuid, reqs[i].binding + 16, 16);
        }
}

static gint
cmp_i64(gconstpointer a, gconstpointer b)
{
        gint64 x = *(const gint64 *)a;
        gint64 y = *(const gint64 *)b;
        return x < y ? -1 : x > y;
}

/* Latency percentile in ms over the answered requests. */
static gdouble
bench_percentile(const gint64 *sorted, guint n, gdouble p)
{
        guint idx;

        if (n == 0)
                return 0.0;
        idx = (guint)(p * (n - 1) + 0.5);
        return (gdouble)sorted[MIN(idx, n - 1)] / 1000.0;
}

static void
bench_print(const gchar *mode,
            guint n,
            const BenchRequest *reqs,
            gint64 start,
            guint64 quotes,
            guint window_ms,
            gdouble quote_ms,
            const gchar *verified,
            guint failed,
            gdouble job_ms)
{
        g_autofree gint64 *lat = g_new(gint64, n);
        g_autofree gchar *job_str =
            job_ms >= 0 ? g_strdup_printf("%.3f", job_ms) : g_strdup("null");
        gint64 end = start;
        gdouble secs;

        for (guint i = 0; i < n; i++) {
                lat[i] = reqs[i].answered - reqs[i].submitted;
                end = MAX(end, reqs[i].answered);
        }
        qsort(lat, n, sizeof(gint64), cmp_i64);
        secs = (gdouble)(end - start) / G_USEC_PER_SEC;
        printf("{\"bench\":\"hostd_binding\",\"mode\":\"%s\",\"n\":%u,\"requests_per_s\":%.1f,"
               "\"hw_quotes\":%" G_GUINT64_FORMAT ",\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
               "\"max_ms\":%.2f,\"window_ms\":%u,\"quote_ms\":%.3f,\"target_p99_ms\":%.2f,"
               "\"submit_ms\":%.2f,\"batch_job_ms\":%s,\"failed\":%u,\"verified\":%s}\n",
               mode,
               n,
               secs > 0 ? n / secs : 0.0,
               quotes,
               bench_percentile(lat, n, 0.50),
               bench_percentile(lat, n, 0.99),
               bench_percentile(lat, n, 1.0),
               window_ms,
               quote_ms,
               window_ms + quote_ms,
               (gdouble)(reqs[n - 1].submitted - reqs[0].submitted) / 1000.0,
               job_str,
               failed,
               verified);
        fflush(stdout);
}

typedef struct {
        Bench *b;
        BenchRequest *req;
} BenchCall;

static void
bench_batched_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        BenchCall *call = user_data;

        call->req->answered = g_get_monotonic_time();
        call->req->answer = vtc_hostd_batch_submit_finish(call->b->batch, res, &call->req->error);
        call->b->n_done++;
        if (call->req->answer == NULL)
                call->b->n_failed++;
}

static void
bench_naive_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        BenchCall *call = user_data;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) signature = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;

        call->req->answered = g_get_monotonic_time();
        if (!vtc_hostd_tpm_quote_finish(call->b->tpm,
                                        res,
                                        &attest,
                                        &signature,
                                        &pcrs,
                                        &call->req->error))
                call->b->n_failed++;
        call->b->n_done++;
}

/* The checks a verifier makes on one batched answer; quotes already checked are skipped. */
static gboolean
bench_verify(Bench *b, const BenchRequest *req, GHashTable *checked, GError **error)
{
        const VtcHostdBatchAnswer *a = req->answer;
        guint8 leaf[VTC_MERKLE_HASH_SIZE];
        g_autoptr(VtcQuote) quote = NULL;
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig = {0};

        vtc_merkle_leaf_hash(req->uuid, req->binding, leaf);
        if (!vtc_merkle_verify_inclusion(leaf,
                                         a->leaf_index,
                                         a->quote->tree_size,
                                         a->proof,
                                         a->n_proof,
                                         a->quote->root,
                                         error))
                return FALSE;
        if (g_hash_table_contains(checked, a->quote))
                return TRUE;
        quote = vtc_quote_parse(g_bytes_get_data(a->quote->attest, NULL),
                                g_bytes_get_size(a->quote->attest),
                                error);
        if (quote == NULL)
                return FALSE;
        if (!vtc_quote_signature_parse(g_bytes_get_data(a->quote->signature, NULL),
                                       g_bytes_get_size(a->quote->signature),
                                       &sig,
                                       error))
                return FALSE;
        if (!vtc_quote_check(quote,
                             &sig,
                             b->ak,
                             a->quote->root,
                             VTC_MERKLE_HASH_SIZE,
                             a->quote->pcrs,
                             TPM2_ALG_SHA256,
                             VTC_QUOTE_CHECK_EXACT_PCRS,
                             &result,
                             error))
                return FALSE;
        if (!result.valid) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "batch %" G_GUINT64_FORMAT ": %s",
                            a->quote->serial,
                            result.reason);
                return FALSE;
        }
        g_hash_table_add(checked, a->quote);
        return TRUE;
}

static void
bench_wait(Bench *b, guint n)
{
        while (b->n_done < n)
                g_main_context_iteration(NULL, TRUE);
}

static gboolean
bench_batched(Bench *b, guint n, guint window_ms, gdouble quote_ms, GError **error)
{
        g_autofree BenchRequest *reqs = g_new0(BenchRequest, n);
        g_autofree BenchCall *calls = g_new0(BenchCall, n);
        g_autoptr(GHashTable) checked = g_hash_table_new(NULL, NULL);
        VtcHostdBatchMetrics before = {0};
        VtcHostdBatchMetrics after = {0};
        gboolean verified = TRUE;
        gint64 start;

        bench_fill(reqs, n, 1);
        b->n_done = 0;
        b->n_failed = 0;
        vtc_hostd_batch_get_metrics(b->batch, &before);
        start = g_get_monotonic_time();
        for (guint i = 0; i < n; i++) {
                calls[i].b = b;
                calls[i].req = &reqs[i];
                reqs[i].submitted = g_get_monotonic_time();
                vtc_hostd_batch_submit_async(b->batch,
                                             reqs[i].uuid,
                                             reqs[i].binding,
                                             NULL,
                                             bench_batched_cb,
                                             &calls[i]);
        }
        bench_wait(b, n);
        vtc_hostd_batch_get_metrics(b->batch, &after);
        for (guint i = 0; i < n; i++) {
                g_autoptr(GError) error_local = NULL;

                if (reqs[i].answer == NULL) {
                        verified = FALSE;
                        continue;
                }
                if (verified && !bench_verify(b, &reqs[i], checked, &error_local)) {
                        g_printerr("request %u does not verify: %s\n", i, error_local->message);
                        verified = FALSE;
                }
        }
        bench_print("batched",
                    n,
                    reqs,
                    start,
                    after.quotes - before.quotes,
                    window_ms,
                    quote_ms,
                    verified ? "true" : "false",
                    b->n_failed,
                    after.quotes > before.quotes
                        ? 1000.0 * (after.quote_seconds_sum - before.quote_seconds_sum) /
                              (gdouble)(after.quotes - before.quotes)
                        : 0.0);
        for (guint i = 0; i < n; i++) {
                if (reqs[i].error != NULL && i == 0)
                        g_printerr("first failure: %s\n", reqs[i].error->message);
                vtc_hostd_batch_answer_free(reqs[i].answer);
                g_clear_error(&reqs[i].error);
        }
        if (!verified) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "batched answers for N=%u did not all verify",
                            n);
                return FALSE;
        }
        return TRUE;
}

/* Returns the wall time it took, in seconds. */
static gdouble
bench_naive(Bench *b, guint n, gdouble quote_ms)
{
        g_autofree BenchRequest *reqs = g_new0(BenchRequest, n);
        g_autofree BenchCall *calls = g_new0(BenchCall, n);
        gint64 start;

        bench_fill(reqs, n, 2);
        b->n_done = 0;
        b->n_failed = 0;
        start = g_get_monotonic_time();
        for (guint i = 0; i < n; i++) {
                guint8 leaf[VTC_MERKLE_HASH_SIZE];

                calls[i].b = b;
                calls[i].req = &reqs[i];
                reqs[i].submitted = g_get_monotonic_time();
                vtc_merkle_leaf_hash(reqs[i].uuid, reqs[i].binding, leaf);
                vtc_hostd_tpm_quote_async(b->tpm,
                                          leaf,
                                          sizeof(leaf),
                                          &b->selection,
                                          NULL,
                                          bench_naive_cb,
                                          &calls[i]);
        }
        bench_wait(b, n);
        /* naive answers are bare quotes: nothing batched to verify, no batch job */
        bench_print("naive", n, reqs, start, n, 0, quote_ms, "null", b->n_failed, -1.0);
        for (guint i = 0; i < n; i++)
                g_clear_error(&reqs[i].error);
        return (gdouble)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
}

/* The median time of one quote job (AK quote + PCR read + consistency check). */
static gdouble
bench_quote_ms(Bench *b, GError **error)
{
        gint64 t[21];
        guint8 nonce[32] = {0};

        for (guint i = 0; i < G_N_ELEMENTS(t); i++) {
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) signature = NULL;
                g_autoptr(VtcPcrValues) pcrs = NULL;
                gint64 s = g_get_monotonic_time();

                if (!vtc_hostd_tpm_quote_sync(b->tpm,
                                              nonce,
                                              sizeof(nonce),
                                              &b->selection,
                                              &attest,
                                              &signature,
                                              &pcrs,
                                              error))
                        return -1.0;
                t[i] = g_get_monotonic_time() - s;
        }
        qsort(t, G_N_ELEMENTS(t), sizeof(gint64), cmp_i64);
        return (gdouble)t[G_N_ELEMENTS(t) / 2] / 1000.0;
}

/* The bench's own temporary directory: swtpm's state, one level of subdirectories. */
static void
bench_rmtree(const gchar *path)
{
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const gchar *name;

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
                g_autofree gchar *child = g_build_filename(path, name, NULL);

                if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                        bench_rmtree(child);
                else
                        g_unlink(child);
        }
        g_rmdir(path);
}

static void
bench_print_env(void)
{
        g_autofree gchar *load = NULL;

        if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL))
                g_strstrip(load);
        printf("{\"bench\":\"hostd_env\",\"loadavg\":\"%s\",\"cpus\":%u}\n",
               load != NULL ? load : "?",
               g_get_num_processors());
        fflush(stdout);
}

int
main(int argc, char **argv)
{
        g_autofree gchar *sizes_arg = NULL;
        gint window_ms = VTC_HOSTD_BATCH_WINDOW_MS_DEFAULT;
        gint max_pending = VTC_HOSTD_BATCH_MAX_PENDING_DEFAULT;
        gdouble naive_budget = 60.0;
        gboolean rsa = FALSE;
        GOptionEntry entries[] = {
            {"sizes",
             's',
             0,
             G_OPTION_ARG_STRING,
             &sizes_arg,
             "Comma-separated numbers of concurrent requests (default 1,100,1000,10000)",
             "N,..."},
            {"window-ms",
             'w',
             0,
             G_OPTION_ARG_INT,
             &window_ms,
             "The batch window in ms (default 20, hostd's [batch] window_ms)",
             "MS"},
            {"max-pending",
             'm',
             0,
             G_OPTION_ARG_INT,
             &max_pending,
             "Bindings that make a quote at once (default 4096, [batch] max_pending)",
             "N"},
            {"naive-budget",
             'b',
             0,
             G_OPTION_ARG_DOUBLE,
             &naive_budget,
             "Skip a naive run expected to take longer than this many seconds (default 60), "
             "estimated from the previous naive run; a skipped run prints \"skipped\":true",
             "S"},
            {"rsa", 0, 0, G_OPTION_ARG_NONE, &rsa, "Use an RSA-2048 AK instead of ECC P-256", NULL},
            {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- batched host quotes, measured");
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) sizes = NULL;
        g_autofree gchar *dir = NULL;
        g_autofree gchar *state = NULL;
        g_autoptr(VtcSwtpm) swtpm = NULL;
        g_autoptr(VtcHostdTpm) tpm = NULL;
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(VtcQuoteAk) ak = NULL;
        g_autoptr(GBytes) ak_pub = NULL;
        Bench b = {0};
        gdouble quote_ms;
        gdouble naive_s_per_req = 0.0;
        gboolean ok = TRUE;

        setlocale(LC_ALL, "C");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Starts a private swtpm and hostd's TPM worker and batcher on it, then for each N\n"
            "submits N binding requests at once, first to the batcher (one TPM2_Quote per\n"
            "window over a Merkle root), then naively (one TPM2_Quote per request), and prints\n"
            "one JSON line per run: requests/s, hardware quotes used, p50/p99/max latency, the\n"
            "time of one quote and the target p99 (window + one quote). Batched answers are all\n"
            "verified after the clock stops. The first line gives the load average.");
        g_option_context_set_description(ctx,
                                         "Exit status: 0 when every run completed and every "
                                         "batched answer verified, 1 otherwise, 2 on bad usage.\n"
                                         "Needs swtpm in PATH.\n\n"
                                         "Example:\n"
                                         "  vtc-bench-hostd --sizes 1,100,1000 --window-ms 20\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("%s\n", error->message);
                return 2;
        }
        if (window_ms <= 0 || max_pending <= 0 || naive_budget < 0) {
                g_printerr("--window-ms, --max-pending and --naive-budget must be positive\n");
                return 2;
        }
        sizes = g_strsplit(sizes_arg != NULL ? sizes_arg : "1,100,1000,10000", ",", -1);
        for (guint i = 0; sizes[i] != NULL; i++) {
                guint64 v = 0;
                if (!g_ascii_string_to_unsigned(sizes[i], 10, 1, 1000000, &v, NULL)) {
                        g_printerr("bad size '%s' (1 to 1000000)\n", sizes[i]);
                        return 2;
                }
        }

        bench_print_env();
        dir = g_dir_make_tmp("vtc-bench-hostd-XXXXXX", &error);
        if (dir == NULL) {
                g_printerr("%s\n", error->message);
                return 1;
        }
        state = g_build_filename(dir, "tpm", NULL);
        swtpm = vtc_swtpm_new(state, &error);
        if (swtpm != NULL)
                tpm = vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(swtpm),
                                        0,
                                        rsa ? VTC_TPM_KEY_RSA2048 : VTC_TPM_KEY_ECC_P256,
                                        &error);
        if (tpm != NULL)
                batch =
                    vtc_hostd_batch_new(tpm, NULL, (guint)window_ms, (guint)max_pending, &error);
        if (batch != NULL) {
                ak_pub = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(tpm));
                ak = vtc_quote_ak_new_from_public(g_bytes_get_data(ak_pub, NULL),
                                                  g_bytes_get_size(ak_pub),
                                                  &error);
        }
        if (ak == NULL) {
                g_printerr("setting up: %s\n", error->message);
                ok = FALSE;
        }
        b.tpm = tpm;
        b.batch = batch;
        b.ak = ak;
        vtc_hostd_batch_selection_default(&b.selection);
        quote_ms = ok ? bench_quote_ms(&b, &error) : -1.0;
        if (ok && quote_ms < 0) {
                g_printerr("quoting: %s\n", error->message);
                ok = FALSE;
        }
        for (guint i = 0; ok && sizes[i] != NULL; i++) {
                guint n = (guint)g_ascii_strtoull(sizes[i], NULL, 10);
                gdouble expect = naive_s_per_req * n;

                if (!bench_batched(&b, n, (guint)window_ms, quote_ms, &error)) {
                        g_printerr("%s\n", error->message);
                        ok = FALSE;
                        break;
                }
                if (naive_s_per_req > 0 && expect > naive_budget) {
                        printf("{\"bench\":\"hostd_binding\",\"mode\":\"naive\",\"n\":%u,"
                               "\"skipped\":true,\"expected_s\":%.1f,\"budget_s\":%.1f}\n",
                               n,
                               expect,
                               naive_budget);
                        fflush(stdout);
                        continue;
                }
                naive_s_per_req = bench_naive(&b, n, quote_ms) / n;
        }
        g_clear_pointer(&batch, vtc_hostd_batch_free);
        g_clear_pointer(&tpm, vtc_hostd_tpm_free);
        g_clear_pointer(&swtpm, vtc_swtpm_free);
        if (dir != NULL)
                bench_rmtree(dir);
        return ok ? 0 : 1;
}
