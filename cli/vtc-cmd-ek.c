/* SPDX-License-Identifier: Apache-2.0 */
/* `vtc ek check`: an EK certificate against a trust store and the TPM's EK public key. */
#include <stdio.h>

#include <json-glib/json-glib.h>

#include "vtc-cli.h"
#include "vtc-ekcert.h"
#include "vtc-error.h"
#include "vtc-util.h"

static const gchar vtc_cmd_ek_description[] =
    "Checks that an EK certificate chains to a trusted CA and that it certifies exactly the EK\n"
    "public key the TPM shows. The chain is built with OpenSSL through the intermediates found\n"
    "in the store directory and given with --intermediate; it must end at a self-signed root in\n"
    "the store. TPM EK certificate quirks are tolerated: an empty subject, a critical\n"
    "SubjectAltName with the TPM's directoryName attributes, the EK extended key usage\n"
    "2.23.133.8.1 and, on the EK certificate only, unknown critical extensions from the TCG arc\n"
    "2.23.133. Nothing else is: a bad signature, an unknown non-TCG critical extension, a CA\n"
    "that is not a CA, or a certificate outside its validity period all fail.\n"
    "\n"
    "The options in detail:\n"
    "  --cert FILE          the EK certificate, DER (as read from NV index 0x01c00002 RSA,\n"
    "                       0x01c0000a ECC P-256 or 0x01c00016 ECC P-384 with tpm2_nvread;\n"
    "                       trailing NV padding is allowed) or PEM\n"
    "  --ek FILE            the EK public key: TPM2B_PUBLIC (tpm2_readpublic -f tss -o,\n"
    "                       tpm2_createek -f tss -u) or a PEM / DER SubjectPublicKeyInfo;\n"
    "                       RSA keys must match modulus and exponent, ECC keys curve and point\n"
    "  --store DIR          the trust store: every regular file in DIR (any name, hidden files\n"
    "                       and subdirectories skipped) must hold PEM or DER certificates:\n"
    "                       roots, and intermediates if you like\n"
    "  --intermediate FILE  more intermediate certificates (PEM with one or more, or DER);\n"
    "                       may be repeated. They are not trusted, only used to build the chain\n"
    "  --ignore-time        do not check notBefore/notAfter anywhere in the chain (many EK\n"
    "                       certificates carry odd validity periods)\n"
    "  --partial-chain      trust any certificate of the store as an anchor, not only\n"
    "                       self-signed roots\n"
    "  --json               print the outcome as one JSON object on stdout: valid, reason, and\n"
    "                       when valid subject, issuer, serial, notBefore, notAfter (ISO 8601),\n"
    "                       keyType, tpmManufacturer, tpmModel, tpmVersion and chain (subjects,\n"
    "                       EK certificate first)\n"
    "\n"
    "Exit status:\n"
    "  0  the chain verifies and the certificate's key is the EK public key\n"
    "  1  checked and not valid: the chain does not verify (which certificate and why is\n"
    "     printed) or the key is another one\n"
    "  2  usage error\n"
    "  3  an input could not be read or parsed: certificate, EK public key, an intermediate,\n"
    "     or the store (missing, empty, or holding a file that is no certificate)\n"
    "\n"
    "Example:\n"
    "  tpm2_nvread 0x01c00002 -o ek.der\n"
    "  tpm2_readpublic -c 0x81010001 -f tss -o ek.pub\n"
    "  vtc ek check --cert ek.der --ek ek.pub --store /etc/vtc/tpm-ca \\\n"
    "      --intermediate vendor-intermediate.pem --json\n";

#define VTC_CMD_EK_FILE_MAX (1024 * 1024)

static GBytes *
vtc_cmd_ek_read(const gchar *what, const gchar *path, GError **error)
{
        GBytes *bytes = vtc_file_read(path, VTC_CMD_EK_FILE_MAX, error);

        if (bytes == NULL)
                g_prefix_error(error, "reading the %s: ", what);
        return bytes;
}

static gchar *
vtc_cmd_ek_time(gint64 t)
{
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);

        return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

static void
vtc_cmd_ek_add_string(JsonBuilder *b, const gchar *name, const gchar *value)
{
        json_builder_set_member_name(b, name);
        if (value != NULL)
                json_builder_add_string_value(b, value);
        else
                json_builder_add_null_value(b);
}

static void
vtc_cmd_ek_print_json(const VtcEkCertInfo *info, const gchar *reason)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *nb = info != NULL ? vtc_cmd_ek_time(info->not_before) : NULL;
        g_autofree gchar *na = info != NULL ? vtc_cmd_ek_time(info->not_after) : NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "valid");
        json_builder_add_boolean_value(b, info != NULL);
        vtc_cmd_ek_add_string(b, "reason", reason);
        vtc_cmd_ek_add_string(b, "subject", info != NULL ? info->subject : NULL);
        vtc_cmd_ek_add_string(b, "issuer", info != NULL ? info->issuer : NULL);
        vtc_cmd_ek_add_string(b, "serial", info != NULL ? info->serial : NULL);
        vtc_cmd_ek_add_string(b, "notBefore", nb);
        vtc_cmd_ek_add_string(b, "notAfter", na);
        vtc_cmd_ek_add_string(b, "keyType", info != NULL ? info->key_type : NULL);
        vtc_cmd_ek_add_string(b, "tpmManufacturer", info != NULL ? info->tpm_manufacturer : NULL);
        vtc_cmd_ek_add_string(b, "tpmModel", info != NULL ? info->tpm_model : NULL);
        vtc_cmd_ek_add_string(b, "tpmVersion", info != NULL ? info->tpm_version : NULL);
        json_builder_set_member_name(b, "chain");
        if (info != NULL) {
                json_builder_begin_array(b);
                for (guint i = 0; i < info->chain->len; i++)
                        json_builder_add_string_value(b, g_ptr_array_index(info->chain, i));
                json_builder_end_array(b);
        } else {
                json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
}

