/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-hostd: chains each VM's vTPM to this host's hardware TPM.
 */
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#include "vtc-hostd-install.h"
#include "vtc-hostd-protect.h"
#include "vtc-hostd-proto.h"
#include "vtc-hostd.h"

static gboolean
vtc_hostd_quit_cb(gpointer user_data)
{
        g_main_loop_quit(user_data);
        return G_SOURCE_REMOVE;
}

/* The programs installed beside this one (meson puts them all in bindir). */
static gchar *
vtc_hostd_sibling_program(const gchar *name)
{
        g_autofree gchar *self = g_file_read_link("/proc/self/exe", NULL);
        g_autofree gchar *dir = NULL;

        if (self == NULL)
                return NULL;
        dir = g_path_get_dirname(self);
        return g_build_filename(dir, name, NULL);
}

static int
vtc_hostd_install_main(const gchar *prefix_root,
                       const gchar *hook_program,
                       const gchar *certify_program,
                       const gchar *policy,
                       gboolean uninstall)
{
        g_autofree gchar *hook =
            hook_program != NULL ? g_strdup(hook_program) : vtc_hostd_sibling_program("vtc-hook");
        g_autofree gchar *certify = certify_program != NULL
                                        ? g_strdup(certify_program)
                                        : vtc_hostd_sibling_program("vtc-vtpm-certify");
        VtcHostdInstallOptions opts = {
            .prefix_root = prefix_root,
            .hook_program = hook,
            .certify_program = certify,
            .policy = policy,
        };
        g_autoptr(GPtrArray) changes = vtc_hostd_install_changes_new();
        g_autoptr(GError) error = NULL;
        g_autofree gchar *report = NULL;
        gboolean ok = uninstall ? vtc_hostd_uninstall(&opts, changes, &error)
                                : vtc_hostd_install(&opts, changes, &error);

        report = vtc_hostd_install_report(&opts, changes, uninstall);
        printf("vtc-hostd: %s%s\n%s",
               uninstall ? "uninstall" : "install",
               ok ? "" : " failed part-way; done so far:",
               report);
        fflush(stdout);
        if (!ok) {
                g_printerr("vtc-hostd: %s\n", error->message);
                return 1;
        }
        return 0;
}

/* `vtc-hostd vm protect|unprotect DOMAIN`: argv[0] is "vm". */
static int
vtc_hostd_vm_main(int argc, char **argv)
{
        g_autofree gchar *uri = NULL;
        g_autofree gchar *socket_path = NULL;
        g_autofree gchar *swtpm_dir = NULL;
        g_autofree gchar *timeout = NULL;
        gboolean discard = FALSE;
        GOptionEntry entries[] = {
            {"connect",
             'C',
             0,
             G_OPTION_ARG_STRING,
             &uri,
             "libvirt connection URI (default " VTC_HOSTD_LIBVIRT_URI_DEFAULT ")",
             "URI"},
            {"socket",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &socket_path,
             "vtc-hostd's local socket (default " VTC_HOSTD_SOCKET_DEFAULT ")",
             "PATH"},
            {"swtpm-dir",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &swtpm_dir,
             "where libvirt keeps vTPM state (default " VTC_HOSTD_SWTPM_DIR_DEFAULT ")",
             "DIR"},
            {"timeout",
             0,
             0,
             G_OPTION_ARG_STRING,
             &timeout,
             "seconds to wait for vtc-hostd's answer (default 30)",
             "SECONDS"},
            {"discard-vtpm-state",
             0,
             0,
             G_OPTION_ARG_NONE,
             &discard,
             "with unprotect: delete the domain's encrypted vTPM state (it cannot be decrypted "
             "once the key is gone; the domain gets a new vTPM at its next start)",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx =
            g_option_context_new("protect|unprotect DOMAIN - protect a VM's vTPM with vtc");
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) report = g_string_new(NULL);
        VtcHostdVmOptions opts = {0};
        gboolean protect;
        gboolean ok;

        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "protect: makes the stopped, defined domain DOMAIN (name or UUID) a protected VM.\n"
            "Adds to its definition the vTPM (<tpm model='tpm-crb'> with an emulated TPM 2.0)\n"
            "when it has none, the private virtio-serial channel 'org.vtc.agent.0' when it has\n"
            "none, and <encryption secret='UUID'/> on the vTPM backend: libvirt then keeps the\n"
            "vTPM state encrypted. The running vtc-hostd makes the per-VM key (32 random bytes),\n"
            "keeps it sealed under the hardware TPM, and hands it to libvirt as an ephemeral\n"
            "private secret each time the domain starts (withdrawn once swtpm runs): a copy of\n"
            "the vTPM state is useless on any other host. What was added is recorded in the\n"
            "domain's <metadata> and printed.\n"
            "\n"
            "unprotect: removes exactly what protect added and has vtc-hostd delete the key.");
        g_option_context_set_description(
            ctx,
            "protect refuses a running domain, a domain protected already, a TPM that is not an\n"
            "emulated TPM 2.0 or that has an encryption secret of its own, and a domain whose\n"
            "vTPM state exists already (unencrypted): libvirt cannot encrypt existing state.\n"
            "unprotect refuses while encrypted vTPM state exists unless --discard-vtpm-state is\n"
            "given. Both need root and a running vtc-hostd (it owns the hardware TPM).\n"
            "\n"
            "Examples:\n"
            "  vtc-hostd vm protect guest1\n"
            "  vtc-hostd vm unprotect guest1 --discard-vtpm-state\n"
            "\n"
            "Exit status: 0 done, 1 refused or failed (the reason is printed), 2 bad command "
            "line.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-hostd vm: %s\n", error->message);
                return 2;
        }
        if (argc != 3 ||
            (g_strcmp0(argv[1], "protect") != 0 && g_strcmp0(argv[1], "unprotect") != 0)) {
                g_printerr("vtc-hostd vm: usage: vtc-hostd vm protect|unprotect DOMAIN "
                           "[OPTION...] (see --help)\n");
                return 2;
        }
        protect = g_strcmp0(argv[1], "protect") == 0;
        if (protect && discard) {
                g_printerr("vtc-hostd vm: --discard-vtpm-state goes with unprotect\n");
                return 2;
        }
        if (timeout != NULL && !vtc_hostd_proto_timeout_parse(timeout, &opts.timeout_ms, &error)) {
                g_printerr("vtc-hostd vm: --timeout: %s\n", error->message);
                return 2;
        }
        opts.uri = uri;
        opts.socket_path = socket_path;
        opts.swtpm_dir = swtpm_dir;
        opts.discard_state = discard;
        ok = protect ? vtc_hostd_vm_protect(&opts, argv[2], report, &error)
                     : vtc_hostd_vm_unprotect(&opts, argv[2], report, &error);
        fputs(report->str, stdout);
        fflush(stdout);
        if (!ok) {
                g_printerr("vtc-hostd vm %s: %s\n", argv[1], error->message);
                return 1;
        }
        return 0;
}

