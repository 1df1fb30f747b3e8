/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Discard events (docs/packet-layers.md, "Discard events"): the kernel's own
 * drops of packets in lfpd's network namespace, from the skb:kfree_skb
 * tracepoint (args: skb, location, reason, rx_sk): BTF-typed where the kernel
 * takes it (the owner from socket storage), else raw. Observe only. Included by
 * lfp.bpf.c after packet.bpf.h, whose per-CPU event rate it shares.
 *
 * Not reported: SKB_NOT_DROPPED_YET, SKB_CONSUMED (consume_skb paths: the
 * packet was used, not dropped) and SKB_DROP_REASON_NOT_SPECIFIED (the many
 * kfree_skb() callers that free without a reason, much of it not a drop of
 * a packet anyone sent). The values are taken from the kernel's BTF by
 * CO-RE, so a kernel that renumbers them is still read right.
 */
#pragma once

#include <bpf/bpf_tracing.h>

/* The inode number of lfpd's network namespace, written by lfpd before it
 * attaches the tracepoint; 0 reports nothing. */
volatile __u32 lfp_discard_netns SEC(".data") = 0;

/* The flow of a dropped packet, read through its header offsets: bounded
 * (one IP header, IPv6 without extension headers for the ports). @return
 * false when there is no IP header to read. */
static __noinline bool discard_parse(struct sk_buff *skb, struct lfp_event *e, bool outbound)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 *src, *dst, v = 0, proto = 0;
	__u32 l4 = 0;
	__u8 hdr[40];
	__u8 l4h[4] = {};

	if (!head || nh == (__u16)~0u || bpf_probe_read_kernel(&v, 1, head + nh))
		return false;
	if ((v >> 4) == 4) {
		if (bpf_probe_read_kernel(hdr, 20, head + nh))
			return false;
		proto = hdr[9];
		l4 = nh + (hdr[0] & 0xf) * 4;
		e->ipver = 4;
		src = e->laddr;
		dst = e->raddr;
		if (!outbound) {
			src = e->raddr;
			dst = e->laddr;
		}
		src[10] = 0xff;
		src[11] = 0xff;
		__builtin_memcpy(src + 12, hdr + 12, 4);
		dst[10] = 0xff;
		dst[11] = 0xff;
		__builtin_memcpy(dst + 12, hdr + 16, 4);
	} else if ((v >> 4) == 6) {
		if (bpf_probe_read_kernel(hdr, 40, head + nh))
			return false;
		proto = hdr[6];
		l4 = nh + 40;
		e->ipver = 6;
		__builtin_memcpy(outbound ? e->laddr : e->raddr, hdr + 8, 16);
		__builtin_memcpy(outbound ? e->raddr : e->laddr, hdr + 24, 16);
	} else {
		return false;
	}
	e->proto = proto;
	if (proto != 6 && proto != 17 && proto != 1 && proto != 58)
		return true;
	if (bpf_probe_read_kernel(l4h, 4, head + l4))
		return true;
	if (proto == 1 || proto == 58) {
		e->icmp_type = l4h[0];
		e->icmp_code = l4h[1];
		return true;
	}
	if (outbound) {
		e->lport = (l4h[0] << 8) | l4h[1];
		e->rport = (l4h[2] << 8) | l4h[3];
	} else {
		e->rport = (l4h[0] << 8) | l4h[1];
		e->lport = (l4h[2] << 8) | l4h[3];
	}
	return true;
}

/*
 * Global, observe-only, filtered here: a packet counts when the device it
 * was on is in lfpd's namespace, or (no device yet: a drop on the way out)
 * its socket is. Local and remote: a packet that came in on an interface
 * (skb_iif set) has its destination local, any other its source. The flow's
 * socket, when the packet has one, is named by its cookie (the one lfp's
 * events for that socket carry: lfp's programs asked for it, so it is set)
 * and its owner's uid; @s, the socket's lfp storage when the caller could
 * read it (tp_btf), names the process too.
 */
static __always_inline int discard_report(struct sk_buff *skb, __u32 reason, struct sock *sk,
					  const struct lfp_sk *s)
{
	struct net_device *dev;
	struct lfp_event *e;
	__u32 inum;

	if (!lfp_discard_netns || !skb ||
	    reason <= bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		inum = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	else if (sk)
		inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	else
		return 0;
	if (inum != lfp_discard_netns)
		return 0;
	e = bpf_ringbuf_reserve(&lfp_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LFP_STAT_EVENT_DROPS);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	/* no IP header: a socket's queue purged at close (netlink, unix), not a
	 * packet of a flow; such drops are not reported, and do not count */
	if (!discard_parse(skb, e, !BPF_CORE_READ(skb, skb_iif)) || !pkt_event_allowed()) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = LFP_EV_DISCARD;
	e->verdict = LFP_V_BLOCK;
	e->reason = reason;
	if (sk) {
		e->cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
		e->uid = BPF_CORE_READ(sk, sk_uid.val);
	}
	if (s)
		event_who_sk(e, s);
	ring_submit(e);
	return 0;
}

/*
 * The BTF-typed tracepoint (6.12 and later: the receiving socket is its
 * fourth argument): a tracing program may read lfp's socket storage
 * (bpf_sk_storage_get is allowed in tp_btf programs), so the event names
 * the socket's owner (pid, path, gid, cgroup) as stamped at connect or
 * sendmsg. The socket: the packet's own (outbound drops), else the one it
 * was being delivered to (rx_sk: a drop by a socket filter or a cgroup
 * ingress program). A kernel whose tracepoint has three arguments refuses
 * the program (its context is read past the end): lfpd then attaches
 * lfp_discard below, without the owner.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(lfp_discard_btf, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
	     struct sock *rx_sk)
{
	struct sock *sk = skb ? skb->sk : NULL;
	struct lfp_sk *s = NULL;

	if (!sk)
		sk = rx_sk;
	if (sk && lfp_discard_netns &&
	    reason > bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	return discard_report(skb, reason, sk, s);
}

/* The raw tracepoint (args: skb, location, reason[, rx_sk]): any kernel with
 * skb:kfree_skb's reason; no socket storage, so no process in the events.
 * Attached only when lfp_discard_btf is not. */
SEC("raw_tp/kfree_skb")
int lfp_discard(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];

	return discard_report(skb, (__u32)ctx->args[2], skb ? BPF_CORE_READ(skb, sk) : NULL, NULL);
}
