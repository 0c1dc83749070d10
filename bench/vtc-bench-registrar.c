/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-bench-registrar: server-side enrollments per second (register + activate) of the real
 * registrar, with the TPM side taken out by doing in software, before the clock starts,
 * everything a TPM would do: EK key pairs (RSA-2048 and ECC P-256, TCG EK template attributes),
 * EK certificates from a software vendor CA placed in the trust store, AK public areas, and the
 * request bodies. What cannot be precomputed, because it depends on the server's random secret,
 * is ActivateCredential: it is done here in software (the inverse of vtc-credential.c's
 * MakeCredential) and its cost is reported on its own.
 *
 * Figures (one JSON line each, as vtc-bench-evidence prints them):
 * - makecredential_rsa2048, makecredential_ecc_p256: µs per vtc_credential_make(), against the
 *   raw OpenSSL operation it cannot avoid (RSA-OAEP encryption; ephemeral keygen + ECDH).
 * - activatecredential_soft_*: µs per software ActivateCredential on the client side, against
 *   the raw RSA-OAEP decryption / ECDH.
 * - registrar_enrollments: enrollments/s over real HTTPS (vtc_registrar_listen, libsoup client
 *   with concurrent connections), ECC P-256 EKs; the headline, limit 1000/s (the target).
 * - registrar_enrollments_rsa2048: the same with RSA-2048 EKs (the client's RSA decryption
 *   then shares the 2 cores with the server).
 * - registrar_enrollments_dispatch: vtc_registrar_dispatch() from 2 threads, counting only the
 *   time spent inside the registrar (the client's work is excluded).
 */
#include <locale.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <tss2/tss2_mu.h>

#include "vtc-ca.h"
#include "vtc-config.h"
#include "vtc-credential.h"
#include "vtc-http.h"
#include "vtc-registrar.h"
#include "vtc-tpm.h"
#include "vtc-util.h"

#define VTC_BENCH_EK_POOL 8

typedef enum {
        VTC_BENCH_EK_RSA,
        VTC_BENCH_EK_ECC,
} VtcBenchEkType;

/* One software "TPM": an EK key pair, its public area, and its certificate. */
typedef struct {
        VtcBenchEkType type;
        EVP_PKEY *key;
        TPM2B_PUBLIC pub;
        gchar *pub_b64;
        gchar *cert_b64;
} VtcBenchEk;

/* One enrollment, ready to send. */
typedef struct {
        gchar *id;
        VtcBenchEk *ek;
        TPM2B_NAME ak_name;
        gchar *register_body;
        gchar *register_path;
        gchar *activate_path;
} VtcBenchEnrollment;

typedef struct {
        gchar *dir;
        gchar *ca_file;
        VtcConfig *config;
        VtcRegistrar *registrar;
        EVP_PKEY *ek_ca_key;
        X509 *ek_ca;
        VtcBenchEk eks[2][VTC_BENCH_EK_POOL];
        guint port;
        GMainContext *server_ctx;
        GMainLoop *server_loop;
        GThread *server_thread;
} VtcBench;

static void
vtc_bench_print(const gchar *name, gdouble value, const gchar *unit, gdouble limit)
{
        gchar v[G_ASCII_DTOSTR_BUF_SIZE];
        gchar l[G_ASCII_DTOSTR_BUF_SIZE];
        gchar r[G_ASCII_DTOSTR_BUF_SIZE];
        gdouble load[3] = {0};

        g_ascii_formatd(v, sizeof(v), "%.1f", value);
        g_ascii_formatd(l, sizeof(l), "%.1f", limit);
        g_ascii_formatd(r, sizeof(r), "%.3f", limit > 0 ? value / limit : 0.0);
        printf("{\"bench\":\"%s\",\"value\":%s,\"unit\":\"%s\",\"limit\":%s,\"ratio\":%s}\n",
               name,
               v,
               unit,
               l,
               r);
        fflush(stdout);
        /* the machine is shared: say how busy it was when the figure was taken */
        if (getloadavg(load, 3) == 3)
                g_printerr("# %s: load average %.2f %.2f %.2f\n", name, load[0], load[1], load[2]);
}

static gdouble
vtc_bench_now(void)
{
        return (gdouble)g_get_monotonic_time() / G_USEC_PER_SEC;
}

static gdouble
vtc_bench_thread_cpu(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (gdouble)ts.tv_sec + (gdouble)ts.tv_nsec / 1e9;
}

static gdouble
vtc_bench_process_cpu(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (gdouble)ru.ru_utime.tv_sec + (gdouble)ru.ru_utime.tv_usec / 1e6 +
               (gdouble)ru.ru_stime.tv_sec + (gdouble)ru.ru_stime.tv_usec / 1e6;
}

/* ---- software TPM objects ----------------------------------------------------------------- */

static gchar *
vtc_bench_public_b64(const TPM2B_PUBLIC *pub, GError **error)
{
        guint8 buf[sizeof(TPM2B_PUBLIC)];
        size_t off = 0;
        TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPM2B_PUBLIC_Marshal");
                return NULL;
        }
        return g_base64_encode(buf, off);
}

static gboolean
vtc_bench_ecc_point(EVP_PKEY *key, TPMS_ECC_POINT *out, GError **error)
{
        g_autoptr(BIGNUM) x = NULL;
        g_autoptr(BIGNUM) y = NULL;

        if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
            EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
            BN_bn2binpad(x, out->x.buffer, 32) != 32 || BN_bn2binpad(y, out->y.buffer, 32) != 32) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "reading an EC point");
                return FALSE;
        }
        out->x.size = 32;
        out->y.size = 32;
        return TRUE;
}

/* The TCG EK template (what vtc_tpm_template_ek() asks the TPM for), with the real key. */
static gboolean
vtc_bench_ek_public(VtcBenchEkType type, EVP_PKEY *key, TPM2B_PUBLIC *out, GError **error)
{
        TPMT_PUBLIC *p = &out->publicArea;

        vtc_tpm_template_ek(type == VTC_BENCH_EK_RSA ? VTC_TPM_KEY_RSA2048 : VTC_TPM_KEY_ECC_P256,
                            out);
        if (type == VTC_BENCH_EK_RSA) {
                g_autoptr(BIGNUM) n = NULL;

                if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
                    BN_bn2binpad(n, p->unique.rsa.buffer, 256) != 256) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "reading an RSA modulus");
                        return FALSE;
                }
                p->unique.rsa.size = 256;
                return TRUE;
        }
        return vtc_bench_ecc_point(key, &p->unique.ecc, error);
}

