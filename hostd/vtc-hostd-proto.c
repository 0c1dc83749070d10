/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd-proto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <json-glib/json-glib.h>

#include "vtc-error.h"
#include "vtc-json.h"

typedef OSSL_PARAM_BLD VtcHostdParamBld;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdParamBld, OSSL_PARAM_BLD_free)
typedef OSSL_PARAM VtcHostdParam;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcHostdParam, OSSL_PARAM_free)

/* a request or answer is one flat object */
static const VtcJsonLimits vtc_hostd_json_limits = {
    VTC_HOSTD_PROTO_MAX_MESSAGE,
    4,
    VTC_HOSTD_PROTO_MAX_MESSAGE,
    32,
};

#define VTC_HOSTD_NAME_MAX     1024 /* a domain name */
#define VTC_HOSTD_EK_PARAM_MAX 2048 /* hex of a 4096-bit modulus is 1024 */
#define VTC_HOSTD_ATTR_MAX     64   /* tpm_model, tpm_spec_family */
#define VTC_HOSTD_XML_DEPTH    256
#define VTC_HOSTD_SUN_PATH_MAX sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* ------------------------------------------------------------------------------------------ */
/* Framing */

gboolean
vtc_hostd_proto_header_parse(const guint8 *hdr, gsize len, gsize *out_len, GError **error)
{
        guint32 n;

        if (len != VTC_HOSTD_PROTO_HEADER_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "a message header is %d bytes, not %" G_GSIZE_FORMAT,
                            VTC_HOSTD_PROTO_HEADER_SIZE,
                            len);
                return FALSE;
        }
        n = (guint32)hdr[0] << 24 | (guint32)hdr[1] << 16 | (guint32)hdr[2] << 8 | hdr[3];
        if (n == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "empty message (length 0)");
                return FALSE;
        }
        if (n > VTC_HOSTD_PROTO_MAX_MESSAGE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "message of %u bytes is over the limit of %d",
                            n,
                            VTC_HOSTD_PROTO_MAX_MESSAGE);
                return FALSE;
        }
        *out_len = n;
        return TRUE;
}

GBytes *
vtc_hostd_proto_frame_new(const gchar *payload, gsize len, GError **error)
{
        guint8 *buf;

        if (len == 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "refusing to send an empty message");
                return NULL;
        }
        if (len > VTC_HOSTD_PROTO_MAX_MESSAGE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "message of %" G_GSIZE_FORMAT " bytes is over the limit of %d",
                            len,
                            VTC_HOSTD_PROTO_MAX_MESSAGE);
                return NULL;
        }
        buf = g_malloc(VTC_HOSTD_PROTO_HEADER_SIZE + len);
        buf[0] = (guint8)(len >> 24);
        buf[1] = (guint8)(len >> 16);
        buf[2] = (guint8)(len >> 8);
        buf[3] = (guint8)len;
        memcpy(buf + VTC_HOSTD_PROTO_HEADER_SIZE, payload, len);
        return g_bytes_new_take(buf, VTC_HOSTD_PROTO_HEADER_SIZE + len);
}

GBytes *
vtc_hostd_proto_frame_parse(const guint8 *buf, gsize len, GError **error)
{
        gsize n = 0;

        if (len < VTC_HOSTD_PROTO_HEADER_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "truncated message header (%" G_GSIZE_FORMAT " bytes)",
                            len);
                return NULL;
        }
        if (!vtc_hostd_proto_header_parse(buf, VTC_HOSTD_PROTO_HEADER_SIZE, &n, error))
                return NULL;
        if (len - VTC_HOSTD_PROTO_HEADER_SIZE != n) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "message announces %" G_GSIZE_FORMAT " bytes but %" G_GSIZE_FORMAT
                            " follow",
                            n,
                            len - VTC_HOSTD_PROTO_HEADER_SIZE);
                return NULL;
        }
        return g_bytes_new(buf + VTC_HOSTD_PROTO_HEADER_SIZE, n);
}

/* Waits until @fd is ready for @events or @deadline passes. */
static gboolean
vtc_hostd_proto_wait(int fd, short events, gint64 deadline, const gchar *what, GError **error)
{
        for (;;) {
                gint64 now = g_get_monotonic_time();
                struct pollfd p = {.fd = fd, .events = events};
                int r;

                if (now >= deadline) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_TIMEOUT, "timed out %s", what);
                        return FALSE;
                }
                r = poll(&p, 1, (int)MIN((deadline - now + 999) / 1000, G_MAXINT));
                if (r < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "poll while %s: %s",
                                    what,
                                    g_strerror(e));
                        return FALSE;
                }
                /* errors and hang-ups are reported by the read or write that follows */
                if (r > 0)
                        return TRUE;
        }
}

int
vtc_hostd_proto_connect(const gchar *path, gint64 deadline, GError **error)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        gsize plen = path != NULL ? strlen(path) : 0;
        vtc_autofd int fd = -1;

        if (plen == 0 || plen >= sizeof(sa.sun_path)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "socket path must be 1 to %" G_GSIZE_FORMAT " bytes",
                            sizeof(sa.sun_path) - 1);
                return -1;
        }
        memcpy(sa.sun_path, path, plen);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "socket: %s", g_strerror(e));
                return -1;
        }
        for (;;) {
                int e;

                if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0)
                        break;
                e = errno;
                if (e == EISCONN)
                        break;
                if (e == EINTR)
                        continue;
                if (e == EAGAIN) {
                        /* the listen backlog is full: hostd is busy, try again shortly */
                        gint64 now = g_get_monotonic_time();
                        if (now >= deadline) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_TIMEOUT,
                                            "timed out connecting to %s (backlog full)",
                                            path);
                                return -1;
                        }
                        g_usleep((gulong)MIN(deadline - now, 10000));
                        continue;
                }
                if (e == EINPROGRESS || e == EALREADY) {
                        int soerr = 0;
                        socklen_t slen = sizeof(soerr);
                        g_autofree gchar *what = g_strdup_printf("connecting to %s", path);

                        if (!vtc_hostd_proto_wait(fd, POLLOUT, deadline, what, error))
                                return -1;
                        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0)
                                soerr = errno;
                        if (soerr == 0)
                                break;
                        e = soerr;
                }
                if (e == ENOENT || e == ECONNREFUSED) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_UNAVAILABLE,
                                    "nothing listens on %s (is vtc-hostd running?): %s",
                                    path,
                                    g_strerror(e));
                        return -1;
                }
                g_set_error(error,
                            VTC_ERROR,
                            e == EACCES || e == EPERM ? VTC_ERROR_FORBIDDEN : VTC_ERROR_IO,
                            "connecting to %s: %s",
                            path,
                            g_strerror(e));
                return -1;
        }
        return g_steal_fd(&fd);
}

gboolean
vtc_hostd_proto_write_frame(int fd,
                            const gchar *payload,
                            gsize len,
                            gint64 deadline,
                            GError **error)
{
        g_autoptr(GBytes) frame = vtc_hostd_proto_frame_new(payload, len, error);
        const guint8 *buf;
        gsize size = 0;
        gsize done = 0;

        if (frame == NULL)
                return FALSE;
        buf = g_bytes_get_data(frame, &size);
        while (done < size) {
                ssize_t n = send(fd, buf + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        if (e == EAGAIN || e == EWOULDBLOCK) {
                                if (!vtc_hostd_proto_wait(fd,
                                                          POLLOUT,
                                                          deadline,
                                                          "sending a message",
                                                          error))
                                        return FALSE;
                                continue;
                        }
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "sending a message: %s",
                                    g_strerror(e));
                        return FALSE;
                }
                done += (gsize)n;
        }
        return TRUE;
}

