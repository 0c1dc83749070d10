/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-itest-common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/prctl.h>

#include <sqlite3.h>

#include "vtc-ca.h"
#include "vtc-db.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

/* ---- waiting on the default main context, with a deadline ------------------------------ */

static gboolean
vtc_itest_timeout_cb(gpointer user_data)
{
        gboolean *timed_out = user_data;

        *timed_out = TRUE;
        return G_SOURCE_REMOVE;
}

/* Iterates the default main context until *@done or @seconds have passed. */
static gboolean
vtc_itest_iterate_until(const gboolean *done, guint seconds)
{
        gboolean timed_out = FALSE;
        guint id = g_timeout_add_seconds(seconds, vtc_itest_timeout_cb, &timed_out);

        while (!*done && !timed_out)
                g_main_context_iteration(NULL, TRUE);
        if (!timed_out)
                g_source_remove(id);
        return *done;
}

/* ---- daemons ---------------------------------------------------------------------------- */

struct _VtcItestDaemon {
        GSubprocess *proc;
        GDataInputStream *out;
        gchar *pid;
        guint port;
        gboolean reaped;
};

typedef struct {
        gboolean done;
        gchar *line;
        GError *error;
} VtcItestLine;

static void
vtc_itest_read_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcItestLine *l = user_data;

        l->line =
            g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), res, NULL, &l->error);
        l->done = TRUE;
}

static void
vtc_itest_wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        gboolean *done = user_data;

        g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
        *done = TRUE;
}

/* Kills with SIGKILL unless reaped already, and reaps (SIGKILL cannot be ignored, so the wait
 * is bounded). */
static void
vtc_itest_daemon_reap(VtcItestDaemon *self)
{
        if (self->reaped)
                return;
        g_subprocess_force_exit(self->proc);
        g_subprocess_wait(self->proc, NULL, NULL);
        self->reaped = TRUE;
}

void
vtc_itest_daemon_free(VtcItestDaemon *self)
{
        if (self == NULL)
                return;
        if (self->proc != NULL)
                vtc_itest_daemon_reap(self);
        g_clear_object(&self->out);
        g_clear_object(&self->proc);
        g_free(self->pid);
        g_free(self);
}

/* A daemon must not outlive a test that crashes before it can stop it. */
static void
vtc_itest_child_setup(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

VtcItestDaemon *
vtc_itest_daemon_start(const gchar *program, const gchar *config_path, GError **error)
{
        g_autoptr(VtcItestDaemon) self = g_new0(VtcItestDaemon, 1);
        g_autoptr(GCancellable) cancel = g_cancellable_new();
        VtcItestLine l = {0};
        g_autofree gchar *line = NULL;
        const gchar *p;
        guint64 port = 0;
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        const gchar *asan = g_getenv("ASAN_OPTIONS");

        g_subprocess_launcher_set_child_setup(launcher, vtc_itest_child_setup, NULL, NULL);
        /* LeakSanitizer (clang 14, glibc 2.36) crashes at exit ("Tracer caught signal 11")
         * on the bogus dynamic-TLS bounds its __tls_get_addr interceptor records for threads that
         * used the dlopen'ed gnutls GIO module: a daemon that served TLS always has some. Without
         * the interceptor the leak check works (the test programs set the same in
         * __asan_default_options()). */
        if (asan != NULL) {
                g_autofree gchar *opts = g_strconcat(asan, ":intercept_tls_get_addr=0", NULL);
                g_subprocess_launcher_setenv(launcher, "ASAN_OPTIONS", opts, TRUE);
        }
        self->proc =
            g_subprocess_launcher_spawn(launcher, error, program, "--config", config_path, NULL);
        if (self->proc == NULL)
                return NULL;
        self->pid = g_strdup(g_subprocess_get_identifier(self->proc));
        self->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(self->proc));
        g_data_input_stream_read_line_async(self->out,
                                            G_PRIORITY_DEFAULT,
                                            cancel,
                                            vtc_itest_read_line_cb,
                                            &l);
        if (!vtc_itest_iterate_until(&l.done, VTC_ITEST_TIMEOUT_SECONDS)) {
                /* the callback must run before @l goes out of scope */
                g_cancellable_cancel(cancel);
                vtc_itest_iterate_until(&l.done, VTC_ITEST_TIMEOUT_SECONDS);
        }
        line = g_steal_pointer(&l.line);
        if (l.error != NULL || line == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_UNAVAILABLE,
                            "%s (pid %s) did not say it listens: %s",
                            program,
                            self->pid,
                            l.error != NULL ? l.error->message : "it exited");
                g_clear_error(&l.error);
                return NULL;
        }
        p = strstr(line, "listening on port ");
        if (p == NULL || !g_ascii_string_to_unsigned(p + strlen("listening on port "),
                                                     10,
                                                     1,
                                                     65535,
                                                     &port,
                                                     NULL)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s printed '%s' instead of its port",
                            program,
                            line);
                return NULL;
        }
        self->port = (guint)port;
        return g_steal_pointer(&self);
}

