/* SPDX-License-Identifier: Apache-2.0 */
/* `vtc quote check`: a TPM 2.0 quote in the files tpm2-tools writes. */
#include <stdio.h>

#include <json-glib/json-glib.h>

#include "vtc-cli.h"
#include "vtc-error.h"
#include "vtc-quote.h"
#include "vtc-util.h"

#define VTC_QUOTE_FILE_MAX (1024 * 1024)

static const gchar vtc_cmd_quote_description[] =
    "Checks a TPM 2.0 quote as made by `tpm2_quote -m ATTEST -s SIG -o PCRS` (the same files\n"
    "tpm2_checkquote reads): the AK's signature over the TPMS_ATTEST (RSASSA, RSAPSS or ECDSA\n"
    "with sha1, sha256, sha384 or sha512), the nonce in its extraData, and its pcrDigest\n"
    "against the PCR values, hashed with the signature's hash as the TPM does.\n"
    "\n"
    "The options in detail:\n"
    "  --ak FILE        the attestation key: a PEM public key, or the TPM2B_PUBLIC written by\n"
    "                   `tpm2_createak -u` (a bare TPMT_PUBLIC works too). Given as TPM2B_PUBLIC,\n"
    "                   the key must be a restricted signing key and the signature must use its\n"
    "                   fixed scheme.\n"
    "  --attest FILE    the TPMS_ATTEST (tpm2_quote -m); --message is the same\n"
    "  --sig FILE       the TPMT_SIGNATURE (tpm2_quote -s, default tss format)\n"
    "  --pcrs FILE      the PCR values in tpm2-tools' serialized format (tpm2_quote -o,\n"
    "                   tpm2_pcrread -F serialized -o); it must hold exactly the quoted PCRs\n"
    "  --nonce HEX      the nonce the quote must carry (tpm2_quote -q); \"\" for none\n"
    "  --nonce-file F   the same, as raw bytes in a file\n"
    "  --hash-alg ALG   the hash the signature must use (sha1, sha256, sha384, sha512); by\n"
    "                   default any of them (tpm2_checkquote -g only warns on a mismatch)\n"
    "  --json           print the outcome as one JSON object on stdout: valid, failure\n"
    "                   (signature, nonce, pcrs, attest or null), reason, hashAlg, clock,\n"
    "                   resetCount, restartCount, safe, firmwareVersion (hex string),\n"
    "                   qualifiedSigner, nonce, and pcrs ({bank: {index: hex}}, only when valid)\n"
    "\n"
    "Exit status:\n"
    "  0  the quote is valid: signature, nonce and PCR digest all check\n"
    "  1  the quote was checked and is not valid (the failing check and why are printed),\n"
    "     including an attest that is not TPM-generated or not a quote\n"
    "  2  usage error\n"
    "  3  an input file could not be read or parsed\n"
    "\n"
    "Example:\n"
    "  tpm2_quote -c ak.ctx -l sha256:0,1,7 -q $NONCE -m q.attest -s q.sig -o q.pcrs\n"
    "  vtc quote check --ak ak.pem --attest q.attest --sig q.sig --pcrs q.pcrs \\\n"
    "      --nonce $NONCE --hash-alg sha256 --json\n";

static GBytes *
vtc_cmd_quote_read(const gchar *what, const gchar *path, GError **error)
{
        GBytes *bytes = vtc_file_read(path, VTC_QUOTE_FILE_MAX, error);

        if (bytes == NULL)
                g_prefix_error(error, "reading the %s: ", what);
        return bytes;
}

static void
vtc_cmd_quote_add_hex(JsonBuilder *b, const gchar *name, const guint8 *buf, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(buf, len);

        json_builder_set_member_name(b, name);
        json_builder_add_string_value(b, hex);
}

