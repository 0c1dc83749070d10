/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <tss2/tss2_tpm2_types.h>

#include "vtc-util.h"

G_BEGIN_DECLS

/*
 * UEFI firmware event log (TCG PC Client Platform Firmware Profile), as found in
 * /sys/kernel/security/tpm0/binary_bios_measurements: parsed, decoded and replayed in one pass.
 *
 * Both layouts are read: the legacy SHA-1 log (TCG_PCR_EVENT only, TPM 1.2 style) and the
 * crypto-agile log (a TCG_PCR_EVENT "Spec ID Event03" header, then TCG_PCR_EVENT2 events).
 *
 * Replay rules:
 *  - EV_NO_ACTION events are never extended.
 *  - A StartupLocality EV_NO_ACTION event in PCR 0 sets PCR 0's initial value to the locality
 *    (00..03 for locality 3), in every bank.
 *  - An EV_EFI_HCRTM_EVENT in PCR 0 sets PCR 0's initial value to 00..04 (the H-CRTM runs at
 *    locality 4; TPM library part 1, "H-CRTM"), then its digest is extended as usual.
 *  - PCRs 17-22 start at all 0xff, the others at zero (DRTM resets are not modelled).
 *  - A bank whose algorithm we do not know (or OpenSSL cannot compute) is skipped by its
 *    declared digest size and reported as not replayable; it never makes the parse fail.
 *  - A failure to decode one event's data never fails the parse: the event is marked undecoded.
 * Structural damage (truncation, sizes past the end, unknown digest algorithm in an event,
 * too many events) fails the whole parse with VTC_ERROR_INVALID_DATA or VTC_ERROR_TOO_LARGE.
 */

#define VTC_EVENTLOG_NUM_PCRS       24
#define VTC_EVENTLOG_MAX_BANKS      16
#define VTC_EVENTLOG_MAX_DIGEST     64                 /* largest digest we replay (sha512) */
#define VTC_EVENTLOG_MAX_LOG_SIZE   (16 * 1024 * 1024) /* whole log */
#define VTC_EVENTLOG_MAX_EVENTS     65536
#define VTC_EVENTLOG_MAX_EVENT_DATA (4 * 1024 * 1024) /* one event's data */

/* Event types (TCG PC Client PFP, section 10.4.1) */
#define VTC_EV_PREBOOT_CERT                  0x00000000u
#define VTC_EV_POST_CODE                     0x00000001u
#define VTC_EV_UNUSED                        0x00000002u
#define VTC_EV_NO_ACTION                     0x00000003u
#define VTC_EV_SEPARATOR                     0x00000004u
#define VTC_EV_ACTION                        0x00000005u
#define VTC_EV_EVENT_TAG                     0x00000006u
#define VTC_EV_S_CRTM_CONTENTS               0x00000007u
#define VTC_EV_S_CRTM_VERSION                0x00000008u
#define VTC_EV_CPU_MICROCODE                 0x00000009u
#define VTC_EV_PLATFORM_CONFIG_FLAGS         0x0000000au
#define VTC_EV_TABLE_OF_DEVICES              0x0000000bu
#define VTC_EV_COMPACT_HASH                  0x0000000cu
#define VTC_EV_IPL                           0x0000000du
#define VTC_EV_IPL_PARTITION_DATA            0x0000000eu
#define VTC_EV_NONHOST_CODE                  0x0000000fu
#define VTC_EV_NONHOST_CONFIG                0x00000010u
#define VTC_EV_NONHOST_INFO                  0x00000011u
#define VTC_EV_OMIT_BOOT_DEVICE_EVENTS       0x00000012u
#define VTC_EV_EFI_VARIABLE_DRIVER_CONFIG    0x80000001u
#define VTC_EV_EFI_VARIABLE_BOOT             0x80000002u
#define VTC_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define VTC_EV_EFI_BOOT_SERVICES_DRIVER      0x80000004u
#define VTC_EV_EFI_RUNTIME_SERVICES_DRIVER   0x80000005u
#define VTC_EV_EFI_GPT_EVENT                 0x80000006u
#define VTC_EV_EFI_ACTION                    0x80000007u
#define VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB    0x80000008u
#define VTC_EV_EFI_HANDOFF_TABLES            0x80000009u
#define VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB2   0x8000000au
#define VTC_EV_EFI_HANDOFF_TABLES2           0x8000000bu
#define VTC_EV_EFI_VARIABLE_BOOT2            0x8000000cu
#define VTC_EV_EFI_GPT_EVENT2                0x8000000du
#define VTC_EV_EFI_HCRTM_EVENT               0x80000010u
#define VTC_EV_EFI_VARIABLE_AUTHORITY        0x800000e0u
#define VTC_EV_EFI_SPDM_FIRMWARE_BLOB        0x800000e1u
#define VTC_EV_EFI_SPDM_FIRMWARE_CONFIG      0x800000e2u

