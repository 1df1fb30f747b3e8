/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inbound packets no socket takes (docs/packet-layers.md, "Inbound packets
 * no socket takes"): a TCP segment to a closed port, a UDP datagram to a
 * port nobody listens on. Included by netfilter.bpf.h; called from the
 * LOCAL_OUT program.
 *
 * Why at LOCAL_OUT and not at LOCAL_IN: at LOCAL_IN a netfilter program
 * cannot tell whether a socket will take the packet. It has no socket
 * lookup (BPF_PROG_TYPE_NETFILTER gets the base helpers only, 6.18 too),
 * and skb->sk is set there only by early demux, for established TCP and
 * connected UDP sockets: a SYN to a listener has none, as one to a closed
 * port. Classifying every inbound TCP and UDP packet there would judge the
 * scope sockets' packets twice (their cgroup_skb ingress judges them). The
 * kernel itself answers exactly the packets no socket took, from its
 * control sockets: a RST with ACK (tcp_v4_send_reset/tcp_v6_send_reset for
 * a segment without ACK, i.e. a SYN, that found no socket) and an ICMP port
 * unreachable (__udp4_lib_rcv/__udp6_lib_rcv, no socket) that quotes the
 * datagram. When such an answer leaves, the packet it answers is classified
 * here, as the inbound packet it was: inbound-ippacket, then
 * inbound-transport, its fields taken back from the answer (the RST's
 * addresses and ports reversed, the port unreachable's quote). A block
 * drops the answer: the kernel has already discarded the packet, so the
 * sender hears nothing, as if it had been dropped at LOCAL_IN.
 */
#pragma once

#define TCPF_RST_ 0x04
#define TCPF_ACK_ 0x10

/* Whether @p (a packet the kernel sends) answers a packet no socket took, and
 * if so @in filled with that packet's fields (inbound). @p is overwritten by
 * the quote of a port unreachable. */
static __always_inline bool unclaimed_trigger(const struct bpf_dynptr *dp, struct lfp_pkt *p,
					      struct lfp_eval_in *in)
{
	__u8 fl = 0;

	if (!p->l4)
		return false;
	if (p->proto == 6) {
		/* RST+ACK answers a segment without ACK: a SYN no socket took (a
		 * listener answers SYNs with SYN-ACK, never RST) */
		if (bpf_dynptr_read(&fl, 1, dp, p->l4off + 13, 0) ||
		    (fl & (TCPF_RST_ | TCPF_ACK_)) != (TCPF_RST_ | TCPF_ACK_))
			return false;
		pkt_to_in(p, in, LFP_DIR_OUTBOUND); /* the answer's source is the local end */
		in->direction = LFP_DIR_INBOUND;
		return true;
	}
	if (!((p->ipver == 4 && p->proto == 1 && p->icmp_type == 3 && p->icmp_code == 3) ||
	      (p->ipver == 6 && p->proto == 58 && p->icmp_type == 1 && p->icmp_code == 4)))
		return false;
	/* the quote is the datagram as it arrived: its destination is the local end */
	if (lfp_pkt_parse(dp, p->l4off + LFP_PKT_ICMP_HDR, p) == LFP_PKT_MALFORMED ||
	    !p->l4 || (p->proto != 17 && p->proto != 136))
		return false;
	pkt_to_in(p, in, LFP_DIR_INBOUND);
	return true;
}

/*
 * The packet a kernel answer (@p, at LOCAL_OUT) answers, at inbound-ippacket
 * and inbound-transport when it is one no socket took. No socket, no owner:
 * uid and gid unknown, pid 0. @return 0 to drop the answer, 1 to let it go
 * on (to the outbound layers). @p may be overwritten (the caller parses
 * again).
 */
static __always_inline int nf_unclaimed(struct scratch *sc, const struct bpf_dynptr *dp,
				   struct lfp_pkt *p, __u32 ifindex, __u64 gen)
{
	bool exempt;
	int allow = 1;

	if (!sc || !p)
		return 1;
	sc->in.flags = 0;
	if (!unclaimed_trigger(dp, p, &sc->in))
		return 1;
	sc->in.ifindex = ifindex;
	sc->in.uid = 0xffffffffu;
	sc->in.gid = 0xffffffffu;
	sc->in.pid = 0;
	sc->in.app_dev = 0;
	sc->in.app_ino = 0;
	sc->in.cgroup = 0;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 2; i++) {
		__u32 layer = i ? LFP_LAYER_INBOUND_TRANSPORT : LFP_LAYER_INBOUND_IPPACKET;

		if (!pkt_layer_tuples(gen, layer))
			continue;
		sc->in.layer = layer;
		sc->gen = lfp_pkt_classify(&sc->in, &sc->out);
		exempt = pkt_exempt(sc, p);
		allow = verdict_allows(sc->out.verdict) || exempt;
		if (!exempt)
			pkt_event(sc, NULL, 0);
		if (!allow)
			break;
	}
	return allow;
}
