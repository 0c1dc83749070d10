/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-ekcert.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <time.h>

#include "vtc-credential.h"
#include "vtc-util.h"

struct _VtcEkTrustStore {
        X509_STORE *store;
        guint count;
};

/* Named typedefs, so these cleanups cannot clash with generic ones added to vtc-util.h. */
typedef STACK_OF(X509) VtcX509Stack;
typedef GENERAL_NAMES VtcGeneralNames;

static void
vtc_x509_stack_free(VtcX509Stack *sk)
{
        sk_X509_pop_free(sk, X509_free);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcX509Stack, vtc_x509_stack_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcGeneralNames, GENERAL_NAMES_free)

static const gchar vtc_pem_begin[] = "-----BEGIN ";

static gboolean
vtc_buf_is_pem(const guint8 *buf, gsize len)
{
        if (len == 0)
                return FALSE;
        return memmem(buf, len, vtc_pem_begin, strlen(vtc_pem_begin)) != NULL;
}

/*
 * Reads every CERTIFICATE block of a PEM buffer (other blocks are skipped) into @out, at most
 * @max of them. A block that does not decode is an error.
 */
static gboolean
vtc_pem_read_certs(const guint8 *buf,
                   gsize len,
                   guint max,
                   STACK_OF(X509) * out,
                   const gchar *origin,
                   GError **error)
{
        g_autoptr(BIO) bio = NULL;
        guint n = 0;
        unsigned long e;

        if (len > G_MAXINT) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE, "%s is too large", origin);
                return FALSE;
        }
        bio = BIO_new_mem_buf(buf, (int)len);
        if (bio == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "reading %s", origin);
                return FALSE;
        }
        ERR_clear_error();
        for (;;) {
                X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                if (cert == NULL)
                        break;
                if (n >= max) {
                        X509_free(cert);
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "%s holds more than %u certificates",
                                    origin,
                                    max);
                        return FALSE;
                }
                if (sk_X509_push(out, cert) <= 0) {
                        X509_free(cert);
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "reading %s", origin);
                        return FALSE;
                }
                n++;
        }
        /* the loop ends at the end of the input (no further start line) or at a broken block */
        e = ERR_peek_last_error();
        if (e != 0 &&
            !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "%s: bad PEM certificate",
                                   origin);
                return FALSE;
        }
        ERR_clear_error();
        if (n == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s holds no PEM certificate",
                            origin);
                return FALSE;
        }
        return TRUE;
}

/* One DER certificate; @allow_padding accepts trailing 0x00 or 0xff bytes (NV padding). */
static X509 *
vtc_der_read_cert(const guint8 *buf,
                  gsize len,
                  gboolean allow_padding,
                  const gchar *origin,
                  GError **error)
{
        const guint8 *p = buf;
        g_autoptr(X509) cert = NULL;
        gsize used;

        if (len > G_MAXLONG) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE, "%s is too large", origin);
                return NULL;
        }
        if (len == 0 || buf[0] != 0x30) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s is neither a DER nor a PEM certificate",
                            origin);
                return NULL;
        }
        cert = d2i_X509(NULL, &p, (long)len);
        if (cert == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "%s: bad DER certificate",
                                   origin);
                return NULL;
        }
        used = (gsize)(p - buf);
        if (used < len) {
                gboolean ok = allow_padding && (buf[used] == 0x00 || buf[used] == 0xff);
                for (gsize i = used; ok && i < len; i++)
                        ok = buf[i] == buf[used];
                if (!ok) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: %" G_GSIZE_FORMAT
                                    " bytes of garbage after the certificate",
                                    origin,
                                    len - used);
                        return NULL;
                }
        }
        return g_steal_pointer(&cert);
}

/* Certificates of one buffer: all PEM CERTIFICATE blocks, or one DER certificate. */
static gboolean
vtc_read_certs(const guint8 *buf,
               gsize len,
               guint max,
               STACK_OF(X509) * out,
               const gchar *origin,
               GError **error)
{
        g_autoptr(X509) cert = NULL;

        if (vtc_buf_is_pem(buf, len))
                return vtc_pem_read_certs(buf, len, max, out, origin, error);
        if (max == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "%s: too many certificates",
                            origin);
                return FALSE;
        }
        cert = vtc_der_read_cert(buf, len, FALSE, origin, error);
        if (cert == NULL)
                return FALSE;
        if (sk_X509_push(out, cert) <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "reading %s", origin);
                return FALSE;
        }
        g_steal_pointer(&cert);
        return TRUE;
}

