/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VtcHostdChannel against test "guests": real unix sockets served by a GSocketService in this
 * process, speaking the channel framing (common/vtc-channel.c) and answering as each test wants.
 */
#include <string.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-hostd-channel.h"
#include "vtc-json.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

typedef enum {
        GUEST_ECHO,    /* answer each request at once, echoing its nonce */
        GUEST_HOLD,    /* keep requests; the test answers them */
        GUEST_GARBLE,  /* garbage, a non-JSON frame, then the answer */
        GUEST_ERROR,   /* an agent error */
        GUEST_CLOSE,   /* close the connection on a request */
        GUEST_PARTIAL, /* half a frame, then silence */
} GuestMode;

typedef struct {
        GSocketService *service;
        gchar *path;
        gchar *uuid;
        GuestMode mode;
        GSocketConnection *conn; /* the latest client */
        VtcChannelDecoder *dec;
        GPtrArray *requests; /* JsonObject, as received */
        guint connects;
        GCancellable *cancel;
        guint reading; /* reads under way (they write into @buf) */
        guint8 buf[4096];
} Guest;

static void guest_read(Guest *g);

static void
guest_send(Guest *g, const guint8 *data, gsize len)
{
        g_autoptr(GError) error = NULL;
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(g->conn));

        g_assert_true(g_output_stream_write_all(out, data, len, NULL, NULL, &error));
        g_assert_no_error(error);
}

static void
guest_send_json(Guest *g, const gchar *json)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = vtc_channel_frame_encode(json, strlen(json), &error);

        g_assert_no_error(error);
        guest_send(g, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
}

/* The evidence answer to request @req: echoes its nonce so the test can match it. */
static void
guest_answer(Guest *g, JsonObject *req, gint64 id)
{
        g_autofree gchar *json =
            g_strdup_printf("{\"id\":%" G_GINT64_FORMAT ",\"ok\":true,\"uuid\":\"%s\","
                            "\"quote\":{\"attest\":\"AAEC\",\"signature\":\"AwQF\"},"
                            "\"nonce_echo\":\"%s\"}",
                            id,
                            g->uuid,
                            json_object_get_string_member(req, "nonce"));

        guest_send_json(g, json);
}

static void
guest_handle(Guest *g, JsonObject *req)
{
        gint64 id = json_object_get_int_member(req, "id");

        g_ptr_array_add(g->requests, json_object_ref(req));
        switch (g->mode) {
        case GUEST_ECHO:
                guest_answer(g, req, id);
                break;
        case GUEST_HOLD:
                break;
        case GUEST_GARBLE: {
                g_autoptr(GBytes) notjson = vtc_channel_frame_encode("not json", 8, NULL);
                guest_send(g, (const guint8 *)"garbageVTgarbage", 16);
                guest_send(g, g_bytes_get_data(notjson, NULL), g_bytes_get_size(notjson));
                guest_send_json(g, "{\"id\":0,\"ok\":false,\"error\":\"invalid_data\"}");
                guest_answer(g, req, id);
                break;
        }
        case GUEST_ERROR: {
                g_autofree gchar *json =
                    g_strdup_printf("{\"id\":%" G_GINT64_FORMAT ",\"ok\":false,\"error\":"
                                    "\"tpm_error\",\"message\":\"Esys_Quote: 0x00000921\\nbad\"}",
                                    id);
                guest_send_json(g, json);
                break;
        }
        case GUEST_CLOSE:
                g_io_stream_close(G_IO_STREAM(g->conn), NULL, NULL);
                break;
        case GUEST_PARTIAL:
                guest_send(g, (const guint8 *)"VTC1\x00\x00\x01\x00{\"id\":", 14);
                break;
        default:
                g_assert_not_reached();
        }
}

static void
guest_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Guest *g = user_data;
        g_autoptr(GError) error = NULL;
        gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);

        g->reading--;
        if (n <= 0 || g_cancellable_is_cancelled(g->cancel))
                return;
        vtc_channel_decoder_feed(g->dec, g->buf, (gsize)n);
        for (;;) {
                g_autofree gchar *payload = NULL;
                gsize len = 0;
                VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
                g_autoptr(JsonObject) req = NULL;

                if (!vtc_channel_decoder_next(g->dec, &payload, &len, &error)) {
                        g_assert_no_error(error);
                        break;
                }
                req = vtc_json_parse_object(payload, len, &limits, &error);
                g_assert_no_error(error);
                guest_handle(g, req);
                if (g->mode == GUEST_CLOSE)
                        return;
        }
        guest_read(g);
}

