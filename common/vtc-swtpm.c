/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-swtpm.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <tss2/tss2_tctildr.h>

#include "vtc-util.h"

struct _VtcSwtpm {
        gchar *state_dir;
        gchar *sock_path;
        gchar *tcti_conf;
        GSubprocess *proc;
};

static gboolean
vtc_swtpm_socket_accepts(const gchar *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
                return FALSE;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

/*
 * Runs in the child between fork and exec: swtpm gets SIGKILL when the thread that started it
 * ends, so that it cannot outlive a process that crashes or aborts (a failed g_assert skips
 * every destructor). If that thread ended before the prctl(), getppid() is no longer the pid
 * that started us: give up at once. Only async-signal-safe calls here.
 */
static void
vtc_swtpm_child_setup(gpointer user_data)
{
        pid_t parent = (pid_t)GPOINTER_TO_INT(user_data);

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
                _exit(127);
}

void
vtc_swtpm_free(VtcSwtpm *self)
{
        if (self == NULL)
                return;
        if (self->proc != NULL) {
                g_subprocess_send_signal(self->proc, SIGTERM);
                g_subprocess_wait(self->proc, NULL, NULL);
                g_object_unref(self->proc);
        }
        g_free(self->state_dir);
        g_free(self->sock_path);
        g_free(self->tcti_conf);
        g_free(self);
}

VtcSwtpm *
vtc_swtpm_new(const gchar *state_dir, GError **error)
{
        g_autoptr(VtcSwtpm) self = g_new0(VtcSwtpm, 1);
        g_autofree gchar *ctrl_path = NULL;
        g_autofree gchar *server_arg = NULL;
        g_autofree gchar *ctrl_arg = NULL;
        g_autofree gchar *state_arg = NULL;
        g_autofree gchar *log_arg = NULL;
        g_autoptr(GError) error_local = NULL;
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);

        if (g_mkdir_with_parents(state_dir, 0700) != 0) {
                int e = errno;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating %s: %s",
                            state_dir,
                            g_strerror(e));
                return NULL;
        }
        self->state_dir = g_strdup(state_dir);
        self->sock_path = g_build_filename(state_dir, "swtpm.sock", NULL);
        self->tcti_conf = g_strdup_printf("swtpm:path=%s", self->sock_path);
        ctrl_path = g_strdup_printf("%s.ctrl", self->sock_path);
        server_arg = g_strdup_printf("type=unixio,path=%s", self->sock_path);
        ctrl_arg = g_strdup_printf("type=unixio,path=%s", ctrl_path);
        state_arg = g_strdup_printf("dir=%s", state_dir);
        log_arg = g_strdup_printf("file=%s/swtpm.log", state_dir);
        g_subprocess_launcher_set_child_setup(launcher,
                                              vtc_swtpm_child_setup,
                                              GINT_TO_POINTER((gint)getpid()),
                                              NULL);
        self->proc = g_subprocess_launcher_spawn(launcher,
                                                 &error_local,
                                                 "swtpm",
                                                 "socket",
                                                 "--tpm2",
                                                 "--server",
                                                 server_arg,
                                                 "--ctrl",
                                                 ctrl_arg,
                                                 "--tpmstate",
                                                 state_arg,
                                                 "--log",
                                                 log_arg,
                                                 "--flags",
                                                 "not-need-init,startup-clear",
                                                 NULL);
        if (self->proc == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "starting swtpm in %s: %s",
                            state_dir,
                            error_local->message);
                return NULL;
        }
        /* Wait for the sockets instead of sleeping a fixed time; give up after 10 s. */
        for (guint i = 0; i < 1000; i++) {
                if (vtc_swtpm_socket_accepts(ctrl_path) &&
                    vtc_swtpm_socket_accepts(self->sock_path))
                        return g_steal_pointer(&self);
                /* the identifier goes away once GLib has reaped the child */
                if (g_subprocess_get_identifier(self->proc) == NULL)
                        break;
                g_usleep(10000);
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_IO,
                    "swtpm in %s did not come up (see %s/swtpm.log)",
                    state_dir,
                    state_dir);
        return NULL;
}

const gchar *
vtc_swtpm_get_tcti_conf(VtcSwtpm *self)
{
        return self->tcti_conf;
}

const gchar *
vtc_swtpm_get_state_dir(VtcSwtpm *self)
{
        return self->state_dir;
}

GPid
vtc_swtpm_get_pid(VtcSwtpm *self)
{
        const gchar *id = g_subprocess_get_identifier(self->proc);
        return id != NULL ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

ESYS_CONTEXT *
vtc_esys_open(const gchar *tcti_conf, GError **error)
{
        TSS2_TCTI_CONTEXT *tcti = NULL;
        ESYS_CONTEXT *ctx = NULL;
        TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &tcti);

        if (rc != TSS2_RC_SUCCESS) {
                vtc_tss_set_error(error, rc, "opening TCTI");
                g_prefix_error(error, "%s: ", tcti_conf);
                return NULL;
        }
        rc = Esys_Initialize(&ctx, tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Tss2_TctiLdr_Finalize(&tcti);
                vtc_tss_set_error(error, rc, "Esys_Initialize");
                return NULL;
        }
        return ctx;
}

