/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-api.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-tpm.h"
#include "vtc-util.h"

struct _VtcHostdApi {
        gchar *host_id;
        VtcHostdTpm *tpm;
        VtcHostdBatch *batch;
        VtcVtpmLog *log;
        VtcHostdChannel *channel; /* NULL: no VM has a channel */
        guint vtpm_pcr;
        TPML_PCR_SELECTION selection;
        gchar *boot_log;
        gchar *ima_log;
        gsize log_chunk;
        guint vtpm_entries;
        SoupServer *server;
        GHashTable *calls;    /* VtcHostdApiCall: bindings being answered (main thread) */
        GHashTable *requests; /* "call\tstatus" -> count, for /metrics (main thread) */
        /* the log readers (threads) that still use this object */
        GMutex lock;
        GCond cond;
        guint n_readers;
};

/*
 * One POST /v1/rounds request: its entries' answers, gathered until the last one is in. Each
 * entry still running holds it through its call (main thread only).
 */
typedef struct {
        SoupServerMessage *msg;
        gboolean paused;
        guint n;
        guint pending; /* entries' calls still running, and one while they are being started */
        guint *status; /* each entry's HTTP status ... */
        gchar **body;  /* ... and its answer, JSON text as /v1/round would have sent it */
} VtcHostdApiMany;

/* One bind or round request, from its parse to its answer. */
typedef struct {
        VtcHostdApi *api;       /* NULL once the API is gone; main thread only */
        SoupServerMessage *msg; /* NULL for an entry of a /v1/rounds request */
        VtcHostdApiMany *many;  /* the /v1/rounds request this is entry @index of, or NULL */
        guint index;
        const gchar *call;     /* "bind" or "round", for /metrics */
        VtcChannelRound round; /* round requests */
        JsonObject *evidence;  /* round requests: the guest's answer */
        gchar uuid[37];        /* lower case */
        guint8 uuid_bytes[16];
        guint8 binding[VTC_MERKLE_HASH_SIZE];
        guint64 off_boot;
        guint64 off_ima;
        guint64 off_vtpm;
        VtcHostdBatchAnswer *answer;
        VtcHostdApi *reader_api; /* the reader thread's: alive until it has finished */
        gchar *reply;
        guint status;
} VtcHostdApiCall;

static void vtc_hostd_api_many_release(VtcHostdApi *self, VtcHostdApiMany *many);

/* An entry's call gone with its API leaves its slot empty: the request is dropped unanswered. */
static void
vtc_hostd_api_call_free(VtcHostdApiCall *call)
{
        VtcHostdApiMany *many;
        VtcHostdApi *api;

        if (call == NULL)
                return;
        many = call->many;
        api = call->api;
        g_clear_object(&call->msg);
        g_clear_pointer(&call->evidence, json_object_unref);
        vtc_hostd_batch_answer_free(call->answer);
        g_free(call->reply);
        g_free(call);
        if (many != NULL)
                vtc_hostd_api_many_release(api, many);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdApiCall, vtc_hostd_api_call_free)

/* ---- replies ----------------------------------------------------------------------------- */

static void
vtc_hostd_api_count(VtcHostdApi *self, const gchar *call, guint status)
{
        g_autofree gchar *key = g_strdup_printf("%s\t%u", call, status);
        gpointer old = NULL;
        guint64 *n;

        if (g_hash_table_lookup_extended(self->requests, key, NULL, &old)) {
                n = old;
                (*n)++;
                return;
        }
        n = g_new(guint64, 1);
        *n = 1;
        g_hash_table_insert(self->requests, g_steal_pointer(&key), n);
}

static void
vtc_hostd_api_reply_error(VtcHostdApi *self,
                          SoupServerMessage *msg,
                          const gchar *call,
                          const GError *error)
{
        vtc_http_reply_error(msg, error);
        vtc_hostd_api_count(self, call, soup_server_message_get_status(msg));
}

/* {"error": @code, "message": @message}: the body vtc_http_reply_error() sends. */
static gchar *
vtc_hostd_api_error_body(const gchar *code, const gchar *message)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, code);
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, message);
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

static gchar *
vtc_hostd_api_error_body_for(const GError *error)
{
        return vtc_hostd_api_error_body(vtc_error_to_string(error),
                                        error != NULL ? error->message : "unknown error");
}

static void
vtc_hostd_api_reply_method(VtcHostdApi *self,
                           SoupServerMessage *msg,
                           const gchar *call,
                           const gchar *allow)
{
        g_autoptr(GError) error = g_error_new(VTC_ERROR,
                                              VTC_ERROR_INVALID_ARGUMENT,
                                              "%s takes only %s",
                                              soup_server_message_get_uri(msg) != NULL
                                                  ? g_uri_get_path(soup_server_message_get_uri(msg))
                                                  : "this resource",
                                              allow);

        vtc_http_reply_error(msg, error);
        soup_server_message_set_status(msg, 405, NULL);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", allow);
        vtc_hostd_api_count(self, call, 405);
}

static void
vtc_hostd_api_reply_text(VtcHostdApi *self,
                         SoupServerMessage *msg,
                         const gchar *call,
                         guint status,
                         const gchar *content_type,
                         gchar *body)
{
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg, content_type, SOUP_MEMORY_TAKE, body, strlen(body));
        vtc_hostd_api_count(self, call, status);
}

/* Entry @index of @many is answered: counted as a round of its own. Takes @body. */
static void
vtc_hostd_api_many_set(VtcHostdApi *self,
                       VtcHostdApiMany *many,
                       guint index,
                       guint status,
                       gchar *body)
{
        vtc_hostd_api_count(self, "round", status);
        many->status[index] = status;
        g_free(many->body[index]);
        many->body[index] = body;
}

static void
vtc_hostd_api_many_free(VtcHostdApiMany *many)
{
        g_clear_object(&many->msg);
        for (guint i = 0; i < many->n; i++)
                g_free(many->body[i]);
        g_free(many->body);
        g_free(many->status);
        g_free(many);
}

/*
 * Drops one hold on @many; the last one answers {"answers": [{"status", "body"}, ...]} in request
 * order, the bodies pasted in as the entries made them. @self NULL: the API is gone, nothing is
 * answered.
 */
static void
vtc_hostd_api_many_release(VtcHostdApi *self, VtcHostdApiMany *many)
{
        g_assert(many->pending > 0);
        if (--many->pending > 0)
                return;
        if (self != NULL) {
                vtc_hostd_api_reply_text(self,
                                         many->msg,
                                         "rounds",
                                         200,
                                         "application/json",
                                         vtc_json_rounds_answer(many->status, many->body, many->n));
                if (many->paused)
                        soup_server_message_unpause(many->msg);
        }
        vtc_hostd_api_many_free(many);
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* 8-4-4-4-12 hex digits, any case. */
static gboolean
vtc_hostd_api_uuid_scan(const gchar *text, guint8 out[16])
{
        guint n = 0;
        guint i = 0;

        if (strlen(text) != 36)
                return FALSE;
        while (i < 36) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (text[i] != '-')
                                return FALSE;
                        i++;
                        continue;
                }
                if (!g_ascii_isxdigit(text[i]) || !g_ascii_isxdigit(text[i + 1]))
                        return FALSE;
                out[n++] = (guint8)((g_ascii_xdigit_value(text[i]) << 4) |
                                    g_ascii_xdigit_value(text[i + 1]));
                i += 2;
        }
        return n == 16;
}

