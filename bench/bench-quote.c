/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Full quote checks per second (parse the TPMS_ATTEST and TPMT_SIGNATURE, verify the signature,
 * the nonce and the PCR composite of 24 sha256 PCRs) against OpenSSL's raw EVP_DigestVerify
 * rate for the same key over the same bytes: the verifier's hot path and its floor.
 */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>

#include <tss2/tss2_mu.h>

#include "vtc-bench.h"
#include "vtc-quote.h"
#include "vtc-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)

typedef struct {
        guint8 attest[sizeof(TPMS_ATTEST)];
        gsize attest_len;
        guint8 sig[sizeof(TPMT_SIGNATURE)];
        gsize sig_len;
        guint8 nonce[32];
        VtcPcrValues *pcrs;
} VtcBenchQuote;

static void
vtc_bench_quote_clear(VtcBenchQuote *q)
{
        g_clear_pointer(&q->pcrs, vtc_pcr_values_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcBenchQuote, vtc_bench_quote_clear)

/* A quote as a TPM makes it: 24 sha256 PCRs, a 32-byte nonce, signed in software. */
static gboolean
vtc_bench_quote_make(EVP_PKEY *pkey, gboolean is_rsa, VtcBenchQuote *q, GError **error)
{
        TPMS_ATTEST a = {0};
        TPMT_SIGNATURE s = {0};
        guint8 digest[32];
        guint8 raw[512];
        size_t rawlen = sizeof(raw);
        size_t off = 0;
        gsize dlen = 0;
        const EVP_MD *md = vtc_hash_alg_get_md(vtc_hash_alg_from_id(TPM2_ALG_SHA256));
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        TSS2_RC rc;

        q->pcrs = vtc_pcr_values_new();
        for (guint i = 0; i < 24; i++) {
                guint8 v[32];
                if (RAND_bytes(v, sizeof(v)) != 1 ||
                    !vtc_pcr_values_set(q->pcrs, TPM2_ALG_SHA256, i, v, sizeof(v), error))
                        return FALSE;
        }
        if (RAND_bytes(q->nonce, sizeof(q->nonce)) != 1)
                return FALSE;
        a.magic = TPM2_GENERATED_VALUE;
        a.type = TPM2_ST_ATTEST_QUOTE;
        a.qualifiedSigner.size = 34;
        a.qualifiedSigner.name[1] = TPM2_ALG_SHA256;
        RAND_bytes(a.qualifiedSigner.name + 2, 32);
        a.extraData.size = sizeof(q->nonce);
        memcpy(a.extraData.buffer, q->nonce, sizeof(q->nonce));
        a.clockInfo.clock = 123456789;
        a.clockInfo.resetCount = 3;
        a.clockInfo.restartCount = 1;
        a.clockInfo.safe = TPM2_YES;
        a.firmwareVersion = G_GUINT64_CONSTANT(0x2019102300163636);
        a.attested.quote.pcrSelect.count = 1;
        a.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
        a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
        memset(a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect, 0xff, 3);
        if (!vtc_pcr_values_compute_digest(q->pcrs,
                                           &a.attested.quote.pcrSelect,
                                           TPM2_ALG_SHA256,
                                           a.attested.quote.pcrDigest.buffer,
                                           &dlen,
                                           error))
                return FALSE;
        a.attested.quote.pcrDigest.size = (UINT16)dlen;
        rc = Tss2_MU_TPMS_ATTEST_Marshal(&a, q->attest, sizeof(q->attest), &off);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPMS_ATTEST_Marshal");
                return FALSE;
        }
        q->attest_len = off;

        if (!vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                      q->attest,
                      q->attest_len,
                      digest,
                      error))
                return FALSE;
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx, md) != 1 ||
            (is_rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
            EVP_PKEY_sign(ctx, raw, &rawlen, digest, sizeof(digest)) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing the quote");
                return FALSE;
        }
        if (is_rsa) {
                s.sigAlg = TPM2_ALG_RSASSA;
                s.signature.rsassa.hash = TPM2_ALG_SHA256;
                s.signature.rsassa.sig.size = (UINT16)rawlen;
                memcpy(s.signature.rsassa.sig.buffer, raw, rawlen);
        } else {
                const guint8 *p = raw;
                g_autoptr(ECDSA_SIG) es = d2i_ECDSA_SIG(NULL, &p, (long)rawlen);
                if (es == NULL) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "decoding ECDSA");
                        return FALSE;
                }
                s.sigAlg = TPM2_ALG_ECDSA;
                s.signature.ecdsa.hash = TPM2_ALG_SHA256;
                s.signature.ecdsa.signatureR.size = 32;
                s.signature.ecdsa.signatureS.size = 32;
                BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32);
                BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32);
        }
        off = 0;
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&s, q->sig, sizeof(q->sig), &off);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPMT_SIGNATURE_Marshal");
                return FALSE;
        }
        q->sig_len = off;
        return TRUE;
}

