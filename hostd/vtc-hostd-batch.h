/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vtc-hostd-tpm.h"
#include "vtc-merkle.h"
#include "vtc-quote.h"

G_BEGIN_DECLS

/*
 * Batched host quotes (ARCHITECTURE.md §4). Callers submit (VM UUID, binding); every binding
 * that arrives within a window from the first pending one (default 20 ms), or until max_pending
 * are waiting (default 4096), goes into one Merkle tree over the leaves
 * SHA-256(0x00 || uuid || binding), and ONE TPM2_Quote by the AK with qualifyingData = the root
 * answers them all. While a quote is in flight, new bindings wait for the next one, which is
 * taken as soon as the TPM is free if they have waited a window already: N concurrent requests
 * cost at most 2 quotes as long as N <= max_pending.
 *
 * The tree is built on the TPM worker (vtc-hostd-tpm.h) in the quote's job, so the main loop
 * only hashes one leaf per submission and copies each answer's proof (O(log n)) out of the tree. A
 * VtcHostdBatch lives on the GMainContext that was the thread default when it was made: submit from
 * that context's thread only.
 */
typedef struct _VtcHostdBatch VtcHostdBatch;

#define VTC_HOSTD_BATCH_WINDOW_MS_DEFAULT   20
#define VTC_HOSTD_BATCH_MAX_PENDING_DEFAULT 4096
#define VTC_HOSTD_BATCH_WINDOW_MS_MAX       60000
/* Bindings waiting beyond this many times max_pending are refused (VTC_ERROR_UNAVAILABLE). */
#define VTC_HOSTD_BATCH_QUEUE_FACTOR 4

/* The default selection: SHA-256 PCRs 0-9 (host firmware, boot loader, kernel) and 23 (the
 * vTPM log). */
void vtc_hostd_batch_selection_default(TPML_PCR_SELECTION *out_selection);

/*
 * @selection NULL: the default; @window_ms 0: VTC_HOSTD_BATCH_WINDOW_MS_DEFAULT; @max_pending 0:
 * VTC_HOSTD_BATCH_MAX_PENDING_DEFAULT (at most VTC_MERKLE_MAX_LEAVES). @tpm must outlive the
 * batcher.
 */
VtcHostdBatch *vtc_hostd_batch_new(VtcHostdTpm *tpm,
                                   const TPML_PCR_SELECTION *selection,
                                   guint window_ms,
                                   guint max_pending,
                                   GError **error);
/* Answers the bindings still waiting with VTC_ERROR_UNAVAILABLE. A batch whose quote is in
 * flight is answered when the quote comes back: keep the main context running until then. */
void vtc_hostd_batch_free(VtcHostdBatch *self);

/* One hardware quote, shared by every answer of its batch. */
typedef struct {
        GBytes *attest;     /* marshalled TPMS_ATTEST; its extraData is @root */
        GBytes *signature;  /* marshalled TPMT_SIGNATURE by the AK */
        VtcPcrValues *pcrs; /* the quoted PCR values */
        guint8 root[VTC_MERKLE_HASH_SIZE];
        gsize tree_size;
        guint64 serial;     /* the batch's number, from 1 */
        guint64 hook_value; /* what the quote hook set, 0 without one */
} VtcHostdBatchQuote;

VtcHostdBatchQuote *vtc_hostd_batch_quote_ref(VtcHostdBatchQuote *quote);
void vtc_hostd_batch_quote_unref(VtcHostdBatchQuote *quote);

/* What one binding gets back. */
typedef struct {
        VtcHostdBatchQuote *quote; /* a reference */
        gsize leaf_index;
        guint8 leaf[VTC_MERKLE_HASH_SIZE]; /* SHA-256(0x00 || uuid || binding) */
        gsize n_proof;                     /* hashes in @proof, bottom-up */
        guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
} VtcHostdBatchAnswer;

void vtc_hostd_batch_answer_free(VtcHostdBatchAnswer *answer);

/*
 * Runs on the TPM worker inside each batch's quote job, right after the quote was taken (and its
 * PCR values read), before anything is answered: for state that must be read atomically with
 * the quote with respect to other TPM jobs (hostd's vTPM log, whose appends and extends are TPM
 * jobs too). It may set @quote->hook_value; when it fails, the batch fails with its error.
 */
typedef gboolean (*VtcHostdBatchQuoteHook)(VtcHostdBatchQuote *quote,
                                           gpointer user_data,
                                           GError **error);

/*
 * Sets (or with NULL clears) the quote hook for the batches flushed from now on. @user_data must
 * stay valid until the worker has run every quote job queued while it was set: after clearing
 * it, any vtc_hostd_tpm_run_sync() job waits for them (the worker runs jobs in order).
 */
void vtc_hostd_batch_set_quote_hook(VtcHostdBatch *self,
                                    VtcHostdBatchQuoteHook hook,
                                    gpointer user_data);

/*
 * Queues a binding for the next batch; @callback runs on the batcher's context once its quote
 * is taken (or failed: then every binding of the batch gets the error, saying so).
 */
void vtc_hostd_batch_submit_async(VtcHostdBatch *self,
                                  const guint8 vm_uuid[16],
                                  const guint8 binding[VTC_MERKLE_HASH_SIZE],
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
VtcHostdBatchAnswer *
vtc_hostd_batch_submit_finish(VtcHostdBatch *self, GAsyncResult *res, GError **error);

/* Histogram bounds: batch sizes 1, 2, 4, ..., 4096, +Inf; latencies (submission to answer)
 * 1 ms ... 10 s, +Inf. */
#define VTC_HOSTD_BATCH_SIZE_BUCKETS    14
#define VTC_HOSTD_BATCH_LATENCY_BUCKETS 14

/* Counters for /metrics (Prometheus-style: histogram counts are cumulative, the last bound is
 * +Inf). */
typedef struct {
        guint64 quotes;         /* hardware quotes taken */
        guint64 quote_failures; /* batches whose quote failed */
        guint64 submitted;      /* bindings accepted */
        guint64 answered;       /* bindings answered with a quote */
        guint64 failed;         /* bindings answered with an error */
        guint64 refused;        /* bindings refused at submission (too many waiting) */
        guint pending;          /* waiting for a batch now */
        guint in_flight;        /* in the batch being quoted now */
        gdouble size_le[VTC_HOSTD_BATCH_SIZE_BUCKETS];
        guint64 size_count[VTC_HOSTD_BATCH_SIZE_BUCKETS];
        guint64 size_sum;
        guint64 batches;
        gdouble latency_le[VTC_HOSTD_BATCH_LATENCY_BUCKETS]; /* seconds */
        guint64 latency_count[VTC_HOSTD_BATCH_LATENCY_BUCKETS];
        gdouble latency_sum; /* seconds */
        guint64 latencies;
        gdouble quote_seconds_sum; /* time the TPM worker spent on batches (tree + quote) */
        gdouble quote_seconds_max;
} VtcHostdBatchMetrics;

void vtc_hostd_batch_get_metrics(VtcHostdBatch *self, VtcHostdBatchMetrics *out_metrics);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdBatch, vtc_hostd_batch_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdBatchAnswer, vtc_hostd_batch_answer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdBatchQuote, vtc_hostd_batch_quote_unref)

G_END_DECLS
