/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent-round.h"
#include "vtc-agent-test-util.h"

#define IMA_FILE  "ima/rust-keylime-binary_runtime_measurements"
#define BOOT_FILE "eventlog/tpm2-tools/event-arch-linux.bin"

typedef struct {
        VtcAgentTestTpm *t;
        VtcAgentTpm *tpm;
        gchar *ima;
        gchar *boot;
        GBytes *ima_bytes;
        GBytes *boot_bytes;
        guint8 tls[32];
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        f->ima = vtc_test_data_path(IMA_FILE);
        f->boot = vtc_test_data_path(BOOT_FILE);
        f->t = vtc_agent_test_tpm_new(FALSE);
        f->tpm = vtc_agent_tpm_new(vtc_swtpm_get_tcti_conf(f->t->swtpm),
                                   VTC_AGENT_TPM_AK_HANDLE_DEFAULT,
                                   VTC_TPM_KEY_ECC_P256,
                                   &error);
        g_assert_no_error(error);
        f->ima_bytes = vtc_file_read(f->ima, 1 << 24, &error);
        g_assert_no_error(error);
        f->boot_bytes = vtc_file_read(f->boot, 1 << 24, &error);
        g_assert_no_error(error);
        memset(f->tls, 0x11, sizeof(f->tls));
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
        vtc_agent_tpm_unref(f->tpm);
        vtc_agent_test_tpm_free(f->t);
        g_free(f->ima);
        g_free(f->boot);
        g_bytes_unref(f->ima_bytes);
        g_bytes_unref(f->boot_bytes);
}

static VtcAgentRound *
round_new(Fixture *f, gsize chunk)
{
        VtcAgentRoundOptions o = {
            .uuid = "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11",
            .ima_path = f->ima,
            .boot_log_path = f->boot,
            .ima_max_chunk = chunk,
            .tls_key_sha256 = f->tls,
        };
        return vtc_agent_round_new(f->tpm, &o);
}

static void
test_whole(Fixture *f, gconstpointer data)
{
        g_autoptr(VtcAgentRound) round = round_new(f, 0);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) ev = NULL;
        g_autoptr(GBytes) ima = NULL;
        g_autoptr(GBytes) boot = NULL;
        VtcChannelRound r;
        JsonObject *log;
        gboolean more = TRUE;

        vtc_agent_test_round_init(&r, 0x7ff, 0);
        r.boot_log = TRUE;
        ev = vtc_agent_round_run(round, &r, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(json_object_get_string_member(ev, "uuid"),
                        ==,
                        "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11");
        g_assert_cmpint(
            vtc_agent_test_check_evidence(ev, vtc_agent_tpm_get_ak_public(f->tpm), &r, f->tls),
            ==,
            VTC_QUOTE_FAILURE_NONE);
        /* without the TLS key the nonce check fails: the key is bound into the quote */
        g_assert_cmpint(
            vtc_agent_test_check_evidence(ev, vtc_agent_tpm_get_ak_public(f->tpm), &r, NULL),
            ==,
            VTC_QUOTE_FAILURE_NONCE);
        ima = vtc_agent_test_log_data(ev, "ima_log");
        g_assert_true(g_bytes_equal(ima, f->ima_bytes));
        log = json_object_get_object_member(ev, "ima_log");
        g_assert_cmpint(json_object_get_int_member(log, "from"), ==, 0);
        g_assert_true(vtc_json_get_bool(log, "more", TRUE, &more, &error));
        g_assert_false(more);
        boot = vtc_agent_test_log_data(ev, "boot_log");
        g_assert_true(g_bytes_equal(boot, f->boot_bytes));
}

static void
test_offsets(Fixture *f, gconstpointer data)
{
        g_autoptr(VtcAgentRound) round = round_new(f, 0);
        gsize size = g_bytes_get_size(f->ima_bytes);
        guint64 offsets[] = {1, 4321, size - 1, size};

        for (guint i = 0; i < G_N_ELEMENTS(offsets); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) ev = NULL;
                g_autoptr(GBytes) ima = NULL;
                VtcChannelRound r;

                vtc_agent_test_round_init(&r, 1u << 10, offsets[i]);
                ev = vtc_agent_round_run(round, &r, &error);
                g_assert_no_error(error);
                ima = vtc_agent_test_log_data(ev, "ima_log");
                g_assert_cmpmem(g_bytes_get_data(ima, NULL),
                                g_bytes_get_size(ima),
                                (const guint8 *)g_bytes_get_data(f->ima_bytes, NULL) + offsets[i],
                                size - offsets[i]);
                /* not asked for */
                g_assert_false(json_object_has_member(ev, "boot_log"));
        }
        /* beyond the end (the guest rebooted): an error member, the quote still there */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) ev = NULL;
                JsonObject *log;
                VtcChannelRound r;

                vtc_agent_test_round_init(&r, 1u << 10, size + 1);
                ev = vtc_agent_round_run(round, &r, &error);
                g_assert_no_error(error);
                log = json_object_get_object_member(ev, "ima_log");
                g_assert_cmpint(json_object_get_int_member(log, "from"), ==, (gint64)size + 1);
                g_assert_nonnull(strstr(json_object_get_string_member(log, "error"), "beyond"));
                g_assert_false(json_object_has_member(log, "data"));
                g_assert_cmpint(vtc_agent_test_check_evidence(ev,
                                                              vtc_agent_tpm_get_ak_public(f->tpm),
                                                              &r,
                                                              f->tls),
                                ==,
                                VTC_QUOTE_FAILURE_NONE);
        }
}

