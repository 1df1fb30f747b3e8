/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stream layer (WFP's STREAM; docs/stream.md): the data of TCP flows a
 * stream filter selects. sock_ops enrolls such a flow, when it is
 * established, into a SOCKHASH; the kernel then runs lfp_stream_msg
 * (sk_msg) for every sendmsg() on it and lfp_stream_skb (sk_skb stream
 * verdict, no parser) for every skb it receives. Each classifies at the
 * stream layer with its direction; block refuses the data, permit passes
 * it; blocks and `log` filters report the classification, inspection
 * callouts (`callout count`) get the first LFP_DATA_EXCERPT bytes as an
 * event.
 *
 * Included by lfp.bpf.c after ale_flow.bpf.h (reauth_cgroup, ale_layer_used).
 */
#pragma once

#define LFP_STREAM_FLOWS 16384 /* flows enrolled at once; the next ones are not (errors) */

/* Keyed by socket cookie (unique for the boot, never reused). The kernel
 * removes a socket when it closes. Pinned: enrolled flows and the programs
 * attached to the map (pinned links) outlive lfpd. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, LFP_STREAM_FLOWS);
	__type(key, __u64);
	__type(value, __u64);
} lfp_stream_socks SEC(".maps");

/* The owner of each enrolled flow, as socket storage had it at enrollment,
 * by socket cookie: sk_skb programs may not read socket storage. An LRU:
 * entries of closed flows (cookies are never reused) go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_STREAM_FLOWS);
	__type(key, __u64);
	__type(value, struct lfp_sk);
} lfp_stream_owner SEC(".maps");

/* defined by packet.bpf.h, further down lfp.bpf.c */
__noinline __u64 lfp_pkt_classify(const struct lfp_eval_in *in, struct lfp_eval_out *out);
static __always_inline bool pkt_event_allowed(void);

/* The loop guard: a socket whose recorded owner is lfpd's process (the
 * redirector's upstream connections and relays) is never enrolled. */
static __always_inline bool redir_own_pid(__u32 pid)
{
	__u32 k = 0;
	struct lfp_redir_cfg *c = bpf_map_lookup_elem(&lfp_redir_cfg, &k);

	return c && c->tgid && c->tgid == pid;
}

/*
 * The flow's fields from its socket: addresses and ports (IPv4-mapped
 * addresses on an IPv6 socket count as IPv4), the owner that connect or
 * accept stamped into socket storage, the cgroup walked from the socket's
 * own (the hook's `current` is nobody's in softirq, and may be another
 * process than the owner in sendmsg).
 */
static __noinline void stream_in(struct lfp_eval_in *in, struct bpf_sock *sk,
				 const struct lfp_sk *s, __u32 dir, __u64 *own_cg)
{
	struct lfp_state *st = state_get();
	struct tcp_sock *tp;

	in->layer = LFP_LAYER_STREAM;
	in->direction = dir;
	in->proto = IPPROTO_TCP;
	if (sk->family == AF_INET6) {
		addr_v6(in->laddr, sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3]);
		addr_v6(in->raddr, sk->dst_ip6[0], sk->dst_ip6[1], sk->dst_ip6[2], sk->dst_ip6[3]);
	} else {
		addr_v4mapped(in->laddr, sk->src_ip4);
		addr_v4mapped(in->raddr, sk->dst_ip4);
	}
	in->lport = sk->src_port;
	in->rport = bpf_ntohs(sk->dst_port);
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	if (s) {
		in->pid = s->pid;
		in->uid = s->uid;
		in->gid = s->gid;
		in->app_dev = s->exe_dev;
		in->app_ino = s->exe_ino;
		in->flags |= s->cflags & ~LFP_CF_REAUTHORIZE;
	}
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp && st)
		reauth_cgroup((struct sock *)tp, in, st->scope_cgroup, st->gen, own_cg);
}

/*
 * Whether some stream filter decides this flow in either direction, or an
 * inspection callout filter is reached (its bytes are reported) or a notify
 * filter matched (its client is told), with
 * the generation's maps and without counting a hit (nothing was sent yet).
 * A global function: verified once, apart from sock_ops' other work. A
 * broken generation answers yes (enrolled, the per-message verdict applies
 * its default). @return 1: enroll.
 */
__noinline int lfp_stream_selects(struct lfp_eval_in *in, struct lfp_eval_out *out)
{
	struct lfp_state *st;
	__u32 zero = 0;
	__u64 gen;

	if (!in || !out)
		return 0;
	st = bpf_map_lookup_elem(&lfp_state, &zero);
	if (!st)
		return 0;
	gen = *(volatile __u64 *)&st->gen;
	if (!gen)
		return 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 2; i++) {
		in->direction = i ? LFP_DIR_INBOUND : LFP_DIR_OUTBOUND;
		out->filter_idx = -1;
		if (lfp_eval_gen(gen, in, out) || out->filter_idx >= 0 || out->inspect_idx >= 0 ||
		    out->notify)
			return 1;
	}
	return 0;
}

