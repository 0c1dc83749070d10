/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "vtc-eventlog.h"
#include "vtc-test-common.h"

static VtcEventlog *
load_log(const gchar *rel)
{
        g_autofree gchar *path = vtc_test_data_path(rel);
        g_autoptr(GError) error = NULL;
        VtcEventlog *log = vtc_eventlog_new_from_file(path, &error);

        g_assert_no_error(error);
        g_assert_nonnull(log);
        return log;
}

/* The value a PCR has after TPM2_Startup with no event: 0, or all 0xff for PCRs 17-22. */
static gboolean
is_reset_value(const gchar *hex, guint pcr)
{
        gchar want = (pcr >= 17 && pcr <= 22) ? 'f' : '0';

        for (const gchar *p = hex; *p != '\0'; p++) {
                if (*p != want)
                        return FALSE;
        }
        return TRUE;
}

static gchar *
bank_pcr_hex(const VtcEventlogBank *bank, guint pcr)
{
        return vtc_hex_encode(bank->pcrs[pcr], bank->digest_size);
}

/*
 * Compares a replay with known PCR values. A PCR the log touches must match exactly; one it does
 * not touch must have its reset value in the known data (else the log could not explain it).
 * Returns the number of PCRs compared against a replayed value.
 */
static guint
assert_bank_matches(const VtcEventlog *log,
                    const gchar *alg_name,
                    guint pcr,
                    const gchar *want_hex,
                    guint32 skip_mask)
{
        const VtcHashAlg *alg = vtc_hash_alg_from_name(alg_name);
        const VtcEventlogBank *bank = NULL;
        g_autofree gchar *got = NULL;

        g_assert_nonnull(alg);
        if (skip_mask & (1u << pcr))
                return 0;
        bank = vtc_eventlog_get_bank(log, alg->alg);
        g_assert_nonnull(bank);
        g_assert_true(bank->replayable);
        if ((bank->touched & (1u << pcr)) == 0) {
                if (!is_reset_value(want_hex, pcr))
                        g_error("%s PCR %u = %s, but the log does not touch it",
                                alg_name,
                                pcr,
                                want_hex);
                return 0;
        }
        got = bank_pcr_hex(bank, pcr);
        if (g_ascii_strcasecmp(got, want_hex) != 0)
                g_error("%s PCR %u: replayed %s, expected %s", alg_name, pcr, got, want_hex);
        return 1;
}

/* ---- go-attestation expected_pcrs.json: PCRs read from the real TPMs ---- */

typedef struct {
        const gchar *key;  /* entry in expected_pcrs.json */
        const gchar *file; /* log */
        guint32 skip_mask; /* PCRs extended outside the log (note in the entry) */
        gboolean ebs_workaround;
        guint min_compared;
} GoldenGoAttestation;

static const GoldenGoAttestation golden_go[] = {
    {"option_rom_eventlog", "eventlog/go-attestation/option_rom_eventlog", 0, FALSE, 8},
    /* IMA extended PCR 10 outside the firmware log */
    {"sb_cert_eventlog", "eventlog/go-attestation/sb_cert_eventlog", 1u << 10, FALSE, 8},
    {"windows_gcp_shielded_vm.json",
     "eventlog/go-attestation/windows_gcp_split/eventlog.bin",
     0,
     FALSE,
     8},
    /* PCR 5 includes the two ExitBootServices events the firmware did not log */
    {"ebs_event_missing_eventlog",
     "eventlog/go-attestation/ebs_event_missing_eventlog",
     0,
     TRUE,
     1},
};

static void
test_go_attestation_expected(void)
{
        g_autofree gchar *json_path =
            vtc_test_data_path("eventlog/go-attestation/expected_pcrs.json");
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonObject *root = NULL;

        g_assert_true(json_parser_load_from_file(parser, json_path, &error));
        g_assert_no_error(error);
        root = json_node_get_object(json_parser_get_root(parser));
        /* every entry of the file is covered by the table */
        g_assert_cmpuint(json_object_get_size(root), ==, G_N_ELEMENTS(golden_go));

        for (gsize i = 0; i < G_N_ELEMENTS(golden_go); i++) {
                const GoldenGoAttestation *g = &golden_go[i];
                g_autoptr(VtcEventlog) log = load_log(g->file);
                JsonObject *entry = json_object_get_object_member(root, g->key);
                JsonObject *banks = json_object_get_object_member(entry, "expected_pcrs");
                g_autoptr(GList) bank_names = json_object_get_members(banks);
                guint compared = 0;

                for (GList *b = bank_names; b != NULL; b = b->next) {
                        const gchar *alg_name = b->data;
                        const VtcHashAlg *alg = vtc_hash_alg_from_name(alg_name);
                        JsonObject *pcrs = json_object_get_object_member(banks, alg_name);
                        g_autoptr(GList) pcr_names = json_object_get_members(pcrs);

                        if (vtc_eventlog_get_bank(log, alg->alg) == NULL) {
                                /* a SHA-1 log cannot predict the TPM's sha256 bank */
                                g_assert_cmpint(log->format, ==, VTC_EVENTLOG_FORMAT_SHA1);
                                continue;
                        }
                        for (GList *p = pcr_names; p != NULL; p = p->next) {
                                guint pcr = (guint)g_ascii_strtoull(p->data, NULL, 10);
                                const gchar *want = json_object_get_string_member(pcrs, p->data);
                                if (g->ebs_workaround && pcr == 5) {
                                        const gchar *const extra[] = {VTC_EVENTLOG_EBS_INVOCATION,
                                                                      VTC_EVENTLOG_EBS_SUCCESS,
                                                                      NULL};
                                        guint8 value[VTC_EVENTLOG_MAX_DIGEST];
                                        g_autofree gchar *got = NULL;
                                        g_autofree gchar *plain = NULL;
                                        const VtcEventlogBank *bank =
                                            vtc_eventlog_get_bank(log, alg->alg);
                                        g_assert_true(vtc_eventlog_replay_pcr_with_extra(log,
                                                                                         alg->alg,
                                                                                         5,
                                                                                         extra,
                                                                                         value,
                                                                                         &error));
                                        g_assert_no_error(error);
                                        got = vtc_hex_encode(value, bank->digest_size);
                                        g_assert_cmpstr(got, ==, want);
                                        /* and without the workaround it indeed does not match */
                                        plain = bank_pcr_hex(bank, 5);
                                        g_assert_cmpstr(plain, !=, want);
                                        compared++;
                                        continue;
                                }
                                compared +=
                                    assert_bank_matches(log, alg_name, pcr, want, g->skip_mask);
                        }
                }
                g_assert_cmpuint(compared, >=, g->min_compared);
        }
}

