/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-hostd.h"

#include <grp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <pwd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vtc-credential.h"
#include "vtc-error.h"
#include "vtc-hostd-api.h"
#include "vtc-hostd-batch.h"
#include "vtc-hostd-protect.h"
#include "vtc-hostd-proto.h"
#include "vtc-hostd-socket.h"
#include "vtc-hostd-tpm.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-swtpm.h"
#include "vtc-tpm.h"
#include "vtc-util.h"
#include "vtc-vtpm-ca.h"
#include "vtc-vtpm-log.h"

const VtcConfigKey vtc_hostd_config_schema[] = {
    {"hostd",
     "id",
     VTC_CONFIG_TYPE_STRING,
     NULL,
     0,
     0,
     NULL,
     "this host's id at the registrar (default: the host name)"},
    {"hostd",
     "state_dir",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc",
     0,
     0,
     NULL,
     "where hostd keeps its state"},
    {"tpm",
     "tcti",
     VTC_CONFIG_TYPE_STRING,
     "device:/dev/tpmrm0",
     0,
     0,
     NULL,
     "the hardware TPM (a tpm2-tss TCTI string)"},
    {"tpm",
     "ak_handle",
     VTC_CONFIG_TYPE_INT,
     "2164260866",
     2164260864,
     2172649471,
     NULL,
     "persistent handle of the host AK (0x81000002)"},
    {"tpm",
     "ca_handle",
     VTC_CONFIG_TYPE_INT,
     "2164260867",
     2164260864,
     2172649471,
     NULL,
     "persistent handle of the vTPM CA key (0x81000003)"},
    {"vtpm_log",
     "path",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc/vtpm.log",
     0,
     0,
     NULL,
     "the vTPM event log"},
    {"vtpm_log",
     "pcr",
     VTC_CONFIG_TYPE_INT,
     "23",
     0,
     23,
     NULL,
     "the hardware PCR (SHA-256 bank) the log is extended into"},
    {"socket",
     "path",
     VTC_CONFIG_TYPE_PATH,
     VTC_HOSTD_SOCKET_DEFAULT,
     0,
     0,
     NULL,
     "the local socket of the hook and the certify tool"},
    {"socket",
     "group",
     VTC_CONFIG_TYPE_STRING,
     "tss",
     0,
     0,
     NULL,
     "group that may connect (swtpm_setup runs as tss); empty: root only"},
    {"registrar",
     "url",
     VTC_CONFIG_TYPE_STRING,
     "",
     0,
     0,
     NULL,
     "the registrar, e.g. https://10.0.0.5:8891 (empty: do not enroll)"},
    {"registrar",
     "ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the CA of the registrar's TLS certificate"},
    {"vtpm",
     "issuer",
     VTC_CONFIG_TYPE_STRING,
     NULL,
     0,
     0,
     NULL,
     "issuer name of vTPM EK certificates (default: vtc vTPM CA <id>)"},
    {"vtpm",
     "cert_days",
     VTC_CONFIG_TYPE_INT,
     "3650",
     1,
     36500,
     NULL,
     "validity of vTPM EK certificates in days"},
    {"tpm",
     "seal_handle",
     VTC_CONFIG_TYPE_INT,
     "2164260868",
     2164260864,
     2172649471,
     NULL,
     "persistent handle of the storage key protected VMs' vTPM keys are sealed under "
     "(0x81000004)"},
    {"libvirt",
     "uri",
     VTC_CONFIG_TYPE_STRING,
     "qemu:///system",
     0,
     0,
     NULL,
     "libvirt connection hostd hands protected VMs' vTPM keys to (secret calls only)"},
    {"libvirt",
     "swtpm_dir",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/libvirt/swtpm",
     0,
     0,
     NULL,
     "where libvirt keeps each VM's vTPM state (<uuid>/tpm2/)"},
    {"server",
     "address",
     VTC_CONFIG_TYPE_STRING,
     "0.0.0.0",
     0,
     0,
     NULL,
     "IP address of the verifier endpoint (0.0.0.0 or :: for all)"},
    {"server",
     "port",
     VTC_CONFIG_TYPE_INT,
     "8892",
     0,
     65535,
     NULL,
     "HTTPS port of the verifier endpoint (0: any free)"},
    {"tls",
     "cert",
     VTC_CONFIG_TYPE_PATH,
     NULL,
     0,
     0,
     NULL,
     "hostd's TLS certificate (vtc ca issue hostd); unset: no verifier endpoint"},
    {"tls", "key", VTC_CONFIG_TYPE_PATH, NULL, 0, 0, NULL, "its key"},
    {"tls",
     "client_ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the deployment's CA: every call (/metrics too) needs a client certificate it issued"},
    {"batch",
     "window_ms",
     VTC_CONFIG_TYPE_INT,
     "20",
     1,
     60000,
     NULL,
     "bindings arriving within this many ms of the first waiting one share a hardware quote"},
    {"batch",
     "max_pending",
     VTC_CONFIG_TYPE_INT,
     "4096",
     1,
     1048576,
     NULL,
     "a batch is quoted at once when this many bindings wait"},
    {"batch",
     "pcrs",
     VTC_CONFIG_TYPE_STRING,
     "0-10",
     0,
     0,
     NULL,
     "host PCRs (SHA-256 bank) in every host quote, e.g. 0-9,14; the vTPM log PCR is added"},
    {"host_logs",
     "boot_log",
     VTC_CONFIG_TYPE_PATH,
     "/sys/kernel/security/tpm0/binary_bios_measurements",
     0,
     0,
     NULL,
     "the host's firmware event log served to verifiers (empty: none)"},
    {"host_logs",
     "ima_log",
     VTC_CONFIG_TYPE_PATH,
     "/sys/kernel/security/ima/binary_runtime_measurements",
     0,
     0,
     NULL,
     "the host's IMA log served to verifiers (empty: none)"},
    {"channel",
     "timeout_ms",
     VTC_CONFIG_TYPE_INT,
     "10000",
     1,
     600000,
     NULL,
     "a round through the host fails with a timeout when the guest agent has not answered "
     "within this many ms"},
    {NULL}};

