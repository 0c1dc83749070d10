/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EK certificate chains: real ones made by swtpm_setup with swtpm-localca (a root CA and an
 * intermediate, private to this test), read from the vTPM's NV like a registrar's client would,
 * and hand-made ones with each quirk TPM EK certificates have, or must not have.
 */
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <glib/gstdio.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "vtc-credential.h"
#include "vtc-ekcert.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

#define VTC_NV_EK_RSA_CERT     0x01c00002
#define VTC_NV_EK_ECC_CERT     0x01c0000a
#define VTC_NV_EK_ECC384_CERT  0x01c00016
#define VTC_EK_RSA_HANDLE      0x81010001
#define VTC_EK_ECC384_HANDLE   0x81010016
#define VTC_TEST_NV_READ_CHUNK 512

typedef struct {
        gchar *dir;
        gchar *root_pem;  /* path of the localca root certificate */
        gchar *inter_pem; /* path of the localca intermediate (issuer) certificate */
        VtcSwtpm *tpm;
        ESYS_CONTEXT *ctx;
        GBytes *rsa_cert; /* DER, from NV */
        GBytes *ecc_cert;
        GBytes *rsa_pub; /* marshalled TPM2B_PUBLIC, from TPM2_ReadPublic */
        GBytes *ecc_pub;
} VtcEkFixture;

static void
vtc_ek_fixture_free(VtcEkFixture *f)
{
        g_clear_pointer(&f->rsa_cert, g_bytes_unref);
        g_clear_pointer(&f->ecc_cert, g_bytes_unref);
        g_clear_pointer(&f->rsa_pub, g_bytes_unref);
        g_clear_pointer(&f->ecc_pub, g_bytes_unref);
        g_clear_pointer(&f->ctx, vtc_esys_close);
        g_clear_pointer(&f->tpm, vtc_swtpm_free);
        g_free(f->root_pem);
        g_free(f->inter_pem);
        vtc_test_tmpdir_free(g_steal_pointer(&f->dir));
        g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcEkFixture, vtc_ek_fixture_free)

static void
vtc_test_write(const gchar *path, const gchar *text)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g_assert_no_error(error);
}

static void
vtc_test_write_bytes(const gchar *path, GBytes *b)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path,
                                          g_bytes_get_data(b, NULL),
                                          (gssize)g_bytes_get_size(b),
                                          &error));
        g_assert_no_error(error);
}

static GBytes *
vtc_test_read_file(const gchar *path)
{
        g_autoptr(GError) error = NULL;
        GBytes *b = vtc_file_read(path, 1 << 20, &error);

        g_assert_no_error(error);
        return b;
}

