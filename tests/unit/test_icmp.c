// SPDX-License-Identifier: MIT
/*
 * The ICMP tables (lib/icmp.c): the seed's rows with their corrected class,
 * ICMPv6 against RFC 4443/4861, lookups both ways, the predicates over every
 * type and code, the rule parser's use of the names, and `lfp icmp --json`
 * parsed back against the tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <jansson.h>
#include <lfp/icmp.h>
#include <lfp/oracle.h>
#include <lfp/rule.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Every row of shared/seeds/000_e29c532b01deaf7a.txt: type, code (the seed
 * leaves 14's blank; RFC 792 says 0), the seed's own class mark (q, e or
 * blank) and the class RFC 792/1122 give, which the table must carry.
 */
static const struct {
	unsigned int type, code;
	char seed; /* 'q', 'e', or ' ' for no mark */
	enum lfp_icmp_class want;
} seed_rows[] = {
	{ 0, 0, 'q', LFP_ICMP_QUERY },	{ 3, 0, 'e', LFP_ICMP_ERROR },
	{ 3, 1, 'e', LFP_ICMP_ERROR },	{ 3, 2, 'e', LFP_ICMP_ERROR },
	{ 3, 3, 'e', LFP_ICMP_ERROR },	{ 3, 4, 'e', LFP_ICMP_ERROR },
	{ 3, 5, 'e', LFP_ICMP_ERROR },	{ 3, 6, 'e', LFP_ICMP_ERROR },
	{ 3, 7, 'e', LFP_ICMP_ERROR },	{ 3, 8, 'e', LFP_ICMP_ERROR },
	{ 3, 9, 'e', LFP_ICMP_ERROR },	{ 3, 10, 'e', LFP_ICMP_ERROR },
	{ 3, 11, 'e', LFP_ICMP_ERROR }, { 3, 12, 'e', LFP_ICMP_ERROR },
	{ 3, 13, 'e', LFP_ICMP_ERROR }, { 3, 14, 'e', LFP_ICMP_ERROR },
	{ 3, 15, 'e', LFP_ICMP_ERROR }, { 4, 0, ' ', LFP_ICMP_ERROR },
	{ 5, 0, ' ', LFP_ICMP_ERROR },	{ 5, 1, ' ', LFP_ICMP_ERROR },
	{ 5, 2, ' ', LFP_ICMP_ERROR },	{ 5, 3, ' ', LFP_ICMP_ERROR },
	{ 8, 0, 'q', LFP_ICMP_QUERY },	{ 9, 0, ' ', LFP_ICMP_INFO },
	{ 10, 0, ' ', LFP_ICMP_INFO },	{ 11, 0, 'e', LFP_ICMP_ERROR },
	{ 11, 1, 'e', LFP_ICMP_ERROR }, { 12, 0, 'e', LFP_ICMP_ERROR },
	{ 12, 1, 'e', LFP_ICMP_ERROR }, { 13, 0, 'q', LFP_ICMP_QUERY },
	{ 14, 0, 'q', LFP_ICMP_QUERY }, { 15, 0, 'q', LFP_ICMP_QUERY },
	{ 16, 0, 'q', LFP_ICMP_QUERY }, { 17, 0, 'q', LFP_ICMP_QUERY },
	{ 18, 0, ' ', LFP_ICMP_QUERY },
};

/* The names the rule parser took before the tables moved here: they must keep their types. */
static const struct {
	const char *name;
	unsigned int type;
} parser_v4_names[] = {
	{ "echo-reply", 0 },	       { "dest-unreachable", 3 },
	{ "source-quench", 4 },	       { "redirect", 5 },
	{ "echo-request", 8 },	       { "router-advertisement", 9 },
	{ "router-solicitation", 10 }, { "time-exceeded", 11 },
	{ "parameter-problem", 12 },   { "timestamp-request", 13 },
	{ "timestamp-reply", 14 },     { "info-request", 15 },
	{ "info-reply", 16 },	       { "address-mask-request", 17 },
	{ "address-mask-reply", 18 },
};

