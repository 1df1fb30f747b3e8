// SPDX-License-Identifier: MIT
/*
 * The engine's object store and transactions.
 *
 * A transaction works on arrays of pointers: committed filters are shared
 * with the engine, new ones are marked fresh. Commit lowers the candidate
 * and hands it to the kernel first; the engine's arrays are swapped only when
 * the kernel accepted the new generation, so a failure at any step leaves
 * the engine, the kernel and the state dir as they were.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "kern.h"
#include "store.h"
#include <jansson.h>

#define DEFAULT_SUBLAYER_ID 1

static int strdup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static void eng_filter_free(struct eng_filter *ef)
{
	if (!ef)
		return;
	lfp_filter_fini(&ef->f);
	free(ef);
}

int engine_init(struct engine *eng, struct lfp_kern *kern, const char *state_dir)
{
	memset(eng, 0, sizeof(*eng));
	eng->kern = kern;
	eng->next_filter_id = 1;
	eng->next_sublayer_id = DEFAULT_SUBLAYER_ID + 1;
	eng->enforced_layers = 1u << LFP_LAYER_AUTH_CONNECT;
	eng->n_slots = LFP_KERN_COUNTER_SLOTS;
	eng->slot_used = calloc(eng->n_slots, 1);
	eng->subs = calloc(1, sizeof(*eng->subs));
	eng->callouts = calloc(1, sizeof(*eng->callouts));
	if (!eng->slot_used || !eng->subs || !eng->callouts)
		goto nomem;
	eng->slot_used[0] = 1; /* slot 0 is never given out: it reads "no filter" */
	eng->subs[0].id = DEFAULT_SUBLAYER_ID;
	eng->subs[0].weight = LFP_SUBLAYER_DEFAULT_WEIGHT;
	eng->subs[0].name = strdup(LFP_SUBLAYER_DEFAULT_NAME);
	eng->subs[0].lifetime = LFP_LT_RUNTIME;
	eng->n_subs = 1;
	eng->callouts[0].name = strdup("count");
	eng->callouts[0].type = LFP_CALLOUT_INSPECTION;
	eng->n_callouts = 1;
	if (!eng->subs[0].name || !eng->callouts[0].name)
		goto nomem;
	if (strdup_opt(&eng->state_dir, state_dir))
		goto nomem;
	return 0;
nomem:
	engine_fini(eng);
	return -ENOMEM;
}

void engine_fini(struct engine *eng)
{
	for (size_t i = 0; i < eng->n_filters; i++)
		eng_filter_free(eng->filters[i]);
	free(eng->filters);
	for (size_t i = 0; i < eng->n_subs; i++)
		lfp_sublayer_fini(&eng->subs[i]);
	free(eng->subs);
	for (size_t i = 0; i < eng->n_callouts; i++)
		free(eng->callouts[i].name);
	free(eng->callouts);
	free(eng->slot_used);
	free(eng->state_dir);
	memset(eng, 0, sizeof(*eng));
}

/* ---- transactions ---- */

int eng_txn_begin(struct engine *eng, struct eng_txn *txn)
{
	memset(txn, 0, sizeof(*txn));
	txn->eng = eng;
	txn->cap = eng->n_filters + 16;
	txn->filters = malloc(txn->cap * sizeof(*txn->filters));
	txn->subs = calloc(eng->n_subs, sizeof(*txn->subs));
	if (!txn->filters || !txn->subs)
		goto nomem;
	if (eng->n_filters)
		memcpy(txn->filters, eng->filters, eng->n_filters * sizeof(*txn->filters));
	txn->n_filters = eng->n_filters;
	for (size_t i = 0; i < eng->n_subs; i++) {
		if (lfp_sublayer_copy(&txn->subs[i], &eng->subs[i]))
			goto nomem;
		txn->n_subs = i + 1;
	}
	txn->next_filter_id = eng->next_filter_id;
	txn->next_sublayer_id = eng->next_sublayer_id;
	return 0;
nomem:
	eng_txn_abort(txn);
	return -ENOMEM;
}

static void subs_free(struct lfp_sublayer *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lfp_sublayer_fini(&subs[i]);
	free(subs);
}

