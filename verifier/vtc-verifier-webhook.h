/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * Revocation events (doc/api/verifier.md "Revocation events and their signature"): an event
 * object signed with the verifier's ECDSA P-256 key over its canonical JSON (RFC 8785), POSTed
 * as {"event": {...}, "signature": "<base64 DER>"} to every configured webhook with bounded
 * retries, on the thread-default main context (never blocking it).
 */

/* RFC 8785 canonical form of @node (objects with sorted members, no whitespace). Numbers must be
 * integers (what vtc events hold): doubles are refused with VTC_ERROR_NOT_SUPPORTED. */
gchar *vtc_verifier_json_canonical(JsonNode *node, GError **error);

/* Checks a webhook body against @public_key_pem: the signature must verify over the canonical
 * form of "event". Returns the event object (a new reference) on success, else
 * VTC_ERROR_VERIFY_FAILED / VTC_ERROR_INVALID_DATA. */
JsonObject *vtc_verifier_webhook_verify(const gchar *public_key_pem,
                                        const gchar *body,
                                        gsize len,
                                        GError **error);

typedef struct _VtcVerifierWebhook VtcVerifierWebhook;

typedef struct {
        const gchar *state_dir;   /* holds revocation.key (0600) and revocation.pub */
        const gchar *const *urls; /* NULL-terminated, may be NULL or empty */
        const gchar *ca_file;     /* for https:// webhooks; NULL: plain HTTP only */
        const gchar *cert_file;   /* client certificate for https:// (may be NULL) */
        const gchar *key_file;
        guint retries;    /* attempts per webhook, >= 1 */
        guint retry_ms;   /* first delay between attempts; doubled each time */
        guint timeout_ms; /* one attempt */
} VtcVerifierWebhookConfig;

/* Loads the signing key from @config->state_dir, creating it (and the directory) at first. */
VtcVerifierWebhook *vtc_verifier_webhook_new(const VtcVerifierWebhookConfig *config,
                                             GError **error);
void vtc_verifier_webhook_free(VtcVerifierWebhook *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierWebhook, vtc_verifier_webhook_free)

/* hex SHA-256 of the DER SubjectPublicKeyInfo */
const gchar *vtc_verifier_webhook_get_key_id(VtcVerifierWebhook *self);
const gchar *vtc_verifier_webhook_get_public_pem(VtcVerifierWebhook *self);

/* Builds and signs the event {type, id, vm, reason, message, evidence_digest, time, key_id};
 * *@out_event gets its canonical JSON, *@out_signature the base64 DER signature. */
gboolean vtc_verifier_webhook_sign(VtcVerifierWebhook *self,
                                   const gchar *vm,
                                   const gchar *reason,
                                   const gchar *message,
                                   const gchar *evidence_digest,
                                   gint64 time,
                                   gchar **out_event,
                                   gchar **out_signature,
                                   GError **error);

/* Called once every webhook has taken the event or run out of attempts. */
typedef void (*VtcVerifierWebhookDoneFunc)(guint delivered, guint undelivered, gpointer user_data);

/* POSTs the signed event to every webhook; @done (may be NULL) runs on the main context. */
void vtc_verifier_webhook_deliver(VtcVerifierWebhook *self,
                                  const gchar *event,
                                  const gchar *signature,
                                  VtcVerifierWebhookDoneFunc done,
                                  gpointer user_data);

/* Counters for /metrics. */
void vtc_verifier_webhook_get_counts(VtcVerifierWebhook *self,
                                     guint64 *out_delivered,
                                     guint64 *out_retried,
                                     guint64 *out_abandoned);
/* Deliveries still running. */
guint vtc_verifier_webhook_get_in_flight(VtcVerifierWebhook *self);

G_END_DECLS