VtcEkTrustStore *
vtc_ek_trust_store_new(void)
{
        VtcEkTrustStore *self = g_new0(VtcEkTrustStore, 1);

        self->store = X509_STORE_new();
        g_assert(self->store != NULL);
        return self;
}

void
vtc_ek_trust_store_free(VtcEkTrustStore *self)
{
        if (self == NULL)
                return;
        X509_STORE_free(self->store);
        g_free(self);
}

guint
vtc_ek_trust_store_get_count(VtcEkTrustStore *self)
{
        return self->count;
}

gboolean
vtc_ek_trust_store_add_data(VtcEkTrustStore *self,
                            const guint8 *buf,
                            gsize len,
                            const gchar *origin,
                            GError **error)
{
        g_autoptr(VtcX509Stack) certs = sk_X509_new_null();

        if (len > VTC_EK_TRUST_FILE_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "%s is larger than %u bytes",
                            origin,
                            (guint)VTC_EK_TRUST_FILE_MAX_SIZE);
                return FALSE;
        }
        if (certs == NULL || !vtc_read_certs(buf, len, G_MAXINT, certs, origin, error))
                return FALSE;
        for (int i = 0; i < sk_X509_num(certs); i++) {
                /* a duplicate (e.g. a c_rehash link beside its file) is not an error */
                if (X509_STORE_add_cert(self->store, sk_X509_value(certs, i)) != 1) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_FAILED,
                                           "adding %s to the store",
                                           origin);
                        return FALSE;
                }
                self->count++;
        }
        return TRUE;
}

gboolean
vtc_ek_trust_store_add_file(VtcEkTrustStore *self, const gchar *path, GError **error)
{
        g_autoptr(GBytes) data = vtc_file_read(path, VTC_EK_TRUST_FILE_MAX_SIZE, error);
        gsize len = 0;
        const guint8 *buf = NULL;

        if (data == NULL)
                return FALSE;
        buf = g_bytes_get_data(data, &len);
        return vtc_ek_trust_store_add_data(self, buf, len, path, error);
}

static gint
vtc_strcmp_cb(gconstpointer a, gconstpointer b)
{
        return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

gboolean
vtc_ek_trust_store_add_dir(VtcEkTrustStore *self, const gchar *dir, GError **error)
{
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GDir) d = g_dir_open(dir, 0, &error_local);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const gchar *name;

        if (d == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                                ? VTC_ERROR_NOT_FOUND
                                : VTC_ERROR_IO,
                            "opening trust store %s: %s",
                            dir,
                            error_local->message);
                return FALSE;
        }
        while ((name = g_dir_read_name(d)) != NULL) {
                if (name[0] == '.')
                        continue;
                if (names->len >= VTC_EK_TRUST_MAX_FILES) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "trust store %s has more than %u files",
                                    dir,
                                    (guint)VTC_EK_TRUST_MAX_FILES);
                        return FALSE;
                }
                g_ptr_array_add(names, g_strdup(name));
        }
        /* a stable order, so that an error always names the same file */
        g_ptr_array_sort(names, vtc_strcmp_cb);
        for (guint i = 0; i < names->len; i++) {
                g_autofree gchar *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
                if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
                        continue;
                if (!vtc_ek_trust_store_add_file(self, path, error))
                        return FALSE;
        }
        return TRUE;
}

VtcEkTrustStore *
vtc_ek_trust_store_new_from_dir(const gchar *dir, GError **error)
{
        g_autoptr(VtcEkTrustStore) self = vtc_ek_trust_store_new();

        if (!vtc_ek_trust_store_add_dir(self, dir, error))
                return NULL;
        if (self->count == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "trust store %s holds no certificate",
                            dir);
                return NULL;
        }
        return g_steal_pointer(&self);
}

void
vtc_ek_cert_info_free(VtcEkCertInfo *info)
{
        if (info == NULL)
                return;
        g_free(info->subject);
        g_free(info->issuer);
        g_free(info->serial);
        g_free(info->key_type);
        g_free(info->tpm_manufacturer);
        g_free(info->tpm_model);
        g_free(info->tpm_version);
        if (info->chain != NULL)
                g_ptr_array_unref(info->chain);
        g_free(info);
}

