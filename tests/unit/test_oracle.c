// SPDX-License-Identifier: MIT
/*
 * The reference arbitration: every row of the fold table, the worked
 * examples of Microsoft's "Filter Arbitration" page, callouts, ask/pend,
 * redirect, every match type, generated weights and value resolution.
 * Filters are built in C here (no parser), so these tests pin the oracle's
 * semantics on their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <mntent.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <lfp/oracle.h>
#include "../common/gen.h"

/* the policy builder and value constructors are the differential tests' (tests/common/gen.h) */

static struct lfp_value vs(enum lfp_value_form form, const char *s)
{
	return (struct lfp_value){ .form = form, .str = strdup(s) };
}

/* a name already resolved to an id */
static struct lfp_value vn(const char *s, uint64_t id)
{
	struct lfp_value v = vs(LFP_VF_NAME, s);

	v.lo = v.hi = id;
	v.resolved = true;
	return v;
}

static struct lfp_value vrange(const char *lo, const char *hi)
{
	struct lfp_value v = { .form = LFP_VF_RANGE };

	v.v4 = !strchr(lo, ':');
	addr(v.alo, lo);
	addr(v.ahi, hi);
	return v;
}

/* ---- running the oracle ---- */

struct res {
	enum lfp_verdict v;
	bool hard;
	const struct lfp_filter *f;
};

static struct res run(const struct tp *t, const struct lfp_conn *c)
{
	struct lfp_classify_result r;
	struct res out;

	assert_int_equal(lfp_oracle_classify(&t->p, c, &r), 0);
	out.v = r.verdict;
	out.hard = r.hard;
	out.f = r.filter;
	lfp_classify_result_fini(&r);
	return out;
}

static struct lfp_conn conn_tcp(const char *raddr, uint16_t rport)
{
	struct lfp_conn c = { .layer = AC, .proto = 6, .rport = rport };

	addr(c.raddr, raddr);
	c.ipver = strchr(raddr, ':') && strncmp(raddr, "::ffff:", 7) ? 6 : 4;
	return c;
}

static bool matches1(enum lfp_field field, enum lfp_op op, struct lfp_value v,
		     const struct lfp_conn *c)
{
	struct lfp_filter f = { 0 };
	bool r;

	cond(&f, field, op, 1, v);
	r = lfp_filter_matches(&f, c);
	lfp_filter_fini(&f);
	return r;
}

/* ---- the fold table (lfp_fold.h), one case per row and variant ---- */

enum spec { NONE, SP, HP, SB, HB, CB /* unregistered callout: soft block from a callout */ };

static struct lfp_filter *add_spec(struct tp *t, const char *sublayer, enum spec s)
{
	switch (s) {
	case SP: return tp_filter(t, AC, sublayer, LFP_ACT_PERMIT, 0, 10);
	case HP: return tp_filter(t, AC, sublayer, LFP_ACT_PERMIT, LFP_FF_HARD, 10);
	case SB: return tp_filter(t, AC, sublayer, LFP_ACT_BLOCK, LFP_FF_SOFT, 10);
	case HB: return tp_filter(t, AC, sublayer, LFP_ACT_BLOCK, 0, 10);
	case CB: return tp_callout_filter(t, sublayer, "not-registered", 0, 10);
	default: return NULL;
	}
}

static void test_fold_table(void **state)
{
	static const struct {
		enum spec first, second; /* higher sublayer, lower sublayer */
		enum lfp_verdict v;
		bool hard;
		int decider; /* 1: first's filter, 2: second's, 0: none */
	} rows[] = {
		/* none | any answer: that answer with its hardness */
		{ NONE, SP, LFP_V_PERMIT, false, 2 },
		{ NONE, HP, LFP_V_PERMIT, true, 2 },
		{ NONE, SB, LFP_V_BLOCK, false, 2 },
		{ NONE, HB, LFP_V_BLOCK, true, 2 },
		{ NONE, CB, LFP_V_BLOCK, false, 2 },
		{ NONE, NONE, LFP_V_PERMIT, false, 0 }, /* no answer anywhere: permit */
		/* soft permit | block: that block */
		{ SP, SB, LFP_V_BLOCK, false, 2 },
		{ SP, HB, LFP_V_BLOCK, true, 2 },
		{ SP, CB, LFP_V_BLOCK, false, 2 },
		/* soft permit | permit: permit, hard if either is hard */
		{ SP, SP, LFP_V_PERMIT, false, 1 },
		{ SP, HP, LFP_V_PERMIT, true, 2 },
		/* soft block | permit: that permit */
		{ SB, SP, LFP_V_PERMIT, false, 2 },
		{ SB, HP, LFP_V_PERMIT, true, 2 },
		/* soft block | block: block, hard if either is hard */
		{ SB, SB, LFP_V_BLOCK, false, 1 },
		{ SB, HB, LFP_V_BLOCK, true, 2 },
		{ SB, CB, LFP_V_BLOCK, false, 1 },
		/* hard permit | block from a callout: veto */
		{ HP, CB, LFP_V_VETO, true, 2 },
		/* hard permit | anything else: unchanged */
		{ HP, SP, LFP_V_PERMIT, true, 1 },
		{ HP, HP, LFP_V_PERMIT, true, 1 },
		{ HP, SB, LFP_V_PERMIT, true, 1 },
		{ HP, HB, LFP_V_PERMIT, true, 1 },
		{ HP, NONE, LFP_V_PERMIT, true, 1 },
		/* hard block | anything: unchanged */
		{ HB, SP, LFP_V_BLOCK, true, 1 },
		{ HB, HP, LFP_V_BLOCK, true, 1 },
		{ HB, SB, LFP_V_BLOCK, true, 1 },
		{ HB, CB, LFP_V_BLOCK, true, 1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct tp *t = tp_new();
		struct lfp_conn c = conn_tcp("192.0.2.1", 443);
		struct lfp_filter *a, *b;
		const struct lfp_filter *want;
		struct lfp_classify_result r;

		tp_sublayer(t, 10, "first", 0xf000);
		tp_sublayer(t, 11, "second", 0xe000);
		a = add_spec(t, "first", rows[i].first);
		b = add_spec(t, "second", rows[i].second);
		want = rows[i].decider == 1 ? a : rows[i].decider == 2 ? b : NULL;

		assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
		print_message("# row %zu: %d then %d -> %s\n", i, rows[i].first, rows[i].second,
			      lfp_verdict_name(r.verdict));
		assert_int_equal(r.verdict, rows[i].v);
		assert_int_equal(r.hard, rows[i].hard);
		assert_ptr_equal(r.filter, want);
		/* each sublayer's own answer is reported, default last */
		assert_int_equal(r.n_subs, 3);
		assert_string_equal(r.subs[0].sublayer->name, "first");
		assert_string_equal(r.subs[1].sublayer->name, "second");
		assert_string_equal(r.subs[2].sublayer->name, "default");
		assert_ptr_equal(r.subs[0].filter, a);
		assert_ptr_equal(r.subs[1].filter, b);
		assert_int_equal(r.subs[2].answer.ans, LFP_ANS_NONE);
		if (rows[i].second == CB)
			assert_true(r.subs[1].answer.callout);
		if (rows[i].first == SB || rows[i].first == HB)
			assert_int_equal(r.subs[0].answer.hard, rows[i].first == HB);
		lfp_classify_result_fini(&r);
		tp_free(t);
	}
}

/* ---- Microsoft's "Filter Arbitration" page, its cases in lfp terms ---- */

/* A soft block (write right kept) can be permitted at another sublayer. */
static void test_wfp_soft_block_overridden(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("198.51.100.7", 3389);
	struct lfp_filter *fw, *app;
	struct res r;

	tp_sublayer(t, 2, "firewall", 0x9000);
	tp_sublayer(t, 3, "apps", 0x100);
	fw = tp_filter(t, AC, "firewall", LFP_ACT_BLOCK, LFP_FF_SOFT, 1);
	cond(fw, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(3389));
	app = tp_filter(t, AC, "apps", LFP_ACT_PERMIT, 0, 1);
	cond(app, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(3389));

	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_PERMIT);
	assert_false(r.hard);
	assert_ptr_equal(r.f, app);
	tp_free(t);
}

