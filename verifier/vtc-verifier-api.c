/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier-api.h"

#include <string.h>

#include "vtc-error.h"

#define VTC_API_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define VTC_API_JSON       "application/json"
#define VTC_API_MAX_URL    2048
#define VTC_VERSION_STRING "0.1.0"

enum {
        VTC_API_CALL_VMS,
        VTC_API_CALL_VM,
        VTC_API_CALL_HISTORY,
        VTC_API_CALL_METRICS,
        VTC_API_CALL_VERSION,
        VTC_API_CALL_KEY,
        VTC_API_CALL_OTHER,
        VTC_API_N_CALLS
};

static const gchar *vtc_api_call_names[VTC_API_N_CALLS] =
    {"vms", "vm", "history", "metrics", "version", "revocation_key", "other"};

struct _VtcVerifierApi {
        VtcVerifierStore *store;
        VtcVerifierRound *round;
        VtcVerifierWebhook *webhook;
        VtcJsonLimits limits;
        GHashTable *requests; /* "call\nstatus" -> guint64* */
};

VtcVerifierApi *
vtc_verifier_api_new(VtcVerifierStore *store,
                     VtcVerifierRound *round,
                     VtcVerifierWebhook *webhook,
                     const VtcJsonLimits *limits)
{
        VtcVerifierApi *self = g_new0(VtcVerifierApi, 1);

        self->store = store;
        self->round = round;
        self->webhook = webhook;
        self->limits = *limits;
        self->requests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        return self;
}

void
vtc_verifier_api_free(VtcVerifierApi *self)
{
        if (self == NULL)
                return;
        g_hash_table_unref(self->requests);
        g_free(self);
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* A peer's name for an error message: valid UTF-8, at most 64 characters. */
static gchar *
vtc_api_safe_name(const gchar *name)
{
        g_autofree gchar *valid = g_utf8_make_valid(name, -1);

        return g_utf8_substring(valid, 0, MIN(64, g_utf8_strlen(valid, -1)));
}

static void
vtc_api_add_str(JsonBuilder *b, const gchar *member, const gchar *value)
{
        json_builder_set_member_name(b, member);
        if (value != NULL)
                json_builder_add_string_value(b, value);
        else
                json_builder_add_null_value(b);
}

static void
vtc_api_add_int(JsonBuilder *b, const gchar *member, gint64 value)
{
        json_builder_set_member_name(b, member);
        json_builder_add_int_value(b, value);
}

static gboolean
vtc_api_parse_uint(GHashTable *query,
                   const gchar *name,
                   guint64 min,
                   guint64 max,
                   guint64 def,
                   guint64 *out,
                   GError **error)
{
        const gchar *s = query != NULL ? g_hash_table_lookup(query, name) : NULL;
        guint64 v = 0;

        if (s == NULL) {
                *out = def;
                return TRUE;
        }
        if (!g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "query parameter '%s' must be a number from %" G_GUINT64_FORMAT
                            " to %" G_GUINT64_FORMAT,
                            name,
                            min,
                            max);
                return FALSE;
        }
        *out = v;
        return TRUE;
}

static gboolean
vtc_api_check_query(GHashTable *query, const gchar *const *allowed, GError **error)
{
        GHashTableIter it;
        gpointer k;

        if (query == NULL)
                return TRUE;
        g_hash_table_iter_init(&it, query);
        while (g_hash_table_iter_next(&it, &k, NULL)) {
                if (allowed == NULL || !g_strv_contains(allowed, k)) {
                        g_autofree gchar *safe = vtc_api_safe_name(k);
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "unknown query parameter '%s'",
                                    safe);
                        return FALSE;
                }
        }
        return TRUE;
}

