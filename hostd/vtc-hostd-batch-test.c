/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>
#include <signal.h>

#include "vtc-error.h"
#include "vtc-hostd-batch.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

typedef struct {
        gchar *dir;
        gchar *state_dir;
        VtcSwtpm *swtpm;
        VtcHostdTpm *tpm;
        VtcQuoteAk *ak;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) pub = NULL;

        vtc_test_require_program("swtpm");
        fx->dir = vtc_test_tmpdir_new();
        fx->state_dir = g_build_filename(fx->dir, "tpm", NULL);
        fx->swtpm = vtc_swtpm_new(fx->state_dir, &error);
        g_assert_no_error(error);
        fx->tpm =
            vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        pub = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(fx->tpm));
        fx->ak = vtc_quote_ak_new_from_public(g_bytes_get_data(pub, NULL),
                                              g_bytes_get_size(pub),
                                              &error);
        g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
        g_clear_pointer(&fx->ak, vtc_quote_ak_free);
        g_clear_pointer(&fx->tpm, vtc_hostd_tpm_free);
        g_clear_pointer(&fx->swtpm, vtc_swtpm_free);
        g_free(fx->state_dir);
        vtc_test_tmpdir_free(fx->dir);
}

/* One request of a test: its inputs, and what came back. */
typedef struct {
        guint8 uuid[16];
        guint8 binding[VTC_MERKLE_HASH_SIZE];
        VtcHostdBatch *batch;
        VtcHostdBatchAnswer *answer;
        GError *error;
        gboolean done;
        gint64 submitted;
        gint64 answered;
        guint *n_done;
} Request;

static void
request_init(Request *req, VtcHostdBatch *batch, guint i, guint *n_done)
{
        g_autofree gchar *text = g_strdup_printf("guest quote %u || verifier nonce", i);

        memset(req, 0, sizeof(*req));
        for (guint k = 0; k < sizeof(req->uuid); k++)
                req->uuid[k] = (guint8)(i >> (8 * (k % 4))) ^ (guint8)(k * 31);
        vtc_merkle_binding((const guint8 *)text, strlen(text), NULL, 0, req->binding);
        req->batch = batch;
        req->n_done = n_done;
}

static void
request_clear(Request *req)
{
        g_clear_pointer(&req->answer, vtc_hostd_batch_answer_free);
        g_clear_error(&req->error);
}

static void
request_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Request *req = user_data;

        g_assert_false(req->done);
        req->answer = vtc_hostd_batch_submit_finish(req->batch, res, &req->error);
        g_assert_true((req->answer == NULL) != (req->error == NULL));
        req->answered = g_get_monotonic_time();
        req->done = TRUE;
        (*req->n_done)++;
}

static void
request_submit(Request *req)
{
        req->submitted = g_get_monotonic_time();
        vtc_hostd_batch_submit_async(req->batch, req->uuid, req->binding, NULL, request_cb, req);
}

static void
wait_count(guint *n, guint target)
{
        while (*n < target)
                g_main_context_iteration(NULL, TRUE);
}

/* The quote of a batch verifies: signature by the AK, extraData = the root, PCR values. */
static void
check_quote(Fixture *fx, const VtcHostdBatchQuote *q)
{
        g_autoptr(VtcQuote) quote = NULL;
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig = {0};
        TPML_PCR_SELECTION want;
        const guint8 *extra;
        gsize extra_len = 0;
        g_autoptr(GError) error = NULL;

        quote =
            vtc_quote_parse(g_bytes_get_data(q->attest, NULL), g_bytes_get_size(q->attest), &error);
        g_assert_no_error(error);
        extra = vtc_quote_get_nonce(quote, &extra_len);
        g_assert_cmpmem(extra, extra_len, q->root, VTC_MERKLE_HASH_SIZE);
        g_assert_true(vtc_quote_signature_parse(g_bytes_get_data(q->signature, NULL),
                                                g_bytes_get_size(q->signature),
                                                &sig,
                                                &error));
        g_assert_no_error(error);
        g_assert_true(vtc_quote_check(quote,
                                      &sig,
                                      fx->ak,
                                      q->root,
                                      VTC_MERKLE_HASH_SIZE,
                                      q->pcrs,
                                      TPM2_ALG_SHA256,
                                      VTC_QUOTE_CHECK_EXACT_PCRS | VTC_QUOTE_CHECK_NO_SHA1,
                                      &result,
                                      &error));
        g_assert_no_error(error);
        g_assert_cmpstr(result.reason, ==, NULL);
        g_assert_true(result.valid);
        /* the configured selection was quoted: host policy PCRs 0-9 and the vTPM log PCR 23 */
        vtc_hostd_batch_selection_default(&want);
        g_assert_cmphex(vtc_pcr_values_get_mask(q->pcrs, TPM2_ALG_SHA256), ==, 0x3ffu | (1u << 23));
        g_assert_cmpint(vtc_quote_get_pcr_selection(quote)->count, ==, 1);
        g_assert_cmpint(vtc_quote_get_pcr_selection(quote)->pcrSelections[0].hash,
                        ==,
                        TPM2_ALG_SHA256);
        g_assert_cmpmem(vtc_quote_get_pcr_selection(quote)->pcrSelections[0].pcrSelect,
                        3,
                        want.pcrSelections[0].pcrSelect,
                        3);
}

