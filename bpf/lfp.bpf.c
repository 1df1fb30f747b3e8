// SPDX-License-Identifier: GPL-2.0
/*
 * lfp's BPF programs: thin adapters from each hook's context to struct
 * lfp_eval_in, the shared evaluator (classify.bpf.h) and back to the hook's
 * verdict. Everything policy-shaped lives in the evaluator; this file knows
 * hooks, sockets and events. docs/kernel.md describes the design.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "maps.bpf.h"

/* The evaluator's cgroup walk defaults to the current task's ancestors:
 * right here, since only process-context hooks (connect, sendmsg)
 * classify. (The re-authorization iterator, in lfpd's context, hands the
 * evaluator a cgroup it resolved itself: reauth_cgroup.) */
#include "classify.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Wake the reader only when this many bytes wait in the ring: lfpd polls
 * with a short timeout anyway, and a wakeup per connection costs more than
 * the event. Read-only data: a loader may change it before load. */
const volatile __u32 lfp_wakeup_bytes = 16384;

/* Whether a later hook is attached to emit a permitted flow's event with
 * its real local address: sock_ops for TCP, egress for UDP. lfpd writes
 * these after attaching; without the hook the event goes out at
 * classification time, local end unknown, rather than never. */
volatile __u32 lfp_late_tcp = 1;
volatile __u32 lfp_late_udp = 1;

#define AF_INET	   2
#define AF_INET6   10
#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&lfp_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline struct lfp_state *state_get(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&lfp_state, &k);
}

/*
 * The evaluator's input and output live in a per-CPU scratch slot, not on
 * the stack: the evaluator's frames need a good part of the 512 bytes a
 * program may use over its call chain. Slots are claimed with a
 * compare-and-swap, so a classification preempted on this CPU (preempt=full
 * kernels) and another one starting meanwhile never share a slot.
 */
#define SCRATCH_SLOTS 4

struct scratch {
	struct lfp_eval_in in;
	struct lfp_eval_out out;
	__u64 gen;
	__u32 busy;
	__u32 tid;     /* the classifying thread (ident_current) */
	char comm[16]; /* and its name */
	__u64 pkt[7];  /* the netfilter programs' parsed packet (bpf/netfilter.bpf.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} lfp_scratch SEC(".maps");

static __always_inline struct scratch *scratch_get(void)
{
	for (__u32 i = 0; i < SCRATCH_SLOTS; i++) {
		__u32 k = i;
		struct scratch *sc = bpf_map_lookup_elem(&lfp_scratch, &k);

		if (sc && __sync_val_compare_and_swap(&sc->busy, 0, 1) == 0) {
			__builtin_memset(&sc->in, 0, sizeof(sc->in));
			__builtin_memset(&sc->out, 0, sizeof(sc->out));
			sc->gen = 0;
			sc->tid = 0;
			return sc;
		}
	}
	return NULL;
}

static __always_inline void scratch_put(struct scratch *sc)
{
	/* same CPU: program order is enough, the barrier keeps the compiler's */
	asm volatile("" ::: "memory");
	sc->busy = 0;
}

/*
 * Who is doing it, read in process context straight into the evaluator's
 * input, as the kernel's own helpers would give it (pid = tgid, real uid and
 * gid, cgroup id = the default hierarchy's kernfs id, and the thread's id
 * and name for events and the TCP hand-over) but with typed loads
 * through the task's BTF pointer instead of helper calls and
 * bpf_probe_read_kernel(): each of those cost tens of ns here, the loads a
 * few. The executable's identity is its (device, inode), the pair lfpd gets
 * from stat(2) of a path: the kernel's s_dev encoding is MAJOR << 20 |
 * MINOR, and lfpd converts st_dev the same way. Kernel threads have no mm:
 * a typed load through a NULL link reads as 0, so they read as (0, 0).
 */
static __always_inline void ident_current(struct lfp_eval_in *in, __u32 *tid, char *comm)
{
	struct task_struct *t = bpf_get_current_task_btf();
	const struct cred *cred = t->cred;
	struct inode *ino = t->mm->exe_file->f_inode;
	struct cgroup *cg = t->cgroups->dfl_cgrp;

	*tid = t->pid;
	__builtin_memcpy(comm, t->comm, 16);
	in->pid = t->tgid;
	in->uid = cred->uid.val;
	in->gid = cred->gid.val;
	in->cgroup = cg->kn->id;
	in->cgroup_level = cg->level;
	in->app_ino = ino->i_ino;
	in->app_dev = ino->i_sb->s_dev;
}

/* Stamp the owner into socket storage for the softirq hooks. */
static __always_inline void ident_to_sk(struct lfp_sk *s, const struct lfp_eval_in *in,
					const char *comm)
{
	s->cgroup = in->cgroup;
	s->exe_dev = in->app_dev;
	s->exe_ino = in->app_ino;
	s->pid = in->pid;
	s->uid = in->uid;
	s->gid = in->gid;
	__builtin_memcpy(s->comm, comm, sizeof(s->comm));
}

static __always_inline void addr_v4mapped(__u8 *a, __u32 ip4 /* network order */)
{
	__builtin_memset(a, 0, 10);
	a[10] = 0xff;
	a[11] = 0xff;
	__builtin_memcpy(a + 12, &ip4, 4);
}

static __always_inline void addr_v6(__u8 *a, __u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	__builtin_memcpy(a, &w0, 4);
	__builtin_memcpy(a + 4, &w1, 4);
	__builtin_memcpy(a + 8, &w2, 4);
	__builtin_memcpy(a + 12, &w3, 4);
}

static __always_inline bool addr_is_v4mapped(const __u8 *a)
{
	__u64 hi;
	__u32 mid;

	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return hi == 0 && mid == bpf_htonl(0xffff);
}

static __always_inline bool addr_is_loopback(const __u8 *a)
{
	__u64 hi, lo;

	if (addr_is_v4mapped(a))
		return a[12] == 127;
	__builtin_memcpy(&hi, a, 8);
	__builtin_memcpy(&lo, a + 8, 8);
	return hi == 0 && lo == bpf_cpu_to_be64(1);
}

/* Permit events are optional (global switch, per-filter log/nolog);
 * anything else is always reported. */