/* Reads exactly @len bytes of the @what ("header" or "body"). */
static gboolean
vtc_hostd_proto_read_exact(int fd,
                           guint8 *buf,
                           gsize len,
                           gint64 deadline,
                           const gchar *what,
                           GError **error)
{
        gsize done = 0;

        while (done < len) {
                ssize_t n = recv(fd, buf + done, len - done, MSG_DONTWAIT);
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        if (e == EAGAIN || e == EWOULDBLOCK) {
                                if (!vtc_hostd_proto_wait(fd,
                                                          POLLIN,
                                                          deadline,
                                                          "waiting for an answer",
                                                          error))
                                        return FALSE;
                                continue;
                        }
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "receiving the message %s: %s",
                                    what,
                                    g_strerror(e));
                        return FALSE;
                }
                if (n == 0) {
                        if (done == 0 && g_strcmp0(what, "header") == 0) {
                                g_set_error_literal(error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_IO,
                                                    "the connection was closed without an answer");
                                return FALSE;
                        }
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "the connection was closed after %" G_GSIZE_FORMAT
                                    " of %" G_GSIZE_FORMAT " bytes of the message %s",
                                    done,
                                    len,
                                    what);
                        return FALSE;
                }
                done += (gsize)n;
        }
        return TRUE;
}

GBytes *
vtc_hostd_proto_read_frame(int fd, gint64 deadline, GError **error)
{
        guint8 hdr[VTC_HOSTD_PROTO_HEADER_SIZE];
        g_autofree guint8 *buf = NULL;
        gsize n = 0;

        if (!vtc_hostd_proto_read_exact(fd, hdr, sizeof(hdr), deadline, "header", error))
                return NULL;
        if (!vtc_hostd_proto_header_parse(hdr, sizeof(hdr), &n, error))
                return NULL;
        buf = g_malloc(n + 1);
        if (!vtc_hostd_proto_read_exact(fd, buf, n, deadline, "body", error))
                return NULL;
        buf[n] = '\0';
        return g_bytes_new_take(g_steal_pointer(&buf), n);
}

GBytes *
vtc_hostd_proto_call(const gchar *path,
                     const gchar *request,
                     gsize request_len,
                     guint timeout_ms,
                     GError **error)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
        vtc_autofd int fd = vtc_hostd_proto_connect(path, deadline, error);
        GBytes *answer;

        if (fd < 0)
                return NULL;
        if (!vtc_hostd_proto_write_frame(fd, request, request_len, deadline, error)) {
                g_prefix_error(error, "%s: ", path);
                return NULL;
        }
        answer = vtc_hostd_proto_read_frame(fd, deadline, error);
        if (answer == NULL)
                g_prefix_error(error, "%s: ", path);
        return answer;
}

/* ------------------------------------------------------------------------------------------ */
/* Names */

static const gchar *const vtc_hostd_event_names[VTC_HOSTD_EVENT_LAST] = {
    [VTC_HOSTD_EVENT_PREPARE] = "prepare",
    [VTC_HOSTD_EVENT_START] = "start",
    [VTC_HOSTD_EVENT_STARTED] = "started",
    [VTC_HOSTD_EVENT_STOPPED] = "stopped",
    [VTC_HOSTD_EVENT_RELEASE] = "release",
    [VTC_HOSTD_EVENT_RECONNECT] = "reconnect",
};

static const gchar *const vtc_hostd_phase_names[VTC_HOSTD_PHASE_LAST] = {
    [VTC_HOSTD_PHASE_BEGIN] = "begin",
    [VTC_HOSTD_PHASE_END] = "end",
    [VTC_HOSTD_PHASE_NONE] = "-",
};

static const gchar *const vtc_hostd_cert_type_names[VTC_HOSTD_CERT_LAST] = {
    [VTC_HOSTD_CERT_EK] = "ek",
    [VTC_HOSTD_CERT_PLATFORM] = "platform",
};

static gboolean
vtc_hostd_name_lookup(const gchar *const *names, guint n, const gchar *str, guint *out)
{
        if (str == NULL)
                return FALSE;
        for (guint i = 0; i < n; i++) {
                if (g_strcmp0(names[i], str) == 0) {
                        *out = i;
                        return TRUE;
                }
        }
        return FALSE;
}

const gchar *
vtc_hostd_event_to_string(VtcHostdEvent event)
{
        return (guint)event < VTC_HOSTD_EVENT_LAST ? vtc_hostd_event_names[event] : NULL;
}

gboolean
vtc_hostd_event_from_string(const gchar *str, VtcHostdEvent *out_event)
{
        guint i = 0;

        if (!vtc_hostd_name_lookup(vtc_hostd_event_names, VTC_HOSTD_EVENT_LAST, str, &i))
                return FALSE;
        *out_event = (VtcHostdEvent)i;
        return TRUE;
}

const gchar *
vtc_hostd_phase_to_string(VtcHostdPhase phase)
{
        return (guint)phase < VTC_HOSTD_PHASE_LAST ? vtc_hostd_phase_names[phase] : NULL;
}

gboolean
vtc_hostd_phase_from_string(const gchar *str, VtcHostdPhase *out_phase)
{
        guint i = 0;

        if (!vtc_hostd_name_lookup(vtc_hostd_phase_names, VTC_HOSTD_PHASE_LAST, str, &i))
                return FALSE;
        *out_phase = (VtcHostdPhase)i;
        return TRUE;
}

const gchar *
vtc_hostd_cert_type_to_string(VtcHostdCertType type)
{
        return (guint)type < VTC_HOSTD_CERT_LAST ? vtc_hostd_cert_type_names[type] : NULL;
}

gboolean
vtc_hostd_cert_type_from_string(const gchar *str, VtcHostdCertType *out_type)
{
        guint i = 0;

        if (!vtc_hostd_name_lookup(vtc_hostd_cert_type_names, VTC_HOSTD_CERT_LAST, str, &i))
                return FALSE;
        *out_type = (VtcHostdCertType)i;
        return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Small value checks */

/* A domain name: 1..VTC_HOSTD_NAME_MAX bytes of UTF-8 without control characters. */
static gboolean
vtc_hostd_check_name(const gchar *name, gsize len, const gchar *what, GError **error)
{
        if (len == 0 || len > VTC_HOSTD_NAME_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            len == 0 ? VTC_ERROR_INVALID_DATA : VTC_ERROR_TOO_LARGE,
                            "%s must be 1 to %d bytes",
                            what,
                            VTC_HOSTD_NAME_MAX);
                return FALSE;
        }
        if (memchr(name, '\0', len) != NULL || !g_utf8_validate(name, (gssize)len, NULL)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "%s is not UTF-8", what);
                return FALSE;
        }
        for (const gchar *p = name; p < name + len; p = g_utf8_next_char(p)) {
                if (g_unichar_iscntrl(g_utf8_get_char(p))) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s contains a control character",
                                    what);
                        return FALSE;
                }
        }
        return TRUE;
}

/* A UUID in 8-4-4-4-12 form, either case; the lower-case copy. */
static gchar *
vtc_hostd_check_uuid(const gchar *uuid, const gchar *what, GError **error)
{
        if (uuid == NULL || strlen(uuid) != 36 || !g_uuid_string_is_valid(uuid)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s is not a UUID (8-4-4-4-12 hex digits)",
                            what);
                return NULL;
        }
        return g_ascii_strdown(uuid, -1);
}

