// SPDX-License-Identifier: MIT
/*
 * ICMP names in filters, by family. Names are unique within a family, not
 * across families (echo-request is ICMPv4 8 and ICMPv6 128), and a filter's
 * conditions come in any order, so the value parser takes a name in either
 * table and this pass, run once the filter's conditions are all known,
 * gives it the number of the filter's family: `ipver 4|6`, else `proto
 * icmp|icmpv6`. Without either, a name that is the same message in one
 * family only is that message; a name both families use for different
 * numbers is refused with a hint rather than guessed (docs/icmp.md).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <lfp/icmp.h>
#include "rule_int.h"

static const char *fam_name(int fam)
{
	return fam == AF_INET ? "ICMPv4" : "ICMPv6";
}

/* The token a value was written as (for the caret), found by its location. */
static const struct rule_tok *tok_at(const struct rule_tok *toks, size_t n, struct lfp_loc loc)
{
	for (size_t i = 0; i < n; i++)
		if (toks[i].loc.line == loc.line && toks[i].loc.col == loc.col)
			return &toks[i];
	return &toks[n ? n - 1 : 0];
}

/* The family the filter's own conditions give: ipver first, then proto. */
static int filter_family(const struct lfp_filter *f)
{
	int by_proto = 0;

	for (size_t i = 0; i < f->n_conds; i++) {
		const struct lfp_cond *c = &f->conds[i];

		if (c->op != LFP_OP_EQ || c->n != 1 || c->v[0].lo != c->v[0].hi)
			continue;
		if (c->field == LFP_F_IPVER)
			return c->v[0].lo == 4 ? AF_INET : AF_INET6;
		if (c->field == LFP_F_PROTO && (c->v[0].lo == 1 || c->v[0].lo == 58))
			by_proto = c->v[0].lo == 1 ? AF_INET : AF_INET6;
	}
	return by_proto;
}

static void type_name(struct rule_ctx *rc, const struct rule_tok *t, int fam, struct lfp_value *v)
{
	int t4 = lfp_icmp_type_by_name(AF_INET, v->str),
	    t6 = lfp_icmp_type_by_name(AF_INET6, v->str);
	int want = fam == AF_INET ? t4 : fam == AF_INET6 ? t6 : -1;

	if (fam && want < 0) {
		int other = fam == AF_INET ? t6 : t4;

		rule_err(rc, t,
			 "'%s' is not an %s type name, and this filter is %s (ipver/proto); %s "
			 "calls type %d that (write the number, or see lfp icmp)",
			 v->str, fam_name(fam), fam_name(fam),
			 fam_name(fam == AF_INET ? AF_INET6 : AF_INET), other);
		return;
	}
	if (!fam && t4 >= 0 && t6 >= 0 && t4 != t6) {
		rule_err(rc, t,
			 "'%s' is ICMPv4 type %d and ICMPv6 type %d: say which with 'ipver 4' or "
			 "'ipver 6' (or proto icmp / icmpv6), or write the number",
			 v->str, t4, t6);
		return;
	}
	if (!fam)
		want = t4 >= 0 ? t4 : t6;
	v->lo = v->hi = (uint64_t)want;
}

/* A code name: its type must be the filter's icmp.type. */
static void code_name(struct rule_ctx *rc, const struct rule_tok *t, int fam, int type,
		      struct lfp_value *v)
{
	const struct lfp_icmp_entry *e4 = NULL, *e6 = NULL, *e;

	if (lfp_icmp_by_name(AF_INET, v->str, &e4) || (e4->flags & LFP_ICMP_F_TYPE))
		e4 = NULL;
	if (lfp_icmp_by_name(AF_INET6, v->str, &e6) || (e6->flags & LFP_ICMP_F_TYPE))
		e6 = NULL;
	e = fam == AF_INET ? e4 : fam == AF_INET6 ? e6 : NULL;
	if (fam && !e) {
		rule_err(rc, t, "'%s' is not an %s code name, and this filter is %s (see lfp icmp)",
			 v->str, fam_name(fam), fam_name(fam));
		return;
	}
	if (!fam) {
		/* the filter's type may tell the families apart */
		if (e4 && e6 && type >= 0)
			e = e4->type == type ? e4 : e6->type == type ? e6 : e4;
		else if (e4 && e6 && (e4->type != e6->type || e4->code != e6->code)) {
			rule_err(rc, t,
				 "'%s' is an ICMPv4 code (%u/%d) and an ICMPv6 code (%u/%d): say "
				 "which with 'ipver 4' or 'ipver 6', or write the numbers",
				 v->str, e4->type, e4->code, e6->type, e6->code);
			return;
		} else {
			e = e4 ? e4 : e6;
		}
	}
	if (type < 0) {
		rule_err(rc, t,
			 "'%s' is a code of %s type %u: add 'icmp.type %u' (a code name means "
			 "nothing without its type)",
			 v->str, fam_name(e->family), e->type, e->type);
		return;
	}
	if (e->type != type) {
		rule_err(rc, t, "'%s' is a code of %s type %u, not of icmp.type %d", v->str,
			 fam_name(e->family), e->type, type);
		return;
	}
	v->lo = v->hi = (uint64_t)e->code;
}

RULE_HIDDEN void rule_icmp_family(struct rule_ctx *rc, struct lfp_filter *f,
				  const struct rule_tok *toks, size_t ntoks)
{
	int fam = filter_family(f), type = -1;

	for (size_t i = 0; i < f->n_conds; i++) {
		struct lfp_cond *c = &f->conds[i];

		if (c->field != LFP_F_ICMP_TYPE)
			continue;
		for (size_t k = 0; k < c->n; k++)
			if (c->v[k].form == LFP_VF_NAME && c->v[k].str)
				type_name(rc, tok_at(toks, ntoks, c->v[k].loc), fam, &c->v[k]);
		if (c->op == LFP_OP_EQ && c->n == 1 && c->v[0].lo == c->v[0].hi)
			type = (int)c->v[0].lo;
	}
	for (size_t i = 0; i < f->n_conds; i++) {
		struct lfp_cond *c = &f->conds[i];

		if (c->field != LFP_F_ICMP_CODE)
			continue;
		for (size_t k = 0; k < c->n; k++)
			if (c->v[k].form == LFP_VF_NAME && c->v[k].str)
				code_name(rc, tok_at(toks, ntoks, c->v[k].loc), fam, type,
					  &c->v[k]);
	}
}