/* A policy member: an object (serialised) or a string holding one; NULL when absent/null. */
static gboolean
vtc_api_get_policy(JsonObject *obj, const gchar *member, gchar **out, GError **error)
{
        JsonNode *n = json_object_get_member(obj, member);

        *out = NULL;
        if (n == NULL || JSON_NODE_HOLDS_NULL(n))
                return TRUE;
        if (JSON_NODE_HOLDS_OBJECT(n)) {
                *out = vtc_json_node_to_string(n);
                return TRUE;
        }
        if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
                *out = g_strdup(json_node_get_string(n));
                return TRUE;
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "member '%s' must be a JSON object or a string holding one",
                    member);
        return FALSE;
}

static void
vtc_api_add_vm(JsonBuilder *b,
               const VtcVerifierStoreVm *vm,
               gboolean full,
               gint64 next_ms,
               guint backoff_ms)
{
        json_builder_begin_object(b);
        vtc_api_add_str(b, "uuid", vm->uuid);
        vtc_api_add_str(b, "state", vm->state);
        vtc_api_add_str(b, "mode", vm->mode);
        vtc_api_add_str(b, "reason", vm->reason);
        vtc_api_add_str(b, "host_id", vm->host_id);
        vtc_api_add_int(b, "updated", vm->updated);
        if (full) {
                vtc_api_add_str(b, "agent_url", vm->agent_url);
                vtc_api_add_str(b, "message", vm->message);
                vtc_api_add_str(b, "placement", vm->placement);
                json_builder_set_member_name(b, "last_verdict");
                if (vm->last_result == NULL) {
                        json_builder_add_null_value(b);
                } else {
                        json_builder_begin_object(b);
                        vtc_api_add_int(b, "time", vm->last_time);
                        vtc_api_add_str(b, "result", vm->last_result);
                        vtc_api_add_str(b, "reason", vm->last_reason);
                        vtc_api_add_str(b, "message", vm->last_message);
                        vtc_api_add_str(b, "placement", vm->last_placement);
                        json_builder_end_object(b);
                }
                vtc_api_add_int(b, "created", vm->created);
                vtc_api_add_int(b, "last_attempt", vm->last_attempt);
                vtc_api_add_int(b, "last_success", vm->last_success);
                json_builder_set_member_name(b, "next_round");
                if (next_ms > 0)
                        json_builder_add_int_value(b, (next_ms + 999) / 1000);
                else
                        json_builder_add_null_value(b);
                vtc_api_add_int(b, "backoff_ms", backoff_ms);
                json_builder_set_member_name(b, "counters");
                json_builder_begin_object(b);
                vtc_api_add_int(b, "rounds", vm->rounds);
                vtc_api_add_int(b, "passes", vm->passes);
                vtc_api_add_int(b, "failures", vm->failures);
                vtc_api_add_int(b, "unreachable", vm->unreachable);
                json_builder_end_object(b);
                vtc_api_add_int(b, "ima_offset", vm->ima_offset);
                json_builder_set_member_name(b, "has_boot_policy");
                json_builder_add_boolean_value(b, vm->boot_policy != NULL);
                json_builder_set_member_name(b, "has_host_policy");
                json_builder_add_boolean_value(b, vm->host_policy != NULL);
        }
        json_builder_end_object(b);
}

/* ---- calls -------------------------------------------------------------------------------- */

static const gchar *const vtc_api_add_members[] =
    {"uuid", "runtime_policy", "boot_policy", "host_policy", "mode", "agent_url", NULL};

