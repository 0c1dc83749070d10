/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attack matrix (issue 5): every daemon for real on loopback, no VM. A swtpm stands in for
 * the host's hardware TPM under the real vtc-hostd (enrolled with the real vtc-registrar); each
 * VM is a swtpm manufactured by the real swtpm_setup whose EK certificate comes from hostd's vTPM
 * CA through vtc-vtpm-certify, with the real vtc-agent on it serving the channel on a unix
 * socket; hostd learns the VM from hook messages (vtc-hook) and the real vtc-verifier watches it.
 *
 * Every attack is applied from a real adversary position owned by the test: a channel proxy
 * between hostd and the agent (hostd's channel path is the proxy's socket; it can rewrite or
 * replace guest evidence frames, or relay another VM's agent), and an HTTPS proxy between the
 * verifier and hostd (a certificate of the deployment's CA; it can rewrite hostd's answers, or
 * splice in answers of another hostd). Each scenario must end `failed` with its own reason code,
 * with a signed revocation event in the history and at the webhook; the clean case runs 100
 * rounds without a false verdict in both modes.
 *
 * Everything of the test's own (proxies, webhook) runs on the default main context; every wait
 * iterates it.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "vtc-ca.h"
#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-eventlog.h"
#include "vtc-http.h"
#include "vtc-ima.h"
#include "vtc-itest-common.h"
#include "vtc-test-common.h"
#include "vtc-tpm.h"
#include "vtc-util.h"

#define HOST_ID      "host-atk"
#define HOST_B_ID    "host-atk-b"
#define HOSTD_READY  "vtc-hostd: ready"
#define INTERVAL_MS  200
#define N_IMA_FILES  5
#define WAIT_SECONDS 90

/* ---- small helpers --------------------------------------------------------------------------- */

static const gchar *
env_program(const gchar *name)
{
        const gchar *p = g_getenv(name);

        if (p == NULL)
                g_error("%s is not set: run this test with meson test", name);
        return p;
}

static void
write_file(const gchar *path, const gchar *text)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g_assert_no_error(error);
}

static gboolean
pump_timeout_cb(gpointer user_data)
{
        gboolean *done = user_data;

        *done = TRUE;
        return G_SOURCE_REMOVE;
}

/* Iterates the default main context for @ms milliseconds (the proxies and the webhook run). */
static void
pump(guint ms)
{
        gboolean done = FALSE;

        g_timeout_add(ms, pump_timeout_cb, &done);
        while (!done)
                g_main_context_iteration(NULL, TRUE);
}

static guint
free_port(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) s =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;

        g_assert_no_error(error);
        g_assert_true(g_socket_bind(s, addr, TRUE, &error));
        g_assert_no_error(error);
        bound = g_socket_get_local_address(s, &error);
        g_assert_no_error(error);
        return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

/* Copies the regular files of @from into @to (created), replacing what is there. */
static void
copy_dir(const gchar *from, const gchar *to)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(from, 0, &error);
        const gchar *name;

        g_assert_no_error(error);
        g_assert_cmpint(g_mkdir_with_parents(to, 0700), ==, 0);
        while ((name = g_dir_read_name(dir)) != NULL) {
                g_autofree gchar *a = g_build_filename(from, name, NULL);
                g_autofree gchar *b = g_build_filename(to, name, NULL);
                g_autoptr(GFile) src = g_file_new_for_path(a);
                g_autoptr(GFile) dst = g_file_new_for_path(b);

                if (!g_file_test(a, G_FILE_TEST_IS_REGULAR) || g_str_has_suffix(name, ".lock"))
                        continue;
                g_assert_true(
                    g_file_copy(src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error));
                g_assert_no_error(error);
        }
}

static JsonObject *
json_parse_object(const gchar *text, gsize len)
{
        g_autoptr(JsonParser) p = json_parser_new();
        JsonNode *root;

        if (!json_parser_load_from_data(p, text, (gssize)len, NULL))
                return NULL;
        root = json_parser_get_root(p);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
                return NULL;
        return json_object_ref(json_node_get_object(root));
}

static gchar *
json_object_to_text(JsonObject *obj)
{
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, obj);
        return json_to_string(node, FALSE);
}

static JsonObject *
obj_member(JsonObject *obj, const gchar *member)
{
        JsonNode *n;

        if (obj == NULL || !json_object_has_member(obj, member))
                return NULL;
        n = json_object_get_member(obj, member);
        return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static const gchar *
str_member(JsonObject *obj, const gchar *member)
{
        JsonNode *n;

        if (obj == NULL || !json_object_has_member(obj, member))
                return NULL;
        n = json_object_get_member(obj, member);
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                   ? json_node_get_string(n)
                   : NULL;
}

/* Replaces base64 member @member of @obj by its decoded bytes changed by @fn. */
static gboolean
b64_member_edit(JsonObject *obj,
                const gchar *member,
                gboolean (*fn)(guint8 *data, gsize len, gpointer user_data),
                gpointer user_data)
{
        const gchar *b64 = str_member(obj, member);
        g_autofree guint8 *data = NULL;
        g_autofree gchar *out = NULL;
        gsize len = 0;

        if (b64 == NULL)
                return FALSE;
        data = g_base64_decode(b64, &len);
        if (len == 0 || !fn(data, len, user_data))
                return FALSE;
        out = g_base64_encode(data, len);
        json_object_set_string_member(obj, member, out);
        return TRUE;
}

static void
sha256(const guint8 *a, gsize a_len, const guint8 *b, gsize b_len, guint8 out[32])
{
        g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
        gsize size = 32;

        g_checksum_update(c, a, (gssize)a_len);
        if (b != NULL)
                g_checksum_update(c, b, (gssize)b_len);
        g_checksum_get_digest(c, out, &size);
}

/* ---- the world ------------------------------------------------------------------------------ */

/* Host TPMs fresh from the factory, manufactured once per run. */
typedef struct {
        gchar *dir;
        gchar *state;
        gchar *ca;
} Factory;

typedef struct {
        const Factory *host_a;
        const Factory *host_b;
        guint window_ms;
        gboolean with_host_b;
} Params;

typedef struct _Fixture Fixture;
typedef struct _Vm Vm;

/* What the channel proxy does to the agent's answers. */
typedef enum {
        CHAN_PASS,
        CHAN_FORGE_SIGNATURE, /* flip a bit of the quote's signature */
        CHAN_REPLAY,          /* keep the first answer, then answer every round with it */
        CHAN_TAMPER_BOOT_LOG, /* change one event digest in the firmware log */
} ChanAttack;

typedef struct {
        Fixture *f;
        Vm *vm;
        gchar *listen_path;
        gchar *target; /* the agent's socket it forwards to */
        GSocketService *service;
        GPtrArray *pairs; /* ChanPair *, live connections */
        ChanAttack attack;
        gchar *saved; /* CHAN_REPLAY: the kept answer */
        guint answers;
        guint tampered;
} ChanProxy;

typedef struct {
        gint ref;
        ChanProxy *cp;
        GSocketConnection *down; /* hostd's side */
        GSocketConnection *up;   /* the agent's side */
        VtcChannelDecoder *dec;
        GCancellable *cancel;
        gboolean closed;
        guint8 buf_down[16384];
        guint8 buf_up[65536];
} ChanPair;

/* What the HTTPS proxy does to hostd's answers to /v1/round. */
typedef enum {
        HOST_PASS,
        HOST_TAMPER_VTPM_LOG, /* change a digit in an entry of the vTPM log increment */
        HOST_OTHER_LEAF,      /* the inclusion proof of another leaf of the same tree */
        HOST_OTHER_HOST,      /* a host quote of another hostd over the same binding */
        HOST_REPLAY_LAST,     /* the previous round's host answer */
} HostAttack;

struct _Vm {
        gchar *uuid;
        gchar *name;
        gchar *dir;
        gchar *tpm_state;
        VtcSwtpm *swtpm;
        gchar *agent_state;
        gchar *agent_sock;
        gchar *agent_conf;
        gchar *ima_path;
        gchar *boot_path;
        VtcItestDaemon *agent;
        guint api_port;
        GArray *ima_pcr; /* sha256 template digests extended into PCR 10, in order */
        GString *policy_digests;
        ChanProxy *proxy;
        gsize boot_tamper_offset; /* a byte of an event digest in the firmware log */
};

struct _Fixture {
        const Params *params;
        gchar *dir;
        gchar *tls;
        gchar *ca;
        /* the registrar */
        gchar *reg_config;
        VtcItestDaemon *registrar;
        SoupSession *admin;
        /* hostd and its "hardware" TPM */
        gchar *hw_state;
        VtcSwtpm *hw;
        gchar *hostd_config;
        gchar *hostd_state;
        gchar *log_path;
        gchar *sock_path;
        gchar *swtpm_dir;
        gchar *hook_conf;
        guint hostd_port;
        VtcItestDaemon *hostd;
        /* another host: its own TPM, its own hostd (not enrolled anywhere) */
        gchar *hw_b_state;
        VtcSwtpm *hw_b;
        guint hostd_b_port;
        VtcItestDaemon *hostd_b;
        /* the HTTPS proxy between the verifier and hostd */
        SoupServer *proxy;
        guint proxy_port;
        SoupSession *upstream;
        HostAttack host_attack;
        JsonNode *last_host; /* the last host answer passed on */
        guint host_answers;
        guint host_tampered;
        guint host_skipped; /* HOST_OTHER_LEAF rounds whose two requests were not batched */
        gboolean empty_502; /* hostd down: answer 502 without a body */
        /* the webhook */
        SoupServer *webhook;
        guint webhook_port;
        GPtrArray *events; /* JsonObject *, the events received */
        /* the verifier */
        gchar *verifier_config;
        VtcItestDaemon *verifier;
        /* the VMs */
        GPtrArray *vms;
        GBytes *boot_log;
};

/* ---- the HTTPS proxy between the verifier and hostd ------------------------------------------ */

/* A POST /v1/rounds from the verifier: the proxy splits it into single /v1/round calls, so that
 * every attack on one round's answer applies to batched rounds too, and joins their answers. */
typedef struct {
        Fixture *f;
        SoupServerMessage *msg;
        guint n;
        guint pending;
        guint *status;
        gchar **body; /* NULL: the answer had no body */
        gboolean down;
} HostBatch;

typedef struct {
        Fixture *f;
        SoupServerMessage *msg; /* NULL in a batch */
        HostBatch *batch;
        guint index;
        gchar *path;
        gchar *method;
        gchar *body;
        GBytes *answer;
        guint status;
        gboolean answer_done;
        gboolean side_wanted;
        gboolean side_done;
        GBytes *side_answer;
        guint side_status;
} HostCall;

static void
host_call_free(HostCall *c)
{
        g_clear_object(&c->msg);
        g_free(c->path);
        g_free(c->method);
        g_free(c->body);
        g_clear_pointer(&c->answer, g_bytes_unref);
        g_clear_pointer(&c->side_answer, g_bytes_unref);
        g_free(c);
}

static gboolean
vtpm_log_tamper_fn(guint8 *data, gsize len, gpointer user_data)
{
        const gchar *uuid = user_data;
        g_autofree gchar *needle = g_strdup_printf("\"uuid\":\"%s\"", uuid);
        g_autofree gchar *text = g_strndup((const gchar *)data, len);
        gchar *line = strstr(text, needle);
        gchar *ts;

        if (line == NULL)
                return FALSE;
        while (line > text && line[-1] != '\n')
                line--;
        ts = strstr(line, "\"ts\":");
        if (ts == NULL)
                return FALSE;
        ts += 5;
        while (g_ascii_isdigit(ts[1]))
                ts++;
        data[ts - text] = *ts == '9' ? '0' : (guint8)(*ts + 1);
        return TRUE;
}

/* Rewrites hostd's answer to /v1/round as the attack says; FALSE: pass it on unchanged. */
static gboolean
host_call_tamper(HostCall *c, JsonObject *answer)
{
        Fixture *f = c->f;
        JsonObject *host = obj_member(answer, "host");
        g_autoptr(JsonObject) req = json_parse_object(c->body, strlen(c->body));

        if (host == NULL || req == NULL)
                return FALSE;
        switch (f->host_attack) {
        case HOST_PASS:
                return FALSE;
        case HOST_TAMPER_VTPM_LOG:
                return b64_member_edit(obj_member(host, "vtpm_log"),
                                       "data",
                                       vtpm_log_tamper_fn,
                                       (gpointer)str_member(req, "vm_uuid"));
        case HOST_REPLAY_LAST:
                if (f->last_host == NULL)
                        return FALSE;
                json_object_set_member(answer, "host", json_node_copy(f->last_host));
                return TRUE;
        case HOST_OTHER_LEAF: {
                g_autoptr(JsonObject) other = NULL;

                if (c->side_status != 200 || c->side_answer == NULL)
                        return FALSE;
                other = json_parse_object(g_bytes_get_data(c->side_answer, NULL),
                                          g_bytes_get_size(c->side_answer));
                if (other == NULL ||
                    g_strcmp0(str_member(other, "root"), str_member(host, "root")) != 0) {
                        f->host_skipped++;
                        return FALSE;
                }
                json_object_set_member(host,
                                       "leaf_index",
                                       json_node_copy(json_object_get_member(other, "leaf_index")));
                json_object_set_member(host,
                                       "tree_size",
                                       json_node_copy(json_object_get_member(other, "tree_size")));
                json_object_set_member(host,
                                       "proof",
                                       json_node_copy(json_object_get_member(other, "proof")));
                return TRUE;
        }
        case HOST_OTHER_HOST: {
                g_autoptr(JsonObject) other = NULL;
                JsonNode *node;

                if (c->side_status != 200 || c->side_answer == NULL)
                        return FALSE;
                other = json_parse_object(g_bytes_get_data(c->side_answer, NULL),
                                          g_bytes_get_size(c->side_answer));
                if (other == NULL)
                        return FALSE;
                node = json_node_new(JSON_NODE_OBJECT);
                json_node_set_object(node, other);
                json_object_set_member(answer, "host", node);
                return TRUE;
        }
        }
        return FALSE;
}

static void
host_batch_answer(HostBatch *hb, guint index, guint status, const gchar *data, gsize len)
{
        Fixture *f = hb->f;

        if (status == 0)
                hb->down = TRUE;
        hb->status[index] = status;
        hb->body[index] = data != NULL && len > 0 ? g_strndup(data, len) : NULL;
        if (--hb->pending > 0)
                return;
        if (hb->down && f->empty_502) {
                soup_server_message_set_status(hb->msg, 502, NULL);
        } else if (hb->down) {
                static const gchar down[] =
                    "{\"error\":\"unavailable\",\"message\":\"hostd does not answer\"}";

                soup_server_message_set_status(hb->msg, 502, NULL);
                soup_server_message_set_response(hb->msg,
                                                 "application/json",
                                                 SOUP_MEMORY_STATIC,
                                                 down,
                                                 strlen(down));
        } else {
                g_autofree gchar *out = vtc_json_rounds_answer(hb->status, hb->body, hb->n);

                soup_server_message_set_status(hb->msg, 200, NULL);
                soup_server_message_set_response(hb->msg,
                                                 "application/json",
                                                 SOUP_MEMORY_COPY,
                                                 out,
                                                 strlen(out));
        }
        soup_server_message_unpause(hb->msg);
        g_object_unref(hb->msg);
        for (guint i = 0; i < hb->n; i++)
                g_free(hb->body[i]);
        g_free(hb->body);
        g_free(hb->status);
        g_free(hb);
}

static void
host_call_finish(HostCall *c)
{
        Fixture *f = c->f;
        g_autofree gchar *text = NULL;
        gsize len = 0;
        const gchar *data = NULL;

        if (!c->answer_done || (c->side_wanted && !c->side_done))
                return;
        if (c->answer != NULL)
                data = g_bytes_get_data(c->answer, &len);
        if (c->status == 200 && g_strcmp0(c->path, "/v1/round") == 0 && data != NULL) {
                g_autoptr(JsonObject) answer = json_parse_object(data, len);
                JsonObject *host = obj_member(answer, "host");

                f->host_answers++;
                if (answer != NULL && host_call_tamper(c, answer)) {
                        f->host_tampered++;
                        text = json_object_to_text(answer);
                        data = text;
                        len = strlen(text);
                } else if (host != NULL) {
                        g_clear_pointer(&f->last_host, json_node_unref);
                        f->last_host = json_node_new(JSON_NODE_OBJECT);
                        json_node_set_object(f->last_host, host);
                }
        }
        if (c->batch != NULL) {
                host_batch_answer(c->batch, c->index, c->status, data, len);
                host_call_free(c);
                return;
        }
        if (c->status == 0 && f->empty_502) {
                /* what some reverse proxies answer: no body at all */
                soup_server_message_set_status(c->msg, 502, NULL);
        } else if (c->status == 0) {
                static const gchar down[] =
                    "{\"error\":\"unavailable\",\"message\":\"hostd does not answer\"}";

                soup_server_message_set_status(c->msg, 502, NULL);
                soup_server_message_set_response(c->msg,
                                                 "application/json",
                                                 SOUP_MEMORY_STATIC,
                                                 down,
                                                 strlen(down));
        } else {
                soup_server_message_set_status(c->msg, c->status, NULL);
                if (data != NULL)
                        soup_server_message_set_response(c->msg,
                                                         "application/json",
                                                         SOUP_MEMORY_COPY,
                                                         data,
                                                         len);
        }
        soup_server_message_unpause(c->msg);
        host_call_free(c);
}

static void
host_side_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        HostCall *c = user_data;
        g_autoptr(GError) error = NULL;

        c->side_answer = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
        c->side_status = soup_message_get_status(
            soup_session_get_async_result_message(SOUP_SESSION(source), res));
        c->side_done = TRUE;
        host_call_finish(c);
}

