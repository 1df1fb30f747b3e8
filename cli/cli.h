/* SPDX-License-Identifier: MIT */
/** @file cli.h @brief Shared pieces of the lfp command line client. */
#pragma once

#include <stdbool.h>
#include <jansson.h>
#include <lfp/lfp.h>

/* exit codes (CLI.md) */
#define EXIT_DONE    0
#define EXIT_REQUEST 1 /* the request is wrong or refused */
#define EXIT_SYSTEM  2 /* the system failed */

struct cli {
	const char *socket;
	bool json;
};

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
	const char *help; /* man-style text for `lfp CMD --help` */
};

/**
 * Send @p req (stolen) to lfpd and wait for the reply.
 * @return 0 with *reply set, or an exit code after printing the error
 * (daemon unreachable: EXIT_SYSTEM; reply ok=false: its exit code, diags printed
 * with @p file for locations).
 */
int cli_call(struct cli *cli, json_t *req, json_t **reply, const char *file);

/**
 * cli_call(), then with --json print the reply. @p keep, when not NULL, receives
 * the reply (caller decrefs; NULL on failure). @return the exit code.
 */
int cli_do(struct cli *cli, json_t *req, const char *file, json_t **keep);

/** Connect to lfpd. @return fd or -errno. */
int cli_connect(const char *socket);

/** Print diagnostics from a reply (array of {severity,line,col,msg,text}). */
void cli_print_diags(const json_t *diags, const char *file);

/** Whether argv has -h/--help; prints @p help then. */
bool cli_want_help(int argc, char **argv, const char *help);

/** Join words into statement text, quoting words that need it. Caller frees. */
char *cli_join_words(int argc, char **argv);

/** Read a whole file ("-" = stdin). Caller frees. NULL with errno on failure. */
char *cli_read_file(const char *path);

/** Print a JSON value on stdout (indented), for --json. */
void cli_print_json(const json_t *j);

int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_filter(struct cli *cli, int argc, char **argv);
int cmd_sublayer(struct cli *cli, int argc, char **argv);
int cmd_apply(struct cli *cli, int argc, char **argv);	 /* -f FILE, -c -f FILE */
int cmd_confirm(struct cli *cli, int argc, char **argv); /* keep a change applied with --confirm */
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_flush(struct cli *cli, int argc, char **argv);
int cmd_monitor(struct cli *cli, int argc, char **argv);
int cmd_explain(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_icmp(struct cli *cli, int argc, char **argv);
int cmd_pending(struct cli *cli, int argc, char **argv); /* pending, pending answer */
int cmd_prompt(struct cli *cli, int argc, char **argv);

extern const struct cli_cmd cli_cmds[];
extern const char cli_apply_help[];
