/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-api.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_AGENT_API_MAX_BODY  (16 * 1024)
#define VTC_AGENT_API_CERT_DAYS 3650

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free)

/* ---- the TLS key ------------------------------------------------------------------------- */

static gboolean
vtc_agent_api_add_ext(X509 *cert, int nid, const char *value, GError **error)
{
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (ext == NULL || !X509_add_ext(cert, ext, -1)) {
                X509_EXTENSION_free(ext);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "adding extension %s", value);
                return FALSE;
        }
        X509_EXTENSION_free(ext);
        return TRUE;
}

static gchar *
vtc_agent_api_pem(BIO *bio, gsize *out_len)
{
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);

        *out_len = len > 0 ? (gsize)len : 0;
        return g_strndup(data, *out_len);
}

/* A new key and its self-signed certificate (ECDSA P-256, CN "vtc-agent @uuid", SAN DNS:@uuid). */
static gboolean
vtc_agent_api_tls_make(const gchar *uuid, EVP_PKEY **out_key, X509 **out_cert, GError **error)
{
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        g_autoptr(BIGNUM) serial = BN_new();
        g_autofree gchar *cn = g_strdup_printf("vtc-agent %s", uuid);
        g_autofree gchar *san = g_strdup_printf("DNS:%s", uuid);
        X509_NAME *name;

        key = EVP_EC_gen("P-256");
        cert = X509_new();
        if (key == NULL || cert == NULL || serial == NULL ||
            !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) ||
            !X509_set_version(cert, X509_VERSION_3) ||
            X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
            X509_time_adj_ex(X509_getm_notAfter(cert), VTC_AGENT_API_CERT_DAYS, 0, NULL) == NULL ||
            !X509_set_pubkey(cert, key)) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "making the agent's TLS key");
                return FALSE;
        }
        name = X509_get_subject_name(cert);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const guchar *)cn, -1, -1, 0) ||
            !X509_set_issuer_name(cert, name)) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "naming the agent's certificate");
                return FALSE;
        }
        if (!vtc_agent_api_add_ext(cert, NID_basic_constraints, "critical,CA:FALSE", error) ||
            !vtc_agent_api_add_ext(cert, NID_key_usage, "critical,digitalSignature", error) ||
            !vtc_agent_api_add_ext(cert, NID_ext_key_usage, "serverAuth", error) ||
            !vtc_agent_api_add_ext(cert, NID_subject_alt_name, san, error))
                return FALSE;
        if (!X509_sign(cert, key, EVP_sha256())) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing the agent's certificate");
                return FALSE;
        }
        *out_key = g_steal_pointer(&key);
        *out_cert = g_steal_pointer(&cert);
        return TRUE;
}

/* The key (0600) and the certificate (0644) as PEM files, each replaced atomically. */
static gboolean
vtc_agent_api_tls_write(const gchar *cert_path,
                        const gchar *key_path,
                        EVP_PKEY *key,
                        X509 *cert,
                        GError **error)
{
        g_autoptr(BIO) key_bio = BIO_new(BIO_s_mem());
        g_autoptr(BIO) cert_bio = BIO_new(BIO_s_mem());
        char *key_pem = NULL;
        char *cert_pem = NULL;
        long key_len;
        long cert_len;

        if (key_bio == NULL || cert_bio == NULL ||
            !PEM_write_bio_PrivateKey(key_bio, key, NULL, NULL, 0, NULL, NULL) ||
            !PEM_write_bio_X509(cert_bio, cert)) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the agent's TLS key");
                return FALSE;
        }
        /* the PEM stays in the BIOs (freed below, the key's wiped first) */
        key_len = BIO_get_mem_data(key_bio, &key_pem);
        cert_len = BIO_get_mem_data(cert_bio, &cert_pem);
        if (!vtc_file_write_atomic(key_path,
                                   (const guint8 *)key_pem,
                                   key_len > 0 ? (gsize)key_len : 0,
                                   0600,
                                   error) ||
            !vtc_file_write_atomic(cert_path,
                                   (const guint8 *)cert_pem,
                                   cert_len > 0 ? (gsize)cert_len : 0,
                                   0644,
                                   error)) {
                if (key_len > 0)
                        explicit_bzero(key_pem, (gsize)key_len);
                return FALSE;
        }
        if (key_len > 0)
                explicit_bzero(key_pem, (gsize)key_len);
        return TRUE;
}