static void
host_side_send(HostCall *c, const gchar *base_url, const gchar *body)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = g_strdup_printf("%s/v1/bind", base_url);
        g_autoptr(SoupMessage) m =
            vtc_http_client_message_new(c->f->upstream, "POST", url, body, &error);

        g_assert_no_error(error);
        soup_session_send_and_read_async(c->f->upstream,
                                         m,
                                         G_PRIORITY_DEFAULT,
                                         NULL,
                                         host_side_cb,
                                         c);
}

/* HOST_OTHER_HOST: hostd B quotes the binding of this very round. */
static void
host_other_host_send(HostCall *c)
{
        Fixture *f = c->f;
        g_autoptr(JsonObject) req = json_parse_object(c->body, strlen(c->body));
        g_autoptr(JsonObject) answer = NULL;
        JsonObject *guest;
        g_autofree guint8 *attest = NULL;
        g_autoptr(GBytes) nonce = NULL;
        g_autofree gchar *binding_hex = NULL;
        g_autofree gchar *body = NULL;
        g_autofree gchar *url = NULL;
        gsize attest_len = 0;
        guint8 binding[32];
        g_autoptr(GError) error = NULL;

        if (c->status == 200 && c->answer != NULL)
                answer = json_parse_object(g_bytes_get_data(c->answer, NULL),
                                           g_bytes_get_size(c->answer));
        guest = obj_member(answer, "guest");
        if (req == NULL || guest == NULL ||
            str_member(obj_member(guest, "quote"), "attest") == NULL) {
                c->side_done = TRUE;
                return;
        }
        attest = g_base64_decode(str_member(obj_member(guest, "quote"), "attest"), &attest_len);
        nonce = vtc_hex_decode(str_member(req, "nonce"), &error);
        g_assert_no_error(error);
        sha256(attest, attest_len, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce), binding);
        binding_hex = vtc_hex_encode(binding, 32);
        body = g_strdup_printf("{\"vm_uuid\":\"%s\",\"binding\":\"%s\"}",
                               str_member(req, "vm_uuid"),
                               binding_hex);
        url = g_strdup_printf("https://127.0.0.1:%u", f->hostd_b_port);
        host_side_send(c, url, body);
}

static void
host_upstream_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        HostCall *c = user_data;
        g_autoptr(GError) error = NULL;

        c->answer = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
        c->status = c->answer != NULL
                        ? soup_message_get_status(
                              soup_session_get_async_result_message(SOUP_SESSION(source), res))
                        : 0;
        c->answer_done = TRUE;
        if (c->side_wanted && c->f->host_attack == HOST_OTHER_HOST) {
                host_other_host_send(c);
                if (c->side_done)
                        host_call_finish(c);
                return;
        }
        host_call_finish(c);
}

static void host_call_start(HostCall *c);

