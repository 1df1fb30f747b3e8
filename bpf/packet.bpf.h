/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The packet layers on cgroup_skb (docs/packet-layers.md): inbound/outbound
 * transport and IP packet for every packet of the scope's sockets. Included
 * by lfp.bpf.c after its helpers (scratch, events, identity); the existing
 * cgroup_skb programs call lfp_packet_skb() first, with one line each.
 *
 * Cost when no filter is at these layers: the generation and two layer
 * configs are looked up (array lookups the verifier inlines), nothing is
 * parsed. With filters: the packet is parsed once (common/lfp_pkt.h,
 * through a dynptr, so paged skbs read the same as linear ones) and
 * classified at each layer that has filters, in WFP's order (outbound:
 * transport, then IP packet; inbound: IP packet, then transport).
 */
#pragma once

extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;

typedef const struct bpf_dynptr *lfp_pkt_src_t;
#define LFP_PKT_READ(src, off, dst, len) bpf_dynptr_read((dst), (len), (src), (off), 0)
#define LFP_PKT_PARSE_ATTR		 __noinline
#include "lfp_pkt.h"

/* Events per second and CPU at the packet layers; the rest are counted
 * (LFP_STAT_PKT_EVENTS_LIMITED): a flood of blocked packets must not become a
 * flood of events. Read-only data: a loader may change it before load. */
const volatile __u32 lfp_pkt_events_per_sec = 200;

struct pkt_rate {
	__u64 second;
	__u32 n;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pkt_rate);
} lfp_pkt_rate SEC(".maps");

static __always_inline bool pkt_event_allowed(void)
{
	__u32 zero = 0;
	struct pkt_rate *r = bpf_map_lookup_elem(&lfp_pkt_rate, &zero);
	__u64 sec = bpf_ktime_get_ns() / 1000000000ull;

	if (!r)
		return false;
	if (r->second != sec) {
		r->second = sec;
		r->n = 0;
	}
	if (r->n >= lfp_pkt_events_per_sec) {
		stat_inc(LFP_STAT_PKT_EVENTS_LIMITED);
		return false;
	}
	r->n++;
	return true;
}

/* The layer's filter count in generation @gen: 0 means nothing to do. */
static __always_inline __u32 pkt_layer_tuples(__u64 gen, __u32 layer)
{
	const struct lfp_layer_cfg *cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, gen & 1, layer);

	return cfg ? cfg->n_tuples : 0;
}

static __always_inline __u32 pkt_layer_fields(__u64 gen, __u32 layer)
{
	const struct lfp_layer_cfg *cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, gen & 1, layer);

	return cfg ? cfg->used_fields : 0;
}

/*
 * The socket's cgroup for the evaluator. Its cgroup walk reads the current
 * task's ancestors, which in softirq is whoever was interrupted: so the
 * walk happens here, over the socket's cgroup (bpf_skb_ancestor_cgroup_id,
 * root first), and the evaluator gets the deepest ancestor some filter
 * labels with level 0 (as the re-authorization iterator does).
 */
static __noinline void pkt_cgroup(struct __sk_buff *skb, struct lfp_eval_in *in, __u64 gen,
				  bool labelled)
{
	struct lfp_hash_key key = { .field = LFP_F_CGROUP };

	in->cgroup = bpf_skb_cgroup_id(skb);
	in->cgroup_level = 0;
	if (!labelled)
		return;
	for (int i = 0; i < LFP_CGROUP_WALK_MAX; i++) {
		__u64 id = bpf_skb_ancestor_cgroup_id(skb, i);

		if (!id)
			break;
		key.a = id;
		if (lfp_env_lookup(&lfp_o_lbl_hash, gen & 1, &key))
			in->cgroup = id;
	}
}

/* The packet's fields into the evaluator's input, local/remote by direction. */
static __always_inline void pkt_to_in(const struct lfp_pkt *p, struct lfp_eval_in *in, __u8 dir)
{
	in->direction = dir;
	in->proto = p->proto;
	in->ipver = p->ipver;
	if (dir == LFP_DIR_OUTBOUND) {
		__builtin_memcpy(in->laddr, p->saddr, 16);
		__builtin_memcpy(in->raddr, p->daddr, 16);
		in->lport = p->sport;
		in->rport = p->dport;
	} else {
		__builtin_memcpy(in->laddr, p->daddr, 16);
		__builtin_memcpy(in->raddr, p->saddr, 16);
		in->lport = p->dport;
		in->rport = p->sport;
	}
	in->icmp_type = p->icmp_type;
	in->icmp_code = p->icmp_code;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
}

/*
 * A packet-layer event: blocks always (rate-limited), permits when the
 * deciding filter says `log` (never the global switch: that one is about
 * connections, and this is every packet).
 */
