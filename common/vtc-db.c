/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-db.h"

#include "vtc-error.h"

struct _VtcDb {
        sqlite3 *db;
        gchar *path;
        guint version;
};

void
vtc_db_free(VtcDb *self)
{
        if (self == NULL)
                return;
        sqlite3_close_v2(self->db);
        g_free(self->path);
        g_free(self);
}

void
vtc_db_set_error(VtcDb *self, GError **error, const gchar *what)
{
        int ext = sqlite3_extended_errcode(self->db);
        gint code = (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
                        ? VTC_ERROR_CONFLICT
                        : VTC_ERROR_IO;

        g_set_error(error,
                    VTC_ERROR,
                    code,
                    "%s: %s: %s",
                    self->path,
                    what,
                    sqlite3_errmsg(self->db));
}

gboolean
vtc_db_exec(VtcDb *self, const gchar *sql, GError **error)
{
        if (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                vtc_db_set_error(self, error, "executing SQL");
                return FALSE;
        }
        return TRUE;
}

sqlite3_stmt *
vtc_db_prepare(VtcDb *self, const gchar *sql, GError **error)
{
        sqlite3_stmt *stmt = NULL;

        if (sqlite3_prepare_v2(self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
                vtc_db_set_error(self, error, "preparing SQL");
                return NULL;
        }
        return stmt;
}

gboolean
vtc_db_begin(VtcDb *self, GError **error)
{
        return vtc_db_exec(self, "BEGIN IMMEDIATE", error);
}

gboolean
vtc_db_commit(VtcDb *self, GError **error)
{
        if (!vtc_db_exec(self, "COMMIT", error)) {
                vtc_db_rollback(self);
                return FALSE;
        }
        return TRUE;
}

void
vtc_db_rollback(VtcDb *self)
{
        /* a failed ROLLBACK means there was no transaction left to undo */
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
}

static gboolean
vtc_db_read_version(VtcDb *self, guint *out, GError **error)
{
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self, "PRAGMA user_version", error);

        if (stmt == NULL)
                return FALSE;
        if (sqlite3_step(stmt) != SQLITE_ROW) {
                vtc_db_set_error(self, error, "reading the schema version");
                return FALSE;
        }
        *out = (guint)sqlite3_column_int(stmt, 0);
        return TRUE;
}

static gboolean
vtc_db_migrate(VtcDb *self, const gchar *const *migrations, GError **error)
{
        guint n = migrations != NULL ? g_strv_length((gchar **)migrations) : 0;

        if (!vtc_db_read_version(self, &self->version, error))
                return FALSE;
        if (self->version > n) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "%s: schema version %u is newer than this program knows (%u): "
                            "refusing to touch it",
                            self->path,
                            self->version,
                            n);
                return FALSE;
        }
        for (guint v = self->version; v < n; v++) {
                g_autofree gchar *bump = g_strdup_printf("PRAGMA user_version = %u", v + 1);

                if (!vtc_db_begin(self, error))
                        return FALSE;
                if (!vtc_db_exec(self, migrations[v], error) || !vtc_db_exec(self, bump, error)) {
                        vtc_db_rollback(self);
                        g_prefix_error(error, "migrating the schema from version %u: ", v);
                        return FALSE;
                }
                if (!vtc_db_commit(self, error)) {
                        g_prefix_error(error, "migrating the schema from version %u: ", v);
                        return FALSE;
                }
                self->version = v + 1;
        }
        return TRUE;
}

VtcDb *
vtc_db_open(const gchar *path, const gchar *const *migrations, GError **error)
{
        g_autoptr(VtcDb) self = g_new0(VtcDb, 1);
        int rc;

        self->path = g_strdup(path);
        rc = sqlite3_open_v2(path,
                             &self->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "opening database %s: %s",
                            path,
                            self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
                return NULL;
        }
        sqlite3_extended_result_codes(self->db, 1);
        sqlite3_busy_timeout(self->db, 5000);
        /* WAL: readers never block the writer; synchronous=FULL: a committed row survives a crash
         * of the process or of the machine. */
        if (!vtc_db_exec(self, "PRAGMA journal_mode = WAL", error) ||
            !vtc_db_exec(self, "PRAGMA synchronous = FULL", error) ||
            !vtc_db_exec(self, "PRAGMA foreign_keys = ON", error))
                return NULL;
        if (!vtc_db_migrate(self, migrations, error))
                return NULL;
        return g_steal_pointer(&self);
}

sqlite3 *
vtc_db_get_handle(VtcDb *self)
{
        return self->db;
}

guint
vtc_db_get_version(VtcDb *self)
{
        return self->version;
}
