/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-channel.h"

#include <gio/gunixsocketaddress.h>

#include "vtc-error.h"
#include "vtc-json.h"

/* Bytes read from a channel at a time. */
#define VTC_HOSTD_CHANNEL_READ_SIZE 65536
/* An agent's error code and message are cut to this many bytes. */
#define VTC_HOSTD_CHANNEL_MAX_TEXT 1024

typedef struct _VtcHostdChannelConn VtcHostdChannelConn;

/* One registered VM. */
typedef struct {
        VtcHostdChannel *owner;
        gchar *uuid;
        gchar *path;
        VtcHostdChannelConn *conn; /* NULL: not connected (the next round connects) */
        guint in_flight;
} VtcHostdChannelVm;

/*
 * One connection to a VM's channel, reference counted (g_rc_box): the asynchronous connect, read
 * and write each hold a reference, so a connection closed meanwhile (@vm NULL) is only freed once
 * they have come back cancelled.
 */
struct _VtcHostdChannelConn {
        VtcHostdChannelVm *vm; /* NULL once closed */
        GCancellable *cancel;
        GSocketConnection *sc; /* NULL while connecting */
        VtcChannelDecoder *dec;
        GQueue writes; /* GBytes frames waiting to be written */
        GBytes *writing;
        gint64 last_rx; /* monotonic time of the last byte received */
        guint8 rbuf[VTC_HOSTD_CHANNEL_READ_SIZE];
};

/* One round in flight, from the call to its answer, timeout or failure. */
typedef struct {
        VtcHostdChannel *self;
        VtcHostdChannelVm *vm;
        gint64 id;
        GTask *task;
        GSource *timer;
        GSource *cancel_source;
        gint64 started;
} VtcHostdChannelRound;

struct _VtcHostdChannel {
        GMainContext *context;
        guint timeout_ms;
        GHashTable *vms;    /* lower-case uuid -> VtcHostdChannelVm */
        GHashTable *rounds; /* &round->id -> VtcHostdChannelRound */
        gint64 next_id;
        VtcHostdChannelMetrics m;
};

/* ---- completing rounds -------------------------------------------------------------------- */

/* Tasks are always completed from an idle source, so a callback never runs inside this object's
 * own code (it may start rounds or free the object). */
typedef struct {
        GTask *task;
        JsonObject *obj;
        GError *error;
} VtcHostdChannelDone;

static void
vtc_hostd_channel_done_free(gpointer data)
{
        VtcHostdChannelDone *done = data;

        g_clear_object(&done->task);
        g_clear_pointer(&done->obj, json_object_unref);
        g_clear_error(&done->error);
        g_free(done);
}

static gboolean
vtc_hostd_channel_done_cb(gpointer data)
{
        VtcHostdChannelDone *done = data;

        if (done->error != NULL)
                g_task_return_error(done->task, g_steal_pointer(&done->error));
        else
                g_task_return_pointer(done->task,
                                      g_steal_pointer(&done->obj),
                                      (GDestroyNotify)json_object_unref);
        return G_SOURCE_REMOVE;
}

/* Takes @task, @obj and @error. */
static void
vtc_hostd_channel_return(GMainContext *context, GTask *task, JsonObject *obj, GError *error)
{
        VtcHostdChannelDone *done = g_new0(VtcHostdChannelDone, 1);
        g_autoptr(GSource) source = g_idle_source_new();

        done->task = task;
        done->obj = obj;
        done->error = error;
        g_source_set_callback(source, vtc_hostd_channel_done_cb, done, vtc_hostd_channel_done_free);
        g_source_attach(source, context);
}

/* Removes @round and answers it with @obj (taken) or @error (taken). */
static void
vtc_hostd_channel_round_complete(VtcHostdChannelRound *round, JsonObject *obj, GError *error)
{
        VtcHostdChannel *self = round->self;

        g_hash_table_steal(self->rounds, &round->id);
        if (round->timer != NULL) {
                g_source_destroy(round->timer);
                g_source_unref(round->timer);
        }
        if (round->cancel_source != NULL) {
                g_source_destroy(round->cancel_source);
                g_source_unref(round->cancel_source);
        }
        if (round->vm != NULL && round->vm->in_flight > 0)
                round->vm->in_flight--;
        vtc_hostd_channel_return(self->context, g_steal_pointer(&round->task), obj, error);
        g_free(round);
}

