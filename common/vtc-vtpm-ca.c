/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-vtpm-ca.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "vtc-credential.h"
#include "vtc-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_NAME, X509_NAME_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_EXTENSION, X509_EXTENSION_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)

gboolean
vtc_vtpm_ca_key_id(EVP_PKEY *key, guint8 out[20], GError **error)
{
        X509_PUBKEY *xpk = NULL;
        const unsigned char *pk = NULL;
        int pklen = 0;
        gboolean ok;

        ok = X509_PUBKEY_set(&xpk, key) == 1 &&
             X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) == 1 &&
             EVP_Digest(pk, (size_t)pklen, out, NULL, EVP_sha1(), NULL) == 1;
        X509_PUBKEY_free(xpk);
        if (!ok)
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "computing a key identifier");
        return ok;
}

static gboolean
vtc_vtpm_ca_add_ext(X509 *cert, X509_EXTENSION *ext, GError **error)
{
        /* X509_add_ext() adds a copy: @ext is ours to free either way */
        gboolean ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;

        X509_EXTENSION_free(ext);
        if (!ok) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "adding a certificate extension");
                return FALSE;
        }
        return TRUE;
}

/* SubjectAltName: directoryName with the TPM manufacturer, model and version (TCG EK profile),
 * marked critical as the profile says when the subject is empty-ish. */
static X509_EXTENSION *
vtc_vtpm_ca_san(const VtcEkCertRequest *req)
{
        g_autoptr(X509_NAME) dn = X509_NAME_new();
        GENERAL_NAMES *names = GENERAL_NAMES_new();
        GENERAL_NAME *gn = GENERAL_NAME_new();
        X509_EXTENSION *ext = NULL;
        const struct {
                const gchar *oid;
                const gchar *value;
        } attrs[] = {
            {"2.23.133.2.1", req->manufacturer},
            {"2.23.133.2.2", req->model},
            {"2.23.133.2.3", req->version},
        };

        for (guint i = 0; i < G_N_ELEMENTS(attrs); i++) {
                ASN1_OBJECT *obj = OBJ_txt2obj(attrs[i].oid, 1);
                if (attrs[i].value != NULL)
                        X509_NAME_add_entry_by_OBJ(dn,
                                                   obj,
                                                   MBSTRING_UTF8,
                                                   (const unsigned char *)attrs[i].value,
                                                   -1,
                                                   -1,
                                                   0);
                ASN1_OBJECT_free(obj);
        }
        GENERAL_NAME_set0_value(gn, GEN_DIRNAME, g_steal_pointer(&dn));
        sk_GENERAL_NAME_push(names, gn);
        ext = X509V3_EXT_i2d(NID_subject_alt_name, 1, names);
        GENERAL_NAMES_free(names);
        return ext;
}

/* DER length prefix */
static void
vtc_der_len(GByteArray *out, gsize len)
{
        guint8 b[3];

        if (len < 0x80) {
                b[0] = (guint8)len;
                g_byte_array_append(out, b, 1);
        } else if (len < 0x100) {
                b[0] = 0x81;
                b[1] = (guint8)len;
                g_byte_array_append(out, b, 2);
        } else {
                b[0] = 0x82;
                b[1] = (guint8)(len >> 8);
                b[2] = (guint8)len;
                g_byte_array_append(out, b, 3);
        }
}

static GBytes *
vtc_der_tlv(guint8 tag, const guint8 *body, gsize len)
{
        GByteArray *out = g_byte_array_new();

        g_byte_array_append(out, &tag, 1);
        vtc_der_len(out, len);
        g_byte_array_append(out, body, (guint)len);
        return g_byte_array_free_to_bytes(out);
}

