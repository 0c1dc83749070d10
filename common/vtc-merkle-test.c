/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/sha.h>

#include "vtc-error.h"
#include "vtc-merkle.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

/* RFC 6962 reference data (the Certificate Transparency test vectors). */
static const gchar *ct_leaves[] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const gchar *ct_roots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void
ct_leaf_hash(const gchar *hex, guint8 *out)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = vtc_hex_decode(hex, &error);
        g_autoptr(GByteArray) buf = g_byte_array_new();
        const guint8 zero = 0x00;

        g_assert_no_error(error);
        g_byte_array_append(buf, &zero, 1);
        g_byte_array_append(buf, g_bytes_get_data(data, NULL), (guint)g_bytes_get_size(data));
        SHA256(buf->data, buf->len, out);
}

/* An independent, recursive RFC 6962 MTH to check the level-by-level builder against. */
static void
reference_root(const guint8 *leaves, gsize n, guint8 *out)
{
        gsize k = 1;
        guint8 left[32];
        guint8 right[32];

        if (n == 1) {
                memcpy(out, leaves, 32);
                return;
        }
        while (k * 2 < n)
                k *= 2;
        reference_root(leaves, k, left);
        reference_root(leaves + k * 32, n - k, right);
        vtc_merkle_node_hash(left, right, out);
}

static void
vtc_merkle_ct_vectors_test(void)
{
        guint8 leaves[8 * 32];
        g_autoptr(GError) error = NULL;
        guint8 proof[VTC_MERKLE_MAX_PROOF * 32];
        gsize n_proof = 0;
        g_autoptr(VtcMerkleTree) tree8 = NULL;
        /* RFC 6962 inclusion proofs of leaf 0 and leaf 5 in the tree of 8 */
        const gchar *proof0[] = {
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        };
        const gchar *proof5[] = {
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        };

        for (guint i = 0; i < 8; i++)
                ct_leaf_hash(ct_leaves[i], leaves + i * 32);
        for (gsize n = 1; n <= 8; n++) {
                g_autoptr(VtcMerkleTree) tree = vtc_merkle_tree_new(leaves, n, &error);
                g_autofree gchar *hex = NULL;

                g_assert_no_error(error);
                hex = vtc_hex_encode(vtc_merkle_tree_get_root(tree), 32);
                g_assert_cmpstr(hex, ==, ct_roots[n - 1]);
        }
        tree8 = vtc_merkle_tree_new(leaves, 8, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_merkle_tree_get_proof(tree8, 0, proof, &n_proof, &error));
        g_assert_cmpuint(n_proof, ==, 3);
        for (guint i = 0; i < 3; i++) {
                g_autofree gchar *hex = vtc_hex_encode(proof + i * 32, 32);
                g_assert_cmpstr(hex, ==, proof0[i]);
        }
        g_assert_true(vtc_merkle_tree_get_proof(tree8, 5, proof, &n_proof, &error));
        g_assert_cmpuint(n_proof, ==, 3);
        for (guint i = 0; i < 3; i++) {
                g_autofree gchar *hex = vtc_hex_encode(proof + i * 32, 32);
                g_assert_cmpstr(hex, ==, proof5[i]);
        }
}