static void
guest_read(Guest *g)
{
        GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(g->conn));

        g->reading++;
        g_input_stream_read_async(in,
                                  g->buf,
                                  sizeof(g->buf),
                                  G_PRIORITY_DEFAULT,
                                  g->cancel,
                                  guest_read_cb,
                                  g);
}

static gboolean
guest_incoming_cb(GSocketService *service,
                  GSocketConnection *conn,
                  GObject *source,
                  gpointer user_data)
{
        Guest *g = user_data;

        g_clear_object(&g->conn);
        g->conn = g_object_ref(conn);
        g_clear_pointer(&g->dec, vtc_channel_decoder_free);
        g->dec = vtc_channel_decoder_new();
        g->connects++;
        guest_read(g);
        return TRUE;
}

static Guest *
guest_new(const gchar *dir, const gchar *uuid, GuestMode mode)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        Guest *g = g_new0(Guest, 1);

        g->path = g_build_filename(dir, uuid, NULL);
        g->uuid = g_strdup(uuid);
        g->mode = mode;
        g->requests = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
        g->cancel = g_cancellable_new();
        g->service = g_socket_service_new();
        addr = g_unix_socket_address_new(g->path);
        g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(g->service),
                                                    addr,
                                                    G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_DEFAULT,
                                                    NULL,
                                                    NULL,
                                                    &error));
        g_assert_no_error(error);
        g_signal_connect(g->service, "incoming", G_CALLBACK(guest_incoming_cb), g);
        g_socket_service_start(g->service);
        return g;
}

static void
guest_free(Guest *g)
{
        g_socket_service_stop(g->service);
        g_socket_listener_close(G_SOCKET_LISTENER(g->service));
        g_signal_handlers_disconnect_by_data(g->service, g);
        g_cancellable_cancel(g->cancel);
        while (g->reading > 0)
                g_main_context_iteration(NULL, TRUE);
        g_clear_object(&g->cancel);
        if (g->conn != NULL)
                g_io_stream_close(G_IO_STREAM(g->conn), NULL, NULL);
        g_clear_object(&g->conn);
        g_clear_object(&g->service);
        g_clear_pointer(&g->dec, vtc_channel_decoder_free);
        g_ptr_array_unref(g->requests);
        g_unlink(g->path);
        g_free(g->path);
        g_free(g->uuid);
        g_free(g);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Guest, guest_free)

/* ---- the hostd side ----------------------------------------------------------------------- */

typedef struct {
        JsonObject *evidence;
        GError *error;
        gboolean done;
        gint64 finished; /* monotonic */
} Result;

static void
result_clear(Result *r)
{
        g_clear_pointer(&r->evidence, json_object_unref);
        g_clear_error(&r->error);
}

static void
round_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Result *r = user_data;

        g_assert_false(r->done);
        r->evidence = vtc_hostd_channel_round_finish(NULL, res, &r->error);
        g_assert_true((r->evidence == NULL) != (r->error == NULL));
        r->done = TRUE;
        r->finished = g_get_monotonic_time();
}

static void
make_round(VtcChannelRound *round, guint8 seed)
{
        memset(round, 0, sizeof(*round));
        for (guint i = 0; i < VTC_CHANNEL_NONCE_SIZE; i++)
                round->nonce[i] = (guint8)(seed + i);
        round->pcrs.n_banks = 1;
        round->pcrs.hash_alg[0] = TPM2_ALG_SHA256;
        round->pcrs.pcr_mask[0] = 0x7ff;
        round->ima_offset = 81920;
        round->boot_log = TRUE;
}

static gchar *
round_nonce_hex(guint8 seed)
{
        VtcChannelRound round;

        make_round(&round, seed);
        return vtc_hex_encode(round.nonce, sizeof(round.nonce));
}

