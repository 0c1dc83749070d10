/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-batch.h"

#include <math.h>

#include "vtc-error.h"
#include "vtc-tpm.h"

/*
 * The tree is vtc-merkle.h's (RFC 6962): vtc_merkle_leaf_hash() on the main loop, one per
 * submission; vtc_merkle_tree_new() over a batch's leaves on the TPM worker, in the quote's job.
 */

/* What the worker gives back: the quote, and the tree for the main loop to read the proofs
 * from (O(log n) copies per answer, no per-leaf proof array in between). */
typedef struct {
        VtcHostdBatchQuote *quote;
        VtcMerkleTree *tree;
        gint64 busy_us;
} VtcHostdBatchJobOut;

/* A binding waiting for, or in, a batch. */
typedef struct {
        GTask *task;
        guint8 leaf[VTC_MERKLE_HASH_SIZE];
        gint64 submitted; /* monotonic µs */
} VtcHostdBatchRequest;

/* What the worker gets: the leaves and the PCRs to quote. */
typedef struct {
        guint8 *leaves;
        gsize n_leaves;
        TPML_PCR_SELECTION selection;
        guint64 serial;
        VtcHostdBatchQuoteHook hook;
        gpointer hook_data;
} VtcHostdBatchJobIn;

typedef struct _VtcHostdBatchRun VtcHostdBatchRun;

struct _VtcHostdBatch {
        VtcHostdTpm *tpm;
        GMainContext *context;
        TPML_PCR_SELECTION selection;
        guint window_ms;
        guint max_pending;
        GQueue pending; /* VtcHostdBatchRequest, oldest first */
        GSource *timer;
        gboolean due;                /* the pending bindings must go with the next quote */
        VtcHostdBatchRun *in_flight; /* at most one quote at a time */
        guint64 serial;
        VtcHostdBatchQuoteHook hook;
        gpointer hook_data;
        /* metrics, with per-bucket (not yet cumulative) histogram counts */
        VtcHostdBatchMetrics metrics;
};

struct _VtcHostdBatchRun {
        VtcHostdBatch *owner; /* NULL once the batcher is gone */
        GPtrArray *requests;  /* VtcHostdBatchRequest */
};

static const gdouble vtc_hostd_batch_latency_bounds[VTC_HOSTD_BATCH_LATENCY_BUCKETS - 1] =
    {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0};

static void vtc_hostd_batch_maybe_flush(VtcHostdBatch *self);

static void
vtc_hostd_batch_request_free(VtcHostdBatchRequest *req)
{
        if (req == NULL)
                return;
        g_clear_object(&req->task);
        g_free(req);
}

