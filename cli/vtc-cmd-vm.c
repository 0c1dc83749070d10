/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtc vm: the tenant's commands for the verifier (doc/api/verifier.md): watch a VM, see its
 * state, its history of verdicts, and stop watching it.
 */
#include <stdio.h>
#include <string.h>

#include <libsoup/soup.h>

#include "vtc-cli.h"
#include "vtc-error.h"
#include "vtc-json.h"
#include "vtc-util.h"

/* A policy file: at most the largest body a verifier can be configured to accept. */
#define VTC_VM_MAX_POLICY (256 * 1024 * 1024)

#define VTC_VM_WORKFLOW_HELP                                                                      \
        "Workflow:\n"                                                                             \
        "  1. Once per tenant, an admin of the deployment's CA issues your client certificate:\n" \
        "       vtc ca issue --dir /etc/vtc/tls tenant     # tenant.crt and tenant.key\n"         \
        "  2. Watch a VM (its agent enrolls at the registrar with the VM's UUID):\n"              \
        "       vtc vm add UUID --runtime-policy policy.json [--boot-policy boot.json]\n"         \
        "  3. See what the verifier says, every round (default every 2 s):\n"                     \
        "       vtc vm status UUID      vtc vm list      vtc vm history UUID\n"                   \
        "  4. Stop watching it (its history goes with it):\n"                                     \
        "       vtc vm rm UUID\n"

#define VTC_VM_STATES_HELP                                                                      \
        "States:\n"                                                                             \
        "  registered   added, no verdict yet (reason agent_not_enrolled: the registrar does\n" \
        "               not know the VM's agent yet)\n"                                         \
        "  trusted      the last round's evidence passed every check\n"                         \
        "  failed       a round's evidence failed a check; the reason names it (e.g.\n"         \
        "               ima_policy, guest_quote_signature, nonce_mismatch, merkle_proof,\n"     \
        "               host_quote_signature, vtpm_not_running, vtpm_cloned, reset_counter).\n" \
        "               Final: rounds stop and a signed revocation event is sent; to watch\n"   \
        "               the VM again, rm and add it\n"                                          \
        "  unreachable  the last round got no evidence, retried with backoff; never trusted\n"  \
        "               on old evidence. Reasons: registrar_unreachable, host_unknown,\n"       \
        "               hostd_unreachable, agent_unreachable, agent_error, hostd_error\n"       \
        "Placement: \"channel\" means the evidence came over the VM's private channel of the\n" \
        "host whose hardware TPM quote covers it (host mode); \"not proven\" in direct mode.\n"

typedef struct {
        const gchar *name; /* "vtc vm status" */
        VtcCliClientOptions conn;
} VtcVmCommon;

static void
vtc_vm_common_clear(VtcVmCommon *c)
{
        vtc_cli_client_options_clear(&c->conn);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcVmCommon, vtc_vm_common_clear)

/* Adds the connection options and parses; exactly @n_args arguments must be left (a UUID when
 * @n_args is 1). */
static gboolean
vtc_vm_parse(GOptionContext *ctx, VtcVmCommon *c, guint n_args, int *argc, char ***argv)
{
        g_autoptr(GError) error = NULL;
        const gchar *name = c->name;

        vtc_cli_client_add_options(ctx, &c->conn, VTC_CLI_SERVER_VERIFIER);
        g_set_prgname(name); /* "Usage: vtc vm add [OPTION…]" */

        if (!g_option_context_parse(ctx, argc, argv, &error)) {
                g_printerr("%s: %s\n", name, error->message);
                return FALSE;
        }
        if ((guint)*argc != n_args + 1) {
                if (n_args == 1 && *argc < 2)
                        g_printerr("%s: expected the VM's UUID (see --help)\n", name);
                else
                        g_printerr("%s: unexpected argument '%s' (see --help)\n",
                                   name,
                                   (*argv)[n_args + 1]);
                return FALSE;
        }
        if (n_args == 1 && !g_uuid_string_is_valid((*argv)[1])) {
                g_printerr("%s: '%s' is not a UUID\n", name, (*argv)[1]);
                return FALSE;
        }
        return TRUE;
}

static VtcCliClient *
vtc_vm_client(VtcVmCommon *c, int *out_exit)
{
        return vtc_cli_client_new(&c->conn, VTC_CLI_SERVER_VERIFIER, out_exit);
}

/* "/v1/vms/<uuid>" with the UUID in lower case (validated: only hex digits and dashes). */
static gchar *
vtc_vm_path(const gchar *uuid, const gchar *suffix)
{
        g_autofree gchar *lower = g_ascii_strdown(uuid, -1);

        return g_strconcat("/v1/vms/", lower, suffix, NULL);
}