/*
 * sock_ops ACTIVE/PASSIVE_ESTABLISHED_CB: enroll the flow when the stream
 * layer has filters and one of them decides it. lfpd's own sockets (the
 * redirector's: their storage names lfpd's process) are never enrolled.
 *
 * A sock_ops program of its own, attached after lfp_sockops (run order =
 * attach order, so an accepted flow's record is in socket storage by
 * then): lfp_sockops' frame and the evaluator's would not fit in 512 bytes
 * together.
 */
SEC("sockops")
int lfp_stream_sockops(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct lfp_sk *s;
	struct scratch *sc;
	__u64 cookie, own_cg = 0;
	int sel;

	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    ctx->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (!sk || !ale_layer_used(LFP_LAYER_STREAM))
		return 1;
	/* created when missing (an accepted flow nobody stamped): a zero owner */
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s) {
		stat_inc(LFP_STAT_ERRORS);
		return 1;
	}
	if (s->pid && redir_own_pid(s->pid))
		return 1;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 1;
	}
	stream_in(&sc->in, sk, s, LFP_DIR_OUTBOUND, &own_cg);
	sel = lfp_stream_selects(&sc->in, &sc->out);
	scratch_put(sc);
	if (!sel)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&lfp_stream_owner, &cookie, s, BPF_ANY)) {
		stat_inc(LFP_STAT_ERRORS);
		return 1;
	}
	if (bpf_sock_hash_update(ctx, &lfp_stream_socks, &cookie, BPF_NOEXIST)) {
		stat_inc(LFP_STAT_ERRORS); /* full, or the kernel would not take it */
		return 1;
	}
	stat_inc(LFP_STAT_STREAM_ENROLLED);
	return 1;
}

/*
 * The events of one message or skb, rate-limited per CPU like the packet
 * layers' (lfp_pkt_events_per_sec):
 *  - the classification (LFP_EV_CLASSIFY, with the direction) when it
 *    blocks, its deciding filter says `log`, or a notify filter matched;
 *  - the first LFP_DATA_EXCERPT bytes (LFP_EV_DATA) when an inspection
 *    callout filter (`callout count`, a registered inspection callout) was
 *    reached: ev.filter_id is that filter, ev.verdict the layer's verdict.
 *    Its hit counter counts here (the evaluator counts deciding filters
 *    only).
 */
static __always_inline bool stream_event_wanted(const struct lfp_eval_out *out)
{
	/* a notify filter (an external callout that cannot decide here): lfpd tells
	 * its client from this event (docs/callouts.md) */
	if (out->verdict != LFP_V_PERMIT || out->notify)
		return true;
	return out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG) &&
	       !(out->kf.flags & LFP_FF_NOLOG);
}

/* What the event subprograms need beside the scratch slot (five arguments at most). */
struct stream_meta {
	__u64 cookie;
	__u64 own_cg;
	__u32 len; /* bytes in the message or skb */
	__u32 pad;
};

/* Subprograms, so that their frames are not on the stack while the
 * evaluator runs (the programs' whole call chain has 512 bytes). */
static __noinline void stream_flow_event(const struct scratch *sc, const struct lfp_sk *s,
					 const struct stream_meta *m)
{
	const struct lfp_eval_in *in;
	const struct lfp_eval_out *out;
	struct lfp_event *e;

	if (!sc || !m)
		return;
	in = &sc->in;
	out = &sc->out;
	if (!stream_event_wanted(out) || !pkt_event_allowed())
		return;
	e = event_flow(out->verdict, out_filter_id(out), in->flags, IPPROTO_TCP, in->laddr,
		       in->lport, in->raddr, in->rport, m->cookie);
	if (!e)
		return;
	e->layer = LFP_LAYER_STREAM;
	e->ipver = in->ipver;
	e->direction = in->direction;
	if (s)
		event_who_sk(e, s);
	e->cgroup = m->own_cg;
	ring_submit(e);
}

