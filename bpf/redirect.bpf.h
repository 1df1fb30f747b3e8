/* SPDX-License-Identifier: GPL-2.0 */
/*
 * connect-redirect (ALE_CONNECT_REDIRECT): the hooks that rewrite a
 * connection's destination and hide the rewrite again. Included from
 * lfp.bpf.c after its helpers (scratch slots, identity, events).
 * docs/redirect.md is the long version; common/lfp_redirect.h the ABI.
 *
 * Own programs, attached before the auth-connect ones on the same hooks
 * (kern.c hook_descs order = attach order = run order): auth-connect then
 * sees the rewritten destination, with `flags redirected` and the original
 * in orig.addr/orig.port, as WFP orders the two layers.
 */
#pragma once

#include "lfp_redirect.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * LFP_REDIR_TARGETS);
	__type(key, __u32);
	__type(value, struct lfp_redir_target);
} lfp_redir_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lfp_redir_sk);
} lfp_redir_sk_store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_REDIR_ORIG_MAX);
	__type(key, struct lfp_redir_key);
	__type(value, struct lfp_redir_orig);
} lfp_redir_orig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_REDIR_UDP_MAX);
	__type(key, struct lfp_redir_udp_key);
	__type(value, struct lfp_redir_udp_val);
} lfp_redir_udp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_REDIR_UDP_MAX);
	__type(key, struct lfp_redir_udp_key);
	__type(value, __u32);
} lfp_redir_udp_slot SEC(".maps");

/* Not pinned (kern.c unpinned_maps): each lfpd names its own process. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lfp_redir_cfg);
} lfp_redir_cfg SEC(".maps");

/* The loop guard: the redirector's own connections (lfpd's threads) are
 * never redirected, whatever the filters say. The tgid cannot be changed by
 * an application, unlike a socket mark it could set itself. */
static __always_inline bool redir_own_process(void)
{
	__u32 k = 0;
	struct lfp_redir_cfg *c = bpf_map_lookup_elem(&lfp_redir_cfg, &k);

	return c && c->tgid && c->tgid == (__u32)(bpf_get_current_pid_tgid() >> 32);
}

/* Whether the active generation has connect-redirect filters at all: most
 * connects leave here after two array lookups, without reading identity. */
static __always_inline bool redir_layer_used(void)
{
	struct lfp_state *st = state_get();
	const struct lfp_layer_cfg *cfg;

	if (!st || !st->gen)
		return false;
	cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, st->gen & 1, LFP_LAYER_CONNECT_REDIRECT);
	return cfg && cfg->n_tuples;
}

static __always_inline void redir_set_dst(struct bpf_sock_addr *ctx, bool v6, const __u8 *a,
					  __u16 port)
{
	__u32 w0, w1, w2, w3;

	__builtin_memcpy(&w0, a, 4);
	__builtin_memcpy(&w1, a + 4, 4);
	__builtin_memcpy(&w2, a + 8, 4);
	__builtin_memcpy(&w3, a + 12, 4);
	if (v6) {
		ctx->user_ip6[0] = w0;
		ctx->user_ip6[1] = w1;
		ctx->user_ip6[2] = w2;
		ctx->user_ip6[3] = w3;
	} else {
		ctx->user_ip4 = w3;
	}
	ctx->user_port = bpf_htons(port);
}

/* A connect-redirect event: the new destination as remote, the original in oaddr. */
static __always_inline void redir_event(struct bpf_sock_addr *ctx, const struct scratch *sc,
					__u8 verdict, const __u8 *naddr, __u16 nport)
{
	const struct lfp_eval_in *in = &sc->in;
	struct lfp_event *e;

	e = event_flow(verdict, out_filter_id(&sc->out), in->flags | LFP_CF_REDIRECTED, in->proto,
		       in->laddr, in->lport, naddr, nport, bpf_get_socket_cookie(ctx));
	if (!e)
		return;
	e->layer = LFP_LAYER_CONNECT_REDIRECT;
	__builtin_memcpy(e->oaddr, in->raddr, 16);
	e->oport = in->rport;
	event_who_in(e, in, sc->comm);
	ring_submit(e);
}

