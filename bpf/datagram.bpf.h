/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The datagram-data layer (docs/packet-layers.md, "datagram-data"): every
 * UDP datagram of the scope's sockets, both directions, classified in the
 * packet programs' loop (bpf/packet.bpf.h) with the packet they already
 * parsed and the owner from socket storage. Included by packet.bpf.h before
 * lfp_packet_skb().
 *
 * Why not a program of its own: a cgroup runs every program linked to it,
 * so a third cgroup_skb program would cost a run per packet even with no
 * datagram-data filter; in the loop the layer costs one array lookup then.
 */
#pragma once

/* A UDP (or UDP-Lite) datagram with its header: what the layer classifies.
 * Later fragments and cut headers have no ports: not a datagram to judge
 * (cgroup_skb sees whole datagrams anyway: egress before fragmentation,
 * ingress after reassembly). */
static __always_inline bool dgram_is_udp(const struct lfp_pkt *p)
{
	return p->l4 && (p->proto == 17 || p->proto == 136);
}

/*
 * The layer at step @i of the packet programs' loop, in WFP's order: an
 * outbound datagram passes datagram-data, then the transport and IP packet
 * layers (@first, @second); an inbound one the IP packet and transport
 * layers, then datagram-data.
 */
static __always_inline __u32 dgram_layer_at(__u32 dir, int i, __u32 first, __u32 second)
{
	if (dir == LFP_DIR_OUTBOUND)
		return i == 0 ? LFP_LAYER_DATAGRAM_DATA : i == 1 ? first : second;
	return i == 0 ? first : i == 1 ? second : LFP_LAYER_DATAGRAM_DATA;
}
