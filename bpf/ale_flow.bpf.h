/* SPDX-License-Identifier: GPL-2.0 */
/*
 * flow-established and endpoint-closure (WFP's ALE_FLOW_ESTABLISHED and
 * ALE_ENDPOINT_CLOSURE): observe-only layers on sock_ops. A TCP flow is
 * established at ACTIVE_ESTABLISHED_CB (our connect completed) or
 * PASSIVE_ESTABLISHED_CB (an accepted connection completed its
 * handshake), and its endpoint closes at STATE_CB with the new state
 * TCP_CLOSE (a callback the kernel calls only for sockets that asked for
 * it, which established sockets do while some filter is at
 * endpoint-closure); a UDP socket's endpoint closes at
 * cgroup/sock_release (ale_sock_release). Nothing is refused here: the verdict only decides
 * whether an event goes out (a filter with `log`). Included by lfp.bpf.c
 * after its helpers and ale_accept.bpf.h. docs/kernel.md, "flow-established
 * and endpoint-closure", describes it.
 */
#pragma once

/* defined with the re-authorization iterator, further down lfp.bpf.c */
static __always_inline bool reauth_cgroup(struct sock *sk, struct lfp_eval_in *in, __u64 scope,
					  __u64 gen, __u64 *own);

#ifndef BPF_TCP_CLOSE_
#define BPF_TCP_CLOSE_ 7
#endif

/* Whether the active generation has filters at @layer: a flow costs no
 * classification at layers nobody filters. */
static __always_inline bool ale_layer_used(__u32 layer)
{
	struct lfp_state *st = state_get();
	const struct lfp_layer_cfg *cfg;

	if (!st || !st->gen)
		return false;
	cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, st->gen & 1, layer);
	return cfg && cfg->n_tuples;
}

/*
 * Classify the flow of @ctx at @layer and report it when the deciding
 * filter says `log` (and not `nolog`). The owner is the one the flow's
 * record in socket storage names (connect or accept); the cgroup is the
 * socket's, walked as re-authorization walks it (softirq: `current` is
 * nobody's).
 */
static __always_inline void ale_flow_event(struct bpf_sock_ops *ctx, __u8 layer, __u8 dir)
{
	struct bpf_sock *sk = ctx->sk;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct lfp_state *st;
	struct tcp_sock *tp;
	struct scratch *sc;
	struct lfp_event *e;
	struct lfp_sk *s;
	__u64 own_cg = 0;

	if (!sk || !ale_layer_used(layer))
		return;
	st = state_get();
	if (!st)
		return;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return;
	}
	in = &sc->in;
	out = &sc->out;
	in->layer = layer;
	in->direction = dir;
	in->proto = IPPROTO_TCP;
	sockops_laddr(ctx, in->laddr);
	in->lport = ctx->local_port;
	in->rport = sockops_raddr(ctx, in->raddr);
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	if (s) {
		in->pid = s->pid;
		in->uid = s->uid;
		in->gid = s->gid;
		in->app_dev = s->exe_dev;
		in->app_ino = s->exe_ino;
		in->flags |= s->cflags & ~LFP_CF_REAUTHORIZE;
	}
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp)
		reauth_cgroup((struct sock *)tp, in, st->scope_cgroup, st->gen, &own_cg);
	lfp_classify(in, out, &sc->gen);
	if (out->notify || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG) &&
			    !(out->kf.flags & LFP_FF_NOLOG))) {
		e = event_flow(out->verdict, out_filter_id(out), in->flags, IPPROTO_TCP, in->laddr,
			       in->lport, in->raddr, in->rport, bpf_get_socket_cookie(ctx));
		if (e) {
			e->layer = layer;
			e->direction = dir; /* lfpd matches callout filters' direction */
			if (s) {
				event_who_sk(e, s);
			} else {
				e->pid = 0;
				e->uid = 0;
				e->gid = 0;
				e->exe_dev = 0;
				e->exe_ino = 0;
				__builtin_memset(e->comm, 0, sizeof(e->comm));
			}
			e->cgroup = own_cg;
			ring_submit(e);
		}
	}
	scratch_put(sc);
}

