/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent channel (common/vtc-channel.c) as a peer sees it. The first byte chooses:
 *  even: the rest is a byte stream fed to the frame decoder in chunks whose sizes come from the
 *        first byte; every payload it gives must be 2..16 MiB, NUL-terminated, survive being
 *        encoded and decoded again, and is also read as a round request;
 *  odd:  the rest is a JSON document read as a round request.
 * An accepted round request must be written back by vtc_channel_round_to_json() and read again
 * to the same values. Any crash, sanitizer report or broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_round(const gchar *json, gsize len)
{
        static const gchar *const extra[] = {"id", "op", "vm_uuid", "offsets", NULL};
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) obj = vtc_json_parse_object(json, len, &limits, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonBuilder) builder = NULL;
        g_autoptr(JsonObject) again_obj = NULL;
        g_autofree gchar *again = NULL;
        VtcChannelRound round;
        VtcChannelRound back;

        if (obj == NULL)
                return;
        memset(&round, 0x5a, sizeof(round));
        if (!vtc_channel_round_from_json(obj, extra, &round, &error)) {
                VtcChannelRound untouched;
                memset(&untouched, 0x5a, sizeof(untouched));
                if (error == NULL || error->domain != VTC_ERROR ||
                    memcmp(&round, &untouched, sizeof(round)) != 0)
                        abort();
                return;
        }
        if (round.id < 0 || round.id > VTC_CHANNEL_MAX_ID || round.pcrs.n_banks < 1 ||
            round.pcrs.n_banks > 3 || round.vm_uuid[36] != '\0')
                abort();
        for (guint i = 0; i < round.pcrs.n_banks; i++) {
                if (round.pcrs.pcr_mask[i] == 0 || (round.pcrs.pcr_mask[i] >> 24) != 0)
                        abort();
                if (i > 0 && round.pcrs.hash_alg[i] <= round.pcrs.hash_alg[i - 1])
                        abort();
        }

        builder = json_builder_new();
        json_builder_begin_object(builder);
        vtc_channel_round_to_json(&round, builder);
        json_builder_end_object(builder);
        again = vtc_json_builder_to_string(builder);
        again_obj = vtc_json_parse_object(again, strlen(again), &limits, NULL);
        if (again_obj == NULL || !vtc_channel_round_from_json(again_obj, NULL, &back, NULL))
                abort();
        /* id and vm_uuid are the caller's to write */
        back.id = round.id;
        memcpy(back.vm_uuid, round.vm_uuid, sizeof(back.vm_uuid));
        if (memcmp(&back, &round, sizeof(round)) != 0)
                abort();
}

static void
fuzz_stream(guint8 seed, const uint8_t *data, size_t size)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        gsize chunk = (gsize)(seed >> 1) * 7 + 1;
        gsize off = 0;

        while (off < size) {
                gsize n = MIN(chunk, size - off);

                vtc_channel_decoder_feed(dec, data + off, n);
                off += n;
                for (guint guard = 0;; guard++) {
                        g_autoptr(GError) error = NULL;
                        g_autofree gchar *payload = NULL;
                        gsize len = 0;

                        if (guard > size + 1)
                                abort(); /* every turn consumes at least one byte */
                        if (!vtc_channel_decoder_next(dec, &payload, &len, &error)) {
                                if (payload != NULL)
                                        abort();
                                if (error == NULL)
                                        break;
                                if (error->domain != VTC_ERROR ||
                                    (error->code != VTC_ERROR_INVALID_DATA &&
                                     error->code != VTC_ERROR_TOO_LARGE))
                                        abort();
                                continue;
                        }
                        if (len < VTC_CHANNEL_MIN_PAYLOAD || len > VTC_CHANNEL_MAX_PAYLOAD ||
                            payload[len] != '\0')
                                abort();
                        {
                                g_autoptr(GBytes) frame =
                                    vtc_channel_frame_encode(payload, len, NULL);
                                g_autoptr(VtcChannelDecoder) d2 = vtc_channel_decoder_new();
                                g_autofree gchar *p2 = NULL;
                                gsize l2 = 0;

                                if (frame == NULL)
                                        abort();
                                vtc_channel_decoder_feed(d2,
                                                         g_bytes_get_data(frame, NULL),
                                                         g_bytes_get_size(frame));
                                if (!vtc_channel_decoder_next(d2, &p2, &l2, NULL) || l2 != len ||
                                    memcmp(p2, payload, len) != 0 ||
                                    vtc_channel_decoder_get_buffered(d2) != 0)
                                        abort();
                        }
                        fuzz_round(payload, len);
                }
                /* what is held is at most one partial frame */
                if (vtc_channel_decoder_get_buffered(dec) >
                    VTC_CHANNEL_HEADER_SIZE + VTC_CHANNEL_MAX_PAYLOAD)
                        abort();
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        if (data[0] & 1)
                fuzz_round((const gchar *)data + 1, size - 1);
        else
                fuzz_stream(data[0], data + 1, size - 1);
        return 0;
}
