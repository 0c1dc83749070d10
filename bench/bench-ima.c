/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ima_replay_policy: entries per second replaying the SHA-256 bank of PCR 10 from a binary IMA
 * log, with the SHA-1 template hash of every entry checked, while checking every entry with the
 * product's runtime-policy checker (common/vtc-policy.[ch]) against a Keylime runtime policy
 * that lists every file of the log, against evmctl ima_measurement on the same log in the same
 * run. ima_replay_policy_cpu: the same per second of CPU time (ours on this thread, evmctl's as
 * reported for the waited-for child), i.e. per core: on a shared machine the wall-clock figure
 * also measures how much of a core the scheduler gave us.
 *
 * The policy is shaped like what keylime-policy create writes: format version 1, "digests"
 * path -> [hex digest] for every entry, a few common excludes, ima.log_hash_alg. It is built in
 * memory as JSON text and loaded with vtc_runtime_policy_new_from_json(), as the verifier
 * loads one. Every entry is accepted by its digest (boot_aggregate is skipped, the verifier
 * checks it against PCRs 0-9); the bench fails if any entry is not, or if the policy does not
 * tell a wrong digest or an unknown path from a listed one.
 *
 * ima_replay_allowlist (secondary): the same with a hash set of (digest, path) pairs written
 * for the benchmark instead of the policy checker, i.e. the replayer with the cheapest
 * realistic per-entry lookup: the difference between the two is the cost of the checker.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "vtc-bench.h"
#include "vtc-ima.h"
#include "vtc-policy.h"

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

/* The runtime-policy check of the log being replayed: a fresh check per replay of the log. */
typedef struct {
        const VtcRuntimePolicy *policy;
        VtcRuntimePolicyCheck *check;
        guint64 failed;
        gchar *first_failure;
} VtcBenchPolicy;

/* What to check each entry with, and what to do before each replay of the whole log. */
typedef struct {
        VtcImaEntryFunc entry_cb;
        void (*round_cb)(gpointer user_data);
        gpointer user_data;
} VtcBenchChecker;

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

/*
 * The runtime policy keylime-policy create would write for @entries: every path with each
 * digest it was measured with, in hex, and the usual excludes (none of which matches a path of
 * this log except /var/log/wtmp, which is listed by digest as well).
 */
static gchar *
vtc_bench_ima_policy_json(GPtrArray *entries, const gchar *log_hash_alg)
{
        static const gchar *const excludes[] = {
            "/tmp/.*",
            "/var/tmp/.*",
            "/var/log/.*",
            "/var/cache/.*",
            "/var/lib/keylime/.*",
            "/run/.*",
            "/proc/.*",
            "/sys/.*",
            "/dev/.*",
            "/home/[^/]+/\\.cache/.*",
        };
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        /* path -> GPtrArray of hex digests, in log order */
        g_autoptr(GHashTable) by_path =
            g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_ptr_array_unref);
        g_autoptr(GPtrArray) paths = g_ptr_array_new();

        for (guint i = 0; i < entries->len; i++) {
                const VtcImaEntry *e = g_ptr_array_index(entries, i);
                g_autofree gchar *hex = vtc_hex_encode(e->file_hash, e->file_hash_len);
                GPtrArray *list = g_hash_table_lookup(by_path, e->path);
                if (list == NULL) {
                        list = g_ptr_array_new_with_free_func(g_free);
                        g_hash_table_insert(by_path, e->path, list);
                        g_ptr_array_add(paths, e->path);
                }
                if (!g_ptr_array_find_with_equal_func(list, hex, g_str_equal, NULL))
                        g_ptr_array_add(list, g_steal_pointer(&hex));
        }

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "meta");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_int_value(b, 1);
        json_builder_set_member_name(b, "generator");
        json_builder_add_int_value(b, 1);
        json_builder_set_member_name(b, "timestamp");
        json_builder_add_string_value(b, "2024-01-01 00:00:00.000000");
        json_builder_end_object(b);
        json_builder_set_member_name(b, "release");
        json_builder_add_int_value(b, 0);
        json_builder_set_member_name(b, "digests");
        json_builder_begin_object(b);
        for (guint i = 0; i < paths->len; i++) {
                const gchar *path = g_ptr_array_index(paths, i);
                GPtrArray *list = g_hash_table_lookup(by_path, path);
                json_builder_set_member_name(b, path);
                json_builder_begin_array(b);
                for (guint j = 0; j < list->len; j++)
                        json_builder_add_string_value(b, g_ptr_array_index(list, j));
                json_builder_end_array(b);
        }
        json_builder_end_object(b);
        json_builder_set_member_name(b, "excludes");
        json_builder_begin_array(b);
        for (guint i = 0; i < G_N_ELEMENTS(excludes); i++)
                json_builder_add_string_value(b, excludes[i]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "keyrings");
        json_builder_begin_object(b);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "ima");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "ignored_keyrings");
        json_builder_begin_array(b);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "log_hash_alg");
        json_builder_add_string_value(b, log_hash_alg);
        json_builder_set_member_name(b, "dm_policy");
        json_builder_add_null_value(b);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "ima-buf");
        json_builder_begin_object(b);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "verification-keys");
        json_builder_add_string_value(b, "");
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}