/* A restricted ECDSA signing AK (vtc_tpm_template_ak()) with a fresh key's point. */
static gboolean
vtc_bench_ak_public(TPM2B_PUBLIC *out, GError **error)
{
        g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        TPMT_PUBLIC *p = &out->publicArea;

        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating an AK");
                return FALSE;
        }
        memset(out, 0, sizeof(*out));
        p->type = TPM2_ALG_ECC;
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                              TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                              TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        return vtc_bench_ecc_point(key, &p->unique.ecc, error);
}

static gboolean
vtc_bench_add_ext(X509 *cert, X509 *issuer, int nid, const gchar *value, GError **error)
{
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
                X509_EXTENSION_free(ext);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "adding extension %s", value);
                return FALSE;
        }
        X509_EXTENSION_free(ext);
        return TRUE;
}

/* A certificate for @key, signed by @issuer_key (self-signed when @issuer is NULL). */
static X509 *
vtc_bench_cert_new(const gchar *cn,
                   EVP_PKEY *key,
                   X509 *issuer,
                   EVP_PKEY *issuer_key,
                   gboolean is_ca,
                   GError **error)
{
        g_autoptr(X509) cert = X509_new();
        X509_NAME *name = X509_NAME_new();
        static guint serial = 1;

        if (cert == NULL || name == NULL ||
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const guint8 *)cn, -1, -1, 0) !=
                1 ||
            X509_set_version(cert, X509_VERSION_3) != 1 ||
            ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)serial++) != 1 ||
            X509_set_subject_name(cert, name) != 1 ||
            X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) !=
                1 ||
            X509_gmtime_adj(X509_getm_notBefore(cert), -86400) == NULL ||
            X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365) == NULL ||
            X509_set_pubkey(cert, key) != 1) {
                X509_NAME_free(name);
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "building certificate %s", cn);
                return NULL;
        }
        X509_NAME_free(name);
        if (!vtc_bench_add_ext(cert,
                               issuer != NULL ? issuer : cert,
                               NID_basic_constraints,
                               is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE",
                               error) ||
            !vtc_bench_add_ext(cert,
                               issuer != NULL ? issuer : cert,
                               NID_key_usage,
                               is_ca ? "critical,keyCertSign,cRLSign" : "critical,keyEncipherment",
                               error))
                return NULL;
        if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing certificate %s", cn);
                return NULL;
        }
        return g_steal_pointer(&cert);
}

static gboolean
vtc_bench_ek_init(VtcBench *b, VtcBenchEkType type, guint i, VtcBenchEk *ek, GError **error)
{
        g_autoptr(X509) cert = NULL;
        g_autofree gchar *cn = g_strdup_printf("bench EK %u", i);
        guint8 *der = NULL;
        int len;

        ek->type = type;
        ek->key = type == VTC_BENCH_EK_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (ek->key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating an EK");
                return FALSE;
        }
        if (!vtc_bench_ek_public(type, ek->key, &ek->pub, error))
                return FALSE;
        ek->pub_b64 = vtc_bench_public_b64(&ek->pub, error);
        if (ek->pub_b64 == NULL)
                return FALSE;
        cert = vtc_bench_cert_new(cn, ek->key, b->ek_ca, b->ek_ca_key, FALSE, error);
        if (cert == NULL)
                return FALSE;
        len = i2d_X509(cert, &der);
        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding an EK certificate");
                return FALSE;
        }
        ek->cert_b64 = g_base64_encode(der, (gsize)len);
        OPENSSL_free(der);
        return TRUE;
}

static void
vtc_bench_enrollment_free(VtcBenchEnrollment *e)
{
        g_free(e->id);
        g_free(e->register_body);
        g_free(e->register_path);
        g_free(e->activate_path);
        g_free(e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcBenchEnrollment, vtc_bench_enrollment_free)

static GPtrArray *
vtc_bench_enrollments_new(VtcBench *b,
                          const gchar *prefix,
                          VtcBenchEkType type,
                          guint n,
                          GError **error)
{
        g_autoptr(GPtrArray) out =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_bench_enrollment_free);

        for (guint i = 0; i < n; i++) {
                g_autoptr(VtcBenchEnrollment) e = g_new0(VtcBenchEnrollment, 1);
                TPM2B_PUBLIC ak = {0};
                g_autofree gchar *ak_b64 = NULL;

                e->id = g_strdup_printf("%s-%u", prefix, i);
                e->ek = &b->eks[type][i % VTC_BENCH_EK_POOL];
                if (!vtc_bench_ak_public(&ak, error) ||
                    !vtc_tpm_public_get_name(&ak, &e->ak_name, error))
                        return NULL;
                ak_b64 = vtc_bench_public_b64(&ak, error);
                if (ak_b64 == NULL)
                        return NULL;
                e->register_body = g_strdup_printf(
                    "{\"id\":\"%s\",\"ek_public\":\"%s\",\"ek_cert\":\"%s\",\"ak_public\":\"%s\"}",
                    e->id,
                    e->ek->pub_b64,
                    e->ek->cert_b64,
                    ak_b64);
                e->register_path = g_strdup("/v1/hosts");
                e->activate_path = g_strdup_printf("/v1/hosts/%s/activate", e->id);
                g_ptr_array_add(out, g_steal_pointer(&e));
        }
        return g_steal_pointer(&out);
}

/* ---- software ActivateCredential (TPM 2.0 Part 1 §24, Part 3 §12.5) ----------------------- */

static void
vtc_bench_put_be32(guint8 *p, guint32 v)
{
        p[0] = (guint8)(v >> 24);
        p[1] = (guint8)(v >> 16);
        p[2] = (guint8)(v >> 8);
        p[3] = (guint8)v;
}

