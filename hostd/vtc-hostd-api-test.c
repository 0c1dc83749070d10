/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier endpoint over real HTTPS (mutual TLS) on a real swtpm: every answer is checked the
 * way a verifier does, with common/ only (quote, Merkle proof, vTPM log replay).
 */
#include <math.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <glib/gstdio.h>

#include "vtc-ca.h"
#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-hostd-api.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-tpm.h"
#include "vtc-util.h"

typedef struct {
        guint window_ms;
        guint max_pending;
        gsize log_chunk;
        guint vtpm_entries;
        guint channel_timeout_ms;
        guint more_guests; /* VMs UUID2, UUID3 with agents too (0-2) */
} Options;

/* A stand-in for the guest agent at the guest end of a VM's channel: a thread on a unix socket. */
typedef enum {
        GUEST_EVIDENCE, /* answers with evidence (an opaque attest tied to the request) */
        GUEST_ERROR,    /* answers with an agent error */
        GUEST_SILENT,   /* never answers */
        GUEST_NO_QUOTE, /* answers with evidence lacking the quote */
} GuestMode;

typedef struct {
        const gchar *uuid; /* NULL: UUID1 */
        gchar *path;
        int fd;
        GThread *thread;
        gint mode;     /* GuestMode, atomic */
        gint stop;     /* atomic */
        gint requests; /* atomic */
} Guest;

typedef struct {
        gchar *dir;
        VtcSwtpm *swtpm;
        VtcHostdTpm *tpm;
        VtcVtpmLog *log;
        VtcHostdBatch *batch;
        VtcHostdApi *api;
        gchar *boot_log;
        gchar *ima_log;
        /* the server's loop, on its own thread */
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        guint port;
        gchar *url;
        gchar *ca;
        gchar *cert;
        gchar *key;
        SoupSession *verifier; /* presents a certificate of the deployment's CA */
        VtcHostdChannel *channel;
        Guest guest;     /* UUID1's agent */
        Guest others[2]; /* UUID2's and UUID3's (Options.more_guests) */
} Fixture;

#define UUID1 "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define UUID2 "7a2d0b3f-2c3d-4e4f-9a51-6b7c8d9e0f10"
#define UUID3 "8b3e1c40-3d4e-4f50-ab62-7c8d9e0f1021"

/* ---- the guest ---------------------------------------------------------------------------- */

/* The attest bytes the guest "quotes" for a request: opaque to hostd, tied to the request. */
static gchar *
guest_attest(gint64 id)
{
        return g_strdup_printf("guest-attest-%" G_GINT64_FORMAT, id);
}

static void
guest_write(int fd, const gchar *json)
{
        g_autoptr(GBytes) frame = vtc_channel_frame_encode(json, strlen(json), NULL);
        const guint8 *p = g_bytes_get_data(frame, NULL);
        gsize left = g_bytes_get_size(frame);

        while (left > 0) {
                ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                p += n;
                left -= (gsize)n;
        }
}

static void
guest_answer(Guest *g, int fd, const gchar *payload, gsize len)
{
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) req = vtc_json_parse_object(payload, len, &limits, NULL);
        gint64 id = 0;
        g_autofree gchar *attest = NULL;
        g_autofree gchar *b64 = NULL;
        g_autofree gchar *json = NULL;

        g_assert_nonnull(req);
        g_assert_true(vtc_json_get_int(req, "id", 1, G_MAXINT64, TRUE, &id, NULL));
        g_atomic_int_inc(&g->requests);
        attest = guest_attest(id);
        b64 = g_base64_encode((const guchar *)attest, strlen(attest));
        switch (g_atomic_int_get(&g->mode)) {
        case GUEST_EVIDENCE:
                json = g_strdup_printf("{\"id\":%" G_GINT64_FORMAT ",\"ok\":true,\"uuid\":\"%s\","
                                       "\"quote\":{\"attest\":\"%s\",\"signature\":\"AAAA\"},"
                                       "\"request\":%.*s}",
                                       id,
                                       g->uuid != NULL ? g->uuid : UUID1,
                                       b64,
                                       (int)len,
                                       payload);
                break;
        case GUEST_ERROR:
                json = g_strdup_printf("{\"id\":%" G_GINT64_FORMAT
                                       ",\"ok\":false,\"error\":\"tpm_error\","
                                       "\"message\":\"Esys_Quote: 0x00000921\"}",
                                       id);
                break;
        case GUEST_NO_QUOTE:
                json = g_strdup_printf("{\"id\":%" G_GINT64_FORMAT ",\"ok\":true,\"uuid\":\"" UUID1
                                       "\"}",
                                       id);
                break;
        case GUEST_SILENT:
        default:
                return;
        }
        guest_write(fd, json);
}

