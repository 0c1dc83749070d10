/* SPDX-License-Identifier: Apache-2.0 */
#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-hostd-protect.h"
#include "vtc-hostd-proto.h"
#include "vtc-hostd-tpm.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-util.h"

#define DOMAIN_UUID "6f1c2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b"
#define SECRET_UUID "0a1b2c3d-4e5f-4a6b-9c7d-8e9fa0b1c2d3"
#define OTHER_UUID  "11111111-2222-4333-8444-555555555555"
/* tss2's TPM2_*_FIRST macros shift a signed int into the sign bit (UBSan): our own */
#define HANDLES_TRANSIENT      0x80000000u
#define HANDLES_HMAC_SESSION   0x02000000u
#define HANDLES_LOADED_SESSION 0x03000000u

static const guint8 key32[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0xff};

/* ---- sealed keys on a real swtpm ------------------------------------------------------- */

typedef struct {
        gchar *dir;
        VtcSwtpm *swtpm;
        VtcTpm *tpm;
} Tpm;

static void
tpm_open(Tpm *t, const gchar *sub)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = NULL;

        vtc_test_require_program("swtpm");
        t->dir = vtc_test_tmpdir_new();
        state = g_build_filename(t->dir, sub, NULL);
        t->swtpm = vtc_swtpm_new(state, &error);
        g_assert_no_error(error);
        t->tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(t->swtpm), &error);
        g_assert_no_error(error);
}

static void
tpm_close(Tpm *t)
{
        g_clear_pointer(&t->tpm, vtc_tpm_free);
        g_clear_pointer(&t->swtpm, vtc_swtpm_free);
        vtc_test_tmpdir_free(g_steal_pointer(&t->dir));
}

/* Transient objects and sessions the TPM holds: every job must leave none behind. */
static guint
tpm_count_handles(VtcTpm *tpm, TPM2_HANDLE first)
{
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        guint n;
        TSS2_RC rc = Esys_GetCapability(vtc_tpm_get_esys(tpm),
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        ESYS_TR_NONE,
                                        TPM2_CAP_HANDLES,
                                        first,
                                        64,
                                        &more,
                                        &cap);

        g_assert_cmpint(rc, ==, TSS2_RC_SUCCESS);
        n = 0;
        for (guint i = 0; i < cap->data.handles.count; i++) {
                if ((cap->data.handles.handle[i] >> 24) == (first >> 24))
                        n++;
        }
        Esys_Free(cap);
        return n;
}

