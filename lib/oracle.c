// SPDX-License-Identifier: MIT
/*
 * The reference arbitration (WFP-MODEL.md, "Arbitration" and "Conditions"),
 * written to be read, not to be fast: every classification scans every
 * filter of the policy once per sublayer. The kernel evaluator indexes the
 * same policy by tuple space; differential tests hold it to this file, so
 * clarity wins over cleverness here every time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/oracle.h>
#include <lfp/layer.h>

/*
 * Filters naming no sublayer go to "default". A policy need not list it
 * (a bare ruleset never does); then it behaves as if listed with id 1.
 */
static const struct lfp_sublayer default_sublayer = {
	.id = 1,
	.name = (char *)LFP_SUBLAYER_DEFAULT_NAME,
	.weight = LFP_SUBLAYER_DEFAULT_WEIGHT,
};

/* ::ffff:0:0/96, where IPv4 lives once written v4-mapped */
static const uint8_t v4mapped_lo[16] = { [10] = 0xff, [11] = 0xff };
static const uint8_t v4mapped_hi[16] = {
	[10] = 0xff, [11] = 0xff, [12] = 0xff, [13] = 0xff, [14] = 0xff, [15] = 0xff
};

static bool addr_is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, v4mapped_lo, 16) >= 0 && memcmp(a, v4mapped_hi, 16) <= 0;
}

/* Integer view of a connection field; a field the connection lacks reads as 0. */
static uint64_t conn_int(const struct lfp_conn *c, enum lfp_field f)
{
	switch (f) {
	case LFP_F_USER: return c->uid;
	case LFP_F_GROUP: return c->gid;
	case LFP_F_PID: return c->pid;
	case LFP_F_PROTO: return c->proto;
	case LFP_F_IPVER: return c->ipver;
	case LFP_F_LOCAL_PORT: return c->lport;
	case LFP_F_REMOTE_PORT: return c->rport;
	case LFP_F_ORIG_PORT: return c->oport;
	case LFP_F_DIRECTION: return c->direction;
	case LFP_F_IFACE: return c->ifindex;
	case LFP_F_ICMP_TYPE: return c->icmp_type;
	case LFP_F_ICMP_CODE: return c->icmp_code;
	case LFP_F_FLAGS: return c->flags;
	default: return 0;
	}
}

static const uint8_t *conn_addr(const struct lfp_conn *c, enum lfp_field f)
{
	switch (f) {
	case LFP_F_LOCAL_ADDR: return c->laddr;
	case LFP_F_REMOTE_ADDR: return c->raddr;
	default: return c->oaddr;
	}
}

/*
 * Names (user, group, iface) only mean something once resolved to ids; a
 * name the resolver has not seen must not match by accident as id 0.
 */
static bool value_needs_resolution(enum lfp_field f, const struct lfp_value *v)
{
	return v->form == LFP_VF_NAME && v->str &&
	       (f == LFP_F_USER || f == LFP_F_GROUP || f == LFP_F_IFACE);
}

static bool value_usable(enum lfp_field f, const struct lfp_value *v)
{
	if (v->absent)
		return false;
	return !value_needs_resolution(f, v) || v->resolved;
}

static bool addr_in_value(const uint8_t a[16], const struct lfp_value *v)
{
	if (memcmp(a, v->alo, 16) < 0 || memcmp(a, v->ahi, 16) > 0)
		return false;
	/*
	 * A value written as IPv6 speaks about IPv6: even ::/0 does not cover
	 * IPv4 connections, unless the author wrote a range inside the
	 * v4-mapped block on purpose (::ffff:10.0.0.0/104).
	 */
	if (!v->v4 && addr_is_v4mapped(a))
		return addr_is_v4mapped(v->alo) && addr_is_v4mapped(v->ahi);
	return true;
}

/* "/a" covers "/a" and "/a/b", never "/ab"; "/" covers every cgroup. */
static bool cgroup_path_covers(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	while (n && prefix[n - 1] == '/')
		n--;
	if (strncmp(prefix, path, n))
		return false;
	return path[n] == '\0' || path[n] == '/';
}