X509 *
vtc_ek_cert_parse(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(VtcX509Stack) certs = NULL;

        if (len > VTC_EK_CERT_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "EK certificate of %" G_GSIZE_FORMAT " bytes is larger than %u",
                            len,
                            (guint)VTC_EK_CERT_MAX_SIZE);
                return NULL;
        }
        if (!vtc_buf_is_pem(buf, len))
                return vtc_der_read_cert(buf, len, TRUE, "EK certificate", error);
        certs = sk_X509_new_null();
        if (certs == NULL ||
            !vtc_pem_read_certs(buf, len, VTC_EK_CERT_MAX_CHAIN, certs, "EK certificate", error))
                return NULL;
        return X509_dup(sk_X509_value(certs, 0));
}

gchar *
vtc_ek_key_describe(EVP_PKEY *pkey)
{
        gchar group[64] = "";
        size_t glen = 0;

        if (EVP_PKEY_is_a(pkey, "RSA"))
                return g_strdup_printf("rsa-%d", EVP_PKEY_get_bits(pkey));
        if (!EVP_PKEY_is_a(pkey, "EC"))
                return NULL;
        if (EVP_PKEY_get_utf8_string_param(pkey,
                                           OSSL_PKEY_PARAM_GROUP_NAME,
                                           group,
                                           sizeof(group),
                                           &glen) != 1)
                return g_strdup("ecc-unknown");
        if (g_strcmp0(group, "prime256v1") == 0 || g_strcmp0(group, "P-256") == 0)
                return g_strdup("ecc-p256");
        if (g_strcmp0(group, "secp384r1") == 0 || g_strcmp0(group, "P-384") == 0)
                return g_strdup("ecc-p384");
        if (g_strcmp0(group, "secp521r1") == 0 || g_strcmp0(group, "P-521") == 0)
                return g_strdup("ecc-p521");
        return g_strdup_printf("ecc-%s", group);
}

EVP_PKEY *
vtc_ek_public_parse(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(EVP_PKEY) pkey = NULL;
        g_autofree gchar *desc = NULL;

        if (len > VTC_EK_CERT_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "EK public key of %" G_GSIZE_FORMAT " bytes is too large",
                            len);
                return NULL;
        }
        if (vtc_buf_is_pem(buf, len)) {
                g_autoptr(BIO) bio = BIO_new_mem_buf(buf, (int)len);
                pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
                if (pkey == NULL) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_INVALID_DATA,
                                           "EK public key: bad PEM public key");
                        return NULL;
                }
        } else if (len > 0 && buf[0] == 0x30) {
                /* no TPM2B_PUBLIC starts with 0x30 (it would be over 12 KiB), nor a TPMT_PUBLIC */
                const guint8 *p = buf;
                pkey = d2i_PUBKEY(NULL, &p, (long)len);
                if (pkey == NULL || p != buf + len) {
                        vtc_ossl_set_error(error,
                                           VTC_ERROR_INVALID_DATA,
                                           "EK public key: bad DER SubjectPublicKeyInfo");
                        return NULL;
                }
        } else {
                TPM2B_PUBLIC pub = {0};
                if (!vtc_tpm_public_unmarshal(buf, len, &pub, error)) {
                        g_prefix_error(error, "EK public key: ");
                        return NULL;
                }
                pkey = vtc_tpm_public_to_pkey(&pub, error);
                if (pkey == NULL) {
                        g_prefix_error(error, "EK public key: ");
                        return NULL;
                }
        }
        desc = vtc_ek_key_describe(pkey);
        if (desc == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "EK public key is neither RSA nor ECC");
                return NULL;
        }
        return g_steal_pointer(&pkey);
}

/* The TCG arc 2.23.133, DER content octets of the OID prefix. */
static gboolean
vtc_oid_is_tcg(const ASN1_OBJECT *obj)
{
        static const guint8 tcg[] = {0x67, 0x81, 0x05};
        const unsigned char *data = OBJ_get0_data(obj);
        size_t len = OBJ_length(obj);

        return data != NULL && len > sizeof(tcg) && memcmp(data, tcg, sizeof(tcg)) == 0;
}

/* TRUE when every critical extension OpenSSL does not handle is a TCG one. */
static gboolean
vtc_ek_unhandled_critical_are_tcg(X509 *cert)
{
        for (int i = 0; i < X509_get_ext_count(cert); i++) {
                X509_EXTENSION *ext = X509_get_ext(cert, i);
                if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
                        continue;
                if (!vtc_oid_is_tcg(X509_EXTENSION_get_object(ext)))
                        return FALSE;
        }
        return TRUE;
}