/* KDFa with SHA-256: HMAC(key, [i]32 || label || 0 || contextU || [bits]32). */
static gboolean
vtc_bench_kdfa(const guint8 *key,
               gsize key_len,
               const gchar *label,
               const guint8 *context,
               gsize context_len,
               guint8 *out,
               gsize out_len)
{
        guint8 msg[4 + 32 + sizeof(TPMU_NAME) + 4];
        gsize label_len = strlen(label) + 1;
        gsize msg_len = 4 + label_len + context_len + 4;
        gsize done = 0;

        if (msg_len > sizeof(msg))
                return FALSE;
        memcpy(msg + 4, label, label_len);
        if (context_len > 0)
                memcpy(msg + 4 + label_len, context, context_len);
        vtc_bench_put_be32(msg + 4 + label_len + context_len, (guint32)(out_len * 8));
        for (guint32 i = 1; done < out_len; i++) {
                guint8 block[32];
                unsigned int block_len = 0;

                vtc_bench_put_be32(msg, i);
                if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, block, &block_len) == NULL)
                        return FALSE;
                memcpy(out + done, block, MIN(32, out_len - done));
                done += MIN(32, out_len - done);
        }
        return TRUE;
}

/* KDFe with SHA-256, one block: H([1]32 || Z || label || 0 || partyU || partyV). */
static gboolean
vtc_bench_kdfe(const guint8 *z, const guint8 *qe_x, const guint8 *qs_x, guint8 out[32])
{
        static const gchar label[] = "IDENTITY";
        guint8 msg[4 + 32 + sizeof(label) + 32 + 32];
        guint8 *p = msg;

        vtc_bench_put_be32(p, 1);
        p += 4;
        memcpy(p, z, 32);
        p += 32;
        memcpy(p, label, sizeof(label));
        p += sizeof(label);
        memcpy(p, qe_x, 32);
        p += 32;
        memcpy(p, qs_x, 32);
        return EVP_Digest(msg, sizeof(msg), out, NULL, EVP_sha256(), NULL) == 1;
}

static gboolean
vtc_bench_seed_rsa(EVP_PKEY *key, const TPM2B_ENCRYPTED_SECRET *in, guint8 seed[32])
{
        static const guint8 label[] = "IDENTITY";
        g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        guint8 out[256];
        size_t out_len = sizeof(out);
        void *label_copy = OPENSSL_memdup(label, sizeof(label));

        if (ctx == NULL || label_copy == NULL || EVP_PKEY_decrypt_init(ctx) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label_copy, (int)sizeof(label)) != 1) {
                OPENSSL_free(label_copy);
                return FALSE;
        }
        if (EVP_PKEY_decrypt(ctx, out, &out_len, in->secret, in->size) != 1 || out_len != 32)
                return FALSE;
        memcpy(seed, out, 32);
        return TRUE;
}

static gboolean
vtc_bench_seed_ecc(const VtcBenchEk *ek, const TPM2B_ENCRYPTED_SECRET *in, guint8 seed[32])
{
        TPMS_ECC_POINT qe = {0};
        size_t off = 0;
        guint8 point[65];
        guint8 z[32];
        size_t z_len = sizeof(z);
        OSSL_PARAM params[3];
        g_autoptr(EVP_PKEY_CTX) fctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        g_autoptr(EVP_PKEY) peer = NULL;
        g_autoptr(EVP_PKEY_CTX) dctx = NULL;

        if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(in->secret, in->size, &off, &qe) != TSS2_RC_SUCCESS ||
            qe.x.size != 32 || qe.y.size != 32)
                return FALSE;
        point[0] = 0x04;
        memcpy(point + 1, qe.x.buffer, 32);
        memcpy(point + 33, qe.y.buffer, 32);
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 65);
        params[2] = OSSL_PARAM_construct_end();
        if (fctx == NULL || EVP_PKEY_fromdata_init(fctx) != 1 ||
            EVP_PKEY_fromdata(fctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return FALSE;
        dctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek->key, NULL);
        if (dctx == NULL || EVP_PKEY_derive_init(dctx) != 1 ||
            EVP_PKEY_derive_set_peer(dctx, peer) != 1 || EVP_PKEY_derive(dctx, z, &z_len) != 1 ||
            z_len != 32)
                return FALSE;
        return vtc_bench_kdfe(z, qe.x.buffer, ek->pub.publicArea.unique.ecc.x.buffer, seed);
}

/*
 * What TPM2_ActivateCredential does with the EK's private key: recover the seed, check the
 * integrity HMAC over encIdentity || name, and decrypt the TPM2B_DIGEST secret.
 */
static gboolean
vtc_bench_activate(const VtcBenchEk *ek,
                   const TPM2B_NAME *name,
                   const guint8 *blob_buf,
                   gsize blob_len,
                   const guint8 *secret_buf,
                   gsize secret_len,
                   guint8 *out_secret,
                   gsize *out_secret_len)
{
        TPM2B_ID_OBJECT blob = {0};
        TPM2B_ENCRYPTED_SECRET enc = {0};
        size_t off = 0;
        guint8 seed[32];
        guint8 hmac_key[32];
        guint8 sym_key[16];
        guint8 mac[32];
        guint8 hmac_in[sizeof(TPM2B_DIGEST) + sizeof(TPMU_NAME)];
        guint8 plain[sizeof(TPM2B_DIGEST)];
        unsigned int mac_len = 0;
        gsize enc_len;
        const guint8 *enc_identity;
        g_autoptr(EVP_CIPHER_CTX) cctx = EVP_CIPHER_CTX_new();
        static const guint8 zero_iv[16] = {0};
        int n = 0;
        gsize plain_size;

        if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob_buf, blob_len, &off, &blob) != TSS2_RC_SUCCESS ||
            off != blob_len)
                return FALSE;
        off = 0;
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(secret_buf, secret_len, &off, &enc) !=
                TSS2_RC_SUCCESS ||
            off != secret_len)
                return FALSE;
        if (!(ek->type == VTC_BENCH_EK_RSA ? vtc_bench_seed_rsa(ek->key, &enc, seed)
                                           : vtc_bench_seed_ecc(ek, &enc, seed)))
                return FALSE;
        /* credential = TPM2B integrity HMAC || encIdentity */
        if (blob.size < 2 + 32 + 2 || blob.credential[0] != 0 || blob.credential[1] != 32)
                return FALSE;
        enc_identity = blob.credential + 2 + 32;
        enc_len = blob.size - 2 - 32;
        if (enc_len > sizeof(plain) ||
            !vtc_bench_kdfa(seed, 32, "INTEGRITY", NULL, 0, hmac_key, 32))
                return FALSE;
        memcpy(hmac_in, enc_identity, enc_len);
        memcpy(hmac_in + enc_len, name->name, name->size);
        if (HMAC(EVP_sha256(), hmac_key, 32, hmac_in, enc_len + name->size, mac, &mac_len) ==
                NULL ||
            CRYPTO_memcmp(mac, blob.credential + 2, 32) != 0)
                return FALSE;
        if (!vtc_bench_kdfa(seed, 32, "STORAGE", name->name, name->size, sym_key, 16))
                return FALSE;
        if (cctx == NULL ||
            EVP_DecryptInit_ex(cctx, EVP_aes_128_cfb128(), NULL, sym_key, zero_iv) != 1 ||
            EVP_DecryptUpdate(cctx, plain, &n, enc_identity, (int)enc_len) != 1 ||
            (gsize)n != enc_len)
                return FALSE;
        plain_size = (gsize)plain[0] << 8 | plain[1];
        if (plain_size + 2 != enc_len || plain_size > 64)
                return FALSE;
        memcpy(out_secret, plain + 2, plain_size);
        *out_secret_len = plain_size;
        explicit_bzero(seed, sizeof(seed));
        explicit_bzero(sym_key, sizeof(sym_key));
        explicit_bzero(hmac_key, sizeof(hmac_key));
        explicit_bzero(plain, sizeof(plain));
        return TRUE;
}

