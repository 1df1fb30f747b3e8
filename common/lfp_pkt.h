/* SPDX-License-Identifier: MIT */
/*
 * The packet parser of the packet layers (docs/packet-layers.md), written
 * once: compiled by clang -target bpf (bpf/packet.bpf.h, reading the skb
 * through a dynptr) and by cc (tests, reading a byte buffer), so the fuzz
 * harness can hold the kernel's answers against the user-space build on the
 * same random bytes.
 *
 * Before including this header the includer provides the integer types,
 * a type `lfp_pkt_src_t` and
 *
 *   LFP_PKT_READ(src, off, dst, len)   0 when the @len bytes at offset @off
 *                                      (from the IP header) were copied to
 *                                      @dst, nonzero when the packet is
 *                                      shorter; @len is a constant
 *
 * Robustness rules (the parser never trusts a length field):
 *  - IPv4: version 4, IHL >= 5, total length >= IHL * 4, else malformed;
 *    a later fragment (offset != 0) has no transport header.
 *  - IPv6: the extension-header chain (hop-by-hop, routing, destination
 *    options, fragment, AH) is walked at most LFP_PKT_V6_EXT_MAX headers
 *    deep; a longer chain, or one running past the end of the packet, stops
 *    there: truncated, proto = the header where it stopped.
 *  - A transport header that is not all there: truncated; ports and ICMP
 *    type/code stay 0 and `l4` says they are absent.
 * No loop depends on packet data beyond the constant bound.
 */
#pragma once

#define LFP_PKT_V6_EXT_MAX 8

/* struct lfp_pkt.status */
#define LFP_PKT_OK	  0
#define LFP_PKT_TRUNCATED 1 /* IP header fine; the transport header (or ext chain) is cut */
#define LFP_PKT_MALFORMED 2 /* no usable IP header: nothing about the packet is known */

/* ICMP errors quote the offending packet after their 8-byte header */
#define LFP_PKT_ICMP_HDR 8

struct lfp_pkt {
	__u8 saddr[16]; /* network order; IPv4 v4-mapped */
	__u8 daddr[16];
	__u16 sport; /* host order; 0 when absent */
	__u16 dport;
	__u8 ipver; /* 4 or 6; 0 when malformed */
	__u8 proto; /* upper-layer protocol, after IPv6 extension headers */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 status; /* LFP_PKT_* */
	__u8 l4;     /* 1: ports (TCP, UDP, UDP-Lite, SCTP) or ICMP type/code were read */
	__u8 frag;   /* 1: a later fragment (no transport header) */
	__u8 pad;
	__u32 l4off; /* offset of the transport header from the IP header */
};

static __always_inline void lfp_pkt_v4mapped(__u8 *a, const __u8 *ip4)
{
	for (int i = 0; i < 10; i++)
		a[i] = 0;
	a[10] = 0xff;
	a[11] = 0xff;
	a[12] = ip4[0];
	a[13] = ip4[1];
	a[14] = ip4[2];
	a[15] = ip4[3];
}

static __always_inline int lfp_pkt_is_icmp(__u8 ipver, __u8 proto)
{
	return (ipver == 4 && proto == 1) || (ipver == 6 && proto == 58);
}

static __always_inline int lfp_pkt_has_ports(__u8 proto)
{
	return proto == 6 || proto == 17 || proto == 136 || proto == 132;
}

/*
 * The transport part at p->l4off: ports, or ICMP type and code.
 */
static __always_inline void lfp_pkt_l4(lfp_pkt_src_t src, struct lfp_pkt *p)
{
	__u8 b[4];

	if (p->frag || p->status != LFP_PKT_OK)
		return;
	if (lfp_pkt_has_ports(p->proto)) {
		if (LFP_PKT_READ(src, p->l4off, b, 4)) {
			p->status = LFP_PKT_TRUNCATED;
			return;
		}
		p->sport = (__u16)(b[0] << 8 | b[1]);
		p->dport = (__u16)(b[2] << 8 | b[3]);
		p->l4 = 1;
	} else if (lfp_pkt_is_icmp(p->ipver, p->proto)) {
		if (LFP_PKT_READ(src, p->l4off, b, 2)) {
			p->status = LFP_PKT_TRUNCATED;
			return;
		}
		p->icmp_type = b[0];
		p->icmp_code = b[1];
		p->l4 = 1;
	}
}

