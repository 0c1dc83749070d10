/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "vtc-json.h"

G_BEGIN_DECLS

/*
 * HTTPS for the daemons (libsoup-3 on GLib's main loop) and a small synchronous client for
 * tools and tests. Every answer is JSON with an explicit status; errors are
 * {"error": "<stable code>", "message": "..."} with the status from vtc-error's table.
 */

/* A TLS server with @cert_file/@key_file. With @client_ca_file, clients are asked (not forced)
 * for a certificate: vtc_http_has_client_cert() tells per request whether one chained to it.
 * Request bodies over @max_body bytes, or of unknown length, are refused before being read. */
SoupServer *vtc_http_server_new(const gchar *cert_file,
                                const gchar *key_file,
                                const gchar *client_ca_file,
                                gsize max_body,
                                GError **error);
/* soup_server_add_handler() with the body limit applied to @path. */
void vtc_http_server_add_handler(SoupServer *server,
                                 const gchar *path,
                                 SoupServerCallback callback,
                                 gpointer user_data);
/* Listens on @address:@port (port 0: any free port, reported in *@out_port). */
gboolean vtc_http_server_listen(SoupServer *server,
                                const gchar *address,
                                guint port,
                                guint *out_port,
                                GError **error);

/* TRUE when the client presented a certificate that chains to the client CA. */
gboolean vtc_http_has_client_cert(SoupServerMessage *msg);
/*
 * vtc_http_has_client_cert() for every request of a kept-alive connection: libsoup 3.2 hands a
 * message the peer certificate only on the request that completed the TLS handshake, and later
 * requests on the connection look anonymous. A TLS connection has one client identity for its
 * life (the server never renegotiates), so the connection's socket remembers that its handshake
 * showed a valid certificate. A connection whose handshake showed none, or an invalid one, is
 * never marked: every request on it stays anonymous.
 */
gboolean vtc_http_is_authenticated(SoupServerMessage *msg);

void vtc_http_reply_json(SoupServerMessage *msg, guint status, JsonNode *body);
void vtc_http_reply_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder);
void vtc_http_reply_error(SoupServerMessage *msg, const GError *error);
/* Parses the request body as a JSON object under @limits (the error is ready for
 * vtc_http_reply_error()). */
JsonObject *
vtc_http_parse_body(SoupServerMessage *msg, const VtcJsonLimits *limits, GError **error);

/* Client: trusts only @ca_file; presents @cert_file/@key_file when given. */
SoupSession *vtc_http_client_new(const gchar *ca_file,
                                 const gchar *cert_file,
                                 const gchar *key_file,
                                 GError **error);
/*
 * A request for @session: the session's client certificate, @body (may be NULL) as JSON, and
 * marked idempotent so that it reuses a kept-alive connection. libsoup otherwise opens a new TLS
 * connection for every POST (each costing a handshake, and in glib-networking 2.74 a parse of
 * the system trust store); every vtc POST may be repeated safely (register hands out a fresh
 * challenge, activate and vtpm-ca answer a repeat with 409 or the same result).
 */
SoupMessage *vtc_http_client_message_new(SoupSession *session,
                                         const gchar *method,
                                         const gchar *url,
                                         const gchar *body,
                                         GError **error);
/* Sends @body (may be NULL) and returns the response body; *@out_status gets the status.
 * Fails only when no HTTP answer came back. */
GBytes *vtc_http_client_request(SoupSession *session,
                                const gchar *method,
                                const gchar *url,
                                const gchar *body,
                                guint *out_status,
                                GError **error);

G_END_DECLS
