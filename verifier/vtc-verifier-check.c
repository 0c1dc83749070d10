/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier-check.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "vtc-error.h"
#include "vtc-eventlog.h"
#include "vtc-ima.h"
#include "vtc-json.h"
#include "vtc-merkle.h"
#include "vtc-util.h"

/* What one answer may carry (doc/channel.md, doc/api/hostd.md), with some slack. */
#define VTC_VERIFIER_MAX_ATTEST     4096
#define VTC_VERIFIER_MAX_SIGNATURE  4096
#define VTC_VERIFIER_MAX_GUEST_IMA  VTC_CHANNEL_MAX_IMA
#define VTC_VERIFIER_MAX_GUEST_BOOT VTC_EVENTLOG_MAX_LOG_SIZE
#define VTC_VERIFIER_MAX_HOST_LOG   (2u * 1024 * 1024)
#define VTC_VERIFIER_MAX_VTPM_LOG   (2u * 1024 * 1024)
#define VTC_VERIFIER_MAX_CLONES     8
#define VTC_VERIFIER_BOOT_PCRS      10
#define VTC_VERIFIER_STATE_VERSION  1

/* ---- policies ---------------------------------------------------------------------------- */

struct _VtcVerifierPolicy {
        gint ref_count;
        VtcRuntimePolicy *runtime;
        VtcPcrValues *pcrs;
        gboolean require_boot_log;
        gint secure_boot; /* -1: don't care */
};

VtcVerifierPolicy *
vtc_verifier_policy_new(void)
{
        VtcVerifierPolicy *self = g_new0(VtcVerifierPolicy, 1);

        self->ref_count = 1;
        self->pcrs = vtc_pcr_values_new();
        self->secure_boot = -1;
        return self;
}

VtcVerifierPolicy *
vtc_verifier_policy_ref(VtcVerifierPolicy *self)
{
        g_atomic_int_inc(&self->ref_count);
        return self;
}

void
vtc_verifier_policy_unref(VtcVerifierPolicy *self)
{
        if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
                return;
        vtc_runtime_policy_free(self->runtime);
        vtc_pcr_values_free(self->pcrs);
        g_free(self);
}

void
vtc_verifier_policy_set_runtime(VtcVerifierPolicy *self, VtcRuntimePolicy *runtime)
{
        vtc_runtime_policy_free(self->runtime);
        self->runtime = runtime;
}

const VtcRuntimePolicy *
vtc_verifier_policy_get_runtime(const VtcVerifierPolicy *self)
{
        return self->runtime;
}

gboolean
vtc_verifier_policy_set_pcr(VtcVerifierPolicy *self,
                            TPM2_ALG_ID bank,
                            guint index,
                            const guint8 *digest,
                            gsize len,
                            GError **error)
{
        if (index >= 24) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "PCR %u out of range",
                            index);
                return FALSE;
        }
        return vtc_pcr_values_set(self->pcrs, bank, index, digest, len, error);
}

void
vtc_verifier_policy_set_require_boot_log(VtcVerifierPolicy *self, gboolean require)
{
        self->require_boot_log = require;
}

gboolean
vtc_verifier_policy_get_require_boot_log(const VtcVerifierPolicy *self)
{
        return self->require_boot_log || self->secure_boot >= 0;
}

void
vtc_verifier_policy_set_secure_boot(VtcVerifierPolicy *self, gboolean enabled)
{
        self->secure_boot = enabled ? 1 : 0;
}

static gboolean
vtc_verifier_check_members(JsonObject *obj,
                           const gchar *const *allowed,
                           const gchar *what,
                           GError **error)
{
        g_autoptr(GList) members = json_object_get_members(obj);

        for (GList *l = members; l != NULL; l = l->next) {
                if (!g_strv_contains(allowed, l->data)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unknown member '%s' in %s",
                                    (const gchar *)l->data,
                                    what);
                        return FALSE;
                }
        }
        return TRUE;
}

/* {"sha256": {"0": "<hex>", ...}, ...} into @out (bounded: banks, indices 0-23, digest sizes) */
static gboolean
vtc_verifier_parse_pcrs(JsonObject *obj, VtcPcrValues *out, GError **error)
{
        g_autoptr(GList) banks = json_object_get_members(obj);

        if (g_list_length(banks) > 4) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "'pcrs' has too many banks");
                return FALSE;
        }
        for (GList *l = banks; l != NULL; l = l->next) {
                const gchar *name = l->data;
                const VtcHashAlg *alg = vtc_hash_alg_from_name(name);
                JsonObject *values;
                g_autoptr(GList) indices = NULL;

                if (alg == NULL || alg->ossl_name == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "'pcrs' has an unknown bank '%s'",
                                    name);
                        return FALSE;
                }
                values = vtc_json_get_object(obj, name, TRUE, error);
                if (values == NULL)
                        return FALSE;
                indices = json_object_get_members(values);
                if (g_list_length(indices) > 24) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "'pcrs.%s' has too many PCRs",
                                    name);
                        return FALSE;
                }
                for (GList *k = indices; k != NULL; k = k->next) {
                        const gchar *key = k->data;
                        guint64 index = 0;
                        g_autoptr(GBytes) digest = NULL;

                        if (key[0] == '\0' || strlen(key) > 2 ||
                            (key[0] == '0' && key[1] != '\0') ||
                            !g_ascii_string_to_unsigned(key, 10, 0, 23, &index, NULL)) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "'pcrs.%s' has a bad PCR index '%s'",
                                            name,
                                            key);
                                return FALSE;
                        }
                        digest = vtc_json_get_hex(values, key, alg->size, TRUE, error);
                        if (digest == NULL)
                                return FALSE;
                        if (!vtc_pcr_values_set(out,
                                                alg->alg,
                                                (guint)index,
                                                g_bytes_get_data(digest, NULL),
                                                g_bytes_get_size(digest),
                                                error)) {
                                g_prefix_error(error, "'pcrs.%s.%s': ", name, key);
                                return FALSE;
                        }
                }
        }
        return TRUE;
}

gboolean
vtc_verifier_policy_set_boot_from_json(VtcVerifierPolicy *self, JsonObject *obj, GError **error)
{
        static const gchar *const allowed[] = {"pcrs", "require_boot_log", "secure_boot", NULL};
        g_autoptr(VtcPcrValues) pcrs = vtc_pcr_values_new();
        JsonObject *pcrs_obj;
        gboolean require = self->require_boot_log;
        gboolean secure_boot = FALSE;
        gboolean has_secure_boot;

        if (!vtc_verifier_check_members(obj, allowed, "the boot policy", error))
                return FALSE;
        pcrs_obj = vtc_json_get_object(obj, "pcrs", FALSE, error);
        if (pcrs_obj == NULL && error != NULL && *error != NULL)
                return FALSE;
        if (pcrs_obj != NULL && !vtc_verifier_parse_pcrs(pcrs_obj, pcrs, error))
                return FALSE;
        if (!vtc_json_get_bool(obj, "require_boot_log", FALSE, &require, error))
                return FALSE;
        has_secure_boot = json_object_has_member(obj, "secure_boot");
        if (!vtc_json_get_bool(obj, "secure_boot", FALSE, &secure_boot, error))
                return FALSE;
        vtc_pcr_values_free(self->pcrs);
        self->pcrs = g_steal_pointer(&pcrs);
        self->require_boot_log = require;
        if (has_secure_boot)
                self->secure_boot = secure_boot ? 1 : 0;
        return TRUE;
}

/* ---- hosts ------------------------------------------------------------------------------- */

/* host quotes whose signature by the host's AK verified lately, by digest */
#define VTC_VERIFIER_HOST_KNOWN 8

struct _VtcVerifierHost {
        gint ref_count;
        gchar *id;
        VtcQuoteAk *ak;
        guint vtpm_log_pcr;
        /* the VMs of a batch share one host quote: its signature is verified once */
        GMutex known_lock;
        guint8 known[VTC_VERIFIER_HOST_KNOWN][32];
        guint n_known;
        guint next_known;
};

VtcVerifierHost *
vtc_verifier_host_new(const gchar *id, const guint8 *ak_public, gsize ak_public_len, GError **error)
{
        g_autoptr(VtcQuoteAk) ak = vtc_quote_ak_new_from_data(ak_public, ak_public_len, error);
        VtcVerifierHost *self;

        if (ak == NULL) {
                g_prefix_error(error, "host %s AK: ", id);
                return NULL;
        }
        self = g_new0(VtcVerifierHost, 1);
        self->ref_count = 1;
        self->id = g_strdup(id);
        self->ak = g_steal_pointer(&ak);
        self->vtpm_log_pcr = VTC_VTPM_LOG_PCR_DEFAULT;
        g_mutex_init(&self->known_lock);
        return self;
}

VtcVerifierHost *
vtc_verifier_host_ref(VtcVerifierHost *self)
{
        g_atomic_int_inc(&self->ref_count);
        return self;
}

void
vtc_verifier_host_unref(VtcVerifierHost *self)
{
        if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
                return;
        vtc_quote_ak_free(self->ak);
        g_mutex_clear(&self->known_lock);
        g_free(self->id);
        g_free(self);
}

/* The digest that names a host quote's signed bytes and signature; FALSE if it cannot be made
 * (then the signature is verified as usual). */
static gboolean
vtc_verifier_host_quote_key(GBytes *attest, const TPMT_SIGNATURE *sig, guint8 out[32])
{
        guint8 buf[sizeof(TPMT_SIGNATURE)];
        size_t off = 0;
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
        unsigned int len = 0;

        if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
            ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, g_bytes_get_data(attest, NULL), g_bytes_get_size(attest)) != 1 ||
            EVP_DigestUpdate(ctx, buf, off) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1)
                return FALSE;
        return len == 32;
}

static gboolean
vtc_verifier_host_is_known(VtcVerifierHost *self, const guint8 key[32])
{
        gboolean found = FALSE;

        g_mutex_lock(&self->known_lock);
        for (guint i = 0; i < self->n_known && !found; i++)
                found = memcmp(self->known[i], key, 32) == 0;
        g_mutex_unlock(&self->known_lock);
        return found;
}

static void
vtc_verifier_host_add_known(VtcVerifierHost *self, const guint8 key[32])
{
        g_mutex_lock(&self->known_lock);
        memcpy(self->known[self->next_known], key, 32);
        self->next_known = (self->next_known + 1) % VTC_VERIFIER_HOST_KNOWN;
        self->n_known = MIN(self->n_known + 1, VTC_VERIFIER_HOST_KNOWN);
        g_mutex_unlock(&self->known_lock);
}

const gchar *
vtc_verifier_host_get_id(const VtcVerifierHost *self)
{
        return self->id;
}

void
vtc_verifier_host_set_vtpm_log_pcr(VtcVerifierHost *self, guint pcr)
{
        if (pcr < 24)
                self->vtpm_log_pcr = pcr;
}

