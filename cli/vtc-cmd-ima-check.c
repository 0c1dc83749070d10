/* SPDX-License-Identifier: Apache-2.0 */
/* `vtc ima check`: replay an IMA measurement list and check every entry against a runtime policy.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "vtc-cli.h"
#include "vtc-ima.h"
#include "vtc-policy.h"

#define VTC_IMA_CHECK_KEY_MAX (64 * 1024)

typedef struct {
        VtcRuntimePolicyCheck *check;
        gboolean json;
        guint64 max_print;
        guint64 n_failed;
        guint64 n_printed;
} VtcImaCheckCtx;

/* Text output: control characters (a path in a binary log may hold any byte) escaped. */
static void
vtc_ima_check_print_text_escaped(GString *out, const gchar *s)
{
        for (const guchar *c = (const guchar *)s; *c != '\0'; c++) {
                if (*c < 0x20 || *c == 0x7f)
                        g_string_append_printf(out, "\\x%02x", *c);
                else if (*c == '\\')
                        g_string_append(out, "\\\\");
                else
                        g_string_append_c(out, (gchar)*c);
        }
}

/* JSON string: invalid UTF-8 becomes U+FFFD, as JSON has no way to carry raw bytes. */
static void
vtc_ima_check_append_json_string(GString *out, const gchar *s)
{
        g_autofree gchar *valid = g_utf8_make_valid(s != NULL ? s : "", -1);

        g_string_append_c(out, '"');
        for (const guchar *c = (const guchar *)valid; *c != '\0'; c++) {
                if (*c == '"' || *c == '\\')
                        g_string_append_printf(out, "\\%c", *c);
                else if (*c < 0x20)
                        g_string_append_printf(out, "\\u%04x", *c);
                else
                        g_string_append_c(out, (gchar)*c);
        }
        g_string_append_c(out, '"');
}

static const gchar *
vtc_ima_check_template_name(VtcImaTemplate kind)
{
        switch (kind) {
        case VTC_IMA_TEMPLATE_IMA:
                return "ima";
        case VTC_IMA_TEMPLATE_IMA_NG:
                return "ima-ng";
        case VTC_IMA_TEMPLATE_IMA_SIG:
                return "ima-sig";
        case VTC_IMA_TEMPLATE_IMA_BUF:
                return "ima-buf";
        }
        return "unknown";
}

static void
vtc_ima_check_print_failure(VtcImaCheckCtx *ctx, const VtcRuntimePolicyFailure *f)
{
        g_autoptr(GString) out = g_string_new(NULL);

        if (ctx->json) {
                g_string_append_printf(out,
                                       "%s{\"index\":%u,\"template\":\"%s\",\"path\":",
                                       ctx->n_printed > 0 ? "," : "",
                                       f->index,
                                       vtc_ima_check_template_name(f->template_kind));
                vtc_ima_check_append_json_string(out, f->path);
                g_string_append(out, ",\"digest\":");
                vtc_ima_check_append_json_string(out, f->digest);
                g_string_append(out, ",\"reason\":");
                vtc_ima_check_append_json_string(out,
                                                 vtc_runtime_policy_reason_to_string(f->reason));
                if (f->signature_detail != NULL) {
                        g_string_append(out, ",\"signature\":");
                        vtc_ima_check_append_json_string(out, f->signature_detail);
                }
                g_string_append_printf(out, ",\"violation\":%s}", f->violation ? "true" : "false");
        } else {
                g_string_append_printf(out, "FAIL #%u ", f->index);
                vtc_ima_check_print_text_escaped(out, f->path);
                g_string_append_printf(out,
                                       " %s: %s",
                                       f->digest,
                                       vtc_runtime_policy_reason_to_string(f->reason));
                if (f->signature_detail != NULL)
                        g_string_append_printf(out, " (%s)", f->signature_detail);
                if (f->violation)
                        g_string_append(out, " [IMA violation entry]");
                g_string_append_c(out, '\n');
        }
        fputs(out->str, stdout);
}

static gboolean
vtc_ima_check_entry_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        VtcImaCheckCtx *ctx = user_data;
        g_autoptr(VtcRuntimePolicyFailure) failure = NULL;

        if (index > G_MAXUINT) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "more than %u entries",
                            G_MAXUINT);
                return FALSE;
        }
        if (!vtc_runtime_policy_check_entry(ctx->check, entry, (guint)index, &failure, error))
                return FALSE;
        if (failure == NULL)
                return TRUE;
        ctx->n_failed++;
        if (ctx->max_print == 0 || ctx->n_printed < ctx->max_print) {
                vtc_ima_check_print_failure(ctx, failure);
                ctx->n_printed++;
        }
        return TRUE;
}

static EVP_PKEY *
vtc_ima_check_read_key(const gchar *path, GError **error)
{
        g_autoptr(GBytes) bytes = vtc_file_read(path, VTC_IMA_CHECK_KEY_MAX, error);
        g_autoptr(BIO) bio = NULL;
        EVP_PKEY *key;

        if (bytes == NULL)
                return NULL;
        bio = BIO_new_mem_buf(g_bytes_get_data(bytes, NULL), (int)g_bytes_get_size(bytes));
        key = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        if (key == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "%s: not a PEM public key", path);
                return NULL;
        }
        ERR_clear_error();
        return key;
}