/* windows_gcp_split: the log replays to the quoted SHA-1 PCRs 0-23 (480 raw bytes). */
static void
test_windows_gcp_quoted_pcrs(void)
{
        g_autoptr(VtcEventlog) log =
            load_log("eventlog/go-attestation/windows_gcp_split/eventlog.bin");
        g_autofree gchar *path =
            vtc_test_data_path("eventlog/go-attestation/windows_gcp_split/pcrs_sha1_0-23.bin");
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) pcrs = vtc_file_read(path, 4096, &error);
        const guint8 *buf = NULL;
        gsize len = 0;
        const VtcEventlogBank *bank = vtc_eventlog_get_bank(log, TPM2_ALG_SHA1);
        guint touched = 0;

        g_assert_no_error(error);
        buf = g_bytes_get_data(pcrs, &len);
        g_assert_cmpuint(len, ==, 24 * 20);
        g_assert_nonnull(bank);
        for (guint pcr = 0; pcr < 24; pcr++) {
                if ((bank->touched & (1u << pcr)) == 0) {
                        g_autofree gchar *hex = vtc_hex_encode(buf + 20 * pcr, 20);
                        g_assert_true(is_reset_value(hex, pcr));
                        continue;
                }
                touched++;
                g_assert_true(
                    vtc_eventlog_check_pcr(log, TPM2_ALG_SHA1, pcr, buf + 20 * pcr, 20, &error));
                g_assert_no_error(error);
        }
        g_assert_cmpuint(touched, ==, 8); /* 0, 4, 5, 7, 11-14 */

        /* a flipped bit is reported as a mismatch naming the PCR */
        {
                guint8 bad[20];
                memcpy(bad, buf + 20 * 4, 20);
                bad[7] ^= 0x01;
                g_assert_false(vtc_eventlog_check_pcr(log, TPM2_ALG_SHA1, 4, bad, 20, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
                g_assert_nonnull(strstr(error->message, "sha1:4"));
                g_clear_error(&error);
        }
        /* no sha256 bank in a SHA-1 log */
        {
                guint8 zero[32] = {0};
                g_assert_false(vtc_eventlog_check_pcr(log, TPM2_ALG_SHA256, 0, zero, 32, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED);
        }
}

/* ima-evm-utils: tsspcrread output of the machine that wrote the sample log. */
static void
test_ima_evm_utils_pcrs(void)
{
        g_autoptr(VtcEventlog) log =
            load_log("eventlog/ima-evm-utils/sample-binary_bios_measurements-pcrs-8-9");
        g_autofree gchar *path =
            vtc_test_data_path("eventlog/ima-evm-utils/sample-tpm-2.0-pcrs-8-9");
        g_autofree gchar *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GError) error = NULL;
        guint compared = 0;
        guint seen = 0;

        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(text, "pcrread: tsspcrread -halg sha1"));
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 1; lines[i] != NULL; i++) {
                g_auto(GStrv) kv = NULL;
                guint pcr = 0;
                if (lines[i][0] == '\0')
                        continue;
                kv = g_strsplit(lines[i], ": ", 2);
                g_assert_cmpuint(g_strv_length(kv), ==, 2);
                pcr = (guint)g_ascii_strtoull(kv[0], NULL, 10);
                seen++;
                /* PCR 10 is IMA's, extended after the firmware log */
                compared += assert_bank_matches(log, "sha1", pcr, kv[1], 1u << 10);
        }
        g_assert_cmpuint(seen, ==, 24);
        g_assert_cmpuint(compared, ==, 11); /* 0-9 and 14 */
}

/* tpm2-tools event.bin.yaml lists PCR 0 in four banks. */
static void
test_tpm2_tools_event_bin(void)
{
        g_autoptr(VtcEventlog) log = load_log("eventlog/tpm2-tools/event.bin");
        struct {
                const gchar *alg;
                const gchar *pcr0;
        } want[] = {
            {"sha1", "543c314066a9cd7a6b6aa53f56b38e814a76efe7"},
            {"sha256", "118bdc4043596f8d6b7813438131959961f6abba29bab0075d16ca39664f5862"},
            {"sha384",
             "8ce4f7fcd5eaae9df051f735b0e5a37f836d54352e2efafc930fa69a28cd7c8d07014fd54c477a5dc46a0ff8c4ecaf07"},
            {"sha512",
             "2b39e8bfcb64133066c8939231a424cd0a2f3ceaf21b182e82b826916b5826fa3f98fcf1333a2948947ea52f"
             "03959e7737800e49722c972e5444f7be6aa9a431"},
        };
        const VtcEventlogEvent *ev = NULL;

        g_assert_cmpuint(log->n_banks, ==, 4);
        for (gsize i = 0; i < G_N_ELEMENTS(want); i++)
                g_assert_cmpuint(assert_bank_matches(log, want[i].alg, 0, want[i].pcr0, 0), ==, 1);
        g_assert_cmpuint(log->events->len, ==, 2);
        ev = g_ptr_array_index(log->events, 1);
        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_FIRMWARE_BLOB);
        g_assert_cmpuint(ev->blob_base, ==, 0x900000);
        g_assert_cmpuint(ev->blob_length, ==, 0xb00000);
}

