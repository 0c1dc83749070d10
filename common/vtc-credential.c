/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-credential.h"

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "vtc-util.h"

/*
 * Named typedefs, so that these cleanups cannot clash with a later generic one in vtc-util.h.
 */
typedef OSSL_PARAM_BLD VtcOsslParamBld;
typedef OSSL_PARAM VtcOsslParam;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcOsslParamBld, OSSL_PARAM_BLD_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcOsslParam, OSSL_PARAM_free)

/* Every key derived on the way; wiped when it goes out of scope, on every path. */
typedef struct {
        guint8 seed[sizeof(TPMU_HA)];
        guint8 z[TPM2_MAX_ECC_KEY_BYTES];
        guint8 sym_key[32];
        guint8 hmac_key[sizeof(TPMU_HA)];
        guint8 plain[sizeof(TPM2B_DIGEST)];
        guint8 kdf_msg[512];
} VtcCredentialKeys;

static void
vtc_credential_keys_clear(VtcCredentialKeys *keys)
{
        explicit_bzero(keys, sizeof(*keys));
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcCredentialKeys, vtc_credential_keys_clear)

/* A structure that does not (un)marshal is bad input, not a TPM failure. */
static void
vtc_credential_set_mu_error(GError **error, TSS2_RC rc, const gchar *operation)
{
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "%s: 0x%08x: %s",
                    operation,
                    (guint)rc,
                    Tss2_RC_Decode(rc));
}

static const VtcHashAlg *
vtc_credential_get_hash(TPMI_ALG_HASH alg, const gchar *what, GError **error)
{
        const VtcHashAlg *hash = vtc_hash_alg_from_id(alg);

        if (hash == NULL || vtc_hash_alg_get_md(hash) == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "%s hash algorithm 0x%04x is not supported",
                            what,
                            (guint)alg);
                return NULL;
        }
        return hash;
}

gboolean
vtc_tpm_public_unmarshal(const guint8 *buf, gsize len, TPM2B_PUBLIC *out, GError **error)
{
        TPM2B_PUBLIC tmp = {0};
        size_t offset = 0;
        TSS2_RC rc;

        if (len > VTC_TPM_PUBLIC_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "TPM public area of %" G_GSIZE_FORMAT
                            " bytes is larger than a TPM2B_PUBLIC",
                            len);
                return FALSE;
        }
        if (len < 2) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "TPM public area is truncated");
                return FALSE;
        }
        /* A TPM2B_PUBLIC announces exactly the rest of the buffer; otherwise try a TPMT_PUBLIC. */
        if (((gsize)buf[0] << 8 | buf[1]) == len - 2) {
                rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &offset, &tmp);
        } else {
                rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, len, &offset, &tmp.publicArea);
                tmp.size = (UINT16)len;
        }
        if (rc != TSS2_RC_SUCCESS) {
                vtc_credential_set_mu_error(error, rc, "unmarshalling TPM2B_PUBLIC");
                return FALSE;
        }
        if (offset != len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "TPM public area has %" G_GSIZE_FORMAT " trailing bytes",
                            len - offset);
                return FALSE;
        }
        *out = tmp;
        return TRUE;
}

gboolean
vtc_tpm_public_get_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *out, GError **error)
{
        guint8 buf[sizeof(TPMT_PUBLIC)];
        size_t offset = 0;
        const VtcHashAlg *hash = vtc_credential_get_hash(pub->publicArea.nameAlg, "name", error);
        TPM2B_NAME name = {0};
        TSS2_RC rc;

        if (hash == NULL)
                return FALSE;
        rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &offset);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_credential_set_mu_error(error, rc, "marshalling TPMT_PUBLIC");
                return FALSE;
        }
        name.name[0] = (guint8)(hash->alg >> 8);
        name.name[1] = (guint8)(hash->alg & 0xff);
        if (!vtc_hash(hash, buf, offset, name.name + 2, error))
                return FALSE;
        name.size = (UINT16)(2 + hash->size);
        *out = name;
        return TRUE;
}