static GOptionContext *
vtc_vm_context(VtcVmCommon *c, const gchar *param, const gchar *summary, const gchar *description)
{
        GOptionContext *ctx = g_option_context_new(param);

        g_option_context_set_summary(ctx, summary);
        g_option_context_set_description(ctx, description);
        return ctx;
}

/* ---- vtc vm add -------------------------------------------------------------------------- */

/* Reads a policy file as a JSON object for the request. */
static JsonNode *
vtc_vm_read_policy(const gchar *path, const gchar *what, GError **error)
{
        VtcJsonLimits limits = {VTC_VM_MAX_POLICY, 64, VTC_VM_MAX_POLICY, 10000000};
        g_autoptr(GBytes) data = vtc_file_read(path, VTC_VM_MAX_POLICY, error);
        g_autoptr(JsonObject) obj = NULL;
        gsize len = 0;
        const gchar *text;

        if (data == NULL) {
                g_prefix_error(error, "the %s: ", what);
                return NULL;
        }
        text = g_bytes_get_data(data, &len);
        obj = vtc_json_parse_object(text, len, &limits, error);
        if (obj == NULL) {
                g_prefix_error(error, "the %s %s: ", what, path);
                return NULL;
        }
        return json_node_init_object(json_node_alloc(), obj);
}

static int
vtc_vm_cmd_add(int argc, char **argv)
{
        g_auto(VtcVmCommon) c = {"vtc vm add"};
        g_autofree gchar *runtime = NULL;
        g_autofree gchar *boot = NULL;
        g_autofree gchar *host = NULL;
        g_autofree gchar *mode = NULL;
        g_autofree gchar *agent_url = NULL;
        GOptionEntry entries[] = {
            {"runtime-policy",
             'r',
             0,
             G_OPTION_ARG_FILENAME,
             &runtime,
             "Keylime runtime policy JSON (keylime-policy create runtime); required",
             "FILE"},
            {"boot-policy",
             'b',
             0,
             G_OPTION_ARG_FILENAME,
             &boot,
             "boot policy for the guest's PCRs 0-9 and boot log, e.g. "
             "{\"pcrs\": {\"sha256\": {\"0\": \"<hex>\"}}}",
             "FILE"},
            {"host-policy",
             0,
             0,
             G_OPTION_ARG_FILENAME,
             &host,
             "the same for the host's PCRs and logs",
             "FILE"},
            {"mode",
             'm',
             0,
             G_OPTION_ARG_STRING,
             &mode,
             "host (default: through the VM's host, proves placement) or direct",
             "host|direct"},
            {"agent-url",
             0,
             0,
             G_OPTION_ARG_STRING,
             &agent_url,
             "https://HOST:PORT of the agent; required with --mode direct, refused otherwise",
             "URL"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = vtc_vm_context(
            &c,
            "UUID --runtime-policy FILE - watch a VM",
            "Asks the verifier to watch the VM UUID: every round it checks the chain from the\n"
            "guest's IMA log (against the runtime policy) and boot log (against the boot policy)\n"
            "down to the host's hardware TPM (against the host policy). Without a boot or host\n"
            "policy the logs are still replayed against the quoted PCRs, only not compared with\n"
            "expected values. The VM starts `registered`; the first round runs within one\n"
            "interval. A VM that is watched already is refused (exit 5): rm it first to change\n"
            "its policies.",
            VTC_VM_WORKFLOW_HELP
            "\n"
            "Examples:\n"
            "  vtc vm add 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f --runtime-policy policy.json \\\n"
            "      --boot-policy boot.json --cert tenant.crt --ca ca.crt \\\n"
            "      --verifier https://verifier.example:8890\n"
            "  vtc vm add UUID -r policy.json --mode direct --agent-url https://10.0.0.9:8893\n"
            "\n" VTC_CLI_CLIENT_HELP "\n"
            "Exit status:\n" VTC_CLI_EXIT_HELP);
        g_autoptr(GError) error = NULL;
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) answer = NULL;
        g_autofree gchar *body = NULL;
        g_autofree gchar *text = NULL;
        g_autofree gchar *uuid = NULL;
        static const struct {
                const gchar *member;
                const gchar *what;
        } policies[] = {
            {"runtime_policy", "runtime policy"},
            {"boot_policy", "boot policy"},
            {"host_policy", "host policy"},
        };
        int rc = VTC_EXIT_OK;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!vtc_vm_parse(ctx, &c, 1, &argc, &argv))
                return VTC_EXIT_USAGE;
        uuid = g_ascii_strdown(argv[1], -1);
        if (runtime == NULL) {
                g_printerr("%s: --runtime-policy FILE is required (see --help)\n", c.name);
                return VTC_EXIT_USAGE;
        }
        if (mode != NULL && g_strcmp0(mode, "host") != 0 && g_strcmp0(mode, "direct") != 0) {
                g_printerr("%s: --mode must be host or direct, not '%s'\n", c.name, mode);
                return VTC_EXIT_USAGE;
        }
        if (g_strcmp0(mode, "direct") == 0 && agent_url == NULL) {
                g_printerr("%s: --mode direct needs --agent-url https://HOST:PORT\n", c.name);
                return VTC_EXIT_USAGE;
        }
        if (g_strcmp0(mode, "direct") != 0 && agent_url != NULL) {
                g_printerr("%s: --agent-url is for --mode direct only\n", c.name);
                return VTC_EXIT_USAGE;
        }
        if (agent_url != NULL && !g_str_has_prefix(agent_url, "https://")) {
                g_printerr("%s: --agent-url must be https://HOST:PORT, not '%s'\n",
                           c.name,
                           agent_url);
                return VTC_EXIT_USAGE;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, uuid);
        for (guint i = 0; i < G_N_ELEMENTS(policies); i++) {
                const gchar *paths[] = {runtime, boot, host};
                JsonNode *node;

                if (paths[i] == NULL)
                        continue;
                node = vtc_vm_read_policy(paths[i], policies[i].what, &error);
                if (node == NULL) {
                        vtc_cli_print_error(error);
                        return VTC_EXIT_ERROR;
                }
                json_builder_set_member_name(b, policies[i].member);
                json_builder_add_value(b, node);
        }
        if (mode != NULL) {
                json_builder_set_member_name(b, "mode");
                json_builder_add_string_value(b, mode);
        }
        if (agent_url != NULL) {
                json_builder_set_member_name(b, "agent_url");
                json_builder_add_string_value(b, agent_url);
        }
        json_builder_end_object(b);
        body = vtc_json_builder_to_string(b);

        client = vtc_vm_client(&c, &rc);
        if (client == NULL)
                return rc;
        answer = vtc_cli_client_call(client, "POST", "/v1/vms", body, &text, NULL, &rc);
        if (answer == NULL)
                return rc;
        if (c.conn.json) {
                printf("%s\n", text);
        } else {
                g_autofree gchar *state = vtc_cli_sanitize(vtc_cli_json_string(answer, "state"));
                printf("watching %s: %s\n", uuid, state);
                printf("the first round runs within one interval; see `vtc vm status %s`\n", uuid);
        }
        return VTC_EXIT_OK;
}