void eng_txn_abort(struct eng_txn *txn)
{
	for (size_t i = 0; i < txn->n_filters; i++)
		if (txn->filters[i]->fresh)
			eng_filter_free(txn->filters[i]);
	free(txn->filters);
	subs_free(txn->subs, txn->n_subs);
	memset(txn, 0, sizeof(*txn));
}

static struct lfp_sublayer *txn_find_sub(struct eng_txn *txn, const char *name)
{
	if (!name)
		name = LFP_SUBLAYER_DEFAULT_NAME;
	for (size_t i = 0; i < txn->n_subs; i++)
		if (!strcmp(txn->subs[i].name, name))
			return &txn->subs[i];
	return NULL;
}

static int parse_id(const char *s, uint64_t *id)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*id = v;
	return 0;
}

static ssize_t txn_find_filter(struct eng_txn *txn, const char *id_or_name)
{
	uint64_t id;
	bool by_id = !parse_id(id_or_name, &id);

	for (size_t i = 0; i < txn->n_filters; i++) {
		const struct lfp_filter *f = &txn->filters[i]->f;

		if (by_id ? f->id == id : (f->name && !strcmp(f->name, id_or_name)))
			return (ssize_t)i;
	}
	return -1;
}

static int check_filter(struct eng_txn *txn, const struct lfp_filter *f, struct lfp_diags *diags)
{
	const struct lfp_layer_info *li = lfp_layer_info(f->layer);
	const char *what = f->name ? f->name : "(unnamed)";

	if (!(txn->eng->enforced_layers & (1u << f->layer))) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "filter '%s': layer '%s' is not enforced by this lfpd yet "
			      "(see lfp status)",
			      what, li->name);
		return -EOPNOTSUPP;
	}
	if (f->action.type == LFP_ACT_ASK || f->action.type == LFP_ACT_REDIRECT) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "filter '%s': action '%s' is not available in this lfpd yet", what,
			      lfp_action_name(f->action.type));
		return -EOPNOTSUPP;
	}
	if (!txn_find_sub(txn, f->sublayer)) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "filter '%s': no sublayer named '%s'", what, f->sublayer);
		return -ENOENT;
	}
	if (f->name) {
		for (size_t i = 0; i < txn->n_filters; i++) {
			const char *n = txn->filters[i]->f.name;

			if (n && !strcmp(n, f->name)) {
				lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
					      "a filter named '%s' exists already (id %" PRIu64 ")",
					      f->name, txn->filters[i]->f.id);
				return -EEXIST;
			}
		}
	}
	if (f->lifetime == LFP_LT_BOOT_TIME) {
		lfp_diags_add(
			diags, LFP_DIAG_ERROR, f->loc, NULL,
			"filter '%s': boot-time filters need the early loader, which this lfpd "
			"does not have yet",
			what);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int txn_push(struct eng_txn *txn, struct eng_filter *ef)
{
	if (txn->n_filters == txn->cap) {
		size_t cap = txn->cap * 2 + 16;
		struct eng_filter **v = realloc(txn->filters, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		txn->filters = v;
		txn->cap = cap;
	}
	txn->filters[txn->n_filters++] = ef;
	return 0;
}

static int64_t txn_insert(struct eng_txn *txn, struct lfp_filter *f, uint64_t id,
			  const char *provider, enum lfp_lifetime lt, struct lfp_diags *diags)
{
	struct eng_filter *ef;
	int r;

	if (f->sublayer && !strcmp(f->sublayer, LFP_SUBLAYER_DEFAULT_NAME)) {
		free(f->sublayer);
		f->sublayer = NULL;
	}
	f->lifetime = lt;
	r = check_filter(txn, f, diags);
	if (r)
		return r;
	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return -ENOMEM;
	ef->f = *f;
	memset(f, 0, sizeof(*f));
	ef->fresh = true;
	ef->f.id = id ? id : txn->next_filter_id++;
	if (id && id >= txn->next_filter_id)
		txn->next_filter_id = id + 1;
	free(ef->f.provider);
	if (strdup_opt(&ef->f.provider, provider ? provider : "cli") || txn_push(txn, ef)) {
		eng_filter_free(ef);
		return -ENOMEM;
	}
	if (lt == LFP_LT_PERSISTENT)
		txn->persistent_changed = true;
	return (int64_t)ef->f.id;
}

int64_t eng_txn_add_filter(struct eng_txn *txn, struct lfp_filter *f, const char *provider,
			   enum lfp_lifetime lt, struct lfp_diags *diags)
{
	return txn_insert(txn, f, 0, provider, lt, diags);
}

static void txn_remove_at(struct eng_txn *txn, size_t i)
{
	struct eng_filter *ef = txn->filters[i];

	if (ef->f.lifetime == LFP_LT_PERSISTENT)
		txn->persistent_changed = true;
	if (ef->fresh)
		eng_filter_free(ef);
	memmove(&txn->filters[i], &txn->filters[i + 1],
		(txn->n_filters - i - 1) * sizeof(*txn->filters));
	txn->n_filters--;
}

int eng_txn_del_filter(struct eng_txn *txn, const char *id_or_name, struct lfp_diags *diags)
{
	ssize_t i = txn_find_filter(txn, id_or_name);

	if (i < 0) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "no filter with id or name '%s'", id_or_name);
		return -ENOENT;
	}
	txn_remove_at(txn, (size_t)i);
	return 0;
}