static __always_inline bool event_wanted(const struct lfp_eval_out *out)
{
	struct lfp_state *st;

	/* an external callout is told through the event (docs/callouts.md) */
	if (out->verdict != LFP_V_PERMIT || out->notify)
		return true;
	if (out->filter_idx >= 0) {
		if (out->kf.flags & LFP_FF_NOLOG)
			return false;
		if (out->kf.flags & LFP_FF_LOG)
			return true;
	}
	st = state_get();
	return st && st->log_permits;
}

static __always_inline void ring_submit(void *rec)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&lfp_events, BPF_RB_AVAIL_DATA) >= lfp_wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
	stat_inc(LFP_STAT_EVENTS);
}

/*
 * An auth-connect event: reserve it and fill the flow (verdict, filter,
 * endpoints); the caller adds who made it (event_who_*) and submits. A full
 * ring is counted, never silent.
 */
static __always_inline struct lfp_event *event_flow(__u8 verdict, __u64 filter_id, __u32 cflags,
						    __u8 proto, const __u8 *laddr, __u16 lport,
						    const __u8 *raddr, __u16 rport, __u64 cookie)
{
	struct lfp_event *e = bpf_ringbuf_reserve(&lfp_events, sizeof(*e), 0);

	if (!e) {
		stat_inc(LFP_STAT_EVENT_DROPS);
		return NULL;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = LFP_EV_CLASSIFY;
	e->layer = LFP_LAYER_AUTH_CONNECT;
	e->verdict = verdict;
	e->proto = proto;
	e->ipver = addr_is_v4mapped(raddr) ? 4 : 6;
	e->filter_id = filter_id;
	e->cookie = cookie;
	e->flags = cflags;
	__builtin_memcpy(e->laddr, laddr, 16);
	__builtin_memcpy(e->raddr, raddr, 16);
	e->lport = lport;
	e->rport = rport;
	e->icmp_type = 0;
	e->icmp_code = 0;
	e->direction = 0;
	e->pad[0] = 0;
	__builtin_memset(e->oaddr, 0,
			 sizeof(e->oaddr) + sizeof(e->oport) + sizeof(e->pad2) + sizeof(e->reason));
	return e;
}

/* The socket's owner as socket storage recorded it (hooks outside the owner's context). */
static __always_inline void event_who_sk(struct lfp_event *e, const struct lfp_sk *s)
{
	e->pid = s->pid;
	e->uid = s->uid;
	e->gid = s->gid;
	e->cgroup = s->cgroup;
	e->exe_dev = s->exe_dev;
	e->exe_ino = s->exe_ino;
	__builtin_memcpy(e->comm, s->comm, sizeof(e->comm));
}

/* The classifying task itself (the hook runs in its context). */
static __always_inline void event_who_in(struct lfp_event *e, const struct lfp_eval_in *in,
					 const char *comm)
{
	e->pid = in->pid;
	e->uid = in->uid;
	e->gid = in->gid;
	e->cgroup = in->cgroup;
	e->exe_dev = in->app_dev;
	e->exe_ino = in->app_ino;
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
}

/* An event whose identity and verdict come from the socket storage. */
static __always_inline void event_classify(const struct lfp_sk *s, __u8 verdict, __u64 filter_id,
					   __u32 cflags, const __u8 *laddr, __u16 lport,
					   const __u8 *raddr, __u16 rport, __u64 cookie)
{
	struct lfp_event *e = event_flow(verdict, filter_id, cflags, s->proto, laddr, lport, raddr,
					 rport, cookie);

	if (!e)
		return;
	event_who_sk(e, s);
	ring_submit(e);
}

/* An event of the classification just made in this context (laddr/lport as classified). */
static __always_inline void event_now(struct bpf_sock_addr *ctx, const struct lfp_eval_in *in,
				      const char *comm, __u8 verdict, __u64 filter_id)
{
	struct lfp_event *e =
		event_flow(verdict, filter_id, in->flags, in->proto, in->laddr, in->lport,
			   in->raddr, in->rport, bpf_get_socket_cookie(ctx));

	if (!e)
		return;
	if (in->flags & LFP_CF_REDIRECTED) {
		__builtin_memcpy(e->oaddr, in->oaddr, 16);
		e->oport = in->oport;
	}
	event_who_in(e, in, comm);
	ring_submit(e);
}

/* pend_hold(), the xt_bpf match and the iterators that end blocked pends */
#include "pend.bpf.h"

/* Only a permit lets the operation through. A pend at connect/sendmsg goes
 * through pend_hold() instead (the syscall passes, its packet is held);
 * anywhere else (re-authorization) it fails closed. */
static __always_inline int verdict_allows(__u8 v)
{
	return v == LFP_V_PERMIT;
}

/*
 * The auth-connect input from a sock_addr context. The remote comes from
 * user_ip4/user_ip6 (attach-type specific fields, so the caller says which
 * family the hook is for). IPv4-mapped IPv6 counts as IPv4: addresses are
 * v4-mapped in the ABI either way.
 */
static __always_inline void in_remote(struct lfp_eval_in *in, struct bpf_sock_addr *ctx, bool v6)
{
	if (v6)
		addr_v6(in->raddr, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			ctx->user_ip6[3]);
	else
		addr_v4mapped(in->raddr, ctx->user_ip4);
	in->rport = bpf_ntohs((__u16)ctx->user_port);
}

/* The rest of the input: the socket's local end and who is calling. Bound
 * sockets know their local end already; others learn it later (sock_ops,
 * first packet) and classify with 0. */
static __always_inline void in_rest(struct lfp_eval_in *in, __u32 *tid, char *comm,
				    struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	in->layer = LFP_LAYER_AUTH_CONNECT;
	in->direction = LFP_DIR_OUTBOUND;
	in->proto = ctx->protocol;
	in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
	if (addr_is_loopback(in->raddr))
		in->flags |= LFP_CF_LOOPBACK;
	if (sk) {
		in->lport = sk->src_port;
		in->ifindex = sk->bound_dev_if;
		if (sk->family == AF_INET6)
			addr_v6(in->laddr, sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2],
				sk->src_ip6[3]);
		else
			addr_v4mapped(in->laddr, sk->src_ip4);
	}
	/* an IPv4 flow's local end is IPv4 too, even while unknown
	 * (0.0.0.0, v4-mapped), also on an IPv6 socket bound to :: */
	if (in->ipver == 4 && !addr_is_v4mapped(in->laddr))
		addr_v4mapped(in->laddr, 0);
	ident_current(in, tid, comm);
}

static __always_inline __u64 out_filter_id(const struct lfp_eval_out *out)
{
	return out->filter_idx >= 0 ? out->kf.id : 0;
}

