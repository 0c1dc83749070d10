/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vTPM event log against a real swtpm standing in for the hardware TPM: appends extended
 * into PCR 23, reopen and check, the repair of one lost extend, refusals of every other
 * mismatch (two lost extends, a tampered, reordered or gapped log, a reset PCR), torn lines,
 * strict parsing, offset reads for verifiers, clone lookups, rotation after a TPM reset.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-quote.h"
#include "vtc-swtpm.h"
#include "vtc-test-common.h"
#include "vtc-tpm.h"
#include "vtc-util.h"
#include "vtc-vtpm-log.h"

#define UUID_A "6f1c0b52-3a4e-4c1d-9e8f-0123456789ab"
#define UUID_B "0d2e4f60-7182-4394-a5b6-c7d8e9f0a1b2"
#define UUID_C "11111111-2222-4333-8444-555555555555"

typedef struct {
        gchar *dir;
        gchar *state;
        gchar *path;
        VtcSwtpm *swtpm;
        VtcTpm *tpm;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        f->dir = vtc_test_tmpdir_new();
        f->state = g_build_filename(f->dir, "tpm", NULL);
        f->path = g_build_filename(f->dir, "vtpm.log", NULL);
}

static void
fixture_start_tpm(Fixture *f)
{
        g_autoptr(GError) error = NULL;

        f->swtpm = vtc_swtpm_new(f->state, &error);
        g_assert_no_error(error);
        f->tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(f->swtpm), &error);
        g_assert_no_error(error);
}

static void
fixture_stop_tpm(Fixture *f)
{
        g_clear_pointer(&f->tpm, vtc_tpm_free);
        g_clear_pointer(&f->swtpm, vtc_swtpm_free);
}

static void
fixture_setup_tpm(Fixture *f, gconstpointer user_data)
{
        vtc_test_require_program("swtpm");
        fixture_setup(f, user_data);
        fixture_start_tpm(f);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        fixture_stop_tpm(f);
        g_free(f->state);
        g_free(f->path);
        vtc_test_tmpdir_free(f->dir);
}

static gboolean
extend_cb(const guint8 *digest, gsize len, gpointer user_data, GError **error)
{
        return vtc_tpm_pcr_extend(user_data, 23, TPM2_ALG_SHA256, digest, len, error);
}

static void
read_pcr23(Fixture *f, guint8 *out)
{
        g_autoptr(GError) error = NULL;
        TPML_PCR_SELECTION sel;
        g_autoptr(VtcPcrValues) values = NULL;
        const guint8 *v;
        gsize len = 0;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 1u << 23);
        values = vtc_tpm_pcr_read(f->tpm, &sel, &error);
        g_assert_no_error(error);
        v = vtc_pcr_values_get(values, TPM2_ALG_SHA256, 23, &len);
        g_assert_nonnull(v);
        g_assert_cmpuint(len, ==, 32);
        memcpy(out, v, 32);
}

static void
ek_digest(guint8 *out, guint8 fill)
{
        memset(out, fill, 32);
}

/* Three entries: HOSTD_START, VTPM_START, VTPM_STOP; extended into the swtpm when @tpm. */
static void
append_three(VtcVtpmLog *log, VtcTpm *tpm)
{
        g_autoptr(GError) error = NULL;
        guint8 ek[32];
        g_autoptr(VtcVtpmLogEntry) e0 = NULL;
        g_autoptr(VtcVtpmLogEntry) e1 = NULL;
        g_autoptr(VtcVtpmLogEntry) e2 = NULL;
        VtcVtpmLogExtendFunc cb = tpm != NULL ? extend_cb : NULL;

        ek_digest(ek, 0xab);
        e0 = vtc_vtpm_log_append_hostd_start(log, 1795000000, "host-17", cb, tpm, &error);
        g_assert_no_error(error);
        e1 = vtc_vtpm_log_append_vtpm_start(log, 1795000010, UUID_A, "guest1", ek, cb, tpm, &error);
        g_assert_no_error(error);
        e2 = vtc_vtpm_log_append_vtpm_stop(log, 1795000100, UUID_A, "guest1", cb, tpm, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(e0->seq, ==, 0);
        g_assert_cmpuint(e1->seq, ==, 1);
        g_assert_cmpuint(e2->seq, ==, 2);
}

static const gchar *const three_lines =
    "{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1795000000,\"host\":\"host-17\"}\n"
    "{\"seq\":1,\"type\":\"VTPM_START\",\"ts\":1795000010,\"uuid\":\"" UUID_A "\",\"name\":"
    "\"guest1\",\"ek_sha256\":"
    "\"abababababababababababababababababababababababababababababababab\"}\n"
    "{\"seq\":2,\"type\":\"VTPM_STOP\",\"ts\":1795000100,\"uuid\":\"" UUID_A "\",\"name\":"
    "\"guest1\"}\n";

static gchar *
read_file(const gchar *path)
{
        g_autoptr(GError) error = NULL;
        gchar *text = NULL;

        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        return text;
}

static void
write_file(const gchar *path, const gchar *text, gssize len)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, len, &error));
        g_assert_no_error(error);
}

/* check_pcr against the swtpm's PCR 23: TRUE with no repair, or the error. */
static void
assert_pcr_ok(Fixture *f, VtcVtpmLog *log)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) repair = NULL;
        guint8 pcr[32];

        read_pcr23(f, pcr);
        g_assert_true(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_no_error(error);
        g_assert_null(repair);
}

