/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EK certificate parsing, key extraction and (cheap) chain verification, EK public key parsing
 * (TPM2B_PUBLIC / PEM / DER), and trust-store loading of arbitrary bytes.
 *
 * The fixed store is a swtpm-localca root and intermediate made for this corpus; the seed
 * certificates in corpus/ekcert/ were issued by it (swtpm_setup --create-ek-cert), so mutations
 * reach the signature check and the key comparison, not only the parser.
 */
#include <stdint.h>

#include <glib.h>

#include "vtc-ekcert.h"
#include "vtc-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const gchar vtc_fuzz_ekcert_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIEEDCCAnigAwIBAgIUdee2qX13/qaD8PMjznsksKNx+X4wDQYJKoZIhvcNAQEL\n"
    "BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMTIyMDUy\n"
    "NDI0WhgPOTk5OTEyMzEyMzU5NTlaMB8xHTAbBgNVBAMTFHN3dHBtLWxvY2FsY2Et\n"
    "cm9vdGNhMIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA34nJ1zqEmxCx\n"
    "++GoBv6MkbNRyNTQKxKhrbc3DvReejIyb8nhWOVEec21HeP9IWjlyXhiKtmGQ4cC\n"
    "96Oqgl74Q9t3VhO2mIMwuKOKr2kj3FHYt/nSrzaUwt81H/DVUbrsE5/UkFHmLhhl\n"
    "0EiS1FX+ejXJqiHH3UgP7V4qhbCSZdybyFJnGkZL8rmn5exIoZhWXKeaIvT9pn9J\n"
    "R90ZNXZOBQE3yZp0A9Um7uAR/Lyz1U+DRe+UoTlfTlesqrxuWH7lxbdn4q/jN2ol\n"
    "aMJLYxipodL5s3X7m1+6/C7gGNshuNwClw0mWIq8g4490vyTPZvHUr+T0nkad59n\n"
    "zNEcQ7oiO0p22FCabseyIZDPwVGOtgiPn309wUq1QRctbqTnAgGZpb23DpCalygv\n"
    "L8sElX1izFZpCIQU4o9fqdZgb8m9ld8rdD/8yZJ2lkyOnhCiZMk8iw+Na/IMH2Ry\n"
    "y2G3AbhxEZRHv6gxw+KvJEFIbxWmOE+JOkQlu18D9e6CIfRjU1Z3AgMBAAGjQjBA\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMB0GA1UdDgQWBBTAxPGh\n"
    "ti+erZVdVtnGFDp8igMRTjANBgkqhkiG9w0BAQsFAAOCAYEAGZwAPejavdPwPrFi\n"
    "dfXgF3dU1uMpmru6j1oSJvAQp5QJ6gKHl/bGOZptfhq/sTShBAw32ezgByfupnI/\n"
    "1OX3qrnlCfujkFYu2ff49Fod7T688id2g8l0/xT9xKTnxy8Oab5Re5r5a8hJVgJt\n"
    "hglkWTqEj+jSbz0POaY+y4AuIplqk57OFyWJAcqhtUGTnRuuYxjRSD2sYP6XVJhP\n"
    "z0ur0fiXoPEGBYfBoFduJ+qXuxTDohzQMAI8EM2G6I/ro3WPOb/Chpe0AS2OPcyv\n"
    "xFPL2utCymNlUokcPa49Jo+WK0YDGUj/VyAE6LfS2dOi63eaa6ut7s+hz6zORQsd\n"
    "oxELEcpnuJpwOyLiVTVFRPW5bjLv05Rv222o94pKqdTVex/Z84tKkObVhl5htB0D\n"
    "WwG05d7vV7E0gYawSWpmmLgGlrLPBdhQxCHiQ2sCAwFhg/TiWnY0NxnkgeH5Bnbj\n"
    "gbBz/1owL8UcKXpSTioD8gQDIIeTL5cL9RZD//SJf/muyrkH\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN CERTIFICATE-----\n"
    "MIIEKjCCApKgAwIBAgIURstwhooV2PE5490rqxpIpydbrAIwDQYJKoZIhvcNAQEL\n"
    "BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMTIyMDUy\n"
    "NDI0WhgPOTk5OTEyMzEyMzU5NTlaMBgxFjAUBgNVBAMTDXN3dHBtLWxvY2FsY2Ew\n"
    "ggGiMA0GCSqGSIb3DQEBAQUAA4IBjwAwggGKAoIBgQDlWbuHMCQzTTcHfmhEDDPo\n"
    "vZbQRPvKfe2xDXlQxmdaiyAAGKFjxu/m3PJhgTrR8Dxh25/Y00DvgmMDFWjIIqhc\n"
    "jYM06NVs93tQPpOmjAamnKc2L0tOCRKcJ7OLSCcUE2qMtiwARhY+Z6i0/NXLxrhK\n"
    "ScSOI75vIhwe0FXqhFBruEIkkf3/4PmsJRlwzPCgJOHNOSFVwU61Ztn1REOrYhU8\n"
    "mxaxzZw7qSIR+TISsXsDIGhoeIbGI7dubEuauxqCFv9oW+qL2e4FEJK2LhFSbUO/\n"
    "SYQVBxEGYckiMEu0U7EJO/4o4pDzgmJRqpaeONUyjsR3qYvdUjZTuLbIwWCXUMpf\n"
    "iJQ5e/VdbE/pOIuA7FvyFY+XLIYAJZx1VvyDu+R7DsSwEm4pXGCh3zNLmcLXstrc\n"
    "qmDA4zBPGkrTWnOslzWtj1zRXAIgVQ9mxfDcFiOR1zpefVBKwATLpjV6e8APDkCB\n"
    "lI8i/rdZayaDP9MmaVgP+IDTLpQ3eUqwtQfGSBS5issCAwEAAaNjMGEwDwYDVR0T\n"
    "AQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwHQYDVR0OBBYEFIAz8FTaLJYfsSUa\n"
    "7yLn4bwP6MasMB8GA1UdIwQYMBaAFMDE8aG2L56tlV1W2cYUOnyKAxFOMA0GCSqG\n"
    "SIb3DQEBCwUAA4IBgQCHIneHNivNHdHiC3UrS3Q2xbi5fcbnWPgD0VmMX5F/N7Bi\n"
    "9A4tnV685+5Ub9pn7O/gf5vjhaE4Kj+gS0/sFrNgwp1KPiGSqE9tHApL+QomhP72\n"
    "skEwC8DUHguM3iMfjM0NRAaA0s5g4q2b+/+Og8PeGawKlc24Rxut1HnumjRQjBPk\n"
    "lceWW9sLsoHeVNYmRxqv/Ju9my3tJPJnI4eAKJxiG9WWOJqRSmyPDtyLbgGMWD4r\n"
    "qsYg6ntPfnCZVLmEMsh4MxvCCg+RW1Lfj86izEpf4tk3IRcQbcAJPP3AaqvMVx6g\n"
    "QunQsoULvUJRcXMbh9RJ3acEHO6IoZGRyeyJ/avdx1+1u2x1zV5IrLKxeZJdrSjw\n"
    "fy80DdDL2+ykKv6wrLjU4iWNFxi+ZoDQnp8M/cqR1zGQ6nzKERbWXqZIzcRe465e\n"
    "07IzwN+SDSOaOtpenADuN/CCAmmWmSx/gLpxG3dRqembfFaoJt3+CEqghyNtAmml\n"
    "CcUOq8ngaWd0WJSZjhc=\n"
    "-----END CERTIFICATE-----\n";