/*
 * tpm2-tools event-moklisttrusted-hex.yaml: every event of event-moklisttrusted.bin, as
 * keylime's parser saw it (grouped by PCR). Each record must be found in our parse with the
 * same PCR, type, data and sha256 digest, and the counts must agree.
 */
typedef struct {
        gchar *type;
        gchar *data;
        gchar *digest;
        guint pcr;
        gboolean has_pcr;
} YamlRecord;

static void
yaml_record_clear(YamlRecord *r)
{
        g_clear_pointer(&r->type, g_free);
        g_clear_pointer(&r->data, g_free);
        g_clear_pointer(&r->digest, g_free);
        r->has_pcr = FALSE;
}

static gchar *
yaml_value(const gchar *line)
{
        const gchar *v = strchr(line, ':') + 1;
        g_autofree gchar *s = g_strstrip(g_strdup(v));
        gsize n = strlen(s);

        if (n >= 2 && (s[0] == '\'' || s[0] == '"'))
                return g_strndup(s + 1, n - 2);
        return g_steal_pointer(&s);
}

static void
yaml_check_record(const VtcEventlog *log, YamlRecord *r, guint *matched, gboolean *used)
{
        if (r->type == NULL)
                return;
        g_assert_true(r->has_pcr);
        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                g_autofree gchar *type = vtc_eventlog_event_type_describe(ev->type);
                g_autofree gchar *data = vtc_hex_encode(ev->data, ev->data_len);
                const VtcEventlogDigest *d = vtc_eventlog_event_get_digest(ev, TPM2_ALG_SHA256);
                g_autofree gchar *digest = d != NULL ? vtc_hex_encode(d->value, d->size) : NULL;
                if (used[i] || ev->pcr != r->pcr || g_strcmp0(type, r->type) != 0 ||
                    g_strcmp0(data, r->data) != 0)
                        continue;
                /* the Spec ID event is listed with a zero sha1 digest */
                if (ev->number != 0)
                        g_assert_cmpstr(digest, ==, r->digest);
                used[i] = TRUE;
                (*matched)++;
                yaml_record_clear(r);
                return;
        }
        g_error("yaml record PCR %u %s %s not found in the parsed log", r->pcr, r->type, r->digest);
}

static void
test_moklisttrusted_yaml(void)
{
        g_autoptr(VtcEventlog) log = load_log("eventlog/tpm2-tools/event-moklisttrusted.bin");
        g_autofree gchar *path =
            vtc_test_data_path("eventlog/tpm2-tools/event-moklisttrusted-hex.yaml");
        g_autofree gchar *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree gboolean *used = NULL;
        YamlRecord r = {0};
        guint records = 0;
        guint matched = 0;

        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        used = g_new0(gboolean, log->events->len);
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                const gchar *l = lines[i];
                const gchar *t = l + strspn(l, " -");
                if (l[0] == '-' && l[1] == ' ') {
                        yaml_check_record(log, &r, &matched, used);
                        records++;
                }
                if (g_str_has_prefix(t, "event_type:")) {
                        r.type = yaml_value(t);
                } else if (g_str_has_prefix(t, "event_data:")) {
                        r.data = yaml_value(t);
                } else if (g_str_has_prefix(t, "digest:")) {
                        r.digest = yaml_value(t);
                } else if (g_str_has_prefix(t, "pcr:")) {
                        g_autofree gchar *v = yaml_value(t);
                        r.pcr = (guint)g_ascii_strtoull(v, NULL, 10);
                        r.has_pcr = TRUE;
                }
        }
        yaml_check_record(log, &r, &matched, used);
        g_assert_cmpuint(records, ==, 97);
        g_assert_cmpuint(matched, ==, records);
        g_assert_cmpuint(log->events->len, ==, records);
        yaml_record_clear(&r);
}

/* ---- logs without known PCR values: structure, decoded content, stability ---- */

typedef struct {
        const gchar *file;
        VtcEventlogFormat format;
        guint n_events; /* including the Spec ID header event */
        guint n_banks;
        gboolean startup_locality; /* a StartupLocality event set PCR 0 */
        /* an event whose type name is @type and whose description contains @needle */
        const gchar *type;
        const gchar *needle;
        guint n_replayable; /* banks every event carries; 0: all of them */
} GoldenStructure;