/* Reads a whole NV index with owner authorization; NULL when the index does not exist. */
static GBytes *
vtc_test_nv_read(ESYS_CONTEXT *ctx, TPM2_HANDLE index)
{
        ESYS_TR nv = ESYS_TR_NONE;
        TPM2B_NV_PUBLIC *pub = NULL;
        g_autoptr(GByteArray) out = g_byte_array_new();
        guint16 size;
        TSS2_RC rc;

        rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
        if (rc != TSS2_RC_SUCCESS)
                return NULL;
        rc = Esys_NV_ReadPublic(ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        size = pub->nvPublic.dataSize;
        Esys_Free(pub);
        while (out->len < size) {
                TPM2B_MAX_NV_BUFFER *data = NULL;
                guint16 n = MIN(VTC_TEST_NV_READ_CHUNK, size - out->len);
                rc = Esys_NV_Read(ctx,
                                  ESYS_TR_RH_OWNER,
                                  nv,
                                  ESYS_TR_PASSWORD,
                                  ESYS_TR_NONE,
                                  ESYS_TR_NONE,
                                  n,
                                  (guint16)out->len,
                                  &data);
                g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
                g_assert_cmpuint(data->size, ==, n);
                g_byte_array_append(out, data->buffer, data->size);
                Esys_Free(data);
        }
        Esys_TR_Close(ctx, &nv);
        return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* TPM2_ReadPublic of a persistent key, marshalled as TPM2B_PUBLIC; NULL when absent. */
static GBytes *
vtc_test_read_public(ESYS_CONTEXT *ctx, TPM2_HANDLE handle)
{
        ESYS_TR tr = ESYS_TR_NONE;
        TPM2B_PUBLIC *pub = NULL;
        guint8 buf[sizeof(TPM2B_PUBLIC)];
        size_t len = 0;
        TSS2_RC rc;

        rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        if (rc != TSS2_RC_SUCCESS)
                return NULL;
        rc = Esys_ReadPublic(ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        g_assert_cmphex(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &len),
                        ==,
                        TSS2_RC_SUCCESS);
        Esys_Free(pub);
        Esys_TR_Close(ctx, &tr);
        return g_bytes_new(buf, len);
}

/*
 * swtpm_setup --createek --create-ek-cert with swtpm_localca, configured entirely inside our
 * temporary directory (the test never touches /var/lib/swtpm-localca), then a private swtpm on
 * the new state to read the certificates and keys back.
 */
static VtcEkFixture *
vtc_ek_fixture_new(void)
{
        g_autoptr(VtcEkFixture) f = g_new0(VtcEkFixture, 1);
        g_autofree gchar *ca = NULL;
        g_autofree gchar *state = NULL;
        g_autofree gchar *setup_conf = NULL;
        g_autofree gchar *localca_conf = NULL;
        g_autofree gchar *localca_opts = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        g_autofree gchar *logfile = NULL;
        g_autoptr(GError) error = NULL;
        gint status = 0;

        f->dir = vtc_test_tmpdir_new();
        ca = g_build_filename(f->dir, "localca", NULL);
        state = g_build_filename(f->dir, "tpm", NULL);
        setup_conf = g_build_filename(f->dir, "swtpm_setup.conf", NULL);
        localca_conf = g_build_filename(f->dir, "swtpm-localca.conf", NULL);
        localca_opts = g_build_filename(f->dir, "swtpm-localca.options", NULL);
        logfile = g_build_filename(f->dir, "swtpm_setup.log", NULL);
        g_assert_cmpint(g_mkdir(ca, 0700), ==, 0);
        g_assert_cmpint(g_mkdir(state, 0700), ==, 0);
        text = g_strdup_printf("statedir = %s\n"
                               "signingkey = %s/signkey.pem\n"
                               "issuercert = %s/issuercert.pem\n"
                               "certserial = %s/certserial\n",
                               ca,
                               ca,
                               ca,
                               ca);
        vtc_test_write(localca_conf, text);
        vtc_test_write(localca_opts,
                       "--platform-manufacturer vtc\n--platform-version 2.1\n"
                       "--platform-model test\n");
        g_free(text);
        text = g_strdup_printf("create_certs_tool = swtpm_localca\n"
                               "create_certs_tool_config = %s\n"
                               "create_certs_tool_options = %s\n"
                               "active_pcr_banks = sha256\n",
                               localca_conf,
                               localca_opts);
        vtc_test_write(setup_conf, text);
        {
                const gchar *argv[] = {"swtpm_setup",
                                       "--tpm2",
                                       "--tpmstate",
                                       state,
                                       "--createek",
                                       "--create-ek-cert",
                                       "--config",
                                       setup_conf,
                                       "--logfile",
                                       logfile,
                                       "--overwrite",
                                       NULL};
                g_assert_true(g_spawn_sync(NULL,
                                           (gchar **)argv,
                                           NULL,
                                           G_SPAWN_SEARCH_PATH,
                                           NULL,
                                           NULL,
                                           &out,
                                           &err,
                                           &status,
                                           &error));
                g_assert_no_error(error);
                if (!g_spawn_check_wait_status(status, &error)) {
                        g_autofree gchar *log = NULL;
                        g_file_get_contents(logfile, &log, NULL, NULL);
                        g_printerr("swtpm_setup failed:\n%s\n%s\n%s\n", out, err, log);
                }
                g_assert_no_error(error);
        }
        f->root_pem = g_build_filename(ca, "swtpm-localca-rootca-cert.pem", NULL);
        f->inter_pem = g_build_filename(ca, "issuercert.pem", NULL);
        g_assert_true(g_file_test(f->root_pem, G_FILE_TEST_IS_REGULAR));
        g_assert_true(g_file_test(f->inter_pem, G_FILE_TEST_IS_REGULAR));

        f->tpm = vtc_swtpm_new(state, &error);
        g_assert_no_error(error);
        f->ctx = vtc_swtpm_esys_open(f->tpm, &error);
        g_assert_no_error(error);
        f->rsa_cert = vtc_test_nv_read(f->ctx, VTC_NV_EK_RSA_CERT);
        g_assert_nonnull(f->rsa_cert);
        f->rsa_pub = vtc_test_read_public(f->ctx, VTC_EK_RSA_HANDLE);
        g_assert_nonnull(f->rsa_pub);
        /* swtpm 0.7 makes a P-384 EK (high range); older ones a P-256 one at 0x01c0000a */
        f->ecc_cert = vtc_test_nv_read(f->ctx, VTC_NV_EK_ECC384_CERT);
        if (f->ecc_cert == NULL)
                f->ecc_cert = vtc_test_nv_read(f->ctx, VTC_NV_EK_ECC_CERT);
        g_assert_nonnull(f->ecc_cert);
        f->ecc_pub = vtc_test_read_public(f->ctx, VTC_EK_ECC384_HANDLE);
        g_assert_nonnull(f->ecc_pub);
        return g_steal_pointer(&f);
}

/* A directory holding copies of @files (NULL-terminated), under @name in the fixture dir. */
static gchar *
vtc_test_store_dir(VtcEkFixture *f, const gchar *name, const gchar *const *files)
{
        gchar *dir = g_build_filename(f->dir, name, NULL);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
        for (guint i = 0; files != NULL && files[i] != NULL; i++) {
                g_autoptr(GBytes) b = vtc_test_read_file(files[i]);
                g_autofree gchar *base = g_path_get_basename(files[i]);
                g_autofree gchar *path = g_build_filename(dir, base, NULL);
                vtc_test_write_bytes(path, b);
        }
        return dir;
}

static GPtrArray *
vtc_test_intermediates(const gchar *path)
{
        GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

        g_ptr_array_add(a, vtc_test_read_file(path));
        return a;
}

/* The key of @pub as a PEM SubjectPublicKeyInfo. */
static GBytes *
vtc_test_pubkey_pem(GBytes *pub)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) pkey =
            vtc_ek_public_parse(g_bytes_get_data(pub, NULL), g_bytes_get_size(pub), &error);
        g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;

        g_assert_no_error(error);
        g_assert_cmpint(PEM_write_bio_PUBKEY(bio, pkey), ==, 1);
        len = BIO_get_mem_data(bio, &data);
        return g_bytes_new(data, (gsize)len);
}

