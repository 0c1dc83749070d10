/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UEFI (TCG PC Client) firmware event log: parser, decoder and replayer. See vtc-eventlog.h for
 * the replay rules. Every length in the log is untrusted: all reads go through VtcElReader.
 */
#include "vtc-eventlog.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "vtc-error.h"
#include "vtc-util.h"

/* Bounds-checked little-endian reader over a byte range. */
typedef struct {
        const guint8 *buf;
        gsize len;
        gsize off;
} VtcElReader;

static gsize
vtc_el_reader_left(const VtcElReader *r)
{
        return r->len - r->off;
}

static gboolean
vtc_el_reader_skip(VtcElReader *r, gsize n, const guint8 **out)
{
        if (n > vtc_el_reader_left(r))
                return FALSE;
        if (out != NULL)
                *out = r->buf + r->off;
        r->off += n;
        return TRUE;
}

static gboolean
vtc_el_reader_u8(VtcElReader *r, guint8 *out)
{
        const guint8 *p = NULL;

        if (!vtc_el_reader_skip(r, 1, &p))
                return FALSE;
        *out = p[0];
        return TRUE;
}

static gboolean
vtc_el_reader_u16(VtcElReader *r, guint16 *out)
{
        const guint8 *p = NULL;

        if (!vtc_el_reader_skip(r, 2, &p))
                return FALSE;
        *out = (guint16)(p[0] | (p[1] << 8));
        return TRUE;
}

static gboolean
vtc_el_reader_u32(VtcElReader *r, guint32 *out)
{
        const guint8 *p = NULL;

        if (!vtc_el_reader_skip(r, 4, &p))
                return FALSE;
        *out = (guint32)p[0] | ((guint32)p[1] << 8) | ((guint32)p[2] << 16) | ((guint32)p[3] << 24);
        return TRUE;
}

static gboolean
vtc_el_reader_u64(VtcElReader *r, guint64 *out)
{
        guint32 lo = 0;
        guint32 hi = 0;
        VtcElReader tmp = *r;

        if (!vtc_el_reader_u32(&tmp, &lo) || !vtc_el_reader_u32(&tmp, &hi))
                return FALSE;
        *r = tmp;
        *out = ((guint64)hi << 32) | lo;
        return TRUE;
}

/* ---- names ---- */

typedef struct {
        guint32 type;
        const gchar *name;
} VtcElTypeName;