int eng_txn_add_sublayer(struct eng_txn *txn, struct lfp_sublayer *s, const char *provider,
			 enum lfp_lifetime lt, struct lfp_diags *diags)
{
	struct lfp_sublayer *v;

	if (txn_find_sub(txn, s->name)) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, s->loc, NULL, "sublayer '%s' exists already",
			      s->name);
		return -EEXIST;
	}
	if (lt == LFP_LT_BOOT_TIME) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, s->loc, NULL,
			      "sublayer '%s': boot-time objects need the early loader, which this "
			      "lfpd does not have yet",
			      s->name);
		return -EOPNOTSUPP;
	}
	v = realloc(txn->subs, (txn->n_subs + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	txn->subs = v;
	v[txn->n_subs] = *s;
	memset(s, 0, sizeof(*s));
	s = &v[txn->n_subs];
	free(s->provider);
	s->provider = NULL;
	if (strdup_opt(&s->provider, provider ? provider : "cli")) {
		lfp_sublayer_fini(s);
		return -ENOMEM;
	}
	if (!s->id)
		s->id = txn->next_sublayer_id++;
	else if (s->id >= txn->next_sublayer_id)
		txn->next_sublayer_id = s->id + 1;
	s->lifetime = lt;
	txn->n_subs++;
	if (lt == LFP_LT_PERSISTENT)
		txn->persistent_changed = true;
	return 0;
}

int eng_txn_del_sublayer(struct eng_txn *txn, const char *name, struct lfp_diags *diags)
{
	struct lfp_sublayer *s = txn_find_sub(txn, name);
	size_t i;

	if (!s) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "no sublayer named '%s'", name);
		return -ENOENT;
	}
	if (s->id == DEFAULT_SUBLAYER_ID) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "the built-in sublayer 'default' cannot be deleted");
		return -EPERM;
	}
	for (i = 0; i < txn->n_filters; i++) {
		const char *fs = txn->filters[i]->f.sublayer;

		if (fs && !strcmp(fs, s->name)) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "sublayer '%s' still holds filters (e.g. id %" PRIu64
				      "); delete them first",
				      s->name, txn->filters[i]->f.id);
			return -EBUSY;
		}
	}
	if (s->lifetime == LFP_LT_PERSISTENT)
		txn->persistent_changed = true;
	i = (size_t)(s - txn->subs);
	lfp_sublayer_fini(s);
	memmove(&txn->subs[i], &txn->subs[i + 1], (txn->n_subs - i - 1) * sizeof(*txn->subs));
	txn->n_subs--;
	return 0;
}

static bool owned_by(const char *obj_provider, const char *provider)
{
	return !provider || (obj_provider && !strcmp(obj_provider, provider));
}

int eng_txn_replace_provider(struct eng_txn *txn, const char *provider, struct lfp_ruleset *rs,
			     enum lfp_lifetime lt, struct lfp_diags *diags)
{
	bool *keep_new = calloc(rs->n_filters + 1, sizeof(bool));
	uint32_t first_new_sub = txn->next_sublayer_id;
	int r = 0;

