/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier-webhook.h"

#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_WEBHOOK_KEY_FILE  "revocation.key"
#define VTC_WEBHOOK_PUB_FILE  "revocation.pub"
#define VTC_WEBHOOK_MAX_KEY   16384
#define VTC_WEBHOOK_MAX_DEPTH 32

struct _VtcVerifierWebhook {
        EVP_PKEY *key;
        gchar *key_id;
        gchar *public_pem;
        GStrv urls;
        SoupSession *session;
        guint retries;
        guint retry_ms;
        guint in_flight;
        guint64 delivered;
        guint64 retried;
        guint64 abandoned;
        gboolean *alive; /* shared with deliveries, cleared when freed */
};

/* ---- canonical JSON (RFC 8785 for strings, integers, booleans, null) ---------------------- */

static void
vtc_canonical_string(GString *out, const gchar *s)
{
        g_string_append_c(out, '"');
        for (const guchar *p = (const guchar *)s; *p != '\0'; p++) {
                switch (*p) {
                case '"':
                        g_string_append(out, "\\\"");
                        break;
                case '\\':
                        g_string_append(out, "\\\\");
                        break;
                case '\b':
                        g_string_append(out, "\\b");
                        break;
                case '\f':
                        g_string_append(out, "\\f");
                        break;
                case '\n':
                        g_string_append(out, "\\n");
                        break;
                case '\r':
                        g_string_append(out, "\\r");
                        break;
                case '\t':
                        g_string_append(out, "\\t");
                        break;
                default:
                        if (*p < 0x20)
                                g_string_append_printf(out, "\\u%04x", (guint)*p);
                        else
                                g_string_append_c(out, (gchar)*p);
                }
        }
        g_string_append_c(out, '"');
}

/* RFC 8785 sorts member names by their UTF-16 code units; for names that are all in the BMP
 * below the surrogates (every vtc name is ASCII) that is the order of their UTF-8 bytes. */
static gint
vtc_canonical_compare(gconstpointer a, gconstpointer b)
{
        return strcmp(*(const gchar *const *)a, *(const gchar *const *)b);
}

static gboolean
vtc_canonical_node(GString *out, JsonNode *node, guint depth, GError **error)
{
        if (depth > VTC_WEBHOOK_MAX_DEPTH) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_TOO_LARGE, "JSON nested too deep");
                return FALSE;
        }
        switch (json_node_get_node_type(node)) {
        case JSON_NODE_NULL:
                g_string_append(out, "null");
                return TRUE;
        case JSON_NODE_ARRAY: {
                JsonArray *a = json_node_get_array(node);
                g_string_append_c(out, '[');
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        if (i > 0)
                                g_string_append_c(out, ',');
                        if (!vtc_canonical_node(out,
                                                json_array_get_element(a, i),
                                                depth + 1,
                                                error))
                                return FALSE;
                }
                g_string_append_c(out, ']');
                return TRUE;
        }
        case JSON_NODE_OBJECT: {
                JsonObject *o = json_node_get_object(node);
                g_autoptr(GList) members = json_object_get_members(o);
                g_autoptr(GPtrArray) names = g_ptr_array_new();

                for (GList *l = members; l != NULL; l = l->next)
                        g_ptr_array_add(names, l->data);
                g_ptr_array_sort(names, vtc_canonical_compare);
                g_string_append_c(out, '{');
                for (guint i = 0; i < names->len; i++) {
                        const gchar *name = g_ptr_array_index(names, i);
                        if (i > 0)
                                g_string_append_c(out, ',');
                        vtc_canonical_string(out, name);
                        g_string_append_c(out, ':');
                        if (!vtc_canonical_node(out,
                                                json_object_get_member(o, name),
                                                depth + 1,
                                                error))
                                return FALSE;
                }
                g_string_append_c(out, '}');
                return TRUE;
        }
        case JSON_NODE_VALUE:
                break;
        }
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
                vtc_canonical_string(out, json_node_get_string(node));
                return TRUE;
        case G_TYPE_INT64:
                g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(node));
                return TRUE;
        case G_TYPE_BOOLEAN:
                g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
                return TRUE;
        default:
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_NOT_SUPPORTED,
                                    "only integers, strings, booleans and null are canonicalised");
                return FALSE;
        }
}

