/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <tss2/tss2_tpm2_types.h>

#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

static GBytes *
encode(const gchar *json)
{
        g_autoptr(GError) error = NULL;
        GBytes *frame = vtc_channel_frame_encode(json, strlen(json), &error);

        g_assert_no_error(error);
        g_assert_nonnull(frame);
        return frame;
}

/* Takes the next payload, asserting there is one. */
static gchar *
take(VtcChannelDecoder *dec)
{
        g_autoptr(GError) error = NULL;
        gchar *payload = NULL;
        gsize len = 0;

        g_assert_true(vtc_channel_decoder_next(dec, &payload, &len, &error));
        g_assert_no_error(error);
        g_assert_nonnull(payload);
        g_assert_cmpuint(strlen(payload), ==, len);
        return payload;
}

static void
assert_needs_more(VtcChannelDecoder *dec)
{
        g_autoptr(GError) error = NULL;
        gchar *payload = NULL;

        g_assert_false(vtc_channel_decoder_next(dec, &payload, NULL, &error));
        g_assert_no_error(error);
        g_assert_null(payload);
}

static void
test_frame_encode(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = encode("{\"id\":1}");
        g_autoptr(GBytes) tiny = NULL;
        gsize len = 0;
        const guint8 *p = g_bytes_get_data(frame, &len);
        static const guint8 want[] = {'V', 'T', 'C', '1', 0, 0, 0, 8};

        g_assert_cmpuint(len, ==, 16);
        g_assert_cmpmem(p, 8, want, 8);
        g_assert_cmpmem(p + 8, 8, "{\"id\":1}", 8);

        tiny = vtc_channel_frame_encode("{", 1, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_assert_null(tiny);
        g_clear_error(&error);
        /* the length check comes before any read of the buffer */
        g_assert_null(vtc_channel_frame_encode("{}", VTC_CHANNEL_MAX_PAYLOAD + 1, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
}

static void
test_decoder_roundtrip(void)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        const gchar *msgs[] = {"{}", "{\"id\":1,\"op\":\"hello\"}", "{\"x\":\"\\u00e9\"}"};
        g_autoptr(GByteArray) all = g_byte_array_new();

        for (gsize i = 0; i < G_N_ELEMENTS(msgs); i++) {
                g_autoptr(GBytes) f = encode(msgs[i]);
                g_byte_array_append(all, g_bytes_get_data(f, NULL), (guint)g_bytes_get_size(f));
        }
        assert_needs_more(dec);
        vtc_channel_decoder_feed(dec, all->data, all->len);
        for (gsize i = 0; i < G_N_ELEMENTS(msgs); i++) {
                g_autofree gchar *p = take(dec);
                g_assert_cmpstr(p, ==, msgs[i]);
        }
        assert_needs_more(dec);
        g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 0);
}

static void
test_decoder_byte_by_byte(void)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        g_autoptr(GBytes) f1 = encode("{\"id\":42,\"ok\":true}");
        g_autoptr(GBytes) f2 = encode("{\"id\":43,\"ok\":false}");
        g_autoptr(GByteArray) all = g_byte_array_new();
        guint got = 0;

        g_byte_array_append(all, g_bytes_get_data(f1, NULL), (guint)g_bytes_get_size(f1));
        g_byte_array_append(all, g_bytes_get_data(f2, NULL), (guint)g_bytes_get_size(f2));
        for (guint i = 0; i < all->len; i++) {
                g_autoptr(GError) error = NULL;
                g_autofree gchar *payload = NULL;

                vtc_channel_decoder_feed(dec, all->data + i, 1);
                if (vtc_channel_decoder_next(dec, &payload, NULL, &error)) {
                        got++;
                        g_assert_cmpstr(payload,
                                        ==,
                                        got == 1 ? "{\"id\":42,\"ok\":true}"
                                                 : "{\"id\":43,\"ok\":false}");
                        /* a frame appears exactly when its last byte has come */
                        g_assert_true(i + 1 == g_bytes_get_size(f1) || i + 1 == all->len);
                }
                g_assert_no_error(error);
        }
        g_assert_cmpuint(got, ==, 2);
        g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 0);
}

