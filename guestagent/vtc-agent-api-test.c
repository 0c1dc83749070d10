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

/* One kept-alive connection (as the verifier's vtc_http session makes them): the request
 * flagged idempotent so that libsoup reuses the connection for POSTs too. */
static JsonObject *
request_kept_alive(SoupSession *session,
                   GTlsCertificate *pinned,
                   GTlsCertificate *client,
                   const gchar *method,
                   const gchar *url,
                   const gchar *body,
                   guint *out_status,
                   guint64 *out_conn_id)
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
        soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);
        soup_session_send_and_read_async(session, msg, G_PRIORITY_DEFAULT, NULL, reply_cb, &r);
        while (!r.done)
                g_main_context_iteration(NULL, TRUE);
        *out_status = soup_message_get_status(msg);
        *out_conn_id = soup_message_get_connection_id(msg);
        o = vtc_json_parse_object(g_bytes_get_data(r.body, NULL),
                                  g_bytes_get_size(r.body),
                                  &limits,
                                  &error);
        g_assert_no_error(error);
        g_bytes_unref(r.body);
        return o;
}

#define KEEP_ALIVE_ROUNDS 4

/* libsoup hands the server the peer certificate only on the request that made the TLS
 * handshake: every later round on the same connection must still be recognised, and a
 * connection without a (valid) certificate must stay refused for every request. */
static void
test_keep_alive(void)
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
        g_autofree gchar *url = NULL;
        g_autofree gchar *version_url = NULL;
        guint8 sha[32];
        VtcAgentRoundOptions ro = {.uuid = "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11"};
        VtcAgentApiOptions ao = {
            .cert_path = crt,
            .key_path = key,
            .client_ca_path = ca,
            .address = "127.0.0.1",
            .version = "vtc-agent test",
        };

        g_assert_true(vtc_ca_init(ca_dir, "vtc test CA", 1, &error));
        g_assert_true(vtc_ca_issue(ca_dir, "verifier", NULL, 1, &error));
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
        pinned = g_tls_certificate_new_from_file(crt, &error);
        client = g_tls_certificate_new_from_files(vcrt, vkey, &error);
        intruder = g_tls_certificate_new_from_files(ocrt, okey, &error);
        g_assert_no_error(error);
        url = g_strdup_printf("https://127.0.0.1:%u/v1/round", vtc_agent_api_get_port(api));
        version_url =
            g_strdup_printf("https://127.0.0.1:%u/v1/version", vtc_agent_api_get_port(api));

        {
                /* the verifier: one connection, several rounds, all answered and verified */
                g_autoptr(SoupSession) session =
                    soup_session_new_with_options("max-conns", 1, "max-conns-per-host", 1, NULL);
                guint64 first_conn = 0;

                soup_session_set_proxy_resolver(session, NULL);
                for (guint i = 0; i < KEEP_ALIVE_ROUNDS; i++) {
                        VtcChannelRound r;
                        g_autofree gchar *body = NULL;
                        g_autoptr(JsonObject) o = NULL;
                        guint status = 0;
                        guint64 conn = 0;

                        vtc_agent_test_round_init(&r, 0x7ff, 0);
                        body = vtc_agent_test_round_json(&r, 0);
                        o = request_kept_alive(session,
                                               pinned,
                                               client,
                                               "POST",
                                               url,
                                               body,
                                               &status,
                                               &conn);
                        g_test_message("round %u on connection %" G_GUINT64_FORMAT ": %u",
                                       i,
                                       conn,
                                       status);
                        if (i == 0)
                                first_conn = conn;
                        /* the point of the test: the same connection every time */
                        g_assert_cmpuint(conn, ==, first_conn);
                        g_assert_cmpuint(status, ==, 200);
                        g_assert_cmpint(
                            vtc_agent_test_check_evidence(o,
                                                          vtc_agent_tpm_get_ak_public(tpm),
                                                          &r,
                                                          sha),
                            ==,
                            VTC_QUOTE_FAILURE_NONE);
                }
        }
        for (guint who = 0; who < 2; who++) {
                /* no certificate, or one of another CA: refused on every request of the
                 * connection, also after requests that need none */
                g_autoptr(SoupSession) session =
                    soup_session_new_with_options("max-conns", 1, "max-conns-per-host", 1, NULL);
                GTlsCertificate *cert = who == 0 ? NULL : intruder;
                guint64 first_conn = 0;

                soup_session_set_proxy_resolver(session, NULL);
                for (guint i = 0; i < KEEP_ALIVE_ROUNDS; i++) {
                        VtcChannelRound r;
                        g_autofree gchar *body = NULL;
                        g_autoptr(JsonObject) o = NULL;
                        g_autoptr(JsonObject) v = NULL;
                        guint status = 0;
                        guint64 conn = 0;

                        v = request_kept_alive(session,
                                               pinned,
                                               cert,
                                               "GET",
                                               version_url,
                                               NULL,
                                               &status,
                                               &conn);
                        g_assert_cmpuint(status, ==, 200);
                        if (i == 0)
                                first_conn = conn;
                        g_assert_cmpuint(conn, ==, first_conn);
                        vtc_agent_test_round_init(&r, 0x7ff, 0);
                        body = vtc_agent_test_round_json(&r, 0);
                        o = request_kept_alive(session,
                                               pinned,
                                               cert,
                                               "POST",
                                               url,
                                               body,
                                               &status,
                                               &conn);
                        g_assert_cmpuint(conn, ==, first_conn);
                        g_assert_cmpuint(status, ==, 401);
                        g_assert_cmpstr(json_object_get_string_member(o, "error"),
                                        ==,
                                        "unauthorized");
                }
        }
}

