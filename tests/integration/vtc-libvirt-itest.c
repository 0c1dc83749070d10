/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc under real libvirt: `vtc-hostd --install` into the machine's own /, a real libvirtd and
 * virtlogd started after the hook exists, a real vtc-hostd on a swtpm standing in for the
 * hardware TPM, and a TCG QEMU domain with a libvirt-managed vTPM (it sits in SeaBIOS: no disk,
 * no kernel). Checked:
 * (1) the vTPM's EK certificate in NV 0x01c00002 (read from a copy of the stopped vTPM's state
 *     with a private swtpm) is for the vTPM's EK and verifies with the CA key hostd keeps in the
 *     hardware TPM (persistent handle 0x81000003);
 * (2) the vTPM log holds VTPM_START and VTPM_STOP for the domain, START with the SHA-256 of that
 *     EK's SubjectPublicKeyInfo;
 * (3) after hostd stops, the hardware PCR 23 equals the log's replay;
 * (4) with hostd down at prepare, policy fail_closed: `virsh start` fails showing the hook's
 *     message; fail_open: the domain starts.
 * (5) protected VMs (a second subprocess): `vtc-hostd vm protect` on a domain without a TPM adds
 *     the vTPM, the channel and the encryption secret; the domain starts with the key hostd
 *     unseals and hands over at prepare (withdrawn after `started`); its vTPM state is encrypted
 *     (blob header flag, and a private swtpm without the key cannot use it); after a libvirtd
 *     restart (ephemeral secrets gone) it still starts; the state copied under another
 *     protected domain does not start; a hostd on another "hardware" TPM (a second swtpm, the
 *     same sealed keys) cannot unseal and the start fails with hostd's words; `vm unprotect`
 *     refuses while encrypted state exists, then removes what protect added.
 *
 * It changes the machine, so it runs only as root, and only when neither libvirtd nor a vtc
 * install nor a vtc-hostd is there already (libvirtd reads its hooks only when it starts). The
 * work runs in a subprocess; this process then cleans up whatever happened there: it destroys
 * and undefines the domain, kills the processes the test started (by their pids, nothing else),
 * stops the libvirtd and virtlogd it started, runs `vtc-hostd --uninstall`, and checks that
 * the files vtc touched are as they were before.
 */
#include <errno.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-hostd-protect.h"
#include "vtc-hostd-proto.h"
#include "vtc-itest-common.h"
#include "vtc-quote.h"
#include "vtc-test-common.h"
#include "vtc-util.h"
#include "vtc-vtpm-log.h"

#define VIRSH_TIMEOUT     "25" /* seconds, for `timeout`; vtc_itest_run allows 30 */
#define HOST_ID           "vtc-itest-host"
#define CA_HANDLE         0x81000003
#define VTPM_LOG_PCR      23
#define PLATFORM_CERT_NV  0x01c08000
#define HOOK_CONF         "/etc/vtc/hook.conf"
#define SWTPM_CONF        "/etc/swtpm_setup.conf"
#define HOOK_DIR          "/etc/libvirt/hooks/qemu.d"
#define INSTALL_MANIFEST  "/var/lib/vtc/install.manifest"
#define LIBVIRT_SWTPM_DIR "/var/lib/libvirt/swtpm"
#define WAIT_STEP_US      (100 * 1000)
#define WAIT_STEPS        300 /* 30 s */

/* ---- small helpers ----------------------------------------------------------------------- */

static gboolean
run(const gchar *const *argv, gchar **out_stdout, gchar **out_stderr, gint *out_status)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        gint status = -1;

        if (!vtc_itest_run(argv, &out, &err, &status, &error)) {
                g_printerr("# %s: %s\n", argv[0], error->message);
                return FALSE;
        }
        if (out_stdout != NULL)
                *out_stdout = g_steal_pointer(&out);
        if (out_stderr != NULL)
                *out_stderr = g_steal_pointer(&err);
        *out_status = status;
        return TRUE;
}

/* virsh on the system connection, under `timeout`: exit status in *out_status (124: timeout). */
static gboolean
virsh(const gchar *a1, const gchar *a2, gchar **out_stdout, gchar **out_stderr, gint *out_status)
{
        const gchar *argv[] = {"timeout",
                               "-k",
                               "5",
                               VIRSH_TIMEOUT,
                               "virsh",
                               "-q",
                               "-c",
                               "qemu:///system",
                               a1,
                               a2,
                               NULL};

        return run(argv, out_stdout, out_stderr, out_status);
}

static gdouble
seconds_since(gint64 t0)
{
        return (gdouble)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
}

static void note_timing(const gchar *dir, const gchar *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Timings go to a file the parent prints (the child's stdout is not shown). */
static void
note_timing(const gchar *dir, const gchar *fmt, ...)
{
        g_autofree gchar *path = g_build_filename(dir, "timings", NULL);
        g_autofree gchar *line = NULL;
        FILE *f;
        va_list ap;

        va_start(ap, fmt);
        line = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        f = fopen(path, "a");
        if (f != NULL) {
                fprintf(f, "%s\n", line);
                fclose(f);
        }
}

/* Pids of processes the subprocess starts, for the parent to kill if it dies first. */
static void
note_pid(const gchar *dir, GPid pid, const gchar *what)
{
        g_autofree gchar *path = g_build_filename(dir, "pids", NULL);
        FILE *f = fopen(path, "a");

        g_assert_nonnull(f);
        fprintf(f, "%d %s\n", (int)pid, what);
        fclose(f);
}

static gchar *
proc_comm(GPid pid)
{
        g_autofree gchar *path = g_strdup_printf("/proc/%d/comm", (int)pid);
        gchar *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        return g_strstrip(text);
}

/* The first process whose name is @comm, or 0. */
static GPid
find_process(const gchar *comm)
{
        g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
        const gchar *name;

        if (dir == NULL)
                return 0;
        while ((name = g_dir_read_name(dir)) != NULL) {
                guint64 pid = 0;
                g_autofree gchar *c = NULL;
                if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL))
                        continue;
                c = proc_comm((GPid)pid);
                if (g_strcmp0(c, comm) == 0)
                        return (GPid)pid;
        }
        return 0;
}

/* SIGTERM to @pid if it still is @comm, then up to 30 s for it to go, then SIGKILL. */
static gboolean
stop_pid(GPid pid, const gchar *comm)
{
        g_autofree gchar *c = proc_comm(pid);

        if (c == NULL || g_strcmp0(c, comm) != 0)
                return TRUE;
        kill(pid, SIGTERM);
        for (guint i = 0; i < WAIT_STEPS; i++) {
                g_autofree gchar *now = proc_comm(pid);
                if (now == NULL || g_strcmp0(now, comm) != 0)
                        return TRUE;
                g_usleep(WAIT_STEP_US);
        }
        kill(pid, SIGKILL);
        return FALSE;
}

static gboolean
socket_connects(const gchar *path)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        vtc_autofd int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
                return FALSE;
        memcpy(addr.sun_path, path, strlen(path));
        return connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}

static gchar *
read_text(const gchar *path)
{
        gchar *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        return text;
}

/* What the parent tells the subprocess (its test directory, the domain's name and uuid), in a
 * key file named after the parent's pid: setenv() is not safe once GLib has threads. */
