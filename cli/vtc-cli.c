/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the `vtc GROUP` subcommand groups. */
#include "vtc-cli.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include <libsoup/soup.h>

#include "vtc-config.h"
#include "vtc-error.h"
#include "vtc-http.h"
#include "vtc-json.h"
#include "vtc-util.h"

void
vtc_cli_print_error(const GError *error)
{
        g_printerr("vtc: %s\n", error != NULL ? error->message : "unknown error");
}

int
vtc_cli_dispatch(const gchar *prog,
                 int argc,
                 char **argv,
                 const VtcCliSubcommand *commands,
                 const gchar *usage)
{
        if (argc < 2) {
                fputs(usage, stderr);
                return VTC_EXIT_USAGE;
        }
        if (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0 ||
            g_strcmp0(argv[1], "help") == 0) {
                fputs(usage, stdout);
                return VTC_EXIT_OK;
        }
        for (const VtcCliSubcommand *c = commands; c->name != NULL; c++) {
                if (g_strcmp0(argv[1], c->name) == 0)
                        return c->func(argc - 1, argv + 1);
        }
        g_printerr("%s: unknown command '%s'\n\n", prog, argv[1]);
        fputs(usage, stderr);
        return VTC_EXIT_USAGE;
}

int
vtc_cli_dispatch_one(const gchar *prog,
                     int argc,
                     char **argv,
                     const gchar *name,
                     int (*func)(int argc, char **argv),
                     const gchar *summary)
{
        const VtcCliSubcommand commands[] = {
            {name, func, summary},
            {NULL, NULL, NULL},
        };
        g_autofree gchar *usage = g_strdup_printf("Usage: %s COMMAND [OPTIONS]\n"
                                                  "\n"
                                                  "Commands:\n"
                                                  "  %-8s %s\n"
                                                  "\n"
                                                  "Run `%s %s --help` for its options, exit status "
                                                  "and an example.\n",
                                                  prog,
                                                  name,
                                                  summary,
                                                  prog,
                                                  name);

        return vtc_cli_dispatch(prog, argc, argv, commands, usage);
}

gboolean
vtc_cli_parse_options(GOptionContext *ctx,
                      const gchar *prog,
                      gboolean one_file,
                      int *argc,
                      char ***argv)
{
        g_autoptr(GError) error = NULL;

        if (!g_option_context_parse(ctx, argc, argv, &error)) {
                g_printerr("%s: %s\n", prog, error->message);
                return FALSE;
        }
        if (one_file && *argc != 2) {
                g_printerr("%s: expected one FILE (see --help)\n", prog);
                return FALSE;
        }
        if (!one_file && *argc > 1) {
                g_printerr("%s: unexpected argument '%s'\n", prog, (*argv)[1]);
                return FALSE;
        }
        return TRUE;
}

gboolean
vtc_cli_parse_ima_format(const gchar *command, const gchar *str, VtcImaFormat *format)
{
        if (str == NULL || g_strcmp0(str, "auto") == 0)
                *format = VTC_IMA_FORMAT_AUTO;
        else if (g_strcmp0(str, "ascii") == 0)
                *format = VTC_IMA_FORMAT_ASCII;
        else if (g_strcmp0(str, "binary") == 0)
                *format = VTC_IMA_FORMAT_BINARY;
        else {
                g_printerr("%s: unknown --format '%s'\n", command, str);
                return FALSE;
        }
        return TRUE;
}

/* ---- the tenant commands' HTTPS client ----------------------------------------------------- */

/* The largest answer read from a server (a history page of 1,000 events with their revocation
 * events is well under a megabyte; a VM list page of 10,000 a few). */
#define VTC_CLI_MAX_ANSWER (64 * 1024 * 1024)

