/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-bench-verifier: how many VMs one real vtc-verifier keeps at a 2 s interval, with every
 * check on, and what each costs (ARCHITECTURE.md §9, issue 5 "Scale").
 *
 * The verifier is the real binary ($VTC_VERIFIER, else the one of this build), over real mutual
 * TLS. Everything it talks to is simulated in this process, on its own GMainLoop thread(s), with
 * a libsoup-3 HTTPS server whose certificate comes from a deployment CA (vtc_ca_init/issue, as
 * the tests make one) and which asks for the verifier's client certificate:
 *
 *  - the registrar: GET /v1/agents/{uuid} and GET /v1/hosts/{id}, with software keys (OpenSSL
 *    ECC P-256) as the guest and host AKs (TPM2B_PUBLIC of the AK template), a P-256 EK per VM
 *    (TPM2B_PUBLIC, and an EK certificate from its host's vTPM CA made on demand), a TLS
 *    certificate per agent (from a pool of 8) whose key digest goes into the guest qualifier;
 *  - H hosts, each a hostd serving POST /v1/round on its own port: per request the VM's guest
 *    quote is signed on demand (a real marshalled TPMS_ATTEST, TPM2_ST_ATTEST_QUOTE, extraData =
 *    vtc_channel_quote_qualifier(nonce, TLS key digest), pcrDigest over the returned SHA-256
 *    PCRs 0-10, the clock increasing; an ECDSA TPMT_SIGNATURE) with a few new IMA entries per
 *    round (ima-ng, in the runtime policy, PCR 10 extended, after a boot_aggregate over PCRs
 *    0-9); the binding goes into the host's batch, and one host quote per window (20 ms) is
 *    signed over the Merkle root of that window's leaves (common/vtc-merkle.h), covering host
 *    PCRs 0-10 and 23; the answer carries the inclusion proof, the host IMA log (replaying to
 *    host PCR 10) and the vTPM log (HOSTD_START + a VTPM_START per VM with its EK digest,
 *    replaying to PCR 23), from the offsets asked.
 *
 * So the verifier runs every check of §6.5 for real except the firmware event logs (none are
 * sent; the boot and host policies check PCRs 0 and 7 instead).
 *
 * Phases per N: start the verifier, read its idle RSS; add N VMs through its REST API; wait for
 * them to be trusted (warm-up); measure for --seconds; then print: rounds/s achieved vs needed
 * (N / interval), the fraction of VMs with a fresh trusted verdict (served in the last 2
 * intervals, and exactly for a sample through GET /v1/vms/{uuid}), the verifier's CPU seconds per
 * verdict (/proc/PID/stat), its RSS idle vs with N VMs, and every failed verdict (must be none).
 * The simulator shares the machine's cores with the verifier: the verifier's CPU is its own
 * process's, read separately, and the simulator's is printed beside it.
 *
 * A micro-figure first: vtc_verifier_check_round() in-process on prebuilt rounds (the same
 * evidence the simulator serves) against the raw OpenSSL cost of its two ECDSA P-256
 * verifications; target >= 50% (ARCHITECTURE.md §9).
 *
 * Figures only, never assertions on timings: exit 0 when it ran, 1 when it could not.
 */
#include <locale.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <tss2/tss2_mu.h>

#include "vtc-ca.h"
#include "vtc-channel.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-ima.h"
#include "vtc-json.h"
#include "vtc-merkle.h"
#include "vtc-policy.h"
#include "vtc-tpm.h"
#include "vtc-util.h"
#include "vtc-verifier-check.h"
#include "vtc-vtpm-log.h"

#ifndef VTC_BENCH_VERIFIER_PATH
#define VTC_BENCH_VERIFIER_PATH "vtc-verifier"
#endif

#define BENCH_POOL_FILES     32 /* guest files in the runtime policy */
#define BENCH_HOST_FILES     4  /* host IMA entries after its boot_aggregate */
#define BENCH_TLS_POOL       8
#define BENCH_VTPM_PCR       23
#define BENCH_HOST_PCR_MASK  (0x7ffu | (1u << BENCH_VTPM_PCR))
#define BENCH_GUEST_PCR_MASK 0x7ffu
#define BENCH_AUTH_KEY       "vtc-bench-authenticated"

typedef struct _Bench Bench;
typedef struct _SimHost SimHost;
typedef struct _SimThread SimThread;

/* One ima-ng entry as the binary log holds it, and what it extends into the SHA-256 bank. */
typedef struct {
        GBytes *bytes;
        guint8 extend[32];
        gchar *path;
        gchar *digest_hex;
} SimImaEntry;

typedef struct {
        gchar uuid[37];
        guint8 uuid_bytes[16];
        guint index;
        SimHost *host;
        EVP_PKEY *ak;
        gchar *ak_public_b64;
        gchar *ak_name_hex;
        TPM2B_NAME ak_name;
        guint8 *ek_spki;
        gsize ek_spki_len;
        guint tls;
        /* the guest TPM and its IMA log: touched only on the host's thread */
        guint64 clock;
        guint8 pcr10[32];
        GByteArray *ima; /* the log from byte ima_base on */
        guint64 ima_base;
        guint64 ima_entries;
        gint last_served_ms; /* atomic: ms since the bench started, 0 never */
        guint rounds;
} SimVm;

/* A POST /v1/rounds in progress: its answers, in order, until every round has one. */
typedef struct {
        SoupServerMessage *msg;
        guint n;
        guint pending;
        guint *status;
        gchar **body;
} SimMany;

typedef struct {
        SoupServerMessage *msg;
        SimMany *many; /* or in this batch request, at index */
        guint index;
        SimVm *vm;
        gchar *guest;
        guint8 leaf[32];
        guint64 off_vtpm;
        guint64 off_ima;
        guint64 off_boot;
} SimPending;

struct _SimHost {
        gchar *id;
        guint index;
        SimThread *thread;
        guint port;
        EVP_PKEY *ak;
        gchar *ak_public_b64;
        gchar *ak_name_hex;
        TPM2B_NAME ak_name;
        gchar *ek_public_b64;
        EVP_PKEY *ca_key; /* its vTPM CA, which issues the vTPM EK certificates */
        X509 *ca;
        GByteArray *vtpm_log;
        guint64 vtpm_count;
        guint8 pcrs[24][32];
        GByteArray *ima;
        guint64 clock;
        GPtrArray *pending; /* SimPending */
        GSource *timer;
        guint64 quotes;
        guint64 bindings;
};

struct _SimThread {
        Bench *b;
        guint index;
        GMainContext *ctx;
        GMainLoop *loop;
        GThread *thread;
        SoupServer *server;
};

/* What the fleet shares: policies, PCR values, the pools. */
typedef struct {
        SimImaEntry guest_files[BENCH_POOL_FILES];
        SimImaEntry guest_aggregate;
        guint8 guest_pcrs[10][32];
        guint8 host_pcrs[10][32];
        gchar *runtime_policy;
        gchar *boot_policy;
        gchar *host_policy;
        gchar *tls_b64[BENCH_TLS_POOL];
        guint8 tls_sha256[BENCH_TLS_POOL][32];
        GByteArray *host_ima;
        guint8 host_pcr10[32];
} SimFleet;

struct _Bench {
        gchar *dir;
        gchar *tls_dir;
        gchar *ca_file;
        gchar *verifier_path;
        guint window_ms;
        guint interval_ms;
        guint vms_per_host;
        guint ima_per_round;
        guint n_threads;
        gint64 t0_us;
        SimFleet fleet;
        /* one run */
        GPtrArray *vms;   /* SimVm */
        GPtrArray *hosts; /* SimHost */
        GHashTable *vm_by_uuid;
        GHashTable *host_by_id;
        SimThread *threads;
        guint registrar_port;
        /* counters of the simulator (atomic) */
        gint sim_rounds;
        gint sim_errors;
        gchar *sim_first_error;
        GMutex lock;
};

static void
bench_vm_free(SimVm *vm)
{
        EVP_PKEY_free(vm->ak);
        g_free(vm->ak_public_b64);
        g_free(vm->ak_name_hex);
        g_free(vm->ek_spki);
        if (vm->ima != NULL)
                g_byte_array_unref(vm->ima);
        g_free(vm);
}

static void
bench_pending_free(SimPending *p)
{
        g_clear_object(&p->msg);
        g_free(p->guest);
        g_free(p);
}

static void
bench_host_free(SimHost *h)
{
        g_free(h->id);
        EVP_PKEY_free(h->ak);
        g_free(h->ak_public_b64);
        g_free(h->ak_name_hex);
        g_free(h->ek_public_b64);
        EVP_PKEY_free(h->ca_key);
        X509_free(h->ca);
        if (h->vtpm_log != NULL)
                g_byte_array_unref(h->vtpm_log);
        if (h->ima != NULL)
                g_byte_array_unref(h->ima);
        if (h->pending != NULL)
                g_ptr_array_unref(h->pending);
        if (h->timer != NULL) {
                g_source_destroy(h->timer);
                g_source_unref(h->timer);
        }
        g_free(h);
}

static gint
bench_now_ms(Bench *b)
{
        return (gint)((g_get_monotonic_time() - b->t0_us) / 1000) + 1;
}

static gdouble
bench_now(void)
{
        return (gdouble)g_get_monotonic_time() / G_USEC_PER_SEC;
}

static gdouble
bench_self_cpu(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (gdouble)ru.ru_utime.tv_sec + (gdouble)ru.ru_utime.tv_usec / 1e6 +
               (gdouble)ru.ru_stime.tv_sec + (gdouble)ru.ru_stime.tv_usec / 1e6;
}

static void bench_sim_error(Bench *b, const gchar *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
bench_sim_error(Bench *b, const gchar *fmt, ...)
{
        va_list ap;

        g_atomic_int_inc(&b->sim_errors);
        g_mutex_lock(&b->lock);
        if (b->sim_first_error == NULL) {
                va_start(ap, fmt);
                b->sim_first_error = g_strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        g_mutex_unlock(&b->lock);
}

static void
bench_sha256(const guint8 *a, gsize a_len, const guint8 *c, gsize c_len, guint8 out[32])
{
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();

        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, a, a_len);
        if (c != NULL)
                EVP_DigestUpdate(ctx, c, c_len);
        EVP_DigestFinal_ex(ctx, out, NULL);
}

static void
bench_extend(guint8 pcr[32], const guint8 digest[32])
{
        bench_sha256(pcr, 32, digest, 32, pcr);
}

/* ---- software TPM objects ----------------------------------------------------------------- */

static gboolean
bench_ecc_point(EVP_PKEY *key, TPMS_ECC_POINT *out, GError **error)
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

/* The public area a TPM would report for @key under the AK or the EK template, its base64
 * TPM2B_PUBLIC and its name (nameAlg || SHA-256(TPMT_PUBLIC)). */
static gboolean
bench_public(EVP_PKEY *key, gboolean ek, gchar **out_b64, TPM2B_NAME *out_name, GError **error)
{
        TPM2B_PUBLIC pub = {0};
        guint8 buf[sizeof(TPM2B_PUBLIC)];
        guint8 tbuf[sizeof(TPMT_PUBLIC)];
        size_t off = 0;
        size_t toff = 0;
        TSS2_RC rc;

        if (ek)
                vtc_tpm_template_ek(VTC_TPM_KEY_ECC_P256, &pub);
        else
                vtc_tpm_template_ak(VTC_TPM_KEY_ECC_P256, &pub);
        if (!bench_ecc_point(key, &pub.publicArea.unique.ecc, error))
                return FALSE;
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off);
        if (rc == TSS2_RC_SUCCESS)
                rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, tbuf, sizeof(tbuf), &toff);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPM2B_PUBLIC_Marshal");
                return FALSE;
        }
        *out_b64 = g_base64_encode(buf, off);
        if (out_name != NULL) {
                out_name->size = 34;
                out_name->name[0] = 0x00;
                out_name->name[1] = 0x0b; /* TPM2_ALG_SHA256 */
                bench_sha256(tbuf, toff, NULL, 0, out_name->name + 2);
        }
        return TRUE;
}

static EVP_PKEY *
bench_keygen(GError **error)
{
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

        if (key == NULL)
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "generating a P-256 key");
        return key;
}

static gboolean
bench_add_ext(X509 *cert, X509 *issuer, int nid, const gchar *value, GError **error)
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
bench_cert_new(const gchar *cn,
               EVP_PKEY *key,
               X509 *issuer,
               EVP_PKEY *issuer_key,
               gboolean is_ca,
               GError **error)
{
        g_autoptr(X509) cert = X509_new();
        X509_NAME *name = X509_NAME_new();

        if (cert == NULL || name == NULL ||
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const guint8 *)cn, -1, -1, 0) !=
                1 ||
            X509_set_version(cert, X509_VERSION_3) != 1 ||
            ASN1_INTEGER_set(X509_get_serialNumber(cert),
                             (long)g_random_int_range(1, G_MAXINT32)) != 1 ||
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
        if (!bench_add_ext(cert,
                           issuer != NULL ? issuer : cert,
                           NID_basic_constraints,
                           is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE",
                           error) ||
            !bench_add_ext(cert,
                           issuer != NULL ? issuer : cert,
                           NID_key_usage,
                           is_ca ? "critical,keyCertSign,cRLSign"
                                 : "critical,digitalSignature,keyAgreement",
                           error))
                return NULL;
        if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "signing certificate %s", cn);
                return NULL;
        }
        return g_steal_pointer(&cert);
}

static gchar *
bench_cert_b64(X509 *cert)
{
        guint8 *der = NULL;
        int len = i2d_X509(cert, &der);
        gchar *b64;

        if (len <= 0)
                return NULL;
        b64 = g_base64_encode(der, (gsize)len);
        OPENSSL_free(der);
        return b64;
}

