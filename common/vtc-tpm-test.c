/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TPM client against a real swtpm provisioned like a factory-fresh TPM: EK and EK
 * certificate, persisted keys that survive a restart, ActivateCredential of our own
 * MakeCredential, quotes our quote check accepts, PCR extend, signing.
 */
#include <openssl/evp.h>

#include "vtc-credential.h"
#include "vtc-ekcert.h"
#include "vtc-quote.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-tpm.h"
#include "vtc-util.h"

typedef struct {
        gchar *dir;
        gchar *state;
        gchar *ca;
        VtcSwtpm *swtpm;
        VtcTpm *tpm;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;

        f->dir = vtc_test_tmpdir_new();
        f->state = g_build_filename(f->dir, "tpm", NULL);
        f->ca = g_build_filename(f->dir, "ca", NULL);
        g_assert_true(vtc_swtpm_manufacture(f->state, f->ca, &error));
        g_assert_no_error(error);
        f->swtpm = vtc_swtpm_new(f->state, &error);
        g_assert_no_error(error);
        f->tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(f->swtpm), &error);
        g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        vtc_tpm_free(f->tpm);
        vtc_swtpm_free(f->swtpm);
        g_free(f->state);
        g_free(f->ca);
        vtc_test_tmpdir_free(f->dir);
}

static void
vtc_tpm_ek_cert_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        ESYS_TR ek = ESYS_TR_NONE;
        TPM2B_PUBLIC ek_pub = {0};
        gboolean transient = TRUE;
        g_autoptr(GBytes) cert = NULL;
        g_autoptr(GBytes) ek_bytes = NULL;
        g_autoptr(VtcEkTrustStore) store = vtc_ek_trust_store_new();

        g_assert_true(
            vtc_tpm_ek_open(f->tpm, VTC_TPM_KEY_RSA2048, &ek, &ek_pub, &transient, &error));
        g_assert_no_error(error);
        g_assert_false(transient); /* swtpm_setup persisted it */
        cert = vtc_tpm_nv_read(f->tpm, VTC_TPM_EK_RSA_CERT_NV, &error);
        g_assert_no_error(error);
        ek_bytes = vtc_tpm_public_marshal(&ek_pub);
        {
                g_autofree gchar *root =
                    g_build_filename(f->ca, "swtpm-localca-rootca-cert.pem", NULL);
                g_autofree gchar *issuer = g_build_filename(f->ca, "issuercert.pem", NULL);
                g_assert_true(vtc_ek_trust_store_add_file(store, root, &error));
                g_assert_true(vtc_ek_trust_store_add_file(store, issuer, &error));
                g_assert_no_error(error);
        }
        g_assert_true(vtc_ek_cert_verify(store, cert, NULL, ek_bytes, 0, NULL, &error));
        g_assert_no_error(error);

        /* a missing index is NOT_FOUND */
        g_assert_null(vtc_tpm_nv_read(f->tpm, 0x01c00fff, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

static void
vtc_tpm_persist_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub1 = {0};
        TPM2B_PUBLIC pub2 = {0};
        ESYS_TR h = ESYS_TR_NONE;
        g_autoptr(GBytes) b1 = NULL;
        g_autoptr(GBytes) b2 = NULL;

        vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &tmpl);
        g_assert_true(vtc_tpm_key_ensure(f->tpm, 0x81000010, &tmpl, &h, &pub1, &error));
        g_assert_no_error(error);
        b1 = vtc_tpm_public_marshal(&pub1);
        /* after a restart of the TPM process the same key is there */
        g_clear_pointer(&f->tpm, vtc_tpm_free);
        g_clear_pointer(&f->swtpm, vtc_swtpm_free);
        f->swtpm = vtc_swtpm_new(f->state, &error);
        g_assert_no_error(error);
        f->tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(f->swtpm), &error);
        g_assert_no_error(error);
        g_assert_true(vtc_tpm_key_ensure(f->tpm, 0x81000010, &tmpl, &h, &pub2, &error));
        g_assert_no_error(error);
        b2 = vtc_tpm_public_marshal(&pub2);
        g_assert_true(g_bytes_equal(b1, b2));
}