static __noinline void pkt_event(const struct scratch *sc, const struct lfp_sk *s, __u64 cookie)
{
	const struct lfp_eval_in *in = &sc->in;
	const struct lfp_eval_out *out = &sc->out;
	struct lfp_event *e;

	if (out->verdict == LFP_V_PERMIT && !out->notify &&
	    (out->filter_idx < 0 || !(out->kf.flags & LFP_FF_LOG)))
		return;
	if (!pkt_event_allowed())
		return;
	e = event_flow(out->verdict, out_filter_id(out), in->flags, in->proto, in->laddr, in->lport,
		       in->raddr, in->rport, cookie);
	if (!e)
		return;
	e->layer = in->layer;
	e->ipver = in->ipver;
	if (in->layer == LFP_LAYER_DATAGRAM_DATA)
		e->direction = in->direction; /* the layer serves both directions */
	e->icmp_type = in->icmp_type;
	e->icmp_code = in->icmp_code;
	if (s) {
		event_who_sk(e, s);
	} else {
		e->pid = 0;
		e->uid = in->uid;
		e->gid = in->gid;
		e->cgroup = in->cgroup;
		e->exe_dev = 0;
		e->exe_ino = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	ring_submit(e);
}

/*
 * Neighbor discovery and the errors path MTU discovery needs pass a policy
 * that blocks them unless the deciding filter names ICMP types (WFP-MODEL,
 * "ICMP"; docs/icmp.md has the list, lib/icmp.c the same predicate as data).
 */
static __always_inline bool pkt_nd_pmtu(const struct lfp_pkt *p)
{
	if (!p->l4)
		return false;
	if (p->ipver == 4)
		return p->proto == 1 && p->icmp_type == 3 && p->icmp_code == 4;
	if (p->ipver != 6 || p->proto != 58)
		return false;
	if (p->icmp_type == 2)
		return true;
	return p->icmp_type >= 133 && p->icmp_type <= 137 && p->icmp_code == 0;
}

/* Whether a block of packet @p stands, or is the ND/PMTU exemption's. */
static __always_inline bool pkt_exempt(const struct scratch *sc, const struct lfp_pkt *p)
{
	if (sc->out.verdict == LFP_V_PERMIT || !pkt_nd_pmtu(p))
		return false;
	if (sc->out.filter_idx >= 0 && (sc->out.kf.flags & LFP_KF_NAMES_ICMP))
		return false;
	stat_inc(LFP_STAT_PKT_ND_PMTU_EXEMPT);
	return true;
}

/*
 * The packet layers' classification, one global function for all their
 * programs: verified once, not once per program and layer (lfpd's start
 * time is mostly the verifier's), with the inlined evaluator in its own
 * frame. @in and @out are a claimed scratch slot's. @return the generation.
 */
__noinline __u64 lfp_pkt_classify(const struct lfp_eval_in *in, struct lfp_eval_out *out)
{
	__u64 gen = 0;

	if (!in || !out)
		return 0;
	lfp_classify(in, out, &gen);
	return gen;
}

/*
 * Who owns a flow, for the ICMP errors that quote its packets (inbound-icmp-
 * error runs at netfilter LOCAL_IN, where no socket is known): the scope
 * sockets' outbound packets record their owner here, keyed by what a quoted
 * header gives back (protocol, local port, remote address and port), only
 * while some filter is at inbound-icmp-error. An LRU: an evicted flow's
 * errors are classified without an owner.
 */
struct pkt_flow_key {
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 proto;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pkt_flow_key);
	__type(value, struct lfp_sk);
} lfp_pkt_flow_owner SEC(".maps");

/* A subprogram: its key stays off the caller's frame (the evaluator needs it). */
static __noinline int pkt_flow_record(const struct lfp_pkt *p, struct lfp_sk *s)
{
	struct pkt_flow_key k = {};

	if (!p || !s || !p->l4 || !lfp_pkt_has_ports(p->proto))
		return 0;
	__builtin_memcpy(k.raddr, p->daddr, 16);
	k.lport = p->sport;
	k.rport = p->dport;
	k.proto = p->proto;
	if (bpf_map_lookup_elem(&lfp_pkt_flow_owner, &k))
		return 0;
	return bpf_map_update_elem(&lfp_pkt_flow_owner, &k, s, BPF_ANY);
}

/* The owner of the flow a quoted header (@q, our own packet) belongs to, or NULL. */
static __noinline struct lfp_sk *pkt_flow_owner(const struct lfp_pkt *q)
{
	struct pkt_flow_key k = {};

	if (!q || !q->l4 || !lfp_pkt_has_ports(q->proto))
		return NULL;
	__builtin_memcpy(k.raddr, q->daddr, 16);
	k.lport = q->sport;
	k.rport = q->dport;
	k.proto = q->proto;
	return bpf_map_lookup_elem(&lfp_pkt_flow_owner, &k);
}

/* datagram-data: UDP payloads, classified in this program's loop */
#include "datagram.bpf.h"

/*
 * The packet layers for one packet of a scope socket (cgroup_skb), and
 * datagram-data for a UDP datagram (outbound before the transport layer,
 * inbound after it: WFP's order).
 * @return 1 to let it pass, 0 to drop it.
 */
