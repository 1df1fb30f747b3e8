/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps of the BPF object. Names are ABI: lfpd pins them under
 * BPFFS/maps/<name> and the evaluator (classify.bpf.h) looks them up by
 * these identifiers. (lfp.bpf.c adds one private map, the adapters' per-CPU
 * scratch, which needs the evaluator's types.)
 *
 * The outer ARRAY_OF_MAPS maps carry inner templates that must match the
 * inner maps lfpd creates at commit exactly (type, key/value size, flags;
 * for ARRAY also max_entries unless BPF_F_INNER_MAP) -- see the role table
 * in common/lfp_abi.h. The kernel refuses an inner map that differs.
 *
 * Inner templates give key_size/value_size rather than __type(): clang emits
 * only a forward declaration for a struct named in a nested map definition,
 * and libbpf cannot size a forward declaration.
 */
#pragma once

#include "lfp_abi.h"

#ifndef LFP_KERN_COUNTER_SLOTS
#define LFP_KERN_COUNTER_SLOTS (1u << 21) /* same value as daemon/kern.h */
#endif

#define LFP_EVENTS_BYTES  (1u << 20) /* ring buffer size (power of two, page multiple) */
#define LFP_UDP_CACHE_MAX 65536	     /* (socket, remote) verdicts of unconnected UDP */
#define LFP_EXEC_SEEN_MAX 16384	     /* executable identities already reported */

/* ---- per-generation maps: outer ARRAY_OF_MAPS, slot = gen & 1 ---- */

/* One outer map of a role (common/lfp_abi.h): 2 slots holding inner maps of
 * this type, size, flags, key and value size (the template lfpd's maps match). */
#define LFP_OUTER_MAP(NAME, TYPE, ENTRIES, FLAGS, KSZ, VSZ)                                        \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                          \
		__uint(max_entries, 2);                                                            \
		__type(key, __u32);                                                                \
		__array(                                                                           \
			values, struct {                                                           \
				__uint(type, TYPE);                                                \
				__uint(max_entries, ENTRIES);                                      \
				__uint(map_flags, FLAGS);                                          \
				__uint(key_size, KSZ);                                             \
				__uint(value_size, VSZ);                                           \
			});                                                                        \
	} NAME SEC(".maps")

LFP_OUTER_MAP(lfp_o_lbl_port, BPF_MAP_TYPE_ARRAY, LFP_LBL_PORT_ENTRIES, 0, sizeof(__u32),
	      sizeof(__u32));

LFP_OUTER_MAP(lfp_o_lbl_small, BPF_MAP_TYPE_ARRAY, LFP_LBL_SMALL_ENTRIES, 0, sizeof(__u32),
	      sizeof(__u32));

LFP_OUTER_MAP(lfp_o_lbl_lpm, BPF_MAP_TYPE_LPM_TRIE, 1, BPF_F_NO_PREALLOC,
	      sizeof(struct lfp_lpm_key), sizeof(__u32));

LFP_OUTER_MAP(lfp_o_lbl_hash, BPF_MAP_TYPE_HASH, 1, 0, sizeof(struct lfp_hash_key), sizeof(__u32));

LFP_OUTER_MAP(lfp_o_tuples, BPF_MAP_TYPE_ARRAY, LFP_TUPLES_ENTRIES, 0, sizeof(__u32),
	      sizeof(struct lfp_tuple));

LFP_OUTER_MAP(lfp_o_rules, BPF_MAP_TYPE_HASH, 1, 0, sizeof(struct lfp_rule_key),
	      sizeof(struct lfp_rule_val));

/* BPF_F_INNER_MAP: the filter table's size varies per generation, and only
 * this flag lets an ARRAY inner map differ in max_entries from the template
 * (the verifier then bounds-checks the index at run time). */
LFP_OUTER_MAP(lfp_o_filters, BPF_MAP_TYPE_ARRAY, 1, BPF_F_INNER_MAP, sizeof(__u32),
	      sizeof(struct lfp_kfilter));

LFP_OUTER_MAP(lfp_o_layer_cfg, BPF_MAP_TYPE_ARRAY, LFP_LAYER_COUNT, 0, sizeof(__u32),
	      sizeof(struct lfp_layer_cfg));

/* Tuple masks (common/lfp_abi.h). Both have a fixed size, so the verifier
 * inlines their lookups: a helper call costs more than the mask saves on
 * some machines. */
LFP_OUTER_MAP(lfp_o_aux_hdr, BPF_MAP_TYPE_ARRAY, LFP_AUX_HDR_ENTRIES, 0, sizeof(__u32),
	      sizeof(struct lfp_aux_hdr));

LFP_OUTER_MAP(lfp_o_aux, BPF_MAP_TYPE_ARRAY, LFP_AUX_ENTRIES, 0, sizeof(__u32), sizeof(__u64));

/* ---- global state ---- */

/* MMAPABLE: lfpd flips the generation with one aligned 8-byte store into
 * the mapped page (a map update would copy the whole value). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct lfp_state);
} lfp_state SEC(".maps");

/* Hit counters, indexed by lfp_kfilter.counter; stable across generations
 * so a filter's count survives commits. Shared (not per-CPU) to keep 2M
 * slots affordable; the evaluator adds atomically. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LFP_KERN_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} lfp_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LFP_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lfp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LFP_EVENTS_BYTES);
} lfp_events SEC(".maps");

/* ---- per-socket and per-flow state ---- */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lfp_sk);
} lfp_sk_store SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_UDP_CACHE_MAX);
	__type(key, struct lfp_udp_key);
	__type(value, struct lfp_udp_val);
} lfp_udp_cache SEC(".maps");

/* ---- exec identity reporting ---- */

/* Slot 0: the scope cgroup (--cgroup); the global exec tracepoint reports
 * only tasks under it. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lfp_scope SEC(".maps");

struct lfp_exe_id {
	__u64 dev;
	__u64 ino;
};

/* Executables already reported. Not pinned: a new lfpd starts with an empty
 * path cache, so it must hear about every binary again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LFP_EXEC_SEEN_MAX);
	__type(key, struct lfp_exe_id);
	__type(value, __u8);
} lfp_exec_seen SEC(".maps");
