/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc merkle: the Merkle trees that batch many guest bindings into one hardware quote.
 *   vtc merkle build UUID:BINDING...    root and every leaf's inclusion proof, as JSON
 *   vtc merkle verify ...               check one inclusion proof
 */
#include <stdio.h>

#include "vtc-cli.h"
#include "vtc-merkle.h"
#include "vtc-util.h"

static gboolean
vtc_merkle_parse_uuid(const gchar *text, guint8 out[16], GError **error)
{
        g_autoptr(GString) hex = g_string_new(NULL);

        if (!g_uuid_string_is_valid(text)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "'%s' is not a UUID",
                            text);
                return FALSE;
        }
        for (const gchar *p = text; *p != '\0'; p++) {
                if (*p != '-')
                        g_string_append_c(hex, *p);
        }
        return vtc_hex_decode_fixed(hex->str, out, 16, error);
}

static gboolean
vtc_merkle_parse_leaf(const gchar *arg, guint8 out[VTC_MERKLE_HASH_SIZE], GError **error)
{
        g_auto(GStrv) parts = g_strsplit(arg, ":", 2);
        guint8 uuid[16];
        guint8 binding[VTC_MERKLE_HASH_SIZE];

        if (g_strv_length(parts) != 2) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "leaf '%s' is not UUID:BINDING",
                            arg);
                return FALSE;
        }
        if (!vtc_merkle_parse_uuid(parts[0], uuid, error))
                return FALSE;
        if (!vtc_hex_decode_fixed(parts[1], binding, sizeof(binding), error)) {
                g_prefix_error(error, "binding of leaf %s: ", parts[0]);
                return FALSE;
        }
        vtc_merkle_leaf_hash(uuid, binding, out);
        return TRUE;
}