static gboolean
vtc_hostd_api_parse_uuid(const gchar *text, gchar out_text[37], guint8 out[16], GError **error)
{
        guint8 bytes[16];

        if (!vtc_hostd_api_uuid_scan(text, bytes)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'vm_uuid' is not a UUID (8-4-4-4-12 hex digits)");
                return FALSE;
        }
        for (guint i = 0; i < 36; i++)
                out_text[i] = g_ascii_tolower(text[i]);
        out_text[36] = '\0';
        memcpy(out, bytes, sizeof(bytes));
        return TRUE;
}

/* Refuses members other than @allowed (NULL-terminated), naming the first one. */
static gboolean
vtc_hostd_api_check_members(JsonObject *obj,
                            const gchar *where,
                            const gchar *const *allowed,
                            GError **error)
{
        g_autoptr(GList) members = json_object_get_members(obj);

        for (GList *l = members; l != NULL; l = l->next) {
                if (!g_strv_contains(allowed, l->data)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unknown member '%s'%s",
                                    (const gchar *)l->data,
                                    where);
                        return FALSE;
                }
        }
        return TRUE;
}

/* The optional "offsets" member of a bind or round request. */
static gboolean
vtc_hostd_api_parse_offsets(JsonObject *obj, VtcHostdApiBindRequest *req, GError **error)
{
        static const gchar *const logs[] = {"boot", "ima", "vtpm", NULL};
        g_autoptr(GError) error_local = NULL;
        JsonObject *offsets = vtc_json_get_object(obj, "offsets", FALSE, &error_local);
        gint64 boot = 0;
        gint64 ima = 0;
        gint64 vtpm = 0;

        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (offsets != NULL &&
            (!vtc_hostd_api_check_members(offsets, " in 'offsets'", logs, error) ||
             !vtc_json_get_int(offsets, "boot", 0, VTC_HOSTD_API_MAX_OFFSET, FALSE, &boot, error) ||
             !vtc_json_get_int(offsets, "ima", 0, VTC_HOSTD_API_MAX_OFFSET, FALSE, &ima, error) ||
             !vtc_json_get_int(offsets, "vtpm", 0, G_MAXINT64, FALSE, &vtpm, error)))
                return FALSE;
        req->off_boot = (guint64)boot;
        req->off_ima = (guint64)ima;
        req->off_vtpm = (guint64)vtpm;
        return TRUE;
}

static JsonObject *
vtc_hostd_api_parse_json(const gchar *body, gsize len, const VtcJsonLimits *limits, GError **error)
{
        if (len == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the request has no JSON body");
                return NULL;
        }
        return vtc_json_parse_object(body, len, limits, error);
}

gboolean
vtc_hostd_api_parse_bind_request(const gchar *body,
                                 gsize len,
                                 VtcHostdApiBindRequest *out,
                                 GError **error)
{
        static const gchar *const top[] = {"vm_uuid", "binding", "offsets", NULL};
        const VtcJsonLimits limits = {VTC_HOSTD_API_MAX_BODY, 4, 256, 16};
        g_autoptr(JsonObject) obj = vtc_hostd_api_parse_json(body, len, &limits, error);
        VtcHostdApiBindRequest req = {0};
        const gchar *uuid;
        const gchar *binding;
        g_autoptr(GError) error_local = NULL;

        if (obj == NULL || !vtc_hostd_api_check_members(obj, "", top, error))
                return FALSE;
        uuid = vtc_json_get_string(obj, "vm_uuid", TRUE, error);
        if (uuid == NULL || !vtc_hostd_api_parse_uuid(uuid, req.uuid, req.uuid_bytes, error))
                return FALSE;
        binding = vtc_json_get_string(obj, "binding", TRUE, error);
        if (binding == NULL)
                return FALSE;
        if (!vtc_hex_decode_fixed(binding, req.binding, VTC_MERKLE_HASH_SIZE, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member 'binding' is not a SHA-256 digest in hex: %s",
                            error_local->message);
                return FALSE;
        }
        if (!vtc_hostd_api_parse_offsets(obj, &req, error))
                return FALSE;
        *out = req;
        return TRUE;
}

gboolean
vtc_hostd_api_parse_round_request(const gchar *body,
                                  gsize len,
                                  VtcHostdApiRoundRequest *out,
                                  GError **error)
{
        static const gchar *const extra[] = {"vm_uuid", "offsets", NULL};
        /* a PCR list holds up to 24 indices: arrays may be that long */
        const VtcJsonLimits limits = {VTC_HOSTD_API_MAX_BODY, 4, 256, 24};
        g_autoptr(JsonObject) obj = vtc_hostd_api_parse_json(body, len, &limits, error);
        VtcHostdApiRoundRequest req = {0};
        const gchar *uuid;

        if (obj == NULL)
                return FALSE;
        if (json_object_get_size(obj) > 16) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "JSON object has more than 16 members");
                return FALSE;
        }
        if (!vtc_channel_round_from_json(obj, extra, &req.round, error))
                return FALSE;
        uuid = vtc_json_get_string(obj, "vm_uuid", TRUE, error);
        if (uuid == NULL ||
            !vtc_hostd_api_parse_uuid(uuid, req.host.uuid, req.host.uuid_bytes, error))
                return FALSE;
        if (!vtc_hostd_api_parse_offsets(obj, &req.host, error))
                return FALSE;
        /* the round's own copy, as the channel sends it */
        memcpy(req.round.vm_uuid, req.host.uuid, sizeof(req.round.vm_uuid));
        req.round.id = 0;
        *out = req;
        return TRUE;
}

gboolean
vtc_hostd_api_parse_rounds_request(const gchar *body,
                                   gsize len,
                                   GPtrArray **out_entries,
                                   GError **error)
{
        static const gchar *const top[] = {"rounds", NULL};
        /* loose enough that an entry's own excesses (strings, arrays, depth) are judged per
         * entry by the /v1/round parser, tight enough to bound what one request builds */
        const VtcJsonLimits limits = {VTC_HOSTD_API_MAX_ROUNDS_BODY,
                                      16,
                                      VTC_HOSTD_API_MAX_BODY,
                                      1024};
        g_autoptr(JsonObject) obj = vtc_hostd_api_parse_json(body, len, &limits, error);
        g_autoptr(GPtrArray) entries = NULL;
        JsonArray *rounds;
        guint n;

        if (obj == NULL || !vtc_hostd_api_check_members(obj, "", top, error))
                return FALSE;
        rounds = vtc_json_get_array(obj, "rounds", TRUE, error);
        if (rounds == NULL)
                return FALSE;
        n = json_array_get_length(rounds);
        if (n == 0 || n > VTC_HOSTD_API_MAX_ROUNDS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member 'rounds' has %u entries, not 1 to %u",
                            n,
                            (guint)VTC_HOSTD_API_MAX_ROUNDS);
                return FALSE;
        }
        entries = g_ptr_array_new_full(n, g_free);
        for (guint i = 0; i < n; i++) {
                JsonNode *node = json_array_get_element(rounds, i);

                if (!JSON_NODE_HOLDS_OBJECT(node)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "rounds[%u] is not an object",
                                    i);
                        return FALSE;
                }
                g_ptr_array_add(entries, vtc_json_node_to_string(node));
        }
        *out_entries = g_steal_pointer(&entries);
        return TRUE;
}

