/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-channel.h"

#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_CHANNEL_MAGIC_SIZE 4
#define VTC_CHANNEL_MAX_PCR    23
#define VTC_CHANNEL_MAX_OFFSET ((gint64)1 << 53)

GBytes *
vtc_channel_frame_encode(const gchar *json, gsize len, GError **error)
{
        guint8 *buf;

        if (len > VTC_CHANNEL_MAX_PAYLOAD) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "channel frame payload of %" G_GSIZE_FORMAT
                            " bytes is over the limit of %u",
                            len,
                            VTC_CHANNEL_MAX_PAYLOAD);
                return NULL;
        }
        if (len < VTC_CHANNEL_MIN_PAYLOAD) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "channel frame payload of %" G_GSIZE_FORMAT
                            " bytes cannot be a JSON object",
                            len);
                return NULL;
        }
        buf = g_malloc(VTC_CHANNEL_HEADER_SIZE + len);
        memcpy(buf, VTC_CHANNEL_MAGIC, VTC_CHANNEL_MAGIC_SIZE);
        buf[4] = (guint8)(len >> 24);
        buf[5] = (guint8)(len >> 16);
        buf[6] = (guint8)(len >> 8);
        buf[7] = (guint8)len;
        memcpy(buf + VTC_CHANNEL_HEADER_SIZE, json, len);
        return g_bytes_new_take(buf, VTC_CHANNEL_HEADER_SIZE + len);
}

/*
 * The decoder holds the unread bytes in @buf from @start. While @resync is set the head of the
 * buffer is not a frame start: bytes are dropped up to the next "VTC1" (or up to a tail that may
 * still become one), as they come, so garbage never accumulates.
 */
struct _VtcChannelDecoder {
        GByteArray *buf;
        gsize start;
        gboolean resync;
};

VtcChannelDecoder *
vtc_channel_decoder_new(void)
{
        VtcChannelDecoder *self = g_new0(VtcChannelDecoder, 1);

        self->buf = g_byte_array_new();
        return self;
}

void
vtc_channel_decoder_free(VtcChannelDecoder *self)
{
        if (self == NULL)
                return;
        g_byte_array_unref(self->buf);
        g_free(self);
}

static gsize
vtc_channel_decoder_avail(VtcChannelDecoder *self)
{
        return self->buf->len - self->start;
}

static const guint8 *
vtc_channel_decoder_head(VtcChannelDecoder *self)
{
        static const guint8 empty[1] = {0};

        /* an empty GByteArray may have no storage at all */
        if (self->buf->data == NULL)
                return empty;
        return self->buf->data + self->start;
}

static void
vtc_channel_decoder_consume(VtcChannelDecoder *self, gsize n)
{
        self->start += n;
        if (self->start == self->buf->len) {
                g_byte_array_set_size(self->buf, 0);
                self->start = 0;
        } else if (self->start >= 65536 && self->start * 2 >= self->buf->len) {
                g_byte_array_remove_range(self->buf, 0, (guint)self->start);
                self->start = 0;
        }
}

/* Whether the @n bytes at @p are a prefix of the magic. */
static gboolean
vtc_channel_is_magic_prefix(const guint8 *p, gsize n)
{
        return memcmp(p, VTC_CHANNEL_MAGIC, MIN(n, VTC_CHANNEL_MAGIC_SIZE)) == 0;
}

/* In resync mode: drops bytes up to the next possible frame start. */
static void
vtc_channel_decoder_skip(VtcChannelDecoder *self)
{
        const guint8 *p = vtc_channel_decoder_head(self);
        gsize n = vtc_channel_decoder_avail(self);
        gsize i;

        if (!self->resync)
                return;
        for (i = 0; i < n; i++) {
                if (p[i] == VTC_CHANNEL_MAGIC[0] && vtc_channel_is_magic_prefix(p + i, n - i))
                        break;
        }
        vtc_channel_decoder_consume(self, i);
        /* a whole magic ends the resynchronisation; a partial one waits for more bytes */
        if (vtc_channel_decoder_avail(self) >= VTC_CHANNEL_MAGIC_SIZE)
                self->resync = FALSE;
}

