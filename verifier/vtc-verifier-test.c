/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real vtc-verifier binary over real mutual TLS: its --help and --print-config, start-up,
 * the API, and the loop against peers that do not answer — a closed port (connection refused)
 * and a port that accepts connections but never says a word — which must make a VM
 * `unreachable` (never `failed`, never `trusted`) with a bounded exponential backoff; then a
 * SIGTERM (clean exit) and a restart that resumes the VM from its stored state without a verdict.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "vtc-ca.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-test-common.h"

#define UUID_A "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define POLICY                                                                                            \
        "{\"meta\":{\"version\":1},\"release\":0,\"digests\":{},\"excludes\":[],"                         \
        "\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],\"log_hash_alg\":\"sha1\",\"dm_policy\":null}," \
        "\"ima-buf\":{},\"verification-keys\":\"\"}"

static gchar *
verifier_path(void)
{
        const gchar *env = g_getenv("VTC_VERIFIER");
        g_autofree gchar *self = NULL;
        g_autofree gchar *dir = NULL;

        if (env != NULL)
                return g_strdup(env);
        self = g_file_read_link("/proc/self/exe", NULL);
        g_assert_nonnull(self);
        dir = g_path_get_dirname(self);
        return g_build_filename(dir, "vtc-verifier", NULL);
}

typedef struct {
        GSubprocess *proc;
        guint port;
} Daemon;

/* a test that aborts does not leave its verifier behind */
static void
daemon_child_setup(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static Daemon *
daemon_start(const gchar *config)
{
        g_autofree gchar *prog = verifier_path();
        const gchar *argv[] = {prog, "--config", config, NULL};
        g_autoptr(GError) error = NULL;
        Daemon *d = g_new0(Daemon, 1);
        g_autoptr(GDataInputStream) in = NULL;
        g_autofree gchar *line = NULL;
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);

        g_subprocess_launcher_set_child_setup(launcher, daemon_child_setup, NULL, NULL);
        d->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
        g_assert_no_error(error);
        in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(d->proc));
        line = g_data_input_stream_read_line(in, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line);
        g_assert_true(g_str_has_prefix(line, "vtc-verifier: listening on port "));
        d->port =
            (guint)g_ascii_strtoull(line + strlen("vtc-verifier: listening on port "), NULL, 10);
        g_assert_cmpuint(d->port, >, 0);
        return d;
}

