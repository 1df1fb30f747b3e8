// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <time.h>
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
	if (jint(st, "boot_time_filters"))
		printf("boot-time:  %" JSON_INTEGER_FORMAT
		       " filters in the boot-time set (enforced by lfpd --boot until lfpd "
		       "starts, not now)\n",
		       jint(st, "boot_time_filters"));
	h = json_object_get(st, "confirm");
	if (json_is_object(h)) {
		time_t t = (time_t)jint(h, "deadline");
		char when[32] = "?";
		struct tm tm;

		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("confirm:    provider '%s' (applied by pid %" JSON_INTEGER_FORMAT
		       ") is rolled back at %s (in %" JSON_INTEGER_FORMAT
		       " s) unless `lfp confirm`%s%s\n",
		       jstr(h, "provider"), jint(h, "pid"), when,
		       (jint(h, "remaining_ms") + 999) / 1000,
		       *jstr(h, "rollback_error") ? "; last rollback attempt failed: " : "",
		       jstr(h, "rollback_error"));
	} else {
		printf("confirm:    nothing waits for confirmation\n");
	}
	printf("events:     permitted connections %s\n",
	       json_is_true(json_object_get(st, "log_permits")) ? "logged" : "not logged");
	printf("hooks:\n");
	json_array_foreach(json_object_get(st, "hooks"), i, h)
		printf("  %-16s %-18s %s%s%s\n", jstr(h, "name"), jstr(h, "layer"),
		       json_is_true(json_object_get(h, "active")) ? "active" : "NOT ACTIVE",
		       *jstr(h, "reason") ? ": " : "", jstr(h, "reason"));
	h = json_object_get(st, "pend");
	if (json_is_object(h))
		printf("pend:       %s%s%s; NFQUEUE %" JSON_INTEGER_FORMAT
		       " (max %" JSON_INTEGER_FORMAT "), %" JSON_INTEGER_FORMAT
		       " waiting, %" JSON_INTEGER_FORMAT " held so far (%" JSON_INTEGER_FORMAT
		       " permitted, %" JSON_INTEGER_FORMAT " blocked, %" JSON_INTEGER_FORMAT
		       " timed out)\n",
		       json_is_true(json_object_get(h, "active")) ? "active" : "NOT ACTIVE",
		       *jstr(h, "reason") ? ": " : "", jstr(h, "reason"), jint(h, "queue"),
		       jint(h, "queue_max"), jint(h, "waiting"), jint(h, "held"),
		       jint(h, "permitted"), jint(h, "blocked"), jint(h, "timeouts"));
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
