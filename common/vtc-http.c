/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-http.h"

#include "vtc-error.h"

#define VTC_HTTP_MAX_BODY_KEY "vtc-http-max-body"

static void
vtc_http_reply_raw(SoupServerMessage *msg, guint status, gchar *body)
{
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg,
                                         "application/json",
                                         SOUP_MEMORY_TAKE,
                                         body,
                                         strlen(body));
}

void
vtc_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *body)
{
        vtc_http_reply_raw(msg, status, vtc_json_node_to_string(body));
}

void
vtc_http_reply_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder)
{
        vtc_http_reply_raw(msg, status, vtc_json_builder_to_string(builder));
}

void
vtc_http_reply_error(SoupServerMessage *msg, const GError *error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, vtc_error_to_string(error));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, error != NULL ? error->message : "unknown error");
        json_builder_end_object(b);
        vtc_http_reply_builder(msg, vtc_error_to_http_status(error), b);
}

/* Runs once the headers are in, before the body is read: an oversized or unbounded body is
 * refused without reading it. */
static void
vtc_http_early_cb(SoupServer *server,
                  SoupServerMessage *msg,
                  const char *path,
                  GHashTable *query,
                  gpointer user_data)
{
        gsize max_body = GPOINTER_TO_SIZE(user_data);
        SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
        SoupEncoding enc = soup_message_headers_get_encoding(headers);
        g_autoptr(GError) error = NULL;

        if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "a request body needs a Content-Length");
                vtc_http_reply_error(msg, error);
                soup_server_message_set_status(msg, 411, NULL);
                soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                             "Connection",
                                             "close");
                return;
        }
        if (enc == SOUP_ENCODING_CONTENT_LENGTH &&
            (gsize)soup_message_headers_get_content_length(headers) > max_body) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "request body over the limit of %" G_GSIZE_FORMAT " bytes",
                                    max_body);
                vtc_http_reply_error(msg, error);
                soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                             "Connection",
                                             "close");
        }
}

/* libsoup 3.2 turns every client certificate away, even a valid one, unless this signal is
 * handled: take it, and let vtc_http_has_client_cert() judge the recorded errors per request. */
static gboolean
vtc_http_accept_certificate_cb(SoupServerMessage *msg,
                               GTlsCertificate *cert,
                               GTlsCertificateFlags errors,
                               gpointer user_data)
{
        return TRUE;
}

static void
vtc_http_request_started_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
        g_signal_connect(msg,
                         "accept-certificate",
                         G_CALLBACK(vtc_http_accept_certificate_cb),
                         NULL);
}

void
vtc_http_server_add_handler(SoupServer *server,
                            const gchar *path,
                            SoupServerCallback callback,
                            gpointer user_data)
{
        gpointer max_body = g_object_get_data(G_OBJECT(server), VTC_HTTP_MAX_BODY_KEY);

        /* early handlers are per path: each path gets the body limit */
        soup_server_add_early_handler(server, path, vtc_http_early_cb, max_body, NULL);
        soup_server_add_handler(server, path, callback, user_data, NULL);
}

/* Every path answers with a status and a JSON body, unknown ones too. */
static void
vtc_http_not_found_cb(SoupServer *server,
                      SoupServerMessage *msg,
                      const char *path,
                      GHashTable *query,
                      gpointer user_data)
{
        g_autoptr(GError) error =
            g_error_new(VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource: %s", path);
        vtc_http_reply_error(msg, error);
}

SoupServer *
vtc_http_server_new(const gchar *cert_file,
                    const gchar *key_file,
                    const gchar *client_ca_file,
                    gsize max_body,
                    GError **error)
{
        g_autoptr(GTlsCertificate) cert = NULL;
        g_autoptr(GTlsDatabase) db = NULL;
        g_autoptr(GError) error_local = NULL;
        SoupServer *server;

        cert = g_tls_certificate_new_from_files(cert_file, key_file, &error_local);
        if (cert == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "loading the TLS certificate %s and key %s: %s",
                            cert_file,
                            key_file,
                            error_local->message);
                return NULL;
        }
        if (client_ca_file != NULL) {
                db = g_tls_file_database_new(client_ca_file, &error_local);
                if (db == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "loading the client CA %s: %s",
                                    client_ca_file,
                                    error_local->message);
                        return NULL;
                }
        }
        server = soup_server_new("tls-certificate", cert, "server-header", "vtc", NULL);
        if (db != NULL) {
                soup_server_set_tls_database(server, db);
                soup_server_set_tls_auth_mode(server, G_TLS_AUTHENTICATION_REQUESTED);
        }
        g_signal_connect(server, "request-started", G_CALLBACK(vtc_http_request_started_cb), NULL);
        g_object_set_data(G_OBJECT(server), VTC_HTTP_MAX_BODY_KEY, GSIZE_TO_POINTER(max_body));
        vtc_http_server_add_handler(server, NULL, vtc_http_not_found_cb, NULL);
        return server;
}