void
vtc_channel_decoder_feed(VtcChannelDecoder *self, const guint8 *data, gsize len)
{
        g_return_if_fail(self != NULL);

        while (len > 0) {
                /* g_byte_array_append takes a guint length */
                guint chunk = (guint)MIN(len, (gsize)G_MAXUINT / 2);
                g_byte_array_append(self->buf, data, chunk);
                data += chunk;
                len -= chunk;
        }
        vtc_channel_decoder_skip(self);
}

gboolean
vtc_channel_decoder_next(VtcChannelDecoder *self,
                         gchar **out_payload,
                         gsize *out_len,
                         GError **error)
{
        const guint8 *p;
        gsize n;
        guint32 len;
        gchar *payload;

        g_return_val_if_fail(self != NULL, FALSE);
        g_return_val_if_fail(out_payload != NULL, FALSE);

        vtc_channel_decoder_skip(self);
        if (self->resync)
                return FALSE;
        p = vtc_channel_decoder_head(self);
        n = vtc_channel_decoder_avail(self);
        if (n == 0)
                return FALSE;
        if (!vtc_channel_is_magic_prefix(p, n)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "garbled channel frame: bad magic");
                /* the garbled head is dropped: look for the next magic after its first byte */
                vtc_channel_decoder_consume(self, 1);
                self->resync = TRUE;
                vtc_channel_decoder_skip(self);
                return FALSE;
        }
        if (n < VTC_CHANNEL_HEADER_SIZE)
                return FALSE;
        len = ((guint32)p[4] << 24) | ((guint32)p[5] << 16) | ((guint32)p[6] << 8) | p[7];
        if (len < VTC_CHANNEL_MIN_PAYLOAD || len > VTC_CHANNEL_MAX_PAYLOAD) {
                g_set_error(error,
                            VTC_ERROR,
                            len < VTC_CHANNEL_MIN_PAYLOAD ? VTC_ERROR_INVALID_DATA
                                                          : VTC_ERROR_TOO_LARGE,
                            "garbled channel frame: payload length %u out of range %u..%u",
                            len,
                            (guint)VTC_CHANNEL_MIN_PAYLOAD,
                            VTC_CHANNEL_MAX_PAYLOAD);
                /* the length cannot be trusted: resynchronise after this magic */
                vtc_channel_decoder_consume(self, VTC_CHANNEL_MAGIC_SIZE);
                self->resync = TRUE;
                vtc_channel_decoder_skip(self);
                return FALSE;
        }
        if (n - VTC_CHANNEL_HEADER_SIZE < len)
                return FALSE;
        payload = g_malloc((gsize)len + 1);
        memcpy(payload, p + VTC_CHANNEL_HEADER_SIZE, len);
        payload[len] = '\0';
        vtc_channel_decoder_consume(self, VTC_CHANNEL_HEADER_SIZE + (gsize)len);
        *out_payload = payload;
        if (out_len != NULL)
                *out_len = len;
        return TRUE;
}

gsize
vtc_channel_decoder_get_buffered(VtcChannelDecoder *self)
{
        g_return_val_if_fail(self != NULL, 0);
        return vtc_channel_decoder_avail(self);
}

/* Round requests */

static const struct {
        const gchar *name;
        guint16 alg;
} vtc_channel_banks[] = {
    {"sha1", TPM2_ALG_SHA1},
    {"sha256", TPM2_ALG_SHA256},
    {"sha384", TPM2_ALG_SHA384},
};

