// SPDX-License-Identifier: MIT
/*
 * Shared generator of the differential tests (gen.h). Moved out of
 * tests/unit/test_lower.c unchanged, so the user-space and the BPF
 * differential tests draw the same policies and connections from a seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/layer.h>
#include <lfp/lower.h>
#include <lfp/oracle.h>

#include "gen.h"

/* ---- policy builder ---- */

struct tp *tp_new(void)
{
	struct tp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	return t;
}

void tp_free(struct tp *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->p.n_filters; i++)
		lfp_filter_fini(&t->p.filters[i]);
	for (size_t i = 0; i < t->p.n_sublayers; i++)
		lfp_sublayer_fini(&t->p.sublayers[i]);
	for (size_t i = 0; i < t->p.n_callouts; i++)
		free(t->p.callouts[i].name);
	free(t->p.filters);
	free(t->p.sublayers);
	free(t->p.callouts);
	free(t);
}

static void *grow_arr(void *p, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	p = realloc(p, *cap * sz);
	assert_non_null(p);
	return p;
}

struct lfp_sublayer *tp_sublayer(struct tp *t, uint32_t id, const char *name, uint16_t weight)
{
	struct lfp_sublayer *s;

	t->p.sublayers =
		grow_arr(t->p.sublayers, &t->cap_s, t->p.n_sublayers, sizeof(*t->p.sublayers));
	s = &t->p.sublayers[t->p.n_sublayers++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->name = strdup(name);
	s->weight = weight;
	return s;
}

void tp_callout(struct tp *t, const char *name, enum lfp_callout_type type)
{
	t->p.callouts = grow_arr(t->p.callouts, &t->cap_c, t->p.n_callouts, sizeof(*t->p.callouts));
	t->p.callouts[t->p.n_callouts].name = strdup(name);
	t->p.callouts[t->p.n_callouts++].type = type;
}

struct lfp_filter *tp_filter(struct tp *t, enum lfp_layer layer, const char *sublayer,
			     enum lfp_action_type act, uint32_t flags, uint64_t weight)
{
	struct lfp_filter *f;

	t->p.filters = grow_arr(t->p.filters, &t->cap_f, t->p.n_filters, sizeof(*t->p.filters));
	f = &t->p.filters[t->p.n_filters++];
	memset(f, 0, sizeof(*f));
	f->id = ++t->next_id;
	f->layer = layer;
	f->sublayer = sublayer ? strdup(sublayer) : NULL;
	f->action.type = act;
	f->flags = flags;
	f->wkind = LFP_W_EXPLICIT;
	f->weight_arg = f->weight = weight;
	return f;
}

struct lfp_filter *tp_callout_filter(struct tp *t, const char *sublayer, const char *name,
				     uint32_t flags, uint64_t weight)
{
	struct lfp_filter *f = tp_filter(t, AC, sublayer, LFP_ACT_CALLOUT, flags, weight);

	f->action.callout = strdup(name);
	return f;
}

struct lfp_cond *cond_new(struct lfp_filter *f, enum lfp_field field, enum lfp_op op)
{
	struct lfp_cond *c;

	f->conds = realloc(f->conds, (f->n_conds + 1) * sizeof(*f->conds));
	assert_non_null(f->conds);
	c = &f->conds[f->n_conds++];
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->op = op;
	return c;
}

void cond_add(struct lfp_cond *c, struct lfp_value v)
{
	c->v = realloc(c->v, (c->n + 1) * sizeof(*c->v));
	assert_non_null(c->v);
	c->v[c->n++] = v;
	c->set = c->n > 1;
}

/* Append a condition; the values (passed by value) are taken over, str included. */
void cond(struct lfp_filter *f, enum lfp_field field, enum lfp_op op, size_t n, ...)
{
	struct lfp_cond *c = cond_new(f, field, op);
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		cond_add(c, va_arg(ap, struct lfp_value));
	va_end(ap);
}

/* ---- values ---- */

struct lfp_value vi(uint64_t x)
{
	return (struct lfp_value){ .form = LFP_VF_NUMBER, .lo = x, .hi = x };
}

struct lfp_value vr(uint64_t lo, uint64_t hi)
{
	return (struct lfp_value){ .form = LFP_VF_RANGE, .lo = lo, .hi = hi };
}

struct lfp_value vf(uint64_t mask)
{
	return (struct lfp_value){ .form = LFP_VF_FLAGS, .lo = mask, .hi = mask };
}

struct lfp_value vapp(const char *path, uint64_t dev, uint64_t ino)
{
	return (struct lfp_value){
		.form = LFP_VF_PATH, .str = strdup(path), .lo = dev, .hi = ino, .resolved = true
	};
}

struct lfp_value vcg(const char *path, uint64_t id)
{
	return (struct lfp_value){
		.form = LFP_VF_PATH, .str = strdup(path), .lo = id, .resolved = true
	};
}

struct lfp_value vabsent(const char *path)
{
	return (struct lfp_value){
		.form = LFP_VF_PATH, .str = strdup(path), .resolved = true, .absent = true
	};
}

/* "10.0.0.1" -> ::ffff:10.0.0.1, "2001:db8::1" as is */
void addr(uint8_t a[16], const char *s)
{
	memset(a, 0, 16);
	if (strchr(s, ':')) {
		assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	} else {
		a[10] = a[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, s, a + 12), 1);
	}
}

