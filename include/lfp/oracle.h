/* SPDX-License-Identifier: MIT */
/**
 * @file oracle.h
 * @brief Reference arbitration: the plain, obviously-correct classifier.
 *
 * It scans every filter of a layer and applies WFP-MODEL.md literally.
 * The kernel evaluator (common/lfp_eval.h over lowered maps) must agree with
 * it on every connection; differential tests hold them together.
 */
#pragma once

#include <lfp/policy.h>
#include "lfp_fold.h" /* common/ in the tree, next to this file once installed */

#ifdef __cplusplus
extern "C" {
#endif

#define LFP_CGROUP_MAX_DEPTH 32

/** A connection (or packet) as a layer sees it. Absent fields are 0 / NULL. */
struct lfp_conn {
	enum lfp_layer layer;
	uint64_t app_dev, app_ino; /**< executable identity (kernel dev encoding), 0 = unknown */
	char *app_path;		   /**< owned; offline explain matches app by this path */
	uint32_t uid, gid, pid;
	uint64_t cgroup_ids[LFP_CGROUP_MAX_DEPTH]; /**< ancestors, root first, own id last */
	uint32_t cgroup_depth;			   /**< number of valid cgroup_ids */
	char *cgroup_path; /**< owned; offline explain matches cgroup by path */
	uint8_t proto;
	uint8_t ipver;				 /**< 4 or 6 (v4-mapped v6 counts as 4) */
	uint8_t laddr[16], raddr[16], oaddr[16]; /**< network order, IPv4 v4-mapped */
	uint16_t lport, rport, oport;		 /**< host order */
	uint8_t direction;
	uint32_t ifindex;
	uint8_t icmp_type, icmp_code;
	uint32_t flags; /**< LFP_CF_* */
};

void lfp_conn_fini(struct lfp_conn *c);

enum lfp_callout_type {
	LFP_CALLOUT_TERMINATING,
	LFP_CALLOUT_INSPECTION,
	LFP_CALLOUT_UNKNOWN,
};

struct lfp_callout {
	char *name;
	enum lfp_callout_type type;
};

/**
 * The engine's policy as the oracle sees it. Filters must have ids, effective
 * weights and resolved values (lfp_policy_resolve()).
 */
struct lfp_policy {
	struct lfp_sublayer *sublayers;
	size_t n_sublayers;
	struct lfp_filter *filters;
	size_t n_filters;
	struct lfp_callout *callouts; /**< registered callouts */
	size_t n_callouts;
};

/** One sublayer's part in a classification. */
struct lfp_sublayer_result {
	const struct lfp_sublayer *sublayer;
	struct lfp_answer answer;	 /**< ans NONE when no filter answered */
	const struct lfp_filter *filter; /**< the filter that answered, or NULL */
	bool pend;			 /**< the answer is a pend (ask, or a registered
					      terminating/unknown callout): folded as a soft
					      block that never vetoes */
};

struct lfp_classify_result {
	enum lfp_verdict verdict;
	bool hard;
	const struct lfp_filter *filter;  /**< deciding filter, NULL for no-match permit */
	struct lfp_sublayer_result *subs; /**< owned by the result; in evaluation order */
	size_t n_subs;
};

void lfp_classify_result_fini(struct lfp_classify_result *r);

/**
 * The layer that acts on the same operation just before @p l and can change
 * what @p l sees: connect-redirect before auth-connect (it may rewrite the
 * destination), bind-redirect before resource-assignment (the local
 * address). `explain` classifies there too, so it can say which layer acts.
 * @return the layer, or -ENOENT when none does.
 */
int lfp_oracle_layer_before(enum lfp_layer l);

/**
 * Classify @p c at c->layer against @p p.
 * @return 0 or -ENOMEM; @p out is filled (free with lfp_classify_result_fini).
 */
int lfp_oracle_classify(const struct lfp_policy *p, const struct lfp_conn *c,
			struct lfp_classify_result *out);

/** Whether filter @p f's conditions all hold for @p c (no arbitration). */
bool lfp_filter_matches(const struct lfp_filter *f, const struct lfp_conn *c);

/** Sublayers of @p p in evaluation order (weight high to low, then id low to high). */
int lfp_policy_sublayer_order(const struct lfp_policy *p, size_t *order /* n_sublayers */);

/**
 * Resolver used at commit: app path -> identity, user/group name -> id,
 * cgroup path -> id, iface name -> ifindex. Each returns 0, -ENOENT
 * (absent: the value matches nothing; for user and group names an error)
 * or another -errno. A NULL callback leaves that kind of value unresolved
 * (an unresolved name matches nothing).
 */
struct lfp_resolver {
	int (*app)(void *ctx, const char *path, uint64_t *dev, uint64_t *ino);
	int (*user)(void *ctx, const char *name, uint32_t *uid);
	int (*group)(void *ctx, const char *name, uint32_t *gid);
	int (*cgroup)(void *ctx, const char *path, uint64_t *id);
	void *ctx;
	/** iface name -> ifindex (added after ctx so existing initializers stay valid) */
	int (*iface)(void *ctx, const char *name, uint32_t *ifindex);
};

/**
 * The system resolver: stat(2) (follows symlinks), getpwnam_r(3),
 * getgrnam_r(3), the inode of the cgroup v2 directory (found under the
 * cgroup2 mount listed in /proc/mounts), if_nametoindex(3).
 */
extern const struct lfp_resolver lfp_resolver_system;

/**
 * The offline resolver (`lfp explain -f`): user and group names as the system
 * resolver does; app, cgroup and iface values stay unresolved so they match by
 * the name or path given.
 */
extern const struct lfp_resolver lfp_resolver_offline;

/**
 * Resolve every named value of every filter of @p p in place (value lo/hi
 * for ids, identities for apps and cgroups). Unknown user or group names
 * are errors appended to @p diags (naming the filter); an absent app path
 * or cgroup is not an error (the value matches nothing until it exists).
 * @return 0, -EINVAL with diags, or another -errno.
 */
int lfp_policy_resolve(struct lfp_policy *p, const struct lfp_resolver *r, struct lfp_diags *diags);

#ifdef __cplusplus
}
#endif
