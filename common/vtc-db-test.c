/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-db.h"
#include "vtc-error.h"
#include "vtc-test-common.h"

static const gchar *migrations_v1[] = {
    "CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    NULL,
};
static const gchar *migrations_v2[] = {
    "CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    "ALTER TABLE t ADD COLUMN w TEXT; UPDATE t SET w = 'x';",
    NULL,
};
static const gchar *migrations_bad[] = {
    "CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    "ALTER TABLE t ADD COLUMN w TEXT; THIS IS NOT SQL;",
    NULL,
};

static gint64
count_rows(VtcDb *db)
{
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(db, "SELECT count(*) FROM t", NULL);
        g_assert_nonnull(stmt);
        g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
        return sqlite3_column_int64(stmt, 0);
}

static void
vtc_db_migrate_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "t.db", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcDb) db = vtc_db_open(path, migrations_v1, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(vtc_db_get_version(db), ==, 1);
        g_assert_true(vtc_db_exec(db, "INSERT INTO t VALUES ('a', 1)", &error));
        g_clear_pointer(&db, vtc_db_free);

        /* a failing migration rolls back: version and data as they were, file kept */
        db = vtc_db_open(path, migrations_bad, &error);
        g_assert_null(db);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_assert_nonnull(strstr(error->message, "from version 1"));
        g_clear_error(&error);
        g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
        db = vtc_db_open(path, migrations_v1, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_db_get_version(db), ==, 1);
        g_assert_cmpint(count_rows(db), ==, 1);
        g_clear_pointer(&db, vtc_db_free);

        db = vtc_db_open(path, migrations_v2, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(vtc_db_get_version(db), ==, 2);
        g_assert_cmpint(count_rows(db), ==, 1);
        g_clear_pointer(&db, vtc_db_free);

        /* newer than the code: refused, untouched */
        db = vtc_db_open(path, migrations_v1, &error);
        g_assert_null(db);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "newer"));
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

static void
vtc_db_conflict_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *path = g_build_filename(dir, "t.db", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcDb) db = vtc_db_open(path, migrations_v1, &error);

        g_assert_no_error(error);
        g_assert_true(vtc_db_begin(db, &error));
        g_assert_true(vtc_db_exec(db, "INSERT INTO t VALUES ('a', 1)", &error));
        g_assert_false(vtc_db_exec(db, "INSERT INTO t VALUES ('a', 2)", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_CONFLICT);
        g_clear_error(&error);
        vtc_db_rollback(db);
        g_assert_cmpint(count_rows(db), ==, 0);
        g_assert_null(vtc_db_prepare(db, "SELECT nonsense FROM nowhere", &error));
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        g_clear_error(&error);
        g_clear_pointer(&db, vtc_db_free);

        db = vtc_db_open("/nonexistent/dir/t.db", migrations_v1, &error);
        g_assert_null(db);
        g_assert_error(error, VTC_ERROR, VTC_ERROR_IO);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/db/migrate", vtc_db_migrate_test);
        g_test_add_func("/db/conflict", vtc_db_conflict_test);
        return g_test_run();
}
