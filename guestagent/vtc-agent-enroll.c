/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-enroll.h"

#include <openssl/hmac.h>

#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_AGENT_ENROLL_MAX_BLOB 4096

static gint
vtc_agent_enroll_code_for_status(guint status)
{
        switch (status) {
        case 400:
                return VTC_ERROR_INVALID_DATA;
        case 401:
                return VTC_ERROR_UNAUTHORIZED;
        case 403:
                return VTC_ERROR_FORBIDDEN;
        case 404:
                return VTC_ERROR_NOT_FOUND;
        case 409:
                return VTC_ERROR_CONFLICT;
        case 411:
        case 413:
                return VTC_ERROR_TOO_LARGE;
        case 422:
                return VTC_ERROR_VERIFY_FAILED;
        default:
                return status >= 500 ? VTC_ERROR_UNAVAILABLE : VTC_ERROR_FAILED;
        }
}

static JsonObject *
vtc_agent_enroll_post(SoupSession *session, const gchar *url, JsonBuilder *b, GError **error)
{
        g_autofree gchar *body = vtc_json_builder_to_string(b);
        guint status = 0;
        g_autoptr(GBytes) reply =
            vtc_http_client_request(session, "POST", url, body, &status, error);
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) obj = NULL;
        g_autoptr(GError) error_local = NULL;

        if (reply == NULL)
                return NULL;
        obj = vtc_json_parse_object(g_bytes_get_data(reply, NULL),
                                    g_bytes_get_size(reply),
                                    &limits,
                                    &error_local);
        if (status != 200) {
                const gchar *code =
                    obj != NULL ? vtc_json_get_string(obj, "error", FALSE, NULL) : NULL;
                const gchar *msg =
                    obj != NULL ? vtc_json_get_string(obj, "message", FALSE, NULL) : NULL;

                g_set_error(error,
                            VTC_ERROR,
                            vtc_agent_enroll_code_for_status(status),
                            "POST %s: the registrar answered %u %s: %s",
                            url,
                            status,
                            code != NULL ? code : "",
                            msg != NULL ? msg : "no reason given");
                return NULL;
        }
        if (obj == NULL) {
                g_propagate_prefixed_error(error,
                                           g_steal_pointer(&error_local),
                                           "POST %s: the registrar's answer: ",
                                           url);
                return NULL;
        }
        return g_steal_pointer(&obj);
}

static void
vtc_agent_enroll_add_b64(JsonBuilder *b, const gchar *member, GBytes *data)
{
        vtc_json_builder_add_base64(b,
                                    member,
                                    g_bytes_get_data(data, NULL),
                                    g_bytes_get_size(data));
}

static void
vtc_agent_enroll_secret_free(GBytes *secret)
{
        gsize n = 0;
        gpointer p;

        if (secret == NULL)
                return;
        p = g_bytes_unref_to_data(secret, &n);
        vtc_secret_free(p, n);
}

