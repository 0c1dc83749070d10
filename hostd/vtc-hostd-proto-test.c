/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/core_names.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <json-glib/json-glib.h>

#include "vtc-error.h"
#include "vtc-hostd-proto.h"
#include "vtc-test-common.h"

#define UUID1  "6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c"
#define SECRET "0b7a1f7e-6c1d-4b8e-9a57-3f2d4c5b6a79"

/* What libvirt 9.0 hands the hook at 'prepare' (inactive definition, as `virsh dumpxml`
 * formats it): no id, no channel path yet. */
static const gchar *const xml_inactive = "<domain type='qemu'>\n"
                                         "  <name>guest1</name>\n"
                                         "  <uuid>" UUID1 "</uuid>\n"
                                         "  <memory unit='KiB'>131072</memory>\n"
                                         "  <currentMemory unit='KiB'>131072</currentMemory>\n"
                                         "  <vcpu placement='static'>1</vcpu>\n"
                                         "  <os>\n"
                                         "    <type arch='x86_64' machine='pc'>hvm</type>\n"
                                         "    <boot dev='hd'/>\n"
                                         "  </os>\n"
                                         "  <clock offset='utc'/>\n"
                                         "  <on_poweroff>destroy</on_poweroff>\n"
                                         "  <devices>\n"
                                         "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                                         "    <controller type='virtio-serial' index='0'/>\n"
                                         "    <channel type='unix'>\n"
                                         "      <target type='virtio' name='org.vtc.agent.0'/>\n"
                                         "    </channel>\n"
                                         "    <tpm model='tpm-crb'>\n"
                                         "      <backend type='emulator' version='2.0'>\n"
                                         "        <encryption secret='" SECRET "'/>\n"
                                         "      </backend>\n"
                                         "    </tpm>\n"
                                         "  </devices>\n"
                                         "</domain>\n";

/* The live XML at 'started': id, aliases, addresses, and the channel's host path (the layout
 * libvirt 9.0 uses: channel/target/domain-<id>-<name>/<target name>). A second, unrelated
 * channel and a guest agent channel come first; metadata holds look-alike elements that must not
 * be taken for the domain's own. */
static const gchar *const xml_live =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<!-- WARNING: THIS IS AN AUTO-GENERATED FILE. -->\n"
    "<domain type='qemu' id='5' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
    "  <name>guest1</name>\n"
    "  <uuid>6F1C2B3A-1D2E-4F5A-8B9C-0D1E2F3A4B5C</uuid>\n"
    "  <metadata>\n"
    "    <my:app xmlns:my='http://example.org/'><uuid>00000000-0000-0000-0000-000000000000</uuid>"
    "<devices><tpm><backend type='emulator'/></tpm></devices></my:app>\n"
    "  </metadata>\n"
    "  <memory unit='KiB'>131072</memory>\n"
    "  <resource><partition>/machine</partition></resource>\n"
    "  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <controller type='virtio-serial' index='0'>\n"
    "      <alias name='virtio-serial0'/>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n"
    "    </controller>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' "
    "path='/var/lib/libvirt/qemu/channel/target/domain-5-guest1/org.qemu.guest_agent.0'/>\n"
    "      <target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/>\n"
    "      <alias name='channel0'/>\n"
    "    </channel>\n"
    "    <channel type='pty'>\n"
    "      <source path='/dev/pts/3'/>\n"
    "      <target type='virtio' name='org.vtc.agent.0'/>\n"
    "    </channel>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' "
    "path='/var/lib/libvirt/qemu/channel/target/domain-5-guest1/org.vtc.agent.0'/>\n"
    "      <target type='virtio' name='org.vtc.agent.0' state='connected'/>\n"
    "      <alias name='channel1'/>\n"
    "      <address type='virtio-serial' controller='0' bus='0' port='2'/>\n"
    "    </channel>\n"
    "    <tpm model='tpm-crb'>\n"
    "      <backend type='emulator' version='2.0'>\n"
    "        <encryption secret='" SECRET "'/>\n"
    "      </backend>\n"
    "      <alias name='tpm0'/>\n"
    "    </tpm>\n"
    "  </devices>\n"
    "  <seclabel type='dynamic' model='dac' relabel='yes'>\n"
    "    <label>+64055:+994</label>\n"
    "  </seclabel>\n"
    "  <qemu:commandline><qemu:arg value='-S'/></qemu:commandline>\n"
    "</domain>\n";

static const gchar *const xml_no_tpm =
    "<domain type='kvm'><name>plain</name><uuid>" UUID1 "</uuid>"
    "<devices><disk type='file' device='disk'><source file='/x.img'/></disk></devices></domain>";

/* --ek strings exactly as swtpm_setup 0.7.1 passed them to its create_certs_tool (captured with
 * a recording tool in place of vtc-vtpm-certify): the RSA-2048 EK and the ECC P-384 EK. */
static const gchar *const swtpm_ek_rsa =
    "9b503a497b28a9b6f55111a69ad7a5c9c43acd129e9dcf3ec9a876eaaac7c3328eb12783eb0c86c9"
    "e9266e5926b23ac3696cecac06922a43400763d790b042de367b9d40823c8ce7dc4f305fc25fa7d0"
    "c85288e0c9522dea62ca82cbdf35fb68f04673ad3397efe2ef69f0b6522333c4ccf0638a9a195277"
    "f5690732e3c2d7bb56d869cb62f322c564d49d0795072fcd9b41b6b17e420a14bc0fe20caf39bf5b"
    "196554737dc48f0b2e96280b6d70f38691e8d543a99ec7a463052bf3d5a9cddbc10b3dcfa6d3f5bd"
    "8a08efa82cd7f4b3a8b9b3cac9dc3a84fe7bc479f3f48c7cfc19023126ef9325e38b3f8cdd8b0b6e"
    "fb90a4d4f5d4917d3912b4dac30ed8b1";
static const gchar *const swtpm_ek_ecc =
    "x=3aa15363630a5a64b71132ab7e8dd25ac29ecbacb846fc47a7b2f37a48b1e4286b547dc4b933db"
    "50eb31670d240ef6df,y=a7485228a6b329f5e424caf4ef614766895d7715562ef968669f3df933c"
    "afe947e994dd478238e8fd47b3a67ccdd21d2,id=secp384r1";

/* ------------------------------------------------------------------------------------------ */
/* Framing */