/* ---- vtc vm rm --------------------------------------------------------------------------- */

static int
vtc_vm_cmd_rm(int argc, char **argv)
{
        g_auto(VtcVmCommon) c = {"vtc vm rm"};
        g_autoptr(GOptionContext) ctx = vtc_vm_context(
            &c,
            "UUID - stop watching a VM",
            "Asks the verifier to stop watching the VM UUID. Its history is deleted with it; a\n"
            "round in flight is abandoned.",
            "Example:\n"
            "  vtc vm rm 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f\n"
            "\n" VTC_CLI_CLIENT_HELP "\n"
            "Exit status:\n" VTC_CLI_EXIT_HELP "  (an unknown VM is exit 5 with not_found)\n");
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonObject) answer = NULL;
        g_autofree gchar *path = NULL;
        g_autofree gchar *text = NULL;
        int rc = VTC_EXIT_OK;

        if (!vtc_vm_parse(ctx, &c, 1, &argc, &argv))
                return VTC_EXIT_USAGE;
        client = vtc_vm_client(&c, &rc);
        if (client == NULL)
                return rc;
        path = vtc_vm_path(argv[1], "");
        answer = vtc_cli_client_call(client, "DELETE", path, NULL, &text, NULL, &rc);
        if (answer == NULL)
                return rc;
        if (c.conn.json) {
                printf("%s\n", text);
        } else {
                g_autofree gchar *uuid = vtc_cli_sanitize(vtc_cli_json_string(answer, "deleted"));
                printf("deleted %s\n", uuid);
        }
        return VTC_EXIT_OK;
}

/* ---- vtc vm status ----------------------------------------------------------------------- */

static void
vtc_vm_print_field(const gchar *label, const gchar *value)
{
        g_autofree gchar *v = vtc_cli_sanitize(value != NULL && value[0] != '\0' ? value : NULL);

        printf("%-14s %s\n", label, v);
}

