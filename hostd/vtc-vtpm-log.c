/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-vtpm-log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

/* A rotation looks for a free "path.N" at most this far. */
#define VTC_VTPM_LOG_MAX_ROTATIONS 100000

struct _VtcVtpmLog {
        gchar *path;
        /* held by appends and rotations over their disk and TPM work; taken before @lock */
        GMutex append_lock;
        /* under @append_lock only */
        gint fd;
        gboolean broken;     /* a write failed: the file's state is unknown */
        gboolean need_check; /* the PCR may lag the log: check_pcr() must agree first */
        gsize size;          /* bytes in the file */
        /* held briefly by everyone: the state below */
        GMutex lock;
        gsize torn_bytes;
        GPtrArray *entries; /* VtcVtpmLogEntry, by seq */
        GHashTable *vms;    /* uuid -> its last VtcVtpmLogEntry */
        guint8 replay[VTC_VTPM_LOG_DIGEST_SIZE];
        guint8 prev_replay[VTC_VTPM_LOG_DIGEST_SIZE]; /* without the last entry */
};

static const gchar *const vtc_vtpm_log_type_names[] = {"HOSTD_START", "VTPM_START", "VTPM_STOP"};

const gchar *
vtc_vtpm_log_type_to_string(VtcVtpmLogType type)
{
        if ((guint)type >= G_N_ELEMENTS(vtc_vtpm_log_type_names))
                return "UNKNOWN";
        return vtc_vtpm_log_type_names[type];
}

static gboolean
vtc_vtpm_log_type_from_string(const gchar *str, VtcVtpmLogType *out)
{
        for (guint i = 0; i < G_N_ELEMENTS(vtc_vtpm_log_type_names); i++) {
                if (g_strcmp0(str, vtc_vtpm_log_type_names[i]) == 0) {
                        *out = (VtcVtpmLogType)i;
                        return TRUE;
                }
        }
        return FALSE;
}

/* ---- entries ---- */

VtcVtpmLogEntry *
vtc_vtpm_log_entry_ref(VtcVtpmLogEntry *entry)
{
        g_atomic_int_inc(&entry->ref_count);
        return entry;
}

void
vtc_vtpm_log_entry_unref(VtcVtpmLogEntry *entry)
{
        if (entry == NULL || !g_atomic_int_dec_and_test(&entry->ref_count))
                return;
        g_free(entry->host);
        g_free(entry->uuid);
        g_free(entry->name);
        g_free(entry->line);
        g_free(entry);
}

/* host and name: 1..@max bytes of UTF-8, no control characters, so a line stays one line and
 * only '"' and '\' need escaping. */
