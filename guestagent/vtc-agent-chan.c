/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-chan.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

#define VTC_AGENT_CHAN_READ_SIZE (64 * 1024)
/* error frames waiting to go out; more garbage than this is skipped unanswered */
#define VTC_AGENT_CHAN_MAX_OUT_FRAMES 256

struct _VtcAgentChanRequest {
        VtcAgentChan *chan; /* NULL once the channel is gone */
        gint64 id;
};

struct _VtcAgentChan {
        gchar *path;
        gboolean socket_mode;
        guint idle_ms;
        VtcAgentChanHandler handler;
        gpointer user_data;
        int listen_fd;
        guint listen_watch;
        int fd;
        guint watch;
        GIOCondition watch_cond;
        guint backoff;
        VtcChannelDecoder *decoder;
        GQueue in;  /* GBytes payloads not yet handled */
        GQueue out; /* GBytes frames not yet written */
        gsize out_offset;
        VtcAgentChanRequest *current;
        gboolean processing;
        VtcAgentChanStats stats;
};

static void vtc_agent_chan_update(VtcAgentChan *self);

/* ---- answers --------------------------------------------------------------------------- */

static void
vtc_agent_chan_queue_json(VtcAgentChan *self, JsonBuilder *b, gint64 id)
{
        g_autofree gchar *text = vtc_json_builder_to_string(b);
        g_autoptr(GError) error = NULL;
        GBytes *frame = vtc_channel_frame_encode(text, strlen(text), &error);

        if (frame == NULL) {
                /* an answer too big to frame: say so, in a frame that fits */
                g_autoptr(JsonBuilder) eb = json_builder_new();
                g_autofree gchar *etext = NULL;

                json_builder_begin_object(eb);
                json_builder_set_member_name(eb, "id");
                json_builder_add_int_value(eb, id);
                json_builder_set_member_name(eb, "ok");
                json_builder_add_boolean_value(eb, FALSE);
                json_builder_set_member_name(eb, "error");
                json_builder_add_string_value(eb, vtc_error_to_string(error));
                json_builder_set_member_name(eb, "message");
                json_builder_add_string_value(eb, error->message);
                json_builder_end_object(eb);
                etext = vtc_json_builder_to_string(eb);
                frame = vtc_channel_frame_encode(etext, strlen(etext), NULL);
        }
        if (frame != NULL)
                g_queue_push_tail(&self->out, frame);
}

static void
vtc_agent_chan_queue_error(VtcAgentChan *self, gint64 id, const GError *error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        if (id == 0 && g_queue_get_length(&self->out) >= VTC_AGENT_CHAN_MAX_OUT_FRAMES)
                return;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, id);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, FALSE);
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, vtc_error_to_string(error));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, error->message);
        json_builder_end_object(b);
        vtc_agent_chan_queue_json(self, b, id);
}

static void vtc_agent_chan_process(VtcAgentChan *self);

static void
vtc_agent_chan_request_done(VtcAgentChanRequest *request)
{
        VtcAgentChan *self = request->chan;

        g_free(request);
        if (self == NULL)
                return;
        self->current = NULL;
        if (!self->processing) {
                vtc_agent_chan_process(self);
                vtc_agent_chan_update(self);
        }
}

void
vtc_agent_chan_request_return(VtcAgentChanRequest *request, JsonObject *members)
{
        if (request->chan != NULL) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "id");
                json_builder_add_int_value(b, request->id);
                json_builder_set_member_name(b, "ok");
                json_builder_add_boolean_value(b, TRUE);
                if (members != NULL) {
                        JsonObjectIter iter;
                        const gchar *name;
                        JsonNode *node;

                        json_object_iter_init(&iter, members);
                        while (json_object_iter_next(&iter, &name, &node)) {
                                if (g_strcmp0(name, "id") == 0 || g_strcmp0(name, "ok") == 0)
                                        continue;
                                json_builder_set_member_name(b, name);
                                json_builder_add_value(b, json_node_ref(node));
                        }
                }
                json_builder_end_object(b);
                vtc_agent_chan_queue_json(request->chan, b, request->id);
        }
        vtc_agent_chan_request_done(request);
}

void
vtc_agent_chan_request_return_error(VtcAgentChanRequest *request, const GError *error)
{
        if (request->chan != NULL)
                vtc_agent_chan_queue_error(request->chan, request->id, error);
        vtc_agent_chan_request_done(request);
}