static const GoldenStructure golden_structure[] = {
    {"eventlog/go-attestation/coreos_36_shielded_vm_no_secure_boot_eventlog",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     76,
     3,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "SecureBoot [8be4df61-93ca-11d2-aa0d-00e098032b8c] 1 bytes: 0 (disabled)"},
    {"eventlog/go-attestation/crypto_agile_eventlog",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     27,
     1,
     FALSE,
     "EV_SEPARATOR",
     "separator"},
    {"eventlog/go-attestation/ubuntu_2104_shielded_vm_no_secure_boot_eventlog",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     106,
     3,
     FALSE,
     "EV_EFI_BOOT_SERVICES_APPLICATION",
     "PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x1,0x0)/HD(15,GPT,9cef6107-0e4e-444c-8839-cf71b1250d5c,"
     "0x2800,0x35000)/\\EFI\\ubuntu\\shimx64.efi"},
    {"eventlog/go-attestation/windows_gcp_split/eventlog.bin",
     VTC_EVENTLOG_FORMAT_SHA1,
     21,
     1,
     FALSE,
     "EV_EFI_BOOT_SERVICES_APPLICATION",
     "\\EFI\\Microsoft\\Boot\\bootmgfw.efi"},
    {"eventlog/go-attestation/ebs_event_missing_eventlog",
     VTC_EVENTLOG_FORMAT_SHA1,
     38,
     1,
     FALSE,
     "EV_EFI_ACTION",
     "Calling EFI Application from Boot Option"},
    {"eventlog/ima-evm-utils/test_binary_bios_measurements",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     47,
     2,
     FALSE,
     "EV_SEPARATOR",
     "separator"},
    {"eventlog/keylime/binary_bios_measurements",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     121,
     2,
     TRUE,
     "EV_EFI_VARIABLE_BOOT",
     "Boot0000 [8be4df61-93ca-11d2-aa0d-00e098032b8c] 118 bytes: \"Fedora\" "
     "HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c,0x800,0x80000)/\\EFI\\fedora\\shimx64.efi"},
    {"eventlog/keylime/binary_bios_measurements-secureboot",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     99,
     1,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "SecureBoot"},
    {"eventlog/keylime/mb_log.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     102,
     1,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "PK ["},
    {"eventlog/misc/keylime-tests-swtpm-binary_bios_measurements",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     95,
     1,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "db ["},
    {"eventlog/misc/mb_log.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     107,
     1,
     FALSE,
     "EV_EFI_VARIABLE_BOOT",
     "BootOrder"},
    {"eventlog/misc/mb_log_secureboot.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     95,
     1,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "dbx ["},
    {"eventlog/misc/rust-keylime-uefi_log.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     124,
     1,
     FALSE,
     "EV_EFI_ACTION",
     "Exit Boot Services Invocation"},
    {"eventlog/misc/tcglog-parser-binary_bios_measurements",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     115,
     2,
     FALSE,
     "EV_SEPARATOR",
     "separator"},
    {"eventlog/tpm2-tools/event-arch-linux.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     25,
     2,
     FALSE,
     "EV_IPL",
     "initrd=\\intel-ucode.img initrd=\\initramfs-linux-lts.img cryptdevice=UUID="},
    {"eventlog/tpm2-tools/event-bootorder.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     104,
     2,
     FALSE,
     "EV_EFI_VARIABLE_BOOT",
     "BootOrder [8be4df61-93ca-11d2-aa0d-00e098032b8c]"},
    {"eventlog/tpm2-tools/event-gce-ubuntu-2104-log.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     112,
     3,
     FALSE,
     "EV_IPL",
     "grub_cmd: "},
    {"eventlog/tpm2-tools/event-postcode.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     59,
     2,
     FALSE,
     "EV_POST_CODE",
     "base 0xff130000 length 0xa7f000"},
    {"eventlog/tpm2-tools/event-sd-boot-fedora37.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     28,
     1,
     FALSE,
     "EV_IPL",
     " console=ttyS0 console=tty0 efi=debug"},
    {"eventlog/tpm2-tools/event-uefi-sha1-log.bin",
     VTC_EVENTLOG_FORMAT_SHA1,
     17,
     1,
     FALSE,
     "EV_EFI_GPT_EVENT",
     "2 partitions: \"EFI System Partition\", \"\""},
    {"eventlog/tpm2-tools/event-uefiaction.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     2,
     4,
     FALSE,
     "EV_EFI_ACTION",
     "Calling EFI Application from Boot Option",
     2},
    {"eventlog/tpm2-tools/event-uefiservices.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     2,
     2,
     FALSE,
     "EV_EFI_BOOT_SERVICES_DRIVER",
     "PciRoot(0x0)/Pci(0x2,0x0)/Pci(0x0,0x0)/Offset(0x12600,0x3c3ff)"},
    {"eventlog/tpm2-tools/event-uefivar.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     2,
     4,
     FALSE,
     "EV_EFI_VARIABLE_DRIVER_CONFIG",
     "SecureBoot [8be4df61-93ca-11d2-aa0d-00e098032b8c] 1 bytes: 1 (enabled)",
     2},
    {"eventlog/tpm2-tss/binary_measurements_hcrtm.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     204,
     3,
     FALSE,
     "EV_EFI_BOOT_SERVICES_APPLICATION",
     "/Sata(0x7,0x0,0x0)/HD(1,GPT,86e17d62-803a-4f9d-9ee5-f5dfbb3bbc56,0x800,0x100000)/"
     "\\EFI\\BOOT\\BOOTX64.EFI"},
    {"eventlog/tpm2-tss/binary_measurements_nuc.bin",
     VTC_EVENTLOG_FORMAT_SHA1,
     17,
     1,
     FALSE,
     "EV_EFI_GPT_EVENT",
     "\"EFI System Partition\""},
    {"eventlog/tpm2-tss/binary_measurements_pc_client.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     33,
     2,
     FALSE,
     "EV_SEPARATOR",
     "separator"},
    {"eventlog/tpm2-tss/specid-vendordata.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     1,
     2,
     FALSE,
     "EV_NO_ACTION",
     "Spec ID Event03: platform class 0, spec 2.0 errata 0, uintn 2, algorithms sha1 (20), "
     "sha256 (32)"},
    {"eventlog/tpm2-tss/event-uefiaction.bin",
     VTC_EVENTLOG_FORMAT_CRYPTO_AGILE,
     2,
     4,
     FALSE,
     "EV_EFI_ACTION",
     "Calling EFI Application from Boot Option",
     2},
};