/* The data event, reserved and filled but for its bytes; NULL: none wanted or possible. */
static __always_inline struct lfp_data_event *
stream_data_event(const struct scratch *sc, const struct lfp_sk *s, const struct stream_meta *m)
{
	const struct lfp_eval_in *in = &sc->in;
	const struct lfp_eval_out *out = &sc->out;
	struct lfp_data_event *e;
	__u32 slot;
	__u64 *hits;

	if (out->inspect_idx < 0)
		return NULL;
	slot = out->inspect_kf.counter;
	hits = bpf_map_lookup_elem(&lfp_counters, &slot);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	if (!pkt_event_allowed())
		return NULL;
	e = bpf_ringbuf_reserve(&lfp_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LFP_STAT_EVENT_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(e->ev));
	e->ev.ts_ns = bpf_ktime_get_ns();
	e->ev.type = LFP_EV_DATA;
	e->ev.layer = LFP_LAYER_STREAM;
	e->ev.verdict = out->verdict;
	e->ev.proto = IPPROTO_TCP;
	e->ev.ipver = in->ipver;
	e->ev.direction = in->direction;
	e->ev.filter_id = out->inspect_kf.id;
	e->ev.cookie = m->cookie;
	e->ev.flags = in->flags;
	__builtin_memcpy(e->ev.laddr, in->laddr, 16);
	__builtin_memcpy(e->ev.raddr, in->raddr, 16);
	e->ev.lport = in->lport;
	e->ev.rport = in->rport;
	if (s)
		event_who_sk(&e->ev, s);
	e->ev.cgroup = m->own_cg;
	e->len = m->len;
	e->captured = 0;
	e->pad = 0;
	return e;
}

/* sk_msg's excerpt: @n bytes (at most LFP_DATA_EXCERPT) at @data, the message's start. */
static __noinline void stream_data_msg(const struct scratch *sc, const struct lfp_sk *s,
				       const struct stream_meta *m, const void *data, __u32 n)
{
	struct lfp_data_event *e;

	if (!sc || !m)
		return;
	e = stream_data_event(sc, s, m);
	if (!e)
		return;
	barrier_var(n);
	if (n > LFP_DATA_EXCERPT)
		n = LFP_DATA_EXCERPT;
	if (n && !bpf_probe_read_kernel(e->data, n, data))
		e->captured = n;
	ring_submit(e);
}

/* sk_skb's excerpt: the skb's first bytes (its data starts at the payload). */
static __noinline void stream_data_skb(const struct scratch *sc, const struct lfp_sk *s,
				       const struct stream_meta *m, struct __sk_buff *skb)
{
	struct lfp_data_event *e;
	__u32 n;

	if (!sc || !m || !skb)
		return;
	e = stream_data_event(sc, s, m);
	if (!e)
		return;
	n = m->len;
	/* the compiler must not fold the bound below into the one above: the
	 * verifier needs it on the register it passes */
	barrier_var(n);
	if (n > LFP_DATA_EXCERPT)
		n = LFP_DATA_EXCERPT;
	if (n && !bpf_skb_load_bytes(skb, 0, e->data, n))
		e->captured = n;
	ring_submit(e);
}

/*
 * Classify one message or skb of an enrolled flow in @dir. Without stream
 * filters (all removed after enrollment) the answer is permit at once.
 * @return the verdict; the scratch slot holds the classification.
 */
static __always_inline int stream_classify(struct scratch *sc, struct bpf_sock *sk,
					   const struct lfp_sk *s, __u8 dir, __u64 *own_cg)
{
	stream_in(&sc->in, sk, s, dir, own_cg);
	sc->gen = lfp_pkt_classify(&sc->in, &sc->out);
	return sc->out.verdict;
}

/* The socket's cookie, which enrollment made (sk_msg may not ask for it). */
static __always_inline __u64 stream_cookie(struct bpf_sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	return tp ? BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.skc_cookie.counter) : 0;
}

static __always_inline __u32 stream_ncap(__u32 len)
{
	return len < LFP_DATA_EXCERPT ? len : LFP_DATA_EXCERPT;
}

/*
 * sk_msg: every sendmsg()/sendfile() on an enrolled flow, in the sender's
 * context, before the data is queued. SK_DROP makes the call fail with
 * EACCES (tcp_bpf_send_verdict) and nothing of the message is sent.
 */
SEC("sk_msg")
int lfp_stream_msg(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	struct stream_meta m = {};
	struct lfp_sk *s;
	struct scratch *sc;
	__u32 n;
	int allow;

	/* the loop guard again, in the sender's context: lfpd's own sends (the
	 * redirector relaying) pass unjudged, also on a socket enrolled because
	 * its owner was unknown (an accepted one) */
	if (!sk || !ale_layer_used(LFP_LAYER_STREAM) || redir_own_process())
		return SK_PASS;
	m.cookie = stream_cookie(sk);
	m.len = msg->size;
	s = bpf_map_lookup_elem(&lfp_stream_owner, &m.cookie);
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return SK_PASS;
	}
	allow = verdict_allows(stream_classify(sc, sk, s, LFP_DIR_OUTBOUND, &m.own_cg));
	if (!allow)
		stat_inc(LFP_STAT_STREAM_BLOCKED);
	stream_flow_event(sc, s, &m);
	if (sc->out.inspect_idx >= 0) {
		/* the first bytes in one piece (a no-op when the first scatterlist
		 * element holds them already) */
		n = stream_ncap(m.len);
		if (n)
			bpf_msg_pull_data(msg, 0, n, 0);
		if (n > (__u32)(msg->data_end - msg->data))
			n = msg->data_end - msg->data;
		stream_data_msg(sc, s, &m, msg->data, n);
	}
	scratch_put(sc);
	return allow ? SK_PASS : SK_DROP;
}

