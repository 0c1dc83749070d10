/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <json-glib/json-glib.h>

#include "vtc-policy.h"
#include "vtc-test-common.h"

/*
 * The verdicts mirror Keylime's test/test_ima_verification.py (keylime @ 9b1f6e6a): its
 * RUNTIME_POLICY_TEST, RUNTIME_POLICY_WRONG and EXCLUDES are the shared testdata's
 * policy/runtime_policy_test.json, runtime_policy_wrong.json and excludes.json; its MEASUREMENTS,
 * SIGNATURES, BAD_SIGNATURES and KEYRINGS are ima/keylime/ima_measurements_openpower.txt,
 * ima_sig_entries_rsa_ec.txt, ima_sig_bad_sigsize.txt and ima_buf_keyring_entry.txt; its tenant
 * keyring (rsa2048pub.pem, secp256k1.pem) is policy/ima_keys/ and ima_keyring_string.json.
 */

/* ---- building entries: with the real IMA parser ---- */

static gboolean
test_collect_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        g_ptr_array_add(user_data, vtc_ima_entry_copy(entry));
        return TRUE;
}

/* Parses an ascii log; @flags may skip the template-hash check (for synthetic entries). */
static GPtrArray *
test_entries_from_text_full(const gchar *text, VtcImaReplayFlags flags)
{
        g_autoptr(GPtrArray) entries =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_ima_entry_free);
        g_autoptr(GError) error = NULL;
        VtcImaReplayState state;

        vtc_ima_replay_state_init(&state);
        g_assert_true(
            vtc_ima_replay((const guint8 *)text,
                           strlen(text),
                           VTC_IMA_FORMAT_ASCII,
                           flags | VTC_IMA_REPLAY_FLAG_NO_SHA1 | VTC_IMA_REPLAY_FLAG_NO_SHA256,
                           &state,
                           test_collect_cb,
                           entries,
                           NULL,
                           &error));
        g_assert_no_error(error);
        return g_steal_pointer(&entries);
}

static GPtrArray *
test_entries_from_text(const gchar *text)
{
        return test_entries_from_text_full(text, VTC_IMA_REPLAY_FLAG_NONE);
}

static gchar *
test_read(const gchar *relpath)
{
        g_autofree gchar *path = vtc_test_data_path(relpath);
        g_autoptr(GError) error = NULL;
        gchar *text = NULL;

        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        return text;
}

static GPtrArray *
test_entries_from_file(const gchar *relpath)
{
        g_autofree gchar *text = test_read(relpath);
        return test_entries_from_text(text);
}

/* ---- building policies ---- */

static JsonNode *
test_json_from_file(const gchar *relpath)
{
        g_autofree gchar *text = test_read(relpath);
        g_autoptr(GError) error = NULL;
        JsonNode *node = json_from_string(text, &error);
        g_assert_no_error(error);
        return node;
}

static gchar *
test_pem_to_spki_base64(const gchar *relpath)
{
        g_autofree gchar *pem = test_read(relpath);
        g_autoptr(BIO) bio = BIO_new_mem_buf(pem, -1);
        g_autoptr(EVP_PKEY) pkey = NULL;
        guint8 *der = NULL;
        gchar *b64;
        int n;

        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (pkey == NULL) {
                g_autoptr(BIO) bio2 = BIO_new_mem_buf(pem, -1);
                ERR_clear_error();
                pkey = PEM_read_bio_PrivateKey(bio2, NULL, NULL, NULL);
        }
        g_assert_nonnull(pkey);
        n = i2d_PUBKEY(pkey, &der);
        g_assert_cmpint(n, >, 0);
        b64 = g_base64_encode(der, (gsize)n);
        OPENSSL_free(der);
        return b64;
}

/* The tenant keyring of Keylime's test, as a "verification-keys" string (key ids computed). */
static gchar *
test_keys_string(gboolean rsa, gboolean ec)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "pubkeys");
        json_builder_begin_array(b);
        if (rsa) {
                g_autofree gchar *k = test_pem_to_spki_base64("policy/ima_keys/rsa2048pub.pem");
                json_builder_add_string_value(b, k);
        }
        if (ec) {
                g_autofree gchar *k = test_pem_to_spki_base64("policy/ima_keys/secp256k1.pem");
                json_builder_add_string_value(b, k);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "keyids");
        json_builder_begin_array(b);
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return json_to_string(root, FALSE);
}

typedef enum {
        TEST_POLICY_TEST,  /* RUNTIME_POLICY_TEST */
        TEST_POLICY_WRONG, /* RUNTIME_POLICY_WRONG */
        TEST_POLICY_EMPTY, /* ima.EMPTY_RUNTIME_POLICY */
} TestPolicyBase;

typedef enum {
        TEST_KEYS_NONE,
        TEST_KEYS_RSA,
        TEST_KEYS_BOTH,
        TEST_KEYS_FILE, /* ima_keyring_string.json, with its key ids */
} TestKeys;

static const gchar *test_empty_policy =
    "{\"meta\": {\"version\": 1, \"generator\": 1}, \"release\": 0, \"digests\": {}, "
    "\"excludes\": [], \"keyrings\": {}, \"ima\": {\"ignored_keyrings\": [], "
    "\"log_hash_alg\": \"sha1\", \"dm_policy\": null}, \"ima-buf\": {}, "
    "\"verification-keys\": \"\"}";

static VtcRuntimePolicy *
test_policy_new(TestPolicyBase base, gboolean excludes, TestKeys keys, const gchar *ignored)
{
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *text = NULL;
        JsonObject *obj;
        VtcRuntimePolicy *policy;

        if (base == TEST_POLICY_TEST)
                root = test_json_from_file("policy/runtime_policy_test.json");
        else if (base == TEST_POLICY_WRONG)
                root = test_json_from_file("policy/runtime_policy_wrong.json");
        else
                root = json_from_string(test_empty_policy, &error);
        g_assert_no_error(error);
        obj = json_node_get_object(root);
        if (excludes)
                json_object_set_member(obj,
                                       "excludes",
                                       test_json_from_file("policy/excludes.json"));
        if (keys == TEST_KEYS_RSA || keys == TEST_KEYS_BOTH) {
                g_autofree gchar *s = test_keys_string(TRUE, keys == TEST_KEYS_BOTH);
                json_object_set_string_member(obj, "verification-keys", s);
        } else if (keys == TEST_KEYS_FILE) {
                g_autofree gchar *s = test_read("policy/ima_keyring_string.json");
                json_object_set_string_member(obj, "verification-keys", g_strstrip(s));
        }
        if (ignored != NULL) {
                JsonObject *ima = json_object_get_object_member(obj, "ima");
                JsonArray *a = json_array_new();
                json_array_add_string_element(a, ignored);
                json_object_set_array_member(ima, "ignored_keyrings", a);
        }
        text = json_to_string(root, FALSE);
        policy = vtc_runtime_policy_new_from_json(text, strlen(text), &error);
        g_assert_no_error(error);
        g_assert_nonnull(policy);
        return policy;
}

/* Checks every entry; returns the failures. */
static GPtrArray *
test_check(const VtcRuntimePolicy *policy, GPtrArray *entries, VtcRuntimePolicyCheckFlags flags)
{
        g_autoptr(VtcRuntimePolicyCheck) check = vtc_runtime_policy_check_new(policy, flags);
        GPtrArray *failures;

        for (guint i = 0; i < entries->len; i++) {
                g_autoptr(GError) error = NULL;
                g_assert_true(
                    vtc_runtime_policy_check_add(check, g_ptr_array_index(entries, i), i, &error));
                g_assert_no_error(error);
        }
        failures = vtc_runtime_policy_check_get_failures(check);
        for (guint i = 0; i < failures->len; i++) {
                g_autofree gchar *s =
                    vtc_runtime_policy_failure_to_string(g_ptr_array_index(failures, i));
                g_test_message("failure: %s", s);
        }
        return g_ptr_array_ref(failures);
}

/* ---- the verdict table ---- */

typedef enum {
        LOG_MEASUREMENTS,
        LOG_SIGNATURES,
        LOG_SIGNATURES_RSA, /* SIGNATURES[0:1] */
        LOG_SIGNATURES_EC,  /* SIGNATURES[1:2] */
        LOG_COMBINED,
        LOG_BAD_SIGNATURES,
        LOG_KEYRINGS,
} TestLog;