static gchar *
shared_path(GPid parent)
{
        g_autofree gchar *base = g_strdup_printf("vtc-libvirt-itest-%d.ini", (int)parent);

        return g_build_filename(g_get_tmp_dir(), base, NULL);
}

/* ---- the subprocess: hostd, the domain, the checks ---------------------------------------- */

static void
child_setup_cb(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
hostd_start(const gchar *dir, const gchar *config, GError **error)
{
        g_autofree gchar *log = g_build_filename(dir, "hostd.log", NULL);
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GSubprocess) proc = NULL;

        g_subprocess_launcher_set_child_setup(launcher, child_setup_cb, NULL, NULL);
        g_subprocess_launcher_set_stderr_file_path(launcher, log);
        proc = g_subprocess_launcher_spawn(launcher,
                                           error,
                                           g_getenv("VTC_HOSTD"),
                                           "--config",
                                           config,
                                           NULL);
        if (proc == NULL)
                return NULL;
        note_pid(dir,
                 (GPid)g_ascii_strtoll(g_subprocess_get_identifier(proc), NULL, 10),
                 "vtc-hostd");
        for (guint i = 0; i < WAIT_STEPS; i++) {
                if (g_subprocess_get_identifier(proc) == NULL) {
                        g_autofree gchar *text = read_text(log);
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_UNAVAILABLE,
                                    "vtc-hostd exited at start: %s",
                                    text != NULL ? text : "(no log)");
                        return NULL;
                }
                if (socket_connects(VTC_HOSTD_SOCKET_DEFAULT))
                        return g_steal_pointer(&proc);
                g_usleep(WAIT_STEP_US);
        }
        g_set_error(error,
                    VTC_ERROR,
                    VTC_ERROR_TIMEOUT,
                    "vtc-hostd did not serve " VTC_HOSTD_SOCKET_DEFAULT " within 30 s");
        return NULL;
}

/* SIGTERM and the exit, which must be 0. */
static void
hostd_stop(GSubprocess *proc)
{
        g_subprocess_send_signal(proc, SIGTERM);
        for (guint i = 0; i < WAIT_STEPS && g_subprocess_get_identifier(proc) != NULL; i++)
                g_usleep(WAIT_STEP_US);
        g_assert_null(g_subprocess_get_identifier(proc));
        g_assert_true(g_subprocess_wait(proc, NULL, NULL));
        g_assert_true(g_subprocess_get_if_exited(proc));
        g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
}

static gchar *
domstate(const gchar *name)
{
        g_autofree gchar *out = NULL;
        gint status = -1;

        g_assert_true(virsh("domstate", name, &out, NULL, &status));
        g_assert_cmpint(status, ==, 0);
        return g_strdup(g_strstrip(out));
}

static void
start_domain(const gchar *dir, const gchar *name, const gchar *what)
{
        g_autofree gchar *err = NULL;
        g_autofree gchar *state = NULL;
        gint status = -1;
        gint64 t0 = g_get_monotonic_time();

        g_assert_true(virsh("start", name, NULL, &err, &status));
        if (status != 0)
                g_printerr("# virsh start %s: %s\n", name, err);
        g_assert_cmpint(status, ==, 0);
        note_timing(dir, "virsh start (%s): %.2f s", what, seconds_since(t0));
        state = domstate(name);
        g_assert_cmpstr(state, ==, "running");
}

static void
destroy_domain(const gchar *name)
{
        g_autofree gchar *err = NULL;
        g_autofree gchar *state = NULL;
        gint status = -1;

        g_assert_true(virsh("destroy", name, NULL, &err, &status));
        if (status != 0)
                g_printerr("# virsh destroy %s: %s\n", name, err);
        g_assert_cmpint(status, ==, 0);
        state = domstate(name);
        g_assert_cmpstr(state, ==, "shut off");
}

/* The vTPM log, parsed; waits (30 s) until it names @uuid in an entry of @type. */
static GBytes *
log_wait_for(const gchar *path, const gchar *uuid, const gchar *type)
{
        g_autofree gchar *needle_uuid = g_strdup_printf("\"uuid\":\"%s\"", uuid);
        g_autofree gchar *needle_type = g_strdup_printf("\"type\":\"%s\"", type);

        for (guint i = 0; i < WAIT_STEPS; i++) {
                g_autofree gchar *text = read_text(path);
                g_auto(GStrv) lines = text != NULL ? g_strsplit(text, "\n", -1) : NULL;
                for (guint j = 0; lines != NULL && lines[j] != NULL; j++) {
                        if (strstr(lines[j], needle_uuid) != NULL &&
                            strstr(lines[j], needle_type) != NULL)
                                return g_bytes_new(text, strlen(text));
                }
                g_usleep(WAIT_STEP_US);
        }
        g_error("the vTPM log %s has no %s for %s after 30 s", path, type, uuid);
        return NULL;
}

static EVP_PKEY *
verify_cert(VtcTpm *vtpm, TPM2_HANDLE nv, EVP_PKEY *ca_key, EVP_PKEY *ek, const gchar *uuid)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) der = vtc_tpm_nv_read(vtpm, nv, &error);
        const guint8 *p;
        g_autoptr(X509) cert = NULL;
        g_autofree gchar *issuer = NULL;
        g_autofree gchar *subject = NULL;

        g_assert_no_error(error);
        p = g_bytes_get_data(der, NULL);
        cert = d2i_X509(NULL, &p, (long)g_bytes_get_size(der));
        g_assert_nonnull(cert);
        g_assert_true(p == (const guint8 *)g_bytes_get_data(der, NULL) + g_bytes_get_size(der));
        /* issued by hostd's CA: the signature verifies with the key in the hardware TPM */
        g_assert_cmpint(X509_verify(cert, ca_key), ==, 1);
        issuer = X509_NAME_oneline(X509_get_issuer_name(cert), NULL, 0);
        g_assert_nonnull(strstr(issuer, "CN=vtc vTPM CA " HOST_ID));
        if (ek != NULL) {
                /* for this vTPM's EK, naming this VM */
                g_assert_cmpint(EVP_PKEY_eq(X509_get0_pubkey(cert), ek), ==, 1);
                subject = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
                g_assert_nonnull(strstr(subject, uuid));
        }
        return EVP_PKEY_dup(X509_get0_pubkey(cert));
}

