/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ima_replay_policy: entries per second replaying the SHA-256 bank of PCR 10 from a binary IMA
 * log, with the SHA-1 template hash of every entry checked, while checking every entry against
 * an allowlist, against evmctl ima_measurement on the same log in the same run.
 * ima_replay_policy_cpu: the same per second of CPU time (ours on this thread, evmctl's as
 * reported for the waited-for child), i.e. per core: on a shared machine the wall-clock figure
 * also measures how much of a core the scheduler gave us.
 *
 * The allowlist check here is a hash set of (digest, path) pairs written for the benchmark,
 * not the project's runtime-policy checker, so that this figure measures the replayer and a
 * realistic per-entry lookup on their own. It is keyed on the file digest rather than on the
 * path: the digest is already uniformly distributed, so its first bytes are the hash and the
 * path is only compared (strcmp) on a hit. A path -> digests table hashes the whole path byte
 * by byte (g_str_hash) and then compares it as well: measured, about 50 ns of CPU time per entry
 * against 5-20 ns for this set, on a replay that takes about 300 ns per entry.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <glib/gstdio.h>

#include "vtc-bench.h"
#include "vtc-ima.h"

/* The log is the rust-keylime one (826 entries) repeated to at least this many entries. */
#define VTC_BENCH_IMA_MIN_ENTRIES 100000

/* One allowed (file digest, path) pair; the lookup key borrows the entry's pointers. */
typedef struct {
        const guint8 *digest;
        gsize digest_len;
        const gchar *path;
} VtcBenchAllowKey;

typedef struct {
        GHashTable *allow; /* set of VtcBenchAllowKey, owned by the parsed entries */
        guint64 denied;
} VtcBenchAllowlist;

static guint
vtc_bench_allow_key_hash(gconstpointer p)
{
        const VtcBenchAllowKey *k = p;
        guint h = (guint)k->digest_len;

        /* a digest is uniformly distributed: its leading bytes are as good as any hash of it */
        for (gsize i = 0; i < MIN(k->digest_len, sizeof(guint)); i++)
                h = (h << 8) | k->digest[i];
        return h;
}

static gboolean
vtc_bench_allow_key_equal(gconstpointer a, gconstpointer b)
{
        const VtcBenchAllowKey *x = a;
        const VtcBenchAllowKey *y = b;

        return x->digest_len == y->digest_len && memcmp(x->digest, y->digest, x->digest_len) == 0 &&
               g_strcmp0(x->path, y->path) == 0;
}

static gboolean
vtc_bench_ima_allow_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        VtcBenchAllowlist *al = user_data;
        VtcBenchAllowKey key = {entry->file_hash, entry->file_hash_len, entry->path};

        if (entry->file_hash == NULL || !g_hash_table_contains(al->allow, &key))
                al->denied++;
        return TRUE;
}

/* The allowlist of every (digest, path) in @entries, which must outlive it. */
static GHashTable *
vtc_bench_ima_allowlist_new(GPtrArray *entries)
{
        GHashTable *allow = g_hash_table_new_full(vtc_bench_allow_key_hash,
                                                  vtc_bench_allow_key_equal,
                                                  g_free,
                                                  NULL);

        for (guint i = 0; i < entries->len; i++) {
                const VtcImaEntry *e = g_ptr_array_index(entries, i);
                VtcBenchAllowKey *k = g_new0(VtcBenchAllowKey, 1);
                k->digest = e->file_hash;
                k->digest_len = e->file_hash_len;
                k->path = e->path;
                g_hash_table_add(allow, k);
        }
        return allow;
}

/* The allowlist must accept @e and refuse another digest or path, or it measures nothing. */
static gboolean
vtc_bench_ima_allowlist_works(GHashTable *allow, const VtcImaEntry *e)
{
        guint8 other[64];
        VtcBenchAllowKey same = {e->file_hash, e->file_hash_len, e->path};
        VtcBenchAllowKey other_digest = {other, e->file_hash_len, e->path};
        VtcBenchAllowKey other_path = {e->file_hash, e->file_hash_len, "/nonexistent"};

        if (e->file_hash_len == 0 || e->file_hash_len > sizeof(other))
                return FALSE;
        memcpy(other, e->file_hash, e->file_hash_len);
        other[e->file_hash_len - 1] ^= 1;
        return g_hash_table_contains(allow, &same) &&
               !g_hash_table_contains(allow, &other_digest) &&
               !g_hash_table_contains(allow, &other_path);
}

