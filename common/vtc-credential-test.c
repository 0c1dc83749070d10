/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Software MakeCredential against a real TPM: swtpm creates EKs from the TCG EK Credential
 * Profile templates and an AK, we wrap a secret in software, and the TPM's ActivateCredential
 * must give it back — or refuse when the name or the blob is wrong.
 */
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "vtc-credential.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

/* TCG EK Credential Profile 2.x, PolicyA_SHA256 = PolicySecret(TPM_RH_ENDORSEMENT) */
static const guint8 vtc_policy_a_sha256[] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* The EK attributes of the low-range templates: no userWithAuth, so use needs the policy. */
#define VTC_EK_ATTRS                                                                        \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
         TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/*
 * PolicySecret(TPM_RH_ENDORSEMENT) with an empty policyRef, computed the way the TPM does:
 * d = H(0...0 || TPM_CC_PolicySecret || name(TPM_RH_ENDORSEMENT)); d = H(d || policyRef).
 */
static void
vtc_test_policy_secret_endorsement(TPM2_ALG_ID alg, TPM2B_DIGEST *out)
{
        const VtcHashAlg *hash = vtc_hash_alg_from_id(alg);
        guint8 buf[64 + 4 + 4] = {0};
        g_autoptr(GError) error = NULL;

        g_assert_nonnull(hash);
        buf[hash->size + 0] = 0x00;
        buf[hash->size + 1] = 0x00;
        buf[hash->size + 2] = 0x01;
        buf[hash->size + 3] = 0x51;
        buf[hash->size + 4] = 0x40;
        buf[hash->size + 5] = 0x00;
        buf[hash->size + 6] = 0x00;
        buf[hash->size + 7] = 0x0b;
        g_assert_true(vtc_hash(hash, buf, hash->size + 8, out->buffer, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_hash(hash, out->buffer, hash->size, out->buffer, &error));
        out->size = (UINT16)hash->size;
}

/* Template L-1: RSA 2048, SHA-256, AES-128-CFB, PolicyA, 256 zero bytes of unique. */
static TPM2B_PUBLIC
vtc_test_ek_template_rsa(void)
{
        TPM2B_PUBLIC t = {0};

        t.publicArea.type = TPM2_ALG_RSA;
        t.publicArea.nameAlg = TPM2_ALG_SHA256;
        t.publicArea.objectAttributes = VTC_EK_ATTRS;
        t.publicArea.authPolicy.size = sizeof(vtc_policy_a_sha256);
        memcpy(t.publicArea.authPolicy.buffer, vtc_policy_a_sha256, sizeof(vtc_policy_a_sha256));
        t.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
        t.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
        t.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        t.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        t.publicArea.parameters.rsaDetail.keyBits = 2048;
        t.publicArea.parameters.rsaDetail.exponent = 0;
        t.publicArea.unique.rsa.size = 256;
        return t;
}

/* Template L-2: ECC NIST P-256, SHA-256, AES-128-CFB, PolicyA, 32 zero bytes for x and y. */
static TPM2B_PUBLIC
vtc_test_ek_template_ecc256(void)
{
        TPM2B_PUBLIC t = {0};

        t.publicArea.type = TPM2_ALG_ECC;
        t.publicArea.nameAlg = TPM2_ALG_SHA256;
        t.publicArea.objectAttributes = VTC_EK_ATTRS;
        t.publicArea.authPolicy.size = sizeof(vtc_policy_a_sha256);
        memcpy(t.publicArea.authPolicy.buffer, vtc_policy_a_sha256, sizeof(vtc_policy_a_sha256));
        t.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        t.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
        t.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        t.publicArea.unique.ecc.x.size = 32;
        t.publicArea.unique.ecc.y.size = 32;
        return t;
}

/*
 * Like the high-range ECC NIST P-384 template (H-3 in EK profile 2.3): SHA-384, AES-256-CFB,
 * empty unique. The real template's authPolicy is PolicyB (a PolicyOR that needs an NV index);
 * here it is PolicyA_SHA384 and userWithAuth stays clear, so the EK is used through
 * PolicySecret exactly as with the low-range ones.
 */
static TPM2B_PUBLIC
vtc_test_ek_template_ecc384(void)
{
        TPM2B_PUBLIC t = {0};

        t.publicArea.type = TPM2_ALG_ECC;
        t.publicArea.nameAlg = TPM2_ALG_SHA384;
        t.publicArea.objectAttributes = VTC_EK_ATTRS;
        vtc_test_policy_secret_endorsement(TPM2_ALG_SHA384, &t.publicArea.authPolicy);
        t.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        t.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 256;
        t.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
        t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        return t;
}

/* A restricted ECDSA P-256 signing key: the AK. */
static TPM2B_PUBLIC
vtc_test_ak_template(TPM2_ALG_ID name_alg)
{
        TPM2B_PUBLIC t = {0};

        t.publicArea.type = TPM2_ALG_ECC;
        t.publicArea.nameAlg = name_alg;
        t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                        TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
        t.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        t.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        t.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        return t;
}

typedef struct {
        gchar *dir;
        VtcSwtpm *tpm;
        ESYS_CONTEXT *ctx;
        ESYS_TR ek;
        ESYS_TR ak;
        TPM2B_PUBLIC *ek_public;
        TPM2B_PUBLIC *ak_public;
} VtcTestTpm;

static void
vtc_test_tpm_free(VtcTestTpm *t)
{
        if (t->ctx != NULL) {
                if (t->ek != ESYS_TR_NONE)
                        Esys_FlushContext(t->ctx, t->ek);
                if (t->ak != ESYS_TR_NONE)
                        Esys_FlushContext(t->ctx, t->ak);
        }
        Esys_Free(t->ek_public);
        Esys_Free(t->ak_public);
        g_clear_pointer(&t->ctx, vtc_esys_close);
        g_clear_pointer(&t->tpm, vtc_swtpm_free);
        vtc_test_tmpdir_free(g_steal_pointer(&t->dir));
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcTestTpm, vtc_test_tpm_free)

static ESYS_TR
vtc_test_create_primary(ESYS_CONTEXT *ctx,
                        ESYS_TR hierarchy,
                        const TPM2B_PUBLIC *template,
                        TPM2B_PUBLIC **out_public)
{
        TPM2B_SENSITIVE_CREATE sensitive = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION pcrs = {0};
        ESYS_TR handle = ESYS_TR_NONE;
        TSS2_RC rc = Esys_CreatePrimary(ctx,
                                        hierarchy,
                                        ESYS_TR_PASSWORD,
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        &sensitive,
                                        template,
                                        &outside,
                                        &pcrs,
                                        &handle,
                                        out_public,
                                        NULL,
                                        NULL,
                                        NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        return handle;
}

/* A fresh swtpm with an EK from @ek_template and an AK, both transient (2 of the 3 slots). */
static VtcTestTpm *
vtc_test_tpm_new(const TPM2B_PUBLIC *ek_template, TPM2_ALG_ID ak_name_alg)
{
        g_autoptr(VtcTestTpm) t = g_new0(VtcTestTpm, 1);
        g_autofree gchar *state = NULL;
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC ak_template = vtc_test_ak_template(ak_name_alg);

        t->ek = ESYS_TR_NONE;
        t->ak = ESYS_TR_NONE;
        t->dir = vtc_test_tmpdir_new();
        state = g_build_filename(t->dir, "tpm", NULL);
        t->tpm = vtc_swtpm_new(state, &error);
        g_assert_no_error(error);
        t->ctx = vtc_swtpm_esys_open(t->tpm, &error);
        g_assert_no_error(error);
        t->ek = vtc_test_create_primary(t->ctx, ESYS_TR_RH_ENDORSEMENT, ek_template, &t->ek_public);
        t->ak = vtc_test_create_primary(t->ctx, ESYS_TR_RH_OWNER, &ak_template, &t->ak_public);
        return g_steal_pointer(&t);
}

/* Our name of a TPM object must be the name the TPM reports. */
static void
vtc_test_assert_name(ESYS_CONTEXT *ctx, ESYS_TR handle, const TPM2B_PUBLIC *pub, TPM2B_NAME *out)
{
        g_autoptr(GError) error = NULL;
        TPM2B_NAME *tpm_name = NULL;
        TSS2_RC rc = Esys_TR_GetName(ctx, handle, &tpm_name);

        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        g_assert_true(vtc_tpm_public_get_name(pub, out, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(out->name, out->size, tpm_name->name, tpm_name->size);
        Esys_Free(tpm_name);
}

/* ActivateCredential with the EK used through PolicySecret(TPM_RH_ENDORSEMENT). */
static TSS2_RC
vtc_test_activate(VtcTestTpm *t,
                  const TPM2B_ID_OBJECT *blob,
                  const TPM2B_ENCRYPTED_SECRET *secret,
                  TPM2B_DIGEST **out)
{
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
        ESYS_TR session = ESYS_TR_NONE;
        TSS2_RC rc = Esys_StartAuthSession(t->ctx,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           NULL,
                                           TPM2_SE_POLICY,
                                           &sym,
                                           t->ek_public->publicArea.nameAlg,
                                           &session);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        rc = Esys_PolicySecret(t->ctx,
                               ESYS_TR_RH_ENDORSEMENT,
                               session,
                               ESYS_TR_PASSWORD,
                               ESYS_TR_NONE,
                               ESYS_TR_NONE,
                               NULL,
                               NULL,
                               NULL,
                               0,
                               NULL,
                               NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        rc = Esys_ActivateCredential(t->ctx,
                                     t->ak,
                                     t->ek,
                                     ESYS_TR_PASSWORD,
                                     session,
                                     ESYS_TR_NONE,
                                     blob,
                                     secret,
                                     out);
        /* the session may already be gone when the command failed; either way it must not leak */
        Esys_FlushContext(t->ctx, session);
        return rc;
}

/* TPM_RC_INTEGRITY as a format-one code on any parameter */
static gboolean
vtc_test_rc_is_integrity(TSS2_RC rc)
{
        return (rc & TPM2_RC_FMT1) != 0 && (rc & 0x3f) == (TPM2_RC_INTEGRITY & 0x3f);
}

static void
vtc_test_credential_roundtrip(const TPM2B_PUBLIC *ek_template, TPM2_ALG_ID ak_name_alg)
{
        g_autoptr(VtcTestTpm) t = vtc_test_tpm_new(ek_template, ak_name_alg);
        const VtcHashAlg *hash = vtc_hash_alg_from_id(t->ek_public->publicArea.nameAlg);
        TPM2B_NAME ak_name = {0};
        TPM2B_NAME ek_name = {0};
        gsize lens[] = {hash->size, 1, 16};

        vtc_test_assert_name(t->ctx, t->ak, t->ak_public, &ak_name);
        vtc_test_assert_name(t->ctx, t->ek, t->ek_public, &ek_name);

        for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
                g_autoptr(GError) error = NULL;
                guint8 secret[64];
                TPM2B_ID_OBJECT blob = {0};
                TPM2B_ENCRYPTED_SECRET enc = {0};
                TPM2B_DIGEST *got = NULL;
                TSS2_RC rc;

                g_assert_cmpint(RAND_bytes(secret, (int)lens[i]), ==, 1);
                g_assert_true(vtc_credential_make(t->ek_public,
                                                  &ak_name,
                                                  secret,
                                                  lens[i],
                                                  &blob,
                                                  &enc,
                                                  &error));
                g_assert_no_error(error);
                g_assert_cmpuint(blob.size, ==, 2 + hash->size + 2 + lens[i]);
                rc = vtc_test_activate(t, &blob, &enc, &got);
                g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
                g_assert_cmpmem(got->buffer, got->size, secret, lens[i]);
                Esys_Free(got);
        }

        /* bound to another name (the EK's own): the TPM's integrity check must fail */
        {
                g_autoptr(GError) error = NULL;
                guint8 secret[16] = "0123456789abcdef";
                TPM2B_ID_OBJECT blob = {0};
                TPM2B_ENCRYPTED_SECRET enc = {0};
                TPM2B_DIGEST *got = NULL;
                TSS2_RC rc;

                g_assert_true(vtc_credential_make(t->ek_public,
                                                  &ek_name,
                                                  secret,
                                                  sizeof(secret),
                                                  &blob,
                                                  &enc,
                                                  &error));
                g_assert_no_error(error);
                rc = vtc_test_activate(t, &blob, &enc, &got);
                g_assert_true(vtc_test_rc_is_integrity(rc));
                g_assert_null(got);

                /* the right name but one flipped bit in encIdentity */
                g_assert_true(vtc_credential_make(t->ek_public,
                                                  &ak_name,
                                                  secret,
                                                  sizeof(secret),
                                                  &blob,
                                                  &enc,
                                                  &error));
                g_assert_no_error(error);
                blob.credential[blob.size - 1] ^= 0x01;
                rc = vtc_test_activate(t, &blob, &enc, &got);
                g_assert_true(vtc_test_rc_is_integrity(rc));
                g_assert_null(got);
        }
}

static void
vtc_credential_rsa2048_test(void)
{
        TPM2B_PUBLIC ek = vtc_test_ek_template_rsa();
        vtc_test_credential_roundtrip(&ek, TPM2_ALG_SHA256);
}

static void
vtc_credential_ecc_p256_test(void)
{
        TPM2B_PUBLIC ek = vtc_test_ek_template_ecc256();
        vtc_test_credential_roundtrip(&ek, TPM2_ALG_SHA256);
}

static void
vtc_credential_ecc_p384_test(void)
{
        TPM2B_PUBLIC ek = vtc_test_ek_template_ecc384();
        /* an AK with a SHA-384 name: the name is opaque to MakeCredential */
        vtc_test_credential_roundtrip(&ek, TPM2_ALG_SHA384);
}

/* Our PolicySecret computation must give the TCG's published PolicyA_SHA256. */
static void
vtc_credential_policy_a_test(void)
{
        TPM2B_DIGEST d = {0};

        vtc_test_policy_secret_endorsement(TPM2_ALG_SHA256, &d);
        g_assert_cmpmem(d.buffer, d.size, vtc_policy_a_sha256, sizeof(vtc_policy_a_sha256));
}

static GBytes *
vtc_test_read(const gchar *relpath)
{
        g_autofree gchar *path = vtc_test_data_path(relpath);
        g_autoptr(GError) error = NULL;
        GBytes *b = vtc_file_read(path, 1 << 20, &error);

        g_assert_no_error(error);
        return b;
}

/*
 * Keylime's tpm2-tools files: our name of ak.pub must be ak.name (written by tpm2_createak),
 * and our credential for ek.pub has exactly the shape of tpm2_makecredential's mkcred.out
 * (magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) for the same secret.
 */
static void
vtc_credential_keylime_files_test(void)
{
        g_autoptr(GBytes) ak_pub = vtc_test_read("quote/keylime-tpm2-tools-files/ak.pub");
        g_autoptr(GBytes) ak_name = vtc_test_read("quote/keylime-tpm2-tools-files/ak.name");
        g_autoptr(GBytes) ek_pub = vtc_test_read("quote/keylime-tpm2-tools-files/ek.pub");
        g_autoptr(GBytes) secret = vtc_test_read("quote/keylime-tpm2-tools-files/secret.data");
        g_autoptr(GBytes) mkcred = vtc_test_read("quote/keylime-tpm2-tools-files/mkcred.out");
        g_autoptr(GBytes) blob = NULL;
        g_autoptr(GBytes) enc = NULL;
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC pub = {0};
        TPM2B_NAME name = {0};
        TPM2B_ID_OBJECT ref_blob = {0};
        TPM2B_ENCRYPTED_SECRET ref_enc = {0};
        const guint8 *m = NULL;
        gsize mlen = 0;
        size_t offset = 8;

        g_assert_true(vtc_tpm_public_unmarshal(g_bytes_get_data(ak_pub, NULL),
                                               g_bytes_get_size(ak_pub),
                                               &pub,
                                               &error));
        g_assert_no_error(error);
        g_assert_true(vtc_tpm_public_get_name(&pub, &name, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(name.name,
                        name.size,
                        g_bytes_get_data(ak_name, NULL),
                        g_bytes_get_size(ak_name));

        g_assert_true(vtc_credential_make_marshalled(ek_pub,
                                                     ak_name,
                                                     g_bytes_get_data(secret, NULL),
                                                     g_bytes_get_size(secret),
                                                     &blob,
                                                     &enc,
                                                     &error));
        g_assert_no_error(error);
        m = g_bytes_get_data(mkcred, &mlen);
        g_assert_cmpuint(mlen, >, 8);
        g_assert_cmpmem(m, 8, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
        g_assert_cmphex(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(m, mlen, &offset, &ref_blob),
                        ==,
                        TSS2_RC_SUCCESS);
        g_assert_cmphex(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(m, mlen, &offset, &ref_enc),
                        ==,
                        TSS2_RC_SUCCESS);
        g_assert_cmpuint(offset, ==, mlen);
        g_assert_cmpuint(g_bytes_get_size(blob), ==, 2 + ref_blob.size);
        g_assert_cmpuint(g_bytes_get_size(enc), ==, 2 + ref_enc.size);
        /* same integrity length prefix; the rest is random per call */
        g_assert_cmpmem(g_bytes_get_data(blob, NULL) + 2, 2, ref_blob.credential, 2);
}

static void
vtc_test_assert_make_fails(const TPM2B_PUBLIC *ek,
                           const TPM2B_NAME *name,
                           gsize secret_len,
                           gint code)
{
        g_autoptr(GError) error = NULL;
        guint8 secret[128] = {1};
        TPM2B_ID_OBJECT blob = {.size = 0x4242};
        TPM2B_ENCRYPTED_SECRET enc = {.size = 0x4343};

        g_assert_false(vtc_credential_make(ek, name, secret, secret_len, &blob, &enc, &error));
        g_assert_error(error, VTC_ERROR, code);
        /* out-parameters untouched on failure */
        g_assert_cmpuint(blob.size, ==, 0x4242);
        g_assert_cmpuint(enc.size, ==, 0x4343);
}

static void
vtc_credential_invalid_test(void)
{
        TPM2B_NAME name = {.size = 34};
        TPM2B_PUBLIC ek = vtc_test_ek_template_rsa();
        TPM2B_PUBLIC ecc = vtc_test_ek_template_ecc256();
        TPM2B_PUBLIC tmp = {0};
        guint8 buf[sizeof(TPM2B_PUBLIC) + 16] = {0};
        size_t len = 0;
        g_autoptr(GError) error = NULL;

        name.name[0] = 0x00;
        name.name[1] = 0x0b;
        /* a plausible modulus so that only the case under test fails */
        memset(ek.publicArea.unique.rsa.buffer, 0xc5, 256);
        /* a real point: the P-256 generator */
        vtc_hex_decode_fixed("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
                             ecc.publicArea.unique.ecc.x.buffer,
                             32,
                             &error);
        vtc_hex_decode_fixed("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
                             ecc.publicArea.unique.ecc.y.buffer,
                             32,
                             &error);
        g_assert_no_error(error);

        /* these two are fine; each case below breaks one thing */
        {
                TPM2B_ID_OBJECT blob = {0};
                TPM2B_ENCRYPTED_SECRET enc = {0};
                guint8 secret[32] = {7};

                g_assert_true(vtc_credential_make(&ek, &name, secret, 32, &blob, &enc, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(enc.size, ==, 256);
                g_assert_true(vtc_credential_make(&ecc, &name, secret, 32, &blob, &enc, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(enc.size, ==, 2 + 32 + 2 + 32);
        }

        /* secret sizes */
        vtc_test_assert_make_fails(&ek, &name, 0, VTC_ERROR_INVALID_ARGUMENT);
        vtc_test_assert_make_fails(&ek, &name, 33, VTC_ERROR_INVALID_ARGUMENT);
        /* names that are not alg || digest */
        name.size = 33;
        vtc_test_assert_make_fails(&ek, &name, 32, VTC_ERROR_INVALID_ARGUMENT);
        name.size = 0;
        vtc_test_assert_make_fails(&ek, &name, 32, VTC_ERROR_INVALID_ARGUMENT);
        name.size = 34;
        name.name[1] = 0x99;
        vtc_test_assert_make_fails(&ek, &name, 32, VTC_ERROR_INVALID_ARGUMENT);
        name.name[1] = 0x0b;

        /* a signing key is no EK */
        tmp = vtc_test_ak_template(TPM2_ALG_SHA256);
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);
        /* no symmetric algorithm */
        tmp = ek;
        tmp.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);
        /* AES in CBC mode */
        tmp = ek;
        tmp.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);
        /* a keyedhash object */
        tmp = ek;
        tmp.publicArea.type = TPM2_ALG_KEYEDHASH;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);
        /* an unknown name algorithm */
        tmp = ek;
        tmp.publicArea.nameAlg = 0x0099;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);
        /* modulus shorter than the key size */
        tmp = ek;
        tmp.publicArea.unique.rsa.size = 255;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_INVALID_DATA);
        /* an ECC point that is not on the curve */
        tmp = ecc;
        tmp.publicArea.unique.ecc.y.buffer[31] ^= 1;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_INVALID_DATA);
        /* a coordinate longer than the field */
        tmp = ecc;
        tmp.publicArea.unique.ecc.x.size = 33;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_INVALID_DATA);
        /* a curve OpenSSL and we do not handle */
        tmp = ecc;
        tmp.publicArea.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
        vtc_test_assert_make_fails(&tmp, &name, 32, VTC_ERROR_NOT_SUPPORTED);

        /* unmarshalling: the good one, then truncated, trailing garbage, random, oversized */
        g_assert_cmphex(Tss2_MU_TPM2B_PUBLIC_Marshal(&ek, buf, sizeof(buf), &len),
                        ==,
                        TSS2_RC_SUCCESS);
        g_assert_true(vtc_tpm_public_unmarshal(buf, len, &tmp, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(&tmp.publicArea.unique.rsa, 2 + 256, &ek.publicArea.unique.rsa, 2 + 256);
        /* the bare TPMT_PUBLIC */
        g_assert_true(vtc_tpm_public_unmarshal(buf + 2, len - 2, &tmp, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(tmp.publicArea.parameters.rsaDetail.keyBits, ==, 2048);
        for (gsize cut = 0; cut < len; cut += 7) {
                g_assert_false(vtc_tpm_public_unmarshal(buf, cut, &tmp, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
        buf[len] = 0;
        g_assert_false(vtc_tpm_public_unmarshal(buf, len + 1, &tmp, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_false(vtc_tpm_public_unmarshal(buf, sizeof(buf), &tmp, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        for (guint i = 0; i < 200; i++) {
                TPM2B_PUBLIC sentinel = {.size = 0x5151};
                gsize n = 2 + (gsize)g_test_rand_int_range(0, 400);

                g_assert_cmpint(RAND_bytes(buf, (int)n), ==, 1);
                if (vtc_tpm_public_unmarshal(buf, n, &sentinel, &error)) {
                        /* random input that happens to parse must still be refused or wrapped */
                        TPM2B_ID_OBJECT blob = {0};
                        TPM2B_ENCRYPTED_SECRET enc = {0};
                        guint8 secret[1] = {1};
                        g_autoptr(GError) error2 = NULL;
                        if (!vtc_credential_make(&sentinel, &name, secret, 1, &blob, &enc, &error2))
                                g_assert_nonnull(error2);
                        continue;
                }
                g_assert_nonnull(error);
                g_assert_cmpuint(sentinel.size, ==, 0x5151);
                g_clear_error(&error);
        }
        /* the marshalled entry point reports which input was wrong */
        {
                g_autoptr(GBytes) garbage = g_bytes_new_static("\x00\x05garbage", 9);
                g_autoptr(GBytes) nm = g_bytes_new(name.name, name.size);
                g_autoptr(GBytes) blob = NULL;
                g_autoptr(GBytes) enc = NULL;
                guint8 secret[4] = {1, 2, 3, 4};

                g_assert_false(vtc_credential_make_marshalled(garbage,
                                                              nm,
                                                              secret,
                                                              sizeof(secret),
                                                              &blob,
                                                              &enc,
                                                              &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "EK public"));
                g_assert_null(blob);
                g_assert_null(enc);
        }
}

int
main(int argc, char **argv)
{
        vtc_test_require_program("swtpm");
        /* the failures below are expected: keep the ESYS log quiet unless asked for */
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/credential/policy-a", vtc_credential_policy_a_test);
        g_test_add_func("/credential/invalid", vtc_credential_invalid_test);
        g_test_add_func("/credential/keylime-files", vtc_credential_keylime_files_test);
        g_test_add_func("/credential/activate/rsa2048", vtc_credential_rsa2048_test);
        g_test_add_func("/credential/activate/ecc-p256", vtc_credential_ecc_p256_test);
        g_test_add_func("/credential/activate/ecc-p384", vtc_credential_ecc_p384_test);
        return g_test_run();
}
