/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc-hostd as deployed, minus libvirt: the real daemon in its own process on a swtpm that
 * stands in for the host's hardware TPM (manufactured with a vendor EK certificate), the real
 * vtc-registrar it enrolls with, and the real hook and certify programs talking to it over its
 * local socket. Guests' vTPMs are plain swtpm processes. The hardware swtpm serves one client at
 * a time, so its PCRs are read only while hostd is stopped.
 */
#include <grp.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <tss2/tss2_mu.h>

#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-hostd-proto.h"
#include "vtc-http.h"
#include "vtc-itest-common.h"
#include "vtc-quote.h"
#include "vtc-test-common.h"
#include "vtc-util.h"
#include "vtc-vtpm-log.h"

#define HOST_ID    "host-itest"
#define READY_LINE "vtc-hostd: ready"
#define LOG_PCR    23

/* The host's TPM, manufactured once per run (swtpm_setup takes a second or two); each test runs
 * its own swtpm on its own copy. */
typedef struct {
        gchar *dir;
        gchar *state;
        gchar *ca; /* the vendor CA (swtpm-localca) */
} Factory;

typedef struct {
        const Factory *factory;
        gboolean with_registrar;
} Params;

typedef struct {
        const Factory *factory;
        gchar *dir;
        /* the "hardware" TPM */
        gchar *hw_state;
        VtcSwtpm *hw;
        /* the registrar (NULL when the test needs none) */
        gchar *tls;
        gchar *reg_config;
        VtcItestDaemon *registrar;
        SoupSession *admin;
        SoupSession *enroll;
        /* hostd */
        gchar *hostd_config;
        gchar *hostd_state;
        gchar *log_path;
        gchar *sock_path;
        gchar *swtpm_dir; /* [libvirt] swtpm_dir */
        gchar *hook_conf; /* a hook configuration that does not exist */
        VtcItestDaemon *hostd;
} Fixture;

/* A guest's vTPM: a plain swtpm with an RSA EK (a primary) and an AK. */
typedef struct {
        gchar *uuid;
        gchar *name;
        VtcItestTpm *tpm;
        guint8 ek_sha256[32]; /* SHA-256 of the EK's DER SubjectPublicKeyInfo */
        GBytes *ek_cert;      /* as the certify tool wrote it, once made */
} Guest;

static void
guest_free(Guest *g)
{
        if (g == NULL)
                return;
        g_free(g->uuid);
        g_free(g->name);
        vtc_itest_tpm_free(g->tpm);
        g_clear_pointer(&g->ek_cert, g_bytes_unref);
        g_free(g);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Guest, guest_free)

static const gchar *
env_program(const gchar *name)
{
        const gchar *p = g_getenv(name);

        if (p == NULL)
                g_error("%s is not set: run this test with meson test", name);
        return p;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static void
write_file(const gchar *path, const gchar *text)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
        g_assert_no_error(error);
}

/* The hostd configuration; @group for [socket] group. */
static void
fixture_write_hostd_config(Fixture *f, const gchar *group)
{
        g_autoptr(GString) text = g_string_new(NULL);

        g_string_append_printf(text,
                               "[hostd]\n"
                               "id = " HOST_ID "\n"
                               "state_dir = %s\n"
                               "[tpm]\n"
                               "tcti = %s\n"
                               "[vtpm_log]\n"
                               "path = %s\n"
                               "[socket]\n"
                               "path = %s\n"
                               "group = %s\n"
                               "[libvirt]\n"
                               "swtpm_dir = %s\n",
                               f->hostd_state,
                               vtc_swtpm_get_tcti_conf(f->hw),
                               f->log_path,
                               f->sock_path,
                               group,
                               f->swtpm_dir);
        if (f->registrar != NULL)
                g_string_append_printf(text,
                                       "[registrar]\n"
                                       "url = https://127.0.0.1:%u\n"
                                       "ca = %s/ca.crt\n",
                                       vtc_itest_daemon_get_port(f->registrar),
                                       f->tls);
        write_file(f->hostd_config, text->str);
}

static void
fixture_start_hostd(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        gint64 t0 = g_get_monotonic_time();

        g_assert_null(f->hostd);
        f->hostd = vtc_itest_daemon_start_ready(env_program("VTC_HOSTD"),
                                                f->hostd_config,
                                                READY_LINE,
                                                &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->hostd);
        g_test_message("hostd ready in %.0f ms", (g_get_monotonic_time() - t0) / 1000.0);
}

/* SIGTERM and a clean exit (status 0: under ASan also no leak). */
static void
fixture_stop_hostd(Fixture *f)
{
        g_autoptr(GError) error = NULL;

        g_assert_nonnull(f->hostd);
        g_assert_true(vtc_itest_daemon_stop(f->hostd, &error));
        g_assert_no_error(error);
        g_clear_pointer(&f->hostd, vtc_itest_daemon_free);
}

static void
fixture_start_registrar(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *trust = g_build_filename(f->dir, "ek-ca", NULL);
        g_autofree gchar *db = g_build_filename(f->dir, "registrar.db", NULL);
        g_autofree gchar *text = NULL;
        g_autofree gchar *ca_crt = NULL;
        g_autofree gchar *admin_crt = NULL;
        g_autofree gchar *admin_key = NULL;
        const gchar *trust_files[] = {"swtpm-localca-rootca-cert.pem", "issuercert.pem"};

        f->tls = g_build_filename(f->dir, "tls", NULL);
        f->reg_config = g_build_filename(f->dir, "registrar.conf", NULL);
        g_assert_true(vtc_itest_tls_init(f->tls, "registrar", &error));
        g_assert_no_error(error);
        /* the vendor trust store: the factory's swtpm-localca root and intermediate */
        g_assert_cmpint(g_mkdir(trust, 0700), ==, 0);
        for (guint i = 0; i < G_N_ELEMENTS(trust_files); i++) {
                g_autofree gchar *from = g_build_filename(f->factory->ca, trust_files[i], NULL);
                g_autofree gchar *to = g_build_filename(trust, trust_files[i], NULL);
                g_autofree gchar *data = NULL;
                gsize len = 0;

                g_assert_true(g_file_get_contents(from, &data, &len, &error));
                g_assert_no_error(error);
                g_assert_true(g_file_set_contents(to, data, (gssize)len, &error));
                g_assert_no_error(error);
        }
        text = g_strdup_printf("[server]\n"
                               "address = 127.0.0.1\n"
                               "port = 0\n"
                               "[tls]\n"
                               "cert = %s/registrar.crt\n"
                               "key = %s/registrar.key\n"
                               "client_ca = %s/ca.crt\n"
                               "[database]\n"
                               "path = %s\n"
                               "[ek]\n"
                               "trust_store = %s\n",
                               f->tls,
                               f->tls,
                               f->tls,
                               db,
                               trust);
        write_file(f->reg_config, text);
        f->registrar = vtc_itest_daemon_start(env_program("VTC_REGISTRAR"), f->reg_config, &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->registrar);
        ca_crt = g_build_filename(f->tls, "ca.crt", NULL);
        admin_crt = g_build_filename(f->tls, "admin.crt", NULL);
        admin_key = g_build_filename(f->tls, "admin.key", NULL);
        f->enroll = vtc_http_client_new(ca_crt, NULL, NULL, &error);
        g_assert_no_error(error);
        f->admin = vtc_http_client_new(ca_crt, admin_crt, admin_key, &error);
        g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer user_data)
{
        const Params *params = user_data;
        g_autoptr(GError) error = NULL;

        f->factory = params->factory;
        f->dir = vtc_test_tmpdir_new();
        f->hw_state = g_build_filename(f->dir, "hw-tpm", NULL);
        f->hostd_config = g_build_filename(f->dir, "hostd.conf", NULL);
        f->hostd_state = g_build_filename(f->dir, "hostd", NULL);
        f->log_path = g_build_filename(f->hostd_state, "vtpm.log", NULL);
        f->sock_path = g_build_filename(f->dir, "run", "hostd.sock", NULL);
        f->swtpm_dir = g_build_filename(f->dir, "libvirt-swtpm", NULL);
        f->hook_conf = g_build_filename(f->dir, "no-hook.conf", NULL);
        g_assert_cmpint(g_mkdir(f->hostd_state, 0700), ==, 0);
        g_assert_cmpint(g_mkdir(f->swtpm_dir, 0700), ==, 0);
        g_assert_true(vtc_itest_tpm_state_copy(f->factory->state, f->hw_state, &error));
        g_assert_no_error(error);
        f->hw = vtc_swtpm_new(f->hw_state, &error);
        g_assert_no_error(error);
        g_assert_nonnull(f->hw);
        if (params->with_registrar)
                fixture_start_registrar(f);
        fixture_write_hostd_config(f, "tss");
        fixture_start_hostd(f);
}