/* The verdict on one entry: -1 accepted, else its VtcRuntimePolicyReason. */
static gint
vtc_bench_ima_policy_verdict(const VtcRuntimePolicy *policy, const VtcImaEntry *e)
{
        g_autoptr(VtcRuntimePolicyCheck) check =
            vtc_runtime_policy_check_new(policy, VTC_RUNTIME_POLICY_CHECK_NONE);
        g_autoptr(VtcRuntimePolicyFailure) failure = NULL;

        if (!vtc_runtime_policy_check_entry(check, e, 0, &failure, NULL))
                return G_MININT;
        return failure != NULL ? (gint)failure->reason : -1;
}

/*
 * The policy must accept @e, refuse it with another digest or an unknown path, and accept an
 * excluded path whatever its digest, or it measures nothing.
 */
static gboolean
vtc_bench_ima_policy_works(const VtcRuntimePolicy *policy, const VtcImaEntry *e)
{
        guint8 other[64];
        gchar tmp_path[] = "/tmp/not-listed";
        gchar unknown_path[] = "/nonexistent";
        VtcImaEntry wrong_digest = *e;
        VtcImaEntry excluded = *e;
        VtcImaEntry unknown = *e;

        if (e->file_hash_len == 0 || e->file_hash_len > sizeof(other))
                return FALSE;
        memcpy(other, e->file_hash, e->file_hash_len);
        other[e->file_hash_len - 1] ^= 1;
        wrong_digest.file_hash = other;
        excluded.file_hash = other;
        excluded.path = tmp_path;
        unknown.path = unknown_path;
        return vtc_bench_ima_policy_verdict(policy, e) == -1 &&
               vtc_bench_ima_policy_verdict(policy, &wrong_digest) ==
                   VTC_RUNTIME_POLICY_REASON_DIGEST_NOT_IN_POLICY &&
               vtc_bench_ima_policy_verdict(policy, &excluded) == -1 &&
               vtc_bench_ima_policy_verdict(policy, &unknown) ==
                   VTC_RUNTIME_POLICY_REASON_PATH_NOT_IN_POLICY;
}

static void
vtc_bench_ima_policy_round_cb(gpointer user_data)
{
        VtcBenchPolicy *bp = user_data;

        g_clear_pointer(&bp->check, vtc_runtime_policy_check_free);
        bp->check = vtc_runtime_policy_check_new(bp->policy, VTC_RUNTIME_POLICY_CHECK_NONE);
}