/* connect-redirect: its own programs, and redir_in() for auth-connect */
#include "redirect.bpf.h"

/*
 * The hand-over from connect to sock_ops for TCP. connect() classifies
 * before the kernel picks the local address and port; TCP_CONNECT_CB runs
 * after it did, just before the SYN, inside the same connect() call: same
 * task, same thread. So the connect hook leaves what the event needs in a
 * slot of its thread and the sock_ops hook picks it up there, checking the
 * socket cookie. Neither a per-socket allocation (socket storage:
 * allocation and memory cgroup charge, ~850 ns here) nor a hash lookup
 * (~40 ns) is needed: the slot is an array element, indexed by the thread
 * id modulo the array size, that the thread owns while its hand-over waits.
 * Threads whose ids share a slot take turns; one that finds the slot owned
 * by another thread (a hand-over in flight, or left by an attempt that
 * failed before its SYN) falls back to socket storage, as do sockets whose
 * callback may come from another thread (tcp_same_thread()). Not pinned:
 * its contents last one syscall.
 */
#define TCP_HANDOVER_SLOTS 16384 /* a power of two */

struct tcp_handover {
	__u32 owner; /* thread id of the connect that left it; 0: free */
	__u32 cflags;
	__u64 cookie; /* the socket whose TCP_CONNECT_CB reports it */
	__u64 filter_id;
	__u64 gen; /* generation of the verdict (re-authorization record) */
	__u64 cgroup;
	__u64 exe_dev;
	__u64 exe_ino;
	__u32 pid;
	__u32 uid;
	__u32 gid;
	__u16 rport;
	__u8 verdict;
	__u8 want; /* the event is wanted (permits: log flags, global switch) */
	__u8 raddr[16];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TCP_HANDOVER_SLOTS);
	__type(key, __u32);
	__type(value, struct tcp_handover);
} lfp_tcp_handover SEC(".maps");

static __always_inline struct tcp_handover *handover_slot(__u32 tid)
{
	__u32 k = tid & (TCP_HANDOVER_SLOTS - 1);

	return bpf_map_lookup_elem(&lfp_tcp_handover, &k);
}

/*
 * Whether the TCP_CONNECT_CB of this connect will run in this thread, within
 * this call. TCP_FASTOPEN_CONNECT sockets may defer the SYN (and the
 * callback) to the first send, possibly from another thread, and sockets
 * that are not plain TCP (MPTCP) get their SYN from subflows: both keep
 * their state in socket storage.
 */
static __always_inline bool tcp_same_thread(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct tcp_sock *tp;

	if (!sk)
		return false;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp || !bpf_core_field_exists(tp->fastopen_connect))
		return false;
	return !BPF_CORE_READ_BITFIELD(tp, fastopen_connect);
}

/*
 * connect4/6 with socket storage: connected UDP, and TCP that cannot use a
 * thread slot. The storage keeps owner and verdict: a permitted flow's
 * event waits for its real local address, the first packet (egress, which
 * may run in another context) or TCP_CONNECT_CB. A blocked flow never gets
 * one, so its event goes now. Without storage (out of memory) the verdict
 * still holds; the event is lost and counted as an error.
 */
static __always_inline int connect_sk(struct bpf_sock_addr *ctx, const struct scratch *sc,
				      int allow)
{
	const struct lfp_eval_in *in = &sc->in;
	const struct lfp_eval_out *out = &sc->out;
	struct lfp_sk *s;

	s = bpf_sk_storage_get(&lfp_sk_store, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s) {
		stat_inc(LFP_STAT_ERRORS);
		return allow;
	}
	ident_to_sk(s, in, sc->comm);
	s->gen = sc->gen;
	s->filter_id = out_filter_id(out);
	s->verdict = out->verdict;
	s->proto = in->proto;
	__builtin_memcpy(s->raddr, in->raddr, 16);
	s->rport = in->rport;
	s->cflags = in->flags;
	s->pending_event = 0;
	if (allow)
		s->udp_block = 0; /* a new peer: no re-authorization has blocked it */
	if (event_wanted(out)) {
		if (allow && (in->proto == IPPROTO_TCP ? lfp_late_tcp : lfp_late_udp))
			s->pending_event = 1;
		else
			event_classify(s, out->verdict, s->filter_id, in->flags, in->laddr,
				       in->lport, in->raddr, in->rport, bpf_get_socket_cookie(ctx));
	}
	return allow;
}

/*
 * connect4/6 for TCP (see tcp_handover): a permitted connect leaves its
 * flow to TCP_CONNECT_CB, which keeps the record re-authorization needs
 * and reports the event if it is wanted; a block is reported now (it never
 * reaches the callback). Without sock_ops the record goes into socket
 * storage here (connect_sk), and the event out at once.
 */
static __always_inline int connect_tcp(struct bpf_sock_addr *ctx, const struct scratch *sc,
				       int allow)
{
	const struct lfp_eval_in *in = &sc->in;
	const struct lfp_eval_out *out = &sc->out;
	struct tcp_handover *h = handover_slot(sc->tid);
	bool want = event_wanted(out);
	__u32 tid = sc->tid;

	if (!h)
		return connect_sk(ctx, sc, allow);
	if (!allow || !lfp_late_tcp) {
		/* A hand-over this thread still owns is from an attempt that failed
		 * before its SYN: this attempt's callback must not report it. */
		if (h->owner == tid)
			h->owner = 0;
		if (allow)
			return connect_sk(ctx, sc, allow);
		if (want)
			event_now(ctx, in, sc->comm, out->verdict, out_filter_id(out));
		return allow;
	}
	if (h->owner != tid && __sync_val_compare_and_swap(&h->owner, 0, tid) != 0)
		return connect_sk(ctx, sc, allow);
	h->cflags = in->flags;
	h->filter_id = out_filter_id(out);
	h->cgroup = in->cgroup;
	h->exe_dev = in->app_dev;
	h->exe_ino = in->app_ino;
	h->pid = in->pid;
	h->uid = in->uid;
	h->gid = in->gid;
	h->rport = in->rport;
	h->verdict = out->verdict;
	h->want = want;
	h->gen = sc->gen;
	__builtin_memcpy(h->raddr, in->raddr, 16);
	__builtin_memcpy(h->comm, sc->comm, 16);
	h->cookie = bpf_get_socket_cookie(ctx);
	return allow;
}