static void
test_seal_unseal(void)
{
        Tpm t = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdSealedKey) sk = NULL;
        g_autoptr(VtcHostdSealedKey) sk2 = NULL;
        g_autoptr(GBytes) key = NULL;
        g_autoptr(GBytes) key2 = NULL;
        g_autofree gchar *data = NULL;
        g_autofree gchar *data2 = NULL;
        g_autofree gchar *path = NULL;
        gsize len = 0;
        gsize len2 = 0;

        tpm_open(&t, "tpm");
        sk = vtc_hostd_sealed_key_seal(t.tpm,
                                       VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                       DOMAIN_UUID,
                                       SECRET_UUID,
                                       key32,
                                       sizeof(key32),
                                       &error);
        g_assert_no_error(error);
        g_assert_nonnull(sk);
        g_assert_cmpstr(vtc_hostd_sealed_key_get_domain(sk), ==, DOMAIN_UUID);
        g_assert_cmpstr(vtc_hostd_sealed_key_get_secret(sk), ==, SECRET_UUID);
        /* nothing transient left: no object, no session */
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_TRANSIENT), ==, 0);
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_HMAC_SESSION), ==, 0);
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_LOADED_SESSION), ==, 0);

        /* the record holds no key in the clear */
        data = vtc_hostd_sealed_key_to_data(sk, &len);
        {
                g_autofree gchar *hex = vtc_hex_encode(key32, sizeof(key32));
                g_assert_null(strstr(data, hex));
        }
        key = vtc_hostd_sealed_key_unseal(sk, t.tpm, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(key, NULL), g_bytes_get_size(key), key32, sizeof(key32));
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_TRANSIENT), ==, 0);
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_HMAC_SESSION), ==, 0);
        g_assert_cmpuint(tpm_count_handles(t.tpm, HANDLES_LOADED_SESSION), ==, 0);

        /* saved, loaded, the same record, and it still unseals */
        path = g_build_filename(t.dir, "vm", DOMAIN_UUID ".sealed", NULL);
        g_assert_true(vtc_hostd_sealed_key_save(sk, path, &error));
        g_assert_no_error(error);
        {
                GStatBuf st;
                g_assert_cmpint(g_stat(path, &st), ==, 0);
                g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        }
        sk2 = vtc_hostd_sealed_key_load(path, &error);
        g_assert_no_error(error);
        data2 = vtc_hostd_sealed_key_to_data(sk2, &len2);
        g_assert_cmpstr(data, ==, data2);
        key2 = vtc_hostd_sealed_key_unseal(sk2, t.tpm, &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(key, key2));

        /* a second seal of the same key makes another blob (fresh seed), which unseals too */
        {
                g_autoptr(VtcHostdSealedKey) sk3 =
                    vtc_hostd_sealed_key_seal(t.tpm,
                                              VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                              DOMAIN_UUID,
                                              SECRET_UUID,
                                              key32,
                                              sizeof(key32),
                                              &error);
                g_autofree gchar *data3 = NULL;
                g_assert_no_error(error);
                data3 = vtc_hostd_sealed_key_to_data(sk3, NULL);
                g_assert_cmpstr(data3, !=, data);
        }
        /* bad arguments */
        g_assert_null(vtc_hostd_sealed_key_seal(t.tpm,
                                                VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                                DOMAIN_UUID,
                                                SECRET_UUID,
                                                key32,
                                                0,
                                                &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_hostd_sealed_key_seal(t.tpm,
                                                VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                                "not-a-uuid",
                                                SECRET_UUID,
                                                key32,
                                                sizeof(key32),
                                                &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        tpm_close(&t);
}

static void
test_unseal_other_tpm(void)
{
        Tpm a = {0};
        Tpm b = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdSealedKey) sk = NULL;
        g_autoptr(VtcHostdSealedKey) other = NULL;
        g_autoptr(GBytes) key = NULL;

        tpm_open(&a, "a");
        tpm_open(&b, "b");
        sk = vtc_hostd_sealed_key_seal(a.tpm,
                                       VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                       DOMAIN_UUID,
                                       SECRET_UUID,
                                       key32,
                                       sizeof(key32),
                                       &error);
        g_assert_no_error(error);

        /* B has no sealing key at the handle */
        key = vtc_hostd_sealed_key_unseal(sk, b.tpm, &error);
        g_assert_null(key);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_FORBIDDEN);
        g_assert_nonnull(strstr(error->message, "sealed under another TPM"));
        g_assert_nonnull(strstr(error->message, DOMAIN_UUID));
        g_clear_error(&error);

        /* B gets its own sealing key there (made by sealing something of its own): the record
         * names A's, so B refuses before even loading */
        other = vtc_hostd_sealed_key_seal(b.tpm,
                                          VTC_HOSTD_SEAL_HANDLE_DEFAULT,
                                          OTHER_UUID,
                                          SECRET_UUID,
                                          key32,
                                          sizeof(key32),
                                          &error);
        g_assert_no_error(error);
        key = vtc_hostd_sealed_key_unseal(sk, b.tpm, &error);
        g_assert_null(key);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_FORBIDDEN);
        g_assert_nonnull(strstr(error->message, "cannot unseal"));
        g_clear_error(&error);

        /* and a record forged to name B's sealing key: TPM2_Load refuses A's blob (integrity) */
        {
                g_autofree gchar *data = vtc_hostd_sealed_key_to_data(sk, NULL);
                g_autofree gchar *data_b = vtc_hostd_sealed_key_to_data(other, NULL);
                g_autoptr(GKeyFile) ka = g_key_file_new();
                g_autoptr(GKeyFile) kb = g_key_file_new();
                g_autofree gchar *name_b = NULL;
                g_autofree gchar *forged = NULL;
                g_autoptr(VtcHostdSealedKey) fk = NULL;
                g_assert_true(g_key_file_load_from_data(ka, data, -1, 0, NULL));
                g_assert_true(g_key_file_load_from_data(kb, data_b, -1, 0, NULL));
                name_b = g_key_file_get_string(kb, "vtc sealed key", "parent_name", NULL);
                g_key_file_set_string(ka, "vtc sealed key", "parent_name", name_b);
                forged = g_key_file_to_data(ka, NULL, NULL);
                fk = vtc_hostd_sealed_key_from_data(forged, strlen(forged), &error);
                g_assert_no_error(error);
                key = vtc_hostd_sealed_key_unseal(fk, b.tpm, &error);
                g_assert_null(key);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_FORBIDDEN);
                g_assert_nonnull(strstr(error->message, "Esys_Load"));
                g_clear_error(&error);
                g_assert_cmpuint(tpm_count_handles(b.tpm, HANDLES_TRANSIENT), ==, 0);
                g_assert_cmpuint(tpm_count_handles(b.tpm, HANDLES_HMAC_SESSION), ==, 0);
        }
        /* A still unseals it */
        key = vtc_hostd_sealed_key_unseal(sk, a.tpm, &error);
        g_assert_no_error(error);
        g_assert_cmpmem(g_bytes_get_data(key, NULL), g_bytes_get_size(key), key32, sizeof(key32));
        tpm_close(&a);
        tpm_close(&b);
}

