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
 *
 * The boot-time set lives in the same arrays as everything else (one name
 * space, one id sequence) but is a set apart: the kernel sees it only in boot
 * mode, it is saved in its own file, and `lfp -f --boot-time`, export and
 * flush work on it alone, so that one provider may have both a persistent
 * policy and a boot-time set.
 *
 * A pending confirmation holds deep copies of its provider's objects from
 * before the change: the change's commit frees the originals, and a rollback
 * (possibly by a later lfpd, from the state dir) must bring back the same ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "timing.h"
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

static bool lt_saved(enum lfp_lifetime lt)
{
	return lt == LFP_LT_PERSISTENT || lt == LFP_LT_BOOT_TIME;
}

static bool lt_boot(enum lfp_lifetime lt)
{
	return lt == LFP_LT_BOOT_TIME;
}

bool engine_enforces(const struct engine *eng, enum lfp_lifetime lt)
{
	return eng->boot_mode ? lt_boot(lt) : !lt_boot(lt);
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
	/* the ALE layers this version enforces; the others are refused by name */
	eng->enforced_layers = 1u << LFP_LAYER_RESOURCE_ASSIGNMENT | 1u << LFP_LAYER_AUTH_LISTEN |
			       1u << LFP_LAYER_AUTH_RECV_ACCEPT | 1u << LFP_LAYER_AUTH_CONNECT |
			       1u << LFP_LAYER_FLOW_ESTABLISHED | 1u << LFP_LAYER_ENDPOINT_CLOSURE;
	eng->enforced_layers |=
		1u << LFP_LAYER_INBOUND_TRANSPORT | 1u << LFP_LAYER_OUTBOUND_TRANSPORT |
		1u << LFP_LAYER_INBOUND_IPPACKET | 1u << LFP_LAYER_OUTBOUND_IPPACKET |
		1u << LFP_LAYER_INBOUND_ICMP_ERROR | 1u << LFP_LAYER_OUTBOUND_ICMP_ERROR |
		1u << LFP_LAYER_IPFORWARD | 1u << LFP_LAYER_DATAGRAM_DATA;
	eng->enforced_layers |= 1u << LFP_LAYER_STREAM; /* docs/stream.md */
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
	if (eng->confirm) {
		eng_snapshot_fini(&eng->confirm->prev);
		free(eng->confirm->error);
		free(eng->confirm);
	}
	free(eng->last_rollback);
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
 * session's dynamic filters may use it. The boot-time set is enforced alone
 * (lfpd --boot), so it must be complete in itself: its filters use its own
 * sublayers or `default`, and its sublayers take only its filters.
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
	case LFP_LT_PERSISTENT: ok = !lt_boot(f->lifetime); break;
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
	else if (lt_boot(s->lifetime) || lt_boot(f->lifetime))
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "%s filter '%s': sublayer '%s' is %s; the boot-time set is enforced "
			      "alone, so boot-time filters need a boot-time sublayer (or default) "
			      "and a boot-time sublayer takes only boot-time filters (lifetime "
			      "mismatch)",
			      lifetime_name(f->lifetime), what, s->name,
			      lifetime_name(s->lifetime));
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
	/* ask pends (docs/callouts.md), redirect rewrites (docs/redirect.md); lowering
	 * refuses ask where flows cannot be held */
	if (!txn_find_sub(txn, f->sublayer)) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
			      "filter '%s': no sublayer named '%s'", what, f->sublayer);
		return -ENOENT;
	}
	if (f->name && !txn->names_later) {
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
	if (lt_saved(lt))
		txn->saved_changed = true;
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

	if (lt_saved(ef->f.lifetime))
		txn->saved_changed = true;
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
	if (lt_saved(lt))
		txn->saved_changed = true;
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
	if (lt_saved(s->lifetime))
		txn->saved_changed = true;
	subs_remove_at(txn, (size_t)(s - txn->subs));
	return 0;
}

static bool owned_by(const char *obj_provider, const char *provider)
{
	return !provider || (obj_provider && !strcmp(obj_provider, provider));
}

/* ---- bulk replacement (lfp -f): O(n log n) in the number of filters ---- */

struct text_ref {
	char *text; /* canonical text of the filter, with secrets (exact comparison) */
	size_t idx;
	bool used;
};

static int text_ref_cmp(const void *a, const void *b)
{
	const struct text_ref *x = a, *y = b;
	int c = strcmp(x->text, y->text);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static char *filter_key(const struct lfp_filter *f)
{
	LFP_OPTS(lfp_print_opts, po, .show_secrets = true);

	return lfp_filter_to_text(f, &po);
}

struct name_ref {
	const char *name;
	uint64_t id;
	struct lfp_loc loc;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* the unique-name rule, checked once for the whole transaction */
static int txn_check_names(struct eng_txn *txn, struct lfp_diags *diags)
{
	struct name_ref *v = malloc((txn->n_filters + 1) * sizeof(*v));
	size_t n = 0;
	int r = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < txn->n_filters; i++)
		if (txn->filters[i]->f.name)
			v[n++] = (struct name_ref){ txn->filters[i]->f.name, txn->filters[i]->f.id,
						    txn->filters[i]->f.loc };
	qsort(v, n, sizeof(*v), name_ref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i - 1].name, v[i].name))
			continue;
		lfp_diags_add(diags, LFP_DIAG_ERROR, v[i].loc, NULL,
			      "a filter named '%s' exists already (id %" PRIu64 ")", v[i].name,
			      v[i - 1].id);
		r = -EEXIST;
	}
	free(v);
	return r;
}