guint
vtc_itest_daemon_get_port(VtcItestDaemon *self)
{
        return self->port;
}

const gchar *
vtc_itest_daemon_get_pid_string(VtcItestDaemon *self)
{
        return self->pid;
}

gboolean
vtc_itest_daemon_stop(VtcItestDaemon *self, GError **error)
{
        gboolean done = FALSE;

        if (self->reaped) {
                g_set_error_literal(error, VTC_ERROR, VTC_ERROR_FAILED, "already stopped");
                return FALSE;
        }
        g_subprocess_send_signal(self->proc, SIGTERM);
        g_subprocess_wait_async(self->proc, NULL, vtc_itest_wait_cb, &done);
        if (!vtc_itest_iterate_until(&done, VTC_ITEST_TIMEOUT_SECONDS)) {
                g_subprocess_force_exit(self->proc);
                /* the wait completes now that the process is gone; @done must outlive it */
                vtc_itest_iterate_until(&done, VTC_ITEST_TIMEOUT_SECONDS);
                self->reaped = TRUE;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TIMEOUT,
                            "pid %s did not exit within %u s of SIGTERM",
                            self->pid,
                            VTC_ITEST_TIMEOUT_SECONDS);
                return FALSE;
        }
        self->reaped = TRUE;
        if (!g_subprocess_get_if_exited(self->proc) ||
            g_subprocess_get_exit_status(self->proc) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "pid %s ended badly after SIGTERM (wait status 0x%x)",
                            self->pid,
                            (guint)g_subprocess_get_status(self->proc));
                return FALSE;
        }
        return TRUE;
}

void
vtc_itest_daemon_kill(VtcItestDaemon *self)
{
        vtc_itest_daemon_reap(self);
}

typedef struct {
        gboolean done;
        gboolean ok;
        gchar *out;
        gchar *err;
        GError *error;
} VtcItestRun;

static void
vtc_itest_communicate_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcItestRun *r = user_data;

        r->ok = g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source),
                                                     res,
                                                     &r->out,
                                                     &r->err,
                                                     &r->error);
        r->done = TRUE;
}

gboolean
vtc_itest_run(const gchar *const *argv,
              gchar **out_stdout,
              gchar **out_stderr,
              gint *out_exit_status,
              GError **error)
{
        g_autoptr(GSubprocess) proc =
            g_subprocess_newv(argv,
                              G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                              error);
        VtcItestRun r = {0};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;

        if (proc == NULL)
                return FALSE;
        g_subprocess_communicate_utf8_async(proc, NULL, NULL, vtc_itest_communicate_cb, &r);
        if (!vtc_itest_iterate_until(&r.done, VTC_ITEST_TIMEOUT_SECONDS)) {
                g_subprocess_force_exit(proc);
                vtc_itest_iterate_until(&r.done, VTC_ITEST_TIMEOUT_SECONDS);
                g_clear_error(&r.error);
                g_free(r.out);
                g_free(r.err);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TIMEOUT,
                            "%s did not finish within %u s",
                            argv[0],
                            VTC_ITEST_TIMEOUT_SECONDS);
                return FALSE;
        }
        out = r.out;
        err = r.err;
        if (!r.ok) {
                g_propagate_error(error, r.error);
                return FALSE;
        }
        g_subprocess_wait(proc, NULL, NULL); /* it has closed its pipes; it is exiting */
        if (!g_subprocess_get_if_exited(proc)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "%s was killed by signal %d",
                            argv[0],
                            g_subprocess_get_term_sig(proc));
                return FALSE;
        }
        *out_exit_status = g_subprocess_get_exit_status(proc);
        *out_stdout = g_steal_pointer(&out);
        *out_stderr = g_steal_pointer(&err);
        return TRUE;
}

