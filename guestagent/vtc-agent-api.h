/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-agent-round.h"

G_BEGIN_DECLS

/*
 * Direct mode (doc/channel.md, doc/agent.md): HTTPS with the agent's own TLS key, the one it
 * registered at enrollment and binds into every quote (qualifyingData = SHA-256(nonce ||
 * SHA-256(SPKI))). POST /v1/round needs a client certificate of the deployment's CA;
 * GET /v1/version does not.
 */

/* The agent's TLS key and self-signed certificate: made (ECDSA P-256, CN "vtc-agent
 * @uuid", SAN DNS:@uuid, key 0600) when neither file exists; kept otherwise. One without the
 * other is an error. */
gboolean vtc_agent_api_tls_ensure(const gchar *cert_path,
                                  const gchar *key_path,
                                  const gchar *uuid,
                                  GError **error);
/* SHA-256 of the certificate's DER SubjectPublicKeyInfo, and the certificate as PEM. */
gboolean vtc_agent_api_tls_key_sha256(const gchar *cert_path,
                                      guint8 out_sha256[32],
                                      gchar **out_pem,
                                      GError **error);

typedef struct {
        const gchar *cert_path;
        const gchar *key_path;
        const gchar *client_ca_path; /* the deployment's CA: verifiers' client certificates */
        const gchar *address;
        guint port;           /* 0: any free port */
        const gchar *version; /* "vtc-agent 0.1.0" */
} VtcAgentApiOptions;

typedef struct _VtcAgentApi VtcAgentApi;

/* Listens at once; keeps a reference on @round. */
VtcAgentApi *
vtc_agent_api_new(const VtcAgentApiOptions *options, VtcAgentRound *round, GError **error);
void vtc_agent_api_free(VtcAgentApi *self);
guint vtc_agent_api_get_port(VtcAgentApi *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentApi, vtc_agent_api_free)

G_END_DECLS
