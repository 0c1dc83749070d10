/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-agent.h"

#include <errno.h>

#include <glib/gstdio.h>

#include "vtc-error.h"
#include "vtc-util.h"

#define VTC_AGENT_PORT_RETRY_SECONDS 5

const VtcConfigKey vtc_agent_config_schema[] = {
    {"agent",
     "uuid",
     VTC_CONFIG_TYPE_STRING,
     "",
     0,
     0,
     NULL,
     "the VM UUID the agent enrolls as (empty: read uuid_file)"},
    {"agent",
     "uuid_file",
     VTC_CONFIG_TYPE_PATH,
     "/sys/class/dmi/id/product_uuid",
     0,
     0,
     NULL,
     "where the VM UUID is read when uuid is empty (QEMU puts the domain UUID in SMBIOS)"},
    {"agent",
     "state_dir",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc-agent",
     0,
     0,
     NULL,
     "where the agent keeps its TLS key and certificate (created 0700)"},
    {"tpm",
     "tcti",
     VTC_CONFIG_TYPE_STRING,
     "device:/dev/tpmrm0",
     0,
     0,
     NULL,
     "the vTPM (a tpm2-tss TCTI string, e.g. swtpm:path=/run/swtpm.sock in tests)"},
    {"tpm",
     "ak_handle",
     VTC_CONFIG_TYPE_INT,
     "2164261120",
     2164260864,
     2172649471,
     NULL,
     "persistent handle of the AK (0x81000100); created there on first start"},
    {"tpm",
     "ak_type",
     VTC_CONFIG_TYPE_ENUM,
     "ecc",
     0,
     0,
     "ecc|rsa",
     "the AK made on first start: ECDSA P-256 (fast) or RSA-2048 (RSASSA)"},
    {"channel",
     "enabled",
     VTC_CONFIG_TYPE_BOOL,
     "true",
     0,
     0,
     NULL,
     "serve rounds from the host (hostd) on the private channel"},
    {"channel",
     "port",
     VTC_CONFIG_TYPE_STRING,
     VTC_AGENT_CHAN_PORT_NAME_DEFAULT,
     0,
     0,
     NULL,
     "name of the virtio-serial port (looked up in sysfs_dir/*/name)"},
    {"channel",
     "path",
     VTC_CONFIG_TYPE_PATH,
     "",
     0,
     0,
     NULL,
     "instead of the virtio port, listen on this unix socket and serve one client at a "
     "time (tests, or an agent run on a host)"},
    {"channel",
     "sysfs_dir",
     VTC_CONFIG_TYPE_PATH,
     VTC_AGENT_CHAN_SYSFS_DEFAULT,
     0,
     0,
     NULL,
     "where virtio ports are listed"},
    {"channel", "dev_dir", VTC_CONFIG_TYPE_PATH, "/dev", 0, 0, NULL, "where their devices are"},
    {"channel",
     "idle_ms",
     VTC_CONFIG_TYPE_INT,
     "100",
     10,
     5000,
     NULL,
     "with no host connected the port reads EOF at once: wait this long before looking again"},
    {"logs",
     "ima",
     VTC_CONFIG_TYPE_PATH,
     VTC_AGENT_ROUND_IMA_PATH_DEFAULT,
     0,
     0,
     NULL,
     "the binary IMA log (empty: never send one; a missing file means no IMA)"},
    {"logs",
     "boot",
     VTC_CONFIG_TYPE_PATH,
     VTC_AGENT_ROUND_BOOT_PATH_DEFAULT,
     0,
     0,
     NULL,
     "the firmware event log (empty: never send one)"},
    {"logs",
     "ima_chunk",
     VTC_CONFIG_TYPE_INT,
     "8388608",
     1,
     8388608,
     NULL,
     "most IMA log bytes in one answer (the verifier asks again for more)"},
    {"api",
     "enabled",
     VTC_CONFIG_TYPE_BOOL,
     "false",
     0,
     0,
     NULL,
     "direct mode: serve POST /v1/round over HTTPS with the agent's TLS key"},
    {"api", "address", VTC_CONFIG_TYPE_STRING, "0.0.0.0", 0, 0, NULL, "address to listen on"},
    {"api", "port", VTC_CONFIG_TYPE_INT, "8892", 0, 65535, NULL, "HTTPS port (0: any free)"},
    {"api",
     "client_ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the deployment's CA: verifiers must present a client certificate it issued"},
    {"tls",
     "cert",
     VTC_CONFIG_TYPE_PATH,
     "",
     0,
     0,
     NULL,
     "the agent's TLS certificate (empty: state_dir/tls.crt, made on first start)"},
    {"tls",
     "key",
     VTC_CONFIG_TYPE_PATH,
     "",
     0,
     0,
     NULL,
     "its key (empty: state_dir/tls.key, made on first start)"},
    {"tls",
     "nv_index",
     VTC_CONFIG_TYPE_INT,
     "22020352",
     0,
     33554431,
     NULL,
     "vTPM NV index (0x01500100) keeping the TLS key and certificate across reboots of a "
     "guest whose state_dir is lost; used when state_dir holds no TLS key (0: state_dir only)"},
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
    {"registrar",
     "retry_max",
     VTC_CONFIG_TYPE_INT,
     "60",
     1,
     3600,
     NULL,
     "longest wait in seconds between enrollment attempts (backoff from 1 s)"},
    {NULL}};

