/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc host: what the registrar knows about the hosts (doc/api/registrar.md): enrolled hosts,
 * whether their AK is activated and their vTPM CA key certified.
 */
#include <stdio.h>
#include <string.h>

#include <libsoup/soup.h>

#include "vtc-cli.h"
#include "vtc-error.h"
#include "vtc-json.h"

#define VTC_HOST_STATES_HELP                                                                     \
        "Host states (the registrar's):\n"                                                       \
        "  registered  the host sent its EK certificate and AK; its ActivateCredential proof\n"  \
        "              has not come yet\n"                                                       \
        "  active      the AK is proven to live with the EK; vTPMs the host makes are trusted\n" \
        "              once its vTPM CA key is certified (column VTPM CA: yes)\n"

/* The registrar's hosts: at most this many (its list is one page). */
#define VTC_HOST_MAX 100000

/* "/v1/hosts/<escaped id>" */
static gchar *
vtc_host_path(const gchar *id)
{
        g_autofree gchar *escaped = g_uri_escape_string(id, NULL, FALSE);

        return g_strconcat("/v1/hosts/", escaped, NULL);
}

static GOptionContext *
vtc_host_context(VtcCliClientOptions *conn,
                 const gchar *param,
                 const gchar *summary,
                 const gchar *description)
{
        GOptionContext *ctx = g_option_context_new(param);

        g_option_context_set_summary(ctx, summary);
        g_option_context_set_description(ctx, description);
        return ctx;
}

static gboolean
vtc_host_parse(GOptionContext *ctx,
               VtcCliClientOptions *conn,
               const gchar *name,
               guint n_args,
               int *argc,
               char ***argv)
{
        g_autoptr(GError) error = NULL;

        vtc_cli_client_add_options(ctx, conn, VTC_CLI_SERVER_REGISTRAR);
        g_set_prgname(name); /* "Usage: vtc host list [OPTION…]" */

        if (!g_option_context_parse(ctx, argc, argv, &error)) {
                g_printerr("%s: %s\n", name, error->message);
                return FALSE;
        }
        if ((guint)*argc != n_args + 1) {
                if (n_args == 1 && *argc < 2)
                        g_printerr("%s: expected a host ID (see --help)\n", name);
                else
                        g_printerr("%s: unexpected argument '%s' (see --help)\n",
                                   name,
                                   (*argv)[n_args + 1]);
                return FALSE;
        }
        return TRUE;
}

/* The short form of a TPM name in hex for tables: its first 16 digits. */
static gchar *
vtc_host_short_name(const gchar *name)
{
        if (name == NULL)
                return NULL;
        if (strlen(name) <= 16)
                return g_strdup(name);
        return g_strdup_printf("%.16s...", name);
}

static gboolean
vtc_host_has_vtpm_ca(JsonObject *host)
{
        const gchar *v = vtc_cli_json_string(host, "vtpm_ca_public");

        return v != NULL && v[0] != '\0';
}

/* ---- vtc host list ----------------------------------------------------------------------- */