static void
host_proxy_cb(SoupServer *server,
              SoupServerMessage *msg,
              const char *path,
              GHashTable *query,
              gpointer user_data)
{
        Fixture *f = user_data;
        HostCall *c = NULL;
        g_autoptr(GBytes) body =
            soup_message_body_flatten(soup_server_message_get_request_body(msg));

        if (g_strcmp0(path, "/v1/rounds") == 0) {
                g_autoptr(JsonObject) req =
                    json_parse_object(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
                JsonNode *rounds = req != NULL ? json_object_get_member(req, "rounds") : NULL;
                JsonArray *array = rounds != NULL && JSON_NODE_HOLDS_ARRAY(rounds)
                                       ? json_node_get_array(rounds)
                                       : NULL;
                HostBatch *hb;

                g_assert_nonnull(array);
                g_assert_cmpuint(json_array_get_length(array), >, 0);
                hb = g_new0(HostBatch, 1);
                hb->f = f;
                hb->msg = g_object_ref(msg);
                hb->n = json_array_get_length(array);
                hb->pending = hb->n;
                hb->status = g_new0(guint, hb->n);
                hb->body = g_new0(gchar *, hb->n);
                soup_server_message_pause(msg);
                for (guint i = 0; i < hb->n; i++) {
                        c = g_new0(HostCall, 1);
                        c->f = f;
                        c->batch = hb;
                        c->index = i;
                        c->path = g_strdup("/v1/round");
                        c->method = g_strdup("POST");
                        c->body = json_to_string(json_array_get_element(array, i), FALSE);
                        host_call_start(c);
                }
                return;
        }
        c = g_new0(HostCall, 1);
        c->f = f;
        c->msg = g_object_ref(msg);
        c->path = g_strdup(path);
        c->method = g_strdup(soup_server_message_get_method(msg));
        c->body = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
        soup_server_message_pause(msg);
        host_call_start(c);
}

/* Sends @c upstream to hostd, with the side request its attack wants. */
static void
host_call_start(HostCall *c)
{
        Fixture *f = c->f;
        const gchar *path = c->path;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u%s", f->hostd_port, path);
        g_autoptr(SoupMessage) m = NULL;
        gboolean post = g_strcmp0(c->method, "POST") == 0;

        m = vtc_http_client_message_new(f->upstream, c->method, url, post ? c->body : NULL, &error);
        g_assert_no_error(error);
        if (g_strcmp0(path, "/v1/round") == 0 &&
            (f->host_attack == HOST_OTHER_LEAF || f->host_attack == HOST_OTHER_HOST))
                c->side_wanted = TRUE;
        soup_session_send_and_read_async(f->upstream,
                                         m,
                                         G_PRIORITY_DEFAULT,
                                         NULL,
                                         host_upstream_cb,
                                         c);
        if (c->side_wanted && f->host_attack == HOST_OTHER_LEAF) {
                /* another binding for the same VM, sent at once so that it shares the batch */
                g_autoptr(JsonObject) req = json_parse_object(c->body, strlen(c->body));
                g_autofree gchar *side = NULL;
                g_autofree gchar *base = g_strdup_printf("https://127.0.0.1:%u", f->hostd_port);
                guint8 binding[32];
                g_autofree gchar *hex = NULL;

                for (guint i = 0; i < 32; i++)
                        binding[i] = (guint8)g_random_int();
                hex = vtc_hex_encode(binding, 32);
                side = g_strdup_printf("{\"vm_uuid\":\"%s\",\"binding\":\"%s\"}",
                                       req != NULL ? str_member(req, "vm_uuid") : "",
                                       hex);
                host_side_send(c, base, side);
        }
}

/* ---- the channel proxy between hostd and the agent ---------------------------------------------
 */

static ChanPair *
chan_pair_ref(ChanPair *p)
{
        p->ref++;
        return p;
}

static void
chan_pair_unref(ChanPair *p)
{
        if (--p->ref > 0)
                return;
        g_clear_object(&p->down);
        g_clear_object(&p->up);
        g_clear_object(&p->cancel);
        vtc_channel_decoder_free(p->dec);
        g_free(p);
}

static void
chan_pair_close(ChanPair *p)
{
        if (p->closed)
                return;
        p->closed = TRUE;
        g_cancellable_cancel(p->cancel);
        if (p->down != NULL)
                g_io_stream_close(G_IO_STREAM(p->down), NULL, NULL);
        if (p->up != NULL)
                g_io_stream_close(G_IO_STREAM(p->up), NULL, NULL);
        if (g_ptr_array_remove(p->cp->pairs, p))
                chan_pair_unref(p);
}

static gboolean
flip_last_byte_fn(guint8 *data, gsize len, gpointer user_data)
{
        data[len - 1] ^= 0x01;
        return TRUE;
}

static gboolean
boot_tamper_fn(guint8 *data, gsize len, gpointer user_data)
{
        const Vm *vm = user_data;

        if (vm->boot_tamper_offset >= len)
                return FALSE;
        data[vm->boot_tamper_offset] ^= 0x01;
        return TRUE;
}

/* One whole frame from the agent: rewritten as the attack says. Returns the frame to send. */
static GBytes *
chan_answer(ChanProxy *cp, const gchar *payload, gsize len)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj = json_parse_object(payload, len);
        g_autofree gchar *text = NULL;
        gboolean changed = FALSE;

        if (obj == NULL || obj_member(obj, "quote") == NULL)
                return vtc_channel_frame_encode(payload, len, &error);
        cp->answers++;
        switch (cp->attack) {
        case CHAN_PASS:
                break;
        case CHAN_FORGE_SIGNATURE:
                changed =
                    b64_member_edit(obj_member(obj, "quote"), "signature", flip_last_byte_fn, NULL);
                break;
        case CHAN_TAMPER_BOOT_LOG:
                changed =
                    b64_member_edit(obj_member(obj, "boot_log"), "data", boot_tamper_fn, cp->vm);
                break;
        case CHAN_REPLAY:
                if (cp->saved == NULL) {
                        cp->saved = g_strndup(payload, len);
                } else {
                        g_autoptr(JsonObject) old = json_parse_object(cp->saved, strlen(cp->saved));

                        json_object_set_member(old,
                                               "id",
                                               json_node_copy(json_object_get_member(obj, "id")));
                        text = json_object_to_text(old);
                        cp->tampered++;
                        return vtc_channel_frame_encode(text, strlen(text), &error);
                }
                break;
        }
        if (!changed)
                return vtc_channel_frame_encode(payload, len, &error);
        cp->tampered++;
        text = json_object_to_text(obj);
        return vtc_channel_frame_encode(text, strlen(text), &error);
}

static void chan_read_up(ChanPair *p);
static void chan_read_down(ChanPair *p);

static void
chan_up_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        ChanPair *p = user_data;
        gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, NULL);
        gchar *payload = NULL;
        gsize len = 0;

        if (p->closed || n <= 0) {
                chan_pair_close(p);
                chan_pair_unref(p);
                return;
        }
        vtc_channel_decoder_feed(p->dec, p->buf_up, (gsize)n);
        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) frame = NULL;
                g_autofree gchar *owned = NULL;

                if (!vtc_channel_decoder_next(p->dec, &payload, &len, &error)) {
                        if (error != NULL)
                                continue;
                        break;
                }
                owned = payload;
                frame = chan_answer(p->cp, payload, len);
                if (frame == NULL ||
                    !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(p->down)),
                                               g_bytes_get_data(frame, NULL),
                                               g_bytes_get_size(frame),
                                               NULL,
                                               NULL,
                                               NULL)) {
                        chan_pair_close(p);
                        chan_pair_unref(p);
                        return;
                }
        }
        chan_read_up(p);
        chan_pair_unref(p);
}

static void
chan_down_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        ChanPair *p = user_data;
        gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, NULL);

        if (p->closed || n <= 0 ||
            !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(p->up)),
                                       p->buf_down,
                                       (gsize)n,
                                       NULL,
                                       NULL,
                                       NULL)) {
                chan_pair_close(p);
                chan_pair_unref(p);
                return;
        }
        chan_read_down(p);
        chan_pair_unref(p);
}

static void
chan_read_up(ChanPair *p)
{
        g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(p->up)),
                                  p->buf_up,
                                  sizeof(p->buf_up),
                                  G_PRIORITY_DEFAULT,
                                  p->cancel,
                                  chan_up_cb,
                                  chan_pair_ref(p));
}

static void
chan_read_down(ChanPair *p)
{
        g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(p->down)),
                                  p->buf_down,
                                  sizeof(p->buf_down),
                                  G_PRIORITY_DEFAULT,
                                  p->cancel,
                                  chan_down_cb,
                                  chan_pair_ref(p));
}

static gboolean
chan_incoming_cb(GSocketService *service,
                 GSocketConnection *connection,
                 GObject *source_object,
                 gpointer user_data)
{
        ChanProxy *cp = user_data;
        g_autoptr(GSocketClient) client = g_socket_client_new();
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(cp->target);
        g_autoptr(GError) error = NULL;
        GSocketConnection *up =
            g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
        ChanPair *p;

        if (up == NULL) {
                /* no agent (stopped): hostd sees the channel close */
                g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
                return TRUE;
        }
        p = g_new0(ChanPair, 1);
        p->ref = 1; /* the list's */
        p->cp = cp;
        p->down = g_object_ref(connection);
        p->up = up;
        p->dec = vtc_channel_decoder_new();
        p->cancel = g_cancellable_new();
        g_ptr_array_add(cp->pairs, p);
        chan_read_up(p);
        chan_read_down(p);
        return TRUE;
}

static ChanProxy *
chan_proxy_new(Fixture *f, Vm *vm, const gchar *listen_path, const gchar *target)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(listen_path);
        ChanProxy *cp = g_new0(ChanProxy, 1);

        cp->f = f;
        cp->vm = vm;
        cp->listen_path = g_strdup(listen_path);
        cp->target = g_strdup(target);
        cp->pairs = g_ptr_array_new();
        cp->service = g_socket_service_new();
        g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(cp->service),
                                                    addr,
                                                    G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_DEFAULT,
                                                    NULL,
                                                    NULL,
                                                    &error));
        g_assert_no_error(error);
        g_signal_connect(cp->service, "incoming", G_CALLBACK(chan_incoming_cb), cp);
        g_socket_service_start(cp->service);
        return cp;
}

/* Drops every connection: hostd connects again at its next round (to a new target). */
static void
chan_proxy_drop(ChanProxy *cp)
{
        while (cp->pairs->len > 0)
                chan_pair_close(g_ptr_array_index(cp->pairs, 0));
}

static void
chan_proxy_free(ChanProxy *cp)
{
        if (cp == NULL)
                return;
        g_socket_service_stop(cp->service);
        g_socket_listener_close(G_SOCKET_LISTENER(cp->service));
        chan_proxy_drop(cp);
        /* the reads cancelled above complete with their references */
        pump(50);
        g_object_unref(cp->service);
        g_ptr_array_unref(cp->pairs);
        g_free(cp->listen_path);
        g_free(cp->target);
        g_free(cp->saved);
        g_free(cp);
}

/* ---- the webhook ------------------------------------------------------------------------------
 */

static void
webhook_cb(SoupServer *server,
           SoupServerMessage *msg,
           const char *path,
           GHashTable *query,
           gpointer user_data)
{
        Fixture *f = user_data;
        g_autoptr(GBytes) body =
            soup_message_body_flatten(soup_server_message_get_request_body(msg));
        JsonObject *obj = json_parse_object(g_bytes_get_data(body, NULL), g_bytes_get_size(body));

        if (obj != NULL)
                g_ptr_array_add(f->events, obj);
        soup_server_message_set_status(msg, 204, NULL);
}

/* ---- daemons -------------------------------------------------------------------------------- */