static void
start_round(VtcHostdChannel *ch, const gchar *uuid, guint8 seed, Result *r)
{
        VtcChannelRound round;

        make_round(&round, seed);
        vtc_hostd_channel_round_async(ch, uuid, &round, NULL, round_cb, r);
}

static gboolean
deadline_cb(gpointer data)
{
        g_error("the test did not finish in time");
        return G_SOURCE_REMOVE;
}

/* Runs the loop until *@flag (or all of @n results) is done. */
static void
wait_results(Result *r, guint n)
{
        guint id = g_timeout_add_seconds(20, deadline_cb, NULL);

        for (;;) {
                gboolean all = TRUE;
                for (guint i = 0; i < n; i++)
                        all = all && r[i].done;
                if (all)
                        break;
                g_main_context_iteration(NULL, TRUE);
        }
        g_source_remove(id);
}

static void
wait_requests(Guest *g, guint n)
{
        guint id = g_timeout_add_seconds(20, deadline_cb, NULL);

        while (g->requests->len < n)
                g_main_context_iteration(NULL, TRUE);
        g_source_remove(id);
}

/* Lets pending I/O run for @ms. */
static void
spin(guint ms)
{
        gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

        while (g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE);
}

static void
assert_evidence(Result *r, const gchar *uuid, guint8 seed)
{
        g_autofree gchar *nonce = round_nonce_hex(seed);

        g_assert_no_error(r->error);
        g_assert_nonnull(r->evidence);
        g_assert_false(json_object_has_member(r->evidence, "id"));
        g_assert_false(json_object_has_member(r->evidence, "ok"));
        g_assert_cmpstr(json_object_get_string_member(r->evidence, "uuid"), ==, uuid);
        g_assert_cmpstr(json_object_get_string_member(r->evidence, "nonce_echo"), ==, nonce);
}

#define UUID_A "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define UUID_B "0e4b1b0f-7c43-4a7b-9d1c-3a2b1c0d9e8f"

typedef struct {
        gchar *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
        f->dir = vtc_test_tmpdir_new();
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
        /* let cancelled I/O come back so that nothing leaks */
        spin(20);
        vtc_test_tmpdir_free(f->dir);
}

static void
test_in_order(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_ECHO);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r[3] = {0};
        VtcHostdChannelMetrics m;

        /* any case, like the hook's XML or a verifier may send */
        vtc_hostd_channel_add(ch, "6F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F", g->path);
        g_assert_cmpstr(vtc_hostd_channel_lookup(ch, UUID_A), ==, g->path);
        for (guint i = 0; i < 3; i++)
                start_round(ch, UUID_A, (guint8)(i * 16), &r[i]);
        /* nothing is answered inside the call */
        g_assert_false(r[0].done);
        wait_results(r, 3);
        for (guint i = 0; i < 3; i++) {
                assert_evidence(&r[i], UUID_A, (guint8)(i * 16));
                result_clear(&r[i]);
        }
        /* what the guest got: one request per round, distinct ids, the round members */
        g_assert_cmpuint(g->requests->len, ==, 3);
        for (guint i = 0; i < 3; i++) {
                JsonObject *req = g_ptr_array_index(g->requests, i);
                g_autoptr(GError) error = NULL;
                const gchar *extra[] = {"id", "op", NULL};
                VtcChannelRound parsed;

                g_assert_true(vtc_channel_round_from_json(req, extra, &parsed, &error));
                g_assert_no_error(error);
                g_assert_cmpint(parsed.id, ==, (gint64)i + 1);
                g_assert_cmpuint(parsed.ima_offset, ==, 81920);
                g_assert_true(parsed.boot_log);
        }
        /* later rounds reuse the connection */
        memset(r, 0, sizeof(r));
        start_round(ch, UUID_A, 99, &r[0]);
        wait_results(r, 1);
        assert_evidence(&r[0], UUID_A, 99);
        result_clear(&r[0]);
        g_assert_cmpuint(g->connects, ==, 1);
        vtc_hostd_channel_get_metrics(ch, &m);
        g_assert_cmpuint(m.rounds, ==, 4);
        g_assert_cmpuint(m.answered, ==, 4);
        g_assert_cmpuint(m.connects, ==, 1);
        g_assert_cmpuint(m.timeouts, ==, 0);
        g_assert_cmpuint(m.in_flight, ==, 0);
        g_assert_cmpuint(m.channels, ==, 1);
        g_assert_cmpfloat(m.latency_sum, >, 0.0);
}