void
vtc_esys_close(ESYS_CONTEXT *ctx)
{
        TSS2_TCTI_CONTEXT *tcti = NULL;

        if (ctx == NULL)
                return;
        if (Esys_GetTcti(ctx, &tcti) != TSS2_RC_SUCCESS)
                tcti = NULL;
        Esys_Finalize(&ctx);
        if (tcti != NULL)
                Tss2_TctiLdr_Finalize(&tcti);
}

ESYS_CONTEXT *
vtc_swtpm_esys_open(VtcSwtpm *self, GError **error)
{
        return vtc_esys_open(self->tcti_conf, error);
}

/*
 * The child that GLib forks becomes a subreaper, forks again, and reaps everything below it
 * (swtpm_setup and the swtpm it orphans) before it exits with swtpm_setup's status; the
 * grandchild goes on to exec swtpm_setup. Both die with their parent (PR_SET_PDEATHSIG). Only
 * async-signal-safe calls here.
 */
void
vtc_swtpm_setup_child_setup(gpointer user_data)
{
        pid_t parent = (pid_t)GPOINTER_TO_INT(user_data);
        pid_t self = getpid();
        pid_t setup;
        pid_t w;
        int status = 0;
        int st;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
                _exit(127);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
                return; /* swtpm_setup runs all the same, only unreaped */
        setup = fork();
        if (setup < 0)
                _exit(127);
        if (setup == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != self)
                        _exit(127);
                return;
        }
        while ((w = waitpid(-1, &st, 0)) > 0 || (w < 0 && errno == EINTR)) {
                if (w == setup)
                        status = st;
        }
        if (WIFEXITED(status))
                _exit(WEXITSTATUS(status));
        _exit(128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
}

static gboolean
vtc_swtpm_write(const gchar *path, const gchar *text, GError **error)
{
        return vtc_file_write_atomic(path, (const guint8 *)text, strlen(text), 0600, error);
}

gboolean
vtc_swtpm_manufacture(const gchar *state_dir, const gchar *ca_dir, GError **error)
{
        g_autofree gchar *setup_conf = g_build_filename(ca_dir, "swtpm_setup.conf", NULL);
        g_autofree gchar *localca_conf = g_build_filename(ca_dir, "swtpm-localca.conf", NULL);
        g_autofree gchar *localca_opts = g_build_filename(ca_dir, "swtpm-localca.options", NULL);
        g_autofree gchar *logfile = g_build_filename(ca_dir, "swtpm_setup.log", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        g_autoptr(GError) error_local = NULL;
        gint status = 0;
        const gchar *argv[] = {"swtpm_setup",
                               "--tpm2",
                               "--tpmstate",
                               state_dir,
                               "--createek",
                               "--create-ek-cert",
                               "--ecc",
                               "--config",
                               setup_conf,
                               "--logfile",
                               logfile,
                               "--overwrite",
                               NULL};

        if (g_mkdir_with_parents(ca_dir, 0700) != 0 || g_mkdir_with_parents(state_dir, 0700) != 0) {
                int e = errno;
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating %s or %s: %s",
                            ca_dir,
                            state_dir,
                            g_strerror(e));
                return FALSE;
        }
        text = g_strdup_printf("statedir = %s\n"
                               "signingkey = %s/signkey.pem\n"
                               "issuercert = %s/issuercert.pem\n"
                               "certserial = %s/certserial\n",
                               ca_dir,
                               ca_dir,
                               ca_dir,
                               ca_dir);
        if (!vtc_swtpm_write(localca_conf, text, error) ||
            !vtc_swtpm_write(localca_opts,
                             "--platform-manufacturer vtc\n--platform-version 2.1\n"
                             "--platform-model swtpm\n",
                             error))
                return FALSE;
        g_free(text);
        text = g_strdup_printf("create_certs_tool = swtpm_localca\n"
                               "create_certs_tool_config = %s\n"
                               "create_certs_tool_options = %s\n"
                               "active_pcr_banks = sha1,sha256\n",
                               localca_conf,
                               localca_opts);
        if (!vtc_swtpm_write(setup_conf, text, error))
                return FALSE;
        if (!g_spawn_sync(NULL,
                          (gchar **)argv,
                          NULL,
                          G_SPAWN_SEARCH_PATH,
                          vtc_swtpm_setup_child_setup,
                          GINT_TO_POINTER((gint)getpid()),
                          &out,
                          &err,
                          &status,
                          &error_local) ||
            !g_spawn_check_wait_status(status, &error_local)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "swtpm_setup for %s: %s (see %s)",
                            state_dir,
                            error_local->message,
                            logfile);
                return FALSE;
        }
        return TRUE;
}
