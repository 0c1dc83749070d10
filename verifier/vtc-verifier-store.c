/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier-store.h"

#include "vtc-db.h"
#include "vtc-error.h"

struct _VtcVerifierStore {
        VtcDb *db;
        GMutex lock;
};

static const gchar *vtc_verifier_migrations[] = {
    /* version 1 */
    "CREATE TABLE vms ("
    "  uuid TEXT PRIMARY KEY,"
    "  mode TEXT NOT NULL CHECK (mode IN ('host', 'direct')),"
    "  agent_url TEXT,"
    "  runtime_policy TEXT NOT NULL,"
    "  boot_policy TEXT,"
    "  host_policy TEXT,"
    "  state TEXT NOT NULL CHECK (state IN ('registered', 'trusted', 'failed', 'unreachable')),"
    "  reason TEXT,"
    "  message TEXT,"
    "  placement TEXT,"
    "  host_id TEXT,"
    "  check_state BLOB,"
    "  last_result TEXT CHECK (last_result IS NULL OR last_result IN ('pass', 'fail')),"
    "  last_reason TEXT,"
    "  last_message TEXT,"
    "  last_placement TEXT,"
    "  last_time INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  last_attempt INTEGER NOT NULL DEFAULT 0,"
    "  last_success INTEGER NOT NULL DEFAULT 0,"
    "  rounds INTEGER NOT NULL DEFAULT 0,"
    "  passes INTEGER NOT NULL DEFAULT 0,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  unreachable INTEGER NOT NULL DEFAULT 0,"
    "  ima_offset INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE history ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  uuid TEXT NOT NULL REFERENCES vms (uuid) ON DELETE CASCADE,"
    "  time INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('added', 'state', 'verdict', 'revocation')),"
    "  state TEXT,"
    "  result TEXT,"
    "  reason TEXT,"
    "  message TEXT,"
    "  placement TEXT,"
    "  evidence_digest TEXT,"
    "  event TEXT,"
    "  signature TEXT,"
    "  delivered INTEGER NOT NULL DEFAULT 0,"
    "  undelivered INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX history_uuid_seq ON history (uuid, seq);",
    NULL,
};

void
vtc_verifier_store_vm_free(VtcVerifierStoreVm *vm)
{
        if (vm == NULL)
                return;
        g_free(vm->uuid);
        g_free(vm->mode);
        g_free(vm->agent_url);
        g_free(vm->runtime_policy);
        g_free(vm->boot_policy);
        g_free(vm->host_policy);
        g_free(vm->state);
        g_free(vm->reason);
        g_free(vm->message);
        g_free(vm->placement);
        g_free(vm->host_id);
        g_clear_pointer(&vm->check_state, g_bytes_unref);
        g_free(vm->last_result);
        g_free(vm->last_reason);
        g_free(vm->last_message);
        g_free(vm->last_placement);
        g_free(vm);
}

VtcVerifierStoreVm *
vtc_verifier_store_vm_copy(const VtcVerifierStoreVm *vm)
{
        VtcVerifierStoreVm *c = g_memdup2(vm, sizeof(*vm));

        c->uuid = g_strdup(vm->uuid);
        c->mode = g_strdup(vm->mode);
        c->agent_url = g_strdup(vm->agent_url);
        c->runtime_policy = g_strdup(vm->runtime_policy);
        c->boot_policy = g_strdup(vm->boot_policy);
        c->host_policy = g_strdup(vm->host_policy);
        c->state = g_strdup(vm->state);
        c->reason = g_strdup(vm->reason);
        c->message = g_strdup(vm->message);
        c->placement = g_strdup(vm->placement);
        c->host_id = g_strdup(vm->host_id);
        c->check_state = vm->check_state != NULL ? g_bytes_ref(vm->check_state) : NULL;
        c->last_result = g_strdup(vm->last_result);
        c->last_reason = g_strdup(vm->last_reason);
        c->last_message = g_strdup(vm->last_message);
        c->last_placement = g_strdup(vm->last_placement);
        return c;
}