/* ---- reasons ----------------------------------------------------------------------------- */

static const gchar *const vtc_verifier_reason_names[] = {
    [VTC_VERIFIER_REASON_NONE] = "none",
    [VTC_VERIFIER_REASON_EVIDENCE_MALFORMED] = "evidence_malformed",
    [VTC_VERIFIER_REASON_GUEST_UUID] = "guest_uuid",
    [VTC_VERIFIER_REASON_GUEST_QUOTE_SIGNATURE] = "guest_quote_signature",
    [VTC_VERIFIER_REASON_GUEST_NONCE] = "guest_nonce",
    [VTC_VERIFIER_REASON_GUEST_PCR_DIGEST] = "guest_pcr_digest",
    [VTC_VERIFIER_REASON_GUEST_IMA_REPLAY] = "guest_ima_replay",
    [VTC_VERIFIER_REASON_GUEST_IMA_POLICY] = "guest_ima_policy",
    [VTC_VERIFIER_REASON_GUEST_BOOT_AGGREGATE] = "guest_boot_aggregate",
    [VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY] = "guest_boot_replay",
    [VTC_VERIFIER_REASON_GUEST_BOOT_POLICY] = "guest_boot_policy",
    [VTC_VERIFIER_REASON_MERKLE_PROOF] = "merkle_proof",
    [VTC_VERIFIER_REASON_HOST_QUOTE_NONCE] = "host_quote_nonce",
    [VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE] = "host_quote_signature",
    [VTC_VERIFIER_REASON_HOST_PCR_DIGEST] = "host_pcr_digest",
    [VTC_VERIFIER_REASON_HOST_QUOTE_REPLAY] = "host_quote_replay",
    [VTC_VERIFIER_REASON_CLOCK_REGRESSION] = "clock_regression",
    [VTC_VERIFIER_REASON_HOST_LOG_REPLAY] = "host_log_replay",
    [VTC_VERIFIER_REASON_HOST_POLICY] = "host_policy",
    [VTC_VERIFIER_REASON_VTPM_LOG_REPLAY] = "vtpm_log_replay",
    [VTC_VERIFIER_REASON_VM_NOT_STARTED] = "vm_not_started",
    [VTC_VERIFIER_REASON_VM_STOPPED] = "vm_stopped",
    [VTC_VERIFIER_REASON_VTPM_EK_MISMATCH] = "vtpm_ek_mismatch",
    [VTC_VERIFIER_REASON_VTPM_CLONE] = "vtpm_clone",
    [VTC_VERIFIER_REASON_GUEST_REBOOT] = "guest_reboot",
    [VTC_VERIFIER_REASON_HOST_REBOOT] = "host_reboot",
    [VTC_VERIFIER_REASON_LOG_MORE] = "log_more",
};

const gchar *
vtc_verifier_reason_to_string(VtcVerifierReason reason)
{
        if ((guint)reason >= G_N_ELEMENTS(vtc_verifier_reason_names))
                return "unknown";
        return vtc_verifier_reason_names[reason];
}

gboolean
vtc_verifier_reason_from_string(const gchar *str, VtcVerifierReason *out)
{
        for (guint i = 0; i < G_N_ELEMENTS(vtc_verifier_reason_names); i++) {
                if (g_strcmp0(str, vtc_verifier_reason_names[i]) == 0) {
                        *out = (VtcVerifierReason)i;
                        return TRUE;
                }
        }
        *out = VTC_VERIFIER_REASON_NONE;
        return FALSE;
}

const gchar *
vtc_verifier_result_to_string(VtcVerifierResult result)
{
        switch (result) {
        case VTC_VERIFIER_RESULT_TRUSTED:
                return "trusted";
        case VTC_VERIFIER_RESULT_FAILED:
                return "failed";
        case VTC_VERIFIER_RESULT_INCOMPLETE:
                return "incomplete";
        }
        return "unknown";
}

void
vtc_verifier_verdict_clear(VtcVerifierVerdict *verdict)
{
        g_clear_pointer(&verdict->message, g_free);
        g_clear_pointer(&verdict->vtpm_events, g_ptr_array_unref);
}

/* ---- VM state ---------------------------------------------------------------------------- */

/* One TPM's side of the state: the guest's vTPM or the host's TPM. */
typedef struct {
        gboolean seen; /* counters below are from a checked quote */
        guint32 reset_count;
        guint32 restart_count;
        guint64 clock;
        guint64 ima_offset; /* bytes of the IMA log consumed */
        VtcImaReplayState ima;
        guint64 boot_offset; /* host: bytes of the firmware log read */
        gboolean boot_checked;
        guint8 boot_digest[32]; /* SHA-256 over the quoted SHA-256 PCRs 0-9 when checked */
} VtcVerifierSide;

typedef enum {
        VTC_VERIFIER_VM_UNKNOWN, /* no entry for the VM in the log read so far */
        VTC_VERIFIER_VM_RUNNING,
        VTC_VERIFIER_VM_STOPPED,
} VtcVerifierVmStatus;

typedef struct {
        VtcVerifierSide guest;
        VtcVerifierSide host;
        guint8 host_root[32]; /* of the last host quote (host.seen) */
        guint64 vtpm_count;
        guint8 vtpm_pcr[32];
        /* the host log positions were forgotten (hostd refused them) while the vTPM log had
         * entries: the next host quote must show a reboot, or the log was restarted under a
         * reset PCR (resettable from software on many platforms) */
        gboolean vtpm_restart_pending;
        guint8 vm_status;
        gboolean vm_ek_ok;
        guint n_clones;
        gboolean clones_overflow;
        gchar clones[VTC_VERIFIER_MAX_CLONES][37];
} VtcVerifierVmState;

struct _VtcVerifierVm {
        gchar uuid[37];
        guint8 uuid_bytes[16];
        /* the AK as registered (parsed and checked once here, rebuilt per check: a parsed
         * OpenSSL key keeps its own copy of the curve, several KiB per VM) */
        guint8 *ak_public;
        gsize ak_public_len;
        guint8 ek_sha256[32];
        guint8 tls_key_sha256[32];
        gboolean has_tls_key;
        VtcVerifierHost *host;
        VtcVerifierPolicy *policy;
        VtcVerifierPolicy *host_policy;
        VtcVerifierCloneFunc clone_func;
        gpointer clone_data;
        /* keys learnt from keyring entries: kept between rounds, not persisted */
        VtcRuntimePolicyCheck *guest_check;
        VtcRuntimePolicyCheck *host_check;
        VtcVerifierVmState state;
        VtcVerifierVmState *pending; /* progress of INCOMPLETE rounds, or NULL */
};

static void
vtc_verifier_side_init(VtcVerifierSide *side, gboolean keep_counters)
{
        VtcVerifierSide old = *side;

        memset(side, 0, sizeof(*side));
        vtc_ima_replay_state_init(&side->ima);
        if (keep_counters) {
                side->seen = old.seen;
                side->reset_count = old.reset_count;
                side->restart_count = old.restart_count;
                side->clock = old.clock;
        }
}

/* Host logs, vTPM log position and VM status start afresh. */
static void
vtc_verifier_state_reset_host(VtcVerifierVmState *st, gboolean keep_counters)
{
        vtc_verifier_side_init(&st->host, keep_counters);
        st->vtpm_count = 0;
        memset(st->vtpm_pcr, 0, sizeof(st->vtpm_pcr));
        st->vtpm_restart_pending = FALSE;
        st->vm_status = VTC_VERIFIER_VM_UNKNOWN;
        st->vm_ek_ok = FALSE;
        st->n_clones = 0;
        st->clones_overflow = FALSE;
        if (!keep_counters)
                memset(st->host_root, 0, sizeof(st->host_root));
}

static void
vtc_verifier_state_init(VtcVerifierVmState *st)
{
        memset(st, 0, sizeof(*st));
        vtc_verifier_side_init(&st->guest, FALSE);
        vtc_verifier_state_reset_host(st, FALSE);
}

static gboolean
vtc_verifier_uuid_parse(const gchar *text, gchar out_text[37], guint8 out[16])
{
        static const guint dash[] = {8, 13, 18, 23};
        guint n = 0;

        if (text == NULL || strlen(text) != 36)
                return FALSE;
        for (guint i = 0; i < 36; i++) {
                gint v;

                if (i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3]) {
                        if (text[i] != '-')
                                return FALSE;
                        out_text[i] = '-';
                        continue;
                }
                v = g_ascii_xdigit_value(text[i]);
                if (v < 0)
                        return FALSE;
                out_text[i] = g_ascii_tolower(text[i]);
                if (n % 2 == 0)
                        out[n / 2] = (guint8)(v << 4);
                else
                        out[n / 2] |= (guint8)v;
                n++;
        }
        out_text[36] = '\0';
        return TRUE;
}

VtcVerifierVm *
vtc_verifier_vm_new(const gchar *uuid,
                    const guint8 *ak_public,
                    gsize ak_public_len,
                    const guint8 ek_sha256[32],
                    const guint8 *tls_key_sha256,
                    VtcVerifierHost *host,
                    GError **error)
{
        g_autoptr(VtcVerifierVm) self = g_new0(VtcVerifierVm, 1);

        if (!vtc_verifier_uuid_parse(uuid, self->uuid, self->uuid_bytes)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT, "bad VM UUID");
                return NULL;
        }
        {
                g_autoptr(VtcQuoteAk) ak =
                    vtc_quote_ak_new_from_data(ak_public, ak_public_len, error);

                if (ak == NULL) {
                        g_prefix_error(error, "VM %s AK: ", self->uuid);
                        return NULL;
                }
        }
        self->ak_public = g_memdup2(ak_public, ak_public_len);
        self->ak_public_len = ak_public_len;
        memcpy(self->ek_sha256, ek_sha256, 32);
        if (tls_key_sha256 != NULL) {
                memcpy(self->tls_key_sha256, tls_key_sha256, 32);
                self->has_tls_key = TRUE;
        }
        self->host = vtc_verifier_host_ref(host);
        vtc_verifier_state_init(&self->state);
        return g_steal_pointer(&self);
}

void
vtc_verifier_vm_free(VtcVerifierVm *self)
{
        if (self == NULL)
                return;
        g_free(self->ak_public);
        if (self->host != NULL)
                vtc_verifier_host_unref(self->host);
        vtc_verifier_policy_unref(self->policy);
        vtc_verifier_policy_unref(self->host_policy);
        vtc_runtime_policy_check_free(self->guest_check);
        vtc_runtime_policy_check_free(self->host_check);
        g_free(self->pending);
        g_free(self);
}

const gchar *
vtc_verifier_vm_get_uuid(const VtcVerifierVm *self)
{
        return self->uuid;
}

VtcVerifierHost *
vtc_verifier_vm_get_host(const VtcVerifierVm *self)
{
        return self->host;
}