/* One answer: its leaf commits to its own (uuid, binding) and sits in the quoted tree. */
static void
check_answer(Fixture *fx, const Request *req, GHashTable *quotes_seen)
{
        const VtcHostdBatchAnswer *a = req->answer;
        guint8 leaf[VTC_MERKLE_HASH_SIZE];
        guint8 other[VTC_MERKLE_HASH_SIZE];
        guint8 uuid2[16];
        g_autoptr(GError) error = NULL;

        g_assert_no_error(req->error);
        g_assert_nonnull(a);
        vtc_merkle_leaf_hash(req->uuid, req->binding, leaf);
        g_assert_cmpmem(a->leaf, sizeof(a->leaf), leaf, sizeof(leaf));
        g_assert_cmpuint(a->leaf_index, <, a->quote->tree_size);
        g_assert_true(vtc_merkle_verify_inclusion(leaf,
                                                  a->leaf_index,
                                                  a->quote->tree_size,
                                                  a->proof,
                                                  a->n_proof,
                                                  a->quote->root,
                                                  &error));
        g_assert_no_error(error);
        /* another VM's UUID with the same binding is not in the tree at that place */
        memcpy(uuid2, req->uuid, sizeof(uuid2));
        uuid2[0] ^= 0x80;
        vtc_merkle_leaf_hash(uuid2, req->binding, other);
        g_assert_false(vtc_merkle_verify_inclusion(other,
                                                   a->leaf_index,
                                                   a->quote->tree_size,
                                                   a->proof,
                                                   a->n_proof,
                                                   a->quote->root,
                                                   &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        if (!g_hash_table_contains(quotes_seen, a->quote)) {
                check_quote(fx, a->quote);
                g_hash_table_add(quotes_seen, a->quote);
        }
}

/*
 * Every batch's root is vtc_merkle_tree_new()'s over its leaves in index order, so leaf order
 * and the tree match what verifiers rebuild, and each index was handed out once.
 */
static void
check_roots(const Request *reqs, guint n)
{
        g_autoptr(GHashTable) trees = g_hash_table_new_full(NULL, NULL, NULL, g_free);
        g_autoptr(GHashTable) filled = g_hash_table_new(NULL, NULL);
        GHashTableIter iter;
        gpointer key;
        gpointer value;

        for (guint i = 0; i < n; i++) {
                const VtcHostdBatchAnswer *a = reqs[i].answer;
                guint8 *leaves;

                if (a == NULL)
                        continue;
                leaves = g_hash_table_lookup(trees, a->quote);
                if (leaves == NULL) {
                        leaves = g_malloc0(a->quote->tree_size * VTC_MERKLE_HASH_SIZE);
                        g_hash_table_insert(trees, a->quote, leaves);
                }
                memcpy(leaves + a->leaf_index * VTC_MERKLE_HASH_SIZE,
                       a->leaf,
                       VTC_MERKLE_HASH_SIZE);
                g_hash_table_insert(
                    filled,
                    a->quote,
                    GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(filled, a->quote)) + 1));
        }
        g_hash_table_iter_init(&iter, trees);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                const VtcHostdBatchQuote *q = key;
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcMerkleTree) tree = NULL;

                g_assert_cmpuint(GPOINTER_TO_UINT(g_hash_table_lookup(filled, q)),
                                 ==,
                                 q->tree_size);
                tree = vtc_merkle_tree_new(value, q->tree_size, &error);
                g_assert_no_error(error);
                g_assert_cmpmem(vtc_merkle_tree_get_root(tree),
                                VTC_MERKLE_HASH_SIZE,
                                q->root,
                                VTC_MERKLE_HASH_SIZE);
        }
}

