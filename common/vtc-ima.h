/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

#include "vtc-util.h"

G_BEGIN_DECLS

/*
 * One IMA measurement list entry, from the ascii or the binary log. This struct is the contract
 * between the IMA log parser (vtc-ima.c) and the runtime-policy checker (vtc-policy.c): fields
 * may be added, none removed or renamed.
 */
typedef enum {
        VTC_IMA_TEMPLATE_IMA,     /* "ima": sha1 digest + name (<= 255 chars, NUL-padded) */
        VTC_IMA_TEMPLATE_IMA_NG,  /* "ima-ng": d-ng + n-ng */
        VTC_IMA_TEMPLATE_IMA_SIG, /* "ima-sig": d-ng + n-ng + sig */
        VTC_IMA_TEMPLATE_IMA_BUF, /* "ima-buf": d-ng + n-ng + buf */
} VtcImaTemplate;

typedef struct {
        guint32 pcr;
        VtcImaTemplate template_kind;
        gchar *template_name;
        /* SHA-1 template hash as written in the log; all zeros marks a violation */
        guint8 template_hash[20];
        gboolean violation;
        /* algorithm and digest of the file (or buffer) contents, from d / d-ng */
        const VtcHashAlg *file_hash_alg;
        guint8 *file_hash;
        gsize file_hash_len;
        /* file path (n / n-ng); for ima-buf the buffer's name, e.g. a keyring name */
        gchar *path;
        /* ima-sig: the signature field (IMA/EVM signature header included); NULL if empty */
        guint8 *sig;
        gsize sig_len;
        /* ima-buf: the measured buffer */
        guint8 *buf;
        gsize buf_len;
        /* the template data exactly as hashed into the PCR (length-prefixed fields) */
        guint8 *template_data;
        gsize template_data_len;
} VtcImaEntry;

/* IMA extends PCR 10 unless its policy says otherwise; only PCR 10 is replayed here. */
#define VTC_IMA_PCR 10
/* Bounds on what a peer controls: one entry's template data, and the entries of one log. */
#define VTC_IMA_MAX_TEMPLATE_DATA (1024 * 1024)
#define VTC_IMA_MAX_ENTRIES       (G_GUINT64_CONSTANT(1) << 26)
/* The kernel truncates the "ima" template's name to this many bytes. */
#define VTC_IMA_EVENT_NAME_LEN_MAX 255

typedef enum {
        VTC_IMA_FORMAT_AUTO,
        VTC_IMA_FORMAT_ASCII,  /* ascii_runtime_measurements */
        VTC_IMA_FORMAT_BINARY, /* binary_runtime_measurements, little-endian */
} VtcImaFormat;

typedef enum {
        VTC_IMA_REPLAY_FLAG_NONE = 0,
        /* Skip the SHA-1 bank (its extend values are the logged template hashes). */
        VTC_IMA_REPLAY_FLAG_NO_SHA1 = 1 << 0,
        /* Skip the SHA-256 bank (its extend values are SHA-256 of the template data). */
        VTC_IMA_REPLAY_FLAG_NO_SHA256 = 1 << 1,
        /*
         * Do not check that SHA-1(template data) equals the logged template hash. The SHA-256 bank
         * is bound to the template data anyway; the check catches corrupt logs early and is what
         * makes the SHA-1 bank's extend values trustworthy. For benchmarks and special cases only.
         */
        VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK = 1 << 2,
        /* Fail (VTC_ERROR_POLICY) at the first violation instead of extending all ones. */
        VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS = 1 << 3,
        /*
         * Stop before a last entry that is cut short (a binary entry running past the end, an
         * ascii line without its newline) instead of failing: for logs read in chunks, and for
         * snapshots cut mid-entry. *out_consumed then tells where the complete entries end.
         */
        VTC_IMA_REPLAY_FLAG_PARTIAL = 1 << 4,
} VtcImaReplayFlags;

/*
 * What a verifier keeps between incremental rounds: how many entries were replayed and the
 * running PCR 10 of each bank. vtc_ima_replay_state_init() gives the start (0 entries, zeros).
 */