/* ---- TLS -------------------------------------------------------------------------------- */

gboolean
vtc_itest_tls_init(const gchar *dir, const gchar *server_name, GError **error)
{
        const gchar *const sans[] = {"IP:127.0.0.1", NULL};

        return vtc_ca_init(dir, "vtc integration test CA", 30, error) &&
               vtc_ca_issue(dir, server_name, sans, 30, error) &&
               vtc_ca_issue(dir, "admin", NULL, 30, error);
}

/* ---- HTTP ------------------------------------------------------------------------------- */

void
vtc_itest_reply_free(VtcItestReply *reply)
{
        if (reply == NULL)
                return;
        g_free(reply->text);
        if (reply->root != NULL)
                json_node_unref(reply->root);
        g_free(reply);
}

static VtcItestReply *
vtc_itest_reply_new(guint status, GBytes *data)
{
        VtcItestReply *reply = g_new0(VtcItestReply, 1);
        g_autoptr(JsonParser) parser = json_parser_new();
        gsize len = 0;
        const gchar *text = g_bytes_get_data(data, &len);

        reply->status = status;
        reply->text = g_strndup(text != NULL ? text : "", len);
        if (json_parser_load_from_data(parser, reply->text, (gssize)strlen(reply->text), NULL) &&
            json_parser_get_root(parser) != NULL) {
                reply->root = json_node_copy(json_parser_get_root(parser));
                if (JSON_NODE_HOLDS_OBJECT(reply->root))
                        reply->body = json_node_get_object(reply->root);
        }
        return reply;
}

VtcItestReply *
vtc_itest_request(SoupSession *session,
                  const gchar *method,
                  const gchar *url,
                  const gchar *body,
                  GError **error)
{
        g_autoptr(GBytes) data = NULL;
        guint status = 0;

        data = vtc_http_client_request(session, method, url, body, &status, error);
        if (data == NULL)
                return NULL;
        return vtc_itest_reply_new(status, data);
}

SoupSession *
vtc_itest_session_new(const gchar *ca_file, guint max_conns, GError **error)
{
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(ca_file, error);

        SoupSession *session;

        if (db == NULL)
                return NULL;
        session = soup_session_new_with_options("tls-database",
                                                db,
                                                "max-conns",
                                                (gint)max_conns + 1,
                                                "max-conns-per-host",
                                                (gint)max_conns,
                                                "timeout",
                                                VTC_ITEST_TIMEOUT_SECONDS,
                                                NULL);
        /* as vtc_http_client_new(): no proxy from the environment, no libproxy */
        soup_session_set_proxy_resolver(session, NULL);
        return session;
}

typedef struct {
        guint pending;
        GPtrArray *replies;
        GError *error;
} VtcItestBatch;

typedef struct {
        VtcItestBatch *batch;
        SoupMessage *msg;
        guint index;
} VtcItestBatchItem;

static void
vtc_itest_batch_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcItestBatchItem *item = user_data;
        VtcItestBatch *batch = item->batch;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data =
            soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);

        if (data == NULL) {
                if (batch->error == NULL)
                        batch->error = g_error_new(VTC_ERROR,
                                                   VTC_ERROR_UNAVAILABLE,
                                                   "request %u: %s",
                                                   item->index,
                                                   error->message);
        } else {
                g_ptr_array_index(batch->replies, item->index) =
                    vtc_itest_reply_new(soup_message_get_status(item->msg), data);
        }
        batch->pending--;
        g_object_unref(item->msg);
        g_free(item);
}

