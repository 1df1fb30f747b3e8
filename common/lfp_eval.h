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
 * Optional: LFP_EVAL_LABELS and LFP_EVAL_TUPLE (see below), and the
 * auxiliary tables (common/lfp_abi.h, AUX_HDR/AUX: tuple masks and IPv4 /16
 * labels), used when all three of these are defined:
 *
 *   LFP_EVAL_LOOKUP_AUX_HDR(env, idx)    const struct lfp_aux_hdr *
 *   LFP_EVAL_LOOKUP_AUX(env, idx)        const __u64 *
 *   LFP_EVAL_GEN(env)                    __u64: the generation being classified
 *
 * Without them every tuple of the layer is looked up and every address goes
 * to the trie: the same answers, more lookups.
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
	__u8 notify; /* a notify filter (LFP_KF_NOTIFY) matched: report it, lfpd tells callouts */
	__u8 pad;
	__s32 filter_idx;      /* deciding filter in the generation's filter table, -1 = none */
	struct lfp_kfilter kf; /* copy of the deciding filter, valid when filter_idx >= 0 */
	/* an inspection callout filter (LFP_KF_INSPECT) the classification reached: the
	 * heaviest of the first sublayer with one whose match no heavier terminating
	 * filter of that sublayer overrode (WFP calls it before that filter decides);
	 * -1 = none. Never changes the verdict. */
	__s32 inspect_idx;
	__u32 pad2;
	struct lfp_kfilter inspect_kf; /* valid when inspect_idx >= 0 */
};

#ifndef __bpf__
_Static_assert(sizeof(struct lfp_eval_in) == 112, "eval in");
#endif

#if defined(LFP_EVAL_LOOKUP_AUX_HDR) && defined(LFP_EVAL_LOOKUP_AUX) && defined(LFP_EVAL_GEN)
#define LFP_EVAL_PREFILTER 1
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

/* Labels of one connection, indexed by enum lfp_field (0 for fields not looked up),
 * and the layer's tuples that are still to be looked up. */
struct lfp_eval_lbl {
	__u32 v[LFP_F_COUNT];
	__u32 prefilter; /* 1: the generation's tuple masks apply */
	__u32 pad;
	__u64 cand; /* bit i: tuple tuple_base + i may match */
};

/* Running state of one classification across the layer's tuples. */
struct lfp_eval_acc {
	struct lfp_answer dec; /* folded decision of the sublayers done so far */
	struct lfp_answer cur; /* best hit of the current sublayer */
	__u64 cur_w;	       /* its weight and id; (0, ~0) = no hit yet */
	__u64 cur_id;
	__u32 rank;   /* current sublayer rank, ~0 before the first tuple */
	__u32 notify; /* some LFP_KF_NOTIFY filter matched (they answer nothing) */
	/* the filter behind cur: the answer needs no lookup of its own */
	struct lfp_kfilter cur_kf;
	/* the inspection callout reached so far (lfp_eval_out.inspect_idx) */
	__u32 insp;	 /* its filter index + 1; 0 = none */
	__u32 insp_rank; /* its sublayer rank */
	struct lfp_kfilter insp_kf;
};

/* lfp_fold() that keeps @dec_kf the deciding filter's entry (lfp_eval_out.kf). The
 * sublayer ends here: an inspection callout of it that weighs less than its
 * decider was never reached (WFP evaluates a sublayer's filters by weight). */
static __always_inline void lfp_eval_fold(struct lfp_eval_acc *acc, struct lfp_kfilter *dec_kf)
{
	if (acc->insp && acc->insp_rank == acc->rank && acc->cur.ans != LFP_ANS_NONE &&
	    (acc->cur_w > acc->insp_kf.weight ||
	     (acc->cur_w == acc->insp_kf.weight && acc->cur_id < acc->insp_kf.id)))
		acc->insp = 0;
	if (lfp_fold(&acc->dec, &acc->cur))
		*dec_kf = acc->cur_kf;
}

#define LFP_EVAL_USED(used, f) ((used) & (1u << (f)))

/*
 * The prefilter's two questions about field @f. Without masks (user space,
 * or a generation committed without them) every field is wanted and nothing
 * is narrowed. Missing entries only ever keep tuples.
 */