/* "12s ago (2026-01-02 03:04:05Z)" for a time member, "-" when absent. */
static gchar *
vtc_vm_time_field(JsonObject *obj, const gchar *member, gint64 now)
{
        gint64 t = 0;
        g_autofree gchar *age = NULL;
        g_autofree gchar *abs = NULL;

        if (!vtc_cli_json_int(obj, member, &t) || t <= 0)
                return g_strdup("-");
        age = vtc_cli_format_age(t, now);
        abs = vtc_cli_format_time(t);
        return g_strdup_printf("%s (%s)", age, abs);
}

static int
vtc_vm_cmd_status(int argc, char **argv)
{
        g_auto(VtcVmCommon) c = {"vtc vm status"};
        g_autoptr(GOptionContext) ctx = vtc_vm_context(
            &c,
            "UUID - one VM's state and last verdict",
            "Prints what the verifier says about the VM UUID: its state and why, the last verdict\n"
            "and how old it is, how the evidence was placed, round counters and the next round.",
            VTC_VM_STATES_HELP "\n"
                               "Example:\n"
                               "  vtc vm status 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f\n"
                               "  vtc vm status --json UUID | jq -r .state\n"
                               "\n" VTC_CLI_CLIENT_HELP "\n"
                               "Exit status:\n"
                               "  0  the VM is registered, trusted or unreachable\n"
                               "  1  the VM is failed\n" VTC_CLI_EXIT_HELP_ERRORS);
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonObject) vm = NULL;
        g_autofree gchar *path = NULL;
        g_autofree gchar *text = NULL;
        JsonObject *last;
        JsonObject *counters;
        const gchar *state;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        gint64 v = 0;
        int rc = VTC_EXIT_OK;

        if (!vtc_vm_parse(ctx, &c, 1, &argc, &argv))
                return VTC_EXIT_USAGE;
        client = vtc_vm_client(&c, &rc);
        if (client == NULL)
                return rc;
        path = vtc_vm_path(argv[1], "");
        vm = vtc_cli_client_call(client, "GET", path, NULL, &text, NULL, &rc);
        if (vm == NULL)
                return rc;
        state = vtc_cli_json_string(vm, "state");
        if (state == NULL) {
                g_printerr("vtc: the verifier's answer has no state\n");
                return VTC_EXIT_UNREACHABLE;
        }
        if (c.conn.json) {
                printf("%s\n", text);
                return g_strcmp0(state, "failed") == 0 ? VTC_EXIT_INVALID : VTC_EXIT_OK;
        }
        last = vtc_cli_json_object(vm, "last_verdict");
        counters = vtc_cli_json_object(vm, "counters");
        vtc_vm_print_field("VM", vtc_cli_json_string(vm, "uuid"));
        vtc_vm_print_field("State", state);
        vtc_vm_print_field("Reason", vtc_cli_json_string(vm, "reason"));
        vtc_vm_print_field("Message", vtc_cli_json_string(vm, "message"));
        {
                const gchar *mode = vtc_cli_json_string(vm, "mode");
                const gchar *agent = vtc_cli_json_string(vm, "agent_url");
                g_autofree gchar *m =
                    agent != NULL ? g_strdup_printf("%s (agent %s)", mode, agent) : g_strdup(mode);
                vtc_vm_print_field("Mode", m);
        }
        vtc_vm_print_field("Host", vtc_cli_json_string(vm, "host_id"));
        vtc_vm_print_field("Placement", vtc_cli_json_string(vm, "placement"));
        if (last != NULL) {
                g_autofree gchar *when = vtc_vm_time_field(last, "time", now);
                const gchar *reason = vtc_cli_json_string(last, "reason");
                g_autofree gchar *verdict =
                    g_strdup_printf("%s%s%s, %s",
                                    vtc_cli_json_string(last, "result") != NULL
                                        ? vtc_cli_json_string(last, "result")
                                        : "?",
                                    reason != NULL ? " " : "",
                                    reason != NULL ? reason : "",
                                    when);
                vtc_vm_print_field("Last verdict", verdict);
        } else {
                vtc_vm_print_field("Last verdict", "none yet");
        }
        if (counters != NULL) {
                gint64 rounds = 0, passes = 0, failures = 0, unreachable = 0;
                g_autofree gchar *s = NULL;

                vtc_cli_json_int(counters, "rounds", &rounds);
                vtc_cli_json_int(counters, "passes", &passes);
                vtc_cli_json_int(counters, "failures", &failures);
                vtc_cli_json_int(counters, "unreachable", &unreachable);
                s = g_strdup_printf("%" G_GINT64_FORMAT " (%" G_GINT64_FORMAT
                                    " passed, %" G_GINT64_FORMAT " failed, %" G_GINT64_FORMAT
                                    " without evidence)",
                                    rounds,
                                    passes,
                                    failures,
                                    unreachable);
                vtc_vm_print_field("Rounds", s);
        }
        {
                g_autofree gchar *s = vtc_vm_time_field(vm, "last_success", now);
                vtc_vm_print_field("Last success", s);
        }
        {
                g_autofree gchar *s = vtc_vm_time_field(vm, "last_attempt", now);
                vtc_vm_print_field("Last attempt", s);
        }
        if (vtc_cli_json_int(vm, "next_round", &v) && v > 0) {
                g_autofree gchar *s = vtc_cli_format_age(v, now);
                gint64 backoff = 0;
                g_autofree gchar *full = NULL;

                if (vtc_cli_json_int(vm, "backoff_ms", &backoff) && backoff > 0)
                        full =
                            g_strdup_printf("%s (backing off %" G_GINT64_FORMAT " ms)", s, backoff);
                vtc_vm_print_field("Next round", full != NULL ? full : s);
        } else {
                vtc_vm_print_field("Next round",
                                   g_strcmp0(state, "failed") == 0 ? "none (failed is final)"
                                                                   : NULL);
        }
        {
                JsonNode *bp = json_object_get_member(vm, "has_boot_policy");
                JsonNode *hp = json_object_get_member(vm, "has_host_policy");
                gboolean has_boot = bp != NULL && JSON_NODE_HOLDS_VALUE(bp) &&
                                    json_node_get_value_type(bp) == G_TYPE_BOOLEAN &&
                                    json_node_get_boolean(bp);
                gboolean has_host = hp != NULL && JSON_NODE_HOLDS_VALUE(hp) &&
                                    json_node_get_value_type(hp) == G_TYPE_BOOLEAN &&
                                    json_node_get_boolean(hp);
                g_autofree gchar *s = g_strdup_printf("runtime%s%s",
                                                      has_boot ? ", boot" : "",
                                                      has_host ? ", host" : "");
                vtc_vm_print_field("Policies", s);
        }
        if (vtc_cli_json_int(vm, "ima_offset", &v)) {
                g_autofree gchar *s = g_strdup_printf("%" G_GINT64_FORMAT, v);
                vtc_vm_print_field("IMA offset", s);
        }
        {
                g_autofree gchar *s = vtc_vm_time_field(vm, "created", now);
                vtc_vm_print_field("Added", s);
        }
        {
                g_autofree gchar *s = vtc_vm_time_field(vm, "updated", now);
                vtc_vm_print_field("State since", s);
        }
        return g_strcmp0(state, "failed") == 0 ? VTC_EXIT_INVALID : VTC_EXIT_OK;
}

