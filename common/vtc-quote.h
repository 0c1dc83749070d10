/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

#include <glib.h>
#include <tss2/tss2_tpm2_types.h>

G_BEGIN_DECLS

/*
 * TPM 2.0 quote checking: a TPMS_ATTEST of type TPM2_ST_ATTEST_QUOTE, its TPMT_SIGNATURE, the
 * attestation key (AK) and the PCR values the quote's pcrDigest covers, in the files tpm2-tools
 * writes (`tpm2_quote -m attest -s sig -o pcrs`, `tpm2_createak -u ak.pub` or a PEM key).
 */

/* PCR indices 0..31: a TPMS_PCR_SELECTION holds at most TPM2_PCR_SELECT_MAX (4) bytes. */
#define VTC_PCR_MAX 32

/*
 * PCR values by bank and index (bank -> index -> digest). Shared with the event log replay and
 * the verifier. Banks keep the order in which they were first set.
 */
typedef struct _VtcPcrValues VtcPcrValues;

VtcPcrValues *vtc_pcr_values_new(void);
void vtc_pcr_values_free(VtcPcrValues *self);
VtcPcrValues *vtc_pcr_values_copy(const VtcPcrValues *self);

/*
 * Parses tpm2-tools' "serialized" PCR file (`tpm2_quote -o`, `tpm2_pcrread -o -F serialized`):
 * a little-endian dump of TPML_PCR_SELECTION, a UINT32 count and that many TPML_DIGEST, the
 * digests following the selection in bank order and ascending index. Any inconsistency
 * (digest size, count, trailing bytes, an index listed twice) is VTC_ERROR_INVALID_DATA.
 */
VtcPcrValues *vtc_pcr_values_parse_serialized(const guint8 *buf, gsize len, GError **error);
/* The same layout, for the PCRs of @selection (NULL: every PCR present, banks in order). */
GBytes *vtc_pcr_values_to_serialized(const VtcPcrValues *self,
                                     const TPML_PCR_SELECTION *selection,
                                     GError **error);

/* Sets one value; @len must be the bank's digest size, the bank a known hash. */
gboolean vtc_pcr_values_set(VtcPcrValues *self,
                            TPM2_ALG_ID bank,
                            guint index,
                            const guint8 *digest,
                            gsize len,
                            GError **error);
/* The digest (its size in @out_len when not NULL), or NULL when the PCR is not present. */
const guint8 *
vtc_pcr_values_get(const VtcPcrValues *self, TPM2_ALG_ID bank, guint index, gsize *out_len);
guint vtc_pcr_values_get_n_banks(const VtcPcrValues *self);
/* The @i-th bank's algorithm, TPM2_ALG_ERROR when out of range. */
TPM2_ALG_ID
vtc_pcr_values_get_bank(const VtcPcrValues *self, guint i);
/* Bit n set when PCR n of @bank is present. */
guint32 vtc_pcr_values_get_mask(const VtcPcrValues *self, TPM2_ALG_ID bank);
/* Every PCR present, as a selection (banks in order, sizeofSelect 3 or 4). */
void vtc_pcr_values_get_selection(const VtcPcrValues *self, TPML_PCR_SELECTION *out_selection);
/*
 * The composite digest a TPM puts in a quote's pcrDigest: @hash_alg over the selected values
 * concatenated in selection order (banks as listed, ascending index). @out holds 64 bytes;
 * the size is written to @out_len. VTC_ERROR_NOT_FOUND when a selected PCR is missing.
 */
gboolean vtc_pcr_values_compute_digest(const VtcPcrValues *self,
                                       const TPML_PCR_SELECTION *selection,
                                       TPM2_ALG_ID hash_alg,
                                       guint8 *out,
                                       gsize *out_len,
                                       GError **error);

/* A parsed TPMS_ATTEST of a quote, with the signed bytes kept. */
typedef struct _VtcQuote VtcQuote;

