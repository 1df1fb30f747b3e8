// SPDX-License-Identifier: MIT
/*
 * Lowering and the shared evaluator (lib/lower.c, lib/eval_user.c,
 * common/lfp_eval.h): label partitioning per field kind and operator,
 * limits, unsupported actions, and a differential test that holds the
 * kernel's algorithm (run in user space) against the oracle on random
 * policies and connections.
 *
 * The random policies and connections come from tests/common/gen.c, shared
 * with the BPF differential test (tests/harness/test_bpf_diff.c).
 *
 * Environment: LFP_DIFF_SEED (default 1), LFP_DIFF_CASES (default 200000).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lfp/layer.h>
#include <lfp/lower.h>
#include <lfp/oracle.h>

#include "../common/gen.h"

/* ---- connections ---- */

static struct lfp_conn conn_tcp(const char *raddr, uint16_t rport)
{
	struct lfp_conn c = { .layer = AC, .proto = 6, .rport = rport };

	addr(c.raddr, raddr);
	c.ipver = strchr(raddr, ':') && strncmp(raddr, "::ffff:", 7) ? 6 : 4;
	return c;
}

/* ---- lowering and checking ---- */

static int cmp_mem_hash(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct lfp_hash_key));
}

static bool lpm_key_contains(const struct lfp_lpm_key *a, const struct lfp_lpm_key *b)
{
	for (unsigned int bit = 0; bit < a->prefixlen; bit++)
		if ((a->data[bit / 8] ^ b->data[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/*
 * The layout lfp_lowered_classify() and lfpd rely on: rule and hash keys
 * strictly increasing, LPM entries increasing and pairwise disjoint, tuples
 * of a layer contiguous and grouped by sublayer rank, every rule pointing
 * at a filter.
 */
static void check_layout(const struct lfp_lowered *lw)
{
	for (size_t i = 1; i < lw->n_rules; i++)
		assert_true(memcmp(&lw->rule_keys[i - 1], &lw->rule_keys[i],
				   sizeof(struct lfp_rule_key)) < 0);
	for (size_t i = 0; i < lw->n_rules; i++) {
		assert_true(lw->rule_vals[i].filter_idx < lw->n_filters);
		assert_true(lw->rule_keys[i].tuple < lw->n_tuples);
	}
	for (size_t i = 1; i < lw->n_hash; i++)
		assert_true(cmp_mem_hash(&lw->hash_keys[i - 1], &lw->hash_keys[i]) < 0);
	for (size_t i = 0; i < lw->n_lpm; i++)
		assert_true(lw->lpm_vals[i] != 0);
	for (size_t i = 1; i < lw->n_lpm; i++) {
		const struct lfp_lpm_key *a = &lw->lpm_keys[i - 1], *b = &lw->lpm_keys[i];

		assert_true(memcmp(a->data, b->data, sizeof(a->data)) < 0);
		assert_false(lpm_key_contains(a, b));
	}
	for (int l = 0; l < LFP_LAYER_COUNT; l++) {
		const struct lfp_layer_cfg *cfg = &lw->layer_cfg[l];
		uint32_t used = 0;

		assert_true(cfg->n_tuples <= LFP_MAX_TUPLES);
		assert_true(cfg->n_sublayers <= LFP_MAX_SUBLAYERS);
		for (uint32_t i = 0; i < cfg->n_tuples; i++) {
			const struct lfp_tuple *t = &lw->tuples[cfg->tuple_base + i];

			assert_int_equal(t->id, cfg->tuple_base + i);
			if (i)
				assert_true(t->sublayer_rank >=
					    lw->tuples[t->id - 1].sublayer_rank);
			assert_true(t->sublayer_rank < cfg->n_sublayers);
			for (unsigned int j = 0; j < t->nfields; j++)
				used |= 1u << t->fields[j];
		}
		assert_int_equal(used, cfg->used_fields);
	}
}

static void lower_ok(const struct tp *t, struct lfp_lowered *lw)
{
	struct lfp_diags d = { 0 };
	int r = lfp_lower(&t->p, NULL, lw, &d);

	if (r) {
		lfp_diags_print(&d, stderr);
		fail_msg("lfp_lower: %d", r);
	}
	assert_int_equal(lfp_diags_errors(&d), 0);
	lfp_diags_fini(&d);
	check_layout(lw);
}

struct res {
	int verdict;
	uint64_t fid; /* 0: no deciding filter */
	bool hard;
};

static struct res run_oracle(const struct tp *t, const struct lfp_conn *c)
{
	struct lfp_classify_result r;
	struct res o;

	assert_int_equal(lfp_oracle_classify(&t->p, c, &r), 0);
	o.verdict = r.verdict;
	o.fid = r.filter ? r.filter->id : 0;
	o.hard = r.hard;
	lfp_classify_result_fini(&r);
	return o;
}

static struct res run_lowered(const struct lfp_lowered *lw, const struct lfp_conn *c)
{
	struct res o = { 0 };
	int v, idx;

	assert_int_equal(lfp_lowered_classify(lw, c, &v, &idx), 0);
	o.verdict = v;
	if (idx >= 0) {
		assert_true((size_t)idx < lw->n_filters);
		o.fid = lw->filters[idx].id;
		/* the decision's hardness is its filter's, except a veto (always hard) */
		o.hard = v == LFP_V_VETO || lw->filters[idx].hard;
		assert_int_equal(lw->filter_src[idx]->id, lw->filters[idx].id);
	}
	return o;
}

/* Both the oracle and the lowered policy give @verdict by filter @fid (0: none). */
static void expect(const struct tp *t, const struct lfp_lowered *lw, const struct lfp_conn *c,
		   int verdict, uint64_t fid)
{
	struct res o = run_oracle(t, c), k = run_lowered(lw, c);

	if (o.verdict != verdict || o.fid != fid || k.verdict != verdict || k.fid != fid) {
		fprintf(stderr,
			"expected %s by %" PRIu64 ", oracle %s by %" PRIu64
			", lowered %s by %" PRIu64 "\n",
			lfp_verdict_name(verdict), fid, lfp_verdict_name(o.verdict), o.fid,
			lfp_verdict_name(k.verdict), k.fid);
		print_conn(stderr, c);
	}
	assert_int_equal(o.verdict, verdict);
	assert_int_equal(o.fid, fid);
	assert_int_equal(k.verdict, verdict);
	assert_int_equal(k.fid, fid);
	assert_int_equal(k.hard, o.hard);
}

static uint32_t port_label(const struct lfp_lowered *lw, int idx, unsigned int port)
{
	return lw->port_labels[idx * 65536 + port];
}

/* The label the evaluator would give to address @a on @field (0: none). */
static uint32_t addr_label(const struct lfp_lowered *lw, enum lfp_field field, const char *a)
{
	struct lfp_lpm_key k = { .prefixlen = 160 };

	k.data[0] = (uint8_t)field;
	addr(&k.data[4], a);
	for (size_t i = 0; i < lw->n_lpm; i++)
		if (lw->lpm_keys[i].data[0] == field && lpm_key_contains(&lw->lpm_keys[i], &k))
			return lw->lpm_vals[i];
	return 0;
}

/* ---- hand cases ---- */

/*
 * Overlapping port ranges: 1000-2000 and 1500-3000 cut the port space into
 * four labelled pieces; pieces inside the same conditions share a label even
 * when they are not adjacent (`!= 1700` splits 1500-2000 into two such).
 */
static void test_ports_overlap(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f1, *f2, *f3;
	struct lfp_conn c;

	f1 = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 10);
	cond(f1, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vr(1000, 2000));
	f2 = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 20);
	cond(f2, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vr(1500, 3000));
	f3 = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, LFP_FF_SOFT, 30);
	cond(f3, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(1700));
	lower_ok(t, &lw);

	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 999), 0);
	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 3001), 0);
	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 65535), 0);
	assert_int_not_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 1000), 0);
	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 1000),
			 port_label(&lw, LFP_PORTIDX_REMOTE, 1499));
	assert_int_not_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 1499),
			     port_label(&lw, LFP_PORTIDX_REMOTE, 1500));
	/* 1500-1699 and 1701-2000: inside f1 and f2 alike, one label */
	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 1500),
			 port_label(&lw, LFP_PORTIDX_REMOTE, 2000));
	assert_int_not_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 1700),
			     port_label(&lw, LFP_PORTIDX_REMOTE, 1699));
	assert_int_equal(port_label(&lw, LFP_PORTIDX_REMOTE, 2001),
			 port_label(&lw, LFP_PORTIDX_REMOTE, 3000));
	/* the other port fields are untouched */
	assert_int_equal(port_label(&lw, LFP_PORTIDX_LOCAL, 1700), 0);
	assert_int_equal(lw.layer_cfg[AC].used_fields, 1u << LFP_F_REMOTE_PORT);

	c = conn_tcp("10.0.0.1", 999);
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	c.rport = 1200;
	expect(t, &lw, &c, LFP_V_BLOCK, f1->id);
	c.rport = 1600;
	expect(t, &lw, &c, LFP_V_PERMIT, f2->id);
	c.rport = 1700;
	expect(t, &lw, &c, LFP_V_BLOCK, f3->id);
	c.rport = 2500;
	expect(t, &lw, &c, LFP_V_PERMIT, f2->id);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/*
 * Nested and overlapping prefixes, v4 and v6: the longest matching LPM
 * entry must name exactly the conditions holding for the address, so
 * nested prefixes become disjoint pieces. ::/0 does not cover IPv4.
 */