static gpointer
guest_thread(gpointer data)
{
        Guest *g = data;

        while (!g_atomic_int_get(&g->stop)) {
                struct pollfd lp = {g->fd, POLLIN, 0};
                int c;
                g_autoptr(VtcChannelDecoder) dec = NULL;

                if (poll(&lp, 1, 50) <= 0)
                        continue;
                c = accept4(g->fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                dec = vtc_channel_decoder_new();
                while (!g_atomic_int_get(&g->stop)) {
                        struct pollfd cp = {c, POLLIN, 0};
                        guint8 buf[4096];
                        ssize_t n;

                        if (poll(&cp, 1, 50) <= 0)
                                continue;
                        n = recv(c, buf, sizeof(buf), 0);
                        if (n <= 0)
                                break;
                        vtc_channel_decoder_feed(dec, buf, (gsize)n);
                        for (;;) {
                                g_autofree gchar *payload = NULL;
                                gsize len = 0;
                                if (!vtc_channel_decoder_next(dec, &payload, &len, NULL))
                                        break;
                                guest_answer(g, c, payload, len);
                        }
                }
                close(c);
        }
        return NULL;
}

static void
guest_start(Guest *g, const gchar *dir)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        g->path = g_build_filename(dir, "org.vtc.agent.0", NULL);
        g_assert_cmpuint(strlen(g->path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, g->path);
        g->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(g->fd, >=, 0);
        g_assert_cmpint(bind(g->fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(listen(g->fd, 4), ==, 0);
        g->thread = g_thread_new("guest", guest_thread, g);
}

static void
guest_stop(Guest *g)
{
        if (g->thread == NULL)
                return;
        g_atomic_int_set(&g->stop, 1);
        g_thread_join(g->thread);
        close(g->fd);
        g_free(g->path);
}

/* ---- the vTPM log, appended and extended on the TPM worker as hostd does ----------------- */

typedef struct {
        VtcVtpmLog *log;
        VtcVtpmLogType type;
        const gchar *uuid;
} AppendJob;

static gboolean
extend_cb(const guint8 *digest, gsize len, gpointer user_data, GError **error)
{
        return vtc_tpm_pcr_extend(user_data, 23, TPM2_ALG_SHA256, digest, len, error);
}

static gboolean
append_job(VtcHostdTpm *worker, VtcTpm *tpm, gpointer data, gpointer *out_result, GError **error)
{
        AppendJob *job = data;
        g_autoptr(VtcVtpmLogEntry) e = NULL;
        static const guint8 ek[32] = {1, 2, 3};

        switch (job->type) {
        case VTC_VTPM_LOG_HOSTD_START:
                e = vtc_vtpm_log_append_hostd_start(job->log,
                                                    1795000000,
                                                    "host-17",
                                                    extend_cb,
                                                    tpm,
                                                    error);
                break;
        case VTC_VTPM_LOG_VTPM_START:
                e = vtc_vtpm_log_append_vtpm_start(job->log,
                                                   1795000010,
                                                   job->uuid,
                                                   "guest1",
                                                   ek,
                                                   extend_cb,
                                                   tpm,
                                                   error);
                break;
        case VTC_VTPM_LOG_VTPM_STOP:
        default:
                e = vtc_vtpm_log_append_vtpm_stop(job->log,
                                                  1795000020,
                                                  job->uuid,
                                                  "guest1",
                                                  extend_cb,
                                                  tpm,
                                                  error);
                break;
        }
        return e != NULL;
}

static void
log_append(Fixture *fx, VtcVtpmLogType type, const gchar *uuid)
{
        AppendJob job = {fx->log, type, uuid};
        g_autoptr(GError) error = NULL;

        g_assert_true(vtc_hostd_tpm_run_sync(fx->tpm, append_job, &job, NULL, NULL, &error));
        g_assert_no_error(error);
}

/* ---- fixture ------------------------------------------------------------------------------ */

static gpointer
server_thread(gpointer data)
{
        Fixture *fx = data;

        g_main_context_push_thread_default(fx->ctx);
        g_main_loop_run(fx->loop);
        g_main_context_pop_thread_default(fx->ctx);
        return NULL;
}

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
        const Options *o = data;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *tls = NULL;
        g_autofree gchar *log_path = NULL;
        g_autofree gchar *state = NULL;
        g_autofree gchar *hostd_crt = NULL;
        g_autofree gchar *hostd_key = NULL;
        const gchar *sans[] = {"IP:127.0.0.1", NULL};
        TPML_PCR_SELECTION sel;
        VtcHostdApiOptions opts = {0};

        vtc_test_require_program("swtpm");
        fx->dir = vtc_test_tmpdir_new();
        state = g_build_filename(fx->dir, "tpm", NULL);
        fx->swtpm = vtc_swtpm_new(state, &error);
        g_assert_no_error(error);
        fx->tpm =
            vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(fx->swtpm), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        log_path = g_build_filename(fx->dir, "vtpm.log", NULL);
        fx->log = vtc_vtpm_log_open(log_path, &error);
        g_assert_no_error(error);
        log_append(fx, VTC_VTPM_LOG_HOSTD_START, NULL);

        /* the host's logs: a real firmware event log and a real IMA log */
        fx->boot_log = vtc_test_data_path("eventlog/tpm2-tools/event-arch-linux.bin");
        fx->ima_log = vtc_test_data_path("ima/rust-keylime-binary_runtime_measurements");

        tls = g_build_filename(fx->dir, "tls", NULL);
        g_assert_true(vtc_ca_init(tls, "test CA", 1, &error));
        g_assert_true(vtc_ca_issue(tls, "hostd", sans, 1, &error));
        g_assert_true(vtc_ca_issue(tls, "verifier", NULL, 1, &error));
        g_assert_no_error(error);
        fx->ca = g_build_filename(tls, "ca.crt", NULL);
        fx->cert = g_build_filename(tls, "verifier.crt", NULL);
        fx->key = g_build_filename(tls, "verifier.key", NULL);
        hostd_crt = g_build_filename(tls, "hostd.crt", NULL);
        hostd_key = g_build_filename(tls, "hostd.key", NULL);

        /* hostd's objects live on the server thread's context */
        fx->ctx = g_main_context_new();
        fx->loop = g_main_loop_new(fx->ctx, FALSE);
        g_main_context_push_thread_default(fx->ctx);
        g_assert_true(vtc_hostd_api_parse_pcrs("0-10", 23, &sel, &error));
        fx->batch = vtc_hostd_batch_new(fx->tpm, &sel, o->window_ms, o->max_pending, &error);
        g_assert_no_error(error);
        opts.host_id = "host-17";
        opts.tpm = fx->tpm;
        opts.batch = fx->batch;
        opts.log = fx->log;
        opts.vtpm_pcr = 23;
        opts.selection = &sel;
        opts.boot_log = fx->boot_log;
        opts.ima_log = fx->ima_log;
        opts.cert_file = hostd_crt;
        opts.key_file = hostd_key;
        opts.client_ca_file = fx->ca;
        opts.log_chunk = o->log_chunk;
        opts.vtpm_entries = o->vtpm_entries;
        /* UUID1 runs with an agent on its channel, as the hook's `started` registers it */
        guest_start(&fx->guest, fx->dir);
        fx->channel = vtc_hostd_channel_new(o->channel_timeout_ms);
        vtc_hostd_channel_add(fx->channel, UUID1, fx->guest.path);
        for (guint i = 0; i < o->more_guests && i < G_N_ELEMENTS(fx->others); i++) {
                g_autofree gchar *sub = g_strdup_printf("%s/vm%u", fx->dir, i + 2);

                g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
                fx->others[i].uuid = i == 0 ? UUID2 : UUID3;
                guest_start(&fx->others[i], sub);
                vtc_hostd_channel_add(fx->channel, fx->others[i].uuid, fx->others[i].path);
        }
        opts.channel = fx->channel;
        fx->api = vtc_hostd_api_new(&opts, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_hostd_api_listen(fx->api, "127.0.0.1", 0, &fx->port, &error));
        g_assert_no_error(error);
        g_main_context_pop_thread_default(fx->ctx);
        fx->thread = g_thread_new("hostd-api", server_thread, fx);
        fx->url = g_strdup_printf("https://127.0.0.1:%u", fx->port);
        fx->verifier = vtc_http_client_new(fx->ca, fx->cert, fx->key, &error);
        g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
        g_clear_object(&fx->verifier);
        g_main_loop_quit(fx->loop);
        if (fx->thread != NULL) /* a test may have stopped the server itself */
                g_thread_join(fx->thread);
        g_main_context_push_thread_default(fx->ctx);
        g_clear_pointer(&fx->api, vtc_hostd_api_free);
        g_clear_pointer(&fx->channel, vtc_hostd_channel_free);
        g_clear_pointer(&fx->batch, vtc_hostd_batch_free);
        while (g_main_context_iteration(fx->ctx, FALSE))
                ;
        g_main_context_pop_thread_default(fx->ctx);
        g_main_loop_unref(fx->loop);
        g_main_context_unref(fx->ctx);
        g_clear_pointer(&fx->tpm, vtc_hostd_tpm_free);
        g_clear_pointer(&fx->log, vtc_vtpm_log_free);
        g_clear_pointer(&fx->swtpm, vtc_swtpm_free);
        guest_stop(&fx->guest);
        for (guint i = 0; i < G_N_ELEMENTS(fx->others); i++)
                guest_stop(&fx->others[i]);
        g_free(fx->boot_log);
        g_free(fx->ima_log);
        g_free(fx->url);
        g_free(fx->ca);
        g_free(fx->cert);
        g_free(fx->key);
        vtc_test_tmpdir_free(fx->dir);
}

/* ---- client ------------------------------------------------------------------------------- */

static gchar *
request(Fixture *fx,
        SoupSession *s,
        const gchar *method,
        const gchar *path,
        const gchar *body,
        guint *out_status)
{
        g_autofree gchar *url = g_strconcat(fx->url, path, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = vtc_http_client_request(s, method, url, body, out_status, &error);

        g_assert_no_error(error);
        return g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
}

static JsonObject *
request_json(Fixture *fx,
             SoupSession *s,
             const gchar *method,
             const gchar *path,
             const gchar *body,
             guint *out_status)
{
        g_autofree gchar *text = request(fx, s, method, path, body, out_status);
        VtcJsonLimits limits = {64 * 1024 * 1024, 16, 64 * 1024 * 1024, 100000};
        g_autoptr(GError) error = NULL;
        JsonObject *obj = vtc_json_parse_object(text, strlen(text), &limits, &error);

        g_assert_no_error(error);
        return obj;
}

static gchar *
bind_body(const gchar *uuid, const guint8 binding[32], gint64 boot, gint64 ima, gint64 vtpm)
{
        g_autofree gchar *hex = vtc_hex_encode(binding, 32);

        return g_strdup_printf(
            "{\"vm_uuid\":\"%s\",\"binding\":\"%s\",\"offsets\":{\"boot\":%" G_GINT64_FORMAT
            ",\"ima\":%" G_GINT64_FORMAT ",\"vtpm\":%" G_GINT64_FORMAT "}}",
            uuid,
            hex,
            boot,
            ima,
            vtpm);
}

/* ---- the verifier's side: common/ only ---------------------------------------------------- */

typedef struct {
        VtcQuoteAk *ak;
        guint64 vtpm_off;
        guint8 vtpm_pcr[32];    /* the replay of the first vtpm_off entries */
        gboolean vtpm_complete; /* the last answer's vTPM log replayed to the quoted PCR 23 */
        guint64 boot_off;
        guint64 ima_off;
        GByteArray *boot;
        GByteArray *ima;
        gboolean vm_running;
        gchar *attest_b64; /* of the last answer */
} Verifier;

static void
verifier_init(Verifier *v, Fixture *fx)
{
        g_autoptr(JsonObject) id = NULL;
        g_autoptr(GBytes) ak = NULL;
        g_autoptr(GBytes) mine = vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(fx->tpm));
        g_autoptr(GError) error = NULL;
        JsonArray *pcrs;
        JsonObject *sel;
        guint status = 0;

        memset(v, 0, sizeof(*v));
        id = request_json(fx, fx->verifier, "GET", "/v1/identity", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(vtc_json_get_string(id, "id", TRUE, NULL), ==, "host-17");
        ak = vtc_json_get_base64(id, "ak_public", 4096, TRUE, &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(ak, mine));
        v->ak =
            vtc_quote_ak_new_from_public(g_bytes_get_data(ak, NULL), g_bytes_get_size(ak), &error);
        g_assert_no_error(error);
        sel = vtc_json_get_object(id, "pcr_selection", TRUE, &error);
        g_assert_no_error(error);
        pcrs = vtc_json_get_array(sel, "sha256", TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(json_array_get_length(pcrs), ==, 12); /* 0-10 and 23 */
        g_assert_cmpint(json_array_get_int_element(pcrs, 11), ==, 23);
        v->boot = g_byte_array_new();
        v->ima = g_byte_array_new();
}

static void
verifier_clear(Verifier *v)
{
        g_clear_pointer(&v->ak, vtc_quote_ak_free);
        g_clear_pointer(&v->boot, g_byte_array_unref);
        g_clear_pointer(&v->ima, g_byte_array_unref);
        g_clear_pointer(&v->attest_b64, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Verifier, verifier_clear)

/* A host log increment: appended to what the verifier holds; the offset moves on. */
static void
verifier_take_host_log(JsonObject *answer, const gchar *member, guint64 *off, GByteArray *held)
{
        g_autoptr(GError) error = NULL;
        JsonObject *o = vtc_json_get_object(answer, member, TRUE, &error);
        g_autoptr(GBytes) data = NULL;
        gint64 from = -1;

        g_assert_no_error(error);
        g_assert_true(vtc_json_get_int(o, "from", 0, G_MAXINT64, TRUE, &from, &error));
        g_assert_cmpint(from, ==, (gint64)*off);
        g_assert_null(vtc_json_get_string(o, "error", FALSE, NULL));
        data = vtc_json_get_base64(o, "data", 64 * 1024 * 1024, TRUE, &error);
        g_assert_no_error(error);
        g_byte_array_append(held, g_bytes_get_data(data, NULL), (guint)g_bytes_get_size(data));
        *off += g_bytes_get_size(data);
}

/*
 * Everything a verifier checks of one answer: the quote's signature by the host AK over the
 * quoted PCR values with extraData = the Merkle root, the leaf SHA-256(0x00 || uuid || binding)
 * in the tree under that root, and the vTPM log increment replaying (once complete) to the quoted
 * PCR 23.
 */
static void
verifier_check(Verifier *v, JsonObject *answer, const guint8 uuid[16], const guint8 binding[32])
{
        g_autoptr(GError) error = NULL;
        JsonObject *q = vtc_json_get_object(answer, "quote", TRUE, &error);
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sigbytes = NULL;
        g_autoptr(VtcQuote) quote = NULL;
        g_autoptr(VtcPcrValues) pcrs = vtc_pcr_values_new();
        g_auto(VtcQuoteResult) result = {0};
        TPMT_SIGNATURE sig = {0};
        const guint8 *root;
        gsize root_len = 0;
        guint8 leaf[32];
        gint64 index = -1;
        gint64 size = -1;
        JsonArray *proof_arr;
        g_autofree guint8 *proof = NULL;
        guint n_proof;
        JsonObject *banks;
        JsonObject *sha256;
        g_autoptr(GList) names = NULL;
        JsonObject *vl;
        g_autoptr(GBytes) lines = NULL;
        gint64 from = -1;
        gint64 count = -1;
        gboolean more = TRUE;
        guint8 pcr23[32];
        guint64 replayed = 0;
        const guint8 *quoted23;
        gsize quoted23_len = 0;
        g_autofree gchar *root_hex = NULL;

        g_assert_no_error(error);
        attest = vtc_json_get_base64(q, "attest", 4096, TRUE, &error);
        g_assert_no_error(error);
        sigbytes = vtc_json_get_base64(q, "signature", 4096, TRUE, &error);
        g_assert_no_error(error);
        g_clear_pointer(&v->attest_b64, g_free);
        v->attest_b64 = g_base64_encode(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest));
        quote = vtc_quote_parse(g_bytes_get_data(attest, NULL), g_bytes_get_size(attest), &error);
        g_assert_no_error(error);
        g_assert_true(vtc_quote_signature_parse(g_bytes_get_data(sigbytes, NULL),
                                                g_bytes_get_size(sigbytes),
                                                &sig,
                                                &error));
        g_assert_no_error(error);

        /* the quoted PCR values */
        banks = vtc_json_get_object(answer, "pcrs", TRUE, &error);
        g_assert_no_error(error);
        sha256 = vtc_json_get_object(banks, "sha256", TRUE, &error);
        g_assert_no_error(error);
        names = json_object_get_members(sha256);
        g_assert_cmpuint(g_list_length(names), ==, 12);
        for (GList *l = names; l != NULL; l = l->next) {
                guint8 d[32];
                guint64 idx = 0;
                g_assert_true(g_ascii_string_to_unsigned(l->data, 10, 0, 23, &idx, NULL));
                g_assert_true(vtc_hex_decode_fixed(vtc_json_get_string(sha256, l->data, TRUE, NULL),
                                                   d,
                                                   32,
                                                   &error));
                g_assert_true(vtc_pcr_values_set(pcrs, TPM2_ALG_SHA256, (guint)idx, d, 32, &error));
                g_assert_no_error(error);
        }

        /* the leaf is in the tree whose root the quote carries */
        root = vtc_quote_get_nonce(quote, &root_len);
        g_assert_cmpuint(root_len, ==, 32);
        root_hex = vtc_hex_encode(root, 32);
        g_assert_cmpstr(vtc_json_get_string(answer, "root", TRUE, NULL), ==, root_hex);
        g_assert_true(vtc_json_get_int(answer, "leaf_index", 0, G_MAXINT32, TRUE, &index, &error));
        g_assert_true(vtc_json_get_int(answer, "tree_size", 1, G_MAXINT32, TRUE, &size, &error));
        proof_arr = vtc_json_get_array(answer, "proof", TRUE, &error);
        g_assert_no_error(error);
        n_proof = json_array_get_length(proof_arr);
        g_assert_cmpuint(n_proof, <=, VTC_MERKLE_MAX_PROOF);
        proof = g_malloc0(32 * (n_proof + 1));
        for (guint i = 0; i < n_proof; i++) {
                g_assert_true(
                    vtc_hex_decode_fixed(vtc_json_array_get_string(proof_arr, i, "proof", &error),
                                         proof + 32 * i,
                                         32,
                                         &error));
                g_assert_no_error(error);
        }
        vtc_merkle_leaf_hash(uuid, binding, leaf);
        g_assert_true(vtc_merkle_verify_inclusion(leaf,
                                                  (gsize)index,
                                                  (gsize)size,
                                                  proof,
                                                  n_proof,
                                                  root,
                                                  &error));
        g_assert_no_error(error);

        /* the quote: the host AK's signature, nonce = root, the PCR values */
        g_assert_true(vtc_quote_check(quote,
                                      &sig,
                                      v->ak,
                                      root,
                                      32,
                                      pcrs,
                                      TPM2_ALG_SHA256,
                                      VTC_QUOTE_CHECK_EXACT_PCRS | VTC_QUOTE_CHECK_NO_SHA1,
                                      &result,
                                      &error));
        g_assert_no_error(error);
        g_assert_cmpstr(result.reason, ==, NULL);
        g_assert_true(result.valid);

        /* the vTPM log increment replays from the verifier's state */
        vl = vtc_json_get_object(answer, "vtpm_log", TRUE, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_json_get_int(vl, "from", 0, G_MAXINT64, TRUE, &from, &error));
        g_assert_true(vtc_json_get_int(vl, "count", 0, G_MAXINT64, TRUE, &count, &error));
        g_assert_true(vtc_json_get_bool(vl, "more", TRUE, &more, &error));
        g_assert_no_error(error);
        g_assert_cmpint(from, ==, (gint64)v->vtpm_off);
        lines = vtc_json_get_base64(vl, "data", 64 * 1024 * 1024, TRUE, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_vtpm_log_replay_data_from(g_bytes_get_data(lines, NULL),
                                                    g_bytes_get_size(lines),
                                                    v->vtpm_off,
                                                    v->vtpm_pcr,
                                                    pcr23,
                                                    &replayed,
                                                    NULL,
                                                    &error));
        g_assert_no_error(error);
        g_assert_cmpuint(replayed, ==, (guint64)count);
        quoted23 = vtc_pcr_values_get(result.pcrs, TPM2_ALG_SHA256, 23, &quoted23_len);
        g_assert_nonnull(quoted23);
        if (!more)
                g_assert_cmpmem(pcr23, 32, quoted23, quoted23_len);
        v->vtpm_complete = !more && memcmp(pcr23, quoted23, 32) == 0;
        memcpy(v->vtpm_pcr, pcr23, 32);
        v->vtpm_off += replayed;
        g_assert_true(vtc_json_get_bool(answer, "vm_running", TRUE, &v->vm_running, &error));
        g_assert_no_error(error);
}

static JsonObject *
bind_ok(Fixture *fx, Verifier *v, const gchar *uuid_text, guint tag)
{
        guint8 uuid[16];
        guint8 binding[32];
        g_autofree gchar *text = g_strdup_printf("guest quote %u || nonce", tag);
        g_autofree gchar *body = NULL;
        JsonObject *answer;
        guint status = 0;
        g_autofree gchar *hex = g_strdup(uuid_text);

        /* the UUID's bytes, as the verifier knows them */
        g_strdelimit(hex, "-", ' ');
        {
                g_auto(GStrv) parts = g_strsplit(hex, " ", -1);
                g_autofree gchar *joined = g_strjoinv("", parts);
                g_assert_true(vtc_hex_decode_fixed(joined, uuid, 16, NULL));
        }
        vtc_merkle_binding((const guint8 *)text, strlen(text), NULL, 0, binding);
        body = bind_body(uuid_text,
                         binding,
                         (gint64)v->boot_off,
                         (gint64)v->ima_off,
                         (gint64)v->vtpm_off);
        answer = request_json(fx, fx->verifier, "POST", "/v1/bind", body, &status);
        if (status != 200)
                g_error("bind: %u %s", status, vtc_json_get_string(answer, "message", FALSE, NULL));
        verifier_check(v, answer, uuid, binding);
        return answer;
}

static GBytes *
file_bytes(const gchar *path)
{
        g_autoptr(GError) error = NULL;
        GBytes *b = vtc_file_read(path, 64 * 1024 * 1024, &error);

        g_assert_no_error(error);
        return b;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* End to end, as a verifier: quote, proof, PCR 23 replay, host logs, vm_running. */
static void
test_bind_verify(Fixture *fx, gconstpointer data)
{
        g_auto(Verifier) v = {0};
        g_autoptr(GBytes) boot = file_bytes(fx->boot_log);
        g_autoptr(GBytes) ima = file_bytes(fx->ima_log);
        g_autoptr(JsonObject) a1 = NULL;
        g_autoptr(JsonObject) a2 = NULL;
        g_autoptr(JsonObject) a3 = NULL;
        g_autoptr(JsonObject) a4 = NULL;
        g_autoptr(GError) error = NULL;
        gboolean more = TRUE;
        JsonObject *o;

        verifier_init(&v, fx);
        /* an unknown VM is bound all the same (direct mode), shown as not running */
        a1 = bind_ok(fx, &v, UUID1, 1);
        g_assert_true(v.vtpm_complete);
        g_assert_cmpuint(v.vtpm_off, ==, 1); /* HOSTD_START */
        g_assert_false(v.vm_running);
        verifier_take_host_log(a1, "boot_log", &v.boot_off, v.boot);
        verifier_take_host_log(a1, "ima_log", &v.ima_off, v.ima);
        g_assert_cmpmem(v.boot->data,
                        v.boot->len,
                        g_bytes_get_data(boot, NULL),
                        g_bytes_get_size(boot));
        g_assert_cmpmem(v.ima->data,
                        v.ima->len,
                        g_bytes_get_data(ima, NULL),
                        g_bytes_get_size(ima));
        o = vtc_json_get_object(a1, "boot_log", TRUE, &error);
        g_assert_true(vtc_json_get_bool(o, "more", TRUE, &more, &error));
        g_assert_false(more);

        /* the VM starts: the next answer brings just that entry, and it replays to PCR 23 */
        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID1);
        a2 = bind_ok(fx, &v, "6F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F", 2);
        g_assert_true(v.vtpm_complete);
        g_assert_cmpuint(v.vtpm_off, ==, 2);
        g_assert_true(v.vm_running);
        g_assert_cmpstr(vtc_json_get_string(a2, "vm_uuid", TRUE, NULL), ==, UUID1);
        /* at the ends of the host logs: nothing new */
        o = vtc_json_get_object(a2, "boot_log", TRUE, &error);
        g_assert_cmpstr(vtc_json_get_string(o, "data", TRUE, NULL), ==, "");
        o = vtc_json_get_object(a2, "vtpm_log", TRUE, &error);
        g_assert_no_error(error);

        /* stopped */
        log_append(fx, VTC_VTPM_LOG_VTPM_STOP, UUID1);
        log_append(fx, VTC_VTPM_LOG_VTPM_START, "11111111-2222-3333-4444-555555555555");
        a3 = bind_ok(fx, &v, UUID1, 3);
        g_assert_true(v.vtpm_complete);
        g_assert_cmpuint(v.vtpm_off, ==, 4);
        g_assert_false(v.vm_running);

        /* a boot log offset beyond its end is reported on that log, the rest is answered */
        v.boot_off = g_bytes_get_size(boot) + 10;
        a4 = bind_ok(fx, &v, "11111111-2222-3333-4444-555555555555", 4);
        g_assert_true(v.vm_running);
        o = vtc_json_get_object(a4, "boot_log", TRUE, &error);
        g_assert_no_error(error);
        g_assert_nonnull(strstr(vtc_json_get_string(o, "error", TRUE, NULL), "beyond the end"));
        g_assert_null(vtc_json_get_string(o, "data", FALSE, NULL));
        verifier_clear(&v);
}

/* Increments larger than an answer come in chunks that say "more"; put together they are the
 * logs, and the vTPM log replays to the quoted PCR once complete. */
static void
test_chunks(Fixture *fx, gconstpointer data)
{
        g_auto(Verifier) v = {0};
        g_autoptr(GBytes) boot = file_bytes(fx->boot_log);
        g_autoptr(GBytes) ima = file_bytes(fx->ima_log);
        g_autoptr(GError) error = NULL;
        guint answers = 0;
        gboolean boot_more = TRUE;
        gboolean ima_more = TRUE;

        for (guint i = 0; i < 4; i++) {
                g_autofree gchar *u = g_strdup_printf("00000000-0000-0000-0000-00000000000%u", i);
                log_append(fx, VTC_VTPM_LOG_VTPM_START, u);
        }
        verifier_init(&v, fx);
        /* 5 entries, 2 per answer; the host logs 8000 bytes per answer */
        while (!v.vtpm_complete || boot_more || ima_more) {
                g_autoptr(JsonObject) a = bind_ok(fx, &v, UUID1, answers);
                JsonObject *o;

                verifier_take_host_log(a, "boot_log", &v.boot_off, v.boot);
                verifier_take_host_log(a, "ima_log", &v.ima_off, v.ima);
                o = vtc_json_get_object(a, "boot_log", TRUE, &error);
                g_assert_true(vtc_json_get_bool(o, "more", TRUE, &boot_more, &error));
                o = vtc_json_get_object(a, "ima_log", TRUE, &error);
                g_assert_true(vtc_json_get_bool(o, "more", TRUE, &ima_more, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(v.boot->len, <=, 8000 * (answers + 1));
                answers++;
                g_assert_cmpuint(answers, <, 100);
        }
        g_assert_cmpuint(v.vtpm_off, ==, 5);
        /* 91599 bytes of IMA log in 8000-byte chunks */
        g_assert_cmpuint(answers, ==, (91599 + 7999) / 8000);
        g_assert_cmpmem(v.boot->data,
                        v.boot->len,
                        g_bytes_get_data(boot, NULL),
                        g_bytes_get_size(boot));
        g_assert_cmpmem(v.ima->data,
                        v.ima->len,
                        g_bytes_get_data(ima, NULL),
                        g_bytes_get_size(ima));
        verifier_clear(&v);
}

/* ---- many at once ------------------------------------------------------------------------- */

typedef struct {
        SoupMessage *msg;
        guint8 uuid[16];
        gchar uuid_text[37];
        guint8 binding[32];
        GBytes *reply;
        GError *error;
        guint *n_done;
} Concurrent;

static void
concurrent_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Concurrent *c = user_data;

        c->reply = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &c->error);
        (*c->n_done)++;
}

static void
warm_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        guint *n = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply G_GNUC_UNUSED =
            soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
        SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), res);

        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
        (*n)++;
}

/*
 * Opens @n kept-alive connections, 20 new ones at a time: TLS handshakes run on GLib's shared
 * thread pool, here for both ends in one process, and glib-networking 2.74 spends ~100 ms of CPU
 * on each (it parses the system trust store), so 200 at once starve each other for minutes.
 * Round k sends 20k requests at once: 20(k-1) reuse idle connections, 20 open new ones.
 */
static void
warm_up(Fixture *fx, SoupSession *s, GTlsCertificate *cert, guint n)
{
        g_autofree gchar *url = g_strconcat(fx->url, "/v1/identity", NULL);

        for (guint k = 1; k * 20 <= n; k++) {
                guint done = 0;

                for (guint i = 0; i < k * 20; i++) {
                        g_autoptr(SoupMessage) msg = soup_message_new("GET", url);

                        soup_message_set_tls_client_certificate(msg, cert);
                        soup_session_send_and_read_async(s,
                                                         msg,
                                                         G_PRIORITY_DEFAULT,
                                                         NULL,
                                                         warm_cb,
                                                         &done);
                }
                while (done < k * 20)
                        g_main_context_iteration(NULL, TRUE);
        }
}

static guint64
metric(const gchar *text, const gchar *sample)
{
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        gsize n = strlen(sample);

        for (guint i = 0; lines[i] != NULL; i++)
                if (strncmp(lines[i], sample, n) == 0 && lines[i][n] == ' ')
                        return g_ascii_strtoull(lines[i] + n + 1, NULL, 10);
        g_error("no sample %s in the metrics", sample);
        return 0;
}

/* A TPM job that holds the worker until opened: a slow hardware TPM. */
typedef struct {
        GMutex lock;
        GCond cond;
        gboolean entered;
        gboolean open;
        gboolean done;
} Gate;

static gboolean
gate_job(VtcHostdTpm *worker, VtcTpm *tpm, gpointer data, gpointer *out_result, GError **error)
{
        Gate *g = data;

        g_mutex_lock(&g->lock);
        g->entered = TRUE;
        g_cond_broadcast(&g->cond);
        while (!g->open)
                g_cond_wait(&g->cond, &g->lock);
        g_mutex_unlock(&g->lock);
        return TRUE;
}

static void
gate_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Gate *g = user_data;

        g_assert_true(vtc_hostd_tpm_run_finish(NULL, res, NULL, NULL));
        g->done = TRUE;
}

