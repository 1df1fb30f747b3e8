// SPDX-License-Identifier: MIT
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* default provider: the file's name without its extension */
static char *provider_from_file(const char *path)
{
	char *copy = strdup(path), *base, *dot, *res;

	if (!copy)
		return NULL;
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && dot != base)
		*dot = 0;
	res = strdup(base);
	free(copy);
	return res;
}

static int check_file(const char *file, const char *text)
{
	LFP_OPTS(lfp_parse_opts, po, .file = file);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	int r;

	lfp_diags_set_file(&d, file);
	r = lfp_rule_parse(text, &po, &rs, &d);
	lfp_diags_print(&d, stderr);
	lfp_diags_fini(&d);
	lfp_ruleset_free(rs);
	if (r == -ENOMEM)
		return EXIT_SYSTEM;
	return r ? EXIT_REQUEST : 0;
}

int cmd_apply(struct cli *cli, int argc, char **argv)
{
	const char *file = NULL, *lifetime = NULL, *provider = NULL;
	bool check = false;
	char *text, *defprov;
	int r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-c")) {
			check = true;
		} else if (!strcmp(argv[i], "-f") && i + 1 < argc) {
			file = argv[++i];
		} else if (!strcmp(argv[i], "--runtime")) {
			lifetime = "runtime";
		} else if (!strcmp(argv[i], "--boot-time")) {
			lifetime = "boot-time";
		} else if (!strcmp(argv[i], "--provider") && i + 1 < argc) {
			provider = argv[++i];
		} else if (!strcmp(argv[i], "--confirm")) {
			fprintf(stderr,
				"error: --confirm (rollback unless confirmed) is not available "
				"in this version of lfp\n");
			return EXIT_REQUEST;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cli_apply_help, stdout);
			return 0;
		} else {
			fprintf(stderr, "error: unexpected '%s' (lfp -f FILE | lfp -c -f FILE)\n",
				argv[i]);
			return EXIT_REQUEST;
		}
	}
	if (!file) {
		fprintf(stderr, "error: -f FILE is required\n");
		return EXIT_REQUEST;
	}
	text = cli_read_file(file);
	if (!text) {
		fprintf(stderr, "error: %s: %s\n", file, strerror(errno));
		return EXIT_REQUEST;
	}
	if (check) {
		r = check_file(file, text);
		free(text);
		return r;
	}
	/* parse here too: errors carry the file's own name even before the daemon is asked */
	r = check_file(file, text);
	if (r) {
		free(text);
		return r;
	}
	defprov = provider ? strdup(provider) : provider_from_file(file);
	r = cli_do(cli,
		   json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "op", "apply", "text", text, "file",
			     file, "provider", defprov, "lifetime", lifetime),
		   file, NULL);
	free(defprov);
	free(text);
	return r;
}

/* export and flush: `lfp CMD [--provider NAME]` */
static int provider_cmd(struct cli *cli, int argc, char **argv, const char *op)
{
	const char *prov = NULL;
	json_t *rep;
	int r;

	if (argc == 3 && !strcmp(argv[1], "--provider")) {
		prov = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "error: usage: lfp %s [--provider NAME]\n", argv[0]);
		return EXIT_REQUEST;
	}
	r = cli_do(cli, json_pack("{s:s, s:s?}", "op", op, "provider", prov), NULL, &rep);
	if (!r && !cli->json && json_is_string(json_object_get(rep, "text")))
		fputs(json_string_value(json_object_get(rep, "text")), stdout);
	json_decref(rep);
	return r;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	return provider_cmd(cli, argc, argv, "export");
}

int cmd_flush(struct cli *cli, int argc, char **argv)
{
	return provider_cmd(cli, argc, argv, "flush");
}
