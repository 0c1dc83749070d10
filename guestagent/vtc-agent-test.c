/* SPDX-License-Identifier: Apache-2.0 */
/* The real vtc-agent binary against a swtpm, a unix channel socket and the real registrar. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vtc-agent-api.h"
#include "vtc-agent-test-registrar.h"
#include "vtc-agent-test-util.h"
#include "vtc-ca.h"

#define UUID     "0b7e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"
#define IMA_FILE "ima/rust-keylime-binary_runtime_measurements"

typedef struct {
        GSubprocess *proc;
        GDataInputStream *err;
        GString *log;   /* stderr up to "ready" */
        guint api_port; /* direct mode: from "listening on port N" */
} Agent;

static gchar *
agent_program(void)
{
        const gchar *env = g_getenv("VTC_AGENT");
        g_autofree gchar *self = NULL;
        g_autofree gchar *dir = NULL;

        if (env != NULL)
                return g_strdup(env);
        /* built beside this test */
        self = g_file_read_link("/proc/self/exe", NULL);
        g_assert_nonnull(self);
        dir = g_path_get_dirname(self);
        return g_build_filename(dir, "vtc-agent", NULL);
}

static Agent *
agent_start_full(const gchar *conf, gboolean direct)
{
        Agent *a = g_new0(Agent, 1);
        g_autofree gchar *program = agent_program();
        g_autoptr(GError) error = NULL;
        gint64 deadline = g_get_monotonic_time() + VTC_AGENT_TEST_TIMEOUT_S * G_USEC_PER_SEC;

        {
                g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
                    G_SUBPROCESS_FLAGS_STDERR_PIPE |
                    (direct ? G_SUBPROCESS_FLAGS_STDOUT_PIPE : G_SUBPROCESS_FLAGS_NONE));

                g_subprocess_launcher_set_child_setup(l, vtc_agent_test_child_setup, NULL, NULL);
                a->proc = g_subprocess_launcher_spawn(l, &error, program, "--config", conf, NULL);
        }
        g_assert_no_error(error);
        a->err = g_data_input_stream_new(g_subprocess_get_stderr_pipe(a->proc));
        a->log = g_string_new(NULL);
        for (;;) {
                g_autofree gchar *line = vtc_agent_test_read_line(a->err, deadline);

                g_assert_nonnull(line);
                g_printerr("# %s\n", line);
                g_string_append_printf(a->log, "%s\n", line);
                if (g_strcmp0(line, "vtc-agent: ready") == 0)
                        break;
        }
        if (direct) {
                /* printed before "ready" */
                g_autoptr(GDataInputStream) out =
                    g_data_input_stream_new(g_subprocess_get_stdout_pipe(a->proc));
                g_autofree gchar *line = vtc_agent_test_read_line(out, deadline);
                const gchar *prefix = "vtc-agent: listening on port ";

                g_assert_nonnull(line);
                g_assert_true(g_str_has_prefix(line, prefix));
                a->api_port = (guint)g_ascii_strtoull(line + strlen(prefix), NULL, 10);
                g_assert_cmpuint(a->api_port, >, 0);
        }
        return a;
}

static Agent *
agent_start(const gchar *conf)
{
        return agent_start_full(conf, FALSE);
}

/* SIGTERM: a clean exit with status 0 (sanitizer reports would fail it) */
static void
agent_stop(Agent *a)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *rest = NULL;

        g_subprocess_send_signal(a->proc, SIGTERM);
        g_assert_true(g_subprocess_wait(a->proc, NULL, &error));
        rest = g_data_input_stream_read_upto(a->err, "", 0, NULL, NULL, NULL);
        if (rest != NULL && rest[0] != '\0')
                g_printerr("# agent stderr: %s\n", rest);
        g_assert_true(g_subprocess_get_if_exited(a->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(a->proc), ==, 0);
        g_object_unref(a->err);
        g_object_unref(a->proc);
        g_string_free(a->log, TRUE);
        g_free(a);
}

