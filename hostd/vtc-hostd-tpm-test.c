/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>
#include <signal.h>

#include "vtc-certify.h"
#include "vtc-error.h"
#include "vtc-hostd-tpm.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

typedef struct {
        gchar *dir;
        gchar *state_dir;
        VtcSwtpm *swtpm;
        VtcHostdTpm *tpm;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        vtc_test_require_program("swtpm");
        fx->dir = vtc_test_tmpdir_new();
        fx->state_dir = g_build_filename(fx->dir, "tpm", NULL);
        fx->swtpm = vtc_swtpm_new(fx->state_dir, &error);
        g_assert_no_error(error);
        fx->tpm =
            vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        g_assert_nonnull(fx->tpm);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
        g_clear_pointer(&fx->tpm, vtc_hostd_tpm_free);
        g_clear_pointer(&fx->swtpm, vtc_swtpm_free);
        g_free(fx->state_dir);
        vtc_test_tmpdir_free(fx->dir);
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
        while (*slot == NULL)
                g_main_context_iteration(NULL, TRUE);
        return *slot;
}

static void
store_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        GAsyncResult **slot = user_data;

        *slot = g_object_ref(res);
}

static VtcQuoteAk *
ak_of(VtcHostdTpm *tpm)
{
        g_autoptr(GBytes) pub = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(tpm));
        g_autoptr(GError) error = NULL;
        VtcQuoteAk *ak = vtc_quote_ak_new_from_public(g_bytes_get_data(pub, NULL),
                                                      g_bytes_get_size(pub),
                                                      &error);

        g_assert_no_error(error);
        return ak;
}

static void
check_quote(VtcHostdTpm *tpm,
            GBytes *attest,
            GBytes *signature,
            const VtcPcrValues *pcrs,
            const guint8 *nonce,
            gsize nonce_len)
{
        g_autoptr(VtcQuoteAk) ak = ak_of(tpm);
        g_autoptr(VtcQuote) quote = NULL;
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig = {0};
        g_autoptr(GError) error = NULL;

        quote = vtc_quote_parse(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest), &error);
        g_assert_no_error(error);
        vtc_quote_signature_parse(g_bytes_get_data(signature, NULL),
                                  g_bytes_get_size(signature),
                                  &sig,
                                  &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_check(quote,
                                      &sig,
                                      ak,
                                      nonce,
                                      nonce_len,
                                      pcrs,
                                      TPM2_ALG_SHA256,
                                      VTC_QUOTE_CHECK_EXACT_PCRS,
                                      &result,
                                      &error));
        g_assert_no_error(error);
        g_assert_cmpstr(result.reason, ==, NULL);
        g_assert_true(result.valid);
}

/* The AK is persisted at the handle asked for and survives a restart of hostd. */
static void
test_ak_persisted(Fixture *fx, gconstpointer data)
{
        const TPM2B_PUBLIC *pub = vtc_hostd_tpm_get_ak_public(fx->tpm);
        g_autoptr(GBytes) first = vtc_tpm_public_marshal(pub);
        g_autoptr(GBytes) again = NULL;
        g_autoptr(GBytes) other = NULL;
        g_autoptr(VtcHostdTpm) tpm2 = NULL;
        g_autoptr(VtcHostdTpm) tpm3 = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_cmphex(vtc_hostd_tpm_get_ak_handle(fx->tpm), ==, 0x81000002);
        g_assert_cmpint(pub->publicArea.type, ==, TPM2_ALG_ECC);
        g_assert_cmpint(pub->publicArea.parameters.eccDetail.curveID, ==, TPM2_ECC_NIST_P256);
        g_assert_true((pub->publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED) != 0);
        g_assert_true((pub->publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) != 0);
        g_clear_pointer(&fx->tpm, vtc_hostd_tpm_free);

        /* hostd restarted: the same key */
        tpm2 =
            vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        again = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(tpm2));
        g_assert_true(g_bytes_equal(first, again));

        /* another handle and type: an RSA AK there (primaries are deterministic, so the type
         * is what tells the keys apart) */
        tpm3 = vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm),
                                 0x81000020,
                                 VTC_TPM_KEY_RSA2048,
                                 &error);
        g_assert_no_error(error);
        g_assert_cmphex(vtc_hostd_tpm_get_ak_handle(tpm3), ==, 0x81000020);
        g_assert_cmpint(vtc_hostd_tpm_get_ak_public(tpm3)->publicArea.type, ==, TPM2_ALG_RSA);
        other = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(tpm3));
        g_assert_false(g_bytes_equal(first, other));

        /* not a persistent handle */
        g_assert_null(vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm),
                                        0x01000000,
                                        VTC_TPM_KEY_ECC_P256,
                                        &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* no TPM there */
        g_assert_null(
            vtc_hostd_tpm_new("swtpm:path=/nonexistent/vtc.sock", 0, VTC_TPM_KEY_ECC_P256, &error));
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "unreachable"));
}

