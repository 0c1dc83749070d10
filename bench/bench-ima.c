/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ima_replay_policy: entries per second replaying the SHA-256 bank of PCR 10 from a binary IMA
 * log while checking every entry against an allowlist, against evmctl ima_measurement on the
 * same log in the same run.
 *
 * The allowlist check here is a plain GHashTable (path -> allowed digests) written for the
 * benchmark, not the project's runtime-policy checker, so that this figure measures the
 * replayer and a realistic per-entry lookup on their own.
 */
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "vtc-bench.h"
#include "vtc-ima.h"

/* The log is the rust-keylime one (826 entries) repeated to at least this many entries. */
#define VTC_BENCH_IMA_MIN_ENTRIES 100000

typedef struct {
        GHashTable *allow; /* path -> GPtrArray of GBytes digests */
        guint64 denied;
} VtcBenchAllowlist;

static gboolean
vtc_bench_ima_allow_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        VtcBenchAllowlist *al = user_data;
        GPtrArray *digests = g_hash_table_lookup(al->allow, entry->path);

        if (digests != NULL) {
                for (guint i = 0; i < digests->len; i++) {
                        GBytes *d = g_ptr_array_index(digests, i);
                        if (g_bytes_get_size(d) == entry->file_hash_len &&
                            memcmp(g_bytes_get_data(d, NULL),
                                   entry->file_hash,
                                   entry->file_hash_len) == 0)
                                return TRUE;
                }
        }
        al->denied++;
        return TRUE;
}

static GHashTable *
vtc_bench_ima_allowlist_new(GPtrArray *entries)
{
        GHashTable *allow = g_hash_table_new_full(g_str_hash,
                                                  g_str_equal,
                                                  g_free,
                                                  (GDestroyNotify)g_ptr_array_unref);

        for (guint i = 0; i < entries->len; i++) {
                const VtcImaEntry *e = g_ptr_array_index(entries, i);
                GPtrArray *digests = g_hash_table_lookup(allow, e->path);
                if (digests == NULL) {
                        digests = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
                        g_hash_table_insert(allow, g_strdup(e->path), digests);
                }
                g_ptr_array_add(digests, g_bytes_new(e->file_hash, e->file_hash_len));
        }
        return allow;
}

/* Replays the log repeatedly for @seconds; returns entries per second, or < 0 on error. */
static gdouble
vtc_bench_ima_rate(const guint8 *data,
                   gsize len,
                   VtcImaReplayFlags flags,
                   VtcBenchAllowlist *al,
                   gdouble seconds,
                   VtcImaReplayState *out_state)
{
        gint64 start = g_get_monotonic_time();
        gint64 now = start;
        guint64 entries = 0;

        do {
                g_autoptr(GError) error = NULL;
                VtcImaReplayState st;
                vtc_ima_replay_state_init(&st);
                if (!vtc_ima_replay(data,
                                    len,
                                    VTC_IMA_FORMAT_BINARY,
                                    flags,
                                    &st,
                                    al != NULL ? vtc_bench_ima_allow_cb : NULL,
                                    al,
                                    NULL,
                                    &error)) {
                        g_printerr("bench ima: %s\n", error->message);
                        return -1;
                }
                entries += st.count;
                *out_state = st;
                now = g_get_monotonic_time();
        } while (now - start < (gint64)(seconds * G_USEC_PER_SEC));
        return (gdouble)entries * G_USEC_PER_SEC / (gdouble)(now - start);
}

/* evmctl reads PCRs in the sysfs layout: "PCR-10: C4 A0 ...". */
static gboolean
vtc_bench_ima_write_pcrs(const gchar *path, const guint8 *pcr10, GError **error)
{
        g_autoptr(GString) s = g_string_new(NULL);

        for (guint i = 0; i < 24; i++) {
                g_string_append_printf(s, "PCR-%02u:", i);
                for (guint j = 0; j < 32; j++)
                        g_string_append_printf(s, " %02X", i == 10 ? pcr10[j] : 0);
                g_string_append_c(s, '\n');
        }
        return g_file_set_contents(path, s->str, (gssize)s->len, error);
}

/* Runs evmctl on the log for about @seconds; entries per second, or < 0 when it fails. */
static gdouble
vtc_bench_ima_evmctl_rate(const gchar *log_path,
                          const gchar *pcrs_path,
                          guint64 n_entries,
                          gdouble seconds)
{
        g_autofree gchar *pcrs_arg = g_strdup_printf("sha256,%s", pcrs_path);
        const gchar *argv[] = {"evmctl", "ima_measurement", "--pcrs", pcrs_arg, log_path, NULL};
        gint64 start = g_get_monotonic_time();
        gint64 now = start;
        guint runs = 0;

        do {
                g_autoptr(GError) error = NULL;
                gint status = 0;
                if (!g_spawn_sync(NULL,
                                  (gchar **)argv,
                                  NULL,
                                  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                      G_SPAWN_STDERR_TO_DEV_NULL,
                                  NULL,
                                  NULL,
                                  NULL,
                                  NULL,
                                  &status,
                                  &error)) {
                        g_printerr("bench ima: evmctl: %s\n", error->message);
                        return -1;
                }
                /* exit 0: evmctl replayed the log to the PCR 10 we computed */
                if (!g_spawn_check_wait_status(status, &error)) {
                        g_printerr("bench ima: evmctl disagrees with our PCR 10: %s\n",
                                   error->message);
                        return -1;
                }
                runs++;
                now = g_get_monotonic_time();
        } while (now - start < (gint64)(seconds * G_USEC_PER_SEC));
        return (gdouble)n_entries * runs * G_USEC_PER_SEC / (gdouble)(now - start);
}