gboolean
vtc_http_server_listen(SoupServer *server,
                       const gchar *address,
                       guint port,
                       guint *out_port,
                       GError **error)
{
        g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
        g_autoptr(GSocketAddress) sa = NULL;
        g_autoptr(GError) error_local = NULL;
        GSList *uris;

        if (inet == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "'%s' is not an IP address",
                            address);
                return FALSE;
        }
        sa = g_inet_socket_address_new(inet, (guint16)port);
        if (!soup_server_listen(server, sa, SOUP_SERVER_LISTEN_HTTPS, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "listening on %s port %u: %s",
                            address,
                            port,
                            error_local->message);
                return FALSE;
        }
        uris = soup_server_get_uris(server);
        if (out_port != NULL && uris != NULL)
                *out_port = (guint)g_uri_get_port(uris->data);
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        return TRUE;
}

gboolean
vtc_http_has_client_cert(SoupServerMessage *msg)
{
        return soup_server_message_get_tls_peer_certificate(msg) != NULL &&
               soup_server_message_get_tls_peer_certificate_errors(msg) == 0;
}

#define VTC_HTTP_AUTH_KEY "vtc-http-client-cert"

gboolean
vtc_http_is_authenticated(SoupServerMessage *msg)
{
        GSocket *sock = soup_server_message_get_socket(msg);

        if (vtc_http_has_client_cert(msg)) {
                if (sock != NULL)
                        g_object_set_data(G_OBJECT(sock), VTC_HTTP_AUTH_KEY, GINT_TO_POINTER(1));
                return TRUE;
        }
        return sock != NULL && g_object_get_data(G_OBJECT(sock), VTC_HTTP_AUTH_KEY) != NULL;
}

JsonObject *
vtc_http_parse_body(SoupServerMessage *msg, const VtcJsonLimits *limits, GError **error)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = soup_message_body_flatten(body);
        gsize len = 0;
        const gchar *text = g_bytes_get_data(data, &len);

        if (len == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the request has no JSON body");
                return NULL;
        }
        return vtc_json_parse_object(text, len, limits, error);
}

SoupSession *
vtc_http_client_new(const gchar *ca_file,
                    const gchar *cert_file,
                    const gchar *key_file,
                    GError **error)
{
        g_autoptr(GTlsDatabase) db = NULL;
        g_autoptr(GError) error_local = NULL;
        g_autoptr(SoupSession) session = NULL;

        db = g_tls_file_database_new(ca_file, &error_local);
        if (db == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "loading the CA %s: %s",
                            ca_file,
                            error_local->message);
                return NULL;
        }
        session = soup_session_new_with_options("tls-database", db, "timeout", 30, NULL);
        /* vtc talks to its own peers by address: never through a proxy from the environment
         * (which would also pull in libproxy) */
        soup_session_set_proxy_resolver(session, NULL);
        if (cert_file != NULL) {
                GTlsCertificate *cert =
                    g_tls_certificate_new_from_files(cert_file, key_file, &error_local);
                if (cert == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "loading the client certificate %s: %s",
                                    cert_file,
                                    error_local->message);
                        return NULL;
                }
                g_object_set_data_full(G_OBJECT(session), "vtc-client-cert", cert, g_object_unref);
        }
        return g_steal_pointer(&session);
}

SoupMessage *
vtc_http_client_message_new(SoupSession *session,
                            const gchar *method,
                            const gchar *url,
                            const gchar *body,
                            GError **error)
{
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        GTlsCertificate *cert = g_object_get_data(G_OBJECT(session), "vtc-client-cert");

        if (msg == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT, "bad URL '%s'", url);
                return NULL;
        }
        if (cert != NULL)
                soup_message_set_tls_client_certificate(msg, cert);
        if (body != NULL) {
                g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
                soup_message_set_request_body_from_bytes(msg, "application/json", b);
        }
        soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);
        return g_steal_pointer(&msg);
}

GBytes *
vtc_http_client_request(SoupSession *session,
                        const gchar *method,
                        const gchar *url,
                        const gchar *body,
                        guint *out_status,
                        GError **error)
{
        g_autoptr(SoupMessage) msg = vtc_http_client_message_new(session, method, url, body, error);
        g_autoptr(GError) error_local = NULL;
        GBytes *reply;

        if (msg == NULL)
                return NULL;
        reply = soup_session_send_and_read(session, msg, NULL, &error_local);
        if (reply == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_UNAVAILABLE,
                            "%s %s: %s",
                            method,
                            url,
                            error_local->message);
                return NULL;
        }
        *out_status = soup_message_get_status(msg);
        return reply;
}
