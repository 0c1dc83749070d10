/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chain check on real TPM data: one swtpm stands in for the host's hardware TPM (host AK,
 * batched host quotes over a Merkle root, the vTPM log extended into its PCR 23 by hostd's own
 * log writer), a second swtpm is the VM's vTPM (guest AK, quotes bound to the nonce and TLS key,
 * a real firmware event log and a generated ima-ng log extended into its PCRs).
 */
#include <string.h>

#include "vtc-error.h"
#include "vtc-eventlog.h"
#include "vtc-ima.h"
#include "vtc-json.h"
#include "vtc-merkle.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-tpm.h"
#include "vtc-util.h"
#include "vtc-verifier-check.h"
#include "vtc-vtpm-log.h"

#define HOST_AK_HANDLE  0x81000101
#define GUEST_AK_HANDLE 0x81000102

typedef struct {
        gchar *tmpdir;
        VtcSwtpm *host_swtpm;
        VtcTpm *host_tpm;
        ESYS_TR host_ak;
        GBytes *host_ak_pub;
        VtcSwtpm *guest_swtpm;
        VtcTpm *guest_tpm;
        ESYS_TR guest_ak;
        GBytes *guest_ak_pub;
        VtcVtpmLog *vtpm_log;
        GByteArray *ima;      /* the guest's binary IMA log */
        GByteArray *host_ima; /* the host's, sent when not empty */
        guint n_ima;          /* entries in it */
        GBytes *boot_log;     /* the guest's firmware event log (replayed into PCRs 0-9) */
        gchar *policy_json;   /* runtime policy allowing every generated file */
        GString *policy_digests;
        guint8 tls_key_sha256[32];
        VtcVerifierHost *host;
} Fixture;

static Fixture *fx;

/* ---- the world ------------------------------------------------------------------------ */

static gboolean
extend_host_pcr_cb(const guint8 *digest, gsize len, gpointer user_data, GError **error)
{
        return vtc_tpm_pcr_extend(fx->host_tpm,
                                  VTC_VTPM_LOG_PCR_DEFAULT,
                                  TPM2_ALG_SHA256,
                                  digest,
                                  len,
                                  error);
}

static void
open_guest_tpm(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *dir = g_build_filename(fx->tmpdir, "vtpm", NULL);
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub;

        fx->guest_swtpm = vtc_swtpm_new(dir, &error);
        g_assert_no_error(error);
        fx->guest_tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(fx->guest_swtpm), &error);
        g_assert_no_error(error);
        vtc_tpm_template_ak(VTC_TPM_KEY_ECC_P256, &tmpl);
        g_assert_true(
            vtc_tpm_key_ensure(fx->guest_tpm, GUEST_AK_HANDLE, &tmpl, &fx->guest_ak, &pub, &error));
        g_assert_no_error(error);
        g_clear_pointer(&fx->guest_ak_pub, g_bytes_unref);
        fx->guest_ak_pub = vtc_tpm_public_marshal(&pub);
}

/* Appends one ima-ng entry (sha256 file digest) to @log and extends PCR 10 (sha256 bank). */
static void
ima_add_to(GByteArray *log,
           VtcTpm *tpm,
           const gchar *path,
           const guint8 digest[32],
           gboolean extend)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GByteArray) td = g_byte_array_new();
        guint32 len;
        guint8 sha1[20];
        guint8 sha256[32];
        gsize size;
        g_autoptr(GChecksum) c1 = g_checksum_new(G_CHECKSUM_SHA1);
        g_autoptr(GChecksum) c2 = g_checksum_new(G_CHECKSUM_SHA256);

        len = GUINT32_TO_LE(7 + 1 + 32);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)"sha256:", 8); /* with its NUL */
        g_byte_array_append(td, digest, 32);
        len = GUINT32_TO_LE((guint32)strlen(path) + 1);
        g_byte_array_append(td, (const guint8 *)&len, 4);
        g_byte_array_append(td, (const guint8 *)path, (guint)strlen(path) + 1);
        g_checksum_update(c1, td->data, td->len);
        size = 20;
        g_checksum_get_digest(c1, sha1, &size);
        g_checksum_update(c2, td->data, td->len);
        size = 32;
        g_checksum_get_digest(c2, sha256, &size);

        len = GUINT32_TO_LE(10);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, sha1, 20);
        len = GUINT32_TO_LE(6);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, (const guint8 *)"ima-ng", 6);
        len = GUINT32_TO_LE(td->len);
        g_byte_array_append(log, (const guint8 *)&len, 4);
        g_byte_array_append(log, td->data, td->len);
        if (extend) {
                g_assert_true(vtc_tpm_pcr_extend(tpm, 10, TPM2_ALG_SHA256, sha256, 32, &error));
                g_assert_no_error(error);
        }
}

static void
ima_add(const gchar *path, const guint8 digest[32], gboolean extend)
{
        ima_add_to(fx->ima, fx->guest_tpm, path, digest, extend);
        fx->n_ima++;
}

/* A file the policy allows, measured by IMA in the guest. */
static void
ima_run_file(void)
{
        g_autofree gchar *path = g_strdup_printf("/usr/bin/tool-%u", fx->n_ima);
        g_autofree gchar *hex = NULL;
        guint8 digest[32];

        for (guint i = 0; i < 32; i++)
                digest[i] = (guint8)g_random_int();
        hex = vtc_hex_encode(digest, 32);
        g_string_append_printf(fx->policy_digests, ",\"%s\":[\"%s\"]", path, hex);
        ima_add(path, digest, TRUE);
}

static VtcRuntimePolicy *
runtime_policy_new(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *json = g_strdup_printf(
            "{\"meta\":{\"version\":1},\"release\":0,\"digests\":{%s},\"excludes\":[],"
            "\"keyrings\":{},\"ima\":{\"ignored_keyrings\":[],\"log_hash_alg\":\"sha1\","
            "\"dm_policy\":null},\"ima-buf\":{},\"verification-keys\":\"\"}",
            fx->policy_digests->str + 1);
        VtcRuntimePolicy *p = vtc_runtime_policy_new_from_json(json, strlen(json), &error);

        g_assert_no_error(error);
        return p;
}

/* The guest boots: a real firmware event log into PCRs 0-9, then IMA's boot_aggregate. */
static void
guest_boot(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) ev = vtc_eventlog_new_from_data(g_bytes_get_data(fx->boot_log, NULL),
                                                               g_bytes_get_size(fx->boot_log),
                                                               &error);
        g_autoptr(VtcPcrValues) pcrs = NULL;
        TPML_PCR_SELECTION sel;
        guint8 values[10 * 32];
        guint8 aggregate[32];

        g_assert_no_error(error);
        g_assert_false(ev->has_startup_locality);
        g_assert_false(ev->has_hcrtm);
        for (guint i = 0; i < ev->events->len; i++) {
                const VtcEventlogEvent *e = g_ptr_array_index(ev->events, i);
                const VtcEventlogDigest *d = vtc_eventlog_event_get_digest(e, TPM2_ALG_SHA256);

                if (!e->extended || e->pcr >= 10 || d == NULL)
                        continue;
                g_assert_true(vtc_tpm_pcr_extend(fx->guest_tpm,
                                                 e->pcr,
                                                 TPM2_ALG_SHA256,
                                                 d->value,
                                                 d->size,
                                                 &error));
                g_assert_no_error(error);
        }
        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0x3ff);
        pcrs = vtc_tpm_pcr_read(fx->guest_tpm, &sel, &error);
        g_assert_no_error(error);
        for (guint i = 0; i < 10; i++) {
                gsize len = 0;
                const guint8 *v = vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, i, &len);

                g_assert_nonnull(v);
                g_assert_true(vtc_eventlog_check_pcr(ev, TPM2_ALG_SHA256, i, v, len, &error));
                g_assert_no_error(error);
                memcpy(values + i * 32, v, 32);
        }
        g_assert_true(vtc_ima_boot_aggregate_compute(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                                     values,
                                                     10,
                                                     aggregate,
                                                     &error));
        g_assert_no_error(error);
        fx->ima->len = 0;
        fx->n_ima = 0;
        ima_add("boot_aggregate", aggregate, TRUE);
        for (guint i = 0; i < 5; i++)
                ima_run_file();
}