struct _VtcHostd {
        VtcConfig *config;
        gchar *id;
        gchar *issuer;
        VtcHostdTpm *tpm;
        TPM2_HANDLE ca_handle;
        TPM2B_PUBLIC ca_public;
        VtcVtpmLog *log;
        guint pcr;
        VtcHostdSocket *sock;
        VtcHostdBatch *batch;
        VtcHostdApi *api;         /* NULL when [tls] cert is unset */
        VtcHostdChannel *channel; /* the running VMs' private channels */
        VtcHostdProtect *protect;
        GCancellable *cancellable; /* cancelled at free: background jobs must not touch self */
        gid_t tss_gid;
        uid_t tss_uid;
        /* vm uuid -> hex SHA-256 of the EK SubjectPublicKeyInfo, for EKs hostd certified */
        GHashTable *ek_digests;
        GMutex lock;
};

void
vtc_hostd_free(VtcHostd *self)
{
        if (self == NULL)
                return;
        g_cancellable_cancel(self->cancellable);
        g_clear_object(&self->cancellable);
        /* the API first: it waits for the quote jobs that use the vTPM log */
        vtc_hostd_api_free(self->api);
        vtc_hostd_channel_free(self->channel);
        vtc_hostd_protect_free(self->protect);
        vtc_hostd_batch_free(self->batch);
        vtc_hostd_socket_free(self->sock);
        vtc_vtpm_log_free(self->log);
        vtc_hostd_tpm_free(self->tpm);
        g_clear_pointer(&self->ek_digests, g_hash_table_unref);
        g_mutex_clear(&self->lock);
        g_free(self->id);
        g_free(self->issuer);
        g_free(self);
}

/* ---- TPM jobs (each runs on the TPM worker thread) -------------------------------------- */

typedef struct {
        VtcTpm *tpm;
        guint pcr;
} VtcHostdExtend;

static gboolean
vtc_hostd_extend_cb(const guint8 *digest, gsize len, gpointer user_data, GError **error)
{
        VtcHostdExtend *e = user_data;

        return vtc_tpm_pcr_extend(e->tpm, e->pcr, TPM2_ALG_SHA256, digest, len, error);
}

typedef struct {
        VtcHostd *self;
        VtcVtpmLogType type;
        gchar *uuid;
        gchar *name;
        guint8 ek_sha256[32];
        GBytes *repair;
} VtcHostdLogJob;

static void
vtc_hostd_log_job_free(VtcHostdLogJob *job)
{
        g_free(job->uuid);
        g_free(job->name);
        g_clear_pointer(&job->repair, g_bytes_unref);
        g_free(job);
}

/* Appends one entry and extends it, in that order, on the TPM thread: extends reach the TPM in
 * the order of the appends. */
static gboolean
vtc_hostd_log_job(VtcHostdTpm *tpm_worker,
                  VtcTpm *tpm,
                  gpointer job_data,
                  gpointer *out_result,
                  GError **error)
{
        VtcHostdLogJob *job = job_data;
        VtcHostdExtend ext = {.tpm = tpm, .pcr = job->self->pcr};
        gint64 ts = g_get_real_time() / G_USEC_PER_SEC;
        VtcVtpmLogEntry *entry = NULL;

        if (job->repair != NULL)
                return vtc_hostd_extend_cb(g_bytes_get_data(job->repair, NULL),
                                           g_bytes_get_size(job->repair),
                                           &ext,
                                           error);
        switch (job->type) {
        case VTC_VTPM_LOG_HOSTD_START:
                entry = vtc_vtpm_log_append_hostd_start(job->self->log,
                                                        ts,
                                                        job->self->id,
                                                        vtc_hostd_extend_cb,
                                                        &ext,
                                                        error);
                break;
        case VTC_VTPM_LOG_VTPM_START:
                entry = vtc_vtpm_log_append_vtpm_start(job->self->log,
                                                       ts,
                                                       job->uuid,
                                                       job->name,
                                                       job->ek_sha256,
                                                       vtc_hostd_extend_cb,
                                                       &ext,
                                                       error);
                break;
        case VTC_VTPM_LOG_VTPM_STOP:
        default:
                entry = vtc_vtpm_log_append_vtpm_stop(job->self->log,
                                                      ts,
                                                      job->uuid,
                                                      job->name,
                                                      vtc_hostd_extend_cb,
                                                      &ext,
                                                      error);
                break;
        }
        if (entry == NULL)
                return FALSE;
        vtc_vtpm_log_entry_unref(entry);
        return TRUE;
}

static gboolean
vtc_hostd_pcr_job(VtcHostdTpm *tpm_worker,
                  VtcTpm *tpm,
                  gpointer job_data,
                  gpointer *out_result,
                  GError **error)
{
        guint pcr = GPOINTER_TO_UINT(job_data);
        TPML_PCR_SELECTION sel;
        g_autoptr(VtcPcrValues) values = NULL;
        const guint8 *v;
        gsize len = 0;

        vtc_tpm_selection_init(&sel, TPM2_ALG_SHA256, 1u << pcr);
        values = vtc_tpm_pcr_read(tpm, &sel, error);
        if (values == NULL)
                return FALSE;
        v = vtc_pcr_values_get(values, TPM2_ALG_SHA256, pcr, &len);
        if (v == NULL || len != 32) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_TPM, "the TPM has no SHA-256 PCR %u", pcr);
                return FALSE;
        }
        *out_result = g_bytes_new(v, len);
        return TRUE;
}

/* ---- start-up: the vTPM log against its PCR ---------------------------------------------- */