static void
vtc_tpm_activate_test(Fixture *f, gconstpointer user_data)
{
        for (guint t = 0; t < 2; t++) {
                VtcTpmKeyType type = t == 0 ? VTC_TPM_KEY_RSA2048 : VTC_TPM_KEY_ECC_P256;
                g_autoptr(GError) error = NULL;
                ESYS_TR ek = ESYS_TR_NONE;
                ESYS_TR ak = ESYS_TR_NONE;
                TPM2B_PUBLIC ek_pub = {0};
                TPM2B_PUBLIC ak_pub = {0};
                TPM2B_PUBLIC tmpl;
                TPM2B_NAME name = {0};
                gboolean transient = FALSE;
                const guint8 secret[32] = "only the TPM can see this secret";
                g_autoptr(GBytes) ek_bytes = NULL;
                g_autoptr(GBytes) name_bytes = NULL;
                g_autoptr(GBytes) blob = NULL;
                g_autoptr(GBytes) enc = NULL;
                g_autoptr(GBytes) got = NULL;

                g_assert_true(vtc_tpm_ek_open(f->tpm, type, &ek, &ek_pub, &transient, &error));
                g_assert_no_error(error);
                vtc_tpm_template_ak(type, &tmpl);
                g_assert_true(vtc_tpm_create_primary(f->tpm, &tmpl, &ak, &ak_pub, &error));
                g_assert_no_error(error);
                g_assert_true(vtc_tpm_public_get_name(&ak_pub, &name, &error));
                ek_bytes = vtc_tpm_public_marshal(&ek_pub);
                name_bytes = g_bytes_new(name.name, name.size);
                g_assert_true(vtc_credential_make_marshalled(ek_bytes,
                                                             name_bytes,
                                                             secret,
                                                             sizeof(secret),
                                                             &blob,
                                                             &enc,
                                                             &error));
                g_assert_no_error(error);
                got = vtc_tpm_activate_credential(f->tpm, ak, ek, blob, enc, &error);
                g_assert_no_error(error);
                g_assert_cmpmem(g_bytes_get_data(got, NULL),
                                g_bytes_get_size(got),
                                secret,
                                sizeof(secret));
                /* garbage in: a clear error, not a crash */
                g_clear_pointer(&got, g_bytes_unref);
                got = vtc_tpm_activate_credential(f->tpm, ak, ek, enc, blob, &error);
                g_assert_null(got);
                g_assert_nonnull(error);
                vtc_tpm_flush(f->tpm, ak);
                if (transient)
                        vtc_tpm_flush(f->tpm, ek);
        }
}

static void
vtc_tpm_quote_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC ak_pub = {0};
        ESYS_TR ak = ESYS_TR_NONE;
        TPML_PCR_SELECTION sel;
        guint8 nonce[32];
        guint8 digest[32];
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig_bytes = NULL;
        g_autoptr(GBytes) ak_bytes = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(VtcPcrValues) after = NULL;
        g_autoptr(VtcQuote) quote = NULL;
        g_autoptr(VtcQuoteAk) qak = NULL;
        TPMT_SIGNATURE sig;
        VtcQuoteResult result = {0};
        const guint8 *v;
        gsize vlen = 0;

        memset(digest, 0x5a, sizeof(digest));
        for (guint i = 0; i < sizeof(nonce); i++)
                nonce[i] = (guint8)g_random_int();
        g_assert_true(vtc_tpm_pcr_extend(f->tpm, 23, TPM2_ALG_SHA256, digest, 32, &error));
        g_assert_no_error(error);
        g_assert_false(vtc_tpm_pcr_extend(f->tpm, 24, TPM2_ALG_SHA256, digest, 32, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        vtc_tpm_template_ak(VTC_TPM_KEY_ECC_P256, &tmpl);
        g_assert_true(vtc_tpm_create_primary(f->tpm, &tmpl, &ak, &ak_pub, &error));
        /* 24 PCRs: more than one TPM2_PCR_Read answers */
        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0xffffff);
        g_assert_true(vtc_tpm_quote(f->tpm,
                                    ak,
                                    nonce,
                                    sizeof(nonce),
                                    &sel,
                                    &attest,
                                    &sig_bytes,
                                    &pcrs,
                                    &error));
        g_assert_no_error(error);
        v = vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, 23, &vlen);
        g_assert_nonnull(v);
        g_assert_nonnull(vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, 0, NULL));
        {
                /* PCR 23 = SHA-256(zeros || digest) */
                guint8 buf[64] = {0};
                guint8 expect[32];
                memcpy(buf + 32, digest, 32);
                EVP_Digest(buf, 64, expect, NULL, EVP_sha256(), NULL);
                g_assert_cmpmem(v, vlen, expect, 32);
        }
        quote = vtc_quote_parse(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest), &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_signature_parse(g_bytes_get_data(sig_bytes, NULL),
                                                g_bytes_get_size(sig_bytes),
                                                &sig,
                                                &error));
        ak_bytes = vtc_tpm_public_marshal(&ak_pub);
        qak = vtc_quote_ak_new_from_public(g_bytes_get_data(ak_bytes, NULL),
                                           g_bytes_get_size(ak_bytes),
                                           &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_check(quote,
                                      &sig,
                                      qak,
                                      nonce,
                                      sizeof(nonce),
                                      pcrs,
                                      TPM2_ALG_NULL,
                                      0,
                                      &result,
                                      &error));
        g_assert_no_error(error);
        g_assert_true(result.valid);
        vtc_quote_result_clear(&result);

        /* the values moved on after another extend: the old quote no longer matches them */
        g_assert_true(vtc_tpm_pcr_extend(f->tpm, 23, TPM2_ALG_SHA256, digest, 32, &error));
        after = vtc_tpm_pcr_read(f->tpm, &sel, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_check(quote,
                                      &sig,
                                      qak,
                                      nonce,
                                      sizeof(nonce),
                                      after,
                                      TPM2_ALG_NULL,
                                      0,
                                      &result,
                                      &error));
        g_assert_false(result.valid);
        vtc_quote_result_clear(&result);
        vtc_tpm_flush(f->tpm, ak);
}