static void test_prefixes(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f[7];
	struct lfp_conn c;

	f[0] = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	cond(f[0], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.0.0.0/8"));
	f[1] = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 2);
	cond(f[1], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.1.0.0/16"));
	f[2] = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 3);
	cond(f[2], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("10.1.2.0/24"));
	f[3] = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 3);
	cond(f[3], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("2001:db8::/32"));
	f[4] = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, LFP_FF_HARD, 0);
	cond(f[4], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("::/0"));
	/* written as IPv6 but inside the v4-mapped block: speaks about IPv4 */
	f[5] = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 0);
	cond(f[5], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, vp("::ffff:192.168.0.0/112"));
	/* a range across the v4-mapped block: only its IPv6 parts */
	f[6] = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	cond(f[6], LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, (struct lfp_value){ .form = LFP_VF_RANGE });
	addr(f[6]->conds[0].v[0].alo, "::1");
	addr(f[6]->conds[0].v[0].ahi, "::1:0:0:5");
	lower_ok(t, &lw);

	/* pieces: {8}, {8,16}, {8,16,24}, {::/0}, {::/0,db8}, {range, ::/0}, {192.168} */
	assert_int_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "11.0.0.1"), 0);
	assert_int_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "10.0.0.1"),
			 addr_label(&lw, LFP_F_REMOTE_ADDR, "10.255.0.1"));
	assert_int_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "10.1.0.0"),
			 addr_label(&lw, LFP_F_REMOTE_ADDR, "10.1.3.0"));
	assert_int_not_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "10.1.0.0"),
			     addr_label(&lw, LFP_F_REMOTE_ADDR, "10.1.2.0"));
	assert_int_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "2001:db9::"),
			 addr_label(&lw, LFP_F_REMOTE_ADDR, "fe80::1"));
	assert_int_not_equal(addr_label(&lw, LFP_F_REMOTE_ADDR, "2001:db8::"), 0);

	c = conn_tcp("10.1.2.3", 80);
	expect(t, &lw, &c, LFP_V_BLOCK, f[2]->id);
	c = conn_tcp("10.1.3.3", 80);
	expect(t, &lw, &c, LFP_V_PERMIT, f[1]->id);
	c = conn_tcp("10.200.0.1", 80);
	expect(t, &lw, &c, LFP_V_BLOCK, f[0]->id);
	c = conn_tcp("11.0.0.1", 80);
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	c = conn_tcp("192.168.7.7", 80);
	expect(t, &lw, &c, LFP_V_BLOCK, f[5]->id);
	c = conn_tcp("2001:db8::1", 80);
	expect(t, &lw, &c, LFP_V_BLOCK, f[3]->id);
	c = conn_tcp("2001:db9::1", 80);
	expect(t, &lw, &c, LFP_V_PERMIT, f[4]->id);
	c = conn_tcp("::2", 80);
	expect(t, &lw, &c, LFP_V_BLOCK, f[6]->id);
	c = conn_tcp("::1:0:0:6", 80);
	expect(t, &lw, &c, LFP_V_PERMIT, f[4]->id);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* `!=` with a set, on ports and addresses; OR among conditions on one field. */