	if (!keep_new)
		return -ENOMEM;
	/* sublayers first: new and changed ones must exist before filters name them */
	for (size_t i = 0; i < rs->n_sublayers; i++) {
		struct lfp_sublayer *old = txn_find_sub(txn, rs->sublayers[i].name);

		if (old) {
			if (!owned_by(old->provider, provider) || old->id == DEFAULT_SUBLAYER_ID) {
				lfp_diags_add(diags, LFP_DIAG_ERROR, rs->sublayers[i].loc, NULL,
					      "sublayer '%s' belongs to provider '%s'", old->name,
					      old->provider ? old->provider : "lfp");
				r = -EEXIST;
				goto out;
			}
			if (old->weight != rs->sublayers[i].weight || old->lifetime != lt) {
				old->weight = rs->sublayers[i].weight;
				old->lifetime = lt;
				txn->persistent_changed = true;
			}
			continue;
		}
		r = eng_txn_add_sublayer(txn, &rs->sublayers[i], provider, lt, diags);
		if (r)
			goto out;
	}
	/* filters: keep the provider's filters that the file still says, drop the rest */
	for (size_t i = 0; i < txn->n_filters;) {
		struct lfp_filter *f = &txn->filters[i]->f;
		bool kept = false;

		if (!owned_by(f->provider, provider)) {
			i++;
			continue;
		}
		for (size_t j = 0; j < rs->n_filters && !kept; j++) {
			if (!keep_new[j] && f->lifetime == lt &&
			    lfp_filter_equal(f, &rs->filters[j])) {
				keep_new[j] = true;
				kept = true;
			}
		}
		if (kept)
			i++;
		else
			txn_remove_at(txn, i);
	}
	for (size_t j = 0; j < rs->n_filters; j++) {
		int64_t id;

		if (keep_new[j])
			continue;
		id = txn_insert(txn, &rs->filters[j], 0, provider, lt, diags);
		if (id < 0) {
			r = (int)id;
			goto out;
		}
	}
	/* the provider's sublayers that the file no longer has */
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];
		bool said = false;

		if (s->id == DEFAULT_SUBLAYER_ID || s->id >= first_new_sub ||
		    !owned_by(s->provider, provider)) {
			i++;
			continue;
		}
		for (size_t j = 0; j < rs->n_sublayers; j++)
			said |= !strcmp(rs->sublayers[j].name ? rs->sublayers[j].name : "",
					s->name);
		if (said) {
			i++;
			continue;
		}
		r = eng_txn_del_sublayer(txn, s->name, diags);
		if (r)
			goto out;
	}
out:
	free(keep_new);
	return r;
}

int eng_txn_flush(struct eng_txn *txn, const char *provider, struct lfp_diags *diags)
{
	for (size_t i = 0; i < txn->n_filters;) {
		struct lfp_filter *f = &txn->filters[i]->f;

		if (f->lifetime == LFP_LT_PERSISTENT && owned_by(f->provider, provider))
			txn_remove_at(txn, i);
		else
			i++;
	}
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];
		bool used = false;

		if (s->id == DEFAULT_SUBLAYER_ID || s->lifetime != LFP_LT_PERSISTENT ||
		    !owned_by(s->provider, provider)) {
			i++;
			continue;
		}
		for (size_t j = 0; j < txn->n_filters; j++) {
			const char *fs = txn->filters[j]->f.sublayer;

			used |= fs && !strcmp(fs, s->name);
		}
		if (used) {
			lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
				      "sublayer '%s' kept: it still holds other filters", s->name);
			i++;
			continue;
		}
		txn->persistent_changed = true;
		lfp_sublayer_fini(s);
		memmove(s, s + 1, (txn->n_subs - i - 1) * sizeof(*s));
		txn->n_subs--;
	}
	return 0;
}