static void
vtc_test_swtpm_chain(VtcEkFixture *f, gboolean rsa)
{
        const gchar *root_only[] = {f->root_pem, NULL};
        g_autofree gchar *dir = vtc_test_store_dir(f, "store-root", root_only);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkTrustStore) store = vtc_ek_trust_store_new_from_dir(dir, &error);
        g_autoptr(GPtrArray) inter = vtc_test_intermediates(f->inter_pem);
        g_autoptr(VtcEkCertInfo) info = NULL;
        g_autoptr(GBytes) pem = NULL;
        GBytes *cert = rsa ? f->rsa_cert : f->ecc_cert;
        GBytes *pub = rsa ? f->rsa_pub : f->ecc_pub;

        g_assert_no_error(error);
        g_assert_cmpuint(vtc_ek_trust_store_get_count(store), ==, 1);
        g_assert_true(
            vtc_ek_cert_verify(store, cert, inter, pub, VTC_EK_VERIFY_NONE, &info, &error));
        g_assert_no_error(error);
        g_assert_nonnull(info);
        g_assert_cmpstr(info->key_type, ==, rsa ? "rsa-2048" : "ecc-p384");
        g_assert_cmpstr(info->issuer, ==, "CN=swtpm-localca");
        g_assert_cmpstr(info->tpm_manufacturer, ==, "id:00001014");
        g_assert_cmpstr(info->tpm_model, ==, "swtpm");
        g_assert_cmpstr(info->tpm_version, ==, "id:20191023");
        g_assert_cmpuint(info->chain->len, ==, 3);
        g_assert_cmpstr(g_ptr_array_index(info->chain, 1), ==, "CN=swtpm-localca");
        g_assert_cmpstr(g_ptr_array_index(info->chain, 2), ==, "CN=swtpm-localca-rootca");
        g_assert_cmpint(info->not_after, ==, G_GINT64_CONSTANT(253402300799));
        g_assert_cmpint(info->not_before, <=, g_get_real_time() / G_USEC_PER_SEC);
        g_assert_nonnull(info->serial);

        /* the same key given as PEM */
        pem = vtc_test_pubkey_pem(pub);
        g_assert_true(vtc_ek_cert_verify(store, cert, inter, pem, 0, NULL, &error));
        g_assert_no_error(error);

        /* the other EK's key: a valid chain, but not this TPM's key */
        g_clear_pointer(&info, vtc_ek_cert_info_free);
        g_assert_false(vtc_ek_cert_verify(store,
                                          cert,
                                          inter,
                                          rsa ? f->ecc_pub : f->rsa_pub,
                                          0,
                                          &info,
                                          &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "EK public key"));
        g_assert_null(info);
}

static void
vtc_ekcert_swtpm_rsa_test(gconstpointer data)
{
        vtc_test_swtpm_chain((VtcEkFixture *)data, TRUE);
}

static void
vtc_ekcert_swtpm_ecc_test(gconstpointer data)
{
        vtc_test_swtpm_chain((VtcEkFixture *)data, FALSE);
}

/* Root and intermediate both in the store directory, under arbitrary names, PEM and DER. */
static void
vtc_ekcert_swtpm_store_dir_test(gconstpointer data)
{
        VtcEkFixture *f = (VtcEkFixture *)data;
        const gchar *both[] = {f->root_pem, NULL};
        g_autofree gchar *dir = vtc_test_store_dir(f, "store-both", both);
        g_autofree gchar *der_path = g_build_filename(dir, "intermediate.crt", NULL);
        g_autofree gchar *sub = g_build_filename(dir, "subdir", NULL);
        g_autofree gchar *hidden = g_build_filename(dir, ".hidden", NULL);
        g_autoptr(GBytes) inter_pem = vtc_test_read_file(f->inter_pem);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkTrustStore) store = NULL;
        g_autoptr(X509) inter = NULL;
        guint8 *der = NULL;
        int der_len;

        inter = vtc_ek_cert_parse(g_bytes_get_data(inter_pem, NULL),
                                  g_bytes_get_size(inter_pem),
                                  &error);
        g_assert_no_error(error);
        der_len = i2d_X509(inter, &der);
        g_assert_cmpint(der_len, >, 0);
        g_assert_true(g_file_set_contents(der_path, (gchar *)der, der_len, &error));
        g_assert_no_error(error);
        OPENSSL_free(der);
        /* a subdirectory and a hidden file are skipped */
        g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
        vtc_test_write(hidden, "not a certificate");

        store = vtc_ek_trust_store_new_from_dir(dir, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_ek_trust_store_get_count(store), ==, 2);
        g_assert_true(vtc_ek_cert_verify(store, f->rsa_cert, NULL, f->rsa_pub, 0, NULL, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_ek_cert_verify(store, f->ecc_cert, NULL, f->ecc_pub, 0, NULL, &error));
        g_assert_no_error(error);
}

static void
vtc_test_assert_verify_fails(VtcEkTrustStore *store,
                             GBytes *cert,
                             GPtrArray *inter,
                             GBytes *pub,
                             VtcEkVerifyFlags flags,
                             gint code,
                             const gchar *needle)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkCertInfo) info = NULL;

        g_assert_false(vtc_ek_cert_verify(store, cert, inter, pub, flags, &info, &error));
        g_assert_error(error, VTC_ERROR, code);
        if (needle != NULL && strstr(error->message, needle) == NULL)
                g_error("'%s' does not mention '%s'", error->message, needle);
        g_assert_null(info);
}