/* a prefix as the parser writes it: v4 prefixes as ::ffff:a.b.c.d/(96+n) */
struct lfp_value vp(const char *cidr)
{
	struct lfp_value v = { .form = LFP_VF_PREFIX };
	char buf[64];
	char *slash;
	unsigned int n, off;

	snprintf(buf, sizeof(buf), "%s", cidr);
	slash = strchr(buf, '/');
	v.v4 = !strchr(buf, ':');
	if (slash)
		*slash = '\0';
	n = slash ? (unsigned int)atoi(slash + 1) : (v.v4 ? 32 : 128);
	v.plen = (uint8_t)n;
	addr(v.alo, buf);
	off = v.v4 ? 96 : 0;
	memcpy(v.ahi, v.alo, 16);
	for (unsigned int bit = off + n; bit < 128; bit++) {
		v.alo[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
		v.ahi[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	}
	return v;
}
/* ---- random policies and connections ---- */

uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rn(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

bool chance(struct rng *r, unsigned int pct)
{
	return rn(r, 100) < pct;
}

/* A cgroup tree with names that share prefixes; conns also sit in unnamed children. */
static const struct {
	uint64_t id;
	const char *path;
	int parent;
} cgt[] = {
	{ 1, "/", -1 },	     { 10, "/a", 0 },	{ 11, "/a/b", 1 },
	{ 12, "/a/b/c", 2 }, { 13, "/ab", 0 },	{ 14, "/a/b-c", 1 },
	{ 15, "/x", 0 },     { 16, "/x/y", 6 }, { 17, "/a/b/c/d", 3 },
};

static const struct {
	uint64_t dev, ino;
} apps[] = { { 8, 100 }, { 8, 101 }, { 9, 100 }, { 0x800001, 5 } };

static const char *const v4pool[] = {
	"10.0.0.0/8", "10.1.0.0/16",   "10.1.2.0/24",  "10.1.2.3/32",	"192.168.0.0/16",
	"0.0.0.0/0",  "172.16.5.0/25", "127.0.0.1/32", "10.1.2.128/25",
};
static const char *const v6pool[] = {
	"2001:db8::/32",   "2001:db8:1::/48", "::/0", "::ffff:10.0.0.0/104", "fe80::/10", "::1/128",
	"2001:db8::5/128", "::ffff:0:0/96",   "::/8",
};

static const uint64_t ports[] = { 0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535 };
static const uint64_t ids[] = { 0, 1, 1000, 1001, 65534, 0xffffffffu };
static const uint64_t pids[] = { 1, 2, 100, 4242, 0x3fffff };
static const uint64_t protos[] = { 0, 1, 6, 17, 58, 255 };
static const uint64_t icmps[] = { 0, 3, 8, 11, 255 };
static const uint64_t ifaces[] = { 1, 2, 3, 10 };
static const uint64_t weights[] = {
	0, 1, 2, 5, 100, 1ull << 60, (7ull << 60) | 3, UINT64_MAX,
};
static const uint16_t sweights[] = { 0x8000, 100, 100, 0xffff, 0, 5 };

static int addr_slot(enum lfp_field f)
{
	return f == LFP_F_LOCAL_ADDR ? 0 : f == LFP_F_REMOTE_ADDR ? 1 : 2;
}

static void hot_int(struct hot *h, enum lfp_field f, uint64_t x)
{
	for (int d = -1; d <= 1; d++)
		if (h->n[f] < 64)
			h->v[f][h->n[f]++] = x + (uint64_t)(int64_t)d;
}

static void addr_step(uint8_t a[16], int d)
{
	for (int i = 15; i >= 0; i--) {
		uint8_t old = a[i];

		a[i] = (uint8_t)(a[i] + d);
		if ((d > 0 && a[i] > old) || (d < 0 && a[i] < old))
			break;
	}
}

static void hot_addr(struct hot *h, enum lfp_field f, const uint8_t a[16])
{
	int s = addr_slot(f);

	for (int d = -1; d <= 1; d++) {
		if (h->na[s] >= 64)
			return;
		memcpy(h->a[s][h->na[s]], a, 16);
		if (d)
			addr_step(h->a[s][h->na[s]], d);
		h->na[s]++;
	}
}

const char *const fold_rows[8] = {
	"none -> any",	       "soft permit + block", "soft permit + permit",
	"soft block + permit", "soft block + block",  "hard permit + callout block (veto)",
	"hard permit + other", "hard block + any",
};

static void random_addr_value(struct rng *r, struct lfp_value *v, struct cov *cv)
{
	if (chance(r, 50)) {
		*v = vp(PICK(r, v4pool));
		cv->v4++;
	} else if (chance(r, 70)) {
		*v = vp(PICK(r, v6pool));
		cv->v6++;
	} else {
		/* a range between two pool addresses of one family, or a random prefix */
		bool v4 = chance(r, 50);
		struct lfp_value a = vp(v4 ? PICK(r, v4pool) : PICK(r, v6pool));
		struct lfp_value b = vp(v4 ? PICK(r, v4pool) : PICK(r, v6pool));

		*v = (struct lfp_value){ .form = LFP_VF_RANGE, .v4 = v4 };
		memcpy(v->alo, chance(r, 50) ? a.alo : a.ahi, 16);
		memcpy(v->ahi, chance(r, 50) ? b.alo : b.ahi, 16);
		if (memcmp(v->alo, v->ahi, 16) > 0) {
			uint8_t tmp[16];

			memcpy(tmp, v->alo, 16);
			memcpy(v->alo, v->ahi, 16);
			memcpy(v->ahi, tmp, 16);
		}
		cv->range++;
	}
}

static uint64_t int_pool(struct rng *r, enum lfp_field f)
{
	switch (f) {
	case LFP_F_LOCAL_PORT:
	case LFP_F_REMOTE_PORT:
	case LFP_F_ORIG_PORT: return chance(r, 80) ? PICK(r, ports) : rn(r, 65536);
	case LFP_F_USER:
	case LFP_F_GROUP: return chance(r, 80) ? PICK(r, ids) : rn(r, 1ull << 32);
	case LFP_F_PID: return chance(r, 80) ? PICK(r, pids) : rn(r, 0x400000);
	case LFP_F_PROTO: return PICK(r, protos);
	case LFP_F_IPVER: return chance(r, 50) ? 4 : 6;
	case LFP_F_DIRECTION: return rn(r, 2);
	case LFP_F_IFACE: return PICK(r, ifaces);
	case LFP_F_ICMP_TYPE: return chance(r, 80) ? PICK(r, icmps) : rn(r, 256);
	default: /* icmp code */ return rn(r, 4);
	}
}

static struct lfp_value random_value(struct rng *r, enum lfp_field f, enum lfp_op op, struct hot *h,
				     struct cov *cv)
{
	struct lfp_value v = { 0 };
	size_t k;

	if (chance(r, 4)) {
		cv->absent++;
		v = vabsent("/gone");
		return v;
	}
	switch (f) {
	case LFP_F_APP:
		k = rn(r, sizeof(apps) / sizeof(apps[0]));
		return vapp("/app", apps[k].dev, apps[k].ino);
	case LFP_F_CGROUP:
		k = rn(r, sizeof(cgt) / sizeof(cgt[0]));
		return vcg(cgt[k].path, cgt[k].id);
	case LFP_F_FLAGS: return vf(chance(r, 3) ? 0 : 1 + rn(r, LFP_CF_ALL));
	case LFP_F_LOCAL_ADDR:
	case LFP_F_REMOTE_ADDR:
	case LFP_F_ORIG_ADDR:
		random_addr_value(r, &v, cv);
		hot_addr(h, f, v.alo);
		hot_addr(h, f, v.ahi);
		return v;
	default: break;
	}
	if ((f == LFP_F_USER || f == LFP_F_GROUP || f == LFP_F_IFACE) && chance(r, 10)) {
		/* a name: resolved, or not (then it names nothing) */
		v = (struct lfp_value){ .form = LFP_VF_NAME, .str = strdup("someone") };
		if (chance(r, 50)) {
			v.lo = v.hi = int_pool(r, f);
			v.resolved = true;
		} else {
			cv->unresolved++;
		}
		hot_int(h, f, v.lo);
		return v;
	}
	if (op <= LFP_OP_NE && chance(r, 30)) {
		uint64_t a = int_pool(r, f), b = int_pool(r, f);

		v = vr(a < b ? a : b, a < b ? b : a);
		cv->range++;
	} else {
		v = vi(int_pool(r, f));
	}
	hot_int(h, f, v.lo);
	hot_int(h, f, v.hi);
	return v;
}

static const char *const callout_names[] = { "count", "audit", "ext" };

/* The ALE layers lfpd enforces; the hooks fill the same evaluator input,
 * only the layer and the fields it exposes differ. And datagram-data and
 * stream, where inspection callouts are lowered into tuples of their own that
 * must never change a verdict. */
static const enum lfp_layer ale_layers[] = {
	LFP_LAYER_RESOURCE_ASSIGNMENT, LFP_LAYER_BIND_REDIRECT,	   LFP_LAYER_AUTH_LISTEN,
	LFP_LAYER_FLOW_ESTABLISHED,    LFP_LAYER_ENDPOINT_CLOSURE, LFP_LAYER_CONNECT_REDIRECT,
	LFP_LAYER_DATAGRAM_DATA,       LFP_LAYER_STREAM,
};

/* Mostly auth-connect and auth-recv-accept (the fields and actions of both
 * cover everything), the other ALE layers beside them. */
static enum lfp_layer random_layer(struct rng *r)
{
	if (chance(r, 80))
		return chance(r, 75) ? AC : RA;
	return ale_layers[rn(r, sizeof(ale_layers) / sizeof(ale_layers[0]))];
}

void random_policy(struct rng *r, struct tp *t, struct hot *h, struct cov *cv)
{
	unsigned int n_sub = 1 + (unsigned int)rn(r, 4), n_f = 1 + (unsigned int)rn(r, 40);
	const char *subs[6] = { NULL };
	unsigned int n_names = 0;
	uint64_t *id_perm;

	memset(h, 0, sizeof(*h));
	tp_callout(t, "audit", LFP_CALLOUT_INSPECTION);
	if (chance(r, 50))
		tp_sublayer(t, 1, LFP_SUBLAYER_DEFAULT_NAME, LFP_SUBLAYER_DEFAULT_WEIGHT);
	for (unsigned int i = 0; i < n_sub; i++) {
		char name[8];

		snprintf(name, sizeof(name), "s%u", i);
		subs[n_names++] = tp_sublayer(t, 2 + i, name, PICK(r, sweights))->name;
	}
	subs[n_names++] = NULL; /* default */

	/* ids are unique but not in insertion order */
	id_perm = calloc(n_f, sizeof(*id_perm));
	assert_non_null(id_perm);
	for (unsigned int i = 0; i < n_f; i++)
		id_perm[i] = 1 + i;
	for (unsigned int i = n_f; i > 1; i--) {
		unsigned int j = (unsigned int)rn(r, i);
		uint64_t x = id_perm[i - 1];

		id_perm[i - 1] = id_perm[j];
		id_perm[j] = x;
	}

	for (unsigned int i = 0; i < n_f; i++) {
		enum lfp_layer layer = random_layer(r);
		const struct lfp_layer_info *li = lfp_layer_info(layer);
		uint64_t w = chance(r, 70) ? PICK(r, weights) : rn(r, 8);
		uint32_t flags = 0;
		unsigned int n_c = (unsigned int)rn(r, 5), a = (unsigned int)rn(r, 100);
		struct lfp_filter *f;

		if (chance(r, 30))
			flags |= LFP_FF_HARD;
		if (chance(r, 30))
			flags |= LFP_FF_SOFT;
		if (chance(r, 20))
			flags |= chance(r, 50) ? LFP_FF_LOG : LFP_FF_NOLOG;
		if (a < 34) {
			f = tp_filter(t, layer, subs[rn(r, n_names)], LFP_ACT_PERMIT, flags, w);
		} else if (a < 70) {
			f = tp_filter(t, layer, subs[rn(r, n_names)], LFP_ACT_BLOCK, flags, w);
		} else if (a < 95) {
			if (chance(r, 50))
				flags |= LFP_FF_PERMIT_IF_UNREG;
			f = tp_filter(t, layer, subs[rn(r, n_names)], LFP_ACT_CALLOUT, flags, w);
			f->action.callout = strdup(a < 80 ? "ext" : PICK(r, callout_names));
		} else {
			f = tp_filter(t, layer, subs[rn(r, n_names)], LFP_ACT_REDIRECT, flags, w);
		}
		f->id = id_perm[i];
		cv->layer[layer]++;
		if (!n_c)
			cv->empty++;
		for (unsigned int c = 0; c < n_c; c++) {
			enum lfp_field fld;
			enum lfp_op op;
			unsigned int nv;
			struct lfp_cond *cd;

			do
				fld = (enum lfp_field)rn(r, LFP_F_COUNT);
			while (!(li->fields & (1u << fld)));
			if (fld == LFP_F_APP || fld == LFP_F_CGROUP || fld == LFP_F_FLAGS)
				op = chance(r, 97) ? (chance(r, 70) ? LFP_OP_EQ : LFP_OP_NE)
						   : (enum lfp_op)(LFP_OP_LT + rn(r, 4));
			else
				op = chance(r, 55)   ? LFP_OP_EQ
				     : chance(r, 45) ? LFP_OP_NE
						     : (enum lfp_op)(LFP_OP_LT + rn(r, 4));
			nv = op <= LFP_OP_NE && chance(r, 30) ? 2 + (unsigned int)rn(r, 2) : 1;
			for (size_t k = 0; k < f->n_conds; k++)
				if (f->conds[k].field == fld)
					cv->multi++;
			cd = cond_new(f, fld, op);
			for (unsigned int k = 0; k < nv; k++)
				cond_add(cd, random_value(r, fld, op, h, cv));
			if (nv > 1)
				cv->set++;
			cv->field[fld]++;
			cv->op[op]++;
		}
	}
	free(id_perm);
	t->next_id = n_f;
}

static void random_addr(struct rng *r, const struct hot *h, enum lfp_field f, uint8_t a[16],
			bool v4)
{
	int s = addr_slot(f);

	if (h->na[s] && chance(r, 70)) {
		memcpy(a, h->a[s][rn(r, h->na[s])], 16);
		return;
	}
	for (int i = 0; i < 16; i++)
		a[i] = (uint8_t)rnd(r);
	if (v4) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
	} else if (chance(r, 50)) {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
	}
}

static uint64_t conn_int_value(struct rng *r, const struct hot *h, enum lfp_field f)
{
	if (h->n[f] && chance(r, 65))
		return h->v[f][rn(r, h->n[f])];
	return int_pool(r, f);
}

static bool is_v4mapped(const uint8_t a[16])
{
	static const uint8_t pre[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pre, 12);
}

void random_conn(struct rng *r, const struct hot *h, struct lfp_conn *c)
{
	bool v4 = chance(r, 55);
	size_t k;
	int node;

	memset(c, 0, sizeof(*c));
	c->layer = random_layer(r);
	if (chance(r, 85)) {
		k = rn(r, sizeof(apps) / sizeof(apps[0]) + 1);
		c->app_dev = k < 4 ? apps[k].dev : 8;
		c->app_ino = k < 4 ? apps[k].ino : 999;
	}
	c->uid = (uint32_t)conn_int_value(r, h, LFP_F_USER);
	c->gid = (uint32_t)conn_int_value(r, h, LFP_F_GROUP);
	c->pid = (uint32_t)conn_int_value(r, h, LFP_F_PID);
	if (chance(r, 90)) {
		int chain[16], n = 0;

		node = (int)rn(r, sizeof(cgt) / sizeof(cgt[0]));
		for (int x = node; x >= 0; x = cgt[x].parent)
			chain[n++] = x;
		for (int i = 0; i < n; i++)
			c->cgroup_ids[i] = cgt[chain[n - 1 - i]].id;
		c->cgroup_depth = (uint32_t)n;
		if (chance(r, 30))
			c->cgroup_ids[c->cgroup_depth++] = 1000 + rn(r, 3); /* an unnamed child */
	}
	c->proto = (uint8_t)conn_int_value(r, h, LFP_F_PROTO);
	random_addr(r, h, LFP_F_REMOTE_ADDR, c->raddr, v4);
	v4 = is_v4mapped(c->raddr);
	random_addr(r, h, LFP_F_LOCAL_ADDR, c->laddr, v4);
	random_addr(r, h, LFP_F_ORIG_ADDR, c->oaddr, v4);
	c->ipver = chance(r, 95) ? (v4 ? 4 : 6) : (uint8_t)conn_int_value(r, h, LFP_F_IPVER);
	c->lport = (uint16_t)conn_int_value(r, h, LFP_F_LOCAL_PORT);
	c->rport = (uint16_t)conn_int_value(r, h, LFP_F_REMOTE_PORT);
	c->oport = (uint16_t)conn_int_value(r, h, LFP_F_ORIG_PORT);
	c->direction = (uint8_t)conn_int_value(r, h, LFP_F_DIRECTION);
	c->ifindex = (uint32_t)conn_int_value(r, h, LFP_F_IFACE);
	c->icmp_type = (uint8_t)conn_int_value(r, h, LFP_F_ICMP_TYPE);
	c->icmp_code = (uint8_t)conn_int_value(r, h, LFP_F_ICMP_CODE);
	c->flags = (uint32_t)rn(r, LFP_CF_ALL + 1);
}

/* Which rows of the fold table this classification went through. */
void fold_coverage(const struct lfp_classify_result *res, struct cov *cv)
{
	struct lfp_answer d = { 0 };

	for (size_t i = 0; i < res->n_subs; i++) {
		const struct lfp_answer *n = &res->subs[i].answer;
		int row;

		if (n->ans == LFP_ANS_NONE)
			continue;
		if (d.ans == LFP_ANS_NONE)
			row = 0;
		else if (!d.hard && d.ans == LFP_ANS_PERMIT)
			row = n->ans == LFP_ANS_BLOCK ? 1 : 2;
		else if (!d.hard)
			row = n->ans == LFP_ANS_PERMIT ? 3 : 4;
		else if (d.ans == LFP_ANS_PERMIT)
			row = n->ans == LFP_ANS_BLOCK && n->callout ? 5 : 6;
		else
			row = 7;
		cv->fold[row]++;
		lfp_fold(&d, n);
	}
}

void print_addr(FILE *o, const uint8_t a[16])
{
	char buf[INET6_ADDRSTRLEN];

	fputs(inet_ntop(AF_INET6, a, buf, sizeof(buf)), o);
}

const char *const op_names[] = { "==", "!=", "<", "<=", ">", ">=" };

void print_policy(FILE *o, const struct lfp_policy *p)
{
	for (size_t i = 0; i < p->n_sublayers; i++)
		fprintf(o, "  sublayer %s id %u weight %u\n", p->sublayers[i].name,
			p->sublayers[i].id, p->sublayers[i].weight);
	for (size_t i = 0; i < p->n_callouts; i++)
		fprintf(o, "  callout %s type %d (registered)\n", p->callouts[i].name,
			(int)p->callouts[i].type);
	for (size_t i = 0; i < p->n_filters; i++) {
		const struct lfp_filter *f = &p->filters[i];

		fprintf(o,
			"  filter id %" PRIu64 " layer %s sublayer %s weight %#" PRIx64
			" action %s%s%s flags %#x\n",
			f->id, lfp_layer_info(f->layer)->name,
			f->sublayer ? f->sublayer : "(default)", f->weight,
			lfp_action_name(f->action.type), f->action.callout ? " " : "",
			f->action.callout ? f->action.callout : "", f->flags);
		for (size_t j = 0; j < f->n_conds; j++) {
			const struct lfp_cond *c = &f->conds[j];

			fprintf(o, "    %s %s {", lfp_field_info(c->field)->name, op_names[c->op]);
			for (size_t k = 0; k < c->n; k++) {
				const struct lfp_value *v = &c->v[k];

				fputs(k ? ", " : " ", o);
				if (v->absent) {
					fputs("<absent>", o);
					continue;
				}
				if (lfp_field_info(c->field)->kind == LFP_FK_ADDR) {
					print_addr(o, v->alo);
					fputs("-", o);
					print_addr(o, v->ahi);
					fputs(v->v4 ? "(v4)" : "(v6)", o);
				} else {
					fprintf(o, "%#" PRIx64 "-%#" PRIx64, v->lo, v->hi);
				}
				if (v->str)
					fprintf(o, " '%s'%s", v->str,
						v->resolved ? "" : " unresolved");
			}
			fputs(" }\n", o);
		}
	}
}

void print_conn(FILE *o, const struct lfp_conn *c)
{
	fprintf(o,
		"  conn layer %s app %#" PRIx64 ":%" PRIu64 " uid %u gid %u pid %u proto %u "
		"ipver %u dir %u iface %u icmp %u/%u flags %#x\n  cgroups",
		lfp_layer_info(c->layer)->name, c->app_dev, c->app_ino, c->uid, c->gid, c->pid,
		c->proto, c->ipver, c->direction, c->ifindex, c->icmp_type, c->icmp_code, c->flags);
	for (uint32_t i = 0; i < c->cgroup_depth; i++)
		fprintf(o, " %" PRIu64, c->cgroup_ids[i]);
	fputs("\n  local ", o);
	print_addr(o, c->laddr);
	fprintf(o, " port %u remote ", c->lport);
	print_addr(o, c->raddr);
	fprintf(o, " port %u orig ", c->rport);
	print_addr(o, c->oaddr);
	fprintf(o, " port %u\n", c->oport);
}

uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

void cov_record(struct cov *cv, const struct lfp_classify_result *res)
{
	fold_coverage(res, cv);
	cv->cases++;
	cv->verdict[res->verdict]++;
	if (!res->filter)
		cv->nomatch++;
}

void cov_print(FILE *o, const struct cov *cv)
{
	fprintf(o,
		"# verdicts: permit %" PRIu64 " block %" PRIu64 " veto %" PRIu64
		" redirect %" PRIu64 " (no deciding filter %" PRIu64 ")\n",
		cv->verdict[LFP_V_PERMIT], cv->verdict[LFP_V_BLOCK], cv->verdict[LFP_V_VETO],
		cv->verdict[LFP_V_REDIRECT], cv->nomatch);
	fprintf(o, "# filters per layer:");
	for (int l = 0; l < LFP_LAYER_COUNT; l++)
		if (cv->layer[l])
			fprintf(o, " %s %" PRIu64, lfp_layer_info(l)->name, cv->layer[l]);
	fprintf(o, "\n");
	fprintf(o, "# conditions per field:");
	for (int f = 0; f < LFP_F_COUNT; f++)
		fprintf(o, " %s %" PRIu64, lfp_field_info(f)->name, cv->field[f]);
	fprintf(o, "\n# operators:");
	for (int op = 0; op <= LFP_OP_GE; op++)
		fprintf(o, " %s %" PRIu64, op_names[op], cv->op[op]);
	fprintf(o,
		"\n# values: v4 prefixes %" PRIu64 ", v6 prefixes %" PRIu64 ", ranges %" PRIu64
		", sets %" PRIu64 ", absent %" PRIu64 ", unresolved names %" PRIu64
		"; same-field conditions %" PRIu64 ", filters without conditions %" PRIu64 "\n",
		cv->v4, cv->v6, cv->range, cv->set, cv->absent, cv->unresolved, cv->multi,
		cv->empty);
	fprintf(o, "# fold rows:");
	for (int i = 0; i < 8; i++)
		fprintf(o, "%s %s: %" PRIu64, i ? "," : "", fold_rows[i], cv->fold[i]);
	fprintf(o, "\n");
}

bool cov_complete(const struct cov *cv)
{
	bool all = true;

	for (int f = 0; f < LFP_F_COUNT; f++)
		if ((lfp_layer_info(AC)->fields | lfp_layer_info(RA)->fields) & (1u << f))
			all &= cv->field[f] > 0;
	for (int op = 0; op <= LFP_OP_GE; op++)
		all &= cv->op[op] > 0;
	all &= cv->layer[AC] > 0 && cv->layer[RA] > 0;
	for (size_t l = 0; l < sizeof(ale_layers) / sizeof(ale_layers[0]); l++)
		all &= cv->layer[ale_layers[l]] > 0;
	for (int i = 0; i < 8; i++)
		all &= cv->fold[i] > 0;
	all &= cv->verdict[LFP_V_PERMIT] && cv->verdict[LFP_V_BLOCK] && cv->verdict[LFP_V_VETO] &&
	       cv->verdict[LFP_V_REDIRECT];
	return all;
}