static __always_inline int lfp_packet_skb(struct __sk_buff *skb, __u32 dir)
{
	__u32 first =
		dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_TRANSPORT : LFP_LAYER_INBOUND_IPPACKET;
	__u32 second =
		dir == LFP_DIR_OUTBOUND ? LFP_LAYER_OUTBOUND_IPPACKET : LFP_LAYER_INBOUND_TRANSPORT;
	struct lfp_state *st = state_get();
	struct bpf_dynptr dp;
	struct bpf_sock *sk;
	struct lfp_sk *s = NULL;
	struct scratch *sc;
	struct lfp_pkt *p;
	__u32 n1, n2, nd, used, plen;
	__u64 gen, cookie;
	bool exempt, owners;
	int allow = 1;

	if (!skb || !st)
		return 1;
	gen = st->gen;
	if (!gen)
		return 1;
	n1 = pkt_layer_tuples(gen, first);
	n2 = pkt_layer_tuples(gen, second);
	/* outbound packets name the owners of the flows ICMP errors may quote */
	owners = dir == LFP_DIR_OUTBOUND && pkt_layer_tuples(gen, LFP_LAYER_INBOUND_ICMP_ERROR);
	nd = pkt_layer_tuples(gen, LFP_LAYER_DATAGRAM_DATA);
	if (!n1 && !n2 && !owners && !nd)
		return 1;
	if (bpf_dynptr_from_skb(skb, 0, &dp)) {
		stat_inc(LFP_STAT_ERRORS);
		return 1;
	}
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	p = (struct lfp_pkt *)sc->pkt;
	if (lfp_pkt_parse(&dp, 0, p) == LFP_PKT_MALFORMED) {
		/* nothing to classify by: the kernel's own input checks drop such
		 * headers before a socket sees them; egress packets are its own */
		stat_inc(LFP_STAT_PKT_MALFORMED);
		goto out;
	}
	if (p->status == LFP_PKT_TRUNCATED)
		stat_inc(LFP_STAT_PKT_TRUNCATED);
	if (!dgram_is_udp(p))
		nd = 0;
	/* the UDP payload: after the 8-byte header, to the end of the skb */
	plen = skb->len > p->l4off + 8 ? skb->len - p->l4off - 8 : 0;
	pkt_to_in(p, &sc->in, dir);
	sc->in.ifindex = skb->ifindex;
	sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (s && owners)
		pkt_flow_record(p, s);
	if (s) {
		sc->in.pid = s->pid;
		sc->in.uid = s->uid;
		sc->in.gid = s->gid;
		sc->in.app_dev = s->exe_dev;
		sc->in.app_ino = s->exe_ino;
	} else if (sk) {
		/* not stamped by a connect or sendmsg (a server's accepted
		 * socket, a raw socket): the uid is the socket's owner */
		sc->in.uid = bpf_get_socket_uid(skb);
	}
	used = pkt_layer_fields(gen, first) | pkt_layer_fields(gen, second);
	if (nd)
		used |= pkt_layer_fields(gen, LFP_LAYER_DATAGRAM_DATA);
	pkt_cgroup(skb, &sc->in, gen, used & (1u << LFP_F_CGROUP));
	cookie = bpf_get_socket_cookie(skb);

	/* not unrolled: one copy of the inlined evaluator in this frame, not three */
#pragma clang loop unroll(disable)
	for (int i = 0; i < 3; i++) {
		__u32 layer = dgram_layer_at(dir, i, first, second);

		if (!(layer == first ? n1 : layer == second ? n2 : nd))
			continue;
		sc->in.layer = layer;
		sc->gen = lfp_pkt_classify(&sc->in, &sc->out);
		exempt = pkt_exempt(sc, p);
		allow = verdict_allows(sc->out.verdict) || exempt;
		if (!exempt)
			pkt_event(sc, s, cookie);
		if (layer == LFP_LAYER_DATAGRAM_DATA)
			dgram_inspect(sc, s, &dp, (__u64)(p->l4off + 8) << 32 | plen, cookie);
		if (!allow)
			break;
	}
out:
	scratch_put(sc);
	return allow;
}

/*
 * Programs of their own, attached beside lfp_egress and lfp_ingress (a
 * cgroup runs every program linked to it; any one dropping drops): the
 * parsed packet and the inlined evaluator need most of the 512 bytes of
 * stack a program's whole call chain may use, and the existing programs'
 * frames leave too little of it for a call from them.
 */
SEC("cgroup_skb/egress")
int lfp_pkt_egress(struct __sk_buff *skb)
{
	return lfp_packet_skb(skb, LFP_DIR_OUTBOUND);
}

SEC("cgroup_skb/ingress")
int lfp_pkt_ingress(struct __sk_buff *skb)
{
	return lfp_packet_skb(skb, LFP_DIR_INBOUND);
}
