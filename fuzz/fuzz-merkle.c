/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two properties, chosen by the first byte:
 *  even: the rest is a list of leaf hashes; every leaf's proof from the builder must verify
 *        against the root, and a proof for a neighbour's index must not (abort otherwise);
 *  odd:  the rest is a peer's claim (index, size, proof, leaf, root); verifying it must not
 *        crash, whatever it holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vtc-merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_builder(const uint8_t *data, size_t size)
{
        gsize n = size / VTC_MERKLE_HASH_SIZE;
        g_autoptr(VtcMerkleTree) tree = NULL;

        if (n == 0)
                return;
        if (n > 64)
                n = 64;
        tree = vtc_merkle_tree_new(data, n, NULL);
        if (tree == NULL)
                abort();
        for (gsize i = 0; i < n; i++) {
                guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
                gsize n_proof = 0;
                const guint8 *leaf = data + i * VTC_MERKLE_HASH_SIZE;
                const guint8 *root = vtc_merkle_tree_get_root(tree);

                if (!vtc_merkle_tree_get_proof(tree, i, proof, &n_proof, NULL))
                        abort();
                if (!vtc_merkle_verify_inclusion(leaf, i, n, proof, n_proof, root, NULL))
                        abort();
                /* a different leaf at the same place must not verify, unless it is equal */
                if (n > 1) {
                        const guint8 *other = data + ((i + 1) % n) * VTC_MERKLE_HASH_SIZE;
                        if (memcmp(other, leaf, VTC_MERKLE_HASH_SIZE) != 0 &&
                            vtc_merkle_verify_inclusion(other, i, n, proof, n_proof, root, NULL))
                                abort();
                }
        }
}

static void
fuzz_claim(const uint8_t *data, size_t size)
{
        guint32 index;
        guint32 tree_size;
        gsize n_proof;

        if (size < 9 + 2 * VTC_MERKLE_HASH_SIZE)
                return;
        memcpy(&index, data, 4);
        memcpy(&tree_size, data + 4, 4);
        n_proof = data[8];
        data += 9;
        size -= 9 + 2 * VTC_MERKLE_HASH_SIZE;
        if (n_proof * VTC_MERKLE_HASH_SIZE > size)
                n_proof = size / VTC_MERKLE_HASH_SIZE;
        vtc_merkle_verify_inclusion(data + size,
                                    index,
                                    tree_size,
                                    data,
                                    n_proof,
                                    data + size + VTC_MERKLE_HASH_SIZE,
                                    NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        if (data[0] % 2 == 0)
                fuzz_builder(data + 1, size - 1);
        else
                fuzz_claim(data + 1, size - 1);
        return 0;
}