static JsonNode *
vtc_api_add(VtcVerifierApi *self, GBytes *body, guint *out_status, GError **error)
{
        g_autoptr(JsonObject) obj = NULL;
        g_autoptr(VtcVerifierStoreVm) vm = g_new0(VtcVerifierStoreVm, 1);
        g_autoptr(GList) members = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        const gchar *uuid;
        const gchar *mode;
        const gchar *agent_url;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        if (body == NULL || g_bytes_get_size(body) == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the request has no JSON body");
                return NULL;
        }
        obj = vtc_json_parse_object(g_bytes_get_data(body, NULL),
                                    g_bytes_get_size(body),
                                    &self->limits,
                                    error);
        if (obj == NULL)
                return NULL;
        members = json_object_get_members(obj);
        for (GList *l = members; l != NULL; l = l->next) {
                if (!g_strv_contains(vtc_api_add_members, l->data)) {
                        g_autofree gchar *safe = vtc_api_safe_name(l->data);
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unknown member '%s'",
                                    safe);
                        return NULL;
                }
        }
        uuid = vtc_json_get_string(obj, "uuid", TRUE, error);
        if (uuid == NULL)
                return NULL;
        if (!g_uuid_string_is_valid(uuid)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "uuid: not a UUID (8-4-4-4-12 hex digits)");
                return NULL;
        }
        mode = vtc_json_get_string(obj, "mode", FALSE, error);
        if (mode == NULL && error != NULL && *error != NULL)
                return NULL;
        if (mode == NULL)
                mode = "host";
        if (g_strcmp0(mode, "host") != 0 && g_strcmp0(mode, "direct") != 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "mode: \"host\" or \"direct\"");
                return NULL;
        }
        {
                g_autoptr(GError) error_local = NULL;
                agent_url = vtc_json_get_string(obj, "agent_url", FALSE, &error_local);
                if (error_local != NULL) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return NULL;
                }
        }
        if (g_strcmp0(mode, "direct") == 0) {
                g_autoptr(GUri) uri =
                    agent_url != NULL ? g_uri_parse(agent_url, G_URI_FLAGS_NONE, NULL) : NULL;
                if (uri == NULL || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 ||
                    g_uri_get_host(uri) == NULL || strlen(agent_url) > VTC_API_MAX_URL) {
                        g_set_error_literal(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "agent_url: direct mode needs the agent's https:// URL");
                        return NULL;
                }
        } else if (agent_url != NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "agent_url: only for mode \"direct\"");
                return NULL;
        }
        if (json_object_get_member(obj, "runtime_policy") == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'runtime_policy' is missing");
                return NULL;
        }
        if (!vtc_api_get_policy(obj, "runtime_policy", &vm->runtime_policy, error) ||
            !vtc_api_get_policy(obj, "boot_policy", &vm->boot_policy, error) ||
            !vtc_api_get_policy(obj, "host_policy", &vm->host_policy, error))
                return NULL;
        if (vm->runtime_policy == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'runtime_policy' is null");
                return NULL;
        }
        if (!(self->round != NULL ? vtc_verifier_round_prepare_policies(self->round,
                                                                        vm->runtime_policy,
                                                                        vm->boot_policy,
                                                                        vm->host_policy,
                                                                        error)
                                  : vtc_verifier_round_check_policies(vm->runtime_policy,
                                                                      vm->boot_policy,
                                                                      vm->host_policy,
                                                                      error))) {
                GError *e = *error;
                /* a policy that does not parse is bad input, whatever the parser's code */
                if (e->code != VTC_ERROR_TOO_LARGE)
                        e->code = VTC_ERROR_INVALID_DATA;
                return NULL;
        }
        vm->uuid = g_ascii_strdown(uuid, -1);
        vm->mode = g_strdup(mode);
        vm->agent_url = g_strdup(agent_url);
        vm->state = g_strdup("registered");
        vm->created = now;
        vm->updated = now;
        if (!vtc_verifier_store_add(self->store, vm, error))
                return NULL;
        if (self->round != NULL && !vtc_verifier_round_add_vm(self->round, vm, error)) {
                /* cannot happen: the same parser accepted the policies above */
                g_autoptr(GError) error_local = NULL;
                vtc_verifier_store_delete(self->store, vm->uuid, &error_local);
                return NULL;
        }
        json_builder_begin_object(b);
        vtc_api_add_str(b, "uuid", vm->uuid);
        vtc_api_add_str(b, "state", vm->state);
        json_builder_end_object(b);
        *out_status = 201;
        return json_builder_get_root(b);
}