static void
vtc_cmd_ek_print_text(const VtcEkCertInfo *info)
{
        g_autofree gchar *nb = vtc_cmd_ek_time(info->not_before);
        g_autofree gchar *na = vtc_cmd_ek_time(info->not_after);

        printf("EK certificate: valid\n");
        printf("  subject:  %s\n", info->subject[0] != '\0' ? info->subject : "(empty)");
        printf("  issuer:   %s\n", info->issuer);
        printf("  serial:   %s\n", info->serial != NULL ? info->serial : "?");
        printf("  validity: %s .. %s\n", nb, na);
        printf("  key:      %s, the same as the EK public key\n", info->key_type);
        if (info->tpm_manufacturer != NULL || info->tpm_model != NULL || info->tpm_version != NULL)
                printf("  TPM:      manufacturer %s, model %s, version %s\n",
                       info->tpm_manufacturer != NULL ? info->tpm_manufacturer : "?",
                       info->tpm_model != NULL ? info->tpm_model : "?",
                       info->tpm_version != NULL ? info->tpm_version : "?");
        printf("  chain:\n");
        for (guint i = 0; i < info->chain->len; i++)
                printf("    %u: %s\n", i, (const gchar *)g_ptr_array_index(info->chain, i));
}

static int
vtc_cmd_ek_check(int argc, char **argv)
{
        g_autofree gchar *cert_path = NULL;
        g_autofree gchar *ek_path = NULL;
        g_autofree gchar *store_dir = NULL;
        g_auto(GStrv) inter_paths = NULL;
        gboolean ignore_time = FALSE;
        gboolean partial = FALSE;
        gboolean json = FALSE;
        GOptionEntry entries[] = {
            {"cert",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &cert_path,
             "EK certificate (DER or PEM)",
             "FILE"},
            {"ek",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &ek_path,
             "EK public key (TPM2B_PUBLIC or PEM)",
             "FILE"},
            {"store", 0, 0, G_OPTION_ARG_FILENAME, &store_dir, "trust store directory", "DIR"},
            {"intermediate",
             0,
             0,
             G_OPTION_ARG_FILENAME_ARRAY,
             &inter_paths,
             "intermediate certificates (repeatable)",
             "FILE"},
            {"ignore-time",
             0,
             0,
             G_OPTION_ARG_NONE,
             &ignore_time,
             "do not check validity periods",
             NULL},
            {"partial-chain",
             0,
             0,
             G_OPTION_ARG_NONE,
             &partial,
             "any store certificate is a trust anchor",
             NULL},
            {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the outcome as JSON", NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx =
            g_option_context_new("- check an EK certificate chain and its key");
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) cert = NULL;
        g_autoptr(GBytes) ek = NULL;
        g_autoptr(GPtrArray) inter = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
        g_autoptr(VtcEkTrustStore) store = NULL;
        g_autoptr(VtcEkCertInfo) info = NULL;
        VtcEkVerifyFlags flags = VTC_EK_VERIFY_NONE;

        g_set_prgname("vtc ek check");
        g_option_context_set_description(ctx, vtc_cmd_ek_description);
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!vtc_cli_parse_options(ctx, "vtc ek check", FALSE, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (cert_path == NULL || ek_path == NULL || store_dir == NULL) {
                g_printerr("vtc ek check: --cert, --ek and --store are required\n");
                return VTC_EXIT_USAGE;
        }
        if (ignore_time)
                flags |= VTC_EK_VERIFY_IGNORE_TIME;
        if (partial)
                flags |= VTC_EK_VERIFY_PARTIAL_CHAIN;
        /* tss2's unmarshalling logs on stderr by default; we report errors ourselves */
        g_setenv("TSS2_LOG", "all+none", FALSE);

        cert = vtc_cmd_ek_read("EK certificate", cert_path, &error);
        if (cert != NULL)
                ek = vtc_cmd_ek_read("EK public key", ek_path, &error);
        for (guint i = 0; ek != NULL && inter_paths != NULL && inter_paths[i] != NULL; i++) {
                GBytes *b = vtc_cmd_ek_read("intermediate certificate", inter_paths[i], &error);
                if (b == NULL) {
                        vtc_cli_print_error(error);
                        return VTC_EXIT_ERROR;
                }
                g_ptr_array_add(inter, b);
        }
        if (ek == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        store = vtc_ek_trust_store_new_from_dir(store_dir, &error);
        if (store == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        if (!vtc_ek_cert_verify(store, cert, inter, ek, flags, &info, &error)) {
                if (!g_error_matches(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED)) {
                        vtc_cli_print_error(error);
                        return VTC_EXIT_ERROR;
                }
                if (json)
                        vtc_cmd_ek_print_json(NULL, error->message);
                else
                        printf("EK certificate: NOT valid: %s\n", error->message);
                g_printerr("vtc: EK certificate is not valid: %s\n", error->message);
                return VTC_EXIT_INVALID;
        }
        if (json)
                vtc_cmd_ek_print_json(info, NULL);
        else
                vtc_cmd_ek_print_text(info);
        return VTC_EXIT_OK;
}

int
vtc_cmd_ek(int argc, char **argv)
{
        return vtc_cli_dispatch_one(
            "vtc ek",
            argc,
            argv,
            "check",
            vtc_cmd_ek_check,
            "check an EK certificate: its chain to a trust store, and that it\n"
            "           certifies the TPM's EK public key");
}