/* ECDSA-SHA256 over @data as a marshalled TPMT_SIGNATURE, base64. */
static gchar *
bench_sign(EVP_PKEY *key, const guint8 *data, gsize len, GError **error)
{
        g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new();
        guint8 der[80];
        size_t der_len = sizeof(der);
        const guint8 *p = der;
        ECDSA_SIG *sig = NULL;
        const BIGNUM *r = NULL;
        const BIGNUM *s = NULL;
        TPMT_SIGNATURE ts = {0};
        guint8 buf[sizeof(TPMT_SIGNATURE)];
        size_t off = 0;
        TSS2_RC rc;

        if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, der, &der_len, data, len) != 1 ||
            (sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "ECDSA signing");
                return NULL;
        }
        ECDSA_SIG_get0(sig, &r, &s);
        ts.sigAlg = TPM2_ALG_ECDSA;
        ts.signature.ecdsa.hash = TPM2_ALG_SHA256;
        ts.signature.ecdsa.signatureR.size = 32;
        ts.signature.ecdsa.signatureS.size = 32;
        BN_bn2binpad(r, ts.signature.ecdsa.signatureR.buffer, 32);
        BN_bn2binpad(s, ts.signature.ecdsa.signatureS.buffer, 32);
        ECDSA_SIG_free(sig);
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&ts, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPMT_SIGNATURE_Marshal");
                return NULL;
        }
        return g_base64_encode(buf, off);
}

/*
 * What TPM2_Quote makes: a TPMS_ATTEST over the SHA-256 PCRs of @mask (values in @pcrs by
 * index), signed by @key. Returns the attest bytes; base64 of attest and signature go out.
 */
static GBytes *
bench_quote(EVP_PKEY *key,
            const TPM2B_NAME *name,
            guint64 clock,
            const guint8 extra[32],
            guint32 mask,
            guint8 (*pcrs)[32],
            gchar **out_attest_b64,
            gchar **out_sig_b64,
            GError **error)
{
        TPMS_ATTEST a = {0};
        guint8 buf[sizeof(TPMS_ATTEST)];
        size_t off = 0;
        g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new();
        TPML_PCR_SELECTION sel;
        TSS2_RC rc;
        gchar *sig;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, mask);
        a.magic = TPM2_GENERATED_VALUE;
        a.type = TPM2_ST_ATTEST_QUOTE;
        a.qualifiedSigner = *name;
        a.extraData.size = 32;
        memcpy(a.extraData.buffer, extra, 32);
        a.clockInfo.clock = clock;
        a.clockInfo.resetCount = 7;
        a.clockInfo.restartCount = 0;
        a.clockInfo.safe = TPM2_YES;
        a.firmwareVersion = G_GUINT64_CONSTANT(0x2023062200163800);
        a.attested.quote.pcrSelect = sel;
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        for (guint i = 0; i < 24; i++) {
                if (mask & (1u << i))
                        EVP_DigestUpdate(md, pcrs[i], 32);
        }
        EVP_DigestFinal_ex(md, a.attested.quote.pcrDigest.buffer, NULL);
        a.attested.quote.pcrDigest.size = 32;
        rc = Tss2_MU_TPMS_ATTEST_Marshal(&a, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "Tss2_MU_TPMS_ATTEST_Marshal");
                return NULL;
        }
        sig = bench_sign(key, buf, off, error);
        if (sig == NULL)
                return NULL;
        *out_sig_b64 = sig;
        *out_attest_b64 = g_base64_encode(buf, off);
        return g_bytes_new(buf, off);
}

static void
bench_append_pcrs(GString *s, guint32 mask, guint8 (*pcrs)[32])
{
        gboolean first = TRUE;

        g_string_append(s, "\"pcrs\":{\"sha256\":{");
        for (guint i = 0; i < 24; i++) {
                g_autofree gchar *hex = NULL;

                if (!(mask & (1u << i)))
                        continue;
                hex = vtc_hex_encode(pcrs[i], 32);
                g_string_append_printf(s, "%s\"%u\":\"%s\"", first ? "" : ",", i, hex);
                first = FALSE;
        }
        g_string_append(s, "}}");
}

/* ---- IMA ---------------------------------------------------------------------------------- */

static void
bench_ima_entry_init(SimImaEntry *e, const gchar *path, const guint8 digest[32])
{
        g_autoptr(GByteArray) td = g_byte_array_new();
        g_autoptr(GByteArray) log = g_byte_array_new();
        guint32 len;
        guint8 sha1[20];
        gsize size = sizeof(sha1);
        g_autoptr(GChecksum) c1 = g_checksum_new(G_CHECKSUM_SHA1);

        len = GUINT32_TO_LE(7 + 1 + 32);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)"sha256:", 8); /* with its NUL */
        g_byte_array_append(td, digest, 32);
        len = GUINT32_TO_LE((guint32)strlen(path) + 1);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)path, (guint)strlen(path) + 1);
        g_checksum_update(c1, td->data, td->len);
        g_checksum_get_digest(c1, sha1, &size);
        bench_sha256(td->data, td->len, NULL, 0, e->extend);

        len = GUINT32_TO_LE(10);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, sha1, 20);
        len = GUINT32_TO_LE(6);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, (const guint8 *)"ima-ng", 6);
        len = GUINT32_TO_LE(td->len);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, td->data, td->len);
        e->bytes = g_byte_array_free_to_bytes(g_steal_pointer(&log));
        e->path = g_strdup(path);
        e->digest_hex = vtc_hex_encode(digest, 32);
}

static void
bench_ima_entry_clear(SimImaEntry *e)
{
        g_clear_pointer(&e->bytes, g_bytes_unref);
        g_clear_pointer(&e->path, g_free);
        g_clear_pointer(&e->digest_hex, g_free);
}

static void
bench_ima_append(GByteArray *log, guint8 pcr10[32], const SimImaEntry *e)
{
        g_byte_array_append(log,
                            g_bytes_get_data(e->bytes, NULL),
                            (guint)g_bytes_get_size(e->bytes));
        bench_extend(pcr10, e->extend);
}

static gchar *
bench_policy_json(const SimImaEntry *files, guint n)
{
        g_autoptr(GString) s =
            g_string_new("{\"meta\":{\"version\":1},\"release\":0,\"digests\":{");

        for (guint i = 0; i < n; i++)
                g_string_append_printf(s,
                                       "%s\"%s\":[\"%s\"]",
                                       i == 0 ? "" : ",",
                                       files[i].path,
                                       files[i].digest_hex);
        g_string_append(s,
                        "},\"excludes\":[],\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],"
                        "\"log_hash_alg\":\"sha1\",\"dm_policy\":null},\"ima-buf\":{},"
                        "\"verification-keys\":\"\"}");
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
bench_fake_pcr(const gchar *who, guint i, guint8 out[32])
{
        g_autofree gchar *text = g_strdup_printf("%s PCR %u", who, i);

        bench_sha256((const guint8 *)text, strlen(text), NULL, 0, out);
}

static gboolean
bench_fleet_init(SimFleet *f, GError **error)
{
        SimImaEntry host_files[BENCH_HOST_FILES] = {{0}};
        SimImaEntry host_aggregate = {0};
        guint8 values[10 * 32];
        guint8 aggregate[32];
        g_autofree gchar *guest_rt = NULL;
        g_autofree gchar *host_rt = NULL;
        g_autofree gchar *g0 = NULL;
        g_autofree gchar *g7 = NULL;
        g_autofree gchar *h0 = NULL;
        g_autofree gchar *h7 = NULL;
        gboolean ok = TRUE;

        for (guint i = 0; i < 10; i++) {
                bench_fake_pcr("guest", i, f->guest_pcrs[i]);
                bench_fake_pcr("host", i, f->host_pcrs[i]);
        }
        for (guint i = 0; i < BENCH_POOL_FILES; i++) {
                g_autofree gchar *path = g_strdup_printf("/usr/bin/tool-%02u", i);
                guint8 digest[32];

                bench_sha256((const guint8 *)path, strlen(path), (const guint8 *)"g", 1, digest);
                bench_ima_entry_init(&f->guest_files[i], path, digest);
        }
        for (guint i = 0; i < 10; i++)
                memcpy(values + i * 32, f->guest_pcrs[i], 32);
        if (!vtc_ima_boot_aggregate_compute(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                            values,
                                            10,
                                            aggregate,
                                            error))
                return FALSE;
        bench_ima_entry_init(&f->guest_aggregate, "boot_aggregate", aggregate);

        /* the host's IMA log: static, every VM reads it once */
        for (guint i = 0; i < 10; i++)
                memcpy(values + i * 32, f->host_pcrs[i], 32);
        if (!vtc_ima_boot_aggregate_compute(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                            values,
                                            10,
                                            aggregate,
                                            error))
                return FALSE;
        bench_ima_entry_init(&host_aggregate, "boot_aggregate", aggregate);
        f->host_ima = g_byte_array_new();
        memset(f->host_pcr10, 0, 32);
        bench_ima_append(f->host_ima, f->host_pcr10, &host_aggregate);
        for (guint i = 0; i < BENCH_HOST_FILES; i++) {
                g_autofree gchar *path = g_strdup_printf("/usr/sbin/hostd-part-%u", i);
                guint8 digest[32];

                bench_sha256((const guint8 *)path, strlen(path), (const guint8 *)"h", 1, digest);
                bench_ima_entry_init(&host_files[i], path, digest);
                bench_ima_append(f->host_ima, f->host_pcr10, &host_files[i]);
        }

        guest_rt = bench_policy_json(f->guest_files, BENCH_POOL_FILES);
        host_rt = bench_policy_json(host_files, BENCH_HOST_FILES);
        g0 = vtc_hex_encode(f->guest_pcrs[0], 32);
        g7 = vtc_hex_encode(f->guest_pcrs[7], 32);
        h0 = vtc_hex_encode(f->host_pcrs[0], 32);
        h7 = vtc_hex_encode(f->host_pcrs[7], 32);
        f->runtime_policy = g_steal_pointer(&guest_rt);
        f->boot_policy =
            g_strdup_printf("{\"pcrs\":{\"sha256\":{\"0\":\"%s\",\"7\":\"%s\"}}}", g0, g7);
        f->host_policy = g_strdup_printf(
            "{\"pcrs\":{\"sha256\":{\"0\":\"%s\",\"7\":\"%s\"}},\"runtime_policy\":%s}",
            h0,
            h7,
            host_rt);

        /* agents' TLS certificates: what they would register for direct mode */
        for (guint i = 0; ok && i < BENCH_TLS_POOL; i++) {
                g_autoptr(EVP_PKEY) key = bench_keygen(error);
                g_autoptr(X509) cert = NULL;
                guint8 *der = NULL;
                int len;

                if (key == NULL)
                        return FALSE;
                cert = bench_cert_new("vtc bench agent", key, NULL, key, FALSE, error);
                if (cert == NULL)
                        return FALSE;
                f->tls_b64[i] = bench_cert_b64(cert);
                len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
                if (len <= 0 || f->tls_b64[i] == NULL) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding a TLS certificate");
                        ok = FALSE;
                } else {
                        bench_sha256(der, (gsize)len, NULL, 0, f->tls_sha256[i]);
                }
                OPENSSL_free(der);
        }
        bench_ima_entry_clear(&host_aggregate);
        for (guint i = 0; i < BENCH_HOST_FILES; i++)
                bench_ima_entry_clear(&host_files[i]);
        return ok;
}

static void
bench_fleet_clear(SimFleet *f)
{
        for (guint i = 0; i < BENCH_POOL_FILES; i++)
                bench_ima_entry_clear(&f->guest_files[i]);
        bench_ima_entry_clear(&f->guest_aggregate);
        g_free(f->runtime_policy);
        g_free(f->boot_policy);
        g_free(f->host_policy);
        for (guint i = 0; i < BENCH_TLS_POOL; i++)
                g_free(f->tls_b64[i]);
        if (f->host_ima != NULL)
                g_byte_array_unref(f->host_ima);
}

/* ---- the simulated fleet ------------------------------------------------------------------ */

static SimHost *
bench_host_new(Bench *b, guint index, GError **error)
{
        SimHost *h = g_new0(SimHost, 1);
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autofree gchar *line = NULL;

        h->index = index;
        h->id = g_strdup_printf("host-%u", index);
        h->pending = g_ptr_array_new_with_free_func((GDestroyNotify)bench_pending_free);
        h->clock = 1000000 + g_random_int_range(0, 1000);
        h->ak = bench_keygen(error);
        ek = h->ak != NULL ? bench_keygen(error) : NULL;
        h->ca_key = ek != NULL ? bench_keygen(error) : NULL;
        if (h->ca_key == NULL ||
            !bench_public(h->ak, FALSE, &h->ak_public_b64, &h->ak_name, error) ||
            !bench_public(ek, TRUE, &h->ek_public_b64, NULL, error)) {
                bench_host_free(h);
                return NULL;
        }
        h->ak_name_hex = vtc_hex_encode(h->ak_name.name, h->ak_name.size);
        h->ca = bench_cert_new(h->id, h->ca_key, NULL, h->ca_key, TRUE, error);
        if (h->ca == NULL) {
                bench_host_free(h);
                return NULL;
        }
        for (guint i = 0; i < 10; i++)
                memcpy(h->pcrs[i], b->fleet.host_pcrs[i], 32);
        memcpy(h->pcrs[10], b->fleet.host_pcr10, 32);
        h->ima = g_byte_array_ref(b->fleet.host_ima);
        h->vtpm_log = g_byte_array_new();
        line = g_strdup_printf("{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":%" G_GINT64_FORMAT
                               ",\"host\":\"%s\"}\n",
                               g_get_real_time() / G_USEC_PER_SEC,
                               h->id);
        g_byte_array_append(h->vtpm_log, (const guint8 *)line, (guint)strlen(line));
        h->vtpm_count = 1;
        return h;
}