/* ---- the TLS identity in the vTPM's NV ------------------------------------------------------ */

#define NV_UUID  "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11"
#define NV_INDEX VTC_AGENT_API_TLS_NV_INDEX_DEFAULT

static VtcAgentTpm *
nv_tpm_open(VtcAgentTestTpm *t)
{
        g_autoptr(GError) error = NULL;
        VtcAgentTpm *tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                             VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                             VTC_TPM_KEY_ECC_P256,
                                             &error);

        g_assert_no_error(error);
        return tpm;
}

/* The agent starting with the empty state directory @dir/@name: its source, and the SPKI
 * digest and PEM of the certificate it ended with. */
static VtcAgentApiTlsSource
nv_ensure(VtcAgentTpm *tpm,
          TPM2_HANDLE nv_index,
          const gchar *dir,
          const gchar *name,
          guint8 out_sha[32],
          gchar **out_pem,
          gchar **out_why)
{
        g_autofree gchar *state = g_build_filename(dir, name, NULL);
        g_autofree gchar *crt = g_build_filename(state, "tls.crt", NULL);
        g_autofree gchar *key = g_build_filename(state, "tls.key", NULL);
        g_autoptr(GError) error = NULL;
        VtcAgentApiTlsSource source = VTC_AGENT_API_TLS_FILES;
        g_autoptr(GTlsCertificate) pair = NULL;
        GStatBuf st;

        g_assert_cmpint(g_mkdir_with_parents(state, 0700), ==, 0);
        g_assert_true(vtc_agent_api_tls_ensure_nv(tpm,
                                                  nv_index,
                                                  crt,
                                                  key,
                                                  NV_UUID,
                                                  &source,
                                                  out_why,
                                                  &error));
        g_assert_no_error(error);
        g_assert_true(vtc_agent_api_tls_key_sha256(crt, out_sha, out_pem, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_stat(key, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        /* the files make a key pair the HTTPS server takes */
        pair = g_tls_certificate_new_from_files(crt, key, &error);
        g_assert_no_error(error);
        return source;
}

/* A guest reboot: the vTPM's process ends and starts again on the same state, the agent's
 * state directory is gone. The TLS identity must be the same. */
static void
test_tls_nv(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(VtcAgentTpm) tpm = nv_tpm_open(t);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *pem1 = NULL;
        g_autofree gchar *pem2 = NULL;
        g_autofree gchar *pem3 = NULL;
        g_autofree gchar *pem4 = NULL;
        g_autofree gchar *why = NULL;
        g_autofree gchar *disk = g_build_filename(t->dir, "disk", NULL);
        g_autofree gchar *disk_crt = g_build_filename(disk, "tls.crt", NULL);
        g_autofree gchar *disk_key = g_build_filename(disk, "tls.key", NULL);
        g_autoptr(GBytes) blob = NULL;
        guint8 sha1[32];
        guint8 sha2[32];
        guint8 sha3[32];
        guint8 sha4[32];

        /* first boot: nothing anywhere, made and kept in NV */
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "boot1", sha1, &pem1, &why),
                        ==,
                        VTC_AGENT_API_TLS_MADE_NV);
        g_assert_null(why);
        blob = vtc_agent_tpm_nv_load(tpm, NV_INDEX, VTC_AGENT_API_TLS_NV_SIZE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(blob), ==, VTC_AGENT_API_TLS_NV_SIZE);
        g_assert_cmpmem(g_bytes_get_data(blob, NULL), 4, "VTLS", 4);

        /* reboot: swtpm restarted on its state, an empty state directory */
        g_clear_pointer(&tpm, vtc_agent_tpm_unref);
        g_clear_pointer(&t->swtpm, vtc_swtpm_free);
        t->swtpm = vtc_swtpm_new(t->state_dir, &error);
        g_assert_no_error(error);
        tpm = nv_tpm_open(t);
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "boot2", sha2, &pem2, &why),
                        ==,
                        VTC_AGENT_API_TLS_FROM_NV);
        g_assert_null(why);
        g_assert_cmpmem(sha1, 32, sha2, 32);
        g_assert_cmpstr(pem1, ==, pem2);
        {
                /* the same private key too */
                g_autofree gchar *k1 = NULL;
                g_autofree gchar *k2 = NULL;
                g_autofree gchar *p1 = g_build_filename(t->dir, "boot1", "tls.key", NULL);
                g_autofree gchar *p2 = g_build_filename(t->dir, "boot2", "tls.key", NULL);

                g_assert_true(g_file_get_contents(p1, &k1, NULL, NULL));
                g_assert_true(g_file_get_contents(p2, &k2, NULL, NULL));
                g_assert_cmpstr(k1, ==, k2);
        }
        /* a restart of the agent alone: the files in the state directory are used */
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "boot2", sha3, &pem3, NULL),
                        ==,
                        VTC_AGENT_API_TLS_FILES);
        g_assert_cmpmem(sha1, 32, sha3, 32);

        /* a host with a disk: a key already in the state directory wins over NV */
        g_assert_cmpint(g_mkdir_with_parents(disk, 0700), ==, 0);
        g_assert_true(vtc_agent_api_tls_ensure(disk_crt, disk_key, NV_UUID, &error));
        g_assert_no_error(error);
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "disk", sha4, &pem4, NULL),
                        ==,
                        VTC_AGENT_API_TLS_FILES);
        g_assert_cmpstr(pem1, !=, pem4);
        g_assert_true(memcmp(sha1, sha4, 32) != 0);
        /* ... and NV is left as it was */
        {
                g_autoptr(GBytes) again =
                    vtc_agent_tpm_nv_load(tpm, NV_INDEX, VTC_AGENT_API_TLS_NV_SIZE, &error);

                g_assert_no_error(error);
                g_assert_true(g_bytes_equal(blob, again));
        }
}