static void
fixture_start_registrar(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *trust = g_build_filename(f->dir, "ek-ca", NULL);
        g_autofree gchar *db = g_build_filename(f->dir, "registrar.db", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *admin_crt = g_build_filename(f->tls, "admin.crt", NULL);
        g_autofree gchar *admin_key = g_build_filename(f->tls, "admin.key", NULL);
        const gchar *trust_files[] = {"swtpm-localca-rootca-cert.pem", "issuercert.pem"};

        /* the vendor trust store: the host TPM factory's CA */
        g_assert_cmpint(g_mkdir(trust, 0700), ==, 0);
        for (guint i = 0; i < G_N_ELEMENTS(trust_files); i++) {
                g_autofree gchar *from =
                    g_build_filename(f->params->host_a->ca, trust_files[i], NULL);
                g_autofree gchar *to = g_build_filename(trust, trust_files[i], NULL);
                g_autoptr(GFile) src = g_file_new_for_path(from);
                g_autoptr(GFile) dst = g_file_new_for_path(to);

                g_assert_true(g_file_copy(src, dst, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
                g_assert_no_error(error);
        }
        f->reg_config = g_build_filename(f->dir, "registrar.conf", NULL);
        text = g_strdup_printf("[server]\naddress = 127.0.0.1\nport = 0\n"
                               "[tls]\ncert = %s/registrar.crt\nkey = %s/registrar.key\n"
                               "client_ca = %s\n"
                               "[database]\npath = %s\n"
                               "[ek]\ntrust_store = %s\n",
                               f->tls,
                               f->tls,
                               f->ca,
                               db,
                               trust);
        write_file(f->reg_config, text);
        f->registrar = vtc_itest_daemon_start(env_program("VTC_REGISTRAR"), f->reg_config, &error);
        g_assert_no_error(error);
        f->admin = vtc_http_client_new(f->ca, admin_crt, admin_key, &error);
        g_assert_no_error(error);
}

static VtcItestReply *
fixture_get(Fixture *f, guint port, const gchar *path)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u%s", port, path);
        VtcItestReply *reply = vtc_itest_request(f->admin, "GET", url, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        return reply;
}

static void
write_hostd_config(Fixture *f,
                   const gchar *path,
                   const gchar *id,
                   const gchar *state,
                   VtcSwtpm *hw,
                   const gchar *sock,
                   guint port,
                   gboolean enroll)
{
        g_autoptr(GString) text = g_string_new(NULL);
        g_autofree gchar *log = g_build_filename(state, "vtpm.log", NULL);

        g_string_append_printf(text,
                               "[hostd]\nid = %s\nstate_dir = %s\n"
                               "[tpm]\ntcti = %s\n"
                               "[vtpm_log]\npath = %s\n"
                               "[socket]\npath = %s\ngroup = tss\n"
                               "[libvirt]\nswtpm_dir = %s\n"
                               "[server]\naddress = 127.0.0.1\nport = %u\n"
                               "[tls]\ncert = %s/hostd.crt\nkey = %s/hostd.key\nclient_ca = %s\n"
                               "[batch]\nwindow_ms = %u\n"
                               "[host_logs]\nboot_log =\nima_log =\n"
                               "[channel]\ntimeout_ms = 3000\n",
                               id,
                               state,
                               vtc_swtpm_get_tcti_conf(hw),
                               log,
                               sock,
                               f->swtpm_dir,
                               port,
                               f->tls,
                               f->tls,
                               f->ca,
                               f->params->window_ms);
        if (enroll)
                g_string_append_printf(text,
                                       "[registrar]\nurl = https://127.0.0.1:%u\nca = %s\n",
                                       vtc_itest_daemon_get_port(f->registrar),
                                       f->ca);
        write_file(path, text->str);
}

static void
fixture_start_hostd(Fixture *f)
{
        g_autoptr(GError) error = NULL;

        f->hostd = vtc_itest_daemon_start_ready(env_program("VTC_HOSTD"),
                                                f->hostd_config,
                                                HOSTD_READY,
                                                &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->hostd);
}

/* The host is active at the registrar with its vTPM CA key certified. */
static void
fixture_wait_host(Fixture *f)
{
        gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;

        for (;;) {
                g_autoptr(VtcItestReply) r =
                    fixture_get(f, vtc_itest_daemon_get_port(f->registrar), "/v1/hosts/" HOST_ID);

                if (r->status == 200 &&
                    g_strcmp0(vtc_itest_reply_get_string(r, "state"), "active") == 0 &&
                    vtc_itest_reply_get_string(r, "vtpm_ca_public") != NULL)
                        return;
                if (g_get_monotonic_time() > deadline)
                        g_error("hostd did not enroll: %u %s", r->status, r->text);
                pump(100);
        }
}

static void
fixture_start_verifier(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *db = g_build_filename(f->dir, "verifier.db", NULL);
        g_autofree gchar *state = g_build_filename(f->dir, "verifier", NULL);

        f->verifier_config = g_build_filename(f->dir, "verifier.conf", NULL);
        text = g_strdup_printf("[server]\naddress = 127.0.0.1\nport = 0\n"
                               "[tls]\ncert = %s/verifier.crt\nkey = %s/verifier.key\n"
                               "client_ca = %s\nca = %s\n"
                               "[database]\npath = %s\n"
                               "[state]\ndir = %s\n"
                               "[registrar]\nurl = https://127.0.0.1:%u\n"
                               "[hostd]\nurl_template =\nhosts = " HOST_ID "=https://127.0.0.1:%u\n"
                               "[rounds]\ninterval_ms = %u\ntimeout_ms = 5000\n"
                               "backoff_max_ms = 1000\nflush_ms = 100\n"
                               "[webhooks]\nurls = http://127.0.0.1:%u/hook\nretries = 3\n"
                               "retry_ms = 100\n",
                               f->tls,
                               f->tls,
                               f->ca,
                               f->ca,
                               db,
                               state,
                               vtc_itest_daemon_get_port(f->registrar),
                               f->proxy_port,
                               INTERVAL_MS,
                               f->webhook_port);
        write_file(f->verifier_config, text);
        f->verifier =
            vtc_itest_daemon_start(env_program("VTC_VERIFIER"), f->verifier_config, &error);
        g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        const gchar *const sans[] = {"IP:127.0.0.1", NULL};
        g_autofree gchar *boot_src =
            vtc_test_data_path("eventlog/keylime/binary_bios_measurements-secureboot");

        f->params = user_data;
        f->dir = vtc_test_tmpdir_new();
        f->vms = g_ptr_array_new();
        f->events = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
        f->boot_log = vtc_file_read(boot_src, 16 << 20, &error);
        g_assert_no_error(error);
        f->tls = g_build_filename(f->dir, "tls", NULL);
        f->ca = g_build_filename(f->tls, "ca.crt", NULL);
        g_assert_true(vtc_itest_tls_init(f->tls, "registrar", &error));
        g_assert_no_error(error);
        g_assert_true(vtc_ca_issue(f->tls, "hostd", sans, 30, &error));
        g_assert_true(vtc_ca_issue(f->tls, "verifier", sans, 30, &error));
        g_assert_true(vtc_ca_issue(f->tls, "proxy", sans, 30, &error));
        g_assert_no_error(error);
        fixture_start_registrar(f);

        /* hostd on its "hardware" TPM */
        f->hw_state = g_build_filename(f->dir, "hw-tpm", NULL);
        f->hostd_state = g_build_filename(f->dir, "hostd", NULL);
        f->hostd_config = g_build_filename(f->dir, "hostd.conf", NULL);
        f->log_path = g_build_filename(f->hostd_state, "vtpm.log", NULL);
        f->sock_path = g_build_filename(f->dir, "run", "hostd.sock", NULL);
        f->swtpm_dir = g_build_filename(f->dir, "libvirt-swtpm", NULL);
        f->hook_conf = g_build_filename(f->dir, "no-hook.conf", NULL);
        g_assert_cmpint(g_mkdir(f->hostd_state, 0700), ==, 0);
        g_assert_cmpint(g_mkdir(f->swtpm_dir, 0700), ==, 0);
        g_assert_true(vtc_itest_tpm_state_copy(f->params->host_a->state, f->hw_state, &error));
        g_assert_no_error(error);
        f->hw = vtc_swtpm_new(f->hw_state, &error);
        g_assert_no_error(error);
        f->hostd_port = free_port();
        write_hostd_config(f,
                           f->hostd_config,
                           HOST_ID,
                           f->hostd_state,
                           f->hw,
                           f->sock_path,
                           f->hostd_port,
                           TRUE);
        fixture_start_hostd(f);
        fixture_wait_host(f);

        if (f->params->with_host_b) {
                g_autofree gchar *state = g_build_filename(f->dir, "hostd-b", NULL);
                g_autofree gchar *conf = g_build_filename(f->dir, "hostd-b.conf", NULL);
                g_autofree gchar *sock = g_build_filename(f->dir, "run-b", "hostd.sock", NULL);

                g_assert_cmpint(g_mkdir(state, 0700), ==, 0);
                f->hw_b_state = g_build_filename(f->dir, "hw-tpm-b", NULL);
                g_assert_true(
                    vtc_itest_tpm_state_copy(f->params->host_b->state, f->hw_b_state, &error));
                g_assert_no_error(error);
                f->hw_b = vtc_swtpm_new(f->hw_b_state, &error);
                g_assert_no_error(error);
                f->hostd_b_port = free_port();
                write_hostd_config(f,
                                   conf,
                                   HOST_B_ID,
                                   state,
                                   f->hw_b,
                                   sock,
                                   f->hostd_b_port,
                                   FALSE);
                f->hostd_b = vtc_itest_daemon_start_ready(env_program("VTC_HOSTD"),
                                                          conf,
                                                          HOSTD_READY,
                                                          &error);
                g_assert_no_error(error);
        }

        /* the HTTPS proxy in front of hostd, and the webhook */
        {
                g_autofree gchar *crt = g_build_filename(f->tls, "proxy.crt", NULL);
                g_autofree gchar *key = g_build_filename(f->tls, "proxy.key", NULL);

                f->upstream = vtc_http_client_new(f->ca, crt, key, &error);
                g_assert_no_error(error);
                f->proxy = vtc_http_server_new(crt, key, f->ca, 1 << 20, &error);
                g_assert_no_error(error);
                soup_server_add_handler(f->proxy, NULL, host_proxy_cb, f, NULL);
                g_assert_true(
                    vtc_http_server_listen(f->proxy, "127.0.0.1", 0, &f->proxy_port, &error));
                g_assert_no_error(error);
        }
        f->webhook = soup_server_new(NULL, NULL);
        soup_server_add_handler(f->webhook, "/hook", webhook_cb, f, NULL);
        {
                g_autoptr(GSList) uris = NULL;

                g_assert_true(
                    soup_server_listen_local(f->webhook, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
                g_assert_no_error(error);
                uris = soup_server_get_uris(f->webhook);
                g_assert_nonnull(uris);
                f->webhook_port = (guint)g_uri_get_port(uris->data);
                g_slist_free_full(g_steal_pointer(&uris), (GDestroyNotify)g_uri_unref);
        }
        fixture_start_verifier(f);
}

static void vm_free(Fixture *f, Vm *vm);

static void
daemon_stop_checked(VtcItestDaemon **d, const gchar *what)
{
        g_autoptr(GError) error = NULL;

        if (*d == NULL)
                return;
        if (!vtc_itest_daemon_stop(*d, &error))
                g_error("%s: %s", what, error->message);
        g_clear_pointer(d, vtc_itest_daemon_free);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        daemon_stop_checked(&f->verifier, "vtc-verifier");
        for (guint i = 0; i < f->vms->len; i++)
                vm_free(f, g_ptr_array_index(f->vms, i));
        g_ptr_array_unref(f->vms);
        daemon_stop_checked(&f->hostd_b, "vtc-hostd B");
        daemon_stop_checked(&f->hostd, "vtc-hostd");
        daemon_stop_checked(&f->registrar, "vtc-registrar");
        if (f->proxy != NULL)
                soup_server_disconnect(f->proxy);
        g_clear_object(&f->proxy);
        if (f->webhook != NULL)
                soup_server_disconnect(f->webhook);
        g_clear_object(&f->webhook);
        pump(50);
        g_clear_object(&f->upstream);
        g_clear_object(&f->admin);
        g_clear_pointer(&f->last_host, json_node_unref);
        g_ptr_array_unref(f->events);
        g_clear_pointer(&f->hw, vtc_swtpm_free);
        g_clear_pointer(&f->hw_b, vtc_swtpm_free);
        g_bytes_unref(f->boot_log);
        g_free(f->tls);
        g_free(f->ca);
        g_free(f->reg_config);
        g_free(f->hw_state);
        g_free(f->hw_b_state);
        g_free(f->hostd_config);
        g_free(f->hostd_state);
        g_free(f->log_path);
        g_free(f->sock_path);
        g_free(f->swtpm_dir);
        g_free(f->hook_conf);
        g_free(f->verifier_config);
        vtc_test_tmpdir_free(f->dir);
}

/* ---- the hook ------------------------------------------------------------------------------ */

static gchar *
domain_xml(const gchar *name, const gchar *uuid, const gchar *channel_path)
{
        g_autofree gchar *channel =
            channel_path != NULL
                ? g_strdup_printf("    <channel type='unix'>\n"
                                  "      <source mode='bind' path='%s'/>\n"
                                  "      <target type='virtio' name='org.vtc.agent.0'/>\n"
                                  "    </channel>\n",
                                  channel_path)
                : g_strdup("");

        return g_strdup_printf("<domain type='qemu'>\n"
                               "  <name>%s</name>\n"
                               "  <uuid>%s</uuid>\n"
                               "  <memory unit='KiB'>65536</memory>\n"
                               "  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n"
                               "  <devices>\n"
                               "    <tpm model='tpm-crb'>\n"
                               "      <backend type='emulator' version='2.0'/>\n"
                               "    </tpm>\n"
                               "%s"
                               "  </devices>\n"
                               "</domain>\n",
                               name,
                               uuid,
                               channel);
}

/* vtc-hook NAME EVENT PHASE - as libvirt runs it; hostd must accept it. */
static void
hook(Fixture *f,
     const gchar *name,
     const gchar *uuid,
     const gchar *channel_path,
     const gchar *event)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *xml = domain_xml(name, uuid, channel_path);
        g_autofree gchar *env_sock = g_strdup_printf("VTC_HOSTD_SOCKET=%s", f->sock_path);
        g_autofree gchar *env_conf = g_strdup_printf("VTC_HOOK_CONFIG=%s", f->hook_conf);
        const gchar *env[] = {env_sock, env_conf, NULL};
        const gchar *phase =
            g_strcmp0(event, "stopped") == 0 || g_strcmp0(event, "release") == 0 ? "end" : "begin";
        const gchar *argv[] = {env_program("VTC_HOOK"), name, event, phase, "-", NULL};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;

        g_assert_true(
            vtc_itest_run_with_input(argv, env, xml, NULL, NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        if (status != 0)
                g_error("vtc-hook %s %s: exit %d: %s", name, event, status, err);
}

/* ---- VMs ------------------------------------------------------------------------------------ */

/* Appends one ima-ng entry (sha256 file digest) to @log; its template digest to vm->ima_pcr. */
static void
ima_entry_add(Vm *vm, GByteArray *log, const gchar *path, const guint8 digest[32])
{
        g_autoptr(GByteArray) td = g_byte_array_new();
        guint32 len;
        guint8 sha1[20];
        guint8 sha256_digest[32];
        gsize size = 20;
        g_autoptr(GChecksum) c1 = g_checksum_new(G_CHECKSUM_SHA1);

        len = GUINT32_TO_LE(7 + 1 + 32);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)"sha256:", 8);
        g_byte_array_append(td, digest, 32);
        len = GUINT32_TO_LE((guint32)strlen(path) + 1);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)path, (guint)strlen(path) + 1);
        g_checksum_update(c1, td->data, td->len);
        g_checksum_get_digest(c1, sha1, &size);
        sha256(td->data, td->len, NULL, 0, sha256_digest);

        len = GUINT32_TO_LE(10);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, sha1, 20);
        len = GUINT32_TO_LE(6);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, (const guint8 *)"ima-ng", 6);
        len = GUINT32_TO_LE(td->len);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, td->data, td->len);
        g_array_append_vals(vm->ima_pcr, sha256_digest, 32);
}