static void test_ne_and_or(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f1, *f2, *f3;
	struct lfp_conn c;

	tp_sublayer(t, 2, "a", 0x9000);
	tp_sublayer(t, 3, "b", 0x7000);
	f1 = tp_filter(t, AC, "a", LFP_ACT_BLOCK, LFP_FF_SOFT, 5);
	cond(f1, LFP_F_REMOTE_PORT, LFP_OP_NE, 2, vi(80), vi(443));
	f2 = tp_filter(t, AC, "b", LFP_ACT_BLOCK, 0, 5);
	cond(f2, LFP_F_REMOTE_ADDR, LFP_OP_NE, 1, vp("10.0.0.0/8"));
	cond(f2, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	/* two conditions on one field: either holds */
	f3 = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 5);
	cond(f3, LFP_F_LOCAL_PORT, LFP_OP_EQ, 1, vi(22));
	cond(f3, LFP_F_LOCAL_PORT, LFP_OP_GE, 1, vi(60000));
	lower_ok(t, &lw);

	c = conn_tcp("10.1.1.1", 80);
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	c.rport = 22;
	expect(t, &lw, &c, LFP_V_BLOCK, f1->id);
	c.lport =
		22; /* default (0x8000) sits between a and b: its permit overrides a's soft block */
	expect(t, &lw, &c, LFP_V_PERMIT, f3->id);
	c.lport = 60001;
	expect(t, &lw, &c, LFP_V_PERMIT, f3->id);
	c.lport = 59999;
	expect(t, &lw, &c, LFP_V_BLOCK, f1->id);
	c = conn_tcp("8.8.8.8", 443);
	expect(t, &lw, &c, LFP_V_BLOCK, f2->id);
	/* a v4 prefix never matches IPv6, so `!=` holds */
	c = conn_tcp("::1", 443);
	expect(t, &lw, &c, LFP_V_BLOCK, f2->id);
	c.proto = 17;
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* flags: `{a, b}` any set, `a+b` all set, `!= a` not set. */
static void test_flags(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *any, *all, *none;
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);

	tp_sublayer(t, 2, "hi", 0x9000);
	tp_sublayer(t, 3, "lo", 0x100);
	any = tp_filter(t, AC, "lo", LFP_ACT_BLOCK, LFP_FF_SOFT, 1);
	cond(any, LFP_F_FLAGS, LFP_OP_EQ, 2, vf(LFP_CF_LOOPBACK), vf(LFP_CF_REDIRECTED));
	all = tp_filter(t, AC, "lo", LFP_ACT_PERMIT, 0, 2);
	cond(all, LFP_F_FLAGS, LFP_OP_EQ, 1, vf(LFP_CF_LOOPBACK | LFP_CF_REDIRECTED));
	none = tp_filter(t, AC, "hi", LFP_ACT_PERMIT, LFP_FF_HARD, 1);
	cond(none, LFP_F_FLAGS, LFP_OP_NE, 1, vf(LFP_CF_RAW));
	cond(none, LFP_F_FLAGS, LFP_OP_EQ, 1, vf(LFP_CF_IMPLICIT_BIND | LFP_CF_RAW));
	lower_ok(t, &lw);

	for (uint32_t fl = 0; fl <= LFP_CF_ALL; fl++) {
		bool lo = fl & LFP_CF_LOOPBACK, re = fl & LFP_CF_REDIRECTED;
		bool n = !(fl & LFP_CF_RAW) || (fl & LFP_CF_IMPLICIT_BIND);

		c.flags = fl;
		if (n) /* a hard permit above: nothing below changes it */
			expect(t, &lw, &c, LFP_V_PERMIT, none->id);
		else if (lo && re)
			expect(t, &lw, &c, LFP_V_PERMIT, all->id);
		else if (lo || re)
			expect(t, &lw, &c, LFP_V_BLOCK, any->id);
		else
			expect(t, &lw, &c, LFP_V_PERMIT, 0);
	}
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/*
 * cgroup X covers X and everything below. Only cgroups filters name get a
 * label; the evaluator takes the deepest labelled ancestor, whose label
 * already stands for every named cgroup above it.
 */
static void test_cgroup_subtree(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *fa, *fc, *fne, *froot;
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);

	fa = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 10);
	cond(fa, LFP_F_CGROUP, LFP_OP_EQ, 1, vcg("/a/", 10)); /* trailing slash: same cgroup */
	fc = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 20);
	cond(fc, LFP_F_CGROUP, LFP_OP_EQ, 2, vcg("/a/b/c", 12), vcg("/a/b-c", 14));
	fne = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, LFP_FF_SOFT, 5);
	cond(fne, LFP_F_CGROUP, LFP_OP_NE, 1, vcg("/a/b", 11));
	froot = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 1);
	cond(froot, LFP_F_CGROUP, LFP_OP_EQ, 1, vcg("/", 1));
	lower_ok(t, &lw);
	assert_int_equal(lw.n_hash, 5); /* /, /a, /a/b, /a/b/c, /a/b-c */

	/* in /a/b/c/x (99, unnamed) */
	c.cgroup_depth = 5;
	memcpy(c.cgroup_ids, (uint64_t[]){ 1, 10, 11, 12, 99 }, 5 * sizeof(uint64_t));
	expect(t, &lw, &c, LFP_V_PERMIT, fc->id);
	/* in /a/b */
	c.cgroup_depth = 3;
	expect(t, &lw, &c, LFP_V_BLOCK, fa->id);
	/* in /a/b-c: a sibling of /a/b whose name starts the same */
	c.cgroup_depth = 3;
	c.cgroup_ids[2] = 14;
	expect(t, &lw, &c, LFP_V_PERMIT, fc->id);
	/* in /ab: not below /a */
	c.cgroup_depth = 2;
	c.cgroup_ids[1] = 13;
	expect(t, &lw, &c, LFP_V_BLOCK, fne->id);
	/* in /x (unnamed): the root's filter and != /a/b */
	c.cgroup_ids[1] = 77;
	expect(t, &lw, &c, LFP_V_BLOCK, fne->id);
	/* no cgroup known: only != holds */
	c.cgroup_depth = 0;
	expect(t, &lw, &c, LFP_V_BLOCK, fne->id);

	/*
	 * The documented walk limit: below /a/b/c, 16 levels of unnamed cgroups
	 * hide /a/b/c from the kernel (the oracle still sees it); 15 do not.
	 */
	memcpy(c.cgroup_ids, (uint64_t[]){ 1, 10, 11, 12 }, 4 * sizeof(uint64_t));
	for (uint32_t i = 4; i < 4 + LFP_CGROUP_WALK_MAX; i++)
		c.cgroup_ids[i] = 100 + i;
	c.cgroup_depth = 4 + LFP_CGROUP_WALK_MAX - 1;
	expect(t, &lw, &c, LFP_V_PERMIT, fc->id);
	c.cgroup_depth = 4 + LFP_CGROUP_WALK_MAX;
	assert_int_equal(run_oracle(t, &c).fid, fc->id);
	assert_int_equal(run_lowered(&lw, &c).fid, fne->id);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* An app that does not exist matches nothing; `!=` it matches everything. */