/* "id:" and 8 hex digits, as swtpm reports manufacturer and firmware version. */
static gboolean
vtc_hostd_check_tpm_id(const gchar *value, const gchar *what, GError **error)
{
        gboolean ok = value != NULL && strlen(value) == 11 && g_str_has_prefix(value, "id:");

        for (guint i = 3; ok && i < 11; i++)
                ok = g_ascii_isxdigit(value[i]);
        if (!ok) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s must be 'id:' and 8 hex digits",
                            what);
        }
        return ok;
}

/* 1..VTC_HOSTD_ATTR_MAX printable ASCII characters, no leading or trailing space. */
static gboolean
vtc_hostd_check_attr(const gchar *value, const gchar *what, GError **error)
{
        gsize len = value != NULL ? strlen(value) : 0;
        gboolean ok =
            len > 0 && len <= VTC_HOSTD_ATTR_MAX && value[0] != ' ' && value[len - 1] != ' ';

        for (gsize i = 0; ok && i < len; i++)
                ok = value[i] >= 0x20 && value[i] < 0x7f;
        if (!ok) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s must be 1 to %d printable ASCII characters",
                            what,
                            VTC_HOSTD_ATTR_MAX);
        }
        return ok;
}

gboolean
vtc_hostd_proto_vmid_parse(const gchar *vmid, gchar **out_name, gchar **out_uuid, GError **error)
{
        const gchar *colon = vmid != NULL ? strrchr(vmid, ':') : NULL;
        g_autofree gchar *uuid = NULL;

        if (colon == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the VM id must be NAME:UUID");
                return FALSE;
        }
        if (!vtc_hostd_check_name(vmid, (gsize)(colon - vmid), "the VM name", error))
                return FALSE;
        uuid = vtc_hostd_check_uuid(colon + 1, "the VM id's UUID", error);
        if (uuid == NULL)
                return FALSE;
        *out_name = g_strndup(vmid, (gsize)(colon - vmid));
        *out_uuid = g_steal_pointer(&uuid);
        return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* swtpm_setup's --ek */

static EVP_PKEY *
vtc_hostd_pkey_fromdata(const gchar *type, VtcHostdParamBld *bld, GError **error)
{
        g_autoptr(VtcHostdParam) params = OSSL_PARAM_BLD_to_param(bld);
        g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        g_autoptr(EVP_PKEY_CTX) check = NULL;
        g_autoptr(EVP_PKEY) pkey = NULL;

        if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "the EK is not a valid %s key",
                                   type);
                return NULL;
        }
        check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
                vtc_ossl_set_error(error,
                                   VTC_ERROR_INVALID_DATA,
                                   "the EK is not a valid %s public key",
                                   type);
                return NULL;
        }
        return g_steal_pointer(&pkey);
}

static EVP_PKEY *
vtc_hostd_ek_parse_rsa(const gchar *ek, GError **error)
{
        g_autoptr(GBytes) n = vtc_hex_decode(ek, error);
        g_autoptr(BIGNUM) bn_n = NULL;
        g_autoptr(BIGNUM) bn_e = BN_new();
        g_autoptr(VtcHostdParamBld) bld = OSSL_PARAM_BLD_new();
        const guint8 *buf;
        gsize len = 0;
        int bits;

        if (n == NULL) {
                g_prefix_error(error, "the RSA EK modulus: ");
                return NULL;
        }
        buf = g_bytes_get_data(n, &len);
        bn_n = BN_bin2bn(buf, (int)len, NULL);
        if (bn_n == NULL || bn_e == NULL || bld == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the RSA EK");
                return NULL;
        }
        bits = BN_num_bits(bn_n);
        if (bits != 2048 && bits != 3072 && bits != 4096) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "an RSA EK modulus of %d bits (only 2048, 3072 and 4096)",
                            bits);
                return NULL;
        }
        if (BN_set_word(bn_e, 65537) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the RSA EK");
                return NULL;
        }
        return vtc_hostd_pkey_fromdata("RSA", bld, error);
}

/* x=<hex>,y=<hex>[,id=<curve>] in any order, each once (swtpm_localca reads it the same way). */
static EVP_PKEY *
vtc_hostd_ek_parse_ecc(const gchar *ek, GError **error)
{
        g_auto(GStrv) parts = g_strsplit(ek, ",", -1);
        const gchar *x = NULL;
        const gchar *y = NULL;
        const gchar *id = NULL;
        const gchar *group;
        gsize field;
        g_autoptr(GBytes) bx = NULL;
        g_autoptr(GBytes) by = NULL;
        g_autofree guint8 *point = NULL;
        g_autoptr(VtcHostdParamBld) bld = OSSL_PARAM_BLD_new();

        for (guint i = 0; parts[i] != NULL; i++) {
                const gchar **slot = NULL;
                const gchar *eq = strchr(parts[i], '=');

                if (eq == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the ECC EK: part %u is not KEY=VALUE",
                                    i + 1);
                        return NULL;
                }
                if (eq - parts[i] == 1 && parts[i][0] == 'x')
                        slot = &x;
                else if (eq - parts[i] == 1 && parts[i][0] == 'y')
                        slot = &y;
                else if (eq - parts[i] == 2 && strncmp(parts[i], "id", 2) == 0)
                        slot = &id;
                if (slot == NULL || *slot != NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the ECC EK: %s key '%.*s' (want x=,y=[,id=])",
                                    slot == NULL ? "unknown" : "repeated",
                                    (int)MIN(eq - parts[i], 16),
                                    parts[i]);
                        return NULL;
                }
                *slot = eq + 1;
        }
        if (x == NULL || y == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the ECC EK needs both x= and y=");
                return NULL;
        }
        if (id == NULL || g_strcmp0(id, "secp256r1") == 0) {
                group = "P-256";
                field = 32;
        } else if (g_strcmp0(id, "secp384r1") == 0) {
                group = "P-384";
                field = 48;
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the ECC EK's curve '%.32s' (only secp256r1 and secp384r1)",
                            id);
                return NULL;
        }
        bx = vtc_hex_decode(x, error);
        if (bx == NULL) {
                g_prefix_error(error, "the ECC EK's x: ");
                return NULL;
        }
        by = vtc_hex_decode(y, error);
        if (by == NULL) {
                g_prefix_error(error, "the ECC EK's y: ");
                return NULL;
        }
        if (g_bytes_get_size(bx) == 0 || g_bytes_get_size(bx) > field ||
            g_bytes_get_size(by) == 0 || g_bytes_get_size(by) > field) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the ECC EK's coordinates must be 1 to %" G_GSIZE_FORMAT
                            " bytes for %s",
                            field,
                            id != NULL ? id : "secp256r1");
                return NULL;
        }
        /* uncompressed point; a coordinate shorter than the field is left-padded */
        point = g_malloc0(1 + 2 * field);
        point[0] = 0x04;
        memcpy(point + 1 + field - g_bytes_get_size(bx),
               g_bytes_get_data(bx, NULL),
               g_bytes_get_size(bx));
        memcpy(point + 1 + 2 * field - g_bytes_get_size(by),
               g_bytes_get_data(by, NULL),
               g_bytes_get_size(by));
        if (bld == NULL ||
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * field) !=
                1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building the ECC EK");
                return NULL;
        }
        return vtc_hostd_pkey_fromdata("EC", bld, error);
}