/* connect4/6: one classification per connect(). */
static __always_inline int connect_classify(struct bpf_sock_addr *ctx, bool v6, struct scratch *sc)
{
	struct lfp_eval_in *in = &sc->in;
	struct lfp_eval_out *out = &sc->out;
	int allow;

	in_remote(in, ctx, v6);
	in_rest(in, &sc->tid, sc->comm, ctx);
	redir_in(ctx, in);
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	if (out->verdict == LFP_V_PEND)
		allow = pend_hold(ctx, in, out, sc->gen, sc->comm, LFP_PEND_FROM_CONNECT);
	if (in->proto == IPPROTO_TCP && tcp_same_thread(ctx))
		return connect_tcp(ctx, sc, allow);
	return connect_sk(ctx, sc, allow);
}

/* implicit binds at resource-assignment (ale_resource.bpf.h, ale_flow.bpf.h) */
static __always_inline bool ale_layer_used(__u32 layer);
static __always_inline int ale_implicit_bind(struct bpf_sock_addr *ctx, int from_send);

/* No free scratch slot (more classifications preempted on this CPU than
 * slots): fail closed and count it; never let a flow through unjudged.
 * The implicit bind goes first (resource-assignment before auth-connect). */
static __always_inline int ale_connect(struct bpf_sock_addr *ctx, bool v6)
{
	struct scratch *sc;
	int allow;

	if (ale_layer_used(LFP_LAYER_RESOURCE_ASSIGNMENT) && !ale_implicit_bind(ctx, 0))
		return 0;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	allow = connect_classify(ctx, v6, sc);
	/* a connected UDP socket hears only from its peer: no longer a listener */
	if (sc->in.proto == IPPROTO_UDP)
		pend_listen_forget(bpf_get_socket_cookie(ctx));
	scratch_put(sc);
	return allow;
}

SEC("cgroup/connect4")
int lfp_connect4(struct bpf_sock_addr *ctx)
{
	return ale_connect(ctx, false);
}

SEC("cgroup/connect6")
int lfp_connect6(struct bpf_sock_addr *ctx)
{
	return ale_connect(ctx, true);
}

#define UDPC_MISS    (-1)
#define UDPC_FRESH   (1 << 8) /* entry of the active generation */
#define UDPC_PENDING (1 << 9) /* its event still waits for the packet */

/* Cached decision for (socket, remote): UDPC_MISS or verdict | UDPC_* bits. */
static __always_inline int udp_cache_get(__u64 cookie, const __u8 *raddr, __u32 rport)
{
	struct lfp_udp_key key = {};
	struct lfp_udp_val *v;
	struct lfp_state *st;
	int r;

	key.cookie = cookie;
	__builtin_memcpy(key.raddr, raddr, 16);
	key.rport = rport;
	v = bpf_map_lookup_elem(&lfp_udp_cache, &key);
	if (!v)
		return UDPC_MISS;
	st = state_get();
	r = v->verdict;
	if (st && v->gen == st->gen)
		r |= UDPC_FRESH;
	if (v->pending_event)
		r |= UDPC_PENDING;
	return r;
}

/* Store a decision; @pvp = rport << 16 | verdict | UDPC_PENDING. */
static __always_inline int udp_cache_put(__u64 cookie, const __u8 *raddr, __u64 gen,
					 __u64 filter_id, __u32 pvp, __u32 cflags)
{
	struct lfp_udp_key key = {};
	struct lfp_udp_val val = {};

	key.cookie = cookie;
	__builtin_memcpy(key.raddr, raddr, 16);
	key.rport = pvp >> 16;
	val.gen = gen;
	val.filter_id = filter_id;
	val.verdict = pvp & 0xff;
	val.pending_event = !!(pvp & UDPC_PENDING);
	val.cflags = cflags;
	return bpf_map_update_elem(&lfp_udp_cache, &key, &val, BPF_ANY);
}

/*
 * sendmsg4/6: unconnected UDP. Decided once per (socket, remote) and cached
 * with the policy generation; a stale generation classifies again (flagged
 * reauthorize). The socket storage keeps the identity of the socket's first
 * user for the egress hook, which runs where `current` means nothing.
 */
static __always_inline int sendmsg_classify(struct bpf_sock_addr *ctx, bool v6, struct scratch *sc,
					    __u64 cookie, int c)
{
	struct lfp_eval_in *in = &sc->in;
	struct lfp_eval_out *out = &sc->out;
	bool was_pending = c != UDPC_MISS && (c & UDPC_PENDING);
	bool pending;
	struct lfp_sk *s;
	int allow;
	__u64 fid;

	in_rest(in, &sc->tid, sc->comm, ctx);
	redir_in(ctx, in);
	if (!v6 && ctx->msg_src_ip4)
		addr_v4mapped(in->laddr, ctx->msg_src_ip4);
	if (c != UDPC_MISS) {
		in->flags |= LFP_CF_REAUTHORIZE;
		stat_inc(LFP_STAT_REAUTH);
	}
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	if (out->verdict == LFP_V_PEND)
		allow = pend_hold(ctx, in, out, sc->gen, sc->comm, LFP_PEND_FROM_SENDMSG);
	fid = out_filter_id(out);

	s = bpf_sk_storage_get(&lfp_sk_store, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s) {
		stat_inc(LFP_STAT_ERRORS);
		return allow;
	}
	if (!s->pid) {
		ident_to_sk(s, in, sc->comm);
		s->proto = in->proto;
	}

	/* A permitted datagram's event waits for its packet (real local
	 * address); udp_pending lets egress skip sockets with nothing pending. */
	pending = allow && event_wanted(out);
	if (pending && !lfp_late_udp) {
		event_classify(s, out->verdict, fid, in->flags, in->laddr, in->lport, in->raddr,
			       in->rport, cookie);
		pending = false;
	}
	if (udp_cache_put(cookie, in->raddr, sc->gen, fid,
			  (__u32)in->rport << 16 | out->verdict | (pending ? UDPC_PENDING : 0),
			  in->flags)) {
		/* not cached: classified again next time, nothing pending */
		stat_inc(LFP_STAT_ERRORS);
		if (was_pending && s->udp_pending)
			__sync_fetch_and_add(&s->udp_pending, -1);
		if (pending)
			event_classify(s, out->verdict, fid, in->flags, in->laddr, in->lport,
				       in->raddr, in->rport, cookie);
		return allow;
	}
	/* a stale entry may have been pending already: count changes only */
	if (pending && !was_pending)
		__sync_fetch_and_add(&s->udp_pending, 1);
	else if (!pending && was_pending && s->udp_pending)
		__sync_fetch_and_add(&s->udp_pending, -1);
	if (!allow)
		event_classify(s, out->verdict, fid, in->flags, in->laddr, in->lport, in->raddr,
			       in->rport, cookie);
	return allow;
}

