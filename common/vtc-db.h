/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)

/*
 * A sqlite database in WAL mode with versioned migrations: migration i (0-based) takes the
 * schema from version i to i + 1, each in its own transaction together with the version bump.
 * A failed migration rolls back and leaves the file as it was (never deleted); a database newer
 * than the code is refused.
 */
typedef struct _VtcDb VtcDb;

VtcDb *vtc_db_open(const gchar *path, const gchar *const *migrations, GError **error);
void vtc_db_free(VtcDb *self);
sqlite3 *vtc_db_get_handle(VtcDb *self);
guint vtc_db_get_version(VtcDb *self);

gboolean vtc_db_exec(VtcDb *self, const gchar *sql, GError **error);
sqlite3_stmt *vtc_db_prepare(VtcDb *self, const gchar *sql, GError **error);
/* Sets @error from the handle's last error, with @what as context. A UNIQUE/PRIMARY KEY
 * violation becomes VTC_ERROR_CONFLICT, anything else VTC_ERROR_IO. */
void vtc_db_set_error(VtcDb *self, GError **error, const gchar *what);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK */
gboolean vtc_db_begin(VtcDb *self, GError **error);
gboolean vtc_db_commit(VtcDb *self, GError **error);
void vtc_db_rollback(VtcDb *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcDb, vtc_db_free)

G_END_DECLS
