/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vtc-quote.h"
#include "vtc-tpm.h"

G_BEGIN_DECLS

/*
 * The host's hardware TPM, owned by ONE worker thread. A TPM answers one command at a time and a
 * hardware quote takes 50-700 ms, so every TPM operation is a job queued to that thread (FIFO)
 * and its result is delivered on the GMainContext that was the thread default when the job was
 * queued (GTask): hostd's main loop never waits for the TPM. The _sync variants block the
 * caller until the worker has run the job; they are for start-up and for other threads, never
 * for code running in the main loop once it serves.
 *
 * Keys are named by their persistent handle (0x81000000-0x817fffff): an ESYS_TR only means
 * something inside the worker's ESYS context. The attestation key (AK) is made sure of at
 * creation; any other key (the vTPM CA key) with vtc_hostd_tpm_key_ensure_sync() or _async().
 *
 * When a job fails and the TPM no longer answers (the TCTI's peer is gone: a swtpm killed, a
 * resource manager restarted), the worker drops its ESYS context and reconnects before the next
 * job; a reconnected TPM must still hold the same AK, else every job fails.
 */
typedef struct _VtcHostdTpm VtcHostdTpm;

#define VTC_HOSTD_TPM_AK_HANDLE_DEFAULT 0x81000002u

/*
 * Starts the worker, opens @tcti_conf there, and makes sure of the AK persisted at @ak_handle
 * (0: VTC_HOSTD_TPM_AK_HANDLE_DEFAULT), created on first use from vtc_tpm_template_ak(@ak_type)
 * in the owner hierarchy: the same key after every restart. Blocks until that is done.
 */
VtcHostdTpm *vtc_hostd_tpm_new(const gchar *tcti_conf,
                               TPM2_HANDLE ak_handle,
                               VtcTpmKeyType ak_type,
                               GError **error);
/* Runs the jobs already queued, then stops the worker and closes the TPM. */
void vtc_hostd_tpm_free(VtcHostdTpm *self);

TPM2_HANDLE vtc_hostd_tpm_get_ak_handle(VtcHostdTpm *self);
/* The AK's public area (as vtc_quote_ak_new_from_public() and the registrar take it). */
const TPM2B_PUBLIC *vtc_hostd_tpm_get_ak_public(VtcHostdTpm *self);

/* Counters for /metrics; any thread may read them. */
typedef struct {
        guint64 jobs;       /* jobs run */
        guint64 failures;   /* jobs that failed */
        guint64 reconnects; /* times the worker reopened the TPM after losing it */
        guint64 busy_us;    /* time spent running jobs */
        guint queued;       /* jobs waiting now */
} VtcHostdTpmStats;

void vtc_hostd_tpm_get_stats(VtcHostdTpm *self, VtcHostdTpmStats *out_stats);

/*
 * A job of the caller's, run on the worker: @tpm is the worker's client, valid during the call
 * only. On success it returns TRUE and may set *@out_result (freed with the result_free given
 * to run_async/run_sync when nobody takes it); on failure FALSE with @error set.
 */
typedef gboolean (*VtcHostdTpmJobFunc)(VtcHostdTpm *self,
                                       VtcTpm *tpm,
                                       gpointer job_data,
                                       gpointer *out_result,
                                       GError **error);

/* Queues @func; @callback runs on the caller's thread-default main context. @job_data is freed
 * with @job_data_free once the job has run (on the worker). */