static void
libvirt_subprocess_test(void)
{
        g_autoptr(GKeyFile) shared = g_key_file_new();
        g_autofree gchar *shared_file = shared_path(getppid());
        g_autofree gchar *dir = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *uuid = NULL;
        g_autofree gchar *hw_dir = NULL;
        g_autofree gchar *state_dir = NULL;
        g_autofree gchar *log_path = NULL;
        g_autofree gchar *config = NULL;
        g_autofree gchar *config_path = NULL;
        g_autofree gchar *xml = NULL;
        g_autofree gchar *xml_path = NULL;
        g_autofree gchar *err = NULL;
        g_autofree gchar *vtpm_src = NULL;
        g_autofree gchar *vtpm_copy = NULL;
        g_autofree gchar *hook_conf = NULL;
        g_autofree gchar *ek_hex = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcSwtpm) hw = NULL;
        g_autoptr(GSubprocess) hostd = NULL;
        g_autoptr(GBytes) log = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        g_autoptr(EVP_PKEY) ca_key = NULL;
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autoptr(EVP_PKEY) cert_key = NULL;
        guint8 replay[32];
        guint8 spki_digest[32];
        guint64 count = 0;
        const VtcVtpmLogEntry *start = NULL;
        const VtcVtpmLogEntry *stop = NULL;
        guint n_start = 0;
        guint n_stop = 0;
        gint status = -1;
        gint64 t0;

        if (!g_test_subprocess()) {
                g_test_skip("runs inside /hostd/libvirt");
                return;
        }
        g_assert_true(g_key_file_load_from_file(shared, shared_file, G_KEY_FILE_NONE, &error));
        g_assert_no_error(error);
        dir = g_key_file_get_string(shared, "test", "dir", &error);
        g_assert_no_error(error);
        name = g_key_file_get_string(shared, "test", "name", &error);
        g_assert_no_error(error);
        uuid = g_key_file_get_string(shared, "test", "uuid", &error);
        g_assert_no_error(error);

        /* the "hardware" TPM and hostd on it; no registrar */
        hw_dir = g_build_filename(dir, "hw", NULL);
        hw = vtc_swtpm_new(hw_dir, &error);
        g_assert_no_error(error);
        note_pid(dir, vtc_swtpm_get_pid(hw), "swtpm");
        state_dir = g_build_filename(dir, "state", NULL);
        log_path = g_build_filename(state_dir, "vtpm.log", NULL);
        g_assert_cmpint(g_mkdir(state_dir, 0700), ==, 0);
        config = g_strdup_printf("[hostd]\nid = " HOST_ID "\nstate_dir = %s\n"
                                 "[tpm]\ntcti = %s\n"
                                 "[vtpm_log]\npath = %s\n"
                                 "[registrar]\nurl =\n",
                                 state_dir,
                                 vtc_swtpm_get_tcti_conf(hw),
                                 log_path);
        config_path = g_build_filename(dir, "hostd.conf", NULL);
        g_assert_true(g_file_set_contents(config_path, config, -1, NULL));
        t0 = g_get_monotonic_time();
        hostd = hostd_start(dir, config_path, &error);
        g_assert_no_error(error);
        note_timing(dir, "vtc-hostd start (new CA key and AK): %.2f s", seconds_since(t0));

        /* the domain: TCG, small, a TPM CRB with a libvirt-managed swtpm, nothing to boot */
        xml = g_strdup_printf("<domain type='qemu'>\n"
                              "  <name>%s</name>\n"
                              "  <uuid>%s</uuid>\n"
                              "  <memory unit='MiB'>64</memory>\n"
                              "  <vcpu>1</vcpu>\n"
                              "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
                              "  <devices>\n"
                              "    <tpm model='tpm-crb'><backend type='emulator' "
                              "version='2.0'/></tpm>\n"
                              "  </devices>\n"
                              "</domain>\n",
                              name,
                              uuid);
        xml_path = g_build_filename(dir, "domain.xml", NULL);
        g_assert_true(g_file_set_contents(xml_path, xml, -1, NULL));
        g_assert_true(virsh("define", xml_path, NULL, &err, &status));
        if (status != 0)
                g_printerr("# virsh define: %s\n", err);
        g_assert_cmpint(status, ==, 0);

        /* first start: swtpm_setup (as tss) manufactures the vTPM, vtc-vtpm-certify gets its
         * certificates from hostd, the hook reports prepare .. started */
        start_domain(dir, name, "first, vTPM manufactured");
        log = log_wait_for(log_path, uuid, "VTPM_START");
        g_clear_pointer(&log, g_bytes_unref);
        destroy_domain(name);
        log = log_wait_for(log_path, uuid, "VTPM_STOP");
        hostd_stop(hostd);
        g_clear_object(&hostd);
        g_clear_pointer(&log, g_bytes_unref);
        log = vtc_file_read(log_path, VTC_VTPM_LOG_MAX_SIZE, &error);
        g_assert_no_error(error);

        /* (2) the log: HOSTD_START, then exactly one START and one STOP of this domain */
        g_assert_true(vtc_vtpm_log_replay_data_from(g_bytes_get_data(log, NULL),
                                                    g_bytes_get_size(log),
                                                    0,
                                                    NULL,
                                                    replay,
                                                    &count,
                                                    &entries,
                                                    &error));
        g_assert_no_error(error);
        g_assert_cmpuint(count, ==, entries->len);
        g_assert_cmpuint(count, >=, 3);
        g_assert_cmpint(((VtcVtpmLogEntry *)g_ptr_array_index(entries, 0))->type,
                        ==,
                        VTC_VTPM_LOG_HOSTD_START);
        g_assert_cmpstr(((VtcVtpmLogEntry *)g_ptr_array_index(entries, 0))->host, ==, HOST_ID);
        for (guint i = 0; i < entries->len; i++) {
                const VtcVtpmLogEntry *e = g_ptr_array_index(entries, i);
                if (g_strcmp0(e->uuid, uuid) != 0)
                        continue;
                g_assert_cmpstr(e->name, ==, name);
                if (e->type == VTC_VTPM_LOG_VTPM_START) {
                        start = e;
                        n_start++;
                } else if (e->type == VTC_VTPM_LOG_VTPM_STOP) {
                        g_assert_nonnull(start); /* after the start */
                        stop = e;
                        n_stop++;
                }
        }
        g_assert_cmpuint(n_start, ==, 1);
        g_assert_cmpuint(n_stop, ==, 1);
        g_assert_nonnull(stop);

        /* (3) the hardware PCR is the log's replay; the CA key for (1) */
        {
                g_autoptr(VtcTpm) tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(hw), &error);
                g_autoptr(VtcPcrValues) pcrs = NULL;
                TPML_PCR_SELECTION sel;
                TPM2B_PUBLIC tmpl;
                TPM2B_PUBLIC pub = {0};
                ESYS_TR ca = ESYS_TR_NONE;
                const guint8 *v;
                gsize len = 0;

                g_assert_no_error(error);
                vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 1u << VTPM_LOG_PCR);
                pcrs = vtc_tpm_pcr_read(tpm, &sel, &error);
                g_assert_no_error(error);
                v = vtc_pcr_values_get(pcrs, TPM2_ALG_SHA256, VTPM_LOG_PCR, &len);
                g_assert_nonnull(v);
                g_assert_cmpmem(v, len, replay, sizeof(replay));
                /* hostd's vTPM CA key: persisted at 0x81000003 (an existing key is loaded,
                 * never made anew) */
                vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &tmpl);
                g_assert_true(vtc_tpm_key_ensure(tpm, CA_HANDLE, &tmpl, &ca, &pub, &error));
                g_assert_no_error(error);
                ca_key = vtc_tpm_public_to_pkey(&pub, &error);
                g_assert_no_error(error);
        }

        /* (1) the stopped vTPM, read from a copy of its state with a private swtpm */
        vtpm_src = g_build_filename(LIBVIRT_SWTPM_DIR, uuid, "tpm2", NULL);
        vtpm_copy = g_build_filename(dir, "vtpm-copy", NULL);
        g_assert_true(vtc_itest_tpm_state_copy(vtpm_src, vtpm_copy, &error));
        g_assert_no_error(error);
        {
                g_autoptr(VtcSwtpm) sw = vtc_swtpm_new(vtpm_copy, &error);
                g_autoptr(VtcTpm) vtpm = NULL;
                TPM2B_PUBLIC ek_pub = {0};
                ESYS_TR ek_handle = ESYS_TR_NONE;
                gboolean transient = FALSE;
                g_autoptr(EVP_PKEY) ecc_key = NULL;
                g_autoptr(EVP_PKEY) platform_key = NULL;
                guint8 *der = NULL;
                int der_len;

                g_assert_no_error(error);
                note_pid(dir, vtc_swtpm_get_pid(sw), "swtpm");
                vtpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(sw), &error);
                g_assert_no_error(error);
                g_assert_true(vtc_tpm_ek_open(vtpm,
                                              VTC_TPM_KEY_RSA2048,
                                              &ek_handle,
                                              &ek_pub,
                                              &transient,
                                              &error));
                g_assert_no_error(error);
                g_assert_false(transient); /* swtpm_setup persisted it at 0x81010001 */
                ek = vtc_tpm_public_to_pkey(&ek_pub, &error);
                g_assert_no_error(error);
                cert_key = verify_cert(vtpm, VTC_TPM_EK_RSA_CERT_NV, ca_key, ek, uuid);
                /* the ECC EK's and the platform certificate: hostd's too */
                ecc_key = verify_cert(vtpm, VTC_TPM_EK_P384_CERT_NV, ca_key, NULL, uuid);
                g_assert_cmpint(EVP_PKEY_get_base_id(ecc_key), ==, EVP_PKEY_EC);
                platform_key = verify_cert(vtpm, PLATFORM_CERT_NV, ca_key, NULL, uuid);
                /* (2) again: START names this EK (its DER SubjectPublicKeyInfo's SHA-256) */
                der_len = i2d_PUBKEY(ek, &der);
                g_assert_cmpint(der_len, >, 0);
                EVP_Digest(der, (size_t)der_len, spki_digest, NULL, EVP_sha256(), NULL);
                OPENSSL_free(der);
                g_assert_cmpmem(start->ek_sha256, 32, spki_digest, 32);
        }

        /* (4) hostd down at prepare; fail_closed (as installed): no start, the hook's words */
        hook_conf = read_text(HOOK_CONF);
        g_assert_nonnull(hook_conf);
        g_assert_nonnull(strstr(hook_conf, "\npolicy = fail_closed\n"));
        g_clear_pointer(&err, g_free);
        g_assert_true(virsh("start", name, NULL, &err, &status));
        g_assert_cmpint(status, ==, 1);
        {
                g_autofree gchar *want =
                    g_strdup_printf("vtc: refusing to start domain '%s' (vtc hook policy "
                                    "fail_closed): ",
                                    name);
                if (strstr(err, want) == NULL)
                        g_printerr("# virsh start said: %s\n", err);
                g_assert_nonnull(strstr(err, want));
                g_assert_nonnull(strstr(err, VTC_HOSTD_SOCKET_DEFAULT));
        }
        {
                g_autofree gchar *state = domstate(name);
                g_assert_cmpstr(state, ==, "shut off");
        }
        /* fail_open: it starts (without vtc) */
        g_assert_true(g_file_set_contents(HOOK_CONF, "policy = fail_open\n", -1, NULL));
        start_domain(dir, name, "hostd down, fail_open");
        destroy_domain(name);
        g_assert_true(g_file_set_contents(HOOK_CONF, hook_conf, -1, NULL));
        g_assert_cmpint(chmod(HOOK_CONF, 0644), ==, 0);

        g_clear_pointer(&err, g_free);
        g_assert_true(virsh("undefine", name, NULL, &err, &status));
        if (status != 0)
                g_printerr("# virsh undefine: %s\n", err);
        g_assert_cmpint(status, ==, 0);
        ek_hex = vtc_hex_encode(spki_digest, 32);
        note_timing(dir, "vTPM EK SPKI SHA-256 %s, log entries %" G_GUINT64_FORMAT, ek_hex, count);
}