void
vtc_verifier_store_event_free(VtcVerifierStoreEvent *ev)
{
        if (ev == NULL)
                return;
        g_free(ev->uuid);
        g_free(ev->kind);
        g_free(ev->state);
        g_free(ev->result);
        g_free(ev->reason);
        g_free(ev->message);
        g_free(ev->placement);
        g_free(ev->evidence_digest);
        g_free(ev->event);
        g_free(ev->signature);
        g_free(ev);
}

VtcVerifierStore *
vtc_verifier_store_open(const gchar *path, GError **error)
{
        g_autoptr(VtcDb) db = vtc_db_open(path, vtc_verifier_migrations, error);
        VtcVerifierStore *self;

        if (db == NULL)
                return NULL;
        self = g_new0(VtcVerifierStore, 1);
        self->db = g_steal_pointer(&db);
        g_mutex_init(&self->lock);
        return self;
}

void
vtc_verifier_store_free(VtcVerifierStore *self)
{
        if (self == NULL)
                return;
        vtc_db_free(self->db);
        g_mutex_clear(&self->lock);
        g_free(self);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void
vtc_bind_text(sqlite3_stmt *stmt, int idx, const gchar *s)
{
        if (s == NULL)
                sqlite3_bind_null(stmt, idx);
        else
                sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
}

static gchar *
vtc_column_text(sqlite3_stmt *stmt, int col)
{
        if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
                return NULL;
        return g_strdup((const gchar *)sqlite3_column_text(stmt, col));
}

static gboolean
vtc_verifier_store_check_uuid(const gchar *uuid, GError **error)
{
        if (uuid == NULL || !g_uuid_string_is_valid(uuid)) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "a VM is named by its UUID (8-4-4-4-12 hex digits)");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_verifier_store_check_state(const gchar *state, GError **error)
{
        if (g_strcmp0(state, "registered") != 0 && g_strcmp0(state, "trusted") != 0 &&
            g_strcmp0(state, "failed") != 0 && g_strcmp0(state, "unreachable") != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "unknown VM state '%s'",
                            state != NULL ? state : "(null)");
                return FALSE;
        }
        return TRUE;
}

static gboolean
vtc_verifier_store_step_done(VtcDb *db, sqlite3_stmt *stmt, const gchar *what, GError **error)
{
        if (sqlite3_step(stmt) != SQLITE_DONE) {
                vtc_db_set_error(db, error, what);
                return FALSE;
        }
        return TRUE;
}

#define VTC_VM_COLUMNS                                                                          \
        "uuid, mode, agent_url, state, reason, message, placement, host_id, check_state, "      \
        "last_result, last_reason, last_message, last_placement, last_time, created, updated, " \
        "last_attempt, last_success, rounds, passes, failures, unreachable, ima_offset"

static VtcVerifierStoreVm *
vtc_verifier_store_vm_from_row(sqlite3_stmt *stmt, gboolean with_policies)
{
        VtcVerifierStoreVm *vm = g_new0(VtcVerifierStoreVm, 1);

        vm->uuid = vtc_column_text(stmt, 0);
        vm->mode = vtc_column_text(stmt, 1);
        vm->agent_url = vtc_column_text(stmt, 2);
        vm->state = vtc_column_text(stmt, 3);
        vm->reason = vtc_column_text(stmt, 4);
        vm->message = vtc_column_text(stmt, 5);
        vm->placement = vtc_column_text(stmt, 6);
        vm->host_id = vtc_column_text(stmt, 7);
        if (sqlite3_column_type(stmt, 8) != SQLITE_NULL)
                vm->check_state =
                    g_bytes_new(sqlite3_column_blob(stmt, 8), (gsize)sqlite3_column_bytes(stmt, 8));
        vm->last_result = vtc_column_text(stmt, 9);
        vm->last_reason = vtc_column_text(stmt, 10);
        vm->last_message = vtc_column_text(stmt, 11);
        vm->last_placement = vtc_column_text(stmt, 12);
        vm->last_time = sqlite3_column_int64(stmt, 13);
        vm->created = sqlite3_column_int64(stmt, 14);
        vm->updated = sqlite3_column_int64(stmt, 15);
        vm->last_attempt = sqlite3_column_int64(stmt, 16);
        vm->last_success = sqlite3_column_int64(stmt, 17);
        vm->rounds = sqlite3_column_int64(stmt, 18);
        vm->passes = sqlite3_column_int64(stmt, 19);
        vm->failures = sqlite3_column_int64(stmt, 20);
        vm->unreachable = sqlite3_column_int64(stmt, 21);
        vm->ima_offset = sqlite3_column_int64(stmt, 22);
        if (with_policies) {
                vm->runtime_policy = vtc_column_text(stmt, 23);
                vm->boot_policy = vtc_column_text(stmt, 24);
                vm->host_policy = vtc_column_text(stmt, 25);
        }
        return vm;
}

