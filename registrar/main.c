/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-registrar: enrolls hosts (hardware TPM) and guests (vTPM) with cryptographic proofs.
 */
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#include "vtc-registrar.h"

static gboolean
vtc_registrar_quit_cb(gpointer user_data)
{
        g_main_loop_quit(user_data);
        return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
        g_autofree gchar *config_path = NULL;
        gboolean print_config = FALSE;
        GOptionEntry entries[] = {
            {"config",
             'c',
             0,
             G_OPTION_ARG_FILENAME,
             &config_path,
             "configuration file (default /etc/vtc/registrar.conf, plus registrar.conf.d/)",
             "FILE"},
            {"print-config",
             0,
             0,
             G_OPTION_ARG_NONE,
             &print_config,
             "print every configuration key with its default and meaning, then exit",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- the vtc registrar");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcRegistrar) registrar = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        guint port = 0;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Knows every host's hardware TPM identity and every guest's vTPM identity, and which\n"
            "host made which vTPM. Hosts enroll with their EK certificate (checked against the TPM\n"
            "vendor CAs), prove their AK by ActivateCredential, and certify their vTPM CA key with\n"
            "TPM2_Certify; guests enroll with a vTPM EK certificate that must be issued by the\n"
            "vTPM CA key of an active host. Verifiers read AKs from here.");
        g_option_context_set_description(
            ctx,
            "API: HTTPS, JSON, /v1/hosts and /v1/agents (doc/api/registrar.md). Enrollment calls\n"
            "are server-authenticated; reading and deleting need a client certificate of the\n"
            "deployment's CA (vtc ca issue).\n"
            "\n"
            "Example:\n"
            "  vtc ca init --dir /etc/vtc/tls\n"
            "  vtc ca issue --dir /etc/vtc/tls --san IP:10.0.0.5 registrar\n"
            "  vtc-registrar --config /etc/vtc/registrar.conf\n"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start (the reason is printed).\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-registrar: %s\n", error->message);
                return 2;
        }
        if (print_config) {
                g_autofree gchar *ini = vtc_config_schema_to_ini(vtc_registrar_config_schema);
                fputs(ini, stdout);
                return 0;
        }
        config = vtc_config_load(vtc_registrar_config_schema,
                                 config_path != NULL ? config_path : "/etc/vtc/registrar.conf",
                                 &error);
        if (config == NULL) {
                g_printerr("vtc-registrar: %s\n", error->message);
                return 1;
        }
        registrar = vtc_registrar_new(config, &error);
        if (registrar == NULL) {
                g_printerr("vtc-registrar: %s\n", error->message);
                return 1;
        }
        loop = g_main_loop_new(NULL, FALSE);
        if (!vtc_registrar_listen(registrar, &port, &error)) {
                g_printerr("vtc-registrar: %s\n", error->message);
                return 1;
        }
        g_unix_signal_add(SIGTERM, vtc_registrar_quit_cb, loop);
        g_unix_signal_add(SIGINT, vtc_registrar_quit_cb, loop);
        /* one line on stdout, so scripts and tests learn the port without polling */
        printf("vtc-registrar: listening on port %u\n", port);
        fflush(stdout);
        g_main_loop_run(loop);
        return 0;
}
