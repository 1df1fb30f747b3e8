// SPDX-License-Identifier: MIT
/*
 * The rule language: golden files (tests/golden/rules/NAME.lfp with NAME.out,
 * the canonical text, or NAME.err, the diagnostics as lfp_diags_print shows
 * them), round trips, the structure the parser builds, and lfp_conn_parse.
 *
 * To regenerate the expectations after a deliberate change, run with
 * LFP_GOLDEN_UPDATE=1 and review the diff: the test then writes instead of
 * comparing (and still checks the round trip).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/rule.h>
#include <lfp/oracle.h>

#define GOLDEN_DIR LFP_SRCDIR "/tests/golden/rules"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int ch;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	assert_non_null(m);
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(m);
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *diags_text(const struct lfp_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	lfp_diags_print(d, m);
	fclose(m);
	return buf;
}

static bool file_exists(const char *path)
{
	FILE *f = fopen(path, "r");

	if (f)
		fclose(f);
	return f != NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_rulesets_equal(const struct lfp_ruleset *a, const struct lfp_ruleset *b)
{
	assert_true((!a->provider && !b->provider) ||
		    (a->provider && b->provider && !strcmp(a->provider, b->provider)));
	assert_int_equal(a->n_sublayers, b->n_sublayers);
	for (size_t i = 0; i < a->n_sublayers; i++) {
		assert_string_equal(a->sublayers[i].name, b->sublayers[i].name);
		assert_int_equal(a->sublayers[i].weight, b->sublayers[i].weight);
	}
	assert_int_equal(a->n_filters, b->n_filters);
	for (size_t i = 0; i < a->n_filters; i++)
		assert_true(lfp_filter_equal(&a->filters[i], &b->filters[i]));
}

/* parse(print(parse(x))) == parse(x), and printing the reparse gives the same text. */
static void check_round_trip(const char *name, const struct lfp_ruleset *rs)
{
	LFP_OPTS(lfp_print_opts, secrets, .show_secrets = true);
	LFP_OPTS(lfp_parse_opts, po, .file = name);
	struct lfp_diags d = { 0 };
	struct lfp_ruleset *rs2 = NULL;
	char *t1 = lfp_ruleset_to_text(rs, &secrets);
	char *t2, *r1, *r2;

	assert_non_null(t1);
	if (lfp_rule_parse(t1, &po, &rs2, &d)) {
		char *e = diags_text(&d);

		fail_msg("%s: the printed text does not parse back:\n%s\n%s", name, t1, e);
	}
	assert_rulesets_equal(rs, rs2);
	t2 = lfp_ruleset_to_text(rs2, &secrets);
	assert_string_equal(t1, t2);
	r1 = lfp_ruleset_to_text(rs, NULL);
	r2 = lfp_ruleset_to_text(rs2, NULL);
	assert_string_equal(r1, r2);
	free(t1);
	free(t2);
	free(r1);
	free(r2);
	lfp_ruleset_free(rs2);
	lfp_diags_fini(&d);
}

