/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-registrar-store.h"

#include "vtc-db.h"
#include "vtc-error.h"

/*
 * Writes are group-committed: every caller queues its operation, and whichever caller finds no
 * commit running takes the whole queue and applies it in one transaction (one fsync with
 * synchronous=FULL), each operation inside its own SAVEPOINT so that one that fails is rolled
 * back alone. Callers return only once their batch is durable. Reads use a second connection:
 * in WAL mode it sees only committed transactions, and a commit becomes visible only after its
 * fsync, so no answer is ever built from a row that could still be lost.
 */
#define VTC_REGISTRAR_STORE_MAX_BATCH 256

typedef gboolean (*VtcRegistrarStoreApplyFunc)(VtcRegistrarStore *self,
                                               gconstpointer data,
                                               GError **error);

typedef struct {
        VtcRegistrarStoreApplyFunc apply;
        gconstpointer data;
        gboolean done;
        GError *error;
} VtcRegistrarStoreOp;

struct _VtcRegistrarStore {
        VtcDb *db;      /* writes: used only by the thread running the current batch */
        VtcDb *read_db; /* reads */
        GMutex read_lock;
        GMutex lock; /* pending, committing and every op's done/error */
        GCond cond;  /* a batch has finished */
        GQueue pending;
        gboolean committing;
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
        g_autoptr(VtcDb) read_db = NULL;
        VtcRegistrarStore *self;

        if (db == NULL)
                return NULL;
        /* the schema is current now: this only checks the version */
        read_db = vtc_db_open(path, vtc_registrar_migrations, error);
        if (read_db == NULL)
                return NULL;
        self = g_new0(VtcRegistrarStore, 1);
        self->db = g_steal_pointer(&db);
        self->read_db = g_steal_pointer(&read_db);
        g_mutex_init(&self->read_lock);
        g_mutex_init(&self->lock);
        g_cond_init(&self->cond);
        g_queue_init(&self->pending);
        return self;
}

void
vtc_registrar_store_free(VtcRegistrarStore *self)
{
        if (self == NULL)
                return;
        vtc_db_free(self->read_db);
        vtc_db_free(self->db);
        g_mutex_clear(&self->read_lock);
        g_mutex_clear(&self->lock);
        g_cond_clear(&self->cond);
        g_free(self);
}

/* Marks every op of @ops that has no error of its own as failed with @error. */
static void
vtc_registrar_store_fail_all(GPtrArray *ops, const GError *error)
{
        for (guint i = 0; i < ops->len; i++) {
                VtcRegistrarStoreOp *op = g_ptr_array_index(ops, i);
                if (op->error == NULL)
                        op->error = g_error_copy(error);
        }
}

/*
 * One pass over @live in one transaction. Returns FALSE when sqlite rolled the whole
 * transaction back under an op (it does so on some I/O and memory errors): that op has its
 * error and leaves @live, and the caller runs the others again.
 */
static gboolean
vtc_registrar_store_try_batch(VtcRegistrarStore *self, GPtrArray *live)
{
        sqlite3 *handle = vtc_db_get_handle(self->db);
        g_autoptr(GError) error = NULL;

        if (!vtc_db_begin(self->db, &error)) {
                vtc_registrar_store_fail_all(live, error);
                return TRUE;
        }
        for (guint i = 0; i < live->len; i++) {
                VtcRegistrarStoreOp *op = g_ptr_array_index(live, i);
                gboolean ok;

                if (!vtc_db_exec(self->db, "SAVEPOINT vtc_op", &error)) {
                        vtc_db_rollback(self->db);
                        vtc_registrar_store_fail_all(live, error);
                        return TRUE;
                }
                ok = op->apply(self, op->data, &op->error);
                if (sqlite3_get_autocommit(handle)) {
                        if (op->error == NULL)
                                g_set_error_literal(&op->error,
                                                    VTC_ERROR,
                                                    VTC_ERROR_IO,
                                                    "the database rolled the transaction back");
                        g_ptr_array_remove_index(live, i);
                        return FALSE;
                }
                if (!ok) {
                        g_assert(op->error != NULL);
                        if (!vtc_db_exec(self->db, "ROLLBACK TO vtc_op", &error)) {
                                vtc_db_rollback(self->db);
                                vtc_registrar_store_fail_all(live, error);
                                return TRUE;
                        }
                }
                if (!vtc_db_exec(self->db, "RELEASE vtc_op", &error)) {
                        vtc_db_rollback(self->db);
                        vtc_registrar_store_fail_all(live, error);
                        return TRUE;
                }
        }
        /* with synchronous=FULL, COMMIT returns once the WAL is on disk */
        if (!vtc_db_commit(self->db, &error))
                vtc_registrar_store_fail_all(live, error);
        return TRUE;
}

