/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vtc-error.h"
#include "vtc-util.h"

/* a peer gets this long to send its request */
#define VTC_HOSTD_SOCKET_READ_TIMEOUT_S 10

struct _VtcHostdSocket {
        gchar *path;
        GSocketService *service;
        VtcHostdSocketHandler handler;
        gpointer user_data;
};

struct _VtcHostdSocketRequest {
        VtcHostdSocket *self;
        GSocketConnection *conn;
        GCancellable *cancellable;
        guint timeout_id;
        guint8 header[4];
        guint8 *data;
        gsize len;
        guint uid;
        guint gid;
        gint pid;
};

static void
vtc_hostd_socket_request_free(VtcHostdSocketRequest *req)
{
        if (req->timeout_id != 0)
                g_source_remove(req->timeout_id);
        g_io_stream_close(G_IO_STREAM(req->conn), NULL, NULL);
        g_object_unref(req->conn);
        g_object_unref(req->cancellable);
        g_free(req->data);
        g_free(req);
}

const guint8 *
vtc_hostd_socket_request_get_data(VtcHostdSocketRequest *req, gsize *out_len)
{
        *out_len = req->len;
        return req->data;
}

guint
vtc_hostd_socket_request_get_uid(VtcHostdSocketRequest *req)
{
        return req->uid;
}

guint
vtc_hostd_socket_request_get_gid(VtcHostdSocketRequest *req)
{
        return req->gid;
}

gint
vtc_hostd_socket_request_get_pid(VtcHostdSocketRequest *req)
{
        return req->pid;
}

void
vtc_hostd_socket_reply(VtcHostdSocketRequest *req, const gchar *answer)
{
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(req->conn));
        gsize len = strlen(answer);
        guint8 header[4] = {(guint8)(len >> 24),
                            (guint8)(len >> 16),
                            (guint8)(len >> 8),
                            (guint8)len};

        /* answers are small; the peer is waiting for them: a short blocking write is fine, and
         * a peer that vanished only makes it fail */
        if (g_output_stream_write_all(out, header, sizeof(header), NULL, NULL, NULL))
                g_output_stream_write_all(out, answer, len, NULL, NULL, NULL);
        vtc_hostd_socket_request_free(req);
}

static void
vtc_hostd_socket_fail(VtcHostdSocketRequest *req, const gchar *code, const gchar *message)
{
        g_autofree gchar *escaped = g_strescape(message, NULL);
        g_autofree gchar *answer =
            g_strdup_printf("{\"ok\":false,\"error\":\"%s\",\"message\":\"%s\"}", code, escaped);

        vtc_hostd_socket_reply(req, answer);
}

static gboolean
vtc_hostd_socket_timeout_cb(gpointer user_data)
{
        VtcHostdSocketRequest *req = user_data;

        req->timeout_id = 0;
        g_cancellable_cancel(req->cancellable);
        return G_SOURCE_REMOVE;
}

static void
vtc_hostd_socket_body_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdSocketRequest *req = user_data;
        gsize got = 0;
        g_autoptr(GError) error = NULL;

        if (!g_input_stream_read_all_finish(G_INPUT_STREAM(source), res, &got, &error) ||
            got != req->len) {
                /* nobody to answer: the peer left or stalled */
                vtc_hostd_socket_request_free(req);
                return;
        }
        g_source_remove(req->timeout_id);
        req->timeout_id = 0;
        req->self->handler(req, req->self->user_data);
}

static void
vtc_hostd_socket_header_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdSocketRequest *req = user_data;
        gsize got = 0;
        g_autoptr(GError) error = NULL;

        if (!g_input_stream_read_all_finish(G_INPUT_STREAM(source), res, &got, &error) ||
            got != sizeof(req->header)) {
                vtc_hostd_socket_request_free(req);
                return;
        }
        req->len = ((gsize)req->header[0] << 24) | ((gsize)req->header[1] << 16) |
                   ((gsize)req->header[2] << 8) | req->header[3];
        if (req->len == 0 || req->len > VTC_HOSTD_SOCKET_MAX_FRAME) {
                vtc_hostd_socket_fail(req, "too_large", "a request is 1 byte to 1 MiB of JSON");
                return;
        }
        req->data = g_malloc(req->len + 1);
        req->data[req->len] = '\0';
        g_input_stream_read_all_async(G_INPUT_STREAM(source),
                                      req->data,
                                      req->len,
                                      G_PRIORITY_DEFAULT,
                                      req->cancellable,
                                      vtc_hostd_socket_body_cb,
                                      req);
}

static gboolean
vtc_hostd_socket_incoming_cb(GSocketService *service,
                             GSocketConnection *conn,
                             GObject *source_object,
                             gpointer user_data)
{
        VtcHostdSocket *self = user_data;
        VtcHostdSocketRequest *req = g_new0(VtcHostdSocketRequest, 1);
        GSocket *sock = g_socket_connection_get_socket(conn);
        struct ucred cred = {0};
        socklen_t cred_len = sizeof(cred);

        req->self = self;
        req->conn = g_object_ref(conn);
        req->cancellable = g_cancellable_new();
        /* the kernel's word for who is calling, not anything the peer says */
        if (getsockopt(g_socket_get_fd(sock), SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
                vtc_hostd_socket_fail(req, "forbidden", "cannot read the caller's credentials");
                return TRUE;
        }
        req->uid = cred.uid;
        req->gid = cred.gid;
        req->pid = cred.pid;
        req->timeout_id = g_timeout_add_seconds(VTC_HOSTD_SOCKET_READ_TIMEOUT_S,
                                                vtc_hostd_socket_timeout_cb,
                                                req);
        g_input_stream_read_all_async(g_io_stream_get_input_stream(G_IO_STREAM(conn)),
                                      req->header,
                                      sizeof(req->header),
                                      G_PRIORITY_DEFAULT,
                                      req->cancellable,
                                      vtc_hostd_socket_header_cb,
                                      req);
        return TRUE;
}

VtcHostdSocket *
vtc_hostd_socket_new(const gchar *path,
                     guint mode,
                     gint gid,
                     VtcHostdSocketHandler handler,
                     gpointer user_data,
                     GError **error)
{
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
        g_autoptr(GError) error_local = NULL;
        VtcHostdSocket *self;
        GSocketService *service = g_socket_service_new();

        /* a socket file left by a previous hostd that died: nobody is listening on it */
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                        unlink(path);
        }
        if (!g_socket_listener_add_address(G_SOCKET_LISTENER(service),
                                           addr,
                                           G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT,
                                           NULL,
                                           NULL,
                                           &error_local)) {
                g_object_unref(service);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "listening on %s: %s",
                            path,
                            error_local->message);
                return NULL;
        }
        if (chmod(path, mode) != 0 || (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) != 0)) {
                int e = errno;
                g_object_unref(service);
                unlink(path);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "setting the owner and mode of %s: %s",
                            path,
                            g_strerror(e));
                return NULL;
        }
        self = g_new0(VtcHostdSocket, 1);
        self->path = g_strdup(path);
        self->service = service;
        self->handler = handler;
        self->user_data = user_data;
        g_signal_connect(service, "incoming", G_CALLBACK(vtc_hostd_socket_incoming_cb), self);
        g_socket_service_start(service);
        return self;
}

void
vtc_hostd_socket_free(VtcHostdSocket *self)
{
        if (self == NULL)
                return;
        g_socket_service_stop(self->service);
        g_socket_listener_close(G_SOCKET_LISTENER(self->service));
        g_object_unref(self->service);
        unlink(self->path);
        g_free(self->path);
        g_free(self);
}