/*
 * Unmarshals @buf as one TPMS_ATTEST with nothing after it (VTC_ERROR_INVALID_DATA otherwise).
 * A well-formed structure that is not TPM-generated (magic) or not a quote (type) is
 * VTC_ERROR_VERIFY_FAILED.
 */
VtcQuote *vtc_quote_parse(const guint8 *buf, gsize len, GError **error);
void vtc_quote_free(VtcQuote *self);
const TPMS_ATTEST *vtc_quote_get_attest(const VtcQuote *self);
/* The bytes the signature covers. */
const guint8 *vtc_quote_get_data(const VtcQuote *self, gsize *out_len);
const guint8 *vtc_quote_get_nonce(const VtcQuote *self, gsize *out_len);
const guint8 *vtc_quote_get_qualified_signer(const VtcQuote *self, gsize *out_len);
guint64 vtc_quote_get_clock(const VtcQuote *self);
guint32 vtc_quote_get_reset_count(const VtcQuote *self);
guint32 vtc_quote_get_restart_count(const VtcQuote *self);
gboolean vtc_quote_get_safe(const VtcQuote *self);
guint64 vtc_quote_get_firmware_version(const VtcQuote *self);
const TPML_PCR_SELECTION *vtc_quote_get_pcr_selection(const VtcQuote *self);
const guint8 *vtc_quote_get_pcr_digest(const VtcQuote *self, gsize *out_len);

/* Unmarshals one TPMT_SIGNATURE with nothing after it; @out_sig is untouched on failure. */
gboolean
vtc_quote_signature_parse(const guint8 *buf, gsize len, TPMT_SIGNATURE *out_sig, GError **error);

/*
 * Whether @pcrs (read after taking the quote) make the pcrDigest of the quote @attest, computed
 * with the hash of @signature: a TPM quoting over PCRs that change may have quoted other values
 * than those read next, and the quote is then taken again. FALSE with an error only when the
 * structures do not parse or a selected PCR is missing from @pcrs.
 */
gboolean vtc_quote_pcrs_match(GBytes *attest,
                              GBytes *signature,
                              const VtcPcrValues *pcrs,
                              gboolean *out_match,
                              GError **error);

/*
 * An attestation key, parsed once and used for many quotes. It may be shared between threads
 * (it is only read after creation).
 */
typedef struct _VtcQuoteAk VtcQuoteAk;

/* A TPM2B_PUBLIC (`tpm2_createak -u`), or a bare TPMT_PUBLIC. RSA or ECC (NIST P-256/384/521). */
VtcQuoteAk *vtc_quote_ak_new_from_public(const guint8 *buf, gsize len, GError **error);
/* A PEM "PUBLIC KEY" (SubjectPublicKeyInfo), RSA or EC. */
VtcQuoteAk *vtc_quote_ak_new_from_pem(const guint8 *buf, gsize len, GError **error);
/* PEM when it starts with "-----BEGIN", else TPM2B_PUBLIC / TPMT_PUBLIC. */
VtcQuoteAk *vtc_quote_ak_new_from_data(const guint8 *buf, gsize len, GError **error);
/* Takes a new reference on @pkey (RSA or EC). */
VtcQuoteAk *vtc_quote_ak_new_from_pkey(EVP_PKEY *pkey, GError **error);
void vtc_quote_ak_free(VtcQuoteAk *self);
EVP_PKEY *vtc_quote_ak_get_pkey(const VtcQuoteAk *self);
/* The TPM public area when the key was given as one, else NULL. */
const TPMT_PUBLIC *vtc_quote_ak_get_public(const VtcQuoteAk *self);

/*
 * Checks that @sig is a signature by @ak over @quote: scheme RSASSA or RSAPSS with an RSA key,
 * ECDSA with an EC key, hash sha1/sha256/sha384/sha512; when the AK came with its TPM public
 * area, the key must be a restricted signing key and a fixed scheme must be the one used.
 * Returns FALSE with VTC_ERROR_VERIFY_FAILED (the message says why) when it does not verify.
 */