static void
vtpm_log_append_reopen_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autofree gchar *text = NULL;
        guint8 pcr[32];
        guint8 replay[32];
        guint64 count = 0;

        g_assert_no_error(error);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 0);
        assert_pcr_ok(f, log); /* a fresh TPM and an empty log agree */
        append_three(log, f->tpm);

        /* exactly the lines doc/hostd.md shows, one '\n' each */
        text = read_file(f->path);
        g_assert_cmpstr(text, ==, three_lines);

        read_pcr23(f, pcr);
        vtc_vtpm_log_get_replay(log, replay, &count);
        g_assert_cmpuint(count, ==, 3);
        g_assert_cmpmem(pcr, 32, replay, 32);
        assert_pcr_ok(f, log);

        /* the entry's digest is SHA-256 of the line without its '\n' */
        {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_get_entry(log, 0);
                guint8 d[32];
                const gchar *line0 = "{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1795000000,"
                                     "\"host\":\"host-17\"}";
                g_assert_true(vtc_hash(vtc_hash_alg_from_id(TPM2_ALG_SHA256),
                                       (const guint8 *)line0,
                                       strlen(line0),
                                       d,
                                       &error));
                g_assert_cmpmem(e->digest, 32, d, 32);
                g_assert_cmpstr(e->line, ==, line0);
                g_assert_cmpstr(e->host, ==, "host-17");
                g_assert_null(vtc_vtpm_log_get_entry(log, 3));
        }

        /* reopened: the same replay, and appends are held until the PCR is checked */
        g_clear_pointer(&log, vtc_vtpm_log_free);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 3);
        g_assert_cmpuint(vtc_vtpm_log_get_torn_bytes(log), ==, 0);
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 1795000200, "host-17", NULL, NULL, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        assert_pcr_ok(f, log);
        {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_hostd_start(log,
                                                                               1795000200,
                                                                               "host-17",
                                                                               extend_cb,
                                                                               f->tpm,
                                                                               &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, 3);
        }
        assert_pcr_ok(f, log);

        /* a second opener of the same file is refused while this one holds it */
        {
                g_autoptr(VtcVtpmLog) other = vtc_vtpm_log_open(f->path, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_null(other);
                g_clear_error(&error);
        }
}

/* A crash between the durable append and the extend: one missing extend is repaired. */
static void
vtpm_log_repair_one_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autoptr(VtcVtpmLogEntry) last = NULL;
        g_autoptr(GBytes) repair = NULL;
        guint8 pcr[32];
        guint8 ek[32];

        g_assert_no_error(error);
        append_three(log, f->tpm);
        ek_digest(ek, 0xcd);
        /* appended, then "crashed" before the extend */
        last = vtc_vtpm_log_append_vtpm_start(log,
                                              1795000300,
                                              UUID_B,
                                              "guest2",
                                              ek,
                                              NULL,
                                              NULL,
                                              &error);
        g_assert_no_error(error);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        read_pcr23(f, pcr);
        g_assert_true(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_no_error(error);
        g_assert_nonnull(repair);
        g_assert_cmpmem(g_bytes_get_data(repair, NULL), g_bytes_get_size(repair), last->digest, 32);
        /* not yet agreed: appends wait */
        {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_stop(log,
                                                                             1795000400,
                                                                             UUID_B,
                                                                             "guest2",
                                                                             NULL,
                                                                             NULL,
                                                                             &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        g_assert_true(vtc_tpm_pcr_extend(f->tpm,
                                         23,
                                         TPM2_ALG_SHA256,
                                         g_bytes_get_data(repair, NULL),
                                         32,
                                         &error));
        g_assert_no_error(error);
        assert_pcr_ok(f, log);
        {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_stop(log,
                                                                             1795000400,
                                                                             UUID_B,
                                                                             "guest2",
                                                                             extend_cb,
                                                                             f->tpm,
                                                                             &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, 4);
        }
        assert_pcr_ok(f, log);
}

/* Two extends lost cannot come from one crash: refused. */
static void
vtpm_log_two_missing_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autoptr(GBytes) repair = NULL;
        guint8 pcr[32];
        guint8 ek[32];

        g_assert_no_error(error);
        append_three(log, f->tpm);
        ek_digest(ek, 0x01);
        g_autoptr(VtcVtpmLogEntry) e3 =
            vtc_vtpm_log_append_vtpm_start(log, 5, UUID_B, "b", ek, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(e3->seq, ==, 3);
        g_autoptr(VtcVtpmLogEntry) e4 =
            vtc_vtpm_log_append_vtpm_stop(log, 6, UUID_B, "b", NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(e4->seq, ==, 4);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        read_pcr23(f, pcr);
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "vTPM log and PCR 23 disagree"));
        g_assert_null(repair);
}

/* Fails like a TPM that went away. */
static gboolean
failing_extend_cb(const guint8 *digest, gsize len, gpointer user_data, GError **error)
{
        g_set_error_literal(error, VTC_ERROR, VTC_ERROR_TPM, "TPM gone");
        return FALSE;
}

/* An extend that fails right after the append: the log knows, and lets the repair through. */
static void
vtpm_log_extend_failure_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autoptr(GBytes) repair = NULL;
        guint8 replay[32];
        guint8 before[32];
        guint64 count = 0;

        g_assert_no_error(error);
        append_three(log, NULL);
        vtc_vtpm_log_get_replay(log, before, NULL);
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 7, "h", failing_extend_cb, NULL, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TPM);
                g_assert_nonnull(strstr(error->message, "extending vTPM log entry 3"));
                g_assert_null(e);
                g_clear_error(&error);
        }
        /* the entry is in the file and in the log */
        vtc_vtpm_log_get_replay(log, replay, &count);
        g_assert_cmpuint(count, ==, 4);
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 8, "h", NULL, NULL, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        /* the PCR as it stands (the old replay): the repair is the failed entry's digest */
        g_assert_true(vtc_vtpm_log_check_pcr(log, 23, before, 32, &repair, &error));
        g_assert_no_error(error);
        g_assert_nonnull(repair);
        {
                g_autoptr(VtcVtpmLogEntry) e3 = vtc_vtpm_log_get_entry(log, 3);
                g_assert_cmpmem(g_bytes_get_data(repair, NULL), 32, e3->digest, 32);
        }
        g_assert_true(vtc_vtpm_log_check_pcr(log, 23, replay, 32, NULL, &error));
        g_assert_no_error(error);
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 8, "h", NULL, NULL, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, 4);
        }
        /* a PCR value of the wrong size is the caller's mistake */
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, replay, 20, NULL, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