static EVP_PKEY *
vtc_pkey_from_params(const gchar *type, OSSL_PARAM *params, GError **error)
{
        /* a key-import context per thread and type: fetching the algorithm costs as much as
         * the import itself, and a verifier imports an AK per check */
        static GPrivate ec_ctx = G_PRIVATE_INIT((GDestroyNotify)EVP_PKEY_CTX_free);
        static GPrivate rsa_ctx = G_PRIVATE_INIT((GDestroyNotify)EVP_PKEY_CTX_free);
        GPrivate *slot = g_str_equal(type, "EC")    ? &ec_ctx
                         : g_str_equal(type, "RSA") ? &rsa_ctx
                                                    : NULL;
        g_autoptr(EVP_PKEY_CTX) own = NULL;
        EVP_PKEY_CTX *ctx = slot != NULL ? g_private_get(slot) : NULL;
        EVP_PKEY *pkey = NULL;

        if (ctx == NULL) {
                own = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
                ctx = own;
                if (slot != NULL && own != NULL)
                        g_private_set(slot, g_steal_pointer(&own));
        }
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "building %s public key", type);
                return NULL;
        }
        return pkey;
}

static EVP_PKEY *
vtc_tpm_public_rsa_to_pkey(const TPMT_PUBLIC *pub, GError **error)
{
        const TPM2B_PUBLIC_KEY_RSA *n = &pub->unique.rsa;
        guint32 exponent = pub->parameters.rsaDetail.exponent;
        g_autoptr(BIGNUM) bn_n = NULL;
        g_autoptr(BIGNUM) bn_e = BN_new();
        g_autoptr(VtcOsslParamBld) bld = OSSL_PARAM_BLD_new();
        g_autoptr(VtcOsslParam) params = NULL;

        if (n->size == 0 || n->size * 8 != pub->parameters.rsaDetail.keyBits) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "RSA modulus of %u bytes does not match the key size of %u bits",
                            (guint)n->size,
                            (guint)pub->parameters.rsaDetail.keyBits);
                return NULL;
        }
        bn_n = BN_bin2bn(n->buffer, n->size, NULL);
        if (bn_n == NULL || bn_e == NULL || bld == NULL ||
            BN_set_word(bn_e, exponent != 0 ? exponent : 65537) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building RSA parameters");
                return NULL;
        }
        params = OSSL_PARAM_BLD_to_param(bld);
        if (params == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building RSA parameters");
                return NULL;
        }
        return vtc_pkey_from_params("RSA", params, error);
}

/* OpenSSL group name and field size of the curves a TPM EK or AK can use with OpenSSL. */
static const gchar *
vtc_tpm_curve_get_group(TPMI_ECC_CURVE curve, gsize *out_field_len)
{
        switch (curve) {
        case TPM2_ECC_NIST_P256:
                *out_field_len = 32;
                return "P-256";
        case TPM2_ECC_NIST_P384:
                *out_field_len = 48;
                return "P-384";
        case TPM2_ECC_NIST_P521:
                *out_field_len = 66;
                return "P-521";
        default:
                return NULL;
        }
}

static EVP_PKEY *
vtc_tpm_public_ecc_to_pkey(const TPMT_PUBLIC *pub, GError **error)
{
        gsize flen = 0;
        const gchar *group = vtc_tpm_curve_get_group(pub->parameters.eccDetail.curveID, &flen);
        const TPMS_ECC_POINT *q = &pub->unique.ecc;
        guint8 point[1 + 2 * TPM2_MAX_ECC_KEY_BYTES] = {0};
        OSSL_PARAM params[3];

        if (group == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "ECC curve 0x%04x is not supported",
                            (guint)pub->parameters.eccDetail.curveID);
                return NULL;
        }
        if (q->x.size == 0 || q->y.size == 0 || q->x.size > flen || q->y.size > flen) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "ECC point coordinates of %u and %u bytes do not fit %s",
                            (guint)q->x.size,
                            (guint)q->y.size,
                            group);
                return NULL;
        }
        /* uncompressed SEC1 point, coordinates left-padded to the field size */
        point[0] = 0x04;
        memcpy(point + 1 + flen - q->x.size, q->x.buffer, q->x.size);
        memcpy(point + 1 + 2 * flen - q->y.size, q->y.buffer, q->y.size);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * flen);
        params[2] = OSSL_PARAM_construct_end();
        return vtc_pkey_from_params("EC", params, error);
}

EVP_PKEY *
vtc_tpm_public_to_pkey(const TPM2B_PUBLIC *pub, GError **error)
{
        switch (pub->publicArea.type) {
        case TPM2_ALG_RSA:
                return vtc_tpm_public_rsa_to_pkey(&pub->publicArea, error);
        case TPM2_ALG_ECC:
                return vtc_tpm_public_ecc_to_pkey(&pub->publicArea, error);
        default:
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "TPM key type 0x%04x is not an asymmetric key type we support",
                            (guint)pub->publicArea.type);
                return NULL;
        }
}