static gboolean
vtc_hostd_log_start(VtcHostd *self, GError **error)
{
        g_autoptr(GBytes) pcr = NULL;
        g_autoptr(GBytes) repair = NULL;
        g_autoptr(GError) error_local = NULL;
        VtcHostdLogJob *job;
        static const guint8 zeros[32] = {0};

        if (!vtc_hostd_tpm_run_sync(self->tpm,
                                    vtc_hostd_pcr_job,
                                    GUINT_TO_POINTER(self->pcr),
                                    (GDestroyNotify)g_bytes_unref,
                                    (gpointer *)&pcr,
                                    error))
                return FALSE;
        /* a zeroed PCR under a non-empty log: the host rebooted (PCRs reset). The old log stays
         * beside the new one; verifiers see the TPM's resetCount change in the quote. This comes
         * before the check: with a one-entry log a reset PCR also equals the replay without the
         * last entry, which the check would take for a lost extend and "repair" across the
         * reboot. */
        if (memcmp(g_bytes_get_data(pcr, NULL), zeros, 32) == 0 &&
            vtc_vtpm_log_get_count(self->log) > 0) {
                g_autofree gchar *old = vtc_vtpm_log_rotate(self->log, error);
                if (old == NULL)
                        return FALSE;
                g_message("PCR %u was reset (host reboot): the previous vTPM log is now %s",
                          self->pcr,
                          old);
        } else if (!vtc_vtpm_log_check_pcr(self->log,
                                           self->pcr,
                                           g_bytes_get_data(pcr, NULL),
                                           g_bytes_get_size(pcr),
                                           &repair,
                                           &error_local)) {
                g_propagate_prefixed_error(error,
                                           g_steal_pointer(&error_local),
                                           "refusing to serve: ");
                return FALSE;
        }
        if (repair != NULL) {
                job = g_new0(VtcHostdLogJob, 1);
                job->self = self;
                job->repair = g_steal_pointer(&repair);
                if (!vtc_hostd_tpm_run_sync(self->tpm, vtc_hostd_log_job, job, NULL, NULL, error)) {
                        vtc_hostd_log_job_free(job);
                        return FALSE;
                }
                vtc_hostd_log_job_free(job);
                /* the log takes no append until it has seen the PCR agree with it */
                g_clear_pointer(&pcr, g_bytes_unref);
                if (!vtc_hostd_tpm_run_sync(self->tpm,
                                            vtc_hostd_pcr_job,
                                            GUINT_TO_POINTER(self->pcr),
                                            (GDestroyNotify)g_bytes_unref,
                                            (gpointer *)&pcr,
                                            error))
                        return FALSE;
                if (!vtc_vtpm_log_check_pcr(self->log,
                                            self->pcr,
                                            g_bytes_get_data(pcr, NULL),
                                            g_bytes_get_size(pcr),
                                            &repair,
                                            error)) {
                        g_prefix_error(error, "refusing to serve after repairing the vTPM log: ");
                        return FALSE;
                }
                if (repair != NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_VERIFY_FAILED,
                                    "refusing to serve: PCR %u still lags the vTPM log after its "
                                    "repair",
                                    self->pcr);
                        return FALSE;
                }
                g_message("repaired the vTPM log: its last entry's extend had been lost");
        }
        job = g_new0(VtcHostdLogJob, 1);
        job->self = self;
        job->type = VTC_VTPM_LOG_HOSTD_START;
        if (!vtc_hostd_tpm_run_sync(self->tpm, vtc_hostd_log_job, job, NULL, NULL, error)) {
                vtc_hostd_log_job_free(job);
                return FALSE;
        }
        vtc_hostd_log_job_free(job);
        return TRUE;
}

/* ---- vTPM EKs ------------------------------------------------------------------------------ */

static gboolean
vtc_hostd_spki_digest(EVP_PKEY *key, guint8 out[32], GError **error)
{
        guint8 *der = NULL;
        int len = i2d_PUBKEY(key, &der);

        if (len <= 0) {
                vtc_ossl_set_error(error, VTC_ERROR_INVALID_DATA, "encoding an EK");
                return FALSE;
        }
        EVP_Digest(der, (size_t)len, out, NULL, EVP_sha256(), NULL);
        OPENSSL_free(der);
        return TRUE;
}

static gchar *
vtc_hostd_ek_record_path(VtcHostd *self, const gchar *uuid)
{
        g_autofree gchar *name = g_strdup_printf("%s.ek", uuid);

        return g_build_filename(vtc_config_get_string(self->config, "hostd", "state_dir"),
                                "vtpms",
                                name,
                                NULL);
}

/* What hostd certified is kept across restarts: uuid -> EK digest. */
static gboolean
vtc_hostd_ek_record(VtcHostd *self, const gchar *uuid, const guint8 digest[32], GError **error)
{
        g_autofree gchar *path = vtc_hostd_ek_record_path(self, uuid);
        g_autofree gchar *dir = g_path_get_dirname(path);
        g_autofree gchar *hex = vtc_hex_encode(digest, 32);

        if (g_mkdir_with_parents(dir, 0700) != 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "creating %s", dir);
                return FALSE;
        }
        return vtc_file_write_atomic(path, (const guint8 *)hex, strlen(hex), 0600, error);
}

static gboolean
vtc_hostd_ek_lookup(VtcHostd *self, const gchar *uuid, guint8 out[32])
{
        g_autofree gchar *path = vtc_hostd_ek_record_path(self, uuid);
        g_autoptr(GBytes) data = vtc_file_read(path, 128, NULL);
        g_autofree gchar *hex = NULL;

        if (data == NULL)
                return FALSE;
        hex = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        return vtc_hex_decode_fixed(g_strstrip(hex), out, 32, NULL);
}

/*
 * A vTPM made before vtc was installed has no recorded EK: read it once from a copy of its
 * state with a private swtpm (the running one belongs to QEMU).
 */