static void
fixture_setup(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *host_dir = NULL;
        g_autofree gchar *log_path = NULL;
        g_autofree gchar *boot_path = NULL;
        g_autoptr(VtcVtpmLogEntry) e = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub;

        fx = g_new0(Fixture, 1);
        fx->tmpdir = vtc_test_tmpdir_new();
        host_dir = g_build_filename(fx->tmpdir, "host", NULL);
        fx->host_swtpm = vtc_swtpm_new(host_dir, &error);
        g_assert_no_error(error);
        fx->host_tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(fx->host_swtpm), &error);
        g_assert_no_error(error);
        vtc_tpm_template_ak(VTC_TPM_KEY_RSA2048, &tmpl);
        g_assert_true(
            vtc_tpm_key_ensure(fx->host_tpm, HOST_AK_HANDLE, &tmpl, &fx->host_ak, &pub, &error));
        g_assert_no_error(error);
        fx->host_ak_pub = vtc_tpm_public_marshal(&pub);
        fx->host = vtc_verifier_host_new("host-17",
                                         g_bytes_get_data(fx->host_ak_pub, NULL),
                                         g_bytes_get_size(fx->host_ak_pub),
                                         &error);
        g_assert_no_error(error);

        log_path = g_build_filename(fx->tmpdir, "vtpm.log", NULL);
        fx->vtpm_log = vtc_vtpm_log_open(log_path, &error);
        g_assert_no_error(error);
        e = vtc_vtpm_log_append_hostd_start(fx->vtpm_log,
                                            1795000000,
                                            "host-17",
                                            extend_host_pcr_cb,
                                            NULL,
                                            &error);
        g_assert_no_error(error);

        open_guest_tpm();
        for (guint i = 0; i < 32; i++)
                fx->tls_key_sha256[i] = (guint8)(0xa0 + i);
        boot_path = vtc_test_data_path("eventlog/keylime/binary_bios_measurements-secureboot");
        fx->boot_log = vtc_file_read(boot_path, VTC_EVENTLOG_MAX_LOG_SIZE, &error);
        g_assert_no_error(error);
        fx->ima = g_byte_array_new();
        fx->host_ima = g_byte_array_new();
        fx->policy_digests = g_string_new("");
        guest_boot();
}

static void
fixture_teardown(void)
{
        g_bytes_unref(fx->host_ak_pub);
        g_bytes_unref(fx->guest_ak_pub);
        vtc_verifier_host_unref(fx->host);
        vtc_vtpm_log_free(fx->vtpm_log);
        vtc_tpm_free(fx->host_tpm);
        vtc_swtpm_free(fx->host_swtpm);
        vtc_tpm_free(fx->guest_tpm);
        vtc_swtpm_free(fx->guest_swtpm);
        g_byte_array_unref(fx->ima);
        g_byte_array_unref(fx->host_ima);
        g_bytes_unref(fx->boot_log);
        g_string_free(fx->policy_digests, TRUE);
        vtc_test_tmpdir_free(fx->tmpdir);
        g_free(fx);
}

/* ---- one VM under test -------------------------------------------------------------------- */

typedef struct {
        gchar *uuid;
        guint8 ek[32];
        VtcVerifierVm *vm;
} TestVm;

static void
vtpm_start(const gchar *uuid, const guint8 ek[32])
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_start(fx->vtpm_log,
                                                                      1795000100,
                                                                      uuid,
                                                                      "guest",
                                                                      ek,
                                                                      extend_host_pcr_cb,
                                                                      NULL,
                                                                      &error);

        g_assert_no_error(error);
        g_assert_nonnull(e);
}

static void
vtpm_stop(const gchar *uuid)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_stop(fx->vtpm_log,
                                                                     1795000200,
                                                                     uuid,
                                                                     "guest",
                                                                     extend_host_pcr_cb,
                                                                     NULL,
                                                                     &error);

        g_assert_no_error(error);
        g_assert_nonnull(e);
}

static TestVm *
test_vm_new_full(gboolean start, gboolean with_policy)
{
        g_autoptr(GError) error = NULL;
        TestVm *tv = g_new0(TestVm, 1);

        tv->uuid = g_uuid_string_random();
        for (guint i = 0; i < 32; i++)
                tv->ek[i] = (guint8)g_random_int();
        if (start)
                vtpm_start(tv->uuid, tv->ek);
        tv->vm = vtc_verifier_vm_new(tv->uuid,
                                     g_bytes_get_data(fx->guest_ak_pub, NULL),
                                     g_bytes_get_size(fx->guest_ak_pub),
                                     tv->ek,
                                     fx->tls_key_sha256,
                                     fx->host,
                                     &error);
        g_assert_no_error(error);
        if (with_policy) {
                g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();

                vtc_verifier_policy_set_runtime(p, runtime_policy_new());
                vtc_verifier_policy_set_secure_boot(p, TRUE);
                vtc_verifier_vm_set_policy(tv->vm, p);
        }
        return tv;
}

static TestVm *
test_vm_new(void)
{
        return test_vm_new_full(TRUE, TRUE);
}

static void
test_vm_free(TestVm *tv)
{
        vtc_verifier_vm_free(tv->vm);
        g_free(tv->uuid);
        g_free(tv);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestVm, test_vm_free)

/* ---- building a round's evidence exactly as the agent and hostd do -------------------------- */

typedef struct {
        guint8 nonce[32];
        JsonObject *guest;
        JsonObject *host;
        guint n_leaves; /* batch size (default 5) */
} Round;

static void
round_clear(Round *r)
{
        g_clear_pointer(&r->guest, json_object_unref);
        g_clear_pointer(&r->host, json_object_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Round, round_clear)

static void
add_hex(JsonBuilder *b, const gchar *member, const guint8 *data, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(data, len);

        if (member != NULL)
                json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, hex);
}

static void
add_pcrs(JsonBuilder *b, const VtcPcrValues *pcrs)
{
        json_builder_set_member_name(b, "pcrs");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "sha256");
        json_builder_begin_object(b);
        for (guint i = 0; i < 24; i++) {
                gsize len = 0;
                const guint8 *v = vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, i, &len);
                gchar index[4];

                if (v == NULL)
                        continue;
                g_snprintf(index, sizeof(index), "%u", i);
                add_hex(b, index, v, len);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static JsonObject *
builder_to_object(JsonBuilder *b)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *text = vtc_json_builder_to_string(b);
        VtcJsonLimits limits = {64 * 1024 * 1024, 16, 32 * 1024 * 1024, 10000};
        JsonObject *obj = vtc_json_parse_object(text, strlen(text), &limits, &error);

        g_assert_no_error(error);
        return obj;
}

