/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vtc-hostd-proto.h"
#include "vtc-hostd-tpm.h"
#include "vtc-tpm.h"

G_BEGIN_DECLS

/*
 * Protected VMs (ARCHITECTURE.md §3.3-§3.4, doc/hostd.md "Protected VMs"): a protected domain's
 * vTPM state is encrypted by libvirt/swtpm (<encryption secret='U'/> on the TPM backend) with a
 * per-VM key of 32 random bytes that hostd keeps sealed under the hardware TPM (a keyedhash
 * sealed data object, child of a storage primary persisted at [tpm] seal_handle). At the hook's
 * `prepare` hostd unseals it and hands it to libvirt as an ephemeral private secret; at
 * `started` (or `stopped`/`release` when the start failed) it withdraws it. A different TPM
 * cannot unseal it: the vTPM state is useless on any other host.
 */

#define VTC_HOSTD_PROTECT_KEY_SIZE    32
#define VTC_HOSTD_SEAL_HANDLE_DEFAULT 0x81000004u
#define VTC_HOSTD_LIBVIRT_URI_DEFAULT "qemu:///system"
#define VTC_HOSTD_SWTPM_DIR_DEFAULT   "/var/lib/libvirt/swtpm"
/* The namespace of vtc's record in the domain's <metadata> (what `vm protect` added). */
#define VTC_HOSTD_PROTECT_NS "https://vtc.dev/xmlns/protect/1"

/* ---- sealed keys (pure TPM functions; hostd runs them on its TPM thread) ---- */

typedef struct _VtcHostdSealedKey VtcHostdSealedKey;

/* The storage primary template the key is sealed under (ECC P-256, AES-128-CFB). */
void vtc_hostd_protect_template_parent(TPM2B_PUBLIC *out);

/*
 * Seals @key (1..128 bytes) under the storage key persisted at @parent (created there from
 * vtc_hostd_protect_template_parent() when empty), for domain @domain_uuid whose TPM backend
 * names @secret_uuid. TPM2_Create runs in a salted session with parameter encryption; no
 * transient object is left behind.
 */
VtcHostdSealedKey *vtc_hostd_sealed_key_seal(VtcTpm *tpm,
                                             TPM2_HANDLE parent,
                                             const gchar *domain_uuid,
                                             const gchar *secret_uuid,
                                             const guint8 *key,
                                             gsize len,
                                             GError **error);
/*
 * The key (wiped when the GBytes is freed). VTC_ERROR_FORBIDDEN naming the domain when this TPM
 * is not the one it was sealed on (the storage key at the handle is missing or another one).
 */
GBytes *vtc_hostd_sealed_key_unseal(const VtcHostdSealedKey *self, VtcTpm *tpm, GError **error);
const gchar *vtc_hostd_sealed_key_get_domain(const VtcHostdSealedKey *self);
const gchar *vtc_hostd_sealed_key_get_secret(const VtcHostdSealedKey *self);
/* The record as stored (a key file: domain, secret, parent handle and name, TPM2B blobs). */
gchar *vtc_hostd_sealed_key_to_data(const VtcHostdSealedKey *self, gsize *out_len);
VtcHostdSealedKey *vtc_hostd_sealed_key_from_data(const gchar *data, gsize len, GError **error);
/* Written atomically, 0600; read with a size bound (VTC_ERROR_NOT_FOUND when absent). */
gboolean
vtc_hostd_sealed_key_save(const VtcHostdSealedKey *self, const gchar *path, GError **error);
VtcHostdSealedKey *vtc_hostd_sealed_key_load(const gchar *path, GError **error);
void vtc_hostd_sealed_key_free(VtcHostdSealedKey *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdSealedKey, vtc_hostd_sealed_key_free)

/* ---- the domain XML edits of `vm protect` / `vm unprotect` (pure) ---- */

typedef enum {
        VTC_HOSTD_PROTECT_TPM = 1 << 0,        /* the <tpm> emulator 2.0 device */
        VTC_HOSTD_PROTECT_CHANNEL = 1 << 1,    /* the org.vtc.agent.0 channel */
        VTC_HOSTD_PROTECT_ENCRYPTION = 1 << 2, /* <encryption secret=.../> on the backend */
} VtcHostdProtectChanges;

