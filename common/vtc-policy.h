/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

#include <glib.h>

#include "vtc-ima.h"
#include "vtc-util.h"

G_BEGIN_DECLS

/*
 * Keylime's runtime policy (format version 1) and the check of IMA entries against it, with
 * Keylime's verdicts (keylime/ima/ima.py, file_signatures.py):
 *
 *   ima, ima-ng, ima-sig without a signature: accepted when the path matches one of "excludes"
 *     (Python re.match: anchored at the start only) or the file digest is one of
 *     "digests"[path].
 *   ima-sig with a signature: also accepted when the IMA signature (v2 header) verifies with a
 *     key of "verification-keys" or a key learnt from an accepted keyring entry earlier in the
 *     same log; a valid signature wins over a wrong digest, a correct digest over a signature
 *     that does not verify. A signature whose header is malformed (size field disagrees with
 *     its length) always fails, as in Keylime, where such an entry can never match its
 *     template hash.
 *   ima-buf whose buffer is a key or certificate (keyring measurement): unless the keyring is in
 *     ima.ignored_keyrings (or that list holds "*"), accepted when excluded or its digest is in
 *     "keyrings"[name]; an accepted key is learnt for later signatures. Other ima-buf entries:
 *     accepted when excluded or the digest is in "ima-buf"[name].
 *   boot_aggregate is skipped (the verifier checks it against the replayed PCRs 0-9) unless
 *     VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE is given.
 *
 * Digests are compared as raw bytes, whatever algorithm the entry names, as Keylime compares
 * hex strings. "ima.log_hash_alg" names the algorithm of the template hashes (the second column
 * of the ascii log), not of the digests. ima.dm_policy must be null (device-mapper policies are
 * not supported).
 *
 * A loaded policy is read-only: threads may share it, each with its own VtcRuntimePolicyCheck.
 * Excludes run as PCRE with its match limit: a regex that backtracks catastrophically on a path
 * makes that path not excluded (the entry fails) rather than stalling the verifier.
 */

/* Bounds on what a policy may hold; anything over them is refused with VTC_ERROR_TOO_LARGE. */
#define VTC_RUNTIME_POLICY_MAX_SIZE         (128u * 1024 * 1024)
#define VTC_RUNTIME_POLICY_MAX_DEPTH        32
#define VTC_RUNTIME_POLICY_MAX_STRING       4096 /* a path, a regex, a keyring name */
#define VTC_RUNTIME_POLICY_MAX_DIGESTS      1024 /* per path */
#define VTC_RUNTIME_POLICY_MAX_EXCLUDES     65536
#define VTC_RUNTIME_POLICY_MAX_KEYS         1024
#define VTC_RUNTIME_POLICY_MAX_KEYS_SIZE    (4u * 1024 * 1024) /* the "verification-keys" text */
#define VTC_RUNTIME_POLICY_MAX_LEARNED_KEYS 1024

typedef struct _VtcRuntimePolicy VtcRuntimePolicy;

/* Parses a runtime policy. A DSSE envelope (a signed policy) is refused here: use
 * vtc_runtime_policy_new_from_dsse() with the signer's key. Errors name the JSON member. */
VtcRuntimePolicy *vtc_runtime_policy_new_from_json(const gchar *data, gsize len, GError **error);
/* Checks the DSSE envelope (payloadType application/vnd.keylime+json) with @key (ECDSA or RSA,
 * SHA-256), as keylime-policy sign writes it, then parses the payload. VTC_ERROR_VERIFY_FAILED
 * when no signature verifies. */
VtcRuntimePolicy *
vtc_runtime_policy_new_from_dsse(const gchar *data, gsize len, EVP_PKEY *key, GError **error);
void vtc_runtime_policy_free(VtcRuntimePolicy *self);

/* The template-hash algorithm of "ima.log_hash_alg" (sha1 when absent). */
const VtcHashAlg *vtc_runtime_policy_get_log_hash_alg(const VtcRuntimePolicy *self);
guint vtc_runtime_policy_get_n_paths(const VtcRuntimePolicy *self);
guint vtc_runtime_policy_get_n_excludes(const VtcRuntimePolicy *self);
guint vtc_runtime_policy_get_n_keys(const VtcRuntimePolicy *self);
/* Whether @digest is allowed for @path in "digests" (e.g. the verifier's boot_aggregate check);
 * @alg may be NULL. */
gboolean vtc_runtime_policy_lookup_digest(const VtcRuntimePolicy *self,
                                          const gchar *path,
                                          const VtcHashAlg *alg,
                                          const guint8 *digest,
                                          gsize digest_len);
/* Whether @path matches one of "excludes". */
gboolean vtc_runtime_policy_is_excluded(const VtcRuntimePolicy *self, const gchar *path);

