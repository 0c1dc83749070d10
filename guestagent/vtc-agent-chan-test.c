/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vtc-agent-chan.h"
#include "vtc-agent-test-util.h"

/* ---- a handler that needs no TPM: "echo" answers at once, "slow" after 50 ms ------------ */

typedef struct {
        VtcAgentChanRequest *request;
        gchar *x;
} SlowCall;

static gboolean
slow_cb(gpointer data)
{
        SlowCall *c = data;
        g_autoptr(JsonObject) o = json_object_new();

        json_object_set_string_member(o, "x", c->x);
        vtc_agent_chan_request_return(c->request, o);
        g_free(c->x);
        g_free(c);
        return G_SOURCE_REMOVE;
}

static void
handler(VtcAgentChanRequest *request,
        gint64 id,
        const gchar *op,
        JsonObject *body,
        gpointer user_data)
{
        const gchar *x = vtc_json_get_string(body, "x", FALSE, NULL);
        g_autoptr(GError) error = NULL;

        if (g_strcmp0(op, "echo") == 0) {
                g_autoptr(JsonObject) o = json_object_new();

                json_object_set_string_member(o, "x", x != NULL ? x : "");
                vtc_agent_chan_request_return(request, o);
        } else if (g_strcmp0(op, "slow") == 0) {
                SlowCall *c = g_new0(SlowCall, 1);

                c->request = request;
                c->x = g_strdup(x != NULL ? x : "");
                g_timeout_add(50, slow_cb, c);
        } else {
                g_set_error(&error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED, "unknown op '%s'", op);
                vtc_agent_chan_request_return_error(request, error);
        }
}

/* ---- a client ----------------------------------------------------------------------------- */

typedef struct {
        int fd;
        VtcChannelDecoder *dec;
} Client;

static Client *
client_connect(const gchar *path)
{
        Client *c = g_new0(Client, 1);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(c->fd, >=, 0);
        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        c->dec = vtc_channel_decoder_new();
        return c;
}

static Client *
client_new_fd(int fd)
{
        Client *c = g_new0(Client, 1);

        c->fd = fd;
        c->dec = vtc_channel_decoder_new();
        return c;
}

static void
client_free(Client *c)
{
        if (c->fd >= 0)
                close(c->fd);
        vtc_channel_decoder_free(c->dec);
        g_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

static void
client_send_raw(Client *c, const void *data, gsize len)
{
        const guint8 *p = data;

        while (len > 0) {
                ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        g_main_context_iteration(NULL, FALSE);
                        continue;
                }
                g_assert_cmpint(n, >, 0);
                p += n;
                len -= (gsize)n;
        }
}

static void
client_send(Client *c, const gchar *json)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = vtc_channel_frame_encode(json, strlen(json), &error);

        g_assert_no_error(error);
        client_send_raw(c, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
}

/* The next answer, or NULL when none comes within @ms while the loop runs. */
static JsonObject *
client_recv(Client *c, guint ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;
        VtcJsonLimits limits = {VTC_CHANNEL_MAX_PAYLOAD, 16, VTC_CHANNEL_MAX_PAYLOAD, 1000};

        while (g_get_monotonic_time() < deadline) {
                g_autofree gchar *payload = NULL;
                gsize len = 0;
                g_autoptr(GError) error = NULL;
                guint8 buf[65536];
                ssize_t n;

                if (vtc_channel_decoder_next(c->dec, &payload, &len, &error)) {
                        JsonObject *o = vtc_json_parse_object(payload, len, &limits, &error);

                        g_assert_no_error(error);
                        return o;
                }
                g_assert_no_error(error);
                n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n > 0) {
                        vtc_channel_decoder_feed(c->dec, buf, (gsize)n);
                        continue;
                }
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
        return NULL;
}

static void
assert_answer(JsonObject *o, gint64 id, const gchar *x_or_error)
{
        g_assert_nonnull(o);
        g_assert_cmpint(json_object_get_int_member(o, "id"), ==, id);
        if (json_object_get_boolean_member(o, "ok"))
                g_assert_cmpstr(json_object_get_string_member(o, "x"), ==, x_or_error);
        else
                g_assert_cmpstr(json_object_get_string_member(o, "error"), ==, x_or_error);
}