/* The vTPM log offset of a request against the log as it is now. */
static gboolean
vtc_hostd_api_check_vtpm_offset(VtcHostdApi *self, guint64 vtpm, GError **error)
{
        guint64 count = vtc_vtpm_log_get_count(self->log);

        if (vtpm > count) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "offsets.vtpm %" G_GUINT64_FORMAT
                            " is beyond the end of the vTPM log (%" G_GUINT64_FORMAT
                            " entries; a new log starts after a host reboot)",
                            vtpm,
                            count);
                return FALSE;
        }
        return TRUE;
}

static void
vtc_hostd_api_call_set_host(VtcHostdApiCall *call, const VtcHostdApiBindRequest *req)
{
        memcpy(call->uuid, req->uuid, sizeof(call->uuid));
        memcpy(call->uuid_bytes, req->uuid_bytes, sizeof(call->uuid_bytes));
        memcpy(call->binding, req->binding, sizeof(call->binding));
        call->off_boot = req->off_boot;
        call->off_ima = req->off_ima;
        call->off_vtpm = req->off_vtpm;
}

static gboolean
vtc_hostd_api_parse_bind(VtcHostdApi *self,
                         SoupServerMessage *msg,
                         VtcHostdApiCall *call,
                         GError **error)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = soup_message_body_flatten(body);
        gsize len = 0;
        const gchar *text = g_bytes_get_data(data, &len);
        VtcHostdApiBindRequest req;

        if (!vtc_hostd_api_parse_bind_request(text, len, &req, error) ||
            !vtc_hostd_api_check_vtpm_offset(self, req.off_vtpm, error))
                return FALSE;
        vtc_hostd_api_call_set_host(call, &req);
        return TRUE;
}

/* ---- the answer (built on a thread: host logs are files) ---------------------------------- */

static void
vtc_hostd_api_add_hex(JsonBuilder *b, const gchar *member, const guint8 *data, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(data, len);

        if (member != NULL)
                json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, hex);
}

static void
vtc_hostd_api_add_pcrs(JsonBuilder *b, const VtcPcrValues *pcrs)
{
        json_builder_set_member_name(b, "pcrs");
        json_builder_begin_object(b);
        for (guint i = 0; i < vtc_pcr_values_get_n_banks(pcrs); i++) {
                TPM2_ALG_ID bank = vtc_pcr_values_get_bank(pcrs, i);
                const VtcHashAlg *alg = vtc_hash_alg_from_id(bank);
                guint32 mask = vtc_pcr_values_get_mask(pcrs, bank);
                g_autofree gchar *name =
                    alg != NULL ? g_strdup(alg->name) : g_strdup_printf("0x%04x", bank);

                json_builder_set_member_name(b, name);
                json_builder_begin_object(b);
                for (guint pcr = 0; pcr < VTC_PCR_MAX; pcr++) {
                        gsize len = 0;
                        const guint8 *v;
                        gchar index[4];

                        if ((mask & (1u << pcr)) == 0)
                                continue;
                        v = vtc_pcr_values_get(pcrs, bank, pcr, &len);
                        g_snprintf(index, sizeof(index), "%u", pcr);
                        vtc_hostd_api_add_hex(b, index, v, len);
                }
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
}

/* Fills @buf from @fd until it is full or the file ends; -1 with errno on a read error. */
static gssize
vtc_hostd_api_read_full(int fd, guint8 *buf, gsize len)
{
        gsize got = 0;

        while (got < len) {
                gssize n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                got += (gsize)n;
        }
        return (gssize)got;
}

/*
 * The bytes of a host log from @offset, at most @max of them: {"from", "data", "more"}, or
 * {"from", "error"} when it cannot be read (the offset beyond its end included). A log whose file
 * does not exist is left out. The kernel's securityfs files have no size: one byte before the
 * offset tells "at the end" from "beyond it", one after the chunk tells whether more follows.
 */
static void
vtc_hostd_api_add_host_log(JsonBuilder *b,
                           const gchar *member,
                           const gchar *path,
                           guint64 offset,
                           gsize max)
{
        vtc_autofd int fd = -1;
        guint64 start = offset > 0 ? offset - 1 : 0;
        gsize skip = offset > 0 ? 1 : 0;
        g_autofree guint8 *buf = NULL;
        g_autofree gchar *problem = NULL;
        gssize got = 0;
        gsize len = 0;

        if (path == NULL || path[0] == '\0')
                return;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return;
        if (fd < 0) {
                problem = g_strdup_printf("opening %s: %s", path, g_strerror(errno));
        } else if (lseek(fd, (off_t)start, SEEK_SET) != (off_t)start) {
                problem = g_strdup_printf("seeking in %s: %s", path, g_strerror(errno));
        } else {
                buf = g_malloc(max + 2);
                got = vtc_hostd_api_read_full(fd, buf, max + 1 + skip);
                if (got < 0)
                        problem = g_strdup_printf("reading %s: %s", path, g_strerror(errno));
                else if ((gsize)got < skip)
                        problem = g_strdup_printf("offset %" G_GUINT64_FORMAT
                                                  " is beyond the end of %s (a new log starts "
                                                  "after a host reboot)",
                                                  offset,
                                                  path);
        }
        json_builder_set_member_name(b, member);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, (gint64)offset);
        if (problem != NULL) {
                json_builder_set_member_name(b, "error");
                json_builder_add_string_value(b, problem);
        } else {
                len = MIN((gsize)got - skip, max);
                vtc_json_builder_add_base64(b, "data", buf + skip, len);
                json_builder_set_member_name(b, "more");
                json_builder_add_boolean_value(b, (gsize)got - skip > max);
        }
        json_builder_end_object(b);
}

/* Was @uuid running after the first @count entries of the log? */
static gboolean
vtc_hostd_api_vm_running(VtcVtpmLog *log, const gchar *uuid, guint64 count)
{
        g_autoptr(VtcVtpmLogEntry) last = vtc_vtpm_log_lookup_vm(log, uuid);

        if (last == NULL)
                return FALSE;
        if (last->seq < count)
                return last->type == VTC_VTPM_LOG_VTPM_START;
        /* it changed after the quote: its last entry before it (rare, so a scan) */
        for (guint64 seq = count; seq > 0; seq--) {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_get_entry(log, seq - 1);

                if (e != NULL && e->uuid != NULL && strcmp(e->uuid, uuid) == 0)
                        return e->type == VTC_VTPM_LOG_VTPM_START;
        }
        return FALSE;
}