/* A hard block cannot be permitted at another sublayer, not even by a hard permit. */
static void test_wfp_hard_block_final(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("198.51.100.7", 3389);
	struct lfp_filter *fw;
	struct res r;

	tp_sublayer(t, 2, "firewall", 0x9000);
	tp_sublayer(t, 3, "apps", 0x100);
	fw = tp_filter(t, AC, "firewall", LFP_ACT_BLOCK, 0, 1);
	tp_filter(t, AC, "apps", LFP_ACT_PERMIT, LFP_FF_HARD, 1);

	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK);
	assert_true(r.hard);
	assert_ptr_equal(r.f, fw);
	tp_free(t);
}

/*
 * The page's motivating case: a remote administration port opened with a
 * hard permit stays open under a third-party firewall's block in a lower
 * sublayer...
 */
static void test_wfp_remote_admin_hard_permit(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("198.51.100.7", 22);
	struct lfp_filter *admin;
	struct res r;

	tp_sublayer(t, 2, "admin", 0x9000);
	tp_sublayer(t, 3, "thirdparty-fw", 0x100);
	admin = tp_filter(t, AC, "admin", LFP_ACT_PERMIT, LFP_FF_HARD, 1);
	cond(admin, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(22));
	tp_filter(t, AC, "thirdparty-fw", LFP_ACT_BLOCK, 0, 1); /* block everything, hard */

	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_PERMIT);
	assert_true(r.hard);
	assert_ptr_equal(r.f, admin);

	/* ...while other ports are blocked by the firewall */
	c.rport = 23;
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK);
	tp_free(t);
}

/* ...but a callout's block below a hard permit is a veto: blocked, and reported as such. */
static void test_wfp_veto(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("198.51.100.7", 22);
	struct lfp_filter *co;
	struct res r;

	tp_sublayer(t, 2, "admin", 0x9000);
	tp_sublayer(t, 3, "ids", 0x100);
	tp_filter(t, AC, "admin", LFP_ACT_PERMIT, LFP_FF_HARD, 1);
	co = tp_callout_filter(t, "ids", "ids-inspect", 0, 1); /* not registered: blocks */

	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_VETO);
	assert_true(r.hard);
	assert_ptr_equal(r.f, co);
	tp_free(t);
}

/* To override a hard permit silently, a firewall adds its block in a higher sublayer. */
static void test_wfp_higher_sublayer_overrides_silently(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("198.51.100.7", 22);
	struct lfp_filter *fw;
	struct res r;

	tp_sublayer(t, 2, "firewall", 0xa000);
	tp_sublayer(t, 3, "admin", 0x9000);
	fw = tp_filter(t, AC, "firewall", LFP_ACT_BLOCK, 0, 1);
	tp_filter(t, AC, "admin", LFP_ACT_PERMIT, LFP_FF_HARD, 1);

	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK); /* not a veto */
	assert_ptr_equal(r.f, fw);
	tp_free(t);
}

/*
 * Within a sublayer, matching filters from the highest weight down; the
 * first permit or block ends it: a lower-weight filter is bypassed only
 * when a higher one in the same sublayer has answered.
 */
static void test_wfp_order_within_sublayer(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *hi_nomatch, *mid, *lo;
	struct lfp_classify_result r;

	hi_nomatch = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 30);
	cond(hi_nomatch, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	mid = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 20);
	cond(mid, LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.0.0.0/8"));
	lo = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 10);

	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_ptr_equal(r.filter, mid);
	lfp_classify_result_fini(&r);

	/* the weight-20 permit no longer matches: the block below it answers */
	addr(c.raddr, "11.1.1.1");
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_ptr_equal(r.filter, lo);
	lfp_classify_result_fini(&r);

	/* the weight-30 block matches now and wins over the rest */
	c.rport = 443;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_ptr_equal(r.filter, hi_nomatch);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/*
 * Every sublayer is evaluated even after one blocked; a sublayer with one
 * match-all filter sees all traffic even when another sublayer's
 * higher-weight filter bypasses the rest of its own.
 */
static void test_wfp_all_sublayers_evaluated(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *hb, *bypassed, *watch;
	struct lfp_classify_result r;

	tp_sublayer(t, 2, "top", 0xf000);
	tp_sublayer(t, 3, "watch", 0x10);
	hb = tp_filter(t, AC, "top", LFP_ACT_BLOCK, 0, 9);
	bypassed = tp_filter(t, AC, "top", LFP_ACT_PERMIT, 0, 1);
	tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 1);
	watch = tp_filter(t, AC, "watch", LFP_ACT_BLOCK, LFP_FF_SOFT, 1);

	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_ptr_equal(r.filter, hb);
	assert_int_equal(r.n_subs, 3);
	assert_ptr_equal(r.subs[0].filter, hb);
	assert_ptr_not_equal(r.subs[0].filter, bypassed);
	assert_string_equal(r.subs[1].sublayer->name, "default");
	assert_int_equal(r.subs[1].answer.ans, LFP_ANS_PERMIT);
	assert_ptr_equal(r.subs[2].filter, watch);
	assert_int_equal(r.subs[2].answer.ans, LFP_ANS_BLOCK);
	assert_false(r.subs[2].answer.hard);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/* ---- callouts ---- */

static void test_continue_moves_on(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *blk;
	struct lfp_classify_result r;

	tp_callout(t, "ids", LFP_CALLOUT_INSPECTION);
	tp_callout_filter(t, NULL, "count", 0, 30); /* built-in inspection */
	tp_callout_filter(t, NULL, "ids", 0, 20);   /* registered inspection */
	blk = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 10);

	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_ptr_equal(r.filter, blk);
	assert_ptr_equal(r.subs[0].filter, blk);
	lfp_classify_result_fini(&r);

	/* only inspection filters: the sublayer has no answer, the flow is permitted */
	t->p.n_filters = 2;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_null(r.filter);
	assert_int_equal(r.subs[0].answer.ans, LFP_ANS_NONE);
	assert_null(r.subs[0].filter);
	lfp_classify_result_fini(&r);
	t->p.n_filters = 3;
	tp_free(t);
}

