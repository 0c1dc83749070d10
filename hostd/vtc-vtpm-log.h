/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The vTPM event log (doc/hostd.md "The vTPM event log"): one compact JSON object per line,
 * each line's SHA-256 (without the newline) extended into a PCR of the hardware TPM's SHA-256
 * bank. This object holds no TPM: the extend is the caller's (a callback run by
 * vtc_vtpm_log_append(), or a later call), so hostd runs both on its TPM worker thread.
 *
 * The format is strict and canonical: a line must be byte for byte what this file writes for
 * the entry it holds (members in the order seq, type, ts, then host | uuid, name, ek_sha256 |
 * uuid, name; no whitespace; only '"' and '\' escaped, non-ASCII as UTF-8). Anything else —
 * unknown types or members, a seq that is not the line's index, a duplicate member, a line
 * over VTC_VTPM_LOG_MAX_LINE bytes, "\r\n", an empty line — is an error naming the line. So
 * every parser reads the same entries from the same bytes, whatever its JSON library.
 *
 * Field rules: ts 0..VTC_VTPM_LOG_MAX_TS (seconds since the epoch); host 1..255 and name 1..256
 * bytes of UTF-8 without control characters; uuid in lowercase 8-4-4-4-12 form; ek_sha256 64
 * lowercase hex digits.
 *
 * Crash safety: an append writes the whole line and its '\n' in one write() and fdatasync()s
 * before the extend. A final line without '\n' therefore was never extended: open() treats it
 * as not written, truncates it away and reports its size (vtc_vtpm_log_get_torn_bytes()). A
 * tail of more than VTC_VTPM_LOG_MAX_LINE bytes cannot come from a torn append and is refused
 * instead.
 *
 * Threads: every function may be called from any thread. Appends are serialised among
 * themselves; readers never wait for an append's disk or TPM work. The extends must reach the
 * TPM in the order of the appends: give vtc_vtpm_log_append() the extend callback, or append
 * and extend on one thread.
 */

#define VTC_VTPM_LOG_DIGEST_SIZE 32
#define VTC_VTPM_LOG_MAX_LINE    4096                /* bytes of one line, without its '\n' */
#define VTC_VTPM_LOG_MAX_SIZE    (256 * 1024 * 1024) /* bytes of the whole file */
#define VTC_VTPM_LOG_MAX_HOST    255
#define VTC_VTPM_LOG_MAX_NAME    256
#define VTC_VTPM_LOG_MAX_TS      G_GINT64_CONSTANT(253402300799) /* 9999-12-31T23:59:59Z */
#define VTC_VTPM_LOG_PCR_DEFAULT 23

typedef enum {
        VTC_VTPM_LOG_HOSTD_START,
        VTC_VTPM_LOG_VTPM_START,
        VTC_VTPM_LOG_VTPM_STOP,
} VtcVtpmLogType;

/* "HOSTD_START", "VTPM_START", "VTPM_STOP" */
const gchar *vtc_vtpm_log_type_to_string(VtcVtpmLogType type);

/* One entry; immutable and reference counted, so it may be kept and shared across threads. */
typedef struct {
        guint64 seq;
        VtcVtpmLogType type;
        gint64 ts;
        gchar *host;                                /* HOSTD_START, else NULL */
        gchar *uuid;                                /* VTPM_START and VTPM_STOP, else NULL */
        gchar *name;                                /* VTPM_START and VTPM_STOP, else NULL */
        guint8 ek_sha256[VTC_VTPM_LOG_DIGEST_SIZE]; /* VTPM_START, else zero */
        gchar *line;                                /* as stored, without the '\n' */
        gsize line_len;
        guint8 digest[VTC_VTPM_LOG_DIGEST_SIZE]; /* SHA-256 of line: what is extended */
        /*< private >*/
        gint ref_count;
} VtcVtpmLogEntry;

VtcVtpmLogEntry *vtc_vtpm_log_entry_ref(VtcVtpmLogEntry *entry);
void vtc_vtpm_log_entry_unref(VtcVtpmLogEntry *entry);

/* --- Verifier side: the log as bytes, as it travels over the wire --- */

/*
 * Replays @data (complete lines, each ending in '\n'; empty data is no entries) whose first line
 * must carry seq @first_seq, starting from @start_pcr (NULL: all zero, the PCR after a reset).
 * Returns the resulting PCR value, the number of lines, and when @out_entries is not NULL the
 * parsed entries (VtcVtpmLogEntry, in order). A verifier holding the PCR value after the first N
 * entries checks an increment with @first_seq N and that value. Errors are
 * VTC_ERROR_INVALID_DATA (or VTC_ERROR_TOO_LARGE for a line or input over the limits), naming
 * the line (1-based within @data) and the seq expected there. A final line without '\n' is an
 * error here: only the file's owner may decide that it was torn.
 */
gboolean vtc_vtpm_log_replay_data_from(const guint8 *data,
                                       gsize len,
                                       guint64 first_seq,
                                       const guint8 *start_pcr,
                                       guint8 *out_pcr,
                                       guint64 *out_count,
                                       GPtrArray **out_entries,
                                       GError **error);
/* The same for a whole log: from seq 0 and an all-zero PCR. @out_pcr holds 32 bytes. */
gboolean vtc_vtpm_log_replay_data(const guint8 *data,
                                  gsize len,
                                  guint8 *out_pcr,
                                  guint64 *out_count,
                                  GError **error);

/* --- hostd side: the file --- */

typedef struct _VtcVtpmLog VtcVtpmLog;

/*
 * Opens the log at @path (created empty, mode 0640, when missing), takes an exclusive flock()
 * on it (VTC_ERROR_CONFLICT when another process or object holds it), reads and validates every
 * line, and truncates a torn final line (see above). Any invalid line is an error naming it; the
 * file is then left untouched. A non-empty log takes no append until vtc_vtpm_log_check_pcr()
 * has seen the PCR agree with it (its last extend may have been lost), so hostd's start is:
 * open, read the PCR, check, extend the repair digest if one is given and check again (or, on a
 * reset PCR after a reboot, rotate), then append HOSTD_START.
 */
VtcVtpmLog *vtc_vtpm_log_open(const gchar *path, GError **error);
void vtc_vtpm_log_free(VtcVtpmLog *self);

const gchar *vtc_vtpm_log_get_path(VtcVtpmLog *self);
/* Bytes of a torn final line that open() truncated away (0: none), for hostd to report. */
gsize vtc_vtpm_log_get_torn_bytes(VtcVtpmLog *self);

/*
 * The extend an append hands its entry to: extend @digest (SHA-256, 32 bytes) into the log's
 * PCR. Runs on the appending thread, inside the append's lock, after the line is durable.
 */
typedef gboolean (*VtcVtpmLogExtendFunc)(const guint8 *digest,
                                         gsize len,
                                         gpointer user_data,
                                         GError **error);

/*
 * Appends an entry (seq is the next one): validates the fields (VTC_ERROR_INVALID_ARGUMENT),
 * writes the line and its '\n' in one write(), fdatasync()s, then calls @extend_cb when it is
 * not NULL. Returns the entry (a new reference) whose ->digest is what was, or must be,
 * extended.
 *
 * Failures: when the write or the fdatasync fails the file's state is unknown, and this object
 * refuses every further append (VTC_ERROR_IO): reopen the log. When @extend_cb fails, the entry
 * is in the log (the file has it) but not in the PCR: further appends are refused
 * (VTC_ERROR_CONFLICT) until vtc_vtpm_log_check_pcr() has seen the PCR agree with the log again,
 * which the repair it proposes achieves.
 */
VtcVtpmLogEntry *vtc_vtpm_log_append_hostd_start(VtcVtpmLog *self,
                                                 gint64 ts,
                                                 const gchar *host,
                                                 VtcVtpmLogExtendFunc extend_cb,
                                                 gpointer user_data,
                                                 GError **error);
VtcVtpmLogEntry *vtc_vtpm_log_append_vtpm_start(VtcVtpmLog *self,
                                                gint64 ts,
                                                const gchar *uuid,
                                                const gchar *name,
                                                const guint8 *ek_sha256,
                                                VtcVtpmLogExtendFunc extend_cb,
                                                gpointer user_data,
                                                GError **error);
VtcVtpmLogEntry *vtc_vtpm_log_append_vtpm_stop(VtcVtpmLog *self,
                                               gint64 ts,
                                               const gchar *uuid,
                                               const gchar *name,
                                               VtcVtpmLogExtendFunc extend_cb,
                                               gpointer user_data,
                                               GError **error);

/*
 * Compares @pcr (the SHA-256 bank's PCR @pcr_index, 32 bytes; the index only names it in
 * messages) with the log's replay:
 * - equal to the replay of every entry: TRUE, *@out_repair_digest = NULL;
 * - equal to the replay without the last entry (its extend was lost in a crash): TRUE,
 *   *@out_repair_digest = that entry's digest, to extend now (then check again);
 * - anything else, a reset (all-zero) PCR with a non-empty log included:
 *   VTC_ERROR_VERIFY_FAILED, "vTPM log and PCR 23 disagree: ...". After a host reboot the PCR
 *   is zero and the log is the last boot's: hostd then rotates it (vtc_vtpm_log_rotate()).
 */
gboolean vtc_vtpm_log_check_pcr(VtcVtpmLog *self,
                                guint pcr_index,
                                const guint8 *pcr,
                                gsize pcr_len,
                                GBytes **out_repair_digest,
                                GError **error);

/*
 * Moves the log to "@path.N" (N the smallest number from 1 not in use, so a higher N is a newer
 * log; the rename never replaces a file) and starts an empty log at @path, durably. Returns the
 * rotated file's path.
 */
gchar *vtc_vtpm_log_rotate(VtcVtpmLog *self, GError **error);

/* Number of entries (the next seq). */
guint64 vtc_vtpm_log_get_count(VtcVtpmLog *self);
/* The replay of every entry (32 bytes into @out_pcr); with the count it is read atomically. */
void vtc_vtpm_log_get_replay(VtcVtpmLog *self, guint8 *out_pcr, guint64 *out_count);
/* Entry @seq (a new reference), or NULL. */
VtcVtpmLogEntry *vtc_vtpm_log_get_entry(VtcVtpmLog *self, guint64 seq);

/*
 * The increments a verifier asks for: the lines of entries @from_seq up to (not including)
 * @to_seq, exactly as stored with their '\n' (@to_seq G_MAXUINT64: up to the end). @from_seq ==
 * the count gives empty bytes; @from_seq beyond the count or after @to_seq, and @to_seq beyond
 * the count, are VTC_ERROR_INVALID_ARGUMENT. With the replay value at @from_seq they feed
 * vtc_vtpm_log_replay_data_from().
 */
GBytes *vtc_vtpm_log_get_data(VtcVtpmLog *self, guint64 from_seq, guint64 to_seq, GError **error);
/* The same entries (new references, in order). */
GPtrArray *
vtc_vtpm_log_get_entries(VtcVtpmLog *self, guint64 from_seq, guint64 to_seq, GError **error);

/* --- Lookups over the running vTPMs (a VM runs when its last entry is VTPM_START) --- */

/* The last entry for @uuid (any case), a new reference, or NULL when the log never names it. */
VtcVtpmLogEntry *vtc_vtpm_log_lookup_vm(VtcVtpmLog *self, const gchar *uuid);
/* TRUE when the last entry for @uuid is VTPM_START, and, when @ek_sha256 is not NULL, with that
 * EK digest (32 bytes). */
gboolean vtc_vtpm_log_vm_is_running(VtcVtpmLog *self, const gchar *uuid, const guint8 *ek_sha256);
/* The VTPM_START entries of every running VM, by seq. */
GPtrArray *vtc_vtpm_log_get_running(VtcVtpmLog *self);
/* The VTPM_START entries of the running VMs whose EK digest is @ek_sha256, by seq: clone
 * detection (more than one, or one with another uuid than the VM about to start). */
GPtrArray *vtc_vtpm_log_find_running_by_ek(VtcVtpmLog *self, const guint8 *ek_sha256);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVtpmLogEntry, vtc_vtpm_log_entry_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcVtpmLog, vtc_vtpm_log_free)

G_END_DECLS