/* EV_EFI_ACTION strings of ExitBootServices(), for vtc_eventlog_replay_pcr_with_extra() */
#define VTC_EVENTLOG_EBS_INVOCATION "Exit Boot Services Invocation"
#define VTC_EVENTLOG_EBS_SUCCESS    "Exit Boot Services Returned with Success"
#define VTC_EVENTLOG_EBS_FAILURE    "Exit Boot Services Returned with Failure"

typedef enum {
        VTC_EVENTLOG_FORMAT_SHA1,         /* TCG_PCR_EVENT only */
        VTC_EVENTLOG_FORMAT_CRYPTO_AGILE, /* Spec ID Event03 + TCG_PCR_EVENT2 */
} VtcEventlogFormat;

/* What the decoder understood of an event's data; the matching fields below are set. */
typedef enum {
        VTC_EVENTLOG_DATA_NONE,          /* not decoded (type without structure): see description */
        VTC_EVENTLOG_DATA_UNDECODED,     /* decoding failed: see decode_error */
        VTC_EVENTLOG_DATA_STRING,        /* text */
        VTC_EVENTLOG_DATA_SEPARATOR,     /* separator_value, separator_error */
        VTC_EVENTLOG_DATA_VARIABLE,      /* var_* (UEFI_VARIABLE_DATA) */
        VTC_EVENTLOG_DATA_IMAGE_LOAD,    /* image_*, device_path (UEFI_IMAGE_LOAD_EVENT) */
        VTC_EVENTLOG_DATA_FIRMWARE_BLOB, /* blob_base, blob_length (and text for BLOB2) */
        VTC_EVENTLOG_DATA_GPT,           /* gpt_* */
        VTC_EVENTLOG_DATA_SPEC_ID,       /* the Spec ID header event */
        VTC_EVENTLOG_DATA_STARTUP_LOCALITY, /* startup_locality */
        VTC_EVENTLOG_DATA_HANDOFF_TABLES,   /* description lists the table GUIDs */
        VTC_EVENTLOG_DATA_TAGGED,           /* tag_id; data after the tag header in tag_data */
} VtcEventlogDataKind;

typedef struct {
        TPM2_ALG_ID alg;
        guint16 size;
        const guint8 *value; /* points into the log; valid as long as the VtcEventlog */
} VtcEventlogDigest;

/*
 * One event. Everything is read-only for users and owned by the VtcEventlog; pointers to bytes
 * point into the log's own copy of the raw data.
 */
typedef struct {
        guint number;      /* 0-based position in the log; the Spec ID header event is number 0 */
        guint32 pcr;       /* PCR index as written */
        guint32 type;      /* event type, see vtc_eventlog_event_type_to_string() */
        gboolean extended; /* FALSE for EV_NO_ACTION: not extended into any PCR */
        VtcEventlogDigest *digests; /* in log order; a SHA-1 log has one sha1 digest */
        guint n_digests;
        const guint8 *data;
        gsize data_len;
        gchar *description; /* one-line human-readable decoding, never NULL, valid UTF-8 */

        VtcEventlogDataKind kind;
        gchar *decode_error; /* kind == UNDECODED: why */
        /* STRING (EV_ACTION, EV_EFI_ACTION, EV_IPL, EV_POST_CODE, EV_S_CRTM_VERSION,
         * EV_EFI_PLATFORM_FIRMWARE_BLOB2's description...): UTF-8, control characters escaped */
        gchar *text;
        /* SEPARATOR: the 32-bit value; error is TRUE for 0x00000001 and 0xffffffff */
        guint32 separator_value;
        gboolean separator_error;
        /* VARIABLE */
        guint8 var_guid[16];
        gchar *var_name; /* UTF-8 */
        const guint8 *var_data;
        gsize var_data_len;
        /* IMAGE_LOAD */
        guint64 image_location;
        guint64 image_length;
        guint64 image_link_time_address;
        gchar *device_path; /* UEFI text form, e.g.
                               "PciRoot(0x0)/Pci(0x1,0x1)/.../\EFI\BOOT\BOOTX64.EFI" */
        /* FIRMWARE_BLOB */
        guint64 blob_base;
        guint64 blob_length;
        /* GPT */
        guint8 gpt_disk_guid[16];
        guint64 gpt_num_partitions;
        /* STARTUP_LOCALITY */
        guint8 startup_locality;
        /* TAGGED (EV_EVENT_TAG) */
        guint32 tag_id;
        const guint8 *tag_data;
        gsize tag_data_len;
} VtcEventlogEvent;