static gboolean
vtc_channel_pcrs_from_json(JsonObject *obj, VtcChannelPcrs *out, GError **error)
{
        VtcChannelPcrs pcrs = {0};
        guint32 masks[G_N_ELEMENTS(vtc_channel_banks)] = {0};
        gboolean seen[G_N_ELEMENTS(vtc_channel_banks)] = {FALSE};
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *node;

        if (json_object_get_size(obj) == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'pcrs' must select at least one bank");
                return FALSE;
        }
        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &name, &node)) {
                gsize bank = G_N_ELEMENTS(vtc_channel_banks);
                JsonArray *array;
                guint n;

                for (gsize i = 0; i < G_N_ELEMENTS(vtc_channel_banks); i++) {
                        if (g_strcmp0(name, vtc_channel_banks[i].name) == 0)
                                bank = i;
                }
                if (bank == G_N_ELEMENTS(vtc_channel_banks)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'pcrs': unknown bank '%.64s' (sha1, sha256, sha384)",
                                    name);
                        return FALSE;
                }
                if (!JSON_NODE_HOLDS_ARRAY(node)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'pcrs.%s' must be an array",
                                    name);
                        return FALSE;
                }
                array = json_node_get_array(node);
                n = json_array_get_length(array);
                if (n == 0 || n > VTC_CHANNEL_MAX_PCR + 1) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'pcrs.%s' must list 1 to %d PCRs",
                                    name,
                                    VTC_CHANNEL_MAX_PCR + 1);
                        return FALSE;
                }
                for (guint i = 0; i < n; i++) {
                        JsonNode *el = json_array_get_element(array, i);
                        gint64 v;

                        if (!JSON_NODE_HOLDS_VALUE(el) ||
                            json_node_get_value_type(el) != G_TYPE_INT64 ||
                            (v = json_node_get_int(el)) < 0 || v > VTC_CHANNEL_MAX_PCR) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "member 'pcrs.%s[%u]' must be a PCR index 0-%d",
                                            name,
                                            i,
                                            VTC_CHANNEL_MAX_PCR);
                                return FALSE;
                        }
                        if (masks[bank] & (1u << v)) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "member 'pcrs.%s' lists PCR %" G_GINT64_FORMAT " twice",
                                            name,
                                            v);
                                return FALSE;
                        }
                        masks[bank] |= 1u << v;
                }
                seen[bank] = TRUE;
        }
        /* banks in a fixed order (by algorithm id), whatever the JSON order */
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_channel_banks); i++) {
                if (!seen[i])
                        continue;
                pcrs.hash_alg[pcrs.n_banks] = vtc_channel_banks[i].alg;
                pcrs.pcr_mask[pcrs.n_banks] = masks[i];
                pcrs.n_banks++;
        }
        *out = pcrs;
        return TRUE;
}

static gboolean
vtc_channel_member_allowed(const gchar *name, const gchar *const *allowed_extra)
{
        static const gchar *const own[] = {"nonce", "pcrs", "ima_offset", "boot_log"};

        for (gsize i = 0; i < G_N_ELEMENTS(own); i++) {
                if (g_strcmp0(name, own[i]) == 0)
                        return TRUE;
        }
        return allowed_extra != NULL && g_strv_contains(allowed_extra, name);
}

gboolean
vtc_channel_round_from_json(JsonObject *obj,
                            const gchar *const *allowed_extra,
                            VtcChannelRound *out,
                            GError **error)
{
        VtcChannelRound round = {0};
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *node;
        const gchar *str;
        JsonObject *pcrs;
        gint64 v = 0;

        g_return_val_if_fail(obj != NULL, FALSE);
        g_return_val_if_fail(out != NULL, FALSE);

        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &name, &node)) {
                if (!vtc_channel_member_allowed(name, allowed_extra)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unknown member '%.64s'",
                                    name);
                        return FALSE;
                }
        }

        str = vtc_json_get_string(obj, "nonce", TRUE, error);
        if (str == NULL)
                return FALSE;
        if (!vtc_hex_decode_fixed(str, round.nonce, sizeof(round.nonce), error)) {
                g_prefix_error(error, "member 'nonce': ");
                return FALSE;
        }
        pcrs = vtc_json_get_object(obj, "pcrs", TRUE, error);
        if (pcrs == NULL)
                return FALSE;
        if (!vtc_channel_pcrs_from_json(pcrs, &round.pcrs, error))
                return FALSE;
        if (!vtc_json_get_int(obj, "ima_offset", 0, VTC_CHANNEL_MAX_OFFSET, FALSE, &v, error))
                return FALSE;
        round.ima_offset = (guint64)v;
        if (!vtc_json_get_bool(obj, "boot_log", FALSE, &round.boot_log, error))
                return FALSE;

        /* the members a caller may allow whose form this protocol fixes */
        if (json_object_has_member(obj, "id")) {
                if (!vtc_json_get_int(obj, "id", 1, VTC_CHANNEL_MAX_ID, TRUE, &round.id, error))
                        return FALSE;
        }
        if (json_object_has_member(obj, "op")) {
                str = vtc_json_get_string(obj, "op", TRUE, error);
                if (str == NULL)
                        return FALSE;
                if (g_strcmp0(str, "round") != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'op' must be \"round\"");
                        return FALSE;
                }
        }
        if (json_object_has_member(obj, "vm_uuid")) {
                g_autofree gchar *lower = NULL;

                str = vtc_json_get_string(obj, "vm_uuid", TRUE, error);
                if (str == NULL)
                        return FALSE;
                if (strlen(str) != 36 || !g_uuid_string_is_valid(str)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'vm_uuid' is not a UUID");
                        return FALSE;
                }
                lower = g_ascii_strdown(str, -1);
                memcpy(round.vm_uuid, lower, 37);
        }
        *out = round;
        return TRUE;
}

