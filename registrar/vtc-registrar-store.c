/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-registrar-store.h"

#include "vtc-db.h"
#include "vtc-error.h"

struct _VtcRegistrarStore {
        VtcDb *db;
        GMutex lock; /* one transaction at a time on the shared connection */
};

static const gchar *vtc_registrar_migrations[] = {
    /* version 1 */
    "CREATE TABLE hosts ("
    "  id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('registered', 'active')),"
    "  ek_public BLOB NOT NULL,"
    "  ek_cert BLOB,"
    "  ak_public BLOB NOT NULL,"
    "  ak_name BLOB NOT NULL,"
    "  secret BLOB,"
    "  created INTEGER NOT NULL,"
    "  activated INTEGER NOT NULL DEFAULT 0,"
    "  vtpm_ca_public BLOB,"
    "  vtpm_ca_key_id BLOB"
    ");"
    "CREATE INDEX hosts_vtpm_ca_key_id ON hosts (vtpm_ca_key_id);"
    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('registered', 'active')),"
    "  ek_public BLOB NOT NULL,"
    "  ek_cert BLOB NOT NULL,"
    "  ak_public BLOB NOT NULL,"
    "  ak_name BLOB NOT NULL,"
    "  secret BLOB,"
    "  created INTEGER NOT NULL,"
    "  activated INTEGER NOT NULL DEFAULT 0,"
    "  host_id TEXT,"
    "  tls_cert BLOB"
    ");",
    NULL,
};

void
vtc_registrar_record_free(VtcRegistrarRecord *rec)
{
        if (rec == NULL)
                return;
        g_free(rec->id);
        g_free(rec->state);
        g_clear_pointer(&rec->ek_public, g_bytes_unref);
        g_clear_pointer(&rec->ek_cert, g_bytes_unref);
        g_clear_pointer(&rec->ak_public, g_bytes_unref);
        g_clear_pointer(&rec->ak_name, g_bytes_unref);
        g_clear_pointer(&rec->secret, g_bytes_unref);
        g_clear_pointer(&rec->vtpm_ca_public, g_bytes_unref);
        g_clear_pointer(&rec->vtpm_ca_key_id, g_bytes_unref);
        g_free(rec->host_id);
        g_clear_pointer(&rec->tls_cert, g_bytes_unref);
        g_free(rec);
}

static const gchar *
vtc_registrar_table(VtcRegistrarKind kind)
{
        return kind == VTC_REGISTRAR_KIND_HOST ? "hosts" : "agents";
}

VtcRegistrarStore *
vtc_registrar_store_open(const gchar *path, GError **error)
{
        g_autoptr(VtcDb) db = vtc_db_open(path, vtc_registrar_migrations, error);
        VtcRegistrarStore *self;

        if (db == NULL)
                return NULL;
        self = g_new0(VtcRegistrarStore, 1);
        self->db = g_steal_pointer(&db);
        g_mutex_init(&self->lock);
        return self;
}

void
vtc_registrar_store_free(VtcRegistrarStore *self)
{
        if (self == NULL)
                return;
        vtc_db_free(self->db);
        g_mutex_clear(&self->lock);
        g_free(self);
}

static void
vtc_bind_bytes(sqlite3_stmt *stmt, int idx, GBytes *b)
{
        if (b == NULL) {
                sqlite3_bind_null(stmt, idx);
                return;
        }
        sqlite3_bind_blob(stmt,
                          idx,
                          g_bytes_get_data(b, NULL),
                          (int)g_bytes_get_size(b),
                          SQLITE_TRANSIENT);
}

static GBytes *
vtc_column_bytes(sqlite3_stmt *stmt, int col)
{
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
                return NULL;
        return g_bytes_new(sqlite3_column_blob(stmt, col), (gsize)sqlite3_column_bytes(stmt, col));
}

static gchar *
vtc_column_text(sqlite3_stmt *stmt, int col)
{
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
                return NULL;
        return g_strdup((const gchar *)sqlite3_column_text(stmt, col));
}

#define VTC_HOST_COLUMNS                                                                  \
        "id, state, ek_public, ek_cert, ak_public, ak_name, secret, created, activated, " \
        "vtpm_ca_public, vtpm_ca_key_id"
#define VTC_AGENT_COLUMNS                                                                 \
        "id, state, ek_public, ek_cert, ak_public, ak_name, secret, created, activated, " \
        "host_id, tls_cert"

