/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "vtc-ima.h"
#include "vtc-test-common.h"

#define RK_SHA1   "82231c67a69da98dc5b3aa10f6343d33109225fc"
#define RK_SHA256 "c4a065637fc6a7c55f2811dd06cb45dd037133be2b3dc5c3e6fbe6bf061db724"
#define RK_COUNT  826

static GBytes *
read_testdata(const gchar *relpath)
{
        g_autofree gchar *path = vtc_test_data_path(relpath);
        g_autoptr(GError) error = NULL;
        GBytes *bytes = vtc_file_read(path, 64 * 1024 * 1024, &error);

        g_assert_no_error(error);
        return bytes;
}

static void
assert_state_hex(const VtcImaReplayState *st, const gchar *sha1, const gchar *sha256)
{
        g_autofree gchar *h1 = vtc_hex_encode(st->sha1, 20);
        g_autofree gchar *h256 = vtc_hex_encode(st->sha256, 32);

        g_assert_cmpstr(h1, ==, sha1);
        g_assert_cmpstr(h256, ==, sha256);
}

static gboolean
replay_all(GBytes *log, VtcImaReplayFlags flags, VtcImaReplayState *st, GError **error)
{
        vtc_ima_replay_state_init(st);
        return vtc_ima_replay(g_bytes_get_data(log, NULL),
                              g_bytes_get_size(log),
                              VTC_IMA_FORMAT_AUTO,
                              flags,
                              st,
                              NULL,
                              NULL,
                              NULL,
                              error);
}

static void
test_ima_rust_keylime(void)
{
        const gchar *files[] = {"ima/rust-keylime-ascii_runtime_measurements",
                                "ima/rust-keylime-binary_runtime_measurements"};

        for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autoptr(GBytes) log = read_testdata(files[i]);
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                g_assert_true(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(st.count, ==, RK_COUNT);
                g_assert_cmpuint(st.violations, ==, 0);
                assert_state_hex(&st, RK_SHA1, RK_SHA256);
        }
}

/* The ascii and the binary log are the same log: every entry must parse to the same thing. */
static void
test_ima_ascii_binary_agree(void)
{
        g_autoptr(GBytes) ascii = read_testdata("ima/rust-keylime-ascii_runtime_measurements");
        g_autoptr(GBytes) binary = read_testdata("ima/rust-keylime-binary_runtime_measurements");
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) a = vtc_ima_log_parse(g_bytes_get_data(ascii, NULL),
                                                   g_bytes_get_size(ascii),
                                                   VTC_IMA_FORMAT_ASCII,
                                                   &error);
        g_autoptr(GPtrArray) b = NULL;

        g_assert_no_error(error);
        b = vtc_ima_log_parse(g_bytes_get_data(binary, NULL),
                              g_bytes_get_size(binary),
                              VTC_IMA_FORMAT_BINARY,
                              &error);
        g_assert_no_error(error);
        g_assert_cmpuint(a->len, ==, RK_COUNT);
        g_assert_cmpuint(b->len, ==, RK_COUNT);
        for (guint i = 0; i < a->len; i++) {
                const VtcImaEntry *x = g_ptr_array_index(a, i);
                const VtcImaEntry *y = g_ptr_array_index(b, i);
                g_assert_cmpuint(x->pcr, ==, 10);
                g_assert_cmpuint(x->pcr, ==, y->pcr);
                g_assert_cmpint(x->template_kind, ==, VTC_IMA_TEMPLATE_IMA_NG);
                g_assert_cmpint(y->template_kind, ==, VTC_IMA_TEMPLATE_IMA_NG);
                g_assert_cmpstr(x->template_name, ==, "ima-ng");
                g_assert_cmpstr(x->path, ==, y->path);
                g_assert_cmpmem(x->template_hash, 20, y->template_hash, 20);
                g_assert_cmpmem(x->template_data,
                                x->template_data_len,
                                y->template_data,
                                y->template_data_len);
                g_assert_cmpmem(x->file_hash, x->file_hash_len, y->file_hash, y->file_hash_len);
                g_assert_true(x->file_hash_alg == y->file_hash_alg);
                g_assert_nonnull(x->file_hash_alg);
        }
        /* the first is the (zero) boot_aggregate, in sha1 */
        {
                const VtcImaEntry *e = g_ptr_array_index(b, 0);
                g_assert_true(vtc_ima_entry_is_boot_aggregate(e));
                g_assert_cmpstr(e->file_hash_alg->name, ==, "sha1");
                g_assert_cmpuint(e->file_hash_len, ==, 20);
                e = g_ptr_array_index(b, 1);
                g_assert_cmpstr(e->path, ==, "/init");
                g_assert_false(vtc_ima_entry_is_boot_aggregate(e));
        }
}