static void
round_make_guest(Round *r, TestVm *tv, const VtcVerifierRequest *req)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        TPML_PCR_SELECTION sel;
        guint8 qualifier[32];

        vtc_channel_quote_qualifier(r->nonce, fx->tls_key_sha256, qualifier);
        g_assert_cmpuint(req->pcrs.n_banks, ==, 1);
        vtc_tpm_selection_init(&sel, req->pcrs.hash_alg[0], req->pcrs.pcr_mask[0]);
        g_assert_true(vtc_tpm_quote(fx->guest_tpm,
                                    fx->guest_ak,
                                    qualifier,
                                    32,
                                    &sel,
                                    &attest,
                                    &sig,
                                    &pcrs,
                                    &error));
        g_assert_no_error(error);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, tv->uuid);
        json_builder_set_member_name(b, "quote");
        json_builder_begin_object(b);
        vtc_json_builder_add_base64(b,
                                    "attest",
                                    g_bytes_get_data(attest, NULL),
                                    g_bytes_get_size(attest));
        vtc_json_builder_add_base64(b,
                                    "signature",
                                    g_bytes_get_data(sig, NULL),
                                    g_bytes_get_size(sig));
        json_builder_end_object(b);
        add_pcrs(b, pcrs);
        json_builder_set_member_name(b, "ima_log");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, (gint64)req->ima_offset);
        if (req->ima_offset > fx->ima->len) {
                /* what the agent says after a reboot */
                json_builder_set_member_name(b, "error");
                json_builder_add_string_value(b, "offset beyond the end of the IMA log");
        } else {
                vtc_json_builder_add_base64(b,
                                            "data",
                                            fx->ima->data + req->ima_offset,
                                            fx->ima->len - req->ima_offset);
                json_builder_set_member_name(b, "more");
                json_builder_add_boolean_value(b, FALSE);
        }
        json_builder_end_object(b);
        if (req->boot_log) {
                json_builder_set_member_name(b, "boot_log");
                json_builder_begin_object(b);
                vtc_json_builder_add_base64(b,
                                            "data",
                                            g_bytes_get_data(fx->boot_log, NULL),
                                            g_bytes_get_size(fx->boot_log));
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
        r->guest = builder_to_object(b);
}

/* hostd's batch: this round's leaf among others, one host quote over the root. */
static void
round_make_host(Round *r, TestVm *tv, const VtcVerifierRequest *req, const guint8 *leaf_uuid)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) g_attest =
            vtc_json_get_base64(vtc_json_get_object(r->guest, "quote", TRUE, NULL),
                                "attest",
                                4096,
                                TRUE,
                                &error);
        guint n = r->n_leaves > 0 ? r->n_leaves : 5;
        guint index = g_random_int_range(0, (gint32)n);
        g_autofree guint8 *leaves = g_malloc(n * 32);
        g_autoptr(VtcMerkleTree) tree = NULL;
        guint8 binding[32];
        guint8 uuid[16];
        guint8 proof[VTC_MERKLE_MAX_PROOF * 32];
        gsize n_proof = 0;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sig = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_autoptr(GBytes) vlog = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        TPML_PCR_SELECTION sel;
        guint64 count;

        g_assert_no_error(error);
        for (guint i = 0; i < n * 32; i++)
                leaves[i] = (guint8)g_random_int();
        if (leaf_uuid != NULL) {
                memcpy(uuid, leaf_uuid, 16);
        } else {
                /* the VM's uuid as bytes */
                for (guint i = 0, j = 0; i < 16; j++) {
                        if (tv->uuid[j] == '-')
                                continue;
                        uuid[i] = (guint8)(g_ascii_xdigit_value(tv->uuid[j]) << 4 |
                                           g_ascii_xdigit_value(tv->uuid[j + 1]));
                        i++;
                        j++;
                }
        }
        vtc_merkle_binding(g_bytes_get_data(g_attest, NULL),
                           g_bytes_get_size(g_attest),
                           r->nonce,
                           32,
                           binding);
        vtc_merkle_leaf_hash(uuid, binding, leaves + index * 32);
        tree = vtc_merkle_tree_new(leaves, n, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_merkle_tree_get_proof(tree, index, proof, &n_proof, &error));
        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 0x7ff | (1u << 23));
        g_assert_true(vtc_tpm_quote(fx->host_tpm,
                                    fx->host_ak,
                                    vtc_merkle_tree_get_root(tree),
                                    32,
                                    &sel,
                                    &attest,
                                    &sig,
                                    &pcrs,
                                    &error));
        g_assert_no_error(error);
        count = vtc_vtpm_log_get_count(fx->vtpm_log);
        vlog = vtc_vtpm_log_get_data(fx->vtpm_log, req->host_vtpm, count, &error);
        g_assert_no_error(error);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vm_uuid");
        json_builder_add_string_value(b, tv->uuid);
        json_builder_set_member_name(b, "quote");
        json_builder_begin_object(b);
        vtc_json_builder_add_base64(b,
                                    "attest",
                                    g_bytes_get_data(attest, NULL),
                                    g_bytes_get_size(attest));
        vtc_json_builder_add_base64(b,
                                    "signature",
                                    g_bytes_get_data(sig, NULL),
                                    g_bytes_get_size(sig));
        json_builder_end_object(b);
        add_pcrs(b, pcrs);
        add_hex(b, "root", vtc_merkle_tree_get_root(tree), 32);
        json_builder_set_member_name(b, "leaf_index");
        json_builder_add_int_value(b, index);
        json_builder_set_member_name(b, "tree_size");
        json_builder_add_int_value(b, n);
        json_builder_set_member_name(b, "proof");
        json_builder_begin_array(b);
        for (gsize i = 0; i < n_proof; i++)
                add_hex(b, NULL, proof + i * 32, 32);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "vm_running");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_set_member_name(b, "vtpm_log");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_int_value(b, (gint64)req->host_vtpm);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, (gint64)(count - req->host_vtpm));
        vtc_json_builder_add_base64(b,
                                    "data",
                                    g_bytes_get_data(vlog, NULL),
                                    g_bytes_get_size(vlog));
        json_builder_set_member_name(b, "more");
        json_builder_add_boolean_value(b, FALSE);
        json_builder_end_object(b);
        if (fx->host_ima->len > 0) {
                json_builder_set_member_name(b, "ima_log");
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "from");
                json_builder_add_int_value(b, (gint64)req->host_ima);
                vtc_json_builder_add_base64(b,
                                            "data",
                                            fx->host_ima->data + req->host_ima,
                                            fx->host_ima->len - req->host_ima);
                json_builder_set_member_name(b, "more");
                json_builder_add_boolean_value(b, FALSE);
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
        r->host = builder_to_object(b);
}

static void
round_make(Round *r, TestVm *tv)
{
        VtcVerifierRequest req;

        for (guint i = 0; i < 32; i++)
                r->nonce[i] = (guint8)g_random_int();
        vtc_verifier_vm_get_request(tv->vm, &req);
        round_make_guest(r, tv, &req);
        round_make_host(r, tv, &req, NULL);
}

static void
check(TestVm *tv, Round *r, VtcVerifierVerdict *v)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(
            vtc_verifier_check_round(tv->vm, r->nonce, r->guest, r->host, TRUE, v, &error));
        g_assert_no_error(error);
}

static void
assert_trusted(TestVm *tv)
{
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};

        round_make(&r, tv);
        check(tv, &r, &v);
        if (v.result != VTC_VERIFIER_RESULT_TRUSTED)
                g_error("expected trusted, got %s %s: %s",
                        vtc_verifier_result_to_string(v.result),
                        vtc_verifier_reason_to_string(v.reason),
                        v.message);
        g_assert_true(v.placement_proven);
        g_assert_true(v.has_evidence_digest);
}