void
vtc_verifier_vm_set_policy(VtcVerifierVm *self, VtcVerifierPolicy *policy)
{
        g_clear_pointer(&self->policy, vtc_verifier_policy_unref);
        g_clear_pointer(&self->guest_check, vtc_runtime_policy_check_free);
        if (policy != NULL)
                self->policy = vtc_verifier_policy_ref(policy);
}

void
vtc_verifier_vm_set_host_policy(VtcVerifierVm *self, VtcVerifierPolicy *policy)
{
        g_clear_pointer(&self->host_policy, vtc_verifier_policy_unref);
        g_clear_pointer(&self->host_check, vtc_runtime_policy_check_free);
        if (policy != NULL)
                self->host_policy = vtc_verifier_policy_ref(policy);
}

void
vtc_verifier_vm_set_host(VtcVerifierVm *self, VtcVerifierHost *host)
{
        VtcVerifierHost *old = self->host;

        self->host = vtc_verifier_host_ref(host);
        vtc_verifier_host_unref(old);
        vtc_verifier_state_reset_host(&self->state, FALSE);
        g_clear_pointer(&self->pending, g_free);
        g_clear_pointer(&self->host_check, vtc_runtime_policy_check_free);
}

void
vtc_verifier_vm_set_clone_func(VtcVerifierVm *self, VtcVerifierCloneFunc func, gpointer user_data)
{
        self->clone_func = func;
        self->clone_data = user_data;
}

static const VtcVerifierVmState *
vtc_verifier_vm_base(const VtcVerifierVm *self)
{
        return self->pending != NULL ? self->pending : &self->state;
}

static gboolean
vtc_verifier_policy_boot_log_required(const VtcVerifierPolicy *policy)
{
        return policy != NULL && vtc_verifier_policy_get_require_boot_log(policy);
}

void
vtc_verifier_vm_get_request(const VtcVerifierVm *self, VtcVerifierRequest *out)
{
        const VtcVerifierVmState *st = vtc_verifier_vm_base(self);
        VtcVerifierRequest r = {0};

        r.pcrs.n_banks = 1;
        r.pcrs.hash_alg[0] = TPM2_ALG_SHA256;
        r.pcrs.pcr_mask[0] = 0x7ff; /* 0-10 */
        if (self->policy != NULL) {
                const VtcPcrValues *p = self->policy->pcrs;

                for (guint i = 0; i < vtc_pcr_values_get_n_banks(p); i++) {
                        TPM2_ALG_ID bank = vtc_pcr_values_get_bank(p, i);
                        guint32 mask = vtc_pcr_values_get_mask(p, bank) & 0xffffff;
                        guint j;

                        for (j = 0; j < r.pcrs.n_banks; j++) {
                                if (r.pcrs.hash_alg[j] == bank)
                                        break;
                        }
                        if (j == r.pcrs.n_banks) {
                                if (j == G_N_ELEMENTS(r.pcrs.hash_alg))
                                        continue;
                                r.pcrs.hash_alg[j] = bank;
                                r.pcrs.n_banks++;
                        }
                        r.pcrs.pcr_mask[j] |= mask;
                }
        }
        r.ima_offset = st->guest.ima_offset;
        r.boot_log = !st->guest.boot_checked && vtc_verifier_policy_boot_log_required(self->policy);
        r.host_boot = st->host.boot_offset;
        r.host_ima = st->host.ima_offset;
        r.host_vtpm = st->vtpm_count;
        *out = r;
}

void
vtc_verifier_vm_resync_host(VtcVerifierVm *self)
{
        gboolean had_entries = self->state.vtpm_count > 0 || self->state.vtpm_restart_pending;

        g_clear_pointer(&self->pending, g_free);
        vtc_verifier_state_reset_host(&self->state, TRUE);
        self->state.vtpm_restart_pending = had_entries && self->state.host.seen;
        g_clear_pointer(&self->host_check, vtc_runtime_policy_check_free);
}

/* ---- state persistence ------------------------------------------------------------------- */

static void
vtc_verifier_add_hex(JsonBuilder *b, const gchar *member, const guint8 *data, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(data, len);

        json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, hex);
}

static void
vtc_verifier_add_int(JsonBuilder *b, const gchar *member, gint64 v)
{
        json_builder_set_member_name(b, member);
        json_builder_add_int_value(b, v);
}

static void
vtc_verifier_side_to_json(JsonBuilder *b, const gchar *member, const VtcVerifierSide *s)
{
        json_builder_set_member_name(b, member);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "seen");
        json_builder_add_boolean_value(b, s->seen);
        vtc_verifier_add_int(b, "reset_count", s->reset_count);
        vtc_verifier_add_int(b, "restart_count", s->restart_count);
        /* JSON integers are signed 64-bit: the clock goes as hex */
        vtc_verifier_add_hex(b, "clock", (const guint8 *)&s->clock, sizeof(s->clock));
        vtc_verifier_add_int(b, "ima_offset", (gint64)s->ima_offset);
        vtc_verifier_add_int(b, "ima_count", (gint64)s->ima.count);
        vtc_verifier_add_int(b, "ima_violations", (gint64)s->ima.violations);
        vtc_verifier_add_hex(b, "ima_sha1", s->ima.sha1, sizeof(s->ima.sha1));
        vtc_verifier_add_hex(b, "ima_sha256", s->ima.sha256, sizeof(s->ima.sha256));
        vtc_verifier_add_int(b, "boot_offset", (gint64)s->boot_offset);
        json_builder_set_member_name(b, "boot_checked");
        json_builder_add_boolean_value(b, s->boot_checked);
        vtc_verifier_add_hex(b, "boot_digest", s->boot_digest, sizeof(s->boot_digest));
        json_builder_end_object(b);
}

gchar *
vtc_verifier_vm_save_state(const VtcVerifierVm *self)
{
        const VtcVerifierVmState *st = &self->state;
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        vtc_verifier_add_int(b, "version", VTC_VERIFIER_STATE_VERSION);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, self->uuid);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, self->host->id);
        vtc_verifier_side_to_json(b, "guest", &st->guest);
        vtc_verifier_side_to_json(b, "host_tpm", &st->host);
        vtc_verifier_add_hex(b, "host_root", st->host_root, sizeof(st->host_root));
        vtc_verifier_add_int(b, "vtpm_count", (gint64)st->vtpm_count);
        vtc_verifier_add_hex(b, "vtpm_pcr", st->vtpm_pcr, sizeof(st->vtpm_pcr));
        json_builder_set_member_name(b, "vtpm_restart_pending");
        json_builder_add_boolean_value(b, st->vtpm_restart_pending);
        vtc_verifier_add_int(b, "vm_status", st->vm_status);
        json_builder_set_member_name(b, "vm_ek_ok");
        json_builder_add_boolean_value(b, st->vm_ek_ok);
        json_builder_set_member_name(b, "clones_overflow");
        json_builder_add_boolean_value(b, st->clones_overflow);
        json_builder_set_member_name(b, "clones");
        json_builder_begin_array(b);
        for (guint i = 0; i < st->n_clones; i++)
                json_builder_add_string_value(b, st->clones[i]);
        json_builder_end_array(b);
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

static gboolean
vtc_verifier_get_hex_fixed(JsonObject *obj,
                           const gchar *member,
                           guint8 *out,
                           gsize len,
                           GError **error)
{
        const gchar *s = vtc_json_get_string(obj, member, TRUE, error);

        if (s == NULL)
                return FALSE;
        if (!vtc_hex_decode_fixed(s, out, len, error)) {
                g_prefix_error(error, "member '%s': ", member);
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_verifier_get_u64(JsonObject *obj, const gchar *member, guint64 *out, GError **error)
{
        gint64 v = 0;

        if (!vtc_json_get_int(obj, member, 0, G_MAXINT64, TRUE, &v, error))
                return FALSE;
        *out = (guint64)v;
        return TRUE;
}

static gboolean
vtc_verifier_side_from_json(JsonObject *obj,
                            const gchar *member,
                            VtcVerifierSide *out,
                            GError **error)
{
        JsonObject *o = vtc_json_get_object(obj, member, TRUE, error);
        VtcVerifierSide s;
        guint64 v = 0;

        if (o == NULL)
                return FALSE;
        vtc_verifier_side_init(&s, FALSE);
        if (!vtc_json_get_bool(o, "seen", TRUE, &s.seen, error) ||
            !vtc_verifier_get_u64(o, "reset_count", &v, error))
                return FALSE;
        s.reset_count = (guint32)MIN(v, G_MAXUINT32);
        if (!vtc_verifier_get_u64(o, "restart_count", &v, error))
                return FALSE;
        s.restart_count = (guint32)MIN(v, G_MAXUINT32);
        if (!vtc_verifier_get_hex_fixed(o, "clock", (guint8 *)&s.clock, sizeof(s.clock), error) ||
            !vtc_verifier_get_u64(o, "ima_offset", &s.ima_offset, error) ||
            !vtc_verifier_get_u64(o, "ima_count", &s.ima.count, error) ||
            !vtc_verifier_get_u64(o, "ima_violations", &s.ima.violations, error) ||
            !vtc_verifier_get_hex_fixed(o, "ima_sha1", s.ima.sha1, sizeof(s.ima.sha1), error) ||
            !vtc_verifier_get_hex_fixed(o,
                                        "ima_sha256",
                                        s.ima.sha256,
                                        sizeof(s.ima.sha256),
                                        error) ||
            !vtc_verifier_get_u64(o, "boot_offset", &s.boot_offset, error) ||
            !vtc_json_get_bool(o, "boot_checked", TRUE, &s.boot_checked, error) ||
            !vtc_verifier_get_hex_fixed(o,
                                        "boot_digest",
                                        s.boot_digest,
                                        sizeof(s.boot_digest),
                                        error))
                return FALSE;
        *out = s;
        return TRUE;
}

gboolean
vtc_verifier_vm_load_state(VtcVerifierVm *self, const gchar *json, GError **error)
{
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) obj = NULL;
        VtcVerifierVmState st;
        JsonArray *clones;
        gint64 version = 0;
        gint64 status = 0;
        const gchar *s;

        obj = vtc_json_parse_object(json, strlen(json), &limits, error);
        if (obj == NULL)
                return FALSE;
        vtc_verifier_state_init(&st);
        if (!vtc_json_get_int(obj, "version", 0, G_MAXINT32, TRUE, &version, error))
                return FALSE;
        if (version != VTC_VERIFIER_STATE_VERSION) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "VM state version %" G_GINT64_FORMAT " is not supported",
                            version);
                return FALSE;
        }
        s = vtc_json_get_string(obj, "uuid", TRUE, error);
        if (s == NULL)
                return FALSE;
        if (g_ascii_strcasecmp(s, self->uuid) != 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "the state is of VM %s", s);
                return FALSE;
        }
        s = vtc_json_get_string(obj, "host", TRUE, error);
        if (s == NULL)
                return FALSE;
        if (!vtc_verifier_side_from_json(obj, "guest", &st.guest, error) ||
            !vtc_verifier_side_from_json(obj, "host_tpm", &st.host, error) ||
            !vtc_verifier_get_hex_fixed(obj, "host_root", st.host_root, 32, error) ||
            !vtc_verifier_get_u64(obj, "vtpm_count", &st.vtpm_count, error) ||
            !vtc_verifier_get_hex_fixed(obj, "vtpm_pcr", st.vtpm_pcr, 32, error) ||
            !vtc_json_get_bool(obj,
                               "vtpm_restart_pending",
                               FALSE,
                               &st.vtpm_restart_pending,
                               error) ||
            !vtc_json_get_int(obj, "vm_status", 0, VTC_VERIFIER_VM_STOPPED, TRUE, &status, error) ||
            !vtc_json_get_bool(obj, "vm_ek_ok", TRUE, &st.vm_ek_ok, error) ||
            !vtc_json_get_bool(obj, "clones_overflow", TRUE, &st.clones_overflow, error))
                return FALSE;
        st.vm_status = (guint8)status;
        clones = vtc_json_get_array(obj, "clones", TRUE, error);
        if (clones == NULL)
                return FALSE;
        if (json_array_get_length(clones) > VTC_VERIFIER_MAX_CLONES) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "too many clones in state");
                return FALSE;
        }
        for (guint i = 0; i < json_array_get_length(clones); i++) {
                guint8 bytes[16];
                const gchar *c = vtc_json_array_get_string(clones, i, "clones", error);

                if (c == NULL)
                        return FALSE;
                if (!vtc_verifier_uuid_parse(c, st.clones[st.n_clones], bytes)) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "bad clone uuid");
                        return FALSE;
                }
                st.n_clones++;
        }
        if (g_strcmp0(s, self->host->id) != 0) {
                /* saved for another host: the VM moved, its host part starts afresh */
                vtc_verifier_state_reset_host(&st, FALSE);
        }
        self->state = st;
        g_clear_pointer(&self->pending, g_free);
        g_clear_pointer(&self->guest_check, vtc_runtime_policy_check_free);
        g_clear_pointer(&self->host_check, vtc_runtime_policy_check_free);
        return TRUE;
}