/* Fails every round of @vm with a copy of @error. */
static void
vtc_hostd_channel_fail_vm(VtcHostdChannel *self, VtcHostdChannelVm *vm, const GError *error)
{
        g_autoptr(GPtrArray) doomed = g_ptr_array_new();
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, self->rounds);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
                if (((VtcHostdChannelRound *)value)->vm == vm)
                        g_ptr_array_add(doomed, value);
        }
        for (guint i = 0; i < doomed->len; i++) {
                self->m.failures++;
                vtc_hostd_channel_round_complete(g_ptr_array_index(doomed, i),
                                                 NULL,
                                                 g_error_copy(error));
        }
}

/* ---- connections -------------------------------------------------------------------------- */

static void
vtc_hostd_channel_conn_clear(VtcHostdChannelConn *conn)
{
        g_clear_object(&conn->cancel);
        g_clear_object(&conn->sc);
        g_clear_pointer(&conn->dec, vtc_channel_decoder_free);
        g_queue_clear_full(&conn->writes, (GDestroyNotify)g_bytes_unref);
        g_clear_pointer(&conn->writing, g_bytes_unref);
}

static void
vtc_hostd_channel_conn_unref(VtcHostdChannelConn *conn)
{
        g_rc_box_release_full(conn, (GDestroyNotify)vtc_hostd_channel_conn_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdChannelConn, vtc_hostd_channel_conn_unref)

/* Detaches the VM's connection: what is under way on it comes back cancelled and is ignored. */
static void
vtc_hostd_channel_vm_disconnect(VtcHostdChannelVm *vm)
{
        VtcHostdChannelConn *conn = g_steal_pointer(&vm->conn);

        if (conn == NULL)
                return;
        conn->vm = NULL;
        g_cancellable_cancel(conn->cancel);
        vtc_hostd_channel_conn_unref(conn);
}

/* The connection failed: it is dropped, its VM's rounds fail, and the next round reconnects. */
static void
vtc_hostd_channel_conn_fail(VtcHostdChannelConn *conn, GError *error)
{
        g_autoptr(GError) owned = error;
        VtcHostdChannelVm *vm = conn->vm;

        vtc_hostd_channel_vm_disconnect(vm);
        vtc_hostd_channel_fail_vm(vm->owner, vm, owned);
}

static void vtc_hostd_channel_write_next(VtcHostdChannelConn *conn);

static void
vtc_hostd_channel_write_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(VtcHostdChannelConn) conn = user_data;
        g_autoptr(GError) error = NULL;

        if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, &error)) {
                if (conn->vm != NULL) {
                        vtc_hostd_channel_conn_fail(
                            conn,
                            g_error_new(VTC_ERROR,
                                        VTC_ERROR_UNAVAILABLE,
                                        "writing to the agent channel of VM %s: %s",
                                        conn->vm->uuid,
                                        error->message));
                }
                return;
        }
        g_clear_pointer(&conn->writing, g_bytes_unref);
        if (conn->vm != NULL)
                vtc_hostd_channel_write_next(conn);
}

static void
vtc_hostd_channel_write_next(VtcHostdChannelConn *conn)
{
        GOutputStream *out;

        if (conn->sc == NULL || conn->writing != NULL || g_queue_is_empty(&conn->writes))
                return;
        conn->writing = g_queue_pop_head(&conn->writes);
        out = g_io_stream_get_output_stream(G_IO_STREAM(conn->sc));
        g_output_stream_write_all_async(out,
                                        g_bytes_get_data(conn->writing, NULL),
                                        g_bytes_get_size(conn->writing),
                                        G_PRIORITY_DEFAULT,
                                        conn->cancel,
                                        vtc_hostd_channel_write_cb,
                                        g_rc_box_acquire(conn));
}

static void vtc_hostd_channel_read_next(VtcHostdChannelConn *conn);

