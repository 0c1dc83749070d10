/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-tpm.h"

#include <tss2/tss2_mu.h>

#include "vtc-swtpm.h"
#include "vtc-util.h"

struct _VtcTpm {
        ESYS_CONTEXT *ctx;
};

/* TPM2_PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256: the TCG EK templates' policy A. */
static const guint8 vtc_tpm_policy_a_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

VtcTpm *
vtc_tpm_new(const gchar *tcti_conf, GError **error)
{
        ESYS_CONTEXT *ctx = vtc_esys_open(tcti_conf, error);
        VtcTpm *self;

        if (ctx == NULL)
                return NULL;
        self = g_new0(VtcTpm, 1);
        self->ctx = ctx;
        return self;
}

void
vtc_tpm_free(VtcTpm *self)
{
        if (self == NULL)
                return;
        vtc_esys_close(self->ctx);
        g_free(self);
}

ESYS_CONTEXT *
vtc_tpm_get_esys(VtcTpm *self)
{
        return self->ctx;
}

void
vtc_tpm_flush(VtcTpm *self, ESYS_TR handle)
{
        if (handle != ESYS_TR_NONE)
                Esys_FlushContext(self->ctx, handle);
}

void
vtc_tpm_template_ek(VtcTpmKeyType type, TPM2B_PUBLIC *out)
{
        TPMT_PUBLIC *p = &out->publicArea;

        memset(out, 0, sizeof(*out));
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                              TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                              TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
        p->authPolicy.size = sizeof(vtc_tpm_policy_a_sha256);
        memcpy(p->authPolicy.buffer, vtc_tpm_policy_a_sha256, sizeof(vtc_tpm_policy_a_sha256));
        if (type == VTC_TPM_KEY_RSA2048) {
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
                p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.rsaDetail.keyBits = 2048;
                p->unique.rsa.size = 256; /* zeros, as the L-1 template says */
        } else {
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.eccDetail.symmetric.keyBits.aes = 128;
                p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
                p->unique.ecc.x.size = 32;
                p->unique.ecc.y.size = 32;
        }
}

static void
vtc_tpm_template_signing(VtcTpmKeyType type, gboolean restricted, TPM2B_PUBLIC *out)
{
        TPMT_PUBLIC *p = &out->publicArea;

        memset(out, 0, sizeof(*out));
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                              TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                              TPMA_OBJECT_SIGN_ENCRYPT;
        if (restricted)
                p->objectAttributes |= TPMA_OBJECT_RESTRICTED;
        if (type == VTC_TPM_KEY_RSA2048) {
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
                p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
                p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
                p->parameters.rsaDetail.keyBits = 2048;
        } else {
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
                p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
                p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        }
}

void
vtc_tpm_template_ak(VtcTpmKeyType type, TPM2B_PUBLIC *out)
{
        vtc_tpm_template_signing(type, TRUE, out);
}

void
vtc_tpm_template_signing_key(VtcTpmKeyType type, TPM2B_PUBLIC *out)
{
        vtc_tpm_template_signing(type, FALSE, out);
}

static gboolean
vtc_tpm_create_primary_in(VtcTpm *self,
                          ESYS_TR hierarchy,
                          const TPM2B_PUBLIC *template,
                          ESYS_TR *out_handle,
                          TPM2B_PUBLIC *out_public,
                          GError **error)
{
        TPM2B_SENSITIVE_CREATE sensitive = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION pcrs = {0};
        TPM2B_PUBLIC *pub = NULL;
        ESYS_TR handle = ESYS_TR_NONE;
        TSS2_RC rc = Esys_CreatePrimary(self->ctx,
                                        hierarchy,
                                        ESYS_TR_PASSWORD,
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        &sensitive,
                                        template,
                                        &outside,
                                        &pcrs,
                                        &handle,
                                        &pub,
                                        NULL,
                                        NULL,
                                        NULL);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_CreatePrimary");
                return FALSE;
        }
        *out_handle = handle;
        if (out_public != NULL)
                *out_public = *pub;
        Esys_Free(pub);
        return TRUE;
}

gboolean
vtc_tpm_create_primary(VtcTpm *self,
                       const TPM2B_PUBLIC *template,
                       ESYS_TR *out_handle,
                       TPM2B_PUBLIC *out_public,
                       GError **error)
{
        return vtc_tpm_create_primary_in(self,
                                         ESYS_TR_RH_OWNER,
                                         template,
                                         out_handle,
                                         out_public,
                                         error);
}