/*
 * The only relaxation of OpenSSL's checks: at the EK certificate (depth 0), a critical
 * extension from the TCG arc that OpenSSL does not know.
 */
static int
vtc_ek_verify_cb(int ok, X509_STORE_CTX *ctx)
{
        if (ok)
                return ok;
        if (X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION &&
            X509_STORE_CTX_get_error_depth(ctx) == 0 &&
            vtc_ek_unhandled_critical_are_tcg(X509_STORE_CTX_get_current_cert(ctx))) {
                X509_STORE_CTX_set_error(ctx, X509_V_OK);
                return 1;
        }
        return ok;
}

static gchar *
vtc_x509_name_to_string(const X509_NAME *name)
{
        g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;

        if (bio == NULL || X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0)
                return g_strdup("");
        len = BIO_get_mem_data(bio, &data);
        if (len <= 0 || data == NULL)
                return g_strdup("");
        return g_strndup(data, (gsize)len);
}

static gint64
vtc_asn1_time_to_unix(const ASN1_TIME *t)
{
        struct tm tm = {0};

        if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return (gint64)timegm(&tm);
}

static gchar *
vtc_asn1_string_to_utf8(const ASN1_STRING *s)
{
        unsigned char *out = NULL;
        int len = ASN1_STRING_to_UTF8(&out, s);
        gchar *result = NULL;

        if (len < 0)
                return NULL;
        result = g_strndup((const gchar *)out, (gsize)len);
        OPENSSL_free(out);
        return result;
}

/* TPM manufacturer, model and version from the SubjectAltName directoryName, when present. */
static void
vtc_ek_info_read_san(X509 *cert, VtcEkCertInfo *info)
{
        g_autoptr(VtcGeneralNames) names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

        for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
                if (gn->type != GEN_DIRNAME)
                        continue;
                for (int j = 0; j < X509_NAME_entry_count(gn->d.dirn); j++) {
                        const X509_NAME_ENTRY *e = X509_NAME_get_entry(gn->d.dirn, j);
                        gchar oid[64] = "";
                        gchar **dest = NULL;
                        OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1);
                        if (g_strcmp0(oid, "2.23.133.2.1") == 0)
                                dest = &info->tpm_manufacturer;
                        else if (g_strcmp0(oid, "2.23.133.2.2") == 0)
                                dest = &info->tpm_model;
                        else if (g_strcmp0(oid, "2.23.133.2.3") == 0)
                                dest = &info->tpm_version;
                        if (dest != NULL && *dest == NULL)
                                *dest = vtc_asn1_string_to_utf8(X509_NAME_ENTRY_get_data(e));
                }
        }
        ERR_clear_error();
}

static VtcEkCertInfo *
vtc_ek_info_new(X509 *cert, STACK_OF(X509) * chain, EVP_PKEY *key)
{
        g_autoptr(VtcEkCertInfo) info = g_new0(VtcEkCertInfo, 1);
        g_autoptr(BIGNUM) serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);

        info->subject = vtc_x509_name_to_string(X509_get_subject_name(cert));
        info->issuer = vtc_x509_name_to_string(X509_get_issuer_name(cert));
        if (serial != NULL) {
                char *hex = BN_bn2hex(serial);
                info->serial = hex != NULL ? g_ascii_strdown(hex, -1) : NULL;
                OPENSSL_free(hex);
        }
        info->not_before = vtc_asn1_time_to_unix(X509_get0_notBefore(cert));
        info->not_after = vtc_asn1_time_to_unix(X509_get0_notAfter(cert));
        info->key_type = vtc_ek_key_describe(key);
        vtc_ek_info_read_san(cert, info);
        info->chain = g_ptr_array_new_with_free_func(g_free);
        for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
                X509 *c = sk_X509_value(chain, i);
                g_ptr_array_add(info->chain, vtc_x509_name_to_string(X509_get_subject_name(c)));
        }
        return g_steal_pointer(&info);
}

