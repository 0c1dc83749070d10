/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-tpm.h"

#include <pthread.h>
#include <signal.h>

#include "vtc-error.h"
#include "vtc-util.h"

/* How often a quote is taken again when a quoted PCR moved between Quote and PCR_Read. */
#define VTC_HOSTD_TPM_QUOTE_TRIES 3

/* A key the worker knows by its persistent handle; only the worker touches these. */
typedef struct {
        TPM2_HANDLE handle;
        TPM2B_PUBLIC template;
        GBytes *public_bytes; /* what the key was when first made sure of */
        TPM2B_PUBLIC public;
        ESYS_TR tr; /* ESYS_TR_NONE while the worker has no ESYS context */
} VtcHostdTpmKey;

/* A blocked caller of run_sync(). */
typedef struct {
        GMutex mutex;
        GCond cond;
        gboolean done;
        gboolean ok;
        gpointer result;
        GError *error;
} VtcHostdTpmWaiter;

typedef struct {
        VtcHostdTpmJobFunc func; /* NULL: the worker stops */
        gpointer data;
        GDestroyNotify data_free;
        GDestroyNotify result_free;
        GTask *task;               /* an async job */
        VtcHostdTpmWaiter *waiter; /* a sync job */
} VtcHostdTpmJob;

struct _VtcHostdTpm {
        gchar *tcti_conf;
        TPM2_HANDLE ak_handle;
        TPM2B_PUBLIC ak_template;
        TPM2B_PUBLIC ak_public; /* written once in new(), read-only after */
        GThread *thread;
        GAsyncQueue *queue;
        /* the worker's own */
        VtcTpm *tpm;
        GHashTable *keys; /* handle -> VtcHostdTpmKey */
        gboolean opened_once;
        /* counters */
        GMutex stats_lock;
        VtcHostdTpmStats stats;
};

static void
vtc_hostd_tpm_key_free(VtcHostdTpmKey *key)
{
        if (key == NULL)
                return;
        g_bytes_unref(key->public_bytes);
        g_free(key);
}

static void
vtc_hostd_tpm_job_free(VtcHostdTpmJob *job)
{
        if (job == NULL)
                return;
        if (job->data_free != NULL && job->data != NULL)
                job->data_free(job->data);
        g_clear_object(&job->task);
        g_free(job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpmKey, vtc_hostd_tpm_key_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpmJob, vtc_hostd_tpm_job_free)

static gboolean
vtc_hostd_tpm_on_worker(VtcHostdTpm *self)
{
        return g_thread_self() == self->thread;
}

/* Forgets the ESYS context (and so every ESYS_TR): the next job reconnects. */
static void
vtc_hostd_tpm_worker_drop(VtcHostdTpm *self)
{
        GHashTableIter iter;
        gpointer value;

        g_clear_pointer(&self->tpm, vtc_tpm_free);
        g_hash_table_iter_init(&iter, self->keys);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                ((VtcHostdTpmKey *)value)->tr = ESYS_TR_NONE;
}

static gboolean
vtc_hostd_tpm_worker_key_open(VtcHostdTpm *self, VtcHostdTpmKey *key, GError **error)
{
        TPM2B_PUBLIC pub = {0};
        ESYS_TR tr = ESYS_TR_NONE;
        g_autoptr(GBytes) pub_bytes = NULL;

        if (!vtc_tpm_key_ensure(self->tpm, key->handle, &key->template, &tr, &pub, error)) {
                g_prefix_error(error, "the key at 0x%08x: ", key->handle);
                return FALSE;
        }
        pub_bytes = vtc_tpm_public_marshal(&pub);
        if (pub_bytes == NULL ||
            (key->public_bytes != NULL && !g_bytes_equal(pub_bytes, key->public_bytes))) {
                Esys_TR_Close(vtc_tpm_get_esys(self->tpm), &tr);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "the key at 0x%08x is not the one hostd started with "
                            "(a different or cleared TPM?)",
                            key->handle);
                return FALSE;
        }
        if (key->public_bytes == NULL) {
                key->public_bytes = g_steal_pointer(&pub_bytes);
                key->public = pub;
        }
        key->tr = tr;
        return TRUE;
}

/* Opens the TPM when the worker has none (first job, or after losing it). */
static gboolean
vtc_hostd_tpm_worker_ready(VtcHostdTpm *self, GError **error)
{
        GHashTableIter iter;
        gpointer value;

        if (self->tpm != NULL)
                return TRUE;
        self->tpm = vtc_tpm_new(self->tcti_conf, error);
        if (self->tpm == NULL) {
                g_prefix_error(error, "the TPM is unreachable: ");
                return FALSE;
        }
        if (self->opened_once) {
                g_mutex_lock(&self->stats_lock);
                self->stats.reconnects++;
                g_mutex_unlock(&self->stats_lock);
        }
        self->opened_once = TRUE;
        g_hash_table_iter_init(&iter, self->keys);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                if (!vtc_hostd_tpm_worker_key_open(self, value, error)) {
                        vtc_hostd_tpm_worker_drop(self);
                        return FALSE;
                }
        }
        return TRUE;
}