static VtcRegistrarRecord *
vtc_registrar_record_from_row(VtcRegistrarKind kind, sqlite3_stmt *stmt)
{
        VtcRegistrarRecord *rec = g_new0(VtcRegistrarRecord, 1);

        rec->kind = kind;
        rec->id = vtc_column_text(stmt, 0);
        rec->state = vtc_column_text(stmt, 1);
        rec->ek_public = vtc_column_bytes(stmt, 2);
        rec->ek_cert = vtc_column_bytes(stmt, 3);
        rec->ak_public = vtc_column_bytes(stmt, 4);
        rec->ak_name = vtc_column_bytes(stmt, 5);
        rec->secret = vtc_column_bytes(stmt, 6);
        rec->created = sqlite3_column_int64(stmt, 7);
        rec->activated = sqlite3_column_int64(stmt, 8);
        if (kind == VTC_REGISTRAR_KIND_HOST) {
                rec->vtpm_ca_public = vtc_column_bytes(stmt, 9);
                rec->vtpm_ca_key_id = vtc_column_bytes(stmt, 10);
        } else {
                rec->host_id = vtc_column_text(stmt, 9);
                rec->tls_cert = vtc_column_bytes(stmt, 10);
        }
        return rec;
}

/* Runs with the lock held. */
static VtcRegistrarRecord *
vtc_registrar_store_get_locked(VtcRegistrarStore *self,
                               VtcRegistrarKind kind,
                               const gchar *id,
                               GError **error)
{
        g_autofree gchar *sql =
            g_strdup_printf("SELECT %s FROM %s WHERE id = ?1",
                            kind == VTC_REGISTRAR_KIND_HOST ? VTC_HOST_COLUMNS : VTC_AGENT_COLUMNS,
                            vtc_registrar_table(kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);
        int rc;

        if (stmt == NULL)
                return NULL;
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no %s '%s' is registered",
                            kind == VTC_REGISTRAR_KIND_HOST ? "host" : "agent",
                            id);
                return NULL;
        }
        if (rc != SQLITE_ROW) {
                vtc_db_set_error(self->db, error, "reading a registration");
                return NULL;
        }
        return vtc_registrar_record_from_row(kind, stmt);
}

VtcRegistrarRecord *
vtc_registrar_store_get(VtcRegistrarStore *self,
                        VtcRegistrarKind kind,
                        const gchar *id,
                        GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        return vtc_registrar_store_get_locked(self, kind, id, error);
}

static gboolean
vtc_bytes_equal0(GBytes *a, GBytes *b)
{
        if (a == NULL || b == NULL)
                return a == b;
        return g_bytes_equal(a, b);
}

static gboolean
vtc_registrar_store_step_done(VtcRegistrarStore *self, sqlite3_stmt *stmt, GError **error)
{
        if (sqlite3_step(stmt) != SQLITE_DONE) {
                vtc_db_set_error(self->db, error, "writing a registration");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_registrar_store_register_locked(VtcRegistrarStore *self,
                                    const VtcRegistrarRecord *rec,
                                    GError **error)
{
        g_autoptr(GError) error_local = NULL;
        g_autoptr(VtcRegistrarRecord) old =
            vtc_registrar_store_get_locked(self, rec->kind, rec->id, &error_local);
        g_autoptr(sqlite3_stmt) stmt = NULL;

        if (old == NULL && !g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        if (old != NULL) {
                if (!vtc_bytes_equal0(old->ek_public, rec->ek_public) ||
                    !vtc_bytes_equal0(old->ak_public, rec->ak_public)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_CONFLICT,
                                    "'%s' is registered with another EK or AK; an admin must "
                                    "delete it first",
                                    rec->id);
                        return FALSE;
                }
                /* the same identity again (a retried enrollment): a fresh challenge */
                stmt = vtc_db_prepare(
                    self->db,
                    rec->kind == VTC_REGISTRAR_KIND_HOST
                        ? "UPDATE hosts SET secret = ?2, ek_cert = ?3 WHERE id = ?1"
                        : "UPDATE agents SET secret = ?2, ek_cert = ?3, host_id = ?4, tls_cert = ?5 "
                          "WHERE id = ?1",
                    error);
                if (stmt == NULL)
                        return FALSE;
                sqlite3_bind_text(stmt, 1, rec->id, -1, SQLITE_TRANSIENT);
                vtc_bind_bytes(stmt, 2, rec->secret);
                vtc_bind_bytes(stmt, 3, rec->ek_cert);
                if (rec->kind == VTC_REGISTRAR_KIND_AGENT) {
                        sqlite3_bind_text(stmt, 4, rec->host_id, -1, SQLITE_TRANSIENT);
                        vtc_bind_bytes(stmt, 5, rec->tls_cert);
                }
                return vtc_registrar_store_step_done(self, stmt, error);
        }
        stmt = vtc_db_prepare(
            self->db,
            rec->kind == VTC_REGISTRAR_KIND_HOST
                ? "INSERT INTO hosts (id, state, ek_public, ek_cert, ak_public, ak_name, secret, "
                  "created) VALUES (?1, 'registered', ?2, ?3, ?4, ?5, ?6, ?7)"
                : "INSERT INTO agents (id, state, ek_public, ek_cert, ak_public, ak_name, secret, "
                  "created, host_id, tls_cert) VALUES (?1, 'registered', ?2, ?3, ?4, ?5, ?6, ?7, "
                  "?8, ?9)",
            error);
        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, rec->id, -1, SQLITE_TRANSIENT);
        vtc_bind_bytes(stmt, 2, rec->ek_public);
        vtc_bind_bytes(stmt, 3, rec->ek_cert);
        vtc_bind_bytes(stmt, 4, rec->ak_public);
        vtc_bind_bytes(stmt, 5, rec->ak_name);
        vtc_bind_bytes(stmt, 6, rec->secret);
        sqlite3_bind_int64(stmt, 7, g_get_real_time() / G_USEC_PER_SEC);
        if (rec->kind == VTC_REGISTRAR_KIND_AGENT) {
                sqlite3_bind_text(stmt, 8, rec->host_id, -1, SQLITE_TRANSIENT);
                vtc_bind_bytes(stmt, 9, rec->tls_cert);
        }
        return vtc_registrar_store_step_done(self, stmt, error);
}

gboolean
vtc_registrar_store_register(VtcRegistrarStore *self, const VtcRegistrarRecord *rec, GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);

        if (!vtc_db_begin(self->db, error))
                return FALSE;
        if (!vtc_registrar_store_register_locked(self, rec, error)) {
                vtc_db_rollback(self->db);
                return FALSE;
        }
        return vtc_db_commit(self->db, error);
}

