/* SPDX-License-Identifier: GPL-2.0 */
/*
 * resource-assignment (WFP's ALE_RESOURCE_ASSIGNMENT): the creation of raw
 * and ICMP (datagram ping) sockets, at cgroup/sock_create, and explicit
 * binds, at cgroup/post_bind4/6. Both run in the caller's process context
 * and can refuse: the system call fails with EPERM. Included by lfp.bpf.c
 * after its helpers. docs/kernel.md, "resource-assignment", describes it.
 *
 * Implicit binds (the port the kernel picks at connect() or at the first
 * sendmsg() of an unbound socket) are classified here too, from the
 * connect4/6 and sendmsg4/6 programs, before auth-connect (WFP's order),
 * with `flags implicit-bind` and local port 0: only while the active
 * generation has filters at resource-assignment, so connects pay nothing
 * when nobody filters the layer.
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
#define ALE_RES_IMPLICIT 8 /* connect/sendmsg's socket (a PTR_TO_SOCKET): no port chosen yet */

/*
 * One classification at resource-assignment. @mode is a constant at each
 * call site: the context fields a program may read depend on its attach
 * type, and the verifier refuses the others even on a branch not taken.
 * A block is always reported, a permit only when its filter says `log`
 * (sockets and binds are not connections: the global switch is not about
 * them). No scratch slot: fail closed. @return 1 to allow, 0 to refuse.
 */
static __always_inline int ale_resource(struct bpf_sock *sk, int mode, __u64 cookie)
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
	} else if (mode == ALE_RES_IMPLICIT && family == AF_INET6) {
		/* the address bound, if any (often none yet); the port is the
		 * kernel's choice, made after this hook: 0 */
		__u32 w0 = sk->src_ip6[0], w1, w2, w3;

		barrier_var(w0);
		w1 = sk->src_ip6[1];
		barrier_var(w1);
		w2 = sk->src_ip6[2];
		barrier_var(w2);
		w3 = sk->src_ip6[3];
		barrier_var(w3);
		addr_v6(in->laddr, w0, w1, w2, w3);
	} else if (mode == ALE_RES_IMPLICIT) {
		addr_v4mapped(in->laddr, sk->src_ip4);
	} else if (family == AF_INET) {
		addr_v4mapped(in->laddr, 0); /* nothing bound: the family's unspecified address */
	}
	if (mode == ALE_RES_IMPLICIT)
		in->flags |= LFP_CF_IMPLICIT_BIND;
	in->ipver = family == AF_INET6 && !addr_is_v4mapped(in->laddr) ? 6 : 4;
	if (type == SOCK_RAW)
		in->flags |= LFP_CF_RAW;
	if (mode != ALE_RES_CREATE && addr_is_loopback(in->laddr))
		in->flags |= LFP_CF_LOOPBACK;
	ident_current(in, &sc->tid, sc->comm);
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	if (!allow || out->notify || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG))) {
		/* no remote: the unspecified address of the socket's family, in
		 * the input's oaddr (unused at this layer, classified already) */
		__builtin_memset(in->oaddr, 0, 16);
		if (in->ipver == 4)
			addr_v4mapped(in->oaddr, 0);
		e = event_flow(out->verdict, out_filter_id(out), in->flags, in->proto, in->laddr,
			       in->lport, in->oaddr, 0, cookie);
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
	 * Only explicit binds, so storage is allocated for servers, not for
	 * every client socket (connect and sendmsg stamp their own). Raw
	 * and ping sockets likewise, at creation, for their ICMP messages.
	 */
	if (allow &&
	    (((mode == ALE_RES_BIND4 || mode == ALE_RES_BIND6) && in->proto == IPPROTO_UDP) ||
	     mode == ALE_RES_CREATE)) {
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!s) {
			stat_inc(LFP_STAT_ERRORS);
		} else if (!s->pid) {
			ident_to_sk(s, in, sc->comm);
			s->proto = in->proto;
		}
		/* the INPUT match's view of this server (bpf/pend_in.bpf.h) */
		pend_listen_note(s, in, cookie);
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
	return ale_resource(sk, ALE_RES_CREATE, bpf_get_socket_cookie(sk));
}

/*
 * The implicit bind of a connect() (TCP, UDP: the kernel picks the port
 * after this hook) or of an unbound UDP socket's first sendmsg() (the
 * kernel has just picked it: the socket has no record yet, which every
 * explicit bind, connect and earlier send leaves). Called only while
 * resource-assignment has filters. A global function: the evaluator is
 * verified once here, not inlined a second time into connect and sendmsg.
 * @return 1 to go on to auth-connect, 0 to refuse with EPERM.
 */
static __always_inline int ale_implicit_bind(struct bpf_sock_addr *ctx, int from_send)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 proto, port;
	struct lfp_sk *s;

	if (!sk)
		return 1;
	proto = sk->protocol;
	barrier_var(proto);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 1;
	if (from_send) {
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
		if (s && s->pid)
			return 1;
	} else {
		port = sk->src_port;
		barrier_var(port);
		if (port)
			return 1;
	}
	return ale_resource(sk, ALE_RES_IMPLICIT, bpf_get_socket_cookie(ctx));
}