static gchar *
log_fingerprint(const VtcEventlog *log)
{
        g_autoptr(GString) s = g_string_new(NULL);

        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                g_string_append_printf(s,
                                       "%u %u %u %s\n",
                                       ev->number,
                                       ev->pcr,
                                       ev->type,
                                       ev->description);
        }
        for (guint b = 0; b < log->n_banks; b++) {
                for (guint p = 0; p < VTC_EVENTLOG_NUM_PCRS; p++) {
                        g_autofree gchar *hex = bank_pcr_hex(&log->banks[b], p);
                        g_string_append_printf(s, "%s:%u=%s\n", log->banks[b].name, p, hex);
                }
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
test_structure(void)
{
        for (gsize i = 0; i < G_N_ELEMENTS(golden_structure); i++) {
                const GoldenStructure *g = &golden_structure[i];
                g_autoptr(VtcEventlog) log = load_log(g->file);
                g_autoptr(VtcEventlog) again = load_log(g->file);
                g_autofree gchar *fp1 = log_fingerprint(log);
                g_autofree gchar *fp2 = log_fingerprint(again);
                gboolean found = FALSE;

                g_test_message("%s", g->file);
                g_assert_cmpint(log->format, ==, g->format);
                g_assert_cmpuint(log->events->len, ==, g->n_events);
                g_assert_cmpuint(log->n_banks, ==, g->n_banks);
                g_assert_cmpint(log->has_startup_locality, ==, g->startup_locality);
                g_assert_cmpstr(fp1, ==, fp2);
                for (guint j = 0; j < log->events->len; j++) {
                        const VtcEventlogEvent *ev = g_ptr_array_index(log->events, j);
                        g_assert_cmpuint(ev->number, ==, j);
                        g_assert_nonnull(ev->description);
                        g_assert_true(g_utf8_validate(ev->description, -1, NULL));
                        /* none of these real logs has data we fail to decode */
                        g_assert_cmpint(ev->kind, !=, VTC_EVENTLOG_DATA_UNDECODED);
                        g_assert_cmpint(ev->extended, ==, ev->type != VTC_EV_NO_ACTION);
                        if (g_strcmp0(vtc_eventlog_event_type_to_string(ev->type), g->type) == 0 &&
                            strstr(ev->description, g->needle) != NULL)
                                found = TRUE;
                }
                if (!found)
                        g_error("%s: no %s event with \"%s\"", g->file, g->type, g->needle);
                {
                        guint replayable = 0;
                        for (guint b = 0; b < log->n_banks; b++)
                                replayable += log->banks[b].replayable ? 1 : 0;
                        g_assert_cmpuint(replayable,
                                         ==,
                                         g->n_replayable != 0 ? g->n_replayable : log->n_banks);
                }
        }
}

/* Decoded fields the verifier's boot policy uses. */
static void
test_decoded_fields(void)
{
        g_autoptr(VtcEventlog) ubuntu =
            load_log("eventlog/go-attestation/ubuntu_2104_shielded_vm_no_secure_boot_eventlog");
        g_autoptr(VtcEventlog) sb =
            load_log("eventlog/keylime/binary_bios_measurements-secureboot");
        g_autoptr(VtcEventlog) sdboot = load_log("eventlog/tpm2-tools/event-sd-boot-fedora37.bin");
        gboolean enabled = TRUE;
        guint apps = 0;
        guint separators = 0;
        gboolean saw_cmdline = FALSE;
        gboolean saw_initrd_tag = FALSE;

        g_assert_true(vtc_eventlog_get_secure_boot(ubuntu, &enabled));
        g_assert_false(enabled);
        g_assert_true(vtc_eventlog_get_secure_boot(sb, &enabled));
        g_assert_true(enabled);

        for (guint i = 0; i < ubuntu->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(ubuntu->events, i);
                if (ev->type == VTC_EV_EFI_BOOT_SERVICES_APPLICATION) {
                        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_IMAGE_LOAD);
                        g_assert_nonnull(ev->device_path);
                        if (apps == 0) {
                                g_assert_true(g_str_has_suffix(ev->device_path,
                                                               "\\EFI\\ubuntu\\shimx64.efi"));
                                g_assert_cmpuint(ev->image_length, ==, 954576);
                                g_assert_nonnull(
                                    vtc_eventlog_event_get_digest(ev, TPM2_ALG_SHA256));
                        }
                        apps++;
                }
                if (ev->kind == VTC_EVENTLOG_DATA_SEPARATOR) {
                        g_assert_cmpuint(ev->separator_value, ==, 0);
                        g_assert_false(ev->separator_error);
                        separators++;
                }
                if (ev->type == VTC_EV_IPL && ev->text != NULL &&
                    g_str_has_prefix(ev->text, "kernel_cmdline: "))
                        saw_cmdline = TRUE;
        }
        g_assert_cmpuint(apps, >=, 2);
        g_assert_cmpuint(separators, ==, 8); /* PCRs 0-7 */
        g_assert_true(saw_cmdline);

        for (guint i = 0; i < sdboot->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(sdboot->events, i);
                if (ev->kind == VTC_EVENTLOG_DATA_TAGGED && ev->tag_id == 0x8f3b22ec)
                        saw_initrd_tag = TRUE;
        }
        g_assert_true(saw_initrd_tag);
        g_assert_cmpstr(vtc_eventlog_event_type_to_string(VTC_EV_EFI_HCRTM_EVENT),
                        ==,
                        "EV_EFI_HCRTM_EVENT");
        g_assert_null(vtc_eventlog_event_type_to_string(0x12345678));
        {
                g_autofree gchar *d = vtc_eventlog_event_type_describe(0x12345678);
                g_assert_cmpstr(d, ==, "0x12345678");
        }
}