#ifdef LFP_EVAL_PREFILTER
static __always_inline const struct lfp_aux_hdr *lfp_eval_aux_hdr(struct lfp_eval_env *env,
								  const struct lfp_eval_in *in,
								  const struct lfp_eval_lbl *lbl,
								  __u32 f)
{
	return lbl->prefilter ? LFP_EVAL_LOOKUP_AUX_HDR(env, LFP_AUX_HDR_IDX(in->layer, f)) : NULL;
}

/* Whether a tuple still to be looked up constrains @f: else its label cannot matter. */
static __always_inline int lfp_eval_wanted(struct lfp_eval_env *env, const struct lfp_eval_in *in,
					   const struct lfp_eval_lbl *lbl, __u32 f)
{
	const struct lfp_aux_hdr *h = lfp_eval_aux_hdr(env, in, lbl, f);

	return !h || (lbl->cand & ~h->free);
}

/* Drop the tuples that have no rule key with @f's label. */
static __always_inline void lfp_eval_narrow(struct lfp_eval_env *env, const struct lfp_eval_in *in,
					    struct lfp_eval_lbl *lbl, __u32 f)
{
	const struct lfp_aux_hdr *h = lfp_eval_aux_hdr(env, in, lbl, f);
	const __u64 *m;
	__u32 l = lbl->v[f];
	__u64 mask = 0;

	if (!h)
		return;
	if (l < h->len) {
		m = LFP_EVAL_LOOKUP_AUX(env, h->base + l);
		mask = m ? *m : ~0ull;
	}
	lbl->cand &= mask | h->free;
}

/*
 * An address label: from the generation's IPv4 /16 table when the address
 * is v4-mapped and its /16 has a single label, else from the trie (a walk
 * of some twenty nodes for a large policy).
 */
static __always_inline __u32 lfp_eval_lbl_v4fast(struct lfp_eval_env *env,
						 const struct lfp_eval_lbl *lbl, __u32 field,
						 const __u8 *addr)
{
	const struct lfp_aux_hdr *h;
	const __u64 *w;
	__u32 n, l;
	__u64 hi;

	__builtin_memcpy(&hi, addr, 8);
	if (lbl->prefilter && hi == 0 && !addr[8] && !addr[9] && addr[10] == 0xff &&
	    addr[11] == 0xff) {
		h = LFP_EVAL_LOOKUP_AUX_HDR(env, LFP_AUX_HDR_V4(field));
		if (h && h->len) {
			n = (__u32)addr[12] << 8 | addr[13];
			w = LFP_EVAL_LOOKUP_AUX(env, h->base + n / 2);
			if (w) {
				l = (__u32)(*w >> (32 * (n % 2)));
				if (l != LFP_AUX_V4_TRIE)
					return l;
			}
		}
	}
	return lfp_eval_lbl_addr(env, field, addr);
}
#else
#define lfp_eval_wanted(env, in, lbl, f)	   1
#define lfp_eval_narrow(env, in, lbl, f)	   ((void)0)
#define lfp_eval_lbl_v4fast(env, lbl, field, addr) lfp_eval_lbl_addr((env), (field), (addr))
#endif

/* A field whose label is an array lookup: always taken, its mask narrows the tuples. */
#define LFP_EVAL_LBL_CHEAP(f, expr)                                                                \
	do {                                                                                       \
		if (LFP_EVAL_USED(used, f)) {                                                      \
			v[f] = (expr);                                                             \
			lfp_eval_narrow(env, in, lbl, f);                                          \
		}                                                                                  \
	} while (0)

/* A field whose label costs a hash or trie lookup: skipped when no tuple left needs it. */
#define LFP_EVAL_LBL_DEAR(f, expr)                                                                 \
	do {                                                                                       \
		if (LFP_EVAL_USED(used, f) && lfp_eval_wanted(env, in, lbl, f)) {                  \
			v[f] = (expr);                                                             \
			lfp_eval_narrow(env, in, lbl, f);                                          \
		}                                                                                  \
	} while (0)

/*
 * Step 1: the label of every field the layer's filters use; the others stay
 * 0. With the prefilter, each label also narrows lbl->cand, cheap lookups
 * first, and a dear field no remaining tuple constrains is not looked up
 * (its label would be read by no rule key).
 */
