/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/pem.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "vtc-agent-api.h"
#include "vtc-agent-test-util.h"
#include "vtc-ca.h"

typedef struct {
        GBytes *body;
        guint status;
        gboolean done;
} Reply;

static gboolean
accept_pinned_cb(SoupMessage *msg,
                 GTlsCertificate *peer,
                 GTlsCertificateFlags errors,
                 gpointer pinned)
{
        /* the verifier pins the certificate the registrar holds for this agent */
        return g_tls_certificate_is_same(peer, pinned);
}

static void
reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Reply *r = user_data;
        g_autoptr(GError) error = NULL;

        r->body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
        g_assert_no_error(error);
        r->done = TRUE;
}

static JsonObject *
request(SoupSession *session,
        GTlsCertificate *pinned,
        GTlsCertificate *client,
        const gchar *method,
        const gchar *url,
        const gchar *body,
        guint *out_status)
{
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        Reply r = {0};
        VtcJsonLimits limits = {VTC_CHANNEL_MAX_PAYLOAD, 16, VTC_CHANNEL_MAX_PAYLOAD, 1000};
        g_autoptr(GError) error = NULL;
        JsonObject *o;

        g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_pinned_cb), pinned);
        if (client != NULL)
                soup_message_set_tls_client_certificate(msg, client);
        if (body != NULL) {
                g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
                soup_message_set_request_body_from_bytes(msg, "application/json", b);
        }
        soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, reply_cb, &r);
        while (!r.done)
                g_main_context_iteration(NULL, TRUE);
        *out_status = soup_message_get_status(msg);
        o = vtc_json_parse_object(g_bytes_get_data(r.body, NULL),
                                  g_bytes_get_size(r.body),
                                  &limits,
                                  &error);
        g_assert_no_error(error);
        g_bytes_unref(r.body);
        return o;
}

