/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vtc-hostd-proto.h"
#include "vtc-hostd-socket.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

typedef struct {
        gchar *dir;
        gchar *path;
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        VtcHostdSocket *sock;
        guint n_handled;
} Fixture;

/* answers with what it learnt of the caller, or later when asked to */
static gboolean
late_reply_cb(gpointer user_data)
{
        vtc_hostd_socket_reply(user_data, "{\"ok\":true,\"late\":true}");
        return G_SOURCE_REMOVE;
}

static void
handler(VtcHostdSocketRequest *req, gpointer user_data)
{
        Fixture *f = user_data;
        gsize len = 0;
        const guint8 *data = vtc_hostd_socket_request_get_data(req, &len);
        g_autofree gchar *answer = NULL;

        g_atomic_int_inc(&f->n_handled);
        if (len == 6 && memcmp(data, "{late}", 6) == 0) {
                GSource *src = g_timeout_source_new(50);
                g_source_set_callback(src, late_reply_cb, req, NULL);
                g_source_attach(src, g_main_context_get_thread_default());
                g_source_unref(src);
                return;
        }
        answer = g_strdup_printf("{\"ok\":true,\"uid\":%u,\"pid\":%d,\"len\":%" G_GSIZE_FORMAT "}",
                                 vtc_hostd_socket_request_get_uid(req),
                                 vtc_hostd_socket_request_get_pid(req),
                                 len);
        vtc_hostd_socket_reply(req, answer);
}

static gpointer
server_thread(gpointer data)
{
        Fixture *f = data;
        g_main_context_push_thread_default(f->ctx);
        g_main_loop_run(f->loop);
        g_main_context_pop_thread_default(f->ctx);
        return NULL;
}

static void
setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;

        f->dir = vtc_test_tmpdir_new();
        f->path = g_build_filename(f->dir, "hostd.sock", NULL);
        f->ctx = g_main_context_new();
        f->loop = g_main_loop_new(f->ctx, FALSE);
        g_main_context_push_thread_default(f->ctx);
        f->sock = vtc_hostd_socket_new(f->path, 0660, -1, handler, f, &error);
        g_main_context_pop_thread_default(f->ctx);
        g_assert_no_error(error);
        f->thread = g_thread_new("server", server_thread, f);
}

static gboolean
quit_cb(gpointer user_data)
{
        Fixture *f = user_data;
        vtc_hostd_socket_free(f->sock);
        g_main_loop_quit(f->loop);
        return G_SOURCE_REMOVE;
}

static void
teardown(Fixture *f, gconstpointer user_data)
{
        GSource *s = g_idle_source_new();

        g_source_set_callback(s, quit_cb, f, NULL);
        g_source_attach(s, f->ctx);
        g_source_unref(s);
        g_thread_join(f->thread);
        g_main_loop_unref(f->loop);
        g_main_context_unref(f->ctx);
        g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
        g_free(f->path);
        vtc_test_tmpdir_free(f->dir);
}

static void
vtc_hostd_socket_call_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) answer =
            vtc_hostd_proto_call(f->path, "{\"op\":\"x\"}", 10, 5000, &error);
        g_autofree gchar *expect = g_strdup_printf("{\"ok\":true,\"uid\":%u,\"pid\":%d,\"len\":10}",
                                                   (guint)getuid(),
                                                   (gint)getpid());
        GStatBuf st;

        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(answer, NULL),
                        g_bytes_get_size(answer),
                        expect,
                        strlen(expect));
        /* the mode asked for */
        g_assert_cmpint(g_stat(f->path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0660);
}

static void
vtc_hostd_socket_late_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) answer =
            vtc_hostd_proto_call(f->path, "{late}", strlen("{late}"), 5000, &error);

        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(answer, NULL),
                        g_bytes_get_size(answer),
                        "{\"ok\":true,\"late\":true}",
                        23);
        /* and a deadline shorter than the handler's delay times out cleanly */
        g_clear_pointer(&answer, g_bytes_unref);
        answer = vtc_hostd_proto_call(f->path, "{late}", strlen("{late}"), 10, &error);
        g_assert_null(answer);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT);
}

static void
vtc_hostd_socket_bad_frames_test(Fixture *f, gconstpointer user_data)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        guint8 big[4] = {0x7f, 0xff, 0xff, 0xff};
        guint8 buf[256];
        ssize_t n;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) answer = NULL;

        memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
        {
                /* an oversized frame is refused with a framed error, unread */
                vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
                g_assert_cmpint(write(fd, big, 4), ==, 4);
                /* the answer may come in pieces: read to the end */
                n = 0;
                for (;;) {
                        ssize_t r = read(fd, buf + n, sizeof(buf) - (gsize)n);
                        g_assert_cmpint(r, >=, 0);
                        if (r == 0)
                                break;
                        n += r;
                }
                g_assert_cmpint(n, >, 4);
                g_assert_nonnull(g_strstr_len((gchar *)buf + 4, n - 4, "too_large"));
        }
        {
                /* a peer that sends half a header and leaves: nothing to answer, no crash */
                vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
                g_assert_cmpint(write(fd, big, 2), ==, 2);
        }
        {
                /* a header promising more than is sent, then EOF */
                guint8 hdr[4] = {0, 0, 0, 100};
                vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
                g_assert_cmpint(write(fd, hdr, 4), ==, 4);
                g_assert_cmpint(write(fd, "{}", 2), ==, 2);
                shutdown(fd, SHUT_WR);
                g_assert_cmpint(read(fd, buf, sizeof(buf)), ==, 0);
        }
        /* the server still serves */
        answer = vtc_hostd_proto_call(f->path, "{}", strlen("{}"), 5000, &error);
        g_assert_no_error(error);
        g_assert_nonnull(answer);
}

static void
vtc_hostd_socket_unreachable_test(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) answer =
            vtc_hostd_proto_call("/nonexistent/hostd.sock", "{}", strlen("{}"), 100, &error);

        g_assert_null(answer);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/hostd-socket/call",
                   Fixture,
                   NULL,
                   setup,
                   vtc_hostd_socket_call_test,
                   teardown);
        g_test_add("/hostd-socket/late",
                   Fixture,
                   NULL,
                   setup,
                   vtc_hostd_socket_late_test,
                   teardown);
        g_test_add("/hostd-socket/bad-frames",
                   Fixture,
                   NULL,
                   setup,
                   vtc_hostd_socket_bad_frames_test,
                   teardown);
        g_test_add_func("/hostd-socket/unreachable", vtc_hostd_socket_unreachable_test);
        return g_test_run();
}