void
vtc_channel_round_to_json(const VtcChannelRound *round, JsonBuilder *builder)
{
        g_autofree gchar *nonce = vtc_hex_encode(round->nonce, sizeof(round->nonce));

        json_builder_set_member_name(builder, "nonce");
        json_builder_add_string_value(builder, nonce);
        json_builder_set_member_name(builder, "pcrs");
        json_builder_begin_object(builder);
        for (guint b = 0; b < round->pcrs.n_banks && b < G_N_ELEMENTS(round->pcrs.hash_alg); b++) {
                const gchar *bank = NULL;

                for (gsize i = 0; i < G_N_ELEMENTS(vtc_channel_banks); i++) {
                        if (vtc_channel_banks[i].alg == round->pcrs.hash_alg[b])
                                bank = vtc_channel_banks[i].name;
                }
                if (bank == NULL)
                        continue;
                json_builder_set_member_name(builder, bank);
                json_builder_begin_array(builder);
                for (guint i = 0; i <= VTC_CHANNEL_MAX_PCR; i++) {
                        if (round->pcrs.pcr_mask[b] & (1u << i))
                                json_builder_add_int_value(builder, i);
                }
                json_builder_end_array(builder);
        }
        json_builder_end_object(builder);
        json_builder_set_member_name(builder, "ima_offset");
        json_builder_add_int_value(builder, (gint64)round->ima_offset);
        json_builder_set_member_name(builder, "boot_log");
        json_builder_add_boolean_value(builder, round->boot_log);
}

void
vtc_channel_round_append_json(const VtcChannelRound *round, GString *out)
{
        static const gchar hex[] = "0123456789abcdef";
        gboolean first_bank = TRUE;

        g_string_append(out, "\"nonce\":\"");
        for (gsize i = 0; i < sizeof(round->nonce); i++) {
                g_string_append_c(out, hex[round->nonce[i] >> 4]);
                g_string_append_c(out, hex[round->nonce[i] & 0xf]);
        }
        g_string_append(out, "\",\"pcrs\":{");
        for (guint b = 0; b < round->pcrs.n_banks && b < G_N_ELEMENTS(round->pcrs.hash_alg); b++) {
                const gchar *bank = NULL;
                gboolean first = TRUE;

                for (gsize i = 0; i < G_N_ELEMENTS(vtc_channel_banks); i++) {
                        if (vtc_channel_banks[i].alg == round->pcrs.hash_alg[b])
                                bank = vtc_channel_banks[i].name;
                }
                if (bank == NULL)
                        continue;
                g_string_append_printf(out, "%s\"%s\":[", first_bank ? "" : ",", bank);
                first_bank = FALSE;
                for (guint i = 0; i <= VTC_CHANNEL_MAX_PCR; i++) {
                        if (round->pcrs.pcr_mask[b] & (1u << i)) {
                                g_string_append_printf(out, first ? "%u" : ",%u", i);
                                first = FALSE;
                        }
                }
                g_string_append_c(out, ']');
        }
        g_string_append_printf(out,
                               "},\"ima_offset\":%" G_GUINT64_FORMAT ",\"boot_log\":%s",
                               round->ima_offset,
                               round->boot_log ? "true" : "false");
}

void
vtc_channel_quote_qualifier(const guint8 nonce[VTC_CHANNEL_NONCE_SIZE],
                            const guint8 *tls_key_sha256,
                            guint8 out[32])
{
        static const guint8 zero[32] = {0};
        g_autoptr(GChecksum) sha = g_checksum_new(G_CHECKSUM_SHA256);
        gsize len = 32;

        g_checksum_update(sha, nonce, VTC_CHANNEL_NONCE_SIZE);
        g_checksum_update(sha, tls_key_sha256 != NULL ? tls_key_sha256 : zero, 32);
        g_checksum_get_digest(sha, out, &len);
}