int eng_txn_drop_lifetime(struct eng_txn *txn, enum lfp_lifetime lt)
{
	for (size_t i = 0; i < txn->n_filters;) {
		if (txn->filters[i]->f.lifetime == lt)
			txn_remove_at(txn, i);
		else
			i++;
	}
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];
		bool used = false;

		for (size_t j = 0; j < txn->n_filters; j++) {
			const char *fs = txn->filters[j]->f.sublayer;

			used |= fs && !strcmp(fs, s->name);
		}
		if (s->id != DEFAULT_SUBLAYER_ID && s->lifetime == lt && !used) {
			lfp_sublayer_fini(s);
			memmove(s, s + 1, (txn->n_subs - i - 1) * sizeof(*s));
			txn->n_subs--;
		} else {
			i++;
		}
	}
	return 0;
}

/* ---- commit ---- */

static int filter_cmp_id(const void *a, const void *b)
{
	const struct eng_filter *x = *(const struct eng_filter *const *)a;
	const struct eng_filter *y = *(const struct eng_filter *const *)b;

	return x->f.id < y->f.id ? -1 : x->f.id > y->f.id;
}

/* A shallow view: struct copies sharing the filters' owned pointers. */
static int policy_view(struct engine *eng, struct eng_filter **filters, size_t n,
		       struct lfp_sublayer *subs, size_t n_subs, struct lfp_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->filters = calloc(n ? n : 1, sizeof(*p->filters));
	if (!p->filters)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		p->filters[i] = filters[i]->f;
	p->n_filters = n;
	p->sublayers = subs;
	p->n_sublayers = n_subs;
	p->callouts = eng->callouts;
	p->n_callouts = eng->n_callouts;
	return 0;
}

void engine_policy_free(struct lfp_policy *p)
{
	free(p->filters);
	memset(p, 0, sizeof(*p));
}

int engine_policy_view(struct engine *eng, struct lfp_policy *p)
{
	return policy_view(eng, eng->filters, eng->n_filters, eng->subs, eng->n_subs, p);
}

static uint32_t slot_alloc(struct engine *eng)
{
	for (uint32_t i = 1; i < eng->n_slots; i++) {
		if (!eng->slot_used[i]) {
			eng->slot_used[i] = 1;
			return i;
		}
	}
	return 0;
}

/* Resolve, weigh, lower and hand to the kernel. Values resolved and weights
 * computed are written back into the shared filters (they are derived data). */
static int commit_kernel(struct engine *eng, struct eng_filter **filters, size_t n,
			 struct lfp_sublayer *subs, size_t n_subs, struct lfp_diags *diags)
{
	struct lfp_policy p;
	struct lfp_lowered lw = { 0 };
	LFP_OPTS(lfp_lower_opts, lopts);
	uint64_t gen = 0;
	int r;

	r = policy_view(eng, filters, n, subs, n_subs, &p);
	if (r)
		return r;
	r = lfp_policy_resolve(&p, &lfp_resolver_system, diags);
	if (r)
		goto out;
	for (size_t i = 0; i < n; i++) {
		lfp_filter_weight(&p.filters[i]);
		filters[i]->f.weight = p.filters[i].weight;
	}
	if (!eng->kern)
		goto out;
	lopts.layers = eng->enforced_layers;
	r = lfp_lower(&p, &lopts, &lw, diags);
	if (r)
		goto out;
	for (size_t i = 0; i < lw.n_filters; i++) {
		struct eng_filter key = { .f.id = lw.filters[i].id }, *kp = &key, **hit;

		hit = bsearch(&kp, filters, n, sizeof(*filters), filter_cmp_id);
		lw.filters[i].counter = hit ? (*hit)->counter : 0;
	}
	r = lfp_kern_commit(eng->kern, &lw, &gen);
	if (r) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "the kernel refused the new policy: %s", strerror(-r));
		r = -EIO; /* a system failure, not the request's fault */
		goto out;
	}
	eng->gen = gen;
out:
	lfp_lowered_fini(&lw);
	engine_policy_free(&p);
	return r;
}