static const VtcConfigKey vtc_cli_client_schema[] = {
    {"verifier",
     "url",
     VTC_CONFIG_TYPE_STRING,
     "https://127.0.0.1:8890",
     0,
     0,
     NULL,
     "the verifier's base URL"},
    {"registrar",
     "url",
     VTC_CONFIG_TYPE_STRING,
     "https://127.0.0.1:8891",
     0,
     0,
     NULL,
     "the registrar's base URL"},
    {"tls",
     "ca",
     VTC_CONFIG_TYPE_PATH,
     "/etc/vtc/tls/ca.crt",
     0,
     0,
     NULL,
     "the deployment's CA, the only one trusted for the servers' certificates"},
    {"tls",
     "cert",
     VTC_CONFIG_TYPE_PATH,
     NULL,
     0,
     0,
     NULL,
     "the client certificate (vtc ca issue tenant)"},
    {"tls",
     "key",
     VTC_CONFIG_TYPE_PATH,
     NULL,
     0,
     0,
     NULL,
     "its key (default: the certificate's name with .key for .crt)"},
    {"client", "timeout", VTC_CONFIG_TYPE_INT, "30", 1, 3600, NULL, "seconds per request"},
    {NULL},
};

struct _VtcCliClient {
        VtcCliServer server;
        gchar *base_url;
        SoupSession *session;
};

static const gchar *
vtc_cli_server_name(VtcCliServer server)
{
        return server == VTC_CLI_SERVER_VERIFIER ? "verifier" : "registrar";
}

void
vtc_cli_client_options_clear(VtcCliClientOptions *opts)
{
        g_clear_pointer(&opts->url, g_free);
        g_clear_pointer(&opts->ca, g_free);
        g_clear_pointer(&opts->cert, g_free);
        g_clear_pointer(&opts->key, g_free);
        g_clear_pointer(&opts->config, g_free);
        g_clear_pointer(&opts->timeout, g_free);
}

void
vtc_cli_client_add_options(GOptionContext *ctx, VtcCliClientOptions *opts, VtcCliServer server)
{
        const GOptionEntry entries[] = {
            {server == VTC_CLI_SERVER_VERIFIER ? "verifier" : "registrar",
             0,
             0,
             G_OPTION_ARG_STRING,
             &opts->url,
             server == VTC_CLI_SERVER_VERIFIER
                 ? "the verifier's URL (env VTC_VERIFIER_URL; default https://127.0.0.1:8890)"
                 : "the registrar's URL (env VTC_REGISTRAR_URL; default https://127.0.0.1:8891)",
             "URL"},
            {"ca",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &opts->ca,
             "the deployment's CA certificate (env VTC_CA; default /etc/vtc/tls/ca.crt)",
             "FILE"},
            {"cert",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &opts->cert,
             "your client certificate, from `vtc ca issue` (env VTC_CERT)",
             "FILE"},
            {"key",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &opts->key,
             "its private key (env VTC_KEY; default: the --cert name with .key for .crt)",
             "FILE"},
            {"config",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &opts->config,
             "the client configuration file (env VTC_CLIENT_CONFIG; default "
             "~/.config/vtc/client.conf, else /etc/vtc/client.conf)",
             "FILE"},
            {"timeout",
             0,
             0,
             G_OPTION_ARG_STRING,
             &opts->timeout,
             "seconds to wait for each answer (env VTC_TIMEOUT; default 30)",
             "SECONDS"},
            {"json",
             0,
             0,
             G_OPTION_ARG_NONE,
             &opts->json,
             "print the server's JSON instead of a table, for scripts",
             NULL},
            {NULL}};

        g_option_context_add_main_entries(ctx, entries, NULL);
}

void
vtc_cli_client_free(VtcCliClient *self)
{
        if (self == NULL)
                return;
        g_free(self->base_url);
        g_clear_object(&self->session);
        g_free(self);
}

/* The first of @option, the environment variable @env and the configuration's value. */
static const gchar *
vtc_cli_setting(const gchar *option,
                const gchar *env,
                VtcConfig *config,
                const gchar *group,
                const gchar *key)
{
        const gchar *v = g_getenv(env);

        if (option != NULL)
                return option;
        if (v != NULL && v[0] != '\0')
                return v;
        return vtc_config_get_string(config, group, key);
}