/* 1,000 concurrent bindings: at most 2 hardware quotes, and every answer verifies. */
static void
test_thousand(Fixture *fx, gconstpointer data)
{
        const guint n = 1000;
        g_autofree Request *reqs = g_new0(Request, n);
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        g_autoptr(GHashTable) slots = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GPtrArray) slot_keys = g_ptr_array_new_with_free_func(g_free);
        VtcHostdBatchMetrics m = {0};
        TPML_PCR_SELECTION pcr23;
        g_autoptr(VtcPcrValues) now = NULL;
        guint8 digest[32];
        guint n_done = 0;
        g_autoptr(GError) error = NULL;

        /* a vTPM log entry in PCR 23, so the quoted value is not the reset one */
        memset(digest, 0x5a, sizeof(digest));
        g_assert_true(vtc_hostd_tpm_extend_sync(fx->tpm,
                                                23,
                                                TPM2_ALG_SHA256,
                                                digest,
                                                sizeof(digest),
                                                &error));
        g_assert_no_error(error);
        batch = vtc_hostd_batch_new(fx->tpm, NULL, 0, 0, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < n; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        g_assert_cmpuint(n_done, ==, 0);
        wait_count(&n_done, n);

        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, >=, 1);
        g_assert_cmpuint(m.quotes, <=, 2);
        g_assert_cmpuint(m.quote_failures, ==, 0);
        g_assert_cmpuint(m.submitted, ==, n);
        g_assert_cmpuint(m.answered, ==, n);
        g_assert_cmpuint(m.failed, ==, 0);
        g_assert_cmpuint(m.pending, ==, 0);
        g_assert_cmpuint(m.in_flight, ==, 0);
        g_assert_cmpuint(m.batches, ==, m.quotes);
        g_assert_cmpuint(m.size_sum, ==, n);
        g_assert_cmpuint(m.size_count[VTC_HOSTD_BATCH_SIZE_BUCKETS - 1], ==, m.batches);
        g_assert_cmpuint(m.latencies, ==, n);
        g_assert_cmpuint(m.latency_count[VTC_HOSTD_BATCH_LATENCY_BUCKETS - 1], ==, n);
        g_assert_true(isinf(m.size_le[VTC_HOSTD_BATCH_SIZE_BUCKETS - 1]));
        g_assert_cmpfloat(m.size_le[10], ==, 1024.0);
        g_assert_cmpfloat(m.quote_seconds_sum, >, 0.0);

        vtc_tpm_selection_init(&pcr23, TPM2_ALG_SHA256, 1u << 23);
        now = vtc_hostd_tpm_pcr_read_sync(fx->tpm, &pcr23, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < n; i++) {
                const VtcHostdBatchAnswer *a = reqs[i].answer;
                gchar *key;
                gsize len = 0;
                const guint8 *quoted;

                check_answer(fx, &reqs[i], quotes_seen);
                /* each (quote, index) belongs to exactly one request */
                key = g_strdup_printf("%" G_GUINT64_FORMAT "/%" G_GSIZE_FORMAT,
                                      a->quote->serial,
                                      a->leaf_index);
                g_assert_false(g_hash_table_contains(slots, key));
                g_hash_table_add(slots, key);
                g_ptr_array_add(slot_keys, key);
                quoted = vtc_pcr_values_get(a->quote->pcrs, TPM2_ALG_SHA256, 23, &len);
                g_assert_cmpmem(quoted,
                                len,
                                vtc_pcr_values_get(now, TPM2_ALG_SHA256, 23, NULL),
                                32);
        }
        g_assert_cmpuint(g_hash_table_size(quotes_seen), ==, m.quotes);
        check_roots(reqs, n);
        for (guint i = 0; i < n; i++)
                request_clear(&reqs[i]);
}

