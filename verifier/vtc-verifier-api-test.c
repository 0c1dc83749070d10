/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST dispatcher without sockets: every call of doc/api/verifier.md and every error it
 * documents, against a real store; refused requests leave the database as it was.
 */
#include "vtc-error.h"
#include "vtc-test-common.h"
#include "vtc-verifier-api.h"

#define UUID_A "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define UUID_B "7f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define POLICY                                                                                            \
        "{\"meta\":{\"version\":1},\"release\":0,\"digests\":{\"/usr/bin/true\":[\""                      \
        "0000000000000000000000000000000000000000000000000000000000000000\"]},\"excludes\":[],"           \
        "\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],\"log_hash_alg\":\"sha1\",\"dm_policy\":null}," \
        "\"ima-buf\":{},\"verification-keys\":\"\"}"

typedef struct {
        gchar *dir;
        VtcVerifierStore *store;
        VtcVerifierWebhook *webhook;
        VtcVerifierApi *api;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *db = NULL;
        VtcVerifierWebhookConfig cfg = {NULL, NULL, NULL, NULL, NULL, 1, 10, 1000};
        VtcJsonLimits limits = {1024 * 1024, 32, 1024 * 1024, 100000};

        f->dir = vtc_test_tmpdir_new();
        db = g_build_filename(f->dir, "verifier.db", NULL);
        f->store = vtc_verifier_store_open(db, &error);
        g_assert_no_error(error);
        cfg.state_dir = f->dir;
        f->webhook = vtc_verifier_webhook_new(&cfg, &error);
        g_assert_no_error(error);
        f->api = vtc_verifier_api_new(f->store, NULL, f->webhook, &limits);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        vtc_verifier_api_free(f->api);
        vtc_verifier_webhook_free(f->webhook);
        vtc_verifier_store_free(f->store);
        vtc_test_tmpdir_free(f->dir);
}

/* One call; returns the status and the parsed body (NULL for non-JSON). */
static guint
call(Fixture *f,
     const gchar *method,
     const gchar *path,
     const gchar *query,
     const gchar *body,
     JsonObject **out)
{
        g_autoptr(GHashTable) q = query != NULL ? soup_form_decode(query) : NULL;
        g_autoptr(GBytes) b = body != NULL ? g_bytes_new(body, strlen(body)) : NULL;
        g_autofree gchar *reply = NULL;
        const gchar *type = NULL;
        guint status = vtc_verifier_api_dispatch(f->api, method, path, q, b, TRUE, &type, &reply);

        g_assert_nonnull(reply);
        if (g_strcmp0(type, "application/json") == 0) {
                g_autoptr(JsonParser) p = json_parser_new();
                g_assert_true(json_parser_load_from_data(p, reply, -1, NULL));
                g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
                if (out != NULL)
                        *out = json_object_ref(json_node_get_object(json_parser_get_root(p)));
        } else if (out != NULL) {
                *out = json_object_new();
                json_object_set_string_member(*out, "text", reply);
        }
        return status;
}

static void
expect_error(Fixture *f,
             const gchar *method,
             const gchar *path,
             const gchar *query,
             const gchar *body,
             guint status,
             const gchar *code)
{
        g_autoptr(JsonObject) o = NULL;

        g_test_message("%s %s %s -> %u %s", method, path, query != NULL ? query : "", status, code);
        g_assert_cmpuint(call(f, method, path, query, body, &o), ==, status);
        g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, code);
        g_assert_true(json_object_has_member(o, "message"));
}

static gchar *
add_body(const gchar *uuid, const gchar *extra)
{
        return g_strdup_printf("{\"uuid\":\"%s\",\"runtime_policy\":%s%s}",
                               uuid,
                               POLICY,
                               extra != NULL ? extra : "");
}