static void test_no_match_permits(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *f;
	struct lfp_classify_result r;

	/* an empty policy: one (implicit default) sublayer, no answer */
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_false(r.hard);
	assert_null(r.filter);
	assert_int_equal(r.n_subs, 1);
	assert_int_equal(r.subs[0].answer.ans, LFP_ANS_NONE);
	lfp_classify_result_fini(&r);

	f = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	/* a filter of another layer never takes part */
	f = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	f->layer = LFP_LAYER_AUTH_RECV_ACCEPT;
	/* a filter in a sublayer the policy does not hold is not present */
	tp_filter(t, AC, "nowhere", LFP_ACT_BLOCK, 0, 1);

	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_null(r.filter);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

static void test_unregistered_callout(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *closed, *open;
	struct lfp_classify_result r;

	/* fail closed: a soft block from a callout */
	closed = tp_callout_filter(t, NULL, "gone", 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_false(r.hard);
	assert_ptr_equal(r.filter, closed);
	assert_true(r.subs[0].answer.callout);
	assert_false(r.subs[0].pend);
	lfp_classify_result_fini(&r);

	/* fail open: permit-if-callout-unregistered, a soft permit */
	closed->flags = LFP_FF_PERMIT_IF_UNREG;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_false(r.hard);
	assert_ptr_equal(r.filter, closed);
	lfp_classify_result_fini(&r);

	/* the soft block is overridden by a permit in a lower sublayer */
	closed->flags = 0;
	tp_sublayer(t, 5, "low", 0x10);
	open = tp_filter(t, AC, "low", LFP_ACT_PERMIT, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_ptr_equal(r.filter, open);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/* A registered terminating or unknown callout answers later, through its client: pend. */
static void test_registered_callout_pends(void **state)
{
	static const enum lfp_callout_type types[] = { LFP_CALLOUT_TERMINATING,
						       LFP_CALLOUT_UNKNOWN };

	for (size_t i = 0; i < 2; i++) {
		struct tp *t = tp_new();
		struct lfp_conn c = conn_tcp("10.1.1.1", 80);
		struct lfp_filter *co;
		struct lfp_classify_result r;

		tp_callout(t, "vpn-check", types[i]);
		co = tp_callout_filter(t, NULL, "vpn-check", 0, 5);
		tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1); /* not reached */
		assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
		assert_int_equal(r.verdict, LFP_V_PEND);
		assert_ptr_equal(r.filter, co);
		assert_true(r.subs[0].pend);
		lfp_classify_result_fini(&r);
		tp_free(t);
	}
}

/* ---- ties ---- */

static void test_equal_weights_oldest_first(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *newer, *older;
	struct res r;

	/* listed newest first, so position in the array cannot be what decides */
	newer = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 7);
	older = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 7);
	newer->id = 9;
	older->id = 4;
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_PERMIT);
	assert_ptr_equal(r.f, older);

	newer->id = 3;
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK);
	assert_ptr_equal(r.f, newer);

	/* a higher weight still beats age */
	older->weight = 8;
	r = run(t, &c);
	assert_ptr_equal(r.f, older);
	tp_free(t);
}

static void test_equal_sublayer_weights_by_id(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *in_b, *in_a;
	size_t order[3];
	struct res r;

	tp_sublayer(t, 7, "b", 100);
	tp_sublayer(t, 3, "a", 100);
	tp_sublayer(t, 9, "top", 200);
	assert_int_equal(lfp_policy_sublayer_order(&t->p, order), 0);
	assert_int_equal(order[0], 2); /* top: higher weight */
	assert_int_equal(order[1], 1); /* a: id 3 */
	assert_int_equal(order[2], 0); /* b: id 7 */

	/* soft answers: the later sublayer's answer wins, so the order shows */
	in_b = tp_filter(t, AC, "b", LFP_ACT_PERMIT, 0, 1);
	in_a = tp_filter(t, AC, "a", LFP_ACT_BLOCK, LFP_FF_SOFT, 1);
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_PERMIT);
	assert_ptr_equal(r.f, in_b);

	t->p.sublayers[0].id = 2; /* b is now older than a: evaluated first */
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK);
	assert_ptr_equal(r.f, in_a);
	tp_free(t);
}

static void test_default_sublayer(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *hi, *def, *lo;
	struct lfp_classify_result r;

	/* implicit: between 0x9000 and 0x100, with id 1 and weight 0x8000 */
	tp_sublayer(t, 2, "high", 0x9000);
	tp_sublayer(t, 3, "low", 0x100);
	tp_sublayer(t, 4, "same-weight", 0x8000); /* id 4 > 1: after default */
	hi = tp_filter(t, AC, "high", LFP_ACT_PERMIT, 0, 1);
	def = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, LFP_FF_SOFT, 1);
	lo = tp_filter(t, AC, "low", LFP_ACT_PERMIT, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.n_subs, 4);
	assert_string_equal(r.subs[0].sublayer->name, "high");
	assert_string_equal(r.subs[1].sublayer->name, "default");
	assert_int_equal(r.subs[1].sublayer->id, 1);
	assert_int_equal(r.subs[1].sublayer->weight, LFP_SUBLAYER_DEFAULT_WEIGHT);
	assert_string_equal(r.subs[2].sublayer->name, "same-weight");
	assert_string_equal(r.subs[3].sublayer->name, "low");
	assert_ptr_equal(r.subs[0].filter, hi);
	assert_ptr_equal(r.subs[1].filter, def);
	assert_ptr_equal(r.subs[3].filter, lo);
	assert_ptr_equal(r.filter, lo); /* soft permit, soft block, soft permit */
	lfp_classify_result_fini(&r);

	/* explicit: the policy's own entry is used (its weight), not a second one */
	tp_sublayer(t, 1, "default", 0x50);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.n_subs, 4);
	assert_ptr_equal(r.subs[3].sublayer, &t->p.sublayers[3]);
	assert_ptr_equal(r.subs[3].filter, def);
	assert_ptr_equal(r.filter, def); /* the default sublayer now answers last */
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	lfp_classify_result_fini(&r);

	/* a filter naming "default" is in the same sublayer as one naming none */
	free(def->sublayer);
	def->sublayer = strdup("default");
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_ptr_equal(r.subs[3].filter, def);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/* ---- ask and redirect ---- */

static void test_ask_pends(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *ask;
	struct lfp_classify_result r;

	tp_sublayer(t, 2, "user", 0x100);
	ask = tp_filter(t, AC, "user", LFP_ACT_ASK, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PEND);
	assert_false(r.hard);
	assert_ptr_equal(r.filter, ask);
	assert_true(r.subs[1].pend);
	lfp_classify_result_fini(&r);

	/* behind a soft permit the answer still matters: pend */
	tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PEND);
	assert_ptr_equal(r.filter, ask);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/* A hard permit above decides: the ask does not pend, and a pend never vetoes. */
static void test_ask_behind_hard_permit(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *hp, *hb;
	struct lfp_classify_result r;

	tp_sublayer(t, 2, "user", 0x100);
	hp = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, LFP_FF_HARD, 1);
	tp_filter(t, AC, "user", LFP_ACT_ASK, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_true(r.hard);
	assert_ptr_equal(r.filter, hp);
	assert_true(r.subs[1].pend); /* the ask was reached in its sublayer */
	lfp_classify_result_fini(&r);

	/* so does a hard block above it */
	hp->action.type = LFP_ACT_BLOCK;
	hp->flags = 0;
	hb = hp;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_ptr_equal(r.filter, hb);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

/* ask is reached only when no earlier filter of its sublayer answered */
static void test_ask_not_reached(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *p, *ask, *low;
	struct lfp_classify_result r;

	p = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 9);
	cond(p, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	ask = tp_filter(t, AC, NULL, LFP_ACT_ASK, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_ptr_equal(r.filter, p);
	assert_false(r.subs[0].pend);
	lfp_classify_result_fini(&r);

	c.rport = 81;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PEND);
	assert_ptr_equal(r.filter, ask);
	lfp_classify_result_fini(&r);

	/*
	 * A pend folds as a soft block: a permit in a lower sublayer overrides
	 * it, a hard block in a lower sublayer decides (docs/arbitration.md).
	 */
	tp_sublayer(t, 5, "low", 0x10);
	low = tp_filter(t, AC, "low", LFP_ACT_PERMIT, 0, 1);
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_PERMIT);
	assert_ptr_equal(r.filter, low);
	lfp_classify_result_fini(&r);
	low->action.type = LFP_ACT_BLOCK;
	assert_int_equal(lfp_oracle_classify(&t->p, &c, &r), 0);
	assert_int_equal(r.verdict, LFP_V_BLOCK);
	assert_true(r.hard);
	assert_ptr_equal(r.filter, low);
	lfp_classify_result_fini(&r);
	tp_free(t);
}