static void
vtc_tpm_sign_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub = {0};
        ESYS_TR key = ESYS_TR_NONE;
        TPMT_SIGNATURE sig;
        guint8 digest[32];
        g_autoptr(EVP_PKEY) pkey = NULL;
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        guint8 der[128];
        gsize derlen;

        memset(digest, 0x11, sizeof(digest));
        vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &tmpl);
        g_assert_true(vtc_tpm_create_primary(f->tpm, &tmpl, &key, &pub, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_tpm_sign_digest(f->tpm, key, TPM2_ALG_SHA256, digest, 32, &sig, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(sig.sigAlg, ==, TPM2_ALG_ECDSA);
        pkey = vtc_tpm_public_to_pkey(&pub, &error);
        g_assert_no_error(error);
        {
                /* r||s -> DER, then OpenSSL verifies the TPM's signature over the digest */
                ECDSA_SIG *es = ECDSA_SIG_new();
                BIGNUM *r = BN_bin2bn(sig.signature.ecdsa.signatureR.buffer,
                                      sig.signature.ecdsa.signatureR.size,
                                      NULL);
                BIGNUM *s = BN_bin2bn(sig.signature.ecdsa.signatureS.buffer,
                                      sig.signature.ecdsa.signatureS.size,
                                      NULL);
                guint8 *p = der;
                ECDSA_SIG_set0(es, r, s);
                derlen = (gsize)i2d_ECDSA_SIG(es, &p);
                ECDSA_SIG_free(es);
        }
        ctx = EVP_PKEY_CTX_new(pkey, NULL);
        g_assert_cmpint(EVP_PKEY_verify_init(ctx), ==, 1);
        g_assert_cmpint(EVP_PKEY_verify(ctx, der, derlen, digest, 32), ==, 1);
        digest[0] ^= 1;
        g_assert_cmpint(EVP_PKEY_verify(ctx, der, derlen, digest, 32), !=, 1);
        vtc_tpm_flush(f->tpm, key);
}

int
main(int argc, char **argv)
{
        vtc_test_require_program("swtpm");
        vtc_test_require_program("swtpm_setup");
        g_test_init(&argc, &argv, NULL);
        g_test_add("/tpm/ek-cert",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_tpm_ek_cert_test,
                   fixture_teardown);
        g_test_add("/tpm/persist",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_tpm_persist_test,
                   fixture_teardown);
        g_test_add("/tpm/activate",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_tpm_activate_test,
                   fixture_teardown);
        g_test_add("/tpm/quote",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_tpm_quote_test,
                   fixture_teardown);
        g_test_add("/tpm/sign", Fixture, NULL, fixture_setup, vtc_tpm_sign_test, fixture_teardown);
        return g_test_run();
}
