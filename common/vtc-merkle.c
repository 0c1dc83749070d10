/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL 3.0's one-shot SHA256() looks the algorithm up on every call (EVP_Q_digest), which made
 * a 4096-leaf batch cost 60-95 ms; the low-level SHA256_* functions on a stack context hash the
 * 49- and 65-byte inputs here several times faster (see vtc-ima.c for the measurements and for
 * why these two lines are needed with the project-wide OPENSSL_NO_DEPRECATED).
 */
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED

#include "vtc-merkle.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "vtc-error.h"

struct _VtcMerkleTree {
        gsize n_leaves;
        guint n_levels;
        /* levels[0] holds the leaves, levels[n_levels - 1] the root; each a packed hash array */
        guint8 *levels[VTC_MERKLE_MAX_PROOF + 1];
        gsize level_len[VTC_MERKLE_MAX_PROOF + 1];
};

void
vtc_merkle_binding(const guint8 *attest,
                   gsize attest_len,
                   const guint8 *nonce,
                   gsize nonce_len,
                   guint8 out[VTC_MERKLE_HASH_SIZE])
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();

        /* SHA-256 over memory fails only when memory is gone, where GLib aborts anyway */
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(md, attest, attest_len) != 1 ||
            EVP_DigestUpdate(md, nonce, nonce_len) != 1 || EVP_DigestFinal_ex(md, out, NULL) != 1)
                g_error("SHA-256 failed");
        EVP_MD_CTX_free(md);
}

static void
vtc_merkle_sha256(const guint8 *buf, gsize len, guint8 out[VTC_MERKLE_HASH_SIZE])
{
        SHA256_CTX ctx;

        /* on memory these cannot fail */
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, buf, len);
        SHA256_Final(out, &ctx);
}

void
vtc_merkle_leaf_hash(const guint8 uuid[16],
                     const guint8 binding[VTC_MERKLE_HASH_SIZE],
                     guint8 out[VTC_MERKLE_HASH_SIZE])
{
        guint8 buf[1 + 16 + VTC_MERKLE_HASH_SIZE];

        buf[0] = 0x00;
        memcpy(buf + 1, uuid, 16);
        memcpy(buf + 17, binding, VTC_MERKLE_HASH_SIZE);
        vtc_merkle_sha256(buf, sizeof(buf), out);
}

void
vtc_merkle_node_hash(const guint8 left[VTC_MERKLE_HASH_SIZE],
                     const guint8 right[VTC_MERKLE_HASH_SIZE],
                     guint8 out[VTC_MERKLE_HASH_SIZE])
{
        guint8 buf[1 + 2 * VTC_MERKLE_HASH_SIZE];

        buf[0] = 0x01;
        memcpy(buf + 1, left, VTC_MERKLE_HASH_SIZE);
        memcpy(buf + 1 + VTC_MERKLE_HASH_SIZE, right, VTC_MERKLE_HASH_SIZE);
        vtc_merkle_sha256(buf, sizeof(buf), out);
}

void
vtc_merkle_tree_free(VtcMerkleTree *self)
{
        if (self == NULL)
                return;
        for (guint i = 0; i < self->n_levels; i++)
                g_free(self->levels[i]);
        g_free(self);
}

VtcMerkleTree *
vtc_merkle_tree_new(const guint8 *leaf_hashes, gsize n_leaves, GError **error)
{
        g_autoptr(VtcMerkleTree) self = NULL;

        if (n_leaves == 0 || n_leaves > VTC_MERKLE_MAX_LEAVES) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a Merkle tree needs 1 to %u leaves, not %" G_GSIZE_FORMAT,
                            VTC_MERKLE_MAX_LEAVES,
                            n_leaves);
                return NULL;
        }
        self = g_new0(VtcMerkleTree, 1);
        self->n_leaves = n_leaves;
        self->levels[0] = g_memdup2(leaf_hashes, n_leaves * VTC_MERKLE_HASH_SIZE);
        self->level_len[0] = n_leaves;
        self->n_levels = 1;
        /* Bottom-up: pair neighbours, carry an odd last node up unchanged. This is RFC 6962's
         * split at the largest power of two below n, computed level by level. */
        while (self->level_len[self->n_levels - 1] > 1) {
                guint l = self->n_levels;
                const guint8 *below = self->levels[l - 1];
                gsize n_below = self->level_len[l - 1];
                gsize n = (n_below + 1) / 2;
                guint8 *level = g_malloc(n * VTC_MERKLE_HASH_SIZE);

                for (gsize j = 0; j < n_below / 2; j++) {
                        vtc_merkle_node_hash(below + (2 * j) * VTC_MERKLE_HASH_SIZE,
                                             below + (2 * j + 1) * VTC_MERKLE_HASH_SIZE,
                                             level + j * VTC_MERKLE_HASH_SIZE);
                }
                if (n_below % 2 == 1) {
                        memcpy(level + (n - 1) * VTC_MERKLE_HASH_SIZE,
                               below + (n_below - 1) * VTC_MERKLE_HASH_SIZE,
                               VTC_MERKLE_HASH_SIZE);
                }
                self->levels[l] = level;
                self->level_len[l] = n;
                self->n_levels++;
        }
        return g_steal_pointer(&self);
}