/* tpm2-tss H-CRTM log: PCR 0 starts at 00..04, and the sm3_256 bank is carried along. */
static void
test_hcrtm(void)
{
        g_autoptr(VtcEventlog) log = load_log("eventlog/tpm2-tss/binary_measurements_hcrtm.bin");
        const VtcEventlogEvent *hcrtm = g_ptr_array_index(log->events, 1);

        g_assert_true(log->has_hcrtm);
        g_assert_false(log->has_startup_locality);
        g_assert_cmpuint(hcrtm->type, ==, VTC_EV_EFI_HCRTM_EVENT);
        g_assert_cmpstr(hcrtm->text, ==, "HCRTM");
        g_assert_nonnull(vtc_eventlog_get_bank(log, TPM2_ALG_SM3_256));

        /* recompute PCR 0 of each bank by hand from the event digests */
        for (guint b = 0; b < log->n_banks; b++) {
                const VtcEventlogBank *bank = &log->banks[b];
                guint8 pcr0[VTC_EVENTLOG_MAX_DIGEST] = {0};
                g_autoptr(GError) error = NULL;
                if (!bank->replayable) {
                        /* only sm3_256 may lack OpenSSL support */
                        g_assert_cmpuint(bank->alg, ==, TPM2_ALG_SM3_256);
                        continue;
                }
                pcr0[bank->digest_size - 1] = 4;
                for (guint i = 0; i < log->events->len; i++) {
                        const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                        const VtcEventlogDigest *d = vtc_eventlog_event_get_digest(ev, bank->alg);
                        guint8 buf[2 * VTC_EVENTLOG_MAX_DIGEST];
                        if (ev->pcr != 0 || !ev->extended)
                                continue;
                        memcpy(buf, pcr0, bank->digest_size);
                        memcpy(buf + bank->digest_size, d->value, bank->digest_size);
                        g_assert_true(
                            vtc_hash(bank->hash, buf, 2 * bank->digest_size, pcr0, &error));
                }
                g_assert_true(
                    vtc_eventlog_check_pcr(log, bank->alg, 0, pcr0, bank->digest_size, &error));
                g_assert_no_error(error);
        }
}

/* ---- negative cases ---- */

static void
test_negative(void)
{
        const struct {
                const gchar *file;
                const gchar *message;
        } cases[] = {
            {"eventlog/keylime/binary_bios_measurements-bogus", "bytes of data but only"},
            {"eventlog/keylime/binary_bios_measurements-empty", "event log is empty"},
            {"eventlog/go-attestation/short_no_action_eventlog", "not a Spec ID event"},
            /* its Spec ID event says 37 bytes but its vendor info runs 4 bytes past that */
            {"eventlog/tpm2-tools/specid-vendordata.bin", "vendor info exceeds the event size"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree gchar *path = vtc_test_data_path(cases[i].file);
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcEventlog) log = vtc_eventlog_new_from_file(path, &error);
                g_assert_null(log);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                if (strstr(error->message, cases[i].message) == NULL)
                        g_error("%s: unexpected message: %s", cases[i].file, error->message);
        }
}

/* Every prefix of a real log parses exactly when it ends on an event boundary. */
static void
truncate_log(const gchar *rel)
{
        g_autoptr(VtcEventlog) full = load_log(rel);
        gsize len = 0;
        const guint8 *buf = g_bytes_get_data(full->raw, &len);
        g_autoptr(GHashTable) ends = g_hash_table_new(g_direct_hash, g_direct_equal);

        for (guint i = 0; i < full->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(full->events, i);
                gsize end = (gsize)(ev->data - buf) + ev->data_len;
                g_hash_table_add(ends, GSIZE_TO_POINTER(end));
        }
        g_assert_true(g_hash_table_contains(ends, GSIZE_TO_POINTER(len)));
        for (gsize cut = 0; cut < len; cut++) {
                g_autoptr(GError) error = NULL;
                g_autofree guint8 *copy = g_memdup2(buf, cut);
                g_autoptr(VtcEventlog) log = vtc_eventlog_new_from_data(copy, cut, &error);
                if (g_hash_table_contains(ends, GSIZE_TO_POINTER(cut))) {
                        g_assert_no_error(error);
                        g_assert_nonnull(log);
                        g_assert_cmpuint(log->events->len, <, full->events->len);
                } else {
                        g_assert_null(log);
                        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                }
        }
}

static void
test_truncated(void)
{
        truncate_log("eventlog/go-attestation/sb_cert_eventlog");
        truncate_log("eventlog/tpm2-tss/binary_measurements_nuc.bin");
}

/* ---- synthetic logs ---- */

static void
put_u16(GByteArray *a, guint16 v)
{
        guint8 b[2] = {v & 0xff, v >> 8};
        g_byte_array_append(a, b, 2);
}

static void
put_u32(GByteArray *a, guint32 v)
{
        guint8 b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
        g_byte_array_append(a, b, 4);
}

static void
put_u64(GByteArray *a, guint64 v)
{
        put_u32(a, (guint32)v);
        put_u32(a, (guint32)(v >> 32));
}

static void
put_fill(GByteArray *a, guint8 v, gsize n)
{
        for (gsize i = 0; i < n; i++)
                g_byte_array_append(a, &v, 1);
}

typedef struct {
        guint16 alg;
        guint16 size;
} SynAlg;

/* A Spec ID Event03 header event declaring @algs. */
static GByteArray *
syn_header(const SynAlg *algs, guint n)
{
        GByteArray *a = g_byte_array_new();

        put_u32(a, 0);
        put_u32(a, VTC_EV_NO_ACTION);
        put_fill(a, 0, 20);
        put_u32(a, 16 + 4 + 4 + 4 + 4 * n + 1);
        g_byte_array_append(a, (const guint8 *)"Spec ID Event03", 16);
        put_u32(a, 0);
        put_fill(a, 0, 1); /* minor */
        put_fill(a, 2, 1); /* major */
        put_fill(a, 0, 1);
        put_fill(a, 2, 1);
        put_u32(a, n);
        for (guint i = 0; i < n; i++) {
                put_u16(a, algs[i].alg);
                put_u16(a, algs[i].size);
        }
        put_fill(a, 0, 1);
        return a;
}

/* A TCG_PCR_EVENT2 whose digests are all bytes @fill, with @data. */
static void
syn_event2(GByteArray *a,
           guint32 pcr,
           guint32 type,
           const SynAlg *algs,
           guint n,
           guint8 fill,
           const void *data,
           gsize len)
{
        put_u32(a, pcr);
        put_u32(a, type);
        put_u32(a, n);
        for (guint i = 0; i < n; i++) {
                put_u16(a, algs[i].alg);
                put_fill(a, fill, algs[i].size);
        }
        put_u32(a, (guint32)len);
        g_byte_array_append(a, data, (guint)len);
}