/* Runs @r and asserts it failed with @reason, and that the VM state did not change. */
static void
assert_fails(TestVm *tv, Round *r, VtcVerifierReason reason, const gchar *message_part)
{
        g_auto(VtcVerifierVerdict) v = {0};
        g_autofree gchar *before = vtc_verifier_vm_save_state(tv->vm);
        g_autofree gchar *after = NULL;

        check(tv, r, &v);
        if (v.result != VTC_VERIFIER_RESULT_FAILED || v.reason != reason)
                g_error("expected failed %s, got %s %s: %s",
                        vtc_verifier_reason_to_string(reason),
                        vtc_verifier_result_to_string(v.result),
                        vtc_verifier_reason_to_string(v.reason),
                        v.message);
        g_assert_false(v.placement_proven);
        g_assert_nonnull(v.message);
        if (message_part != NULL && strstr(v.message, message_part) == NULL)
                g_error("message '%s' does not name '%s'", v.message, message_part);
        after = vtc_verifier_vm_save_state(tv->vm);
        g_assert_cmpstr(before, ==, after);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_clean_rounds(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        VtcVerifierRequest req;
        guint64 last_offset = 0;

        for (guint round = 0; round < 6; round++) {
                g_auto(Round) r = {0};
                g_auto(VtcVerifierVerdict) v = {0};

                vtc_verifier_vm_get_request(tv->vm, &req);
                g_assert_cmpuint(req.boot_log, ==, round == 0);
                g_assert_cmpuint(req.ima_offset, >=, last_offset);
                if (round > 0)
                        g_assert_cmpuint(req.ima_offset, >, 0);
                last_offset = req.ima_offset;
                round_make(&r, tv);
                check(tv, &r, &v);
                if (v.result != VTC_VERIFIER_RESULT_TRUSTED)
                        g_error("round %u: %s: %s",
                                round,
                                vtc_verifier_reason_to_string(v.reason),
                                v.message);
                g_assert_cmpstr(vtc_verifier_reason_to_string(v.reason), ==, "none");
                if (round == 0)
                        g_assert_cmpuint(v.guest_ima_entries, ==, fx->n_ima);
                else
                        g_assert_cmpuint(v.guest_ima_entries, ==, round % 2 == 0 ? 0 : 2);
                /* the guest runs more programs; the allowed ones go into the policy */
                if (round % 2 == 0) {
                        ima_run_file();
                        ima_run_file();
                        vtc_verifier_vm_set_policy(tv->vm, NULL);
                        {
                                g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();

                                vtc_verifier_policy_set_runtime(p, runtime_policy_new());
                                vtc_verifier_policy_set_secure_boot(p, TRUE);
                                vtc_verifier_vm_set_policy(tv->vm, p);
                        }
                }
        }
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.ima_offset, ==, fx->ima->len - 0 /* every entry consumed */ - 0);
        g_assert_cmpuint(req.host_vtpm, ==, vtc_vtpm_log_get_count(fx->vtpm_log));
}

/* Entries appended after the quote (the agent reads the log after quoting) wait for the next
 * round: the verifier consumes the prefix that replays to the quoted PCR 10. */
static void
test_ima_after_quote(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        VtcVerifierRequest req;
        guint8 digest[32];
        guint len_before;
        JsonObject *ima;
        g_autofree gchar *b64 = NULL;
        g_autofree gchar *hex = NULL;

        assert_trusted(tv);
        for (guint i = 0; i < 32; i++)
                digest[i] = (guint8)g_random_int();
        for (guint i = 0; i < 32; i++)
                r.nonce[i] = (guint8)g_random_int();
        vtc_verifier_vm_get_request(tv->vm, &req);
        len_before = fx->ima->len;
        round_make_guest(&r, tv, &req);
        /* logged after the quote, extended later */
        ima_add("/usr/bin/late", digest, FALSE);
        ima = vtc_json_get_object(r.guest, "ima_log", TRUE, &error);
        g_assert_no_error(error);
        b64 = g_base64_encode(fx->ima->data + req.ima_offset, fx->ima->len - req.ima_offset);
        json_object_set_string_member(ima, "data", b64);
        round_make_host(&r, tv, &req, NULL);
        check(tv, &r, &v);
        if (v.result != VTC_VERIFIER_RESULT_TRUSTED)
                g_error("%s: %s", vtc_verifier_reason_to_string(v.reason), v.message);
        g_assert_cmpuint(v.guest_ima_entries, ==, 0);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.ima_offset, ==, len_before);

        /* now the kernel extends it: the policy must know it, the next round consumes it */
        {
                g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
                const guint8 *entry = fx->ima->data + len_before;
                guint32 td_len;
                guint8 d[32];
                gsize size = 32;
                g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();
                g_auto(Round) r2 = {0};
                g_auto(VtcVerifierVerdict) v2 = {0};

                memcpy(&td_len, entry + 4 + 20 + 4 + 6, 4);
                td_len = GUINT32_FROM_LE(td_len);
                g_checksum_update(c, entry + 4 + 20 + 4 + 6 + 4, td_len);
                g_checksum_get_digest(c, d, &size);
                g_assert_true(
                    vtc_tpm_pcr_extend(fx->guest_tpm, 10, TPM2_ALG_SHA256, d, 32, &error));
                g_assert_no_error(error);
                hex = vtc_hex_encode(digest, 32);
                g_string_append_printf(fx->policy_digests, ",\"/usr/bin/late\":[\"%s\"]", hex);
                vtc_verifier_policy_set_runtime(p, runtime_policy_new());
                vtc_verifier_policy_set_secure_boot(p, TRUE);
                vtc_verifier_vm_set_policy(tv->vm, p);
                round_make(&r2, tv);
                check(tv, &r2, &v2);
                g_assert_cmpint(v2.result, ==, VTC_VERIFIER_RESULT_TRUSTED);
                g_assert_cmpuint(v2.guest_ima_entries, ==, 1);
        }
}

static void
test_guest_quote_signature(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVerifierVm) other = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub;
        ESYS_TR h;
        g_autoptr(GBytes) pub_bytes = NULL;

        /* the agent's AK swapped after enrollment: the verifier holds another key */
        vtc_tpm_template_ak(VTC_TPM_KEY_RSA2048, &tmpl);
        g_assert_true(vtc_tpm_key_ensure(fx->guest_tpm, 0x81000103, &tmpl, &h, &pub, &error));
        g_assert_no_error(error);
        pub_bytes = vtc_tpm_public_marshal(&pub);
        other = vtc_verifier_vm_new(tv->uuid,
                                    g_bytes_get_data(pub_bytes, NULL),
                                    g_bytes_get_size(pub_bytes),
                                    tv->ek,
                                    fx->tls_key_sha256,
                                    fx->host,
                                    &error);
        g_assert_no_error(error);
        {
                TestVm fake = {.uuid = tv->uuid, .vm = other};

                round_make(&r, &fake);
                assert_fails(&fake, &r, VTC_VERIFIER_REASON_GUEST_QUOTE_SIGNATURE, "guest quote");
        }
}

static void
test_guest_nonce(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};

        assert_trusted(tv);
        round_make(&r, tv);
        r.nonce[0] ^= 1; /* a replayed quote answers another nonce */
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_NONCE, NULL);
}

static void
test_guest_tls_key(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_autoptr(VtcVerifierVm) vm = NULL;
        TestVm other;
        guint8 tls[32] = {0};

        /* a verifier that registered another TLS key (an agent in the middle) */
        vm = vtc_verifier_vm_new(tv->uuid,
                                 g_bytes_get_data(fx->guest_ak_pub, NULL),
                                 g_bytes_get_size(fx->guest_ak_pub),
                                 tv->ek,
                                 tls,
                                 fx->host,
                                 &error);
        g_assert_no_error(error);
        other = (TestVm){.uuid = tv->uuid, .vm = vm};
        round_make(&r, &other);
        assert_fails(&other, &r, VTC_VERIFIER_REASON_GUEST_NONCE, NULL);
}

static void
test_guest_pcr_digest(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        JsonObject *sha256;

        round_make(&r, tv);
        sha256 = vtc_json_get_object(vtc_json_get_object(r.guest, "pcrs", TRUE, &error),
                                     "sha256",
                                     TRUE,
                                     &error);
        g_assert_no_error(error);
        json_object_set_string_member(
            sha256,
            "10",
            "0000000000000000000000000000000000000000000000000000000000000001");
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_PCR_DIGEST, NULL);
}

static void
set_ima_data(Round *r, const guint8 *data, gsize len)
{
        g_autoptr(GError) error = NULL;
        JsonObject *ima = vtc_json_get_object(r->guest, "ima_log", TRUE, &error);
        g_autofree gchar *b64 = g_base64_encode(data, len);

        g_assert_no_error(error);
        json_object_set_string_member(ima, "data", b64);
}