static gboolean
vtc_hostd_ek_from_state(VtcHostd *self, const gchar *uuid, guint8 out[32], GError **error)
{
        g_autofree gchar *src =
            g_build_filename(vtc_config_get_string(self->config, "libvirt", "swtpm_dir"),
                             uuid,
                             "tpm2",
                             NULL);
        g_autofree gchar *tmp = g_dir_make_tmp("vtc-hostd-ek-XXXXXX", NULL);
        g_autofree gchar *cmd = NULL;
        g_autoptr(VtcSwtpm) swtpm = NULL;
        g_autoptr(VtcTpm) tpm = NULL;
        g_autoptr(EVP_PKEY) pkey = NULL;
        TPM2B_PUBLIC pub = {0};
        ESYS_TR ek = ESYS_TR_NONE;
        gboolean transient = FALSE;
        gboolean ok = FALSE;
        g_autofree gchar *quoted_src = g_shell_quote(src);
        g_autofree gchar *quoted_tmp = NULL;

        if (tmp == NULL) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "cannot make a temporary directory");
                return FALSE;
        }
        quoted_tmp = g_shell_quote(tmp);
        cmd = g_strdup_printf("cp -a %s/. %s/", quoted_src, quoted_tmp);
        if (!g_file_test(src, G_FILE_TEST_IS_DIR) || system(cmd) != 0) {
                g_set_error(error, VTC_ERROR, VTC_ERROR_NOT_FOUND, "no vTPM state at %s", src);
        } else if ((swtpm = vtc_swtpm_new(tmp, error)) != NULL &&
                   (tpm = vtc_tpm_new(vtc_swtpm_get_tcti_conf(swtpm), error)) != NULL &&
                   vtc_tpm_ek_open(tpm, VTC_TPM_KEY_RSA2048, &ek, &pub, &transient, error) &&
                   (pkey = vtc_tpm_public_to_pkey(&pub, error)) != NULL) {
                ok = vtc_hostd_spki_digest(pkey, out, error);
        }
        g_clear_pointer(&tpm, vtc_tpm_free);
        g_clear_pointer(&swtpm, vtc_swtpm_free);
        g_free(cmd);
        cmd = g_strdup_printf("rm -rf %s", quoted_tmp);
        if (system(cmd) != 0)
                g_warning("could not remove %s", tmp);
        return ok;
}

/* ---- socket requests ---------------------------------------------------------------------- */

static void
vtc_hostd_reply_error(VtcHostdSocketRequest *req, const GError *error)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree gchar *text = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "ok");
        json_builder_add_boolean_value(b, FALSE);
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, vtc_error_to_string(error));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, error->message);
        json_builder_end_object(b);
        text = vtc_json_builder_to_string(b);
        vtc_hostd_socket_reply(req, text);
}

typedef struct {
        VtcHostd *self;
        VtcHostdRequest *request;
        VtcHostdSocketRequest *req;
} VtcHostdCall;

static void
vtc_hostd_call_free(VtcHostdCall *call)
{
        vtc_hostd_request_free(call->request);
        g_free(call);
}

static gboolean
vtc_hostd_certify_job(VtcHostdTpm *tpm_worker,
                      VtcTpm *tpm,
                      gpointer job_data,
                      gpointer *out_result,
                      GError **error)
{
        VtcHostdCall *call = job_data;
        VtcHostd *self = call->self;
        VtcHostdCertifyRequest *c = &call->request->certify;
        ESYS_TR ca = vtc_hostd_tpm_worker_get_key(tpm_worker, self->ca_handle, error);
        VtcEkCertRequest creq = {
            .vm_uuid = c->vm_uuid,
            .vm_name = c->vm_name,
            .manufacturer = c->tpm_manufacturer,
            .model = c->tpm_model,
            .version = c->tpm_version,
            .issuer_cn = self->issuer,
            .days = (guint)vtc_config_get_int(self->config, "vtpm", "cert_days"),
        };
        GBytes *cert;

        if (ca == ESYS_TR_NONE)
                return FALSE;
        cert = vtc_vtpm_ca_issue_ek_cert(tpm, ca, &self->ca_public, c->ek, &creq, error);
        if (cert == NULL)
                return FALSE;
        *out_result = cert;
        return TRUE;
}

static void
vtc_hostd_certify_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdCall *call = user_data;
        VtcHostd *self = call->self;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) cert = NULL;
        guint8 digest[32];

        if (!vtc_hostd_tpm_run_finish(self->tpm, res, (gpointer *)&cert, &error) ||
            (call->request->certify.type == VTC_HOSTD_CERT_EK &&
             /* swtpm_setup certifies the RSA EK (NV 0x01c00002) and then an ECC EK: the log
              * names the RSA EK, as vtc_hostd_ek_from_state() does for older vTPMs */
             EVP_PKEY_get_base_id(call->request->certify.ek) == EVP_PKEY_RSA &&
             (!vtc_hostd_spki_digest(call->request->certify.ek, digest, &error) ||
              !vtc_hostd_ek_record(self, call->request->certify.vm_uuid, digest, &error)))) {
                g_prefix_error(&error,
                               "certifying the vTPM of %s: ",
                               call->request->certify.vm_uuid);
                g_warning("%s", error->message);
                vtc_hostd_reply_error(call->req, error);
        } else {
                g_autofree gchar *b64 =
                    g_base64_encode(g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
                g_autofree gchar *answer = g_strdup_printf("{\"ok\":true,\"cert\":\"%s\"}", b64);
                g_message("issued the %s certificate of the vTPM of %s (%s)",
                          vtc_hostd_cert_type_to_string(call->request->certify.type),
                          call->request->certify.vm_name,
                          call->request->certify.vm_uuid);
                vtc_hostd_socket_reply(call->req, answer);
        }
        vtc_hostd_call_free(call);
}

static void
vtc_hostd_log_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdCall *call = user_data;
        g_autoptr(GError) error = NULL;

        if (!vtc_hostd_tpm_run_finish(call->self->tpm, res, NULL, &error)) {
                g_prefix_error(&error,
                               "recording %s of %s: ",
                               vtc_hostd_event_to_string(call->request->hook.event),
                               call->request->hook.domain->uuid);
                g_warning("%s", error->message);
                vtc_hostd_reply_error(call->req, error);
        } else {
                vtc_hostd_socket_reply(call->req, "{\"ok\":true}");
        }
        vtc_hostd_call_free(call);
}

/* ---- the channels of VMs that already run when hostd starts ---- */

static void
vtc_hostd_virt_error_silent(void *data, virErrorPtr err)
{
}

