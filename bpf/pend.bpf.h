/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pend and complete, the kernel half (docs/callouts.md). Included by
 * lfp.bpf.c after its helpers.
 *
 * A hook cannot wait for a person or a callout client, so a pend lets the
 * syscall through and holds the flow's first packet instead: the connect or
 * sendmsg hook records the flow in lfp_pend and or's LFP_PEND_MARK into the
 * socket's mark; lfpd's iptables rule sends marked packets to its NFQUEUE
 * when lfp_pend_match (xt_bpf) finds them still undecided. lfpd answers the
 * queue, completes the record and, for a block, ends the socket with the
 * lfp_pend_end_* iterators. Whatever cannot be recorded fails closed.
 */
#pragma once

#include "lfp_pend.h"

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

#ifndef SOL_SOCKET
#define SOL_SOCKET 1
#endif
#ifndef SO_MARK
#define SO_MARK 36
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LFP_PEND_MAX);
	__type(key, struct lfp_pend_key);
	__type(value, struct lfp_pend_val);
} lfp_pend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_PEND_MAX);
	__type(key, struct lfp_pend_tuple);
	__type(value, struct lfp_pend_key);
} lfp_pend_tuple SEC(".maps");

/* inbound pends (auth-recv-accept): the 5-tuple as the receiver sees it -> record */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LFP_PEND_MAX);
	__type(key, struct lfp_pend_tuple);
	__type(value, struct lfp_pend_val);
} lfp_pend_in SEC(".maps");

/* sockets lfpd wants ended (a blocked pend): cookie -> 1, read by the iterators */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} lfp_pend_kill SEC(".maps");

/* Per-CPU room for the record: the evaluator's frames need the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lfp_pend_val);
} lfp_pend_scratch SEC(".maps");

/*
 * Hold the flow the hook just classified as pend. @return 1 (let the
 * syscall through: its first packet waits in lfpd's queue) or 0 (fail
 * closed: no record or no mark, nothing would hold the packet).
 */
static __always_inline int pend_hold(struct bpf_sock_addr *ctx, const struct lfp_eval_in *in,
				     const struct lfp_eval_out *out, __u64 gen, const char *comm,
				     __u8 from)
{
	struct lfp_pend_key key = {};
	struct lfp_pend_val *v;
	__u32 zero = 0, mark = 0;
	long r;

	v = bpf_map_lookup_elem(&lfp_pend_scratch, &zero);
	if (!v)
		return 0;
	key.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(key.raddr, in->raddr, 16);
	key.rport = in->rport;
	key.proto = in->proto;
	__builtin_memset(v, 0, sizeof(*v));
	v->ts_ns = bpf_ktime_get_ns();
	v->filter_id = out->filter_idx >= 0 ? out->kf.id : 0;
	v->gen = gen;
	v->cgroup = in->cgroup;
	v->exe_dev = in->app_dev;
	v->exe_ino = in->app_ino;
	v->pid = in->pid;
	v->uid = in->uid;
	v->gid = in->gid;
	v->cflags = in->flags;
	v->state = LFP_PEND_WAITING;
	v->from = from;
	v->ipver = in->ipver;
	__builtin_memcpy(v->comm, comm, 16);
	/* a flow already waiting (a second sendmsg to the same remote) stays as it is */
	r = bpf_map_update_elem(&lfp_pend, &key, v, BPF_NOEXIST);
	if (r && r != -17 /* EEXIST */) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	if (bpf_getsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		mark = 0;
	mark |= LFP_PEND_MARK;
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		stat_inc(LFP_STAT_ERRORS);
		if (!r)
			bpf_map_delete_elem(&lfp_pend, &key);
		return 0;
	}
	return 1;
}

/*
 * Re-authorization and pended flows (WFP-MODEL.md: completion never pends
 * again). A flow whose connect pended keeps verdict pend in its record: it
 * is re-authorized like a permitted one, and a new classification that pends
 * again keeps it (its answer, or the hold while it waits, still stands);
 * anything else but permit ends it, as for any flow.
 */
static __always_inline bool pend_reauth_candidate(__u8 recorded)
{
	return recorded == LFP_V_PERMIT || recorded == LFP_V_PEND;
}

static __always_inline bool pend_reauth_keeps(__u8 recorded, __u8 now)
{
	return recorded == LFP_V_PEND && now == LFP_V_PEND;
}

/*
 * The iptables match (xt_bpf, pinned; a socket filter program: 1 = match).
 * Runs in OUTPUT for packets with LFP_PEND_MARK. A packet matches while its
 * flow's record says waiting or blocked; it then also notes the flow's
 * local end (the connect hook ran before the kernel chose it) and the
 * 5-tuple -> record entry lfpd needs to find the record from the packet.
 * No record: not pended (or completed with permit): no match.
 */
/* The packet's 5-tuple; @inbound: its source is the remote. @return 0 or -1. */
static __always_inline int pend_parse(struct __sk_buff *skb, struct lfp_pend_tuple *t, bool inbound)
{
	__u8 *la = inbound ? t->raddr : t->laddr, *ra = inbound ? t->laddr : t->raddr;
	__u16 ports[2];
	__u32 off;
	__u8 proto;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		if (ih.frag_off & bpf_htons(0x1fff))
			return -1;
		proto = ih.protocol;
		addr_v4mapped(la, ih.saddr);
		addr_v4mapped(ra, ih.daddr);
		off = ih.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		proto = ih.nexthdr;
		__builtin_memcpy(la, &ih.saddr, 16);
		__builtin_memcpy(ra, &ih.daddr, 16);
		off = sizeof(ih);
	} else {
		return -1;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -1;
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return -1;
	t->lport = bpf_ntohs(ports[inbound ? 1 : 0]);
	t->rport = bpf_ntohs(ports[inbound ? 0 : 1]);
	t->proto = proto;
	return 0;
}