typedef struct {
        const gchar *keylime_case; /* the Keylime test and its comment */
        TestLog log;
        TestPolicyBase policy;
        gboolean excludes;
        TestKeys keys;
        gboolean pass;
        guint n_failures; /* when it does not pass */
} TestVerdict;

static const TestVerdict test_verdicts[] = {
    /* test_measurment_verification */
    {"measurement: with the runtime policy",
     LOG_MEASUREMENTS,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"measurement: no files are in the allowlist -> fail",
     LOG_MEASUREMENTS,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_NONE,
     FALSE,
     2},
    /* test_signature_verification */
    {"signature: empty keyring -> fail",
     LOG_SIGNATURES,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_NONE,
     FALSE,
     2},
    {"signature: RSA key, 1st entry verifiable",
     LOG_SIGNATURES_RSA,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_RSA,
     TRUE,
     0},
    {"signature: RSA key, 2nd entry not verifiable",
     LOG_SIGNATURES_EC,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_RSA,
     FALSE,
     1},
    {"signature: RSA and EC keys, both verifiable",
     LOG_SIGNATURES,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"signature: keys from ima_keyring_string.json",
     LOG_SIGNATURES,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_FILE,
     TRUE,
     0},
    /* test_ima_buf_verification */
    {"ima-buf: keyring digest in the policy",
     LOG_KEYRINGS,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"ima-buf (ours): keyring not in the policy",
     LOG_KEYRINGS,
     TEST_POLICY_WRONG,
     FALSE,
     TEST_KEYS_NONE,
     FALSE,
     1},
    /* test_mixed_verfication */
    {"mixed: every entry covered by the allowlist, no keyring -> pass",
     LOG_COMBINED,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"mixed: entries not covered by an exclude list -> fail",
     LOG_COMBINED,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_BOTH,
     FALSE,
     2},
    {"mixed: covered by allow list or signature -> pass",
     LOG_COMBINED,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"mixed: signature valid, hash in allowlist wrong -> pass",
     LOG_SIGNATURES,
     TEST_POLICY_WRONG,
     FALSE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"mixed: signature valid, file not in allowlist -> pass",
     LOG_SIGNATURES,
     TEST_POLICY_EMPTY,
     FALSE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"mixed: signature invalid, correct hash in allowlist -> pass",
     LOG_SIGNATURES,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"mixed: no signature, hash correct -> pass",
     LOG_MEASUREMENTS,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"mixed: all excluded, hashes invalid -> pass",
     LOG_MEASUREMENTS,
     TEST_POLICY_WRONG,
     TRUE,
     TEST_KEYS_NONE,
     TRUE,
     0},
    {"mixed: all excluded, signatures valid -> pass",
     LOG_SIGNATURES,
     TEST_POLICY_TEST,
     TRUE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"mixed: all excluded, hashes or signatures invalid -> pass",
     LOG_MEASUREMENTS,
     TEST_POLICY_WRONG,
     TRUE,
     TEST_KEYS_BOTH,
     TRUE,
     0},
    {"mixed: malformed signature, file excluded -> must not pass",
     LOG_BAD_SIGNATURES,
     TEST_POLICY_TEST,
     TRUE,
     TEST_KEYS_NONE,
     FALSE,
     1},
    {"mixed: malformed signature, file in accept list -> must not pass",
     LOG_BAD_SIGNATURES,
     TEST_POLICY_TEST,
     FALSE,
     TEST_KEYS_NONE,
     FALSE,
     1},
    /* ours: the wrong policy without excludes names both files */
    {"ours: wrong digests, no keys -> fail",
     LOG_SIGNATURES,
     TEST_POLICY_WRONG,
     FALSE,
     TEST_KEYS_NONE,
     FALSE,
     2},
};

static GPtrArray *
test_log_entries(TestLog log)
{
        GPtrArray *entries = NULL;

        switch (log) {
        case LOG_MEASUREMENTS:
                return test_entries_from_file("ima/keylime/ima_measurements_openpower.txt");
        case LOG_SIGNATURES:
                return test_entries_from_file("ima/keylime/ima_sig_entries_rsa_ec.txt");
        case LOG_SIGNATURES_RSA:
                entries = test_entries_from_file("ima/keylime/ima_sig_entries_rsa_ec.txt");
                g_ptr_array_remove_index(entries, 1);
                return entries;
        case LOG_SIGNATURES_EC:
                entries = test_entries_from_file("ima/keylime/ima_sig_entries_rsa_ec.txt");
                g_ptr_array_remove_index(entries, 0);
                return entries;
        case LOG_COMBINED: {
                g_autofree gchar *a = test_read("ima/keylime/ima_measurements_openpower.txt");
                g_autofree gchar *b = test_read("ima/keylime/ima_sig_entries_rsa_ec.txt");
                g_autofree gchar *both = g_strconcat(a, b, NULL);
                return test_entries_from_text(both);
        }
        case LOG_BAD_SIGNATURES: {
                /* its template hash is the good entry's: the parser refuses it (Keylime's own
                 * reason to fail it), so parse it without that check to test the policy's verdict
                 */
                g_autofree gchar *text = test_read("ima/keylime/ima_sig_bad_sigsize.txt");
                return test_entries_from_text_full(text,
                                                   VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK);
        }
        case LOG_KEYRINGS:
                return test_entries_from_file("ima/keylime/ima_buf_keyring_entry.txt");
        }
        g_assert_not_reached();
}

static void
test_policy_verdicts(void)
{
        for (guint i = 0; i < G_N_ELEMENTS(test_verdicts); i++) {
                const TestVerdict *v = &test_verdicts[i];
                g_autoptr(VtcRuntimePolicy) policy =
                    test_policy_new(v->policy, v->excludes, v->keys, NULL);
                g_autoptr(GPtrArray) entries = test_log_entries(v->log);
                g_autoptr(GPtrArray) failures = NULL;

                g_test_message("case %u: %s", i, v->keylime_case);
                failures = test_check(policy, entries, VTC_RUNTIME_POLICY_CHECK_NONE);
                if (v->pass)
                        g_assert_cmpuint(failures->len, ==, 0);
                else
                        g_assert_cmpuint(failures->len, ==, v->n_failures);
                /* Keylime checks boot_aggregate as a path: the verdicts must not change */
                g_clear_pointer(&failures, g_ptr_array_unref);
                failures = test_check(policy, entries, VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE);
                g_assert_cmpuint(failures->len == 0, ==, v->pass);
        }
}

/* The failures name the entry, the digest and the reason. */
static void
test_policy_failure_details(void)
{
        g_autoptr(VtcRuntimePolicy) wrong =
            test_policy_new(TEST_POLICY_WRONG, FALSE, TEST_KEYS_NONE, NULL);
        g_autoptr(VtcRuntimePolicy) rsa_only =
            test_policy_new(TEST_POLICY_EMPTY, FALSE, TEST_KEYS_RSA, NULL);
        g_autoptr(GPtrArray) sigs = test_log_entries(LOG_SIGNATURES);
        g_autoptr(GPtrArray) bad = test_log_entries(LOG_BAD_SIGNATURES);
        g_autoptr(GPtrArray) failures = test_check(wrong, sigs, 0);
        VtcRuntimePolicyFailure *f;
        g_autofree gchar *s = NULL;

        g_assert_cmpuint(failures->len, ==, 2);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpuint(f->index, ==, 0);
        g_assert_cmpstr(f->path, ==, "/usr/bin/dd");
        g_assert_cmpstr(f->digest,
                        ==,
                        "sha256:d33d5d13792292e202dbf69a6f1b07bc8a02f01424db8489ba7bb7d43c0290ef");
        g_assert_cmpint(f->reason, ==, VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY);
        g_assert_cmpint(f->template_kind, ==, VTC_IMA_TEMPLATE_IMA_SIG);
        g_assert_cmpstr(f->signature_detail,
                        ==,
                        "signature does not verify: no key with id 0xf3452d23");
        s = vtc_runtime_policy_failure_to_string(f);
        g_assert_cmpstr(
            s,
            ==,
            "#0 /usr/bin/dd "
            "sha256:d33d5d13792292e202dbf69a6f1b07bc8a02f01424db8489ba7bb7d43c0290ef: "
            "digest not in policy (signature does not verify: no key with id 0xf3452d23)");
        f = g_ptr_array_index(failures, 1);
        g_assert_cmpuint(f->index, ==, 1);
        g_assert_cmpstr(f->path, ==, "/usr/bin/zmore");
        g_assert_cmpstr(f->signature_detail,
                        ==,
                        "signature does not verify: no key with id 0x531f4025");

        /* no such path: the EC-signed file with only the RSA key */
        g_clear_pointer(&failures, g_ptr_array_unref);
        failures = test_check(rsa_only, sigs, 0);
        g_assert_cmpuint(failures->len, ==, 1);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpuint(f->index, ==, 1);
        g_assert_cmpint(f->reason, ==, VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY);

        g_clear_pointer(&failures, g_ptr_array_unref);
        failures = test_check(wrong, bad, 0);
        g_assert_cmpuint(failures->len, ==, 1);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpint(f->reason, ==, VTC_RUNTIME_POLICY_REASON_SIGNATURE_MALFORMED);
        g_assert_cmpstr(vtc_runtime_policy_reason_to_string(f->reason), ==, "malformed signature");

        /* in Keylime this entry fails because its template hash cannot match: so here too */
        {
                g_autofree gchar *text = test_read("ima/keylime/ima_sig_bad_sigsize.txt");
                g_autoptr(GError) error = NULL;
                g_autoptr(GPtrArray) parsed = vtc_ima_log_parse((const guint8 *)text,
                                                                strlen(text),
                                                                VTC_IMA_FORMAT_ASCII,
                                                                &error);
                g_assert_null(parsed);
                g_assert_nonnull(error);
        }
}