static void
vtc_ekcert_swtpm_negative_test(gconstpointer data)
{
        VtcEkFixture *f = (VtcEkFixture *)data;
        const gchar *root_only[] = {f->root_pem, NULL};
        const gchar *inter_only[] = {f->inter_pem, NULL};
        g_autofree gchar *root_dir = vtc_test_store_dir(f, "neg-root", root_only);
        g_autofree gchar *inter_dir = vtc_test_store_dir(f, "neg-inter", inter_only);
        g_autofree gchar *empty_dir = vtc_test_store_dir(f, "neg-empty", NULL);
        g_autofree gchar *junk_dir = vtc_test_store_dir(f, "neg-junk", root_only);
        g_autofree gchar *junk = g_build_filename(junk_dir, "README", NULL);
        g_autofree gchar *missing = g_build_filename(f->dir, "no-such-dir", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkTrustStore) root_store = vtc_ek_trust_store_new_from_dir(root_dir, &error);
        g_autoptr(VtcEkTrustStore) inter_store = NULL;
        g_autoptr(VtcEkTrustStore) store = NULL;
        g_autoptr(GPtrArray) inter = vtc_test_intermediates(f->inter_pem);
        gsize len = g_bytes_get_size(f->rsa_cert);
        g_autofree guint8 *buf = g_malloc(len + 16);
        g_autoptr(GBytes) bad = NULL;

        g_assert_no_error(error);
        inter_store = vtc_ek_trust_store_new_from_dir(inter_dir, &error);
        g_assert_no_error(error);

        /* the root is missing: the intermediate alone is no trust anchor... */
        vtc_test_assert_verify_fails(inter_store,
                                     f->rsa_cert,
                                     NULL,
                                     f->rsa_pub,
                                     0,
                                     VTC_ERROR_VERIFY_FAILED,
                                     "chain");
        /* ...unless the caller explicitly trusts any store certificate */
        g_assert_true(vtc_ek_cert_verify(inter_store,
                                         f->rsa_cert,
                                         NULL,
                                         f->rsa_pub,
                                         VTC_EK_VERIFY_PARTIAL_CHAIN,
                                         NULL,
                                         &error));
        g_assert_no_error(error);
        /* the intermediate is missing */
        vtc_test_assert_verify_fails(root_store,
                                     f->rsa_cert,
                                     NULL,
                                     f->rsa_pub,
                                     0,
                                     VTC_ERROR_VERIFY_FAILED,
                                     "unable to get local issuer certificate");
        /* the EK certificate offered as its own intermediate changes nothing */
        {
                g_autoptr(GPtrArray) self =
                    g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
                g_ptr_array_add(self, g_bytes_ref(f->rsa_cert));
                vtc_test_assert_verify_fails(root_store,
                                             f->rsa_cert,
                                             self,
                                             f->rsa_pub,
                                             0,
                                             VTC_ERROR_VERIFY_FAILED,
                                             NULL);
        }

        /* one flipped byte in the signature */
        memcpy(buf, g_bytes_get_data(f->rsa_cert, NULL), len);
        buf[len - 1] ^= 0x01;
        bad = g_bytes_new(buf, len);
        vtc_test_assert_verify_fails(root_store,
                                     bad,
                                     inter,
                                     f->rsa_pub,
                                     0,
                                     VTC_ERROR_VERIFY_FAILED,
                                     "signature failure");
        g_clear_pointer(&bad, g_bytes_unref);
        /* one flipped byte in the signed part (in the serial number) */
        memcpy(buf, g_bytes_get_data(f->rsa_cert, NULL), len);
        buf[15] ^= 0x01;
        bad = g_bytes_new(buf, len);
        vtc_test_assert_verify_fails(root_store,
                                     bad,
                                     inter,
                                     f->rsa_pub,
                                     0,
                                     VTC_ERROR_VERIFY_FAILED,
                                     NULL);
        g_clear_pointer(&bad, g_bytes_unref);
        /* truncated */
        memcpy(buf, g_bytes_get_data(f->rsa_cert, NULL), len);
        for (gsize cut = 0; cut < len; cut += len / 7 + 1) {
                bad = g_bytes_new(buf, cut);
                vtc_test_assert_verify_fails(root_store,
                                             bad,
                                             inter,
                                             f->rsa_pub,
                                             0,
                                             VTC_ERROR_INVALID_DATA,
                                             NULL);
                g_clear_pointer(&bad, g_bytes_unref);
        }
        /* NV padding after the DER is fine; anything else after it is not */
        memset(buf + len, 0xff, 16);
        bad = g_bytes_new(buf, len + 16);
        g_assert_true(vtc_ek_cert_verify(root_store, bad, inter, f->rsa_pub, 0, NULL, &error));
        g_assert_no_error(error);
        g_clear_pointer(&bad, g_bytes_unref);
        buf[len + 8] = 0x42;
        bad = g_bytes_new(buf, len + 16);
        vtc_test_assert_verify_fails(root_store,
                                     bad,
                                     inter,
                                     f->rsa_pub,
                                     0,
                                     VTC_ERROR_INVALID_DATA,
                                     "garbage");
        g_clear_pointer(&bad, g_bytes_unref);
        /* an EK public that is no key */
        bad = g_bytes_new_static("\x00\x04\x00\x01\x00\x0b", 6);
        vtc_test_assert_verify_fails(root_store,
                                     f->rsa_cert,
                                     inter,
                                     bad,
                                     0,
                                     VTC_ERROR_INVALID_DATA,
                                     "EK public key");
        g_clear_pointer(&bad, g_bytes_unref);
        /* an intermediate that does not parse */
        {
                g_autoptr(GPtrArray) junk_inter =
                    g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
                g_ptr_array_add(junk_inter, g_bytes_new_static("junk", 4));
                vtc_test_assert_verify_fails(root_store,
                                             f->rsa_cert,
                                             junk_inter,
                                             f->rsa_pub,
                                             0,
                                             VTC_ERROR_INVALID_DATA,
                                             "intermediate");
        }

        /* stores: empty, missing, holding a file that is no certificate */
        store = vtc_ek_trust_store_new_from_dir(empty_dir, &error);
        g_assert_null(store);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, "no certificate"));
        g_clear_error(&error);
        store = vtc_ek_trust_store_new_from_dir(missing, &error);
        g_assert_null(store);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        vtc_test_write(junk, "this directory holds the TPM vendor CAs\n");
        store = vtc_ek_trust_store_new_from_dir(junk_dir, &error);
        g_assert_null(store);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "README"));
}