/* ESYS_TR and public area of a persistent handle; FALSE (no error set) when it is empty. */
static gboolean
vtc_tpm_open_persistent(VtcTpm *self,
                        TPM2_HANDLE persistent,
                        ESYS_TR *out_handle,
                        TPM2B_PUBLIC *out_public,
                        GError **error)
{
        ESYS_TR handle = ESYS_TR_NONE;
        TPM2B_PUBLIC *pub = NULL;
        TSS2_RC rc = Esys_TR_FromTPMPublic(self->ctx,
                                           persistent,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           &handle);

        if (rc != TSS2_RC_SUCCESS)
                return FALSE;
        rc = Esys_ReadPublic(self->ctx,
                             handle,
                             ESYS_TR_NONE,
                             ESYS_TR_NONE,
                             ESYS_TR_NONE,
                             &pub,
                             NULL,
                             NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_TR_Close(self->ctx, &handle);
                vtc_tss_set_error(error, rc, "Esys_ReadPublic");
                return FALSE;
        }
        *out_handle = handle;
        if (out_public != NULL)
                *out_public = *pub;
        Esys_Free(pub);
        return TRUE;
}

gboolean
vtc_tpm_ek_open(VtcTpm *self,
                VtcTpmKeyType type,
                ESYS_TR *out_handle,
                TPM2B_PUBLIC *out_public,
                gboolean *out_transient,
                GError **error)
{
        TPM2B_PUBLIC template;
        g_autoptr(GError) error_local = NULL;

        if (type == VTC_TPM_KEY_RSA2048 && vtc_tpm_open_persistent(self,
                                                                   VTC_TPM_EK_RSA_HANDLE,
                                                                   out_handle,
                                                                   out_public,
                                                                   &error_local)) {
                *out_transient = FALSE;
                return TRUE;
        }
        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        vtc_tpm_template_ek(type, &template);
        if (!vtc_tpm_create_primary_in(self,
                                       ESYS_TR_RH_ENDORSEMENT,
                                       &template,
                                       out_handle,
                                       out_public,
                                       error)) {
                g_prefix_error(error, "creating the EK: ");
                return FALSE;
        }
        *out_transient = TRUE;
        return TRUE;
}

GBytes *
vtc_tpm_nv_read(VtcTpm *self, TPM2_HANDLE nv_index, GError **error)
{
        ESYS_TR handle = ESYS_TR_NONE;
        TPM2B_NV_PUBLIC *nv_public = NULL;
        TPMS_CAPABILITY_DATA *cap = NULL;
        g_autoptr(GByteArray) out = g_byte_array_new();
        guint16 size;
        guint16 chunk = 512;
        TSS2_RC rc = Esys_TR_FromTPMPublic(self->ctx,
                                           nv_index,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           &handle);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_TR_FromTPMPublic");
                g_prefix_error(error, "NV index 0x%08x: ", nv_index);
                if (error != NULL && *error != NULL)
                        (*error)->code = VTC_ERROR_NOT_FOUND;
                return NULL;
        }
        rc = Esys_NV_ReadPublic(self->ctx,
                                handle,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                &nv_public,
                                NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_TR_Close(self->ctx, &handle);
                vtc_tss_set_error(error, rc, "Esys_NV_ReadPublic");
                return NULL;
        }
        size = nv_public->nvPublic.dataSize;
        Esys_Free(nv_public);
        if (size > VTC_TPM_MAX_NV_READ_BYTES) {
                Esys_TR_Close(self->ctx, &handle);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "NV index 0x%08x holds %u bytes, over the limit",
                            nv_index,
                            size);
                return NULL;
        }
        /* TPM_PT_NV_BUFFER_MAX bounds one read */
        rc = Esys_GetCapability(self->ctx,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                TPM2_CAP_TPM_PROPERTIES,
                                TPM2_PT_NV_BUFFER_MAX,
                                1,
                                NULL,
                                &cap);
        if (rc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count == 1 &&
            cap->data.tpmProperties.tpmProperty[0].value > 0)
                chunk = (guint16)MIN(cap->data.tpmProperties.tpmProperty[0].value, 1024u);
        Esys_Free(cap);
        while (out->len < size) {
                TPM2B_MAX_NV_BUFFER *data = NULL;
                guint16 n = (guint16)MIN((guint)chunk, size - out->len);

                rc = Esys_NV_Read(self->ctx,
                                  ESYS_TR_RH_OWNER,
                                  handle,
                                  ESYS_TR_PASSWORD,
                                  ESYS_TR_NONE,
                                  ESYS_TR_NONE,
                                  n,
                                  (guint16)out->len,
                                  &data);
                if (rc != TSS2_RC_SUCCESS) {
                        Esys_TR_Close(self->ctx, &handle);
                        vtc_tss_set_error(error, rc, "Esys_NV_Read");
                        g_prefix_error(error, "NV index 0x%08x: ", nv_index);
                        return NULL;
                }
                g_byte_array_append(out, data->buffer, data->size);
                Esys_Free(data);
        }
        Esys_TR_Close(self->ctx, &handle);
        return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