/* A signature whose bytes were altered does not verify, and falls back to the digest list. */
static void
test_policy_signature_tampered(void)
{
        g_autoptr(VtcRuntimePolicy) keys_only =
            test_policy_new(TEST_POLICY_EMPTY, FALSE, TEST_KEYS_BOTH, NULL);
        g_autoptr(VtcRuntimePolicy) keys_and_digests =
            test_policy_new(TEST_POLICY_TEST, FALSE, TEST_KEYS_BOTH, NULL);
        g_autoptr(GPtrArray) sigs = test_log_entries(LOG_SIGNATURES);
        g_autoptr(GPtrArray) failures = NULL;
        VtcImaEntry *dd = g_ptr_array_index(sigs, 0);
        VtcImaEntry *zmore = g_ptr_array_index(sigs, 1);
        VtcRuntimePolicyFailure *f;

        dd->sig[dd->sig_len - 1] ^= 1;
        zmore->file_hash[0] ^= 1;
        failures = test_check(keys_only, sigs, 0);
        g_assert_cmpuint(failures->len, ==, 2);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpstr(f->signature_detail, ==, "signature does not verify with key 0xf3452d23");
        f = g_ptr_array_index(failures, 1);
        g_assert_cmpstr(f->signature_detail, ==, "signature does not verify with key 0x531f4025");
        /* dd is in the digest list: accepted; zmore's digest changed: not */
        g_clear_pointer(&failures, g_ptr_array_unref);
        failures = test_check(keys_and_digests, sigs, 0);
        g_assert_cmpuint(failures->len, ==, 1);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpstr(f->path, ==, "/usr/bin/zmore");
        g_assert_cmpint(f->reason, ==, VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY);

        /* the signature hash algorithm must be the entry's */
        dd->sig[dd->sig_len - 1] ^= 1;
        dd->file_hash_alg = vtc_hash_alg_from_name("sha384");
        g_clear_pointer(&failures, g_ptr_array_unref);
        failures = test_check(keys_only, sigs, 0);
        f = g_ptr_array_index(failures, 0);
        g_assert_cmpstr(f->signature_detail,
                        ==,
                        "signature over sha256, the entry's digest is sha384");
}

/* ima.ignored_keyrings: a named keyring or "*" is not checked (and no key is learnt). */
static void
test_policy_ignored_keyrings(void)
{
        g_autoptr(GPtrArray) keyrings = test_log_entries(LOG_KEYRINGS);
        const gchar *ignored[] = {".ima", "*"};

        for (guint i = 0; i < G_N_ELEMENTS(ignored); i++) {
                g_autoptr(VtcRuntimePolicy) policy =
                    test_policy_new(TEST_POLICY_WRONG, FALSE, TEST_KEYS_NONE, ignored[i]);
                g_autoptr(VtcRuntimePolicyCheck) check = vtc_runtime_policy_check_new(policy, 0);
                g_autoptr(GError) error = NULL;
                VtcRuntimePolicyCheckStats stats;
                g_assert_true(
                    vtc_runtime_policy_check_add(check, g_ptr_array_index(keyrings, 0), 0, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(vtc_runtime_policy_check_get_failures(check)->len, ==, 0);
                vtc_runtime_policy_check_get_stats(check, &stats);
                g_assert_cmpuint(stats.skipped, ==, 1);
                g_assert_cmpuint(stats.keys_learnt, ==, 0);
        }
        {
                /* another keyring's name does not ignore .ima */
                g_autoptr(VtcRuntimePolicy) policy =
                    test_policy_new(TEST_POLICY_WRONG, FALSE, TEST_KEYS_NONE, ".evm");
                g_autoptr(GPtrArray) failures = test_check(policy, keyrings, 0);
                VtcRuntimePolicyFailure *f;
                g_assert_cmpuint(failures->len, ==, 1);
                f = g_ptr_array_index(failures, 0);
                g_assert_cmpint(f->reason, ==, VTC_RUNTIME_POLICY_REASON_KEYRING_NOT_IN_POLICY);
                g_assert_cmpstr(f->path, ==, ".ima");
        }
}

/*
 * Key learning (Keylime's _validate_ima_buf then add_pubkey_to_keyring): a certificate measured
 * onto a keyring and accepted by "keyrings" verifies the files signed after it.
 */
static gchar *
test_make_cert_and_sig(const guint8 *digest, guint8 **out_sig, gsize *out_sig_len)
{
        g_autoptr(EVP_PKEY) key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        g_autoptr(X509) cert = X509_new();
        g_autoptr(EVP_PKEY_CTX) ctx = NULL;
        g_autoptr(GByteArray) sig = g_byte_array_new();
        X509V3_CTX v3;
        X509_EXTENSION *ext;
        guint8 raw[128];
        gsize raw_len = sizeof(raw);
        guint8 *der = NULL;
        gchar *hex;
        int n;

        g_assert_nonnull(key);
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(cert),
                                   "CN",
                                   MBSTRING_ASC,
                                   (const guint8 *)"vtc test ima key",
                                   -1,
                                   -1,
                                   0);
        X509_set_issuer_name(cert, X509_get_subject_name(cert));
        X509_set_pubkey(cert, key);
        X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
        g_assert_nonnull(ext);
        X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        g_assert_cmpint(X509_sign(cert, key, EVP_sha256()), >, 0);
        n = i2d_X509(cert, &der);
        g_assert_cmpint(n, >, 0);
        hex = vtc_hex_encode(der, (gsize)n);
        OPENSSL_free(der);

        ctx = EVP_PKEY_CTX_new(key, NULL);
        g_assert_cmpint(EVP_PKEY_sign_init(ctx), ==, 1);
        g_assert_cmpint(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), ==, 1);
        g_assert_cmpint(EVP_PKEY_sign(ctx, raw, &raw_len, digest, 32), ==, 1);
        {
                const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert);
                const guint8 *id = ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid) - 4;
                guint8 hdr[9] = {3, 2, 4, id[0], id[1], id[2], id[3], 0, 0};
                hdr[7] = (guint8)(raw_len >> 8);
                hdr[8] = (guint8)raw_len;
                g_byte_array_append(sig, hdr, sizeof(hdr));
                g_byte_array_append(sig, raw, (guint)raw_len);
        }
        *out_sig_len = sig->len;
        *out_sig = g_byte_array_steal(sig, NULL);
        return hex;
}