static gboolean
vtc_vtpm_log_check_text(const gchar *value, gsize max, const gchar *what, gint code, GError **error)
{
        gsize len;

        if (value == NULL || value[0] == '\0') {
                g_set_error(error, VTC_ERROR, code, "%s is empty", what);
                return FALSE;
        }
        len = strlen(value);
        if (len > max) {
                g_set_error(error,
                            VTC_ERROR,
                            code,
                            "%s is %" G_GSIZE_FORMAT " bytes, more than %" G_GSIZE_FORMAT,
                            what,
                            len,
                            max);
                return FALSE;
        }
        if (!g_utf8_validate(value, (gssize)len, NULL)) {
                g_set_error(error, VTC_ERROR, code, "%s is not valid UTF-8", what);
                return FALSE;
        }
        for (gsize i = 0; i < len; i++) {
                guchar c = (guchar)value[i];
                if (c < 0x20 || c == 0x7f) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    code,
                                    "%s contains the control character 0x%02x",
                                    what,
                                    c);
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean
vtc_vtpm_log_check_uuid(const gchar *uuid, gint code, GError **error)
{
        gboolean ok = uuid != NULL && strlen(uuid) == 36;

        for (guint i = 0; ok && i < 36; i++) {
                gchar c = uuid[i];
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        ok = c == '-';
                else
                        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        }
        if (!ok) {
                g_set_error(error,
                            VTC_ERROR,
                            code,
                            "uuid '%.40s' is not a lowercase 8-4-4-4-12 UUID",
                            uuid != NULL ? uuid : "");
                return FALSE;
        }
        return TRUE;
}

static void
vtc_vtpm_log_append_json_string(GString *s, const gchar *member, const gchar *value)
{
        g_string_append_printf(s, ",\"%s\":\"", member);
        for (const gchar *p = value; *p != '\0'; p++) {
                if (*p == '"' || *p == '\\')
                        g_string_append_c(s, '\\');
                g_string_append_c(s, *p);
        }
        g_string_append_c(s, '"');
}

/*
 * The one place an entry is made: validates the fields (errors with @code), and writes the
 * canonical line and its digest.
 */
static VtcVtpmLogEntry *
vtc_vtpm_log_entry_new(guint64 seq,
                       VtcVtpmLogType type,
                       gint64 ts,
                       const gchar *host,
                       const gchar *uuid,
                       const gchar *name,
                       const guint8 *ek_sha256,
                       gint code,
                       GError **error)
{
        g_autoptr(VtcVtpmLogEntry) entry = g_new0(VtcVtpmLogEntry, 1);
        g_autoptr(GString) line = g_string_new(NULL);

        entry->ref_count = 1;
        if (seq > (guint64)G_MAXINT64) {
                g_set_error(error, VTC_ERROR, code, "seq %" G_GUINT64_FORMAT " is too big", seq);
                return NULL;
        }
        if (ts < 0 || ts > VTC_VTPM_LOG_MAX_TS) {
                g_set_error(error,
                            VTC_ERROR,
                            code,
                            "ts %" G_GINT64_FORMAT " is not between 0 and %" G_GINT64_FORMAT,
                            ts,
                            VTC_VTPM_LOG_MAX_TS);
                return NULL;
        }
        entry->seq = seq;
        entry->type = type;
        entry->ts = ts;
        g_string_append_printf(line,
                               "{\"seq\":%" G_GUINT64_FORMAT
                               ",\"type\":\"%s\",\"ts\":%" G_GINT64_FORMAT,
                               seq,
                               vtc_vtpm_log_type_to_string(type),
                               ts);
        switch (type) {
        case VTC_VTPM_LOG_HOSTD_START:
                if (!vtc_vtpm_log_check_text(host, VTC_VTPM_LOG_MAX_HOST, "host", code, error))
                        return NULL;
                entry->host = g_strdup(host);
                vtc_vtpm_log_append_json_string(line, "host", host);
                break;
        case VTC_VTPM_LOG_VTPM_START:
        case VTC_VTPM_LOG_VTPM_STOP:
                if (!vtc_vtpm_log_check_uuid(uuid, code, error) ||
                    !vtc_vtpm_log_check_text(name, VTC_VTPM_LOG_MAX_NAME, "name", code, error))
                        return NULL;
                entry->uuid = g_strdup(uuid);
                entry->name = g_strdup(name);
                vtc_vtpm_log_append_json_string(line, "uuid", uuid);
                vtc_vtpm_log_append_json_string(line, "name", name);
                if (type == VTC_VTPM_LOG_VTPM_START) {
                        g_autofree gchar *hex = NULL;
                        if (ek_sha256 == NULL) {
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    code,
                                                    "a VTPM_START needs the EK digest");
                                return NULL;
                        }
                        memcpy(entry->ek_sha256, ek_sha256, VTC_VTPM_LOG_DIGEST_SIZE);
                        hex = vtc_hex_encode(ek_sha256, VTC_VTPM_LOG_DIGEST_SIZE);
                        vtc_vtpm_log_append_json_string(line, "ek_sha256", hex);
                }
                break;
        default:
                g_set_error(error, VTC_ERROR, code, "unknown entry type %d", (gint)type);
                return NULL;
        }
        g_string_append_c(line, '}');
        if (line->len > VTC_VTPM_LOG_MAX_LINE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "entry is %" G_GSIZE_FORMAT " bytes, more than %u",
                            line->len,
                            VTC_VTPM_LOG_MAX_LINE);
                return NULL;
        }
        if (!vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                      (const guint8 *)line->str,
                      line->len,
                      entry->digest,
                      error))
                return NULL;
        entry->line_len = line->len;
        entry->line = g_string_free(g_steal_pointer(&line), FALSE);
        return g_steal_pointer(&entry);
}

/* The members each type has, in canonical order after seq, type and ts. */
static const gchar *const vtc_vtpm_log_members[][4] = {
    [VTC_VTPM_LOG_HOSTD_START] = {"host", NULL},
    [VTC_VTPM_LOG_VTPM_START] = {"uuid", "name", "ek_sha256", NULL},
    [VTC_VTPM_LOG_VTPM_STOP] = {"uuid", "name", NULL},
};

static gboolean
vtc_vtpm_log_member_known(VtcVtpmLogType type, const gchar *name)
{
        if (g_strcmp0(name, "seq") == 0 || g_strcmp0(name, "type") == 0 ||
            g_strcmp0(name, "ts") == 0)
                return TRUE;
        for (guint i = 0; vtc_vtpm_log_members[type][i] != NULL; i++) {
                if (g_strcmp0(name, vtc_vtpm_log_members[type][i]) == 0)
                        return TRUE;
        }
        return FALSE;
}