static void
test_calls(Fixture *f, gconstpointer user_data)
{
        g_autoptr(JsonObject) o = NULL;
        g_autofree gchar *a =
            add_body(UUID_A,
                     ",\"boot_policy\":{\"pcrs\":{\"sha256\":{\"0\":\""
                     "0000000000000000000000000000000000000000000000000000000000000000\"}}}");
        g_autofree gchar *policy_string = NULL;
        g_autofree gchar *b = NULL;
        JsonArray *arr;

        g_assert_cmpuint(call(f, "POST", "/v1/vms", NULL, a, &o), ==, 201);
        g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, UUID_A);
        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "registered");
        g_clear_pointer(&o, json_object_unref);
        /* direct mode with the policy as a string, upper-case UUID */
        {
                g_autoptr(JsonBuilder) jb = json_builder_new();
                g_autoptr(JsonNode) n = NULL;
                json_builder_begin_object(jb);
                json_builder_set_member_name(jb, "uuid");
                json_builder_add_string_value(jb, "7F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F");
                json_builder_set_member_name(jb, "runtime_policy");
                json_builder_add_string_value(jb, POLICY);
                json_builder_set_member_name(jb, "mode");
                json_builder_add_string_value(jb, "direct");
                json_builder_set_member_name(jb, "agent_url");
                json_builder_add_string_value(jb, "https://10.0.0.5:8893");
                json_builder_set_member_name(jb, "host_policy");
                json_builder_add_null_value(jb);
                json_builder_end_object(jb);
                n = json_builder_get_root(jb);
                b = json_to_string(n, FALSE);
        }
        g_assert_cmpuint(call(f, "POST", "/v1/vms", NULL, b, &o), ==, 201);
        g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, UUID_B);
        g_clear_pointer(&o, json_object_unref);

        g_assert_cmpuint(call(f, "GET", "/v1/vms", NULL, NULL, &o), ==, 200);
        arr = json_object_get_array_member(o, "vms");
        g_assert_cmpuint(json_array_get_length(arr), ==, 2);
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(arr, 0), "uuid"),
            ==,
            UUID_A);
        g_assert_true(json_object_get_null_member(o, "next"));
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/v1/vms", "limit=1", NULL, &o), ==, 200);
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "vms")), ==, 1);
        g_assert_cmpstr(json_object_get_string_member(o, "next"), ==, UUID_A);
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/v1/vms", "limit=1&after=" UUID_A, NULL, &o), ==, 200);
        arr = json_object_get_array_member(o, "vms");
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(arr, 0), "uuid"),
            ==,
            UUID_B);
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/v1/vms", "state=trusted", NULL, &o), ==, 200);
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "vms")), ==, 0);
        g_clear_pointer(&o, json_object_unref);

        g_assert_cmpuint(call(f, "GET", "/v1/vms/" UUID_B, NULL, NULL, &o), ==, 200);
        g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, "direct");
        g_assert_cmpstr(json_object_get_string_member(o, "agent_url"), ==, "https://10.0.0.5:8893");
        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "registered");
        g_assert_true(json_object_get_null_member(o, "last_verdict"));
        g_assert_false(json_object_get_boolean_member(o, "has_boot_policy"));
        g_assert_cmpint(
            json_object_get_int_member(json_object_get_object_member(o, "counters"), "rounds"),
            ==,
            0);
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/v1/vms/" UUID_A, NULL, NULL, &o), ==, 200);
        g_assert_true(json_object_get_boolean_member(o, "has_boot_policy"));
        g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, "host");
        g_clear_pointer(&o, json_object_unref);

        g_assert_cmpuint(call(f, "GET", "/v1/vms/" UUID_A "/history", "limit=10", NULL, &o),
                         ==,
                         200);
        arr = json_object_get_array_member(o, "events");
        g_assert_cmpuint(json_array_get_length(arr), ==, 1);
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(arr, 0), "kind"),
            ==,
            "added");
        g_clear_pointer(&o, json_object_unref);

        g_assert_cmpuint(call(f, "GET", "/v1/revocation-key", NULL, NULL, &o), ==, 200);
        g_assert_cmpstr(json_object_get_string_member(o, "key_id"),
                        ==,
                        vtc_verifier_webhook_get_key_id(f->webhook));
        g_assert_true(g_str_has_prefix(json_object_get_string_member(o, "public_key"),
                                       "-----BEGIN PUBLIC KEY-----"));
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/v1/version", NULL, NULL, &o), ==, 200);
        g_assert_cmpstr(json_object_get_string_member(o, "api"), ==, "v1");
        g_clear_pointer(&o, json_object_unref);
        g_assert_cmpuint(call(f, "GET", "/metrics", NULL, NULL, &o), ==, 200);
        g_assert_nonnull(
            strstr(json_object_get_string_member(o, "text"),
                   "vtc_verifier_api_requests_total{call=\"vms\",status=\"201\"} 2\n"));
        g_clear_pointer(&o, json_object_unref);

        g_assert_cmpuint(call(f, "DELETE", "/v1/vms/" UUID_A, NULL, NULL, &o), ==, 200);
        g_assert_cmpstr(json_object_get_string_member(o, "deleted"), ==, UUID_A);
        g_clear_pointer(&o, json_object_unref);
        expect_error(f, "GET", "/v1/vms/" UUID_A, NULL, NULL, 404, "not_found");
        expect_error(f, "GET", "/v1/vms/" UUID_A "/history", NULL, NULL, 404, "not_found");
        expect_error(f, "DELETE", "/v1/vms/" UUID_A, NULL, NULL, 404, "not_found");
        (void)policy_string;
}