static void
test_guest_ima_replay(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_autoptr(GByteArray) tampered = g_byte_array_new();

        round_make(&r, tv);
        /* an entry removed from the log: it no longer replays to PCR 10 */
        {
                g_autoptr(GError) error = NULL;
                gsize off1 = 0;
                gsize off2 = 0;

                g_assert_true(vtc_ima_log_skip(fx->ima->data,
                                               fx->ima->len,
                                               VTC_IMA_FORMAT_BINARY,
                                               2,
                                               &off1,
                                               &error));
                g_assert_true(vtc_ima_log_skip(fx->ima->data,
                                               fx->ima->len,
                                               VTC_IMA_FORMAT_BINARY,
                                               3,
                                               &off2,
                                               &error));
                g_byte_array_append(tampered, fx->ima->data, (guint)off1);
                g_byte_array_append(tampered, fx->ima->data + off2, (guint)(fx->ima->len - off2));
        }
        set_ima_data(&r, tampered->data, tampered->len);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_IMA_REPLAY, "PCR 10");

        /* a corrupt entry (template hash no longer matches) */
        round_clear(&r);
        round_make(&r, tv);
        g_byte_array_set_size(tampered, 0);
        g_byte_array_append(tampered, fx->ima->data, fx->ima->len);
        tampered->data[tampered->len - 3] ^= 0x55;
        set_ima_data(&r, tampered->data, tampered->len);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_IMA_REPLAY, NULL);
        assert_trusted(tv);
}

static void
test_guest_ima_policy(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        guint8 digest[32];

        assert_trusted(tv);
        /* something the policy does not know runs in the guest (measured and extended) */
        for (guint i = 0; i < 32; i++)
                digest[i] = (guint8)g_random_int();
        ima_add("/tmp/evil", digest, TRUE);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_IMA_POLICY, "/tmp/evil");
        /* from now on every VM created sees it: allow it for the other tests */
        {
                g_autofree gchar *hex = vtc_hex_encode(digest, 32);

                g_string_append_printf(fx->policy_digests, ",\"/tmp/evil\":[\"%s\"]", hex);
        }
}

/* A second boot_aggregate that is not the one of the quoted PCRs 0-9 (it replays to PCR 10 and
 * the runtime policy skips boot_aggregate entries): runs last, it spoils the guest's log. */
static void
test_guest_boot_aggregate(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        guint8 zero[32] = {0};

        assert_trusted(tv);
        ima_add("boot_aggregate", zero, TRUE);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_BOOT_AGGREGATE, "#");
}

static void
test_guest_boot_replay(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_autoptr(GError) error = NULL;
        JsonObject *boot;
        g_autofree gchar *path = vtc_test_data_path("eventlog/keylime/binary_bios_measurements");
        g_autoptr(GBytes) data = vtc_file_read(path, VTC_EVENTLOG_MAX_LOG_SIZE, &error);
        g_autofree gchar *b64 = NULL;

        g_assert_no_error(error);
        /* another machine's boot log */
        round_make(&r, tv);
        boot = vtc_json_get_object(r.guest, "boot_log", TRUE, &error);
        g_assert_no_error(error);
        b64 = g_base64_encode(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        json_object_set_string_member(boot, "data", b64);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY, "PCR");
        /* no boot log although the policy requires one */
        round_clear(&r);
        round_make(&r, tv);
        json_object_remove_member(r.guest, "boot_log");
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY, "required");
        /* garbage */
        round_clear(&r);
        round_make(&r, tv);
        boot = vtc_json_get_object(r.guest, "boot_log", TRUE, &error);
        json_object_set_string_member(boot, "data", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_BOOT_REPLAY, NULL);
        assert_trusted(tv);
}

static void
test_guest_boot_policy(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();
        g_autoptr(JsonObject) obj = NULL;
        g_auto(Round) r = {0};
        const gchar *json = "{\"pcrs\":{\"sha256\":{\"0\":\"00000000000000000000000000000000000000"
                            "00000000000000000000000001\"}},\"require_boot_log\":true}";
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;

        obj = vtc_json_parse_object(json, strlen(json), &limits, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_verifier_policy_set_boot_from_json(p, obj, &error));
        g_assert_no_error(error);
        vtc_verifier_vm_set_policy(tv->vm, p);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_BOOT_POLICY, "sha256:0");

        /* Secure Boot off required, the log says on */
        {
                g_autoptr(VtcVerifierPolicy) p2 = vtc_verifier_policy_new();
                g_auto(Round) r2 = {0};

                vtc_verifier_policy_set_secure_boot(p2, FALSE);
                vtc_verifier_vm_set_policy(tv->vm, p2);
                round_make(&r2, tv);
                assert_fails(tv, &r2, VTC_VERIFIER_REASON_GUEST_BOOT_POLICY, "Secure Boot");
        }
}

static void
test_merkle_proof(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(TestVm) tv2 = test_vm_new();
        g_auto(Round) r = {0};
        VtcVerifierRequest req;
        guint8 other_uuid[16];

        /* a proof for another leaf: the host batch holds another VM's binding for this quote */
        for (guint i = 0; i < 32; i++)
                r.nonce[i] = (guint8)g_random_int();
        vtc_verifier_vm_get_request(tv->vm, &req);
        round_make_guest(&r, tv, &req);
        for (guint i = 0; i < 16; i++)
                other_uuid[i] = (guint8)g_random_int();
        round_make_host(&r, tv, &req, other_uuid);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_MERKLE_PROOF, NULL);

        /* a guest quote relayed from another VM (tv2's evidence, claimed to be tv's) */
        round_clear(&r);
        round_make(&r, tv2);
        json_object_set_string_member(r.guest, "uuid", tv->uuid);
        json_object_set_string_member(r.host, "vm_uuid", tv->uuid);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_MERKLE_PROOF, NULL);
}

static void
test_guest_uuid(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(TestVm) tv2 = test_vm_new();
        g_auto(Round) r = {0};

        round_make(&r, tv2);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_GUEST_UUID, tv2->uuid);
}

static void
test_host_quote_nonce(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};

        round_make(&r, tv);
        /* claims another root than the one quoted */
        json_object_set_string_member(
            r.host,
            "root",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        assert_fails(tv, &r, VTC_VERIFIER_REASON_HOST_QUOTE_NONCE, NULL);
}

static void
test_host_quote_signature(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_autoptr(VtcVerifierHost) other_host = NULL;
        TPM2B_PUBLIC tmpl;
        TPM2B_PUBLIC pub;
        ESYS_TR h;
        g_autoptr(GBytes) pub_bytes = NULL;

        /* the registrar holds another AK for this host (the quote is signed by another host) */
        vtc_tpm_template_ak(VTC_TPM_KEY_ECC_P256, &tmpl);
        g_assert_true(vtc_tpm_key_ensure(fx->guest_tpm, 0x81000104, &tmpl, &h, &pub, &error));
        g_assert_no_error(error);
        pub_bytes = vtc_tpm_public_marshal(&pub);
        other_host = vtc_verifier_host_new("host-17",
                                           g_bytes_get_data(pub_bytes, NULL),
                                           g_bytes_get_size(pub_bytes),
                                           &error);
        g_assert_no_error(error);
        vtc_verifier_vm_set_host(tv->vm, other_host);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_HOST_QUOTE_SIGNATURE, "host-17");
}

static void
test_host_pcr_digest(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        JsonObject *sha256;

        round_make(&r, tv);
        sha256 = vtc_json_get_object(vtc_json_get_object(r.host, "pcrs", TRUE, &error),
                                     "sha256",
                                     TRUE,
                                     &error);
        g_assert_no_error(error);
        json_object_set_string_member(
            sha256,
            "23",
            "0000000000000000000000000000000000000000000000000000000000000001");
        assert_fails(tv, &r, VTC_VERIFIER_REASON_HOST_PCR_DIGEST, NULL);
}