/* One full check as the verifier does it per request: the AK is parsed once, outside. */
static gboolean
vtc_bench_quote_check_once(const VtcBenchQuote *q, const VtcQuoteAk *ak, GError **error)
{
        g_autoptr(VtcQuote) quote = vtc_quote_parse(q->attest, q->attest_len, error);
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig;

        if (quote == NULL || !vtc_quote_signature_parse(q->sig, q->sig_len, &sig, error))
                return FALSE;
        if (!vtc_quote_check(quote,
                             &sig,
                             ak,
                             q->nonce,
                             sizeof(q->nonce),
                             q->pcrs,
                             TPM2_ALG_SHA256,
                             VTC_QUOTE_CHECK_EXACT_PCRS,
                             &result,
                             error))
                return FALSE;
        if (!result.valid) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED, "%s", result.reason);
                return FALSE;
        }
        return TRUE;
}

/* OpenSSL's own floor: EVP_DigestVerify of the same bytes with the same key. */
static gboolean
vtc_bench_quote_raw_once(EVP_PKEY *pkey, const guint8 *sig, gsize siglen, const VtcBenchQuote *q)
{
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();

        return ctx != NULL &&
               EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
               EVP_DigestVerify(ctx, sig, siglen, q->attest, q->attest_len) == 1;
}

static gboolean
vtc_bench_quote_one(const gchar *name, EVP_PKEY *pkey, gboolean is_rsa, gdouble seconds)
{
        g_auto(VtcBenchQuote) q = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcQuoteAk) ak = NULL;
        guint8 der[256];
        gsize derlen = 0;
        gint64 budget = (gint64)(seconds * G_USEC_PER_SEC);
        gint64 start;
        gint64 elapsed;
        guint64 n_raw = 0;
        guint64 n_ours = 0;
        gint64 t_raw = 0;
        gint64 t_ours = 0;
        gdouble ours;
        gdouble raw;

        if (!vtc_bench_quote_make(pkey, is_rsa, &q, &error)) {
                g_printerr("%s: %s\n", name, error->message);
                return FALSE;
        }
        ak = vtc_quote_ak_new_from_pkey(pkey, &error);
        if (ak == NULL || !vtc_bench_quote_check_once(&q, ak, &error)) {
                g_printerr("%s: %s\n", name, error->message);
                return FALSE;
        }
        /* the raw signature as OpenSSL takes it (ECDSA: DER) */
        {
                TPMT_SIGNATURE s;
                size_t off = 0;
                if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(q.sig, q.sig_len, &off, &s) != 0)
                        return FALSE;
                if (is_rsa) {
                        derlen = s.signature.rsassa.sig.size;
                        memcpy(der, s.signature.rsassa.sig.buffer, derlen);
                } else {
                        g_autoptr(ECDSA_SIG) es = ECDSA_SIG_new();
                        BIGNUM *r = BN_bin2bn(s.signature.ecdsa.signatureR.buffer, 32, NULL);
                        BIGNUM *sv = BN_bin2bn(s.signature.ecdsa.signatureS.buffer, 32, NULL);
                        guint8 *p = der;
                        if (es == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(es, r, sv) != 1)
                                return FALSE;
                        derlen = (gsize)i2d_ECDSA_SIG(es, &p);
                }
        }
        if (!vtc_bench_quote_raw_once(pkey, der, derlen, &q)) {
                g_printerr("%s: the raw verification fails\n", name);
                return FALSE;
        }

        /*
         * The machines are shared and their load moves: alternate ten slices of each loop so
         * that both figures see the same conditions, and check the clock every 64 ops.
         */
        for (guint slice = 0; slice < 10; slice++) {
                start = g_get_monotonic_time();
                do {
                        for (guint i = 0; i < 64; i++) {
                                if (!vtc_bench_quote_raw_once(pkey, der, derlen, &q))
                                        return FALSE;
                        }
                        n_raw += 64;
                        elapsed = g_get_monotonic_time() - start;
                } while (elapsed < budget / 10);
                t_raw += elapsed;
                start = g_get_monotonic_time();
                do {
                        for (guint i = 0; i < 64; i++) {
                                if (!vtc_bench_quote_check_once(&q, ak, &error)) {
                                        g_printerr("%s: %s\n", name, error->message);
                                        return FALSE;
                                }
                        }
                        n_ours += 64;
                        elapsed = g_get_monotonic_time() - start;
                } while (elapsed < budget / 10);
                t_ours += elapsed;
        }
        raw = (gdouble)n_raw * G_USEC_PER_SEC / (gdouble)t_raw;
        ours = (gdouble)n_ours * G_USEC_PER_SEC / (gdouble)t_ours;

        vtc_bench_print(name, ours, "ops/s", raw);
        return TRUE;
}

gboolean
vtc_bench_quote(gdouble seconds)
{
        g_autoptr(EVP_PKEY) rsa = EVP_RSA_gen(2048);
        g_autoptr(EVP_PKEY) ec = EVP_EC_gen("P-256");
        gboolean ok = TRUE;

        if (rsa == NULL || ec == NULL) {
                g_printerr("bench quote: generating the keys failed\n");
                return FALSE;
        }
        ok = vtc_bench_quote_one("quote_verify_rsa2048", rsa, TRUE, seconds) && ok;
        ok = vtc_bench_quote_one("quote_verify_ecc_p256", ec, FALSE, seconds) && ok;
        return ok;
}
