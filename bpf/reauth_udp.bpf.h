/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Re-authorization of connected UDP sockets after a commit (iter/udp).
 * A connected UDP socket is judged once, at connect(): its sends run no
 * sendmsg hook (no address is given), so after a commit nothing would look
 * at it again. lfpd reads this iterator right after the TCP one; for each
 * connected UDP socket of the scope whose record (connect_sk) is of an older
 * generation, it classifies the flow again at auth-connect and keeps the
 * answer in the record: `udp_block` set makes egress drop the socket's
 * datagrams to that remote (send() fails with EPERM) and ingress drop the
 * peer's, cleared it lets them through again. UDP sockets are never
 * destroyed (WFP-MODEL.md). Both walks give a scope socket they meet
 * without a record (one older than lfpd) what it still tells of its owner
 * (reauth_stamp). Included by lfp.bpf.c before ale_accept.bpf.h,
 * after its helpers (scratch, events, addresses, verdicts); docs/kernel.md,
 * "Re-authorization after a commit", describes it.
 */
#pragma once

/* defined with the TCP iterator, further down lfp.bpf.c */
static __always_inline bool reauth_cgroup(struct sock *sk, struct lfp_eval_in *in, __u64 scope,
					  __u64 gen, __u64 *own);

/*
 * Whether some connected UDP socket may carry `udp_block`: set by the
 * iterator when it blocks one, and by lfpd when it adopts pins (their
 * sockets may be marked already). While 0, ingress spares connected UDP
 * sockets the storage lookup. Never cleared: a marked socket may live as
 * long as the object.
 */
volatile __u32 lfp_udp_blocked SEC(".data") = 1;

#define UDP_CONNECTED_ 1 /* TCP_ESTABLISHED: a UDP socket with a peer */

/*
 * A socket of the scope that a walk meets without a record: it predates
 * lfpd (or its record could not be stored then). Stamp what the socket
 * itself still tells, so that later classifications of it (auth-recv-accept
 * of its SYNs and datagrams, the walks) see its owner: the uid (sk_uid, the
 * creator's fsuid at socket()), the gid of the credentials its file was
 * opened with (0 without a file), and the cgroup it was created in. Who
 * created it (pid, executable, name) is not kept by the kernel: those stay
 * 0, as for any socket nothing stamped. The record is of no generation, so
 * the walk classifies it now. @return the record, or NULL (counted).
 */
static __always_inline struct lfp_sk *reauth_stamp(struct sock *sk, __u8 proto, __u64 cgroup)
{
	struct lfp_sk *s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (!s) {
		stat_inc(LFP_STAT_ERRORS);
		return NULL;
	}
	s->uid = sk->sk_uid.val;
	/* typed loads through possibly NULL links read as 0 */
	s->gid = sk->sk_socket->file->f_cred->gid.val;
	s->cgroup = cgroup;
	s->proto = proto;
	s->gen = 0;
	s->verdict = LFP_V_PERMIT;
	return s;
}

