/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The registrar's state in sqlite: hosts (hardware TPM identities and their vTPM CA keys) and
 * agents (guest vTPM identities and the host that made each vTPM). Every change is atomic and
 * durable (fsync'ed) when its call returns; concurrent changes share one commit, each in its own
 * savepoint, so one that fails fails alone. Reads see only committed changes. The store is safe
 * to call from several threads.
 */
typedef enum {
        VTC_REGISTRAR_KIND_HOST,
        VTC_REGISTRAR_KIND_AGENT,
} VtcRegistrarKind;

typedef struct {
        VtcRegistrarKind kind;
        gchar *id;
        gchar *state; /* "registered" until activated, then "active" */
        GBytes *ek_public;
        GBytes *ek_cert;
        GBytes *ak_public;
        GBytes *ak_name;
        GBytes *secret; /* the pending credential secret; NULL once active */
        gint64 created;
        gint64 activated; /* 0 while registered */
        /* hosts */
        GBytes *vtpm_ca_public; /* TPM2B_PUBLIC; NULL until certified */
        GBytes *vtpm_ca_key_id; /* SHA-1 of the key's SubjectPublicKey bits (the AKI keyid) */
        /* agents */
        gchar *host_id; /* the host whose vTPM CA key issued the EK certificate */
        GBytes *tls_cert;
} VtcRegistrarRecord;

void vtc_registrar_record_free(VtcRegistrarRecord *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRegistrarRecord, vtc_registrar_record_free)

typedef struct _VtcRegistrarStore VtcRegistrarStore;

VtcRegistrarStore *vtc_registrar_store_open(const gchar *path, GError **error);
void vtc_registrar_store_free(VtcRegistrarStore *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRegistrarStore, vtc_registrar_store_free)

/*
 * Records a registration: a new id is inserted; an existing id with the same EK and AK gets the
 * new secret (a retried enrollment); an existing id with another EK or AK is refused with
 * VTC_ERROR_CONFLICT until an admin deletes it.
 */
gboolean vtc_registrar_store_register(VtcRegistrarStore *self,
                                      const VtcRegistrarRecord *rec,
                                      GError **error);
/* VTC_ERROR_NOT_FOUND when absent. */
VtcRegistrarRecord *vtc_registrar_store_get(VtcRegistrarStore *self,
                                            VtcRegistrarKind kind,
                                            const gchar *id,
                                            GError **error);
/* Marks @id active if its pending secret is still @secret (else VTC_ERROR_CONFLICT). */
gboolean vtc_registrar_store_activate(VtcRegistrarStore *self,
                                      VtcRegistrarKind kind,
                                      const gchar *id,
                                      GBytes *secret,
                                      GError **error);
/* Stores an active host's certified vTPM CA key. */
gboolean vtc_registrar_store_set_vtpm_ca(VtcRegistrarStore *self,
                                         const gchar *host_id,
                                         GBytes *ca_public,
                                         GBytes *ca_key_id,
                                         GError **error);
/* Active hosts whose vTPM CA key has this key id (a GPtrArray of VtcRegistrarRecord). */
GPtrArray *
vtc_registrar_store_find_vtpm_ca(VtcRegistrarStore *self, GBytes *ca_key_id, GError **error);
/* Every record of @kind, in id order. */
GPtrArray *vtc_registrar_store_list(VtcRegistrarStore *self, VtcRegistrarKind kind, GError **error);
gboolean vtc_registrar_store_delete(VtcRegistrarStore *self,
                                    VtcRegistrarKind kind,
                                    const gchar *id,
                                    GError **error);

G_END_DECLS