static SimVm *
bench_vm_new(Bench *b, guint index, SimHost *host, GError **error)
{
        SimVm *vm = g_new0(SimVm, 1);
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autofree gchar *ek_hex = NULL;
        g_autofree gchar *line = NULL;
        guint8 ek_sha[32];
        guint8 *der = NULL;
        int len;

        vm->index = index;
        vm->host = host;
        vm->tls = index % BENCH_TLS_POOL;
        g_strlcpy(vm->uuid, uuid, sizeof(vm->uuid));
        for (guint i = 0, j = 0; i < 16; j += 2) {
                if (vm->uuid[j] == '-')
                        j++;
                vm->uuid_bytes[i++] = (guint8)(g_ascii_xdigit_value(vm->uuid[j]) << 4 |
                                               g_ascii_xdigit_value(vm->uuid[j + 1]));
        }
        vm->ak = bench_keygen(error);
        ek = vm->ak != NULL ? bench_keygen(error) : NULL;
        if (ek == NULL || !bench_public(vm->ak, FALSE, &vm->ak_public_b64, &vm->ak_name, error)) {
                bench_vm_free(vm);
                return NULL;
        }
        vm->ak_name_hex = vtc_hex_encode(vm->ak_name.name, vm->ak_name.size);
        len = i2d_PUBKEY(ek, &der);
        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "encoding an EK");
                bench_vm_free(vm);
                return NULL;
        }
        vm->ek_spki = g_memdup2(der, (gsize)len);
        vm->ek_spki_len = (gsize)len;
        bench_sha256(der, (gsize)len, NULL, 0, ek_sha);
        OPENSSL_free(der);
        vm->clock = 5000 + g_random_int_range(0, 100000);
        /* booted: boot_aggregate is the first IMA entry */
        vm->ima = g_byte_array_new();
        bench_ima_append(vm->ima, vm->pcr10, &b->fleet.guest_aggregate);
        vm->ima_entries = 1;
        /* its host's hostd logged its vTPM's start */
        ek_hex = vtc_hex_encode(ek_sha, 32);
        line = g_strdup_printf("{\"seq\":%" G_GUINT64_FORMAT
                               ",\"type\":\"VTPM_START\",\"ts\":%" G_GINT64_FORMAT
                               ",\"uuid\":\"%s\",\"name\":\"bench-vm-%u\",\"ek_sha256\":\"%s\"}\n",
                               host->vtpm_count,
                               g_get_real_time() / G_USEC_PER_SEC,
                               vm->uuid,
                               index,
                               ek_hex);
        g_byte_array_append(host->vtpm_log, (const guint8 *)line, (guint)strlen(line));
        host->vtpm_count++;
        return vm;
}

/* Every host's vTPM log must be what hostd writes: replay it with hostd's parser. */
static gboolean
bench_hosts_seal(Bench *b, GError **error)
{
        for (guint i = 0; i < b->hosts->len; i++) {
                SimHost *h = g_ptr_array_index(b->hosts, i);
                guint64 count = 0;

                if (!vtc_vtpm_log_replay_data(h->vtpm_log->data,
                                              h->vtpm_log->len,
                                              h->pcrs[BENCH_VTPM_PCR],
                                              &count,
                                              error)) {
                        g_prefix_error(error, "the simulated vTPM log of %s: ", h->id);
                        return FALSE;
                }
                g_assert(count == h->vtpm_count);
        }
        return TRUE;
}

/* The guest evidence object for @req (doc/channel.md), made the way the agent makes it. Runs
 * on the VM's host's thread. */
static gchar *
bench_guest_evidence(Bench *b,
                     SimVm *vm,
                     const VtcChannelRound *req,
                     GBytes **out_attest,
                     GError **error)
{
        SimFleet *f = &b->fleet;
        guint8 pcrs[24][32];
        guint8 qualifier[32];
        g_autofree gchar *attest_b64 = NULL;
        g_autofree gchar *sig_b64 = NULL;
        g_autofree gchar *ima_b64 = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GString) s = g_string_sized_new(4096);
        guint32 mask;

        if (req->pcrs.n_banks != 1 || req->pcrs.hash_alg[0] != TPM2_ALG_SHA256 ||
            (req->pcrs.pcr_mask[0] & ~BENCH_GUEST_PCR_MASK) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the simulated guest has SHA-256 PCRs 0-10 only");
                return NULL;
        }
        mask = req->pcrs.pcr_mask[0];
        if (req->ima_offset < vm->ima_base || req->ima_offset > vm->ima_base + vm->ima->len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "VM %s: IMA offset %" G_GUINT64_FORMAT
                            " outside what the simulator keeps (%" G_GUINT64_FORMAT
                            "-%" G_GUINT64_FORMAT ")",
                            vm->uuid,
                            req->ima_offset,
                            vm->ima_base,
                            vm->ima_base + vm->ima->len);
                return NULL;
        }
        /* the verifier never asks from before an offset it asked once: drop what it has */
        if (req->ima_offset > vm->ima_base) {
                g_byte_array_remove_range(vm->ima, 0, (guint)(req->ima_offset - vm->ima_base));
                vm->ima_base = req->ima_offset;
        }
        /* the guest ran a few programs since the last round */
        for (guint i = 0; i < b->ima_per_round; i++) {
                const SimImaEntry *e =
                    &f->guest_files[(vm->rounds * b->ima_per_round + i) % BENCH_POOL_FILES];
                bench_ima_append(vm->ima, vm->pcr10, e);
                vm->ima_entries++;
        }
        vm->rounds++;
        for (guint i = 0; i < 10; i++)
                memcpy(pcrs[i], f->guest_pcrs[i], 32);
        memcpy(pcrs[10], vm->pcr10, 32);
        vm->clock = MAX(vm->clock + 1, (guint64)(g_get_monotonic_time() / 1000));
        vtc_channel_quote_qualifier(req->nonce, f->tls_sha256[vm->tls], qualifier);
        attest = bench_quote(vm->ak,
                             &vm->ak_name,
                             vm->clock,
                             qualifier,
                             mask,
                             pcrs,
                             &attest_b64,
                             &sig_b64,
                             error);
        if (attest == NULL)
                return NULL;
        ima_b64 = g_base64_encode(vm->ima->data, vm->ima->len);
        g_string_append_printf(
            s,
            "{\"uuid\":\"%s\",\"quote\":{\"attest\":\"%s\",\"signature\":\"%s\"},",
            vm->uuid,
            attest_b64,
            sig_b64);
        bench_append_pcrs(s, mask, pcrs);
        g_string_append_printf(s,
                               ",\"ima_log\":{\"from\":%" G_GUINT64_FORMAT
                               ",\"data\":\"%s\",\"more\":false}}",
                               req->ima_offset,
                               ima_b64);
        *out_attest = g_steal_pointer(&attest);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* hostd's /v1/bind answer for one leaf of a quoted batch. */
static gchar *
bench_host_answer(SimHost *h,
                  const gchar *uuid,
                  const gchar *attest_b64,
                  const gchar *sig_b64,
                  VtcMerkleTree *tree,
                  gsize index,
                  guint64 off_vtpm,
                  guint64 off_ima,
                  GError **error)
{
        g_autoptr(GString) s = g_string_sized_new(4096);
        guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
        gsize n_proof = 0;
        g_autofree gchar *root = vtc_hex_encode(vtc_merkle_tree_get_root(tree), 32);
        g_autofree gchar *vtpm_b64 = NULL;
        g_autofree gchar *ima_b64 = NULL;
        gsize vtpm_pos = 0;

        if (!vtc_merkle_tree_get_proof(tree, index, proof, &n_proof, error))
                return NULL;
        if (off_vtpm > h->vtpm_count || off_ima > h->ima->len) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "offsets beyond the end of the logs");
                return NULL;
        }
        /* the lines from entry off_vtpm: every line is one entry */
        for (guint64 n = 0; n < off_vtpm; n++) {
                const guint8 *nl =
                    memchr(h->vtpm_log->data + vtpm_pos, '\n', h->vtpm_log->len - vtpm_pos);
                vtpm_pos = (gsize)(nl - h->vtpm_log->data) + 1;
        }
        vtpm_b64 = g_base64_encode(h->vtpm_log->data + vtpm_pos, h->vtpm_log->len - vtpm_pos);
        ima_b64 = g_base64_encode(h->ima->data + off_ima, h->ima->len - off_ima);
        g_string_append_printf(s,
                               "{\"vm_uuid\":\"%s\",\"quote\":{\"attest\":\"%s\",\"signature\":"
                               "\"%s\"},",
                               uuid,
                               attest_b64,
                               sig_b64);
        bench_append_pcrs(s, BENCH_HOST_PCR_MASK, h->pcrs);
        g_string_append_printf(s,
                               ",\"root\":\"%s\",\"leaf_index\":%" G_GSIZE_FORMAT
                               ",\"tree_size\":%" G_GSIZE_FORMAT ",\"proof\":[",
                               root,
                               index,
                               vtc_merkle_tree_get_size(tree));
        for (gsize i = 0; i < n_proof; i++) {
                g_autofree gchar *hex = vtc_hex_encode(proof + i * 32, 32);
                g_string_append_printf(s, "%s\"%s\"", i == 0 ? "" : ",", hex);
        }
        g_string_append_printf(
            s,
            "],\"vm_running\":true,\"vtpm_log\":{\"from\":%" G_GUINT64_FORMAT
            ",\"count\":%" G_GUINT64_FORMAT
            ",\"data\":\"%s\",\"more\":false},\"ima_log\":{\"from\":%" G_GUINT64_FORMAT
            ",\"data\":\"%s\",\"more\":false}}",
            off_vtpm,
            h->vtpm_count - off_vtpm,
            vtpm_b64,
            off_ima,
            ima_b64);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
bench_answer(SoupServerMessage *msg, SimMany *many, guint index, guint status, gchar *body);

/* One host quote over the batch's Merkle root; answers every waiting round. */
static gboolean
bench_host_batch_cb(gpointer user_data)
{
        SimHost *h = user_data;
        Bench *b = h->thread->b;
        g_autoptr(GPtrArray) batch = g_steal_pointer(&h->pending);
        g_autofree guint8 *leaves = g_malloc(batch->len * 32);
        g_autoptr(VtcMerkleTree) tree = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *attest_b64 = NULL;
        g_autofree gchar *sig_b64 = NULL;
        g_autoptr(GBytes) attest = NULL;

        h->pending = g_ptr_array_new_with_free_func((GDestroyNotify)bench_pending_free);
        g_source_unref(h->timer);
        h->timer = NULL;
        for (guint i = 0; i < batch->len; i++)
                memcpy(leaves + i * 32, ((SimPending *)g_ptr_array_index(batch, i))->leaf, 32);
        tree = vtc_merkle_tree_new(leaves, batch->len, &error);
        if (tree != NULL) {
                h->clock = MAX(h->clock + 1, (guint64)(g_get_monotonic_time() / 1000));
                attest = bench_quote(h->ak,
                                     &h->ak_name,
                                     h->clock,
                                     vtc_merkle_tree_get_root(tree),
                                     BENCH_HOST_PCR_MASK,
                                     h->pcrs,
                                     &attest_b64,
                                     &sig_b64,
                                     &error);
        }
        h->quotes++;
        h->bindings += batch->len;
        for (guint i = 0; i < batch->len; i++) {
                SimPending *p = g_ptr_array_index(batch, i);
                g_autoptr(GError) error_local = NULL;
                g_autofree gchar *host = NULL;
                gchar *body;

                if (attest != NULL)
                        host = bench_host_answer(h,
                                                 p->vm->uuid,
                                                 attest_b64,
                                                 sig_b64,
                                                 tree,
                                                 i,
                                                 p->off_vtpm,
                                                 p->off_ima,
                                                 &error_local);
                guint status = 200;

                if (host == NULL) {
                        const GError *e = error != NULL ? error : error_local;
                        bench_sim_error(b, "%s: %s", h->id, e->message);
                        body = g_strdup_printf("{\"error\":\"%s\",\"message\":\"bench\"}",
                                               e->code == VTC_ERROR_INVALID_ARGUMENT
                                                   ? "invalid_argument"
                                                   : "internal_error");
                        status = e->code == VTC_ERROR_INVALID_ARGUMENT ? 400 : 500;
                } else {
                        body =
                            g_strdup_printf("{\"guest\":%s,\"host\":%s,\"placement\":\"channel\"}",
                                            p->guest,
                                            host);
                        g_atomic_int_set(&p->vm->last_served_ms, bench_now_ms(b));
                        g_atomic_int_inc(&b->sim_rounds);
                }
                bench_answer(p->msg, p->many, p->index, status, body);
        }
        return G_SOURCE_REMOVE;
}

static void
bench_reply(SoupServerMessage *msg, guint status, gchar *body)
{
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg,
                                         "application/json",
                                         SOUP_MEMORY_TAKE,
                                         body,
                                         strlen(body));
}

static gchar *
bench_error_body(const gchar *code, const gchar *message)
{
        g_autoptr(JsonBuilder) jb = json_builder_new();

        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "error");
        json_builder_add_string_value(jb, code);
        json_builder_set_member_name(jb, "message");
        json_builder_add_string_value(jb, message);
        json_builder_end_object(jb);
        return vtc_json_builder_to_string(jb);
}