static void
vtc_hostd_batch_run_free(VtcHostdBatchRun *run)
{
        if (run == NULL)
                return;
        g_ptr_array_unref(run->requests);
        g_free(run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdBatchRun, vtc_hostd_batch_run_free)

static void
vtc_hostd_batch_quote_clear(gpointer data)
{
        VtcHostdBatchQuote *quote = data;

        g_clear_pointer(&quote->attest, g_bytes_unref);
        g_clear_pointer(&quote->signature, g_bytes_unref);
        g_clear_pointer(&quote->pcrs, vtc_pcr_values_free);
}

VtcHostdBatchQuote *
vtc_hostd_batch_quote_ref(VtcHostdBatchQuote *quote)
{
        return g_atomic_rc_box_acquire(quote);
}

void
vtc_hostd_batch_quote_unref(VtcHostdBatchQuote *quote)
{
        if (quote != NULL)
                g_atomic_rc_box_release_full(quote, vtc_hostd_batch_quote_clear);
}

void
vtc_hostd_batch_answer_free(VtcHostdBatchAnswer *answer)
{
        if (answer == NULL)
                return;
        vtc_hostd_batch_quote_unref(answer->quote);
        g_free(answer);
}

static void
vtc_hostd_batch_job_in_free(VtcHostdBatchJobIn *in)
{
        if (in == NULL)
                return;
        g_free(in->leaves);
        g_free(in);
}

static void
vtc_hostd_batch_job_out_free(VtcHostdBatchJobOut *out)
{
        if (out == NULL)
                return;
        vtc_hostd_batch_quote_unref(out->quote);
        g_clear_pointer(&out->tree, vtc_merkle_tree_free);
        g_free(out);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdBatchJobOut, vtc_hostd_batch_job_out_free)

void
vtc_hostd_batch_selection_default(TPML_PCR_SELECTION *out_selection)
{
        vtc_tpm_selection_init(out_selection, TPM2_ALG_SHA256, 0x3ffu | (1u << 23));
}

/* --- the worker's part --- */

static gboolean
vtc_hostd_batch_job(VtcHostdTpm *tpm,
                    VtcTpm *raw,
                    gpointer data,
                    gpointer *out_result,
                    GError **error)
{
        VtcHostdBatchJobIn *in = data;
        gint64 start = g_get_monotonic_time();
        g_autoptr(VtcHostdBatchJobOut) out = g_new0(VtcHostdBatchJobOut, 1);
        VtcHostdBatchQuote *quote;

        out->tree = vtc_merkle_tree_new(in->leaves, in->n_leaves, error);
        if (out->tree == NULL)
                return FALSE;
        /* the tree has its own copy */
        g_clear_pointer(&in->leaves, g_free);
        out->quote = g_atomic_rc_box_new0(VtcHostdBatchQuote);
        quote = out->quote;
        memcpy(quote->root, vtc_merkle_tree_get_root(out->tree), VTC_MERKLE_HASH_SIZE);
        quote->tree_size = in->n_leaves;
        quote->serial = in->serial;
        if (!vtc_hostd_tpm_worker_quote(tpm,
                                        quote->root,
                                        VTC_MERKLE_HASH_SIZE,
                                        &in->selection,
                                        &quote->attest,
                                        &quote->signature,
                                        &quote->pcrs,
                                        error))
                return FALSE;
        if (in->hook != NULL && !in->hook(quote, in->hook_data, error))
                return FALSE;
        out->busy_us = g_get_monotonic_time() - start;
        *out_result = g_steal_pointer(&out);
        return TRUE;
}

/* --- the main loop's part --- */

static void
vtc_hostd_batch_record_latency(VtcHostdBatch *self, gint64 us)
{
        gdouble s = (gdouble)us / G_USEC_PER_SEC;
        guint b = 0;

        while (b < G_N_ELEMENTS(vtc_hostd_batch_latency_bounds) &&
               s > vtc_hostd_batch_latency_bounds[b])
                b++;
        self->metrics.latency_count[b]++;
        self->metrics.latency_sum += s;
        self->metrics.latencies++;
}

static void
vtc_hostd_batch_record_size(VtcHostdBatch *self, guint size)
{
        guint b = 0;

        while (b + 1 < VTC_HOSTD_BATCH_SIZE_BUCKETS && size > (1u << b))
                b++;
        self->metrics.size_count[b]++;
        self->metrics.size_sum += size;
        self->metrics.batches++;
}

static void
vtc_hostd_batch_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(VtcHostdBatchRun) run = user_data;
        VtcHostdBatch *self = run->owner;
        g_autoptr(VtcHostdBatchJobOut) out = NULL;
        g_autoptr(GError) error = NULL;
        gint64 now = g_get_monotonic_time();

        /* the TPM object is not the source: the run knows nothing about it once orphaned */
        if (!vtc_hostd_tpm_run_finish(NULL, res, (gpointer *)&out, &error))
                g_prefix_error(&error,
                               "the host quote over a batch of %u bindings failed: ",
                               run->requests->len);
        if (self != NULL) {
                self->in_flight = NULL;
                self->metrics.in_flight = 0;
                if (out != NULL) {
                        gdouble s = (gdouble)out->busy_us / G_USEC_PER_SEC;
                        self->metrics.quotes++;
                        self->metrics.answered += run->requests->len;
                        self->metrics.quote_seconds_sum += s;
                        self->metrics.quote_seconds_max = MAX(self->metrics.quote_seconds_max, s);
                } else {
                        self->metrics.quote_failures++;
                        self->metrics.failed += run->requests->len;
                }
        }
        for (guint i = 0; i < run->requests->len; i++) {
                VtcHostdBatchRequest *req = g_ptr_array_index(run->requests, i);
                VtcHostdBatchAnswer *answer;
                g_autoptr(GError) proof_error = NULL;

                if (self != NULL)
                        vtc_hostd_batch_record_latency(self, now - req->submitted);
                if (out == NULL) {
                        g_task_return_new_error(req->task,
                                                error->domain,
                                                error->code,
                                                "%s",
                                                error->message);
                        continue;
                }
                answer = g_new0(VtcHostdBatchAnswer, 1);
                answer->quote = vtc_hostd_batch_quote_ref(out->quote);
                answer->leaf_index = i;
                memcpy(answer->leaf, req->leaf, sizeof(answer->leaf));
                /* leaf i of a tree of run->requests->len leaves: this cannot fail */
                if (!vtc_merkle_tree_get_proof(out->tree,
                                               i,
                                               answer->proof,
                                               &answer->n_proof,
                                               &proof_error)) {
                        vtc_hostd_batch_answer_free(answer);
                        g_task_return_error(req->task, g_steal_pointer(&proof_error));
                        continue;
                }
                g_task_return_pointer(req->task,
                                      answer,
                                      (GDestroyNotify)vtc_hostd_batch_answer_free);
        }
        if (self != NULL)
                vtc_hostd_batch_maybe_flush(self);
}

