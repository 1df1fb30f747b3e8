/* SPDX-License-Identifier: GPL-2.0 */
/*
 * auth-recv-accept (WFP's ALE_AUTH_RECV_ACCEPT): an inbound TCP connection
 * (its SYN, seen by cgroup_skb ingress with skb->sk = the listener) and the
 * first datagram from a new remote to an unconnected UDP socket. Included by
 * lfp.bpf.c after its helpers (scratch, events, addresses); lfp_ingress
 * calls ale_accept() and lfp_sockops ale_accept_established().
 * docs/kernel.md, "auth-recv-accept", describes the design.
 *
 * The classification runs in softirq context: `current` means nothing, so
 * the owner (pid, uid, gid, executable) comes from the socket's storage,
 * stamped at listen() (TCP) or at bind()/sendmsg() (UDP), and the cgroup
 * from the socket itself (bpf_skb_cgroup_id and its ancestors).
 */
#pragma once

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/*
 * A permitted SYN's classification waits here for the child socket: the
 * listener's storage is not cloned to it, and sock_ops at
 * PASSIVE_ESTABLISHED_CB (the child, handshake complete) finds it by the
 * child's four-tuple and keeps it in the child's storage, the record
 * re-authorization needs. LRU: a handshake that never completes leaves its
 * entry to be evicted. Not pinned: its contents live for one handshake.
 */
struct ale_flow_key {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u32 pad;
};

#define ALE_ACCEPT_PEND_MAX 16384

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ALE_ACCEPT_PEND_MAX);
	__type(key, struct ale_flow_key);
	__type(value, struct lfp_sk);
} lfp_accept_pend SEC(".maps");

/* The packet's addresses, ports and TCP flags, into the evaluator's input:
 * the packet's source is the remote, its destination the local end.
 * @return 0, 1 when the packet is not @proto (an IPv6 extension header
 * before it included: the caller fails closed), -1 when it cannot be read. */
static __always_inline int accept_parse(struct __sk_buff *skb, __u8 proto, struct lfp_eval_in *in,
					__u8 *tcp_flags)
{
	__u16 ports[2];
	__u32 off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		if (ih.protocol != proto)
			return 1;
		/* a datagram reaches the socket reassembled; a fragment here is odd */
		if (ih.frag_off & bpf_htons(0x1fff))
			return 1;
		addr_v4mapped(in->raddr, ih.saddr);
		addr_v4mapped(in->laddr, ih.daddr);
		off = ih.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		if (ih.nexthdr != proto)
			return 1;
		__builtin_memcpy(in->raddr, &ih.saddr, 16);
		__builtin_memcpy(in->laddr, &ih.daddr, 16);
		off = sizeof(ih);
	} else {
		return -1;
	}
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return -1;
	*tcp_flags = 0;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* no ports: the message's type and code (its first two bytes) */
		__builtin_memcpy(&in->icmp_type, ports, 1);
		__builtin_memcpy(&in->icmp_code, (__u8 *)ports + 1, 1);
		return 0;
	}
	in->rport = bpf_ntohs(ports[0]);
	in->lport = bpf_ntohs(ports[1]);
	if (proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, off + 13, tcp_flags, 1))
		return -1;
	return 0;
}

/*
 * The cgroup input: the evaluator's own walk reads the current task's
 * ancestors, and current is whoever the softirq interrupted. So walk the
 * socket's cgroup here (bpf_skb_ancestor_cgroup_id: level 0 is the root)
 * and hand the evaluator the deepest ancestor some filter names (or the
 * socket's own cgroup) with level 0: the label the walk at connect would
 * give. Only when the layer's filters use the field at all.
 */
static __always_inline void accept_cgroup(struct __sk_buff *skb, struct lfp_eval_in *in, __u64 gen)
{
	struct lfp_hash_key key = { .field = LFP_F_CGROUP };
	const struct lfp_layer_cfg *cfg;

	in->cgroup = bpf_skb_cgroup_id(skb);
	in->cgroup_level = 0;
	if (!gen)
		return;
	cfg = lfp_env_lookup_u32(&lfp_o_layer_cfg, gen & 1, LFP_LAYER_AUTH_RECV_ACCEPT);
	if (!cfg || !(cfg->used_fields & (1u << LFP_F_CGROUP)))
		return;
	for (__u32 l = 0; l < LFP_CGROUP_WALK_MAX; l++) {
		__u64 id = bpf_skb_ancestor_cgroup_id(skb, l);

		if (!id)
			break;
		key.a = id;
		if (lfp_env_lookup(&lfp_o_lbl_hash, gen & 1, &key))
			in->cgroup = id;
	}
}

/* A zeroed record to insert, filled in place: no 104 bytes on the stack the
 * evaluator needs. */
static const struct lfp_sk ale_zero_sk;