static void
vtc_registrar_store_run_batch(VtcRegistrarStore *self, GPtrArray *ops)
{
        g_autoptr(GPtrArray) live = g_ptr_array_copy(ops, NULL, NULL);

        while (!vtc_registrar_store_try_batch(self, live)) {
                /* the ops that had succeeded were rolled back with the rest: again, from
                 * scratch */
                for (guint i = 0; i < live->len; i++) {
                        VtcRegistrarStoreOp *op = g_ptr_array_index(live, i);
                        g_clear_error(&op->error);
                }
        }
}

/* Applies @apply(@data) in the next batch and waits until that batch is committed. */
static gboolean
vtc_registrar_store_write(VtcRegistrarStore *self,
                          VtcRegistrarStoreApplyFunc apply,
                          gconstpointer data,
                          GError **error)
{
        VtcRegistrarStoreOp op = {apply, data, FALSE, NULL};

        g_mutex_lock(&self->lock);
        g_queue_push_tail(&self->pending, &op);
        while (!op.done) {
                g_autoptr(GPtrArray) batch = NULL;

                if (self->committing) {
                        g_cond_wait(&self->cond, &self->lock);
                        continue;
                }
                /* no batch is running: this thread runs the next one, with everything queued
                 * meanwhile */
                batch = g_ptr_array_new();
                while (batch->len < VTC_REGISTRAR_STORE_MAX_BATCH &&
                       !g_queue_is_empty(&self->pending))
                        g_ptr_array_add(batch, g_queue_pop_head(&self->pending));
                self->committing = TRUE;
                g_mutex_unlock(&self->lock);
                vtc_registrar_store_run_batch(self, batch);
                g_mutex_lock(&self->lock);
                for (guint i = 0; i < batch->len; i++)
                        ((VtcRegistrarStoreOp *)g_ptr_array_index(batch, i))->done = TRUE;
                self->committing = FALSE;
                g_cond_broadcast(&self->cond);
        }
        g_mutex_unlock(&self->lock);
        if (op.error != NULL) {
                g_propagate_error(error, op.error);
                return FALSE;
        }
        return TRUE;
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

/* On @db: the write connection inside a batch, or the read connection under read_lock. */
static VtcRegistrarRecord *
vtc_registrar_store_get_on(VtcDb *db, VtcRegistrarKind kind, const gchar *id, GError **error)
{
        g_autofree gchar *sql =
            g_strdup_printf("SELECT %s FROM %s WHERE id = ?1",
                            kind == VTC_REGISTRAR_KIND_HOST ? VTC_HOST_COLUMNS : VTC_AGENT_COLUMNS,
                            vtc_registrar_table(kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(db, sql, error);
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
                vtc_db_set_error(db, error, "reading a registration");
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
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->read_lock);

        return vtc_registrar_store_get_on(self->read_db, kind, id, error);
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

/* The register operation of a batch. */
static gboolean
vtc_registrar_store_register_apply(VtcRegistrarStore *self, gconstpointer data, GError **error)
{
        const VtcRegistrarRecord *rec = data;
        g_autoptr(GError) error_local = NULL;
        g_autoptr(VtcRegistrarRecord) old =
            vtc_registrar_store_get_on(self->db, rec->kind, rec->id, &error_local);
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
                /* The same identity again (a retried enrollment): a fresh challenge. While
                 * registered, the new values go with it: only the holder of the TPM can
                 * decrypt the latest secret, so only the latest values can be activated. An
                 * active record's values never change without a proof: there only the
                 * challenge is renewed (changing them takes an admin's DELETE). */
                if (g_strcmp0(old->state, "active") == 0) {
                        stmt = vtc_db_prepare(self->db,
                                              rec->kind == VTC_REGISTRAR_KIND_HOST
                                                  ? "UPDATE hosts SET secret = ?2 WHERE id = ?1"
                                                  : "UPDATE agents SET secret = ?2 WHERE id = ?1",
                                              error);
                        if (stmt == NULL)
                                return FALSE;
                        sqlite3_bind_text(stmt, 1, rec->id, -1, SQLITE_TRANSIENT);
                        vtc_bind_bytes(stmt, 2, rec->secret);
                        return vtc_registrar_store_step_done(self, stmt, error);
                }
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
        return vtc_registrar_store_write(self, vtc_registrar_store_register_apply, rec, error);
}

typedef struct {
        VtcRegistrarKind kind;
        const gchar *id;
        GBytes *secret;
        GBytes *ca_public;
        GBytes *ca_key_id;
} VtcRegistrarStoreArgs;

static gboolean
vtc_registrar_store_activate_apply(VtcRegistrarStore *self, gconstpointer data, GError **error)
{
        const VtcRegistrarStoreArgs *a = data;
        g_autofree gchar *sql =
            g_strdup_printf("UPDATE %s SET state = 'active', secret = NULL, activated = ?3 "
                            "WHERE id = ?1 AND secret = ?2",
                            vtc_registrar_table(a->kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, a->id, -1, SQLITE_TRANSIENT);
        vtc_bind_bytes(stmt, 2, a->secret);
        sqlite3_bind_int64(stmt, 3, g_get_real_time() / G_USEC_PER_SEC);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_CONFLICT,
                            "'%s' was registered again or deleted during activation",
                            a->id);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_registrar_store_activate(VtcRegistrarStore *self,
                             VtcRegistrarKind kind,
                             const gchar *id,
                             GBytes *secret,
                             GError **error)
{
        VtcRegistrarStoreArgs a = {.kind = kind, .id = id, .secret = secret};

        return vtc_registrar_store_write(self, vtc_registrar_store_activate_apply, &a, error);
}

static gboolean
vtc_registrar_store_set_vtpm_ca_apply(VtcRegistrarStore *self, gconstpointer data, GError **error)
{
        const VtcRegistrarStoreArgs *a = data;
        g_autoptr(sqlite3_stmt) stmt =
            vtc_db_prepare(self->db,
                           "UPDATE hosts SET vtpm_ca_public = ?2, vtpm_ca_key_id = ?3 "
                           "WHERE id = ?1 AND state = 'active'",
                           error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, a->id, -1, SQLITE_TRANSIENT);
        vtc_bind_bytes(stmt, 2, a->ca_public);
        vtc_bind_bytes(stmt, 3, a->ca_key_id);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_CONFLICT, "host '%s' is not active", a->id);
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
        VtcRegistrarStoreArgs a = {.id = host_id, .ca_public = ca_public, .ca_key_id = ca_key_id};

        return vtc_registrar_store_write(self, vtc_registrar_store_set_vtpm_ca_apply, &a, error);
}

static GPtrArray *
vtc_registrar_store_query(VtcRegistrarStore *self,
                          VtcRegistrarKind kind,
                          const gchar *sql,
                          GBytes *param,
                          GError **error)
{
        g_autoptr(GMutexLocker) locker G_GNUC_UNUSED = g_mutex_locker_new(&self->read_lock);
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->read_db, sql, error);
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
                vtc_db_set_error(self->read_db, error, "listing registrations");
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

static gboolean
vtc_registrar_store_delete_apply(VtcRegistrarStore *self, gconstpointer data, GError **error)
{
        const VtcRegistrarStoreArgs *a = data;
        g_autofree gchar *sql =
            g_strdup_printf("DELETE FROM %s WHERE id = ?1", vtc_registrar_table(a->kind));
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(self->db, sql, error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_text(stmt, 1, a->id, -1, SQLITE_TRANSIENT);
        if (!vtc_registrar_store_step_done(self, stmt, error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no %s '%s' is registered",
                            a->kind == VTC_REGISTRAR_KIND_HOST ? "host" : "agent",
                            a->id);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_registrar_store_delete(VtcRegistrarStore *self,
                           VtcRegistrarKind kind,
                           const gchar *id,
                           GError **error)
{
        VtcRegistrarStoreArgs a = {.kind = kind, .id = id};

        return vtc_registrar_store_write(self, vtc_registrar_store_delete_apply, &a, error);
}