static __always_inline int ale_sendmsg(struct bpf_sock_addr *ctx, bool v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct scratch *sc;
	int c, allow;

	/* the socket's first send follows its implicit bind: resource-assignment
	 * first (a socket with a record is not new) */
	if (ale_layer_used(LFP_LAYER_RESOURCE_ASSIGNMENT) && !ale_implicit_bind(ctx, 1))
		return 0;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in_remote(&sc->in, ctx, v6);
	c = udp_cache_get(cookie, sc->in.raddr, sc->in.rport);
	if (c != UDPC_MISS && (c & UDPC_FRESH)) {
		stat_inc(LFP_STAT_UDP_CACHE_HIT);
		/* a cached pend: its record holds the packet until lfpd completes it */
		allow = verdict_allows(c & 0xff) || (c & 0xff) == LFP_V_PEND;
	} else {
		allow = sendmsg_classify(ctx, v6, sc, cookie, c);
	}
	scratch_put(sc);
	return allow;
}

SEC("cgroup/sendmsg4")
int lfp_sendmsg4(struct bpf_sock_addr *ctx)
{
	return ale_sendmsg(ctx, false);
}

SEC("cgroup/sendmsg6")
int lfp_sendmsg6(struct bpf_sock_addr *ctx)
{
	return ale_sendmsg(ctx, true);
}

/* The local end sock_ops knows at TCP_CONNECT_CB, in the ABI's 16 bytes. */
static __always_inline void sockops_laddr(struct bpf_sock_ops *ctx, __u8 *laddr)
{
	if (ctx->family == AF_INET6) {
		/* ctx fields need loads at constant offsets from ctx itself;
		 * the barriers keep clang from folding the four into pointer
		 * arithmetic, which the verifier refuses */
		__u32 w0 = ctx->local_ip6[0], w1, w2, w3;

		barrier_var(w0);
		w1 = ctx->local_ip6[1];
		barrier_var(w1);
		w2 = ctx->local_ip6[2];
		barrier_var(w2);
		w3 = ctx->local_ip6[3];
		barrier_var(w3);
		addr_v6(laddr, w0, w1, w2, w3);
	} else {
		__u32 w = ctx->local_ip4;

		barrier_var(w);
		addr_v4mapped(laddr, w);
	}
}

/*
 * auth-listen without BPF LSM (this kernel refuses LSM programs): sock_ops
 * TCP_LISTEN_CB, which the kernel calls unconditionally (no callback flags)
 * from listen() once the socket is listening, in the caller's context. It
 * cannot fail listen(), so a listen the policy does not permit marks the
 * listener in socket storage and the ingress hook drops every SYN to it: no
 * connection is ever accepted. A later permitted listen() of the same socket
 * (after a disconnect) clears the mark. A block is always reported; a
 * permitted listen only when the deciding filter has the `log` flag.
 * Without a scratch slot the listener is marked too: fail closed, as connect.
 */
static __always_inline void sockops_listen(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct scratch *sc;
	struct lfp_event *e;
	struct lfp_sk *s;
	int allow;

	if (!sk)
		return;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (s)
			s->listen_block = 1;
		return;
	}
	in = &sc->in;
	out = &sc->out;
	in->layer = LFP_LAYER_AUTH_LISTEN;
	in->direction = LFP_DIR_INBOUND;
	in->proto = IPPROTO_TCP;
	sockops_laddr(ctx, in->laddr);
	in->lport = ctx->local_port;
	in->ipver = ctx->family == AF_INET6 && !addr_is_v4mapped(in->laddr) ? 6 : 4;
	in->ifindex = sk->bound_dev_if;
	if (addr_is_loopback(in->laddr))
		in->flags |= LFP_CF_LOOPBACK;
	ident_current(in, &sc->tid, sc->comm);
	lfp_classify(in, out, &sc->gen);
	allow = verdict_allows(out->verdict);
	/* the owner is kept either way: auth-recv-accept judges the listener's
	 * SYNs in softirq context, where this is the only way to know it */
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s) {
		ident_to_sk(s, in, sc->comm);
		s->gen = sc->gen;
		s->filter_id = out_filter_id(out);
		s->verdict = out->verdict;
		s->proto = IPPROTO_TCP;
		s->cflags = in->flags;
		s->listen_block = !allow;
	} else if (!allow) {
		/* the listener cannot be marked: its SYNs would pass */
		stat_inc(LFP_STAT_ERRORS);
	}
	pend_listen_note(s, in, bpf_get_socket_cookie(ctx));
	/* a permit only when its filter says `log`: not the global switch,
	 * which is about connections (a server's listens are not its clients') */
	if (!allow || out->notify || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG))) {
		/* no remote: the unspecified address of the listener's family, built
		 * in the input's oaddr (unused at this layer, classified already)
		 * rather than on the stack the evaluator's frames need */
		__builtin_memset(in->oaddr, 0, 16);
		if (in->ipver == 4)
			addr_v4mapped(in->oaddr, 0);
		e = event_flow(out->verdict, out_filter_id(out), in->flags, IPPROTO_TCP, in->laddr,
			       in->lport, in->oaddr, 0, bpf_get_socket_cookie(ctx));
		if (e) {
			e->layer = LFP_LAYER_AUTH_LISTEN;
			e->ipver = in->ipver;
			event_who_in(e, in, sc->comm);
			ring_submit(e);
		}
	}
	scratch_put(sc);
}

#include "reauth_udp.bpf.h"
#include "ale_accept.bpf.h"
#include "ale_resource.bpf.h"
#include "ale_flow.bpf.h"
#include "ale_bind.bpf.h"
#include "stream.bpf.h"

/*
 * sock_ops: TCP_CONNECT_CB runs after the kernel chose the source address
 * and port, just before the SYN: the moment to emit a permitted connect's
 * event with the seed's `Local=`. The connect hook left it under this
 * thread's id (tcp_handover), or, for a socket that may defer its SYN, in
 * socket storage. The kernel calls it without any callback flags set.
 */