static gboolean
tick_cb(gpointer data)
{
        return G_SOURCE_CONTINUE;
}

/* The batcher's count of submitted bindings, read on the server's thread. */
typedef struct {
        Fixture *fx;
        GMutex lock;
        GCond cond;
        gboolean ready;
        guint64 submitted;
} Probe;

static gboolean
probe_cb(gpointer data)
{
        Probe *p = data;
        VtcHostdBatchMetrics m;

        vtc_hostd_batch_get_metrics(p->fx->batch, &m);
        g_mutex_lock(&p->lock);
        p->submitted = m.submitted;
        p->ready = TRUE;
        g_cond_broadcast(&p->cond);
        g_mutex_unlock(&p->lock);
        return G_SOURCE_REMOVE;
}

static guint64
server_submitted(Fixture *fx)
{
        Probe p = {.fx = fx};

        g_mutex_init(&p.lock);
        g_cond_init(&p.cond);
        g_main_context_invoke(fx->ctx, probe_cb, &p);
        g_mutex_lock(&p.lock);
        while (!p.ready)
                g_cond_wait(&p.cond, &p.lock);
        g_mutex_unlock(&p.lock);
        g_mutex_clear(&p.lock);
        g_cond_clear(&p.cond);
        return p.submitted;
}

/*
 * 200 concurrent binds over HTTPS share at most 2 hardware quotes; each one verifies. They travel
 * on kept-alive connections (as verifiers' rounds do), so this also shows that a connection keeps
 * its client certificate's authority for later requests.
 */
