/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdio.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vtc-ima.h"

G_BEGIN_DECLS

/*
 * Each `vtc GROUP ...` subcommand group lives in cli/vtc-cmd-GROUP.c and exports
 * vtc_cmd_GROUP(argc, argv), where argv[0] is the group name. Exit codes are shared:
 */
#define VTC_EXIT_OK      0 /* valid / done */
#define VTC_EXIT_INVALID 1 /* the evidence was checked and does not verify */
#define VTC_EXIT_USAGE   2 /* bad command line */
#define VTC_EXIT_ERROR   3 /* the input could not be read or parsed */
/*
 * The tenant commands (`vtc vm`, `vtc host`) talk to the verifier or the registrar and add:
 *   VTC_EXIT_INVALID (1) for `vtc vm status`: the VM is `failed`;
 *   VTC_EXIT_ERROR (3) also when a local file (a policy, --ca, --cert, --key, the client
 *   configuration) cannot be read or parsed.
 */
#define VTC_EXIT_UNREACHABLE 4 /* no usable answer: connection, TLS, timeout, not JSON */
#define VTC_EXIT_REFUSED     5 /* the server answered with an error (unknown VM, 401, 409...) */

int vtc_cmd_quote(int argc, char **argv);
int vtc_cmd_ek(int argc, char **argv);
int vtc_cmd_eventlog(int argc, char **argv);
int vtc_cmd_ima(int argc, char **argv);
int vtc_cmd_merkle(int argc, char **argv);
int vtc_cmd_ca(int argc, char **argv);
int vtc_cmd_vm(int argc, char **argv);
int vtc_cmd_host(int argc, char **argv);
/* `vtc ima check`, in its own file; vtc_cmd_ima() hands over to it (argv[0] is "check") */
int vtc_cmd_ima_check(int argc, char **argv);

/* Prints "vtc: <message>" on stderr. */
void vtc_cli_print_error(const GError *error);

/* A command or subcommand: func gets argv[0] = name; summary may be NULL where no list shows it.
 * Tables end with {NULL, NULL, NULL}. */
typedef struct {
        const gchar *name;
        int (*func)(int argc, char **argv);
        const gchar *summary;
} VtcCliSubcommand;

/*
 * Runs `PROG COMMAND ...` (prog is "vtc" or "vtc GROUP"): hands argv + 1 to the command named
 * argv[1]. With no command prints usage on stderr and returns VTC_EXIT_USAGE; with --help, -h or
 * help prints it on stdout and returns VTC_EXIT_OK; with an unknown one prints
 * "PROG: unknown command 'NAME'" and usage on stderr and returns VTC_EXIT_USAGE.
 */
int vtc_cli_dispatch(const gchar *prog,
                     int argc,
                     char **argv,
                     const VtcCliSubcommand *commands,
                     const gchar *usage);

/*
 * vtc_cli_dispatch() for a group with one subcommand, NAME, with the usage
 * "Usage: PROG COMMAND [OPTIONS]", NAME and its summary, and a pointer to `PROG NAME --help`.
 */
int vtc_cli_dispatch_one(const gchar *prog,
                         int argc,
                         char **argv,
                         const gchar *name,
                         int (*func)(int argc, char **argv),
                         const gchar *summary);

/*
 * Parses the options of `PROG` with ctx. With one_file, exactly one argument (a FILE) must be
 * left; without, none. On an error prints "PROG: <why>" on stderr and returns FALSE (the caller
 * exits with VTC_EXIT_USAGE).
 */
gboolean vtc_cli_parse_options(GOptionContext *ctx,
                               const gchar *prog,
                               gboolean one_file,
                               int *argc,
                               char ***argv);

/*
 * Parses an IMA log --format (NULL or "auto", "ascii", "binary") into *format. On an unknown
 * name prints "COMMAND: unknown --format 'NAME'" on stderr, leaves *format alone and returns
 * FALSE (the caller exits with VTC_EXIT_USAGE).
 */
gboolean vtc_cli_parse_ima_format(const gchar *command, const gchar *str, VtcImaFormat *format);

/* ---- the tenant commands' HTTPS client (vtc vm, vtc host) -------------------------------- */

typedef enum {
        VTC_CLI_SERVER_VERIFIER,
        VTC_CLI_SERVER_REGISTRAR,
} VtcCliServer;

/* The connection options as given on the command line (NULL / 0: not given). */
typedef struct {
        gchar *url; /* --verifier or --registrar */
        gchar *ca;
        gchar *cert;
        gchar *key;
        gchar *config;
        gchar *timeout; /* seconds */
        gboolean json;
} VtcCliClientOptions;

void vtc_cli_client_options_clear(VtcCliClientOptions *opts);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VtcCliClientOptions, vtc_cli_client_options_clear)

/* Adds --verifier URL or --registrar URL, --ca, --cert, --key, --config, --timeout and --json
 * (filling @opts) to @ctx's main options (after the command's own: call it last). */
void
vtc_cli_client_add_options(GOptionContext *ctx, VtcCliClientOptions *opts, VtcCliServer server);