/* Leave a permitted SYN's record for its child socket (ale_accept_established). */
static __always_inline void accept_pend_put(const struct scratch *sc, const struct lfp_sk *s,
					    __u64 own_cg)
{
	const struct lfp_eval_in *in = &sc->in;
	struct ale_flow_key fk = {};
	struct lfp_sk *rec;

	__builtin_memcpy(fk.laddr, in->laddr, 16);
	__builtin_memcpy(fk.raddr, in->raddr, 16);
	fk.lport = in->lport;
	fk.rport = in->rport;
	if (bpf_map_update_elem(&lfp_accept_pend, &fk, &ale_zero_sk, BPF_ANY) ||
	    !(rec = bpf_map_lookup_elem(&lfp_accept_pend, &fk))) {
		stat_inc(LFP_STAT_ERRORS); /* this flow cannot be re-authorized */
		return;
	}
	if (s) {
		rec->pid = s->pid;
		rec->uid = s->uid;
		rec->gid = s->gid;
		rec->exe_dev = s->exe_dev;
		rec->exe_ino = s->exe_ino;
		__builtin_memcpy(rec->comm, s->comm, sizeof(rec->comm));
	}
	rec->cgroup = own_cg;
	rec->gen = sc->gen;
	rec->filter_id = out_filter_id(&sc->out);
	rec->verdict = sc->out.verdict;
	rec->proto = IPPROTO_TCP;
	__builtin_memcpy(rec->raddr, in->raddr, 16);
	rec->rport = in->rport;
	rec->inbound = 1;
	rec->cflags = in->flags;
	rec->ifindex = in->ifindex;
}

/* The remote end sock_ops knows, in the ABI's 16 bytes and host-order port. */
static __always_inline __u16 sockops_raddr(struct bpf_sock_ops *ctx, __u8 *raddr)
{
	__u32 rp;

	if (ctx->family == AF_INET6) {
		__u32 w0 = ctx->remote_ip6[0], w1, w2, w3;

		barrier_var(w0);
		w1 = ctx->remote_ip6[1];
		barrier_var(w1);
		w2 = ctx->remote_ip6[2];
		barrier_var(w2);
		w3 = ctx->remote_ip6[3];
		barrier_var(w3);
		addr_v6(raddr, w0, w1, w2, w3);
	} else {
		__u32 w = ctx->remote_ip4;

		barrier_var(w);
		addr_v4mapped(raddr, w);
	}
	/* network order, and sock_ops keeps it in the upper half */
	rp = ctx->remote_port;
	if (rp > 0xffff)
		rp >>= 16;
	return bpf_ntohs((__u16)rp);
}

/*
 * sock_ops PASSIVE_ESTABLISHED_CB (called for every accepted TCP socket, no
 * callback flags needed): the child takes the record its SYN left.
 */
static __always_inline void ale_accept_established(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct ale_flow_key fk = {};
	struct lfp_sk *rec, *s;

	if (!sk)
		return;
	sockops_laddr(ctx, fk.laddr);
	fk.lport = ctx->local_port;
	fk.rport = sockops_raddr(ctx, fk.raddr);
	rec = bpf_map_lookup_elem(&lfp_accept_pend, &fk);
	if (!rec)
		return;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		__builtin_memcpy(s, rec, sizeof(*s));
	else
		stat_inc(LFP_STAT_ERRORS);
	bpf_map_delete_elem(&lfp_accept_pend, &fk);
}

/* Emit the flow's event: remote and local from the packet, the owner from
 * the socket's storage (or only its cgroup when nothing was stamped). */
static __always_inline void accept_event(const struct scratch *sc, const struct lfp_sk *s,
					 __u64 own_cg, __u64 cookie)
{
	const struct lfp_eval_in *in = &sc->in;
	const struct lfp_eval_out *out = &sc->out;
	struct lfp_event *e;

	e = event_flow(out->verdict, out_filter_id(out), in->flags, in->proto, in->laddr, in->lport,
		       in->raddr, in->rport, cookie);
	if (!e)
		return;
	e->layer = LFP_LAYER_AUTH_RECV_ACCEPT;
	e->icmp_type = in->icmp_type;
	e->icmp_code = in->icmp_code;
	if (s) {
		event_who_sk(e, s);
	} else {
		e->pid = 0;
		e->uid = 0;
		e->gid = 0;
		e->exe_dev = 0;
		e->exe_ino = 0;
		__builtin_memset(e->comm, 0, sizeof(e->comm));
	}
	e->cgroup = own_cg;
	ring_submit(e);
}

/*
 * The UDP half. Each (socket, remote) is decided once per generation and
 * cached beside the outbound decisions (inbound = 1 in the key); a remote
 * this socket sent to under a permit of the active generation is the other
 * end of a flow authorized at auth-connect, and its replies are not judged
 * again (WFP: one flow, authorized by whichever direction opened it).
 */
static __always_inline int accept_udp_cached(__u64 cookie, const struct lfp_eval_in *in,
					     struct lfp_udp_key *key)
{
	const struct lfp_udp_val *v;
	struct lfp_state *st = state_get();
	__u64 gen = st ? st->gen : 0;