/* Replays @log in rounds that end at the entries in @splits, carrying only the state. */
static void
replay_in_rounds(GBytes *log, const guint64 *splits, guint n_splits, VtcImaReplayState *st)
{
        const guint8 *data = g_bytes_get_data(log, NULL);
        gsize len = g_bytes_get_size(log);
        gsize start = 0;

        vtc_ima_replay_state_init(st);
        for (guint i = 0; i <= n_splits; i++) {
                g_autoptr(GError) error = NULL;
                gsize end = len;
                gsize consumed = 0;
                if (i < n_splits) {
                        g_assert_true(vtc_ima_log_skip(data,
                                                       len,
                                                       VTC_IMA_FORMAT_AUTO,
                                                       splits[i],
                                                       &end,
                                                       &error));
                        g_assert_no_error(error);
                }
                /* each round sees only its own entries, as an agent would send them */
                g_assert_true(vtc_ima_replay(data + start,
                                             end - start,
                                             VTC_IMA_FORMAT_AUTO,
                                             VTC_IMA_REPLAY_FLAG_NONE,
                                             st,
                                             NULL,
                                             NULL,
                                             &consumed,
                                             &error));
                g_assert_no_error(error);
                g_assert_cmpuint(consumed, ==, end - start);
                if (i < n_splits)
                        g_assert_cmpuint(st->count, ==, splits[i]);
                start = end;
        }
}

static gint
cmp_u64(gconstpointer a, gconstpointer b)
{
        guint64 x = *(const guint64 *)a;
        guint64 y = *(const guint64 *)b;
        return x < y ? -1 : x > y ? 1 : 0;
}

static void
test_ima_incremental(void)
{
        const gchar *files[] = {"ima/rust-keylime-ascii_runtime_measurements",
                                "ima/rust-keylime-binary_runtime_measurements"};

        for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
                g_autoptr(GBytes) log = read_testdata(files[f]);
                for (guint round = 0; round < 20; round++) {
                        guint64 splits[8];
                        guint n = (guint)g_test_rand_int_range(1, G_N_ELEMENTS(splits) + 1);
                        VtcImaReplayState st;
                        for (guint i = 0; i < n; i++)
                                splits[i] = (guint64)g_test_rand_int_range(0, RK_COUNT + 1);
                        qsort(splits, n, sizeof(splits[0]), cmp_u64);
                        replay_in_rounds(log, splits, n, &st);
                        g_assert_cmpuint(st.count, ==, RK_COUNT);
                        assert_state_hex(&st, RK_SHA1, RK_SHA256);
                }
                {
                        /* one entry per round */
                        guint64 *splits = g_new(guint64, RK_COUNT);
                        VtcImaReplayState st;
                        for (guint i = 0; i < RK_COUNT; i++)
                                splits[i] = i;
                        replay_in_rounds(log, splits, RK_COUNT, &st);
                        assert_state_hex(&st, RK_SHA1, RK_SHA256);
                        g_free(splits);
                }
        }
}

/* Streaming: fixed-size reads, the cut-short tail carried over to the next read. */
static void
test_ima_streaming_chunks(void)
{
        const gchar *files[] = {"ima/rust-keylime-ascii_runtime_measurements",
                                "ima/rust-keylime-binary_runtime_measurements"};
        const gsize chunk_sizes[] = {1, 97, 1000, 4096};

        for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
                g_autoptr(GBytes) log = read_testdata(files[f]);
                const guint8 *data = g_bytes_get_data(log, NULL);
                gsize len = g_bytes_get_size(log);
                VtcImaFormat format = vtc_ima_format_detect(data, len);
                for (guint c = 0; c < G_N_ELEMENTS(chunk_sizes); c++) {
                        g_autoptr(GByteArray) buf = g_byte_array_new();
                        VtcImaReplayState st;
                        gsize off = 0;
                        vtc_ima_replay_state_init(&st);
                        while (off < len) {
                                g_autoptr(GError) error = NULL;
                                gsize n = MIN(chunk_sizes[c], len - off);
                                gsize consumed = 0;
                                g_byte_array_append(buf, data + off, (guint)n);
                                off += n;
                                g_assert_true(vtc_ima_replay(buf->data,
                                                             buf->len,
                                                             format,
                                                             VTC_IMA_REPLAY_FLAG_PARTIAL,
                                                             &st,
                                                             NULL,
                                                             NULL,
                                                             &consumed,
                                                             &error));
                                g_assert_no_error(error);
                                g_assert_cmpuint(consumed, <=, buf->len);
                                g_byte_array_remove_range(buf, 0, (guint)consumed);
                                /* memory stays bounded by one entry */
                                g_assert_cmpuint(buf->len, <, 4096 + chunk_sizes[c]);
                        }
                        g_assert_cmpuint(buf->len, ==, 0);
                        g_assert_cmpuint(st.count, ==, RK_COUNT);
                        assert_state_hex(&st, RK_SHA1, RK_SHA256);
                }
        }
}