static void
test_host_quote_replay(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r1 = {0};
        g_auto(Round) r2 = {0};
        g_auto(VtcVerifierVerdict) v = {0};

        round_make(&r1, tv);
        check(tv, &r1, &v);
        g_assert_cmpint(v.result, ==, VTC_VERIFIER_RESULT_TRUSTED);
        /* the next round gets a fresh guest quote but the earlier host answer */
        round_make(&r2, tv);
        json_object_unref(r2.host);
        r2.host = json_object_ref(r1.host);
        assert_fails(tv, &r2, VTC_VERIFIER_REASON_HOST_QUOTE_REPLAY, "Merkle root");
}

static void
edit_state(TestVm *tv, const gchar *side, const gchar *member, JsonNode *value)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = vtc_verifier_vm_save_state(tv->vm);
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        g_autoptr(JsonObject) obj = vtc_json_parse_object(state, strlen(state), &limits, &error);
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
        g_autofree gchar *text = NULL;

        g_assert_no_error(error);
        json_object_set_member(json_object_get_object_member(obj, side), member, value);
        json_node_set_object(root, obj);
        text = vtc_json_node_to_string(root);
        g_assert_true(vtc_verifier_vm_load_state(tv->vm, text, &error));
        g_assert_no_error(error);
}

static void
test_clock_regression(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(TestVm) tv2 = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(Round) r2 = {0};

        /* the verifier saw a later guest clock before: this quote is older */
        assert_trusted(tv);
        edit_state(tv,
                   "guest",
                   "clock",
                   json_node_init_string(json_node_alloc(), "ffffffffffffff7f"));
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_CLOCK_REGRESSION, "guest TPM clock");
        /* the same for the host */
        assert_trusted(tv2);
        edit_state(tv2,
                   "host_tpm",
                   "clock",
                   json_node_init_string(json_node_alloc(), "ffffffffffffff7f"));
        round_make(&r2, tv2);
        assert_fails(tv2, &r2, VTC_VERIFIER_REASON_CLOCK_REGRESSION, "host TPM clock");
}

/*
 * Over a reset (another, obfuscated, resetCount) an older clock is no regression: libtpms
 * restarts after a non-orderly stop with the clock it last saved and still says `safe`, as every
 * destroyed VM's vTPM does (the e2e chain test restarts a real one). The guest's logs are then
 * read again from the start.
 */
static void
test_clock_over_reset(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};

        assert_trusted(tv);
        edit_state(tv,
                   "guest",
                   "clock",
                   json_node_init_string(json_node_alloc(), "ffffffffffffff7f"));
        edit_state(tv, "guest", "reset_count", json_node_init_int(json_node_alloc(), 7));
        round_make(&r, tv);
        check(tv, &r, &v);
        g_assert_cmpint(v.result, !=, VTC_VERIFIER_RESULT_FAILED);
}

/* The host's resetCount changed (a reboot): its logs are read again from the start. */
static void
test_host_reboot(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        VtcVerifierRequest req;

        assert_trusted(tv);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.host_vtpm, >, 0);
        edit_state(tv, "host_tpm", "reset_count", json_node_init_int(json_node_alloc(), 7));
        round_make(&r, tv);
        check(tv, &r, &v);
        g_assert_cmpint(v.result, ==, VTC_VERIFIER_RESULT_INCOMPLETE);
        g_assert_cmpint(v.reason, ==, VTC_VERIFIER_REASON_HOST_REBOOT);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.host_vtpm, ==, 0);
        assert_trusted(tv);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.host_vtpm, ==, vtc_vtpm_log_get_count(fx->vtpm_log));
}

/*
 * hostd refused the verifier's vTPM log offset (beyond the end of its log) and the host's
 * resetCount did not change: the log restarted without a reboot (PCR 23 reset from software and
 * the log replaced). The restarted log replays to the reset PCR, and must still be refused;
 * with a reboot in between it is fine.
 */
static void
test_vtpm_log_restart(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        g_autofree gchar *state = NULL;
        VtcVerifierRequest req;

        assert_trusted(tv);
        vtc_verifier_vm_resync_host(tv->vm);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.host_vtpm, ==, 0);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_LOG_REPLAY, "without a host reboot");
        /* the flag survives a verifier restart (saved state) */
        state = vtc_verifier_vm_save_state(tv->vm);
        g_assert_nonnull(strstr(state, "\"vtpm_restart_pending\":true"));
        round_clear(&r);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_LOG_REPLAY, "without a host reboot");
        /* a reboot (another resetCount) explains the restart */
        edit_state(tv, "host_tpm", "reset_count", json_node_init_int(json_node_alloc(), 7));
        round_clear(&r);
        round_make(&r, tv);
        check(tv, &r, &v);
        g_assert_cmpint(v.result, !=, VTC_VERIFIER_RESULT_FAILED);
        assert_trusted(tv);
}

static void
test_vtpm_log_replay(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        JsonObject *vlog;
        g_autoptr(GBytes) data = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *b64 = NULL;
        gchar *p;

        /* a tampered entry: the VM's EK digest rewritten in the log (still canonical) */
        round_make(&r, tv);
        vlog = vtc_json_get_object(r.host, "vtpm_log", TRUE, &error);
        data = vtc_json_get_base64(vlog, "data", 1 << 20, TRUE, &error);
        g_assert_no_error(error);
        text = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        p = strstr(text, "\"ek_sha256\":\"");
        g_assert_nonnull(p);
        p += strlen("\"ek_sha256\":\"");
        *p = *p == 'a' ? 'b' : 'a';
        b64 = g_base64_encode((const guchar *)text, strlen(text));
        json_object_set_string_member(vlog, "data", b64);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_LOG_REPLAY, "PCR 23");
        /* a line dropped */
        round_clear(&r);
        round_make(&r, tv);
        vlog = vtc_json_get_object(r.host, "vtpm_log", TRUE, &error);
        json_object_set_string_member(vlog, "data", "");
        json_object_set_int_member(vlog, "count", 0);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_LOG_REPLAY, NULL);
        assert_trusted(tv);
}

static void
test_vm_not_started(void)
{
        g_autoptr(TestVm) tv = test_vm_new_full(FALSE, TRUE);
        g_auto(Round) r = {0};

        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VM_NOT_STARTED, tv->uuid);
}

static void
test_vm_stopped(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};

        assert_trusted(tv);
        vtpm_stop(tv->uuid);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VM_STOPPED, tv->uuid);
        /* started again: trusted again */
        vtpm_start(tv->uuid, tv->ek);
        assert_trusted(tv);
}

static void
test_vtpm_ek_mismatch(void)
{
        g_autoptr(TestVm) tv = test_vm_new_full(FALSE, TRUE);
        g_auto(Round) r = {0};
        guint8 other[32];

        memcpy(other, tv->ek, 32);
        other[0] ^= 0xff;
        vtpm_start(tv->uuid, other);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_EK_MISMATCH, NULL);
        vtpm_stop(tv->uuid);
}

static gboolean
clone_cb(const guint8 ek_sha256[32],
         const gchar *uuid,
         const gchar *host_id,
         gchar **out_where,
         gpointer user_data)
{
        const guint8 *clone_ek = user_data;

        if (memcmp(ek_sha256, clone_ek, 32) != 0)
                return FALSE;
        *out_where = g_strdup_printf("VM 0000 on host-9 (checked for %s on %s)", uuid, host_id);
        return TRUE;
}