static gboolean
vtc_hostd_batch_timer_cb(gpointer user_data)
{
        VtcHostdBatch *self = user_data;

        g_clear_pointer(&self->timer, g_source_unref);
        self->due = TRUE;
        vtc_hostd_batch_maybe_flush(self);
        return G_SOURCE_REMOVE;
}

static void
vtc_hostd_batch_timer_stop(VtcHostdBatch *self)
{
        if (self->timer == NULL)
                return;
        g_source_destroy(self->timer);
        g_clear_pointer(&self->timer, g_source_unref);
}

static void
vtc_hostd_batch_timer_start(VtcHostdBatch *self, guint ms)
{
        vtc_hostd_batch_timer_stop(self);
        self->timer = g_timeout_source_new(ms);
        g_source_set_priority(self->timer, G_PRIORITY_DEFAULT);
        g_source_set_callback(self->timer, vtc_hostd_batch_timer_cb, self, NULL);
        g_source_set_static_name(self->timer, "vtc-hostd-batch window");
        g_source_attach(self->timer, self->context);
}

/* After bindings left for a quote: when are the ones still waiting due? */
static void
vtc_hostd_batch_rearm(VtcHostdBatch *self)
{
        VtcHostdBatchRequest *oldest = g_queue_peek_head(&self->pending);
        gint64 left_us;

        vtc_hostd_batch_timer_stop(self);
        self->due = FALSE;
        if (oldest == NULL)
                return;
        left_us = oldest->submitted + (gint64)self->window_ms * 1000 - g_get_monotonic_time();
        if (left_us <= 0 || self->pending.length >= self->max_pending) {
                self->due = TRUE;
                return;
        }
        vtc_hostd_batch_timer_start(self, (guint)((left_us + 999) / 1000));
}

static void
vtc_hostd_batch_flush(VtcHostdBatch *self)
{
        g_autoptr(VtcHostdBatchRun) run = g_new0(VtcHostdBatchRun, 1);
        VtcHostdBatchJobIn *in = g_new0(VtcHostdBatchJobIn, 1);
        guint n = MIN(self->pending.length, self->max_pending);

        run->owner = self;
        run->requests = g_ptr_array_new_full(n, (GDestroyNotify)vtc_hostd_batch_request_free);
        in->leaves = g_malloc((gsize)n * VTC_MERKLE_HASH_SIZE);
        in->n_leaves = n;
        in->selection = self->selection;
        in->serial = ++self->serial;
        in->hook = self->hook;
        in->hook_data = self->hook_data;
        for (guint i = 0; i < n; i++) {
                VtcHostdBatchRequest *req = g_queue_pop_head(&self->pending);

                memcpy(in->leaves + (gsize)i * VTC_MERKLE_HASH_SIZE,
                       req->leaf,
                       VTC_MERKLE_HASH_SIZE);
                g_ptr_array_add(run->requests, req);
        }
        vtc_hostd_batch_record_size(self, n);
        self->metrics.pending = self->pending.length;
        self->metrics.in_flight = n;
        self->in_flight = run;
        vtc_hostd_batch_rearm(self);
        vtc_hostd_tpm_run_async(self->tpm,
                                vtc_hostd_batch_job,
                                in,
                                (GDestroyNotify)vtc_hostd_batch_job_in_free,
                                (GDestroyNotify)vtc_hostd_batch_job_out_free,
                                NULL,
                                vtc_hostd_batch_done_cb,
                                g_steal_pointer(&run));
}

static void
vtc_hostd_batch_maybe_flush(VtcHostdBatch *self)
{
        if (self->in_flight == NULL && self->due && self->pending.length > 0)
                vtc_hostd_batch_flush(self);
}

void
vtc_hostd_batch_submit_async(VtcHostdBatch *self,
                             const guint8 vm_uuid[16],
                             const guint8 binding[VTC_MERKLE_HASH_SIZE],
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
        VtcHostdBatchRequest *req;

        g_task_set_source_tag(task, vtc_hostd_batch_submit_async);
        if (self->pending.length >= (guint64)self->max_pending * VTC_HOSTD_BATCH_QUEUE_FACTOR) {
                self->metrics.refused++;
                g_task_return_new_error(task,
                                        VTC_ERROR,
                                        VTC_ERROR_UNAVAILABLE,
                                        "%u bindings are already waiting for a host quote",
                                        self->pending.length);
                return;
        }
        req = g_new0(VtcHostdBatchRequest, 1);
        req->task = g_steal_pointer(&task);
        vtc_merkle_leaf_hash(vm_uuid, binding, req->leaf);
        req->submitted = g_get_monotonic_time();
        g_queue_push_tail(&self->pending, req);
        self->metrics.submitted++;
        self->metrics.pending = self->pending.length;
        if (!self->due && self->timer == NULL)
                vtc_hostd_batch_timer_start(self, self->window_ms);
        if (self->pending.length >= self->max_pending)
                self->due = TRUE;
        vtc_hostd_batch_maybe_flush(self);
}

