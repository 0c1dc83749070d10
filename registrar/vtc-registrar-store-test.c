/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's group commit: concurrent writers share commits, an operation that fails in a
 * shared batch fails alone (its savepoint is rolled back, the others' changes stay), and every
 * change a call reported as done is in the database file when it is opened again.
 */
#include <sqlite3.h>

#include "vtc-error.h"
#include "vtc-registrar-store.h"
#include "vtc-test-common.h"

#define THREADS    8
#define PER_THREAD 40
#define SHARED_IDS 5 /* ids every thread registers, each with its own EK: one wins each */
#define EK_SIZE    16

typedef struct {
        gchar *dir;
        gchar *path;
        VtcRegistrarStore *store;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;

        f->dir = vtc_test_tmpdir_new();
        f->path = g_build_filename(f->dir, "registrar.db", NULL);
        f->store = vtc_registrar_store_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->store);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        vtc_registrar_store_free(f->store);
        g_free(f->path);
        vtc_test_tmpdir_free(f->dir);
}

static GBytes *
bytes_filled(guint8 fill, gsize len)
{
        guint8 buf[64];

        g_assert_cmpuint(len, <=, sizeof(buf));
        memset(buf, fill, len);
        return g_bytes_new(buf, len);
}

static VtcRegistrarRecord *
record_new(const gchar *id, guint8 ek_fill, guint8 secret_fill)
{
        VtcRegistrarRecord *rec = g_new0(VtcRegistrarRecord, 1);

        rec->kind = VTC_REGISTRAR_KIND_HOST;
        rec->id = g_strdup(id);
        rec->ek_public = bytes_filled(ek_fill, EK_SIZE);
        rec->ak_public = bytes_filled(0xaa, 20);
        rec->ak_name = bytes_filled(0xbb, 34);
        rec->secret = bytes_filled(secret_fill, 32);
        return rec;
}

typedef struct {
        Fixture *f;
        guint thread;
        guint registered;
        guint conflicts;
        guint activated;
        guint wrong_secret;
        guint shared_won;
} Worker;

/* Each thread: its own ids registered and activated (every second one first with a wrong
 * secret, which must fail alone), plus a race with every other thread for the shared ids. */
static gpointer
worker_thread(gpointer data)
{
        Worker *w = data;

        for (guint i = 0; i < PER_THREAD; i++) {
                g_autofree gchar *id = g_strdup_printf("t%u-h%u", w->thread, i);
                g_autoptr(VtcRegistrarRecord) rec = record_new(id, (guint8)w->thread, (guint8)i);
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) wrong = bytes_filled(0xee, 32);

                g_assert_true(vtc_registrar_store_register(w->f->store, rec, &error));
                g_assert_no_error(error);
                w->registered++;
                if (i % 2 == 0) {
                        g_assert_false(vtc_registrar_store_activate(w->f->store,
                                                                    VTC_REGISTRAR_KIND_HOST,
                                                                    id,
                                                                    wrong,
                                                                    &error));
                        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                        g_clear_error(&error);
                        w->wrong_secret++;
                }
                g_assert_true(vtc_registrar_store_activate(w->f->store,
                                                           VTC_REGISTRAR_KIND_HOST,
                                                           id,
                                                           rec->secret,
                                                           &error));
                g_assert_no_error(error);
                w->activated++;
                if (i < SHARED_IDS) {
                        g_autofree gchar *shared = g_strdup_printf("shared-%u", i);
                        g_autoptr(VtcRegistrarRecord) s =
                            record_new(shared, (guint8)(0x80 + w->thread), 1);

                        if (vtc_registrar_store_register(w->f->store, s, &error)) {
                                w->shared_won++;
                        } else {
                                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                                g_clear_error(&error);
                                w->conflicts++;
                        }
                }
        }
        return NULL;
}

static void
check_all(VtcRegistrarStore *store)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) all = vtc_registrar_store_list(store, VTC_REGISTRAR_KIND_HOST, &error);
        guint active = 0;

        g_assert_no_error(error);
        g_assert_cmpuint(all->len, ==, THREADS * PER_THREAD + SHARED_IDS);
        for (guint i = 0; i < all->len; i++) {
                VtcRegistrarRecord *rec = g_ptr_array_index(all, i);
                if (g_str_has_prefix(rec->id, "shared-")) {
                        g_assert_cmpstr(rec->state, ==, "registered");
                        continue;
                }
                g_assert_cmpstr(rec->state, ==, "active");
                g_assert_null(rec->secret);
                active++;
        }
        g_assert_cmpuint(active, ==, THREADS * PER_THREAD);
}

static void
test_concurrent(Fixture *f, gconstpointer user_data)
{
        Worker w[THREADS];
        GThread *t[THREADS];
        guint won = 0;
        guint conflicts = 0;
        g_autoptr(GError) error = NULL;

        for (guint i = 0; i < THREADS; i++) {
                w[i] = (Worker){.f = f, .thread = i};
                t[i] = g_thread_new("store-test", worker_thread, &w[i]);
        }
        for (guint i = 0; i < THREADS; i++) {
                g_thread_join(t[i]);
                g_assert_cmpuint(w[i].registered, ==, PER_THREAD);
                g_assert_cmpuint(w[i].activated, ==, PER_THREAD);
                g_assert_cmpuint(w[i].wrong_secret, ==, PER_THREAD / 2);
                won += w[i].shared_won;
                conflicts += w[i].conflicts;
        }
        /* each shared id went to exactly one thread, everyone else was refused */
        g_assert_cmpuint(won, ==, SHARED_IDS);
        g_assert_cmpuint(conflicts, ==, SHARED_IDS * (THREADS - 1));
        check_all(f->store);

        /* everything reported done is in the file */
        vtc_registrar_store_free(f->store);
        f->store = vtc_registrar_store_open(f->path, &error);
        g_assert_no_error(error);
        check_all(f->store);
}