static void
test_out_of_order(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r[3] = {0};

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        for (guint i = 0; i < 3; i++)
                start_round(ch, UUID_A, (guint8)(i * 16), &r[i]);
        wait_requests(g, 3);
        /* answer the last first: each round still gets its own answer */
        for (guint k = 3; k > 0; k--) {
                JsonObject *req = g_ptr_array_index(g->requests, k - 1);
                guest_answer(g, req, json_object_get_int_member(req, "id"));
                while (!r[k - 1].done)
                        g_main_context_iteration(NULL, TRUE);
                for (guint j = 0; j < k - 1; j++)
                        g_assert_false(r[j].done);
        }
        for (guint i = 0; i < 3; i++) {
                assert_evidence(&r[i], UUID_A, (guint8)(i * 16));
                result_clear(&r[i]);
        }
}

static void
test_late_reply(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(200);
        Result r = {0};
        VtcHostdChannelMetrics m;
        JsonObject *req;
        gint64 t0 = g_get_monotonic_time();

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 1, &r);
        wait_results(&r, 1);
        g_assert_error(r.error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        g_assert_nonnull(strstr(r.error->message, UUID_A));
        g_assert_cmpint(r.finished - t0, >=, 190 * 1000);
        g_assert_cmpint(r.finished - t0, <, 2000 * 1000);
        result_clear(&r);

        /* the guest answers after all: dropped and counted, nothing else disturbed */
        req = g_ptr_array_index(g->requests, 0);
        guest_answer(g, req, json_object_get_int_member(req, "id"));
        for (guint i = 0; i < 100; i++) {
                vtc_hostd_channel_get_metrics(ch, &m);
                if (m.dropped > 0)
                        break;
                spin(5);
        }
        g_assert_cmpuint(m.dropped, ==, 1);
        g_assert_cmpuint(m.timeouts, ==, 1);

        /* the next round on the same connection works */
        g->mode = GUEST_ECHO;
        memset(&r, 0, sizeof(r));
        start_round(ch, UUID_A, 2, &r);
        wait_results(&r, 1);
        assert_evidence(&r, UUID_A, 2);
        result_clear(&r);
        g_assert_cmpuint(g->connects, ==, 1);
}

static void
test_slow_vm_does_not_delay_others(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) slow = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(Guest) fast = guest_new(f->dir, UUID_B, GUEST_ECHO);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(1500);
        Result stuck[4] = {0};
        gint64 t0 = g_get_monotonic_time();
        gint64 fast_done;

        vtc_hostd_channel_add(ch, UUID_A, slow->path);
        vtc_hostd_channel_add(ch, UUID_B, fast->path);
        for (guint i = 0; i < G_N_ELEMENTS(stuck); i++)
                start_round(ch, UUID_A, (guint8)i, &stuck[i]);
        for (guint i = 0; i < 20; i++) {
                Result r = {0};
                start_round(ch, UUID_B, (guint8)(100 + i), &r);
                wait_results(&r, 1);
                assert_evidence(&r, UUID_B, (guint8)(100 + i));
                result_clear(&r);
        }
        fast_done = g_get_monotonic_time();
        /* 20 rounds of the fast VM went through while the slow VM's 4 were waiting */
        g_assert_cmpint(fast_done - t0, <, 1000 * 1000);
        for (guint i = 0; i < G_N_ELEMENTS(stuck); i++)
                g_assert_false(stuck[i].done);
        wait_results(stuck, G_N_ELEMENTS(stuck));
        for (guint i = 0; i < G_N_ELEMENTS(stuck); i++) {
                g_assert_error(stuck[i].error, VTC_ERROR, VTC_ERROR_TIMEOUT);
                g_assert_cmpint(stuck[i].finished - t0, >=, 1400 * 1000);
                result_clear(&stuck[i]);
        }
        g_assert_cmpuint(slow->requests->len, ==, 4);
}

