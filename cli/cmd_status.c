// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include "cli.h"

static json_int_t jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	json_t *rep, *st, *h, *l, *stats;
	const char *k;
	size_t i;
	int r;

	if (argc > 1) {
		fprintf(stderr, "error: status takes no arguments\n");
		return EXIT_REQUEST;
	}
	r = cli_call(cli, json_pack("{s:s}", "op", "status"), &rep, NULL);
	if (r)
		return r;
	st = json_object_get(rep, "status");
	if (cli->json) {
		cli_print_json(st);
		json_decref(rep);
		return 0;
	}
	printf("lfpd %s\n", jstr(st, "version"));
	printf("scope:      cgroup %s (id %" JSON_INTEGER_FORMAT "), network namespace %s\n",
	       jstr(st, "cgroup"), jint(st, "cgroup_id"), jstr(st, "netns"));
	printf("pins:       %s%s\n", jstr(st, "bpffs"),
	       json_is_true(json_object_get(st, "adopted")) ? " (adopted from an earlier lfpd)"
							    : "");
	printf("policy:     generation %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
	       " filters, %" JSON_INTEGER_FORMAT " sublayers%s\n",
	       jint(st, "generation"), jint(st, "filters"), jint(st, "sublayers"),
	       json_is_true(json_object_get(st, "monitor_mode"))
		       ? " (monitor mode: permit all, log all)"
		       : "");
	printf("events:     permitted connections %s\n",
	       json_is_true(json_object_get(st, "log_permits")) ? "logged" : "not logged");
	printf("hooks:\n");
	json_array_foreach(json_object_get(st, "hooks"), i, h)
		printf("  %-16s %-18s %s%s%s\n", jstr(h, "name"), jstr(h, "layer"),
		       json_is_true(json_object_get(h, "active")) ? "active" : "NOT ACTIVE",
		       *jstr(h, "reason") ? ": " : "", jstr(h, "reason"));
	printf("layers:\n");
	json_array_foreach(json_object_get(st, "layers"), i, l)
		printf("  %-20s %-32s %4" JSON_INTEGER_FORMAT " filters  %s\n", jstr(l, "name"),
		       jstr(l, "state"), jint(l, "filters"), jstr(l, "mechanism"));
	printf("counters:\n");
	stats = json_object_get(st, "stats");
	json_object_foreach(stats, k, h)
		printf("  %-20s %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(h));
	json_decref(rep);
	return 0;
}
