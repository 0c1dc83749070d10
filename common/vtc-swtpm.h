/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <tss2/tss2_esys.h>

G_BEGIN_DECLS

/*
 * A private swtpm process on unix sockets in a directory of the caller's. It is how vtc reads a
 * stopped vTPM (a copy of its state), and how tests get a real TPM. The process is killed when
 * the object is freed, and gets SIGKILL (PR_SET_PDEATHSIG) when the thread that created it ends,
 * so that it never outlives a process that aborts: create a VtcSwtpm that outlives one call on the
 * main thread (or a thread that lives as long), not on a worker thread.
 */
typedef struct _VtcSwtpm VtcSwtpm;

/* Starts `swtpm socket --tpm2` on @state_dir (created if missing) with the server socket at
 * @state_dir/swtpm.sock and its control socket beside it, and waits until both accept. */
VtcSwtpm *vtc_swtpm_new(const gchar *state_dir, GError **error);
void vtc_swtpm_free(VtcSwtpm *self);

/*
 * Provisions @state_dir as a TPM fresh from the factory: swtpm_setup creates the EKs (RSA-2048 at
 * 0x81010001 and ECC at 0x81010016) with EK certificates in NV, issued by a private swtpm-localca
 * CA kept in @ca_dir (created): its root swtpm-localca-rootca-cert.pem and intermediate
 * issuercert.pem form an EK trust store. Never touches the system's /var/lib/swtpm-localca.
 * This is how a swtpm stands in for a hardware TPM with a vendor certificate.
 */
gboolean vtc_swtpm_manufacture(const gchar *state_dir, const gchar *ca_dir, GError **error);

/*
 * A GSpawnChildSetupFunc for anyone who runs swtpm_setup (vtc_swtpm_manufacture() does):
 * swtpm_setup 0.7 starts its own swtpm and exits without reaping it, which leaves a zombie (or a
 * live swtpm) behind. With this, the forked child reaps all it leaves and exits with its status
 * (killed by signal N: exit 128 + N), and it dies with the calling thread. @user_data:
 * GINT_TO_POINTER(getpid()) of the caller. The spawn returns only when every process that
 * swtpm_setup left behind has exited.
 */
void vtc_swtpm_setup_child_setup(gpointer user_data);

/* "swtpm:path=..." for Tss2_TctiLdr_Initialize() and TPM2TOOLS_TCTI. */
const gchar *vtc_swtpm_get_tcti_conf(VtcSwtpm *self);
const gchar *vtc_swtpm_get_state_dir(VtcSwtpm *self);
GPid vtc_swtpm_get_pid(VtcSwtpm *self);

/* A fresh ESYS context over this swtpm; free with vtc_esys_close(). */
ESYS_CONTEXT *vtc_swtpm_esys_open(VtcSwtpm *self, GError **error);

/* Opens an ESYS context on any TCTI configuration string ("device:/dev/tpmrm0", ...). */
ESYS_CONTEXT *vtc_esys_open(const gchar *tcti_conf, GError **error);
void vtc_esys_close(ESYS_CONTEXT *ctx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcSwtpm, vtc_swtpm_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ESYS_CONTEXT, vtc_esys_close)

G_END_DECLS