typedef enum {
        VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY,    /* no "digests" entry for the path */
        VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY,  /* the path is there, not this digest */
        VTC_RUNTIME_POLICY_REASON_SIGNATURE_MALFORMED,   /* ima-sig header inconsistent */
        VTC_RUNTIME_POLICY_REASON_KEYRING_NOT_IN_POLICY, /* no "keyrings" entry for the keyring */
        VTC_RUNTIME_POLICY_REASON_KEYRING_DIGEST_NOT_ALLOWED,
        VTC_RUNTIME_POLICY_REASON_BUFFER_NOT_IN_POLICY, /* no "ima-buf" entry for the name */
        VTC_RUNTIME_POLICY_REASON_BUFFER_DIGEST_NOT_ALLOWED,
        VTC_RUNTIME_POLICY_REASON_UNSUPPORTED_KEY, /* keyring entry with a non-RSA/EC key */
        VTC_RUNTIME_POLICY_REASON_NO_DIGEST,       /* the entry carries no file digest */
} VtcRuntimePolicyReason;

/* "digest not in policy", ... (stable strings, used in the JSON output) */
const gchar *vtc_runtime_policy_reason_to_string(VtcRuntimePolicyReason reason);

/* One entry the policy does not accept. */
typedef struct {
        guint index; /* 0-based position in the log */
        VtcImaTemplate template_kind;
        VtcRuntimePolicyReason reason;
        gchar *path;   /* the file path, or the ima-buf name */
        gchar *digest; /* "sha256:<hex>" (or bare hex when the algorithm is unknown) */
        /* why a signature did not help, e.g. "signature does not verify: no key 0x1234abcd";
         * NULL when the entry has no signature */
        gchar *signature_detail;
        gboolean violation; /* the entry is an IMA violation (ToMToU, open-writers) */
} VtcRuntimePolicyFailure;

void vtc_runtime_policy_failure_free(VtcRuntimePolicyFailure *failure);
/* "#12 /usr/bin/dd sha256:...: digest not in policy (signature does not verify: ...)" */
gchar *vtc_runtime_policy_failure_to_string(const VtcRuntimePolicyFailure *failure);

typedef enum {
        VTC_RUNTIME_POLICY_CHECK_NONE = 0,
        /* check "boot_aggregate" entries against "digests"["boot_aggregate"] like any path */
        VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE = 1 << 0,
} VtcRuntimePolicyCheckFlags;

/*
 * The check of one log, in order: it learns the keys of accepted keyring entries, which later
 * ima-sig entries of the same log may be signed with. @policy must outlive it.
 */
typedef struct _VtcRuntimePolicyCheck VtcRuntimePolicyCheck;

VtcRuntimePolicyCheck *vtc_runtime_policy_check_new(const VtcRuntimePolicy *policy,
                                                    VtcRuntimePolicyCheckFlags flags);
void vtc_runtime_policy_check_free(VtcRuntimePolicyCheck *self);
/*
 * Checks one entry. Returns FALSE with @error only when the check itself could not run (out of
 * memory in OpenSSL); otherwise TRUE, with *@out_failure NULL when the entry is accepted or the
 * failure (owned by the caller) when it is not.
 */
gboolean vtc_runtime_policy_check_entry(VtcRuntimePolicyCheck *self,
                                        const VtcImaEntry *entry,
                                        guint index,
                                        VtcRuntimePolicyFailure **out_failure,
                                        GError **error);
/* Checks one entry and keeps its failure, if any, in the check's list. */
#define VTC_RUNTIME_POLICY_MAX_KEPT_FAILURES 1000

gboolean vtc_runtime_policy_check_add(VtcRuntimePolicyCheck *self,
                                      const VtcImaEntry *entry,
                                      guint index,
                                      GError **error);
/* The failures kept by vtc_runtime_policy_check_add(), in log order (VtcRuntimePolicyFailure):
 * the first VTC_RUNTIME_POLICY_MAX_KEPT_FAILURES; the stats count every one. */
GPtrArray *vtc_runtime_policy_check_get_failures(VtcRuntimePolicyCheck *self);

typedef struct {
        guint checked;      /* entries given */
        guint skipped;      /* boot_aggregate, ignored keyrings */
        guint by_digest;    /* accepted by a digest list */
        guint by_exclude;   /* accepted by an exclude (and no digest) */
        guint by_signature; /* accepted by a signature (and no digest nor exclude) */
        guint failed;
        guint keys_learnt;
} VtcRuntimePolicyCheckStats;

void vtc_runtime_policy_check_get_stats(VtcRuntimePolicyCheck *self,
                                        VtcRuntimePolicyCheckStats *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRuntimePolicy, vtc_runtime_policy_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRuntimePolicyCheck, vtc_runtime_policy_check_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcRuntimePolicyFailure, vtc_runtime_policy_failure_free)

G_END_DECLS