GPtrArray *
vtc_itest_request_all(SoupSession *session,
                      const gchar *method,
                      GPtrArray *urls,
                      GPtrArray *bodies,
                      GError **error)
{
        g_autoptr(GPtrArray) replies =
            g_ptr_array_new_full(urls->len, (GDestroyNotify)vtc_itest_reply_free);
        g_autoptr(GCancellable) cancel = g_cancellable_new();
        VtcItestBatch batch = {0, replies, NULL};
        gboolean timed_out = FALSE;
        guint timeout_id;

        g_assert(bodies == NULL || bodies->len == urls->len);
        g_ptr_array_set_size(replies, (gint)urls->len);
        for (guint i = 0; i < urls->len; i++) {
                VtcItestBatchItem *item = g_new0(VtcItestBatchItem, 1);
                const gchar *body = bodies != NULL ? g_ptr_array_index(bodies, i) : NULL;

                item->batch = &batch;
                item->index = i;
                item->msg = soup_message_new(method, g_ptr_array_index(urls, i));
                g_assert(item->msg != NULL);
                if (body != NULL) {
                        g_autoptr(GBytes) b = g_bytes_new(body, strlen(body));
                        soup_message_set_request_body_from_bytes(item->msg, "application/json", b);
                }
                batch.pending++;
                soup_session_send_and_read_async(session,
                                                 item->msg,
                                                 G_PRIORITY_DEFAULT,
                                                 cancel,
                                                 vtc_itest_batch_cb,
                                                 item);
        }
        timeout_id =
            g_timeout_add_seconds(VTC_ITEST_TIMEOUT_SECONDS * 4, vtc_itest_timeout_cb, &timed_out);
        while (batch.pending > 0 && !timed_out)
                g_main_context_iteration(NULL, TRUE);
        if (!timed_out)
                g_source_remove(timeout_id);
        if (batch.pending > 0) {
                /* every callback must have run before @batch goes out of scope */
                g_cancellable_cancel(cancel);
                while (batch.pending > 0)
                        g_main_context_iteration(NULL, TRUE);
                g_clear_error(&batch.error);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TIMEOUT,
                            "%u requests did not finish within %u s",
                            urls->len,
                            VTC_ITEST_TIMEOUT_SECONDS * 4);
                return NULL;
        }
        if (batch.error != NULL) {
                g_propagate_error(error, batch.error);
                return NULL;
        }
        return g_steal_pointer(&replies);
}

const gchar *
vtc_itest_reply_get_string(VtcItestReply *reply, const gchar *member)
{
        JsonNode *node;

        if (reply->body == NULL)
                return NULL;
        node = json_object_get_member(reply->body, member);
        if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(node);
}

GBytes *
vtc_itest_reply_get_base64(VtcItestReply *reply, const gchar *member)
{
        const gchar *s = vtc_itest_reply_get_string(reply, member);
        gsize len = 0;
        guint8 *buf;

        if (s == NULL)
                return NULL;
        buf = g_base64_decode(s, &len);
        return g_bytes_new_take(buf, len);
}

/* ---- sqlite ----------------------------------------------------------------------------- */

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3, sqlite3_close)

static gboolean
vtc_itest_db_dump_table(sqlite3 *db, const gchar *table, GString *out, GError **error)
{
        g_autofree gchar *sql = g_strdup_printf("SELECT * FROM \"%s\" ORDER BY rowid", table);
        g_autoptr(sqlite3_stmt) stmt = NULL;
        int rc;

        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", sql, sqlite3_errmsg(db));
                return FALSE;
        }
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                g_string_append_printf(out, "%s:", table);
                for (int i = 0; i < sqlite3_column_count(stmt); i++) {
                        g_string_append_printf(out, " %s=", sqlite3_column_name(stmt, i));
                        switch (sqlite3_column_type(stmt, i)) {
                        case SQLITE_NULL:
                                g_string_append(out, "NULL");
                                break;
                        case SQLITE_INTEGER:
                                g_string_append_printf(out,
                                                       "%" G_GINT64_FORMAT,
                                                       (gint64)sqlite3_column_int64(stmt, i));
                                break;
                        case SQLITE_BLOB: {
                                g_autofree gchar *hex =
                                    vtc_hex_encode(sqlite3_column_blob(stmt, i),
                                                   (gsize)sqlite3_column_bytes(stmt, i));
                                g_string_append_printf(out, "x'%s'", hex);
                                break;
                        }
                        default:
                                g_string_append_printf(out,
                                                       "'%s'",
                                                       (const gchar *)sqlite3_column_text(stmt, i));
                                break;
                        }
                }
                g_string_append_c(out, '\n');
        }
        if (rc != SQLITE_DONE) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", sql, sqlite3_errmsg(db));
                return FALSE;
        }
        return TRUE;
}