/* The key a verified certificate names really is the TPM's EK: MakeCredential to it works. */
static void
vtc_ekcert_swtpm_activate_test(gconstpointer data)
{
        VtcEkFixture *f = (VtcEkFixture *)data;
        g_autoptr(GError) error = NULL;
        TPM2B_PUBLIC ak_template = {0};
        TPM2B_SENSITIVE_CREATE sensitive = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION pcrs = {0};
        TPM2B_PUBLIC *ak_pub = NULL;
        TPM2B_NAME ak_name = {0};
        ESYS_TR ak = ESYS_TR_NONE;
        ESYS_TR ek = ESYS_TR_NONE;
        TPM2B_PUBLIC ek_pub = {0};
        TPM2B_ID_OBJECT blob = {0};
        TPM2B_ENCRYPTED_SECRET enc = {0};
        TPM2B_DIGEST *got = NULL;
        static const guint8 secret[] = "a secret of 32 bytes, exactly!!";
        TSS2_RC rc;

        ak_template.publicArea.type = TPM2_ALG_ECC;
        ak_template.publicArea.nameAlg = TPM2_ALG_SHA256;
        ak_template.publicArea.objectAttributes =
            TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
            TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
        ak_template.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        ak_template.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        ak_template.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        ak_template.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        ak_template.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        rc = Esys_CreatePrimary(f->ctx,
                                ESYS_TR_RH_OWNER,
                                ESYS_TR_PASSWORD,
                                ESYS_TR_NONE,
                                ESYS_TR_NONE,
                                &sensitive,
                                &ak_template,
                                &outside,
                                &pcrs,
                                &ak,
                                &ak_pub,
                                NULL,
                                NULL,
                                NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        g_assert_true(vtc_tpm_public_get_name(ak_pub, &ak_name, &error));
        g_assert_no_error(error);
        Esys_Free(ak_pub);

        /* swtpm's P-384 EK is a high-range one: userWithAuth, so a password session will do */
        g_assert_true(vtc_tpm_public_unmarshal(g_bytes_get_data(f->ecc_pub, NULL),
                                               g_bytes_get_size(f->ecc_pub),
                                               &ek_pub,
                                               &error));
        g_assert_no_error(error);
        g_assert_true(ek_pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
        g_assert_true(
            vtc_credential_make(&ek_pub, &ak_name, secret, sizeof(secret), &blob, &enc, &error));
        g_assert_no_error(error);
        rc = Esys_TR_FromTPMPublic(f->ctx,
                                   VTC_EK_ECC384_HANDLE,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   ESYS_TR_NONE,
                                   &ek);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        rc = Esys_ActivateCredential(f->ctx,
                                     ak,
                                     ek,
                                     ESYS_TR_PASSWORD,
                                     ESYS_TR_PASSWORD,
                                     ESYS_TR_NONE,
                                     &blob,
                                     &enc,
                                     &got);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        g_assert_cmpmem(got->buffer, got->size, secret, sizeof(secret));
        Esys_Free(got);
        Esys_TR_Close(f->ctx, &ek);
        Esys_FlushContext(f->ctx, ak);
}

/* --- hand-made certificates, one quirk at a time --- */

static EVP_PKEY *
vtc_test_key(void)
{
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        g_assert_nonnull(k);
        return k;
}

typedef struct {
        const gchar *cn; /* NULL: empty subject */
        gboolean ca;
        gboolean no_basic_constraints;
        glong not_before; /* seconds from now */
        glong not_after;
        const gchar *ext_oid; /* an extra extension with a NULL value */
        gboolean ext_critical;
        gboolean san; /* critical SubjectAltName with the TPM directoryName */
        gboolean eku_tcg;
} VtcTestCertSpec;

static void
vtc_test_add_ext_nid(X509 *cert, X509 *issuer, int nid, const gchar *value)
{
        X509V3_CTX v3 = {0};
        X509_EXTENSION *ext = NULL;

        X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        g_assert_nonnull(ext);
        g_assert_cmpint(X509_add_ext(cert, ext, -1), ==, 1);
        X509_EXTENSION_free(ext);
}

static X509 *
vtc_test_cert(const VtcTestCertSpec *spec, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
        g_autoptr(X509) cert = X509_new();
        X509_NAME *name = X509_NAME_new();
        static glong serial = 1;

        g_assert_cmpint(X509_set_version(cert, X509_VERSION_3), ==, 1);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
        if (spec->cn != NULL)
                X509_NAME_add_entry_by_txt(name,
                                           "CN",
                                           MBSTRING_UTF8,
                                           (const guchar *)spec->cn,
                                           -1,
                                           -1,
                                           0);
        X509_set_subject_name(cert, name);
        X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name);
        X509_NAME_free(name);
        X509_gmtime_adj(X509_getm_notBefore(cert), spec->not_before);
        X509_gmtime_adj(X509_getm_notAfter(cert), spec->not_after);
        g_assert_cmpint(X509_set_pubkey(cert, key), ==, 1);
        if (!spec->no_basic_constraints)
                vtc_test_add_ext_nid(cert,
                                     issuer != NULL ? issuer : cert,
                                     NID_basic_constraints,
                                     spec->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        if (spec->ca)
                vtc_test_add_ext_nid(cert,
                                     issuer != NULL ? issuer : cert,
                                     NID_key_usage,
                                     "critical,keyCertSign,cRLSign");
        if (spec->eku_tcg)
                vtc_test_add_ext_nid(cert, issuer, NID_ext_key_usage, "2.23.133.8.1");
        if (spec->san) {
                GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
                GENERAL_NAME *gn = GENERAL_NAME_new();
                X509_NAME *dn = X509_NAME_new();
                X509_NAME_add_entry_by_txt(dn,
                                           "2.23.133.2.1",
                                           MBSTRING_UTF8,
                                           (const guchar *)"id:56544300",
                                           -1,
                                           -1,
                                           0);
                X509_NAME_add_entry_by_txt(dn,
                                           "2.23.133.2.2",
                                           MBSTRING_UTF8,
                                           (const guchar *)"vtc-test",
                                           -1,
                                           -1,
                                           0);
                GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
                sk_GENERAL_NAME_push(gens, gn);
                g_assert_cmpint(X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 1, 0), ==, 1);
                GENERAL_NAMES_free(gens);
        }
        if (spec->ext_oid != NULL) {
                static const guint8 null_der[] = {0x05, 0x00};
                ASN1_OBJECT *obj = OBJ_txt2obj(spec->ext_oid, 1);
                ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
                X509_EXTENSION *ext = NULL;
                ASN1_OCTET_STRING_set(os, null_der, sizeof(null_der));
                ext = X509_EXTENSION_create_by_OBJ(NULL, obj, spec->ext_critical, os);
                g_assert_nonnull(ext);
                g_assert_cmpint(X509_add_ext(cert, ext, -1), ==, 1);
                X509_EXTENSION_free(ext);
                ASN1_OCTET_STRING_free(os);
                ASN1_OBJECT_free(obj);
        }
        g_assert_cmpint(X509_sign(cert, issuer_key != NULL ? issuer_key : key, EVP_sha256()), >, 0);
        return g_steal_pointer(&cert);
}

static GBytes *
vtc_test_der(X509 *cert)
{
        guint8 *der = NULL;
        int len = i2d_X509(cert, &der);
        GBytes *b = NULL;

        g_assert_cmpint(len, >, 0);
        b = g_bytes_new(der, (gsize)len);
        OPENSSL_free(der);
        return b;
}

static GBytes *
vtc_test_pub_der(EVP_PKEY *key)
{
        guint8 *der = NULL;
        int len = i2d_PUBKEY(key, &der);
        GBytes *b = NULL;

        g_assert_cmpint(len, >, 0);
        b = g_bytes_new(der, (gsize)len);
        OPENSSL_free(der);
        return b;
}

typedef struct {
        EVP_PKEY *root_key;
        EVP_PKEY *inter_key;
        EVP_PKEY *ek_key;
        X509 *root;
        X509 *inter;
        VtcEkTrustStore *store;
        GPtrArray *inter_list;
        GBytes *ek_pub;
} VtcTestPki;

static void
vtc_test_pki_free(VtcTestPki *p)
{
        EVP_PKEY_free(p->root_key);
        EVP_PKEY_free(p->inter_key);
        EVP_PKEY_free(p->ek_key);
        X509_free(p->root);
        X509_free(p->inter);
        vtc_ek_trust_store_free(p->store);
        g_ptr_array_unref(p->inter_list);
        g_bytes_unref(p->ek_pub);
        g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcTestPki, vtc_test_pki_free)

static VtcTestPki *
vtc_test_pki_new(const VtcTestCertSpec *inter_spec)
{
        g_autoptr(VtcTestPki) p = g_new0(VtcTestPki, 1);
        VtcTestCertSpec root_spec = {.cn = "vtc test root", .ca = TRUE, .not_after = 86400};
        VtcTestCertSpec default_inter = {.cn = "vtc test inter", .ca = TRUE, .not_after = 86400};
        g_autoptr(GBytes) root_der = NULL;
        g_autoptr(GError) error = NULL;

        p->root_key = vtc_test_key();
        p->inter_key = vtc_test_key();
        p->ek_key = vtc_test_key();
        p->root = vtc_test_cert(&root_spec, p->root_key, NULL, NULL);
        p->inter = vtc_test_cert(inter_spec != NULL ? inter_spec : &default_inter,
                                 p->inter_key,
                                 p->root,
                                 p->root_key);
        root_der = vtc_test_der(p->root);
        p->store = vtc_ek_trust_store_new();
        g_assert_true(vtc_ek_trust_store_add_data(p->store,
                                                  g_bytes_get_data(root_der, NULL),
                                                  g_bytes_get_size(root_der),
                                                  "root",
                                                  &error));
        g_assert_no_error(error);
        p->inter_list = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
        g_ptr_array_add(p->inter_list, vtc_test_der(p->inter));
        p->ek_pub = vtc_test_pub_der(p->ek_key);
        return g_steal_pointer(&p);
}

/* Verifies an EK certificate made from @spec; returns the error code, or -1 on success. */
static gint
vtc_test_pki_check(VtcTestPki *p, const VtcTestCertSpec *spec, VtcEkVerifyFlags flags)
{
        g_autoptr(X509) ek = vtc_test_cert(spec, p->ek_key, p->inter, p->inter_key);
        g_autoptr(GBytes) der = vtc_test_der(ek);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkCertInfo) info = NULL;

        if (vtc_ek_cert_verify(p->store, der, p->inter_list, p->ek_pub, flags, &info, &error)) {
                g_assert_nonnull(info);
                g_assert_cmpstr(info->key_type, ==, "ecc-p256");
                g_assert_cmpuint(info->chain->len, ==, 3);
                return -1;
        }
        g_assert_nonnull(error);
        g_assert_null(info);
        g_test_message("%s", error->message);
        return error->code;
}