/* A byte changed in a stored entry: still well-formed, but the PCR refuses it. */
static void
vtpm_log_tampered_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autofree gchar *text = NULL;
        g_autoptr(GBytes) repair = NULL;
        gchar *p;
        guint8 pcr[32];

        g_assert_no_error(error);
        append_three(log, f->tpm);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        /* the last entry's VM name: even a repair could not explain it */
        text = read_file(f->path);
        p = g_strrstr(text, "guest1");
        g_assert_nonnull(p);
        p[5] = '2';
        write_file(f->path, text, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        read_pcr23(f, pcr);
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "vTPM log and PCR 23 disagree"));
        g_assert_null(repair);
        g_clear_error(&error);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        /* the first entry's */
        p = strstr(text, "guest1");
        g_assert_nonnull(p);
        p[5] = '3';
        p = g_strrstr(text, "guest2");
        p[5] = '1';
        write_file(f->path, text, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_clear_error(&error);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        /* a byte that breaks the format is refused at open, naming the line */
        text[0] = '[';
        write_file(f->path, text, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 1 (seq 0)"));
        g_assert_null(log);
}

/* A final line without '\n' (a crash mid-write) is not written: truncated at open. */
static void
vtpm_log_torn_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = NULL;
        g_autoptr(GString) text = g_string_new(three_lines);
        g_autofree gchar *after = NULL;
        const gchar *torn = "{\"seq\":3,\"type\":\"VTPM_START\",\"ts\":17950";
        guint8 replay[32];
        guint8 good[32];
        guint64 count = 0;

        g_string_append(text, torn);
        write_file(f->path, text->str, (gssize)text->len);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 3);
        g_assert_cmpuint(vtc_vtpm_log_get_torn_bytes(log), ==, strlen(torn));
        after = read_file(f->path);
        g_assert_cmpstr(after, ==, three_lines);
        vtc_vtpm_log_get_replay(log, replay, &count);
        g_assert_true(vtc_vtpm_log_replay_data((const guint8 *)three_lines,
                                               strlen(three_lines),
                                               good,
                                               &count,
                                               &error));
        g_assert_no_error(error);
        g_assert_cmpmem(replay, 32, good, 32);
        g_assert_cmpuint(count, ==, 3);
        /* the log goes on from there */
        g_assert_true(vtc_vtpm_log_check_pcr(log, 23, replay, 32, NULL, &error));
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 9, "h", NULL, NULL, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, 3);
        }
        g_clear_pointer(&log, vtc_vtpm_log_free);

        /* a whole entry short of its '\n' was never extended either */
        g_string_assign(text, three_lines);
        g_string_truncate(text, text->len - 1);
        write_file(f->path, text->str, (gssize)text->len);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 2);
        g_clear_pointer(&log, vtc_vtpm_log_free);

        /* torn garbage (a crash can leave zeros) goes too; a tail longer than any line does not */
        {
                guint8 junk[VTC_VTPM_LOG_MAX_LINE + 1] = {0};
                g_string_assign(text, three_lines);
                g_string_append_len(text, (const gchar *)junk, 100);
                write_file(f->path, text->str, (gssize)text->len);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(vtc_vtpm_log_get_torn_bytes(log), ==, 100);
                g_clear_pointer(&log, vtc_vtpm_log_free);

                g_string_assign(text, three_lines);
                g_string_append_len(text, (const gchar *)junk, sizeof(junk));
                write_file(f->path, text->str, (gssize)text->len);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "line 4"));
                g_assert_null(log);
                g_clear_error(&error);
        }
        /* left as it was */
        {
                g_autofree gchar *now = NULL;
                gsize len = 0;
                g_assert_true(g_file_get_contents(f->path, &now, &len, &error));
                g_assert_cmpuint(len, ==, text->len);
        }

        /* over the wire there is no tearing: a missing '\n' is an error */
        g_string_assign(text, three_lines);
        g_string_truncate(text, text->len - 1);
        g_assert_false(
            vtc_vtpm_log_replay_data((const guint8 *)text->str, text->len, good, &count, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 3 (seq 2)"));
}

/* Lines swapped, or one missing: the seq says so, naming the line. */
static void
vtpm_log_order_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) lines = g_strsplit(three_lines, "\n", -1);
        g_autofree gchar *swapped = NULL;
        g_autofree gchar *gap = NULL;
        g_autofree gchar *dup = NULL;
        g_autoptr(VtcVtpmLog) log = NULL;

        swapped = g_strdup_printf("%s\n%s\n%s\n", lines[0], lines[2], lines[1]);
        write_file(f->path, swapped, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 2 (seq 1)"));
        g_assert_nonnull(strstr(error->message, "seq is 2, expected 1"));
        g_assert_null(log);
        g_clear_error(&error);

        gap = g_strdup_printf("%s\n%s\n", lines[0], lines[2]);
        write_file(f->path, gap, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 2 (seq 1)"));
        g_clear_error(&error);

        dup = g_strdup_printf("%s\n%s\n%s\n", lines[0], lines[1], lines[1]);
        write_file(f->path, dup, -1);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 3 (seq 2)"));
        g_clear_error(&error);

        /* a log that does not start at 0 */
        {
                g_autofree gchar *one = g_strdup_printf("%s\n", lines[1]);
                write_file(f->path, one, -1);
        }
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 1 (seq 0)"));
}

typedef struct {
        const gchar *line; /* without '\n' */
        gint code;
        const gchar *message;
} BadLine;

#define EK64 "abababababababababababababababababababababababababababababababab"

static void
vtpm_log_bad_lines_test(Fixture *f, gconstpointer user_data)
{
        static const BadLine cases[] = {
            {"not json", VTC_ERROR_INVALID_DATA, "malformed JSON"},
            {"[1]", VTC_ERROR_INVALID_DATA, NULL},
            {"{\"seq\":0,\"type\":\"HOSTD_BOOT\",\"ts\":1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "unknown type 'HOSTD_BOOT'"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1}", VTC_ERROR_INVALID_DATA, "host"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"host\":\"h\"}", VTC_ERROR_INVALID_DATA, "ts"},
            {"{\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"}", VTC_ERROR_INVALID_DATA, "seq"},
            {"{\"seq\":0,\"ts\":1,\"host\":\"h\"}", VTC_ERROR_INVALID_DATA, "type"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\",\"x\":1}",
             VTC_ERROR_INVALID_DATA,
             "unexpected member 'x'"},
            {"{\"seq\":0, \"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"} ",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"}\r",
             VTC_ERROR_INVALID_DATA,
             NULL},
            {"{\"type\":\"HOSTD_START\",\"seq\":0,\"ts\":1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\",\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             NULL},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\\u0041\"}",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"a\\/b\"}",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":\"0\",\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "seq"},
            {"{\"seq\":0.0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "seq"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":-1,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "ts"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1.5,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "ts"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":253402300800,\"host\":\"h\"}",
             VTC_ERROR_INVALID_DATA,
             "ts"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"\"}",
             VTC_ERROR_INVALID_DATA,
             "host is empty"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":7}",
             VTC_ERROR_INVALID_DATA,
             "host"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"a\\tb\"}",
             VTC_ERROR_INVALID_DATA,
             "control character 0x09"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"a\\u0000b\"}",
             VTC_ERROR_INVALID_DATA,
             NULL},
            {"{\"seq\":0,\"type\":\"VTPM_START\",\"ts\":1,\"uuid\":\"6F1C0B52-3A4E-4C1D-9E8F-"
             "0123456789AB\",\"name\":\"g\",\"ek_sha256\":\"" EK64 "\"}",
             VTC_ERROR_INVALID_DATA,
             "not a lowercase 8-4-4-4-12 UUID"},
            {"{\"seq\":0,\"type\":\"VTPM_START\",\"ts\":1,\"uuid\":\"6f1c0b523a4e4c1d9e8f0123456789ab"
             "\",\"name\":\"g\",\"ek_sha256\":\"" EK64 "\"}",
             VTC_ERROR_INVALID_DATA,
             "UUID"},
            {"{\"seq\":0,\"type\":\"VTPM_START\",\"ts\":1,\"uuid\":\"" UUID_A
             "\",\"name\":\"g\",\"ek_sha256\":\"ABABABABABABABABABABABABABABABABABABABABABABABABAB"
             "ABABABABABABAB\"}",
             VTC_ERROR_INVALID_DATA,
             "ek_sha256"},
            {"{\"seq\":0,\"type\":\"VTPM_START\",\"ts\":1,\"uuid\":\"" UUID_A
             "\",\"name\":\"g\",\"ek_sha256\":\"abab\"}",
             VTC_ERROR_INVALID_DATA,
             "ek_sha256"},
            {"{\"seq\":0,\"type\":\"VTPM_START\",\"ts\":1,\"uuid\":\"" UUID_A "\",\"name\":\"g\"}",
             VTC_ERROR_INVALID_DATA,
             "ek_sha256"},
            {"{\"seq\":0,\"type\":\"VTPM_STOP\",\"ts\":1,\"uuid\":\"" UUID_A
             "\",\"name\":\"g\",\"ek_sha256\":\"" EK64 "\"}",
             VTC_ERROR_INVALID_DATA,
             "unexpected member 'ek_sha256'"},
            {"{\"seq\":0,\"type\":\"VTPM_STOP\",\"ts\":1,\"uuid\":\"" UUID_A "\"}",
             VTC_ERROR_INVALID_DATA,
             "name"},
            {"{\"seq\":0,\"type\":\"VTPM_STOP\",\"ts\":1,\"name\":\"g\",\"uuid\":\"" UUID_A "\"}",
             VTC_ERROR_INVALID_DATA,
             "canonical"},
            {"{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":{\"a\":1}}",
             VTC_ERROR_INVALID_DATA,
             "host"},
            {"", VTC_ERROR_INVALID_DATA, "empty line"},
        };
        g_autoptr(GError) error = NULL;

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree gchar *text = g_strdup_printf("%s\n", cases[i].line);
                gsize len = strlen(cases[i].line) + 1;
                g_autoptr(VtcVtpmLog) log = NULL;
                guint8 pcr[32];
                guint64 count = 0;

                g_test_message("case %u: %s", i, cases[i].line);
                write_file(f->path, text, (gssize)len);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_error(error, VTC_ERROR, cases[i].code);
                g_assert_null(log);
                g_assert_nonnull(strstr(error->message, f->path));
                g_assert_nonnull(strstr(error->message, "line 1 (seq 0): "));
                if (cases[i].message != NULL && strstr(error->message, cases[i].message) == NULL)
                        g_error("case %u: '%s' does not say '%s'",
                                i,
                                error->message,
                                cases[i].message);
                g_clear_error(&error);
                /* the verifier's parser says the same */
                g_assert_false(
                    vtc_vtpm_log_replay_data((const guint8 *)text, len, pcr, &count, &error));
                g_assert_error(error, VTC_ERROR, cases[i].code);
                g_assert_nonnull(strstr(error->message, "line 1 (seq 0): "));
                g_clear_error(&error);
                /* the file is left as it was */
                {
                        g_autofree gchar *now = NULL;
                        gsize now_len = 0;
                        g_assert_true(g_file_get_contents(f->path, &now, &now_len, NULL));
                        g_assert_cmpmem(now, now_len, text, len);
                }
        }

        /* a NUL byte, and a line over the bound */
        {
                const gchar nul[] =
                    "{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"a\0b\"}\n";
                g_autoptr(GString) big =
                    g_string_new("{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,"
                                 "\"host\":\"");
                g_autoptr(VtcVtpmLog) log = NULL;
                guint8 pcr[32];

                g_assert_false(vtc_vtpm_log_replay_data((const guint8 *)nul,
                                                        sizeof(nul) - 1,
                                                        pcr,
                                                        NULL,
                                                        &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "NUL"));
                g_clear_error(&error);
                while (big->len < VTC_VTPM_LOG_MAX_LINE + 10)
                        g_string_append_c(big, 'x');
                g_string_append(big, "\"}\n");
                write_file(f->path, big->str, (gssize)big->len);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
                g_assert_nonnull(strstr(error->message, "line 1 (seq 0)"));
                g_clear_error(&error);
                g_assert_false(vtc_vtpm_log_replay_data((const guint8 *)big->str,
                                                        big->len,
                                                        pcr,
                                                        NULL,
                                                        &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_TOO_LARGE);
                g_clear_error(&error);
                /* a host of 256 bytes fits a line but not the rule */
                g_string_assign(big, "{\"seq\":0,\"type\":\"HOSTD_START\",\"ts\":1,\"host\":\"");
                for (guint i = 0; i < 256; i++)
                        g_string_append_c(big, 'h');
                g_string_append(big, "\"}\n");
                g_assert_false(vtc_vtpm_log_replay_data((const guint8 *)big->str,
                                                        big->len,
                                                        pcr,
                                                        NULL,
                                                        &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "host is 256 bytes"));
                g_clear_error(&error);
        }

        /* escapes and UTF-8 as vtc writes them are read back */
        {
                g_autoptr(VtcVtpmLog) log = NULL;
                g_assert_cmpint(g_unlink(f->path), ==, 0);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_no_error(error);
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_stop(log,
                                                                             1,
                                                                             UUID_A,
                                                                             "q\"uo\\te ünï",
                                                                             NULL,
                                                                             NULL,
                                                                             &error);
                g_assert_no_error(error);
                g_assert_cmpstr(e->line,
                                ==,
                                "{\"seq\":0,\"type\":\"VTPM_STOP\",\"ts\":1,\"uuid\":\"" UUID_A
                                "\",\"name\":\"q\\\"uo\\\\te ünï\"}");
                g_clear_pointer(&log, vtc_vtpm_log_free);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_no_error(error);
                g_autoptr(VtcVtpmLogEntry) back = vtc_vtpm_log_get_entry(log, 0);
                g_assert_cmpstr(back->name, ==, "q\"uo\\te ünï");
                g_assert_cmpmem(back->digest, 32, e->digest, 32);
        }
}

/* What an append refuses writes nothing. */
static void
vtpm_log_append_invalid_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autofree gchar *long_name = g_strnfill(VTC_VTPM_LOG_MAX_NAME + 1, 'n');
        g_autofree gchar *text = NULL;
        guint8 ek[32];
        struct {
                const gchar *uuid;
                const gchar *name;
                gint64 ts;
        } cases[] = {
            {"6F1C0B52-3A4E-4C1D-9E8F-0123456789AB", "g", 1},
            {"not-a-uuid", "g", 1},
            {UUID_A, "", 1},
            {UUID_A, NULL, 1},
            {UUID_A, "a\nb", 1},
            {UUID_A, "\xff\xfe", 1},
            {UUID_A, long_name, 1},
            {UUID_A, "g", -5},
            {UUID_A, "g", VTC_VTPM_LOG_MAX_TS + 1},
        };

        g_assert_no_error(error);
        ek_digest(ek, 3);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VtcVtpmLogEntry) e = vtc_vtpm_log_append_vtpm_start(log,
                                                                              cases[i].ts,
                                                                              cases[i].uuid,
                                                                              cases[i].name,
                                                                              ek,
                                                                              NULL,
                                                                              NULL,
                                                                              &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_vtpm_start(log, 1, UUID_A, "g", NULL, NULL, NULL, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 1, "host\x01", NULL, NULL, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_null(e);
                g_clear_error(&error);
        }
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 0);
        text = read_file(f->path);
        g_assert_cmpstr(text, ==, "");
}