static void
test_concurrent(Fixture *fx, gconstpointer data)
{
        enum { N = 200 };
        g_autoptr(GError) error = NULL;
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(fx->ca, &error);
        g_autoptr(GTlsCertificate) cert =
            g_tls_certificate_new_from_files(fx->cert, fx->key, &error);
        g_autoptr(SoupSession) s = NULL;
        g_autoptr(GHashTable) quotes = g_hash_table_new(g_str_hash, g_str_equal);
        g_autofree Concurrent *cs = g_new0(Concurrent, N);
        g_autofree gchar *url = g_strconcat(fx->url, "/v1/bind", NULL);
        g_autofree gchar *before = NULL;
        g_autofree gchar *after = NULL;
        g_auto(Verifier) v = {0};
        guint n_done = 0;
        guint status = 0;
        gint64 t0;
        Gate gate = {0};
        guint tick;
        gsize boot_size = 0;
        gsize ima_size = 0;
        g_autoptr(GBytes) boot = file_bytes(fx->boot_log);
        g_autoptr(GBytes) ima = file_bytes(fx->ima_log);

        g_assert_no_error(error);
        boot_size = g_bytes_get_size(boot);
        ima_size = g_bytes_get_size(ima);
        verifier_init(&v, fx);
        before = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        s = soup_session_new_with_options("tls-database",
                                          db,
                                          "max-conns",
                                          N + 10,
                                          "max-conns-per-host",
                                          N + 10,
                                          "timeout",
                                          120,
                                          NULL);
        soup_session_set_proxy_resolver(s, NULL);
        t0 = g_get_monotonic_time();
        warm_up(fx, s, cert, N);
        g_test_message("%u kept-alive TLS connections opened in %.0f ms",
                       N,
                       (gdouble)(g_get_monotonic_time() - t0) / 1000);
        /* the TPM is busy (a slow hardware quote): the binds pile up while it is; with the
         * default 20 ms window, whatever came first goes in one quote, all the rest in the next */
        g_mutex_init(&gate.lock);
        g_cond_init(&gate.cond);
        vtc_hostd_tpm_run_async(fx->tpm, gate_job, &gate, NULL, NULL, NULL, gate_done_cb, &gate);
        g_mutex_lock(&gate.lock);
        while (!gate.entered)
                g_cond_wait(&gate.cond, &gate.lock);
        g_mutex_unlock(&gate.lock);
        t0 = g_get_monotonic_time();
        for (guint i = 0; i < N; i++) {
                Concurrent *c = &cs[i];
                g_autofree gchar *text = g_strdup_printf("guest quote %u", i);
                g_autofree gchar *body = NULL;
                g_autoptr(GBytes) b = NULL;

                for (guint k = 0; k < 16; k++)
                        c->uuid[k] = (guint8)(i * 7 + k * 13);
                c->uuid[6] = (guint8)((c->uuid[6] & 0x0f) | 0x40);
                g_snprintf(c->uuid_text,
                           sizeof(c->uuid_text),
                           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                           c->uuid[0],
                           c->uuid[1],
                           c->uuid[2],
                           c->uuid[3],
                           c->uuid[4],
                           c->uuid[5],
                           c->uuid[6],
                           c->uuid[7],
                           c->uuid[8],
                           c->uuid[9],
                           c->uuid[10],
                           c->uuid[11],
                           c->uuid[12],
                           c->uuid[13],
                           c->uuid[14],
                           c->uuid[15]);
                vtc_merkle_binding((const guint8 *)text, strlen(text), NULL, 0, c->binding);
                /* at the ends of the host logs: the vTPM log is what this test is about */
                body = bind_body(c->uuid_text, c->binding, (gint64)boot_size, (gint64)ima_size, 0);
                b = g_bytes_new(body, strlen(body));
                c->n_done = &n_done;
                c->msg = soup_message_new("POST", url);
                soup_message_set_tls_client_certificate(c->msg, cert);
                soup_message_set_request_body_from_bytes(c->msg, "application/json", b);
                /* a bind may be repeated (a new leaf, same meaning): let it use a warm
                 * connection, which libsoup refuses a plain POST */
                soup_message_add_flags(c->msg, SOUP_MESSAGE_IDEMPOTENT);
                soup_session_send_and_read_async(s,
                                                 c->msg,
                                                 G_PRIORITY_DEFAULT,
                                                 NULL,
                                                 concurrent_cb,
                                                 c);
        }
        tick = g_timeout_add(5, tick_cb, NULL);
        while (server_submitted(fx) < N) {
                g_assert_cmpuint(n_done, ==, 0);
                g_main_context_iteration(NULL, TRUE);
        }
        g_source_remove(tick);
        g_test_message("%u binds over HTTPS submitted in %.0f ms",
                       N,
                       (gdouble)(g_get_monotonic_time() - t0) / 1000);
        g_mutex_lock(&gate.lock);
        gate.open = TRUE;
        g_cond_broadcast(&gate.cond);
        g_mutex_unlock(&gate.lock);
        while (n_done < N || !gate.done)
                g_main_context_iteration(NULL, TRUE);
        g_mutex_clear(&gate.lock);
        g_cond_clear(&gate.cond);
        g_test_message("%u binds over HTTPS answered in %.0f ms",
                       N,
                       (gdouble)(g_get_monotonic_time() - t0) / 1000);
        for (guint i = 0; i < N; i++) {
                Concurrent *c = &cs[i];
                VtcJsonLimits limits = {64 * 1024 * 1024, 16, 64 * 1024 * 1024, 100000};
                g_autoptr(JsonObject) a = NULL;

                g_assert_no_error(c->error);
                g_assert_cmpuint(soup_message_get_status(c->msg), ==, 200);
                a = vtc_json_parse_object(g_bytes_get_data(c->reply, NULL),
                                          g_bytes_get_size(c->reply),
                                          &limits,
                                          &error);
                g_assert_no_error(error);
                /* every answer starts from offset 0 */
                v.vtpm_off = 0;
                memset(v.vtpm_pcr, 0, sizeof(v.vtpm_pcr));
                verifier_check(&v, a, c->uuid, c->binding);
                g_assert_true(v.vtpm_complete);
                if (!g_hash_table_contains(quotes, v.attest_b64))
                        g_hash_table_add(quotes, g_strdup(v.attest_b64));
        }
        g_test_message("%u binds, %u hardware quotes", N, g_hash_table_size(quotes));
        g_assert_cmpuint(g_hash_table_size(quotes), >=, 1);
        g_assert_cmpuint(g_hash_table_size(quotes), <=, 2);
        after = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(metric(after, "vtc_hostd_quotes_total") -
                             metric(before, "vtc_hostd_quotes_total"),
                         ==,
                         g_hash_table_size(quotes));
        g_assert_cmpuint(metric(after, "vtc_hostd_bindings_answered_total"), ==, N);
        for (guint i = 0; i < N; i++) {
                g_clear_object(&cs[i].msg);
                g_clear_pointer(&cs[i].reply, g_bytes_unref);
        }
        {
                GHashTableIter it;
                gpointer k;
                g_hash_table_iter_init(&it, quotes);
                while (g_hash_table_iter_next(&it, &k, NULL))
                        g_free(k);
        }
        verifier_clear(&v);
}

/* ---- refusals ----------------------------------------------------------------------------- */

static void
expect_error(Fixture *fx,
             SoupSession *s,
             const gchar *method,
             const gchar *path,
             const gchar *body,
             guint want_status,
             const gchar *want_error)
{
        guint status = 0;
        g_autoptr(JsonObject) a = request_json(fx, s, method, path, body, &status);

        if (status != want_status)
                g_error("%s %s %s: %u, expected %u (%s)",
                        method,
                        path,
                        body != NULL ? body : "",
                        status,
                        want_status,
                        vtc_json_get_string(a, "message", FALSE, NULL));
        g_assert_cmpstr(vtc_json_get_string(a, "error", TRUE, NULL), ==, want_error);
        g_assert_nonnull(vtc_json_get_string(a, "message", TRUE, NULL));
}

/* Without a client certificate of the deployment's CA, every call is 401, /metrics included. */
static void
test_no_client_cert(Fixture *fx, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) anon = vtc_http_client_new(fx->ca, NULL, NULL, &error);
        g_autoptr(SoupSession) stranger = NULL;
        g_autofree gchar *other = g_build_filename(fx->dir, "other-ca", NULL);
        g_autofree gchar *scrt = g_build_filename(other, "stranger.crt", NULL);
        g_autofree gchar *skey = g_build_filename(other, "stranger.key", NULL);
        g_autofree gchar *metrics = NULL;
        guint8 binding[32] = {0};
        g_autofree gchar *body = bind_body(UUID1, binding, 0, 0, 0);
        guint status = 0;

        g_assert_no_error(error);
        g_assert_true(vtc_ca_init(other, "another CA", 1, &error));
        g_assert_true(vtc_ca_issue(other, "stranger", NULL, 1, &error));
        g_assert_no_error(error);
        stranger = vtc_http_client_new(fx->ca, scrt, skey, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < 2; i++) {
                SoupSession *s = i == 0 ? anon : stranger;
                expect_error(fx, s, "POST", "/v1/bind", body, 401, "unauthorized");
                expect_error(fx, s, "GET", "/v1/identity", NULL, 401, "unauthorized");
                expect_error(fx, s, "GET", "/metrics", NULL, 401, "unauthorized");
        }
        /* nothing was bound */
        metrics = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpuint(metric(metrics, "vtc_hostd_bindings_submitted_total"), ==, 0);
        g_assert_cmpuint(metric(metrics, "vtc_hostd_quotes_total"), ==, 0);
        g_assert_cmpuint(
            metric(metrics, "vtc_hostd_api_requests_total{call=\"bind\",status=\"401\"}"),
            ==,
            2);
        /* the same verifier session keeps its identity over a kept-alive connection */
        for (guint i = 0; i < 3; i++) {
                g_autoptr(JsonObject) id G_GNUC_UNUSED =
                    request_json(fx, fx->verifier, "GET", "/v1/identity", NULL, &status);
                g_assert_cmpuint(status, ==, 200);
        }
}