static void test_redirect(void **state)
{
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 80);
	struct lfp_filter *rd, *low;
	struct res r;

	c.layer = LFP_LAYER_CONNECT_REDIRECT;
	rd = tp_filter(t, AC, NULL, LFP_ACT_REDIRECT, 0, 1);
	rd->layer = LFP_LAYER_CONNECT_REDIRECT;
	rd->action.redirect = strdup("socks5://127.0.0.1:1080");
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_REDIRECT);
	assert_false(r.hard);
	assert_ptr_equal(r.f, rd);

	/* another soft permit below: the redirect stays the deciding filter */
	tp_sublayer(t, 5, "low", 0x10);
	low = tp_filter(t, AC, "low", LFP_ACT_PERMIT, 0, 1);
	low->layer = LFP_LAYER_CONNECT_REDIRECT;
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_REDIRECT);
	assert_ptr_equal(r.f, rd);

	/* a block below overrides the (soft) redirect */
	low->action.type = LFP_ACT_BLOCK;
	r = run(t, &c);
	assert_int_equal(r.v, LFP_V_BLOCK);
	assert_ptr_equal(r.f, low);
	tp_free(t);
}

/* ---- matching ---- */

static void test_match_int_ops(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 1024);

	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vi(1024), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vi(1023), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_NE, vi(1024), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_NE, vi(80), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_LT, vi(1024), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_LT, vi(1025), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_LE, vi(1024), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_LE, vi(1023), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_GT, vi(1024), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_GT, vi(1023), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_GE, vi(1024), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_GE, vi(1025), &c));
	/* ranges are closed at both ends */
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vr(1024, 2000), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vr(1000, 1024), &c));
	assert_false(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vr(1025, 2000), &c));
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_NE, vr(1025, 2000), &c));
	/* the other integer fields */
	c.pid = 4242;
	c.uid = 1000;
	c.gid = 100;
	c.ifindex = 3;
	c.icmp_type = 8;
	c.direction = LFP_DIR_OUTBOUND;
	assert_true(matches1(LFP_F_PROTO, LFP_OP_EQ, vi(6), &c));
	assert_false(matches1(LFP_F_PROTO, LFP_OP_EQ, vi(17), &c));
	assert_true(matches1(LFP_F_IPVER, LFP_OP_EQ, vi(4), &c));
	assert_true(matches1(LFP_F_PID, LFP_OP_EQ, vi(4242), &c));
	assert_true(matches1(LFP_F_USER, LFP_OP_GE, vi(1000), &c));
	assert_true(matches1(LFP_F_GROUP, LFP_OP_EQ, vi(100), &c));
	assert_true(matches1(LFP_F_IFACE, LFP_OP_EQ, vi(3), &c));
	assert_true(matches1(LFP_F_ICMP_TYPE, LFP_OP_EQ, vi(8), &c));
	assert_true(matches1(LFP_F_DIRECTION, LFP_OP_EQ, vi(LFP_DIR_OUTBOUND), &c));
	assert_false(matches1(LFP_F_DIRECTION, LFP_OP_EQ, vi(LFP_DIR_INBOUND), &c));
	/* a field the connection lacks reads as 0 */
	assert_true(matches1(LFP_F_LOCAL_PORT, LFP_OP_EQ, vi(0), &c));
	assert_true(matches1(LFP_F_ICMP_CODE, LFP_OP_EQ, vi(0), &c));
	assert_false(matches1(LFP_F_ORIG_PORT, LFP_OP_GT, vi(0), &c));
}

static void test_match_no_conditions(void **state)
{
	struct lfp_conn c = { .layer = AC };
	struct lfp_filter f = { 0 };

	assert_true(lfp_filter_matches(&f, &c));
}

static void test_match_prefix(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.2.3", 80);

	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("10.0.0.0/8"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("10.1.2.0/24"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("10.1.2.3"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("0.0.0.0/0"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("10.1.3.0/24"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("11.0.0.0/8"), &c));
	/* not-prefix */
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_NE, vp("10.0.0.0/8"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_NE, vp("192.168.0.0/16"), &c));
	/* address ranges */
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vrange("10.1.2.1", "10.1.2.9"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vrange("10.1.2.4", "10.1.2.9"), &c));
	/* the other address fields */
	addr(c.laddr, "192.168.1.10");
	addr(c.oaddr, "203.0.113.5");
	assert_true(matches1(LFP_F_LOCAL_ADDR, LFP_OP_EQ, vp("192.168.0.0/16"), &c));
	assert_false(matches1(LFP_F_LOCAL_ADDR, LFP_OP_EQ, vp("10.0.0.0/8"), &c));
	assert_true(matches1(LFP_F_ORIG_ADDR, LFP_OP_EQ, vp("203.0.113.0/24"), &c));
	/* v6 */
	c = conn_tcp("2001:db8::1", 80);
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("2001:db8::/32"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("2001:db9::/32"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::/0"), &c));
}

static void test_match_v4_prefix_never_v6(void **state)
{
	struct lfp_conn c = conn_tcp("2001:db8::1", 80);

	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("0.0.0.0/0"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_NE, vp("0.0.0.0/0"), &c));
	/* not even the IPv4-compatible ::a.b.c.d or the zero address */
	addr(c.raddr, "::10.1.2.3");
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("10.0.0.0/8"), &c));
}

static void test_match_v6_prefix_never_v4(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.2.3", 80);

	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::/0"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::/8"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vrange("::", "::ffff:ffff:ffff"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_NE, vp("::/0"), &c));
	/* unless the v6 text itself lies inside ::ffff:0:0/96 */
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::ffff:10.0.0.0/104"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::ffff:0:0/96"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::ffff:11.0.0.0/104"), &c));
}

static void test_match_v4mapped_is_v4(void **state)
{
	/* an IPv6 socket talking to a v4-mapped peer is an IPv4 connection */
	struct lfp_conn c = conn_tcp("::ffff:192.168.1.5", 80);

	assert_int_equal(c.ipver, 4);
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("192.168.0.0/16"), &c));
	assert_true(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("192.168.1.5"), &c));
	assert_false(matches1(LFP_F_REMOTE_ADDR, LFP_OP_EQ, vp("::/0"), &c));
}