/* From the register answer to the activate body: {"proof": hex HMAC-SHA256(secret, id)}. */
static gchar *
vtc_bench_activate_body(const VtcBenchEnrollment *e, const gchar *answer, gsize len)
{
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *obj;
        const gchar *blob_b64;
        const gchar *secret_b64;
        g_autofree guint8 *blob = NULL;
        g_autofree guint8 *enc = NULL;
        gsize blob_len = 0;
        gsize enc_len = 0;
        guint8 secret[64];
        gsize secret_len = 0;
        guint8 proof[32];
        unsigned int proof_len = 0;
        g_autofree gchar *hex = NULL;

        if (!json_parser_load_from_data(parser, answer, (gssize)len, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return NULL;
        obj = json_node_get_object(json_parser_get_root(parser));
        if (!json_object_has_member(obj, "credential_blob") ||
            !json_object_has_member(obj, "encrypted_secret"))
                return NULL;
        blob_b64 = json_object_get_string_member(obj, "credential_blob");
        secret_b64 = json_object_get_string_member(obj, "encrypted_secret");
        if (blob_b64 == NULL || secret_b64 == NULL)
                return NULL;
        blob = g_base64_decode(blob_b64, &blob_len);
        enc = g_base64_decode(secret_b64, &enc_len);
        if (!vtc_bench_activate(e->ek,
                                &e->ak_name,
                                blob,
                                blob_len,
                                enc,
                                enc_len,
                                secret,
                                &secret_len))
                return NULL;
        HMAC(EVP_sha256(),
             secret,
             (int)secret_len,
             (const guint8 *)e->id,
             strlen(e->id),
             proof,
             &proof_len);
        explicit_bzero(secret, sizeof(secret));
        hex = vtc_hex_encode(proof, sizeof(proof));
        return g_strdup_printf("{\"proof\":\"%s\"}", hex);
}

/* ---- MakeCredential and ActivateCredential per call --------------------------------------- */

static gboolean
vtc_bench_credential(VtcBench *b, VtcBenchEkType type, gdouble seconds, GError **error)
{
        VtcBenchEk *ek = &b->eks[type][0];
        TPM2B_PUBLIC ak = {0};
        TPM2B_NAME name = {0};
        guint8 secret[32] = {1, 2, 3};
        TPM2B_ID_OBJECT blob = {0};
        TPM2B_ENCRYPTED_SECRET enc = {0};
        guint8 blob_buf[sizeof(blob)];
        guint8 enc_buf[sizeof(enc)];
        size_t blob_len = 0;
        size_t enc_len = 0;
        guint n = 0;
        gdouble t0;
        gdouble make_us;
        gdouble raw_us;
        gdouble act_us;
        gdouble raw_priv_us;
        const gchar *suffix = type == VTC_BENCH_EK_RSA ? "rsa2048" : "ecc_p256";
        g_autofree gchar *name_make = g_strdup_printf("makecredential_%s", suffix);
        g_autofree gchar *name_act = g_strdup_printf("activatecredential_soft_%s", suffix);

        if (!vtc_bench_ak_public(&ak, error) || !vtc_tpm_public_get_name(&ak, &name, error))
                return FALSE;

        /* vtc_credential_make() as the registrar calls it */
        t0 = vtc_bench_now();
        for (n = 0; n < 20 || vtc_bench_now() - t0 < seconds; n++) {
                if (!vtc_credential_make(&ek->pub,
                                         &name,
                                         secret,
                                         sizeof(secret),
                                         &blob,
                                         &enc,
                                         error))
                        return FALSE;
        }
        make_us = (vtc_bench_now() - t0) * 1e6 / n;

        /* the raw public-key operation it cannot avoid */
        t0 = vtc_bench_now();
        for (n = 0; n < 20 || vtc_bench_now() - t0 < seconds; n++) {
                guint8 out[512];
                size_t out_len = sizeof(out);

                if (type == VTC_BENCH_EK_RSA) {
                        g_autoptr(EVP_PKEY_CTX) ctx =
                            EVP_PKEY_CTX_new_from_pkey(NULL, ek->key, NULL);
                        if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1 ||
                            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
                            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
                            EVP_PKEY_encrypt(ctx, out, &out_len, secret, sizeof(secret)) != 1) {
                                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "RSA-OAEP");
                                return FALSE;
                        }
                } else {
                        g_autoptr(EVP_PKEY) eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                        g_autoptr(EVP_PKEY_CTX) ctx =
                            eph != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
                        if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
                            EVP_PKEY_derive_set_peer(ctx, ek->key) != 1 ||
                            EVP_PKEY_derive(ctx, out, &out_len) != 1) {
                                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "ECDH");
                                return FALSE;
                        }
                }
        }
        raw_us = (vtc_bench_now() - t0) * 1e6 / n;
        vtc_bench_print(name_make, make_us, "us/call", raw_us);

        /* the client side: software ActivateCredential of the last credential */
        if (Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, blob_buf, sizeof(blob_buf), &blob_len) !=
                TSS2_RC_SUCCESS ||
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, enc_buf, sizeof(enc_buf), &enc_len) !=
                TSS2_RC_SUCCESS) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_FAILED, "marshalling");
                return FALSE;
        }
        t0 = vtc_bench_now();
        for (n = 0; n < 20 || vtc_bench_now() - t0 < seconds; n++) {
                guint8 out[64];
                gsize out_len = 0;

                if (!vtc_bench_activate(ek,
                                        &name,
                                        blob_buf,
                                        blob_len,
                                        enc_buf,
                                        enc_len,
                                        out,
                                        &out_len) ||
                    out_len != sizeof(secret) || memcmp(out, secret, sizeof(secret)) != 0) {
                        g_set_error_literal(error,
                                            VTC_ERROR,
                                            VTC_ERROR_FAILED,
                                            "software ActivateCredential does not recover the "
                                            "secret");
                        return FALSE;
                }
        }
        act_us = (vtc_bench_now() - t0) * 1e6 / n;

        /* its raw private-key operation */
        t0 = vtc_bench_now();
        for (n = 0; n < 20 || vtc_bench_now() - t0 < seconds; n++) {
                guint8 seed[32];
                if (type == VTC_BENCH_EK_RSA) {
                        if (!vtc_bench_seed_rsa(ek->key, &enc, seed))
                                return FALSE;
                } else if (!vtc_bench_seed_ecc(ek, &enc, seed)) {
                        return FALSE;
                }
        }
        raw_priv_us = (vtc_bench_now() - t0) * 1e6 / n;
        vtc_bench_print(name_act, act_us, "us/call", raw_priv_us);
        return TRUE;
}