/* Content that does not parse is replaced (and said); a newer format is left alone. */
static void
test_tls_nv_corrupt(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(VtcAgentTpm) tpm = nv_tpm_open(t);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) blob = NULL;
        g_autofree gchar *pem1 = NULL;
        g_autofree gchar *pem2 = NULL;
        g_autofree gchar *pem3 = NULL;
        g_autofree gchar *why = NULL;
        g_autofree gchar *no_why = NULL;
        guint8 sha1[32];
        guint8 sha2[32];
        guint8 sha3[32];

        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "s1", sha1, &pem1, NULL),
                        ==,
                        VTC_AGENT_API_TLS_MADE_NV);
        blob = vtc_agent_tpm_nv_load(tpm, NV_INDEX, VTC_AGENT_API_TLS_NV_SIZE, &error);
        g_assert_no_error(error);

        /* a newer agent's format: refused, not overwritten */
        {
                g_autofree guint8 *d =
                    g_memdup2(g_bytes_get_data(blob, NULL), g_bytes_get_size(blob));
                g_autoptr(GBytes) newer = NULL;
                g_autoptr(GBytes) after = NULL;
                g_autofree gchar *state = g_build_filename(t->dir, "s-newer", NULL);
                g_autofree gchar *crt = g_build_filename(state, "tls.crt", NULL);
                g_autofree gchar *key = g_build_filename(state, "tls.key", NULL);
                VtcAgentApiTlsSource source = VTC_AGENT_API_TLS_FILES;

                d[5] = 2;
                newer = g_bytes_new(d, g_bytes_get_size(blob));
                g_assert_true(vtc_agent_tpm_nv_store(tpm, NV_INDEX, newer, &error));
                g_assert_no_error(error);
                g_assert_cmpint(g_mkdir_with_parents(state, 0700), ==, 0);
                g_assert_false(vtc_agent_api_tls_ensure_nv(tpm,
                                                           NV_INDEX,
                                                           crt,
                                                           key,
                                                           NV_UUID,
                                                           &source,
                                                           NULL,
                                                           &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED);
                g_test_message("newer: %s", error->message);
                g_assert_nonnull(strstr(error->message, "version 2"));
                g_assert_nonnull(strstr(error->message, "0x01500100"));
                g_clear_error(&error);
                g_assert_false(g_file_test(crt, G_FILE_TEST_EXISTS));
                g_assert_false(g_file_test(key, G_FILE_TEST_EXISTS));
                after = vtc_agent_tpm_nv_load(tpm, NV_INDEX, VTC_AGENT_API_TLS_NV_SIZE, &error);
                g_assert_no_error(error);
                g_assert_true(g_bytes_equal(after, newer));
        }
        /* one bit flipped in the certificate: the checksum refuses it, a new identity is made
         * and stored, and the caller is told why */
        {
                g_autofree guint8 *d =
                    g_memdup2(g_bytes_get_data(blob, NULL), g_bytes_get_size(blob));
                g_autoptr(GBytes) bad = NULL;

                d[400] ^= 0x01;
                bad = g_bytes_new(d, g_bytes_get_size(blob));
                g_assert_true(vtc_agent_tpm_nv_store(tpm, NV_INDEX, bad, &error));
                g_assert_no_error(error);
        }
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "s2", sha2, &pem2, &why),
                        ==,
                        VTC_AGENT_API_TLS_REPLACED_NV);
        g_test_message("replaced: %s", why);
        g_assert_nonnull(why);
        g_assert_nonnull(strstr(why, "0x01500100"));
        g_assert_nonnull(strstr(why, "checksum"));
        g_assert_true(memcmp(sha1, sha2, 32) != 0);
        /* the replacement is what the next boot finds */
        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "s3", sha3, &pem3, &no_why),
                        ==,
                        VTC_AGENT_API_TLS_FROM_NV);
        g_assert_null(no_why);
        g_assert_cmpmem(sha2, 32, sha3, 32);
        g_assert_cmpstr(pem2, ==, pem3);
}