/* An empty log goes with a zero PCR, and only with it. */
static void
vtpm_log_empty_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = NULL;
        g_autoptr(GBytes) repair = NULL;
        guint8 pcr[32];
        guint8 d[32];
        guint64 count = 7;

        write_file(f->path, "", 0);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        assert_pcr_ok(f, log);
        g_assert_true(vtc_vtpm_log_replay_data((const guint8 *)"", 0, d, &count, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(count, ==, 0);
        read_pcr23(f, pcr);
        g_assert_cmpmem(pcr, 32, d, 32);

        memset(d, 0x77, sizeof(d));
        g_assert_true(vtc_tpm_pcr_extend(f->tpm, 23, TPM2_ALG_SHA256, d, 32, &error));
        read_pcr23(f, pcr);
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "disagree: the log"));
        g_assert_nonnull(strstr(error->message, "is empty"));
        g_assert_null(repair);
}

/* Increments since a verifier's offset replay onto the value it holds. */
static void
vtpm_log_offsets_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autofree gchar *text = NULL;
        guint8 full[32];
        guint8 ek[32];
        guint64 n = 0;

        g_assert_no_error(error);
        append_three(log, NULL);
        for (guint i = 0; i < 7; i++) {
                g_autofree gchar *uuid = g_strdup_printf("%08x-0000-4000-8000-000000000000", i);
                g_autoptr(VtcVtpmLogEntry) e = NULL;
                ek_digest(ek, (guint8)i);
                e = vtc_vtpm_log_append_vtpm_start(log,
                                                   100 + i,
                                                   uuid,
                                                   "vm",
                                                   ek,
                                                   NULL,
                                                   NULL,
                                                   &error);
                g_assert_no_error(error);
        }
        vtc_vtpm_log_get_replay(log, full, &n);
        g_assert_cmpuint(n, ==, 10);
        text = read_file(f->path);

        for (guint64 from = 0; from <= n; from++) {
                g_autoptr(GBytes) head = vtc_vtpm_log_get_data(log, 0, from, &error);
                g_autoptr(GBytes) tail = vtc_vtpm_log_get_data(log, from, G_MAXUINT64, &error);
                g_autoptr(GPtrArray) entries = NULL;
                g_autoptr(GPtrArray) got = NULL;
                guint8 mid[32];
                guint8 end[32];
                guint64 c1 = 0;
                guint64 c2 = 0;
                gsize head_len = 0;
                gsize tail_len = 0;
                const gchar *h;
                const gchar *t;

                g_assert_no_error(error);
                h = g_bytes_get_data(head, &head_len);
                t = g_bytes_get_data(tail, &tail_len);
                /* the stored bytes, split at a line */
                g_assert_cmpuint(head_len + tail_len, ==, strlen(text));
                if (head_len > 0)
                        g_assert_cmpmem(h, head_len, text, head_len);
                if (tail_len > 0)
                        g_assert_cmpmem(t, tail_len, text + head_len, tail_len);
                g_assert_true(
                    vtc_vtpm_log_replay_data((const guint8 *)h, head_len, mid, &c1, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(c1, ==, from);
                g_assert_true(vtc_vtpm_log_replay_data_from((const guint8 *)t,
                                                            tail_len,
                                                            from,
                                                            mid,
                                                            end,
                                                            &c2,
                                                            &entries,
                                                            &error));
                g_assert_no_error(error);
                g_assert_cmpuint(c2, ==, n - from);
                g_assert_cmpmem(end, 32, full, 32);
                g_assert_cmpuint(entries->len, ==, n - from);
                got = vtc_vtpm_log_get_entries(log, from, G_MAXUINT64, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(got->len, ==, n - from);
                for (guint i = 0; i < got->len; i++) {
                        const VtcVtpmLogEntry *a = g_ptr_array_index(entries, i);
                        const VtcVtpmLogEntry *b = g_ptr_array_index(got, i);
                        g_assert_cmpuint(a->seq, ==, from + i);
                        g_assert_cmpuint(b->seq, ==, from + i);
                        g_assert_cmpstr(a->line, ==, b->line);
                }
                /* the tail offered with the wrong offset is refused */
                if (tail_len > 0) {
                        g_assert_false(vtc_vtpm_log_replay_data_from((const guint8 *)t,
                                                                     tail_len,
                                                                     from + 1,
                                                                     mid,
                                                                     end,
                                                                     &c2,
                                                                     NULL,
                                                                     &error));
                        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                        g_clear_error(&error);
                }
        }
        {
                g_autoptr(GBytes) bad = vtc_vtpm_log_get_data(log, 11, G_MAXUINT64, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_assert_null(bad);
                g_clear_error(&error);
                bad = vtc_vtpm_log_get_data(log, 5, 4, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_clear_error(&error);
                bad = vtc_vtpm_log_get_data(log, 0, 11, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
                g_clear_error(&error);
        }
        {
                g_autoptr(GBytes) mid = vtc_vtpm_log_get_data(log, 3, 5, &error);
                g_autoptr(VtcVtpmLogEntry) e3 = vtc_vtpm_log_get_entry(log, 3);
                g_autoptr(VtcVtpmLogEntry) e4 = vtc_vtpm_log_get_entry(log, 4);
                g_autofree gchar *want = g_strdup_printf("%s\n%s\n", e3->line, e4->line);
                g_assert_no_error(error);
                g_assert_cmpmem(g_bytes_get_data(mid, NULL),
                                g_bytes_get_size(mid),
                                want,
                                strlen(want));
        }
}

static guint
count_uuids(GPtrArray *entries, const gchar *uuid)
{
        guint n = 0;

        for (guint i = 0; i < entries->len; i++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(entries, i);
                g_assert_cmpint(e->type, ==, VTC_VTPM_LOG_VTPM_START);
                if (g_strcmp0(e->uuid, uuid) == 0)
                        n++;
        }
        return n;
}

static guint64
start_vm(VtcVtpmLog *log, gint64 ts, const gchar *uuid, const gchar *name, const guint8 *ek)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLogEntry) e =
            vtc_vtpm_log_append_vtpm_start(log, ts, uuid, name, ek, NULL, NULL, &error);

        g_assert_no_error(error);
        return e->seq;
}

static guint64
stop_vm(VtcVtpmLog *log, gint64 ts, const gchar *uuid, const gchar *name)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLogEntry) e =
            vtc_vtpm_log_append_vtpm_stop(log, ts, uuid, name, NULL, NULL, &error);

        g_assert_no_error(error);
        return e->seq;
}

/* Which VMs run, with which EK: the input of clone detection. Survives a reopen. */
static void
vtpm_log_clones_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        guint8 ek1[32];
        guint8 ek2[32];
        guint8 ek3[32];

        g_assert_no_error(error);
        ek_digest(ek1, 1);
        ek_digest(ek2, 2);
        ek_digest(ek3, 3);
        {
                g_assert_cmpuint(start_vm(log, 1, UUID_A, "a", ek1), ==, 0);
                g_assert_cmpuint(start_vm(log, 2, UUID_B, "b", ek1), ==, 1);
                g_assert_cmpuint(start_vm(log, 3, UUID_C, "c", ek2), ==, 2);
        }
        for (guint round = 0; round < 2; round++) {
                g_autoptr(GPtrArray) same = vtc_vtpm_log_find_running_by_ek(log, ek1);
                g_autoptr(GPtrArray) running = vtc_vtpm_log_get_running(log);
                g_autoptr(GPtrArray) none = vtc_vtpm_log_find_running_by_ek(log, ek3);
                g_assert_cmpuint(same->len, ==, 2);
                g_assert_cmpuint(count_uuids(same, UUID_A), ==, 1);
                g_assert_cmpuint(count_uuids(same, UUID_B), ==, 1);
                g_assert_cmpuint(((VtcVtpmLogEntry *)same->pdata[0])->seq,
                                 <,
                                 ((VtcVtpmLogEntry *)same->pdata[1])->seq);
                g_assert_cmpuint(running->len, ==, 3);
                g_assert_cmpuint(none->len, ==, 0);
                g_assert_true(vtc_vtpm_log_vm_is_running(log, UUID_A, ek1));
                g_assert_true(vtc_vtpm_log_vm_is_running(log, UUID_A, NULL));
                g_assert_false(vtc_vtpm_log_vm_is_running(log, UUID_A, ek2));
                /* any case */
                g_assert_true(
                    vtc_vtpm_log_vm_is_running(log, "6F1C0B52-3A4E-4C1D-9E8F-0123456789AB", ek1));
                g_assert_false(
                    vtc_vtpm_log_vm_is_running(log, "00000000-0000-4000-8000-000000000000", NULL));
                g_clear_pointer(&log, vtc_vtpm_log_free);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_no_error(error);
        }
        /* A stops; C restarts with a new EK; C's old EK no longer counts */
        {
                guint8 pcr[32];
                vtc_vtpm_log_get_replay(log, pcr, NULL);
                g_assert_true(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, NULL, &error));
        }
        {
                g_assert_cmpuint(stop_vm(log, 4, UUID_A, "a"), ==, 3);
                g_assert_cmpuint(stop_vm(log, 5, UUID_C, "c"), ==, 4);
                g_assert_cmpuint(start_vm(log, 6, UUID_C, "c", ek3), ==, 5);
        }
        {
                g_autoptr(GPtrArray) same = vtc_vtpm_log_find_running_by_ek(log, ek1);
                g_autoptr(GPtrArray) old = vtc_vtpm_log_find_running_by_ek(log, ek2);
                g_autoptr(GPtrArray) now = vtc_vtpm_log_find_running_by_ek(log, ek3);
                g_autoptr(GPtrArray) running = vtc_vtpm_log_get_running(log);
                g_autoptr(VtcVtpmLogEntry) last_a = vtc_vtpm_log_lookup_vm(log, UUID_A);
                g_autoptr(VtcVtpmLogEntry) nobody =
                    vtc_vtpm_log_lookup_vm(log, "00000000-0000-4000-8000-000000000000");
                g_assert_cmpuint(same->len, ==, 1);
                g_assert_cmpuint(count_uuids(same, UUID_B), ==, 1);
                g_assert_cmpuint(old->len, ==, 0);
                g_assert_cmpuint(now->len, ==, 1);
                g_assert_cmpuint(((VtcVtpmLogEntry *)now->pdata[0])->seq, ==, 5);
                g_assert_cmpuint(running->len, ==, 2);
                g_assert_false(vtc_vtpm_log_vm_is_running(log, UUID_A, NULL));
                g_assert_nonnull(last_a);
                g_assert_cmpint(last_a->type, ==, VTC_VTPM_LOG_VTPM_STOP);
                g_assert_null(nobody);
        }
}