static void test_app_absent(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *gone, *not_gone, *curl;
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);

	gone = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 30);
	cond(gone, LFP_F_APP, LFP_OP_EQ, 1, vabsent("/opt/gone"));
	curl = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 20);
	cond(curl, LFP_F_APP, LFP_OP_EQ, 2, vabsent("/opt/gone"), vapp("/usr/bin/curl", 8, 42));
	not_gone = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 10);
	cond(not_gone, LFP_F_APP, LFP_OP_NE, 1, vabsent("/opt/gone"));
	cond(not_gone, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	lower_ok(t, &lw);
	/* the gone filter never matches: it is not lowered at all */
	assert_int_equal(lw.n_filters, 2);
	/* `app != gone` constrains nothing: only proto is looked up besides app */
	assert_int_equal(lw.layer_cfg[AC].used_fields, (1u << LFP_F_APP) | (1u << LFP_F_PROTO));

	expect(t, &lw, &c, LFP_V_PERMIT, not_gone->id);
	c.app_dev = 8;
	c.app_ino = 42;
	expect(t, &lw, &c, LFP_V_BLOCK, curl->id);
	c.app_ino = 43;
	expect(t, &lw, &c, LFP_V_PERMIT, not_gone->id);
	c.proto = 17;
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* uid ranges and comparisons go through the LPM trie as 32-bit prefixes. */
static void test_ints_lpm(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f1, *f2, *f3;
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);

	f1 = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	cond(f1, LFP_F_USER, LFP_OP_EQ, 1, vr(1000, 1999));
	f2 = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 2);
	cond(f2, LFP_F_USER, LFP_OP_GT, 1, vi(1500));
	f3 = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 3);
	cond(f3, LFP_F_PID, LFP_OP_LT, 1, vi(2));
	cond(f3, LFP_F_USER, LFP_OP_EQ, 1, vi(0xffffffff));
	lower_ok(t, &lw);

	c.pid = 100;
	c.uid = 999;
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	c.uid = 1000;
	expect(t, &lw, &c, LFP_V_BLOCK, f1->id);
	c.uid = 1500;
	expect(t, &lw, &c, LFP_V_BLOCK, f1->id);
	c.uid = 1501;
	expect(t, &lw, &c, LFP_V_PERMIT, f2->id);
	c.uid = 0xffffffff;
	expect(t, &lw, &c, LFP_V_PERMIT, f2->id);
	c.pid = 1;
	expect(t, &lw, &c, LFP_V_BLOCK, f3->id);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* Inspection callouts never decide; unregistered ones fail closed (or open); veto; redirect. */
static void test_actions(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *hp, *veto, *redir;
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);

	tp_sublayer(t, 2, "top", 0xf000);
	tp_sublayer(t, 3, "mid", 0x9000);
	tp_sublayer(t, 4, "low", 0x10);
	tp_callout(t, "audit", LFP_CALLOUT_INSPECTION);
	tp_callout_filter(t, "top", "count", 0, 100);
	tp_callout_filter(t, "top", "audit", 0, 90);
	hp = tp_filter(t, AC, "top", LFP_ACT_PERMIT, LFP_FF_HARD, 50);
	cond(hp, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	veto = tp_callout_filter(t, "mid", "ext", 0, 1);
	cond(veto, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	cond(tp_callout_filter(t, "mid", "ext", LFP_FF_PERMIT_IF_UNREG, 0), LFP_F_REMOTE_PORT,
	     LFP_OP_EQ, 1, vi(80));
	redir = tp_filter(t, AC, "low", LFP_ACT_REDIRECT, 0, 1);
	cond(redir, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(443));
	lower_ok(t, &lw);
	/* count is not lowered; audit only as a notify filter that answers nothing */
	assert_int_equal(lw.n_filters, 5);

	expect(t, &lw, &c, LFP_V_VETO, veto->id);
	c.proto = 17; /* the fail-open callout permits soft; the hard permit above stands */
	expect(t, &lw, &c, LFP_V_PERMIT, hp->id);
	c.rport = 443;
	expect(t, &lw, &c, LFP_V_REDIRECT, redir->id);
	c.proto = 6; /* a soft block (the callout's) gives way to a later permit */
	expect(t, &lw, &c, LFP_V_REDIRECT, redir->id);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

static bool diags_have(const struct lfp_diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->v[i].msg, needle))
			return true;
	return false;
}