typedef struct {
        guint64 count;
        guint8 sha1[20];
        guint8 sha256[32];
        /* entries so far whose template hash was all zeros (ToMToU / open-writers violations) */
        guint64 violations;
} VtcImaReplayState;

void vtc_ima_replay_state_init(VtcImaReplayState *state);

/*
 * Called once per entry, after its template hash has been checked and before it is extended.
 * @entry is borrowed: its pointers reach into the log buffer or a scratch buffer and are valid
 * only during the call (vtc_ima_entry_copy() keeps one). @index counts from the start of the
 * whole log (state->count + position). Returning FALSE with @error set stops the replay.
 */
typedef gboolean (*VtcImaEntryFunc)(const VtcImaEntry *entry,
                                    guint64 index,
                                    gpointer user_data,
                                    GError **error);

/* Guesses the format from the first bytes (a binary log starts with a little-endian u32 PCR). */
VtcImaFormat vtc_ima_format_detect(const guint8 *data, gsize len);

/*
 * Replays @data, which holds the log from entry state->count on (the whole log when
 * state->count is 0; an incremental round gets only the new entries). Every entry is parsed
 * with bounds checks, its template hash checked, handed to @func (may be NULL), and extended
 * into the running PCR 10 of the banks asked for (a violation, template hash all zeros,
 * extends all ones). No memory is allocated per entry. On success @state is advanced and
 * @out_consumed (may be NULL) says how many bytes of @data the replayed entries took (all of
 * them unless VTC_IMA_REPLAY_FLAG_PARTIAL stopped before a cut-short last entry); on failure
 * @state is left untouched and @error names the entry (index, line or byte offset, path).
 * An empty log is valid: zero entries.
 */
gboolean vtc_ima_replay(const guint8 *data,
                        gsize len,
                        VtcImaFormat format,
                        VtcImaReplayFlags flags,
                        VtcImaReplayState *state,
                        VtcImaEntryFunc func,
                        gpointer user_data,
                        gsize *out_consumed,
                        GError **error);

/*
 * Finds the byte offset of entry @n_entries in a log (its length when the log has exactly that
 * many entries), parsing only the framing, so that a verifier holding a whole log can replay
 * just its tail.
 */
gboolean vtc_ima_log_skip(const guint8 *data,
                          gsize len,
                          VtcImaFormat format,
                          guint64 n_entries,
                          gsize *out_offset,
                          GError **error);

/* Parses (and checks the template hash of) every entry into a GPtrArray of owned VtcImaEntry. */
GPtrArray *vtc_ima_log_parse(const guint8 *data, gsize len, VtcImaFormat format, GError **error);

VtcImaEntry *vtc_ima_entry_copy(const VtcImaEntry *entry);
void vtc_ima_entry_free(VtcImaEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcImaEntry, vtc_ima_entry_free)

/* TRUE for the first entry IMA writes at boot (and after each kexec). */
gboolean vtc_ima_entry_is_boot_aggregate(const VtcImaEntry *entry);

/*
 * The boot_aggregate: the hash, with the bank's own algorithm, of PCRs 0..@n_pcrs-1 of that
 * bank (@pcrs holds @n_pcrs values of @bank->size bytes). Kernels before 5.8 use 8 PCRs, newer
 * ones 10 on a TPM 2.0.
 */
gboolean vtc_ima_boot_aggregate_compute(const VtcHashAlg *bank,
                                        const guint8 *pcrs,
                                        guint n_pcrs,
                                        guint8 *out,
                                        GError **error);

/*
 * Checks a boot_aggregate entry against PCRs 0-9 of the bank its digest names (@pcrs holds 10
 * values of @bank->size bytes): the digest must equal the aggregate of PCRs 0-7 or of 0-9.
 */
gboolean vtc_ima_boot_aggregate_verify(const VtcImaEntry *entry,
                                       const VtcHashAlg *bank,
                                       const guint8 *pcrs,
                                       GError **error);

G_END_DECLS