static void
fixture_teardown(Fixture *f, gconstpointer user_data)
{
        if (f->hostd != NULL)
                fixture_stop_hostd(f);
        g_clear_object(&f->enroll);
        g_clear_object(&f->admin);
        if (f->registrar != NULL) {
                g_autoptr(GError) error = NULL;
                g_assert_true(vtc_itest_daemon_stop(f->registrar, &error));
                g_assert_no_error(error);
                g_clear_pointer(&f->registrar, vtc_itest_daemon_free);
        }
        g_clear_pointer(&f->hw, vtc_swtpm_free);
        g_free(f->hw_state);
        g_free(f->tls);
        g_free(f->reg_config);
        g_free(f->hostd_config);
        g_free(f->hostd_state);
        g_free(f->log_path);
        g_free(f->sock_path);
        g_free(f->swtpm_dir);
        g_free(f->hook_conf);
        vtc_test_tmpdir_free(f->dir);
}

/* ---- the registrar ------------------------------------------------------------------------- */

static VtcItestReply *
registrar_request(Fixture *f,
                  SoupSession *session,
                  const gchar *method,
                  const gchar *path,
                  const gchar *body,
                  guint expect_status)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u%s",
                                                vtc_itest_daemon_get_port(f->registrar),
                                                path);
        VtcItestReply *reply = vtc_itest_request(session, method, url, body, &error);

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        if (reply->status != expect_status)
                g_error("%s %s: expected %u, got %u %s",
                        method,
                        path,
                        expect_status,
                        reply->status,
                        reply->text);
        g_assert_nonnull(reply->body);
        return reply;
}

static VtcItestReply *
registrar_get_host(Fixture *f)
{
        return registrar_request(f, f->admin, "GET", "/v1/hosts/" HOST_ID, NULL, 200);
}

/* ---- the hardware TPM and the vTPM log ------------------------------------------------------ */

/* PCR 23 of the SHA-256 bank; only while hostd, the swtpm's one client, is stopped. */
static void
hw_pcr_read(Fixture *f, guint8 out[32])
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcTpm) tpm = NULL;
        g_autoptr(VtcPcrValues) values = NULL;
        TPML_PCR_SELECTION sel;
        const guint8 *v;
        gsize len = 0;

        g_assert_null(f->hostd);
        tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(f->hw), &error);
        g_assert_no_error(error);
        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 1u << LOG_PCR);
        values = vtc_tpm_pcr_read(tpm, &sel, &error);
        g_assert_no_error(error);
        v = vtc_pcr_values_get(values, TPM2_ALG_SHA256, LOG_PCR, &len);
        g_assert_nonnull(v);
        g_assert_cmpuint(len, ==, 32);
        memcpy(out, v, 32);
}

static GBytes *
log_bytes(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        gchar *data = NULL;
        gsize len = 0;

        g_assert_true(g_file_get_contents(f->log_path, &data, &len, &error));
        g_assert_no_error(error);
        return g_bytes_new_take(data, len);
}

/* The log's entries and its replay (through the verifier's parser, from the file's bytes). */
static GPtrArray *
log_entries(Fixture *f, guint8 out_replay[32])
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = log_bytes(f);
        GPtrArray *entries = NULL;
        guint64 count = 0;
        guint8 replay[32];

        g_assert_true(vtc_vtpm_log_replay_data_from(g_bytes_get_data(data, NULL),
                                                    g_bytes_get_size(data),
                                                    0,
                                                    NULL,
                                                    replay,
                                                    &count,
                                                    &entries,
                                                    &error));
        g_assert_no_error(error);
        g_assert_cmpuint(entries->len, ==, count);
        if (out_replay != NULL)
                memcpy(out_replay, replay, 32);
        return entries;
}

static VtcVtpmLogEntry *
log_entry(GPtrArray *entries, guint i)
{
        g_assert_cmpuint(i, <, entries->len);
        return g_ptr_array_index(entries, i);
}

/* hostd stopped: the PCR equals vtc_vtpm_log_replay_data() of the file. */
static void
assert_pcr_matches_log(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = log_bytes(f);
        guint8 pcr[32];
        guint8 replay[32];
        guint64 count = 0;

        hw_pcr_read(f, pcr);
        g_assert_true(vtc_vtpm_log_replay_data(g_bytes_get_data(data, NULL),
                                               g_bytes_get_size(data),
                                               replay,
                                               &count,
                                               &error));
        g_assert_no_error(error);
        g_assert_cmpuint(count, >, 0);
        if (memcmp(pcr, replay, 32) != 0) {
                g_autofree gchar *a = vtc_hex_encode(pcr, 32);
                g_autofree gchar *b = vtc_hex_encode(replay, 32);
                g_error("PCR %u is %s, the log's replay (%" G_GUINT64_FORMAT " entries) is %s",
                        LOG_PCR,
                        a,
                        count,
                        b);
        }
}

/* ---- guests, the certify tool and the hook ------------------------------------------------- */

static Guest *
guest_new(Fixture *f, const gchar *state_dir)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(Guest) g = g_new0(Guest, 1);
        g_autoptr(EVP_PKEY) ek = NULL;
        guint8 *der = NULL;
        int len;

        g->uuid = g_uuid_string_random();
        g->name = g_strdup_printf("guest-%.8s", g->uuid);
        g->tpm = vtc_itest_tpm_new(state_dir, VTC_TPM_KEY_RSA2048, VTC_TPM_KEY_ECC_P256, &error);
        g_assert_no_error(error);
        g_assert_nonnull(g->tpm);
        g_assert_null(g->tpm->ek_cert);
        ek = vtc_tpm_public_to_pkey(&g->tpm->ek_public, &error);
        g_assert_no_error(error);
        len = i2d_PUBKEY(ek, &der);
        g_assert_cmpint(len, >, 0);
        g_assert_true(EVP_Digest(der, (size_t)len, g->ek_sha256, NULL, EVP_sha256(), NULL));
        OPENSSL_free(der);
        return g_steal_pointer(&g);
}

static gchar *
guest_ek_modulus_hex(Guest *g)
{
        const TPM2B_PUBLIC_KEY_RSA *n = &g->tpm->ek_public.publicArea.unique.rsa;

        g_assert_cmpuint(n->size, ==, 256);
        return vtc_hex_encode(n->buffer, n->size);
}

static gchar *
guest_vmid(Guest *g)
{
        return g_strdup_printf("%s:%s", g->name, g->uuid);
}

static gchar *
domain_xml(const gchar *name, const gchar *uuid, gboolean with_tpm)
{
        return g_strdup_printf("<domain type='qemu'>\n"
                               "  <name>%s</name>\n"
                               "  <uuid>%s</uuid>\n"
                               "  <memory unit='KiB'>65536</memory>\n"
                               "  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n"
                               "  <devices>\n"
                               "%s"
                               "  </devices>\n"
                               "</domain>\n",
                               name,
                               uuid,
                               with_tpm ? "    <tpm model='tpm-crb'>\n"
                                          "      <backend type='emulator' version='2.0'/>\n"
                                          "    </tpm>\n"
                                        : "");
}

typedef struct {
        gint status;
        gchar *out;
        gchar *err;
} RunResult;