/* The vTPM log from the caller's offset up to the quote: {"from", "count", "data", "more"}. */
static gboolean
vtc_hostd_api_add_vtpm_log(JsonBuilder *b,
                           VtcHostdApi *self,
                           guint64 from,
                           guint64 quoted,
                           GError **error)
{
        guint64 to = from + MIN(quoted - MIN(from, quoted), (guint64)self->vtpm_entries);
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GByteArray) data = g_byte_array_new();
        guint n = 0;

        if (from > quoted) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "the vTPM log had %" G_GUINT64_FORMAT
                            " entries when quoted, fewer than the offset %" G_GUINT64_FORMAT,
                            quoted,
                            from);
                return FALSE;
        }
        entries = vtc_vtpm_log_get_entries(self->log, from, to, error);
        if (entries == NULL)
                return FALSE;
        for (; n < entries->len; n++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(entries, n);

                /* a line is at most VTC_VTPM_LOG_MAX_LINE bytes: the chunk holds one at least */
                if (data->len + e->line_len + 1 > self->log_chunk)
                        break;
                g_byte_array_append(data, (const guint8 *)e->line, (guint)e->line_len);
                g_byte_array_append(data, (const guint8 *)"\n", 1);
        }
        json_builder_set_member_name(b, "vtpm_log");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, (gint64)from);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, n);
        vtc_json_builder_add_base64(b, "data", data->data, data->len);
        json_builder_set_member_name(b, "more");
        json_builder_add_boolean_value(b, from + n < quoted);
        json_builder_end_object(b);
        return TRUE;
}

/* The /v1/bind answer object, into @b. */
static gboolean
vtc_hostd_api_build_host(JsonBuilder *b, VtcHostdApi *self, VtcHostdApiCall *call, GError **error)
{
        const VtcHostdBatchAnswer *a = call->answer;
        const VtcHostdBatchQuote *q = a->quote;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm_uuid");
        json_builder_add_string_value(b, call->uuid);
        json_builder_set_member_name(b, "quote");
        json_builder_begin_object(b);
        vtc_json_builder_add_base64(b,
                                    "attest",
                                    g_bytes_get_data(q->attest, NULL),
                                    g_bytes_get_size(q->attest));
        vtc_json_builder_add_base64(b,
                                    "signature",
                                    g_bytes_get_data(q->signature, NULL),
                                    g_bytes_get_size(q->signature));
        json_builder_end_object(b);
        vtc_hostd_api_add_pcrs(b, q->pcrs);
        vtc_hostd_api_add_hex(b, "root", q->root, sizeof(q->root));
        json_builder_set_member_name(b, "leaf_index");
        json_builder_add_int_value(b, (gint64)a->leaf_index);
        json_builder_set_member_name(b, "tree_size");
        json_builder_add_int_value(b, (gint64)q->tree_size);
        json_builder_set_member_name(b, "proof");
        json_builder_begin_array(b);
        for (gsize i = 0; i < a->n_proof; i++)
                vtc_hostd_api_add_hex(b,
                                      NULL,
                                      a->proof + i * VTC_MERKLE_HASH_SIZE,
                                      VTC_MERKLE_HASH_SIZE);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "vm_running");
        json_builder_add_boolean_value(
            b,
            vtc_hostd_api_vm_running(self->log, call->uuid, q->hook_value));
        if (!vtc_hostd_api_add_vtpm_log(b, self, call->off_vtpm, q->hook_value, error))
                return FALSE;
        vtc_hostd_api_add_host_log(b, "boot_log", self->boot_log, call->off_boot, self->log_chunk);
        vtc_hostd_api_add_host_log(b, "ima_log", self->ima_log, call->off_ima, self->log_chunk);
        json_builder_end_object(b);
        return TRUE;
}

/* The answer of /v1/bind, or of /v1/round: {"guest", "host", "placement"}. */
static gchar *
vtc_hostd_api_build_answer(VtcHostdApi *self, VtcHostdApiCall *call, GError **error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (call->evidence == NULL) {
                if (!vtc_hostd_api_build_host(b, self, call, error))
                        return NULL;
                return vtc_json_builder_to_string(b);
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "guest");
        {
                g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
                json_node_set_object(node, call->evidence);
                json_builder_add_value(b, g_steal_pointer(&node));
        }
        json_builder_set_member_name(b, "host");
        if (!vtc_hostd_api_build_host(b, self, call, error))
                return NULL;
        json_builder_set_member_name(b, "placement");
        json_builder_add_string_value(b, "channel");
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

static void
vtc_hostd_api_reader_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
        VtcHostdApiCall *call = data;
        VtcHostdApi *self = call->reader_api;
        g_autoptr(GError) error = NULL;

        call->reply = vtc_hostd_api_build_answer(self, call, &error);
        if (call->reply == NULL) {
                call->reply = vtc_hostd_api_error_body_for(error);
                call->status = vtc_error_to_http_status(error);
        } else {
                call->status = 200;
        }
        call->reader_api = NULL;
        /* the last use of @self */
        g_mutex_lock(&self->lock);
        self->n_readers--;
        g_cond_broadcast(&self->cond);
        g_mutex_unlock(&self->lock);
        g_task_return_boolean(task, TRUE);
}

/*
 * Ends a call whose API is alive with its answer (takes @call and @body): the reply to its own
 * request, or its slot in a /v1/rounds answer.
 */
static void
vtc_hostd_api_finish(VtcHostdApiCall *call, guint status, gchar *body)
{
        VtcHostdApi *self = call->api;

        g_hash_table_remove(self->calls, call);
        if (call->many == NULL) {
                vtc_hostd_api_reply_text(self,
                                         call->msg,
                                         call->call,
                                         status,
                                         "application/json",
                                         body);
                soup_server_message_unpause(call->msg);
        } else {
                vtc_hostd_api_many_set(self, call->many, call->index, status, body);
        }
        vtc_hostd_api_call_free(call);
}

static void
vtc_hostd_api_finish_error(VtcHostdApiCall *call, const GError *error)
{
        vtc_hostd_api_finish(call,
                             vtc_error_to_http_status(error),
                             vtc_hostd_api_error_body_for(error));
}

static void
vtc_hostd_api_reader_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdApiCall *call = user_data;

        if (call->api == NULL) {
                vtc_hostd_api_call_free(call);
                return;
        }
        vtc_hostd_api_finish(call, call->status, g_steal_pointer(&call->reply));
}

static void
vtc_hostd_api_bound(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdApiCall *call = user_data;
        VtcHostdApi *self = call->api;
        g_autoptr(GError) error = NULL;
        g_autoptr(GTask) task = NULL;

        call->answer = vtc_hostd_batch_submit_finish(NULL, res, &error);
        if (self == NULL) {
                vtc_hostd_api_call_free(call);
                return;
        }
        if (call->answer == NULL) {
                vtc_hostd_api_finish_error(call, error);
                return;
        }
        g_mutex_lock(&self->lock);
        self->n_readers++;
        g_mutex_unlock(&self->lock);
        call->reader_api = self;
        task = g_task_new(NULL, NULL, vtc_hostd_api_reader_done, call);
        g_task_set_source_tag(task, vtc_hostd_api_bound);
        g_task_set_task_data(task, call, NULL);
        g_task_run_in_thread(task, vtc_hostd_api_reader_thread);
}

static void
vtc_hostd_api_bind(VtcHostdApi *self, SoupServerMessage *msg)
{
        g_autoptr(VtcHostdApiCall) parsed = g_new0(VtcHostdApiCall, 1);
        g_autoptr(GError) error = NULL;
        VtcHostdApiCall *call;

        if (!vtc_hostd_api_parse_bind(self, msg, parsed, &error)) {
                vtc_hostd_api_reply_error(self, msg, "bind", error);
                return;
        }
        /* owned by the batcher's callback from here */
        call = g_steal_pointer(&parsed);
        call->call = "bind";
        call->api = self;
        call->msg = g_object_ref(msg);
        soup_server_message_pause(msg);
        g_hash_table_add(self->calls, call);
        vtc_hostd_batch_submit_async(self->batch,
                                     call->uuid_bytes,
                                     call->binding,
                                     NULL,
                                     vtc_hostd_api_bound,
                                     call);
}