/* Cuts an agent-supplied text to one printable line of bounded length. */
static gchar *
vtc_hostd_channel_clean_text(const gchar *text)
{
        g_autofree gchar *valid = g_utf8_make_valid(text, -1);
        GString *out = g_string_new(NULL);

        for (const gchar *p = valid; *p != '\0' && out->len < VTC_HOSTD_CHANNEL_MAX_TEXT; p++)
                g_string_append_c(out, g_ascii_iscntrl(*p) ? ' ' : *p);
        return g_string_free(out, FALSE);
}

/* One answer payload from @vm's agent. */
static void
vtc_hostd_channel_handle_answer(VtcHostdChannel *self,
                                VtcHostdChannelVm *vm,
                                const gchar *payload,
                                gsize len)
{
        const VtcJsonLimits limits = {VTC_CHANNEL_MAX_PAYLOAD, 16, VTC_CHANNEL_MAX_PAYLOAD, 10000};
        g_autoptr(JsonObject) obj = vtc_json_parse_object(payload, len, &limits, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) evidence = NULL;
        VtcHostdChannelRound *round;
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *node;
        gint64 id = -1;
        gboolean ok = FALSE;

        if (obj == NULL || !vtc_json_get_int(obj, "id", 0, VTC_CHANNEL_MAX_ID, TRUE, &id, NULL) ||
            id == 0) {
                /* unreadable, or the agent could not read something (id 0) */
                self->m.garbled++;
                return;
        }
        round = g_hash_table_lookup(self->rounds, &id);
        if (round == NULL || round->vm != vm) {
                /* a late reply (its round timed out or was cancelled), or not ours at all: a VM
                 * can never answer another VM's round */
                self->m.dropped++;
                return;
        }
        self->m.answered++;
        self->m.latency_sum += (gdouble)(g_get_monotonic_time() - round->started) / G_USEC_PER_SEC;
        if (!vtc_json_get_bool(obj, "ok", TRUE, &ok, &error)) {
                self->m.agent_errors++;
                vtc_hostd_channel_round_complete(round,
                                                 NULL,
                                                 g_error_new(VTC_ERROR,
                                                             VTC_ERROR_FAILED,
                                                             VTC_HOSTD_CHANNEL_AGENT_ERROR
                                                             "invalid_data: %s",
                                                             error->message));
                return;
        }
        if (!ok) {
                const gchar *code = vtc_json_get_string(obj, "error", FALSE, NULL);
                const gchar *message = vtc_json_get_string(obj, "message", FALSE, NULL);
                g_autofree gchar *code_clean =
                    vtc_hostd_channel_clean_text(code != NULL ? code : "internal_error");
                g_autofree gchar *message_clean =
                    vtc_hostd_channel_clean_text(message != NULL ? message : "(no message)");

                self->m.agent_errors++;
                vtc_hostd_channel_round_complete(round,
                                                 NULL,
                                                 g_error_new(VTC_ERROR,
                                                             VTC_ERROR_FAILED,
                                                             VTC_HOSTD_CHANNEL_AGENT_ERROR "%s: %s",
                                                             code_clean,
                                                             message_clean));
                return;
        }
        /* the parser's objects are immutable: copy the members but "id" and "ok" */
        evidence = json_object_new();
        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &name, &node)) {
                if (g_str_equal(name, "id") || g_str_equal(name, "ok"))
                        continue;
                json_object_set_member(evidence, name, json_node_copy(node));
        }
        vtc_hostd_channel_round_complete(round, g_steal_pointer(&evidence), NULL);
}