static void
test_record_parse(void)
{
        static const gchar *const bad[] = {
            "",
            "[vtc sealed key]\nversion=2\n",
            "[vtc sealed key]\nversion=1\ndomain=" DOMAIN_UUID "\n",
            "[vtc sealed key]\nversion=1\ndomain=x\nsecret=" SECRET_UUID "\n",
            "[vtc sealed key]\nversion=1\nextra=1\n",
            "[vtc sealed key]\nversion=1\ndomain=" DOMAIN_UUID "\nsecret=" SECRET_UUID
            "\nparent=0x01000000\n",
            "[vtc sealed key]\nversion=1\ndomain=" DOMAIN_UUID "\nsecret=" SECRET_UUID
            "\nparent=0x81000004\nparent_name=zz\n",
            "[vtc sealed key]\nversion=1\ndomain=" DOMAIN_UUID "\nsecret=" SECRET_UUID
            "\nparent=0x81000004\nparent_name=000b00\npublic=0001\n",
            "not a key file",
        };
        g_autofree gchar *huge = g_strnfill(70 * 1024, 'a');

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcHostdSealedKey) sk =
                    vtc_hostd_sealed_key_from_data(bad[i], strlen(bad[i]), &error);
                g_assert_null(sk);
                g_assert_nonnull(error);
                g_assert_true(error->domain == VTC_ERROR);
        }
        {
                g_autoptr(GError) error = NULL;
                g_assert_null(vtc_hostd_sealed_key_from_data(huge, strlen(huge), &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        }
        {
                g_autoptr(GError) error = NULL;
                g_assert_null(vtc_hostd_sealed_key_load("/nonexistent/x.sealed", &error));
                g_assert_nonnull(error);
        }
}

/* ---- the domain XML edits ------------------------------------------------------------- */

#define XML_PLAIN                                                      \
        "<domain type=\"qemu\">\n"                                     \
        "  <name>g1</name>\n"                                          \
        "  <uuid>" DOMAIN_UUID "</uuid>\n"                             \
        "  <description>a &amp; b &lt;c&gt;</description>\n"           \
        "  <!-- a comment -->\n"                                       \
        "  <os><type arch=\"x86_64\" machine=\"pc\">hvm</type></os>\n" \
        "  <devices>\n"                                                \
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"       \
        "  </devices>\n"                                               \
        "</domain>\n"

static void
test_xml_add_remove(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdDomain) d = NULL;
        g_autofree gchar *added = NULL;
        g_autofree gchar *removed = NULL;
        g_autofree gchar *secret = NULL;
        g_autofree gchar *got = NULL;
        guint changes = 0;

        added =
            vtc_hostd_protect_xml_add(XML_PLAIN, strlen(XML_PLAIN), SECRET_UUID, &changes, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(changes,
                         ==,
                         VTC_HOSTD_PROTECT_TPM | VTC_HOSTD_PROTECT_CHANNEL |
                             VTC_HOSTD_PROTECT_ENCRYPTION);
        /* what hostd reads from it */
        d = vtc_hostd_domain_parse(added, strlen(added), &error);
        g_assert_no_error(error);
        g_assert_true(d->has_tpm);
        g_assert_cmpstr(d->tpm_version, ==, "2.0");
        g_assert_cmpstr(d->tpm_secret, ==, SECRET_UUID);
        g_assert_nonnull(strstr(added,
                                "<tpm model=\"tpm-crb\"><backend type=\"emulator\" "
                                "version=\"2.0\"><encryption secret=\"" SECRET_UUID
                                "\"/></backend></tpm>"));
        g_assert_nonnull(strstr(added,
                                "<channel type=\"unix\"><source mode=\"bind\"/><target "
                                "type=\"virtio\" name=\"org.vtc.agent.0\"/></channel>"));
        g_assert_nonnull(strstr(added, "xmlns:vtc=\"" VTC_HOSTD_PROTECT_NS "\""));
        /* the rest is kept: escapes, comment */
        g_assert_nonnull(strstr(added, "<description>a &amp; b &lt;c&gt;</description>"));
        g_assert_nonnull(strstr(added, "<!-- a comment -->"));
        got = vtc_hostd_protect_xml_get_secret(added, strlen(added), &error);
        g_assert_no_error(error);
        g_assert_cmpstr(got, ==, SECRET_UUID);
        g_clear_pointer(&got, g_free);
        got = vtc_hostd_protect_xml_get_secret(XML_PLAIN, strlen(XML_PLAIN), &error);
        g_assert_no_error(error);
        g_assert_null(got);

        /* protecting twice: refused */
        g_assert_null(
            vtc_hostd_protect_xml_add(added, strlen(added), OTHER_UUID, &changes, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
        g_assert_nonnull(strstr(error->message, "protected by vtc already"));
        g_clear_error(&error);

        /* undo: exactly the document we started from */
        changes = 0;
        removed = vtc_hostd_protect_xml_remove(added, strlen(added), &changes, &secret, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(changes,
                         ==,
                         VTC_HOSTD_PROTECT_TPM | VTC_HOSTD_PROTECT_CHANNEL |
                             VTC_HOSTD_PROTECT_ENCRYPTION);
        g_assert_cmpstr(secret, ==, SECRET_UUID);
        g_assert_cmpstr(removed, ==, XML_PLAIN);

        /* and once more: not protected */
        g_clear_pointer(&secret, g_free);
        g_assert_null(
            vtc_hostd_protect_xml_remove(removed, strlen(removed), &changes, &secret, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

#define XML_WITH_TPM                                                                   \
        "<domain type='qemu'><name>g2</name><uuid>" DOMAIN_UUID "</uuid>"              \
        "<metadata><other:x xmlns:other='urn:other'>keep</other:x></metadata>"         \
        "<devices><tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm>" \
        "<channel type='unix'><source mode='bind' path='/x'/>"                         \
        "<target type='virtio' name='org.vtc.agent.0'/></channel></devices></domain>"

static void
test_xml_existing_tpm(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcHostdDomain) d = NULL;
        g_autofree gchar *added = NULL;
        g_autofree gchar *removed = NULL;
        guint changes = 0;

        added = vtc_hostd_protect_xml_add(XML_WITH_TPM,
                                          strlen(XML_WITH_TPM),
                                          SECRET_UUID,
                                          &changes,
                                          &error);
        g_assert_no_error(error);
        /* the site's TPM model and channel are kept; only the encryption is new */
        g_assert_cmpuint(changes, ==, VTC_HOSTD_PROTECT_ENCRYPTION);
        g_assert_nonnull(strstr(added, "<tpm model=\"tpm-tis\">"));
        g_assert_nonnull(strstr(added, "tpm=\"kept\" channel=\"kept\""));
        d = vtc_hostd_domain_parse(added, strlen(added), &error);
        g_assert_no_error(error);
        g_assert_cmpstr(d->tpm_secret, ==, SECRET_UUID);
        removed = vtc_hostd_protect_xml_remove(added, strlen(added), &changes, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(changes, ==, VTC_HOSTD_PROTECT_ENCRYPTION);
        g_assert_nonnull(strstr(removed,
                                "<tpm model=\"tpm-tis\"><backend type=\"emulator\" "
                                "version=\"2.0\"/></tpm>"));
        g_assert_nonnull(strstr(removed, "name=\"org.vtc.agent.0\""));
        /* the other metadata stays, vtc's goes */
        g_assert_nonnull(strstr(removed, "<other:x xmlns:other=\"urn:other\">keep</other:x>"));
        g_assert_null(strstr(removed, VTC_HOSTD_PROTECT_NS));
        g_assert_null(strstr(removed, "encryption"));
}

static void
test_xml_refusals(void)
{
        static const struct {
                const gchar *xml;
                gint code;
                const gchar *words;
        } cases[] = {
            {"<domain><name>a</name><devices><tpm model='tpm-tis'><backend type='passthrough'>"
             "<device path='/dev/tpm0'/></backend></tpm></devices></domain>",
             VTC_ERROR_NOT_SUPPORTED,
             "backend type 'passthrough'"},
            {"<domain><devices><tpm><backend type='emulator' version='1.2'/></tpm></devices>"
             "</domain>",
             VTC_ERROR_NOT_SUPPORTED,
             "TPM 2.0 only"},
            {"<domain><devices><tpm><backend type='emulator' version='2.0'><encryption "
             "secret='" OTHER_UUID "'/></backend></tpm></devices></domain>",
             VTC_ERROR_CONFLICT,
             OTHER_UUID},
            {"<domain><devices>", VTC_ERROR_INVALID_DATA, "does not parse"},
            {"<network/>", VTC_ERROR_INVALID_DATA, "not a <domain>"},
            {"<domain><a>&bogus;</a></domain>", VTC_ERROR_INVALID_DATA, "does not parse"},
        };
        g_autoptr(GString) deep = g_string_new("<domain>");

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;
                guint changes = 0xdead;
                g_autofree gchar *out = vtc_hostd_protect_xml_add(cases[i].xml,
                                                                  strlen(cases[i].xml),
                                                                  SECRET_UUID,
                                                                  &changes,
                                                                  &error);
                g_assert_null(out);
                g_assert_error(error, VTC_ERROR, cases[i].code);
                if (strstr(error->message, cases[i].words) == NULL)
                        g_error("case %u: '%s' lacks '%s'", i, error->message, cases[i].words);
                g_assert_cmpuint(changes, ==, 0xdead); /* untouched on failure */
        }
        for (guint i = 0; i < 100; i++)
                g_string_append(deep, "<a>");
        {
                g_autoptr(GError) error = NULL;
                guint changes = 0;
                g_assert_null(
                    vtc_hostd_protect_xml_add(deep->str, deep->len, SECRET_UUID, &changes, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
        }
        {
                g_autoptr(GError) error = NULL;
                guint changes = 0;
                g_assert_null(vtc_hostd_protect_xml_add("<domain/>", 9, "nope", &changes, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        }
        {
                /* a domain with no <devices> gets one */
                g_autoptr(GError) error = NULL;
                guint changes = 0;
                g_autofree gchar *out = vtc_hostd_protect_xml_add(
                    "<domain><name>n</name><uuid>" DOMAIN_UUID "</uuid></domain>",
                    strlen("<domain><name>n</name><uuid>" DOMAIN_UUID "</uuid></domain>"),
                    SECRET_UUID,
                    &changes,
                    &error);
                g_autoptr(VtcHostdDomain) d = NULL;
                g_assert_no_error(error);
                d = vtc_hostd_domain_parse(out, strlen(out), &error);
                g_assert_no_error(error);
                g_assert_cmpstr(d->tpm_secret, ==, SECRET_UUID);
        }
}

static void
test_secret_xml(void)
{
        g_autofree gchar *xml = vtc_hostd_protect_secret_xml(SECRET_UUID, DOMAIN_UUID);

        g_assert_nonnull(strstr(xml, "<secret ephemeral='yes' private='yes'>"));
        g_assert_nonnull(strstr(xml, "<uuid>" SECRET_UUID "</uuid>"));
        g_assert_nonnull(strstr(xml, "<usage type='vtpm'><name>vtc-" DOMAIN_UUID "</name>"));
}

/* ---- the socket op -------------------------------------------------------------------- */

static void
test_proto(void)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *add = vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_ADD,
                                                                  DOMAIN_UUID,
                                                                  "g1",
                                                                  SECRET_UUID,
                                                                  &error);
        g_autofree gchar *rm = NULL;
        g_autoptr(VtcHostdRequest) req = NULL;
        static const gchar *const bad[] = {
            "{\"op\":\"protect\",\"action\":\"add\",\"uuid\":\"" DOMAIN_UUID "\",\"name\":\"g\"}",
            "{\"op\":\"protect\",\"action\":\"remove\",\"uuid\":\"" DOMAIN_UUID
            "\",\"name\":\"g\"}",
            "{\"op\":\"protect\",\"action\":\"zap\",\"uuid\":\"" DOMAIN_UUID "\"}",
            "{\"op\":\"protect\",\"action\":\"remove\",\"uuid\":\"nope\"}",
            "{\"op\":\"protect\",\"uuid\":\"" DOMAIN_UUID "\"}",
            "{\"op\":\"protect\",\"action\":\"add\",\"uuid\":\"" DOMAIN_UUID
            "\",\"name\":\"g\",\"secret\":\"x\"}",
            "{\"op\":\"protect\",\"action\":\"add\",\"uuid\":\"" DOMAIN_UUID
            "\",\"name\":\"\",\"secret\":\"" SECRET_UUID "\"}",
        };

        g_assert_no_error(error);
        req = vtc_hostd_request_parse(add, strlen(add), &error);
        g_assert_no_error(error);
        g_assert_cmpint(req->op, ==, VTC_HOSTD_OP_PROTECT);
        g_assert_cmpint(req->protect.action, ==, VTC_HOSTD_PROTECT_ADD);
        g_assert_cmpstr(req->protect.uuid, ==, DOMAIN_UUID);
        g_assert_cmpstr(req->protect.name, ==, "g1");
        g_assert_cmpstr(req->protect.secret, ==, SECRET_UUID);
        g_clear_pointer(&req, vtc_hostd_request_free);
        rm = vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_REMOVE,
                                               DOMAIN_UUID,
                                               NULL,
                                               NULL,
                                               &error);
        g_assert_no_error(error);
        req = vtc_hostd_request_parse(rm, strlen(rm), &error);
        g_assert_no_error(error);
        g_assert_cmpint(req->protect.action, ==, VTC_HOSTD_PROTECT_REMOVE);
        g_assert_null(req->protect.name);
        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) e = NULL;
                g_autoptr(VtcHostdRequest) r = vtc_hostd_request_parse(bad[i], strlen(bad[i]), &e);
                g_assert_null(r);
                g_assert_nonnull(e);
        }
        g_assert_null(vtc_hostd_request_protect_to_json(VTC_HOSTD_PROTECT_ADD,
                                                        DOMAIN_UUID,
                                                        NULL,
                                                        SECRET_UUID,
                                                        &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

/* ---- hostd's side over its TPM worker --------------------------------------------------- */

static void
store_result_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        GAsyncResult **slot = user_data;

        *slot = g_object_ref(res);
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        while (*slot == NULL) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_main_context_iteration(NULL, TRUE);
        }
        return *slot;
}

static VtcHostdDomain *
domain_new(const gchar *uuid, const gchar *secret)
{
        g_autofree gchar *xml =
            g_strdup_printf("<domain type='qemu'><name>g</name><uuid>%s</uuid><devices><tpm "
                            "model='tpm-crb'><backend type='emulator' version='2.0'>"
                            "<encryption secret='%s'/></backend></tpm></devices></domain>",
                            uuid,
                            secret);
        g_autoptr(GError) error = NULL;
        VtcHostdDomain *d = vtc_hostd_domain_parse(xml, strlen(xml), &error);

        g_assert_no_error(error);
        return d;
}

static gboolean
prepare(VtcHostdProtect *p, const VtcHostdDomain *d, gboolean *out_handed, GError **error)
{
        g_autoptr(GAsyncResult) res = NULL;

        vtc_hostd_protect_prepare_async(p, d, store_result_cb, &res);
        return vtc_hostd_protect_prepare_finish(p, wait_result(&res), out_handed, error);
}

static void
test_hostd_side(void)
{
        g_autofree gchar *dir = NULL;
        g_autofree gchar *tpm_a = NULL;
        g_autofree gchar *tpm_b = NULL;
        g_autofree gchar *path = NULL;
        g_autoptr(VtcSwtpm) sw_a = NULL;
        g_autoptr(VtcSwtpm) sw_b = NULL;
        g_autoptr(VtcHostdTpm) a = NULL;
        g_autoptr(VtcHostdTpm) b = NULL;
        g_autoptr(VtcHostdProtect) pa = NULL;
        g_autoptr(VtcHostdProtect) pb = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GAsyncResult) res = NULL;
        g_autoptr(VtcHostdDomain) d = domain_new(DOMAIN_UUID, SECRET_UUID);
        g_autoptr(VtcHostdDomain) wrong = domain_new(DOMAIN_UUID, OTHER_UUID);
        g_autoptr(VtcHostdDomain) unknown = domain_new(OTHER_UUID, SECRET_UUID);
        VtcHostdProtectRequest add = {.action = VTC_HOSTD_PROTECT_ADD,
                                      .uuid = (gchar *)DOMAIN_UUID,
                                      .name = (gchar *)"g",
                                      .secret = (gchar *)SECRET_UUID};
        VtcHostdProtectRequest rm = {.action = VTC_HOSTD_PROTECT_REMOVE,
                                     .uuid = (gchar *)DOMAIN_UUID};
        gboolean handed = TRUE;

        vtc_test_require_program("swtpm");
        dir = vtc_test_tmpdir_new();
        tpm_a = g_build_filename(dir, "a", NULL);
        tpm_b = g_build_filename(dir, "b", NULL);
        sw_a = vtc_swtpm_new(tpm_a, &error);
        g_assert_no_error(error);
        sw_b = vtc_swtpm_new(tpm_b, &error);
        g_assert_no_error(error);
        a = vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(sw_a), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        b = vtc_hostd_tpm_new(vtc_swtpm_get_tcti_conf(sw_b), 0, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        /* the test driver has no secret driver: handing the key over fails after the unseal,
         * which is what tells the unseal worked */
        pa = vtc_hostd_protect_new(a, dir, 0, "test:///default");
        pb = vtc_hostd_protect_new(b, dir, 0, "test:///default");
        path = vtc_hostd_protect_get_path(pa, DOMAIN_UUID);
        g_assert_true(g_str_has_suffix(path, "/vm/" DOMAIN_UUID ".sealed"));

        /* no key held: not vtc's, prepare passes without handing anything */
        g_assert_true(prepare(pa, d, &handed, &error));
        g_assert_no_error(error);
        g_assert_false(handed);

        vtc_hostd_protect_handle_async(pa, &add, store_result_cb, &res);
        g_assert_true(vtc_hostd_protect_handle_finish(pa, wait_result(&res), &error));
        g_assert_no_error(error);
        g_clear_object(&res);
        g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));

        /* another domain (no key of its own): passes, nothing handed */
        g_assert_true(prepare(pa, unknown, &handed, &error));
        g_assert_false(handed);
        /* the domain naming another secret than vtc set: refused */
        g_assert_false(prepare(pa, wrong, &handed, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_FORBIDDEN);
        g_assert_nonnull(strstr(error->message, "not handing its key over"));
        g_clear_error(&error);
        /* this TPM unseals; libvirt's test driver then refuses the secret */
        g_assert_false(prepare(pa, d, &handed, &error));
        g_assert_nonnull(error);
        g_assert_nonnull(
            strstr(error->message, "handing the vTPM key of domain " DOMAIN_UUID " to libvirt"));
        g_clear_error(&error);
        /* another TPM with the same state: cannot unseal, says so */
        g_assert_false(prepare(pb, d, &handed, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_FORBIDDEN);
        g_assert_nonnull(strstr(error->message, "sealed under another TPM"));
        g_clear_error(&error);
        /* nothing handed: withdraw has nothing to do */
        vtc_hostd_protect_withdraw_async(pa, d, store_result_cb, &res);
        g_assert_true(vtc_hostd_protect_withdraw_finish(wait_result(&res), &error));
        g_assert_no_error(error);
        g_clear_object(&res);

        /* a corrupt record: a clear error, not a crash */
        g_assert_true(g_file_set_contents(path, "[vtc sealed key]\nversion=1\n", -1, NULL));
        g_assert_false(prepare(pa, d, &handed, &error));
        g_assert_nonnull(strstr(error->message, "the vTPM key of domain " DOMAIN_UUID));
        g_clear_error(&error);

        vtc_hostd_protect_handle_async(pa, &rm, store_result_cb, &res);
        g_assert_true(vtc_hostd_protect_handle_finish(pa, wait_result(&res), &error));
        g_assert_no_error(error);
        g_clear_object(&res);
        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
        /* removing what is not there is fine */
        vtc_hostd_protect_handle_async(pa, &rm, store_result_cb, &res);
        g_assert_true(vtc_hostd_protect_handle_finish(pa, wait_result(&res), &error));
        g_clear_object(&res);

        g_clear_pointer(&pa, vtc_hostd_protect_free);
        g_clear_pointer(&pb, vtc_hostd_protect_free);
        g_clear_pointer(&a, vtc_hostd_tpm_free);
        g_clear_pointer(&b, vtc_hostd_tpm_free);
        g_clear_pointer(&sw_a, vtc_swtpm_free);
        g_clear_pointer(&sw_b, vtc_swtpm_free);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_add_func("/hostd/protect/seal-unseal", test_seal_unseal);
        g_test_add_func("/hostd/protect/unseal-other-tpm", test_unseal_other_tpm);
        g_test_add_func("/hostd/protect/record-parse", test_record_parse);
        g_test_add_func("/hostd/protect/xml-add-remove", test_xml_add_remove);
        g_test_add_func("/hostd/protect/xml-existing-tpm", test_xml_existing_tpm);
        g_test_add_func("/hostd/protect/xml-refusals", test_xml_refusals);
        g_test_add_func("/hostd/protect/secret-xml", test_secret_xml);
        g_test_add_func("/hostd/protect/proto", test_proto);
        g_test_add_func("/hostd/protect/hostd-side", test_hostd_side);
        return g_test_run();
}