/* The help text on where the connection settings come from (for descriptions). */
#define VTC_CLI_CLIENT_HELP                                                                      \
        "Connection: HTTPS with a client certificate of the deployment's CA (vtc ca issue).\n"   \
        "Each setting comes from, first found: the option; the environment (VTC_VERIFIER_URL,\n" \
        "VTC_REGISTRAR_URL, VTC_CA, VTC_CERT, VTC_KEY, VTC_TIMEOUT); the client configuration\n" \
        "file; the default. The file is --config FILE, else $VTC_CLIENT_CONFIG, else\n"          \
        "~/.config/vtc/client.conf if it exists, else /etc/vtc/client.conf (need not exist):\n"  \
        "  [verifier]\n"                                                                         \
        "  url = https://verifier.example:8890     # default https://127.0.0.1:8890\n"           \
        "  [registrar]\n"                                                                        \
        "  url = https://registrar.example:8891    # default https://127.0.0.1:8891\n"           \
        "  [tls]\n"                                                                              \
        "  ca = /etc/vtc/tls/ca.crt                # the default\n"                              \
        "  cert = /home/me/.config/vtc/tenant.crt  # no default: required\n"                     \
        "  key = /home/me/.config/vtc/tenant.key   # default: the cert's name with .key\n"       \
        "  [client]\n"                                                                           \
        "  timeout = 30                            # seconds per request\n"

/* The exit status lines every tenant command shares (2 to 5); VTC_CLI_EXIT_HELP adds 0. */
#define VTC_CLI_EXIT_HELP_ERRORS                                                                    \
        "  2  usage: a bad option, argument, URL or UUID\n"                                         \
        "  3  a local file (policy, --ca, --cert, --key, configuration) cannot be read or parsed\n" \
        "  4  no usable answer from the server: unreachable, TLS failure, timeout, not JSON\n"      \
        "  5  the server refused: it answered with an error (e.g. not_found, conflict,\n"           \
        "     unauthorized), printed as \"vtc: SERVER: CODE: MESSAGE (HTTP STATUS)\"\n"
#define VTC_CLI_EXIT_HELP "  0  done\n" VTC_CLI_EXIT_HELP_ERRORS

typedef struct _VtcCliClient VtcCliClient;

/*
 * Resolves the settings of @opts for @server (option, environment, configuration file,
 * default) and loads the CA and the client certificate. On failure prints the reason on
 * stderr and returns NULL with the exit code in *@out_exit (usage or unreadable input).
 */
VtcCliClient *
vtc_cli_client_new(const VtcCliClientOptions *opts, VtcCliServer server, int *out_exit);
void vtc_cli_client_free(VtcCliClient *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcCliClient, vtc_cli_client_free)

/*
 * One call: @method on the server's base URL + @path (already escaped) with @body (JSON or
 * NULL). Returns the parsed answer object when the server answered 2xx with a JSON object, and
 * its raw text in *@out_text (may be NULL). Otherwise prints the reason on stderr and returns
 * NULL with the exit code in *@out_exit: VTC_EXIT_UNREACHABLE when no usable answer came,
 * VTC_EXIT_REFUSED when the server answered with an error (its status in *@out_status, which
 * is 0 when no answer came).
 */
JsonObject *vtc_cli_client_call(VtcCliClient *self,
                                const gchar *method,
                                const gchar *path,
                                const gchar *body,
                                gchar **out_text,
                                guint *out_status,
                                int *out_exit);

/* ---- output for people ------------------------------------------------------------------ */

/* A table: vtc_cli_table_new(header...), rows of as many cells (NULL prints "-"), then
 * vtc_cli_table_print() pads every column but the last to its widest cell. Control characters
 * in cells are printed as '?'. */
typedef struct _VtcCliTable VtcCliTable;
VtcCliTable *vtc_cli_table_new(guint n_columns, const gchar *const *header);
void vtc_cli_table_add_row(VtcCliTable *self, const gchar *const *cells);
void vtc_cli_table_print(VtcCliTable *self, FILE *out);
void vtc_cli_table_free(VtcCliTable *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VtcCliTable, vtc_cli_table_free)

/* "12s ago", "5m ago", "3h ago", "2d ago", "in 2s" (for @when after @now), "-" for @when <= 0. */
gchar *vtc_cli_format_age(gint64 when, gint64 now);
/* "2026-01-02 03:04:05Z" (UTC), "-" for @when <= 0. */
gchar *vtc_cli_format_time(gint64 when);
/* A copy of @s with control characters replaced by '?' (NULL gives "-"). */
gchar *vtc_cli_sanitize(const gchar *s);

/* Lenient readers for display: a missing, null or mistyped member gives NULL / FALSE. */
const gchar *vtc_cli_json_string(JsonObject *obj, const gchar *member);
gboolean vtc_cli_json_int(JsonObject *obj, const gchar *member, gint64 *out);
JsonObject *vtc_cli_json_object(JsonObject *obj, const gchar *member);

G_END_DECLS
