/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include "vtc-config.h"

G_BEGIN_DECLS

/* The configuration keys of vtc-registrar (doc/registrar.md lists them). */
extern const VtcConfigKey vtc_registrar_config_schema[];

typedef struct _VtcRegistrar VtcRegistrar;

/* Opens the database and the EK trust store named by @config. */
VtcRegistrar *vtc_registrar_new(VtcConfig *config, GError **error);
void vtc_registrar_free(VtcRegistrar *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRegistrar, vtc_registrar_free)

/*
 * Answers one API request, whatever the transport: @path like "/v1/hosts/h1/activate", @body
 * the raw request body (may be NULL), @admin whether the caller showed a client certificate of
 * the deployment's CA. Returns the HTTP status and sets *@out_body to the JSON answer (always an
 * object; errors are {"error": code, "message": text}). Thread-safe.
 */
guint vtc_registrar_dispatch(VtcRegistrar *self,
                             const gchar *method,
                             const gchar *path,
                             GBytes *body,
                             gboolean admin,
                             gchar **out_body);

/* Serves the API over HTTPS on the thread-default main context. */
gboolean vtc_registrar_listen(VtcRegistrar *self, guint *out_port, GError **error);

G_END_DECLS
