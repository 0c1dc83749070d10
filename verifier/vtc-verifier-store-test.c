/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's store on a real sqlite file: adding, reading, listing with pages, the loop's
 * batched updates and history, deletion with its history, persistence across a reopen, and
 * refused input that leaves the file exactly as it was.
 */
#include <sqlite3.h>

#include "vtc-error.h"
#include "vtc-test-common.h"
#include "vtc-verifier-store.h"

#define UUID_A "6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"
#define UUID_B "7f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f"

typedef struct {
        gchar *dir;
        gchar *path;
        VtcVerifierStore *store;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;

        f->dir = vtc_test_tmpdir_new();
        f->path = g_build_filename(f->dir, "verifier.db", NULL);
        f->store = vtc_verifier_store_open(f->path, &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->store);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        vtc_verifier_store_free(f->store);
        g_free(f->path);
        vtc_test_tmpdir_free(f->dir);
}

static VtcVerifierStoreVm *
make_vm(const gchar *uuid)
{
        VtcVerifierStoreVm *vm = g_new0(VtcVerifierStoreVm, 1);

        vm->uuid = g_strdup(uuid);
        vm->mode = g_strdup("host");
        vm->runtime_policy = g_strdup("{\"meta\":{\"version\":1}}");
        vm->boot_policy = g_strdup("{\"pcrs\":{}}");
        vm->state = g_strdup("registered");
        vm->created = 1000;
        vm->updated = 1000;
        return vm;
}