/* ---- the parent: install, libvirtd, the subprocess, clean-up --------------------------------- */

typedef struct {
        gchar *swtpm_conf;      /* /etc/swtpm_setup.conf's bytes, or NULL */
        gchar *tss_conf;        /* tss's ~/.config/swtpm_setup.conf, or NULL */
        gboolean hook_dir;      /* /etc/libvirt/hooks/qemu.d existed */
        gboolean etc_vtc;       /* /etc/vtc existed */
        gboolean run_vtc;       /* /run/vtc existed */
        gboolean var_lib_vtc;   /* /var/lib/vtc existed */
        gboolean swtpm_dir;     /* /var/lib/libvirt/swtpm existed */
        gboolean swtpm_log_dir; /* /var/log/swtpm existed */
} MachineState;

static void
machine_state_read(MachineState *m, const gchar *tss_conf_path)
{
        m->swtpm_conf = read_text(SWTPM_CONF);
        m->tss_conf = read_text(tss_conf_path);
        m->hook_dir = g_file_test(HOOK_DIR, G_FILE_TEST_EXISTS);
        m->etc_vtc = g_file_test("/etc/vtc", G_FILE_TEST_EXISTS);
        m->run_vtc = g_file_test("/run/vtc", G_FILE_TEST_EXISTS);
        m->var_lib_vtc = g_file_test("/var/lib/vtc", G_FILE_TEST_EXISTS);
        m->swtpm_dir = g_file_test(LIBVIRT_SWTPM_DIR, G_FILE_TEST_EXISTS);
        m->swtpm_log_dir = g_file_test("/var/log/swtpm", G_FILE_TEST_EXISTS);
}

static void
machine_state_clear(MachineState *m)
{
        g_free(m->swtpm_conf);
        g_free(m->tss_conf);
}