static void golden_one(const char *base, bool update, size_t *n_ok, size_t *n_err)
{
	char lfp[512], out[512], err[512], name[256];
	LFP_OPTS(lfp_parse_opts, po, .file = name);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	char *text, *got, *want;
	bool want_ok;
	int r;

	snprintf(name, sizeof(name), "%s.lfp", base);
	snprintf(lfp, sizeof(lfp), "%s/%s.lfp", GOLDEN_DIR, base);
	snprintf(out, sizeof(out), "%s/%s.out", GOLDEN_DIR, base);
	snprintf(err, sizeof(err), "%s/%s.err", GOLDEN_DIR, base);
	text = read_file(lfp);
	assert_non_null(text);
	want_ok = file_exists(out);
	if (!want_ok && !file_exists(err) && !update)
		fail_msg("%s: neither %s.out nor %s.err exists", name, base, base);
	r = lfp_rule_parse(text, &po, &rs, &d);
	if (update && !file_exists(out) && !file_exists(err))
		want_ok = r == 0;
	if (want_ok) {
		if (r) {
			char *e = diags_text(&d);

			fail_msg("%s: expected to parse, got %d:\n%s", name, r, e);
		}
		assert_non_null(rs);
		assert_int_equal(d.n, 0);
		got = lfp_ruleset_to_text(rs, NULL);
		assert_non_null(got);
		if (update) {
			write_file(out, got);
		} else {
			want = read_file(out);
			assert_non_null(want);
			if (strcmp(got, want))
				fail_msg("%s: canonical text differs\n--- want\n%s--- got\n%s",
					 name, want, got);
			free(want);
		}
		check_round_trip(name, rs);
		(*n_ok)++;
	} else {
		if (!r)
			fail_msg("%s: expected errors, parsed fine", name);
		assert_int_equal(r, -EINVAL);
		assert_null(rs);
		assert_true(lfp_diags_errors(&d) > 0);
		got = diags_text(&d);
		if (update) {
			write_file(err, got);
		} else {
			want = read_file(err);
			assert_non_null(want);
			if (strcmp(got, want))
				fail_msg("%s: diagnostics differ\n--- want\n%s--- got\n%s", name,
					 want, got);
			free(want);
		}
		(*n_err)++;
	}
	free(got);
	free(text);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
}

static void test_golden(void **state)
{
	const char *upd = getenv("LFP_GOLDEN_UPDATE");
	bool update = upd && *upd == '1';
	DIR *dir = opendir(GOLDEN_DIR);
	char **names = NULL;
	size_t n = 0, n_ok = 0, n_err = 0;
	struct dirent *e;

	assert_non_null(dir);
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (len < 5 || strcmp(e->d_name + len - 4, ".lfp"))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		assert_non_null(names);
		names[n++] = strndup(e->d_name, len - 4);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		golden_one(names[i], update, &n_ok, &n_err);
		free(names[i]);
	}
	free(names);
	/* the brief asks for every kind of case; a shrinking corpus is a regression */
	assert_true(n_ok >= 15);
	assert_true(n_err >= 25);
}

/* ---- structure ---- */

static struct lfp_ruleset *parse_ok(const char *text)
{
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	int r = lfp_rule_parse(text, NULL, &rs, &d);

	if (r) {
		char *e = diags_text(&d);

		fail_msg("parse failed (%d):\n%s", r, e);
	}
	lfp_diags_fini(&d);
	return rs;
}

static char *parse_err(const char *text)
{
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	char *e;

	assert_int_equal(lfp_rule_parse(text, NULL, &rs, &d), -EINVAL);
	assert_null(rs);
	e = diags_text(&d);
	lfp_diags_fini(&d);
	return e;
}

static void mapped(uint8_t out[16], const char *v4)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, v4, out + 12), 1);
}