static void
run_result_clear(RunResult *r)
{
        g_clear_pointer(&r->out, g_free);
        g_clear_pointer(&r->err, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(RunResult, run_result_clear)

static void
run_program(const gchar *const *argv,
            const gchar *const *env,
            const gchar *input,
            GSpawnChildSetupFunc child_setup,
            gpointer child_setup_data,
            RunResult *r)
{
        g_autoptr(GError) error = NULL;

        r->status = -1;
        g_assert_true(vtc_itest_run_with_input(argv,
                                               env,
                                               input,
                                               child_setup,
                                               child_setup_data,
                                               &r->out,
                                               &r->err,
                                               &r->status,
                                               &error));
        g_assert_no_error(error);
        if (g_test_verbose())
                g_test_message("%s -> %d\nstdout: %s\nstderr: %s",
                               argv[0],
                               r->status,
                               r->out,
                               r->err);
}

/* vtc-hook NAME EVENT PHASE - with @xml on stdin, VTC_HOSTD_SOCKET and the policy set. */
static void
run_hook(Fixture *f,
         const gchar *name,
         const gchar *event,
         const gchar *phase,
         const gchar *xml,
         const gchar *policy,
         RunResult *r)
{
        g_autofree gchar *env_sock = g_strdup_printf("VTC_HOSTD_SOCKET=%s", f->sock_path);
        g_autofree gchar *env_conf = g_strdup_printf("VTC_HOOK_CONFIG=%s", f->hook_conf);
        g_autofree gchar *env_policy =
            policy != NULL ? g_strdup_printf("VTC_HOOK_POLICY=%s", policy) : NULL;
        const gchar *env[] = {env_sock, env_conf, env_policy, NULL};
        const gchar *argv[] = {env_program("VTC_HOOK"), name, event, phase, "-", NULL};

        run_program(argv, env, xml, NULL, NULL, r);
}

/* The hook as libvirt runs it for an event hostd must accept: exit 0, nothing anywhere. */
static void
hook_ok(Fixture *f, Guest *g, const gchar *event, const gchar *phase)
{
        g_autofree gchar *xml = domain_xml(g->name, g->uuid, TRUE);
        g_auto(RunResult) r = {0};

        run_hook(f, g->name, event, phase, xml, NULL, &r);
        if (r.status != 0 || g_strcmp0(r.err, "") != 0)
                g_error("vtc-hook %s %s: exit %d, stderr '%s'", event, phase, r.status, r.err);
        g_assert_cmpstr(r.out, ==, "");
}

/* @text is one non-empty line ending in a newline. */
static gboolean
one_line(const gchar *text)
{
        const gchar *nl = strchr(text, '\n');

        return nl != NULL && nl[1] == '\0' && nl != text;
}

/* vtc-vtpm-certify exactly as swtpm_setup runs it, plus @extra arguments. */
static void
run_certify(Fixture *f,
            const gchar *ek_param,
            const gchar *dir,
            const gchar *vmid,
            const gchar *const *extra,
            RunResult *r)
{
        g_autofree gchar *env_sock = g_strdup_printf("VTC_HOSTD_SOCKET=%s", f->sock_path);
        const gchar *env[] = {env_sock, NULL};
        const gchar *base[] = {env_program("VTC_VTPM_CERTIFY"),
                               "--type",
                               "ek",
                               "--ek",
                               ek_param,
                               "--dir",
                               dir,
                               "--vmid",
                               vmid,
                               "--tpm-manufacturer",
                               "id:00001014",
                               "--tpm-model",
                               "swtpm",
                               "--tpm-version",
                               "id:20191023",
                               "--tpm2"};
        g_autoptr(GPtrArray) argv = g_ptr_array_new();

        for (guint i = 0; i < G_N_ELEMENTS(base); i++)
                g_ptr_array_add(argv, (gpointer)base[i]);
        for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
                g_ptr_array_add(argv, (gpointer)extra[i]);
        g_ptr_array_add(argv, NULL);
        run_program((const gchar *const *)argv->pdata, env, NULL, NULL, NULL, r);
}

/* The guest's EK certificate from hostd through the certify tool, read back from --dir. */
static void
guest_certify(Fixture *f, Guest *g)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *ek_hex = guest_ek_modulus_hex(g);
        g_autofree gchar *vmid = guest_vmid(g);
        g_autofree gchar *dir_name = g_strdup_printf("setup-%s", g->uuid);
        g_autofree gchar *dir = g_build_filename(f->dir, dir_name, NULL);
        g_autofree gchar *cert_path = g_build_filename(dir, "ek.cert", NULL);
        g_auto(RunResult) r = {0};
        struct stat st;

        g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
        run_certify(f, ek_hex, dir, vmid, NULL, &r);
        if (r.status != 0)
                g_error("vtc-vtpm-certify: exit %d: %s", r.status, r.err);
        g_assert_cmpstr(r.err, ==, "");
        g_assert_cmpint(g_stat(cert_path, &st), ==, 0);
        g_assert_cmpuint(st.st_mode & 0777, ==, 0644);
        g_assert_true(g_str_has_prefix(r.out, "vtc-vtpm-certify: wrote "));
        g_assert_nonnull(strstr(r.out, cert_path));
        g_assert_true(one_line(r.out));
        g->ek_cert = vtc_file_read(cert_path, 16384, &error);
        g_assert_no_error(error);
        g_assert_nonnull(g->ek_cert);
}

static X509 *
cert_parse(GBytes *der)
{
        const guint8 *p = g_bytes_get_data(der, NULL);
        X509 *x = d2i_X509(NULL, &p, (long)g_bytes_get_size(der));

        g_assert_nonnull(x);
        g_assert_true(p == (const guint8 *)g_bytes_get_data(der, NULL) + g_bytes_get_size(der));
        return x;
}

/* ---- 1. enrollment --------------------------------------------------------------------------- */

/* The persisted key at @handle in the hardware TPM (hostd stopped). */
static GBytes *
hw_persistent_public(Fixture *f, TPM2_HANDLE handle)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcTpm) tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(f->hw), &error);
        ESYS_CONTEXT *ctx;
        ESYS_TR tr = ESYS_TR_NONE;
        TPM2B_PUBLIC *pub = NULL;
        TSS2_RC rc;
        GBytes *out;

        g_assert_no_error(error);
        g_assert_null(f->hostd);
        ctx = vtc_tpm_get_esys(tpm);
        rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        rc = Esys_ReadPublic(ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL, NULL);
        g_assert_cmphex(rc, ==, TSS2_RC_SUCCESS);
        out = vtc_tpm_public_marshal(pub);
        Esys_Free(pub);
        Esys_TR_Close(ctx, &tr);
        return out;
}

static void
assert_member_b64(VtcItestReply *reply, const gchar *member, GBytes *expect)
{
        g_autoptr(GBytes) got = vtc_itest_reply_get_base64(reply, member);

        g_assert_nonnull(got);
        if (!g_bytes_equal(got, expect))
                g_error("the registrar's %s is not the one in the hardware TPM", member);
}

static void
enroll_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(VtcItestReply) reply = registrar_get_host(f);
        g_autoptr(GBytes) ak = NULL;
        g_autoptr(GBytes) ca = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        VtcVtpmLogEntry *e;

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, HOST_ID);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "state"), ==, "active");
        g_assert_nonnull(vtc_itest_reply_get_string(reply, "vtpm_ca_public"));
        g_assert_nonnull(vtc_itest_reply_get_string(reply, "ek_cert"));

        /* what the registrar holds is what the TPM holds: AK 0x81000002, CA key 0x81000003 */
        fixture_stop_hostd(f);
        ak = hw_persistent_public(f, 0x81000002);
        ca = hw_persistent_public(f, 0x81000003);
        assert_member_b64(reply, "ak_public", ak);
        assert_member_b64(reply, "vtpm_ca_public", ca);

        /* one HOSTD_START naming the host, extended */
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, 1);
        e = log_entry(entries, 0);
        g_assert_cmpint(e->type, ==, VTC_VTPM_LOG_HOSTD_START);
        g_assert_cmpstr(e->host, ==, HOST_ID);
        assert_pcr_matches_log(f);
}

/* ---- 2. manufacture: certify tool -> hostd -> registrar ------------------------------------- */

/* Registers @g as an agent; the registrar must name this host as its vTPM's maker. Then
 * ActivateCredential in the guest's vTPM and activation. */
static void
guest_enroll(Fixture *f, Guest *g)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *body = vtc_itest_registration_json(g->uuid,
                                                             g->tpm->ek_public_bytes,
                                                             g->ek_cert,
                                                             g->tpm->ak_public_bytes,
                                                             NULL);
        g_autoptr(VtcItestReply) reply =
            registrar_request(f, f->enroll, "POST", "/v1/agents", body, 200);
        g_autoptr(GBytes) blob = vtc_itest_reply_get_base64(reply, "credential_blob");
        g_autoptr(GBytes) enc = vtc_itest_reply_get_base64(reply, "encrypted_secret");
        g_autofree gchar *proof = NULL;
        g_autofree gchar *path = g_strdup_printf("/v1/agents/%s/activate", g->uuid);
        g_autofree gchar *proof_body = NULL;
        g_autoptr(VtcItestReply) activated = NULL;

        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "id"), ==, g->uuid);
        g_assert_cmpstr(vtc_itest_reply_get_string(reply, "host_id"), ==, HOST_ID);
        g_assert_nonnull(blob);
        g_assert_nonnull(enc);
        proof = vtc_itest_tpm_activation_proof(g->tpm, g->uuid, blob, enc, &error);
        g_assert_no_error(error);
        g_assert_nonnull(proof);
        proof_body = g_strdup_printf("{\"proof\": \"%s\"}", proof);
        activated = registrar_request(f, f->enroll, "POST", path, proof_body, 200);
        g_assert_cmpstr(vtc_itest_reply_get_string(activated, "state"), ==, "active");
}

