// SPDX-License-Identifier: MIT
/*
 * Lowering: a resolved policy -> the map contents of common/lfp_abi.h.
 *
 * The kernel cannot scan filters, so all the work that depends on the
 * number of filters happens here, once per commit (docs/classification.md):
 *
 *  - every condition becomes a "class": the set of raw values it names, as
 *    sorted disjoint intervals (`!=` and comparisons are handled as the
 *    complement or the half-line of that set). Equal sets share a class,
 *    which keeps 1000 filters on `remote.addr 10.0.0.0/8` one class.
 *  - per field, a sweep over all class boundaries cuts the value space into
 *    elementary intervals; intervals inside the same set of classes share a
 *    label (exactly: by signature, verified element by element). Label 0 is
 *    "inside no class".
 *  - a filter covers, per field, the labels its conditions accept (the OR of
 *    its conditions on that field); its rule keys are the cross product.
 *  - filters are handled in evaluation order (layer, sublayer, weight down,
 *    id up), so the first filter to produce a rule key is the one the key
 *    keeps: exactly the oracle's "first terminating filter".
 *
 * App and cgroup values are not numbers: they are mapped to positions in an
 * index space first (apps: sorted identities; cgroups: paths in subtree
 * order, so `cgroup X` names a contiguous run: X and every named cgroup
 * below it), then go through the same interval machinery.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/layer.h>
#include <lfp/lower.h>

typedef unsigned __int128 u128;

#define U128_MAX	  (~(u128)0)
#define DEFAULT_MAX_RULES ((size_t)16 << 20)
#define MAPPED_LO	  ((u128)0xffff << 32)		       /* ::ffff:0.0.0.0 */
#define MAPPED_HI	  (((u128)0xffff << 32) | 0xffffffffu) /* ::ffff:255.255.255.255 */

/* How a field's raw value is labelled in the kernel. */
enum fkind {
	FK_PORT,   /* lbl_port array */
	FK_SMALL,  /* lbl_small array, 0..255 */
	FK_FLAGS,  /* lbl_small array, 5-bit flag word, mask semantics */
	FK_ADDR,   /* lbl_lpm, 128 bits */
	FK_U32,	   /* lbl_lpm, 32 bits */
	FK_APP,	   /* lbl_hash, points */
	FK_CGROUP, /* lbl_hash, subtrees */
};

static enum fkind field_kind(enum lfp_field f)
{
	switch (f) {
	case LFP_F_APP: return FK_APP;
	case LFP_F_CGROUP: return FK_CGROUP;
	case LFP_F_USER:
	case LFP_F_GROUP:
	case LFP_F_PID:
	case LFP_F_IFACE: return FK_U32;
	case LFP_F_LOCAL_ADDR:
	case LFP_F_REMOTE_ADDR:
	case LFP_F_ORIG_ADDR: return FK_ADDR;
	case LFP_F_LOCAL_PORT:
	case LFP_F_REMOTE_PORT:
	case LFP_F_ORIG_PORT: return FK_PORT;
	case LFP_F_FLAGS: return FK_FLAGS;
	default: return FK_SMALL;
	}
}

static int small_idx(enum lfp_field f)
{
	switch (f) {
	case LFP_F_PROTO: return LFP_SMALLIDX_PROTO;
	case LFP_F_IPVER: return LFP_SMALLIDX_IPVER;
	case LFP_F_DIRECTION: return LFP_SMALLIDX_DIRECTION;
	case LFP_F_ICMP_TYPE: return LFP_SMALLIDX_ICMP_TYPE;
	case LFP_F_ICMP_CODE: return LFP_SMALLIDX_ICMP_CODE;
	case LFP_F_FLAGS: return LFP_SMALLIDX_FLAGS;
	default: return -1;
	}
}

static int port_idx(enum lfp_field f)
{
	return f == LFP_F_LOCAL_PORT	? LFP_PORTIDX_LOCAL
	       : f == LFP_F_REMOTE_PORT ? LFP_PORTIDX_REMOTE
					: LFP_PORTIDX_ORIG;
}

/* ---- small containers ---------------------------------------------------------------- */

static int grow(void *pp, size_t *cap, size_t need, size_t elsz)
{
	void **p = pp;
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elsz);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

#define PUSH(vec, n, cap, val)                                                                     \
	({                                                                                         \
		int r_ = grow(&(vec), &(cap), (n) + 1, sizeof(*(vec)));                            \
		if (!r_)                                                                           \
			(vec)[(n)++] = (val);                                                      \
		r_;                                                                                \
	})

