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

_Static_assert(sizeof(struct lfp_pkt) <= sizeof(((struct scratch *)0)->pkt), "scratch pkt");

#define NF_DROP_   0
#define NF_ACCEPT_ 1

#define NF_INET_LOCAL_IN_  1
#define NF_INET_FORWARD_   2
#define NF_INET_LOCAL_OUT_ 3

#define TCP_NEW_SYN_RECV_ 12
#define TCP_TIME_WAIT_	  6

/* inbound packets no socket takes, judged by the kernel's answer */
#include "unclaimed.bpf.h"

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

/* An ICMP or ICMPv6 error message (it quotes the packet that caused it). */
static __always_inline bool pkt_icmp_error(const struct lfp_pkt *p)
{
	if (!p->l4 || !lfp_pkt_is_icmp(p->ipver, p->proto))
		return false;
	if (p->ipver == 6)
		return p->icmp_type < 128; /* RFC 4443 2.1 */
	return p->icmp_type == 3 || p->icmp_type == 4 || p->icmp_type == 5 || p->icmp_type == 11 ||
	       p->icmp_type == 12;
}

/*
 * The fields of the quoted packet, for the ICMP error layers: its protocol,
 * addresses and ports, oriented as the flow it belongs to. An inbound error
 * quotes a packet this host sent (its source is the local end); an outbound
 * one quotes a packet this host received. The ICMP type and code stay the
 * error's. A quote too short for its IP header leaves the error's own
 * fields (counted as truncated): garbage never names a flow.
 */
static __always_inline void nf_quoted(struct scratch *sc, const struct bpf_dynptr *dp,
				      struct lfp_pkt *p, __u32 qoff, __u8 dir)
{
	__u8 type = sc->in.icmp_type, code = sc->in.icmp_code;

	if (lfp_pkt_parse(dp, qoff, p) == LFP_PKT_MALFORMED) {
		stat_inc(LFP_STAT_PKT_TRUNCATED);
		return;
	}
	sc->in.flags = 0;
	pkt_to_in(p, &sc->in, dir == LFP_DIR_INBOUND ? LFP_DIR_OUTBOUND : LFP_DIR_INBOUND);
	sc->in.direction = dir;
	sc->in.icmp_type = type;
	sc->in.icmp_code = code;
}

/*
 * One packet at LOCAL_IN or LOCAL_OUT. Layers: outbound, the transport
 * layer (for an ICMP error: outbound-icmp-error), then outbound-ippacket;
 * inbound, inbound-ippacket, then the transport layer (for an ICMP error:
 * inbound-icmp-error). @return NF_ACCEPT_ or NF_DROP_.
 */
