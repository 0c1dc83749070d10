/* SPDX-License-Identifier: Apache-2.0 */
#include <gio/gio.h>

#include "vtc-error.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

static void
vtc_util_hex_test(void)
{
        const guint8 raw[] = {0x00, 0x01, 0xab, 0xff};
        g_autofree gchar *hex = vtc_hex_encode(raw, sizeof(raw));
        g_autoptr(GBytes) back = NULL;
        g_autoptr(GError) error = NULL;
        guint8 fixed[4] = {0x55, 0x55, 0x55, 0x55};

        g_assert_cmpstr(hex, ==, "0001abff");
        back = vtc_hex_decode("0001ABff", &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(back, NULL), g_bytes_get_size(back), raw, sizeof(raw));

        g_assert_null(vtc_hex_decode("abc", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_null(vtc_hex_decode("zz", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);

        /* the output is untouched when decoding fails half way */
        g_assert_false(vtc_hex_decode_fixed("0001abzz", fixed, 4, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        g_assert_cmpuint(fixed[0], ==, 0x55);
        g_assert_false(vtc_hex_decode_fixed("0001", fixed, 4, &error));
        g_clear_error(&error);
        g_assert_true(vtc_hex_decode_fixed("0001abff", fixed, 4, &error));
        g_assert_no_error(error);
        g_assert_cmpmem(fixed, 4, raw, 4);
}

static void
vtc_util_file_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "f.bin", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = NULL;
        const guint8 buf[] = "0123456789";

        g_assert_true(vtc_file_write_atomic(path, buf, 10, 0600, &error));
        g_assert_no_error(error);
        data = vtc_file_read(path, 10, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(data, NULL), g_bytes_get_size(data), buf, 10);

        g_assert_null(vtc_file_read(path, 9, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);
        g_assert_null(vtc_file_read("/nonexistent/file", 9, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_null(vtc_file_read(dir, 9, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_clear_error(&error);

        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
vtc_util_hash_test(void)
{
        const VtcHashAlg *alg = vtc_hash_alg_from_name("sha256");
        guint8 out[32];
        g_autofree gchar *hex = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_nonnull(alg);
        g_assert_cmpuint(alg->alg, ==, TPM2_ALG_SHA256);
        g_assert_true(vtc_hash_alg_from_id(TPM2_ALG_SHA1) == vtc_hash_alg_from_name("SHA1"));
        g_assert_null(vtc_hash_alg_from_name("md5"));
        g_assert_true(vtc_hash(alg, (const guint8 *)"abc", 3, out, &error));
        g_assert_no_error(error);
        hex = vtc_hex_encode(out, sizeof(out));
        g_assert_cmpstr(hex,
                        ==,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
vtc_util_error_test(void)
{
        g_autoptr(GError) error = g_error_new(VTC_ERROR, VTC_ERROR_CONFLICT, "x");
        g_autoptr(GError) other = g_error_new(G_IO_ERROR, 0, "y");

        g_assert_cmpuint(vtc_error_to_http_status(error), ==, 409);
        g_assert_cmpstr(vtc_error_to_string(error), ==, "conflict");
        g_assert_cmpuint(vtc_error_to_http_status(other), ==, 500);
        g_assert_cmpstr(vtc_error_to_string(other), ==, "internal_error");
        /* every code has a name and a 4xx/5xx status */
        for (gint i = 0; i < VTC_ERROR_LAST; i++) {
                g_autoptr(GError) e = g_error_new(VTC_ERROR, i, "z");
                g_assert_nonnull(vtc_error_to_string(e));
                g_assert_cmpuint(vtc_error_to_http_status(e), >=, 400);
        }
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/util/hex", vtc_util_hex_test);
        g_test_add_func("/util/file", vtc_util_file_test);
        g_test_add_func("/util/hash", vtc_util_hash_test);
        g_test_add_func("/util/error", vtc_util_error_test);
        return g_test_run();
}