static void
manufacture_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = g_build_filename(f->dir, "vtpm", NULL);
        g_autoptr(Guest) g = guest_new(f, state);
        g_autoptr(X509) x = NULL;
        g_autoptr(EVP_PKEY) ek = NULL;
        g_autoptr(EVP_PKEY) ca = NULL;
        g_autoptr(VtcItestReply) host = registrar_get_host(f);
        g_autoptr(GBytes) ca_bytes = vtc_itest_reply_get_base64(host, "vtpm_ca_public");
        g_autoptr(VtcItestReply) agent = NULL;
        g_autofree gchar *agent_path = NULL;
        TPM2B_PUBLIC ca_public = {0};
        gsize off = 0;

        guest_certify(f, g);

        /* the certificate carries the guest's EK and verifies under hostd's vTPM CA key */
        x = cert_parse(g->ek_cert);
        ek = vtc_tpm_public_to_pkey(&g->tpm->ek_public, &error);
        g_assert_no_error(error);
        g_assert_cmpint(EVP_PKEY_eq(X509_get0_pubkey(x), ek), ==, 1);
        g_assert_nonnull(ca_bytes);
        g_assert_cmphex(Tss2_MU_TPM2B_PUBLIC_Unmarshal(g_bytes_get_data(ca_bytes, NULL),
                                                       g_bytes_get_size(ca_bytes),
                                                       &off,
                                                       &ca_public),
                        ==,
                        TSS2_RC_SUCCESS);
        ca = vtc_tpm_public_to_pkey(&ca_public, &error);
        g_assert_no_error(error);
        g_assert_cmpint(X509_verify(x, ca), ==, 1);

        guest_enroll(f, g);
        agent_path = g_strdup_printf("/v1/agents/%s", g->uuid);
        agent = registrar_request(f, f->admin, "GET", agent_path, NULL, 200);
        g_assert_cmpstr(vtc_itest_reply_get_string(agent, "state"), ==, "active");
        g_assert_cmpstr(vtc_itest_reply_get_string(agent, "host_id"), ==, HOST_ID);
        assert_member_b64(agent, "ek_cert", g->ek_cert);
}

/* ---- 3. the hook: VTPM_START / VTPM_STOP ---------------------------------------------------- */

static void
assert_vtpm_entry(VtcVtpmLogEntry *e, VtcVtpmLogType type, Guest *g, guint64 seq)
{
        g_assert_cmpuint(e->seq, ==, seq);
        g_assert_cmpint(e->type, ==, type);
        g_assert_cmpstr(e->uuid, ==, g->uuid);
        g_assert_cmpstr(e->name, ==, g->name);
        if (type == VTC_VTPM_LOG_VTPM_START) {
                g_autofree gchar *got = vtc_hex_encode(e->ek_sha256, 32);
                g_autofree gchar *want = vtc_hex_encode(g->ek_sha256, 32);
                g_assert_cmpstr(got, ==, want);
        }
}

static void
hook_lifecycle_test(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *state = g_build_filename(f->dir, "vtpm", NULL);
        g_autoptr(Guest) g = guest_new(f, state);
        g_autoptr(GPtrArray) entries = NULL;
        guint n0;

        guest_certify(f, g);
        entries = log_entries(f, NULL);
        n0 = entries->len;
        g_clear_pointer(&entries, g_ptr_array_unref);

        /* libvirt's whole sequence; only start and stopped are recorded */
        hook_ok(f, g, "prepare", "begin");
        hook_ok(f, g, "start", "begin");
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, n0 + 1);
        assert_vtpm_entry(log_entry(entries, n0), VTC_VTPM_LOG_VTPM_START, g, n0);
        g_clear_pointer(&entries, g_ptr_array_unref);
        hook_ok(f, g, "started", "begin");
        hook_ok(f, g, "stopped", "end");
        hook_ok(f, g, "release", "end");
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, n0 + 2);
        assert_vtpm_entry(log_entry(entries, n0 + 1), VTC_VTPM_LOG_VTPM_STOP, g, n0 + 1);

        fixture_stop_hostd(f);
        assert_pcr_matches_log(f);
}

/* A vTPM made before vtc was installed: no certificate from hostd, so at start hostd reads its EK
 * once from a copy of its state in [libvirt] swtpm_dir/<uuid>/tpm2 with a private swtpm. */
static void
hook_pre_vtc_vtpm_test(Fixture *f, gconstpointer user_data)
{
        g_autofree gchar *tmp_state = g_build_filename(f->dir, "vtpm", NULL);
        g_autoptr(Guest) g = guest_new(f, tmp_state);
        g_autofree gchar *state = g_build_filename(f->swtpm_dir, g->uuid, "tpm2", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        guint n0;

        /* the vTPM's state where libvirt keeps it, its swtpm stopped */
        g_clear_pointer(&g->tpm, vtc_itest_tpm_free);
        g_assert_true(vtc_itest_tpm_state_copy(tmp_state, state, &error));
        g_assert_no_error(error);
        entries = log_entries(f, NULL);
        n0 = entries->len;
        g_clear_pointer(&entries, g_ptr_array_unref);

        hook_ok(f, g, "start", "begin");
        hook_ok(f, g, "stopped", "end");
        /* the second start uses the digest hostd recorded */
        hook_ok(f, g, "start", "begin");
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, n0 + 3);
        assert_vtpm_entry(log_entry(entries, n0), VTC_VTPM_LOG_VTPM_START, g, n0);
        assert_vtpm_entry(log_entry(entries, n0 + 1), VTC_VTPM_LOG_VTPM_STOP, g, n0 + 1);
        assert_vtpm_entry(log_entry(entries, n0 + 2), VTC_VTPM_LOG_VTPM_START, g, n0 + 2);
        fixture_stop_hostd(f);
        assert_pcr_matches_log(f);
}

/* ---- 4. restart --------------------------------------------------------------------------------
 */

static void
restart_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(VtcItestReply) before = registrar_get_host(f);
        g_autoptr(VtcItestReply) after = NULL;
        g_autoptr(GBytes) ak_before = NULL;
        g_autoptr(GBytes) ca_before = NULL;
        g_autoptr(GBytes) ak_after = NULL;
        g_autoptr(GBytes) ca_after = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        const gchar *same[] =
            {"state", "ek_public", "ek_cert", "ak_public", "ak_name", "vtpm_ca_public"};

        fixture_stop_hostd(f);
        ak_before = hw_persistent_public(f, 0x81000002);
        ca_before = hw_persistent_public(f, 0x81000003);
        assert_pcr_matches_log(f);
        fixture_start_hostd(f);
        after = registrar_get_host(f);
        for (guint i = 0; i < G_N_ELEMENTS(same); i++) {
                g_assert_nonnull(vtc_itest_reply_get_string(before, same[i]));
                g_assert_cmpstr(vtc_itest_reply_get_string(after, same[i]),
                                ==,
                                vtc_itest_reply_get_string(before, same[i]));
        }
        fixture_stop_hostd(f);
        ak_after = hw_persistent_public(f, 0x81000002);
        ca_after = hw_persistent_public(f, 0x81000003);
        g_assert_true(g_bytes_equal(ak_before, ak_after));
        g_assert_true(g_bytes_equal(ca_before, ca_after));

        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, 2);
        g_assert_cmpint(log_entry(entries, 0)->type, ==, VTC_VTPM_LOG_HOSTD_START);
        g_assert_cmpint(log_entry(entries, 1)->type, ==, VTC_VTPM_LOG_HOSTD_START);
        g_assert_cmpuint(log_entry(entries, 1)->seq, ==, 1);
        assert_pcr_matches_log(f);
}

/* ---- 5. a lost extend is repaired ------------------------------------------------------------ */

