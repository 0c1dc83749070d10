/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The Merkle tree of batched host quotes (ARCHITECTURE.md §4), RFC 6962 style:
 *   leaf = SHA-256(0x00 || vm_uuid(16) || binding(32))
 *   node = SHA-256(0x01 || left || right)
 * where binding = SHA-256(guest quote attest bytes || verifier nonce). A tree of n leaves splits
 * at the largest power of two below n (RFC 6962 §2.1), so an odd last node is carried up, never
 * duplicated: no two leaf sets of different size share a root.
 */
#define VTC_MERKLE_HASH_SIZE  32
#define VTC_MERKLE_MAX_LEAVES (1u << 20)
#define VTC_MERKLE_MAX_PROOF  20 /* log2(VTC_MERKLE_MAX_LEAVES) */

void vtc_merkle_binding(const guint8 *attest,
                        gsize attest_len,
                        const guint8 *nonce,
                        gsize nonce_len,
                        guint8 out[VTC_MERKLE_HASH_SIZE]);
void vtc_merkle_leaf_hash(const guint8 uuid[16],
                          const guint8 binding[VTC_MERKLE_HASH_SIZE],
                          guint8 out[VTC_MERKLE_HASH_SIZE]);
void vtc_merkle_node_hash(const guint8 left[VTC_MERKLE_HASH_SIZE],
                          const guint8 right[VTC_MERKLE_HASH_SIZE],
                          guint8 out[VTC_MERKLE_HASH_SIZE]);

typedef struct _VtcMerkleTree VtcMerkleTree;

/* Builds the whole tree over @n_leaves leaf hashes (each VTC_MERKLE_HASH_SIZE bytes). */
VtcMerkleTree *vtc_merkle_tree_new(const guint8 *leaf_hashes, gsize n_leaves, GError **error);
void vtc_merkle_tree_free(VtcMerkleTree *self);
gsize vtc_merkle_tree_get_size(VtcMerkleTree *self);
const guint8 *vtc_merkle_tree_get_root(VtcMerkleTree *self);
/* The audit path of leaf @index, bottom-up: *@out_n hashes of VTC_MERKLE_HASH_SIZE bytes written
 * to @out_proof, which must hold VTC_MERKLE_MAX_PROOF of them. */
gboolean vtc_merkle_tree_get_proof(VtcMerkleTree *self,
                                   gsize index,
                                   guint8 *out_proof,
                                   gsize *out_n,
                                   GError **error);

/* Checks that @leaf_hash is leaf @index of a tree of @tree_size leaves with root @root
 * (RFC 9162 §2.1.3.2). Fails with VTC_ERROR_VERIFY_FAILED when it is not. */
gboolean vtc_merkle_verify_inclusion(const guint8 leaf_hash[VTC_MERKLE_HASH_SIZE],
                                     gsize index,
                                     gsize tree_size,
                                     const guint8 *proof,
                                     gsize n_proof,
                                     const guint8 root[VTC_MERKLE_HASH_SIZE],
                                     GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcMerkleTree, vtc_merkle_tree_free)

G_END_DECLS