static gboolean
vtc_verifier_store_insert_event(VtcVerifierStore *self, VtcVerifierStoreEvent *ev, GError **error)
{
        g_autoptr(sqlite3_stmt) stmt = vtc_db_prepare(
            self->db,
            "INSERT INTO history (uuid, time, kind, state, result, reason, message, placement, "
            "evidence_digest, event, signature, delivered, undelivered) "
            "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 "
            "WHERE EXISTS (SELECT 1 FROM vms WHERE uuid = ?1)",
            error);

        if (stmt == NULL)
                return FALSE;
        vtc_bind_text(stmt, 1, ev->uuid);
        sqlite3_bind_int64(stmt, 2, ev->time);
        vtc_bind_text(stmt, 3, ev->kind);
        vtc_bind_text(stmt, 4, ev->state);
        vtc_bind_text(stmt, 5, ev->result);
        vtc_bind_text(stmt, 6, ev->reason);
        vtc_bind_text(stmt, 7, ev->message);
        vtc_bind_text(stmt, 8, ev->placement);
        vtc_bind_text(stmt, 9, ev->evidence_digest);
        vtc_bind_text(stmt, 10, ev->event);
        vtc_bind_text(stmt, 11, ev->signature);
        sqlite3_bind_int64(stmt, 12, ev->delivered);
        sqlite3_bind_int64(stmt, 13, ev->undelivered);
        if (!vtc_verifier_store_step_done(self->db, stmt, "storing a history event", error))
                return FALSE;
        ev->seq = sqlite3_changes(vtc_db_get_handle(self->db)) > 0
                      ? sqlite3_last_insert_rowid(vtc_db_get_handle(self->db))
                      : 0;
        return TRUE;
}

/* ---- the API ------------------------------------------------------------------------------ */

static gboolean
vtc_verifier_store_add_locked(VtcVerifierStore *self, const VtcVerifierStoreVm *vm, GError **error)
{
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(VtcVerifierStoreEvent) ev = g_new0(VtcVerifierStoreEvent, 1);

        stmt = vtc_db_prepare(self->db,
                              "INSERT INTO vms (uuid, mode, agent_url, runtime_policy, "
                              "boot_policy, host_policy, state, reason, message, created, updated) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                              error);
        if (stmt == NULL)
                return FALSE;
        vtc_bind_text(stmt, 1, vm->uuid);
        vtc_bind_text(stmt, 2, vm->mode);
        vtc_bind_text(stmt, 3, vm->agent_url);
        vtc_bind_text(stmt, 4, vm->runtime_policy);
        vtc_bind_text(stmt, 5, vm->boot_policy);
        vtc_bind_text(stmt, 6, vm->host_policy);
        vtc_bind_text(stmt, 7, vm->state);
        vtc_bind_text(stmt, 8, vm->reason);
        vtc_bind_text(stmt, 9, vm->message);
        sqlite3_bind_int64(stmt, 10, vm->created);
        sqlite3_bind_int64(stmt, 11, vm->updated);
        if (sqlite3_step(stmt) != SQLITE_DONE) {
                g_autoptr(GError) error_local = NULL;

                vtc_db_set_error(self->db, &error_local, "adding the VM");
                if (g_error_matches(error_local, VTC_ERROR, VTC_ERROR_CONFLICT)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_CONFLICT,
                                    "VM %s is already watched",
                                    vm->uuid);
                        return FALSE;
                }
                g_propagate_error(error, g_steal_pointer(&error_local));
                return FALSE;
        }
        ev->uuid = g_strdup(vm->uuid);
        ev->time = vm->created;
        ev->kind = g_strdup("added");
        ev->state = g_strdup(vm->state);
        ev->reason = g_strdup(vm->reason);
        return vtc_verifier_store_insert_event(self, ev, error);
}