/* After a failed job: is the TPM still there? A TCTI that lost its peer fails every command. */
static void
vtc_hostd_tpm_worker_probe(VtcHostdTpm *self)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TSS2_RC rc;

        if (self->tpm == NULL)
                return;
        rc = Esys_GetCapability(vtc_tpm_get_esys(self->tpm),
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                TPM2_CAP_TPM_PROPERTIES,
                                TPM2_PT_MANUFACTURER,
                                1,
                                NULL,
                                &cap);
        Esys_Free(cap);
        if (rc != TSS2_RC_SUCCESS)
                vtc_hostd_tpm_worker_drop(self);
}

static void
vtc_hostd_tpm_worker_run(VtcHostdTpm *self, VtcHostdTpmJob *job)
{
        gpointer result = NULL;
        g_autoptr(GError) error = NULL;
        gboolean ok = FALSE;
        gint64 start = g_get_monotonic_time();

        if (job->task != NULL && g_task_return_error_if_cancelled(job->task))
                return;
        if (vtc_hostd_tpm_worker_ready(self, &error)) {
                ok = job->func(self, self->tpm, job->data, &result, &error);
                if (!ok && error == NULL)
                        g_set_error_literal(&error,
                                            VTC_ERROR,
                                            VTC_ERROR_FAILED,
                                            "a TPM job failed without saying why");
                if (!ok && g_error_matches(error, VTC_ERROR, VTC_ERROR_TPM))
                        vtc_hostd_tpm_worker_probe(self);
        }
        g_mutex_lock(&self->stats_lock);
        self->stats.jobs++;
        if (!ok)
                self->stats.failures++;
        self->stats.busy_us += (guint64)(g_get_monotonic_time() - start);
        g_mutex_unlock(&self->stats_lock);

        if (job->waiter != NULL) {
                VtcHostdTpmWaiter *w = job->waiter;

                g_mutex_lock(&w->mutex);
                w->ok = ok;
                w->result = ok ? result : NULL;
                w->error = g_steal_pointer(&error);
                w->done = TRUE;
                g_cond_signal(&w->cond);
                g_mutex_unlock(&w->mutex);
                return;
        }
        if (ok)
                g_task_return_pointer(job->task, result, job->result_free);
        else
                g_task_return_error(job->task, g_steal_pointer(&error));
}

static gpointer
vtc_hostd_tpm_worker(gpointer data)
{
        VtcHostdTpm *self = data;
        sigset_t set;

        /* The TCTI writes to a socket or a device: when the peer is gone the write must fail as
         * an error of the job, never kill hostd with SIGPIPE. tpm2-tss's socket TCTIs send with
         * MSG_NOSIGNAL today; blocking the signal on this thread keeps that true for any TCTI
         * (a thread-directed SIGPIPE stays pending here and the write returns EPIPE). */
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, NULL);

        for (;;) {
                g_autoptr(VtcHostdTpmJob) job = g_async_queue_pop(self->queue);

                if (job->func == NULL)
                        break;
                vtc_hostd_tpm_worker_run(self, job);
        }
        vtc_hostd_tpm_worker_drop(self);
        return NULL;
}

void
vtc_hostd_tpm_run_async(VtcHostdTpm *self,
                        VtcHostdTpmJobFunc func,
                        gpointer job_data,
                        GDestroyNotify job_data_free,
                        GDestroyNotify result_free,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
        VtcHostdTpmJob *job = g_new0(VtcHostdTpmJob, 1);

        g_return_if_fail(func != NULL);
        job->func = func;
        job->data = job_data;
        job->data_free = job_data_free;
        job->result_free = result_free;
        job->task = g_task_new(NULL, cancellable, callback, user_data);
        g_task_set_source_tag(job->task, vtc_hostd_tpm_run_async);
        g_async_queue_push(self->queue, job);
}

gboolean
vtc_hostd_tpm_run_finish(VtcHostdTpm *self, GAsyncResult *res, gpointer *out_result, GError **error)
{
        g_autoptr(GError) error_local = NULL;
        gpointer result;

        g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
        result = g_task_propagate_pointer(G_TASK(res), &error_local);
        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (out_result != NULL)
                *out_result = result;
        return TRUE;
}

