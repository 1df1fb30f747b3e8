/* SPDX-License-Identifier: MIT */
/*
 * The ABI between lfpd and its BPF programs: map keys and values, events,
 * socket storage. Fixed-width fields, explicit padding, size asserts.
 *
 * Integer types: the includer provides __u8.. __u64 (vmlinux.h in BPF,
 * <linux/types.h> in user space).
 *
 * Policy generations. A commit builds a whole new set of per-generation maps
 * (labels, tuples, rules, filters, layer config), stores them in slot
 * (gen & 1) of the outer ARRAY_OF_MAPS maps, then writes the new gen into
 * lfp_state. A classification reads gen once, takes every inner map from
 * slot (gen & 1), and re-checks gen at the end (seqlock): it never mixes two
 * generations.
 *
 * Classification (tuple space search over field labels):
 *  1. Each field the layer's filters use maps the connection's raw value to a
 *     label: the equivalence class of values that every condition in the
 *     policy treats alike. Ports: array lbl_port. Addresses, uid, gid, pid,
 *     iface: LPM trie lbl_lpm (ranges decomposed into prefixes at commit).
 *     App, cgroup (walk of ancestors): hash lbl_hash. Small fields (proto,
 *     ipver, direction, icmp, flags): array lbl_small. Label 0 = "no
 *     condition in the policy names this value".
 *  2. Each tuple = (layer, sublayer, set of fields). Its rules are keyed by
 *     the labels of those fields; a filter expands at commit into one rule key
 *     per combination of labels it covers. The rule value is the best filter
 *     (highest weight, then oldest) with a terminating effective action among
 *     the tuple's filters with that key.
 *  3. Per sublayer keep the best hit over its tuples; fold the sublayers in
 *     order with lfp_fold(). The cost depends on the number of tuples, not
 *     on the number of filters.
 */
#pragma once

#include "lfp_types.h"
#include "lfp_redirect.h"

#define LFP_ABI_VERSION 1

#define LFP_MAX_TUPLES	     64 /* per layer */
#define LFP_MAX_SUBLAYERS    32 /* sublayers with filters, per layer */
#define LFP_TUPLE_MAX_FIELDS 8	/* distinct fields one filter may constrain */
#define LFP_CGROUP_WALK_MAX  16 /* ancestor levels looked up for `cgroup` */
#define LFP_PORT_FIELDS	     3	/* local.port, remote.port, orig.port */
#define LFP_SMALL_FIELDS     6	/* proto, ipver, direction, icmp.type, icmp.code, flags */

/* index of a port field in lbl_port: idx * 65536 + port */
#define LFP_PORTIDX_LOCAL  0
#define LFP_PORTIDX_REMOTE 1
#define LFP_PORTIDX_ORIG   2

/* index of a small field in lbl_small: idx * 256 + value */
#define LFP_SMALLIDX_PROTO     0
#define LFP_SMALLIDX_IPVER     1
#define LFP_SMALLIDX_DIRECTION 2
#define LFP_SMALLIDX_ICMP_TYPE 3
#define LFP_SMALLIDX_ICMP_CODE 4
#define LFP_SMALLIDX_FLAGS     5

/* lbl_lpm key: prefixlen counts bits of data[] matched. data[0] = enum
 * lfp_field, data[1..3] = 0, then the value: addresses 16 bytes (IPv4
 * v4-mapped), uid/gid/pid/iface 4 bytes big-endian (rest 0). prefixlen =
 * 32 + value prefix length. */
struct lfp_lpm_key {
	__u32 prefixlen;
	__u8 data[20];
};

/* lbl_hash key: app {dev, ino}, cgroup {id, 0} */
struct lfp_hash_key {
	__u32 field;
	__u32 pad;
	__u64 a;
	__u64 b;
};

/* a tuple: which sublayer, which fields (in key order) */
struct lfp_tuple {
	__u32 id;	    /* global tuple id (rule key prefix) */
	__u8 sublayer_rank; /* 0 = evaluated first */
	__u8 nfields;
	__u8 fields[LFP_TUPLE_MAX_FIELDS]; /* enum lfp_field */
	__u8 pad[2];
};

struct lfp_rule_key {
	__u32 tuple;
	__u32 label[LFP_TUPLE_MAX_FIELDS]; /* unused slots 0 */
};

struct lfp_rule_val {
	__u32 filter_idx; /* index into the generation's filters array */
};

/* lfp_kfilter.flags beside LFP_FF_LOG / LFP_FF_NOLOG: set by the lowering */
#define LFP_KF_NAMES_ICMP (1u << 6) /* has an icmp.type condition (ND/PMTU exemption) */
/* an inspection callout (`count`, a registered inspection callout) at a layer
 * that reports payloads (datagram-data, stream): its rules live in tuples of
 * their own and never decide; the evaluator reports the hit (inspect_id) */