static void problem(GString *problems, const gchar *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
problem(GString *problems, const gchar *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        g_string_append_vprintf(problems, fmt, ap);
        va_end(ap);
        g_string_append_c(problems, '\n');
}

/* Starts @program -d unless one runs; returns the pid started (0: none started). */
static GPid
daemon_start(const gchar *program, GString *problems)
{
        const gchar *argv[] = {"timeout", "30", program, "-d", NULL};
        g_autoptr(GError) error = NULL;
        gint status = -1;

        if (find_process(program) != 0)
                return 0;
        /* no pipes: the daemon would hold them open */
        if (!g_spawn_sync(NULL,
                          (gchar **)argv,
                          NULL,
                          G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                              G_SPAWN_STDERR_TO_DEV_NULL,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          &status,
                          &error) ||
            !g_spawn_check_wait_status(status, &error)) {
                problem(problems, "%s -d: %s", program, error->message);
                return 0;
        }
        for (guint i = 0; i < WAIT_STEPS; i++) {
                GPid pid = find_process(program);
                if (pid != 0)
                        return pid;
                g_usleep(WAIT_STEP_US);
        }
        problem(problems, "%s -d started nothing", program);
        return 0;
}

/* ---- protected VMs (the second subprocess) ----------------------------------------------- */

/* `vtc-hostd vm ACTION DOMAIN [EXTRA]`, its output and exit status. */
static gint
vm_cmd(const gchar *action, const gchar *domain, const gchar *extra, gchar **out, gchar **err)
{
        const gchar *argv[] = {g_getenv("VTC_HOSTD"), "vm", action, domain, extra, NULL};
        gint status = -1;

        g_assert_true(run(argv, out, err, &status));
        return status;
}

static gchar *
dumpxml_inactive(const gchar *name)
{
        const gchar *argv[] = {"timeout",
                               VIRSH_TIMEOUT,
                               "virsh",
                               "-q",
                               "-c",
                               "qemu:///system",
                               "dumpxml",
                               "--inactive",
                               name,
                               NULL};
        g_autofree gchar *out = NULL;
        gint status = -1;

        g_assert_true(run(argv, &out, NULL, &status));
        g_assert_cmpint(status, ==, 0);
        return g_steal_pointer(&out);
}

static void
define_xml(const gchar *dir, const gchar *xml)
{
        g_autofree gchar *path = g_build_filename(dir, "define.xml", NULL);
        g_autofree gchar *err = NULL;
        gint status = -1;

        g_assert_true(g_file_set_contents(path, xml, -1, NULL));
        g_assert_true(virsh("define", path, NULL, &err, &status));
        if (status != 0)
                g_printerr("# virsh define: %s\n", err);
        g_assert_cmpint(status, ==, 0);
}

/* `virsh start` that must fail; its message. */
static gchar *
start_must_fail(const gchar *name)
{
        g_autofree gchar *err = NULL;
        g_autofree gchar *state = NULL;
        gint status = -1;

        g_assert_true(virsh("start", name, NULL, &err, &status));
        g_assert_cmpint(status, ==, 1);
        state = domstate(name);
        g_assert_cmpstr(state, ==, "shut off");
        return g_steal_pointer(&err);
}

/* How many libvirt secrets exist (ephemeral ones included). */
static guint
secret_count(void)
{
        g_autofree gchar *out = NULL;
        g_auto(GStrv) lines = NULL;
        gint status = -1;
        guint n = 0;

        g_assert_true(virsh("secret-list", NULL, &out, NULL, &status));
        g_assert_cmpint(status, ==, 0);
        lines = g_strsplit(out, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++) {
                if (g_strstrip(lines[i])[0] != '\0')
                        n++;
        }
        return n;
}

/* The swtpm state blob header (version, min_version, hdrsize, flags, totlen; big endian):
 * flags bit 0 is "encrypted". */
static guint16
state_blob_flags(const gchar *permall)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = vtc_file_read(permall, 1024 * 1024, &error);
        const guint8 *p;

        g_assert_no_error(error);
        g_assert_cmpuint(g_bytes_get_size(data), >=, 10);
        p = g_bytes_get_data(data, NULL);
        g_assert_cmpuint(p[0], ==, 2); /* blob header version 2 */
        return (guint16)((p[4] << 8) | p[5]);
}

static GPid
libvirtd_restart(const gchar *dir)
{
        g_autoptr(GString) problems = g_string_new(NULL);
        GPid old = find_process("libvirtd");
        GPid now;
        gint status = -1;
        gboolean up = FALSE;

        g_assert_cmpint(old, !=, 0);
        g_assert_true(stop_pid(old, "libvirtd"));
        now = daemon_start("libvirtd", problems);
        g_assert_cmpstr(problems->str, ==, "");
        note_pid(dir, now, "libvirtd");
        for (guint i = 0; i < 3 && !up; i++)
                up = virsh("version", NULL, NULL, NULL, &status) && status == 0;
        g_assert_true(up);
        return now;
}

static GSubprocess *
protect_hostd_start(const gchar *dir, const gchar *tag, VtcSwtpm **out_hw)
{
        g_autofree gchar *hw_dir = g_strdup_printf("%s/hw-%s", dir, tag);
        g_autofree gchar *state_dir = g_build_filename(dir, "pstate", NULL);
        g_autofree gchar *log_dir = g_strdup_printf("%s/plog-%s", dir, tag);
        g_autofree gchar *config = NULL;
        g_autofree gchar *config_path = g_strdup_printf("%s/hostd-%s.conf", dir, tag);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcSwtpm) hw = vtc_swtpm_new(hw_dir, &error);
        GSubprocess *hostd;

        g_assert_no_error(error);
        note_pid(dir, vtc_swtpm_get_pid(hw), "swtpm");
        g_mkdir_with_parents(state_dir, 0700);
        g_mkdir_with_parents(log_dir, 0700);
        /* the same state dir (the sealed keys) for both TPMs; a vTPM log per TPM */
        config = g_strdup_printf("[hostd]\nid = " HOST_ID "\nstate_dir = %s\n"
                                 "[tpm]\ntcti = %s\n"
                                 "[vtpm_log]\npath = %s/vtpm.log\n"
                                 "[registrar]\nurl =\n",
                                 state_dir,
                                 vtc_swtpm_get_tcti_conf(hw),
                                 log_dir);
        g_assert_true(g_file_set_contents(config_path, config, -1, NULL));
        hostd = hostd_start(dir, config_path, &error);
        g_assert_no_error(error);
        *out_hw = g_steal_pointer(&hw);
        return hostd;
}

