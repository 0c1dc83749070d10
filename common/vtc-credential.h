/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

#include <glib.h>
#include <tss2/tss2_tpm2_types.h>

G_BEGIN_DECLS

/*
 * TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6): the registrar wraps a
 * secret to a TPM's EK so that only that TPM, and only if it holds an object with the given
 * name (the AK), can recover it with TPM2_ActivateCredential.
 *
 * Also the TPM public-area helpers the evidence core shares: unmarshalling a TPM2B_PUBLIC,
 * computing an object's name, and turning a TPM public key into an OpenSSL key.
 */

/* Largest TPM2B_PUBLIC / TPMT_PUBLIC accepted from a peer (the structure's own maximum). */
#define VTC_TPM_PUBLIC_MAX_SIZE sizeof(TPM2B_PUBLIC)

/*
 * Reads a marshalled TPM2B_PUBLIC (what tpm2_readpublic -f tss and TPM2_ReadPublic give) or a
 * bare marshalled TPMT_PUBLIC. The whole buffer must be consumed. @out is written only on
 * success.
 */
gboolean vtc_tpm_public_unmarshal(const guint8 *buf, gsize len, TPM2B_PUBLIC *out, GError **error);

/* The object's TPM name: nameAlg (2 bytes, big endian) || H_nameAlg(marshalled TPMT_PUBLIC). */
gboolean vtc_tpm_public_get_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *out, GError **error);

/*
 * The public key as an OpenSSL key: RSA (any size the TPM allows; exponent 0 means 65537) or
 * ECC on NIST P-256, P-384 or P-521 (the point is checked to be on the curve).
 */
EVP_PKEY *vtc_tpm_public_to_pkey(const TPM2B_PUBLIC *pub, GError **error);

/*
 * TPM2_MakeCredential for @ek_public, which must be a restricted decryption (storage) key of type
 * RSA or ECC (P-256, P-384, P-521) with AES-CFB as its symmetric algorithm, as every TCG EK
 * template has; anything else is VTC_ERROR_NOT_SUPPORTED.
 * @object_name is the name of the object to bind to (normally the AK): nameAlg || digest.
 * @secret must be 1 .. digest size of the EK's nameAlg bytes.
 *
 * Seed: RSA: random, RSA-OAEP encrypted (label "IDENTITY\0", hash and MGF1 = EK nameAlg);
 * ECC: one-pass ECDH with a fresh ephemeral key, seed = KDFe(nameAlg, Z, "IDENTITY", Qe.x, Qs.x),
 * the encrypted secret is the ephemeral point. Then symKey = KDFa(nameAlg, seed, "STORAGE", name),
 * encIdentity = AES-CFB(symKey, IV 0, TPM2B_DIGEST(secret)),
 * HMACkey = KDFa(nameAlg, seed, "INTEGRITY"), integrity = HMAC(HMACkey, encIdentity || name).
 *
 * The outputs are written only on success. All intermediate keys are wiped.
 */
gboolean vtc_credential_make(const TPM2B_PUBLIC *ek_public,
                             const TPM2B_NAME *object_name,
                             const guint8 *secret,
                             gsize secret_len,
                             TPM2B_ID_OBJECT *out_credential_blob,
                             TPM2B_ENCRYPTED_SECRET *out_secret,
                             GError **error);

/*
 * The same, from and to wire bytes: @ek_public as vtc_tpm_public_unmarshal() takes it,
 * @object_name as a raw name (nameAlg || digest, e.g. the bytes tpm2_readpublic -n writes);
 * the outputs are the marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, ready for
 * Tss2_MU_*_Unmarshal and Esys_ActivateCredential on the other side.
 */
gboolean vtc_credential_make_marshalled(GBytes *ek_public,
                                        GBytes *object_name,
                                        const guint8 *secret,
                                        gsize secret_len,
                                        GBytes **out_credential_blob,
                                        GBytes **out_secret,
                                        GError **error);

G_END_DECLS