EVP_PKEY *
vtc_hostd_proto_ek_parse(const gchar *ek, GError **error)
{
        gsize len = ek != NULL ? strlen(ek) : 0;

        if (len == 0) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "the EK is empty");
                return NULL;
        }
        if (len > VTC_HOSTD_EK_PARAM_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "the EK is longer than %d characters",
                            VTC_HOSTD_EK_PARAM_MAX);
                return NULL;
        }
        if (strchr(ek, '=') != NULL)
                return vtc_hostd_ek_parse_ecc(ek, error);
        return vtc_hostd_ek_parse_rsa(ek, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Domain XML */

typedef enum {
        VTC_XML_OTHER,
        VTC_XML_DOMAIN,
        VTC_XML_NAME,
        VTC_XML_UUID,
        VTC_XML_DEVICES,
        VTC_XML_TPM,
        VTC_XML_TPM_BACKEND,
        VTC_XML_TPM_ENCRYPTION,
        VTC_XML_CHANNEL,
        VTC_XML_CHANNEL_SOURCE,
        VTC_XML_CHANNEL_TARGET,
} VtcXmlKind;

typedef struct {
        VtcHostdDomain *domain;
        guint8 stack[VTC_HOSTD_XML_DEPTH];
        guint depth;
        guint roots;
        GString *text;
        gboolean seen_name;
        gboolean seen_uuid;
        /* the <tpm> being read */
        guint tpm_backends;
        gchar *tpm_type;
        gchar *tpm_version;
        gchar *tpm_secret;
        gboolean tpm_seen_encryption;
        /* the <channel> being read */
        gchar *chan_type;
        gchar *chan_path;
        gchar *chan_target_type;
        gchar *chan_target_name;
        guint chan_sources;
        guint chan_targets;
        gboolean chan_found;
} VtcXmlState;

static void
vtc_xml_state_clear_tpm(VtcXmlState *st)
{
        g_clear_pointer(&st->tpm_type, g_free);
        g_clear_pointer(&st->tpm_version, g_free);
        g_clear_pointer(&st->tpm_secret, g_free);
        st->tpm_backends = 0;
        st->tpm_seen_encryption = FALSE;
}

static void
vtc_xml_state_clear_channel(VtcXmlState *st)
{
        g_clear_pointer(&st->chan_type, g_free);
        g_clear_pointer(&st->chan_path, g_free);
        g_clear_pointer(&st->chan_target_type, g_free);
        g_clear_pointer(&st->chan_target_name, g_free);
        st->chan_sources = 0;
        st->chan_targets = 0;
}

/* The value of attribute @name (NULL when absent); two of them is an error. */
static gboolean
vtc_xml_get_attr(const gchar *element,
                 const gchar **names,
                 const gchar **values,
                 const gchar *name,
                 gchar **out,
                 GError **error)
{
        const gchar *found = NULL;

        for (guint i = 0; names[i] != NULL; i++) {
                if (strcmp(names[i], name) != 0)
                        continue;
                if (found != NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "<%s> has two '%s' attributes",
                                    element,
                                    name);
                        return FALSE;
                }
                found = values[i];
        }
        *out = g_strdup(found);
        return TRUE;
}

static VtcXmlKind
vtc_xml_kind(VtcXmlKind parent, const gchar *name)
{
        switch (parent) {
        case VTC_XML_DOMAIN:
                if (strcmp(name, "name") == 0)
                        return VTC_XML_NAME;
                if (strcmp(name, "uuid") == 0)
                        return VTC_XML_UUID;
                if (strcmp(name, "devices") == 0)
                        return VTC_XML_DEVICES;
                return VTC_XML_OTHER;
        case VTC_XML_DEVICES:
                if (strcmp(name, "tpm") == 0)
                        return VTC_XML_TPM;
                if (strcmp(name, "channel") == 0)
                        return VTC_XML_CHANNEL;
                return VTC_XML_OTHER;
        case VTC_XML_TPM:
                return strcmp(name, "backend") == 0 ? VTC_XML_TPM_BACKEND : VTC_XML_OTHER;
        case VTC_XML_TPM_BACKEND:
                return strcmp(name, "encryption") == 0 ? VTC_XML_TPM_ENCRYPTION : VTC_XML_OTHER;
        case VTC_XML_CHANNEL:
                if (strcmp(name, "source") == 0)
                        return VTC_XML_CHANNEL_SOURCE;
                if (strcmp(name, "target") == 0)
                        return VTC_XML_CHANNEL_TARGET;
                return VTC_XML_OTHER;
        case VTC_XML_OTHER:
        case VTC_XML_NAME:
        case VTC_XML_UUID:
        case VTC_XML_TPM_ENCRYPTION:
        case VTC_XML_CHANNEL_SOURCE:
        case VTC_XML_CHANNEL_TARGET:
        default:
                return VTC_XML_OTHER;
        }
}

static gboolean
vtc_xml_parse_id(const gchar *str, gint64 *out, GError **error)
{
        guint64 v = 0;

        if (!g_ascii_string_to_unsigned(str, 10, 1, G_MAXINT, &v, NULL)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "<domain id=...> is not a positive number");
                return FALSE;
        }
        *out = (gint64)v;
        return TRUE;
}

static void
vtc_xml_start(GMarkupParseContext *ctx,
              const gchar *element,
              const gchar **names,
              const gchar **values,
              gpointer user_data,
              GError **error)
{
        VtcXmlState *st = user_data;
        VtcXmlKind kind;

        if (st->depth == 0) {
                if (++st->roots > 1 || strcmp(element, "domain") != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "not a libvirt domain (root element <%.64s>)",
                                    element);
                        return;
                }
                kind = VTC_XML_DOMAIN;
        } else {
                kind = vtc_xml_kind((VtcXmlKind)st->stack[st->depth - 1], element);
        }
        if (st->depth >= VTC_HOSTD_XML_DEPTH) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "elements nest deeper than %d levels",
                            VTC_HOSTD_XML_DEPTH);
                return;
        }
        st->stack[st->depth++] = (guint8)kind;

        switch (kind) {
        case VTC_XML_DOMAIN: {
                g_autofree gchar *id = NULL;
                if (!vtc_xml_get_attr(element, names, values, "id", &id, error))
                        return;
                if (id != NULL && !vtc_xml_parse_id(id, &st->domain->id, error))
                        return;
                break;
        }
        case VTC_XML_NAME:
        case VTC_XML_UUID:
                if ((kind == VTC_XML_NAME && st->seen_name) ||
                    (kind == VTC_XML_UUID && st->seen_uuid)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the domain has two <%s> elements",
                                    element);
                        return;
                }
                g_string_truncate(st->text, 0);
                break;
        case VTC_XML_TPM:
                vtc_xml_state_clear_tpm(st);
                break;
        case VTC_XML_TPM_BACKEND:
                if (++st->tpm_backends > 1) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "a <tpm> has two <backend> elements");
                        return;
                }
                if (!vtc_xml_get_attr(element, names, values, "type", &st->tpm_type, error) ||
                    !vtc_xml_get_attr(element, names, values, "version", &st->tpm_version, error))
                        return;
                break;
        case VTC_XML_TPM_ENCRYPTION:
                if (st->tpm_seen_encryption) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "a TPM <backend> has two <encryption> elements");
                        return;
                }
                st->tpm_seen_encryption = TRUE;
                if (!vtc_xml_get_attr(element, names, values, "secret", &st->tpm_secret, error))
                        return;
                break;
        case VTC_XML_CHANNEL:
                vtc_xml_state_clear_channel(st);
                if (!vtc_xml_get_attr(element, names, values, "type", &st->chan_type, error))
                        return;
                break;
        case VTC_XML_CHANNEL_SOURCE:
                if (++st->chan_sources > 1) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "a <channel> has two <source> elements");
                        return;
                }
                if (!vtc_xml_get_attr(element, names, values, "path", &st->chan_path, error))
                        return;
                break;
        case VTC_XML_CHANNEL_TARGET:
                if (++st->chan_targets > 1) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "a <channel> has two <target> elements");
                        return;
                }
                if (!vtc_xml_get_attr(element,
                                      names,
                                      values,
                                      "type",
                                      &st->chan_target_type,
                                      error) ||
                    !vtc_xml_get_attr(element, names, values, "name", &st->chan_target_name, error))
                        return;
                break;
        case VTC_XML_OTHER:
        case VTC_XML_DEVICES:
        default:
                break;
        }
}

