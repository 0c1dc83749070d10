/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostd's HTTPS request parsers (hostd/vtc-hostd-api.c) on arbitrary bodies: the first byte
 * chooses POST /v1/rounds (bit 2 set: each entry it accepts then goes through the /v1/round
 * parser), else POST /v1/bind (even) or POST /v1/round (odd); the rest is the body. An accepted
 * request
 * must hold what the API relies on (a canonical lower-case UUID matching its bytes, offsets in
 * range, a round with 1-3 banks of PCRs 0-23), and a refused one must leave the output untouched
 * with a VTC_ERROR. Any crash, sanitizer report or broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtc-error.h"
#include "vtc-hostd-api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_host(const VtcHostdApiBindRequest *req)
{
        guint8 bytes[16];
        guint n = 0;

        if (strlen(req->uuid) != 36 || !g_uuid_string_is_valid(req->uuid))
                abort();
        for (guint i = 0; i < 36; i++) {
                if (g_ascii_isupper(req->uuid[i]))
                        abort();
                if (req->uuid[i] == '-')
                        continue;
                if (i + 1 >= 36 || !g_ascii_isxdigit(req->uuid[i + 1]))
                        abort();
                bytes[n++] = (guint8)((g_ascii_xdigit_value(req->uuid[i]) << 4) |
                                      g_ascii_xdigit_value(req->uuid[i + 1]));
                i++;
        }
        if (n != 16 || memcmp(bytes, req->uuid_bytes, 16) != 0)
                abort();
        if (req->off_boot > (guint64)VTC_HOSTD_API_MAX_OFFSET ||
            req->off_ima > (guint64)VTC_HOSTD_API_MAX_OFFSET || req->off_vtpm > G_MAXINT64)
                abort();
}

static void
fuzz_round(const gchar *body, gsize len)
{
        VtcHostdApiRoundRequest req;
        VtcHostdApiRoundRequest untouched;
        g_autoptr(GError) error = NULL;

        memset(&req, 0x5a, sizeof(req));
        memcpy(&untouched, &req, sizeof(req));
        if (!vtc_hostd_api_parse_round_request(body, len, &req, &error)) {
                if (error == NULL || error->domain != VTC_ERROR ||
                    memcmp(&req, &untouched, sizeof(req)) != 0)
                        abort();
                return;
        }
        fuzz_check_host(&req.host);
        if (strcmp(req.round.vm_uuid, req.host.uuid) != 0 || req.round.id != 0 ||
            req.round.pcrs.n_banks < 1 || req.round.pcrs.n_banks > 3)
                abort();
        for (guint i = 0; i < req.round.pcrs.n_banks; i++) {
                if (req.round.pcrs.pcr_mask[i] == 0 || (req.round.pcrs.pcr_mask[i] >> 24) != 0)
                        abort();
        }
}

/* 1 to VTC_HOSTD_API_MAX_ROUNDS entries, each a JSON object's text, each judged alone. */
static void
fuzz_rounds(const gchar *body, gsize len)
{
        static gint sentinel;
        GPtrArray *out = (GPtrArray *)&sentinel;
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GError) error = NULL;

        if (!vtc_hostd_api_parse_rounds_request(body, len, &out, &error)) {
                if (error == NULL || error->domain != VTC_ERROR || out != (GPtrArray *)&sentinel)
                        abort();
                return;
        }
        entries = out;
        if (entries == NULL || entries == (GPtrArray *)&sentinel || entries->len < 1 ||
            entries->len > VTC_HOSTD_API_MAX_ROUNDS)
                abort();
        for (guint i = 0; i < entries->len; i++) {
                const gchar *entry = g_ptr_array_index(entries, i);

                if (entry == NULL || entry[0] != '{')
                        abort();
                fuzz_round(entry, strlen(entry));
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const gchar *body;
        gsize len;
        g_autoptr(GError) error = NULL;

        if (size < 1)
                return 0;
        body = (const gchar *)data + 1;
        len = size - 1;
        if ((data[0] & 4) != 0) {
                fuzz_rounds(body, len);
        } else if ((data[0] & 1) == 0) {
                VtcHostdApiBindRequest req;
                VtcHostdApiBindRequest untouched;

                memset(&req, 0x5a, sizeof(req));
                memcpy(&untouched, &req, sizeof(req));
                if (!vtc_hostd_api_parse_bind_request(body, len, &req, &error)) {
                        if (error == NULL || error->domain != VTC_ERROR ||
                            memcmp(&req, &untouched, sizeof(req)) != 0)
                                abort();
                        return 0;
                }
                fuzz_check_host(&req);
        } else {
                fuzz_round(body, len);
        }
        return 0;
}