static void
test_garbled(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_GARBLE);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r = {0};
        VtcHostdChannelMetrics m;

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 7, &r);
        wait_results(&r, 1);
        assert_evidence(&r, UUID_A, 7);
        result_clear(&r);
        vtc_hostd_channel_get_metrics(ch, &m);
        /* the garbage, the frame that is not JSON, the id-0 answer */
        g_assert_cmpuint(m.garbled, ==, 3);
        g_assert_cmpuint(m.answered, ==, 1);
}

static void
test_agent_error(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_ERROR);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r = {0};
        VtcHostdChannelMetrics m;

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 7, &r);
        wait_results(&r, 1);
        g_assert_error(r.error, VTC_ERROR, VTC_ERROR_FAILED);
        /* the agent's code and message, on one line */
        g_assert_cmpstr(r.error->message,
                        ==,
                        VTC_HOSTD_CHANNEL_AGENT_ERROR "tpm_error: Esys_Quote: 0x00000921 bad");
        result_clear(&r);
        vtc_hostd_channel_get_metrics(ch, &m);
        g_assert_cmpuint(m.agent_errors, ==, 1);
        g_assert_cmpuint(m.answered, ==, 1);
}

static void
test_unknown_and_removed(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r[2] = {0};

        start_round(ch, UUID_A, 1, &r[0]);
        wait_results(r, 1);
        g_assert_error(r[0].error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        result_clear(&r[0]);
        memset(r, 0, sizeof(r));

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 1, &r[0]);
        start_round(ch, UUID_A, 2, &r[1]);
        wait_requests(g, 2);
        /* the VM stops: its rounds fail at once */
        vtc_hostd_channel_remove(ch, UUID_A);
        g_assert_null(vtc_hostd_channel_lookup(ch, UUID_A));
        wait_results(r, 2);
        for (guint i = 0; i < 2; i++) {
                g_assert_error(r[i].error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
                result_clear(&r[i]);
        }
        /* removing again is harmless */
        vtc_hostd_channel_remove(ch, UUID_A);
}

static void
test_connect_failure_and_reconnect(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_CLOSE);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        g_autofree gchar *nowhere = g_build_filename(f->dir, "nobody-listens", NULL);
        Result r = {0};
        VtcHostdChannelMetrics m;

        vtc_hostd_channel_add(ch, UUID_B, nowhere);
        start_round(ch, UUID_B, 1, &r);
        wait_results(&r, 1);
        g_assert_error(r.error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        g_assert_nonnull(strstr(r.error->message, nowhere));
        result_clear(&r);
        memset(&r, 0, sizeof(r));

        /* the guest closes on the request: EOF fails the round */
        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 1, &r);
        wait_results(&r, 1);
        g_assert_error(r.error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        result_clear(&r);
        memset(&r, 0, sizeof(r));

        /* the next round connects again */
        g->mode = GUEST_ECHO;
        start_round(ch, UUID_A, 2, &r);
        wait_results(&r, 1);
        assert_evidence(&r, UUID_A, 2);
        result_clear(&r);
        g_assert_cmpuint(g->connects, ==, 2);
        vtc_hostd_channel_get_metrics(ch, &m);
        g_assert_cmpuint(m.connects, ==, 2);
        g_assert_cmpuint(m.failures, ==, 2);
}

static void
test_cross_vm_answer_dropped(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) a = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(Guest) b = guest_new(f->dir, UUID_B, GUEST_HOLD);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r = {0};
        VtcHostdChannelMetrics m;
        JsonObject *req;

        vtc_hostd_channel_add(ch, UUID_A, a->path);
        vtc_hostd_channel_add(ch, UUID_B, b->path);
        start_round(ch, UUID_A, 3, &r);
        wait_requests(a, 1);
        req = g_ptr_array_index(a->requests, 0);
        /* VM B must not be able to answer VM A's round, even knowing its id: B connects first */
        {
                Result rb = {0};
                start_round(ch, UUID_B, 4, &rb);
                wait_requests(b, 1);
                guest_answer(b, req, json_object_get_int_member(req, "id"));
                for (guint i = 0; i < 100; i++) {
                        vtc_hostd_channel_get_metrics(ch, &m);
                        if (m.dropped > 0)
                                break;
                        spin(5);
                }
                g_assert_cmpuint(m.dropped, ==, 1);
                g_assert_false(r.done);
                vtc_hostd_channel_remove(ch, UUID_B);
                wait_results(&rb, 1);
                result_clear(&rb);
        }
        guest_answer(a, req, json_object_get_int_member(req, "id"));
        wait_results(&r, 1);
        assert_evidence(&r, UUID_A, 3);
        result_clear(&r);
}