static void
vtc_hostd_channel_read_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(VtcHostdChannelConn) conn = user_data;
        g_autoptr(GError) error = NULL;
        gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, &error);
        VtcHostdChannel *self;
        VtcHostdChannelVm *vm = conn->vm;

        if (vm == NULL)
                return;
        self = vm->owner;
        if (n <= 0) {
                vtc_hostd_channel_conn_fail(conn,
                                            g_error_new(VTC_ERROR,
                                                        VTC_ERROR_UNAVAILABLE,
                                                        "the agent channel of VM %s closed%s%s",
                                                        vm->uuid,
                                                        n < 0 ? ": " : "",
                                                        n < 0 ? error->message : ""));
                return;
        }
        conn->last_rx = g_get_monotonic_time();
        vtc_channel_decoder_feed(conn->dec, conn->rbuf, (gsize)n);
        while (conn->vm != NULL) {
                g_autoptr(GError) error_frame = NULL;
                g_autofree gchar *payload = NULL;
                gsize len = 0;

                if (!vtc_channel_decoder_next(conn->dec, &payload, &len, &error_frame)) {
                        if (error_frame == NULL)
                                break;
                        self->m.garbled++;
                        continue;
                }
                vtc_hostd_channel_handle_answer(self, vm, payload, len);
        }
        vtc_hostd_channel_read_next(conn);
}

static void
vtc_hostd_channel_read_next(VtcHostdChannelConn *conn)
{
        GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn->sc));

        g_input_stream_read_async(in,
                                  conn->rbuf,
                                  sizeof(conn->rbuf),
                                  G_PRIORITY_DEFAULT,
                                  conn->cancel,
                                  vtc_hostd_channel_read_cb,
                                  g_rc_box_acquire(conn));
}

static void
vtc_hostd_channel_connect_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(VtcHostdChannelConn) conn = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketConnection) sc =
            g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error);
        VtcHostdChannelVm *vm = conn->vm;

        if (vm == NULL)
                return;
        if (sc == NULL) {
                vtc_hostd_channel_conn_fail(conn,
                                            g_error_new(VTC_ERROR,
                                                        VTC_ERROR_UNAVAILABLE,
                                                        "connecting to the agent channel %s of "
                                                        "VM %s: %s",
                                                        vm->path,
                                                        vm->uuid,
                                                        error->message));
                return;
        }
        vm->owner->m.connects++;
        conn->sc = g_steal_pointer(&sc);
        conn->last_rx = g_get_monotonic_time();
        vtc_hostd_channel_read_next(conn);
        vtc_hostd_channel_write_next(conn);
}

static VtcHostdChannelConn *
vtc_hostd_channel_vm_get_conn(VtcHostdChannelVm *vm)
{
        g_autoptr(GSocketClient) client = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        VtcHostdChannelConn *conn;

        if (vm->conn != NULL)
                return vm->conn;
        conn = g_rc_box_new0(VtcHostdChannelConn);
        conn->vm = vm;
        conn->cancel = g_cancellable_new();
        conn->dec = vtc_channel_decoder_new();
        g_queue_init(&conn->writes);
        vm->conn = conn;
        client = g_socket_client_new();
        addr = g_unix_socket_address_new(vm->path);
        g_socket_client_connect_async(client,
                                      G_SOCKET_CONNECTABLE(addr),
                                      conn->cancel,
                                      vtc_hostd_channel_connect_cb,
                                      g_rc_box_acquire(conn));
        return conn;
}

/* ---- rounds ------------------------------------------------------------------------------- */

static gboolean
vtc_hostd_channel_timeout_cb(gpointer user_data)
{
        VtcHostdChannelRound *round = user_data;
        VtcHostdChannel *self = round->self;
        VtcHostdChannelVm *vm = round->vm;
        VtcHostdChannelConn *conn = vm->conn;
        gint64 now = g_get_monotonic_time();

        self->m.timeouts++;
        /* a partial frame that has not moved for half a timeout while a round ran out is the
         * remains of an agent that died mid-answer: drop it, or it would swallow the next
         * agent's frames (a long answer on its way keeps moving) */
        if (conn != NULL && conn->sc != NULL && vtc_channel_decoder_get_buffered(conn->dec) > 0 &&
            now - conn->last_rx >= (gint64)self->timeout_ms * 500) {
                vtc_channel_decoder_free(conn->dec);
                conn->dec = vtc_channel_decoder_new();
                self->m.garbled++;
        }
        vtc_hostd_channel_round_complete(round,
                                         NULL,
                                         g_error_new(VTC_ERROR,
                                                     VTC_ERROR_TIMEOUT,
                                                     "the agent of VM %s did not answer within "
                                                     "%u ms",
                                                     vm->uuid,
                                                     self->timeout_ms));
        return G_SOURCE_REMOVE;
}