/* ---- vtc vm list ------------------------------------------------------------------------- */

/* At most this many pages of 1,000 (10 million VMs): a server whose `next` never ends. */
#define VTC_VM_MAX_PAGES 10000

static int
vtc_vm_cmd_list(int argc, char **argv)
{
        g_auto(VtcVmCommon) c = {"vtc vm list"};
        g_autofree gchar *state = NULL;
        gboolean is_long = FALSE;
        GOptionEntry entries[] = {
            {"state",
             's',
             0,
             G_OPTION_ARG_STRING,
             &state,
             "only VMs in this state (registered, trusted, failed, unreachable)",
             "STATE"},
            {"long",
             'l',
             0,
             G_OPTION_ARG_NONE,
             &is_long,
             "also the last verdict's age and the placement (one more call per VM)",
             NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = vtc_vm_context(
            &c,
            "- every watched VM",
            "Lists the VMs the verifier watches, in UUID order: state, reason, mode, host and\n"
            "when the state last changed; with --long also the last verdict (result and age)\n"
            "and the placement. With --json prints {\"vms\": [...]}: the entries of every page\n"
            "of GET /v1/vms joined (with --long, each VM's full status object instead).",
            VTC_VM_STATES_HELP "\n"
                               "Examples:\n"
                               "  vtc vm list\n"
                               "  vtc vm list --state failed --json | jq -r '.vms[].uuid'\n"
                               "\n" VTC_CLI_CLIENT_HELP "\n"
                               "Exit status:\n" VTC_CLI_EXIT_HELP);
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonArray) all = json_array_new();
        g_autofree gchar *after = NULL;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        int rc = VTC_EXIT_OK;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!vtc_vm_parse(ctx, &c, 0, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (state != NULL && g_strcmp0(state, "registered") != 0 &&
            g_strcmp0(state, "trusted") != 0 && g_strcmp0(state, "failed") != 0 &&
            g_strcmp0(state, "unreachable") != 0) {
                g_printerr("%s: --state must be registered, trusted, failed or unreachable\n",
                           c.name);
                return VTC_EXIT_USAGE;
        }
        client = vtc_vm_client(&c, &rc);
        if (client == NULL)
                return rc;
        for (guint page = 0;; page++) {
                g_autoptr(GString) path = g_string_new("/v1/vms?limit=1000");
                g_autoptr(JsonObject) answer = NULL;
                JsonNode *vms_node;
                JsonArray *vms;
                const gchar *next;

                if (page == VTC_VM_MAX_PAGES) {
                        g_printerr("vtc: the verifier's list does not end\n");
                        return VTC_EXIT_UNREACHABLE;
                }
                if (state != NULL)
                        g_string_append_printf(path, "&state=%s", state);
                if (after != NULL)
                        g_string_append_printf(path, "&after=%s", after);
                answer = vtc_cli_client_call(client, "GET", path->str, NULL, NULL, NULL, &rc);
                if (answer == NULL)
                        return rc;
                vms_node = json_object_get_member(answer, "vms");
                if (vms_node == NULL || !JSON_NODE_HOLDS_ARRAY(vms_node)) {
                        g_printerr("vtc: the verifier's answer has no \"vms\" array\n");
                        return VTC_EXIT_UNREACHABLE;
                }
                vms = json_node_get_array(vms_node);
                for (guint i = 0; i < json_array_get_length(vms); i++) {
                        JsonNode *e = json_array_get_element(vms, i);
                        if (!JSON_NODE_HOLDS_OBJECT(e)) {
                                g_printerr("vtc: the verifier's \"vms\" holds a non-object\n");
                                return VTC_EXIT_UNREACHABLE;
                        }
                        json_array_add_element(all, json_node_copy(e));
                }
                next = vtc_cli_json_string(answer, "next");
                if (next == NULL)
                        break;
                /* pages go up in UUID order: a `next` that does not is a broken server */
                if (!g_uuid_string_is_valid(next) ||
                    (after != NULL && g_ascii_strcasecmp(next, after) <= 0)) {
                        g_printerr("vtc: the verifier's list has a bad \"next\"\n");
                        return VTC_EXIT_UNREACHABLE;
                }
                g_free(after);
                after = g_ascii_strdown(next, -1);
        }
        if (is_long) {
                /* each VM's full status in place of its list entry */
                g_autoptr(JsonArray) full_list = json_array_new();

                for (guint i = 0; i < json_array_get_length(all); i++) {
                        JsonNode *e = json_array_get_element(all, i);
                        const gchar *uuid = vtc_cli_json_string(json_node_get_object(e), "uuid");
                        g_autofree gchar *path = NULL;
                        g_autoptr(JsonObject) full = NULL;
                        guint status = 0;

                        if (uuid == NULL || !g_uuid_string_is_valid(uuid)) {
                                g_printerr("vtc: the verifier listed a VM without a UUID\n");
                                return VTC_EXIT_UNREACHABLE;
                        }
                        path = vtc_vm_path(uuid, "");
                        full = vtc_cli_client_call(client, "GET", path, NULL, NULL, &status, &rc);
                        if (full != NULL)
                                json_array_add_element(
                                    full_list,
                                    json_node_init_object(json_node_alloc(), full));
                        else if (status == SOUP_STATUS_NOT_FOUND)
                                json_array_add_element(full_list,
                                                       json_node_copy(e)); /* deleted meanwhile */
                        else
                                return rc;
                }
                g_clear_pointer(&all, json_array_unref);
                all = g_steal_pointer(&full_list);
        }
        if (c.conn.json) {
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonNode) arr = json_node_init_array(json_node_alloc(), all);
                g_autofree gchar *out = NULL;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "vms");
                json_builder_add_value(b, g_steal_pointer(&arr));
                json_builder_end_object(b);
                out = vtc_json_builder_to_string(b);
                printf("%s\n", out);
                return VTC_EXIT_OK;
        }
        if (json_array_get_length(all) == 0) {
                printf(state != NULL ? "no VMs are %s\n" : "no VMs are watched\n", state);
                return VTC_EXIT_OK;
        }
        {
                static const gchar *const header[] = {"UUID",
                                                      "STATE",
                                                      "REASON",
                                                      "MODE",
                                                      "HOST",
                                                      "SINCE",
                                                      "LAST VERDICT",
                                                      "PLACEMENT"};
                g_autoptr(VtcCliTable) table =
                    vtc_cli_table_new(is_long ? 8 : 6, (const gchar *const *)header);

                for (guint i = 0; i < json_array_get_length(all); i++) {
                        JsonObject *e = json_array_get_object_element(all, i);
                        JsonObject *last = vtc_cli_json_object(e, "last_verdict");
                        gint64 t = 0;
                        g_autofree gchar *since = NULL;
                        g_autofree gchar *verdict = NULL;
                        const gchar *cells[8];

                        since =
                            vtc_cli_json_int(e, "updated", &t) ? vtc_cli_format_age(t, now) : NULL;
                        if (last != NULL && vtc_cli_json_int(last, "time", &t)) {
                                g_autofree gchar *age = vtc_cli_format_age(t, now);
                                verdict = g_strdup_printf("%s %s",
                                                          vtc_cli_json_string(last, "result"),
                                                          age);
                        }
                        cells[0] = vtc_cli_json_string(e, "uuid");
                        cells[1] = vtc_cli_json_string(e, "state");
                        cells[2] = vtc_cli_json_string(e, "reason");
                        cells[3] = vtc_cli_json_string(e, "mode");
                        cells[4] = vtc_cli_json_string(e, "host_id");
                        cells[5] = since;
                        cells[6] = verdict;
                        cells[7] = vtc_cli_json_string(e, "placement");
                        vtc_cli_table_add_row(table, cells);
                }
                vtc_cli_table_print(table, stdout);
        }
        return VTC_EXIT_OK;
}