gboolean
vtc_agent_enroll(VtcAgentTpm *tpm,
                 const VtcAgentEnrollOptions *options,
                 gchar **out_host_id,
                 GError **error)
{
        const gchar *why = NULL;
        GBytes *ek_cert = vtc_agent_tpm_get_ek_cert(tpm, &why);
        g_autoptr(SoupSession) session = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) answer = NULL;
        g_autoptr(GBytes) credential = NULL;
        g_autoptr(GBytes) secret_enc = NULL;
        GBytes *secret = NULL;
        g_autofree gchar *url = NULL;
        g_autofree gchar *host_id = NULL;
        g_autofree gchar *proof_hex = NULL;
        const gchar *s;
        guint8 proof[32];
        unsigned int proof_len = sizeof(proof);

        if (ek_cert == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "the vTPM has no EK certificate, the registrar needs one: %s",
                            why);
                return FALSE;
        }
        session = vtc_http_client_new(options->ca_path, NULL, NULL, error);
        if (session == NULL)
                return FALSE;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, options->uuid);
        vtc_agent_enroll_add_b64(b, "ek_public", vtc_agent_tpm_get_ek_public(tpm));
        vtc_agent_enroll_add_b64(b, "ek_cert", ek_cert);
        vtc_agent_enroll_add_b64(b, "ak_public", vtc_agent_tpm_get_ak_public(tpm));
        if (options->tls_cert_pem != NULL) {
                json_builder_set_member_name(b, "tls_cert");
                json_builder_add_string_value(b, options->tls_cert_pem);
        }
        json_builder_end_object(b);
        url = g_strdup_printf("%s/v1/agents", options->url);
        answer = vtc_agent_enroll_post(session, url, b, error);
        if (answer == NULL)
                return FALSE;
        credential =
            vtc_json_get_base64(answer, "credential_blob", VTC_AGENT_ENROLL_MAX_BLOB, TRUE, error);
        if (credential == NULL)
                return FALSE;
        secret_enc =
            vtc_json_get_base64(answer, "encrypted_secret", VTC_AGENT_ENROLL_MAX_BLOB, TRUE, error);
        if (secret_enc == NULL)
                return FALSE;
        s = vtc_json_get_string(answer, "host_id", FALSE, NULL);
        host_id = g_strdup(s);

        secret = vtc_agent_tpm_activate(tpm, credential, secret_enc, error);
        if (secret == NULL) {
                g_prefix_error(error, "ActivateCredential of the registrar's challenge: ");
                return FALSE;
        }
        HMAC(EVP_sha256(),
             g_bytes_get_data(secret, NULL),
             (int)g_bytes_get_size(secret),
             (const guint8 *)options->uuid,
             strlen(options->uuid),
             proof,
             &proof_len);
        vtc_agent_enroll_secret_free(secret);
        proof_hex = vtc_hex_encode(proof, sizeof(proof));
        explicit_bzero(proof, sizeof(proof));

        g_clear_object(&b);
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "proof");
        json_builder_add_string_value(b, proof_hex);
        json_builder_end_object(b);
        g_free(url);
        url = g_strdup_printf("%s/v1/agents/%s/activate", options->url, options->uuid);
        g_clear_pointer(&answer, json_object_unref);
        answer = vtc_agent_enroll_post(session, url, b, error);
        if (answer == NULL)
                return FALSE;
        if (out_host_id != NULL)
                *out_host_id = g_steal_pointer(&host_id);
        return TRUE;
}

typedef struct {
        VtcAgentTpm *tpm;
        gchar *url;
        gchar *ca_path;
        gchar *uuid;
        gchar *tls_cert_pem;
} VtcAgentEnrollJob;

static void
vtc_agent_enroll_job_free(VtcAgentEnrollJob *job)
{
        vtc_agent_tpm_unref(job->tpm);
        g_free(job->url);
        g_free(job->ca_path);
        g_free(job->uuid);
        g_free(job->tls_cert_pem);
        g_free(job);
}

static void
vtc_agent_enroll_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
        VtcAgentEnrollJob *job = data;
        VtcAgentEnrollOptions options = {
            .url = job->url,
            .ca_path = job->ca_path,
            .uuid = job->uuid,
            .tls_cert_pem = job->tls_cert_pem,
        };
        GError *error = NULL;
        gchar *host_id = NULL;
        if (vtc_agent_enroll(job->tpm, &options, &host_id, &error))
                g_task_return_pointer(task, host_id != NULL ? host_id : g_strdup(""), g_free);
        else
                g_task_return_error(task, error);
}

void
vtc_agent_enroll_async(VtcAgentTpm *tpm,
                       const VtcAgentEnrollOptions *options,
                       GCancellable *cancellable,
                       GAsyncReadyCallback callback,
                       gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
        VtcAgentEnrollJob *job = g_new0(VtcAgentEnrollJob, 1);

        job->tpm = vtc_agent_tpm_ref(tpm);
        job->url = g_strdup(options->url);
        job->ca_path = g_strdup(options->ca_path);
        job->uuid = g_strdup(options->uuid);
        job->tls_cert_pem = g_strdup(options->tls_cert_pem);
        g_task_set_source_tag(task, vtc_agent_enroll_async);
        g_task_set_task_data(task, job, (GDestroyNotify)vtc_agent_enroll_job_free);
        g_task_run_in_thread(task, vtc_agent_enroll_thread);
}

gboolean
vtc_agent_enroll_finish(GAsyncResult *result, gchar **out_host_id, GError **error)
{
        g_autofree gchar *host_id = g_task_propagate_pointer(G_TASK(result), error);

        if (host_id == NULL)
                return FALSE;
        if (out_host_id != NULL)
                *out_host_id = host_id[0] != '\0' ? g_steal_pointer(&host_id) : NULL;
        return TRUE;
}

gboolean
vtc_agent_enroll_error_is_transient(const GError *error)
{
        return g_error_matches(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE) ||
               g_error_matches(error, VTC_ERROR, VTC_ERROR_TIMEOUT) ||
               g_error_matches(error, VTC_ERROR, VTC_ERROR_TPM);
}