static void test_match_or_and(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);
	struct lfp_filter f = { 0 }, g = { 0 };

	/* a set is OR */
	assert_true(matches1(LFP_F_REMOTE_PORT, LFP_OP_EQ, vi(443), &c));
	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 2, vi(80), vi(443));
	assert_true(lfp_filter_matches(&f, &c));
	c.rport = 22;
	assert_false(lfp_filter_matches(&f, &c));
	lfp_filter_fini(&f);

	/* `!=` with a set: none of them */
	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_NE, 2, vi(80), vi(443));
	assert_true(lfp_filter_matches(&f, &c));
	c.rport = 80;
	assert_false(lfp_filter_matches(&f, &c));
	c.rport = 443;
	assert_false(lfp_filter_matches(&f, &c));
	lfp_filter_fini(&f);

	/* two conditions on one field are OR'ed too */
	cond(&g, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	cond(&g, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	assert_true(lfp_filter_matches(&g, &c));
	c.rport = 80;
	assert_true(lfp_filter_matches(&g, &c));
	c.rport = 22;
	assert_false(lfp_filter_matches(&g, &c));

	/* different fields AND */
	c.rport = 443;
	cond(&g, LFP_F_PROTO, LFP_OP_EQ, 1, vi(17));
	assert_false(lfp_filter_matches(&g, &c));
	c.proto = 17;
	assert_true(lfp_filter_matches(&g, &c));
	cond(&g, LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.0.0.0/8"));
	assert_true(lfp_filter_matches(&g, &c));
	addr(c.raddr, "11.1.1.1");
	assert_false(lfp_filter_matches(&g, &c));
	lfp_filter_fini(&g);
}

static void test_match_flags(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);
	const uint64_t lo = LFP_CF_LOOPBACK, rd = LFP_CF_REDIRECTED, raw = LFP_CF_RAW;
	struct lfp_filter f = { 0 };

	/* flags loopback+redirected: all set */
	c.flags = LFP_CF_LOOPBACK;
	assert_true(matches1(LFP_F_FLAGS, LFP_OP_EQ, vf(lo), &c));
	assert_false(matches1(LFP_F_FLAGS, LFP_OP_EQ, vf(lo | rd), &c));
	c.flags = LFP_CF_LOOPBACK | LFP_CF_REDIRECTED | LFP_CF_REAUTHORIZE;
	assert_true(matches1(LFP_F_FLAGS, LFP_OP_EQ, vf(lo | rd), &c));

	/* flags {loopback, raw}: any set */
	cond(&f, LFP_F_FLAGS, LFP_OP_EQ, 2, vf(lo), vf(raw));
	c.flags = LFP_CF_RAW;
	assert_true(lfp_filter_matches(&f, &c));
	c.flags = LFP_CF_REDIRECTED;
	assert_false(lfp_filter_matches(&f, &c));
	lfp_filter_fini(&f);

	/* flags != loopback: not set; flags != {loopback, raw}: none set */
	c.flags = 0;
	assert_true(matches1(LFP_F_FLAGS, LFP_OP_NE, vf(lo), &c));
	c.flags = LFP_CF_LOOPBACK;
	assert_false(matches1(LFP_F_FLAGS, LFP_OP_NE, vf(lo), &c));
	cond(&f, LFP_F_FLAGS, LFP_OP_NE, 2, vf(lo), vf(raw));
	c.flags = LFP_CF_REDIRECTED;
	assert_true(lfp_filter_matches(&f, &c));
	c.flags = LFP_CF_RAW | LFP_CF_REDIRECTED;
	assert_false(lfp_filter_matches(&f, &c));
	lfp_filter_fini(&f);
}

static void test_match_app(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);
	struct lfp_value absent = vapp("/opt/not-installed", 0, 0), stale;
	struct lfp_filter f = { 0 };

	/* online: identity, never the name */
	c.app_dev = (8 << 20) | 1;
	c.app_ino = 1234;
	c.app_path = strdup("/tmp/renamed-curl");
	assert_true(matches1(LFP_F_APP, LFP_OP_EQ, vapp("/usr/bin/curl", (8 << 20) | 1, 1234), &c));
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, vapp("/tmp/renamed-curl", (8 << 20) | 1, 99),
			      &c)); /* a copy at the same path is another app */
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, vs(LFP_VF_PATH, "/tmp/renamed-curl"), &c));
	/* an identity left over from an earlier resolution that failed since does not count */
	stale = vapp("/usr/bin/curl", (8 << 20) | 1, 1234);
	stale.resolved = false;
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, stale, &c));
	absent.absent = true;
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, absent, &c));

	/* offline: the described connection names its app by path */
	c.app_dev = c.app_ino = 0;
	free(c.app_path);
	c.app_path = strdup("/usr/bin/curl");
	assert_true(matches1(LFP_F_APP, LFP_OP_EQ, vs(LFP_VF_PATH, "/usr/bin/curl"), &c));
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, vs(LFP_VF_PATH, "/usr/bin/curl2"), &c));
	assert_true(matches1(LFP_F_APP, LFP_OP_NE, vs(LFP_VF_PATH, "/usr/bin/wget"), &c));
	absent = vapp("/usr/bin/curl", 0, 0);
	absent.absent = true;
	assert_false(matches1(LFP_F_APP, LFP_OP_EQ, absent, &c));

	/* a connection without any app matches no app condition */
	lfp_conn_fini(&c);
	cond(&f, LFP_F_APP, LFP_OP_EQ, 1, vs(LFP_VF_PATH, "/usr/bin/curl"));
	assert_false(lfp_filter_matches(&f, &c));
	lfp_filter_fini(&f);
}

static void test_match_cgroup(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);
	struct lfp_value absent = vcg("/gone", 0);

	/* online: the value's id is the connection's cgroup or an ancestor */
	c.cgroup_ids[0] = 1;
	c.cgroup_ids[1] = 50;
	c.cgroup_ids[2] = 60;
	c.cgroup_depth = 3;
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vcg("/a", 50), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vcg("/a/b", 60), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vcg("/", 1), &c));
	assert_false(matches1(LFP_F_CGROUP, LFP_OP_EQ, vcg("/c", 70), &c));
	absent.absent = true;
	assert_false(matches1(LFP_F_CGROUP, LFP_OP_EQ, absent, &c));
	c.cgroup_depth = 1; /* only the root is valid */
	assert_false(matches1(LFP_F_CGROUP, LFP_OP_EQ, vcg("/a", 50), &c));

	/* offline: the path and its subtree, by whole components */
	c.cgroup_depth = 0;
	c.cgroup_path = strdup("/a");
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a"), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/"), &c));
	assert_false(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a/b"), &c));
	free(c.cgroup_path);
	c.cgroup_path = strdup("/a/b/c");
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a"), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a/"), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a/b"), &c));
	free(c.cgroup_path);
	c.cgroup_path = strdup("/ab");
	assert_false(matches1(LFP_F_CGROUP, LFP_OP_EQ, vs(LFP_VF_PATH, "/a"), &c));
	assert_true(matches1(LFP_F_CGROUP, LFP_OP_NE, vs(LFP_VF_PATH, "/a"), &c));
	lfp_conn_fini(&c);
}

static void test_match_names(void **state)
{
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);

	c.uid = 1000;
	c.gid = 0;
	c.ifindex = 0;
	assert_true(matches1(LFP_F_USER, LFP_OP_EQ, vn("alice", 1000), &c));
	assert_false(matches1(LFP_F_USER, LFP_OP_EQ, vn("bob", 1001), &c));
	/* an unresolved name is not id 0 */
	assert_false(matches1(LFP_F_GROUP, LFP_OP_EQ, vs(LFP_VF_NAME, "wheel"), &c));
	assert_true(matches1(LFP_F_GROUP, LFP_OP_EQ, vi(0), &c));
	assert_false(matches1(LFP_F_IFACE, LFP_OP_EQ, vs(LFP_VF_NAME, "eth9"), &c));
	assert_false(matches1(LFP_F_USER, LFP_OP_GE, vs(LFP_VF_NAME, "nobody"), &c));
	c.ifindex = 2;
	assert_true(matches1(LFP_F_IFACE, LFP_OP_EQ, vn("eth0", 2), &c));
}