SEC("sockops")
int lfp_sockops(struct bpf_sock_ops *ctx)
{
	struct tcp_handover *h;
	struct task_struct *t;
	struct lfp_event *e;
	struct bpf_sock *sk;
	__u8 laddr[16];
	struct lfp_sk *s;
	__u64 cookie;
	__u32 tid;

	if (ctx->op == BPF_SOCK_OPS_TCP_LISTEN_CB) {
		sockops_listen(ctx);
		return 1;
	}
	if (ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB ||
	    ctx->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB || ctx->op == BPF_SOCK_OPS_STATE_CB) {
		ale_flow_cb(ctx);
		return 1;
	}
	if (ctx->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	sk = ctx->sk;
	if (!sk)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	t = bpf_get_current_task_btf();
	tid = t->pid;
	h = handover_slot(tid);
	if (h && h->owner == tid && h->cookie == cookie) {
		/* the flow's record for re-authorization after a commit */
		s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (s) {
			s->cgroup = h->cgroup;
			s->exe_dev = h->exe_dev;
			s->exe_ino = h->exe_ino;
			s->pid = h->pid;
			s->uid = h->uid;
			s->gid = h->gid;
			__builtin_memcpy(s->comm, h->comm, sizeof(s->comm));
			s->gen = h->gen;
			s->filter_id = h->filter_id;
			s->verdict = h->verdict;
			s->proto = IPPROTO_TCP;
			__builtin_memcpy(s->raddr, h->raddr, 16);
			s->rport = h->rport;
			s->cflags = h->cflags;
			s->pending_event = 0;
		} else {
			stat_inc(LFP_STAT_ERRORS); /* this flow cannot be re-authorized */
		}
		e = NULL;
		if (h->want) {
			sockops_laddr(ctx, laddr);
			e = event_flow(h->verdict, h->filter_id, h->cflags, IPPROTO_TCP, laddr,
				       ctx->local_port, h->raddr, h->rport, cookie);
		}
		if (e) {
			e->pid = h->pid;
			e->uid = h->uid;
			e->gid = h->gid;
			e->cgroup = h->cgroup;
			e->exe_dev = h->exe_dev;
			e->exe_ino = h->exe_ino;
			__builtin_memcpy(e->comm, h->comm, sizeof(e->comm));
			redir_event_orig(e, sk);
		}
		/* free the slot only once it is read: another thread may claim it */
		__sync_lock_test_and_set(&h->owner, 0);
		if (e)
			ring_submit(e);
		return 1;
	}
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (!s || !s->pending_event)
		return 1;
	s->pending_event = 0;
	sockops_laddr(ctx, laddr);
	event_classify(s, s->verdict, s->filter_id, s->cflags, laddr, ctx->local_port, s->raddr,
		       s->rport, cookie);
	return 1;
}

#include "packet.bpf.h"
#include "netfilter.bpf.h"
#include "discard.bpf.h"
#include "pend_in.bpf.h"

/* IPv4 / IPv6 + UDP header fields the egress hook needs. */
struct pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
};

static __always_inline int pkt_parse_udp(struct __sk_buff *skb, struct pkt *p)
{
	struct udphdr uh;
	__u32 off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		/* later fragments carry no UDP header */
		if (ih.protocol != IPPROTO_UDP || (ih.frag_off & bpf_htons(0x1fff)))
			return -1;
		addr_v4mapped(p->saddr, ih.saddr);
		addr_v4mapped(p->daddr, ih.daddr);
		off = ih.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;

		if (bpf_skb_load_bytes(skb, 0, &ih, sizeof(ih)))
			return -1;
		/* the UDP stack adds no extension headers of its own */
		if (ih.nexthdr != IPPROTO_UDP)
			return -1;
		__builtin_memcpy(p->saddr, &ih.saddr, 16);
		__builtin_memcpy(p->daddr, &ih.daddr, 16);
		off = sizeof(ih);
	} else {
		return -1;
	}
	if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)))
		return -1;
	p->sport = bpf_ntohs(uh.source);
	p->dport = bpf_ntohs(uh.dest);
	return 0;
}

/*
 * cgroup_skb egress: the first packet of a permitted UDP flow carries the
 * real local address and port; emit the event that connect/sendmsg left
 * pending. Sockets with nothing pending cost a storage lookup and no map
 * work. Drops only the datagrams of a connected UDP socket whose remote a
 * re-authorization blocked (send() fails with EPERM).
 */
SEC("cgroup_skb/egress")
int lfp_egress(struct __sk_buff *skb)
{
	struct lfp_udp_key key = {};
	struct lfp_udp_val *val;
	struct bpf_sock *sk;
	struct lfp_sk *s;
	struct pkt p = {};
	__u64 cookie;

	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_UDP)
		return 1;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (!s || (!s->pending_event && !s->udp_pending && !s->udp_block))
		return 1;
	if (pkt_parse_udp(skb, &p))
		return 1;
	/* a connected socket whose remote a re-authorization blocked (reauth_udp.bpf.h) */
	if (s->udp_block && !reauth_udp_tx(sk, s, p.daddr, p.dport))
		return 0;
	cookie = bpf_get_socket_cookie(skb);

	if (s->pending_event) {
		/* connected UDP: one remote, the verdict is in the storage */
		s->pending_event = 0;
		event_classify(s, s->verdict, s->filter_id, s->cflags, p.saddr, p.sport, p.daddr,
			       p.dport, cookie);
		return 1;
	}
	key.cookie = cookie;
	__builtin_memcpy(key.raddr, p.daddr, 16);
	key.rport = p.dport;
	val = bpf_map_lookup_elem(&lfp_udp_cache, &key);
	if (!val || !val->pending_event)
		return 1;
	val->pending_event = 0;
	if (s->udp_pending)
		__sync_fetch_and_add(&s->udp_pending, -1);
	event_classify(s, val->verdict, val->filter_id, val->cflags, p.saddr, p.sport, p.daddr,
		       p.dport, cookie);
	return 1;
}

/*
 * cgroup_skb ingress: the other half of auth-listen. For a segment to a
 * listener the kernel runs this with skb->sk = the listener (the socket the
 * lookup found), so only TCP segments to a local listener cost a storage
 * lookup; a marked listener's SYNs (SYN without ACK) are dropped, so no
 * connection to it is ever accepted. No event per SYN: the listen() that
 * was not permitted reported once.
 */
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