static VtcEventlog *
syn_parse(GByteArray *a, GError **error)
{
        return vtc_eventlog_new_from_data(a->data, a->len, error);
}

static void
test_synthetic_banks(void)
{
        /* sha256, an unknown 7-byte algorithm, sm3_256 */
        const SynAlg algs[] = {{TPM2_ALG_SHA256, 32}, {0x1234, 7}, {TPM2_ALG_SM3_256, 32}};
        g_autoptr(GByteArray) a = syn_header(algs, 3);
        const guint8 locality[] = "StartupLocality\0\3";
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log = NULL;
        const VtcEventlogBank *unknown = NULL;
        guint8 want[32] = {0};
        guint8 buf[64];

        syn_event2(a, 0, VTC_EV_NO_ACTION, algs, 3, 0, locality, 17);
        syn_event2(a, 0, VTC_EV_S_CRTM_VERSION, algs, 3, 0xaa, "v\0", 2);
        syn_event2(a, 7, VTC_EV_NO_ACTION, algs, 3, 0x00, "x", 1);
        log = syn_parse(a, &error);
        g_assert_no_error(error);
        g_assert_true(log->has_startup_locality);
        g_assert_cmpuint(log->startup_locality, ==, 3);
        unknown = vtc_eventlog_get_bank(log, 0x1234);
        g_assert_nonnull(unknown);
        g_assert_false(unknown->replayable);
        g_assert_cmpstr(unknown->name, ==, "alg_0x1234");
        g_assert_nonnull(strstr(unknown->not_replayable_reason, "unknown"));
        /* sha256 PCR 0 = H(00..03 || aa..aa) */
        want[31] = 3;
        memcpy(buf, want, 32);
        memset(buf + 32, 0xaa, 32);
        g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256), buf, 64, want, &error));
        g_assert_true(vtc_eventlog_check_pcr(log, TPM2_ALG_SHA256, 0, want, 32, &error));
        g_assert_no_error(error);
        /* EV_NO_ACTION in PCR 7 touched nothing */
        g_assert_cmpuint(vtc_eventlog_get_bank(log, TPM2_ALG_SHA256)->touched, ==, 1u);
        /* unknown bank: not replayable, reported as such */
        g_assert_false(vtc_eventlog_check_pcr(log, 0x1234, 0, want, 7, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED);
        g_clear_error(&error);
        /* bad arguments */
        g_assert_false(vtc_eventlog_check_pcr(log, TPM2_ALG_SHA256, 24, want, 32, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_false(vtc_eventlog_check_pcr(log, TPM2_ALG_SHA256, 0, want, 20, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
}

/* An event that lacks a declared bank makes that bank, and only it, not replayable. */
static void
test_synthetic_missing_digest(void)
{
        const SynAlg algs[] = {{TPM2_ALG_SHA1, 20}, {TPM2_ALG_SHA256, 32}};
        g_autoptr(GByteArray) a = syn_header(algs, 2);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log = NULL;

        syn_event2(a, 4, VTC_EV_EFI_ACTION, algs, 2, 1, "a", 1);
        syn_event2(a, 4, VTC_EV_EFI_ACTION, algs + 1, 1, 2, "b", 1);
        log = syn_parse(a, &error);
        g_assert_no_error(error);
        g_assert_false(vtc_eventlog_get_bank(log, TPM2_ALG_SHA1)->replayable);
        g_assert_true(vtc_eventlog_get_bank(log, TPM2_ALG_SHA256)->replayable);
}

/* Odd event data is recorded as undecoded and never fails the replay. */
static void
test_synthetic_undecodable(void)
{
        const SynAlg algs[] = {{TPM2_ALG_SHA256, 32}};
        g_autoptr(GByteArray) a = syn_header(algs, 1);
        g_autoptr(GByteArray) var = g_byte_array_new();
        g_autoptr(GByteArray) img = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log = NULL;
        const VtcEventlogEvent *ev = NULL;

        /* UEFI_VARIABLE_DATA with a name length of 2^63 */
        put_fill(var, 0x11, 16);
        put_u64(var, G_GUINT64_CONSTANT(0x8000000000000000));
        put_u64(var, 4);
        put_fill(var, 0x41, 8);
        syn_event2(a, 7, VTC_EV_EFI_VARIABLE_DRIVER_CONFIG, algs, 1, 3, var->data, var->len);
        /* UEFI_IMAGE_LOAD_EVENT whose device path has a zero-length node */
        put_u64(img, 0x1000);
        put_u64(img, 0x2000);
        put_u64(img, 0);
        put_u64(img, 8);
        put_fill(img, 0x04, 1);
        put_fill(img, 0x04, 1);
        put_u16(img, 0);
        put_fill(img, 0x7f, 1);
        put_fill(img, 0xff, 1);
        put_u16(img, 4);
        syn_event2(a, 4, VTC_EV_EFI_BOOT_SERVICES_APPLICATION, algs, 1, 4, img->data, img->len);
        /* separator with the error value */
        syn_event2(a, 4, VTC_EV_SEPARATOR, algs, 1, 5, "\1\0\0\0", 4);
        /* H-CRTM with wrong data, not in PCR 0 order: undecoded, but extended */
        syn_event2(a, 2, VTC_EV_EFI_HCRTM_EVENT, algs, 1, 6, "nope", 4);
        log = syn_parse(a, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(log->events->len, ==, 5);
        ev = g_ptr_array_index(log->events, 1);
        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_UNDECODED);
        g_assert_nonnull(ev->decode_error);
        g_assert_null(ev->var_name);
        g_assert_true(g_str_has_prefix(ev->description, "undecoded: "));
        ev = g_ptr_array_index(log->events, 2);
        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_UNDECODED);
        g_assert_nonnull(strstr(ev->decode_error, "device path"));
        ev = g_ptr_array_index(log->events, 3);
        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_SEPARATOR);
        g_assert_true(ev->separator_error);
        ev = g_ptr_array_index(log->events, 4);
        g_assert_cmpint(ev->kind, ==, VTC_EVENTLOG_DATA_UNDECODED);
        g_assert_true(ev->extended);
        g_assert_false(log->has_hcrtm);
        g_assert_cmpuint(vtc_eventlog_get_bank(log, TPM2_ALG_SHA256)->touched,
                         ==,
                         (1u << 7) | (1u << 4) | (1u << 2));
}

/* Structural damage must fail with a clear error. */
static void
test_synthetic_hostile(void)
{
        const SynAlg algs[] = {{TPM2_ALG_SHA256, 32}};
        struct {
                const gchar *what;
                gint code;
                const gchar *message;
        } cases[] = {
            {"huge event size", VTC_ERROR_INVALID_DATA, "bytes of data but only"},
            {"digest count overflow", VTC_ERROR_INVALID_DATA, "has 4294967295 digests"},
            {"undeclared digest algorithm", VTC_ERROR_INVALID_DATA, "does not declare"},
            {"duplicate digest", VTC_ERROR_INVALID_DATA, "two sha256 digests"},
            {"PCR out of range", VTC_ERROR_INVALID_DATA, "extends PCR 24"},
            {"algorithm count overflow", VTC_ERROR_INVALID_DATA, "declares 4294967295 algorithms"},
            {"wrong size for a known algorithm", VTC_ERROR_INVALID_DATA, "digest size 20"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GByteArray) a = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcEventlog) log = NULL;

                if (i == 5) {
                        a = syn_header(algs, 1);
                        /* numberOfAlgorithms sits at 32 + 16 + 8 */
                        memset(a->data + 32 + 24, 0xff, 4);
                } else if (i == 6) {
                        const SynAlg bad[] = {{TPM2_ALG_SHA256, 20}};
                        a = syn_header(bad, 1);
                } else {
                        a = syn_header(algs, 1);
                }
                if (i == 0) {
                        put_u32(a, 0);
                        put_u32(a, VTC_EV_IPL);
                        put_u32(a, 1);
                        put_u16(a, TPM2_ALG_SHA256);
                        put_fill(a, 0, 32);
                        put_u32(a, 0xffffffff);
                } else if (i == 1) {
                        put_u32(a, 0);
                        put_u32(a, VTC_EV_IPL);
                        put_u32(a, 0xffffffff);
                } else if (i == 2) {
                        const SynAlg other[] = {{TPM2_ALG_SHA1, 20}};
                        syn_event2(a, 0, VTC_EV_IPL, other, 1, 0, "x", 1);
                } else if (i == 3) {
                        const SynAlg twice[] = {{TPM2_ALG_SHA256, 32}, {TPM2_ALG_SHA256, 32}};
                        g_byte_array_set_size(a, 0);
                        g_byte_array_unref(a);
                        {
                                const SynAlg two[] = {{TPM2_ALG_SHA256, 32}, {TPM2_ALG_SHA1, 20}};
                                a = syn_header(two, 2);
                        }
                        syn_event2(a, 0, VTC_EV_IPL, twice, 2, 0, "x", 1);
                } else if (i == 4) {
                        syn_event2(a, 24, VTC_EV_IPL, algs, 1, 0, "x", 1);
                }
                log = syn_parse(a, &error);
                g_test_message("%s", cases[i].what);
                g_assert_null(log);
                g_assert_error(error, VTC_ERROR, cases[i].code);
                if (strstr(error->message, cases[i].message) == NULL)
                        g_error("%s: unexpected message: %s", cases[i].what, error->message);
        }
}

/* Limits: too many events, too large a log. */
static void
test_synthetic_limits(void)
{
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcEventlog) log = NULL;

        /* SHA-1 format events of 32 bytes each, one more than allowed */
        for (guint i = 0; i <= VTC_EVENTLOG_MAX_EVENTS; i++) {
                put_u32(a, 4);
                put_u32(a, VTC_EV_ACTION);
                put_fill(a, 0x5a, 20);
                put_u32(a, 0);
        }
        log = syn_parse(a, &error);
        g_assert_null(log);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        g_clear_error(&error);

        /* exactly the limit is fine */
        g_byte_array_set_size(a, a->len - 32);
        log = syn_parse(a, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(log->events->len, ==, VTC_EVENTLOG_MAX_EVENTS);
        g_clear_pointer(&log, vtc_eventlog_free);

        g_byte_array_set_size(a, VTC_EVENTLOG_MAX_LOG_SIZE + 1);
        log = syn_parse(a, &error);
        g_assert_null(log);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/eventlog/go-attestation-expected", test_go_attestation_expected);
        g_test_add_func("/eventlog/windows-gcp-quoted-pcrs", test_windows_gcp_quoted_pcrs);
        g_test_add_func("/eventlog/ima-evm-utils-pcrs", test_ima_evm_utils_pcrs);
        g_test_add_func("/eventlog/tpm2-tools-event-bin", test_tpm2_tools_event_bin);
        g_test_add_func("/eventlog/moklisttrusted-yaml", test_moklisttrusted_yaml);
        g_test_add_func("/eventlog/structure", test_structure);
        g_test_add_func("/eventlog/decoded-fields", test_decoded_fields);
        g_test_add_func("/eventlog/hcrtm", test_hcrtm);
        g_test_add_func("/eventlog/negative", test_negative);
        g_test_add_func("/eventlog/truncated", test_truncated);
        g_test_add_func("/eventlog/synthetic-banks", test_synthetic_banks);
        g_test_add_func("/eventlog/synthetic-missing-digest", test_synthetic_missing_digest);
        g_test_add_func("/eventlog/synthetic-undecodable", test_synthetic_undecodable);
        g_test_add_func("/eventlog/synthetic-hostile", test_synthetic_hostile);
        g_test_add_func("/eventlog/synthetic-limits", test_synthetic_limits);
        return g_test_run();
}
