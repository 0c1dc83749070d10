/* SPDX-License-Identifier: Apache-2.0 */
/* `vtc eventlog replay|show FILE [--json]`: the UEFI (TCG PC Client) firmware event log. */
#include <stdio.h>

#include <json-glib/json-glib.h>

#include "vtc-cli.h"
#include "vtc-eventlog.h"

static const gchar vtc_cmd_eventlog_description[] =
    "Reads a UEFI firmware event log in the TCG PC Client format, as the kernel exposes it in\n"
    "/sys/kernel/security/tpm0/binary_bios_measurements. Both layouts are accepted: the legacy\n"
    "SHA-1 log (TCG_PCR_EVENT, TPM 1.2 style) and the crypto-agile log (a \"Spec ID Event03\"\n"
    "header listing the PCR banks, then TCG_PCR_EVENT2 events).\n"
    "\n"
    "Commands:\n"
    "  replay FILE   Replays the log and prints the PCR values it predicts, per bank.\n"
    "                Only the PCRs the log touches are printed: those an event extends, and\n"
    "                PCR 0 when a StartupLocality or H-CRTM event sets its starting value.\n"
    "                EV_NO_ACTION events are never extended; StartupLocality sets PCR 0 to\n"
    "                00..0L (L = locality); an H-CRTM event starts PCR 0 at 00..04.\n"
    "                A bank whose algorithm is unknown or which OpenSSL cannot compute (e.g.\n"
    "                sm3_256 without SM3 support) is reported as not replayable and left out\n"
    "                of the JSON output.\n"
    "  show FILE     Lists the events: number, PCR, type name, digests per bank and the\n"
    "                decoded event data (EFI variables, boot applications with their device\n"
    "                path, actions, separators, EV_IPL strings, firmware blobs, GPT).\n"
    "                An event whose data cannot be decoded is shown as \"undecoded\".\n"
    "\n"
    "Options:\n"
    "  --json        Machine-readable output. replay prints exactly\n"
    "                {\"pcrs\": {\"sha256\": {\"0\": \"<hex>\", ...}, \"sha1\": {...}}};\n"
    "                show prints {\"format\": ..., \"banks\": [...], \"events\": [{\"number\",\n"
    "                \"pcr\", \"type\", \"type_value\", \"extended\", \"digests\": {alg: hex},\n"
    "                \"description\", \"decoded\"}, ...]}.\n"
    "  -h, --help    Shows this help.\n"
    "\n"
    "Exit status:\n"
    "  0  the log was parsed (and replayed)\n"
    "  2  usage error\n"
    "  3  the file cannot be read or is not a valid event log (truncated, bad sizes,\n"
    "     missing header, over the limits: 16 MiB, 65536 events, 4 MiB per event)\n"
    "\n"
    "Example:\n"
    "  vtc eventlog replay --json /sys/kernel/security/tpm0/binary_bios_measurements\n"
    "  vtc eventlog show binary_bios_measurements | grep EV_EFI_BOOT_SERVICES_APPLICATION";