/* Which of the two files exist: FALSE when only one does (it is not silently replaced). */
static gboolean
vtc_agent_api_tls_files(const gchar *cert_path,
                        const gchar *key_path,
                        gboolean *out_both,
                        GError **error)
{
        gboolean have_cert = g_file_test(cert_path, G_FILE_TEST_EXISTS);
        gboolean have_key = g_file_test(key_path, G_FILE_TEST_EXISTS);

        if (have_cert != have_key) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "%s exists but %s does not: restore it, or remove both to make a "
                            "new TLS key (which must then be enrolled again)",
                            have_cert ? cert_path : key_path,
                            have_cert ? key_path : cert_path);
                return FALSE;
        }
        *out_both = have_cert;
        return TRUE;
}

gboolean
vtc_agent_api_tls_ensure(const gchar *cert_path,
                         const gchar *key_path,
                         const gchar *uuid,
                         GError **error)
{
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        gboolean both = FALSE;

        if (!vtc_agent_api_tls_files(cert_path, key_path, &both, error))
                return FALSE;
        if (both)
                return TRUE;
        return vtc_agent_api_tls_make(uuid, &key, &cert, error) &&
               vtc_agent_api_tls_write(cert_path, key_path, key, cert, error);
}

/* ---- the TLS identity in the vTPM's NV ----------------------------------------------------- */

/*
 * The blob in the NV index, all integers big-endian, zero-padded to the index's size:
 *   0  "VTLS"
 *   4  u16 format version (1)
 *   6  u16 key length K (DER PKCS#8 PrivateKeyInfo)
 *   8  u16 certificate length C (DER X.509)
 *  10  u16 0
 *  12  SHA-256(key || certificate)
 *  44  key, then certificate
 */
#define VTC_AGENT_API_TLS_BLOB_MAGIC   "VTLS"
#define VTC_AGENT_API_TLS_BLOB_VERSION 1
#define VTC_AGENT_API_TLS_BLOB_HEADER  44

typedef struct {
        gsize len;
        guint8 data[];
} VtcAgentApiSecret;

static void
vtc_agent_api_secret_free(gpointer data)
{
        VtcAgentApiSecret *s = data;

        explicit_bzero(s->data, s->len);
        g_free(s);
}

GBytes *
vtc_agent_api_tls_blob_pack(EVP_PKEY *key, X509 *cert, gsize size, GError **error)
{
        g_autoptr(PKCS8_PRIV_KEY_INFO) p8 = EVP_PKEY2PKCS8(key);
        guint8 *key_der = NULL;
        guint8 *cert_der = NULL;
        int key_len = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &key_der) : -1;
        int cert_len = i2d_X509(cert, &cert_der);
        VtcAgentApiSecret *blob;
        guint8 *p;
        gboolean ok;

        if (key_len <= 0 || cert_len <= 0) {
                OPENSSL_clear_free(key_der, key_len > 0 ? (size_t)key_len : 0);
                OPENSSL_free(cert_der);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the agent's TLS key");
                return NULL;
        }
        if (size > G_MAXUINT16 ||
            (gsize)VTC_AGENT_API_TLS_BLOB_HEADER + (gsize)key_len + (gsize)cert_len > size) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_TOO_LARGE,
                    "the TLS key (%d bytes) and certificate (%d bytes) do not fit in %" G_GSIZE_FORMAT
                    " bytes",
                    key_len,
                    cert_len,
                    size);
                OPENSSL_clear_free(key_der, (size_t)key_len);
                OPENSSL_free(cert_der);
                return NULL;
        }
        blob = g_malloc0(sizeof(VtcAgentApiSecret) + size);
        blob->len = size;
        p = blob->data;
        memcpy(p, VTC_AGENT_API_TLS_BLOB_MAGIC, 4);
        p[4] = 0;
        p[5] = VTC_AGENT_API_TLS_BLOB_VERSION;
        p[6] = (guint8)(key_len >> 8);
        p[7] = (guint8)key_len;
        p[8] = (guint8)(cert_len >> 8);
        p[9] = (guint8)cert_len;
        memcpy(p + VTC_AGENT_API_TLS_BLOB_HEADER, key_der, (gsize)key_len);
        memcpy(p + VTC_AGENT_API_TLS_BLOB_HEADER + key_len, cert_der, (gsize)cert_len);
        OPENSSL_clear_free(key_der, (size_t)key_len);
        OPENSSL_free(cert_der);
        ok = vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                      p + VTC_AGENT_API_TLS_BLOB_HEADER,
                      (gsize)key_len + (gsize)cert_len,
                      p + 12,
                      error);
        if (!ok) {
                vtc_agent_api_secret_free(blob);
                return NULL;
        }
        return g_bytes_new_with_free_func(blob->data, size, vtc_agent_api_secret_free, blob);
}

