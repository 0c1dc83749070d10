/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <glib/gstdio.h>

#include "vtc-ca.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

static X509 *
read_cert(const gchar *dir, const gchar *name)
{
        g_autofree gchar *path = g_build_filename(dir, name, NULL);
        g_autoptr(GBytes) data = vtc_file_read(path, 65536, NULL);
        g_autoptr(BIO) bio = NULL;

        g_assert_nonnull(data);
        bio = BIO_new_mem_buf(g_bytes_get_data(data, NULL), (int)g_bytes_get_size(data));
        return PEM_read_bio_X509(bio, NULL, NULL, NULL);
}

static void
vtc_ca_issue_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *cadir = g_build_filename(dir, "ca", NULL);
        g_autofree gchar *keypath = g_build_filename(cadir, "registrar.key", NULL);
        g_autoptr(GError) error = NULL;
        const gchar *sans[] = {"DNS:localhost", "IP:127.0.0.1", NULL};
        const gchar *badsans[] = {"URI:x", NULL};
        g_autoptr(X509) ca = NULL;
        g_autoptr(X509) leaf = NULL;
        g_autoptr(X509) other = NULL;
        g_autoptr(X509_STORE) store = X509_STORE_new();
        g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
        GStatBuf st;

        g_assert_true(vtc_ca_init(cadir, "vtc test CA", 30, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_ca_issue(cadir, "registrar", sans, 30, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_stat(keypath, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);

        ca = read_cert(cadir, "ca.crt");
        leaf = read_cert(cadir, "registrar.crt");
        g_assert_nonnull(ca);
        g_assert_nonnull(leaf);
        g_assert_cmpint(X509_STORE_add_cert(store, ca), ==, 1);
        g_assert_cmpint(X509_STORE_CTX_init(ctx, store, leaf, NULL), ==, 1);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        g_assert_cmpint(X509_verify_cert(ctx), ==, 1);
        g_assert_cmpint(X509_check_host(leaf, "localhost", 0, 0, NULL), ==, 1);
        g_assert_cmpint(X509_check_host(leaf, "registrar", 0, 0, NULL), ==, 1);
        g_assert_cmpint(X509_check_ip_asc(leaf, "127.0.0.1", 0), ==, 1);
        g_assert_cmpint(X509_check_host(leaf, "evil.example", 0, 0, NULL), !=, 1);

        /* nothing is overwritten, bad names and SANs refused */
        g_assert_false(vtc_ca_init(cadir, "again", 30, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
        g_clear_error(&error);
        g_assert_false(vtc_ca_issue(cadir, "registrar", NULL, 30, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
        g_clear_error(&error);
        g_assert_false(vtc_ca_issue(cadir, "../x", NULL, 30, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_false(vtc_ca_issue(cadir, "v", badsans, 30, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_false(vtc_ca_issue(dir, "nocahere", NULL, 30, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);

        /* a certificate of another CA does not verify against this one */
        g_assert_true(vtc_ca_init(dir, "other CA", 30, &error));
        g_assert_true(vtc_ca_issue(dir, "intruder", NULL, 30, &error));
        other = read_cert(dir, "intruder.crt");
        X509_STORE_CTX_cleanup(ctx);
        g_assert_cmpint(X509_STORE_CTX_init(ctx, store, other, NULL), ==, 1);
        g_assert_cmpint(X509_verify_cert(ctx), !=, 1);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ca/issue", vtc_ca_issue_test);
        return g_test_run();
}