static __always_inline void lfp_eval_labels(struct lfp_eval_env *env, const struct lfp_eval_in *in,
					    __u32 used, struct lfp_eval_lbl *lbl)
{
	__u32 *v = lbl->v;

	LFP_EVAL_LBL_CHEAP(LFP_F_PROTO, lfp_eval_lbl_small(env, LFP_SMALLIDX_PROTO, in->proto));
	LFP_EVAL_LBL_CHEAP(LFP_F_IPVER, lfp_eval_lbl_small(env, LFP_SMALLIDX_IPVER, in->ipver));
	LFP_EVAL_LBL_CHEAP(LFP_F_DIRECTION,
			   lfp_eval_lbl_small(env, LFP_SMALLIDX_DIRECTION, in->direction));
	LFP_EVAL_LBL_CHEAP(LFP_F_ICMP_TYPE,
			   lfp_eval_lbl_small(env, LFP_SMALLIDX_ICMP_TYPE, in->icmp_type));
	LFP_EVAL_LBL_CHEAP(LFP_F_ICMP_CODE,
			   lfp_eval_lbl_small(env, LFP_SMALLIDX_ICMP_CODE, in->icmp_code));
	LFP_EVAL_LBL_CHEAP(LFP_F_FLAGS,
			   lfp_eval_lbl_small(env, LFP_SMALLIDX_FLAGS, in->flags & LFP_CF_ALL));
	LFP_EVAL_LBL_CHEAP(LFP_F_LOCAL_PORT, lfp_eval_lbl_port(env, LFP_PORTIDX_LOCAL, in->lport));
	LFP_EVAL_LBL_CHEAP(LFP_F_REMOTE_PORT,
			   lfp_eval_lbl_port(env, LFP_PORTIDX_REMOTE, in->rport));
	LFP_EVAL_LBL_CHEAP(LFP_F_ORIG_PORT, lfp_eval_lbl_port(env, LFP_PORTIDX_ORIG, in->oport));

	LFP_EVAL_LBL_DEAR(LFP_F_APP, lfp_eval_lbl_hash(env, LFP_F_APP, in->app_dev, in->app_ino));
	LFP_EVAL_LBL_DEAR(LFP_F_REMOTE_ADDR,
			  lfp_eval_lbl_v4fast(env, lbl, LFP_F_REMOTE_ADDR, in->raddr));
	LFP_EVAL_LBL_DEAR(LFP_F_LOCAL_ADDR,
			  lfp_eval_lbl_v4fast(env, lbl, LFP_F_LOCAL_ADDR, in->laddr));
	LFP_EVAL_LBL_DEAR(LFP_F_ORIG_ADDR,
			  lfp_eval_lbl_v4fast(env, lbl, LFP_F_ORIG_ADDR, in->oaddr));
	LFP_EVAL_LBL_DEAR(LFP_F_USER, lfp_eval_lbl_u32(env, LFP_F_USER, in->uid));
	LFP_EVAL_LBL_DEAR(LFP_F_GROUP, lfp_eval_lbl_u32(env, LFP_F_GROUP, in->gid));
	LFP_EVAL_LBL_DEAR(LFP_F_PID, lfp_eval_lbl_u32(env, LFP_F_PID, in->pid));
	LFP_EVAL_LBL_DEAR(LFP_F_IFACE, lfp_eval_lbl_u32(env, LFP_F_IFACE, in->ifindex));
	LFP_EVAL_LBL_DEAR(LFP_F_CGROUP, lfp_eval_lbl_cgroup(env, in));
}

/*
 * Steps 2 and 3 for one tuple (index @idx into the tuples array). A layer's
 * tuples are stored grouped by sublayer rank, ascending, so when the rank
 * changes the previous sublayer's best hit is final and is folded; no
 * per-sublayer array. A fold that changes the decision copies its filter's
 * entry into @dec_kf. @return 0 or -LFP_EVAL_ENOENT.
 */
static __always_inline int lfp_eval_tuple(struct lfp_eval_env *env, __u32 idx,
					  const struct lfp_eval_lbl *lbl, struct lfp_eval_acc *acc,
					  struct lfp_kfilter *dec_kf)
{
	const struct lfp_tuple *t = LFP_EVAL_LOOKUP_TUPLE(env, idx);
	const struct lfp_rule_val *rv;
	const struct lfp_kfilter *kf;
	struct lfp_rule_key key;
	__u32 nf;