gboolean
vtc_verifier_store_add(VtcVerifierStore *self, const VtcVerifierStoreVm *vm, GError **error)
{
        g_autoptr(GMutexLocker) locker = NULL;

        if (!vtc_verifier_store_check_uuid(vm->uuid, error) ||
            !vtc_verifier_store_check_state(vm->state, error))
                return FALSE;
        if (g_strcmp0(vm->mode, "host") != 0 && g_strcmp0(vm->mode, "direct") != 0) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "mode is \"host\" or \"direct\"");
                return FALSE;
        }
        if (vm->runtime_policy == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "a VM needs a runtime policy");
                return FALSE;
        }
        locker = g_mutex_locker_new(&self->lock);
        if (!vtc_db_begin(self->db, error))
                return FALSE;
        if (!vtc_verifier_store_add_locked(self, vm, error)) {
                vtc_db_rollback(self->db);
                return FALSE;
        }
        return vtc_db_commit(self->db, error);
}

VtcVerifierStoreVm *
vtc_verifier_store_get(VtcVerifierStore *self, const gchar *uuid, GError **error)
{
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt =
            vtc_db_prepare(self->db,
                           "SELECT " VTC_VM_COLUMNS ", runtime_policy, boot_policy, host_policy "
                           "FROM vms WHERE uuid = ?1",
                           error);
        int rc;

        if (stmt == NULL)
                return NULL;
        vtc_bind_text(stmt, 1, uuid);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no VM %s is watched", uuid);
                return NULL;
        }
        if (rc != SQLITE_ROW) {
                vtc_db_set_error(self->db, error, "reading a VM");
                return NULL;
        }
        return vtc_verifier_store_vm_from_row(stmt, TRUE);
}

GPtrArray *
vtc_verifier_store_list(VtcVerifierStore *self,
                        const gchar *state,
                        const gchar *after,
                        guint limit,
                        gboolean with_policies,
                        GError **error)
{
        g_autoptr(GMutexLocker) locker = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(GPtrArray) vms =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_vm_free);
        int rc;

        if (state != NULL && !vtc_verifier_store_check_state(state, error))
                return NULL;
        locker = g_mutex_locker_new(&self->lock);
        stmt = vtc_db_prepare(
            self->db,
            with_policies ? "SELECT " VTC_VM_COLUMNS
                            ", runtime_policy, boot_policy, host_policy FROM vms "
                            "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR uuid > ?2) "
                            "ORDER BY uuid LIMIT ?3"
                          : "SELECT " VTC_VM_COLUMNS " FROM vms "
                            "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR uuid > ?2) "
                            "ORDER BY uuid LIMIT ?3",
            error);
        if (stmt == NULL)
                return NULL;
        vtc_bind_text(stmt, 1, state);
        vtc_bind_text(stmt, 2, after);
        sqlite3_bind_int64(stmt, 3, limit);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                g_ptr_array_add(vms, vtc_verifier_store_vm_from_row(stmt, with_policies));
        if (rc != SQLITE_DONE) {
                vtc_db_set_error(self->db, error, "listing VMs");
                return NULL;
        }
        return g_steal_pointer(&vms);
}

gboolean
vtc_verifier_store_delete(VtcVerifierStore *self, const gchar *uuid, GError **error)
{
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt =
            vtc_db_prepare(self->db, "DELETE FROM vms WHERE uuid = ?1", error);

        if (stmt == NULL)
                return FALSE;
        vtc_bind_text(stmt, 1, uuid);
        /* the history goes with it (ON DELETE CASCADE), in the same statement */
        if (!vtc_verifier_store_step_done(self->db, stmt, "deleting a VM", error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) == 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no VM %s is watched", uuid);
                return FALSE;
        }
        return TRUE;
}