/* In a thread: the uuid and channel path of every running domain (pairs, flat). */
static void
vtc_hostd_running_channels_thread(GTask *task,
                                  gpointer source,
                                  gpointer task_data,
                                  GCancellable *cancellable)
{
        const gchar *uri = task_data;
        g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
        virDomainPtr *domains = NULL;
        virConnectPtr conn;
        int n;

        virSetErrorFunc(NULL, vtc_hostd_virt_error_silent);
        conn = virConnectOpenReadOnly(uri);
        if (conn == NULL) {
                const gchar *msg = virGetLastErrorMessage();
                g_task_return_new_error(task,
                                        VTC_ERROR,
                                        VTC_ERROR_UNAVAILABLE,
                                        "libvirt %s: %s",
                                        uri,
                                        msg != NULL ? msg : "cannot connect");
                return;
        }
        n = virConnectListAllDomains(conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        for (int i = 0; i < n; i++) {
                char *xml = virDomainGetXMLDesc(domains[i], 0);
                if (xml != NULL) {
                        g_autoptr(VtcHostdDomain) dom =
                            vtc_hostd_domain_parse(xml, strlen(xml), NULL);
                        if (dom != NULL && dom->channel_path != NULL) {
                                g_ptr_array_add(found, g_strdup(dom->uuid));
                                g_ptr_array_add(found, g_strdup(dom->channel_path));
                        }
                        free(xml);
                }
                virDomainFree(domains[i]);
        }
        free(domains);
        virConnectClose(conn);
        g_task_return_pointer(task, g_steal_pointer(&found), (GDestroyNotify)g_ptr_array_unref);
}

static void
vtc_hostd_running_channels_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostd *self = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) found = g_task_propagate_pointer(G_TASK(res), &error);

        if (g_task_get_cancellable(G_TASK(res)) != NULL &&
            g_cancellable_is_cancelled(g_task_get_cancellable(G_TASK(res))))
                return; /* hostd is gone */
        if (found == NULL) {
                g_message("no channels of running VMs recovered (%s); they come with the next "
                          "'started' or 'reconnect' hook",
                          error->message);
                return;
        }
        for (guint i = 0; i + 1 < found->len; i += 2) {
                const gchar *uuid = g_ptr_array_index(found, i);
                if (vtc_hostd_channel_lookup(self->channel, uuid) != NULL)
                        continue; /* a hook came first: it is newer */
                vtc_hostd_channel_add(self->channel, uuid, g_ptr_array_index(found, i + 1));
                g_message("recovered the private channel of running VM %s", uuid);
        }
}

/* A restarted hostd learns the channels of VMs that kept running from libvirt (a read-only
 * connection, outside any hook: no deadlock), without blocking the loop. */
static void
vtc_hostd_recover_channels(VtcHostd *self)
{
        g_autoptr(GTask) task = NULL;

        task = g_task_new(NULL, self->cancellable, vtc_hostd_running_channels_done, self);
        g_task_set_check_cancellable(task, FALSE);
        g_task_set_task_data(task,
                             g_strdup(vtc_config_get_string(self->config, "libvirt", "uri")),
                             g_free);
        g_task_run_in_thread(task, vtc_hostd_running_channels_thread);
}

/* ---- protected VMs (vtc-hostd-protect.c) ---- */

static void
vtc_hostd_protect_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdCall *call = user_data;
        VtcHostdProtectRequest *p = &call->request->protect;
        g_autoptr(GError) error = NULL;

        if (!vtc_hostd_protect_handle_finish(call->self->protect, res, &error)) {
                g_prefix_error(&error, "protecting domain %s: ", p->uuid);
                g_warning("%s", error->message);
                vtc_hostd_reply_error(call->req, error);
        } else {
                if (p->action == VTC_HOSTD_PROTECT_ADD)
                        g_message("sealed a new vTPM key for domain %s (%s), libvirt secret %s",
                                  p->name,
                                  p->uuid,
                                  p->secret);
                else
                        g_message("deleted the sealed vTPM key of domain %s", p->uuid);
                vtc_hostd_socket_reply(call->req, "{\"ok\":true}");
        }
        vtc_hostd_call_free(call);
}

static void
vtc_hostd_prepare_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcHostdCall *call = user_data;
        g_autoptr(GError) error = NULL;
        gboolean handed = FALSE;

        if (!vtc_hostd_protect_prepare_finish(call->self->protect, res, &handed, &error)) {
                g_warning("prepare of %s: %s", call->request->hook.domain->uuid, error->message);
                vtc_hostd_reply_error(call->req, error);
        } else {
                if (handed)
                        g_message("handed the vTPM key of %s to libvirt",
                                  call->request->hook.domain->uuid);
                vtc_hostd_socket_reply(call->req, "{\"ok\":true}");
        }
        vtc_hostd_call_free(call);
}

static void
vtc_hostd_withdraw_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GError) error = NULL;

        if (!vtc_hostd_protect_withdraw_finish(res, &error))
                g_warning("withdrawing a vTPM key from libvirt: %s", error->message);
}

static void
vtc_hostd_hook(VtcHostdCall *call)
{
        VtcHostd *self = call->self;
        VtcHostdHookRequest *h = &call->request->hook;
        VtcHostdLogJob *job;
        g_autoptr(GError) error = NULL;

        /* a protected vTPM's key: handed to libvirt at prepare, withdrawn once swtpm runs (or
         * the start failed) */
        if (h->event == VTC_HOSTD_EVENT_PREPARE && h->domain->tpm_secret != NULL) {
                vtc_hostd_protect_prepare_async(self->protect,
                                                h->domain,
                                                vtc_hostd_prepare_done,
                                                call);
                return;
        }
        if (h->event == VTC_HOSTD_EVENT_STARTED || h->event == VTC_HOSTD_EVENT_STOPPED ||
            h->event == VTC_HOSTD_EVENT_RELEASE)
                vtc_hostd_protect_withdraw_async(self->protect,
                                                 h->domain,
                                                 vtc_hostd_withdraw_done,
                                                 NULL);
        /* the VM's private channel (doc/channel.md): its path is in the live XML once it runs */
        if ((h->event == VTC_HOSTD_EVENT_STARTED || h->event == VTC_HOSTD_EVENT_RECONNECT) &&
            h->domain->channel_path != NULL)
                vtc_hostd_channel_add(self->channel, h->domain->uuid, h->domain->channel_path);
        else if (h->event == VTC_HOSTD_EVENT_STOPPED || h->event == VTC_HOSTD_EVENT_RELEASE)
                vtc_hostd_channel_remove(self->channel, h->domain->uuid);

        if (!h->domain->has_tpm ||
            (h->event != VTC_HOSTD_EVENT_START && h->event != VTC_HOSTD_EVENT_STOPPED)) {
                vtc_hostd_socket_reply(call->req, "{\"ok\":true}");
                vtc_hostd_call_free(call);
                return;
        }
        job = g_new0(VtcHostdLogJob, 1);
        job->self = self;
        job->uuid = g_strdup(h->domain->uuid);
        job->name = g_strdup(h->domain->name);
        if (h->event == VTC_HOSTD_EVENT_START) {
                job->type = VTC_VTPM_LOG_VTPM_START;
                if (!vtc_hostd_ek_lookup(self, h->domain->uuid, job->ek_sha256)) {
                        /* made before vtc: read its EK once, remember it */
                        if (!vtc_hostd_ek_from_state(self,
                                                     h->domain->uuid,
                                                     job->ek_sha256,
                                                     &error) ||
                            !vtc_hostd_ek_record(self, h->domain->uuid, job->ek_sha256, &error)) {
                                g_prefix_error(&error, "the vTPM EK of %s: ", h->domain->uuid);
                                vtc_hostd_log_job_free(job);
                                vtc_hostd_reply_error(call->req, error);
                                vtc_hostd_call_free(call);
                                return;
                        }
                }
        } else {
                job->type = VTC_VTPM_LOG_VTPM_STOP;
        }
        vtc_hostd_tpm_run_async(self->tpm,
                                vtc_hostd_log_job,
                                job,
                                (GDestroyNotify)vtc_hostd_log_job_free,
                                NULL,
                                NULL,
                                vtc_hostd_log_done,
                                call);
}