static gdouble
vtc_bench_ima_thread_cpu_seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (gdouble)ts.tv_sec + (gdouble)ts.tv_nsec / 1e9;
}

static gdouble
vtc_bench_ima_children_cpu_seconds(void)
{
        struct rusage ru;

        getrusage(RUSAGE_CHILDREN, &ru);
        return (gdouble)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (gdouble)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * Replays the log repeatedly for @seconds; returns entries per second of wall-clock time, or
 * < 0 on error, and entries per second of this thread's CPU time in *out_cpu_rate.
 */
static gdouble
vtc_bench_ima_rate(const guint8 *data,
                   gsize len,
                   VtcImaReplayFlags flags,
                   VtcBenchAllowlist *al,
                   gdouble seconds,
                   VtcImaReplayState *out_state,
                   gdouble *out_cpu_rate)
{
        gint64 start = g_get_monotonic_time();
        gdouble cpu_start = vtc_bench_ima_thread_cpu_seconds();
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
        if (out_cpu_rate != NULL)
                *out_cpu_rate = (gdouble)entries / (vtc_bench_ima_thread_cpu_seconds() - cpu_start);
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

/*
 * Runs evmctl on the log for about @seconds; entries per second of wall-clock time, or < 0 when
 * it fails, and per second of evmctl's CPU time (user + system) in *out_cpu_rate.
 */
static gdouble
vtc_bench_ima_evmctl_rate(const gchar *log_path,
                          const gchar *pcrs_path,
                          guint64 n_entries,
                          gdouble seconds,
                          gdouble *out_cpu_rate)
{
        g_autofree gchar *pcrs_arg = g_strdup_printf("sha256,%s", pcrs_path);
        const gchar *argv[] = {"evmctl", "ima_measurement", "--pcrs", pcrs_arg, log_path, NULL};
        gint64 start = g_get_monotonic_time();
        gdouble cpu_start = vtc_bench_ima_children_cpu_seconds();
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
        *out_cpu_rate =
            (gdouble)n_entries * runs / (vtc_bench_ima_children_cpu_seconds() - cpu_start);
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
        gdouble cpu_rate = 0;
        gdouble cpu_nocheck = 0;
        gdouble cpu_bare = 0;
        gdouble cpu_both = 0;
        gdouble cpu_evmctl = 0;

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
        if (!vtc_bench_ima_allowlist_works(allow, g_ptr_array_index(entries, entries->len - 1))) {
                g_printerr("bench ima: the allowlist does not tell entries apart\n");
                return FALSE;
        }

        rate = vtc_bench_ima_rate(log->data,
                                  log->len,
                                  VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                  &al,
                                  seconds,
                                  &st,
                                  &cpu_rate);
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
                                          &st,
                                          &cpu_nocheck);
        rate_bare = vtc_bench_ima_rate(log->data,
                                       log->len,
                                       VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                       NULL,
                                       seconds / 2,
                                       &st,
                                       &cpu_bare);
        rate_both = vtc_bench_ima_rate(log->data,
                                       log->len,
                                       VTC_IMA_REPLAY_FLAG_NONE,
                                       &al,
                                       seconds / 2,
                                       &st,
                                       &cpu_both);

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
                        evmctl = vtc_bench_ima_evmctl_rate(log_path,
                                                           pcrs_path,
                                                           n_entries,
                                                           seconds,
                                                           &cpu_evmctl);
        }
        g_unlink(log_path);
        g_unlink(pcrs_path);
        g_rmdir(tmpdir);

        g_printerr("bench ima: %" G_GUINT64_FORMAT " entries; entries/s (wall clock | per CPU "
                   "second): SHA-256 bank + template hash check + allowlist %.0f | %.0f, without "
                   "the template hash check %.0f | %.0f, without the allowlist %.0f | %.0f, both "
                   "banks %.0f | %.0f, evmctl %.0f | %.0f\n",
                   n_entries,
                   rate,
                   cpu_rate,
                   rate_nocheck,
                   cpu_nocheck,
                   rate_bare,
                   cpu_bare,
                   rate_both,
                   cpu_both,
                   evmctl,
                   cpu_evmctl);
        if (evmctl <= 0)
                return FALSE;
        vtc_bench_print("ima_replay_policy", rate, "entries/s", evmctl);
        vtc_bench_print("ima_replay_policy_cpu", cpu_rate, "entries/s", cpu_evmctl);
        return TRUE;
}