/* Parses one line (without its '\n') that must hold entry @seq. */
static VtcVtpmLogEntry *
vtc_vtpm_log_entry_parse(const gchar *line, gsize len, guint64 seq, GError **error)
{
        const VtcJsonLimits limits = {VTC_VTPM_LOG_MAX_LINE, 2, VTC_VTPM_LOG_MAX_LINE, 8};
        g_autoptr(JsonObject) obj = NULL;
        g_autoptr(VtcVtpmLogEntry) entry = NULL;
        gint64 got_seq = 0;
        gint64 ts = 0;
        const gchar *type_str;
        VtcVtpmLogType type = VTC_VTPM_LOG_HOSTD_START;
        const gchar *host = NULL;
        const gchar *uuid = NULL;
        const gchar *name = NULL;
        guint8 ek[VTC_VTPM_LOG_DIGEST_SIZE] = {0};
        guint n_members = 3;
        JsonObjectIter iter;
        const gchar *member;
        JsonNode *node;

        if (len == 0) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "empty line");
                return NULL;
        }
        if (len > VTC_VTPM_LOG_MAX_LINE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "line of %" G_GSIZE_FORMAT " bytes, more than %u",
                            len,
                            VTC_VTPM_LOG_MAX_LINE);
                return NULL;
        }
        obj = vtc_json_parse_object(line, len, &limits, error);
        if (obj == NULL)
                return NULL;
        if (!vtc_json_get_int(obj, "seq", 0, G_MAXINT64, TRUE, &got_seq, error))
                return NULL;
        if ((guint64)got_seq != seq) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "seq is %" G_GINT64_FORMAT ", expected %" G_GUINT64_FORMAT
                            " (entries missing, repeated or out of order)",
                            got_seq,
                            seq);
                return NULL;
        }
        type_str = vtc_json_get_string(obj, "type", TRUE, error);
        if (type_str == NULL)
                return NULL;
        if (!vtc_vtpm_log_type_from_string(type_str, &type)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "unknown type '%.32s'",
                            type_str);
                return NULL;
        }
        if (!vtc_json_get_int(obj, "ts", 0, VTC_VTPM_LOG_MAX_TS, TRUE, &ts, error))
                return NULL;
        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &member, &node)) {
                if (!vtc_vtpm_log_member_known(type, member)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unexpected member '%.32s' in a %s entry",
                                    member,
                                    type_str);
                        return NULL;
                }
        }
        if (type == VTC_VTPM_LOG_HOSTD_START) {
                host = vtc_json_get_string(obj, "host", TRUE, error);
                if (host == NULL)
                        return NULL;
                n_members += 1;
        } else {
                uuid = vtc_json_get_string(obj, "uuid", TRUE, error);
                if (uuid == NULL)
                        return NULL;
                name = vtc_json_get_string(obj, "name", TRUE, error);
                if (name == NULL)
                        return NULL;
                n_members += 2;
                if (type == VTC_VTPM_LOG_VTPM_START) {
                        const gchar *hex = vtc_json_get_string(obj, "ek_sha256", TRUE, error);
                        gboolean lower = hex != NULL && strlen(hex) == 64;
                        if (hex == NULL)
                                return NULL;
                        for (guint i = 0; lower && i < 64; i++)
                                lower = g_ascii_isdigit(hex[i]) || (hex[i] >= 'a' && hex[i] <= 'f');
                        if (!lower || !vtc_hex_decode_fixed(hex, ek, sizeof(ek), NULL)) {
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_INVALID_DATA,
                                                    "ek_sha256 is not 64 lowercase hex digits");
                                return NULL;
                        }
                        n_members += 1;
                }
        }
        /* every member is known and present; more would be a duplicate json-glib dropped, which
         * the canonical comparison below also catches */
        if (json_object_get_size(obj) != n_members) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "wrong number of members");
                return NULL;
        }
        entry = vtc_vtpm_log_entry_new(seq,
                                       type,
                                       ts,
                                       host,
                                       uuid,
                                       name,
                                       ek,
                                       VTC_ERROR_INVALID_DATA,
                                       error);
        if (entry == NULL)
                return NULL;
        if (entry->line_len != len || memcmp(entry->line, line, len) != 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "not in canonical form (member order, spacing, escapes or a "
                                    "duplicate member differ from what vtc writes)");
                return NULL;
        }
        return g_steal_pointer(&entry);
}

/* @pcr = SHA-256(@pcr || @digest) */
static gboolean
vtc_vtpm_log_extend_value(guint8 *pcr, const guint8 *digest, GError **error)
{
        guint8 buf[2 * VTC_VTPM_LOG_DIGEST_SIZE];

        memcpy(buf, pcr, VTC_VTPM_LOG_DIGEST_SIZE);
        memcpy(buf + VTC_VTPM_LOG_DIGEST_SIZE, digest, VTC_VTPM_LOG_DIGEST_SIZE);
        return vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), buf, sizeof(buf), pcr, error);
}

/*
 * Replays complete lines from @data into @pcr (in/out), and @entries (when not NULL) the
 * entries.
 */