#define EXPECT(c, id, what)                                        \
        do {                                                       \
                g_autoptr(JsonObject) _o = client_recv((c), 5000); \
                assert_answer(_o, (id), (what));                   \
        } while (0)

/* ---- tests -------------------------------------------------------------------------------- */

typedef struct {
        gchar *dir;
        gchar *path;
        VtcAgentChan *chan;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
        VtcAgentChanOptions o = {.port_fd = -1};
        g_autoptr(GError) error = NULL;

        f->dir = vtc_test_tmpdir_new();
        f->path = g_build_filename(f->dir, "agent.sock", NULL);
        o.socket_path = f->path;
        f->chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(vtc_agent_chan_get_path(f->chan), ==, f->path);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
        vtc_agent_chan_free(f->chan);
        /* the socket goes with the channel */
        g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
        vtc_test_tmpdir_free(f->dir);
        g_free(f->path);
}

static void
test_requests(Fixture *f, gconstpointer data)
{
        g_autoptr(Client) c = client_connect(f->path);
        g_autofree gchar *big = NULL;
        g_autofree gchar *big_json = NULL;
        VtcAgentChanStats st;

        client_send(c, "{\"id\": 5, \"op\": \"echo\", \"x\": \"a\"}");
        EXPECT(c, 5, "a");
        /* unreadable requests: id 0 */
        client_send(c, "[1, 2]");
        EXPECT(c, 0, "invalid_data");
        client_send(c, "{\"op\": \"echo\"}");
        EXPECT(c, 0, "invalid_data");
        client_send(c, "{\"id\": 0, \"op\": \"echo\"}");
        EXPECT(c, 0, "invalid_data");
        client_send(c, "{\"id\": 9007199254740993, \"op\": \"echo\"}");
        EXPECT(c, 0, "invalid_data");
        client_send(c, "{\"id\": \"7\", \"op\": \"echo\"}");
        EXPECT(c, 0, "invalid_data");
        client_send(c,
                    "{\"id\": 7, \"op\": \"echo\", \"x\": {\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
                    "{\"a\":{\"a\":{\"a\":1}}}}}}}}}");
        EXPECT(c, 0, "too_large");
        /* readable but wrong: the id is answered */
        client_send(c, "{\"id\": 8, \"op\": 3}");
        EXPECT(c, 8, "invalid_data");
        client_send(c, "{\"id\": 9, \"op\": \"dance\"}");
        EXPECT(c, 9, "not_supported");
        /* a frame that is fine but a request that is too big to be one */
        big = g_strnfill(100 * 1024, 'z');
        big_json = g_strdup_printf("{\"id\": 10, \"op\": \"echo\", \"x\": \"%s\"}", big);
        client_send(c, big_json);
        EXPECT(c, 0, "too_large");
        client_send(c, "{\"id\": 11, \"op\": \"echo\", \"x\": \"still here\"}");
        EXPECT(c, 11, "still here");
        vtc_agent_chan_get_stats(f->chan, &st);
        g_assert_cmpuint(st.clients, ==, 1);
        g_assert_cmpuint(st.garbled, ==, 7);
}

static void
test_garbled(Fixture *f, gconstpointer data)
{
        g_autoptr(Client) c = client_connect(f->path);
        const guint8 oversize[] = {'V', 'T', 'C', '1', 0x7f, 0xff, 0xff, 0xff};
        const guint8 tiny[] = {'V', 'T', 'C', '1', 0, 0, 0, 1, '{'};

        /* garbage, then a good frame in the same write */
        client_send_raw(c, "GARBAGE!", 8);
        client_send(c, "{\"id\": 1, \"op\": \"echo\", \"x\": \"after garbage\"}");
        EXPECT(c, 0, "invalid_data");
        EXPECT(c, 1, "after garbage");
        /* a length over 16 MiB is refused without waiting for the bytes */
        client_send_raw(c, oversize, sizeof(oversize));
        client_send(c, "{\"id\": 2, \"op\": \"echo\", \"x\": \"after oversize\"}");
        EXPECT(c, 0, "too_large");
        EXPECT(c, 2, "after oversize");
        client_send_raw(c, tiny, sizeof(tiny));
        client_send(c, "{\"id\": 3, \"op\": \"echo\", \"x\": \"after tiny\"}");
        EXPECT(c, 0, "invalid_data");
        EXPECT(c, 3, "after tiny");
}

