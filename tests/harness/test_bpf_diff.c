// SPDX-License-Identifier: MIT
/*
 * The kernel's evaluator against the oracle: random policies (the generator
 * of tests/common/gen.c) are lowered with lfp_lower() and committed with
 * lfpd's own commit path (lfp_kern_commit_maps(), daemon/kern.c) into the
 * maps of bpf/test_eval.bpf.o, one generation per policy; random
 * connections aimed at each policy are classified by lfp_classify()
 * (bpf/classify.bpf.h, common/lfp_eval.h compiled for BPF) under
 * BPF_PROG_TEST_RUN and by lfp_oracle_classify(). Verdict, deciding filter
 * and hardness must agree on every case; the kernel's hit counters and
 * statistics must count what it decided.
 *
 * tests/unit/test_lower.c holds the same evaluator, compiled for user
 * space, against the oracle; this test is what shows that the BPF build of
 * it, the real map types (LPM trie, hashes, arrays of maps) and the
 * generation flip give the same answers. With the same seed both tests draw
 * the same policies and connections.
 *
 * Safety: the program is only loaded and run with BPF_PROG_TEST_RUN, never
 * attached; nothing is pinned. Needs root (CAP_BPF, CAP_NET_ADMIN).
 *
 * Environment: LFP_DIFF_SEED (default 1), LFP_DIFF_CASES (default 200000),
 * LFP_DIFF_PER_POLICY (connections per policy, default 1000).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <lfp/common.h>
#include <lfp/lower.h>
#include <lfp/oracle.h>
#include <lfp/policy.h>
#include "kern.h"
#include "kern_internal.h"
#include "../common/gen.h"

/*
 * lfp_eval.h for struct lfp_eval_in / lfp_eval_out: it wants its lookups
 * defined, but this file never runs the evaluator (the kernel does, and
 * lib/eval_user.c is the user-space build), so they are left empty.
 */
struct lfp_eval_env {
	int unused;
};
#define LFP_EVAL_NONE(type, env, key)		 ((void)(env), (void)(key), (const type *)NULL)
#define LFP_EVAL_LOOKUP_PORT(env, idx)		 LFP_EVAL_NONE(__u32, env, idx)
#define LFP_EVAL_LOOKUP_SMALL(env, idx)		 LFP_EVAL_NONE(__u32, env, idx)
#define LFP_EVAL_LOOKUP_LPM(env, key)		 LFP_EVAL_NONE(__u32, env, key)
#define LFP_EVAL_LOOKUP_HASH(env, key)		 LFP_EVAL_NONE(__u32, env, key)
#define LFP_EVAL_LOOKUP_TUPLE(env, idx)		 LFP_EVAL_NONE(struct lfp_tuple, env, idx)
#define LFP_EVAL_LOOKUP_RULE(env, key)		 LFP_EVAL_NONE(struct lfp_rule_val, env, key)
#define LFP_EVAL_LOOKUP_FILTER(env, idx)	 LFP_EVAL_NONE(struct lfp_kfilter, env, idx)
#define LFP_EVAL_LOOKUP_LAYER_CFG(env, l)	 LFP_EVAL_NONE(struct lfp_layer_cfg, env, l)
#define LFP_EVAL_CGROUP_ANCESTOR(env, in, level) ((void)(env), (void)(in), (__u64)(level)*0)
#include "lfp_eval.h"
#include "../../bpf/test_eval.h"
#include "test_eval.skel.h"

/* Counter slots given to a generation's filters (lfpd's are stable per filter; here per index). */
#define COUNTER_BASE 1u

static struct {
	struct lfp_test_eval *skel;
	int prog;
	int outer[LFP_ROLE_COUNT];
	struct lfp_state *state; /* lfp_state[0], mmapped as lfpd maps it */
	size_t state_len;
	uint64_t runs; /* classifications run with a generation active */
} g;

/* ---- fixture ---- */

