/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-tpm.h"

#include <string.h>

#include <tss2/tss2_rc.h>

#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-util.h"

struct _VtcAgentTpm {
        gint ref_count;
        GMutex lock;
        VtcTpm *tpm;
        ESYS_TR ak;
        TPM2B_PUBLIC ak_public;
        GBytes *ak_public_bytes;
        gchar *ak_name;
        GBytes *ek_public_bytes;
        GBytes *ek_cert;
        gchar *ek_cert_why;
};

VtcAgentTpm *
vtc_agent_tpm_ref(VtcAgentTpm *self)
{
        g_atomic_int_inc(&self->ref_count);
        return self;
}

void
vtc_agent_tpm_unref(VtcAgentTpm *self)
{
        if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
                return;
        if (self->tpm != NULL && self->ak != ESYS_TR_NONE)
                Esys_TR_Close(vtc_tpm_get_esys(self->tpm), &self->ak);
        vtc_tpm_free(self->tpm);
        g_clear_pointer(&self->ak_public_bytes, g_bytes_unref);
        g_clear_pointer(&self->ek_public_bytes, g_bytes_unref);
        g_clear_pointer(&self->ek_cert, g_bytes_unref);
        g_free(self->ak_name);
        g_free(self->ek_cert_why);
        g_mutex_clear(&self->lock);
        g_free(self);
}

/* A key found at our handle must be an AK the registrar accepts, not whatever was left there. */
static gboolean
vtc_agent_tpm_check_ak(const TPM2B_PUBLIC *pub, TPM2_HANDLE handle, GError **error)
{
        TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_RESTRICTED |
                           TPMA_OBJECT_SIGN_ENCRYPT;
        TPMA_OBJECT attrs = pub->publicArea.objectAttributes;

        if ((attrs & need) != need || (attrs & TPMA_OBJECT_DECRYPT) != 0 ||
            (pub->publicArea.type != TPM2_ALG_RSA && pub->publicArea.type != TPM2_ALG_ECC)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "the key persisted at 0x%08x is not a restricted signing key "
                            "(attributes 0x%08x): free the handle or configure another "
                            "[tpm] ak_handle",
                            handle,
                            (guint)attrs);
                return FALSE;
        }
        return TRUE;
}

VtcAgentTpm *
vtc_agent_tpm_new(const gchar *tcti_conf,
                  TPM2_HANDLE ak_handle,
                  VtcTpmKeyType ak_type,
                  GError **error)
{
        g_autoptr(VtcAgentTpm) self = g_new0(VtcAgentTpm, 1);
        TPM2B_PUBLIC template;
        TPM2B_PUBLIC ek_public = {0};
        ESYS_TR ek = ESYS_TR_NONE;
        gboolean transient = FALSE;
        TPM2B_NAME name = {0};
        g_autoptr(GError) error_local = NULL;

        self->ref_count = 1;
        self->ak = ESYS_TR_NONE;
        g_mutex_init(&self->lock);
        if (ak_handle < 0x81000000 || ak_handle > 0x817fffff) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "AK handle 0x%08x is not an owner persistent handle "
                            "(0x81000000-0x817fffff)",
                            ak_handle);
                return NULL;
        }
        self->tpm = vtc_tpm_new(tcti_conf, error);
        if (self->tpm == NULL) {
                g_prefix_error(error, "opening the TPM at %s: ", tcti_conf);
                return NULL;
        }
        vtc_tpm_template_ak(ak_type, &template);
        if (!vtc_tpm_key_ensure(self->tpm,
                                ak_handle,
                                &template,
                                &self->ak,
                                &self->ak_public,
                                error)) {
                g_prefix_error(error, "the AK at 0x%08x: ", ak_handle);
                return NULL;
        }
        if (!vtc_agent_tpm_check_ak(&self->ak_public, ak_handle, error))
                return NULL;
        if (!vtc_tpm_public_get_name(&self->ak_public, &name, error))
                return NULL;
        self->ak_name = vtc_hex_encode(name.name, name.size);
        self->ak_public_bytes = vtc_tpm_public_marshal(&self->ak_public);

        if (!vtc_tpm_ek_open(self->tpm, VTC_TPM_KEY_RSA2048, &ek, &ek_public, &transient, error)) {
                g_prefix_error(error, "the EK: ");
                return NULL;
        }
        if (transient)
                vtc_tpm_flush(self->tpm, ek);
        else
                Esys_TR_Close(vtc_tpm_get_esys(self->tpm), &ek);
        self->ek_public_bytes = vtc_tpm_public_marshal(&ek_public);
        self->ek_cert = vtc_tpm_nv_read(self->tpm, VTC_TPM_EK_RSA_CERT_NV, &error_local);
        if (self->ek_cert == NULL) {
                /* enrollment says so; quotes work without one */
                self->ek_cert_why = g_strdup_printf("no EK certificate in NV 0x%08x: %s",
                                                    VTC_TPM_EK_RSA_CERT_NV,
                                                    error_local->message);
        }
        return g_steal_pointer(&self);
}