static int
vtc_host_cmd_list(int argc, char **argv)
{
        const gchar *name = "vtc host list";
        g_auto(VtcCliClientOptions) conn = {0};
        g_autoptr(GOptionContext) ctx = vtc_host_context(
            &conn,
            "- every host the registrar knows",
            "Lists the hosts enrolled at the registrar with their details: state, whether their\n"
            "vTPM CA key is certified (only then are the vTPMs they make trusted), the name of\n"
            "their AK, and when they registered and were activated. One call for the list and\n"
            "one per host. With --json prints {\"hosts\": [...]}: each host's object as\n"
            "GET /v1/hosts/ID answers it (EK, EK certificate and AK in base64).",
            VTC_HOST_STATES_HELP
            "\n"
            "Examples:\n"
            "  vtc host list --registrar https://registrar.example:8891 --cert tenant.crt\n"
            "  vtc host list --json | jq -r '.hosts[] | select(.state == \"active\") | .id'\n"
            "\n" VTC_CLI_CLIENT_HELP "\n"
            "Exit status:\n" VTC_CLI_EXIT_HELP);
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonObject) answer = NULL;
        g_autoptr(JsonArray) details = json_array_new();
        JsonNode *hosts_node;
        JsonArray *hosts;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        int rc = VTC_EXIT_OK;

        if (!vtc_host_parse(ctx, &conn, name, 0, &argc, &argv))
                return VTC_EXIT_USAGE;
        client = vtc_cli_client_new(&conn, VTC_CLI_SERVER_REGISTRAR, &rc);
        if (client == NULL)
                return rc;
        answer = vtc_cli_client_call(client, "GET", "/v1/hosts", NULL, NULL, NULL, &rc);
        if (answer == NULL)
                return rc;
        hosts_node = json_object_get_member(answer, "hosts");
        if (hosts_node == NULL || !JSON_NODE_HOLDS_ARRAY(hosts_node)) {
                g_printerr("vtc: the registrar's answer has no \"hosts\" array\n");
                return VTC_EXIT_UNREACHABLE;
        }
        hosts = json_node_get_array(hosts_node);
        if (json_array_get_length(hosts) > VTC_HOST_MAX) {
                g_printerr("vtc: the registrar lists over %u hosts\n", VTC_HOST_MAX);
                return VTC_EXIT_UNREACHABLE;
        }
        for (guint i = 0; i < json_array_get_length(hosts); i++) {
                JsonNode *e = json_array_get_element(hosts, i);
                const gchar *id = JSON_NODE_HOLDS_OBJECT(e)
                                      ? vtc_cli_json_string(json_node_get_object(e), "id")
                                      : NULL;
                g_autofree gchar *path = NULL;
                g_autoptr(JsonObject) host = NULL;
                guint status = 0;

                if (id == NULL || id[0] == '\0') {
                        g_printerr("vtc: the registrar listed a host without an id\n");
                        return VTC_EXIT_UNREACHABLE;
                }
                path = vtc_host_path(id);
                host = vtc_cli_client_call(client, "GET", path, NULL, NULL, &status, &rc);
                if (host != NULL)
                        json_array_add_element(details,
                                               json_node_init_object(json_node_alloc(), host));
                else if (status == SOUP_STATUS_NOT_FOUND)
                        continue; /* deleted since the list */
                else
                        return rc;
        }
        if (conn.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autofree gchar *out = NULL;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "hosts");
                json_builder_add_value(b, json_node_init_array(json_node_alloc(), details));
                json_builder_end_object(b);
                out = vtc_json_builder_to_string(b);
                printf("%s\n", out);
                return VTC_EXIT_OK;
        }
        if (json_array_get_length(details) == 0) {
                printf("no hosts are enrolled\n");
                return VTC_EXIT_OK;
        }
        {
                static const gchar *const header[] =
                    {"HOST", "STATE", "VTPM CA", "AK NAME", "REGISTERED", "ACTIVATED"};
                g_autoptr(VtcCliTable) table = vtc_cli_table_new(6, header);

                for (guint i = 0; i < json_array_get_length(details); i++) {
                        JsonObject *h = json_array_get_object_element(details, i);
                        g_autofree gchar *ak =
                            vtc_host_short_name(vtc_cli_json_string(h, "ak_name"));
                        g_autofree gchar *created = NULL;
                        g_autofree gchar *activated = NULL;
                        gint64 t = 0;
                        const gchar *cells[6];

                        if (vtc_cli_json_int(h, "created", &t))
                                created = vtc_cli_format_age(t, now);
                        if (vtc_cli_json_int(h, "activated", &t))
                                activated = vtc_cli_format_age(t, now);
                        cells[0] = vtc_cli_json_string(h, "id");
                        cells[1] = vtc_cli_json_string(h, "state");
                        cells[2] = vtc_host_has_vtpm_ca(h) ? "yes" : "no";
                        cells[3] = ak;
                        cells[4] = created;
                        cells[5] = activated;
                        vtc_cli_table_add_row(table, cells);
                }
                vtc_cli_table_print(table, stdout);
        }
        return VTC_EXIT_OK;
}

/* ---- vtc host show ----------------------------------------------------------------------- */