static void
vtc_cmd_quote_add_pcrs(JsonBuilder *b, const VtcPcrValues *pcrs)
{
        json_builder_set_member_name(b, "pcrs");
        if (pcrs == NULL) {
                json_builder_add_null_value(b);
                return;
        }
        json_builder_begin_object(b);
        for (guint i = 0; i < vtc_pcr_values_get_n_banks(pcrs); i++) {
                TPM2_ALG_ID bank = vtc_pcr_values_get_bank(pcrs, i);
                const VtcHashAlg *alg = vtc_hash_alg_from_id(bank);
                json_builder_set_member_name(b, alg != NULL ? alg->name : "unknown");
                json_builder_begin_object(b);
                for (guint j = 0; j < VTC_PCR_MAX; j++) {
                        gsize len = 0;
                        const guint8 *v = vtc_pcr_values_get(pcrs, bank, j, &len);
                        g_autofree gchar *idx = NULL;
                        if (v == NULL)
                                continue;
                        idx = g_strdup_printf("%u", j);
                        vtc_cmd_quote_add_hex(b, idx, v, len);
                }
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
}

/* One JSON object; @quote and @result may be NULL when the attest did not get that far. */
static void
vtc_cmd_quote_print_json(const VtcQuote *quote,
                         const VtcQuoteResult *result,
                         const gchar *failure,
                         const gchar *reason)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree gchar *text = NULL;
        gboolean valid = result != NULL && result->valid;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "valid");
        json_builder_add_boolean_value(b, valid);
        json_builder_set_member_name(b, "failure");
        if (failure != NULL)
                json_builder_add_string_value(b, failure);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "reason");
        if (reason != NULL)
                json_builder_add_string_value(b, reason);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "hashAlg");
        if (result != NULL && vtc_hash_alg_from_id(result->hash_alg) != NULL)
                json_builder_add_string_value(b, vtc_hash_alg_from_id(result->hash_alg)->name);
        else
                json_builder_add_null_value(b);
        if (quote != NULL) {
                gsize len = 0;
                const guint8 *buf;
                g_autofree gchar *fw = g_strdup_printf("0x%016" G_GINT64_MODIFIER "x",
                                                       vtc_quote_get_firmware_version(quote));
                json_builder_set_member_name(b, "clock");
                json_builder_add_int_value(b, (gint64)vtc_quote_get_clock(quote));
                json_builder_set_member_name(b, "resetCount");
                json_builder_add_int_value(b, vtc_quote_get_reset_count(quote));
                json_builder_set_member_name(b, "restartCount");
                json_builder_add_int_value(b, vtc_quote_get_restart_count(quote));
                json_builder_set_member_name(b, "safe");
                json_builder_add_boolean_value(b, vtc_quote_get_safe(quote));
                /* a string: 64 bits do not survive a JSON number in most parsers */
                json_builder_set_member_name(b, "firmwareVersion");
                json_builder_add_string_value(b, fw);
                buf = vtc_quote_get_qualified_signer(quote, &len);
                vtc_cmd_quote_add_hex(b, "qualifiedSigner", buf, len);
                buf = vtc_quote_get_nonce(quote, &len);
                vtc_cmd_quote_add_hex(b, "nonce", buf, len);
        } else {
                const gchar *names[] = {"clock",
                                        "resetCount",
                                        "restartCount",
                                        "safe",
                                        "firmwareVersion",
                                        "qualifiedSigner",
                                        "nonce"};
                for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
                        json_builder_set_member_name(b, names[i]);
                        json_builder_add_null_value(b);
                }
        }
        vtc_cmd_quote_add_pcrs(b, valid ? result->pcrs : NULL);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
}