/* The TPM's signature in X.509's encoding: ECDSA as DER (r, s), RSASSA as is. */
static GBytes *
vtc_vtpm_ca_sig_to_x509(const TPMT_SIGNATURE *sig, GError **error)
{
        if (sig->sigAlg == TPM2_ALG_ECDSA) {
                g_autoptr(ECDSA_SIG) es = ECDSA_SIG_new();
                BIGNUM *r = BN_bin2bn(sig->signature.ecdsa.signatureR.buffer,
                                      sig->signature.ecdsa.signatureR.size,
                                      NULL);
                BIGNUM *s = BN_bin2bn(sig->signature.ecdsa.signatureS.buffer,
                                      sig->signature.ecdsa.signatureS.size,
                                      NULL);
                guint8 *der = NULL;
                int len;
                GBytes *out;

                if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
                        BN_free(r);
                        BN_free(s);
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the signature");
                        return NULL;
                }
                len = i2d_ECDSA_SIG(es, &der);
                if (len <= 0) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the signature");
                        return NULL;
                }
                out = g_bytes_new(der, (gsize)len);
                OPENSSL_free(der);
                return out;
        }
        if (sig->sigAlg == TPM2_ALG_RSASSA)
                return g_bytes_new(sig->signature.rsassa.sig.buffer,
                                   sig->signature.rsassa.sig.size);
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_NOT_SUPPORTED,
                    "a CA key signing with scheme 0x%04x cannot sign X.509 certificates",
                    sig->sigAlg);
        return NULL;
}