static void
test_tls_key(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *crt = g_build_filename(dir, "tls.crt", NULL);
        g_autofree gchar *key = g_build_filename(dir, "tls.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) first = NULL;
        g_autoptr(GBytes) again = NULL;
        g_autoptr(GBytes) key_pem = NULL;
        g_autoptr(BIO) bio = NULL;
        g_autoptr(EVP_PKEY) pkey = NULL;
        g_autofree gchar *pem = NULL;
        guint8 sha[32];
        guint8 expect[32];
        guint8 *spki = NULL;
        int len;
        GStatBuf st;

        g_assert_true(
            vtc_agent_api_tls_ensure(crt, key, "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11", &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_stat(key, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        first = vtc_file_read(crt, 65536, &error);
        /* kept across restarts */
        g_assert_true(
            vtc_agent_api_tls_ensure(crt, key, "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11", &error));
        again = vtc_file_read(crt, 65536, &error);
        g_assert_true(g_bytes_equal(first, again));
        /* the digest bound into quotes is the key's SubjectPublicKeyInfo's */
        g_assert_true(vtc_agent_api_tls_key_sha256(crt, sha, &pem, &error));
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(pem, "-----BEGIN CERTIFICATE-----"));
        key_pem = vtc_file_read(key, 65536, &error);
        bio = BIO_new_mem_buf(g_bytes_get_data(key_pem, NULL), (int)g_bytes_get_size(key_pem));
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        g_assert_nonnull(pkey);
        len = i2d_PUBKEY(pkey, &spki);
        g_assert_cmpint(len, >, 0);
        g_assert_true(
            vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), spki, (gsize)len, expect, &error));
        OPENSSL_free(spki);
        g_assert_cmpmem(sha, 32, expect, 32);
        /* one without the other is not silently replaced */
        g_assert_cmpint(g_unlink(key), ==, 0);
        g_assert_false(
            vtc_agent_api_tls_ensure(crt, key, "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_assert_true(g_file_test(crt, G_FILE_TEST_EXISTS));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
test_direct(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autofree gchar *ca_dir = g_build_filename(t->dir, "tls", NULL);
        g_autofree gchar *ca = g_build_filename(ca_dir, "ca.crt", NULL);
        g_autofree gchar *vcrt = g_build_filename(ca_dir, "verifier.crt", NULL);
        g_autofree gchar *vkey = g_build_filename(ca_dir, "verifier.key", NULL);
        g_autofree gchar *crt = g_build_filename(t->dir, "agent.crt", NULL);
        g_autofree gchar *key = g_build_filename(t->dir, "agent.key", NULL);
        g_autofree gchar *other_dir = g_build_filename(t->dir, "other", NULL);
        g_autofree gchar *ocrt = g_build_filename(other_dir, "intruder.crt", NULL);
        g_autofree gchar *okey = g_build_filename(other_dir, "intruder.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentTpm) tpm = NULL;
        g_autoptr(VtcAgentRound) round = NULL;
        g_autoptr(VtcAgentApi) api = NULL;
        g_autoptr(GTlsCertificate) pinned = NULL;
        g_autoptr(GTlsCertificate) client = NULL;
        g_autoptr(GTlsCertificate) intruder = NULL;
        g_autoptr(SoupSession) session = soup_session_new();
        g_autofree gchar *base = NULL;
        g_autofree gchar *url = NULL;
        g_autofree gchar *body = NULL;
        guint8 sha[32];
        VtcAgentRoundOptions ro = {.uuid = "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11"};
        VtcAgentApiOptions ao = {
            .cert_path = crt,
            .key_path = key,
            .client_ca_path = ca,
            .address = "127.0.0.1",
            .version = "vtc-agent test",
        };
        VtcChannelRound r;
        guint status = 0;

        g_assert_true(vtc_ca_init(ca_dir, "vtc test CA", 1, &error));
        g_assert_true(vtc_ca_issue(ca_dir, "verifier", NULL, 1, &error));
        g_assert_no_error(error);
        /* a client certificate of another CA */
        g_assert_true(vtc_ca_init(other_dir, "other CA", 1, &error));
        g_assert_true(vtc_ca_issue(other_dir, "intruder", NULL, 1, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_agent_api_tls_ensure(crt, key, ro.uuid, &error));
        g_assert_true(vtc_agent_api_tls_key_sha256(crt, sha, NULL, &error));
        g_assert_no_error(error);
        ro.tls_key_sha256 = sha;
        tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                VTC_TPM_KEY_ECC_P256,
                                &error);
        g_assert_no_error(error);
        round = vtc_agent_round_new(tpm, &ro);
        api = vtc_agent_api_new(&ao, round, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_agent_api_get_port(api), >, 0);
        pinned = g_tls_certificate_new_from_file(crt, &error);
        client = g_tls_certificate_new_from_files(vcrt, vkey, &error);
        intruder = g_tls_certificate_new_from_files(ocrt, okey, &error);
        g_assert_no_error(error);
        /* never a proxy from the environment (nor libproxy) */
        soup_session_set_proxy_resolver(session, NULL);
        base = g_strdup_printf("https://127.0.0.1:%u", vtc_agent_api_get_port(api));

        {
                g_autofree gchar *u = g_strdup_printf("%s/v1/version", base);
                g_autoptr(JsonObject) o = request(session, pinned, NULL, "GET", u, NULL, &status);

                g_assert_cmpuint(status, ==, 200);
                g_assert_cmpstr(json_object_get_string_member(o, "api"), ==, "v1");
                g_assert_cmpstr(json_object_get_string_member(o, "agent"), ==, "vtc-agent test");
        }
        url = g_strdup_printf("%s/v1/round", base);
        vtc_agent_test_round_init(&r, 0x7ff, 0);
        body = vtc_agent_test_round_json(&r, 0);
        {
                /* no client certificate, or one of another CA */
                g_autoptr(JsonObject) o =
                    request(session, pinned, NULL, "POST", url, body, &status);
                g_autoptr(JsonObject) o2 =
                    request(session, pinned, intruder, "POST", url, body, &status);

                g_assert_cmpuint(status, ==, 401);
                g_assert_cmpstr(json_object_get_string_member(o2, "error"), ==, "unauthorized");
                g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "unauthorized");
        }
        {
                g_autoptr(JsonObject) o =
                    request(session,
                            pinned,
                            client,
                            "POST",
                            url,
                            "{\"nonce\": \"00\", \"pcrs\": {\"sha256\": [0]}}",
                            &status);

                g_assert_cmpuint(status, ==, 400);
                g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "invalid_data");
        }
        {
                /* the channel's members are not part of the HTTPS request */
                g_autofree gchar *with_id = vtc_agent_test_round_json(&r, 4);
                g_autoptr(JsonObject) o =
                    request(session, pinned, client, "POST", url, with_id, &status);

                g_assert_cmpuint(status, ==, 400);
                g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "invalid_data");
        }
        {
                g_autoptr(JsonObject) o =
                    request(session, pinned, client, "POST", url, body, &status);

                g_assert_cmpuint(status, ==, 200);
                g_assert_false(json_object_has_member(o, "id"));
                g_assert_false(json_object_has_member(o, "ok"));
                g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, ro.uuid);
                g_assert_cmpint(
                    vtc_agent_test_check_evidence(o, vtc_agent_tpm_get_ak_public(tpm), &r, sha),
                    ==,
                    VTC_QUOTE_FAILURE_NONE);
        }
        {
                g_autoptr(JsonObject) o =
                    request(session, pinned, client, "GET", url, NULL, &status);

                g_assert_cmpuint(status, ==, 404);
                g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, "not_found");
        }
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/agent-api/tls-key", test_tls_key);
        g_test_add_func("/agent-api/direct", test_direct);
        return g_test_run();
}