/* The configuration file: --config, $VTC_CLIENT_CONFIG (both must exist), the user's, /etc. */
static VtcConfig *
vtc_cli_client_config_load(const gchar *option, GError **error)
{
        const gchar *env = g_getenv("VTC_CLIENT_CONFIG");
        const gchar *explicit_path =
            option != NULL ? option : (env != NULL && env[0] != '\0' ? env : NULL);
        g_autofree gchar *user =
            g_build_filename(g_get_user_config_dir(), "vtc", "client.conf", NULL);

        if (explicit_path != NULL) {
                if (!g_file_test(explicit_path, G_FILE_TEST_IS_REGULAR)) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_IO,
                                    "the client configuration %s does not exist",
                                    explicit_path);
                        return NULL;
                }
                return vtc_config_load(vtc_cli_client_schema, explicit_path, error);
        }
        if (g_file_test(user, G_FILE_TEST_EXISTS))
                return vtc_config_load(vtc_cli_client_schema, user, error);
        return vtc_config_load(vtc_cli_client_schema, "/etc/vtc/client.conf", error);
}

/* A readable regular file, or an error naming @what. */
static gboolean
vtc_cli_check_file(const gchar *path, const gchar *what, GError **error)
{
        g_autoptr(GBytes) data = vtc_file_read(path, 1024 * 1024, error);

        if (data == NULL) {
                g_prefix_error(error, "%s: ", what);
                return FALSE;
        }
        return TRUE;
}

/* The key in @key_path must be the one of the first certificate in @cert_path (PEM): a wrong
 * pair otherwise shows only as a reset TLS handshake. */
static gboolean
vtc_cli_check_key_pair(const gchar *cert_path, const gchar *key_path, GError **error)
{
        g_autoptr(BIO) cert_bio = BIO_new_file(cert_path, "r");
        g_autoptr(BIO) key_bio = BIO_new_file(key_path, "r");
        g_autoptr(X509) cert =
            cert_bio != NULL ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
        g_autoptr(EVP_PKEY) key =
            key_bio != NULL ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;

        if (cert == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the client certificate (--cert) %s is not a PEM certificate",
                            cert_path);
                return FALSE;
        }
        if (key == NULL) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the client key (--key) %s is not an unencrypted PEM private key",
                            key_path);
                return FALSE;
        }
        if (X509_check_private_key(cert, key) != 1) {
                g_set_error(error,
                            VTC_ERROR,
                            VTC_ERROR_INVALID_DATA,
                            "the client key (--key) %s is not the key of the certificate %s",
                            key_path,
                            cert_path);
                return FALSE;
        }
        return TRUE;
}

