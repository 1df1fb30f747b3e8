/* SPDX-License-Identifier: MIT */
/**
 * @file policy.h
 * @brief The WFP object model: providers, sublayers, filters, conditions.
 *
 * Plain data. A struct lfp_ruleset is what one rule file (or one command
 * line) says; a struct lfp_policy is the engine's whole state (every
 * provider's objects, with ids and effective weights), which the oracle
 * evaluates and the lowering compiles for the kernel.
 *
 * Ownership: every pointer inside these structs is owned by the struct that
 * holds it and freed by the matching *_fini / *_free function.
 */
#pragma once

#include <lfp/common.h>
#include <lfp/diag.h>
#include "lfp_types.h" /* common/ in the tree, next to this file once installed */

#ifdef __cplusplus
extern "C" {
#endif

/** Match operators. */
enum lfp_op {
	LFP_OP_EQ, /**< `==` (default): any value of the set matches */
	LFP_OP_NE, /**< `!=`: none of the values of the set matches */
	LFP_OP_LT,
	LFP_OP_LE,
	LFP_OP_GT,
	LFP_OP_GE,
};

/** How a value was written, so the printer can give it back canonically. */
enum lfp_value_form {
	LFP_VF_NUMBER, /**< 443 */
	LFP_VF_RANGE,  /**< 1000-2000, 10.0.0.1-10.0.0.9 */
	LFP_VF_PREFIX, /**< 10.0.0.0/8, 2001:db8::/32, or a bare address (full prefix) */
	LFP_VF_NAME,   /**< a symbolic name: tcp, echo-request, alice, outbound */
	LFP_VF_PATH,   /**< app or cgroup path */
	LFP_VF_FLAGS,  /**< loopback+redirected */
};

/**
 * One value of a condition. Every value denotes a closed range [lo, hi]:
 * integers in lo/hi, addresses in alo/ahi as 16 bytes in network order with
 * IPv4 written v4-mapped (::ffff:a.b.c.d). A v4 prefix a.b.c.d/n is the
 * range of ::ffff:a.b.c.d/(96+n); a v6 prefix never covers a v4-mapped
 * address unless it is itself inside ::ffff:0:0/96.
 *
 * String values (app, cgroup, user or group names) keep their text in str
 * and are resolved at commit into lo/hi (uid, gid) or into identities held
 * by the policy (app, cgroup).
 */
struct lfp_value {
	enum lfp_value_form form;
	uint64_t lo, hi;	  /**< integer fields; flags: lo is the mask */
	uint8_t alo[16], ahi[16]; /**< address fields */
	uint8_t plen;		  /**< LFP_VF_PREFIX: prefix length as written (v4: 0-32) */
	uint8_t v4;		  /**< address written as IPv4 */
	char *str;		  /**< LFP_VF_NAME / LFP_VF_PATH text, owned, or NULL */
	/* Set at commit by lfp_policy_resolve(): app -> lo = dev (kernel encoding,
	 * MAJOR << 20 | MINOR), hi = inode; cgroup -> lo = cgroup id; user/group
	 * names -> lo = hi = id. absent: the thing does not exist (matches nothing). */
	bool resolved;
	bool absent;
	struct lfp_loc loc;
};

/** One condition: FIELD OP VALUE or FIELD OP { VALUE, ... }. */
struct lfp_cond {
	enum lfp_field field;
	enum lfp_op op;
	bool set;	     /**< written with braces */
	struct lfp_value *v; /**< owned array */
	size_t n;
	struct lfp_loc loc;
};

enum lfp_weight_kind {
	LFP_W_AUTO,	/**< engine-generated below 2^60 */
	LFP_W_EXPLICIT, /**< `weight N` */
	LFP_W_CLASS,	/**< `class N`: top four bits N, low 60 generated */
};

enum lfp_lifetime {
	LFP_LT_PERSISTENT, /**< default: saved in the state dir */
	LFP_LT_RUNTIME,	   /**< static: until deleted or lfpd stops */
	LFP_LT_BOOT_TIME,  /**< the boot-time set */
	LFP_LT_DYNAMIC,	   /**< owned by an API session */
};

struct lfp_action {
	enum lfp_action_type type;
	char *callout;	      /**< LFP_ACT_CALLOUT: callout name, owned */
	uint32_t ask_timeout; /**< LFP_ACT_ASK: seconds (default 30) */
	bool ask_default_permit;
	char *redirect; /**< LFP_ACT_REDIRECT: the URL as written (with credentials), owned */
};

struct lfp_filter {
	uint64_t id;	/**< engine-assigned, 0 before commit */
	char *name;	/**< optional, owned */
	char *desc;	/**< optional, owned */
	char *provider; /**< owned; NULL in a ruleset means "the ruleset's provider" */
	enum lfp_layer layer;
	char *sublayer; /**< sublayer name, owned; NULL = "default" */
	enum lfp_weight_kind wkind;
	uint64_t weight_arg;	/**< explicit weight or class number */
	uint64_t weight;	/**< effective weight (set by lfp_filter_weight()) */
	struct lfp_cond *conds; /**< owned array */
	size_t n_conds;
	struct lfp_action action;
	uint32_t flags; /**< LFP_FF_* */
	enum lfp_lifetime lifetime;
	struct lfp_loc loc; /**< where the statement starts */
};

struct lfp_sublayer {
	uint32_t id; /**< engine-assigned; `default` is 1 */
	char *name;  /**< owned */
	uint16_t weight;
	char *provider; /**< owned, or NULL */
	enum lfp_lifetime lifetime;
	struct lfp_loc loc;
};

/** Built-in sublayer that takes filters naming none. */
#define LFP_SUBLAYER_DEFAULT_NAME   "default"
#define LFP_SUBLAYER_DEFAULT_WEIGHT 0x8000

/** What one rule file or command says. */
struct lfp_ruleset {
	char *provider; /**< `provider NAME`, owned, or NULL */
	struct lfp_sublayer *sublayers;
	size_t n_sublayers;
	struct lfp_filter *filters;
	size_t n_filters;
};

/** Free everything a filter owns; the struct is zeroed. NULL-safe. */
void lfp_filter_fini(struct lfp_filter *f);
/** Deep copy @p src into @p dst. @return 0 or -ENOMEM. */
int lfp_filter_copy(struct lfp_filter *dst, const struct lfp_filter *src);
void lfp_sublayer_fini(struct lfp_sublayer *s);
int lfp_sublayer_copy(struct lfp_sublayer *dst, const struct lfp_sublayer *src);
void lfp_cond_fini(struct lfp_cond *c);
void lfp_ruleset_fini(struct lfp_ruleset *rs);
/** Free a heap ruleset (fini + free). NULL-safe. */
void lfp_ruleset_free(struct lfp_ruleset *rs);
void lfp_ruleset_freep(struct lfp_ruleset **rs);

/**
 * Compute the effective weight of @p f into f->weight, from its kind:
 * explicit as given; class N: (N << 60) | generated; auto: generated
 * (below 2^60). The generated part rises with specificity; the formula is
 * in docs/weights.md.
 */
void lfp_filter_weight(struct lfp_filter *f);

/** Name of an action type ("permit", ...). */
const char *lfp_action_name(enum lfp_action_type t);
/** Name of a verdict ("permit", "block", "veto", "pend", "redirect"). */
const char *lfp_verdict_name(enum lfp_verdict v);

#ifdef __cplusplus
}
#endif