GBytes *
vtc_vtpm_ca_issue_ek_cert(VtcTpm *tpm,
                          ESYS_TR ca_key,
                          const TPM2B_PUBLIC *ca_public,
                          EVP_PKEY *ek,
                          const VtcEkCertRequest *req,
                          GError **error)
{
        g_autoptr(X509) cert = X509_new();
        g_autoptr(X509_NAME) subject = X509_NAME_new();
        g_autoptr(X509_NAME) issuer = X509_NAME_new();
        g_autoptr(EVP_PKEY) ca = vtc_tpm_public_to_pkey(ca_public, error);
        g_autoptr(ASN1_OCTET_STRING) aki_keyid = ASN1_OCTET_STRING_new();
        g_autoptr(GBytes) sigval = NULL;
        g_autoptr(GBytes) tbs_bytes = NULL;
        g_autoptr(GByteArray) body = g_byte_array_new();
        AUTHORITY_KEYID *aki = NULL;
        X509_ALGOR *tbs_alg;
        guint8 serial[16];
        guint8 keyid[20];
        guint8 digest[32];
        guint8 *tbs = NULL;
        int tbs_len;
        gboolean is_ec;
        int sig_nid;
        TPMT_SIGNATURE sig;
        BIGNUM *bn;
        static const guint8 zero = 0x00;

        if (ca == NULL)
                return NULL;
        is_ec = EVP_PKEY_get_base_id(ca) == EVP_PKEY_EC;
        sig_nid = is_ec ? NID_ecdsa_with_SHA256 : NID_sha256WithRSAEncryption;
        if (RAND_bytes(serial, sizeof(serial)) != 1 || !vtc_vtpm_ca_key_id(ca, keyid, error)) {
                if (error != NULL && *error == NULL)
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "drawing a serial number");
                return NULL;
        }
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        if (req->vm_uuid != NULL) {
                X509_NAME_add_entry_by_txt(subject,
                                           "CN",
                                           MBSTRING_UTF8,
                                           (const unsigned char *)req->vm_uuid,
                                           -1,
                                           -1,
                                           0);
                X509_NAME_add_entry_by_txt(subject,
                                           "serialNumber",
                                           MBSTRING_UTF8,
                                           (const unsigned char *)req->vm_uuid,
                                           -1,
                                           -1,
                                           0);
        }
        if (req->vm_name != NULL)
                X509_NAME_add_entry_by_txt(subject,
                                           "OU",
                                           MBSTRING_UTF8,
                                           (const unsigned char *)req->vm_name,
                                           -1,
                                           -1,
                                           0);
        X509_NAME_add_entry_by_txt(issuer,
                                   "CN",
                                   MBSTRING_UTF8,
                                   (const unsigned char *)req->issuer_cn,
                                   -1,
                                   -1,
                                   0);
        if (bn == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL ||
            X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
            X509_gmtime_adj(X509_getm_notAfter(cert), (long)req->days * 86400) == NULL ||
            X509_set_subject_name(cert, subject) != 1 || X509_set_issuer_name(cert, issuer) != 1 ||
            X509_set_pubkey(cert, ek) != 1) {
                BN_free(bn);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the EK certificate");
                return NULL;
        }
        BN_free(bn);

        /* extensions of the TCG EK Credential Profile */
        aki = AUTHORITY_KEYID_new();
        ASN1_OCTET_STRING_set(aki_keyid, keyid, sizeof(keyid));
        aki->keyid = g_steal_pointer(&aki_keyid);
        if (!vtc_vtpm_ca_add_ext(cert, vtc_vtpm_ca_san(req), error) ||
            !vtc_vtpm_ca_add_ext(
                cert,
                X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:FALSE"),
                error) ||
            !vtc_vtpm_ca_add_ext(cert,
                                 X509V3_EXT_conf_nid(NULL,
                                                     NULL,
                                                     NID_key_usage,
                                                     EVP_PKEY_get_base_id(ek) == EVP_PKEY_EC
                                                         ? "critical,keyAgreement"
                                                         : "critical,keyEncipherment"),
                                 error) ||
            !vtc_vtpm_ca_add_ext(cert,
                                 X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "2.23.133.8.1"),
                                 error) ||
            !vtc_vtpm_ca_add_ext(cert,
                                 X509V3_EXT_i2d(NID_authority_key_identifier, 0, aki),
                                 error)) {
                AUTHORITY_KEYID_free(aki);
                return NULL;
        }
        AUTHORITY_KEYID_free(aki);

        /* the to-be-signed part names the signature algorithm too */
        tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(cert);
        X509_ALGOR_set0(tbs_alg, OBJ_nid2obj(sig_nid), is_ec ? V_ASN1_UNDEF : V_ASN1_NULL, NULL);
        tbs_len = i2d_re_X509_tbs(cert, &tbs);
        if (tbs_len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the EK certificate");
                return NULL;
        }
        tbs_bytes = g_bytes_new(tbs, (gsize)tbs_len);
        OPENSSL_free(tbs);

        /* signed inside the TPM: the CA key never leaves it */
        EVP_Digest(g_bytes_get_data(tbs_bytes, NULL),
                   g_bytes_get_size(tbs_bytes),
                   digest,
                   NULL,
                   EVP_sha256(),
                   NULL);
        if (!vtc_tpm_sign_digest(tpm, ca_key, TPM2_ALG_SHA256, digest, sizeof(digest), &sig, error))
                return NULL;
        sigval = vtc_vtpm_ca_sig_to_x509(&sig, error);
        if (sigval == NULL)
                return NULL;

        /* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
        g_byte_array_append(body,
                            g_bytes_get_data(tbs_bytes, NULL),
                            (guint)g_bytes_get_size(tbs_bytes));
        {
                X509_ALGOR *alg = X509_ALGOR_new();
                guint8 *algder = NULL;
                int alglen;
                X509_ALGOR_set0(alg,
                                OBJ_nid2obj(sig_nid),
                                is_ec ? V_ASN1_UNDEF : V_ASN1_NULL,
                                NULL);
                alglen = i2d_X509_ALGOR(alg, &algder);
                X509_ALGOR_free(alg);
                if (alglen <= 0) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the algorithm");
                        return NULL;
                }
                g_byte_array_append(body, algder, (guint)alglen);
                OPENSSL_free(algder);
        }
        {
                g_autoptr(GByteArray) bits = g_byte_array_new();
                g_autoptr(GBytes) bitstring = NULL;
                g_byte_array_append(bits, &zero, 1); /* no unused bits */
                g_byte_array_append(bits,
                                    g_bytes_get_data(sigval, NULL),
                                    (guint)g_bytes_get_size(sigval));
                bitstring = vtc_der_tlv(0x03, bits->data, bits->len);
                g_byte_array_append(body,
                                    g_bytes_get_data(bitstring, NULL),
                                    (guint)g_bytes_get_size(bitstring));
        }
        return vtc_der_tlv(0x30, body->data, body->len);
}