static int
chan_connect(const gchar *path)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = VTC_AGENT_TEST_TIMEOUT_S};

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
        return fd;
}

static void
chan_send_raw(int fd, const void *data, gsize len)
{
        g_assert_cmpint(send(fd, data, len, MSG_NOSIGNAL), ==, (gssize)len);
}

static void
chan_send(int fd, const gchar *json)
{
        g_autoptr(GBytes) f = vtc_channel_frame_encode(json, strlen(json), NULL);

        chan_send_raw(fd, g_bytes_get_data(f, NULL), g_bytes_get_size(f));
}

static JsonObject *
chan_recv(int fd, VtcChannelDecoder *dec)
{
        VtcJsonLimits limits = {VTC_CHANNEL_MAX_PAYLOAD, 16, VTC_CHANNEL_MAX_PAYLOAD, 1000};

        for (;;) {
                g_autofree gchar *payload = NULL;
                gsize len = 0;
                g_autoptr(GError) error = NULL;
                guint8 buf[65536];
                ssize_t n;

                if (vtc_channel_decoder_next(dec, &payload, &len, &error)) {
                        JsonObject *o = vtc_json_parse_object(payload, len, &limits, &error);

                        g_assert_no_error(error);
                        return o;
                }
                g_assert_no_error(error);
                n = recv(fd, buf, sizeof(buf), 0);
                g_assert_cmpint(n, >, 0);
                vtc_channel_decoder_feed(dec, buf, (gsize)n);
        }
}