static gboolean
vtc_vtpm_log_replay_lines(const gchar *data,
                          gsize len,
                          guint64 first_seq,
                          guint8 *pcr,
                          guint64 *out_count,
                          GPtrArray *entries,
                          GError **error)
{
        gsize pos = 0;
        guint64 n = 0;

        while (pos < len) {
                gsize rest = len - pos;
                gsize window = MIN(rest, (gsize)VTC_VTPM_LOG_MAX_LINE + 1);
                const gchar *nl = memchr(data + pos, '\n', window);
                g_autoptr(VtcVtpmLogEntry) entry = NULL;
                gsize line_len;

                if (first_seq > (guint64)G_MAXINT64 - n) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "seq overflows");
                        return FALSE;
                }
                if (nl == NULL) {
                        if (rest > VTC_VTPM_LOG_MAX_LINE)
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TOO_LARGE,
                                            "line longer than %u bytes",
                                            VTC_VTPM_LOG_MAX_LINE);
                        else
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_INVALID_DATA,
                                                    "no newline at the end of the last line");
                        g_prefix_error(error,
                                       "line %" G_GUINT64_FORMAT " (seq %" G_GUINT64_FORMAT "): ",
                                       n + 1,
                                       first_seq + n);
                        return FALSE;
                }
                line_len = (gsize)(nl - (data + pos));
                entry = vtc_vtpm_log_entry_parse(data + pos, line_len, first_seq + n, error);
                if (entry == NULL) {
                        g_prefix_error(error,
                                       "line %" G_GUINT64_FORMAT " (seq %" G_GUINT64_FORMAT "): ",
                                       n + 1,
                                       first_seq + n);
                        return FALSE;
                }
                if (!vtc_vtpm_log_extend_value(pcr, entry->digest, error))
                        return FALSE;
                if (entries != NULL)
                        g_ptr_array_add(entries, g_steal_pointer(&entry));
                pos += line_len + 1;
                n++;
        }
        *out_count = n;
        return TRUE;
}

gboolean
vtc_vtpm_log_replay_data_from(const guint8 *data,
                              gsize len,
                              guint64 first_seq,
                              const guint8 *start_pcr,
                              guint8 *out_pcr,
                              guint64 *out_count,
                              GPtrArray **out_entries,
                              GError **error)
{
        guint8 pcr[VTC_VTPM_LOG_DIGEST_SIZE] = {0};
        guint64 count = 0;
        g_autoptr(GPtrArray) entries = NULL;

        g_return_val_if_fail(data != NULL || len == 0, FALSE);
        if (len > VTC_VTPM_LOG_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "vTPM log of %" G_GSIZE_FORMAT " bytes, more than %u",
                            len,
                            (guint)VTC_VTPM_LOG_MAX_SIZE);
                return FALSE;
        }
        if (first_seq > (guint64)G_MAXINT64) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "first seq is too big");
                return FALSE;
        }
        if (start_pcr != NULL)
                memcpy(pcr, start_pcr, sizeof(pcr));
        if (out_entries != NULL)
                entries = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_vtpm_log_entry_unref);
        if (!vtc_vtpm_log_replay_lines((const gchar *)data,
                                       len,
                                       first_seq,
                                       pcr,
                                       &count,
                                       entries,
                                       error))
                return FALSE;
        if (out_pcr != NULL)
                memcpy(out_pcr, pcr, sizeof(pcr));
        if (out_count != NULL)
                *out_count = count;
        if (out_entries != NULL)
                *out_entries = g_steal_pointer(&entries);
        return TRUE;
}

gboolean
vtc_vtpm_log_replay_data(const guint8 *data,
                         gsize len,
                         guint8 *out_pcr,
                         guint64 *out_count,
                         GError **error)
{
        return vtc_vtpm_log_replay_data_from(data, len, 0, NULL, out_pcr, out_count, NULL, error);
}

/* ---- the file ---- */

static gboolean
vtc_vtpm_log_set_errno(GError **error, gint err, const gchar *what, const gchar *path)
{
        g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s %s: %s", what, path, g_strerror(err));
        return FALSE;
}

/* Makes a new or renamed name in @path's directory durable. */
static gboolean
vtc_vtpm_log_sync_dir(const gchar *path, GError **error)
{
        g_autofree gchar *dir = g_path_get_dirname(path);
        vtc_autofd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return vtc_vtpm_log_set_errno(error, errno, "opening", dir);
        if (fsync(fd) != 0)
                return vtc_vtpm_log_set_errno(error, errno, "syncing", dir);
        return TRUE;
}

/* Opens (@create: creates, failing when it exists) and locks the log file. */
static gint
vtc_vtpm_log_open_fd(const gchar *path, gboolean create, GError **error)
{
        gint flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
        vtc_autofd int fd = -1;
        struct stat st;

        fd = create ? open(path, flags | O_CREAT | O_EXCL, 0640) : open(path, flags);
        if (fd < 0) {
                vtc_vtpm_log_set_errno(error, errno, create ? "creating" : "opening", path);
                return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                if (errno == EWOULDBLOCK)
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_CONFLICT,
                                    "vTPM log %s is in use by another process",
                                    path);
                else
                        vtc_vtpm_log_set_errno(error, errno, "locking", path);
                return -1;
        }
        if (fstat(fd, &st) != 0) {
                vtc_vtpm_log_set_errno(error, errno, "examining", path);
                return -1;
        }
        if (!S_ISREG(st.st_mode)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "vTPM log %s is not a regular file",
                            path);
                return -1;
        }
        if (create && !vtc_vtpm_log_sync_dir(path, error))
                return -1;
        return g_steal_fd(&fd);
}

