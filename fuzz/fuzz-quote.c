/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The quote parsers on untrusted bytes: the input as a TPMS_ATTEST, as a TPMT_SIGNATURE, as
 * tpm2-tools' serialized PCR file and as an AK (TPM2B_PUBLIC / PEM); whatever parses is then
 * taken through a full check against a fixed key, so the verification paths see it too.
 */
#include <stdint.h>
#include <stdlib.h>

#include "vtc-quote.h"
#include "vtc-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autoptr(VtcQuote) quote = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(VtcQuoteAk) ak = NULL;
        TPMT_SIGNATURE sig;
        gboolean have_sig;

        /* tss2's unmarshalling logs every rejection on stderr: far too slow for a fuzzer */
        setenv("TSS2_LOG", "all+none", 0);
        if (size > 65536)
                return 0;
        quote = vtc_quote_parse(data, size, NULL);
        have_sig = vtc_quote_signature_parse(data, size, &sig, NULL);
        pcrs = vtc_pcr_values_parse_serialized(data, size, NULL);
        ak = vtc_quote_ak_new_from_data(data, size, NULL);

        if (pcrs != NULL) {
                g_autoptr(GBytes) again = vtc_pcr_values_to_serialized(pcrs, NULL, NULL);
                g_autoptr(VtcPcrValues) back = NULL;
                TPML_PCR_SELECTION sel;
                guint8 digest[64];
                gsize dlen = 0;
                /* what we write, we read back to the same values */
                g_assert_nonnull(again);
                back = vtc_pcr_values_parse_serialized(g_bytes_get_data(again, NULL),
                                                       g_bytes_get_size(again),
                                                       NULL);
                g_assert_nonnull(back);
                vtc_pcr_values_get_selection(pcrs, &sel);
                for (guint i = 0; i < sel.count; i++)
                        g_assert_cmphex(vtc_pcr_values_get_mask(back, sel.pcrSelections[i].hash),
                                        ==,
                                        vtc_pcr_values_get_mask(pcrs, sel.pcrSelections[i].hash));
                g_assert_true(vtc_pcr_values_compute_digest(pcrs,
                                                            &sel,
                                                            TPM2_ALG_SHA256,
                                                            digest,
                                                            &dlen,
                                                            NULL));
        }
        if (quote != NULL) {
                g_autoptr(VtcPcrValues) values = vtc_pcr_values_new();
                const TPML_PCR_SELECTION *sel = vtc_quote_get_pcr_selection(quote);
                guint8 zero[64] = {0};
                gsize nlen = 0;
                const guint8 *nonce = vtc_quote_get_nonce(quote, &nlen);
                TPMT_SIGNATURE fixed = {0};
                g_autoptr(EVP_PKEY) pkey = NULL;
                g_autoptr(VtcQuoteAk) key = NULL;
                g_auto(VtcQuoteResult) result = {0};

                /* zero values for every PCR the quote selects, in the banks we know */
                for (guint i = 0; i < sel->count; i++) {
                        const VtcHashAlg *alg = vtc_hash_alg_from_id(sel->pcrSelections[i].hash);
                        for (guint j = 0; alg != NULL && j < VTC_PCR_MAX; j++)
                                vtc_pcr_values_set(values, alg->alg, j, zero, alg->size, NULL);
                }
                /* a fresh P-256 key: the check must say "invalid", never crash */
                pkey = EVP_EC_gen("P-256");
                g_assert_nonnull(pkey);
                key = vtc_quote_ak_new_from_pkey(pkey, NULL);
                g_assert_nonnull(key);
                fixed.sigAlg = TPM2_ALG_ECDSA;
                fixed.signature.ecdsa.hash = TPM2_ALG_SHA256;
                fixed.signature.ecdsa.signatureR.size = 32;
                fixed.signature.ecdsa.signatureS.size = 32;
                fixed.signature.ecdsa.signatureR.buffer[31] = 1;
                fixed.signature.ecdsa.signatureS.buffer[31] = 1;
                g_assert_true(vtc_quote_check(quote,
                                              have_sig ? &sig : &fixed,
                                              ak != NULL ? ak : key,
                                              nonce,
                                              nlen,
                                              values,
                                              TPM2_ALG_NULL,
                                              VTC_QUOTE_CHECK_NONE,
                                              &result,
                                              NULL));
                g_assert_false(result.valid);
        }
        if (have_sig && ak != NULL) {
                /* a signature and a key from the same bytes: both parsers accepted them */
                g_assert_true(vtc_quote_ak_get_pkey(ak) != NULL);
        }
        return 0;
}
