/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-json.h"
#include "vtc-verifier-round.h"
#include "vtc-verifier-store.h"
#include "vtc-verifier-webhook.h"

G_BEGIN_DECLS

/* The REST API of doc/api/verifier.md, independent of the transport. */
typedef struct _VtcVerifierApi VtcVerifierApi;

/* @round may be NULL (tests of the API alone): VMs are then only stored. */
VtcVerifierApi *vtc_verifier_api_new(VtcVerifierStore *store,
                                     VtcVerifierRound *round,
                                     VtcVerifierWebhook *webhook,
                                     const VtcJsonLimits *limits);
void vtc_verifier_api_free(VtcVerifierApi *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierApi, vtc_verifier_api_free)

/*
 * Answers one request: @path like "/v1/vms/<uuid>/history", @query its decoded parameters (may
 * be NULL), @body the raw body (may be NULL), @authenticated whether the caller showed a client
 * certificate of the deployment's CA. Returns the HTTP status; *@out_body gets the answer and
 * *@out_content_type its type ("application/json", or Prometheus text for /metrics). Runs on the
 * loop's thread.
 */
guint vtc_verifier_api_dispatch(VtcVerifierApi *self,
                                const gchar *method,
                                const gchar *path,
                                GHashTable *query,
                                GBytes *body,
                                gboolean authenticated,
                                const gchar **out_content_type,
                                gchar **out_body);

G_END_DECLS