gboolean
vtc_hostd_tpm_run_sync(VtcHostdTpm *self,
                       VtcHostdTpmJobFunc func,
                       gpointer job_data,
                       GDestroyNotify result_free,
                       gpointer *out_result,
                       GError **error)
{
        VtcHostdTpmWaiter w = {0};
        VtcHostdTpmJob *job = g_new0(VtcHostdTpmJob, 1);
        gboolean ok;

        g_return_val_if_fail(func != NULL, FALSE);
        g_return_val_if_fail(!vtc_hostd_tpm_on_worker(self), FALSE);
        g_mutex_init(&w.mutex);
        g_cond_init(&w.cond);
        job->func = func;
        job->data = job_data;
        job->waiter = &w;
        g_async_queue_push(self->queue, job);
        g_mutex_lock(&w.mutex);
        while (!w.done)
                g_cond_wait(&w.cond, &w.mutex);
        g_mutex_unlock(&w.mutex);
        g_mutex_clear(&w.mutex);
        g_cond_clear(&w.cond);
        ok = w.ok;
        if (!ok) {
                g_propagate_error(error, w.error);
                return FALSE;
        }
        if (out_result != NULL)
                *out_result = w.result;
        else if (w.result != NULL && result_free != NULL)
                result_free(w.result);
        return TRUE;
}

ESYS_TR
vtc_hostd_tpm_worker_get_key(VtcHostdTpm *self, TPM2_HANDLE persistent, GError **error)
{
        VtcHostdTpmKey *key;

        g_return_val_if_fail(vtc_hostd_tpm_on_worker(self), ESYS_TR_NONE);
        key = g_hash_table_lookup(self->keys, GUINT_TO_POINTER(persistent));
        if (key == NULL || key->tr == ESYS_TR_NONE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no key at 0x%08x was made sure of",
                            persistent);
                return ESYS_TR_NONE;
        }
        return key->tr;
}

ESYS_TR
vtc_hostd_tpm_worker_get_ak(VtcHostdTpm *self)
{
        return vtc_hostd_tpm_worker_get_key(self, self->ak_handle, NULL);
}

/* --- key ensure --- */

typedef struct {
        TPM2_HANDLE handle;
        TPM2B_PUBLIC template;
} VtcHostdTpmKeyIn;

static gboolean
vtc_hostd_tpm_key_ensure_job(VtcHostdTpm *self,
                             VtcTpm *tpm,
                             gpointer data,
                             gpointer *out_result,
                             GError **error)
{
        VtcHostdTpmKeyIn *in = data;
        VtcHostdTpmKey *key = g_hash_table_lookup(self->keys, GUINT_TO_POINTER(in->handle));
        g_autoptr(VtcHostdTpmKey) key_new = NULL;

        if (in->handle < 0x81000000u || in->handle > 0x817fffffu) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "0x%08x is not a persistent handle of the owner hierarchy",
                            in->handle);
                return FALSE;
        }
        if (key == NULL) {
                key_new = g_new0(VtcHostdTpmKey, 1);
                key_new->handle = in->handle;
                key_new->template = in->template;
                key_new->tr = ESYS_TR_NONE;
                key = key_new;
        }
        if (key->tr == ESYS_TR_NONE && !vtc_hostd_tpm_worker_key_open(self, key, error))
                return FALSE;
        if (key_new != NULL)
                g_hash_table_insert(self->keys,
                                    GUINT_TO_POINTER(in->handle),
                                    g_steal_pointer(&key_new));
        *out_result = g_memdup2(&key->public, sizeof(key->public));
        return TRUE;
}

static VtcHostdTpmKeyIn *
vtc_hostd_tpm_key_in_new(TPM2_HANDLE persistent, const TPM2B_PUBLIC *template)
{
        VtcHostdTpmKeyIn *in = g_new0(VtcHostdTpmKeyIn, 1);

        in->handle = persistent;
        in->template = *template;
        return in;
}

gboolean
vtc_hostd_tpm_key_ensure_sync(VtcHostdTpm *self,
                              TPM2_HANDLE persistent,
                              const TPM2B_PUBLIC *template,
                              TPM2B_PUBLIC *out_public,
                              GError **error)
{
        g_autofree VtcHostdTpmKeyIn *in = vtc_hostd_tpm_key_in_new(persistent, template);
        g_autofree TPM2B_PUBLIC *pub = NULL;

        if (!vtc_hostd_tpm_run_sync(self,
                                    vtc_hostd_tpm_key_ensure_job,
                                    in,
                                    g_free,
                                    (gpointer *)&pub,
                                    error))
                return FALSE;
        if (out_public != NULL)
                *out_public = *pub;
        return TRUE;
}

