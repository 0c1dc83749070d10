/* SPDX-License-Identifier: Apache-2.0 */
#include "vtc-verifier.h"

#include <string.h>

#include "vtc-error.h"
#include "vtc-http.h"

const VtcConfigKey vtc_verifier_config_schema[] = {
    {"server",
     "address",
     VTC_CONFIG_TYPE_STRING,
     "127.0.0.1",
     0,
     0,
     NULL,
     "IP address to listen on (0.0.0.0 or :: for all)"},
    {"server", "port", VTC_CONFIG_TYPE_INT, "8890", 0, 65535, NULL, "HTTPS port (0: any free)"},
    {"tls",
     "cert",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/verifier.crt",
     0,
     0,
     NULL,
     "the verifier's TLS certificate (vtc ca issue verifier); also its client certificate "
     "towards the registrar, hostd and https:// webhooks"},
    {"tls", "key", VTC_CONFIG_TYPE_PATH, "/etc/vtc/tls/verifier.key", 0, 0, NULL, "its key"},
    {"tls",
     "client_ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the deployment's CA: every API call needs a client certificate it issued"},
    {"tls",
     "ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the CA the registrar's, hostds' and webhooks' server certificates must chain to"},
    {"database",
     "path",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc/verifier.db",
     0,
     0,
     NULL,
     "the sqlite database (created, migrated in place, never deleted)"},
    {"state",
     "dir",
     VTC_CONFIG_TYPE_PATH,
     "/var/lib/vtc/verifier",
     0,
     0,
     NULL,
     "holds the revocation signing key (revocation.key, created at first start) and "
     "revocation.pub"},
    {"registrar",
     "url",
     VTC_CONFIG_TYPE_STRING,
     "https://127.0.0.1:8891",
     0,
     0,
     NULL,
     "the registrar (agents' AK, EK and TLS certificate, hosts' AK, which host made a vTPM)"},
    {"hostd",
     "url_template",
     VTC_CONFIG_TYPE_STRING,
     "https://{id}:8892",
     0,
     0,
     NULL,
     "a host's hostd URL, {id} replaced by the host id the registrar names (empty: only "
     "[hostd] hosts)"},
    {"hostd",
     "hosts",
     VTC_CONFIG_TYPE_STRING,
     "",
     0,
     0,
     NULL,
     "explicit hostd URLs as ID=URL, separated by commas or spaces; win over url_template"},
    {"rounds",
     "interval_ms",
     VTC_CONFIG_TYPE_INT,
     "2000",
     10,
     86400000,
     NULL,
     "time between two rounds of one VM"},
    {"rounds",
     "timeout_ms",
     VTC_CONFIG_TYPE_INT,
     "15000",
     100,
     600000,
     NULL,
     "how long one request (registrar, hostd, agent) may take before the VM is unreachable"},
    {"rounds",
     "backoff_max_ms",
     VTC_CONFIG_TYPE_INT,
     "60000",
     10,
     86400000,
     NULL,
     "the longest retry delay of an unreachable VM (doubling from interval_ms)"},
    {"rounds",
     "max_in_flight",
     VTC_CONFIG_TYPE_INT,
     "4096",
     1,
     1000000,
     NULL,
     "requests to all peers at once; later ones wait their turn, peers served in turn"},
    {"rounds",
     "max_conns_per_host",
     VTC_CONFIG_TYPE_INT,
     "4",
     1,
     65536,
     NULL,
     "requests (HTTPS connections, kept alive) to one hostd or the registrar at once; more "
     "wait in the verifier's own queue for that peer"},
    {"rounds",
     "batch_max",
     VTC_CONFIG_TYPE_INT,
     "64",
     1,
     64,
     NULL,
     "rounds through one hostd sent in one request (POST /v1/rounds; hostd quotes them "
     "together and the verifier checks that host quote once); VMs of one host are scheduled "
     "on a shared grid of interval_ms / 4 so that their rounds meet. 1: one POST /v1/round "
     "per VM, unaligned, for a hostd without /v1/rounds"},
    {"rounds",
     "max_answer",
     VTC_CONFIG_TYPE_INT,
     "67108864",
     65536,
     1073741824,
     NULL,
     "largest evidence answer in bytes"},
    {"rounds",
     "flush_ms",
     VTC_CONFIG_TYPE_INT,
     "1000",
     10,
     60000,
     NULL,
     "how often the VMs' state is written to the database (failures at once)"},
    {"webhooks",
     "urls",
     VTC_CONFIG_TYPE_STRING,
     "",
     0,
     0,
     NULL,
     "http:// or https:// URLs that get every revocation event, separated by commas or spaces"},
    {"webhooks",
     "retries",
     VTC_CONFIG_TYPE_INT,
     "5",
     1,
     100,
     NULL,
     "attempts per webhook and event"},
    {"webhooks",
     "retry_ms",
     VTC_CONFIG_TYPE_INT,
     "1000",
     1,
     3600000,
     NULL,
     "first delay between attempts, doubled each time"},
    {"webhooks", "timeout_ms", VTC_CONFIG_TYPE_INT, "5000", 1000, 600000, NULL, "one attempt"},
    {"limits",
     "max_body",
     VTC_CONFIG_TYPE_INT,
     "33554432",
     1024,
     268435456,
     NULL,
     "largest request body in bytes (runtime policies are big)"},
    {"limits",
     "max_json_depth",
     VTC_CONFIG_TYPE_INT,
     "32",
     2,
     64,
     NULL,
     "deepest nesting of a JSON request"},
    {"limits",
     "max_string",
     VTC_CONFIG_TYPE_INT,
     "33554432",
     256,
     268435456,
     NULL,
     "longest JSON string in bytes (a runtime policy sent as a string)"},
    {"limits",
     "max_items",
     VTC_CONFIG_TYPE_INT,
     "1000000",
     1,
     10000000,
     NULL,
     "most members of a JSON object or elements of an array"},
    {NULL}};