static guint64
count_entry_boundaries(const guint8 *data, gsize len, gsize cut)
{
        guint64 n = 0;
        gsize off = 0;

        for (;;) {
                gsize next = 0;
                g_autoptr(GError) error = NULL;
                if (!vtc_ima_log_skip(data, len, VTC_IMA_FORMAT_BINARY, n + 1, &next, &error))
                        return n;
                if (next > cut)
                        return n;
                n++;
                off = next;
                if (off == len)
                        return n;
        }
}

/* Every prefix of a binary log: an error or the complete entries, never a crash. */
static void
test_ima_truncation(void)
{
        const gchar *files[] = {"ima/tpm2-tss/sml-ima-sig-sha256.bin",
                                "ima/tpm2-tss/sml-ima-sha1.bin",
                                "ima/rust-keylime-binary_runtime_measurements"};

        for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
                g_autoptr(GBytes) log = read_testdata(files[f]);
                const guint8 *data = g_bytes_get_data(log, NULL);
                gsize len = MIN(g_bytes_get_size(log), 6000);
                for (gsize cut = 0; cut <= len; cut++) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GError) error2 = NULL;
                        VtcImaReplayState st;
                        VtcImaReplayState st2;
                        gsize consumed = 0;
                        guint64 complete = count_entry_boundaries(data, len, cut);
                        gboolean ok;

                        vtc_ima_replay_state_init(&st);
                        ok = vtc_ima_replay(data,
                                            cut,
                                            VTC_IMA_FORMAT_BINARY,
                                            VTC_IMA_REPLAY_FLAG_NONE,
                                            &st,
                                            NULL,
                                            NULL,
                                            NULL,
                                            &error);
                        if (ok) {
                                g_assert_no_error(error);
                                g_assert_cmpuint(st.count, ==, complete);
                        } else {
                                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                                g_assert_nonnull(strstr(error->message, "truncated"));
                                g_assert_nonnull(strstr(error->message, "IMA log entry"));
                                /* untouched on failure */
                                g_assert_cmpuint(st.count, ==, 0);
                        }
                        vtc_ima_replay_state_init(&st2);
                        g_assert_true(vtc_ima_replay(data,
                                                     cut,
                                                     VTC_IMA_FORMAT_BINARY,
                                                     VTC_IMA_REPLAY_FLAG_PARTIAL,
                                                     &st2,
                                                     NULL,
                                                     NULL,
                                                     &consumed,
                                                     &error2));
                        g_assert_no_error(error2);
                        g_assert_cmpuint(st2.count, ==, complete);
                        g_assert_cmpuint(consumed, <=, cut);
                }
        }
}

static void
test_ima_tpm2_tss(void)
{
        const struct {
                const gchar *file;
                guint64 entries;
                gsize tail;
                VtcImaTemplate kind;
        } cases[] = {
            {"ima/tpm2-tss/sml-ima-ng-sha1.bin", 6, 1, VTC_IMA_TEMPLATE_IMA_NG},
            {"ima/tpm2-tss/sml-ima-sha1.bin", 12, 1, VTC_IMA_TEMPLATE_IMA},
            {"ima/tpm2-tss/sml-ima-sig-sha256.bin", 9, 6, VTC_IMA_TEMPLATE_IMA_SIG},
        };

        /* these are cut from longer logs: complete entries, then a few bytes of the next one */
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) log = read_testdata(cases[i].file);
                g_autoptr(GError) error = NULL;
                g_autoptr(GPtrArray) entries = NULL;
                VtcImaReplayState st;
                gsize consumed = 0;
                gsize len = g_bytes_get_size(log);

                g_assert_false(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_clear_error(&error);
                vtc_ima_replay_state_init(&st);
                g_assert_true(vtc_ima_replay(g_bytes_get_data(log, NULL),
                                             len,
                                             VTC_IMA_FORMAT_AUTO,
                                             VTC_IMA_REPLAY_FLAG_PARTIAL,
                                             &st,
                                             NULL,
                                             NULL,
                                             &consumed,
                                             &error));
                g_assert_no_error(error);
                g_assert_cmpuint(st.count, ==, cases[i].entries);
                g_assert_cmpuint(len - consumed, ==, cases[i].tail);
                g_assert_cmpuint(st.violations, ==, 0);
                /* template hashes of the complete entries verify (vtc_ima_log_parse checks them) */
                entries = vtc_ima_log_parse(g_bytes_get_data(log, NULL),
                                            consumed,
                                            VTC_IMA_FORMAT_BINARY,
                                            &error);
                g_assert_no_error(error);
                g_assert_cmpuint(entries->len, ==, cases[i].entries);
                for (guint j = 0; j < entries->len; j++) {
                        const VtcImaEntry *e = g_ptr_array_index(entries, j);
                        g_assert_cmpint(e->template_kind, ==, cases[i].kind);
                }
                g_assert_true(vtc_ima_entry_is_boot_aggregate(g_ptr_array_index(entries, 0)));
                if (cases[i].kind == VTC_IMA_TEMPLATE_IMA) {
                        const VtcImaEntry *e = g_ptr_array_index(entries, 1);
                        g_assert_cmpstr(e->path, ==, "/init");
                        g_assert_cmpuint(e->template_data_len, ==, 20 + 256);
                }
        }
}