void
vtc_hostd_tpm_key_ensure_async(VtcHostdTpm *self,
                               TPM2_HANDLE persistent,
                               const TPM2B_PUBLIC *template,
                               GCancellable *cancellable,
                               GAsyncReadyCallback callback,
                               gpointer user_data)
{
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_key_ensure_job,
                                vtc_hostd_tpm_key_in_new(persistent, template),
                                g_free,
                                g_free,
                                cancellable,
                                callback,
                                user_data);
}

gboolean
vtc_hostd_tpm_key_ensure_finish(VtcHostdTpm *self,
                                GAsyncResult *res,
                                TPM2B_PUBLIC *out_public,
                                GError **error)
{
        g_autofree TPM2B_PUBLIC *pub = NULL;

        if (!vtc_hostd_tpm_run_finish(self, res, (gpointer *)&pub, error))
                return FALSE;
        if (out_public != NULL)
                *out_public = *pub;
        return TRUE;
}

/* --- new / free --- */

VtcHostdTpm *
vtc_hostd_tpm_new(const gchar *tcti_conf,
                  TPM2_HANDLE ak_handle,
                  VtcTpmKeyType ak_type,
                  GError **error)
{
        g_autoptr(VtcHostdTpm) self = g_new0(VtcHostdTpm, 1);

        g_return_val_if_fail(tcti_conf != NULL, NULL);
        self->tcti_conf = g_strdup(tcti_conf);
        self->ak_handle = ak_handle != 0 ? ak_handle : VTC_HOSTD_TPM_AK_HANDLE_DEFAULT;
        vtc_tpm_template_ak(ak_type, &self->ak_template);
        self->keys = g_hash_table_new_full(g_direct_hash,
                                           g_direct_equal,
                                           NULL,
                                           (GDestroyNotify)vtc_hostd_tpm_key_free);
        g_mutex_init(&self->stats_lock);
        self->queue = g_async_queue_new();
        self->thread = g_thread_new("vtc-hostd-tpm", vtc_hostd_tpm_worker, self);
        if (!vtc_hostd_tpm_key_ensure_sync(self,
                                           self->ak_handle,
                                           &self->ak_template,
                                           &self->ak_public,
                                           error)) {
                g_prefix_error(error, "the AK: ");
                return NULL;
        }
        return g_steal_pointer(&self);
}

void
vtc_hostd_tpm_free(VtcHostdTpm *self)
{
        if (self == NULL)
                return;
        if (self->thread != NULL) {
                /* the stop job queues behind the others: they all run first */
                g_async_queue_push(self->queue, g_new0(VtcHostdTpmJob, 1));
                g_thread_join(self->thread);
        }
        g_async_queue_unref(self->queue);
        g_hash_table_unref(self->keys);
        g_mutex_clear(&self->stats_lock);
        g_free(self->tcti_conf);
        g_free(self);
}

TPM2_HANDLE
vtc_hostd_tpm_get_ak_handle(VtcHostdTpm *self)
{
        return self->ak_handle;
}

const TPM2B_PUBLIC *
vtc_hostd_tpm_get_ak_public(VtcHostdTpm *self)
{
        return &self->ak_public;
}

void
vtc_hostd_tpm_get_stats(VtcHostdTpm *self, VtcHostdTpmStats *out_stats)
{
        g_mutex_lock(&self->stats_lock);
        *out_stats = self->stats;
        g_mutex_unlock(&self->stats_lock);
        out_stats->queued = (guint)MAX(g_async_queue_length(self->queue), 0);
}

/* An async call whose arguments were refused before queueing: answer on the caller's context. */
static void
vtc_hostd_tpm_return_early(GError *error,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

        g_task_set_source_tag(task, vtc_hostd_tpm_run_async);
        g_task_return_error(task, error);
}

/* --- quote --- */

typedef struct {
        guint8 nonce[sizeof(((TPM2B_DATA *)NULL)->buffer)];
        gsize nonce_len;
        TPML_PCR_SELECTION selection;
} VtcHostdTpmQuoteIn;

typedef struct {
        GBytes *attest;
        GBytes *signature;
        VtcPcrValues *pcrs;
} VtcHostdTpmQuoteOut;

static void
vtc_hostd_tpm_quote_out_free(VtcHostdTpmQuoteOut *out)
{
        if (out == NULL)
                return;
        g_bytes_unref(out->attest);
        g_bytes_unref(out->signature);
        vtc_pcr_values_free(out->pcrs);
        g_free(out);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpmQuoteOut, vtc_hostd_tpm_quote_out_free)

