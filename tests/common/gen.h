/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the differential tests (tests/unit/test_lower.c:
 * the user-space evaluator against the oracle; tests/harness/test_bpf_diff.c:
 * the BPF evaluator against the oracle): a policy builder, value
 * constructors, a seeded generator of random policies and of connections
 * aimed at those policies' values, coverage accounting, and printers for a
 * mismatch report. Allocation failures fail the running cmocka test.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <lfp/layer.h>
#include <lfp/oracle.h>

#define AC LFP_LAYER_AUTH_CONNECT
#define RA LFP_LAYER_AUTH_RECV_ACCEPT

/* ---- policy builder (growable: test_lower's perf test holds 100k filters) ---- */

struct tp {
	struct lfp_policy p;
	size_t cap_f, cap_s, cap_c;
	uint64_t next_id;
};

/** An empty policy. */
struct tp *tp_new(void);
/** Free @p t and everything it owns. NULL-safe. */
void tp_free(struct tp *t);
/** Add a sublayer (name copied). */
struct lfp_sublayer *tp_sublayer(struct tp *t, uint32_t id, const char *name, uint16_t weight);
/** Register a callout (name copied). */
void tp_callout(struct tp *t, const char *name, enum lfp_callout_type type);
/** Add a filter with the next id and an explicit weight; @p sublayer NULL = default. */
struct lfp_filter *tp_filter(struct tp *t, enum lfp_layer layer, const char *sublayer,
			     enum lfp_action_type act, uint32_t flags, uint64_t weight);
/** Add an auth-connect filter whose action is callout @p name. */
struct lfp_filter *tp_callout_filter(struct tp *t, const char *sublayer, const char *name,
				     uint32_t flags, uint64_t weight);
/** Append an empty condition to @p f. */
struct lfp_cond *cond_new(struct lfp_filter *f, enum lfp_field field, enum lfp_op op);
/** Append a value to @p c (taken over, str included). */
void cond_add(struct lfp_cond *c, struct lfp_value v);
/** Append a condition with @p n values (struct lfp_value, taken over). */
void cond(struct lfp_filter *f, enum lfp_field field, enum lfp_op op, size_t n, ...);

/* ---- values ---- */

/** A number. */
struct lfp_value vi(uint64_t x);
/** A range lo-hi. */
struct lfp_value vr(uint64_t lo, uint64_t hi);
/** A flags mask. */
struct lfp_value vf(uint64_t mask);
/** A resolved app path with identity (dev, ino). */
struct lfp_value vapp(const char *path, uint64_t dev, uint64_t ino);
/** A resolved cgroup path with its id. */
struct lfp_value vcg(const char *path, uint64_t id);
/** A path resolved as absent. */
struct lfp_value vabsent(const char *path);
/** "10.0.0.1" -> ::ffff:10.0.0.1, "2001:db8::1" as is. */
void addr(uint8_t a[16], const char *s);
/** A prefix as the parser writes it: v4 prefixes as ::ffff:a.b.c.d/(96+n). */
struct lfp_value vp(const char *cidr);

/* ---- random policies and connections ---- */

/** splitmix64: the same seed gives the same policies and connections everywhere. */
struct rng {
	uint64_t s;
};

uint64_t rnd(struct rng *r);
/** Uniform in [0, n); 0 when n is 0. */
uint64_t rn(struct rng *r, uint64_t n);
/** True with probability @p pct percent. */
bool chance(struct rng *r, unsigned int pct);

#define PICK(r, arr) ((arr)[rn((r), sizeof(arr) / sizeof((arr)[0]))])

/** Values the connections aim at: the policy's own values and their neighbours. */
struct hot {
	uint64_t v[LFP_F_COUNT][64];
	unsigned int n[LFP_F_COUNT];
	uint8_t a[3][64][16];
	unsigned int na[3];
};

/** What the generated policies and their classifications reached. */
struct cov {
	uint64_t layer[LFP_LAYER_COUNT]; /* filters per layer */
	uint64_t field[LFP_F_COUNT];
	uint64_t op[LFP_OP_GE + 1];
	uint64_t fold[8];
	uint64_t verdict[LFP_V_REDIRECT + 1];
	uint64_t v4, v6, range, set, absent, unresolved, multi, empty, nomatch, cases, policies;
};

/** Names of the fold table's rows (cov.fold) and of the operators (cov.op). */
extern const char *const fold_rows[8];
extern const char *const op_names[];

/**
 * Fill @p t with a random policy over the ALE layers (mostly auth-connect
 * and auth-recv-accept)
 * (several sublayers with tied weights, every field of those layers with
 * every operator, sets, ranges, prefixes, absent and unresolved values,
 * every action the kernel can enforce) and collect its values into @p h.
 */
void random_policy(struct rng *r, struct tp *t, struct hot *h, struct cov *cv);
/** A random connection, mostly aimed at @p h's values and their neighbours. */
void random_conn(struct rng *r, const struct hot *h, struct lfp_conn *c);
/** Count the fold table rows the oracle's classification @p res went through. */
void fold_coverage(const struct lfp_classify_result *res, struct cov *cv);
/** Count one classification by the oracle: fold rows, verdict, whether a filter decided. */
void cov_record(struct cov *cv, const struct lfp_classify_result *res);
/** Print the coverage as TAP comment lines ("# ..."). */
void cov_print(FILE *o, const struct cov *cv);
/** Whether every field of the two layers, operator, fold row and verdict was reached. */
bool cov_complete(const struct cov *cv);

/* ---- printing a mismatch ---- */

void print_addr(FILE *o, const uint8_t a[16]);
void print_policy(FILE *o, const struct lfp_policy *p);
void print_conn(FILE *o, const struct lfp_conn *c);

/** An unsigned number from the environment (any base strtoull takes), or @p def. */
uint64_t env_u64(const char *name, uint64_t def);