static void
test_ima_invalidated(void)
{
        /* cut one byte short of its only entry */
        {
                g_autoptr(GBytes) log =
                    read_testdata("ima/tpm2-tss/sml-ima-ng-sha1-invalidated.bin");
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                g_assert_false(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
                g_assert_nonnull(strstr(error->message, "IMA log entry 0"));
                g_assert_nonnull(strstr(error->message, "truncated template data"));
        }
        /* a violation (template hash all zeros): all ones extended, or rejected on request */
        {
                g_autoptr(GBytes) log = read_testdata("ima/tpm2-tss/sml-ima-sha1-invalidated.bin");
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                guint8 buf[64] = {0};
                guint8 sha1[20];
                guint8 sha256[32];
                g_assert_true(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(st.count, ==, 1);
                g_assert_cmpuint(st.violations, ==, 1);
                memset(buf + 20, 0xff, 20);
                g_assert_true(vtc_hash(vtc_hash_alg_from_name("sha1"), buf, 40, sha1, NULL));
                memset(buf, 0, sizeof(buf));
                memset(buf + 32, 0xff, 32);
                g_assert_true(vtc_hash(vtc_hash_alg_from_name("sha256"), buf, 64, sha256, NULL));
                g_assert_cmpmem(st.sha1, 20, sha1, 20);
                g_assert_cmpmem(st.sha256, 32, sha256, 32);
                g_assert_false(replay_all(log, VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS, &st, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_POLICY);
                g_assert_nonnull(strstr(error->message, "boot_aggregate"));
        }
        {
                g_autoptr(GBytes) log =
                    read_testdata("ima/tpm2-tss/sml-ima-sig-sha256-invalidated.bin");
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                g_assert_true(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
                g_assert_cmpuint(st.count, ==, 2);
                g_assert_cmpuint(st.violations, ==, 1);
                g_assert_false(replay_all(log, VTC_IMA_REPLAY_FLAG_REJECT_VIOLATIONS, &st, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_POLICY);
                g_assert_nonnull(strstr(error->message, "IMA log entry 1"));
                g_assert_nonnull(strstr(error->message, "/init"));
        }
}

static GPtrArray *
parse_testdata(const gchar *relpath, GError **error)
{
        g_autoptr(GBytes) log = read_testdata(relpath);

        return vtc_ima_log_parse(g_bytes_get_data(log, NULL),
                                 g_bytes_get_size(log),
                                 VTC_IMA_FORMAT_AUTO,
                                 error);
}

static void
test_ima_keylime(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) sig = parse_testdata("ima/keylime/ima_sig_entries_rsa_ec.txt", &error);
        g_autoptr(GPtrArray) op = NULL;
        g_autoptr(GPtrArray) buf = NULL;
        g_autoptr(GPtrArray) mixed = NULL;
        const VtcImaEntry *e;

        g_assert_no_error(error);
        g_assert_cmpuint(sig->len, ==, 2);
        e = g_ptr_array_index(sig, 0);
        g_assert_cmpint(e->template_kind, ==, VTC_IMA_TEMPLATE_IMA_SIG);
        g_assert_cmpstr(e->path, ==, "/usr/bin/dd");
        g_assert_cmpuint(e->sig_len, ==, 265); /* v2 header (9 bytes) + RSA-2048 */
        g_assert_cmpuint(e->sig[0], ==, 0x03);
        g_assert_cmpstr(e->file_hash_alg->name, ==, "sha256");
        e = g_ptr_array_index(sig, 1);
        g_assert_cmpstr(e->path, ==, "/usr/bin/zmore");
        g_assert_cmpuint(e->sig_len, ==, 81); /* header + ECDSA DER */

        op = parse_testdata("ima/keylime/ima_measurements_openpower.txt", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(op->len, ==, 3);
        for (guint i = 0; i < op->len; i++) {
                e = g_ptr_array_index(op, i);
                g_assert_cmpint(e->template_kind, ==, VTC_IMA_TEMPLATE_IMA_SIG);
                g_assert_null(e->sig);
                g_assert_cmpuint(e->sig_len, ==, 0);
        }
        e = g_ptr_array_index(op, 1);
        g_assert_cmpstr(e->path,
                        ==,
                        "/lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko");

        buf = parse_testdata("ima/keylime/ima_buf_keyring_entry.txt", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(buf->len, ==, 1);
        e = g_ptr_array_index(buf, 0);
        g_assert_cmpint(e->template_kind, ==, VTC_IMA_TEMPLATE_IMA_BUF);
        g_assert_cmpstr(e->path, ==, ".ima");
        g_assert_cmpuint(e->buf_len, ==, 469);
        g_assert_cmpuint(e->buf[0], ==, 0x30);
        g_assert_cmpuint(e->buf[1], ==, 0x82);

        mixed = parse_testdata("ima/keylime/policy-commands-ima_log.txt", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(mixed->len, ==, 5);
        e = g_ptr_array_index(mixed, 0);
        g_assert_cmpint(e->template_kind, ==, VTC_IMA_TEMPLATE_IMA_NG);
        g_assert_true(vtc_ima_entry_is_boot_aggregate(e));
        e = g_ptr_array_index(mixed, 2);
        g_assert_cmpstr(e->path, ==, "dm_table_load");
        g_assert_cmpint(e->template_kind, ==, VTC_IMA_TEMPLATE_IMA_BUF);
        g_assert_cmpuint(e->buf_len, >, 18);
        g_assert_cmpmem(e->buf, 18, "dm_version=4.46.0;", 18);
        e = g_ptr_array_index(mixed, 4);
        g_assert_cmpstr(e->path, ==, ".test");
}

static void
test_ima_bad_sigsize(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries =
            parse_testdata("ima/keylime/ima_sig_bad_sigsize.txt", &error);

        /* the signature header was altered after hashing: the template hash gives it away */
        g_assert_null(entries);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_assert_nonnull(strstr(error->message, "line 1"));
        g_assert_nonnull(strstr(error->message, "/usr/bin/zmore"));
        g_assert_nonnull(strstr(error->message, "template hash"));
}

static void
test_ima_small_logs(void)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) one = parse_testdata("ima/ima_log.txt", &error);
        g_autoptr(GPtrArray) three = NULL;
        g_autoptr(GPtrArray) empty = NULL;
        g_autoptr(GPtrArray) invalid = NULL;
        g_autoptr(GBytes) log = NULL;
        VtcImaReplayState st;

        g_assert_no_error(error);
        g_assert_cmpuint(one->len, ==, 1);
        g_assert_true(vtc_ima_entry_is_boot_aggregate(g_ptr_array_index(one, 0)));
        three = parse_testdata("ima/test_ascii_runtime_measurements", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(three->len, ==, 3);
        g_assert_cmpstr(((VtcImaEntry *)g_ptr_array_index(three, 2))->path, ==, "/bin/sh");

        /* empty: a valid log of zero entries, PCR 10 stays zero */
        empty = parse_testdata("ima/empty_ima_log.txt", &error);
        g_assert_no_error(error);
        g_assert_cmpuint(empty->len, ==, 0);
        log = read_testdata("ima/empty_ima_log.txt");
        g_assert_true(replay_all(log, VTC_IMA_REPLAY_FLAG_NONE, &st, &error));
        g_assert_cmpuint(st.count, ==, 0);
        assert_state_hex(&st,
                         "0000000000000000000000000000000000000000",
                         "0000000000000000000000000000000000000000000000000000000000000000");

        invalid = parse_testdata("ima/invalid_ima_log.txt", &error);
        g_assert_null(invalid);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_DATA);
        g_assert_nonnull(strstr(error->message, "line 1"));
}

/* Builds ima-ng/ima-sig template data by hand and an ascii line for it. */
static gchar *
make_ng_line(const gchar *template_name, const gchar *path, const gchar *sig_hex)
{
        g_autoptr(GByteArray) t = g_byte_array_new();
        guint8 digest[32];
        guint8 th[20];
        guint32 n;
        g_autofree gchar *dhex = NULL;
        g_autofree gchar *thex = NULL;
        g_autoptr(GBytes) sig = NULL;

        memset(digest, 0xab, sizeof(digest));
        n = GUINT32_TO_LE(7 + 1 + 32);
        g_byte_array_append(t, (const guint8 *)&n, 4);
        g_byte_array_append(t, (const guint8 *)"sha256:", 8); /* with its NUL */
        g_byte_array_append(t, digest, 32);
        n = GUINT32_TO_LE((guint32)strlen(path) + 1);
        g_byte_array_append(t, (const guint8 *)&n, 4);
        g_byte_array_append(t, (const guint8 *)path, (guint)strlen(path) + 1);
        if (sig_hex != NULL) {
                sig = vtc_hex_decode(sig_hex, NULL);
                n = GUINT32_TO_LE((guint32)g_bytes_get_size(sig));
                g_byte_array_append(t, (const guint8 *)&n, 4);
                g_byte_array_append(t, g_bytes_get_data(sig, NULL), (guint)g_bytes_get_size(sig));
        }
        g_assert_true(vtc_hash(vtc_hash_alg_from_name("sha1"), t->data, t->len, th, NULL));
        thex = vtc_hex_encode(th, 20);
        dhex = vtc_hex_encode(digest, 32);
        return g_strdup_printf("10 %s %s sha256:%s %s%s%s\n",
                               thex,
                               template_name,
                               dhex,
                               path,
                               sig_hex != NULL ? " " : "",
                               sig_hex != NULL ? sig_hex : "");
}

static void
test_ima_ascii_spaces(void)
{
        g_autofree gchar *l1 = make_ng_line("ima-ng", "/opt/my app/run me", NULL);
        g_autofree gchar *l2 = make_ng_line("ima-sig", "/opt/a b/c d", "0302041122");
        g_autofree gchar *l3 = make_ng_line("ima-sig", "/opt/x y", "");
        g_autofree gchar *log = g_strconcat(l1, l2, l3, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries =
            vtc_ima_log_parse((const guint8 *)log, strlen(log), VTC_IMA_FORMAT_ASCII, &error);
        const VtcImaEntry *e;

        g_assert_no_error(error);
        g_assert_cmpuint(entries->len, ==, 3);
        e = g_ptr_array_index(entries, 0);
        g_assert_cmpstr(e->path, ==, "/opt/my app/run me");
        e = g_ptr_array_index(entries, 1);
        g_assert_cmpstr(e->path, ==, "/opt/a b/c d");
        g_assert_cmpuint(e->sig_len, ==, 5);
        e = g_ptr_array_index(entries, 2);
        g_assert_cmpstr(e->path, ==, "/opt/x y");
        g_assert_null(e->sig);
}

/* An "ima" template entry: digest || name padded to 256 bytes is what is hashed. */
static gchar *
make_ima_line(const guint8 *digest, const gchar *name)
{
        guint8 t[20 + 256] = {0};
        guint8 th[20];
        g_autofree gchar *thex = NULL;
        g_autofree gchar *dhex = vtc_hex_encode(digest, 20);

        memcpy(t, digest, 20);
        memcpy(t + 20, name, strlen(name));
        g_assert_true(vtc_hash(vtc_hash_alg_from_name("sha1"), t, sizeof(t), th, NULL));
        thex = vtc_hex_encode(th, 20);
        return g_strdup_printf("10 %s ima %s %s\n", thex, dhex, name);
}

static void
read_pcr_values(const gchar *hex_lines, guint8 *out, gsize size)
{
        g_auto(GStrv) v = g_strsplit(hex_lines, " ", -1);

        g_assert_cmpuint(g_strv_length(v), ==, 10);
        for (guint i = 0; i < 10; i++)
                g_assert_true(vtc_hex_decode_fixed(v[i], out + i * size, size, NULL));
}

static void
test_ima_boot_aggregate(void)
{
        /*
         * SHA-256 PCRs 0-9 from replaying ima-evm-utils' sample-binary_bios_measurements-pcrs-8-9
         * (the same replay gives exactly the SHA-1 PCRs in its sample-tpm-2.0-pcrs-8-9); the
         * sample ascii log's boot_aggregate is over all ten (a kernel >= 5.8).
         */
        const gchar *sha256_pcrs =
            "bc23fb2a5554fa5b56de8d82c0c98229fd44ec4f13141c1c0a4603fc4e8bb465 "
            "c9e651ab2ba5a79bf1355572213fbdb770ac415e19f902fedd4cdc8154417674 "
            "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969 "
            "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969 "
            "93dd723656367381cf5d8bb170ab388aa0d776b53fc6bb136fce24ba4d6f83fe "
            "f0be4c8fa67a47830b04af8e556b574b0e3159a19405ec3fee95ff8259ff6446 "
            "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969 "
            "64b79a2a5a0c45df21d3f79ae2b91d65d8841582d91d55463193d4e396e288aa "
            "63cd2ac50444e1cdcf7ff80a5f5d73c14bb30b39c97d03d0e12828b5e255c7f3 "
            "db2d674978354c669d08a1b7e60b39a6329ab90e219d3af65598e32eda873259";
        const VtcHashAlg *sha1 = vtc_hash_alg_from_name("sha1");
        const VtcHashAlg *sha256 = vtc_hash_alg_from_name("sha256");
        guint8 pcrs256[10 * 32];
        guint8 pcrs1[10 * 20];
        guint8 agg8[20];
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) sample =
            parse_testdata("ima/sample-ascii_runtime_measurements-pcrs-8-9", &error);
        g_autoptr(GBytes) sha1_file =
            read_testdata("eventlog/ima-evm-utils/sample-tpm-2.0-pcrs-8-9");
        g_autofree gchar *sha1_text =
            g_strndup(g_bytes_get_data(sha1_file, NULL), g_bytes_get_size(sha1_file));
        g_auto(GStrv) lines = g_strsplit(sha1_text, "\n", -1);
        g_autoptr(GPtrArray) old = NULL;
        g_autofree gchar *old_line = NULL;
        const VtcImaEntry *ba;

        g_assert_no_error(error);
        ba = g_ptr_array_index(sample, 0);
        g_assert_true(vtc_ima_entry_is_boot_aggregate(ba));
        read_pcr_values(sha256_pcrs, pcrs256, 32);
        g_assert_true(vtc_ima_boot_aggregate_verify(ba, sha256, pcrs256, &error));
        g_assert_no_error(error);
        /* any PCR changed: no match */
        pcrs256[9 * 32] ^= 1;
        g_assert_false(vtc_ima_boot_aggregate_verify(ba, sha256, pcrs256, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_VERIFY_FAILED);
        g_clear_error(&error);
        /* the wrong bank is refused */
        g_assert_false(vtc_ima_boot_aggregate_verify(ba, sha1, pcrs256, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* an older kernel's "ima" boot_aggregate over the SHA-1 PCRs 0-7 of the same machine */
        for (guint i = 1; i <= 10; i++) {
                const gchar *colon = strchr(lines[i], ':');
                g_assert_nonnull(colon);
                g_assert_true(vtc_hex_decode_fixed(colon + 2, pcrs1 + (i - 1) * 20, 20, NULL));
        }
        g_assert_true(vtc_ima_boot_aggregate_compute(sha1, pcrs1, 8, agg8, &error));
        old_line = make_ima_line(agg8, "boot_aggregate");
        old = vtc_ima_log_parse((const guint8 *)old_line,
                                strlen(old_line),
                                VTC_IMA_FORMAT_ASCII,
                                &error);
        g_assert_no_error(error);
        g_assert_true(
            vtc_ima_boot_aggregate_verify(g_ptr_array_index(old, 0), sha1, pcrs1, &error));
        g_assert_no_error(error);
        g_assert_false(vtc_ima_boot_aggregate_compute(sha1, pcrs1, 9, agg8, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
}

typedef struct {
        guint64 seen;
        guint64 stop_at;
} CbData;

static gboolean
stop_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        CbData *d = user_data;

        g_assert_cmpuint(index, ==, d->seen);
        g_assert_nonnull(entry->path);
        d->seen++;
        if (index == d->stop_at) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_POLICY, "not allowed");
                return FALSE;
        }
        return TRUE;
}

static void
test_ima_callback_stops(void)
{
        g_autoptr(GBytes) log = read_testdata("ima/rust-keylime-binary_runtime_measurements");
        g_autoptr(GError) error = NULL;
        CbData d = {0, 100};
        VtcImaReplayState st;

        vtc_ima_replay_state_init(&st);
        g_assert_false(vtc_ima_replay(g_bytes_get_data(log, NULL),
                                      g_bytes_get_size(log),
                                      VTC_IMA_FORMAT_AUTO,
                                      VTC_IMA_REPLAY_FLAG_NONE,
                                      &st,
                                      stop_cb,
                                      &d,
                                      NULL,
                                      &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_POLICY);
        g_assert_nonnull(strstr(error->message, "IMA log entry 100"));
        g_assert_nonnull(strstr(error->message, "not allowed"));
        g_assert_cmpuint(d.seen, ==, 101);
        g_assert_cmpuint(st.count, ==, 0);
}

/* A binary entry: PCR, a non-zero template hash, a template name, then @rest as is. */
static GByteArray *
make_binary(guint32 pcr, const gchar *name, const guint8 *rest, gsize rest_len)
{
        GByteArray *b = g_byte_array_new();
        guint8 hash[20];
        guint32 v;

        memset(hash, 1, sizeof(hash));
        v = GUINT32_TO_LE(pcr);
        g_byte_array_append(b, (const guint8 *)&v, 4);
        g_byte_array_append(b, hash, 20);
        v = GUINT32_TO_LE((guint32)strlen(name));
        g_byte_array_append(b, (const guint8 *)&v, 4);
        g_byte_array_append(b, (const guint8 *)name, (guint)strlen(name));
        g_byte_array_append(b, rest, (guint)rest_len);
        return b;
}

static void
test_ima_malformed_binary(void)
{
        const guint8 zero_len[] = {0, 0, 0, 0};
        const guint8 huge_len[] = {0, 0, 0x20, 0}; /* 2 MiB of template data */
        /* d-ng claims 200 bytes inside 8 bytes of template data */
        const guint8 overrun[] = {8, 0, 0, 0, 200, 0, 0, 0, 's', 'h', 'a', '1'};
        /* d-ng without its "<hash>:" prefix */
        const guint8 no_prefix[] = {12, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 1, 0, 0, 0, 0};
        /* "ima" template with a 300-byte name */
        guint8 ima_long[24] = {0};
        struct {
                GByteArray *log;
                gint code;
        } cases[] = {
            {make_binary(10, "foo", zero_len, 4), VTC_ERROR_NOT_SUPPORTED},
            {make_binary(10, "ima-ng", huge_len, 4), VTC_ERROR_TOO_LARGE},
            {make_binary(99, "ima-ng", zero_len, 4), VTC_ERROR_INVALID_DATA},
            {make_binary(10, "ima-ng", overrun, sizeof(overrun)), VTC_ERROR_INVALID_DATA},
            {make_binary(10, "ima-ng", no_prefix, sizeof(no_prefix)), VTC_ERROR_INVALID_DATA},
            {make_binary(10, "ima-ng", zero_len, 4), VTC_ERROR_INVALID_DATA},
            {NULL, VTC_ERROR_INVALID_DATA},
        };

        ima_long[20] = 0x2c;
        ima_long[21] = 0x01;
        cases[G_N_ELEMENTS(cases) - 1].log = make_binary(10, "ima", ima_long, sizeof(ima_long));
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GByteArray) log = cases[i].log;
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                vtc_ima_replay_state_init(&st);
                g_assert_false(vtc_ima_replay(log->data,
                                              log->len,
                                              VTC_IMA_FORMAT_BINARY,
                                              VTC_IMA_REPLAY_FLAG_PARTIAL,
                                              &st,
                                              NULL,
                                              NULL,
                                              NULL,
                                              &error));
                g_assert_error(error, VTC_ERROR, cases[i].code);
                g_assert_nonnull(strstr(error->message, "IMA log entry 0"));
        }
}

static void
test_ima_no_template_check(void)
{
        g_autoptr(GBytes) log = read_testdata("ima/keylime/ima_sig_bad_sigsize.txt");
        g_autoptr(GError) error = NULL;
        VtcImaReplayState st;

        /* without the check the altered entry goes through: the check is what catches it */
        g_assert_true(
            replay_all(log,
                       VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK | VTC_IMA_REPLAY_FLAG_NO_SHA1,
                       &st,
                       &error));
        g_assert_no_error(error);
        g_assert_cmpuint(st.count, ==, 1);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ima/rust-keylime", test_ima_rust_keylime);
        g_test_add_func("/ima/ascii-binary-agree", test_ima_ascii_binary_agree);
        g_test_add_func("/ima/incremental", test_ima_incremental);
        g_test_add_func("/ima/streaming-chunks", test_ima_streaming_chunks);
        g_test_add_func("/ima/truncation", test_ima_truncation);
        g_test_add_func("/ima/tpm2-tss", test_ima_tpm2_tss);
        g_test_add_func("/ima/invalidated", test_ima_invalidated);
        g_test_add_func("/ima/keylime", test_ima_keylime);
        g_test_add_func("/ima/bad-sigsize", test_ima_bad_sigsize);
        g_test_add_func("/ima/small-logs", test_ima_small_logs);
        g_test_add_func("/ima/ascii-spaces", test_ima_ascii_spaces);
        g_test_add_func("/ima/boot-aggregate", test_ima_boot_aggregate);
        g_test_add_func("/ima/callback-stops", test_ima_callback_stops);
        g_test_add_func("/ima/malformed-binary", test_ima_malformed_binary);
        g_test_add_func("/ima/no-template-check", test_ima_no_template_check);
        return g_test_run();
}