static void
bench_reply_error(SoupServerMessage *msg, guint status, const gchar *code, const gchar *message)
{
        bench_reply(msg, status, bench_error_body(code, message));
}

/* One round's answer (@body taken): to its own paused message, or into its batch's slot; the
 * batch goes out with its last answer, as hostd's POST /v1/rounds answers. */
static void
bench_answer(SoupServerMessage *msg, SimMany *many, guint index, guint status, gchar *body)
{
        if (many == NULL) {
                bench_reply(msg, status, body);
                soup_server_message_unpause(msg);
                return;
        }
        many->status[index] = status;
        many->body[index] = body;
        if (--many->pending > 0)
                return;
        bench_reply(many->msg, 200, vtc_json_rounds_answer(many->status, many->body, many->n));
        soup_server_message_unpause(many->msg);
        g_object_unref(many->msg);
        for (guint i = 0; i < many->n; i++)
                g_free(many->body[i]);
        g_free(many->body);
        g_free(many->status);
        g_free(many);
}

/* One round of @h's VM: answered through bench_answer() (@msg is paused, or in @many). */
static void
bench_round_one(SimThread *t,
                SimHost *h,
                JsonObject *obj,
                SoupServerMessage *msg,
                SimMany *many,
                guint index)
{
        Bench *b = t->b;
        static const gchar *const extra[] = {"vm_uuid", "offsets", NULL};
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) attest = NULL;
        VtcChannelRound req = {0};
        JsonObject *offsets;
        const gchar *uuid;
        SimVm *vm;
        SimPending *p;
        gint64 off_vtpm = 0, off_ima = 0, off_boot = 0;
        guint8 binding[32];

        if (!vtc_channel_round_from_json(obj, extra, &req, &error) ||
            (uuid = vtc_json_get_string(obj, "vm_uuid", TRUE, &error)) == NULL) {
                bench_sim_error(b, "round request: %s", error->message);
                bench_answer(msg,
                             many,
                             index,
                             400,
                             bench_error_body("invalid_data", error->message));
                return;
        }
        offsets = vtc_json_get_object(obj, "offsets", FALSE, &error);
        if (offsets != NULL &&
            (!vtc_json_get_int(offsets, "vtpm", 0, G_MAXINT64, FALSE, &off_vtpm, &error) ||
             !vtc_json_get_int(offsets, "ima", 0, G_MAXINT64, FALSE, &off_ima, &error) ||
             !vtc_json_get_int(offsets, "boot", 0, G_MAXINT64, FALSE, &off_boot, &error))) {
                bench_sim_error(b, "round request offsets: %s", error->message);
                bench_answer(msg,
                             many,
                             index,
                             400,
                             bench_error_body("invalid_data", error->message));
                return;
        }
        vm = g_hash_table_lookup(b->vm_by_uuid, uuid);
        if (vm == NULL || vm->host != h) {
                bench_sim_error(b, "round for unknown VM %s on %s", uuid, h->id);
                bench_answer(msg,
                             many,
                             index,
                             404,
                             bench_error_body("not_found", "no such VM on this host"));
                return;
        }
        if ((guint64)off_vtpm > h->vtpm_count) {
                bench_answer(msg,
                             many,
                             index,
                             400,
                             bench_error_body("invalid_argument", "offsets.vtpm beyond the log"));
                return;
        }
        p = g_new0(SimPending, 1);
        p->guest = bench_guest_evidence(b, vm, &req, &attest, &error);
        if (p->guest == NULL) {
                bench_sim_error(b, "%s", error->message);
                bench_answer(msg,
                             many,
                             index,
                             502,
                             bench_error_body("agent_error", error->message));
                bench_pending_free(p);
                return;
        }
        vtc_merkle_binding(g_bytes_get_data(attest, NULL),
                           g_bytes_get_size(attest),
                           req.nonce,
                           32,
                           binding);
        vtc_merkle_leaf_hash(vm->uuid_bytes, binding, p->leaf);
        p->vm = vm;
        p->msg = msg != NULL ? g_object_ref(msg) : NULL;
        p->many = many;
        p->index = index;
        p->off_vtpm = (guint64)off_vtpm;
        p->off_ima = (guint64)off_ima;
        p->off_boot = (guint64)off_boot;
        g_ptr_array_add(h->pending, p);
        if (h->timer == NULL) {
                h->timer = g_timeout_source_new(b->window_ms);
                g_source_set_callback(h->timer, bench_host_batch_cb, h, NULL);
                g_source_attach(h->timer, t->ctx);
        }
}

/* POST /h/{id}/v1/round: one round. */
static void
bench_round(SimThread *t, SoupServerMessage *msg, SimHost *h)
{
        g_autoptr(GBytes) data =
            soup_message_body_flatten(soup_server_message_get_request_body(msg));
        VtcJsonLimits limits = {16384, 4, 256, 24};
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj = vtc_json_parse_object(g_bytes_get_data(data, NULL),
                                                          g_bytes_get_size(data),
                                                          &limits,
                                                          &error);

        if (obj == NULL) {
                bench_sim_error(t->b, "round request: %s", error->message);
                bench_reply_error(msg, 400, "invalid_data", error->message);
                return;
        }
        soup_server_message_pause(msg);
        bench_round_one(t, h, obj, msg, NULL, 0);
}

/* POST /h/{id}/v1/rounds: up to 64 rounds, answered together in order. */
static void
bench_rounds(SimThread *t, SoupServerMessage *msg, SimHost *h)
{
        g_autoptr(GBytes) data =
            soup_message_body_flatten(soup_server_message_get_request_body(msg));
        VtcJsonLimits limits = {64 * 16384, 5, 256, 64};
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) obj = vtc_json_parse_object(g_bytes_get_data(data, NULL),
                                                          g_bytes_get_size(data),
                                                          &limits,
                                                          &error);
        JsonArray *rounds = obj != NULL ? vtc_json_get_array(obj, "rounds", TRUE, &error) : NULL;
        SimMany *many;

        if (rounds == NULL || json_array_get_length(rounds) == 0) {
                const gchar *m = error != NULL ? error->message : "no rounds";
                bench_sim_error(t->b, "rounds request: %s", m);
                bench_reply_error(msg, 400, "invalid_data", m);
                return;
        }
        many = g_new0(SimMany, 1);
        many->msg = g_object_ref(msg);
        many->n = json_array_get_length(rounds);
        many->pending = many->n;
        many->status = g_new0(guint, many->n);
        many->body = g_new0(gchar *, many->n);
        soup_server_message_pause(msg);
        for (guint i = 0; i < many->n; i++) {
                JsonNode *node = json_array_get_element(rounds, i);

                if (!JSON_NODE_HOLDS_OBJECT(node)) {
                        bench_answer(NULL,
                                     many,
                                     i,
                                     400,
                                     bench_error_body("invalid_data", "a round is not an object"));
                        continue;
                }
                bench_round_one(t, h, json_node_get_object(node), NULL, many, i);
        }
}

static void
bench_registrar_agent(Bench *b, SoupServerMessage *msg, const gchar *uuid)
{
        SimVm *vm = g_hash_table_lookup(b->vm_by_uuid, uuid);
        g_autoptr(GError) error = NULL;
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autoptr(X509) cert = NULL;
        g_autofree gchar *ek_b64 = NULL;
        g_autofree gchar *cert_b64 = NULL;
        const guint8 *p;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        if (vm == NULL) {
                bench_reply_error(msg, 404, "not_found", "no such agent");
                return;
        }
        p = vm->ek_spki;
        ek = d2i_PUBKEY(NULL, &p, (long)vm->ek_spki_len);
        if (ek == NULL || !bench_public(ek, TRUE, &ek_b64, NULL, &error) ||
            (cert = bench_cert_new(vm->uuid, ek, vm->host->ca, vm->host->ca_key, FALSE, &error)) ==
                NULL ||
            (cert_b64 = bench_cert_b64(cert)) == NULL) {
                bench_sim_error(b, "registrar: %s", error != NULL ? error->message : "EK");
                bench_reply_error(msg, 500, "internal_error", "bench");
                return;
        }
        bench_reply(
            msg,
            200,
            g_strdup_printf("{\"id\":\"%s\",\"state\":\"active\",\"ek_public\":\"%s\","
                            "\"ek_cert\":\"%s\",\"ak_public\":\"%s\",\"ak_name\":\"%s\","
                            "\"host_id\":\"%s\",\"tls_cert\":\"%s\",\"created\":%" G_GINT64_FORMAT
                            ",\"activated\":%" G_GINT64_FORMAT "}",
                            vm->uuid,
                            ek_b64,
                            cert_b64,
                            vm->ak_public_b64,
                            vm->ak_name_hex,
                            vm->host->id,
                            b->fleet.tls_b64[vm->tls],
                            now,
                            now));
}

static void
bench_registrar_host(Bench *b, SoupServerMessage *msg, const gchar *id)
{
        SimHost *h = g_hash_table_lookup(b->host_by_id, id);
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        if (h == NULL) {
                bench_reply_error(msg, 404, "not_found", "no such host");
                return;
        }
        bench_reply(msg,
                    200,
                    g_strdup_printf("{\"id\":\"%s\",\"state\":\"active\",\"ek_public\":\"%s\","
                                    "\"ek_cert\":null,\"ak_public\":\"%s\",\"ak_name\":\"%s\","
                                    "\"vtpm_ca_public\":null,\"created\":%" G_GINT64_FORMAT
                                    ",\"activated\":%" G_GINT64_FORMAT "}",
                                    h->id,
                                    h->ek_public_b64,
                                    h->ak_public_b64,
                                    h->ak_name_hex,
                                    now,
                                    now));
}

/* As hostd: a TLS connection keeps the identity it proved in its handshake. */
static gboolean
bench_authenticated(SoupServerMessage *msg)
{
        GSocket *sock = soup_server_message_get_socket(msg);

        if (vtc_http_has_client_cert(msg)) {
                if (sock != NULL)
                        g_object_set_data(G_OBJECT(sock), BENCH_AUTH_KEY, GINT_TO_POINTER(1));
                return TRUE;
        }
        return sock != NULL && g_object_get_data(G_OBJECT(sock), BENCH_AUTH_KEY) != NULL;
}

static void
bench_http_cb(SoupServer *server,
              SoupServerMessage *msg,
              const char *path,
              GHashTable *query,
              gpointer user_data)
{
        SimThread *t = user_data;
        Bench *b = t->b;
        const gchar *method = soup_server_message_get_method(msg);

        if (!bench_authenticated(msg)) {
                bench_sim_error(b, "a request without a client certificate: %s", path);
                bench_reply_error(msg, 401, "unauthorized", "client certificate required");
                return;
        }
        if (g_str_has_prefix(path, "/h/") &&
            (g_str_has_suffix(path, "/v1/round") || g_str_has_suffix(path, "/v1/rounds")) &&
            g_strcmp0(method, "POST") == 0) {
                gboolean many = g_str_has_suffix(path, "/v1/rounds");
                g_autofree gchar *id =
                    g_strndup(path + 3,
                              strlen(path) - 3 - strlen(many ? "/v1/rounds" : "/v1/round"));
                SimHost *h = g_hash_table_lookup(b->host_by_id, id);

                if (h == NULL || h->thread != t) {
                        bench_reply_error(msg, 404, "not_found", "no such host");
                        return;
                }
                if (many)
                        bench_rounds(t, msg, h);
                else
                        bench_round(t, msg, h);
                return;
        }
        if (g_str_has_prefix(path, "/v1/agents/") && g_strcmp0(method, "GET") == 0) {
                bench_registrar_agent(b, msg, path + strlen("/v1/agents/"));
                return;
        }
        if (g_str_has_prefix(path, "/v1/hosts/") && g_strcmp0(method, "GET") == 0) {
                bench_registrar_host(b, msg, path + strlen("/v1/hosts/"));
                return;
        }
        bench_reply_error(msg, 404, "not_found", "unknown path");
}

static gboolean
bench_listen(SoupServer *server, guint *out_port, GError **error)
{
        g_autoptr(GSocket) sock =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, error);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;

        if (sock == NULL || !g_socket_bind(sock, addr, TRUE, error))
                return FALSE;
        g_socket_set_listen_backlog(sock, 1024);
        if (!g_socket_listen(sock, error))
                return FALSE;
        bound = g_socket_get_local_address(sock, error);
        if (bound == NULL)
                return FALSE;
        *out_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
        return soup_server_listen_socket(server, sock, SOUP_SERVER_LISTEN_HTTPS, error);
}

static gpointer
bench_sim_thread(gpointer data)
{
        SimThread *t = data;

        g_main_context_push_thread_default(t->ctx);
        g_main_loop_run(t->loop);
        g_main_context_pop_thread_default(t->ctx);
        return NULL;
}

static gboolean
bench_quit_cb(gpointer data)
{
        g_main_loop_quit(data);
        return G_SOURCE_REMOVE;
}