gboolean
vtc_agent_api_tls_blob_parse(const guint8 *data,
                             gsize len,
                             EVP_PKEY **out_key,
                             X509 **out_cert,
                             GError **error)
{
        g_autoptr(PKCS8_PRIV_KEY_INFO) p8 = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        const guint8 *p;
        guint version;
        gsize key_len;
        gsize cert_len;
        guint8 digest[32];

        if (len < VTC_AGENT_API_TLS_BLOB_HEADER) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%" G_GSIZE_FORMAT " bytes are shorter than the header",
                            len);
                return FALSE;
        }
        if (memcmp(data, VTC_AGENT_API_TLS_BLOB_MAGIC, 4) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "no TLS identity there (it starts with %02x%02x%02x%02x, not "
                            "\"" VTC_AGENT_API_TLS_BLOB_MAGIC "\")",
                            data[0],
                            data[1],
                            data[2],
                            data[3]);
                return FALSE;
        }
        version = ((guint)data[4] << 8) | data[5];
        if (version != VTC_AGENT_API_TLS_BLOB_VERSION) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the TLS identity is in format version %u; this agent reads "
                            "version %u (a newer agent wrote it?)",
                            version,
                            (guint)VTC_AGENT_API_TLS_BLOB_VERSION);
                return FALSE;
        }
        key_len = ((gsize)data[6] << 8) | data[7];
        cert_len = ((gsize)data[8] << 8) | data[9];
        if (data[10] != 0 || data[11] != 0 || key_len == 0 || cert_len == 0 ||
            key_len + cert_len > len - VTC_AGENT_API_TLS_BLOB_HEADER) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "a bad header: key %" G_GSIZE_FORMAT " and certificate %" G_GSIZE_FORMAT
                            " bytes in %" G_GSIZE_FORMAT,
                            key_len,
                            cert_len,
                            len);
                return FALSE;
        }
        if (!vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                      data + VTC_AGENT_API_TLS_BLOB_HEADER,
                      key_len + cert_len,
                      digest,
                      error))
                return FALSE;
        if (CRYPTO_memcmp(digest, data + 12, sizeof(digest)) != 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the TLS identity's checksum does not match its content");
                return FALSE;
        }
        p = data + VTC_AGENT_API_TLS_BLOB_HEADER;
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)key_len);
        if (p8 == NULL || p != data + VTC_AGENT_API_TLS_BLOB_HEADER + key_len ||
            (key = EVP_PKCS82PKEY(p8)) == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "the TLS key is not a DER PKCS#8 private key");
                return FALSE;
        }
        p = data + VTC_AGENT_API_TLS_BLOB_HEADER + key_len;
        cert = d2i_X509(NULL, &p, (long)cert_len);
        if (cert == NULL || p != data + VTC_AGENT_API_TLS_BLOB_HEADER + key_len + cert_len) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "the TLS certificate is not a DER X.509 certificate");
                return FALSE;
        }
        if (X509_get0_pubkey(cert) == NULL || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
                ERR_clear_error();
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "the TLS certificate's public key is not the TLS key");
                return FALSE;
        }
        *out_key = g_steal_pointer(&key);
        *out_cert = g_steal_pointer(&cert);
        return TRUE;
}