int eng_txn_commit(struct eng_txn *txn, struct lfp_diags *diags)
{
	struct engine *eng = txn->eng;
	uint32_t *new_slots = NULL;
	size_t n_new = 0;
	int r;

	qsort(txn->filters, txn->n_filters, sizeof(*txn->filters), filter_cmp_id);
	/* counter slots for fresh filters, zeroed before the kernel can count */
	new_slots = calloc(txn->n_filters + 1, sizeof(*new_slots));
	if (!new_slots) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < txn->n_filters; i++) {
		struct eng_filter *ef = txn->filters[i];

		if (!ef->fresh || ef->counter)
			continue;
		ef->counter = slot_alloc(eng);
		if (!ef->counter) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, ef->f.loc, NULL,
				      "too many filters: no hit counter slot left");
			r = -ENOSPC;
			goto fail;
		}
		new_slots[n_new++] = ef->counter;
		if (eng->kern)
			lfp_kern_counter_reset(eng->kern, ef->counter);
	}
	r = commit_kernel(eng, txn->filters, txn->n_filters, txn->subs, txn->n_subs, diags);
	if (r)
		goto fail;
	/* the kernel has the new generation: make it the engine's state */
	for (size_t i = 0; i < eng->n_filters; i++) {
		struct eng_filter *ef = eng->filters[i], *kp = ef, **hit;

		hit = bsearch(&kp, txn->filters, txn->n_filters, sizeof(*txn->filters),
			      filter_cmp_id);
		if (!hit || *hit != ef) {
			eng->slot_used[ef->counter] = 0;
			eng_filter_free(ef);
		}
	}
	for (size_t i = 0; i < txn->n_filters; i++)
		txn->filters[i]->fresh = false;
	free(eng->filters);
	eng->filters = txn->filters;
	eng->n_filters = txn->n_filters;
	subs_free(eng->subs, eng->n_subs);
	eng->subs = txn->subs;
	eng->n_subs = txn->n_subs;
	eng->next_filter_id = txn->next_filter_id;
	eng->next_sublayer_id = txn->next_sublayer_id;
	if (txn->persistent_changed && eng->state_dir) {
		r = store_save(eng, diags);
		if (r)
			lfp_print(LFP_WARN, "lfpd: saving the policy to %s failed: %s\n",
				  eng->state_dir, strerror(-r));
	}
	free(new_slots);
	memset(txn, 0, sizeof(*txn));
	return r;
fail:
	for (size_t i = 0; i < n_new; i++)
		eng->slot_used[new_slots[i]] = 0;
	for (size_t i = 0; i < txn->n_filters; i++)
		if (txn->filters[i]->fresh)
			txn->filters[i]->counter = 0;
	free(new_slots);
	eng_txn_abort(txn);
	return r;
}

int engine_refresh(struct engine *eng, struct lfp_diags *diags)
{
	return commit_kernel(eng, eng->filters, eng->n_filters, eng->subs, eng->n_subs, diags);
}

struct eng_filter *engine_find_filter(struct engine *eng, const char *id_or_name)
{
	uint64_t id;
	bool by_id = !parse_id(id_or_name, &id);

	for (size_t i = 0; i < eng->n_filters; i++) {
		const struct lfp_filter *f = &eng->filters[i]->f;

		if (by_id ? f->id == id : (f->name && !strcmp(f->name, id_or_name)))
			return eng->filters[i];
	}
	return NULL;
}

const char *engine_filter_name(struct engine *eng, uint64_t id)
{
	struct eng_filter key = { .f.id = id }, *kp = &key, **hit;

	if (!eng->n_filters)
		return NULL;
	hit = bsearch(&kp, eng->filters, eng->n_filters, sizeof(*eng->filters), filter_cmp_id);
	return hit ? (*hit)->f.name : NULL;
}

bool engine_uses_app(struct engine *eng, const char *path)
{
	for (size_t i = 0; i < eng->n_filters; i++) {
		const struct lfp_filter *f = &eng->filters[i]->f;

		for (size_t c = 0; c < f->n_conds; c++) {
			if (f->conds[c].field != LFP_F_APP)
				continue;
			for (size_t v = 0; v < f->conds[c].n; v++)
				if (f->conds[c].v[v].str && !strcmp(f->conds[c].v[v].str, path))
					return true;
		}
	}
	return false;
}

