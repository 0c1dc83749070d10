/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vtc-channel.h"
#include "vtc-policy.h"
#include "vtc-quote.h"
#include "vtc-vtpm-log.h"

G_BEGIN_DECLS

/*
 * The chain check of one attestation round (ARCHITECTURE.md §6.5, doc/verifier.md "Checks and
 * reason codes"): a pure library. It reads only what it is given (the guest evidence and the
 * hostd answer as parsed JSON, the VM's state) and does no I/O, no logging, no clock reading.
 *
 * Objects:
 *  - VtcVerifierPolicy: what a guest (or a host) must run: a Keylime runtime policy for its IMA
 *    log and a boot policy (expected PCR values, whether the firmware event log must be checked,
 *    Secure Boot state). Reference counted and read-only once shared: one object serves every VM
 *    that uses it, across threads.
 *  - VtcVerifierHost: a registered host: its id and AK (parsed once), its vTPM log PCR.
 *    Reference counted, read-only, shared by the VMs on that host.
 *  - VtcVerifierVm: one monitored VM: identity (uuid, guest AK, vTPM EK digest, TLS key digest),
 *    its host and policies (references), and the small incremental state between rounds (log
 *    offsets, running PCRs, last TPM clock/reset/restart counters, vTPM log position). A few
 *    hundred bytes plus the guest AK's EVP_PKEY; no log buffers are kept. One round at a time
 *    per VM (the caller serialises); different VMs may be checked on different threads.
 *
 * State rule: the committed state changes ONLY on a trusted round. A failed round leaves it
 * unchanged, so the next round re-checks from the same base. A round may also end INCOMPLETE
 * (see VtcVerifierResult): the checks that could run passed, but trust cannot be decided yet
 * (a log answer said "more", or a reboot needs the logs read again from the start); the
 * progress is then kept as a *pending* state (never persisted, dropped by the next failed
 * round), and the caller runs the next round at once with vtc_verifier_vm_get_request().
 */

/* ---- policies ---------------------------------------------------------------------------- */

typedef struct _VtcVerifierPolicy VtcVerifierPolicy;

VtcVerifierPolicy *vtc_verifier_policy_new(void);
VtcVerifierPolicy *vtc_verifier_policy_ref(VtcVerifierPolicy *self);
void vtc_verifier_policy_unref(VtcVerifierPolicy *self);

/* The runtime (IMA) policy; takes ownership of @runtime (NULL: no IMA policy, the IMA log is
 * still replayed against PCR 10 when the quote covers it). */
void vtc_verifier_policy_set_runtime(VtcVerifierPolicy *self, VtcRuntimePolicy *runtime);
const VtcRuntimePolicy *vtc_verifier_policy_get_runtime(const VtcVerifierPolicy *self);

/* Expected value of PCR @index (0-23) in @bank (sha1/sha256/sha384/sha512): a quote whose value
 * differs fails with the boot policy reason (guest_boot_policy / host_policy). */
gboolean vtc_verifier_policy_set_pcr(VtcVerifierPolicy *self,
                                     TPM2_ALG_ID bank,
                                     guint index,
                                     const guint8 *digest,
                                     gsize len,
                                     GError **error);
/* Whether the firmware event log must be sent and replay to the quoted PCRs 0-9 (default FALSE;
 * TRUE is implied by vtc_verifier_policy_set_secure_boot()). */
void vtc_verifier_policy_set_require_boot_log(VtcVerifierPolicy *self, gboolean require);
gboolean vtc_verifier_policy_get_require_boot_log(const VtcVerifierPolicy *self);
/* Requires the event log to record Secure Boot @enabled (EFI SecureBoot variable in PCR 7). */
void vtc_verifier_policy_set_secure_boot(VtcVerifierPolicy *self, gboolean enabled);

/*
 * The boot part of a policy from JSON (the verifier's REST and store use this form):
 *   {"pcrs": {"sha256": {"0": "<hex>", "7": "<hex>"}}, "require_boot_log": true,
 *    "secure_boot": true}
 * Every member optional; unknown members refused (VTC_ERROR_INVALID_DATA naming it).
 */