static void
protect_subprocess_test(void)
{
        g_autoptr(GKeyFile) shared = g_key_file_new();
        g_autofree gchar *shared_file = shared_path(getppid());
        g_autoptr(GError) error = NULL;
        g_autofree gchar *dir = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *uuid = NULL;
        g_autofree gchar *clone = NULL;
        g_autofree gchar *clone_uuid = NULL;
        g_autofree gchar *xml = NULL;
        g_autofree gchar *out = NULL;
        g_autofree gchar *err = NULL;
        g_autofree gchar *dump = NULL;
        g_autofree gchar *sealed = NULL;
        g_autofree gchar *permall = NULL;
        g_autofree gchar *state_src = NULL;
        g_autoptr(VtcSwtpm) hw = NULL;
        g_autoptr(VtcSwtpm) hw2 = NULL;
        g_autoptr(GSubprocess) hostd = NULL;
        guint secrets_before;
        gint64 t0;

        if (!g_test_subprocess()) {
                g_test_skip("runs inside /hostd/libvirt");
                return;
        }
        g_assert_true(g_key_file_load_from_file(shared, shared_file, G_KEY_FILE_NONE, &error));
        g_assert_no_error(error);
        dir = g_key_file_get_string(shared, "test", "dir", &error);
        g_assert_no_error(error);
        name = g_key_file_get_string(shared, "test", "pname", &error);
        g_assert_no_error(error);
        uuid = g_key_file_get_string(shared, "test", "puuid", &error);
        g_assert_no_error(error);
        clone = g_key_file_get_string(shared, "test", "cname", &error);
        g_assert_no_error(error);
        clone_uuid = g_key_file_get_string(shared, "test", "cuuid", &error);
        g_assert_no_error(error);
        sealed = g_strdup_printf("%s/pstate/vm/%s.sealed", dir, uuid);
        permall = g_build_filename(LIBVIRT_SWTPM_DIR, uuid, "tpm2", "tpm2-00.permall", NULL);

        hostd = protect_hostd_start(dir, "a", &hw);

        /* a domain without any TPM: protect adds the vTPM, the channel and the encryption */
        xml = g_strdup_printf("<domain type='qemu'>\n"
                              "  <name>%s</name>\n"
                              "  <uuid>%s</uuid>\n"
                              "  <memory unit='MiB'>64</memory>\n"
                              "  <vcpu>1</vcpu>\n"
                              "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
                              "  <devices/>\n"
                              "</domain>\n",
                              name,
                              uuid);
        define_xml(dir, xml);
        t0 = g_get_monotonic_time();
        if (vm_cmd("protect", name, NULL, &out, &err) != 0)
                g_error("vtc-hostd vm protect: %s%s", out, err);
        note_timing(dir, "vtc-hostd vm protect: %.2f s", seconds_since(t0));
        g_test_message("vm protect said:\n%s", out);
        g_assert_nonnull(strstr(out, "added the vTPM"));
        g_assert_nonnull(
            strstr(out, "added the private channel (virtio-serial 'org.vtc.agent.0')"));
        g_assert_nonnull(strstr(out, "added <encryption secret='"));
        g_assert_true(g_file_test(sealed, G_FILE_TEST_IS_REGULAR));
        dump = dumpxml_inactive(name);
        g_assert_nonnull(strstr(dump, "<encryption secret='"));
        g_assert_nonnull(strstr(dump, "name='org.vtc.agent.0'"));
        g_assert_nonnull(strstr(dump, "<tpm model='tpm-crb'>"));
        /* again: refused, nothing changed */
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vm_cmd("protect", name, NULL, &out, &err), ==, 1);
        g_assert_nonnull(strstr(err, "protected by vtc already"));

        /* first start: swtpm_setup makes the vTPM encrypted with the key hostd handed over */
        secrets_before = secret_count();
        start_domain(dir, name, "protected, first");
        /* protect refuses a running domain */
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vm_cmd("unprotect", name, NULL, &out, &err), ==, 1);
        g_assert_nonnull(strstr(err, "is running"));
        /* the key was withdrawn once swtpm ran (asynchronously, after `started`) */
        for (guint i = 0; i < WAIT_STEPS && secret_count() != secrets_before; i++)
                g_usleep(WAIT_STEP_US);
        g_assert_cmpuint(secret_count(), ==, secrets_before);
        destroy_domain(name);

        /* the state is encrypted: the blob header says so, and a private swtpm without the key
         * cannot use it */
        g_assert_cmpuint(state_blob_flags(permall) & 0x1, ==, 0x1);
        {
                g_autofree gchar *src = g_path_get_dirname(permall);
                g_autofree gchar *copy = g_build_filename(dir, "pvtpm-copy", NULL);
                g_autoptr(VtcSwtpm) sw = NULL;
                g_autoptr(VtcTpm) vtpm = NULL;
                g_autoptr(GError) e = NULL;
                TPM2B_PUBLIC pub = {0};
                ESYS_TR ek = ESYS_TR_NONE;
                gboolean transient = FALSE;
                gboolean read = FALSE;

                g_assert_true(vtc_itest_tpm_state_copy(src, copy, &error));
                g_assert_no_error(error);
                sw = vtc_swtpm_new(copy, &e);
                if (sw != NULL) {
                        note_pid(dir, vtc_swtpm_get_pid(sw), "swtpm");
                        vtpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(sw), &e);
                        read =
                            vtpm != NULL &&
                            vtc_tpm_ek_open(vtpm, VTC_TPM_KEY_RSA2048, &ek, &pub, &transient, &e);
                }
                g_assert_false(read);
                g_assert_nonnull(e);
                g_printerr("# a private swtpm on the encrypted state without the key: %s\n",
                           e->message);
        }

        /* libvirtd restarts (ephemeral secrets are gone): the VM still starts */
        libvirtd_restart(dir);
        start_domain(dir, name, "protected, after a libvirtd restart");
        /* hostd restarts while the VM runs: it learns the VM's private channel again from
         * libvirt (no hook tells it) */
        {
                g_autofree gchar *config_path = g_strdup_printf("%s/hostd-a.conf", dir);
                g_autofree gchar *log = g_build_filename(dir, "hostd.log", NULL);
                g_autofree gchar *want =
                    g_strdup_printf("recovered the private channel of running VM %s", uuid);
                g_autofree gchar *text = NULL;

                hostd_stop(hostd);
                g_clear_object(&hostd);
                hostd = hostd_start(dir, config_path, &error);
                g_assert_no_error(error);
                for (guint i = 0; i < WAIT_STEPS; i++) {
                        g_free(text);
                        text = read_text(log);
                        if (text != NULL && strstr(text, want) != NULL)
                                break;
                        g_usleep(WAIT_STEP_US);
                }
                if (text == NULL || strstr(text, want) == NULL)
                        g_error("restarted hostd did not recover the channel of %s: %s",
                                uuid,
                                text != NULL ? text : "(no log)");
        }
        destroy_domain(name);

        /* the state copied under another (protected) domain: it does not start */
        g_free(xml);
        xml = g_strdup_printf("<domain type='qemu'><name>%s</name><uuid>%s</uuid>"
                              "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                              "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                              "<devices/></domain>\n",
                              clone,
                              clone_uuid);
        define_xml(dir, xml);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vm_cmd("protect", clone, NULL, &out, &err), ==, 0);
        state_src = g_build_filename(LIBVIRT_SWTPM_DIR, uuid, NULL);
        {
                g_autofree gchar *to = g_build_filename(LIBVIRT_SWTPM_DIR, clone_uuid, NULL);
                const gchar *argv[] = {"cp", "-a", state_src, to, NULL};
                gint status = -1;
                g_assert_true(run(argv, NULL, NULL, &status));
                g_assert_cmpint(status, ==, 0);
        }
        g_clear_pointer(&err, g_free);
        err = start_must_fail(clone);
        g_printerr("# the copied state under another domain: %s", err);
        {
                /* swtpm refuses the state (HMAC of the other key) and QEMU's TPM init fails */
                g_autofree gchar *lower = g_ascii_strdown(err, -1);
                g_assert_nonnull(strstr(lower, "tpm"));
        }

        /* another "hardware" TPM under hostd, the same sealed keys: it cannot unseal, and the
         * start fails with hostd's words */
        hostd_stop(hostd);
        g_clear_object(&hostd);
        hostd = protect_hostd_start(dir, "b", &hw2);
        g_clear_pointer(&err, g_free);
        err = start_must_fail(name);
        g_printerr("# on another hardware TPM: %s", err);
        {
                g_autofree gchar *want =
                    g_strdup_printf("vtc: refusing to start domain '%s' (vtc hook policy "
                                    "fail_closed): ",
                                    name);
                g_assert_nonnull(strstr(err, want));
                g_assert_nonnull(strstr(err, "sealed under another TPM"));
        }

        /* unprotect: refused while encrypted state exists, then with --discard-vtpm-state */
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(vm_cmd("unprotect", name, NULL, &out, &err), ==, 1);
        g_assert_nonnull(strstr(err, "--discard-vtpm-state"));
        g_assert_true(g_file_test(sealed, G_FILE_TEST_IS_REGULAR));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        if (vm_cmd("unprotect", name, "--discard-vtpm-state", &out, &err) != 0)
                g_error("vtc-hostd vm unprotect: %s%s", out, err);
        g_test_message("vm unprotect said:\n%s", out);
        g_assert_nonnull(strstr(out, "removed the vTPM"));
        g_assert_nonnull(strstr(out, "removed the private channel"));
        g_assert_nonnull(strstr(out, "vtc-hostd deleted the sealed key"));
        g_assert_false(g_file_test(sealed, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test(permall, G_FILE_TEST_EXISTS));
        g_clear_pointer(&dump, g_free);
        dump = dumpxml_inactive(name);
        g_assert_null(strstr(dump, "<tpm"));
        g_assert_null(strstr(dump, "org.vtc.agent.0"));
        g_assert_null(strstr(dump, VTC_HOSTD_PROTECT_NS));
        hostd_stop(hostd);
        g_clear_object(&hostd);

        {
                gint status = -1;
                g_assert_true(virsh("undefine", name, NULL, NULL, &status));
                g_assert_cmpint(status, ==, 0);
                g_assert_true(virsh("undefine", clone, NULL, NULL, &status));
                g_assert_cmpint(status, ==, 0);
        }
}

