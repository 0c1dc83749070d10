/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <glib.h>

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

G_END_DECLS