/* Reads the whole file behind @fd (at most VTC_VTPM_LOG_MAX_SIZE bytes). */
static GBytes *
vtc_vtpm_log_read_fd(gint fd, const gchar *path, GError **error)
{
        g_autoptr(GByteArray) buf = g_byte_array_new();
        guint8 chunk[65536];
        off_t off = 0;

        for (;;) {
                ssize_t n = pread(fd, chunk, sizeof(chunk), off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        vtc_vtpm_log_set_errno(error, errno, "reading", path);
                        return NULL;
                }
                if (n == 0)
                        break;
                if (buf->len + (gsize)n > VTC_VTPM_LOG_MAX_SIZE) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "vTPM log %s is larger than %u bytes",
                                    path,
                                    (guint)VTC_VTPM_LOG_MAX_SIZE);
                        return NULL;
                }
                g_byte_array_append(buf, chunk, (guint)n);
                off += n;
        }
        return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

/* Under @lock: makes @entry the log's last. */
static void
vtc_vtpm_log_state_add(VtcVtpmLog *self, VtcVtpmLogEntry *entry)
{
        memcpy(self->prev_replay, self->replay, VTC_VTPM_LOG_DIGEST_SIZE);
        /* SHA-256 of 64 bytes in memory: OpenSSL does not fail here */
        (void)vtc_vtpm_log_extend_value(self->replay, entry->digest, NULL);
        if (entry->uuid != NULL)
                g_hash_table_replace(self->vms,
                                     g_strdup(entry->uuid),
                                     vtc_vtpm_log_entry_ref(entry));
        g_ptr_array_add(self->entries, vtc_vtpm_log_entry_ref(entry));
}

/* Under @lock: forgets every entry. */
static void
vtc_vtpm_log_state_clear(VtcVtpmLog *self)
{
        g_ptr_array_set_size(self->entries, 0);
        g_hash_table_remove_all(self->vms);
        memset(self->replay, 0, sizeof(self->replay));
        memset(self->prev_replay, 0, sizeof(self->prev_replay));
}

void
vtc_vtpm_log_free(VtcVtpmLog *self)
{
        if (self == NULL)
                return;
        if (self->fd >= 0)
                close(self->fd);
        g_ptr_array_unref(self->entries);
        g_hash_table_unref(self->vms);
        g_mutex_clear(&self->append_lock);
        g_mutex_clear(&self->lock);
        g_free(self->path);
        g_free(self);
}

static VtcVtpmLog *
vtc_vtpm_log_new(const gchar *path)
{
        VtcVtpmLog *self = g_new0(VtcVtpmLog, 1);

        self->path = g_strdup(path);
        self->fd = -1;
        g_mutex_init(&self->append_lock);
        g_mutex_init(&self->lock);
        self->entries = g_ptr_array_new_with_free_func((GDestroyNotify)vtc_vtpm_log_entry_unref);
        self->vms = g_hash_table_new_full(g_str_hash,
                                          g_str_equal,
                                          g_free,
                                          (GDestroyNotify)vtc_vtpm_log_entry_unref);
        return self;
}

VtcVtpmLog *
vtc_vtpm_log_open(const gchar *path, GError **error)
{
        g_autoptr(VtcVtpmLog) self = vtc_vtpm_log_new(path);
        g_autoptr(GBytes) data = NULL;
        g_autoptr(GPtrArray) entries =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_vtpm_log_entry_unref);
        const gchar *buf;
        gsize len = 0;
        gsize keep;
        const gchar *last_nl;
        guint64 count = 0;
        guint8 pcr[VTC_VTPM_LOG_DIGEST_SIZE] = {0};
        g_autoptr(GError) error_local = NULL;

        self->fd = vtc_vtpm_log_open_fd(path, FALSE, &error_local);
        if (self->fd < 0 && g_error_matches(error_local, VTC_ERROR, VTC_ERROR_IO) &&
            !g_file_test(path, G_FILE_TEST_EXISTS)) {
                g_clear_error(&error_local);
                self->fd = vtc_vtpm_log_open_fd(path, TRUE, &error_local);
        }
        if (self->fd < 0) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return NULL;
        }
        data = vtc_vtpm_log_read_fd(self->fd, path, error);
        if (data == NULL)
                return NULL;
        buf = g_bytes_get_data(data, &len);
        /* a final line without '\n' is a torn append: never extended, so never written */
        last_nl = len > 0 ? memrchr(buf, '\n', len) : NULL;
        keep = last_nl != NULL ? (gsize)(last_nl - buf) + 1 : 0;
        if (!vtc_vtpm_log_replay_lines(buf, keep, 0, pcr, &count, entries, error)) {
                g_prefix_error(error, "vTPM log %s: ", path);
                return NULL;
        }
        if (len - keep > VTC_VTPM_LOG_MAX_LINE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "vTPM log %s: line %" G_GUINT64_FORMAT " has %" G_GSIZE_FORMAT
                            " bytes without a newline: longer than any entry, so not a torn "
                            "append",
                            path,
                            count + 1,
                            len - keep);
                return NULL;
        }
        if (keep < len) {
                if (ftruncate(self->fd, (off_t)keep) != 0 || fsync(self->fd) != 0) {
                        vtc_vtpm_log_set_errno(error, errno, "truncating the torn line of", path);
                        return NULL;
                }
                self->torn_bytes = len - keep;
        }
        self->size = keep;
        for (guint i = 0; i < entries->len; i++)
                vtc_vtpm_log_state_add(self, g_ptr_array_index(entries, i));
        /* the last entry's extend may have been lost: check_pcr() first */
        self->need_check = count > 0;
        return g_steal_pointer(&self);
}

