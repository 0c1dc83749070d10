/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <glib.h>

G_BEGIN_DECLS

/*
 * EK certificate checking: does this EK certificate chain to a trusted TPM vendor (or vTPM) CA,
 * and does it certify exactly the EK public key the TPM showed us?
 *
 * What is tolerated, and why (TPM EK certificates are odd X.509):
 * - an empty subject (the TCG EK profile puts the identity in the SubjectAltName);
 * - the SubjectAltName with the TPM's directoryName attributes (manufacturer, model, version),
 *   critical or not — OpenSSL handles it;
 * - on the EK certificate itself only: critical extensions OpenSSL does not know, if their OID
 *   is in the TCG arc 2.23.133 (TPM-specific), and EKU 2.23.133.8.1 (no purpose is checked).
 * Nothing else is: a bad signature, a broken chain, a CA without basicConstraints CA:TRUE, an
 * unknown non-TCG critical extension, a malformed extension, or (by default) a certificate
 * outside its validity period all fail. Validity times are checked by default, unlike Keylime;
 * VTC_EK_VERIFY_IGNORE_TIME turns that off for TPMs whose certificates have odd validity.
 */

/* Limits on what a peer can make us parse. */
#define VTC_EK_CERT_MAX_SIZE         (64 * 1024) /* one certificate, DER or PEM */
#define VTC_EK_CERT_MAX_CHAIN        16          /* certificates in an intermediates bundle */
#define VTC_EK_TRUST_FILE_MAX_SIZE   (4 * 1024 * 1024)
#define VTC_EK_TRUST_MAX_FILES       4096
#define VTC_EK_CERT_MAX_VERIFY_DEPTH 8

typedef enum {
        VTC_EK_VERIFY_NONE = 0,
        /* do not check notBefore/notAfter of any certificate in the chain */
        VTC_EK_VERIFY_IGNORE_TIME = 1 << 0,
        /* any certificate of the store is a trust anchor, not only self-signed roots (for a
         * vTPM CA key that is itself certified by someone else) */
        VTC_EK_VERIFY_PARTIAL_CHAIN = 1 << 1,
} VtcEkVerifyFlags;

/* A set of trust anchors (and intermediates) for EK certificates; thread-safe once filled. */
typedef struct _VtcEkTrustStore VtcEkTrustStore;

VtcEkTrustStore *vtc_ek_trust_store_new(void);
void vtc_ek_trust_store_free(VtcEkTrustStore *self);
/*
 * Adds every certificate of every regular file in @dir (not only c_rehash names; hidden files
 * are skipped): PEM files with one or more CERTIFICATE blocks, or one DER certificate. A file
 * that holds no certificate is an error, so a typo cannot silently shrink the store.
 */
gboolean vtc_ek_trust_store_add_dir(VtcEkTrustStore *self, const gchar *dir, GError **error);
/* Adds the certificates of one PEM (one or more) or DER file. */
gboolean vtc_ek_trust_store_add_file(VtcEkTrustStore *self, const gchar *path, GError **error);
/* Adds certificates from memory (PEM with one or more, or one DER). */
gboolean vtc_ek_trust_store_add_data(VtcEkTrustStore *self,
                                     const guint8 *buf,
                                     gsize len,
                                     const gchar *origin,
                                     GError **error);
/* Number of certificates added. */
guint vtc_ek_trust_store_get_count(VtcEkTrustStore *self);
/* new + add_dir; a directory with no certificate at all is an error (VTC_ERROR_NOT_FOUND). */
VtcEkTrustStore *vtc_ek_trust_store_new_from_dir(const gchar *dir, GError **error);

/* What a verified EK certificate says. */
typedef struct {
        gchar *subject;          /* one line, RFC 2253; "" when empty */
        gchar *issuer;           /* one line, RFC 2253 */
        gchar *serial;           /* lower-case hex */
        gint64 not_before;       /* Unix time */
        gint64 not_after;        /* Unix time; 253402300799 for 99991231235959Z */
        gchar *key_type;         /* "rsa-2048", "ecc-p384", ... */
        gchar *tpm_manufacturer; /* SubjectAltName 2.23.133.2.1, e.g. "id:00001014"; or NULL */
        gchar *tpm_model;        /* 2.23.133.2.2, or NULL */
        gchar *tpm_version;      /* 2.23.133.2.3, or NULL */
        GPtrArray *chain;        /* subjects (gchar *), EK certificate first, trust anchor last */
} VtcEkCertInfo;

void vtc_ek_cert_info_free(VtcEkCertInfo *info);

/*
 * Parses one certificate: DER, or PEM (the first CERTIFICATE block). DER read from a TPM NV
 * index may carry zero padding after the certificate; that is allowed, nothing else after it.
 */
X509 *vtc_ek_cert_parse(const guint8 *buf, gsize len, GError **error);

/*
 * Parses an EK public key: a marshalled TPM2B_PUBLIC or TPMT_PUBLIC (tpm2_readpublic -f tss,
 * TPM2_ReadPublic), or a SubjectPublicKeyInfo in PEM ("PUBLIC KEY") or DER.
 */
EVP_PKEY *vtc_ek_public_parse(const guint8 *buf, gsize len, GError **error);

/* A short description of a key: "rsa-2048", "ecc-p256", ...; NULL when neither RSA nor EC. */
gchar *vtc_ek_key_describe(EVP_PKEY *pkey);

/*
 * Verifies @cert (DER or PEM bytes) against @store, building the chain through the store and
 * through @intermediates (a GPtrArray of GBytes, each one DER certificate or PEM with one or
 * more; may be NULL), then checks that the certificate's key is @ek_public (RSA modulus and
 * exponent, or EC curve and point).
 *
 * Errors: VTC_ERROR_INVALID_DATA / VTC_ERROR_TOO_LARGE / VTC_ERROR_NOT_SUPPORTED when an input
 * cannot be read, VTC_ERROR_VERIFY_FAILED when the chain or the key does not verify (the message
 * says which, and at which certificate). @out_info (may be NULL) is set only on success.
 */
gboolean vtc_ek_cert_verify(VtcEkTrustStore *store,
                            GBytes *cert,
                            GPtrArray *intermediates,
                            GBytes *ek_public,
                            VtcEkVerifyFlags flags,
                            VtcEkCertInfo **out_info,
                            GError **error);

/* The same on parsed objects. */
gboolean vtc_ek_cert_verify_x509(VtcEkTrustStore *store,
                                 X509 *cert,
                                 STACK_OF(X509) * intermediates,
                                 EVP_PKEY *ek_public,
                                 VtcEkVerifyFlags flags,
                                 VtcEkCertInfo **out_info,
                                 GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcEkTrustStore, vtc_ek_trust_store_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcEkCertInfo, vtc_ek_cert_info_free)

G_END_DECLS