static const int families[] = { AF_INET, AF_INET6 };

static void expect(int family, unsigned int type, int code, const char *name,
		   enum lfp_icmp_class cls)
{
	const struct lfp_icmp_entry *e = NULL;

	assert_int_equal(lfp_icmp_lookup(family, type, code, &e), 0);
	assert_non_null(e);
	assert_string_equal(e->name, name);
	assert_int_equal(e->type, type);
	assert_int_equal(e->cls, cls);
	assert_int_equal(e->family, family);
}

static void test_seed_rows(void **state)
{
	size_t errors = 0, queries = 0, info = 0;

	for (size_t i = 0; i < ARRAY_SIZE(seed_rows); i++) {
		const struct lfp_icmp_entry *e = NULL;

		assert_int_equal(
			lfp_icmp_lookup(AF_INET, seed_rows[i].type, (int)seed_rows[i].code, &e), 0);
		assert_int_equal(e->type, seed_rows[i].type);
		assert_int_equal(e->code, seed_rows[i].code);
		assert_int_equal(e->cls, seed_rows[i].want);
		/* the seed's marks are right where it has one */
		if (seed_rows[i].seed == 'q')
			assert_int_equal(e->cls, LFP_ICMP_QUERY);
		if (seed_rows[i].seed == 'e')
			assert_int_equal(e->cls, LFP_ICMP_ERROR);
		errors += e->cls == LFP_ICMP_ERROR;
		queries += e->cls == LFP_ICMP_QUERY;
		info += e->cls == LFP_ICMP_INFO;
	}
	assert_int_equal(ARRAY_SIZE(seed_rows), 35);
	assert_int_equal(errors, 25);
	assert_int_equal(queries, 8);
	assert_int_equal(info, 2);

	/* the corrections, one by one (WFP-MODEL.md, "ICMP") */
	expect(AF_INET, 4, 0, "source-quench", LFP_ICMP_ERROR);
	expect(AF_INET, 5, LFP_ICMP_CODE_ANY, "redirect", LFP_ICMP_ERROR);
	expect(AF_INET, 5, 1, "redirect-host", LFP_ICMP_ERROR);
	expect(AF_INET, 14, 0, "timestamp-reply", LFP_ICMP_QUERY);
	expect(AF_INET, 18, 0, "address-mask-reply", LFP_ICMP_QUERY);
	expect(AF_INET, 9, 0, "router-advertisement", LFP_ICMP_INFO);
	expect(AF_INET, 10, 0, "router-solicitation", LFP_ICMP_INFO);
	/* and the names the brief and rules use */
	expect(AF_INET, 3, 3, "port-unreachable", LFP_ICMP_ERROR);
	expect(AF_INET, 3, 4, "frag-needed", LFP_ICMP_ERROR);
	expect(AF_INET, 11, 0, "ttl-exceeded-in-transit", LFP_ICMP_ERROR);
	expect(AF_INET, 11, LFP_ICMP_CODE_ANY, "time-exceeded", LFP_ICMP_ERROR);
	expect(AF_INET, 3, LFP_ICMP_CODE_ANY, "dest-unreachable", LFP_ICMP_ERROR);
	expect(AF_INET, 8, 0, "echo-request", LFP_ICMP_QUERY);
	expect(AF_INET, 8, LFP_ICMP_CODE_ANY, "echo-request", LFP_ICMP_QUERY);
}