static void
libvirt_test(void)
{
        const gchar *hostd_program = g_getenv("VTC_HOSTD");
        const gchar *hook_program = g_getenv("VTC_HOOK");
        const gchar *certify_program = g_getenv("VTC_VTPM_CERTIFY");
        const gchar *programs[] = {"virsh",
                                   "libvirtd",
                                   "virtlogd",
                                   "qemu-system-x86_64",
                                   "swtpm",
                                   "swtpm_setup",
                                   "timeout"};
        g_autoptr(GString) problems = g_string_new(NULL);
        g_autofree gchar *dir = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *uuid = NULL;
        g_autofree gchar *out = NULL;
        g_autofree gchar *installed_hook_conf = NULL;
        g_autofree gchar *tss_conf_path = NULL;
        g_autofree gchar *timings_path = NULL;
        g_autofree gchar *timings = NULL;
        g_autofree gchar *pids_path = NULL;
        g_autofree gchar *pids = NULL;
        g_autofree gchar *shared_file = NULL;
        /* the protected domain and its clone (the second subprocess) */
        g_autofree gchar *pname = NULL;
        g_autofree gchar *puuid = NULL;
        g_autofree gchar *cname = NULL;
        g_autofree gchar *cuuid = NULL;
        gboolean protect_passed = FALSE;
        MachineState before = {0};
        MachineState after = {0};
        GPid virtlogd = 0;
        GPid libvirtd = 0;
        gboolean installed = FALSE;
        gboolean child_passed = FALSE;
        gint status = -1;
        gint64 t0;
        gint64 t_all = g_get_monotonic_time();
        struct passwd *tss = getpwnam("tss");

        for (guint i = 0; i < G_N_ELEMENTS(programs); i++)
                vtc_test_require_program(programs[i]);
        if (geteuid() != 0) {
                if (g_getenv("VTC_TEST_REQUIRE_ALL") != NULL)
                        g_error("the libvirt test installs vtc into /: it must run as root");
                g_test_skip("installs vtc into / and starts libvirtd: needs root");
                return;
        }
        g_assert_nonnull(hostd_program);
        g_assert_nonnull(hook_program);
        g_assert_nonnull(certify_program);
        g_assert_nonnull(tss);
        /* not on a machine that runs vtc or libvirt already: the test must not disturb it, and
         * a running libvirtd would not see the hook (it looks only when it starts) */
        if (g_file_test(INSTALL_MANIFEST, G_FILE_TEST_EXISTS) ||
            socket_connects(VTC_HOSTD_SOCKET_DEFAULT) || find_process("libvirtd") != 0) {
                if (g_getenv("VTC_TEST_REQUIRE_ALL") != NULL)
                        g_error("vtc is installed, or vtc-hostd or libvirtd runs, on this machine: "
                                "the libvirt test needs a machine without them");
                g_test_skip("vtc is installed, or vtc-hostd or libvirtd runs, here already");
                return;
        }

        dir = vtc_test_tmpdir_new();
        g_assert_cmpint(chmod(dir, 0755), ==, 0);
        name = g_strdup_printf("vtc-itest-%d", (int)getpid());
        uuid = g_uuid_string_random();
        pname = g_strdup_printf("vtc-itest-%d-p", (int)getpid());
        puuid = g_uuid_string_random();
        cname = g_strdup_printf("vtc-itest-%d-c", (int)getpid());
        cuuid = g_uuid_string_random();
        tss_conf_path = g_build_filename(tss->pw_dir, ".config", "swtpm_setup.conf", NULL);
        machine_state_read(&before, tss_conf_path);

        /* install for real, then libvirt: the hook exists before libvirtd starts */
        {
                const gchar *argv[] = {hostd_program,
                                       "--install",
                                       "--hook-program",
                                       hook_program,
                                       "--certify-program",
                                       certify_program,
                                       NULL};
                g_autofree gchar *err = NULL;
                t0 = g_get_monotonic_time();
                if (!run(argv, &out, &err, &status) || status != 0) {
                        problem(problems, "vtc-hostd --install failed: %s%s", out, err);
                } else {
                        installed = TRUE;
                        g_test_message("vtc-hostd --install (%.2f s):", seconds_since(t0));
                        g_test_message("%s", out);
                        installed_hook_conf = read_text(HOOK_CONF);
                        if (strstr(out, "Restart libvirtd") == NULL && !before.hook_dir)
                                problem(problems, "the install did not say to restart libvirtd");
                }
        }
        if (problems->len == 0) {
                virtlogd = daemon_start("virtlogd", problems);
                t0 = g_get_monotonic_time();
                libvirtd = daemon_start("libvirtd", problems);
        }
        if (problems->len == 0) {
                /* its first connection probes QEMU (several seconds) */
                g_autofree gchar *err = NULL;
                gboolean up = FALSE;
                for (guint i = 0; i < 3 && !up; i++) {
                        g_clear_pointer(&err, g_free);
                        up = virsh("version", NULL, NULL, &err, &status) && status == 0;
                }
                if (!up)
                        problem(problems, "libvirtd does not answer: %s", err);
                else
                        g_test_message("libvirtd started, first connection after %.2f s",
                                       seconds_since(t0));
        }

        if (problems->len == 0) {
                g_autoptr(GKeyFile) shared = g_key_file_new();
                g_key_file_set_string(shared, "test", "dir", dir);
                g_key_file_set_string(shared, "test", "name", name);
                g_key_file_set_string(shared, "test", "uuid", uuid);
                g_key_file_set_string(shared, "test", "pname", pname);
                g_key_file_set_string(shared, "test", "puuid", puuid);
                g_key_file_set_string(shared, "test", "cname", cname);
                g_key_file_set_string(shared, "test", "cuuid", cuuid);
                shared_file = shared_path(getpid());
                if (!g_key_file_save_to_file(shared, shared_file, NULL))
                        problem(problems, "cannot write %s", shared_file);
                t0 = g_get_monotonic_time();
                g_test_trap_subprocess("/hostd/libvirt/subprocess",
                                       (guint64)480 * G_USEC_PER_SEC,
                                       G_TEST_SUBPROCESS_INHERIT_STDERR);
                child_passed = g_test_trap_has_passed();
                g_test_message("domain part %s after %.2f s",
                               child_passed ? "passed" : "FAILED",
                               seconds_since(t0));
        }
        if (child_passed) {
                t0 = g_get_monotonic_time();
                g_test_trap_subprocess("/hostd/libvirt/protect/subprocess",
                                       (guint64)480 * G_USEC_PER_SEC,
                                       G_TEST_SUBPROCESS_INHERIT_STDERR);
                protect_passed = g_test_trap_has_passed();
                g_test_message("protected VM part %s after %.2f s",
                               protect_passed ? "passed" : "FAILED",
                               seconds_since(t0));
                if (!protect_passed)
                        problem(problems, "the protected VM part failed");
        }
        /* the protected VM part restarts libvirtd: the one running now is the one to stop */
        if (libvirtd != 0) {
                g_autofree gchar *comm = proc_comm(libvirtd);
                if (g_strcmp0(comm, "libvirtd") != 0) {
                        libvirtd = find_process("libvirtd");
                        if (libvirtd == 0)
                                libvirtd = daemon_start("libvirtd", problems);
                }
        }

        /* clean-up, whatever happened */
        if (shared_file != NULL)
                g_unlink(shared_file);
        timings_path = g_build_filename(dir, "timings", NULL);
        timings = read_text(timings_path);
        if (timings != NULL)
                g_test_message("%s", timings);
        if (!child_passed || !protect_passed) {
                g_autofree gchar *hostd_log_path = g_build_filename(dir, "hostd.log", NULL);
                g_autofree gchar *hostd_log = read_text(hostd_log_path);
                if (hostd_log != NULL)
                        g_test_message("vtc-hostd's log:\n%s", hostd_log);
        }
        if (libvirtd != 0) {
                g_autofree gchar *o = NULL;
                if (virsh("domstate", name, &o, NULL, &status) && status == 0) {
                        virsh("destroy", name, NULL, NULL, &status);
                        virsh("undefine", name, NULL, NULL, &status);
                        if (status != 0)
                                problem(problems, "could not undefine %s", name);
                }
                for (guint i = 0; i < 2; i++) {
                        const gchar *n = i == 0 ? pname : cname;
                        g_autofree gchar *o2 = NULL;
                        if (virsh("domstate", n, &o2, NULL, &status) && status == 0) {
                                virsh("destroy", n, NULL, NULL, &status);
                                virsh("undefine", n, NULL, NULL, &status);
                                if (status != 0)
                                        problem(problems, "could not undefine %s", n);
                        }
                }
        }
        pids_path = g_build_filename(dir, "pids", NULL);
        pids = read_text(pids_path);
        if (pids != NULL) {
                g_auto(GStrv) lines = g_strsplit(pids, "\n", -1);
                for (guint i = 0; lines[i] != NULL; i++) {
                        g_auto(GStrv) f = g_strsplit(lines[i], " ", 2);
                        guint64 pid = 0;
                        if (g_strv_length(f) == 2 &&
                            g_ascii_string_to_unsigned(f[0], 10, 1, G_MAXINT, &pid, NULL))
                                stop_pid((GPid)pid, f[1]);
                }
        }
        /* a hostd killed with its subprocess leaves its socket behind */
        if (!before.run_vtc && g_file_test(VTC_HOSTD_SOCKET_DEFAULT, G_FILE_TEST_EXISTS) &&
            !socket_connects(VTC_HOSTD_SOCKET_DEFAULT))
                g_unlink(VTC_HOSTD_SOCKET_DEFAULT);
        if (libvirtd != 0 && !stop_pid(libvirtd, "libvirtd"))
                problem(problems, "libvirtd (pid %d) did not stop on SIGTERM", (int)libvirtd);
        if (virtlogd != 0 && !stop_pid(virtlogd, "virtlogd"))
                problem(problems, "virtlogd (pid %d) did not stop on SIGTERM", (int)virtlogd);
        if (installed) {
                const gchar *argv[] = {hostd_program, "--uninstall", NULL};
                g_autofree gchar *o = NULL;
                g_autofree gchar *e = NULL;
                /* the subprocess may have died with the policy changed */
                if (installed_hook_conf != NULL) {
                        g_autofree gchar *now = read_text(HOOK_CONF);
                        if (g_strcmp0(now, installed_hook_conf) != 0 &&
                            (!g_file_set_contents(HOOK_CONF, installed_hook_conf, -1, NULL) ||
                             chmod(HOOK_CONF, 0644) != 0))
                                problem(problems, "could not put back " HOOK_CONF);
                }
                t0 = g_get_monotonic_time();
                if (!run(argv, &o, &e, &status) || status != 0)
                        problem(problems, "vtc-hostd --uninstall failed: %s%s", o, e);
                else
                        g_test_message("vtc-hostd --uninstall (%.2f s):\n%s", seconds_since(t0), o);
                if (o != NULL && strstr(o, "  kept ") != NULL)
                        problem(problems, "--uninstall kept files: %s", o);
        }
        {
                g_autofree gchar *state = g_build_filename(LIBVIRT_SWTPM_DIR, uuid, NULL);
                g_autofree gchar *log1 = g_strdup_printf("/var/log/libvirt/qemu/%s.log", name);
                g_autofree gchar *log2 =
                    g_strdup_printf("/var/log/swtpm/libvirt/qemu/%s-swtpm.log", name);
                g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", state);
                if (system(cmd) != 0)
                        problem(problems, "could not remove %s", state);
                g_unlink(log1);
                g_unlink(log2);
                for (guint i = 0; i < 2; i++) {
                        const gchar *n = i == 0 ? pname : cname;
                        const gchar *u = i == 0 ? puuid : cuuid;
                        g_autofree gchar *st = g_build_filename(LIBVIRT_SWTPM_DIR, u, NULL);
                        g_autofree gchar *c = g_strdup_printf("rm -rf '%s'", st);
                        g_autofree gchar *l1 = g_strdup_printf("/var/log/libvirt/qemu/%s.log", n);
                        g_autofree gchar *l2 =
                            g_strdup_printf("/var/log/swtpm/libvirt/qemu/%s-swtpm.log", n);
                        if (system(c) != 0)
                                problem(problems, "could not remove %s", st);
                        g_unlink(l1);
                        g_unlink(l2);
                }
                /* what libvirt made for the test, when it was not there before */
                if (!before.swtpm_dir)
                        g_rmdir(LIBVIRT_SWTPM_DIR);
                if (!before.swtpm_log_dir) {
                        g_rmdir("/var/log/swtpm/libvirt/qemu");
                        g_rmdir("/var/log/swtpm/libvirt");
                        g_rmdir("/var/log/swtpm");
                }
        }

        /* the machine is as it was */
        machine_state_read(&after, tss_conf_path);
        if (g_strcmp0(before.swtpm_conf, after.swtpm_conf) != 0)
                problem(problems, SWTPM_CONF " differs from before the test");
        if (g_strcmp0(before.tss_conf, after.tss_conf) != 0)
                problem(problems, "%s differs from before the test", tss_conf_path);
        if (before.hook_dir != after.hook_dir || before.etc_vtc != after.etc_vtc ||
            before.run_vtc != after.run_vtc || before.var_lib_vtc != after.var_lib_vtc)
                problem(problems,
                        "after --uninstall: " HOOK_DIR " %d->%d, /etc/vtc %d->%d, /run/vtc "
                        "%d->%d, /var/lib/vtc %d->%d",
                        before.hook_dir,
                        after.hook_dir,
                        before.etc_vtc,
                        after.etc_vtc,
                        before.run_vtc,
                        after.run_vtc,
                        before.var_lib_vtc,
                        after.var_lib_vtc);
        machine_state_clear(&before);
        machine_state_clear(&after);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
        g_test_message("whole test: %.2f s", seconds_since(t_all));

        if (problems->len > 0)
                g_printerr("# %s", problems->str);
        g_assert_cmpstr(problems->str, ==, "");
        g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hostd/libvirt", libvirt_test);
        g_test_add_func("/hostd/libvirt/subprocess", libvirt_subprocess_test);
        g_test_add_func("/hostd/libvirt/protect/subprocess", protect_subprocess_test);
        return g_test_run();
}