typedef struct {
        VtcRegistrarStore *store;
        GCond *cond;
        GMutex *mutex;
        guint *started;
        gboolean ok;
        GError *error;
        gint op;
} Racer;

/* All threads wait until every one is ready, so that their writes land in shared batches. */
static gpointer
racer_thread(gpointer data)
{
        Racer *r = data;
        g_autofree gchar *id = g_strdup_printf("r%d", r->op);

        g_mutex_lock(r->mutex);
        (*r->started)++;
        g_cond_broadcast(r->cond);
        while (*r->started < THREADS)
                g_cond_wait(r->cond, r->mutex);
        g_mutex_unlock(r->mutex);
        if (r->op % 3 == 0) {
                /* fails: nothing to delete */
                r->ok = vtc_registrar_store_delete(r->store,
                                                   VTC_REGISTRAR_KIND_AGENT,
                                                   "00000000-0000-0000-0000-000000000000",
                                                   &r->error);
        } else {
                g_autoptr(VtcRegistrarRecord) rec = record_new(id, 1, 2);
                r->ok = vtc_registrar_store_register(r->store, rec, &r->error);
        }
        return NULL;
}

static void
test_failure_alone(Fixture *f, gconstpointer user_data)
{
        GMutex mutex;
        GCond cond;
        guint started = 0;
        Racer r[THREADS];
        GThread *t[THREADS];

        g_mutex_init(&mutex);
        g_cond_init(&cond);
        for (gint round = 0; round < 20; round++) {
                started = 0;
                for (gint i = 0; i < THREADS; i++) {
                        r[i] = (Racer){f->store, &cond, &mutex, &started, FALSE, NULL, 0};
                        r[i].op = round * THREADS + i;
                        t[i] = g_thread_new("store-race", racer_thread, &r[i]);
                }
                for (gint i = 0; i < THREADS; i++) {
                        g_autoptr(GError) error = NULL;
                        g_autofree gchar *id = g_strdup_printf("r%d", r[i].op);
                        g_autoptr(VtcRegistrarRecord) rec = NULL;

                        g_thread_join(t[i]);
                        rec =
                            vtc_registrar_store_get(f->store, VTC_REGISTRAR_KIND_HOST, id, &error);
                        if (r[i].op % 3 == 0) {
                                g_assert_false(r[i].ok);
                                g_assert_error(r[i].error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
                                g_assert_null(rec);
                                g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
                        } else {
                                g_assert_no_error(r[i].error);
                                g_assert_true(r[i].ok);
                                g_assert_no_error(error);
                                g_assert_nonnull(rec);
                                g_assert_cmpstr(rec->state, ==, "registered");
                        }
                        g_clear_error(&r[i].error);
                }
        }
        g_mutex_clear(&mutex);
        g_cond_clear(&cond);
}

typedef struct {
        VtcRegistrarStore *store;
        gboolean ok;
        GError *error;
} Blocked;

static gpointer
blocked_thread(gpointer data)
{
        Blocked *b = data;
        g_autoptr(VtcRegistrarRecord) rec = record_new("h-waited", 3, 4);

        b->ok = vtc_registrar_store_register(b->store, rec, &b->error);
        return NULL;
}

/* Another connection (another process) holds the write lock: the batch waits for it, then
 * goes through, and sees what the other one committed. */
static void
test_other_connection(Fixture *f, gconstpointer user_data)
{
        sqlite3 *other = NULL;
        g_autoptr(GError) error = NULL;
        Blocked b = {f->store, FALSE, NULL};
        GThread *t;

        g_assert_cmpint(sqlite3_open(f->path, &other), ==, SQLITE_OK);
        g_assert_cmpint(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);
        g_assert_cmpint(sqlite3_exec(other,
                                     "INSERT INTO hosts (id, state, ek_public, ak_public, "
                                     "ak_name, created) VALUES ('h-other', 'registered', x'00', "
                                     "x'00', x'00', 0)",
                                     NULL,
                                     NULL,
                                     NULL),
                        ==,
                        SQLITE_OK);
        t = g_thread_new("store-blocked", blocked_thread, &b);
        g_usleep(200 * 1000);
        /* not committed yet: invisible to the store's reads */
        {
                g_autoptr(VtcRegistrarRecord) got =
                    vtc_registrar_store_get(f->store, VTC_REGISTRAR_KIND_HOST, "h-other", &error);
                g_assert_null(got);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
                g_clear_error(&error);
        }
        g_assert_cmpint(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
        g_thread_join(t);
        g_assert_no_error(b.error);
        g_assert_true(b.ok);
        {
                g_autoptr(VtcRegistrarRecord) got =
                    vtc_registrar_store_get(f->store, VTC_REGISTRAR_KIND_HOST, "h-other", &error);
                g_assert_no_error(error);
                g_assert_nonnull(got);
        }
        /* an id the other connection registered is the store's conflict too */
        {
                g_autoptr(VtcRegistrarRecord) clash = record_new("h-other", 9, 9);
                g_assert_false(vtc_registrar_store_register(f->store, clash, &error));
                g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
                g_clear_error(&error);
        }
        sqlite3_close(other);
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/registrar-store/concurrent",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_concurrent,
                   fixture_teardown);
        g_test_add("/registrar-store/failure-alone",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_failure_alone,
                   fixture_teardown);
        g_test_add("/registrar-store/other-connection",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_other_connection,
                   fixture_teardown);
        return g_test_run();
}