static void
vtc_ekcert_quirks_test(void)
{
        g_autoptr(VtcTestPki) p = vtc_test_pki_new(NULL);
        const glong day = 86400;

        /* the baseline: a plain EK certificate */
        {
                VtcTestCertSpec s = {.cn = "ek", .not_after = day};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, -1);
        }
        /* what the TCG profile asks for: empty subject, critical SAN directoryName, EKU */
        {
                VtcTestCertSpec s = {.not_after = day, .san = TRUE, .eku_tcg = TRUE};
                g_autoptr(X509) ek = vtc_test_cert(&s, p->ek_key, p->inter, p->inter_key);
                g_autoptr(GBytes) der = vtc_test_der(ek);
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcEkCertInfo) info = NULL;

                g_assert_true(
                    vtc_ek_cert_verify(p->store, der, p->inter_list, p->ek_pub, 0, &info, &error));
                g_assert_no_error(error);
                g_assert_cmpstr(info->subject, ==, "");
                g_assert_cmpstr(info->tpm_manufacturer, ==, "id:56544300");
                g_assert_cmpstr(info->tpm_model, ==, "vtc-test");
                g_assert_null(info->tpm_version);
        }
        /* a critical TPM-specific (TCG arc) extension OpenSSL does not know: tolerated */
        {
                VtcTestCertSpec s = {.not_after = day,
                                     .ext_oid = "2.23.133.99.1",
                                     .ext_critical = TRUE,
                                     .san = TRUE};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, -1);
        }
        /* any other unknown critical extension: refused */
        {
                VtcTestCertSpec s = {.not_after = day, .ext_oid = "1.2.3.4", .ext_critical = TRUE};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, VTC_ERROR_VERIFY_FAILED);
        }
        /* the same unknown extension when not critical: fine */
        {
                VtcTestCertSpec s = {.not_after = day, .ext_oid = "1.2.3.4"};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, -1);
        }
        /* expired, and not yet valid: refused, unless time checks are off */
        {
                VtcTestCertSpec s = {.cn = "ek", .not_before = -2 * day, .not_after = -day};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, VTC_ERROR_VERIFY_FAILED);
                g_assert_cmpint(vtc_test_pki_check(p, &s, VTC_EK_VERIFY_IGNORE_TIME), ==, -1);
        }
        {
                VtcTestCertSpec s = {.cn = "ek", .not_before = day, .not_after = 2 * day};
                g_assert_cmpint(vtc_test_pki_check(p, &s, 0), ==, VTC_ERROR_VERIFY_FAILED);
                g_assert_cmpint(vtc_test_pki_check(p, &s, VTC_EK_VERIFY_IGNORE_TIME), ==, -1);
        }
        /* the right chain but another key */
        {
                VtcTestCertSpec s = {.cn = "ek", .not_after = day};
                g_autoptr(X509) ek = vtc_test_cert(&s, p->ek_key, p->inter, p->inter_key);
                g_autoptr(GBytes) der = vtc_test_der(ek);
                g_autoptr(GBytes) other = vtc_test_pub_der(p->inter_key);
                vtc_test_assert_verify_fails(p->store,
                                             der,
                                             p->inter_list,
                                             other,
                                             0,
                                             VTC_ERROR_VERIFY_FAILED,
                                             "EK public key");
        }
        /* signed by a key outside the chain */
        {
                VtcTestCertSpec s = {.cn = "ek", .not_after = day};
                g_autoptr(X509) ek = vtc_test_cert(&s, p->ek_key, p->inter, p->root_key);
                g_autoptr(GBytes) der = vtc_test_der(ek);
                vtc_test_assert_verify_fails(p->store,
                                             der,
                                             p->inter_list,
                                             p->ek_pub,
                                             0,
                                             VTC_ERROR_VERIFY_FAILED,
                                             "signature");
        }
}