gchar *
vtc_itest_db_dump(const gchar *path, GError **error)
{
        g_autoptr(sqlite3) db = NULL;
        g_autoptr(sqlite3_stmt) stmt = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GPtrArray) tables = g_ptr_array_new_with_free_func(g_free);
        int rc;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "opening %s: %s",
                            path,
                            db != NULL ? sqlite3_errmsg(db) : "out of memory");
                return NULL;
        }
        sqlite3_busy_timeout(db, VTC_ITEST_TIMEOUT_SECONDS * 1000);
        if (sqlite3_prepare_v2(db,
                               "SELECT type, name, sql FROM sqlite_master ORDER BY type, name",
                               -1,
                               &stmt,
                               NULL) != SQLITE_OK) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", path, sqlite3_errmsg(db));
                return NULL;
        }
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const gchar *type = (const gchar *)sqlite3_column_text(stmt, 0);
                const gchar *name = (const gchar *)sqlite3_column_text(stmt, 1);
                const gchar *sql = (const gchar *)sqlite3_column_text(stmt, 2);

                g_string_append_printf(out, "%s %s: %s\n", type, name, sql != NULL ? sql : "");
                if (g_strcmp0(type, "table") == 0)
                        g_ptr_array_add(tables, g_strdup(name));
        }
        if (rc != SQLITE_DONE) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "%s: %s", path, sqlite3_errmsg(db));
                return NULL;
        }
        for (guint i = 0; i < tables->len; i++) {
                if (!vtc_itest_db_dump_table(db, g_ptr_array_index(tables, i), out, error))
                        return NULL;
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- TPMs ------------------------------------------------------------------------------- */

void
vtc_itest_tpm_free(VtcItestTpm *self)
{
        if (self == NULL)
                return;
        if (self->tpm != NULL) {
                if (self->ak != ESYS_TR_NONE)
                        vtc_tpm_flush(self->tpm, self->ak);
                if (self->ek != ESYS_TR_NONE && self->ek_transient)
                        vtc_tpm_flush(self->tpm, self->ek);
                vtc_tpm_free(self->tpm);
        }
        vtc_swtpm_free(self->swtpm);
        g_clear_pointer(&self->ek_public_bytes, g_bytes_unref);
        g_clear_pointer(&self->ek_cert, g_bytes_unref);
        g_clear_pointer(&self->ak_public_bytes, g_bytes_unref);
        g_free(self);
}

VtcItestTpm *
vtc_itest_tpm_new(const gchar *state_dir,
                  VtcTpmKeyType ek_type,
                  VtcTpmKeyType ak_type,
                  GError **error)
{
        g_autoptr(VtcItestTpm) self = g_new0(VtcItestTpm, 1);
        g_autoptr(GError) error_local = NULL;
        TPM2B_PUBLIC tmpl;

        self->ek = ESYS_TR_NONE;
        self->ak = ESYS_TR_NONE;
        self->swtpm = vtc_swtpm_new(state_dir, error);
        if (self->swtpm == NULL)
                return NULL;
        self->tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(self->swtpm), error);
        if (self->tpm == NULL)
                return NULL;
        if (!vtc_tpm_ek_open(self->tpm,
                             ek_type,
                             &self->ek,
                             &self->ek_public,
                             &self->ek_transient,
                             error))
                return NULL;
        self->ek_public_bytes = vtc_tpm_public_marshal(&self->ek_public);
        self->ek_cert = vtc_tpm_nv_read(self->tpm,
                                        ek_type == VTC_TPM_KEY_RSA2048 ? VTC_TPM_EK_RSA_CERT_NV
                                                                       : VTC_TPM_EK_ECC_CERT_NV,
                                        &error_local);
        if (self->ek_cert == NULL &&
            !g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND)) {
                g_propagate_error(error, g_steal_pointer(&error_local));
                return NULL;
        }
        vtc_tpm_template_ak(ak_type, &tmpl);
        if (!vtc_tpm_create_primary(self->tpm, &tmpl, &self->ak, &self->ak_public, error))
                return NULL;
        self->ak_public_bytes = vtc_tpm_public_marshal(&self->ak_public);
        return g_steal_pointer(&self);
}

