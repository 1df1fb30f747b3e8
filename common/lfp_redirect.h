/* SPDX-License-Identifier: MIT */
/*
 * The redirect ABI between lfpd and its BPF programs (docs/redirect.md).
 *
 * Targets. A filter whose action is `redirect` carries a target index
 * (lfp_kfilter.target). The table lfp_redir_targets has two halves, one per
 * generation slot, like the per-generation inner maps: lfpd writes half
 * (gen & 1) of the generation it is about to publish, and a classification
 * reads entry LFP_REDIR_TARGET_IDX(gen, target) of the generation it
 * classified with. The table is generic: a target is an address to rewrite
 * to (per family) plus what the redirector must do with the flow, so
 * bind-redirect (`redirect to H:P`) can use the same entries.
 *
 * Original destinations. connect-redirect keeps the original destination of
 * a redirected socket in socket storage (lfp_redir_sk: getpeername, recvmsg
 * and auth-connect read it there). For flows that go through lfp's
 * redirector the redirector must find it from what it sees on accept: the
 * application socket's address and port. The kernel picks those only after
 * connect-redirect ran, so sock_ops (TCP_CONNECT_CB, just before the SYN)
 * copies the record into lfp_redir_orig under that key. The redirector takes
 * it out (lookup and delete) on accept. LRU: records of connects that never
 * reached the redirector age out.
 */
#pragma once

#define LFP_REDIR_TARGETS 256 /* per generation half */
#define LFP_REDIR_TARGET_IDX(gen, t) ((__u32)((gen)&1) * LFP_REDIR_TARGETS + (t))
#define LFP_REDIR_ORIG_MAX 65536

/* lfp_redir_target.flags */
#define LFP_RT_HAS4	   (1u << 0) /* addr4/port4 valid: IPv4 flows can be rewritten */
#define LFP_RT_HAS6	   (1u << 1) /* addr6/port6 valid: IPv6 flows can be rewritten */
#define LFP_RT_REDIRECTOR (1u << 2) /* lfp's redirector: record the original for it */

struct lfp_redir_target {
	__u8 addr4[16]; /* v4-mapped */
	__u8 addr6[16]; /* IPv6 (a v4-mapped one works from dual-stack sockets) */
	__u16 port4;	/* host order */
	__u16 port6;
	__u32 flags;	/* LFP_RT_* */
	__u32 upstream; /* the redirector's upstream id (stable while lfpd runs) */
	__u16 uport;	/* UDP through the redirector: its first relay port ... */
	__u16 uslots;	/* ... and how many follow (0: this target carries no UDP) */
};

/* Socket storage of a redirected socket. */
struct lfp_redir_sk {
	__u8 oaddr[16]; /* original destination (v4-mapped for IPv4) */
	__u8 naddr[16]; /* what it was rewritten to */
	__u64 filter_id;
	__u32 upstream;
	__u16 oport;	 /* host order */
	__u16 nport;	 /* host order */
	__u8 redirected; /* 1 while the socket's current destination is a rewrite */
	__u8 via;	 /* 1: through the redirector (record for it at TCP_CONNECT_CB) */
	__u8 next_slot;	 /* UDP through the redirector: the relay slot the next new peer gets */
	__u8 pad[5];
	__u64 exe_dev; /* the executable that connected (for the redirector's events) */
	__u64 exe_ino;
};

/* lfp_redir_orig key: the application socket's end as the redirector sees it */
struct lfp_redir_key {
	__u8 addr[16]; /* v4-mapped for IPv4 */
	__u16 port;    /* host order */
	__u8 proto;
	__u8 pad;
	__u16 relay; /* UDP: the relay port the datagrams go to (one per peer); TCP: 0 */
	__u8 pad2[2];
};

struct lfp_redir_orig {
	__u8 oaddr[16];
	__u64 filter_id;
	__u64 cookie; /* the application socket */
	__u32 upstream;
	__u32 pid;
	__u32 uid;
	__u16 oport;
	__u8 pad[2];
	__u64 exe_dev;
	__u64 exe_ino;
};

/*
 * Unconnected UDP: one socket may send to many peers, each datagram
 * classified on its own. lfp_redir_udp maps (socket, rewritten destination)
 * to the original one, so recvmsg can show each reply as coming from the
 * peer the application sent to. LRU: entries of closed sockets age out.
 */
struct lfp_redir_udp_key {
	__u64 cookie;
	__u8 naddr[16];
	__u16 nport;
	__u8 pad[6];
};

struct lfp_redir_udp_val {
	__u8 oaddr[16];
	__u16 oport;
	__u8 recorded; /* relay: lfp_redir_orig has this (socket, relay port) already */
	__u8 pad;
	__u32 upstream;
	__u64 filter_id;
	__u32 pid;
	__u32 uid;
	__u64 exe_dev;
	__u64 exe_ino;
};

/*
 * UDP through the redirector: each (socket, original destination) gets a
 * relay slot, i.e. its own relay port, so the redirector can tell one
 * socket's peers apart (it sees only the socket's address and port and the
 * port a datagram arrived on). lfp_redir_udp_slot: (socket cookie, original
 * address and port, in the naddr/nport fields of the key) → slot. The first
 * datagram to a relay port records (socket's address, port, relay port) →
 * original in lfp_redir_orig, from cgroup_skb egress, where the kernel has
 * chosen the socket's address and port.
 */
#define LFP_REDIR_UDP_SLOTS 32

#define LFP_REDIR_UDP_MAX 65536

/* lfp_redir_cfg[0]: the loop guard. Sockets of this process are never redirected
 * (they are the redirector's). */
struct lfp_redir_cfg {
	__u32 tgid;
	__u32 pad;
};

#ifndef __bpf__
_Static_assert(sizeof(struct lfp_redir_target) == 48, "redirect target");
_Static_assert(sizeof(struct lfp_redir_sk) == 72, "redirect socket storage");
_Static_assert(sizeof(struct lfp_redir_key) == 24, "redirect key");
_Static_assert(sizeof(struct lfp_redir_orig) == 64, "redirect record");
_Static_assert(sizeof(struct lfp_redir_udp_key) == 32, "redirect udp key");
_Static_assert(sizeof(struct lfp_redir_udp_val) == 56, "redirect udp value");
#endif