/* Stops the simulator threads and frees the fleet of one run. */
static void
bench_sim_stop(Bench *b)
{
        for (guint i = 0; b->threads != NULL && i < b->n_threads; i++) {
                SimThread *t = &b->threads[i];

                if (t->thread != NULL) {
                        GSource *s = g_idle_source_new();
                        g_source_set_callback(s, bench_quit_cb, t->loop, NULL);
                        g_source_attach(s, t->ctx);
                        g_source_unref(s);
                        g_thread_join(t->thread);
                        t->thread = NULL;
                }
        }
        /* the servers go before the hosts whose batches hold their messages */
        for (guint i = 0; b->threads != NULL && i < b->n_threads; i++) {
                SimThread *t = &b->threads[i];

                g_main_context_push_thread_default(t->ctx);
                if (t->server != NULL)
                        soup_server_disconnect(t->server);
                g_clear_object(&t->server);
                g_main_context_pop_thread_default(t->ctx);
        }
        g_clear_pointer(&b->vm_by_uuid, g_hash_table_unref);
        g_clear_pointer(&b->host_by_id, g_hash_table_unref);
        g_clear_pointer(&b->vms, g_ptr_array_unref);
        g_clear_pointer(&b->hosts, g_ptr_array_unref);
        for (guint i = 0; b->threads != NULL && i < b->n_threads; i++) {
                g_clear_pointer(&b->threads[i].loop, g_main_loop_unref);
                g_clear_pointer(&b->threads[i].ctx, g_main_context_unref);
        }
        g_clear_pointer(&b->threads, g_free);
        g_clear_pointer(&b->sim_first_error, g_free);
        b->sim_rounds = 0;
        b->sim_errors = 0;
}

/* Makes the fleet (N VMs over ceil(N / vms_per_host) hosts) without starting any server. */
static gboolean
bench_fleet_make(Bench *b, guint n, GError **error)
{
        guint n_hosts = (n + b->vms_per_host - 1) / b->vms_per_host;

        b->vms = g_ptr_array_new_with_free_func((GDestroyNotify)bench_vm_free);
        b->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)bench_host_free);
        b->vm_by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
        b->host_by_id = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i < n_hosts; i++) {
                SimHost *h = bench_host_new(b, i, error);

                if (h == NULL)
                        return FALSE;
                g_ptr_array_add(b->hosts, h);
                g_hash_table_insert(b->host_by_id, h->id, h);
        }
        for (guint i = 0; i < n; i++) {
                SimVm *vm = bench_vm_new(b, i, g_ptr_array_index(b->hosts, i % n_hosts), error);

                if (vm == NULL)
                        return FALSE;
                g_ptr_array_add(b->vms, vm);
                g_hash_table_insert(b->vm_by_uuid, vm->uuid, vm);
        }
        return bench_hosts_seal(b, error);
}

static gboolean
bench_sim_start(Bench *b, guint n, GError **error)
{
        g_autofree gchar *cert = g_build_filename(b->tls_dir, "simulator.crt", NULL);
        g_autofree gchar *key = g_build_filename(b->tls_dir, "simulator.key", NULL);

        if (!bench_fleet_make(b, n, error))
                return FALSE;
        b->threads = g_new0(SimThread, b->n_threads);
        for (guint i = 0; i < b->n_threads; i++) {
                SimThread *t = &b->threads[i];

                t->b = b;
                t->index = i;
                t->ctx = g_main_context_new();
                t->loop = g_main_loop_new(t->ctx, FALSE);
                g_main_context_push_thread_default(t->ctx);
                t->server = vtc_http_server_new(cert, key, b->ca_file, 65536, error);
                if (t->server != NULL) {
                        vtc_http_server_add_handler(t->server, "/", bench_http_cb, t);
                        if (i == 0 && !bench_listen(t->server, &b->registrar_port, error))
                                g_clear_object(&t->server);
                }
                for (guint j = i; t->server != NULL && j < b->hosts->len; j += b->n_threads) {
                        SimHost *h = g_ptr_array_index(b->hosts, j);

                        h->thread = t;
                        if (!bench_listen(t->server, &h->port, error))
                                g_clear_object(&t->server);
                }
                g_main_context_pop_thread_default(t->ctx);
                if (t->server == NULL)
                        return FALSE;
        }
        for (guint i = 0; i < b->n_threads; i++)
                b->threads[i].thread = g_thread_new("bench-sim", bench_sim_thread, &b->threads[i]);
        return TRUE;
}

/* ---- the verifier process ----------------------------------------------------------------- */

typedef struct {
        GSubprocess *proc;
        gint pid;
        guint port;
        SoupSession *api;
        gchar *base;
} BenchVerifier;

static gboolean
bench_proc_cpu(gint pid, gdouble *out)
{
        g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree gchar *text = NULL;
        g_auto(GStrv) f = NULL;
        const gchar *p;

        if (!g_file_get_contents(path, &text, NULL, NULL) || (p = strrchr(text, ')')) == NULL)
                return FALSE;
        /* after "pid (comm) ": state is field 3, utime 14, stime 15 */
        f = g_strsplit(p + 2, " ", 16);
        if (g_strv_length(f) < 14)
                return FALSE;
        *out = (gdouble)(g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10)) /
               (gdouble)sysconf(_SC_CLK_TCK);
        return TRUE;
}

static guint64
bench_proc_rss(gint pid)
{
        g_autofree gchar *path = g_strdup_printf("/proc/%d/status", pid);
        g_autofree gchar *text = NULL;
        const gchar *p;

        if (!g_file_get_contents(path, &text, NULL, NULL) || (p = strstr(text, "VmRSS:")) == NULL)
                return 0;
        return g_ascii_strtoull(p + 6, NULL, 10) * 1024;
}

static gchar *
bench_write_config(Bench *b, const gchar *dir)
{
        g_autoptr(GString) hosts = g_string_new("");
        g_autofree gchar *path = g_build_filename(dir, "verifier.conf", NULL);
        g_autofree gchar *text = NULL;

        for (guint i = 0; i < b->hosts->len; i++) {
                SimHost *h = g_ptr_array_index(b->hosts, i);
                g_string_append_printf(hosts,
                                       "%s%s=https://127.0.0.1:%u/h/%s",
                                       i == 0 ? "" : ",",
                                       h->id,
                                       h->port,
                                       h->id);
        }
        text = g_strdup_printf("[server]\naddress = 127.0.0.1\nport = 0\n"
                               "[tls]\ncert = %s/verifier.crt\nkey = %s/verifier.key\n"
                               "client_ca = %s\nca = %s\n"
                               "[database]\npath = %s/verifier.db\n"
                               "[state]\ndir = %s/state\n"
                               "[registrar]\nurl = https://127.0.0.1:%u\n"
                               "[hostd]\nurl_template =\nhosts = %s\n"
                               "[rounds]\ninterval_ms = %u\n",
                               b->tls_dir,
                               b->tls_dir,
                               b->ca_file,
                               b->ca_file,
                               dir,
                               dir,
                               b->registrar_port,
                               hosts->str,
                               b->interval_ms);
        if (!g_file_set_contents(path, text, -1, NULL))
                return NULL;
        return g_steal_pointer(&path);
}

static void
bench_child_setup(gpointer data)
{
        prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static gboolean
bench_verifier_start(Bench *b, const gchar *dir, BenchVerifier *v, GError **error)
{
        g_autofree gchar *config = bench_write_config(b, dir);
        g_autofree gchar *cert = g_build_filename(b->tls_dir, "tenant.crt", NULL);
        g_autofree gchar *key = g_build_filename(b->tls_dir, "tenant.key", NULL);
        g_autoptr(GDataInputStream) in = NULL;
        g_autofree gchar *line = NULL;
        const gchar *prefix = "vtc-verifier: listening on port ";
        const gchar *argv[] = {b->verifier_path, "--config", config, NULL};
        g_autoptr(GSubprocessLauncher) launcher = NULL;

        if (config == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "cannot write the verifier's config");
                return FALSE;
        }
        launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        /* the verifier goes with this process, however it ends */
        g_subprocess_launcher_set_child_setup(launcher, bench_child_setup, NULL, NULL);
        v->proc = g_subprocess_launcher_spawnv(launcher, argv, error);
        if (v->proc == NULL)
                return FALSE;
        v->pid = (gint)g_ascii_strtoll(g_subprocess_get_identifier(v->proc), NULL, 10);
        in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(v->proc));
        line = g_data_input_stream_read_line(in, NULL, NULL, error);
        if (line == NULL || !g_str_has_prefix(line, prefix)) {
                if (error != NULL && *error == NULL)
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_FAILED,
                                    "%s did not start (said '%s')",
                                    b->verifier_path,
                                    line != NULL ? line : "nothing");
                return FALSE;
        }
        v->port = (guint)g_ascii_strtoull(line + strlen(prefix), NULL, 10);
        v->base = g_strdup_printf("https://127.0.0.1:%u", v->port);
        v->api = vtc_http_client_new(b->ca_file, cert, key, error);
        return v->api != NULL;
}

static void
bench_verifier_stop(BenchVerifier *v)
{
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        if (v->proc != NULL) {
                g_subprocess_send_signal(v->proc, SIGTERM);
                /* GLib's child watch reaps it: wait until it is gone or a zombie, 30 s at most */
                for (;;) {
                        g_autofree gchar *path = g_strdup_printf("/proc/%d/stat", v->pid);
                        g_autofree gchar *text = NULL;
                        const gchar *p;

                        if (!g_file_get_contents(path, &text, NULL, NULL) ||
                            (p = strrchr(text, ')')) == NULL || p[1] == '\0' || p[2] == 'Z')
                                break;
                        if (g_get_monotonic_time() >= deadline) {
                                g_printerr("# the verifier did not exit within 30 s of SIGTERM: "
                                           "killed\n");
                                g_subprocess_force_exit(v->proc);
                                break;
                        }
                        g_usleep(50000);
                }
                g_subprocess_wait(v->proc, NULL, NULL);
                if (g_subprocess_get_if_signaled(v->proc))
                        g_printerr("# the verifier died of signal %d\n",
                                   g_subprocess_get_term_sig(v->proc));
                else if (g_subprocess_get_exit_status(v->proc) != 0)
                        g_printerr("# the verifier exited with status %d\n",
                                   g_subprocess_get_exit_status(v->proc));
        }
        g_clear_object(&v->proc);
        g_clear_object(&v->api);
        g_clear_pointer(&v->base, g_free);
}

static GBytes *
bench_api(BenchVerifier *v,
          const gchar *method,
          const gchar *path,
          const gchar *body,
          guint *out_status,
          GError **error)
{
        g_autofree gchar *url = g_strconcat(v->base, path, NULL);

        return vtc_http_client_request(v->api, method, url, body, out_status, error);
}

static gboolean
bench_metrics(BenchVerifier *v, gchar **out_text, GError **error)
{
        guint status = 0;
        g_autoptr(GBytes) reply = bench_api(v, "GET", "/metrics", NULL, &status, error);

        if (reply == NULL)
                return FALSE;
        if (status != 200) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "/metrics answered %u", status);
                return FALSE;
        }
        *out_text = g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
        return TRUE;
}

static gdouble
bench_metric(const gchar *text, const gchar *name)
{
        gsize len = strlen(name);
        const gchar *p = text;

        while (p != NULL && *p != '\0') {
                if (strncmp(p, name, len) == 0 && p[len] == ' ')
                        return g_ascii_strtod(p + len + 1, NULL);
                p = strchr(p, '\n');
                if (p != NULL)
                        p++;
        }
        return 0.0;
}

typedef struct {
        gdouble t;
        gdouble cpu;
        gdouble self_cpu;
        gdouble pass;
        gdouble fail;
        gdouble unreachable;
        gdouble incomplete;
        gdouble check_sum;
        gdouble check_n;
        gdouble round_sum;
        gdouble round_n;
        gdouble trusted;
        gdouble unreachable_vms;
        gdouble failed_vms;
        gint sim_rounds;
} BenchSnap;

static gboolean
bench_snap(Bench *b, BenchVerifier *v, BenchSnap *s, GError **error)
{
        g_autofree gchar *m = NULL;

        if (!bench_metrics(v, &m, error))
                return FALSE;
        s->t = bench_now();
        if (!bench_proc_cpu(v->pid, &s->cpu)) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_FAILED, "the verifier process is gone");
                return FALSE;
        }
        s->self_cpu = bench_self_cpu();
        s->pass = bench_metric(m, "vtc_verifier_rounds_total{result=\"pass\"}");
        s->fail = bench_metric(m, "vtc_verifier_rounds_total{result=\"fail\"}");
        s->unreachable = bench_metric(m, "vtc_verifier_rounds_total{result=\"unreachable\"}");
        s->incomplete = bench_metric(m, "vtc_verifier_rounds_total{result=\"incomplete\"}");
        s->check_sum = bench_metric(m, "vtc_verifier_check_seconds_sum");
        s->check_n = bench_metric(m, "vtc_verifier_check_seconds_count");
        s->round_sum = bench_metric(m, "vtc_verifier_round_seconds_sum");
        s->round_n = bench_metric(m, "vtc_verifier_round_seconds_count");
        s->trusted = bench_metric(m, "vtc_verifier_vms{state=\"trusted\"}");
        s->unreachable_vms = bench_metric(m, "vtc_verifier_vms{state=\"unreachable\"}");
        s->failed_vms = bench_metric(m, "vtc_verifier_vms{state=\"failed\"}");
        s->sim_rounds = g_atomic_int_get(&b->sim_rounds);
        return TRUE;
}

/* ---- adding the VMs ----------------------------------------------------------------------- */

typedef struct {
        Bench *b;
        BenchVerifier *v;
        gint next;
        gint failed;
        GMutex lock;
        gchar *first_error;
} BenchAdd;