/* ---- the registrar under HTTPS ------------------------------------------------------------ */

static gpointer
vtc_bench_server_thread(gpointer data)
{
        VtcBench *b = data;

        g_main_context_push_thread_default(b->server_ctx);
        g_main_loop_run(b->server_loop);
        g_main_context_pop_thread_default(b->server_ctx);
        return NULL;
}

typedef struct {
        GPtrArray *enrollments;
        SoupSession *session;
        GMainLoop *loop;
        gchar *base_url;
        guint next;
        guint done;
        guint failed;
        guint active; /* slots with a request in flight */
        gchar *first_failure;
} VtcBenchHttpRun;

typedef struct {
        VtcBenchHttpRun *run;
        VtcBenchEnrollment *e;
        SoupMessage *msg;
} VtcBenchSlot;

static void vtc_bench_http_next(VtcBenchSlot *slot);

static void
vtc_bench_http_fail(VtcBenchSlot *slot, const gchar *what, guint status, GBytes *body)
{
        VtcBenchHttpRun *run = slot->run;

        run->failed++;
        run->active--;
        if (run->first_failure == NULL)
                run->first_failure = g_strdup_printf(
                    "%s %s: %u %.*s",
                    what,
                    slot->e->id,
                    status,
                    body != NULL ? (int)g_bytes_get_size(body) : 0,
                    body != NULL ? (const gchar *)g_bytes_get_data(body, NULL) : "");
        if (run->active == 0)
                g_main_loop_quit(run->loop);
}

static SoupMessage *
vtc_bench_http_message(VtcBenchHttpRun *run, const gchar *path, const gchar *body)
{
        g_autofree gchar *url = g_strconcat(run->base_url, path, NULL);

        /* as every vtc client sends it: on a kept-alive connection */
        return vtc_http_client_message_new(run->session, "POST", url, body, NULL);
}

static void
vtc_bench_http_activated_cb(GObject *source, GAsyncResult *res, gpointer data)
{
        VtcBenchSlot *slot = data;
        g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, NULL);
        guint status = soup_message_get_status(slot->msg);

        g_clear_object(&slot->msg);
        if (body == NULL || status != 200) {
                vtc_bench_http_fail(slot, "activate", status, body);
                return;
        }
        slot->run->done++;
        vtc_bench_http_next(slot);
}

static void
vtc_bench_http_registered_cb(GObject *source, GAsyncResult *res, gpointer data)
{
        VtcBenchSlot *slot = data;
        VtcBenchHttpRun *run = slot->run;
        g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, NULL);
        guint status = soup_message_get_status(slot->msg);
        g_autofree gchar *activate = NULL;

        g_clear_object(&slot->msg);
        if (body == NULL || status != 200) {
                vtc_bench_http_fail(slot, "register", status, body);
                return;
        }
        activate =
            vtc_bench_activate_body(slot->e, g_bytes_get_data(body, NULL), g_bytes_get_size(body));
        if (activate == NULL) {
                vtc_bench_http_fail(slot, "software ActivateCredential", status, body);
                return;
        }
        slot->msg = vtc_bench_http_message(run, slot->e->activate_path, activate);
        soup_session_send_and_read_async(run->session,
                                         slot->msg,
                                         G_PRIORITY_DEFAULT,
                                         NULL,
                                         vtc_bench_http_activated_cb,
                                         slot);
}

static void
vtc_bench_http_next(VtcBenchSlot *slot)
{
        VtcBenchHttpRun *run = slot->run;

        /* after a failure, stop: what is in flight finishes, nothing new starts */
        if (run->next >= run->enrollments->len || run->failed > 0) {
                if (--run->active == 0)
                        g_main_loop_quit(run->loop);
                return;
        }
        slot->e = g_ptr_array_index(run->enrollments, run->next++);
        slot->msg = vtc_bench_http_message(run, slot->e->register_path, slot->e->register_body);
        soup_session_send_and_read_async(run->session,
                                         slot->msg,
                                         G_PRIORITY_DEFAULT,
                                         NULL,
                                         vtc_bench_http_registered_cb,
                                         slot);
}