/* An enrollment attempt in flight outlives the agent only as a NULL pointer. */
typedef struct {
        VtcAgent *agent;
} VtcAgentEnrollCall;

struct _VtcAgent {
        VtcConfig *config;
        gchar *uuid;
        gchar *tls_cert_pem;
        VtcAgentTpm *tpm;
        VtcAgentRound *round;
        VtcAgentChan *chan;
        guint chan_retry;
        gboolean chan_missing_said;
        VtcAgentApi *api;
        gboolean enrolled;
        guint enroll_delay;
        guint enroll_timer;
        VtcAgentEnrollCall *enroll_call;
};

/* ---- the channel's requests ---------------------------------------------------------------- */

static void
vtc_agent_round_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        VtcAgentChanRequest *request = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) evidence = vtc_agent_round_run_finish(NULL, res, &error);

        if (evidence == NULL)
                vtc_agent_chan_request_return_error(request, error);
        else
                vtc_agent_chan_request_return(request, evidence);
}

static void
vtc_agent_chan_handler(VtcAgentChanRequest *request,
                       gint64 id,
                       const gchar *op,
                       JsonObject *body,
                       gpointer user_data)
{
        VtcAgent *self = user_data;
        static const gchar *const round_members[] = {"id", "op", NULL};
        g_autoptr(GError) error = NULL;

        if (g_strcmp0(op, "hello") == 0) {
                g_autoptr(JsonObject) hello = json_object_new();

                json_object_set_int_member(hello, "protocol", 1);
                json_object_set_string_member(hello, "agent", VTC_AGENT_NAME);
                json_object_set_string_member(hello, "uuid", self->uuid);
                json_object_set_string_member(hello,
                                              "ak_name",
                                              vtc_agent_tpm_get_ak_name(self->tpm));
                vtc_agent_chan_request_return(request, hello);
                return;
        }
        if (g_strcmp0(op, "round") == 0) {
                VtcChannelRound round = {0};

                if (!vtc_channel_round_from_json(body, round_members, &round, &error)) {
                        vtc_agent_chan_request_return_error(request, error);
                        return;
                }
                vtc_agent_round_run_async(self->round, &round, NULL, vtc_agent_round_done, request);
                return;
        }
        g_set_error(&error, VTC_ERROR, VTC_ERROR_NOT_SUPPORTED, "unknown op '%s'", op);
        vtc_agent_chan_request_return_error(request, error);
}

static gboolean
vtc_agent_chan_open(VtcAgent *self, GError **error)
{
        VtcConfig *c = self->config;
        VtcAgentChanOptions opts = {
            .socket_path = vtc_config_get_string(c, "channel", "path"),
            .port_name = vtc_config_get_string(c, "channel", "port"),
            .sysfs_dir = vtc_config_get_string(c, "channel", "sysfs_dir"),
            .dev_dir = vtc_config_get_string(c, "channel", "dev_dir"),
            .idle_ms = (guint)vtc_config_get_int(c, "channel", "idle_ms"),
            .port_fd = -1,
        };

        self->chan = vtc_agent_chan_new(&opts, vtc_agent_chan_handler, self, error);
        return self->chan != NULL;
}