static void
vtc_put_be32(guint8 *p, guint32 v)
{
        p[0] = (guint8)(v >> 24);
        p[1] = (guint8)(v >> 16);
        p[2] = (guint8)(v >> 8);
        p[3] = (guint8)v;
}

/*
 * KDFa (Part 1 §11.4.10.2, SP800-108 counter mode with HMAC):
 * K(i) = HMAC(key, [i]32 || label || 0x00 || contextU || [bits]32), with no contextV here.
 * @msg is caller-provided scratch space, wiped by the caller.
 */
static gboolean
vtc_kdfa(const EVP_MD *md,
         const guint8 *key,
         gsize key_len,
         const gchar *label,
         const guint8 *context_u,
         gsize context_u_len,
         guint8 *out,
         gsize out_len,
         guint8 *msg,
         gsize msg_size,
         GError **error)
{
        gsize label_len = strlen(label) + 1; /* the terminating NUL is part of the input */
        gsize msg_len = 4 + label_len + context_u_len + 4;
        gsize md_len = (gsize)EVP_MD_get_size(md);
        gsize done = 0;

        if (msg_len > msg_size) {
                /* cannot happen with TPM-sized inputs; never overrun the scratch buffer */
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "KDF input too long");
                return FALSE;
        }
        memcpy(msg + 4, label, label_len);
        if (context_u_len > 0)
                memcpy(msg + 4 + label_len, context_u, context_u_len);
        vtc_put_be32(msg + 4 + label_len + context_u_len, (guint32)(out_len * 8));
        for (guint32 i = 1; done < out_len; i++) {
                guint8 block[EVP_MAX_MD_SIZE];
                unsigned int block_len = 0;
                gsize n = MIN(md_len, out_len - done);

                vtc_put_be32(msg, i);
                if (HMAC(md, key, (int)key_len, msg, msg_len, block, &block_len) == NULL ||
                    block_len != md_len) {
                        explicit_bzero(block, sizeof(block));
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "KDFa(%s)", label);
                        return FALSE;
                }
                memcpy(out + done, block, n);
                explicit_bzero(block, sizeof(block));
                done += n;
        }
        return TRUE;
}

/*
 * KDFe (Part 1 §11.4.10.3, SP800-56A concatenation KDF):
 * K(i) = H([i]32 || Z || label || 0x00 || partyUInfo || partyVInfo).
 */
static gboolean
vtc_kdfe(const EVP_MD *md,
         const guint8 *z,
         gsize z_len,
         const gchar *label,
         const guint8 *party_u,
         gsize party_u_len,
         const guint8 *party_v,
         gsize party_v_len,
         guint8 *out,
         gsize out_len,
         guint8 *msg,
         gsize msg_size,
         GError **error)
{
        gsize label_len = strlen(label) + 1;
        gsize msg_len = 4 + z_len + label_len + party_u_len + party_v_len;
        gsize md_len = (gsize)EVP_MD_get_size(md);
        gsize done = 0;
        guint8 *p = msg + 4;

        if (msg_len > msg_size) {
                /* cannot happen with TPM-sized inputs; never overrun the scratch buffer */
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "KDF input too long");
                return FALSE;
        }
        memcpy(p, z, z_len);
        p += z_len;
        memcpy(p, label, label_len);
        p += label_len;
        memcpy(p, party_u, party_u_len);
        p += party_u_len;
        memcpy(p, party_v, party_v_len);
        for (guint32 i = 1; done < out_len; i++) {
                guint8 block[EVP_MAX_MD_SIZE];
                unsigned int block_len = 0;
                gsize n = MIN(md_len, out_len - done);

                vtc_put_be32(msg, i);
                if (EVP_Digest(msg, msg_len, block, &block_len, md, NULL) != 1 ||
                    block_len != md_len) {
                        explicit_bzero(block, sizeof(block));
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "KDFe(%s)", label);
                        return FALSE;
                }
                memcpy(out + done, block, n);
                explicit_bzero(block, sizeof(block));
                done += n;
        }
        return TRUE;
}