/* The guest "boots" on its vTPM: the firmware log's events into PCRs 0-9, then IMA's entries
 * into PCR 10. The first time, the IMA log is made (boot_aggregate and N_IMA_FILES files the
 * runtime policy allows); later (a restarted vTPM), the same entries are extended again. */
static void
vm_boot(Fixture *f, Vm *vm)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcTpm) tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(vm->swtpm), &error);
        g_autoptr(VtcEventlog) ev = NULL;

        g_assert_no_error(error);
        ev = vtc_eventlog_new_from_data(g_bytes_get_data(f->boot_log, NULL),
                                        g_bytes_get_size(f->boot_log),
                                        &error);
        g_assert_no_error(error);
        for (guint i = 0; i < ev->events->len; i++) {
                const VtcEventlogEvent *e = g_ptr_array_index(ev->events, i);
                const VtcEventlogDigest *d = vtc_eventlog_event_get_digest(e, TPM2_ALG_SHA256);

                if (!e->extended || e->pcr >= 10 || d == NULL)
                        continue;
                g_assert_true(
                    vtc_tpm_pcr_extend(tpm, e->pcr, TPM2_ALG_SHA256, d->value, d->size, &error));
                g_assert_no_error(error);
                if (vm->boot_tamper_offset == 0 && e->pcr < 8) {
                        gsize raw_len = 0;
                        const guint8 *raw = g_bytes_get_data(f->boot_log, &raw_len);
                        const guint8 *at = memmem(raw, raw_len, d->value, d->size);

                        if (at != NULL)
                                vm->boot_tamper_offset = (gsize)(at - raw) + 5;
                }
        }
        if (vm->ima_pcr->len == 0) {
                g_autoptr(GByteArray) log = g_byte_array_new();
                g_autoptr(VtcPcrValues) pcrs = NULL;
                TPML_PCR_SELECTION sel;
                guint8 values[10 * 32];
                guint8 aggregate[32];

                vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0x3ff);
                pcrs = vtc_tpm_pcr_read(tpm, &sel, &error);
                g_assert_no_error(error);
                for (guint i = 0; i < 10; i++) {
                        gsize len = 0;
                        const guint8 *v = vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, i, &len);

                        g_assert_nonnull(v);
                        memcpy(values + i * 32, v, 32);
                }
                g_assert_true(vtc_ima_boot_aggregate_compute(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                                             values,
                                                             10,
                                                             aggregate,
                                                             &error));
                g_assert_no_error(error);
                ima_entry_add(vm, log, "boot_aggregate", aggregate);
                for (guint i = 0; i < N_IMA_FILES; i++) {
                        g_autofree gchar *path = g_strdup_printf("/usr/bin/tool-%u", i);
                        g_autofree gchar *hex = NULL;
                        guint8 digest[32];

                        for (guint j = 0; j < 32; j++)
                                digest[j] = (guint8)g_random_int();
                        hex = vtc_hex_encode(digest, 32);
                        g_string_append_printf(vm->policy_digests,
                                               "%s\"%s\":[\"%s\"]",
                                               vm->policy_digests->len > 0 ? "," : "",
                                               path,
                                               hex);
                        ima_entry_add(vm, log, path, digest);
                }
                g_assert_true(
                    g_file_set_contents(vm->ima_path, (const gchar *)log->data, log->len, &error));
                g_assert_no_error(error);
        }
        for (guint i = 0; i < vm->ima_pcr->len / 32; i++) {
                g_assert_true(vtc_tpm_pcr_extend(tpm,
                                                 10,
                                                 TPM2_ALG_SHA256,
                                                 (const guint8 *)vm->ima_pcr->data + i * 32,
                                                 32,
                                                 &error));
                g_assert_no_error(error);
        }
}

/* IMA measures a file the runtime policy does not know (the agent is stopped: it owns the TPM). */
static void
vm_ima_add_unknown(Fixture *f, Vm *vm)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GByteArray) log = g_byte_array_new();
        g_autoptr(VtcTpm) tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(vm->swtpm), &error);
        g_autofree gchar *old = NULL;
        gsize old_len = 0;
        guint8 digest[32];

        g_assert_no_error(error);
        g_assert_true(g_file_get_contents(vm->ima_path, &old, &old_len, &error));
        g_assert_no_error(error);
        g_byte_array_append(log, (const guint8 *)old, (guint)old_len);
        for (guint j = 0; j < 32; j++)
                digest[j] = (guint8)g_random_int();
        ima_entry_add(vm, log, "/tmp/.x/miner", digest);
        g_assert_true(vtc_tpm_pcr_extend(tpm,
                                         10,
                                         TPM2_ALG_SHA256,
                                         (const guint8 *)vm->ima_pcr->data + vm->ima_pcr->len - 32,
                                         32,
                                         &error));
        g_assert_no_error(error);
        g_assert_true(
            g_file_set_contents(vm->ima_path, (const gchar *)log->data, log->len, &error));
        g_assert_no_error(error);
}

typedef struct {
        gboolean enroll;
        guint32 ak_handle;
        const gchar *ak_type;      /* NULL: ecc */
        const gchar *channel_sock; /* NULL: vm->agent_sock */
        const gchar *state_dir;    /* NULL: vm->agent_state */
} AgentOpts;

static void
vm_agent_start(Fixture *f,
               Vm *vm,
               const AgentOpts *o,
               VtcItestDaemon **out,
               guint *out_port,
               const gchar *conf_path)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) text = g_string_new(NULL);

        g_string_append_printf(
            text,
            "[agent]\nuuid = %s\nstate_dir = %s\n"
            "[tpm]\ntcti = %s\nak_handle = %u\nak_type = %s\n"
            "[channel]\npath = %s\n"
            "[logs]\nima = %s\nboot = %s\n"
            "[api]\nenabled = true\naddress = 127.0.0.1\nport = 0\nclient_ca = %s\n",
            vm->uuid,
            o->state_dir != NULL ? o->state_dir : vm->agent_state,
            vtc_swtpm_get_tcti_conf(vm->swtpm),
            o->ak_handle != 0 ? o->ak_handle : 0x81000100,
            o->ak_type != NULL ? o->ak_type : "ecc",
            o->channel_sock != NULL ? o->channel_sock : vm->agent_sock,
            vm->ima_path,
            vm->boot_path,
            f->ca);
        if (o->enroll)
                g_string_append_printf(
                    text,
                    "[registrar]\nurl = https://127.0.0.1:%u\nca = %s\nretry_max = 2\n",
                    vtc_itest_daemon_get_port(f->registrar),
                    f->ca);
        write_file(conf_path, text->str);
        *out = vtc_itest_daemon_start(env_program("VTC_AGENT"), conf_path, &error);
        g_assert_no_error(error);
        g_assert_nonnull(*out);
        *out_port = vtc_itest_daemon_get_port(*out);
}

static void
vm_agent_restart(Fixture *f, Vm *vm, const AgentOpts *o)
{
        g_assert_null(vm->agent);
        vm_agent_start(f, vm, o, &vm->agent, &vm->api_port, vm->agent_conf);
}

static void
vm_agent_stop(Fixture *f, Vm *vm)
{
        daemon_stop_checked(&vm->agent, "vtc-agent");
}

/* The agent is active at the registrar. */
static void
vm_wait_enrolled(Fixture *f, Vm *vm)
{
        g_autofree gchar *path = g_strdup_printf("/v1/agents/%s", vm->uuid);
        gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;

        for (;;) {
                g_autoptr(VtcItestReply) r =
                    fixture_get(f, vtc_itest_daemon_get_port(f->registrar), path);

                if (r->status == 200 &&
                    g_strcmp0(vtc_itest_reply_get_string(r, "state"), "active") == 0) {
                        g_assert_cmpstr(vtc_itest_reply_get_string(r, "host_id"), ==, HOST_ID);
                        return;
                }
                if (g_get_monotonic_time() > deadline)
                        g_error("the agent of %s did not enroll: %u %s",
                                vm->uuid,
                                r->status,
                                r->text);
                pump(100);
        }
}

/* swtpm_setup manufactures the vTPM with hostd's EK certificate (vtc-vtpm-certify as its
 * create_certs_tool), exactly as libvirt has it done. */
static void
vm_manufacture(Fixture *f, Vm *vm)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *conf = g_build_filename(vm->dir, "swtpm_setup.conf", NULL);
        g_autofree gchar *certify_conf = g_build_filename(vm->dir, "certify.conf", NULL);
        g_autofree gchar *logfile = g_build_filename(vm->dir, "swtpm_setup.log", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *vmid = g_strdup_printf("%s:%s", vm->name, vm->uuid);
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;
        const gchar *argv[] = {"swtpm_setup",
                               "--tpm2",
                               "--tpmstate",
                               vm->tpm_state,
                               "--createek",
                               "--create-ek-cert",
                               "--config",
                               conf,
                               "--logfile",
                               logfile,
                               "--vmid",
                               vmid,
                               "--overwrite",
                               NULL};

        text = g_strdup_printf("socket = %s\n", f->sock_path);
        write_file(certify_conf, text);
        g_free(text);
        text = g_strdup_printf("create_certs_tool = %s\ncreate_certs_tool_config = %s\n"
                               "active_pcr_banks = sha256\n",
                               env_program("VTC_VTPM_CERTIFY"),
                               certify_conf);
        write_file(conf, text);
        g_assert_cmpint(g_mkdir_with_parents(vm->tpm_state, 0700), ==, 0);
        /* the child setup reaps the swtpm that swtpm_setup leaves behind */
        g_assert_true(vtc_itest_run_with_input(argv,
                                               NULL,
                                               NULL,
                                               vtc_swtpm_setup_child_setup,
                                               GINT_TO_POINTER((gint)getpid()),
                                               &out,
                                               &err,
                                               &status,
                                               &error));
        g_assert_no_error(error);
        if (status != 0) {
                g_autofree gchar *log = NULL;
                g_file_get_contents(logfile, &log, NULL, NULL);
                g_error("swtpm_setup for %s: exit %d: %s\n%s", vm->name, status, err, log);
        }
}

typedef enum {
        VM_CERTIFIED = 1 << 0, /* EK certificate from hostd (else: another CA) */
        VM_HOOKS = 1 << 1,     /* hook start + started */
        VM_ENROLL = 1 << 2,    /* wait for the agent's enrollment */
} VmFlags;