int
main(int argc, char **argv)
{
        g_autofree gchar *config_path = NULL;
        gboolean print_config = FALSE;
        gboolean install = FALSE;
        gboolean uninstall = FALSE;
        g_autofree gchar *prefix_root = NULL;
        g_autofree gchar *hook_program = NULL;
        g_autofree gchar *certify_program = NULL;
        g_autofree gchar *policy = NULL;
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
            {"install",
             0,
             0,
             G_OPTION_ARG_NONE,
             &install,
             "install the libvirt hook and swtpm_setup's configuration (see below), then exit",
             NULL},
            {"uninstall",
             0,
             0,
             G_OPTION_ARG_NONE,
             &uninstall,
             "undo --install: put the site's saved files back, then exit",
             NULL},
            {"prefix-root",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &prefix_root,
             "with --install/--uninstall: work on the system image under DIR (default /)",
             "DIR"},
            {"hook-program",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &hook_program,
             "with --install: the vtc-hook program the hook links to (default: beside vtc-hostd)",
             "PATH"},
            {"certify-program",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &certify_program,
             "with --install: the vtc-vtpm-certify program (default: beside vtc-hostd)",
             "PATH"},
            {"policy",
             0,
             0,
             G_OPTION_ARG_STRING,
             &policy,
             "with --install: fail_closed (default) or fail_open, for a new /etc/vtc/hook.conf",
             "POLICY"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- the vtc host daemon");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcHostd) hostd = NULL;
        g_autoptr(GMainLoop) loop = NULL;

        setlocale(LC_ALL, "");
        /* tpm2-tss reports expected misses (an empty persistent handle) on stderr */
        g_setenv("TSS2_LOG", "all+none", FALSE);
        if (argc >= 2 && g_strcmp0(argv[1], "vm") == 0)
                return vtc_hostd_vm_main(argc - 1, argv + 1);
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
            "Installing (--install, as root):\n"
            "  /etc/libvirt/hooks/qemu.d/50-vtc   symlink to vtc-hook (libvirtd must be restarted:\n"
            "                                     it looks for hooks only when it starts)\n"
            "  /etc/swtpm_setup.conf              create_certs_tool = vtc-vtpm-certify, the site's\n"
            "                                     other settings kept; also tss's\n"
            "                                     ~/.config/swtpm_setup.conf when it exists (it wins)\n"
            "  /etc/vtc/hook.conf, certify.conf   written only when absent\n"
            "  /run/vtc (root:tss 0750), /var/lib/vtc (0700, with install.manifest)\n"
            "  A site's file that differs is kept as FILE.vtc-saved (or .vtc-saved.N; a hook as\n"
            "  /etc/libvirt/hooks/50-vtc.vtc-saved) and reported; running it again changes nothing.\n"
            "  Directories and files swtpm_setup uses as tss are given back to tss. --uninstall\n"
            "  removes what vtc wrote (unless changed since) and puts the saved files back.\n"
            "\n"
            "Protected VMs: `vtc-hostd vm protect|unprotect DOMAIN` (see `vtc-hostd vm --help`).\n"
            "\n"
            "Examples:\n"
            "  vtc-hostd --config /etc/vtc/hostd.conf\n"
            "  vtc-hostd --install && systemctl restart libvirtd\n"
            "  vtc-hostd --install --prefix-root /srv/image --hook-program /usr/bin/vtc-hook \\\n"
            "      --certify-program /usr/bin/vtc-vtpm-certify\n"
            "\n"
            "Exit status: 0 after SIGTERM or SIGINT (or a completed --install/--uninstall), 1 when\n"
            "it cannot start or the install fails (the reason is printed), 2 on a bad command line.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-hostd: %s\n", error->message);
                return 2;
        }
        if (install || uninstall)
                return vtc_hostd_install_main(prefix_root,
                                              hook_program,
                                              certify_program,
                                              policy,
                                              uninstall);
        if (prefix_root != NULL || hook_program != NULL || certify_program != NULL ||
            policy != NULL) {
                g_printerr("vtc-hostd: --prefix-root, --hook-program, --certify-program and "
                           "--policy go with --install or --uninstall\n");
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