/* The relaxations apply to the EK certificate only, never to a CA on the way. */
static void
vtc_ekcert_quirks_ca_test(void)
{
        const glong day = 86400;
        VtcTestCertSpec ek = {.cn = "ek", .not_after = day};

        /* an intermediate with a critical TCG extension */
        {
                VtcTestCertSpec s = {.cn = "inter",
                                     .ca = TRUE,
                                     .not_after = day,
                                     .ext_oid = "2.23.133.99.1",
                                     .ext_critical = TRUE};
                g_autoptr(VtcTestPki) p = vtc_test_pki_new(&s);
                g_assert_cmpint(vtc_test_pki_check(p, &ek, 0), ==, VTC_ERROR_VERIFY_FAILED);
        }
        /* an intermediate that is not a CA */
        {
                VtcTestCertSpec s = {.cn = "inter", .ca = FALSE, .not_after = day};
                g_autoptr(VtcTestPki) p = vtc_test_pki_new(&s);
                g_assert_cmpint(vtc_test_pki_check(p, &ek, 0), ==, VTC_ERROR_VERIFY_FAILED);
        }
        /* an expired intermediate */
        {
                VtcTestCertSpec s = {.cn = "inter",
                                     .ca = TRUE,
                                     .not_before = -2 * day,
                                     .not_after = -day};
                g_autoptr(VtcTestPki) p = vtc_test_pki_new(&s);
                g_assert_cmpint(vtc_test_pki_check(p, &ek, 0), ==, VTC_ERROR_VERIFY_FAILED);
                g_assert_cmpint(vtc_test_pki_check(p, &ek, VTC_EK_VERIFY_IGNORE_TIME), ==, -1);
        }
        /* the sane intermediate, for contrast */
        {
                g_autoptr(VtcTestPki) p = vtc_test_pki_new(NULL);
                g_assert_cmpint(vtc_test_pki_check(p, &ek, 0), ==, -1);
        }
}

