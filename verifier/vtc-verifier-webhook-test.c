/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revocation events: the key is created once and loaded again, the canonical JSON is RFC 8785's,
 * and a real local HTTP server receives the signed event (after a refused first attempt), which
 * verifies with the public key file; a tampered event does not; a webhook that never takes it is
 * abandoned after the configured attempts.
 */
#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-test-common.h"
#include "vtc-util.h"
#include "vtc-verifier-webhook.h"

#define UUID_A "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"

typedef struct {
        guint hits;
        guint refuse_first; /* answer 500 to this many attempts */
        GPtrArray *bodies;
} Receiver;

static void
receiver_cb(SoupServer *server,
            SoupServerMessage *msg,
            const char *path,
            GHashTable *query,
            gpointer user_data)
{
        Receiver *r = user_data;
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = soup_message_body_flatten(body);

        r->hits++;
        if (r->hits <= r->refuse_first) {
                soup_server_message_set_status(msg, 500, NULL);
                return;
        }
        g_ptr_array_add(r->bodies, g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data)));
        soup_server_message_set_status(msg, 204, NULL);
}

typedef struct {
        gboolean done;
        guint delivered;
        guint undelivered;
} Outcome;

static void
done_cb(guint delivered, guint undelivered, gpointer user_data)
{
        Outcome *o = user_data;

        o->done = TRUE;
        o->delivered = delivered;
        o->undelivered = undelivered;
}