GBytes *
vtc_agent_tpm_get_ek_public(VtcAgentTpm *self)
{
        return self->ek_public_bytes;
}

GBytes *
vtc_agent_tpm_get_ak_public(VtcAgentTpm *self)
{
        return self->ak_public_bytes;
}

GBytes *
vtc_agent_tpm_get_ek_cert(VtcAgentTpm *self, const gchar **out_why)
{
        if (out_why != NULL)
                *out_why = self->ek_cert_why;
        return self->ek_cert;
}

const gchar *
vtc_agent_tpm_get_ak_name(VtcAgentTpm *self)
{
        return self->ak_name;
}

void
vtc_agent_tpm_selection_from_pcrs(const VtcChannelPcrs *pcrs, TPML_PCR_SELECTION *out)
{
        memset(out, 0, sizeof(*out));
        for (guint i = 0; i < pcrs->n_banks && i < G_N_ELEMENTS(pcrs->hash_alg); i++) {
                TPMS_PCR_SELECTION *s = &out->pcrSelections[out->count++];

                s->hash = pcrs->hash_alg[i];
                s->sizeofSelect = 3;
                s->pcrSelect[0] = pcrs->pcr_mask[i] & 0xff;
                s->pcrSelect[1] = (pcrs->pcr_mask[i] >> 8) & 0xff;
                s->pcrSelect[2] = (pcrs->pcr_mask[i] >> 16) & 0xff;
        }
}

static gboolean
vtc_agent_tpm_quote_locked(VtcAgentTpm *self,
                           const guint8 *qualifier,
                           const TPML_PCR_SELECTION *selection,
                           GBytes **out_attest,
                           GBytes **out_signature,
                           VtcPcrValues **out_pcrs,
                           GError **error)
{
        for (guint i = 0; i < VTC_AGENT_TPM_QUOTE_TRIES; i++) {
                g_autoptr(GBytes) attest = NULL;
                g_autoptr(GBytes) signature = NULL;
                g_autoptr(VtcPcrValues) pcrs = NULL;
                gboolean consistent = FALSE;

                if (!vtc_tpm_quote(self->tpm,
                                   self->ak,
                                   qualifier,
                                   32,
                                   selection,
                                   &attest,
                                   &signature,
                                   &pcrs,
                                   error))
                        return FALSE;
                if (signature == NULL) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TPM,
                                            "the quote's signature does not marshal");
                        return FALSE;
                }
                if (!vtc_quote_pcrs_match(attest, signature, pcrs, &consistent, error)) {
                        g_prefix_error(error, "the TPM's own quote: ");
                        return FALSE;
                }
                if (consistent) {
                        *out_attest = g_steal_pointer(&attest);
                        *out_signature = g_steal_pointer(&signature);
                        *out_pcrs = g_steal_pointer(&pcrs);
                        return TRUE;
                }
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_UNAVAILABLE,
                    "the quoted PCRs kept changing between TPM2_Quote and TPM2_PCR_Read "
                    "(%u tries)",
                    (guint)VTC_AGENT_TPM_QUOTE_TRIES);
        return FALSE;
}

gboolean
vtc_agent_tpm_quote(VtcAgentTpm *self,
                    const guint8 nonce[VTC_CHANNEL_NONCE_SIZE],
                    const guint8 *tls_key_sha256,
                    const VtcChannelPcrs *pcrs,
                    GBytes **out_attest,
                    GBytes **out_signature,
                    VtcPcrValues **out_pcrs,
                    GError **error)
{
        guint8 qualifier[32];
        TPML_PCR_SELECTION selection;
        gboolean ok;

        if (pcrs->n_banks == 0 || pcrs->n_banks > G_N_ELEMENTS(pcrs->hash_alg)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a quote needs 1 to 3 PCR banks, not %u",
                            pcrs->n_banks);
                return FALSE;
        }
        vtc_channel_quote_qualifier(nonce, tls_key_sha256, qualifier);
        vtc_agent_tpm_selection_from_pcrs(pcrs, &selection);
        g_mutex_lock(&self->lock);
        ok = vtc_agent_tpm_quote_locked(self,
                                        qualifier,
                                        &selection,
                                        out_attest,
                                        out_signature,
                                        out_pcrs,
                                        error);
        g_mutex_unlock(&self->lock);
        return ok;
}