/* RSA: a random seed, RSA-OAEP encrypted to the EK with the label "IDENTITY\0". */
static gboolean
vtc_credential_rsa_seed(const TPM2B_PUBLIC *ek,
                        const EVP_MD *md,
                        guint8 *seed,
                        gsize seed_len,
                        TPM2B_ENCRYPTED_SECRET *out_secret,
                        GError **error)
{
        static const guint8 label[] = "IDENTITY";
        g_autoptr(EVP_PKEY) pkey = vtc_tpm_public_to_pkey(ek, error);
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        void *label_copy = NULL;
        size_t out_len = sizeof(out_secret->secret);

        if (pkey == NULL)
                return FALSE;
        if (RAND_bytes(seed, (int)seed_len) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating the credential seed");
                return FALSE;
        }
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "setting up RSA-OAEP");
                return FALSE;
        }
        /* the context takes ownership of the label on success only */
        label_copy = OPENSSL_memdup(label, sizeof(label));
        if (label_copy == NULL ||
            EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label_copy, (int)sizeof(label)) != 1) {
                OPENSSL_free(label_copy);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "setting the RSA-OAEP label");
                return FALSE;
        }
        if (EVP_PKEY_encrypt(ctx, out_secret->secret, &out_len, seed, seed_len) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "RSA-OAEP encrypting the seed");
                return FALSE;
        }
        out_secret->size = (UINT16)out_len;
        return TRUE;
}

static gboolean
vtc_bn_param_to_buf(EVP_PKEY *pkey, const gchar *param, guint8 *out, gsize len, GError **error)
{
        g_autoptr(BIGNUM) bn = NULL;

        if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1 || BN_bn2binpad(bn, out, (int)len) < 0) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "reading the ephemeral key's %s",
                                   param);
                return FALSE;
        }
        return TRUE;
}

/*
 * ECC: one-pass ECDH C(1e, 1s). An ephemeral key pair (de, Qe) on the EK's curve; Z = x(de * Qs);
 * seed = KDFe(nameAlg, Z, "IDENTITY", Qe.x, Qs.x); the encrypted secret is Qe.
 */
static gboolean
vtc_credential_ecc_seed(const TPM2B_PUBLIC *ek,
                        const EVP_MD *md,
                        VtcCredentialKeys *keys,
                        gsize seed_len,
                        TPM2B_ENCRYPTED_SECRET *out_secret,
                        GError **error)
{
        const TPMS_ECC_POINT *qs = &ek->publicArea.unique.ecc;
        gsize flen = 0;
        const gchar *group =
            vtc_tpm_curve_get_group(ek->publicArea.parameters.eccDetail.curveID, &flen);
        g_autoptr(EVP_PKEY) peer = vtc_tpm_public_to_pkey(ek, error);
        g_autoptr(EVP_PKEY) eph = NULL;
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        TPMS_ECC_POINT qe = {0};
        size_t z_len = sizeof(keys->z);
        size_t offset = 0;
        TSS2_RC rc;

        if (peer == NULL)
                return FALSE;
        eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
        if (eph == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_FAILED,
                                   "generating an ephemeral %s key",
                                   group);
                return FALSE;
        }
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
        /* No second validation of the EK point: importing it (EC_POINT_oct2point) already
         * refused points off the curve, and the NIST curves have cofactor 1, so the full
         * public-key check EVP_PKEY_derive_set_peer() would add (a scalar multiplication by
         * the group order, as costly as the ECDH itself) cannot find anything more. */
        if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
            EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
            EVP_PKEY_derive(ctx, keys->z, &z_len) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "ECDH with the EK");
                return FALSE;
        }
        if (z_len != flen) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "ECDH gave %zu bytes", z_len);
                return FALSE;
        }
        if (!vtc_bn_param_to_buf(eph, OSSL_PKEY_PARAM_EC_PUB_X, qe.x.buffer, flen, error) ||
            !vtc_bn_param_to_buf(eph, OSSL_PKEY_PARAM_EC_PUB_Y, qe.y.buffer, flen, error))
                return FALSE;
        qe.x.size = (UINT16)flen;
        qe.y.size = (UINT16)flen;
        if (!vtc_kdfe(md,
                      keys->z,
                      z_len,
                      "IDENTITY",
                      qe.x.buffer,
                      qe.x.size,
                      qs->x.buffer,
                      qs->x.size,
                      keys->seed,
                      seed_len,
                      keys->kdf_msg,
                      sizeof(keys->kdf_msg),
                      error))
                return FALSE;
        rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&qe,
                                            out_secret->secret,
                                            sizeof(out_secret->secret),
                                            &offset);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "marshalling the ephemeral point");
                return FALSE;
        }
        out_secret->size = (UINT16)offset;
        return TRUE;
}

