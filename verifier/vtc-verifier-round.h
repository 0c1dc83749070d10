/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include "vtc-verifier-store.h"
#include "vtc-verifier-webhook.h"

G_BEGIN_DECLS

/*
 * The attestation loop (ARCHITECTURE.md §6, doc/verifier.md "The daemon"): every watched VM gets
 * a round every interval, all on the thread-default main context with non-blocking libsoup
 * client I/O; the chain check (vtc-verifier-check) runs on the loop too (it is cheap: two
 * signature checks and an incremental replay). State changes are written to the store in
 * batches from a worker thread, at most [rounds] flush_ms apart; a failed verdict is durable
 * before its revocation event is sent.
 */
typedef struct {
        const gchar *registrar_url;      /* https://host:port */
        const gchar *hostd_url_template; /* "https://{id}:8892" */
        const gchar *hostd_hosts;        /* "id=url,id=url" overrides, may be NULL */
        const gchar *ca_file;            /* trust for registrar, hostd, webhooks */
        const gchar *cert_file;          /* the verifier's client certificate */
        const gchar *key_file;
        guint interval_ms;
        guint timeout_ms;     /* one request's deadline */
        guint backoff_max_ms; /* largest retry delay while unreachable */
        guint flush_ms;
        guint max_in_flight;
        guint max_conns_per_host;
        gsize max_answer; /* bytes of one evidence answer */
        guint batch_max;  /* rounds through one hostd in one request (1: one /v1/round each) */
} VtcVerifierRoundConfig;

typedef struct _VtcVerifierRound VtcVerifierRound;

/* Loads every stored VM and schedules its rounds (spread over one interval). @store and
 * @webhook must outlive the loop. */
VtcVerifierRound *vtc_verifier_round_new(const VtcVerifierRoundConfig *config,
                                         VtcVerifierStore *store,
                                         VtcVerifierWebhook *webhook,
                                         GError **error);
/* Abandons rounds in flight and writes what is pending to the store (synchronously). */
void vtc_verifier_round_free(VtcVerifierRound *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierRound, vtc_verifier_round_free)

/* A VM just stored (vtc_verifier_store_add): its first round starts at once. FALSE (and nothing
 * scheduled) when its policies do not parse. */
gboolean
vtc_verifier_round_add_vm(VtcVerifierRound *self, const VtcVerifierStoreVm *vm, GError **error);
/* Stops watching (a round in flight is abandoned). */
void vtc_verifier_round_remove_vm(VtcVerifierRound *self, const gchar *uuid);
/* The VM's live record (a copy without policies), NULL when not watched. *@out_next_round_ms is
 * the wall-clock time in ms of its next round (0: none), *@out_backoff_ms its retry delay. */
VtcVerifierStoreVm *vtc_verifier_round_get_vm(VtcVerifierRound *self,
                                              const gchar *uuid,
                                              gint64 *out_next_round_ms,
                                              guint *out_backoff_ms);
/* Appends the loop's Prometheus metrics. */
void vtc_verifier_round_append_metrics(VtcVerifierRound *self, GString *out);
/* Writes pending changes now (blocking); for shutdown and tests. */
gboolean vtc_verifier_round_flush(VtcVerifierRound *self, GError **error);

/* Parses a VM's policies as the loop will (for the API's validation): a runtime policy text,
 * optional boot and host policy texts. */
gboolean vtc_verifier_round_check_policies(const gchar *runtime_policy,
                                           const gchar *boot_policy,
                                           const gchar *host_policy,
                                           GError **error);

/* The same, through the loop's cache of parsed policies (one object per distinct text): a VM
 * with the policies of one already watched costs a digest, not a parse. */
gboolean vtc_verifier_round_prepare_policies(VtcVerifierRound *self,
                                             const gchar *runtime_policy,
                                             const gchar *boot_policy,
                                             const gchar *host_policy,
                                             GError **error);

G_END_DECLS