static void expect_refused(const struct tp *t, const struct lfp_lower_opts *o, int err,
			   const char *needle)
{
	struct lfp_lowered lw;
	struct lfp_diags d = { 0 };

	assert_int_equal(lfp_lower(&t->p, o, &lw, &d), err);
	if (!diags_have(&d, needle)) {
		lfp_diags_print(&d, stderr);
		fail_msg("no diagnostic with '%s'", needle);
	}
	assert_null(lw.filters);
	lfp_diags_fini(&d);
}

/*
 * ask and registered terminating callouts lower into a soft block flagged
 * LFP_KF_PEND: the lowered policy says pend exactly where the oracle does,
 * a hard permit above is never vetoed by it, a permit in a later sublayer
 * overrides it; at a layer that cannot hold a flow they are refused.
 */
static void test_pend_lowered(void **state)
{
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f;

	(void)state;
	tp_sublayer(t, 2, "high", 0x8000);
	f = tp_filter(t, AC, NULL, LFP_ACT_ASK, 0, 1);
	f->name = strdup("prompt-me");
	lower_ok(t, &lw);
	assert_int_equal(lw.n_filters, 1);
	assert_true(lw.filters[0].flags & LFP_KF_PEND);
	assert_int_equal(lw.filters[0].ans, LFP_ANS_BLOCK);
	assert_int_equal(lw.filters[0].hard, 0);
	assert_int_equal(lw.filters[0].callout, 0);
	expect(t, &lw, &c, LFP_V_PEND, 1);
	lfp_lowered_fini(&lw);

	/* a hard permit above: the answer cannot matter, no pend and no veto */
	f = tp_filter(t, AC, "high", LFP_ACT_PERMIT, LFP_FF_HARD, 1);
	cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	lower_ok(t, &lw);
	expect(t, &lw, &c, LFP_V_PERMIT, 2);
	c.rport = 81;
	expect(t, &lw, &c, LFP_V_PEND, 1);
	lfp_lowered_fini(&lw);
	tp_free(t);

	t = tp_new();
	tp_callout(t, "ids", LFP_CALLOUT_TERMINATING);
	tp_callout_filter(t, NULL, "ids", 0, 1);
	lower_ok(t, &lw);
	assert_true(lw.filters[0].flags & LFP_KF_PEND);
	expect(t, &lw, &c, LFP_V_PEND, 1);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* unregistered: a plain soft block from a callout, no pend */
	t = tp_new();
	tp_callout_filter(t, NULL, "gone", 0, 1);
	lower_ok(t, &lw);
	assert_false(lw.filters[0].flags & LFP_KF_PEND);
	expect(t, &lw, &c, LFP_V_BLOCK, 1);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* auth-recv-accept holds flows too */
	t = tp_new();
	tp_filter(t, RA, NULL, LFP_ACT_ASK, 0, 1);
	lower_ok(t, &lw);
	assert_true(lw.filters[0].flags & LFP_KF_PEND);
	lfp_lowered_fini(&lw);
	tp_free(t);

	t = tp_new();
	tp_filter(t, LFP_LAYER_AUTH_LISTEN, NULL, LFP_ACT_ASK, 0, 1);
	expect_refused(t, NULL, -EOPNOTSUPP,
		       "filter id 1: action 'ask' pends, and flows are held at auth-connect and "
		       "auth-recv-accept only");
	tp_free(t);
}

static bool notifies(const struct lfp_lowered *lw, const struct lfp_conn *c)
{
	bool n = false;

	assert_int_equal(lfp_lowered_notifies(lw, c, &n), 0);
	return n;
}

/*
 * Callouts that cannot decide (inspection anywhere, any external callout at a
 * layer that cannot pend) lower into LFP_KF_NOTIFY filters that answer
 * nothing, in a rank after the layer's sublayers: the verdict is the one
 * without them (oracle and lowered agree), and only matching flows notify.
 */