/* The EK must be a storage key with AES-CFB, the only kind TPM2_MakeCredential accepts. */
static gboolean
vtc_credential_check_ek(const TPMT_PUBLIC *ek, guint *out_sym_bits, GError **error)
{
        const TPMT_SYM_DEF_OBJECT *sym = NULL;
        TPMA_OBJECT attrs = ek->objectAttributes;

        if (ek->type == TPM2_ALG_RSA) {
                sym = &ek->parameters.rsaDetail.symmetric;
        } else if (ek->type == TPM2_ALG_ECC) {
                sym = &ek->parameters.eccDetail.symmetric;
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "EK type 0x%04x is not supported (RSA or ECC only)",
                            (guint)ek->type);
                return FALSE;
        }
        if ((attrs & TPMA_OBJECT_RESTRICTED) == 0 || (attrs & TPMA_OBJECT_DECRYPT) == 0 ||
            (attrs & TPMA_OBJECT_SIGN_ENCRYPT) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "EK attributes 0x%08x are not those of a restricted decryption key",
                            (guint)attrs);
                return FALSE;
        }
        if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
            (sym->keyBits.aes != 128 && sym->keyBits.aes != 192 && sym->keyBits.aes != 256)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "EK symmetric algorithm 0x%04x/0x%04x is not supported (AES-CFB only)",
                            (guint)sym->algorithm,
                            (guint)sym->mode.aes);
                return FALSE;
        }
        *out_sym_bits = sym->keyBits.aes;
        return TRUE;
}

static const EVP_CIPHER *
vtc_aes_cfb(guint bits)
{
        /* static objects, nothing to free */
        switch (bits) {
        case 128:
                return EVP_aes_128_cfb128();
        case 192:
                return EVP_aes_192_cfb128();
        default:
                return EVP_aes_256_cfb128();
        }
}

gboolean
vtc_credential_make(const TPM2B_PUBLIC *ek_public,
                    const TPM2B_NAME *object_name,
                    const guint8 *secret,
                    gsize secret_len,
                    TPM2B_ID_OBJECT *out_credential_blob,
                    TPM2B_ENCRYPTED_SECRET *out_secret,
                    GError **error)
{
        const TPMT_PUBLIC *ek = &ek_public->publicArea;
        const VtcHashAlg *hash = NULL;
        const VtcHashAlg *name_hash = NULL;
        const EVP_MD *md = NULL;
        g_auto(VtcCredentialKeys) keys = {0};
        g_autoptr(EVP_CIPHER_CTX) cctx = NULL;
        TPM2B_ENCRYPTED_SECRET enc_secret = {0};
        TPM2B_ID_OBJECT blob = {0};
        static const guint8 zero_iv[16] = {0};
        guint8 hmac_in[sizeof(TPM2B_DIGEST) + sizeof(TPMU_NAME)];
        guint8 *enc_identity = NULL;
        gsize plain_len = 2 + secret_len;
        guint sym_bits = 0;
        unsigned int hmac_len = 0;
        int n = 0;
        int fin = 0;

        if (!vtc_credential_check_ek(ek, &sym_bits, error))
                return FALSE;
        hash = vtc_credential_get_hash(ek->nameAlg, "EK name", error);
        if (hash == NULL)
                return FALSE;
        md = vtc_hash_alg_get_md(hash);
        if (object_name->size < 2 || object_name->size > sizeof(object_name->name)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "object name of %u bytes is not a TPM name",
                            (guint)object_name->size);
                return FALSE;
        }
        name_hash =
            vtc_hash_alg_from_id((TPM2_ALG_ID)(object_name->name[0] << 8 | object_name->name[1]));
        if (name_hash == NULL || object_name->size != 2 + name_hash->size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "object name of %u bytes is not hash algorithm || digest",
                            (guint)object_name->size);
                return FALSE;
        }
        if (secret_len == 0 || secret_len > hash->size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "credential secret of %" G_GSIZE_FORMAT
                            " bytes must be 1 to %u bytes for an EK with %s",
                            secret_len,
                            hash->size,
                            hash->name);
                return FALSE;
        }

        /* the seed is as long as the EK's name digest */
        if (ek->type == TPM2_ALG_RSA) {
                if (!vtc_credential_rsa_seed(ek_public,
                                             md,
                                             keys.seed,
                                             hash->size,
                                             &enc_secret,
                                             error))
                        return FALSE;
        } else if (!vtc_credential_ecc_seed(ek_public, md, &keys, hash->size, &enc_secret, error)) {
                return FALSE;
        }

        /* encIdentity = CFB(symKey, 0, TPM2B_DIGEST(secret)), placed after the TPM2B integrity */
        if (!vtc_kdfa(md,
                      keys.seed,
                      hash->size,
                      "STORAGE",
                      object_name->name,
                      object_name->size,
                      keys.sym_key,
                      sym_bits / 8,
                      keys.kdf_msg,
                      sizeof(keys.kdf_msg),
                      error))
                return FALSE;
        keys.plain[0] = (guint8)(secret_len >> 8);
        keys.plain[1] = (guint8)secret_len;
        memcpy(keys.plain + 2, secret, secret_len);
        enc_identity = blob.credential + 2 + hash->size;
        cctx = EVP_CIPHER_CTX_new();
        if (cctx == NULL ||
            EVP_EncryptInit_ex(cctx, vtc_aes_cfb(sym_bits), NULL, keys.sym_key, zero_iv) != 1 ||
            EVP_EncryptUpdate(cctx, enc_identity, &n, keys.plain, (int)plain_len) != 1 ||
            EVP_EncryptFinal_ex(cctx, enc_identity + n, &fin) != 1 ||
            (gsize)(n + fin) != plain_len) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "AES-CFB encrypting the credential");
                return FALSE;
        }

        /* integrity = HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name) */
        if (!vtc_kdfa(md,
                      keys.seed,
                      hash->size,
                      "INTEGRITY",
                      NULL,
                      0,
                      keys.hmac_key,
                      hash->size,
                      keys.kdf_msg,
                      sizeof(keys.kdf_msg),
                      error))
                return FALSE;
        memcpy(hmac_in, enc_identity, plain_len);
        memcpy(hmac_in + plain_len, object_name->name, object_name->size);
        if (HMAC(md,
                 keys.hmac_key,
                 (int)hash->size,
                 hmac_in,
                 plain_len + object_name->size,
                 blob.credential + 2,
                 &hmac_len) == NULL ||
            hmac_len != hash->size) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "computing the credential integrity");
                return FALSE;
        }
        blob.credential[0] = (guint8)(hash->size >> 8);
        blob.credential[1] = (guint8)hash->size;
        blob.size = (UINT16)(2 + hash->size + plain_len);

        *out_credential_blob = blob;
        *out_secret = enc_secret;
        return TRUE;
}