static void
test_header(void)
{
        const guint8 zero[4] = {0, 0, 0, 0};
        const guint8 one[4] = {0, 0, 0, 1};
        const guint8 max[4] = {0, 0x10, 0, 0};
        const guint8 over[4] = {0, 0x10, 0, 1};
        const guint8 huge[4] = {0xff, 0xff, 0xff, 0xff};
        gsize n = 77;
        g_autoptr(GError) error = NULL;

        g_assert_true(vtc_hostd_proto_header_parse(one, 4, &n, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(n, ==, 1);
        g_assert_true(vtc_hostd_proto_header_parse(max, 4, &n, &error));
        g_assert_cmpuint(n, ==, 1024 * 1024);

        n = 77;
        g_assert_false(vtc_hostd_proto_header_parse(zero, 4, &n, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_false(vtc_hostd_proto_header_parse(over, 4, &n, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        g_assert_false(vtc_hostd_proto_header_parse(huge, 4, &n, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        g_assert_false(vtc_hostd_proto_header_parse(one, 3, &n, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_cmpuint(n, ==, 77); /* untouched on failure */
}

static void
test_frame(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = vtc_hostd_proto_frame_new("{\"ok\":true}", 11, &error);
        g_autoptr(GBytes) payload = NULL;
        g_autofree gchar *big = g_malloc0(1024 * 1024 + 1);
        const guint8 *buf;
        gsize len = 0;

        g_assert_no_error(error);
        buf = g_bytes_get_data(frame, &len);
        g_assert_cmpuint(len, ==, 15);
        g_assert_cmpmem(buf, 4, "\0\0\0\x0b", 4);
        payload = vtc_hostd_proto_frame_parse(buf, len, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(payload, NULL),
                        g_bytes_get_size(payload),
                        "{\"ok\":true}",
                        11);

        /* every length short of the whole frame, and one byte too many */
        for (gsize i = 0; i < len; i++) {
                g_autoptr(GBytes) p = vtc_hostd_proto_frame_parse(buf, i, &error);
                g_assert_null(p);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
        {
                g_autofree guint8 *longer = g_malloc0(len + 1);
                g_autoptr(GBytes) p = NULL;
                memcpy(longer, buf, len);
                p = vtc_hostd_proto_frame_parse(longer, len + 1, &error);
                g_assert_null(p);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "announces 11 bytes but 12 follow"));
                g_clear_error(&error);
        }

        /* the limits on the sending side */
        g_assert_null(vtc_hostd_proto_frame_new("", 0, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        memset(big, 'a', 1024 * 1024);
        g_assert_null(vtc_hostd_proto_frame_new(big, 1024 * 1024 + 1, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        {
                g_autoptr(GBytes) f = vtc_hostd_proto_frame_new(big, 1024 * 1024, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(g_bytes_get_size(f), ==, 1024 * 1024 + 4);
        }
}

typedef struct {
        int fd;
        const gchar *data;
        gsize len;
        gboolean ok;
} WriterArgs;

static gpointer
writer_thread(gpointer user_data)
{
        WriterArgs *w = user_data;
        g_autoptr(GError) error = NULL;

        w->ok = vtc_hostd_proto_write_frame(w->fd,
                                            w->data,
                                            w->len,
                                            g_get_monotonic_time() + 10 * G_USEC_PER_SEC,
                                            &error);
        g_assert_no_error(error);
        return NULL;
}

static void
socketpair_new(int sv[2])
{
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
}

static void
test_socketpair_roundtrip(void)
{
        int sv[2];
        g_autofree gchar *big = g_malloc(1024 * 1024);
        WriterArgs w = {0};
        GThread *thread;
        g_autoptr(GBytes) got = NULL;
        g_autoptr(GError) error = NULL;

        /* the largest payload, written while the other end reads (more than a socket buffer) */
        for (gsize i = 0; i < 1024 * 1024; i++)
                big[i] = (gchar)('a' + i % 26);
        socketpair_new(sv);
        w = (WriterArgs){sv[0], big, 1024 * 1024, FALSE};
        thread = g_thread_new("writer", writer_thread, &w);
        got =
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + 10 * G_USEC_PER_SEC, &error);
        g_thread_join(thread);
        g_assert_no_error(error);
        g_assert_true(w.ok);
        g_assert_cmpmem(g_bytes_get_data(got, NULL), g_bytes_get_size(got), big, 1024 * 1024);
        /* documented: a NUL follows the payload */
        g_assert_cmpint(((const gchar *)g_bytes_get_data(got, NULL))[1024 * 1024], ==, '\0');
        close(sv[0]);
        close(sv[1]);
}

static void
test_read_errors(void)
{
        g_autoptr(GError) error = NULL;
        gint64 t0;
        int sv[2];

        /* closed before anything came */
        socketpair_new(sv);
        close(sv[0]);
        g_assert_null(
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + G_USEC_PER_SEC, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_assert_nonnull(strstr(error->message, "closed without an answer"));
        g_clear_error(&error);
        close(sv[1]);

        /* closed inside the header */
        socketpair_new(sv);
        g_assert_cmpint(write(sv[0], "\0\0", 2), ==, 2);
        close(sv[0]);
        g_assert_null(
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + G_USEC_PER_SEC, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_assert_nonnull(strstr(error->message, "after 2 of 4 bytes of the message header"));
        g_clear_error(&error);
        close(sv[1]);

        /* closed inside the body */
        socketpair_new(sv);
        g_assert_cmpint(write(sv[0], "\0\0\0\x0a{\"ok\"", 9), ==, 9);
        close(sv[0]);
        g_assert_null(
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + G_USEC_PER_SEC, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_assert_nonnull(strstr(error->message, "after 5 of 10 bytes of the message body"));
        g_clear_error(&error);
        close(sv[1]);

        /* an oversized announcement is refused before any body is read or allocated */
        socketpair_new(sv);
        g_assert_cmpint(write(sv[0], "\x7f\xff\xff\xff", 4), ==, 4);
        g_assert_null(
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + G_USEC_PER_SEC, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        /* a zero length */
        close(sv[0]);
        close(sv[1]);
        socketpair_new(sv);
        g_assert_cmpint(write(sv[0], "\0\0\0\0", 4), ==, 4);
        g_assert_null(
            vtc_hostd_proto_read_frame(sv[1], g_get_monotonic_time() + G_USEC_PER_SEC, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);

        /* nothing comes: the deadline holds, on a blocking socket too */
        t0 = g_get_monotonic_time();
        g_assert_null(vtc_hostd_proto_read_frame(sv[1], t0 + 200 * 1000, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        g_clear_error(&error);
        g_assert_cmpint(g_get_monotonic_time() - t0, >=, 190 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);

        /* half a body, then silence */
        g_assert_cmpint(write(sv[0], "\0\0\0\x0a{\"ok\"", 9), ==, 9);
        t0 = g_get_monotonic_time();
        g_assert_null(vtc_hostd_proto_read_frame(sv[1], t0 + 100 * 1000, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        g_clear_error(&error);
        close(sv[0]);
        close(sv[1]);
}

static void
test_write_errors(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *big = g_malloc0(1024 * 1024);
        gint64 t0;
        int sv[2];

        /* the peer is gone: an error, not SIGPIPE */
        socketpair_new(sv);
        close(sv[1]);
        g_assert_false(vtc_hostd_proto_write_frame(sv[0],
                                                   "{}",
                                                   2,
                                                   g_get_monotonic_time() + G_USEC_PER_SEC,
                                                   &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_clear_error(&error);
        close(sv[0]);

        /* the peer never reads: the deadline holds */
        socketpair_new(sv);
        memset(big, 'x', 1024 * 1024);
        t0 = g_get_monotonic_time();
        g_assert_false(
            vtc_hostd_proto_write_frame(sv[0], big, 1024 * 1024, t0 + 200 * 1000, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
        close(sv[0]);
        close(sv[1]);
}

/* ------------------------------------------------------------------------------------------ */
/* Connecting */

static int
listen_unix(const gchar *path, gboolean do_listen)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        if (do_listen)
                g_assert_cmpint(listen(fd, 4), ==, 0);
        return fd;
}

typedef struct {
        int listen_fd;
        gchar *request;
        gchar *answer;
} ServerArgs;

/* Accepts one client, reads its frame, answers with @answer. */
static gpointer
server_thread(gpointer user_data)
{
        ServerArgs *s = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) req = NULL;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        g_assert_cmpint(fd, >=, 0);
        req = vtc_hostd_proto_read_frame(fd, g_get_monotonic_time() + 5 * G_USEC_PER_SEC, &error);
        g_assert_no_error(error);
        s->request = g_strdup(g_bytes_get_data(req, NULL));
        g_assert_true(vtc_hostd_proto_write_frame(fd,
                                                  s->answer,
                                                  strlen(s->answer),
                                                  g_get_monotonic_time() + 5 * G_USEC_PER_SEC,
                                                  &error));
        close(fd);
        return NULL;
}

static void
test_connect(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *missing = g_build_filename(dir, "missing.sock", NULL);
        g_autofree gchar *refused = g_build_filename(dir, "refused.sock", NULL);
        g_autofree gchar *silent = g_build_filename(dir, "silent.sock", NULL);
        g_autofree gchar *live = g_build_filename(dir, "live.sock", NULL);
        g_autofree gchar *toolong = g_strnfill(200, 'a');
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) answer = NULL;
        g_autofree gchar *req = NULL;
        ServerArgs s = {0};
        GThread *thread;
        gint64 t0;
        int fd;

        g_assert_cmpint(
            vtc_hostd_proto_connect(missing, g_get_monotonic_time() + G_USEC_PER_SEC, &error),
            ==,
            -1);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        g_assert_nonnull(strstr(error->message, "is vtc-hostd running?"));
        g_clear_error(&error);

        g_assert_cmpint(
            vtc_hostd_proto_connect(toolong, g_get_monotonic_time() + G_USEC_PER_SEC, &error),
            ==,
            -1);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_cmpint(
            vtc_hostd_proto_connect("", g_get_monotonic_time() + G_USEC_PER_SEC, &error),
            ==,
            -1);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* a socket file nobody listens on (a crashed hostd) */
        fd = listen_unix(refused, FALSE);
        close(fd);
        g_assert_cmpint(
            vtc_hostd_proto_connect(refused, g_get_monotonic_time() + G_USEC_PER_SEC, &error),
            ==,
            -1);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        g_clear_error(&error);

        /* a hung hostd: connect succeeds (backlog) but no answer comes */
        fd = listen_unix(silent, TRUE);
        t0 = g_get_monotonic_time();
        answer = vtc_hostd_proto_call(silent, "{}", 2, 300, &error);
        g_assert_null(answer);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT);
        g_assert_nonnull(strstr(error->message, silent));
        g_clear_error(&error);
        g_assert_cmpint(g_get_monotonic_time() - t0, >=, 290 * 1000);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
        close(fd);

        /* a whole exchange with a listener that answers */
        s.listen_fd = listen_unix(live, TRUE);
        s.answer = (gchar *)"{\"ok\":true}";
        thread = g_thread_new("server", server_thread, &s);
        req = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_STARTED,
                                             VTC_HOSTD_PHASE_BEGIN,
                                             xml_live,
                                             &error);
        g_assert_no_error(error);
        answer = vtc_hostd_proto_call(live, req, strlen(req), 5000, &error);
        g_thread_join(thread);
        g_assert_no_error(error);
        g_assert_cmpstr(s.request, ==, req);
        g_assert_cmpmem(g_bytes_get_data(answer, NULL),
                        g_bytes_get_size(answer),
                        "{\"ok\":true}",
                        11);
        close(s.listen_fd);
        g_free(s.request);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

/* ------------------------------------------------------------------------------------------ */
/* --ek and --vmid */

static gchar *
rsa_modulus_hex(EVP_PKEY *pkey)
{
        g_autoptr(BIGNUM) n = NULL;
        g_autofree gchar *hex = NULL;

        g_assert_cmpint(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n), ==, 1);
        hex = BN_bn2hex(n);
        {
                /* swtpm_setup prints lower case */
                gchar *lower = g_ascii_strdown(hex, -1);
                OPENSSL_free(g_steal_pointer(&hex));
                return lower;
        }
}

/* swtpm_setup's form: x=<hex>,y=<hex>,id=<curve>, coordinates at full field length. */
static gchar *
ecc_ek_string(EVP_PKEY *pkey, const gchar *id)
{
        guint8 point[200];
        gsize len = 0;
        gsize field;
        g_autofree gchar *x = NULL;
        g_autofree gchar *y = NULL;

        g_assert_cmpint(EVP_PKEY_get_octet_string_param(pkey,
                                                        OSSL_PKEY_PARAM_PUB_KEY,
                                                        point,
                                                        sizeof(point),
                                                        &len),
                        ==,
                        1);
        g_assert_cmpint(point[0], ==, 0x04);
        field = (len - 1) / 2;
        x = vtc_hex_encode(point + 1, field);
        y = vtc_hex_encode(point + 1 + field, field);
        if (id == NULL)
                return g_strdup_printf("x=%s,y=%s", x, y);
        return g_strdup_printf("x=%s,y=%s,id=%s", x, y, id);
}

static void
test_ek_rsa(void)
{
        const guint sizes[] = {2048, 3072, 4096};

        for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)sizes[i]);
                g_autofree gchar *hex = rsa_modulus_hex(key);
                g_autofree gchar *upper = g_ascii_strup(hex, -1);
                g_autoptr(GError) error = NULL;
                g_autoptr(EVP_PKEY) got = vtc_hostd_proto_ek_parse(hex, &error);
                g_autoptr(EVP_PKEY) got_upper = NULL;

                g_assert_no_error(error);
                g_assert_cmpint(EVP_PKEY_get_bits(got), ==, sizes[i]);
                g_assert_cmpint(EVP_PKEY_eq(got, key), ==, 1);
                got_upper = vtc_hostd_proto_ek_parse(upper, &error);
                g_assert_no_error(error);
                g_assert_cmpint(EVP_PKEY_eq(got_upper, key), ==, 1);
        }
}

static void
test_ek_ecc(void)
{
        const struct {
                const gchar *group;
                const gchar *id;
        } curves[] = {
            {"P-384", "secp384r1"}, /* what swtpm_setup makes by default */
            {"P-256", "secp256r1"},
            {"P-256", NULL}, /* no id= means secp256r1 */
        };

        for (guint i = 0; i < G_N_ELEMENTS(curves); i++) {
                g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i].group);
                g_autofree gchar *ek = ecc_ek_string(key, curves[i].id);
                g_autoptr(GError) error = NULL;
                g_autoptr(EVP_PKEY) got = vtc_hostd_proto_ek_parse(ek, &error);

                g_assert_no_error(error);
                g_assert_cmpint(EVP_PKEY_eq(got, key), ==, 1);
        }
}

static void
test_ek_swtpm(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) rsa = vtc_hostd_proto_ek_parse(swtpm_ek_rsa, &error);
        g_autoptr(EVP_PKEY) ecc = NULL;
        g_autoptr(BIGNUM) e = NULL;
        gchar group[32];
        gsize group_len = 0;

        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_get_base_id(rsa), ==, EVP_PKEY_RSA);
        g_assert_cmpint(EVP_PKEY_get_bits(rsa), ==, 2048);
        g_assert_cmpint(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e), ==, 1);
        g_assert_cmpuint(BN_get_word(e), ==, 65537);
        ecc = vtc_hostd_proto_ek_parse(swtpm_ek_ecc, &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_get_base_id(ecc), ==, EVP_PKEY_EC);
        g_assert_cmpint(EVP_PKEY_get_utf8_string_param(ecc,
                                                       OSSL_PKEY_PARAM_GROUP_NAME,
                                                       group,
                                                       sizeof(group),
                                                       &group_len),
                        ==,
                        1);
        g_assert_cmpstr(group, ==, "secp384r1");
        /* the same point without id= would be read as P-256 and is refused */
        {
                g_autofree gchar *no_id =
                    g_strndup(swtpm_ek_ecc, strlen(swtpm_ek_ecc) - strlen(",id=secp384r1"));
                g_autoptr(EVP_PKEY) bad = vtc_hostd_proto_ek_parse(no_id, &error);
                g_assert_null(bad);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        }
}

static void
test_ek_bad(void)
{
        g_autoptr(EVP_PKEY) rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        g_autoptr(EVP_PKEY) p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        g_autoptr(EVP_PKEY) p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        g_autoptr(EVP_PKEY) rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        g_autofree gchar *hex1024 = rsa_modulus_hex(rsa1024);
        g_autofree gchar *hex2048 = rsa_modulus_hex(rsa2048);
        g_autofree gchar *even = g_strdup(hex2048);
        g_autofree gchar *odd_len = g_strdup(hex2048);
        g_autofree gchar *e384 = ecc_ek_string(p384, "secp384r1");
        g_autofree gchar *e384_as_256 = ecc_ek_string(p384, "secp256r1");
        g_autofree gchar *e256_as_384 = ecc_ek_string(p256, "secp384r1");
        g_autofree gchar *e384_521 = ecc_ek_string(p384, "secp521r1");
        g_autofree gchar *off_curve = g_strdup(e384);
        g_autofree gchar *long_x = NULL;
        g_autofree gchar *too_long = g_strnfill(2049, 'a');
        const gchar *x384 = NULL;
        g_autofree gchar *x_only = NULL;
        g_autofree gchar *swapped = NULL;
        g_autofree gchar *repeated = NULL;

        even[strlen(even) - 1] = '0'; /* an even modulus */
        odd_len[strlen(odd_len) - 1] = '\0';
        off_curve[strlen("x=") + 5] = off_curve[strlen("x=") + 5] == 'a' ? 'b' : 'a';
        x384 = strstr(e384, ",y=");
        x_only = g_strndup(e384, (gsize)(x384 - e384));
        swapped = g_strdup_printf("%s,%s", x384 + 1, x_only); /* y=..,id=..,x=.. is fine */
        repeated = g_strdup_printf("%s,%s", e384, x_only);
        long_x = g_strdup_printf("x=00%s", e384 + 2);

        {
                g_autoptr(GError) error = NULL;
                g_autoptr(EVP_PKEY) ok = vtc_hostd_proto_ek_parse(swapped, &error);
                g_assert_no_error(error);
                g_assert_cmpint(EVP_PKEY_eq(ok, p384), ==, 1);
        }

        struct {
                const gchar *ek;
                gint code;
                const gchar *what;
        } cases[] = {
            {"", VTC_ERROR_INVALID_DATA, "empty"},
            {too_long, VTC_ERROR_TOO_LARGE, "too long"},
            {hex1024, VTC_ERROR_NOT_SUPPORTED, "1024-bit RSA"},
            {even, VTC_ERROR_INVALID_DATA, "even modulus"},
            {odd_len, VTC_ERROR_INVALID_DATA, "odd hex length"},
            {"zz", VTC_ERROR_INVALID_DATA, "not hex"},
            {"00", VTC_ERROR_NOT_SUPPORTED, "zero modulus"},
            {x_only, VTC_ERROR_INVALID_DATA, "x only"},
            {repeated, VTC_ERROR_INVALID_DATA, "x twice"},
            {"x=01,y=02,z=03", VTC_ERROR_INVALID_DATA, "unknown key"},
            {"x=01,y", VTC_ERROR_INVALID_DATA, "no ="},
            {"x=,y=01", VTC_ERROR_INVALID_DATA, "empty x"},
            {"x=0g,y=01", VTC_ERROR_INVALID_DATA, "bad hex x"},
            {e384_521, VTC_ERROR_NOT_SUPPORTED, "secp521r1"},
            {"x=01,y=02,id=brainpoolP256r1", VTC_ERROR_NOT_SUPPORTED, "brainpool"},
            {e384_as_256, VTC_ERROR_INVALID_DATA, "P-384 point said to be P-256"},
            {e256_as_384, VTC_ERROR_INVALID_DATA, "P-256 point said to be P-384"},
            {off_curve, VTC_ERROR_INVALID_DATA, "not on the curve"},
            {long_x, VTC_ERROR_INVALID_DATA, "x one byte longer than the field"},
            {"x=01,y=02", VTC_ERROR_INVALID_DATA, "small point not on the curve"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(EVP_PKEY) got = vtc_hostd_proto_ek_parse(cases[i].ek, &error);

                if (got != NULL || error == NULL || error->code != cases[i].code)
                        g_error("--ek case '%s': want code %d, got %s",
                                cases[i].what,
                                cases[i].code,
                                error != NULL ? error->message : "success");
                g_assert_error(error, VTC_ERROR, cases[i].code);
        }
}

static void
test_vmid(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *uuid = NULL;
        g_autofree gchar *long_name = g_strnfill(1025, 'n');
        g_autofree gchar *too_long = g_strdup_printf("%s:%s", long_name, UUID1);
        const gchar *bad[] = {
            "guest1",
            ":" UUID1,
            "guest1:",
            "guest1:6f1c2b3a1d2e4f5a8b9c0d1e2f3a4b5c",
            "guest1:6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5",
            "guest1:6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5cc",
            "gue\nst1:" UUID1,
            "gue\x01st1:" UUID1,
            "gu\xff:" UUID1,
            too_long,
        };

        g_assert_true(vtc_hostd_proto_vmid_parse("guest1:" UUID1, &name, &uuid, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(name, ==, "guest1");
        g_assert_cmpstr(uuid, ==, UUID1);
        g_clear_pointer(&name, g_free);
        g_clear_pointer(&uuid, g_free);

        /* a colon in the name: the UUID is after the last one; upper case is folded */
        g_assert_true(vtc_hostd_proto_vmid_parse("web:prod:6F1C2B3A-1D2E-4F5A-8B9C-0D1E2F3A4B5C",
                                                 &name,
                                                 &uuid,
                                                 &error));
        g_assert_cmpstr(name, ==, "web:prod");
        g_assert_cmpstr(uuid, ==, UUID1);

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                gchar *n = (gchar *)0x1;
                gchar *u = (gchar *)0x1;
                g_assert_false(vtc_hostd_proto_vmid_parse(bad[i], &n, &u, &error));
                g_assert_nonnull(error);
                g_assert_true(n == (gchar *)0x1 && u == (gchar *)0x1);
                g_clear_error(&error);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Domain XML */

static void
test_domain_samples(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdDomain) inactive =
            vtc_hostd_domain_parse(xml_inactive, strlen(xml_inactive), &error);
        g_autoptr(VtcHostdDomain) live = NULL;
        g_autoptr(VtcHostdDomain) plain = NULL;

        g_assert_no_error(error);
        g_assert_cmpstr(inactive->name, ==, "guest1");
        g_assert_cmpstr(inactive->uuid, ==, UUID1);
        g_assert_cmpint(inactive->id, ==, -1);
        g_assert_true(inactive->has_tpm);
        g_assert_cmpstr(inactive->tpm_version, ==, "2.0");
        g_assert_cmpstr(inactive->tpm_secret, ==, SECRET);
        g_assert_null(inactive->channel_path);

        live = vtc_hostd_domain_parse(xml_live, strlen(xml_live), &error);
        g_assert_no_error(error);
        g_assert_cmpstr(live->name, ==, "guest1");
        g_assert_cmpstr(live->uuid, ==, UUID1);
        g_assert_cmpint(live->id, ==, 5);
        g_assert_true(live->has_tpm);
        g_assert_cmpstr(live->tpm_secret, ==, SECRET);
        g_assert_cmpstr(live->channel_path,
                        ==,
                        "/var/lib/libvirt/qemu/channel/target/domain-5-guest1/org.vtc.agent.0");

        plain = vtc_hostd_domain_parse(xml_no_tpm, strlen(xml_no_tpm), &error);
        g_assert_no_error(error);
        g_assert_cmpstr(plain->name, ==, "plain");
        g_assert_false(plain->has_tpm);
        g_assert_null(plain->tpm_secret);
        g_assert_null(plain->channel_path);
}

static void
test_domain_variants(void)
{
        const struct {
                const gchar *xml;
                gboolean has_tpm;
                const gchar *secret;
                const gchar *name;
        } ok[] = {
            /* passthrough and proxy TPMs are not ours */
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><tpm model='tpm-tis'><backend "
             "type='passthrough'><device path='/dev/tpm0'/></backend></tpm></devices></domain>",
             FALSE,
             NULL,
             "a"},
            /* an emulator without encryption; a passthrough beside it */
            {"<domain><name>a</name><uuid>" UUID1
             "</uuid><devices><tpm><backend type='passthrough'/>"
             "</tpm><tpm><backend type='emulator' version='2.0'/></tpm></devices></domain>",
             TRUE,
             NULL,
             "a"},
            /* entities and surrounding white space in the name */
            {"<domain><name>\n  a&amp;b&#x41;  \n</name><uuid> " UUID1
             " </uuid><devices><tpm><backend type='emulator'/></tpm></devices></domain>",
             TRUE,
             NULL,
             "a&bA"},
            /* a <tpm> outside <devices> is not a device */
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><tpm><backend type='emulator'/></tpm>"
             "<devices/></domain>",
             FALSE,
             NULL,
             "a"},
        };
        const struct {
                const gchar *xml;
                gint code;
                const gchar *what;
        } bad[] = {
            {"", VTC_ERROR_INVALID_DATA, "empty"},
            {"<domain>", VTC_ERROR_INVALID_DATA, "unterminated"},
            {"<network><name>a</name><uuid>" UUID1 "</uuid></network>",
             VTC_ERROR_INVALID_DATA,
             "not a domain"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid></domain><domain/>",
             VTC_ERROR_INVALID_DATA,
             "two roots"},
            {"<domain><uuid>" UUID1 "</uuid></domain>", VTC_ERROR_INVALID_DATA, "no name"},
            {"<domain><name>a</name></domain>", VTC_ERROR_INVALID_DATA, "no uuid"},
            {"<domain><name>a</name><uuid>nope</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "bad uuid"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "two uuids"},
            {"<domain><name>a</name><name>b</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "two names"},
            {"<domain><name></name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "empty name"},
            {"<domain><name>a&#x1;</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "control character in name"},
            {"<domain id='x'><name>a</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "bad id"},
            {"<domain id='-1'><name>a</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "negative id"},
            {"<domain id='1' id='2'><name>a</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "two ids"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><tpm><backend type='emulator'/>"
             "</tpm><tpm><backend type='emulator'/></tpm></devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "two emulated TPMs"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><tpm><backend type='emulator'/>"
             "<backend type='emulator'/></tpm></devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "two backends"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><tpm><backend type='emulator'>"
             "<encryption secret='s3cret'/></backend></tpm></devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "secret not a UUID"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><tpm><backend type='emulator'>"
             "<encryption/></backend></tpm></devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "encryption without secret"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><channel type='unix'><source "
             "mode='bind' path='relative/x'/><target type='virtio' name='org.vtc.agent.0'/></channel>"
             "</devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "relative channel path"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><channel type='unix'><target "
             "type='virtio' name='org.vtc.agent.0'/></channel><channel type='unix'><target "
             "type='virtio' name='org.vtc.agent.0'/></channel></devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "two agent channels"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><devices><channel type='unix'><source "
             "path='/a'/><source path='/b'/><target type='virtio' name='org.vtc.agent.0'/></channel>"
             "</devices></domain>",
             VTC_ERROR_INVALID_DATA,
             "two sources"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid><!-- unterminated",
             VTC_ERROR_INVALID_DATA,
             "bad comment"},
            {"<domain><name>a</name><uuid>" UUID1 "</uuid>&bogus;</domain>",
             VTC_ERROR_INVALID_DATA,
             "unknown entity"},
            {"<domain><name>\xff</name><uuid>" UUID1 "</uuid></domain>",
             VTC_ERROR_INVALID_DATA,
             "not UTF-8"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(ok); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcHostdDomain) d =
                    vtc_hostd_domain_parse(ok[i].xml, strlen(ok[i].xml), &error);
                g_assert_no_error(error);
                g_assert_cmpint(d->has_tpm, ==, ok[i].has_tpm);
                g_assert_cmpstr(d->tpm_secret, ==, ok[i].secret);
                g_assert_cmpstr(d->name, ==, ok[i].name);
        }
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcHostdDomain) d =
                    vtc_hostd_domain_parse(bad[i].xml, strlen(bad[i].xml), &error);
                if (d != NULL || error == NULL || error->code != bad[i].code)
                        g_error("domain case '%s': want code %d, got %s",
                                bad[i].what,
                                bad[i].code,
                                error != NULL ? error->message : "success");
                g_assert_true(g_str_has_prefix(error->message, "domain XML: "));
        }
}

static void
test_domain_limits(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) deep = g_string_new("<domain><name>a</name><uuid>" UUID1 "</uuid>");
        g_autoptr(GString) huge = NULL;
        g_autoptr(VtcHostdDomain) d = NULL;
        g_autofree gchar *long_name = NULL;
        g_autofree gchar *n2000 = g_strnfill(2000, 'n');
        const gchar nul[] = "<domain><name>a</name>\0<uuid>" UUID1 "</uuid></domain>";

        for (guint i = 0; i < 300; i++)
                g_string_append(deep, "<x>");
        d = vtc_hostd_domain_parse(deep->str, deep->len, &error);
        g_assert_null(d);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        d = vtc_hostd_domain_parse(nul, sizeof(nul) - 1, &error);
        g_assert_null(d);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);

        long_name =
            g_strdup_printf("<domain><name>%s</name><uuid>" UUID1 "</uuid></domain>", n2000);
        d = vtc_hostd_domain_parse(long_name, strlen(long_name), &error);
        g_assert_null(d);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        /* just over 4 MiB: refused before parsing */
        huge = g_string_new("<domain><name>a</name><uuid>" UUID1 "</uuid><!--");
        while (huge->len <= 4 * 1024 * 1024)
                g_string_append(huge,
                                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        g_string_append(huge, "--></domain>");
        d = vtc_hostd_domain_parse(huge->str, huge->len, &error);
        g_assert_null(d);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        /* a big but allowed document (3 MiB of comments and elements) parses */
        g_string_truncate(huge, 0);
        g_string_append(huge, "<domain><name>a</name><uuid>" UUID1 "</uuid><devices>");
        while (huge->len < 3 * 1024 * 1024)
                g_string_append(huge, "<disk type='file'><source file='/var/lib/x.img'/></disk>");
        g_string_append(huge, "<tpm><backend type='emulator'/></tpm></devices></domain>");
        d = vtc_hostd_domain_parse(huge->str, huge->len, &error);
        g_assert_no_error(error);
        g_assert_true(d->has_tpm);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests */

static void
test_request_hook(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *json = NULL;
        g_autoptr(VtcHostdRequest) req = NULL;

        for (guint e = 0; e < VTC_HOSTD_EVENT_LAST; e++) {
                for (guint p = 0; p < VTC_HOSTD_PHASE_LAST; p++) {
                        g_autofree gchar *j =
                            vtc_hostd_request_hook_to_json(e, p, xml_live, &error);
                        g_autoptr(VtcHostdRequest) r = NULL;
                        g_assert_no_error(error);
                        r = vtc_hostd_request_parse(j, strlen(j), &error);
                        g_assert_no_error(error);
                        g_assert_cmpint(r->op, ==, VTC_HOSTD_OP_HOOK);
                        g_assert_cmpint(r->hook.event, ==, e);
                        g_assert_cmpint(r->hook.phase, ==, p);
                        g_assert_cmpstr(r->hook.domain_xml, ==, xml_live);
                        g_assert_cmpstr(r->hook.domain->uuid, ==, UUID1);
                }
        }

        /* the documented wire form, byte for byte */
        json = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_PREPARE,
                                              VTC_HOSTD_PHASE_BEGIN,
                                              xml_no_tpm,
                                              &error);
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(
            json,
            "{\"op\":\"hook\",\"event\":\"prepare\",\"phase\":\"begin\",\"domain\":\"<domain type='kvm'>"));
        req = vtc_hostd_request_parse(json, strlen(json), &error);
        g_assert_no_error(error);
        g_assert_false(req->hook.domain->has_tpm);

        /* the builder refuses what hostd would refuse */
        g_assert_null(vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_START,
                                                     VTC_HOSTD_PHASE_BEGIN,
                                                     "<domain/>",
                                                     &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_null(vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_LAST,
                                                     VTC_HOSTD_PHASE_BEGIN,
                                                     xml_live,
                                                     &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_START,
                                                     VTC_HOSTD_PHASE_BEGIN,
                                                     "<domain>\xff</domain>",
                                                     &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
}

static void
test_request_hook_too_large(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GString) xml =
            g_string_new("<domain><name>a</name><uuid>" UUID1 "</uuid><devices>");
        g_autofree gchar *json = NULL;

        /* fits the 4 MiB XML limit but not a 1 MiB message once quoted */
        while (xml->len < 1024 * 1024)
                g_string_append(xml, "<disk type=\"file\"><source file=\"/x\"/></disk>");
        g_string_append(xml, "<tpm><backend type='emulator'/></tpm></devices></domain>");
        json = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_PREPARE,
                                              VTC_HOSTD_PHASE_BEGIN,
                                              xml->str,
                                              &error);
        g_assert_null(json);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
}

static gchar *
certify_json(const gchar *ek)
{
        g_autoptr(GError) error = NULL;
        VtcHostdCertifyArgs args = {
            .type = VTC_HOSTD_CERT_EK,
            .ek = ek,
            .vmid = "guest1:" UUID1,
            .tpm_manufacturer = "id:00001014",
            .tpm_model = "swtpm",
            .tpm_version = "id:20191023",
            .tpm_spec_family = "2.0",
            .tpm_spec_level = 0,
            .tpm_spec_revision = 164,
        };
        gchar *json = vtc_hostd_request_certify_to_json(&args, &error);

        g_assert_no_error(error);
        return json;
}

static void
test_request_certify(void)
{
        g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        g_autofree gchar *ek = ecc_ek_string(key, "secp384r1");
        g_autofree gchar *json = certify_json(ek);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdRequest) req = vtc_hostd_request_parse(json, strlen(json), &error);
        g_autofree gchar *minimal = NULL;
        g_autoptr(VtcHostdRequest) req2 = NULL;
        VtcHostdCertifyArgs args = {
            .type = VTC_HOSTD_CERT_PLATFORM,
            .ek = ek,
            .vmid = "guest1:" UUID1,
            .tpm_manufacturer = "id:00001014",
            .tpm_model = "swtpm",
            .tpm_version = "id:20191023",
            .tpm_spec_level = -1,
            .tpm_spec_revision = -1,
            .allow_signing = TRUE,
            .decryption = TRUE,
        };

        g_assert_no_error(error);
        g_assert_cmpint(req->op, ==, VTC_HOSTD_OP_CERTIFY);
        g_assert_cmpint(req->certify.type, ==, VTC_HOSTD_CERT_EK);
        g_assert_cmpstr(req->certify.ek_param, ==, ek);
        g_assert_cmpint(EVP_PKEY_eq(req->certify.ek, key), ==, 1);
        g_assert_cmpstr(req->certify.vm_name, ==, "guest1");
        g_assert_cmpstr(req->certify.vm_uuid, ==, UUID1);
        g_assert_cmpstr(req->certify.tpm_manufacturer, ==, "id:00001014");
        g_assert_cmpstr(req->certify.tpm_model, ==, "swtpm");
        g_assert_cmpstr(req->certify.tpm_version, ==, "id:20191023");
        g_assert_cmpstr(req->certify.tpm_spec_family, ==, "2.0");
        g_assert_cmpint(req->certify.tpm_spec_level, ==, 0);
        g_assert_cmpint(req->certify.tpm_spec_revision, ==, 164);
        g_assert_false(req->certify.allow_signing);
        g_assert_false(req->certify.decryption);

        minimal = vtc_hostd_request_certify_to_json(&args, &error);
        g_assert_no_error(error);
        g_assert_null(strstr(minimal, "tpm_spec"));
        req2 = vtc_hostd_request_parse(minimal, strlen(minimal), &error);
        g_assert_no_error(error);
        g_assert_cmpint(req2->certify.type, ==, VTC_HOSTD_CERT_PLATFORM);
        g_assert_null(req2->certify.tpm_spec_family);
        g_assert_cmpint(req2->certify.tpm_spec_level, ==, -1);
        g_assert_cmpint(req2->certify.tpm_spec_revision, ==, -1);
        g_assert_true(req2->certify.allow_signing);
        g_assert_true(req2->certify.decryption);

        /* the builder checks like the parser */
        args.vmid = "guest1";
        g_assert_null(vtc_hostd_request_certify_to_json(&args, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        args.vmid = NULL;
        g_assert_null(vtc_hostd_request_certify_to_json(&args, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
}

/* Replaces "@member": <value> in a good request (or removes it when @value is NULL). */
static gchar *
request_with(const gchar *good, const gchar *member, const gchar *value)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *obj;
        g_autoptr(JsonGenerator) gen = json_generator_new();

        g_assert_true(json_parser_load_from_data(parser, good, -1, &error));
        obj = json_node_get_object(json_parser_get_root(parser));
        if (value == NULL) {
                json_object_remove_member(obj, member);
        } else {
                g_autoptr(JsonParser) vp = json_parser_new();
                g_assert_true(json_parser_load_from_data(vp, value, -1, &error));
                json_object_set_member(obj, member, json_node_copy(json_parser_get_root(vp)));
        }
        json_generator_set_root(gen, json_parser_get_root(parser));
        return json_generator_to_data(gen, NULL);
}

static void
test_request_bad(void)
{
        g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        g_autofree gchar *hex = rsa_modulus_hex(key);
        g_autofree gchar *certify = certify_json(hex);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *hook = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_START,
                                                                VTC_HOSTD_PHASE_BEGIN,
                                                                xml_inactive,
                                                                &error);
        g_autofree gchar *m65 = g_strnfill(65, 'm');
        g_autofree gchar *model65 = g_strdup_printf("\"%s\"", m65);
        const struct {
                const gchar *base; /* "hook" or "certify" */
                const gchar *member;
                const gchar *value; /* JSON, or NULL to remove */
                gint code;
        } cases[] = {
            {"hook", "op", NULL, VTC_ERROR_INVALID_DATA},
            {"hook", "op", "\"reboot\"", VTC_ERROR_NOT_SUPPORTED},
            {"hook", "op", "1", VTC_ERROR_INVALID_DATA},
            {"hook", "extra", "1", VTC_ERROR_INVALID_DATA},
            {"hook", "event", NULL, VTC_ERROR_INVALID_DATA},
            {"hook", "event", "\"migrate\"", VTC_ERROR_INVALID_DATA},
            {"hook", "event", "\"PREPARE\"", VTC_ERROR_INVALID_DATA},
            {"hook", "event", "true", VTC_ERROR_INVALID_DATA},
            {"hook", "phase", NULL, VTC_ERROR_INVALID_DATA},
            {"hook", "phase", "\"middle\"", VTC_ERROR_INVALID_DATA},
            {"hook", "phase", "[]", VTC_ERROR_INVALID_DATA},
            {"hook", "domain", NULL, VTC_ERROR_INVALID_DATA},
            {"hook", "domain", "\"<domain/>\"", VTC_ERROR_INVALID_DATA},
            {"hook", "domain", "\"not xml\"", VTC_ERROR_INVALID_DATA},
            {"hook", "domain", "{}", VTC_ERROR_INVALID_DATA},
            {"hook", "domain", "null", VTC_ERROR_INVALID_DATA},
            {"hook", "type", "\"ek\"", VTC_ERROR_INVALID_DATA},
            {"certify", "type", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "type", "\"iak\"", VTC_ERROR_NOT_SUPPORTED},
            {"certify", "type", "7", VTC_ERROR_INVALID_DATA},
            {"certify", "ek", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "ek", "\"\"", VTC_ERROR_INVALID_DATA},
            {"certify", "ek", "\"abcd\"", VTC_ERROR_NOT_SUPPORTED},
            {"certify", "ek", "\"x=01,y=02,id=secp384r1\"", VTC_ERROR_INVALID_DATA},
            {"certify", "vmid", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "vmid", "\"guest1\"", VTC_ERROR_INVALID_DATA},
            {"certify", "vmid", "\"guest1:1234\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_manufacturer", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_manufacturer", "\"IBM\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_manufacturer", "\"id:0000101\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_manufacturer", "\"id:0000101g\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_model", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_model", "\"\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_model", model65, VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_model", "\"sw\\ntpm\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_model", "\" swtpm\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_version", NULL, VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_version", "\"20191023\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_family", "2", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_family", "\"\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_level", "-1", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_level", "\"0\"", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_revision", "1.5", VTC_ERROR_INVALID_DATA},
            {"certify", "tpm_spec_revision", "99999999999", VTC_ERROR_INVALID_DATA},
            {"certify", "allow_signing", "1", VTC_ERROR_INVALID_DATA},
            {"certify", "decryption", "true", VTC_ERROR_INVALID_DATA},
            {"certify", "domain", "\"x\"", VTC_ERROR_INVALID_DATA},
        };

        g_assert_no_error(error);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                const gchar *base = g_strcmp0(cases[i].base, "hook") == 0 ? hook : certify;
                g_autofree gchar *json = request_with(base, cases[i].member, cases[i].value);
                g_autoptr(VtcHostdRequest) req =
                    vtc_hostd_request_parse(json, strlen(json), &error);

                if (req != NULL || error == NULL || error->code != cases[i].code)
                        g_error("request case %u (%s %s=%s): want code %d, got %s",
                                i,
                                cases[i].base,
                                cases[i].member,
                                cases[i].value != NULL ? cases[i].value : "(removed)",
                                cases[i].code,
                                error != NULL ? error->message : "success");
                g_clear_error(&error);
        }

        /* not an object, not JSON, too deep, too big, NUL */
        {
                const gchar *docs[] = {"",
                                       "[]",
                                       "\"op\"",
                                       "{",
                                       "{\"op\":\"hook\"",
                                       "{}",
                                       "{\"op\":{\"a\":{\"b\":{\"c\":{}}}}}"};
                for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
                        g_autoptr(VtcHostdRequest) req =
                            vtc_hostd_request_parse(docs[i], strlen(docs[i]), &error);
                        g_assert_null(req);
                        g_assert_nonnull(error);
                        g_clear_error(&error);
                }
        }
        {
                g_autofree gchar *big = g_strnfill(1024 * 1024 + 1, ' ');
                g_autoptr(VtcHostdRequest) req = vtc_hostd_request_parse(big, strlen(big), &error);
                g_assert_null(req);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
                g_clear_error(&error);
        }
        {
                const gchar nul[] = "{\"op\":\"hook\"}\0";
                g_autoptr(VtcHostdRequest) req =
                    vtc_hostd_request_parse(nul, sizeof(nul) - 1, &error);
                g_assert_null(req);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Answers */

static void
test_answer(void)
{
        g_autoptr(GError) error = NULL;
        const guint8 der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
        g_autoptr(GBytes) cert = g_bytes_new_static(der, sizeof(der));
        g_autofree gchar *ok = vtc_hostd_answer_ok_to_json(NULL);
        g_autofree gchar *ok_cert = vtc_hostd_answer_ok_to_json(cert);
        g_autoptr(GError) tpm_error =
            g_error_new_literal(VTC_ERROR, VTC_ERROR_TPM, "Esys_Sign: 0x00000902\nsecond line");
        g_autofree gchar *failed = vtc_hostd_answer_error_to_json(tpm_error);
        g_autoptr(VtcHostdAnswer) a = NULL;
        g_autoptr(VtcHostdAnswer) b = NULL;
        g_autoptr(VtcHostdAnswer) c = NULL;

        g_assert_cmpstr(ok, ==, "{\"ok\":true}");
        g_assert_cmpstr(ok_cert, ==, "{\"ok\":true,\"cert\":\"MAMCAQE=\"}");
        a = vtc_hostd_answer_parse(ok, strlen(ok), &error);
        g_assert_no_error(error);
        g_assert_true(a->ok);
        g_assert_null(a->cert);
        g_assert_true(vtc_hostd_answer_check(a, &error));
        b = vtc_hostd_answer_parse(ok_cert, strlen(ok_cert), &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(b->cert, cert));

        c = vtc_hostd_answer_parse(failed, strlen(failed), &error);
        g_assert_no_error(error);
        g_assert_false(c->ok);
        g_assert_cmpstr(c->error_code, ==, "tpm_error");
        g_assert_cmpstr(c->message, ==, "Esys_Sign: 0x00000902\nsecond line");
        g_assert_false(vtc_hostd_answer_check(c, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TPM);
        g_assert_cmpstr(error->message,
                        ==,
                        "vtc-hostd refused (tpm_error): Esys_Sign: 0x00000902 second line");
        g_clear_error(&error);

        /* an error code this client does not know */
        {
                const gchar *j = "{\"ok\":false,\"error\":\"new_kind\",\"message\":\"m\"}";
                g_autoptr(VtcHostdAnswer) d = vtc_hostd_answer_parse(j, strlen(j), &error);
                g_assert_no_error(error);
                g_assert_false(vtc_hostd_answer_check(d, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_FAILED);
                g_clear_error(&error);
        }

        /* a long message is cut on a character boundary and stays parseable */
        {
                g_autoptr(GString) msg = g_string_new(NULL);
                g_autoptr(GError) e = NULL;
                g_autofree gchar *j = NULL;
                g_autoptr(VtcHostdAnswer) d = NULL;
                while (msg->len < 10000)
                        g_string_append(msg, "é");
                e = g_error_new_literal(VTC_ERROR, VTC_ERROR_IO, msg->str);
                j = vtc_hostd_answer_error_to_json(e);
                d = vtc_hostd_answer_parse(j, strlen(j), &error);
                g_assert_no_error(error);
                g_assert_cmpuint(strlen(d->message), <=, 4096);
                g_assert_cmpuint(strlen(d->message), >=, 4095);
                g_assert_true(g_utf8_validate(d->message, -1, NULL));
        }
}

static void
test_answer_bad(void)
{
        g_autofree gchar *m4097 = g_strnfill(4097, 'm');
        g_autofree gchar *long_msg =
            g_strdup_printf("{\"ok\":false,\"error\":\"io_error\",\"message\":\"%s\"}", m4097);
        g_autofree gchar *big_cert = NULL;
        g_autofree guint8 *zeros = g_malloc0(16 * 1024 + 1);
        g_autofree gchar *b64 = g_base64_encode(zeros, 16 * 1024 + 1);
        const gchar *cases[] = {
            "{}",
            "{\"ok\":1}",
            "{\"ok\":\"true\"}",
            "{\"ok\":true,\"error\":\"io_error\"}",
            "{\"ok\":true,\"message\":\"x\"}",
            "{\"ok\":true,\"cert\":\"\"}",
            "{\"ok\":true,\"cert\":\"not base64!\"}",
            "{\"ok\":true,\"cert\":7}",
            "{\"ok\":true,\"extra\":1}",
            "{\"ok\":false}",
            "{\"ok\":false,\"error\":\"io_error\"}",
            "{\"ok\":false,\"message\":\"m\"}",
            "{\"ok\":false,\"error\":\"IO Error\",\"message\":\"m\"}",
            "{\"ok\":false,\"error\":\"\",\"message\":\"m\"}",
            "{\"ok\":false,\"error\":\"io_error\",\"message\":1}",
            "{\"ok\":false,\"error\":\"io_error\",\"message\":\"m\",\"cert\":\"MAMCAQE=\"}",
            "[true]",
            "",
            long_msg,
            NULL,
        };
        g_autoptr(GError) error = NULL;

        big_cert = g_strdup_printf("{\"ok\":true,\"cert\":\"%s\"}", b64);
        cases[G_N_ELEMENTS(cases) - 1] = big_cert;
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VtcHostdAnswer) a =
                    vtc_hostd_answer_parse(cases[i], strlen(cases[i]), &error);
                if (a != NULL || error == NULL)
                        g_error("answer case %u was accepted: %.80s", i, cases[i]);
                g_clear_error(&error);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration and names */

static void
test_conf(void)
{
        const gchar *good =
            "# vtc hook\n\n  policy = fail_open  \n; a comment\ntimeout=2.5\nsocket = /run/x = y\n";
        const gchar *bad[] = {
            "policy\n",
            "[hook]\npolicy = fail_open\n",
            "policy = a\npolicy = b\n",
            " = x\n",
            "po licy = x\n",
            "policy = \xff\n",
        };
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) t =
            vtc_hostd_proto_conf_parse(good, strlen(good), "hook.conf", &error);
        guint ms = 0;

        g_assert_no_error(error);
        g_assert_cmpuint(g_hash_table_size(t), ==, 3);
        g_assert_cmpstr(g_hash_table_lookup(t, "policy"), ==, "fail_open");
        g_assert_cmpstr(g_hash_table_lookup(t, "timeout"), ==, "2.5");
        g_assert_cmpstr(g_hash_table_lookup(t, "socket"), ==, "/run/x = y");
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GHashTable) b =
                    vtc_hostd_proto_conf_parse(bad[i], strlen(bad[i]), "hook.conf", &error);
                g_assert_null(b);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_true(g_str_has_prefix(error->message, "hook.conf"));
                g_clear_error(&error);
        }
        {
                /* an empty file, as vtc_file_read() hands it over: NULL data */
                g_autoptr(GHashTable) e = vtc_hostd_proto_conf_parse(NULL, 0, "empty.conf", &error);
                g_assert_no_error(error);
                g_assert_cmpuint(g_hash_table_size(e), ==, 0);
        }
        {
                const gchar nul[] = "policy = a\0b\n";
                g_autoptr(GHashTable) b =
                    vtc_hostd_proto_conf_parse(nul, sizeof(nul) - 1, "f", &error);
                g_assert_null(b);
                g_clear_error(&error);
        }

        g_assert_true(vtc_hostd_proto_timeout_parse("5", &ms, &error));
        g_assert_cmpuint(ms, ==, 5000);
        g_assert_true(vtc_hostd_proto_timeout_parse("0.25", &ms, &error));
        g_assert_cmpuint(ms, ==, 250);
        ms = 7;
        for (guint i = 0; i < 6; i++) {
                const gchar *b[] = {"", "0", "-1", "5s", "3601", "nan"};
                g_assert_false(vtc_hostd_proto_timeout_parse(b[i], &ms, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
        }
        g_assert_cmpuint(ms, ==, 7);
}

static void
test_names(void)
{
        VtcHostdEvent e = VTC_HOSTD_EVENT_LAST;
        VtcHostdPhase p = VTC_HOSTD_PHASE_LAST;
        VtcHostdCertType t = VTC_HOSTD_CERT_LAST;

        for (guint i = 0; i < VTC_HOSTD_EVENT_LAST; i++) {
                g_assert_true(vtc_hostd_event_from_string(vtc_hostd_event_to_string(i), &e));
                g_assert_cmpint(e, ==, i);
        }
        g_assert_false(vtc_hostd_event_from_string("migrate", &e));
        g_assert_false(vtc_hostd_event_from_string(NULL, &e));
        g_assert_null(vtc_hostd_event_to_string(VTC_HOSTD_EVENT_LAST));
        g_assert_true(vtc_hostd_phase_from_string("-", &p));
        g_assert_cmpint(p, ==, VTC_HOSTD_PHASE_NONE);
        g_assert_false(vtc_hostd_phase_from_string("", &p));
        g_assert_true(vtc_hostd_cert_type_from_string("platform", &t));
        g_assert_cmpint(t, ==, VTC_HOSTD_CERT_PLATFORM);
        g_assert_false(vtc_hostd_cert_type_from_string("idevid", &t));
        g_assert_cmpstr(vtc_hostd_cert_type_to_string(VTC_HOSTD_CERT_EK), ==, "ek");
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hostd-proto/header", test_header);
        g_test_add_func("/hostd-proto/frame", test_frame);
        g_test_add_func("/hostd-proto/socketpair-roundtrip", test_socketpair_roundtrip);
        g_test_add_func("/hostd-proto/read-errors", test_read_errors);
        g_test_add_func("/hostd-proto/write-errors", test_write_errors);
        g_test_add_func("/hostd-proto/connect", test_connect);
        g_test_add_func("/hostd-proto/ek-rsa", test_ek_rsa);
        g_test_add_func("/hostd-proto/ek-ecc", test_ek_ecc);
        g_test_add_func("/hostd-proto/ek-swtpm", test_ek_swtpm);
        g_test_add_func("/hostd-proto/ek-bad", test_ek_bad);
        g_test_add_func("/hostd-proto/vmid", test_vmid);
        g_test_add_func("/hostd-proto/domain-samples", test_domain_samples);
        g_test_add_func("/hostd-proto/domain-variants", test_domain_variants);
        g_test_add_func("/hostd-proto/domain-limits", test_domain_limits);
        g_test_add_func("/hostd-proto/request-hook", test_request_hook);
        g_test_add_func("/hostd-proto/request-hook-too-large", test_request_hook_too_large);
        g_test_add_func("/hostd-proto/request-certify", test_request_certify);
        g_test_add_func("/hostd-proto/request-bad", test_request_bad);
        g_test_add_func("/hostd-proto/answer", test_answer);
        g_test_add_func("/hostd-proto/answer-bad", test_answer_bad);
        g_test_add_func("/hostd-proto/conf", test_conf);
        g_test_add_func("/hostd-proto/names", test_names);
        return g_test_run();
}
