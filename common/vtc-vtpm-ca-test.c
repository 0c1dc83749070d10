/* SPDX-License-Identifier: Apache-2.0 */
/* vTPM EK certificates signed inside a (sw)TPM, checked by OpenSSL and by vtc's EK parser. */
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "vtc-credential.h"
#include "vtc-ekcert.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"
#include "vtc-vtpm-ca.h"

static void
issue_and_check(VtcTpmKeyType ca_type, EVP_PKEY *ek)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *state = g_build_filename(dir, "tpm", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcSwtpm) swtpm = vtc_swtpm_new(state, &error);
        g_autoptr(VtcTpm) tpm = NULL;
        g_autoptr(EVP_PKEY) ca = NULL;
        g_autoptr(X509) cert = NULL;
        g_autoptr(GBytes) der = NULL;
        g_autofree gchar *cn = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC ca_pub = {0};
        ESYS_TR key = ESYS_TR_NONE;
        VtcEkCertRequest req = {
            .vm_uuid = "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11",
            .vm_name = "guest1",
            .manufacturer = "id:00001014",
            .model = "swtpm",
            .version = "id:20191023",
            .issuer_cn = "vtc vTPM CA test-host",
            .days = 3650,
        };
        guint8 keyid[20];
        const ASN1_OCTET_STRING *aki;
        guint8 *bytes;
        const guint8 *p;

        g_assert_no_error(error);
        tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(swtpm), &error);
        g_assert_no_error(error);
        vtc_tpm_template_signing_key(ca_type, &tmpl);
        g_assert_true(vtc_tpm_create_primary(tpm, &tmpl, &key, &ca_pub, &error));
        g_assert_no_error(error);
        der = vtc_vtpm_ca_issue_ek_cert(tpm, key, &ca_pub, ek, &req, &error);
        g_assert_no_error(error);
        g_assert_nonnull(der);

        p = g_bytes_get_data(der, NULL);
        cert = d2i_X509(NULL, &p, (long)g_bytes_get_size(der));
        g_assert_nonnull(cert);
        ca = vtc_tpm_public_to_pkey(&ca_pub, &error);
        g_assert_no_error(error);
        g_assert_cmpint(X509_verify(cert, ca), ==, 1);
        g_assert_cmpint(EVP_PKEY_eq(X509_get0_pubkey(cert), ek), ==, 1);
        g_assert_true(vtc_vtpm_ca_key_id(ca, keyid, &error));
        aki = X509_get0_authority_key_id(cert);
        g_assert_nonnull(aki);
        g_assert_cmpmem(ASN1_STRING_get0_data(aki), ASN1_STRING_length(aki), keyid, 20);
        cn = g_malloc0(128);
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, 128);
        g_assert_cmpstr(cn, ==, req.vm_uuid);
        /* vtc's EK certificate parser takes it (critical SAN with TPM attributes included) */
        {
                g_autoptr(X509) again =
                    vtc_ek_cert_parse(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &error);
                g_assert_no_error(error);
                g_assert_nonnull(again);
        }
        /* one flipped bit in the signed part: the signature no longer holds */
        bytes = g_memdup2(g_bytes_get_data(der, NULL), g_bytes_get_size(der));
        bytes[40] ^= 0x01;
        p = bytes;
        {
                g_autoptr(X509) bad = d2i_X509(NULL, &p, (long)g_bytes_get_size(der));
                if (bad != NULL)
                        g_assert_cmpint(X509_verify(bad, ca), !=, 1);
        }
        g_free(bytes);
        vtc_tpm_flush(tpm, key);
        g_clear_pointer(&tpm, vtc_tpm_free);
        g_clear_pointer(&swtpm, vtc_swtpm_free);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
vtc_vtpm_ca_ecc_test(void)
{
        g_autoptr(EVP_PKEY) ek = EVP_EC_gen("P-384");
        issue_and_check(VTC_TPM_KEY_ECC_P256, ek);
}

static void
vtc_vtpm_ca_rsa_test(void)
{
        g_autoptr(EVP_PKEY) ek = EVP_RSA_gen(2048);
        issue_and_check(VTC_TPM_KEY_ECC_P256, ek);
        issue_and_check(VTC_TPM_KEY_RSA2048, ek);
}

int
main(int argc, char **argv)
{
        vtc_test_require_program("swtpm");
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/vtpm-ca/ecc-ek", vtc_vtpm_ca_ecc_test);
        g_test_add_func("/vtpm-ca/rsa-ek", vtc_vtpm_ca_rsa_test);
        return g_test_run();
}
