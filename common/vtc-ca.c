/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-ca.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "vtc-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_NAME, X509_NAME_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_EXTENSION, X509_EXTENSION_free)

static gboolean
vtc_ca_write_pem(const gchar *path, gboolean is_key, gpointer obj, GError **error)
{
        g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
        BUF_MEM *mem = NULL;
        gboolean ok;

        ok = is_key ? PEM_write_bio_PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL) == 1
                    : PEM_write_bio_X509(bio, obj) == 1;
        if (!ok) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding %s", path);
                return FALSE;
        }
        BIO_get_mem_ptr(bio, &mem);
        return vtc_file_write_atomic(path,
                                     (const guint8 *)mem->data,
                                     mem->length,
                                     is_key ? 0600 : 0644,
                                     error);
}

static gboolean
vtc_ca_add_ext(X509 *cert, X509 *issuer, int nid, const gchar *value, GError **error)
{
        X509V3_CTX v3;
        g_autoptr(X509_EXTENSION) ext = NULL;

        X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "adding extension %s", value);
                return FALSE;
        }
        return TRUE;
}

static X509 *
vtc_ca_new_cert(EVP_PKEY *key, const gchar *cn, guint days, GError **error)
{
        g_autoptr(X509) cert = X509_new();
        g_autoptr(X509_NAME) name = X509_NAME_new();
        guint8 serial[16];
        g_autoptr(BIGNUM) bn = NULL;

        if (RAND_bytes(serial, sizeof(serial)) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "drawing a serial number");
                return NULL;
        }
        serial[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        if (bn == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
            BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL ||
            X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
            X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) == NULL ||
            X509_NAME_add_entry_by_txt(name,
                                       "CN",
                                       MBSTRING_UTF8,
                                       (const unsigned char *)cn,
                                       -1,
                                       -1,
                                       0) != 1 ||
            X509_set_subject_name(cert, name) != 1 || X509_set_pubkey(cert, key) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the certificate of %s", cn);
                return NULL;
        }
        return g_steal_pointer(&cert);
}

gboolean
vtc_ca_init(const gchar *dir, const gchar *common_name, guint days, GError **error)
{
        g_autofree gchar *key_path = g_build_filename(dir, "ca.key", NULL);
        g_autofree gchar *crt_path = g_build_filename(dir, "ca.crt", NULL);
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;

        if (g_mkdir_with_parents(dir, 0755) != 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "creating %s: %s", dir, g_strerror(e));
                return FALSE;
        }
        if (g_file_test(key_path, G_FILE_TEST_EXISTS) ||
            g_file_test(crt_path, G_FILE_TEST_EXISTS)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "%s already holds a CA: refusing to replace it",
                            dir);
                return FALSE;
        }
        key = EVP_EC_gen("P-256");
        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating the CA key");
                return FALSE;
        }
        cert = vtc_ca_new_cert(key, common_name, days, error);
        if (cert == NULL)
                return FALSE;
        if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1 ||
            !vtc_ca_add_ext(cert,
                            cert,
                            NID_basic_constraints,
                            "critical,CA:TRUE,pathlen:0",
                            error) ||
            !vtc_ca_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign", error) ||
            !vtc_ca_add_ext(cert, cert, NID_subject_key_identifier, "hash", error))
                return FALSE;
        if (X509_sign(cert, key, EVP_sha256()) == 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing the CA certificate");
                return FALSE;
        }
        /* key first: a certificate without its key would look like a usable CA */
        return vtc_ca_write_pem(key_path, TRUE, key, error) &&
               vtc_ca_write_pem(crt_path, FALSE, cert, error);
}

static gpointer
vtc_ca_read_pem(const gchar *path, gboolean is_key, GError **error)
{
        g_autoptr(GBytes) data = vtc_file_read(path, 1024 * 1024, error);
        g_autoptr(BIO) bio = NULL;
        gpointer obj;

        if (data == NULL)
                return NULL;
        bio = BIO_new_mem_buf(g_bytes_get_data(data, NULL), (int)g_bytes_get_size(data));
        obj = is_key ? (gpointer)PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                     : (gpointer)PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (obj == NULL)
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "reading %s", path);
        return obj;
}

gboolean
vtc_ca_issue(const gchar *dir,
             const gchar *name,
             const gchar *const *sans,
             guint days,
             GError **error)
{
        g_autofree gchar *ca_key_path = g_build_filename(dir, "ca.key", NULL);
        g_autofree gchar *ca_crt_path = g_build_filename(dir, "ca.crt", NULL);
        g_autofree gchar *key_name = g_strdup_printf("%s.key", name);
        g_autofree gchar *crt_name = g_strdup_printf("%s.crt", name);
        g_autofree gchar *key_path = g_build_filename(dir, key_name, NULL);
        g_autofree gchar *crt_path = g_build_filename(dir, crt_name, NULL);
        g_autoptr(EVP_PKEY) ca_key = NULL;
        g_autoptr(X509) ca_cert = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        g_autoptr(GString) san = g_string_new(NULL);

        if (name[0] == '\0' || strchr(name, '/') != NULL || name[0] == '.' ||
            g_strcmp0(name, "ca") == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "'%s' cannot name a certificate (no '/', no leading '.', not 'ca')",
                            name);
                return FALSE;
        }
        if (g_file_test(key_path, G_FILE_TEST_EXISTS) ||
            g_file_test(crt_path, G_FILE_TEST_EXISTS)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "%s already has a certificate in %s: refusing to replace it",
                            name,
                            dir);
                return FALSE;
        }
        g_string_append_printf(san, "DNS:%s", name);
        for (guint i = 0; sans != NULL && sans[i] != NULL; i++) {
                if (!g_str_has_prefix(sans[i], "DNS:") && !g_str_has_prefix(sans[i], "IP:")) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "subject alternative name '%s' must start with DNS: or IP:",
                                    sans[i]);
                        return FALSE;
                }
                g_string_append_printf(san, ",%s", sans[i]);
        }
        ca_key = vtc_ca_read_pem(ca_key_path, TRUE, error);
        if (ca_key == NULL)
                return FALSE;
        ca_cert = vtc_ca_read_pem(ca_crt_path, FALSE, error);
        if (ca_cert == NULL)
                return FALSE;
        key = EVP_EC_gen("P-256");
        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating the key of %s", name);
                return FALSE;
        }
        cert = vtc_ca_new_cert(key, name, days, error);
        if (cert == NULL)
                return FALSE;
        if (X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)) != 1 ||
            !vtc_ca_add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE", error) ||
            !vtc_ca_add_ext(cert, ca_cert, NID_key_usage, "critical,digitalSignature", error) ||
            !vtc_ca_add_ext(cert, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth", error) ||
            !vtc_ca_add_ext(cert, ca_cert, NID_subject_alt_name, san->str, error) ||
            !vtc_ca_add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid", error))
                return FALSE;
        if (X509_sign(cert, ca_key, EVP_sha256()) == 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing the certificate of %s", name);
                return FALSE;
        }
        return vtc_ca_write_pem(key_path, TRUE, key, error) &&
               vtc_ca_write_pem(crt_path, FALSE, cert, error);
}