	key->cookie = cookie;
	__builtin_memcpy(key->raddr, in->raddr, 16);
	key->rport = in->rport;
	key->inbound = 1;
	v = bpf_map_lookup_elem(&lfp_udp_cache, key);
	/* a pend is decided by its record (pend_hold_in) until lfpd completes the entry */
	if (v && v->gen == gen && v->verdict != LFP_V_PEND) {
		stat_inc(LFP_STAT_UDP_CACHE_HIT);
		return verdict_allows(v->verdict);
	}
	key->inbound = 0;
	v = bpf_map_lookup_elem(&lfp_udp_cache, key);
	key->inbound = 1;
	if (v && v->gen == gen && v->verdict == LFP_V_PERMIT)
		return 1;
	return -1;
}

/*
 * ingress: auth-recv-accept for a SYN to a listener and for a datagram to
 * an unconnected UDP socket. @return 0 to drop the packet, 1 to let it on
 * (to the other ingress checks). A listener marked by a blocked listen()
 * is left to auth-listen's SYN drop. Fails closed: a TCP segment to a
 * listener or a datagram that cannot be read, or behind an IPv6 extension
 * header, is dropped; so is one that finds no scratch slot.
 */
static __always_inline int ale_accept(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct lfp_udp_key key = {};
	struct lfp_udp_val val = {};
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct scratch *sc;
	struct lfp_sk *s;
	__u64 cookie, own_cg;
	__u8 proto, tcpfl = 0;
	int allow, r;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	proto = sk->protocol;
	if (proto == IPPROTO_TCP) {
		if (sk->state != BPF_TCP_LISTEN)
			return 1;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* ping and raw ICMP sockets: only while the layer has filters (every
		 * echo reply of every ping would otherwise be a permit event) */
		if (!ale_layer_used(LFP_LAYER_AUTH_RECV_ACCEPT))
			return 1;
	} else if (proto != IPPROTO_UDP) {
		return 1;
	} else if (sk->state == BPF_TCP_ESTABLISHED) {
		/* a connected UDP socket hears only from the peer its connect()
		 * authorized, unless a re-authorization blocked it since */
		return reauth_udp_rx(sk);
	}
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (proto == IPPROTO_TCP && s && s->listen_block)
		return 1;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in = &sc->in;
	out = &sc->out;
	r = accept_parse(skb, proto, in, &tcpfl);
	if (r) {
		scratch_put(sc);
		return 0;
	}
	/* only a connection request is classified: the rest of the handshake
	 * (and a reset) of a SYN this hook let through goes on */
	if (proto == IPPROTO_TCP && (!(tcpfl & TCP_FLAG_SYN) || (tcpfl & TCP_FLAG_ACK))) {
		scratch_put(sc);
		return 1;
	}
	cookie = bpf_get_socket_cookie(skb);
	if (proto != IPPROTO_TCP) {
		/* ICMP: one decision per remote and message type and code, kept
		 * under the cache key's port (a socket is ICMP or UDP, never both) */
		if (proto != IPPROTO_UDP)
			in->rport = (__u16)in->icmp_type << 8 | in->icmp_code;
		allow = accept_udp_cached(cookie, in, &key);
		in->rport = proto == IPPROTO_UDP ? in->rport : 0;
		if (allow >= 0) {
			scratch_put(sc);
			return allow;
		}
	}
	in->layer = LFP_LAYER_AUTH_RECV_ACCEPT;
	in->direction = LFP_DIR_INBOUND;
	in->proto = proto;
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	in->ifindex = skb->ingress_ifindex;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	if (sk->type == SOCK_RAW)
		in->flags |= LFP_CF_RAW;
	if (s) {
		in->pid = s->pid;
		in->uid = s->uid;
		in->gid = s->gid;
		in->app_dev = s->exe_dev;
		in->app_ino = s->exe_ino;
	}
	{
		struct lfp_state *st = state_get();

		accept_cgroup(skb, in, st ? st->gen : 0);
	}
	own_cg = bpf_skb_cgroup_id(skb);
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	/* an ICMP message is not held (the pend work queues TCP and UDP): dropped */
	if (out->verdict == LFP_V_PEND && proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		val.verdict = LFP_V_BLOCK;
	} else if (out->verdict == LFP_V_PEND) {
		r = pend_hold_in(in, out, sc->gen, s, cookie);
		allow = r == PEND_IN_PERMITTED;
	}

	if (proto != IPPROTO_TCP) {
		val.gen = sc->gen;
		val.filter_id = out_filter_id(out);
		if (val.verdict != LFP_V_BLOCK)
			val.verdict = out->verdict;
		val.cflags = in->flags;
		if (bpf_map_update_elem(&lfp_udp_cache, &key, &val, BPF_ANY))
			stat_inc(LFP_STAT_ERRORS); /* classified again at the next datagram */
	} else if (allow) {
		accept_pend_put(sc, s, own_cg);
	}
	/* a held flow's pend and answer were reported when it was held and answered */
	if (event_wanted(out) && (out->verdict != LFP_V_PEND || r == PEND_IN_NEW))
		accept_event(sc, s, own_cg, cookie);
	scratch_put(sc);
	return allow;
}