static void test_values(void **state)
{
	struct lfp_ruleset *rs = parse_ok(
		"filter add layer auth-connect remote.addr 10.0.0.0/8 local.addr 192.0.2.7 "
		"orig.addr 2001:db8::/32 remote.addr 10.0.0.1-10.0.0.9 remote.port 0x50 "
		"local.port 1000-2000 proto TCP user alice group 100 app /usr/bin/curl "
		"flags loopback+redirected icmp.type source-quench remote.addr ::ffff:10.0.0.0/104 "
		"permit\n");
	const struct lfp_filter *f = &rs->filters[0];
	const struct lfp_value *v;
	uint8_t a[16];

	assert_int_equal(f->n_conds, 13);
	v = &f->conds[0].v[0];
	assert_int_equal(v->form, LFP_VF_PREFIX);
	assert_int_equal(v->plen, 8);
	assert_true(v->v4);
	mapped(a, "10.0.0.0");
	assert_memory_equal(v->alo, a, 16);
	mapped(a, "10.255.255.255");
	assert_memory_equal(v->ahi, a, 16);
	assert_int_equal(v->loc.line, 1);
	assert_int_equal(v->loc.col, 43);
	assert_int_equal(f->conds[0].loc.col, 31);

	v = &f->conds[1].v[0]; /* a bare address is the full prefix */
	assert_int_equal(v->form, LFP_VF_PREFIX);
	assert_int_equal(v->plen, 32);
	mapped(a, "192.0.2.7");
	assert_memory_equal(v->alo, a, 16);
	assert_memory_equal(v->ahi, a, 16);

	v = &f->conds[2].v[0];
	assert_false(v->v4);
	assert_int_equal(v->plen, 32);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::", a), 1);
	assert_memory_equal(v->alo, a, 16);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", a), 1);
	assert_memory_equal(v->ahi, a, 16);

	v = &f->conds[3].v[0];
	assert_int_equal(v->form, LFP_VF_RANGE);
	mapped(a, "10.0.0.1");
	assert_memory_equal(v->alo, a, 16);
	mapped(a, "10.0.0.9");
	assert_memory_equal(v->ahi, a, 16);

	v = &f->conds[4].v[0];
	assert_int_equal(v->form, LFP_VF_NUMBER);
	assert_int_equal(v->lo, 80);
	assert_int_equal(v->hi, 80);

	v = &f->conds[5].v[0];
	assert_int_equal(v->form, LFP_VF_RANGE);
	assert_int_equal(v->lo, 1000);
	assert_int_equal(v->hi, 2000);

	v = &f->conds[6].v[0];
	assert_int_equal(v->form, LFP_VF_NAME);
	assert_int_equal(v->lo, 6);
	assert_string_equal(v->str, "tcp");

	v = &f->conds[7].v[0];
	assert_int_equal(v->form, LFP_VF_NAME);
	assert_string_equal(v->str, "alice");
	assert_false(v->resolved);

	v = &f->conds[8].v[0];
	assert_int_equal(v->form, LFP_VF_NUMBER);
	assert_int_equal(v->lo, 100);

	v = &f->conds[9].v[0];
	assert_int_equal(v->form, LFP_VF_PATH);
	assert_string_equal(v->str, "/usr/bin/curl");

	v = &f->conds[10].v[0];
	assert_int_equal(v->form, LFP_VF_FLAGS);
	assert_int_equal(v->lo, LFP_CF_LOOPBACK | LFP_CF_REDIRECTED);

	v = &f->conds[11].v[0];
	assert_int_equal(v->lo, 4);
	assert_string_equal(v->str, "source-quench");

	/* v4-mapped written as IPv6: the same range as 10.0.0.0/8, printed as written */
	v = &f->conds[12].v[0];
	assert_false(v->v4);
	assert_int_equal(v->plen, 104);
	mapped(a, "10.0.0.0");
	assert_memory_equal(v->alo, a, 16);
	mapped(a, "10.255.255.255");
	assert_memory_equal(v->ahi, a, 16);
	lfp_ruleset_free(rs);
}