/* One PCR bank: declared by the Spec ID event (or sha1 for a SHA-1 log). */
typedef struct {
        TPM2_ALG_ID alg;
        guint16 digest_size;    /* as declared */
        const VtcHashAlg *hash; /* NULL for an algorithm we do not know */
        gchar *name;            /* "sha256", or "alg_0x1234" for an unknown one */
        /* TRUE when every extended event carried this bank and we could compute the extends */
        gboolean replayable;
        gchar *not_replayable_reason; /* when !replayable */
        guint32 touched;              /* bit n: PCR n was extended or had its initial value set */
        guint8 pcrs[VTC_EVENTLOG_NUM_PCRS][VTC_EVENTLOG_MAX_DIGEST]; /* first digest_size bytes */
} VtcEventlogBank;

typedef struct {
        VtcEventlogFormat format;
        GBytes *raw;
        GPtrArray *events; /* VtcEventlogEvent *, in log order */
        VtcEventlogBank *banks;
        guint n_banks;
        /* Spec ID header (crypto-agile logs) */
        guint8 spec_version_major;
        guint8 spec_version_minor;
        guint8 spec_errata;
        guint8 uintn_size;
        /* PCR 0 start: TRUE when a StartupLocality event or an H-CRTM event set it */
        gboolean has_startup_locality;
        guint8 startup_locality;
        gboolean has_hcrtm;
} VtcEventlog;

/* Parses, decodes and replays @buf (copied). */
VtcEventlog *vtc_eventlog_new_from_data(const guint8 *buf, gsize len, GError **error);
/* Same, from a file (at most VTC_EVENTLOG_MAX_LOG_SIZE bytes). */
VtcEventlog *vtc_eventlog_new_from_file(const gchar *path, GError **error);
void vtc_eventlog_free(VtcEventlog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcEventlog, vtc_eventlog_free)

/* "EV_EFI_VARIABLE_BOOT", ...; NULL for a type we have no name for. */
const gchar *vtc_eventlog_event_type_to_string(guint32 type);
/* The name, or "0x%08x" for an unknown type (free with g_free). */
gchar *vtc_eventlog_event_type_describe(guint32 type);

/* The bank of @alg, NULL when the log does not carry it. */
const VtcEventlogBank *vtc_eventlog_get_bank(const VtcEventlog *log, TPM2_ALG_ID alg);
/* The event's digest in @alg, NULL if it has none. */
const VtcEventlogDigest *vtc_eventlog_event_get_digest(const VtcEventlogEvent *event,
                                                       TPM2_ALG_ID alg);

/*
 * Checks the replayed value of @pcr in bank @alg against @value (e.g. from a quote). Fails with
 * VTC_ERROR_VERIFY_FAILED naming the PCR and both values on a mismatch, VTC_ERROR_NOT_SUPPORTED
 * when the bank is missing or not replayable, VTC_ERROR_INVALID_ARGUMENT for a bad index/size.
 */
gboolean vtc_eventlog_check_pcr(const VtcEventlog *log,
                                TPM2_ALG_ID alg,
                                guint pcr,
                                const guint8 *value,
                                gsize value_len,
                                GError **error);

/*
 * Replays @pcr of bank @alg as if the log ended with extra events whose data are the strings of
 * @extra (NULL-terminated; each is hashed, without its NUL, then extended). This is the
 * go-attestation workaround for firmware that extends the ExitBootServices EV_EFI_ACTION events
 * into PCR 5 without logging them: extra = {VTC_EVENTLOG_EBS_INVOCATION,
 * VTC_EVENTLOG_EBS_SUCCESS, NULL}. @out must hold the bank's digest size.
 */
gboolean vtc_eventlog_replay_pcr_with_extra(const VtcEventlog *log,
                                            TPM2_ALG_ID alg,
                                            guint pcr,
                                            const gchar *const *extra,
                                            guint8 *out,
                                            GError **error);

/* Formats a GUID as 8-4-4-4-12 lower-case (EFI byte order: first three fields little-endian). */
gchar *vtc_eventlog_guid_to_string(const guint8 guid[16]);

/*
 * Secure Boot state as recorded by the log: the EFI global variable "SecureBoot" measured into
 * PCR 7. Returns TRUE and sets @out_enabled when the log has it, FALSE when it does not.
 */
gboolean vtc_eventlog_get_secure_boot(const VtcEventlog *log, gboolean *out_enabled);

G_END_DECLS