gboolean
vtc_ek_cert_verify_x509(VtcEkTrustStore *store,
                        X509 *cert,
                        STACK_OF(X509) * intermediates,
                        EVP_PKEY *ek_public,
                        VtcEkVerifyFlags flags,
                        VtcEkCertInfo **out_info,
                        GError **error)
{
        g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
        X509_VERIFY_PARAM *param = NULL;
        EVP_PKEY *cert_key = X509_get0_pubkey(cert);
        unsigned long vflags = 0;

        if (intermediates != NULL && sk_X509_num(intermediates) > VTC_EK_CERT_MAX_CHAIN) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "more than %d intermediate certificates",
                            VTC_EK_CERT_MAX_CHAIN);
                return FALSE;
        }
        if (cert_key == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_NOT_SUPPORTED,
                                   "the EK certificate's public key cannot be read");
                return FALSE;
        }
        if (ctx == NULL || X509_STORE_CTX_init(ctx, store->store, cert, intermediates) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "setting up certificate verification");
                return FALSE;
        }
        param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_depth(param, VTC_EK_CERT_MAX_VERIFY_DEPTH);
        if (flags & VTC_EK_VERIFY_IGNORE_TIME)
                vflags |= X509_V_FLAG_NO_CHECK_TIME;
        if (flags & VTC_EK_VERIFY_PARTIAL_CHAIN)
                vflags |= X509_V_FLAG_PARTIAL_CHAIN;
        if (vflags != 0)
                X509_VERIFY_PARAM_set_flags(param, vflags);
        X509_STORE_CTX_set_verify_cb(ctx, vtc_ek_verify_cb);

        if (X509_verify_cert(ctx) != 1) {
                int err = X509_STORE_CTX_get_error(ctx);
                X509 *at = X509_STORE_CTX_get_current_cert(ctx);
                g_autofree gchar *subject =
                    at != NULL ? vtc_x509_name_to_string(X509_get_subject_name(at)) : NULL;
                ERR_clear_error();
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "EK certificate chain does not verify: %s (depth %d, subject \"%s\")",
                            X509_verify_cert_error_string(err),
                            X509_STORE_CTX_get_error_depth(ctx),
                            subject != NULL ? subject : "?");
                return FALSE;
        }
        if (EVP_PKEY_eq(cert_key, ek_public) != 1) {
                g_autofree gchar *want = vtc_ek_key_describe(ek_public);
                g_autofree gchar *have = vtc_ek_key_describe(cert_key);
                ERR_clear_error();
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "the EK public key (%s) is not the key of the EK certificate (%s)",
                            want != NULL ? want : "?",
                            have != NULL ? have : "?");
                return FALSE;
        }
        if (out_info != NULL)
                *out_info = vtc_ek_info_new(cert, X509_STORE_CTX_get0_chain(ctx), cert_key);
        return TRUE;
}

gboolean
vtc_ek_cert_verify(VtcEkTrustStore *store,
                   GBytes *cert,
                   GPtrArray *intermediates,
                   GBytes *ek_public,
                   VtcEkVerifyFlags flags,
                   VtcEkCertInfo **out_info,
                   GError **error)
{
        gsize len = 0;
        const guint8 *buf = g_bytes_get_data(cert, &len);
        g_autoptr(X509) x = vtc_ek_cert_parse(buf, len, error);
        g_autoptr(VtcX509Stack) untrusted = sk_X509_new_null();
        g_autoptr(EVP_PKEY) ek = NULL;

        if (x == NULL)
                return FALSE;
        if (untrusted == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "allocating");
                return FALSE;
        }
        for (guint i = 0; intermediates != NULL && i < intermediates->len; i++) {
                GBytes *b = g_ptr_array_index(intermediates, i);
                g_autofree gchar *origin = g_strdup_printf("intermediate certificate %u", i + 1);
                gint room = VTC_EK_CERT_MAX_CHAIN - sk_X509_num(untrusted);

                buf = g_bytes_get_data(b, &len);
                if (len > VTC_EK_CERT_MAX_SIZE) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "%s is larger than %u bytes",
                                    origin,
                                    (guint)VTC_EK_CERT_MAX_SIZE);
                        return FALSE;
                }
                if (!vtc_read_certs(buf, len, (guint)MAX(room, 0), untrusted, origin, error))
                        return FALSE;
        }
        buf = g_bytes_get_data(ek_public, &len);
        ek = vtc_ek_public_parse(buf, len, error);
        if (ek == NULL)
                return FALSE;
        return vtc_ek_cert_verify_x509(store, x, untrusted, ek, flags, out_info, error);
}
