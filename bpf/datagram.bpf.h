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

/*
 * An inspection callout filter (`callout count`, a registered inspection
 * callout) was reached at datagram-data: its hit counter counts (that is
 * all `count` does), and lfpd gets the first LFP_DATA_EXCERPT bytes of the
 * payload (@len bytes at @off) as an LFP_EV_DATA event, with the flow, the
 * owner and the layer's verdict, rate-limited with the packet layers'
 * events. Observe only: the verdict is the layer's. A subprogram: the
 * event's fill stays off the caller's frame. @span is off << 32 | len (BPF
 * calls take five arguments).
 */
static __noinline void dgram_inspect(const struct scratch *sc, const struct lfp_sk *s,
				     const struct bpf_dynptr *dp, __u64 span, __u64 cookie)
{
	__u32 off = (__u32)(span >> 32), len = (__u32)span;
	const struct lfp_eval_in *in;
	struct lfp_data_event *d;
	struct lfp_event *e;
	__u32 slot, n;
	__u64 *hits;

	if (!sc || sc->out.inspect_idx < 0)
		return;
	in = &sc->in;
	slot = sc->out.inspect_kf.counter;
	hits = bpf_map_lookup_elem(&lfp_counters, &slot);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	if (!pkt_event_allowed())
		return;
	d = bpf_ringbuf_reserve(&lfp_events, sizeof(*d), 0);
	if (!d) {
		stat_inc(LFP_STAT_EVENT_DROPS);
		return;
	}
	__builtin_memset(d, 0, sizeof(*d));
	e = &d->ev;
	e->ts_ns = bpf_ktime_get_ns();
	e->type = LFP_EV_DATA;
	e->layer = LFP_LAYER_DATAGRAM_DATA;
	e->verdict = sc->out.verdict;
	e->proto = in->proto;
	e->ipver = in->ipver;
	e->direction = in->direction;
	e->filter_id = sc->out.inspect_kf.id;
	e->cookie = cookie;
	e->flags = in->flags;
	__builtin_memcpy(e->laddr, in->laddr, 16);
	__builtin_memcpy(e->raddr, in->raddr, 16);
	e->lport = in->lport;
	e->rport = in->rport;
	if (s) {
		event_who_sk(e, s);
	} else {
		e->uid = in->uid;
		e->gid = in->gid;
		e->cgroup = in->cgroup;
	}
	n = len;
	if (n > LFP_DATA_EXCERPT)
		n = LFP_DATA_EXCERPT;
	d->len = len;
	if (n && !bpf_dynptr_read(d->data, n, dp, off, 0))
		d->captured = (__u16)n;
	ring_submit(d);
}