GBytes *
vtc_agent_tpm_activate(VtcAgentTpm *self,
                       GBytes *credential_blob,
                       GBytes *encrypted_secret,
                       GError **error)
{
        ESYS_TR ek = ESYS_TR_NONE;
        TPM2B_PUBLIC pub = {0};
        gboolean transient = FALSE;
        GBytes *secret = NULL;

        g_mutex_lock(&self->lock);
        if (vtc_tpm_ek_open(self->tpm, VTC_TPM_KEY_RSA2048, &ek, &pub, &transient, error)) {
                secret = vtc_tpm_activate_credential(self->tpm,
                                                     self->ak,
                                                     ek,
                                                     credential_blob,
                                                     encrypted_secret,
                                                     error);
                if (transient)
                        vtc_tpm_flush(self->tpm, ek);
                else
                        Esys_TR_Close(vtc_tpm_get_esys(self->tpm), &ek);
        }
        g_mutex_unlock(&self->lock);
        return secret;
}

/* ---- the agent's NV index ------------------------------------------------------------------ */

/* Is @rc the TPM saying that a handle does not exist (TPM_RC_HANDLE, on any handle)? */
static gboolean
vtc_agent_tpm_rc_is_no_handle(TSS2_RC rc)
{
        return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) != 0 &&
               (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
}

/*
 * Opens @nv_index: FALSE with VTC_ERROR_NOT_FOUND when it is not defined, VTC_ERROR_CONFLICT
 * when it is not the agent's kind of index (@size 0: any size). *@out_written says whether it
 * holds data. The caller closes *@out_handle.
 */
static gboolean
vtc_agent_tpm_nv_open_locked(VtcAgentTpm *self,
                             TPM2_HANDLE nv_index,
                             guint16 size,
                             ESYS_TR *out_handle,
                             gboolean *out_written,
                             GError **error)
{
        ESYS_CONTEXT *ctx = vtc_tpm_get_esys(self->tpm);
        ESYS_TR handle = ESYS_TR_NONE;
        TPM2B_NV_PUBLIC *pub = NULL;
        TPMA_NV attrs;
        TPMA_NV state = TPMA_NV_WRITTEN | TPMA_NV_WRITELOCKED | TPMA_NV_READLOCKED;
        TSS2_RC rc;
        gboolean ours;

        rc =
            Esys_TR_FromTPMPublic(ctx, nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
        if (rc != TSS2_RC_SUCCESS) {
                g_set_error(error,
                            VTC_ERROR,
                            vtc_agent_tpm_rc_is_no_handle(rc) ? VTC_ERROR_NOT_FOUND : VTC_ERROR_TPM,
                            "NV index 0x%08x: Esys_TR_FromTPMPublic: 0x%08x: %s",
                            nv_index,
                            (guint)rc,
                            Tss2_RC_Decode(rc));
                return FALSE;
        }
        rc = Esys_NV_ReadPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Esys_TR_Close(ctx, &handle);
                vtc_tss_set_error(error, rc, "Esys_NV_ReadPublic");
                g_prefix_error(error, "NV index 0x%08x: ", nv_index);
                return FALSE;
        }
        attrs = pub->nvPublic.attributes;
        ours = (attrs & ~state) == VTC_AGENT_TPM_NV_ATTRIBUTES &&
               (size == 0 || pub->nvPublic.dataSize == size) &&
               pub->nvPublic.authPolicy.size == 0 && (attrs & TPMA_NV_WRITELOCKED) == 0 &&
               (attrs & TPMA_NV_READLOCKED) == 0;
        if (!ours) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "NV index 0x%08x is defined with %u bytes, attributes 0x%08x and "
                            "a %u-byte policy, not as the agent's (%u bytes, attributes "
                            "0x%08x, no policy): it is not touched; undefine it "
                            "(tpm2_nvundefine 0x%08x) or configure another [tls] nv_index",
                            nv_index,
                            (guint)pub->nvPublic.dataSize,
                            (guint)attrs,
                            (guint)pub->nvPublic.authPolicy.size,
                            (guint)size,
                            (guint)VTC_AGENT_TPM_NV_ATTRIBUTES,
                            nv_index);
                Esys_Free(pub);
                Esys_TR_Close(ctx, &handle);
                return FALSE;
        }
        *out_written = (attrs & TPMA_NV_WRITTEN) != 0;
        *out_handle = handle;
        Esys_Free(pub);
        return TRUE;
}

GBytes *
vtc_agent_tpm_nv_load(VtcAgentTpm *self, TPM2_HANDLE nv_index, guint16 size, GError **error)
{
        ESYS_TR handle = ESYS_TR_NONE;
        gboolean written = FALSE;
        GBytes *data = NULL;

        g_return_val_if_fail(size > 0 && size <= VTC_TPM_MAX_NV_READ_BYTES, NULL);
        g_mutex_lock(&self->lock);
        if (vtc_agent_tpm_nv_open_locked(self, nv_index, size, &handle, &written, error)) {
                Esys_TR_Close(vtc_tpm_get_esys(self->tpm), &handle);
                if (!written)
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_FOUND,
                                    "NV index 0x%08x is defined but was never written",
                                    nv_index);
                else
                        data = vtc_tpm_nv_read(self->tpm, nv_index, error);
        }
        g_mutex_unlock(&self->lock);
        if (data != NULL && g_bytes_get_size(data) != size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TPM,
                            "NV index 0x%08x: read %" G_GSIZE_FORMAT " bytes, not %u",
                            nv_index,
                            g_bytes_get_size(data),
                            (guint)size);
                g_clear_pointer(&data, g_bytes_unref);
        }
        return data;
}

