/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-hostd: chains each VM's vTPM to this host's hardware TPM.
 */
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#include "vtc-hostd.h"

static gboolean
vtc_hostd_quit_cb(gpointer user_data)
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
             "configuration file (default /etc/vtc/hostd.conf, plus hostd.conf.d/)",
             "FILE"},
            {"print-config",
             0,
             0,
             G_OPTION_ARG_NONE,
             &print_config,
             "print every configuration key with its default and meaning, then exit",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- the vtc host daemon");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcHostd) hostd = NULL;
        g_autoptr(GMainLoop) loop = NULL;

        setlocale(LC_ALL, "");
        /* tpm2-tss reports expected misses (an empty persistent handle) on stderr */
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Runs as root on a QEMU/KVM host and owns its hardware TPM. It issues each vTPM's EK\n"
            "certificate with a CA key that never leaves the hardware TPM (swtpm_setup asks through\n"
            "vtc-vtpm-certify), records every vTPM start and stop in the vTPM event log extended into\n"
            "a hardware PCR (the libvirt hook tells it), and enrolls the host with the registrar.");
        g_option_context_set_description(
            ctx,
            "At start it checks the vTPM log against its PCR: a single extend lost in a crash is\n"
            "repaired, anything else stops it with the reason. The local socket (default\n"
            "/run/vtc/hostd.sock) serves the hook (root) and the certify tool (root or tss).\n"
            "Design and protocol: doc/hostd.md.\n"
            "\n"
            "Example:\n"
            "  vtc-hostd --config /etc/vtc/hostd.conf\n"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start (the reason is printed),\n"
            "2 on a bad command line.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-hostd: %s\n", error->message);
                return 2;
        }
        if (print_config) {
                g_autofree gchar *ini = vtc_config_schema_to_ini(vtc_hostd_config_schema);
                fputs(ini, stdout);
                return 0;
        }
        config = vtc_config_load(vtc_hostd_config_schema,
                                 config_path != NULL ? config_path : "/etc/vtc/hostd.conf",
                                 &error);
        if (config == NULL) {
                g_printerr("vtc-hostd: %s\n", error->message);
                return 1;
        }
        loop = g_main_loop_new(NULL, FALSE);
        hostd = vtc_hostd_new(config, &error);
        if (hostd == NULL) {
                g_printerr("vtc-hostd: %s\n", error->message);
                return 1;
        }
        g_unix_signal_add(SIGTERM, vtc_hostd_quit_cb, loop);
        g_unix_signal_add(SIGINT, vtc_hostd_quit_cb, loop);
        printf("vtc-hostd: ready\n");
        fflush(stdout);
        g_main_loop_run(loop);
        return 0;
}