static void test_notify_lowered(void **state)
{
	struct lfp_conn c = conn_tcp("10.0.0.1", 80);
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f, *blk;
	int notify_idx = -1;

	(void)state;
	tp_sublayer(t, 2, "high", 0x8000);
	tp_callout(t, "ids", LFP_CALLOUT_INSPECTION);
	f = tp_callout_filter(t, "high", "ids", 0, 100);
	cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(80));
	blk = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	cond(blk, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(81));
	lower_ok(t, &lw);
	assert_int_equal(lw.n_filters, 2);
	for (size_t i = 0; i < lw.n_filters; i++)
		if (lw.filters[i].id == f->id)
			notify_idx = (int)i;
	assert_true(notify_idx >= 0);
	assert_true(lw.filters[notify_idx].flags & LFP_KF_NOTIFY);
	assert_false(lw.filters[notify_idx].flags & LFP_KF_PEND);
	assert_int_equal(lw.filters[notify_idx].ans, LFP_ANS_NONE);
	/* its rank comes after the block's (default) sublayer although "high" is above it */
	assert_true(lw.filters[notify_idx].sublayer_rank >
		    lw.filters[notify_idx == 0 ? 1 : 0].sublayer_rank);
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	assert_true(notifies(&lw, &c));
	c.rport = 81;
	expect(t, &lw, &c, LFP_V_BLOCK, blk->id);
	assert_false(notifies(&lw, &c));
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* a terminating callout at flow-established: told, not refused, changes nothing */
	t = tp_new();
	tp_callout(t, "ext", LFP_CALLOUT_TERMINATING);
	f = tp_callout_filter(t, NULL, "ext", 0, 1);
	f->layer = LFP_LAYER_FLOW_ESTABLISHED;
	lower_ok(t, &lw);
	assert_int_equal(lw.n_filters, 1);
	assert_true(lw.filters[0].flags & LFP_KF_NOTIFY);
	c.layer = LFP_LAYER_FLOW_ESTABLISHED;
	c.rport = 80;
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	assert_true(notifies(&lw, &c));
	c.layer = LFP_LAYER_AUTH_CONNECT; /* nothing at auth-connect */
	assert_false(notifies(&lw, &c));
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* unregistered there: it blocks (WFP-MODEL.md rule 5), nobody to tell */
	t = tp_new();
	f = tp_callout_filter(t, NULL, "gone", 0, 1);
	f->layer = LFP_LAYER_OUTBOUND_TRANSPORT;
	lower_ok(t, &lw);
	assert_false(lw.filters[0].flags & LFP_KF_NOTIFY);
	c.layer = LFP_LAYER_OUTBOUND_TRANSPORT;
	expect(t, &lw, &c, LFP_V_BLOCK, f->id);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* the built-in ask is a person: still refused where nothing can wait */
	t = tp_new();
	tp_callout(t, "ask", LFP_CALLOUT_TERMINATING);
	f = tp_callout_filter(t, NULL, "ask", 0, 1);
	f->layer = LFP_LAYER_FLOW_ESTABLISHED;
	expect_refused(t, NULL, -EOPNOTSUPP, "action 'callout ask' pends");
	tp_free(t);
}

static void test_limits(void **state)
{
	static const enum lfp_field nine[] = {
		LFP_F_USER,	  LFP_F_GROUP,	     LFP_F_PID,	      LFP_F_PROTO,     LFP_F_IPVER,
		LFP_F_LOCAL_PORT, LFP_F_REMOTE_PORT, LFP_F_ICMP_TYPE, LFP_F_ICMP_CODE,
	};
	LFP_OPTS(lfp_lower_opts, small, .max_rules = 1000);
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *f;
	char name[32];

	/* nine fields in one filter */
	f = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1);
	f->name = strdup("wide");
	for (size_t i = 0; i < sizeof(nine) / sizeof(nine[0]); i++)
		cond(f, nine[i], LFP_OP_EQ, 1, vi(1));
	expect_refused(t, NULL, -E2BIG, "filter 'wide' (id 1): conditions on 9 fields; at most 8");
	/* but a field whose condition holds for every value does not count */
	f->conds[8].op = LFP_OP_GE;
	f->conds[8].v[0].lo = 0;
	lower_ok(t, &lw);
	assert_int_equal(lw.tuples[0].nfields, 8);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* 33 sublayers with filters in one layer */
	t = tp_new();
	for (uint32_t i = 0; i <= LFP_MAX_SUBLAYERS; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		tp_sublayer(t, 2 + i, name, (uint16_t)(1000 - i));
		tp_filter(t, AC, name, LFP_ACT_BLOCK, 0, 1);
	}
	expect_refused(t, NULL, -E2BIG,
		       "filter id 33: layer has filters in more than 32 sublayers");
	/* another layer has its own ranks */
	t->p.filters[32].layer = RA;
	lower_ok(t, &lw);
	assert_int_equal(lw.layer_cfg[AC].n_sublayers, 32);
	assert_int_equal(lw.layer_cfg[RA].n_sublayers, 1);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* 65 condition shapes in one layer */
	t = tp_new();
	for (uint32_t i = 0; i <= LFP_MAX_TUPLES; i++) {
		static const enum lfp_field pool[] = { LFP_F_USER,	 LFP_F_GROUP,
						       LFP_F_PID,	 LFP_F_PROTO,
						       LFP_F_IPVER,	 LFP_F_LOCAL_PORT,
						       LFP_F_REMOTE_PORT };

		f = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1000 - i);
		for (unsigned int b = 0; b < 7; b++)
			if ((i + 1) & (1u << b))
				cond(f, pool[b], LFP_OP_EQ, 1, vi(7));
	}
	expect_refused(t, NULL, -E2BIG, "filter id 65: layer needs more than 64 condition shapes");
	tp_free(t);

	/* the rule cap: `!=` on a field with many labels expands into all the others */
	t = tp_new();
	for (uint32_t i = 0; i < 600; i++) {
		f = tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 10);
		cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(1000 + i));
	}
	f = tp_filter(t, AC, NULL, LFP_ACT_PERMIT, 0, 5);
	f->name = strdup("not-1000");
	cond(f, LFP_F_REMOTE_PORT, LFP_OP_NE, 1, vi(1000));
	lower_ok(t, &lw); /* 600 + 600 entries, 601 keys (the EQ filters win theirs) */
	assert_int_equal(lw.n_rules, 601);
	lfp_lowered_fini(&lw);
	expect_refused(t, &small, -E2BIG, "filter 'not-1000' (id 601): expands into too many");
	tp_free(t);
}

/* The id of the inspection filter lfp_lowered_inspection() reports, 0 = none. */
static uint64_t inspected(const struct lfp_lowered *lw, const struct lfp_conn *c)
{
	int idx = -2;

	assert_int_equal(lfp_lowered_inspection(lw, c, &idx), 0);
	assert_true(idx >= -1 && idx < (int)lw->n_filters);
	return idx < 0 ? 0 : lw->filters[idx].id;
}

/*
 * At datagram-data, inspection callouts (count, a registered inspection callout) are
 * lowered into tuples of their own (LFP_KF_INSPECT): they never change the verdict, and
 * the evaluator reports the one reached: not when a heavier terminating filter of its
 * sublayer decided first, the heaviest of the first sublayer that has one.
 */