/* A lone binding waits one window, then gets its own quote (a tree of one). */
static void
test_single_window(Fixture *fx, gconstpointer data)
{
        const guint windows[] = {VTC_HOSTD_BATCH_WINDOW_MS_DEFAULT, 250};
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        g_autoptr(GError) error = NULL;

        for (guint w = 0; w < G_N_ELEMENTS(windows); w++) {
                g_autoptr(VtcHostdBatch) batch =
                    vtc_hostd_batch_new(fx->tpm, NULL, w == 0 ? 0 : windows[w], 0, &error);
                Request req;
                guint n_done = 0;
                gint64 waited;
                VtcHostdBatchMetrics m = {0};

                g_assert_no_error(error);
                request_init(&req, batch, 7, &n_done);
                request_submit(&req);
                wait_count(&n_done, 1);
                waited = req.answered - req.submitted;
                g_assert_cmpint(waited, >=, (gint64)windows[w] * 1000);
                /* a loose ceiling: a window, one quote, and a busy machine */
                g_assert_cmpint(waited, <, (gint64)windows[w] * 1000 + 5 * G_USEC_PER_SEC);
                check_answer(fx, &req, quotes_seen);
                g_assert_cmpuint(req.answer->quote->tree_size, ==, 1);
                g_assert_cmpuint(req.answer->leaf_index, ==, 0);
                g_assert_cmpuint(req.answer->n_proof, ==, 0);
                /* a tree of one: the root is the leaf */
                g_assert_cmpmem(req.answer->quote->root, 32, req.answer->leaf, 32);
                vtc_hostd_batch_get_metrics(batch, &m);
                g_assert_cmpuint(m.quotes, ==, 1);
                g_assert_cmpuint(m.size_count[0], ==, 1);
                request_clear(&req);
        }
}

/* max_pending bindings make a quote at once, whatever the window. */
static void
test_max_pending(Fixture *fx, gconstpointer data)
{
        Request reqs[25];
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        g_autoptr(GError) error = NULL;
        VtcHostdBatch *batch = vtc_hostd_batch_new(fx->tpm, NULL, 60000, 8, &error);
        VtcHostdBatchMetrics m = {0};
        guint n_done = 0;
        gint64 start = g_get_monotonic_time();

        g_assert_no_error(error);
        for (guint i = 0; i < 8; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, 8);
        /* well before the 60 s window */
        g_assert_cmpint(g_get_monotonic_time() - start, <, 30 * G_USEC_PER_SEC);
        for (guint i = 0; i < 8; i++) {
                check_answer(fx, &reqs[i], quotes_seen);
                g_assert_cmpuint(reqs[i].answer->quote->tree_size, ==, 8);
                g_assert_cmpuint(reqs[i].answer->leaf_index, ==, i);
                g_assert_cmpuint(reqs[i].answer->n_proof, ==, 3);
        }
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 1);

        /* 17 more: two full batches of 8 go at once, the 17th waits for its window */
        for (guint i = 8; i < 25; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, 24);
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 3);
        g_assert_cmpuint(m.pending, ==, 1);
        g_assert_cmpuint(m.in_flight, ==, 0);
        g_assert_cmpuint(m.size_count[3] - m.size_count[2], ==, 3); /* three batches of 5-8 */
        g_assert_false(reqs[24].done);
        for (guint i = 8; i < 24; i++) {
                check_answer(fx, &reqs[i], quotes_seen);
                g_assert_cmpuint(reqs[i].answer->quote->tree_size, ==, 8);
        }
        g_assert_cmpuint(g_hash_table_size(quotes_seen), ==, 3);
        check_roots(reqs, 24);

        /* shutting down answers the one left */
        vtc_hostd_batch_free(batch);
        wait_count(&n_done, 25);
        g_assert_error(reqs[24].error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        g_assert_nonnull(strstr(reqs[24].error->message, "shutting down"));
        for (guint i = 0; i < 25; i++)
                request_clear(&reqs[i]);
}

typedef struct {
        GMutex lock;
        GCond cond;
        gboolean open;
        gboolean entered;
        gint64 opened_at;
} Gate;

static void
gate_init(Gate *gate)
{
        memset(gate, 0, sizeof(*gate));
        g_mutex_init(&gate->lock);
        g_cond_init(&gate->cond);
}

static void
gate_clear(Gate *gate)
{
        g_mutex_clear(&gate->lock);
        g_cond_clear(&gate->cond);
}

