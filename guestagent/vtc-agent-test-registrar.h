/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The real vtc-registrar ($VTC_REGISTRAR) for the agent's tests, with TLS from vtc ca and the
 * swtpm-localca CA of the test's vTPM as its EK trust store (the bare-metal path). */

#include <signal.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "vtc-ca.h"
#include "vtc-http.h"
#include "vtc-test-common.h"

#define VTC_AGENT_TEST_TIMEOUT_S 30

/* a test that fails does not leave its daemons behind */
static inline void
vtc_agent_test_child_setup(gpointer data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

typedef struct {
        gchar *dir;
        GSubprocess *proc;
        guint port;
        gchar *url;
        gchar *ca;
} VtcAgentTestRegistrar;

/* A line of @stream, or NULL at EOF or after the deadline. */
static inline gchar *
vtc_agent_test_read_line(GDataInputStream *stream, gint64 deadline)
{
        while (g_get_monotonic_time() < deadline) {
                g_autoptr(GError) error = NULL;
                gsize len = 0;
                gchar *line = g_data_input_stream_read_line(stream, &len, NULL, &error);

                if (line != NULL || error == NULL)
                        return line;
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                        return NULL;
                g_usleep(10000);
        }
        return NULL;
}

static inline void
vtc_agent_test_registrar_free(VtcAgentTestRegistrar *r)
{
        if (r == NULL)
                return;
        if (r->proc != NULL) {
                g_autoptr(GError) error = NULL;

                g_subprocess_send_signal(r->proc, SIGTERM);
                g_assert_true(g_subprocess_wait(r->proc, NULL, &error));
                g_assert_true(g_subprocess_get_if_exited(r->proc));
                g_assert_cmpint(g_subprocess_get_exit_status(r->proc), ==, 0);
                g_object_unref(r->proc);
        }
        g_free(r->url);
        g_free(r->ca);
        g_free(r->dir);
        g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcAgentTestRegistrar, vtc_agent_test_registrar_free)

/* Starts the registrar in @dir (made), trusting the EK certificates @ek_ca_dir issued. */
static inline VtcAgentTestRegistrar *
vtc_agent_test_registrar_start(const gchar *dir, const gchar *ek_ca_dir)
{
        VtcAgentTestRegistrar *r = g_new0(VtcAgentTestRegistrar, 1);
        const gchar *program = g_getenv("VTC_REGISTRAR");
        g_autofree gchar *tls = g_build_filename(dir, "tls", NULL);
        g_autofree gchar *trust = g_build_filename(dir, "ek-ca", NULL);
        g_autofree gchar *conf = g_build_filename(dir, "registrar.conf", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *cp = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDataInputStream) out = NULL;
        const gchar *sans[] = {"IP:127.0.0.1", NULL};
        gint64 deadline = g_get_monotonic_time() + VTC_AGENT_TEST_TIMEOUT_S * G_USEC_PER_SEC;
        gchar *line;

        if (program == NULL) {
                if (g_getenv("VTC_TEST_REQUIRE_ALL") != NULL)
                        g_error("VTC_REGISTRAR is not set and VTC_TEST_REQUIRE_ALL is set");
                g_printerr("VTC_REGISTRAR is not set: skipping\n");
                exit(77);
        }
        r->dir = g_strdup(dir);
        g_assert_cmpint(g_mkdir_with_parents(trust, 0700), ==, 0);
        g_assert_true(vtc_ca_init(tls, "vtc agent test CA", 1, &error));
        g_assert_true(vtc_ca_issue(tls, "registrar", sans, 1, &error));
        g_assert_true(vtc_ca_issue(tls, "admin", NULL, 1, &error));
        g_assert_no_error(error);
        /* the vendor CA chain of the test's TPMs: the root and the intermediate */
        cp = g_strdup_printf("cp '%s/swtpm-localca-rootca-cert.pem' '%s/issuercert.pem' '%s/'",
                             ek_ca_dir,
                             ek_ca_dir,
                             trust);
        g_assert_cmpint(system(cp), ==, 0);
        text = g_strdup_printf("[server]\naddress = 127.0.0.1\nport = 0\n"
                               "[tls]\ncert = %s/registrar.crt\nkey = %s/registrar.key\n"
                               "client_ca = %s/ca.crt\n"
                               "[database]\npath = %s/registrar.db\n"
                               "[ek]\ntrust_store = %s\n",
                               tls,
                               tls,
                               tls,
                               dir,
                               trust);
        g_assert_true(g_file_set_contents(conf, text, -1, &error));
        {
                g_autoptr(GSubprocessLauncher) l =
                    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);

                g_subprocess_launcher_set_child_setup(l, vtc_agent_test_child_setup, NULL, NULL);
                r->proc = g_subprocess_launcher_spawn(l, &error, program, "--config", conf, NULL);
        }
        g_assert_no_error(error);
        out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(r->proc));
        line = vtc_agent_test_read_line(out, deadline);
        g_assert_nonnull(line);
        g_assert_true(g_str_has_prefix(line, "vtc-registrar: listening on port "));
        r->port =
            (guint)g_ascii_strtoull(line + strlen("vtc-registrar: listening on port "), NULL, 10);
        g_free(line);
        r->url = g_strdup_printf("https://127.0.0.1:%u", r->port);
        r->ca = g_build_filename(tls, "ca.crt", NULL);
        return r;
}

/* GET @path of the registrar as its admin; the status in *@out_status. */
static inline JsonObject *
vtc_agent_test_registrar_get(VtcAgentTestRegistrar *r, const gchar *path, guint *out_status)
{
        g_autofree gchar *crt = g_build_filename(r->dir, "tls", "admin.crt", NULL);
        g_autofree gchar *key = g_build_filename(r->dir, "tls", "admin.key", NULL);
        g_autofree gchar *url = g_strdup_printf("%s%s", r->url, path);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) s = vtc_http_client_new(r->ca, crt, key, &error);
        g_autoptr(GBytes) body = NULL;
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        JsonObject *o;

        g_assert_no_error(error);
        body = vtc_http_client_request(s, "GET", url, NULL, out_status, &error);
        g_assert_no_error(error);
        o = vtc_json_parse_object(g_bytes_get_data(body, NULL),
                                  g_bytes_get_size(body),
                                  &limits,
                                  &error);
        g_assert_no_error(error);
        return o;
}
