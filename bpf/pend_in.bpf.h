/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inbound pends hold the flow's first packet (docs/callouts.md, "How a
 * pended flow is held"). Included by lfp.bpf.c after the ingress adapter
 * (ale_accept.bpf.h).
 *
 * auth-recv-accept is classified at cgroup ingress, after netfilter's INPUT,
 * where nothing can be held any more. So the INPUT match lfpd's chain runs
 * (lfp_pend_in_match, xt_bpf) classifies a SYN or a not yet decided datagram
 * to a scope listener itself, with the owner the listener's listen()/bind()
 * noted here, and queues it when the verdict is pend. A packet that does not
 * pend goes on untouched and ingress decides it as before.
 */
#pragma once

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_PEND_LISTEN_MAX);
	__type(key, struct lfp_pend_listen_key);
	__type(value, struct lfp_pend_listener);
} lfp_pend_listen SEC(".maps");

/* socket cookie -> its entry's key, to forget it at close() and connect() */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_PEND_LISTEN_MAX);
	__type(key, __u64);
	__type(value, struct lfp_pend_listen_key);
} lfp_pend_listen_ck SEC(".maps");

/* The match's working set, off its stack: with the evaluator's frames under
 * it, the program has no room for a 5-tuple and two cache entries. */
struct pend_in_work {
	struct lfp_pend_tuple t;
	struct lfp_pend_listen_key lk;
	struct lfp_udp_key ukey;
	struct lfp_udp_val uval;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pend_in_work);
} lfp_pend_in_work SEC(".maps");

/* Per-CPU room for an entry: the hooks' frames are the evaluator's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lfp_pend_listener);
} lfp_pend_listen_scratch SEC(".maps");

/* Store entry @l (per-CPU scratch) under @key for socket @cookie. Another
 * socket on the key (SO_REUSEPORT: which one a SYN reaches is the kernel's
 * choice) makes it shared, and it stays so. Two sockets of a group may
 * listen at the same moment on two CPUs: the first entry is created with
 * BPF_NOEXIST, so the one that loses sees the winner's and marks it shared
 * (a plain lookup-then-update let the second overwrite the first unshared). */
static __always_inline void pend_listen_put(const struct lfp_pend_listen_key *key,
					    struct lfp_pend_listener *l, __u64 cookie)
{
	const struct lfp_pend_listener *old = bpf_map_lookup_elem(&lfp_pend_listen, key);
	long err;

	l->shared = old && (old->cookie != cookie || old->shared);
	err = bpf_map_update_elem(&lfp_pend_listen, key, l, old ? BPF_ANY : BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		old = bpf_map_lookup_elem(&lfp_pend_listen, key);
		l->shared = !old || old->cookie != cookie || old->shared;
		err = bpf_map_update_elem(&lfp_pend_listen, key, l, BPF_ANY);
	}
	if (err || bpf_map_update_elem(&lfp_pend_listen_ck, &cookie, key, BPF_ANY))
		stat_inc(LFP_STAT_ERRORS); /* this listener takes ingress's fallback */
}

/*
 * A scope socket starts listening (sock_ops LISTEN_CB) or binds UDP
 * (post_bind), in its owner's process context: @s is the owner stamped in
 * its storage (NULL: none could be, the entry goes), @in the classification
 * input (local end, cgroup). A listener auth-listen refused is noted with
 * its mark (the match leaves its SYNs to ingress's drop) and follows it when
 * a commit re-authorizes it (pend_listen_mark). The cgroup's ancestors are
 * taken now: the match has no socket to walk.
 */
static __noinline void pend_listen_note(const struct lfp_sk *s, const struct lfp_eval_in *in,
					__u64 cookie)
{
	struct lfp_pend_listen_key key = {};
	struct lfp_pend_listener *l;
	__u32 zero = 0, level;

	if (!in)
		return;
	if (!s) {
		pend_listen_forget(cookie);
		return;
	}
	__builtin_memcpy(key.laddr, in->laddr, 16);
	key.lport = in->lport;
	key.proto = in->proto;
	l = bpf_map_lookup_elem(&lfp_pend_listen_scratch, &zero);
	if (!l)
		return;
	__builtin_memcpy(&l->owner, s, sizeof(l->owner));
	l->cookie = cookie;
	level = in->cgroup_level;
	for (__u32 i = 0; i < LFP_CGROUP_WALK_MAX; i++)
		l->cg[i] = i > level ? 0
			   : i	     ? bpf_get_current_ancestor_cgroup_id(level - i)
				     : in->cgroup;
	pend_listen_put(&key, l, cookie);
}

/*
 * The re-authorization walk met listener @sk after a commit
 * (lfp_reauth_tcp): a known one follows its auth-listen mark; one older
 * than lfpd's hooks, which the walk has just stamped (pid and executable
 * unknown, as ingress sees it), is noted now, its cgroups read from the
 * socket (the walk runs in lfpd's context, not the owner's).
 */