static JsonNode *
vtc_api_list(VtcVerifierApi *self, GHashTable *query, GError **error)
{
        static const gchar *const allowed[] = {"state", "limit", "after", NULL};
        const gchar *state = query != NULL ? g_hash_table_lookup(query, "state") : NULL;
        const gchar *after = query != NULL ? g_hash_table_lookup(query, "after") : NULL;
        guint64 limit = 0;
        g_autoptr(GPtrArray) vms = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (!vtc_api_check_query(query, allowed, error) ||
            !vtc_api_parse_uint(query,
                                "limit",
                                1,
                                VTC_VERIFIER_STORE_MAX_LIST_PAGE,
                                1000,
                                &limit,
                                error))
                return NULL;
        if (after != NULL && !g_uuid_string_is_valid(after)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "after: not a UUID");
                return NULL;
        }
        vms = vtc_verifier_store_list(self->store, state, after, (guint)limit + 1, FALSE, error);
        if (vms == NULL)
                return NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vms");
        json_builder_begin_array(b);
        for (guint i = 0; i < vms->len && i < limit; i++) {
                VtcVerifierStoreVm *vm = g_ptr_array_index(vms, i);
                g_autoptr(VtcVerifierStoreVm) live =
                    self->round != NULL
                        ? vtc_verifier_round_get_vm(self->round, vm->uuid, NULL, NULL)
                        : NULL;
                vtc_api_add_vm(b, live != NULL ? live : vm, FALSE, 0, 0);
        }
        json_builder_end_array(b);
        vtc_api_add_str(b,
                        "next",
                        vms->len > limit
                            ? ((VtcVerifierStoreVm *)g_ptr_array_index(vms, limit - 1))->uuid
                            : NULL);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_api_get(VtcVerifierApi *self, const gchar *uuid, GError **error)
{
        g_autoptr(VtcVerifierStoreVm) stored = vtc_verifier_store_get(self->store, uuid, error);
        g_autoptr(VtcVerifierStoreVm) live = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        gint64 next_ms = 0;
        guint backoff = 0;

        if (stored == NULL)
                return NULL;
        if (self->round != NULL)
                live = vtc_verifier_round_get_vm(self->round, uuid, &next_ms, &backoff);
        if (live != NULL) {
                /* the loop's record is newer than the disk's; the policies are only on disk */
                live->boot_policy = g_steal_pointer(&stored->boot_policy);
                live->host_policy = g_steal_pointer(&stored->host_policy);
        }
        vtc_api_add_vm(b, live != NULL ? live : stored, TRUE, next_ms, backoff);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_api_history(VtcVerifierApi *self, const gchar *uuid, GHashTable *query, GError **error)
{
        static const gchar *const allowed[] = {"limit", "before", NULL};
        guint64 limit = 0;
        guint64 before = 0;
        gint64 next = 0;
        g_autoptr(GPtrArray) evs = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;

        if (!vtc_api_check_query(query, allowed, error) ||
            !vtc_api_parse_uint(query,
                                "limit",
                                1,
                                VTC_VERIFIER_STORE_MAX_HISTORY_PAGE,
                                100,
                                &limit,
                                error) ||
            !vtc_api_parse_uint(query, "before", 1, G_MAXINT64, 0, &before, error))
                return NULL;
        evs = vtc_verifier_store_history(self->store,
                                         uuid,
                                         (gint64)before,
                                         (guint)limit,
                                         &next,
                                         error);
        if (evs == NULL)
                return NULL;
        json_builder_begin_object(b);
        vtc_api_add_str(b, "uuid", uuid);
        json_builder_set_member_name(b, "events");
        json_builder_begin_array(b);
        for (guint i = 0; i < evs->len; i++) {
                VtcVerifierStoreEvent *ev = g_ptr_array_index(evs, i);
                json_builder_begin_object(b);
                vtc_api_add_int(b, "seq", ev->seq);
                vtc_api_add_int(b, "time", ev->time);
                vtc_api_add_str(b, "kind", ev->kind);
                vtc_api_add_str(b, "state", ev->state);
                vtc_api_add_str(b, "result", ev->result);
                vtc_api_add_str(b, "reason", ev->reason);
                vtc_api_add_str(b, "message", ev->message);
                vtc_api_add_str(b, "placement", ev->placement);
                vtc_api_add_str(b, "evidence_digest", ev->evidence_digest);
                if (ev->event != NULL) {
                        /* our own canonical JSON */
                        g_autoptr(JsonObject) e =
                            vtc_json_parse_object(ev->event, strlen(ev->event), &limits, NULL);
                        json_builder_set_member_name(b, "event");
                        if (e != NULL) {
                                g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), e);
                                json_builder_add_value(b, g_steal_pointer(&n));
                        } else {
                                json_builder_add_null_value(b);
                        }
                        vtc_api_add_str(b, "signature", ev->signature);
                        vtc_api_add_int(b, "delivered", ev->delivered);
                        vtc_api_add_int(b, "undelivered", ev->undelivered);
                }
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "next");
        if (next > 0)
                json_builder_add_int_value(b, next);
        else
                json_builder_add_null_value(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *
vtc_api_delete(VtcVerifierApi *self, const gchar *uuid, GError **error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (!vtc_verifier_store_delete(self->store, uuid, error))
                return NULL;
        if (self->round != NULL)
                vtc_verifier_round_remove_vm(self->round, uuid);
        json_builder_begin_object(b);
        vtc_api_add_str(b, "deleted", uuid);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* ---- routing ------------------------------------------------------------------------------ */

static gboolean
vtc_api_method(const gchar *method, const gchar *allowed, gboolean *out_405, GError **error)
{
        g_auto(GStrv) list = g_strsplit(allowed, ", ", -1);

        if (g_strv_contains((const gchar *const *)list, method))
                return TRUE;
        *out_405 = TRUE;
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_ARGUMENT,
                    "method not allowed here (allowed: %s)",
                    allowed);
        return FALSE;
}

static JsonNode *
vtc_api_route(VtcVerifierApi *self,
              const gchar *method,
              const gchar *path,
              GHashTable *query,
              GBytes *body,
              guint *out_call,
              guint *out_status,
              gboolean *out_405,
              GError **error)
{
        g_auto(GStrv) parts = NULL;
        guint n;
        g_autofree gchar *uuid = NULL;

        *out_call = VTC_API_CALL_OTHER;
        if (!g_str_has_prefix(path, "/v1/")) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource");
                return NULL;
        }
        parts = g_strsplit(path + 4, "/", 4);
        n = g_strv_length(parts);
        if (n > 0 && parts[n - 1][0] == '\0')
                n--;
        if (n == 1 && g_strcmp0(parts[0], "version") == 0) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                *out_call = VTC_API_CALL_VERSION;
                if (!vtc_api_method(method, "GET", out_405, error) ||
                    !vtc_api_check_query(query, NULL, error))
                        return NULL;
                json_builder_begin_object(b);
                vtc_api_add_str(b, "api", "v1");
                vtc_api_add_str(b, "version", VTC_VERSION_STRING);
                json_builder_end_object(b);
                return json_builder_get_root(b);
        }
        if (n == 1 && g_strcmp0(parts[0], "revocation-key") == 0) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                *out_call = VTC_API_CALL_KEY;
                if (!vtc_api_method(method, "GET", out_405, error) ||
                    !vtc_api_check_query(query, NULL, error))
                        return NULL;
                json_builder_begin_object(b);
                vtc_api_add_str(b, "key_id", vtc_verifier_webhook_get_key_id(self->webhook));
                vtc_api_add_str(b,
                                "public_key",
                                vtc_verifier_webhook_get_public_pem(self->webhook));
                json_builder_end_object(b);
                return json_builder_get_root(b);
        }
        if (n == 0 || n > 3 || g_strcmp0(parts[0], "vms") != 0) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource");
                return NULL;
        }
        if (n == 1) {
                *out_call = VTC_API_CALL_VMS;
                if (!vtc_api_method(method, "GET, POST", out_405, error))
                        return NULL;
                if (g_strcmp0(method, "POST") == 0) {
                        if (!vtc_api_check_query(query, NULL, error))
                                return NULL;
                        return vtc_api_add(self, body, out_status, error);
                }
                return vtc_api_list(self, query, error);
        }
        *out_call = n == 2 ? VTC_API_CALL_VM : VTC_API_CALL_HISTORY;
        if (n == 3 && g_strcmp0(parts[2], "history") != 0) {
                *out_call = VTC_API_CALL_OTHER;
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource");
                return NULL;
        }
        if (!g_uuid_string_is_valid(parts[1])) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "a VM is named by its UUID");
                return NULL;
        }
        uuid = g_ascii_strdown(parts[1], -1);
        if (n == 3) {
                if (!vtc_api_method(method, "GET", out_405, error))
                        return NULL;
                return vtc_api_history(self, uuid, query, error);
        }
        if (!vtc_api_method(method, "GET, DELETE", out_405, error) ||
            !vtc_api_check_query(query, NULL, error))
                return NULL;
        if (g_strcmp0(method, "GET") == 0)
                return vtc_api_get(self, uuid, error);
        return vtc_api_delete(self, uuid, error);
}