static void
lost_extend_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autoptr(GBytes) repair = NULL;
        guint8 pcr_before[32];
        guint8 pcr_crash[32];
        guint8 replay[32];

        fixture_stop_hostd(f);
        hw_pcr_read(f, pcr_before);
        /* hostd's append, then a crash before its extend */
        {
                g_autoptr(VtcVtpmLog) log = vtc_vtpm_log_open(f->log_path, &error);
                g_autoptr(VtcVtpmLogEntry) e = NULL;

                g_assert_no_error(error);
                g_assert_true(
                    vtc_vtpm_log_check_pcr(log, LOG_PCR, pcr_before, 32, &repair, &error));
                g_assert_no_error(error);
                g_assert_null(repair);
                e = vtc_vtpm_log_append_vtpm_stop(log,
                                                  g_get_real_time() / G_USEC_PER_SEC,
                                                  uuid,
                                                  "crashed-guest",
                                                  NULL,
                                                  NULL,
                                                  &error);
                g_assert_no_error(error);
                g_assert_nonnull(e);
        }
        hw_pcr_read(f, pcr_crash);
        g_assert_cmpmem(pcr_before, 32, pcr_crash, 32);
        entries = log_entries(f, replay);
        g_assert_cmpuint(entries->len, ==, 2);
        g_assert_false(memcmp(replay, pcr_crash, 32) == 0);
        g_clear_pointer(&entries, g_ptr_array_unref);

        fixture_start_hostd(f);
        fixture_stop_hostd(f);
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, 3);
        g_assert_cmpint(log_entry(entries, 1)->type, ==, VTC_VTPM_LOG_VTPM_STOP);
        g_assert_cmpstr(log_entry(entries, 1)->uuid, ==, uuid);
        g_assert_cmpint(log_entry(entries, 2)->type, ==, VTC_VTPM_LOG_HOSTD_START);
        assert_pcr_matches_log(f);
}

/* ---- 6. a tampered log stops hostd ---------------------------------------------------------- */

static void
tampered_log_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = NULL;
        g_autoptr(GBytes) after = NULL;
        g_autofree gchar *text = NULL;
        gchar *ts;
        const gchar *argv[] = {env_program("VTC_HOSTD"), "--config", f->hostd_config, NULL};
        g_auto(RunResult) r = {0};
        guint8 pcr_before[32];
        guint8 pcr_after[32];
        gint64 t0;
        gdouble seconds;

        fixture_stop_hostd(f);
        hw_pcr_read(f, pcr_before);
        data = log_bytes(f);
        text = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        /* the last digit of the first entry's ts: still a valid, canonical line */
        ts = strstr(text, "\"ts\":");
        g_assert_nonnull(ts);
        ts += strlen("\"ts\":");
        while (g_ascii_isdigit(ts[1]))
                ts++;
        *ts = *ts == '9' ? '0' : (gchar)(*ts + 1);
        write_file(f->log_path, text);
        {
                /* the file still parses: the refusal is about the PCR, not the format */
                g_autoptr(GPtrArray) entries = log_entries(f, NULL);
                g_assert_cmpuint(entries->len, ==, 1);
        }

        t0 = g_get_monotonic_time();
        run_program(argv, NULL, NULL, NULL, NULL, &r);
        seconds = (g_get_monotonic_time() - t0) / 1e6;
        g_test_message("hostd refused in %.2f s: %s", seconds, r.err);
        g_assert_cmpint(r.status, ==, 1);
        g_assert_cmpfloat(seconds, <, 10.0);
        g_assert_cmpstr(r.out, ==, "");
        g_assert_nonnull(strstr(r.err, "vTPM log"));
        g_assert_nonnull(strstr(r.err, "PCR 23"));
        g_assert_nonnull(strstr(r.err, "disagree"));
        g_assert_nonnull(strstr(r.err, "refusing to serve"));

        /* nothing touched: not the log, not the PCR, and nobody serves the socket */
        after = log_bytes(f);
        g_assert_cmpmem(text, strlen(text), g_bytes_get_data(after, NULL), g_bytes_get_size(after));
        hw_pcr_read(f, pcr_after);
        g_assert_cmpmem(pcr_before, 32, pcr_after, 32);
        {
                g_autoptr(GBytes) answer =
                    vtc_hostd_proto_call(f->sock_path, "{\"op\":\"x\"}", 10, 2000, &error);
                g_assert_null(answer);
                g_assert_error(error, VTC_ERROR, VTC_ERROR_UNAVAILABLE);
        }
}

/* ---- 7. who may use the socket ----------------------------------------------------------------
 */

typedef struct {
        uid_t uid;
        gid_t gid;
} Identity;

/* In the child, before exec: become @user_data for good. */
static void
drop_privileges_cb(gpointer user_data)
{
        const Identity *id = user_data;

        if (setgroups(0, NULL) != 0 || setgid(id->gid) != 0 || setuid(id->uid) != 0)
                _exit(99);
}

/* This program in client mode (main()) as @user: sends @request to hostd's socket with
 * vtc_hostd_proto_call() and returns its stdout (the answer's payload, or nothing). */
static gchar *
client_as(Fixture *f, const gchar *user, const gchar *request, gint *out_status)
{
        g_autoptr(GError) error = NULL;
        /* a copy in the test's directory: the build tree need not be open to other users */
        g_autofree gchar *self = g_build_filename(f->dir, "itest-client", NULL);
        struct passwd *pw = getpwnam(user);
        Identity id;
        const gchar *argv[] = {self, "--client", f->sock_path, NULL};
        const gchar *env[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};
        g_auto(RunResult) r = {0};

        g_assert_nonnull(pw);
        id.uid = pw->pw_uid;
        id.gid = pw->pw_gid;
        if (!g_file_test(self, G_FILE_TEST_EXISTS)) {
                g_autoptr(GFile) src = g_file_new_for_path("/proc/self/exe");
                g_autoptr(GFile) dst = g_file_new_for_path(self);

                g_assert_true(g_file_copy(src, dst, G_FILE_COPY_NONE, NULL, NULL, NULL, &error));
                g_assert_no_error(error);
                g_assert_cmpint(g_chmod(self, 0755), ==, 0);
        }
        run_program(argv, env, request, drop_privileges_cb, &id, &r);
        g_assert_cmpint(r.status, !=, 99);
        *out_status = r.status;
        return g_steal_pointer(&r.out);
}

static VtcHostdAnswer *
answer_parse(const gchar *text)
{
        g_autoptr(GError) error = NULL;
        VtcHostdAnswer *answer = vtc_hostd_answer_parse(text, strlen(text), &error);

        g_assert_no_error(error);
        g_assert_nonnull(answer);
        return answer;
}

static void
assert_forbidden(Fixture *f, const gchar *user, const gchar *request)
{
        gint status = -1;
        g_autofree gchar *out = client_as(f, user, request, &status);
        g_autoptr(VtcHostdAnswer) answer = NULL;

        g_assert_cmpint(status, ==, 0);
        answer = answer_parse(out);
        g_assert_false(answer->ok);
        g_assert_cmpstr(answer->error_code, ==, "forbidden");
        g_assert_nonnull(answer->message);
}