VtcHostdBatchAnswer *
vtc_hostd_batch_submit_finish(VtcHostdBatch *self, GAsyncResult *res, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
        return g_task_propagate_pointer(G_TASK(res), error);
}

VtcHostdBatch *
vtc_hostd_batch_new(VtcHostdTpm *tpm,
                    const TPML_PCR_SELECTION *selection,
                    guint window_ms,
                    guint max_pending,
                    GError **error)
{
        VtcHostdBatch *self;
        TPML_PCR_SELECTION sel;

        g_return_val_if_fail(tpm != NULL, NULL);
        if (window_ms == 0)
                window_ms = VTC_HOSTD_BATCH_WINDOW_MS_DEFAULT;
        if (max_pending == 0)
                max_pending = VTC_HOSTD_BATCH_MAX_PENDING_DEFAULT;
        if (window_ms > VTC_HOSTD_BATCH_WINDOW_MS_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a batch window of %u ms is over the limit of %u ms",
                            window_ms,
                            (guint)VTC_HOSTD_BATCH_WINDOW_MS_MAX);
                return NULL;
        }
        if (max_pending > VTC_MERKLE_MAX_LEAVES) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a batch of %u bindings is over the limit of %u",
                            max_pending,
                            (guint)VTC_MERKLE_MAX_LEAVES);
                return NULL;
        }
        if (selection != NULL) {
                gboolean any = FALSE;

                if (selection->count == 0 || selection->count > TPM2_NUM_PCR_BANKS) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "the host quote's PCR selection is empty");
                        return NULL;
                }
                for (guint i = 0; i < selection->count; i++) {
                        const TPMS_PCR_SELECTION *s = &selection->pcrSelections[i];
                        if (s->sizeofSelect > TPM2_PCR_SELECT_MAX) {
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_INVALID_ARGUMENT,
                                                    "the host quote's PCR selection is malformed");
                                return NULL;
                        }
                        for (guint k = 0; k < s->sizeofSelect; k++)
                                any = any || s->pcrSelect[k] != 0;
                }
                if (!any) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "the host quote's PCR selection is empty");
                        return NULL;
                }
                sel = *selection;
        } else {
                vtc_hostd_batch_selection_default(&sel);
        }
        self = g_new0(VtcHostdBatch, 1);
        self->tpm = tpm;
        self->context = g_main_context_ref_thread_default();
        self->selection = sel;
        self->window_ms = window_ms;
        self->max_pending = max_pending;
        g_queue_init(&self->pending);
        for (guint b = 0; b < VTC_HOSTD_BATCH_SIZE_BUCKETS; b++)
                self->metrics.size_le[b] =
                    b + 1 < VTC_HOSTD_BATCH_SIZE_BUCKETS ? (gdouble)(1u << b) : INFINITY;
        for (guint b = 0; b < VTC_HOSTD_BATCH_LATENCY_BUCKETS; b++)
                self->metrics.latency_le[b] = b < G_N_ELEMENTS(vtc_hostd_batch_latency_bounds)
                                                  ? vtc_hostd_batch_latency_bounds[b]
                                                  : INFINITY;
        return self;
}

void
vtc_hostd_batch_free(VtcHostdBatch *self)
{
        VtcHostdBatchRequest *req;

        if (self == NULL)
                return;
        vtc_hostd_batch_timer_stop(self);
        if (self->in_flight != NULL)
                self->in_flight->owner = NULL;
        while ((req = g_queue_pop_head(&self->pending)) != NULL) {
                g_task_return_new_error(req->task,
                                        VTC_ERROR,
                                        VTC_ERROR_UNAVAILABLE,
                                        "hostd is shutting down: no host quote for this binding");
                vtc_hostd_batch_request_free(req);
        }
        if (self->context != NULL)
                g_main_context_unref(self->context);
        g_free(self);
}

void
vtc_hostd_batch_set_quote_hook(VtcHostdBatch *self, VtcHostdBatchQuoteHook hook, gpointer user_data)
{
        self->hook = hook;
        self->hook_data = hook != NULL ? user_data : NULL;
}

void
vtc_hostd_batch_get_metrics(VtcHostdBatch *self, VtcHostdBatchMetrics *out_metrics)
{
        *out_metrics = self->metrics;
        for (guint b = 1; b < VTC_HOSTD_BATCH_SIZE_BUCKETS; b++)
                out_metrics->size_count[b] += out_metrics->size_count[b - 1];
        for (guint b = 1; b < VTC_HOSTD_BATCH_LATENCY_BUCKETS; b++)
                out_metrics->latency_count[b] += out_metrics->latency_count[b - 1];
}