static void
vtc_hostd_request_cb(VtcHostdSocketRequest *req, gpointer user_data)
{
        VtcHostd *self = user_data;
        g_autoptr(GError) error = NULL;
        gsize len = 0;
        const guint8 *data = vtc_hostd_socket_request_get_data(req, &len);
        VtcHostdCall *call;
        VtcHostdRequest *request = vtc_hostd_request_parse((const gchar *)data, len, &error);
        guint uid = vtc_hostd_socket_request_get_uid(req);

        if (request == NULL) {
                vtc_hostd_reply_error(req, error);
                return;
        }
        /* the kernel's word on who calls: the hook is root's, certify also tss's (swtpm_setup) */
        if (uid != 0 && (request->op != VTC_HOSTD_OP_CERTIFY || uid != (guint)self->tss_uid)) {
                g_set_error(&error,
                            VTC_ERROR,
                            VTC_ERROR_FORBIDDEN,
                            "uid %u may not make this request",
                            uid);
                vtc_hostd_request_free(request);
                vtc_hostd_reply_error(req, error);
                return;
        }
        call = g_new0(VtcHostdCall, 1);
        call->self = self;
        call->request = request;
        call->req = req;
        if (request->op == VTC_HOSTD_OP_HOOK) {
                vtc_hostd_hook(call);
                return;
        }
        if (request->op == VTC_HOSTD_OP_PROTECT) {
                vtc_hostd_protect_handle_async(self->protect,
                                               &request->protect,
                                               vtc_hostd_protect_done,
                                               call);
                return;
        }
        vtc_hostd_tpm_run_async(self->tpm,
                                vtc_hostd_certify_job,
                                call,
                                NULL,
                                (GDestroyNotify)g_bytes_unref,
                                NULL,
                                vtc_hostd_certify_done,
                                call);
}

/* ---- enrollment with the registrar ------------------------------------------------------- */

typedef struct {
        VtcHostd *self;
        GBytes *ek_public;
        GBytes *ek_cert;
        GBytes *credential;
        GBytes *secret_enc;
        GBytes *secret;
        GBytes *attest;
        GBytes *signature;
} VtcHostdEnroll;

static gboolean
vtc_hostd_ek_job(VtcHostdTpm *tpm_worker,
                 VtcTpm *tpm,
                 gpointer job_data,
                 gpointer *out_result,
                 GError **error)
{
        VtcHostdEnroll *e = job_data;
        ESYS_TR ek = ESYS_TR_NONE;
        TPM2B_PUBLIC pub = {0};
        gboolean transient = FALSE;

        if (!vtc_tpm_ek_open(tpm, VTC_TPM_KEY_RSA2048, &ek, &pub, &transient, error))
                return FALSE;
        if (e->credential != NULL) {
                e->secret = vtc_tpm_activate_credential(tpm,
                                                        vtc_hostd_tpm_worker_get_ak(tpm_worker),
                                                        ek,
                                                        e->credential,
                                                        e->secret_enc,
                                                        error);
        } else {
                e->ek_public = vtc_tpm_public_marshal(&pub);
                e->ek_cert = vtc_tpm_nv_read(tpm, VTC_TPM_EK_RSA_CERT_NV, error);
        }
        if (transient)
                vtc_tpm_flush(tpm, ek);
        return e->credential != NULL ? e->secret != NULL : e->ek_cert != NULL;
}

static gboolean
vtc_hostd_certify_ca_job(VtcHostdTpm *tpm_worker,
                         VtcTpm *tpm,
                         gpointer job_data,
                         gpointer *out_result,
                         GError **error)
{
        VtcHostdEnroll *e = job_data;
        ESYS_TR ca = vtc_hostd_tpm_worker_get_key(tpm_worker, e->self->ca_handle, error);

        if (ca == ESYS_TR_NONE)
                return FALSE;
        return vtc_tpm_certify(tpm,
                               ca,
                               vtc_hostd_tpm_worker_get_ak(tpm_worker),
                               NULL,
                               &e->attest,
                               &e->signature,
                               error);
}

static JsonObject *
vtc_hostd_post(SoupSession *session, const gchar *url, JsonBuilder *b, GError **error)
{
        g_autofree gchar *body = vtc_json_builder_to_string(b);
        guint status = 0;
        g_autoptr(GBytes) reply =
            vtc_http_client_request(session, "POST", url, body, &status, error);
        VtcJsonLimits limits = VTC_JSON_LIMITS_DEFAULT;
        JsonObject *obj;

        if (reply == NULL)
                return NULL;
        obj = vtc_json_parse_object(g_bytes_get_data(reply, NULL),
                                    g_bytes_get_size(reply),
                                    &limits,
                                    error);
        if (obj == NULL)
                return NULL;
        if (status != 200) {
                const gchar *msg = vtc_json_get_string(obj, "message", FALSE, NULL);
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_FORBIDDEN,
                            "the registrar refused (%u): %s",
                            status,
                            msg != NULL ? msg : "no reason given");
                json_object_unref(obj);
                return NULL;
        }
        return obj;
}