static void
test_policy_key_learning(void)
{
        guint8 digest[32];
        g_autofree guint8 *sig = NULL;
        gsize sig_len = 0;
        g_autofree gchar *cert_hex = NULL;
        g_autofree gchar *sig_hex = NULL;
        g_autofree gchar *digest_hex = NULL;
        g_autofree gchar *cert_digest_hex = NULL;
        g_autofree gchar *log = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GBytes) cert_der = NULL;
        guint8 cert_digest[32];

        memset(digest, 0x5a, sizeof(digest));
        cert_hex = test_make_cert_and_sig(digest, &sig, &sig_len);
        sig_hex = vtc_hex_encode(sig, sig_len);
        digest_hex = vtc_hex_encode(digest, sizeof(digest));
        cert_der = vtc_hex_decode(cert_hex, NULL);
        g_assert_true(vtc_hash(vtc_hash_alg_from_name("sha256"),
                               g_bytes_get_data(cert_der, NULL),
                               g_bytes_get_size(cert_der),
                               cert_digest,
                               NULL));
        cert_digest_hex = vtc_hex_encode(cert_digest, sizeof(cert_digest));
        log = g_strdup_printf("10 %s ima-sig sha256:%s /usr/bin/signed %s\n"
                              "10 %s ima-buf sha256:%s .ima %s\n"
                              "10 %s ima-sig sha256:%s /usr/bin/signed %s\n",
                              "1111111111111111111111111111111111111111",
                              digest_hex,
                              sig_hex,
                              "2222222222222222222222222222222222222222",
                              cert_digest_hex,
                              cert_hex,
                              "3333333333333333333333333333333333333333",
                              digest_hex,
                              sig_hex);
        entries = test_entries_from_text_full(log, VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK);
        {
                /* the key is accepted on .ima: the file signed after it verifies, not the one
                 * before */
                g_autofree gchar *json = g_strdup_printf(
                    "{\"meta\": {\"version\": 1}, \"digests\": {}, \"keyrings\": {\".ima\": [\"%s\"]}}",
                    cert_digest_hex);
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcRuntimePolicy) policy =
                    vtc_runtime_policy_new_from_json(json, strlen(json), &error);
                g_autoptr(VtcRuntimePolicyCheck) check = NULL;
                GPtrArray *failures;
                VtcRuntimePolicyCheckStats stats;
                g_assert_no_error(error);
                check = vtc_runtime_policy_check_new(policy, 0);
                for (guint i = 0; i < entries->len; i++)
                        g_assert_true(vtc_runtime_policy_check_add(check,
                                                                   g_ptr_array_index(entries, i),
                                                                   i,
                                                                   &error));
                failures = vtc_runtime_policy_check_get_failures(check);
                g_assert_cmpuint(failures->len, ==, 1);
                g_assert_cmpuint(((VtcRuntimePolicyFailure *)g_ptr_array_index(failures, 0))->index,
                                 ==,
                                 0);
                vtc_runtime_policy_check_get_stats(check, &stats);
                g_assert_cmpuint(stats.keys_learnt, ==, 1);
                g_assert_cmpuint(stats.by_signature, ==, 1);
                g_assert_cmpuint(stats.by_digest, ==, 1);
        }
        {
                /* the key is not allowed: nothing verifies, the keyring entry is named */
                const gchar *json = "{\"meta\": {\"version\": 1}, \"digests\": {}}";
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcRuntimePolicy) policy =
                    vtc_runtime_policy_new_from_json(json, strlen(json), &error);
                g_autoptr(GPtrArray) failures = NULL;
                g_assert_no_error(error);
                failures = test_check(policy, entries, 0);
                g_assert_cmpuint(failures->len, ==, 3);
                g_assert_cmpint(((VtcRuntimePolicyFailure *)g_ptr_array_index(failures, 1))->reason,
                                ==,
                                VTC_RUNTIME_POLICY_REASON_KEYRING_NOT_IN_POLICY);
        }
}

/* Excludes are Python re.match regexes: anchored at the start, not at the end. */
static void
test_policy_excludes(void)
{
        const gchar *json =
            "{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": "
            "[\"/tmp/.*\", \"boot_aggregate\", \"/usr/lib/.*\\\\.so$\", \"(a)\\\\1x\"]}";
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy =
            vtc_runtime_policy_new_from_json(json, strlen(json), &error);
        struct {
                const gchar *path;
                gboolean excluded;
        } cases[] = {
            {"/tmp/foo", TRUE},
            {"/tmp/", TRUE},
            {"/var/tmp/foo", FALSE},       /* anchored at the start */
            {"boot_aggregate_more", TRUE}, /* not at the end */
            {"/usr/lib/libc.so", TRUE},
            {"/usr/lib/libc.so.6", FALSE},
            {"aax", TRUE}, /* a backreference, matched on its own */
            {"abx", FALSE},
            {"", FALSE},
            {"/tmp\xff\xfe", FALSE}, /* not UTF-8: matched as bytes, no error */
            {"/tmp/\xff\xfe", TRUE},
        };

        g_assert_no_error(error);
        g_assert_cmpuint(vtc_runtime_policy_get_n_excludes(policy), ==, 4);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_test_message("exclude %s", cases[i].path);
                g_assert_cmpint(vtc_runtime_policy_is_excluded(policy, cases[i].path),
                                ==,
                                cases[i].excluded);
        }
}

/* The real policy files load, with the contents Keylime's test_read_allowlist asserts. */
static void
test_policy_files(void)
{
        g_autofree gchar *text = test_read("policy/runtime-policy-test.json");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy =
            vtc_runtime_policy_new_from_json(text, strlen(text), &error);
        g_autoptr(GBytes) digest = NULL;

        g_assert_no_error(error);
        g_assert_cmpuint(vtc_runtime_policy_get_n_paths(policy), ==, 21);
        g_assert_cmpstr(vtc_runtime_policy_get_log_hash_alg(policy)->name, ==, "sha1");
        digest = vtc_hex_decode("68e1d012e3f193dcde955e6ffbbc80e22b0f8778", NULL);
        g_assert_true(vtc_runtime_policy_lookup_digest(policy,
                                                       "/boot/grub2/i386-pc/testload.mod",
                                                       NULL,
                                                       g_bytes_get_data(digest, NULL),
                                                       g_bytes_get_size(digest)));
        g_assert_false(vtc_runtime_policy_lookup_digest(policy,
                                                        "/boot/grub2/i386-pc/tr.mod",
                                                        NULL,
                                                        g_bytes_get_data(digest, NULL),
                                                        g_bytes_get_size(digest)));
        /* "sha256:<hex>" binds the algorithm */
        g_clear_pointer(&digest, g_bytes_unref);
        digest = vtc_hex_decode("4309217e9709def327c3409407f4d52907aeba46ef1b4f46529fd095f2ef9fb2",
                                NULL);
        g_assert_true(vtc_runtime_policy_lookup_digest(policy,
                                                       "boot_aggregate",
                                                       vtc_hash_alg_from_name("sha256"),
                                                       g_bytes_get_data(digest, NULL),
                                                       g_bytes_get_size(digest)));
        g_assert_false(vtc_runtime_policy_lookup_digest(policy,
                                                        "boot_aggregate",
                                                        vtc_hash_alg_from_name("sm3_256"),
                                                        g_bytes_get_data(digest, NULL),
                                                        g_bytes_get_size(digest)));

        /* verification-keys as ima_keyring_string.json writes them */
        {
                g_autoptr(VtcRuntimePolicy) keyed =
                    test_policy_new(TEST_POLICY_EMPTY, FALSE, TEST_KEYS_FILE, NULL);
                g_assert_cmpuint(vtc_runtime_policy_get_n_keys(keyed), ==, 2);
        }
}

/* Signed policies (DSSE), as Keylime's test_read_allowlist checks them. */
static void
test_policy_dsse(void)
{
        g_autofree gchar *pem = test_read("policy/runtime-policy-pubkey.pub");
        g_autofree gchar *good = test_read("policy/runtime-policy-test-signed.json");
        g_autofree gchar *bad = test_read("policy/runtime-policy-test-signed-bad.json");
        g_autoptr(BIO) bio = BIO_new_mem_buf(pem, -1);
        g_autoptr(EVP_PKEY) key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        g_autoptr(EVP_PKEY) other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;

        g_assert_nonnull(key);
        policy = vtc_runtime_policy_new_from_dsse(good, strlen(good), key, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_runtime_policy_get_n_paths(policy), ==, 21);
        g_clear_pointer(&policy, vtc_runtime_policy_free);

        policy = vtc_runtime_policy_new_from_dsse(bad, strlen(bad), key, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_null(policy);
        g_clear_error(&error);

        policy = vtc_runtime_policy_new_from_dsse(good, strlen(good), other, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_clear_error(&error);

        /* an envelope is not taken as a plain policy */
        policy = vtc_runtime_policy_new_from_json(good, strlen(good), &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "DSSE"));
        g_clear_error(&error);

        /* a plain policy is not taken as an envelope */
        {
                g_autofree gchar *plain = test_read("policy/runtime-policy-test.json");
                policy = vtc_runtime_policy_new_from_dsse(plain, strlen(plain), key, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "payloadType"));
        }
}