static void test_v6_rfc(void **state)
{
	static const char *const unreach[] = {
		"no-route",	    "admin-prohibited",	    "beyond-scope", "addr-unreachable",
		"port-unreachable", "source-policy-failed", "reject-route", "source-routing-error",
	};

	/* RFC 4443 3.1 (codes 0-6) and RFC 6554 (7) */
	expect(AF_INET6, 1, LFP_ICMP_CODE_ANY, "dest-unreachable", LFP_ICMP_ERROR);
	for (int c = 0; c < 8; c++)
		expect(AF_INET6, 1, c, unreach[c], LFP_ICMP_ERROR);
	/* RFC 4443 3.2-3.4 */
	expect(AF_INET6, 2, 0, "packet-too-big", LFP_ICMP_ERROR);
	expect(AF_INET6, 3, 0, "hop-limit-exceeded-in-transit", LFP_ICMP_ERROR);
	expect(AF_INET6, 3, 1, "reassembly-time-exceeded", LFP_ICMP_ERROR);
	expect(AF_INET6, 4, 0, "erroneous-header-field", LFP_ICMP_ERROR);
	expect(AF_INET6, 4, 1, "unrecognized-next-header", LFP_ICMP_ERROR);
	expect(AF_INET6, 4, 2, "unrecognized-option", LFP_ICMP_ERROR);
	/* RFC 4443 4.1, 4.2 */
	expect(AF_INET6, 128, 0, "echo-request", LFP_ICMP_QUERY);
	expect(AF_INET6, 129, 0, "echo-reply", LFP_ICMP_QUERY);
	/* RFC 4861 4.1-4.5 */
	expect(AF_INET6, 133, 0, "router-solicitation", LFP_ICMP_ND);
	expect(AF_INET6, 134, 0, "router-advertisement", LFP_ICMP_ND);
	expect(AF_INET6, 135, 0, "neighbor-solicitation", LFP_ICMP_ND);
	expect(AF_INET6, 136, 0, "neighbor-advertisement", LFP_ICMP_ND);
	expect(AF_INET6, 137, 0, "redirect", LFP_ICMP_ND);
	/* RFC 2710 3, RFC 3810 5 */
	expect(AF_INET6, 130, 0, "mld-query", LFP_ICMP_INFO);
	expect(AF_INET6, 131, 0, "mld-report", LFP_ICMP_INFO);
	expect(AF_INET6, 132, 0, "mld-done", LFP_ICMP_INFO);
	expect(AF_INET6, 143, 0, "mld2-report", LFP_ICMP_INFO);
	/* unassigned */
	const struct lfp_icmp_entry *e = NULL;

	assert_int_equal(lfp_icmp_lookup(AF_INET6, 0, 0, &e), -ENOENT);
	assert_int_equal(lfp_icmp_lookup(AF_INET6, 200, LFP_ICMP_CODE_ANY, &e), -ENOENT);
	assert_null(e);
}

static bool kebab(const char *s)
{
	if (!*s || *s == '-' || s[strlen(s) - 1] == '-' || strstr(s, "--"))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

/* The shape promised in icmp.h: order, one type row per type, one class per type, unique names. */
static void test_table_shape(void **state)
{
	const struct lfp_icmp_entry *t;
	size_t n;

	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		int fam = families[f];

		assert_int_equal(lfp_icmp_table(fam, &t, &n), 0);
		assert_true(n > 20);
		for (size_t i = 0; i < n; i++) {
			const struct lfp_icmp_entry *e = &t[i];
			size_t type_rows = 0, code_rows = 0;

			assert_int_equal(e->family, fam);
			assert_true(kebab(e->name));
			assert_non_null(e->description);
			assert_true(strlen(e->description) > 3);
			assert_non_null(lfp_icmp_class_name(e->cls));
			assert_true(e->code >= LFP_ICMP_CODE_ANY && e->code <= 255);
			if (e->code == LFP_ICMP_CODE_ANY)
				assert_true(e->flags & LFP_ICMP_F_TYPE);
			if (i) {
				const struct lfp_icmp_entry *p = &t[i - 1];

				assert_true(p->type < e->type ||
					    (p->type == e->type && p->code < e->code));
			}
			for (size_t j = 0; j < n; j++) {
				if (j != i)
					assert_string_not_equal(t[j].name, e->name);
				if (t[j].type != e->type)
					continue;
				assert_int_equal(t[j].cls, e->cls);
				if (t[j].flags & LFP_ICMP_F_TYPE)
					type_rows++;
				else
					code_rows++;
			}
			assert_int_equal(type_rows, 1);
			/* a type row with code 0 is a single-code type; with * it has codes */
			if (e->flags & LFP_ICMP_F_TYPE)
				assert_true(e->code == 0 ? code_rows == 0 : code_rows >= 2);
		}
	}
	assert_int_equal(lfp_icmp_table(AF_UNIX, &t, &n), -EAFNOSUPPORT);
	assert_string_equal(lfp_icmp_family_name(AF_INET), "v4");
	assert_string_equal(lfp_icmp_family_name(AF_INET6), "v6");
	assert_null(lfp_icmp_family_name(AF_UNIX));
	assert_string_equal(lfp_icmp_class_name(LFP_ICMP_QUERY), "query");
	assert_string_equal(lfp_icmp_class_name(LFP_ICMP_ERROR), "error");
	assert_string_equal(lfp_icmp_class_name(LFP_ICMP_INFO), "info");
	assert_string_equal(lfp_icmp_class_name(LFP_ICMP_ND), "nd");
	assert_null(lfp_icmp_class_name((enum lfp_icmp_class)4));
	assert_null(lfp_icmp_class_name((enum lfp_icmp_class) - 1));
}