int eng_txn_replace_provider(struct eng_txn *txn, const char *provider, struct lfp_ruleset *rs,
			     enum lfp_lifetime lt, struct lfp_diags *diags)
{
	bool *keep_new = calloc(rs->n_filters + 1, sizeof(bool));
	uint32_t first_new_sub = txn->next_sublayer_id;
	struct text_ref *refs = NULL;
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
			if (lt_boot(old->lifetime) != lt_boot(lt)) {
				lfp_diags_add(
					diags, LFP_DIAG_ERROR, rs->sublayers[i].loc, NULL,
					"sublayer '%s' is %s: the boot-time set and the other "
					"objects are separate sets, and names are unique across "
					"them (give the sublayer another name in this file)",
					old->name,
					lt_boot(old->lifetime) ? "in the boot-time set"
							       : "not in the boot-time set");
				r = -EEXIST;
				goto out;
			}
			if (old->weight != rs->sublayers[i].weight || old->lifetime != lt) {
				old->weight = rs->sublayers[i].weight;
				old->lifetime = lt;
				txn->sub_sessions[old - txn->subs] =
					lt == LFP_LT_DYNAMIC ? txn->session : 0;
				txn->saved_changed = true;
			}
			continue;
		}
		r = eng_txn_add_sublayer(txn, &rs->sublayers[i], provider, lt, diags);
		if (r)
			goto out;
	}
	/* filters: keep the provider's filters that the file still says, drop the rest
	 * (of the set the file is applied to: boot-time or not). Matching goes through
	 * the canonical text, sorted: a file of a million filters is n log n. */
	refs = calloc(rs->n_filters + 1, sizeof(*refs));
	if (!refs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < rs->n_filters; j++) {
		refs[j].idx = j;
		refs[j].text = filter_key(&rs->filters[j]);
		if (!refs[j].text) {
			r = -ENOMEM;
			goto out;
		}
	}
	qsort(refs, rs->n_filters, sizeof(*refs), text_ref_cmp);
	{
		size_t w = 0;

		for (size_t i = 0; i < txn->n_filters; i++) {
			struct eng_filter *ef = txn->filters[i];
			struct lfp_filter *f = &ef->f;
			bool kept = false;

			if (!owned_by(f->provider, provider) || lt_boot(f->lifetime) != lt_boot(lt)) {
				txn->filters[w++] = ef;
				continue;
			}
			if (f->lifetime == lt &&
			    (lt != LFP_LT_DYNAMIC || ef->session == txn->session)) {
				struct text_ref key = { .text = filter_key(f), .idx = 0 };
				size_t lo = 0, hi = rs->n_filters;

				if (!key.text) {
					r = -ENOMEM;
					goto out;
				}
				/* first entry with this text, then the first unused one */
				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;

					if (strcmp(refs[mid].text, key.text) < 0)
						lo = mid + 1;
					else
						hi = mid;
				}
				for (; lo < rs->n_filters && !strcmp(refs[lo].text, key.text); lo++) {
					if (!refs[lo].used &&
					    lfp_filter_equal(f, &rs->filters[refs[lo].idx])) {
						refs[lo].used = true;
						keep_new[refs[lo].idx] = true;
						kept = true;
						break;
					}
				}
				free(key.text);
			}
			if (kept)
				txn->filters[w++] = ef;
			else if (lt_saved(f->lifetime))
				txn->saved_changed = true;
		}
		txn->n_filters = w;
	}
	txn->names_later = true;
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
	txn->names_later = false;
	r = txn_check_names(txn, diags);
	if (r)
		goto out;
	/* the provider's sublayers that the file no longer has */
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];
		bool said = false;

		if (s->id == DEFAULT_SUBLAYER_ID || s->id >= first_new_sub ||
		    !owned_by(s->provider, provider) || lt_boot(s->lifetime) != lt_boot(lt)) {
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
	txn->names_later = false;
	if (refs)
		for (size_t j = 0; j < rs->n_filters; j++)
			free(refs[j].text);
	free(refs);
	free(keep_new);
	return r;
}