/*
 * sock_ops ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB and STATE_CB, in
 * one place so the evaluator is inlined into sock_ops once for all three.
 * An accepted socket first takes its SYN's record (ale_accept_established);
 * an established one asks for the state callback while endpoint-closure
 * has filters; STATE_CB's args[1] is the new state, and the endpoint closes
 * at TCP_CLOSE, before the kernel unhashes it (its addresses are still
 * there).
 */
static __always_inline void ale_flow_cb(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	__u8 layer = LFP_LAYER_FLOW_ESTABLISHED, dir = LFP_DIR_OUTBOUND;
	struct lfp_sk *s;

	if (ctx->op == BPF_SOCK_OPS_STATE_CB) {
		if (ctx->args[1] != BPF_TCP_CLOSE_ || !sk)
			return;
		layer = LFP_LAYER_ENDPOINT_CLOSURE;
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
		if (s && s->inbound)
			dir = LFP_DIR_INBOUND;
	} else {
		if (ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
			ale_accept_established(ctx);
			dir = LFP_DIR_INBOUND;
		}
		if (ale_layer_used(LFP_LAYER_ENDPOINT_CLOSURE))
			bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags |
							       BPF_SOCK_OPS_STATE_CB_FLAG);
	}
	ale_flow_event(ctx, layer, dir);
}

/*
 * cgroup/sock_release (close() of the last reference, process context,
 * before the protocol's close: the addresses are still there):
 * endpoint-closure of UDP sockets, which have no state callback. Only a
 * socket with a record (an owner stamped by connect, a send or an explicit
 * bind) had a flow; one nobody used is no endpoint. TCP stays with
 * STATE_CB (one event per closure). The local end is read from the kernel's
 * socket: this attach type may not read src_* from its context. Observe
 * only: @return is always 1.
 */
static __always_inline int ale_sock_release(struct bpf_sock *sk)
{
	__u32 proto = sk->protocol, family = sk->family;
	struct sock *ks = (struct sock *)sk;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct scratch *sc;
	struct lfp_event *e;
	struct lfp_sk *s;

	barrier_var(proto);
	barrier_var(family);
	if (proto != IPPROTO_UDP || !ale_layer_used(LFP_LAYER_ENDPOINT_CLOSURE))
		return 1;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (!s || !s->pid)
		return 1;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 1;
	}
	in = &sc->in;
	out = &sc->out;
	in->layer = LFP_LAYER_ENDPOINT_CLOSURE;
	in->direction = s->inbound ? LFP_DIR_INBOUND : LFP_DIR_OUTBOUND;
	in->proto = IPPROTO_UDP;
	in->lport = BPF_CORE_READ(ks, __sk_common.skc_num);
	in->rport = bpf_ntohs(BPF_CORE_READ(ks, __sk_common.skc_dport));
	if (family == AF_INET) {
		addr_v4mapped(in->laddr, BPF_CORE_READ(ks, __sk_common.skc_rcv_saddr));
		addr_v4mapped(in->raddr, BPF_CORE_READ(ks, __sk_common.skc_daddr));
	} else {
		bpf_core_read(in->laddr, 16, &ks->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(in->raddr, 16, &ks->__sk_common.skc_v6_daddr);
	}
	in->ipver = family == AF_INET || addr_is_v4mapped(in->raddr) ? 4 : 6;
	if (addr_is_loopback(in->raddr) || addr_is_loopback(in->laddr))
		in->flags |= LFP_CF_LOOPBACK;
	in->flags |= s->cflags & ~LFP_CF_REAUTHORIZE;
	in->pid = s->pid;
	in->uid = s->uid;
	in->gid = s->gid;
	in->cgroup = s->cgroup;
	in->app_dev = s->exe_dev;
	in->app_ino = s->exe_ino;
	lfp_classify(in, out, &sc->gen);
	if (out->notify || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG) &&
			    !(out->kf.flags & LFP_FF_NOLOG))) {
		e = event_flow(out->verdict, out_filter_id(out), in->flags, IPPROTO_UDP, in->laddr,
			       in->lport, in->raddr, in->rport, bpf_get_socket_cookie(sk));
		if (e) {
			e->layer = LFP_LAYER_ENDPOINT_CLOSURE;
			e->direction = in->direction;
			e->ipver = in->ipver;
			event_who_sk(e, s);
			ring_submit(e);
		}
	}
	scratch_put(sc);
	return 1;
}
