/* SPDX-License-Identifier: MIT */
/*
 * The kernel's classification algorithm, written once: compiled by
 * clang -target bpf (bpf/classify.bpf.h) and by cc (lib/eval_user.c, which
 * runs it over the arrays of struct lfp_lowered so tests can hold it
 * against the oracle). docs/classification.md explains the algorithm.
 *
 * Before including this header the includer provides the integer types
 * (__u8 .. __u64), defines `struct lfp_eval_env` (whatever its lookups
 * need), and defines every lookup below. Each returns a pointer to the
 * value, or NULL when the key is absent:
 *
 *   LFP_EVAL_LOOKUP_PORT(env, idx)       const __u32 *        lbl_port[idx]
 *   LFP_EVAL_LOOKUP_SMALL(env, idx)      const __u32 *        lbl_small[idx]
 *   LFP_EVAL_LOOKUP_LPM(env, key)        const __u32 *        lbl_lpm, longest prefix of *key
 *   LFP_EVAL_LOOKUP_HASH(env, key)       const __u32 *        lbl_hash[*key]
 *   LFP_EVAL_LOOKUP_TUPLE(env, idx)      const struct lfp_tuple *
 *   LFP_EVAL_LOOKUP_RULE(env, key)       const struct lfp_rule_val *
 *   LFP_EVAL_LOOKUP_FILTER(env, idx)     const struct lfp_kfilter *
 *   LFP_EVAL_LOOKUP_LAYER_CFG(env, l)    const struct lfp_layer_cfg *
 *   LFP_EVAL_CGROUP_ANCESTOR(env, in, level)  __u64: id of the connection's
 *       cgroup ancestor at @level (0 = root, in->cgroup_level = own), 0 if none
 *
 * Optional: LFP_EVAL_LABELS and LFP_EVAL_TUPLE (see below).
 *
 * Keys are passed as pointers to stack variables (what bpf_map_lookup_elem
 * takes). No libc, no function pointers, only loops with constant bounds.
 */
#pragma once

#include "lfp_abi.h"
#include "lfp_fold.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#if !defined(LFP_EVAL_LOOKUP_PORT) || !defined(LFP_EVAL_LOOKUP_SMALL) ||                           \
	!defined(LFP_EVAL_LOOKUP_LPM) || !defined(LFP_EVAL_LOOKUP_HASH) ||                         \
	!defined(LFP_EVAL_LOOKUP_TUPLE) || !defined(LFP_EVAL_LOOKUP_RULE) ||                       \
	!defined(LFP_EVAL_LOOKUP_FILTER) || !defined(LFP_EVAL_LOOKUP_LAYER_CFG) ||                 \
	!defined(LFP_EVAL_CGROUP_ANCESTOR)
#error "define every LFP_EVAL_LOOKUP_* and LFP_EVAL_CGROUP_ANCESTOR before including lfp_eval.h"
#endif

/* Errors of lfp_eval() (negative returns). Plain numbers: BPF has no errno.h. */
#define LFP_EVAL_ENOENT 2  /* a map or entry the generation promises is missing */
#define LFP_EVAL_EINVAL 22 /* layer out of range */

/*
 * Raw fields of a connection as the hook sees them. Addresses are 16 bytes
 * in network order, IPv4 v4-mapped (::ffff:a.b.c.d); ports in host order.
 */
struct lfp_eval_in {
	__u8 laddr[16];
	__u8 raddr[16];
	__u8 oaddr[16]; /* original destination of a redirected flow */
	__u64 app_dev;	/* executable identity (kernel dev encoding), 0 = unknown */
	__u64 app_ino;
	__u64 cgroup;	    /* own cgroup id, 0 = unknown (no cgroup lookup) */
	__u32 cgroup_level; /* level of the own cgroup: the root is 0 */
	__u32 uid;
	__u32 gid;
	__u32 pid;
	__u32 ifindex;
	__u32 flags; /* LFP_CF_* */
	__u16 lport;
	__u16 rport;
	__u16 oport;
	__u8 layer; /* enum lfp_layer */
	__u8 proto;
	__u8 ipver;	/* 4 or 6 */
	__u8 direction; /* LFP_DIR_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad[4];
};

struct lfp_eval_out {
	__u8 verdict; /* enum lfp_verdict: permit, block, veto or redirect */
	__u8 hard;
	__u8 pad[2];
	__s32 filter_idx;      /* deciding filter in the generation's filter table, -1 = none */
	struct lfp_kfilter kf; /* copy of the deciding filter, valid when filter_idx >= 0 */
};

