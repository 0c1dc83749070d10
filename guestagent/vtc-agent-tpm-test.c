/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/x509.h>

#include "vtc-agent-test-util.h"
#include "vtc-agent-tpm.h"
#include "vtc-credential.h"

static void
test_manufactured(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_ECC_P256,
                                                       &error);
        g_autoptr(GBytes) ak_first = NULL;
        g_autofree gchar *name_first = NULL;
        GBytes *cert;
        const gchar *why = NULL;
        const guint8 *der;
        g_autoptr(X509) x509 = NULL;
        TPM2B_PUBLIC ek = {0};
        g_autoptr(EVP_PKEY) ek_key = NULL;

        g_assert_no_error(error);
        cert = vtc_agent_tpm_get_ek_cert(tpm, &why);
        g_assert_nonnull(cert);
        g_assert_null(why);
        /* the certificate is the EK's */
        der = g_bytes_get_data(cert, NULL);
        x509 = d2i_X509(NULL, &der, (long)g_bytes_get_size(cert));
        g_assert_nonnull(x509);
        g_assert_true(
            vtc_tpm_public_unmarshal(g_bytes_get_data(vtc_agent_tpm_get_ek_public(tpm), NULL),
                                     g_bytes_get_size(vtc_agent_tpm_get_ek_public(tpm)),
                                     &ek,
                                     &error));
        g_assert_cmpint(ek.publicArea.type, ==, TPM2_ALG_RSA);
        ek_key = vtc_tpm_public_to_pkey(&ek, &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(ek_key, X509_get0_pubkey(x509)), ==, 1);
        /* nameAlg (2 bytes) || SHA-256 */
        g_assert_cmpuint(strlen(vtc_agent_tpm_get_ak_name(tpm)), ==, 68);

        /* the AK survives a restart of the agent */
        ak_first = g_bytes_ref(vtc_agent_tpm_get_ak_public(tpm));
        name_first = g_strdup(vtc_agent_tpm_get_ak_name(tpm));
        g_clear_pointer(&tpm, vtc_agent_tpm_unref);
        tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                VTC_TPM_KEY_RSA2048, /* ignored: the persisted key wins */
                                &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(ak_first, vtc_agent_tpm_get_ak_public(tpm)));
        g_assert_cmpstr(name_first, ==, vtc_agent_tpm_get_ak_name(tpm));
}

static void
test_quote(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_RSA2048,
                                                       &error);
        guint8 tls[32];
        VtcChannelRound r;

        g_assert_no_error(error);
        memset(tls, 0xab, sizeof(tls));
        vtc_agent_test_round_init(&r, 0x7ff, 0);
        r.pcrs.n_banks = 2;
        r.pcrs.hash_alg[1] = TPM2_ALG_SHA1;
        r.pcrs.pcr_mask[1] = 0xffffff; /* all 24: PCR_Read answers 8 at a time */
        for (guint with_tls = 0; with_tls < 2; with_tls++) {
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) sig_bytes = NULL;
                g_autoptr(VtcPcrValues) pcrs = NULL;
                g_autoptr(VtcQuote) q = NULL;
                g_autoptr(VtcQuoteAk) ak = NULL;
                g_auto(VtcQuoteResult) result = {0};
                g_auto(VtcQuoteResult) wrong = {0};
                TPMT_SIGNATURE sig = {0};
                guint8 qualifier[32];
                guint8 other[32];
                GBytes *ak_pub = vtc_agent_tpm_get_ak_public(tpm);

                g_assert_true(vtc_agent_tpm_quote(tpm,
                                                  r.nonce,
                                                  with_tls ? tls : NULL,
                                                  &r.pcrs,
                                                  &attest,
                                                  &sig_bytes,
                                                  &pcrs,
                                                  &error));
                g_assert_no_error(error);
                q = vtc_quote_parse(g_bytes_get_data(attest, NULL),
                                    g_bytes_get_size(attest),
                                    &error);
                g_assert_no_error(error);
                g_assert_true(vtc_quote_signature_parse(g_bytes_get_data(sig_bytes, NULL),
                                                        g_bytes_get_size(sig_bytes),
                                                        &sig,
                                                        &error));
                ak = vtc_quote_ak_new_from_public(g_bytes_get_data(ak_pub, NULL),
                                                  g_bytes_get_size(ak_pub),
                                                  &error);
                g_assert_no_error(error);
                vtc_channel_quote_qualifier(r.nonce, with_tls ? tls : NULL, qualifier);
                g_assert_true(vtc_quote_check(q,
                                              &sig,
                                              ak,
                                              qualifier,
                                              32,
                                              pcrs,
                                              TPM2_ALG_NULL,
                                              VTC_QUOTE_CHECK_EXACT_PCRS,
                                              &result,
                                              &error));
                g_assert_true(result.valid);
                g_assert_cmphex(vtc_pcr_values_get_mask(pcrs, TPM2_ALG_SHA256), ==, 0x7ff);
                g_assert_cmphex(vtc_pcr_values_get_mask(pcrs, TPM2_ALG_SHA1), ==, 0xffffff);
                /* a relay with another TLS key cannot pass the quote off as its own */
                vtc_channel_quote_qualifier(r.nonce, with_tls ? NULL : tls, other);
                g_assert_true(vtc_quote_check(q,
                                              &sig,
                                              ak,
                                              other,
                                              32,
                                              pcrs,
                                              TPM2_ALG_NULL,
                                              VTC_QUOTE_CHECK_EXACT_PCRS,
                                              &wrong,
                                              &error));
                g_assert_false(wrong.valid);
                g_assert_cmpint(wrong.failure, ==, VTC_QUOTE_FAILURE_NONCE);
        }
        /* no bank */
        r.pcrs.n_banks = 0;
        {
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) sig_bytes = NULL;
                g_autoptr(VtcPcrValues) pcrs = NULL;

                g_assert_false(vtc_agent_tpm_quote(tpm,
                                                   r.nonce,
                                                   NULL,
                                                   &r.pcrs,
                                                   &attest,
                                                   &sig_bytes,
                                                   &pcrs,
                                                   &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_null(attest);
        }
}