gboolean
vtc_bench_ima(gdouble seconds, const gchar *testdata_dir)
{
        g_autofree gchar *src =
            g_build_filename(testdata_dir, "ima", "rust-keylime-binary_runtime_measurements", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) one = vtc_file_read(src, 64 * 1024 * 1024, &error);
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(GByteArray) log = g_byte_array_new();
        g_autoptr(GHashTable) allow = NULL;
        g_autofree gchar *tmpdir = NULL;
        g_autofree gchar *log_path = NULL;
        g_autofree gchar *pcrs_path = NULL;
        VtcBenchAllowlist al = {NULL, 0};
        VtcImaReplayState st;
        guint copies;
        guint64 n_entries;
        gdouble rate;
        gdouble rate_nocheck;
        gdouble rate_both;
        gdouble rate_bare;
        gdouble evmctl = -1;

        if (one == NULL) {
                g_printerr("bench ima: %s\n", error->message);
                return FALSE;
        }
        entries = vtc_ima_log_parse(g_bytes_get_data(one, NULL),
                                    g_bytes_get_size(one),
                                    VTC_IMA_FORMAT_BINARY,
                                    &error);
        if (entries == NULL || entries->len == 0) {
                g_printerr("bench ima: %s\n", error != NULL ? error->message : "empty log");
                return FALSE;
        }
        copies = (VTC_BENCH_IMA_MIN_ENTRIES + entries->len - 1) / entries->len;
        for (guint i = 0; i < copies; i++)
                g_byte_array_append(log, g_bytes_get_data(one, NULL), (guint)g_bytes_get_size(one));
        n_entries = (guint64)copies * entries->len;
        allow = vtc_bench_ima_allowlist_new(entries);
        al.allow = allow;

        rate =
            vtc_bench_ima_rate(log->data, log->len, VTC_IMA_REPLAY_FLAG_NO_SHA1, &al, seconds, &st);
        if (rate < 0)
                return FALSE;
        if (st.count != n_entries || al.denied != 0) {
                g_printerr("bench ima: replayed %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                           " entries, %" G_GUINT64_FORMAT " not in the allowlist\n",
                           st.count,
                           n_entries,
                           al.denied);
                return FALSE;
        }
        /* the same with the costs split out, for the report (stderr) */
        rate_nocheck = vtc_bench_ima_rate(log->data,
                                          log->len,
                                          VTC_IMA_REPLAY_FLAG_NO_SHA1 |
                                              VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK,
                                          &al,
                                          seconds / 2,
                                          &st);
        rate_bare = vtc_bench_ima_rate(log->data,
                                       log->len,
                                       VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                       NULL,
                                       seconds / 2,
                                       &st);
        rate_both = vtc_bench_ima_rate(log->data,
                                       log->len,
                                       VTC_IMA_REPLAY_FLAG_NONE,
                                       &al,
                                       seconds / 2,
                                       &st);

        tmpdir = g_dir_make_tmp("vtc-bench-ima-XXXXXX", &error);
        if (tmpdir == NULL) {
                g_printerr("bench ima: %s\n", error->message);
                return FALSE;
        }
        log_path = g_build_filename(tmpdir, "binary_runtime_measurements", NULL);
        pcrs_path = g_build_filename(tmpdir, "pcrs", NULL);
        if (!g_file_set_contents(log_path, (const gchar *)log->data, (gssize)log->len, &error) ||
            !vtc_bench_ima_write_pcrs(pcrs_path, st.sha256, &error)) {
                g_printerr("bench ima: %s\n", error->message);
        } else {
                g_autofree gchar *evm = g_find_program_in_path("evmctl");
                if (evm == NULL)
                        g_printerr("bench ima: evmctl is not installed\n");
                else
                        evmctl = vtc_bench_ima_evmctl_rate(log_path, pcrs_path, n_entries, seconds);
        }
        g_unlink(log_path);
        g_unlink(pcrs_path);
        g_rmdir(tmpdir);

        g_printerr("bench ima: %" G_GUINT64_FORMAT " entries; entries/s: SHA-256 bank + template "
                   "hash check + allowlist %.0f, without the template hash check %.0f, without "
                   "the allowlist %.0f, both banks %.0f, evmctl %.0f\n",
                   n_entries,
                   rate,
                   rate_nocheck,
                   rate_bare,
                   rate_both,
                   evmctl);
        if (evmctl <= 0)
                return FALSE;
        vtc_bench_print("ima_replay_policy", rate, "entries/s", evmctl);
        return TRUE;
}