void vtc_hostd_tpm_run_async(VtcHostdTpm *self,
                             VtcHostdTpmJobFunc func,
                             gpointer job_data,
                             GDestroyNotify job_data_free,
                             GDestroyNotify result_free,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
/* TRUE with the job's result in *@out_result (may be NULL; the caller owns it), or FALSE. */
gboolean vtc_hostd_tpm_run_finish(VtcHostdTpm *self,
                                  GAsyncResult *res,
                                  gpointer *out_result,
                                  GError **error);
/* The same, blocking the caller until the worker ran @func; must not be called on the worker. */
gboolean vtc_hostd_tpm_run_sync(VtcHostdTpm *self,
                                VtcHostdTpmJobFunc func,
                                gpointer job_data,
                                GDestroyNotify result_free,
                                gpointer *out_result,
                                GError **error);

/* Only inside a job: the ESYS_TR of the AK, or of a key made sure of with key_ensure (its
 * persistent handle), ESYS_TR_NONE with @error set when no such key was made sure of. */
ESYS_TR vtc_hostd_tpm_worker_get_ak(VtcHostdTpm *self);
ESYS_TR vtc_hostd_tpm_worker_get_key(VtcHostdTpm *self, TPM2_HANDLE persistent, GError **error);

/*
 * Only inside a job: vtc_hostd_tpm_quote_sync()'s work (AK quote, PCR read, re-quote when a PCR
 * moved in between), for jobs that quote as one step of more (the batcher builds its Merkle tree
 * on the worker too).
 */
gboolean vtc_hostd_tpm_worker_quote(VtcHostdTpm *self,
                                    const guint8 *nonce,
                                    gsize nonce_len,
                                    const TPML_PCR_SELECTION *selection,
                                    GBytes **out_attest,
                                    GBytes **out_signature,
                                    VtcPcrValues **out_pcrs,
                                    GError **error);

/* --- The operations hostd needs, as ready-made jobs --- */

/* vtc_tpm_key_ensure() at @persistent from @template; the key then has a name for sign and
 * certify. */
gboolean vtc_hostd_tpm_key_ensure_sync(VtcHostdTpm *self,
                                       TPM2_HANDLE persistent,
                                       const TPM2B_PUBLIC *template,
                                       TPM2B_PUBLIC *out_public,
                                       GError **error);
void vtc_hostd_tpm_key_ensure_async(VtcHostdTpm *self,
                                    TPM2_HANDLE persistent,
                                    const TPM2B_PUBLIC *template,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean vtc_hostd_tpm_key_ensure_finish(VtcHostdTpm *self,
                                         GAsyncResult *res,
                                         TPM2B_PUBLIC *out_public,
                                         GError **error);

/*
 * TPM2_Quote by the AK over @selection with qualifyingData @nonce (at most 64 bytes), and the
 * quoted PCR values read right after it in the same job. The values are checked against the
 * quote's pcrDigest before they are handed out: when another process extended a quoted PCR in
 * between, the quote is taken again (up to 3 times), so what comes back always verifies.
 */
gboolean vtc_hostd_tpm_quote_sync(VtcHostdTpm *self,
                                  const guint8 *nonce,
                                  gsize nonce_len,
                                  const TPML_PCR_SELECTION *selection,
                                  GBytes **out_attest,
                                  GBytes **out_signature,
                                  VtcPcrValues **out_pcrs,
                                  GError **error);
void vtc_hostd_tpm_quote_async(VtcHostdTpm *self,
                               const guint8 *nonce,
                               gsize nonce_len,
                               const TPML_PCR_SELECTION *selection,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean vtc_hostd_tpm_quote_finish(VtcHostdTpm *self,
                                    GAsyncResult *res,
                                    GBytes **out_attest,
                                    GBytes **out_signature,
                                    VtcPcrValues **out_pcrs,
                                    GError **error);

/* TPM2_PCR_Extend of PCR @pcr in @bank with @digest (the bank's digest size). */
gboolean vtc_hostd_tpm_extend_sync(VtcHostdTpm *self,
                                   guint pcr,
                                   TPM2_ALG_ID bank,
                                   const guint8 *digest,
                                   gsize len,
                                   GError **error);
void vtc_hostd_tpm_extend_async(VtcHostdTpm *self,
                                guint pcr,
                                TPM2_ALG_ID bank,
                                const guint8 *digest,
                                gsize len,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean vtc_hostd_tpm_extend_finish(VtcHostdTpm *self, GAsyncResult *res, GError **error);

VtcPcrValues *
vtc_hostd_tpm_pcr_read_sync(VtcHostdTpm *self, const TPML_PCR_SELECTION *selection, GError **error);
void vtc_hostd_tpm_pcr_read_async(VtcHostdTpm *self,
                                  const TPML_PCR_SELECTION *selection,
                                  GCancellable *cancellable,
                                  GAsyncReadyCallback callback,
                                  gpointer user_data);
VtcPcrValues *vtc_hostd_tpm_pcr_read_finish(VtcHostdTpm *self, GAsyncResult *res, GError **error);

/* Signs @digest (at most 64 bytes) with the unrestricted signing key at @key (made sure of
 * with key_ensure). */
gboolean vtc_hostd_tpm_sign_digest_sync(VtcHostdTpm *self,
                                        TPM2_HANDLE key,
                                        TPM2_ALG_ID hash_alg,
                                        const guint8 *digest,
                                        gsize len,
                                        TPMT_SIGNATURE *out_signature,
                                        GError **error);
void vtc_hostd_tpm_sign_digest_async(VtcHostdTpm *self,
                                     TPM2_HANDLE key,
                                     TPM2_ALG_ID hash_alg,
                                     const guint8 *digest,
                                     gsize len,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean vtc_hostd_tpm_sign_digest_finish(VtcHostdTpm *self,
                                          GAsyncResult *res,
                                          TPMT_SIGNATURE *out_signature,
                                          GError **error);

/* TPM2_Certify of the key at @object by the key at @signer (0: the AK), with @qualifying_data
 * (may be NULL); the marshalled TPMS_ATTEST and TPMT_SIGNATURE. */
gboolean vtc_hostd_tpm_certify_sync(VtcHostdTpm *self,
                                    TPM2_HANDLE object,
                                    TPM2_HANDLE signer,
                                    GBytes *qualifying_data,
                                    GBytes **out_attest,
                                    GBytes **out_signature,
                                    GError **error);
void vtc_hostd_tpm_certify_async(VtcHostdTpm *self,
                                 TPM2_HANDLE object,
                                 TPM2_HANDLE signer,
                                 GBytes *qualifying_data,
                                 GCancellable *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean vtc_hostd_tpm_certify_finish(VtcHostdTpm *self,
                                      GAsyncResult *res,
                                      GBytes **out_attest,
                                      GBytes **out_signature,
                                      GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpm, vtc_hostd_tpm_free)

G_END_DECLS