/* A job that holds the TPM worker until the test opens the gate: a slow hardware TPM. */
static gboolean
gate_job(VtcHostdTpm *self, VtcTpm *tpm, gpointer data, gpointer *out_result, GError **error)
{
        Gate *gate = data;

        g_mutex_lock(&gate->lock);
        gate->entered = TRUE;
        g_cond_broadcast(&gate->cond);
        while (!gate->open)
                g_cond_wait(&gate->cond, &gate->lock);
        g_mutex_unlock(&gate->lock);
        return TRUE;
}

static void
gate_wait_entered(Gate *gate)
{
        g_mutex_lock(&gate->lock);
        while (!gate->entered)
                g_cond_wait(&gate->cond, &gate->lock);
        g_mutex_unlock(&gate->lock);
}

static gboolean
gate_open_cb(gpointer user_data)
{
        Gate *gate = user_data;

        g_mutex_lock(&gate->lock);
        gate->open = TRUE;
        gate->opened_at = g_get_monotonic_time();
        g_cond_broadcast(&gate->cond);
        g_mutex_unlock(&gate->lock);
        return G_SOURCE_REMOVE;
}

static void
gate_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        gboolean *done = user_data;

        g_assert_true(vtc_hostd_tpm_run_finish(NULL, res, NULL, NULL));
        *done = TRUE;
}

static gboolean
tick_cb(gpointer user_data)
{
        guint *ticks = user_data;

        (*ticks)++;
        return G_SOURCE_CONTINUE;
}

/*
 * A slow TPM (300 ms per batch here) never stalls the loop: a 10 ms timeout keeps ticking while
 * the quote is out; bindings that arrive meanwhile accumulate for exactly one more quote.
 */
static void
test_loop_not_blocked(Fixture *fx, gconstpointer data)
{
        const guint half = 500;
        g_autofree Request *reqs = g_new0(Request, 2 * half);
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(GSource) tick = g_timeout_source_new(10);
        g_autoptr(GSource) opener = g_timeout_source_new(300);
        g_autoptr(GError) error = NULL;
        VtcHostdBatchMetrics m = {0};
        Gate gate;
        gboolean gate_done = FALSE;
        guint ticks = 0;
        guint ticks_start;
        guint n_done = 0;

        gate_init(&gate);
        batch = vtc_hostd_batch_new(fx->tpm, NULL, 0, 0, &error);
        g_assert_no_error(error);
        g_source_set_callback(tick, tick_cb, &ticks, NULL);
        g_source_attach(tick, NULL);
        /* the TPM is busy for 300 ms from now */
        vtc_hostd_tpm_run_async(fx->tpm,
                                gate_job,
                                &gate,
                                NULL,
                                NULL,
                                NULL,
                                gate_done_cb,
                                &gate_done);
        gate_wait_entered(&gate);
        g_source_set_callback(opener, gate_open_cb, &gate, NULL);
        g_source_attach(opener, NULL);

        for (guint i = 0; i < half; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        ticks_start = ticks;
        /* the first window closes: its quote is queued behind the busy TPM */
        while (vtc_hostd_batch_get_metrics(batch, &m), m.in_flight == 0)
                g_main_context_iteration(NULL, TRUE);
        g_assert_cmpuint(m.in_flight, ==, half);
        /* the second half arrives while that quote is in flight */
        for (guint i = half; i < 2 * half; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.pending, ==, half);
        wait_count(&n_done, half);
        /* the loop ran all along: ~30 ticks in 300 ms, 10 is a floor for a loaded machine */
        g_assert_cmpuint(ticks - ticks_start, >=, 10);
        /* nobody was answered before the TPM was free again */
        g_assert_cmpint(gate.opened_at, >, 0);
        for (guint i = 0; i < half; i++)
                g_assert_cmpint(reqs[i].answered, >=, gate.opened_at);
        wait_count(&n_done, 2 * half);
        g_assert_true(gate_done);
        g_source_destroy(tick);

        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 2);
        g_assert_cmpuint(m.size_sum, ==, 2 * half);
        check_roots(reqs, 2 * half);
        for (guint i = 0; i < 2 * half; i++) {
                check_answer(fx, &reqs[i], quotes_seen);
                g_assert_cmpuint(reqs[i].answer->quote->tree_size, ==, half);
                g_assert_cmpuint(reqs[i].answer->quote->serial, ==, i < half ? 1 : 2);
                request_clear(&reqs[i]);
        }
        gate_clear(&gate);
}

/*
 * The TPM dies with a batch queued: every binding of it gets a clear error, later ones too while
 * the TPM is gone, and the batcher serves again once it is back.
 */