/* ---- weights ---- */

static uint64_t weight_of(enum lfp_weight_kind kind, uint64_t arg, struct lfp_filter *f)
{
	uint64_t w;

	f->wkind = kind;
	f->weight_arg = arg;
	lfp_filter_weight(f);
	w = f->weight;
	lfp_filter_fini(f);
	return w;
}

/* auto weight of a filter with one condition */
static uint64_t w1(enum lfp_field field, enum lfp_op op, size_t n, struct lfp_value a,
		   struct lfp_value b)
{
	struct lfp_filter f = { 0 };

	if (n == 1)
		cond(&f, field, op, 1, a);
	else
		cond(&f, field, op, 2, a, b);
	return weight_of(LFP_W_AUTO, 0, &f);
}

#define W1(field, v)	   w1(field, LFP_OP_EQ, 1, v, vi(0))
#define W1OP(field, op, v) w1(field, op, 1, v, vi(0))
#define W2(field, a, b)	   w1(field, LFP_OP_EQ, 2, a, b)

static void test_weight_kinds(void **state)
{
	struct lfp_filter f = { 0 };
	uint64_t gen, cls;

	assert_int_equal(weight_of(LFP_W_EXPLICIT, 12345, &f), 12345);
	assert_int_equal(weight_of(LFP_W_EXPLICIT, UINT64_MAX, &f), UINT64_MAX);
	assert_int_equal(weight_of(LFP_W_AUTO, 0, &f), 0);

	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	gen = weight_of(LFP_W_AUTO, 0, &f);
	assert_true(gen > 0 && gen < (1ull << 60));
	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	cls = weight_of(LFP_W_CLASS, 3, &f);
	assert_int_equal(cls, (3ull << 60) | gen); /* class N: top four bits, low 60 generated */

	/* class ordering beats any specificity */
	cond(&f, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	cond(&f, LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.1.2.3"));
	cls = weight_of(LFP_W_CLASS, 1, &f);
	assert_true(weight_of(LFP_W_CLASS, 2, &f) > cls);
	assert_true(cls > gen);
	cond(&f, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	cond(&f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	assert_true(weight_of(LFP_W_AUTO, 0, &f) < weight_of(LFP_W_CLASS, 1, &f));
	assert_int_equal(weight_of(LFP_W_CLASS, 15, &f) >> 60, 15);
}

static void test_weight_specificity(void **state)
{
	struct lfp_filter f = { 0 }, g = { 0 };
	uint64_t a, b, c, d;

	/* more fields beat fewer */
	a = W1(LFP_F_REMOTE_ADDR, vp("10.1.2.3"));
	cond(&f, LFP_F_PROTO, LFP_OP_EQ, 2, vi(6), vi(17));
	cond(&f, LFP_F_IPVER, LFP_OP_EQ, 1, vi(4));
	b = weight_of(LFP_W_AUTO, 0, &f);
	assert_true(b > a);

	/* longer prefixes beat shorter, per family */
	a = W1(LFP_F_REMOTE_ADDR, vp("10.0.0.0/8"));
	b = W1(LFP_F_REMOTE_ADDR, vp("10.1.0.0/16"));
	c = W1(LFP_F_REMOTE_ADDR, vp("10.1.2.0/24"));
	d = W1(LFP_F_REMOTE_ADDR, vp("10.1.2.3/32"));
	assert_true(a < b && b < c && c < d);
	assert_true(W1(LFP_F_REMOTE_ADDR, vp("0.0.0.0/0")) < a);
	a = W1(LFP_F_REMOTE_ADDR, vp("2001:db8::/32"));
	b = W1(LFP_F_REMOTE_ADDR, vp("2001:db8::/64"));
	c = W1(LFP_F_REMOTE_ADDR, vp("2001:db8::1"));
	assert_true(a < b && b < c);
	/* exact v4 and exact v6 addresses are equally specific */
	assert_int_equal(c, d);
	/* address ranges: narrower beats wider */
	assert_true(W1(LFP_F_REMOTE_ADDR, vrange("10.0.0.1", "10.0.0.200")) <
		    W1(LFP_F_REMOTE_ADDR, vrange("10.0.0.1", "10.0.0.9")));

	/* exact values beat ranges; narrower ranges beat wider */
	a = W1(LFP_F_REMOTE_PORT, vr(1000, 2000));
	b = W1(LFP_F_REMOTE_PORT, vr(1000, 1500));
	c = W1(LFP_F_REMOTE_PORT, vr(1000, 1001));
	d = W1(LFP_F_REMOTE_PORT, vi(1200));
	assert_true(a < b && b < c && c < d);
	assert_true(W1(LFP_F_REMOTE_PORT, vr(1000, 1600)) < W1(LFP_F_REMOTE_PORT, vr(1000, 1599)));
	assert_true(W1(LFP_F_REMOTE_PORT, vr(0, 65535)) < a);

	/* a set counts by its widest member */
	assert_int_equal(W2(LFP_F_REMOTE_PORT, vi(80), vr(1000, 2000)), a);
	assert_int_equal(W2(LFP_F_REMOTE_PORT, vi(80), vi(443)), d);
	/* so do two conditions on one field */
	cond(&g, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	cond(&g, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vr(1000, 1500));
	assert_int_equal(weight_of(LFP_W_AUTO, 0, &g), b);

	/* comparisons are ranges */
	assert_true(W1OP(LFP_F_REMOTE_PORT, LFP_OP_LT, vi(1000)) <
		    W1OP(LFP_F_REMOTE_PORT, LFP_OP_LT, vi(100)));
	assert_true(W1OP(LFP_F_REMOTE_PORT, LFP_OP_GE, vi(1000)) <
		    W1OP(LFP_F_REMOTE_PORT, LFP_OP_GT, vi(60000)));
	assert_int_equal(W1OP(LFP_F_REMOTE_PORT, LFP_OP_LE, vi(99)),
			 W1OP(LFP_F_REMOTE_PORT, LFP_OP_LT, vi(100)));
	assert_int_equal(W1OP(LFP_F_REMOTE_PORT, LFP_OP_GT, vi(99)),
			 W1OP(LFP_F_REMOTE_PORT, LFP_OP_GE, vi(100)));
	assert_int_equal(W1OP(LFP_F_REMOTE_PORT, LFP_OP_GE, vi(100)),
			 W1(LFP_F_REMOTE_PORT, vr(100, 65535)));

	/* `!=` constrains a field but adds no specificity */
	a = W1OP(LFP_F_REMOTE_PORT, LFP_OP_NE, vi(80));
	assert_true(a < W1(LFP_F_REMOTE_PORT, vi(80)));
	assert_true(a > 0);
	assert_true(a <= W1(LFP_F_REMOTE_PORT, vr(0, 65535)));

	/* flags: all of two beats one */
	assert_true(W1(LFP_F_FLAGS, vf(LFP_CF_LOOPBACK)) <
		    W1(LFP_F_FLAGS, vf(LFP_CF_LOOPBACK | LFP_CF_REDIRECTED)));
	/* cgroups: deeper beats shallower, the root constrains nothing */
	a = W1(LFP_F_CGROUP, vs(LFP_VF_PATH, "/"));
	b = W1(LFP_F_CGROUP, vs(LFP_VF_PATH, "/a"));
	c = W1(LFP_F_CGROUP, vs(LFP_VF_PATH, "/a/b"));
	assert_true(a < b && b < c);
	/* an app is one identity; a user name is one id, resolved or not */
	assert_int_equal(W1(LFP_F_APP, vs(LFP_VF_PATH, "/usr/bin/curl")), d);
	assert_int_equal(W1(LFP_F_USER, vs(LFP_VF_NAME, "alice")), W1(LFP_F_USER, vi(1000)));
	assert_int_equal(W1(LFP_F_USER, vn("alice", 1000)), W1(LFP_F_USER, vi(1000)));

	/* deterministic, and below 2^60 even with every field exact */
	assert_int_equal(W1(LFP_F_REMOTE_PORT, vr(1000, 2000)),
			 W1(LFP_F_REMOTE_PORT, vr(1000, 2000)));
	for (int fld = 0; fld < LFP_F_COUNT; fld++)
		cond(&f, (enum lfp_field)fld, LFP_OP_EQ, 1,
		     fld == LFP_F_LOCAL_ADDR || fld == LFP_F_REMOTE_ADDR || fld == LFP_F_ORIG_ADDR
			     ? vp("2001:db8::1")
		     : fld == LFP_F_APP || fld == LFP_F_CGROUP ? vs(LFP_VF_PATH, "/x/y/z")
							       : vi(1));
	a = weight_of(LFP_W_AUTO, 0, &f);
	assert_true(a < (1ull << 60));
	assert_int_equal(a >> 56, 15); /* the field count saturates, never spills into the class */
	assert_true(a > W1(LFP_F_REMOTE_ADDR, vp("2001:db8::1")));
}

/* ---- resolution ---- */

struct fake {
	bool curl_exists;
	int calls;
};

static int fake_app(void *ctx, const char *path, uint64_t *dev, uint64_t *ino)
{
	struct fake *fk = ctx;

	fk->calls++;
	if (!strcmp(path, "/usr/bin/curl") && fk->curl_exists) {
		*dev = (8 << 20) | 1;
		*ino = 100;
		return 0;
	}
	if (!strcmp(path, "/usr/bin/wget")) {
		*dev = (8 << 20) | 1;
		*ino = 200;
		return 0;
	}
	if (!strcmp(path, "/denied"))
		return -EACCES;
	return -ENOENT;
}

static int fake_user(void *ctx, const char *name, uint32_t *uid)
{
	if (strcmp(name, "alice"))
		return -ENOENT;
	*uid = 1000;
	return 0;
}

static int fake_group(void *ctx, const char *name, uint32_t *gid)
{
	if (strcmp(name, "staff"))
		return -ENOENT;
	*gid = 50;
	return 0;
}

static int fake_cgroup(void *ctx, const char *path, uint64_t *id)
{
	if (strcmp(path, "/srv"))
		return -ENOENT;
	*id = 77;
	return 0;
}

static int fake_iface(void *ctx, const char *name, uint32_t *ifindex)
{
	if (strcmp(name, "eth0"))
		return -ENOENT;
	*ifindex = 2;
	return 0;
}

static void test_resolve_fake(void **state)
{
	struct fake fk = { 0 };
	struct lfp_resolver r = { fake_app, fake_user, fake_group, fake_cgroup, &fk, fake_iface };
	struct lfp_diags d = { 0 };
	struct tp *t = tp_new();
	struct lfp_conn c = conn_tcp("10.1.1.1", 443);
	struct lfp_filter *curl, *wget, *who;
	const struct lfp_value *v;

	curl = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 2);
	curl->name = strdup("no-curl");
	cond(curl, LFP_F_APP, LFP_OP_EQ, 1, vs(LFP_VF_PATH, "/usr/bin/curl"));
	wget = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 3);
	cond(wget, LFP_F_APP, LFP_OP_EQ, 1, vs(LFP_VF_PATH, "/usr/bin/wget"));
	who = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 1);
	cond(who, LFP_F_USER, LFP_OP_EQ, 2, vs(LFP_VF_NAME, "alice"), vi(0));
	cond(who, LFP_F_GROUP, LFP_OP_EQ, 1, vs(LFP_VF_NAME, "staff"));
	cond(who, LFP_F_CGROUP, LFP_OP_EQ, 2, vs(LFP_VF_PATH, "/srv"), vs(LFP_VF_PATH, "/nope"));
	cond(who, LFP_F_IFACE, LFP_OP_EQ, 2, vs(LFP_VF_NAME, "eth0"), vs(LFP_VF_NAME, "eth7"));

	assert_int_equal(lfp_policy_resolve(&t->p, &r, &d), 0);
	assert_int_equal(d.n, 0);
	v = &curl->conds[0].v[0];
	assert_true(v->resolved && v->absent); /* curl is not installed: not an error */
	v = &wget->conds[0].v[0];
	assert_true(v->resolved && !v->absent);
	assert_int_equal(v->lo, (8 << 20) | 1);
	assert_int_equal(v->hi, 200);
	assert_int_equal(who->conds[0].v[0].lo, 1000);
	assert_int_equal(who->conds[0].v[0].hi, 1000);
	assert_false(who->conds[0].v[1].resolved); /* numbers need no resolving */
	assert_int_equal(who->conds[1].v[0].lo, 50);
	assert_int_equal(who->conds[2].v[0].lo, 77);
	assert_true(who->conds[2].v[1].absent);
	assert_int_equal(who->conds[3].v[0].lo, 2);
	assert_true(who->conds[3].v[1].absent);

	/* an absent app matches nothing: not the conn with no identity, not a path match */
	c.app_dev = (8 << 20) | 1;
	c.app_ino = 100;
	c.uid = 1000;
	c.gid = 50;
	c.cgroup_ids[0] = 1;
	c.cgroup_ids[1] = 77;
	c.cgroup_depth = 2;
	c.ifindex = 2;
	assert_false(lfp_filter_matches(curl, &c));
	c.app_path = strdup("/usr/bin/curl");
	c.app_dev = c.app_ino = 0;
	assert_false(lfp_filter_matches(curl, &c));
	c.app_dev = (8 << 20) | 1;
	c.app_ino = 100;
	assert_true(lfp_filter_matches(who, &c));
	assert_int_equal(run(t, &c).v, LFP_V_PERMIT);
	c.app_ino = 200;
	assert_int_equal(run(t, &c).v, LFP_V_BLOCK);

	/* curl gets installed: the next commit re-resolves it */
	fk.curl_exists = true;
	assert_int_equal(lfp_policy_resolve(&t->p, &r, &d), 0);
	v = &curl->conds[0].v[0];
	assert_true(v->resolved && !v->absent);
	assert_int_equal(v->hi, 100);
	c.app_ino = 100;
	assert_true(lfp_filter_matches(curl, &c));

	lfp_conn_fini(&c);
	lfp_diags_fini(&d);
	tp_free(t);
}

static void test_resolve_errors_name_the_filter(void **state)
{
	struct fake fk = { 0 };
	struct lfp_resolver r = { fake_app, fake_user, fake_group, fake_cgroup, &fk, NULL };
	struct lfp_diags d = { 0 };
	struct tp *t = tp_new();
	struct lfp_filter *named, *anon, *denied, *all;
	struct lfp_value mallory = vs(LFP_VF_NAME, "mallory");

	mallory.loc = (struct lfp_loc){ 4, 21 };
	named = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	named->name = strdup("no-mallory");
	cond(named, LFP_F_USER, LFP_OP_EQ, 1, mallory);
	anon = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	named = &t->p.filters[0]; /* tp_filter may move the array */
	anon->id = 42;
	cond(anon, LFP_F_GROUP, LFP_OP_EQ, 1, vs(LFP_VF_NAME, "wheel"));
	/* without an iface resolver the name stays unresolved (and matches nothing) */
	cond(anon, LFP_F_IFACE, LFP_OP_EQ, 1, vs(LFP_VF_NAME, "eth0"));

	assert_int_equal(lfp_policy_resolve(&t->p, &r, &d), -EINVAL);
	assert_int_equal(lfp_diags_errors(&d), 2);
	assert_non_null(strstr(d.v[0].msg, "no-mallory"));
	assert_non_null(strstr(d.v[0].msg, "mallory'"));
	assert_non_null(strstr(d.v[0].msg, "user"));
	assert_int_equal(d.v[0].loc.line, 4);
	assert_int_equal(d.v[0].loc.col, 21);
	assert_non_null(strstr(d.v[1].msg, "42"));
	assert_non_null(strstr(d.v[1].msg, "wheel"));
	assert_false(named->conds[0].v[0].resolved);
	assert_false(anon->conds[1].v[0].resolved);
	lfp_diags_fini(&d);

	/* a system failure is reported too, and returned as is */
	denied = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	denied->name = strdup("denied");
	cond(denied, LFP_F_APP, LFP_OP_EQ, 1, vs(LFP_VF_PATH, "/denied"));
	all = t->p.filters;
	t->p.filters = denied;
	t->p.n_filters = 1;
	assert_int_equal(lfp_policy_resolve(&t->p, &r, &d), -EACCES);
	assert_int_equal(lfp_diags_errors(&d), 1);
	assert_non_null(strstr(d.v[0].msg, "denied"));
	t->p.filters = all;
	t->p.n_filters = 3;
	lfp_diags_fini(&d);
	tp_free(t);
}

static void own_cgroup(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[4096];

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + 3);
		}
	fclose(f);
	assert_true(out[0] == '/');
}