static void
test_canonical(void)
{
        g_autoptr(JsonParser) p = json_parser_new();
        g_autoptr(GError) error = NULL;
        g_autofree gchar *c = NULL;

        g_assert_true(json_parser_load_from_data(
            p,
            "{ \"z\": 1, \"a\": [true, null, \"x\\ny\\u0001\\\"\"], \"m\": {\"b\": -5, \"a\": \"é\"} }",
            -1,
            &error));
        g_assert_no_error(error);
        c = vtc_verifier_json_canonical(json_parser_get_root(p), &error);
        g_assert_no_error(error);
        g_assert_cmpstr(
            c,
            ==,
            "{\"a\":[true,null,\"x\\ny\\u0001\\\"\"],\"m\":{\"a\":\"é\",\"b\":-5},\"z\":1}");
        g_assert_true(json_parser_load_from_data(p, "{\"f\": 1.5}", -1, &error));
        g_assert_null(vtc_verifier_json_canonical(json_parser_get_root(p), &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED);
}

static void
test_deliver_and_verify(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *state = g_build_filename(dir, "state", NULL);
        g_autofree gchar *pub_path = g_build_filename(state, "revocation.pub", NULL);
        g_autofree gchar *key_path = g_build_filename(state, "revocation.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
        Receiver r = {0, 1, g_ptr_array_new_with_free_func(g_free)};
        GSList *uris;
        guint port;
        g_autofree gchar *url = NULL;
        g_autofree gchar *dead = NULL;
        g_autoptr(VtcVerifierWebhook) wh = NULL;
        g_autoptr(VtcVerifierWebhook) wh2 = NULL;
        g_autofree gchar *event = NULL;
        g_autofree gchar *sig = NULL;
        g_autoptr(GBytes) pub = NULL;
        g_autofree gchar *pub_text = NULL;
        g_autoptr(JsonObject) verified = NULL;
        g_autofree gchar *tampered = NULL;
        Outcome o = {0};
        GStatBuf st;
        gint64 deadline;
        guint64 delivered = 0, retried = 0, abandoned = 0;

        soup_server_add_handler(server, "/hook", receiver_cb, &r, NULL);
        g_assert_true(soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
        g_assert_no_error(error);
        uris = soup_server_get_uris(server);
        port = (guint)g_uri_get_port(uris->data);
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        url = g_strdup_printf("http://127.0.0.1:%u/hook", port);
        {
                /* a port nobody listens on: take one and close it */
                g_autoptr(SoupServer) tmp = soup_server_new(NULL, NULL);
                GSList *u;
                g_assert_true(
                    soup_server_listen_local(tmp, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
                u = soup_server_get_uris(tmp);
                dead = g_strdup_printf("http://127.0.0.1:%d/hook", g_uri_get_port(u->data));
                g_slist_free_full(u, (GDestroyNotify)g_uri_unref);
                soup_server_disconnect(tmp);
        }
        {
                const gchar *urls[] = {url, dead, NULL};
                VtcVerifierWebhookConfig cfg = {state, urls, NULL, NULL, NULL, 3, 10, 2000};
                wh = vtc_verifier_webhook_new(&cfg, &error);
                g_assert_no_error(error);
                g_assert_nonnull(wh);
        }
        /* the key: created with mode 0600, loaded again the same */
        g_assert_cmpint(g_stat(key_path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        {
                VtcVerifierWebhookConfig cfg = {state, NULL, NULL, NULL, NULL, 1, 10, 2000};
                wh2 = vtc_verifier_webhook_new(&cfg, &error);
                g_assert_no_error(error);
                g_assert_cmpstr(vtc_verifier_webhook_get_key_id(wh2),
                                ==,
                                vtc_verifier_webhook_get_key_id(wh));
                g_assert_cmpuint(strlen(vtc_verifier_webhook_get_key_id(wh)), ==, 64);
        }

        g_assert_true(vtc_verifier_webhook_sign(wh,
                                                UUID_A,
                                                "guest_ima_policy",
                                                "#3 /tmp/x: \"bad\"\n",
                                                "00ff",
                                                1795000300,
                                                &event,
                                                &sig,
                                                &error));
        g_assert_no_error(error);
        vtc_verifier_webhook_deliver(wh, event, sig, done_cb, &o);
        deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (!o.done && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        g_assert_true(o.done);
        g_assert_cmpuint(o.delivered, ==, 1);
        g_assert_cmpuint(o.undelivered, ==, 1);
        g_assert_cmpuint(r.hits, ==, 2); /* refused once, then taken */
        g_assert_cmpuint(r.bodies->len, ==, 1);
        vtc_verifier_webhook_get_counts(wh, &delivered, &retried, &abandoned);
        g_assert_cmpuint(delivered, ==, 1);
        g_assert_cmpuint(abandoned, ==, 1);
        g_assert_cmpuint(retried, ==, 1 + 2); /* one for the receiver, two for the dead port */

        /* the receiver's side: the public key from the state directory */
        pub = vtc_file_read(pub_path, 65536, &error);
        g_assert_no_error(error);
        pub_text = g_strndup(g_bytes_get_data(pub, NULL), g_bytes_get_size(pub));
        g_assert_cmpstr(pub_text, ==, vtc_verifier_webhook_get_public_pem(wh));
        verified = vtc_verifier_webhook_verify(pub_text,
                                               r.bodies->pdata[0],
                                               strlen(r.bodies->pdata[0]),
                                               &error);
        g_assert_no_error(error);
        g_assert_nonnull(verified);
        g_assert_cmpstr(json_object_get_string_member(verified, "vm"), ==, UUID_A);
        g_assert_cmpstr(json_object_get_string_member(verified, "type"), ==, "revocation");
        g_assert_cmpstr(json_object_get_string_member(verified, "reason"), ==, "guest_ima_policy");
        g_assert_cmpstr(json_object_get_string_member(verified, "evidence_digest"), ==, "00ff");
        g_assert_cmpint(json_object_get_int_member(verified, "time"), ==, 1795000300);
        g_assert_cmpstr(json_object_get_string_member(verified, "key_id"),
                        ==,
                        vtc_verifier_webhook_get_key_id(wh));

        /* one changed byte of the event: refused */
        tampered = g_strdup(r.bodies->pdata[0]);
        {
                gchar *p = strstr(tampered, "guest_ima_policy");
                g_assert_nonnull(p);
                p[0] = 'G';
        }
        g_assert_null(vtc_verifier_webhook_verify(pub_text, tampered, strlen(tampered), &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_clear_error(&error);
        /* another key: refused */
        {
                g_autofree gchar *dir2 = vtc_test_tmpdir_new();
                VtcVerifierWebhookConfig cfg = {dir2, NULL, NULL, NULL, NULL, 1, 10, 2000};
                g_autoptr(VtcVerifierWebhook) other = vtc_verifier_webhook_new(&cfg, &error);
                g_assert_no_error(error);
                g_assert_null(
                    vtc_verifier_webhook_verify(vtc_verifier_webhook_get_public_pem(other),
                                                r.bodies->pdata[0],
                                                strlen(r.bodies->pdata[0]),
                                                &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
                g_clear_error(&error);
                vtc_test_tmpdir_free(g_steal_pointer(&dir2));
        }
        soup_server_disconnect(server);
        g_ptr_array_unref(r.bodies);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
test_bad_config(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *key = g_build_filename(dir, "revocation.key", NULL);
        g_autoptr(GError) error = NULL;
        const gchar *urls[] = {"ftp://example.org/x", NULL};
        VtcVerifierWebhookConfig cfg = {dir, urls, NULL, NULL, NULL, 1, 10, 2000};
        VtcVerifierWebhook *wh = vtc_verifier_webhook_new(&cfg, &error);

        g_assert_null(wh);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        /* a key file that is not a P-256 key stops start-up rather than being replaced */
        g_assert_true(g_file_set_contents(key, "garbage", -1, NULL));
        cfg.urls = NULL;
        wh = vtc_verifier_webhook_new(&cfg, &error);
        g_assert_null(wh);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/verifier-webhook/canonical", test_canonical);
        g_test_add_func("/verifier-webhook/deliver-and-verify", test_deliver_and_verify);
        g_test_add_func("/verifier-webhook/bad-config", test_bad_config);
        return g_test_run();
}