static gboolean
vtc_hostd_channel_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
        VtcHostdChannelRound *round = user_data;
        g_autoptr(GError) error = NULL;

        round->self->m.failures++;
        (void)g_cancellable_set_error_if_cancelled(cancellable, &error);
        vtc_hostd_channel_round_complete(round, NULL, g_steal_pointer(&error));
        return G_SOURCE_REMOVE;
}

static GBytes *
vtc_hostd_channel_request_frame(gint64 id, const VtcChannelRound *round, GError **error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree gchar *json = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, id);
        json_builder_set_member_name(b, "op");
        json_builder_add_string_value(b, "round");
        vtc_channel_round_to_json(round, b);
        json_builder_end_object(b);
        json = vtc_json_builder_to_string(b);
        return vtc_channel_frame_encode(json, strlen(json), error);
}

void
vtc_hostd_channel_round_async(VtcHostdChannel *self,
                              const gchar *uuid,
                              const VtcChannelRound *round,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
        g_autoptr(GTask) task = NULL;
        g_autofree gchar *key = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = NULL;
        VtcHostdChannelVm *vm;
        VtcHostdChannelRound *r;
        VtcHostdChannelConn *conn;

        g_return_if_fail(self != NULL && uuid != NULL && round != NULL);

        task = g_task_new(NULL, cancellable, callback, user_data);
        g_task_set_source_tag(task, vtc_hostd_channel_round_async);
        key = g_ascii_strdown(uuid, -1);
        vm = g_hash_table_lookup(self->vms, key);
        if (vm == NULL) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_NOT_FOUND,
                                    "VM %s has no agent channel here (not running on this host, "
                                    "or not protected)",
                                    key);
        } else if (vm->in_flight >= VTC_HOSTD_CHANNEL_MAX_IN_FLIGHT) {
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_UNAVAILABLE,
                                    "VM %s has %u rounds in flight already",
                                    key,
                                    vm->in_flight);
        } else if (!g_cancellable_set_error_if_cancelled(cancellable, &error)) {
                if (self->next_id > VTC_CHANNEL_MAX_ID)
                        self->next_id = 1;
                frame = vtc_hostd_channel_request_frame(self->next_id, round, &error);
        }
        if (frame == NULL) {
                vtc_hostd_channel_return(self->context,
                                         g_steal_pointer(&task),
                                         NULL,
                                         g_steal_pointer(&error));
                return;
        }

        r = g_new0(VtcHostdChannelRound, 1);
        r->self = self;
        r->vm = vm;
        r->id = self->next_id++;
        r->task = g_steal_pointer(&task);
        r->started = g_get_monotonic_time();
        r->timer = g_timeout_source_new(self->timeout_ms);
        g_source_set_callback(r->timer, vtc_hostd_channel_timeout_cb, r, NULL);
        g_source_attach(r->timer, self->context);
        if (cancellable != NULL) {
                r->cancel_source = g_cancellable_source_new(cancellable);
                g_source_set_callback(r->cancel_source,
                                      G_SOURCE_FUNC(vtc_hostd_channel_cancelled_cb),
                                      r,
                                      NULL);
                g_source_attach(r->cancel_source, self->context);
        }
        g_hash_table_insert(self->rounds, &r->id, r);
        vm->in_flight++;
        self->m.rounds++;

        conn = vtc_hostd_channel_vm_get_conn(vm);
        g_queue_push_tail(&conn->writes, g_steal_pointer(&frame));
        vtc_hostd_channel_write_next(conn);
}