/* Malformed policies: a clear error naming the member, never a crash nor a CRITICAL. */
static void
test_policy_invalid(void)
{
        struct {
                const gchar *json;
                gint code;
                const gchar *needle;
        } cases[] = {
            {"", VTC_ERROR_INVALID_DATA, "runtime policy: empty document"},
            {"{", VTC_ERROR_INVALID_DATA, "not valid JSON"},
            {"[]", VTC_ERROR_INVALID_DATA, "runtime policy: expected an object, got an array"},
            {"{}", VTC_ERROR_INVALID_DATA, "meta: expected an object, got missing"},
            {"{\"meta\": 1}", VTC_ERROR_INVALID_DATA, "meta: expected an object, got an integer"},
            {"{\"meta\": {}}",
             VTC_ERROR_INVALID_DATA,
             "meta.version: expected an integer, got missing"},
            {"{\"meta\": {\"version\": \"1\"}}",
             VTC_ERROR_INVALID_DATA,
             "meta.version: expected an integer, got a string"},
            {"{\"meta\": {\"version\": 1.0}}",
             VTC_ERROR_INVALID_DATA,
             "meta.version: expected an integer, got a number"},
            {"{\"meta\": {\"version\": 2}, \"digests\": {}}",
             VTC_ERROR_NOT_SUPPORTED,
             "meta.version"},
            {"{\"meta\": {\"version\": 1, \"generator\": \"x\"}, \"digests\": {}}",
             VTC_ERROR_INVALID_DATA,
             "meta.generator"},
            {"{\"meta\": {\"version\": 1}, \"release\": -1, \"digests\": {}}",
             VTC_ERROR_INVALID_DATA,
             "release: -1 is negative"},
            {"{\"meta\": {\"version\": 1}}", VTC_ERROR_INVALID_DATA, "digests: missing"},
            {"{\"meta\": {\"version\": 1}, \"hashes\": {}}",
             VTC_ERROR_INVALID_DATA,
             "digests: missing"},
            {"{\"meta\": {\"version\": 1}, \"digests\": []}",
             VTC_ERROR_INVALID_DATA,
             "digests: expected an object, got an array"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": \"00\"}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"]: expected an array of digests, got a string"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": []}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"]: empty list"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [1]}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"][0]: expected a string, got an integer"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [null]}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"][0]: expected a string, got null"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"00\"]}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"][0]: a digest must be"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"233ad3a8e77c63a7d9a56063ec2cad1eafa5885\"]}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"][0]: a digest must be"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"233AD3a8e77c63a7d9a56063ec2cad1eafa58850\"]}}",
             VTC_ERROR_INVALID_DATA,
             "digests[\"/a\"][0]: not a lowercase hex digit at offset 3"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"233ad3a8e77c63a7d9a56063ec2cad1eafa5885g\"]}}",
             VTC_ERROR_INVALID_DATA,
             "not a lowercase hex digit at offset 39"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"md5:233ad3a8e77c63a7d9a56063ec2cad1eafa58850\"]}}",
             VTC_ERROR_INVALID_DATA,
             "unknown digest algorithm 'md5'"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [\"sha256:233ad3a8e77c63a7d9a56063ec2cad1eafa58850\"]}}",
             VTC_ERROR_INVALID_DATA,
             "a sha256 digest has 64 hex digits"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"keyrings\": {\".ima\": [\"zz\"]}}",
             VTC_ERROR_INVALID_DATA,
             "keyrings[\".ima\"][0]"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima-buf\": 3}",
             VTC_ERROR_INVALID_DATA,
             "ima-buf: expected an object"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": \"/tmp\"}",
             VTC_ERROR_INVALID_DATA,
             "excludes: expected an array of regexes, got a string"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"/ok\", 5]}",
             VTC_ERROR_INVALID_DATA,
             "excludes[1]: expected a string, got an integer"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"/ok\", \"(\"]}",
             VTC_ERROR_INVALID_DATA,
             "excludes[1]: invalid regex '('"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"excludes\": [\"[a-\"]}",
             VTC_ERROR_INVALID_DATA,
             "excludes[0]: invalid regex"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": []}",
             VTC_ERROR_INVALID_DATA,
             "ima: expected an object"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"ignored_keyrings\": \"*\"}}",
             VTC_ERROR_INVALID_DATA,
             "ima.ignored_keyrings: expected an array"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"ignored_keyrings\": [true]}}",
             VTC_ERROR_INVALID_DATA,
             "ima.ignored_keyrings[0]: expected a string, got a boolean"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"log_hash_alg\": \"md5\"}}",
             VTC_ERROR_INVALID_DATA,
             "ima.log_hash_alg: 'md5'"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"log_hash_alg\": 1}}",
             VTC_ERROR_INVALID_DATA,
             "ima.log_hash_alg: expected a string"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"ima\": {\"dm_policy\": {}}}",
             VTC_ERROR_NOT_SUPPORTED,
             "ima.dm_policy"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": []}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys: expected a string, got an array"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"{\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys: not valid JSON"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"[]\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys: expected an object"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"{\\\"pubkeys\\\": []}\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys.keyids: expected an array"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"{\\\"pubkeys\\\": [\\\"!!\\\"], \\\"keyids\\\": []}\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys.pubkeys[0]: not base64"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"{\\\"pubkeys\\\": [\\\"AAAA\\\"], \\\"keyids\\\": []}\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys.pubkeys[0]: not a DER SubjectPublicKeyInfo"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"{\\\"pubkeys\\\": [], \\\"keyids\\\": [1]}\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys.keyids: 1 key ids for 0 keys"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {}, \"verification-keys\": \"\\\"[[[[\\\"\"}",
             VTC_ERROR_INVALID_DATA,
             "verification-keys: not valid JSON"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"a\\u0000b\": []}}",
             VTC_ERROR_INVALID_DATA,
             "\\u0000"},
            {"{\"meta\": {\"version\": 1}, \"digests\": {\"\xff\": []}}",
             VTC_ERROR_INVALID_DATA,
             "not UTF-8"},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcRuntimePolicy) policy = NULL;

                g_test_message("invalid %u: %s", i, cases[i].json);
                policy =
                    vtc_runtime_policy_new_from_json(cases[i].json, strlen(cases[i].json), &error);
                g_assert_null(policy);
                g_assert_nonnull(error);
                g_test_message("-> %s", error->message);
                g_assert_error(error, VTC_ERROR, cases[i].code);
                g_assert_nonnull(strstr(error->message, cases[i].needle));
        }
}

