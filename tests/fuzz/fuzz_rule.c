// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the rule language. Beyond "does not crash" it holds
 * the printer to its contract: whatever parses prints, the print parses back
 * to an equal ruleset, and printing that again gives the same bytes. The
 * same text is also fed as one statement and as argv words (lfp filter add).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/rule.h>

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool rulesets_equal(const struct lfp_ruleset *a, const struct lfp_ruleset *b)
{
	if (!str_eq(a->provider, b->provider) || a->n_sublayers != b->n_sublayers ||
	    a->n_filters != b->n_filters)
		return false;
	for (size_t i = 0; i < a->n_sublayers; i++)
		if (!str_eq(a->sublayers[i].name, b->sublayers[i].name) ||
		    a->sublayers[i].weight != b->sublayers[i].weight)
			return false;
	for (size_t i = 0; i < a->n_filters; i++)
		if (!lfp_filter_equal(&a->filters[i], &b->filters[i]))
			return false;
	return true;
}

static void sink_diags(const struct lfp_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	lfp_diags_print(d, f);
	fclose(f);
	free(buf);
}

/* The contract for one parse result. */
static void check_result(int r, struct lfp_ruleset *rs, struct lfp_diags *d)
{
	LFP_OPTS(lfp_print_opts, secrets, .show_secrets = true);
	struct lfp_ruleset *rs2 = NULL;
	struct lfp_diags d2 = { 0 };
	char *t1, *t2, *h1, *h2;

	if (r) {
		/* a failure is reported, and leaves nothing behind */
		check(r == -EINVAL || r == -ENOMEM);
		check(!rs);
		check(r == -ENOMEM || lfp_diags_errors(d) > 0);
		sink_diags(d);
		return;
	}
	check(rs && lfp_diags_errors(d) == 0);
	for (size_t i = 0; i < rs->n_filters; i++) {
		char *ft = lfp_filter_to_text(&rs->filters[i], NULL);

		check(ft != NULL);
		free(ft);
		for (size_t j = 0; j < rs->filters[i].n_conds; j++) {
			char *ct = lfp_cond_to_text(&rs->filters[i].conds[j]);

			check(ct != NULL);
			free(ct);
		}
	}
	t1 = lfp_ruleset_to_text(rs, &secrets);
	check(t1 != NULL);
	r = lfp_rule_parse(t1, NULL, &rs2, &d2);
	if (r) {
		fprintf(stderr, "reparse failed on:\n%s", t1);
		lfp_diags_print(&d2, stderr);
		abort();
	}
	check(rulesets_equal(rs, rs2));
	t2 = lfp_ruleset_to_text(rs2, &secrets);
	check(t2 && !strcmp(t1, t2));
	h1 = lfp_ruleset_to_text(rs, NULL);
	h2 = lfp_ruleset_to_text(rs2, NULL);
	check(h1 && h2 && !strcmp(h1, h2));
	free(t1);
	free(t2);
	free(h1);
	free(h2);
	lfp_ruleset_free(rs2);
	lfp_diags_fini(&d2);
}

static void parse_one(const char *text, bool single)
{
	LFP_OPTS(lfp_parse_opts, po, .file = "fuzz.lfp", .single_statement = single);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	int r = lfp_rule_parse(text, &po, &rs, &d);

	check_result(r, rs, &d);
	if (single && !r)
		check(rs->n_filters + rs->n_sublayers == 1);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
}

/* The first line, split at blanks, as the shell would hand it to `lfp filter add`. */
static void parse_argv(const char *text)
{
	char *line = strndup(text, strcspn(text, "\n"));
	char *argv[256], *save = NULL, *w;
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	int argc = 0, r;

	check(line != NULL);
	for (w = strtok_r(line, " \t", &save); w && argc < 256; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	r = lfp_rule_parse_argv(argc, argv, NULL, &rs, &d);
	check_result(r, rs, &d);
	if (!r)
		check(rs->n_filters == 1);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	free(line);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	parse_one(text, false);
	parse_one(text, true);
	parse_argv(text);
	free(text);
	return 0;
}
