// SPDX-License-Identifier: MIT
/* lfp: the client. Global options anywhere on the line, then a command from cli_cmds[]. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char main_help[] =
	"Usage: lfp [--socket PATH] [--json] COMMAND [ARGS...]\n"
	"       lfp -f FILE [--confirm SECONDS]   apply a rule file (one transaction)\n"
	"       lfp -c -f FILE                    check a rule file without a daemon\n"
	"\n"
	"The Linux Filtering Platform client: WFP-style per-application filtering,\n"
	"enforced in the kernel by lfpd.\n"
	"\n"
	"Commands:\n"
	"%s"
	"\n"
	"Global options (before or after the command):\n"
	"  --socket PATH   lfpd's API socket (default /run/lfp/lfp.sock, or $LFP_SOCKET)\n"
	"  --json          machine-readable output\n"
	"  -h, --help      help; `lfp COMMAND --help` for one command\n"
	"  --version       print the version\n"
	"\n"
	"Exit codes: 0 done, 1 the request is wrong or refused, 2 the system failed.\n"
	"Rule language: docs/rule-language.md. Layers: lfp help layers.\n";

static void print_main_help(FILE *f)
{
	char cmds[4096] = "", *p = cmds;

	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		p += snprintf(p, sizeof(cmds) - (size_t)(p - cmds), "  %-10s %s\n", c->name,
			      c->summary);
	fprintf(f, main_help, cmds);
}

int main(int argc, char **argv)
{
	struct cli cli = { .socket = getenv("LFP_SOCKET") ?: "/run/lfp/lfp.sock" };
	char **args = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0;

	if (!args)
		return EXIT_SYSTEM;
	/* a daemon that closes on us is reported from the reply or errno, not by a signal */
	signal(SIGPIPE, SIG_IGN);
	/* global options may stand anywhere; everything else keeps its order */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			cli.socket = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			cli.socket = argv[i] + 9;
		} else if (!strcmp(argv[i], "--version")) {
			printf("lfp %s\n", lfp_version());
			free(args);
			return 0;
		} else {
			args[n++] = argv[i];
		}
	}
	if (n == 0 || !strcmp(args[0], "-h") || !strcmp(args[0], "--help")) {
		print_main_help(n ? stdout : stderr);
		free(args);
		return n ? 0 : EXIT_REQUEST;
	}
	if (!strcmp(args[0], "-f") || !strcmp(args[0], "-c")) {
		int r = cmd_apply(&cli, n, args);

		free(args);
		return r;
	}
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		if (strcmp(c->name, args[0]))
			continue;
		if (cli_want_help(n, args, c->help)) {
			free(args);
			return 0;
		}
		int r = c->fn(&cli, n, args);

		free(args);
		return r;
	}
	fprintf(stderr, "error: unknown command '%s' (lfp --help lists them)\n", args[0]);
	free(args);
	return EXIT_REQUEST;
}