/* Every row is found by its name and by its numbers, and both give the row itself. */
static void test_lookup_both_ways(void **state)
{
	const struct lfp_icmp_entry *t, *e;
	size_t n;

	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		int fam = families[f];

		assert_int_equal(lfp_icmp_table(fam, &t, &n), 0);
		for (size_t i = 0; i < n; i++) {
			e = NULL;
			assert_int_equal(lfp_icmp_by_name(fam, t[i].name, &e), 0);
			assert_ptr_equal(e, &t[i]);
			e = NULL;
			assert_int_equal(lfp_icmp_lookup(fam, t[i].type, t[i].code, &e), 0);
			assert_ptr_equal(e, &t[i]);
			if (t[i].flags & LFP_ICMP_F_TYPE) {
				assert_int_equal(lfp_icmp_type_by_name(fam, t[i].name), t[i].type);
				assert_int_equal(
					lfp_icmp_lookup(fam, t[i].type, LFP_ICMP_CODE_ANY, &e), 0);
				assert_ptr_equal(e, &t[i]);
			} else {
				assert_int_equal(lfp_icmp_type_by_name(fam, t[i].name), -ENOENT);
			}
		}
	}
	/* names are per family */
	assert_int_equal(lfp_icmp_type_by_name(AF_INET, "echo-request"), 8);
	assert_int_equal(lfp_icmp_type_by_name(AF_INET6, "echo-request"), 128);
	assert_int_equal(lfp_icmp_type_by_name(AF_INET, "redirect"), 5);
	assert_int_equal(lfp_icmp_type_by_name(AF_INET6, "redirect"), 137);
	assert_int_equal(lfp_icmp_type_by_name(AF_INET, "neighbor-solicitation"), -ENOENT);
	assert_int_equal(lfp_icmp_type_by_name(AF_INET6, "address-mask-request"), -ENOENT);
	assert_int_equal(lfp_icmp_type_by_name(AF_UNIX, "echo-request"), -EAFNOSUPPORT);
	assert_int_equal(lfp_icmp_by_name(AF_INET, "port-unreachable", &e), 0);
	assert_int_equal(e->type, 3);
	assert_int_equal(e->code, 3);
	assert_false(e->flags & LFP_ICMP_F_TYPE);
	assert_int_equal(lfp_icmp_by_name(AF_INET6, "port-unreachable", &e), 0);
	assert_int_equal(e->type, 1);
	assert_int_equal(e->code, 4);
	assert_int_equal(lfp_icmp_by_name(AF_INET, "Echo-Request", &e), -ENOENT);
	assert_int_equal(lfp_icmp_by_name(AF_INET, "", &e), -ENOENT);
	assert_int_equal(lfp_icmp_by_name(AF_INET, NULL, &e), -ENOENT);
	for (size_t i = 0; i < ARRAY_SIZE(parser_v4_names); i++)
		assert_int_equal(lfp_icmp_type_by_name(AF_INET, parser_v4_names[i].name),
				 parser_v4_names[i].type);

	/* codes the table does not name */
	e = NULL;
	assert_int_equal(lfp_icmp_lookup(AF_INET, 3, 16, &e), -ENOENT);
	assert_int_equal(lfp_icmp_lookup(AF_INET, 8, 1, &e), -ENOENT);
	assert_int_equal(lfp_icmp_lookup(AF_INET6, 135, 1, &e), -ENOENT);
	assert_int_equal(lfp_icmp_lookup(AF_INET, 7, LFP_ICMP_CODE_ANY, &e), -ENOENT);
	assert_null(e);
	/* packet-too-big: every code is the one row (receivers ignore it) */
	assert_int_equal(lfp_icmp_lookup(AF_INET6, 2, 9, &e), 0);
	assert_string_equal(e->name, "packet-too-big");
	/* bad arguments */
	assert_int_equal(lfp_icmp_lookup(AF_INET, 3, 256, &e), -EINVAL);
	assert_int_equal(lfp_icmp_lookup(AF_INET, 3, -2, &e), -EINVAL);
	assert_int_equal(lfp_icmp_lookup(AF_INET, 256, 0, &e), -EINVAL);
	assert_int_equal(lfp_icmp_lookup(AF_UNIX, 3, 0, &e), -EAFNOSUPPORT);
	assert_int_equal(lfp_icmp_lookup(AF_INET6 + 100, 3, 0, &e), -EAFNOSUPPORT);
}