static void test_filter_fields(void **state)
{
	LFP_OPTS(lfp_parse_opts, po, .lifetime = LFP_LT_RUNTIME);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	const struct lfp_filter *f;

	assert_int_equal(
		lfp_rule_parse(
			"provider p\n"
			"sublayer add s weight 0x10\n"
			"\n"
			"filter add name a desc \"x \\\"y\\\"\" layer auth-connect sublayer s "
			"class 3 ask\n"
			"filter add layer auth-recv-accept sublayer default weight 7 direction "
			"in callout count permit-if-callout-unregistered log\n"
			"filter add layer auth-connect ask default permit timeout 5 nolog soft\n",
			&po, &rs, &d),
		0);
	assert_string_equal(rs->provider, "p");
	assert_int_equal(rs->n_sublayers, 1);
	assert_string_equal(rs->sublayers[0].name, "s");
	assert_int_equal(rs->sublayers[0].weight, 16);
	assert_int_equal(rs->sublayers[0].lifetime, LFP_LT_RUNTIME);
	assert_int_equal(rs->sublayers[0].loc.line, 2);
	assert_int_equal(rs->n_filters, 3);

	f = &rs->filters[0];
	assert_string_equal(f->name, "a");
	assert_string_equal(f->desc, "x \"y\"");
	assert_int_equal(f->layer, LFP_LAYER_AUTH_CONNECT);
	assert_string_equal(f->sublayer, "s");
	assert_int_equal(f->wkind, LFP_W_CLASS);
	assert_int_equal(f->weight_arg, 3);
	assert_int_equal(f->action.type, LFP_ACT_ASK);
	assert_int_equal(f->action.ask_timeout, 30);
	assert_false(f->action.ask_default_permit);
	assert_int_equal(f->lifetime, LFP_LT_RUNTIME);
	assert_null(f->provider);
	assert_int_equal(f->loc.line, 4);
	assert_int_equal(f->loc.col, 1);

	f = &rs->filters[1];
	assert_null(f->sublayer); /* `sublayer default` is the default */
	assert_int_equal(f->wkind, LFP_W_EXPLICIT);
	assert_int_equal(f->weight_arg, 7);
	assert_int_equal(f->action.type, LFP_ACT_CALLOUT);
	assert_string_equal(f->action.callout, "count");
	assert_int_equal(f->flags, LFP_FF_PERMIT_IF_UNREG | LFP_FF_LOG);
	assert_int_equal(f->conds[0].v[0].lo, LFP_DIR_INBOUND);

	f = &rs->filters[2];
	assert_int_equal(f->wkind, LFP_W_AUTO);
	assert_int_equal(f->action.ask_timeout, 5);
	assert_true(f->action.ask_default_permit);
	assert_int_equal(f->flags, LFP_FF_NOLOG | LFP_FF_SOFT);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
}

static void test_argv(void **state)
{
	char *const ok[] = {
		"name", "web",	"desc", "a \"quoted\" text", "layer", "auth-connect", "remote.port",
		"{80,", "443}", "app",	"/opt/my app/bin",   "block"
	};
	char *const bad[] = { "layer", "auth-connect", "remote.port", "99999", "block" };
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	char *text;

	assert_int_equal(lfp_rule_parse_argv(12, ok, NULL, &rs, &d), 0);
	assert_int_equal(rs->n_filters, 1);
	assert_string_equal(rs->filters[0].desc, "a \"quoted\" text");
	assert_string_equal(rs->filters[0].conds[1].v[0].str, "/opt/my app/bin");
	text = lfp_filter_to_text(&rs->filters[0], NULL);
	assert_string_equal(text, "name web desc \"a \\\"quoted\\\" text\" layer auth-connect "
				  "remote.port {80, 443} app \"/opt/my app/bin\" block");
	free(text);
	lfp_ruleset_free(rs);

	assert_int_equal(lfp_rule_parse_argv(5, bad, NULL, &rs, &d), -EINVAL);
	assert_null(rs);
	text = diags_text(&d);
	assert_string_equal(text, "<command line>:1:43: error: value 99999 is out of range for "
				  "'remote.port' (0-65535)\n"
				  "  filter add layer auth-connect remote.port 99999 block\n"
				  "                                            ^\n");
	free(text);
	lfp_diags_fini(&d);
}

static void test_single_statement(void **state)
{
	LFP_OPTS(lfp_parse_opts, po, .single_statement = true);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	char *text;

	assert_int_equal(lfp_rule_parse("filter add layer auth-connect block\n"
					"filter add layer auth-connect permit\n",
					&po, &rs, &d),
			 -EINVAL);
	text = diags_text(&d);
	assert_non_null(strstr(text, "<command line>:2:1: error: only one statement is allowed "
				     "here (the first is on line 1)"));
	free(text);
	lfp_diags_fini(&d);

	assert_int_equal(lfp_rule_parse("provider x", &po, &rs, &d), -EINVAL);
	text = diags_text(&d);
	assert_non_null(strstr(text, "'provider' is only allowed in a rule file"));
	free(text);
	lfp_diags_fini(&d);

	assert_int_equal(lfp_rule_parse("  # nothing\n", &po, &rs, &d), -EINVAL);
	text = diags_text(&d);
	assert_string_equal(text, "error: no statement given\n");
	free(text);
	lfp_diags_fini(&d);

	assert_int_equal(lfp_rule_parse("sublayer add s weight 1", &po, &rs, &d), 0);
	assert_int_equal(rs->n_sublayers, 1);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);

	/* without the option, comments alone are an empty, valid file */
	rs = parse_ok("# nothing\n\n");
	assert_int_equal(rs->n_filters + rs->n_sublayers, 0);
	assert_null(rs->provider);
	lfp_ruleset_free(rs);
}