SEC("cgroup_skb/ingress")
int lfp_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	struct lfp_sk *s;
	__u32 off;
	__u8 fl;

	if (!ale_accept(skb))
		return 0;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP || sk->state != BPF_TCP_LISTEN)
		return 1;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	if (!s || !s->listen_block)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		__u8 vihl;

		if (bpf_skb_load_bytes(skb, 0, &vihl, 1))
			return 1;
		off = (vihl & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		__u8 nh;

		/* extension headers are not walked: a segment behind one is
		 * dropped whatever its flags (fail closed, never a SYN through) */
		if (bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, nexthdr), &nh, 1))
			return 1;
		if (nh != IPPROTO_TCP)
			return 0;
		off = sizeof(struct ipv6hdr);
	} else {
		return 1;
	}
	/* flags: byte 13 of the TCP header */
	if (bpf_skb_load_bytes(skb, off + 13, &fl, 1))
		return 1;
	return (fl & TCP_FLAG_SYN) && !(fl & TCP_FLAG_ACK) ? 0 : 1;
}

/*
 * Exec in scope: report each executable identity once, so lfpd can name
 * (dev, ino) in events without reading /proc on the hot path. The hook is
 * global; only tasks under the scope cgroup count.
 *
 * A raw tracepoint, attached by name: a classic tracepoint needs tracefs
 * mounted to find its id (it is not, here), and the trampoline-based
 * kinds are refused on some kernels. Arguments of sched_process_exec:
 * (struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm), and
 * p is current.
 */
SEC("raw_tp/sched_process_exec")
int lfp_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct task_struct *t;
	struct lfp_exec_event *e;
	struct lfp_exe_id key;
	struct inode *ino;
	__u8 one = 1;

	if (bpf_current_task_under_cgroup(&lfp_scope, 0) != 1)
		return 0;
	t = (struct task_struct *)bpf_get_current_task();
	ino = BPF_CORE_READ(t, mm, exe_file, f_inode);
	key.ino = BPF_CORE_READ(ino, i_ino);
	key.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	if (!key.ino)
		return 0;
	/* NOEXIST: of two racing execs of a new binary, one reports it */
	if (bpf_map_update_elem(&lfp_exec_seen, &key, &one, BPF_NOEXIST))
		return 0;

	e = bpf_ringbuf_reserve(&lfp_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LFP_STAT_EVENT_DROPS);
		/* forget it, so the next exec of this binary reports it */
		bpf_map_delete_elem(&lfp_exec_seen, &key);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = LFP_EV_EXEC;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->exe_dev = key.dev;
	e->exe_ino = key.ino;
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				      BPF_CORE_READ(bprm, filename)) < 0)
		e->filename[0] = 0;
	ring_submit(e);
	return 0;
}

/*
 * Re-authorization of TCP flows after a commit (iter/tcp). lfpd runs this
 * iterator right after it published a generation, in its own network
 * namespace: the kernel walks every TCP socket of that namespace, and this
 * program
 *  - leaves alone every socket whose cgroup is not the scope cgroup or one
 *    of its descendants (the socket's own cgroup, compared by id at every
 *    level of its ancestry);
 *  - leaves alone flows without a record of a permitted classification
 *    (flows older than lfp, sockets whose record could not be stored) and
 *    records already of this generation; a listener without a record is
 *    older than lfpd and gets one (reauth_stamp, reauth_udp.bpf.h);
 *  - classifies the rest again with the `reauthorize` flag, as the flow's
 *    connect (or its SYN, for an accepted flow) was classified (the owner
 *    recorded then, the remote it asked for), with the local end the
 *    socket has now;
 *  - ends each flow the new generation does not permit with
 *    bpf_sock_destroy() (the application sees ECONNABORTED) and reports it
 *    (verdict, deciding filter, flags reauthorize);
 *  - classifies listeners again at auth-listen, blocked or not, and moves
 *    their SYN-drop mark to the new verdict (reauth_listener), with an
 *    event when it changes. A listener is never destroyed.
 * Re-authorization never pends: anything but permit ends the flow.
 */
#define TCP_ESTABLISHED_ 1
#define TCP_CLOSE_	 7
#define TCP_LISTEN_	 10

#define REAUTH_CG_LEVELS 32 /* ancestors looked at; a scope further up is never matched */

/*
 * The socket's cgroup, the scope check and the evaluator's cgroup input.
 * The evaluator walks the *current* task's ancestors (bpf_get_current_
 * ancestor_cgroup_id), and current is lfpd here: so the walk happens here,
 * over the socket's cgroup and its parents, and the evaluator gets the
 * deepest of them some filter labels (or the socket's own) with level 0,
 * which it looks up without walking: the same label the walk at connect
 * gave. The hooks' code is untouched (a branch in the evaluator's walk
 * costs every connect). @return true when @scope is the socket's cgroup or
 * one of its ancestors.
 */
static __always_inline bool reauth_cgroup(struct sock *sk, struct lfp_eval_in *in, __u64 scope,
					  __u64 gen, __u64 *own)
{
	struct lfp_hash_key key = { .field = LFP_F_CGROUP };
	struct cgroup *cg = NULL;
	bool in_scope = false, labelled = false;

	*own = 0;
	if (!scope || bpf_probe_read_kernel(&cg, sizeof(cg), &sk->sk_cgrp_data.cgroup) || !cg)
		return false;
	*own = BPF_CORE_READ(cg, kn, id);
	in->cgroup = *own;
	in->cgroup_level = 0;
	for (__u32 i = 0; i < REAUTH_CG_LEVELS && cg; i++) {
		__u64 id = BPF_CORE_READ(cg, kn, id);

		if (id == scope)
			in_scope = true;
		if (!labelled && i < LFP_CGROUP_WALK_MAX && id && gen) {
			key.a = id;
			if (lfp_env_lookup(&lfp_o_lbl_hash, gen & 1, &key)) {
				in->cgroup = id;
				labelled = true;
			}
		}
		/* struct cgroup starts with its css: the parent css is the parent cgroup */
		cg = (struct cgroup *)BPF_CORE_READ(cg, self.parent);
	}
	return in_scope;
}

/*
 * A listener under the new generation (auth-listen, as at listen(): the
 * owner stamped then, the local end it listens on, no remote). WFP keeps a
 * listener the policy no longer permits and refuses its new connections:
 * here the mark ingress drops SYNs by follows the verdict, both ways, and
 * already accepted connections are left to their own re-authorization.
 * @return whether the listener's mark changed (then an event is due).
 */
