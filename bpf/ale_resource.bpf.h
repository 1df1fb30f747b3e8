/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resource-assignment (WFP's ALE_RESOURCE_ASSIGNMENT): the creation of raw
 * and ICMP (datagram ping) sockets, at cgroup/sock_create, and explicit
 * binds, at cgroup/post_bind4/6. Both run in the caller's process context
 * and can refuse: the system call fails with EPERM. Included by lfp.bpf.c
 * after its helpers. docs/kernel.md, "resource-assignment", describes it.
 *
 * Implicit binds (the port the kernel picks at connect or at the first
 * send) are not classified here: classifying them at connect would cost
 * every connect a second classification.
 */
#pragma once

#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#define SOCK_RAW   3
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define ALE_RES_CREATE 0 /* sock_create: nothing is bound yet */
#define ALE_RES_BIND4  4 /* post_bind4: src_ip4 and src_port are readable */
#define ALE_RES_BIND6  6 /* post_bind6: src_ip6 and src_port */

/*
 * One classification at resource-assignment. @mode is a constant at each
 * call site: the context fields a program may read depend on its attach
 * type, and the verifier refuses the others even on a branch not taken.
 * A block is always reported, a permit only when its filter says `log`
 * (sockets and binds are not connections: the global switch is not about
 * them). No scratch slot: fail closed. @return 1 to allow, 0 to refuse.
 */
static __always_inline int ale_resource(struct bpf_sock *sk, int mode)
{
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct scratch *sc;
	struct lfp_event *e;
	__u32 family = sk->family, type = sk->type, proto = sk->protocol;
	struct lfp_sk *s;
	int allow;

	/* each context field read once, at a constant offset (the verifier
	 * refuses a load through a ctx pointer clang moved) */
	barrier_var(family);
	barrier_var(type);
	barrier_var(proto);
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in = &sc->in;
	out = &sc->out;
	in->layer = LFP_LAYER_RESOURCE_ASSIGNMENT;
	in->proto = proto;
	if (mode == ALE_RES_BIND4) {
		addr_v4mapped(in->laddr, sk->src_ip4);
		in->lport = sk->src_port;
	} else if (mode == ALE_RES_BIND6) {
		__u32 w0 = sk->src_ip6[0], w1, w2, w3;

		barrier_var(w0);
		w1 = sk->src_ip6[1];
		barrier_var(w1);
		w2 = sk->src_ip6[2];
		barrier_var(w2);
		w3 = sk->src_ip6[3];
		barrier_var(w3);
		addr_v6(in->laddr, w0, w1, w2, w3);
		in->lport = sk->src_port;
	} else if (family == AF_INET) {
		addr_v4mapped(in->laddr, 0); /* nothing bound: the family's unspecified address */
	}
	in->ipver = family == AF_INET6 && !addr_is_v4mapped(in->laddr) ? 6 : 4;
	if (type == SOCK_RAW)
		in->flags |= LFP_CF_RAW;
	if (mode != ALE_RES_CREATE && addr_is_loopback(in->laddr))
		in->flags |= LFP_CF_LOOPBACK;
	ident_current(in, &sc->tid, sc->comm);
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	if (!allow || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG))) {
		/* no remote: the unspecified address of the socket's family, in
		 * the input's oaddr (unused at this layer, classified already) */
		__builtin_memset(in->oaddr, 0, 16);
		if (in->ipver == 4)
			addr_v4mapped(in->oaddr, 0);
		e = event_flow(out->verdict, out_filter_id(out), in->flags, in->proto, in->laddr,
			       in->lport, in->oaddr, 0, bpf_get_socket_cookie(sk));
		if (e) {
			e->layer = LFP_LAYER_RESOURCE_ASSIGNMENT;
			e->ipver = in->ipver;
			event_who_in(e, in, sc->comm);
			ring_submit(e);
		}
	}
	/*
	 * A UDP server that only binds and receives never runs connect or
	 * sendmsg: stamp its owner here for the auth-recv-accept
	 * classification of its first datagrams (ingress runs in softirq).
	 * Only explicit binds get here, so storage is allocated for servers,
	 * not for every client socket.
	 */
	if (allow && mode != ALE_RES_CREATE && in->proto == IPPROTO_UDP) {
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!s) {
			stat_inc(LFP_STAT_ERRORS);
		} else if (!s->pid) {
			ident_to_sk(s, in, sc->comm);
			s->proto = IPPROTO_UDP;
		}
	}
	scratch_put(sc);
	return allow;
}

/* sock_create: only raw sockets and ICMP datagram (ping) sockets are
 * resources WFP assigns at creation; TCP and UDP sockets are judged when
 * they bind, listen, connect or receive. */
static __always_inline int ale_sock_create(struct bpf_sock *sk)
{
	__u32 type = sk->type, proto = sk->protocol;

	if (type != SOCK_RAW &&
	    !(type == SOCK_DGRAM && (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)))
		return 1;
	return ale_resource(sk, ALE_RES_CREATE);
}