gboolean
vtc_verifier_policy_set_boot_from_json(VtcVerifierPolicy *self, JsonObject *obj, GError **error);

/* ---- hosts ------------------------------------------------------------------------------- */

typedef struct _VtcVerifierHost VtcVerifierHost;

/* @ak_public: the host AK as the registrar holds it (TPM2B_PUBLIC, TPMT_PUBLIC or PEM). */
VtcVerifierHost *vtc_verifier_host_new(const gchar *id,
                                       const guint8 *ak_public,
                                       gsize ak_public_len,
                                       GError **error);
VtcVerifierHost *vtc_verifier_host_ref(VtcVerifierHost *self);
void vtc_verifier_host_unref(VtcVerifierHost *self);
const gchar *vtc_verifier_host_get_id(const VtcVerifierHost *self);
/* The SHA-256 PCR of the vTPM log (default VTC_VTPM_LOG_PCR_DEFAULT, 23). Set before sharing. */
void vtc_verifier_host_set_vtpm_log_pcr(VtcVerifierHost *self, guint pcr);

/* ---- reasons and verdicts ---------------------------------------------------------------- */

typedef enum {
        VTC_VERIFIER_REASON_NONE,
        VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,    /* unparsable guest evidence or host answer */
        VTC_VERIFIER_REASON_GUEST_UUID,            /* evidence or answer names another VM */
        VTC_VERIFIER_REASON_GUEST_QUOTE_SIGNATURE, /* not signed by the VM's registered AK */
        VTC_VERIFIER_REASON_GUEST_NONCE,           /* extraData != SHA-256(nonce || tls key) */
        VTC_VERIFIER_REASON_GUEST_PCR_DIGEST,      /* PCR values vs pcrDigest, or PCRs missing */
        VTC_VERIFIER_REASON_GUEST_IMA_REPLAY,      /* IMA log does not replay to PCR 10 */
        VTC_VERIFIER_REASON_GUEST_IMA_POLICY,      /* an IMA entry outside the runtime policy */
        VTC_VERIFIER_REASON_GUEST_BOOT_AGGREGATE,  /* boot_aggregate != quoted PCRs 0-9 */
        VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY,     /* boot log vs PCRs 0-9, or missing */
        VTC_VERIFIER_REASON_GUEST_BOOT_POLICY,     /* PCRs / Secure Boot outside boot policy */
        VTC_VERIFIER_REASON_MERKLE_PROOF,          /* (uuid, binding) not under the root */
        VTC_VERIFIER_REASON_HOST_QUOTE_NONCE,      /* host quote extraData != root */
        VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE,  /* not signed by the registered host AK */
        VTC_VERIFIER_REASON_HOST_PCR_DIGEST,       /* host PCR values vs pcrDigest, or missing */
        VTC_VERIFIER_REASON_HOST_QUOTE_REPLAY,     /* a host quote already seen */
        VTC_VERIFIER_REASON_CLOCK_REGRESSION,      /* guest or host clock/reset/restart back */
        VTC_VERIFIER_REASON_HOST_LOG_REPLAY,       /* host boot or IMA log vs host PCRs */
        VTC_VERIFIER_REASON_HOST_POLICY,           /* host PCRs or IMA entry outside policy */
        VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,       /* vTPM log invalid or not PCR 23's */
        VTC_VERIFIER_REASON_VM_NOT_STARTED,        /* no VTPM_START for the VM in the log */
        VTC_VERIFIER_REASON_VM_STOPPED,            /* its last entry is VTPM_STOP */
        VTC_VERIFIER_REASON_VTPM_EK_MISMATCH,      /* started with another EK than registered */
        VTC_VERIFIER_REASON_VTPM_CLONE,            /* the same EK runs as another VM */
        /* INCOMPLETE verdicts only: why another round is needed */
        VTC_VERIFIER_REASON_GUEST_REBOOT, /* guest TPM reset: logs re-read from the start */
        VTC_VERIFIER_REASON_HOST_REBOOT,  /* host TPM reset: host logs re-read from the start */
        VTC_VERIFIER_REASON_LOG_MORE,     /* a log answer said "more": continue */
} VtcVerifierReason;

