/* SPDX-License-Identifier: MIT */
/**
 * @file layer.h
 * @brief The layer table: capabilities as data.
 *
 * One table (lib/layer.c) says, for every layer of WFP-MODEL.md, its name,
 * the WFP layer it mirrors, its Linux hook, the fields it exposes and the
 * actions it takes. The parser, `lfp help layers`, the docs and the test
 * matrix all read it.
 */
#pragma once

#include <lfp/common.h>
#include "lfp_types.h" /* common/ in the tree, next to this file once installed */

#ifdef __cplusplus
extern "C" {
#endif

/** Kind of value a field takes. */
enum lfp_field_kind {
	LFP_FK_INT,    /**< numbers, ranges, comparisons (ports, pid, uid, ...) */
	LFP_FK_ADDR,   /**< IPv4/IPv6 addresses, prefixes, ranges */
	LFP_FK_APP,    /**< executable path, matched by identity */
	LFP_FK_CGROUP, /**< cgroup v2 path, subtree match */
	LFP_FK_FLAGS,  /**< connection flags */
};

struct lfp_field_info {
	enum lfp_field field;
	const char *name; /**< "remote.port" */
	enum lfp_field_kind kind;
	uint64_t max;	  /**< LFP_FK_INT: largest value (65535 for ports) */
	const char *help; /**< one line for `lfp help layers` */
};

struct lfp_layer_info {
	enum lfp_layer layer;
	const char *name; /**< "auth-connect" */
	const char *wfp;  /**< "ALE_AUTH_CONNECT" */
	const char *hook; /**< Linux hook(s), one line */
	uint32_t fields;  /**< bit (1u << enum lfp_field) per field the layer exposes */
	uint32_t actions; /**< bit (1u << enum lfp_action_type) per action it takes */
	bool can_pend;	  /**< auth-connect, auth-recv-accept */
	const char *help; /**< one line */
};

/** Table entry for @p l, or NULL when out of range. */
const struct lfp_layer_info *lfp_layer_info(enum lfp_layer l);
/** Look a layer up by name. @return the layer or -ENOENT. */
int lfp_layer_by_name(const char *name);
/** Field table entry, or NULL when out of range. */
const struct lfp_field_info *lfp_field_info(enum lfp_field f);
/** Look a field up by name. @return the field or -ENOENT. */
int lfp_field_by_name(const char *name);
/** Whether layer @p l exposes field @p f. */
bool lfp_layer_has_field(enum lfp_layer l, enum lfp_field f);

/** Connection flag names, in bit order: "loopback", "redirected", ... */
const char *lfp_cflag_name(unsigned int bit);
/** Look a connection flag up by name. @return its bit mask or -ENOENT. */
int lfp_cflag_by_name(const char *name);

/** Protocol name ("tcp") for a number, or NULL. */
const char *lfp_proto_name(unsigned int proto);
/** Protocol number by name ("tcp", "udp", "icmp", "ipv6-icmp"/"icmpv6", ...). @return it or
 * -ENOENT. */
int lfp_proto_by_name(const char *name);

#ifdef __cplusplus
}
#endif
