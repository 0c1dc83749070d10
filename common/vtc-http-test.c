/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-ca.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-test-common.h"

/* The server runs on its own main context in a thread; the synchronous client in the test. */
typedef struct {
        gchar *dir;
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        SoupServer *server;
        guint port;
        gchar *url;
} Fixture;

static void
echo_cb(SoupServer *server,
        SoupServerMessage *msg,
        const char *path,
        GHashTable *query,
        gpointer user_data)
{
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        const gchar *name;

        if (soup_server_message_get_method(msg) == SOUP_METHOD_POST) {
                obj = vtc_http_parse_body(msg, &limits, &error);
                if (obj == NULL) {
                        vtc_http_reply_error(msg, error);
                        return;
                }
                name = vtc_json_get_string(obj, "name", TRUE, &error);
                if (name == NULL) {
                        vtc_http_reply_error(msg, error);
                        return;
                }
        } else {
                name = "";
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "client");
        json_builder_add_boolean_value(b, vtc_http_has_client_cert(msg));
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        json_builder_end_object(b);
        vtc_http_reply_builder(msg, 200, b);
}

static gpointer
server_thread(gpointer data)
{
        Fixture *f = data;
        g_main_context_push_thread_default(f->ctx);
        g_main_loop_run(f->loop);
        g_main_context_pop_thread_default(f->ctx);
        return NULL;
}

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *ca = NULL;
        g_autofree gchar *crt = NULL;
        g_autofree gchar *key = NULL;
        const gchar *sans[] = {"IP:127.0.0.1", NULL};

        f->dir = vtc_test_tmpdir_new();
        g_assert_true(vtc_ca_init(f->dir, "test CA", 1, &error));
        g_assert_true(vtc_ca_issue(f->dir, "server", sans, 1, &error));
        g_assert_true(vtc_ca_issue(f->dir, "admin", NULL, 1, &error));
        g_assert_no_error(error);
        ca = g_build_filename(f->dir, "ca.crt", NULL);
        crt = g_build_filename(f->dir, "server.crt", NULL);
        key = g_build_filename(f->dir, "server.key", NULL);

        f->ctx = g_main_context_new();
        f->loop = g_main_loop_new(f->ctx, FALSE);
        g_main_context_push_thread_default(f->ctx);
        f->server = vtc_http_server_new(crt, key, ca, 4096, &error);
        g_assert_no_error(error);
        vtc_http_server_add_handler(f->server, "/v1/echo", echo_cb, NULL);
        g_assert_true(vtc_http_server_listen(f->server, "127.0.0.1", 0, &f->port, &error));
        g_assert_no_error(error);
        g_main_context_pop_thread_default(f->ctx);
        f->url = g_strdup_printf("https://127.0.0.1:%u/v1/echo", f->port);
        f->thread = g_thread_new("server", server_thread, f);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        g_main_loop_quit(f->loop);
        g_thread_join(f->thread);
        g_main_context_push_thread_default(f->ctx);
        g_object_unref(f->server);
        g_main_context_pop_thread_default(f->ctx);
        g_main_loop_unref(f->loop);
        g_main_context_unref(f->ctx);
        g_free(f->url);
        vtc_test_tmpdir_free(f->dir);
}

static gchar *
request(SoupSession *s, const gchar *method, const gchar *url, const gchar *body, guint *status)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = vtc_http_client_request(s, method, url, body, status, &error);

        g_assert_no_error(error);
        return g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
}

static void
vtc_http_client_cert_test(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *ca = g_build_filename(f->dir, "ca.crt", NULL);
        g_autofree gchar *crt = g_build_filename(f->dir, "admin.crt", NULL);
        g_autofree gchar *key = g_build_filename(f->dir, "admin.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) anon = vtc_http_client_new(ca, NULL, NULL, &error);
        g_autoptr(SoupSession) admin = vtc_http_client_new(ca, crt, key, &error);
        g_autofree gchar *r1 = NULL;
        g_autofree gchar *r2 = NULL;
        guint status = 0;

        g_assert_no_error(error);
        r1 = request(anon, "GET", f->url, NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(r1, ==, "{\"client\":false,\"name\":\"\"}");
        r2 = request(admin, "POST", f->url, "{\"name\":\"x\"}", &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(r2, ==, "{\"client\":true,\"name\":\"x\"}");
        {
                /* unknown paths answer with a status and JSON too */
                g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/nope", f->port);
                g_autofree gchar *r3 = request(anon, "GET", url, NULL, &status);
                g_assert_cmpuint(status, ==, 404);
                g_assert_nonnull(strstr(r3, "\"error\":\"not_found\""));
        }
}

static void
vtc_http_foreign_cert_test(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *other = g_build_filename(f->dir, "other", NULL);
        g_autofree gchar *ca = g_build_filename(f->dir, "ca.crt", NULL);
        g_autofree gchar *crt = g_build_filename(other, "mallory.crt", NULL);
        g_autofree gchar *key = g_build_filename(other, "mallory.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) s = NULL;
        g_autoptr(GBytes) reply = NULL;
        guint status = 0;

        g_assert_true(vtc_ca_init(other, "other CA", 1, &error));
        g_assert_true(vtc_ca_issue(other, "mallory", NULL, 1, &error));
        s = vtc_http_client_new(ca, crt, key, &error);
        g_assert_no_error(error);
        /* a certificate from another CA never counts as a client certificate: either the
         * handshake fails or the request is seen without one */
        reply = vtc_http_client_request(s, "GET", f->url, NULL, &status, &error);
        if (reply != NULL) {
                g_assert_cmpuint(status, ==, 200);
                g_assert_nonnull(g_strstr_len(g_bytes_get_data(reply, NULL),
                                              (gssize)g_bytes_get_size(reply),
                                              "\"client\":false"));
        } else {
                g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        }
}

static void
vtc_http_bad_input_test(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *ca = g_build_filename(f->dir, "ca.crt", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) s = vtc_http_client_new(ca, NULL, NULL, &error);
        g_autofree gchar *big = g_strnfill(5000, 'x');
        g_autofree gchar *bigjson = g_strdup_printf("{\"name\":\"%s\"}", big);
        const struct {
                const gchar *body;
                guint status;
                const gchar *code;
        } cases[] = {
            {"{\"name\":", 400, "invalid_data"},
            {"[1,2]", 400, "invalid_data"},
            {"{\"name\":5}", 400, "invalid_data"},
            {"{}", 400, "invalid_data"},
            {bigjson, 413, "too_large"},
        };

        g_assert_no_error(error);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                guint status = 0;
                g_autofree gchar *r = request(s, "POST", f->url, cases[i].body, &status);
                g_autofree gchar *code = g_strdup_printf("\"error\":\"%s\"", cases[i].code);
                g_assert_cmpuint(status, ==, cases[i].status);
                g_assert_nonnull(strstr(r, code));
        }
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/http/client-cert",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_http_client_cert_test,
                   fixture_teardown);
        g_test_add("/http/foreign-cert",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_http_foreign_cert_test,
                   fixture_teardown);
        g_test_add("/http/bad-input",
                   Fixture,
                   NULL,
                   fixture_setup,
                   vtc_http_bad_input_test,
                   fixture_teardown);
        return g_test_run();
}
