/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>

#include "vtc-agent-tpm.h"

G_BEGIN_DECLS

/*
 * Enrollment with the registrar (doc/api/registrar.md, ARCHITECTURE.md §5): POST /v1/agents
 * with the VM UUID, the vTPM's EK and EK certificate, the AK and the TLS certificate; then
 * ActivateCredential of the challenge with the EK, and POST /v1/agents/{id}/activate with
 * hex(HMAC-SHA256(secret, id)). Enrolling again (every start) renews the registration.
 */
typedef struct {
        const gchar *url;          /* https://registrar:8891 */
        const gchar *ca_path;      /* the CA of the registrar's TLS certificate */
        const gchar *uuid;         /* lower-case VM UUID */
        const gchar *tls_cert_pem; /* may be NULL */
} VtcAgentEnrollOptions;

/*
 * One attempt. VTC_ERROR_UNAVAILABLE when the registrar gave no answer or a 5xx (worth another
 * try, see vtc_agent_enroll_error_is_transient()); a refusal keeps the registrar's status as the
 * code (403 FORBIDDEN, 409 CONFLICT, 422 VERIFY_FAILED, ...) and its message.
 * *@out_host_id: the host that made this vTPM, NULL for a bare-metal TPM (may be NULL).
 */
gboolean vtc_agent_enroll(VtcAgentTpm *tpm,
                          const VtcAgentEnrollOptions *options,
                          gchar **out_host_id,
                          GError **error);
/* The same in a worker thread (its own HTTP session there). */
void vtc_agent_enroll_async(VtcAgentTpm *tpm,
                            const VtcAgentEnrollOptions *options,
                            GCancellable *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer user_data);
gboolean vtc_agent_enroll_finish(GAsyncResult *result, gchar **out_host_id, GError **error);

gboolean vtc_agent_enroll_error_is_transient(const GError *error);

G_END_DECLS