static void
daemon_stop(Daemon *d)
{
        g_autoptr(GError) error = NULL;

        g_subprocess_send_signal(d->proc, SIGTERM);
        g_assert_true(g_subprocess_wait(d->proc, NULL, &error));
        g_assert_no_error(error);
        g_assert_true(g_subprocess_get_if_exited(d->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(d->proc), ==, 0);
        g_object_unref(d->proc);
        g_free(d);
}

static JsonObject *
request(SoupSession *s,
        Daemon *d,
        const gchar *method,
        const gchar *path,
        const gchar *body,
        guint *out_status)
{
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u%s", d->port, path);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = vtc_http_client_request(s, method, url, body, out_status, &error);
        g_autoptr(JsonParser) p = json_parser_new();

        g_assert_no_error(error);
        if (!json_parser_load_from_data(p,
                                        g_bytes_get_data(reply, NULL),
                                        (gssize)g_bytes_get_size(reply),
                                        NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
                return NULL;
        return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

/* A loopback port: listening but never accepting (the kernel completes the TCP handshake,
 * nobody ever answers), or closed when @listening is FALSE. */
static guint
silent_port(gboolean listening, GSocket **out_sock)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) sock =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, &error);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;
        guint port;

        g_assert_no_error(error);
        g_assert_true(g_socket_bind(sock, addr, FALSE, &error));
        g_assert_no_error(error);
        bound = g_socket_get_local_address(sock, &error);
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
        if (listening) {
                g_socket_set_listen_backlog(sock, 64);
                g_assert_true(g_socket_listen(sock, &error));
                *out_sock = g_steal_pointer(&sock);
        } else {
                g_socket_close(sock, NULL);
        }
        return port;
}

static gchar *
write_config(const gchar *dir, const gchar *name, guint registrar_port)
{
        g_autofree gchar *path = g_strdup_printf("%s/%s.conf", dir, name);
        g_autofree gchar *text = g_strdup_printf(
            "[server]\nport = 0\n"
            "[tls]\ncert = %s/verifier.crt\nkey = %s/verifier.key\nclient_ca = %s/ca.crt\nca = %s/ca.crt\n"
            "[database]\npath = %s/%s.db\n"
            "[state]\ndir = %s/%s-state\n"
            "[registrar]\nurl = https://127.0.0.1:%u\n"
            "[rounds]\ninterval_ms = 100\ntimeout_ms = 500\nbackoff_max_ms = 800\nflush_ms = 50\n",
            dir,
            dir,
            dir,
            dir,
            dir,
            name,
            dir,
            name,
            registrar_port);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return g_steal_pointer(&path);
}

/* Polls the VM until @pred holds (at most 20 s); returns the last status object. */
static JsonObject *
wait_vm(SoupSession *s, Daemon *d, gboolean (*pred)(JsonObject *))
{
        gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

        for (;;) {
                guint status = 0;
                g_autoptr(JsonObject) o = request(s, d, "GET", "/v1/vms/" UUID_A, NULL, &status);
                g_assert_cmpuint(status, ==, 200);
                /* the invariant of every moment: no verdict came from no evidence */
                g_assert_cmpstr(json_object_get_string_member(o, "state"), !=, "trusted");
                g_assert_cmpstr(json_object_get_string_member(o, "state"), !=, "failed");
                g_assert_true(json_object_get_null_member(o, "last_verdict"));
                if (pred(o))
                        return g_steal_pointer(&o);
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(50000);
        }
}

static gboolean
is_unreachable_backed_off(JsonObject *o)
{
        JsonObject *c = json_object_get_object_member(o, "counters");

        return g_strcmp0(json_object_get_string_member(o, "state"), "unreachable") == 0 &&
               json_object_get_int_member(o, "backoff_ms") == 800 &&
               json_object_get_int_member(c, "unreachable") >= 4;
}

static gboolean
is_unreachable(JsonObject *o)
{
        return g_strcmp0(json_object_get_string_member(o, "state"), "unreachable") == 0;
}

static void
check_unreachable(const gchar *dir,
                  const gchar *name,
                  guint registrar_port,
                  const gchar *message_part)
{
        g_autofree gchar *config = write_config(dir, name, registrar_port);
        g_autofree gchar *ca = g_build_filename(dir, "ca.crt", NULL);
        g_autofree gchar *crt = g_build_filename(dir, "tenant.crt", NULL);
        g_autofree gchar *key = g_build_filename(dir, "tenant.key", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) s = vtc_http_client_new(ca, crt, key, &error);
        g_autoptr(SoupSession) anon = vtc_http_client_new(ca, NULL, NULL, &error);
        Daemon *d = daemon_start(config);
        g_autoptr(JsonObject) o = NULL;
        g_autoptr(JsonObject) after = NULL;
        guint status = 0;
        gint64 unreachable_before;
        gint64 t0;
        gint64 rounds_before;

        g_assert_no_error(error);
        /* without a client certificate: refused */
        o = request(anon, d, "GET", "/v1/vms", NULL, &status);
        g_assert_cmpuint(status, ==, 401);
        g_clear_pointer(&o, json_object_unref);
        o = request(s,
                    d,
                    "POST",
                    "/v1/vms",
                    "{\"uuid\":\"" UUID_A "\",\"runtime_policy\":" POLICY "}",
                    &status);
        g_assert_cmpuint(status, ==, 201);
        g_clear_pointer(&o, json_object_unref);

        o = wait_vm(s, d, is_unreachable);
        g_assert_cmpstr(json_object_get_string_member(o, "reason"), ==, "registrar_unreachable");
        g_assert_nonnull(strstr(json_object_get_string_member(o, "message"), message_part));
        g_clear_pointer(&o, json_object_unref);
        /* the backoff doubles up to [rounds] backoff_max_ms and stays there */
        o = wait_vm(s, d, is_unreachable_backed_off);
        unreachable_before =
            json_object_get_int_member(json_object_get_object_member(o, "counters"), "unreachable");
        g_clear_pointer(&o, json_object_unref);
        t0 = g_get_monotonic_time();
        g_usleep(2 * G_USEC_PER_SEC);
        o = request(s, d, "GET", "/v1/vms/" UUID_A, NULL, &status);
        {
                gint64 n = json_object_get_int_member(json_object_get_object_member(o, "counters"),
                                                      "unreachable") -
                           unreachable_before;
                gdouble secs = (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
                /* at most one attempt per 800 ms backoff (+ the timeout for the silent port),
                 * and the VM is still being retried */
                g_test_message("%s: %" G_GINT64_FORMAT " attempts in %.1f s", name, n, secs);
                g_assert_cmpint(n, >=, 1);
                g_assert_cmpint(n, <=, (gint64)(secs / 0.8) + 1);
        }
        g_assert_cmpint(json_object_get_int_member(o, "backoff_ms"), ==, 800);
        rounds_before =
            json_object_get_int_member(json_object_get_object_member(o, "counters"), "rounds");
        g_clear_pointer(&o, json_object_unref);

        /* metrics say the same */
        {
                g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/metrics", d->port);
                g_autoptr(GBytes) m = vtc_http_client_request(s, "GET", url, NULL, &status, &error);
                g_autofree gchar *text = NULL;
                g_assert_no_error(error);
                g_assert_cmpuint(status, ==, 200);
                text = g_strndup(g_bytes_get_data(m, NULL), g_bytes_get_size(m));
                g_assert_nonnull(strstr(text, "vtc_verifier_vms{state=\"unreachable\"} 1\n"));
                g_assert_nonnull(strstr(text, "vtc_verifier_rounds_total{result=\"pass\"} 0\n"));
                g_assert_nonnull(strstr(text, "vtc_verifier_rounds_total{result=\"fail\"} 0\n"));
        }

        /* SIGTERM: a clean exit; a restart resumes the VM from the database, no verdict */
        daemon_stop(d);
        d = daemon_start(config);
        o = request(s, d, "GET", "/v1/vms/" UUID_A, NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "unreachable");
        g_assert_cmpint(
            json_object_get_int_member(json_object_get_object_member(o, "counters"), "rounds"),
            >=,
            rounds_before);
        g_clear_pointer(&o, json_object_unref);
        after = wait_vm(s, d, is_unreachable_backed_off);
        g_assert_cmpstr(json_object_get_string_member(after, "reason"),
                        ==,
                        "registrar_unreachable");
        /* the history: added, then one change of state (registered -> unreachable) */
        o = request(s, d, "GET", "/v1/vms/" UUID_A "/history", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        {
                JsonArray *ev = json_object_get_array_member(o, "events");
                g_assert_cmpuint(json_array_get_length(ev), ==, 2);
                g_assert_cmpstr(
                    json_object_get_string_member(json_array_get_object_element(ev, 0), "kind"),
                    ==,
                    "state");
                g_assert_cmpstr(
                    json_object_get_string_member(json_array_get_object_element(ev, 0), "state"),
                    ==,
                    "unreachable");
                g_assert_cmpstr(
                    json_object_get_string_member(json_array_get_object_element(ev, 1), "kind"),
                    ==,
                    "added");
        }
        g_clear_pointer(&o, json_object_unref);
        o = request(s, d, "DELETE", "/v1/vms/" UUID_A, NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        daemon_stop(d);
}

static void
test_loop_unreachable(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autoptr(GError) error = NULL;
        const gchar *const sans[] = {"IP:127.0.0.1", NULL};
        g_autoptr(GSocket) silent = NULL;
        guint closed = silent_port(FALSE, NULL);
        guint quiet = silent_port(TRUE, &silent);

        g_assert_true(vtc_ca_init(dir, "vtc verifier test CA", 2, &error));
        g_assert_true(vtc_ca_issue(dir, "verifier", sans, 2, &error));
        g_assert_true(vtc_ca_issue(dir, "tenant", NULL, 2, &error));
        g_assert_no_error(error);
        check_unreachable(dir, "closed", closed, "registrar");
        check_unreachable(dir, "silent", quiet, "timeout");
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static gdouble
metric(const gchar *text, const gchar *name)
{
        /* the sample line, not the HELP line that names the metric too */
        g_autofree gchar *line = g_strconcat("\n", name, NULL);
        const gchar *p = strstr(text, line);

        g_assert_nonnull(p);
        return g_ascii_strtod(p + strlen(line), NULL);
}

/* A peer that accepts connections and never answers holds at most [rounds] max_conns_per_host
 * requests; the rest wait in the verifier's queue and, past the timeout, are not sent: every VM
 * is unreachable after about one timeout, not one timeout per VM in turn. */
static void
test_loop_silent_peer_queue(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autoptr(GError) error = NULL;
        const gchar *const sans[] = {"IP:127.0.0.1", NULL};
        g_autoptr(GSocket) silent = NULL;
        guint quiet = silent_port(TRUE, &silent);
        g_autofree gchar *config = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *ca = g_build_filename(dir, "ca.crt", NULL);
        g_autofree gchar *crt = g_build_filename(dir, "tenant.crt", NULL);
        g_autofree gchar *key = g_build_filename(dir, "tenant.key", NULL);
        g_autoptr(SoupSession) s = NULL;
        Daemon *d;
        const guint n = 24;
        gint64 t0;
        gdouble max_in_libsoup = 0;

        g_assert_true(vtc_ca_init(dir, "vtc verifier test CA", 2, &error));
        g_assert_true(vtc_ca_issue(dir, "verifier", sans, 2, &error));
        g_assert_true(vtc_ca_issue(dir, "tenant", NULL, 2, &error));
        g_assert_no_error(error);
        config = write_config(dir, "queue", quiet);
        g_assert_true(g_file_get_contents(config, &text, NULL, NULL));
        {
                g_autofree gchar *more = g_strconcat(text, "max_conns_per_host = 2\n", NULL);
                g_assert_true(g_file_set_contents(config, more, -1, NULL));
        }
        s = vtc_http_client_new(ca, crt, key, &error);
        g_assert_no_error(error);
        d = daemon_start(config);
        for (guint i = 0; i < n; i++) {
                g_autofree gchar *body =
                    g_strdup_printf("{\"uuid\":\"6f1c0a2e-1b2c-4d3e-8f40-%012x\","
                                    "\"runtime_policy\":" POLICY "}",
                                    i);
                guint status = 0;
                g_autoptr(JsonObject) o = request(s, d, "POST", "/v1/vms", body, &status);
                g_assert_cmpuint(status, ==, 201);
                g_assert_cmpstr(json_object_get_string_member(o, "state"), ==, "registered");
        }
        t0 = g_get_monotonic_time();
        for (;;) {
                guint status = 0;
                g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/metrics", d->port);
                g_autoptr(GBytes) m = vtc_http_client_request(s, "GET", url, NULL, &status, &error);
                g_autofree gchar *mt = NULL;
                gdouble unreachable;

                g_assert_no_error(error);
                g_assert_cmpuint(status, ==, 200);
                mt = g_strndup(g_bytes_get_data(m, NULL), g_bytes_get_size(m));
                max_in_libsoup =
                    MAX(max_in_libsoup, metric(mt, "vtc_verifier_requests_in_flight "));
                /* never more than the peer's connection limit inside the HTTP client */
                g_assert_cmpfloat(metric(mt, "vtc_verifier_requests_in_flight "), <=, 2);
                unreachable = metric(mt, "vtc_verifier_vms{state=\"unreachable\"} ");
                if (unreachable >= n) {
                        /* most never went out: they waited past the timeout */
                        g_assert_cmpfloat(metric(mt, "vtc_verifier_requests_stale_total "),
                                          >=,
                                          n - 2 * 3);
                        break;
                }
                /* one timeout (500 ms) for the lot, not n / 2 timeouts in turn (6 s) */
                g_assert_cmpint(g_get_monotonic_time() - t0, <, 4 * G_USEC_PER_SEC);
                g_usleep(50000);
        }
        g_test_message("%u VMs unreachable after %.2f s, at most %.0f requests in the client",
                       n,
                       (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC,
                       max_in_libsoup);
        daemon_stop(d);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

/* One request on @session (its own connection pool), with @cert as the client certificate (or
 * none); the status and the id of the connection it went over. */
static void
request_on(SoupSession *s,
           Daemon *d,
           GTlsCertificate *cert,
           const gchar *method,
           const gchar *path,
           const gchar *body,
           guint *out_status,
           guint64 *out_conn)
{
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u%s", d->port, path);
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;

        g_assert_nonnull(msg);
        if (cert != NULL)
                soup_message_set_tls_client_certificate(msg, cert);
        if (body != NULL) {
                g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
                soup_message_set_request_body_from_bytes(msg, "application/json", b);
        }
        /* let a POST use the idle connection too, as the tenant CLI and the bench do */
        soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);
        reply = soup_session_send_and_read(s, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(reply);
        /* the verifier never asks to close a connection */
        g_assert_false(soup_message_headers_header_contains(soup_message_get_response_headers(msg),
                                                            "Connection",
                                                            "close"));
        *out_status = soup_message_get_status(msg);
        *out_conn = soup_message_get_connection_id(msg);
}

#define KEEP_ALIVE_CALLS 4

/*
 * libsoup hands the server the client certificate only on the request that made the TLS
 * handshake. The verifier keeps API connections alive: every later call on a connection whose
 * handshake showed a valid tenant certificate must be served, and every call on a connection
 * whose handshake showed none, or one of another CA, refused with 401.
 */
static void
test_api_keep_alive(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *other = g_build_filename(dir, "other", NULL);
        g_autoptr(GError) error = NULL;
        const gchar *const sans[] = {"IP:127.0.0.1", NULL};
        g_autofree gchar *ca = g_build_filename(dir, "ca.crt", NULL);
        g_autofree gchar *crt = g_build_filename(dir, "tenant.crt", NULL);
        g_autofree gchar *key = g_build_filename(dir, "tenant.key", NULL);
        g_autofree gchar *ocrt = g_build_filename(other, "intruder.crt", NULL);
        g_autofree gchar *okey = g_build_filename(other, "intruder.key", NULL);
        g_autofree gchar *config = NULL;
        g_autoptr(GTlsDatabase) db = NULL;
        g_autoptr(GTlsCertificate) tenant = NULL;
        g_autoptr(GTlsCertificate) intruder = NULL;
        Daemon *d;

        g_assert_true(vtc_ca_init(dir, "vtc verifier test CA", 2, &error));
        g_assert_true(vtc_ca_issue(dir, "verifier", sans, 2, &error));
        g_assert_true(vtc_ca_issue(dir, "tenant", NULL, 2, &error));
        g_assert_true(vtc_ca_init(other, "other CA", 2, &error));
        g_assert_true(vtc_ca_issue(other, "intruder", NULL, 2, &error));
        g_assert_no_error(error);
        db = g_tls_file_database_new(ca, &error);
        tenant = g_tls_certificate_new_from_files(crt, key, &error);
        intruder = g_tls_certificate_new_from_files(ocrt, okey, &error);
        g_assert_no_error(error);
        config = write_config(dir, "keepalive", silent_port(FALSE, NULL));
        d = daemon_start(config);

        {
                /* the tenant: one connection, every call served */
                g_autoptr(SoupSession) s = soup_session_new_with_options("tls-database",
                                                                         db,
                                                                         "max-conns",
                                                                         1,
                                                                         "max-conns-per-host",
                                                                         1,
                                                                         NULL);
                guint64 first = 0;
                guint status = 0;
                guint64 conn = 0;

                soup_session_set_proxy_resolver(s, NULL);
                for (guint i = 0; i < KEEP_ALIVE_CALLS; i++) {
                        g_autofree gchar *uuid =
                            g_strdup_printf("6f1c0a2e-1b2c-4d3e-8f40-%012x", 0x100 + i);
                        g_autofree gchar *body =
                            g_strdup_printf("{\"uuid\":\"%s\",\"runtime_policy\":" POLICY "}",
                                            uuid);
                        g_autofree gchar *path = g_strconcat("/v1/vms/", uuid, NULL);

                        request_on(s, d, tenant, "POST", "/v1/vms", body, &status, &conn);
                        g_test_message("call %u on connection %" G_GUINT64_FORMAT ": %u",
                                       i,
                                       conn,
                                       status);
                        if (i == 0)
                                first = conn;
                        g_assert_cmpuint(conn, !=, 0);
                        /* the point of the test: the same connection every time */
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 201);
                        request_on(s, d, tenant, "GET", path, NULL, &status, &conn);
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 200);
                        request_on(s, d, tenant, "GET", "/metrics", NULL, &status, &conn);
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 200);
                }
                request_on(s, d, tenant, "GET", "/v1/vms", NULL, &status, &conn);
                g_assert_cmpuint(conn, ==, first);
                g_assert_cmpuint(status, ==, 200);
                request_on(s,
                           d,
                           tenant,
                           "DELETE",
                           "/v1/vms/6f1c0a2e-1b2c-4d3e-8f40-000000000100",
                           NULL,
                           &status,
                           &conn);
                g_assert_cmpuint(conn, ==, first);
                g_assert_cmpuint(status, ==, 200);
        }
        for (guint who = 0; who < 2; who++) {
                /* no certificate, or one of another CA: refused on every call of the
                 * connection, however many calls the tenant's connection made before */
                g_autoptr(SoupSession) s = soup_session_new_with_options("tls-database",
                                                                         db,
                                                                         "max-conns",
                                                                         1,
                                                                         "max-conns-per-host",
                                                                         1,
                                                                         NULL);
                GTlsCertificate *cert = who == 0 ? NULL : intruder;
                guint64 first = 0;

                soup_session_set_proxy_resolver(s, NULL);
                for (guint i = 0; i < KEEP_ALIVE_CALLS; i++) {
                        g_autofree gchar *body = g_strdup_printf(
                            "{\"uuid\":\"6f1c0a2e-1b2c-4d3e-8f40-%012x\",\"runtime_policy\":" POLICY
                            "}",
                            0x200 + i);
                        guint status = 0;
                        guint64 conn = 0;

                        request_on(s, d, cert, "GET", "/v1/vms", NULL, &status, &conn);
                        g_test_message("%s call %u on connection %" G_GUINT64_FORMAT ": %u",
                                       who == 0 ? "anonymous" : "other CA",
                                       i,
                                       conn,
                                       status);
                        if (i == 0)
                                first = conn;
                        g_assert_cmpuint(conn, !=, 0);
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 401);
                        request_on(s, d, cert, "POST", "/v1/vms", body, &status, &conn);
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 401);
                        request_on(s, d, cert, "GET", "/metrics", NULL, &status, &conn);
                        g_assert_cmpuint(conn, ==, first);
                        g_assert_cmpuint(status, ==, 401);
                }
        }
        {
                /* nothing the refused connections sent was stored: three VMs, all the tenant's */
                g_autoptr(SoupSession) s = vtc_http_client_new(ca, crt, key, &error);
                g_autoptr(JsonObject) o = NULL;
                guint status = 0;

                g_assert_no_error(error);
                o = request(s, d, "GET", "/v1/vms", NULL, &status);
                g_assert_cmpuint(status, ==, 200);
                g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "vms")),
                                 ==,
                                 KEEP_ALIVE_CALLS - 1);
        }
        daemon_stop(d);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