/* ---- vtc vm history ---------------------------------------------------------------------- */

static int
vtc_vm_cmd_history(int argc, char **argv)
{
        g_auto(VtcVmCommon) c = {"vtc vm history"};
        gint limit = 100;
        gint64 before = 0;
        GOptionEntry entries[] = {
            {"limit",
             'n',
             0,
             G_OPTION_ARG_INT,
             &limit,
             "at most N events, newest first (1-1000; default 100)",
             "N"},
            {"before",
             0,
             0,
             G_OPTION_ARG_INT64,
             &before,
             "only events older than SEQ (the next page: the \"next\" of --json)",
             "SEQ"},
            {NULL}};
        g_autoptr(GOptionContext) ctx = vtc_vm_context(
            &c,
            "UUID - a VM's verdicts and events, newest first",
            "Prints what the verifier kept about the VM UUID, newest first: every change of\n"
            "state (kind `state`), every failed verdict (`verdict`), every signed revocation\n"
            "event with its webhook delivery outcome (`revocation`), and when it was `added`. A\n"
            "trusted round that changes nothing is only counted (see vtc vm status).",
            VTC_VM_STATES_HELP
            "\n"
            "Examples:\n"
            "  vtc vm history 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f --limit 20\n"
            "  vtc vm history --json UUID | jq '.events[] | select(.kind == \"revocation\")'\n"
            "\n" VTC_CLI_CLIENT_HELP "\n"
            "Exit status:\n" VTC_CLI_EXIT_HELP);
        g_autoptr(VtcCliClient) client = NULL;
        g_autoptr(JsonObject) answer = NULL;
        g_autofree gchar *path = NULL;
        g_autofree gchar *suffix = NULL;
        g_autofree gchar *text = NULL;
        JsonNode *events_node;
        JsonArray *events;
        gint64 next = 0;
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        int rc = VTC_EXIT_OK;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!vtc_vm_parse(ctx, &c, 1, &argc, &argv))
                return VTC_EXIT_USAGE;
        if (limit < 1 || limit > 1000) {
                g_printerr("%s: --limit must be 1 to 1000\n", c.name);
                return VTC_EXIT_USAGE;
        }
        if (before < 0) {
                g_printerr("%s: --before must be a positive SEQ\n", c.name);
                return VTC_EXIT_USAGE;
        }
        client = vtc_vm_client(&c, &rc);
        if (client == NULL)
                return rc;
        suffix = before > 0
                     ? g_strdup_printf("/history?limit=%d&before=%" G_GINT64_FORMAT, limit, before)
                     : g_strdup_printf("/history?limit=%d", limit);
        path = vtc_vm_path(argv[1], suffix);
        answer = vtc_cli_client_call(client, "GET", path, NULL, &text, NULL, &rc);
        if (answer == NULL)
                return rc;
        if (c.conn.json) {
                printf("%s\n", text);
                return VTC_EXIT_OK;
        }
        events_node = json_object_get_member(answer, "events");
        if (events_node == NULL || !JSON_NODE_HOLDS_ARRAY(events_node)) {
                g_printerr("vtc: the verifier's answer has no \"events\" array\n");
                return VTC_EXIT_UNREACHABLE;
        }
        events = json_node_get_array(events_node);
        if (json_array_get_length(events) == 0) {
                printf("no events\n");
                return VTC_EXIT_OK;
        }
        {
                static const gchar *const header[] =
                    {"SEQ", "TIME", "AGE", "KIND", "STATE", "RESULT", "REASON", "DETAILS"};
                g_autoptr(VtcCliTable) table = vtc_cli_table_new(8, header);

                for (guint i = 0; i < json_array_get_length(events); i++) {
                        JsonNode *en = json_array_get_element(events, i);
                        JsonObject *e =
                            JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
                        gint64 seq = 0, t = 0, delivered = 0, undelivered = 0;
                        g_autofree gchar *seq_s = NULL;
                        g_autofree gchar *time_s = NULL;
                        g_autofree gchar *age_s = NULL;
                        g_autofree gchar *details = NULL;
                        const gchar *kind;
                        const gchar *message;
                        const gchar *placement;
                        const gchar *cells[8];

                        if (e == NULL) {
                                g_printerr("vtc: the verifier's \"events\" holds a non-object\n");
                                return VTC_EXIT_UNREACHABLE;
                        }
                        kind = vtc_cli_json_string(e, "kind");
                        message = vtc_cli_json_string(e, "message");
                        placement = vtc_cli_json_string(e, "placement");
                        if (vtc_cli_json_int(e, "seq", &seq))
                                seq_s = g_strdup_printf("%" G_GINT64_FORMAT, seq);
                        if (vtc_cli_json_int(e, "time", &t)) {
                                time_s = vtc_cli_format_time(t);
                                age_s = vtc_cli_format_age(t, now);
                        }
                        if (g_strcmp0(kind, "revocation") == 0) {
                                vtc_cli_json_int(e, "delivered", &delivered);
                                vtc_cli_json_int(e, "undelivered", &undelivered);
                                details = g_strdup_printf("webhooks: %" G_GINT64_FORMAT
                                                          " delivered, %" G_GINT64_FORMAT
                                                          " undelivered%s%s",
                                                          delivered,
                                                          undelivered,
                                                          message != NULL ? "; " : "",
                                                          message != NULL ? message : "");
                        } else if (message != NULL && placement != NULL) {
                                details = g_strdup_printf("%s (placement: %s)", message, placement);
                        } else if (placement != NULL) {
                                details = g_strdup_printf("placement: %s", placement);
                        } else {
                                details = g_strdup(message);
                        }
                        cells[0] = seq_s;
                        cells[1] = time_s;
                        cells[2] = age_s;
                        cells[3] = kind;
                        cells[4] = vtc_cli_json_string(e, "state");
                        cells[5] = vtc_cli_json_string(e, "result");
                        cells[6] = vtc_cli_json_string(e, "reason");
                        cells[7] = details;
                        vtc_cli_table_add_row(table, cells);
                }
                vtc_cli_table_print(table, stdout);
        }
        if (vtc_cli_json_int(answer, "next", &next) && next > 0)
                printf("(older events: --before %" G_GINT64_FORMAT ")\n", next);
        return VTC_EXIT_OK;
}