static void test_null_diags_and_args(void **state)
{
	struct lfp_ruleset *rs = (void *)1;

	assert_int_equal(lfp_rule_parse("filter add bogus", NULL, &rs, NULL), -EINVAL);
	assert_null(rs);
	assert_int_equal(lfp_rule_parse(NULL, NULL, &rs, NULL), -EINVAL);
	assert_int_equal(lfp_rule_parse("", NULL, NULL, NULL), -EINVAL);
	assert_int_equal(lfp_rule_parse("", NULL, &rs, NULL), 0);
	lfp_ruleset_free(rs);
}

static void test_secrets(void **state)
{
	LFP_OPTS(lfp_print_opts, show, .show_secrets = true);
	struct lfp_ruleset *rs = parse_ok("filter add layer connect-redirect redirect "
					  "socks5://bob:pa:ss@1.2.3.4:1080\n");
	char *hidden = lfp_filter_to_text(&rs->filters[0], NULL);
	char *shown = lfp_filter_to_text(&rs->filters[0], &show);

	assert_string_equal(rs->filters[0].action.redirect, "socks5://bob:pa:ss@1.2.3.4:1080");
	assert_string_equal(hidden,
			    "layer connect-redirect redirect socks5://bob:***@1.2.3.4:1080");
	assert_string_equal(shown,
			    "layer connect-redirect redirect socks5://bob:pa:ss@1.2.3.4:1080");
	free(hidden);
	free(shown);
	lfp_ruleset_free(rs);
}