/* Public keys in every accepted form; keylime's ek.pub and ekpub.pem are the same key. */
static void
vtc_ekcert_public_parse_test(void)
{
        g_autofree gchar *tpm2b = vtc_test_data_path("quote/keylime-tpm2-tools-files/ek.pub");
        g_autofree gchar *pem = vtc_test_data_path("quote/keylime-tpm2-tools-files/ekpub.pem");
        g_autofree gchar *ak = vtc_test_data_path("quote/keylime-tpm2-tools-files/akpub.pem");
        g_autoptr(GBytes) b1 = vtc_test_read_file(tpm2b);
        g_autoptr(GBytes) b2 = vtc_test_read_file(pem);
        g_autoptr(GBytes) b3 = vtc_test_read_file(ak);
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) k1 =
            vtc_ek_public_parse(g_bytes_get_data(b1, NULL), g_bytes_get_size(b1), &error);
        g_autoptr(EVP_PKEY) k2 = NULL;
        g_autoptr(EVP_PKEY) k3 = NULL;
        g_autoptr(EVP_PKEY) k4 = NULL;
        g_autoptr(EVP_PKEY) bad = NULL;
        g_autoptr(GBytes) der = NULL;
        g_autofree gchar *desc = NULL;

        g_assert_no_error(error);
        k2 = vtc_ek_public_parse(g_bytes_get_data(b2, NULL), g_bytes_get_size(b2), &error);
        g_assert_no_error(error);
        k3 = vtc_ek_public_parse(g_bytes_get_data(b3, NULL), g_bytes_get_size(b3), &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(k1, k2), ==, 1);
        g_assert_cmpint(EVP_PKEY_eq(k1, k3), !=, 1);
        desc = vtc_ek_key_describe(k1);
        g_assert_cmpstr(desc, ==, "rsa-2048");
        /* bare TPMT_PUBLIC */
        k4 = vtc_ek_public_parse((const guint8 *)g_bytes_get_data(b1, NULL) + 2,
                                 g_bytes_get_size(b1) - 2,
                                 &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(k1, k4), ==, 1);
        g_clear_pointer(&k4, EVP_PKEY_free);
        /* DER SubjectPublicKeyInfo */
        der = vtc_test_pub_der(k1);
        k4 = vtc_ek_public_parse(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(k1, k4), ==, 1);
        /* broken forms */
        bad = vtc_ek_public_parse((const guint8 *)"", 0, &error);
        g_assert_null(bad);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        bad = vtc_ek_public_parse((const guint8 *)"-----BEGIN PUBLIC KEY-----\nAAAA\n", 32, &error);
        g_assert_null(bad);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        bad = vtc_ek_public_parse(g_bytes_get_data(der, NULL), g_bytes_get_size(der) - 1, &error);
        g_assert_null(bad);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
        bad = vtc_ek_public_parse(g_bytes_get_data(b1, NULL), g_bytes_get_size(b1) - 1, &error);
        g_assert_null(bad);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_clear_error(&error);
}

/*
 * The only CA material in the shared corpus: Keylime's IDevID test CA (a root and an
 * intermediate, no EK certificate). The intermediate is checked as the "leaf" against the root,
 * with its own key as the expected one; it must fail against the intermediate alone and with
 * another key.
 */
static void
vtc_ekcert_testdata_idevid_test(void)
{
        g_autofree gchar *path = vtc_test_data_path(
            "quote/keylime-tpm2-tools-files/idevid-test-ca/iak_idevid_chain.pem");
        g_autofree gchar *akpath = vtc_test_data_path("quote/keylime-tpm2-tools-files/akpub.pem");
        g_autoptr(GBytes) bundle = vtc_test_read_file(path);
        g_autoptr(GBytes) akpem = vtc_test_read_file(akpath);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEkTrustStore) both = vtc_ek_trust_store_new();
        g_autoptr(VtcEkTrustStore) root = vtc_ek_trust_store_new();
        g_autoptr(X509) inter = NULL;
        g_autoptr(GBytes) inter_der = NULL;
        g_autoptr(GBytes) inter_key = NULL;
        g_autoptr(VtcEkCertInfo) info = NULL;
        const gchar *text = g_bytes_get_data(bundle, NULL);
        const gchar *second = NULL;

        g_assert_true(vtc_ek_trust_store_add_file(both, path, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_ek_trust_store_get_count(both), ==, 2);
        /* the bundle is intermediate first, root second */
        inter = vtc_ek_cert_parse((const guint8 *)text, g_bytes_get_size(bundle), &error);
        g_assert_no_error(error);
        inter_der = vtc_test_der(inter);
        inter_key = vtc_test_pub_der(X509_get0_pubkey(inter));
        second = g_strstr_len(text + 1, (gssize)g_bytes_get_size(bundle) - 1, "-----BEGIN CERT");
        g_assert_nonnull(second);
        g_assert_true(vtc_ek_trust_store_add_data(root,
                                                  (const guint8 *)second,
                                                  g_bytes_get_size(bundle) - (gsize)(second - text),
                                                  "root",
                                                  &error));
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_ek_trust_store_get_count(root), ==, 1);

        g_assert_true(vtc_ek_cert_verify(root, inter_der, NULL, inter_key, 0, &info, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(info->key_type, ==, "rsa-4096");
        g_assert_cmpuint(info->chain->len, ==, 2);
        g_assert_nonnull(strstr(info->subject, "Isaac HPE Intermediate CA"));
        g_assert_nonnull(strstr(g_ptr_array_index(info->chain, 1), "Isaac HPE Root CA"));
        /* with the PEM bundle itself as the certificate: its first block is taken */
        g_assert_true(vtc_ek_cert_verify(both, bundle, NULL, inter_key, 0, NULL, &error));
        g_assert_no_error(error);
        vtc_test_assert_verify_fails(root,
                                     inter_der,
                                     NULL,
                                     akpem,
                                     0,
                                     VTC_ERROR_VERIFY_FAILED,
                                     "EK public key");
}

int
main(int argc, char **argv)
{
        g_autoptr(VtcEkFixture) f = NULL;
        int rc;

        vtc_test_require_program("swtpm");
        vtc_test_require_program("swtpm_setup");
        vtc_test_require_program("swtpm_localca");
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ekcert/quirks", vtc_ekcert_quirks_test);
        g_test_add_func("/ekcert/quirks-ca", vtc_ekcert_quirks_ca_test);
        g_test_add_func("/ekcert/public-parse", vtc_ekcert_public_parse_test);
        g_test_add_func("/ekcert/testdata/idevid", vtc_ekcert_testdata_idevid_test);
        f = vtc_ek_fixture_new();
        g_test_add_data_func("/ekcert/swtpm/rsa", f, vtc_ekcert_swtpm_rsa_test);
        g_test_add_data_func("/ekcert/swtpm/ecc", f, vtc_ekcert_swtpm_ecc_test);
        g_test_add_data_func("/ekcert/swtpm/store-dir", f, vtc_ekcert_swtpm_store_dir_test);
        g_test_add_data_func("/ekcert/swtpm/negative", f, vtc_ekcert_swtpm_negative_test);
        g_test_add_data_func("/ekcert/swtpm/activate", f, vtc_ekcert_swtpm_activate_test);
        rc = g_test_run();
        return rc;
}