/* Stable lower-case strings ("guest_quote_signature", ...; "none"): API, metrics, events. */
const gchar *vtc_verifier_reason_to_string(VtcVerifierReason reason);
/* The reverse (VTC_VERIFIER_REASON_NONE and FALSE for an unknown string). */
gboolean vtc_verifier_reason_from_string(const gchar *str, VtcVerifierReason *out);

typedef enum {
        VTC_VERIFIER_RESULT_TRUSTED,
        VTC_VERIFIER_RESULT_FAILED,
        /* not a verdict on the VM: run another round now (see the state rule above) */
        VTC_VERIFIER_RESULT_INCOMPLETE,
} VtcVerifierResult;

/* "trusted", "failed", "incomplete" */
const gchar *vtc_verifier_result_to_string(VtcVerifierResult result);

/* The outcome of one round; clear with vtc_verifier_verdict_clear(). */
typedef struct {
        VtcVerifierResult result;
        VtcVerifierReason reason; /* NONE when trusted */
        /* one line for people: which link broke, naming the entry/PCR/value; "" when trusted */
        gchar *message;
        /* TRUE only when the evidence came through the VM's hostd channel ("placement":
         * "channel") and the round is trusted; direct mode says "placement: not proven" */
        gboolean placement_proven;
        /* SHA-256(guest attest || host attest) for revocation events; valid when set */
        gboolean has_evidence_digest;
        guint8 evidence_digest[32];
        /* what this round replayed (for metrics) */
        guint64 guest_ima_entries;
        guint64 host_ima_entries;
        guint64 vtpm_log_entries;
        /* The VTPM_START / VTPM_STOP entries of this round's vTPM log increment (every VM of the
         * host, VtcVtpmLogEntry references), replayed and matched to the quoted PCR: the daemon
         * feeds its EK index for cross-host clone detection from them. NULL when none, or when the
         * log was not proven (a failed vtpm_log_replay). */
        GPtrArray *vtpm_events;
} VtcVerifierVerdict;

void vtc_verifier_verdict_clear(VtcVerifierVerdict *verdict);

/* ---- VMs --------------------------------------------------------------------------------- */

typedef struct _VtcVerifierVm VtcVerifierVm;

/*
 * Cross-host clone detection is the caller's (it alone sees every host's log): called with the
 * VM's EK digest once its own host's log shows it running; return TRUE when the same EK runs as
 * any other (host, uuid) than (@host_id, @uuid), and then *@out_where (owned by the caller of
 * the callback: g_free) may say where, e.g. "VM <uuid> on host-9".
 */
typedef gboolean (*VtcVerifierCloneFunc)(const guint8 ek_sha256[32],
                                         const gchar *uuid,
                                         const gchar *host_id,
                                         gchar **out_where,
                                         gpointer user_data);

/*
 * @uuid: the VM UUID (any case, 8-4-4-4-12); @ak_public: the guest AK the registrar holds
 * (TPM2B_PUBLIC, TPMT_PUBLIC or PEM), parsed here once; @ek_sha256: SHA-256 of the vTPM EK's
 * DER SubjectPublicKeyInfo (as in the vTPM log); @tls_key_sha256: SHA-256 of the agent's TLS key
 * SPKI, NULL when it registered none; @host: where the registrar/vTPM log says it runs.
 */
VtcVerifierVm *vtc_verifier_vm_new(const gchar *uuid,
                                   const guint8 *ak_public,
                                   gsize ak_public_len,
                                   const guint8 ek_sha256[32],
                                   const guint8 *tls_key_sha256,
                                   VtcVerifierHost *host,
                                   GError **error);
void vtc_verifier_vm_free(VtcVerifierVm *self);
const gchar *vtc_verifier_vm_get_uuid(const VtcVerifierVm *self);
VtcVerifierHost *vtc_verifier_vm_get_host(const VtcVerifierVm *self);