/* Each line differs from the first in exactly one respect. */
static void test_equal(void **state)
{
	static const char *const variants[] = {
		"name n layer auth-connect remote.port {80, 443} block",
		"name m layer auth-connect remote.port {80, 443} block",
		"name n desc \"d\" layer auth-connect remote.port {80, 443} block",
		"name n layer auth-recv-accept remote.port {80, 443} block",
		"name n layer auth-connect sublayer s remote.port {80, 443} block",
		"name n layer auth-connect weight 5 remote.port {80, 443} block",
		"name n layer auth-connect class 5 remote.port {80, 443} block",
		"name n layer auth-connect remote.port {80, 444} block",
		"name n layer auth-connect remote.port {443, 80} block",
		"name n layer auth-connect remote.port != {80, 443} block",
		"name n layer auth-connect local.port {80, 443} block",
		"name n layer auth-connect remote.port {80, 443} permit",
		"name n layer auth-connect remote.port {80, 443} block log",
		"name n layer auth-connect remote.port {80, 443} remote.port 1 block",
		"name n layer auth-connect remote.port {80, 443-443} block",
	};
	struct lfp_ruleset *rs[sizeof(variants) / sizeof(variants[0])];
	const size_t n = sizeof(variants) / sizeof(variants[0]);
	struct lfp_ruleset *same, *a, *b;
	struct lfp_filter copy;

	for (size_t i = 0; i < n; i++) {
		char line[256];

		snprintf(line, sizeof(line), "filter add %s\n", variants[i]);
		rs[i] = parse_ok(line);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			assert_int_equal(lfp_filter_equal(&rs[i]->filters[0], &rs[j]->filters[0]),
					 i == j);

	/* what the engine sets does not count */
	assert_int_equal(lfp_filter_copy(&copy, &rs[0]->filters[0]), 0);
	copy.id = 42;
	copy.weight = 1234;
	copy.lifetime = LFP_LT_DYNAMIC;
	copy.loc.line = 99;
	copy.provider = strdup("other");
	copy.conds[0].loc.col = 7;
	assert_true(lfp_filter_equal(&copy, &rs[0]->filters[0]));
	lfp_filter_fini(&copy);
	for (size_t i = 0; i < n; i++)
		lfp_ruleset_free(rs[i]);

	/* a name resolved at commit still equals the same text parsed again */
	a = parse_ok("filter add layer auth-connect user alice app /bin/true block\n");
	b = parse_ok("filter add layer auth-connect user alice app /bin/true block\n");
	b->filters[0].conds[0].v[0].lo = b->filters[0].conds[0].v[0].hi = 1000;
	b->filters[0].conds[0].v[0].resolved = true;
	b->filters[0].conds[1].v[0].lo = 0x800001;
	b->filters[0].conds[1].v[0].hi = 12345;
	assert_true(lfp_filter_equal(&a->filters[0], &b->filters[0]));
	/* the built-in sublayer may be spelled out by hand */
	b->filters[0].sublayer = strdup("default");
	assert_true(lfp_filter_equal(&a->filters[0], &b->filters[0]));
	lfp_ruleset_free(a);
	lfp_ruleset_free(b);

	same = parse_ok("filter add layer auth-connect ask\n"
			"filter add layer auth-connect ask timeout 30 default block\n"
			"filter add layer auth-connect ask timeout 31\n");
	assert_true(lfp_filter_equal(&same->filters[0], &same->filters[1]));
	assert_false(lfp_filter_equal(&same->filters[0], &same->filters[2]));
	lfp_ruleset_free(same);
}

static void test_cond_to_text(void **state)
{
	struct lfp_ruleset *rs = parse_ok("filter add layer auth-connect remote.port {80, 443} "
					  "remote.port >= 1024 remote.addr != 10.0.0.0/8 "
					  "cgroup \"/my app.slice/\" permit\n");
	static const char *const want[] = {
		"remote.port {80, 443}",
		"remote.port >= 1024",
		"remote.addr != 10.0.0.0/8",
		"cgroup \"/my app.slice\"",
	};

	assert_int_equal(rs->filters[0].n_conds, 4);
	for (size_t i = 0; i < 4; i++) {
		char *t = lfp_cond_to_text(&rs->filters[0].conds[i]);

		assert_string_equal(t, want[i]);
		free(t);
	}
	lfp_ruleset_free(rs);
}

/* A filter made in code (lfpd's answer to an `ask`) prints and parses back. */
static void test_hand_built(void **state)
{
	struct lfp_value vals[3] = { 0 };
	struct lfp_cond conds[3] = { 0 };
	struct lfp_filter f = { 0 };
	struct lfp_ruleset *rs;
	char *text, line[512];

	vals[0].form = LFP_VF_PATH;
	vals[0].str = "/usr/bin/curl";
	vals[1].form = LFP_VF_PREFIX;
	vals[1].v4 = 1;
	vals[1].plen = 32;
	mapped(vals[1].alo, "93.184.216.34");
	memcpy(vals[1].ahi, vals[1].alo, 16);
	vals[2].form = LFP_VF_NUMBER;
	vals[2].lo = vals[2].hi = 443;
	conds[0] = (struct lfp_cond){ .field = LFP_F_APP, .v = &vals[0], .n = 1 };
	conds[1] = (struct lfp_cond){ .field = LFP_F_REMOTE_ADDR, .v = &vals[1], .n = 1 };
	conds[2] = (struct lfp_cond){ .field = LFP_F_REMOTE_PORT, .v = &vals[2], .n = 1 };
	f.layer = LFP_LAYER_AUTH_CONNECT;
	f.sublayer = "user";
	f.conds = conds;
	f.n_conds = 3;
	f.action.type = LFP_ACT_PERMIT;
	f.flags = LFP_FF_HARD;
	text = lfp_filter_to_text(&f, NULL);
	assert_string_equal(text, "layer auth-connect sublayer user app /usr/bin/curl "
				  "remote.addr 93.184.216.34 remote.port 443 permit hard");
	snprintf(line, sizeof(line), "filter add %s", text);
	rs = parse_ok(line);
	assert_true(lfp_filter_equal(&f, &rs->filters[0]));
	lfp_ruleset_free(rs);
	free(text);
}

/* The lexer finds its errors first; the list still reads in source order. */
static void test_diag_order(void **state)
{
	char *e = parse_err("filter add layer nowhere block\n"
			    "filter add layer auth-connect desc \"open\n"
			    "filter add layer auth-connect remote.port 70000 block\n");

	assert_string_equal(e, "<command line>:1:18: error: unknown layer 'nowhere' (see lfp help "
			       "layers)\n"
			       "  filter add layer nowhere block\n"
			       "                   ^\n"
			       "<command line>:2:36: error: unterminated string\n"
			       "  filter add layer auth-connect desc \"open\n"
			       "                                     ^\n"
			       "<command line>:3:43: error: value 70000 is out of range for "
			       "'remote.port' (0-65535)\n"
			       "  filter add layer auth-connect remote.port 70000 block\n"
			       "                                            ^\n");
	free(e);
}

/* ---- connection descriptions ---- */

static void test_conn_ok(void **state)
{
	struct lfp_diags d = { 0 };
	struct lfp_conn c;
	uint8_t a[16];

	assert_int_equal(
		lfp_conn_parse("layer auth-connect app /usr/bin/curl proto tcp "
			       "remote.addr 93.184.216.34 remote.port 443 user root "
			       "group 0 pid 77 local.port 0x8000 flags loopback+redirected "
			       "orig.addr 2001:db8::1 orig.port 80 cgroup /a/b",
			       &c, &d),
		0);
	assert_int_equal(d.n, 0);
	assert_int_equal(c.layer, LFP_LAYER_AUTH_CONNECT);
	assert_string_equal(c.app_path, "/usr/bin/curl");
	assert_string_equal(c.cgroup_path, "/a/b");
	assert_int_equal(c.proto, 6);
	mapped(a, "93.184.216.34");
	assert_memory_equal(c.raddr, a, 16);
	assert_int_equal(c.rport, 443);
	assert_int_equal(c.lport, 0x8000);
	assert_int_equal(c.uid, 0);
	assert_int_equal(c.gid, 0);
	assert_int_equal(c.pid, 77);
	assert_int_equal(c.ipver, 4);
	assert_int_equal(c.flags, LFP_CF_LOOPBACK | LFP_CF_REDIRECTED);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", a), 1);
	assert_memory_equal(c.oaddr, a, 16);
	assert_int_equal(c.oport, 80);
	lfp_conn_fini(&c);

	assert_int_equal(lfp_conn_parse("layer auth-recv-accept remote.addr 2001:db8::5 "
					"direction in iface 1 icmp.type echo-request icmp.code 0",
					&c, &d),
			 0);
	assert_int_equal(c.ipver, 6);
	assert_int_equal(c.direction, LFP_DIR_INBOUND);
	assert_int_equal(c.ifindex, 1);
	assert_int_equal(c.icmp_type, 128); /* echo-request in the connection's family */
	lfp_conn_fini(&c);

	/* v4-mapped counts as 4; local address alone decides when no remote */
	assert_int_equal(lfp_conn_parse("layer auth-listen local.addr ::ffff:10.1.2.3 "
					"local.port 22 proto 6",
					&c, &d),
			 0);
	assert_int_equal(c.ipver, 4);
	lfp_conn_fini(&c);
	assert_int_equal(lfp_conn_parse("layer auth-listen local.addr ::1 ipver 6", &c, &d), 0);
	assert_int_equal(c.ipver, 6);
	lfp_conn_fini(&c);
	lfp_diags_fini(&d);
}

static void test_conn_iface_name(void **state)
{
	struct lfp_diags d = { 0 };
	struct lfp_conn c;

	assert_int_equal(lfp_conn_parse("layer inbound-transport iface lo", &c, &d), 0);
	assert_int_equal(c.ifindex, 1);
	lfp_conn_fini(&c);
	lfp_diags_fini(&d);
}

static void keep_messages(char *text)
{
	char *o = text;

	for (char *p = text; *p;) {
		size_t len = strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');

		if (p[0] != ' ') {
			memmove(o, p, len);
			o += len;
		}
		p += len;
	}
	*o = 0;
}

static void test_conn_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "layer resource-assignment remote.port 443",
		  "<command line>:1:27: error: field 'remote.port' is not available at layer "
		  "'resource-assignment' (see lfp help layers)\n" },
		{ "layer auth-connect remote.port {80, 443}",
		  "<command line>:1:32: error: a connection has single values, not sets\n" },
		{ "layer auth-connect remote.port 80-90",
		  "<command line>:1:32: error: '80-90' is a range; a connection has single "
		  "values\n" },
		{ "layer auth-connect remote.addr 10.0.0.0/8",
		  "<command line>:1:32: error: '10.0.0.0/8' is a prefix; a connection has single "
		  "addresses\n" },
		{ "layer auth-connect remote.port < 80",
		  "<command line>:1:32: error: operators are not allowed in a connection "
		  "description\n" },
		{ "layer auth-connect user no-such-user-lfp",
		  "<command line>:1:25: error: unknown user 'no-such-user-lfp'\n" },
		{ "layer auth-connect group no-such-group-lfp",
		  "<command line>:1:26: error: unknown group 'no-such-group-lfp'\n" },
		{ "remote.port 80",
		  "<command line>:1:15: error: connection description has no layer (layer "
		  "LAYER)\n" },
		{ "layer auth-connect remote.port 80 remote.port 81",
		  "<command line>:1:35: error: 'remote.port' given twice\n" },
		{ "layer auth-connect ipver 6 remote.addr 1.2.3.4",
		  "<command line>:1:20: error: ipver 6 does not match the IPv4 address of "
		  "remote.addr\n" },
		{ "layer auth-connect local.addr ::1 remote.addr 1.2.3.4",
		  "<command line>:1:35: error: remote.addr is IPv4 but local.addr is IPv6\n" },
		{ "layer auth-connect remote.prot 80",
		  "<command line>:1:20: error: unknown field 'remote.prot' (did you mean "
		  "'remote.port'?)\n" },
		{ "layer auth-conect",
		  "<command line>:1:7: error: unknown layer 'auth-conect' (did you mean "
		  "'auth-connect'?)\n"
		  "<command line>:1:18: error: connection description has no layer (layer "
		  "LAYER)\n" },
		{ "layer auth-connect remote.port",
		  "<command line>:1:31: error: expected a value for 'remote.port', got end of "
		  "line\n" },
		{ "layer inbound-transport iface no-such-if0",
		  "<command line>:1:31: error: unknown interface 'no-such-if0'\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lfp_diags d = { 0 };
		struct lfp_conn c;
		char *got;

		memset(&c, 0xa5, sizeof(c));
		assert_int_equal(lfp_conn_parse(cases[i].text, &c, &d), -EINVAL);
		assert_null(c.app_path);
		got = diags_text(&d);
		/* keep the message lines, drop the source and caret lines */
		keep_messages(got);
		assert_string_equal(got, cases[i].want);
		free(got);
		lfp_diags_fini(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),		 cmocka_unit_test(test_values),
		cmocka_unit_test(test_filter_fields),	 cmocka_unit_test(test_argv),
		cmocka_unit_test(test_single_statement), cmocka_unit_test(test_null_diags_and_args),
		cmocka_unit_test(test_secrets),		 cmocka_unit_test(test_equal),
		cmocka_unit_test(test_cond_to_text),	 cmocka_unit_test(test_hand_built),
		cmocka_unit_test(test_diag_order),	 cmocka_unit_test(test_conn_ok),
		cmocka_unit_test(test_conn_iface_name),	 cmocka_unit_test(test_conn_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