static gpointer
bench_add_thread(gpointer data)
{
        BenchAdd *a = data;
        Bench *b = a->b;
        g_autofree gchar *cert = g_build_filename(b->tls_dir, "tenant.crt", NULL);
        g_autofree gchar *key = g_build_filename(b->tls_dir, "tenant.key", NULL);
        g_autoptr(SoupSession) s = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = g_strconcat(a->v->base, "/v1/vms", NULL);

        s = vtc_http_client_new(b->ca_file, cert, key, &error);
        for (;;) {
                gint i = g_atomic_int_add(&a->next, 1);
                SimVm *vm;
                g_autofree gchar *body = NULL;
                g_autoptr(GBytes) reply = NULL;
                guint status = 0;

                if (s == NULL || i >= (gint)b->vms->len)
                        break;
                vm = g_ptr_array_index(b->vms, i);
                body = g_strdup_printf("{\"uuid\":\"%s\",\"runtime_policy\":%s,\"boot_policy\":%s,"
                                       "\"host_policy\":%s,\"mode\":\"host\"}",
                                       vm->uuid,
                                       b->fleet.runtime_policy,
                                       b->fleet.boot_policy,
                                       b->fleet.host_policy);
                reply = vtc_http_client_request(s, "POST", url, body, &status, &error);
                if (reply == NULL || status != 201) {
                        g_atomic_int_inc(&a->failed);
                        g_mutex_lock(&a->lock);
                        if (a->first_error == NULL)
                                a->first_error =
                                    reply == NULL
                                        ? g_strdup(error->message)
                                        : g_strdup_printf(
                                              "%u %.*s",
                                              status,
                                              (int)g_bytes_get_size(reply),
                                              (const gchar *)g_bytes_get_data(reply, NULL));
                        g_mutex_unlock(&a->lock);
                        g_clear_error(&error);
                }
        }
        if (s == NULL) {
                g_atomic_int_inc(&a->failed);
                g_mutex_lock(&a->lock);
                if (a->first_error == NULL)
                        a->first_error = g_strdup(error->message);
                g_mutex_unlock(&a->lock);
        }
        return NULL;
}

static gboolean
bench_add_vms(Bench *b, BenchVerifier *v, guint threads, gdouble *out_secs, GError **error)
{
        BenchAdd a = {.b = b, .v = v};
        g_autofree GThread **t = g_new0(GThread *, threads);
        gdouble t0 = bench_now();

        g_mutex_init(&a.lock);
        for (guint i = 0; i < threads; i++)
                t[i] = g_thread_new("bench-add", bench_add_thread, &a);
        for (guint i = 0; i < threads; i++)
                g_thread_join(t[i]);
        g_mutex_clear(&a.lock);
        *out_secs = bench_now() - t0;
        if (a.failed > 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "%d of %u POST /v1/vms failed; first: %s",
                            a.failed,
                            b->vms->len,
                            a.first_error);
                g_free(a.first_error);
                return FALSE;
        }
        return TRUE;
}

/* ---- one run ------------------------------------------------------------------------------ */

typedef struct {
        guint n;
        guint hosts;
        gboolean ran;
        gdouble add_s;
        gdouble warmup_s;
        gdouble measured_s;
        gdouble rounds_per_s;
        gdouble needed_per_s;
        gdouble fresh_sim;    /* fraction served within 2 intervals */
        gdouble fresh_sample; /* fraction of the sample with last_success within 2 intervals */
        guint sample;
        gdouble cpu_per_verdict_ms;
        gdouble cpu_util; /* verifier CPU seconds per second */
        gdouble sim_util; /* this process's CPU seconds per second */
        gdouble check_ms; /* mean vtc_verifier_check_seconds */
        gdouble round_ms; /* mean nonce-to-verdict */
        guint64 rss_idle;
        guint64 rss_n;
        gdouble fail;
        gdouble unreachable_rounds;
        gdouble unreachable_vms;
        gdouble incomplete;
        gint sim_errors;
} BenchResult;

/* Prints every failed VM with its reason: there must be none. */
static guint
bench_report_failed(BenchVerifier *v)
{
        guint status = 0;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply =
            bench_api(v, "GET", "/v1/vms?state=failed&limit=10000", NULL, &status, &error);
        VtcJsonLimits limits = {64 * 1024 * 1024, 16, 65536, 100000};
        g_autoptr(JsonObject) obj = NULL;
        JsonArray *arr;
        guint n;

        if (reply == NULL || status != 200) {
                g_printerr("# listing failed VMs: %s\n", reply == NULL ? error->message : "error");
                return 0;
        }
        obj = vtc_json_parse_object(g_bytes_get_data(reply, NULL),
                                    g_bytes_get_size(reply),
                                    &limits,
                                    &error);
        arr = obj != NULL ? vtc_json_get_array(obj, "vms", TRUE, &error) : NULL;
        if (arr == NULL)
                return 0;
        n = json_array_get_length(arr);
        for (guint i = 0; i < n && i < 50; i++) {
                JsonObject *o = json_array_get_object_element(arr, i);
                const gchar *uuid = vtc_json_get_string(o, "uuid", FALSE, NULL);
                g_autofree gchar *path = g_strdup_printf("/v1/vms/%s", uuid);
                g_autoptr(GBytes) one = bench_api(v, "GET", path, NULL, &status, NULL);
                g_autoptr(JsonObject) vo = NULL;

                if (one != NULL)
                        vo = vtc_json_parse_object(g_bytes_get_data(one, NULL),
                                                   g_bytes_get_size(one),
                                                   &limits,
                                                   NULL);
                printf("FALSE VERDICT: VM %s failed: %s: %s\n",
                       uuid,
                       vo != NULL ? vtc_json_get_string(vo, "reason", FALSE, NULL) : "?",
                       vo != NULL ? vtc_json_get_string(vo, "message", FALSE, NULL) : "?");
        }
        return n;
}

/* Exact freshness for a sample: trusted, and last_success within two intervals. */
static void
bench_sample_fresh(Bench *b, BenchVerifier *v, guint want, BenchResult *r)
{
        guint n = MIN(want, b->vms->len);
        guint fresh = 0;
        VtcJsonLimits limits = {1024 * 1024, 16, 65536, 10000};
        guint step = MAX(1u, b->vms->len / MAX(1u, n));

        for (guint i = 0; i < n; i++) {
                SimVm *vm = g_ptr_array_index(b->vms, (i * step) % b->vms->len);
                g_autofree gchar *path = g_strdup_printf("/v1/vms/%s", vm->uuid);
                guint status = 0;
                g_autoptr(GBytes) one = bench_api(v, "GET", path, NULL, &status, NULL);
                g_autoptr(JsonObject) o = NULL;
                gint64 last = 0;
                gint64 now = g_get_real_time() / G_USEC_PER_SEC;

                if (one == NULL || status != 200)
                        continue;
                o = vtc_json_parse_object(g_bytes_get_data(one, NULL),
                                          g_bytes_get_size(one),
                                          &limits,
                                          NULL);
                if (o == NULL ||
                    g_strcmp0(vtc_json_get_string(o, "state", FALSE, NULL), "trusted") != 0)
                        continue;
                /* seconds resolution: within 2 intervals, rounded up to the second */
                if (vtc_json_get_int(o, "last_success", 0, G_MAXINT64, TRUE, &last, NULL) &&
                    (now - last) * 1000 <= (gint64)(2 * b->interval_ms) + 999)
                        fresh++;
        }
        r->sample = n;
        r->fresh_sample = n > 0 ? (gdouble)fresh / n : 0.0;
}

/* The phases of one run, with the simulator and the verifier started. */
static gboolean
bench_run_phases(Bench *b,
                 BenchVerifier *v,
                 guint n,
                 gdouble seconds,
                 gdouble warmup_max,
                 guint sample,
                 BenchResult *r,
                 GError **error)
{
        BenchSnap s0 = {0};
        BenchSnap s1 = {0};
        BenchSnap w = {0};
        gdouble t_warm;
        guint fresh = 0;
        gint now_ms;
        gdouble verdicts;
        gdouble cpu;

        /* idle: started, nothing to watch */
        g_usleep(1500000);
        if (!bench_snap(b, v, &w, error))
                return FALSE;
        r->rss_idle = bench_proc_rss(v->pid);
        g_printerr("# N=%u: verifier pid %d idle RSS %.1f MiB; adding the VMs...\n",
                   n,
                   v->pid,
                   r->rss_idle / 1048576.0);
        if (!bench_add_vms(b, v, 4, &r->add_s, error))
                return FALSE;
        g_printerr("# N=%u: added in %.1f s; warming up (until all are trusted, at most %.0f s)\n",
                   n,
                   r->add_s,
                   warmup_max);
        t_warm = bench_now();
        for (;;) {
                if (!bench_snap(b, v, &w, error))
                        return FALSE;
                if ((w.trusted >= n && bench_now() - t_warm >= b->interval_ms / 1000.0) ||
                    bench_now() - t_warm >= warmup_max)
                        break;
                g_usleep(1000000);
        }
        r->warmup_s = bench_now() - t_warm;
        g_printerr("# N=%u: after %.1f s of warm-up %.0f trusted, %.0f unreachable, %.0f failed; "
                   "measuring %.0f s\n",
                   n,
                   r->warmup_s,
                   w.trusted,
                   w.unreachable_vms,
                   w.failed_vms,
                   seconds);
        if (!bench_snap(b, v, &s0, error))
                return FALSE;
        g_usleep((gulong)(seconds * G_USEC_PER_SEC));
        if (!bench_snap(b, v, &s1, error))
                return FALSE;
        r->rss_n = bench_proc_rss(v->pid);
        now_ms = bench_now_ms(b);
        for (guint i = 0; i < b->vms->len; i++) {
                SimVm *vm = g_ptr_array_index(b->vms, i);
                gint last = g_atomic_int_get(&vm->last_served_ms);
                if (last > 0 && now_ms - last <= (gint)(2 * b->interval_ms))
                        fresh++;
        }
        r->fresh_sim = (gdouble)fresh / n;
        bench_sample_fresh(b, v, sample, r);
        r->measured_s = s1.t - s0.t;
        verdicts = (s1.pass - s0.pass) + (s1.fail - s0.fail);
        cpu = s1.cpu - s0.cpu;
        r->rounds_per_s = verdicts / r->measured_s;
        r->needed_per_s = n / (b->interval_ms / 1000.0);
        r->cpu_per_verdict_ms = verdicts > 0 ? 1000.0 * cpu / verdicts : 0.0;
        r->cpu_util = cpu / r->measured_s;
        r->sim_util = (s1.self_cpu - s0.self_cpu) / r->measured_s;
        r->check_ms = s1.check_n > s0.check_n
                          ? 1000.0 * (s1.check_sum - s0.check_sum) / (s1.check_n - s0.check_n)
                          : 0.0;
        r->round_ms = s1.round_n > s0.round_n
                          ? 1000.0 * (s1.round_sum - s0.round_sum) / (s1.round_n - s0.round_n)
                          : 0.0;
        r->fail = s1.fail;
        r->unreachable_rounds = s1.unreachable - s0.unreachable;
        r->unreachable_vms = s1.unreachable_vms;
        r->incomplete = s1.incomplete - s0.incomplete;
        r->sim_errors = g_atomic_int_get(&b->sim_errors);
        if (r->sim_errors > 0)
                g_printerr("# N=%u: %d simulator errors; first: %s\n",
                           n,
                           r->sim_errors,
                           b->sim_first_error);
        if (s1.failed_vms > 0 || s1.fail > 0)
                bench_report_failed(v);
        r->ran = TRUE;
        return TRUE;
}

static gboolean
bench_run(Bench *b,
          guint n,
          gdouble seconds,
          gdouble warmup_max,
          guint sample,
          BenchResult *r,
          GError **error)
{
        g_autofree gchar *dir = g_build_filename(b->dir, "run-XXXXXX", NULL);
        g_autofree gchar *cmd = NULL;
        BenchVerifier v = {0};
        gboolean ok;

        memset(r, 0, sizeof(*r));
        r->n = n;
        if (g_mkdtemp(dir) == NULL) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "cannot make a run directory");
                return FALSE;
        }
        g_printerr("# N=%u: making %u VMs on %u hosts (software AKs and EKs)...\n",
                   n,
                   n,
                   (n + b->vms_per_host - 1) / b->vms_per_host);
        ok = bench_sim_start(b, n, error);
        if (ok) {
                r->hosts = b->hosts->len;
                ok = bench_verifier_start(b, dir, &v, error) &&
                     bench_run_phases(b, &v, n, seconds, warmup_max, sample, r, error);
        }
        bench_verifier_stop(&v);
        bench_sim_stop(b);
        cmd = g_strdup_printf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
                g_printerr("# could not remove %s\n", dir);
        return ok;
}

static void
bench_print_result(const BenchResult *r)
{
        printf("{\"bench\":\"verifier_scale\",\"n\":%u,\"hosts\":%u,\"rounds_per_s\":%.1f,"
               "\"needed_per_s\":%.1f,\"ratio\":%.3f,\"fresh_fraction\":%.4f,"
               "\"fresh_sample_fraction\":%.4f,\"sample\":%u,\"cpu_ms_per_verdict\":%.3f,"
               "\"verifier_cpu_per_s\":%.2f,\"simulator_cpu_per_s\":%.2f,\"check_ms\":%.3f,"
               "\"round_ms\":%.2f,\"rss_idle\":%" G_GUINT64_FORMAT ",\"rss_n\":%" G_GUINT64_FORMAT
               ",\"bytes_per_vm\":%.0f,\"false_verdicts\":%.0f,\"unreachable_rounds\":%.0f,"
               "\"unreachable_vms\":%.0f,\"incomplete_rounds\":%.0f,\"simulator_errors\":%d,"
               "\"add_s\":%.1f,\"warmup_s\":%.1f,\"measured_s\":%.1f}\n",
               r->n,
               r->hosts,
               r->rounds_per_s,
               r->needed_per_s,
               r->needed_per_s > 0 ? r->rounds_per_s / r->needed_per_s : 0.0,
               r->fresh_sim,
               r->fresh_sample,
               r->sample,
               r->cpu_per_verdict_ms,
               r->cpu_util,
               r->sim_util,
               r->check_ms,
               r->round_ms,
               r->rss_idle,
               r->rss_n,
               ((gdouble)r->rss_n - (gdouble)r->rss_idle) / r->n,
               r->fail,
               r->unreachable_rounds,
               r->unreachable_vms,
               r->incomplete,
               r->sim_errors,
               r->add_s,
               r->warmup_s,
               r->measured_s);
        fflush(stdout);
}