static int
vtc_host_cmd_show(int argc, char **argv)
{
        const gchar *name = "vtc host show";
        g_auto(VtcCliClientOptions) conn = {0};
        g_autoptr(GOptionContext) ctx =
            vtc_host_context(&conn,
                             "ID - one host's enrollment",
                             "Prints what the registrar knows about the host ID.",
                             VTC_HOST_STATES_HELP "\n"
                                                  "Example:\n"
                                                  "  vtc host show host-17\n"
                                                  "\n" VTC_CLI_CLIENT_HELP "\n"
                                                  "Exit status:\n" VTC_CLI_EXIT_HELP
                                                  "  (an unknown host is exit 5 with not_found)\n");
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonObject) host = NULL;
        g_autofree gchar *path = NULL;
        g_autofree gchar *text = NULL;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        int rc = VTC_EXIT_OK;
        static const struct {
                const gchar *label;
                const gchar *member;
        } times[] = {{"Registered", "created"}, {"Activated", "activated"}};

        if (!vtc_host_parse(ctx, &conn, name, 1, &argc, &argv))
                return VTC_EXIT_USAGE;
        client = vtc_cli_client_new(&conn, VTC_CLI_SERVER_REGISTRAR, &rc);
        if (client == NULL)
                return rc;
        path = vtc_host_path(argv[1]);
        host = vtc_cli_client_call(client, "GET", path, NULL, &text, NULL, &rc);
        if (host == NULL)
                return rc;
        if (conn.json) {
                printf("%s\n", text);
                return VTC_EXIT_OK;
        }
        {
                g_autofree gchar *id = vtc_cli_sanitize(vtc_cli_json_string(host, "id"));
                g_autofree gchar *state = vtc_cli_sanitize(vtc_cli_json_string(host, "state"));
                g_autofree gchar *ak = vtc_cli_sanitize(vtc_cli_json_string(host, "ak_name"));

                printf("%-12s %s\n", "Host", id);
                printf("%-12s %s\n", "State", state);
                printf("%-12s %s\n", "AK name", ak);
                printf("%-12s %s\n",
                       "vTPM CA",
                       vtc_host_has_vtpm_ca(host) ? "certified" : "not certified");
        }
        for (guint i = 0; i < G_N_ELEMENTS(times); i++) {
                gint64 t = 0;
                g_autofree gchar *age = NULL;
                g_autofree gchar *abs = NULL;

                if (!vtc_cli_json_int(host, times[i].member, &t) || t <= 0) {
                        printf("%-12s -\n", times[i].label);
                        continue;
                }
                age = vtc_cli_format_age(t, now);
                abs = vtc_cli_format_time(t);
                printf("%-12s %s (%s)\n", times[i].label, age, abs);
        }
        return VTC_EXIT_OK;
}

/* ---- vtc host ---------------------------------------------------------------------------- */

static const VtcCliSubcommand vtc_host_commands[] = {
    {"list", vtc_host_cmd_list, "every host the registrar knows, with its details"},
    {"show", vtc_host_cmd_show, "one host's enrollment"},
    {NULL, NULL, NULL},
};

int
vtc_cmd_host(int argc, char **argv)
{
        g_autoptr(GString) usage = g_string_new(
            "Usage: vtc host COMMAND [OPTIONS]\n"
            "\n"
            "The hosts the registrar knows: each enrolled with its hardware TPM's EK certificate\n"
            "and AK, and certified the vTPM CA key that issues its guests' vTPM EK certificates.\n"
            "\n"
            "Commands:\n");

        for (const VtcCliSubcommand *cmd = vtc_host_commands; cmd->name != NULL; cmd++)
                g_string_append_printf(usage, "  %-8s %s\n", cmd->name, cmd->summary);
        g_string_append(usage,
                        "\n" VTC_HOST_STATES_HELP "\n"
                        "Every command takes --registrar URL, --ca FILE, --cert FILE, --key FILE,\n"
                        "--config FILE, --timeout SECONDS and --json.\n" VTC_CLI_CLIENT_HELP "\n"
                        "Exit status:\n" VTC_CLI_EXIT_HELP "\n"
                        "Run `vtc host COMMAND --help` for its options and examples.\n");
        return vtc_cli_dispatch("vtc host", argc, argv, vtc_host_commands, usage->str);
}