static __noinline void pend_listen_walked(const struct lfp_sk *s, const struct lfp_eval_in *in,
					  __u64 cookie, struct sock *sk)
{
	struct lfp_pend_listen_key key = {};
	struct lfp_pend_listener *l;
	struct cgroup *cg = NULL;
	__u32 zero = 0;

	if (!s || !in || !sk)
		return;
	if (bpf_map_lookup_elem(&lfp_pend_listen_ck, &cookie)) {
		pend_listen_mark(cookie, s->listen_block);
		return;
	}
	__builtin_memcpy(key.laddr, in->laddr, 16);
	key.lport = in->lport;
	key.proto = IPPROTO_TCP;
	l = bpf_map_lookup_elem(&lfp_pend_listen_scratch, &zero);
	if (!l)
		return;
	__builtin_memcpy(&l->owner, s, sizeof(l->owner));
	l->cookie = cookie;
	__builtin_memset(l->cg, 0, sizeof(l->cg));
	if (!bpf_probe_read_kernel(&cg, sizeof(cg), &sk->sk_cgrp_data.cgroup)) {
		for (__u32 i = 0; i < LFP_CGROUP_WALK_MAX && cg; i++) {
			l->cg[i] = BPF_CORE_READ(cg, kn, id);
			/* struct cgroup starts with its css: the parent css is the parent cgroup */
			cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
		}
	}
	pend_listen_put(&key, l, cookie);
}

/* The socket closes or connects (UDP): its entry goes, if it is still its own. */
static __noinline void pend_listen_forget(__u64 cookie)
{
	struct lfp_pend_listen_key *key;
	struct lfp_pend_listener *l;

	key = bpf_map_lookup_elem(&lfp_pend_listen_ck, &cookie);
	if (!key)
		return;
	l = bpf_map_lookup_elem(&lfp_pend_listen, key);
	if (l && l->cookie == cookie)
		bpf_map_delete_elem(&lfp_pend_listen, key);
	bpf_map_delete_elem(&lfp_pend_listen_ck, &cookie);
}

/* A commit re-authorized the listener (lfp_reauth_tcp): its entry follows the
 * SYN-drop mark, so the match leaves a blocked listener's SYNs to ingress. */
static __noinline void pend_listen_mark(__u64 cookie, __u8 listen_block)
{
	struct lfp_pend_listen_key *key;
	struct lfp_pend_listener *l;

	key = bpf_map_lookup_elem(&lfp_pend_listen_ck, &cookie);
	if (!key)
		return;
	l = bpf_map_lookup_elem(&lfp_pend_listen, key);
	if (l && l->cookie == cookie)
		l->owner.listen_block = listen_block;
}

/* The listener a packet to @w->t's local end reaches: the exact address,
 * then the family's wildcard, then :: (a dual-stack IPv6 socket). */
static __always_inline const struct lfp_pend_listener *pend_listen_find(struct pend_in_work *w)
{
	struct lfp_pend_listen_key *key = &w->lk;
	const struct lfp_pend_listener *l;

	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->laddr, w->t.laddr, 16);
	key->lport = w->t.lport;
	key->proto = w->t.proto;
	l = bpf_map_lookup_elem(&lfp_pend_listen, key);
	if (l)
		return l;
	__builtin_memset(key->laddr, 0, 16);
	if (addr_is_v4mapped(w->t.laddr)) {
		key->laddr[10] = 0xff;
		key->laddr[11] = 0xff;
		l = bpf_map_lookup_elem(&lfp_pend_listen, key);
		if (l)
			return l;
		key->laddr[10] = 0;
		key->laddr[11] = 0;
	}
	return bpf_map_lookup_elem(&lfp_pend_listen, key);
}

/* ingress's cgroup input (accept_cgroup) from the ancestors noted at listen:
 * the deepest one some filter names, else the socket's own, at level 0 */
static __always_inline void pend_listen_cgroup(const struct lfp_pend_listener *l,
					       struct lfp_eval_in *in, __u64 gen)
{
	struct lfp_hash_key key = { .field = LFP_F_CGROUP };
	const struct lfp_layer_cfg *cfg;

	in->cgroup = l->cg[0];
	in->cgroup_level = 0;
	if (!gen)
		return;
	cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, gen & 1, LFP_LAYER_AUTH_RECV_ACCEPT);
	if (!cfg || !(cfg->used_fields & (1u << LFP_F_CGROUP)))
		return;
	for (__u32 i = 0; i < LFP_CGROUP_WALK_MAX; i++) {
		key.a = l->cg[i];
		if (!key.a)
			break;
		if (lfp_env_lookup(&lfp_o_lbl_hash, gen & 1, &key)) {
			in->cgroup = key.a;
			break;
		}
	}
}

/*
 * The match's look ahead at auth-recv-accept, a global function (verified
 * once). Not counted: ingress classifies and counts the packets that go on;
 * the match counts only those it holds. @return the generation.
 */
__noinline __u64 lfp_pend_in_classify(const struct lfp_eval_in *in, struct lfp_eval_out *out)
{
	__u64 gen = 0;

	if (!in || !out)
		return 0;
	lfp_classify_nocount(in, out, &gen);
	return gen;
}