static void
bench_print_table(const BenchResult *r, guint n_results, guint interval_ms)
{
        printf(
            "\nvtc-verifier at a %u ms interval, every check on (simulated agents, hostds and\n"
            "registrar in this process on the same cores; verifier CPU is its own process's):\n\n",
            interval_ms);
        printf("%8s %6s %10s %10s %7s %7s %9s %9s %8s %8s %8s %9s %9s %7s %6s\n",
               "VMs",
               "hosts",
               "rounds/s",
               "needed/s",
               "fresh",
               "sample",
               "CPU/verd",
               "verif.CPU",
               "sim.CPU",
               "check",
               "round",
               "RSS idle",
               "RSS N",
               "B/VM",
               "false");
        for (guint i = 0; i < n_results; i++) {
                const BenchResult *x = &r[i];

                if (!x->ran) {
                        printf("%8u  did not run\n", x->n);
                        continue;
                }
                printf(
                    "%8u %6u %10.1f %10.1f %6.1f%% %6.1f%% %7.3fms %8.2fc %7.2fc %6.3fms %6.2fms "
                    "%7.1fMi %7.1fMi %7.0f %6.0f\n",
                    x->n,
                    x->hosts,
                    x->rounds_per_s,
                    x->needed_per_s,
                    100.0 * x->fresh_sim,
                    100.0 * x->fresh_sample,
                    x->cpu_per_verdict_ms,
                    x->cpu_util,
                    x->sim_util,
                    x->check_ms,
                    x->round_ms,
                    x->rss_idle / 1048576.0,
                    x->rss_n / 1048576.0,
                    ((gdouble)x->rss_n - (gdouble)x->rss_idle) / x->n,
                    x->fail);
        }
        for (guint i = 1; i < n_results; i++) {
                const BenchResult *x = &r[i - 1];
                const BenchResult *y = &r[i];

                if (!x->ran || !y->ran || y->n <= x->n)
                        continue;
                printf(
                    "marginal memory from %u to %u VMs: %.0f bytes per VM (RSS %.1f -> %.1f MiB)\n",
                    x->n,
                    y->n,
                    ((gdouble)y->rss_n - (gdouble)x->rss_n) / (y->n - x->n),
                    x->rss_n / 1048576.0,
                    y->rss_n / 1048576.0);
        }
        printf(
            "\nfresh: VMs served evidence within the last 2 intervals (all N); sample: of a\n"
            "sample read through GET /v1/vms/{uuid}, trusted with last_success within 2\n"
            "intervals (1 s resolution). CPU/verd: verifier CPU seconds (utime+stime) per\n"
            "verdict; verif.CPU / sim.CPU: cores used by the verifier / by this process\n"
            "(simulator + API client). check: mean vtc_verifier_check_seconds; round: mean\n"
            "nonce-to-verdict. B/VM: (RSS with N - RSS idle) / N, which includes the fixed cost\n"
            "of the first rounds (TLS sessions, worker threads, sqlite cache); the marginal\n"
            "figure between two sizes is the cost of one more VM. false: failed verdicts.\n");
        fflush(stdout);
}

/* ---- the in-process micro-figure ---------------------------------------------------------- */

typedef struct {
        guint8 nonce[32];
        gchar *guest;
        gchar *host;
        JsonObject *guest_obj;
        JsonObject *host_obj;
} BenchPrebuilt;

static void
bench_prebuilt_clear(BenchPrebuilt *p)
{
        g_free(p->guest);
        g_free(p->host);
        if (p->guest_obj != NULL)
                json_object_unref(p->guest_obj);
        if (p->host_obj != NULL)
                json_object_unref(p->host_obj);
}

static VtcVerifierVm *
bench_check_vm_new(Bench *b,
                   SimVm *vm,
                   VtcVerifierPolicy *policy,
                   VtcVerifierPolicy *host_policy,
                   VtcVerifierHost *host,
                   GError **error)
{
        g_autoptr(GBytes) ak = NULL;
        guint8 ek_sha[32];
        gsize len = 0;
        guchar *raw = g_base64_decode(vm->ak_public_b64, &len);
        VtcVerifierVm *cvm;

        ak = g_bytes_new_take(raw, len);
        bench_sha256(vm->ek_spki, vm->ek_spki_len, NULL, 0, ek_sha);
        cvm = vtc_verifier_vm_new(vm->uuid,
                                  g_bytes_get_data(ak, NULL),
                                  g_bytes_get_size(ak),
                                  ek_sha,
                                  b->fleet.tls_sha256[vm->tls],
                                  host,
                                  error);
        if (cvm == NULL)
                return NULL;
        vtc_verifier_vm_set_policy(cvm, policy);
        vtc_verifier_vm_set_host_policy(cvm, host_policy);
        return cvm;
}

static gboolean
bench_policies(Bench *b,
               VtcVerifierPolicy **out_guest,
               VtcVerifierPolicy **out_host,
               GError **error)
{
        g_autoptr(VtcVerifierPolicy) guest = vtc_verifier_policy_new();
        g_autoptr(VtcVerifierPolicy) host = vtc_verifier_policy_new();
        VtcJsonLimits limits = {16 * 1024 * 1024, 32, 16 * 1024 * 1024, 1000000};
        g_autoptr(JsonObject) boot = vtc_json_parse_object(b->fleet.boot_policy,
                                                           strlen(b->fleet.boot_policy),
                                                           &limits,
                                                           error);
        g_autoptr(JsonObject) hp = NULL;
        JsonNode *rt;
        g_autofree gchar *rt_text = NULL;
        VtcRuntimePolicy *rp;

        if (boot == NULL || !vtc_verifier_policy_set_boot_from_json(guest, boot, error))
                return FALSE;
        rp = vtc_runtime_policy_new_from_json(b->fleet.runtime_policy,
                                              strlen(b->fleet.runtime_policy),
                                              error);
        if (rp == NULL)
                return FALSE;
        vtc_verifier_policy_set_runtime(guest, rp);
        hp = vtc_json_parse_object(b->fleet.host_policy,
                                   strlen(b->fleet.host_policy),
                                   &limits,
                                   error);
        if (hp == NULL)
                return FALSE;
        rt = json_object_get_member(hp, "runtime_policy");
        rt_text = vtc_json_node_to_string(rt);
        json_object_remove_member(hp, "runtime_policy");
        rp = vtc_runtime_policy_new_from_json(rt_text, strlen(rt_text), error);
        if (rp == NULL)
                return FALSE;
        vtc_verifier_policy_set_runtime(host, rp);
        if (!vtc_verifier_policy_set_boot_from_json(host, hp, error))
                return FALSE;
        *out_guest = g_steal_pointer(&guest);
        *out_host = g_steal_pointer(&host);
        return TRUE;
}

/* One round's evidence as the simulator serves it, in a batch of @batch leaves. */
static gboolean
bench_prebuild(Bench *b,
               SimVm *vm,
               const VtcVerifierRequest *req,
               guint batch,
               BenchPrebuilt *out,
               GError **error)
{
        VtcChannelRound round = {0};
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) host_attest = NULL;
        g_autofree guint8 *leaves = g_malloc(batch * 32);
        g_autoptr(VtcMerkleTree) tree = NULL;
        g_autofree gchar *attest_b64 = NULL;
        g_autofree gchar *sig_b64 = NULL;
        guint index = g_random_int_range(0, (gint32)batch);
        guint8 binding[32];
        SimHost *h = vm->host;
        VtcJsonLimits limits = {64 * 1024 * 1024, 16, 64 * 1024 * 1024, 100000};

        RAND_bytes(out->nonce, 32);
        memcpy(round.nonce, out->nonce, 32);
        round.pcrs = req->pcrs;
        round.ima_offset = req->ima_offset;
        round.boot_log = req->boot_log;
        out->guest = bench_guest_evidence(b, vm, &round, &attest, error);
        if (out->guest == NULL)
                return FALSE;
        RAND_bytes(leaves, batch * 32);
        vtc_merkle_binding(g_bytes_get_data(attest, NULL),
                           g_bytes_get_size(attest),
                           out->nonce,
                           32,
                           binding);
        vtc_merkle_leaf_hash(vm->uuid_bytes, binding, leaves + index * 32);
        tree = vtc_merkle_tree_new(leaves, batch, error);
        if (tree == NULL)
                return FALSE;
        h->clock++;
        host_attest = bench_quote(h->ak,
                                  &h->ak_name,
                                  h->clock,
                                  vtc_merkle_tree_get_root(tree),
                                  BENCH_HOST_PCR_MASK,
                                  h->pcrs,
                                  &attest_b64,
                                  &sig_b64,
                                  error);
        if (host_attest == NULL)
                return FALSE;
        out->host = bench_host_answer(h,
                                      vm->uuid,
                                      attest_b64,
                                      sig_b64,
                                      tree,
                                      index,
                                      req->host_vtpm,
                                      req->host_ima,
                                      error);
        if (out->host == NULL)
                return FALSE;
        out->guest_obj = vtc_json_parse_object(out->guest, strlen(out->guest), &limits, error);
        out->host_obj = out->guest_obj != NULL
                            ? vtc_json_parse_object(out->host, strlen(out->host), &limits, error)
                            : NULL;
        return out->host_obj != NULL;
}

static gboolean
bench_micro(Bench *b, guint rounds, guint reps, guint batch, gdouble seconds, GError **error)
{
        g_autoptr(VtcVerifierPolicy) policy = NULL;
        g_autoptr(VtcVerifierPolicy) host_policy = NULL;
        g_autoptr(VtcVerifierHost) host = NULL;
        g_autoptr(VtcVerifierVm) scratch = NULL;
        g_autofree BenchPrebuilt *pre = g_new0(BenchPrebuilt, rounds);
        g_autoptr(EVP_PKEY_CTX) vctx = NULL;
        SimVm *vm;
        SimHost *h;
        gsize len = 0;
        guchar *raw;
        gdouble t0, t_check = 0, t_parse = 0, t_verify;
        guint n_verify = 0;
        guint trusted = 0;
        guint8 digest[32];
        guint8 sig[80];
        size_t sig_len = sizeof(sig);
        gdouble check_rate, parse_rate, limit;
        gboolean ok = TRUE;

        b->vms_per_host = 1;
        if (!bench_fleet_make(b, 1, error))
                return FALSE;
        vm = g_ptr_array_index(b->vms, 0);
        h = vm->host;
        raw = g_base64_decode(h->ak_public_b64, &len);
        host = vtc_verifier_host_new(h->id, raw, len, error);
        g_free(raw);
        if (host == NULL || !bench_policies(b, &policy, &host_policy, error))
                return FALSE;
        scratch = bench_check_vm_new(b, vm, policy, host_policy, host, error);
        if (scratch == NULL)
                return FALSE;
        /* the rounds, in the order the verifier asks for them */
        for (guint i = 0; ok && i < rounds; i++) {
                VtcVerifierRequest req;
                g_auto(VtcVerifierVerdict) verdict = {0};

                vtc_verifier_vm_get_request(scratch, &req);
                if (!bench_prebuild(b, vm, &req, batch, &pre[i], error) ||
                    !vtc_verifier_check_round(scratch,
                                              pre[i].nonce,
                                              pre[i].guest_obj,
                                              pre[i].host_obj,
                                              TRUE,
                                              &verdict,
                                              error)) {
                        ok = FALSE;
                        break;
                }
                if (verdict.result != VTC_VERIFIER_RESULT_TRUSTED) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "prebuilt round %u is %s: %s: %s",
                                    i,
                                    vtc_verifier_result_to_string(verdict.result),
                                    vtc_verifier_reason_to_string(verdict.reason),
                                    verdict.message);
                        ok = FALSE;
                }
        }
        for (guint rep = 0; ok && rep < reps; rep++) {
                g_autoptr(VtcVerifierVm) cvm =
                    bench_check_vm_new(b, vm, policy, host_policy, host, error);

                if (cvm == NULL) {
                        ok = FALSE;
                        break;
                }
                t0 = bench_now();
                for (guint i = 0; i < rounds; i++) {
                        g_auto(VtcVerifierVerdict) verdict = {0};

                        if (!vtc_verifier_check_round(cvm,
                                                      pre[i].nonce,
                                                      pre[i].guest_obj,
                                                      pre[i].host_obj,
                                                      TRUE,
                                                      &verdict,
                                                      error)) {
                                ok = FALSE;
                                break;
                        }
                        if (verdict.result == VTC_VERIFIER_RESULT_TRUSTED)
                                trusted++;
                }
                t_check += bench_now() - t0;
        }
        /* the same with the JSON parsing the daemon does before the check */
        for (guint rep = 0; ok && rep < reps; rep++) {
                g_autoptr(VtcVerifierVm) cvm =
                    bench_check_vm_new(b, vm, policy, host_policy, host, error);
                VtcJsonLimits limits = {64 * 1024 * 1024, 16, 64 * 1024 * 1024, 100000};

                if (cvm == NULL) {
                        ok = FALSE;
                        break;
                }
                t0 = bench_now();
                for (guint i = 0; i < rounds; i++) {
                        g_auto(VtcVerifierVerdict) verdict = {0};
                        g_autoptr(JsonObject) go = vtc_json_parse_object(pre[i].guest,
                                                                         strlen(pre[i].guest),
                                                                         &limits,
                                                                         NULL);
                        g_autoptr(JsonObject) ho =
                            vtc_json_parse_object(pre[i].host, strlen(pre[i].host), &limits, NULL);

                        if (go == NULL || ho == NULL ||
                            !vtc_verifier_check_round(cvm,
                                                      pre[i].nonce,
                                                      go,
                                                      ho,
                                                      TRUE,
                                                      &verdict,
                                                      error)) {
                                ok = FALSE;
                                break;
                        }
                }
                t_parse += bench_now() - t0;
        }
        /* the raw OpenSSL cost it cannot avoid: ECDSA P-256 verification of a SHA-256 digest */
        if (ok) {
                g_autoptr(EVP_PKEY_CTX) sctx = EVP_PKEY_CTX_new(vm->ak, NULL);

                RAND_bytes(digest, sizeof(digest));
                vctx = EVP_PKEY_CTX_new(vm->ak, NULL);
                if (sctx == NULL || vctx == NULL || EVP_PKEY_sign_init(sctx) != 1 ||
                    EVP_PKEY_sign(sctx, sig, &sig_len, digest, sizeof(digest)) != 1 ||
                    EVP_PKEY_verify_init(vctx) != 1) {
                        vtc_ossl_set_error(error, VTC_ERROR_FAILED, "ECDSA set-up");
                        ok = FALSE;
                }
        }
        if (ok) {
                t0 = bench_now();
                for (n_verify = 0; n_verify < 200 || bench_now() - t0 < seconds; n_verify++) {
                        if (EVP_PKEY_verify(vctx, sig, sig_len, digest, sizeof(digest)) != 1) {
                                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "ECDSA verify");
                                ok = FALSE;
                                break;
                        }
                }
                t_verify = (bench_now() - t0) / n_verify;
        }
        if (ok && trusted != rounds * reps) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "only %u of %u prebuilt rounds were trusted",
                            trusted,
                            rounds * reps);
                ok = FALSE;
        }
        if (ok) {
                check_rate = rounds * reps / t_check;
                parse_rate = rounds * reps / t_parse;
                limit = 1.0 / (2.0 * t_verify);
                printf(
                    "{\"bench\":\"verifier_check_round\",\"value\":%.1f,\"unit\":\"rounds/s/core\","
                    "\"limit\":%.1f,\"ratio\":%.3f,\"us_per_round\":%.1f,\"us_per_ecdsa_verify\":%.1f,"
                    "\"rounds\":%u,\"batch\":%u}\n",
                    check_rate,
                    limit,
                    check_rate / limit,
                    1e6 / check_rate,
                    1e6 * t_verify,
                    rounds * reps,
                    batch);
                printf("{\"bench\":\"verifier_check_round_with_json\",\"value\":%.1f,\"unit\":"
                       "\"rounds/s/core\",\"limit\":%.1f,\"ratio\":%.3f,\"us_per_round\":%.1f}\n",
                       parse_rate,
                       limit,
                       parse_rate / limit,
                       1e6 / parse_rate);
                printf(
                    "\nmicro: vtc_verifier_check_round() on prebuilt rounds: %.0f rounds/s per core "
                    "(%.1f us); with JSON parsing %.0f/s (%.1f us);\n"
                    "       2 x ECDSA-P256 verify (OpenSSL, raw) = %.1f us -> limit %.0f rounds/s; "
                    "ratio %.0f%% (target >= 50%%)\n\n",
                    check_rate,
                    1e6 / check_rate,
                    parse_rate,
                    1e6 / parse_rate,
                    2e6 * t_verify,
                    limit,
                    100.0 * check_rate / limit);
                fflush(stdout);
        }
        for (guint i = 0; i < rounds; i++)
                bench_prebuilt_clear(&pre[i]);
        g_clear_pointer(&b->vm_by_uuid, g_hash_table_unref);
        g_clear_pointer(&b->host_by_id, g_hash_table_unref);
        g_clear_pointer(&b->vms, g_ptr_array_unref);
        g_clear_pointer(&b->hosts, g_ptr_array_unref);
        return ok;
}