static void
test_vtpm_clone(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(TestVm) tv2 = test_vm_new();
        g_autofree gchar *clone = g_uuid_string_random();
        g_auto(Round) r = {0};
        g_auto(Round) r2 = {0};

        assert_trusted(tv);
        /* the same EK starts as another VM on this host */
        vtpm_start(clone, tv->ek);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_VTPM_CLONE, clone);
        vtpm_stop(clone);
        assert_trusted(tv);
        /* on another host: the daemon's index says so */
        assert_trusted(tv2);
        vtc_verifier_vm_set_clone_func(tv2->vm, clone_cb, tv2->ek);
        round_make(&r2, tv2);
        assert_fails(tv2, &r2, VTC_VERIFIER_REASON_VTPM_CLONE, "host-9");
}

static void
test_host_policy(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_autoptr(VtcVerifierPolicy) hp = vtc_verifier_policy_new();
        g_auto(Round) r = {0};
        guint8 want[32] = {0};

        want[31] = 1;
        g_assert_true(vtc_verifier_policy_set_pcr(hp, TPM2_ALG_SHA256, 7, want, 32, &error));
        vtc_verifier_vm_set_host_policy(tv->vm, hp);
        round_make(&r, tv);
        assert_fails(tv, &r, VTC_VERIFIER_REASON_HOST_POLICY, "sha256:7");
        /* the right value passes */
        {
                g_autoptr(VtcVerifierPolicy) ok = vtc_verifier_policy_new();

                memset(want, 0, sizeof(want));
                g_assert_true(
                    vtc_verifier_policy_set_pcr(ok, TPM2_ALG_SHA256, 7, want, 32, &error));
                vtc_verifier_vm_set_host_policy(tv->vm, ok);
                assert_trusted(tv);
        }
}

static void
test_host_log_replay(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        guint8 digest[32];
        JsonObject *ima;
        g_autoptr(GBytes) data = NULL;
        g_autoptr(GByteArray) tampered = g_byte_array_new();
        g_autofree gchar *b64 = NULL;

        assert_trusted(tv);
        /* the host measures two files: its IMA log replays to its PCR 10 */
        for (guint i = 0; i < 32; i++)
                digest[i] = (guint8)g_random_int();
        ima_add_to(fx->host_ima, fx->host_tpm, "/usr/sbin/vtc-hostd", digest, TRUE);
        ima_add_to(fx->host_ima, fx->host_tpm, "/usr/sbin/libvirtd", digest, TRUE);
        round_make(&r, tv);
        check(tv, &r, &v);
        g_assert_cmpint(v.result, ==, VTC_VERIFIER_RESULT_TRUSTED);
        g_assert_cmpuint(v.host_ima_entries, ==, 2);
        /* a new VM reads the host's log from the start; its copy has the first entry altered */
        {
                g_autoptr(TestVm) tv2 = test_vm_new();
                g_auto(Round) r2 = {0};

                round_make(&r2, tv2);
                ima = vtc_json_get_object(r2.host, "ima_log", TRUE, &error);
                data = vtc_json_get_base64(ima, "data", 1 << 20, TRUE, &error);
                g_assert_no_error(error);
                g_byte_array_append(tampered,
                                    g_bytes_get_data(data, NULL),
                                    (guint)g_bytes_get_size(data));
                /* the path's last byte: template hash check fails; swap the entries instead */
                {
                        gsize off = 0;

                        g_assert_true(vtc_ima_log_skip(tampered->data,
                                                       tampered->len,
                                                       VTC_IMA_FORMAT_BINARY,
                                                       1,
                                                       &off,
                                                       &error));
                        g_byte_array_remove_range(tampered, 0, (guint)off);
                        g_byte_array_append(tampered, g_bytes_get_data(data, NULL), (guint)off);
                }
                b64 = g_base64_encode(tampered->data, tampered->len);
                json_object_set_string_member(ima, "data", b64);
                assert_fails(tv2, &r2, VTC_VERIFIER_REASON_HOST_LOG_REPLAY, "host IMA log");
        }
        /* a boot log required by the host policy and not sent */
        {
                g_autoptr(VtcVerifierPolicy) hp = vtc_verifier_policy_new();
                g_auto(Round) r3 = {0};

                vtc_verifier_policy_set_require_boot_log(hp, TRUE);
                vtc_verifier_vm_set_host_policy(tv->vm, hp);
                round_make(&r3, tv);
                assert_fails(tv,
                             &r3,
                             VTC_VERIFIER_REASON_HOST_LOG_REPLAY,
                             "host firmware event log");
        }
}

static void
test_malformed(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        static const gchar *const guest_members[] = {"quote", "pcrs", "uuid"};
        static const gchar *const host_members[] = {"quote",
                                                    "root",
                                                    "proof",
                                                    "vtpm_log",
                                                    "tree_size"};

        for (guint i = 0; i < G_N_ELEMENTS(guest_members); i++) {
                g_auto(Round) r = {0};

                round_make(&r, tv);
                json_object_remove_member(r.guest, guest_members[i]);
                assert_fails(tv, &r, VTC_VERIFIER_REASON_EVIDENCE_MALFORMED, guest_members[i]);
        }
        for (guint i = 0; i < G_N_ELEMENTS(host_members); i++) {
                g_auto(Round) r = {0};

                round_make(&r, tv);
                json_object_remove_member(r.host, host_members[i]);
                assert_fails(tv, &r, VTC_VERIFIER_REASON_EVIDENCE_MALFORMED, host_members[i]);
        }
        {
                g_auto(Round) r = {0};
                JsonObject *q;

                round_make(&r, tv);
                q = json_object_get_object_member(r.guest, "quote");
                json_object_set_string_member(q, "attest", "AAEC");
                assert_fails(tv, &r, VTC_VERIFIER_REASON_EVIDENCE_MALFORMED, NULL);
        }
        {
                g_auto(VtcVerifierVerdict) v = {0};
                g_autoptr(GError) error = NULL;
                guint8 nonce[32] = {0};

                g_assert_true(
                    vtc_verifier_check_round(tv->vm, nonce, NULL, NULL, FALSE, &v, &error));
                g_assert_cmpint(v.reason, ==, VTC_VERIFIER_REASON_EVIDENCE_MALFORMED);
        }
        assert_trusted(tv);
}

static void
test_direct_mode(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        g_autoptr(GError) error = NULL;

        round_make(&r, tv);
        g_assert_true(
            vtc_verifier_check_round(tv->vm, r.nonce, r.guest, r.host, FALSE, &v, &error));
        g_assert_cmpint(v.result, ==, VTC_VERIFIER_RESULT_TRUSTED);
        g_assert_false(v.placement_proven);
}