static void test_inspection(void **state)
{
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_filter *peek, *audit, *blk, *later;
	struct lfp_conn c = conn_tcp("10.0.0.1", 53);

	c.layer = LFP_LAYER_DATAGRAM_DATA;
	c.proto = 17;
	tp_sublayer(t, 2, "top", 0xf000);
	tp_sublayer(t, 3, "low", 0x10);
	tp_callout(t, "audit", LFP_CALLOUT_INSPECTION);
	peek = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "top", LFP_ACT_CALLOUT, 0, 50);
	peek->action.callout = strdup("count");
	cond(peek, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(53));
	audit = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "top", LFP_ACT_CALLOUT, 0, 40);
	audit->action.callout = strdup("audit");
	blk = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "top", LFP_ACT_BLOCK, 0, 45);
	cond(blk, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(53));
	later = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "low", LFP_ACT_CALLOUT, 0, 1);
	later->action.callout = strdup("count");
	/* the same at auth-connect: not lowered (no payloads to report there) */
	tp_callout_filter(t, NULL, "count", 0, 100);
	lower_ok(t, &lw);
	assert_int_equal(lw.n_filters, 4);
	for (size_t i = 0; i < lw.n_filters; i++)
		assert_int_equal(!!(lw.filters[i].flags & LFP_KF_INSPECT),
				 lw.filters[i].id != blk->id);

	/* port 53: peek (50) is reached before the block (45) decides; the block stands */
	expect(t, &lw, &c, LFP_V_BLOCK, blk->id);
	assert_int_equal(inspected(&lw, &c), peek->id);
	/* port 54: peek does not match; audit (40) would come after nothing: reached */
	c.rport = 54;
	expect(t, &lw, &c, LFP_V_PERMIT, 0);
	assert_int_equal(inspected(&lw, &c), audit->id);
	lfp_lowered_fini(&lw);
	tp_free(t);

	/* a heavier permit in the callout's sublayer decides first: the next sublayer's is met */
	t = tp_new();
	tp_sublayer(t, 2, "top", 0xf000);
	tp_sublayer(t, 3, "low", 0x10);
	peek = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "top", LFP_ACT_CALLOUT, 0, 10);
	peek->action.callout = strdup("count");
	blk = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "top", LFP_ACT_PERMIT, 0, 20);
	later = tp_filter(t, LFP_LAYER_DATAGRAM_DATA, "low", LFP_ACT_CALLOUT, 0, 1);
	later->action.callout = strdup("count");
	lower_ok(t, &lw);
	expect(t, &lw, &c, LFP_V_PERMIT, blk->id);
	assert_int_equal(inspected(&lw, &c), later->id);
	/* elsewhere nothing is inspected */
	c.layer = AC;
	assert_int_equal(inspected(&lw, &c), 0);
	lfp_lowered_fini(&lw);
	tp_free(t);
}

/* Layers outside opts->layers are not lowered: their pend actions do not matter. */
static void test_layer_mask(void **state)
{
	LFP_OPTS(lfp_lower_opts, o, .layers = 1u << AC);
	struct tp *t = tp_new();
	struct lfp_lowered lw;
	struct lfp_diags d = { 0 };

	tp_filter(t, RA, NULL, LFP_ACT_ASK, 0, 1);
	cond(tp_filter(t, AC, NULL, LFP_ACT_BLOCK, 0, 1), LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vi(1));
	assert_int_equal(lfp_lower(&t->p, &o, &lw, &d), 0);
	assert_int_equal(lw.n_filters, 1);
	assert_int_equal(lw.layer_cfg[RA].n_tuples, 0);
	lfp_lowered_fini(&lw);
	lfp_diags_fini(&d);
	tp_free(t);
}

