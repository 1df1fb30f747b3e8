/* SPDX-License-Identifier: MIT */
/*
 * Identifiers shared by liblfp, lfpd and the BPF programs: layers, fields,
 * actions, flags. Plain enums and macros only; no integer typedefs, so this
 * header works under vmlinux.h (BPF) and under <stdint.h> (user space).
 */
#pragma once

/* Layers, in CLI.md order. The layer table (lib/layer.c) describes each. */
enum lfp_layer {
	LFP_LAYER_RESOURCE_ASSIGNMENT,
	LFP_LAYER_BIND_REDIRECT,
	LFP_LAYER_AUTH_LISTEN,
	LFP_LAYER_AUTH_RECV_ACCEPT,
	LFP_LAYER_CONNECT_REDIRECT,
	LFP_LAYER_AUTH_CONNECT,
	LFP_LAYER_FLOW_ESTABLISHED,
	LFP_LAYER_ENDPOINT_CLOSURE,
	LFP_LAYER_INBOUND_TRANSPORT,
	LFP_LAYER_OUTBOUND_TRANSPORT,
	LFP_LAYER_INBOUND_IPPACKET,
	LFP_LAYER_OUTBOUND_IPPACKET,
	LFP_LAYER_INBOUND_ICMP_ERROR,
	LFP_LAYER_OUTBOUND_ICMP_ERROR,
	LFP_LAYER_IPFORWARD,
	LFP_LAYER_STREAM,
	LFP_LAYER_DATAGRAM_DATA,
	LFP_LAYER_COUNT,
};

/* Condition fields. The order is ABI: BPF label maps are indexed by it. */
enum lfp_field {
	LFP_F_APP,
	LFP_F_USER,
	LFP_F_GROUP,
	LFP_F_CGROUP,
	LFP_F_PID,
	LFP_F_PROTO,
	LFP_F_IPVER,
	LFP_F_LOCAL_ADDR,
	LFP_F_LOCAL_PORT,
	LFP_F_REMOTE_ADDR,
	LFP_F_REMOTE_PORT,
	LFP_F_ORIG_ADDR,
	LFP_F_ORIG_PORT,
	LFP_F_DIRECTION,
	LFP_F_IFACE,
	LFP_F_ICMP_TYPE,
	LFP_F_ICMP_CODE,
	LFP_F_FLAGS,
	LFP_F_COUNT,
};

/* Connection flags (`flags` field). */
#define LFP_CF_LOOPBACK	     (1u << 0)
#define LFP_CF_REDIRECTED    (1u << 1)
#define LFP_CF_REAUTHORIZE   (1u << 2)
#define LFP_CF_RAW	     (1u << 3)
#define LFP_CF_IMPLICIT_BIND (1u << 4)
#define LFP_CF_ALL	     0x1fu

/* direction values */
#define LFP_DIR_OUTBOUND 0
#define LFP_DIR_INBOUND	 1

/* Filter actions. */
enum lfp_action_type {
	LFP_ACT_PERMIT,
	LFP_ACT_BLOCK,
	LFP_ACT_CALLOUT,
	LFP_ACT_ASK,
	LFP_ACT_REDIRECT,
};

/* Filter flags. */
#define LFP_FF_HARD	       (1u << 0) /* permit is hard (WFP clear-action-right) */
#define LFP_FF_SOFT	       (1u << 1) /* block is soft */
#define LFP_FF_LOG	       (1u << 2) /* event whenever this filter decides */
#define LFP_FF_PERMIT_IF_UNREG (1u << 3) /* unregistered callout permits */
#define LFP_FF_NOLOG	       (1u << 4) /* no event for permits this filter decides */

/* Verdicts as they appear in events and explain output. */
enum lfp_verdict {
	LFP_V_PERMIT,
	LFP_V_BLOCK,
	LFP_V_VETO,
	LFP_V_PEND,
	LFP_V_REDIRECT,
};