/* Runs on its own thread and main context, as a separate client would. */
static gboolean
vtc_bench_http(VtcBench *b,
               GPtrArray *enrollments,
               guint concurrency,
               gdouble *out_rate,
               gdouble *out_client_cpu_us,
               gdouble *out_process_cpu_us,
               GError **error)
{
        g_autoptr(GMainContext) ctx = g_main_context_new();
        g_autoptr(GTlsDatabase) db = NULL;
        VtcBenchHttpRun run = {0};
        g_autofree VtcBenchSlot *slots = g_new0(VtcBenchSlot, concurrency);
        gdouble t0;
        gdouble wall;
        gdouble cpu0;
        gdouble pcpu0;

        g_main_context_push_thread_default(ctx);
        db = g_tls_file_database_new(b->ca_file, error);
        if (db == NULL) {
                g_main_context_pop_thread_default(ctx);
                return FALSE;
        }
        run.enrollments = enrollments;
        run.loop = g_main_loop_new(ctx, FALSE);
        run.base_url = g_strdup_printf("https://127.0.0.1:%u", b->port);
        run.session = soup_session_new_with_options("tls-database",
                                                    db,
                                                    "max-conns",
                                                    (int)concurrency,
                                                    "max-conns-per-host",
                                                    (int)concurrency,
                                                    "timeout",
                                                    60,
                                                    NULL);
        if (g_getenv("VTC_BENCH_HTTP_DEBUG") != NULL) {
                g_autoptr(SoupLogger) logger = soup_logger_new(SOUP_LOGGER_LOG_HEADERS);
                soup_session_add_feature(run.session, SOUP_SESSION_FEATURE(logger));
        }
        t0 = vtc_bench_now();
        cpu0 = vtc_bench_thread_cpu();
        pcpu0 = vtc_bench_process_cpu();
        /* every slot counts as busy until it finds nothing left to send; with at least one
         * enrollment, one request is in flight when the loop starts */
        run.active = concurrency;
        for (guint i = 0; i < concurrency; i++) {
                slots[i].run = &run;
                vtc_bench_http_next(&slots[i]);
        }
        g_main_loop_run(run.loop);
        wall = vtc_bench_now() - t0;
        *out_client_cpu_us = (vtc_bench_thread_cpu() - cpu0) * 1e6 / MAX(run.done, 1);
        *out_process_cpu_us = (vtc_bench_process_cpu() - pcpu0) * 1e6 / MAX(run.done, 1);
        for (guint i = 0; i < concurrency; i++)
                g_clear_object(&slots[i].msg);
        g_clear_object(&run.session);
        g_main_loop_unref(run.loop);
        g_free(run.base_url);
        g_main_context_pop_thread_default(ctx);
        if (run.failed > 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "%u enrollments failed, the first: %s",
                            run.failed,
                            run.first_failure);
                g_free(run.first_failure);
                return FALSE;
        }
        *out_rate = run.done / wall;
        return TRUE;
}

/* ---- the registrar called directly from threads ------------------------------------------ */

typedef struct {
        VtcBench *b;
        GPtrArray *enrollments;
        guint first;
        guint step;
        gdouble inside; /* seconds inside vtc_registrar_dispatch() */
        gchar *failure;
} VtcBenchWorker;

static gpointer
vtc_bench_dispatch_thread(gpointer data)
{
        VtcBenchWorker *w = data;

        for (guint i = w->first; i < w->enrollments->len && w->failure == NULL; i += w->step) {
                VtcBenchEnrollment *e = g_ptr_array_index(w->enrollments, i);
                g_autoptr(GBytes) reg =
                    g_bytes_new_static(e->register_body, strlen(e->register_body));
                g_autoptr(GBytes) act = NULL;
                g_autofree gchar *answer = NULL;
                g_autofree gchar *answer2 = NULL;
                g_autofree gchar *activate = NULL;
                gdouble t0 = vtc_bench_now();
                guint status = vtc_registrar_dispatch(w->b->registrar,
                                                      "POST",
                                                      e->register_path,
                                                      reg,
                                                      FALSE,
                                                      &answer);

                w->inside += vtc_bench_now() - t0;
                if (status != 200) {
                        w->failure = g_strdup_printf("register %s: %u %s", e->id, status, answer);
                        break;
                }
                activate = vtc_bench_activate_body(e, answer, strlen(answer));
                if (activate == NULL) {
                        w->failure =
                            g_strdup_printf("activate %s: cannot answer %s", e->id, answer);
                        break;
                }
                act = g_bytes_new_static(activate, strlen(activate));
                t0 = vtc_bench_now();
                status = vtc_registrar_dispatch(w->b->registrar,
                                                "POST",
                                                e->activate_path,
                                                act,
                                                FALSE,
                                                &answer2);
                w->inside += vtc_bench_now() - t0;
                if (status != 200) {
                        w->failure = g_strdup_printf("activate %s: %u %s", e->id, status, answer2);
                        break;
                }
        }
        return NULL;
}

static gboolean
vtc_bench_dispatch(VtcBench *b,
                   GPtrArray *enrollments,
                   guint threads,
                   gdouble *out_rate,
                   gdouble *out_wall_rate,
                   GError **error)
{
        g_autofree VtcBenchWorker *w = g_new0(VtcBenchWorker, threads);
        g_autofree GThread **t = g_new0(GThread *, threads);
        gdouble t0 = vtc_bench_now();
        gdouble inside = 0;
        g_autofree gchar *failure = NULL;

        for (guint i = 0; i < threads; i++) {
                w[i] = (VtcBenchWorker){b, enrollments, i, threads, 0, NULL};
                t[i] = g_thread_new("bench-dispatch", vtc_bench_dispatch_thread, &w[i]);
        }
        for (guint i = 0; i < threads; i++) {
                g_thread_join(t[i]);
                inside = MAX(inside, w[i].inside);
                if (w[i].failure != NULL && failure == NULL)
                        failure = g_steal_pointer(&w[i].failure);
                g_free(w[i].failure);
        }
        if (failure != NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "%s", failure);
                return FALSE;
        }
        *out_wall_rate = enrollments->len / (vtc_bench_now() - t0);
        /* the threads run side by side: the busiest one's time inside the registrar is the
         * time the registrar alone would have needed for all of them */
        *out_rate = enrollments->len / inside;
        return TRUE;
}