/*
 * swtpm keeps PCRs only while it runs: a restart is a host reboot. The PCR is zero, the log is
 * the last boot's: refused, then rotated to log.1 and started afresh.
 */
static void
vtpm_log_reboot_rotate_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        g_autoptr(GBytes) repair = NULL;
        g_autofree gchar *rotated = NULL;
        g_autofree gchar *rotated_text = NULL;
        g_autofree gchar *text = NULL;
        guint8 pcr[32];
        static const guint8 zero[32] = {0};

        g_assert_no_error(error);
        append_three(log, f->tpm);
        assert_pcr_ok(f, log);

        fixture_stop_tpm(f);
        fixture_start_tpm(f);
        read_pcr23(f, pcr);
        g_assert_cmpmem(pcr, 32, zero, 32);

        g_clear_pointer(&log, vtc_vtpm_log_free);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_false(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "PCR is all zero"));
        g_assert_nonnull(strstr(error->message, "holds 3 entries"));
        g_clear_error(&error);

        rotated = vtc_vtpm_log_rotate(log, &error);
        g_assert_no_error(error);
        g_assert_true(g_str_has_suffix(rotated, "vtpm.log.1"));
        rotated_text = read_file(rotated);
        g_assert_cmpstr(rotated_text, ==, three_lines);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 0);
        text = read_file(f->path);
        g_assert_cmpstr(text, ==, "");
        assert_pcr_ok(f, log);
        /* hostd dies between the new log's first append and its extend: repaired on restart */
        {
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(log, 1795100000, "host-17", NULL, NULL, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, 0);
                g_clear_pointer(&log, vtc_vtpm_log_free);
                log = vtc_vtpm_log_open(f->path, &error);
                g_assert_no_error(error);
                read_pcr23(f, pcr);
                g_assert_true(vtc_vtpm_log_check_pcr(log, 23, pcr, 32, &repair, &error));
                g_assert_no_error(error);
                g_assert_nonnull(repair);
                g_assert_cmpmem(g_bytes_get_data(repair, NULL), 32, e->digest, 32);
                g_assert_true(
                    vtc_tpm_pcr_extend(f->tpm, 23, TPM2_ALG_SHA256, e->digest, 32, &error));
                g_assert_no_error(error);
        }
        assert_pcr_ok(f, log);
        /* the new file is the one held: a second opener is still refused */
        {
                g_autoptr(VtcVtpmLog) other = vtc_vtpm_log_open(f->path, &error);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_assert_null(other);
                g_clear_error(&error);
        }
        g_clear_pointer(&log, vtc_vtpm_log_free);
        log = vtc_vtpm_log_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, 1);
        assert_pcr_ok(f, log);

        /* the next rotation takes the next free number and never replaces a file */
        g_clear_pointer(&rotated, g_free);
        rotated = vtc_vtpm_log_rotate(log, &error);
        g_assert_no_error(error);
        g_assert_true(g_str_has_suffix(rotated, "vtpm.log.2"));
        g_clear_pointer(&rotated_text, g_free);
        {
                g_autofree gchar *p1 = g_strconcat(f->path, ".1", NULL);
                rotated_text = read_file(p1);
                g_assert_cmpstr(rotated_text, ==, three_lines);
        }
}