static void
test_pipelined(Fixture *f, gconstpointer data)
{
        g_autoptr(Client) c = client_connect(f->path);
        g_autoptr(GString) all = g_string_new(NULL);
        const gchar *reqs[] = {
            "{\"id\": 1, \"op\": \"slow\", \"x\": \"one\"}",
            "{\"id\": 2, \"op\": \"echo\", \"x\": \"two\"}",
            "{\"id\": 3, \"op\": \"slow\", \"x\": \"three\"}",
        };

        /* one write with three frames: answered one at a time, in order */
        for (guint i = 0; i < G_N_ELEMENTS(reqs); i++) {
                g_autoptr(GBytes) fr = vtc_channel_frame_encode(reqs[i], strlen(reqs[i]), NULL);

                g_string_append_len(all, g_bytes_get_data(fr, NULL), (gssize)g_bytes_get_size(fr));
        }
        client_send_raw(c, all->str, all->len);
        EXPECT(c, 1, "one");
        EXPECT(c, 2, "two");
        EXPECT(c, 3, "three");
}

static void
test_clients(Fixture *f, gconstpointer data)
{
        g_autoptr(Client) a = client_connect(f->path);
        g_autoptr(Client) b = NULL;
        g_autoptr(Client) c = NULL;
        g_autoptr(JsonObject) none = NULL;
        const guint8 half[] = {'V', 'T', 'C', '1', 0, 0, 0, 100, '{', '"'};
        VtcAgentChanStats st;

        client_send(a, "{\"id\": 1, \"op\": \"echo\", \"x\": \"a\"}");
        EXPECT(a, 1, "a");
        /* a second client waits until the first leaves, as on the virtio port */
        b = client_connect(f->path);
        client_send(b, "{\"id\": 2, \"op\": \"echo\", \"x\": \"b\"}");
        none = client_recv(b, 300);
        g_assert_null(none);
        /* the first leaves in the middle of a frame: that half is forgotten */
        client_send_raw(a, half, sizeof(half));
        client_recv(a, 100);
        g_clear_pointer(&a, client_free);
        EXPECT(b, 2, "b");
        g_clear_pointer(&b, client_free);
        c = client_connect(f->path);
        client_send(c, "{\"id\": 3, \"op\": \"echo\", \"x\": \"c\"}");
        EXPECT(c, 3, "c");
        vtc_agent_chan_get_stats(f->chan, &st);
        g_assert_cmpuint(st.clients, ==, 3);
        g_assert_cmpuint(st.eofs, ==, 2);
        g_assert_cmpuint(st.garbled, ==, 0);
}

static void
test_stale_socket(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "agent.sock", NULL);
        VtcAgentChanOptions o = {.port_fd = -1, .socket_path = path};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentChan) chan = NULL;
        g_autoptr(Client) c = NULL;

        /* a socket left by a killed agent is replaced */
        chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_no_error(error);
        {
                /* what a crash leaves: the socket file without its listener */
                g_autofree gchar *cmd = g_strdup_printf("cp -a '%s' '%s.keep'", path, path);
                g_assert_cmpint(system(cmd), ==, 0);
        }
        g_clear_pointer(&chan, vtc_agent_chan_free);
        {
                g_autofree gchar *keep = g_strdup_printf("%s.keep", path);
                g_assert_cmpint(rename(keep, path), ==, 0);
        }
        chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_no_error(error);
        c = client_connect(path);
        client_send(c, "{\"id\": 1, \"op\": \"echo\", \"x\": \"fresh\"}");
        EXPECT(c, 1, "fresh");
        g_clear_pointer(&c, client_free);
        g_clear_pointer(&chan, vtc_agent_chan_free);
        /* but not a file that is not a socket */
        g_assert_true(g_file_set_contents(path, "mine", -1, NULL));
        chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_null(chan);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