/* Every enrollment of the run is there, once, and active. */
static gboolean
vtc_bench_check_active(VtcBench *b, GPtrArray *enrollments, GError **error)
{
        g_autofree gchar *answer = NULL;
        guint status =
            vtc_registrar_dispatch(b->registrar, "GET", "/v1/hosts", NULL, TRUE, &answer);
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GHashTable) active = g_hash_table_new(g_str_hash, g_str_equal);
        JsonArray *hosts;

        if (status != 200 || !json_parser_load_from_data(parser, answer, -1, NULL)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "listing hosts: %u", status);
                return FALSE;
        }
        hosts = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)),
                                             "hosts");
        for (guint i = 0; i < json_array_get_length(hosts); i++) {
                JsonObject *h = json_array_get_object_element(hosts, i);
                if (g_strcmp0(json_object_get_string_member(h, "state"), "active") == 0)
                        g_hash_table_add(active, (gpointer)json_object_get_string_member(h, "id"));
        }
        for (guint i = 0; i < enrollments->len; i++) {
                VtcBenchEnrollment *e = g_ptr_array_index(enrollments, i);
                if (!g_hash_table_contains(active, e->id)) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "%s is not active", e->id);
                        return FALSE;
                }
        }
        return TRUE;
}

/* ---- set-up ------------------------------------------------------------------------------- */

static void
vtc_bench_free(VtcBench *b)
{
        if (b->server_loop != NULL) {
                g_main_loop_quit(b->server_loop);
                g_main_context_wakeup(b->server_ctx);
                g_thread_join(b->server_thread);
        }
        vtc_registrar_free(b->registrar);
        g_clear_pointer(&b->server_loop, g_main_loop_unref);
        g_clear_pointer(&b->server_ctx, g_main_context_unref);
        g_clear_pointer(&b->config, vtc_config_free);
        for (guint t = 0; t < 2; t++) {
                for (guint i = 0; i < VTC_BENCH_EK_POOL; i++) {
                        EVP_PKEY_free(b->eks[t][i].key);
                        g_free(b->eks[t][i].pub_b64);
                        g_free(b->eks[t][i].cert_b64);
                }
        }
        EVP_PKEY_free(b->ek_ca_key);
        X509_free(b->ek_ca);
        if (b->dir != NULL) {
                g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", b->dir);
                if (system(cmd) != 0)
                        g_printerr("could not remove %s\n", b->dir);
        }
        g_free(b->ca_file);
        g_free(b->dir);
}

static gboolean
vtc_bench_setup(VtcBench *b, const gchar *parent, GError **error)
{
        g_autofree gchar *tmpl = g_build_filename(parent, "vtc-bench-registrar-XXXXXX", NULL);
        g_autofree gchar *tls = NULL;
        g_autofree gchar *trust = NULL;
        g_autofree gchar *conf = NULL;
        g_autofree gchar *conf_path = NULL;
        g_autofree gchar *ca_pem = NULL;
        const gchar *sans[] = {"IP:127.0.0.1", NULL};
        g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long pem_len;
        gdouble t0 = vtc_bench_now();

        b->dir = g_strdup(tmpl);
        if (g_mkdtemp(b->dir) == NULL) {
                g_clear_pointer(&b->dir, g_free);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "cannot make a directory in %s",
                            parent);
                return FALSE;
        }
        tls = g_build_filename(b->dir, "tls", NULL);
        trust = g_build_filename(b->dir, "ek-ca", NULL);
        b->ca_file = g_build_filename(tls, "ca.crt", NULL);
        if (!vtc_ca_init(tls, "vtc bench CA", 2, error) ||
            !vtc_ca_issue(tls, "registrar", sans, 2, error))
                return FALSE;

        /* the TPM vendor CA */
        b->ek_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (b->ek_ca_key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating the EK CA key");
                return FALSE;
        }
        b->ek_ca = vtc_bench_cert_new("vtc bench TPM vendor CA",
                                      b->ek_ca_key,
                                      NULL,
                                      b->ek_ca_key,
                                      TRUE,
                                      error);
        if (b->ek_ca == NULL)
                return FALSE;
        if (bio == NULL || PEM_write_bio_X509(bio, b->ek_ca) != 1 ||
            (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "writing the EK CA");
                return FALSE;
        }
        ca_pem = g_build_filename(trust, "vendor-ca.pem", NULL);
        if (g_mkdir(trust, 0700) != 0 ||
            !g_file_set_contents(ca_pem, pem, (gssize)pem_len, error)) {
                if (error != NULL && *error == NULL)
                        g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "cannot make %s", trust);
                return FALSE;
        }
        for (guint i = 0; i < VTC_BENCH_EK_POOL; i++) {
                if (!vtc_bench_ek_init(b,
                                       VTC_BENCH_EK_RSA,
                                       i,
                                       &b->eks[VTC_BENCH_EK_RSA][i],
                                       error) ||
                    !vtc_bench_ek_init(b, VTC_BENCH_EK_ECC, i, &b->eks[VTC_BENCH_EK_ECC][i], error))
                        return FALSE;
        }

        conf = g_strdup_printf("[server]\naddress=127.0.0.1\nport=0\n"
                               "[tls]\ncert=%s/registrar.crt\nkey=%s/registrar.key\nclient_ca=%s\n"
                               "[database]\npath=%s/registrar.db\n"
                               "[ek]\ntrust_store=%s\n",
                               tls,
                               tls,
                               b->ca_file,
                               b->dir,
                               trust);
        conf_path = g_build_filename(b->dir, "registrar.conf", NULL);
        if (!g_file_set_contents(conf_path, conf, -1, error))
                return FALSE;
        b->config = vtc_config_load(vtc_registrar_config_schema, conf_path, error);
        if (b->config == NULL)
                return FALSE;
        b->registrar = vtc_registrar_new(b->config, error);
        if (b->registrar == NULL)
                return FALSE;

        /* the server gets its own thread and main context, as the daemon's main loop */
        b->server_ctx = g_main_context_new();
        b->server_loop = g_main_loop_new(b->server_ctx, FALSE);
        g_main_context_push_thread_default(b->server_ctx);
        if (!vtc_registrar_listen(b->registrar, &b->port, error)) {
                g_main_context_pop_thread_default(b->server_ctx);
                return FALSE;
        }
        g_main_context_pop_thread_default(b->server_ctx);
        b->server_thread = g_thread_new("bench-server", vtc_bench_server_thread, b);
        g_printerr("# set-up (CAs, %u RSA-2048 + %u P-256 EKs with certificates) took %.1f s; "
                   "database %s/registrar.db\n",
                   VTC_BENCH_EK_POOL,
                   VTC_BENCH_EK_POOL,
                   vtc_bench_now() - t0,
                   b->dir);
        return TRUE;
}