/* Malformed requests are 4xx with a reason, and change nothing: no binding, no TPM job. */
static void
test_bad_requests(Fixture *fx, gconstpointer data)
{
        static const gchar *const bad_400[] = {
            "{",
            "[]",
            "\"x\"",
            "{}",
            "{\"binding\":\"" /* no uuid */
            "0000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":\"" UUID1 "\"}",
            "{\"vm_uuid\":\"6f1c0a2e1b2c4d3e8f405a6b7c8d9e0f\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":\"6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0g\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":\"6f1c0a2e-1b2c-4d3e-8f40_5a6b7c8d9e0f\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":7,\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":\"00\"}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"000000000000000000000000000000000000000000000000000000000000000\"}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"000000000000000000000000000000000000000000000000000000000000000z\"}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\",\"x\":1}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\","
            "\"offsets\":{\"boot\":-1}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\","
            "\"offsets\":{\"ima\":\"7\"}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\","
            "\"offsets\":{\"ima\":1099511627777}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\","
            "\"offsets\":{\"tpm\":0}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
            "\"0000000000000000000000000000000000000000000000000000000000000000\","
            "\"offsets\":[]}",
        };
        g_autofree gchar *before = NULL;
        g_autofree gchar *after = NULL;
        g_autoptr(GString) big = g_string_new("{\"vm_uuid\":\"" UUID1 "\",\"pad\":\"");
        VtcHostdTpmStats t0;
        VtcHostdTpmStats t1;
        guint status = 0;

        before = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        vtc_hostd_tpm_get_stats(fx->tpm, &t0);
        for (guint i = 0; i < G_N_ELEMENTS(bad_400); i++)
                expect_error(fx, fx->verifier, "POST", "/v1/bind", bad_400[i], 400, "invalid_data");
        /* a vTPM log offset beyond its end (1 entry) */
        expect_error(fx,
                     fx->verifier,
                     "POST",
                     "/v1/bind",
                     "{\"vm_uuid\":\"" UUID1 "\",\"binding\":"
                     "\"0000000000000000000000000000000000000000000000000000000000000000\","
                     "\"offsets\":{\"vtpm\":2}}",
                     400,
                     "invalid_argument");
        /* too big: refused before being read */
        while (big->len < VTC_HOSTD_API_MAX_BODY + 10)
                g_string_append_c(big, 'a');
        g_string_append(big, "\"}");
        expect_error(fx, fx->verifier, "POST", "/v1/bind", big->str, 413, "too_large");
        /* JSON deeper than a bind request can be */
        expect_error(fx,
                     fx->verifier,
                     "POST",
                     "/v1/bind",
                     "{\"offsets\":{\"a\":{\"b\":{\"c\":{\"d\":1}}}}}",
                     413,
                     "too_large");
        expect_error(fx, fx->verifier, "GET", "/v1/bind", NULL, 405, "invalid_argument");
        expect_error(fx, fx->verifier, "POST", "/v1/identity", "{}", 405, "invalid_argument");
        expect_error(fx, fx->verifier, "GET", "/v1/nothing", NULL, 404, "not_found");
        expect_error(fx, fx->verifier, "GET", "/v1/bind/x", NULL, 404, "not_found");
        after = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        vtc_hostd_tpm_get_stats(fx->tpm, &t1);
        g_assert_cmpuint(metric(after, "vtc_hostd_bindings_submitted_total"), ==, 0);
        g_assert_cmpuint(metric(after, "vtc_hostd_quotes_total"), ==, 0);
        g_assert_cmpuint(t1.jobs, ==, t0.jobs);
        g_assert_cmpuint(vtc_vtpm_log_get_count(fx->log), ==, 1);
        g_assert_cmpuint(
            metric(after, "vtc_hostd_api_requests_total{call=\"bind\",status=\"400\"}"),
            ==,
            G_N_ELEMENTS(bad_400) + 1);
        g_assert_cmpuint(
            metric(after, "vtc_hostd_api_requests_total{call=\"bind\",status=\"413\"}"),
            ==,
            1 /* the deep one: the oversized body never reached the handler */);
}

/* PCR 23 moved behind the log's back: no answer claims the log replays to it. */
static void
test_log_mismatch(Fixture *fx, gconstpointer data)
{
        static const guint8 junk[32] = {0xde, 0xad};
        g_autoptr(GError) error = NULL;
        guint8 binding[32] = {1};
        g_autofree gchar *body = bind_body(UUID1, binding, 0, 0, 0);
        guint status = 0;
        g_autoptr(JsonObject) a = NULL;

        g_assert_true(vtc_hostd_tpm_extend_sync(fx->tpm, 23, TPM2_ALG_SHA256, junk, 32, &error));
        g_assert_no_error(error);
        a = request_json(fx, fx->verifier, "POST", "/v1/bind", body, &status);
        g_assert_cmpuint(status, ==, 503);
        g_assert_cmpstr(vtc_json_get_string(a, "error", TRUE, NULL), ==, "unavailable");
        g_assert_nonnull(
            strstr(vtc_json_get_string(a, "message", TRUE, NULL), "does not replay to PCR 23"));
}

/* ---- /metrics ----------------------------------------------------------------------------- */

/* A strict reader of the Prometheus text format (0.0.4) for what hostd writes. */
static GHashTable *
prometheus_parse(const gchar *text)
{
        g_autoptr(GHashTable) types =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        GHashTable *samples = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GRegex) sample_re = g_regex_new(
            "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\.)*\""
            "(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\.)*\")*\\})? (\\S+)$",
            0,
            0,
            NULL);
        g_autoptr(GRegex) meta_re =
            g_regex_new("^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$", 0, 0, NULL);
        g_auto(GStrv) lines = NULL;

        g_assert_true(g_str_has_suffix(text, "\n"));
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 0; lines[i] != NULL && lines[i + 1] != NULL; i++) {
                g_autoptr(GMatchInfo) m = NULL;
                const gchar *line = lines[i];

                if (line[0] == '#') {
                        g_autofree gchar *kind = NULL;
                        g_autofree gchar *name = NULL;
                        g_autofree gchar *rest = NULL;

                        if (!g_regex_match(meta_re, line, 0, &m))
                                g_error("bad comment line: %s", line);
                        kind = g_match_info_fetch(m, 1);
                        name = g_match_info_fetch(m, 2);
                        rest = g_match_info_fetch(m, 3);
                        if (g_str_equal(kind, "TYPE")) {
                                g_assert_true(g_str_equal(rest, "counter") ||
                                              g_str_equal(rest, "gauge") ||
                                              g_str_equal(rest, "histogram"));
                                g_assert_false(g_hash_table_contains(types, name));
                                g_hash_table_insert(types,
                                                    g_steal_pointer(&name),
                                                    g_steal_pointer(&rest));
                        }
                        continue;
                }
                if (!g_regex_match(sample_re, line, 0, &m))
                        g_error("bad sample line: '%s'", line);
                {
                        g_autofree gchar *name = g_match_info_fetch(m, 1);
                        g_autofree gchar *labels = g_match_info_fetch(m, 2);
                        g_autofree gchar *value = g_match_info_fetch(m, 3);
                        g_autofree gchar *family = g_strdup(name);
                        const gchar *type;
                        gchar *end = NULL;
                        gdouble d;

                        type = g_hash_table_lookup(types, family);
                        if (type == NULL) {
                                for (guint k = 0; k < 3 && type == NULL; k++) {
                                        const gchar *suffix[] = {"_bucket", "_sum", "_count"};
                                        if (g_str_has_suffix(name, suffix[k])) {
                                                g_free(family);
                                                family =
                                                    g_strndup(name,
                                                              strlen(name) - strlen(suffix[k]));
                                                type = g_hash_table_lookup(types, family);
                                                g_assert_cmpstr(type, ==, "histogram");
                                        }
                                }
                        }
                        if (type == NULL)
                                g_error("sample %s has no TYPE before it", name);
                        if (g_str_equal(type, "counter"))
                                g_assert_true(g_str_has_suffix(name, "_total"));
                        if (g_str_equal(value, "+Inf"))
                                d = INFINITY;
                        else {
                                d = g_ascii_strtod(value, &end);
                                g_assert_true(end != value && *end == '\0');
                        }
                        g_assert_false(isnan(d));
                        g_hash_table_insert(samples,
                                            g_strconcat(name, labels, NULL),
                                            g_memdup2(&d, sizeof(d)));
                }
        }
        return samples;
}

static gdouble
sample(GHashTable *samples, const gchar *key)
{
        const gdouble *d = g_hash_table_lookup(samples, key);

        if (d == NULL)
                g_error("no sample %s", key);
        return *d;
}

/* Histogram buckets are cumulative, end in +Inf, and +Inf equals _count. */
static void
check_histogram(GHashTable *samples, const gchar *name, const gchar *const *bounds)
{
        gdouble prev = 0;

        for (guint i = 0; bounds[i] != NULL; i++) {
                g_autofree gchar *key = g_strdup_printf("%s_bucket{le=\"%s\"}", name, bounds[i]);
                gdouble v = sample(samples, key);
                g_assert_cmpfloat(v, >=, prev);
                prev = v;
        }
        {
                g_autofree gchar *inf = g_strdup_printf("%s_bucket{le=\"+Inf\"}", name);
                g_autofree gchar *count = g_strdup_printf("%s_count", name);
                g_autofree gchar *sum = g_strdup_printf("%s_sum", name);
                g_assert_cmpfloat(sample(samples, inf), >=, prev);
                g_assert_cmpfloat(sample(samples, inf), ==, sample(samples, count));
                g_assert_cmpfloat(sample(samples, sum), >=, 0);
        }
}