static Vm *
vm_new(Fixture *f, const gchar *name, VmFlags flags)
{
        g_autoptr(GError) error = NULL;
        Vm *vm = g_new0(Vm, 1);
        g_autofree gchar *chan = NULL;
        AgentOpts o = {.enroll = TRUE};

        vm->uuid = g_uuid_string_random();
        vm->name = g_strdup(name);
        vm->dir = g_build_filename(f->dir, name, NULL);
        vm->tpm_state = g_build_filename(vm->dir, "tpm", NULL);
        vm->agent_state = g_build_filename(vm->dir, "agent", NULL);
        vm->agent_sock = g_build_filename(vm->dir, "agent.sock", NULL);
        vm->agent_conf = g_build_filename(vm->dir, "agent.conf", NULL);
        vm->ima_path = g_build_filename(vm->dir, "ima.log", NULL);
        vm->boot_path = g_build_filename(vm->dir, "boot.log", NULL);
        vm->ima_pcr = g_array_new(FALSE, FALSE, 1);
        vm->policy_digests = g_string_new(NULL);
        g_assert_cmpint(g_mkdir(vm->dir, 0700), ==, 0);
        g_ptr_array_add(f->vms, vm);
        g_assert_true(g_file_set_contents(vm->boot_path,
                                          g_bytes_get_data(f->boot_log, NULL),
                                          (gssize)g_bytes_get_size(f->boot_log),
                                          &error));
        g_assert_no_error(error);
        if (flags & VM_CERTIFIED) {
                vm_manufacture(f, vm);
        } else {
                /* a vTPM whose EK certificate another CA issued (swtpm-localca) */
                g_autofree gchar *rogue_ca = g_build_filename(vm->dir, "rogue-ca", NULL);

                g_assert_true(vtc_swtpm_manufacture(vm->tpm_state, rogue_ca, &error));
                g_assert_no_error(error);
        }
        if (!(flags & VM_CERTIFIED) && (flags & VM_HOOKS)) {
                /* libvirt's copy, where hostd reads the EK of a vTPM it did not certify */
                g_autofree gchar *where = g_build_filename(f->swtpm_dir, vm->uuid, "tpm2", NULL);

                copy_dir(vm->tpm_state, where);
        }
        vm->swtpm = vtc_swtpm_new(vm->tpm_state, &error);
        g_assert_no_error(error);
        vm_boot(f, vm);
        vm_agent_start(f, vm, &o, &vm->agent, &vm->api_port, vm->agent_conf);
        if (flags & VM_ENROLL)
                vm_wait_enrolled(f, vm);
        chan = g_build_filename(vm->dir, "chan.sock", NULL);
        vm->proxy = chan_proxy_new(f, vm, chan, vm->agent_sock);
        if (flags & VM_HOOKS) {
                hook(f, vm->name, vm->uuid, chan, "prepare");
                hook(f, vm->name, vm->uuid, chan, "start");
                hook(f, vm->name, vm->uuid, chan, "started");
        }
        return vm;
}

static void
vm_free(Fixture *f, Vm *vm)
{
        if (vm->agent != NULL)
                daemon_stop_checked(&vm->agent, "vtc-agent");
        chan_proxy_free(vm->proxy);
        g_clear_pointer(&vm->swtpm, vtc_swtpm_free);
        g_array_unref(vm->ima_pcr);
        g_string_free(vm->policy_digests, TRUE);
        g_free(vm->uuid);
        g_free(vm->name);
        g_free(vm->dir);
        g_free(vm->tpm_state);
        g_free(vm->agent_state);
        g_free(vm->agent_sock);
        g_free(vm->agent_conf);
        g_free(vm->ima_path);
        g_free(vm->boot_path);
        g_free(vm);
}

/* The vTPM is switched off (its agent first) and on again, from its state or from @restore. */
static void
vm_tpm_restart(Fixture *f, Vm *vm, const gchar *restore)
{
        g_autoptr(GError) error = NULL;

        vm_agent_stop(f, vm);
        g_clear_pointer(&vm->swtpm, vtc_swtpm_free);
        if (restore != NULL)
                copy_dir(restore, vm->tpm_state);
        vm->swtpm = vtc_swtpm_new(vm->tpm_state, &error);
        g_assert_no_error(error);
        vm_boot(f, vm);
}

/* ---- the verifier --------------------------------------------------------------------------- */

static gchar *
runtime_policy(Vm *vm)
{
        return g_strdup_printf("{\"meta\":{\"version\":1},\"release\":0,\"digests\":{%s},"
                               "\"excludes\":[],\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],"
                               "\"log_hash_alg\":\"sha1\",\"dm_policy\":null},\"ima-buf\":{},"
                               "\"verification-keys\":\"\"}",
                               vm->policy_digests->str);
}

static VtcItestReply *
verifier_call(Fixture *f, const gchar *method, const gchar *path, const gchar *body)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url =
            g_strdup_printf("https://127.0.0.1:%u%s", vtc_itest_daemon_get_port(f->verifier), path);
        VtcItestReply *reply = vtc_itest_request(f->admin, method, url, body, &error);

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        return reply;
}

/* Watches @vm: mode "host" or "direct" (at @agent_port), with @host_policy (JSON or NULL). */
static void
verifier_add(Fixture *f, Vm *vm, const gchar *mode, guint agent_port, const gchar *host_policy)
{
        g_autofree gchar *policy = runtime_policy(vm);
        g_autofree gchar *direct =
            agent_port != 0 ? g_strdup_printf(",\"agent_url\":\"https://127.0.0.1:%u\"", agent_port)
                            : g_strdup("");
        g_autofree gchar *hp = host_policy != NULL
                                   ? g_strdup_printf(",\"host_policy\":%s", host_policy)
                                   : g_strdup("");
        g_autofree gchar *body = g_strdup_printf("{\"uuid\":\"%s\",\"runtime_policy\":%s,"
                                                 "\"boot_policy\":{\"require_boot_log\":true,"
                                                 "\"secure_boot\":true},\"mode\":\"%s\"%s%s}",
                                                 vm->uuid,
                                                 policy,
                                                 mode,
                                                 direct,
                                                 hp);
        g_autoptr(VtcItestReply) r = verifier_call(f, "POST", "/v1/vms", body);

        if (r->status != 201)
                g_error("POST /v1/vms: %u %s", r->status, r->text);
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "registered");
}

static void
verifier_delete(Fixture *f, Vm *vm)
{
        g_autofree gchar *path = g_strdup_printf("/v1/vms/%s", vm->uuid);
        g_autoptr(VtcItestReply) r = verifier_call(f, "DELETE", path, NULL);

        g_assert_cmpuint(r->status, ==, 200);
}

static VtcItestReply *
vm_status(Fixture *f, Vm *vm)
{
        g_autofree gchar *path = g_strdup_printf("/v1/vms/%s", vm->uuid);
        VtcItestReply *r = verifier_call(f, "GET", path, NULL);

        g_assert_cmpuint(r->status, ==, 200);
        return r;
}

static gint64
counter(VtcItestReply *r, const gchar *name)
{
        JsonObject *c = obj_member(r->body, "counters");

        g_assert_nonnull(c);
        return json_object_get_int_member(c, name);
}

/* Waits until the VM's state is @want; a state in @forbid ("a|b") fails at once. */
static VtcItestReply *
vm_wait_state(Fixture *f, Vm *vm, const gchar *want, const gchar *forbid, guint seconds)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
        g_auto(GStrv) bad = g_strsplit(forbid != NULL ? forbid : "", "|", -1);

        for (;;) {
                VtcItestReply *r = vm_status(f, vm);
                const gchar *state = vtc_itest_reply_get_string(r, "state");

                if (g_strcmp0(state, want) == 0)
                        return r;
                if (state != NULL && forbid != NULL &&
                    g_strv_contains((const gchar *const *)bad, state))
                        g_error("VM %s (%s) is %s (reason %s: %s) while waiting for %s",
                                vm->name,
                                vm->uuid,
                                state,
                                vtc_itest_reply_get_string(r, "reason"),
                                vtc_itest_reply_get_string(r, "message"),
                                want);
                if (g_get_monotonic_time() > deadline)
                        g_error("VM %s is still %s (reason %s: %s) after %u s, waiting for %s: %s",
                                vm->name,
                                state,
                                vtc_itest_reply_get_string(r, "reason"),
                                vtc_itest_reply_get_string(r, "message"),
                                seconds,
                                want,
                                r->text);
                vtc_itest_reply_free(r);
                pump(50);
        }
}

static void
vm_trusted(Fixture *f, Vm *vm, const gchar *mode, guint agent_port)
{
        g_autoptr(VtcItestReply) r = NULL;

        verifier_add(f, vm, mode, agent_port, NULL);
        r = vm_wait_state(f, vm, "trusted", "failed", WAIT_SECONDS);
        g_test_message("%s trusted after %" G_GINT64_FORMAT " rounds",
                       vm->name,
                       counter(r, "rounds"));
}

/* The VM ends failed with @reason, never trusted meanwhile (a trusted VM may stay so until the
 * attacked round); the revocation event is in the history and reached the webhook. */
static void
assert_failed(Fixture *f, Vm *vm, const gchar *reason, gboolean trusted_ok)
{
        g_autoptr(VtcItestReply) r =
            vm_wait_state(f, vm, "failed", trusted_ok ? NULL : "trusted", WAIT_SECONDS);
        g_autofree gchar *path = g_strdup_printf("/v1/vms/%s/history", vm->uuid);
        g_autoptr(VtcItestReply) h = NULL;
        JsonObject *last = obj_member(r->body, "last_verdict");
        JsonArray *events;
        gboolean revocation = FALSE;
        gint64 deadline;

        g_test_message("%s failed: %s: %s",
                       vm->name,
                       vtc_itest_reply_get_string(r, "reason"),
                       vtc_itest_reply_get_string(r, "message"));
        if (g_strcmp0(vtc_itest_reply_get_string(r, "reason"), reason) != 0)
                g_error("VM %s failed with %s (%s), expected %s",
                        vm->name,
                        vtc_itest_reply_get_string(r, "reason"),
                        vtc_itest_reply_get_string(r, "message"),
                        reason);
        g_assert_nonnull(vtc_itest_reply_get_string(r, "message"));
        g_assert_nonnull(last);
        g_assert_cmpstr(str_member(last, "result"), ==, "fail");
        g_assert_cmpstr(str_member(last, "reason"), ==, reason);
        g_assert_cmpint(counter(r, "failures"), >=, 1);

        /* the revocation event: kept in the history, signed, delivered to the webhook */
        deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        for (;;) {
                gboolean at_webhook = FALSE;

                g_clear_pointer(&h, vtc_itest_reply_free);
                h = verifier_call(f, "GET", path, NULL);
                g_assert_cmpuint(h->status, ==, 200);
                events = json_object_get_array_member(h->body, "events");
                for (guint i = 0; i < json_array_get_length(events); i++) {
                        JsonObject *e = json_array_get_object_element(events, i);
                        JsonObject *ev = obj_member(e, "event");

                        if (g_strcmp0(str_member(e, "kind"), "revocation") != 0)
                                continue;
                        g_assert_cmpstr(str_member(e, "reason"), ==, reason);
                        g_assert_nonnull(str_member(e, "signature"));
                        g_assert_nonnull(ev);
                        g_assert_cmpstr(str_member(ev, "vm"), ==, vm->uuid);
                        g_assert_cmpstr(str_member(ev, "reason"), ==, reason);
                        revocation = TRUE;
                }
                for (guint i = 0; i < f->events->len; i++) {
                        JsonObject *ev = obj_member(g_ptr_array_index(f->events, i), "event");

                        if (g_strcmp0(str_member(ev, "vm"), vm->uuid) == 0 &&
                            g_strcmp0(str_member(ev, "reason"), reason) == 0)
                                at_webhook = TRUE;
                }
                if (revocation && at_webhook)
                        break;
                if (g_get_monotonic_time() > deadline)
                        g_error("no revocation event for %s (history %s, webhook %u events)",
                                vm->name,
                                h->text,
                                f->events->len);
                revocation = FALSE;
                pump(100);
        }
}