#define LFP_KF_INSPECT (1u << 5)
/* an external callout that cannot decide at this layer (inspection, or a layer that cannot
 * pend): it answers nothing (lib/lower.c puts it in one rank after the layer's sublayers),
 * a hit sets lfp_eval_out.notify and the hook reports the classification, so lfpd tells
 * the callout's client (daemon/pend.c lfp_callout_notify(), docs/callouts.md) */
#define LFP_KF_NOTIFY (1u << 3)

/* per-generation filter table entry */
struct lfp_kfilter {
	__u64 id;
	__u64 weight;
	__u32 counter; /* slot in lfp_counters (stable across generations) */
	__u8 ans;      /* LFP_ANS_PERMIT / LFP_ANS_BLOCK (effective) */
	__u8 hard;
	__u8 callout; /* answer counts as a callout's (veto rule) */
	__u8 flags;   /* LFP_FF_LOG / LFP_FF_NOLOG, LFP_KF_PEND */
	__u8 sublayer_rank;
	__u8 action;  /* enum lfp_action_type as written */
	__u16 target; /* redirect: index in lfp_redir_targets' half (common/lfp_redirect.h) */
	__u8 pad[4];
};

/* lfp_kfilter.flags: the filter's answer is a pend (ask, a registered callout): it folds
 * as a soft block that never vetoes and, when it decides, the verdict is LFP_V_PEND */
#define LFP_KF_PEND 0x80u

/* per-generation, per-layer config: lbl_cfg[layer] */
struct lfp_layer_cfg {
	__u32 n_tuples;
	__u32 used_fields; /* bit per enum lfp_field used by the layer's filters */
	__u32 tuple_base;  /* index of the layer's first tuple in the tuples array */
	__u32 n_sublayers;
};

/* global state: lfp_state[0] */
struct lfp_state {
	__u64 gen;	    /* active generation; slot = gen & 1; 0 = no policy (permit all) */
	__u32 log_permits;  /* 1: events for permitted connections (default) */
	__u32 abi;	    /* LFP_ABI_VERSION of the maps */
	__u64 scope_cgroup; /* cgroup id of --cgroup */
};

/* lfp_stats (per-CPU array) indexes */
enum lfp_stat {
	LFP_STAT_CLASSIFY,    /* classifications run */
	LFP_STAT_EVENTS,      /* events written */
	LFP_STAT_EVENT_DROPS, /* ring buffer full: event lost (counted, never silent) */
	LFP_STAT_GEN_RETRY,   /* generation changed under a classification */
	LFP_STAT_UDP_CACHE_HIT,
	LFP_STAT_ERRORS, /* unexpected map failures: the layer's default applied */
	LFP_STAT_REAUTH, /* flows re-authorized after a commit (TCP by the iterator, UDP at the
			    next datagram to a remote decided under an older generation) */
	LFP_STAT_REAUTH_ENDED,	     /* TCP flows ended by a re-authorization (bpf_sock_destroy) */
	LFP_STAT_PKT_MALFORMED,	     /* packet layers: no usable IP header, passed unclassified */
	LFP_STAT_PKT_TRUNCATED,	     /* packet layers: transport header (or IPv6 ext chain) cut */
	LFP_STAT_PKT_EVENTS_LIMITED, /* packet-layer events over the per-CPU rate, not sent */
	LFP_STAT_PKT_ND_PMTU_EXEMPT, /* ND/PMTU ICMP passed a block not naming ICMP */
	LFP_STAT_STREAM_ENROLLED,    /* TCP flows enrolled at the stream layer (bpf/stream.bpf.h) */
	LFP_STAT_STREAM_BLOCKED,     /* stream messages (out) and skbs (in) refused */
	LFP_STAT_COUNT,
};

/* Event types on the lfp_events ring buffer. */
enum lfp_event_type {
	LFP_EV_CLASSIFY = 1, /* an ALE classification (connect, first UDP datagram) */
	LFP_EV_EXEC = 2,     /* a process in scope exec'd a binary not seen before */
	LFP_EV_DISCARD = 3,  /* the kernel dropped a packet of lfpd's netns (skb:kfree_skb);
				struct lfp_event with reason set (bpf/discard.bpf.h) */
	LFP_EV_DATA = 4,     /* an inspection callout's excerpt of a payload (datagram-data,
				stream): struct lfp_data_event */
};