#ifndef __bpf__
_Static_assert(sizeof(struct lfp_eval_in) == 112, "eval in");
#endif

static __always_inline __u32 lfp_eval_lbl_port(struct lfp_eval_env *env, __u32 idx, __u16 port)
{
	const __u32 *v = LFP_EVAL_LOOKUP_PORT(env, idx * 65536 + port);

	return v ? *v : 0;
}

static __always_inline __u32 lfp_eval_lbl_small(struct lfp_eval_env *env, __u32 idx, __u8 val)
{
	const __u32 *v = LFP_EVAL_LOOKUP_SMALL(env, idx * 256 + val);

	return v ? *v : 0;
}

static __always_inline __u32 lfp_eval_lbl_addr(struct lfp_eval_env *env, __u32 field,
					       const __u8 *addr)
{
	struct lfp_lpm_key key = {};
	const __u32 *v;

	key.prefixlen = 32 + 128;
	key.data[0] = field;
	__builtin_memcpy(&key.data[4], addr, 16);
	v = LFP_EVAL_LOOKUP_LPM(env, &key);
	return v ? *v : 0;
}

static __always_inline __u32 lfp_eval_lbl_u32(struct lfp_eval_env *env, __u32 field, __u32 val)
{
	struct lfp_lpm_key key = {};
	const __u32 *v;

	key.prefixlen = 32 + 32;
	key.data[0] = field;
	key.data[4] = val >> 24;
	key.data[5] = val >> 16;
	key.data[6] = val >> 8;
	key.data[7] = val;
	v = LFP_EVAL_LOOKUP_LPM(env, &key);
	return v ? *v : 0;
}

static __always_inline __u32 lfp_eval_lbl_hash(struct lfp_eval_env *env, __u32 field, __u64 a,
					       __u64 b)
{
	struct lfp_hash_key key = {};
	const __u32 *v;

	key.field = field;
	key.a = a;
	key.b = b;
	v = LFP_EVAL_LOOKUP_HASH(env, &key);
	return v ? *v : 0;
}

/*
 * The cgroup label is that of the deepest ancestor (or self) some filter
 * names: its label already stands for every named cgroup above it (the
 * lowering folds subtrees into labels), so the walk stops at the first hit.
 */
static __always_inline __u32 lfp_eval_lbl_cgroup(struct lfp_eval_env *env,
						 const struct lfp_eval_in *in)
{
	__u32 level = in->cgroup_level;

	if (!in->cgroup)
		return 0;
	for (__u32 i = 0; i < LFP_CGROUP_WALK_MAX; i++) {
		__u64 id;
		__u32 l;

		if (i > level)
			break;
		id = i ? LFP_EVAL_CGROUP_ANCESTOR(env, in, level - i) : in->cgroup;
		if (!id)
			continue;
		l = lfp_eval_lbl_hash(env, LFP_F_CGROUP, id, 0);
		if (l)
			return l;
	}
	return 0;
}

/* Labels of one connection, indexed by enum lfp_field (0 for fields not looked up). */
struct lfp_eval_lbl {
	__u32 v[LFP_F_COUNT];
};

/* Running state of one classification across the layer's tuples. */
struct lfp_eval_acc {
	struct lfp_answer dec; /* folded decision of the sublayers done so far */
	struct lfp_answer cur; /* best hit of the current sublayer */
	__u64 cur_w;	       /* its weight and id; (0, ~0) = no hit yet */
	__u64 cur_id;
	__u32 rank; /* current sublayer rank, ~0 before the first tuple */
	__u32 pad;
};

#define LFP_EVAL_USED(used, f) ((used) & (1u << (f)))