static void
vtc_cmd_quote_print_text(const VtcQuote *quote, const VtcQuoteResult *result)
{
        const VtcHashAlg *alg = vtc_hash_alg_from_id(result->hash_alg);

        if (result->valid)
                printf("quote: valid\n");
        else
                printf("quote: NOT valid: %s check failed: %s\n",
                       vtc_quote_failure_to_string(result->failure),
                       result->reason);
        printf("hash: %s\n", alg != NULL ? alg->name : "unknown");
        printf("clock: %" G_GUINT64_FORMAT "\n", vtc_quote_get_clock(quote));
        printf("resetCount: %u\n", vtc_quote_get_reset_count(quote));
        printf("restartCount: %u\n", vtc_quote_get_restart_count(quote));
        printf("safe: %s\n", vtc_quote_get_safe(quote) ? "yes" : "no");
        printf("firmwareVersion: 0x%016" G_GINT64_MODIFIER "x\n",
               vtc_quote_get_firmware_version(quote));
        if (result->valid) {
                printf("pcrs:\n");
                for (guint i = 0; i < vtc_pcr_values_get_n_banks(result->pcrs); i++) {
                        TPM2_ALG_ID bank = vtc_pcr_values_get_bank(result->pcrs, i);
                        const VtcHashAlg *b = vtc_hash_alg_from_id(bank);
                        printf("  %s:\n", b != NULL ? b->name : "unknown");
                        for (guint j = 0; j < VTC_PCR_MAX; j++) {
                                gsize len = 0;
                                const guint8 *v = vtc_pcr_values_get(result->pcrs, bank, j, &len);
                                g_autofree gchar *hex = NULL;
                                if (v == NULL)
                                        continue;
                                hex = vtc_hex_encode(v, len);
                                printf("    %-2u: %s\n", j, hex);
                        }
                }
        }
}

