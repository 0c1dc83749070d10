/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-certify.h"

#include <openssl/crypto.h>

#include <tss2/tss2_mu.h>

#include "vtc-credential.h"
#include "vtc-quote.h"
#include "vtc-util.h"

gboolean
vtc_certify_check_ca_key_attributes(const TPM2B_PUBLIC *pub, GError **error)
{
        TPMA_OBJECT a = pub->publicArea.objectAttributes;
        const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT;

        if ((a & need) != need || (a & (TPMA_OBJECT_DECRYPT | TPMA_OBJECT_RESTRICTED)) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "the key must be fixedTPM, fixedParent, TPM-generated and sign-only "
                            "(unrestricted, no decrypt); its attributes are 0x%08x",
                            (guint)a);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_certify_check(GBytes *signer_public,
                  GBytes *object_public,
                  GBytes *attest,
                  GBytes *signature,
                  GBytes *qualifying_data,
                  GError **error)
{
        TPMS_ATTEST a = {0};
        TPMT_SIGNATURE sig = {0};
        TPM2B_PUBLIC obj = {0};
        TPM2B_NAME name = {0};
        size_t off = 0;
        TSS2_RC rc;
        g_autoptr(VtcQuoteAk) signer = NULL;
        const TPM2B_NAME *certified;

        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(g_bytes_get_data(attest, NULL),
                                           g_bytes_get_size(attest),
                                           &off,
                                           &a);
        if (rc != TSS2_RC_SUCCESS || off != g_bytes_get_size(attest)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the attestation is not a TPMS_ATTEST (0x%08x, %zu of %zu bytes)",
                            (guint)rc,
                            off,
                            g_bytes_get_size(attest));
                return FALSE;
        }
        if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_CERTIFY) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "not a TPM-generated certification (magic 0x%08x, type 0x%04x)",
                            (guint)a.magic,
                            (guint)a.type);
                return FALSE;
        }
        if (!vtc_quote_signature_parse(g_bytes_get_data(signature, NULL),
                                       g_bytes_get_size(signature),
                                       &sig,
                                       error))
                return FALSE;
        signer = vtc_quote_ak_new_from_public(g_bytes_get_data(signer_public, NULL),
                                              g_bytes_get_size(signer_public),
                                              error);
        if (signer == NULL)
                return FALSE;
        if (!vtc_quote_ak_verify_data(signer,
                                      g_bytes_get_data(attest, NULL),
                                      g_bytes_get_size(attest),
                                      &sig,
                                      error))
                return FALSE;
        if (!vtc_tpm_public_unmarshal(g_bytes_get_data(object_public, NULL),
                                      g_bytes_get_size(object_public),
                                      &obj,
                                      error) ||
            !vtc_tpm_public_get_name(&obj, &name, error))
                return FALSE;
        certified = &a.attested.certify.name;
        if (certified->size != name.size ||
            CRYPTO_memcmp(certified->name, name.name, name.size) != 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "the certified name is not the key's name");
                return FALSE;
        }
        if (qualifying_data != NULL && (a.extraData.size != g_bytes_get_size(qualifying_data) ||
                                        CRYPTO_memcmp(a.extraData.buffer,
                                                      g_bytes_get_data(qualifying_data, NULL),
                                                      a.extraData.size) != 0)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "the certification's qualifying data is not the expected one");
                return FALSE;
        }
        return TRUE;
}
