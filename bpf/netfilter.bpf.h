/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The packet layers for traffic without a socket of the scope
 * (docs/packet-layers.md, "Netfilter"): BPF netfilter programs
 * (BPF_PROG_TYPE_NETFILTER, kernel 6.4 and later) at LOCAL_IN and LOCAL_OUT,
 * IPv4 and IPv6, linked by lfpd in its own network namespace (netfilter
 * hooks are per namespace). Included by lfp.bpf.c after packet.bpf.h.
 *
 * What they classify, so that no packet is judged twice:
 *  - LOCAL_OUT: packets the kernel sends for itself, from no socket or from
 *    one of its own control sockets: TCP RSTs for closed ports, echo
 *    replies, ICMP errors, neighbor discovery. A user socket's packets are
 *    the cgroup_skb programs' (scope) or nobody's (other cgroups).
 *  - LOCAL_IN: ICMP and ICMPv6 messages the kernel consumes itself: all but
 *    echo replies (which go to the pinging socket, whose ingress program
 *    judges them). Inbound TCP and UDP are judged at the socket they reach
 *    (cgroup_skb); one that reaches none is answered by a RST or an ICMP
 *    error, which LOCAL_OUT sees.
 * The owner of such a packet is nobody: pid 0, no application, uid and gid
 * read as 4294967295 (unknown), no cgroup.
 *
 * Debian's libbpf 1.1 does not know SEC("netfilter"): lfpd sets the program
 * type and expected attach type before load and creates the links itself
 * (daemon/kern_nf.c).
 */
#pragma once

#define NF_DROP_   0
#define NF_ACCEPT_ 1

#define NF_INET_LOCAL_IN_  1
#define NF_INET_FORWARD_   2
#define NF_INET_LOCAL_OUT_ 3

#define TCP_NEW_SYN_RECV_ 12
#define TCP_TIME_WAIT_	  6

/* A packet of no socket, or of one of the kernel's control sockets (RSTs,
 * ICMP, ND). Request and time-wait sockets answer for a user's listener or
 * connection: the cgroup programs' business (or nobody's), not ours. */
static __always_inline bool nf_kernel_owned(struct sk_buff *skb)
{
	struct sock *sk = skb->sk;
	__u8 state;

	if (!sk)
		return true;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_NEW_SYN_RECV_ || state == TCP_TIME_WAIT_)
		return false;
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock);
}

/*
 * One packet at LOCAL_IN or LOCAL_OUT. @return NF_ACCEPT_ or NF_DROP_.
 */
static __always_inline int nf_packet(struct bpf_nf_ctx *ctx, __u8 dir)
{
	struct sk_buff *skb = ctx->skb;
	__u32 first =
		dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_TRANSPORT : LFP_LAYER_INBOUND_IPPACKET;
	__u32 second =
		dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_IPPACKET : LFP_LAYER_INBOUND_TRANSPORT;
	struct lfp_state *st = state_get();
	struct net_device *dev;
	struct bpf_dynptr dp;
	struct scratch *sc;
	struct lfp_pkt p;
	__u32 n1, n2;
	bool exempt;
	__u64 gen;
	int allow = 1;

	if (!skb || !st)
		return NF_ACCEPT_;
	gen = st->gen;
	if (!gen)
		return NF_ACCEPT_;
	n1 = pkt_layer_tuples(gen, first);
	n2 = pkt_layer_tuples(gen, second);
	if (!n1 && !n2)
		return NF_ACCEPT_;
	if (dir == LFP_DIR_OUTBOUND && !nf_kernel_owned(skb))
		return NF_ACCEPT_;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &dp)) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_ACCEPT_;
	}
	if (lfp_pkt_parse(&dp, 0, &p) == LFP_PKT_MALFORMED) {
		stat_inc(LFP_STAT_PKT_MALFORMED);
		return NF_ACCEPT_;
	}
	if (dir == LFP_DIR_INBOUND) {
		/* only what the kernel consumes itself: ICMP but echo replies */
		if (!lfp_pkt_is_icmp(p.ipver, p.proto))
			return NF_ACCEPT_;
		if (p.l4 && p.icmp_type == (p.ipver == 4 ? 0 : 129))
			return NF_ACCEPT_;
	}
	if (p.status == LFP_PKT_TRUNCATED)
		stat_inc(LFP_STAT_PKT_TRUNCATED);
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_DROP_;
	}
	pkt_to_in(&p, &sc->in, dir);
	dev = dir == LFP_DIR_OUTBOUND ? ctx->state->out : ctx->state->in;
	sc->in.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	sc->in.uid = 0xffffffffu;
	sc->in.gid = 0xffffffffu;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 2; i++) {
		__u32 layer = i ? second : first;

		if (!(i ? n2 : n1))
			continue;
		sc->in.layer = layer;
		lfp_classify(&sc->in, &sc->out, &sc->gen);
		exempt = pkt_exempt(sc, p.l4);
		allow = verdict_allows(sc->out.verdict) || exempt;
		if (!exempt)
			pkt_event(sc, NULL, 0);
		if (!allow)
			break;
	}
	scratch_put(sc);
	return allow ? NF_ACCEPT_ : NF_DROP_;
}

SEC("netfilter")
int lfp_nf_in(struct bpf_nf_ctx *ctx)
{
	return nf_packet(ctx, LFP_DIR_INBOUND);
}

SEC("netfilter")
int lfp_nf_out(struct bpf_nf_ctx *ctx)
{
	return nf_packet(ctx, LFP_DIR_OUTBOUND);
}