int eng_txn_flush(struct eng_txn *txn, const char *provider, enum lfp_lifetime lt,
		  struct lfp_diags *diags)
{
	if (!lt_saved(lt))
		return -EINVAL;
	for (size_t i = 0; i < txn->n_filters;) {
		struct lfp_filter *f = &txn->filters[i]->f;

		if (f->lifetime == lt && owned_by(f->provider, provider))
			txn_remove_at(txn, i);
		else
			i++;
	}
	for (size_t i = 0; i < txn->n_subs;) {
		struct lfp_sublayer *s = &txn->subs[i];

		if (s->id == DEFAULT_SUBLAYER_ID || s->lifetime != lt ||
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
		txn->saved_changed = true;
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
	sp->saved_changed = txn->saved_changed;
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
	txn->saved_changed = sp->saved_changed;
	eng_savepoint_fini(sp);
}

/* ---- commit ---- */

static int filter_cmp_id(const void *a, const void *b)
{
	const struct eng_filter *x = *(const struct eng_filter *const *)a;
	const struct eng_filter *y = *(const struct eng_filter *const *)b;

	return x->f.id < y->f.id ? -1 : x->f.id > y->f.id;
}

/*
 * A shallow view of what the kernel enforces: struct copies sharing the
 * objects' owned pointers (resolution writes through them), without the
 * objects of the set this mode leaves out (boot-time, or all but boot-time).
 */
static int policy_view(struct engine *eng, struct eng_filter **filters, size_t n,
		       struct lfp_sublayer *subs, size_t n_subs, struct lfp_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->filters = calloc(n ? n : 1, sizeof(*p->filters));
	p->sublayers = calloc(n_subs ? n_subs : 1, sizeof(*p->sublayers));
	if (!p->filters || !p->sublayers) {
		engine_policy_free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (engine_enforces(eng, filters[i]->f.lifetime))
			p->filters[p->n_filters++] = filters[i]->f;
	for (size_t i = 0; i < n_subs; i++)
		if (subs[i].id == DEFAULT_SUBLAYER_ID || engine_enforces(eng, subs[i].lifetime))
			p->sublayers[p->n_sublayers++] = subs[i];
	p->callouts = eng->callouts;
	p->n_callouts = eng->n_callouts;
	return 0;
}

void engine_policy_free(struct lfp_policy *p)
{
	free(p->filters);
	free(p->sublayers);
	memset(p, 0, sizeof(*p));
}

int engine_policy_view(struct engine *eng, struct lfp_policy *p)
{
	return policy_view(eng, eng->filters, eng->n_filters, eng->subs, eng->n_subs, p);
}

static uint32_t slot_alloc(struct engine *eng)
{
	/* next-fit from where the last search ended: a commit of N new filters is
	 * O(N), not O(N^2) (slot 0 is never free) */
	for (uint32_t n = 0; n < eng->n_slots; n++) {
		uint32_t i = eng->slot_hint;

		eng->slot_hint = i + 1 < eng->n_slots ? i + 1 : 1;
		if (i && !eng->slot_used[i]) {
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
	uint64_t gen = 0, t0 = timing_us(), t1, t2, t3;
	int r;

	/* every filter's weight, also those not enforced now: `filter list` shows them */
	for (size_t i = 0; i < n; i++)
		lfp_filter_weight(&filters[i]->f);
	r = policy_view(eng, filters, n, subs, n_subs, &p);
	if (r)
		return r;
	r = lfp_policy_resolve(&p, &lfp_resolver_system, diags);
	if (r)
		goto out;
	if (!eng->kern)
		goto out;
	t1 = timing_us();
	lopts.layers = eng->enforced_layers;
	r = lfp_lower(&p, &lopts, &lw, diags);
	if (r)
		goto out;
	t2 = timing_us();
	for (size_t i = 0; i < lw.n_filters; i++) {
		struct eng_filter key = { .f.id = lw.filters[i].id }, *kp = &key, **hit;

		hit = bsearch(&kp, filters, n, sizeof(*filters), filter_cmp_id);
		lw.filters[i].counter = hit ? (*hit)->counter : 0;
	}
	if (eng->lower_hook) {
		r = eng->lower_hook(eng->lower_ctx, &lw, diags);
		if (r)
			goto out;
	}
	r = lfp_kern_commit(eng->kern, &lw, &gen);
	if (r) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "the kernel refused the new policy: %s", strerror(-r));
		r = -EIO; /* a system failure, not the request's fault */
		goto out;
	}
	eng->gen = gen;
	t3 = timing_us();
	lfp_print(LFP_DEBUG,
		  "lfpd: commit of %zu filters: resolve %.1f ms, lower %.1f ms, kernel %.1f ms\n",
		  n, (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000, (double)(t3 - t2) / 1000);
out:
	lfp_lowered_fini(&lw);
	engine_policy_free(&p);
	return r;
}

/* Whether committing @p txn would hand the kernel the generation it already has
 * (e.g. the same file applied twice). Only after this engine's first commit: at
 * start-up the pinned generation may hold anything. @p txn->filters is sorted. */
static bool txn_is_noop(const struct eng_txn *txn)
{
	const struct engine *eng = txn->eng;

	if (!eng->gen || eng->dirty_identities || txn->n_filters != eng->n_filters ||
	    txn->n_subs != eng->n_subs)
		return false;
	for (size_t i = 0; i < txn->n_filters; i++)
		if (txn->filters[i] != eng->filters[i])
			return false;
	for (size_t i = 0; i < txn->n_subs; i++) {
		const struct lfp_sublayer *a = &txn->subs[i], *b = &eng->subs[i];

		if (a->id != b->id || a->weight != b->weight || a->lifetime != b->lifetime ||
		    strcmp(a->name, b->name) || txn->sub_sessions[i] != eng->sub_sessions[i] ||
		    (a->provider ? !b->provider || strcmp(a->provider, b->provider) : !!b->provider))
			return false;
	}
	return true;
}

int eng_txn_commit(struct eng_txn *txn, struct lfp_diags *diags)
{
	struct engine *eng = txn->eng;
	uint32_t *new_slots = NULL;
	size_t n_new = 0;
	int r;

	qsort(txn->filters, txn->n_filters, sizeof(*txn->filters), filter_cmp_id);
	if (txn_is_noop(txn)) {
		/* nothing changes: no new generation, no save, ids and counters as they are */
		eng_txn_abort(txn);
		return 0;
	}
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
	if (txn->saved_changed && eng->state_dir && !eng->boot_mode) {
		/* the kernel enforces it already: a failed save is not "nothing changed" */
		uint64_t t0 = timing_us();

		r = store_save(eng, diags);
		lfp_print(LFP_DEBUG, "lfpd: saving the policy: %.1f ms\n", timing_ms_since(t0));
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

char *engine_export(struct engine *eng, const char *provider, enum lfp_lifetime lt,
		    bool show_secrets)
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
		if (eng->subs[i].id != DEFAULT_SUBLAYER_ID && eng->subs[i].lifetime == lt &&
		    owned_by(eng->subs[i].provider, provider))
			rs.sublayers[rs.n_sublayers++] = eng->subs[i];
	for (size_t i = 0; i < eng->n_filters; i++)
		if (eng->filters[i]->f.lifetime == lt &&
		    owned_by(eng->filters[i]->f.provider, provider))
			rs.filters[rs.n_filters++] = eng->filters[i]->f;
	text = lfp_ruleset_to_text(&rs, &po);
	free(rs.sublayers);
	free(rs.filters);
	return text;
}

/* ---- persistence ---- */

/* One filter from its saved statement text (the state files hold canonical text). */
static int filter_from_text(const char *text, const char *what, struct lfp_ruleset **rs,
			    struct lfp_diags *diags)
{
	LFP_OPTS(lfp_parse_opts, po, .file = what, .single_statement = true);
	char *stmt = NULL;
	int r;

	*rs = NULL;
	if (!text || asprintf(&stmt, "filter add %s", text) < 0)
		return text ? -ENOMEM : -EINVAL;
	r = lfp_rule_parse(stmt, &po, rs, diags);
	free(stmt);
	if (!r && (*rs)->n_filters != 1) {
		lfp_ruleset_free(*rs);
		*rs = NULL;
		r = -EINVAL;
	}
	return r;
}

/* Add the objects of one state file (policy.json or boot.json) to @p txn with lifetime @p lt. */
static int load_set(struct engine *eng, struct eng_txn *txn, const char *file, enum lfp_lifetime lt,
		    struct lfp_diags *diags)
{
	json_t *root = NULL, *arr, *it;
	size_t i;
	int r;

	r = store_read(eng->state_dir, file, &root, diags);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
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
				      "state file %s: sublayer %zu is malformed", file, i);
			lfp_sublayer_fini(&s);
			r = -EINVAL;
			goto out;
		}
		if (lt_boot(lt) && txn_find_sub(txn, s.name)) {
			/* a crash between the two files' renames: the persistent policy wins */
			lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
				      "state file %s: sublayer '%s' skipped: %s has it", file,
				      s.name, STORE_POLICY);
			lfp_sublayer_fini(&s);
			continue;
		}
		r = eng_txn_add_sublayer(
			txn, &s, json_string_value(json_object_get(it, "provider")), lt, diags);
		lfp_sublayer_fini(&s);
		if (r)
			goto out;
	}
	arr = json_object_get(root, "filters");
	json_array_foreach(arr, i, it)
	{
		const char *text = json_string_value(json_object_get(it, "text"));
		uint64_t id = (uint64_t)json_integer_value(json_object_get(it, "id"));
		uint32_t counter = (uint32_t)json_integer_value(json_object_get(it, "counter"));
		LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
		int64_t got;

		if (!id) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "state file %s: filter %zu is malformed", file, i);
			r = -EINVAL;
			goto out;
		}
		r = filter_from_text(text, "state file", &rs, diags);
		if (r) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "state file %s: filter %zu is malformed", file, i);
			goto out;
		}
		if (lt_boot(lt)) {
			const char *name = rs->filters[0].name;
			bool dup = false;

			for (size_t k = 0; k < txn->n_filters && !dup; k++)
				dup = txn->filters[k]->f.id == id ||
				      (name && txn->filters[k]->f.name &&
				       !strcmp(txn->filters[k]->f.name, name));
			if (dup) {
				lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
					      "state file %s: filter %" PRIu64
					      " skipped: %s has its id or name",
					      file, id, STORE_POLICY);
				continue;
			}
		}
		got = txn_insert(txn, &rs->filters[0], id,
				 json_string_value(json_object_get(it, "provider")), lt, diags);
		if (got < 0) {
			r = (int)got;
			goto out;
		}
		if (counter && counter < eng->n_slots && !eng->slot_used[counter]) {
			eng->slot_used[counter] = 1;
			txn->filters[txn->n_filters - 1]->counter = counter;
		}
	}
	if (json_is_integer(json_object_get(root, "next_filter_id"))) {
		uint64_t nf = (uint64_t)json_integer_value(json_object_get(root, "next_filter_id"));

		if (nf > txn->next_filter_id)
			txn->next_filter_id = nf;
	}
