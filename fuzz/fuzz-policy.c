/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime-policy parser (plain JSON and DSSE envelopes), then, when a policy parses, the
 * check of fixed real entries against it: a file entry, an RSA-signed and an EC-signed ima-sig
 * entry (Keylime's test data, so that "verification-keys" in the input can make them verify), a
 * keyring entry holding a certificate (key learning) and a plain ima-buf entry.
 */
#include <openssl/evp.h>
#include <stdint.h>

#include "vtc-policy.h"

/* Keylime test/test_ima_verification.py SIGNATURES and KEYRINGS */
static const gchar *fuzz_sig_rsa =
    "030204f3452d2301009dd340c852f37e35748363586939d4199b6684be27e7c1236ca1528f708372ed9cd52a0d9"
    "91f66448790f5616ed5bd7f9bbd22193b1e3e54f6bf29a1497945a34d1b418b24f4cbeaef897bf3cebca27065eb"
    "b8761b46bc2662fe76f141245b9186a5ac8493c7f4976cf0d6dfc085c3e503e3f771bc3ccb121230db76fd8aba4"
    "f45f060ad64ab3afd99b4e52824b9eba12e93e46f9dcb2fa01d9cef89f298a0da02a82a4fb56924afd3e3c277a1"
    "302d99f770d488449df2d43eb5b174a0a528827e6877b965c2f0b7c89cf1aa26a7417a892df4c2294e2872d6274"
    "8b72ea04ecb0689b5d792e615a9bf9d56f6e0f298560bf9441df0a22729c5f23389f028c25f";
static const gchar *fuzz_digest_rsa =
    "d33d5d13792292e202dbf69a6f1b07bc8a02f01424db8489ba7bb7d43c0290ef";
static const gchar *fuzz_sig_ec =
    "030204531f402500483046022100fe24678d21083ead47660e1a2d553a592d777c478d1b0466de6ed484b54956b"
    "3022100cad3adb37f277bbb03544d6107751b4cd4f2289d8353fa36257400a99334d5c3";
static const gchar *fuzz_digest_ec =
    "b8ae0b8dd04a5935cd8165aa2260cd11b658bd71629bdb52256a675a1f73907b";
static const gchar *fuzz_cert =
    "308201d130820178a003020102020101300906072a8648ce3d0401301b3119301706035504030c1054657374696e"
    "672d45434453412d4341301e170d3231303631313133353831365a170d3232303631313133353831365a3021311f"
    "301d06035504030c1665636473612d63612d7369676e65642d65632d6b65793059301306072a8648ce3d020106"
    "082a8648ce3d030107034200044ce55be36765b59de2767f6d6721be8bea8e3db4ccc25ab76c30f5d1c11752ae"
    "1699cc39d31b378f69fecbe65ce1eb09e075f840fe4c052bafb9039742b76202a381a73081a430090603551d13"
    "04023000301d0603551d0e04160414b6fb3c083d19695be441c5f59afb95742cb6058c30560603551d23044f30"
    "4d80140a51da379e45bd7ac623c3f765b53e1e2dde5195a11fa41d301b3119301706035504030c105465737469"
    "6e672d45434453412d434182142bb351b0d645e4d8594316ac3c96fc6d9c83791530130603551d25040c300a06"
    "082b06010505070302300b0603551d0f040403020780300906072a8648ce3d04010348003045022033d47b623c"
    "9feefab7d6e68b001ac6463433f99b61ce7b951a32da065a5d17af022100f3d73e38070053aec63a941ed36ae0"
    "dcfa25ed9cd538c459732a7e782132a4ca";
static const gchar *fuzz_digest_cert =
    "a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a42257065f3d5a";

static guint8 *
fuzz_unhex(const gchar *hex, gsize *out_len)
{
        g_autoptr(GBytes) bytes = vtc_hex_decode(hex, NULL);
        g_assert(bytes != NULL);
        return g_bytes_unref_to_data(g_steal_pointer(&bytes), out_len);
}

typedef struct {
        VtcImaEntry entries[6];
        EVP_PKEY *dsse_key;
} FuzzFixture;

static const FuzzFixture *
fuzz_fixture(void)
{
        static FuzzFixture fx;
        static gsize done = 0;

        if (g_once_init_enter(&done)) {
                const VtcHashAlg *sha256 = vtc_hash_alg_from_name("sha256");
                const VtcHashAlg *sha1 = vtc_hash_alg_from_name("sha1");
                static guint8 text[] = "dm_version=4.46.0;name=root;";
                VtcImaEntry *e = fx.entries;

                e[0] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_NG,
                                     .file_hash_alg = sha1,
                                     .path = (gchar *)"/usr/bin/zless"};
                e[0].file_hash =
                    fuzz_unhex("233ad3a8e77c63a7d9a56063ec2cad1eafa58850", &e[0].file_hash_len);
                e[1] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_BUF,
                                     .file_hash_alg = sha256,
                                     .path = (gchar *)".ima"};
                e[1].file_hash = fuzz_unhex(fuzz_digest_cert, &e[1].file_hash_len);
                e[1].buf = fuzz_unhex(fuzz_cert, &e[1].buf_len);
                e[2] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_SIG,
                                     .file_hash_alg = sha256,
                                     .path = (gchar *)"/usr/bin/dd"};
                e[2].file_hash = fuzz_unhex(fuzz_digest_rsa, &e[2].file_hash_len);
                e[2].sig = fuzz_unhex(fuzz_sig_rsa, &e[2].sig_len);
                e[3] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_SIG,
                                     .file_hash_alg = sha256,
                                     .path = (gchar *)"/usr/bin/zmore"};
                e[3].file_hash = fuzz_unhex(fuzz_digest_ec, &e[3].file_hash_len);
                e[3].sig = fuzz_unhex(fuzz_sig_ec, &e[3].sig_len);
                e[4] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_BUF,
                                     .file_hash_alg = sha256,
                                     .path = (gchar *)"dm_table_load",
                                     .buf = text,
                                     .buf_len = sizeof(text) - 1};
                e[4].file_hash = fuzz_unhex(fuzz_digest_ec, &e[4].file_hash_len);
                e[5] = (VtcImaEntry){.template_kind = VTC_IMA_TEMPLATE_IMA_NG,
                                     .file_hash_alg = sha256,
                                     .path = (gchar *)"boot_aggregate"};
                e[5].file_hash = fuzz_unhex(fuzz_digest_ec, &e[5].file_hash_len);
                fx.dsse_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                g_once_init_leave(&done, 1);
        }
        return &fx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const FuzzFixture *fx = fuzz_fixture();
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;
        g_autoptr(VtcRuntimePolicy) signed_policy = NULL;

        policy = vtc_runtime_policy_new_from_json((const gchar *)data, size, &error);
        g_assert((policy == NULL) == (error != NULL));
        g_clear_error(&error);
        /* the envelope path: the signature cannot verify with this key, the parsing runs */
        signed_policy =
            vtc_runtime_policy_new_from_dsse((const gchar *)data, size, fx->dsse_key, &error);
        g_assert(signed_policy == NULL && error != NULL);
        if (policy == NULL)
                return 0;
        for (guint flags = 0; flags < 2; flags++) {
                g_autoptr(VtcRuntimePolicyCheck) check =
                    vtc_runtime_policy_check_new(policy, flags);
                VtcRuntimePolicyCheckStats stats;
                for (guint i = 0; i < G_N_ELEMENTS(fx->entries); i++) {
                        g_autoptr(GError) error_local = NULL;
                        g_assert(
                            vtc_runtime_policy_check_add(check, &fx->entries[i], i, &error_local));
                }
                for (guint i = 0; i < vtc_runtime_policy_check_get_failures(check)->len; i++) {
                        g_autofree gchar *s = vtc_runtime_policy_failure_to_string(
                            g_ptr_array_index(vtc_runtime_policy_check_get_failures(check), i));
                        g_assert(s != NULL);
                }
                vtc_runtime_policy_check_get_stats(check, &stats);
                g_assert(stats.checked == G_N_ELEMENTS(fx->entries));
                g_assert(stats.failed == vtc_runtime_policy_check_get_failures(check)->len);
        }
        return 0;
}