static gboolean
vtc_xml_end_tpm(VtcXmlState *st, GError **error)
{
        g_autofree gchar *secret = NULL;

        if (g_strcmp0(st->tpm_type, "emulator") != 0)
                return TRUE;
        if (st->domain->has_tpm) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the domain has two emulated TPMs");
                return FALSE;
        }
        if (st->tpm_seen_encryption) {
                secret = vtc_hostd_check_uuid(st->tpm_secret, "the TPM <encryption secret>", error);
                if (secret == NULL)
                        return FALSE;
        }
        if (st->tpm_version != NULL &&
            !vtc_hostd_check_attr(st->tpm_version, "the TPM backend version", error))
                return FALSE;
        st->domain->has_tpm = TRUE;
        st->domain->tpm_version = g_steal_pointer(&st->tpm_version);
        st->domain->tpm_secret = g_steal_pointer(&secret);
        return TRUE;
}

static gboolean
vtc_xml_end_channel(VtcXmlState *st, GError **error)
{
        if (g_strcmp0(st->chan_type, "unix") != 0 ||
            g_strcmp0(st->chan_target_type, "virtio") != 0 ||
            g_strcmp0(st->chan_target_name, VTC_HOSTD_AGENT_CHANNEL) != 0)
                return TRUE;
        if (st->chan_found) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the domain has two channels named %s",
                            VTC_HOSTD_AGENT_CHANNEL);
                return FALSE;
        }
        st->chan_found = TRUE;
        if (st->chan_path == NULL)
                return TRUE; /* inactive XML: libvirt picks the path at start */
        if (st->chan_path[0] != '/' || strlen(st->chan_path) >= VTC_HOSTD_SUN_PATH_MAX) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "the %s channel's path must be absolute and shorter than %" G_GSIZE_FORMAT
                    " bytes",
                    VTC_HOSTD_AGENT_CHANNEL,
                    VTC_HOSTD_SUN_PATH_MAX);
                return FALSE;
        }
        st->domain->channel_path = g_steal_pointer(&st->chan_path);
        return TRUE;
}

static void
vtc_xml_end(GMarkupParseContext *ctx, const gchar *element, gpointer user_data, GError **error)
{
        VtcXmlState *st = user_data;
        VtcXmlKind kind = (VtcXmlKind)st->stack[--st->depth];

        switch (kind) {
        case VTC_XML_NAME: {
                g_autofree gchar *name = g_strstrip(g_strdup(st->text->str));
                if (!vtc_hostd_check_name(name, strlen(name), "the domain <name>", error))
                        return;
                st->domain->name = g_steal_pointer(&name);
                st->seen_name = TRUE;
                break;
        }
        case VTC_XML_UUID: {
                g_autofree gchar *text = g_strstrip(g_strdup(st->text->str));
                st->domain->uuid = vtc_hostd_check_uuid(text, "the domain <uuid>", error);
                if (st->domain->uuid == NULL)
                        return;
                st->seen_uuid = TRUE;
                break;
        }
        case VTC_XML_TPM:
                if (!vtc_xml_end_tpm(st, error))
                        return;
                vtc_xml_state_clear_tpm(st);
                break;
        case VTC_XML_CHANNEL:
                if (!vtc_xml_end_channel(st, error))
                        return;
                vtc_xml_state_clear_channel(st);
                break;
        case VTC_XML_OTHER:
        case VTC_XML_DOMAIN:
        case VTC_XML_DEVICES:
        case VTC_XML_TPM_BACKEND:
        case VTC_XML_TPM_ENCRYPTION:
        case VTC_XML_CHANNEL_SOURCE:
        case VTC_XML_CHANNEL_TARGET:
        default:
                break;
        }
}

static void
vtc_xml_text(GMarkupParseContext *ctx,
             const gchar *text,
             gsize len,
             gpointer user_data,
             GError **error)
{
        VtcXmlState *st = user_data;
        VtcXmlKind kind = st->depth > 0 ? (VtcXmlKind)st->stack[st->depth - 1] : VTC_XML_OTHER;

        if (kind != VTC_XML_NAME && kind != VTC_XML_UUID)
                return;
        if (st->text->len + len > VTC_HOSTD_NAME_MAX + 256) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "the domain <%s> is longer than %d bytes",
                            kind == VTC_XML_NAME ? "name" : "uuid",
                            VTC_HOSTD_NAME_MAX);
                return;
        }
        g_string_append_len(st->text, text, (gssize)len);
}

void
vtc_hostd_domain_free(VtcHostdDomain *domain)
{
        if (domain == NULL)
                return;
        g_free(domain->name);
        g_free(domain->uuid);
        g_free(domain->tpm_version);
        g_free(domain->tpm_secret);
        g_free(domain->channel_path);
        g_free(domain);
}

VtcHostdDomain *
vtc_hostd_domain_parse(const gchar *xml, gsize len, GError **error)
{
        static const GMarkupParser parser = {
            .start_element = vtc_xml_start,
            .end_element = vtc_xml_end,
            .text = vtc_xml_text,
        };
        g_autoptr(VtcHostdDomain) domain = g_new0(VtcHostdDomain, 1);
        g_autoptr(GMarkupParseContext) ctx = NULL;
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GString) text = g_string_new(NULL);
        VtcXmlState st = {.domain = domain, .text = text};
        gboolean ok;

        domain->id = -1;
        if (len > VTC_HOSTD_DOMAIN_XML_MAX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "domain XML of %" G_GSIZE_FORMAT " bytes is over the limit of %d",
                            len,
                            VTC_HOSTD_DOMAIN_XML_MAX);
                return NULL;
        }
        if (memchr(xml, '\0', len) != NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "domain XML contains a NUL byte");
                return NULL;
        }
        ctx = g_markup_parse_context_new(&parser, G_MARKUP_PREFIX_ERROR_POSITION, &st, NULL);
        ok = g_markup_parse_context_parse(ctx, xml, (gssize)len, &error_local) &&
             g_markup_parse_context_end_parse(ctx, &error_local);
        vtc_xml_state_clear_tpm(&st);
        vtc_xml_state_clear_channel(&st);
        if (!ok) {
                g_set_error(error,
                            VTC_ERROR,
                            error_local->domain == VTC_ERROR ? error_local->code
                                                             : VTC_ERROR_INVALID_DATA,
                            "domain XML: %s",
                            error_local->message);
                return NULL;
        }
        if (st.roots == 0 || !st.seen_name || !st.seen_uuid) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "domain XML: %s",
                            st.roots == 0   ? "no <domain> element"
                            : !st.seen_name ? "the domain has no <name>"
                                            : "the domain has no <uuid>");
                return NULL;
        }
        return g_steal_pointer(&domain);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests */

void
vtc_hostd_request_free(VtcHostdRequest *req)
{
        if (req == NULL)
                return;
        g_free(req->hook.domain_xml);
        vtc_hostd_domain_free(req->hook.domain);
        g_free(req->certify.ek_param);
        EVP_PKEY_free(req->certify.ek);
        g_free(req->certify.vm_name);
        g_free(req->certify.vm_uuid);
        g_free(req->certify.tpm_manufacturer);
        g_free(req->certify.tpm_model);
        g_free(req->certify.tpm_version);
        g_free(req->certify.tpm_spec_family);
        g_free(req->protect.uuid);
        g_free(req->protect.name);
        g_free(req->protect.secret);
        g_free(req);
}

static gboolean
vtc_hostd_check_members(JsonObject *obj, const gchar *const *allowed, GError **error)
{
        JsonObjectIter iter;
        const gchar *name;
        JsonNode *node;

        json_object_iter_init(&iter, obj);
        while (json_object_iter_next(&iter, &name, &node)) {
                if (!g_strv_contains(allowed, name)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "unknown member '%.64s'",
                                    name);
                        return FALSE;
                }
        }
        return TRUE;
}

/* A required string member (error naming it when missing or not a string). */
static const gchar *
vtc_hostd_get_required(JsonObject *obj, const gchar *member, GError **error)
{
        return vtc_json_get_string(obj, member, TRUE, error);
}

static gboolean
vtc_hostd_parse_hook(JsonObject *obj, VtcHostdHookRequest *hook, GError **error)
{
        static const gchar *const members[] = {"op", "event", "phase", "domain", NULL};
        const gchar *event;
        const gchar *phase;
        const gchar *xml;

        if (!vtc_hostd_check_members(obj, members, error))
                return FALSE;
        event = vtc_hostd_get_required(obj, "event", error);
        if (event == NULL)
                return FALSE;
        if (!vtc_hostd_event_from_string(event, &hook->event)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member 'event': unknown event '%.32s'",
                            event);
                return FALSE;
        }
        phase = vtc_hostd_get_required(obj, "phase", error);
        if (phase == NULL)
                return FALSE;
        if (!vtc_hostd_phase_from_string(phase, &hook->phase)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member 'phase': unknown phase '%.32s' (begin, end or -)",
                            phase);
                return FALSE;
        }
        xml = vtc_hostd_get_required(obj, "domain", error);
        if (xml == NULL)
                return FALSE;
        hook->domain = vtc_hostd_domain_parse(xml, strlen(xml), error);
        if (hook->domain == NULL) {
                g_prefix_error(error, "member 'domain': ");
                return FALSE;
        }
        hook->domain_xml = g_strdup(xml);
        return TRUE;
}

static gboolean
vtc_hostd_parse_certify(JsonObject *obj, VtcHostdCertifyRequest *c, GError **error)
{
        static const gchar *const members[] = {"op",
                                               "type",
                                               "ek",
                                               "vmid",
                                               "tpm_manufacturer",
                                               "tpm_model",
                                               "tpm_version",
                                               "tpm_spec_family",
                                               "tpm_spec_level",
                                               "tpm_spec_revision",
                                               "allow_signing",
                                               "decryption",
                                               NULL};
        g_autoptr(GError) error_local = NULL;
        const gchar *type;
        const gchar *ek;
        const gchar *vmid;
        const gchar *manufacturer;
        const gchar *model;
        const gchar *version;
        const gchar *family;

        if (!vtc_hostd_check_members(obj, members, error))
                return FALSE;
        type = vtc_hostd_get_required(obj, "type", error);
        if (type == NULL)
                return FALSE;
        if (!vtc_hostd_cert_type_from_string(type, &c->type)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "member 'type': certificate type '%.32s' (ek or platform)",
                            type);
                return FALSE;
        }
        ek = vtc_hostd_get_required(obj, "ek", error);
        if (ek == NULL)
                return FALSE;
        c->ek = vtc_hostd_proto_ek_parse(ek, error);
        if (c->ek == NULL) {
                g_prefix_error(error, "member 'ek': ");
                return FALSE;
        }
        c->ek_param = g_strdup(ek);
        vmid = vtc_hostd_get_required(obj, "vmid", error);
        if (vmid == NULL)
                return FALSE;
        if (!vtc_hostd_proto_vmid_parse(vmid, &c->vm_name, &c->vm_uuid, error)) {
                g_prefix_error(error, "member 'vmid': ");
                return FALSE;
        }
        manufacturer = vtc_hostd_get_required(obj, "tpm_manufacturer", error);
        if (manufacturer == NULL ||
            !vtc_hostd_check_tpm_id(manufacturer, "member 'tpm_manufacturer'", error))
                return FALSE;
        model = vtc_hostd_get_required(obj, "tpm_model", error);
        if (model == NULL || !vtc_hostd_check_attr(model, "member 'tpm_model'", error))
                return FALSE;
        version = vtc_hostd_get_required(obj, "tpm_version", error);
        if (version == NULL || !vtc_hostd_check_tpm_id(version, "member 'tpm_version'", error))
                return FALSE;
        c->tpm_manufacturer = g_strdup(manufacturer);
        c->tpm_model = g_strdup(model);
        c->tpm_version = g_strdup(version);

        family = vtc_json_get_string(obj, "tpm_spec_family", FALSE, &error_local);
        if (error_local != NULL) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (family != NULL && !vtc_hostd_check_attr(family, "member 'tpm_spec_family'", error))
                return FALSE;
        c->tpm_spec_family = g_strdup(family);
        c->tpm_spec_level = -1;
        c->tpm_spec_revision = -1;
        if (!vtc_json_get_int(obj,
                              "tpm_spec_level",
                              0,
                              G_MAXUINT32,
                              FALSE,
                              &c->tpm_spec_level,
                              error) ||
            !vtc_json_get_int(obj,
                              "tpm_spec_revision",
                              0,
                              G_MAXUINT32,
                              FALSE,
                              &c->tpm_spec_revision,
                              error) ||
            !vtc_json_get_bool(obj, "allow_signing", FALSE, &c->allow_signing, error) ||
            !vtc_json_get_bool(obj, "decryption", FALSE, &c->decryption, error))
                return FALSE;
        if (c->decryption && !c->allow_signing) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'decryption' needs 'allow_signing' (a plain EK "
                                    "always decrypts)");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_hostd_parse_protect(JsonObject *obj, VtcHostdProtectRequest *p, GError **error)
{
        static const gchar *const add_members[] = {"op", "action", "uuid", "name", "secret", NULL};
        static const gchar *const remove_members[] = {"op", "action", "uuid", NULL};
        const gchar *action = vtc_hostd_get_required(obj, "action", error);
        const gchar *value;

        if (action == NULL)
                return FALSE;
        if (g_strcmp0(action, "add") == 0) {
                p->action = VTC_HOSTD_PROTECT_ADD;
        } else if (g_strcmp0(action, "remove") == 0) {
                p->action = VTC_HOSTD_PROTECT_REMOVE;
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "member 'action': unknown action '%.32s' (add or remove)",
                            action);
                return FALSE;
        }
        if (!vtc_hostd_check_members(obj,
                                     p->action == VTC_HOSTD_PROTECT_ADD ? add_members
                                                                        : remove_members,
                                     error))
                return FALSE;
        value = vtc_hostd_get_required(obj, "uuid", error);
        if (value == NULL)
                return FALSE;
        p->uuid = vtc_hostd_check_uuid(value, "member 'uuid'", error);
        if (p->uuid == NULL)
                return FALSE;
        if (p->action == VTC_HOSTD_PROTECT_REMOVE)
                return TRUE;
        value = vtc_hostd_get_required(obj, "name", error);
        if (value == NULL || !vtc_hostd_check_name(value, strlen(value), "member 'name'", error))
                return FALSE;
        p->name = g_strdup(value);
        value = vtc_hostd_get_required(obj, "secret", error);
        if (value == NULL)
                return FALSE;
        p->secret = vtc_hostd_check_uuid(value, "member 'secret'", error);
        return p->secret != NULL;
}