gboolean
vtc_agent_api_tls_ensure_nv(VtcAgentTpm *tpm,
                            TPM2_HANDLE nv_index,
                            const gchar *cert_path,
                            const gchar *key_path,
                            const gchar *uuid,
                            VtcAgentApiTlsSource *out_source,
                            gchar **out_replaced_why,
                            GError **error)
{
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GBytes) blob = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        g_autofree gchar *why = NULL;
        VtcAgentApiTlsSource source;
        gboolean both = FALSE;

        if (!vtc_agent_api_tls_files(cert_path, key_path, &both, error))
                return FALSE;
        if (both) {
                *out_source = VTC_AGENT_API_TLS_FILES;
                return TRUE;
        }
        if (nv_index == 0) {
                if (!vtc_agent_api_tls_make(uuid, &key, &cert, error) ||
                    !vtc_agent_api_tls_write(cert_path, key_path, key, cert, error))
                        return FALSE;
                *out_source = VTC_AGENT_API_TLS_MADE;
                return TRUE;
        }
        if ((nv_index >> 24) != TPM2_HT_NV_INDEX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "0x%08x is not an NV index (0x01000000-0x01ffffff)",
                            nv_index);
                return FALSE;
        }
        blob = vtc_agent_tpm_nv_load(tpm, nv_index, VTC_AGENT_API_TLS_NV_SIZE, &error_local);
        if (blob == NULL) {
                if (!g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                        g_propagate_prefixed_error(error,
                                                   g_steal_pointer(&error_local),
                                                   "the TLS identity in the vTPM: ");
                        return FALSE;
                }
                source = VTC_AGENT_API_TLS_MADE_NV;
        } else if (vtc_agent_api_tls_blob_parse(g_bytes_get_data(blob, NULL),
                                                g_bytes_get_size(blob),
                                                &key,
                                                &cert,
                                                &error_local)) {
                if (!vtc_agent_api_tls_write(cert_path, key_path, key, cert, error))
                        return FALSE;
                *out_source = VTC_AGENT_API_TLS_FROM_NV;
                return TRUE;
        } else if (g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED)) {
                /* never overwrite what a newer agent may still need */
                g_propagate_prefixed_error(error,
                                           g_steal_pointer(&error_local),
                                           "NV index 0x%08x: ",
                                           nv_index);
                return FALSE;
        } else {
                /* ours (size, attributes) but unreadable: a new identity beats none */
                why = g_strdup_printf("NV index 0x%08x holds no valid TLS identity: %s",
                                      nv_index,
                                      error_local->message);
                source = VTC_AGENT_API_TLS_REPLACED_NV;
        }
        g_clear_pointer(&blob, g_bytes_unref);
        if (!vtc_agent_api_tls_make(uuid, &key, &cert, error))
                return FALSE;
        blob = vtc_agent_api_tls_blob_pack(key, cert, VTC_AGENT_API_TLS_NV_SIZE, error);
        if (blob == NULL)
                return FALSE;
        if (!vtc_agent_tpm_nv_store(tpm, nv_index, blob, error)) {
                g_prefix_error(error,
                               "keeping the TLS identity in the vTPM ([tls] nv_index = 0 "
                               "keeps it in the state directory only): ");
                return FALSE;
        }
        if (!vtc_agent_api_tls_write(cert_path, key_path, key, cert, error))
                return FALSE;
        *out_source = source;
        if (out_replaced_why != NULL)
                *out_replaced_why = g_steal_pointer(&why);
        return TRUE;
}

gboolean
vtc_agent_api_tls_key_sha256(const gchar *cert_path,
                             guint8 out_sha256[32],
                             gchar **out_pem,
                             GError **error)
{
        g_autoptr(GBytes) data = vtc_file_read(cert_path, 64 * 1024, error);
        g_autoptr(BIO) bio = NULL;
        g_autoptr(X509) cert = NULL;
        guint8 *spki = NULL;
        int len;
        gboolean ok;

        if (data == NULL)
                return FALSE;
        bio = BIO_new_mem_buf(g_bytes_get_data(data, NULL), (int)g_bytes_get_size(data));
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert == NULL) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "%s is not a PEM certificate",
                                   cert_path);
                return FALSE;
        }
        len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki);
        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "%s: no public key", cert_path);
                return FALSE;
        }
        ok = vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), spki, (gsize)len, out_sha256, error);
        OPENSSL_free(spki);
        if (ok && out_pem != NULL) {
                g_autoptr(BIO) out = BIO_new(BIO_s_mem());
                gsize pem_len = 0;

                PEM_write_bio_X509(out, cert);
                *out_pem = vtc_agent_api_pem(out, &pem_len);
        }
        return ok;
}

/* ---- the server -------------------------------------------------------------------------- */

typedef struct _VtcAgentApiCall VtcAgentApiCall;

struct _VtcAgentApi {
        SoupServer *server;
        VtcAgentRound *round;
        gchar *version;
        guint port;
        GHashTable *calls; /* rounds in flight: their callbacks must not reply once we are gone */
};

struct _VtcAgentApiCall {
        VtcAgentApi *api; /* NULL once the API is freed */
        SoupServerMessage *msg;
};

static void
vtc_agent_api_call_free(VtcAgentApiCall *call)
{
        g_clear_object(&call->msg);
        g_free(call);
}