static void
vtc_merkle_all_sizes_test(void)
{
        const gsize max = 70;
        g_autofree guint8 *leaves = g_malloc(max * 32);

        for (gsize i = 0; i < max; i++) {
                guint8 uuid[16];
                guint8 binding[32];
                memset(uuid, (int)i, sizeof(uuid));
                memset(binding, (int)(i * 7 + 1), sizeof(binding));
                vtc_merkle_leaf_hash(uuid, binding, leaves + i * 32);
        }
        for (gsize n = 1; n <= max; n++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcMerkleTree) tree = vtc_merkle_tree_new(leaves, n, &error);
                guint8 ref[32];

                g_assert_no_error(error);
                g_assert_cmpuint(vtc_merkle_tree_get_size(tree), ==, n);
                reference_root(leaves, n, ref);
                g_assert_cmpmem(vtc_merkle_tree_get_root(tree), 32, ref, 32);
                for (gsize i = 0; i < n; i++) {
                        guint8 proof[VTC_MERKLE_MAX_PROOF * 32];
                        gsize n_proof = 0;
                        const guint8 *root = vtc_merkle_tree_get_root(tree);
                        const guint8 *leaf = leaves + i * 32;

                        g_assert_true(vtc_merkle_tree_get_proof(tree, i, proof, &n_proof, &error));
                        g_assert_no_error(error);
                        g_assert_true(
                            vtc_merkle_verify_inclusion(leaf, i, n, proof, n_proof, root, &error));
                        g_assert_no_error(error);

                        /* every wrong claim is refused */
                        if (n > 1) {
                                g_assert_false(vtc_merkle_verify_inclusion(leaf,
                                                                           (i + 1) % n,
                                                                           n,
                                                                           proof,
                                                                           n_proof,
                                                                           root,
                                                                           &error));
                                g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
                                g_clear_error(&error);
                                g_assert_false(
                                    vtc_merkle_verify_inclusion(leaves + ((i + 1) % n) * 32,
                                                                i,
                                                                n,
                                                                proof,
                                                                n_proof,
                                                                root,
                                                                &error));
                                g_clear_error(&error);
                        }
                        /* (A larger claimed tree size can still verify for some shapes, as RFC 9162
                         * allows: the 0x00/0x01 prefixes bind the leaf to the root all the same,
                         * and the size is not what the host quote commits to.) */
                        g_assert_false(vtc_merkle_verify_inclusion(leaf,
                                                                   i,
                                                                   n,
                                                                   proof,
                                                                   n_proof + 1,
                                                                   root,
                                                                   &error));
                        g_clear_error(&error);
                        if (n_proof > 0) {
                                g_assert_false(vtc_merkle_verify_inclusion(leaf,
                                                                           i,
                                                                           n,
                                                                           proof,
                                                                           n_proof - 1,
                                                                           root,
                                                                           &error));
                                g_clear_error(&error);
                                for (gsize b = 0; b < n_proof * 32; b += 13) {
                                        proof[b] ^= 0x01;
                                        g_assert_false(vtc_merkle_verify_inclusion(leaf,
                                                                                   i,
                                                                                   n,
                                                                                   proof,
                                                                                   n_proof,
                                                                                   root,
                                                                                   &error));
                                        g_clear_error(&error);
                                        proof[b] ^= 0x01;
                                }
                        }
                }
        }
}

static void
vtc_merkle_limits_test(void)
{
        g_autoptr(GError) error = NULL;
        guint8 leaf[32] = {0};
        guint8 proof[VTC_MERKLE_MAX_PROOF * 32];
        gsize n_proof = 0;
        g_autoptr(VtcMerkleTree) tree = NULL;

        g_assert_null(vtc_merkle_tree_new(leaf, 0, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_merkle_tree_new(leaf, VTC_MERKLE_MAX_LEAVES + 1, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* a tree of one leaf: the root is the leaf, the proof empty */
        tree = vtc_merkle_tree_new(leaf, 1, &error);
        g_assert_no_error(error);
        g_assert_true(vtc_merkle_tree_get_proof(tree, 0, proof, &n_proof, &error));
        g_assert_cmpuint(n_proof, ==, 0);
        g_assert_true(vtc_merkle_verify_inclusion(leaf, 0, 1, proof, 0, leaf, &error));
        g_assert_false(vtc_merkle_tree_get_proof(tree, 1, proof, &n_proof, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_false(vtc_merkle_verify_inclusion(leaf, 0, 0, proof, 0, leaf, &error));
        g_clear_error(&error);
        g_assert_false(vtc_merkle_verify_inclusion(leaf, 5, 3, proof, 0, leaf, &error));
        g_clear_error(&error);
        g_assert_false(
            vtc_merkle_verify_inclusion(leaf, 0, 2, proof, VTC_MERKLE_MAX_PROOF + 1, leaf, &error));
        g_clear_error(&error);
}

static void
vtc_merkle_binding_test(void)
{
        /* binding = SHA-256(attest || nonce), leaf = SHA-256(0x00 || uuid || binding) */
        const guint8 attest[] = {0xff, 0x54, 0x43, 0x47};
        const guint8 nonce[] = {1, 2, 3};
        const guint8 all[] = {0xff, 0x54, 0x43, 0x47, 1, 2, 3};
        guint8 uuid[16];
        guint8 binding[32];
        guint8 expect[32];
        guint8 leaf[32];
        guint8 buf[49];

        vtc_merkle_binding(attest, sizeof(attest), nonce, sizeof(nonce), binding);
        SHA256(all, sizeof(all), expect);
        g_assert_cmpmem(binding, 32, expect, 32);
        memset(uuid, 0xab, sizeof(uuid));
        vtc_merkle_leaf_hash(uuid, binding, leaf);
        buf[0] = 0;
        memcpy(buf + 1, uuid, 16);
        memcpy(buf + 17, binding, 32);
        SHA256(buf, sizeof(buf), expect);
        g_assert_cmpmem(leaf, 32, expect, 32);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/merkle/ct-vectors", vtc_merkle_ct_vectors_test);
        g_test_add_func("/merkle/all-sizes", vtc_merkle_all_sizes_test);
        g_test_add_func("/merkle/limits", vtc_merkle_limits_test);
        g_test_add_func("/merkle/binding", vtc_merkle_binding_test);
        return g_test_run();
}