struct _VtcVerifier {
        VtcConfig *config;
        VtcVerifierStore *store;
        VtcVerifierWebhook *webhook;
        VtcVerifierRound *round;
        VtcVerifierApi *api;
        SoupServer *server;
};

void
vtc_verifier_free(VtcVerifier *self)
{
        if (self == NULL)
                return;
        g_clear_object(&self->server);
        vtc_verifier_api_free(self->api);
        vtc_verifier_round_free(self->round);
        vtc_verifier_webhook_free(self->webhook);
        vtc_verifier_store_free(self->store);
        g_free(self);
}

VtcVerifier *
vtc_verifier_new(VtcConfig *config, GError **error)
{
        g_autoptr(VtcVerifier) self = g_new0(VtcVerifier, 1);
        VtcConfig *c = config;
        g_auto(GStrv) urls = NULL;
        g_autoptr(GPtrArray) webhooks = g_ptr_array_new();
        VtcVerifierWebhookConfig wcfg = {0};
        VtcVerifierRoundConfig rcfg = {0};
        VtcJsonLimits limits;

        self->config = config;
        self->store = vtc_verifier_store_open(vtc_config_get_string(c, "database", "path"), error);
        if (self->store == NULL)
                return NULL;
        urls = g_strsplit_set(vtc_config_get_string(c, "webhooks", "urls"), ", \t\n", -1);
        for (guint i = 0; urls[i] != NULL; i++)
                if (urls[i][0] != '\0')
                        g_ptr_array_add(webhooks, urls[i]);
        g_ptr_array_add(webhooks, NULL);
        wcfg.state_dir = vtc_config_get_string(c, "state", "dir");
        wcfg.urls = (const gchar *const *)webhooks->pdata;
        wcfg.ca_file = vtc_config_get_string(c, "tls", "ca");
        wcfg.cert_file = vtc_config_get_string(c, "tls", "cert");
        wcfg.key_file = vtc_config_get_string(c, "tls", "key");
        wcfg.retries = (guint)vtc_config_get_int(c, "webhooks", "retries");
        wcfg.retry_ms = (guint)vtc_config_get_int(c, "webhooks", "retry_ms");
        wcfg.timeout_ms = (guint)vtc_config_get_int(c, "webhooks", "timeout_ms");
        self->webhook = vtc_verifier_webhook_new(&wcfg, error);
        if (self->webhook == NULL) {
                g_prefix_error(error, "[webhooks]: ");
                return NULL;
        }
        rcfg.registrar_url = vtc_config_get_string(c, "registrar", "url");
        rcfg.hostd_url_template = vtc_config_get_string(c, "hostd", "url_template");
        rcfg.hostd_hosts = vtc_config_get_string(c, "hostd", "hosts");
        rcfg.ca_file = vtc_config_get_string(c, "tls", "ca");
        rcfg.cert_file = vtc_config_get_string(c, "tls", "cert");
        rcfg.key_file = vtc_config_get_string(c, "tls", "key");
        rcfg.interval_ms = (guint)vtc_config_get_int(c, "rounds", "interval_ms");
        rcfg.timeout_ms = (guint)vtc_config_get_int(c, "rounds", "timeout_ms");
        rcfg.backoff_max_ms = (guint)vtc_config_get_int(c, "rounds", "backoff_max_ms");
        rcfg.flush_ms = (guint)vtc_config_get_int(c, "rounds", "flush_ms");
        rcfg.max_in_flight = (guint)vtc_config_get_int(c, "rounds", "max_in_flight");
        rcfg.max_conns_per_host = (guint)vtc_config_get_int(c, "rounds", "max_conns_per_host");
        rcfg.max_answer = (gsize)vtc_config_get_int(c, "rounds", "max_answer");
        rcfg.batch_max = (guint)vtc_config_get_int(c, "rounds", "batch_max");
        self->round = vtc_verifier_round_new(&rcfg, self->store, self->webhook, error);
        if (self->round == NULL)
                return NULL;
        limits.max_size = (gsize)vtc_config_get_int(c, "limits", "max_body");
        limits.max_depth = (guint)vtc_config_get_int(c, "limits", "max_json_depth");
        limits.max_string = (gsize)vtc_config_get_int(c, "limits", "max_string");
        limits.max_items = (guint)vtc_config_get_int(c, "limits", "max_items");
        self->api = vtc_verifier_api_new(self->store, self->round, self->webhook, &limits);
        return g_steal_pointer(&self);
}

