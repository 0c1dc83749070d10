/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-round.h"

#include <errno.h>
#include <fcntl.h>

#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_AGENT_ROUND_READ_CHUNK (64 * 1024)

struct _VtcAgentRound {
        gint ref_count;
        VtcAgentTpm *tpm;
        gchar *uuid;
        gchar *ima_path;
        gchar *boot_log_path;
        gsize ima_max_chunk;
        gboolean have_tls_key;
        guint8 tls_key_sha256[32];
};

VtcAgentRound *
vtc_agent_round_new(VtcAgentTpm *tpm, const VtcAgentRoundOptions *options)
{
        VtcAgentRound *self = g_new0(VtcAgentRound, 1);

        self->ref_count = 1;
        self->tpm = vtc_agent_tpm_ref(tpm);
        self->uuid = g_strdup(options->uuid != NULL ? options->uuid : "");
        if (options->ima_path != NULL && options->ima_path[0] != '\0')
                self->ima_path = g_strdup(options->ima_path);
        if (options->boot_log_path != NULL && options->boot_log_path[0] != '\0')
                self->boot_log_path = g_strdup(options->boot_log_path);
        self->ima_max_chunk = options->ima_max_chunk == 0
                                  ? VTC_CHANNEL_MAX_IMA
                                  : MIN(options->ima_max_chunk, (gsize)VTC_CHANNEL_MAX_IMA);
        if (options->tls_key_sha256 != NULL) {
                self->have_tls_key = TRUE;
                memcpy(self->tls_key_sha256, options->tls_key_sha256, 32);
        }
        return self;
}

VtcAgentRound *
vtc_agent_round_ref(VtcAgentRound *self)
{
        g_atomic_int_inc(&self->ref_count);
        return self;
}

void
vtc_agent_round_unref(VtcAgentRound *self)
{
        if (self == NULL || !g_atomic_int_dec_and_test(&self->ref_count))
                return;
        vtc_agent_tpm_unref(self->tpm);
        g_free(self->uuid);
        g_free(self->ima_path);
        g_free(self->boot_log_path);
        g_free(self);
}

GBytes *
vtc_agent_round_read_from(const gchar *path,
                          guint64 offset,
                          gsize max,
                          gboolean *out_more,
                          GError **error)
{
        vtc_autofd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        g_autoptr(GByteArray) buf = NULL;
        g_autofree guint8 *chunk = NULL;
        /* from offset - 1, so that an empty read tells "at the end" from "beyond the end" */
        gsize lead = offset > 0 ? 1 : 0;
        gsize want = lead + max + 1;

        if (fd < 0) {
                int e = errno;
                g_set_error(error,
                            VTC_ERROR,
                            e == ENOENT ? VTC_ERROR_NOT_FOUND : VTC_ERROR_IO,
                            "opening %s: %s",
                            path,
                            g_strerror(e));
                return NULL;
        }
        if (offset > (guint64)G_MAXINT64 ||
            (offset > 0 && lseek(fd, (off_t)(offset - 1), SEEK_SET) < 0)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "cannot seek %s to byte %" G_GUINT64_FORMAT ": %s",
                            path,
                            offset,
                            g_strerror(errno));
                return NULL;
        }
        buf = g_byte_array_new();
        chunk = g_malloc(VTC_AGENT_ROUND_READ_CHUNK);
        while (buf->len < want) {
                ssize_t n =
                    read(fd, chunk, MIN((gsize)VTC_AGENT_ROUND_READ_CHUNK, want - buf->len));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "reading %s: %s",
                                    path,
                                    g_strerror(errno));
                        return NULL;
                }
                if (n == 0)
                        break;
                g_byte_array_append(buf, chunk, (guint)n);
        }
        if (buf->len < lead) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "offset %" G_GUINT64_FORMAT " is beyond the end of %s",
                            offset,
                            path);
                return NULL;
        }
        g_byte_array_remove_range(buf, 0, (guint)lead);
        *out_more = buf->len > max;
        if (buf->len > max)
                g_byte_array_set_size(buf, (guint)max);
        return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

