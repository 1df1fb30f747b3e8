/* SPDX-License-Identifier: MIT */
/**
 * @file lower.h
 * @brief Lowering: compile a resolved policy into the kernel's map contents.
 *
 * The output is plain arrays in the layout of common/lfp_abi.h; lfpd copies
 * them into a fresh generation of BPF maps, and the user-space evaluator
 * (lfp_lowered_classify) runs common/lfp_eval.h over the same arrays so
 * tests can hold kernel semantics against the oracle without a kernel.
 * No libbpf dependency. The algorithm: docs/classification.md.
 *
 * Layout lfp_lower() guarantees (lfp_lowered_classify relies on it): rule
 * keys and hash keys strictly increasing by memcmp; LPM entries increasing
 * by data and pairwise disjoint; each layer's tuples contiguous from
 * layer_cfg[l].tuple_base, grouped by ascending sublayer rank, with
 * tuple.id == its index; no label entry is 0. filters[] holds only the
 * filters that can decide (terminating answer, matchable), in evaluation
 * order; counter is left 0 for the caller to set.
 */
#pragma once

#include <linux/types.h>
#include <lfp/oracle.h>
#include "lfp_abi.h" /* common/ in the tree, next to this file once installed */

#ifdef __cplusplus
extern "C" {
#endif

struct lfp_lowered {
	/* lbl_port: full array, LFP_PORT_FIELDS * 65536 labels */
	__u32 *port_labels;
	/* lbl_small: full array, LFP_SMALL_FIELDS * 256 labels */
	__u32 *small_labels;
	/* lbl_lpm entries */
	struct lfp_lpm_key *lpm_keys;
	__u32 *lpm_vals;
	size_t n_lpm;
	/* lbl_hash entries */
	struct lfp_hash_key *hash_keys;
	__u32 *hash_vals;
	size_t n_hash;
	/* tuples (all layers; each layer's run starts at layer_cfg[l].tuple_base) */
	struct lfp_tuple *tuples;
	size_t n_tuples;
	struct lfp_layer_cfg layer_cfg[LFP_LAYER_COUNT];
	/* rules */
	struct lfp_rule_key *rule_keys;
	struct lfp_rule_val *rule_vals;
	size_t n_rules;
	/* filters; filter_src[i] is the policy filter behind filters[i] (borrowed) */
	struct lfp_kfilter *filters;
	const struct lfp_filter **filter_src;
	size_t n_filters;
};

struct lfp_lower_opts {
	size_t sz;
	/** Only these layers (bit per enum lfp_layer); 0 = all. */
	__u32 layers;
	/** Cap on rule entries (cross-product expansion); 0 = 16M. Over it: -E2BIG with a diag
	 * naming the filter. */
	size_t max_rules;
};

/**
 * Compile @p p (resolved, weighted, with ids) into @p out (overwritten; free
 * with lfp_lowered_fini(), also after an error). Values that are absent or
 * unresolved match nothing, as in the oracle; cgroup subtrees come from the
 * values' paths (value.str).
 * @return 0; -E2BIG / -EINVAL with a diag naming the filter (too many
 * fields, too many sublayers or tuples, expansion over the cap);
 * -EOPNOTSUPP with a diag naming the filter for answers the kernel cannot
 * give yet (ask, registered non-inspection callouts: they pend); -ENOMEM.
 */
int lfp_lower(const struct lfp_policy *p, const struct lfp_lower_opts *opts,
	      struct lfp_lowered *out, struct lfp_diags *diags);

void lfp_lowered_fini(struct lfp_lowered *lw);

/** Raw fields of a connection as the BPF hook sees them (same as common/lfp_eval.h input). */
struct lfp_eval_in;

/**
 * Classify @p c with the kernel's algorithm over @p lw (user-space maps).
 * Apps and cgroups are matched by identity only (c->app_dev/app_ino,
 * c->cgroup_ids), as the kernel sees them.
 * @param verdict out: enum lfp_verdict (permit, block, veto or redirect)
 * @param filter_idx out: index into lw->filters of the deciding filter, or -1
 * @return 0, -EINVAL (bad layer or arrays), -ENOENT (inconsistent arrays)
 */
int lfp_lowered_classify(const struct lfp_lowered *lw, const struct lfp_conn *c, int *verdict,
			 int *filter_idx);

/**
 * The inspection callout filter (`callout count`, a registered inspection
 * callout) that classifying @p c with the kernel's algorithm reaches, at the
 * layers where the kernel reports payloads to them (datagram-data, stream):
 * the heaviest of the first sublayer with one that no heavier terminating
 * filter of its sublayer decided before. It never changes the verdict.
 * @param inspect_idx out: index into lw->filters, or -1 for none
 * @return 0, -EINVAL (bad layer or arrays), -ENOENT (inconsistent arrays)
 */
int lfp_lowered_inspection(const struct lfp_lowered *lw, const struct lfp_conn *c,
			   int *inspect_idx);

/**
 * Whether classifying @p c over @p lw matches a notify filter (LFP_KF_NOTIFY:
 * an external callout that cannot decide at that layer), which makes the kernel
 * report the classification so lfpd can tell the callout's client.
 * @param notify out: true when one matched
 * @return 0, -EINVAL, -ENOENT as lfp_lowered_classify()
 */
int lfp_lowered_notifies(const struct lfp_lowered *lw, const struct lfp_conn *c, bool *notify);

#ifdef __cplusplus
}
#endif
