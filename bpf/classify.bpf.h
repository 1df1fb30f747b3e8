/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * lfp_classify(): the evaluator of common/lfp_eval.h over the active policy
 * generation's maps. Included by bpf/lfp.bpf.c after "maps.bpf.h" (the map
 * names are the contract of notes/kernel-interface.md).
 *
 * Generations: lfp_state.gen is read once; every inner map is taken from
 * slot gen & 1; gen is read again at the end. lfpd only rewrites slot
 * gen & 1 after it has published gen + 1, so an unchanged gen proves the
 * classification saw one whole generation. A changed gen retries (bounded).
 *
 * The includer may define LFP_EVAL_CGROUP_ANCESTOR itself before including
 * this file (hooks outside process context must take the socket's cgroup,
 * e.g. with bpf_skb_ancestor_cgroup_id); the default reads the current
 * task's ancestors, which is right for connect/sendmsg/bind/sock_create.
 */
#pragma once

#include "lfp_abi.h"
#include "lfp_fold.h"

/*
 * The environment is just the generation: every lookup takes the inner map
 * from slot gen & 1 of its outer map (an array-of-maps lookup the verifier
 * inlines), so no map pointers sit on the stack (512 bytes for the whole
 * hook).
 */
struct lfp_eval_env {
	__u64 gen;
	__u32 slot;
	__u32 pad;
};

static __always_inline const void *lfp_env_lookup(void *outer, __u32 slot, const void *key)
{
	void *inner = bpf_map_lookup_elem(outer, &slot);

	return inner ? bpf_map_lookup_elem(inner, key) : NULL;
}

static __always_inline const void *lfp_env_lookup_u32(void *outer, __u32 slot, __u32 idx)
{
	return lfp_env_lookup(outer, slot, &idx);
}

#define LFP_EVAL_LOOKUP_PORT(env, idx)                                                             \
	((const __u32 *)lfp_env_lookup_u32(&lfp_o_lbl_port, (env)->slot, (idx)))
#define LFP_EVAL_LOOKUP_SMALL(env, idx)                                                            \
	((const __u32 *)lfp_env_lookup_u32(&lfp_o_lbl_small, (env)->slot, (idx)))
#define LFP_EVAL_LOOKUP_LPM(env, key)                                                              \
	((const __u32 *)lfp_env_lookup(&lfp_o_lbl_lpm, (env)->slot, (key)))
#define LFP_EVAL_LOOKUP_HASH(env, key)                                                             \
	((const __u32 *)lfp_env_lookup(&lfp_o_lbl_hash, (env)->slot, (key)))
#define LFP_EVAL_LOOKUP_TUPLE(env, idx)                                                            \
	((const struct lfp_tuple *)lfp_env_lookup_u32(&lfp_o_tuples, (env)->slot, (idx)))
#define LFP_EVAL_LOOKUP_RULE(env, key)                                                             \
	((const struct lfp_rule_val *)lfp_env_lookup(&lfp_o_rules, (env)->slot, (key)))
#define LFP_EVAL_LOOKUP_FILTER(env, idx)                                                           \
	((const struct lfp_kfilter *)lfp_env_lookup_u32(&lfp_o_filters, (env)->slot, (idx)))
#define LFP_EVAL_LOOKUP_LAYER_CFG(env, l)                                                          \
	((const struct lfp_layer_cfg *)lfp_env_lookup_u32(&lfp_o_layer_cfg, (env)->slot, (l)))
#define LFP_EVAL_LOOKUP_AUX_HDR(env, idx)                                                          \
	((const struct lfp_aux_hdr *)lfp_env_lookup_u32(&lfp_o_aux_hdr, (env)->slot, (idx)))
#define LFP_EVAL_LOOKUP_AUX(env, idx)                                                              \
	((const __u64 *)lfp_env_lookup_u32(&lfp_o_aux, (env)->slot, (idx)))
#define LFP_EVAL_GEN(env) ((env)->gen)
#ifndef LFP_EVAL_CGROUP_ANCESTOR
#define LFP_EVAL_CGROUP_ANCESTOR(env, in, level) bpf_get_current_ancestor_cgroup_id(level)
#endif

/*
 * The two steps of lfp_eval() run as global functions: each is verified
 * once, on its own, with unknown arguments. Inlined into the tuple loop,
 * their branches multiply the verifier's states with every iteration (over
 * the 1M instruction limit, also with the running state moved to memory
 * the verifier does not track; the labels step alone, inlined that way,
 * measured no faster).
 */
struct lfp_eval_lbl;
struct lfp_eval_acc;
struct lfp_eval_in;
__noinline int lfp_eval_labels_bpf(struct lfp_eval_env *env, const struct lfp_eval_in *in,
				   __u32 used, struct lfp_eval_lbl *lbl);
__noinline int lfp_eval_tuple_bpf(struct lfp_eval_env *env, __u32 idx,
				  const struct lfp_eval_lbl *lbl, struct lfp_eval_acc *acc,
				  struct lfp_kfilter *dec_kf);