struct lfp_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 type;  /* enum lfp_event_type */
	__u8 layer;
	__u8 verdict; /* enum lfp_verdict */
	__u8 proto;
	__u8 ipver;
	__u64 filter_id; /* 0: no filter matched (default permit) */
	__u64 cookie;	 /* socket cookie */
	__u32 pid;
	__u32 uid;
	__u32 gid;
	__u32 flags; /* LFP_CF_* */
	__u64 cgroup;
	__u64 exe_dev;
	__u64 exe_ino;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 direction; /* LFP_DIR_*: events of the datagram-data, stream, flow-established and
			 * endpoint-closure layers, else 0 */
	__u8 pad[1];
	char comm[16];	/* display only; identity is exe_dev/exe_ino */
	__u8 oaddr[16]; /* original destination of a redirected flow (flags redirected) */
	__u16 oport;
	__u8 pad2[2];
	__u32 reason; /* LFP_EV_DISCARD: the kernel's enum skb_drop_reason value, else 0 */
};

/*
 * LFP_EV_DATA: the first bytes of a payload an inspection callout filter
 * (`callout count`, a registered inspection callout) matched at the
 * datagram-data or stream layer. ev is filled as for a classification
 * (layer, direction, flow, owner); ev.filter_id is the inspection filter,
 * ev.verdict the layer's verdict on the payload. Rate-limited with the
 * packet layers' events.
 */
#define LFP_DATA_EXCERPT 128

struct lfp_data_event {
	struct lfp_event ev;
	__u32 len;	/* the payload's length (a UDP datagram: without its header) */
	__u16 captured; /* bytes of it in data[]: min(len, LFP_DATA_EXCERPT) */
	__u16 pad;
	__u8 data[LFP_DATA_EXCERPT];
};

/* LFP_EV_EXEC: pid + exe identity + the filename given to execve (display) */
struct lfp_exec_event {
	__u64 ts_ns;
	__u32 type;
	__u32 pid;
	__u64 exe_dev;
	__u64 exe_ino;
	char filename[256];
};

/* Socket storage: who made the socket, and its ALE state. */
struct lfp_sk {
	__u64 gen; /* policy generation of the cached verdict (connected flows) */
	__u64 filter_id;
	__u64 cgroup;
	__u64 exe_dev;
	__u64 exe_ino;
	__u32 pid;
	__u32 uid;
	__u32 gid;
	__u8 verdict;
	__u8 pending_event; /* 1: emit the event when the local address is known */
	__u8 proto;
	__u8 listen_block; /* auth-listen: 1 while this listener's listen() was not permitted */
	__u8 raddr[16];
	__u16 rport;
	__u8 inbound; /* 1: an accepted flow (auth-recv-accept), 0: a connect (auth-connect) */
	__u8 udp_block; /* connected UDP: 1 while a re-authorization blocks its remote */
	__u32 cflags;
	char comm[16];
	__u32 udp_pending; /* unconnected UDP: (socket, remote) events waiting for their first
			      packet */
	__u32 ifindex;	   /* accepted flows: the interface the SYN arrived on */
};

/* Unconnected UDP: decision per (socket, remote), with the generation. Datagrams
 * sent (auth-connect, inbound 0) and received (auth-recv-accept, inbound 1) are
 * decided apart. */
struct lfp_udp_key {
	__u64 cookie;
	__u8 raddr[16];
	__u16 rport;
	__u8 inbound;
	__u8 pad[5];
};

struct lfp_udp_val {
	__u64 gen;
	__u64 filter_id;
	__u8 verdict;
	__u8 pending_event; /* 1: emit the event at the first packet (real local address) */
	__u8 cflags;	    /* LFP_CF_* of the classification, for that event */
	__u8 pad[5];
};

/*
 * Per-generation inner maps ("roles"). Each role has an outer
 * BPF_MAP_TYPE_ARRAY_OF_MAPS with 2 slots, named lfp_o_<role> in the BPF
 * object. Inner maps are created by lfpd at commit with exactly these
 * types, sizes and flags (the BPF object's inner templates match):
 *
 *  role            type        key                 value                 max_entries        flags
 *  LBL_PORT        ARRAY       u32                 u32 label             3*65536            0
 *  LBL_SMALL       ARRAY       u32                 u32 label             6*256              0
 *  LBL_LPM         LPM_TRIE    lfp_lpm_key         u32 label             n (>=1) NO_PREALLOC
 *  LBL_HASH        HASH        lfp_hash_key        u32 label             n (>=1)            0
 *  TUPLES          ARRAY       u32                 lfp_tuple             LAYERS*MAX_TUPLES  0
 *  RULES           HASH        lfp_rule_key        lfp_rule_val          n (>=1)            0
 *  FILTERS         ARRAY       u32                 lfp_kfilter           n (>=1) INNER_MAP
 *  LAYER_CFG       ARRAY       u32                 lfp_layer_cfg         LFP_LAYER_COUNT    0
 *  AUX_HDR         ARRAY       u32                 lfp_aux_hdr           AUX_HDR_ENTRIES    0
 *  AUX             ARRAY       u32                 u64                   AUX_ENTRIES        0
 *
 * AUX_HDR and AUX are not part of struct lfp_lowered: lfpd derives them at
 * commit from the other roles (below). They only spare lookups; the answer
 * is the one the other roles give without them.
 */