/* ---- the round --------------------------------------------------------------------------- */

typedef struct {
        VtcVerifierVm *vm;
        VtcVerifierVmState st; /* the new state, from the base */
        VtcVerifierReason reason;
        gchar *message;
        VtcVerifierReason incomplete; /* NONE, or why the round cannot decide */
        GError *internal;             /* the check itself failed */
        guint64 guest_ima_entries;
        guint64 host_ima_entries;
        guint64 vtpm_entries;
        GPtrArray *vtpm_events;
} VtcVerifierRound;

static gboolean
vtc_verifier_fail(VtcVerifierRound *r, VtcVerifierReason reason, const gchar *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Records the first failure; always returns FALSE so checks can `return vtc_verifier_fail()`. */
static gboolean
vtc_verifier_fail(VtcVerifierRound *r, VtcVerifierReason reason, const gchar *fmt, ...)
{
        va_list args;

        if (r->reason != VTC_VERIFIER_REASON_NONE)
                return FALSE;
        r->reason = reason;
        va_start(args, fmt);
        r->message = g_strdup_vprintf(fmt, args);
        va_end(args);
        return FALSE;
}

static gboolean
vtc_verifier_malformed(VtcVerifierRound *r, const gchar *what, const GError *error)
{
        return vtc_verifier_fail(r,
                                 VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                 "%s: %s",
                                 what,
                                 error != NULL ? error->message : "malformed");
}

/* A parsed quote member {"attest", "signature"}, with the PCR values beside it. */
typedef struct {
        GBytes *attest;
        VtcQuote *quote;
        TPMT_SIGNATURE sig;
        VtcPcrValues *pcrs;
} VtcVerifierQuoteIn;

static void
vtc_verifier_quote_in_clear(VtcVerifierQuoteIn *q)
{
        g_clear_pointer(&q->attest, g_bytes_unref);
        g_clear_pointer(&q->quote, vtc_quote_free);
        g_clear_pointer(&q->pcrs, vtc_pcr_values_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcVerifierQuoteIn, vtc_verifier_quote_in_clear)

/* Parse errors of the TPM structures are malformed evidence; a structure that parses but is
 * not a TPM-made quote is a signature failure (it cannot be one the AK signed). */
static gboolean
vtc_verifier_parse_quote(VtcVerifierRound *r,
                         JsonObject *obj,
                         const gchar *what,
                         VtcVerifierReason sig_reason,
                         VtcVerifierQuoteIn *out)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) sig = NULL;
        JsonObject *quote;
        JsonObject *pcrs;

        quote = vtc_json_get_object(obj, "quote", TRUE, &error);
        if (quote == NULL)
                return vtc_verifier_malformed(r, what, error);
        out->attest = vtc_json_get_base64(quote, "attest", VTC_VERIFIER_MAX_ATTEST, TRUE, &error);
        if (out->attest == NULL)
                return vtc_verifier_malformed(r, what, error);
        sig = vtc_json_get_base64(quote, "signature", VTC_VERIFIER_MAX_SIGNATURE, TRUE, &error);
        if (sig == NULL)
                return vtc_verifier_malformed(r, what, error);
        out->quote = vtc_quote_parse(g_bytes_get_data(out->attest, NULL),
                                     g_bytes_get_size(out->attest),
                                     &error);
        if (out->quote == NULL) {
                if (g_error_matches(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED))
                        return vtc_verifier_fail(r,
                                                 sig_reason,
                                                 "%s quote: %s",
                                                 what,
                                                 error->message);
                return vtc_verifier_malformed(r, what, error);
        }
        if (!vtc_quote_signature_parse(g_bytes_get_data(sig, NULL),
                                       g_bytes_get_size(sig),
                                       &out->sig,
                                       &error))
                return vtc_verifier_malformed(r, what, error);
        pcrs = vtc_json_get_object(obj, "pcrs", TRUE, &error);
        if (pcrs == NULL)
                return vtc_verifier_malformed(r, what, error);
        out->pcrs = vtc_pcr_values_new();
        if (!vtc_verifier_parse_pcrs(pcrs, out->pcrs, &error))
                return vtc_verifier_malformed(r, what, error);
        return TRUE;
}

/*
 * The counters of a checked quote against the side's last ones. TPM2_Quote obfuscates resetCount
 * and restartCount (XOR with a per-key value) unless the AK is in the endorsement or platform
 * hierarchy, so only their *change* means something. Within one epoch (the same resetCount and
 * restartCount) the clock never goes back: an older clock there is a replay or a rolled-back
 * state (a snapshot of the vTPM restarted where it was taken). Across a reset or restart it may:
 * the spec has the TPM mark such a quote not `safe`, but libtpms (swtpm 0.7) reports safe = YES
 * with the clock it last saved after a non-orderly stop (a VM destroyed, a host crash: checked on
 * this platform), so honouring `safe` there would fail VMs at every such restart. Sets
 * *@out_reset when resetCount changed.
 */
static gboolean
vtc_verifier_check_counters(VtcVerifierRound *r,
                            VtcVerifierSide *side,
                            const VtcQuote *quote,
                            const gchar *who,
                            gboolean *out_reset)
{
        guint64 clock = vtc_quote_get_clock(quote);
        guint32 reset = vtc_quote_get_reset_count(quote);
        guint32 restart = vtc_quote_get_restart_count(quote);

        *out_reset = FALSE;
        if (side->seen) {
                gboolean same_epoch = reset == side->reset_count && restart == side->restart_count;

                if (clock < side->clock && same_epoch)
                        return vtc_verifier_fail(r,
                                                 VTC_VERIFIER_REASON_CLOCK_REGRESSION,
                                                 "%s TPM clock went back from %" G_GUINT64_FORMAT
                                                 " to %" G_GUINT64_FORMAT
                                                 " ms with no reset or restart in between",
                                                 who,
                                                 side->clock,
                                                 clock);
                *out_reset = reset != side->reset_count;
        }
        side->seen = TRUE;
        side->reset_count = reset;
        side->restart_count = restart;
        side->clock = clock;
        return TRUE;
}

/* ---- IMA --------------------------------------------------------------------------------- */

typedef struct {
        VtcRuntimePolicyCheck *check; /* may be NULL */
        const VtcPcrValues *pcrs;     /* quoted, for boot_aggregate */
        gboolean first_policy_set;
        guint64 first_policy_index;
        gchar *first_policy;
        gboolean first_aggregate_set;
        guint64 first_aggregate_index;
        gchar *first_aggregate;
        gboolean internal_failed;
} VtcVerifierImaCtx;

static gboolean
vtc_verifier_ima_entry_cb(const VtcImaEntry *entry,
                          guint64 index,
                          gpointer user_data,
                          GError **error)
{
        VtcVerifierImaCtx *ctx = user_data;

        if (vtc_ima_entry_is_boot_aggregate(entry)) {
                const VtcHashAlg *bank = entry->file_hash_alg;
                guint8 values[VTC_VERIFIER_BOOT_PCRS * 64];
                gboolean have = bank != NULL && bank->size <= 64;

                for (guint i = 0; have && i < VTC_VERIFIER_BOOT_PCRS; i++) {
                        gsize len = 0;
                        const guint8 *v = vtc_pcr_values_get(ctx->pcrs, bank->alg, i, &len);

                        if (v == NULL || len != bank->size)
                                have = FALSE;
                        else
                                memcpy(values + i * bank->size, v, len);
                }
                /* only checkable when the quote covers PCRs 0-9 of the aggregate's bank */
                if (have && !ctx->first_aggregate_set) {
                        g_autoptr(GError) local = NULL;

                        if (!vtc_ima_boot_aggregate_verify(entry, bank, values, &local)) {
                                ctx->first_aggregate_set = TRUE;
                                ctx->first_aggregate_index = index;
                                ctx->first_aggregate = g_strdup(local->message);
                        }
                }
        }
        if (ctx->check != NULL && !ctx->first_policy_set) {
                g_autoptr(VtcRuntimePolicyFailure) failure = NULL;

                if (!vtc_runtime_policy_check_entry(ctx->check,
                                                    entry,
                                                    (guint)MIN(index, G_MAXUINT),
                                                    &failure,
                                                    error)) {
                        ctx->internal_failed = TRUE;
                        return FALSE;
                }
                if (failure != NULL) {
                        ctx->first_policy_set = TRUE;
                        ctx->first_policy_index = index;
                        ctx->first_policy = vtc_runtime_policy_failure_to_string(failure);
                }
        }
        return TRUE;
}

typedef struct {
        gboolean host;
        VtcVerifierReason replay_reason;
        VtcVerifierReason policy_reason;
        VtcVerifierReason aggregate_reason;
        const gchar *who;
} VtcVerifierImaWho;