static __always_inline bool reauth_listener(struct lfp_sk *s, const struct scratch *sc)
{
	bool block = !verdict_allows(sc->out.verdict), changed = s->listen_block != block;

	s->listen_block = block;
	s->verdict = sc->out.verdict;
	return changed;
}

SEC("iter/tcp")
int lfp_reauth_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct lfp_state *st;
	struct scratch *sc;
	struct tcp_sock *tp;
	struct lfp_event *e;
	struct sock *sk;
	struct lfp_sk *s;
	__u64 gen, own_cg;
	bool listener;
	__u8 state;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait sockets */
	sk = (struct sock *)tp;
	state = sk->__sk_common.skc_state;
	if (state == TCP_CLOSE_)
		return 0;
	listener = state == TCP_LISTEN_;
	st = state_get();
	if (!st)
		return 0;
	gen = st->gen;
	s = bpf_sk_storage_get(&lfp_sk_store, sk, 0, 0);
	/* a listener without a record predates lfpd: stamped below. A flow
	 * without one is left alone (which end opened it is not known) */
	if (!s && !listener)
		return 0;
	if (s && (s->proto != IPPROTO_TCP || s->gen == gen))
		return 0;
	/* a flow is re-authorized while permitted (a blocked one never got
	 * going); a listener either way: a blocked one may be permitted now */
	if (s && !listener && !pend_reauth_candidate(s->verdict))
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
		s = reauth_stamp(sk, IPPROTO_TCP, own_cg);
		if (!s)
			goto out;
	}
	in->direction = LFP_DIR_INBOUND;
	if (listener)
		in->layer = LFP_LAYER_AUTH_LISTEN;
	else if (s->inbound)
		/* an accepted flow: auth-recv-accept, as its SYN was classified */
		in->layer = LFP_LAYER_AUTH_RECV_ACCEPT;
	else {
		in->layer = LFP_LAYER_AUTH_CONNECT;
		in->direction = LFP_DIR_OUTBOUND;
	}
	in->proto = IPPROTO_TCP;
	in->lport = sk->__sk_common.skc_num;
	in->ifindex = sk->__sk_common.skc_bound_dev_if;
	/* an IPv6 socket's local end is in the v6 field, v4-mapped for IPv4 flows */
	if (sk->__sk_common.skc_family == AF_INET)
		addr_v4mapped(in->laddr, sk->__sk_common.skc_rcv_saddr);
	else
		__builtin_memcpy(in->laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
	if (listener) {
		/* as the listen callback saw it: no remote, ipver from the local end */
		in->ipver = sk->__sk_common.skc_family == AF_INET6 && !addr_is_v4mapped(in->laddr)
				    ? 6
				    : 4;
		in->flags = LFP_CF_REAUTHORIZE;
		if (addr_is_loopback(in->laddr))
			in->flags |= LFP_CF_LOOPBACK;
	} else {
		__builtin_memcpy(in->raddr, s->raddr, 16);
		in->rport = s->rport;
		in->ipver = addr_is_v4mapped(in->raddr) ? 4 : 6;
		in->flags = (s->cflags & ~LFP_CF_REAUTHORIZE) | LFP_CF_REAUTHORIZE;
		if (s->inbound)
			in->ifindex = s->ifindex; /* the arrival interface, as its SYN was judged */
	}
	in->pid = s->pid;
	in->uid = s->uid;
	in->gid = s->gid;
	in->app_dev = s->exe_dev;
	in->app_ino = s->exe_ino;
	lfp_classify(in, out, &sc->gen);
	stat_inc(LFP_STAT_REAUTH);
	s->gen = sc->gen;
	s->filter_id = out_filter_id(out);
	if (listener) {
		bool changed = reauth_listener(s, sc);

		/* the INPUT match's entry (bpf/pend_in.bpf.h) follows, or is made */
		pend_listen_walked(s, in, bpf_get_socket_cookie(sk), sk);
		if (!changed)
			goto out;
		/* no remote: the unspecified address of the listener's family */
		if (in->ipver == 4)
			addr_v4mapped(in->raddr, 0);
		e = event_flow(out->verdict, s->filter_id, in->flags, IPPROTO_TCP, in->laddr,
			       in->lport, in->raddr, 0, bpf_get_socket_cookie(sk));
		goto event;
	}
	if (verdict_allows(out->verdict) || pend_reauth_keeps(s->verdict, out->verdict))
		goto out;
	s->verdict = out->verdict;
	if (bpf_sock_destroy(skc)) {
		stat_inc(LFP_STAT_ERRORS);
		goto out;
	}
	stat_inc(LFP_STAT_REAUTH_ENDED);
	e = event_flow(out->verdict, s->filter_id, in->flags, IPPROTO_TCP, in->laddr, in->lport,
		       in->raddr, in->rport, bpf_get_socket_cookie(sk));
event:
	if (e) {
		e->layer = in->layer;
		e->ipver = in->ipver;
		event_who_sk(e, s);
		e->cgroup = own_cg;
		ring_submit(e);
	}
out:
	scratch_put(sc);
	return 0;
}

/* resource-assignment (ale_resource.bpf.h): explicit binds and the
 * creation of raw and ICMP sockets; a block fails the call with EPERM */
SEC("cgroup/post_bind4")
int lfp_post_bind4(struct bpf_sock *sk)
{
	return ale_resource(sk, ALE_RES_BIND4, bpf_get_socket_cookie(sk));
}

SEC("cgroup/post_bind6")
int lfp_post_bind6(struct bpf_sock *sk)
{
	return ale_resource(sk, ALE_RES_BIND6, bpf_get_socket_cookie(sk));
}

/* bind-redirect (ale_bind.bpf.h): `redirect to H:P` rewrites a bind's local end */
SEC("cgroup/bind4")
int lfp_bind4(struct bpf_sock_addr *ctx)
{
	return ale_bind_redirect(ctx, false);
}

SEC("cgroup/bind6")
int lfp_bind6(struct bpf_sock_addr *ctx)
{
	return ale_bind_redirect(ctx, true);
}

/* endpoint-closure of UDP sockets (ale_flow.bpf.h) */
SEC("cgroup/sock_release")
int lfp_sock_release(struct bpf_sock *sk)
{
	pend_listen_forget(bpf_get_socket_cookie(sk));
	return ale_sock_release(sk);
}

SEC("cgroup/sock_create")
int lfp_sock_create(struct bpf_sock *sk)
{
	return ale_sock_create(sk);
}