out:
	json_decref(root);
	return r;
}

int engine_load(struct engine *eng, struct lfp_diags *diags)
{
	struct eng_txn txn;
	int r;

	r = eng_txn_begin(eng, &txn);
	if (r)
		return r;
	/* boot mode: the boot-time set alone, as it is enforced from boot until lfpd starts */
	if (!eng->boot_mode)
		r = load_set(eng, &txn, STORE_POLICY, LFP_LT_PERSISTENT, diags);
	if (!r)
		r = load_set(eng, &txn, STORE_BOOT, LFP_LT_BOOT_TIME, diags);
	if (r) {
		/* slots restored from the files go back with the filters that held them */
		for (size_t i = 0; i < txn.n_filters; i++)
			if (txn.filters[i]->fresh && txn.filters[i]->counter)
				eng->slot_used[txn.filters[i]->counter] = 0;
		eng_txn_abort(&txn);
		return r;
	}
	txn.saved_changed = false;
	return eng_txn_commit(&txn, diags);
}

/* ---- snapshots and confirmation ---- */

static uint64_t clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void eng_snapshot_fini(struct eng_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_filters; i++)
		lfp_filter_fini(&snap->filters[i].f);
	free(snap->filters);
	subs_free(snap->subs, snap->n_subs);
	free(snap->sub_sessions);
	free(snap->provider);
	memset(snap, 0, sizeof(*snap));
}

