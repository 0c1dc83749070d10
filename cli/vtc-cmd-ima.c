/* SPDX-License-Identifier: Apache-2.0 */
/* `vtc ima replay`: replay an IMA measurement list into PCR 10; `vtc ima check` lives apart. */
#include <stdio.h>
#include <string.h>

#include "vtc-cli.h"
#include "vtc-cmds.h"
#include "vtc-ima.h"

#define VTC_IMA_PCR_FILE_MAX (64 * 1024)
#define VTC_IMA_N_PCRS       24

/* PCR values of each bank read from a --pcrs file. */
typedef struct {
        const VtcHashAlg *bank;
        guint8 values[VTC_IMA_N_PCRS][64];
        guint32 present; /* bit i: PCR i was given */
} VtcImaPcrBank;

typedef struct {
        VtcImaEntry *boot_aggregate; /* the last one: after a kexec it matches the PCRs */
} VtcImaReplayCtx;

static gboolean
vtc_ima_cli_entry_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        VtcImaReplayCtx *ctx = user_data;

        if (vtc_ima_entry_is_boot_aggregate(entry)) {
                vtc_ima_entry_free(ctx->boot_aggregate);
                ctx->boot_aggregate = vtc_ima_entry_copy(entry);
        }
        return TRUE;
}

static const VtcHashAlg *
vtc_ima_bank_from_size(gsize size)
{
        switch (size) {
        case 20:
                return vtc_hash_alg_from_name("sha1");
        case 32:
                return vtc_hash_alg_from_name("sha256");
        case 48:
                return vtc_hash_alg_from_name("sha384");
        case 64:
                return vtc_hash_alg_from_name("sha512");
        default:
                return NULL;
        }
}

static VtcImaPcrBank *
vtc_ima_pcr_bank_get(GPtrArray *banks, const VtcHashAlg *alg)
{
        VtcImaPcrBank *b;

        for (guint i = 0; i < banks->len; i++) {
                b = g_ptr_array_index(banks, i);
                if (b->bank == alg)
                        return b;
        }
        b = g_new0(VtcImaPcrBank, 1);
        b->bank = alg;
        g_ptr_array_add(banks, b);
        return b;
}

/*
 * Reads PCR values: "N: HEX" lines (tsspcrread), "PCR-NN: XX XX ..." (sysfs, evmctl) or
 * tpm2_pcrread's YAML ("sha256:" then "  N : 0xHEX"). Without a bank header the bank follows from
 * the value's length; other lines are ignored.
 */
static GPtrArray *
vtc_ima_pcrs_read(const gchar *path, GError **error)
{
        g_autoptr(GBytes) bytes = vtc_file_read(path, VTC_IMA_PCR_FILE_MAX, error);
        g_autoptr(GPtrArray) banks = g_ptr_array_new_with_free_func(g_free);
        g_autofree gchar *text = NULL;
        g_auto(GStrv) lines = NULL;
        const VtcHashAlg *header = NULL;

        if (bytes == NULL)
                return NULL;
        text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                gchar *l = g_strstrip(lines[i]);
                gchar *colon = strchr(l, ':');
                guint64 idx = 0;
                g_autoptr(GBytes) value = NULL;
                const VtcHashAlg *alg;
                VtcImaPcrBank *b;
                gchar *hex;

                if (colon == NULL)
                        continue;
                *colon = '\0';
                g_strstrip(l);
                if (colon[1] == '\0' && vtc_hash_alg_from_name(l) != NULL) {
                        header = vtc_hash_alg_from_name(l);
                        continue;
                }
                /* sysfs (and evmctl) write "PCR-10: C4 A0 ..." */
                if (g_str_has_prefix(l, "PCR-"))
                        l += 4;
                if (!g_ascii_isdigit(l[0]))
                        continue;
                if (!g_ascii_string_to_unsigned(l, 10, 0, VTC_IMA_N_PCRS - 1, &idx, error)) {
                        g_prefix_error(error, "%s line %u: ", path, i + 1);
                        return NULL;
                }
                hex = g_strstrip(colon + 1);
                if (g_str_has_prefix(hex, "0x") || g_str_has_prefix(hex, "0X"))
                        hex += 2;
                {
                        /* drop the spaces between bytes */
                        gchar *w = hex;
                        for (const gchar *c = hex; *c != '\0'; c++) {
                                if (*c != ' ')
                                        *w++ = *c;
                        }
                        *w = '\0';
                }
                value = vtc_hex_decode(hex, error);
                if (value == NULL) {
                        g_prefix_error(error, "%s line %u: ", path, i + 1);
                        return NULL;
                }
                alg = header != NULL ? header : vtc_ima_bank_from_size(g_bytes_get_size(value));
                if (alg == NULL || alg->size != g_bytes_get_size(value)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s line %u: a PCR value of %" G_GSIZE_FORMAT " bytes",
                                    path,
                                    i + 1,
                                    g_bytes_get_size(value));
                        return NULL;
                }
                b = vtc_ima_pcr_bank_get(banks, alg);
                memcpy(b->values[idx], g_bytes_get_data(value, NULL), alg->size);
                b->present |= 1u << idx;
        }
        return g_steal_pointer(&banks);
}