static void
vtc_api_count(VtcVerifierApi *self, guint call, guint status)
{
        g_autofree gchar *key = g_strdup_printf("%s\n%u", vtc_api_call_names[call], status);
        guint64 *c = g_hash_table_lookup(self->requests, key);

        if (c == NULL) {
                c = g_new0(guint64, 1);
                g_hash_table_insert(self->requests, g_steal_pointer(&key), c);
        }
        (*c)++;
}

static gchar *
vtc_api_metrics(VtcVerifierApi *self)
{
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GList) keys = NULL;

        if (self->round != NULL)
                vtc_verifier_round_append_metrics(self->round, out);
        g_string_append(
            out,
            "# HELP vtc_verifier_api_requests_total Answers of the REST API by call and status.\n"
            "# TYPE vtc_verifier_api_requests_total counter\n");
        keys = g_list_sort(g_hash_table_get_keys(self->requests), (GCompareFunc)g_strcmp0);
        for (GList *l = keys; l != NULL; l = l->next) {
                g_auto(GStrv) kv = g_strsplit(l->data, "\n", 2);
                guint64 *c = g_hash_table_lookup(self->requests, l->data);
                g_string_append_printf(
                    out,
                    "vtc_verifier_api_requests_total{call=\"%s\",status=\"%s\"} %" G_GUINT64_FORMAT
                    "\n",
                    kv[0],
                    kv[1],
                    *c);
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

guint
vtc_verifier_api_dispatch(VtcVerifierApi *self,
                          const gchar *method,
                          const gchar *path,
                          GHashTable *query,
                          GBytes *body,
                          gboolean authenticated,
                          const gchar **out_content_type,
                          gchar **out_body)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        guint call = VTC_API_CALL_OTHER;
        guint status = 200;
        gboolean is_405 = FALSE;

        *out_content_type = VTC_API_JSON;
        if (!authenticated) {
                g_set_error_literal(&error,
                                    VTC_ERROR,
                                    VTC_ERROR_UNAUTHORIZED,
                                    "every call needs a client certificate of the deployment's CA");
        } else if (g_strcmp0(path, "/metrics") == 0) {
                call = VTC_API_CALL_METRICS;
                if (vtc_api_method(method, "GET", &is_405, &error)) {
                        vtc_api_count(self, call, 200);
                        *out_content_type = VTC_API_PROMETHEUS;
                        *out_body = vtc_api_metrics(self);
                        return 200;
                }
        } else {
                node =
                    vtc_api_route(self, method, path, query, body, &call, &status, &is_405, &error);
        }
        if (node == NULL) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                status = is_405 ? 405 : vtc_error_to_http_status(error);
                json_builder_begin_object(b);
                vtc_api_add_str(b, "error", vtc_error_to_string(error));
                vtc_api_add_str(b, "message", error->message);
                json_builder_end_object(b);
                *out_body = vtc_json_builder_to_string(b);
                vtc_api_count(self, call, status);
                return status;
        }
        *out_body = vtc_json_node_to_string(node);
        vtc_api_count(self, call, status);
        return status;
}