gboolean
vtc_itest_tpm_state_copy(const gchar *from_dir, const gchar *to_dir, GError **error)
{
        g_autoptr(GDir) dir = g_dir_open(from_dir, 0, error);
        const gchar *name;

        if (dir == NULL)
                return FALSE;
        if (g_mkdir_with_parents(to_dir, 0700) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating %s: %s",
                            to_dir,
                            g_strerror(errno));
                return FALSE;
        }
        while ((name = g_dir_read_name(dir)) != NULL) {
                g_autofree gchar *from = g_build_filename(from_dir, name, NULL);
                g_autofree gchar *to = g_build_filename(to_dir, name, NULL);
                g_autoptr(GFile) src = g_file_new_for_path(from);
                g_autoptr(GFile) dst = g_file_new_for_path(to);

                /* the TPM's state only: no sockets, no lock of the process that made it */
                if (!g_file_test(from, G_FILE_TEST_IS_REGULAR) || g_str_has_suffix(name, ".lock"))
                        continue;
                if (!g_file_copy(src, dst, G_FILE_COPY_NONE, NULL, NULL, NULL, error))
                        return FALSE;
        }
        return TRUE;
}

gchar *
vtc_itest_proof_from_secret(GBytes *secret, const gchar *id)
{
        guint8 mac[32];
        unsigned int len = sizeof(mac);

        HMAC(EVP_sha256(),
             g_bytes_get_data(secret, NULL),
             (int)g_bytes_get_size(secret),
             (const guint8 *)id,
             strlen(id),
             mac,
             &len);
        return vtc_hex_encode(mac, len);
}

gchar *
vtc_itest_tpm_activation_proof(VtcItestTpm *self,
                               const gchar *id,
                               GBytes *credential_blob,
                               GBytes *encrypted_secret,
                               GError **error)
{
        g_autoptr(GBytes) secret = vtc_tpm_activate_credential(self->tpm,
                                                               self->ak,
                                                               self->ek,
                                                               credential_blob,
                                                               encrypted_secret,
                                                               error);

        if (secret == NULL)
                return NULL;
        return vtc_itest_proof_from_secret(secret, id);
}

gchar *
vtc_itest_registration_json(const gchar *id,
                            GBytes *ek_public,
                            GBytes *ek_cert,
                            GBytes *ak_public,
                            const gchar *tls_cert_pem)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, id);
        vtc_json_builder_add_base64(b,
                                    "ek_public",
                                    g_bytes_get_data(ek_public, NULL),
                                    g_bytes_get_size(ek_public));
        if (ek_cert != NULL)
                vtc_json_builder_add_base64(b,
                                            "ek_cert",
                                            g_bytes_get_data(ek_cert, NULL),
                                            g_bytes_get_size(ek_cert));
        vtc_json_builder_add_base64(b,
                                    "ak_public",
                                    g_bytes_get_data(ak_public, NULL),
                                    g_bytes_get_size(ak_public));
        if (tls_cert_pem != NULL) {
                json_builder_set_member_name(b, "tls_cert");
                json_builder_add_string_value(b, tls_cert_pem);
        }
        json_builder_end_object(b);
        return vtc_json_builder_to_string(b);
}

/* ---- daemons that announce readiness with a fixed line (vtc-hostd) ---------------------- */