VtcVerifierApi *
vtc_verifier_get_api(VtcVerifier *self)
{
        return self->api;
}

static void
vtc_verifier_http_cb(SoupServer *server,
                     SoupServerMessage *msg,
                     const char *path,
                     GHashTable *query,
                     gpointer user_data)
{
        VtcVerifier *self = user_data;
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) data = body != NULL ? soup_message_body_flatten(body) : NULL;
        gboolean authenticated = vtc_http_is_authenticated(msg);
        const gchar *type = NULL;
        gchar *reply = NULL;
        guint status;

        status = vtc_verifier_api_dispatch(self->api,
                                           soup_server_message_get_method(msg),
                                           path,
                                           query,
                                           data,
                                           authenticated,
                                           &type,
                                           &reply);
        if (status == 405)
                soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                             "Allow",
                                             g_str_has_prefix(path, "/v1/vms/") ? "GET, DELETE"
                                             : g_strcmp0(path, "/v1/vms") == 0  ? "GET, POST"
                                                                                : "GET");
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, reply, strlen(reply));
}

gboolean
vtc_verifier_listen(VtcVerifier *self, guint *out_port, GError **error)
{
        VtcConfig *c = self->config;

        self->server = vtc_http_server_new(vtc_config_get_string(c, "tls", "cert"),
                                           vtc_config_get_string(c, "tls", "key"),
                                           vtc_config_get_string(c, "tls", "client_ca"),
                                           (gsize)vtc_config_get_int(c, "limits", "max_body"),
                                           error);
        if (self->server == NULL)
                return FALSE;
        vtc_http_server_add_handler(self->server, "/v1", vtc_verifier_http_cb, self);
        vtc_http_server_add_handler(self->server, "/metrics", vtc_verifier_http_cb, self);
        return vtc_http_server_listen(self->server,
                                      vtc_config_get_string(c, "server", "address"),
                                      (guint)vtc_config_get_int(c, "server", "port"),
                                      out_port,
                                      error);
}