/* The VM stays out of `trusted` for @seconds; returns its last status. */
static VtcItestReply *
assert_never_trusted(Fixture *f, Vm *vm, guint seconds)
{
        gint64 end = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
        VtcItestReply *r = NULL;

        do {
                g_clear_pointer(&r, vtc_itest_reply_free);
                r = vm_status(f, vm);
                if (g_strcmp0(vtc_itest_reply_get_string(r, "state"), "trusted") == 0)
                        g_error("VM %s became trusted: %s", vm->name, r->text);
                pump(100);
        } while (g_get_monotonic_time() < end);
        return r;
}

/* ---- the clean case -------------------------------------------------------------------------- */

static void
clean_test(Fixture *f, gconstpointer user_data)
{
        Vm *a = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);
        Vm *b = vm_new(f, "vm-b", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);
        gint64 deadline;
        gint64 start_a = 0;
        gint64 start_b = 0;
        gboolean first = TRUE;

        verifier_add(f, a, "host", 0, NULL);
        verifier_add(f, b, "direct", b->api_port, NULL);
        deadline = g_get_monotonic_time() + 240 * G_USEC_PER_SEC;
        for (;;) {
                g_autoptr(VtcItestReply) ra = vm_status(f, a);
                g_autoptr(VtcItestReply) rb = vm_status(f, b);
                gint64 pa = counter(ra, "passes");
                gint64 pb = counter(rb, "passes");

                /* never a false verdict, and in the clean case never a lost round */
                g_assert_cmpint(counter(ra, "failures"), ==, 0);
                g_assert_cmpint(counter(rb, "failures"), ==, 0);
                if (counter(ra, "unreachable") != 0 || counter(rb, "unreachable") != 0)
                        g_error("a round without evidence in the clean case: %s / %s",
                                ra->text,
                                rb->text);
                g_assert_cmpstr(vtc_itest_reply_get_string(ra, "state"), !=, "failed");
                g_assert_cmpstr(vtc_itest_reply_get_string(rb, "state"), !=, "failed");
                if (pa > 0 && pb > 0 && first) {
                        first = FALSE;
                        start_a = pa;
                        start_b = pb;
                }
                if (!first && pa >= start_a + 100 && pb >= start_b + 100) {
                        g_assert_cmpstr(vtc_itest_reply_get_string(ra, "state"), ==, "trusted");
                        g_assert_cmpstr(vtc_itest_reply_get_string(rb, "state"), ==, "trusted");
                        g_assert_cmpstr(vtc_itest_reply_get_string(ra, "placement"), ==, "channel");
                        g_assert_cmpstr(vtc_itest_reply_get_string(rb, "placement"),
                                        ==,
                                        "not proven");
                        g_assert_cmpint(counter(ra, "unreachable"), ==, 0);
                        g_assert_cmpint(counter(rb, "unreachable"), ==, 0);
                        g_test_message("host mode: %" G_GINT64_FORMAT " rounds, %" G_GINT64_FORMAT
                                       " passes; direct mode: %" G_GINT64_FORMAT
                                       " rounds, %" G_GINT64_FORMAT " passes",
                                       counter(ra, "rounds"),
                                       pa,
                                       counter(rb, "rounds"),
                                       pb);
                        break;
                }
                if (g_get_monotonic_time() > deadline)
                        g_error("100 rounds took too long: %s / %s", ra->text, rb->text);
                pump(200);
        }
        g_assert_cmpuint(a->proxy->tampered, ==, 0);
        g_assert_cmpuint(a->proxy->answers, >=, 100);
        g_assert_cmpuint(f->events->len, ==, 0);
}

/* ---- the attacks ----------------------------------------------------------------------------- */

static Vm *
trusted_vm(Fixture *f)
{
        Vm *vm = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);

        vm_trusted(f, vm, "host", 0);
        return vm;
}

static void
forged_signature_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        vm->proxy->attack = CHAN_FORGE_SIGNATURE;
        assert_failed(f, vm, "guest_quote_signature", TRUE);
        g_assert_cmpuint(vm->proxy->tampered, >=, 1);
}

static void
replayed_nonce_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        vm->proxy->attack = CHAN_REPLAY;
        assert_failed(f, vm, "guest_nonce", TRUE);
        g_assert_cmpuint(vm->proxy->tampered, >=, 1);
}

/* VM B's agent answers VM A's rounds: the channel proxy of A connects to B's agent. */
static void
relayed_quote_test(Fixture *f, gconstpointer user_data)
{
        Vm *a = trusted_vm(f);
        Vm *b = vm_new(f, "vm-b", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);

        g_free(a->proxy->target);
        a->proxy->target = g_strdup(b->agent_sock);
        chan_proxy_drop(a->proxy);
        assert_failed(f, a, "guest_uuid", TRUE);
}

/* A vTPM whose EK certificate another CA issued: the registrar refuses its agent, so the VM is
 * never trusted. */
static void
rogue_ek_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        Vm *vm = vm_new(f, "vm-rogue", VM_HOOKS);
        g_autofree gchar *copy = g_build_filename(vm->dir, "tpm-copy", NULL);
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/v1/agents",
                                                vtc_itest_daemon_get_port(f->registrar));
        g_autofree gchar *agent_path = g_strdup_printf("/v1/agents/%s", vm->uuid);
        g_autofree gchar *body = NULL;
        g_autoptr(VtcItestTpm) tpm = NULL;
        g_autoptr(VtcItestReply) r = NULL;
        g_autoptr(VtcItestReply) status = NULL;

        /* the registration the agent sends, made from a copy of its vTPM: refused */
        copy_dir(vm->tpm_state, copy);
        tpm = vtc_itest_tpm_new(copy, VTC_TPM_KEY_RSA2048, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        g_assert_nonnull(tpm->ek_cert);
        body = vtc_itest_registration_json(vm->uuid,
                                           tpm->ek_public_bytes,
                                           tpm->ek_cert,
                                           tpm->ak_public_bytes,
                                           NULL);
        r = vtc_itest_request(f->admin, "POST", url, body, &error);
        g_assert_no_error(error);
        g_test_message("the registrar: %u %s", r->status, r->text);
        g_assert_cmpuint(r->status, ==, 422);
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "error"), ==, "verification_failed");

        verifier_add(f, vm, "host", 0, NULL);
        status = assert_never_trusted(f, vm, 4);
        g_assert_cmpstr(vtc_itest_reply_get_string(status, "state"), ==, "registered");
        g_assert_cmpstr(vtc_itest_reply_get_string(status, "reason"), ==, "agent_not_enrolled");
        g_assert_cmpint(counter(status, "passes"), ==, 0);
        {
                /* the agent's own attempts were refused too: nothing is kept */
                g_autoptr(VtcItestReply) a =
                    fixture_get(f, vtc_itest_daemon_get_port(f->registrar), agent_path);
                g_assert_cmpuint(a->status, ==, 404);
        }
}

/* hostd got `started` (the channel) but never `start`: no VTPM_START for the VM. */
static void
vm_not_started_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = vm_new(f, "vm-ns", VM_CERTIFIED | VM_ENROLL);

        hook(f, vm->name, vm->uuid, vm->proxy->listen_path, "started");
        verifier_add(f, vm, "host", 0, NULL);
        assert_failed(f, vm, "vm_not_started", FALSE);
}

/* The VM stopped (VTPM_STOP), then its channel is announced again without a start. */
static void
vm_stopped_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        hook(f, vm->name, vm->uuid, vm->proxy->listen_path, "stopped");
        hook(f, vm->name, vm->uuid, vm->proxy->listen_path, "reconnect");
        assert_failed(f, vm, "vm_stopped", TRUE);
}

/* An entry of hostd's vTPM log edited on disk: hostd refuses to serve on it. */
static void
vtpm_log_file_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        Vm *vm = trusted_vm(f);
        g_autofree gchar *text = NULL;
        gsize len = 0;
        const gchar *argv[] = {env_program("VTC_HOSTD"), "--config", f->hostd_config, NULL};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;
        g_autoptr(VtcItestReply) r = NULL;

        g_assert_true(g_file_get_contents(f->log_path, &text, &len, &error));
        g_assert_no_error(error);
        g_assert_true(vtpm_log_tamper_fn((guint8 *)text, len, vm->uuid));
        write_file(f->log_path, text);
        pump(1000);
        r = vm_status(f, vm);
        g_test_message("with the log edited under the running hostd: %s (%s)",
                       vtc_itest_reply_get_string(r, "state"),
                       vtc_itest_reply_get_string(r, "reason"));
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), !=, "failed");
        g_clear_pointer(&r, vtc_itest_reply_free);

        /* restarted, hostd checks the log against PCR 23 and refuses */
        daemon_stop_checked(&f->hostd, "vtc-hostd");
        g_assert_true(
            vtc_itest_run_with_input(argv, NULL, NULL, NULL, NULL, &out, &err, &status, &error));
        g_assert_no_error(error);
        g_test_message("hostd: exit %d: %s", status, err);
        g_assert_cmpint(status, ==, 1);
        g_assert_nonnull(strstr(err, "refusing to serve"));
        r = vm_wait_state(f, vm, "unreachable", "failed", WAIT_SECONDS);
        g_clear_pointer(&r, vtc_itest_reply_free);
        r = assert_never_trusted(f, vm, 3);
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "unreachable");
        /* the proxy stands for the network: it answers 502 for the dead hostd */
        g_assert_true(g_strcmp0(vtc_itest_reply_get_string(r, "reason"), "hostd_unreachable") ==
                          0 ||
                      g_strcmp0(vtc_itest_reply_get_string(r, "reason"), "hostd_error") == 0);
}

/* Whoever sits between the verifier and hostd answers 502 with an empty body (as reverse
 * proxies do when hostd is down): the VM is unreachable, and the verifier lives on. */
static void
empty_answer_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);
        g_autoptr(VtcItestReply) r = NULL;

        f->empty_502 = TRUE;
        daemon_stop_checked(&f->hostd, "vtc-hostd");
        r = vm_wait_state(f, vm, "unreachable", "failed", WAIT_SECONDS);
        g_clear_pointer(&r, vtc_itest_reply_free);
        r = assert_never_trusted(f, vm, 2);
        g_test_message("hostd's empty 502: %s (%s)",
                       vtc_itest_reply_get_string(r, "state"),
                       vtc_itest_reply_get_string(r, "reason"));
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "unreachable");
}

/* An entry of the vTPM log increment changed on its way to the verifier. */
static void
vtpm_log_transit_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);

        f->host_attack = HOST_TAMPER_VTPM_LOG;
        verifier_add(f, vm, "host", 0, NULL);
        assert_failed(f, vm, "vtpm_log_replay", FALSE);
        g_assert_cmpuint(f->host_tampered, >=, 1);
}

/* The host's PCRs are not what the tenant's host policy allows (and the same host passes a host
 * policy naming its real values). */
static void
host_policy_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);
        Vm *ok = vm_new(f, "vm-b", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);
        g_autofree gchar *ff = g_strnfill(64, 'f');
        g_autofree gchar *zero = g_strnfill(64, '0');
        g_autofree gchar *bad = g_strdup_printf("{\"pcrs\":{\"sha256\":{\"0\":\"%s\"}}}", ff);
        g_autofree gchar *good = g_strdup_printf("{\"pcrs\":{\"sha256\":{\"0\":\"%s\"}}}", zero);
        g_autoptr(VtcItestReply) r = NULL;

        verifier_add(f, ok, "host", 0, good);
        r = vm_wait_state(f, ok, "trusted", "failed", WAIT_SECONDS);
        verifier_add(f, vm, "host", 0, bad);
        assert_failed(f, vm, "host_policy", FALSE);
}