static void
test_chunks(Fixture *f, gconstpointer data)
{
        g_autoptr(VtcAgentRound) round = round_new(f, 4096);
        g_autoptr(GByteArray) all = g_byte_array_new();
        guint64 offset = 0;
        guint n = 0;

        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) ev = NULL;
                g_autoptr(GBytes) ima = NULL;
                gboolean more = FALSE;
                VtcChannelRound r;

                vtc_agent_test_round_init(&r, 1u << 10, offset);
                ev = vtc_agent_round_run(round, &r, &error);
                g_assert_no_error(error);
                ima = vtc_agent_test_log_data(ev, "ima_log");
                g_assert_cmpuint(g_bytes_get_size(ima), <=, 4096);
                g_assert_true(vtc_json_get_bool(json_object_get_object_member(ev, "ima_log"),
                                                "more",
                                                TRUE,
                                                &more,
                                                &error));
                g_byte_array_append(all, g_bytes_get_data(ima, NULL), (guint)g_bytes_get_size(ima));
                offset += g_bytes_get_size(ima);
                n++;
                g_assert_cmpuint(n, <, 100);
                if (!more)
                        break;
                g_assert_cmpuint(g_bytes_get_size(ima), ==, 4096);
        }
        g_assert_cmpuint(n, ==, (g_bytes_get_size(f->ima_bytes) + 4096) / 4096);
        g_assert_cmpmem(all->data,
                        all->len,
                        g_bytes_get_data(f->ima_bytes, NULL),
                        g_bytes_get_size(f->ima_bytes));
}

static void
test_missing_logs(Fixture *f, gconstpointer data)
{
        g_autofree gchar *none = g_build_filename(f->t->dir, "no-such-log", NULL);
        VtcAgentRoundOptions o = {
            .uuid = "6f1c2b1e-0c5e-4d1f-9a53-3c1f0f9b8a11",
            .ima_path = none,
            .boot_log_path = none,
        };
        g_autoptr(VtcAgentRound) round = vtc_agent_round_new(f->tpm, &o);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) ev = NULL;
        VtcChannelRound r;

        vtc_agent_test_round_init(&r, 0x3, 0);
        r.boot_log = TRUE;
        ev = vtc_agent_round_run(round, &r, &error);
        g_assert_no_error(error);
        /* no IMA, no firmware log: left out; the quote is bound to 32 zero bytes */
        g_assert_false(json_object_has_member(ev, "ima_log"));
        g_assert_false(json_object_has_member(ev, "boot_log"));
        g_assert_cmpint(
            vtc_agent_test_check_evidence(ev, vtc_agent_tpm_get_ak_public(f->tpm), &r, NULL),
            ==,
            VTC_QUOTE_FAILURE_NONE);
}

static void
test_read_from(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *empty = g_build_filename(f->t->dir, "empty", NULL);
        g_autoptr(GBytes) b = NULL;
        gboolean more = TRUE;

        g_assert_true(g_file_set_contents(empty, "", 0, NULL));
        b = vtc_agent_round_read_from(empty, 0, 10, &more, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(b), ==, 0);
        g_assert_false(more);
        g_clear_pointer(&b, g_bytes_unref);
        b = vtc_agent_round_read_from(empty, 1, 10, &more, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_assert_null(b);
        g_clear_error(&error);
        b = vtc_agent_round_read_from(f->ima, 0, 0, &more, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(b), ==, 0);
        g_assert_true(more);
        g_clear_pointer(&b, g_bytes_unref);
        b = vtc_agent_round_read_from("/nonexistent/x", 0, 10, &more, &error);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
}

static void
async_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        JsonObject **out = user_data;
        g_autoptr(GError) error = NULL;

        *out = vtc_agent_round_run_finish(NULL, res, &error);
        g_assert_no_error(error);
}

static void
test_async(Fixture *f, gconstpointer data)
{
        g_autoptr(VtcAgentRound) round = round_new(f, 0);
        JsonObject *ev[4] = {NULL};
        VtcChannelRound r[4];

        /* at once from several threads: the TPM sees them one after the other */
        for (guint i = 0; i < G_N_ELEMENTS(ev); i++) {
                vtc_agent_test_round_init(&r[i], 0xff, 0);
                vtc_agent_round_run_async(round, &r[i], NULL, async_done, &ev[i]);
        }
        g_clear_pointer(&round, vtc_agent_round_unref);
        for (guint i = 0; i < G_N_ELEMENTS(ev); i++) {
                while (ev[i] == NULL)
                        g_main_context_iteration(NULL, TRUE);
                g_assert_cmpint(vtc_agent_test_check_evidence(ev[i],
                                                              vtc_agent_tpm_get_ak_public(f->tpm),
                                                              &r[i],
                                                              f->tls),
                                ==,
                                VTC_QUOTE_FAILURE_NONE);
                json_object_unref(ev[i]);
        }
}

int
main(int argc, char **argv)
{
        g_setenv("TSS2_LOG", "all+none", TRUE);
        g_test_init(&argc, &argv, NULL);
        g_test_add("/agent-round/whole",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_whole,
                   fixture_teardown);
        g_test_add("/agent-round/offsets",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_offsets,
                   fixture_teardown);
        g_test_add("/agent-round/chunks",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_chunks,
                   fixture_teardown);
        g_test_add("/agent-round/missing-logs",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_missing_logs,
                   fixture_teardown);
        g_test_add("/agent-round/read-from",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_read_from,
                   fixture_teardown);
        g_test_add("/agent-round/async",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_async,
                   fixture_teardown);
        return g_test_run();
}