VtcItestDaemon *
vtc_itest_daemon_start_ready(const gchar *program,
                             const gchar *config_path,
                             const gchar *ready_line,
                             GError **error)
{
        g_autoptr(VtcItestDaemon) self = g_new0(VtcItestDaemon, 1);
        g_autoptr(GCancellable) cancel = g_cancellable_new();
        VtcItestLine l = {0};
        g_autofree gchar *line = NULL;
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
        const gchar *asan = g_getenv("ASAN_OPTIONS");

        g_subprocess_launcher_set_child_setup(launcher, vtc_itest_child_setup, NULL, NULL);
        /* the LeakSanitizer work-around of vtc_itest_daemon_start() */
        if (asan != NULL) {
                g_autofree gchar *opts = g_strconcat(asan, ":intercept_tls_get_addr=0", NULL);
                g_subprocess_launcher_setenv(launcher, "ASAN_OPTIONS", opts, TRUE);
        }
        self->proc =
            g_subprocess_launcher_spawn(launcher, error, program, "--config", config_path, NULL);
        if (self->proc == NULL)
                return NULL;
        self->pid = g_strdup(g_subprocess_get_identifier(self->proc));
        self->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(self->proc));
        g_data_input_stream_read_line_async(self->out,
                                            G_PRIORITY_DEFAULT,
                                            cancel,
                                            vtc_itest_read_line_cb,
                                            &l);
        if (!vtc_itest_iterate_until(&l.done, VTC_ITEST_TIMEOUT_SECONDS)) {
                g_cancellable_cancel(cancel);
                vtc_itest_iterate_until(&l.done, VTC_ITEST_TIMEOUT_SECONDS);
        }
        line = g_steal_pointer(&l.line);
        if (l.error != NULL || line == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_UNAVAILABLE,
                            "%s (pid %s) did not say it is ready: %s",
                            program,
                            self->pid,
                            l.error != NULL ? l.error->message : "it exited");
                g_clear_error(&l.error);
                return NULL;
        }
        if (g_strcmp0(line, ready_line) != 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "%s printed '%s' instead of '%s'",
                            program,
                            line,
                            ready_line);
                return NULL;
        }
        return g_steal_pointer(&self);
}

gboolean
vtc_itest_run_with_input(const gchar *const *argv,
                         const gchar *const *env,
                         const gchar *input,
                         GSpawnChildSetupFunc child_setup,
                         gpointer child_setup_data,
                         gchar **out_stdout,
                         gchar **out_stderr,
                         gint *out_exit_status,
                         GError **error)
{
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
            G_SUBPROCESS_FLAGS_STDERR_PIPE);
        g_autoptr(GSubprocess) proc = NULL;
        VtcItestRun r = {0};
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;

        for (guint i = 0; env != NULL && env[i] != NULL; i++) {
                g_autofree gchar *name = NULL;
                const gchar *eq = strchr(env[i], '=');

                g_return_val_if_fail(eq != NULL, FALSE);
                name = g_strndup(env[i], (gsize)(eq - env[i]));
                g_subprocess_launcher_setenv(launcher, name, eq + 1, TRUE);
        }
        if (child_setup != NULL)
                g_subprocess_launcher_set_child_setup(launcher,
                                                      child_setup,
                                                      child_setup_data,
                                                      NULL);
        proc = g_subprocess_launcher_spawnv(launcher, argv, error);
        if (proc == NULL)
                return FALSE;
        g_subprocess_communicate_utf8_async(proc,
                                            input != NULL ? input : "",
                                            NULL,
                                            vtc_itest_communicate_cb,
                                            &r);
        if (!vtc_itest_iterate_until(&r.done, VTC_ITEST_TIMEOUT_SECONDS)) {
                g_subprocess_force_exit(proc);
                vtc_itest_iterate_until(&r.done, VTC_ITEST_TIMEOUT_SECONDS);
                g_clear_error(&r.error);
                g_free(r.out);
                g_free(r.err);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_TIMEOUT,
                            "%s did not finish within %u s",
                            argv[0],
                            VTC_ITEST_TIMEOUT_SECONDS);
                return FALSE;
        }
        out = r.out;
        err = r.err;
        if (!r.ok) {
                g_propagate_error(error, r.error);
                return FALSE;
        }
        g_subprocess_wait(proc, NULL, NULL);
        if (!g_subprocess_get_if_exited(proc)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FAILED,
                            "%s was killed by signal %d",
                            argv[0],
                            g_subprocess_get_term_sig(proc));
                return FALSE;
        }
        *out_exit_status = g_subprocess_get_exit_status(proc);
        *out_stdout = g_steal_pointer(&out);
        *out_stderr = g_steal_pointer(&err);
        return TRUE;
}