/* The TPM's largest NV write (TPM2_PT_NV_BUFFER_MAX), within what a TPM2B_MAX_NV_BUFFER holds. */
static guint16
vtc_agent_tpm_nv_chunk_locked(VtcAgentTpm *self)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        guint16 chunk = 512;
        TSS2_RC rc = Esys_GetCapability(vtc_tpm_get_esys(self->tpm),
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        TPM2_CAP_TPM_PROPERTIES,
                                        TPM2_PT_NV_BUFFER_MAX,
                                        1,
                                        NULL,
                                        &cap);

        if (rc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count == 1 &&
            cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX &&
            cap->data.tpmProperties.tpmProperty[0].value > 0)
                chunk = (guint16)MIN(cap->data.tpmProperties.tpmProperty[0].value,
                                     (guint32)sizeof(((TPM2B_MAX_NV_BUFFER *)NULL)->buffer));
        Esys_Free(cap);
        return chunk;
}

static gboolean
vtc_agent_tpm_nv_store_locked(VtcAgentTpm *self,
                              TPM2_HANDLE nv_index,
                              const guint8 *data,
                              guint16 size,
                              GError **error)
{
        ESYS_CONTEXT *ctx = vtc_tpm_get_esys(self->tpm);
        ESYS_TR handle = ESYS_TR_NONE;
        gboolean written = FALSE;
        g_autoptr(GError) error_local = NULL;
        guint16 chunk;
        TSS2_RC rc;

        if (!vtc_agent_tpm_nv_open_locked(self, nv_index, size, &handle, &written, &error_local)) {
                TPM2B_AUTH auth = {0};
                TPM2B_NV_PUBLIC pub = {
                    .nvPublic =
                        {
                            .nvIndex = nv_index,
                            .nameAlg = TPM2_ALG_SHA256,
                            .attributes = VTC_AGENT_TPM_NV_ATTRIBUTES,
                            .dataSize = size,
                        },
                };

                if (!g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return FALSE;
                }
                rc = Esys_NV_DefineSpace(ctx,
                                         ESYS_TR_RH_OWNER,
                                         ESYS_TR_PASSWORD,
                                         ESYS_TR_NONE,
                                         ESYS_TR_NONE,
                                         &auth,
                                         &pub,
                                         &handle);
                if (rc != TSS2_RC_SUCCESS) {
                        vtc_tss_set_error(error, rc, "Esys_NV_DefineSpace");
                        g_prefix_error(error,
                                       "defining NV index 0x%08x (%u bytes): ",
                                       nv_index,
                                       size);
                        return FALSE;
                }
        }
        chunk = vtc_agent_tpm_nv_chunk_locked(self);
        for (guint16 off = 0; off < size;) {
                TPM2B_MAX_NV_BUFFER buf = {0};
                guint16 n = (guint16)MIN((guint)chunk, (guint)(size - off));

                buf.size = n;
                memcpy(buf.buffer, data + off, n);
                rc = Esys_NV_Write(ctx,
                                   ESYS_TR_RH_OWNER,
                                   handle,
                                   ESYS_TR_PASSWORD,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   &buf,
                                   off);
                explicit_bzero(buf.buffer, n);
                if (rc != TSS2_RC_SUCCESS) {
                        Esys_TR_Close(ctx, &handle);
                        vtc_tss_set_error(error, rc, "Esys_NV_Write");
                        g_prefix_error(error, "NV index 0x%08x at %u: ", nv_index, off);
                        return FALSE;
                }
                off = (guint16)(off + n);
        }
        Esys_TR_Close(ctx, &handle);
        return TRUE;
}

gboolean
vtc_agent_tpm_nv_store(VtcAgentTpm *self, TPM2_HANDLE nv_index, GBytes *data, GError **error)
{
        gsize size = g_bytes_get_size(data);
        gboolean ok;

        if (size == 0 || size > VTC_TPM_MAX_NV_READ_BYTES) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "%" G_GSIZE_FORMAT " bytes do not make an NV index",
                            size);
                return FALSE;
        }
        g_mutex_lock(&self->lock);
        ok = vtc_agent_tpm_nv_store_locked(self,
                                           nv_index,
                                           g_bytes_get_data(data, NULL),
                                           (guint16)size,
                                           error);
        g_mutex_unlock(&self->lock);
        return ok;
}
