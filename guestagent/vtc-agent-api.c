/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-api.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_AGENT_API_MAX_BODY  (16 * 1024)
#define VTC_AGENT_API_CERT_DAYS 3650

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

gboolean
vtc_agent_api_tls_ensure(const gchar *cert_path,
                         const gchar *key_path,
                         const gchar *uuid,
                         GError **error)
{
        gboolean have_cert = g_file_test(cert_path, G_FILE_TEST_EXISTS);
        gboolean have_key = g_file_test(key_path, G_FILE_TEST_EXISTS);
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        g_autoptr(BIGNUM) serial = BN_new();
        g_autoptr(BIO) key_bio = BIO_new(BIO_s_mem());
        g_autoptr(BIO) cert_bio = BIO_new(BIO_s_mem());
        g_autofree gchar *cn = g_strdup_printf("vtc-agent %s", uuid);
        g_autofree gchar *san = g_strdup_printf("DNS:%s", uuid);
        g_autofree gchar *key_pem = NULL;
        g_autofree gchar *cert_pem = NULL;
        gsize key_len = 0;
        gsize cert_len = 0;
        X509_NAME *name;
        gboolean ok;

        if (have_cert && have_key)
                return TRUE;
        if (have_cert || have_key) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "%s exists but %s does not: restore it, or remove both to make a "
                            "new TLS key (which must then be enrolled again)",
                            have_cert ? cert_path : key_path,
                            have_cert ? key_path : cert_path);
                return FALSE;
        }
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
        if (!PEM_write_bio_PrivateKey(key_bio, key, NULL, NULL, 0, NULL, NULL) ||
            !PEM_write_bio_X509(cert_bio, cert)) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the agent's TLS key");
                return FALSE;
        }
        key_pem = vtc_agent_api_pem(key_bio, &key_len);
        cert_pem = vtc_agent_api_pem(cert_bio, &cert_len);
        ok = vtc_file_write_atomic(key_path, (const guint8 *)key_pem, key_len, 0600, error) &&
             vtc_file_write_atomic(cert_path, (const guint8 *)cert_pem, cert_len, 0644, error);
        explicit_bzero(key_pem, key_len);
        return ok;
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
        if (!vtc_http_has_client_cert(msg)) {
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