/* ---- requests -------------------------------------------------------------------------- */

static void
vtc_agent_chan_handle(VtcAgentChan *self, GBytes *payload)
{
        VtcJsonLimits limits = {VTC_AGENT_CHAN_MAX_REQUEST, 8, 4096, 64};
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj = NULL;
        gint64 id = 0;
        const gchar *op;
        VtcAgentChanRequest *request;

        if (g_bytes_get_size(payload) > VTC_AGENT_CHAN_MAX_REQUEST) {
                g_set_error(&error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "a request of %" G_GSIZE_FORMAT " bytes is over the limit of %u",
                            g_bytes_get_size(payload),
                            (guint)VTC_AGENT_CHAN_MAX_REQUEST);
                self->stats.garbled++;
                vtc_agent_chan_queue_error(self, 0, error);
                return;
        }
        obj = vtc_json_parse_object(g_bytes_get_data(payload, NULL),
                                    g_bytes_get_size(payload),
                                    &limits,
                                    &error);
        if (obj == NULL || !vtc_json_get_int(obj, "id", 1, VTC_CHANNEL_MAX_ID, TRUE, &id, &error)) {
                self->stats.garbled++;
                vtc_agent_chan_queue_error(self, 0, error);
                return;
        }
        op = vtc_json_get_string(obj, "op", TRUE, &error);
        if (op == NULL) {
                vtc_agent_chan_queue_error(self, id, error);
                return;
        }
        request = g_new0(VtcAgentChanRequest, 1);
        request->chan = self;
        request->id = id;
        self->current = request;
        self->stats.requests++;
        self->handler(request, id, op, obj, self->user_data);
}

static void
vtc_agent_chan_process(VtcAgentChan *self)
{
        self->processing = TRUE;
        while (self->current == NULL && !g_queue_is_empty(&self->in)) {
                g_autoptr(GBytes) payload = g_queue_pop_head(&self->in);

                vtc_agent_chan_handle(self, payload);
        }
        self->processing = FALSE;
}

static void
vtc_agent_chan_drain_decoder(VtcAgentChan *self)
{
        for (;;) {
                g_autofree gchar *payload = NULL;
                gsize len = 0;
                g_autoptr(GError) error = NULL;

                if (!vtc_channel_decoder_next(self->decoder, &payload, &len, &error)) {
                        if (error == NULL)
                                return;
                        self->stats.garbled++;
                        vtc_agent_chan_queue_error(self, 0, error);
                        continue;
                }
                g_queue_push_tail(&self->in, g_bytes_new_take(g_steal_pointer(&payload), len));
        }
}

/* ---- the connection -------------------------------------------------------------------- */

static void
vtc_agent_chan_clear_watch(VtcAgentChan *self)
{
        if (self->watch != 0)
                g_source_remove(self->watch);
        self->watch = 0;
        self->watch_cond = 0;
}

static gboolean vtc_agent_chan_listen_cb(gint fd, GIOCondition cond, gpointer user_data);

static gboolean
vtc_agent_chan_backoff_cb(gpointer user_data)
{
        VtcAgentChan *self = user_data;

        self->backoff = 0;
        vtc_agent_chan_update(self);
        return G_SOURCE_REMOVE;
}

/* The client left (socket), or there is none (port): forget its half-sent frame. */
static void
vtc_agent_chan_disconnected(VtcAgentChan *self)
{
        self->stats.eofs++;
        vtc_agent_chan_clear_watch(self);
        vtc_channel_decoder_free(self->decoder);
        self->decoder = vtc_channel_decoder_new();
        g_queue_clear_full(&self->in, (GDestroyNotify)g_bytes_unref);
        if (self->socket_mode) {
                /* its answers have nowhere to go */
                g_queue_clear_full(&self->out, (GDestroyNotify)g_bytes_unref);
                self->out_offset = 0;
                close(self->fd);
                self->fd = -1;
                self->listen_watch =
                    g_unix_fd_add(self->listen_fd, G_IO_IN, vtc_agent_chan_listen_cb, self);
                return;
        }
        /* a virtio port keeps reading EOF until a host connects: look again later. Pending
         * answers stay: the port hands them to the next client, which matches them by id. */
        if (self->backoff == 0)
                self->backoff = g_timeout_add(self->idle_ms, vtc_agent_chan_backoff_cb, self);
}