/* ---- rounds through the host -------------------------------------------------------------- */

/*
 * Ends a round request that failed before its binding was submitted. An agent's error is
 * 502 {"error": "agent_error", "message": "<agent's code: text>"}.
 */
static void
vtc_hostd_api_round_fail(VtcHostdApiCall *call, const GError *error)
{
        if (g_error_matches(error, VTC_ERROR, VTC_ERROR_FAILED) &&
            g_str_has_prefix(error->message, VTC_HOSTD_CHANNEL_AGENT_ERROR))
                vtc_hostd_api_finish(call,
                                     502,
                                     vtc_hostd_api_error_body(
                                         "agent_error",
                                         error->message + strlen(VTC_HOSTD_CHANNEL_AGENT_ERROR)));
        else
                vtc_hostd_api_finish_error(call, error);
}

static void
vtc_hostd_api_round_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdApiCall *call = user_data;
        VtcHostdApi *self = call->api;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) attest = NULL;
        JsonObject *quote;

        call->evidence = vtc_hostd_channel_round_finish(NULL, res, &error);
        if (self == NULL) {
                vtc_hostd_api_call_free(call);
                return;
        }
        if (call->evidence == NULL) {
                vtc_hostd_api_round_fail(call, error);
                return;
        }
        /* the binding comes from what hostd itself received over the VM's own channel */
        quote = vtc_json_get_object(call->evidence, "quote", TRUE, &error);
        if (quote != NULL)
                attest =
                    vtc_json_get_base64(quote, "attest", VTC_HOSTD_API_MAX_ATTEST, TRUE, &error);
        if (attest == NULL || g_bytes_get_size(attest) == 0) {
                g_autoptr(GError) agent = g_error_new(
                    VTC_ERROR,
                    VTC_ERROR_FAILED,
                    VTC_HOSTD_CHANNEL_AGENT_ERROR "invalid_data: the guest evidence has no "
                                                  "quote: %s",
                    error != NULL ? error->message : "'attest' is empty");
                vtc_hostd_api_round_fail(call, agent);
                return;
        }
        vtc_merkle_binding(g_bytes_get_data(attest, NULL),
                           g_bytes_get_size(attest),
                           call->round.nonce,
                           sizeof(call->round.nonce),
                           call->binding);
        vtc_hostd_batch_submit_async(self->batch,
                                     call->uuid_bytes,
                                     call->binding,
                                     NULL,
                                     vtc_hostd_api_bound,
                                     call);
}

/*
 * Starts one round: the request of @msg (POST /v1/round), or entry @index of @many (POST
 * /v1/rounds, @msg NULL), which fails or answers exactly as the same request alone would.
 */
static void
vtc_hostd_api_round_start(VtcHostdApi *self,
                          SoupServerMessage *msg,
                          VtcHostdApiMany *many,
                          guint index,
                          const gchar *text,
                          gsize len)
{
        g_autoptr(VtcHostdApiCall) parsed = g_new0(VtcHostdApiCall, 1);
        g_autoptr(GError) error = NULL;
        VtcHostdApiRoundRequest req;
        VtcHostdApiCall *call;

        if (vtc_hostd_api_parse_round_request(text, len, &req, &error) &&
            vtc_hostd_api_check_vtpm_offset(self, req.host.off_vtpm, &error) &&
            (self->channel == NULL ||
             vtc_hostd_channel_lookup(self->channel, req.host.uuid) == NULL)) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_NOT_FOUND,
                                    "VM %s is not running on this host with an agent channel",
                                    req.host.uuid);
        }
        if (error != NULL) {
                if (many == NULL)
                        vtc_hostd_api_reply_error(self, msg, "round", error);
                else
                        vtc_hostd_api_many_set(self,
                                               many,
                                               index,
                                               vtc_error_to_http_status(error),
                                               vtc_hostd_api_error_body_for(error));
                return;
        }
        vtc_hostd_api_call_set_host(parsed, &req.host);
        parsed->round = req.round;
        /* owned by the channel's callback from here */
        call = g_steal_pointer(&parsed);
        call->call = "round";
        call->api = self;
        if (many == NULL) {
                call->msg = g_object_ref(msg);
                soup_server_message_pause(msg);
        } else {
                call->many = many;
                call->index = index;
                many->pending++;
        }
        g_hash_table_add(self->calls, call);
        vtc_hostd_channel_round_async(self->channel,
                                      call->uuid,
                                      &call->round,
                                      NULL,
                                      vtc_hostd_api_round_cb,
                                      call);
}

static void
vtc_hostd_api_round(VtcHostdApi *self, SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = soup_message_body_flatten(body);
        gsize len = 0;
        const gchar *text = g_bytes_get_data(data, &len);

        vtc_hostd_api_round_start(self, msg, NULL, 0, text, len);
}

/* POST /v1/rounds: each entry as a /v1/round of its own, answered together. */
static void
vtc_hostd_api_rounds(VtcHostdApi *self, SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = soup_message_body_flatten(body);
        gsize len = 0;
        const gchar *text = g_bytes_get_data(data, &len);
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GError) error = NULL;
        VtcHostdApiMany *many;

        if (!vtc_hostd_api_parse_rounds_request(text, len, &entries, &error)) {
                vtc_hostd_api_reply_error(self, msg, "rounds", error);
                return;
        }
        many = g_new0(VtcHostdApiMany, 1);
        many->msg = g_object_ref(msg);
        many->n = entries->len;
        many->status = g_new0(guint, entries->len);
        many->body = g_new0(gchar *, entries->len);
        many->pending = 1;
        for (guint i = 0; i < entries->len; i++) {
                const gchar *entry = g_ptr_array_index(entries, i);

                vtc_hostd_api_round_start(self, NULL, many, i, entry, strlen(entry));
        }
        /* the entries' callbacks run from the main loop, never within the calls above */
        if (many->pending > 1) {
                soup_server_message_pause(msg);
                many->paused = TRUE;
        }
        vtc_hostd_api_many_release(self, many);
}

/* ---- identity and metrics ----------------------------------------------------------------- */

static void
vtc_hostd_api_identity(VtcHostdApi *self, SoupServerMessage *msg)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(GBytes) ak = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(self->tpm));

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, self->host_id);
        vtc_json_builder_add_base64(b,
                                    "ak_public",
                                    g_bytes_get_data(ak, NULL),
                                    g_bytes_get_size(ak));
        json_builder_set_member_name(b, "pcr_selection");
        json_builder_begin_object(b);
        for (guint i = 0; i < self->selection.count; i++) {
                const TPMS_PCR_SELECTION *s = &self->selection.pcrSelections[i];
                const VtcHashAlg *alg = vtc_hash_alg_from_id(s->hash);
                g_autofree gchar *name =
                    alg != NULL ? g_strdup(alg->name) : g_strdup_printf("0x%04x", s->hash);

                json_builder_set_member_name(b, name);
                json_builder_begin_array(b);
                for (guint k = 0; k < s->sizeofSelect && k < TPM2_PCR_SELECT_MAX; k++)
                        for (guint bit = 0; bit < 8; bit++)
                                if (s->pcrSelect[k] & (1u << bit))
                                        json_builder_add_int_value(b, k * 8 + bit);
                json_builder_end_array(b);
        }
        json_builder_end_object(b);
        json_builder_set_member_name(b, "vtpm_log_pcr");
        json_builder_add_int_value(b, self->vtpm_pcr);
        json_builder_set_member_name(b, "vtpm_log_entries");
        json_builder_add_int_value(b, (gint64)vtc_vtpm_log_get_count(self->log));
        json_builder_end_object(b);
        vtc_hostd_api_reply_text(self,
                                 msg,
                                 "identity",
                                 200,
                                 "application/json",
                                 vtc_json_builder_to_string(b));
}