JsonObject *
vtc_hostd_channel_round_finish(VtcHostdChannel *self, GAsyncResult *res, GError **error)
{
        g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
        return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- registry ----------------------------------------------------------------------------- */

static void
vtc_hostd_channel_vm_free(VtcHostdChannelVm *vm)
{
        vtc_hostd_channel_vm_disconnect(vm);
        g_free(vm->uuid);
        g_free(vm->path);
        g_free(vm);
}

void
vtc_hostd_channel_add(VtcHostdChannel *self, const gchar *uuid, const gchar *path)
{
        g_autofree gchar *key = NULL;
        VtcHostdChannelVm *vm;

        g_return_if_fail(self != NULL && uuid != NULL && path != NULL);
        key = g_ascii_strdown(uuid, -1);
        vm = g_hash_table_lookup(self->vms, key);
        if (vm != NULL) {
                g_autoptr(GError) error = NULL;

                if (g_strcmp0(vm->path, path) == 0)
                        return;
                error = g_error_new(VTC_ERROR,
                                    VTC_ERROR_UNAVAILABLE,
                                    "the agent channel of VM %s moved to %s",
                                    key,
                                    path);
                vtc_hostd_channel_vm_disconnect(vm);
                vtc_hostd_channel_fail_vm(self, vm, error);
                g_free(vm->path);
                vm->path = g_strdup(path);
                return;
        }
        vm = g_new0(VtcHostdChannelVm, 1);
        vm->owner = self;
        vm->uuid = g_strdup(key);
        vm->path = g_strdup(path);
        g_hash_table_insert(self->vms, g_steal_pointer(&key), vm);
}

void
vtc_hostd_channel_remove(VtcHostdChannel *self, const gchar *uuid)
{
        g_autofree gchar *key = NULL;
        g_autoptr(GError) error = NULL;
        VtcHostdChannelVm *vm;

        g_return_if_fail(self != NULL && uuid != NULL);
        key = g_ascii_strdown(uuid, -1);
        vm = g_hash_table_lookup(self->vms, key);
        if (vm == NULL)
                return;
        error = g_error_new(VTC_ERROR, VTC_ERROR_NOT_FOUND, "VM %s stopped", key);
        vtc_hostd_channel_fail_vm(self, vm, error);
        g_hash_table_remove(self->vms, key);
}

const gchar *
vtc_hostd_channel_lookup(VtcHostdChannel *self, const gchar *uuid)
{
        g_autofree gchar *key = NULL;
        VtcHostdChannelVm *vm;

        g_return_val_if_fail(self != NULL && uuid != NULL, NULL);
        key = g_ascii_strdown(uuid, -1);
        vm = g_hash_table_lookup(self->vms, key);
        return vm != NULL ? vm->path : NULL;
}

void
vtc_hostd_channel_get_metrics(VtcHostdChannel *self, VtcHostdChannelMetrics *out_metrics)
{
        g_return_if_fail(self != NULL && out_metrics != NULL);
        *out_metrics = self->m;
        out_metrics->in_flight = g_hash_table_size(self->rounds);
        out_metrics->channels = g_hash_table_size(self->vms);
}

VtcHostdChannel *
vtc_hostd_channel_new(guint timeout_ms)
{
        VtcHostdChannel *self = g_new0(VtcHostdChannel, 1);

        self->context = g_main_context_ref_thread_default();
        self->timeout_ms = timeout_ms != 0 ? MIN(timeout_ms, VTC_HOSTD_CHANNEL_TIMEOUT_MS_MAX)
                                           : VTC_HOSTD_CHANNEL_TIMEOUT_MS_DEFAULT;
        self->vms = g_hash_table_new_full(g_str_hash,
                                          g_str_equal,
                                          g_free,
                                          (GDestroyNotify)vtc_hostd_channel_vm_free);
        self->rounds = g_hash_table_new(g_int64_hash, g_int64_equal);
        self->next_id = 1;
        return self;
}

void
vtc_hostd_channel_free(VtcHostdChannel *self)
{
        g_autoptr(GError) error = NULL;
        GHashTableIter iter;
        gpointer value;

        if (self == NULL)
                return;
        error = g_error_new_literal(VTC_ERROR, VTC_ERROR_UNAVAILABLE, "hostd is shutting down");
        g_hash_table_iter_init(&iter, self->vms);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                vtc_hostd_channel_fail_vm(self, value, error);
        g_hash_table_unref(self->vms);
        g_hash_table_unref(self->rounds);
        g_main_context_unref(self->context);
        g_free(self);
}