enum lfp_map_role {
	LFP_ROLE_LBL_PORT,
	LFP_ROLE_LBL_SMALL,
	LFP_ROLE_LBL_LPM,
	LFP_ROLE_LBL_HASH,
	LFP_ROLE_TUPLES,
	LFP_ROLE_RULES,
	LFP_ROLE_FILTERS,
	LFP_ROLE_LAYER_CFG,
	LFP_ROLE_AUX_HDR,
	LFP_ROLE_AUX,
	LFP_ROLE_COUNT,
};

#define LFP_LBL_PORT_ENTRIES  (LFP_PORT_FIELDS * 65536)
#define LFP_LBL_SMALL_ENTRIES (LFP_SMALL_FIELDS * 256)
#define LFP_TUPLES_ENTRIES    (LFP_LAYER_COUNT * LFP_MAX_TUPLES)

/*
 * The auxiliary tables: regions of AUX (u64 words) that AUX_HDR describes.
 *
 * AUX_HDR[0] marks the generation they belong to (free = gen, base =
 * LFP_AUX_MAGIC). A slot whose marker does not name the generation being
 * classified (one committed without them) is not used at all.
 *
 * Tuple masks, AUX_HDR[LFP_AUX_HDR_IDX(layer, f)]. For a layer's tuples
 * (bit i = tuple tuple_base + i), field f and label L, the mask holds the
 * tuples that can still match a connection whose label for f is L: those
 * that do not constrain f (hdr.free), and those with a rule key carrying L
 * at f's position. Labels 0 .. len-1 have their mask at AUX[base + L];
 * labels from len on occur in no rule key of the layer at f (mask 0). A
 * classification ANDs the masks of its labels and looks up rules only for
 * the tuples left: a tuple dropped this way has no rule key equal to the
 * connection's. len 0 with free = all: the field narrows nothing.
 *
 * IPv4 /16 labels, AUX_HDR[LFP_AUX_HDR_V4(f)] for f = local.addr,
 * remote.addr, orig.addr (len = 65536 when present). The lbl_lpm label of
 * a v4-mapped address a.b.c.d when every address of a.b.0.0/16 has the
 * same one (0 included), else LFP_AUX_V4_TRIE: ask lbl_lpm. Two labels per
 * word: /16 number n at AUX[base + n / 2], bits 32 * (n % 2) up. Exact
 * because lbl_lpm's prefixes are disjoint (lfp_lower() promises it; lfpd
 * builds no table when they are not).
 */
struct lfp_aux_hdr {
	__u64 free; /* masks: tuples of the layer that do not constrain the field */
	__u32 base; /* AUX index of the region */
	__u32 len;  /* entries in the region; 0: none */
};

#define LFP_AUX_MAGIC	      0x6c666178u /* "lfax" */
#define LFP_AUX_HDR_IDX(l, f) (1 + (l)*LFP_F_COUNT + (f))
#define LFP_AUX_HDR_V4(f)     (1 + LFP_LAYER_COUNT * LFP_F_COUNT + (f))
#define LFP_AUX_HDR_ENTRIES   (1 + (LFP_LAYER_COUNT + 1) * LFP_F_COUNT)
#define LFP_AUX_V4_TRIE	      0xffffffffu
#define LFP_AUX_V4_WORDS      (65536 / 2)
/* A fixed size, so that lookups are inlined: masks that do not fit are not
 * built (those fields then narrow nothing). 4 MiB. */
#define LFP_AUX_ENTRIES (1u << 19)

#ifndef __bpf__
_Static_assert(sizeof(struct lfp_lpm_key) == 24, "lpm key");
_Static_assert(sizeof(struct lfp_hash_key) == 24, "hash key");
_Static_assert(sizeof(struct lfp_tuple) == 16, "tuple");
_Static_assert(sizeof(struct lfp_rule_key) == 36, "rule key");
_Static_assert(sizeof(struct lfp_kfilter) == 32, "kfilter");
_Static_assert(sizeof(struct lfp_event) % 8 == 0, "event");
_Static_assert(sizeof(struct lfp_data_event) % 8 == 0, "data event");
_Static_assert(sizeof(struct lfp_udp_key) == 32, "udp key");
_Static_assert(sizeof(struct lfp_sk) == 104, "socket storage");
_Static_assert(sizeof(struct lfp_udp_val) == 24, "udp val");
_Static_assert(sizeof(struct lfp_aux_hdr) == 16, "aux header");
#endif