gboolean
vtc_credential_make_marshalled(GBytes *ek_public,
                               GBytes *object_name,
                               const guint8 *secret,
                               gsize secret_len,
                               GBytes **out_credential_blob,
                               GBytes **out_secret,
                               GError **error)
{
        TPM2B_PUBLIC ek = {0};
        TPM2B_NAME name = {0};
        TPM2B_ID_OBJECT blob = {0};
        TPM2B_ENCRYPTED_SECRET enc = {0};
        guint8 blob_buf[sizeof(TPM2B_ID_OBJECT)];
        guint8 enc_buf[sizeof(TPM2B_ENCRYPTED_SECRET)];
        size_t blob_len = 0;
        size_t enc_len = 0;
        gsize name_len = 0;
        const guint8 *name_data = g_bytes_get_data(object_name, &name_len);
        gsize ek_len = 0;
        const guint8 *ek_data = g_bytes_get_data(ek_public, &ek_len);
        TSS2_RC rc;

        if (!vtc_tpm_public_unmarshal(ek_data, ek_len, &ek, error)) {
                g_prefix_error(error, "EK public: ");
                return FALSE;
        }
        if (name_len > sizeof(name.name)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "object name of %" G_GSIZE_FORMAT " bytes is too long for a TPM name",
                            name_len);
                return FALSE;
        }
        if (name_len > 0)
                memcpy(name.name, name_data, name_len);
        name.size = (UINT16)name_len;
        if (!vtc_credential_make(&ek, &name, secret, secret_len, &blob, &enc, error))
                return FALSE;
        rc = Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, blob_buf, sizeof(blob_buf), &blob_len);
        if (rc == TSS2_RC_SUCCESS)
                rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc,
                                                            enc_buf,
                                                            sizeof(enc_buf),
                                                            &enc_len);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "marshalling the credential");
                return FALSE;
        }
        *out_credential_blob = g_bytes_new(blob_buf, blob_len);
        *out_secret = g_bytes_new(enc_buf, enc_len);
        return TRUE;
}