/* Limits: nesting, sizes, counts. */
static void
test_policy_limits(void)
{
        g_autoptr(GString) deep =
            g_string_new("{\"meta\": {\"version\": 1}, \"digests\": {}, \"x\": ");
        g_autoptr(GString) many =
            g_string_new("{\"meta\": {\"version\": 1}, \"digests\": {\"/a\": [");
        g_autoptr(GString) longname = g_string_new("{\"meta\": {\"version\": 1}, \"digests\": {\"");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;

        for (guint i = 0; i < 100000; i++)
                g_string_append_c(deep, '[');
        for (guint i = 0; i < 100000; i++)
                g_string_append_c(deep, ']');
        g_string_append_c(deep, '}');
        policy = vtc_runtime_policy_new_from_json(deep->str, deep->len, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_assert_nonnull(strstr(error->message, "nested deeper"));
        g_clear_error(&error);

        for (guint i = 0; i <= VTC_RUNTIME_POLICY_MAX_DIGESTS; i++)
                g_string_append_printf(many,
                                       "%s\"233ad3a8e77c63a7d9a56063ec2cad1eafa58850\"",
                                       i > 0 ? "," : "");
        g_string_append(many, "]}}");
        policy = vtc_runtime_policy_new_from_json(many->str, many->len, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_assert_nonnull(strstr(error->message, "digests[\"/a\"]: 1025 digests"));
        g_clear_error(&error);

        for (guint i = 0; i <= VTC_RUNTIME_POLICY_MAX_STRING; i++)
                g_string_append_c(longname, 'a');
        g_string_append(longname, "\": [\"233ad3a8e77c63a7d9a56063ec2cad1eafa58850\"]}}");
        policy = vtc_runtime_policy_new_from_json(longname->str, longname->len, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_assert_nonnull(strstr(error->message, "digests: a name longer than"));
}

/* An entry without a digest, a violation entry, boot_aggregate. */
static void
test_policy_odd_entries(void)
{
        const gchar *json = "{\"meta\": {\"version\": 1}, \"digests\": {\"boot_aggregate\": "
                            "[\"0000000000000000000000000000000000000000\"]}}";
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy =
            vtc_runtime_policy_new_from_json(json, strlen(json), &error);
        g_autoptr(VtcRuntimePolicyCheck) check = NULL;
        g_autoptr(VtcRuntimePolicyFailure) failure = NULL;
        guint8 zero[20] = {0};
        VtcImaEntry entry = {
            .pcr = 10,
            .template_kind = VTC_IMA_TEMPLATE_IMA_NG,
            .file_hash_alg = vtc_hash_alg_from_name("sha1"),
            .file_hash = zero,
            .file_hash_len = sizeof(zero),
            .path = (gchar *)"/etc/shadow",
            .violation = TRUE,
        };

        g_assert_no_error(error);
        check = vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_NONE);
        g_assert_true(vtc_runtime_policy_check_entry(check, &entry, 7, &failure, &error));
        g_assert_nonnull(failure);
        g_assert_true(failure->violation);
        g_assert_cmpuint(failure->index, ==, 7);
        {
                g_autofree gchar *s = vtc_runtime_policy_failure_to_string(failure);
                g_assert_cmpstr(
                    s,
                    ==,
                    "#7 /etc/shadow sha1:0000000000000000000000000000000000000000: path "
                    "not in policy [IMA violation entry]");
        }
        g_clear_pointer(&failure, vtc_runtime_policy_failure_free);

        entry.file_hash = NULL;
        entry.file_hash_len = 0;
        entry.violation = FALSE;
        g_assert_true(vtc_runtime_policy_check_entry(check, &entry, 8, &failure, &error));
        g_assert_cmpint(failure->reason, ==, VTC_RUNTIME_POLICY_REASON_NO_DIGEST);
        g_assert_cmpstr(failure->digest, ==, "(none)");
        g_clear_pointer(&failure, vtc_runtime_policy_failure_free);

        /* boot_aggregate: skipped by default, checked on request */
        entry.path = (gchar *)"boot_aggregate";
        entry.file_hash = zero;
        entry.file_hash_len = sizeof(zero);
        zero[0] = 1;
        g_assert_true(vtc_runtime_policy_check_entry(check, &entry, 0, &failure, &error));
        g_assert_null(failure);
        {
                g_autoptr(VtcRuntimePolicyCheck) strict =
                    vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE);
                g_assert_true(vtc_runtime_policy_check_entry(strict, &entry, 0, &failure, &error));
                g_assert_nonnull(failure);
                g_assert_cmpint(failure->reason,
                                ==,
                                VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY);
                g_clear_pointer(&failure, vtc_runtime_policy_failure_free);
                zero[0] = 0;
                g_assert_true(vtc_runtime_policy_check_entry(strict, &entry, 0, &failure, &error));
                g_assert_null(failure);
        }
        /* ima-buf that is not a key: the "ima-buf" list */
        {
                guint8 text[] = "dm_version=4.46.0;";
                VtcImaEntry buf = {
                    .pcr = 10,
                    .template_kind = VTC_IMA_TEMPLATE_IMA_BUF,
                    .file_hash_alg = vtc_hash_alg_from_name("sha1"),
                    .file_hash = zero,
                    .file_hash_len = sizeof(zero),
                    .path = (gchar *)"dm_table_load",
                    .buf = text,
                    .buf_len = sizeof(text) - 1,
                };
                g_assert_true(vtc_runtime_policy_check_entry(check, &buf, 3, &failure, &error));
                g_assert_nonnull(failure);
                g_assert_cmpint(failure->reason,
                                ==,
                                VTC_RUNTIME_POLICY_REASON_BUFFER_NOT_IN_POLICY);
        }
}

/* A log that fails everywhere keeps memory bounded: the first failures are kept, all counted. */
static void
test_policy_failure_cap(void)
{
        const gchar *json = "{\"meta\": {\"version\": 1}, \"digests\": {}}";
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy =
            vtc_runtime_policy_new_from_json(json, strlen(json), &error);
        g_autoptr(VtcRuntimePolicyCheck) check = NULL;
        VtcRuntimePolicyCheckStats stats = {0};
        guint8 digest[20] = {1};
        const guint n = VTC_RUNTIME_POLICY_MAX_KEPT_FAILURES + 500;
        VtcImaEntry entry = {
            .pcr = 10,
            .template_kind = VTC_IMA_TEMPLATE_IMA_NG,
            .file_hash_alg = vtc_hash_alg_from_name("sha1"),
            .file_hash = digest,
            .file_hash_len = sizeof(digest),
            .path = (gchar *)"/usr/bin/evil",
        };
        GPtrArray *failures;

        g_assert_no_error(error);
        check = vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_NONE);
        for (guint i = 0; i < n; i++)
                g_assert_true(vtc_runtime_policy_check_add(check, &entry, i, &error));
        failures = vtc_runtime_policy_check_get_failures(check);
        g_assert_cmpuint(failures->len, ==, VTC_RUNTIME_POLICY_MAX_KEPT_FAILURES);
        g_assert_cmpuint(((VtcRuntimePolicyFailure *)g_ptr_array_index(failures, 0))->index, ==, 0);
        vtc_runtime_policy_check_get_stats(check, &stats);
        g_assert_cmpuint(stats.failed, ==, n);
}

/* ---- the digest index: entries are looked up by digest, then by path ---- */

/* An entry of @path whose file digest is @len bytes of @digest (copied to a buffer of exactly
 * that size, so that ASan sees any read past it). */
static void
test_index_check(const VtcRuntimePolicy *policy,
                 const gchar *path,
                 const gchar *alg,
                 const guint8 *digest,
                 gsize len,
                 gint want_reason /* -1: accepted */)
{
        g_autoptr(VtcRuntimePolicyCheck) check =
            vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_NONE);
        g_autoptr(VtcRuntimePolicyFailure) failure = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *copy = g_memdup2(digest, len);
        g_autofree gchar *hex = vtc_hex_encode(digest, len);
        VtcImaEntry entry = {
            .pcr = 10,
            .template_kind = VTC_IMA_TEMPLATE_IMA_NG,
            .file_hash_alg = vtc_hash_alg_from_name(alg),
            .file_hash = copy,
            .file_hash_len = len,
            .path = (gchar *)path,
        };

        g_test_message("%s %s:%s", path, alg, hex);
        g_assert_true(vtc_runtime_policy_check_entry(check, &entry, 0, &failure, &error));
        g_assert_no_error(error);
        /* the index must say what the path table says */
        g_assert_cmpint(
            vtc_runtime_policy_lookup_digest(policy, path, entry.file_hash_alg, copy, len),
            ==,
            want_reason < 0);
        if (want_reason < 0) {
                g_assert_null(failure);
                return;
        }
        g_assert_nonnull(failure);
        g_assert_cmpint(failure->reason, ==, want_reason);
}

/* Fills @out with @len bytes: @seed in every one, @tail in the last one. */
static void
test_index_digest(guint8 *out, gsize len, guint8 seed, guint8 tail)
{
        memset(out, seed, len);
        out[len - 1] = tail;
}

static gchar *
test_index_hex(const gchar *alg, const guint8 *digest, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(digest, len);
        return alg != NULL ? g_strdup_printf("%s:%s", alg, hex) : g_steal_pointer(&hex);
}