/* qsort and memcpy without the undefined behaviour of (NULL, 0) */
static void sort_n(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

static void copy_n(void *dst, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(dst, src, bytes);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/*
 * Open addressing on precomputed 64-bit hashes; the owner decides equality
 * (eq callback), so one table type serves classes and signatures.
 */
struct htab {
	uint64_t *hash;
	uint32_t *id; /* id + 1; 0 = empty */
	size_t cap, n;
};

typedef bool (*htab_eq_fn)(void *ctx, uint32_t id);

static void htab_fini(struct htab *t)
{
	free(t->hash);
	free(t->id);
	memset(t, 0, sizeof(*t));
}

static int htab_rehash(struct htab *t, size_t ncap)
{
	uint64_t *nh = calloc(ncap, sizeof(*nh));
	uint32_t *ni = calloc(ncap, sizeof(*ni));

	if (!nh || !ni) {
		free(nh);
		free(ni);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->id[i])
			continue;
		for (j = t->hash[i] & (ncap - 1); ni[j]; j = (j + 1) & (ncap - 1))
			;
		nh[j] = t->hash[i];
		ni[j] = t->id[i];
	}
	free(t->hash);
	free(t->id);
	t->hash = nh;
	t->id = ni;
	t->cap = ncap;
	return 0;
}

/* The id stored under @h for which eq() holds, or -1. */
static int64_t htab_find(const struct htab *t, uint64_t h, htab_eq_fn eq, void *ctx)
{
	if (!t->cap)
		return -1;
	for (size_t j = h & (t->cap - 1); t->id[j]; j = (j + 1) & (t->cap - 1))
		if (t->hash[j] == h && eq(ctx, t->id[j] - 1))
			return t->id[j] - 1;
	return -1;
}

static int htab_add(struct htab *t, uint64_t h, uint32_t id)
{
	size_t j;

	if ((t->n + 1) * 2 > t->cap) {
		int r = htab_rehash(t, t->cap ? t->cap * 2 : 64);

		if (r)
			return r;
	}
	for (j = h & (t->cap - 1); t->id[j]; j = (j + 1) & (t->cap - 1))
		;
	t->hash[j] = h;
	t->id[j] = id + 1;
	t->n++;
	return 0;
}

/* ---- working state ------------------------------------------------------------------- */

struct ivl {
	u128 lo, hi;
};

/* A class: one distinct set of values named by conditions (intervals in fld.iv). */
struct cls {
	size_t off, n;
};

/* An elementary interval that some class names, with its label. */
struct seg {
	u128 lo, hi;
	uint32_t label;
};

struct fld {
	struct ivl *iv;
	size_t n_iv, cap_iv;
	struct cls *cls;
	size_t n_cls, cap_cls;
	struct htab ctab;
	uint32_t n_labels; /* labels 1..n_labels in use */
	bool gap;	   /* some value is in no class: label 0 occurs */
	uint32_t *cov_off; /* class c's labels: cov[cov_off[c] .. cov_off[c + 1]), ascending */
	uint32_t *cov;
	struct seg *seg;
	size_t n_seg, cap_seg;
};

/* One condition of a candidate filter. */
struct cref {
	uint8_t field;
	uint8_t neg; /* `!=`: the labels outside the class */
	uint32_t cls;
};

/* A filter whose effective answer is terminating, in a lowered layer. */
struct cand {
	const struct lfp_filter *f;
	uint32_t sub; /* position of its sublayer in evaluation order */
	struct lfp_answer ans;
	size_t cref_off, n_cref;
	bool pend;    /* the answer waits for user space (LFP_KF_PEND) */
	bool inspect; /* an inspection callout where payloads are reported (LFP_KF_INSPECT) */
	bool notify;  /* never answers; its client is told (LFP_KF_NOTIFY) */
};

struct sub {
	const char *name;
	uint32_t id;
	uint16_t weight;
};

struct app_id {
	uint64_t dev, ino;
};

struct cg {
	uint64_t id;
	char *path; /* normalized (root = ""), owned; NULL: unknown, no subtree */
	size_t end; /* last index of its subtree in the sorted order */
	size_t seq; /* order of collection: the first path seen for an id wins */
};

/* cgroup id -> its position in the path order */
struct cg_pos {
	uint64_t id;
	size_t pos;
};

struct rule {
	struct lfp_rule_key key;
	uint32_t fidx;
};

struct lower {
	const struct lfp_policy *p;
	struct lfp_diags *diags;
	uint32_t layers;
	size_t max_rules;

	struct sub *subs;
	size_t n_subs;

	struct cand *cand;
	size_t n_cand, cap_cand;
	struct cref *cref;
	size_t n_cref, cap_cref;

	struct app_id *apps;
	size_t n_apps, cap_apps;
	struct cg *cgs;
	size_t n_cgs, cap_cgs;
	struct cg_pos *cg_by_id; /* sorted by id */

	struct fld fld[LFP_F_COUNT];

	struct rule *rules;
	size_t n_rules, cap_rules;

	struct lfp_lowered *out;
	size_t cap_tuples, cap_filters, cap_src, cap_lpm, cap_lpmv, cap_hash, cap_hashv;
};

static int diag_filter(struct lower *L, const struct lfp_filter *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A diagnostic naming the filter; returns @err so callers can `return diag_filter(...)`. */
static int diag_filter(struct lower *L, const struct lfp_filter *f, int err, const char *fmt, ...)
{
	char msg[256], who[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->name)
		snprintf(who, sizeof(who), "filter '%s' (id %llu)", f->name,
			 (unsigned long long)f->id);
	else
		snprintf(who, sizeof(who), "filter id %llu", (unsigned long long)f->id);
	if (L->diags && lfp_diags_add(L->diags, LFP_DIAG_ERROR, f->loc, NULL, "%s: %s", who, msg))
		return -ENOMEM;
	return err;
}

/* ---- sublayers and effective answers ------------------------------------------------- */

static int cmp_sub(const void *a, const void *b)
{
	const struct sub *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sublayers in evaluation order; `default` exists even when the policy does not list it. */
static int subs_init(struct lower *L)
{
	const struct lfp_policy *p = L->p;
	bool have_default = false;

	L->subs = calloc(p->n_sublayers + 1, sizeof(*L->subs));
	if (!L->subs)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_sublayers; i++) {
		const char *name = p->sublayers[i].name ? p->sublayers[i].name : "";

		L->subs[L->n_subs++] =
			(struct sub){ name, p->sublayers[i].id, p->sublayers[i].weight };
		if (!strcmp(name, LFP_SUBLAYER_DEFAULT_NAME))
			have_default = true;
	}
	if (!have_default)
		L->subs[L->n_subs++] =
			(struct sub){ LFP_SUBLAYER_DEFAULT_NAME, 1, LFP_SUBLAYER_DEFAULT_WEIGHT };
	sort_n(L->subs, L->n_subs, sizeof(*L->subs), cmp_sub);
	return 0;
}

static int sub_find(const struct lower *L, const char *name)
{
	if (!name)
		name = LFP_SUBLAYER_DEFAULT_NAME;
	for (size_t i = 0; i < L->n_subs; i++)
		if (!strcmp(L->subs[i].name, name))
			return (int)i;
	return -1;
}

enum effect {
	EFF_TERMINATING, /* answers permit or block: lowered into rules */
	EFF_CONTINUE,	 /* inspection: never decides */
	EFF_PEND,	 /* ask, a registered callout: a soft block that never vetoes, a pend
			    when it decides (the oracle's EFFECT_PEND) */
	EFF_NOTIFY,	 /* an external callout that cannot decide here (inspection, or any
			    type at a layer that cannot pend): continue, its client is told */
};

static bool layer_can_pend(enum lfp_layer l)
{
	const struct lfp_layer_info *li = lfp_layer_info(l);

	return li && li->can_pend;
}

static const struct lfp_callout *callout_find(const struct lfp_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_callouts; i++)
		if (p->callouts[i].name && name && !strcmp(p->callouts[i].name, name))
			return &p->callouts[i];
	return NULL;
}

/*
 * The answer the filter gives whenever it matches (WFP-MODEL.md, Objects and
 * Arbitration 3 and 5; the same table as the oracle's). Answers that wait
 * for user space (ask, a registered callout) pend: the hook holds the flow's
 * first packet for lfpd (docs/callouts.md), which it can do at auth-connect
 * only; elsewhere they are refused. A redirect answers permit, as in the oracle; the
 * kernel filter keeps its action, so the hook knows to rewrite.
 */
static int filter_effect(struct lower *L, const struct lfp_filter *f, struct lfp_answer *a,
			 enum effect *eff)
{
	const struct lfp_callout *co;

	memset(a, 0, sizeof(*a));
	*eff = EFF_TERMINATING;
	switch (f->action.type) {
	case LFP_ACT_PERMIT:
	case LFP_ACT_REDIRECT:
		a->ans = LFP_ANS_PERMIT;
		a->hard = !!(f->flags & LFP_FF_HARD);
		return 0;
	case LFP_ACT_BLOCK:
		a->ans = LFP_ANS_BLOCK;
		a->hard = !(f->flags & LFP_FF_SOFT);
		return 0;
	case LFP_ACT_CALLOUT:
		if (f->action.callout && !strcmp(f->action.callout, "count")) {
			*eff = EFF_CONTINUE; /* built-in inspection: only counts */
			return 0;
		}
		co = callout_find(L->p, f->action.callout);
		/* the built-in `ask` is a person: it pends or is refused, never notified */
		if (co && strcmp(co->name, "ask") &&
		    (co->type == LFP_CALLOUT_INSPECTION || !layer_can_pend(f->layer))) {
			/* where payloads are reported, the kernel's inspection path
			 * (LFP_KF_INSPECT, an LFP_EV_DATA event with the bytes) tells it */
			*eff = f->layer == LFP_LAYER_DATAGRAM_DATA || f->layer == LFP_LAYER_STREAM
				       ? EFF_CONTINUE
				       : EFF_NOTIFY;
			return 0;
		}
		if (co)
			goto pend;
		/* not registered: fail closed, or open with permit-if-callout-unregistered;
		 * soft either way, and a block from it may veto */
		a->callout = 1;
		a->ans = (f->flags & LFP_FF_PERMIT_IF_UNREG) ? LFP_ANS_PERMIT : LFP_ANS_BLOCK;
		return 0;
	case LFP_ACT_ASK: goto pend;
	}
	return diag_filter(L, f, -EINVAL, "unknown action %d", (int)f->action.type);
pend:
	if (!layer_can_pend(f->layer))
		return diag_filter(L, f, -EOPNOTSUPP,
				   "action '%s%s' pends, and flows are held at auth-connect and "
				   "auth-recv-accept only",
				   f->action.type == LFP_ACT_ASK ? "ask" : "callout ",
				   f->action.type == LFP_ACT_ASK ? "" : f->action.callout);
	/* callout stays 0: a pending answer never vetoes a hard permit above it */
	a->ans = LFP_ANS_BLOCK;
	*eff = EFF_PEND;
	return 0;
}

/* ---- value domains: apps and cgroups ------------------------------------------------- */

static int cmp_app(const void *a, const void *b)
{
	const struct app_id *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static size_t app_index(const struct lower *L, uint64_t dev, uint64_t ino)
{
	struct app_id k = { dev, ino };
	const struct app_id *e = bsearch(&k, L->apps, L->n_apps, sizeof(k), cmp_app);

	return e ? (size_t)(e - L->apps) : (size_t)-1;
}

/* Collapse repeated and trailing slashes; the root becomes "" so "X/" prefixes its children. */
static char *cgpath_norm(const char *s)
{
	char *o = malloc(strlen(s) + 1), *w = o;

	if (!o)
		return NULL;
	for (; *s; s++) {
		if (*s == '/' && w > o && w[-1] == '/')
			continue;
		*w++ = *s;
	}
	while (w > o && w[-1] == '/')
		w--;
	*w = 0;
	return o;
}

/* Path order in which '/' sorts first, so a subtree is a contiguous run after its root. */
static int cgpath_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned int x = *a == '/' ? 1 : *a ? (unsigned char)*a + 1 : 0;
		unsigned int y = *b == '/' ? 1 : *b ? (unsigned char)*b + 1 : 0;

		if (x != y)
			return x < y ? -1 : 1;
		if (!x)
			return 0;
	}
}