static int
vtc_merkle_build(int argc, char **argv)
{
        g_autoptr(GOptionContext) ctx = g_option_context_new("UUID:BINDING... - build a tree");
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *leaves = NULL;
        g_autoptr(VtcMerkleTree) tree = NULL;
        g_autofree gchar *root = NULL;
        gsize n;

        g_option_context_set_summary(
            ctx,
            "Builds the Merkle tree hostd would quote over these leaves, in this order, and prints\n"
            "the root and each leaf's inclusion proof as JSON. BINDING is 64 hex digits:\n"
            "SHA-256(guest quote attest bytes || verifier nonce).");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (argc < 2) {
                g_printerr("vtc merkle build: give at least one UUID:BINDING leaf\n");
                return VTC_EXIT_USAGE;
        }
        n = (gsize)argc - 1;
        if (n > VTC_MERKLE_MAX_LEAVES) {
                g_printerr("vtc merkle build: at most %u leaves\n", VTC_MERKLE_MAX_LEAVES);
                return VTC_EXIT_USAGE;
        }
        leaves = g_malloc(n * VTC_MERKLE_HASH_SIZE);
        for (gsize i = 0; i < n; i++) {
                if (!vtc_merkle_parse_leaf(argv[i + 1],
                                           leaves + i * VTC_MERKLE_HASH_SIZE,
                                           &error)) {
                        vtc_cli_print_error(error);
                        return VTC_EXIT_USAGE;
                }
        }
        tree = vtc_merkle_tree_new(leaves, n, &error);
        if (tree == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        root = vtc_hex_encode(vtc_merkle_tree_get_root(tree), VTC_MERKLE_HASH_SIZE);
        printf("{\"root\": \"%s\", \"size\": %" G_GSIZE_FORMAT ", \"leaves\": [", root, n);
        for (gsize i = 0; i < n; i++) {
                guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
                gsize n_proof = 0;
                g_autofree gchar *leaf =
                    vtc_hex_encode(leaves + i * VTC_MERKLE_HASH_SIZE, VTC_MERKLE_HASH_SIZE);

                if (!vtc_merkle_tree_get_proof(tree, i, proof, &n_proof, &error)) {
                        vtc_cli_print_error(error);
                        return VTC_EXIT_ERROR;
                }
                printf("%s\n  {\"index\": %" G_GSIZE_FORMAT ", \"leaf\": \"%s\", \"proof\": [",
                       i > 0 ? "," : "",
                       i,
                       leaf);
                for (gsize j = 0; j < n_proof; j++) {
                        g_autofree gchar *h =
                            vtc_hex_encode(proof + j * VTC_MERKLE_HASH_SIZE, VTC_MERKLE_HASH_SIZE);
                        printf("%s\"%s\"", j > 0 ? ", " : "", h);
                }
                printf("]}");
        }
        printf("\n]}\n");
        return VTC_EXIT_OK;
}

static int
vtc_merkle_verify(int argc, char **argv)
{
        g_autofree gchar *leaf_arg = NULL;
        g_autofree gchar *proof_arg = NULL;
        g_autofree gchar *root_arg = NULL;
        gint64 index = -1;
        gint64 size = -1;
        GOptionEntry entries[] = {
            {"leaf", 0, 0, G_OPTION_ARG_STRING, &leaf_arg, "the leaf, as UUID:BINDING", "LEAF"},
            {"index", 0, 0, G_OPTION_ARG_INT64, &index, "the leaf's index in the tree", "I"},
            {"size", 0, 0, G_OPTION_ARG_INT64, &size, "the number of leaves in the tree", "N"},
            {"proof",
             0,
             0,
             G_OPTION_ARG_STRING,
             &proof_arg,
             "the inclusion proof, hashes bottom-up, comma-separated (empty for one leaf)",
             "H,H,..."},
            {"root", 0, 0, G_OPTION_ARG_STRING, &root_arg, "the root the host quote signed", "HEX"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- check an inclusion proof");
        g_autoptr(GError) error = NULL;
        guint8 leaf[VTC_MERKLE_HASH_SIZE];
        guint8 root[VTC_MERKLE_HASH_SIZE];
        guint8 proof[VTC_MERKLE_MAX_PROOF * VTC_MERKLE_HASH_SIZE];
        gsize n_proof = 0;

        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_summary(
            ctx,
            "Checks that the leaf SHA-256(0x00 || UUID || BINDING) is leaf INDEX of a tree of SIZE\n"
            "leaves whose root is ROOT (RFC 9162 inclusion proof, nodes SHA-256(0x01 || l || r)).");
        g_option_context_set_description(
            ctx,
            "Exit status: 0 the proof holds, 1 it does not, 2 usage.\n");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (leaf_arg == NULL || root_arg == NULL || index < 0 || size < 1) {
                g_printerr("vtc merkle verify: --leaf, --index, --size and --root are required\n");
                return VTC_EXIT_USAGE;
        }
        if (!vtc_merkle_parse_leaf(leaf_arg, leaf, &error) ||
            !vtc_hex_decode_fixed(root_arg, root, sizeof(root), &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (proof_arg != NULL && proof_arg[0] != '\0') {
                g_auto(GStrv) hashes = g_strsplit(proof_arg, ",", -1);
                if (g_strv_length(hashes) > VTC_MERKLE_MAX_PROOF) {
                        g_printerr("vtc merkle verify: a proof has at most %u hashes\n",
                                   VTC_MERKLE_MAX_PROOF);
                        return VTC_EXIT_USAGE;
                }
                for (; hashes[n_proof] != NULL; n_proof++) {
                        if (!vtc_hex_decode_fixed(g_strstrip(hashes[n_proof]),
                                                  proof + n_proof * VTC_MERKLE_HASH_SIZE,
                                                  VTC_MERKLE_HASH_SIZE,
                                                  &error)) {
                                g_prefix_error(&error, "proof hash %" G_GSIZE_FORMAT ": ", n_proof);
                                vtc_cli_print_error(error);
                                return VTC_EXIT_USAGE;
                        }
                }
        }
        if (!vtc_merkle_verify_inclusion(leaf,
                                         (gsize)index,
                                         (gsize)size,
                                         proof,
                                         n_proof,
                                         root,
                                         &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_INVALID;
        }
        printf("inclusion proof holds: leaf %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT "\n",
               index,
               size);
        return VTC_EXIT_OK;
}

int
vtc_cmd_merkle(int argc, char **argv)
{
        if (argc >= 2 && g_strcmp0(argv[1], "build") == 0)
                return vtc_merkle_build(argc - 1, argv + 1);
        if (argc >= 2 && g_strcmp0(argv[1], "verify") == 0)
                return vtc_merkle_verify(argc - 1, argv + 1);
        if (argc >= 2 && (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0)) {
                printf(
                    "Usage: vtc merkle build UUID:BINDING...\n"
                    "       vtc merkle verify --leaf UUID:BINDING --index I --size N "
                    "--proof H,... --root HEX\n"
                    "\n"
                    "The Merkle trees of batched host quotes: hostd quotes one root for many\n"
                    "guest bindings; each answer carries the leaf index and inclusion proof.\n"
                    "Run `vtc merkle build --help` or `vtc merkle verify --help` for details.\n");
                return VTC_EXIT_OK;
        }
        g_printerr("Usage: vtc merkle build|verify ... (see vtc merkle --help)\n");
        return VTC_EXIT_USAGE;
}