gboolean
vtc_tpm_key_ensure(VtcTpm *self,
                   TPM2_HANDLE persistent,
                   const TPM2B_PUBLIC *template,
                   ESYS_TR *out_handle,
                   TPM2B_PUBLIC *out_public,
                   GError **error)
{
        ESYS_TR transient = ESYS_TR_NONE;
        ESYS_TR handle = ESYS_TR_NONE;
        g_autoptr(GError) error_local = NULL;
        TSS2_RC rc;

        if (vtc_tpm_open_persistent(self, persistent, out_handle, out_public, &error_local))
                return TRUE;
        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (!vtc_tpm_create_primary(self, template, &transient, NULL, error))
                return FALSE;
        rc = Esys_EvictControl(self->ctx,
                               ESYS_TR_RH_OWNER,
                               transient,
                               ESYS_TR_PASSWORD,
                               ESYS_TR_NONE,
                               ESYS_TR_NONE,
                               persistent,
                               &handle);
        Esys_FlushContext(self->ctx, transient);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_EvictControl");
                g_prefix_error(error, "persisting a key at 0x%08x: ", persistent);
                return FALSE;
        }
        Esys_TR_Close(self->ctx, &handle);
        if (!vtc_tpm_open_persistent(self, persistent, out_handle, out_public, error)) {
                if (error != NULL && *error == NULL)
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TPM,
                                    "the key persisted at 0x%08x is gone",
                                    persistent);
                return FALSE;
        }
        return TRUE;
}

GBytes *
vtc_tpm_activate_credential(VtcTpm *self,
                            ESYS_TR ak,
                            ESYS_TR ek,
                            GBytes *credential_blob,
                            GBytes *encrypted_secret,
                            GError **error)
{
        TPM2B_ID_OBJECT blob = {0};
        TPM2B_ENCRYPTED_SECRET secret = {0};
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
        ESYS_TR session = ESYS_TR_NONE;
        TPM2B_DIGEST *cert_info = NULL;
        size_t off = 0;
        GBytes *out;
        TSS2_RC rc;

        rc = Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(g_bytes_get_data(credential_blob, NULL),
                                               g_bytes_get_size(credential_blob),
                                               &off,
                                               &blob);
        if (rc != TSS2_RC_SUCCESS || off != g_bytes_get_size(credential_blob)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the credential blob is not a TPM2B_ID_OBJECT");
                return NULL;
        }
        off = 0;
        rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(g_bytes_get_data(encrypted_secret, NULL),
                                                      g_bytes_get_size(encrypted_secret),
                                                      &off,
                                                      &secret);
        if (rc != TSS2_RC_SUCCESS || off != g_bytes_get_size(encrypted_secret)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the encrypted secret is not a TPM2B_ENCRYPTED_SECRET");
                return NULL;
        }
        /* the EK's policy: PolicySecret(TPM_RH_ENDORSEMENT) */
        rc = Esys_StartAuthSession(self->ctx,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   NULL,
                                   TPM2_SE_POLICY,
                                   &sym,
                                   TPM2_ALG_SHA256,
                                   &session);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_StartAuthSession");
                return NULL;
        }
        rc = Esys_PolicySecret(self->ctx,
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
        if (rc != TSS2_RC_SUCCESS) {
                Esys_FlushContext(self->ctx, session);
                vtc_tss_set_error(error, rc, "Esys_PolicySecret");
                return NULL;
        }
        rc = Esys_ActivateCredential(self->ctx,
                                     ak,
                                     ek,
                                     ESYS_TR_PASSWORD,
                                     session,
                                     ESYS_TR_NONE,
                                     &blob,
                                     &secret,
                                     &cert_info);
        Esys_FlushContext(self->ctx, session);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_ActivateCredential");
                return NULL;
        }
        out = g_bytes_new(cert_info->buffer, cert_info->size);
        explicit_bzero(cert_info->buffer, cert_info->size);
        Esys_Free(cert_info);
        return out;
}

