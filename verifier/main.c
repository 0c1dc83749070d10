/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-verifier: the tenant's verifier. Watches VMs and checks, every round, the chain from the
 * guest's IMA log down to the host's hardware TPM.
 */
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#include "vtc-verifier.h"

static gboolean
vtc_verifier_quit_cb(gpointer user_data)
{
        g_main_loop_quit(user_data);
        return G_SOURCE_CONTINUE;
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
             "configuration file (default /etc/vtc/verifier.conf, plus verifier.conf.d/*.conf)",
             "FILE"},
            {"print-config",
             0,
             0,
             G_OPTION_ARG_NONE,
             &print_config,
             "print every configuration key with its default and meaning, then exit",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- the vtc verifier");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcVerifier) verifier = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        guint port = 0;
        guint sigterm_id;
        guint sigint_id;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Watches VMs for their tenant. Every round (default every 2 s) it sends each VM a fresh\n"
            "nonce through the VM's host (vtc-hostd, over the VM's private channel) or, in direct\n"
            "mode, to the agent over HTTPS, and checks the whole chain: the guest quote by the AK\n"
            "the registrar holds, the guest's IMA log against the runtime policy (incrementally),\n"
            "its boot log, the Merkle proof into the host's batched hardware quote, the host AK,\n"
            "the host's logs and policy, and the vTPM log (VM started with its EK, not stopped,\n"
            "not cloned). A VM is registered, trusted, failed (with the reason; a signed\n"
            "revocation event goes to the webhooks) or unreachable (retried with backoff, never\n"
            "failed for that). State survives restarts.");
        g_option_context_set_description(
            ctx,
            "API: HTTPS with client certificates of the deployment's CA, JSON, /v1/vms,\n"
            "/v1/vms/UUID, /v1/vms/UUID/history, /v1/revocation-key, /v1/version and Prometheus\n"
            "/metrics (doc/api/verifier.md). The tenant CLI is `vtc vm add|rm|status|list|history`.\n"
            "\n"
            "Files: the configuration (--print-config lists every key), the sqlite database\n"
            "([database] path) and the state directory ([state] dir) with the revocation key.\n"
            "\n"
            "Example:\n"
            "  vtc ca issue --dir /etc/vtc/tls --san IP:10.0.0.9 verifier\n"
            "  vtc-verifier --print-config > /etc/vtc/verifier.conf   # then edit [registrar] url\n"
            "  vtc-verifier --config /etc/vtc/verifier.conf\n"
            "\n"
            "Once it serves it prints `vtc-verifier: listening on port N` on stdout and\n"
            "`vtc-verifier: ready` on stderr.\n"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start (the reason is printed),\n"
            "2 for a bad command line.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-verifier: %s\n", error->message);
                return 2;
        }
        if (argc > 1) {
                g_printerr("vtc-verifier: unexpected argument '%s'\n", argv[1]);
                return 2;
        }
        if (print_config) {
                g_autofree gchar *ini = vtc_config_schema_to_ini(vtc_verifier_config_schema);
                fputs(ini, stdout);
                return 0;
        }
        config = vtc_config_load(vtc_verifier_config_schema,
                                 config_path != NULL ? config_path : "/etc/vtc/verifier.conf",
                                 &error);
        if (config == NULL) {
                g_printerr("vtc-verifier: %s\n", error->message);
                return 1;
        }
        loop = g_main_loop_new(NULL, FALSE);
        verifier = vtc_verifier_new(config, &error);
        if (verifier == NULL) {
                g_printerr("vtc-verifier: %s\n", error->message);
                return 1;
        }
        if (!vtc_verifier_listen(verifier, &port, &error)) {
                g_printerr("vtc-verifier: %s\n", error->message);
                return 1;
        }
        sigterm_id = g_unix_signal_add(SIGTERM, vtc_verifier_quit_cb, loop);
        sigint_id = g_unix_signal_add(SIGINT, vtc_verifier_quit_cb, loop);
        printf("vtc-verifier: listening on port %u\n", port);
        fflush(stdout);
        g_printerr("vtc-verifier: ready\n");
        g_main_loop_run(loop);
        g_source_remove(sigterm_id);
        g_source_remove(sigint_id);
        /* writes the VMs' state before exiting */
        g_clear_pointer(&verifier, vtc_verifier_free);
        return 0;
}
