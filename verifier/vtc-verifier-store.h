/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The verifier's state in sqlite (doc/verifier.md "The daemon"): the watched VMs with their
 * policies, state, last verdict, counters and the check library's incremental state, and each
 * VM's history (state changes, failed verdicts, revocation events). Every call is atomic and
 * durable when it returns (WAL, synchronous=FULL); a call that fails changes nothing. The store
 * is safe to call from several threads (one connection behind a mutex).
 */

#define VTC_VERIFIER_STORE_MAX_HISTORY_PAGE 1000
#define VTC_VERIFIER_STORE_MAX_LIST_PAGE    10000

typedef struct {
        gchar *uuid; /* lower case */
        gchar *mode; /* "host" | "direct" */
        gchar *agent_url;
        gchar *runtime_policy; /* Keylime runtime-policy JSON text */
        gchar *boot_policy;    /* JSON text or NULL */
        gchar *host_policy;    /* JSON text or NULL */
        /* what the loop updates */
        gchar *state; /* registered | trusted | failed | unreachable */
        gchar *reason;
        gchar *message;
        gchar *placement; /* "channel" | "not proven" | NULL */
        gchar *host_id;
        GBytes *check_state; /* the check library's incremental state; NULL before a verdict */
        gchar *last_result;  /* "pass" | "fail" | NULL */
        gchar *last_reason;
        gchar *last_message;
        gchar *last_placement;
        gint64 last_time;
        gint64 created;
        gint64 updated;
        gint64 last_attempt;
        gint64 last_success;
        gint64 rounds;
        gint64 passes;
        gint64 failures;
        gint64 unreachable;
        gint64 ima_offset;
} VtcVerifierStoreVm;

void vtc_verifier_store_vm_free(VtcVerifierStoreVm *vm);
VtcVerifierStoreVm *vtc_verifier_store_vm_copy(const VtcVerifierStoreVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierStoreVm, vtc_verifier_store_vm_free)

typedef struct {
        gint64 seq; /* assigned by the store */
        gchar *uuid;
        gint64 time;
        gchar *kind; /* added | state | verdict | revocation */
        gchar *state;
        gchar *result; /* pass | fail | NULL */
        gchar *reason;
        gchar *message;
        gchar *placement;
        gchar *evidence_digest; /* hex */
        gchar *event;           /* revocation: the event's canonical JSON */
        gchar *signature;       /* revocation: base64 DER */
        gint64 delivered;
        gint64 undelivered;
} VtcVerifierStoreEvent;

void vtc_verifier_store_event_free(VtcVerifierStoreEvent *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierStoreEvent, vtc_verifier_store_event_free)

typedef struct _VtcVerifierStore VtcVerifierStore;

VtcVerifierStore *vtc_verifier_store_open(const gchar *path, GError **error);
void vtc_verifier_store_free(VtcVerifierStore *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierStore, vtc_verifier_store_free)

/* Inserts a new VM (state, created and updated as given) with an "added" history event.
 * VTC_ERROR_CONFLICT when the UUID is there; VTC_ERROR_INVALID_ARGUMENT for a bad UUID, mode
 * or state; nothing is written then. */
gboolean
vtc_verifier_store_add(VtcVerifierStore *self, const VtcVerifierStoreVm *vm, GError **error);
/* VTC_ERROR_NOT_FOUND when absent. */
VtcVerifierStoreVm *
vtc_verifier_store_get(VtcVerifierStore *self, const gchar *uuid, GError **error);
/* VMs in UUID order after @after (NULL: from the start), only @state when not NULL, at most
 * @limit; with @with_policies FALSE the policy texts are left NULL. */
GPtrArray *vtc_verifier_store_list(VtcVerifierStore *self,
                                   const gchar *state,
                                   const gchar *after,
                                   guint limit,
                                   gboolean with_policies,
                                   GError **error);
/* Deletes the VM and its history. VTC_ERROR_NOT_FOUND when absent. */
gboolean vtc_verifier_store_delete(VtcVerifierStore *self, const gchar *uuid, GError **error);

/*
 * Saves the loop's part of each VM of @vms (VtcVerifierStoreVm: state ... ima_offset; the policies
 * and created are not touched) and appends @events (VtcVerifierStoreEvent, may be NULL; their seq
 * is set) in one transaction. A VM or event for a UUID that is no longer stored (deleted meanwhile)
 * is skipped. All or nothing.
 */
gboolean vtc_verifier_store_update(VtcVerifierStore *self,
                                   GPtrArray *vms,
                                   GPtrArray *events,
                                   GError **error);
/* Records a revocation event's delivery outcome. */
gboolean vtc_verifier_store_set_delivery(VtcVerifierStore *self,
                                         gint64 seq,
                                         gint64 delivered,
                                         gint64 undelivered,
                                         GError **error);
/* History newest first, older than @before (0: from the newest), at most @limit;
 * *@out_next is the seq for the next page or 0 on the last. VTC_ERROR_NOT_FOUND for an unknown
 * VM. */
GPtrArray *vtc_verifier_store_history(VtcVerifierStore *self,
                                      const gchar *uuid,
                                      gint64 before,
                                      guint limit,
                                      gint64 *out_next,
                                      GError **error);

G_END_DECLS