/* libbpf's warnings (a refused program's verifier log) are the diagnosis of a failed setup. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int group_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (geteuid() != 0) {
		fprintf(stderr, "test_bpf_diff: needs root (loads a BPF program)\n");
		return -1;
	}
	libbpf_set_print(libbpf_print);
	g.skel = lfp_test_eval__open_and_load();
	if (!g.skel) {
		fprintf(stderr, "test_bpf_diff: loading test_eval.bpf.o: %s\n", strerror(errno));
		return -1;
	}
	g.prog = bpf_program__fd(g.skel->progs.lfp_test_eval);
	/* the role order of common/lfp_abi.h, as daemon/kern.c's outer_fd() maps it */
	g.outer[LFP_ROLE_LBL_PORT] = bpf_map__fd(g.skel->maps.lfp_o_lbl_port);
	g.outer[LFP_ROLE_LBL_SMALL] = bpf_map__fd(g.skel->maps.lfp_o_lbl_small);
	g.outer[LFP_ROLE_LBL_LPM] = bpf_map__fd(g.skel->maps.lfp_o_lbl_lpm);
	g.outer[LFP_ROLE_LBL_HASH] = bpf_map__fd(g.skel->maps.lfp_o_lbl_hash);
	g.outer[LFP_ROLE_TUPLES] = bpf_map__fd(g.skel->maps.lfp_o_tuples);
	g.outer[LFP_ROLE_RULES] = bpf_map__fd(g.skel->maps.lfp_o_rules);
	g.outer[LFP_ROLE_FILTERS] = bpf_map__fd(g.skel->maps.lfp_o_filters);
	g.outer[LFP_ROLE_LAYER_CFG] = bpf_map__fd(g.skel->maps.lfp_o_layer_cfg);
	g.outer[LFP_ROLE_AUX_HDR] = bpf_map__fd(g.skel->maps.lfp_o_aux_hdr);
	g.outer[LFP_ROLE_AUX] = bpf_map__fd(g.skel->maps.lfp_o_aux);
	g.state_len = (sizeof(struct lfp_state) + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, g.state_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 bpf_map__fd(g.skel->maps.lfp_state), 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "test_bpf_diff: mmap lfp_state: %s\n", strerror(errno));
		lfp_test_eval__destroy(g.skel);
		return -1;
	}
	g.state = p;
	g.state->abi = LFP_ABI_VERSION;
	return 0;
}

static int group_teardown(void **state)
{
	if (g.state)
		munmap(g.state, g.state_len);
	lfp_test_eval__destroy(g.skel);
	return 0;
}

/* ---- one classification in the kernel ---- */

/* What the hooks of lfp.bpf.c fill from a socket, filled from a test connection. */
static void conn_to_io(const struct lfp_conn *c, struct lfp_test_io *io)
{
	struct lfp_eval_in *in = &io->in;

	memset(io, 0, sizeof(*io));
	in->layer = (__u8)c->layer;
	in->app_dev = c->app_dev;
	in->app_ino = c->app_ino;
	in->uid = c->uid;
	in->gid = c->gid;
	in->pid = c->pid;
	if (c->cgroup_depth && c->cgroup_depth <= LFP_TEST_ANC_MAX) {
		in->cgroup = c->cgroup_ids[c->cgroup_depth - 1];
		in->cgroup_level = c->cgroup_depth - 1;
		memcpy(io->anc, c->cgroup_ids, c->cgroup_depth * sizeof(io->anc[0]));
	}
	in->proto = c->proto;
	in->ipver = c->ipver;
	memcpy(in->laddr, c->laddr, 16);
	memcpy(in->raddr, c->raddr, 16);
	memcpy(in->oaddr, c->oaddr, 16);
	in->lport = c->lport;
	in->rport = c->rport;
	in->oport = c->oport;
	in->direction = c->direction;
	in->ifindex = c->ifindex;
	in->icmp_type = c->icmp_type;
	in->icmp_code = c->icmp_code;
	in->flags = c->flags;
}