static gboolean
vtc_agent_chan_retry_cb(gpointer user_data)
{
        VtcAgent *self = user_data;
        g_autoptr(GError) error = NULL;

        if (!vtc_agent_chan_open(self, &error))
                return G_SOURCE_CONTINUE;
        g_message("serving the channel on %s", vtc_agent_chan_get_path(self->chan));
        self->chan_retry = 0;
        return G_SOURCE_REMOVE;
}

/* ---- enrollment ---------------------------------------------------------------------------- */

static void vtc_agent_enroll_start(VtcAgent *self);

static gboolean
vtc_agent_enroll_timer_cb(gpointer user_data)
{
        VtcAgent *self = user_data;

        self->enroll_timer = 0;
        vtc_agent_enroll_start(self);
        return G_SOURCE_REMOVE;
}

static void
vtc_agent_enroll_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autofree VtcAgentEnrollCall *call = user_data;
        VtcAgent *self = call->agent;
        g_autoptr(GError) error = NULL;
        g_autofree gchar *host_id = NULL;
        guint retry_max;

        if (self == NULL)
                return;
        self->enroll_call = NULL;
        if (vtc_agent_enroll_finish(res, &host_id, &error)) {
                self->enrolled = TRUE;
                g_message("enrolled with the registrar at %s as %s (vTPM made by %s)",
                          vtc_config_get_string(self->config, "registrar", "url"),
                          self->uuid,
                          host_id != NULL ? host_id : "no host: a vendor-certified TPM");
                return;
        }
        retry_max = (guint)vtc_config_get_int(self->config, "registrar", "retry_max");
        /* an absent registrar is retried from 1 s up; a refusal may be cured later (the host
         * that made this vTPM enrolls after it), so it is retried too, at the longest wait */
        if (vtc_agent_enroll_error_is_transient(error))
                self->enroll_delay =
                    self->enroll_delay == 0 ? 1 : MIN(self->enroll_delay * 2, retry_max);
        else
                self->enroll_delay = retry_max;
        g_warning("enrollment failed, trying again in %u s: %s",
                  self->enroll_delay,
                  error->message);
        self->enroll_timer =
            g_timeout_add_seconds(self->enroll_delay, vtc_agent_enroll_timer_cb, self);
}

static void
vtc_agent_enroll_start(VtcAgent *self)
{
        VtcConfig *c = self->config;
        VtcAgentEnrollOptions opts = {
            .url = vtc_config_get_string(c, "registrar", "url"),
            .ca_path = vtc_config_get_string(c, "registrar", "ca"),
            .uuid = self->uuid,
            .tls_cert_pem = self->tls_cert_pem,
        };

        self->enroll_call = g_new0(VtcAgentEnrollCall, 1);
        self->enroll_call->agent = self;
        vtc_agent_enroll_async(self->tpm, &opts, NULL, vtc_agent_enroll_done, self->enroll_call);
}

/* ---- start-up ------------------------------------------------------------------------------ */

gchar *
vtc_agent_read_uuid(const gchar *configured, const gchar *uuid_file, GError **error)
{
        g_autofree gchar *uuid = NULL;

        if (configured != NULL && configured[0] != '\0') {
                uuid = g_strdup(configured);
        } else {
                g_autoptr(GBytes) data = vtc_file_read(uuid_file, 256, error);

                if (data == NULL) {
                        g_prefix_error(error, "the VM UUID ([agent] uuid is not set): ");
                        return NULL;
                }
                uuid = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
        }
        g_strstrip(uuid);
        if (!g_uuid_string_is_valid(uuid)) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "'%s' (from %s) is not a UUID",
                            uuid,
                            configured != NULL && configured[0] != '\0' ? "[agent] uuid"
                                                                        : uuid_file);
                return NULL;
        }
        return g_ascii_strdown(uuid, -1);
}