int engine_snapshot(struct engine *eng, const char *provider, struct eng_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->provider = strdup(provider);
	snap->subs = calloc(eng->n_subs + 1, sizeof(*snap->subs));
	snap->sub_sessions = calloc(eng->n_subs + 1, sizeof(*snap->sub_sessions));
	snap->filters = calloc(eng->n_filters + 1, sizeof(*snap->filters));
	if (!snap->provider || !snap->subs || !snap->sub_sessions || !snap->filters)
		goto nomem;
	for (size_t i = 0; i < eng->n_subs; i++) {
		const struct lfp_sublayer *s = &eng->subs[i];

		if (s->id == DEFAULT_SUBLAYER_ID || !owned_by(s->provider, provider))
			continue;
		if (lfp_sublayer_copy(&snap->subs[snap->n_subs], s))
			goto nomem;
		snap->sub_sessions[snap->n_subs++] = eng->sub_sessions[i];
	}
	for (size_t i = 0; i < eng->n_filters; i++) {
		const struct eng_filter *ef = eng->filters[i];

		if (!owned_by(ef->f.provider, provider))
			continue;
		if (lfp_filter_copy(&snap->filters[snap->n_filters].f, &ef->f))
			goto nomem;
		snap->filters[snap->n_filters++].session = ef->session;
	}
	return 0;
nomem:
	eng_snapshot_fini(snap);
	return -ENOMEM;
}

static bool snap_has_filter(const struct eng_snapshot *snap, uint64_t id)
{
	for (size_t i = 0; i < snap->n_filters; i++)
		if (snap->filters[i].f.id == id)
			return true;
	return false;
}

static ssize_t snap_sub_index(const struct eng_snapshot *snap, uint32_t id)
{
	for (size_t i = 0; i < snap->n_subs; i++)
		if (snap->subs[i].id == id)
			return (ssize_t)i;
	return -1;
}

static ssize_t txn_sub_index(const struct eng_txn *txn, uint32_t id)
{
	for (size_t i = 0; i < txn->n_subs; i++)
		if (txn->subs[i].id == id)
			return (ssize_t)i;
	return -1;
}

static bool txn_has_filter_id(const struct eng_txn *txn, uint64_t id)
{
	for (size_t i = 0; i < txn->n_filters; i++)
		if (txn->filters[i]->f.id == id)
			return true;
	return false;
}

int eng_txn_restore(struct eng_txn *txn, const struct eng_snapshot *snap,
		    bool (*alive)(void *ctx, uint64_t session), void *ctx, struct lfp_diags *diags)
{
	const char *prov = snap->provider;
	uint64_t own_session = txn->session;
	int r = 0;

	/* sublayers as they were (weights, lifetimes), deleted ones again with their ids:
	 * before the filters, which name them */
	for (size_t i = 0; i < snap->n_subs; i++) {
		const struct lfp_sublayer *ss = &snap->subs[i];
		uint64_t owner = snap->sub_sessions[i];
		ssize_t k = txn_sub_index(txn, ss->id);
		struct lfp_sublayer c;

		if (ss->lifetime == LFP_LT_DYNAMIC && !(alive && alive(ctx, owner)))
			continue; /* its session ended: it would have gone with it */
		if (k >= 0) {
			struct lfp_sublayer *s = &txn->subs[k];

			if (s->weight == ss->weight && s->lifetime == ss->lifetime &&
			    txn->sub_sessions[k] == owner)
				continue;
			if (lt_saved(s->lifetime) || lt_saved(ss->lifetime))
				txn->saved_changed = true;
			s->weight = ss->weight;
			s->lifetime = ss->lifetime;
			txn->sub_sessions[k] = owner;
			continue;
		}
		if (txn_find_sub(txn, ss->name)) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "cannot restore sublayer '%s' (id %" PRIu32
				      ") of provider '%s': the name is taken",
				      ss->name, ss->id, prov);
			return -EEXIST;
		}
		if (lfp_sublayer_copy(&c, ss))
			return -ENOMEM;
		r = subs_insert(txn, &c, owner);
		if (r) {
			lfp_sublayer_fini(&c);
			return r;
		}
		if (ss->id >= txn->next_sublayer_id)
			txn->next_sublayer_id = ss->id + 1;
		if (lt_saved(ss->lifetime))
			txn->saved_changed = true;
	}
	/* the provider's filters that were not there before */
	for (size_t i = 0; i < txn->n_filters;) {
		const struct lfp_filter *f = &txn->filters[i]->f;

		if (owned_by(f->provider, prov) && !snap_has_filter(snap, f->id))
			txn_remove_at(txn, i);
		else
			i++;
	}
	/* the filters that were there and are not: back with their ids (new hit counters) */
	for (size_t i = 0; i < snap->n_filters && !r; i++) {
		const struct eng_snap_filter *sf = &snap->filters[i];
		struct lfp_filter c;
		int64_t id;

		if (txn_has_filter_id(txn, sf->f.id))
			continue;
		if (sf->f.lifetime == LFP_LT_DYNAMIC && !(alive && alive(ctx, sf->session)))
			continue;
		if (lfp_filter_copy(&c, &sf->f))
			return -ENOMEM;
		txn->session = sf->session;
		id = txn_insert(txn, &c, sf->f.id, prov, sf->f.lifetime, diags);
		txn->session = own_session;
		lfp_filter_fini(&c);
		if (id < 0)
			r = (int)id;
	}
	/* the provider's sublayers that were not there before */
	for (size_t i = 0; i < txn->n_subs && !r;) {
		struct lfp_sublayer *s = &txn->subs[i];

		if (s->id == DEFAULT_SUBLAYER_ID || !owned_by(s->provider, prov) ||
		    snap_sub_index(snap, s->id) >= 0) {
			i++;
			continue;
		}
		if (sub_used(txn, s->name)) {
			lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
				      "sublayer '%s' kept: it holds filters of other providers",
				      s->name);
			i++;
			continue;
		}
		if (lt_saved(s->lifetime))
			txn->saved_changed = true;
		subs_remove_at(txn, i);
	}
	for (size_t i = 0; i < txn->n_filters && !r; i++)
		r = check_lifetime(txn, &txn->filters[i]->f, txn->filters[i]->session, diags);
	return r;
}

uint64_t engine_confirm_remaining_ms(const struct engine *eng)
{
	uint64_t now = clock_ms(CLOCK_MONOTONIC);

	if (!eng->confirm || now >= eng->confirm->deadline_mono_ms)
		return 0;
	return eng->confirm->deadline_mono_ms - now;
}