/*
 * Apply a redirect verdict: record the original in socket storage, rewrite
 * the destination. A redirect that cannot be carried out (no target for the
 * family, no storage, UDP to the redirector, which has no UDP relay yet)
 * fails the operation: never a silent direct connection.
 * @return 1 (go on), 0 (fail with EPERM)
 */
static __always_inline bool redir_addr_eq(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/* The relay slot of (socket, original destination): its own relay port. */
static __always_inline __u16 redir_udp_slot(__u64 cookie, struct lfp_redir_sk *rs,
					    const struct lfp_eval_in *in, __u16 uslots)
{
	struct lfp_redir_udp_key k = {};
	__u32 *sp, slot;

	k.cookie = cookie;
	__builtin_memcpy(k.naddr, in->raddr, 16);
	k.nport = in->rport;
	sp = bpf_map_lookup_elem(&lfp_redir_udp_slot, &k);
	if (sp && *sp < uslots)
		return *sp;
	/* a new peer: the next slot, round robin (the oldest peer's when all are taken) */
	slot = rs->next_slot % uslots;
	rs->next_slot = (__u8)(slot + 1);
	if (bpf_map_update_elem(&lfp_redir_udp_slot, &k, &slot, BPF_ANY))
		stat_inc(LFP_STAT_ERRORS);
	return (__u16)slot;
}

/*
 * Apply a redirect verdict: record the original in socket storage, rewrite
 * the destination. A redirect that cannot be carried out (no target for the
 * family, no storage, UDP to a target without a UDP relay) fails the
 * operation: never a silent direct connection.
 * @return 1 (go on), 0 (fail with EPERM)
 */
static __always_inline int redir_apply(struct bpf_sock_addr *ctx, bool v6, struct scratch *sc)
{
	struct lfp_eval_in *in = &sc->in;
	const struct lfp_redir_target *t;
	struct lfp_redir_sk *rs;
	bool relay, udp = in->proto == IPPROTO_UDP;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	const __u8 *na;
	__u32 idx;
	__u16 np;

	idx = LFP_REDIR_TARGET_IDX(sc->gen, sc->out.kf.target);
	t = bpf_map_lookup_elem(&lfp_redir_targets, &idx);
	if (!t)
		goto fail;
	relay = t->flags & LFP_RT_REDIRECTOR;
	if (relay && in->proto != IPPROTO_TCP && !(udp && t->uslots))
		goto fail;
	if (in->ipver == 4) {
		if (!(t->flags & LFP_RT_HAS4))
			goto fail;
		na = t->addr4;
		np = t->port4;
	} else {
		if (!(t->flags & LFP_RT_HAS6))
			goto fail;
		na = t->addr6;
		np = t->port6;
	}
	/* an IPv4 socket can only be sent to an IPv4 address */
	if (!v6 && !addr_is_v4mapped(na))
		goto fail;
	rs = bpf_sk_storage_get(&lfp_redir_sk_store, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!rs)
		goto fail;
	if (relay && udp)
		np = t->uport + redir_udp_slot(cookie, rs, in, t->uslots);
	__builtin_memcpy(rs->oaddr, in->raddr, 16);
	__builtin_memcpy(rs->naddr, na, 16);
	rs->oport = in->rport;
	rs->nport = np;
	rs->filter_id = sc->out.kf.id;
	rs->upstream = t->upstream;
	rs->via = relay;
	rs->redirected = 1;
	rs->exe_dev = in->app_dev;
	rs->exe_ino = in->app_ino;
	if (udp) {
		/* replies from (rewritten destination) read as from the original (recvmsg);
		 * through the relay, egress records the flow for the redirector */
		struct lfp_redir_udp_key uk = {};
		struct lfp_redir_udp_val uv = {};
		struct lfp_redir_udp_val *cur;

		uk.cookie = cookie;
		__builtin_memcpy(uk.naddr, na, 16);
		uk.nport = np;
		cur = bpf_map_lookup_elem(&lfp_redir_udp, &uk);
		if (!cur || cur->oport != in->rport || !redir_addr_eq(cur->oaddr, in->raddr) ||
		    cur->upstream != t->upstream) {
			if (cur) {
				/* another original now shares this rewritten destination:
				 * auth-connect's cached decision for it was about the old
				 * one (orig.* may decide), so it classifies again */
				struct lfp_udp_key ck = {};

				ck.cookie = cookie;
				__builtin_memcpy(ck.raddr, na, 16);
				ck.rport = np;
				bpf_map_delete_elem(&lfp_udp_cache, &ck);
			}
			__builtin_memcpy(uv.oaddr, in->raddr, 16);
			uv.oport = in->rport;
			uv.upstream = t->upstream;
			uv.filter_id = sc->out.kf.id;
			uv.pid = in->pid;
			uv.uid = in->uid;
			uv.exe_dev = in->app_dev;
			uv.exe_ino = in->app_ino;
			if (bpf_map_update_elem(&lfp_redir_udp, &uk, &uv, BPF_ANY))
				stat_inc(LFP_STAT_ERRORS); /* its replies show the rewritten peer */
		}
	}
	redir_set_dst(ctx, v6, na, np);
	redir_event(ctx, sc, LFP_V_REDIRECT, na, np);
	return 1;
fail:
	stat_inc(LFP_STAT_ERRORS);
	redir_event(ctx, sc, LFP_V_BLOCK, in->raddr, in->rport);
	return 0;
}

/* connect4/6 and sendmsg4/6 at connect-redirect. */
static __always_inline int redir_sock_addr(struct bpf_sock_addr *ctx, bool v6, bool sendmsg)
{
	struct lfp_redir_sk *rs;
	struct scratch *sc;
	int allow = 1;

	/* a socket connecting again: its earlier rewrite no longer holds */
	rs = bpf_sk_storage_get(&lfp_redir_sk_store, ctx->sk, 0, 0);
	if (rs && !sendmsg)
		rs->redirected = 0;
	if (!redir_layer_used() || redir_own_process())
		return 1;
	sc = scratch_get();
	if (!sc) {
		/* fail closed: a flow the policy may redirect never goes out unjudged */
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in_remote(&sc->in, ctx, v6);
	in_rest(&sc->in, &sc->tid, sc->comm, ctx);
	sc->in.layer = LFP_LAYER_CONNECT_REDIRECT;
	/* msg_src_ip4 exists only for sendmsg4: the condition is a constant */
	if (sendmsg && !v6 && ctx->msg_src_ip4)
		addr_v4mapped(sc->in.laddr, ctx->msg_src_ip4);
	lfp_classify(&sc->in, &sc->out, &sc->gen);
	if (sc->out.verdict == LFP_V_REDIRECT)
		allow = redir_apply(ctx, v6, sc);
	scratch_put(sc);
	return allow;
}

SEC("cgroup/connect4")
int lfp_redir_connect4(struct bpf_sock_addr *ctx)
{
	return redir_sock_addr(ctx, false, false);
}

SEC("cgroup/connect6")
int lfp_redir_connect6(struct bpf_sock_addr *ctx)
{
	return redir_sock_addr(ctx, true, false);
}

SEC("cgroup/sendmsg4")
int lfp_redir_sendmsg4(struct bpf_sock_addr *ctx)
{
	return redir_sock_addr(ctx, false, true);
}

SEC("cgroup/sendmsg6")
int lfp_redir_sendmsg6(struct bpf_sock_addr *ctx)
{
	return redir_sock_addr(ctx, true, true);
}

/*
 * auth-connect's view of a redirected flow (called by the auth-connect
 * adapters after they read the destination, which is the rewritten one):
 * the original destination and `flags redirected`.
 */
static __always_inline void redir_in(struct bpf_sock_addr *ctx, struct lfp_eval_in *in)
{
	struct lfp_redir_sk *rs = bpf_sk_storage_get(&lfp_redir_sk_store, ctx->sk, 0, 0);

	if (!rs || !rs->redirected)
		return;
	in->flags |= LFP_CF_REDIRECTED;
	__builtin_memcpy(in->oaddr, rs->oaddr, 16);
	in->oport = rs->oport;
}


/* The original destination into an auth-connect event of a redirected socket. */
static __always_inline void redir_event_orig(struct lfp_event *e, struct bpf_sock *sk)
{
	struct lfp_redir_sk *rs;

	if (!e || !(e->flags & LFP_CF_REDIRECTED))
		return;
	rs = bpf_sk_storage_get(&lfp_redir_sk_store, sk, 0, 0);
	if (!rs || !rs->redirected)
		return;
	__builtin_memcpy(e->oaddr, rs->oaddr, 16);
	e->oport = rs->oport;
}

/* getpeername4/6: the application sees the peer it asked for. */
static __always_inline int redir_hide(struct bpf_sock_addr *ctx, bool v6, bool only_new_peer)
{
	struct lfp_redir_sk *rs = bpf_sk_storage_get(&lfp_redir_sk_store, ctx->sk, 0, 0);
	__u8 cur[16];
	__u16 cport;

	if (!rs || !rs->redirected)
		return 1;
	if (only_new_peer) {
		/* a datagram from the rewritten destination reads as one from the original;
		 * anyone else's as it is */
		__builtin_memset(cur, 0, sizeof(cur));
		if (v6)
			addr_v6(cur, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]);
		else
			addr_v4mapped(cur, ctx->user_ip4);
		cport = bpf_ntohs((__u16)ctx->user_port);
		if (cport != rs->nport || !redir_addr_eq(cur, rs->naddr)) {
			/* unconnected: the original of this (socket, source), if any */
			struct lfp_redir_udp_key uk = {};
			struct lfp_redir_udp_val *uv;

			uk.cookie = bpf_get_socket_cookie(ctx);
			__builtin_memcpy(uk.naddr, cur, 16);
			uk.nport = cport;
			uv = bpf_map_lookup_elem(&lfp_redir_udp, &uk);
			if (!uv || (!v6 && !addr_is_v4mapped(uv->oaddr)))
				return 1;
			redir_set_dst(ctx, v6, uv->oaddr, uv->oport);
			return 1;
		}
	}
	if (!v6 && !addr_is_v4mapped(rs->oaddr))
		return 1;
	redir_set_dst(ctx, v6, rs->oaddr, rs->oport);
	return 1;
}

SEC("cgroup/getpeername4")
int lfp_redir_getpeername4(struct bpf_sock_addr *ctx)
{
	return redir_hide(ctx, false, false);
}

SEC("cgroup/getpeername6")
int lfp_redir_getpeername6(struct bpf_sock_addr *ctx)
{
	return redir_hide(ctx, true, false);
}

SEC("cgroup/recvmsg4")
int lfp_redir_recvmsg4(struct bpf_sock_addr *ctx)
{
	return redir_hide(ctx, false, true);
}

SEC("cgroup/recvmsg6")
int lfp_redir_recvmsg6(struct bpf_sock_addr *ctx)
{
	return redir_hide(ctx, true, true);
}

/*
 * sock_ops TCP_CONNECT_CB of a socket redirected to the redirector: the
 * kernel has picked its local address and port, the key the redirector
 * sees on accept; the record goes there before the SYN does. A record that
 * cannot be stored leaves the redirector without an original: it resets
 * that connection (never guesses).
 */
SEC("sockops")
int lfp_redir_sockops(struct bpf_sock_ops *ctx)
{
	struct lfp_redir_key key = {};
	struct lfp_redir_orig val = {};
	struct lfp_redir_sk *rs;
	struct bpf_sock *sk;

	if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	rs = bpf_sk_storage_get(&lfp_redir_sk_store, sk, 0, 0);
	if (!rs || !rs->redirected || !rs->via)
		return 1;
	if (ctx->family == AF_INET6) {
		__u32 w0 = ctx->local_ip6[0], w1, w2, w3;

		barrier_var(w0);
		w1 = ctx->local_ip6[1];
		barrier_var(w1);
		w2 = ctx->local_ip6[2];
		barrier_var(w2);
		w3 = ctx->local_ip6[3];
		barrier_var(w3);
		addr_v6(key.addr, w0, w1, w2, w3);
	} else {
		__u32 w = ctx->local_ip4;

		barrier_var(w);
		addr_v4mapped(key.addr, w);
	}
	key.port = (__u16)ctx->local_port;
	key.proto = IPPROTO_TCP;
	__builtin_memcpy(val.oaddr, rs->oaddr, 16);
	val.oport = rs->oport;
	val.filter_id = rs->filter_id;
	val.upstream = rs->upstream;
	val.cookie = bpf_get_socket_cookie(ctx);
	val.pid = bpf_get_current_pid_tgid() >> 32;
	val.uid = (__u32)bpf_get_current_uid_gid();
	val.exe_dev = rs->exe_dev;
	val.exe_ino = rs->exe_ino;
	if (bpf_map_update_elem(&lfp_redir_orig, &key, &val, BPF_ANY))
		stat_inc(LFP_STAT_ERRORS);
	return 1;
}

/*
 * cgroup_skb egress, UDP through the redirector: the first datagram of a
 * (socket, relay port) carries the socket's address and port as the kernel
 * chose them; record the original there for the redirector, before the
 * datagram reaches it. Observe only: the packet always passes.
 */
SEC("cgroup_skb/egress")
int lfp_redir_egress(struct __sk_buff *skb)
{
	struct lfp_redir_udp_key uk = {};
	struct lfp_redir_key key = {};
	struct lfp_redir_orig val = {};
	struct lfp_redir_udp_val *uv;
	struct lfp_redir_sk *rs;
	struct bpf_sock *sk;
	struct udphdr uh;
	__u32 off;

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_UDP)
		return 1;
	rs = bpf_sk_storage_get(&lfp_redir_sk_store, sk, 0, 0);
	if (!rs || !rs->via)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)) || ih.protocol != IPPROTO_UDP ||
		    (ih.frag_off & bpf_htons(0x1fff)))
			return 1;
		addr_v4mapped(key.addr, ih.saddr);
		addr_v4mapped(uk.naddr, ih.daddr);
		off = ih.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)) || ih.nexthdr != IPPROTO_UDP)
			return 1;
		__builtin_memcpy(key.addr, &ih.saddr, 16);
		__builtin_memcpy(uk.naddr, &ih.daddr, 16);
		off = sizeof(ih);
	} else {
		return 1;
	}
	if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)))
		return 1;
	uk.cookie = bpf_get_socket_cookie(skb);
	uk.nport = bpf_ntohs(uh.dest);
	uv = bpf_map_lookup_elem(&lfp_redir_udp, &uk);
	if (!uv || uv->recorded || !uv->upstream)
		return 1;
	key.port = bpf_ntohs(uh.source);
	key.proto = IPPROTO_UDP;
	key.relay = uk.nport;
	__builtin_memcpy(val.oaddr, uv->oaddr, 16);
	val.oport = uv->oport;
	val.filter_id = uv->filter_id;
	val.upstream = uv->upstream;
	val.cookie = uk.cookie;
	val.pid = uv->pid;
	val.uid = uv->uid;
	val.exe_dev = uv->exe_dev;
	val.exe_ino = uv->exe_ino;
	if (bpf_map_update_elem(&lfp_redir_orig, &key, &val, BPF_ANY))
		stat_inc(LFP_STAT_ERRORS);
	else
		uv->recorded = 1;
	return 1;
}