static void
test_tpm_lost(Fixture *fx, gconstpointer data)
{
        const guint n = 100;
        g_autofree Request *reqs = g_new0(Request, n + 8);
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(GError) error = NULL;
        VtcHostdBatchMetrics m = {0};
        Gate gate;
        gboolean gate_done = FALSE;
        guint n_done = 0;
        GPid pid = vtc_swtpm_get_pid(fx->swtpm);

        gate_init(&gate);
        batch = vtc_hostd_batch_new(fx->tpm, NULL, 0, 0, &error);
        g_assert_no_error(error);
        vtc_hostd_tpm_run_async(fx->tpm,
                                gate_job,
                                &gate,
                                NULL,
                                NULL,
                                NULL,
                                gate_done_cb,
                                &gate_done);
        gate_wait_entered(&gate);
        for (guint i = 0; i < n; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        while (vtc_hostd_batch_get_metrics(batch, &m), m.in_flight == 0)
                g_main_context_iteration(NULL, TRUE);
        /* the quote is queued: the TPM goes away under it */
        g_assert_cmpint(pid, >, 0);
        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        gate_open_cb(&gate);
        wait_count(&n_done, n);
        for (guint i = 0; i < n; i++) {
                g_assert_null(reqs[i].answer);
                g_assert_nonnull(reqs[i].error);
                g_assert_true(reqs[i].error->domain == VTC_ERROR);
                g_assert_nonnull(
                    strstr(reqs[i].error->message,
                           "the host quote over a batch of 100 bindings failed: Esys_Quote: 0x"));
        }
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quote_failures, ==, 1);
        g_assert_cmpuint(m.quotes, ==, 0);
        g_assert_cmpuint(m.failed, ==, n);
        g_assert_cmpuint(m.latencies, ==, n);

        /* while the TPM is gone */
        for (guint i = n; i < n + 4; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, n + 4);
        for (guint i = n; i < n + 4; i++) {
                g_assert_nonnull(reqs[i].error);
                g_assert_nonnull(strstr(reqs[i].error->message, "the TPM is unreachable"));
        }

        /* back (same state, so the same AK) */
        g_clear_pointer(&fx->swtpm, vtc_swtpm_free);
        fx->swtpm = vtc_swtpm_new(fx->state_dir, &error);
        g_assert_no_error(error);
        for (guint i = n + 4; i < n + 8; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, n + 8);
        for (guint i = n + 4; i < n + 8; i++)
                check_answer(fx, &reqs[i], quotes_seen);
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 1);
        g_assert_cmpuint(m.quote_failures, ==, 2);
        g_assert_true(gate_done);
        for (guint i = 0; i < n + 8; i++)
                request_clear(&reqs[i]);
        gate_clear(&gate);
}