static bool app_value_matches(const struct lfp_value *v, const struct lfp_conn *c)
{
	if (v->absent)
		return false;
	/* online: the kernel gave us an identity, so compare identities only */
	if (c->app_dev || c->app_ino)
		return v->resolved && v->lo == c->app_dev && v->hi == c->app_ino;
	/* offline explain: the connection names the app by path */
	return v->str && c->app_path && !strcmp(v->str, c->app_path);
}

static bool cgroup_value_matches(const struct lfp_value *v, const struct lfp_conn *c)
{
	if (v->absent)
		return false;
	if (v->resolved && c->cgroup_depth) {
		uint32_t depth = c->cgroup_depth;

		if (depth > LFP_CGROUP_MAX_DEPTH)
			depth = LFP_CGROUP_MAX_DEPTH;
		for (uint32_t i = 0; i < depth; i++)
			if (c->cgroup_ids[i] == v->lo)
				return true;
		return false;
	}
	return v->str && c->cgroup_path && cgroup_path_covers(v->str, c->cgroup_path);
}

/* Does one value of an `==` condition hold? (`!=` negates the whole set.) */
static bool value_matches(enum lfp_field f, const struct lfp_value *v, const struct lfp_conn *c)
{
	uint64_t x;

	switch (f) {
	case LFP_F_APP: return app_value_matches(v, c);
	case LFP_F_CGROUP: return cgroup_value_matches(v, c);
	case LFP_F_LOCAL_ADDR:
	case LFP_F_REMOTE_ADDR:
	case LFP_F_ORIG_ADDR: return !v->absent && addr_in_value(conn_addr(c, f), v);
	case LFP_F_FLAGS: return !v->absent && (c->flags & v->lo) == v->lo;
	default:
		if (!value_usable(f, v))
			return false;
		x = conn_int(c, f);
		return x >= v->lo && x <= v->hi;
	}
}

/* <, <=, >, >= compare against the condition's first value. */
static bool cond_compare(const struct lfp_cond *cd, const struct lfp_conn *c)
{
	const struct lfp_value *v = &cd->v[0];
	int cmp;

	switch (cd->field) {
	case LFP_F_LOCAL_ADDR:
	case LFP_F_REMOTE_ADDR:
	case LFP_F_ORIG_ADDR: {
		const uint8_t *a = conn_addr(c, cd->field);

		if (v->absent || (!v->v4 && addr_is_v4mapped(a)) || (v->v4 && !addr_is_v4mapped(a)))
			return false;
		cmp = memcmp(a, v->alo, 16);
		break;
	}
	case LFP_F_APP:
	case LFP_F_CGROUP:
	case LFP_F_FLAGS: return false; /* not ordered; the parser refuses these */
	default: {
		uint64_t x = conn_int(c, cd->field);

		if (!value_usable(cd->field, v))
			return false;
		cmp = x < v->lo ? -1 : x > v->lo;
		break;
	}
	}
	switch (cd->op) {
	case LFP_OP_LT: return cmp < 0;
	case LFP_OP_LE: return cmp <= 0;
	case LFP_OP_GT: return cmp > 0;
	case LFP_OP_GE: return cmp >= 0;
	default: return false;
	}
}

static bool cond_matches(const struct lfp_cond *cd, const struct lfp_conn *c)
{
	bool any = false;

	if (cd->op != LFP_OP_EQ && cd->op != LFP_OP_NE)
		return cd->n && cond_compare(cd, c);
	for (size_t i = 0; i < cd->n && !any; i++)
		any = value_matches(cd->field, &cd->v[i], c);
	return cd->op == LFP_OP_EQ ? any : !any;
}

bool lfp_filter_matches(const struct lfp_filter *f, const struct lfp_conn *c)
{
	/* AND across fields, OR among the conditions that name the same field */
	for (int field = 0; field < LFP_F_COUNT; field++) {
		bool named = false, held = false;

		for (size_t i = 0; i < f->n_conds; i++) {
			if ((int)f->conds[i].field != field)
				continue;
			named = true;
			if (cond_matches(&f->conds[i], c)) {
				held = true;
				break;
			}
		}
		if (named && !held)
			return false;
	}
	return true;
}

static bool sublayer_before(const struct lfp_sublayer *a, const struct lfp_sublayer *b)
{
	if (a->weight != b->weight)
		return a->weight > b->weight;
	return a->id < b->id;
}