/*
 * Replays an IMA increment (@data from the side's offset; NULL: none sent) to the quoted PCR 10:
 * the entries up to the first prefix that matches it are consumed (the log is read after the
 * quote and may hold more); with @more, everything complete is consumed and the round is
 * incomplete.
 */
static gboolean
vtc_verifier_check_ima(VtcVerifierRound *r,
                       const VtcVerifierImaWho *who,
                       VtcVerifierSide *side,
                       GBytes *data,
                       gboolean more,
                       const VtcPcrValues *quoted,
                       VtcRuntimePolicyCheck *check)
{
        VtcImaReplayFlags flags = VTC_IMA_REPLAY_FLAG_NO_SHA1 | VTC_IMA_REPLAY_FLAG_PARTIAL;
        const guint8 *buf = data != NULL ? g_bytes_get_data(data, NULL) : NULL;
        gsize len = data != NULL ? g_bytes_get_size(data) : 0;
        VtcVerifierImaCtx ctx = {.check = check, .pcrs = quoted};
        g_autoptr(GError) error = NULL;
        VtcImaReplayState st = side->ima;
        const guint8 *pcr10;
        gsize pcr10_len = 0;
        gsize consumed = 0;
        guint64 covered;

        pcr10 = vtc_pcr_values_get(quoted, TPM2_ALG_SHA256, VTC_IMA_PCR, &pcr10_len);
        if (pcr10 == NULL)
                return TRUE; /* the caller decides whether PCR 10 had to be quoted */
        if (len > 0 && !vtc_ima_replay(buf,
                                       len,
                                       VTC_IMA_FORMAT_BINARY,
                                       flags,
                                       &st,
                                       vtc_verifier_ima_entry_cb,
                                       &ctx,
                                       &consumed,
                                       &error)) {
                if (ctx.internal_failed)
                        r->internal = g_steal_pointer(&error);
                else
                        vtc_verifier_fail(r,
                                          who->replay_reason,
                                          "%s IMA log from byte %" G_GUINT64_FORMAT ": %s",
                                          who->who,
                                          side->ima_offset,
                                          error->message);
                g_free(ctx.first_policy);
                g_free(ctx.first_aggregate);
                return FALSE;
        }
        covered = st.count;
        if (more) {
                r->incomplete = VTC_VERIFIER_REASON_LOG_MORE;
        } else if (memcmp(st.sha256, pcr10, 32) != 0) {
                /* the log was read after the quote: find the prefix the quote covers */
                VtcImaReplayState p = side->ima;
                gsize pos = 0;
                gboolean found = memcmp(p.sha256, pcr10, 32) == 0;

                while (!found && pos < consumed) {
                        gsize off = 0;

                        if (!vtc_ima_log_skip(buf + pos,
                                              consumed - pos,
                                              VTC_IMA_FORMAT_BINARY,
                                              1,
                                              &off,
                                              NULL) ||
                            off == 0 ||
                            !vtc_ima_replay(buf + pos,
                                            off,
                                            VTC_IMA_FORMAT_BINARY,
                                            flags,
                                            &p,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL))
                                break;
                        pos += off;
                        found = memcmp(p.sha256, pcr10, 32) == 0;
                }
                if (!found) {
                        g_autofree gchar *want = vtc_hex_encode(pcr10, 32);
                        g_autofree gchar *got = vtc_hex_encode(st.sha256, 32);

                        g_free(ctx.first_policy);
                        g_free(ctx.first_aggregate);
                        return vtc_verifier_fail(r,
                                                 who->replay_reason,
                                                 "%s IMA log does not replay to the quoted PCR 10: "
                                                 "%" G_GUINT64_FORMAT " entries give %s, quoted %s",
                                                 who->who,
                                                 st.count,
                                                 got,
                                                 want);
                }
                st = p;
                consumed = pos;
                covered = p.count;
        }
        if (ctx.first_aggregate_set && ctx.first_aggregate_index < covered) {
                vtc_verifier_fail(r,
                                  who->aggregate_reason,
                                  "%s IMA entry #%" G_GUINT64_FORMAT ": %s",
                                  who->who,
                                  ctx.first_aggregate_index,
                                  ctx.first_aggregate);
                g_free(ctx.first_policy);
                g_free(ctx.first_aggregate);
                return FALSE;
        }
        if (ctx.first_policy_set && ctx.first_policy_index < covered) {
                vtc_verifier_fail(r,
                                  who->policy_reason,
                                  "%s IMA entry outside the runtime policy: %s",
                                  who->who,
                                  ctx.first_policy);
                g_free(ctx.first_policy);
                g_free(ctx.first_aggregate);
                return FALSE;
        }
        g_free(ctx.first_policy);
        g_free(ctx.first_aggregate);
        if (who->host)
                r->host_ima_entries += st.count - side->ima.count;
        else
                r->guest_ima_entries += st.count - side->ima.count;
        side->ima = st;
        side->ima_offset += consumed;
        return TRUE;
}

/* ---- boot logs and PCR policies ---------------------------------------------------------- */

/* SHA-256 over (index, value) of the quoted SHA-256 PCRs 0-9; *@out_n: how many there were. */
static void
vtc_verifier_boot_digest(const VtcPcrValues *quoted, guint8 out[32], guint *out_n)
{
        g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
        gsize size = 32;
        guint n = 0;

        for (guint i = 0; i < VTC_VERIFIER_BOOT_PCRS; i++) {
                gsize len = 0;
                const guint8 *v = vtc_pcr_values_get(quoted, TPM2_ALG_SHA256, i, &len);
                guint8 index = (guint8)i;

                if (v == NULL)
                        continue;
                g_checksum_update(sum, &index, 1);
                g_checksum_update(sum, v, len);
                n++;
        }
        g_checksum_get_digest(sum, out, &size);
        *out_n = n;
}

static gboolean
vtc_verifier_check_pcr_policy(VtcVerifierRound *r,
                              const VtcVerifierPolicy *policy,
                              const VtcPcrValues *quoted,
                              VtcVerifierReason reason,
                              const gchar *who)
{
        const VtcPcrValues *want;

        if (policy == NULL)
                return TRUE;
        want = policy->pcrs;
        for (guint b = 0; b < vtc_pcr_values_get_n_banks(want); b++) {
                TPM2_ALG_ID bank = vtc_pcr_values_get_bank(want, b);
                guint32 mask = vtc_pcr_values_get_mask(want, bank);
                const VtcHashAlg *alg = vtc_hash_alg_from_id(bank);
                const gchar *bank_name = alg != NULL ? alg->name : "?";

                for (guint i = 0; i < VTC_PCR_MAX; i++) {
                        gsize want_len = 0;
                        gsize got_len = 0;
                        const guint8 *w;
                        const guint8 *g;

                        if ((mask & (1u << i)) == 0)
                                continue;
                        w = vtc_pcr_values_get(want, bank, i, &want_len);
                        g = vtc_pcr_values_get(quoted, bank, i, &got_len);
                        if (g == NULL)
                                return vtc_verifier_fail(r,
                                                         reason,
                                                         "%s PCR %s:%u is in the policy but not "
                                                         "quoted",
                                                         who,
                                                         bank_name,
                                                         i);
                        if (got_len != want_len || memcmp(g, w, want_len) != 0) {
                                g_autofree gchar *ghex = vtc_hex_encode(g, got_len);
                                g_autofree gchar *whex = vtc_hex_encode(w, want_len);

                                return vtc_verifier_fail(r,
                                                         reason,
                                                         "%s PCR %s:%u is %s, the policy wants %s",
                                                         who,
                                                         bank_name,
                                                         i,
                                                         ghex,
                                                         whex);
                        }
                }
        }
        return TRUE;
}

/*
 * The firmware event log (when sent) must replay to the quoted SHA-256 PCRs 0-9; once checked,
 * later rounds need no log but the same PCRs 0-9. Then the policy's Secure Boot state and PCRs.
 */
static gboolean
vtc_verifier_check_boot(VtcVerifierRound *r,
                        gboolean host,
                        VtcVerifierSide *side,
                        const VtcVerifierPolicy *policy,
                        GBytes *log,
                        const VtcPcrValues *quoted)
{
        VtcVerifierReason replay_reason =
            host ? VTC_VERIFIER_REASON_HOST_LOG_REPLAY : VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY;
        VtcVerifierReason policy_reason =
            host ? VTC_VERIFIER_REASON_HOST_POLICY : VTC_VERIFIER_REASON_GUEST_BOOT_POLICY;
        const gchar *who = host ? "host" : "guest";
        guint8 digest[32];
        guint n = 0;

        vtc_verifier_boot_digest(quoted, digest, &n);
        if (log != NULL && g_bytes_get_size(log) > 0) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcEventlog) ev = vtc_eventlog_new_from_data(g_bytes_get_data(log, NULL),
                                                                       g_bytes_get_size(log),
                                                                       &error);

                if (ev == NULL)
                        return vtc_verifier_fail(r,
                                                 replay_reason,
                                                 "%s firmware event log: %s",
                                                 who,
                                                 error->message);
                if (n == 0)
                        return vtc_verifier_fail(r,
                                                 replay_reason,
                                                 "%s quote covers none of the SHA-256 PCRs 0-9 "
                                                 "the firmware event log is checked against",
                                                 who);
                for (guint i = 0; i < VTC_VERIFIER_BOOT_PCRS; i++) {
                        gsize len = 0;
                        const guint8 *v = vtc_pcr_values_get(quoted, TPM2_ALG_SHA256, i, &len);

                        if (v == NULL)
                                continue;
                        if (!vtc_eventlog_check_pcr(ev, TPM2_ALG_SHA256, i, v, len, &error))
                                return vtc_verifier_fail(r,
                                                         replay_reason,
                                                         "%s firmware event log: %s",
                                                         who,
                                                         error->message);
                }
                if (policy != NULL && policy->secure_boot >= 0) {
                        gboolean enabled = FALSE;

                        if (!vtc_eventlog_get_secure_boot(ev, &enabled))
                                return vtc_verifier_fail(r,
                                                         policy_reason,
                                                         "%s firmware event log does not record "
                                                         "the Secure Boot state",
                                                         who);
                        if (enabled != (policy->secure_boot == 1))
                                return vtc_verifier_fail(r,
                                                         policy_reason,
                                                         "%s Secure Boot is %s, the policy wants "
                                                         "it %s",
                                                         who,
                                                         enabled ? "on" : "off",
                                                         policy->secure_boot == 1 ? "on" : "off");
                }
                side->boot_checked = TRUE;
                memcpy(side->boot_digest, digest, sizeof(digest));
        } else if (side->boot_checked) {
                if (memcmp(digest, side->boot_digest, sizeof(digest)) != 0)
                        return vtc_verifier_fail(r,
                                                 replay_reason,
                                                 "%s PCRs 0-9 changed since the firmware event "
                                                 "log was checked (no TPM reset)",
                                                 who);
        } else if (vtc_verifier_policy_boot_log_required(policy)) {
                return vtc_verifier_fail(r,
                                         replay_reason,
                                         "%s firmware event log is required by the policy and "
                                         "was not sent",
                                         who);
        }
        return vtc_verifier_check_pcr_policy(r, policy, quoted, policy_reason, who);
}