gsize
vtc_merkle_tree_get_size(VtcMerkleTree *self)
{
        return self->n_leaves;
}

const guint8 *
vtc_merkle_tree_get_root(VtcMerkleTree *self)
{
        return self->levels[self->n_levels - 1];
}

gboolean
vtc_merkle_tree_get_proof(VtcMerkleTree *self,
                          gsize index,
                          guint8 *out_proof,
                          gsize *out_n,
                          GError **error)
{
        gsize n = 0;
        gsize idx = index;

        if (index >= self->n_leaves) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "leaf %" G_GSIZE_FORMAT " is outside a tree of %" G_GSIZE_FORMAT
                            " leaves",
                            index,
                            self->n_leaves);
                return FALSE;
        }
        for (guint l = 0; l + 1 < self->n_levels; l++) {
                gsize sibling = idx ^ 1;
                /* a node without a sibling is carried up: nothing to add at this level */
                if (sibling < self->level_len[l]) {
                        memcpy(out_proof + n * VTC_MERKLE_HASH_SIZE,
                               self->levels[l] + sibling * VTC_MERKLE_HASH_SIZE,
                               VTC_MERKLE_HASH_SIZE);
                        n++;
                }
                idx >>= 1;
        }
        *out_n = n;
        return TRUE;
}

gboolean
vtc_merkle_verify_inclusion(const guint8 leaf_hash[VTC_MERKLE_HASH_SIZE],
                            gsize index,
                            gsize tree_size,
                            const guint8 *proof,
                            gsize n_proof,
                            const guint8 root[VTC_MERKLE_HASH_SIZE],
                            GError **error)
{
        gsize fn = index;
        gsize sn;
        guint8 r[VTC_MERKLE_HASH_SIZE];

        if (tree_size == 0 || tree_size > VTC_MERKLE_MAX_LEAVES || index >= tree_size ||
            n_proof > VTC_MERKLE_MAX_PROOF) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "inclusion proof out of range: leaf %" G_GSIZE_FORMAT
                            " of %" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT " hashes",
                            index,
                            tree_size,
                            n_proof);
                return FALSE;
        }
        sn = tree_size - 1;
        memcpy(r, leaf_hash, sizeof(r));
        /* RFC 9162 §2.1.3.2 */
        for (gsize i = 0; i < n_proof; i++) {
                const guint8 *p = proof + i * VTC_MERKLE_HASH_SIZE;

                if (sn == 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "inclusion proof has %" G_GSIZE_FORMAT
                                    " hashes, more than the tree's height",
                                    n_proof);
                        return FALSE;
                }
                if ((fn & 1) == 1 || fn == sn) {
                        vtc_merkle_node_hash(p, r, r);
                        while ((fn & 1) == 0 && fn != 0) {
                                fn >>= 1;
                                sn >>= 1;
                        }
                } else {
                        vtc_merkle_node_hash(r, p, r);
                }
                fn >>= 1;
                sn >>= 1;
        }
        if (sn != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "inclusion proof of leaf %" G_GSIZE_FORMAT
                            " has too few hashes (%" G_GSIZE_FORMAT
                            ") for a tree of %" G_GSIZE_FORMAT " leaves",
                            index,
                            n_proof,
                            tree_size);
                return FALSE;
        }
        if (CRYPTO_memcmp(r, root, VTC_MERKLE_HASH_SIZE) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_VERIFY_FAILED,
                            "inclusion proof of leaf %" G_GSIZE_FORMAT
                            " does not lead to the quoted root",
                            index);
                return FALSE;
        }
        return TRUE;
}