gboolean
vtc_registrar_store_activate(VtcRegistrarStore *self,
                             VtcRegistrarKind kind,
                             const gchar *id,
                             GBytes *secret,
                             GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autofree gchar *sql =
            g_strdup_printf("UPDATE %s SET state = 'active', secret = NULL, activated = ?3 "
                            "WHERE id = ?1 AND secret = ?2",
                            vtc_registrar_table(kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        vtc_bind_bytes(stmt, 2, secret);
        sqlite3_bind_int64(stmt, 3, g_get_real_time() / G_USEC_PER_SEC);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "'%s' was registered again or deleted during activation",
                            id);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_registrar_store_set_vtpm_ca(VtcRegistrarStore *self,
                                const gchar *host_id,
                                GBytes *ca_public,
                                GBytes *ca_key_id,
                                GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt =
            vtc_db_prepare(self->db,
                           "UPDATE hosts SET vtpm_ca_public = ?2, vtpm_ca_key_id = ?3 "
                           "WHERE id = ?1 AND state = 'active'",
                           error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, host_id, -1, SQLITE_TRANSIENT);
        vtc_bind_bytes(stmt, 2, ca_public);
        vtc_bind_bytes(stmt, 3, ca_key_id);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "host '%s' is not active",
                            host_id);
                return FALSE;
        }
        return TRUE;
}

static GPtrArray *
vtc_registrar_store_query(VtcRegistrarStore *self,
                          VtcRegistrarKind kind,
                          const gchar *sql,
                          GBytes *param,
                          GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);
        g_autoptr(GPtrArray) out =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_registrar_record_free);
        int rc;

        if (stmt == NULL)
                return NULL;
        if (param != NULL)
                vtc_bind_bytes(stmt, 1, param);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                g_ptr_array_add(out, vtc_registrar_record_from_row(kind, stmt));
        if (rc != SQLITE_DONE) {
                vtc_db_set_error(self->db, error, "listing registrations");
                return NULL;
        }
        return g_steal_pointer(&out);
}

GPtrArray *
vtc_registrar_store_find_vtpm_ca(VtcRegistrarStore *self, GBytes *ca_key_id, GError **error)
{
        return vtc_registrar_store_query(self,
                                         VTC_REGISTRAR_KIND_HOST,
                                         "SELECT " VTC_HOST_COLUMNS " FROM hosts "
                                         "WHERE vtpm_ca_key_id = ?1 AND state = 'active'",
                                         ca_key_id,
                                         error);
}

GPtrArray *
vtc_registrar_store_list(VtcRegistrarStore *self, VtcRegistrarKind kind, GError **error)
{
        return vtc_registrar_store_query(self,
                                         kind,
                                         kind == VTC_REGISTRAR_KIND_HOST
                                             ? "SELECT " VTC_HOST_COLUMNS " FROM hosts ORDER BY id"
                                             : "SELECT " VTC_AGENT_COLUMNS
                                               " FROM agents ORDER BY id",
                                         NULL,
                                         error);
}

gboolean
vtc_registrar_store_delete(VtcRegistrarStore *self,
                           VtcRegistrarKind kind,
                           const gchar *id,
                           GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->lock);
        g_autofree gchar *sql =
            g_strdup_printf("DELETE FROM %s WHERE id = ?1", vtc_registrar_table(kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no %s '%s' is registered",
                            kind == VTC_REGISTRAR_KIND_HOST ? "host" : "agent",
                            id);
                return FALSE;
        }
        return TRUE;
}