/* A quote, async and sync, verifies against the AK with the PCR values handed back. */
static void
test_quote(Fixture *fx, gconstpointer data)
{
        TPML_PCR_SELECTION sel;
        guint8 nonce[32];
        guint8 big[65] = {0};
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(GAsyncResult) res_bad = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) signature = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(GBytes) attest2 = NULL;
        g_autoptr(GBytes) signature2 = NULL;
        g_autoptr(VtcPcrValues) pcrs2 = NULL;
        g_autoptr(GError) error = NULL;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0x3ffu | (1u << 23));
        for (guint i = 0; i < sizeof(nonce); i++)
                nonce[i] = (guint8)(i * 7 + 1);
        vtc_hostd_tpm_quote_async(fx->tpm, nonce, sizeof(nonce), &sel, NULL, store_result_cb, &res);
        g_assert_null(res); /* never answered before the loop runs */
        g_assert_true(vtc_hostd_tpm_quote_finish(fx->tpm,
                                                 wait_result(&res),
                                                 &attest,
                                                 &signature,
                                                 &pcrs,
                                                 &error));
        g_assert_no_error(error);
        g_assert_cmphex(vtc_pcr_values_get_mask(pcrs, TPM2_ALG_SHA256), ==, 0x3ffu | (1u << 23));
        check_quote(fx->tpm, attest, signature, pcrs, nonce, sizeof(nonce));

        g_assert_true(vtc_hostd_tpm_quote_sync(fx->tpm,
                                               nonce,
                                               16,
                                               &sel,
                                               &attest2,
                                               &signature2,
                                               &pcrs2,
                                               &error));
        g_assert_no_error(error);
        check_quote(fx->tpm, attest2, signature2, pcrs2, nonce, 16);

        /* too long a nonce: refused, on the loop as well */
        vtc_hostd_tpm_quote_async(fx->tpm, big, sizeof(big), &sel, NULL, store_result_cb, &res_bad);
        g_assert_false(vtc_hostd_tpm_quote_finish(fx->tpm,
                                                  wait_result(&res_bad),
                                                  &attest,
                                                  &signature,
                                                  &pcrs,
                                                  &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

/* Extend then read: the new value is SHA-256(old || digest). */
static void
test_extend_read(Fixture *fx, gconstpointer data)
{
        TPML_PCR_SELECTION sel;
        guint8 digest[32];
        guint8 buf[64];
        guint8 too_long[65] = {0};
        guint8 expect[32];
        const guint8 *old;
        const guint8 *now;
        gsize len = 0;
        g_autoptr(VtcPcrValues) before = NULL;
        g_autoptr(VtcPcrValues) after = NULL;
        g_autoptr(GAsyncResult) res_ext = NULL;
        g_autoptr(GAsyncResult) res_read = NULL;
        g_autoptr(GAsyncResult) res_bad = NULL;
        g_autoptr(GError) error = NULL;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 1u << 23);
        before = vtc_hostd_tpm_pcr_read_sync(fx->tpm, &sel, &error);
        g_assert_no_error(error);
        old = vtc_pcr_values_get(before, TPM2_ALG_SHA256, 23, &len);
        g_assert_nonnull(old);
        g_assert_cmpuint(len, ==, 32);
        memset(digest, 0xab, sizeof(digest));
        memcpy(buf, old, 32);
        memcpy(buf + 32, digest, 32);
        g_assert_true(
            vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), buf, sizeof(buf), expect, NULL));

        /* queued in order: the read sees the extend */
        vtc_hostd_tpm_extend_async(fx->tpm,
                                   23,
                                   TPM2_ALG_SHA256,
                                   digest,
                                   sizeof(digest),
                                   NULL,
                                   store_result_cb,
                                   &res_ext);
        vtc_hostd_tpm_pcr_read_async(fx->tpm, &sel, NULL, store_result_cb, &res_read);
        g_assert_true(vtc_hostd_tpm_extend_finish(fx->tpm, wait_result(&res_ext), &error));
        g_assert_no_error(error);
        after = vtc_hostd_tpm_pcr_read_finish(fx->tpm, wait_result(&res_read), &error);
        g_assert_no_error(error);
        now = vtc_pcr_values_get(after, TPM2_ALG_SHA256, 23, &len);
        g_assert_nonnull(now);
        g_assert_cmpmem(now, len, expect, sizeof(expect));

        /* a digest of the wrong size for the bank */
        g_assert_false(vtc_hostd_tpm_extend_sync(fx->tpm, 23, TPM2_ALG_SHA256, digest, 20, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        vtc_hostd_tpm_extend_async(fx->tpm,
                                   23,
                                   TPM2_ALG_SHA256,
                                   too_long,
                                   sizeof(too_long),
                                   NULL,
                                   store_result_cb,
                                   &res_bad);
        g_assert_false(vtc_hostd_tpm_extend_finish(fx->tpm, wait_result(&res_bad), &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

/* A signing key made sure of, signing a digest and certified by the AK. */
static void
test_sign_certify(Fixture *fx, gconstpointer data)
{
        const TPM2_HANDLE ca = 0x81000010;
        const gchar *msg = "to be signed by the vTPM CA key";
        TPM2B_PUBLIC template;
        TPM2B_PUBLIC pub = {0};
        TPM2B_PUBLIC pub_async = {0};
        TPMT_SIGNATURE sig = {0};
        TPMT_SIGNATURE sig_sync = {0};
        guint8 digest[32];
        g_autoptr(GBytes) pub_bytes = NULL;
        g_autoptr(GBytes) pub_async_bytes = NULL;
        g_autoptr(GBytes) ak_bytes = NULL;
        g_autoptr(GBytes) qd = g_bytes_new_static("qualifying", 10);
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) signature = NULL;
        g_autoptr(VtcQuoteAk) from_pub = NULL;
        g_autoptr(VtcQuoteAk) key = NULL;
        g_autoptr(GAsyncResult) res_key = NULL;
        g_autoptr(GAsyncResult) res_sign = NULL;
        g_autoptr(GAsyncResult) res_cert = NULL;
        g_autoptr(GAsyncResult) res_unknown = NULL;
        g_autoptr(GError) error = NULL;

        vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &template);
        g_assert_true(vtc_hostd_tpm_key_ensure_sync(fx->tpm, ca, &template, &pub, &error));
        g_assert_no_error(error);
        pub_bytes = vtc_tpm_public_marshal(&pub);
        /* asked again (async): the same key */
        vtc_hostd_tpm_key_ensure_async(fx->tpm, ca, &template, NULL, store_result_cb, &res_key);
        g_assert_true(
            vtc_hostd_tpm_key_ensure_finish(fx->tpm, wait_result(&res_key), &pub_async, &error));
        g_assert_no_error(error);
        pub_async_bytes = vtc_tpm_public_marshal(&pub_async);
        g_assert_true(g_bytes_equal(pub_bytes, pub_async_bytes));

        g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                               (const guint8 *)msg,
                               strlen(msg),
                               digest,
                               NULL));
        vtc_hostd_tpm_sign_digest_async(fx->tpm,
                                        ca,
                                        TPM2_ALG_SHA256,
                                        digest,
                                        sizeof(digest),
                                        NULL,
                                        store_result_cb,
                                        &res_sign);
        g_assert_true(
            vtc_hostd_tpm_sign_digest_finish(fx->tpm, wait_result(&res_sign), &sig, &error));
        g_assert_no_error(error);
        g_assert_cmpint(sig.sigAlg, ==, TPM2_ALG_ECDSA);
        /* OpenSSL checks it over the message (no restricted-key rule: a bare key) */
        from_pub = vtc_quote_ak_new_from_public(g_bytes_get_data(pub_bytes, NULL),
                                                g_bytes_get_size(pub_bytes),
                                                &error);
        g_assert_no_error(error);
        key = vtc_quote_ak_new_from_pkey(vtc_quote_ak_get_pkey(from_pub), &error);
        g_assert_no_error(error);
        g_assert_true(
            vtc_quote_ak_verify_data(key, (const guint8 *)msg, strlen(msg), &sig, &error));
        g_assert_no_error(error);
        g_assert_false(vtc_quote_ak_verify_data(key, (const guint8 *)"other", 5, &sig, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_clear_error(&error);
        g_assert_true(vtc_hostd_tpm_sign_digest_sync(fx->tpm,
                                                     ca,
                                                     TPM2_ALG_SHA256,
                                                     digest,
                                                     sizeof(digest),
                                                     &sig_sync,
                                                     &error));
        g_assert_no_error(error);
        g_assert_true(
            vtc_quote_ak_verify_data(key, (const guint8 *)msg, strlen(msg), &sig_sync, &error));
        g_assert_no_error(error);

        /* the AK certifies the CA key */
        vtc_hostd_tpm_certify_async(fx->tpm, ca, 0, qd, NULL, store_result_cb, &res_cert);
        g_assert_true(vtc_hostd_tpm_certify_finish(fx->tpm,
                                                   wait_result(&res_cert),
                                                   &attest,
                                                   &signature,
                                                   &error));
        g_assert_no_error(error);
        ak_bytes = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(fx->tpm));
        g_assert_true(vtc_certify_check(ak_bytes, pub_bytes, attest, signature, qd, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_certify_check_ca_key_attributes(&pub, &error));
        g_assert_no_error(error);

        /* a key nobody made sure of */
        vtc_hostd_tpm_sign_digest_async(fx->tpm,
                                        0x81000033,
                                        TPM2_ALG_SHA256,
                                        digest,
                                        sizeof(digest),
                                        NULL,
                                        store_result_cb,
                                        &res_unknown);
        g_assert_false(
            vtc_hostd_tpm_sign_digest_finish(fx->tpm, wait_result(&res_unknown), &sig, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

typedef struct {
        GThread *main_thread;
        GThread *seen[64];
        guint order[64];
        guint n_run;
        guint n_done;
        guint ticks;
        guint ticks_at_slow_done;
        gboolean slow_done;
        GMutex lock;
} OrderState;

typedef struct {
        OrderState *st;
        guint index;
        guint sleep_ms;
} OrderJob;

static gboolean
order_job(VtcHostdTpm *self, VtcTpm *tpm, gpointer data, gpointer *out_result, GError **error)
{
        OrderJob *job = data;
        OrderState *st = job->st;

        g_assert_nonnull(tpm);
        if (job->sleep_ms > 0)
                g_usleep(job->sleep_ms * 1000); /* a slow hardware TPM */
        g_mutex_lock(&st->lock);
        st->seen[job->index] = g_thread_self();
        st->order[st->n_run++] = job->index;
        g_mutex_unlock(&st->lock);
        *out_result = GUINT_TO_POINTER(job->index + 1);
        return TRUE;
}

typedef struct {
        OrderState *st;
        VtcHostdTpm *tpm;
        guint index;
} OrderCb;

static void
order_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autofree OrderCb *cb = user_data;
        gpointer result = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(g_thread_self() == cb->st->main_thread);
        g_assert_true(vtc_hostd_tpm_run_finish(cb->tpm, res, &result, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(GPOINTER_TO_UINT(result), ==, cb->index + 1);
        if (cb->index == 0) {
                cb->st->slow_done = TRUE;
                cb->st->ticks_at_slow_done = cb->st->ticks;
        }
        cb->st->n_done++;
}

static gboolean
tick_cb(gpointer user_data)
{
        OrderState *st = user_data;

        st->ticks++;
        return G_SOURCE_CONTINUE;
}

static gpointer
sync_caller(gpointer data)
{
        VtcHostdTpm *tpm = data;
        TPML_PCR_SELECTION sel;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0xff);
        pcrs = vtc_hostd_tpm_pcr_read_sync(tpm, &sel, &error);
        g_assert_no_error(error);
        return GUINT_TO_POINTER(vtc_pcr_values_get_mask(pcrs, TPM2_ALG_SHA256));
}

/*
 * Every job runs on one worker thread, in the order queued, and the main loop keeps running
 * while a slow one is on the TPM.
 */
static void
test_worker_fifo(Fixture *fx, gconstpointer data)
{
        OrderState st = {0};
        guint n = 40;
        g_autoptr(GSource) tick = g_timeout_source_new(10);
        GThread *other;
        VtcHostdTpmStats stats = {0};
        gint64 start = g_get_monotonic_time();

        g_mutex_init(&st.lock);
        st.main_thread = g_thread_self();
        g_source_set_callback(tick, tick_cb, &st, NULL);
        g_source_attach(tick, NULL);
        for (guint i = 0; i < n; i++) {
                OrderJob *job = g_new0(OrderJob, 1);
                OrderCb *cb = g_new0(OrderCb, 1);

                job->st = &st;
                job->index = i;
                job->sleep_ms = i == 0 ? 400 : 0;
                cb->st = &st;
                cb->tpm = fx->tpm;
                cb->index = i;
                vtc_hostd_tpm_run_async(fx->tpm, order_job, job, g_free, NULL, NULL, order_cb, cb);
        }
        /* a sync caller on another thread queues behind them */
        other = g_thread_new("sync-caller", sync_caller, fx->tpm);
        while (st.n_done < n)
                g_main_context_iteration(NULL, TRUE);
        g_assert_cmphex(GPOINTER_TO_UINT(g_thread_join(other)), ==, 0xff);
        g_source_destroy(tick);

        g_assert_cmpuint(st.n_run, ==, n);
        for (guint i = 0; i < n; i++) {
                g_assert_true(st.seen[i] == st.seen[0]);
                g_assert_cmpuint(st.order[i], ==, i);
        }
        g_assert_true(st.seen[0] != st.main_thread);
        /* 400 ms on the TPM; a 10 ms tick kept going meanwhile (~40 ticks; 10 is a floor for a
         * loaded machine, a blocked loop would show none) */
        g_assert_true(st.slow_done);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 400000);
        g_assert_cmpuint(st.ticks_at_slow_done, >=, 10);
        vtc_hostd_tpm_get_stats(fx->tpm, &stats);
        g_assert_cmpuint(stats.jobs, >=, n + 2);
        g_assert_cmpuint(stats.failures, ==, 0);
        g_assert_cmpuint(stats.queued, ==, 0);
        g_assert_cmpuint(stats.busy_us, >=, 400000);
        g_mutex_clear(&st.lock);
}

typedef struct {
        GMutex lock;
        GCond cond;
        gboolean open;
        gboolean entered;
} Gate;

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

/*
 * The TPM goes away while jobs are queued: each fails with a clear error and nothing crashes
 * (SIGPIPE included); once the TPM is back, the worker reconnects and finds the same AK.
 */
static void
test_tpm_lost(Fixture *fx, gconstpointer data)
{
        Gate gate = {0};
        TPML_PCR_SELECTION sel;
        guint8 nonce[32] = {1, 2, 3};
        GAsyncResult *res[3] = {NULL};
        g_autoptr(GAsyncResult) res_gate = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) signature = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(GError) error = NULL;
        VtcHostdTpmStats stats = {0};
        GPid pid = vtc_swtpm_get_pid(fx->swtpm);

        g_mutex_init(&gate.lock);
        g_cond_init(&gate.cond);
        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0x3ffu | (1u << 23));
        vtc_hostd_tpm_run_async(fx->tpm,
                                gate_job,
                                &gate,
                                NULL,
                                NULL,
                                NULL,
                                store_result_cb,
                                &res_gate);
        for (guint i = 0; i < G_N_ELEMENTS(res); i++)
                vtc_hostd_tpm_quote_async(fx->tpm,
                                          nonce,
                                          sizeof(nonce),
                                          &sel,
                                          NULL,
                                          store_result_cb,
                                          &res[i]);
        /* the worker is inside the gate job: kill the TPM under it */
        g_mutex_lock(&gate.lock);
        while (!gate.entered)
                g_cond_wait(&gate.cond, &gate.lock);
        g_assert_cmpint(pid, >, 0);
        g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
        gate.open = TRUE;
        g_cond_broadcast(&gate.cond);
        g_mutex_unlock(&gate.lock);

        g_assert_true(vtc_hostd_tpm_run_finish(fx->tpm, wait_result(&res_gate), NULL, &error));
        g_assert_no_error(error);
        for (guint i = 0; i < G_N_ELEMENTS(res); i++) {
                g_assert_false(vtc_hostd_tpm_quote_finish(fx->tpm,
                                                          wait_result(&res[i]),
                                                          &attest,
                                                          &signature,
                                                          &pcrs,
                                                          &error));
                g_assert_nonnull(error);
                g_assert_true(error->domain == VTC_ERROR);
                /* the first sees the command fail, the others find no TPM to reconnect to */
                if (i == 0)
                        g_assert_nonnull(strstr(error->message, "Esys_Quote: 0x"));
                else
                        g_assert_nonnull(strstr(error->message, "the TPM is unreachable"));
                g_assert_null(attest);
                g_assert_null(pcrs);
                g_clear_error(&error);
                g_clear_object(&res[i]);
        }

        /* the TPM is back (same state): the next job reconnects */
        g_clear_pointer(&fx->swtpm, vtc_swtpm_free);
        fx->swtpm = vtc_swtpm_new(fx->state_dir, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_hostd_tpm_quote_sync(fx->tpm,
                                               nonce,
                                               sizeof(nonce),
                                               &sel,
                                               &attest,
                                               &signature,
                                               &pcrs,
                                               &error));
        g_assert_no_error(error);
        check_quote(fx->tpm, attest, signature, pcrs, nonce, sizeof(nonce));
        vtc_hostd_tpm_get_stats(fx->tpm, &stats);
        g_assert_cmpuint(stats.reconnects, ==, 1);
        g_assert_cmpuint(stats.failures, ==, 3);
        g_mutex_clear(&gate.lock);
        g_cond_clear(&gate.cond);
}

/* A cancelled job does not run. */
static void
test_cancelled(Fixture *fx, gconstpointer data)
{
        g_autoptr(GCancellable) cancellable = g_cancellable_new();
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(GError) error = NULL;
        OrderState st = {0};
        OrderJob *job = g_new0(OrderJob, 1);

        g_mutex_init(&st.lock);
        job->st = &st;
        g_cancellable_cancel(cancellable);
        vtc_hostd_tpm_run_async(fx->tpm,
                                order_job,
                                job,
                                g_free,
                                NULL,
                                cancellable,
                                store_result_cb,
                                &res);
        g_assert_false(vtc_hostd_tpm_run_finish(fx->tpm, wait_result(&res), NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_cmpuint(st.n_run, ==, 0);
        g_mutex_clear(&st.lock);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/hostd-tpm/ak-persisted", test_ak_persisted);
        ADD("/hostd-tpm/quote", test_quote);
        ADD("/hostd-tpm/extend-read", test_extend_read);
        ADD("/hostd-tpm/sign-certify", test_sign_certify);
        ADD("/hostd-tpm/worker-fifo", test_worker_fifo);
        ADD("/hostd-tpm/tpm-lost", test_tpm_lost);
        ADD("/hostd-tpm/cancelled", test_cancelled);
#undef ADD
        return g_test_run();
}
