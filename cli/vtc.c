/* SPDX-License-Identifier: Apache-2.0 */
#include <locale.h>
#include <stdio.h>

#include "vtc-cli.h"
#include "vtc-cmds.h"

typedef struct {
        const gchar *name;
        int (*func)(int argc, char **argv);
        const gchar *summary;
} VtcCliCommand;

static const VtcCliCommand vtc_cli_commands[] = {
#ifdef VTC_HAVE_CMD_QUOTE
    {"quote", vtc_cmd_quote, "check a TPM 2.0 quote (tpm2-tools files)"},
#endif
#ifdef VTC_HAVE_CMD_EK
    {"ek", vtc_cmd_ek, "check an EK certificate chain and its key"},
#endif
#ifdef VTC_HAVE_CMD_EVENTLOG
    {"eventlog", vtc_cmd_eventlog, "replay or list a UEFI (TCG) firmware event log"},
#endif
#ifdef VTC_HAVE_CMD_IMA
    {"ima", vtc_cmd_ima, "replay an IMA log, check it against a runtime policy"},
#endif
#ifdef VTC_HAVE_CMD_MERKLE
    {"merkle", vtc_cmd_merkle, "build and check Merkle inclusion proofs of host quotes"},
#endif
#ifdef VTC_HAVE_CMD_CA
    {"ca", vtc_cmd_ca, "make the deployment's TLS CA and each component's certificate"},
#endif
    {NULL, NULL, NULL},
};

void
vtc_cli_print_error(const GError *error)
{
        g_printerr("vtc: %s\n", error != NULL ? error->message : "unknown error");
}

static void
vtc_cli_usage(FILE *out)
{
        fprintf(out,
                "Usage: vtc COMMAND [ARGS...]\n"
                "\n"
                "vtc checks TPM 2.0 evidence: the vTPM trust chain for QEMU/KVM guests.\n"
                "\n"
                "Commands:\n");
        for (const VtcCliCommand *c = vtc_cli_commands; c->name != NULL; c++)
                fprintf(out, "  %-10s %s\n", c->name, c->summary);
        fprintf(
            out,
            "\n"
            "Run `vtc COMMAND --help` for the options of each command.\n"
            "\n"
            "Exit status: 0 valid, 1 checked and not valid, 2 usage error, 3 input unreadable.\n");
}

int
main(int argc, char **argv)
{
        setlocale(LC_ALL, "");
        if (argc < 2) {
                vtc_cli_usage(stderr);
                return VTC_EXIT_USAGE;
        }
        if (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0 ||
            g_strcmp0(argv[1], "help") == 0) {
                vtc_cli_usage(stdout);
                return VTC_EXIT_OK;
        }
        if (g_strcmp0(argv[1], "--version") == 0) {
                printf("vtc %s\n", VTC_VERSION);
                return VTC_EXIT_OK;
        }
        for (const VtcCliCommand *c = vtc_cli_commands; c->name != NULL; c++) {
                if (g_strcmp0(argv[1], c->name) == 0)
                        return c->func(argc - 1, argv + 1);
        }
        g_printerr("vtc: unknown command '%s'\n\n", argv[1]);
        vtc_cli_usage(stderr);
        return VTC_EXIT_USAGE;
}