static void kern_classify(const struct lfp_conn *c, struct lfp_test_io *out)
{
	struct lfp_test_io in;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &in, .data_size_in = sizeof(in),
		    .data_out = out, .data_size_out = sizeof(*out), .repeat = 1);

	conn_to_io(c, &in);
	memset(out, 0, sizeof(*out));
	if (bpf_prog_test_run_opts(g.prog, &o))
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(errno));
	assert_int_equal(o.retval, 1);
	assert_int_equal(o.data_size_out, sizeof(*out));
	assert_int_equal(out->done, LFP_TEST_DONE);
	if (out->gen)
		g.runs++;
}

/* ---- committing as lfpd does ---- */

static void counters_zero(uint32_t n)
{
	int fd = bpf_map__fd(g.skel->maps.lfp_counters);
	__u64 zero = 0;

	for (uint32_t i = 0; i < n; i++) {
		__u32 slot = COUNTER_BASE + i;

		assert_int_equal(bpf_map_update_elem(fd, &slot, &zero, BPF_ANY), 0);
	}
}

static uint64_t counter_get(uint32_t slot)
{
	__u64 v = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.lfp_counters), &slot, &v), 0);
	return v;
}

static uint64_t stat_get(__u32 stat)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *v, sum = 0;

	assert_true(ncpu > 0);
	v = calloc((size_t)ncpu, sizeof(*v));
	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(g.skel->maps.lfp_stats), &stat, v), 0);
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	free(v);
	return sum;
}

/* Lower @t (every layer: the evaluator serves any) and commit it as the next generation. */
static uint64_t commit(const struct tp *t, struct lfp_lowered *lw)
{
	struct lfp_diags d = { 0 };
	uint64_t before = __atomic_load_n(&g.state->gen, __ATOMIC_ACQUIRE), gen = 0;
	int r = lfp_lower(&t->p, NULL, lw, &d);

	if (r) {
		lfp_diags_print(&d, stderr);
		print_policy(stderr, &t->p);
		fail_msg("lfp_lower: %d", r);
	}
	lfp_diags_fini(&d);
	/* lfpd gives each kernel filter its counter slot and zeroes fresh slots before commit */
	for (size_t i = 0; i < lw->n_filters; i++)
		lw->filters[i].counter = COUNTER_BASE + (uint32_t)i;
	counters_zero((uint32_t)lw->n_filters);
	r = lfp_kern_commit_maps(g.outer, g.state, lw, &gen);
	if (r)
		fail_msg("lfp_kern_commit_maps: %s", strerror(-r));
	assert_int_equal(gen, before + 1);
	assert_int_equal(__atomic_load_n(&g.state->gen, __ATOMIC_ACQUIRE), gen);
	return gen;
}

/* ---- tests ---- */

/* Before the first commit (gen 0) everything is permitted, by no filter. */
static void test_no_generation(void **state)
{
	struct rng r = { 99 };
	struct hot *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	assert_int_equal(__atomic_load_n(&g.state->gen, __ATOMIC_ACQUIRE), 0);
	for (int i = 0; i < 100; i++) {
		struct lfp_test_io io;
		struct lfp_conn c;

		random_conn(&r, h, &c);
		kern_classify(&c, &io);
		assert_int_equal(io.ret, 0);
		assert_int_equal(io.gen, 0);
		assert_int_equal(io.out.verdict, LFP_V_PERMIT);
		assert_int_equal(io.out.filter_idx, -1);
	}
	free(h);
}

struct side {
	int verdict;
	uint64_t fid; /* 0: no deciding filter */
	bool hard;
};

static void print_side(FILE *o, const char *who, struct side s)
{
	fprintf(o, "  %-9s %s, filter %" PRIu64 "%s\n", who, lfp_verdict_name(s.verdict), s.fid,
		s.hard ? ", hard" : "");
}

static void print_in(FILE *o, const struct lfp_test_io *io)
{
	const unsigned char *b = (const unsigned char *)&io->in;

	fprintf(o, "  lfp_eval_in (%zu bytes):", sizeof(io->in));
	for (size_t i = 0; i < sizeof(io->in); i++)
		fprintf(o, "%s%02x", i % 32 ? "" : "\n    ", b[i]);
	fprintf(o, "\n  ancestors:");
	for (uint32_t i = 0; i <= io->in.cgroup_level && i < LFP_TEST_ANC_MAX && io->in.cgroup; i++)
		fprintf(o, " %" PRIu64, (uint64_t)io->anc[i]);
	fprintf(o, "\n");
}