/*
 * The same check on any bytes the AK signed (a TPMS_ATTEST of TPM2_Certify, say): scheme and
 * hash against the key, restricted signing key when the AK came as a TPM public area.
 */
gboolean vtc_quote_ak_verify_data(const VtcQuoteAk *ak,
                                  const guint8 *data,
                                  gsize len,
                                  const TPMT_SIGNATURE *sig,
                                  GError **error);
gboolean vtc_quote_verify_signature(const VtcQuote *quote,
                                    const TPMT_SIGNATURE *sig,
                                    const VtcQuoteAk *ak,
                                    GError **error);

typedef enum {
        VTC_QUOTE_CHECK_NONE = 0,
        /* The PCR values must hold exactly the quoted PCRs, as tpm2_checkquote requires of its
         * PCR file; by default extra values (a full replay, say) are allowed and ignored. */
        VTC_QUOTE_CHECK_EXACT_PCRS = 1 << 0,
        /* Refuse SHA-1 signatures (and so SHA-1 PCR composites). */
        VTC_QUOTE_CHECK_NO_SHA1 = 1 << 1,
        /* The caller verified this very signature over these very bytes with this AK before
         * (a host quote shared by a batch of VMs): skip the signature verification, keep
         * every other check. */
        VTC_QUOTE_CHECK_SIGNATURE_KNOWN = 1 << 2,
} VtcQuoteCheckFlags;

typedef enum {
        VTC_QUOTE_FAILURE_NONE,
        VTC_QUOTE_FAILURE_SIGNATURE, /* signature, scheme, key or hash algorithm */
        VTC_QUOTE_FAILURE_NONCE,     /* extraData is not the expected nonce */
        VTC_QUOTE_FAILURE_PCRS, /* pcrDigest does not match the values, or a value is missing */
} VtcQuoteFailure;

const gchar *vtc_quote_failure_to_string(VtcQuoteFailure failure);

/* The outcome of vtc_quote_check(); clear with vtc_quote_result_clear(). */
typedef struct {
        gboolean valid;
        VtcQuoteFailure failure; /* VTC_QUOTE_FAILURE_NONE when valid */
        gchar *reason;           /* why it failed, NULL when valid */
        TPM2_ALG_ID hash_alg;    /* the signature's hash, which also made the PCR composite */
        guint64 clock;
        guint32 reset_count;
        guint32 restart_count;
        gboolean safe;
        guint64 firmware_version;
        VtcPcrValues *pcrs; /* the quoted PCR values (only these); NULL unless valid */
} VtcQuoteResult;

void vtc_quote_result_clear(VtcQuoteResult *result);

/*
 * The full check: signature (vtc_quote_verify_signature()), then extraData == @nonce (an empty
 * nonce expects an empty extraData), then pcrDigest == the composite of @pcrs over the quote's
 * selection, hashed with the signature's hash (TPM 2.0 Part 3, TPM2_Quote). @required_hash_alg
 * is TPM2_ALG_NULL to accept any, or the hash the signature must use.
 * Returns TRUE when the checks ran, with @out_result saying whether the quote is valid and, if
 * not, which check failed and why; FALSE (and @out_result untouched) only on internal errors.
 */
gboolean vtc_quote_check(const VtcQuote *quote,
                         const TPMT_SIGNATURE *sig,
                         const VtcQuoteAk *ak,
                         const guint8 *nonce,
                         gsize nonce_len,
                         const VtcPcrValues *pcrs,
                         TPM2_ALG_ID required_hash_alg,
                         VtcQuoteCheckFlags flags,
                         VtcQuoteResult *out_result,
                         GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcPcrValues, vtc_pcr_values_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcQuote, vtc_quote_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcQuoteAk, vtc_quote_ak_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcQuoteResult, vtc_quote_result_clear)

G_END_DECLS
