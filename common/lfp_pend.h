/* SPDX-License-Identifier: MIT */
/*
 * Pend and complete (docs/callouts.md): the maps shared by the BPF hooks
 * (bpf/pend.bpf.h) and lfpd (daemon/pend.c). Compiled by cc and clang -target bpf.
 *
 * A connect or sendmsg whose verdict is pend is let through the syscall with
 * LFP_PEND_MARK or'ed into the socket's mark and a record in lfp_pend keyed by
 * (socket cookie, remote, protocol). lfpd's iptables rule queues marked packets
 * that lfp_pend_match (an xt_bpf socket filter) says are still undecided; lfpd
 * answers from the queue and then deletes the record (permit: later packets
 * pass) or marks it blocked and ends the socket.
 *
 * Inbound (auth-recv-accept), the ingress hook runs after netfilter's INPUT,
 * so the INPUT match lfp_pend_in_match decides whether to hold: for a SYN or
 * datagram to a scope listener (lfp_pend_listen, written at listen/bind) it
 * classifies the packet itself and, on pend, records the flow in lfp_pend_in
 * by 5-tuple and queues it; the packet lfpd lets on finds the record
 * permitted at ingress. A blocked one is repeated with LFP_PEND_REJECT_MARK
 * and rejected by lfpd's chain (TCP reset, ICMP port unreachable).
 */
#pragma once

#include "lfp_abi.h"

/* The socket mark bit of a pended flow (the iptables rule tests it first). */
#define LFP_PEND_MARK 0x10000000u

#define LFP_PEND_MAX 65536 /* records; a full table makes the hook fail closed */

/* The mark lfpd gives a blocked inbound held packet with NF_REPEAT: the first
 * rules of its LFP_PEND_IN chain reject packets carrying it. */
#define LFP_PEND_REJECT_MARK 0x20000000u

#define LFP_PEND_LISTEN_MAX 16384 /* scope listeners known to the INPUT match (LRU) */

enum lfp_pend_state {
	LFP_PEND_WAITING, /* held: packets go to lfpd's queue */
	LFP_PEND_PERMIT,  /* completed: packets pass (lfpd deletes the record) */
	LFP_PEND_BLOCK,	  /* completed: packets go to the queue, which drops them */
};

/* origin of the pend (which cache lfpd completes) */
#define LFP_PEND_FROM_CONNECT 0
#define LFP_PEND_FROM_SENDMSG 1
#define LFP_PEND_FROM_ACCEPT  2 /* auth-recv-accept: lfp_pend_in, keyed by the 5-tuple */

struct lfp_pend_key {
	__u64 cookie;
	__u8 raddr[16]; /* network order, IPv4 v4-mapped */
	__u16 rport;	/* host order */
	__u8 proto;
	__u8 pad[5];
};

struct lfp_pend_val {
	__u64 ts_ns; /* bpf_ktime_get_ns() at the hook */
	__u64 filter_id;
	__u64 gen;
	__u64 cgroup;
	__u64 exe_dev;
	__u64 exe_ino;
	__u32 pid;
	__u32 uid;
	__u32 gid;
	__u32 cflags;
	__u8 state; /* enum lfp_pend_state */
	__u8 from;  /* LFP_PEND_FROM_* */
	__u8 ipver;
	__u8 have_local; /* laddr/lport filled by the first queued packet */
	__u16 lport;
	__u8 pad[2];
	__u8 laddr[16];
	char comm[16];
	__u64 cookie; /* LFP_PEND_FROM_ACCEPT: the receiving socket (its UDP cache entry) */
};

/* lfp_pend_tuple: the queued packet's 5-tuple -> its record (lfpd sees only the packet) */
struct lfp_pend_tuple {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 proto;
	__u8 pad[3];
};

/* lfp_pend_listen: a scope listener (TCP listen, explicit UDP bind) by local end */
struct lfp_pend_listen_key {
	__u8 laddr[16]; /* network order, IPv4 v4-mapped; :: and ::ffff:0.0.0.0 are wildcards */
	__u16 lport;	/* host order */
	__u8 proto;
	__u8 pad[5];
};

struct lfp_pend_listener {
	struct lfp_sk owner;	       /* the stamp ingress reads from socket storage */
	__u64 cookie;		       /* the listening socket */
	__u64 cg[LFP_CGROUP_WALK_MAX]; /* its cgroup, then the ancestors up (0: none) */
	__u32 shared; /* another socket has the same key: the match leaves it to ingress */
	__u32 pad;
};

#ifndef __bpf__
_Static_assert(sizeof(struct lfp_pend_listen_key) == 24, "pend listen key");
_Static_assert(sizeof(struct lfp_pend_key) == 32, "pend key");
_Static_assert(sizeof(struct lfp_pend_val) == 112, "pend val");
_Static_assert(sizeof(struct lfp_pend_tuple) == 40, "pend tuple");
#endif