test_cli(void)
{
        g_autofree gchar *prog = verifier_path();
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = 0;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *help_cmd = g_strdup_printf("%s --help", prog);
        g_autofree gchar *print_cmd = g_strdup_printf("%s --print-config", prog);
        g_autofree gchar *bad_cmd =
            g_strdup_printf("%s --config /nonexistent/dir/x.conf --bogus", prog);
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *conf = g_build_filename(dir, "bad.conf", NULL);
        g_autofree gchar *bad_conf_cmd = g_strdup_printf("%s --config %s", prog, conf);

        g_assert_true(g_spawn_command_line_sync(help_cmd, &out, &err, &status, &error));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_assert_nonnull(strstr(out, "--config"));
        g_assert_nonnull(strstr(out, "--print-config"));
        g_assert_nonnull(strstr(out, "Exit status"));
        g_assert_nonnull(strstr(out, "Example"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_true(g_spawn_command_line_sync(print_cmd, &out, &err, &status, &error));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_assert_nonnull(strstr(out, "[rounds]\n"));
        g_assert_nonnull(strstr(out, "#interval_ms = 2000\n"));
        g_assert_nonnull(strstr(out, "[webhooks]\n"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_true(g_spawn_command_line_sync(bad_cmd, &out, &err, &status, &error));
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        /* an unknown key stops start-up naming it */
        g_assert_true(g_file_set_contents(conf, "[rounds]\ninterval_sec = 3\n", -1, NULL));
        g_assert_true(g_spawn_command_line_sync(bad_conf_cmd, &out, &err, &status, &error));
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        g_assert_nonnull(strstr(err, "interval_sec"));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/verifier/cli", test_cli);
        g_test_add_func("/verifier/api-keep-alive", test_api_keep_alive);
        g_test_add_func("/verifier/loop-unreachable", test_loop_unreachable);
        g_test_add_func("/verifier/loop-silent-peer-queue", test_loop_silent_peer_queue);
        return g_test_run();
}
