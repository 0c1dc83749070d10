/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the `vtc GROUP` subcommand groups. */
#include "vtc-cli.h"

void
vtc_cli_print_error(const GError *error)
{
        g_printerr("vtc: %s\n", error != NULL ? error->message : "unknown error");
}

int
vtc_cli_dispatch(const gchar *prog,
                 int argc,
                 char **argv,
                 const VtcCliSubcommand *commands,
                 const gchar *usage)
{
        if (argc < 2) {
                fputs(usage, stderr);
                return VTC_EXIT_USAGE;
        }
        if (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0 ||
            g_strcmp0(argv[1], "help") == 0) {
                fputs(usage, stdout);
                return VTC_EXIT_OK;
        }
        for (const VtcCliSubcommand *c = commands; c->name != NULL; c++) {
                if (g_strcmp0(argv[1], c->name) == 0)
                        return c->func(argc - 1, argv + 1);
        }
        g_printerr("%s: unknown command '%s'\n\n", prog, argv[1]);
        fputs(usage, stderr);
        return VTC_EXIT_USAGE;
}

int
vtc_cli_dispatch_one(const gchar *prog,
                     int argc,
                     char **argv,
                     const gchar *name,
                     int (*func)(int argc, char **argv),
                     const gchar *summary)
{
        const VtcCliSubcommand commands[] = {
            {name, func, summary},
            {NULL, NULL, NULL},
        };
        g_autofree gchar *usage = g_strdup_printf("Usage: %s COMMAND [OPTIONS]\n"
                                                  "\n"
                                                  "Commands:\n"
                                                  "  %-8s %s\n"
                                                  "\n"
                                                  "Run `%s %s --help` for its options, exit status "
                                                  "and an example.\n",
                                                  prog,
                                                  name,
                                                  summary,
                                                  prog,
                                                  name);

        return vtc_cli_dispatch(prog, argc, argv, commands, usage);
}

gboolean
vtc_cli_parse_options(GOptionContext *ctx,
                      const gchar *prog,
                      gboolean one_file,
                      int *argc,
                      char ***argv)
{
        g_autoptr(GError) error = NULL;

        if (!g_option_context_parse(ctx, argc, argv, &error)) {
                g_printerr("%s: %s\n", prog, error->message);
                return FALSE;
        }
        if (one_file && *argc != 2) {
                g_printerr("%s: expected one FILE (see --help)\n", prog);
                return FALSE;
        }
        if (!one_file && *argc > 1) {
                g_printerr("%s: unexpected argument '%s'\n", prog, (*argv)[1]);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_cli_parse_ima_format(const gchar *command, const gchar *str, VtcImaFormat *format)
{
        if (str == NULL || g_strcmp0(str, "auto") == 0)
                *format = VTC_IMA_FORMAT_AUTO;
        else if (g_strcmp0(str, "ascii") == 0)
                *format = VTC_IMA_FORMAT_ASCII;
        else if (g_strcmp0(str, "binary") == 0)
                *format = VTC_IMA_FORMAT_BINARY;
        else {
                g_printerr("%s: unknown --format '%s'\n", command, str);
                return FALSE;
        }
        return TRUE;
}