static const VtcElTypeName vtc_el_type_names[] = {
    {VTC_EV_PREBOOT_CERT, "EV_PREBOOT_CERT"},
    {VTC_EV_POST_CODE, "EV_POST_CODE"},
    {VTC_EV_UNUSED, "EV_UNUSED"},
    {VTC_EV_NO_ACTION, "EV_NO_ACTION"},
    {VTC_EV_SEPARATOR, "EV_SEPARATOR"},
    {VTC_EV_ACTION, "EV_ACTION"},
    {VTC_EV_EVENT_TAG, "EV_EVENT_TAG"},
    {VTC_EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS"},
    {VTC_EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION"},
    {VTC_EV_CPU_MICROCODE, "EV_CPU_MICROCODE"},
    {VTC_EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS"},
    {VTC_EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES"},
    {VTC_EV_COMPACT_HASH, "EV_COMPACT_HASH"},
    {VTC_EV_IPL, "EV_IPL"},
    {VTC_EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA"},
    {VTC_EV_NONHOST_CODE, "EV_NONHOST_CODE"},
    {VTC_EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG"},
    {VTC_EV_NONHOST_INFO, "EV_NONHOST_INFO"},
    {VTC_EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS"},
    {VTC_EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
    {VTC_EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT"},
    {VTC_EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION"},
    {VTC_EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER"},
    {VTC_EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
    {VTC_EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT"},
    {VTC_EV_EFI_ACTION, "EV_EFI_ACTION"},
    {VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
    {VTC_EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES"},
    {VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
    {VTC_EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2"},
    {VTC_EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2"},
    {VTC_EV_EFI_GPT_EVENT2, "EV_EFI_GPT_EVENT2"},
    {VTC_EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT"},
    {VTC_EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY"},
    {VTC_EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB"},
    {VTC_EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

const gchar *
vtc_eventlog_event_type_to_string(guint32 type)
{
        for (gsize i = 0; i < G_N_ELEMENTS(vtc_el_type_names); i++) {
                if (vtc_el_type_names[i].type == type)
                        return vtc_el_type_names[i].name;
        }
        return NULL;
}

gchar *
vtc_eventlog_event_type_describe(guint32 type)
{
        const gchar *name = vtc_eventlog_event_type_to_string(type);

        if (name != NULL)
                return g_strdup(name);
        return g_strdup_printf("0x%08x", type);
}

gchar *
vtc_eventlog_guid_to_string(const guint8 g[16])
{
        return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                               "%02x%02x%02x%02x%02x%02x",
                               g[3],
                               g[2],
                               g[1],
                               g[0],
                               g[5],
                               g[4],
                               g[7],
                               g[6],
                               g[8],
                               g[9],
                               g[10],
                               g[11],
                               g[12],
                               g[13],
                               g[14],
                               g[15]);
}

/* ---- text helpers: everything we print is valid UTF-8 without control characters ---- */

static void
vtc_el_append_unichar(GString *s, gunichar c)
{
        if (c < 0x20 || c == 0x7f)
                g_string_append_printf(s, "\\x%02x", (guint)c);
        else
                g_string_append_unichar(s, c);
}

/* 8-bit text (ASCII or UTF-8); trailing NULs dropped, bad bytes escaped. */
static gchar *
vtc_el_text_from_bytes(const guint8 *buf, gsize len)
{
        g_autoptr(GString) s = g_string_new(NULL);
        gsize i = 0;

        while (len > 0 && buf[len - 1] == '\0')
                len--;
        while (i < len) {
                gunichar c = g_utf8_get_char_validated((const gchar *)buf + i, (gssize)(len - i));
                if (c == (gunichar)-1 || c == (gunichar)-2 || c == 0) {
                        g_string_append_printf(s, "\\x%02x", buf[i]);
                        i++;
                        continue;
                }
                vtc_el_append_unichar(s, c);
                i += (gsize)g_unichar_to_utf8(c, NULL);
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* UTF-16LE, @n_units code units, stopping at a NUL; lone surrogates become U+FFFD. */
static gchar *
vtc_el_text_from_utf16(const guint8 *buf, gsize n_units)
{
        g_autoptr(GString) s = g_string_new(NULL);

        for (gsize i = 0; i < n_units; i++) {
                gunichar c = (gunichar)(buf[2 * i] | (buf[2 * i + 1] << 8));
                if (c == 0)
                        break;
                if (c >= 0xd800 && c <= 0xdbff && i + 1 < n_units) {
                        gunichar lo = (gunichar)(buf[2 * i + 2] | (buf[2 * i + 3] << 8));
                        if (lo >= 0xdc00 && lo <= 0xdfff) {
                                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                                i++;
                        } else {
                                c = 0xfffd;
                        }
                } else if (c >= 0xd800 && c <= 0xdfff) {
                        c = 0xfffd;
                }
                vtc_el_append_unichar(s, c);
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* TRUE when @buf looks like UTF-16LE ASCII text: even length, zero high bytes, no low controls. */
static gboolean
vtc_el_looks_utf16(const guint8 *buf, gsize len)
{
        if (len < 2)
                return FALSE;
        /* a trailing odd byte is tolerated: some loaders measure one byte too many */
        for (gsize i = 0; i + 1 < len; i += 2) {
                if (buf[i] == 0 && buf[i + 1] == 0)
                        return i > 0;
                if (buf[i + 1] != 0 || buf[i] < 0x09)
                        return FALSE;
        }
        return TRUE;
}

static gchar *
vtc_el_hex_preview(const guint8 *buf, gsize len)
{
        g_autofree gchar *hex = vtc_hex_encode(buf, MIN(len, 32));

        return g_strdup_printf("%s%s (%" G_GSIZE_FORMAT " bytes)", hex, len > 32 ? "..." : "", len);
}

/* ---- UEFI device paths ---- */

static void
vtc_el_append_guid(GString *s, const guint8 *g)
{
        g_autofree gchar *str = vtc_eventlog_guid_to_string(g);

        g_string_append(s, str);
}

static guint32
vtc_el_le32(const guint8 *p)
{
        return (guint32)p[0] | ((guint32)p[1] << 8) | ((guint32)p[2] << 16) | ((guint32)p[3] << 24);
}

static guint64
vtc_el_le64(const guint8 *p)
{
        return (guint64)vtc_el_le32(p) | ((guint64)vtc_el_le32(p + 4) << 32);
}

static guint16
vtc_el_le16(const guint8 *p)
{
        return (guint16)(p[0] | (p[1] << 8));
}

/* One node (type, subtype, body of @n bytes) as UEFI device-path text. */
static void
vtc_el_devpath_node(GString *s, guint8 type, guint8 sub, const guint8 *b, gsize n)
{
        if (type == 0x01 && sub == 0x01 && n >= 2) {
                g_string_append_printf(s, "Pci(0x%x,0x%x)", b[1], b[0]);
        } else if (type == 0x01 && sub == 0x04 && n >= 16) {
                g_string_append(s, "VenHw(");
                vtc_el_append_guid(s, b);
                g_string_append(s, ")");
        } else if (type == 0x01 && sub == 0x03 && n >= 20) {
                g_string_append_printf(s,
                                       "MemoryMapped(0x%x,0x%" G_GINT64_MODIFIER
                                       "x,0x%" G_GINT64_MODIFIER "x)",
                                       vtc_el_le32(b),
                                       vtc_el_le64(b + 4),
                                       vtc_el_le64(b + 12));
        } else if (type == 0x02 && sub == 0x01 && n >= 8) {
                guint32 hid = vtc_el_le32(b);
                guint32 uid = vtc_el_le32(b + 4);
                if (hid == 0x0a0341d0)
                        g_string_append_printf(s, "PciRoot(0x%x)", uid);
                else if (hid == 0x0a0841d0)
                        g_string_append_printf(s, "PcieRoot(0x%x)", uid);
                else if ((hid & 0xffff) == 0x41d0)
                        g_string_append_printf(s, "Acpi(PNP%04X,0x%x)", hid >> 16, uid);
                else
                        g_string_append_printf(s, "Acpi(0x%08x,0x%x)", hid, uid);
        } else if (type == 0x02 && sub == 0x02 && n >= 12) {
                g_string_append_printf(s,
                                       "AcpiEx(0x%08x,0x%08x,0x%x)",
                                       vtc_el_le32(b),
                                       vtc_el_le32(b + 8),
                                       vtc_el_le32(b + 4));
        } else if (type == 0x03 && sub == 0x01 && n >= 4) {
                g_string_append_printf(s,
                                       "Ata(%s,%s,0x%x)",
                                       b[0] ? "Secondary" : "Primary",
                                       b[1] ? "Slave" : "Master",
                                       vtc_el_le16(b + 2));
        } else if (type == 0x03 && sub == 0x02 && n >= 4) {
                g_string_append_printf(s, "Scsi(0x%x,0x%x)", vtc_el_le16(b), vtc_el_le16(b + 2));
        } else if (type == 0x03 && sub == 0x05 && n >= 2) {
                g_string_append_printf(s, "USB(0x%x,0x%x)", b[0], b[1]);
        } else if (type == 0x03 && sub == 0x0b && n >= 33) {
                g_autofree gchar *mac = vtc_hex_encode(b, 6);
                g_string_append_printf(s, "MAC(%s,0x%x)", mac, b[32]);
        } else if (type == 0x03 && sub == 0x12 && n >= 6) {
                g_string_append_printf(s,
                                       "Sata(0x%x,0x%x,0x%x)",
                                       vtc_el_le16(b),
                                       vtc_el_le16(b + 2),
                                       vtc_el_le16(b + 4));
        } else if (type == 0x03 && sub == 0x17 && n >= 12) {
                g_string_append_printf(s,
                                       "NVMe(0x%x,%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X)",
                                       vtc_el_le32(b),
                                       b[4],
                                       b[5],
                                       b[6],
                                       b[7],
                                       b[8],
                                       b[9],
                                       b[10],
                                       b[11]);
        } else if (type == 0x03 && sub == 0x18) {
                g_autofree gchar *uri = vtc_el_text_from_bytes(b, n);
                g_string_append_printf(s, "Uri(%s)", uri);
        } else if (type == 0x03 && sub == 0x0a && n >= 16) {
                g_string_append(s, "VenMsg(");
                vtc_el_append_guid(s, b);
                g_string_append(s, ")");
        } else if (type == 0x04 && sub == 0x01 && n >= 38) {
                guint32 part = vtc_el_le32(b);
                guint64 start = vtc_el_le64(b + 4);
                guint64 size = vtc_el_le64(b + 12);
                guint8 sig_type = b[37];
                if (sig_type == 0x02) {
                        g_string_append_printf(s, "HD(%u,GPT,", part);
                        vtc_el_append_guid(s, b + 20);
                } else if (sig_type == 0x01) {
                        g_string_append_printf(s, "HD(%u,MBR,0x%08x", part, vtc_el_le32(b + 20));
                } else {
                        g_string_append_printf(s, "HD(%u,%u,0", part, sig_type);
                }
                g_string_append_printf(s,
                                       ",0x%" G_GINT64_MODIFIER "x,0x%" G_GINT64_MODIFIER "x)",
                                       start,
                                       size);
        } else if (type == 0x04 && sub == 0x02 && n >= 20) {
                g_string_append_printf(s,
                                       "CDROM(0x%x,0x%" G_GINT64_MODIFIER "x,0x%" G_GINT64_MODIFIER
                                       "x)",
                                       vtc_el_le32(b),
                                       vtc_el_le64(b + 4),
                                       vtc_el_le64(b + 12));
        } else if (type == 0x04 && sub == 0x03 && n >= 16) {
                g_string_append(s, "VenMedia(");
                vtc_el_append_guid(s, b);
                g_string_append(s, ")");
        } else if (type == 0x04 && sub == 0x04) {
                g_autofree gchar *path = vtc_el_text_from_utf16(b, n / 2);
                g_string_append(s, path);
        } else if (type == 0x04 && sub == 0x06 && n >= 16) {
                g_string_append(s, "FvFile(");
                vtc_el_append_guid(s, b);
                g_string_append(s, ")");
        } else if (type == 0x04 && sub == 0x07 && n >= 16) {
                g_string_append(s, "Fv(");
                vtc_el_append_guid(s, b);
                g_string_append(s, ")");
        } else if (type == 0x04 && sub == 0x08 && n >= 20) {
                g_string_append_printf(s,
                                       "Offset(0x%" G_GINT64_MODIFIER "x,0x%" G_GINT64_MODIFIER
                                       "x)",
                                       vtc_el_le64(b + 4),
                                       vtc_el_le64(b + 12));
        } else if (type == 0x05 && sub == 0x01 && n >= 4) {
                g_string_append_printf(s, "BBS(0x%x,0x%x)", vtc_el_le16(b), vtc_el_le16(b + 2));
        } else {
                g_autofree gchar *hex = vtc_hex_encode(b, MIN(n, 32));
                g_string_append_printf(s,
                                       "Path(%u,%u%s%s%s)",
                                       type,
                                       sub,
                                       n > 0 ? "," : "",
                                       hex,
                                       n > 32 ? "..." : "");
        }
}

static gchar *
vtc_el_devpath_to_text(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(GString) s = g_string_new(NULL);
        VtcElReader r = {buf, len, 0};
        gboolean need_sep = FALSE;

        while (vtc_el_reader_left(&r) > 0) {
                guint8 type = 0;
                guint8 sub = 0;
                guint16 node_len = 0;
                const guint8 *body = NULL;

                if (!vtc_el_reader_u8(&r, &type) || !vtc_el_reader_u8(&r, &sub) ||
                    !vtc_el_reader_u16(&r, &node_len)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "device path node header truncated at offset %" G_GSIZE_FORMAT,
                                    r.off);
                        return NULL;
                }
                if (node_len < 4 || !vtc_el_reader_skip(&r, node_len - 4, &body)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "device path node length %u invalid at offset %" G_GSIZE_FORMAT,
                                    node_len,
                                    r.off - 4);
                        return NULL;
                }
                if (type == 0x7f && sub == 0xff)
                        break;
                if (type == 0x7f) {
                        /* end of one instance: instances are separated by commas in text */
                        g_string_append(s, ",");
                        need_sep = FALSE;
                        continue;
                }
                if (need_sep)
                        g_string_append(s, "/");
                vtc_el_devpath_node(s, type, sub, body, node_len - 4u);
                need_sep = TRUE;
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- event data decoders: each returns FALSE with @error when the data does not parse ---- */

static const guint8 vtc_el_guid_global[16] = {0x61,
                                              0xdf,
                                              0xe4,
                                              0x8b,
                                              0xca,
                                              0x93,
                                              0xd2,
                                              0x11,
                                              0xaa,
                                              0x0d,
                                              0x00,
                                              0xe0,
                                              0x98,
                                              0x03,
                                              0x2b,
                                              0x8c};

static gboolean
vtc_el_set_truncated(GError **error, const gchar *what)
{
        g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "%s: data truncated", what);
        return FALSE;
}

static gboolean
vtc_el_is_boot_option_name(const gchar *name)
{
        if (strlen(name) != 8 || !g_str_has_prefix(name, "Boot"))
                return FALSE;
        for (int i = 4; i < 8; i++) {
                if (!g_ascii_isxdigit(name[i]))
                        return FALSE;
        }
        return TRUE;
}

/* EFI_LOAD_OPTION of a Boot#### variable: "Description" device path */
static gchar *
vtc_el_describe_load_option(const guint8 *buf, gsize len)
{
        VtcElReader r = {buf, len, 0};
        guint32 attrs = 0;
        guint16 fp_len = 0;
        gsize desc_units = 0;
        const guint8 *desc = NULL;
        const guint8 *fp = NULL;
        g_autofree gchar *desc_text = NULL;
        g_autofree gchar *path = NULL;

        if (!vtc_el_reader_u32(&r, &attrs) || !vtc_el_reader_u16(&r, &fp_len))
                return NULL;
        desc = buf + r.off;
        while (TRUE) {
                guint16 u = 0;
                if (!vtc_el_reader_u16(&r, &u))
                        return NULL;
                if (u == 0)
                        break;
                desc_units++;
        }
        if (!vtc_el_reader_skip(&r, fp_len, &fp))
                return NULL;
        desc_text = vtc_el_text_from_utf16(desc, desc_units);
        path = vtc_el_devpath_to_text(fp, fp_len, NULL);
        return g_strdup_printf("\"%s\" %s%s",
                               desc_text,
                               path != NULL ? path : "(bad device path)",
                               (attrs & 1) ? "" : " (inactive)");
}

static gboolean
vtc_el_decode_variable(VtcEventlogEvent *ev, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 0};
        const guint8 *guid = NULL;
        const guint8 *name = NULL;
        guint64 name_len = 0;
        guint64 data_len = 0;
        g_autofree gchar *guid_str = NULL;
        g_autofree gchar *extra = NULL;

        if (!vtc_el_reader_skip(&r, 16, &guid) || !vtc_el_reader_u64(&r, &name_len) ||
            !vtc_el_reader_u64(&r, &data_len))
                return vtc_el_set_truncated(error, "UEFI_VARIABLE_DATA header");
        if (name_len > vtc_el_reader_left(&r) / 2 || !vtc_el_reader_skip(&r, name_len * 2, &name))
                return vtc_el_set_truncated(error, "UEFI_VARIABLE_DATA name");
        if (data_len > vtc_el_reader_left(&r)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "UEFI_VARIABLE_DATA: variable data length %" G_GUINT64_FORMAT
                            " exceeds the %" G_GSIZE_FORMAT " bytes left",
                            data_len,
                            vtc_el_reader_left(&r));
                return FALSE;
        }
        memcpy(ev->var_guid, guid, 16);
        ev->var_name = vtc_el_text_from_utf16(name, (gsize)name_len);
        ev->var_data = ev->data + r.off;
        ev->var_data_len = (gsize)data_len;
        ev->kind = VTC_EVENTLOG_DATA_VARIABLE;

        if (memcmp(guid, vtc_el_guid_global, 16) == 0) {
                if (g_strcmp0(ev->var_name, "SecureBoot") == 0 && ev->var_data_len >= 1) {
                        extra = g_strdup_printf("%u (%s)",
                                                ev->var_data[0],
                                                ev->var_data[0] == 1 ? "enabled" : "disabled");
                } else if (g_strcmp0(ev->var_name, "BootOrder") == 0) {
                        g_autoptr(GString) s = g_string_new(NULL);
                        for (gsize i = 0; i + 1 < ev->var_data_len; i += 2) {
                                g_string_append_printf(s,
                                                       "%sBoot%04X",
                                                       i > 0 ? "," : "",
                                                       vtc_el_le16(ev->var_data + i));
                        }
                        extra = g_string_free(g_steal_pointer(&s), FALSE);
                } else if (vtc_el_is_boot_option_name(ev->var_name)) {
                        extra = vtc_el_describe_load_option(ev->var_data, ev->var_data_len);
                }
        }
        guid_str = vtc_eventlog_guid_to_string(guid);
        ev->description = g_strdup_printf("%s [%s] %" G_GSIZE_FORMAT " bytes%s%s",
                                          ev->var_name,
                                          guid_str,
                                          ev->var_data_len,
                                          extra != NULL ? ": " : "",
                                          extra != NULL ? extra : "");
        return TRUE;
}

static gboolean
vtc_el_decode_image_load(VtcEventlogEvent *ev, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 0};
        guint64 dp_len = 0;
        const guint8 *dp = NULL;
        g_autofree gchar *path = NULL;

        if (!vtc_el_reader_u64(&r, &ev->image_location) ||
            !vtc_el_reader_u64(&r, &ev->image_length) ||
            !vtc_el_reader_u64(&r, &ev->image_link_time_address) || !vtc_el_reader_u64(&r, &dp_len))
                return vtc_el_set_truncated(error, "UEFI_IMAGE_LOAD_EVENT header");
        if (dp_len > vtc_el_reader_left(&r) || !vtc_el_reader_skip(&r, (gsize)dp_len, &dp))
                return vtc_el_set_truncated(error, "UEFI_IMAGE_LOAD_EVENT device path");
        path = vtc_el_devpath_to_text(dp, (gsize)dp_len, error);
        if (path == NULL) {
                g_prefix_error(error, "UEFI_IMAGE_LOAD_EVENT: ");
                return FALSE;
        }
        ev->device_path = g_steal_pointer(&path);
        ev->kind = VTC_EVENTLOG_DATA_IMAGE_LOAD;
        ev->description =
            g_strdup_printf("%s (image 0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT " bytes)",
                            ev->device_path[0] != '\0' ? ev->device_path : "(no path)",
                            ev->image_location,
                            ev->image_length);
        return TRUE;
}

static gboolean
vtc_el_decode_blob(VtcEventlogEvent *ev, gboolean with_description, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 0};
        g_autofree gchar *desc = NULL;

        if (with_description) {
                guint8 dlen = 0;
                const guint8 *d = NULL;
                if (!vtc_el_reader_u8(&r, &dlen) || !vtc_el_reader_skip(&r, dlen, &d))
                        return vtc_el_set_truncated(error,
                                                    "UEFI_PLATFORM_FIRMWARE_BLOB2 description");
                desc = vtc_el_text_from_bytes(d, dlen);
        }
        if (!vtc_el_reader_u64(&r, &ev->blob_base) || !vtc_el_reader_u64(&r, &ev->blob_length))
                return vtc_el_set_truncated(error, "UEFI_PLATFORM_FIRMWARE_BLOB");
        ev->kind = VTC_EVENTLOG_DATA_FIRMWARE_BLOB;
        ev->description =
            g_strdup_printf("%s%sbase 0x%" G_GINT64_MODIFIER "x length 0x%" G_GINT64_MODIFIER "x",
                            desc != NULL ? desc : "",
                            desc != NULL ? ": " : "",
                            ev->blob_base,
                            ev->blob_length);
        ev->text = g_steal_pointer(&desc);
        return TRUE;
}

static gboolean
vtc_el_decode_gpt(VtcEventlogEvent *ev, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 0};
        const guint8 *hdr = NULL;
        guint32 entry_size = 0;
        g_autoptr(GString) names = g_string_new(NULL);
        g_autofree gchar *guid = NULL;

        /* EFI_PARTITION_TABLE_HEADER is 92 bytes, then UINT64 NumberOfPartitions */
        if (!vtc_el_reader_skip(&r, 92, &hdr) || !vtc_el_reader_u64(&r, &ev->gpt_num_partitions))
                return vtc_el_set_truncated(error, "UEFI_GPT_DATA header");
        if (memcmp(hdr, "EFI PART", 8) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "GPT header signature is not \"EFI PART\"");
                return FALSE;
        }
        memcpy(ev->gpt_disk_guid, hdr + 56, 16);
        entry_size = vtc_el_le32(hdr + 84);
        if (entry_size < 128 && ev->gpt_num_partitions > 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "GPT partition entry size %u too small",
                            entry_size);
                return FALSE;
        }
        if (entry_size > 0 && ev->gpt_num_partitions > vtc_el_reader_left(&r) / entry_size)
                return vtc_el_set_truncated(error, "UEFI_GPT_DATA partitions");
        for (guint64 i = 0; i < ev->gpt_num_partitions; i++) {
                const guint8 *e = NULL;
                g_autofree gchar *pname = NULL;
                if (!vtc_el_reader_skip(&r, entry_size, &e))
                        return vtc_el_set_truncated(error, "UEFI_GPT_DATA partition");
                pname = vtc_el_text_from_utf16(e + 56, 36);
                g_string_append_printf(names, "%s\"%s\"", i > 0 ? ", " : "", pname);
        }
        guid = vtc_eventlog_guid_to_string(ev->gpt_disk_guid);
        ev->kind = VTC_EVENTLOG_DATA_GPT;
        ev->description = g_strdup_printf("GPT disk %s, %" G_GUINT64_FORMAT " partitions%s%s",
                                          guid,
                                          ev->gpt_num_partitions,
                                          names->len > 0 ? ": " : "",
                                          names->str);
        return TRUE;
}

static gboolean
vtc_el_decode_handoff_tables(VtcEventlogEvent *ev, gboolean with_description, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 0};
        guint64 n = 0;
        g_autoptr(GString) s = g_string_new(NULL);

        if (with_description) {
                guint8 dlen = 0;
                const guint8 *d = NULL;
                g_autofree gchar *desc = NULL;
                if (!vtc_el_reader_u8(&r, &dlen) || !vtc_el_reader_skip(&r, dlen, &d))
                        return vtc_el_set_truncated(error,
                                                    "UEFI_HANDOFF_TABLE_POINTERS2 description");
                desc = vtc_el_text_from_bytes(d, dlen);
                g_string_append_printf(s, "%s: ", desc);
        }
        if (!vtc_el_reader_u64(&r, &n))
                return vtc_el_set_truncated(error, "UEFI_HANDOFF_TABLE_POINTERS");
        if (n > vtc_el_reader_left(&r) / 24)
                return vtc_el_set_truncated(error, "UEFI_HANDOFF_TABLE_POINTERS tables");
        g_string_append_printf(s, "%" G_GUINT64_FORMAT " tables", n);
        for (guint64 i = 0; i < n; i++) {
                const guint8 *t = NULL;
                g_autofree gchar *guid = NULL;
                (void)vtc_el_reader_skip(&r, 24, &t);
                guid = vtc_eventlog_guid_to_string(t);
                g_string_append_printf(s, "%s%s", i == 0 ? ": " : ", ", guid);
        }
        ev->kind = VTC_EVENTLOG_DATA_HANDOFF_TABLES;
        ev->description = g_string_free(g_steal_pointer(&s), FALSE);
        return TRUE;
}

static void
vtc_el_set_string(VtcEventlogEvent *ev, gchar *text)
{
        ev->kind = VTC_EVENTLOG_DATA_STRING;
        ev->text = text;
        ev->description = g_strdup(text);
}

/* Text that may be ASCII or UTF-16LE (EV_IPL from systemd-boot is UTF-16). */
static gchar *
vtc_el_text_auto(const guint8 *buf, gsize len)
{
        if (vtc_el_looks_utf16(buf, len))
                return vtc_el_text_from_utf16(buf, len / 2);
        return vtc_el_text_from_bytes(buf, len);
}

static gboolean
vtc_el_decode_no_action(VtcEventlogEvent *ev, GError **error)
{
        static const gchar startup[] = "StartupLocality";

        if (ev->data_len >= sizeof(startup) && memcmp(ev->data, startup, sizeof(startup)) == 0) {
                if (ev->data_len < sizeof(startup) + 1)
                        return vtc_el_set_truncated(error, "StartupLocality event");
                ev->startup_locality = ev->data[sizeof(startup)];
                ev->kind = VTC_EVENTLOG_DATA_STARTUP_LOCALITY;
                ev->description = g_strdup_printf("StartupLocality %u", ev->startup_locality);
                return TRUE;
        }
        if (ev->data_len >= 16 && ev->data[15] == '\0' && g_str_is_ascii((const gchar *)ev->data) &&
            strlen((const gchar *)ev->data) > 0) {
                /* signature-led structures: "SP800-155 Event", "NvIndexInstance", ... */
                g_autofree gchar *sig = vtc_el_text_from_bytes(ev->data, 15);
                g_autofree gchar *rest = vtc_el_hex_preview(ev->data + 16, ev->data_len - 16);
                ev->description = g_strdup_printf("%s: %s", sig, rest);
                return TRUE;
        }
        ev->description = vtc_el_hex_preview(ev->data, ev->data_len);
        return TRUE;
}

static gboolean
vtc_el_all_printable(const guint8 *buf, gsize len)
{
        while (len > 0 && buf[len - 1] == '\0')
                len--;
        if (len == 0)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                if (buf[i] < 0x20 || buf[i] > 0x7e)
                        return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_el_decode_data(VtcEventlogEvent *ev, GError **error)
{
        switch (ev->type) {
        case VTC_EV_NO_ACTION:
                return vtc_el_decode_no_action(ev, error);
        case VTC_EV_SEPARATOR:
                if (ev->data_len != 4) {
                        /* some firmware writes a string here; show it rather than fail */
                        vtc_el_set_string(ev, vtc_el_text_from_bytes(ev->data, ev->data_len));
                        return TRUE;
                }
                ev->separator_value = vtc_el_le32(ev->data);
                ev->separator_error = ev->separator_value == 1 || ev->separator_value == 0xffffffff;
                ev->kind = VTC_EVENTLOG_DATA_SEPARATOR;
                ev->description = ev->separator_value == 0
                                      ? g_strdup("separator")
                                      : g_strdup_printf("separator 0x%08x%s",
                                                        ev->separator_value,
                                                        ev->separator_error ? " (error)" : "");
                return TRUE;
        case VTC_EV_ACTION:
        case VTC_EV_EFI_ACTION:
        case VTC_EV_COMPACT_HASH:
        case VTC_EV_OMIT_BOOT_DEVICE_EVENTS:
                vtc_el_set_string(ev, vtc_el_text_from_bytes(ev->data, ev->data_len));
                return TRUE;
        case VTC_EV_S_CRTM_VERSION: {
                /* a UTF-16 version string, or a GUID */
                g_autofree gchar *guid = NULL;
                if (ev->data_len == 16 && !vtc_el_looks_utf16(ev->data, ev->data_len)) {
                        guid = vtc_eventlog_guid_to_string(ev->data);
                        vtc_el_set_string(ev, g_strdup_printf("GUID %s", guid));
                        return TRUE;
                }
                vtc_el_set_string(ev, vtc_el_text_auto(ev->data, ev->data_len));
                return TRUE;
        }
        case VTC_EV_IPL:
                vtc_el_set_string(ev, vtc_el_text_auto(ev->data, ev->data_len));
                return TRUE;
        case VTC_EV_POST_CODE:
        case VTC_EV_S_CRTM_CONTENTS:
                /* a UEFI_PLATFORM_FIRMWARE_BLOB or a string ("ACPI DATA", "Embedded UEFI Driver")
                 */
                if (ev->data_len == 16 && !vtc_el_all_printable(ev->data, ev->data_len))
                        return vtc_el_decode_blob(ev, FALSE, error);
                vtc_el_set_string(ev, vtc_el_text_from_bytes(ev->data, ev->data_len));
                return TRUE;
        case VTC_EV_EFI_HCRTM_EVENT:
                if (ev->data_len != 5 || memcmp(ev->data, "HCRTM", 5) != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "H-CRTM event data is not \"HCRTM\"");
                        return FALSE;
                }
                vtc_el_set_string(ev, g_strdup("HCRTM"));
                return TRUE;
        case VTC_EV_EFI_VARIABLE_DRIVER_CONFIG:
        case VTC_EV_EFI_VARIABLE_BOOT:
        case VTC_EV_EFI_VARIABLE_BOOT2:
        case VTC_EV_EFI_VARIABLE_AUTHORITY:
                return vtc_el_decode_variable(ev, error);
        case VTC_EV_EFI_BOOT_SERVICES_APPLICATION:
        case VTC_EV_EFI_BOOT_SERVICES_DRIVER:
        case VTC_EV_EFI_RUNTIME_SERVICES_DRIVER:
                return vtc_el_decode_image_load(ev, error);
        case VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB:
                return vtc_el_decode_blob(ev, FALSE, error);
        case VTC_EV_EFI_PLATFORM_FIRMWARE_BLOB2:
                return vtc_el_decode_blob(ev, TRUE, error);
        case VTC_EV_EFI_GPT_EVENT:
        case VTC_EV_EFI_GPT_EVENT2:
                return vtc_el_decode_gpt(ev, error);
        case VTC_EV_EFI_HANDOFF_TABLES:
                return vtc_el_decode_handoff_tables(ev, FALSE, error);
        case VTC_EV_EFI_HANDOFF_TABLES2:
                return vtc_el_decode_handoff_tables(ev, TRUE, error);
        case VTC_EV_EVENT_TAG: {
                VtcElReader r = {ev->data, ev->data_len, 0};
                guint32 tag_len = 0;
                g_autofree gchar *body = NULL;
                if (!vtc_el_reader_u32(&r, &ev->tag_id) || !vtc_el_reader_u32(&r, &tag_len) ||
                    !vtc_el_reader_skip(&r, tag_len, &ev->tag_data))
                        return vtc_el_set_truncated(error, "TCG_PCClientTaggedEvent");
                ev->tag_data_len = tag_len;
                ev->kind = VTC_EVENTLOG_DATA_TAGGED;
                if (vtc_el_all_printable(ev->tag_data, ev->tag_data_len) ||
                    vtc_el_looks_utf16(ev->tag_data, ev->tag_data_len))
                        body = vtc_el_text_auto(ev->tag_data, ev->tag_data_len);
                else
                        body = vtc_el_hex_preview(ev->tag_data, ev->tag_data_len);
                ev->description = g_strdup_printf("tag 0x%08x: %s", ev->tag_id, body);
                return TRUE;
        }
        default:
                ev->description = vtc_el_hex_preview(ev->data, ev->data_len);
                return TRUE;
        }
}

static void
vtc_el_event_decode(VtcEventlogEvent *ev)
{
        g_autoptr(GError) error = NULL;

        if (ev->kind == VTC_EVENTLOG_DATA_SPEC_ID)
                return;
        if (!vtc_el_decode_data(ev, &error)) {
                /* one odd event never fails the log: keep what we know and say why */
                g_clear_pointer(&ev->description, g_free);
                g_clear_pointer(&ev->text, g_free);
                g_clear_pointer(&ev->var_name, g_free);
                g_clear_pointer(&ev->device_path, g_free);
                ev->var_data = NULL;
                ev->var_data_len = 0;
                ev->tag_data = NULL;
                ev->tag_data_len = 0;
                ev->kind = VTC_EVENTLOG_DATA_UNDECODED;
                ev->decode_error = g_strdup(error->message);
                ev->description = g_strdup_printf("undecoded: %s", error->message);
                return;
        }
        if (ev->description == NULL)
                ev->description = vtc_el_hex_preview(ev->data, ev->data_len);
}

/* ---- the log ---- */

static void
vtc_el_event_free(gpointer data)
{
        VtcEventlogEvent *ev = data;

        if (ev == NULL)
                return;
        g_free(ev->digests);
        g_free(ev->description);
        g_free(ev->decode_error);
        g_free(ev->text);
        g_free(ev->var_name);
        g_free(ev->device_path);
        g_free(ev);
}

void
vtc_eventlog_free(VtcEventlog *log)
{
        if (log == NULL)
                return;
        if (log->events != NULL)
                g_ptr_array_unref(log->events);
        for (guint i = 0; i < log->n_banks; i++) {
                g_free(log->banks[i].name);
                g_free(log->banks[i].not_replayable_reason);
        }
        g_free(log->banks);
        if (log->raw != NULL)
                g_bytes_unref(log->raw);
        g_free(log);
}

/* Parse-time state that is not part of the result. */
typedef struct {
        VtcEventlog *log;
        EVP_MD *mds[VTC_EVENTLOG_MAX_BANKS];
        guint32 extended_mask; /* PCRs extended by an event (for StartupLocality/H-CRTM order) */
} VtcElParser;

static void
vtc_el_parser_clear(VtcElParser *p)
{
        for (guint i = 0; i < VTC_EVENTLOG_MAX_BANKS; i++)
                EVP_MD_free(p->mds[i]);
}

static void
vtc_el_bank_disable(VtcEventlogBank *bank, gchar *reason)
{
        if (!bank->replayable) {
                g_free(reason);
                return;
        }
        bank->replayable = FALSE;
        bank->not_replayable_reason = reason;
}

static void
vtc_el_add_bank(VtcElParser *p, TPM2_ALG_ID alg, guint16 size)
{
        VtcEventlogBank *bank = &p->log->banks[p->log->n_banks];
        guint idx = p->log->n_banks;

        p->log->n_banks++;
        bank->alg = alg;
        bank->digest_size = size;
        bank->hash = vtc_hash_alg_from_id(alg);
        bank->name =
            bank->hash != NULL ? g_strdup(bank->hash->name) : g_strdup_printf("alg_0x%04x", alg);
        bank->replayable = TRUE;
        for (guint i = 0; i < VTC_EVENTLOG_NUM_PCRS; i++) {
                if (i >= 17 && i <= 22)
                        memset(bank->pcrs[i], 0xff, MIN(size, VTC_EVENTLOG_MAX_DIGEST));
        }
        if (bank->hash == NULL) {
                vtc_el_bank_disable(bank, g_strdup_printf("unknown hash algorithm 0x%04x", alg));
                return;
        }
        if (bank->hash->ossl_name != NULL)
                p->mds[idx] = EVP_MD_fetch(NULL, bank->hash->ossl_name, NULL);
        if (p->mds[idx] == NULL) {
                /* OpenSSL may have been built without it (sm3): report, do not fail */
                ERR_clear_error();
                vtc_el_bank_disable(bank,
                                    g_strdup_printf("OpenSSL cannot compute %s", bank->hash->name));
        }
}

static gboolean
vtc_el_set_error_at(GError **error, gint code, gsize off, const gchar *what)
{
        g_set_error(error, VTC_ERROR, code, "event log: %s at offset %" G_GSIZE_FORMAT, what, off);
        return FALSE;
}

/* The Spec ID Event03 data: declares the banks and their digest sizes. */
static gboolean
vtc_el_parse_spec_id(VtcElParser *p, VtcEventlogEvent *ev, GError **error)
{
        VtcElReader r = {ev->data, ev->data_len, 16};
        guint32 platform_class = 0;
        guint32 n_algs = 0;
        guint8 vendor_size = 0;
        g_autoptr(GString) desc = g_string_new(NULL);

        if (!vtc_el_reader_u32(&r, &platform_class) ||
            !vtc_el_reader_u8(&r, &p->log->spec_version_minor) ||
            !vtc_el_reader_u8(&r, &p->log->spec_version_major) ||
            !vtc_el_reader_u8(&r, &p->log->spec_errata) ||
            !vtc_el_reader_u8(&r, &p->log->uintn_size) || !vtc_el_reader_u32(&r, &n_algs)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: Spec ID event truncated");
                return FALSE;
        }
        if (n_algs == 0 || n_algs > VTC_EVENTLOG_MAX_BANKS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: Spec ID event declares %u algorithms (1 to %u allowed)",
                            n_algs,
                            VTC_EVENTLOG_MAX_BANKS);
                return FALSE;
        }
        p->log->banks = g_new0(VtcEventlogBank, n_algs);
        g_string_append_printf(
            desc,
            "Spec ID Event03: platform class %u, spec %u.%u errata %u, uintn %u, "
            "algorithms",
            platform_class,
            p->log->spec_version_major,
            p->log->spec_version_minor,
            p->log->spec_errata,
            p->log->uintn_size);
        for (guint32 i = 0; i < n_algs; i++) {
                guint16 alg = 0;
                guint16 size = 0;
                const VtcHashAlg *known = NULL;
                if (!vtc_el_reader_u16(&r, &alg) || !vtc_el_reader_u16(&r, &size)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "event log: Spec ID algorithm list truncated");
                        return FALSE;
                }
                known = vtc_hash_alg_from_id(alg);
                if (size == 0 || (known != NULL && known->size != size)) {
                        g_set_error(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: Spec ID event declares digest size %u for algorithm 0x%04x",
                            size,
                            alg);
                        return FALSE;
                }
                for (guint j = 0; j < p->log->n_banks; j++) {
                        if (p->log->banks[j].alg == alg) {
                                g_set_error(error,
                                            VTC_ERROR,
                                            VTC_ERROR_INVALID_DATA,
                                            "event log: Spec ID event lists algorithm 0x%04x twice",
                                            alg);
                                return FALSE;
                        }
                }
                vtc_el_add_bank(p, alg, size);
                g_string_append_printf(desc,
                                       "%s %s (%u)",
                                       i > 0 ? "," : "",
                                       p->log->banks[p->log->n_banks - 1].name,
                                       size);
        }
        if (!vtc_el_reader_u8(&r, &vendor_size) || !vtc_el_reader_skip(&r, vendor_size, NULL)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: Spec ID vendor info exceeds the event size");
                return FALSE;
        }
        ev->kind = VTC_EVENTLOG_DATA_SPEC_ID;
        ev->description = g_string_free(g_steal_pointer(&desc), FALSE);
        return TRUE;
}

static VtcEventlogBank *
vtc_el_find_bank(VtcEventlog *log, TPM2_ALG_ID alg, guint *out_idx)
{
        for (guint i = 0; i < log->n_banks; i++) {
                if (log->banks[i].alg == alg) {
                        if (out_idx != NULL)
                                *out_idx = i;
                        return &log->banks[i];
                }
        }
        return NULL;
}

static gboolean
vtc_el_extend(EVP_MD *md, guint8 *pcr, const guint8 *digest, gsize size, GError **error)
{
        guint8 buf[2 * VTC_EVENTLOG_MAX_DIGEST];
        unsigned int outlen = 0;

        memcpy(buf, pcr, size);
        memcpy(buf + size, digest, size);
        if (EVP_Digest(buf, 2 * size, pcr, &outlen, md, NULL) != 1 || outlen != size) {
                vtc_ossl_set_error(error, VTC_ERROR_FAILED, "extending a PCR");
                return FALSE;
        }
        return TRUE;
}

/* Sets PCR 0's start value to 00..@locality in every bank (before any extend of PCR 0). */
static void
vtc_el_set_pcr0_start(VtcElParser *p, guint8 locality)
{
        for (guint i = 0; i < p->log->n_banks; i++) {
                VtcEventlogBank *bank = &p->log->banks[i];
                gsize size = MIN(bank->digest_size, VTC_EVENTLOG_MAX_DIGEST);
                memset(bank->pcrs[0], 0, size);
                bank->pcrs[0][size - 1] = locality;
                bank->touched |= 1u;
        }
}

static gboolean
vtc_el_replay_event(VtcElParser *p, VtcEventlogEvent *ev, GError **error)
{
        VtcEventlog *log = p->log;

        if (ev->type == VTC_EV_NO_ACTION) {
                ev->extended = FALSE;
                if (ev->kind == VTC_EVENTLOG_DATA_STARTUP_LOCALITY && ev->pcr == 0 &&
                    (p->extended_mask & 1u) == 0 && !log->has_hcrtm) {
                        log->has_startup_locality = TRUE;
                        log->startup_locality = ev->startup_locality;
                        vtc_el_set_pcr0_start(p, ev->startup_locality);
                }
                return TRUE;
        }
        if (ev->pcr >= VTC_EVENTLOG_NUM_PCRS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: event %u extends PCR %u (0 to %u allowed)",
                            ev->number,
                            ev->pcr,
                            VTC_EVENTLOG_NUM_PCRS - 1);
                return FALSE;
        }
        ev->extended = TRUE;
        if (ev->type == VTC_EV_EFI_HCRTM_EVENT && ev->pcr == 0 && (p->extended_mask & 1u) == 0) {
                /* the H-CRTM sequence runs at locality 4 and replaces any StartupLocality */
                log->has_hcrtm = TRUE;
                vtc_el_set_pcr0_start(p, 4);
        }
        p->extended_mask |= 1u << ev->pcr;
        for (guint i = 0; i < log->n_banks; i++) {
                VtcEventlogBank *bank = &log->banks[i];
                const VtcEventlogDigest *d = vtc_eventlog_event_get_digest(ev, bank->alg);
                bank->touched |= 1u << ev->pcr;
                if (!bank->replayable)
                        continue;
                if (d == NULL) {
                        vtc_el_bank_disable(
                            bank,
                            g_strdup_printf("event %u has no %s digest", ev->number, bank->name));
                        continue;
                }
                if (!vtc_el_extend(p->mds[i], bank->pcrs[ev->pcr], d->value, d->size, error))
                        return FALSE;
        }
        return TRUE;
}

static VtcEventlogEvent *
vtc_el_add_event(VtcElParser *p, GError **error)
{
        VtcEventlogEvent *ev = NULL;

        if (p->log->events->len >= VTC_EVENTLOG_MAX_EVENTS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "event log: more than %u events",
                            VTC_EVENTLOG_MAX_EVENTS);
                return NULL;
        }
        ev = g_new0(VtcEventlogEvent, 1);
        ev->number = p->log->events->len;
        g_ptr_array_add(p->log->events, ev);
        return ev;
}

static gboolean
vtc_el_read_data(VtcElReader *r, VtcEventlogEvent *ev, GError **error)
{
        guint32 size = 0;
        gsize start = r->off;

        if (!vtc_el_reader_u32(r, &size))
                return vtc_el_set_error_at(error,
                                           VTC_ERROR_INVALID_DATA,
                                           start,
                                           "event size truncated");
        if (!vtc_el_reader_skip(r, size, &ev->data)) {
                g_set_error(
                    error,
                    VTC_ERROR,
                    VTC_ERROR_INVALID_DATA,
                    "event log: event %u declares %u bytes of data but only %" G_GSIZE_FORMAT
                    " are left",
                    ev->number,
                    size,
                    vtc_el_reader_left(r));
                return FALSE;
        }
        if (size > VTC_EVENTLOG_MAX_EVENT_DATA) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "event log: event %u declares %u bytes of data (at most %u allowed)",
                            ev->number,
                            size,
                            VTC_EVENTLOG_MAX_EVENT_DATA);
                return FALSE;
        }
        ev->data_len = size;
        return TRUE;
}

/* TCG_PCR_EVENT: pcr, type, SHA-1 digest, size, data */
static VtcEventlogEvent *
vtc_el_read_pcr_event(VtcElParser *p, VtcElReader *r, GError **error)
{
        VtcEventlogEvent *ev = NULL;
        guint32 pcr = 0;
        guint32 type = 0;
        const guint8 *digest = NULL;
        gsize start = r->off;

        if (!vtc_el_reader_u32(r, &pcr) || !vtc_el_reader_u32(r, &type) ||
            !vtc_el_reader_skip(r, 20, &digest)) {
                vtc_el_set_error_at(error, VTC_ERROR_INVALID_DATA, start, "event header truncated");
                return NULL;
        }
        ev = vtc_el_add_event(p, error);
        if (ev == NULL)
                return NULL;
        ev->pcr = pcr;
        ev->type = type;
        ev->digests = g_new0(VtcEventlogDigest, 1);
        ev->n_digests = 1;
        ev->digests[0].alg = TPM2_ALG_SHA1;
        ev->digests[0].size = 20;
        ev->digests[0].value = digest;
        if (!vtc_el_read_data(r, ev, error))
                return NULL;
        return ev;
}

/* TCG_PCR_EVENT2: pcr, type, TPML_DIGEST_VALUES (sizes from the Spec ID event), size, data */
static VtcEventlogEvent *
vtc_el_read_pcr_event2(VtcElParser *p, VtcElReader *r, GError **error)
{
        VtcEventlogEvent *ev = NULL;
        guint32 pcr = 0;
        guint32 type = 0;
        guint32 count = 0;
        gsize start = r->off;

        if (!vtc_el_reader_u32(r, &pcr) || !vtc_el_reader_u32(r, &type) ||
            !vtc_el_reader_u32(r, &count)) {
                vtc_el_set_error_at(error, VTC_ERROR_INVALID_DATA, start, "event header truncated");
                return NULL;
        }
        if (count > p->log->n_banks) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: event at offset %" G_GSIZE_FORMAT
                            " has %u digests but the log declares %u algorithms",
                            start,
                            count,
                            p->log->n_banks);
                return NULL;
        }
        ev = vtc_el_add_event(p, error);
        if (ev == NULL)
                return NULL;
        ev->pcr = pcr;
        ev->type = type;
        ev->digests = g_new0(VtcEventlogDigest, MAX(count, 1));
        for (guint32 i = 0; i < count; i++) {
                guint16 alg = 0;
                VtcEventlogBank *bank = NULL;
                const guint8 *value = NULL;
                if (!vtc_el_reader_u16(r, &alg)) {
                        vtc_el_set_error_at(error,
                                            VTC_ERROR_INVALID_DATA,
                                            r->off,
                                            "digest truncated");
                        return NULL;
                }
                bank = vtc_el_find_bank(p->log, alg, NULL);
                if (bank == NULL) {
                        g_set_error(
                            error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: event %u has a digest of algorithm 0x%04x, which the "
                            "Spec ID event does not declare",
                            ev->number,
                            alg);
                        return NULL;
                }
                if (vtc_eventlog_event_get_digest(ev, alg) != NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "event log: event %u has two %s digests",
                                    ev->number,
                                    bank->name);
                        return NULL;
                }
                if (!vtc_el_reader_skip(r, bank->digest_size, &value)) {
                        vtc_el_set_error_at(error,
                                            VTC_ERROR_INVALID_DATA,
                                            r->off,
                                            "digest truncated");
                        return NULL;
                }
                ev->digests[i].alg = alg;
                ev->digests[i].size = bank->digest_size;
                ev->digests[i].value = value;
                ev->n_digests = i + 1;
        }
        if (!vtc_el_read_data(r, ev, error))
                return NULL;
        return ev;
}

static gboolean
vtc_el_parse(VtcElParser *p, GError **error)
{
        VtcEventlog *log = p->log;
        gsize len = 0;
        const guint8 *buf = g_bytes_get_data(log->raw, &len);
        VtcElReader r = {buf, len, 0};
        VtcEventlogEvent *first = NULL;

        if (len == 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA, "event log is empty");
                return FALSE;
        }
        first = vtc_el_read_pcr_event(p, &r, error);
        if (first == NULL)
                return FALSE;
        if (first->type == VTC_EV_NO_ACTION && first->data_len >= 16 &&
            memcmp(first->data, "Spec ID Event03", 16) == 0) {
                log->format = VTC_EVENTLOG_FORMAT_CRYPTO_AGILE;
                if (first->pcr != 0) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_DATA,
                                    "event log: the Spec ID event is not in PCR 0");
                        return FALSE;
                }
                if (!vtc_el_parse_spec_id(p, first, error))
                        return FALSE;
                first->extended = FALSE;
                while (vtc_el_reader_left(&r) > 0) {
                        VtcEventlogEvent *ev = vtc_el_read_pcr_event2(p, &r, error);
                        if (ev == NULL)
                                return FALSE;
                        vtc_el_event_decode(ev);
                        if (!vtc_el_replay_event(p, ev, error))
                                return FALSE;
                }
                return TRUE;
        }

        /* SHA-1 log: the first event is an ordinary one, or the TPM 1.2 "Spec ID Event00" */
        log->format = VTC_EVENTLOG_FORMAT_SHA1;
        if (first->type == VTC_EV_NO_ACTION &&
            (first->data_len < 16 || memcmp(first->data, "Spec ID Event00", 16) != 0)) {
                /* PC Client: a log that starts with EV_NO_ACTION starts with its Spec ID event */
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "event log: the first event is EV_NO_ACTION but not a Spec ID event "
                            "(not a TCG event log, or its header is missing)");
                return FALSE;
        }
        log->banks = g_new0(VtcEventlogBank, 1);
        vtc_el_add_bank(p, TPM2_ALG_SHA1, 20);
        for (VtcEventlogEvent *ev = first; ev != NULL;) {
                if (ev == first && first->type == VTC_EV_NO_ACTION) {
                        ev->kind = VTC_EVENTLOG_DATA_SPEC_ID;
                        ev->description = g_strdup("Spec ID Event00 (SHA-1 log)");
                }
                vtc_el_event_decode(ev);
                if (!vtc_el_replay_event(p, ev, error))
                        return FALSE;
                if (vtc_el_reader_left(&r) == 0)
                        break;
                ev = vtc_el_read_pcr_event(p, &r, error);
                if (ev == NULL)
                        return FALSE;
        }
        return TRUE;
}

VtcEventlog *
vtc_eventlog_new_from_data(const guint8 *buf, gsize len, GError **error)
{
        g_autoptr(VtcEventlog) log = g_new0(VtcEventlog, 1);
        VtcElParser p = {.log = log};
        gboolean ok = FALSE;

        g_return_val_if_fail(buf != NULL || len == 0, NULL);
        if (len > VTC_EVENTLOG_MAX_LOG_SIZE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TOO_LARGE,
                            "event log is %" G_GSIZE_FORMAT " bytes (at most %u allowed)",
                            len,
                            VTC_EVENTLOG_MAX_LOG_SIZE);
                return NULL;
        }
        log->raw = g_bytes_new(buf, len);
        log->events = g_ptr_array_new_with_free_func(vtc_el_event_free);
        ok = vtc_el_parse(&p, error);
        vtc_el_parser_clear(&p);
        if (!ok)
                return NULL;
        return g_steal_pointer(&log);
}

VtcEventlog *
vtc_eventlog_new_from_file(const gchar *path, GError **error)
{
        g_autoptr(GBytes) bytes = vtc_file_read(path, VTC_EVENTLOG_MAX_LOG_SIZE, error);
        gsize len = 0;
        const guint8 *buf = NULL;
        VtcEventlog *log = NULL;

        if (bytes == NULL)
                return NULL;
        buf = g_bytes_get_data(bytes, &len);
        log = vtc_eventlog_new_from_data(buf != NULL ? buf : (const guint8 *)"", len, error);
        if (log == NULL)
                g_prefix_error(error, "%s: ", path);
        return log;
}

const VtcEventlogBank *
vtc_eventlog_get_bank(const VtcEventlog *log, TPM2_ALG_ID alg)
{
        for (guint i = 0; i < log->n_banks; i++) {
                if (log->banks[i].alg == alg)
                        return &log->banks[i];
        }
        return NULL;
}

const VtcEventlogDigest *
vtc_eventlog_event_get_digest(const VtcEventlogEvent *event, TPM2_ALG_ID alg)
{
        for (guint i = 0; i < event->n_digests; i++) {
                if (event->digests[i].alg == alg)
                        return &event->digests[i];
        }
        return NULL;
}

static const VtcEventlogBank *
vtc_el_get_replayable_bank(const VtcEventlog *log, TPM2_ALG_ID alg, guint pcr, GError **error)
{
        const VtcEventlogBank *bank = vtc_eventlog_get_bank(log, alg);

        if (pcr >= VTC_EVENTLOG_NUM_PCRS) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "PCR %u out of range",
                            pcr);
                return NULL;
        }
        if (bank == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the event log has no bank for algorithm 0x%04x",
                            alg);
                return NULL;
        }
        if (!bank->replayable) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_SUPPORTED,
                            "the %s bank of the event log cannot be replayed: %s",
                            bank->name,
                            bank->not_replayable_reason);
                return NULL;
        }
        return bank;
}