/* One VM's row, through @stmt (prepared once per transaction: thousands of VMs a second). */
static gboolean
vtc_verifier_store_update_vm(VtcVerifierStore *self,
                             sqlite3_stmt *stmt,
                             const VtcVerifierStoreVm *vm,
                             GError **error)
{
        if (!vtc_verifier_store_check_state(vm->state, error))
                return FALSE;
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        vtc_bind_text(stmt, 1, vm->uuid);
        vtc_bind_text(stmt, 2, vm->state);
        vtc_bind_text(stmt, 3, vm->reason);
        vtc_bind_text(stmt, 4, vm->message);
        vtc_bind_text(stmt, 5, vm->placement);
        vtc_bind_text(stmt, 6, vm->host_id);
        if (vm->check_state != NULL)
                sqlite3_bind_blob(stmt,
                                  7,
                                  g_bytes_get_data(vm->check_state, NULL),
                                  (int)g_bytes_get_size(vm->check_state),
                                  SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(stmt, 7);
        vtc_bind_text(stmt, 8, vm->last_result);
        vtc_bind_text(stmt, 9, vm->last_reason);
        vtc_bind_text(stmt, 10, vm->last_message);
        vtc_bind_text(stmt, 11, vm->last_placement);
        sqlite3_bind_int64(stmt, 12, vm->last_time);
        sqlite3_bind_int64(stmt, 13, vm->updated);
        sqlite3_bind_int64(stmt, 14, vm->last_attempt);
        sqlite3_bind_int64(stmt, 15, vm->last_success);
        sqlite3_bind_int64(stmt, 16, vm->rounds);
        sqlite3_bind_int64(stmt, 17, vm->passes);
        sqlite3_bind_int64(stmt, 18, vm->failures);
        sqlite3_bind_int64(stmt, 19, vm->unreachable);
        sqlite3_bind_int64(stmt, 20, vm->ima_offset);
        return vtc_verifier_store_step_done(self->db, stmt, "saving a VM's state", error);
}

gboolean
vtc_verifier_store_update(VtcVerifierStore *self, GPtrArray *vms, GPtrArray *events, GError **error)
{
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt = NULL;

        if (!vtc_db_begin(self->db, error))
                return FALSE;
        if (vms != NULL && vms->len > 0) {
                stmt = vtc_db_prepare(self->db,
                                      "UPDATE vms SET state = ?2, reason = ?3, message = ?4, "
                                      "placement = ?5, host_id = ?6, check_state = ?7, "
                                      "last_result = ?8, last_reason = ?9, last_message = ?10, "
                                      "last_placement = ?11, last_time = ?12, updated = ?13, "
                                      "last_attempt = ?14, last_success = ?15, rounds = ?16, "
                                      "passes = ?17, failures = ?18, unreachable = ?19, "
                                      "ima_offset = ?20 WHERE uuid = ?1",
                                      error);
                if (stmt == NULL) {
                        vtc_db_rollback(self->db);
                        return FALSE;
                }
        }
        for (guint i = 0; vms != NULL && i < vms->len; i++) {
                if (!vtc_verifier_store_update_vm(self, stmt, g_ptr_array_index(vms, i), error)) {
                        vtc_db_rollback(self->db);
                        return FALSE;
                }
        }
        for (guint i = 0; events != NULL && i < events->len; i++) {
                if (!vtc_verifier_store_insert_event(self, g_ptr_array_index(events, i), error)) {
                        vtc_db_rollback(self->db);
                        for (guint j = 0; j < i; j++)
                                ((VtcVerifierStoreEvent *)g_ptr_array_index(events, j))->seq = 0;
                        return FALSE;
                }
        }
        if (!vtc_db_commit(self->db, error)) {
                for (guint j = 0; events != NULL && j < events->len; j++)
                        ((VtcVerifierStoreEvent *)g_ptr_array_index(events, j))->seq = 0;
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_verifier_store_set_delivery(VtcVerifierStore *self,
                                gint64 seq,
                                gint64 delivered,
                                gint64 undelivered,
                                GError **error)
{
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) stmt =
            vtc_db_prepare(self->db,
                           "UPDATE history SET delivered = ?2, undelivered = ?3 WHERE seq = ?1",
                           error);

        if (stmt == NULL)
                return FALSE;
        sqlite3_bind_int64(stmt, 1, seq);
        sqlite3_bind_int64(stmt, 2, delivered);
        sqlite3_bind_int64(stmt, 3, undelivered);
        if (!vtc_verifier_store_step_done(self->db, stmt, "recording a delivery", error))
                return FALSE;
        if (sqlite3_changes(vtc_db_get_handle(self->db)) == 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_NOT_FOUND,
                            "no history event %" G_GINT64_FORMAT,
                            seq);
                return FALSE;
        }
        return TRUE;
}

GPtrArray *
vtc_verifier_store_history(VtcVerifierStore *self,
                           const gchar *uuid,
                           gint64 before,
                           guint limit,
                           gint64 *out_next,
                           GError **error)
{
        G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
        g_autoptr(sqlite3_stmt) exists = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(GPtrArray) evs =
            g_ptr_array_new_with_free_func((GDestroyNotify)vtc_verifier_store_event_free);
        int rc;

        if (limit == 0 || limit > VTC_VERIFIER_STORE_MAX_HISTORY_PAGE) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "a history page holds 1 to %u events",
                            VTC_VERIFIER_STORE_MAX_HISTORY_PAGE);
                return NULL;
        }
        exists = vtc_db_prepare(self->db, "SELECT 1 FROM vms WHERE uuid = ?1", error);
        if (exists == NULL)
                return NULL;
        vtc_bind_text(exists, 1, uuid);
        rc = sqlite3_step(exists);
        if (rc == SQLITE_DONE) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no VM %s is watched", uuid);
                return NULL;
        }
        if (rc != SQLITE_ROW) {
                vtc_db_set_error(self->db, error, "reading a VM");
                return NULL;
        }
        /* one more than asked, to learn whether there is a next page */
        stmt = vtc_db_prepare(self->db,
                              "SELECT seq, uuid, time, kind, state, result, reason, message, "
                              "placement, evidence_digest, event, signature, delivered, "
                              "undelivered FROM history WHERE uuid = ?1 AND (?2 = 0 OR seq < ?2) "
                              "ORDER BY seq DESC LIMIT ?3",
                              error);
        if (stmt == NULL)
                return NULL;
        vtc_bind_text(stmt, 1, uuid);
        sqlite3_bind_int64(stmt, 2, before);
        sqlite3_bind_int64(stmt, 3, (gint64)limit + 1);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                VtcVerifierStoreEvent *ev = g_new0(VtcVerifierStoreEvent, 1);

                ev->seq = sqlite3_column_int64(stmt, 0);
                ev->uuid = vtc_column_text(stmt, 1);
                ev->time = sqlite3_column_int64(stmt, 2);
                ev->kind = vtc_column_text(stmt, 3);
                ev->state = vtc_column_text(stmt, 4);
                ev->result = vtc_column_text(stmt, 5);
                ev->reason = vtc_column_text(stmt, 6);
                ev->message = vtc_column_text(stmt, 7);
                ev->placement = vtc_column_text(stmt, 8);
                ev->evidence_digest = vtc_column_text(stmt, 9);
                ev->event = vtc_column_text(stmt, 10);
                ev->signature = vtc_column_text(stmt, 11);
                ev->delivered = sqlite3_column_int64(stmt, 12);
                ev->undelivered = sqlite3_column_int64(stmt, 13);
                g_ptr_array_add(evs, ev);
        }
        if (rc != SQLITE_DONE) {
                vtc_db_set_error(self->db, error, "reading the history");
                return NULL;
        }
        if (evs->len > limit) {
                g_ptr_array_set_size(evs, limit);
                *out_next = ((VtcVerifierStoreEvent *)g_ptr_array_index(evs, limit - 1))->seq;
        } else {
                *out_next = 0;
        }
        return g_steal_pointer(&evs);
}