/* "in 57 s" for messages */
static unsigned long long remaining_s(const struct engine *eng)
{
	return (engine_confirm_remaining_ms(eng) + 999) / 1000;
}

static bool sub_is_provider_s(const struct eng_txn *txn, const struct eng_snapshot *snap,
			      const char *name)
{
	const struct lfp_sublayer *s;

	if (!name)
		return false;
	for (size_t i = 0; i < snap->n_subs; i++)
		if (!strcmp(snap->subs[i].name, name))
			return true;
	s = txn_find_sub((struct eng_txn *)txn, name);
	return s && s->id != DEFAULT_SUBLAYER_ID && owned_by(s->provider, snap->provider);
}

int eng_txn_check_confirm(struct eng_txn *txn, struct lfp_diags *diags)
{
	struct engine *eng = txn->eng;
	const struct eng_snapshot *snap;
	size_t in_txn = 0, in_eng = 0;
	bool changed = false;
	const char *prov;

	if (!eng->confirm)
		return 0;
	snap = &eng->confirm->prev;
	prov = snap->provider;
	/* the provider's filters: committed ones are shared pointers, new ones are fresh */
	for (size_t i = 0; i < txn->n_filters; i++) {
		const struct eng_filter *ef = txn->filters[i];

		if (owned_by(ef->f.provider, prov)) {
			in_txn++;
			changed |= ef->fresh;
			continue;
		}
		if (!ef->fresh)
			continue;
		/* another provider's new filter: it must not stand in the rollback's way */
		for (size_t k = 0; k < snap->n_filters; k++) {
			const char *n = snap->filters[k].f.name;

			if (n && ef->f.name && !strcmp(n, ef->f.name)) {
				lfp_diags_add(diags, LFP_DIAG_ERROR, ef->f.loc, NULL,
					      "filter name '%s' is held for provider '%s', whose "
					      "change waits for confirmation (lfp confirm, or it "
					      "rolls back in %llu s)",
					      n, prov, remaining_s(eng));
				return -EBUSY;
			}
		}
		if (sub_is_provider_s(txn, snap, ef->f.sublayer)) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, ef->f.loc, NULL,
				      "sublayer '%s' belongs to provider '%s', whose change waits "
				      "for confirmation (lfp confirm, or it rolls back in %llu s): "
				      "no new filters in it until then",
				      ef->f.sublayer, prov, remaining_s(eng));
			return -EBUSY;
		}
	}
	for (size_t i = 0; i < eng->n_filters; i++)
		in_eng += owned_by(eng->filters[i]->f.provider, prov);
	changed |= in_txn != in_eng;
	/* the provider's sublayers: same ids, weights, lifetimes as committed */
	in_txn = in_eng = 0;
	for (size_t i = 0; i < txn->n_subs && !changed; i++) {
		const struct lfp_sublayer *s = &txn->subs[i];
		bool found = false;

		if (s->id == DEFAULT_SUBLAYER_ID)
			continue;
		if (!owned_by(s->provider, prov)) {
			for (size_t k = 0; k < snap->n_subs; k++) {
				if (strcmp(snap->subs[k].name, s->name) ||
				    snap->subs[k].id == s->id)
					continue;
				lfp_diags_add(diags, LFP_DIAG_ERROR, s->loc, NULL,
					      "sublayer name '%s' is held for provider '%s', whose "
					      "change waits for confirmation (lfp confirm, or it "
					      "rolls back in %llu s)",
					      s->name, prov, remaining_s(eng));
				return -EBUSY;
			}
			continue;
		}
		in_txn++;
		for (size_t k = 0; k < eng->n_subs && !found; k++) {
			const struct lfp_sublayer *c = &eng->subs[k];

			if (c->id != s->id)
				continue;
			found = true;
			changed |= c->weight != s->weight || c->lifetime != s->lifetime ||
				   eng->sub_sessions[k] != txn->sub_sessions[i];
		}
		changed |= !found;
	}
	for (size_t i = 0; i < eng->n_subs; i++)
		in_eng += eng->subs[i].id != DEFAULT_SUBLAYER_ID &&
			  owned_by(eng->subs[i].provider, prov);
	changed |= in_txn != in_eng;
	if (!changed)
		return 0;
	lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
		      "provider '%s' has a change waiting for confirmation: its objects cannot "
		      "change until `lfp confirm` (or the rollback in %llu s)",
		      prov, remaining_s(eng));
	return -EBUSY;
}

static void confirm_free(struct eng_confirm *c)
{
	if (!c)
		return;
	eng_snapshot_fini(&c->prev);
	free(c->error);
	free(c);
}

/* The snapshot and deadline as saved in STATE-DIR/confirm.json (what survives a killed lfpd:
 * the persistent and boot-time objects; runtime and dynamic ones end with lfpd anyway). */
