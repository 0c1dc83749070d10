/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc ca: the deployment's TLS CA, so one command gives each component its certificate.
 */
#include <stdio.h>

#include "vtc-ca.h"
#include "vtc-cli.h"
#include "vtc-error.h"

static int
vtc_ca_cmd_init(int argc, char **argv)
{
        g_autofree gchar *dir = NULL;
        g_autofree gchar *cn = NULL;
        gint days = 3650;
        GOptionEntry entries[] = {
            {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir, "the CA directory (created)", "DIR"},
            {"cn",
             0,
             0,
             G_OPTION_ARG_STRING,
             &cn,
             "the CA's common name (default: vtc CA)",
             "NAME"},
            {"days", 0, 0, G_OPTION_ARG_INT, &days, "validity in days (default: 3650)", "N"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- create the deployment's TLS CA");
        g_autoptr(GError) error = NULL;

        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Creates DIR/ca.key (ECDSA P-256, mode 0600) and DIR/ca.crt, the CA that signs the TLS\n"
            "certificates of the registrar, verifiers, hostds, agents and tenants. An existing CA\n"
            "is never replaced.");
        g_option_context_set_description(
            ctx,
            "Example:\n"
            "  vtc ca init --dir /etc/vtc/ca\n"
            "  vtc ca issue --dir /etc/vtc/ca registrar --san IP:10.0.0.5\n"
            "\n"
            "Exit status: 0 created, 2 usage, 3 could not create.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (dir == NULL || argc != 1 || days < 1) {
                g_printerr("vtc ca init: --dir DIR is required (see --help)\n");
                return VTC_EXIT_USAGE;
        }
        if (!vtc_ca_init(dir, cn != NULL ? cn : "vtc CA", (guint)days, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        printf("created %s/ca.crt and %s/ca.key\n", dir, dir);
        return VTC_EXIT_OK;
}

static int
vtc_ca_cmd_issue(int argc, char **argv)
{
        g_autofree gchar *dir = NULL;
        g_auto(GStrv) sans = NULL;
        gint days = 825;
        GOptionEntry entries[] = {
            {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir, "the CA directory", "DIR"},
            {"san",
             0,
             0,
             G_OPTION_ARG_STRING_ARRAY,
             &sans,
             "another subject alternative name, DNS:name or IP:addr (repeatable)",
             "SAN"},
            {"days", 0, 0, G_OPTION_ARG_INT, &days, "validity in days (default: 825)", "N"},
            {NULL}};
        g_autoptr(GOptionContext) ctx =
            g_option_context_new("NAME - issue a component certificate");
        g_autoptr(GError) error = NULL;

        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Creates DIR/NAME.key (0600) and DIR/NAME.crt signed by the CA in DIR, for both TLS\n"
            "server and client use, with DNS:NAME and every --san as subject alternative names.\n"
            "Existing files are never replaced.");
        g_option_context_set_description(ctx,
                                         "Exit status: 0 issued, 2 usage, 3 could not issue.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (dir == NULL || argc != 2 || days < 1) {
                g_printerr("vtc ca issue: --dir DIR and one NAME are required (see --help)\n");
                return VTC_EXIT_USAGE;
        }
        if (!vtc_ca_issue(dir, argv[1], (const gchar *const *)sans, (guint)days, &error)) {
                vtc_cli_print_error(error);
                return g_error_matches(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT)
                           ? VTC_EXIT_USAGE
                           : VTC_EXIT_ERROR;
        }
        printf("created %s/%s.crt and %s/%s.key\n", dir, argv[1], dir, argv[1]);
        return VTC_EXIT_OK;
}

int
vtc_cmd_ca(int argc, char **argv)
{
        if (argc >= 2 && g_strcmp0(argv[1], "init") == 0)
                return vtc_ca_cmd_init(argc - 1, argv + 1);
        if (argc >= 2 && g_strcmp0(argv[1], "issue") == 0)
                return vtc_ca_cmd_issue(argc - 1, argv + 1);
        if (argc >= 2 && (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0)) {
                printf(
                    "Usage: vtc ca init --dir DIR [--cn NAME]\n"
                    "       vtc ca issue --dir DIR [--san DNS:x|IP:x]... NAME\n"
                    "\n"
                    "The deployment's TLS CA: the registrar and verifier accept admin and tenant\n"
                    "calls only with a client certificate from it. Run `vtc ca init --help` and\n"
                    "`vtc ca issue --help` for details.\n");
                return VTC_EXIT_OK;
        }
        g_printerr("Usage: vtc ca init|issue ... (see vtc ca --help)\n");
        return VTC_EXIT_USAGE;
}