gboolean
vtc_hostd_tpm_worker_quote(VtcHostdTpm *self,
                           const guint8 *nonce,
                           gsize nonce_len,
                           const TPML_PCR_SELECTION *selection,
                           GBytes **out_attest,
                           GBytes **out_signature,
                           VtcPcrValues **out_pcrs,
                           GError **error)
{
        ESYS_TR ak;

        g_return_val_if_fail(vtc_hostd_tpm_on_worker(self), FALSE);
        ak = vtc_hostd_tpm_worker_get_key(self, self->ak_handle, error);
        if (ak == ESYS_TR_NONE)
                return FALSE;
        for (guint i = 0; i < VTC_HOSTD_TPM_QUOTE_TRIES; i++) {
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) signature = NULL;
                g_autoptr(VtcPcrValues) pcrs = NULL;
                gboolean consistent = FALSE;

                if (!vtc_tpm_quote(self->tpm,
                                   ak,
                                   nonce,
                                   nonce_len,
                                   selection,
                                   &attest,
                                   &signature,
                                   &pcrs,
                                   error))
                        return FALSE;
                if (signature == NULL) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TPM,
                                            "the quote's signature does not marshal");
                        return FALSE;
                }
                if (!vtc_quote_pcrs_match(attest, signature, pcrs, &consistent, error)) {
                        g_prefix_error(error, "the TPM's own quote: ");
                        return FALSE;
                }
                if (consistent) {
                        *out_attest = g_steal_pointer(&attest);
                        *out_signature = g_steal_pointer(&signature);
                        *out_pcrs = g_steal_pointer(&pcrs);
                        return TRUE;
                }
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_UNAVAILABLE,
                    "the quoted PCRs kept changing between TPM2_Quote and TPM2_PCR_Read "
                    "(%u tries)",
                    (guint)VTC_HOSTD_TPM_QUOTE_TRIES);
        return FALSE;
}

static gboolean
vtc_hostd_tpm_quote_job(VtcHostdTpm *self,
                        VtcTpm *tpm,
                        gpointer data,
                        gpointer *out_result,
                        GError **error)
{
        VtcHostdTpmQuoteIn *in = data;
        g_autoptr(VtcHostdTpmQuoteOut) out = g_new0(VtcHostdTpmQuoteOut, 1);

        if (!vtc_hostd_tpm_worker_quote(self,
                                        in->nonce,
                                        in->nonce_len,
                                        &in->selection,
                                        &out->attest,
                                        &out->signature,
                                        &out->pcrs,
                                        error))
                return FALSE;
        *out_result = g_steal_pointer(&out);
        return TRUE;
}

static VtcHostdTpmQuoteIn *
vtc_hostd_tpm_quote_in_new(const guint8 *nonce,
                           gsize nonce_len,
                           const TPML_PCR_SELECTION *selection,
                           GError **error)
{
        VtcHostdTpmQuoteIn *in;

        if (nonce_len > sizeof(in->nonce)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a quote's qualifying data holds at most %" G_GSIZE_FORMAT
                            " bytes, not %" G_GSIZE_FORMAT,
                            sizeof(in->nonce),
                            nonce_len);
                return NULL;
        }
        in = g_new0(VtcHostdTpmQuoteIn, 1);
        if (nonce_len > 0)
                memcpy(in->nonce, nonce, nonce_len);
        in->nonce_len = nonce_len;
        in->selection = *selection;
        return in;
}

static gboolean
vtc_hostd_tpm_quote_out_take(VtcHostdTpmQuoteOut *out,
                             GBytes **out_attest,
                             GBytes **out_signature,
                             VtcPcrValues **out_pcrs)
{
        *out_attest = g_steal_pointer(&out->attest);
        *out_signature = g_steal_pointer(&out->signature);
        *out_pcrs = g_steal_pointer(&out->pcrs);
        return TRUE;
}

gboolean
vtc_hostd_tpm_quote_sync(VtcHostdTpm *self,
                         const guint8 *nonce,
                         gsize nonce_len,
                         const TPML_PCR_SELECTION *selection,
                         GBytes **out_attest,
                         GBytes **out_signature,
                         VtcPcrValues **out_pcrs,
                         GError **error)
{
        g_autofree VtcHostdTpmQuoteIn *in =
            vtc_hostd_tpm_quote_in_new(nonce, nonce_len, selection, error);
        g_autoptr(VtcHostdTpmQuoteOut) out = NULL;

        if (in == NULL)
                return FALSE;
        if (!vtc_hostd_tpm_run_sync(self,
                                    vtc_hostd_tpm_quote_job,
                                    in,
                                    (GDestroyNotify)vtc_hostd_tpm_quote_out_free,
                                    (gpointer *)&out,
                                    error))
                return FALSE;
        return vtc_hostd_tpm_quote_out_take(out, out_attest, out_signature, out_pcrs);
}