int lfp_policy_sublayer_order(const struct lfp_policy *p, size_t *order)
{
	/* insertion sort: a handful of sublayers, and stable on full ties */
	for (size_t i = 0; i < p->n_sublayers; i++) {
		size_t j = i;

		while (j && sublayer_before(&p->sublayers[i], &p->sublayers[order[j - 1]])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	return 0;
}

static bool filter_before(const struct lfp_filter *a, size_t ia, const struct lfp_filter *b,
			  size_t ib)
{
	if (a->weight != b->weight)
		return a->weight > b->weight;
	if (a->id != b->id)
		return a->id < b->id;
	return ia < ib;
}

static bool filter_in_sublayer(const struct lfp_filter *f, const struct lfp_sublayer *s)
{
	const char *name = f->sublayer ? f->sublayer : LFP_SUBLAYER_DEFAULT_NAME;

	return s->name && !strcmp(name, s->name);
}

static bool layer_can_pend(enum lfp_layer l)
{
	const struct lfp_layer_info *li = lfp_layer_info(l);

	return li && li->can_pend;
}

static const struct lfp_callout *callout_find(const struct lfp_policy *p, const char *name)
{
	for (size_t i = 0; name && i < p->n_callouts; i++)
		if (p->callouts[i].name && !strcmp(p->callouts[i].name, name))
			return &p->callouts[i];
	return NULL;
}

/* What one filter says when it is reached. */
enum effect {
	EFFECT_CONTINUE,
	EFFECT_ANSWER,
	EFFECT_PEND, /* a soft block in the fold that never vetoes; verdict pend if it decides */
};

static enum effect filter_effect(const struct lfp_policy *p, const struct lfp_filter *f,
				 struct lfp_answer *a)
{
	const struct lfp_callout *co;

	memset(a, 0, sizeof(*a));
	switch (f->action.type) {
	case LFP_ACT_PERMIT:
	case LFP_ACT_REDIRECT: /* a redirect lets the flow through (elsewhere) */
		a->ans = LFP_ANS_PERMIT;
		a->hard = !!(f->flags & LFP_FF_HARD);
		return EFFECT_ANSWER;
	case LFP_ACT_BLOCK:
		a->ans = LFP_ANS_BLOCK;
		a->hard = !(f->flags & LFP_FF_SOFT);
		return EFFECT_ANSWER;
	case LFP_ACT_CALLOUT:
		/* built-in: `count` only counts */
		if (f->action.callout && !strcmp(f->action.callout, "count"))
			return EFFECT_CONTINUE;
		co = callout_find(p, f->action.callout);
		/* an external callout answers only where its flow can wait for it (auth-connect,
		 * auth-recv-accept, not inspection); elsewhere it is told and cannot change the
		 * verdict (WFP-MODEL.md, Objects). The built-in `ask` is a person: it pends. */
		if (co && strcmp(co->name, "ask") &&
		    (co->type == LFP_CALLOUT_INSPECTION || !layer_can_pend(f->layer)))
			return EFFECT_CONTINUE;
		if (co)
			goto pend; /* its answer comes from its client, later */
		/* unregistered: fail closed unless the filter says fail open; both soft */
		a->ans = (f->flags & LFP_FF_PERMIT_IF_UNREG) ? LFP_ANS_PERMIT : LFP_ANS_BLOCK;
		a->callout = 1;
		return EFFECT_ANSWER;
	case LFP_ACT_ASK: goto pend;
	}
	return EFFECT_CONTINUE;
pend:
	/*
	 * callout stays 0: a pending answer must not veto a hard permit above it
	 * (WFP-MODEL.md: a flow pends only while its answer can still matter).
	 */
	a->ans = LFP_ANS_BLOCK;
	return EFFECT_PEND;
}

/*
 * One sublayer: its matching filters from the highest weight down (equal
 * weights: oldest id first) until one answers. Selection by repeated scan
 * keeps it obviously correct and allocation-free.
 */
static void sublayer_classify(const struct lfp_policy *p, const struct lfp_conn *c,
			      const struct lfp_sublayer *s, struct lfp_sublayer_result *out)
{
	const struct lfp_filter *prev = NULL;
	size_t prev_i = 0;

	memset(out, 0, sizeof(*out));
	out->sublayer = s;
	for (;;) {
		const struct lfp_filter *best = NULL;
		size_t best_i = 0;
		struct lfp_answer a;
		enum effect e;

		for (size_t i = 0; i < p->n_filters; i++) {
			const struct lfp_filter *f = &p->filters[i];

			if (f->layer != c->layer || !filter_in_sublayer(f, s))
				continue;
			if (prev && !filter_before(prev, prev_i, f, i))
				continue; /* already taken */
			if (best && !filter_before(f, i, best, best_i))
				continue;
			if (!lfp_filter_matches(f, c))
				continue;
			best = f;
			best_i = i;
		}
		if (!best)
			return; /* no terminating answer: the sublayer has none */
		e = filter_effect(p, best, &a);
		if (e != EFFECT_CONTINUE) {
			out->answer = a;
			out->filter = best;
			out->pend = e == EFFECT_PEND;
			return;
		}
		prev = best;
		prev_i = best_i;
	}
}

void lfp_classify_result_fini(struct lfp_classify_result *r)
{
	if (!r)
		return;
	free(r->subs);
	memset(r, 0, sizeof(*r));
}

static bool policy_has_default(const struct lfp_policy *p)
{
	for (size_t i = 0; i < p->n_sublayers; i++)
		if (p->sublayers[i].name &&
		    !strcmp(p->sublayers[i].name, LFP_SUBLAYER_DEFAULT_NAME))
			return true;
	return false;
}

int lfp_oracle_classify(const struct lfp_policy *p, const struct lfp_conn *c,
			struct lfp_classify_result *out)
{
	bool add_default = !policy_has_default(p);
	size_t n = p->n_sublayers + add_default;
	const struct lfp_sublayer **sl;
	struct lfp_answer d = { 0 };
	size_t *order;

	memset(out, 0, sizeof(*out));
	out->verdict = LFP_V_PERMIT;
	sl = calloc(n ? n : 1, sizeof(*sl));
	order = calloc(n ? n : 1, sizeof(*order));
	out->subs = calloc(n ? n : 1, sizeof(*out->subs));
	if (!sl || !order || !out->subs) {
		free(sl);
		free(order);
		lfp_classify_result_fini(out);
		return -ENOMEM;
	}

	/* evaluation order, with the implicit default slotted in by its weight and id */
	lfp_policy_sublayer_order(p, order);
	for (size_t i = 0, k = 0; k < n; k++) {
		if (add_default && (i == p->n_sublayers ||
				    sublayer_before(&default_sublayer, &p->sublayers[order[i]]))) {
			sl[k] = &default_sublayer;
			add_default = false;
		} else {
			sl[k] = &p->sublayers[order[i++]];
		}
	}
	out->n_subs = n;

	/* every sublayer is evaluated, even after a hard block */
	for (size_t k = 0; k < n; k++) {
		struct lfp_sublayer_result *sr = &out->subs[k];

		sublayer_classify(p, c, sl[k], sr);
		sr->answer.idx = (unsigned int)k; /* the slot: the decision leads back to subs[] */
		lfp_fold(&d, &sr->answer);
	}
	free(sl);
	free(order);

	if (d.ans == LFP_ANS_NONE)
		return 0; /* no answer anywhere: permit, no deciding filter */
	out->hard = d.hard;
	out->filter = out->subs[d.idx].filter;
	if (d.veto)
		out->verdict = LFP_V_VETO;
	else if (out->subs[d.idx].pend)
		out->verdict = LFP_V_PEND;
	else if (d.ans == LFP_ANS_BLOCK)
		out->verdict = LFP_V_BLOCK;
	else if (out->filter->action.type == LFP_ACT_REDIRECT)
		out->verdict = LFP_V_REDIRECT;
	else
		out->verdict = LFP_V_PERMIT;
	return 0;
}

int lfp_oracle_layer_before(enum lfp_layer l)
{
	/* WFP's order: the redirect layers run first and the authorization
	 * layers see the rewritten operation */
	switch (l) {
	case LFP_LAYER_AUTH_CONNECT: return LFP_LAYER_CONNECT_REDIRECT;
	case LFP_LAYER_RESOURCE_ASSIGNMENT: return LFP_LAYER_BIND_REDIRECT;
	default: return -ENOENT;
	}
}