static int
vtc_cmd_quote_check(int argc, char **argv)
{
        g_autofree gchar *ak_path = NULL;
        g_autofree gchar *attest_path = NULL;
        g_autofree gchar *sig_path = NULL;
        g_autofree gchar *pcrs_path = NULL;
        g_autofree gchar *nonce_hex = NULL;
        g_autofree gchar *nonce_path = NULL;
        g_autofree gchar *hash_name = NULL;
        gboolean json = FALSE;
        GOptionEntry entries[] = {
            {"ak",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &ak_path,
             "attestation key (PEM or TPM2B_PUBLIC)",
             "FILE"},
            {"attest",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &attest_path,
             "TPMS_ATTEST (tpm2_quote -m)",
             "FILE"},
            {"message", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &attest_path, NULL, "FILE"},
            {"sig",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &sig_path,
             "TPMT_SIGNATURE (tpm2_quote -s)",
             "FILE"},
            {"pcrs",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &pcrs_path,
             "serialized PCR values (tpm2_quote -o)",
             "FILE"},
            {"nonce", 0, 0, G_OPTION_ARG_STRING, &nonce_hex, "expected nonce, hex", "HEX"},
            {"nonce-file",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &nonce_path,
             "expected nonce, raw bytes",
             "FILE"},
            {"hash-alg",
             0,
             0,
             G_OPTION_ARG_STRING,
             &hash_name,
             "hash the signature must use",
             "ALG"},
            {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the outcome as JSON", NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- check a TPM 2.0 quote");
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) ak_bytes = NULL;
        g_autoptr(GBytes) attest = NULL;
        g_autoptr(GBytes) sigb = NULL;
        g_autoptr(GBytes) pcrb = NULL;
        g_autoptr(GBytes) nonce = NULL;
        g_autoptr(VtcQuoteAk) ak = NULL;
        g_autoptr(VtcQuote) quote = NULL;
        g_autoptr(VtcPcrValues) pcrs = NULL;
        g_auto(VtcQuoteResult) result = {0};
        TPM2_ALG_ID required = TPM2_ALG_NULL;
        TPMT_SIGNATURE sig;
        gsize len = 0;
        const guint8 *buf;

        g_set_prgname("vtc quote check");
        g_option_context_set_description(ctx, vtc_cmd_quote_description);
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!vtc_cli_parse_options(ctx, "vtc quote check", FALSE, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (ak_path == NULL || attest_path == NULL || sig_path == NULL || pcrs_path == NULL) {
                g_printerr("vtc quote check: --ak, --attest, --sig and --pcrs are required\n");
                return VTC_EXIT_USAGE;
        }
        if ((nonce_hex == NULL) == (nonce_path == NULL)) {
                g_printerr("vtc quote check: give the expected nonce with exactly one of --nonce "
                           "and --nonce-file (--nonce \"\" for a quote without one)\n");
                return VTC_EXIT_USAGE;
        }
        if (hash_name != NULL) {
                const VtcHashAlg *alg = vtc_hash_alg_from_name(hash_name);
                if (alg == NULL || (alg->alg != TPM2_ALG_SHA1 && alg->alg != TPM2_ALG_SHA256 &&
                                    alg->alg != TPM2_ALG_SHA384 && alg->alg != TPM2_ALG_SHA512)) {
                        g_printerr("vtc quote check: --hash-alg '%s' is not one of sha1, sha256, "
                                   "sha384, sha512\n",
                                   hash_name);
                        return VTC_EXIT_USAGE;
                }
                required = alg->alg;
        }
        if (nonce_hex != NULL) {
                nonce = vtc_hex_decode(nonce_hex, &error);
                if (nonce == NULL) {
                        g_printerr("vtc quote check: --nonce: %s\n", error->message);
                        return VTC_EXIT_USAGE;
                }
        } else {
                nonce = vtc_cmd_quote_read("nonce", nonce_path, &error);
        }
        /* tss2's unmarshalling logs on stderr by default; we report errors ourselves */
        g_setenv("TSS2_LOG", "all+none", FALSE);
        if (nonce != NULL)
                ak_bytes = vtc_cmd_quote_read("AK", ak_path, &error);
        if (ak_bytes != NULL)
                attest = vtc_cmd_quote_read("attest", attest_path, &error);
        if (attest != NULL)
                sigb = vtc_cmd_quote_read("signature", sig_path, &error);
        if (sigb != NULL)
                pcrb = vtc_cmd_quote_read("PCR values", pcrs_path, &error);
        if (pcrb == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        buf = g_bytes_get_data(ak_bytes, &len);
        ak = vtc_quote_ak_new_from_data(buf, len, &error);
        if (ak == NULL) {
                g_prefix_error(&error, "%s: ", ak_path);
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        buf = g_bytes_get_data(attest, &len);
        quote = vtc_quote_parse(buf, len, &error);
        if (quote == NULL) {
                g_prefix_error(&error, "%s: ", attest_path);
                /* well-formed but not a TPM-generated quote: checked, and not valid */
                if (g_error_matches(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED)) {
                        if (json)
                                vtc_cmd_quote_print_json(NULL, NULL, "attest", error->message);
                        else
                                printf("quote: NOT valid: attest check failed: %s\n",
                                       error->message);
                        return VTC_EXIT_INVALID;
                }
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        buf = g_bytes_get_data(sigb, &len);
        if (!vtc_quote_signature_parse(buf, len, &sig, &error)) {
                g_prefix_error(&error, "%s: ", sig_path);
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        buf = g_bytes_get_data(pcrb, &len);
        pcrs = vtc_pcr_values_parse_serialized(buf, len, &error);
        if (pcrs == NULL) {
                g_prefix_error(&error, "%s: ", pcrs_path);
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        buf = g_bytes_get_data(nonce, &len);
        if (!vtc_quote_check(quote,
                             &sig,
                             ak,
                             buf,
                             len,
                             pcrs,
                             required,
                             VTC_QUOTE_CHECK_EXACT_PCRS,
                             &result,
                             &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        if (json)
                vtc_cmd_quote_print_json(quote,
                                         &result,
                                         result.valid ? NULL
                                                      : vtc_quote_failure_to_string(result.failure),
                                         result.reason);
        else
                vtc_cmd_quote_print_text(quote, &result);
        if (!result.valid) {
                g_printerr("vtc: quote is not valid: %s check failed: %s\n",
                           vtc_quote_failure_to_string(result.failure),
                           result.reason);
                return VTC_EXIT_INVALID;
        }
        return VTC_EXIT_OK;
}

int
vtc_cmd_quote(int argc, char **argv)
{
        return vtc_cli_dispatch_one(
            "vtc quote",
            argc,
            argv,
            "check",
            vtc_cmd_quote_check,
            "check a TPM 2.0 quote (tpm2_quote's files) against an AK, a nonce and\n"
            "           the PCR values");
}