/* The edge cases of looking an entry up by its digest, each one against the path table. */
static void
test_policy_digest_index(void)
{
        const gint ok = -1;
        const gint no_path = VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY;
        const gint no_digest = VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree gchar *json = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;
        guint8 d1[20];
        guint8 d1_head[20]; /* d1's first 19 bytes: the same first 8 bytes */
        guint8 d2[20];
        guint8 d3[32];
        guint8 empty[20];
        guint8 long_digest[65];
        struct {
                const gchar *path;
                const gchar *digests[3];
        } paths[] = {
            {"/a", {"d1"}},
            {"/b", {"d1"}}, /* the same digest under two paths */
            {"/e", {"d1_head"}},
            {"/c", {"d2", "sha256:d3"}},
            {"/d", {"sm3_256:d3"}},      /* d3's bytes under another algorithm */
            {"/g", {"sha256:d3", "d3"}}, /* the same bytes twice for one path */
            {"/ab/c", {"d2"}},           /* a path that "/ab" is a prefix of */
        };

        test_index_digest(d1, sizeof(d1), 0x11, 0x01);
        test_index_digest(d1_head, sizeof(d1_head), 0x11, 0x02);
        test_index_digest(d2, sizeof(d2), 0x22, 0x22);
        test_index_digest(d3, sizeof(d3), 0x33, 0x33);
        test_index_digest(empty, sizeof(empty), 0xda, 0x09);
        test_index_digest(long_digest, sizeof(long_digest), 0x11, 0x01);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "meta");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_int_value(b, 1);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "digests");
        json_builder_begin_object(b);
        for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
                json_builder_set_member_name(b, paths[i].path);
                json_builder_begin_array(b);
                for (guint j = 0; j < G_N_ELEMENTS(paths[i].digests); j++) {
                        const gchar *name = paths[i].digests[j];
                        const gchar *colon;
                        g_autofree gchar *alg = NULL;
                        g_autofree gchar *text = NULL;
                        if (name == NULL)
                                break;
                        colon = strchr(name, ':');
                        if (colon != NULL) {
                                alg = g_strndup(name, colon - name);
                                name = colon + 1;
                        }
                        if (g_strcmp0(name, "d1") == 0)
                                text = test_index_hex(alg, d1, sizeof(d1));
                        else if (g_strcmp0(name, "d1_head") == 0)
                                text = test_index_hex(alg, d1_head, sizeof(d1_head));
                        else if (g_strcmp0(name, "d2") == 0)
                                text = test_index_hex(alg, d2, sizeof(d2));
                        else
                                text = test_index_hex(alg, d3, sizeof(d3));
                        json_builder_add_string_value(b, text);
                }
                json_builder_end_array(b);
        }
        /* the empty file's digest under more paths than are compared one by one */
        for (guint i = 0; i < 20; i++) {
                g_autofree gchar *path = g_strdup_printf("/empty/%u", i);
                g_autofree gchar *text = test_index_hex(NULL, empty, sizeof(empty));
                json_builder_set_member_name(b, path);
                json_builder_begin_array(b);
                json_builder_add_string_value(b, text);
                json_builder_end_array(b);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json = json_generator_to_data(gen, NULL);
        policy = vtc_runtime_policy_new_from_json(json, strlen(json), &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_runtime_policy_get_n_paths(policy), ==, G_N_ELEMENTS(paths) + 20);

        /* one digest, two paths: each accepted, a third path is not */
        test_index_check(policy, "/a", "sha1", d1, sizeof(d1), ok);
        test_index_check(policy, "/b", "sha1", d1, sizeof(d1), ok);
        test_index_check(policy, "/x", "sha1", d1, sizeof(d1), no_path);
        /* a digest of path A presented with path B: B's digest is wrong, or B is unknown */
        test_index_check(policy, "/c", "sha1", d1, sizeof(d1), no_digest);
        test_index_check(policy, "/a", "sha1", d2, sizeof(d2), no_digest);
        test_index_check(policy, "/c", "sha1", d2, sizeof(d2), ok);
        test_index_check(policy, "/ab", "sha1", d2, sizeof(d2), no_path);
        test_index_check(policy, "/ab/c/", "sha1", d2, sizeof(d2), no_path);
        test_index_check(policy, "/", "sha1", d2, sizeof(d2), no_path);
        test_index_check(policy, "", "sha1", d2, sizeof(d2), no_path);
        /* the same first 8 bytes are not the same digest */
        test_index_check(policy, "/e", "sha1", d1_head, sizeof(d1_head), ok);
        test_index_check(policy, "/e", "sha1", d1, sizeof(d1), no_digest);
        test_index_check(policy, "/a", "sha1", d1_head, sizeof(d1_head), no_digest);
        /* an algorithm named in the policy must be the entry's; a bare digest matches any */
        test_index_check(policy, "/c", "sha256", d3, sizeof(d3), ok);
        test_index_check(policy, "/c", "sm3_256", d3, sizeof(d3), no_digest);
        test_index_check(policy, "/d", "sm3_256", d3, sizeof(d3), ok);
        test_index_check(policy, "/d", "sha256", d3, sizeof(d3), no_digest);
        test_index_check(policy, "/g", "sha256", d3, sizeof(d3), ok);
        test_index_check(policy, "/g", "sm3_256", d3, sizeof(d3), ok);
        test_index_check(policy, "/g", "sha3_256", d3, sizeof(d3), ok);
        /* a digest shared by many paths */
        for (guint i = 0; i < 20; i++) {
                g_autofree gchar *path = g_strdup_printf("/empty/%u", i);
                test_index_check(policy, path, "sha1", empty, sizeof(empty), ok);
                test_index_check(policy, path, "sha1", d1, sizeof(d1), no_digest);
        }
        test_index_check(policy, "/empty/20", "sha1", empty, sizeof(empty), no_path);
        test_index_check(policy, "/a", "sha1", empty, sizeof(empty), no_digest);
        /* lengths no policy digest has, the shortest shorter than the index's hash */
        test_index_check(policy, "/a", "sha1", d1, 19, no_digest);
        test_index_check(policy, "/a", "sha1", d1, 8, no_digest);
        test_index_check(policy, "/a", "sha1", d1, 4, no_digest);
        test_index_check(policy, "/a", "sha1", d1, 1, no_digest);
        test_index_check(policy, "/a", "sha1", long_digest, sizeof(long_digest), no_digest);
}

/* Many paths sharing digests, every (path, digest, algorithm): the index against the path
 * table, and the reason against whether the path is in the policy. */
static void
test_policy_digest_index_random(void)
{
        enum { N_POOL = 40, N_PATHS = 300, N_UNKNOWN = 30 };
        const gchar *algs[] = {"sha1", "sha256", "sm3_256", "sha384"};
        g_autoptr(GString) json = g_string_new("{\"meta\": {\"version\": 1}, \"digests\": {");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;
        guint8 pool[N_POOL][48];
        gsize pool_len[N_POOL];
        guint n_accepted = 0;

        for (guint i = 0; i < N_POOL; i++) {
                pool_len[i] = i % 3 == 0 ? 32 : i % 7 == 0 ? 48 : 20;
                for (gsize j = 0; j < pool_len[i]; j++)
                        pool[i][j] = (guint8)g_test_rand_int_range(0, 256);
                /* some share their first 8 (or more) bytes with the one before */
                if (i % 4 == 1)
                        memcpy(pool[i], pool[i - 1], 8 + i % 5);
        }
        for (guint p = 0; p < N_PATHS; p++) {
                guint n = (guint)g_test_rand_int_range(1, 4);
                g_string_append_printf(json, "%s\"/p/%u\": [", p > 0 ? ", " : "", p);
                for (guint k = 0; k < n; k++) {
                        /* pool[0] is under a tenth of the paths: more than are scanned */
                        guint d =
                            p % 10 == 0 && k == 0 ? 0 : (guint)g_test_rand_int_range(0, N_POOL);
                        g_autofree gchar *hex = vtc_hex_encode(pool[d], pool_len[d]);
                        const gchar *alg = NULL;
                        if (g_test_rand_bit())
                                alg = pool_len[d] == 20 ? "sha1"
                                      : pool_len[d] == 32
                                          ? (g_test_rand_bit() ? "sha256" : "sm3_256")
                                          : "sha384";
                        g_string_append_printf(json,
                                               "%s\"%s%s%s\"",
                                               k > 0 ? ", " : "",
                                               alg != NULL ? alg : "",
                                               alg != NULL ? ":" : "",
                                               hex);
                }
                g_string_append(json, "]");
        }
        g_string_append(json, "}}");
        policy = vtc_runtime_policy_new_from_json(json->str, json->len, &error);
        g_assert_no_error(error);

        for (guint p = 0; p < N_PATHS + N_UNKNOWN; p++) {
                g_autofree gchar *path = g_strdup_printf("/p/%u", p);
                g_autoptr(VtcRuntimePolicyCheck) check =
                    vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_NONE);
                for (guint d = 0; d < N_POOL; d++) {
                        for (guint a = 0; a < G_N_ELEMENTS(algs); a++) {
                                g_autoptr(VtcRuntimePolicyFailure) failure = NULL;
                                VtcImaEntry entry = {
                                    .pcr = 10,
                                    .template_kind = VTC_IMA_TEMPLATE_IMA_NG,
                                    .file_hash_alg = vtc_hash_alg_from_name(algs[a]),
                                    .file_hash = pool[d],
                                    .file_hash_len = pool_len[d],
                                    .path = path,
                                };
                                gboolean want =
                                    vtc_runtime_policy_lookup_digest(policy,
                                                                     path,
                                                                     entry.file_hash_alg,
                                                                     pool[d],
                                                                     pool_len[d]);
                                g_assert_true(vtc_runtime_policy_check_entry(check,
                                                                             &entry,
                                                                             0,
                                                                             &failure,
                                                                             &error));
                                g_assert_no_error(error);
                                if (want) {
                                        g_assert_null(failure);
                                        n_accepted++;
                                        continue;
                                }
                                g_assert_nonnull(failure);
                                g_assert_cmpint(failure->reason,
                                                ==,
                                                p < N_PATHS
                                                    ? VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY
                                                    : VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY);
                        }
                }
        }
        /* every path has at least one digest, accepted under at least one algorithm */
        g_assert_cmpuint(n_accepted, >=, N_PATHS);
}