static void
test_stalled_partial_frame(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_PARTIAL);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(200);
        Result r = {0};

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        start_round(ch, UUID_A, 1, &r);
        wait_results(&r, 1);
        g_assert_error(r.error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        result_clear(&r);
        memset(&r, 0, sizeof(r));
        /* the agent restarted: its half frame must not swallow the next answer */
        g->mode = GUEST_ECHO;
        start_round(ch, UUID_A, 2, &r);
        wait_results(&r, 1);
        assert_evidence(&r, UUID_A, 2);
        result_clear(&r);
}

static void
test_cancel_and_free(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_HOLD);
        VtcHostdChannel *ch = vtc_hostd_channel_new(5000);
        g_autoptr(GCancellable) cancel = g_cancellable_new();
        VtcChannelRound round;
        Result r[3] = {0};

        vtc_hostd_channel_add(ch, UUID_A, g->path);
        make_round(&round, 1);
        vtc_hostd_channel_round_async(ch, UUID_A, &round, cancel, round_cb, &r[0]);
        start_round(ch, UUID_A, 2, &r[1]);
        wait_requests(g, 2);
        g_cancellable_cancel(cancel);
        wait_results(r, 1);
        g_assert_error(r[0].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_false(r[1].done);
        /* an already cancelled cancellable */
        vtc_hostd_channel_round_async(ch, UUID_A, &round, cancel, round_cb, &r[2]);
        wait_results(&r[2], 1);
        g_assert_error(r[2].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        /* freeing fails what is left */
        vtc_hostd_channel_free(ch);
        wait_results(r, 3);
        g_assert_error(r[1].error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        for (guint i = 0; i < 3; i++)
                result_clear(&r[i]);
}

static void
test_too_many_in_flight(Fixture *f, gconstpointer data)
{
        g_autoptr(Guest) g = guest_new(f->dir, UUID_A, GUEST_HOLD);
        g_autoptr(VtcHostdChannel) ch = vtc_hostd_channel_new(5000);
        Result r[VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT + 1];

        memset(r, 0, sizeof(r));
        vtc_hostd_channel_add(ch, UUID_A, g->path);
        for (guint i = 0; i < G_N_ELEMENTS(r); i++)
                start_round(ch, UUID_A, (guint8)i, &r[i]);
        wait_results(&r[VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT], 1);
        g_assert_error(r[VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT].error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        wait_requests(g, VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT);
        for (guint i = 0; i < VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT; i++) {
                JsonObject *req = g_ptr_array_index(g->requests, i);
                guest_answer(g, req, json_object_get_int_member(req, "id"));
        }
        wait_results(r, G_N_ELEMENTS(r));
        for (guint i = 0; i < VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT; i++)
                assert_evidence(&r[i], UUID_A, (guint8)i);
        for (guint i = 0; i < G_N_ELEMENTS(r); i++)
                result_clear(&r[i]);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
        g_test_add("/hostd-channel/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("in-order", test_in_order);
        ADD("out-of-order", test_out_of_order);
        ADD("late-reply", test_late_reply);
        ADD("slow-vm-does-not-delay-others", test_slow_vm_does_not_delay_others);
        ADD("garbled", test_garbled);
        ADD("agent-error", test_agent_error);
        ADD("unknown-and-removed", test_unknown_and_removed);
        ADD("connect-failure-and-reconnect", test_connect_failure_and_reconnect);
        ADD("cross-vm-answer-dropped", test_cross_vm_answer_dropped);
        ADD("stalled-partial-frame", test_stalled_partial_frame);
        ADD("cancel-and-free", test_cancel_and_free);
        ADD("too-many-in-flight", test_too_many_in_flight);
#undef ADD
        return g_test_run();
}
