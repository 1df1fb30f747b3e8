// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* options shared by `filter add`, `sublayer add` and `-f` */
struct obj_opts {
	const char *lifetime;
	const char *provider;
};

/* strip --runtime/--boot-time/--provider NAME from argv (kept order otherwise) */
static int take_obj_opts(int *argc, char **argv, struct obj_opts *o)
{
	int n = 0;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--runtime")) {
			o->lifetime = "runtime";
		} else if (!strcmp(argv[i], "--boot-time")) {
			o->lifetime = "boot-time";
		} else if (!strcmp(argv[i], "--provider")) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "error: --provider needs a NAME\n");
				return -1;
			}
			o->provider = argv[++i];
		} else {
			argv[n++] = argv[i];
		}
	}
	*argc = n;
	return 0;
}

static int filter_add(struct cli *cli, int argc, char **argv)
{
	struct obj_opts o = { 0 };
	json_t *req, *rep;
	char *text;
	int r;

	if (take_obj_opts(&argc, argv, &o))
		return EXIT_REQUEST;
	if (argc < 1) {
		fprintf(stderr, "error: filter add needs a STATEMENT (lfp filter --help)\n");
		return EXIT_REQUEST;
	}
	text = cli_join_words(argc, argv);
	req = json_pack("{s:s, s:s, s:s?, s:s?}", "op", "filter.add", "text", text, "lifetime",
			o.lifetime, "provider", o.provider);
	free(text);
	r = cli_call(cli, req, &rep, NULL);
	if (r)
		return r;
	if (cli->json)
		cli_print_json(rep);
	else
		printf("%" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(rep, "id")));
	json_decref(rep);
	return 0;
}

static int filter_delete(struct cli *cli, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "error: filter delete takes one ID or NAME\n");
		return EXIT_REQUEST;
	}
	return cli_do(cli, json_pack("{s:s, s:s}", "op", "filter.delete", "target", argv[0]), NULL,
		      NULL);
}

static int filter_list(struct cli *cli, int argc, char **argv)
{
	const char *layer = NULL;
	json_t *rep, *f;
	size_t i;
	int r;

	for (int a = 0; a < argc; a++) {
		if (!strcmp(argv[a], "--layer") && a + 1 < argc) {
			layer = argv[++a];
		} else {
			fprintf(stderr, "error: filter list: unexpected '%s'\n", argv[a]);
			return EXIT_REQUEST;
		}
	}
	r = cli_call(cli, json_pack("{s:s, s:s?}", "op", "filter.list", "layer", layer), &rep,
		     NULL);
	if (r)
		return r;
	if (cli->json) {
		cli_print_json(json_object_get(rep, "filters"));
	} else {
		printf("%-6s %-18s %10s  %-10s %s\n", "ID", "WEIGHT", "HITS", "PROVIDER", "RULE");
		json_array_foreach(json_object_get(rep, "filters"), i, f)
		{
			const char *lt = json_string_value(json_object_get(f, "lifetime"));
			char mark[32] = "";

			/* persistent is the default; every other lifetime is marked */
			if (lt && strcmp(lt, "persistent"))
				snprintf(mark, sizeof(mark), "  (%s)", lt);
			printf("%-6" JSON_INTEGER_FORMAT " 0x%016" PRIx64 " %10" JSON_INTEGER_FORMAT
			       "  %-10s %s%s\n",
			       json_integer_value(json_object_get(f, "id")),
			       (uint64_t)json_integer_value(json_object_get(f, "weight")),
			       json_integer_value(json_object_get(f, "hits")),
			       json_string_value(json_object_get(f, "provider")),
			       json_string_value(json_object_get(f, "text")), mark);
		}
	}
	json_decref(rep);
	return 0;
}

int cmd_filter(struct cli *cli, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "error: filter needs add, delete or list (lfp filter --help)\n");
		return EXIT_REQUEST;
	}
	if (!strcmp(argv[1], "add"))
		return filter_add(cli, argc - 2, argv + 2);
	if (!strcmp(argv[1], "delete"))
		return filter_delete(cli, argc - 2, argv + 2);
	if (!strcmp(argv[1], "list"))
		return filter_list(cli, argc - 2, argv + 2);
	fprintf(stderr, "error: unknown filter subcommand '%s' (add, delete, list)\n", argv[1]);
	return EXIT_REQUEST;
}

int cmd_sublayer(struct cli *cli, int argc, char **argv)
{
	struct obj_opts o = { 0 };
	json_t *rep, *s;
	size_t i;
	int r;

	if (argc < 2) {
		fprintf(stderr, "error: sublayer needs add, delete or list\n");
		return EXIT_REQUEST;
	}
	if (!strcmp(argv[1], "add")) {
		int n = argc - 2;
		char *text;

		if (take_obj_opts(&n, argv + 2, &o))
			return EXIT_REQUEST;
		if (n < 1) {
			fprintf(stderr, "error: sublayer add needs NAME weight N\n");
			return EXIT_REQUEST;
		}
		text = cli_join_words(n, argv + 2);
		r = cli_do(cli,
			   json_pack("{s:s, s:s, s:s?, s:s?}", "op", "sublayer.add", "text", text,
				     "lifetime", o.lifetime, "provider", o.provider),
			   NULL, NULL);
		free(text);
		return r;
	} else if (!strcmp(argv[1], "delete")) {
		if (argc != 3) {
			fprintf(stderr, "error: sublayer delete takes one NAME\n");
			return EXIT_REQUEST;
		}
		return cli_do(cli,
			      json_pack("{s:s, s:s}", "op", "sublayer.delete", "name", argv[2]),
			      NULL, NULL);
	} else if (!strcmp(argv[1], "list")) {
		r = cli_call(cli, json_pack("{s:s}", "op", "sublayer.list"), &rep, NULL);
		if (r)
			return r;
		if (cli->json) {
			cli_print_json(json_object_get(rep, "sublayers"));
		} else {
			printf("%-4s %-20s %-8s %-8s %-10s %s\n", "ID", "NAME", "WEIGHT", "FILTERS",
			       "PROVIDER", "LIFETIME");
			json_array_foreach(json_object_get(rep, "sublayers"), i, s)
				printf("%-4" JSON_INTEGER_FORMAT " %-20s %-8" JSON_INTEGER_FORMAT
				       " %-8" JSON_INTEGER_FORMAT " %-10s %s\n",
				       json_integer_value(json_object_get(s, "id")),
				       json_string_value(json_object_get(s, "name")),
				       json_integer_value(json_object_get(s, "weight")),
				       json_integer_value(json_object_get(s, "filters")),
				       json_string_value(json_object_get(s, "provider")),
				       json_string_value(json_object_get(s, "lifetime")));
		}
		json_decref(rep);
		return 0;
	}
	fprintf(stderr, "error: unknown sublayer subcommand '%s' (add, delete, list)\n", argv[1]);
	return EXIT_REQUEST;
}