static void
test_metrics(Fixture *fx, gconstpointer data)
{
        static const gchar *const sizes[] = {"1",
                                             "2",
                                             "4",
                                             "8",
                                             "16",
                                             "32",
                                             "64",
                                             "128",
                                             "256",
                                             "512",
                                             "1024",
                                             "2048",
                                             "4096",
                                             NULL};
        static const gchar *const lat[] = {"0.001",
                                           "0.002",
                                           "0.005",
                                           "0.01",
                                           "0.02",
                                           "0.05",
                                           "0.1",
                                           "0.2",
                                           "0.5",
                                           "1",
                                           "2",
                                           "5",
                                           "10",
                                           NULL};
        g_auto(Verifier) v = {0};
        g_autoptr(GHashTable) quotes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) samples = NULL;
        g_autofree gchar *text = NULL;
        guint status = 0;

        verifier_init(&v, fx);
        for (guint i = 0; i < 3; i++) {
                g_autoptr(JsonObject) a G_GNUC_UNUSED = bind_ok(fx, &v, UUID1, i);
                g_hash_table_add(quotes, g_strdup(v.attest_b64));
        }
        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID1);
        text = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        samples = prometheus_parse(text);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_quotes_total"), ==, g_hash_table_size(quotes));
        g_assert_cmpuint(g_hash_table_size(quotes), ==, 3); /* one at a time: one quote each */
        g_assert_cmpfloat(sample(samples, "vtc_hostd_quote_failures_total"), ==, 0);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_bindings_answered_total"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_batch_size_count"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_batch_size_sum"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_batch_size_bucket{le=\"1\"}"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_binding_latency_seconds_count"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_vtpm_log_entries"), ==, 2);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_vtpms_running"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_tpm_jobs_total"), >=, 5);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_tpm_busy_seconds_total"), >, 0);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"bind\",status=\"200\"}"),
            ==,
            3);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"identity\",status=\"200\"}"),
            ==,
            1);
        check_histogram(samples, "vtc_hostd_batch_size", sizes);
        check_histogram(samples, "vtc_hostd_binding_latency_seconds", lat);
        verifier_clear(&v);
}

/* ---- rounds through the host ------------------------------------------------------------- */

#define NONCE_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static gchar *
round_body(const gchar *uuid, const gchar *nonce_hex, guint64 boot, guint64 ima, guint64 vtpm)
{
        return g_strdup_printf("{\"vm_uuid\":\"%s\",\"nonce\":\"%s\","
                               "\"pcrs\":{\"sha256\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,"
                               "17,18,19,20,21,22,23]},\"ima_offset\":4096,\"boot_log\":true,"
                               "\"offsets\":{\"boot\":%" G_GUINT64_FORMAT
                               ",\"ima\":%" G_GUINT64_FORMAT ",\"vtpm\":%" G_GUINT64_FORMAT "}}",
                               uuid,
                               nonce_hex,
                               boot,
                               ima,
                               vtpm);
}

/* Through the host: the guest's evidence comes back with a host quote over the binding hostd
 * computed from it, and a verifier checks that binding with its own nonce. */
static void
test_round_verify(Fixture *fx, gconstpointer data)
{
        g_auto(Verifier) v = {0};
        guint8 uuid[16];
        guint8 nonce[32];

        g_assert_true(vtc_hex_decode_fixed("6f1c0a2e1b2c4d3e8f405a6b7c8d9e0f", uuid, 16, NULL));
        g_assert_true(vtc_hex_decode_fixed(NONCE_HEX, nonce, 32, NULL));
        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID1);
        verifier_init(&v, fx);
        for (guint i = 0; i < 3; i++) {
                g_autofree gchar *body = round_body("6F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F",
                                                    NONCE_HEX,
                                                    v.boot_off,
                                                    v.ima_off,
                                                    v.vtpm_off);
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) a = NULL;
                g_autoptr(GBytes) attest = NULL;
                JsonObject *guest;
                JsonObject *host;
                JsonObject *quote;
                JsonObject *req;
                VtcChannelRound sent;
                const gchar *extra[] = {"id", "op", NULL};
                guint8 binding[32];
                guint status = 0;
                gint64 id = 0;

                a = request_json(fx, fx->verifier, "POST", "/v1/round", body, &status);
                if (status != 200)
                        g_error("round: %u %s",
                                status,
                                vtc_json_get_string(a, "message", FALSE, NULL));
                g_assert_cmpstr(vtc_json_get_string(a, "placement", TRUE, NULL), ==, "channel");
                guest = vtc_json_get_object(a, "guest", TRUE, &error);
                g_assert_no_error(error);
                g_assert_false(json_object_has_member(guest, "id"));
                g_assert_false(json_object_has_member(guest, "ok"));
                g_assert_cmpstr(vtc_json_get_string(guest, "uuid", TRUE, NULL), ==, UUID1);
                /* what the agent received: hostd's own id, the round members unchanged */
                req = vtc_json_get_object(guest, "request", TRUE, &error);
                g_assert_no_error(error);
                g_assert_true(vtc_channel_round_from_json(req, extra, &sent, &error));
                g_assert_no_error(error);
                g_assert_cmpmem(sent.nonce, 32, nonce, 32);
                g_assert_cmphex(sent.pcrs.pcr_mask[0], ==, 0xffffff);
                g_assert_cmpuint(sent.ima_offset, ==, 4096);
                g_assert_true(sent.boot_log);
                id = sent.id;
                g_assert_cmpint(id, ==, (gint64)i + 1);
                /* the binding from the guest's attest and the verifier's own nonce */
                quote = vtc_json_get_object(guest, "quote", TRUE, &error);
                g_assert_no_error(error);
                attest = vtc_json_get_base64(quote, "attest", 4096, TRUE, &error);
                g_assert_no_error(error);
                {
                        g_autofree gchar *want = guest_attest(id);
                        g_assert_cmpmem(g_bytes_get_data(attest, NULL),
                                        g_bytes_get_size(attest),
                                        want,
                                        strlen(want));
                }
                vtc_merkle_binding(g_bytes_get_data(attest, NULL),
                                   g_bytes_get_size(attest),
                                   nonce,
                                   32,
                                   binding);
                host = vtc_json_get_object(a, "host", TRUE, &error);
                g_assert_no_error(error);
                g_assert_cmpstr(vtc_json_get_string(host, "vm_uuid", TRUE, NULL), ==, UUID1);
                verifier_check(&v, host, uuid, binding);
                g_assert_true(v.vtpm_complete);
                g_assert_true(v.vm_running);
                verifier_take_host_log(host, "boot_log", &v.boot_off, v.boot);
                verifier_take_host_log(host, "ima_log", &v.ima_off, v.ima);
        }
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 3);
        verifier_clear(&v);
}

static void
assert_error_answer(Fixture *fx,
                    const gchar *method,
                    const gchar *body,
                    guint want_status,
                    const gchar *want_error,
                    const gchar *want_in_message)
{
        guint status = 0;
        g_autoptr(JsonObject) a =
            request_json(fx, fx->verifier, method, "/v1/round", body, &status);
        const gchar *message = vtc_json_get_string(a, "message", TRUE, NULL);

        if (status != want_status)
                g_error("%s: %u, wanted %u (%s)", body, status, want_status, message);
        g_assert_cmpstr(vtc_json_get_string(a, "error", TRUE, NULL), ==, want_error);
        g_assert_nonnull(message);
        if (want_in_message != NULL && strstr(message, want_in_message) == NULL)
                g_error("'%s' lacks '%s'", message, want_in_message);
}

static void
test_round_errors(Fixture *fx, gconstpointer data)
{
        g_autofree gchar *ok = round_body(UUID1, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *unknown =
            round_body("11111111-2222-3333-4444-555555555555", NONCE_HEX, 0, 0, 0);
        g_autofree gchar *far = round_body(UUID1, NONCE_HEX, 0, 0, 99);
        g_autofree gchar *text = NULL;
        g_autoptr(GHashTable) samples = NULL;
        guint status = 0;
        gint64 t0;
        const gchar *bad[] = {
            "{}",
            "[]",
            "{\"vm_uuid\":\"" UUID1 "\",\"pcrs\":{\"sha256\":[0]}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"nonce\":\"00\",\"pcrs\":{\"sha256\":[0]}}",
            "{\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]}}",
            "{\"vm_uuid\":\"x\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[24]}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]},"
            "\"binding\":\"00\"}",
            "{\"vm_uuid\":\"" UUID1 "\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]},"
            "\"offsets\":{\"other\":1}}",
            "{\"vm_uuid\":\"" UUID1 "\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]},"
            "\"id\":5}",
        };

        /* bad requests: 400, and the guest hears nothing */
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
                assert_error_answer(fx, "POST", bad[i], 400, "invalid_data", NULL);
        assert_error_answer(fx, "POST", far, 400, "invalid_argument", "offsets.vtpm");
        assert_error_answer(fx, "GET", NULL, 405, "invalid_argument", "POST");
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 0);

        /* a VM without a channel here */
        assert_error_answer(fx, "POST", unknown, 404, "not_found", "11111111-2222");

        /* the agent's error is passed on */
        g_atomic_int_set(&fx->guest.mode, GUEST_ERROR);
        assert_error_answer(fx,
                            "POST",
                            ok,
                            502,
                            "agent_error",
                            "tpm_error: Esys_Quote: 0x00000921");
        /* evidence without a quote cannot be bound */
        g_atomic_int_set(&fx->guest.mode, GUEST_NO_QUOTE);
        assert_error_answer(fx, "POST", ok, 502, "agent_error", "quote");
        /* a guest that does not answer: a timeout after [channel] timeout_ms */
        g_atomic_int_set(&fx->guest.mode, GUEST_SILENT);
        t0 = g_get_monotonic_time();
        assert_error_answer(fx, "POST", ok, 504, "timeout", UUID1);
        g_assert_cmpint(g_get_monotonic_time() - t0, >=, 450 * 1000);
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 3);

        /* and it works again */
        g_atomic_int_set(&fx->guest.mode, GUEST_EVIDENCE);
        {
                g_autoptr(JsonObject) a =
                    request_json(fx, fx->verifier, "POST", "/v1/round", ok, &status);
                g_assert_cmpuint(status, ==, 200);
                g_assert_true(json_object_has_member(a, "guest"));
        }

        text = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        samples = prometheus_parse(text);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_rounds_total"), ==, 4);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_round_trips_total"), ==, 3);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_agent_errors_total"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_timeouts_total"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_connects_total"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channels"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_channel_round_trip_seconds_total"), >, 0);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"200\"}"),
            ==,
            1);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"502\"}"),
            ==,
            2);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"504\"}"),
            ==,
            1);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"404\"}"),
            ==,
            1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_bindings_submitted_total"), ==, 1);
}

/* ---- several rounds in one request -------------------------------------------------------- */

/* Entry @i's nonce: bytes i, 1, 2, ... 31. */
static void
entry_nonce_bytes(guint i, guint8 out[32])
{
        for (guint k = 0; k < 32; k++)
                out[k] = (guint8)k;
        out[0] = (guint8)i;
}

/* ... and in hex */
static gchar *
entry_nonce(guint i, guint8 out[32])
{
        entry_nonce_bytes(i, out);
        return vtc_hex_encode(out, 32);
}

static void
uuid_bytes(const gchar *text, guint8 out[16])
{
        g_auto(GStrv) parts = g_strsplit(text, "-", -1);
        g_autofree gchar *joined = g_strjoinv("", parts);

        g_assert_true(vtc_hex_decode_fixed(joined, out, 16, NULL));
}

/* {"rounds": [@entries...]} */
static gchar *
rounds_body(GPtrArray *entries)
{
        GString *out = g_string_new("{\"rounds\":[");

        for (guint i = 0; i < entries->len; i++) {
                if (i > 0)
                        g_string_append_c(out, ',');
                g_string_append(out, g_ptr_array_index(entries, i));
        }
        g_string_append(out, "]}");
        return g_string_free(out, FALSE);
}

/* POST /v1/rounds, which must answer 200 with @n answers: the answer object. */
static JsonObject *
rounds_post(Fixture *fx, const gchar *body, guint n, JsonArray **out_answers)
{
        guint status = 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) top =
            request_json(fx, fx->verifier, "POST", "/v1/rounds", body, &status);
        JsonArray *answers;

        if (status != 200)
                g_error("rounds: %u %s", status, vtc_json_get_string(top, "message", FALSE, NULL));
        g_assert_cmpuint(json_object_get_size(top), ==, 1);
        answers = vtc_json_get_array(top, "answers", TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(json_array_get_length(answers), ==, n);
        for (guint i = 0; i < n; i++) {
                JsonNode *node = json_array_get_element(answers, i);
                g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
                g_assert_cmpuint(json_object_get_size(json_node_get_object(node)), ==, 2);
        }
        *out_answers = answers;
        return g_steal_pointer(&top);
}