/*
 * The TLS key: configured; or in the state directory (a host's disk); or kept in the vTPM's NV,
 * which outlives a reboot of a guest whose state directory is in RAM, and copied to the state
 * directory for the HTTPS server; or made on first start.
 */
static gboolean
vtc_agent_tls_init(VtcAgent *self, gchar **out_cert, gchar **out_key, GError **error)
{
        VtcConfig *c = self->config;
        const gchar *state = vtc_config_get_string(c, "agent", "state_dir");
        const gchar *cert = vtc_config_get_string(c, "tls", "cert");
        const gchar *key = vtc_config_get_string(c, "tls", "key");
        TPM2_HANDLE nv_index = (TPM2_HANDLE)vtc_config_get_int(c, "tls", "nv_index");
        g_autofree gchar *cert_path = NULL;
        g_autofree gchar *key_path = NULL;
        g_autofree gchar *why = NULL;
        VtcAgentApiTlsSource source = VTC_AGENT_API_TLS_FILES;

        if ((cert[0] == '\0') != (key[0] == '\0')) {
                g_set_error_literal(error,
                                    VTC_ERROR,
                                    VTC_ERROR_INVALID_ARGUMENT,
                                    "[tls] cert and key are set together or not at all");
                return FALSE;
        }
        if (cert[0] != '\0') {
                *out_cert = g_strdup(cert);
                *out_key = g_strdup(key);
                return TRUE;
        }
        if (nv_index != 0 && (nv_index >> 24) != TPM2_HT_NV_INDEX) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_ARGUMENT,
                            "[tls] nv_index = %u (0x%08x) is neither 0 nor an NV index "
                            "(0x01000000-0x01ffffff)",
                            nv_index,
                            nv_index);
                return FALSE;
        }
        if (g_mkdir_with_parents(state, 0700) < 0) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_IO,
                            "creating the state directory %s: %s",
                            state,
                            g_strerror(errno));
                return FALSE;
        }
        cert_path = g_build_filename(state, "tls.crt", NULL);
        key_path = g_build_filename(state, "tls.key", NULL);
        if (!vtc_agent_api_tls_ensure_nv(self->tpm,
                                         nv_index,
                                         cert_path,
                                         key_path,
                                         self->uuid,
                                         &source,
                                         &why,
                                         error))
                return FALSE;
        switch (source) {
        case VTC_AGENT_API_TLS_FROM_NV:
                g_message("TLS key and certificate read from vTPM NV index 0x%08x", nv_index);
                break;
        case VTC_AGENT_API_TLS_MADE_NV:
                g_message("made a new TLS key; kept in vTPM NV index 0x%08x and %s",
                          nv_index,
                          state);
                break;
        case VTC_AGENT_API_TLS_REPLACED_NV:
                g_warning("%s; made a new TLS key and overwrote the index. While the registrar "
                          "holds the old TLS certificate for %s, verifiers fail this VM's quotes "
                          "(guest_nonce): delete its record there so that the agent enrolls the "
                          "new key",
                          why,
                          self->uuid);
                break;
        case VTC_AGENT_API_TLS_MADE:
                g_message("made a new TLS key in %s", state);
                break;
        case VTC_AGENT_API_TLS_FILES:
        default:
                break;
        }
        *out_cert = g_steal_pointer(&cert_path);
        *out_key = g_steal_pointer(&key_path);
        return TRUE;
}