/* A log increment member as sent: {"from", "data", "more"} ("count" too for the vTPM log), or
 * {"from", "error"}. */
typedef struct {
        gboolean present;
        guint64 from;
        gchar *problem;
        GBytes *data;
        gboolean more;
        guint64 count;
} VtcVerifierLogIn;

static void
vtc_verifier_log_in_clear(VtcVerifierLogIn *log)
{
        g_clear_pointer(&log->problem, g_free);
        g_clear_pointer(&log->data, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcVerifierLogIn, vtc_verifier_log_in_clear)

static gboolean
vtc_verifier_parse_log(VtcVerifierRound *r,
                       JsonObject *obj,
                       const gchar *member,
                       const gchar *what,
                       gsize max,
                       gboolean vtpm,
                       VtcVerifierLogIn *out)
{
        g_autoptr(GError) error = NULL;
        JsonObject *o;
        const gchar *problem;
        gint64 from = 0;
        gint64 count = 0;

        o = vtc_json_get_object(obj, member, vtpm, &error);
        if (o == NULL)
                return error == NULL ? TRUE : vtc_verifier_malformed(r, what, error);
        if (!vtc_json_get_int(o, "from", 0, G_MAXINT64, TRUE, &from, &error))
                return vtc_verifier_malformed(r, what, error);
        problem = vtc_json_get_string(o, "error", FALSE, &error);
        if (error != NULL)
                return vtc_verifier_malformed(r, what, error);
        out->present = TRUE;
        out->from = (guint64)from;
        if (problem != NULL && !vtpm) {
                out->problem = g_strdup(problem);
                return TRUE;
        }
        out->data = vtc_json_get_base64(o, "data", max, TRUE, &error);
        if (out->data == NULL)
                return vtc_verifier_malformed(r, what, error);
        if (!vtc_json_get_bool(o, "more", FALSE, &out->more, &error))
                return vtc_verifier_malformed(r, what, error);
        if (vtpm) {
                if (!vtc_json_get_int(o, "count", 0, G_MAXINT32, TRUE, &count, &error))
                        return vtc_verifier_malformed(r, what, error);
                out->count = (guint64)count;
        }
        return TRUE;
}

/* The increment must start where this verifier asked and carry data. */
static gboolean
vtc_verifier_check_log(VtcVerifierRound *r,
                       const VtcVerifierLogIn *log,
                       const gchar *what,
                       guint64 expected,
                       VtcVerifierReason reason)
{
        if (!log->present)
                return TRUE;
        if (log->from != expected)
                return vtc_verifier_fail(r,
                                         reason,
                                         "%s starts at %" G_GUINT64_FORMAT
                                         ", asked from %" G_GUINT64_FORMAT,
                                         what,
                                         log->from,
                                         expected);
        if (log->problem != NULL)
                return vtc_verifier_fail(r, reason, "%s could not be read: %s", what, log->problem);
        return TRUE;
}

/* ---- the vTPM log ------------------------------------------------------------------------ */

static void
vtc_verifier_clone_remove(VtcVerifierVmState *st, const gchar *uuid)
{
        for (guint i = 0; i < st->n_clones; i++) {
                if (strcmp(st->clones[i], uuid) != 0)
                        continue;
                if (i + 1 < st->n_clones)
                        memcpy(st->clones[i], st->clones[st->n_clones - 1], 37);
                st->n_clones--;
                return;
        }
}

static void
vtc_verifier_vtpm_apply(VtcVerifierRound *r, const VtcVtpmLogEntry *e)
{
        VtcVerifierVmState *st = &r->st;

        if (e->uuid == NULL)
                return;
        if (strcmp(e->uuid, r->vm->uuid) == 0) {
                if (e->type == VTC_VTPM_LOG_VTPM_START) {
                        st->vm_status = VTC_VERIFIER_VM_RUNNING;
                        st->vm_ek_ok = memcmp(e->ek_sha256, r->vm->ek_sha256, 32) == 0;
                } else if (e->type == VTC_VTPM_LOG_VTPM_STOP) {
                        st->vm_status = VTC_VERIFIER_VM_STOPPED;
                }
                return;
        }
        vtc_verifier_clone_remove(st, e->uuid);
        if (e->type == VTC_VTPM_LOG_VTPM_START && memcmp(e->ek_sha256, r->vm->ek_sha256, 32) == 0) {
                if (st->n_clones < VTC_VERIFIER_MAX_CLONES && strlen(e->uuid) == 36)
                        memcpy(st->clones[st->n_clones++], e->uuid, 37);
                else
                        st->clones_overflow = TRUE;
        }
}

static gboolean
vtc_verifier_check_vtpm(VtcVerifierRound *r,
                        const VtcVerifierLogIn *vlog,
                        const VtcPcrValues *quoted)
{
        VtcVerifierHost *h = r->vm->host;
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        GBytes *data = vlog->data;
        guint64 from = vlog->from;
        guint64 count = vlog->count;
        gboolean more = vlog->more;
        const guint8 *pcr;
        gsize pcr_len = 0;
        guint8 replay[32];
        guint64 n = 0;

        pcr = vtc_pcr_values_get(quoted, TPM2_ALG_SHA256, h->vtpm_log_pcr, &pcr_len);
        if (pcr == NULL)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_HOST_PCR_DIGEST,
                                         "host quote does not cover the vTPM log PCR sha256:%u",
                                         h->vtpm_log_pcr);
        if (from != r->st.vtpm_count)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,
                                         "vTPM log answer starts at entry %" G_GUINT64_FORMAT
                                         ", asked from %" G_GUINT64_FORMAT,
                                         from,
                                         r->st.vtpm_count);
        if (!vtc_vtpm_log_replay_data_from(g_bytes_get_data(data, NULL),
                                           g_bytes_get_size(data),
                                           r->st.vtpm_count,
                                           r->st.vtpm_pcr,
                                           replay,
                                           &n,
                                           &entries,
                                           &error))
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,
                                         "vTPM log from entry %" G_GUINT64_FORMAT ": %s",
                                         r->st.vtpm_count,
                                         error->message);
        if (n != count)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,
                                         "vTPM log answer says %" G_GUINT64_FORMAT
                                         " entries and holds %" G_GUINT64_FORMAT,
                                         count,
                                         n);
        if (!more && memcmp(replay, pcr, 32) != 0) {
                g_autofree gchar *got = vtc_hex_encode(replay, 32);
                g_autofree gchar *want = vtc_hex_encode(pcr, 32);

                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,
                                         "vTPM log (%" G_GUINT64_FORMAT
                                         " entries) replays to %s, the host quote has PCR %u = %s",
                                         r->st.vtpm_count + n,
                                         got,
                                         h->vtpm_log_pcr,
                                         want);
        }
        for (guint i = 0; i < entries->len; i++) {
                VtcVtpmLogEntry *e = g_ptr_array_index(entries, i);

                vtc_verifier_vtpm_apply(r, e);
                if (e->type == VTC_VTPM_LOG_HOSTD_START)
                        continue;
                if (r->vtpm_events == NULL)
                        r->vtpm_events = g_ptr_array_new_with_free_func(
                            (GDestroyNotify)vtc_vtpm_log_entry_unref);
                g_ptr_array_add(r->vtpm_events, vtc_vtpm_log_entry_ref(e));
        }
        r->st.vtpm_count += n;
        memcpy(r->st.vtpm_pcr, replay, 32);
        r->vtpm_entries = n;
        if (more) {
                r->incomplete = VTC_VERIFIER_REASON_LOG_MORE;
                return TRUE;
        }

        switch ((VtcVerifierVmStatus)r->st.vm_status) {
        case VTC_VERIFIER_VM_UNKNOWN:
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VM_NOT_STARTED,
                                         "the vTPM log of host %s has no VTPM_START for VM %s",
                                         h->id,
                                         r->vm->uuid);
        case VTC_VERIFIER_VM_STOPPED:
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VM_STOPPED,
                                         "the vTPM log of host %s shows VM %s stopped",
                                         h->id,
                                         r->vm->uuid);
        case VTC_VERIFIER_VM_RUNNING:
                break;
        }
        if (!r->st.vm_ek_ok)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_EK_MISMATCH,
                                         "the vTPM log of host %s shows VM %s started with another "
                                         "vTPM EK than it registered",
                                         h->id,
                                         r->vm->uuid);
        if (r->st.n_clones > 0 || r->st.clones_overflow)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_VTPM_CLONE,
                                         "the vTPM EK of VM %s also runs as VM %s on host %s",
                                         r->vm->uuid,
                                         r->st.n_clones > 0 ? r->st.clones[0] : "(several)",
                                         h->id);
        if (r->vm->clone_func != NULL) {
                g_autofree gchar *where = NULL;

                if (r->vm->clone_func(r->vm->ek_sha256,
                                      r->vm->uuid,
                                      h->id,
                                      &where,
                                      r->vm->clone_data))
                        return vtc_verifier_fail(r,
                                                 VTC_VERIFIER_REASON_VTPM_CLONE,
                                                 "the vTPM EK of VM %s also runs elsewhere: %s",
                                                 r->vm->uuid,
                                                 where != NULL ? where : "another VM");
        }
        return TRUE;
}

/* ---- one round --------------------------------------------------------------------------- */

static gboolean
vtc_verifier_side_has_progress(const VtcVerifierSide *side)
{
        return side->ima_offset > 0 || side->ima.count > 0 || side->boot_offset > 0 ||
               side->boot_checked;
}

static gboolean
vtc_verifier_quote_result(VtcVerifierRound *r,
                          const VtcQuoteResult *res,
                          VtcVerifierReason sig,
                          VtcVerifierReason nonce,
                          VtcVerifierReason pcrs,
                          const gchar *who)
{
        switch (res->failure) {
        case VTC_QUOTE_FAILURE_NONE:
                return TRUE;
        case VTC_QUOTE_FAILURE_SIGNATURE:
                return vtc_verifier_fail(r, sig, "%s quote: %s", who, res->reason);
        case VTC_QUOTE_FAILURE_NONCE:
                return vtc_verifier_fail(r, nonce, "%s quote: %s", who, res->reason);
        case VTC_QUOTE_FAILURE_PCRS:
                return vtc_verifier_fail(r, pcrs, "%s quote: %s", who, res->reason);
        }
        return vtc_verifier_fail(r, sig, "%s quote: %s", who, res->reason);
}

static VtcRuntimePolicyCheck *
vtc_verifier_get_check(VtcRuntimePolicyCheck **slot, const VtcVerifierPolicy *policy)
{
        if (policy == NULL || policy->runtime == NULL)
                return NULL;
        if (*slot == NULL)
                *slot =
                    vtc_runtime_policy_check_new(policy->runtime, VTC_RUNTIME_POLICY_CHECK_NONE);
        return *slot;
}