const gchar *
vtc_vtpm_log_get_path(VtcVtpmLog *self)
{
        return self->path;
}

gsize
vtc_vtpm_log_get_torn_bytes(VtcVtpmLog *self)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        return self->torn_bytes;
}

static VtcVtpmLogEntry *
vtc_vtpm_log_append(VtcVtpmLog *self,
                    VtcVtpmLogType type,
                    gint64 ts,
                    const gchar *host,
                    const gchar *uuid,
                    const gchar *name,
                    const guint8 *ek_sha256,
                    VtcVtpmLogExtendFunc extend_cb,
                    gpointer user_data,
                    GError **error)
{
        g_autoptr(GMutexLocker) append_locker G_GNUC_UNUSED =
            g_mutex_locker_new(&self->append_lock);
        g_autoptr(VtcVtpmLogEntry) entry = NULL;
        g_autofree gchar *buf = NULL;
        gsize len;
        ssize_t n;
        guint64 seq;

        if (self->broken) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "vTPM log %s: an earlier write failed, its state on disk is unknown: "
                            "reopen it",
                            self->path);
                return NULL;
        }
        if (self->need_check) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "vTPM log %s: the PCR may lag the log (just opened, or an extend "
                            "failed): check it against the PCR before appending",
                            self->path);
                return NULL;
        }
        {
                g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
                seq = self->entries->len;
        }
        entry = vtc_vtpm_log_entry_new(seq,
                                       type,
                                       ts,
                                       host,
                                       uuid,
                                       name,
                                       ek_sha256,
                                       VTC_ERROR_INVALID_ARGUMENT,
                                       error);
        if (entry == NULL)
                return NULL;
        len = entry->line_len + 1;
        if (self->size + len > VTC_VTPM_LOG_MAX_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "vTPM log %s is full (%u bytes): rotate it",
                            self->path,
                            (guint)VTC_VTPM_LOG_MAX_SIZE);
                return NULL;
        }
        buf = g_malloc(len);
        memcpy(buf, entry->line, entry->line_len);
        buf[len - 1] = '\n';
        /* one write: a crash leaves the line whole or torn, never interleaved */
        do {
                n = write(self->fd, buf, len);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
                vtc_vtpm_log_set_errno(error, errno, "appending to", self->path);
                return NULL;
        }
        if ((gsize)n != len) {
                /* take the partial line back; if that fails too, nobody knows what is there */
                if (ftruncate(self->fd, (off_t)self->size) != 0 || fdatasync(self->fd) != 0)
                        self->broken = TRUE;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "appending to %s: short write of %zd of %" G_GSIZE_FORMAT " bytes",
                            self->path,
                            n,
                            len);
                return NULL;
        }
        if (fdatasync(self->fd) != 0) {
                self->broken = TRUE;
                vtc_vtpm_log_set_errno(error, errno, "syncing", self->path);
                return NULL;
        }
        self->size += len;
        if (extend_cb != NULL &&
            !extend_cb(entry->digest, VTC_VTPM_LOG_DIGEST_SIZE, user_data, error)) {
                g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
                /* the file holds the entry: so does the log, and check_pcr() offers the repair */
                vtc_vtpm_log_state_add(self, entry);
                self->need_check = TRUE;
                g_prefix_error(error,
                               "extending vTPM log entry %" G_GUINT64_FORMAT ": ",
                               entry->seq);
                return NULL;
        }
        {
                g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
                vtc_vtpm_log_state_add(self, entry);
        }
        return g_steal_pointer(&entry);
}

VtcVtpmLogEntry *
vtc_vtpm_log_append_hostd_start(VtcVtpmLog *self,
                                gint64 ts,
                                const gchar *host,
                                VtcVtpmLogExtendFunc extend_cb,
                                gpointer user_data,
                                GError **error)
{
        return vtc_vtpm_log_append(self,
                                   VTC_VTPM_LOG_HOSTD_START,
                                   ts,
                                   host,
                                   NULL,
                                   NULL,
                                   NULL,
                                   extend_cb,
                                   user_data,
                                   error);
}

VtcVtpmLogEntry *
vtc_vtpm_log_append_vtpm_start(VtcVtpmLog *self,
                               gint64 ts,
                               const gchar *uuid,
                               const gchar *name,
                               const guint8 *ek_sha256,
                               VtcVtpmLogExtendFunc extend_cb,
                               gpointer user_data,
                               GError **error)
{
        return vtc_vtpm_log_append(self,
                                   VTC_VTPM_LOG_VTPM_START,
                                   ts,
                                   NULL,
                                   uuid,
                                   name,
                                   ek_sha256,
                                   extend_cb,
                                   user_data,
                                   error);
}