static void
socket_authorization_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = g_build_filename(f->dir, "vtpm", NULL);
        g_autoptr(Guest) g = guest_new(f, state);
        g_autofree gchar *xml = domain_xml(g->name, g->uuid, TRUE);
        g_autofree gchar *hook = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_START,
                                                                VTC_HOSTD_PHASE_BEGIN,
                                                                xml,
                                                                &error);
        g_autofree gchar *ek_hex = guest_ek_modulus_hex(g);
        g_autofree gchar *vmid = guest_vmid(g);
        VtcHostdCertifyArgs args = {
            .type = VTC_HOSTD_CERT_EK,
            .ek = ek_hex,
            .vmid = vmid,
            .tpm_manufacturer = "id:00001014",
            .tpm_model = "swtpm",
            .tpm_version = "id:20191023",
            .tpm_spec_level = -1,
            .tpm_spec_revision = -1,
        };
        g_autofree gchar *certify = NULL;
        g_autofree gchar *run_dir = g_path_get_dirname(f->sock_path);
        g_autoptr(GBytes) log_before = NULL;
        g_autoptr(GBytes) log_after = NULL;
        struct group *gr;
        gid_t tss_gid = (gid_t)-1;
        gid_t nogroup_gid = (gid_t)-1;
        struct stat st;

        g_assert_no_error(error);
        certify = vtc_hostd_request_certify_to_json(&args, &error);
        g_assert_no_error(error);
        /* getgrnam() answers in a static buffer */
        if ((gr = getgrnam("tss")) != NULL)
                tss_gid = gr->gr_gid;
        if ((gr = getgrnam("nogroup")) != NULL)
                nogroup_gid = gr->gr_gid;
        if (getuid() != 0 || tss_gid == (gid_t)-1 || getpwnam("tss") == NULL ||
            nogroup_gid == (gid_t)-1) {
                g_test_skip("needs root and the users tss and nobody");
                return;
        }
        /* other users reach the socket only through its directory */
        g_assert_cmpint(g_chmod(f->dir, 0711), ==, 0);

        /* [socket] group = tss: dir root:tss 0750, socket root:tss 0660 */
        g_assert_cmpint(g_stat(run_dir, &st), ==, 0);
        g_assert_cmpuint(st.st_mode & 07777, ==, 0750);
        g_assert_cmpuint(st.st_uid, ==, 0);
        g_assert_cmpuint(st.st_gid, ==, tss_gid);
        g_assert_cmpint(g_stat(f->sock_path, &st), ==, 0);
        g_assert_true(S_ISSOCK(st.st_mode));
        g_assert_cmpuint(st.st_mode & 07777, ==, 0660);
        g_assert_cmpuint(st.st_gid, ==, tss_gid);

        log_before = log_bytes(f);
        /* tss (swtpm_setup) may certify but not send hook events */
        assert_forbidden(f, "tss", hook);
        {
                gint status = -1;
                g_autofree gchar *out = client_as(f, "tss", certify, &status);
                g_autoptr(VtcHostdAnswer) answer = NULL;

                g_assert_cmpint(status, ==, 0);
                answer = answer_parse(out);
                g_assert_true(answer->ok);
                g_assert_nonnull(answer->cert);
        }
        /* nobody cannot even connect */
        {
                gint status = -1;
                g_autofree gchar *out = client_as(f, "nobody", hook, &status);
                g_assert_cmpint(status, ==, 1);
                g_assert_cmpstr(out, ==, "");
        }
        log_after = log_bytes(f);
        g_assert_true(g_bytes_equal(log_before, log_after));
        g_clear_pointer(&log_before, g_bytes_unref);
        g_clear_pointer(&log_after, g_bytes_unref);

        /* a socket open to nobody's group: hostd's own check on the peer's uid is all that is
         * left, and it refuses both requests */
        fixture_stop_hostd(f);
        fixture_write_hostd_config(f, "nogroup");
        fixture_start_hostd(f);
        g_assert_cmpint(g_stat(f->sock_path, &st), ==, 0);
        g_assert_cmpuint(st.st_gid, ==, nogroup_gid);
        log_before = log_bytes(f);
        assert_forbidden(f, "nobody", hook);
        assert_forbidden(f, "nobody", certify);
        log_after = log_bytes(f);
        g_assert_true(g_bytes_equal(log_before, log_after));

        /* root still may */
        hook_ok(f, g, "prepare", "begin");
        fixture_stop_hostd(f);
        assert_pcr_matches_log(f);
}

/* ---- 8. bad requests ------------------------------------------------------------------------- */

/* Sends @payload (@len bytes) and returns hostd's answer, which must be a refusal. */
static VtcHostdAnswer *
call_refused(Fixture *f, const gchar *payload, gsize len)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = vtc_hostd_proto_call(f->sock_path,
                                                       payload,
                                                       len,
                                                       VTC_ITEST_TIMEOUT_SECONDS * 1000,
                                                       &error);
        VtcHostdAnswer *answer;

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        answer = answer_parse(g_bytes_get_data(reply, NULL));
        if (g_test_verbose())
                g_test_message("%.60s -> %s",
                               payload,
                               (const gchar *)g_bytes_get_data(reply, NULL));
        g_assert_false(answer->ok);
        g_assert_nonnull(answer->error_code);
        g_assert_nonnull(answer->message);
        g_assert_cmpstr(answer->message, !=, "");
        return answer;
}

static void
assert_refused(Fixture *f, const gchar *payload, const gchar *code, const gchar *mentions)
{
        g_autoptr(VtcHostdAnswer) answer = call_refused(f, payload, strlen(payload));

        g_assert_cmpstr(answer->error_code, ==, code);
        if (mentions != NULL && strstr(answer->message, mentions) == NULL)
                g_error("the refusal of %.60s does not mention '%s': %s",
                        payload,
                        mentions,
                        answer->message);
}

/* A raw frame: @header announces @announced bytes, @body follows. Returns the answer or NULL
 * when hostd closed without one. */
static GBytes *
raw_frame(Fixture *f, guint32 announced, const gchar *body, gsize body_len)
{
        g_autoptr(GError) error = NULL;
        gint64 deadline = g_get_monotonic_time() + VTC_ITEST_TIMEOUT_SECONDS * G_USEC_PER_SEC;
        vtc_autofd int fd = vtc_hostd_proto_connect(f->sock_path, deadline, &error);
        guint8 hdr[4] = {(guint8)(announced >> 24),
                         (guint8)(announced >> 16),
                         (guint8)(announced >> 8),
                         (guint8)announced};
        GBytes *answer;

        g_assert_no_error(error);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(send(fd, hdr, 4, MSG_NOSIGNAL), ==, 4);
        if (body_len > 0)
                g_assert_cmpint(send(fd, body, body_len, MSG_NOSIGNAL), ==, (gssize)body_len);
        shutdown(fd, SHUT_WR);
        answer = vtc_hostd_proto_read_frame(fd, deadline, &error);
        if (answer == NULL)
                g_assert_nonnull(error);
        return answer;
}