/* Everything a round brings, parsed (bounded) before any check runs. */
typedef struct {
        guint8 guest_uuid[16];
        gchar guest_uuid_text[37];
        GBytes *guest_boot;
        VtcVerifierLogIn guest_ima;
        guint8 host_uuid[16];
        gchar host_uuid_text[37];
        GBytes *root;
        gint64 leaf_index;
        gint64 tree_size;
        guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
        guint n_proof;
        VtcVerifierLogIn vtpm_log;
        VtcVerifierLogIn host_boot;
        VtcVerifierLogIn host_ima;
} VtcVerifierInput;

static void
vtc_verifier_input_clear(VtcVerifierInput *in)
{
        g_clear_pointer(&in->guest_boot, g_bytes_unref);
        g_clear_pointer(&in->root, g_bytes_unref);
        vtc_verifier_log_in_clear(&in->guest_ima);
        vtc_verifier_log_in_clear(&in->vtpm_log);
        vtc_verifier_log_in_clear(&in->host_boot);
        vtc_verifier_log_in_clear(&in->host_ima);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcVerifierInput, vtc_verifier_input_clear)

static gboolean
vtc_verifier_parse_uuid_member(VtcVerifierRound *r,
                               JsonObject *obj,
                               const gchar *member,
                               const gchar *what,
                               gchar text[37],
                               guint8 bytes[16])
{
        g_autoptr(GError) error = NULL;
        const gchar *s = vtc_json_get_string(obj, member, TRUE, &error);

        if (s == NULL)
                return vtc_verifier_malformed(r, what, error);
        if (!vtc_verifier_uuid_parse(s, text, bytes))
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                         "%s: '%s' is not a UUID",
                                         what,
                                         member);
        return TRUE;
}

static gboolean
vtc_verifier_parse_input(VtcVerifierRound *r,
                         JsonObject *guest,
                         JsonObject *host,
                         VtcVerifierQuoteIn *gq,
                         VtcVerifierQuoteIn *hq,
                         VtcVerifierInput *in)
{
        g_autoptr(GError) error = NULL;
        JsonObject *boot_obj;
        JsonArray *proof_arr;
        gboolean ok = TRUE;

        /* guest evidence */
        if (!vtc_json_get_bool(guest, "ok", FALSE, &ok, &error))
                return vtc_verifier_malformed(r, "guest evidence", error);
        if (!ok)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                         "guest evidence: the agent answered an error");
        if (!vtc_verifier_parse_uuid_member(r,
                                            guest,
                                            "uuid",
                                            "guest evidence",
                                            in->guest_uuid_text,
                                            in->guest_uuid) ||
            !vtc_verifier_parse_quote(r,
                                      guest,
                                      "guest evidence",
                                      VTC_VERIFIER_REASON_GUEST_QUOTE_SIGNATURE,
                                      gq))
                return FALSE;
        boot_obj = vtc_json_get_object(guest, "boot_log", FALSE, &error);
        if (error != NULL)
                return vtc_verifier_malformed(r, "guest evidence", error);
        if (boot_obj != NULL) {
                in->guest_boot = vtc_json_get_base64(boot_obj,
                                                     "data",
                                                     VTC_VERIFIER_MAX_GUEST_BOOT,
                                                     TRUE,
                                                     &error);
                if (in->guest_boot == NULL)
                        return vtc_verifier_malformed(r, "guest evidence boot_log", error);
        }
        if (!vtc_verifier_parse_log(r,
                                    guest,
                                    "ima_log",
                                    "guest evidence ima_log",
                                    VTC_VERIFIER_MAX_GUEST_IMA,
                                    FALSE,
                                    &in->guest_ima))
                return FALSE;

        /* host answer */
        if (!vtc_verifier_parse_uuid_member(r,
                                            host,
                                            "vm_uuid",
                                            "host answer",
                                            in->host_uuid_text,
                                            in->host_uuid))
                return FALSE;
        in->root = vtc_json_get_hex(host, "root", 32, TRUE, &error);
        if (in->root == NULL)
                return vtc_verifier_malformed(r, "host answer", error);
        if (g_bytes_get_size(in->root) != 32)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                         "host answer: 'root' is not 32 bytes");
        if (!vtc_json_get_int(host,
                              "tree_size",
                              1,
                              VTC_MERKLE_MAX_LEAVES,
                              TRUE,
                              &in->tree_size,
                              &error) ||
            !vtc_json_get_int(host,
                              "leaf_index",
                              0,
                              VTC_MERKLE_MAX_LEAVES - 1,
                              TRUE,
                              &in->leaf_index,
                              &error))
                return vtc_verifier_malformed(r, "host answer", error);
        proof_arr = vtc_json_get_array(host, "proof", TRUE, &error);
        if (proof_arr == NULL)
                return vtc_verifier_malformed(r, "host answer", error);
        in->n_proof = json_array_get_length(proof_arr);
        if (in->n_proof > VTC_MERKLE_MAX_PROOF)
                return vtc_verifier_fail(r,
                                         VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                         "host answer: 'proof' has %u hashes",
                                         in->n_proof);
        for (guint i = 0; i < in->n_proof; i++) {
                const gchar *h = vtc_json_array_get_string(proof_arr, i, "proof", &error);

                if (h == NULL)
                        return vtc_verifier_malformed(r, "host answer", error);
                if (!vtc_hex_decode_fixed(h,
                                          in->proof + i * VTC_MERKLE_HASH_SIZE,
                                          VTC_MERKLE_HASH_SIZE,
                                          &error))
                        return vtc_verifier_malformed(r, "host answer 'proof'", error);
        }
        if (!vtc_verifier_parse_quote(r,
                                      host,
                                      "host answer",
                                      VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE,
                                      hq))
                return FALSE;
        return vtc_verifier_parse_log(r,
                                      host,
                                      "vtpm_log",
                                      "host answer vtpm_log",
                                      VTC_VERIFIER_MAX_VTPM_LOG,
                                      TRUE,
                                      &in->vtpm_log) &&
               vtc_verifier_parse_log(r,
                                      host,
                                      "boot_log",
                                      "host answer boot_log",
                                      VTC_VERIFIER_MAX_HOST_LOG,
                                      FALSE,
                                      &in->host_boot) &&
               vtc_verifier_parse_log(r,
                                      host,
                                      "ima_log",
                                      "host answer ima_log",
                                      VTC_VERIFIER_MAX_HOST_LOG,
                                      FALSE,
                                      &in->host_ima);
}

