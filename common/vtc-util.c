/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <tss2/tss2_rc.h>

void
vtc_secret_free(gpointer data, gsize len)
{
        if (data == NULL)
                return;
        explicit_bzero(data, len);
        g_free(data);
}

gchar *
vtc_hex_encode(const guint8 *buf, gsize len)
{
        static const gchar digits[] = "0123456789abcdef";
        gchar *out = g_malloc(len * 2 + 1);

        for (gsize i = 0; i < len; i++) {
                out[2 * i] = digits[buf[i] >> 4];
                out[2 * i + 1] = digits[buf[i] & 0xf];
        }
        out[len * 2] = '\0';
        return out;
}

static gint
vtc_hex_digit(gchar c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static gboolean
vtc_hex_decode_into(const gchar *hex, gsize hexlen, guint8 *out, GError **error)
{
        for (gsize i = 0; i < hexlen; i += 2) {
                gint hi = vtc_hex_digit(hex[i]);
                gint lo = vtc_hex_digit(hex[i + 1]);
                if (hi < 0 || lo < 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "invalid hex digit at offset %" G_GSIZE_FORMAT,
                                    hi < 0 ? i : i + 1);
                        return FALSE;
                }
                out[i / 2] = (guint8)((hi << 4) | lo);
        }
        return TRUE;
}

GBytes *
vtc_hex_decode(const gchar *hex, GError **error)
{
        gsize hexlen = strlen(hex);
        g_autofree guint8 *buf = NULL;

        if (hexlen % 2 != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "hex string has an odd length (%" G_GSIZE_FORMAT ")",
                            hexlen);
                return NULL;
        }
        buf = g_malloc(hexlen / 2 + 1);
        if (!vtc_hex_decode_into(hex, hexlen, buf, error))
                return NULL;
        return g_bytes_new_take(g_steal_pointer(&buf), hexlen / 2);
}

gboolean
vtc_hex_decode_fixed(const gchar *hex, guint8 *out, gsize len, GError **error)
{
        gsize hexlen = strlen(hex);
        g_autofree guint8 *tmp = NULL;

        if (hexlen != len * 2) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "expected %" G_GSIZE_FORMAT " hex digits, got %" G_GSIZE_FORMAT,
                            len * 2,
                            hexlen);
                return FALSE;
        }
        tmp = g_malloc(len + 1);
        if (!vtc_hex_decode_into(hex, hexlen, tmp, error))
                return FALSE;
        memcpy(out, tmp, len);
        return TRUE;
}

GBytes *
vtc_file_read(const gchar *path, gsize max_size, GError **error)
{
        vtc_autofd int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        g_autoptr(GByteArray) buf = g_byte_array_new();

        if (fd < 0) {
                int e = errno;
                g_set_error(error,
                            VTC_ERROR,
                            e == ENOENT ? VTC_ERROR_NOT_FOUND : VTC_ERROR_IO,
                            "opening %s: %s",
                            path,
                            g_strerror(e));
                return NULL;
        }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "reading %s: is a directory", path);
                return NULL;
        }
        for (;;) {
                guint8 chunk[65536];
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "reading %s: %s",
                                    path,
                                    g_strerror(e));
                        return NULL;
                }
                if (n == 0)
                        break;
                if (buf->len + (gsize)n > max_size) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "%s is larger than the limit of %" G_GSIZE_FORMAT " bytes",
                                    path,
                                    max_size);
                        return NULL;
                }
                g_byte_array_append(buf, chunk, (guint)n);
        }
        return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

gboolean
vtc_file_write_atomic(const gchar *path, const guint8 *buf, gsize len, guint mode, GError **error)
{
        g_autofree gchar *tmp = g_strdup_printf("%s.tmp.XXXXXX", path);
        vtc_autofd int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, (gint)mode);
        gsize done = 0;

        if (fd < 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "creating %s: %s", tmp, g_strerror(e));
                return FALSE;
        }
        while (done < len) {
                ssize_t n = write(fd, buf + done, len - done);
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "writing %s: %s",
                                    tmp,
                                    g_strerror(e));
                        unlink(tmp);
                        return FALSE;
                }
                done += (gsize)n;
        }
        if (fsync(fd) != 0 || rename(tmp, path) != 0) {
                int e = errno;
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "saving %s: %s", path, g_strerror(e));
                unlink(tmp);
                return FALSE;
        }
        return TRUE;
}

static const VtcHashAlg vtc_hash_algs[] = {
    {TPM2_ALG_SHA1, "sha1", 20, "SHA1"},
    {TPM2_ALG_SHA256, "sha256", 32, "SHA256"},
    {TPM2_ALG_SHA384, "sha384", 48, "SHA384"},
    {TPM2_ALG_SHA512, "sha512", 64, "SHA512"},
    {TPM2_ALG_SM3_256, "sm3_256", 32, "SM3"},
    {TPM2_ALG_SHA3_256, "sha3_256", 32, "SHA3-256"},
    {TPM2_ALG_SHA3_384, "sha3_384", 48, "SHA3-384"},
    {TPM2_ALG_SHA3_512, "sha3_512", 64, "SHA3-512"},
};

const VtcHashAlg *
vtc_hash_alg_from_id(TPM2_ALG_ID alg)
{
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_hash_algs); i++) {
                if (vtc_hash_algs[i].alg == alg)
                        return &vtc_hash_algs[i];
        }
        return NULL;
}

const VtcHashAlg *
vtc_hash_alg_from_name(const gchar *name)
{
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_hash_algs); i++) {
                if (g_ascii_strcasecmp(vtc_hash_algs[i].name, name) == 0)
                        return &vtc_hash_algs[i];
        }
        /* "sm3" is how several tools spell sm3_256 */
        if (g_ascii_strcasecmp(name, "sm3") == 0)
                return vtc_hash_alg_from_id(TPM2_ALG_SM3_256);
        return NULL;
}

const EVP_MD *
vtc_hash_alg_get_md(const VtcHashAlg *alg)
{
        /* EVP_get_digestbyname returns a static object: nothing to free, and thread-safe. */
        if (alg == NULL || alg->ossl_name == NULL)
                return NULL;
        return EVP_get_digestbyname(alg->ossl_name);
}

gboolean
vtc_hash(const VtcHashAlg *alg, const guint8 *buf, gsize len, guint8 *out, GError **error)
{
        const EVP_MD *md = vtc_hash_alg_get_md(alg);
        unsigned int outlen = 0;

        if (md == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "hash algorithm %s is not available",
                            alg != NULL ? alg->name : "(unknown)");
                return FALSE;
        }
        if (EVP_Digest(buf, len, out, &outlen, md, NULL) != 1) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "computing %s", alg->name);
                return FALSE;
        }
        return TRUE;
}

void
vtc_tss_set_error(GError **error, TSS2_RC rc, const gchar *operation)
{
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_TPM,
                    "%s: 0x%08x: %s",
                    operation,
                    (guint)rc,
                    Tss2_RC_Decode(rc));
}

void
vtc_ossl_set_error(GError **error, gint code, const gchar *format, ...)
{
        va_list args;
        g_autofree gchar *msg = NULL;
        unsigned long e = ERR_get_error();
        gchar detail[256] = "";

        va_start(args, format);
        msg = g_strdup_vprintf(format, args);
        va_end(args);
        if (e != 0)
                ERR_error_string_n(e, detail, sizeof(detail));
        ERR_clear_error();
        if (detail[0] != '\0')
                g_set_error(error, VTC_ERROR, code, "%s: %s", msg, detail);
        else
                g_set_error_literal(error, VTC_ERROR, code, msg);
}