static gboolean
vtc_ima_check_boot_aggregate(const gchar *pcrs_path, const VtcImaEntry *entry, GError **error)
{
        g_autoptr(GPtrArray) banks = vtc_ima_pcrs_read(pcrs_path, error);
        guint8 pcrs[10 * 64];

        if (banks == NULL)
                return FALSE;
        if (entry->file_hash_alg == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "boot_aggregate digest has an unknown algorithm");
                return FALSE;
        }
        for (guint i = 0; i < banks->len; i++) {
                VtcImaPcrBank *b = g_ptr_array_index(banks, i);
                if (b->bank != entry->file_hash_alg)
                        continue;
                if ((b->present & 0x3ff) != 0x3ff) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "%s: the %s bank lacks some of PCRs 0-9",
                                    pcrs_path,
                                    b->bank->name);
                        return FALSE;
                }
                for (guint j = 0; j < 10; j++)
                        memcpy(pcrs + j * b->bank->size, b->values[j], b->bank->size);
                return vtc_ima_boot_aggregate_verify(entry, b->bank, pcrs, error);
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "%s has no %s PCRs, the bank of the boot_aggregate",
                    pcrs_path,
                    entry->file_hash_alg->name);
        return FALSE;
}

/* Only a genuine log that breaks a rule exits 1: a violation, a boot_aggregate mismatch. */
static int
vtc_ima_exit_for(const GError *error, gint invalid_code)
{
        if (error->domain == VTC_ERROR && error->code == invalid_code)
                return VTC_EXIT_INVALID;
        return VTC_EXIT_ERROR;
}