static void test_differential(void **state)
{
	uint64_t seed = env_u64("LFP_DIFF_SEED", 1), cases = env_u64("LFP_DIFF_CASES", 200000);
	const unsigned int per_policy = 250;
	struct rng r = { seed };
	struct cov cv = { 0 };
	struct hot *h = calloc(1, sizeof(*h));
	struct timespec t0, t1;

	assert_non_null(h);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (cv.cases < cases) {
		struct tp *t = tp_new();
		struct lfp_lowered lw;

		random_policy(&r, t, h, &cv);
		lower_ok(t, &lw);
		cv.policies++;
		for (unsigned int i = 0; i < per_policy && cv.cases < cases; i++) {
			struct lfp_classify_result res;
			struct lfp_conn c;
			struct res o, k;

			random_conn(&r, h, &c);
			assert_int_equal(lfp_oracle_classify(&t->p, &c, &res), 0);
			o.verdict = res.verdict;
			o.fid = res.filter ? res.filter->id : 0;
			o.hard = res.hard;
			cov_record(&cv, &res);
			lfp_classify_result_fini(&res);
			k = run_lowered(&lw, &c);
			if (o.verdict != k.verdict || o.fid != k.fid || o.hard != k.hard) {
				fprintf(stderr,
					"MISMATCH (seed %" PRIu64 ", case %" PRIu64 "): oracle %s "
					"filter %" PRIu64 "%s, lowered %s filter %" PRIu64 "%s\n",
					seed, cv.cases, lfp_verdict_name(o.verdict), o.fid,
					o.hard ? " hard" : "", lfp_verdict_name(k.verdict), k.fid,
					k.hard ? " hard" : "");
				print_policy(stderr, &t->p);
				print_conn(stderr, &c);
				fail_msg("the lowered policy disagrees with the oracle");
			}
		}
		lfp_lowered_fini(&lw);
		tp_free(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(h);

	printf("# differential: seed %" PRIu64 ", %" PRIu64 " cases over %" PRIu64
	       " policies, 0 mismatches, %.2f s\n",
	       seed, cv.cases, cv.policies,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	cov_print(stdout, &cv);
	/* the generator must reach everything it claims to test */
	if (cases >= 20000)
		assert_true(cov_complete(&cv));
}

/* ---- performance: a realistic large policy ---- */

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * A 100k-prefix blocklist in one sublayer (some /16s over the /24s), per-app
 * rules, port rules, a default deny: lowering time is printed (no assert on
 * time), results are spot-checked against the oracle, and the per-connection
 * cost is compared with a tiny policy's.
 */
static void test_perf_100k(void **state)
{
	const unsigned int n_block = 100000, n_apps = 500, n_ports = 200;
	struct tp *t = tp_new(), *small = tp_new();
	struct lfp_lowered lw, lw_small;
	struct timespec t0, t1;
	struct rng r = { 7 };
	struct lfp_filter *f;
	double ms, ns_big = 0, ns_small = 0;
	volatile int sink = 0;

	tp_sublayer(t, 2, "blocklist", 0x9000);
	tp_sublayer(t, 3, "apps", 0x8800);
	tp_sublayer(t, 4, "ports", 0x100);
	for (unsigned int i = 0; i < n_block; i++) {
		struct lfp_value v = { .form = LFP_VF_PREFIX, .v4 = 1, .plen = 24 };
		uint32_t a = ((1 + i / 65536) << 24) | ((i % 65536) << 8);

		v.alo[10] = v.alo[11] = v.ahi[10] = v.ahi[11] = 0xff;
		if (i % 1000 == 999) { /* a /16 over some of the /24s */
			a &= 0xffff0000u;
			v.plen = 16;
		}
		for (int b = 0; b < 4; b++)
			v.alo[12 + b] = v.ahi[12 + b] = (uint8_t)(a >> (24 - 8 * b));
		v.ahi[14] |= v.plen == 16 ? 0xff : 0;
		v.ahi[15] = 0xff;
		f = tp_filter(t, AC, "blocklist", LFP_ACT_BLOCK, 0, 1000 + v.plen);
		cond(f, LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1, v);
	}
	for (unsigned int i = 0; i < n_apps; i++) {
		f = tp_filter(t, AC, "apps", LFP_ACT_PERMIT, 0, 50);
		cond(f, LFP_F_APP, LFP_OP_EQ, 1, vapp("/usr/bin/x", 8, 1000 + i));
		cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 2, vi(80), vi(443));
		if (i % 10 == 0)
			cond(f, LFP_F_PROTO, LFP_OP_EQ, 1, vi(6));
	}
	for (unsigned int i = 0; i < n_ports; i++) {
		f = tp_filter(t, AC, "ports", LFP_ACT_BLOCK, LFP_FF_SOFT, 10 + i % 7);
		cond(f, LFP_F_REMOTE_PORT, LFP_OP_EQ, 1, vr(2000 + 100 * i, 2000 + 100 * i + 49));
	}
	tp_filter(t, AC, NULL, LFP_ACT_BLOCK, LFP_FF_SOFT, 0); /* default deny */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	lower_ok(t, &lw);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = elapsed_ms(&t0, &t1);
	printf("# lowered %zu filters in %.1f ms: %zu rules, %zu lpm entries, %zu hash entries, "
	       "%zu tuples, %zu kernel filters\n",
	       t->p.n_filters, ms, lw.n_rules, lw.n_lpm, lw.n_hash, lw.n_tuples, lw.n_filters);

	for (int i = 0; i < 40; i++) {
		struct lfp_conn c = conn_tcp("1.0.0.1", 80);
		struct res o, k;
		uint32_t a = (uint32_t)((1 + rn(&r, 2)) << 24 | rn(&r, 1u << 24));

		for (int b = 0; b < 4; b++)
			c.raddr[12 + b] = (uint8_t)(a >> (24 - 8 * b));
		if (i % 2) { /* outside the blocklist */
			c.raddr[12] = 200;
		}
		c.rport = (uint16_t)(i % 3 ? 443 : 2000 + rn(&r, 20000));
		c.app_dev = 8;
		c.app_ino = 1000 + rn(&r, n_apps + 20);
		o = run_oracle(t, &c);
		k = run_lowered(&lw, &c);
		assert_int_equal(o.verdict, k.verdict);
		assert_int_equal(o.fid, k.fid);
	}

	/* per-connection cost: the big policy against one filter */
	cond(tp_filter(small, AC, NULL, LFP_ACT_BLOCK, 0, 1), LFP_F_REMOTE_ADDR, LFP_OP_EQ, 1,
	     vp("1.0.0.0/24"));
	lower_ok(small, &lw_small);
	for (int pass = 0; pass < 2; pass++) {
		const struct lfp_lowered *x = pass ? &lw_small : &lw;
		struct lfp_conn c = conn_tcp("1.2.3.4", 443);
		int v, idx;

		c.app_dev = 8;
		c.app_ino = 1003;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < 100000; i++) {
			c.raddr[15] = (uint8_t)i;
			lfp_lowered_classify(x, &c, &v, &idx);
			sink += v;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		*(pass ? &ns_small : &ns_big) = elapsed_ms(&t0, &t1) * 1e6 / 100000;
	}
	printf("# user-space evaluator: %.0f ns per connection with %zu filters, %.0f ns with 1 "
	       "(binary searches grow with log n; the kernel's hash and LPM lookups do not)\n",
	       ns_big, t->p.n_filters, ns_small);
	(void)sink;
	lfp_lowered_fini(&lw);
	lfp_lowered_fini(&lw_small);
	tp_free(t);
	tp_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports_overlap),  cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_ne_and_or),      cmocka_unit_test(test_flags),
		cmocka_unit_test(test_cgroup_subtree), cmocka_unit_test(test_app_absent),
		cmocka_unit_test(test_ints_lpm),       cmocka_unit_test(test_actions),
		cmocka_unit_test(test_pend_lowered),   cmocka_unit_test(test_notify_lowered),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_layer_mask),     cmocka_unit_test(test_differential),
		cmocka_unit_test(test_perf_100k),      cmocka_unit_test(test_inspection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