/* ---- main --------------------------------------------------------------------------------- */

static gchar *
bench_find_verifier(void)
{
        const gchar *env = g_getenv("VTC_VERIFIER");

        if (env != NULL && env[0] != '\0')
                return g_strdup(env);
        return g_strdup(VTC_BENCH_VERIFIER_PATH);
}

static gboolean
bench_setup(Bench *b, const gchar *parent, GError **error)
{
        g_autofree gchar *tmpl = g_build_filename(parent, "vtc-bench-verifier-XXXXXX", NULL);
        const gchar *sans[] = {"IP:127.0.0.1", NULL};

        b->dir = g_mkdtemp(g_strdup(tmpl));
        if (b->dir == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "cannot make a directory in %s",
                            parent);
                return FALSE;
        }
        b->tls_dir = g_build_filename(b->dir, "tls", NULL);
        b->ca_file = g_build_filename(b->tls_dir, "ca.crt", NULL);
        return vtc_ca_init(b->tls_dir, "vtc bench deployment CA", 2, error) &&
               vtc_ca_issue(b->tls_dir, "verifier", sans, 2, error) &&
               vtc_ca_issue(b->tls_dir, "simulator", sans, 2, error) &&
               vtc_ca_issue(b->tls_dir, "tenant", sans, 2, error) &&
               bench_fleet_init(&b->fleet, error);
}

static void
bench_free(Bench *b)
{
        bench_sim_stop(b);
        bench_fleet_clear(&b->fleet);
        if (b->dir != NULL) {
                g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", b->dir);
                if (system(cmd) != 0)
                        g_printerr("could not remove %s\n", b->dir);
        }
        g_free(b->dir);
        g_free(b->tls_dir);
        g_free(b->ca_file);
        g_free(b->verifier_path);
        g_mutex_clear(&b->lock);
}

int
main(int argc, char **argv)
{
        g_autofree gchar *sizes_arg = NULL;
        g_autofree gchar *dir = NULL;
        gdouble seconds = 30.0;
        gdouble warmup = 0.0;
        gint interval_ms = 2000;
        gint window_ms = 20;
        gint vms_per_host = 100;
        gint ima_per_round = 3;
        gint threads = 2;
        gint sample = 200;
        gint micro_rounds = 1000;
        gboolean quick = FALSE;
        gboolean no_micro = FALSE;
        gboolean micro_only = FALSE;
        GOptionEntry entries[] = {
            {"sizes",
             'n',
             0,
             G_OPTION_ARG_STRING,
             &sizes_arg,
             "Comma-separated numbers of VMs (default 100,1000,10000)",
             "N,..."},
            {"seconds",
             's',
             0,
             G_OPTION_ARG_DOUBLE,
             &seconds,
             "Measured period per N, after the warm-up (default 30)",
             "S"},
            {"warmup",
             'w',
             0,
             G_OPTION_ARG_DOUBLE,
             &warmup,
             "Longest warm-up: until every VM is trusted (default 20 + N/250 s)",
             "S"},
            {"interval-ms",
             'i',
             0,
             G_OPTION_ARG_INT,
             &interval_ms,
             "The verifier's [rounds] interval_ms (default 2000)",
             "MS"},
            {"window-ms",
             0,
             0,
             G_OPTION_ARG_INT,
             &window_ms,
             "The simulated hostds' batch window (default 20)",
             "MS"},
            {"vms-per-host",
             0,
             0,
             G_OPTION_ARG_INT,
             &vms_per_host,
             "VMs per simulated host (default 100)",
             "K"},
            {"ima-per-round",
             0,
             0,
             G_OPTION_ARG_INT,
             &ima_per_round,
             "New IMA entries per guest and round (default 3)",
             "E"},
            {"sim-threads",
             't',
             0,
             G_OPTION_ARG_INT,
             &threads,
             "Simulator threads, each with its own main loop (default 2)",
             "T"},
            {"sample",
             0,
             0,
             G_OPTION_ARG_INT,
             &sample,
             "VMs read one by one for the exact freshness (default 200)",
             "K"},
            {"micro-rounds",
             0,
             0,
             G_OPTION_ARG_INT,
             &micro_rounds,
             "Prebuilt rounds of the in-process figure (default 1000)",
             "R"},
            {"no-micro", 0, 0, G_OPTION_ARG_NONE, &no_micro, "Skip the in-process figure", NULL},
            {"micro-only",
             0,
             0,
             G_OPTION_ARG_NONE,
             &micro_only,
             "Only the in-process figure",
             NULL},
            {"quick",
             'q',
             0,
             G_OPTION_ARG_NONE,
             &quick,
             "A small run: N=50, 10 s measured, 200 prebuilt rounds",
             NULL},
            {"dir",
             'd',
             0,
             G_OPTION_ARG_FILENAME,
             &dir,
             "Where the verifier's database goes (default $TMPDIR)",
             "DIR"},
            {NULL}};
        g_autoptr(GOptionContext) ctx =
            g_option_context_new("- how many VMs one vtc-verifier keeps");
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) sizes = NULL;
        g_autofree BenchResult *results = NULL;
        guint n_sizes;
        Bench b = {0};
        gboolean ok = TRUE;
        gdouble load[3] = {0};

        setlocale(LC_ALL, "C");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Starts the real vtc-verifier ($VTC_VERIFIER, else the one built beside this bench)\n"
            "against simulated agents, hostds and registrar in this process (software ECC P-256\n"
            "AKs, quotes signed on demand, real HTTPS with mutual TLS), adds N VMs through its\n"
            "REST API, lets it run at its interval, and reports rounds/s achieved against N /\n"
            "interval, the fraction of VMs with a fresh trusted verdict, the verifier's CPU per\n"
            "verdict and its resident memory per watched VM, and any false verdict (there must be\n"
            "none). First, an in-process figure: vtc_verifier_check_round() on prebuilt rounds\n"
            "against the raw cost of its two ECDSA P-256 verifications (target >= 50%).\n"
            "The simulator shares the cores with the verifier; the verifier's CPU is read from\n"
            "/proc/PID/stat, its memory from /proc/PID/status.");
        g_option_context_set_description(
            ctx,
            "Output: one JSON line per figure on stdout, then a table; "
            "progress on stderr.\n"
            "Exit status: 0 when it ran (whatever the figures), 1 "
            "when it could not run, 2 on bad usage.\n\n"
            "Examples:\n"
            "  vtc-bench-verifier --quick\n"
            "  vtc-bench-verifier --sizes 100,1000,10000 --seconds 30\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                g_printerr("vtc-bench-verifier: %s\n", error->message);
                return 2;
        }
        if (interval_ms < 10 || window_ms < 1 || vms_per_host < 1 || ima_per_round < 0 ||
            threads < 1 || threads > 64 || seconds <= 0 || sample < 0 || micro_rounds < 2) {
                g_printerr("vtc-bench-verifier: an option is out of range\n");
                return 2;
        }
        if (quick) {
                if (sizes_arg == NULL)
                        sizes_arg = g_strdup("50");
                seconds = MIN(seconds, 10.0);
                micro_rounds = MIN(micro_rounds, 200);
        }
        sizes = g_strsplit(sizes_arg != NULL ? sizes_arg : "100,1000,10000", ",", -1);
        n_sizes = g_strv_length(sizes);
        for (guint i = 0; i < n_sizes; i++) {
                if (!g_ascii_string_to_unsigned(sizes[i], 10, 1, 1000000, NULL, NULL)) {
                        g_printerr("vtc-bench-verifier: bad size '%s' (1 to 1000000)\n", sizes[i]);
                        return 2;
                }
        }
        g_setenv("TSS2_LOG", "all+none", FALSE);
        g_mutex_init(&b.lock);
        b.verifier_path = bench_find_verifier();
        b.interval_ms = (guint)interval_ms;
        b.window_ms = (guint)window_ms;
        b.ima_per_round = (guint)ima_per_round;
        b.n_threads = (guint)threads;
        b.t0_us = g_get_monotonic_time();
        if (getloadavg(load, 3) == 3)
                printf("{\"bench\":\"verifier_env\",\"loadavg\":[%.2f,%.2f,%.2f],\"cpus\":%u,"
                       "\"verifier\":\"%s\"}\n",
                       load[0],
                       load[1],
                       load[2],
                       g_get_num_processors(),
                       b.verifier_path);
        fflush(stdout);
        if (!bench_setup(&b, dir != NULL ? dir : g_get_tmp_dir(), &error)) {
                g_printerr("vtc-bench-verifier: setting up: %s\n", error->message);
                bench_free(&b);
                return 1;
        }
        if (!no_micro) {
                if (!bench_micro(&b, (guint)micro_rounds, 5, 64, 1.0, &error)) {
                        g_printerr("vtc-bench-verifier: in-process figure: %s\n", error->message);
                        g_clear_error(&error);
                        ok = FALSE;
                }
        }
        b.vms_per_host = (guint)vms_per_host;
        results = g_new0(BenchResult, n_sizes);
        for (guint i = 0; !micro_only && i < n_sizes; i++) {
                guint n = (guint)g_ascii_strtoull(sizes[i], NULL, 10);
                gdouble wmax = warmup > 0 ? warmup : 20.0 + n / 250.0;

                if (!bench_run(&b, n, seconds, wmax, (guint)sample, &results[i], &error)) {
                        g_printerr("vtc-bench-verifier: N=%u: %s\n", n, error->message);
                        g_clear_error(&error);
                        results[i].n = n;
                        ok = FALSE;
                        continue;
                }
                bench_print_result(&results[i]);
        }
        if (!micro_only)
                bench_print_table(results, n_sizes, b.interval_ms);
        bench_free(&b);
        return ok ? 0 : 1;
}