static void
test_agent(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(TRUE);
        g_autofree gchar *ima = vtc_test_data_path(IMA_FILE);
        g_autofree gchar *rdir = g_build_filename(t->dir, "registrar", NULL);
        g_autoptr(VtcAgentTestRegistrar) reg = vtc_agent_test_registrar_start(rdir, t->ca_dir);
        g_autofree gchar *conf = g_build_filename(t->dir, "agent.conf", NULL);
        g_autofree gchar *sock = g_build_filename(t->dir, "agent.sock", NULL);
        g_autofree gchar *state = g_build_filename(t->dir, "agent-state", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *ak_name = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) ima_bytes = vtc_file_read(ima, 1 << 24, &error);
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        g_autoptr(GBytes) ak_public = NULL;
        g_autoptr(GBytes) tls = NULL;
        g_autoptr(JsonObject) rec = NULL;
        guint8 tls_sha[32];
        guint status = 0;
        Agent *a;
        int fd;

        g_assert_no_error(error);
        text = g_strdup_printf("[agent]\nuuid = %s\nstate_dir = %s\n"
                               "[tpm]\ntcti = %s\n"
                               "[channel]\npath = %s\n"
                               "[logs]\nima = %s\nboot = %s/no-boot-log\n"
                               "[registrar]\nurl = %s\nca = %s\n",
                               UUID,
                               state,
                               vtc_swtpm_get_tcti_conf(t->swtpm),
                               sock,
                               ima,
                               t->dir,
                               reg->url,
                               reg->ca);
        g_assert_true(g_file_set_contents(conf, text, -1, &error));
        a = agent_start(conf);

        /* it enrolls in the background: the verifier's copy of its AK and TLS key */
        for (guint i = 0; i < 300; i++) {
                g_clear_pointer(&rec, json_object_unref);
                rec = vtc_agent_test_registrar_get(reg, "/v1/agents/" UUID, &status);
                if (status == 200 &&
                    g_strcmp0(json_object_get_string_member(rec, "state"), "active") == 0)
                        break;
                g_usleep(100000);
        }
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(json_object_get_string_member(rec, "state"), ==, "active");
        ak_public = vtc_json_get_base64(rec, "ak_public", 4096, TRUE, &error);
        tls = vtc_json_get_base64(rec, "tls_cert", 65536, TRUE, &error);
        g_assert_no_error(error);
        {
                const guint8 *der = g_bytes_get_data(tls, NULL);
                g_autoptr(X509) x = d2i_X509(NULL, &der, (long)g_bytes_get_size(tls));
                guint8 *spki = NULL;
                int len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);

                g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                       spki,
                                       (gsize)len,
                                       tls_sha,
                                       &error));
                OPENSSL_free(spki);
        }

        fd = chan_connect(sock);
        chan_send(fd, "{\"id\": 1, \"op\": \"hello\"}");
        {
                g_autoptr(JsonObject) o = chan_recv(fd, dec);

                g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 1);
                g_assert_true(json_object_get_boolean_member(o, "ok"));
                g_assert_cmpint(json_object_get_int_member(o, "protocol"), ==, 1);
                g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, UUID);
                g_assert_cmpstr(json_object_get_string_member(o, "ak_name"),
                                ==,
                                json_object_get_string_member(rec, "ak_name"));
                ak_name = g_strdup(json_object_get_string_member(o, "ak_name"));
        }
        /* rounds from several offsets: the quote verifies with the registered AK, bound to the
         * nonce and the registered TLS key, and the IMA bytes are the log's from there */
        {
                guint64 offsets[] = {0, 12345, g_bytes_get_size(ima_bytes)};

                for (guint i = 0; i < G_N_ELEMENTS(offsets); i++) {
                        VtcChannelRound r;
                        g_autofree gchar *req = NULL;
                        g_autoptr(JsonObject) o = NULL;
                        g_autoptr(GBytes) got = NULL;

                        vtc_agent_test_round_init(&r, 0x7ff, offsets[i]);
                        r.boot_log = TRUE;
                        req = vtc_agent_test_round_json(&r, 100 + i);
                        chan_send(fd, req);
                        o = chan_recv(fd, dec);
                        g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 100 + i);
                        g_assert_true(json_object_get_boolean_member(o, "ok"));
                        g_assert_cmpint(vtc_agent_test_check_evidence(o, ak_public, &r, tls_sha),
                                        ==,
                                        VTC_QUOTE_FAILURE_NONE);
                        /* a quote relayed by someone with another TLS key does not pass */
                        g_assert_cmpint(vtc_agent_test_check_evidence(o, ak_public, &r, NULL),
                                        ==,
                                        VTC_QUOTE_FAILURE_NONCE);
                        got = vtc_agent_test_log_data(o, "ima_log");
                        g_assert_cmpmem(g_bytes_get_data(got, NULL),
                                        g_bytes_get_size(got),
                                        (const guint8 *)g_bytes_get_data(ima_bytes, NULL) +
                                            offsets[i],
                                        g_bytes_get_size(ima_bytes) - offsets[i]);
                        /* asked for, but there is no firmware log */
                        g_assert_false(json_object_has_member(o, "boot_log"));
                }
        }
        /* a garbled frame, then a good one; an oversize frame, then a good one */
        {
                const guint8 oversize[] = {'V', 'T', 'C', '1', 0x01, 0x00, 0x00, 0x01};
                g_autoptr(JsonObject) e1 = NULL;
                g_autoptr(JsonObject) ok1 = NULL;
                g_autoptr(JsonObject) e2 = NULL;
                g_autoptr(JsonObject) ok2 = NULL;
                g_autoptr(JsonObject) e3 = NULL;

                chan_send_raw(fd, "\x00\x01garbage", 9);
                chan_send(fd, "{\"id\": 201, \"op\": \"hello\"}");
                e1 = chan_recv(fd, dec);
                g_assert_cmpint(json_object_get_int_member(e1, "id"), ==, 0);
                g_assert_false(json_object_get_boolean_member(e1, "ok"));
                g_assert_cmpstr(json_object_get_string_member(e1, "error"), ==, "invalid_data");
                ok1 = chan_recv(fd, dec);
                g_assert_cmpint(json_object_get_int_member(ok1, "id"), ==, 201);
                g_assert_true(json_object_get_boolean_member(ok1, "ok"));
                chan_send_raw(fd, oversize, sizeof(oversize));
                chan_send(fd, "{\"id\": 202, \"op\": \"hello\"}");
                e2 = chan_recv(fd, dec);
                g_assert_cmpint(json_object_get_int_member(e2, "id"), ==, 0);
                g_assert_cmpstr(json_object_get_string_member(e2, "error"), ==, "too_large");
                ok2 = chan_recv(fd, dec);
                g_assert_cmpint(json_object_get_int_member(ok2, "id"), ==, 202);
                /* a bad round request: answered with its id */
                chan_send(
                    fd,
                    "{\"id\": 203, \"op\": \"round\", \"nonce\": \"00\", \"pcrs\": {\"sha256\": [0]}}");
                e3 = chan_recv(fd, dec);
                g_assert_cmpint(json_object_get_int_member(e3, "id"), ==, 203);
                g_assert_cmpstr(json_object_get_string_member(e3, "error"), ==, "invalid_data");
        }
        close(fd);
        agent_stop(a);
        g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));

        /* restarted: the same AK and TLS key, enrolled again */
        a = agent_start(conf);
        fd = chan_connect(sock);
        vtc_channel_decoder_free(g_steal_pointer(&dec));
        dec = vtc_channel_decoder_new();
        chan_send(fd, "{\"id\": 2, \"op\": \"hello\"}");
        {
                g_autoptr(JsonObject) o = chan_recv(fd, dec);

                g_assert_cmpstr(json_object_get_string_member(o, "ak_name"), ==, ak_name);
        }
        close(fd);
        agent_stop(a);
}