/* The inclusion proof of another leaf of the same batch (same quote, same root). */
static void
merkle_other_leaf_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        f->host_attack = HOST_OTHER_LEAF;
        assert_failed(f, vm, "merkle_proof", TRUE);
        g_test_message("rounds not batched with the extra binding: %u", f->host_skipped);
        g_assert_cmpuint(f->host_tampered, >=, 1);
}

/* Another host's hostd quotes this very binding: signed by its AK. */
static void
other_host_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        f->host_attack = HOST_OTHER_HOST;
        assert_failed(f, vm, "host_quote_signature", TRUE);
        g_assert_cmpuint(f->host_tampered, >=, 1);
}

static void
ima_policy_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);
        AgentOpts o = {.enroll = FALSE};

        vm_agent_stop(f, vm);
        vm_ima_add_unknown(f, vm);
        vm_agent_restart(f, vm, &o);
        assert_failed(f, vm, "guest_ima_policy", TRUE);
}

static void
boot_log_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);

        g_assert_cmpuint(vm->boot_tamper_offset, >, 0);
        vm->proxy->attack = CHAN_TAMPER_BOOT_LOG;
        verifier_add(f, vm, "host", 0, NULL);
        assert_failed(f, vm, "guest_boot_replay", FALSE);
        g_assert_cmpuint(vm->proxy->tampered, >=, 1);
}

static void
wait_passes(Fixture *f, Vm *vm, gint64 more)
{
        g_autoptr(VtcItestReply) r0 = vm_status(f, vm);
        gint64 p0 = counter(r0, "passes");
        gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;

        for (;;) {
                g_autoptr(VtcItestReply) r = vm_status(f, vm);

                if (g_strcmp0(vtc_itest_reply_get_string(r, "state"), "failed") == 0)
                        g_error("VM %s failed: %s", vm->name, r->text);
                if (counter(r, "passes") >= p0 + more &&
                    g_strcmp0(vtc_itest_reply_get_string(r, "state"), "trusted") == 0)
                        return;
                if (g_get_monotonic_time() > deadline)
                        g_error("no %" G_GINT64_FORMAT " passes: %s", more, r->text);
                pump(100);
        }
}

/* The vTPM's state restored from a snapshot: same resetCount as the last round, an older clock. */
static void
clock_regression_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        Vm *vm = trusted_vm(f);
        g_autofree gchar *snap = g_build_filename(vm->dir, "tpm-snapshot", NULL);
        AgentOpts o = {.enroll = FALSE};

        vm_agent_stop(f, vm);
        {
                /* the guest shuts down cleanly (TPM2_Shutdown), as at a reboot: the vTPM saves
                 * its clock. (Killed without it, swtpm may come back with an older clock marked
                 * safe, which the verifier takes for a regression: see the issue note.) */
                g_autoptr(VtcTpm) tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(vm->swtpm), &error);

                g_assert_no_error(error);
                g_assert_cmphex(Esys_Shutdown(vtc_tpm_get_esys(tpm),
                                              ESYS_TR_NONE,
                                              ESYS_TR_NONE,
                                              ESYS_TR_NONE,
                                              TPM2_SU_CLEAR),
                                ==,
                                TSS2_RC_SUCCESS);
        }
        g_clear_pointer(&vm->swtpm, vtc_swtpm_free);
        copy_dir(vm->tpm_state, snap);
        /* a reboot of the VM: the verifier reads the logs again and trusts it */
        vm->swtpm = vtc_swtpm_new(vm->tpm_state, &error);
        g_assert_no_error(error);
        vm_boot(f, vm);
        vm_agent_restart(f, vm, &o);
        wait_passes(f, vm, 12);
        /* now the snapshot */
        vm_tpm_restart(f, vm, snap);
        vm_agent_restart(f, vm, &o);
        assert_failed(f, vm, "clock_regression", TRUE);
}

/* The agent restarted with a new AK it never enrolled. (The AK is a primary key: the same
 * template at another handle gives the same key, so the new one is an RSA AK.) */
static void
ak_swapped_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);
        AgentOpts o = {.enroll = FALSE, .ak_handle = 0x81000101, .ak_type = "rsa"};

        vm_agent_stop(f, vm);
        vm_agent_restart(f, vm, &o);
        assert_failed(f, vm, "guest_quote_signature", TRUE);
}

static void
host_quote_replay_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);

        f->host_attack = HOST_REPLAY_LAST;
        assert_failed(f, vm, "host_quote_replay", TRUE);
        g_assert_cmpuint(f->host_tampered, >=, 1);
}

/* A copy of VM A's vTPM state started by libvirt as VM C: hostd logs VTPM_START{C, A's EK}. */
static void
vtpm_clone_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = trusted_vm(f);
        g_autofree gchar *c_uuid = g_uuid_string_random();
        g_autofree gchar *where = g_build_filename(f->swtpm_dir, c_uuid, "tpm2", NULL);

        copy_dir(vm->tpm_state, where);
        hook(f, "vm-c", c_uuid, NULL, "prepare");
        hook(f, "vm-c", c_uuid, NULL, "start");
        hook(f, "vm-c", c_uuid, NULL, "started");
        assert_failed(f, vm, "vtpm_clone", TRUE);
}

/* A copy of the VM (its vTPM state and the agent's TLS key) run elsewhere. */
static Vm *
vm_copy(Fixture *f, Vm *src, const gchar *name)
{
        g_autoptr(GError) error = NULL;
        Vm *vm = g_new0(Vm, 1);
        AgentOpts o = {.enroll = FALSE};

        vm->uuid = g_strdup(src->uuid);
        vm->name = g_strdup(name);
        vm->dir = g_build_filename(f->dir, name, NULL);
        vm->tpm_state = g_build_filename(vm->dir, "tpm", NULL);
        vm->agent_state = g_build_filename(vm->dir, "agent", NULL);
        vm->agent_sock = g_build_filename(vm->dir, "agent.sock", NULL);
        vm->agent_conf = g_build_filename(vm->dir, "agent.conf", NULL);
        vm->ima_path = g_strdup(src->ima_path);
        vm->boot_path = g_strdup(src->boot_path);
        vm->ima_pcr = g_array_new(FALSE, FALSE, 1);
        g_array_append_vals(vm->ima_pcr, src->ima_pcr->data, src->ima_pcr->len);
        vm->policy_digests = g_string_new(src->policy_digests->str);
        g_assert_cmpint(g_mkdir(vm->dir, 0700), ==, 0);
        g_ptr_array_add(f->vms, vm);
        copy_dir(src->tpm_state, vm->tpm_state);
        copy_dir(src->agent_state, vm->agent_state);
        vm->swtpm = vtc_swtpm_new(vm->tpm_state, &error);
        g_assert_no_error(error);
        vm_boot(f, vm);
        vm_agent_start(f, vm, &o, &vm->agent, &vm->api_port, vm->agent_conf);
        return vm;
}

static void
direct_copy_test(Fixture *f, gconstpointer user_data)
{
        Vm *vm = vm_new(f, "vm-a", VM_CERTIFIED | VM_HOOKS | VM_ENROLL);
        Vm *copy = vm_copy(f, vm, "vm-a-copy");
        g_autoptr(VtcItestReply) r = NULL;
        JsonObject *last;

        /* direct mode: the copy answers in place of the VM; nothing proves where it runs */
        verifier_add(f, vm, "direct", copy->api_port, NULL);
        r = vm_wait_state(f, vm, "trusted", "failed", WAIT_SECONDS);
        last = obj_member(r->body, "last_verdict");
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "placement"), ==, "not proven");
        g_assert_nonnull(last);
        g_assert_cmpstr(str_member(last, "placement"), ==, "not proven");
        g_test_message("direct mode, the copy answering: trusted, placement %s",
                       vtc_itest_reply_get_string(r, "placement"));
        g_clear_pointer(&r, vtc_itest_reply_free);
        verifier_delete(f, vm);

        /* through the host: only the VM's own channel reaches hostd. With the real VM gone the
         * copy cannot answer, whatever it signs. */
        vm_agent_stop(f, vm);
        verifier_add(f, vm, "host", 0, NULL);
        r = vm_wait_state(f, vm, "unreachable", "trusted|failed", WAIT_SECONDS);
        g_clear_pointer(&r, vtc_itest_reply_free);
        r = assert_never_trusted(f, vm, 3);
        g_test_message("through the host with only the copy running: %s (%s)",
                       vtc_itest_reply_get_string(r, "state"),
                       vtc_itest_reply_get_string(r, "reason"));
        g_assert_cmpstr(vtc_itest_reply_get_string(r, "state"), ==, "unreachable");
        g_assert_cmpint(counter(r, "passes"), ==, 0);
}

/* ---- main ----------------------------------------------------------------------------------- */

/* Read by ASan at start-up: the LeakSanitizer crash with gnutls threads (vtc-itest-common.c). */
const char *__asan_default_options(void);
__attribute__((used)) const char *
__asan_default_options(void)
{
        return "intercept_tls_get_addr=0";
}

static void
factory_make(Factory *fa, const gchar *name)
{
        g_autoptr(GError) error = NULL;

        fa->dir = vtc_test_tmpdir_new();
        fa->state = g_build_filename(fa->dir, "tpm", NULL);
        fa->ca = g_build_filename(fa->dir, "vendor-ca", NULL);
        if (!vtc_swtpm_manufacture(fa->state, fa->ca, &error))
                g_error("manufacturing %s: %s", name, error->message);
}

static void
factory_clear(Factory *fa)
{
        g_free(fa->state);
        g_free(fa->ca);
        vtc_test_tmpdir_free(fa->dir);
}

int
main(int argc, char **argv)
{
        Factory host_a = {0};
        Factory host_b = {0};
        Params normal = {&host_a, &host_b, 20, FALSE};
        Params wide = {&host_a, &host_b, 300, FALSE};
        Params two_hosts = {&host_a, &host_b, 20, TRUE};
        int rc;

        g_setenv("TSS2_LOG", "all+none", FALSE);
        vtc_test_require_program("swtpm");
        vtc_test_require_program("swtpm_setup");
        g_test_init(&argc, &argv, NULL);
        /* fails (or skips) here when the shared testdata is missing */
        g_free(vtc_test_data_path("eventlog/keylime/binary_bios_measurements-secureboot"));
        factory_make(&host_a, "the host's TPM");
        factory_make(&host_b, "another host's TPM");

#define ADD(path, params, fn) \
        g_test_add("/attacks/" path, Fixture, params, fixture_setup, fn, fixture_teardown)
        ADD("guest-quote-signature", &normal, forged_signature_test);
        ADD("replayed-nonce", &normal, replayed_nonce_test);
        ADD("relayed-quote", &normal, relayed_quote_test);
        ADD("ek-cert-not-from-host-ca", &normal, rogue_ek_test);
        ADD("vm-not-started", &normal, vm_not_started_test);
        ADD("vm-stopped", &normal, vm_stopped_test);
        ADD("vtpm-log-tampered-file", &normal, vtpm_log_file_test);
        ADD("vtpm-log-tampered-transit", &normal, vtpm_log_transit_test);
        ADD("host-policy", &normal, host_policy_test);
        ADD("merkle-proof-other-leaf", &wide, merkle_other_leaf_test);
        ADD("host-quote-other-host", &two_hosts, other_host_test);
        ADD("ima-outside-policy", &normal, ima_policy_test);
        ADD("boot-log-tampered", &normal, boot_log_test);
        ADD("clock-regression", &normal, clock_regression_test);
        ADD("ak-swapped", &normal, ak_swapped_test);
        ADD("host-quote-replay", &normal, host_quote_replay_test);
        ADD("vtpm-clone", &normal, vtpm_clone_test);
        ADD("direct-mode-copy", &normal, direct_copy_test);
        ADD("clean-100-rounds-both-modes", &normal, clean_test);
        ADD("hostd-empty-answer", &normal, empty_answer_test);
#undef ADD
        rc = g_test_run();
        factory_clear(&host_a);
        factory_clear(&host_b);
        return rc;
}