static void
vtc_agent_round_add_pcrs(JsonBuilder *b, const VtcChannelPcrs *sel, const VtcPcrValues *pcrs)
{
        json_builder_set_member_name(b, "pcrs");
        json_builder_begin_object(b);
        for (guint i = 0; i < sel->n_banks; i++) {
                const VtcHashAlg *alg = vtc_hash_alg_from_id(sel->hash_alg[i]);

                json_builder_set_member_name(b, alg != NULL ? alg->name : "unknown");
                json_builder_begin_object(b);
                for (guint pcr = 0; pcr < 24; pcr++) {
                        gsize len = 0;
                        const guint8 *d;
                        g_autofree gchar *hex = NULL;
                        gchar key[4];

                        if ((sel->pcr_mask[i] & (1u << pcr)) == 0)
                                continue;
                        d = vtc_pcr_values_get(pcrs, sel->hash_alg[i], pcr, &len);
                        if (d == NULL)
                                continue;
                        g_snprintf(key, sizeof(key), "%u", pcr);
                        hex = vtc_hex_encode(d, len);
                        json_builder_set_member_name(b, key);
                        json_builder_add_string_value(b, hex);
                }
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
}

static void
vtc_agent_round_add_ima(VtcAgentRound *self, JsonBuilder *b, guint64 offset)
{
        g_autoptr(GError) error = NULL;
        gboolean more = FALSE;
        g_autoptr(GBytes) data =
            vtc_agent_round_read_from(self->ima_path, offset, self->ima_max_chunk, &more, &error);

        /* no IMA in this guest: the member is left out */
        if (data == NULL && g_error_matches(error, VTC_ERROR, VTC_ERROR_NOT_FOUND))
                return;
        json_builder_set_member_name(b, "ima_log");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, (gint64)offset);
        if (data == NULL) {
                json_builder_set_member_name(b, "error");
                json_builder_add_string_value(b, error->message);
        } else {
                vtc_json_builder_add_base64(b,
                                            "data",
                                            g_bytes_get_data(data, NULL),
                                            g_bytes_get_size(data));
                json_builder_set_member_name(b, "more");
                json_builder_add_boolean_value(b, more);
        }
        json_builder_end_object(b);
}

static void
vtc_agent_round_add_boot_log(VtcAgentRound *self, JsonBuilder *b)
{
        g_autoptr(GError) error = NULL;
        gboolean more = FALSE;
        g_autoptr(GBytes) data = vtc_agent_round_read_from(self->boot_log_path,
                                                           0,
                                                           VTC_AGENT_ROUND_MAX_BOOT_LOG,
                                                           &more,
                                                           &error);

        if (data == NULL && g_error_matches(error, VTC_ERROR, VTC_ERROR_NOT_FOUND))
                return;
        json_builder_set_member_name(b, "boot_log");
        json_builder_begin_object(b);
        if (data == NULL || more) {
                g_autofree gchar *why = data == NULL
                                            ? g_strdup(error->message)
                                            : g_strdup_printf("%s is over %u bytes",
                                                              self->boot_log_path,
                                                              VTC_AGENT_ROUND_MAX_BOOT_LOG);
                json_builder_set_member_name(b, "error");
                json_builder_add_string_value(b, why);
        } else {
                vtc_json_builder_add_base64(b,
                                            "data",
                                            g_bytes_get_data(data, NULL),
                                            g_bytes_get_size(data));
        }
        json_builder_end_object(b);
}

JsonObject *
vtc_agent_round_run(VtcAgentRound *self, const VtcChannelRound *round, GError **error)
{
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) signature = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(JsonBuilder) b = NULL;
        g_autoptr(JsonNode) root = NULL;

        if (!vtc_agent_tpm_quote(self->tpm,
                                 round->nonce,
                                 self->have_tls_key ? self->tls_key_sha256 : NULL,
                                 &round->pcrs,
                                 &attest,
                                 &signature,
                                 &pcrs,
                                 error))
                return NULL;
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, self->uuid);
        json_builder_set_member_name(b, "quote");
        json_builder_begin_object(b);
        vtc_json_builder_add_base64(b,
                                    "attest",
                                    g_bytes_get_data(attest, NULL),
                                    g_bytes_get_size(attest));
        vtc_json_builder_add_base64(b,
                                    "signature",
                                    g_bytes_get_data(signature, NULL),
                                    g_bytes_get_size(signature));
        json_builder_end_object(b);
        vtc_agent_round_add_pcrs(b, &round->pcrs, pcrs);
        /* after the quote: every entry it covers is in the log by now */
        if (self->ima_path != NULL)
                vtc_agent_round_add_ima(self, b, round->ima_offset);
        if (round->boot_log && self->boot_log_path != NULL)
                vtc_agent_round_add_boot_log(self, b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return json_object_ref(json_node_get_object(root));
}

static void
vtc_agent_round_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
        VtcAgentRound *self = g_object_get_data(G_OBJECT(task), "vtc-agent-round");
        GError *error = NULL;
        JsonObject *obj = vtc_agent_round_run(self, data, &error);

        if (obj == NULL)
                g_task_return_error(task, error);
        else
                g_task_return_pointer(task, obj, (GDestroyNotify)json_object_unref);
}

/* the task keeps a reference on @self for the thread (GTask's source must be a GObject) */
void
vtc_agent_round_run_async(VtcAgentRound *self,
                          const VtcChannelRound *round,
                          GCancellable *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer user_data)
{
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

        g_task_set_source_tag(task, vtc_agent_round_run_async);
        g_task_set_task_data(task, g_memdup2(round, sizeof(*round)), g_free);
        g_object_set_data_full(G_OBJECT(task),
                               "vtc-agent-round",
                               vtc_agent_round_ref(self),
                               (GDestroyNotify)vtc_agent_round_unref);
        g_task_run_in_thread(task, vtc_agent_round_thread);
}

JsonObject *
vtc_agent_round_run_finish(VtcAgentRound *self, GAsyncResult *result, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
        return g_task_propagate_pointer(G_TASK(result), error);
}
