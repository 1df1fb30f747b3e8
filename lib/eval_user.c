// SPDX-License-Identifier: MIT
/*
 * The kernel's evaluator (common/lfp_eval.h) over the arrays of a struct
 * lfp_lowered, so tests hold kernel semantics against the oracle without a
 * kernel. Lookups lean on the order lfp_lower() leaves the arrays in
 * (lower.h): rule and hash keys sorted by memcmp, LPM keys sorted by data
 * with disjoint prefixes; so every lookup is one binary search.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <lfp/lower.h>

struct lfp_eval_env {
	const struct lfp_lowered *lw;
	const struct lfp_conn *c;
};

static int cmp_hash_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct lfp_hash_key));
}

static int cmp_rule_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct lfp_rule_key));
}

static const __u32 *env_hash(const struct lfp_eval_env *env, const struct lfp_hash_key *k)
{
	const struct lfp_lowered *lw = env->lw;
	const struct lfp_hash_key *e;

	if (!lw->n_hash)
		return NULL;
	e = bsearch(k, lw->hash_keys, lw->n_hash, sizeof(*k), cmp_hash_key);
	return e ? &lw->hash_vals[e - lw->hash_keys] : NULL;
}

static const struct lfp_rule_val *env_rule(const struct lfp_eval_env *env,
					   const struct lfp_rule_key *k)
{
	const struct lfp_lowered *lw = env->lw;
	const struct lfp_rule_key *e;

	if (!lw->n_rules)
		return NULL;
	e = bsearch(k, lw->rule_keys, lw->n_rules, sizeof(*k), cmp_rule_key);
	return e ? &lw->rule_vals[e - lw->rule_keys] : NULL;
}

static bool lpm_contains(const struct lfp_lpm_key *e, const struct lfp_lpm_key *k)
{
	unsigned int full = e->prefixlen / 8, rest = e->prefixlen % 8;

	if (e->prefixlen > k->prefixlen || e->prefixlen > 8 * sizeof(e->data))
		return false;
	if (memcmp(e->data, k->data, full))
		return false;
	return !rest || !((e->data[full] ^ k->data[full]) & (0xff00 >> rest));
}

/* The entry with the greatest start <= key is the only one that can hold it (disjoint). */
static const __u32 *env_lpm(const struct lfp_eval_env *env, const struct lfp_lpm_key *k)
{
	const struct lfp_lowered *lw = env->lw;
	size_t lo = 0, hi = lw->n_lpm;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(lw->lpm_keys[mid].data, k->data, sizeof(k->data)) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || !lpm_contains(&lw->lpm_keys[lo - 1], k))
		return NULL;
	return &lw->lpm_vals[lo - 1];
}

static __u64 env_cgroup_ancestor(const struct lfp_eval_env *env, __u32 level)
{
	return level < env->c->cgroup_depth && level < LFP_CGROUP_MAX_DEPTH
		       ? env->c->cgroup_ids[level]
		       : 0;
}

#define LFP_EVAL_LOOKUP_PORT(env, idx)                                                             \
	((idx) < LFP_LBL_PORT_ENTRIES ? &(env)->lw->port_labels[(idx)] : NULL)
#define LFP_EVAL_LOOKUP_SMALL(env, idx)                                                            \
	((idx) < LFP_LBL_SMALL_ENTRIES ? &(env)->lw->small_labels[(idx)] : NULL)
#define LFP_EVAL_LOOKUP_LPM(env, key)  env_lpm((env), (key))
#define LFP_EVAL_LOOKUP_HASH(env, key) env_hash((env), (key))
#define LFP_EVAL_LOOKUP_TUPLE(env, idx)                                                            \
	((idx) < (env)->lw->n_tuples ? &(env)->lw->tuples[(idx)] : NULL)
#define LFP_EVAL_LOOKUP_RULE(env, key) env_rule((env), (key))
#define LFP_EVAL_LOOKUP_FILTER(env, idx)                                                           \
	((idx) < (env)->lw->n_filters ? &(env)->lw->filters[(idx)] : NULL)
#define LFP_EVAL_LOOKUP_LAYER_CFG(env, l)                                                          \
	((l) < LFP_LAYER_COUNT ? &(env)->lw->layer_cfg[(l)] : NULL)
#define LFP_EVAL_CGROUP_ANCESTOR(env, in, level) env_cgroup_ancestor((env), (level))

#include "lfp_eval.h"

static int lowered_eval(const struct lfp_lowered *lw, const struct lfp_conn *c,
			struct lfp_eval_out *out)
{
	struct lfp_eval_env env = { lw, c };
	struct lfp_eval_in in = { 0 };
	int r;

	if (!lw || !c || !lw->port_labels || !lw->small_labels ||
	    (unsigned int)c->layer >= LFP_LAYER_COUNT)
		return -EINVAL;
	in.layer = (__u8)c->layer;
	in.app_dev = c->app_dev;
	in.app_ino = c->app_ino;
	in.uid = c->uid;
	in.gid = c->gid;
	in.pid = c->pid;
	if (c->cgroup_depth && c->cgroup_depth <= LFP_CGROUP_MAX_DEPTH) {
		in.cgroup = c->cgroup_ids[c->cgroup_depth - 1];
		in.cgroup_level = c->cgroup_depth - 1;
	}
	in.proto = c->proto;
	in.ipver = c->ipver;
	memcpy(in.laddr, c->laddr, 16);
	memcpy(in.raddr, c->raddr, 16);
	memcpy(in.oaddr, c->oaddr, 16);
	in.lport = c->lport;
	in.rport = c->rport;
	in.oport = c->oport;
	in.direction = c->direction;
	in.ifindex = c->ifindex;
	in.icmp_type = c->icmp_type;
	in.icmp_code = c->icmp_code;
	in.flags = c->flags;

	r = lfp_eval(&env, &in, out);
	if (r)
		return r == -LFP_EVAL_EINVAL ? -EINVAL : -ENOENT;
	return 0;
}

int lfp_lowered_classify(const struct lfp_lowered *lw, const struct lfp_conn *c, int *verdict,
			 int *filter_idx)
{
	struct lfp_eval_out out;
	int r = lowered_eval(lw, c, &out);

	if (r)
		return r;
	if (verdict)
		*verdict = out.verdict;
	if (filter_idx)
		*filter_idx = out.filter_idx;
	return 0;
}

int lfp_lowered_inspection(const struct lfp_lowered *lw, const struct lfp_conn *c, int *inspect_idx)
{
	struct lfp_eval_out out;
	int r = lowered_eval(lw, c, &out);

	if (r)
		return r;
	if (inspect_idx)
		*inspect_idx = out.inspect_idx;
	return 0;
}

int lfp_lowered_notifies(const struct lfp_lowered *lw, const struct lfp_conn *c, bool *notify)
{
	struct lfp_eval_out out;
	int r = lowered_eval(lw, c, &out);

	if (r)
		return r;
	if (notify)
		*notify = out.notify;
	return 0;
}