static bool in(unsigned int x, const unsigned int *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == x)
			return true;
	return false;
}

/* The predicates over every type (and code): nothing but the listed messages. */
static void test_predicates(void **state)
{
	static const unsigned int err4[] = { 3, 4, 5, 11, 12 };
	static const unsigned int q4[] = { 0, 8, 13, 14, 15, 16, 17, 18 };
	static const unsigned int q6[] = { 128, 129 };
	size_t nd_pmtu[2] = { 0, 0 };

	for (unsigned int t = 0; t < 300; t++) {
		assert_int_equal(lfp_icmp_is_error(AF_INET, t), in(t, err4, ARRAY_SIZE(err4)));
		assert_int_equal(lfp_icmp_is_error(AF_INET6, t), t < 128);
		assert_int_equal(lfp_icmp_is_query(AF_INET, t), in(t, q4, ARRAY_SIZE(q4)));
		assert_int_equal(lfp_icmp_is_query(AF_INET6, t), in(t, q6, ARRAY_SIZE(q6)));
		assert_false(lfp_icmp_is_error(AF_UNIX, t));
		assert_false(lfp_icmp_is_query(AF_UNIX, t));
		for (unsigned int c = 0; c < 300; c++) {
			bool v4 = t == 3 && c == 4;
			bool v6 = (t == 2 && c < 256) || (t >= 133 && t <= 137 && c == 0);

			assert_int_equal(lfp_icmp_needed_for_nd_pmtu(AF_INET, t, c), v4);
			assert_int_equal(lfp_icmp_needed_for_nd_pmtu(AF_INET6, t, c), v6);
			assert_false(lfp_icmp_needed_for_nd_pmtu(AF_UNIX, t, c));
			nd_pmtu[0] += v4;
			nd_pmtu[1] += v6;
		}
	}
	assert_int_equal(nd_pmtu[0], 1);
	assert_int_equal(nd_pmtu[1], 256 + 5);

	/* query pairs, both ways */
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 8), 0);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 0), 8);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 13), 14);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 16), 15);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 17), 18);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 18), 17);
	assert_int_equal(lfp_icmp_query_peer(AF_INET6, 128), 129);
	assert_int_equal(lfp_icmp_query_peer(AF_INET6, 129), 128);
	assert_int_equal(lfp_icmp_query_peer(AF_INET6, 8), -ENOENT);
	assert_int_equal(lfp_icmp_query_peer(AF_INET, 3), -ENOENT);
	assert_int_equal(lfp_icmp_query_peer(AF_UNIX, 8), -EAFNOSUPPORT);
	/* every query has a peer, and nothing else does */
	for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
		for (unsigned int t = 0; t < 256; t++) {
			int p = lfp_icmp_query_peer(families[f], t);

			assert_int_equal(p >= 0, lfp_icmp_is_query(families[f], t));
			if (p >= 0)
				assert_int_equal(lfp_icmp_query_peer(families[f], (unsigned)p),
						 (int)t);
		}
	}
}