static json_t *confirm_to_json(const struct eng_confirm *c)
{
	LFP_OPTS(lfp_print_opts, po, .show_secrets = true);
	json_t *root, *subs = json_array(), *filters = json_array();

	root = json_pack("{s:i, s:s, s:s, s:i, s:I, s:I, s:i, s:o, s:o}", "version", 1, "provider",
			 c->prev.provider, "lifetime", lifetime_name(c->lifetime), "seconds",
			 (int)c->seconds, "applied_ms", (json_int_t)c->applied_ms, "deadline_ms",
			 (json_int_t)c->deadline_ms, "pid", (int)c->pid, "sublayers", subs,
			 "filters", filters);
	if (!root)
		return NULL;
	for (size_t i = 0; i < c->prev.n_subs; i++) {
		const struct lfp_sublayer *s = &c->prev.subs[i];

		if (!lt_saved(s->lifetime))
			continue;
		if (json_array_append_new(
			    subs, json_pack("{s:I, s:s, s:i, s:s?, s:s}", "id", (json_int_t)s->id,
					    "name", s->name, "weight", s->weight, "provider",
					    s->provider, "lifetime", lifetime_name(s->lifetime))))
			goto nomem;
	}
	for (size_t i = 0; i < c->prev.n_filters; i++) {
		const struct lfp_filter *f = &c->prev.filters[i].f;
		char *t;
		int r;

		if (!lt_saved(f->lifetime))
			continue;
		t = lfp_filter_to_text(f, &po);
		if (!t)
			goto nomem;
		r = json_array_append_new(
			filters,
			json_pack("{s:I, s:s?, s:s, s:s}", "id", (json_int_t)f->id, "provider",
				  f->provider, "lifetime", lifetime_name(f->lifetime), "text", t));
		free(t);
		if (r)
			goto nomem;
	}
	return root;
nomem:
	json_decref(root);
	return NULL;
}

static int lifetime_parse(const char *s, enum lfp_lifetime *lt)
{
	if (s && !strcmp(s, "persistent"))
		*lt = LFP_LT_PERSISTENT;
	else if (s && !strcmp(s, "boot-time"))
		*lt = LFP_LT_BOOT_TIME;
	else if (s && !strcmp(s, "runtime"))
		*lt = LFP_LT_RUNTIME;
	else if (s && !strcmp(s, "dynamic"))
		*lt = LFP_LT_DYNAMIC;
	else
		return -EINVAL;
	return 0;
}

static int confirm_from_json(const json_t *root, struct eng_confirm *c, struct lfp_diags *diags)
{
	const char *prov = json_string_value(json_object_get(root, "provider"));
	json_t *arr, *it;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!prov || !json_is_integer(json_object_get(root, "deadline_ms")) ||
	    lifetime_parse(json_string_value(json_object_get(root, "lifetime")), &c->lifetime))
		goto bad;
	c->prev.provider = strdup(prov);
	arr = json_object_get(root, "sublayers");
	c->prev.subs = calloc(json_array_size(arr) + 1, sizeof(*c->prev.subs));
	c->prev.sub_sessions = calloc(json_array_size(arr) + 1, sizeof(*c->prev.sub_sessions));
	if (!c->prev.provider || !c->prev.subs || !c->prev.sub_sessions)
		return -ENOMEM;
	c->seconds = (uint32_t)json_integer_value(json_object_get(root, "seconds"));
	c->applied_ms = (uint64_t)json_integer_value(json_object_get(root, "applied_ms"));
	c->deadline_ms = (uint64_t)json_integer_value(json_object_get(root, "deadline_ms"));
	c->pid = (int32_t)json_integer_value(json_object_get(root, "pid"));
	json_array_foreach(arr, i, it)
	{
		struct lfp_sublayer *s = &c->prev.subs[c->prev.n_subs];
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *p = json_string_value(json_object_get(it, "provider"));

		s->id = (uint32_t)json_integer_value(json_object_get(it, "id"));
		s->weight = (uint16_t)json_integer_value(json_object_get(it, "weight"));
		if (!name || s->id <= DEFAULT_SUBLAYER_ID ||
		    lifetime_parse(json_string_value(json_object_get(it, "lifetime")),
				   &s->lifetime))
			goto bad;
		c->prev.n_subs++; /* from here on confirm_free() frees it */
		if (strdup_opt(&s->name, name) || strdup_opt(&s->provider, p))
			return -ENOMEM;
	}
	arr = json_object_get(root, "filters");
	c->prev.filters = calloc(json_array_size(arr) + 1, sizeof(*c->prev.filters));
	if (!c->prev.filters)
		return -ENOMEM;
	json_array_foreach(arr, i, it)
	{
		LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
		struct lfp_filter *f = &c->prev.filters[c->prev.n_filters].f;
		enum lfp_lifetime lt;
		int r;

		if (lifetime_parse(json_string_value(json_object_get(it, "lifetime")), &lt))
			goto bad;
		r = filter_from_text(json_string_value(json_object_get(it, "text")),
				     "confirmation file", &rs, diags);
		if (r == -ENOMEM)
			return r;
		if (r)
			goto bad;
		*f = rs->filters[0];
		memset(&rs->filters[0], 0, sizeof(rs->filters[0]));
		f->id = (uint64_t)json_integer_value(json_object_get(it, "id"));
		f->lifetime = lt;
		free(f->provider);
		f->provider = NULL;
		c->prev.n_filters++;
		if (!f->id)
			goto bad;
		if (strdup_opt(&f->provider, json_string_value(json_object_get(it, "provider"))))
			return -ENOMEM;
	}
	return 0;
bad:
	lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
		      "%s/%s is malformed: the pending confirmation cannot be rolled back "
		      "(remove the file after checking the policy)",
		      "STATE-DIR", STORE_CONFIRM);
	return -EINVAL;
}

int engine_confirm_begin(struct engine *eng, const char *provider, enum lfp_lifetime lt,
			 uint32_t seconds, uint64_t session, int32_t pid, struct eng_confirm **out,
			 struct lfp_diags *diags)
{
	struct eng_confirm *c;
	json_t *j;
	int r;