static void cgroup2_root(char *out, size_t len)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;

	assert_non_null(f);
	out[0] = '\0';
	while ((m = getmntent(f)))
		if (!strcmp(m->mnt_type, "cgroup2") && !out[0])
			snprintf(out, len, "%s", m->mnt_dir);
	endmntent(f);
	assert_true(out[0] == '/');
}

/* explain's "which layer acts": the redirect layers run before their authorization layers */
static void test_layer_before(void **state)
{
	(void)state;
	assert_int_equal(lfp_oracle_layer_before(LFP_LAYER_AUTH_CONNECT),
			 LFP_LAYER_CONNECT_REDIRECT);
	assert_int_equal(lfp_oracle_layer_before(LFP_LAYER_RESOURCE_ASSIGNMENT),
			 LFP_LAYER_BIND_REDIRECT);
	for (int l = 0; l < LFP_LAYER_COUNT; l++)
		if (l != LFP_LAYER_AUTH_CONNECT && l != LFP_LAYER_RESOURCE_ASSIGNMENT)
			assert_int_equal(lfp_oracle_layer_before(l), -ENOENT);
	assert_int_equal(lfp_oracle_layer_before(LFP_LAYER_COUNT), -ENOENT);
}

static void test_resolve_system(void **state)
{
	const struct lfp_resolver *r = &lfp_resolver_system;
	char mnt[1024], cg[4096], full[5200];
	uint64_t dev, ino, id;
	uint32_t x;
	struct stat st;

	/* app: the identity of the file a path (or symlink) leads to, kernel dev encoding */
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	assert_int_equal(r->app(r->ctx, "/proc/self/exe", &dev, &ino), 0);
	assert_int_equal(dev, ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev));
	assert_int_equal(ino, st.st_ino);
	assert_int_equal(r->app(r->ctx, "/nonexistent/lfp-test", &dev, &ino), -ENOENT);
	assert_int_equal(r->app(r->ctx, "/etc/passwd/x", &dev, &ino), -ENOENT);

	assert_int_equal(r->user(r->ctx, "root", &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(r->user(r->ctx, "lfp-no-such-user-q7", &x), -ENOENT);
	assert_int_equal(r->group(r->ctx, "root", &x), 0);
	assert_int_equal(x, 0);
	assert_int_equal(r->group(r->ctx, "lfp-no-such-group-q7", &x), -ENOENT);

	/* cgroup: the inode of the directory under the cgroup2 mount */
	cgroup2_root(mnt, sizeof(mnt));
	own_cgroup(cg, sizeof(cg));
	snprintf(full, sizeof(full), "%s%s", mnt, cg);
	assert_int_equal(stat(full, &st), 0);
	assert_int_equal(r->cgroup(r->ctx, cg, &id), 0);
	assert_int_equal(id, st.st_ino);
	assert_int_equal(stat(mnt, &st), 0);
	assert_int_equal(r->cgroup(r->ctx, "/", &id), 0);
	assert_int_equal(id, st.st_ino);
	assert_int_equal(r->cgroup(r->ctx, "/lfp-no-such-cgroup-q7", &id), -ENOENT);

	assert_int_equal(r->iface(r->ctx, "lo", &x), 0);
	assert_int_equal(x, if_nametoindex("lo"));
	assert_int_equal(r->iface(r->ctx, "lfpnosuch0", &x), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layer_before),
		cmocka_unit_test(test_fold_table),
		cmocka_unit_test(test_wfp_soft_block_overridden),
		cmocka_unit_test(test_wfp_hard_block_final),
		cmocka_unit_test(test_wfp_remote_admin_hard_permit),
		cmocka_unit_test(test_wfp_veto),
		cmocka_unit_test(test_wfp_higher_sublayer_overrides_silently),
		cmocka_unit_test(test_wfp_order_within_sublayer),
		cmocka_unit_test(test_wfp_all_sublayers_evaluated),
		cmocka_unit_test(test_continue_moves_on),
		cmocka_unit_test(test_no_match_permits),
		cmocka_unit_test(test_unregistered_callout),
		cmocka_unit_test(test_registered_callout_pends),
		cmocka_unit_test(test_equal_weights_oldest_first),
		cmocka_unit_test(test_equal_sublayer_weights_by_id),
		cmocka_unit_test(test_default_sublayer),
		cmocka_unit_test(test_ask_pends),
		cmocka_unit_test(test_ask_behind_hard_permit),
		cmocka_unit_test(test_ask_not_reached),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_match_int_ops),
		cmocka_unit_test(test_match_no_conditions),
		cmocka_unit_test(test_match_prefix),
		cmocka_unit_test(test_match_v4_prefix_never_v6),
		cmocka_unit_test(test_match_v6_prefix_never_v4),
		cmocka_unit_test(test_match_v4mapped_is_v4),
		cmocka_unit_test(test_match_or_and),
		cmocka_unit_test(test_match_flags),
		cmocka_unit_test(test_match_app),
		cmocka_unit_test(test_match_cgroup),
		cmocka_unit_test(test_match_names),
		cmocka_unit_test(test_weight_kinds),
		cmocka_unit_test(test_weight_specificity),
		cmocka_unit_test(test_resolve_fake),
		cmocka_unit_test(test_resolve_errors_name_the_filter),
		cmocka_unit_test(test_resolve_system),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