/* `icmp.type NAME` in rules reads the same table (v4 names), and code names get a hint. */
static void test_parser_uses_table(void **state)
{
	const struct lfp_icmp_entry *t;
	struct lfp_diags d = { 0 };
	struct lfp_conn c = { 0 };
	char text[128];
	size_t n;

	assert_int_equal(lfp_icmp_table(AF_INET, &t, &n), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "layer auth-connect icmp.type %s", t[i].name);
		if (t[i].flags & LFP_ICMP_F_TYPE) {
			assert_int_equal(lfp_conn_parse(text, &c, &d), 0);
			assert_int_equal(c.icmp_type, t[i].type);
			lfp_conn_fini(&c);
			continue;
		}
		assert_int_equal(lfp_conn_parse(text, &c, &d), -EINVAL);
		assert_int_equal(d.n, 1);
		assert_non_null(strstr(d.v[0].msg, "is a code of"));
		assert_non_null(strstr(d.v[0].msg, "icmp.code"));
		lfp_diags_fini(&d);
	}
	/* a connection's names are its family's: ICMPv6 names by ipver or address */
	assert_int_equal(
		lfp_conn_parse("layer auth-connect icmp.type neighbor-solicitation", &c, &d), 0);
	assert_int_equal(c.icmp_type, 135);
	lfp_conn_fini(&c);
	assert_int_equal(
		lfp_conn_parse("layer auth-connect ipver 6 icmp.type echo-request", &c, &d), 0);
	assert_int_equal(c.icmp_type, 128);
	lfp_conn_fini(&c);
	assert_int_equal(lfp_conn_parse("layer auth-connect remote.addr ::2 icmp.type echo-reply "
					"icmp.code 0",
					&c, &d),
			 0);
	assert_int_equal(c.icmp_type, 129);
	lfp_conn_fini(&c);
	assert_int_equal(
		lfp_conn_parse("layer inbound-transport ipver 6 icmp.type dest-unreachable "
			       "icmp.code port-unreachable",
			       &c, &d),
		0);
	assert_int_equal(c.icmp_type, 1);
	assert_int_equal(c.icmp_code, 4);
	lfp_conn_fini(&c);
	assert_int_equal(
		lfp_conn_parse("layer auth-connect ipver 4 icmp.type neighbor-solicitation", &c,
			       &d),
		-EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "not an ICMPv4 type name"));
	lfp_diags_fini(&d);
	assert_int_equal(lfp_conn_parse("layer auth-connect icmp.type echo", &c, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "unknown ICMP type 'echo'"));
	lfp_diags_fini(&d);
}

/* The single value of @f's condition on @field (-1: none). */
static int cond_value(const struct lfp_filter *f, enum lfp_field field)
{
	for (size_t i = 0; i < f->n_conds; i++)
		if (f->conds[i].field == field)
			return (int)f->conds[i].v[0].lo;
	return -1;
}

/* Filters: names take the number of the filter's family, from ipver or proto,
 * in any order; an ambiguous name without a family is refused with a hint. */