static gboolean
vtc_agent_chan_write(VtcAgentChan *self)
{
        while (!g_queue_is_empty(&self->out)) {
                GBytes *head = g_queue_peek_head(&self->out);
                gsize len = 0;
                const guint8 *data = g_bytes_get_data(head, &len);
                ssize_t n = send(self->fd,
                                 data + self->out_offset,
                                 len - self->out_offset,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && errno == ENOTSOCK)
                        n = write(self->fd, data + self->out_offset, len - self->out_offset);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return TRUE;
                if (n <= 0)
                        return FALSE;
                self->out_offset += (gsize)n;
                if (self->out_offset == len) {
                        g_bytes_unref(g_queue_pop_head(&self->out));
                        self->out_offset = 0;
                }
        }
        return TRUE;
}

/* FALSE: EOF or a read error */
static gboolean
vtc_agent_chan_read(VtcAgentChan *self)
{
        guint8 buf[VTC_AGENT_CHAN_READ_SIZE];
        ssize_t n;

        do {
                n = read(self->fd, buf, sizeof(buf));
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return TRUE;
        if (n <= 0)
                return FALSE;
        vtc_channel_decoder_feed(self->decoder, buf, (gsize)n);
        vtc_agent_chan_drain_decoder(self);
        vtc_agent_chan_process(self);
        return TRUE;
}

static gboolean
vtc_agent_chan_fd_cb(gint fd, GIOCondition cond, gpointer user_data)
{
        VtcAgentChan *self = user_data;
        GIOCondition wanted = self->watch_cond;
        gboolean alive = TRUE;

        self->stats.wakeups++;
        /* the source goes; vtc_agent_chan_update() makes the one the new state wants */
        self->watch = 0;
        self->watch_cond = 0;
        if ((wanted & G_IO_IN) != 0 && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0)
                alive = vtc_agent_chan_read(self);
        else if ((wanted & G_IO_OUT) != 0 && (cond & G_IO_OUT) != 0)
                alive = vtc_agent_chan_write(self);
        else if ((cond & (G_IO_HUP | G_IO_ERR)) != 0)
                alive = FALSE;
        if (!alive)
                vtc_agent_chan_disconnected(self);
        vtc_agent_chan_update(self);
        return G_SOURCE_REMOVE;
}

/* Watches the fd for what the state needs: output first, then the next request once idle. */
static void
vtc_agent_chan_update(VtcAgentChan *self)
{
        GIOCondition cond = 0;

        if (self->fd < 0 || self->backoff != 0) {
                vtc_agent_chan_clear_watch(self);
                return;
        }
        if (!g_queue_is_empty(&self->out))
                cond = G_IO_OUT;
        else if (self->current == NULL && g_queue_is_empty(&self->in))
                cond = G_IO_IN;
        if (cond == self->watch_cond && self->watch != 0)
                return;
        vtc_agent_chan_clear_watch(self);
        if (cond == 0)
                return;
        self->watch = g_unix_fd_add(self->fd, cond, vtc_agent_chan_fd_cb, self);
        self->watch_cond = cond;
}

static gboolean
vtc_agent_chan_listen_cb(gint fd, GIOCondition cond, gpointer user_data)
{
        VtcAgentChan *self = user_data;
        int client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (client < 0)
                return G_SOURCE_CONTINUE;
        self->stats.clients++;
        self->fd = client;
        /* one client at a time, as a virtio port: the next waits in the backlog */
        self->listen_watch = 0;
        vtc_agent_chan_update(self);
        return G_SOURCE_REMOVE;
}

/* ---- set-up ---------------------------------------------------------------------------- */

gchar *
vtc_agent_chan_find_port(const gchar *sysfs_dir,
                         const gchar *dev_dir,
                         const gchar *name,
                         GError **error)
{
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GError) error_local = NULL;
        const gchar *entry;

        dir = g_dir_open(sysfs_dir, 0, &error_local);
        if (dir == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no virtio port '%s': %s (is virtio_console loaded?)",
                            name,
                            error_local->message);
                return NULL;
        }
        while ((entry = g_dir_read_name(dir)) != NULL) {
                g_autofree gchar *path = g_build_filename(sysfs_dir, entry, "name", NULL);
                g_autoptr(GBytes) text = vtc_file_read(path, 256, NULL);
                g_autofree gchar *got = NULL;

                if (text == NULL)
                        continue;
                got = g_strndup(g_bytes_get_data(text, NULL), g_bytes_get_size(text));
                g_strstrip(got);
                if (g_strcmp0(got, name) == 0)
                        return g_build_filename(dev_dir, entry, NULL);
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_NOT_FOUND,
                    "no virtio port named '%s' under %s (does the domain have the channel?)",
                    name,
                    sysfs_dir);
        return NULL;
}