/* Step 1: the label of every field the layer's filters use; the others stay 0. */
static __always_inline void lfp_eval_labels(struct lfp_eval_env *env, const struct lfp_eval_in *in,
					    __u32 used, struct lfp_eval_lbl *lbl)
{
	__u32 *v = lbl->v;

	if (LFP_EVAL_USED(used, LFP_F_APP))
		v[LFP_F_APP] = lfp_eval_lbl_hash(env, LFP_F_APP, in->app_dev, in->app_ino);
	if (LFP_EVAL_USED(used, LFP_F_USER))
		v[LFP_F_USER] = lfp_eval_lbl_u32(env, LFP_F_USER, in->uid);
	if (LFP_EVAL_USED(used, LFP_F_GROUP))
		v[LFP_F_GROUP] = lfp_eval_lbl_u32(env, LFP_F_GROUP, in->gid);
	if (LFP_EVAL_USED(used, LFP_F_CGROUP))
		v[LFP_F_CGROUP] = lfp_eval_lbl_cgroup(env, in);
	if (LFP_EVAL_USED(used, LFP_F_PID))
		v[LFP_F_PID] = lfp_eval_lbl_u32(env, LFP_F_PID, in->pid);
	if (LFP_EVAL_USED(used, LFP_F_PROTO))
		v[LFP_F_PROTO] = lfp_eval_lbl_small(env, LFP_SMALLIDX_PROTO, in->proto);
	if (LFP_EVAL_USED(used, LFP_F_IPVER))
		v[LFP_F_IPVER] = lfp_eval_lbl_small(env, LFP_SMALLIDX_IPVER, in->ipver);
	if (LFP_EVAL_USED(used, LFP_F_LOCAL_ADDR))
		v[LFP_F_LOCAL_ADDR] = lfp_eval_lbl_addr(env, LFP_F_LOCAL_ADDR, in->laddr);
	if (LFP_EVAL_USED(used, LFP_F_LOCAL_PORT))
		v[LFP_F_LOCAL_PORT] = lfp_eval_lbl_port(env, LFP_PORTIDX_LOCAL, in->lport);
	if (LFP_EVAL_USED(used, LFP_F_REMOTE_ADDR))
		v[LFP_F_REMOTE_ADDR] = lfp_eval_lbl_addr(env, LFP_F_REMOTE_ADDR, in->raddr);
	if (LFP_EVAL_USED(used, LFP_F_REMOTE_PORT))
		v[LFP_F_REMOTE_PORT] = lfp_eval_lbl_port(env, LFP_PORTIDX_REMOTE, in->rport);
	if (LFP_EVAL_USED(used, LFP_F_ORIG_ADDR))
		v[LFP_F_ORIG_ADDR] = lfp_eval_lbl_addr(env, LFP_F_ORIG_ADDR, in->oaddr);
	if (LFP_EVAL_USED(used, LFP_F_ORIG_PORT))
		v[LFP_F_ORIG_PORT] = lfp_eval_lbl_port(env, LFP_PORTIDX_ORIG, in->oport);
	if (LFP_EVAL_USED(used, LFP_F_DIRECTION))
		v[LFP_F_DIRECTION] = lfp_eval_lbl_small(env, LFP_SMALLIDX_DIRECTION, in->direction);
	if (LFP_EVAL_USED(used, LFP_F_IFACE))
		v[LFP_F_IFACE] = lfp_eval_lbl_u32(env, LFP_F_IFACE, in->ifindex);
	if (LFP_EVAL_USED(used, LFP_F_ICMP_TYPE))
		v[LFP_F_ICMP_TYPE] = lfp_eval_lbl_small(env, LFP_SMALLIDX_ICMP_TYPE, in->icmp_type);
	if (LFP_EVAL_USED(used, LFP_F_ICMP_CODE))
		v[LFP_F_ICMP_CODE] = lfp_eval_lbl_small(env, LFP_SMALLIDX_ICMP_CODE, in->icmp_code);
	if (LFP_EVAL_USED(used, LFP_F_FLAGS))
		v[LFP_F_FLAGS] =
			lfp_eval_lbl_small(env, LFP_SMALLIDX_FLAGS, in->flags & LFP_CF_ALL);
}

/*
 * Steps 2 and 3 for one tuple (index @idx into the tuples array). A layer's
 * tuples are stored grouped by sublayer rank, ascending, so when the rank
 * changes the previous sublayer's best hit is final and is folded; no
 * per-sublayer array. @return 0 or -LFP_EVAL_ENOENT.
 */