/* Feeds @bytes and collects what the decoder reports: "E<code>" for an error, the payload
 * otherwise, until it needs more bytes. */
static gchar *
collect(VtcChannelDecoder *dec, const guint8 *bytes, gsize len)
{
        g_autoptr(GString) out = g_string_new(NULL);

        vtc_channel_decoder_feed(dec, bytes, len);
        for (guint guard = 0; guard < 100; guard++) {
                g_autoptr(GError) error = NULL;
                g_autofree gchar *payload = NULL;

                if (vtc_channel_decoder_next(dec, &payload, NULL, &error)) {
                        g_string_append_printf(out, "%s|", payload);
                        continue;
                }
                if (error == NULL)
                        break;
                g_assert_true(error->domain == VTC_ERROR);
                g_string_append_printf(out, "E%d|", error->code);
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
test_decoder_garbled(void)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        g_autoptr(GBytes) good = encode("{\"id\":5}");
        g_autoptr(GByteArray) in = g_byte_array_new();
        g_autofree gchar *got = NULL;
        g_autofree gchar *want = NULL;
        static const guint8 garbage[] = "xxVTyyVTC";
        static const guint8 short_len[] = {'V', 'T', 'C', '1', 0, 0, 0, 1, '{'};
        static const guint8 long_len[] = {'V', 'T', 'C', '1', 0x01, 0x00, 0x00, 0x01};

        /* garbage (including partial magics) then a good frame: one error, then the frame */
        g_byte_array_append(in, garbage, sizeof(garbage) - 1);
        g_byte_array_append(in, g_bytes_get_data(good, NULL), (guint)g_bytes_get_size(good));
        got = collect(dec, in->data, in->len);
        g_assert_cmpstr(got, ==, "E2|{\"id\":5}|");
        g_clear_pointer(&got, g_free);

        /* a length below the minimum, then one over the maximum, each reported, then resync */
        g_byte_array_set_size(in, 0);
        g_byte_array_append(in, short_len, sizeof(short_len));
        g_byte_array_append(in, g_bytes_get_data(good, NULL), (guint)g_bytes_get_size(good));
        g_byte_array_append(in, long_len, sizeof(long_len));
        g_byte_array_append(in, g_bytes_get_data(good, NULL), (guint)g_bytes_get_size(good));
        got = collect(dec, in->data, in->len);
        want = g_strdup_printf("E%d|{\"id\":5}|E%d|{\"id\":5}|",
                               VTC_ERROR_INVALID_DATA,
                               VTC_ERROR_TOO_LARGE);
        g_assert_cmpstr(got, ==, want);
        g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 0);
}

static void
test_decoder_garbage_not_kept(void)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        g_autofree guint8 *junk = g_malloc(1024 * 1024);
        g_autofree gchar *got = NULL;
        g_autoptr(GBytes) good = encode("{\"ok\":1}");

        memset(junk, 'x', 1024 * 1024);
        got = collect(dec, junk, 1024 * 1024);
        g_assert_cmpstr(got, ==, "E2|");
        /* while resynchronising, garbage is dropped as it comes */
        for (guint i = 0; i < 16; i++) {
                vtc_channel_decoder_feed(dec, junk, 1024 * 1024);
                g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 0);
        }
        /* a trailing partial magic is kept, and completes */
        vtc_channel_decoder_feed(dec, (const guint8 *)"VT", 2);
        g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 2);
        g_clear_pointer(&got, g_free);
        got = collect(dec,
                      (const guint8 *)g_bytes_get_data(good, NULL) + 2,
                      g_bytes_get_size(good) - 2);
        g_assert_cmpstr(got, ==, "{\"ok\":1}|");
}