gboolean
vtc_eventlog_check_pcr(const VtcEventlog *log,
                       TPM2_ALG_ID alg,
                       guint pcr,
                       const guint8 *value,
                       gsize value_len,
                       GError **error)
{
        const VtcEventlogBank *bank = vtc_el_get_replayable_bank(log, alg, pcr, error);
        g_autofree gchar *want = NULL;
        g_autofree gchar *got = NULL;

        if (bank == NULL)
                return FALSE;
        if (value_len != bank->digest_size) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "PCR value is %" G_GSIZE_FORMAT " bytes, %s needs %u",
                            value_len,
                            bank->name,
                            bank->digest_size);
                return FALSE;
        }
        if (memcmp(bank->pcrs[pcr], value, value_len) == 0)
                return TRUE;
        want = vtc_hex_encode(value, value_len);
        got = vtc_hex_encode(bank->pcrs[pcr], value_len);
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_VERIFY_FAILED,
                    "PCR %s:%u does not match the event log: quoted %s, replayed %s",
                    bank->name,
                    pcr,
                    want,
                    got);
        return FALSE;
}

gboolean
vtc_eventlog_replay_pcr_with_extra(const VtcEventlog *log,
                                   TPM2_ALG_ID alg,
                                   guint pcr,
                                   const gchar *const *extra,
                                   guint8 *out,
                                   GError **error)
{
        const VtcEventlogBank *bank = vtc_el_get_replayable_bank(log, alg, pcr, error);
        EVP_MD *md = NULL;
        guint8 value[VTC_EVENTLOG_MAX_DIGEST];
        gboolean ok = TRUE;

        if (bank == NULL)
                return FALSE;
        md = EVP_MD_fetch(NULL, bank->hash->ossl_name, NULL);
        if (md == NULL) {
                vtc_ossl_set_error(error, VTC_ERROR_NOT_SUPPORTED, "fetching %s", bank->name);
                return FALSE;
        }
        memcpy(value, bank->pcrs[pcr], bank->digest_size);
        for (gsize i = 0; ok && extra != NULL && extra[i] != NULL; i++) {
                guint8 digest[VTC_EVENTLOG_MAX_DIGEST];
                ok = vtc_hash(bank->hash,
                              (const guint8 *)extra[i],
                              strlen(extra[i]),
                              digest,
                              error) &&
                     vtc_el_extend(md, value, digest, bank->digest_size, error);
        }
        EVP_MD_free(md);
        if (!ok)
                return FALSE;
        memcpy(out, value, bank->digest_size);
        return TRUE;
}

gboolean
vtc_eventlog_get_secure_boot(const VtcEventlog *log, gboolean *out_enabled)
{
        for (guint i = 0; i < log->events->len; i++) {
                const VtcEventlogEvent *ev = g_ptr_array_index(log->events, i);
                if (ev->type != VTC_EV_EFI_VARIABLE_DRIVER_CONFIG || ev->pcr != 7 ||
                    ev->kind != VTC_EVENTLOG_DATA_VARIABLE ||
                    memcmp(ev->var_guid, vtc_el_guid_global, 16) != 0 ||
                    g_strcmp0(ev->var_name, "SecureBoot") != 0)
                        continue;
                if (out_enabled != NULL)
                        *out_enabled = ev->var_data_len >= 1 && ev->var_data[0] == 1;
                return TRUE;
        }
        return FALSE;
}