static void
bad_requests_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = g_build_filename(f->dir, "vtpm", NULL);
        g_autoptr(Guest) g = guest_new(f, state);
        g_autofree gchar *no_tpm = domain_xml("plain", g->uuid, FALSE);
        g_autofree gchar *tpm = domain_xml(g->name, g->uuid, TRUE);
        g_autofree gchar *vmid = guest_vmid(g);
        g_autofree gchar *req = NULL;
        g_autofree gchar *setup_dir = g_build_filename(f->dir, "setup-bad", NULL);
        g_autofree gchar *cert_path = g_build_filename(setup_dir, "ek.cert", NULL);
        g_autoptr(GBytes) log_before = log_bytes(f);
        g_autoptr(GBytes) log_after = NULL;
        g_autoptr(GBytes) answer = NULL;

        /* not JSON, not an object, no op, an unknown op, unknown members */
        assert_refused(f, "this is not json", "invalid_data", NULL);
        assert_refused(f, "[1,2,3]", "invalid_data", NULL);
        assert_refused(f, "{}", "invalid_data", "op");
        assert_refused(f, "{\"op\":\"reboot\"}", "not_supported", "reboot");
        req = g_strdup_printf(
            "{\"op\":\"hook\",\"event\":\"start\",\"phase\":\"begin\",\"domain\":\"x\",\"x\":1}");
        assert_refused(f, req, "invalid_data", NULL);
        g_clear_pointer(&req, g_free);
        /* a hook whose domain XML is not a domain, or an unknown event */
        assert_refused(
            f,
            "{\"op\":\"hook\",\"event\":\"start\",\"phase\":\"begin\",\"domain\":\"<x/>\"}",
            "invalid_data",
            NULL);
        assert_refused(
            f,
            "{\"op\":\"hook\",\"event\":\"migrate\",\"phase\":\"begin\",\"domain\":\"<x/>\"}",
            "invalid_data",
            "migrate");
        /* certify with a bad --ek: not hex, a short modulus, a point off the curve */
        {
                const gchar *eks[][2] = {
                    {"zz", "invalid_data"},
                    {"00ff", "not_supported"}, /* 8 bits */
                    {"x=01,y=02", "invalid_data"},
                    {"x=01,y=02,id=secp521r1", "not_supported"},
                };
                for (guint i = 0; i < G_N_ELEMENTS(eks); i++) {
                        g_autoptr(VtcHostdAnswer) a = NULL;
                        req = g_strdup_printf(
                            "{\"op\":\"certify\",\"type\":\"ek\",\"ek\":\"%s\","
                            "\"vmid\":\"%s\",\"tpm_manufacturer\":\"id:00001014\","
                            "\"tpm_model\":\"swtpm\",\"tpm_version\":\"id:20191023\"}",
                            eks[i][0],
                            vmid);
                        a = call_refused(f, req, strlen(req));
                        g_test_message("--ek %s: %s: %s", eks[i][0], a->error_code, a->message);
                        g_assert_cmpstr(a->error_code, ==, eks[i][1]);
                        g_assert_nonnull(strstr(a->message, "'ek'"));
                        g_clear_pointer(&req, g_free);
                }
        }
        /* the certify tool itself refuses a bad --ek (exit 2) and writes nothing */
        {
                g_auto(RunResult) r = {0};
                g_assert_cmpint(g_mkdir(setup_dir, 0700), ==, 0);
                run_certify(f, "00ff", setup_dir, vmid, NULL, &r);
                g_assert_cmpint(r.status, ==, 2);
                g_assert_nonnull(strstr(r.err, "--ek"));
                g_assert_false(g_file_test(cert_path, G_FILE_TEST_EXISTS));
        }
        /* a domain without a TPM: accepted, nothing recorded */
        req = vtc_hostd_request_hook_to_json(VTC_HOSTD_EVENT_START,
                                             VTC_HOSTD_PHASE_BEGIN,
                                             no_tpm,
                                             &error);
        g_assert_no_error(error);
        answer = vtc_hostd_proto_call(f->sock_path, req, strlen(req), 10000, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_bytes_get_data(answer, NULL), ==, "{\"ok\":true}");
        g_clear_pointer(&answer, g_bytes_unref);
        g_clear_pointer(&req, g_free);
        {
                g_auto(RunResult) r = {0};
                run_hook(f, "plain", "start", "begin", no_tpm, NULL, &r);
                g_assert_cmpint(r.status, ==, 0);
                g_assert_cmpstr(r.out, ==, "");
                g_assert_cmpstr(r.err, ==, "");
        }
        /* frames: announcing more than 1 MiB, announcing zero bytes, a body cut short */
        answer = raw_frame(f, VTC_HOSTD_PROTO_MAX_MESSAGE + 1, NULL, 0);
        g_assert_nonnull(answer);
        {
                g_autoptr(VtcHostdAnswer) a = answer_parse(g_bytes_get_data(answer, NULL));
                g_assert_false(a->ok);
                g_assert_cmpstr(a->error_code, ==, "too_large");
        }
        g_clear_pointer(&answer, g_bytes_unref);
        answer = raw_frame(f, 0, NULL, 0);
        g_assert_nonnull(answer);
        {
                g_autoptr(VtcHostdAnswer) a = answer_parse(g_bytes_get_data(answer, NULL));
                g_assert_false(a->ok);
        }
        g_clear_pointer(&answer, g_bytes_unref);
        answer = raw_frame(f, 100, "{\"op\":", 6);
        g_assert_null(answer);
        /* a whole 1 MiB frame of JSON that is not a request */
        {
                gsize len = VTC_HOSTD_PROTO_MAX_MESSAGE;
                g_autofree gchar *big = g_malloc(len + 1);
                g_autoptr(VtcHostdAnswer) a = NULL;

                memset(big, ' ', len);
                big[0] = '[';
                big[len - 1] = ']';
                big[len] = '\0';
                a = call_refused(f, big, len);
                g_assert_cmpstr(a->error_code, ==, "invalid_data");
        }

        log_after = log_bytes(f);
        g_assert_true(g_bytes_equal(log_before, log_after));

        /* hostd still serves: a certificate, then a recorded start */
        guest_certify(f, g);
        {
                g_autoptr(GPtrArray) entries = NULL;
                g_auto(RunResult) r = {0};

                run_hook(f, g->name, "start", "begin", tpm, NULL, &r);
                g_assert_cmpint(r.status, ==, 0);
                entries = log_entries(f, NULL);
                g_assert_cmpuint(entries->len, ==, 2);
                assert_vtpm_entry(log_entry(entries, 1), VTC_VTPM_LOG_VTPM_START, g, 1);
        }
        fixture_stop_hostd(f);
        assert_pcr_matches_log(f);
}

/* ---- 9. the hook's policy when hostd is down ---------------------------------------------------
 */

static void
hook_policy_test(void)
{
        g_autofree gchar *dir = vtc_test_tmpdir_new();
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autofree gchar *xml = domain_xml("guest1", uuid, TRUE);
        g_autofree gchar *conf = g_build_filename(dir, "hook.conf", NULL);
        g_autofree gchar *dead = g_build_filename(dir, "dead.sock", NULL);
        Fixture f = {0};

        f.dir = dir;
        f.sock_path = g_build_filename(dir, "nobody-here.sock", NULL);
        f.hook_conf = g_build_filename(dir, "missing.conf", NULL);

        /* no socket: fail_closed refuses prepare with one line naming the domain */
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, "fail_closed", &r);
                g_assert_cmpint(r.status, ==, 1);
                g_assert_cmpstr(r.out, ==, "");
                g_assert_true(one_line(r.err));
                g_assert_nonnull(strstr(r.err, "guest1"));
                g_assert_nonnull(strstr(r.err, "fail_closed"));
        }
        /* the default, with no configuration file, is fail_closed */
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, NULL, &r);
                g_assert_cmpint(r.status, ==, 1);
                g_assert_true(one_line(r.err));
        }
        /* fail_open lets it start, with a warning */
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, "fail_open", &r);
                g_assert_cmpint(r.status, ==, 0);
                g_assert_cmpstr(r.out, ==, "");
                g_assert_true(one_line(r.err));
                g_assert_nonnull(strstr(r.err, "fail_open"));
        }
        /* the same from a configuration file */
        g_free(f.hook_conf);
        f.hook_conf = g_strdup(conf);
        write_file(conf, "# vtc hook\npolicy = fail_open\ntimeout = 2\n");
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, NULL, &r);
                g_assert_cmpint(r.status, ==, 0);
                g_assert_true(one_line(r.err));
        }
        /* the environment wins over the file */
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, "fail_closed", &r);
                g_assert_cmpint(r.status, ==, 1);
        }
        /* other events never fail a domain */
        write_file(conf, "policy = fail_closed\n");
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "stopped", "end", xml, NULL, &r);
                g_assert_cmpint(r.status, ==, 0);
                g_assert_true(one_line(r.err));
        }
        /* a bad configuration fails closed at prepare */
        write_file(conf, "policy = sometimes\n");
        {
                g_auto(RunResult) r = {0};
                run_hook(&f, "guest1", "prepare", "begin", xml, NULL, &r);
                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "sometimes"));
        }
        /* a hostd that accepts but never answers: the short timeout, then the policy */
        write_file(conf, "timeout = 0.5\n");
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GSocket) s =
                    g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
                g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(dead);
                g_auto(RunResult) r = {0};
                gint64 t0;
                gdouble seconds;

                g_assert_no_error(error);
                g_assert_true(g_socket_bind(s, addr, FALSE, &error));
                g_assert_no_error(error);
                g_assert_true(g_socket_listen(s, &error));
                g_assert_no_error(error);
                g_free(f.sock_path);
                f.sock_path = g_strdup(dead);
                t0 = g_get_monotonic_time();
                run_hook(&f, "guest1", "prepare", "begin", xml, NULL, &r);
                seconds = (g_get_monotonic_time() - t0) / 1e6;
                g_test_message("the hook gave up after %.2f s: %s", seconds, r.err);
                g_assert_cmpint(r.status, ==, 1);
                g_assert_true(one_line(r.err));
                g_assert_nonnull(strstr(r.err, "timed out"));
                g_assert_cmpfloat(seconds, >=, 0.4);
                g_assert_cmpfloat(seconds, <, 5.0);
        }
        g_free(f.sock_path);
        g_free(f.hook_conf);
        vtc_test_tmpdir_free(g_steal_pointer(&dir));
}

/* ---- 10. an ECC P-384 EK (swtpm_setup's x=,y=,id=secp384r1 form) ----------------------------- */