/* ---- vtc vm ------------------------------------------------------------------------------ */

static const VtcCliSubcommand vtc_vm_commands[] = {
    {"add", vtc_vm_cmd_add, "watch a VM with its runtime (and boot, host) policy"},
    {"status", vtc_vm_cmd_status, "one VM's state, reason, last verdict and placement"},
    {"list", vtc_vm_cmd_list, "every watched VM"},
    {"history", vtc_vm_cmd_history, "a VM's state changes, failed verdicts, revocations"},
    {"rm", vtc_vm_cmd_rm, "stop watching a VM"},
    {NULL, NULL, NULL},
};

int
vtc_cmd_vm(int argc, char **argv)
{
        g_autoptr(GString) usage = g_string_new(
            "Usage: vtc vm COMMAND [OPTIONS] [UUID]\n"
            "\n"
            "The tenant's view of the verifier: it checks each watched VM every round, from the\n"
            "guest's IMA log down to its host's hardware TPM, and says which link broke.\n"
            "\n"
            "Commands:\n");

        for (const VtcCliSubcommand *cmd = vtc_vm_commands; cmd->name != NULL; cmd++)
                g_string_append_printf(usage, "  %-8s %s\n", cmd->name, cmd->summary);
        g_string_append(usage,
                        "\n" VTC_VM_WORKFLOW_HELP "\n" VTC_VM_STATES_HELP "\n"
                        "Every command takes --verifier URL, --ca FILE, --cert FILE, --key FILE,\n"
                        "--config FILE, --timeout SECONDS and --json.\n" VTC_CLI_CLIENT_HELP "\n"
                        "Exit status:\n"
                        "  1  (vtc vm status) the VM is failed\n" VTC_CLI_EXIT_HELP "\n"
                        "Run `vtc vm COMMAND --help` for its options and examples.\n");
        return vtc_cli_dispatch("vtc vm", argc, argv, vtc_vm_commands, usage->str);
}