static void
test_no_ek(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_ECC_P256,
                                                       &error);
        const gchar *why = NULL;
        TPM2B_PUBLIC ek = {0};
        TPM2B_PUBLIC template;

        g_assert_no_error(error);
        /* the EK from the TCG template, no certificate, and a reason */
        g_assert_null(vtc_agent_tpm_get_ek_cert(tpm, &why));
        g_assert_nonnull(strstr(why, "0x01c00002"));
        g_assert_true(
            vtc_tpm_public_unmarshal(g_bytes_get_data(vtc_agent_tpm_get_ek_public(tpm), NULL),
                                     g_bytes_get_size(vtc_agent_tpm_get_ek_public(tpm)),
                                     &ek,
                                     &error));
        vtc_tpm_template_ek(VTC_TPM_KEY_RSA2048, &template);
        g_assert_cmphex(ek.publicArea.objectAttributes, ==, template.publicArea.objectAttributes);
        g_assert_cmpuint(ek.publicArea.unique.rsa.size, ==, 256);
}

static void
test_activate(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                       VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                       VTC_TPM_KEY_ECC_P256,
                                                       &error);
        g_autoptr(GBytes) name = NULL;
        g_autoptr(GBytes) blob = NULL;
        g_autoptr(GBytes) enc = NULL;
        g_autoptr(GBytes) got = NULL;
        g_autoptr(GBytes) other_name = NULL;
        g_autoptr(GBytes) blob2 = NULL;
        g_autoptr(GBytes) enc2 = NULL;
        g_autoptr(GBytes) got2 = NULL;
        guint8 secret[32];
        guint8 *other;
        gsize other_len = 0;

        g_assert_no_error(error);
        name = vtc_hex_decode(vtc_agent_tpm_get_ak_name(tpm), &error);
        g_assert_no_error(error);
        memset(secret, 0x5a, sizeof(secret));
        g_assert_true(vtc_credential_make_marshalled(vtc_agent_tpm_get_ek_public(tpm),
                                                     name,
                                                     secret,
                                                     sizeof(secret),
                                                     &blob,
                                                     &enc,
                                                     &error));
        got = vtc_agent_tpm_activate(tpm, blob, enc, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), secret, sizeof(secret));

        /* a challenge for another AK's name does not open */
        other = g_memdup2(g_bytes_get_data(name, NULL), g_bytes_get_size(name));
        other_len = g_bytes_get_size(name);
        other[other_len - 1] ^= 1;
        other_name = g_bytes_new_take(other, other_len);
        g_assert_true(vtc_credential_make_marshalled(vtc_agent_tpm_get_ek_public(tpm),
                                                     other_name,
                                                     secret,
                                                     sizeof(secret),
                                                     &blob2,
                                                     &enc2,
                                                     &error));
        got2 = vtc_agent_tpm_activate(tpm, blob2, enc2, &error);
        g_assert_null(got2);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TPM);
}

static void
test_bad_handle(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = NULL;
        TPM2B_PUBLIC template;
        TPM2B_PUBLIC pub;
        ESYS_TR handle = ESYS_TR_NONE;

        tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                0x01000000,
                                VTC_TPM_KEY_ECC_P256,
                                &error);
        g_assert_null(tpm);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* someone else's key (unrestricted) at the handle: refused, not used as the AK */
        {
                g_autoptr(VtcTpm) other = vtc_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm), &error);

                g_assert_no_error(error);
                vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &template);
                g_assert_true(
                    vtc_tpm_key_ensure(other, 0x81000101, &template, &handle, &pub, &error));
                g_assert_no_error(error);
        }
        tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                0x81000101,
                                VTC_TPM_KEY_ECC_P256,
                                &error);
        g_assert_null(tpm);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
}

static void
test_no_tpm(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *tcti = g_strdup_printf("swtpm:path=%s/none.sock", dir);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm =
            vtc_agent_tpm_new(tcti, VTC_AGENT_TPM_AK_HANDLE_DEFAULT, VTC_TPM_KEY_ECC_P256, &error);

        g_assert_null(tpm);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "opening the TPM"));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/agent-tpm/manufactured", test_manufactured);
        g_test_add_func("/agent-tpm/quote", test_quote);
        g_test_add_func("/agent-tpm/no-ek", test_no_ek);
        g_test_add_func("/agent-tpm/activate", test_activate);
        g_test_add_func("/agent-tpm/bad-handle", test_bad_handle);
        g_test_add_func("/agent-tpm/no-tpm", test_no_tpm);
        return g_test_run();
}
