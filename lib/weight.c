// SPDX-License-Identifier: MIT
/*
 * Effective filter weights. The generated part (docs/weights.md) must be a
 * pure function of the conditions, so the same rule text gets the same
 * weight on every machine and after every restart: no ids, no time, no
 * resolved identities enter it.
 */
#include <string.h>
#include <lfp/policy.h>
#include <lfp/layer.h>

typedef unsigned __int128 u128;

#define FRAC_BITS      16
#define SPEC_ONE       (1u << 20) /* specificity of one exact value */
#define NFIELDS_SHIFT  56
#define GENERATED_MASK ((1ull << 60) - 1)
#define CGROUP_LEVELS  16

/* log2(x) for x >= 1, FRAC_BITS fractional bits, by repeated squaring of the mantissa. */
static uint64_t log2_fix(u128 x)
{
	unsigned int m = 127;
	uint64_t r;
	u128 y;

	while (!(x >> m))
		m--;
	y = m >= 63 ? x >> (m - 63) : x << (63 - m); /* in [2^63, 2^64): 1.0 .. 2.0 */
	r = (uint64_t)m << FRAC_BITS;
	for (int bit = FRAC_BITS - 1; bit >= 0; bit--) {
		y = (y * y) >> 63;
		if (y >> 64) {
			y >>= 1;
			r |= 1ull << bit;
		}
	}
	return r;
}

/* log2 of a count given as count - 1, so that 2^128 is representable */
static uint64_t log2_count(u128 count_minus_1)
{
	if (count_minus_1 == ~(u128)0)
		return (uint64_t)128 << FRAC_BITS;
	return log2_fix(count_minus_1 + 1);
}

/*
 * How much of a field's space a value leaves out, on a log scale, scaled so
 * that the whole space is 0 and a single value is SPEC_ONE. Normalising by
 * the field's size lets an exact port and an exact IPv6 address count alike.
 */
static uint32_t spec_of(u128 width_minus_1, u128 domain_minus_1)
{
	uint64_t ld = log2_count(domain_minus_1), lw = log2_count(width_minus_1);

	if (!ld || lw >= ld)
		return 0;
	return (uint32_t)((u128)(ld - lw) * SPEC_ONE / ld);
}

static u128 addr128(const uint8_t a[16])
{
	u128 x = 0;

	for (int i = 0; i < 16; i++)
		x = (x << 8) | a[i];
	return x;
}

/* the numeric view of a value (low 32 bits for IPv4), its domain's last element */
static void value_numeric(enum lfp_field f, const struct lfp_value *v, bool addr, u128 *lo,
			  u128 *hi, u128 *max)
{
	if (addr) {
		*lo = addr128(v->alo);
		*hi = addr128(v->ahi);
		*max = ~(u128)0;
		if (v->v4) {
			*lo &= 0xffffffffu;
			*hi &= 0xffffffffu;
			*max = 0xffffffffu;
		}
		return;
	}
	*max = lfp_field_info(f)->max;
	*lo = v->lo;
	*hi = v->hi;
	if (v->form == LFP_VF_NAME && v->str && !v->resolved) /* a name is one id */
		*hi = *lo;
}

static unsigned int cgroup_depth(const char *path)
{
	unsigned int d = 0;

	for (const char *s = path; s && *s; s++)
		if (*s != '/' && (s == path || s[-1] == '/'))
			d++;
	return d;
}

static uint32_t value_spec(enum lfp_field f, enum lfp_op op, const struct lfp_value *v)
{
	const struct lfp_field_info *fi = lfp_field_info(f);
	u128 lo, hi, max, w;
	unsigned int d;

	switch (fi ? fi->kind : LFP_FK_INT) {
	case LFP_FK_APP: return SPEC_ONE;
	case LFP_FK_CGROUP:
		d = cgroup_depth(v->str);
		if (!d)
			return 0;
		if (d > CGROUP_LEVELS)
			d = CGROUP_LEVELS;
		return SPEC_ONE / 2 + d * (SPEC_ONE / 2 / CGROUP_LEVELS);
	case LFP_FK_FLAGS:
		return (uint32_t)__builtin_popcountll(v->lo & LFP_CF_ALL) * SPEC_ONE /
		       (uint32_t)__builtin_popcount(LFP_CF_ALL);
	case LFP_FK_ADDR: value_numeric(f, v, true, &lo, &hi, &max); break;
	default:
		if (!fi)
			return 0;
		value_numeric(f, v, false, &lo, &hi, &max);
		break;
	}
	if (lo > max)
		lo = max;
	if (hi > max)
		hi = max;
	/* w is the number of matching values minus one; an empty range counts as exact */
	switch (op) {
	case LFP_OP_LT: w = lo ? lo - 1 : 0; break;
	case LFP_OP_LE: w = lo; break;
	case LFP_OP_GT: w = lo < max ? max - lo - 1 : 0; break;
	case LFP_OP_GE: w = max - lo; break;
	default: w = hi >= lo ? hi - lo : 0; break;
	}
	return spec_of(w, max);
}

/* a condition is as specific as its widest member; `!=` constrains but adds nothing */
static uint32_t cond_spec(const struct lfp_cond *c)
{
	uint32_t s = SPEC_ONE;

	if (!c->n || c->op == LFP_OP_NE)
		return 0;
	if (c->op != LFP_OP_EQ)
		return value_spec(c->field, c->op, &c->v[0]);
	for (size_t i = 0; i < c->n; i++) {
		uint32_t vs = value_spec(c->field, c->op, &c->v[i]);

		if (vs < s)
			s = vs;
	}
	return s;
}

static uint64_t weight_generated(const struct lfp_filter *f)
{
	uint64_t nfields = 0, sum = 0;

	for (int field = 0; field < LFP_F_COUNT; field++) {
		uint32_t fs = SPEC_ONE;
		bool named = false;

		/* conditions on one field are OR'ed: the widest one bounds the field */
		for (size_t i = 0; i < f->n_conds; i++) {
			uint32_t cs;

			if ((int)f->conds[i].field != field)
				continue;
			named = true;
			cs = cond_spec(&f->conds[i]);
			if (cs < fs)
				fs = cs;
		}
		if (named) {
			nfields++;
			sum += fs;
		}
	}
	if (nfields > 15)
		nfields = 15;
	return ((nfields << NFIELDS_SHIFT) | sum) & GENERATED_MASK;
}

void lfp_filter_weight(struct lfp_filter *f)
{
	switch (f->wkind) {
	case LFP_W_EXPLICIT: f->weight = f->weight_arg; break;
	case LFP_W_CLASS: f->weight = ((f->weight_arg & 0xf) << 60) | weight_generated(f); break;
	default: f->weight = weight_generated(f); break;
	}
}