static void
test_decoder_lengths(void)
{
        g_autoptr(VtcChannelDecoder) dec = vtc_channel_decoder_new();
        guint8 hdr[8] = {'V', 'T', 'C', '1', 0, 0, 0, 0};
        g_autofree gchar *got = NULL;
        g_autofree gchar *want = NULL;
        g_autofree guint8 *big = NULL;
        gsize max = VTC_CHANNEL_MAX_PAYLOAD;

        /* length 0 and 1: refused */
        got = collect(dec, hdr, 8);
        want = g_strdup_printf("E%d|", VTC_ERROR_INVALID_DATA);
        g_assert_cmpstr(got, ==, want);
        g_clear_pointer(&got, g_free);
        hdr[7] = 1;
        got = collect(dec, hdr, 8);
        g_assert_cmpstr(got, ==, want);
        g_clear_pointer(&got, g_free);
        g_clear_pointer(&want, g_free);

        /* length 2: the smallest frame */
        hdr[7] = 2;
        vtc_channel_decoder_feed(dec, hdr, 8);
        got = collect(dec, (const guint8 *)"{}", 2);
        g_assert_cmpstr(got, ==, "{}|");
        g_clear_pointer(&got, g_free);

        /* exactly the maximum: accepted */
        big = g_malloc(8 + max);
        memcpy(big, "VTC1", 4);
        big[4] = (guint8)(max >> 24);
        big[5] = (guint8)(max >> 16);
        big[6] = (guint8)(max >> 8);
        big[7] = (guint8)max;
        memset(big + 8, ' ', max);
        big[8] = '{';
        big[8 + max - 1] = '}';
        vtc_channel_decoder_feed(dec, big, 8 + max - 1);
        assert_needs_more(dec);
        g_assert_cmpuint(vtc_channel_decoder_get_buffered(dec), ==, 8 + max - 1);
        {
                g_autoptr(GError) error = NULL;
                g_autofree gchar *payload = NULL;
                gsize len = 0;

                vtc_channel_decoder_feed(dec, big + 8 + max - 1, 1);
                g_assert_true(vtc_channel_decoder_next(dec, &payload, &len, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(len, ==, max);
                g_assert_cmpint(payload[max], ==, '\0');
        }
        /* one over: refused at the header, before any payload byte is waited for */
        max++;
        big[4] = (guint8)(max >> 24);
        big[5] = (guint8)(max >> 16);
        big[6] = (guint8)(max >> 8);
        big[7] = (guint8)max;
        got = collect(dec, big, 8);
        want = g_strdup_printf("E%d|", VTC_ERROR_TOO_LARGE);
        g_assert_cmpstr(got, ==, want);
}

static JsonObject *
parse(const gchar *json)
{
        g_autoptr(GError) error = NULL;
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        JsonObject *obj = vtc_json_parse_object(json, strlen(json), &limits, &error);

        g_assert_no_error(error);
        return obj;
}

#define NONCE_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void
test_round_parse(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj =
            parse("{\"id\": 42, \"op\": \"round\", \"nonce\": \"" NONCE_HEX "\","
                  " \"pcrs\": {\"sha256\": [10, 0, 1, 23], \"sha1\": [7]},"
                  " \"ima_offset\": 81920, \"boot_log\": true}");
        const gchar *extra[] = {"id", "op", NULL};
        VtcChannelRound r;

        memset(&r, 0xaa, sizeof(r));
        g_assert_true(vtc_channel_round_from_json(obj, extra, &r, &error));
        g_assert_no_error(error);
        g_assert_cmpint(r.id, ==, 42);
        g_assert_cmpstr(r.vm_uuid, ==, "");
        for (guint i = 0; i < 32; i++)
                g_assert_cmpuint(r.nonce[i], ==, i);
        g_assert_cmpuint(r.pcrs.n_banks, ==, 2);
        /* banks in algorithm order, whatever the JSON order */
        g_assert_cmpuint(r.pcrs.hash_alg[0], ==, TPM2_ALG_SHA1);
        g_assert_cmphex(r.pcrs.pcr_mask[0], ==, 1u << 7);
        g_assert_cmpuint(r.pcrs.hash_alg[1], ==, TPM2_ALG_SHA256);
        g_assert_cmphex(r.pcrs.pcr_mask[1], ==, (1u << 10) | 1u | 2u | (1u << 23));
        g_assert_cmpuint(r.ima_offset, ==, 81920);
        g_assert_true(r.boot_log);
}

static void
test_round_defaults_and_uuid(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj =
            parse("{\"vm_uuid\": \"6F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F\","
                  " \"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha384\": [0]},"
                  " \"offsets\": {\"boot\": 1}}");
        const gchar *extra[] = {"vm_uuid", "offsets", NULL};
        VtcChannelRound r;

        g_assert_true(vtc_channel_round_from_json(obj, extra, &r, &error));
        g_assert_no_error(error);
        g_assert_cmpint(r.id, ==, 0);
        g_assert_cmpstr(r.vm_uuid, ==, "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f");
        g_assert_cmpuint(r.pcrs.n_banks, ==, 1);
        g_assert_cmpuint(r.pcrs.hash_alg[0], ==, TPM2_ALG_SHA384);
        g_assert_cmpuint(r.ima_offset, ==, 0);
        g_assert_false(r.boot_log);

        /* without allowing them, the same members are refused */
        g_assert_false(vtc_channel_round_from_json(obj, NULL, &r, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
}

static void
test_round_invalid(void)
{
        const gchar *extra[] = {"id", "op", "vm_uuid", NULL};
        const struct {
                const gchar *json;
                const gchar *why; /* a word of the message */
        } bad[] = {
            {"{\"pcrs\": {\"sha256\": [0]}}", "nonce"},
            {"{\"nonce\": 1, \"pcrs\": {\"sha256\": [0]}}", "nonce"},
            {"{\"nonce\": \"00\", \"pcrs\": {\"sha256\": [0]}}", "nonce"},
            {"{\"nonce\": \"" NONCE_HEX "00\", \"pcrs\": {\"sha256\": [0]}}", "nonce"},
            {"{\"nonce\": \"" NONCE_HEX "\"}", "pcrs"},
            {"{\"nonce\": \"zz" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}}", "nonce"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": []}", "pcrs"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {}}", "pcrs"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha512\": [0]}}", "sha512"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": 0}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": []}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [24]}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [-1]}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [\"1\"]}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [1.5]}}", "sha256"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [3, 3]}}", "twice"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"ima_offset\": -1}",
             "ima_offset"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"ima_offset\": \"1\"}",
             "ima_offset"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, "
             "\"ima_offset\": 9007199254740993}",
             "ima_offset"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"boot_log\": 1}",
             "boot_log"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"extra\": 1}", "extra"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"id\": 0}", "id"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"id\": -5}", "id"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, "
             "\"id\": 9007199254740993}",
             "id"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"id\": \"7\"}", "id"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"op\": \"hello\"}",
             "op"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"op\": 1}", "op"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"vm_uuid\": \"x\"}",
             "vm_uuid"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, "
             "\"vm_uuid\": \"6f1c0a2e1b2c4d3e8f405a6b7c8d9e0f\"}",
             "vm_uuid"},
            {"{\"nonce\": \"" NONCE_HEX "\", \"pcrs\": {\"sha256\": [0]}, \"vm_uuid\": null}",
             "vm_uuid"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) obj = parse(bad[i].json);
                VtcChannelRound r;
                VtcChannelRound before;

                memset(&r, 0x5a, sizeof(r));
                memcpy(&before, &r, sizeof(r));
                g_assert_false(vtc_channel_round_from_json(obj, extra, &r, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                if (strstr(error->message, bad[i].why) == NULL)
                        g_error("case %" G_GSIZE_FORMAT ": '%s' lacks '%s'",
                                i,
                                error->message,
                                bad[i].why);
                /* out-parameters are not written on failure */
                g_assert_cmpmem(&r, sizeof(r), &before, sizeof(before));
        }
}