/* An index at our handle that is not of our kind is someone else's: an error, never touched. */
static void
test_tls_nv_conflict(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = g_build_filename(t->dir, "state", NULL);
        g_autofree gchar *crt = g_build_filename(state, "tls.crt", NULL);
        g_autofree gchar *key = g_build_filename(state, "tls.key", NULL);
        VtcAgentApiTlsSource source = VTC_AGENT_API_TLS_FILES;
        const TPM2_HANDLE other_kind = NV_INDEX + 1;
        const TPM2_HANDLE other_size = NV_INDEX + 2;

        {
                /* an index with other attributes (auth read/write), as another tool makes */
                g_autoptr(ESYS_CONTEXT) ctx = vtc_swtpm_esys_open(t->swtpm, &error);
                TPM2B_AUTH auth = {0};
                TPM2B_NV_PUBLIC pub = {
                    .nvPublic =
                        {
                            .nvIndex = other_kind,
                            .nameAlg = TPM2_ALG_SHA256,
                            .attributes = TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE,
                            .dataSize = VTC_AGENT_API_TLS_NV_SIZE,
                        },
                };
                ESYS_TR h = ESYS_TR_NONE;

                g_assert_no_error(error);
                g_assert_cmphex(Esys_NV_DefineSpace(ctx,
                                                    ESYS_TR_RH_OWNER,
                                                    ESYS_TR_PASSWORD,
                                                    ESYS_TR_NONE,
                                                    ESYS_TR_NONE,
                                                    &auth,
                                                    &pub,
                                                    &h),
                                ==,
                                TSS2_RC_SUCCESS);
                Esys_TR_Close(ctx, &h);
                /* ours, defined but never written (the agent stopped between the two) */
                pub.nvPublic.nvIndex = NV_INDEX;
                pub.nvPublic.attributes = VTC_AGENT_TPM_NV_ATTRIBUTES;
                g_assert_cmphex(Esys_NV_DefineSpace(ctx,
                                                    ESYS_TR_RH_OWNER,
                                                    ESYS_TR_PASSWORD,
                                                    ESYS_TR_NONE,
                                                    ESYS_TR_NONE,
                                                    &auth,
                                                    &pub,
                                                    &h),
                                ==,
                                TSS2_RC_SUCCESS);
                Esys_TR_Close(ctx, &h);
        }
        {
                g_autoptr(VtcAgentTpm) tpm = nv_tpm_open(t);
                g_autoptr(GBytes) small = g_bytes_new_static("0123456789abcdef", 16);
                g_autoptr(GBytes) small_after = NULL;

                g_assert_cmpint(g_mkdir_with_parents(state, 0700), ==, 0);
                g_assert_false(vtc_agent_api_tls_ensure_nv(tpm,
                                                           other_kind,
                                                           crt,
                                                           key,
                                                           NV_UUID,
                                                           &source,
                                                           NULL,
                                                           &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_test_message("other kind: %s", error->message);
                g_assert_nonnull(strstr(error->message, "0x01500101"));
                g_assert_nonnull(strstr(error->message, "nv_index"));
                g_clear_error(&error);
                g_assert_false(g_file_test(crt, G_FILE_TEST_EXISTS));
                /* writing is refused the same way */
                g_assert_false(vtc_agent_tpm_nv_store(tpm, other_kind, small, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_clear_error(&error);

                /* one of our attributes but another size */
                g_assert_true(vtc_agent_tpm_nv_store(tpm, other_size, small, &error));
                g_assert_no_error(error);
                g_assert_false(vtc_agent_api_tls_ensure_nv(tpm,
                                                           other_size,
                                                           crt,
                                                           key,
                                                           NV_UUID,
                                                           &source,
                                                           NULL,
                                                           &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_test_message("other size: %s", error->message);
                g_assert_nonnull(strstr(error->message, "16 bytes"));
                g_clear_error(&error);
                g_assert_false(g_file_test(crt, G_FILE_TEST_EXISTS));
                small_after = vtc_agent_tpm_nv_load(tpm, other_size, 16, &error);
                g_assert_no_error(error);
                g_assert_true(g_bytes_equal(small, small_after));

                /* the unwritten index of ours is simply used */
                {
                        g_autofree gchar *pem1 = NULL;
                        g_autofree gchar *pem2 = NULL;
                        guint8 sha1[32];
                        guint8 sha2[32];

                        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "u1", sha1, &pem1, NULL),
                                        ==,
                                        VTC_AGENT_API_TLS_MADE_NV);
                        g_assert_cmpint(nv_ensure(tpm, NV_INDEX, t->dir, "u2", sha2, &pem2, NULL),
                                        ==,
                                        VTC_AGENT_API_TLS_FROM_NV);
                        g_assert_cmpstr(pem1, ==, pem2);
                }
                /* not an NV index at all */
                g_assert_false(vtc_agent_api_tls_ensure_nv(tpm,
                                                           0x81000100,
                                                           crt,
                                                           key,
                                                           NV_UUID,
                                                           &source,
                                                           NULL,
                                                           &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        }
}

/* nv_index 0: the key lives in the state directory only, as before; NV is not touched. */
static void
test_tls_nv_off(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autoptr(VtcAgentTpm) tpm = nv_tpm_open(t);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) none = NULL;
        g_autofree gchar *pem1 = NULL;
        g_autofree gchar *pem2 = NULL;
        g_autofree gchar *pem3 = NULL;
        guint8 sha1[32];
        guint8 sha2[32];
        guint8 sha3[32];

        g_assert_cmpint(nv_ensure(tpm, 0, t->dir, "a", sha1, &pem1, NULL),
                        ==,
                        VTC_AGENT_API_TLS_MADE);
        g_assert_cmpint(nv_ensure(tpm, 0, t->dir, "a", sha2, &pem2, NULL),
                        ==,
                        VTC_AGENT_API_TLS_FILES);
        g_assert_cmpmem(sha1, 32, sha2, 32);
        /* an empty state directory: a new key (the old behaviour) */
        g_assert_cmpint(nv_ensure(tpm, 0, t->dir, "b", sha3, &pem3, NULL),
                        ==,
                        VTC_AGENT_API_TLS_MADE);
        g_assert_true(memcmp(sha1, sha3, 32) != 0);
        none = vtc_agent_tpm_nv_load(tpm, NV_INDEX, VTC_AGENT_API_TLS_NV_SIZE, &error);
        g_assert_null(none);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

static void
blob_refused(const guint8 *data, gsize len, gint code, const gchar *says)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;

        g_assert_false(vtc_agent_api_tls_blob_parse(data, len, &key, &cert, &error));
        g_assert_error(error, VTC_ERROR, code);
        g_test_message("refused: %s", error->message);
        g_assert_nonnull(strstr(error->message, says));
        g_assert_null(key);
        g_assert_null(cert);
}

/* Every way a blob can be wrong (no TPM needed). */
static void
test_tls_blob(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) k1 = NULL;
        g_autoptr(X509) c1 = NULL;
        g_autoptr(EVP_PKEY) k2 = NULL;
        g_autoptr(X509) c2 = NULL;
        g_autoptr(GBytes) good = NULL;
        g_autoptr(GBytes) mixed = NULL;
        g_autoptr(EVP_PKEY) key = NULL;
        g_autoptr(X509) cert = NULL;
        const guint8 *g;
        gsize len;
        guint key_len;
        guint cert_len;

        for (guint i = 0; i < 2; i++) {
                g_autofree gchar *n = g_strdup_printf("%u", i);
                g_autofree gchar *crt = g_build_filename(dir, n, "tls.crt", NULL);
                g_autofree gchar *kp = g_build_filename(dir, n, "tls.key", NULL);
                g_autofree gchar *sub = g_build_filename(dir, n, NULL);
                g_autoptr(BIO) kb = NULL;
                g_autoptr(BIO) cb = NULL;
                g_autoptr(GBytes) kd = NULL;
                g_autoptr(GBytes) cd = NULL;

                g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
                g_assert_true(vtc_agent_api_tls_ensure(crt, kp, NV_UUID, &error));
                kd = vtc_file_read(kp, 65536, &error);
                cd = vtc_file_read(crt, 65536, &error);
                g_assert_no_error(error);
                kb = BIO_new_mem_buf(g_bytes_get_data(kd, NULL), (int)g_bytes_get_size(kd));
                cb = BIO_new_mem_buf(g_bytes_get_data(cd, NULL), (int)g_bytes_get_size(cd));
                *(i == 0 ? &k1 : &k2) = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
                *(i == 0 ? &c1 : &c2) = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        }
        g_assert_nonnull(k1);
        g_assert_nonnull(c2);
        good = vtc_agent_api_tls_blob_pack(k1, c1, VTC_AGENT_API_TLS_NV_SIZE, &error);
        g_assert_no_error(error);
        g = g_bytes_get_data(good, &len);
        g_assert_cmpuint(len, ==, VTC_AGENT_API_TLS_NV_SIZE);
        key_len = ((guint)g[6] << 8) | g[7];
        cert_len = ((guint)g[8] << 8) | g[9];
        g_test_message("key %u bytes, certificate %u bytes", key_len, cert_len);
        /* room to spare in the index */
        g_assert_cmpuint(44 + key_len + cert_len, <, VTC_AGENT_API_TLS_NV_SIZE - 200);
        g_assert_true(vtc_agent_api_tls_blob_parse(g, len, &key, &cert, &error));
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(key, k1), ==, 1);
        g_assert_cmpint(X509_cmp(cert, c1), ==, 0);
        /* without the padding too */
        g_clear_pointer(&key, EVP_PKEY_free);
        g_clear_pointer(&cert, X509_free);
        g_assert_true(
            vtc_agent_api_tls_blob_parse(g, 44 + key_len + cert_len, &key, &cert, &error));

        /* too small for the pair */
        g_assert_null(vtc_agent_api_tls_blob_pack(k1, c1, 200, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        blob_refused(g, 43, VTC_ERROR_INVALID_DATA, "shorter than the header");
        blob_refused(g, 44 + key_len + cert_len - 1, VTC_ERROR_INVALID_DATA, "bad header");
        {
                guint8 zero[VTC_AGENT_API_TLS_NV_SIZE] = {0};

                blob_refused(zero, sizeof(zero), VTC_ERROR_INVALID_DATA, "no TLS identity");
        }
        for (guint what = 0; what < 7; what++) {
                g_autofree guint8 *d = g_memdup2(g, len);
                const gchar *says = NULL;
                gint code = VTC_ERROR_INVALID_DATA;

                switch (what) {
                case 0:
                        d[0] = 'X';
                        says = "not \"VTLS\"";
                        break;
                case 1:
                        d[4] = 1; /* version 257 */
                        code = VTC_ERROR_NOT_SUPPORTED;
                        says = "version 257";
                        break;
                case 2:
                        d[6] = 0;
                        d[7] = 0;
                        says = "bad header";
                        break;
                case 3:
                        d[8] = 0xff;
                        says = "bad header";
                        break;
                case 4:
                        d[11] = 1;
                        says = "bad header";
                        break;
                case 5:
                        d[12] ^= 0x80;
                        says = "checksum";
                        break;
                case 6:
                        d[44 + key_len + cert_len - 1] ^= 0x01; /* the signature */
                        says = "checksum";
                        break;
                default:
                        g_assert_not_reached();
                }
                blob_refused(d, len, code, says);
        }
        /* a well-formed blob whose certificate is another key's */
        mixed = vtc_agent_api_tls_blob_pack(k1, c2, VTC_AGENT_API_TLS_NV_SIZE, &error);
        g_assert_no_error(error);
        blob_refused(g_bytes_get_data(mixed, NULL),
                     g_bytes_get_size(mixed),
                     VTC_ERROR_VERIFY_FAILED,
                     "public key is not the TLS key");
        /* DER that does not fill its length: refused even with a matching checksum */
        {
                g_autofree guint8 *d = g_malloc0(len);
                guint kl = key_len + 1;

                memcpy(d, g, 12);
                d[6] = (guint8)(kl >> 8);
                d[7] = (guint8)kl;
                memcpy(d + 44, g + 44, key_len);
                d[44 + key_len] = 0; /* a trailing byte after the key's DER */
                memcpy(d + 44 + kl, g + 44 + key_len, cert_len);
                g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                       d + 44,
                                       kl + cert_len,
                                       d + 12,
                                       &error));
                blob_refused(d, len, VTC_ERROR_INVALID_DATA, "PKCS#8");
        }
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/agent-api/tls-key", test_tls_key);
        g_test_add_func("/agent-api/direct", test_direct);
        g_test_add_func("/agent-api/keep-alive", test_keep_alive);
        g_test_add_func("/agent-api/tls-blob", test_tls_blob);
        g_test_add_func("/agent-api/tls-nv", test_tls_nv);
        g_test_add_func("/agent-api/tls-nv-corrupt", test_tls_nv_corrupt);
        g_test_add_func("/agent-api/tls-nv-conflict", test_tls_nv_conflict);
        g_test_add_func("/agent-api/tls-nv-off", test_tls_nv_off);
        return g_test_run();
}
