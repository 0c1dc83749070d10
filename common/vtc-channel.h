/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The agent channel protocol (doc/channel.md): frames of "VTC1" || be32 length || JSON object,
 * with request ids, over the VM's private virtio-serial port (or a unix socket in tests), and the
 * round request / guest evidence objects shared by hostd, vtc-agent and the verifier.
 */
#define VTC_CHANNEL_MAGIC       "VTC1"
#define VTC_CHANNEL_HEADER_SIZE 8
#define VTC_CHANNEL_MIN_PAYLOAD 2
#define VTC_CHANNEL_MAX_PAYLOAD (16u * 1024 * 1024)
#define VTC_CHANNEL_MAX_IMA     (8u * 1024 * 1024)
#define VTC_CHANNEL_NONCE_SIZE  32
#define VTC_CHANNEL_MAX_ID      ((gint64)1 << 53)

/* Encodes one frame around @json (a complete JSON object text of @len bytes). Fails with
 * VTC_ERROR_TOO_LARGE over VTC_CHANNEL_MAX_PAYLOAD. */
GBytes *vtc_channel_frame_encode(const gchar *json, gsize len, GError **error);

typedef struct _VtcChannelDecoder VtcChannelDecoder;

VtcChannelDecoder *vtc_channel_decoder_new(void);
void vtc_channel_decoder_free(VtcChannelDecoder *self);
/* Appends received bytes. Never fails; the decoder keeps at most one partial frame (bytes that
 * cannot start a frame are skipped as they come). */
void vtc_channel_decoder_feed(VtcChannelDecoder *self, const guint8 *data, gsize len);
/*
 * Takes the next whole frame's payload:
 *  - TRUE with *@out_payload set (caller frees; NUL-terminated, *@out_len without the NUL);
 *  - FALSE with no error: more bytes are needed;
 *  - FALSE with VTC_ERROR_INVALID_DATA / VTC_ERROR_TOO_LARGE: a garbled frame (bad magic, length
 *    out of range) was skipped; the decoder has resynchronised to the next "VTC1" and the caller
 *    may answer with an error frame (id 0) and call again.
 */
gboolean vtc_channel_decoder_next(VtcChannelDecoder *self,
                                  gchar **out_payload,
                                  gsize *out_len,
                                  GError **error);
/* Bytes held (for tests and limits). */
gsize vtc_channel_decoder_get_buffered(VtcChannelDecoder *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcChannelDecoder, vtc_channel_decoder_free)

/* The PCR selection of a round: up to 3 banks, PCRs 0-23. */
typedef struct {
        guint16 hash_alg[3]; /* TPM2_ALG_SHA1 / SHA256 / SHA384 */
        guint32 pcr_mask[3]; /* bit i = PCR i */
        guint n_banks;
} VtcChannelPcrs;

/* A round request (doc/channel.md), parsed from JSON with vtc_json limits. */
typedef struct {
        gint64 id;         /* 0 when absent (HTTPS forms) */
        gchar vm_uuid[37]; /* lower case; "" when absent */
        guint8 nonce[VTC_CHANNEL_NONCE_SIZE];
        VtcChannelPcrs pcrs;
        guint64 ima_offset;
        gboolean boot_log;
} VtcChannelRound;

/*
 * Parses the members of a round request from @obj: "nonce", "pcrs", "ima_offset" (optional,
 * default 0), "boot_log" (optional, default FALSE); "id"/"op" are the caller's business, as is
 * "vm_uuid"/"offsets" (hostd). @allowed_extra lists further member names the caller accepts (NULL
 * terminated, may be NULL); any other member is refused (VTC_ERROR_INVALID_DATA).
 */
gboolean vtc_channel_round_from_json(JsonObject *obj,
                                     const gchar *const *allowed_extra,
                                     VtcChannelRound *out,
                                     GError **error);
/* Adds "nonce", "pcrs", "ima_offset", "boot_log" members to an open builder object. */
void vtc_channel_round_to_json(const VtcChannelRound *round, JsonBuilder *builder);
/* The same members as text, appended to @out ("nonce":...,"boot_log":...; no braces): the
 * verifier writes thousands of round requests a second. */
void vtc_channel_round_append_json(const VtcChannelRound *round, GString *out);

/*
 * qualifyingData of a guest quote: SHA-256(nonce || tls_key_sha256); @tls_key_sha256 NULL means
 * 32 zero bytes (an agent without a registered TLS key).
 */
void vtc_channel_quote_qualifier(const guint8 nonce[VTC_CHANNEL_NONCE_SIZE],
                                 const guint8 *tls_key_sha256,
                                 guint8 out[32]);

G_END_DECLS