static int
vtc_agent_chan_listen(const gchar *path, GError **error)
{
        vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "socket path %s is too long",
                            path);
                return -1;
        }
        if (fd < 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "socket: %s", g_strerror(errno));
                return -1;
        }
        /* a socket left by a previous run; anything else at the path is not ours to remove */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(path);
        memcpy(sa.sun_path, path, strlen(path));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "listening on %s: %s",
                            path,
                            g_strerror(errno));
                return -1;
        }
        return g_steal_fd(&fd);
}

VtcAgentChan *
vtc_agent_chan_new(const VtcAgentChanOptions *options,
                   VtcAgentChanHandler handler,
                   gpointer user_data,
                   GError **error)
{
        g_autoptr(VtcAgentChan) self = g_new0(VtcAgentChan, 1);

        self->listen_fd = -1;
        self->fd = -1;
        self->handler = handler;
        self->user_data = user_data;
        self->idle_ms = options->idle_ms != 0 ? options->idle_ms : VTC_AGENT_CHAN_IDLE_MS_DEFAULT;
        self->decoder = vtc_channel_decoder_new();
        g_queue_init(&self->in);
        g_queue_init(&self->out);
        if (options->port_fd >= 0) {
                self->path = g_strdup_printf("fd %d", options->port_fd);
                self->fd = options->port_fd;
                if (fcntl(self->fd, F_SETFL, fcntl(self->fd, F_GETFL) | O_NONBLOCK) < 0) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "fcntl: %s", g_strerror(errno));
                        return NULL;
                }
        } else if (options->socket_path != NULL && options->socket_path[0] != '\0') {
                self->socket_mode = TRUE;
                self->path = g_strdup(options->socket_path);
                self->listen_fd = vtc_agent_chan_listen(self->path, error);
                if (self->listen_fd < 0)
                        return NULL;
                self->listen_watch =
                    g_unix_fd_add(self->listen_fd, G_IO_IN, vtc_agent_chan_listen_cb, self);
        } else {
                const gchar *name = options->port_name != NULL && options->port_name[0] != '\0'
                                        ? options->port_name
                                        : VTC_AGENT_CHAN_PORT_NAME_DEFAULT;

                self->path = vtc_agent_chan_find_port(
                    options->sysfs_dir != NULL ? options->sysfs_dir : VTC_AGENT_CHAN_SYSFS_DEFAULT,
                    options->dev_dir != NULL ? options->dev_dir : "/dev",
                    name,
                    error);
                if (self->path == NULL)
                        return NULL;
                self->fd = open(self->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (self->fd < 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    errno == ENOENT ? VTC_ERROR_NOT_FOUND : VTC_ERROR_IO,
                                    "opening the virtio port %s: %s",
                                    self->path,
                                    g_strerror(errno));
                        return NULL;
                }
        }
        vtc_agent_chan_update(self);
        return g_steal_pointer(&self);
}

void
vtc_agent_chan_free(VtcAgentChan *self)
{
        if (self == NULL)
                return;
        if (self->current != NULL)
                self->current->chan = NULL;
        vtc_agent_chan_clear_watch(self);
        if (self->backoff != 0)
                g_source_remove(self->backoff);
        if (self->listen_watch != 0)
                g_source_remove(self->listen_watch);
        if (self->fd >= 0)
                close(self->fd);
        if (self->listen_fd >= 0) {
                close(self->listen_fd);
                unlink(self->path);
        }
        vtc_channel_decoder_free(self->decoder);
        g_queue_clear_full(&self->in, (GDestroyNotify)g_bytes_unref);
        g_queue_clear_full(&self->out, (GDestroyNotify)g_bytes_unref);
        g_free(self->path);
        g_free(self);
}

const gchar *
vtc_agent_chan_get_path(VtcAgentChan *self)
{
        return self->path;
}

void
vtc_agent_chan_get_stats(VtcAgentChan *self, VtcAgentChanStats *out)
{
        *out = self->stats;
}