static JsonNode *
vtc_cmd_eventlog_replay_json(const VtcEventlog *log)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "pcrs");
        json_builder_begin_object(b);
        for (guint i = 0; i < log->n_banks; i++) {
                const VtcEventlogBank *bank = &log->banks[i];
                if (!bank->replayable)
                        continue;
                json_builder_set_member_name(b, bank->name);
                json_builder_begin_object(b);
                for (guint pcr = 0; pcr < VTC_EVENTLOG_NUM_PCRS; pcr++) {
                        g_autofree gchar *key = NULL;
                        g_autofree gchar *hex = NULL;
                        if ((bank->touched & (1u << pcr)) == 0)
                                continue;
                        key = g_strdup_printf("%u", pcr);
                        hex = vtc_hex_encode(bank->pcrs[pcr], bank->digest_size);
                        json_builder_set_member_name(b, key);
                        json_builder_add_string_value(b, hex);
                }
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static void
vtc_cmd_eventlog_replay_text(const VtcEventlog *log)
{
        for (guint i = 0; i < log->n_banks; i++) {
                const VtcEventlogBank *bank = &log->banks[i];
                if (!bank->replayable) {
                        printf("%s: not replayable: %s\n", bank->name, bank->not_replayable_reason);
                        continue;
                }
                printf("%s:\n", bank->name);
                for (guint pcr = 0; pcr < VTC_EVENTLOG_NUM_PCRS; pcr++) {
                        g_autofree gchar *hex = NULL;
                        if ((bank->touched & (1u << pcr)) == 0)
                                continue;
                        hex = vtc_hex_encode(bank->pcrs[pcr], bank->digest_size);
                        printf("  %2u : %s\n", pcr, hex);
                }
        }
}

static const gchar *
vtc_cmd_eventlog_bank_name(const VtcEventlog *log, TPM2_ALG_ID alg)
{
        const VtcEventlogBank *bank = vtc_eventlog_get_bank(log, alg);

        return bank != NULL ? bank->name : "unknown";
}

static JsonNode *
vtc_cmd_eventlog_show_json(const VtcEventlog *log)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "format");
        json_builder_add_string_value(b,
                                      log->format == VTC_EVENTLOG_FORMAT_SHA1 ? "sha1"
                                                                              : "crypto-agile");
        json_builder_set_member_name(b, "banks");
        json_builder_begin_array(b);
        for (guint i = 0; i < log->n_banks; i++) {
                const VtcEventlogBank *bank = &log->banks[i];
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "algorithm");
                json_builder_add_string_value(b, bank->name);
                json_builder_set_member_name(b, "digest_size");
                json_builder_add_int_value(b, bank->digest_size);
                json_builder_set_member_name(b, "replayable");
                json_builder_add_boolean_value(b, bank->replayable);
                if (!bank->replayable) {
                        json_builder_set_member_name(b, "reason");
                        json_builder_add_string_value(b, bank->not_replayable_reason);
                }
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "events");
        json_builder_begin_array(b);
        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                g_autofree gchar *type = vtc_eventlog_event_type_describe(ev->type);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "number");
                json_builder_add_int_value(b, ev->number);
                json_builder_set_member_name(b, "pcr");
                json_builder_add_int_value(b, ev->pcr);
                json_builder_set_member_name(b, "type");
                json_builder_add_string_value(b, type);
                json_builder_set_member_name(b, "type_value");
                json_builder_add_int_value(b, ev->type);
                json_builder_set_member_name(b, "extended");
                json_builder_add_boolean_value(b, ev->extended);
                json_builder_set_member_name(b, "digests");
                json_builder_begin_object(b);
                for (guint j = 0; j < ev->n_digests; j++) {
                        g_autofree gchar *hex =
                            vtc_hex_encode(ev->digests[j].value, ev->digests[j].size);
                        json_builder_set_member_name(
                            b,
                            vtc_cmd_eventlog_bank_name(log, ev->digests[j].alg));
                        json_builder_add_string_value(b, hex);
                }
                json_builder_end_object(b);
                json_builder_set_member_name(b, "description");
                json_builder_add_string_value(b, ev->description);
                json_builder_set_member_name(b, "decoded");
                json_builder_add_boolean_value(b, ev->kind != VTC_EVENTLOG_DATA_UNDECODED);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static void
vtc_cmd_eventlog_show_text(const VtcEventlog *log)
{
        printf("format: %s\n",
               log->format == VTC_EVENTLOG_FORMAT_SHA1 ? "SHA-1 (TCG_PCR_EVENT)"
                                                       : "crypto-agile (TCG_PCR_EVENT2)");
        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                g_autofree gchar *type = vtc_eventlog_event_type_describe(ev->type);
                printf("%u: PCR %u %s%s\n",
                       ev->number,
                       ev->pcr,
                       type,
                       ev->extended ? "" : " (not extended)");
                for (guint j = 0; j < ev->n_digests; j++) {
                        g_autofree gchar *hex =
                            vtc_hex_encode(ev->digests[j].value, ev->digests[j].size);
                        printf("    %s: %s\n",
                               vtc_cmd_eventlog_bank_name(log, ev->digests[j].alg),
                               hex);
                }
                printf("    %s\n", ev->description);
        }
}

static void
vtc_cmd_eventlog_print_json(JsonNode *root)
{
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree gchar *text = NULL;

        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
}

int
vtc_cmd_eventlog(int argc, char **argv)
{
        gboolean json = FALSE;
        g_auto(GStrv) rest = NULL;
        const GOptionEntry entries[] = {
            {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable JSON output", NULL},
            {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, NULL},
            {NULL, 0, 0, 0, NULL, NULL, NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("replay|show FILE");
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log = NULL;
        g_autoptr(JsonNode) root = NULL;
        gboolean replay = FALSE;

        g_option_context_set_summary(ctx,
                                     "Replay or list a UEFI (TCG PC Client) firmware event log.");
        g_option_context_set_description(ctx, vtc_cmd_eventlog_description);
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                vtc_cli_print_error(error);
                return VTC_EXIT_USAGE;
        }
        if (rest == NULL || g_strv_length(rest) != 2 ||
            (g_strcmp0(rest[0], "replay") != 0 && g_strcmp0(rest[0], "show") != 0)) {
                g_printerr("Usage: vtc eventlog replay|show FILE [--json]\n"
                           "Run `vtc eventlog --help` for details.\n");
                return VTC_EXIT_USAGE;
        }
        replay = g_strcmp0(rest[0], "replay") == 0;
        log = vtc_eventlog_new_from_file(rest[1], &error);
        if (log == NULL) {
                vtc_cli_print_error(error);
                return VTC_EXIT_ERROR;
        }
        if (json) {
                root = replay ? vtc_cmd_eventlog_replay_json(log) : vtc_cmd_eventlog_show_json(log);
                vtc_cmd_eventlog_print_json(root);
        } else if (replay) {
                vtc_cmd_eventlog_replay_text(log);
        } else {
                vtc_cmd_eventlog_show_text(log);
        }
        return VTC_EXIT_OK;
}