static void
certify_p384_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *state = g_build_filename(f->dir, "vtpm-p384", NULL);
        g_autofree gchar *setup_dir = g_build_filename(f->dir, "setup-p384", NULL);
        g_autofree gchar *cert_path = g_build_filename(setup_dir, "ek.cert", NULL);
        g_autofree gchar *uuid = g_uuid_string_random();
        g_autofree gchar *vmid = g_strdup_printf("p384-guest:%s", uuid);
        g_autofree gchar *ek_param = NULL;
        g_autofree gchar *x_hex = NULL;
        g_autofree gchar *y_hex = NULL;
        g_autoptr(VtcSwtpm) vtpm = NULL;
        g_autoptr(GBytes) pub_bytes = NULL;
        g_autoptr(GBytes) der = NULL;
        g_autoptr(X509) x = NULL;
        g_autoptr(BIGNUM) bx = NULL;
        g_autoptr(BIGNUM) by = NULL;
        TPM2B_PUBLIC pub = {0};
        gsize off = 0;
        gchar group[64];
        guint8 got_x[48];
        guint8 got_y[48];
        const gchar *extra[] = {"--tpm-spec-family",
                                "2.0",
                                "--tpm-spec-level",
                                "0",
                                "--tpm-spec-revision",
                                "164",
                                NULL};
        g_auto(RunResult) r = {0};

        /* a vTPM as swtpm_setup makes them: its ECC EK at 0x81010016 is P-384 */
        g_assert_true(vtc_itest_tpm_state_copy(f->factory->state, state, &error));
        g_assert_no_error(error);
        vtpm = vtc_swtpm_new(state, &error);
        g_assert_no_error(error);
        {
                /* hw_persistent_public() for another swtpm */
                Fixture other = {.hw = vtpm};
                pub_bytes = hw_persistent_public(&other, VTC_TPM_EK_P384_HANDLE);
        }
        g_assert_cmphex(Tss2_MU_TPM2B_PUBLIC_Unmarshal(g_bytes_get_data(pub_bytes, NULL),
                                                       g_bytes_get_size(pub_bytes),
                                                       &off,
                                                       &pub),
                        ==,
                        TSS2_RC_SUCCESS);
        g_assert_cmpint(pub.publicArea.type, ==, TPM2_ALG_ECC);
        g_assert_cmpint(pub.publicArea.parameters.eccDetail.curveID, ==, TPM2_ECC_NIST_P384);
        g_assert_cmpuint(pub.publicArea.unique.ecc.x.size, ==, 48);
        g_assert_cmpuint(pub.publicArea.unique.ecc.y.size, ==, 48);
        x_hex = vtc_hex_encode(pub.publicArea.unique.ecc.x.buffer, 48);
        y_hex = vtc_hex_encode(pub.publicArea.unique.ecc.y.buffer, 48);
        ek_param = g_strdup_printf("x=%s,y=%s,id=secp384r1", x_hex, y_hex);

        g_assert_cmpint(g_mkdir(setup_dir, 0700), ==, 0);
        run_certify(f, ek_param, setup_dir, vmid, extra, &r);
        if (r.status != 0)
                g_error("vtc-vtpm-certify (P-384): exit %d: %s", r.status, r.err);
        der = vtc_file_read(cert_path, 16384, &error);
        g_assert_no_error(error);
        x = cert_parse(der);
        /* the certified key is that EK: curve and point */
        g_assert_true(EVP_PKEY_get_utf8_string_param(X509_get0_pubkey(x),
                                                     OSSL_PKEY_PARAM_GROUP_NAME,
                                                     group,
                                                     sizeof(group),
                                                     NULL));
        g_assert_cmpstr(group, ==, "secp384r1");
        g_assert_true(EVP_PKEY_get_bn_param(X509_get0_pubkey(x), OSSL_PKEY_PARAM_EC_PUB_X, &bx));
        g_assert_true(EVP_PKEY_get_bn_param(X509_get0_pubkey(x), OSSL_PKEY_PARAM_EC_PUB_Y, &by));
        g_assert_cmpint(BN_bn2binpad(bx, got_x, 48), ==, 48);
        g_assert_cmpint(BN_bn2binpad(by, got_y, 48), ==, 48);
        g_assert_cmpmem(got_x, 48, pub.publicArea.unique.ecc.x.buffer, 48);
        g_assert_cmpmem(got_y, 48, pub.publicArea.unique.ecc.y.buffer, 48);
        {
                /* the subject names the VM */
                g_autofree gchar *subject = NULL;
                g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
                BUF_MEM *mem = NULL;

                X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
                BIO_get_mem_ptr(bio, &mem);
                subject = g_strndup(mem->data, mem->length);
                g_test_message("P-384 EK certificate subject: %s", subject);
        }
}

/* ---- 11. reboot: a reset PCR under a non-empty log rotates it ------------------------------ */

static void
reboot_rotation_test(Fixture *f, gconstpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *old_path = g_strdup_printf("%s.1", f->log_path);
        g_autoptr(GBytes) before = NULL;
        g_autoptr(GBytes) rotated = NULL;
        g_autoptr(GPtrArray) entries = NULL;
        guint8 pcr[32];
        static const guint8 zeros[32] = {0};

        fixture_stop_hostd(f);
        before = log_bytes(f);
        /* a power cycle of the TPM: PCRs start from zero */
        g_clear_pointer(&f->hw, vtc_swtpm_free);
        f->hw = vtc_swtpm_new(f->hw_state, &error);
        g_assert_no_error(error);
        hw_pcr_read(f, pcr);
        g_assert_cmpmem(pcr, 32, zeros, 32);

        fixture_start_hostd(f);
        fixture_stop_hostd(f);
        rotated = vtc_file_read(old_path, 1 << 20, &error);
        g_assert_no_error(error);
        g_assert_true(g_bytes_equal(before, rotated));
        entries = log_entries(f, NULL);
        g_assert_cmpuint(entries->len, ==, 1);
        g_assert_cmpint(log_entry(entries, 0)->type, ==, VTC_VTPM_LOG_HOSTD_START);
        assert_pcr_matches_log(f);
}

/* ---- main ----------------------------------------------------------------------------------- */

/* Client mode (socket_authorization_test runs this program as another user): the request on
 * stdin, the answer's payload on stdout; exit 1 when there is no answer. */
static int
client_main(const gchar *sock_path)
{
        g_autoptr(GError) error = NULL;
        g_autofree gchar *request = NULL;
        gsize len = 0;
        g_autoptr(GIOChannel) in = g_io_channel_unix_new(STDIN_FILENO);
        g_autoptr(GBytes) answer = NULL;

        if (g_io_channel_read_to_end(in, &request, &len, &error) != G_IO_STATUS_NORMAL) {
                g_printerr("reading the request: %s\n", error->message);
                return 1;
        }
        answer = vtc_hostd_proto_call(sock_path, request, len, 10000, &error);
        if (answer == NULL) {
                g_printerr("%s\n", error->message);
                return 1;
        }
        fwrite(g_bytes_get_data(answer, NULL), 1, g_bytes_get_size(answer), stdout);
        return 0;
}

/* Read by ASan at start-up: the LeakSanitizer crash with gnutls threads (vtc-itest-common.c). */
const char *__asan_default_options(void);
__attribute__((used)) const char *
__asan_default_options(void)
{
        return "intercept_tls_get_addr=0";
}

int
main(int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        Factory factory = {0};
        Params with_registrar = {&factory, TRUE};
        Params local = {&factory, FALSE};
        int rc;

        if (argc == 3 && g_strcmp0(argv[1], "--client") == 0)
                return client_main(argv[2]);
        g_setenv("TSS2_LOG", "all+none", FALSE);
        vtc_test_require_program("swtpm");
        vtc_test_require_program("swtpm_setup");
        g_test_init(&argc, &argv, NULL);

        factory.dir = vtc_test_tmpdir_new();
        factory.state = g_build_filename(factory.dir, "tpm", NULL);
        factory.ca = g_build_filename(factory.dir, "vendor-ca", NULL);
        if (!vtc_swtpm_manufacture(factory.state, factory.ca, &error))
                g_error("manufacturing the host's TPM: %s", error->message);

#define ADD(path, params, fn) \
        g_test_add("/hostd/" path, Fixture, params, fixture_setup, fn, fixture_teardown)
        ADD("enroll", &with_registrar, enroll_test);
        ADD("manufacture", &with_registrar, manufacture_test);
        ADD("hook/lifecycle", &local, hook_lifecycle_test);
        ADD("hook/pre-vtc-vtpm", &local, hook_pre_vtc_vtpm_test);
        ADD("restart", &with_registrar, restart_test);
        ADD("log/lost-extend", &local, lost_extend_test);
        ADD("log/tampered", &local, tampered_log_test);
        ADD("log/reboot", &local, reboot_rotation_test);
        ADD("socket/authorization", &local, socket_authorization_test);
        ADD("socket/bad-requests", &local, bad_requests_test);
        g_test_add_func("/hostd/hook/policy-hostd-down", hook_policy_test);
        ADD("certify/ecc-p384", &local, certify_p384_test);
#undef ADD
        rc = g_test_run();
        g_free(factory.state);
        g_free(factory.ca);
        vtc_test_tmpdir_free(factory.dir);
        return rc;
}
