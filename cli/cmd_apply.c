// SPDX-License-Identifier: MIT
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* "14:03:27" in local time, for deadlines */
static const char *clock_text(json_int_t unix_s, char *buf, size_t size)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, size, "%H:%M:%S", &tm))
		snprintf(buf, size, "%lld", (long long)unix_s);
	return buf;
}

/* --confirm SECONDS: 1 to 86400 */
static int parse_seconds(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 86400)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_apply(struct cli *cli, int argc, char **argv)
{
	const char *file = NULL, *lifetime = NULL, *provider = NULL;
	bool check = false;
	char *text, *defprov;
	int confirm = 0;
	json_t *req, *rep = NULL;
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
			if (i + 1 >= argc || parse_seconds(argv[i + 1], &confirm)) {
				fprintf(stderr, "error: --confirm needs SECONDS from 1 to 86400\n");
				return EXIT_REQUEST;
			}
			i++;
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
		if (confirm)
			fprintf(stderr, "warning: -c only checks FILE: --confirm has no effect\n");
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
	req = json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "op", "apply", "text", text, "file", file,
			"provider", defprov, "lifetime", lifetime);
	if (req && confirm)
		json_object_set_new(req, "confirm_seconds", json_integer(confirm));
	r = cli_do(cli, req, file, &rep);
	if (!r && !cli->json && confirm) {
		json_t *c = json_object_get(rep, "confirm");
		char when[32];

		/* the whole point: the admin must know the clock is running */
		printf("provider '%s' applied; it is rolled back at %s (in %d s) unless `lfp "
		       "confirm` comes first\n",
		       json_string_value(json_object_get(c, "provider")),
		       clock_text(json_integer_value(json_object_get(c, "deadline")), when,
				  sizeof(when)),
		       confirm);
	}
	json_decref(rep);
	free(defprov);
	free(text);
	return r;
}

int cmd_confirm(struct cli *cli, int argc, char **argv)
{
	json_t *rep = NULL, *c;
	int r;

	if (argc != 1) {
		fprintf(stderr, "error: confirm takes no arguments\n");
		return EXIT_REQUEST;
	}
	r = cli_do(cli, json_pack("{s:s}", "op", "confirm"), NULL, &rep);
	if (!r && !cli->json) {
		c = json_object_get(rep, "confirmed");
		printf("confirmed: the change of provider '%s' stays (generation "
		       "%" JSON_INTEGER_FORMAT ")\n",
		       json_string_value(json_object_get(c, "provider")),
		       json_integer_value(json_object_get(rep, "generation")));
	}
	json_decref(rep);
	return r;
}

/* export and flush: `lfp CMD [--boot-time] [--provider NAME]` */
static int provider_cmd(struct cli *cli, int argc, char **argv, const char *op)
{
	const char *prov = NULL, *set = NULL;
	json_t *rep;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--provider") && i + 1 < argc) {
			prov = argv[++i];
		} else if (!strcmp(argv[i], "--boot-time")) {
			set = "boot-time";
		} else {
			fprintf(stderr, "error: usage: lfp %s [--boot-time] [--provider NAME]\n",
				argv[0]);
			return EXIT_REQUEST;
		}
	}
	r = cli_do(cli, json_pack("{s:s, s:s?, s:s?}", "op", op, "provider", prov, "lifetime", set),
		   NULL, &rep);
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