static void
test_cli(void)
{
        g_autofree gchar *program = agent_program();
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *conf = g_build_filename(dir, "agent.conf", NULL);
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        g_autoptr(GError) error = NULL;
        gint st = 0;
        const gchar *help[] = {program, "--help", NULL};
        const gchar *print[] = {program, "--print-config", NULL};
        const gchar *run[] = {program, "--config", conf, NULL};

        g_assert_true(
            g_spawn_sync(NULL, (gchar **)help, NULL, 0, NULL, NULL, &out, &err, &st, &error));
        g_assert_true(g_spawn_check_wait_status(st, NULL));
        g_assert_nonnull(strstr(out, "Exit status"));
        g_assert_nonnull(strstr(out, "org.vtc.agent.0"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_true(
            g_spawn_sync(NULL, (gchar **)print, NULL, 0, NULL, NULL, &out, &err, &st, &error));
        g_assert_nonnull(strstr(out, "[channel]"));
        g_assert_nonnull(strstr(out, "#tcti = device:/dev/tpmrm0"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        /* an unknown key: named */
        g_assert_true(g_file_set_contents(conf, "[tpm]\nbogus = 1\n", -1, NULL));
        g_assert_true(
            g_spawn_sync(NULL, (gchar **)run, NULL, 0, NULL, NULL, &out, &err, &st, &error));
        g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        g_assert_nonnull(strstr(err, "bogus"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        /* no TPM: a clear error, exit 1 */
        {
                g_autofree gchar *text = g_strdup_printf("[agent]\nuuid = %s\nstate_dir = %s/s\n"
                                                         "[tpm]\ntcti = swtpm:path=%s/none\n",
                                                         UUID,
                                                         dir,
                                                         dir);
                g_assert_true(g_file_set_contents(conf, text, -1, NULL));
        }
        g_assert_true(
            g_spawn_sync(NULL, (gchar **)run, NULL, 0, NULL, NULL, &out, &err, &st, &error));
        g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        g_assert_nonnull(strstr(err, "opening the TPM"));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static gboolean
accept_any_cb(SoupMessage *msg, GTlsCertificate *peer, GTlsCertificateFlags errors, gpointer data)
{
        GTlsCertificate **out = data;

        g_set_object(out, peer);
        return TRUE;
}

/* The DER certificate the agent presents in direct mode. */
static GBytes *
agent_presented_cert(guint port)
{
        g_autoptr(SoupSession) session = soup_session_new();
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/v1/version", port);
        g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
        g_autoptr(GTlsCertificate) peer = NULL;
        g_autoptr(GByteArray) der = NULL;
        g_autoptr(GBytes) body = NULL;
        g_autoptr(GError) error = NULL;

        soup_session_set_proxy_resolver(session, NULL);
        g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_any_cb), &peer);
        body = soup_session_send_and_read(session, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
        g_assert_nonnull(peer);
        g_object_get(peer, "certificate", &der, NULL);
        g_assert_nonnull(der);
        return g_bytes_new(der->data, der->len);
}

static void
der_spki_sha256(GBytes *der_bytes, guint8 out[32])
{
        const guint8 *der = g_bytes_get_data(der_bytes, NULL);
        g_autoptr(X509) x = d2i_X509(NULL, &der, (long)g_bytes_get_size(der_bytes));
        g_autoptr(GError) error = NULL;
        guint8 *spki = NULL;
        int len;

        g_assert_nonnull(x);
        len = i2d_PUBKEY(X509_get0_pubkey(x), &spki);
        g_assert_cmpint(len, >, 0);
        g_assert_true(
            vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), spki, (gsize)len, out, &error));
        OPENSSL_free(spki);
}

/* One round over the channel, checked with @ak_public and the TLS key digest @tls_sha. */
static VtcQuoteFailure
agent_round(const gchar *sock, GBytes *ak_public, const guint8 *tls_sha)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        g_autofree gchar *req = NULL;
        g_autoptr(JsonObject) o = NULL;
        VtcChannelRound r;
        int fd = chan_connect(sock);

        vtc_agent_test_round_init(&r, 0x7ff, 0);
        req = vtc_agent_test_round_json(&r, 7);
        chan_send(fd, req);
        o = chan_recv(fd, dec);
        close(fd);
        g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 7);
        g_assert_true(json_object_get_boolean_member(o, "ok"));
        return vtc_agent_test_check_evidence(o, ak_public, &r, tls_sha);
}

/*
 * A guest without a disk: its state directory is empty after every reboot, its vTPM is not. The
 * agent must present the same TLS key and certificate after a reboot, or the verifier's nonce
 * check (the quote binds the digest of the TLS key the registrar holds) fails.
 */
static void
test_tls_reboot(void)
{
        g_autoptr(VtcAgentTestTpm) t = vtc_agent_test_tpm_new(FALSE);
        g_autofree gchar *conf = g_build_filename(t->dir, "agent.conf", NULL);
        g_autofree gchar *sock = g_build_filename(t->dir, "agent.sock", NULL);
        g_autofree gchar *ca_dir = g_build_filename(t->dir, "tls", NULL);
        g_autofree gchar *ca = g_build_filename(ca_dir, "ca.crt", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) ak_public = NULL;
        GBytes *cert[3] = {NULL, NULL, NULL};
        guint8 sha[3][32];

        g_assert_true(vtc_ca_init(ca_dir, "vtc test CA", 1, &error));
        g_assert_no_error(error);
        {
                /* the AK the agent will find at its handle: the verifier's copy */
                g_autoptr(VtcAgentTpm) tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                                               VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                                               VTC_TPM_KEY_ECC_P256,
                                                               &error);

                g_assert_no_error(error);
                ak_public = g_bytes_ref(vtc_agent_tpm_get_ak_public(tpm));
        }
        for (guint boot = 0; boot < 3; boot++) {
                g_autofree gchar *state = g_strdup_printf("%s/state-%u", t->dir, boot);
                g_autofree gchar *file = g_build_filename(state, "tls.crt", NULL);
                g_autofree gchar *text = NULL;
                guint8 file_sha[32];
                Agent *a;

                if (boot > 0) {
                        /* the reboot: the vTPM's process ends, its state stays */
                        g_clear_pointer(&t->swtpm, vtc_swtpm_free);
                        t->swtpm = vtc_swtpm_new(t->state_dir, &error);
                        g_assert_no_error(error);
                }
                if (boot == 2) {
                        /* a damaged identity in NV: replaced, and the agent says so */
                        g_autoptr(VtcAgentTpm) tpm =
                            vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm),
                                              VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                              VTC_TPM_KEY_ECC_P256,
                                              &error);
                        g_autoptr(GBytes) blob = NULL;
                        g_autoptr(GBytes) bad = NULL;
                        g_autofree guint8 *d = NULL;

                        g_assert_no_error(error);
                        blob = vtc_agent_tpm_nv_load(tpm,
                                                     VTC_AGENT_API_TLS_NV_INDEX_DEFAULT,
                                                     VTC_AGENT_API_TLS_NV_SIZE,
                                                     &error);
                        g_assert_no_error(error);
                        d = g_memdup2(g_bytes_get_data(blob, NULL), g_bytes_get_size(blob));
                        d[300] ^= 0x40;
                        bad = g_bytes_new(d, g_bytes_get_size(blob));
                        g_assert_true(vtc_agent_tpm_nv_store(tpm,
                                                             VTC_AGENT_API_TLS_NV_INDEX_DEFAULT,
                                                             bad,
                                                             &error));
                        g_assert_no_error(error);
                }
                /* [tls] nv_index is left at its default */
                text = g_strdup_printf("[agent]\nuuid = %s\nstate_dir = %s\n"
                                       "[tpm]\ntcti = %s\n"
                                       "[channel]\npath = %s\n"
                                       "[logs]\nima =\nboot =\n"
                                       "[api]\nenabled = true\naddress = 127.0.0.1\nport = 0\n"
                                       "client_ca = %s\n",
                                       UUID,
                                       state,
                                       vtc_swtpm_get_tcti_conf(t->swtpm),
                                       sock,
                                       ca);
                g_assert_true(g_file_set_contents(conf, text, -1, &error));
                g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
                a = agent_start_full(conf, TRUE);
                cert[boot] = agent_presented_cert(a->api_port);
                der_spki_sha256(cert[boot], sha[boot]);
                /* what it serves is what it keeps in the state directory */
                g_assert_true(vtc_agent_api_tls_key_sha256(file, file_sha, NULL, &error));
                g_assert_no_error(error);
                g_assert_cmpmem(file_sha, 32, sha[boot], 32);
                /* the quote binds the key it serves */
                g_assert_cmpint(agent_round(sock, ak_public, sha[boot]),
                                ==,
                                VTC_QUOTE_FAILURE_NONE);
                switch (boot) {
                case 0:
                        g_assert_nonnull(strstr(a->log->str, "made a new TLS key"));
                        break;
                case 1:
                        g_assert_nonnull(strstr(a->log->str, "read from vTPM NV index 0x01500100"));
                        /* the same key and certificate as before the reboot: a verifier
                         * holding the first boot's certificate still passes the nonce check */
                        g_assert_cmpmem(sha[0], 32, sha[1], 32);
                        g_assert_true(g_bytes_equal(cert[0], cert[1]));
                        g_assert_cmpint(agent_round(sock, ak_public, sha[0]),
                                        ==,
                                        VTC_QUOTE_FAILURE_NONE);
                        break;
                default:
                        g_assert_nonnull(strstr(a->log->str, "holds no valid TLS identity"));
                        g_assert_nonnull(strstr(a->log->str, "overwrote the index"));
                        g_assert_true(memcmp(sha[0], sha[2], 32) != 0);
                        g_assert_cmpint(agent_round(sock, ak_public, sha[0]),
                                        ==,
                                        VTC_QUOTE_FAILURE_NONCE);
                        break;
                }
                agent_stop(a);
        }
        for (guint i = 0; i < G_N_ELEMENTS(cert); i++)
                g_bytes_unref(cert[i]);
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/agent/binary", test_agent);
        g_test_add_func("/agent/cli", test_cli);
        g_test_add_func("/agent/tls-reboot", test_tls_reboot);
        return g_test_run();
}