/* Every row of every table, as text: equal dumps mean nothing changed. */
static gchar *
dump(const gchar *path)
{
        sqlite3 *db = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        const gchar *tables[] = {"SELECT * FROM vms ORDER BY uuid",
                                 "SELECT * FROM history ORDER BY seq"};

        g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
        for (guint t = 0; t < G_N_ELEMENTS(tables); t++) {
                sqlite3_stmt *stmt = NULL;
                g_assert_cmpint(sqlite3_prepare_v2(db, tables[t], -1, &stmt, NULL), ==, SQLITE_OK);
                while (sqlite3_step(stmt) == SQLITE_ROW) {
                        for (int c = 0; c < sqlite3_column_count(stmt); c++) {
                                const guchar *s = sqlite3_column_text(stmt, c);
                                g_string_append_printf(out,
                                                       "%s|",
                                                       s != NULL ? (const gchar *)s : "NULL");
                        }
                        g_string_append_c(out, '\n');
                }
                sqlite3_finalize(stmt);
        }
        sqlite3_close(db);
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
test_add_get_list(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVerifierStoreVm) a = make_vm(UUID_A);
        g_autoptr(VtcVerifierStoreVm) b = make_vm(UUID_B);
        g_autoptr(VtcVerifierStoreVm) got = NULL;
        g_autoptr(GPtrArray) page = NULL;
        g_autoptr(GPtrArray) hist = NULL;
        gint64 next = -1;

        g_assert_true(vtc_verifier_store_add(f->store, b, &error));
        g_assert_no_error(error);
        g_assert_true(vtc_verifier_store_add(f->store, a, &error));
        g_assert_no_error(error);
        got = vtc_verifier_store_get(f->store, UUID_A, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(got->mode, ==, "host");
        g_assert_cmpstr(got->state, ==, "registered");
        g_assert_cmpstr(got->runtime_policy, ==, a->runtime_policy);
        g_assert_cmpstr(got->boot_policy, ==, a->boot_policy);
        g_assert_null(got->host_policy);
        g_assert_null(got->check_state);
        g_assert_cmpint(got->created, ==, 1000);

        page = vtc_verifier_store_list(f->store, NULL, NULL, 1, FALSE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(page->len, ==, 1);
        g_assert_cmpstr(((VtcVerifierStoreVm *)page->pdata[0])->uuid, ==, UUID_A);
        g_assert_null(((VtcVerifierStoreVm *)page->pdata[0])->runtime_policy);
        g_clear_pointer(&page, g_ptr_array_unref);
        page = vtc_verifier_store_list(f->store, NULL, UUID_A, 10, TRUE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(page->len, ==, 1);
        g_assert_cmpstr(((VtcVerifierStoreVm *)page->pdata[0])->uuid, ==, UUID_B);
        g_assert_nonnull(((VtcVerifierStoreVm *)page->pdata[0])->runtime_policy);
        g_clear_pointer(&page, g_ptr_array_unref);
        page = vtc_verifier_store_list(f->store, "trusted", NULL, 10, FALSE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(page->len, ==, 0);

        hist = vtc_verifier_store_history(f->store, UUID_A, 0, 10, &next, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(hist->len, ==, 1);
        g_assert_cmpstr(((VtcVerifierStoreEvent *)hist->pdata[0])->kind, ==, "added");
        g_assert_cmpint(next, ==, 0);
}

static void
test_update_history_persist(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVerifierStoreVm) a = make_vm(UUID_A);
        g_autoptr(VtcVerifierStoreVm) gone = make_vm(UUID_B);
        g_autoptr(GPtrArray) vms = g_ptr_array_new();
        g_autoptr(GPtrArray) evs =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_event_free);
        g_autoptr(VtcVerifierStoreVm) got = NULL;
        g_autoptr(GPtrArray) hist = NULL;
        gint64 next = 0;
        gint64 rev_seq;

        g_assert_true(vtc_verifier_store_add(f->store, a, &error));
        g_assert_no_error(error);
        g_free(a->state);
        a->state = g_strdup("failed");
        a->reason = g_strdup("guest_ima_policy");
        a->check_state = g_bytes_new_static("{\"v\":1}", 7);
        a->rounds = 7;
        a->ima_offset = 4096;
        g_ptr_array_add(vms, a);
        g_ptr_array_add(vms, gone); /* never stored: skipped */
        for (guint i = 0; i < 5; i++) {
                VtcVerifierStoreEvent *ev = g_new0(VtcVerifierStoreEvent, 1);
                ev->uuid = g_strdup(i == 4 ? UUID_B : UUID_A);
                ev->time = 2000 + i;
                ev->kind = g_strdup(i == 3 ? "revocation" : "state");
                ev->state = g_strdup("failed");
                ev->event = i == 3 ? g_strdup("{\"type\":\"revocation\"}") : NULL;
                g_ptr_array_add(evs, ev);
        }
        g_assert_true(vtc_verifier_store_update(f->store, vms, evs, &error));
        g_assert_no_error(error);
        rev_seq = ((VtcVerifierStoreEvent *)evs->pdata[3])->seq;
        g_assert_cmpint(rev_seq, >, 0);
        g_assert_cmpint(((VtcVerifierStoreEvent *)evs->pdata[4])->seq, ==, 0);
        g_assert_true(vtc_verifier_store_set_delivery(f->store, rev_seq, 2, 1, &error));
        g_assert_no_error(error);
        g_assert_false(vtc_verifier_store_set_delivery(f->store, 99999, 2, 1, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);

        /* a restart: everything is there */
        vtc_verifier_store_free(f->store);
        f->store = vtc_verifier_store_open(f->path, &error);
        g_assert_no_error(error);
        got = vtc_verifier_store_get(f->store, UUID_A, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(got->state, ==, "failed");
        g_assert_cmpstr(got->reason, ==, "guest_ima_policy");
        g_assert_cmpint(got->rounds, ==, 7);
        g_assert_cmpint(got->ima_offset, ==, 4096);
        g_assert_true(g_bytes_equal(got->check_state, a->check_state));
        g_assert_cmpstr(got->runtime_policy, ==, "{\"meta\":{\"version\":1}}");

        /* pages of 2, newest first: 5 events (added + 4) */
        hist = vtc_verifier_store_history(f->store, UUID_A, 0, 2, &next, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(hist->len, ==, 2);
        g_assert_cmpstr(((VtcVerifierStoreEvent *)hist->pdata[0])->kind, ==, "revocation");
        g_assert_cmpint(((VtcVerifierStoreEvent *)hist->pdata[0])->delivered, ==, 2);
        g_assert_cmpint(((VtcVerifierStoreEvent *)hist->pdata[0])->undelivered, ==, 1);
        g_assert_cmpint(next, ==, ((VtcVerifierStoreEvent *)hist->pdata[1])->seq);
        g_clear_pointer(&hist, g_ptr_array_unref);
        hist = vtc_verifier_store_history(f->store, UUID_A, next, 2, &next, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(hist->len, ==, 2);
        g_clear_pointer(&hist, g_ptr_array_unref);
        hist = vtc_verifier_store_history(f->store, UUID_A, next, 2, &next, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(hist->len, ==, 1);
        g_assert_cmpstr(((VtcVerifierStoreEvent *)hist->pdata[0])->kind, ==, "added");
        g_assert_cmpint(next, ==, 0);

        /* deleting takes the history along */
        g_assert_true(vtc_verifier_store_delete(f->store, UUID_A, &error));
        g_assert_no_error(error);
        g_assert_null(vtc_verifier_store_history(f->store, UUID_A, 0, 10, &next, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(vtc_verifier_store_delete(f->store, UUID_A, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        {
                g_autofree gchar *d = dump(f->path);
                g_assert_cmpstr(d, ==, "");
        }
}

static void
test_bad_input_changes_nothing(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcVerifierStoreVm) a = make_vm(UUID_A);
        g_autoptr(VtcVerifierStoreVm) bad = NULL;
        g_autofree gchar *before = NULL;
        g_autofree gchar *after = NULL;
        g_autoptr(GPtrArray) vms = g_ptr_array_new();
        g_autoptr(GPtrArray) evs =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_event_free);
        VtcVerifierStoreEvent *ev;
        gint64 next = 0;

        g_assert_true(vtc_verifier_store_add(f->store, a, &error));
        g_assert_no_error(error);
        before = dump(f->path);

        /* the same UUID again, even in other case */
        bad = make_vm(UUID_A);
        g_assert_false(vtc_verifier_store_add(f->store, bad, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
        g_clear_error(&error);
        g_clear_pointer(&bad, vtc_verifier_store_vm_free);
        /* a bad UUID, mode, state, no policy */
        bad = make_vm("not-a-uuid");
        g_assert_false(vtc_verifier_store_add(f->store, bad, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_free(bad->uuid);
        bad->uuid = g_strdup(UUID_B);
        g_free(bad->mode);
        bad->mode = g_strdup("sideways");
        g_assert_false(vtc_verifier_store_add(f->store, bad, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_free(bad->mode);
        bad->mode = g_strdup("direct");
        g_free(bad->state);
        bad->state = g_strdup("happy");
        g_assert_false(vtc_verifier_store_add(f->store, bad, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_free(bad->state);
        bad->state = g_strdup("registered");
        g_clear_pointer(&bad->runtime_policy, g_free);
        g_assert_false(vtc_verifier_store_add(f->store, bad, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);

        /* an update with one bad VM among good events: all or nothing */
        ev = g_new0(VtcVerifierStoreEvent, 1);
        ev->uuid = g_strdup(UUID_A);
        ev->kind = g_strdup("state");
        g_ptr_array_add(evs, ev);
        g_free(a->state);
        a->state = g_strdup("confused");
        g_ptr_array_add(vms, a);
        g_assert_false(vtc_verifier_store_update(f->store, vms, evs, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_cmpint(ev->seq, ==, 0);
        /* an event of an unknown kind: refused by the schema, nothing written */
        g_free(a->state);
        a->state = g_strdup("trusted");
        g_free(ev->kind);
        ev->kind = g_strdup("rumour");
        g_assert_false(vtc_verifier_store_update(f->store, vms, evs, &error));
        g_assert_nonnull(error);
        g_clear_error(&error);
        /* bad pages, unknown VMs */
        g_assert_null(vtc_verifier_store_history(f->store, UUID_A, 0, 0, &next, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_verifier_store_list(f->store, "happy", NULL, 10, FALSE, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(vtc_verifier_store_get(f->store, UUID_B, &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND);
        g_clear_error(&error);
        after = dump(f->path);
        g_assert_cmpstr(after, ==, before);
}

static void
test_newer_schema_refused(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "verifier.db", NULL);
        g_autoptr(GError) error = NULL;
        sqlite3 *db = NULL;
        VtcVerifierStore *store;

        g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
        g_assert_cmpint(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
                        ==,
                        SQLITE_OK);
        sqlite3_close(db);
        store = vtc_verifier_store_open(path, &error);
        g_assert_null(store);
        g_assert_nonnull(error);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add("/verifier-store/add-get-list",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_add_get_list,
                   fixture_teardown);
        g_test_add("/verifier-store/update-history-persist",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_update_history_persist,
                   fixture_teardown);
        g_test_add("/verifier-store/bad-input-changes-nothing",
                   Fixture,
                   NULL,
                   fixture_setup,
                   test_bad_input_changes_nothing,
                   fixture_teardown);
        g_test_add_func("/verifier-store/newer-schema-refused", test_newer_schema_refused);
        return g_test_run();
}
