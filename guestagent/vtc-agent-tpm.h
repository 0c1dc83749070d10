/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-channel.h"
#include "vtc-quote.h"
#include "vtc-tpm.h"

G_BEGIN_DECLS

/*
 * The agent's vTPM: its EK (the persistent RSA EK at 0x81010001 with its certificate in NV
 * 0x01c00002, or an EK made from the TCG template when the TPM has none), and a restricted
 * signing AK persisted at a handle of the agent's, the same key after every restart.
 *
 * Every call takes the object's lock, so rounds from the channel and from HTTPS may run in
 * worker threads at once: the TPM sees them one after the other. Reference counted: a worker
 * thread keeps the object alive while it uses it.
 */
typedef struct _VtcAgentTpm VtcAgentTpm;

#define VTC_AGENT_TPM_AK_HANDLE_DEFAULT 0x81000100
/* PCRs can move between TPM2_Quote and TPM2_PCR_Read (IMA extends PCR 10 at any time): the
 * quote is taken again, at most this many times, until the values read make its digest */
#define VTC_AGENT_TPM_QUOTE_TRIES 8

VtcAgentTpm *vtc_agent_tpm_new(const gchar *tcti_conf,
                               TPM2_HANDLE ak_handle,
                               VtcTpmKeyType ak_type,
                               GError **error);
VtcAgentTpm *vtc_agent_tpm_ref(VtcAgentTpm *self);
void vtc_agent_tpm_unref(VtcAgentTpm *self);

/* Marshalled TPM2B_PUBLIC of the EK and of the AK, as the registrar takes them. */
GBytes *vtc_agent_tpm_get_ek_public(VtcAgentTpm *self);
GBytes *vtc_agent_tpm_get_ak_public(VtcAgentTpm *self);
/* The DER EK certificate from NV, or NULL when the TPM holds none (then @out_why says why). */
GBytes *vtc_agent_tpm_get_ek_cert(VtcAgentTpm *self, const gchar **out_why);
/* Hex of the AK's TPM name (nameAlg || digest). */
const gchar *vtc_agent_tpm_get_ak_name(VtcAgentTpm *self);

/*
 * TPM2_Quote by the AK over @pcrs with qualifyingData = vtc_channel_quote_qualifier(@nonce,
 * @tls_key_sha256) (NULL: 32 zero bytes), and the PCR values read after it, taken again until
 * they make the quote's pcrDigest. Marshalled TPMS_ATTEST and TPMT_SIGNATURE.
 */
gboolean vtc_agent_tpm_quote(VtcAgentTpm *self,
                             const guint8 nonce[VTC_CHANNEL_NONCE_SIZE],
                             const guint8 *tls_key_sha256,
                             const VtcChannelPcrs *pcrs,
                             GBytes **out_attest,
                             GBytes **out_signature,
                             VtcPcrValues **out_pcrs,
                             GError **error);

/* ActivateCredential of the registrar's challenge (AK bound by the EK): the secret. */
GBytes *vtc_agent_tpm_activate(VtcAgentTpm *self,
                               GBytes *credential_blob,
                               GBytes *encrypted_secret,
                               GError **error);

/*
 * The agent's own NV index (its TLS identity, doc/agent.md): an ordinary index of a fixed size,
 * read and written with the owner's authorization (TPMA_NV_OWNERREAD | TPMA_NV_OWNERWRITE),
 * exempt from dictionary-attack lockout, no policy.
 */
#define VTC_AGENT_TPM_NV_ATTRIBUTES \
        ((TPMA_NV)(TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA))

/*
 * The content of the agent's NV index @nv_index (@size bytes). Fails with VTC_ERROR_NOT_FOUND
 * when the index is not defined, or defined but never written; with VTC_ERROR_CONFLICT when an
 * index of another size, other attributes or with a policy is there (someone else's: neither
 * read nor overwritten).
 */
GBytes *
vtc_agent_tpm_nv_load(VtcAgentTpm *self, TPM2_HANDLE nv_index, guint16 size, GError **error);
/* Writes @data to the agent's NV index @nv_index, defining it first (of @data's size, the
 * attributes above, empty auth) when it is not there; an index of another kind is refused as
 * by vtc_agent_tpm_nv_load(). */
gboolean
vtc_agent_tpm_nv_store(VtcAgentTpm *self, TPM2_HANDLE nv_index, GBytes *data, GError **error);

/* The selection of @pcrs as the TPM takes it. */
void vtc_agent_tpm_selection_from_pcrs(const VtcChannelPcrs *pcrs, TPML_PCR_SELECTION *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentTpm, vtc_agent_tpm_unref)

G_END_DECLS