VtcHostdRequest *
vtc_hostd_request_parse(const gchar *data, gsize len, GError **error)
{
        g_autoptr(JsonObject) obj = vtc_json_parse_object(data, len, &vtc_hostd_json_limits, error);
        g_autoptr(VtcHostdRequest) req = NULL;
        const gchar *op;

        if (obj == NULL)
                return NULL;
        op = vtc_hostd_get_required(obj, "op", error);
        if (op == NULL)
                return NULL;
        req = g_new0(VtcHostdRequest, 1);
        if (g_strcmp0(op, "hook") == 0) {
                req->op = VTC_HOSTD_OP_HOOK;
                if (!vtc_hostd_parse_hook(obj, &req->hook, error))
                        return NULL;
        } else if (g_strcmp0(op, "certify") == 0) {
                req->op = VTC_HOSTD_OP_CERTIFY;
                if (!vtc_hostd_parse_certify(obj, &req->certify, error))
                        return NULL;
        } else if (g_strcmp0(op, "protect") == 0) {
                req->op = VTC_HOSTD_OP_PROTECT;
                if (!vtc_hostd_parse_protect(obj, &req->protect, error))
                        return NULL;
        } else {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "member 'op': unknown operation '%.32s' (hook, certify or protect)",
                            op);
                return NULL;
        }
        return g_steal_pointer(&req);
}

/* Serialises and checks that hostd would accept it. */
static gchar *
vtc_hostd_request_finish(JsonBuilder *builder, GError **error)
{
        g_autofree gchar *json = NULL;
        g_autoptr(VtcHostdRequest) req = NULL;
        gsize len;

        json_builder_end_object(builder);
        json = vtc_json_builder_to_string(builder);
        len = strlen(json);
        if (len > VTC_HOSTD_PROTO_MAX_MESSAGE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "the request is %" G_GSIZE_FORMAT " bytes, over the limit of %d",
                            len,
                            VTC_HOSTD_PROTO_MAX_MESSAGE);
                return NULL;
        }
        req = vtc_hostd_request_parse(json, len, error);
        if (req == NULL)
                return NULL;
        return g_steal_pointer(&json);
}

gchar *
vtc_hostd_request_hook_to_json(VtcHostdEvent event,
                               VtcHostdPhase phase,
                               const gchar *domain_xml,
                               GError **error)
{
        g_autoptr(JsonBuilder) builder = json_builder_new();

        if (vtc_hostd_event_to_string(event) == NULL || vtc_hostd_phase_to_string(phase) == NULL ||
            domain_xml == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "a hook request needs an event, a phase and the domain XML");
                return NULL;
        }
        /* json-glib would write invalid UTF-8 through: refuse it here with a clear message */
        if (!g_utf8_validate(domain_xml, -1, NULL)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the domain XML is not UTF-8");
                return NULL;
        }
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "op");
        json_builder_add_string_value(builder, "hook");
        json_builder_set_member_name(builder, "event");
        json_builder_add_string_value(builder, vtc_hostd_event_to_string(event));
        json_builder_set_member_name(builder, "phase");
        json_builder_add_string_value(builder, vtc_hostd_phase_to_string(phase));
        json_builder_set_member_name(builder, "domain");
        json_builder_add_string_value(builder, domain_xml);
        return vtc_hostd_request_finish(builder, error);
}

gchar *
vtc_hostd_request_protect_to_json(VtcHostdProtectAction action,
                                  const gchar *uuid,
                                  const gchar *name,
                                  const gchar *secret,
                                  GError **error)
{
        g_autoptr(JsonBuilder) builder = json_builder_new();
        gboolean add = action == VTC_HOSTD_PROTECT_ADD;

        if (uuid == NULL || (add && (name == NULL || secret == NULL)) ||
            (add && !g_utf8_validate(name, -1, NULL))) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "a protect request needs the domain's uuid, and to add, its "
                                    "UTF-8 name and the secret uuid");
                return NULL;
        }
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "op");
        json_builder_add_string_value(builder, "protect");
        json_builder_set_member_name(builder, "action");
        json_builder_add_string_value(builder, add ? "add" : "remove");
        json_builder_set_member_name(builder, "uuid");
        json_builder_add_string_value(builder, uuid);
        if (add) {
                json_builder_set_member_name(builder, "name");
                json_builder_add_string_value(builder, name);
                json_builder_set_member_name(builder, "secret");
                json_builder_add_string_value(builder, secret);
        }
        return vtc_hostd_request_finish(builder, error);
}

static gboolean
vtc_hostd_check_utf8_arg(const gchar *value, const gchar *what, GError **error)
{
        if (value == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT, "%s is missing", what);
                return FALSE;
        }
        if (!g_utf8_validate(value, -1, NULL)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "%s is not UTF-8", what);
                return FALSE;
        }
        return TRUE;
}

gchar *
vtc_hostd_request_certify_to_json(const VtcHostdCertifyArgs *args, GError **error)
{
        g_autoptr(JsonBuilder) builder = json_builder_new();
        const struct {
                const gchar *member;
                const gchar *value;
        } strings[] = {
            {"ek", args->ek},
            {"vmid", args->vmid},
            {"tpm_manufacturer", args->tpm_manufacturer},
            {"tpm_model", args->tpm_model},
            {"tpm_version", args->tpm_version},
        };

        if (vtc_hostd_cert_type_to_string(args->type) == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "unknown certificate type");
                return NULL;
        }
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "op");
        json_builder_add_string_value(builder, "certify");
        json_builder_set_member_name(builder, "type");
        json_builder_add_string_value(builder, vtc_hostd_cert_type_to_string(args->type));
        for (guint i = 0; i < G_N_ELEMENTS(strings); i++) {
                if (!vtc_hostd_check_utf8_arg(strings[i].value, strings[i].member, error))
                        return NULL;
                json_builder_set_member_name(builder, strings[i].member);
                json_builder_add_string_value(builder, strings[i].value);
        }
        if (args->tpm_spec_family != NULL) {
                if (!vtc_hostd_check_utf8_arg(args->tpm_spec_family, "tpm_spec_family", error))
                        return NULL;
                json_builder_set_member_name(builder, "tpm_spec_family");
                json_builder_add_string_value(builder, args->tpm_spec_family);
        }
        if (args->tpm_spec_level >= 0) {
                json_builder_set_member_name(builder, "tpm_spec_level");
                json_builder_add_int_value(builder, args->tpm_spec_level);
        }
        if (args->tpm_spec_revision >= 0) {
                json_builder_set_member_name(builder, "tpm_spec_revision");
                json_builder_add_int_value(builder, args->tpm_spec_revision);
        }
        if (args->allow_signing) {
                json_builder_set_member_name(builder, "allow_signing");
                json_builder_add_boolean_value(builder, TRUE);
        }
        if (args->decryption) {
                json_builder_set_member_name(builder, "decryption");
                json_builder_add_boolean_value(builder, TRUE);
        }
        return vtc_hostd_request_finish(builder, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Answers */

void
vtc_hostd_answer_free(VtcHostdAnswer *answer)
{
        if (answer == NULL)
                return;
        g_clear_pointer(&answer->cert, g_bytes_unref);
        g_free(answer->error_code);
        g_free(answer->message);
        g_free(answer);
}

gchar *
vtc_hostd_answer_ok_to_json(GBytes *cert)
{
        g_autoptr(JsonBuilder) builder = json_builder_new();

        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "ok");
        json_builder_add_boolean_value(builder, TRUE);
        if (cert != NULL) {
                gsize len = 0;
                const guint8 *data = g_bytes_get_data(cert, &len);
                vtc_json_builder_add_base64(builder, "cert", data, len);
        }
        json_builder_end_object(builder);
        return vtc_json_builder_to_string(builder);
}