static void
test_state_roundtrip(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = test_vm_new();
        g_autofree gchar *state = NULL;
        g_autoptr(VtcVerifierVm) vm2 = NULL;
        g_autofree gchar *state2 = NULL;

        assert_trusted(tv);
        state = vtc_verifier_vm_save_state(tv->vm);
        g_assert_cmpuint(strlen(state), <, 2048);
        vm2 = vtc_verifier_vm_new(tv->uuid,
                                  g_bytes_get_data(fx->guest_ak_pub, NULL),
                                  g_bytes_get_size(fx->guest_ak_pub),
                                  tv->ek,
                                  fx->tls_key_sha256,
                                  fx->host,
                                  &error);
        g_assert_no_error(error);
        g_assert_true(vtc_verifier_vm_load_state(vm2, state, &error));
        g_assert_no_error(error);
        state2 = vtc_verifier_vm_save_state(vm2);
        g_assert_cmpstr(state, ==, state2);
        /* a restarted verifier resumes incrementally without a false verdict */
        vtc_verifier_vm_free(tv->vm);
        tv->vm = g_steal_pointer(&vm2);
        {
                g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();

                vtc_verifier_policy_set_runtime(p, runtime_policy_new());
                vtc_verifier_policy_set_secure_boot(p, TRUE);
                vtc_verifier_vm_set_policy(tv->vm, p);
        }
        assert_trusted(tv);
        /* another VM's state is refused */
        {
                g_autoptr(TestVm) tv2 = test_vm_new();

                g_assert_false(vtc_verifier_vm_load_state(tv2->vm, state, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        }
        g_assert_cmpstr(vtc_verifier_reason_to_string(VTC_VERIFIER_REASON_VTPM_CLONE),
                        ==,
                        "vtpm_clone");
        {
                VtcVerifierReason reason;

                g_assert_true(vtc_verifier_reason_from_string("merkle_proof", &reason));
                g_assert_cmpint(reason, ==, VTC_VERIFIER_REASON_MERKLE_PROOF);
                g_assert_false(vtc_verifier_reason_from_string("nope", &reason));
        }
}

/* The guest reboots (its vTPM restarts: resetCount + 1, PCRs zero, a new IMA log): one
 * incomplete round re-reads the logs from the start, then trusted again. */
static void
test_guest_reboot(void)
{
        g_autoptr(TestVm) tv = test_vm_new();
        g_auto(Round) r = {0};
        g_auto(VtcVerifierVerdict) v = {0};
        VtcVerifierRequest req;

        assert_trusted(tv);
        assert_trusted(tv);
        vtc_tpm_free(fx->guest_tpm);
        vtc_swtpm_free(fx->guest_swtpm);
        open_guest_tpm();
        guest_boot();
        /* the verifier asks from the old offset: the agent's answer can't be used */
        round_make(&r, tv);
        check(tv, &r, &v);
        g_assert_cmpint(v.result, ==, VTC_VERIFIER_RESULT_INCOMPLETE);
        g_assert_cmpint(v.reason, ==, VTC_VERIFIER_REASON_GUEST_REBOOT);
        vtc_verifier_vm_get_request(tv->vm, &req);
        g_assert_cmpuint(req.ima_offset, ==, 0);
        g_assert_true(req.boot_log);
        {
                g_autoptr(VtcVerifierPolicy) p = vtc_verifier_policy_new();

                vtc_verifier_policy_set_runtime(p, runtime_policy_new());
                vtc_verifier_policy_set_secure_boot(p, TRUE);
                vtc_verifier_vm_set_policy(tv->vm, p);
        }
        assert_trusted(tv);
        assert_trusted(tv);
}

/* VTC_VERIFIER_FUZZ_SEEDS=DIR: writes a real round (fixed uuid, EK, TLS key and nonce) and the
 * two AKs for fuzz/fuzz-verifier.c's built-in VM, so its corpus reaches past the signatures. */
static void
dump_fuzz_seeds(const gchar *dir)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(TestVm) tv = g_new0(TestVm, 1);
        g_auto(Round) r = {0};
        g_autoptr(JsonObject) all = json_object_new();
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        g_autofree gchar *text = NULL;
        g_autofree gchar *path = g_build_filename(dir, "round-clean.json", NULL);
        g_autofree gchar *keys_path = g_build_filename(dir, "keys.txt", NULL);
        g_autofree gchar *g64 = NULL;
        g_autofree gchar *h64 = NULL;
        g_autofree gchar *keys = NULL;
        VtcVerifierRequest req;

        tv->uuid = g_strdup("6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f");
        memset(tv->ek, 0x11, 32);
        vtpm_start(tv->uuid, tv->ek);
        tv->vm = vtc_verifier_vm_new(tv->uuid,
                                     g_bytes_get_data(fx->guest_ak_pub, NULL),
                                     g_bytes_get_size(fx->guest_ak_pub),
                                     tv->ek,
                                     fx->tls_key_sha256,
                                     fx->host,
                                     &error);
        g_assert_no_error(error);
        memset(r.nonce, 0x42, 32);
        vtc_verifier_vm_get_request(tv->vm, &req);
        req.boot_log = TRUE;
        round_make_guest(&r, tv, &req);
        round_make_host(&r, tv, &req, NULL);
        json_object_set_object_member(all, "guest", json_object_ref(r.guest));
        json_object_set_object_member(all, "host", json_object_ref(r.host));
        json_object_set_string_member(all, "placement", "channel");
        json_node_set_object(node, all);
        text = vtc_json_node_to_string(node);
        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g64 = g_base64_encode(g_bytes_get_data(fx->guest_ak_pub, NULL),
                              g_bytes_get_size(fx->guest_ak_pub));
        h64 = g_base64_encode(g_bytes_get_data(fx->host_ak_pub, NULL),
                              g_bytes_get_size(fx->host_ak_pub));
        keys = g_strdup_printf("guest %s\nhost %s\ntls %s\n",
                               g64,
                               h64,
                               vtc_hex_encode(fx->tls_key_sha256, 32));
        g_assert_true(g_file_set_contents(keys_path, keys, -1, &error));
}

int
main(int argc, char **argv)
{
        int rc;

        g_test_init(&argc, &argv, NULL);
        vtc_test_require_program("swtpm");
        fixture_setup();
        if (g_getenv("VTC_VERIFIER_FUZZ_SEEDS") != NULL) {
                dump_fuzz_seeds(g_getenv("VTC_VERIFIER_FUZZ_SEEDS"));
                fixture_teardown();
                return 0;
        }
        g_test_add_func("/verifier-check/clean-rounds", test_clean_rounds);
        g_test_add_func("/verifier-check/ima-after-quote", test_ima_after_quote);
        g_test_add_func("/verifier-check/guest-uuid", test_guest_uuid);
        g_test_add_func("/verifier-check/guest-quote-signature", test_guest_quote_signature);
        g_test_add_func("/verifier-check/guest-nonce", test_guest_nonce);
        g_test_add_func("/verifier-check/guest-tls-key", test_guest_tls_key);
        g_test_add_func("/verifier-check/guest-pcr-digest", test_guest_pcr_digest);
        g_test_add_func("/verifier-check/guest-ima-replay", test_guest_ima_replay);
        g_test_add_func("/verifier-check/guest-ima-policy", test_guest_ima_policy);
        g_test_add_func("/verifier-check/guest-boot-replay", test_guest_boot_replay);
        g_test_add_func("/verifier-check/guest-boot-policy", test_guest_boot_policy);
        g_test_add_func("/verifier-check/merkle-proof", test_merkle_proof);
        g_test_add_func("/verifier-check/host-quote-nonce", test_host_quote_nonce);
        g_test_add_func("/verifier-check/host-quote-signature", test_host_quote_signature);
        g_test_add_func("/verifier-check/host-pcr-digest", test_host_pcr_digest);
        g_test_add_func("/verifier-check/host-quote-replay", test_host_quote_replay);
        g_test_add_func("/verifier-check/clock-regression", test_clock_regression);
        g_test_add_func("/verifier-check/clock-over-reset", test_clock_over_reset);
        g_test_add_func("/verifier-check/host-reboot", test_host_reboot);
        g_test_add_func("/verifier-check/vtpm-log-restart", test_vtpm_log_restart);
        g_test_add_func("/verifier-check/host-log-replay", test_host_log_replay);
        g_test_add_func("/verifier-check/host-policy", test_host_policy);
        g_test_add_func("/verifier-check/vtpm-log-replay", test_vtpm_log_replay);
        g_test_add_func("/verifier-check/vm-not-started", test_vm_not_started);
        g_test_add_func("/verifier-check/vm-stopped", test_vm_stopped);
        g_test_add_func("/verifier-check/vtpm-ek-mismatch", test_vtpm_ek_mismatch);
        g_test_add_func("/verifier-check/vtpm-clone", test_vtpm_clone);
        g_test_add_func("/verifier-check/malformed", test_malformed);
        g_test_add_func("/verifier-check/direct-mode", test_direct_mode);
        g_test_add_func("/verifier-check/state-roundtrip", test_state_roundtrip);
        g_test_add_func("/verifier-check/guest-reboot", test_guest_reboot);
        g_test_add_func("/verifier-check/guest-boot-aggregate", test_guest_boot_aggregate);
        rc = g_test_run();
        fixture_teardown();
        return rc;
}