static int cmp_cg(const void *a, const void *b)
{
	const struct cg *x = a, *y = b;
	int c;

	/* cgroups without a path go last: they cannot contain others */
	if (!x->path || !y->path) {
		if (x->path || y->path)
			return x->path ? -1 : 1;
		return x->id < y->id ? -1 : x->id > y->id;
	}
	c = cgpath_cmp(x->path, y->path);
	if (c)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

static bool cgpath_contains(const char *anc, const char *p)
{
	size_t n = strlen(anc);

	return !strncmp(anc, p, n) && (p[n] == '/' || p[n] == 0);
}

static int cmp_cg_pos(const void *a, const void *b)
{
	const struct cg_pos *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static size_t cg_index(const struct lower *L, uint64_t id)
{
	struct cg_pos k = { id, 0 };
	const struct cg_pos *e = bsearch(&k, L->cg_by_id, L->n_cgs, sizeof(k), cmp_cg_pos);

	return e ? e->pos : (size_t)-1;
}

static int cmp_cg_id_seq(const void *a, const void *b)
{
	const struct cg *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Whether a value names anything (as the oracle decides): absent things
 * and names the resolver has not turned into ids name nothing; neither
 * does the unknown app identity (0, 0), which the kernel reports for "no
 * executable known".
 */
static bool value_usable(enum lfp_field f, const struct lfp_value *v)
{
	if (v->absent)
		return false;
	switch (f) {
	case LFP_F_APP: return v->resolved && (v->lo || v->hi);
	case LFP_F_CGROUP: return v->resolved;
	case LFP_F_USER:
	case LFP_F_GROUP:
	case LFP_F_IFACE: return v->resolved || v->form != LFP_VF_NAME || !v->str;
	default: return true;
	}
}

static bool op_is_cmp(enum lfp_op op)
{
	return op != LFP_OP_EQ && op != LFP_OP_NE;
}

/* Field and operator checks, and the collection of app and cgroup values. */
static int cand_collect_values(struct lower *L, const struct lfp_filter *f)
{
	for (size_t i = 0; i < f->n_conds; i++) {
		const struct lfp_cond *c = &f->conds[i];
		enum fkind k;

		if ((unsigned int)c->field >= LFP_F_COUNT)
			return diag_filter(L, f, -EINVAL, "unknown field %d", (int)c->field);
		if ((unsigned int)c->op > LFP_OP_GE)
			return diag_filter(L, f, -EINVAL, "unknown operator %d", (int)c->op);
		k = field_kind(c->field);
		if (op_is_cmp(c->op) || (k != FK_APP && k != FK_CGROUP))
			continue; /* comparisons on apps and cgroups name nothing */
		for (size_t j = 0; j < c->n; j++) {
			const struct lfp_value *v = &c->v[j];
			int r;

			if (!value_usable(c->field, v))
				continue;
			if (k == FK_APP) {
				r = PUSH(L->apps, L->n_apps, L->cap_apps,
					 ((struct app_id){ v->lo, v->hi }));
				if (r)
					return r;
			} else {
				struct cg g = { .id = v->lo, .seq = L->n_cgs };

				if (v->str && !(g.path = cgpath_norm(v->str)))
					return -ENOMEM;
				r = PUSH(L->cgs, L->n_cgs, L->cap_cgs, g);
				if (r) {
					free(g.path);
					return r;
				}
			}
		}
	}
	return 0;
}

static int domains_build(struct lower *L)
{
	size_t n = 0, *stack, depth = 0;

	sort_n(L->apps, L->n_apps, sizeof(*L->apps), cmp_app);
	for (size_t i = 0; i < L->n_apps; i++)
		if (!n || cmp_app(&L->apps[n - 1], &L->apps[i]))
			L->apps[n++] = L->apps[i];
	L->n_apps = n;

	/* one entry per cgroup id (the first path seen), then subtree order */
	sort_n(L->cgs, L->n_cgs, sizeof(*L->cgs), cmp_cg_id_seq);
	n = 0;
	for (size_t i = 0; i < L->n_cgs; i++) {
		if (n && L->cgs[n - 1].id == L->cgs[i].id) {
			free(L->cgs[i].path);
			continue;
		}
		L->cgs[n++] = L->cgs[i];
	}
	L->n_cgs = n;
	sort_n(L->cgs, L->n_cgs, sizeof(*L->cgs), cmp_cg);
	L->cg_by_id = malloc(L->n_cgs * sizeof(*L->cg_by_id) + 1);
	stack = malloc(L->n_cgs * sizeof(*stack) + 1);
	if (!L->cg_by_id || !stack) {
		free(stack);
		return -ENOMEM;
	}
	for (size_t i = 0; i < L->n_cgs; i++)
		L->cg_by_id[i] = (struct cg_pos){ L->cgs[i].id, i };
	sort_n(L->cg_by_id, L->n_cgs, sizeof(*L->cg_by_id), cmp_cg_pos);

	/* subtree ends: a stack of the open ancestors of the current path */
	for (size_t i = 0; i < L->n_cgs; i++) {
		struct cg *g = &L->cgs[i];

		g->end = i;
		if (!g->path)
			continue;
		while (depth && !cgpath_contains(L->cgs[stack[depth - 1]].path, g->path))
			L->cgs[stack[--depth]].end = i - 1;
		stack[depth++] = i;
	}
	while (depth) {
		size_t last = L->n_cgs - 1;

		/* pathless entries sort last and belong to no subtree */
		while (last && !L->cgs[last].path)
			last--;
		L->cgs[stack[--depth]].end = last;
	}
	free(stack);
	return 0;
}

/* ---- classes ------------------------------------------------------------------------- */

static u128 be128(const uint8_t *b)
{
	u128 x = 0;

	for (int i = 0; i < 16; i++)
		x = (x << 8) | b[i];
	return x;
}

static u128 field_max(const struct lower *L, enum lfp_field f)
{
	switch (field_kind(f)) {
	case FK_PORT: return 65535;
	case FK_SMALL: return 255;
	case FK_FLAGS: return LFP_CF_ALL;
	case FK_ADDR: return U128_MAX;
	case FK_U32: return 0xffffffffu;
	case FK_APP: return L->n_apps ? L->n_apps - 1 : 0;
	case FK_CGROUP: return L->n_cgs ? L->n_cgs - 1 : 0;
	}
	return 0;
}

struct ivec {
	struct ivl *v;
	size_t n, cap;
};

static int ivec_add(struct ivec *iv, u128 lo, u128 hi)
{
	if (lo > hi)
		return 0;
	return PUSH(iv->v, iv->n, iv->cap, ((struct ivl){ lo, hi }));
}

static int cmp_ivl(const void *a, const void *b)
{
	const struct ivl *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Sort and merge overlapping or adjacent intervals. */
static void ivec_norm(struct ivec *iv)
{
	size_t n = 0;

	if (!iv->n)
		return;
	sort_n(iv->v, iv->n, sizeof(*iv->v), cmp_ivl);
	for (size_t i = 1; i < iv->n; i++) {
		struct ivl *last = &iv->v[n];

		if (last->hi == U128_MAX || iv->v[i].lo <= last->hi + 1) {
			if (iv->v[i].hi > last->hi)
				last->hi = iv->v[i].hi;
		} else {
			iv->v[++n] = iv->v[i];
		}
	}
	iv->n = n + 1;
}

/* [lo, hi] without the v4-mapped block: what an IPv6 value says about addresses. */
static int add_v6_only(struct ivec *iv, u128 lo, u128 hi)
{
	int r = 0;

	if (lo < MAPPED_LO)
		r = ivec_add(iv, lo, hi < MAPPED_LO ? hi : MAPPED_LO - 1);
	if (!r && hi > MAPPED_HI)
		r = ivec_add(iv, lo > MAPPED_HI ? lo : MAPPED_HI + 1, hi);
	return r;
}

/*
 * An address value of `==`/`!=`. A value written as IPv6 never covers a
 * v4-mapped address unless its whole range lies inside ::ffff:0:0/96
 * (WFP-MODEL.md, Conditions).
 */
static int addr_value(struct ivec *iv, const struct lfp_value *v)
{
	u128 lo = be128(v->alo), hi = be128(v->ahi);

	if (v->v4 || (lo >= MAPPED_LO && hi <= MAPPED_HI))
		return ivec_add(iv, lo, hi);
	return add_v6_only(iv, lo, hi);
}

/* The half-line [lo, hi] of a comparison, limited to the value's address family. */
static int addr_cmp_range(struct ivec *iv, const struct lfp_value *v, u128 lo, u128 hi)
{
	if (!v->v4)
		return add_v6_only(iv, lo, hi);
	if (lo < MAPPED_LO)
		lo = MAPPED_LO;
	if (hi > MAPPED_HI)
		hi = MAPPED_HI;
	return ivec_add(iv, lo, hi);
}

/*
 * `<`, `<=`, `>`, `>=`: against the condition's first value (its low end),
 * as the oracle compares. Apps, cgroups and flags are not ordered: nothing.
 */
static int cmp_set(struct lower *L, const struct lfp_cond *c, struct ivec *iv)
{
	const struct lfp_value *v = &c->v[0];
	enum fkind k = field_kind(c->field);
	u128 max = field_max(L, c->field), x, lo, hi;

	if (!c->n || k == FK_APP || k == FK_CGROUP || k == FK_FLAGS || !value_usable(c->field, v))
		return 0;
	x = k == FK_ADDR ? be128(v->alo) : (u128)v->lo;
	switch (c->op) {
	case LFP_OP_LT:
		if (!x)
			return 0;
		lo = 0;
		hi = x - 1;
		break;
	case LFP_OP_LE:
		lo = 0;
		hi = x;
		break;
	case LFP_OP_GT:
		if (x == U128_MAX)
			return 0;
		lo = x + 1;
		hi = max;
		break;
	default: /* LFP_OP_GE */
		lo = x;
		hi = max;
		break;
	}
	if (k == FK_ADDR)
		return addr_cmp_range(iv, v, lo, hi);
	if (lo > max)
		return 0;
	return ivec_add(iv, lo, hi > max ? max : hi);
}

/*
 * The values condition @c names, as intervals of the field's domain. For
 * `!=` this is the set of its values (the caller takes the complement).
 */
static int cond_set(struct lower *L, const struct lfp_cond *c, struct ivec *iv)
{
	enum fkind k = field_kind(c->field);
	u128 max = field_max(L, c->field);
	int r = 0;

	iv->n = 0;
	if (op_is_cmp(c->op)) {
		r = cmp_set(L, c, iv);
		goto out;
	}
	for (size_t j = 0; j < c->n && !r; j++) {
		const struct lfp_value *v = &c->v[j];
		size_t i;

		if (!value_usable(c->field, v))
			continue;
		switch (k) {
		case FK_APP:
			i = app_index(L, v->lo, v->hi);
			r = ivec_add(iv, i, i);
			break;
		case FK_CGROUP:
			i = cg_index(L, v->lo);
			r = ivec_add(iv, i, L->cgs[i].end);
			break;
		case FK_FLAGS:
			/* `flags a+b` holds when every bit of the mask is set */
			for (unsigned int x = 0; x <= LFP_CF_ALL && !r; x++)
				if ((x & v->lo) == v->lo)
					r = ivec_add(iv, x, x);
			break;
		case FK_ADDR: r = addr_value(iv, v); break;
		default:
			/* a reversed range holds for nothing */
			if (v->lo <= v->hi && v->lo <= max)
				r = ivec_add(iv, v->lo, v->hi > max ? max : v->hi);
			break;
		}
	}
out:
	if (!r)
		ivec_norm(iv);
	return r;
}

struct cls_eq_ctx {
	const struct fld *fd;
	const struct ivec *iv;
};

static bool cls_eq(void *ctx, uint32_t id)
{
	const struct cls_eq_ctx *e = ctx;
	const struct cls *c = &e->fd->cls[id];

	return c->n == e->iv->n &&
	       (!c->n || !memcmp(&e->fd->iv[c->off], e->iv->v, c->n * sizeof(struct ivl)));
}

static uint64_t ivec_hash(const struct ivec *iv)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ iv->n;

	for (size_t i = 0; i < iv->n; i++) {
		h = mix64(h ^ (uint64_t)iv->v[i].lo ^ mix64((uint64_t)(iv->v[i].lo >> 64)));
		h = mix64(h ^ (uint64_t)iv->v[i].hi ^ mix64((uint64_t)(iv->v[i].hi >> 64) + 1));
	}
	return h;
}

/* The class of this set of values (new or shared). */
static int class_get(struct fld *fd, const struct ivec *iv, uint32_t *out)
{
	struct cls_eq_ctx ctx = { fd, iv };
	uint64_t h = ivec_hash(iv);
	int64_t id = htab_find(&fd->ctab, h, cls_eq, &ctx);
	int r;

	if (id >= 0) {
		*out = (uint32_t)id;
		return 0;
	}
	if (grow(&fd->iv, &fd->cap_iv, fd->n_iv + iv->n, sizeof(*fd->iv)))
		return -ENOMEM;
	if (iv->n) /* an empty class (a value that matches nothing) may meet a NULL array */
		copy_n(&fd->iv[fd->n_iv], iv->v, iv->n * sizeof(*iv->v));
	r = PUSH(fd->cls, fd->n_cls, fd->cap_cls, ((struct cls){ fd->n_iv, iv->n }));
	if (r)
		return r;
	fd->n_iv += iv->n;
	*out = (uint32_t)(fd->n_cls - 1);
	return htab_add(&fd->ctab, h, *out);
}

/* ---- labels: sweep over class boundaries --------------------------------------------- */

struct event {
	u128 pos;
	uint32_t cls;
	int32_t delta; /* +1 the class starts at pos, -1 it ended just before */
};

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

struct sweep {
	uint32_t *act, *apos; /* active classes (unordered) and their positions in act */
	uint32_t n_act;
	uint64_t h1, h2;	 /* sums of per-class keys: order-free signature hash */
	struct htab stab;	 /* signature -> label - 1 */
	uint32_t *sig_off, *sig; /* label - 1's classes, sorted (exact check) */
	size_t n_sig, cap_sig, cap_off;
	struct {
		uint32_t cls, label;
	} * pairs;
	size_t n_pairs, cap_pairs;
};

static uint64_t cls_key1(uint32_t c)
{
	return mix64(c * 2 + 1);
}

static uint64_t cls_key2(uint32_t c)
{
	return mix64(((uint64_t)c << 32) ^ 0x5851f42d4c957f2dull);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool sig_eq(void *ctx, uint32_t id)
{
	const struct sweep *s = ctx;
	const uint32_t *sig = &s->sig[s->sig_off[id]];
	size_t n = s->sig_off[id + 1] - s->sig_off[id];

	if (n != s->n_act)
		return false;
	for (uint32_t i = 0; i < s->n_act; i++)
		if (!bsearch(&s->act[i], sig, n, sizeof(*sig), cmp_u32))
			return false;
	return true;
}

/* The label of the active set; a new one records its signature and coverage. */
static int sweep_label(struct sweep *s, struct fld *fd, uint32_t *label)
{
	uint64_t h = s->h1 ^ mix64(s->h2 + s->n_act);
	int64_t id = htab_find(&s->stab, h, sig_eq, s);
	size_t start = s->n_sig;
	int r;

	if (id >= 0) {
		*label = (uint32_t)id + 1;
		return 0;
	}
	id = fd->n_labels++;
	if (grow(&s->sig, &s->cap_sig, s->n_sig + s->n_act, sizeof(*s->sig)) ||
	    grow(&s->sig_off, &s->cap_off, (size_t)id + 2, sizeof(*s->sig_off)) ||
	    grow(&s->pairs, &s->cap_pairs, s->n_pairs + s->n_act, sizeof(*s->pairs)))
		return -ENOMEM;
	if (s->n_act) { /* &NULL[0] is undefined */
		copy_n(&s->sig[start], s->act, s->n_act * sizeof(*s->act));
		sort_n(&s->sig[start], s->n_act, sizeof(*s->sig), cmp_u32);
	}
	s->n_sig += s->n_act;
	s->sig_off[id] = start;
	s->sig_off[id + 1] = s->n_sig;
	for (uint32_t i = 0; i < s->n_act; i++) {
		s->pairs[s->n_pairs].cls = s->act[i];
		s->pairs[s->n_pairs++].label = (uint32_t)id + 1;
	}
	r = htab_add(&s->stab, h, (uint32_t)id);
	*label = (uint32_t)id + 1;
	return r;
}

/*
 * Cut the field's domain at every class boundary and label each piece by
 * the set of classes containing it; fills fd->seg and the coverage lists.
 */
static int field_sweep(struct lower *L, enum lfp_field f)
{
	struct fld *fd = &L->fld[f];
	u128 max = field_max(L, f);
	struct sweep s = { 0 };
	struct event *ev = NULL;
	size_t n_ev = 0, i = 0;
	int r = -ENOMEM;

	ev = malloc(2 * fd->n_iv * sizeof(*ev) + 1);
	s.act = malloc(fd->n_cls * sizeof(*s.act) + 1);
	s.apos = malloc(fd->n_cls * sizeof(*s.apos) + 1);
	fd->cov_off = calloc(fd->n_cls + 1, sizeof(*fd->cov_off));
	if (!ev || !s.act || !s.apos || !fd->cov_off)
		goto out;
	for (uint32_t c = 0; c < fd->n_cls; c++) {
		for (size_t k = 0; k < fd->cls[c].n; k++) {
			const struct ivl *v = &fd->iv[fd->cls[c].off + k];

			ev[n_ev++] = (struct event){ v->lo, c, 1 };
			if (v->hi < max)
				ev[n_ev++] = (struct event){ v->hi + 1, c, -1 };
		}
	}
	sort_n(ev, n_ev, sizeof(*ev), cmp_event);
	/* apps and cgroups outside the named ones always exist */
	fd->gap = field_kind(f) == FK_APP || field_kind(f) == FK_CGROUP || !n_ev || ev[0].pos > 0;

	while (i < n_ev) {
		u128 pos = ev[i].pos, hi;
		uint32_t label;

		for (; i < n_ev && ev[i].pos == pos; i++) {
			uint32_t c = ev[i].cls;

			if (ev[i].delta > 0) {
				s.apos[c] = s.n_act;
				s.act[s.n_act++] = c;
				s.h1 += cls_key1(c);
				s.h2 += cls_key2(c);
			} else {
				uint32_t p = s.apos[c], last = s.act[--s.n_act];

				s.act[p] = last;
				s.apos[last] = p;
				s.h1 -= cls_key1(c);
				s.h2 -= cls_key2(c);
			}
		}
		if (!s.n_act) {
			fd->gap = true;
			continue;
		}
		hi = i < n_ev ? ev[i].pos - 1 : max;
		r = sweep_label(&s, fd, &label);
		if (r)
			goto out;
		r = PUSH(fd->seg, fd->n_seg, fd->cap_seg, ((struct seg){ pos, hi, label }));
		if (r)
			goto out;
	}

	/* coverage lists: (class, label) pairs bucketed by class, labels stay ascending */
	r = -ENOMEM;
	fd->cov = malloc(s.n_pairs * sizeof(*fd->cov) + 1);
	if (!fd->cov)
		goto out;
	for (size_t k = 0; k < s.n_pairs; k++)
		fd->cov_off[s.pairs[k].cls + 1]++;
	for (size_t c = 0; c < fd->n_cls; c++)
		fd->cov_off[c + 1] += fd->cov_off[c];
	{
		uint32_t *fill = malloc(fd->n_cls * sizeof(*fill) + 1);

		if (!fill)
			goto out;
		copy_n(fill, fd->cov_off, fd->n_cls * sizeof(*fill));
		for (size_t k = 0; k < s.n_pairs; k++)
			fd->cov[fill[s.pairs[k].cls]++] = s.pairs[k].label;
		free(fill);
	}
	r = 0;
out:
	free(ev);
	free(s.act);
	free(s.apos);
	free(s.sig);
	free(s.sig_off);
	free(s.pairs);
	htab_fini(&s.stab);
	return r;
}

/* ---- rules --------------------------------------------------------------------------- */

/* Labels one filter covers on one field. */
struct lset {
	const uint32_t *v;
	size_t n;
	uint32_t *own; /* allocated when v is not a class's coverage list */
};

/* Labels 0..n_labels not in the ascending list @in. */
static int complement(const uint32_t *in, size_t n, uint32_t n_labels, struct lset *out)
{
	size_t j = 0, k = 0;

	out->own = malloc(((size_t)n_labels + 1 - n) * sizeof(*out->own) + 1);
	if (!out->own)
		return -ENOMEM;
	for (uint32_t l = 0; l <= n_labels; l++) {
		if (j < n && in[j] == l) {
			j++;
			continue;
		}
		out->own[k++] = l;
	}
	out->v = out->own;
	out->n = k;
	return 0;
}

/* The OR of a filter's conditions on field @f: the union of their label sets. */
static int field_lset(struct lower *L, const struct cref *cr, size_t n, struct lset *out)
{
	const struct fld *fd = &L->fld[cr[0].field];
	uint32_t *u = NULL;
	size_t nu = 0, cap = 0;
	struct lset one;
	int r;

	memset(out, 0, sizeof(*out));
	if (n == 1 && !cr[0].neg) {
		out->v = &fd->cov[fd->cov_off[cr[0].cls]];
		out->n = fd->cov_off[cr[0].cls + 1] - fd->cov_off[cr[0].cls];
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const uint32_t *cv = &fd->cov[fd->cov_off[cr[i].cls]];
		size_t cn = fd->cov_off[cr[i].cls + 1] - fd->cov_off[cr[i].cls];

		memset(&one, 0, sizeof(one));
		if (cr[i].neg) {
			r = complement(cv, cn, fd->n_labels, &one);
			if (r)
				goto fail;
			cv = one.v;
			cn = one.n;
		}
		if (grow(&u, &cap, nu + cn, sizeof(*u))) {
			free(one.own);
			r = -ENOMEM;
			goto fail;
		}
		if (cn)
			copy_n(&u[nu], cv, cn * sizeof(*u));
		nu += cn;
		free(one.own);
	}
	if (n == 1) {
		out->v = out->own = u;
		out->n = nu;
		return 0;
	}
	sort_n(u, nu, sizeof(*u), cmp_u32);
	{
		size_t k = 0;

		for (size_t i = 0; i < nu; i++)
			if (!k || u[k - 1] != u[i])
				u[k++] = u[i];
		nu = k;
	}
	out->v = out->own = u;
	out->n = nu;
	return 0;
fail:
	free(u);
	return r;
}

static int cmp_cref(const void *a, const void *b)
{
	const struct cref *x = a, *y = b;

	return x->field < y->field ? -1 : x->field > y->field;
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->f->layer != y->f->layer)
		return x->f->layer < y->f->layer ? -1 : 1;
	if (x->sub != y->sub)
		return x->sub < y->sub ? -1 : 1;
	if (x->f->weight != y->f->weight)
		return x->f->weight > y->f->weight ? -1 : 1;
	return x->f->id < y->f->id ? -1 : x->f->id > y->f->id;
}

/* Per-layer bookkeeping while the candidates of that layer are placed. */
struct layer_state {
	int layer;
	int last_sub;  /* sublayer position of the current rank, -1 before the first */
	uint32_t rank; /* number of ranks handed out */
	size_t tuple_base;
	uint64_t inspect; /* bit i: tuple tuple_base + i holds inspection callouts only */
};

static int tuple_get(struct lower *L, struct layer_state *ls, const struct lfp_filter *f,
		     uint32_t fieldmask, bool inspect, uint32_t *tid)
{
	struct lfp_lowered *o = L->out;
	struct lfp_tuple t = { 0 };
	int r;

	/* tuples are created in rank order: only the current rank's can match */
	for (size_t i = o->n_tuples; i-- > ls->tuple_base;) {
		uint32_t m = 0;

		if (o->tuples[i].sublayer_rank != ls->rank - 1)
			break;
		/* inspection filters never share a tuple with terminating ones: a
		 * rule key names one filter, and neither may hide the other */
		if (!!(ls->inspect >> (i - ls->tuple_base) & 1) != inspect)
			continue;
		for (unsigned int j = 0; j < o->tuples[i].nfields; j++)
			m |= 1u << o->tuples[i].fields[j];
		if (m == fieldmask) {
			*tid = (uint32_t)i;
			return 0;
		}
	}
	if (o->n_tuples - ls->tuple_base >= LFP_MAX_TUPLES)
		return diag_filter(L, f, -E2BIG,
				   "layer needs more than %d condition shapes (tuples)",
				   LFP_MAX_TUPLES);
	t.id = (uint32_t)o->n_tuples;
	t.sublayer_rank = (uint8_t)(ls->rank - 1);
	for (unsigned int b = 0; b < LFP_F_COUNT; b++)
		if (fieldmask & (1u << b))
			t.fields[t.nfields++] = (uint8_t)b;
	r = PUSH(o->tuples, o->n_tuples, L->cap_tuples, t);
	if (r)
		return r;
	if (inspect)
		ls->inspect |= 1ull << (t.id - ls->tuple_base);
	o->layer_cfg[ls->layer].used_fields |= fieldmask;
	o->layer_cfg[ls->layer].n_tuples++;
	*tid = t.id;
	return 0;
}

/* Expand one candidate into rule entries (or nothing when it can never match). */
static int cand_lower(struct lower *L, struct layer_state *ls, const struct cand *cd)
{
	const struct lfp_filter *f = cd->f;
	struct lfp_lowered *o = L->out;
	struct lset ls_f[LFP_F_COUNT];
	size_t nf = 0, total = 1, idx[LFP_TUPLE_MAX_FIELDS] = { 0 };
	uint32_t mask = 0, tid = 0, fidx;
	struct cref *cr = L->cref ? &L->cref[cd->cref_off] : NULL; /* no conditions: none */
	struct lfp_kfilter kf = { 0 };
	int r = 0;

	for (size_t i = 0; i < cd->n_cref;) {
		size_t j = i;
		struct lset s;
		uint8_t fld = cr[i].field;

		while (j < cd->n_cref && cr[j].field == fld)
			j++;
		r = field_lset(L, &cr[i], j - i, &s);
		if (r)
			goto out;
		i = j;
		if (s.n && !s.v[0] && !L->fld[fld].gap) {
			s.v++; /* label 0 cannot occur: every value is in some class */
			s.n--;
		}
		if (s.n == (size_t)L->fld[fld].n_labels + L->fld[fld].gap) {
			free(s.own); /* holds for every value: constrains nothing */
			continue;
		}
		ls_f[nf] = s;
		nf++;
		mask |= 1u << fld;
		if (!s.n)
			goto out; /* holds for no value: the filter never matches */
	}
	if (nf > LFP_TUPLE_MAX_FIELDS) {
		r = diag_filter(L, f, -E2BIG, "conditions on %zu fields; at most %d", nf,
				LFP_TUPLE_MAX_FIELDS);
		goto out;
	}
	for (size_t i = 0; i < nf; i++) {
		if (total > (L->max_rules - L->n_rules) / ls_f[i].n) {
			total = SIZE_MAX;
			break;
		}
		total *= ls_f[i].n;
	}
	if (total > L->max_rules - L->n_rules) {
		r = diag_filter(L, f, -E2BIG,
				"expands into too many rule entries (cap %zu); split it or avoid "
				"`!=` on fields with many distinct values",
				L->max_rules);
		goto out;
	}

	if ((int)cd->sub != ls->last_sub) {
		if (ls->rank >= LFP_MAX_SUBLAYERS) {
			r = diag_filter(L, f, -E2BIG, "layer has filters in more than %d sublayers",
					LFP_MAX_SUBLAYERS);
			goto out;
		}
		ls->rank++;
		ls->last_sub = (int)cd->sub;
		o->layer_cfg[ls->layer].n_sublayers = ls->rank;
	}
	r = tuple_get(L, ls, f, mask, cd->inspect, &tid);
	if (r)
		goto out;

	kf.id = f->id;
	kf.weight = f->weight;
	kf.ans = cd->ans.ans;
	kf.hard = cd->ans.hard;
	kf.callout = cd->ans.callout;
	kf.flags = f->flags & (LFP_FF_LOG | LFP_FF_NOLOG);
	if (cd->pend)
		kf.flags |= LFP_KF_PEND;
	if (cd->inspect)
		kf.flags |= LFP_KF_INSPECT;
	if (cd->notify) {
		kf.flags |= LFP_KF_NOTIFY;
		kf.ans = LFP_ANS_NONE;
		kf.hard = 0;
	}
	/* a block naming ICMP types holds for ND and PMTU messages too (packet layers) */
	if (mask & (1u << LFP_F_ICMP_TYPE))
		kf.flags |= LFP_KF_NAMES_ICMP;
	kf.sublayer_rank = (uint8_t)(ls->rank - 1);
	kf.action = (uint8_t)f->action.type;
	if (grow(&o->filters, &L->cap_filters, o->n_filters + 1, sizeof(*o->filters)) ||
	    grow(&o->filter_src, &L->cap_src, o->n_filters + 1, sizeof(*o->filter_src)) ||
	    grow(&L->rules, &L->cap_rules, L->n_rules + total, sizeof(*L->rules))) {
		r = -ENOMEM;
		goto out;
	}
	fidx = (uint32_t)o->n_filters++;
	o->filters[fidx] = kf;
	o->filter_src[fidx] = f;

	/* the cross product, labels in the tuple's (ascending) field order */
	for (size_t n = 0; n < total; n++) {
		struct rule *ru = &L->rules[L->n_rules++];

		memset(ru, 0, sizeof(*ru));
		ru->key.tuple = tid;
		ru->fidx = fidx;
		for (size_t i = 0; i < nf; i++)
			ru->key.label[i] = ls_f[i].v[idx[i]];
		for (size_t i = nf; i-- > 0;) {
			if (++idx[i] < ls_f[i].n)
				break;
			idx[i] = 0;
		}
	}
out:
	for (size_t i = 0; i < nf; i++)
		free(ls_f[i].own);
	return r;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	if (c)
		return c;
	return x->fidx < y->fidx ? -1 : x->fidx > y->fidx;
}

/* ---- outputs ------------------------------------------------------------------------- */

static unsigned int ctz128(u128 x, unsigned int width)
{
	if (!x)
		return width;
	if ((uint64_t)x)
		return (unsigned int)__builtin_ctzll((uint64_t)x);
	return 64 + (unsigned int)__builtin_ctzll((uint64_t)(x >> 64));
}

static u128 low_mask(unsigned int k)
{
	return k >= 128 ? U128_MAX : ((u128)1 << k) - 1;
}

/* Cover [lo, hi] of a @width-bit field with aligned prefixes, all labelled @label. */
static int lpm_emit(struct lower *L, enum lfp_field f, unsigned int width, u128 lo, u128 hi,
		    uint32_t label)
{
	struct lfp_lowered *o = L->out;

	for (;;) {
		unsigned int k = ctz128(lo, width);
		struct lfp_lpm_key key = { 0 };

		if (k > width)
			k = width;
		while (k && hi - lo < low_mask(k))
			k--;
		key.prefixlen = 32 + width - k;
		key.data[0] = (uint8_t)f;
		for (unsigned int b = 0; b < width / 8; b++)
			key.data[4 + b] = (uint8_t)(lo >> (width - 8 - 8 * b));
		if (grow(&o->lpm_keys, &L->cap_lpm, o->n_lpm + 1, sizeof(*o->lpm_keys)) ||
		    grow(&o->lpm_vals, &L->cap_lpmv, o->n_lpm + 1, sizeof(*o->lpm_vals)))
			return -ENOMEM;
		o->lpm_keys[o->n_lpm] = key;
		o->lpm_vals[o->n_lpm++] = label;
		if (hi - lo == low_mask(k))
			return 0;
		lo += low_mask(k) + 1;
	}
}

static int hash_emit(struct lower *L, uint32_t field, uint64_t a, uint64_t b, uint32_t label)
{
	struct lfp_lowered *o = L->out;
	struct lfp_hash_key key = { .field = field, .a = a, .b = b };

	if (grow(&o->hash_keys, &L->cap_hash, o->n_hash + 1, sizeof(*o->hash_keys)) ||
	    grow(&o->hash_vals, &L->cap_hashv, o->n_hash + 1, sizeof(*o->hash_vals)))
		return -ENOMEM;
	o->hash_keys[o->n_hash] = key;
	o->hash_vals[o->n_hash++] = label;
	return 0;
}

struct hash_ent {
	struct lfp_hash_key k;
	uint32_t v;
};

static int cmp_hash_ent(const void *a, const void *b)
{
	return memcmp(&((const struct hash_ent *)a)->k, &((const struct hash_ent *)b)->k,
		      sizeof(struct lfp_hash_key));
}

/* Label maps from each field's segments. LPM entries come out sorted by data (fields
 * ascending, segments ascending); hash entries are sorted here. */
static int labels_emit(struct lower *L)
{
	struct lfp_lowered *o = L->out;
	int r;

	for (unsigned int f = 0; f < LFP_F_COUNT; f++) {
		const struct fld *fd = &L->fld[f];
		enum fkind k = field_kind(f);

		for (size_t i = 0; i < fd->n_seg; i++) {
			const struct seg *s = &fd->seg[i];

			switch (k) {
			case FK_PORT:
				for (u128 x = s->lo; x <= s->hi; x++)
					o->port_labels[port_idx(f) * 65536 + (size_t)x] = s->label;
				break;
			case FK_SMALL:
			case FK_FLAGS:
				for (u128 x = s->lo; x <= s->hi; x++)
					o->small_labels[small_idx(f) * 256 + (size_t)x] = s->label;
				break;
			case FK_ADDR:
			case FK_U32:
				r = lpm_emit(L, f, k == FK_ADDR ? 128 : 32, s->lo, s->hi, s->label);
				if (r)
					return r;
				break;
			case FK_APP:
				for (u128 x = s->lo; x <= s->hi; x++) {
					r = hash_emit(L, f, L->apps[x].dev, L->apps[x].ino,
						      s->label);
					if (r)
						return r;
				}
				break;
			case FK_CGROUP:
				for (u128 x = s->lo; x <= s->hi; x++) {
					r = hash_emit(L, f, L->cgs[x].id, 0, s->label);
					if (r)
						return r;
				}
				break;
			}
		}
	}
	if (o->n_hash) {
		struct hash_ent *e = malloc(o->n_hash * sizeof(*e));

		if (!e)
			return -ENOMEM;
		for (size_t i = 0; i < o->n_hash; i++)
			e[i] = (struct hash_ent){ o->hash_keys[i], o->hash_vals[i] };
		sort_n(e, o->n_hash, sizeof(*e), cmp_hash_ent);
		for (size_t i = 0; i < o->n_hash; i++) {
			o->hash_keys[i] = e[i].k;
			o->hash_vals[i] = e[i].v;
		}
		free(e);
	}
	return 0;
}

/* Sort the rule entries, keep the first (best) filter per key. */
static int rules_emit(struct lower *L)
{
	struct lfp_lowered *o = L->out;
	size_t n = 0;

	sort_n(L->rules, L->n_rules, sizeof(*L->rules), cmp_rule);
	o->rule_keys = malloc(L->n_rules * sizeof(*o->rule_keys) + 1);
	o->rule_vals = malloc(L->n_rules * sizeof(*o->rule_vals) + 1);
	if (!o->rule_keys || !o->rule_vals)
		return -ENOMEM;
	for (size_t i = 0; i < L->n_rules; i++) {
		if (n && !memcmp(&o->rule_keys[n - 1], &L->rules[i].key, sizeof(L->rules[i].key)))
			continue;
		o->rule_keys[n] = L->rules[i].key;
		o->rule_vals[n++].filter_idx = L->rules[i].fidx;
	}
	o->n_rules = n;
	return 0;
}

/* ---- driver -------------------------------------------------------------------------- */

static int cands_build(struct lower *L)
{
	const struct lfp_policy *p = L->p;
	int r;

	for (size_t i = 0; i < p->n_filters; i++) {
		const struct lfp_filter *f = &p->filters[i];
		struct cand cd = { .f = f };
		enum effect eff;
		int sub;

		if ((unsigned int)f->layer >= LFP_LAYER_COUNT)
			return diag_filter(L, f, -EINVAL, "unknown layer %d", (int)f->layer);
		if (!(L->layers & (1u << f->layer)))
			continue;
		r = filter_effect(L, f, &cd.ans, &eff);
		if (r)
			return r;
		/* inspection callouts never decide; where the layer reports payloads
		 * to them (datagram-data, stream) the kernel must still see them match */
		if (eff == EFF_CONTINUE && f->layer != LFP_LAYER_DATAGRAM_DATA &&
		    f->layer != LFP_LAYER_STREAM)
			continue;
		cd.inspect = eff == EFF_CONTINUE;
		cd.pend = eff == EFF_PEND;
		cd.notify = eff == EFF_NOTIFY;
		sub = sub_find(L, f->sublayer);
		if (sub < 0)
			continue; /* in no sublayer: never evaluated (as in the oracle) */
		/*
		 * Notify filters answer nothing, so where they sit cannot change a
		 * verdict: they all go into one rank after the layer's last sublayer,
		 * where a hit only marks the classification for lfpd (which finds
		 * the callouts to tell by matching the event, docs/callouts.md).
		 */
		cd.sub = cd.notify ? (uint32_t)L->n_subs : (uint32_t)sub;
		r = cand_collect_values(L, f);
		if (r)
			return r;
		r = PUSH(L->cand, L->n_cand, L->cap_cand, cd);
		if (r)
			return r;
	}
	sort_n(L->cand, L->n_cand, sizeof(*L->cand), cmp_cand);
	return 0;
}

static int classes_build(struct lower *L)
{
	struct ivec iv = { 0 };
	int r = 0;

	for (size_t i = 0; i < L->n_cand && !r; i++) {
		struct cand *cd = &L->cand[i];
		const struct lfp_filter *f = cd->f;

		cd->cref_off = L->n_cref;
		for (size_t j = 0; j < f->n_conds && !r; j++) {
			const struct lfp_cond *c = &f->conds[j];
			struct cref cr = { .field = (uint8_t)c->field, .neg = c->op == LFP_OP_NE };

			r = cond_set(L, c, &iv);
			if (!r)
				r = class_get(&L->fld[c->field], &iv, &cr.cls);
			if (!r)
				r = PUSH(L->cref, L->n_cref, L->cap_cref, cr);
		}
		cd->n_cref = L->n_cref - cd->cref_off;
		if (cd->n_cref) /* a filter without conditions may leave cref NULL */
			sort_n(&L->cref[cd->cref_off], cd->n_cref, sizeof(*L->cref), cmp_cref);
	}
	free(iv.v);
	return r;
}

static int rules_build(struct lower *L)
{
	struct layer_state ls = { .layer = -1 };
	int r;

	for (size_t i = 0; i < L->n_cand; i++) {
		const struct cand *cd = &L->cand[i];

		if ((int)cd->f->layer != ls.layer) {
			ls = (struct layer_state){ .layer = cd->f->layer,
						   .last_sub = -1,
						   .tuple_base = L->out->n_tuples };
			L->out->layer_cfg[ls.layer].tuple_base = (uint32_t)ls.tuple_base;
		}
		r = cand_lower(L, &ls, cd);
		if (r)
			return r;
	}
	return 0;
}

static void lower_fini(struct lower *L)
{
	free(L->subs);
	free(L->cand);
	free(L->cref);
	free(L->apps);
	for (size_t i = 0; i < L->n_cgs; i++)
		free(L->cgs[i].path);
	free(L->cgs);
	free(L->cg_by_id);
	for (int f = 0; f < LFP_F_COUNT; f++) {
		struct fld *fd = &L->fld[f];

		free(fd->iv);
		free(fd->cls);
		htab_fini(&fd->ctab);
		free(fd->cov_off);
		free(fd->cov);
		free(fd->seg);
	}
	free(L->rules);
}

int lfp_lower(const struct lfp_policy *p, const struct lfp_lower_opts *opts,
	      struct lfp_lowered *out, struct lfp_diags *diags)
{
	struct lower L = { .p = p, .diags = diags, .out = out };
	int r;

	memset(out, 0, sizeof(*out));
	if (!p)
		return -EINVAL;
	L.layers = (1u << LFP_LAYER_COUNT) - 1;
	L.max_rules = DEFAULT_MAX_RULES;
	if (opts && opts->sz >= offsetof(struct lfp_lower_opts, layers) + sizeof(opts->layers) &&
	    opts->layers)
		L.layers = opts->layers;
	if (opts &&
	    opts->sz >= offsetof(struct lfp_lower_opts, max_rules) + sizeof(opts->max_rules) &&
	    opts->max_rules)
		L.max_rules = opts->max_rules;

	out->port_labels = calloc(LFP_LBL_PORT_ENTRIES, sizeof(*out->port_labels));
	out->small_labels = calloc(LFP_LBL_SMALL_ENTRIES, sizeof(*out->small_labels));
	r = -ENOMEM;
	if (!out->port_labels || !out->small_labels)
		goto fail;
	r = subs_init(&L);
	if (!r)
		r = cands_build(&L);
	if (r)
		goto fail;
	r = domains_build(&L);
	if (!r)
		r = classes_build(&L);
	for (int f = 0; f < LFP_F_COUNT && !r; f++)
		if (L.fld[f].n_cls)
			r = field_sweep(&L, f);
	if (!r)
		r = rules_build(&L);
	if (!r)
		r = labels_emit(&L);
	if (!r)
		r = rules_emit(&L);
	if (r)
		goto fail;
	lower_fini(&L);
	return 0;
fail:
	lower_fini(&L);
	lfp_lowered_fini(out);
	return r;
}

void lfp_lowered_fini(struct lfp_lowered *lw)
{
	if (!lw)
		return;
	free(lw->port_labels);
	free(lw->small_labels);
	free(lw->lpm_keys);
	free(lw->lpm_vals);
	free(lw->hash_keys);
	free(lw->hash_vals);
	free(lw->tuples);
	free(lw->rule_keys);
	free(lw->rule_vals);
	free(lw->filters);
	free(lw->filter_src);
	memset(lw, 0, sizeof(*lw));
}