static GBytes *
vtc_tpm_attest_bytes(const TPM2B_ATTEST *attest)
{
        return g_bytes_new(attest->attestationData, attest->size);
}

GBytes *
vtc_tpm_signature_marshal(const TPMT_SIGNATURE *sig)
{
        guint8 buf[sizeof(TPMT_SIGNATURE)];
        size_t off = 0;

        if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                return NULL;
        return g_bytes_new(buf, off);
}

GBytes *
vtc_tpm_public_marshal(const TPM2B_PUBLIC *pub)
{
        guint8 buf[sizeof(TPM2B_PUBLIC) + 2];
        size_t off = 0;

        if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                return NULL;
        return g_bytes_new(buf, off);
}

gboolean
vtc_tpm_certify(VtcTpm *self,
                ESYS_TR object,
                ESYS_TR signer,
                GBytes *qualifying_data,
                GBytes **out_attest,
                GBytes **out_signature,
                GError **error)
{
        TPM2B_DATA qd = {0};
        TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
        TPM2B_ATTEST *attest = NULL;
        TPMT_SIGNATURE *sig = NULL;
        TSS2_RC rc;

        if (qualifying_data != NULL) {
                if (g_bytes_get_size(qualifying_data) > sizeof(qd.buffer)) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_ARGUMENT,
                                            "qualifying data too long");
                        return FALSE;
                }
                qd.size = (UINT16)g_bytes_get_size(qualifying_data);
                memcpy(qd.buffer, g_bytes_get_data(qualifying_data, NULL), qd.size);
        }
        rc = Esys_Certify(self->ctx,
                          object,
                          signer,
                          ESYS_TR_PASSWORD,
                          ESYS_TR_PASSWORD,
                          ESYS_TR_NONE,
                          &qd,
                          &scheme,
                          &attest,
                          &sig);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_Certify");
                return FALSE;
        }
        *out_attest = vtc_tpm_attest_bytes(attest);
        *out_signature = vtc_tpm_signature_marshal(sig);
        Esys_Free(attest);
        Esys_Free(sig);
        return TRUE;
}

void
vtc_tpm_selection_init(TPML_PCR_SELECTION *out, TPM2_ALG_ID bank, guint32 mask)
{
        memset(out, 0, sizeof(*out));
        out->count = 1;
        out->pcrSelections[0].hash = bank;
        out->pcrSelections[0].sizeofSelect = 3;
        out->pcrSelections[0].pcrSelect[0] = mask & 0xff;
        out->pcrSelections[0].pcrSelect[1] = (mask >> 8) & 0xff;
        out->pcrSelections[0].pcrSelect[2] = (mask >> 16) & 0xff;
}

VtcPcrValues *
vtc_tpm_pcr_read(VtcTpm *self, const TPML_PCR_SELECTION *selection, GError **error)
{
        g_autoptr(VtcPcrValues) values = vtc_pcr_values_new();
        TPML_PCR_SELECTION want = *selection;

        /* TPM2_PCR_Read answers at most 8 digests at a time: ask again for what is left */
        for (guint round = 0; round < 32; round++) {
                TPML_PCR_SELECTION *got_sel = NULL;
                TPML_DIGEST *digests = NULL;
                guint d = 0;
                gboolean left = FALSE;
                TSS2_RC rc = Esys_PCR_Read(self->ctx,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           ESYS_TR_NONE,
                                           &want,
                                           NULL,
                                           &got_sel,
                                           &digests);

                if (rc != TSS2_RC_SUCCESS) {
                        vtc_tss_set_error(error, rc, "Esys_PCR_Read");
                        return NULL;
                }
                for (guint i = 0; i < got_sel->count; i++) {
                        TPMS_PCR_SELECTION *s = &got_sel->pcrSelections[i];
                        for (guint pcr = 0; pcr < (guint)s->sizeofSelect * 8; pcr++) {
                                if ((s->pcrSelect[pcr / 8] & (1u << (pcr % 8))) == 0)
                                        continue;
                                if (d >= digests->count ||
                                    !vtc_pcr_values_set(values,
                                                        s->hash,
                                                        pcr,
                                                        digests->digests[d].buffer,
                                                        digests->digests[d].size,
                                                        error)) {
                                        Esys_Free(got_sel);
                                        Esys_Free(digests);
                                        if (error != NULL && *error == NULL)
                                                g_set_error_literal(error,
                                                                    VTC_ERROR,
                                                                    VTC_ERROR_TPM,
                                                                    "TPM2_PCR_Read answered fewer "
                                                                    "digests than it selected");
                                        return NULL;
                                }
                                d++;
                                /* drop what we have from what we want */
                                for (guint j = 0; j < want.count; j++) {
                                        if (want.pcrSelections[j].hash == s->hash)
                                                want.pcrSelections[j].pcrSelect[pcr / 8] &=
                                                    (guint8) ~(1u << (pcr % 8));
                                }
                        }
                }
                Esys_Free(got_sel);
                Esys_Free(digests);
                for (guint j = 0; j < want.count; j++) {
                        for (guint k = 0; k < want.pcrSelections[j].sizeofSelect; k++)
                                left = left || want.pcrSelections[j].pcrSelect[k] != 0;
                }
                if (!left || d == 0)
                        return g_steal_pointer(&values);
        }
        return g_steal_pointer(&values);
}