static void
vtc_verifier_round_run(VtcVerifierRound *r,
                       const guint8 nonce[32],
                       JsonObject *guest,
                       JsonObject *host,
                       VtcVerifierQuoteIn *gq,
                       VtcVerifierQuoteIn *hq)
{
        static const VtcVerifierImaWho guest_ima = {FALSE,
                                                    VTC_VERIFIER_REASON_GUEST_IMA_REPLAY,
                                                    VTC_VERIFIER_REASON_GUEST_IMA_POLICY,
                                                    VTC_VERIFIER_REASON_GUEST_BOOT_AGGREGATE,
                                                    "guest"};
        static const VtcVerifierImaWho host_ima = {TRUE,
                                                   VTC_VERIFIER_REASON_HOST_LOG_REPLAY,
                                                   VTC_VERIFIER_REASON_HOST_POLICY,
                                                   VTC_VERIFIER_REASON_HOST_LOG_REPLAY,
                                                   "host"};
        VtcVerifierVm *vm = r->vm;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcQuoteAk) guest_ak = NULL;
        g_auto(VtcVerifierInput) in = {0};
        g_auto(VtcQuoteResult) gres = {0};
        g_auto(VtcQuoteResult) hres = {0};
        guint8 host_key[32];
        gboolean have_key = FALSE;
        gboolean known = FALSE;
        guint8 qualifier[32];
        guint8 binding[32];
        guint8 leaf[32];
        const guint8 *root;
        gboolean guest_reset = FALSE;
        gboolean host_reset = FALSE;

        if (!vtc_verifier_parse_input(r, guest, host, gq, hq, &in))
                return;
        root = g_bytes_get_data(in.root, NULL);
        if (memcmp(in.guest_uuid, vm->uuid_bytes, 16) != 0)
                return (void)vtc_verifier_fail(r,
                                               VTC_VERIFIER_REASON_GUEST_UUID,
                                               "guest evidence is from VM %s, not %s",
                                               in.guest_uuid_text,
                                               vm->uuid);
        if (memcmp(in.host_uuid, vm->uuid_bytes, 16) != 0)
                return (void)vtc_verifier_fail(r,
                                               VTC_VERIFIER_REASON_GUEST_UUID,
                                               "host answer is for VM %s, not %s",
                                               in.host_uuid_text,
                                               vm->uuid);

        /* the guest quote */
        guest_ak = vtc_quote_ak_new_from_data(vm->ak_public, vm->ak_public_len, &error);
        if (guest_ak == NULL) {
                g_prefix_error(&error, "VM %s AK: ", vm->uuid);
                r->internal = g_steal_pointer(&error);
                return;
        }
        vtc_channel_quote_qualifier(nonce, vm->has_tls_key ? vm->tls_key_sha256 : NULL, qualifier);
        if (!vtc_quote_check(gq->quote,
                             &gq->sig,
                             guest_ak,
                             qualifier,
                             sizeof(qualifier),
                             gq->pcrs,
                             TPM2_ALG_NULL,
                             VTC_QUOTE_CHECK_NONE,
                             &gres,
                             &error)) {
                r->internal = g_steal_pointer(&error);
                return;
        }
        if (!vtc_verifier_quote_result(r,
                                       &gres,
                                       VTC_VERIFIER_REASON_GUEST_QUOTE_SIGNATURE,
                                       VTC_VERIFIER_REASON_GUEST_NONCE,
                                       VTC_VERIFIER_REASON_GUEST_PCR_DIGEST,
                                       "guest"))
                return;
        /* from here on the quoted values are the ones the quote signed */
        if (vm->policy != NULL && vm->policy->runtime != NULL &&
            vtc_pcr_values_get(gres.pcrs, TPM2_ALG_SHA256, VTC_IMA_PCR, NULL) == NULL)
                return (void)vtc_verifier_fail(r,
                                               VTC_VERIFIER_REASON_GUEST_PCR_DIGEST,
                                               "guest quote does not cover PCR sha256:10 (IMA)");
        if (!vtc_verifier_check_counters(r, &r->st.guest, gq->quote, "guest", &guest_reset))
                return;

        /* the host quote: its signature is verified once for the VMs that share it */
        have_key = vtc_verifier_host_quote_key(hq->attest, &hq->sig, host_key);
        known = have_key && vtc_verifier_host_is_known(vm->host, host_key);
        if (!vtc_quote_check(hq->quote,
                             &hq->sig,
                             vm->host->ak,
                             root,
                             32,
                             hq->pcrs,
                             TPM2_ALG_NULL,
                             known ? VTC_QUOTE_CHECK_SIGNATURE_KNOWN : VTC_QUOTE_CHECK_NONE,
                             &hres,
                             &error)) {
                r->internal = g_steal_pointer(&error);
                return;
        }
        if (have_key && !known && hres.failure != VTC_QUOTE_FAILURE_SIGNATURE)
                vtc_verifier_host_add_known(vm->host, host_key);
        if (hres.failure == VTC_QUOTE_FAILURE_SIGNATURE)
                return (void)vtc_verifier_fail(r,
                                               VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE,
                                               "host quote is not signed by the AK of host %s: %s",
                                               vm->host->id,
                                               hres.reason);
        /* a genuine host quote: was it seen before? */
        if (r->st.host.seen) {
                gboolean same_root = memcmp(root, r->st.host_root, 32) == 0;
                gboolean same_clock =
                    vtc_quote_get_clock(hq->quote) == r->st.host.clock &&
                    vtc_quote_get_reset_count(hq->quote) == r->st.host.reset_count &&
                    vtc_quote_get_restart_count(hq->quote) == r->st.host.restart_count;

                if (same_root || same_clock)
                        return (void)vtc_verifier_fail(r,
                                                       VTC_VERIFIER_REASON_HOST_QUOTE_REPLAY,
                                                       "host quote replayed: same %s as an earlier "
                                                       "round's",
                                                       same_root ? "Merkle root" : "TPM clock");
        }
        if (!vtc_verifier_quote_result(r,
                                       &hres,
                                       VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE,
                                       VTC_VERIFIER_REASON_HOST_QUOTE_NONCE,
                                       VTC_VERIFIER_REASON_HOST_PCR_DIGEST,
                                       "host"))
                return;
        vtc_merkle_binding(g_bytes_get_data(gq->attest, NULL),
                           g_bytes_get_size(gq->attest),
                           nonce,
                           32,
                           binding);
        vtc_merkle_leaf_hash(vm->uuid_bytes, binding, leaf);
        if (!vtc_merkle_verify_inclusion(leaf,
                                         (gsize)in.leaf_index,
                                         (gsize)in.tree_size,
                                         in.proof,
                                         in.n_proof,
                                         root,
                                         &error))
                return (void)vtc_verifier_fail(
                    r,
                    VTC_VERIFIER_REASON_MERKLE_PROOF,
                    "this round's guest quote of VM %s is not leaf %" G_GINT64_FORMAT
                    " under the host quote's root: %s",
                    vm->uuid,
                    in.leaf_index,
                    error->message);
        if (!vtc_verifier_check_counters(r, &r->st.host, hq->quote, "host", &host_reset))
                return;
        memcpy(r->st.host_root, root, 32);

        /* host logs: after a host reboot they restart, and must be read from the beginning */
        if (host_reset && (vtc_verifier_side_has_progress(&r->st.host) || r->st.vtpm_count > 0)) {
                vtc_verifier_state_reset_host(&r->st, TRUE);
                g_clear_pointer(&vm->host_check, vtc_runtime_policy_check_free);
                r->incomplete = VTC_VERIFIER_REASON_HOST_REBOOT;
        } else {
                if (r->st.vtpm_restart_pending && !host_reset)
                        return (void)vtc_verifier_fail(
                            r,
                            VTC_VERIFIER_REASON_VTPM_LOG_REPLAY,
                            "the vTPM log of host %s restarted without a host reboot (the TPM's "
                            "resetCount did not change): its PCR sha256:%u was reset or the log "
                            "replaced",
                            vm->host->id,
                            vm->host->vtpm_log_pcr);
                r->st.vtpm_restart_pending = FALSE;
                if (!vtc_verifier_check_vtpm(r, &in.vtpm_log, hres.pcrs))
                        return;
                if (!vtc_verifier_check_log(r,
                                            &in.host_boot,
                                            "host firmware event log",
                                            r->st.host.boot_offset,
                                            VTC_VERIFIER_REASON_HOST_LOG_REPLAY))
                        return;
                if (in.host_boot.more)
                        return (void)vtc_verifier_fail(r,
                                                       VTC_VERIFIER_REASON_HOST_LOG_REPLAY,
                                                       "host firmware event log is larger than "
                                                       "one answer: not supported");
                if (in.host_boot.data != NULL && g_bytes_get_size(in.host_boot.data) > 0 &&
                    r->st.host.boot_checked)
                        return (void)vtc_verifier_fail(r,
                                                       VTC_VERIFIER_REASON_HOST_LOG_REPLAY,
                                                       "host firmware event log grew after boot");
                if (!vtc_verifier_check_boot(r,
                                             TRUE,
                                             &r->st.host,
                                             vm->host_policy,
                                             in.host_boot.data,
                                             hres.pcrs))
                        return;
                if (in.host_boot.data != NULL)
                        r->st.host.boot_offset += g_bytes_get_size(in.host_boot.data);
                if (!vtc_verifier_check_log(r,
                                            &in.host_ima,
                                            "host IMA log",
                                            r->st.host.ima_offset,
                                            VTC_VERIFIER_REASON_HOST_LOG_REPLAY))
                        return;
                if (!vtc_verifier_check_ima(
                        r,
                        &host_ima,
                        &r->st.host,
                        in.host_ima.data,
                        in.host_ima.more,
                        hres.pcrs,
                        vtc_verifier_get_check(&vm->host_check, vm->host_policy)))
                        return;
        }

        /* guest logs: after a guest reboot the answer was read from a stale offset */
        if (guest_reset && vtc_verifier_side_has_progress(&r->st.guest)) {
                vtc_verifier_side_init(&r->st.guest, TRUE);
                g_clear_pointer(&vm->guest_check, vtc_runtime_policy_check_free);
                if (r->incomplete == VTC_VERIFIER_REASON_NONE)
                        r->incomplete = VTC_VERIFIER_REASON_GUEST_REBOOT;
                return;
        }
        if (!vtc_verifier_check_boot(r, FALSE, &r->st.guest, vm->policy, in.guest_boot, gres.pcrs))
                return;
        if (!vtc_verifier_check_log(r,
                                    &in.guest_ima,
                                    "guest IMA log",
                                    r->st.guest.ima_offset,
                                    VTC_VERIFIER_REASON_GUEST_IMA_REPLAY))
                return;
        (void)vtc_verifier_check_ima(r,
                                     &guest_ima,
                                     &r->st.guest,
                                     in.guest_ima.data,
                                     in.guest_ima.more,
                                     gres.pcrs,
                                     vtc_verifier_get_check(&vm->guest_check, vm->policy));
}

gboolean
vtc_verifier_check_round(VtcVerifierVm *self,
                         const guint8 nonce[32],
                         JsonObject *guest_evidence,
                         JsonObject *host_answer,
                         gboolean through_host,
                         VtcVerifierVerdict *out,
                         GError **error)
{
        g_auto(VtcVerifierQuoteIn) gq = {0};
        g_auto(VtcVerifierQuoteIn) hq = {0};
        VtcVerifierRound r = {.vm = self};
        VtcVerifierVerdict v = {0};

        g_return_val_if_fail(self != NULL && nonce != NULL && out != NULL, FALSE);
        r.st = *vtc_verifier_vm_base(self);
        if (guest_evidence == NULL || host_answer == NULL)
                vtc_verifier_fail(&r,
                                  VTC_VERIFIER_REASON_EVIDENCE_MALFORMED,
                                  "%s missing",
                                  guest_evidence == NULL ? "guest evidence" : "host answer");
        else
                vtc_verifier_round_run(&r, nonce, guest_evidence, host_answer, &gq, &hq);
        if (r.internal != NULL) {
                g_propagate_error(error, r.internal);
                g_free(r.message);
                if (r.vtpm_events != NULL)
                        g_ptr_array_unref(r.vtpm_events);
                return FALSE;
        }
        if (gq.attest != NULL && hq.attest != NULL) {
                g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
                gsize size = sizeof(v.evidence_digest);

                g_checksum_update(sum,
                                  g_bytes_get_data(gq.attest, NULL),
                                  g_bytes_get_size(gq.attest));
                g_checksum_update(sum,
                                  g_bytes_get_data(hq.attest, NULL),
                                  g_bytes_get_size(hq.attest));
                g_checksum_get_digest(sum, v.evidence_digest, &size);
                v.has_evidence_digest = TRUE;
        }
        v.guest_ima_entries = r.guest_ima_entries;
        v.host_ima_entries = r.host_ima_entries;
        v.vtpm_log_entries = r.vtpm_entries;
        if (r.reason != VTC_VERIFIER_REASON_NONE) {
                v.result = VTC_VERIFIER_RESULT_FAILED;
                v.reason = r.reason;
                v.message = g_steal_pointer(&r.message);
                if (r.vtpm_events != NULL)
                        g_ptr_array_unref(r.vtpm_events);
                /* unverified progress goes: the next round re-checks from the committed state */
                g_clear_pointer(&self->pending, g_free);
        } else if (r.incomplete != VTC_VERIFIER_REASON_NONE) {
                v.result = VTC_VERIFIER_RESULT_INCOMPLETE;
                v.reason = r.incomplete;
                v.message =
                    g_strdup(r.incomplete == VTC_VERIFIER_REASON_GUEST_REBOOT
                                 ? "the guest TPM was reset: its logs are read again from the start"
                             : r.incomplete == VTC_VERIFIER_REASON_HOST_REBOOT
                                 ? "the host TPM was reset: its logs are read again from the start"
                                 : "a log continues beyond this answer");
                v.vtpm_events = r.vtpm_events;
                if (self->pending == NULL)
                        self->pending = g_new0(VtcVerifierVmState, 1);
                *self->pending = r.st;
        } else {
                v.result = VTC_VERIFIER_RESULT_TRUSTED;
                v.reason = VTC_VERIFIER_REASON_NONE;
                v.message = g_strdup("");
                v.placement_proven = through_host;
                v.vtpm_events = r.vtpm_events;
                self->state = r.st;
                g_clear_pointer(&self->pending, g_free);
        }
        *out = v;
        return TRUE;
}

gboolean
vtc_verifier_round_answer_split(JsonObject *answer,
                                JsonObject **out_guest,
                                JsonObject **out_host,
                                gboolean *out_through_host,
                                GError **error)
{
        JsonObject *guest = vtc_json_get_object(answer, "guest", TRUE, error);
        JsonObject *host;
        const gchar *placement;

        if (guest == NULL)
                return FALSE;
        host = vtc_json_get_object(answer, "host", TRUE, error);
        if (host == NULL)
                return FALSE;
        placement = vtc_json_get_string(answer, "placement", TRUE, error);
        if (placement == NULL)
                return FALSE;
        *out_guest = guest;
        *out_host = host;
        *out_through_host = g_strcmp0(placement, "channel") == 0;
        return TRUE;
}