static void
vtc_hostd_enroll_clear(VtcHostdEnroll *e)
{
        g_clear_pointer(&e->ek_public, g_bytes_unref);
        g_clear_pointer(&e->ek_cert, g_bytes_unref);
        g_clear_pointer(&e->credential, g_bytes_unref);
        g_clear_pointer(&e->secret_enc, g_bytes_unref);
        if (e->secret != NULL) {
                gsize n = 0;
                gpointer p = g_bytes_unref_to_data(g_steal_pointer(&e->secret), &n);
                vtc_secret_free(p, n);
        }
        g_clear_pointer(&e->attest, g_bytes_unref);
        g_clear_pointer(&e->signature, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcHostdEnroll, vtc_hostd_enroll_clear)

gboolean
vtc_hostd_enroll(VtcHostd *self, GError **error)
{
        const gchar *base = vtc_config_get_string(self->config, "registrar", "url");
        g_autoptr(SoupSession) session = NULL;
        g_auto(VtcHostdEnroll) e = {0};
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) answer = NULL;
        g_autoptr(GBytes) ak_public =
            vtc_tpm_public_marshal(vtc_hostd_tpm_get_ak_public(self->tpm));
        g_autoptr(GBytes) ca_public = vtc_tpm_public_marshal(&self->ca_public);
        g_autofree gchar *url = NULL;
        guint8 proof[32];
        unsigned int proof_len = sizeof(proof);
        g_autofree gchar *proof_hex = NULL;

        e.self = self;
        session = vtc_http_client_new(vtc_config_get_string(self->config, "registrar", "ca"),
                                      NULL,
                                      NULL,
                                      error);
        if (session == NULL)
                return FALSE;
        if (!vtc_hostd_tpm_run_sync(self->tpm, vtc_hostd_ek_job, &e, NULL, NULL, error)) {
                g_prefix_error(error, "reading the EK and its certificate: ");
                return FALSE;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, self->id);
        vtc_json_builder_add_base64(b,
                                    "ek_public",
                                    g_bytes_get_data(e.ek_public, NULL),
                                    g_bytes_get_size(e.ek_public));
        vtc_json_builder_add_base64(b,
                                    "ek_cert",
                                    g_bytes_get_data(e.ek_cert, NULL),
                                    g_bytes_get_size(e.ek_cert));
        vtc_json_builder_add_base64(b,
                                    "ak_public",
                                    g_bytes_get_data(ak_public, NULL),
                                    g_bytes_get_size(ak_public));
        json_builder_end_object(b);
        url = g_strdup_printf("%s/v1/hosts", base);
        answer = vtc_hostd_post(session, url, b, error);
        if (answer == NULL)
                return FALSE;
        e.credential = vtc_json_get_base64(answer, "credential_blob", 4096, TRUE, error);
        if (e.credential == NULL)
                return FALSE;
        e.secret_enc = vtc_json_get_base64(answer, "encrypted_secret", 4096, TRUE, error);
        if (e.secret_enc == NULL)
                return FALSE;
        if (!vtc_hostd_tpm_run_sync(self->tpm, vtc_hostd_ek_job, &e, NULL, NULL, error)) {
                g_prefix_error(error, "ActivateCredential: ");
                return FALSE;
        }
        HMAC(EVP_sha256(),
             g_bytes_get_data(e.secret, NULL),
             (int)g_bytes_get_size(e.secret),
             (const guint8 *)self->id,
             strlen(self->id),
             proof,
             &proof_len);
        proof_hex = vtc_hex_encode(proof, sizeof(proof));
        g_clear_object(&b);
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "proof");
        json_builder_add_string_value(b, proof_hex);
        json_builder_end_object(b);
        g_free(url);
        url = g_strdup_printf("%s/v1/hosts/%s/activate", base, self->id);
        g_clear_pointer(&answer, json_object_unref);
        answer = vtc_hostd_post(session, url, b, error);
        if (answer == NULL)
                return FALSE;

        /* the vTPM CA key, certified by the AK */
        if (!vtc_hostd_tpm_run_sync(self->tpm, vtc_hostd_certify_ca_job, &e, NULL, NULL, error)) {
                g_prefix_error(error, "certifying the vTPM CA key: ");
                return FALSE;
        }
        g_clear_object(&b);
        b = json_builder_new();
        json_builder_begin_object(b);
        vtc_json_builder_add_base64(b,
                                    "public",
                                    g_bytes_get_data(ca_public, NULL),
                                    g_bytes_get_size(ca_public));
        vtc_json_builder_add_base64(b,
                                    "certify_attest",
                                    g_bytes_get_data(e.attest, NULL),
                                    g_bytes_get_size(e.attest));
        vtc_json_builder_add_base64(b,
                                    "certify_signature",
                                    g_bytes_get_data(e.signature, NULL),
                                    g_bytes_get_size(e.signature));
        json_builder_end_object(b);
        g_free(url);
        url = g_strdup_printf("%s/v1/hosts/%s/vtpm-ca", base, self->id);
        g_clear_pointer(&answer, json_object_unref);
        answer = vtc_hostd_post(session, url, b, error);
        if (answer == NULL)
                return FALSE;
        g_message("enrolled with the registrar at %s as %s", base, self->id);
        return TRUE;
}

/* ---- start-up ----------------------------------------------------------------------------- */