char *engine_export(struct engine *eng, const char *provider, bool show_secrets)
{
	struct lfp_ruleset rs = { 0 };
	LFP_OPTS(lfp_print_opts, po, .show_secrets = show_secrets);
	char *text;

	rs.sublayers = calloc(eng->n_subs + 1, sizeof(*rs.sublayers));
	rs.filters = calloc(eng->n_filters + 1, sizeof(*rs.filters));
	if (!rs.sublayers || !rs.filters) {
		free(rs.sublayers);
		free(rs.filters);
		return NULL;
	}
	/* shallow copies: nothing here is freed through rs */
	rs.provider = (char *)provider;
	for (size_t i = 0; i < eng->n_subs; i++)
		if (eng->subs[i].id != DEFAULT_SUBLAYER_ID &&
		    eng->subs[i].lifetime == LFP_LT_PERSISTENT &&
		    owned_by(eng->subs[i].provider, provider))
			rs.sublayers[rs.n_sublayers++] = eng->subs[i];
	for (size_t i = 0; i < eng->n_filters; i++)
		if (eng->filters[i]->f.lifetime == LFP_LT_PERSISTENT &&
		    owned_by(eng->filters[i]->f.provider, provider))
			rs.filters[rs.n_filters++] = eng->filters[i]->f;
	text = lfp_ruleset_to_text(&rs, &po);
	free(rs.sublayers);
	free(rs.filters);
	return text;
}

/* ---- persistence ---- */

int engine_load(struct engine *eng, struct lfp_diags *diags)
{
	json_t *root = NULL, *arr, *it;
	struct eng_txn txn;
	size_t i;
	int r;

	r = store_read(eng->state_dir, &root, diags);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	r = eng_txn_begin(eng, &txn);
	if (r)
		goto out_json;
	arr = json_object_get(root, "sublayers");
	json_array_foreach(arr, i, it)
	{
		struct lfp_sublayer s = { 0 };
		const char *name = json_string_value(json_object_get(it, "name"));

		s.id = (uint32_t)json_integer_value(json_object_get(it, "id"));
		s.weight = (uint16_t)json_integer_value(json_object_get(it, "weight"));
		s.name = name ? strdup(name) : NULL;
		if (!s.name || !s.id) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "state file: sublayer %zu is malformed", i);
			lfp_sublayer_fini(&s);
			r = -EINVAL;
			goto out_txn;
		}
		r = eng_txn_add_sublayer(&txn, &s,
					 json_string_value(json_object_get(it, "provider")),
					 LFP_LT_PERSISTENT, diags);
		lfp_sublayer_fini(&s);
		if (r)
			goto out_txn;
	}
	arr = json_object_get(root, "filters");
	json_array_foreach(arr, i, it)
	{
		const char *text = json_string_value(json_object_get(it, "text"));
		uint64_t id = (uint64_t)json_integer_value(json_object_get(it, "id"));
		uint32_t counter = (uint32_t)json_integer_value(json_object_get(it, "counter"));
		LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
		LFP_OPTS(lfp_parse_opts, po, .file = "state file", .single_statement = true);
		char *stmt = NULL;
		int64_t got;

		if (!text || !id || asprintf(&stmt, "filter add %s", text) < 0) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "state file: filter %zu is malformed", i);
			r = -EINVAL;
			goto out_txn;
		}
		r = lfp_rule_parse(stmt, &po, &rs, diags);
		free(stmt);
		if (r)
			goto out_txn;
		if (rs->n_filters != 1) {
			r = -EINVAL;
			goto out_txn;
		}
		got = txn_insert(&txn, &rs->filters[0], id,
				 json_string_value(json_object_get(it, "provider")),
				 LFP_LT_PERSISTENT, diags);
		if (got < 0) {
			r = (int)got;
			goto out_txn;
		}
		if (counter && counter < eng->n_slots && !eng->slot_used[counter]) {
			eng->slot_used[counter] = 1;
			txn.filters[txn.n_filters - 1]->counter = counter;
		}
	}
	if (json_is_integer(json_object_get(root, "next_filter_id"))) {
		uint64_t nf = (uint64_t)json_integer_value(json_object_get(root, "next_filter_id"));

		if (nf > txn.next_filter_id)
			txn.next_filter_id = nf;
	}
	txn.persistent_changed = false;
	r = eng_txn_commit(&txn, diags);
	goto out_json;
out_txn:
	eng_txn_abort(&txn);
out_json:
	json_decref(root);
	return r;
}