static void
test_errors(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *a = add_body(UUID_A, NULL);
        g_autofree gchar *db = g_build_filename(f->dir, "verifier.db", NULL);
        g_autoptr(GBytes) before = NULL;
        g_autoptr(GBytes) after = NULL;
        g_autofree gchar *reply = NULL;
        const gchar *type = NULL;
        g_autoptr(GString) deep = g_string_new("{\"uuid\":\"" UUID_B "\",\"runtime_policy\":");
        g_autoptr(GPtrArray) list = NULL;

        g_assert_cmpuint(call(f, "POST", "/v1/vms", NULL, a, NULL), ==, 201);
        list = vtc_verifier_store_list(f->store, NULL, NULL, 10, TRUE, NULL);
        g_assert_cmpuint(list->len, ==, 1);

        /* no client certificate: every call, /metrics included */
        g_assert_cmpuint(
            vtc_verifier_api_dispatch(f->api, "GET", "/metrics", NULL, NULL, FALSE, &type, &reply),
            ==,
            401);
        g_assert_nonnull(strstr(reply, "\"unauthorized\""));
        g_clear_pointer(&reply, g_free);
        g_assert_cmpuint(
            vtc_verifier_api_dispatch(f->api, "GET", "/v1/vms", NULL, NULL, FALSE, &type, &reply),
            ==,
            401);
        g_clear_pointer(&reply, g_free);

        expect_error(f, "POST", "/v1/vms", NULL, a, 409, "conflict");
        expect_error(f, "POST", "/v1/vms", NULL, NULL, 400, "invalid_data");
        expect_error(f, "POST", "/v1/vms", NULL, "{\"uuid\":", 400, "invalid_data");
        expect_error(f, "POST", "/v1/vms", NULL, "[1]", 400, "invalid_data");
        expect_error(f, "POST", "/v1/vms", NULL, "{\"uuid\":\"" UUID_B "\"}", 400, "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":null}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":5}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":{\"digests\":7}}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":\"not json\"}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":7,\"runtime_policy\":" POLICY "}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"nope\",\"runtime_policy\":" POLICY "}",
                     400,
                     "invalid_argument");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY ",\"colour\":1}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY
                     ",\"mode\":\"sideways\"}",
                     400,
                     "invalid_argument");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY ",\"mode\":\"direct\"}",
                     400,
                     "invalid_argument");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY
                     ",\"mode\":\"direct\",\"agent_url\":\"http://x:1\"}",
                     400,
                     "invalid_argument");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY
                     ",\"agent_url\":\"https://x:1\"}",
                     400,
                     "invalid_argument");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY
                     ",\"boot_policy\":{\"colour\":1}}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY
                     ",\"boot_policy\":{\"pcrs\":{\"sha256\":{\"0\":\"zz\"}}}}",
                     400,
                     "invalid_data");
        expect_error(f,
                     "POST",
                     "/v1/vms",
                     NULL,
                     "{\"uuid\":\"" UUID_B "\",\"runtime_policy\":" POLICY ",\"host_policy\":[1]}",
                     400,
                     "invalid_data");
        expect_error(f, "POST", "/v1/vms", "x=1", a, 400, "invalid_argument");
        for (guint i = 0; i < 40; i++)
                g_string_append(deep, "[");
        expect_error(f, "POST", "/v1/vms", NULL, deep->str, 413, "too_large");

        expect_error(f, "GET", "/v1/vms", "limit=0", NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms", "limit=abc", NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms", "state=happy", NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms", "after=xyz", NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms", "colour=red", NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms/nope", NULL, NULL, 400, "invalid_argument");
        expect_error(f, "GET", "/v1/vms/" UUID_B, NULL, NULL, 404, "not_found");
        expect_error(f,
                     "GET",
                     "/v1/vms/" UUID_A "/history",
                     "limit=1001",
                     NULL,
                     400,
                     "invalid_argument");
        expect_error(f,
                     "GET",
                     "/v1/vms/" UUID_A "/history",
                     "before=-1",
                     NULL,
                     400,
                     "invalid_argument");
        expect_error(f, "GET", "/v1/vms/" UUID_A "/verdicts", NULL, NULL, 404, "not_found");
        expect_error(f, "GET", "/v1/vms/" UUID_A "/a/b", NULL, NULL, 404, "not_found");
        expect_error(f, "GET", "/v2/vms", NULL, NULL, 404, "not_found");
        expect_error(f, "GET", "/v1/agents", NULL, NULL, 404, "not_found");
        expect_error(f, "PUT", "/v1/vms", NULL, NULL, 405, "invalid_argument");
        expect_error(f, "POST", "/v1/vms/" UUID_A, NULL, NULL, 405, "invalid_argument");
        expect_error(f,
                     "DELETE",
                     "/v1/vms/" UUID_A "/history",
                     NULL,
                     NULL,
                     405,
                     "invalid_argument");
        expect_error(f, "POST", "/v1/version", NULL, NULL, 405, "invalid_argument");
        expect_error(f, "DELETE", "/v1/revocation-key", NULL, NULL, 405, "invalid_argument");
        expect_error(f, "POST", "/metrics", NULL, NULL, 405, "invalid_argument");

        /* nothing of that reached the database */
        g_clear_pointer(&list, g_ptr_array_unref);
        list = vtc_verifier_store_list(f->store, NULL, NULL, 10, TRUE, NULL);
        g_assert_cmpuint(list->len, ==, 1);
        {
                gint64 next = 0;
                g_autoptr(GPtrArray) h =
                    vtc_verifier_store_history(f->store, UUID_A, 0, 100, &next, NULL);
                g_assert_cmpuint(h->len, ==, 1);
        }
        (void)db;
        (void)before;
        (void)after;
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/verifier-api/calls",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_calls,
                   fixture_teardown);
        g_test_add("/verifier-api/errors",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_errors,
                   fixture_teardown);
        return g_test_run();
}