typedef struct {
        VtcVtpmLog *log;
        guint n;
} AppendJob;

static gpointer
append_thread(gpointer data)
{
        AppendJob *job = data;

        for (guint i = 0; i < job->n; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(VtcVtpmLogEntry) e =
                    vtc_vtpm_log_append_hostd_start(job->log, i, "h", NULL, NULL, &error);
                g_assert_no_error(error);
                g_assert_cmpuint(e->seq, ==, i);
        }
        return NULL;
}

/* Readers on another thread always see a prefix whose bytes replay to the value beside it. */
static void
vtpm_log_threads_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->path, &error);
        AppendJob job = {NULL, 300};
        GThread *thread;
        guint64 seen = 0;

        g_assert_no_error(error);
        job.log = log;
        thread = g_thread_new("append", append_thread, &job);
        while (seen < job.n) {
                guint8 pcr[32];
                guint8 replay[32];
                guint64 count = 0;
                guint64 c = 0;
                g_autoptr(GBytes) data = NULL;

                vtc_vtpm_log_get_replay(log, pcr, &count);
                g_assert_cmpuint(count, >=, seen);
                seen = count;
                data = vtc_vtpm_log_get_data(log, 0, count, &error);
                g_assert_no_error(error);
                g_assert_true(vtc_vtpm_log_replay_data(g_bytes_get_data(data, NULL),
                                                       g_bytes_get_size(data),
                                                       replay,
                                                       &c,
                                                       &error));
                g_assert_no_error(error);
                g_assert_cmpuint(c, ==, count);
                g_assert_cmpmem(pcr, 32, replay, 32);
        }
        g_thread_join(thread);
        g_assert_cmpuint(vtc_vtpm_log_get_count(log), ==, job.n);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