/* A port with no host client reads EOF and polls IN|HUP at once, for ever: a socket whose peer
 * is gone does exactly that. The agent must back off, not spin. */
static void
test_port_eof(void)
{
        int sv[2];
        VtcAgentChanOptions o = {.idle_ms = 50};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcAgentChan) chan = NULL;
        g_autoptr(Client) host = NULL;
        VtcAgentChanStats st;
        gint64 end;

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        o.port_fd = sv[0];
        chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_no_error(error);
        host = client_new_fd(sv[1]);
        client_send(host, "{\"id\": 1, \"op\": \"echo\", \"x\": \"port\"}");
        EXPECT(host, 1, "port");
        /* the host goes; half a frame it left is forgotten */
        client_send_raw(host, "VTC1", 4);
        g_clear_pointer(&host, client_free);
        end = g_get_monotonic_time() + G_USEC_PER_SEC;
        while (g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
        vtc_agent_chan_get_stats(chan, &st);
        /* about one look per 50 ms; a spinning loop would wake thousands of times */
        g_assert_cmpuint(st.eofs, >=, 5);
        g_assert_cmpuint(st.wakeups, <=, 40);
        g_assert_cmpuint(st.garbled, ==, 0);
}

static void
test_find_port(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *sysfs = g_build_filename(dir, "virtio-ports", NULL);
        const gchar *ports[][2] = {
            {"vport0p1", "org.qemu.guest_agent.0\n"},
            {"vport0p2", "org.vtc.agent.0\n"},
            {"vport1p1", "org.vtc.agent.00\n"},
        };
        g_autoptr(GError) error = NULL;
        g_autofree gchar *dev = NULL;
        g_autoptr(VtcAgentChan) chan = NULL;
        VtcAgentChanOptions o = {.port_fd = -1, .sysfs_dir = sysfs, .dev_dir = dir};

        for (guint i = 0; i < G_N_ELEMENTS(ports); i++) {
                g_autofree gchar *d = g_build_filename(sysfs, ports[i][0], NULL);
                g_autofree gchar *n = g_build_filename(d, "name", NULL);

                g_assert_cmpint(g_mkdir_with_parents(d, 0700), ==, 0);
                g_assert_true(g_file_set_contents(n, ports[i][1], -1, NULL));
        }
        dev = vtc_agent_chan_find_port(sysfs, "/dev", "org.vtc.agent.0", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(dev, ==, "/dev/vport0p2");
        g_clear_pointer(&dev, g_free);
        dev = vtc_agent_chan_find_port(sysfs, "/dev", "org.vtc.agent.1", &error);
        g_assert_null(dev);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        dev = vtc_agent_chan_find_port("/nonexistent/virtio-ports",
                                       "/dev",
                                       "org.vtc.agent.0",
                                       &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        /* found by name, but the device node is missing: not found either (no devtmpfs yet) */
        chan = vtc_agent_chan_new(&o, handler, NULL, &error);
        g_assert_null(chan);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, "vport0p2"));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/agent-chan/requests",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_requests,
                   fixture_teardown);
        g_test_add("/agent-chan/garbled",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_garbled,
                   fixture_teardown);
        g_test_add("/agent-chan/pipelined",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_pipelined,
                   fixture_teardown);
        g_test_add("/agent-chan/clients",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_clients,
                   fixture_teardown);
        g_test_add_func("/agent-chan/stale-socket", test_stale_socket);
        g_test_add_func("/agent-chan/port-eof", test_port_eof);
        g_test_add_func("/agent-chan/find-port", test_find_port);
        return g_test_run();
}
