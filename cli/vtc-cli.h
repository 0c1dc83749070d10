/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdio.h>

#include <glib.h>

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

int vtc_cmd_quote(int argc, char **argv);
int vtc_cmd_ek(int argc, char **argv);
int vtc_cmd_eventlog(int argc, char **argv);
int vtc_cmd_ima(int argc, char **argv);
int vtc_cmd_merkle(int argc, char **argv);
int vtc_cmd_ca(int argc, char **argv);
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

G_END_DECLS