/* pend_in_prepare's answers */
#define PEND_IN_PASS	 0 /* not ours: ingress decides */
#define PEND_IN_QUEUE	 1 /* a recorded flow that waits or was blocked */
#define PEND_IN_CLASSIFY 2 /* a first packet to a scope listener: @sc->in is filled */

/*
 * Everything before the classification, in a frame of its own: the
 * program's frame sits under the evaluator's, which need the stack. The
 * listener found stays named by @w->lk for pend_in_finish.
 */
static __noinline int pend_in_prepare(struct __sk_buff *skb, struct pend_in_work *w,
				      struct scratch *sc)
{
	const struct lfp_pend_listener *l;
	struct lfp_pend_val *rec;
	struct lfp_eval_in *in;
	struct lfp_state *st;

	if (!w || !sc)
		return PEND_IN_PASS;
	__builtin_memset(&w->t, 0, sizeof(w->t));
	if (pend_parse(skb, &w->t, true))
		return PEND_IN_PASS;
	rec = bpf_map_lookup_elem(&lfp_pend_in, &w->t);
	if (rec)
		return rec->state != LFP_PEND_PERMIT ? PEND_IN_QUEUE : PEND_IN_PASS;
	/* nothing can pend at a layer without filters: no lookups, no classification */
	if (!ale_layer_used(LFP_LAYER_AUTH_RECV_ACCEPT))
		return PEND_IN_PASS;
	l = pend_listen_find(w);
	if (!l || l->shared || (w->t.proto == IPPROTO_TCP && l->owner.listen_block))
		return PEND_IN_PASS;
	in = &sc->in;
	__builtin_memcpy(in->laddr, w->t.laddr, 16);
	__builtin_memcpy(in->raddr, w->t.raddr, 16);
	in->lport = w->t.lport;
	in->rport = w->t.rport;
	__builtin_memset(&w->ukey, 0, sizeof(w->ukey));
	if (w->t.proto == IPPROTO_UDP && accept_udp_cached(l->cookie, in, &w->ukey) >= 0)
		return PEND_IN_PASS;
	in->layer = LFP_LAYER_AUTH_RECV_ACCEPT;
	in->direction = LFP_DIR_INBOUND;
	in->proto = w->t.proto;
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	in->ifindex = skb->ingress_ifindex;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	in->pid = l->owner.pid;
	in->uid = l->owner.uid;
	in->gid = l->owner.gid;
	in->app_dev = l->owner.exe_dev;
	in->app_ino = l->owner.exe_ino;
	st = state_get();
	pend_listen_cgroup(l, in, st ? st->gen : 0);
	return PEND_IN_CLASSIFY;
}

/* The classification said pend: record the flow, count and report it, and
 * leave the UDP cache entry lfpd completes. @return 1 when it is held. */
static __noinline int pend_in_finish(struct pend_in_work *w, struct scratch *sc)
{
	const struct lfp_pend_listener *l;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;

	if (!w || !sc)
		return 0;
	in = &sc->in;
	out = &sc->out;
	l = bpf_map_lookup_elem(&lfp_pend_listen, &w->lk);
	if (!l || pend_in_record(&w->t, in, out, sc->gen, &l->owner, l->cookie))
		return 0;
	lfp_classify_count(out);
	if (w->t.proto == IPPROTO_UDP) {
		/* the entry lfpd completes (complete_in), as ingress would leave it */
		__builtin_memset(&w->uval, 0, sizeof(w->uval));
		w->uval.gen = sc->gen;
		w->uval.filter_id = out_filter_id(out);
		w->uval.verdict = out->verdict;
		w->uval.cflags = in->flags;
		if (bpf_map_update_elem(&lfp_udp_cache, &w->ukey, &w->uval, BPF_ANY))
			stat_inc(LFP_STAT_ERRORS);
	}
	if (event_wanted(out))
		accept_event(sc, &l->owner, l->cg[0], l->cookie);
	return 1;
}

/*
 * The INPUT match (xt_bpf, pinned; a socket filter: 1 = match) for TCP SYNs
 * and UDP datagrams. A flow with a record is queued while it waits or is
 * blocked. Without one, this is its first packet: classified as ingress
 * would classify it and, when it pends, recorded and queued (lfpd holds it).
 * Everything else is ingress's to decide: no scope listener, a shared one,
 * a datagram the cache decided, no scratch slot. The working set lives in
 * per-CPU maps and the steps around the classification in frames of their
 * own: the evaluator's frames need the stack.
 */
SEC("socket")
int lfp_pend_in_match(struct __sk_buff *skb)
{
	struct pend_in_work *w;
	struct scratch *sc;
	__u32 zero = 0;
	int r, held = 0;

	w = bpf_map_lookup_elem(&lfp_pend_in_work, &zero);
	if (!w)
		return 0;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	r = pend_in_prepare(skb, w, sc);
	if (r == PEND_IN_CLASSIFY) {
		sc->gen = lfp_pend_in_classify(&sc->in, &sc->out);
		if (sc->out.verdict == LFP_V_PEND)
			held = pend_in_finish(w, sc);
	} else {
		held = r == PEND_IN_QUEUE;
	}
	scratch_put(sc);
	return held;
}