	*out = NULL;
	if (eng->confirm) {
		const struct eng_confirm *p = eng->confirm;

		lfp_diags_add(
			diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			"a change is already waiting for confirmation: provider '%s' (applied "
			"by pid %d), rolled back in %llu s unless `lfp confirm` comes first; "
			"one at a time",
			p->prev.provider, (int)p->pid, remaining_s(eng));
		return -EBUSY;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = engine_snapshot(eng, provider, &c->prev);
	if (r) {
		free(c);
		return r;
	}
	c->lifetime = lt;
	c->seconds = seconds;
	c->session = session;
	c->pid = pid;
	c->applied_ms = clock_ms(CLOCK_REALTIME);
	c->deadline_ms = c->applied_ms + (uint64_t)seconds * 1000;
	c->deadline_mono_ms = clock_ms(CLOCK_MONOTONIC) + (uint64_t)seconds * 1000;
	/* saved before the change is committed: an lfpd killed at any point after the
	 * commit finds it, and rolling back a change that never committed is a no-op */
	if (eng->state_dir) {
		j = confirm_to_json(c);
		r = j ? store_write(eng->state_dir, STORE_CONFIRM, j) : -ENOMEM;
		json_decref(j);
		if (r) {
			lfp_diags_add(
				diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				"could not save the rollback in %s/%s (%s): --confirm needs it "
				"to survive lfpd; nothing was applied",
				eng->state_dir, STORE_CONFIRM, strerror(-r));
			confirm_free(c);
			return r;
		}
	}
	*out = c;
	return 0;
}

void engine_confirm_arm(struct engine *eng, struct eng_confirm *c)
{
	eng->confirm = c;
}

void engine_confirm_cancel(struct engine *eng, struct eng_confirm *c)
{
	if (!c)
		return;
	if (eng->state_dir)
		store_remove(eng->state_dir, STORE_CONFIRM);
	confirm_free(c);
}

static void confirm_forget(struct engine *eng, struct lfp_diags *diags)
{
	int r = eng->state_dir ? store_remove(eng->state_dir, STORE_CONFIRM) : 0;

	if (r)
		lfp_diags_add(diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
			      "could not remove %s/%s: %s; a restarted lfpd would roll the change "
			      "back: remove it by hand",
			      eng->state_dir, STORE_CONFIRM, strerror(-r));
	confirm_free(eng->confirm);
	eng->confirm = NULL;
}

int engine_confirm_clear(struct engine *eng, struct lfp_diags *diags)
{
	if (!eng->confirm) {
		if (eng->last_rollback)
			lfp_diags_add(
				diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				"nothing to confirm: no change is waiting for confirmation "
				"(the last one, of provider '%s', was rolled back %llu s ago)",
				eng->last_rollback,
				(unsigned long long)((clock_ms(CLOCK_REALTIME) -
						      eng->last_rollback_ms) /
						     1000));
		else
			lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "nothing to confirm: no change is waiting for confirmation");
		return -ENOENT;
	}
	confirm_forget(eng, diags);
	return 0;
}

bool engine_confirm_due(const struct engine *eng)
{
	uint64_t now = clock_ms(CLOCK_MONOTONIC);

	return eng->confirm && now >= eng->confirm->deadline_mono_ms &&
	       now >= eng->confirm->retry_mono_ms;
}

int engine_confirm_rollback(struct engine *eng, const char *why,
			    bool (*alive)(void *ctx, uint64_t session), void *ctx,
			    struct lfp_diags *diags)
{
	struct eng_confirm *c = eng->confirm;
	struct eng_txn txn;
	char *prov;
	int r;

	if (!c)
		return -ENOENT;
	r = eng_txn_begin(eng, &txn);
	if (r)
		goto fail;
	r = eng_txn_restore(&txn, &c->prev, alive, ctx, diags);
	if (r) {
		eng_txn_abort(&txn);
		goto fail;
	}
	r = eng_txn_commit(&txn, diags);
	if (r)
		goto fail;
	lfp_print(LFP_WARN,
		  "lfpd: rollback: the change of provider '%s' (applied with --confirm %" PRIu32
		  " by pid %d) was not confirmed and %s: provider '%s' holds its previous %zu "
		  "filters and %zu sublayers again (generation %" PRIu64 ")\n",
		  c->prev.provider, c->seconds, (int)c->pid, why, c->prev.provider,
		  c->prev.n_filters, c->prev.n_subs, eng->gen);
	prov = strdup(c->prev.provider);
	if (prov) {
		free(eng->last_rollback);
		eng->last_rollback = prov;
		eng->last_rollback_ms = clock_ms(CLOCK_REALTIME);
	}
	confirm_forget(eng, diags);
	return 0;
fail:
	free(c->error);
	c->error = NULL;
	for (size_t i = 0; i < diags->n && !c->error; i++)
		if (diags->v[i].severity == LFP_DIAG_ERROR)
			c->error = strdup(diags->v[i].msg);
	if (!c->error)
		c->error = strdup(strerror(-r));
	c->retry_mono_ms = clock_ms(CLOCK_MONOTONIC) + 1000;
	lfp_print(LFP_WARN, "lfpd: rollback of provider '%s' failed (%s); retrying in 1 s\n",
		  c->prev.provider, c->error ? c->error : strerror(-r));
	return r;
}

int engine_confirm_load(struct engine *eng, struct lfp_diags *diags)
{
	struct eng_confirm *c;
	json_t *root = NULL;
	uint64_t now;
	int r;

	if (!eng->state_dir || eng->confirm)
		return 0;
	r = store_read(eng->state_dir, STORE_CONFIRM, &root, diags);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(root);
		return -ENOMEM;
	}
	r = confirm_from_json(root, c, diags);
	json_decref(root);
	if (r) {
		confirm_free(c);
		return r;
	}
	/* re-armed on the wall clock: the time lfpd was down counts */
	now = clock_ms(CLOCK_REALTIME);
	c->deadline_mono_ms =
		clock_ms(CLOCK_MONOTONIC) + (c->deadline_ms > now ? c->deadline_ms - now : 0);
	eng->confirm = c;
	return 0;
}
