/* SPDX-License-Identifier: Apache-2.0 */
#include <locale.h>
#include <stdio.h>

#include "vtc-cli.h"
#include "vtc-cmds.h"

static const VtcCliSubcommand vtc_cli_commands[] = {
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
#ifdef VTC_HAVE_CMD_VM
    {"vm", vtc_cmd_vm, "tenant: watch VMs at the verifier, see their state and history"},
#endif
#ifdef VTC_HAVE_CMD_HOST
    {"host", vtc_cmd_host, "tenant: the hosts the registrar knows"},
#endif
    {NULL, NULL, NULL},
};

static gchar *
vtc_cli_usage(void)
{
        GString *out =
            g_string_new("Usage: vtc COMMAND [ARGS...]\n"
                         "\n"
                         "vtc checks TPM 2.0 evidence: the vTPM trust chain for QEMU/KVM guests.\n"
                         "\n"
                         "Commands:\n");

        for (const VtcCliSubcommand *c = vtc_cli_commands; c->name != NULL; c++)
                g_string_append_printf(out, "  %-10s %s\n", c->name, c->summary);
        g_string_append(
            out,
            "\n"
            "Run `vtc COMMAND --help` for the options of each command.\n"
            "\n"
            "Tenant workflow: `vtc ca issue tenant` (by the CA's admin), then\n"
            "`vtc vm add UUID --runtime-policy FILE`, then `vtc vm status UUID`.\n"
            "\n"
            "Exit status: 0 valid (done), 1 checked and not valid (vtc vm status: the VM is\n"
            "failed), 2 usage error, 3 input unreadable, 4 server unreachable or no usable\n"
            "answer, 5 the server refused the request.\n");
        return g_string_free(out, FALSE);
}

int
main(int argc, char **argv)
{
        g_autofree gchar *usage = NULL;

        setlocale(LC_ALL, "");
        if (argc >= 2 && g_strcmp0(argv[1], "--version") == 0) {
                printf("vtc %s\n", VTC_VERSION);
                return VTC_EXIT_OK;
        }
        usage = vtc_cli_usage();
        return vtc_cli_dispatch("vtc", argc, argv, vtc_cli_commands, usage);
}