gchar *
vtc_verifier_json_canonical(JsonNode *node, GError **error)
{
        g_autoptr(GString) out = g_string_new(NULL);

        if (!vtc_canonical_node(out, node, 0, error))
                return NULL;
        return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- the key ------------------------------------------------------------------------------ */

static EVP_PKEY *
vtc_webhook_load_or_create_key(const gchar *state_dir, GError **error)
{
        g_autofree gchar *path = g_build_filename(state_dir, VTC_WEBHOOK_KEY_FILE, NULL);
        g_autofree gchar *pub_path = g_build_filename(state_dir, VTC_WEBHOOK_PUB_FILE, NULL);
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(BIO) bio = NULL;
        g_autoptr(BIO) pub = NULL;
        BUF_MEM *mem = NULL;
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GBytes) pem = vtc_file_read(path, VTC_WEBHOOK_MAX_KEY, &error_local);
        gsize group_len = 0;
        gchar group_buf[64];

        if (pem != NULL) {
                bio = BIO_new_mem_buf(g_bytes_get_data(pem, NULL), (int)g_bytes_get_size(pem));
                key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
                if (key == NULL) {
                        vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "reading %s", path);
                        return NULL;
                }
                if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
                    EVP_PKEY_get_utf8_string_param(key,
                                                   "group",
                                                   group_buf,
                                                   sizeof(group_buf),
                                                   &group_len) != 1 ||
                    g_strcmp0(group_buf, "prime256v1") != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: not an ECDSA P-256 key",
                                    path);
                        return NULL;
                }
                return g_steal_pointer(&key);
        }
        if (!g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT) &&
            !g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                g_propagate_prefixed_error(error, g_steal_pointer(&error_local), "%s: ", path);
                return NULL;
        }
        if (g_mkdir_with_parents(state_dir, 0700) != 0) {
                int e = errno;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating %s: %s",
                            state_dir,
                            g_strerror(e));
                return NULL;
        }
        key = EVP_EC_gen("P-256");
        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating the revocation key");
                return NULL;
        }
        bio = BIO_new(BIO_s_mem());
        if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the revocation key");
                return NULL;
        }
        BIO_get_mem_ptr(bio, &mem);
        if (!vtc_file_write_atomic(path, (const guint8 *)mem->data, mem->length, 0600, error))
                return NULL;
        pub = BIO_new(BIO_s_mem());
        if (PEM_write_bio_PUBKEY(pub, key) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the revocation key");
                return NULL;
        }
        BIO_get_mem_ptr(pub, &mem);
        if (!vtc_file_write_atomic(pub_path, (const guint8 *)mem->data, mem->length, 0644, error))
                return NULL;
        return g_steal_pointer(&key);
}

void
vtc_verifier_webhook_free(VtcVerifierWebhook *self)
{
        if (self == NULL)
                return;
        /* deliveries still running keep their own references and see this flag */
        if (self->alive != NULL) {
                *self->alive = FALSE;
                g_rc_box_release(self->alive);
        }
        g_clear_pointer(&self->key, EVP_PKEY_free);
        g_free(self->key_id);
        g_free(self->public_pem);
        g_strfreev(self->urls);
        g_clear_object(&self->session);
        g_free(self);
}

VtcVerifierWebhook *
vtc_verifier_webhook_new(const VtcVerifierWebhookConfig *config, GError **error)
{
        g_autoptr(VtcVerifierWebhook) self = g_new0(VtcVerifierWebhook, 1);
        g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
        BUF_MEM *mem = NULL;
        guint8 *der = NULL;
        int der_len;
        guint8 digest[32];

        self->key = vtc_webhook_load_or_create_key(config->state_dir, error);
        if (self->key == NULL)
                return NULL;
        der_len = i2d_PUBKEY(self->key, &der);
        if (der_len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the revocation key");
                return NULL;
        }
        EVP_Digest(der, (size_t)der_len, digest, NULL, EVP_sha256(), NULL);
        OPENSSL_free(der);
        self->key_id = vtc_hex_encode(digest, sizeof(digest));
        if (PEM_write_bio_PUBKEY(bio, self->key) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding the revocation key");
                return NULL;
        }
        BIO_get_mem_ptr(bio, &mem);
        self->public_pem = g_strndup(mem->data, mem->length);
        self->urls = g_strdupv((gchar **)config->urls);
        if (self->urls == NULL)
                self->urls = g_new0(gchar *, 1);
        for (guint i = 0; self->urls[i] != NULL; i++) {
                g_autoptr(GUri) uri = g_uri_parse(self->urls[i], G_URI_FLAGS_NONE, NULL);
                if (uri == NULL || (g_strcmp0(g_uri_get_scheme(uri), "https") != 0 &&
                                    g_strcmp0(g_uri_get_scheme(uri), "http") != 0)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "webhook '%s' is not an http:// or https:// URL",
                                    self->urls[i]);
                        return NULL;
                }
        }
        if (config->ca_file != NULL) {
                self->session = vtc_http_client_new(config->ca_file,
                                                    config->cert_file,
                                                    config->key_file,
                                                    error);
                if (self->session == NULL)
                        return NULL;
        } else {
                self->session = soup_session_new();
                soup_session_set_proxy_resolver(self->session, NULL);
        }
        g_object_set(self->session, "timeout", MAX(1u, config->timeout_ms / 1000), NULL);
        self->retries = MAX(1u, config->retries);
        self->retry_ms = config->retry_ms;
        self->alive = g_rc_box_new(gboolean);
        *self->alive = TRUE;
        return g_steal_pointer(&self);
}