/* Batched host quotes, and the HTTPS endpoint of verifiers when [tls] cert is set. */
static gboolean
vtc_hostd_serve_verifiers(VtcHostd *self, GError **error)
{
        VtcConfig *c = self->config;
        TPML_PCR_SELECTION sel;
        VtcHostdApiOptions opts = {0};
        const gchar *cert = vtc_config_get_string(c, "tls", "cert");
        guint port = 0;

        if (!vtc_hostd_api_parse_pcrs(vtc_config_get_string(c, "batch", "pcrs"),
                                      self->pcr,
                                      &sel,
                                      error)) {
                g_prefix_error(error, "[batch] pcrs: ");
                return FALSE;
        }
        self->batch = vtc_hostd_batch_new(self->tpm,
                                          &sel,
                                          (guint)vtc_config_get_int(c, "batch", "window_ms"),
                                          (guint)vtc_config_get_int(c, "batch", "max_pending"),
                                          error);
        if (self->batch == NULL)
                return FALSE;
        if (cert == NULL || cert[0] == '\0') {
                g_message("[tls] cert is unset: no HTTPS endpoint for verifiers");
                return TRUE;
        }
        opts.host_id = self->id;
        opts.tpm = self->tpm;
        opts.batch = self->batch;
        opts.log = self->log;
        opts.vtpm_pcr = self->pcr;
        opts.channel = self->channel;
        opts.selection = &sel;
        opts.boot_log = vtc_config_get_string(c, "host_logs", "boot_log");
        opts.ima_log = vtc_config_get_string(c, "host_logs", "ima_log");
        opts.cert_file = cert;
        opts.key_file = vtc_config_get_string(c, "tls", "key");
        opts.client_ca_file = vtc_config_get_string(c, "tls", "client_ca");
        if (opts.key_file == NULL || opts.key_file[0] == '\0') {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "[tls] cert is set but [tls] key is not");
                return FALSE;
        }
        self->api = vtc_hostd_api_new(&opts, error);
        if (self->api == NULL ||
            !vtc_hostd_api_listen(self->api,
                                  vtc_config_get_string(c, "server", "address"),
                                  (guint)vtc_config_get_int(c, "server", "port"),
                                  &port,
                                  error)) {
                g_prefix_error(error, "the verifier endpoint: ");
                return FALSE;
        }
        g_message("serving verifiers on https://%s:%u",
                  vtc_config_get_string(c, "server", "address"),
                  port);
        return TRUE;
}

VtcHostd *
vtc_hostd_new(VtcConfig *config, GError **error)
{
        g_autoptr(VtcHostd) self = g_new0(VtcHostd, 1);
        const gchar *id = vtc_config_get_string(config, "hostd", "id");
        const gchar *issuer = vtc_config_get_string(config, "vtpm", "issuer");
        const gchar *group = vtc_config_get_string(config, "socket", "group");
        TPM2B_PUBLIC tmpl;
        gint gid = -1;

        g_mutex_init(&self->lock);
        self->config = config;
        self->cancellable = g_cancellable_new();
        self->channel =
            vtc_hostd_channel_new((guint)vtc_config_get_int(config, "channel", "timeout_ms"));
        self->id = g_strdup(id != NULL ? id : g_get_host_name());
        self->issuer =
            issuer != NULL ? g_strdup(issuer) : g_strdup_printf("vtc vTPM CA %s", self->id);
        self->pcr = (guint)vtc_config_get_int(config, "vtpm_log", "pcr");
        self->ca_handle = (TPM2_HANDLE)vtc_config_get_int(config, "tpm", "ca_handle");
        self->tss_uid = (uid_t)-1;
        if (group != NULL && group[0] != '\0') {
                struct group *gr = getgrnam(group);
                struct passwd *pw = getpwnam(group);
                if (gr == NULL) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "[socket] group: no group '%s'",
                                    group);
                        return NULL;
                }
                gid = (gint)gr->gr_gid;
                if (pw != NULL)
                        self->tss_uid = pw->pw_uid;
        }
        self->tpm = vtc_hostd_tpm_new(vtc_config_get_string(config, "tpm", "tcti"),
                                      (TPM2_HANDLE)vtc_config_get_int(config, "tpm", "ak_handle"),
                                      VTC_TPM_KEY_ECC_P256,
                                      error);
        if (self->tpm == NULL)
                return NULL;
        self->protect =
            vtc_hostd_protect_new(self->tpm,
                                  vtc_config_get_string(config, "hostd", "state_dir"),
                                  (TPM2_HANDLE)vtc_config_get_int(config, "tpm", "seal_handle"),
                                  vtc_config_get_string(config, "libvirt", "uri"));
        vtc_tpm_template_signing_key(VTC_TPM_KEY_ECC_P256, &tmpl);
        if (!vtc_hostd_tpm_key_ensure_sync(self->tpm,
                                           self->ca_handle,
                                           &tmpl,
                                           &self->ca_public,
                                           error)) {
                g_prefix_error(error, "the vTPM CA key: ");
                return NULL;
        }
        self->log = vtc_vtpm_log_open(vtc_config_get_string(config, "vtpm_log", "path"), error);
        if (self->log == NULL)
                return NULL;
        if (vtc_vtpm_log_get_torn_bytes(self->log) > 0)
                g_message("the vTPM log ended in a torn entry (%" G_GSIZE_FORMAT
                          " bytes, never extended): dropped",
                          vtc_vtpm_log_get_torn_bytes(self->log));
        if (!vtc_hostd_log_start(self, error))
                return NULL;
        if (vtc_config_get_string(config, "registrar", "url")[0] != '\0' &&
            !vtc_hostd_enroll(self, error)) {
                g_prefix_error(error, "enrolling with the registrar: ");
                return NULL;
        }
        {
                const gchar *path = vtc_config_get_string(config, "socket", "path");
                g_autofree gchar *dir = g_path_get_dirname(path);
                if (g_mkdir_with_parents(dir, 0750) != 0 ||
                    (gid >= 0 && chown(dir, 0, (gid_t)gid) != 0 && getuid() == 0)) {
                        g_set_error(error, VTC_ERROR, VTC_ERROR_IO, "creating %s", dir);
                        return NULL;
                }
                self->sock = vtc_hostd_socket_new(path,
                                                  0660,
                                                  getuid() == 0 ? gid : -1,
                                                  vtc_hostd_request_cb,
                                                  self,
                                                  error);
                if (self->sock == NULL)
                        return NULL;
        }
        if (!vtc_hostd_serve_verifiers(self, error))
                return NULL;
        vtc_hostd_recover_channels(self);
        return g_steal_pointer(&self);
}