/*
 * sk_skb stream verdict: every skb an enrolled flow receives, after TCP
 * accepted (and acknowledged) it, before the application can read it.
 * SK_DROP discards the data: the sender saw it acknowledged, the receiver
 * never reads it, the connection stays up.
 */
SEC("sk_skb/stream_verdict")
int lfp_stream_skb(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct stream_meta m = {};
	struct lfp_sk *s;
	struct scratch *sc;
	int allow;

	m.len = skb->len;
	/* a FIN arrives as an empty skb: no data to judge (TCP has taken the FIN already) */
	if (!sk || !m.len || !ale_layer_used(LFP_LAYER_STREAM))
		return SK_PASS;
	m.cookie = stream_cookie(sk);
	s = bpf_map_lookup_elem(&lfp_stream_owner, &m.cookie);
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return SK_PASS;
	}
	allow = verdict_allows(stream_classify(sc, sk, s, LFP_DIR_INBOUND, &m.own_cg));
	if (!allow)
		stat_inc(LFP_STAT_STREAM_BLOCKED);
	stream_flow_event(sc, s, &m);
	stream_data_skb(sc, s, &m, skb);
	scratch_put(sc);
	return allow ? SK_PASS : SK_DROP;
}

/*
 * Enrollment after a commit (iter/tcp, run by lfpd after each commit in its
 * network namespace): a flow established while no stream filter selected it
 * is enrolled as soon as one does, so a new filter applies to the scope's
 * open flows too, from their next message. Only while the layer has
 * filters; established sockets of the scope only (the cgroup walk of
 * re-authorization), never lfpd's own, never twice (the owner map has the
 * enrolled cookies). The tcp iterator holds the socket's lock, as the
 * SOCKHASH update needs.
 */
#define STREAM_TCP_ESTABLISHED 1

/* The flow's fields from the kernel's socket; @return whether it is in scope. A
 * subprogram: its frame is gone when the evaluator runs. */
static __noinline bool stream_iter_in(struct sock *sk, struct lfp_eval_in *in,
				      const struct lfp_sk *s, __u64 *own_cg)
{
	struct lfp_state *st = state_get();

	if (!sk || !in || !s || !st)
		return false;
	in->layer = LFP_LAYER_STREAM;
	in->proto = IPPROTO_TCP;
	if (sk->__sk_common.skc_family == AF_INET) {
		addr_v4mapped(in->laddr, sk->__sk_common.skc_rcv_saddr);
		addr_v4mapped(in->raddr, sk->__sk_common.skc_daddr);
	} else {
		__builtin_memcpy(in->laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(in->raddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
	}
	in->lport = sk->__sk_common.skc_num;
	in->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	in->flags |= s->cflags & ~LFP_CF_REAUTHORIZE;
	in->pid = s->pid;
	in->uid = s->uid;
	in->gid = s->gid;
	in->app_dev = s->exe_dev;
	in->app_ino = s->exe_ino;
	return reauth_cgroup(sk, in, st->scope_cgroup, st->gen, own_cg);
}

SEC("iter/tcp")
int lfp_stream_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct scratch *sc;
	struct lfp_sk *s;
	struct sock *sk;
	__u64 cookie, own_cg = 0;
	int sel = 0;

	if (!skc || !ale_layer_used(LFP_LAYER_STREAM))
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	if (sk->__sk_common.skc_state != STREAM_TCP_ESTABLISHED)
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	if (bpf_map_lookup_elem(&lfp_stream_owner, &cookie))
		return 0; /* enrolled before (and still, unless the SOCKHASH was full) */
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (s && s->pid && redir_own_pid(s->pid))
		return 0;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	/* a socket nobody stamped (older than lfpd, accepted without a record):
	 * classified with an unknown owner, as enrollment at establishment does */
	if (!s)
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s && stream_iter_in(sk, &sc->in, s, &own_cg))
		sel = lfp_stream_selects(&sc->in, &sc->out);
	scratch_put(sc);
	if (!sel)
		return 0;
	if (bpf_map_update_elem(&lfp_stream_owner, &cookie, s, BPF_ANY) ||
	    bpf_map_update_elem(&lfp_stream_socks, &cookie, sk, BPF_NOEXIST)) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	stat_inc(LFP_STAT_STREAM_ENROLLED);
	return 0;
}