const gchar *
vtc_verifier_webhook_get_key_id(VtcVerifierWebhook *self)
{
        return self->key_id;
}

const gchar *
vtc_verifier_webhook_get_public_pem(VtcVerifierWebhook *self)
{
        return self->public_pem;
}

gboolean
vtc_verifier_webhook_sign(VtcVerifierWebhook *self,
                          const gchar *vm,
                          const gchar *reason,
                          const gchar *message,
                          const gchar *evidence_digest,
                          gint64 time,
                          gchar **out_event,
                          gchar **out_signature,
                          GError **error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) node = NULL;
        g_autofree gchar *id = g_uuid_string_random();
        g_autofree gchar *canonical = NULL;
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
        g_autofree guint8 *sig = NULL;
        size_t sig_len = 0;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, "revocation");
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, id);
        json_builder_set_member_name(b, "vm");
        json_builder_add_string_value(b, vm);
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, reason);
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, message != NULL ? message : "");
        json_builder_set_member_name(b, "evidence_digest");
        json_builder_add_string_value(b, evidence_digest != NULL ? evidence_digest : "");
        json_builder_set_member_name(b, "time");
        json_builder_add_int_value(b, time);
        json_builder_set_member_name(b, "key_id");
        json_builder_add_string_value(b, self->key_id);
        json_builder_end_object(b);
        node = json_builder_get_root(b);
        canonical = vtc_verifier_json_canonical(node, error);
        if (canonical == NULL)
                return FALSE;
        if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, self->key) != 1 ||
            EVP_DigestSign(ctx, NULL, &sig_len, (const guint8 *)canonical, strlen(canonical)) !=
                1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing a revocation event");
                return FALSE;
        }
        sig = g_malloc(sig_len);
        if (EVP_DigestSign(ctx, sig, &sig_len, (const guint8 *)canonical, strlen(canonical)) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing a revocation event");
                return FALSE;
        }
        *out_signature = g_base64_encode(sig, sig_len);
        *out_event = g_steal_pointer(&canonical);
        return TRUE;
}

JsonObject *
vtc_verifier_webhook_verify(const gchar *public_key_pem,
                            const gchar *body,
                            gsize len,
                            GError **error)
{
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) obj = vtc_json_parse_object(body, len, &limits, error);
        JsonObject *event = NULL;
        g_autoptr(JsonNode) event_node = NULL;
        g_autoptr(GBytes) sig = NULL;
        g_autofree gchar *canonical = NULL;
        g_autoptr(BIO) bio = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();

        if (obj == NULL)
                return NULL;
        event = vtc_json_get_object(obj, "event", TRUE, error);
        if (event == NULL)
                return NULL;
        sig = vtc_json_get_base64(obj, "signature", 1024, TRUE, error);
        if (sig == NULL)
                return NULL;
        event_node = json_node_init_object(json_node_alloc(), event);
        canonical = vtc_verifier_json_canonical(event_node, error);
        if (canonical == NULL)
                return NULL;
        bio = BIO_new_mem_buf(public_key_pem, -1);
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "reading the public key");
                return NULL;
        }
        if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestVerify(ctx,
                             g_bytes_get_data(sig, NULL),
                             g_bytes_get_size(sig),
                             (const guint8 *)canonical,
                             strlen(canonical)) != 1) {
                ERR_clear_error();
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "the revocation event's signature does not verify");
                return NULL;
        }
        return json_object_ref(event);
}