#define LFP_EVAL_LABELS(env, in, used, lbl) lfp_eval_labels_bpf((env), (in), (used), (lbl))
#define LFP_EVAL_TUPLE(env, idx, lbl, acc, dec_kf)                                                 \
	lfp_eval_tuple_bpf((env), (idx), (lbl), (acc), (dec_kf))

#include "lfp_eval.h"

__noinline int lfp_eval_labels_bpf(struct lfp_eval_env *env, const struct lfp_eval_in *in,
				   __u32 used, struct lfp_eval_lbl *lbl)
{
	if (!env || !in || !lbl)
		return -LFP_EVAL_EINVAL;
	lfp_eval_labels(env, in, used, lbl);
	return 0;
}

__noinline int lfp_eval_tuple_bpf(struct lfp_eval_env *env, __u32 idx,
				  const struct lfp_eval_lbl *lbl, struct lfp_eval_acc *acc,
				  struct lfp_kfilter *dec_kf)
{
	if (!env || !lbl || !acc || !dec_kf)
		return -LFP_EVAL_EINVAL;
	return lfp_eval_tuple(env, idx, lbl, acc, dec_kf);
}

/*
 * One classification over the inner maps of generation @gen (slot gen & 1),
 * inlined into the hook: a call costs ~10 ns on some machines, and with the
 * two steps above global the verifier's work stays linear (the generation
 * retry below only doubles it: ~35 000 instructions for connect4). Every
 * role's inner map but the auxiliary tables must be present (lfpd installs
 * all of them before it publishes a generation); without auxiliary tables
 * for @gen every tuple is looked up and every address goes to the trie.
 */
static __always_inline int lfp_eval_gen(__u64 gen, const struct lfp_eval_in *in,
					struct lfp_eval_out *out)
{
	struct lfp_eval_env env = { .gen = gen, .slot = gen & 1 };

	return lfp_eval(&env, in, out);
}

/* A commit racing a classification is rare; after this many tries the last result stands. */
#define LFP_GEN_TRIES 2

static __always_inline void lfp_stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&lfp_stats, &stat);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

/* The classification's own counters: one per classification, and the
 * deciding filter's hits. */
static __always_inline void lfp_classify_count(const struct lfp_eval_out *out)
{
	lfp_stat_inc(LFP_STAT_CLASSIFY);
	if (out->filter_idx >= 0) {
		__u32 slot = out->kf.counter;
		__u64 *hits = bpf_map_lookup_elem(&lfp_counters, &slot);

		if (hits)
			__sync_fetch_and_add(hits, 1);
	}
}

/**
 * lfp_classify() without its counters (lfp_classify_count): for a look
 * ahead whose packet a hook classifies again, so one packet counts once.
 * @return 1 when @out should be counted (a clean classification), 0 when
 *         there was no policy, -LFP_EVAL_ENOENT after an error (counted).
 */
static __always_inline int lfp_classify_nocount(const struct lfp_eval_in *in,
						struct lfp_eval_out *out, __u64 *gen_out)
{
	struct lfp_state *st;
	__u32 zero = 0;
	__u64 gen = 0;
	int err = 0;

	out->verdict = LFP_V_PERMIT;
	out->hard = 0;
	out->filter_idx = -1;
	out->inspect_idx = -1;
	*gen_out = 0;
	st = bpf_map_lookup_elem(&lfp_state, &zero);
	if (!st) {
		lfp_stat_inc(LFP_STAT_ERRORS);
		return -LFP_EVAL_ENOENT;
	}
	for (int try = 0; try < LFP_GEN_TRIES; try++) {
		gen = *(volatile __u64 *)&st->gen;
		if (!gen)
			return 0;
		err = lfp_eval_gen(gen, in, out);
		if (*(volatile __u64 *)&st->gen == gen)
			break;
		lfp_stat_inc(LFP_STAT_GEN_RETRY);
	}
	*gen_out = gen;
	if (err) {
		out->verdict = LFP_V_PERMIT;
		out->hard = 0;
		out->filter_idx = -1;
		out->inspect_idx = -1;
		lfp_stat_inc(LFP_STAT_ERRORS);
		return err;
	}
	return 1;
}

/**
 * Classify @in against the active generation.
 * @param out verdict and deciding filter (filter_idx -1: none; the layer's
 *        default, permit). On a missing map or entry (a broken generation,
 *        counted in LFP_STAT_ERRORS) the answer is permit with filter_idx -1.
 * @param gen_out the generation the answer belongs to (0: no policy).
 * @return 0, or -LFP_EVAL_ENOENT after such an error (out is still valid).
 */
static __always_inline int lfp_classify(const struct lfp_eval_in *in, struct lfp_eval_out *out,
					__u64 *gen_out)
{
	int r = lfp_classify_nocount(in, out, gen_out);

	if (r <= 0)
		return r;
	lfp_classify_count(out);
	return 0;
}
