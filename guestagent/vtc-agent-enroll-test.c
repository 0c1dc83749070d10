/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-api.h"
#include "vtc-agent-enroll.h"
#include "vtc-agent-test-registrar.h"
#include "vtc-agent-test-util.h"

#define UUID "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11"

static void
test_enroll(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autofree gchar *rdir = g_build_filename(t->dir, "registrar", NULL);
        g_autoptr(VtcAgentTestRegistrar) reg = vtc_agent_test_registrar_start(rdir, t->ca_dir);
        g_autofree gchar *crt = g_build_filename(t->dir, "tls.crt", NULL);
        g_autofree gchar *key = g_build_filename(t->dir, "tls.key", NULL);
        g_autofree gchar *pem = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = NULL;
        g_autoptr(JsonObject) rec = NULL;
        g_autoptr(GBytes) reg_ak = NULL;
        g_autoptr(GBytes) reg_tls = NULL;
        g_autofree gchar *host_id = NULL;
        guint8 sha[32];
        guint status = 0;
        VtcAgentEnrollOptions o = {.url = reg->url, .ca_path = reg->ca, .uuid = UUID};

        g_assert_true(vtc_agent_api_tls_ensure(crt, key, UUID, &error));
        g_assert_true(vtc_agent_api_tls_key_sha256(crt, sha, &pem, &error));
        g_assert_no_error(error);
        o.tls_cert_pem = pem;
        tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                VTC_TPM_KEY_ECC_P256,
                                &error);
        g_assert_no_error(error);

        /* not yet known */
        rec = vtc_agent_test_registrar_get(reg, "/v1/agents/" UUID, &status);
        g_assert_cmpuint(status, ==, 404);
        g_clear_pointer(&rec, json_object_unref);

        g_assert_true(vtc_agent_enroll(tpm, &o, &host_id, &error));
        g_assert_no_error(error);
        /* a vendor-certified TPM: no host made it */
        g_assert_null(host_id);
        rec = vtc_agent_test_registrar_get(reg, "/v1/agents/" UUID, &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(json_object_get_string_member(rec, "state"), ==, "active");
        g_assert_cmpstr(json_object_get_string_member(rec, "ak_name"),
                        ==,
                        vtc_agent_tpm_get_ak_name(tpm));
        reg_ak = vtc_json_get_base64(rec, "ak_public", 4096, TRUE, &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(reg_ak, vtc_agent_tpm_get_ak_public(tpm)));
        reg_tls = vtc_json_get_base64(rec, "tls_cert", 65536, TRUE, &error);
        g_assert_no_error(error);
        {
                /* the registrar's copy of the TLS certificate gives the digest quotes are bound to
                 */
                const guint8 *der = g_bytes_get_data(reg_tls, NULL);
                g_autoptr(X509) x = d2i_X509(NULL, &der, (long)g_bytes_get_size(reg_tls));
                guint8 *spki = NULL;
                int len;
                guint8 expect[32];

                g_assert_nonnull(x);
                len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
                g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                       spki,
                                       (gsize)len,
                                       expect,
                                       &error));
                OPENSSL_free(spki);
                g_assert_cmpmem(expect, 32, sha, 32);
        }

        /* every start enrolls again: the registration is renewed, not refused */
        g_assert_true(vtc_agent_enroll(tpm, &o, NULL, &error));
        g_assert_no_error(error);
        {
                g_autoptr(JsonObject) again =
                    vtc_agent_test_registrar_get(reg, "/v1/agents/" UUID, &status);

                g_assert_cmpstr(json_object_get_string_member(again, "state"), ==, "active");
        }

        /* the same UUID with another AK is refused, with the registrar's reason */
        {
                g_autoptr(VtcAgentTpm) other = NULL;

                g_clear_pointer(&tpm, vtc_agent_tpm_unref);
                other = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                          0x81000102,
                                          VTC_TPM_KEY_RSA2048,
                                          &error);
                g_assert_no_error(error);
                g_assert_false(vtc_agent_enroll(other, &o, NULL, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_nonnull(strstr(error->message, "409"));
                g_assert_false(vtc_agent_enroll_error_is_transient(error));
        }
}

static void
test_refused(void)
{
        /* two TPMs from two factories; the registrar trusts only the first's */
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autoptr(VtcAgentTestTpm) stranger = vtc_agent_test_tpm_new(TRUE);
        g_autofree gchar *rdir = g_build_filename(t->dir, "registrar", NULL);
        g_autoptr(VtcAgentTestRegistrar) reg = vtc_agent_test_registrar_start(rdir, t->ca_dir);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(stranger->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_ECC_P256,
                                                       &error);
        VtcAgentEnrollOptions o = {.url = reg->url, .ca_path = reg->ca, .uuid = UUID};
        g_autoptr(JsonObject) rec = NULL;
        guint status = 0;

        g_assert_no_error(error);
        g_assert_false(vtc_agent_enroll(tpm, &o, NULL, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "422"));
        g_assert_false(vtc_agent_enroll_error_is_transient(error));
        rec = vtc_agent_test_registrar_get(reg, "/v1/agents/" UUID, &status);
        g_assert_cmpuint(status, ==, 404);
}

static void
async_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        GError **out = user_data;

        g_assert_false(vtc_agent_enroll_finish(res, NULL, out));
        g_assert_nonnull(*out);
}

static void
test_absent(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autoptr(VtcAgentTestTpm) bare = vtc_agent_test_tpm_new(FALSE);
        g_autofree gchar *rdir = g_build_filename(t->dir, "registrar", NULL);
        g_autoptr(VtcAgentTestRegistrar) reg = vtc_agent_test_registrar_start(rdir, t->ca_dir);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_ECC_P256,
                                                       &error);
        g_autoptr(VtcAgentTpm) no_cert = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(bare->swtpm),
                                                           VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                           VTC_TPM_KEY_ECC_P256,
                                                           &error);
        g_autofree gchar *down = NULL;
        g_autofree gchar *ca = g_strdup(reg->ca);
        VtcAgentEnrollOptions o = {.url = NULL, .ca_path = ca, .uuid = UUID};

        g_assert_no_error(error);
        /* nobody listens there (the registrar's port, after it stopped) */
        down = g_strdup(reg->url);
        g_clear_pointer(&reg, vtc_agent_test_registrar_free);
        o.url = down;
        g_assert_false(vtc_agent_enroll(tpm, &o, NULL, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        g_assert_true(vtc_agent_enroll_error_is_transient(error));
        g_clear_error(&error);

        /* the same from a worker thread, the answer on the caller's context */
        {
                GError *async_error = NULL;
                gboolean done = FALSE;

                vtc_agent_enroll_async(tpm, &o, NULL, async_done, &async_error);
                while (async_error == NULL)
                        g_main_context_iteration(NULL, TRUE);
                done = g_error_matches(async_error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
                g_clear_error(&async_error);
                g_assert_true(done);
        }

        /* no EK certificate: said before anything is sent */
        g_assert_false(vtc_agent_enroll(no_cert, &o, NULL, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, "EK certificate"));
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/agent-enroll/enroll", test_enroll);
        g_test_add_func("/agent-enroll/refused", test_refused);
        g_test_add_func("/agent-enroll/absent", test_absent);
        return g_test_run();
}