static __always_inline int lfp_eval_tuple(struct lfp_eval_env *env, __u32 idx,
					  const struct lfp_eval_lbl *lbl, struct lfp_eval_acc *acc)
{
	const struct lfp_tuple *t = LFP_EVAL_LOOKUP_TUPLE(env, idx);
	const struct lfp_rule_val *rv;
	const struct lfp_kfilter *kf;
	struct lfp_rule_key key;
	__u32 nf;

	if (!t)
		return -LFP_EVAL_ENOENT;
	if (t->sublayer_rank != acc->rank) {
		lfp_fold(&acc->dec, &acc->cur);
		acc->cur.ans = LFP_ANS_NONE;
		acc->cur_w = 0;
		acc->cur_id = ~0ull;
		acc->rank = t->sublayer_rank;
	}
	nf = t->nfields;
	key.tuple = t->id;
	for (__u32 j = 0; j < LFP_TUPLE_MAX_FIELDS; j++) {
		__u32 f = t->fields[j];

		key.label[j] = (j < nf && f < LFP_F_COUNT) ? lbl->v[f] : 0;
	}
	rv = LFP_EVAL_LOOKUP_RULE(env, &key);
	if (!rv)
		return 0;
	kf = LFP_EVAL_LOOKUP_FILTER(env, rv->filter_idx);
	if (!kf)
		return -LFP_EVAL_ENOENT;
	/* Within a sublayer the highest weight wins, then the oldest (lowest id). */
	if (kf->weight > acc->cur_w || (kf->weight == acc->cur_w && kf->id < acc->cur_id)) {
		acc->cur.ans = kf->ans;
		acc->cur.hard = kf->hard;
		acc->cur.callout = kf->callout;
		acc->cur.veto = 0;
		acc->cur.idx = rv->filter_idx;
		acc->cur_w = kf->weight;
		acc->cur_id = kf->id;
	}
	return 0;
}

/*
 * The BPF includer may route the two steps through global functions
 * (verified once each, with unknown arguments) to keep the verifier's work
 * linear in the number of tuples; by default they are inlined.
 */
#ifndef LFP_EVAL_LABELS
#define LFP_EVAL_LABELS(env, in, used, lbl) lfp_eval_labels((env), (in), (used), (lbl))
#endif
#ifndef LFP_EVAL_TUPLE
#define LFP_EVAL_TUPLE(env, idx, lbl, acc) lfp_eval_tuple((env), (idx), (lbl), (acc))
#endif

/*
 * Classify @in at in->layer. Returns 0 with @out filled, or -LFP_EVAL_* when
 * the generation is inconsistent (the caller applies its documented
 * default; @out then says permit, filter_idx -1).
 */
static __always_inline int lfp_eval(struct lfp_eval_env *env, const struct lfp_eval_in *in,
				    struct lfp_eval_out *out)
{
	const struct lfp_layer_cfg *cfg;
	const struct lfp_kfilter *kf;
	struct lfp_eval_lbl lbl = {};
	struct lfp_eval_acc acc = {};
	__u32 n_tuples, base;
	int err;

	out->verdict = LFP_V_PERMIT;
	out->hard = 0;
	out->filter_idx = -1;
	if (in->layer >= LFP_LAYER_COUNT)
		return -LFP_EVAL_EINVAL;
	cfg = LFP_EVAL_LOOKUP_LAYER_CFG(env, in->layer);
	if (!cfg)
		return -LFP_EVAL_ENOENT;
	n_tuples = cfg->n_tuples;
	base = cfg->tuple_base;
	if (!n_tuples)
		return 0;
	LFP_EVAL_LABELS(env, in, cfg->used_fields, &lbl);

	acc.cur_id = ~0ull;
	acc.rank = ~0u;
	for (__u32 i = 0; i < LFP_MAX_TUPLES; i++) {
		if (i >= n_tuples)
			break;
		err = LFP_EVAL_TUPLE(env, base + i, &lbl, &acc);
		if (err)
			return err;
	}
	lfp_fold(&acc.dec, &acc.cur);

	if (acc.dec.ans == LFP_ANS_NONE)
		return 0;
	kf = LFP_EVAL_LOOKUP_FILTER(env, acc.dec.idx);
	if (!kf)
		return -LFP_EVAL_ENOENT;
	out->verdict = lfp_decision_verdict(&acc.dec);
	/* a permit decided by a redirect filter is a redirect (the hook rewrites) */
	if (out->verdict == LFP_V_PERMIT && kf->action == LFP_ACT_REDIRECT)
		out->verdict = LFP_V_REDIRECT;
	out->hard = acc.dec.hard;
	out->filter_idx = acc.dec.idx;
	out->kf = *kf;
	return 0;
}