#define ADD(name, setup, fn) \
        g_test_add("/hostd/vtpm-log/" name, Fixture, NULL, setup, fn, fixture_teardown)
        ADD("append-extend-reopen", fixture_setup_tpm, vtpm_log_append_reopen_test);
        ADD("repair-one", fixture_setup_tpm, vtpm_log_repair_one_test);
        ADD("two-missing", fixture_setup_tpm, vtpm_log_two_missing_test);
        ADD("extend-failure", fixture_setup, vtpm_log_extend_failure_test);
        ADD("tampered", fixture_setup_tpm, vtpm_log_tampered_test);
        ADD("torn", fixture_setup, vtpm_log_torn_test);
        ADD("order", fixture_setup, vtpm_log_order_test);
        ADD("bad-lines", fixture_setup, vtpm_log_bad_lines_test);
        ADD("append-invalid", fixture_setup, vtpm_log_append_invalid_test);
        ADD("empty", fixture_setup_tpm, vtpm_log_empty_test);
        ADD("offsets", fixture_setup, vtpm_log_offsets_test);
        ADD("clones", fixture_setup, vtpm_log_clones_test);
        ADD("reboot-rotate", fixture_setup_tpm, vtpm_log_reboot_rotate_test);
        ADD("threads", fixture_setup, vtpm_log_threads_test);
#undef ADD
        return g_test_run();
}