gboolean
vtc_tpm_quote(VtcTpm *self,
              ESYS_TR ak,
              const guint8 *nonce,
              gsize nonce_len,
              const TPML_PCR_SELECTION *selection,
              GBytes **out_attest,
              GBytes **out_signature,
              VtcPcrValues **out_pcrs,
              GError **error)
{
        TPM2B_DATA qd = {0};
        TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
        TPM2B_ATTEST *attest = NULL;
        TPMT_SIGNATURE *sig = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        TSS2_RC rc;

        if (nonce_len > sizeof(qd.buffer)) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT, "nonce too long");
                return FALSE;
        }
        qd.size = (UINT16)nonce_len;
        memcpy(qd.buffer, nonce, nonce_len);
        rc = Esys_Quote(self->ctx,
                        ak,
                        ESYS_TR_PASSWORD,
                        ESYS_TR_NONE,
                        ESYS_TR_NONE,
                        &qd,
                        &scheme,
                        selection,
                        &attest,
                        &sig);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_Quote");
                return FALSE;
        }
        pcrs = vtc_tpm_pcr_read(self, selection, error);
        if (pcrs == NULL) {
                Esys_Free(attest);
                Esys_Free(sig);
                return FALSE;
        }
        *out_attest = vtc_tpm_attest_bytes(attest);
        *out_signature = vtc_tpm_signature_marshal(sig);
        *out_pcrs = g_steal_pointer(&pcrs);
        Esys_Free(attest);
        Esys_Free(sig);
        return TRUE;
}

gboolean
vtc_tpm_pcr_extend(VtcTpm *self,
                   guint pcr,
                   TPM2_ALG_ID bank,
                   const guint8 *digest,
                   gsize len,
                   GError **error)
{
        TPML_DIGEST_VALUES values = {0};
        const VtcHashAlg *alg = vtc_hash_alg_from_id(bank);
        TSS2_RC rc;

        if (pcr > 23 || alg == NULL || alg->size != len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "cannot extend PCR %u of bank 0x%04x with %" G_GSIZE_FORMAT " bytes",
                            pcr,
                            bank,
                            len);
                return FALSE;
        }
        values.count = 1;
        values.digests[0].hashAlg = bank;
        memcpy(&values.digests[0].digest, digest, len);
        rc = Esys_PCR_Extend(self->ctx,
                             ESYS_TR_PCR0 + pcr,
                             ESYS_TR_PASSWORD,
                             ESYS_TR_NONE,
                             ESYS_TR_NONE,
                             &values);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_PCR_Extend");
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_tpm_sign_digest(VtcTpm *self,
                    ESYS_TR key,
                    TPM2_ALG_ID hash_alg,
                    const guint8 *digest,
                    gsize len,
                    TPMT_SIGNATURE *out_signature,
                    GError **error)
{
        TPM2B_DIGEST d = {0};
        TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
        TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
        TPMT_SIGNATURE *sig = NULL;
        TSS2_RC rc;

        if (len > sizeof(d.buffer)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "digest too long");
                return FALSE;
        }
        (void)hash_alg; /* the key's own scheme names the hash */
        d.size = (UINT16)len;
        memcpy(d.buffer, digest, len);
        rc = Esys_Sign(self->ctx,
                       key,
                       ESYS_TR_PASSWORD,
                       ESYS_TR_NONE,
                       ESYS_TR_NONE,
                       &d,
                       &scheme,
                       &ticket,
                       &sig);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Esys_Sign");
                return FALSE;
        }
        *out_signature = *sig;
        Esys_Free(sig);
        return TRUE;
}