/* ---- delivery ----------------------------------------------------------------------------- */

typedef struct {
        VtcVerifierWebhook *self;
        gboolean *alive;
        gchar *body;
        guint pending; /* webhooks not yet finished */
        guint delivered;
        guint undelivered;
        VtcVerifierWebhookDoneFunc done;
        gpointer user_data;
} VtcWebhookJob;

typedef struct {
        VtcWebhookJob *job;
        gchar *url;
        guint attempt;
        guint delay_ms;
} VtcWebhookTarget;

static void vtc_webhook_attempt(VtcWebhookTarget *t);

static void
vtc_webhook_job_finish_target(VtcWebhookTarget *t, gboolean ok)
{
        VtcWebhookJob *job = t->job;

        if (ok)
                job->delivered++;
        else
                job->undelivered++;
        if (*job->alive) {
                if (ok)
                        job->self->delivered++;
                else
                        job->self->abandoned++;
        }
        g_free(t->url);
        g_free(t);
        if (--job->pending > 0)
                return;
        if (*job->alive) {
                job->self->in_flight--;
                if (job->done != NULL)
                        job->done(job->delivered, job->undelivered, job->user_data);
        }
        g_rc_box_release(job->alive);
        g_free(job->body);
        g_free(job);
}

static gboolean
vtc_webhook_retry_cb(gpointer user_data)
{
        vtc_webhook_attempt(user_data);
        return G_SOURCE_REMOVE;
}

static void
vtc_webhook_sent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcWebhookTarget *t = user_data;
        SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);
        g_autoptr(GBytes) reply =
            soup_session_send_and_read_finish(SOUP_SESSION(source), res, NULL);
        guint status = reply != NULL && msg != NULL ? soup_message_get_status(msg) : 0;

        if (status >= 200 && status < 300) {
                vtc_webhook_job_finish_target(t, TRUE);
                return;
        }
        if (!*t->job->alive || t->attempt >= t->job->self->retries) {
                vtc_webhook_job_finish_target(t, FALSE);
                return;
        }
        t->job->self->retried++;
        g_timeout_add(t->delay_ms, vtc_webhook_retry_cb, t);
        t->delay_ms = MIN(t->delay_ms * 2, 600000u);
}

static void
vtc_webhook_attempt(VtcWebhookTarget *t)
{
        VtcWebhookJob *job = t->job;
        g_autoptr(SoupMessage) msg = NULL;

        if (!*job->alive) {
                vtc_webhook_job_finish_target(t, FALSE);
                return;
        }
        msg = vtc_http_client_message_new(job->self->session, "POST", t->url, job->body, NULL);
        if (msg == NULL) {
                vtc_webhook_job_finish_target(t, FALSE);
                return;
        }
        t->attempt++;
        soup_session_send_and_read_async(job->self->session,
                                         msg,
                                         G_PRIORITY_DEFAULT,
                                         NULL,
                                         vtc_webhook_sent_cb,
                                         t);
}

void
vtc_verifier_webhook_deliver(VtcVerifierWebhook *self,
                             const gchar *event,
                             const gchar *signature,
                             VtcVerifierWebhookDoneFunc done,
                             gpointer user_data)
{
        VtcWebhookJob *job;
        guint n = g_strv_length(self->urls);

        if (n == 0) {
                if (done != NULL)
                        done(0, 0, user_data);
                return;
        }
        job = g_new0(VtcWebhookJob, 1);
        job->self = self;
        job->alive = g_rc_box_acquire(self->alive);
        job->body = g_strdup_printf("{\"event\":%s,\"signature\":\"%s\"}", event, signature);
        job->pending = n;
        job->done = done;
        job->user_data = user_data;
        self->in_flight++;
        for (guint i = 0; i < n; i++) {
                VtcWebhookTarget *t = g_new0(VtcWebhookTarget, 1);
                t->job = job;
                t->url = g_strdup(self->urls[i]);
                t->delay_ms = MAX(1u, self->retry_ms);
                vtc_webhook_attempt(t);
        }
}

void
vtc_verifier_webhook_get_counts(VtcVerifierWebhook *self,
                                guint64 *out_delivered,
                                guint64 *out_retried,
                                guint64 *out_abandoned)
{
        *out_delivered = self->delivered;
        *out_retried = self->retried;
        *out_abandoned = self->abandoned;
}

guint
vtc_verifier_webhook_get_in_flight(VtcVerifierWebhook *self)
{
        return self->in_flight;
}