/* Answer @i: its status and body. */
static JsonObject *
answer_get(JsonArray *answers, guint i, guint *out_status)
{
        JsonObject *a = json_array_get_object_element(answers, i);
        g_autoptr(GError) error = NULL;
        gint64 status = 0;
        JsonObject *body;

        g_assert_true(vtc_json_get_int(a, "status", 100, 599, TRUE, &status, &error));
        g_assert_no_error(error);
        body = vtc_json_get_object(a, "body", TRUE, &error);
        g_assert_no_error(error);
        *out_status = (guint)status;
        return body;
}

/*
 * What test_round_verify checks of one /v1/round answer: the guest's evidence for the request
 * sent, and the host quote over the binding of that evidence and @nonce (vTPM log from 0).
 */
static void
check_round_answer(Verifier *v, JsonObject *a, const gchar *vm, const guint8 nonce[32])
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autofree gchar *lower = g_ascii_strdown(vm, -1);
        const gchar *extra[] = {"id", "op", NULL};
        VtcChannelRound sent;
        JsonObject *guest;
        JsonObject *host;
        JsonObject *quote;
        JsonObject *req;
        guint8 uuid[16];
        guint8 binding[32];

        uuid_bytes(vm, uuid);
        g_assert_cmpstr(vtc_json_get_string(a, "placement", TRUE, NULL), ==, "channel");
        guest = vtc_json_get_object(a, "guest", TRUE, &error);
        g_assert_no_error(error);
        g_assert_false(json_object_has_member(guest, "id"));
        /* answered by the agent of that VM (each test agent names its own) */
        g_assert_cmpstr(vtc_json_get_string(guest, "uuid", TRUE, NULL), ==, lower);
        req = vtc_json_get_object(guest, "request", TRUE, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_channel_round_from_json(req, extra, &sent, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(sent.nonce, 32, nonce, 32);
        g_assert_cmphex(sent.pcrs.pcr_mask[0], ==, 0xffffff);
        g_assert_cmpuint(sent.ima_offset, ==, 4096);
        quote = vtc_json_get_object(guest, "quote", TRUE, &error);
        g_assert_no_error(error);
        attest = vtc_json_get_base64(quote, "attest", 4096, TRUE, &error);
        g_assert_no_error(error);
        {
                g_autofree gchar *want = guest_attest(sent.id);
                g_assert_cmpmem(g_bytes_get_data(attest, NULL),
                                g_bytes_get_size(attest),
                                want,
                                strlen(want));
        }
        vtc_merkle_binding(g_bytes_get_data(attest, NULL),
                           g_bytes_get_size(attest),
                           nonce,
                           32,
                           binding);
        host = vtc_json_get_object(a, "host", TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(vtc_json_get_string(host, "vm_uuid", TRUE, NULL), ==, lower);
        v->vtpm_off = 0;
        memset(v->vtpm_pcr, 0, sizeof(v->vtpm_pcr));
        verifier_check(v, host, uuid, binding);
        g_assert_true(v->vtpm_complete);
        g_assert_true(v->vm_running);
}

/*
 * Rounds of three VMs (one twice) in one request: each answer verifies as a /v1/round answer
 * does, in request order, and all four bindings went into one host quote (a 500 ms window).
 * Then 64 rounds, a body over the single-round limit: all answered, in at most 2 quotes.
 */
static void
test_rounds_verify(Fixture *fx, gconstpointer data)
{
        const gchar *vms[] = {"6F1C0A2E-1B2C-4D3E-8F40-5A6B7C8D9E0F", UUID2, UUID3, UUID1};
        g_auto(Verifier) v = {0};
        g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(g_free);
        g_autofree gchar *body = NULL;
        g_autoptr(JsonObject) top = NULL;
        g_autofree gchar *shared = NULL;
        g_autofree gchar *text = NULL;
        g_autoptr(GHashTable) samples = NULL;
        g_autoptr(GHashTable) quotes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        JsonArray *answers;
        guint status = 0;

        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID1);
        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID2);
        log_append(fx, VTC_VTPM_LOG_VTPM_START, UUID3);
        verifier_init(&v, fx);
        for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
                guint8 nonce[32];
                g_autofree gchar *hex = entry_nonce(i, nonce);
                g_ptr_array_add(entries, round_body(vms[i], hex, 0, 0, 0));
        }
        body = rounds_body(entries);
        top = rounds_post(fx, body, G_N_ELEMENTS(vms), &answers);
        for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
                guint8 nonce[32];
                JsonObject *a = answer_get(answers, i, &status);
                JsonObject *host;
                guint64 boot = 0;
                guint64 ima = 0;
                g_autoptr(GByteArray) held = g_byte_array_new();

                g_assert_cmpuint(status, ==, 200);
                entry_nonce_bytes(i, nonce);
                check_round_answer(&v, a, vms[i], nonce);
                host = vtc_json_get_object(a, "host", TRUE, NULL);
                verifier_take_host_log(host, "boot_log", &boot, held);
                verifier_take_host_log(host, "ima_log", &ima, held);
                g_assert_cmpuint(boot, >, 0);
                g_assert_cmpuint(ima, >, 0);
                if (shared == NULL)
                        shared = g_strdup(v.attest_b64);
                g_assert_cmpstr(v.attest_b64, ==, shared);
        }
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 2);
        g_assert_cmpint(g_atomic_int_get(&fx->others[0].requests), ==, 1);
        g_assert_cmpint(g_atomic_int_get(&fx->others[1].requests), ==, 1);
        text = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        samples = prometheus_parse(text);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_quotes_total"), ==, 1);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_bindings_submitted_total"), ==, 4);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"rounds\",status=\"200\"}"),
            ==,
            1);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"200\"}"),
            ==,
            4);

        /* the most rounds a request may carry, in a body the single-round limit would refuse */
        g_ptr_array_set_size(entries, 0);
        g_clear_pointer(&top, json_object_unref);
        g_clear_pointer(&body, g_free);
        for (guint i = 0; i < VTC_HOSTD_API_MAX_ROUNDS; i++) {
                guint8 nonce[32];
                g_autofree gchar *hex = entry_nonce(i, nonce);
                g_ptr_array_add(entries, round_body(vms[i % 3], hex, 0, 0, 0));
        }
        body = rounds_body(entries);
        g_assert_cmpuint(strlen(body), >, VTC_HOSTD_API_MAX_BODY);
        top = rounds_post(fx, body, VTC_HOSTD_API_MAX_ROUNDS, &answers);
        for (guint i = 0; i < VTC_HOSTD_API_MAX_ROUNDS; i++) {
                guint8 nonce[32];
                JsonObject *a = answer_get(answers, i, &status);

                g_assert_cmpuint(status, ==, 200);
                entry_nonce_bytes(i, nonce);
                check_round_answer(&v, a, vms[i % 3], nonce);
                g_hash_table_add(quotes, g_strdup(v.attest_b64));
        }
        /* all 64 bindings come in within a few ms of each other; the window is 500 ms */
        g_assert_cmpuint(g_hash_table_size(quotes), <=, 2);
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 2 + 22);
        g_assert_cmpint(g_atomic_int_get(&fx->others[0].requests), ==, 1 + 21);
        g_assert_cmpint(g_atomic_int_get(&fx->others[1].requests), ==, 1 + 21);
        verifier_clear(&v);
}

/* Answer @i is the error a /v1/round of @entry alone gets: same status, code and message. */
static void
assert_entry_error(Fixture *fx,
                   JsonArray *answers,
                   guint i,
                   const gchar *entry,
                   guint want_status,
                   const gchar *want_error,
                   const gchar *want_in_message)
{
        guint status = 0;
        JsonObject *a = answer_get(answers, i, &status);
        const gchar *message = vtc_json_get_string(a, "message", TRUE, NULL);
        guint single_status = 0;
        g_autoptr(JsonObject) single = NULL;

        if (status != want_status)
                g_error("rounds[%u] %s: %u, wanted %u (%s)",
                        i,
                        entry,
                        status,
                        want_status,
                        message);
        g_assert_cmpuint(json_object_get_size(a), ==, 2);
        g_assert_cmpstr(vtc_json_get_string(a, "error", TRUE, NULL), ==, want_error);
        g_assert_nonnull(message);
        if (want_in_message != NULL && strstr(message, want_in_message) == NULL)
                g_error("'%s' lacks '%s'", message, want_in_message);
        single = request_json(fx, fx->verifier, "POST", "/v1/round", entry, &single_status);
        g_assert_cmpuint(single_status, ==, status);
        g_assert_cmpuint(json_object_get_size(single), ==, 2);
        g_assert_cmpstr(vtc_json_get_string(single, "error", TRUE, NULL), ==, want_error);
        g_assert_cmpstr(vtc_json_get_string(single, "message", TRUE, NULL), ==, message);
}

static void
assert_entry_ok(JsonArray *answers, guint i)
{
        guint status = 0;
        JsonObject *a = answer_get(answers, i, &status);

        g_assert_cmpuint(status, ==, 200);
        g_assert_cmpstr(vtc_json_get_string(a, "placement", TRUE, NULL), ==, "channel");
        g_assert_true(json_object_has_member(a, "guest"));
        g_assert_true(json_object_has_member(a, "host"));
}

/*
 * Bad entries, unknown VMs, agents that fail or stay silent get their /v1/round answers and hold
 * up none of the others; a malformed request as a whole is refused and starts nothing.
 */