static gboolean
vtc_bench_enrollments(VtcBench *b,
                      guint n,
                      guint concurrency,
                      guint threads,
                      const gchar *only,
                      GError **error)
{
        static guint run_no = 0;
        struct {
                const gchar *name;
                VtcBenchEkType type;
                gboolean http;
        } figures[] = {
            {"registrar_enrollments", VTC_BENCH_EK_ECC, TRUE},
            {"registrar_enrollments_rsa2048", VTC_BENCH_EK_RSA, TRUE},
            {"registrar_enrollments_dispatch", VTC_BENCH_EK_ECC, FALSE},
            {"registrar_enrollments_dispatch_rsa2048", VTC_BENCH_EK_RSA, FALSE},
        };

        for (guint f = 0; f < G_N_ELEMENTS(figures); f++) {
                g_autofree gchar *prefix = g_strdup_printf("bench%u-%u", getpid(), run_no++);
                g_autoptr(GPtrArray) enrollments = NULL;
                gdouble rate = 0;
                gdouble client_us = 0;
                gdouble process_us = 0;
                gdouble wall_rate = 0;

                if (only != NULL && !g_str_has_prefix(figures[f].name, only))
                        continue;
                enrollments = vtc_bench_enrollments_new(b, prefix, figures[f].type, n, error);
                if (enrollments == NULL)
                        return FALSE;
                if (figures[f].http) {
                        if (!vtc_bench_http(b,
                                            enrollments,
                                            concurrency,
                                            &rate,
                                            &client_us,
                                            &process_us,
                                            error))
                                return FALSE;
                        g_printerr("# %s: %u enrollments, %u connections; CPU per enrollment: "
                                   "%.0f us all threads, of which %.0f us the client thread "
                                   "(TLS, HTTP, JSON, software ActivateCredential)\n",
                                   figures[f].name,
                                   n,
                                   concurrency,
                                   process_us,
                                   client_us);
                } else {
                        if (!vtc_bench_dispatch(b, enrollments, threads, &rate, &wall_rate, error))
                                return FALSE;
                        g_printerr("# %s: %u enrollments, %u threads; %.0f/s wall clock with the "
                                   "client work\n",
                                   figures[f].name,
                                   n,
                                   threads,
                                   wall_rate);
                }
                if (!vtc_bench_check_active(b, enrollments, error))
                        return FALSE;
                vtc_bench_print(figures[f].name, rate, "enrollments/s", 1000);
        }
        return TRUE;
}

int
main(int argc, char **argv)
{
        gdouble seconds = 1.0;
        gint n = 2000;
        gint concurrency = 16;
        gint threads = 2;
        g_autofree gchar *only = NULL;
        g_autofree gchar *dir = NULL;
        GOptionEntry entries[] = {
            {"enrollments", 'n', 0, G_OPTION_ARG_INT, &n, "enrollments per figure (2000)", "N"},
            {"concurrency",
             'c',
             0,
             G_OPTION_ARG_INT,
             &concurrency,
             "HTTPS connections in flight (16)",
             "C"},
            {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "dispatch threads (2)", "T"},
            {"seconds",
             's',
             0,
             G_OPTION_ARG_DOUBLE,
             &seconds,
             "time budget per MakeCredential figure (1)",
             "S"},
            {"only",
             0,
             0,
             G_OPTION_ARG_STRING,
             &only,
             "run only the figures whose name starts with this",
             "NAME"},
            {"dir",
             'd',
             0,
             G_OPTION_ARG_FILENAME,
             &dir,
             "where to put the database (default: $TMPDIR); the disk decides the commit cost",
             "DIR"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- benchmark the registrar");
        g_autoptr(GError) error = NULL;
        VtcBench b = {0};
        gboolean ok;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_description(
            ctx,
            "Prints one JSON line per figure: {\"bench\",\"value\",\"unit\",\"limit\",\"ratio\"},\n"
            "and on stderr the load average at each figure and the CPU split.\n"
            "registrar_enrollments*: register + activate per second (target: 1000 on 2 cores).\n"
            "makecredential_*: us per MakeCredential, limit = the raw OpenSSL operation.\n"
            "activatecredential_soft_*: us per software ActivateCredential (client side).\n"
            "\n"
            "Example: vtc-bench-registrar -n 3000 --dir /var/tmp\n"
            "Exit status: 0 when every figure was measured, 1 otherwise, 2 on bad options.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-bench-registrar: %s\n", error->message);
                return 2;
        }
        if (n < 1 || concurrency < 1 || threads < 1) {
                g_printerr("vtc-bench-registrar: counts must be positive\n");
                return 2;
        }
        g_setenv("TSS2_LOG", "all+none", FALSE);
        ok = vtc_bench_setup(&b, dir != NULL ? dir : g_get_tmp_dir(), &error);
        if (ok && (only == NULL || g_str_has_prefix(only, "makecredential") ||
                   g_str_has_prefix(only, "activatecredential")))
                ok = vtc_bench_credential(&b, VTC_BENCH_EK_RSA, seconds, &error) &&
                     vtc_bench_credential(&b, VTC_BENCH_EK_ECC, seconds, &error);
        if (ok)
                ok = vtc_bench_enrollments(&b,
                                           (guint)n,
                                           (guint)concurrency,
                                           (guint)threads,
                                           only,
                                           &error);
        vtc_bench_free(&b);
        if (!ok) {
                g_printerr("vtc-bench-registrar: %s\n", error->message);
                return 1;
        }
        return 0;
}