/*
 * The first disagreement, in full: how to run it again, the policy, the
 * connection as the oracle and as the kernel saw it, all three answers
 * (the user-space evaluator's says whether the lowering or the BPF side
 * is at fault) and the lowered sizes.
 */
static void report_mismatch(uint64_t seed, uint64_t per_policy, uint64_t case_no, const char *what,
			    const struct tp *t, const struct lfp_lowered *lw,
			    const struct lfp_conn *c, const struct lfp_test_io *io, struct side o,
			    struct side k)
{
	struct side u = { 0 };
	int v = -1, idx = -1, r;

	r = lfp_lowered_classify(lw, c, &v, &idx);
	u.verdict = v;
	if (!r && idx >= 0 && (size_t)idx < lw->n_filters) {
		u.fid = lw->filters[idx].id;
		u.hard = v == LFP_V_VETO || lw->filters[idx].hard;
	}
	fprintf(stderr,
		"MISMATCH (%s) at case %" PRIu64 ": rerun with LFP_DIFF_SEED=%" PRIu64
		" LFP_DIFF_CASES=%" PRIu64 " LFP_DIFF_PER_POLICY=%" PRIu64 "\n",
		what, case_no, seed, case_no, per_policy);
	print_side(stderr, "oracle", o);
	print_side(stderr, "kernel", k);
	fprintf(stderr,
		"  kernel    ret %d, generation %" PRIu64 " (expected %" PRIu64
		"), filter_idx %d, kf.id %" PRIu64 " kf.counter %u\n",
		io->ret, (uint64_t)io->gen, (uint64_t)g.state->gen, io->out.filter_idx,
		(uint64_t)io->out.kf.id, io->out.kf.counter);
	if (r)
		fprintf(stderr, "  user-space evaluator: error %d\n", r);
	else
		print_side(stderr, "user eval", u);
	fprintf(stderr,
		"  lowered: %zu kernel filters, %zu rules, %zu tuples, %zu lpm, %zu hash entries\n",
		lw->n_filters, lw->n_rules, lw->n_tuples, lw->n_lpm, lw->n_hash);
	fprintf(stderr, "policy:\n");
	print_policy(stderr, &t->p);
	fprintf(stderr, "connection:\n");
	print_conn(stderr, c);
	print_in(stderr, io);
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void test_differential(void **state)
{
	uint64_t seed = env_u64("LFP_DIFF_SEED", 1), cases = env_u64("LFP_DIFF_CASES", 200000);
	/*
	 * A commit costs ~130 ms here (the kernel waits for an RCU grace period
	 * on each of the 8 outer map updates), a case ~40 us: the default
	 * spends about as long on commits as on cases. 250 replays
	 * test_lower's exact sequence of policies and connections.
	 */
	const uint64_t per_policy = env_u64("LFP_DIFF_PER_POLICY", 1000) ?: 1;
	uint64_t gens = 0, slot_used[2] = { 0 }, decided = 0, hits_checked = 0;
	uint64_t runs0 = g.runs, classify0 = stat_get(LFP_STAT_CLASSIFY);
	uint64_t errors0 = stat_get(LFP_STAT_ERRORS), retry0 = stat_get(LFP_STAT_GEN_RETRY);
	uint64_t *expect_hits = NULL;
	struct rng r = { seed };
	struct cov cv = { 0 };
	struct hot *h = calloc(1, sizeof(*h));
	struct timespec t0, t1;
	bool all;

	assert_non_null(h);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (cv.cases < cases) {
		struct tp *t = tp_new();
		struct lfp_lowered lw;
		uint64_t gen;

		random_policy(&r, t, h, &cv);
		gen = commit(t, &lw);
		cv.policies++;
		gens++;
		slot_used[gen & 1]++;
		expect_hits = realloc(expect_hits, (lw.n_filters + 1) * sizeof(*expect_hits));
		assert_non_null(expect_hits);
		memset(expect_hits, 0, (lw.n_filters + 1) * sizeof(*expect_hits));

		for (uint64_t i = 0; i < per_policy && cv.cases < cases; i++) {
			struct lfp_classify_result res;
			struct lfp_test_io io;
			struct lfp_conn c;
			struct side o, k = { 0 };
			const char *bad = NULL;

			random_conn(&r, h, &c);
			assert_int_equal(lfp_oracle_classify(&t->p, &c, &res), 0);
			o.verdict = res.verdict;
			o.fid = res.filter ? res.filter->id : 0;
			o.hard = res.hard;
			cov_record(&cv, &res);
			lfp_classify_result_fini(&res);

			kern_classify(&c, &io);
			k.verdict = io.out.verdict;
			k.hard = io.out.hard;
			if (io.out.filter_idx >= 0)
				k.fid = io.out.kf.id;

			if (io.ret)
				bad = "lfp_classify() failed";
			else if (io.gen != gen)
				bad = "answered from another generation";
			else if (io.out.filter_idx >= (int)lw.n_filters ||
				 (io.out.filter_idx >= 0 &&
				  memcmp(&io.out.kf, &lw.filters[io.out.filter_idx],
					 sizeof(io.out.kf))))
				bad = "deciding filter is not the committed one";
			else if (o.verdict != k.verdict || o.fid != k.fid || o.hard != k.hard)
				bad = "kernel and oracle disagree";
			if (bad) {
				report_mismatch(seed, per_policy, cv.cases, bad, t, &lw, &c, &io, o,
						k);
				fail_msg("the kernel's evaluator disagrees with the oracle");
			}
			if (io.out.filter_idx >= 0) {
				expect_hits[io.out.filter_idx]++;
				decided++;
			}
		}

		/* the kernel counted exactly the decisions it made, per filter */
		for (size_t i = 0; i < lw.n_filters; i++) {
			uint64_t got = counter_get(COUNTER_BASE + (uint32_t)i);

			if (got != expect_hits[i])
				fail_msg("generation %" PRIu64 ": filter %" PRIu64
					 " (idx %zu) counted %" PRIu64 " hits, decided %" PRIu64,
					 gen, (uint64_t)lw.filters[i].id, i, got, expect_hits[i]);
			hits_checked += got;
		}
		lfp_lowered_fini(&lw);
		tp_free(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(expect_hits);
	free(h);

	printf("# kernel differential: seed %" PRIu64 ", %" PRIu64 " cases over %" PRIu64
	       " policies, 0 mismatches, %.2f s\n",
	       seed, cv.cases, cv.policies, elapsed_s(&t0, &t1));
	cov_print(stdout, &cv);
	printf("# kernel: %" PRIu64 " generations committed (slot 0: %" PRIu64 ", slot 1: %" PRIu64
	       "), %" PRIu64 " cases decided by a filter, %" PRIu64 " hits counted as decided\n",
	       gens, slot_used[0], slot_used[1], decided, hits_checked);
	printf("# kernel stats: classify %" PRIu64 ", errors %" PRIu64
	       ", generation retries %" PRIu64 "\n",
	       stat_get(LFP_STAT_CLASSIFY) - classify0, stat_get(LFP_STAT_ERRORS) - errors0,
	       stat_get(LFP_STAT_GEN_RETRY) - retry0);

	/* every classification counted once, none failed, none raced a commit */
	assert_int_equal(stat_get(LFP_STAT_CLASSIFY) - classify0, g.runs - runs0);
	assert_int_equal(stat_get(LFP_STAT_ERRORS), errors0);
	assert_int_equal(stat_get(LFP_STAT_GEN_RETRY), retry0);
	/* the generator must reach everything it claims to test, both slots included */
	all = cov_complete(&cv) && slot_used[0] && slot_used[1] && decided && cv.nomatch;
	printf("# coverage %s%s\n", all ? "complete" : "INCOMPLETE",
	       cases >= 20000 ? "" : " (not required below 20000 cases)");
	if (cases >= 20000)
		assert_true(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_generation),
		cmocka_unit_test(test_differential),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