static void
test_rounds_errors(Fixture *fx, gconstpointer data)
{
        g_autofree gchar *ok1 = round_body(UUID1, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *ok2 = round_body(UUID2, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *ok3 = round_body(UUID3, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *unknown =
            round_body("11111111-2222-3333-4444-555555555555", NONCE_HEX, 0, 0, 0);
        g_autofree gchar *far = round_body(UUID1, NONCE_HEX, 0, 0, 99);
        const gchar *bad_uuid =
            "{\"vm_uuid\":\"x\",\"nonce\":\"" NONCE_HEX "\",\"pcrs\":{\"sha256\":[0]}}";
        const gchar *bad_nonce =
            "{\"vm_uuid\":\"" UUID2 "\",\"nonce\":\"00\",\"pcrs\":{\"sha256\":[0]}}";
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupSession) anon = vtc_http_client_new(fx->ca, NULL, NULL, &error);
        g_autoptr(GString) many = g_string_new("{\"rounds\":[");
        g_autoptr(GString) huge = g_string_new("{\"rounds\":[");
        g_autofree gchar *text = NULL;
        g_autoptr(GHashTable) samples = NULL;
        guint status = 0;
        gint64 t0;
        gint requests[3];
        gdouble submitted;

        g_assert_no_error(error);
        /* bad entries and an unknown VM among good ones */
        {
                const gchar *e[] = {ok1, bad_uuid, unknown, far, bad_nonce, ok2};
                g_autoptr(GPtrArray) entries = g_ptr_array_new();
                g_autofree gchar *body = NULL;
                g_autoptr(JsonObject) top = NULL;
                JsonArray *answers;

                for (guint i = 0; i < G_N_ELEMENTS(e); i++)
                        g_ptr_array_add(entries, (gpointer)e[i]);
                body = rounds_body(entries);
                top = rounds_post(fx, body, G_N_ELEMENTS(e), &answers);
                assert_entry_ok(answers, 0);
                assert_entry_error(fx, answers, 1, bad_uuid, 400, "invalid_data", "vm_uuid");
                assert_entry_error(fx, answers, 2, unknown, 404, "not_found", "11111111-2222");
                assert_entry_error(fx, answers, 3, far, 400, "invalid_argument", "offsets.vtpm");
                assert_entry_error(fx, answers, 4, bad_nonce, 400, "invalid_data", "nonce");
                assert_entry_ok(answers, 5);
        }
        /* only bad entries: answered at once */
        {
                g_autofree gchar *body = g_strdup_printf("{\"rounds\":[%s,%s]}", bad_uuid, unknown);
                g_autoptr(JsonObject) top = NULL;
                JsonArray *answers;

                top = rounds_post(fx, body, 2, &answers);
                assert_entry_error(fx, answers, 0, bad_uuid, 400, "invalid_data", "vm_uuid");
                assert_entry_error(fx, answers, 1, unknown, 404, "not_found", "11111111-2222");
        }
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, 1);
        g_assert_cmpint(g_atomic_int_get(&fx->others[0].requests), ==, 1);

        /* one agent errs, one is silent (a timeout after 500 ms): the others are answered */
        g_atomic_int_set(&fx->others[0].mode, GUEST_ERROR);
        g_atomic_int_set(&fx->others[1].mode, GUEST_SILENT);
        {
                g_autofree gchar *body =
                    g_strdup_printf("{\"rounds\":[%s,%s,%s,%s]}", ok1, ok2, ok3, ok1);
                g_autoptr(JsonObject) top = NULL;
                JsonArray *answers;

                t0 = g_get_monotonic_time();
                top = rounds_post(fx, body, 4, &answers);
                g_assert_cmpint(g_get_monotonic_time() - t0, >=, 450 * 1000);
                assert_entry_ok(answers, 0);
                assert_entry_error(fx,
                                   answers,
                                   1,
                                   ok2,
                                   502,
                                   "agent_error",
                                   "tpm_error: Esys_Quote: 0x00000921");
                assert_entry_error(fx, answers, 2, ok3, 504, "timeout", UUID3);
                assert_entry_ok(answers, 3);
        }
        /* evidence without a quote */
        g_atomic_int_set(&fx->others[0].mode, GUEST_NO_QUOTE);
        {
                g_autofree gchar *body = g_strdup_printf("{\"rounds\":[%s,%s]}", ok2, ok1);
                g_autoptr(JsonObject) top = NULL;
                JsonArray *answers;

                top = rounds_post(fx, body, 2, &answers);
                assert_entry_error(fx, answers, 0, ok2, 502, "agent_error", "quote");
                assert_entry_ok(answers, 1);
        }
        g_atomic_int_set(&fx->others[0].mode, GUEST_EVIDENCE);
        g_atomic_int_set(&fx->others[1].mode, GUEST_EVIDENCE);

        /* malformed requests as a whole: 400 (413 over the body limit), nothing started */
        text = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        submitted = (gdouble)metric(text, "vtc_hostd_bindings_submitted_total");
        g_clear_pointer(&text, g_free);
        requests[0] = g_atomic_int_get(&fx->guest.requests);
        requests[1] = g_atomic_int_get(&fx->others[0].requests);
        requests[2] = g_atomic_int_get(&fx->others[1].requests);
        for (guint i = 0; i <= VTC_HOSTD_API_MAX_ROUNDS; i++)
                g_string_append_printf(many, "%s%s", i > 0 ? "," : "", ok1);
        g_string_append(many, "]}");
        {
                g_autofree gchar *not_object = g_strdup_printf("{\"rounds\":[%s,\"x\"]}", ok1);
                g_autofree gchar *extra = g_strdup_printf("{\"rounds\":[%s],\"other\":1}", ok1);
                const gchar *bad[] = {
                    "{",
                    "[]",
                    "{}",
                    "{\"rounds\":[]}",
                    "{\"rounds\":{}}",
                    "{\"rounds\":null}",
                    "{\"rounds\":[1]}",
                    "{\"rounds\":[[]]}",
                    not_object,
                    extra,
                    many->str,
                };

                for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
                        expect_error(fx,
                                     fx->verifier,
                                     "POST",
                                     "/v1/rounds",
                                     bad[i],
                                     400,
                                     "invalid_data");
        }
        expect_error(fx, fx->verifier, "POST", "/v1/rounds", NULL, 400, "invalid_data");
        expect_error(fx, fx->verifier, "GET", "/v1/rounds", NULL, 405, "invalid_argument");
        expect_error(fx, anon, "POST", "/v1/rounds", ok1, 401, "unauthorized");
        /* over the body limit: refused before being read */
        while (huge->len < VTC_HOSTD_API_MAX_ROUNDS_BODY + 10)
                g_string_append_printf(huge, "%s,", ok1);
        g_string_append_printf(huge, "%s]}", ok1);
        expect_error(fx, fx->verifier, "POST", "/v1/rounds", huge->str, 413, "too_large");
        g_assert_cmpint(g_atomic_int_get(&fx->guest.requests), ==, requests[0]);
        g_assert_cmpint(g_atomic_int_get(&fx->others[0].requests), ==, requests[1]);
        g_assert_cmpint(g_atomic_int_get(&fx->others[1].requests), ==, requests[2]);

        text = request(fx, fx->verifier, "GET", "/metrics", NULL, &status);
        g_assert_cmpuint(status, ==, 200);
        samples = prometheus_parse(text);
        g_assert_cmpfloat(sample(samples, "vtc_hostd_bindings_submitted_total"), ==, submitted);
        g_assert_cmpfloat(submitted, ==, 5);
        /* the request as a whole */
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"rounds\",status=\"200\"}"),
            ==,
            4);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"rounds\",status=\"400\"}"),
            ==,
            12);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"rounds\",status=\"405\"}"),
            ==,
            1);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"rounds\",status=\"401\"}"),
            ==,
            1);
        /* each entry as a round, beside the single rounds sent to compare */
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"200\"}"),
            ==,
            5);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"400\"}"),
            ==,
            4 + 4);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"404\"}"),
            ==,
            2 + 2);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"502\"}"),
            ==,
            2 + 2);
        g_assert_cmpfloat(
            sample(samples, "vtc_hostd_api_requests_total{call=\"round\",status=\"504\"}"),
            ==,
            1 + 1);
}

typedef struct {
        gboolean done;
} Pending;

static void
pending_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Pending *p = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply G_GNUC_UNUSED =
            soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);

        p->done = TRUE;
}

/*
 * hostd stops while a rounds request waits for a silent agent: the API is freed first, the
 * entries' calls end later (the channel fails them) and free the request without answering it
 * (ASan/LSan: no use after free, no leak).
 */
static void
test_rounds_shutdown(Fixture *fx, gconstpointer data)
{
        g_autofree gchar *ok1 = round_body(UUID1, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *ok3 = round_body(UUID3, NONCE_HEX, 0, 0, 0);
        g_autofree gchar *body = g_strdup_printf("{\"rounds\":[%s,%s]}", ok1, ok3);
        g_autofree gchar *url = g_strconcat(fx->url, "/v1/rounds", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(GCancellable) cancel = g_cancellable_new();
        Pending p = {FALSE};
        gint64 deadline;

        g_atomic_int_set(&fx->others[1].mode, GUEST_SILENT);
        msg = vtc_http_client_message_new(fx->verifier, "POST", url, body, &error);
        g_assert_no_error(error);
        soup_session_send_and_read_async(fx->verifier,
                                         msg,
                                         G_PRIORITY_DEFAULT,
                                         cancel,
                                         pending_cb,
                                         &p);
        deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (g_atomic_int_get(&fx->others[1].requests) < 1 ||
               g_atomic_int_get(&fx->guest.requests) < 1) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
        /* let UUID1's round finish its part; UUID3's waits (10 s timeout) */
        g_usleep(200 * 1000);
        g_assert_false(p.done);
        g_main_loop_quit(fx->loop);
        g_thread_join(fx->thread);
        fx->thread = NULL;
        g_main_context_push_thread_default(fx->ctx);
        g_clear_pointer(&fx->api, vtc_hostd_api_free);
        /* the channel fails the silent round: its call ends without the API */
        g_clear_pointer(&fx->channel, vtc_hostd_channel_free);
        while (g_main_context_iteration(fx->ctx, FALSE))
                ;
        g_main_context_pop_thread_default(fx->ctx);
        /* the verifier never gets an answer */
        deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
        while (!p.done && g_get_monotonic_time() < deadline) {
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
        if (!p.done)
                g_cancellable_cancel(cancel);
        while (!p.done)
                g_main_context_iteration(NULL, TRUE);
        g_assert_cmpuint(soup_message_get_status(msg), !=, 200);
}

static void
test_parse_pcrs(void)
{
        TPML_PCR_SELECTION sel;
        TPML_PCR_SELECTION untouched = {.count = 77};
        g_autoptr(GError) error = NULL;
        static const gchar *const bad[] =
            {"24", "0-24", "5-3", "a", "1,,2", "1-2-3", "-1", "0x1", " , "};

        g_assert_true(vtc_hostd_api_parse_pcrs("0-9, 10 ,14", 23, &sel, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(sel.count, ==, 1);
        g_assert_cmpuint(sel.pcrSelections[0].hash, ==, TPM2_ALG_SHA256);
        g_assert_cmphex(sel.pcrSelections[0].pcrSelect[0], ==, 0xff);
        g_assert_cmphex(sel.pcrSelections[0].pcrSelect[1], ==, 0x47);
        g_assert_cmphex(sel.pcrSelections[0].pcrSelect[2], ==, 0x80);
        g_assert_true(vtc_hostd_api_parse_pcrs("", 16, &sel, &error));
        g_assert_cmphex(sel.pcrSelections[0].pcrSelect[0], ==, 0);
        g_assert_cmphex(sel.pcrSelections[0].pcrSelect[2], ==, 0x01);
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_false(vtc_hostd_api_parse_pcrs(bad[i], 23, &untouched, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_clear_error(&error);
                g_assert_cmpuint(untouched.count, ==, 77);
        }
        g_assert_false(vtc_hostd_api_parse_pcrs("0", 24, &untouched, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

int
main(int argc, char **argv)
{
        static const Options plain = {20, 0, 0, 0};
        static const Options small = {20, 0, 8000, 2};
        static const Options wide = {20, 0, 0, 0};
        static const Options quick = {20, 0, 0, 0, 500};
        static const Options batched = {500, 0, 0, 0, 0, 2};
        static const Options quick_more = {20, 0, 0, 0, 500, 2};
        static const Options slow_more = {20, 0, 0, 0, 10000, 2};

        g_test_init(&argc, &argv, NULL);
        g_setenv("TSS2_LOG", "all+none", FALSE);
#define ADD(path, o, fn) g_test_add(path, Fixture, &o, fixture_setup, fn, fixture_teardown)
        ADD("/hostd-api/bind-verify", plain, test_bind_verify);
        ADD("/hostd-api/chunks", small, test_chunks);
        ADD("/hostd-api/concurrent", wide, test_concurrent);
        ADD("/hostd-api/no-client-cert", plain, test_no_client_cert);
        ADD("/hostd-api/bad-requests", plain, test_bad_requests);
        ADD("/hostd-api/log-mismatch", plain, test_log_mismatch);
        ADD("/hostd-api/metrics", plain, test_metrics);
        ADD("/hostd-api/round-verify", plain, test_round_verify);
        ADD("/hostd-api/round-errors", quick, test_round_errors);
        ADD("/hostd-api/rounds-verify", batched, test_rounds_verify);
        ADD("/hostd-api/rounds-errors", quick_more, test_rounds_errors);
        ADD("/hostd-api/rounds-shutdown", slow_more, test_rounds_shutdown);
#undef ADD
        g_test_add_func("/hostd-api/parse-pcrs", test_parse_pcrs);
        return g_test_run();
}