VtcAgent *
vtc_agent_new(VtcConfig *config, GError **error)
{
        g_autoptr(VtcAgent) self = g_new0(VtcAgent, 1);
        VtcConfig *c = config;
        g_autofree gchar *cert = NULL;
        g_autofree gchar *key = NULL;
        guint8 tls_key_sha256[32];
        g_autoptr(GError) error_local = NULL;
        VtcAgentRoundOptions round_opts = {0};

        self->config = config;
        self->uuid = vtc_agent_read_uuid(vtc_config_get_string(c, "agent", "uuid"),
                                         vtc_config_get_string(c, "agent", "uuid_file"),
                                         error);
        if (self->uuid == NULL)
                return NULL;
        self->tpm =
            vtc_agent_tpm_new(vtc_config_get_string(c, "tpm", "tcti"),
                              (TPM2_HANDLE)vtc_config_get_int(c, "tpm", "ak_handle"),
                              g_strcmp0(vtc_config_get_string(c, "tpm", "ak_type"), "rsa") == 0
                                  ? VTC_TPM_KEY_RSA2048
                                  : VTC_TPM_KEY_ECC_P256,
                              error);
        if (self->tpm == NULL)
                return NULL;
        /* after the TPM: the TLS key may be kept in its NV */
        if (!vtc_agent_tls_init(self, &cert, &key, error))
                return NULL;
        if (!vtc_agent_api_tls_key_sha256(cert, tls_key_sha256, &self->tls_cert_pem, error))
                return NULL;
        round_opts.uuid = self->uuid;
        round_opts.ima_path = vtc_config_get_string(c, "logs", "ima");
        round_opts.boot_log_path = vtc_config_get_string(c, "logs", "boot");
        round_opts.ima_max_chunk = (gsize)vtc_config_get_int(c, "logs", "ima_chunk");
        round_opts.tls_key_sha256 = tls_key_sha256;
        self->round = vtc_agent_round_new(self->tpm, &round_opts);

        if (vtc_config_get_bool(c, "channel", "enabled") &&
            !vtc_agent_chan_open(self, &error_local)) {
                /* virtio_console may be loaded after us; a socket we cannot make is fatal */
                if (!g_error_matches(error_local, VTC_ERROR, VTC_ERROR_NOT_FOUND) ||
                    vtc_config_get_string(c, "channel", "path")[0] != '\0') {
                        g_propagate_prefixed_error(error,
                                                   g_steal_pointer(&error_local),
                                                   "the channel: ");
                        return NULL;
                }
                g_warning("%s; looking again every %u s",
                          error_local->message,
                          (guint)VTC_AGENT_PORT_RETRY_SECONDS);
                self->chan_retry = g_timeout_add_seconds(VTC_AGENT_PORT_RETRY_SECONDS,
                                                         vtc_agent_chan_retry_cb,
                                                         self);
        }
        if (vtc_config_get_bool(c, "api", "enabled")) {
                VtcAgentApiOptions api_opts = {
                    .cert_path = cert,
                    .key_path = key,
                    .client_ca_path = vtc_config_get_string(c, "api", "client_ca"),
                    .address = vtc_config_get_string(c, "api", "address"),
                    .port = (guint)vtc_config_get_int(c, "api", "port"),
                    .version = VTC_AGENT_NAME,
                };

                self->api = vtc_agent_api_new(&api_opts, self->round, error);
                if (self->api == NULL) {
                        g_prefix_error(error, "direct mode: ");
                        return NULL;
                }
        }
        if (vtc_config_get_string(c, "registrar", "url")[0] != '\0')
                vtc_agent_enroll_start(self);
        return g_steal_pointer(&self);
}

void
vtc_agent_free(VtcAgent *self)
{
        if (self == NULL)
                return;
        if (self->enroll_call != NULL)
                self->enroll_call->agent = NULL;
        if (self->enroll_timer != 0)
                g_source_remove(self->enroll_timer);
        if (self->chan_retry != 0)
                g_source_remove(self->chan_retry);
        vtc_agent_api_free(self->api);
        vtc_agent_chan_free(self->chan);
        vtc_agent_round_unref(self->round);
        vtc_agent_tpm_unref(self->tpm);
        g_free(self->tls_cert_pem);
        g_free(self->uuid);
        g_free(self);
}

const gchar *
vtc_agent_get_uuid(VtcAgent *self)
{
        return self->uuid;
}

guint
vtc_agent_get_api_port(VtcAgent *self)
{
        return self->api != NULL ? vtc_agent_api_get_port(self->api) : 0;
}

VtcAgentChan *
vtc_agent_get_chan(VtcAgent *self)
{
        return self->chan;
}

gboolean
vtc_agent_is_enrolled(VtcAgent *self)
{
        return self->enrolled;
}