static void
vtc_agent_api_round_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcAgentApiCall *call = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) evidence = vtc_agent_round_run_finish(NULL, res, &error);

        if (call->api != NULL) {
                g_hash_table_remove(call->api->calls, call);
                if (evidence == NULL) {
                        vtc_http_reply_error(call->msg, error);
                } else {
                        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

                        json_node_set_object(node, evidence);
                        vtc_http_reply_json(call->msg, SOUP_STATUS_OK, node);
                }
                soup_server_message_unpause(call->msg);
        }
        vtc_agent_api_call_free(call);
}

static void
vtc_agent_api_round_cb(SoupServer *server,
                       SoupServerMessage *msg,
                       const char *path,
                       GHashTable *query,
                       gpointer user_data)
{
        VtcAgentApi *self = user_data;
        VtcJsonLimits limits = {VTC_AGENT_API_MAX_BODY, 8, 4096, 64};
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) body = NULL;
        VtcChannelRound round = {0};
        VtcAgentApiCall *call;

        if (soup_server_message_get_method(msg) != SOUP_METHOD_POST) {
                g_set_error(&error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "use POST on %s", path);
                vtc_http_reply_error(msg, error);
                return;
        }
        if (!vtc_http_is_authenticated(msg)) {
                g_set_error_literal(&error,
                                    VTC_ERROR,
                                    VTC_ERROR_UNAUTHORIZED,
                                    "a round needs a client certificate of the deployment's CA");
                vtc_http_reply_error(msg, error);
                return;
        }
        body = vtc_http_parse_body(msg, &limits, &error);
        if (body == NULL || !vtc_channel_round_from_json(body, NULL, &round, &error)) {
                vtc_http_reply_error(msg, error);
                return;
        }
        call = g_new0(VtcAgentApiCall, 1);
        call->api = self;
        call->msg = g_object_ref(msg);
        g_hash_table_add(self->calls, call);
        soup_server_message_pause(msg);
        vtc_agent_round_run_async(self->round, &round, NULL, vtc_agent_api_round_done, call);
}

static void
vtc_agent_api_version_cb(SoupServer *server,
                         SoupServerMessage *msg,
                         const char *path,
                         GHashTable *query,
                         gpointer user_data)
{
        VtcAgentApi *self = user_data;
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (soup_server_message_get_method(msg) != SOUP_METHOD_GET) {
                g_autoptr(GError) error =
                    g_error_new(VTC_ERROR, VTC_ERROR_NOT_FOUND, "use GET on %s", path);
                vtc_http_reply_error(msg, error);
                return;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "api");
        json_builder_add_string_value(b, "v1");
        json_builder_set_member_name(b, "agent");
        json_builder_add_string_value(b, self->version);
        json_builder_end_object(b);
        vtc_http_reply_builder(msg, SOUP_STATUS_OK, b);
}

VtcAgentApi *
vtc_agent_api_new(const VtcAgentApiOptions *options, VtcAgentRound *round, GError **error)
{
        g_autoptr(VtcAgentApi) self = g_new0(VtcAgentApi, 1);

        self->round = vtc_agent_round_ref(round);
        self->version = g_strdup(options->version != NULL ? options->version : "vtc-agent");
        self->calls = g_hash_table_new(NULL, NULL);
        self->server = vtc_http_server_new(options->cert_path,
                                           options->key_path,
                                           options->client_ca_path,
                                           VTC_AGENT_API_MAX_BODY,
                                           error);
        if (self->server == NULL)
                return NULL;
        vtc_http_server_add_handler(self->server, "/v1/round", vtc_agent_api_round_cb, self);
        vtc_http_server_add_handler(self->server, "/v1/version", vtc_agent_api_version_cb, self);
        if (!vtc_http_server_listen(self->server,
                                    options->address,
                                    options->port,
                                    &self->port,
                                    error))
                return NULL;
        return g_steal_pointer(&self);
}

void
vtc_agent_api_free(VtcAgentApi *self)
{
        GHashTableIter iter;
        gpointer call;

        if (self == NULL)
                return;
        if (self->calls != NULL) {
                g_hash_table_iter_init(&iter, self->calls);
                while (g_hash_table_iter_next(&iter, &call, NULL))
                        ((VtcAgentApiCall *)call)->api = NULL;
                g_hash_table_unref(self->calls);
        }
        if (self->server != NULL)
                soup_server_disconnect(self->server);
        g_clear_object(&self->server);
        vtc_agent_round_unref(self->round);
        g_free(self->version);
        g_free(self);
}

guint
vtc_agent_api_get_port(VtcAgentApi *self)
{
        return self->port;
}