void
vtc_hostd_tpm_quote_async(VtcHostdTpm *self,
                          const guint8 *nonce,
                          gsize nonce_len,
                          const TPML_PCR_SELECTION *selection,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
        g_autoptr(GError) error = NULL;
        VtcHostdTpmQuoteIn *in = vtc_hostd_tpm_quote_in_new(nonce, nonce_len, selection, &error);

        if (in == NULL) {
                vtc_hostd_tpm_return_early(g_steal_pointer(&error),
                                           cancellable,
                                           callback,
                                           user_data);
                return;
        }
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_quote_job,
                                in,
                                g_free,
                                (GDestroyNotify)vtc_hostd_tpm_quote_out_free,
                                cancellable,
                                callback,
                                user_data);
}

gboolean
vtc_hostd_tpm_quote_finish(VtcHostdTpm *self,
                           GAsyncResult *res,
                           GBytes **out_attest,
                           GBytes **out_signature,
                           VtcPcrValues **out_pcrs,
                           GError **error)
{
        g_autoptr(VtcHostdTpmQuoteOut) out = NULL;

        if (!vtc_hostd_tpm_run_finish(self, res, (gpointer *)&out, error))
                return FALSE;
        return vtc_hostd_tpm_quote_out_take(out, out_attest, out_signature, out_pcrs);
}

/* --- extend --- */

typedef struct {
        guint pcr;
        TPM2_ALG_ID bank;
        guint8 digest[64];
        gsize len;
} VtcHostdTpmExtendIn;

static gboolean
vtc_hostd_tpm_extend_job(VtcHostdTpm *self,
                         VtcTpm *tpm,
                         gpointer data,
                         gpointer *out_result,
                         GError **error)
{
        VtcHostdTpmExtendIn *in = data;

        return vtc_tpm_pcr_extend(tpm, in->pcr, in->bank, in->digest, in->len, error);
}

static VtcHostdTpmExtendIn *
vtc_hostd_tpm_extend_in_new(guint pcr,
                            TPM2_ALG_ID bank,
                            const guint8 *digest,
                            gsize len,
                            GError **error)
{
        VtcHostdTpmExtendIn *in;

        if (len > sizeof(in->digest)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a %" G_GSIZE_FORMAT "-byte digest cannot extend a PCR",
                            len);
                return NULL;
        }
        in = g_new0(VtcHostdTpmExtendIn, 1);
        in->pcr = pcr;
        in->bank = bank;
        memcpy(in->digest, digest, len);
        in->len = len;
        return in;
}

gboolean
vtc_hostd_tpm_extend_sync(VtcHostdTpm *self,
                          guint pcr,
                          TPM2_ALG_ID bank,
                          const guint8 *digest,
                          gsize len,
                          GError **error)
{
        g_autofree VtcHostdTpmExtendIn *in =
            vtc_hostd_tpm_extend_in_new(pcr, bank, digest, len, error);

        if (in == NULL)
                return FALSE;
        return vtc_hostd_tpm_run_sync(self, vtc_hostd_tpm_extend_job, in, NULL, NULL, error);
}

void
vtc_hostd_tpm_extend_async(VtcHostdTpm *self,
                           guint pcr,
                           TPM2_ALG_ID bank,
                           const guint8 *digest,
                           gsize len,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data)
{
        g_autoptr(GError) error = NULL;
        VtcHostdTpmExtendIn *in = vtc_hostd_tpm_extend_in_new(pcr, bank, digest, len, &error);

        if (in == NULL) {
                vtc_hostd_tpm_return_early(g_steal_pointer(&error),
                                           cancellable,
                                           callback,
                                           user_data);
                return;
        }
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_extend_job,
                                in,
                                g_free,
                                NULL,
                                cancellable,
                                callback,
                                user_data);
}

gboolean
vtc_hostd_tpm_extend_finish(VtcHostdTpm *self, GAsyncResult *res, GError **error)
{
        return vtc_hostd_tpm_run_finish(self, res, NULL, error);
}

/* --- PCR read --- */

static gboolean
vtc_hostd_tpm_pcr_read_job(VtcHostdTpm *self,
                           VtcTpm *tpm,
                           gpointer data,
                           gpointer *out_result,
                           GError **error)
{
        VtcPcrValues *pcrs = vtc_tpm_pcr_read(tpm, data, error);

        if (pcrs == NULL)
                return FALSE;
        *out_result = pcrs;
        return TRUE;
}

