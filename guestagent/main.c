/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-agent: the guest agent. Answers attestation rounds with quotes of the VM's vTPM.
 */
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>

#include "vtc-agent.h"

static gboolean
vtc_agent_quit_cb(gpointer user_data)
{
        g_main_loop_quit(user_data);
        return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
        g_autofree gchar *config_path = NULL;
        gboolean print_config = FALSE;
        gboolean version = FALSE;
        GOptionEntry entries[] = {
            {"config",
             'c',
             0,
             G_OPTION_ARG_FILENAME,
             &config_path,
             "configuration file (default /etc/vtc/agent.conf, plus agent.conf.d/)",
             "FILE"},
            {"print-config",
             0,
             0,
             G_OPTION_ARG_NONE,
             &print_config,
             "print every configuration key with its default and meaning, then exit",
             NULL},
            {"version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version, then exit", NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- the vtc guest agent");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcAgent) agent = NULL;
        g_autoptr(GMainLoop) loop = NULL;

        setlocale(LC_ALL, "");
        /* tpm2-tss reports expected misses (an empty persistent handle) on stderr */
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Runs inside a VM and answers attestation rounds with quotes of the VM's vTPM: the\n"
            "quote of the requested PCRs by the agent's AK, the PCR values, the guest's IMA log\n"
            "from the byte offset the verifier asks for, and the firmware event log. Rounds come\n"
            "from the host (hostd) over the VM's private virtio-serial port org.vtc.agent.0, or,\n"
            "in direct mode, from verifiers over HTTPS. At start it enrolls the vTPM's EK and its\n"
            "AK with the registrar, retrying with backoff while the registrar is unreachable.");
        g_option_context_set_description(
            ctx,
            "Files and devices (each one a configuration key, see --print-config):\n"
            "  /dev/tpmrm0                  the vTPM ([tpm] tcti); the AK is persisted at\n"
            "                               0x81000100 on first start ([tpm] ak_handle)\n"
            "  /sys/class/virtio-ports/*/name  finds the port org.vtc.agent.0 ([channel] port);\n"
            "                               [channel] path = SOCKET listens on a unix socket\n"
            "                               instead, one client at a time (tests, hosts)\n"
            "  /sys/class/dmi/id/product_uuid  the VM UUID ([agent] uuid overrides it)\n"
            "  /sys/kernel/security/ima/binary_runtime_measurements   IMA log ([logs] ima)\n"
            "  /sys/kernel/security/tpm0/binary_bios_measurements     boot log ([logs] boot)\n"
            "  /var/lib/vtc-agent/tls.{crt,key}  the agent's TLS key, made on first start,\n"
            "                               registered at enrollment and bound into every quote\n"
            "  vTPM NV index 0x01500100      a copy of that key and certificate, read when the\n"
            "                               state directory has none (a guest without a disk,\n"
            "                               after a reboot); [tls] nv_index = 0 turns it off\n"
            "\n"
            "The channel protocol: frames of \"VTC1\", a big-endian length and a JSON object\n"
            "(doc/channel.md). Garbled frames are answered with an error and the agent carries\n"
            "on. Direct mode ([api] enabled = true): POST /v1/round over HTTPS, for verifiers\n"
            "with a client certificate of the deployment's CA. Design: doc/agent.md.\n"
            "\n"
            "Once it serves, it prints \"vtc-agent: ready\" on stderr (and, in direct mode,\n"
            "\"vtc-agent: listening on port N\" on stdout).\n"
            "\n"
            "Examples:\n"
            "  vtc-agent --config /etc/vtc/agent.conf\n"
            "  vtc-agent --print-config > /etc/vtc/agent.conf\n"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start (the reason is\n"
            "printed: no TPM, a bad configuration, an unusable socket), 2 on a bad command line.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-agent: %s\n", error->message);
                return 2;
        }
        if (argc > 1) {
                g_printerr("vtc-agent: unexpected argument '%s' (see --help)\n", argv[1]);
                return 2;
        }
        if (version) {
                printf("%s\n", VTC_AGENT_NAME);
                return 0;
        }
        if (print_config) {
                g_autofree gchar *ini = vtc_config_schema_to_ini(vtc_agent_config_schema);
                fputs(ini, stdout);
                return 0;
        }
        config = vtc_config_load(vtc_agent_config_schema,
                                 config_path != NULL ? config_path : "/etc/vtc/agent.conf",
                                 &error);
        if (config == NULL) {
                g_printerr("vtc-agent: %s\n", error->message);
                return 1;
        }
        /* a host client that leaves while we write must not kill us */
        signal(SIGPIPE, SIG_IGN);
        loop = g_main_loop_new(NULL, FALSE);
        agent = vtc_agent_new(config, &error);
        if (agent == NULL) {
                g_printerr("vtc-agent: %s\n", error->message);
                return 1;
        }
        g_unix_signal_add(SIGTERM, vtc_agent_quit_cb, loop);
        g_unix_signal_add(SIGINT, vtc_agent_quit_cb, loop);
        if (vtc_agent_get_api_port(agent) != 0) {
                printf("vtc-agent: listening on port %u\n", vtc_agent_get_api_port(agent));
                fflush(stdout);
        }
        g_printerr("vtc-agent: ready\n");
        g_main_loop_run(loop);
        return 0;
}