/* Excludes skip the regex for a path that starts with none of their literal prefixes: the
 * verdict must be the regexes', each run on its own, whatever the patterns. */
static void
test_policy_excludes_prefixes(void)
{
        const gchar *with_prefixes[] = {
            "/tmp/.*",
            "/var/log/.*",
            "/var/.*\\.log",
            "/var/",
            "/tmpx?/y",
            "/ab{2}c",
            "/ab*d",
            "/ac+e",
            "/q\\.r",
            "boot_aggregate",
            "/z:;@%=~!<>&'\"-,_9",
            "/zz.*",
            "/d.t/.*",
        };
        const gchar *without[] = {"(?i)/UPPER/.*", "/alt/a|/other/.*", "/grp/(x|y)/.*"};
        /* alternations, every other pattern with a prefix */
        const gchar *alternation[] = {"/tmp/.*", "/alt/a|/other/.*", "/grp/(x|y)/.*"};
        const gchar *everything[] = {"/tmp/.*", ""};
        const gchar *backref[] = {"/b(a)\\1x", "/tmp/.*"};
        const gchar *paths[] = {
            "",
            "/",
            "/tmp",
            "/tmp/",
            "/tmp/x",
            "/tmpy",
            "/tmp/y",
            "/tmpx/y",
            "/tmpxx/y",
            "/va",
            "/var",
            "/var/",
            "/var/log",
            "/var/log/x",
            "/var/a.log",
            "/var/z.log",
            "/var/zz",
            "/dat/x",
            "/d.t/x",
            "/d/t/x",
            "/a",
            "/ab",
            "/abbc",
            "/abc",
            "/ad",
            "/abbbd",
            "/ace",
            "/ae",
            "/q.r",
            "/qxr",
            "/q",
            "boot_aggregate",
            "boot_aggregat",
            "/z:;@%=~!<>&'\"-,_9",
            "/z:;@%=~!<>&'\"-,_",
            "/zz",
            "/zzz",
            "/zy",
            "/UPPER/x",
            "/upper/x",
            "/alt/a",
            "/alt/b",
            "/other/z",
            "/grp/x/1",
            "/grp/z/1",
            "/baax",
            "/bab",
            "\xff/tmp/",
            "/tmp/\xff",
            "~",
        };
        struct {
                const gchar *const *patterns;
                guint n;
        } sets[] = {
            {with_prefixes, G_N_ELEMENTS(with_prefixes)},
            {without, G_N_ELEMENTS(without)},
            {backref, G_N_ELEMENTS(backref)},
            {alternation, G_N_ELEMENTS(alternation)},
            {everything, G_N_ELEMENTS(everything)},
            {NULL, 0}, /* with_prefixes and without */
        };

        for (guint s = 0; s < G_N_ELEMENTS(sets); s++) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonGenerator) gen = json_generator_new();
                g_autoptr(JsonNode) root = NULL;
                g_autoptr(GPtrArray) patterns = g_ptr_array_new();
                g_autoptr(GPtrArray) regexes =
                    g_ptr_array_new_with_free_func((GDestroyNotify)g_regex_unref);
                g_autofree gchar *json = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcRuntimePolicy) policy = NULL;

                if (sets[s].patterns != NULL) {
                        for (guint i = 0; i < sets[s].n; i++)
                                g_ptr_array_add(patterns, (gpointer)sets[s].patterns[i]);
                } else {
                        for (guint i = 0; i < G_N_ELEMENTS(with_prefixes); i++)
                                g_ptr_array_add(patterns, (gpointer)with_prefixes[i]);
                        for (guint i = 0; i < G_N_ELEMENTS(without); i++)
                                g_ptr_array_add(patterns, (gpointer)without[i]);
                }
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "meta");
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "version");
                json_builder_add_int_value(b, 1);
                json_builder_end_object(b);
                json_builder_set_member_name(b, "digests");
                json_builder_begin_object(b);
                json_builder_end_object(b);
                json_builder_set_member_name(b, "excludes");
                json_builder_begin_array(b);
                for (guint i = 0; i < patterns->len; i++) {
                        GRegex *re = g_regex_new(g_ptr_array_index(patterns, i),
                                                 G_REGEX_RAW | G_REGEX_ANCHORED,
                                                 0,
                                                 &error);
                        g_assert_no_error(error);
                        g_ptr_array_add(regexes, re);
                        json_builder_add_string_value(b, g_ptr_array_index(patterns, i));
                }
                json_builder_end_array(b);
                json_builder_end_object(b);
                root = json_builder_get_root(b);
                json_generator_set_root(gen, root);
                json = json_generator_to_data(gen, NULL);
                policy = vtc_runtime_policy_new_from_json(json, strlen(json), &error);
                g_assert_no_error(error);
                g_assert_cmpuint(vtc_runtime_policy_get_n_excludes(policy), ==, patterns->len);

                for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
                        g_autofree gchar *escaped = g_strescape(paths[i], NULL);
                        gboolean want = FALSE;
                        for (guint j = 0; j < regexes->len && !want; j++)
                                want =
                                    g_regex_match(g_ptr_array_index(regexes, j), paths[i], 0, NULL);
                        g_test_message("set %u, %s: %s", s, escaped, want ? "excluded" : "not");
                        g_assert_cmpint(vtc_runtime_policy_is_excluded(policy, paths[i]), ==, want);
                }
        }
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/policy/verdicts", test_policy_verdicts);
        g_test_add_func("/policy/failure-details", test_policy_failure_details);
        g_test_add_func("/policy/signature-tampered", test_policy_signature_tampered);
        g_test_add_func("/policy/ignored-keyrings", test_policy_ignored_keyrings);
        g_test_add_func("/policy/key-learning", test_policy_key_learning);
        g_test_add_func("/policy/excludes", test_policy_excludes);
        g_test_add_func("/policy/files", test_policy_files);
        g_test_add_func("/policy/dsse", test_policy_dsse);
        g_test_add_func("/policy/invalid", test_policy_invalid);
        g_test_add_func("/policy/limits", test_policy_limits);
        g_test_add_func("/policy/odd-entries", test_policy_odd_entries);
        g_test_add_func("/policy/failure-cap", test_policy_failure_cap);
        g_test_add_func("/policy/digest-index", test_policy_digest_index);
        g_test_add_func("/policy/digest-index-random", test_policy_digest_index_random);
        g_test_add_func("/policy/excludes-prefixes", test_policy_excludes_prefixes);
        return g_test_run();
}