/* Built once: it is read-only afterwards, and building it per input would dominate. */
static VtcEkTrustStore *
vtc_fuzz_ekcert_store(void)
{
        static VtcEkTrustStore *store = NULL;

        if (store == NULL) {
                g_autoptr(GError) error = NULL;
                store = vtc_ek_trust_store_new();
                if (!vtc_ek_trust_store_add_data(store,
                                                 (const guint8 *)vtc_fuzz_ekcert_ca,
                                                 sizeof(vtc_fuzz_ekcert_ca) - 1,
                                                 "fuzz CA",
                                                 &error))
                        g_error("fuzz CA: %s", error->message);
                g_setenv("TSS2_LOG", "all+none", FALSE);
        }
        return store;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VtcEkTrustStore *store = vtc_fuzz_ekcert_store();
        g_autoptr(X509) cert = NULL;
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autoptr(VtcEkTrustStore) scratch = vtc_ek_trust_store_new();
        g_autoptr(GError) error = NULL;

        if (size > VTC_EK_CERT_MAX_SIZE)
                return 0;

        /* as an EK certificate: parse, describe its key, verify the chain against its own key */
        cert = vtc_ek_cert_parse(data, size, &error);
        if (cert != NULL) {
                EVP_PKEY *key = X509_get0_pubkey(cert);
                g_autoptr(VtcEkCertInfo) info = NULL;
                if (key != NULL) {
                        g_autofree gchar *desc = vtc_ek_key_describe(key);
                        (void)desc;
                        if (vtc_ek_cert_verify_x509(store,
                                                    cert,
                                                    NULL,
                                                    key,
                                                    VTC_EK_VERIFY_IGNORE_TIME,
                                                    &info,
                                                    &error))
                                g_assert(info != NULL && info->chain->len >= 2);
                        else
                                g_assert(error != NULL && info == NULL);
                }
        } else {
                g_assert(error != NULL);
        }
        g_clear_error(&error);

        /* as an EK public key */
        ek = vtc_ek_public_parse(data, size, &error);
        g_assert((ek == NULL) == (error != NULL));
        g_clear_error(&error);

        /* as a trust store file */
        if (!vtc_ek_trust_store_add_data(scratch, data, size, "fuzz", &error))
                g_assert(error != NULL);
        return 0;
}