static __always_inline bool reauth_addr_eq(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

/* ingress: a datagram to a connected UDP socket (the kernel delivers only
 * its peer's). @return 0 to drop it: a re-authorization blocked the peer. */
static __always_inline int reauth_udp_rx(struct bpf_sock *sk)
{
	struct lfp_sk *s;

	if (!lfp_udp_blocked)
		return 1;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	return !s || !s->udp_block;
}

/*
 * egress: a datagram of a UDP socket whose record says blocked. Only the
 * remote the record names is blocked: a sendto() with another address on
 * the same socket was judged by sendmsg. @daddr/@dport: the datagram's
 * destination (v4-mapped for IPv4). @return 0 to drop it.
 */
static __always_inline int reauth_udp_tx(const struct bpf_sock *sk, const struct lfp_sk *s,
					 const __u8 *daddr, __u16 dport)
{
	if (sk->state != UDP_CONNECTED_ || dport != s->rport)
		return 1;
	return !reauth_addr_eq(daddr, s->raddr);
}

/* The socket's peer, in the ABI's form, equals the record's remote: the
 * record is of this connection (a connect() that failed, or one to
 * another peer, rewrote it). */
static __always_inline bool reauth_udp_same_peer(struct sock *sk, const struct lfp_sk *s)
{
	__u8 peer[16];

	if (bpf_ntohs(sk->__sk_common.skc_dport) != s->rport)
		return false;
	if (sk->__sk_common.skc_family == AF_INET)
		addr_v4mapped(peer, sk->__sk_common.skc_daddr);
	else
		__builtin_memcpy(peer, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
	return reauth_addr_eq(peer, s->raddr);
}

SEC("iter/udp")
int lfp_reauth_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct lfp_state *st;
	struct scratch *sc;
	struct lfp_event *e;
	struct sock *sk;
	struct lfp_sk *s;
	__u64 gen, own_cg;
	bool block, connected;

	if (!up)
		return 0;
	sk = (struct sock *)up;
	connected = sk->__sk_common.skc_state == UDP_CONNECTED_;
	st = state_get();
	if (!st)
		return 0;
	gen = st->gen;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	/* a record of connect(): permitted (or pended), or blocked by an earlier
	 * walk; a socket without any record is stamped (reauth_stamp) */
	if (s &&
	    (!connected || s->proto != IPPROTO_UDP || s->gen == gen || s->inbound ||
	     (!pend_reauth_candidate(s->verdict) && !s->udp_block) || !reauth_udp_same_peer(sk, s)))
		return 0;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in = &sc->in;
	out = &sc->out;
	if (!reauth_cgroup(sk, in, st->scope_cgroup, gen, &own_cg))
		goto out;
	if (!s) {
		s = reauth_stamp(sk, IPPROTO_UDP, own_cg);
		if (!s || !connected)
			goto out;
		/* the connect() nobody saw: its remote is the socket's peer */
		s->rport = bpf_ntohs(sk->__sk_common.skc_dport);
		if (sk->__sk_common.skc_family == AF_INET)
			addr_v4mapped(s->raddr, sk->__sk_common.skc_daddr);
		else
			__builtin_memcpy(s->raddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
		s->cflags = addr_is_loopback(s->raddr) ? LFP_CF_LOOPBACK : 0;
	}
	/* as connect() classified it: the recorded owner, remote and flags, the
	 * local end the socket has now (connect() may have seen port 0) */
	in->layer = LFP_LAYER_AUTH_CONNECT;
	in->direction = LFP_DIR_OUTBOUND;
	in->proto = IPPROTO_UDP;
	__builtin_memcpy(in->raddr, s->raddr, 16);
	in->rport = s->rport;
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	in->flags = (s->cflags & ~LFP_CF_REAUTHORIZE) | LFP_CF_REAUTHORIZE;
	in->lport = sk->__sk_common.skc_num;
	in->ifindex = sk->__sk_common.skc_bound_dev_if;
	if (sk->__sk_common.skc_family == AF_INET)
		addr_v4mapped(in->laddr, sk->__sk_common.skc_rcv_saddr);
	else
		__builtin_memcpy(in->laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
	in->pid = s->pid;
	in->uid = s->uid;
	in->gid = s->gid;
	in->app_dev = s->exe_dev;
	in->app_ino = s->exe_ino;
	lfp_classify(in, out, &sc->gen);
	stat_inc(LFP_STAT_REAUTH);
	s->gen = sc->gen;
	s->filter_id = out_filter_id(out);
	/* never pends: a pend again keeps a pended flow's answer, anything but
	 * permit blocks (as for TCP, pend.bpf.h) */
	block = !verdict_allows(out->verdict) && !pend_reauth_keeps(s->verdict, out->verdict);
	if (!pend_reauth_keeps(s->verdict, out->verdict))
		s->verdict = out->verdict;
	if (s->udp_block == block)
		goto out;
	s->udp_block = block;
	if (block)
		lfp_udp_blocked = 1;
	e = event_flow(out->verdict, s->filter_id, in->flags, IPPROTO_UDP, in->laddr, in->lport,
		       in->raddr, in->rport, bpf_get_socket_cookie(sk));
	if (e) {
		event_who_sk(e, s);
		e->cgroup = own_cg;
		ring_submit(e);
	}
out:
	scratch_put(sc);
	return 0;
}