VtcVtpmLogEntry *
vtc_vtpm_log_append_vtpm_stop(VtcVtpmLog *self,
                              gint64 ts,
                              const gchar *uuid,
                              const gchar *name,
                              VtcVtpmLogExtendFunc extend_cb,
                              gpointer user_data,
                              GError **error)
{
        return vtc_vtpm_log_append(self,
                                   VTC_VTPM_LOG_VTPM_STOP,
                                   ts,
                                   NULL,
                                   uuid,
                                   name,
                                   NULL,
                                   extend_cb,
                                   user_data,
                                   error);
}

gboolean
vtc_vtpm_log_check_pcr(VtcVtpmLog *self,
                       guint pcr_index,
                       const guint8 *pcr,
                       gsize pcr_len,
                       GBytes **out_repair_digest,
                       GError **error)
{
        g_autoptr(GMutexLocker) append_locker G_GNUC_UNUSED =
            g_mutex_locker_new(&self->append_lock);
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        static const guint8 zero[VTC_VTPM_LOG_DIGEST_SIZE] = {0};
        guint64 count = self->entries->len;
        g_autofree gchar *pcr_hex = NULL;
        g_autofree gchar *replay_hex = NULL;

        if (pcr == NULL || pcr_len != VTC_VTPM_LOG_DIGEST_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a SHA-256 PCR value is 32 bytes, not %" G_GSIZE_FORMAT,
                            pcr_len);
                return FALSE;
        }
        if (memcmp(pcr, self->replay, VTC_VTPM_LOG_DIGEST_SIZE) == 0) {
                self->need_check = FALSE;
                if (out_repair_digest != NULL)
                        *out_repair_digest = NULL;
                return TRUE;
        }
        if (count > 0 && memcmp(pcr, self->prev_replay, VTC_VTPM_LOG_DIGEST_SIZE) == 0) {
                const VtcVtpmLogEntry *last = g_ptr_array_index(self->entries, count - 1);
                if (out_repair_digest != NULL)
                        *out_repair_digest = g_bytes_new(last->digest, VTC_VTPM_LOG_DIGEST_SIZE);
                return TRUE;
        }
        pcr_hex = vtc_hex_encode(pcr, VTC_VTPM_LOG_DIGEST_SIZE);
        replay_hex = vtc_hex_encode(self->replay, VTC_VTPM_LOG_DIGEST_SIZE);
        if (count == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "vTPM log and PCR %u disagree: the log %s is empty but the PCR is %s, "
                            "not zero",
                            pcr_index,
                            self->path,
                            pcr_hex);
        } else if (memcmp(pcr, zero, sizeof(zero)) == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "vTPM log and PCR %u disagree: the PCR is all zero (reset, as by a "
                            "host reboot) but the log %s holds %" G_GUINT64_FORMAT " entries",
                            pcr_index,
                            self->path,
                            count);
        } else {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_VERIFY_FAILED,
                    "vTPM log and PCR %u disagree: the PCR is %s but replaying the %" G_GUINT64_FORMAT
                    " entries of %s gives %s, and not even all but the last match: the log "
                    "or the PCR was changed",
                    pcr_index,
                    pcr_hex,
                    count,
                    self->path,
                    replay_hex);
        }
        return FALSE;
}

gchar *
vtc_vtpm_log_rotate(VtcVtpmLog *self, GError **error)
{
        g_autoptr(GMutexLocker) append_locker G_GNUC_UNUSED =
            g_mutex_locker_new(&self->append_lock);
        g_autofree gchar *rotated = NULL;
        gint fd;

        for (guint i = 1; rotated == NULL; i++) {
                g_autofree gchar *candidate = NULL;
                if (i > VTC_VTPM_LOG_MAX_ROTATIONS) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_CONFLICT,
                                    "vTPM log %s: %s.1 to %s.%u all exist",
                                    self->path,
                                    self->path,
                                    self->path,
                                    (guint)VTC_VTPM_LOG_MAX_ROTATIONS);
                        return NULL;
                }
                candidate = g_strdup_printf("%s.%u", self->path, i);
                if (renameat2(AT_FDCWD, self->path, AT_FDCWD, candidate, RENAME_NOREPLACE) == 0)
                        rotated = g_steal_pointer(&candidate);
                else if (errno != EEXIST) {
                        vtc_vtpm_log_set_errno(error, errno, "rotating", self->path);
                        return NULL;
                }
        }
        /* from here self->fd is the rotated file: nothing may be appended to it */
        fd = vtc_vtpm_log_open_fd(self->path, TRUE, error);
        if (fd < 0) {
                self->broken = TRUE;
                g_prefix_error(error, "rotated to %s, but: ", rotated);
                return NULL;
        }
        {
                g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
                close(self->fd);
                self->fd = fd;
                vtc_vtpm_log_state_clear(self);
                self->torn_bytes = 0;
        }
        self->size = 0;
        self->broken = FALSE;
        self->need_check = FALSE;
        return g_steal_pointer(&rotated);
}

guint64
vtc_vtpm_log_get_count(VtcVtpmLog *self)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        return self->entries->len;
}

void
vtc_vtpm_log_get_replay(VtcVtpmLog *self, guint8 *out_pcr, guint64 *out_count)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        if (out_pcr != NULL)
                memcpy(out_pcr, self->replay, VTC_VTPM_LOG_DIGEST_SIZE);
        if (out_count != NULL)
                *out_count = self->entries->len;
}

