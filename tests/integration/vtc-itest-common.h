/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Helpers for the multi-process integration tests (tests/integration/): real daemons started
 * from their binaries, real swtpm processes, real HTTPS. Everything a helper starts lives in the
 * test's own directory and is stopped by its own pid; every wait has a deadline.
 */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "vtc-swtpm.h"
#include "vtc-tpm.h"

G_BEGIN_DECLS

/* How long any one wait may take (a daemon's start or stop, a request). */
#define VTC_ITEST_TIMEOUT_SECONDS 30

/* ---- daemons ---------------------------------------------------------------------------- */

/*
 * A daemon started from @program with `--config @config_path`, its stderr left to the test's.
 * Daemons print "NAME: listening on port N" on stdout once they serve; the start waits for that
 * line (or the process's death) at most VTC_ITEST_TIMEOUT_SECONDS.
 */
typedef struct _VtcItestDaemon VtcItestDaemon;

VtcItestDaemon *
vtc_itest_daemon_start(const gchar *program, const gchar *config_path, GError **error);
guint vtc_itest_daemon_get_port(VtcItestDaemon *self);
const gchar *vtc_itest_daemon_get_pid_string(VtcItestDaemon *self);
/* SIGTERM, then waits for the exit: FALSE unless it exited with status 0 (so sanitizer reports
 * in the daemon fail the test). */
gboolean vtc_itest_daemon_stop(VtcItestDaemon *self, GError **error);
/* SIGKILL (a crash, a power cut) and reap. */
void vtc_itest_daemon_kill(VtcItestDaemon *self);
/* Kills the process if it still runs. */
void vtc_itest_daemon_free(VtcItestDaemon *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcItestDaemon, vtc_itest_daemon_free)

/* Runs @argv to completion (at most VTC_ITEST_TIMEOUT_SECONDS), capturing both outputs. */
gboolean vtc_itest_run(const gchar *const *argv,
                       gchar **out_stdout,
                       gchar **out_stderr,
                       gint *out_exit_status,
                       GError **error);

/* ---- TLS -------------------------------------------------------------------------------- */

/* The deployment's CA in @dir (ca.crt), a server certificate @server_name.crt/.key for
 * 127.0.0.1, and an admin client certificate admin.crt/.key. */
gboolean vtc_itest_tls_init(const gchar *dir, const gchar *server_name, GError **error);

/* ---- HTTP ------------------------------------------------------------------------------- */

typedef struct {
        guint status;
        gchar *text;      /* the raw body */
        JsonNode *root;   /* the parsed body; NULL when it is not JSON */
        JsonObject *body; /* root's object, when it is one (borrowed from root) */
} VtcItestReply;

void vtc_itest_reply_free(VtcItestReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcItestReply, vtc_itest_reply_free)

/* One request; fails only when no HTTP answer came back. */
VtcItestReply *vtc_itest_request(SoupSession *session,
                                 const gchar *method,
                                 const gchar *url,
                                 const gchar *body,
                                 GError **error);
/* A session trusting only @ca_file that opens up to @max_conns connections to one server at
 * once (libsoup's default is 2), for concurrency tests. */
SoupSession *vtc_itest_session_new(const gchar *ca_file, guint max_conns, GError **error);
/* Sends request i (@method, @urls[i], @bodies[i]) for every i at once from the default main
 * context and waits for every answer (at most VTC_ITEST_TIMEOUT_SECONDS * 4). Returns the
 * replies in request order; fails when any request got no HTTP answer. */
GPtrArray *vtc_itest_request_all(SoupSession *session,
                                 const gchar *method,
                                 GPtrArray *urls,
                                 GPtrArray *bodies,
                                 GError **error);
/* A string member of the reply's object, or NULL. */
const gchar *vtc_itest_reply_get_string(VtcItestReply *reply, const gchar *member);
/* A base64 member of the reply's object, decoded, or NULL. */
GBytes *vtc_itest_reply_get_base64(VtcItestReply *reply, const gchar *member);

/* ---- sqlite ----------------------------------------------------------------------------- */

/* Every table's schema and rows (blobs in hex), opened read-only: equal dumps mean nothing
 * changed. */
gchar *vtc_itest_db_dump(const gchar *path, GError **error);

/* ---- TPMs ------------------------------------------------------------------------------- */

/*
 * A TPM under test: a swtpm on @state_dir with its EK, the EK certificate when the TPM has one
 * in NV, and a restricted signing AK (a transient primary). Without a resource manager the
 * caller keeps at most two more transient objects loaded.
 */
typedef struct {
        VtcSwtpm *swtpm;
        VtcTpm *tpm;
        ESYS_TR ek;
        gboolean ek_transient;
        TPM2B_PUBLIC ek_public;
        GBytes *ek_public_bytes;
        GBytes *ek_cert; /* NULL when the TPM has none */
        ESYS_TR ak;
        TPM2B_PUBLIC ak_public;
        GBytes *ak_public_bytes;
} VtcItestTpm;

VtcItestTpm *vtc_itest_tpm_new(const gchar *state_dir,
                               VtcTpmKeyType ek_type,
                               VtcTpmKeyType ak_type,
                               GError **error);
void vtc_itest_tpm_free(VtcItestTpm *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcItestTpm, vtc_itest_tpm_free)

/* A copy of the TPM state in @from_dir (a provisioned swtpm, stopped) into @to_dir. */
gboolean vtc_itest_tpm_state_copy(const gchar *from_dir, const gchar *to_dir, GError **error);

/* The answer to a registration challenge: ActivateCredential in the TPM, then
 * hex(HMAC-SHA256(key = secret, message = @id)). */
gchar *vtc_itest_tpm_activation_proof(VtcItestTpm *self,
                                      const gchar *id,
                                      GBytes *credential_blob,
                                      GBytes *encrypted_secret,
                                      GError **error);
/* hex(HMAC-SHA256(key = @secret, message = @id)). */
gchar *vtc_itest_proof_from_secret(GBytes *secret, const gchar *id);

/* {"id", "ek_public", "ek_cert", "ak_public"[, "tls_cert"]} as JSON. */
gchar *vtc_itest_registration_json(const gchar *id,
                                   GBytes *ek_public,
                                   GBytes *ek_cert,
                                   GBytes *ak_public,
                                   const gchar *tls_cert_pem);

/* ---- daemons that announce readiness with a fixed line (vtc-hostd) ---------------------- */

/* As vtc_itest_daemon_start(), for a daemon that prints exactly @ready_line on stdout once it
 * serves ("vtc-hostd: ready"); vtc_itest_daemon_get_port() then says 0. */
VtcItestDaemon *vtc_itest_daemon_start_ready(const gchar *program,
                                             const gchar *config_path,
                                             const gchar *ready_line,
                                             GError **error);

/*
 * As vtc_itest_run(), with @input written to the program's stdin (NULL: an empty stdin), the
 * "NAME=VALUE" strings of @env (NULL or NULL-terminated) added to its environment, and
 * @child_setup (may be NULL) run in the child before exec (e.g. to drop to another uid).
 */
gboolean vtc_itest_run_with_input(const gchar *const *argv,
                                  const gchar *const *env,
                                  const gchar *input,
                                  GSpawnChildSetupFunc child_setup,
                                  gpointer child_setup_data,
                                  gchar **out_stdout,
                                  gchar **out_stderr,
                                  gint *out_exit_status,
                                  GError **error);

G_END_DECLS