VtcCliClient *
vtc_cli_client_new(const VtcCliClientOptions *opts, VtcCliServer server, int *out_exit)
{
        const gchar *name = vtc_cli_server_name(server);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcConfig) config = NULL;
        g_autoptr(VtcCliClient) self = g_new0(VtcCliClient, 1);
        g_autofree gchar *key_default = NULL;
        g_autoptr(GUri) uri = NULL;
        const gchar *url;
        const gchar *ca;
        const gchar *cert;
        const gchar *key;
        const gchar *timeout_env = g_getenv("VTC_TIMEOUT");
        const gchar *timeout_s = NULL;
        gint64 timeout;

        config = vtc_cli_client_config_load(opts->config, &error);
        if (config == NULL) {
                vtc_cli_print_error(error);
                *out_exit = VTC_EXIT_ERROR;
                return NULL;
        }
        url = vtc_cli_setting(opts->url,
                              server == VTC_CLI_SERVER_VERIFIER ? "VTC_VERIFIER_URL"
                                                                : "VTC_REGISTRAR_URL",
                              config,
                              name,
                              "url");
        ca = vtc_cli_setting(opts->ca, "VTC_CA", config, "tls", "ca");
        cert = vtc_cli_setting(opts->cert, "VTC_CERT", config, "tls", "cert");
        key = vtc_cli_setting(opts->key, "VTC_KEY", config, "tls", "key");
        timeout = vtc_config_get_int(config, "client", "timeout");
        if (opts->timeout != NULL)
                timeout_s = opts->timeout;
        else if (timeout_env != NULL && timeout_env[0] != '\0')
                timeout_s = timeout_env;
        if (timeout_s != NULL) {
                gchar *end = NULL;

                timeout = g_ascii_strtoll(timeout_s, &end, 10);
                if (end == timeout_s || *end != '\0')
                        timeout = -1;
        }
        if (timeout < 1 || timeout > 3600) {
                g_printerr("vtc: the timeout must be 1 to 3600 seconds\n");
                *out_exit = VTC_EXIT_USAGE;
                return NULL;
        }

        uri = url != NULL ? g_uri_parse(url, G_URI_FLAGS_NONE, NULL) : NULL;
        if (uri == NULL || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 ||
            g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0' ||
            g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL) {
                g_printerr("vtc: the %s URL '%s' is not https://HOST[:PORT]\n",
                           name,
                           url != NULL ? url : "");
                *out_exit = VTC_EXIT_USAGE;
                return NULL;
        }
        if (cert == NULL || cert[0] == '\0') {
                g_printerr(
                    "vtc: no client certificate: give --cert FILE (or VTC_CERT, or [tls] cert "
                    "in the client configuration); `vtc ca issue` makes one\n");
                *out_exit = VTC_EXIT_USAGE;
                return NULL;
        }
        if (key == NULL || key[0] == '\0') {
                if (g_str_has_suffix(cert, ".crt"))
                        key = key_default =
                            g_strdup_printf("%.*s.key", (int)(strlen(cert) - 4), cert);
                else {
                        g_printerr(
                            "vtc: no key for %s: give --key FILE (or VTC_KEY, or [tls] key)\n",
                            cert);
                        *out_exit = VTC_EXIT_USAGE;
                        return NULL;
                }
        }
        if (ca == NULL || ca[0] == '\0') {
                g_printerr("vtc: no CA: give --ca FILE (or VTC_CA, or [tls] ca)\n");
                *out_exit = VTC_EXIT_USAGE;
                return NULL;
        }
        if (!vtc_cli_check_file(ca, "the CA (--ca)", &error) ||
            !vtc_cli_check_file(cert, "the client certificate (--cert)", &error) ||
            !vtc_cli_check_file(key, "the client key (--key)", &error) ||
            !vtc_cli_check_key_pair(cert, key, &error)) {
                vtc_cli_print_error(error);
                *out_exit = VTC_EXIT_ERROR;
                return NULL;
        }
        self->session = vtc_http_client_new(ca, cert, key, &error);
        if (self->session == NULL) {
                vtc_cli_print_error(error);
                *out_exit = VTC_EXIT_ERROR;
                return NULL;
        }
        soup_session_set_timeout(self->session, (guint)timeout);
        soup_session_set_idle_timeout(self->session, (guint)timeout);
        self->server = server;
        self->base_url = g_strdup(url);
        while (g_str_has_suffix(self->base_url, "/"))
                self->base_url[strlen(self->base_url) - 1] = '\0';
        return g_steal_pointer(&self);
}

