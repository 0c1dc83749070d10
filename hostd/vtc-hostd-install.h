/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * `vtc-hostd --install`: puts vtc's pieces where libvirt and swtpm_setup look for them, without
 * clobbering what a site has, and `--uninstall` puts the site's files back.
 *
 * What it manages (paths as the target system sees them, all under the prefix root):
 * - /etc/libvirt/hooks/qemu.d/50-vtc, a symlink to the vtc-hook program. libvirtd looks for
 *   hooks only when it starts: the directory and the hook must exist before libvirtd starts,
 *   so libvirtd must be restarted after an install that changed them. A site's own 50-vtc is
 *   kept as /etc/libvirt/hooks/50-vtc.vtc-saved, outside qemu.d, where libvirt would run it.
 * - /etc/swtpm_setup.conf naming vtc-vtpm-certify as create_certs_tool (and
 *   /etc/vtc/certify.conf as its create_certs_tool_config); every other line of the site's
 *   file is carried over. swtpm_setup reads only the first of $XDG_CONFIG_HOME/swtpm_setup.conf,
 *   $HOME/.config/swtpm_setup.conf and /etc/swtpm_setup.conf, and libvirt runs it as the tss
 *   user (HOME=/var/lib/tpm), so when tss's ~/.config/swtpm_setup.conf exists it is what
 *   counts: it is rewritten the same way and left owned by tss.
 * - /etc/vtc/hook.conf (the hook's policy) and /etc/vtc/certify.conf, only when absent.
 * - /run/vtc (root:tss 0750: swtpm_setup, running as tss, must reach hostd's socket there) and
 *   /var/lib/vtc (0700), with the install manifest /var/lib/vtc/install.manifest.
 * A site's file that differs from vtc's is moved aside as FILE.vtc-saved (FILE.vtc-saved.N
 * when that name is taken) and reported; a file vtc wrote earlier is updated in place.
 *
 * The ownership trap: swtpm_setup and its certificate tool run as tss, so whatever they read or
 * write must be tss's. A directory that root created first (tss's ~/.config, the
 * swtpm-localca state directory /var/lib/swtpm-localca, /run/vtc) breaks them; the install
 * gives those back to tss (reported as "fixed"). Owners are set only when running as root.
 *
 * The manifest records what the install created and which files it saved. Uninstall removes
 * what vtc created and is unchanged, puts each saved file back, keeps (and reports) a file
 * changed since, and removes the directories it created when they are empty.
 */

typedef struct {
        const gchar *prefix_root;     /* NULL: "/" */
        const gchar *hook_program;    /* absolute path of vtc-hook, as the target sees it */
        const gchar *certify_program; /* absolute path of vtc-vtpm-certify, likewise */
        const gchar *tss_user;        /* NULL: "tss" */
        const gchar *policy;          /* for a new hook.conf: NULL or "fail_closed", "fail_open" */
} VtcHostdInstallOptions;

typedef enum {
        VTC_HOSTD_INSTALL_CREATED,   /* written where nothing was (or after a save) */
        VTC_HOSTD_INSTALL_UPDATED,   /* a file of an earlier install, rewritten */
        VTC_HOSTD_INSTALL_UNCHANGED, /* already as it should be, or the site's own kept */
        VTC_HOSTD_INSTALL_SAVED,     /* a site's file moved aside; detail: where to */
        VTC_HOSTD_INSTALL_FIXED,     /* owner or mode corrected; detail: what */
        VTC_HOSTD_INSTALL_RESTORED,  /* uninstall: a saved file put back; detail: from where */
        VTC_HOSTD_INSTALL_REMOVED,   /* uninstall: vtc's file or empty directory removed */
        VTC_HOSTD_INSTALL_KEPT,      /* uninstall: left in place; detail: why */
} VtcHostdInstallAction;

/* "created", "updated", "unchanged", "saved", "fixed", "restored", "removed", "kept" */
const gchar *vtc_hostd_install_action_to_string(VtcHostdInstallAction action);

typedef struct {
        VtcHostdInstallAction action;
        gchar *path;   /* as the target system sees it */
        gchar *detail; /* or NULL */
} VtcHostdInstallChange;

/* An empty list of VtcHostdInstallChange for the calls below. */
GPtrArray *vtc_hostd_install_changes_new(void);

/*
 * Installs. Every step taken is appended to @changes, also when a later step fails (so the
 * caller can say what was done); the manifest is written after every step. Errors:
 * VTC_ERROR_INVALID_ARGUMENT (bad options), VTC_ERROR_NOT_FOUND (no tss user; a program
 * missing, checked when the prefix root is "/"), VTC_ERROR_IO.
 */
gboolean vtc_hostd_install(const VtcHostdInstallOptions *opts, GPtrArray *changes, GError **error);

/* Undoes an install as the manifest records it (VTC_ERROR_NOT_FOUND without one). */
gboolean
vtc_hostd_uninstall(const VtcHostdInstallOptions *opts, GPtrArray *changes, GError **error);

/* TRUE when @changes touched libvirt's hooks: libvirtd must be restarted. */
gboolean vtc_hostd_install_needs_libvirtd_restart(GPtrArray *changes);

/* What was done, one line per change, then what to restart. */
gchar *vtc_hostd_install_report(const VtcHostdInstallOptions *opts,
                                GPtrArray *changes,
                                gboolean uninstall);

G_END_DECLS