/* Policies (new references; NULL: none). The guest policy's boot part applies to the guest's
 * PCRs and firmware log, the host policy's to the host's; each runtime part to its IMA log. */
void vtc_verifier_vm_set_policy(VtcVerifierVm *self, VtcVerifierPolicy *policy);
void vtc_verifier_vm_set_host_policy(VtcVerifierVm *self, VtcVerifierPolicy *policy);
/* Moves the VM to another host (migration): the host part of the state starts afresh. */
void vtc_verifier_vm_set_host(VtcVerifierVm *self, VtcVerifierHost *host);
void
vtc_verifier_vm_set_clone_func(VtcVerifierVm *self, VtcVerifierCloneFunc func, gpointer user_data);

/* What to ask for in the next round (doc/channel.md, doc/api/hostd.md). */
typedef struct {
        VtcChannelPcrs pcrs; /* guest PCR selection: sha256 0-10 */
        guint64 ima_offset;  /* guest IMA log byte offset */
        gboolean boot_log;   /* ask the guest for its firmware event log */
        guint64 host_boot;   /* hostd "offsets": boot log bytes, */
        guint64 host_ima;    /* IMA log bytes, */
        guint64 host_vtpm;   /* vTPM log entries */
} VtcVerifierRequest;

void vtc_verifier_vm_get_request(const VtcVerifierVm *self, VtcVerifierRequest *out);

/*
 * Forgets the host log positions (next round reads the host's logs and the vTPM log from 0),
 * keeping the clock counters: for a hostd that refuses the offsets (400: beyond the end of the
 * log after a host reboot). Always safe: everything is replayed again from the start.
 */
void vtc_verifier_vm_resync_host(VtcVerifierVm *self);

/*
 * The committed state as a compact JSON object text (versioned), for the store, and back. Load
 * refuses a state of another VM or version (VTC_ERROR_INVALID_DATA); the runtime-policy keys
 * learnt from keyring entries are not kept (an ima-sig entry signed by one after a restart
 * needs its digest in the policy).
 */
gchar *vtc_verifier_vm_save_state(const VtcVerifierVm *self);
gboolean vtc_verifier_vm_load_state(VtcVerifierVm *self, const gchar *json, GError **error);

/*
 * Checks one round. @nonce: the 32 bytes this round asked with; @guest_evidence: the guest
 * evidence object (doc/channel.md; "id"/"ok" tolerated); @host_answer: hostd's /v1/bind answer
 * (the "host" member of /v1/round); @through_host: the evidence came through hostd's channel
 * (/v1/round with "placement": "channel") rather than from the agent directly.
 *
 * Every check of ARCHITECTURE.md §6.5 runs, in the order of doc/verifier.md; the first failing
 * one gives the reason. Inputs are untrusted and bounded: anything unparsable is a FAILED
 * verdict with VTC_VERIFIER_REASON_EVIDENCE_MALFORMED naming the member, never a crash.
 * Returns TRUE with *@out filled (clear it with vtc_verifier_verdict_clear()); FALSE only when
 * the check itself could not run (OpenSSL out of memory), @out untouched, state unchanged.
 */
gboolean vtc_verifier_check_round(VtcVerifierVm *self,
                                  const guint8 nonce[32],
                                  JsonObject *guest_evidence,
                                  JsonObject *host_answer,
                                  gboolean through_host,
                                  VtcVerifierVerdict *out,
                                  GError **error);

/*
 * Splits hostd's /v1/round answer {"guest", "host", "placement"} for vtc_verifier_check_round()
 * (borrowed pointers into @answer); *@out_through_host is TRUE for "placement": "channel".
 * VTC_ERROR_INVALID_DATA naming the member otherwise.
 */
gboolean vtc_verifier_round_answer_split(JsonObject *answer,
                                         JsonObject **out_guest,
                                         JsonObject **out_host,
                                         gboolean *out_through_host,
                                         GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierPolicy, vtc_verifier_policy_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierHost, vtc_verifier_host_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVerifierVm, vtc_verifier_vm_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcVerifierVerdict, vtc_verifier_verdict_clear)

G_END_DECLS