static void
vtc_hostd_api_metric_head(GString *out, const gchar *name, const gchar *type, const gchar *help)
{
        g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
vtc_hostd_api_metric_u64(GString *out,
                         const gchar *name,
                         const gchar *type,
                         const gchar *help,
                         guint64 value)
{
        vtc_hostd_api_metric_head(out, name, type, help);
        g_string_append_printf(out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

static void
vtc_hostd_api_append_double(GString *out, gdouble v)
{
        gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

        if (isinf(v))
                g_string_append(out, v > 0 ? "+Inf" : "-Inf");
        else
                g_string_append(out, g_ascii_dtostr(buf, sizeof(buf), v));
}

static void
vtc_hostd_api_metric_double(GString *out,
                            const gchar *name,
                            const gchar *type,
                            const gchar *help,
                            gdouble value)
{
        vtc_hostd_api_metric_head(out, name, type, help);
        g_string_append_printf(out, "%s ", name);
        vtc_hostd_api_append_double(out, value);
        g_string_append_c(out, '\n');
}

static void
vtc_hostd_api_histogram(GString *out,
                        const gchar *name,
                        const gchar *help,
                        const gdouble *le,
                        const guint64 *counts,
                        guint n,
                        gdouble sum,
                        guint64 total)
{
        vtc_hostd_api_metric_head(out, name, "histogram", help);
        for (guint i = 0; i < n; i++) {
                gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

                g_string_append_printf(out, "%s_bucket{le=\"", name);
                /* labels as people write them: 0.005, not 0.0050000000000000001 */
                if (isinf(le[i]))
                        g_string_append(out, "+Inf");
                else
                        g_string_append(out, g_ascii_formatd(buf, sizeof(buf), "%g", le[i]));
                g_string_append_printf(out, "\"} %" G_GUINT64_FORMAT "\n", counts[i]);
        }
        g_string_append_printf(out, "%s_sum ", name);
        vtc_hostd_api_append_double(out, sum);
        g_string_append_printf(out, "\n%s_count %" G_GUINT64_FORMAT "\n", name, total);
}

static void
vtc_hostd_api_add_channel_metrics(VtcHostdApi *self, GString *out)
{
        VtcHostdChannelMetrics c = {0};

        if (self->channel != NULL)
                vtc_hostd_channel_get_metrics(self->channel, &c);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_rounds_total",
                                 "counter",
                                 "Rounds sent to guests over their private channels.",
                                 c.rounds);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_round_trips_total",
                                 "counter",
                                 "Rounds a guest answered (evidence or agent error).",
                                 c.answered);
        vtc_hostd_api_metric_double(out,
                                    "vtc_hostd_channel_round_trip_seconds_total",
                                    "counter",
                                    "Time from sending a round to its answer, summed over the "
                                    "answered rounds.",
                                    c.latency_sum);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_agent_errors_total",
                                 "counter",
                                 "Rounds a guest agent answered with an error.",
                                 c.agent_errors);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_timeouts_total",
                                 "counter",
                                 "Rounds a guest did not answer in time.",
                                 c.timeouts);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_failures_total",
                                 "counter",
                                 "Rounds failed otherwise (no connection, channel closed, VM "
                                 "stopped, cancelled).",
                                 c.failures);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_garbled_total",
                                 "counter",
                                 "Garbled frames and unreadable answers received from guests.",
                                 c.garbled);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_late_replies_total",
                                 "counter",
                                 "Answers dropped because no round waited for their id.",
                                 c.dropped);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_connects_total",
                                 "counter",
                                 "Connections made to guest channels.",
                                 c.connects);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channel_rounds_in_flight",
                                 "gauge",
                                 "Rounds waiting for a guest now.",
                                 c.in_flight);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_channels",
                                 "gauge",
                                 "VMs with a registered private channel.",
                                 c.channels);
}

gchar *
vtc_hostd_api_get_metrics(VtcHostdApi *self)
{
        GString *out = g_string_new(NULL);
        VtcHostdBatchMetrics m;
        VtcHostdTpmStats t;
        g_autoptr(GPtrArray) running = vtc_vtpm_log_get_running(self->log);
        g_autoptr(GList) keys = g_hash_table_get_keys(self->requests);

        vtc_hostd_batch_get_metrics(self->batch, &m);
        vtc_hostd_tpm_get_stats(self->tpm, &t);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_quotes_total",
                                 "counter",
                                 "Hardware TPM quotes taken over batches of bindings.",
                                 m.quotes);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_quote_failures_total",
                                 "counter",
                                 "Batches whose hardware quote failed.",
                                 m.quote_failures);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_submitted_total",
                                 "counter",
                                 "Bindings accepted for a batch.",
                                 m.submitted);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_answered_total",
                                 "counter",
                                 "Bindings answered with a host quote.",
                                 m.answered);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_failed_total",
                                 "counter",
                                 "Bindings whose batch failed.",
                                 m.failed);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_refused_total",
                                 "counter",
                                 "Bindings refused because too many were waiting.",
                                 m.refused);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_pending",
                                 "gauge",
                                 "Bindings waiting for a batch.",
                                 m.pending);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_bindings_in_flight",
                                 "gauge",
                                 "Bindings in the batch being quoted.",
                                 m.in_flight);
        {
                gdouble sum = (gdouble)m.size_sum;
                vtc_hostd_api_histogram(out,
                                        "vtc_hostd_batch_size",
                                        "Bindings per hardware quote.",
                                        m.size_le,
                                        m.size_count,
                                        VTC_HOSTD_BATCH_SIZE_BUCKETS,
                                        sum,
                                        m.batches);
        }
        vtc_hostd_api_histogram(out,
                                "vtc_hostd_binding_latency_seconds",
                                "Time from a binding's submission to its host quote.",
                                m.latency_le,
                                m.latency_count,
                                VTC_HOSTD_BATCH_LATENCY_BUCKETS,
                                m.latency_sum,
                                m.latencies);
        vtc_hostd_api_metric_double(out,
                                    "vtc_hostd_quote_job_seconds_total",
                                    "counter",
                                    "TPM worker time spent on batches (tree and quote).",
                                    m.quote_seconds_sum);
        vtc_hostd_api_metric_double(out,
                                    "vtc_hostd_quote_job_seconds_max",
                                    "gauge",
                                    "Longest batch job on the TPM worker.",
                                    m.quote_seconds_max);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_tpm_jobs_total",
                                 "counter",
                                 "Jobs the TPM worker ran.",
                                 t.jobs);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_tpm_job_failures_total",
                                 "counter",
                                 "TPM worker jobs that failed.",
                                 t.failures);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_tpm_reconnects_total",
                                 "counter",
                                 "Times the TPM worker reopened a lost TPM.",
                                 t.reconnects);
        vtc_hostd_api_metric_double(out,
                                    "vtc_hostd_tpm_busy_seconds_total",
                                    "counter",
                                    "Time the TPM worker spent running jobs.",
                                    (gdouble)t.busy_us / G_USEC_PER_SEC);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_tpm_jobs_queued",
                                 "gauge",
                                 "TPM jobs waiting now.",
                                 t.queued);
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_vtpm_log_entries",
                                 "gauge",
                                 "Entries in the vTPM event log (vTPM events since the log began).",
                                 vtc_vtpm_log_get_count(self->log));
        vtc_hostd_api_metric_u64(out,
                                 "vtc_hostd_vtpms_running",
                                 "gauge",
                                 "VMs whose last vTPM log entry is VTPM_START.",
                                 running->len);
        vtc_hostd_api_add_channel_metrics(self, out);
        vtc_hostd_api_metric_head(
            out,
            "vtc_hostd_api_requests_total",
            "counter",
            "Requests answered by the verifier endpoint, by call and status (each entry of a "
            "rounds request also counts as a round, with its own status).");
        keys = g_list_sort(keys, (GCompareFunc)g_strcmp0);
        for (GList *l = keys; l != NULL; l = l->next) {
                const gchar *key = l->data;
                const gchar *tab = strchr(key, '\t');
                const guint64 *n = g_hash_table_lookup(self->requests, key);

                g_string_append_printf(out,
                                       "vtc_hostd_api_requests_total{call=\"%.*s\",status=\"%s\"} "
                                       "%" G_GUINT64_FORMAT "\n",
                                       (int)(tab - key),
                                       key,
                                       tab + 1,
                                       *n);
        }
        return g_string_free(out, FALSE);
}