SEC("socket")
int lfp_pend_match(struct __sk_buff *skb)
{
	struct lfp_pend_tuple t = {};
	struct lfp_pend_key key = {};
	struct lfp_pend_val *v;

	key.cookie = bpf_get_socket_cookie(skb);
	if (!key.cookie || pend_parse(skb, &t, false))
		return 0;
	__builtin_memcpy(key.raddr, t.raddr, 16);
	key.rport = t.rport;
	key.proto = t.proto;
	v = bpf_map_lookup_elem(&lfp_pend, &key);
	if (!v || v->state == LFP_PEND_PERMIT)
		return 0;
	if (!v->have_local) {
		__builtin_memcpy(v->laddr, t.laddr, 16);
		v->lport = t.lport;
		v->have_local = 1;
	}
	bpf_map_update_elem(&lfp_pend_tuple, &t, &key, BPF_ANY);
	return 1;
}

/* The scope's listeners for the INPUT match (bpf/pend_in.bpf.h, which holds
 * the match itself): noted at listen() and UDP bind(), forgotten at close()
 * and UDP connect(). */
static __noinline void pend_listen_note(const struct lfp_sk *s, const struct lfp_eval_in *in,
					__u64 cookie);
static __noinline void pend_listen_forget(__u64 cookie);
static __noinline void pend_listen_mark(__u64 cookie, __u8 listen_block);
static __noinline void pend_listen_walked(const struct lfp_sk *s, const struct lfp_eval_in *in,
					  __u64 cookie, struct sock *sk);

static __always_inline int pend_in_record(const struct lfp_pend_tuple *t,
					  const struct lfp_eval_in *in,
					  const struct lfp_eval_out *out, __u64 gen,
					  const struct lfp_sk *s, __u64 cookie);

/*
 * auth-recv-accept classified @in pend (ingress, after INPUT). Usually the
 * INPUT match held this packet and lfpd answered: the flow's record decides.
 * Without a record (a listener the match does not know: pend_in.bpf.h), the
 * flow is recorded now and this first packet dropped; the sender's retry is
 * held at INPUT. @return PEND_IN_NEW (drop), PEND_IN_PERMITTED (let on; the
 * hold and its answer are reported already) or PEND_IN_REFUSED.
 */
#define PEND_IN_NEW	  0
#define PEND_IN_PERMITTED 1
#define PEND_IN_REFUSED	  2
static __always_inline int pend_hold_in(const struct lfp_eval_in *in,
					const struct lfp_eval_out *out, __u64 gen,
					const struct lfp_sk *s, __u64 cookie)
{
	struct lfp_pend_tuple t = {};
	struct lfp_pend_val *v;

	__builtin_memcpy(t.laddr, in->laddr, 16);
	__builtin_memcpy(t.raddr, in->raddr, 16);
	t.lport = in->lport;
	t.rport = in->rport;
	t.proto = in->proto;
	v = bpf_map_lookup_elem(&lfp_pend_in, &t);
	if (v)
		return v->state == LFP_PEND_PERMIT ? PEND_IN_PERMITTED : PEND_IN_REFUSED;
	pend_in_record(&t, in, out, gen, s, cookie);
	return PEND_IN_NEW;
}

/* Record inbound flow @t as waiting, with the listener's owner @s and @cookie
 * (ingress, and the INPUT match of pend_in.bpf.h). @return 0 or -1. */
static __always_inline int pend_in_record(const struct lfp_pend_tuple *t,
					  const struct lfp_eval_in *in,
					  const struct lfp_eval_out *out, __u64 gen,
					  const struct lfp_sk *s, __u64 cookie)
{
	struct lfp_pend_val *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(&lfp_pend_scratch, &zero);
	if (!v)
		return -1;
	__builtin_memset(v, 0, sizeof(*v));
	v->ts_ns = bpf_ktime_get_ns();
	v->filter_id = out->filter_idx >= 0 ? out->kf.id : 0;
	v->gen = gen;
	v->cgroup = in->cgroup;
	v->exe_dev = in->app_dev;
	v->exe_ino = in->app_ino;
	v->pid = in->pid;
	v->uid = in->uid;
	v->gid = in->gid;
	v->cflags = in->flags;
	v->state = LFP_PEND_WAITING;
	v->from = LFP_PEND_FROM_ACCEPT;
	v->ipver = in->ipver;
	v->have_local = 1;
	v->lport = in->lport;
	__builtin_memcpy(v->laddr, in->laddr, 16);
	if (s)
		__builtin_memcpy(v->comm, s->comm, 16);
	v->cookie = cookie;
	if (bpf_map_update_elem(&lfp_pend_in, t, v, BPF_NOEXIST)) {
		stat_inc(LFP_STAT_ERRORS);
		return -1;
	}
	return 0;
}

/* End the sockets lfpd listed in lfp_pend_kill (a blocked pend): the
 * application sees ECONNABORTED at once instead of SYN retries. */
static __always_inline void pend_end(struct sock_common *skc, __u64 cookie)
{
	if (!bpf_map_lookup_elem(&lfp_pend_kill, &cookie))
		return;
	if (bpf_sock_destroy(skc))
		stat_inc(LFP_STAT_ERRORS);
	bpf_map_delete_elem(&lfp_pend_kill, &cookie);
}

SEC("iter/tcp")
int lfp_pend_end_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	pend_end(skc, bpf_get_socket_cookie(tp));
	return 0;
}

SEC("iter/udp")
int lfp_pend_end_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;

	if (!up)
		return 0;
	pend_end((struct sock_common *)up, bpf_get_socket_cookie(up));
	return 0;
}
