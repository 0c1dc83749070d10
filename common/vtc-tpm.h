/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <tss2/tss2_esys.h>

#include "vtc-quote.h"

G_BEGIN_DECLS

/*
 * The TPM client side: what hostd does with the hardware TPM and the agent with its vTPM. Over
 * any TCTI ("device:/dev/tpmrm0", "swtpm:path=..."); without a resource manager, so callers
 * flush the transient objects they get (vtc_tpm_flush()).
 */
typedef struct _VtcTpm VtcTpm;

typedef enum {
        VTC_TPM_KEY_RSA2048,
        VTC_TPM_KEY_ECC_P256,
} VtcTpmKeyType;

/* TCG EK Credential Profile handles */
#define VTC_TPM_EK_RSA_HANDLE     0x81010001
#define VTC_TPM_EK_RSA_CERT_NV    0x01c00002
#define VTC_TPM_EK_ECC_CERT_NV    0x01c0000a
#define VTC_TPM_EK_P384_HANDLE    0x81010016 /* swtpm's ECC EK */
#define VTC_TPM_EK_P384_CERT_NV   0x01c00016
#define VTC_TPM_MAX_NV_READ_BYTES (16 * 1024)

VtcTpm *vtc_tpm_new(const gchar *tcti_conf, GError **error);
void vtc_tpm_free(VtcTpm *self);
ESYS_CONTEXT *vtc_tpm_get_esys(VtcTpm *self);
void vtc_tpm_flush(VtcTpm *self, ESYS_TR handle);

/* Templates: the TCG default EK (L-1 RSA-2048 / L-2 ECC P-256, policy PolicySecret(endorsement)),
 * a restricted signing AK (RSASSA / ECDSA with SHA-256), and an unrestricted sign-only key (a CA
 * key inside the TPM). */
void vtc_tpm_template_ek(VtcTpmKeyType type, TPM2B_PUBLIC *out);
void vtc_tpm_template_ak(VtcTpmKeyType type, TPM2B_PUBLIC *out);
void vtc_tpm_template_signing_key(VtcTpmKeyType type, TPM2B_PUBLIC *out);

/*
 * The EK: for RSA the persistent one at 0x81010001 when the TPM has it (swtpm_setup and most
 * platforms provision it), else a primary from the default template; for ECC a primary from the
 * L-2 template. *@out_handle is the caller's (persistent handles need no flush, transient ones do;
 * *@out_transient says which).
 */
gboolean vtc_tpm_ek_open(VtcTpm *self,
                         VtcTpmKeyType type,
                         ESYS_TR *out_handle,
                         TPM2B_PUBLIC *out_public,
                         gboolean *out_transient,
                         GError **error);
/* Reads a whole NV index (an EK certificate, at most VTC_TPM_MAX_NV_READ_BYTES). */
GBytes *vtc_tpm_nv_read(VtcTpm *self, TPM2_HANDLE nv_index, GError **error);

/* Creates a primary in the owner hierarchy from @template (transient). */
gboolean vtc_tpm_create_primary(VtcTpm *self,
                                const TPM2B_PUBLIC *template,
                                ESYS_TR *out_handle,
                                TPM2B_PUBLIC *out_public,
                                GError **error);
/*
 * The key persisted at @persistent (0x81000000-0x817fffff), created from @template in the owner
 * hierarchy and persisted on first use: the same key after every restart.
 */
gboolean vtc_tpm_key_ensure(VtcTpm *self,
                            TPM2_HANDLE persistent,
                            const TPM2B_PUBLIC *template,
                            ESYS_TR *out_handle,
                            TPM2B_PUBLIC *out_public,
                            GError **error);

/* ActivateCredential with @ak bound by @ek (policy PolicySecret(endorsement)); both marshalled
 * inputs as MakeCredential writes them. Returns the secret. */
GBytes *vtc_tpm_activate_credential(VtcTpm *self,
                                    ESYS_TR ak,
                                    ESYS_TR ek,
                                    GBytes *credential_blob,
                                    GBytes *encrypted_secret,
                                    GError **error);

/* TPM2_Certify of @object by @signer; marshalled TPMS_ATTEST and TPMT_SIGNATURE. */
gboolean vtc_tpm_certify(VtcTpm *self,
                         ESYS_TR object,
                         ESYS_TR signer,
                         GBytes *qualifying_data,
                         GBytes **out_attest,
                         GBytes **out_signature,
                         GError **error);

/* TPM2_Quote over @selection with @nonce; then the quoted PCR values (read right after, and
 * checked against the quote's digest by the verifier, not here). */
gboolean vtc_tpm_quote(VtcTpm *self,
                       ESYS_TR ak,
                       const guint8 *nonce,
                       gsize nonce_len,
                       const TPML_PCR_SELECTION *selection,
                       GBytes **out_attest,
                       GBytes **out_signature,
                       VtcPcrValues **out_pcrs,
                       GError **error);

VtcPcrValues *vtc_tpm_pcr_read(VtcTpm *self, const TPML_PCR_SELECTION *selection, GError **error);
gboolean vtc_tpm_pcr_extend(VtcTpm *self,
                            guint pcr,
                            TPM2_ALG_ID bank,
                            const guint8 *digest,
                            gsize len,
                            GError **error);

/* Signs a digest with an unrestricted signing key (ECDSA or RSASSA per the key's type). */
gboolean vtc_tpm_sign_digest(VtcTpm *self,
                             ESYS_TR key,
                             TPM2_ALG_ID hash_alg,
                             const guint8 *digest,
                             gsize len,
                             TPMT_SIGNATURE *out_signature,
                             GError **error);

/* A selection of @mask (bit n = PCR n) in one bank. */
void vtc_tpm_selection_init(TPML_PCR_SELECTION *out, TPM2_ALG_ID bank, guint32 mask);
/* Marshalled TPM2B_PUBLIC / TPMT_SIGNATURE as the wire and tpm2-tools files carry them. */
GBytes *vtc_tpm_public_marshal(const TPM2B_PUBLIC *pub);
GBytes *vtc_tpm_signature_marshal(const TPMT_SIGNATURE *sig);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcTpm, vtc_tpm_free)

G_END_DECLS