	if (!t)
		return -LFP_EVAL_ENOENT;
	if (t->sublayer_rank != acc->rank) {
		lfp_eval_fold(acc, dec_kf);
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
	if (kf->flags & LFP_KF_NOTIFY)
		acc->notify = 1;
	/* an inspection callout's tuple: noted, never folded; the first sublayer's
	 * heaviest (its tuples hold nothing else, docs/classification.md) */
	if (kf->flags & LFP_KF_INSPECT) {
		if (!acc->insp ||
		    (acc->insp_rank == t->sublayer_rank &&
		     (kf->weight > acc->insp_kf.weight ||
		      (kf->weight == acc->insp_kf.weight && kf->id < acc->insp_kf.id)))) {
			acc->insp = rv->filter_idx + 1;
			acc->insp_rank = t->sublayer_rank;
			acc->insp_kf = *kf;
		}
		return 0;
	}
	/* Within a sublayer the highest weight wins, then the oldest (lowest id). */
	if (kf->weight > acc->cur_w || (kf->weight == acc->cur_w && kf->id < acc->cur_id)) {
		acc->cur.ans = kf->ans;
		acc->cur.hard = kf->hard;
		acc->cur.callout = kf->callout;
		acc->cur.veto = 0;
		acc->cur.idx = rv->filter_idx;
		acc->cur_w = kf->weight;
		acc->cur_id = kf->id;
		acc->cur_kf = *kf;
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
#define LFP_EVAL_TUPLE(env, idx, lbl, acc, dec_kf)                                                 \
	lfp_eval_tuple((env), (idx), (lbl), (acc), (dec_kf))
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
	out->notify = 0;
	out->pad = 0;
	out->filter_idx = -1;
	__builtin_memset(&out->kf, 0, sizeof(out->kf));
	out->inspect_idx = -1;
	if (in->layer >= LFP_LAYER_COUNT)
		return -LFP_EVAL_EINVAL;
	cfg = LFP_EVAL_LOOKUP_LAYER_CFG(env, in->layer);
	if (!cfg)
		return -LFP_EVAL_ENOENT;
	n_tuples = cfg->n_tuples;
	base = cfg->tuple_base;
	if (!n_tuples)
		return 0;
	lbl.cand = n_tuples >= LFP_MAX_TUPLES ? ~0ull : (1ull << n_tuples) - 1;
#ifdef LFP_EVAL_PREFILTER
	{
		const struct lfp_aux_hdr *h0 = LFP_EVAL_LOOKUP_AUX_HDR(env, 0);

		lbl.prefilter = h0 && h0->base == LFP_AUX_MAGIC && h0->free == LFP_EVAL_GEN(env);
	}
#endif
	LFP_EVAL_LABELS(env, in, cfg->used_fields, &lbl);

	acc.cur_id = ~0ull;
	acc.rank = ~0u;
	for (__u32 i = 0; i < LFP_MAX_TUPLES; i++) {
		if (i >= n_tuples || !(lbl.cand >> i))
			break;
		if (!((lbl.cand >> i) & 1))
			continue;
		err = LFP_EVAL_TUPLE(env, base + i, &lbl, &acc, &out->kf);
		if (err)
			return err;
		/* a hard block stands whatever the later sublayers say (lfp_fold) */
		if (acc.dec.ans == LFP_ANS_BLOCK && acc.dec.hard)
			break;
	}
	lfp_eval_fold(&acc, &out->kf);
	if (acc.insp) {
		out->inspect_idx = (__s32)(acc.insp - 1);
		out->inspect_kf = acc.insp_kf;
	}
	out->notify = !!acc.notify;

	if (acc.dec.ans == LFP_ANS_NONE)
		return 0;
	kf = &out->kf;
	out->verdict = lfp_decision_verdict(&acc.dec);
	/* a permit decided by a redirect filter is a redirect (the hook rewrites) */
	if (out->verdict == LFP_V_PERMIT && kf->action == LFP_ACT_REDIRECT)
		out->verdict = LFP_V_REDIRECT;
	/* a block decided by a pending answer (ask, a registered callout) is a pend */
	if (out->verdict == LFP_V_BLOCK && (kf->flags & LFP_KF_PEND))
		out->verdict = LFP_V_PEND;
	out->hard = acc.dec.hard;
	out->filter_idx = acc.dec.idx;
	return 0;
}