/* Bad settings are refused; too many waiting bindings are refused, not queued without end. */
static void
test_limits(Fixture *fx, gconstpointer data)
{
        TPML_PCR_SELECTION empty = {0};
        TPML_PCR_SELECTION none;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        Request reqs[11];
        VtcHostdBatchMetrics m = {0};
        Gate gate;
        gboolean gate_done = FALSE;
        guint n_done = 0;

        g_assert_null(vtc_hostd_batch_new(fx->tpm, &empty, 0, 0, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        vtc_tpm_selection_init(&none, TPM2_ALG_SHA256, 0);
        g_assert_null(vtc_hostd_batch_new(fx->tpm, &none, 0, 0, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(
            vtc_hostd_batch_new(fx->tpm, NULL, VTC_HOSTD_BATCH_WINDOW_MS_MAX + 1, 0, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_hostd_batch_new(fx->tpm, NULL, 0, VTC_MERKLE_MAX_LEAVES + 1, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* max_pending 2: at most 8 may wait while the TPM is busy */
        gate_init(&gate);
        batch = vtc_hostd_batch_new(fx->tpm, NULL, 60000, 2, &error);
        g_assert_no_error(error);
        vtc_hostd_tpm_run_async(fx->tpm,
                                gate_job,
                                &gate,
                                NULL,
                                NULL,
                                NULL,
                                gate_done_cb,
                                &gate_done);
        gate_wait_entered(&gate);
        for (guint i = 0; i < G_N_ELEMENTS(reqs); i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        /* 2 in flight, 8 waiting, the 11th refused at once */
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.in_flight, ==, 2);
        g_assert_cmpuint(m.pending, ==, 8);
        g_assert_cmpuint(m.refused, ==, 1);
        g_assert_cmpuint(m.submitted, ==, 10);
        wait_count(&n_done, 1);
        g_assert_true(reqs[10].done);
        g_assert_error(reqs[10].error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        gate_open_cb(&gate);
        wait_count(&n_done, G_N_ELEMENTS(reqs));
        for (guint i = 0; i < 10; i++)
                check_answer(fx, &reqs[i], quotes_seen);
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 5);
        g_assert_cmpuint(m.size_count[1] - m.size_count[0], ==, 5);
        for (guint i = 0; i < G_N_ELEMENTS(reqs); i++)
                request_clear(&reqs[i]);
        gate_clear(&gate);
}

/* The quote hook runs on the worker, in the quote's job, once per batch; its value reaches every
 * answer of that batch, and its failure fails the batch. */
typedef struct {
        GThread *main_thread;
        guint calls;
        gboolean fail;
        gboolean on_worker;
        gboolean saw_quote;
} HookState;

static gboolean
hook_cb(VtcHostdBatchQuote *quote, gpointer user_data, GError **error)
{
        HookState *st = user_data;

        st->calls++;
        st->on_worker = g_thread_self() != st->main_thread;
        st->saw_quote = quote->attest != NULL && quote->signature != NULL && quote->pcrs != NULL;
        if (st->fail) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_CONFLICT, "the hook says no");
                return FALSE;
        }
        quote->hook_value = 1000 + st->calls;
        return TRUE;
}

static void
test_quote_hook(Fixture *fx, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdBatch) batch = NULL;
        g_autoptr(GHashTable) quotes_seen = g_hash_table_new(NULL, NULL);
        HookState st = {.main_thread = g_thread_self()};
        Request reqs[8];
        guint n_done = 0;
        VtcHostdBatchMetrics m = {0};

        batch = vtc_hostd_batch_new(fx->tpm, NULL, 50, 0, &error);
        g_assert_no_error(error);
        vtc_hostd_batch_set_quote_hook(batch, hook_cb, &st);
        for (guint i = 0; i < 4; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, 4);
        g_assert_cmpuint(st.calls, ==, 1);
        g_assert_true(st.on_worker);
        g_assert_true(st.saw_quote);
        for (guint i = 0; i < 4; i++) {
                check_answer(fx, &reqs[i], quotes_seen);
                g_assert_cmpuint(reqs[i].answer->quote->hook_value, ==, 1001);
        }
        /* a failing hook fails its batch, with its error */
        st.fail = TRUE;
        for (guint i = 4; i < 6; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, 6);
        g_assert_cmpuint(st.calls, ==, 2);
        for (guint i = 4; i < 6; i++) {
                g_assert_error(reqs[i].error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_nonnull(strstr(reqs[i].error->message, "the hook says no"));
        }
        vtc_hostd_batch_get_metrics(batch, &m);
        g_assert_cmpuint(m.quotes, ==, 1);
        g_assert_cmpuint(m.quote_failures, ==, 1);
        /* cleared: not called, the value stays 0 */
        vtc_hostd_batch_set_quote_hook(batch, NULL, &st);
        for (guint i = 6; i < 8; i++) {
                request_init(&reqs[i], batch, i, &n_done);
                request_submit(&reqs[i]);
        }
        wait_count(&n_done, 8);
        g_assert_cmpuint(st.calls, ==, 2);
        for (guint i = 6; i < 8; i++) {
                check_answer(fx, &reqs[i], quotes_seen);
                g_assert_cmpuint(reqs[i].answer->quote->hook_value, ==, 0);
        }
        for (guint i = 0; i < G_N_ELEMENTS(reqs); i++)
                request_clear(&reqs[i]);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/hostd-batch/thousand", test_thousand);
        ADD("/hostd-batch/single-window", test_single_window);
        ADD("/hostd-batch/max-pending", test_max_pending);
        ADD("/hostd-batch/loop-not-blocked", test_loop_not_blocked);
        ADD("/hostd-batch/tpm-lost", test_tpm_lost);
        ADD("/hostd-batch/limits", test_limits);
        ADD("/hostd-batch/quote-hook", test_quote_hook);
#undef ADD
        return g_test_run();
}