static void test_filter_names_by_family(void **state)
{
	static const struct {
		const char *text;
		int type, code; /* -1: no such condition */
	} ok[] = {
		{ "layer outbound-transport ipver 6 icmp.type echo-request block", 128, -1 },
		{ "layer outbound-transport icmp.type echo-request ipver 6 block", 128, -1 },
		{ "layer outbound-transport proto icmpv6 icmp.type echo-reply block", 129, -1 },
		{ "layer outbound-transport proto icmp icmp.type echo-request block", 8, -1 },
		{ "layer outbound-transport ipver 4 icmp.type echo-request block", 8, -1 },
		/* one family only: that one */
		{ "layer inbound-transport icmp.type neighbor-solicitation permit", 135, -1 },
		{ "layer inbound-transport icmp.type packet-too-big permit", 2, -1 },
		{ "layer inbound-transport icmp.type source-quench block", 4, -1 },
		/* code names, checked against the type */
		{ "layer inbound-transport proto icmp icmp.type dest-unreachable "
		  "icmp.code frag-needed permit",
		  3, 4 },
		{ "layer inbound-transport ipver 6 icmp.type dest-unreachable "
		  "icmp.code port-unreachable block",
		  1, 4 },
		{ "layer inbound-transport ipver 4 icmp.type dest-unreachable "
		  "icmp.code port-unreachable block",
		  3, 3 },
		{ "layer inbound-transport ipver 6 icmp.type 1 icmp.code admin-prohibited block", 1,
		  1 },
		{ "layer inbound-transport icmp.type 8 block", 8, -1 },
	};
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "layer outbound-transport icmp.type echo-request block",
		  "ICMPv4 type 8 and ICMPv6 type 128" },
		{ "layer outbound-transport ipver 4 icmp.type neighbor-solicitation block",
		  "not an ICMPv4 type name" },
		{ "layer outbound-transport proto icmpv6 icmp.type source-quench block",
		  "not an ICMPv6 type name" },
		{ "layer inbound-transport ipver 4 icmp.code port-unreachable block",
		  "add 'icmp.type 3'" },
		{ "layer inbound-transport ipver 4 icmp.type 11 icmp.code port-unreachable block",
		  "not of icmp.type 11" },
		{ "layer inbound-transport ipver 6 icmp.type 1 icmp.code frag-needed block",
		  "not an ICMPv6 code name" },
		{ "layer inbound-transport icmp.code no-such-code block", "unknown ICMP code" },
	};
	char buf[256];

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct lfp_ruleset *rs = NULL;
		struct lfp_diags d = { 0 };

		snprintf(buf, sizeof(buf), "filter add %s\n", ok[i].text);
		if (lfp_rule_parse(buf, NULL, &rs, &d))
			fail_msg("%s: %s", ok[i].text, d.n ? d.v[0].msg : "?");
		assert_int_equal(rs->n_filters, 1);
		assert_int_equal(cond_value(&rs->filters[0], LFP_F_ICMP_TYPE), ok[i].type);
		assert_int_equal(cond_value(&rs->filters[0], LFP_F_ICMP_CODE), ok[i].code);
		lfp_ruleset_free(rs);
		lfp_diags_fini(&d);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct lfp_ruleset *rs = NULL;
		struct lfp_diags d = { 0 };

		snprintf(buf, sizeof(buf), "filter add %s\n", bad[i].text);
		assert_int_equal(lfp_rule_parse(buf, NULL, &rs, &d), -EINVAL);
		assert_null(rs);
		assert_true(d.n >= 1);
		if (!strstr(d.v[0].msg, bad[i].msg))
			fail_msg("%s: got '%s', want '%s'", bad[i].text, d.v[0].msg, bad[i].msg);
		assert_true(d.v[0].loc.line == 1 && d.v[0].loc.col > 0);
		lfp_diags_fini(&d);
	}
}

/* Run the lfp binary; returns its exit status and stdout (caller frees). */
static int run_cli(const char *args, char **out)
{
	char cmd[512];
	size_t len = 0, cap = 0;
	char *buf = NULL;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>/dev/null", LFP_CLI, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + len, 1, 4096, p);

		if (!r)
			break;
		len += r;
	}
	buf[len] = 0;
	st = pclose(p);
	assert_true(WIFEXITED(st));
	*out = buf;
	return WEXITSTATUS(st);
}

