/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-config.h"
#include "vtc-verifier-api.h"

G_BEGIN_DECLS

/* The configuration keys of vtc-verifier (doc/verifier.md "The daemon" lists them). */
extern const VtcConfigKey vtc_verifier_config_schema[];

typedef struct _VtcVerifier VtcVerifier;

/* Opens the database and the revocation key, loads every watched VM and starts their rounds on
 * the thread-default main context. */
VtcVerifier *vtc_verifier_new(VtcConfig *config, GError **error);
/* Stops the rounds and writes what is pending. */
void vtc_verifier_free(VtcVerifier *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifier, vtc_verifier_free)

VtcVerifierApi *vtc_verifier_get_api(VtcVerifier *self);

/* Serves the API over HTTPS (mutual TLS) on the thread-default main context. */
gboolean vtc_verifier_listen(VtcVerifier *self, guint *out_port, GError **error);

G_END_DECLS