static VtcRuntimePolicy *
vtc_ima_check_load_policy(const gchar *path, const gchar *key_path, GError **error)
{
        g_autoptr(GBytes) bytes = vtc_file_read(path, VTC_RUNTIME_POLICY_MAX_SIZE, error);
        g_autoptr(EVP_PKEY) key = NULL;
        VtcRuntimePolicy *policy;

        if (bytes == NULL)
                return NULL;
        if (key_path != NULL) {
                key = vtc_ima_check_read_key(key_path, error);
                if (key == NULL)
                        return NULL;
                policy = vtc_runtime_policy_new_from_dsse(g_bytes_get_data(bytes, NULL),
                                                          g_bytes_get_size(bytes),
                                                          key,
                                                          error);
        } else {
                policy = vtc_runtime_policy_new_from_json(g_bytes_get_data(bytes, NULL),
                                                          g_bytes_get_size(bytes),
                                                          error);
        }
        if (policy == NULL)
                g_prefix_error(error, "%s: ", path);
        return policy;
}

int
vtc_cmd_ima_check(int argc, char **argv)
{
        gboolean json = FALSE;
        gboolean check_boot_aggregate = FALSE;
        g_autofree gchar *format_str = NULL;
        g_autofree gchar *policy_path = NULL;
        g_autofree gchar *key_path = NULL;
        gint64 max_print = 0;
        GOptionEntry entries[] = {
            {"policy",
             'p',
             0,
             G_OPTION_ARG_FILENAME,
             &policy_path,
             "The Keylime runtime policy (JSON) to check against (required)",
             "POLICY"},
            {"policy-key",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &key_path,
             "POLICY is a signed DSSE envelope: check it with this PEM public key first",
             "PEM"},
            {"format",
             0,
             0,
             G_OPTION_ARG_STRING,
             &format_str,
             "Log format: ascii, binary or auto (the default)",
             "FORMAT"},
            {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as one JSON object", NULL},
            {"check-boot-aggregate",
             0,
             0,
             G_OPTION_ARG_NONE,
             &check_boot_aggregate,
             "Check boot_aggregate entries against the policy's \"boot_aggregate\" digests too",
             NULL},
            {"max-failures",
             0,
             0,
             G_OPTION_ARG_INT64,
             &max_print,
             "Print at most N failing entries (0, the default: all); all are counted",
             "N"},
            {NULL}};
        g_autoptr(GOptionContext) octx =
            g_option_context_new("FILE - check an IMA measurement list against a runtime policy");
        g_autoptr(GError) error = NULL;
        g_autoptr(GMappedFile) file = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;
        g_autoptr(VtcRuntimePolicyCheck) check = NULL;
        g_autofree gchar *hex1 = NULL;
        g_autofree gchar *hex256 = NULL;
        VtcImaFormat format = VTC_IMA_FORMAT_AUTO;
        VtcImaCheckCtx ctx = {NULL};
        VtcRuntimePolicyCheckStats stats;
        VtcImaReplayState st;
        const guint8 *data;
        gsize len;

        g_option_context_add_main_entries(octx, entries, NULL);
        g_option_context_set_summary(
            octx,
            "Replays an IMA measurement list (ascii_runtime_measurements or\n"
            "binary_runtime_measurements) into PCR 10, checking every entry's template hash,\n"
            "and checks every entry against a Keylime runtime policy (format version 1), with\n"
            "Keylime's rules:\n"
            "  - a file (ima, ima-ng, ima-sig) is accepted when its digest is listed for its path\n"
            "    in \"digests\", or its path matches a regex of \"excludes\" (anchored at the\n"
            "    start, as Python's re.match), or its IMA signature verifies with a key of\n"
            "    \"verification-keys\" or a key the log loaded onto a keyring before it;\n"
            "  - a key measured onto a keyring (ima-buf) is accepted when its digest is in\n"
            "    \"keyrings\" (or the keyring is in ima.ignored_keyrings, \"*\" for all), and then\n"
            "    verifies the signatures of later entries; another ima-buf entry when its\n"
            "    digest is in \"ima-buf\";\n"
            "  - an entry whose signature header is malformed is never accepted;\n"
            "  - boot_aggregate is not checked here (compare it with the PCRs: vtc ima replay\n"
            "    --pcrs) unless --check-boot-aggregate is given.");
        g_option_context_set_description(
            octx,
            "Output: each entry the policy does not accept, one a line:\n"
            "  FAIL #INDEX PATH ALG:DIGEST: REASON [(SIGNATURE DETAIL)]\n"
            "where INDEX counts entries from 0 and REASON is one of: path not in policy, digest\n"
            "not in policy, malformed signature, keyring not in policy, keyring digest not\n"
            "allowed, buffer not in policy, buffer digest not allowed, unsupported key in keyring\n"
            "entry, entry has no digest; then the counts, the replayed PCR 10 values and the\n"
            "result. With --json, one object:\n"
            "  {\"valid\":BOOL,\"entries\":N,\"failed\":N,\"skipped\":N,\"violations\":N,\n"
            "   \"accepted\":{\"digest\":N,\"exclude\":N,\"signature\":N},\n"
            "   \"pcr10\":{\"sha1\":HEX,\"sha256\":HEX},\n"
            "   \"failures\":[{\"index\":N,\"template\":S,\"path\":S,\"digest\":S,\"reason\":S,\n"
            "                 \"signature\":S (when signed),\"violation\":BOOL},...]}\n"
            "\n"
            "Exit status:\n"
            "  0  every entry is accepted by the policy\n"
            "  1  at least one entry is not (each is printed)\n"
            "  2  usage error\n"
            "  3  the log or the policy cannot be read or parsed (the message names the entry\n"
            "     or the JSON member), an entry's template hash is wrong, or a signed policy\n"
            "     does not verify with --policy-key\n"
            "\n"
            "Examples:\n"
            "  vtc ima check --policy runtime-policy.json \\\n"
            "      /sys/kernel/security/ima/binary_runtime_measurements\n"
            "  vtc ima check --policy signed-policy.json --policy-key signer.pub --json ima.log\n");
        if (!vtc_cli_parse_options(octx, "vtc ima check", TRUE, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (policy_path == NULL) {
                g_printerr("vtc ima check: --policy is required (see --help)\n");
                return VTC_EXIT_USAGE;
        }
        if (max_print < 0) {
                g_printerr("vtc ima check: bad --max-failures\n");
                return VTC_EXIT_USAGE;
        }
        if (!vtc_cli_parse_ima_format("vtc ima check", format_str, &format))
                return VTC_EXIT_USAGE;

        policy = vtc_ima_check_load_policy(policy_path, key_path, &error);
        if (policy == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        file = g_mapped_file_new(argv[1], FALSE, &error);
        if (file == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        len = g_mapped_file_get_length(file);
        data = len > 0 ? (const guint8 *)g_mapped_file_get_contents(file) : (const guint8 *)"";
        if (format == VTC_IMA_FORMAT_AUTO)
                format = vtc_ima_format_detect(data, len);

        check = vtc_runtime_policy_check_new(policy,
                                             check_boot_aggregate
                                                 ? VTC_RUNTIME_POLICY_CHECK_BOOT_AGGREGATE
                                                 : VTC_RUNTIME_POLICY_CHECK_NONE);
        ctx.check = check;
        ctx.json = json;
        ctx.max_print = (guint64)max_print;
        if (json)
                printf("{\"failures\":[");
        vtc_ima_replay_state_init(&st);
        if (!vtc_ima_replay(data,
                            len,
                            format,
                            VTC_IMA_REPLAY_FLAG_NONE,
                            &st,
                            vtc_ima_check_entry_cb,
                            &ctx,
                            NULL,
                            &error)) {
                if (json)
                        printf("]}\n");
                fflush(stdout);
                g_prefix_error(&error, "%s: ", argv[1]);
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        vtc_runtime_policy_check_get_stats(check, &stats);
        hex1 = vtc_hex_encode(st.sha1, sizeof(st.sha1));
        hex256 = vtc_hex_encode(st.sha256, sizeof(st.sha256));
        if (json) {
                printf("],\"valid\":%s,\"entries\":%" G_GUINT64_FORMAT
                       ",\"failed\":%" G_GUINT64_FORMAT
                       ",\"skipped\":%u,\"violations\":%" G_GUINT64_FORMAT
                       ",\"accepted\":{\"digest\":%u,\"exclude\":%u,\"signature\":%u}"
                       ",\"pcr10\":{\"sha1\":\"%s\",\"sha256\":\"%s\"}}\n",
                       ctx.n_failed == 0 ? "true" : "false",
                       st.count,
                       ctx.n_failed,
                       stats.skipped,
                       st.violations,
                       stats.by_digest,
                       stats.by_exclude,
                       stats.by_signature,
                       hex1,
                       hex256);
        } else {
                if (ctx.n_printed < ctx.n_failed)
                        printf("... %" G_GUINT64_FORMAT " more failing entries not shown\n",
                               ctx.n_failed - ctx.n_printed);
                printf("entries: %" G_GUINT64_FORMAT "\n", st.count);
                printf("accepted: %u by digest, %u by exclude, %u by signature\n",
                       stats.by_digest,
                       stats.by_exclude,
                       stats.by_signature);
                printf("skipped: %u\n", stats.skipped);
                printf("failed: %" G_GUINT64_FORMAT "\n", ctx.n_failed);
                printf("violations: %" G_GUINT64_FORMAT "\n", st.violations);
                printf("pcr10 sha1: %s\n", hex1);
                printf("pcr10 sha256: %s\n", hex256);
                printf("result: %s\n", ctx.n_failed == 0 ? "valid" : "not valid");
        }
        return ctx.n_failed == 0 ? VTC_EXIT_OK : VTC_EXIT_INVALID;
}