/* @text cut to at most @max bytes on a character boundary, made valid UTF-8. */
static gchar *
vtc_hostd_text_bounded(const gchar *text, gsize max)
{
        g_autofree gchar *valid = g_utf8_make_valid(text != NULL ? text : "", -1);
        gsize len = strlen(valid);

        if (len > max) {
                const gchar *end = g_utf8_find_prev_char(valid, valid + max + 1);
                len = end != NULL ? (gsize)(end - valid) : 0;
        }
        return g_strndup(valid, len);
}

gchar *
vtc_hostd_answer_error_to_json(const GError *error)
{
        g_autoptr(JsonBuilder) builder = json_builder_new();
        g_autofree gchar *message =
            vtc_hostd_text_bounded(error != NULL ? error->message : "unknown error",
                                   VTC_HOSTD_PROTO_MAX_MESSAGE_TEXT);

        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "ok");
        json_builder_add_boolean_value(builder, FALSE);
        json_builder_set_member_name(builder, "error");
        json_builder_add_string_value(builder, vtc_error_to_string(error));
        json_builder_set_member_name(builder, "message");
        json_builder_add_string_value(builder, message);
        json_builder_end_object(builder);
        return vtc_json_builder_to_string(builder);
}

/* An error code string: [a-z_], 1..64 bytes (the vtc error strings, and room for new ones). */
static gboolean
vtc_hostd_check_error_code(const gchar *code, GError **error)
{
        gsize len = strlen(code);
        gboolean ok = len > 0 && len <= 64;

        for (gsize i = 0; ok && i < len; i++)
                ok = g_ascii_islower(code[i]) || code[i] == '_';
        if (!ok) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "member 'error' is not an error code");
        }
        return ok;
}

VtcHostdAnswer *
vtc_hostd_answer_parse(const gchar *data, gsize len, GError **error)
{
        static const gchar *const members[] = {"ok", "cert", "error", "message", NULL};
        g_autoptr(JsonObject) obj = vtc_json_parse_object(data, len, &vtc_hostd_json_limits, error);
        g_autoptr(VtcHostdAnswer) answer = NULL;
        gboolean ok = FALSE;
        const gchar *code;
        const gchar *message;

        if (obj == NULL)
                return NULL;
        if (!vtc_hostd_check_members(obj, members, error) ||
            !vtc_json_get_bool(obj, "ok", TRUE, &ok, error))
                return NULL;
        answer = g_new0(VtcHostdAnswer, 1);
        answer->ok = ok;
        if (ok) {
                g_autoptr(GError) error_local = NULL;
                if (json_object_has_member(obj, "error") ||
                    json_object_has_member(obj, "message")) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "an ok answer carries an error");
                        return NULL;
                }
                answer->cert =
                    vtc_json_get_base64(obj, "cert", VTC_HOSTD_PROTO_MAX_CERT, FALSE, &error_local);
                if (error_local != NULL) {
                        g_propagate_error(error, g_steal_pointer(&error_local));
                        return NULL;
                }
                if (answer->cert != NULL && g_bytes_get_size(answer->cert) == 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "member 'cert' is empty");
                        return NULL;
                }
                return g_steal_pointer(&answer);
        }
        if (json_object_has_member(obj, "cert")) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "a failed answer carries a certificate");
                return NULL;
        }
        code = vtc_hostd_get_required(obj, "error", error);
        if (code == NULL || !vtc_hostd_check_error_code(code, error))
                return NULL;
        message = vtc_hostd_get_required(obj, "message", error);
        if (message == NULL)
                return NULL;
        if (strlen(message) > VTC_HOSTD_PROTO_MAX_MESSAGE_TEXT) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "member 'message' is longer than %d bytes",
                            VTC_HOSTD_PROTO_MAX_MESSAGE_TEXT);
                return NULL;
        }
        answer->error_code = g_strdup(code);
        answer->message = g_strdup(message);
        return g_steal_pointer(&answer);
}

gboolean
vtc_hostd_answer_check(const VtcHostdAnswer *answer, GError **error)
{
        g_autofree gchar *message = NULL;
        gint code = VTC_ERROR_FAILED;

        if (answer->ok)
                return TRUE;
        for (gint i = 0; i < VTC_ERROR_LAST; i++) {
                GError probe = {.domain = VTC_ERROR, .code = i, .message = NULL};
                if (g_strcmp0(vtc_error_to_string(&probe), answer->error_code) == 0) {
                        code = i;
                        break;
                }
        }
        message = g_strdup(answer->message != NULL ? answer->message : "");
        for (gchar *p = message; *p != '\0'; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        }
        g_set_error(error,
                    VTC_ERROR,
                    code,
                    "vtc-hostd refused (%s): %s",
                    answer->error_code != NULL ? answer->error_code : "internal_error",
                    message);
        return FALSE;
}

/* ------------------------------------------------------------------------------------------ */
/* Client configuration */

GHashTable *
vtc_hostd_proto_conf_parse(const gchar *text, gsize len, const gchar *filename, GError **error)
{
        g_autoptr(GHashTable) table =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autofree gchar *copy = NULL;
        g_auto(GStrv) lines = NULL;

        if (len == 0)
                return g_steal_pointer(&table); /* an empty file (GBytes may hold NULL) */
        if (len > 64 * 1024 || memchr(text, '\0', len) != NULL ||
            !g_utf8_validate(text, (gssize)len, NULL)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s: not a text file of at most 64 KiB",
                            filename);
                return NULL;
        }
        copy = g_strndup(text, len);
        lines = g_strsplit(copy, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                gchar *line = g_strstrip(lines[i]);
                gchar *eq;
                gchar *key;
                gchar *value;
                gboolean key_ok;

                if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
                        continue;
                eq = strchr(line, '=');
                if (eq == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s:%u: expected 'key = value'",
                                    filename,
                                    i + 1);
                        return NULL;
                }
                *eq = '\0';
                key = g_strstrip(line);
                value = g_strstrip(eq + 1);
                key_ok = key[0] != '\0';
                for (const gchar *p = key; key_ok && *p != '\0'; p++)
                        key_ok = g_ascii_isalnum(*p) || *p == '_' || *p == '-';
                if (!key_ok) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s:%u: bad key name",
                                    filename,
                                    i + 1);
                        return NULL;
                }
                if (g_hash_table_contains(table, key)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s:%u: '%s' is set twice",
                                    filename,
                                    i + 1,
                                    key);
                        return NULL;
                }
                g_hash_table_insert(table, g_strdup(key), g_strdup(value));
        }
        return g_steal_pointer(&table);
}

gboolean
vtc_hostd_proto_timeout_parse(const gchar *str, guint *out_ms, GError **error)
{
        gchar *end = NULL;
        gdouble s;

        if (str == NULL || *str == '\0') {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "the timeout is empty");
                return FALSE;
        }
        s = g_ascii_strtod(str, &end);
        if (end == str || *end != '\0' || !(s >= 0.001 && s <= 3600)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "timeout '%.32s' is not a number of seconds from 0.001 to 3600",
                            str);
                return FALSE;
        }
        *out_ms = (guint)(s * 1000 + 0.5);
        return TRUE;
}