/* ---- routing ------------------------------------------------------------------------------ */

static void
vtc_hostd_api_cb(SoupServer *server,
                 SoupServerMessage *msg,
                 const char *path,
                 GHashTable *query,
                 gpointer user_data)
{
        VtcHostdApi *self = user_data;
        const gchar *method = soup_server_message_get_method(msg);
        const gchar *call = g_str_equal(path, "/v1/bind")       ? "bind"
                            : g_str_equal(path, "/v1/round")    ? "round"
                            : g_str_equal(path, "/v1/rounds")   ? "rounds"
                            : g_str_equal(path, "/v1/identity") ? "identity"
                            : g_str_equal(path, "/metrics")     ? "metrics"
                                                                : "other";
        g_autoptr(GError) error = NULL;

        if (!vtc_http_is_authenticated(msg)) {
                error = g_error_new_literal(VTC_ERROR,
                                            VTC_ERROR_UNAUTHORIZED,
                                            "a client certificate issued by the deployment's CA "
                                            "is required");
                vtc_hostd_api_reply_error(self, msg, call, error);
                return;
        }
        if (g_str_equal(call, "bind")) {
                if (method != SOUP_METHOD_POST)
                        vtc_hostd_api_reply_method(self, msg, call, "POST");
                else
                        vtc_hostd_api_bind(self, msg);
        } else if (g_str_equal(call, "round")) {
                if (method != SOUP_METHOD_POST)
                        vtc_hostd_api_reply_method(self, msg, call, "POST");
                else
                        vtc_hostd_api_round(self, msg);
        } else if (g_str_equal(call, "rounds")) {
                if (method != SOUP_METHOD_POST)
                        vtc_hostd_api_reply_method(self, msg, call, "POST");
                else
                        vtc_hostd_api_rounds(self, msg);
        } else if (g_str_equal(call, "identity") || g_str_equal(call, "metrics")) {
                if (method != SOUP_METHOD_GET)
                        vtc_hostd_api_reply_method(self, msg, call, "GET");
                else if (g_str_equal(call, "identity"))
                        vtc_hostd_api_identity(self, msg);
                else
                        vtc_hostd_api_reply_text(self,
                                                 msg,
                                                 call,
                                                 200,
                                                 "text/plain; version=0.0.4; charset=utf-8",
                                                 vtc_hostd_api_get_metrics(self));
        } else {
                error = g_error_new(VTC_ERROR, VTC_ERROR_NOT_FOUND, "no such resource: %s", path);
                vtc_hostd_api_reply_error(self, msg, call, error);
        }
}

/*
 * The body limit of /v1/rounds (up to VTC_HOSTD_API_MAX_ROUNDS round requests) once its headers
 * are in, with the answers of the server's own check, which holds every other path to
 * VTC_HOSTD_API_MAX_BODY: a body of unknown length is refused, an oversized one is never read.
 */
static void
vtc_hostd_api_rounds_early_cb(SoupServer *server,
                              SoupServerMessage *msg,
                              const char *path,
                              GHashTable *query,
                              gpointer user_data)
{
        SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
        SoupEncoding enc = soup_message_headers_get_encoding(headers);
        g_autoptr(GError) error = NULL;

        if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF) {
                error = g_error_new_literal(VTC_ERROR,
                                            VTC_ERROR_TOO_LARGE,
                                            "a request body needs a Content-Length");
                vtc_http_reply_error(msg, error);
                soup_server_message_set_status(msg, 411, NULL);
        } else if (enc == SOUP_ENCODING_CONTENT_LENGTH &&
                   soup_message_headers_get_content_length(headers) >
                       (goffset)VTC_HOSTD_API_MAX_ROUNDS_BODY) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "request body over the limit of %u bytes",
                                    (guint)VTC_HOSTD_API_MAX_ROUNDS_BODY);
                vtc_http_reply_error(msg, error);
        } else {
                return;
        }
        soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                     "Connection",
                                     "close");
}

/* ---- the vTPM log against the quote, on the TPM worker ------------------------------------ */

static gboolean
vtc_hostd_api_quote_hook(VtcHostdBatchQuote *quote, gpointer user_data, GError **error)
{
        VtcHostdApi *self = user_data;
        guint8 replay[VTC_VTPM_LOG_DIGEST_SIZE];
        guint64 count = 0;
        gsize len = 0;
        const guint8 *pcr = vtc_pcr_values_get(quote->pcrs, TPM2_ALG_SHA256, self->vtpm_pcr, &len);

        /* appends and their extends are TPM jobs too: none can come between the quote and this */
        vtc_vtpm_log_get_replay(self->log, replay, &count);
        if (pcr == NULL || len != sizeof(replay)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "the host quote does not cover the vTPM log's PCR %u (SHA-256)",
                            self->vtpm_pcr);
                return FALSE;
        }
        if (memcmp(pcr, replay, sizeof(replay)) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_UNAVAILABLE,
                            "the vTPM log (%" G_GUINT64_FORMAT
                            " entries) does not replay to PCR %u as quoted (an extend failed?): "
                            "hostd must be restarted to check and repair it",
                            count,
                            self->vtpm_pcr);
                return FALSE;
        }
        quote->hook_value = count;
        return TRUE;
}

/* ---- life cycle --------------------------------------------------------------------------- */