static gboolean
vtc_bench_ima_policy_cb(const VtcImaEntry *entry, guint64 index, gpointer user_data, GError **error)
{
        VtcBenchPolicy *bp = user_data;
        VtcRuntimePolicyFailure *failure = NULL;

        if (!vtc_runtime_policy_check_entry(bp->check, entry, (guint)index, &failure, error))
                return FALSE;
        if (failure != NULL) {
                if (bp->failed++ == 0)
                        bp->first_failure = vtc_runtime_policy_failure_to_string(failure);
                vtc_runtime_policy_failure_free(failure);
        }
        return TRUE;
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
 * Replays the log repeatedly for @seconds, checking each entry with @checker (may be NULL);
 * returns entries per second of wall-clock time, or < 0 on error, and entries per second of
 * this thread's CPU time in *out_cpu_rate.
 */
static gdouble
vtc_bench_ima_rate(const guint8 *data,
                   gsize len,
                   VtcImaReplayFlags flags,
                   const VtcBenchChecker *checker,
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
                if (checker != NULL && checker->round_cb != NULL)
                        checker->round_cb(checker->user_data);
                if (!vtc_ima_replay(data,
                                    len,
                                    VTC_IMA_FORMAT_BINARY,
                                    flags,
                                    &st,
                                    checker != NULL ? checker->entry_cb : NULL,
                                    checker != NULL ? checker->user_data : NULL,
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

/* After a replay with the policy: every entry accepted by digest but boot_aggregate. */
static gboolean
vtc_bench_ima_policy_all_accepted(VtcBenchPolicy *bp, guint64 n_entries, guint copies)
{
        VtcRuntimePolicyCheckStats stats;

        vtc_runtime_policy_check_get_stats(bp->check, &stats);
        if (bp->failed != 0 || stats.checked != n_entries || stats.skipped != copies ||
            stats.by_digest != n_entries - copies) {
                g_printerr("bench ima: the runtime policy refused %" G_GUINT64_FORMAT
                           " entries (first: %s); last log: %u checked, %u skipped, %u by "
                           "digest, %u by exclude, %u failed\n",
                           bp->failed,
                           bp->first_failure != NULL ? bp->first_failure : "none",
                           stats.checked,
                           stats.skipped,
                           stats.by_digest,
                           stats.by_exclude,
                           stats.failed);
                return FALSE;
        }
        return TRUE;
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
        g_autofree gchar *policy_json = NULL;
        g_autoptr(VtcRuntimePolicy) policy = NULL;
        g_autofree gchar *tmpdir = NULL;
        g_autofree gchar *log_path = NULL;
        g_autofree gchar *pcrs_path = NULL;
        VtcBenchAllowlist al = {NULL, 0};
        VtcBenchPolicy bp = {NULL, NULL, 0, NULL};
        VtcBenchChecker allow_checker = {vtc_bench_ima_allow_cb, NULL, &al};
        VtcBenchChecker policy_checker = {vtc_bench_ima_policy_cb,
                                          vtc_bench_ima_policy_round_cb,
                                          &bp};
        VtcImaReplayState st;
        const VtcImaEntry *last;
        gboolean ok = TRUE;
        guint copies;
        guint64 n_entries;
        gdouble rate;
        gdouble rate_allow;
        gdouble rate_nocheck;
        gdouble rate_both;
        gdouble rate_bare;
        gdouble evmctl = -1;
        gdouble cpu_rate = 0;
        gdouble cpu_allow = 0;
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
        last = g_ptr_array_index(entries, entries->len - 1);

        allow = vtc_bench_ima_allowlist_new(entries);
        al.allow = allow;
        if (!vtc_bench_ima_allowlist_works(allow, last)) {
                g_printerr("bench ima: the allowlist does not tell entries apart\n");
                return FALSE;
        }
        /* the template hashes of this log are SHA-1 */
        policy_json = vtc_bench_ima_policy_json(entries, "sha1");
        policy = vtc_runtime_policy_new_from_json(policy_json, strlen(policy_json), &error);
        if (policy == NULL) {
                g_printerr("bench ima: the runtime policy: %s\n", error->message);
                return FALSE;
        }
        bp.policy = policy;
        if (!vtc_bench_ima_policy_works(policy, last)) {
                g_printerr("bench ima: the runtime policy does not tell entries apart\n");
                return FALSE;
        }

        rate = vtc_bench_ima_rate(log->data,
                                  log->len,
                                  VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                  &policy_checker,
                                  seconds,
                                  &st,
                                  &cpu_rate);
        if (rate < 0 || !vtc_bench_ima_policy_all_accepted(&bp, n_entries, copies))
                ok = FALSE;
        if (ok && st.count != n_entries) {
                g_printerr("bench ima: replayed %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                           " entries\n",
                           st.count,
                           n_entries);
                ok = FALSE;
        }
        /* the costs split out, for the report (stderr) */
        rate_allow = ok ? vtc_bench_ima_rate(log->data,
                                             log->len,
                                             VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                             &allow_checker,
                                             seconds,
                                             &st,
                                             &cpu_allow)
                        : -1;
        if (ok && (rate_allow < 0 || al.denied != 0)) {
                g_printerr("bench ima: %" G_GUINT64_FORMAT " entries not in the allowlist\n",
                           al.denied);
                ok = FALSE;
        }
        rate_nocheck = ok ? vtc_bench_ima_rate(log->data,
                                               log->len,
                                               VTC_IMA_REPLAY_FLAG_NO_SHA1 |
                                                   VTC_IMA_REPLAY_FLAG_NO_TEMPLATE_HASH_CHECK,
                                               &policy_checker,
                                               seconds / 2,
                                               &st,
                                               &cpu_nocheck)
                          : -1;
        rate_bare = ok ? vtc_bench_ima_rate(log->data,
                                            log->len,
                                            VTC_IMA_REPLAY_FLAG_NO_SHA1,
                                            NULL,
                                            seconds / 2,
                                            &st,
                                            &cpu_bare)
                       : -1;
        rate_both = ok ? vtc_bench_ima_rate(log->data,
                                            log->len,
                                            VTC_IMA_REPLAY_FLAG_NONE,
                                            &policy_checker,
                                            seconds / 2,
                                            &st,
                                            &cpu_both)
                       : -1;
        if (ok && (rate_nocheck < 0 || rate_bare < 0 || rate_both < 0 ||
                   !vtc_bench_ima_policy_all_accepted(&bp, n_entries, copies)))
                ok = FALSE;
        g_clear_pointer(&bp.check, vtc_runtime_policy_check_free);
        g_clear_pointer(&bp.first_failure, g_free);
        if (!ok)
                return FALSE;

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

        g_printerr("bench ima: %" G_GUINT64_FORMAT " entries, a runtime policy of %u paths and %u "
                   "excludes; entries/s (wall clock | per CPU second): SHA-256 bank + template "
                   "hash check + runtime policy %.0f | %.0f, the same with the bench's own "
                   "allowlist instead %.0f | %.0f, without the template hash check %.0f | %.0f, "
                   "without the policy %.0f | %.0f, both banks %.0f | %.0f, evmctl %.0f | %.0f\n",
                   n_entries,
                   vtc_runtime_policy_get_n_paths(policy),
                   vtc_runtime_policy_get_n_excludes(policy),
                   rate,
                   cpu_rate,
                   rate_allow,
                   cpu_allow,
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
        vtc_bench_print("ima_replay_allowlist", rate_allow, "entries/s", evmctl);
        vtc_bench_print("ima_replay_allowlist_cpu", cpu_allow, "entries/s", cpu_evmctl);
        return TRUE;
}