static void
test_round_to_json(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree gchar *json = NULL;
        g_autoptr(JsonObject) obj = NULL;
        VtcChannelRound r = {0};
        VtcChannelRound back;

        for (guint i = 0; i < 32; i++)
                r.nonce[i] = (guint8)(0xff - i);
        r.pcrs.n_banks = 3;
        r.pcrs.hash_alg[0] = TPM2_ALG_SHA1;
        r.pcrs.pcr_mask[0] = 0x1;
        r.pcrs.hash_alg[1] = TPM2_ALG_SHA256;
        r.pcrs.pcr_mask[1] = 0x7ff;
        r.pcrs.hash_alg[2] = TPM2_ALG_SHA384;
        r.pcrs.pcr_mask[2] = 0xffffff;
        r.ima_offset = G_GUINT64_CONSTANT(1) << 40;
        r.boot_log = TRUE;

        json_builder_begin_object(b);
        vtc_channel_round_to_json(&r, b);
        json_builder_end_object(b);
        json = vtc_json_builder_to_string(b);
        g_assert_nonnull(strstr(json, "\"sha256\":[0,1,2,3,4,5,6,7,8,9,10]"));
        obj = parse(json);
        g_assert_true(vtc_channel_round_from_json(obj, NULL, &back, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(&back, sizeof(back), &r, sizeof(r));

        /* the text writer says exactly what the builder says */
        {
                g_autoptr(GString) text = g_string_new("{");

                vtc_channel_round_append_json(&r, text);
                g_string_append_c(text, '}');
                g_assert_cmpstr(text->str, ==, json);
                r.boot_log = FALSE;
                r.ima_offset = 0;
                r.pcrs.n_banks = 0;
                g_string_assign(text, "{");
                vtc_channel_round_append_json(&r, text);
                g_string_append_c(text, '}');
                g_clear_object(&b);
                b = json_builder_new();
                json_builder_begin_object(b);
                vtc_channel_round_to_json(&r, b);
                json_builder_end_object(b);
                g_clear_pointer(&json, g_free);
                json = vtc_json_builder_to_string(b);
                g_assert_cmpstr(text->str, ==, json);
        }
}

static void
test_quote_qualifier(void)
{
        guint8 nonce[32];
        guint8 key[32];
        guint8 out[32];
        g_autofree gchar *hex = NULL;

        /* known answers from python3 hashlib.sha256(nonce + key) and sha256sum (and 32
         * zero bytes for the second) */
        for (guint i = 0; i < 32; i++) {
                nonce[i] = (guint8)i;
                key[i] = (guint8)(0x20 + i);
        }
        vtc_channel_quote_qualifier(nonce, key, out);
        hex = vtc_hex_encode(out, 32);
        g_assert_cmpstr(hex,
                        ==,
                        "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108");
        g_clear_pointer(&hex, g_free);
        vtc_channel_quote_qualifier(nonce, NULL, out);
        hex = vtc_hex_encode(out, 32);
        g_assert_cmpstr(hex,
                        ==,
                        "5576ce645abbf23973c63a02b3cdb0efc8ed3c9bd7dac3845f6b9ad6820b4bde");
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/channel/frame-encode", test_frame_encode);
        g_test_add_func("/channel/decoder-roundtrip", test_decoder_roundtrip);
        g_test_add_func("/channel/decoder-byte-by-byte", test_decoder_byte_by_byte);
        g_test_add_func("/channel/decoder-garbled", test_decoder_garbled);
        g_test_add_func("/channel/decoder-garbage-not-kept", test_decoder_garbage_not_kept);
        g_test_add_func("/channel/decoder-lengths", test_decoder_lengths);
        g_test_add_func("/channel/round-parse", test_round_parse);
        g_test_add_func("/channel/round-defaults-and-uuid", test_round_defaults_and_uuid);
        g_test_add_func("/channel/round-invalid", test_round_invalid);
        g_test_add_func("/channel/round-to-json", test_round_to_json);
        g_test_add_func("/channel/quote-qualifier", test_quote_qualifier);
        return g_test_run();
}
