/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

#include <glib.h>

#include "vtc-tpm.h"

G_BEGIN_DECLS

/*
 * EK certificates for vTPMs, issued by a CA key that never leaves a TPM (the host's hardware
 * TPM): built to the TCG EK Credential Profile and signed with TPM2_Sign.
 */
typedef struct {
        const gchar *vm_uuid;      /* in the subject (CN and serialNumber); may be NULL */
        const gchar *vm_name;      /* in the subject (OU); may be NULL */
        const gchar *manufacturer; /* SAN TPM manufacturer, e.g. "id:00001014" */
        const gchar *model;        /* SAN TPM model, e.g. "swtpm" */
        const gchar *version;      /* SAN TPM version, e.g. "id:20191023" */
        const gchar *issuer_cn;    /* the CA's name, e.g. "vtc vTPM CA host-17" */
        guint days;                /* validity */
} VtcEkCertRequest;

/*
 * Issues the EK certificate of @ek (an RSA or EC public key) signed by @ca_key (an unrestricted
 * ECDSA-SHA256 or RSASSA-SHA256 signing key in @tpm, whose public area is @ca_public). The
 * authorityKeyIdentifier is SHA-1 of the CA key's subjectPublicKey, which is how the registrar
 * finds the host that made the vTPM. Returns the DER certificate.
 */
GBytes *vtc_vtpm_ca_issue_ek_cert(VtcTpm *tpm,
                                  ESYS_TR ca_key,
                                  const TPM2B_PUBLIC *ca_public,
                                  EVP_PKEY *ek,
                                  const VtcEkCertRequest *req,
                                  GError **error);

/* SHA-1 of the key's subjectPublicKey bits (RFC 5280 4.2.1.2 method 1): 20 bytes into @out. */
gboolean vtc_vtpm_ca_key_id(EVP_PKEY *key, guint8 out[20], GError **error);

G_END_DECLS