VtcPcrValues *
vtc_hostd_tpm_pcr_read_sync(VtcHostdTpm *self, const TPML_PCR_SELECTION *selection, GError **error)
{
        TPML_PCR_SELECTION sel = *selection;
        VtcPcrValues *pcrs = NULL;

        if (!vtc_hostd_tpm_run_sync(self,
                                    vtc_hostd_tpm_pcr_read_job,
                                    &sel,
                                    (GDestroyNotify)vtc_pcr_values_free,
                                    (gpointer *)&pcrs,
                                    error))
                return NULL;
        return pcrs;
}

void
vtc_hostd_tpm_pcr_read_async(VtcHostdTpm *self,
                             const TPML_PCR_SELECTION *selection,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data)
{
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_pcr_read_job,
                                g_memdup2(selection, sizeof(*selection)),
                                g_free,
                                (GDestroyNotify)vtc_pcr_values_free,
                                cancellable,
                                callback,
                                user_data);
}

VtcPcrValues *
vtc_hostd_tpm_pcr_read_finish(VtcHostdTpm *self, GAsyncResult *res, GError **error)
{
        VtcPcrValues *pcrs = NULL;

        if (!vtc_hostd_tpm_run_finish(self, res, (gpointer *)&pcrs, error))
                return NULL;
        return pcrs;
}

/* --- sign --- */

typedef struct {
        TPM2_HANDLE key;
        TPM2_ALG_ID hash_alg;
        guint8 digest[64];
        gsize len;
} VtcHostdTpmSignIn;

static gboolean
vtc_hostd_tpm_sign_job(VtcHostdTpm *self,
                       VtcTpm *tpm,
                       gpointer data,
                       gpointer *out_result,
                       GError **error)
{
        VtcHostdTpmSignIn *in = data;
        g_autofree TPMT_SIGNATURE *sig = g_new0(TPMT_SIGNATURE, 1);
        ESYS_TR key = vtc_hostd_tpm_worker_get_key(self, in->key, error);

        if (key == ESYS_TR_NONE)
                return FALSE;
        if (!vtc_tpm_sign_digest(tpm, key, in->hash_alg, in->digest, in->len, sig, error))
                return FALSE;
        *out_result = g_steal_pointer(&sig);
        return TRUE;
}

static VtcHostdTpmSignIn *
vtc_hostd_tpm_sign_in_new(TPM2_HANDLE key,
                          TPM2_ALG_ID hash_alg,
                          const guint8 *digest,
                          gsize len,
                          GError **error)
{
        VtcHostdTpmSignIn *in;

        if (len > sizeof(in->digest)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a %" G_GSIZE_FORMAT "-byte digest is too long to sign",
                            len);
                return NULL;
        }
        in = g_new0(VtcHostdTpmSignIn, 1);
        in->key = key;
        in->hash_alg = hash_alg;
        memcpy(in->digest, digest, len);
        in->len = len;
        return in;
}

gboolean
vtc_hostd_tpm_sign_digest_sync(VtcHostdTpm *self,
                               TPM2_HANDLE key,
                               TPM2_ALG_ID hash_alg,
                               const guint8 *digest,
                               gsize len,
                               TPMT_SIGNATURE *out_signature,
                               GError **error)
{
        g_autofree VtcHostdTpmSignIn *in =
            vtc_hostd_tpm_sign_in_new(key, hash_alg, digest, len, error);
        g_autofree TPMT_SIGNATURE *sig = NULL;

        if (in == NULL)
                return FALSE;
        if (!vtc_hostd_tpm_run_sync(self,
                                    vtc_hostd_tpm_sign_job,
                                    in,
                                    g_free,
                                    (gpointer *)&sig,
                                    error))
                return FALSE;
        *out_signature = *sig;
        return TRUE;
}

void
vtc_hostd_tpm_sign_digest_async(VtcHostdTpm *self,
                                TPM2_HANDLE key,
                                TPM2_ALG_ID hash_alg,
                                const guint8 *digest,
                                gsize len,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
        g_autoptr(GError) error = NULL;
        VtcHostdTpmSignIn *in = vtc_hostd_tpm_sign_in_new(key, hash_alg, digest, len, &error);

        if (in == NULL) {
                vtc_hostd_tpm_return_early(g_steal_pointer(&error),
                                           cancellable,
                                           callback,
                                           user_data);
                return;
        }
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_sign_job,
                                in,
                                g_free,
                                g_free,
                                cancellable,
                                callback,
                                user_data);
}

gboolean
vtc_hostd_tpm_sign_digest_finish(VtcHostdTpm *self,
                                 GAsyncResult *res,
                                 TPMT_SIGNATURE *out_signature,
                                 GError **error)
{
        g_autofree TPMT_SIGNATURE *sig = NULL;

        if (!vtc_hostd_tpm_run_finish(self, res, (gpointer *)&sig, error))
                return FALSE;
        *out_signature = *sig;
        return TRUE;
}

/* --- certify --- */