static __always_inline int nf_packet(struct bpf_nf_ctx *ctx, __u8 dir)
{
	struct sk_buff *skb = ctx->skb;
	__u32 ip =
		dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_IPPACKET : LFP_LAYER_INBOUND_IPPACKET;
	__u32 tr = dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_TRANSPORT
					   : LFP_LAYER_INBOUND_TRANSPORT;
	__u32 er = dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_ICMP_ERROR
					   : LFP_LAYER_INBOUND_ICMP_ERROR;
	struct lfp_state *st = state_get();
	struct lfp_sk *owner = NULL;
	struct net_device *dev;
	struct bpf_dynptr dp;
	struct scratch *sc;
	__u32 n_ip, n_tr, n_er, n_un, qoff;
	struct lfp_pkt *p;
	bool exempt, err, nd;
	__u64 gen;
	int allow = 1;

	if (!skb || !st)
		return NF_ACCEPT_;
	gen = st->gen;
	if (!gen)
		return NF_ACCEPT_;
	n_ip = pkt_layer_tuples(gen, ip);
	n_tr = pkt_layer_tuples(gen, tr);
	n_er = pkt_layer_tuples(gen, er);
	/* an answer to an inbound packet no socket took is that packet's last trace */
	n_un = dir == LFP_DIR_OUTBOUND && (pkt_layer_tuples(gen, LFP_LAYER_INBOUND_IPPACKET) ||
					   pkt_layer_tuples(gen, LFP_LAYER_INBOUND_TRANSPORT));
	if (!n_ip && !n_tr && !n_er && !n_un)
		return NF_ACCEPT_;
	if (dir == LFP_DIR_OUTBOUND && !nf_kernel_owned(skb))
		return NF_ACCEPT_;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &dp)) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_ACCEPT_;
	}
	/* the parsed packet lives in the scratch slot: the frame is full */
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_DROP_;
	}
	p = (struct lfp_pkt *)sc->pkt;
	if (lfp_pkt_parse(&dp, 0, p) == LFP_PKT_MALFORMED) {
		stat_inc(LFP_STAT_PKT_MALFORMED);
		goto out;
	}
	dev = dir == LFP_DIR_OUTBOUND ? ctx->state->out : ctx->state->in;
	if (n_un) {
		allow = nf_unclaimed(sc, &dp, p, dev ? BPF_CORE_READ(dev, ifindex) : 0, gen);
		if (!allow)
			goto out;
		lfp_pkt_parse(&dp, 0, p); /* the quote may have replaced it */
		__builtin_memset(&sc->in, 0, sizeof(sc->in));
		if (!n_ip && !n_tr && !n_er)
			goto out;
	}
	/* inbound, only what the kernel consumes itself: ICMP but echo replies */
	if (dir == LFP_DIR_INBOUND && (!lfp_pkt_is_icmp(p->ipver, p->proto) ||
				       (p->l4 && p->icmp_type == (p->ipver == 4 ? 0 : 129))))
		goto out;
	err = pkt_icmp_error(p);
	if (err)
		n_tr = n_er;
	if (!n_ip && !n_tr)
		goto out;
	if (p->status == LFP_PKT_TRUNCATED)
		stat_inc(LFP_STAT_PKT_TRUNCATED);
	nd = pkt_nd_pmtu(p);
	qoff = p->l4off + LFP_PKT_ICMP_HDR;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 2; i++) {
		/* outbound: the transport layer first; inbound: the IP packet layer */
		bool l_ip = (i == 0) == (dir == LFP_DIR_INBOUND);

		if (!(l_ip ? n_ip : n_tr))
			continue;
		if (i)
			lfp_pkt_parse(&dp, 0, p); /* the quote may have replaced it */
		sc->in.flags = 0;
		pkt_to_in(p, &sc->in, dir);
		sc->in.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
		sc->in.uid = 0xffffffffu;
		sc->in.gid = 0xffffffffu;
		sc->in.pid = 0;
		sc->in.app_dev = 0;
		sc->in.app_ino = 0;
		sc->in.cgroup = 0;
		owner = NULL;
		if (l_ip) {
			sc->in.layer = ip;
		} else if (err) {
			sc->in.layer = er;
			nf_quoted(sc, &dp, p, qoff, dir);
			/* an error about a packet of ours: its flow's owner, when recorded */
			if (dir == LFP_DIR_INBOUND)
				owner = pkt_flow_owner(p);
			if (owner) {
				sc->in.pid = owner->pid;
				sc->in.uid = owner->uid;
				sc->in.gid = owner->gid;
				sc->in.app_dev = owner->exe_dev;
				sc->in.app_ino = owner->exe_ino;
				sc->in.cgroup = owner->cgroup;
			}
		} else {
			sc->in.layer = tr;
		}
		sc->gen = lfp_pkt_classify(&sc->in, &sc->out);
		exempt = nd && sc->out.verdict != LFP_V_PERMIT &&
			 !(sc->out.filter_idx >= 0 && (sc->out.kf.flags & LFP_KF_NAMES_ICMP));
		if (exempt)
			stat_inc(LFP_STAT_PKT_ND_PMTU_EXEMPT);
		allow = verdict_allows(sc->out.verdict) || exempt;
		if (!exempt)
			pkt_event(sc, owner, 0);
		if (!allow)
			break;
	}
out:
	scratch_put(sc);
	return allow ? NF_ACCEPT_ : NF_DROP_;
}

/*
 * A forwarded packet (FORWARD): the ipforward layer, whose `local.*` is the
 * packet's source and `remote.*` its destination, `iface` the interface it
 * came in on. No socket, no owner. @return NF_ACCEPT_ or NF_DROP_.
 */
static __always_inline int nf_forward(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	struct lfp_state *st = state_get();
	struct net_device *dev;
	struct bpf_dynptr dp;
	struct scratch *sc;
	struct lfp_pkt *p;
	bool exempt;
	__u64 gen;
	int allow = 1;

	if (!skb || !st)
		return NF_ACCEPT_;
	gen = st->gen;
	if (!gen || !pkt_layer_tuples(gen, LFP_LAYER_IPFORWARD))
		return NF_ACCEPT_;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &dp)) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_ACCEPT_;
	}
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return NF_DROP_;
	}
	p = (struct lfp_pkt *)sc->pkt;
	if (lfp_pkt_parse(&dp, 0, p) == LFP_PKT_MALFORMED) {
		stat_inc(LFP_STAT_PKT_MALFORMED);
		goto out;
	}
	if (p->status == LFP_PKT_TRUNCATED)
		stat_inc(LFP_STAT_PKT_TRUNCATED);
	pkt_to_in(p, &sc->in, LFP_DIR_OUTBOUND);
	dev = ctx->state->in;
	sc->in.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	sc->in.uid = 0xffffffffu;
	sc->in.gid = 0xffffffffu;
	sc->in.layer = LFP_LAYER_IPFORWARD;
	sc->gen = lfp_pkt_classify(&sc->in, &sc->out);
	exempt = pkt_exempt(sc, p);
	allow = verdict_allows(sc->out.verdict) || exempt;
	if (!exempt)
		pkt_event(sc, NULL, 0);
out:
	scratch_put(sc);
	return allow ? NF_ACCEPT_ : NF_DROP_;
}

SEC("netfilter")
int lfp_nf_fwd(struct bpf_nf_ctx *ctx)
{
	return nf_forward(ctx);
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