/* The answer body, at most VTC_CLI_MAX_ANSWER bytes. */
static GBytes *
vtc_cli_read_answer(GInputStream *in, GError **error)
{
        g_autoptr(GByteArray) buf = g_byte_array_new();
        guint8 chunk[16384];

        for (;;) {
                gssize n = g_input_stream_read(in, chunk, sizeof(chunk), NULL, error);

                if (n < 0)
                        return NULL;
                if (n == 0)
                        break;
                if (buf->len + (gsize)n > VTC_CLI_MAX_ANSWER) {
                        g_set_error(error,
                                    VTC_ERROR,
                                    VTC_ERROR_TOO_LARGE,
                                    "the answer is over %u bytes",
                                    VTC_CLI_MAX_ANSWER);
                        return NULL;
                }
                g_byte_array_append(buf, chunk, (guint)n);
        }
        return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

JsonObject *
vtc_cli_client_call(VtcCliClient *self,
                    const gchar *method,
                    const gchar *path,
                    const gchar *body,
                    gchar **out_text,
                    guint *out_status,
                    int *out_exit)
{
        const gchar *name = vtc_cli_server_name(self->server);
        g_autofree gchar *url = g_strconcat(self->base_url, path, NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(GInputStream) in = NULL;
        g_autoptr(GBytes) answer = NULL;
        g_autoptr(JsonObject) obj = NULL;
        VtcJsonLimits limits = {VTC_CLI_MAX_ANSWER, 64, VTC_CLI_MAX_ANSWER, 1000000};
        const gchar *data;
        gsize len = 0;
        guint status;

        if (out_status != NULL)
                *out_status = 0;
        msg = vtc_http_client_message_new(self->session, method, url, body, &error);
        if (msg == NULL) {
                vtc_cli_print_error(error);
                *out_exit = VTC_EXIT_USAGE;
                return NULL;
        }
        in = soup_session_send(self->session, msg, NULL, &error);
        if (in == NULL) {
                const gchar *hint = "";

                if (error->domain == G_TLS_ERROR ||
                    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
                    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
                        hint = " (is --ca the deployment's CA, and --cert issued by it?)";
                g_printerr("vtc: cannot reach the %s at %s: %s%s\n",
                           name,
                           self->base_url,
                           error->message,
                           hint);
                *out_exit = VTC_EXIT_UNREACHABLE;
                return NULL;
        }
        answer = vtc_cli_read_answer(in, &error);
        if (answer == NULL) {
                g_printerr("vtc: reading the %s's answer to %s %s: %s\n",
                           name,
                           method,
                           path,
                           error->message);
                *out_exit = VTC_EXIT_UNREACHABLE;
                return NULL;
        }
        status = soup_message_get_status(msg);
        if (out_status != NULL)
                *out_status = status;
        data = g_bytes_get_data(answer, &len);
        obj = len > 0 ? vtc_json_parse_object(data, len, &limits, &error) : NULL;
        if (obj == NULL) {
                g_printerr("vtc: the %s answered %s %s with HTTP %u and no JSON object%s%s\n",
                           name,
                           method,
                           path,
                           status,
                           error != NULL ? ": " : "",
                           error != NULL ? error->message : "");
                *out_exit = VTC_EXIT_UNREACHABLE;
                return NULL;
        }
        if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
                const gchar *code = vtc_cli_json_string(obj, "error");
                const gchar *message = vtc_cli_json_string(obj, "message");
                g_autofree gchar *code_s = vtc_cli_sanitize(code != NULL ? code : "error");
                g_autofree gchar *message_s =
                    vtc_cli_sanitize(message != NULL ? message : soup_status_get_phrase(status));

                g_printerr("vtc: %s: %s: %s (HTTP %u)%s\n",
                           name,
                           code_s,
                           message_s,
                           status,
                           status == SOUP_STATUS_UNAUTHORIZED
                               ? "; is --cert a certificate of the deployment's CA?"
                               : "");
                *out_exit = VTC_EXIT_REFUSED;
                return NULL;
        }
        if (out_text != NULL)
                *out_text = g_strndup(data, len);
        return g_steal_pointer(&obj);
}

/* ---- output for people --------------------------------------------------------------------- */

struct _VtcCliTable {
        guint n_columns;
        GPtrArray *rows; /* of GStrv */
};

gchar *
vtc_cli_sanitize(const gchar *s)
{
        gchar *copy;

        if (s == NULL)
                return g_strdup("-");
        if (!g_utf8_validate(s, -1, NULL))
                copy = g_utf8_make_valid(s, -1);
        else
                copy = g_strdup(s);
        for (gchar *p = copy; *p != '\0'; p++) {
                if ((guchar)*p < 0x20 || *p == 0x7f)
                        *p = '?';
        }
        return copy;
}

VtcCliTable *
vtc_cli_table_new(guint n_columns, const gchar *const *header)
{
        VtcCliTable *self = g_new0(VtcCliTable, 1);

        self->n_columns = n_columns;
        self->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
        vtc_cli_table_add_row(self, header);
        return self;
}

void
vtc_cli_table_add_row(VtcCliTable *self, const gchar *const *cells)
{
        gchar **row = g_new0(gchar *, self->n_columns + 1);

        for (guint i = 0; i < self->n_columns; i++)
                row[i] =
                    vtc_cli_sanitize(cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : NULL);
        g_ptr_array_add(self->rows, row);
}

void
vtc_cli_table_print(VtcCliTable *self, FILE *out)
{
        g_autofree glong *width = g_new0(glong, self->n_columns);

        for (guint r = 0; r < self->rows->len; r++) {
                gchar **row = g_ptr_array_index(self->rows, r);

                for (guint c = 0; c < self->n_columns; c++)
                        width[c] = MAX(width[c], g_utf8_strlen(row[c], -1));
        }
        for (guint r = 0; r < self->rows->len; r++) {
                gchar **row = g_ptr_array_index(self->rows, r);
                g_autoptr(GString) line = g_string_new(NULL);

                for (guint c = 0; c < self->n_columns; c++) {
                        g_string_append(line, row[c]);
                        if (c + 1 < self->n_columns) {
                                for (glong pad = g_utf8_strlen(row[c], -1); pad < width[c] + 2;
                                     pad++)
                                        g_string_append_c(line, ' ');
                        }
                }
                fprintf(out, "%s\n", line->str);
        }
}

void
vtc_cli_table_free(VtcCliTable *self)
{
        if (self == NULL)
                return;
        g_ptr_array_unref(self->rows);
        g_free(self);
}

gchar *
vtc_cli_format_age(gint64 when, gint64 now)
{
        gint64 d = now - when;
        gboolean future = d < 0;
        gint64 a = future ? -d : d;
        g_autofree gchar *amount = NULL;

        if (when <= 0)
                return g_strdup("-");
        if (a < 120)
                amount = g_strdup_printf("%" G_GINT64_FORMAT "s", a);
        else if (a < 2 * 3600)
                amount = g_strdup_printf("%" G_GINT64_FORMAT "m", a / 60);
        else if (a < 2 * 86400)
                amount = g_strdup_printf("%" G_GINT64_FORMAT "h", a / 3600);
        else
                amount = g_strdup_printf("%" G_GINT64_FORMAT "d", a / 86400);
        return future ? g_strdup_printf("in %s", amount) : g_strdup_printf("%s ago", amount);
}

gchar *
vtc_cli_format_time(gint64 when)
{
        g_autoptr(GDateTime) dt = when > 0 ? g_date_time_new_from_unix_utc(when) : NULL;

        if (dt == NULL)
                return g_strdup("-");
        return g_date_time_format(dt, "%Y-%m-%d %H:%M:%SZ");
}

const gchar *
vtc_cli_json_string(JsonObject *obj, const gchar *member)
{
        JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(node);
}

gboolean
vtc_cli_json_int(JsonObject *obj, const gchar *member, gint64 *out)
{
        JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_INT64)
                return FALSE;
        *out = json_node_get_int(node);
        return TRUE;
}

JsonObject *
vtc_cli_json_object(JsonObject *obj, const gchar *member)
{
        JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
                return NULL;
        return json_node_get_object(node);
}