typedef struct {
        TPM2_HANDLE object;
        TPM2_HANDLE signer;
        GBytes *qualifying_data;
} VtcHostdTpmCertifyIn;

typedef struct {
        GBytes *attest;
        GBytes *signature;
} VtcHostdTpmCertifyOut;

static void
vtc_hostd_tpm_certify_in_free(VtcHostdTpmCertifyIn *in)
{
        if (in == NULL)
                return;
        if (in->qualifying_data != NULL)
                g_bytes_unref(in->qualifying_data);
        g_free(in);
}

static void
vtc_hostd_tpm_certify_out_free(VtcHostdTpmCertifyOut *out)
{
        if (out == NULL)
                return;
        g_bytes_unref(out->attest);
        g_bytes_unref(out->signature);
        g_free(out);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpmCertifyIn, vtc_hostd_tpm_certify_in_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdTpmCertifyOut, vtc_hostd_tpm_certify_out_free)

static gboolean
vtc_hostd_tpm_certify_job(VtcHostdTpm *self,
                          VtcTpm *tpm,
                          gpointer data,
                          gpointer *out_result,
                          GError **error)
{
        VtcHostdTpmCertifyIn *in = data;
        g_autoptr(VtcHostdTpmCertifyOut) out = g_new0(VtcHostdTpmCertifyOut, 1);
        ESYS_TR object = vtc_hostd_tpm_worker_get_key(self, in->object, error);
        ESYS_TR signer;

        if (object == ESYS_TR_NONE)
                return FALSE;
        signer = vtc_hostd_tpm_worker_get_key(self,
                                              in->signer != 0 ? in->signer : self->ak_handle,
                                              error);
        if (signer == ESYS_TR_NONE)
                return FALSE;
        if (!vtc_tpm_certify(tpm,
                             object,
                             signer,
                             in->qualifying_data,
                             &out->attest,
                             &out->signature,
                             error))
                return FALSE;
        if (out->signature == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TPM,
                                    "the certification's signature does not marshal");
                return FALSE;
        }
        *out_result = g_steal_pointer(&out);
        return TRUE;
}

static VtcHostdTpmCertifyIn *
vtc_hostd_tpm_certify_in_new(TPM2_HANDLE object, TPM2_HANDLE signer, GBytes *qualifying_data)
{
        VtcHostdTpmCertifyIn *in = g_new0(VtcHostdTpmCertifyIn, 1);

        in->object = object;
        in->signer = signer;
        in->qualifying_data = qualifying_data != NULL ? g_bytes_ref(qualifying_data) : NULL;
        return in;
}

gboolean
vtc_hostd_tpm_certify_sync(VtcHostdTpm *self,
                           TPM2_HANDLE object,
                           TPM2_HANDLE signer,
                           GBytes *qualifying_data,
                           GBytes **out_attest,
                           GBytes **out_signature,
                           GError **error)
{
        g_autoptr(VtcHostdTpmCertifyIn) in =
            vtc_hostd_tpm_certify_in_new(object, signer, qualifying_data);
        g_autoptr(VtcHostdTpmCertifyOut) out = NULL;

        if (!vtc_hostd_tpm_run_sync(self,
                                    vtc_hostd_tpm_certify_job,
                                    in,
                                    (GDestroyNotify)vtc_hostd_tpm_certify_out_free,
                                    (gpointer *)&out,
                                    error))
                return FALSE;
        *out_attest = g_steal_pointer(&out->attest);
        *out_signature = g_steal_pointer(&out->signature);
        return TRUE;
}

void
vtc_hostd_tpm_certify_async(VtcHostdTpm *self,
                            TPM2_HANDLE object,
                            TPM2_HANDLE signer,
                            GBytes *qualifying_data,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data)
{
        vtc_hostd_tpm_run_async(self,
                                vtc_hostd_tpm_certify_job,
                                vtc_hostd_tpm_certify_in_new(object, signer, qualifying_data),
                                (GDestroyNotify)vtc_hostd_tpm_certify_in_free,
                                (GDestroyNotify)vtc_hostd_tpm_certify_out_free,
                                cancellable,
                                callback,
                                user_data);
}

gboolean
vtc_hostd_tpm_certify_finish(VtcHostdTpm *self,
                             GAsyncResult *res,
                             GBytes **out_attest,
                             GBytes **out_signature,
                             GError **error)
{
        g_autoptr(VtcHostdTpmCertifyOut) out = NULL;

        if (!vtc_hostd_tpm_run_finish(self, res, (gpointer *)&out, error))
                return FALSE;
        *out_attest = g_steal_pointer(&out->attest);
        *out_signature = g_steal_pointer(&out->signature);
        return TRUE;
}
