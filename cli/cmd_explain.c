// SPDX-License-Identifier: MIT
/*
 * explain: online asks lfpd (its policy, identities resolved there); offline
 * (-f FILE) runs the same oracle here over the file, with `app` matched by the
 * path given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "explain.h"

static void print_result(struct cli *cli, json_t *res)
{
	json_t *f = json_object_get(res, "filter"), *s, *b, *ex;
	const char *bv;
	size_t i;

	if (cli->json) {
		cli_print_json(res);
		return;
	}
	printf("%s%s", json_string_value(json_object_get(res, "verdict")),
	       json_is_true(json_object_get(res, "hard")) ? " (hard)" : "");
	if (json_is_object(f)) {
		const char *name = json_string_value(json_object_get(f, "name"));

		printf(" by filter %" JSON_INTEGER_FORMAT "%s%s%s",
		       json_integer_value(json_object_get(f, "id")), name ? " (" : "",
		       name ? name : "", name ? ")" : "");
	} else if (json_is_object(json_object_get(res, "exemption"))) {
		printf(" (the ND/PMTU exemption)");
	} else {
		printf(" (no filter matched)");
	}
	printf(" at %s\n", json_string_value(json_object_get(res, "layer")));
	ex = json_object_get(res, "inspected_by");
	if (json_is_object(ex)) {
		const char *name = json_string_value(json_object_get(ex, "name"));

		printf("  inspected by filter %" JSON_INTEGER_FORMAT "%s%s%s: its callout sees the "
		       "payload (never the verdict)\n",
		       json_integer_value(json_object_get(ex, "id")), name ? " (" : "",
		       name ? name : "", name ? ")" : "");
	}
	ex = json_object_get(res, "exemption");
	if (json_is_object(ex)) {
		json_t *xf = json_object_get(ex, "filter");
		const char *name = json_string_value(json_object_get(xf, "name"));

		printf("  exempt: neighbor or path MTU discovery needs ICMP %" JSON_INTEGER_FORMAT
		       "/%" JSON_INTEGER_FORMAT "; filter %" JSON_INTEGER_FORMAT "%s%s%s would %s "
		       "it, but names no icmp.type\n",
		       json_integer_value(json_object_get(ex, "icmp_type")),
		       json_integer_value(json_object_get(ex, "icmp_code")),
		       json_integer_value(json_object_get(xf, "id")), name ? " (" : "",
		       name ? name : "", name ? ")" : "",
		       json_string_value(json_object_get(ex, "verdict")));
	}
	b = json_object_get(res, "before");
	bv = json_string_value(json_object_get(b, "verdict"));
	if (bv && !strcmp(bv, "redirect")) {
		json_t *bf = json_object_get(b, "filter");
		const char *name = json_string_value(json_object_get(bf, "name"));

		printf("  acts first: %s, redirect by filter %" JSON_INTEGER_FORMAT "%s%s%s; %s "
		       "sees the rewritten operation (explain that with orig.addr, orig.port and "
		       "flags redirected)\n",
		       json_string_value(json_object_get(b, "layer")),
		       json_integer_value(json_object_get(bf, "id")), name ? " (" : "",
		       name ? name : "", name ? ")" : "",
		       json_string_value(json_object_get(res, "layer")));
	}
	json_array_foreach(json_object_get(res, "sublayers"), i, s)
	{
		json_t *sf = json_object_get(s, "filter");
		const char *ans = json_string_value(json_object_get(s, "answer"));

		printf("  sublayer %s (weight %" JSON_INTEGER_FORMAT "): %s",
		       json_string_value(json_object_get(s, "name")),
		       json_integer_value(json_object_get(s, "weight")), ans);
		if (strcmp(ans, "none"))
			printf(" %s", json_is_true(json_object_get(s, "hard")) ? "hard" : "soft");
		if (json_is_object(sf)) {
			const char *name = json_string_value(json_object_get(sf, "name"));

			printf(" by filter %" JSON_INTEGER_FORMAT "%s%s%s",
			       json_integer_value(json_object_get(sf, "id")), name ? " (" : "",
			       name ? name : "", name ? ")" : "");
		}
		printf("\n");
	}
}

/* offline: ids in file order, the default sublayer added when the file lacks it */
static int explain_offline(struct cli *cli, const char *file, const char *conn_text)
{
	LFP_OPTS(lfp_parse_opts, po, .file = file);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct lfp_conn conn = { 0 };
	struct lfp_policy p = { 0 };
	struct lfp_sublayer *subs = NULL;
	json_t *out;
	char *text;
	int r;

	text = cli_read_file(file);
	if (!text) {
		fprintf(stderr, "error: %s: %s\n", file, strerror(errno));
		return EXIT_REQUEST;
	}
	lfp_diags_set_file(&d, file);
	r = lfp_rule_parse(text, &po, &rs, &d);
	free(text);
	if (r)
		goto diag;
	subs = calloc(rs->n_sublayers + 1, sizeof(*subs));
	if (!subs) {
		r = -ENOMEM;
		goto diag;
	}
	subs[0].id = 1;
	subs[0].name = (char *)LFP_SUBLAYER_DEFAULT_NAME;
	subs[0].weight = LFP_SUBLAYER_DEFAULT_WEIGHT;
	for (size_t i = 0; i < rs->n_sublayers; i++) {
		subs[i + 1] = rs->sublayers[i];
		subs[i + 1].id = (uint32_t)i + 2;
	}
	p.sublayers = subs;
	p.n_sublayers = rs->n_sublayers + 1;
	p.filters = rs->filters;
	p.n_filters = rs->n_filters;
	for (size_t i = 0; i < rs->n_filters; i++) {
		rs->filters[i].id = i + 1;
		lfp_filter_weight(&rs->filters[i]);
	}
	{
		static struct lfp_callout count = { (char *)"count", LFP_CALLOUT_INSPECTION };

		p.callouts = &count;
		p.n_callouts = 1;
	}
	r = lfp_policy_resolve(&p, &lfp_resolver_offline, &d);
	if (r)
		goto diag;
	lfp_diags_fini(&d);
	r = lfp_conn_parse(conn_text, &conn, &d);
	if (r)
		goto diag;
	out = json_object();
	r = lfp_explain_json(&p, &conn, out);
	if (r) {
		json_decref(out);
		goto diag;
	}
	print_result(cli, out);
	json_decref(out);
diag:
	if (d.n)
		lfp_diags_print(&d, stderr);
	lfp_diags_fini(&d);
	lfp_conn_fini(&conn);
	free(subs);
	if (rs) {
		/* subs borrowed the sublayers' strings: the ruleset frees them */
		lfp_ruleset_free(rs);
	}
	return r == -ENOMEM ? EXIT_SYSTEM : r ? EXIT_REQUEST : 0;
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
	const char *file = NULL;
	char **words = calloc((size_t)argc, sizeof(char *));
	int n = 0, r;
	char *text;
	json_t *rep;

	if (!words)
		return EXIT_SYSTEM;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") && i + 1 < argc)
			file = argv[++i];
		else
			words[n++] = argv[i];
	}
	if (!n) {
		free(words);
		fprintf(stderr, "error: explain needs a CONNECTION (lfp explain --help)\n");
		return EXIT_REQUEST;
	}
	text = cli_join_words(n, words);
	free(words);
	if (file) {
		r = explain_offline(cli, file, text);
		free(text);
		return r;
	}
	r = cli_call(cli, json_pack("{s:s, s:s}", "op", "explain", "text", text), &rep, NULL);
	free(text);
	if (r)
		return r;
	json_object_del(rep, "ok");
	print_result(cli, rep);
	json_decref(rep);
	return 0;
}