static int
vtc_ima_replay_main(int argc, char **argv)
{
        gboolean json = FALSE;
        gboolean ignore_violations = FALSE;
        gboolean partial = FALSE;
        g_autofree gchar *format_str = NULL;
        g_autofree gchar *pcrs_path = NULL;
        g_autofree gchar *start_sha1 = NULL;
        g_autofree gchar *start_sha256 = NULL;
        gint64 offset = 0;
        GOptionEntry entries[] = {
            {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as one JSON object", NULL},
            {"format",
             0,
             0,
             G_OPTION_ARG_STRING,
             &format_str,
             "Log format: ascii, binary or auto (the default)",
             "FORMAT"},
            {"offset",
             0,
             0,
             G_OPTION_ARG_INT64,
             &offset,
             "Skip the first K entries of FILE, whose effect the --start-* values carry",
             "K"},
            {"start-sha1",
             0,
             0,
             G_OPTION_ARG_STRING,
             &start_sha1,
             "Running SHA-1 PCR 10 after the skipped entries (default zeros)",
             "HEX"},
            {"start-sha256",
             0,
             0,
             G_OPTION_ARG_STRING,
             &start_sha256,
             "Running SHA-256 PCR 10 after the skipped entries (default zeros)",
             "HEX"},
            {"pcrs",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &pcrs_path,
             "Check the last boot_aggregate against PCRs 0-9 in FILE",
             "FILE"},
            {"ignore-violations",
             0,
             0,
             G_OPTION_ARG_NONE,
             &ignore_violations,
             "Accept measurement violations (they extend all ones)",
             NULL},
            {"partial",
             0,
             0,
             G_OPTION_ARG_NONE,
             &partial,
             "Ignore a last entry cut short (a log copied mid-write), reporting its bytes",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) octx =
            g_option_context_new("FILE - replay an IMA measurement list");
        g_autoptr(GError) error = NULL;
        g_autoptr(GMappedFile) file = NULL;
        VtcImaFormat format = VTC_IMA_FORMAT_AUTO;
        VtcImaReplayFlags flags = VTC_IMA_REPLAY_FLAG_NONE;
        VtcImaReplayState st;
        VtcImaReplayCtx rctx = {NULL};
        g_autoptr(VtcImaEntry) boot_aggregate = NULL;
        const guint8 *data;
        gsize len;
        gsize skip = 0;
        gsize consumed = 0;
        g_autofree gchar *hex1 = NULL;
        g_autofree gchar *hex256 = NULL;
        const gchar *ba_status = NULL;

        g_option_context_add_main_entries(octx, entries, NULL);
        g_option_context_set_summary(
            octx,
            "Parses an IMA measurement list (/sys/kernel/security/ima/ascii_runtime_measurements\n"
            "or binary_runtime_measurements; templates ima, ima-ng, ima-sig, ima-buf), checks\n"
            "every entry's template hash (SHA-1 of its template data) and replays PCR 10 in the\n"
            "SHA-1 bank (extending the template hashes) and the SHA-256 bank (extending SHA-256\n"
            "of the template data, as the kernel does for a TPM 2.0). A violation (template hash\n"
            "all zeros) extends all ones. Entries for other PCRs are checked but not replayed.");
        g_option_context_set_description(
            octx,
            "Incremental replay: a verifier that replayed the first K entries in an earlier round\n"
            "keeps K and the running PCR values; --offset K --start-sha1 --start-sha256 resume\n"
            "from there, and \"entries\" in the output counts from the start of the log.\n"
            "\n"
            "Exit status:\n"
            "  0  the log replays (and the boot_aggregate matches, with --pcrs)\n"
            "  1  the log has a measurement violation (without --ignore-violations), or the\n"
            "     boot_aggregate does not match the PCRs of --pcrs\n"
            "  2  usage error\n"
            "  3  the log (or the PCR file) cannot be read or parsed, or an entry's template\n"
            "     hash is wrong; the message names the entry\n"
            "\n"
            "Output: the PCR 10 values and the number of entries; with --json\n"
            "  {\"pcr10\":{\"sha1\":HEX,\"sha256\":HEX},\"entries\":N,\"violations\":N}\n"
            "\n"
            "Example:\n"
            "  vtc ima replay --json /sys/kernel/security/ima/binary_runtime_measurements\n");
        if (!vtc_cli_parse_options(octx, "vtc ima replay", TRUE, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (!vtc_cli_parse_ima_format("vtc ima replay", format_str, &format))
                return VTC_EXIT_USAGE;
        if (offset < 0 || (guint64)offset >= VTC_IMA_MAX_ENTRIES) {
                g_printerr("vtc ima replay: bad --offset\n");
                return VTC_EXIT_USAGE;
        }
        vtc_ima_replay_state_init(&st);
        if ((start_sha1 != NULL && !vtc_hex_decode_fixed(start_sha1, st.sha1, 20, &error)) ||
            (start_sha256 != NULL && !vtc_hex_decode_fixed(start_sha256, st.sha256, 32, &error))) {
                g_printerr("vtc ima replay: --start-*: %s\n", error->message);
                return VTC_EXIT_USAGE;
        }
        if (!ignore_violations)
                flags |= VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS;
        if (partial)
                flags |= VTC_IMA_REPLAY_FLAG_PARTIAL;

        file = g_mapped_file_new(argv[1], FALSE, &error);
        if (file == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        len = g_mapped_file_get_length(file);
        data = len > 0 ? (const guint8 *)g_mapped_file_get_contents(file) : (const guint8 *)"";
        if (format == VTC_IMA_FORMAT_AUTO)
                format = vtc_ima_format_detect(data, len);
        if (offset > 0 && !vtc_ima_log_skip(data, len, format, (guint64)offset, &skip, &error)) {
                g_prefix_error(&error, "%s: ", argv[1]);
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        st.count = (guint64)offset;
        if (!vtc_ima_replay(data + skip,
                            len - skip,
                            format,
                            flags,
                            &st,
                            vtc_ima_cli_entry_cb,
                            &rctx,
                            &consumed,
                            &error)) {
                vtc_ima_entry_free(rctx.boot_aggregate);
                g_prefix_error(&error, "%s: ", argv[1]);
                vtc_cli_print_error(error);
                return vtc_ima_exit_for(error, VTC_ERROR_POLICY);
        }
        boot_aggregate = g_steal_pointer(&rctx.boot_aggregate);
        if (pcrs_path != NULL) {
                if (boot_aggregate == NULL) {
                        g_printerr("vtc: %s: no boot_aggregate entry to check against %s\n",
                                   argv[1],
                                   pcrs_path);
                        return VTC_EXIT_INVALID;
                }
                if (!vtc_ima_check_boot_aggregate(pcrs_path, boot_aggregate, &error)) {
                        vtc_cli_print_error(error);
                        return vtc_ima_exit_for(error, VTC_ERROR_VERIFY_FAILED);
                }
                ba_status = "verified";
        }

        hex1 = vtc_hex_encode(st.sha1, sizeof(st.sha1));
        hex256 = vtc_hex_encode(st.sha256, sizeof(st.sha256));
        if (json) {
                printf(
                    "{\"pcr10\":{\"sha1\":\"%s\",\"sha256\":\"%s\"},\"entries\":%" G_GUINT64_FORMAT
                    ",\"violations\":%" G_GUINT64_FORMAT,
                    hex1,
                    hex256,
                    st.count,
                    st.violations);
                if (ba_status != NULL)
                        printf(",\"boot_aggregate\":\"%s\"", ba_status);
                if (partial)
                        printf(",\"truncated_bytes\":%" G_GSIZE_FORMAT, len - skip - consumed);
                printf("}\n");
        } else {
                printf("entries: %" G_GUINT64_FORMAT "\n", st.count);
                printf("violations: %" G_GUINT64_FORMAT "\n", st.violations);
                printf("pcr10 sha1: %s\n", hex1);
                printf("pcr10 sha256: %s\n", hex256);
                if (ba_status != NULL)
                        printf("boot_aggregate: %s\n", ba_status);
                if (partial)
                        printf("truncated bytes: %" G_GSIZE_FORMAT "\n", len - skip - consumed);
        }
        return VTC_EXIT_OK;
}

static const gchar vtc_ima_usage[] =
    "Usage: vtc ima COMMAND [OPTIONS...] FILE\n"
    "\n"
    "IMA measurement lists (the Linux kernel's runtime measurements).\n"
    "\n"
    "Commands:\n"
    "  replay     replay PCR 10 (SHA-1 and SHA-256 banks) from a log\n"
#ifdef VTC_HAVE_CMD_IMA_CHECK
    "  check      check a log against a runtime policy\n"
#endif
    "\n"
    "Run `vtc ima COMMAND --help` for the options of each command.\n"
    "\n"
    "Exit status: 0 valid, 1 checked and not valid, 2 usage error, 3 input unreadable.\n";

int
vtc_cmd_ima(int argc, char **argv)
{
        static const VtcCliSubcommand subcommands[] = {
            {"replay", vtc_ima_replay_main, NULL},
#ifdef VTC_HAVE_CMD_IMA_CHECK
            {"check", vtc_cmd_ima_check, NULL},
#endif
            {NULL, NULL, NULL},
        };

        return vtc_cli_dispatch("vtc ima", argc, argv, subcommands, vtc_ima_usage);
}