static __always_inline int lfp_pkt_parse_v4(lfp_pkt_src_t src, __u32 base, struct lfp_pkt *p)
{
	__u8 h[20];
	__u32 ihl, tot;

	if (LFP_PKT_READ(src, base, h, 20))
		return -1;
	ihl = (__u32)(h[0] & 0xf) * 4;
	tot = (__u32)h[2] << 8 | h[3];
	if ((h[0] >> 4) != 4 || ihl < 20 || tot < ihl)
		return -1;
	p->ipver = 4;
	p->proto = h[9];
	lfp_pkt_v4mapped(p->saddr, h + 12);
	lfp_pkt_v4mapped(p->daddr, h + 16);
	p->frag = ((h[6] & 0x1f) | h[7]) ? 1 : 0;
	p->l4off = base + ihl;
	return 0;
}

static __always_inline int lfp_pkt_parse_v6(lfp_pkt_src_t src, __u32 base, struct lfp_pkt *p)
{
	__u8 h[40];
	__u32 off = base + 40;
	__u8 nh;
	int i;

	if (LFP_PKT_READ(src, base, h, 40))
		return -1;
	if ((h[0] >> 4) != 6)
		return -1;
	p->ipver = 6;
	for (i = 0; i < 16; i++) {
		p->saddr[i] = h[8 + i];
		p->daddr[i] = h[24 + i];
	}
	nh = h[6];
	for (i = 0; i < LFP_PKT_V6_EXT_MAX; i++) {
		__u8 e[4];

		if (nh != 0 && nh != 43 && nh != 60 && nh != 44 && nh != 51)
			break;
		if (LFP_PKT_READ(src, off, e, 4)) {
			p->status = LFP_PKT_TRUNCATED;
			break;
		}
		if (nh == 44) {
			/* fragment header: 8 bytes; offset in the upper 13 bits of bytes 2-3 */
			if ((e[2] << 8 | (e[3] & 0xf8)) != 0)
				p->frag = 1;
			off += 8;
		} else if (nh == 51) {
			off += ((__u32)e[1] + 2) * 4;
		} else {
			off += ((__u32)e[1] + 1) * 8;
		}
		nh = e[0];
	}
	p->proto = nh;
	p->l4off = off;
	if (nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 51) {
		/* a chain longer than the bound: the transport header is not reached */
		p->status = LFP_PKT_TRUNCATED;
	}
	return 0;
}

/* The includer may make the parser a function of its own (BPF: one copy, and its
 * temporaries off the caller's frame). */
#ifndef LFP_PKT_PARSE_ATTR
#define LFP_PKT_PARSE_ATTR __always_inline
#endif

/*
 * Parse the IP packet starting at offset @base of @src: IPv4 or IPv6 by its
 * version nibble. @p is zeroed first. @return p->status.
 */
static LFP_PKT_PARSE_ATTR int lfp_pkt_parse(lfp_pkt_src_t src, __u32 base, struct lfp_pkt *p)
{
	__u8 v;
	int r;

	__builtin_memset(p, 0, sizeof(*p));
	if (LFP_PKT_READ(src, base, &v, 1)) {
		p->status = LFP_PKT_MALFORMED;
		return p->status;
	}
	r = (v >> 4) == 4   ? lfp_pkt_parse_v4(src, base, p)
	    : (v >> 4) == 6 ? lfp_pkt_parse_v6(src, base, p)
			    : -1;
	if (r) {
		__builtin_memset(p, 0, sizeof(*p));
		p->status = LFP_PKT_MALFORMED;
		return p->status;
	}
	lfp_pkt_l4(src, p);
	return p->status;
}