VtcVtpmLogEntry *
vtc_vtpm_log_get_entry(VtcVtpmLog *self, guint64 seq)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        if (seq >= self->entries->len)
                return NULL;
        return vtc_vtpm_log_entry_ref(g_ptr_array_index(self->entries, seq));
}

/* Under @lock: checks a range and resolves G_MAXUINT64. */
static gboolean
vtc_vtpm_log_check_range(VtcVtpmLog *self, guint64 from_seq, guint64 *to_seq, GError **error)
{
        guint64 count = self->entries->len;

        if (*to_seq == G_MAXUINT64)
                *to_seq = count;
        if (from_seq > count || *to_seq > count || from_seq > *to_seq) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "entries %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                            " are not in a vTPM log of %" G_GUINT64_FORMAT " entries",
                            from_seq,
                            *to_seq,
                            count);
                return FALSE;
        }
        return TRUE;
}

GBytes *
vtc_vtpm_log_get_data(VtcVtpmLog *self, guint64 from_seq, guint64 to_seq, GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autoptr(GByteArray) buf = NULL;
        gsize total = 0;

        if (!vtc_vtpm_log_check_range(self, from_seq, &to_seq, error))
                return NULL;
        for (guint64 i = from_seq; i < to_seq; i++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(self->entries, i);
                total += e->line_len + 1;
        }
        buf = g_byte_array_sized_new((guint)total);
        for (guint64 i = from_seq; i < to_seq; i++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(self->entries, i);
                g_byte_array_append(buf, (const guint8 *)e->line, (guint)e->line_len);
                g_byte_array_append(buf, (const guint8 *)"\n", 1);
        }
        return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

GPtrArray *
vtc_vtpm_log_get_entries(VtcVtpmLog *self, guint64 from_seq, guint64 to_seq, GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autoptr(GPtrArray) out = NULL;

        if (!vtc_vtpm_log_check_range(self, from_seq, &to_seq, error))
                return NULL;
        out = g_ptr_array_new_full((guint)(to_seq - from_seq),
                                   (GDestroyNotify)vtc_vtpm_log_entry_unref);
        for (guint64 i = from_seq; i < to_seq; i++)
                g_ptr_array_add(out, vtc_vtpm_log_entry_ref(g_ptr_array_index(self->entries, i)));
        return g_steal_pointer(&out);
}

/* ---- lookups ---- */

VtcVtpmLogEntry *
vtc_vtpm_log_lookup_vm(VtcVtpmLog *self, const gchar *uuid)
{
        g_autofree gchar *key = g_ascii_strdown(uuid, -1);
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        VtcVtpmLogEntry *entry = g_hash_table_lookup(self->vms, key);

        return entry != NULL ? vtc_vtpm_log_entry_ref(entry) : NULL;
}

gboolean
vtc_vtpm_log_vm_is_running(VtcVtpmLog *self, const gchar *uuid, const guint8 *ek_sha256)
{
        g_autoptr(VtcVtpmLogEntry) entry = vtc_vtpm_log_lookup_vm(self, uuid);

        if (entry == NULL || entry->type != VTC_VTPM_LOG_VTPM_START)
                return FALSE;
        return ek_sha256 == NULL ||
               memcmp(entry->ek_sha256, ek_sha256, VTC_VTPM_LOG_DIGEST_SIZE) == 0;
}

static gint
vtc_vtpm_log_entry_cmp_seq(gconstpointer a, gconstpointer b)
{
        const VtcVtpmLogEntry *ea = *(VtcVtpmLogEntry *const *)a;
        const VtcVtpmLogEntry *eb = *(VtcVtpmLogEntry *const *)b;

        return ea->seq < eb->seq ? -1 : ea->seq > eb->seq ? 1 : 0;
}

static GPtrArray *
vtc_vtpm_log_collect_running(VtcVtpmLog *self, const guint8 *ek_sha256)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autoptr(GPtrArray) out =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_vtpm_log_entry_unref);
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, self->vms);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                VtcVtpmLogEntry *entry = value;
                if (entry->type != VTC_VTPM_LOG_VTPM_START)
                        continue;
                if (ek_sha256 != NULL &&
                    memcmp(entry->ek_sha256, ek_sha256, VTC_VTPM_LOG_DIGEST_SIZE) != 0)
                        continue;
                g_ptr_array_add(out, vtc_vtpm_log_entry_ref(entry));
        }
        g_ptr_array_sort(out, vtc_vtpm_log_entry_cmp_seq);
        return g_steal_pointer(&out);
}

GPtrArray *
vtc_vtpm_log_get_running(VtcVtpmLog *self)
{
        return vtc_vtpm_log_collect_running(self, NULL);
}

GPtrArray *
vtc_vtpm_log_find_running_by_ek(VtcVtpmLog *self, const guint8 *ek_sha256)
{
        g_return_val_if_fail(ek_sha256 != NULL, NULL);
        return vtc_vtpm_log_collect_running(self, ek_sha256);
}