/*
 * Adds to an inactive domain XML the vTPM when it has none, the channel when it has none, and
 * <encryption secret=@secret_uuid/>, plus vtc's record of what it added in <metadata>. Refuses a
 * domain already protected, a TPM that is not an emulated TPM 2.0, and a TPM that already has an
 * encryption secret. *@out_changes says what was added. The result is the document re-written
 * (elements, attributes, text, comments kept).
 */
gchar *vtc_hostd_protect_xml_add(const gchar *xml,
                                 gsize len,
                                 const gchar *secret_uuid,
                                 guint *out_changes,
                                 GError **error);
/* Undoes exactly what vtc's record says vtc added; VTC_ERROR_NOT_FOUND without a record.
 * *@out_secret is the secret uuid vtc had set. */
gchar *vtc_hostd_protect_xml_remove(const gchar *xml,
                                    gsize len,
                                    guint *out_changes,
                                    gchar **out_secret,
                                    GError **error);
/* The secret uuid of vtc's record in a domain XML, or NULL (not protected by vtc). */
gchar *vtc_hostd_protect_xml_get_secret(const gchar *xml, gsize len, GError **error);
/* The ephemeral private secret hostd defines in libvirt for @domain_uuid. */
gchar *vtc_hostd_protect_secret_xml(const gchar *secret_uuid, const gchar *domain_uuid);

/* ---- hostd's side ---- */

typedef struct _VtcHostdProtect VtcHostdProtect;

/* Sealed keys live in @state_dir/vm/<uuid>.sealed. */
VtcHostdProtect *vtc_hostd_protect_new(VtcHostdTpm *tpm,
                                       const gchar *state_dir,
                                       TPM2_HANDLE seal_handle,
                                       const gchar *libvirt_uri);
void vtc_hostd_protect_free(VtcHostdProtect *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdProtect, vtc_hostd_protect_free)

gchar *vtc_hostd_protect_get_path(VtcHostdProtect *self, const gchar *domain_uuid);

/* The socket's `protect` op: `add` seals a new random key for the domain (replacing an older
 * one), `remove` deletes it. */
void vtc_hostd_protect_handle_async(VtcHostdProtect *self,
                                    const VtcHostdProtectRequest *req,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean vtc_hostd_protect_handle_finish(VtcHostdProtect *self, GAsyncResult *res, GError **error);

/*
 * The hook's `prepare` of @domain (whose TPM backend names a secret): when hostd holds a sealed
 * key for it, unseals it on the TPM thread and defines the ephemeral private secret in libvirt
 * from a worker thread (only secret calls: domain calls deadlock from a hook). *@out_handed is
 * FALSE when hostd holds no key for the domain (not vtc's). Fails with a message for virsh when
 * the key cannot be unsealed or the domain names another secret than the one vtc set.
 */
void vtc_hostd_protect_prepare_async(VtcHostdProtect *self,
                                     const VtcHostdDomain *domain,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean vtc_hostd_protect_prepare_finish(VtcHostdProtect *self,
                                          GAsyncResult *res,
                                          gboolean *out_handed,
                                          GError **error);
/* `started`, `stopped`, `release`: undefines the secret handed at prepare, if any (in a worker
 * thread; @callback may be NULL). */
void vtc_hostd_protect_withdraw_async(VtcHostdProtect *self,
                                      const VtcHostdDomain *domain,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean vtc_hostd_protect_withdraw_finish(GAsyncResult *res, GError **error);

/* ---- `vtc-hostd vm protect|unprotect` (the client side: libvirt + hostd's socket) ---- */

typedef struct {
        const gchar *uri;         /* NULL: VTC_HOSTD_LIBVIRT_URI_DEFAULT */
        const gchar *socket_path; /* NULL: VTC_HOSTD_SOCKET_DEFAULT */
        const gchar *swtpm_dir;   /* NULL: VTC_HOSTD_SWTPM_DIR_DEFAULT */
        guint timeout_ms;         /* for hostd's answer; 0: 30 s */
        gboolean discard_state;   /* unprotect: delete the encrypted vTPM state */
} VtcHostdVmOptions;

/* Both append what they changed, one line each, to @report (also what was done before a
 * failure). */
gboolean vtc_hostd_vm_protect(const VtcHostdVmOptions *opts,
                              const gchar *domain,
                              GString *report,
                              GError **error);
gboolean vtc_hostd_vm_unprotect(const VtcHostdVmOptions *opts,
                                const gchar *domain,
                                GString *report,
                                GError **error);

G_END_DECLS