static void check_json_rows(json_t *arr, size_t *k, int fam)
{
	const struct lfp_icmp_entry *t;
	size_t n;

	assert_int_equal(lfp_icmp_table(fam, &t, &n), 0);
	for (size_t i = 0; i < n; i++, (*k)++) {
		json_t *o = json_array_get(arr, *k), *code;

		assert_non_null(o);
		assert_true(json_is_object(o));
		assert_string_equal(json_string_value(json_object_get(o, "family")),
				    lfp_icmp_family_name(fam));
		assert_int_equal(json_integer_value(json_object_get(o, "type")), t[i].type);
		code = json_object_get(o, "code");
		if (t[i].code == LFP_ICMP_CODE_ANY)
			assert_true(json_is_null(code));
		else
			assert_int_equal(json_integer_value(code), t[i].code);
		assert_string_equal(json_string_value(json_object_get(o, "name")), t[i].name);
		assert_string_equal(json_string_value(json_object_get(o, "class")),
				    lfp_icmp_class_name(t[i].cls));
		assert_string_equal(json_string_value(json_object_get(o, "description")),
				    t[i].description);
		assert_string_equal(json_string_value(json_object_get(o, "names")),
				    (t[i].flags & LFP_ICMP_F_TYPE) ? "type" : "code");
		assert_int_equal(json_is_true(json_object_get(o, "nd_pmtu")),
				 (t[i].flags & LFP_ICMP_F_ND_PMTU) != 0);
	}
}

static void test_cli_json(void **state)
{
	static const struct {
		const char *args;
		int fams[2];
		size_t nfams;
	} cases[] = {
		{ "icmp --json", { AF_INET, AF_INET6 }, 2 },
		{ "--json icmp v4", { AF_INET }, 1 },
		{ "icmp 6 --json", { AF_INET6 }, 1 },
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		json_error_t jerr;
		size_t k = 0;
		char *out;
		json_t *arr;

		assert_int_equal(run_cli(cases[c].args, &out), 0);
		arr = json_loads(out, 0, &jerr);
		if (!arr)
			fail_msg("lfp %s: %s at %d:%d", cases[c].args, jerr.text, jerr.line,
				 jerr.column);
		assert_true(json_is_array(arr));
		for (size_t f = 0; f < cases[c].nfams; f++)
			check_json_rows(arr, &k, cases[c].fams[f]);
		assert_int_equal(json_array_size(arr), k);
		json_decref(arr);
		free(out);
	}
}

static void test_cli_text(void **state)
{
	const struct lfp_icmp_entry *t;
	char *out, *line, *save = NULL;
	size_t n, rows = 0;

	assert_int_equal(lfp_icmp_table(AF_INET6, &t, &n), 0);
	assert_int_equal(run_cli("icmp v6", &out), 0);
	assert_non_null(strstr(out, "ICMPv6\n"));
	assert_null(strstr(out, "ICMPv4"));
	/* one line per row, in table order, each with its type and name */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned int type;
		char code[8], name[64], cls[8];

		if (sscanf(line, "%u %7s %63s %7s", &type, code, name, cls) != 4)
			continue;
		assert_true(rows < n);
		assert_int_equal(type, t[rows].type);
		assert_string_equal(name, t[rows].name);
		assert_string_equal(cls, lfp_icmp_class_name(t[rows].cls));
		rows++;
	}
	assert_int_equal(rows, n);
	free(out);

	assert_int_equal(run_cli("icmp", &out), 0);
	assert_non_null(strstr(out, "ICMPv4\n"));
	assert_non_null(strstr(out, "ICMPv6\n"));
	assert_non_null(strstr(out, "frag-needed"));
	free(out);
	assert_int_equal(run_cli("icmp --help", &out), 0);
	assert_non_null(strstr(out, "Usage: lfp icmp [v4|v6] [--json]"));
	free(out);
	assert_int_equal(run_cli("help icmp", &out), 0);
	assert_non_null(strstr(out, "Usage: lfp icmp"));
	free(out);
	assert_int_equal(run_cli("icmp v7", &out), 1);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(run_cli("icmp v4 v6", &out), 1);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_rows),
		cmocka_unit_test(test_v6_rfc),
		cmocka_unit_test(test_table_shape),
		cmocka_unit_test(test_lookup_both_ways),
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_parser_uses_table),
		cmocka_unit_test(test_filter_names_by_family),
		cmocka_unit_test(test_cli_json),
		cmocka_unit_test(test_cli_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
