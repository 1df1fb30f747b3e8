// SPDX-License-Identifier: MIT
/*
 * The engine's object store and transactions.
 *
 * A transaction works on arrays of pointers: committed filters are shared
 * with the engine, new ones are marked fresh and also kept on the txn's owned
 * list, so that deleting one inside the transaction does not free it (a
 * savepoint taken before may bring it back). Commit lowers the candidate
 * and hands it to the kernel first; the engine's arrays are swapped only when
 * the kernel accepted the new generation, so a failure at any step leaves
 * the engine, the kernel and the state dir as they were.
 *
 * Sublayers are struct lfp_sublayer (the public object); the session owning
 * a dynamic one lives in a parallel array, sub_sessions, kept in step by
 * subs_insert() and subs_remove_at().
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
	eng->sub_sessions = calloc(1, sizeof(*eng->sub_sessions));
	eng->callouts = calloc(1, sizeof(*eng->callouts));
	if (!eng->slot_used || !eng->subs || !eng->sub_sessions || !eng->callouts)
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
	if (eng->open_txn) {
		eng_txn_abort(eng->open_txn);
		free(eng->open_txn);
	}
	for (size_t i = 0; i < eng->n_filters; i++)
		eng_filter_free(eng->filters[i]);
	free(eng->filters);
	for (size_t i = 0; i < eng->n_subs; i++)
		lfp_sublayer_fini(&eng->subs[i]);
	free(eng->subs);
	free(eng->sub_sessions);
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
	txn->sub_sessions = calloc(eng->n_subs, sizeof(*txn->sub_sessions));
	if (!txn->filters || !txn->subs || !txn->sub_sessions)
		goto nomem;
	memcpy(txn->sub_sessions, eng->sub_sessions, eng->n_subs * sizeof(*txn->sub_sessions));
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
	for (size_t i = 0; i < txn->n_owned; i++)
		eng_filter_free(txn->owned[i]);
	free(txn->owned);
	free(txn->filters);
	subs_free(txn->subs, txn->n_subs);
	free(txn->sub_sessions);
	memset(txn, 0, sizeof(*txn));
}

/* Append a sublayer (taking *s's contents) with its owning session. */
static int subs_insert(struct eng_txn *txn, struct lfp_sublayer *s, uint64_t session)
{
	struct lfp_sublayer *v = realloc(txn->subs, (txn->n_subs + 1) * sizeof(*v));
	uint64_t *o;

	if (!v)
		return -ENOMEM;
	txn->subs = v;
	o = realloc(txn->sub_sessions, (txn->n_subs + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	txn->sub_sessions = o;
	v[txn->n_subs] = *s;
	o[txn->n_subs] = session;
	memset(s, 0, sizeof(*s));
	txn->n_subs++;
	return 0;
}

static void subs_remove_at(struct eng_txn *txn, size_t i)
{
	lfp_sublayer_fini(&txn->subs[i]);
	memmove(&txn->subs[i], &txn->subs[i + 1], (txn->n_subs - i - 1) * sizeof(*txn->subs));
	memmove(&txn->sub_sessions[i], &txn->sub_sessions[i + 1],
		(txn->n_subs - i - 1) * sizeof(*txn->sub_sessions));
	txn->n_subs--;
}

static bool sub_used(const struct eng_txn *txn, const char *name)
{
	for (size_t j = 0; j < txn->n_filters; j++) {
		const char *fs = txn->filters[j]->f.sublayer;

		if (fs && !strcmp(fs, name))
			return true;
	}
	return false;
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

static const char *lifetime_name(enum lfp_lifetime lt)
{
	switch (lt) {
	case LFP_LT_PERSISTENT: return "persistent";
	case LFP_LT_RUNTIME: return "runtime";
	case LFP_LT_BOOT_TIME: return "boot-time";
	case LFP_LT_DYNAMIC: return "dynamic";
	}
	return "?";
}

/*
 * A filter may not outlive its sublayer (WFP's FWP_E_LIFETIME_MISMATCH): a
 * persistent filter in a runtime sublayer would come back after a restart
 * without it, and a dynamic sublayer goes with its session, so only that
 * session's dynamic filters may use it.
 */
static int check_lifetime(struct eng_txn *txn, const struct lfp_filter *f, uint64_t session,
			  struct lfp_diags *diags)
{
	const struct lfp_sublayer *s = txn_find_sub(txn, f->sublayer);
	const char *what = f->name ? f->name : "(unnamed)";
	uint64_t owner;
	bool ok;

	if (!s || s->id == DEFAULT_SUBLAYER_ID)
		return 0;
	owner = txn->sub_sessions[s - txn->subs];
	switch (s->lifetime) {
	case LFP_LT_PERSISTENT: return 0;
	case LFP_LT_RUNTIME:
		ok = f->lifetime == LFP_LT_RUNTIME || f->lifetime == LFP_LT_DYNAMIC;
		break;
	case LFP_LT_DYNAMIC: ok = f->lifetime == LFP_LT_DYNAMIC && session == owner; break;
	default: ok = f->lifetime == s->lifetime; break;
	}
	if (ok)
		return 0;
	if (s->lifetime == LFP_LT_DYNAMIC)
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "filter '%s': sublayer '%s' belongs to dynamic session %" PRIu64
			      "; only that session's dynamic filters may use it",
			      what, s->name, owner);
	else
		lfp_diags_add(
			diags, LFP_DIAG_ERROR, f->loc, NULL,
			"filter '%s': sublayer '%s' is %s and would end before this %s filter "
			"(lifetime mismatch)",
			what, s->name, lifetime_name(s->lifetime), lifetime_name(f->lifetime));
	return -EINVAL;
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
	return check_lifetime(txn, f, f->lifetime == LFP_LT_DYNAMIC ? txn->session : 0, diags);
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

static int txn_own(struct eng_txn *txn, struct eng_filter *ef)
{
	if (txn->n_owned == txn->cap_owned) {
		size_t cap = txn->cap_owned * 2 + 16;
		struct eng_filter **v = realloc(txn->owned, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		txn->owned = v;
		txn->cap_owned = cap;
	}
	txn->owned[txn->n_owned++] = ef;
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
	if (txn_own(txn, ef)) {
		free(ef);
		return -ENOMEM;
	}
	ef->f = *f;
	memset(f, 0, sizeof(*f));
	ef->fresh = true;
	ef->session = lt == LFP_LT_DYNAMIC ? txn->session : 0;
	ef->f.id = id ? id : txn->next_filter_id++;
	if (id && id >= txn->next_filter_id)
		txn->next_filter_id = id + 1;
	free(ef->f.provider);
	/* on failure ef stays owned: abort or rollback frees it */
	if (strdup_opt(&ef->f.provider, provider ? provider : "cli") || txn_push(txn, ef))
		return -ENOMEM;
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
	int r;

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
	free(s->provider);
	s->provider = NULL;
	if (strdup_opt(&s->provider, provider ? provider : "cli"))
		return -ENOMEM;
	r = subs_insert(txn, s, lt == LFP_LT_DYNAMIC ? txn->session : 0);
	if (r)
		return r;
	s = &txn->subs[txn->n_subs - 1];
	if (!s->id)
		s->id = txn->next_sublayer_id++;
	else if (s->id >= txn->next_sublayer_id)
		txn->next_sublayer_id = s->id + 1;
	s->lifetime = lt;
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
	subs_remove_at(txn, (size_t)(s - txn->subs));
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
				txn->sub_sessions[old - txn->subs] =
					lt == LFP_LT_DYNAMIC ? txn->session : 0;
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
			    (lt != LFP_LT_DYNAMIC || txn->filters[i]->session == txn->session) &&
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
	/* a sublayer the file gave a shorter lifetime may hold others' filters */
	for (size_t i = 0; i < txn->n_filters && !r; i++)
		r = check_lifetime(txn, &txn->filters[i]->f, txn->filters[i]->session, diags);
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

		if (s->id == DEFAULT_SUBLAYER_ID || s->lifetime != LFP_LT_PERSISTENT ||
		    !owned_by(s->provider, provider)) {
			i++;
			continue;
		}
		if (sub_used(txn, s->name)) {
			lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
				      "sublayer '%s' kept: it still holds other filters", s->name);
			i++;
			continue;
		}
		txn->persistent_changed = true;
		subs_remove_at(txn, i);
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

		if (s->id != DEFAULT_SUBLAYER_ID && s->lifetime == lt && !sub_used(txn, s->name))
			subs_remove_at(txn, i);
		else
			i++;
	}
	return 0;
}

size_t eng_txn_drop_session(struct eng_txn *txn, uint64_t session)
{
	size_t n = 0;

	for (size_t i = 0; i < txn->n_filters;) {
		const struct eng_filter *ef = txn->filters[i];

		if (ef->f.lifetime == LFP_LT_DYNAMIC && ef->session == session) {
			txn_remove_at(txn, i);
			n++;
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];

		if (s->lifetime != LFP_LT_DYNAMIC || txn->sub_sessions[i] != session) {
			i++;
			continue;
		}
		if (sub_used(txn, s->name)) {
			/* the lifetime check keeps others out; apply could still get here */
			s->lifetime = LFP_LT_RUNTIME;
			txn->sub_sessions[i] = 0;
			i++;
			continue;
		}
		subs_remove_at(txn, i);
		n++;
	}
	return n;
}

int eng_txn_savepoint(struct eng_txn *txn, struct eng_savepoint *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->filters = malloc((txn->n_filters + 1) * sizeof(*sp->filters));
	sp->subs = calloc(txn->n_subs + 1, sizeof(*sp->subs));
	sp->sub_sessions = malloc((txn->n_subs + 1) * sizeof(*sp->sub_sessions));
	if (!sp->filters || !sp->subs || !sp->sub_sessions)
		goto nomem;
	memcpy(sp->filters, txn->filters, txn->n_filters * sizeof(*sp->filters));
	sp->n_filters = txn->n_filters;
	sp->n_owned = txn->n_owned;
	for (size_t i = 0; i < txn->n_subs; i++) {
		if (lfp_sublayer_copy(&sp->subs[i], &txn->subs[i]))
			goto nomem;
		sp->n_subs = i + 1;
	}
	memcpy(sp->sub_sessions, txn->sub_sessions, txn->n_subs * sizeof(*sp->sub_sessions));
	sp->next_filter_id = txn->next_filter_id;
	sp->next_sublayer_id = txn->next_sublayer_id;
	sp->persistent_changed = txn->persistent_changed;
	return 0;
nomem:
	eng_savepoint_fini(sp);
	return -ENOMEM;
}

void eng_savepoint_fini(struct eng_savepoint *sp)
{
	free(sp->filters);
	subs_free(sp->subs, sp->n_subs);
	free(sp->sub_sessions);
	memset(sp, 0, sizeof(*sp));
}

void eng_txn_rollback(struct eng_txn *txn, struct eng_savepoint *sp)
{
	/* the filters created since the savepoint are the owned list's tail */
	for (size_t i = sp->n_owned; i < txn->n_owned; i++)
		eng_filter_free(txn->owned[i]);
	txn->n_owned = sp->n_owned;
	/* txn->cap never shrinks: the saved array fits */
	memcpy(txn->filters, sp->filters, sp->n_filters * sizeof(*txn->filters));
	txn->n_filters = sp->n_filters;
	subs_free(txn->subs, txn->n_subs);
	free(txn->sub_sessions);
	txn->subs = LFP_TAKE_PTR(sp->subs);
	txn->sub_sessions = LFP_TAKE_PTR(sp->sub_sessions);
	txn->n_subs = sp->n_subs;
	sp->n_subs = 0;
	txn->next_filter_id = sp->next_filter_id;
	txn->next_sublayer_id = sp->next_sublayer_id;
	txn->persistent_changed = sp->persistent_changed;
	eng_savepoint_fini(sp);
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
			if (eng->on_change)
				eng->on_change(eng->change_ctx, ef, false);
			eng->slot_used[ef->counter] = 0;
			eng_filter_free(ef);
		}
	}
	/* still fresh after this: created and deleted again inside the transaction */
	for (size_t i = 0; i < txn->n_filters; i++) {
		if (txn->filters[i]->fresh && eng->on_change)
			eng->on_change(eng->change_ctx, txn->filters[i], true);
		txn->filters[i]->fresh = false;
	}
	for (size_t i = 0; i < txn->n_owned; i++)
		if (txn->owned[i]->fresh)
			eng_filter_free(txn->owned[i]);
	free(txn->owned);
	free(eng->filters);
	eng->filters = txn->filters;
	eng->n_filters = txn->n_filters;
	subs_free(eng->subs, eng->n_subs);
	free(eng->sub_sessions);
	eng->subs = txn->subs;
	eng->sub_sessions = txn->sub_sessions;
	eng->n_subs = txn->n_subs;
	eng->next_filter_id = txn->next_filter_id;
	eng->next_sublayer_id = txn->next_sublayer_id;
	if (txn->persistent_changed && eng->state_dir) {
		/* the kernel enforces it already: a failed save is not "nothing changed" */
		r = store_save(eng, diags);
		if (r) {
			lfp_print(LFP_WARN, "lfpd: saving the policy to %s failed: %s\n",
				  eng->state_dir, strerror(-r));
			r = 0; /* store_save() said so in a warning */
		}
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

bool engine_session_has_objects(struct engine *eng, uint64_t session)
{
	for (size_t i = 0; i < eng->n_filters; i++)
		if (eng->filters[i]->f.lifetime == LFP_LT_DYNAMIC &&
		    eng->filters[i]->session == session)
			return true;
	for (size_t i = 0; i < eng->n_subs; i++)
		if (eng->subs[i].lifetime == LFP_LT_DYNAMIC && eng->sub_sessions[i] == session)
			return true;
	return false;
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