gboolean
vtc_hostd_api_parse_pcrs(const gchar *spec,
                         guint vtpm_pcr,
                         TPML_PCR_SELECTION *out_selection,
                         GError **error)
{
        g_auto(GStrv) parts = NULL;
        guint32 mask = 0;
        g_autofree gchar *trimmed = g_strstrip(g_strdup(spec != NULL ? spec : ""));

        if (vtpm_pcr > 23) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "PCR %u is not a PCR of the SHA-256 bank (0-23)",
                            vtpm_pcr);
                return FALSE;
        }
        parts = g_strsplit(trimmed, ",", -1);
        for (guint i = 0; trimmed[0] != '\0' && parts[i] != NULL; i++) {
                gchar *part = g_strstrip(parts[i]);
                g_auto(GStrv) range = g_strsplit(part, "-", 3);
                guint64 lo = 0;
                guint64 hi = 0;
                guint n = g_strv_length(range);

                if (n < 1 || n > 2 ||
                    !g_ascii_string_to_unsigned(g_strstrip(range[0]), 10, 0, 23, &lo, NULL) ||
                    (n == 2 &&
                     !g_ascii_string_to_unsigned(g_strstrip(range[1]), 10, 0, 23, &hi, NULL)) ||
                    (n == 2 && hi < lo)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "'%s' in the PCR list '%s' is not a PCR (0-23) or a range "
                                    "of them (like 0-9)",
                                    part,
                                    spec);
                        return FALSE;
                }
                if (n == 1)
                        hi = lo;
                for (guint64 p = lo; p <= hi; p++)
                        mask |= 1u << p;
        }
        mask |= 1u << vtpm_pcr;
        vtc_tpm_selection_init(out_selection, TPM2_ALG_SHA256, mask);
        return TRUE;
}

VtcHostdApi *
vtc_hostd_api_new(const VtcHostdApiOptions *options, GError **error)
{
        g_autoptr(VtcHostdApi) self = NULL;

        g_return_val_if_fail(options != NULL && options->tpm != NULL && options->batch != NULL &&
                                 options->log != NULL,
                             NULL);
        if (options->client_ca_file == NULL || options->client_ca_file[0] == '\0') {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "the verifier endpoint needs a client CA: verifiers must "
                                    "present certificates");
                return NULL;
        }
        if (options->log_chunk != 0 && (options->log_chunk <= VTC_VTPM_LOG_MAX_LINE ||
                                        options->log_chunk > VTC_HOSTD_API_LOG_CHUNK_MAX)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a log chunk of %" G_GSIZE_FORMAT " bytes is not within %u..%u",
                            options->log_chunk,
                            (guint)VTC_VTPM_LOG_MAX_LINE + 1,
                            (guint)VTC_HOSTD_API_LOG_CHUNK_MAX);
                return NULL;
        }
        if (options->vtpm_pcr > 23) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "PCR %u is not a PCR of the SHA-256 bank (0-23)",
                            options->vtpm_pcr);
                return NULL;
        }
        self = g_new0(VtcHostdApi, 1);
        g_mutex_init(&self->lock);
        g_cond_init(&self->cond);
        self->host_id = g_strdup(options->host_id != NULL ? options->host_id : g_get_host_name());
        self->tpm = options->tpm;
        self->batch = options->batch;
        self->log = options->log;
        self->channel = options->channel;
        self->vtpm_pcr = options->vtpm_pcr;
        if (options->selection != NULL)
                self->selection = *options->selection;
        else
                vtc_hostd_batch_selection_default(&self->selection);
        self->boot_log = g_strdup(options->boot_log);
        self->ima_log = g_strdup(options->ima_log);
        self->log_chunk =
            options->log_chunk != 0 ? options->log_chunk : VTC_HOSTD_API_LOG_CHUNK_DEFAULT;
        self->vtpm_entries =
            options->vtpm_entries != 0 ? options->vtpm_entries : VTC_HOSTD_API_VTPM_ENTRIES_DEFAULT;
        self->calls = g_hash_table_new(NULL, NULL);
        self->requests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        self->server = vtc_http_server_new(options->cert_file,
                                           options->key_file,
                                           options->client_ca_file,
                                           VTC_HOSTD_API_MAX_BODY,
                                           error);
        if (self->server == NULL)
                return NULL;
        vtc_http_server_add_handler(self->server, "/v1", vtc_hostd_api_cb, self);
        /* its own body limit: the most specific path's early handler is the one that runs */
        soup_server_add_early_handler(self->server,
                                      "/v1/rounds",
                                      vtc_hostd_api_rounds_early_cb,
                                      NULL,
                                      NULL);
        soup_server_add_handler(self->server, "/v1/rounds", vtc_hostd_api_cb, self, NULL);
        vtc_http_server_add_handler(self->server, "/metrics", vtc_hostd_api_cb, self);
        vtc_hostd_batch_set_quote_hook(self->batch, vtc_hostd_api_quote_hook, self);
        return g_steal_pointer(&self);
}

gboolean
vtc_hostd_api_listen(VtcHostdApi *self,
                     const gchar *address,
                     guint port,
                     guint *out_port,
                     GError **error)
{
        GSList *listeners;
        gboolean ok = TRUE;

        if (!vtc_http_server_listen(self->server, address, port, out_port, error))
                return FALSE;
        /* GLib listens with a backlog of 10: a burst of verifiers (a round every 2 s each)
         * overflows it, and dropped connections retry only after 1, 3, 7 s. Linux takes a new
         * backlog from a second listen(). */
        listeners = soup_server_get_listeners(self->server);
        for (GSList *l = listeners; l != NULL && ok; l = l->next) {
                if (listen(g_socket_get_fd(l->data), SOMAXCONN) != 0) {
                        int e = errno;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "raising the listen backlog: %s",
                                    g_strerror(e));
                        ok = FALSE;
                }
        }
        g_slist_free(listeners);
        return ok;
}

static gboolean
vtc_hostd_api_noop_job(VtcHostdTpm *tpm,
                       VtcTpm *raw,
                       gpointer data,
                       gpointer *out_result,
                       GError **error)
{
        return TRUE;
}

void
vtc_hostd_api_free(VtcHostdApi *self)
{
        GHashTableIter iter;
        gpointer key;

        if (self == NULL)
                return;
        if (self->server != NULL) {
                soup_server_disconnect(self->server);
                g_clear_object(&self->server);
        }
        if (self->batch != NULL) {
                vtc_hostd_batch_set_quote_hook(self->batch, NULL, NULL);
                /* the worker runs jobs in order: once this one ran, no quote job uses the hook */
                (void)vtc_hostd_tpm_run_sync(self->tpm,
                                             vtc_hostd_api_noop_job,
                                             NULL,
                                             NULL,
                                             NULL,
                                             NULL);
        }
        g_mutex_lock(&self->lock);
        while (self->n_readers > 0)
                g_cond_wait(&self->cond, &self->lock);
        g_mutex_unlock(&self->lock);
        if (self->calls != NULL) {
                g_hash_table_iter_init(&iter, self->calls);
                while (g_hash_table_iter_next(&iter, &key, NULL))
                        ((VtcHostdApiCall *)key)->api = NULL;
                g_hash_table_unref(self->calls);
        }
        g_clear_pointer(&self->requests, g_hash_table_unref);
        g_mutex_clear(&self->lock);
        g_cond_clear(&self->cond);
        g_free(self->host_id);
        g_free(self->boot_log);
        g_free(self->ima_log);
        g_free(self);
}
