// SPDX-License-Identifier: MIT
/*
 * The API: one JSON request per line, one JSON reply per line (docs/api.md).
 *
 * Each connection is a session. A mutating request outside an explicit
 * transaction is its own transaction; inside one (txn.begin) it edits the
 * session's open transaction under a savepoint, so a failed request is undone
 * alone and does not poison the transaction (WFP's rule). The engine has one
 * writer: while a session's transaction is open, other sessions' mutating
 * requests wait (API_WAIT: main.c stops reading that client and asks again)
 * until the lock is free or their lock wait timeout passes. lfpd stays single
 * threaded; nothing here blocks.
 *
 * `apply` with confirm_seconds arms a rollback (the engine holds the
 * provider's previous objects, also in the state dir); `confirm` disarms it,
 * api_tick() runs it when the deadline passes and the lock is free. While it
 * is pending, every mutating request is checked against it before it commits
 * (eng_txn_check_confirm).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "event.h"
#include "explain.h"
#include "exe.h"
#include "kern.h"
#include "lfpd.h"
#include "pend.h"
#include "timing.h"

struct api_req {
	struct lfpd *d;
	struct client *c;
	json_t *req;
	json_t *reply; /* filled by handlers on success */
	struct lfp_diags diags;
};

typedef int (*api_fn)(struct api_req *r);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *req_str(struct api_req *r, const char *key)
{
	json_t *v = json_object_get(r->req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int bad_field(struct api_req *r, const char *key, const char *want)
{
	lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL, "field '%s': %s", key,
		      want);
	return -EINVAL;
}

/* an optional lock wait in milliseconds: 0 (or absent) = the session's or lfpd's default */
static int req_timeout(struct api_req *r, uint32_t *ms)
{
	json_t *v = json_object_get(r->req, "lock_timeout_ms");

	*ms = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > LFP_LOCK_TIMEOUT_MAX_MS)
		return bad_field(r, "lock_timeout_ms",
				 "expected milliseconds from 0 (the default, 15000) to 86400000");
	*ms = (uint32_t)json_integer_value(v);
	return 0;
}

static int req_lifetime(struct api_req *r, enum lfp_lifetime *lt)
{
	const char *s = req_str(r, "lifetime");
	json_t *v = json_object_get(r->req, "lifetime");

	if (v && !json_is_null(v) && !s)
		return bad_field(r, "lifetime", "not a string");
	if (!s)
		*lt = r->c->dynamic ? LFP_LT_DYNAMIC : LFP_LT_PERSISTENT;
	else if (!strcmp(s, "persistent"))
		*lt = LFP_LT_PERSISTENT;
	else if (!strcmp(s, "runtime"))
		*lt = LFP_LT_RUNTIME;
	else if (!strcmp(s, "boot-time"))
		*lt = LFP_LT_BOOT_TIME;
	else if (!strcmp(s, "dynamic") && r->c->dynamic)
		*lt = LFP_LT_DYNAMIC;
	else if (!strcmp(s, "dynamic")) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'lifetime': 'dynamic' needs a dynamic session "
			      "({\"op\":\"session\",\"dynamic\":true} first)");
		return -EINVAL;
	} else {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'lifetime': expected persistent, runtime, boot-time or "
			      "dynamic, got '%s'",
			      s);
		return -EINVAL;
	}
	return 0;
}

/* A boot-time object is saved, not enforced: say so, so nobody thinks it protects now. */
static void boot_time_note(struct api_req *r, enum lfp_lifetime lt)
{
	if (lt == LFP_LT_BOOT_TIME)
		lfp_diags_add(&r->diags, LFP_DIAG_WARNING, (struct lfp_loc){ 0 }, NULL,
			      "boot-time objects are saved in the boot-time set: `lfpd --boot` "
			      "enforces them from boot until lfpd starts; this lfpd does not "
			      "enforce them");
}

static int need_text(struct api_req *r, const char **text)
{
	*text = req_str(r, "text");
	if (!*text) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'text': missing or not a string");
		return -EINVAL;
	}
	return 0;
}

/* parse "PREFIX TEXT" (one statement) */
static int parse_stmt(struct api_req *r, const char *prefix, const char *text, enum lfp_lifetime lt,
		      struct lfp_ruleset **rs)
{
	LFP_OPTS(lfp_parse_opts, po, .single_statement = true, .lifetime = lt);
	char *stmt = NULL;
	int ret;

	if (asprintf(&stmt, "%s %s", prefix, text) < 0)
		return -ENOMEM;
	ret = lfp_rule_parse(stmt, &po, rs, &r->diags);
	free(stmt);
	return ret;
}

static int commit_or_abort(struct api_req *r, struct eng_txn *txn, int ret)
{
	if (ret) {
		eng_txn_abort(txn);
		return ret;
	}
	ret = eng_txn_commit(txn, &r->diags);
	if (!ret)
		appwatch_rebuild(r->d);
	return ret;
}

/* Where a mutating request works: the session's open transaction (under a
 * savepoint) or a transaction of its own. */
struct api_txn {
	struct eng_txn local;
	struct eng_txn *t;
	struct eng_savepoint sp;
	bool in_open; /* the session's explicit transaction */
};

static bool holds_lock(const struct api_req *r)
{
	return r->d->lock_owner == r->c && r->d->eng.open_txn;
}

static int op_begin(struct api_req *r, struct api_txn *at)
{
	int ret;

	memset(at, 0, sizeof(*at));
	if (holds_lock(r)) {
		at->t = r->d->eng.open_txn;
		at->in_open = true;
		return eng_txn_savepoint(at->t, &at->sp);
	}
	at->t = &at->local;
	ret = eng_txn_begin(&r->d->eng, at->t);
	at->t->session = r->c->session;
	return ret;
}

/* ret is the operation's result: undo just it, or commit the implicit transaction */
static int op_end(struct api_req *r, struct api_txn *at, int ret)
{
	if (!ret)
		ret = eng_txn_check_confirm(at->t, &r->diags);
	if (!at->in_open)
		return commit_or_abort(r, at->t, ret);
	if (ret)
		eng_txn_rollback(at->t, &at->sp);
	else
		eng_savepoint_fini(&at->sp);
	return ret;
}

/* The filters and sublayers a session sees: its open transaction's, or the committed ones. */
struct api_view {
	struct eng_filter **filters;
	size_t n_filters;
	struct lfp_sublayer *subs;
	uint64_t *sub_sessions;
	size_t n_subs;
	bool txn;
};

static void view_get(struct api_req *r, struct api_view *v)
{
	struct engine *eng = &r->d->eng;
	struct eng_txn *t = eng->open_txn;

	v->txn = holds_lock(r);
	v->filters = v->txn ? t->filters : eng->filters;
	v->n_filters = v->txn ? t->n_filters : eng->n_filters;
	v->subs = v->txn ? t->subs : eng->subs;
	v->sub_sessions = v->txn ? t->sub_sessions : eng->sub_sessions;
	v->n_subs = v->txn ? t->n_subs : eng->n_subs;
}

/* ---- handlers ---- */

static int api_filter_add(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	enum lfp_lifetime lt;
	struct api_txn at;
	const char *text;
	int64_t id;
	int ret;

	if ((ret = need_text(r, &text)) || (ret = req_lifetime(r, &lt)) ||
	    (ret = parse_stmt(r, "filter add", text, lt, &rs)))
		return ret;
	if (rs->n_filters != 1) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "expected one filter statement");
		return -EINVAL;
	}
	ret = op_begin(r, &at);
	if (ret)
		return ret;
	id = eng_txn_add_filter(at.t, &rs->filters[0], req_str(r, "provider"), lt, &r->diags);
	ret = op_end(r, &at, id < 0 ? (int)id : 0);
	if (ret)
		return ret;
	boot_time_note(r, lt);
	json_object_set_new(r->reply, "id", json_integer(id));
	return 0;
}

static int api_filter_delete(struct api_req *r)
{
	const char *target = req_str(r, "target");
	struct api_txn at;
	int ret;

	if (!target) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'target': missing (a filter id or name)");
		return -EINVAL;
	}
	ret = op_begin(r, &at);
	if (ret)
		return ret;
	return op_end(r, &at, eng_txn_del_filter(at.t, target, &r->diags));
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

static int api_filter_list(struct api_req *r)
{
	const char *layer = req_str(r, "layer");
	json_t *arr = json_array();
	struct api_view v;
	int lnum = -1;

	if (layer) {
		lnum = lfp_layer_by_name(layer);
		if (lnum < 0) {
			json_decref(arr);
			lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
				      "unknown layer '%s' (see lfp help layers)", layer);
			return -EINVAL;
		}
	}
	view_get(r, &v);
	for (size_t i = 0; i < v.n_filters; i++) {
		const struct eng_filter *ef = v.filters[i];
		char *text;
		uint64_t hits = 0;
		json_t *j;

		if (lnum >= 0 && ef->f.layer != (enum lfp_layer)lnum)
			continue;
		text = lfp_filter_to_text(&ef->f, NULL);
		if (r->d->kern && ef->counter)
			lfp_kern_counter(r->d->kern, ef->counter, &hits);
		j = json_pack("{s:I, s:s?, s:s, s:s, s:I, s:I, s:s, s:s, s:s?}", "id",
			      (json_int_t)ef->f.id, "name", ef->f.name, "layer",
			      lfp_layer_info(ef->f.layer)->name, "sublayer",
			      ef->f.sublayer ? ef->f.sublayer : LFP_SUBLAYER_DEFAULT_NAME, "weight",
			      (json_int_t)ef->f.weight, "hits", (json_int_t)hits, "provider",
			      ef->f.provider ? ef->f.provider : "", "lifetime",
			      lifetime_name(ef->f.lifetime), "text", text);
		if (j && ef->f.lifetime == LFP_LT_DYNAMIC)
			json_object_set_new(j, "session", json_integer((json_int_t)ef->session));
		/* inside a transaction: not in the kernel yet (weights are computed at commit) */
		if (j && ef->fresh)
			json_object_set_new(j, "uncommitted", json_true());
		json_array_append_new(arr, j);
		free(text);
	}
	json_object_set_new(r->reply, "filters", arr);
	if (v.txn)
		json_object_set_new(r->reply, "txn", json_true());
	return 0;
}

static int api_sublayer_add(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	enum lfp_lifetime lt;
	struct api_txn at;
	const char *text;
	int ret;

	if ((ret = need_text(r, &text)) || (ret = req_lifetime(r, &lt)) ||
	    (ret = parse_stmt(r, "sublayer add", text, lt, &rs)))
		return ret;
	if (rs->n_sublayers != 1) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "expected one sublayer statement");
		return -EINVAL;
	}
	ret = op_begin(r, &at);
	if (ret)
		return ret;
	ret = op_end(r, &at,
		     eng_txn_add_sublayer(at.t, &rs->sublayers[0], req_str(r, "provider"), lt,
					  &r->diags));
	if (!ret)
		boot_time_note(r, lt);
	return ret;
}

static int api_sublayer_delete(struct api_req *r)
{
	const char *name = req_str(r, "name");
	struct api_txn at;
	int ret;

	if (!name) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'name': missing");
		return -EINVAL;
	}
	ret = op_begin(r, &at);
	if (ret)
		return ret;
	return op_end(r, &at, eng_txn_del_sublayer(at.t, name, &r->diags));
}

static int api_sublayer_list(struct api_req *r)
{
	json_t *arr = json_array();
	struct api_view v;

	view_get(r, &v);
	for (size_t i = 0; i < v.n_subs; i++) {
		const struct lfp_sublayer *s = &v.subs[i];
		size_t n = 0;
		json_t *j;

		for (size_t k = 0; k < v.n_filters; k++) {
			const char *fs = v.filters[k]->f.sublayer;

			n += fs ? !strcmp(fs, s->name) : s->id == 1;
		}
		j = json_pack("{s:i, s:s, s:i, s:s, s:s, s:I}", "id", s->id, "name", s->name,
			      "weight", s->weight, "provider", s->provider ? s->provider : "lfp",
			      "lifetime", lifetime_name(s->lifetime), "filters", (json_int_t)n);
		if (j && s->lifetime == LFP_LT_DYNAMIC)
			json_object_set_new(j, "session",
					    json_integer((json_int_t)v.sub_sessions[i]));
		json_array_append_new(arr, j);
	}
	json_object_set_new(r->reply, "sublayers", arr);
	if (v.txn)
		json_object_set_new(r->reply, "txn", json_true());
	return 0;
}

/* providers that own objects: built-ins (the default sublayer) have none */
static int api_provider_list(struct api_req *r)
{
	json_t *by_name = json_object(), *arr = json_array(), *p;
	struct api_view v;
	const char *name;

	if (!by_name || !arr) {
		json_decref(by_name);
		json_decref(arr);
		return -ENOMEM;
	}
	view_get(r, &v);
	for (size_t i = 0; i < v.n_filters + v.n_subs; i++) {
		bool is_filter = i < v.n_filters;
		const char *prov =
			is_filter ? v.filters[i]->f.provider : v.subs[i - v.n_filters].provider;
		const char *key = is_filter ? "filters" : "sublayers";

		if (!prov)
			continue;
		p = json_object_get(by_name, prov);
		if (!p) {
			p = json_pack("{s:s, s:I, s:I}", "name", prov, "filters", (json_int_t)0,
				      "sublayers", (json_int_t)0);
			json_object_set_new(by_name, prov, p);
		}
		json_object_set_new(p, key,
				    json_integer(json_integer_value(json_object_get(p, key)) + 1));
	}
	json_object_foreach(by_name, name, p)
	{
		json_array_append(arr, p);
	}
	json_decref(by_name);
	json_object_set_new(r->reply, "providers", arr);
	if (v.txn)
		json_object_set_new(r->reply, "txn", json_true());
	return 0;
}

static const char *callout_type_name(enum lfp_callout_type t)
{
	switch (t) {
	case LFP_CALLOUT_TERMINATING: return "terminating";
	case LFP_CALLOUT_INSPECTION: return "inspection";
	case LFP_CALLOUT_UNKNOWN: return "unknown";
	}
	return "?";
}

static int api_callout_list(struct api_req *r)
{
	json_t *arr;

	/* the registry (daemon/pend.c): built-ins and the sessions' callouts */
	if (r->d->pend) {
		json_object_set_new(r->reply, "callouts", pend_callouts_json(r->d));
		return 0;
	}
	arr = json_array();

	for (size_t i = 0; i < r->d->eng.n_callouts; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name",
						     r->d->eng.callouts[i].name, "type",
						     callout_type_name(r->d->eng.callouts[i].type),
						     "builtin", 1));
	json_object_set_new(r->reply, "callouts", arr);
	json_object_set_new(r->reply, "registration",
			    json_string("not available in this version: only the built-in "
					"callouts exist"));
	return 0;
}

/* The pending confirmation for replies and status (times as Unix seconds and ms left). */
static json_t *confirm_json(struct lfpd *d)
{
	const struct eng_confirm *c = d->eng.confirm;
	json_t *j;

	if (!c)
		return json_null();
	j = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:i, s:I}", "provider", c->prev.provider,
		      "lifetime", lifetime_name(c->lifetime), "seconds", (int)c->seconds, "applied",
		      (json_int_t)(c->applied_ms / 1000), "deadline",
		      (json_int_t)(c->deadline_ms / 1000), "remaining_ms",
		      (json_int_t)engine_confirm_remaining_ms(&d->eng), "pid", (int)c->pid,
		      "session", (json_int_t)c->session);
	if (j && c->error)
		json_object_set_new(j, "rollback_error", json_string(c->error));
	return j ? j : json_null();
}

/* confirm_seconds: absent or null = no confirmation, else 1 s to a day */
static int req_confirm_seconds(struct api_req *r, uint32_t *secs)
{
	json_t *v = json_object_get(r->req, "confirm_seconds");

	*secs = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 86400)
		return bad_field(r, "confirm_seconds", "expected seconds from 1 to 86400");
	*secs = (uint32_t)json_integer_value(v);
	return 0;
}

static int api_apply(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	const char *file = req_str(r, "file");
	struct eng_confirm *conf = NULL;
	const char *provider;
	enum lfp_lifetime lt;
	struct api_txn at;
	const char *text;
	uint32_t secs;
	uint64_t t0;
	int ret;

	if ((ret = need_text(r, &text)) || (ret = req_lifetime(r, &lt)) ||
	    (ret = req_confirm_seconds(r, &secs)))
		return ret;
	if (secs && holds_lock(r)) {
		/* the rollback needs the state before the change, which only a commit fixes */
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "apply with confirm_seconds cannot run inside a transaction "
			      "(txn.commit or txn.abort first)");
		return -EBUSY;
	}
	LFP_OPTS(lfp_parse_opts, po, .file = file, .lifetime = lt);
	lfp_diags_set_file(&r->diags, file);
	t0 = timing_us();
	ret = lfp_rule_parse(text, &po, &rs, &r->diags);
	if (ret)
		return ret;
	lfp_print(LFP_DEBUG, "lfpd: apply: parsed %zu bytes in %.1f ms\n", strlen(text),
		  timing_ms_since(t0));
	provider = rs->provider ? rs->provider : req_str(r, "provider");
	if (!provider) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "no provider: the file has no 'provider NAME' line and the request "
			      "names none");
		return -EINVAL;
	}
	if (secs) {
		ret = engine_confirm_begin(&r->d->eng, provider, lt, secs, r->c->session,
					   (int32_t)r->c->pid, &conf, &r->diags);
		if (ret)
			return ret;
	}
	ret = op_begin(r, &at);
	if (ret) {
		engine_confirm_cancel(&r->d->eng, conf);
		return ret;
	}
	t0 = timing_us();
	ret = op_end(r, &at, eng_txn_replace_provider(at.t, provider, rs, lt, &r->diags));
	lfp_print(LFP_DEBUG, "lfpd: apply: replace and commit %.1f ms\n", timing_ms_since(t0));
	if (ret) {
		engine_confirm_cancel(&r->d->eng, conf);
		return ret;
	}
	boot_time_note(r, lt);
	json_object_set_new(r->reply, "provider", json_string(provider));
	if (conf) {
		engine_confirm_arm(&r->d->eng, conf);
		lfp_print(LFP_INFO,
			  "lfpd: provider '%s' applied by pid %d with --confirm %" PRIu32
			  " (generation %" PRIu64 "): rolled back unless `lfp confirm` comes in "
			  "time\n",
			  provider, (int)r->c->pid, secs, r->d->eng.gen);
		json_object_set_new(r->reply, "confirm", confirm_json(r->d));
	}
	return ret;
}

static int api_confirm(struct api_req *r)
{
	json_t *was = confirm_json(r->d);
	int ret = engine_confirm_clear(&r->d->eng, &r->diags);

	if (ret) {
		json_decref(was);
		return ret;
	}
	lfp_print(LFP_INFO, "lfpd: provider '%s': change confirmed by pid %d; it stays\n",
		  json_string_value(json_object_get(was, "provider")), (int)r->c->pid);
	json_object_set_new(r->reply, "confirmed", was);
	json_object_set_new(r->reply, "generation", json_integer((json_int_t)r->d->eng.gen));
	return 0;
}

/* export and flush work on one saved set: "persistent" (default) or "boot-time" */
static int req_set(struct api_req *r, enum lfp_lifetime *lt)
{
	const char *s = req_str(r, "lifetime");

	*lt = LFP_LT_PERSISTENT;
	if (!json_object_get(r->req, "lifetime") ||
	    json_is_null(json_object_get(r->req, "lifetime")))
		return 0;
	if (s && !strcmp(s, "boot-time"))
		*lt = LFP_LT_BOOT_TIME;
	else if (!s || strcmp(s, "persistent"))
		return bad_field(r, "lifetime", "expected \"persistent\" or \"boot-time\"");
	return 0;
}

static int api_export(struct api_req *r)
{
	enum lfp_lifetime lt;
	char *text;
	int ret = req_set(r, &lt);

	if (ret)
		return ret;
	text = engine_export(&r->d->eng, req_str(r, "provider"), lt, false);
	if (!text)
		return -ENOMEM;
	json_object_set_new(r->reply, "text", json_string(text));
	free(text);
	return 0;
}

static int api_flush(struct api_req *r)
{
	enum lfp_lifetime lt;
	struct api_txn at;
	int ret = req_set(r, &lt);

	if (ret || (ret = op_begin(r, &at)))
		return ret;
	return op_end(r, &at, eng_txn_flush(at.t, req_str(r, "provider"), lt, &r->diags));
}

/* ---- sessions and transactions ---- */

static json_t *session_json(const struct client *c)
{
	return json_pack(
		"{s:I, s:b, s:s?, s:i, s:I}", "id", (json_int_t)c->session, "dynamic", c->dynamic,
		"name", c->name[0] ? c->name : NULL, "pid", (int)c->pid, "lock_timeout_ms",
		(json_int_t)(c->lock_timeout_ms ? c->lock_timeout_ms : LFP_LOCK_TIMEOUT_MS));
}

static int api_session(struct api_req *r)
{
	json_t *dyn = json_object_get(r->req, "dynamic");
	json_t *name = json_object_get(r->req, "name");
	uint32_t ms;
	int ret;

	if (r->c->declared) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "this connection declared its session already (session %" PRIu64
			      "); open another connection for another session",
			      r->c->session);
		return -EEXIST;
	}
	if (dyn && !json_is_boolean(dyn))
		return bad_field(r, "dynamic", "expected true or false");
	if (name && (!json_is_string(name) || !json_string_length(name) ||
		     json_string_length(name) > LFP_SESSION_NAME_MAX))
		return bad_field(r, "name", "expected a string of 1 to 63 characters");
	if (name) {
		for (const char *p = json_string_value(name); *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return bad_field(r, "name", "control characters are not allowed");
	}
	ret = req_timeout(r, &ms);
	if (ret)
		return ret;
	if (json_is_true(dyn) && !r->c->dynamic && holds_lock(r)) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "a session cannot become dynamic inside a transaction");
		return -EBUSY;
	}
	r->c->declared = true;
	r->c->dynamic = json_is_true(dyn);
	if (name)
		snprintf(r->c->name, sizeof(r->c->name), "%s", json_string_value(name));
	r->c->lock_timeout_ms = ms;
	json_object_set_new(r->reply, "session", session_json(r->c));
	return 0;
}

static int no_txn(struct api_req *r, const char *op)
{
	lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
		      "%s: no transaction is open in this session (txn.begin first)", op);
	return -ENOENT;
}

static void run_dead_session_drops(struct lfpd *d);

static void lock_release(struct lfpd *d)
{
	free(d->eng.open_txn);
	d->eng.open_txn = NULL;
	d->lock_owner = NULL;
	/* main.c hands the lock to waiting sessions; ended sessions' objects go first */
	run_dead_session_drops(d);
}

static int api_txn_begin(struct api_req *r)
{
	struct eng_txn *t;
	uint32_t ms;
	int ret;

	if (holds_lock(r)) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "txn.begin: a transaction is already open in this session (one at a "
			      "time: txn.commit or txn.abort it first)");
		return -EBUSY;
	}
	ret = req_timeout(r, &ms); /* validated before waiting by api_handle */
	if (ret)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	ret = eng_txn_begin(&r->d->eng, t);
	if (ret) {
		free(t);
		return ret;
	}
	t->session = r->c->session;
	r->d->eng.open_txn = t;
	r->d->lock_owner = r->c;
	json_object_set_new(r->reply, "txn", json_string("open"));
	json_object_set_new(r->reply, "session", json_integer((json_int_t)r->c->session));
	return 0;
}

static int api_txn_commit(struct api_req *r)
{
	int ret;

	if (!holds_lock(r))
		return no_txn(r, "txn.commit");
	ret = eng_txn_commit(r->d->eng.open_txn, &r->diags);
	lock_release(r->d);
	if (ret) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "txn.commit failed: the transaction was aborted, nothing of it "
			      "was applied");
		return ret;
	}
	appwatch_rebuild(r->d);
	json_object_set_new(r->reply, "generation", json_integer((json_int_t)r->d->eng.gen));
	return 0;
}

static int api_txn_abort(struct api_req *r)
{
	if (!holds_lock(r))
		return no_txn(r, "txn.abort");
	eng_txn_abort(r->d->eng.open_txn);
	lock_release(r->d);
	return 0;
}

static int api_subscribe(struct api_req *r)
{
	const char *what = req_str(r, "what");

	if (!what || strcmp(what, "filters"))
		return bad_field(r, "what",
				 "expected \"filters\" (connection events: op \"monitor\")");
	r->c->sub_filters = true;
	json_object_set_new(r->reply, "subscribed", json_string("filters"));
	return 0;
}

void api_filter_changed(void *ctx, const struct eng_filter *ef, bool added)
{
	struct lfpd *d = ctx;
	json_t *j = NULL;

	pend_filter_changed(d, ef, added);
	for (struct client *c = d->clients; c; c = c->next) {
		if (!c->sub_filters || c->closing)
			continue;
		if (c->out_len > CLIENT_OUT_MAX) {
			/* a subscriber must not miss a change silently: it loses the connection */
			c->closing = true;
			continue;
		}
		if (!j) {
			char *text = lfp_filter_to_text(&ef->f, NULL);

			j = json_pack("{s:{s:s, s:I, s:s?, s:s, s:s, s:s, s:s, s:s?}}",
				      "filter_change", "change", added ? "add" : "delete", "id",
				      (json_int_t)ef->f.id, "name", ef->f.name, "layer",
				      lfp_layer_info(ef->f.layer)->name, "sublayer",
				      ef->f.sublayer ? ef->f.sublayer : LFP_SUBLAYER_DEFAULT_NAME,
				      "provider", ef->f.provider ? ef->f.provider : "", "lifetime",
				      lifetime_name(ef->f.lifetime), "text", text);
			free(text);
			if (!j)
				return;
		}
		client_send(d, c, j);
	}
	json_decref(j);
}

static int dead_session_push(struct lfpd *d, uint64_t session)
{
	uint64_t *v = realloc(d->dead_sessions, (d->n_dead_sessions + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	d->dead_sessions = v;
	v[d->n_dead_sessions++] = session;
	return 0;
}

/* One commit for every ended dynamic session whose objects are still there. */
static void run_dead_session_drops(struct lfpd *d)
{
	struct lfp_diags diags = { 0 };
	struct eng_txn txn;
	size_t n = 0;
	int ret;

	if (!d->n_dead_sessions || d->eng.open_txn || d->stopping)
		return;
	ret = eng_txn_begin(&d->eng, &txn);
	if (ret)
		goto fail;
	for (size_t i = 0; i < d->n_dead_sessions; i++)
		n += eng_txn_drop_session(&txn, d->dead_sessions[i]);
	ret = eng_txn_commit(&txn, &diags);
	if (ret)
		goto fail;
	lfp_print(LFP_INFO,
		  "lfpd: %zu ended dynamic session(s): %zu objects deleted (generation %" PRIu64
		  ")\n",
		  d->n_dead_sessions, n, d->eng.gen);
	d->n_dead_sessions = 0;
	appwatch_rebuild(d);
	lfp_diags_fini(&diags);
	return;
fail:
	lfp_print(LFP_WARN,
		  "lfpd: deleting the objects of ended dynamic sessions failed (%s); "
		  "retrying in 1 s\n",
		  strerror(-ret));
	for (size_t i = 0; i < diags.n; i++)
		lfp_print(LFP_WARN, "lfpd:   %s\n", diags.v[i].msg);
	lfp_diags_fini(&diags);
	d->drop_retry_ms = now_ms() + 1000;
}

void api_session_end(struct lfpd *d, struct client *c)
{
	c->sub_filters = false;
	if (d->lock_owner == c) {
		if (d->eng.open_txn) {
			eng_txn_abort(d->eng.open_txn);
			lfp_print(LFP_INFO,
				  "lfpd: session %" PRIu64 " (pid %d) ended inside a transaction: "
				  "aborted, nothing of it applied\n",
				  c->session, (int)c->pid);
		}
		free(d->eng.open_txn);
		d->eng.open_txn = NULL;
		d->lock_owner = NULL;
	}
	if (c->dynamic && !d->stopping && engine_session_has_objects(&d->eng, c->session) &&
	    dead_session_push(d, c->session))
		lfp_print(LFP_WARN,
			  "lfpd: out of memory: session %" PRIu64 "'s dynamic objects "
			  "stay until lfpd stops\n",
			  c->session);
	run_dead_session_drops(d);
	/* after its filters went: no generation where they name a vanished callout */
	pend_session_end(d, c->session);
}

static bool session_alive(void *ctx, uint64_t session)
{
	struct lfpd *d = ctx;

	for (const struct client *c = d->clients; c; c = c->next)
		if (c->session == session && !c->closing)
			return true;
	return false;
}

/* The deadline of a pending confirmation passed: roll back, as soon as no transaction is
 * open (the engine has one writer; lock_release() runs first, then the next tick this). */
static void run_confirm_rollback(struct lfpd *d)
{
	struct lfp_diags diags = { 0 };

	if (!engine_confirm_due(&d->eng) || d->eng.open_txn || d->stopping)
		return;
	if (!engine_confirm_rollback(&d->eng, "its deadline passed", session_alive, d, &diags))
		appwatch_rebuild(d);
	for (size_t i = 0; i < diags.n; i++)
		lfp_print(LFP_WARN, "lfpd:   %s\n", diags.v[i].msg);
	lfp_diags_fini(&diags);
}

void api_tick(struct lfpd *d)
{
	if (d->n_dead_sessions && now_ms() >= d->drop_retry_ms)
		run_dead_session_drops(d);
	run_confirm_rollback(d);
}

/* cgroup ancestors of an absolute cgroup path (relative to the v2 mount), root first */
static void conn_cgroup_ids(struct lfp_conn *c)
{
	char root[PATH_MAX], path[PATH_MAX];
	struct stat st;
	char *p;
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64];

	root[0] = 0;
	if (f) {
		while (fscanf(f, "%255s %4095s %63s %*s %*d %*d\n", dev, dir, type) == 3)
			if (!strcmp(type, "cgroup2")) {
				snprintf(root, sizeof(root), "%s", dir);
				break;
			}
		fclose(f);
	}
	if (!root[0] || !c->cgroup_path)
		return;
	snprintf(path, sizeof(path), "%s%s", root, c->cgroup_path);
	c->cgroup_depth = 0;
	p = path + strlen(root);
	for (;;) {
		char save = *p;

		*p = 0;
		if (!stat(path, &st) && c->cgroup_depth < LFP_CGROUP_MAX_DEPTH)
			c->cgroup_ids[c->cgroup_depth++] = st.st_ino;
		*p = save;
		if (!save)
			break;
		p = strchr(p + 1, '/');
		if (!p)
			p = path + strlen(path);
	}
}

static int api_explain(struct api_req *r)
{
	struct lfp_conn conn = { 0 };
	struct lfp_policy p;
	const char *text;
	struct stat st;
	int ret;

	if ((ret = need_text(r, &text)))
		return ret;
	ret = lfp_conn_parse(text, &conn, &r->diags);
	if (ret)
		goto out;
	if (conn.app_path && !stat(conn.app_path, &st)) {
		conn.app_dev = exe_kdev(st.st_dev);
		conn.app_ino = st.st_ino;
	}
	conn_cgroup_ids(&conn);
	ret = engine_policy_view(&r->d->eng, &p);
	if (ret)
		goto out;
	ret = lfp_explain_json(&p, &conn, r->reply);
	engine_policy_free(&p);
out:
	lfp_conn_fini(&conn);
	return ret;
}

static json_t *status_json(struct lfpd *d)
{
	struct lfp_kern_status st;
	json_t *j = json_object(), *hooks = json_array(), *layers = json_array(), *stats;
	size_t per_layer[LFP_LAYER_COUNT] = { 0 }, n_enforced = 0, n_boot = 0;
	static const char *const stat_names[LFP_STAT_COUNT] = {
		"classifications",	 "events",
		"event_drops",		 "generation_retries",
		"udp_cache_hits",	 "errors",
		"reauthorizations",	 "flows_ended",
		"packets_malformed",	 "packets_truncated",
		"packet_events_limited", "nd_pmtu_exempt",
		"stream_enrolled",	 "stream_blocked",
	};

	memset(&st, 0, sizeof(st));
	if (d->kern)
		lfp_kern_status(d->kern, &st);
	json_object_set_new(j, "version", json_string(lfp_version()));
	json_object_set_new(j, "cgroup", json_string(d->cgroup_abs));
	json_object_set_new(j, "cgroup_id", json_integer((json_int_t)st.scope_cgroup_id));
	json_object_set_new(j, "netns", json_string(d->netns ? d->netns : ""));
	json_object_set_new(j, "bpffs", json_string(d->opts.bpffs));
	json_object_set_new(j, "adopted", json_boolean(st.adopted));
	json_object_set_new(j, "generation", json_integer((json_int_t)st.gen));
	for (size_t i = 0; i < d->eng.n_filters; i++) {
		if (engine_enforces(&d->eng, d->eng.filters[i]->f.lifetime))
			n_enforced++;
		else
			n_boot++;
	}
	json_object_set_new(j, "monitor_mode", json_boolean(n_enforced == 0));
	json_object_set_new(j, "log_permits", json_boolean(d->opts.log_permits));
	for (size_t i = 0; i < st.n_hooks; i++)
		json_array_append_new(
			hooks,
			json_pack("{s:s, s:s?, s:b, s:s}", "name", st.hooks[i].name, "layer",
				  st.hooks[i].layer >= 0 ? lfp_layer_info(st.hooks[i].layer)->name
							 : NULL,
				  "active", st.hooks[i].active, "reason", st.hooks[i].reason));
	json_object_set_new(j, "hooks", hooks);
	for (size_t i = 0; i < d->eng.n_filters; i++)
		if (engine_enforces(&d->eng, d->eng.filters[i]->f.lifetime))
			per_layer[d->eng.filters[i]->f.layer]++;
	for (int l = 0; l < LFP_LAYER_COUNT; l++) {
		const struct lfp_layer_info *li = lfp_layer_info(l);
		bool enforced = d->eng.enforced_layers & (1u << l);
		bool any = false, all = true;
		const char *why = NULL;
		char mech[512] = "";
		size_t off = 0;

		/* the mechanism is what is attached on this kernel, not the table's wish list */
		for (size_t i = 0; i < st.n_hooks; i++) {
			if (st.hooks[i].layer != l)
				continue;
			any = true;
			all &= st.hooks[i].active;
			if (!st.hooks[i].active)
				why = st.hooks[i].reason;
			else if (off < sizeof(mech))
				off += (size_t)snprintf(mech + off, sizeof(mech) - off, "%s%s",
							off ? " + " : "", st.hooks[i].name);
		}
		if (l == LFP_LAYER_AUTH_LISTEN && any && off < sizeof(mech))
			snprintf(mech + off, sizeof(mech) - off,
				 " (the fallback: this version has no BPF LSM socket_listen "
				 "program, "
				 "see docs/kernel.md; listen() succeeds and SYNs to a "
				 "blocked listener are dropped)");
		json_array_append_new(layers,
				      json_pack("{s:s, s:s, s:s, s:I}", "name", li->name, "state",
						!enforced      ? "not implemented in this version"
						: (any && all) ? "enforced"
						: any	       ? "partly enforced"
							       : "unavailable",
						"mechanism",
						!enforced     ? ""
						: why && !off ? why
							      : mech,
						"filters", (json_int_t)per_layer[l]));
	}
	json_object_set_new(j, "layers", layers);
	json_object_set_new(j, "filters", json_integer((json_int_t)n_enforced));
	json_object_set_new(j, "boot_time_filters", json_integer((json_int_t)n_boot));
	json_object_set_new(j, "confirm", confirm_json(d));
	json_object_set_new(j, "last_rollback",
			    d->eng.last_rollback
				    ? json_pack("{s:s, s:I}", "provider", d->eng.last_rollback,
						"time",
						(json_int_t)(d->eng.last_rollback_ms / 1000))
				    : json_null());
	json_object_set_new(j, "sublayers", json_integer((json_int_t)d->eng.n_subs));
	{
		size_t n = 0;

		for (const struct client *c = d->clients; c; c = c->next)
			n++;
		json_object_set_new(j, "sessions", json_integer((json_int_t)n));
		json_object_set_new(j, "transaction",
				    d->lock_owner && d->eng.open_txn ? session_json(d->lock_owner)
								     : json_null());
	}
	stats = json_object();
	for (int i = 0; i < LFP_STAT_COUNT; i++)
		json_object_set_new(stats, stat_names[i], json_integer((json_int_t)st.stats[i]));
	json_object_set_new(stats, "events_received", json_integer((json_int_t)d->events_seen));
	json_object_set_new(stats, "client_drops",
			    json_integer((json_int_t)d->events_to_clients_dropped));
	json_object_set_new(j, "stats", stats);
	json_object_set_new(j, "pend", pend_status_json(d));
	return j;
}

static int api_status(struct api_req *r)
{
	json_object_set_new(r->reply, "status", status_json(r->d));
	return 0;
}

static int api_monitor(struct api_req *r)
{
	struct lfp_kern_status st;

	/* "dropped" lines count the kernel's losses from here on */
	if (r->d->kern && !lfp_kern_status(r->d->kern, &st))
		r->c->kernel_drops_told = st.stats[LFP_STAT_EVENT_DROPS];
	r->c->monitor = true;
	json_object_set_new(r->reply, "monitor", json_true());
	json_object_set_new(r->reply, "own_events_only", json_boolean(!r->c->privileged));
	return 0;
}

/* pend and complete, callouts: daemon/pend.c */
static int api_pending_list(struct api_req *r)
{
	return pend_api_list(r->d, r->c, r->req, r->reply, &r->diags);
}

static int api_pending_answer(struct api_req *r)
{
	return pend_api_answer(r->d, r->c, r->req, r->reply, &r->diags);
}

static int api_callout_register(struct api_req *r)
{
	return pend_api_callout_register(r->d, r->c, r->req, r->reply, &r->diags);
}

static int api_callout_unregister(struct api_req *r)
{
	return pend_api_callout_unregister(r->d, r->c, r->req, r->reply, &r->diags);
}

static const struct {
	const char *op;
	api_fn fn;
	bool privileged;
	bool writes; /* needs the engine lock: waits while another session's transaction is open */
} handlers[] = {
	{ "status", api_status, false, false },
	{ "filter.add", api_filter_add, true, true },
	{ "filter.delete", api_filter_delete, true, true },
	{ "filter.list", api_filter_list, false, false },
	{ "sublayer.add", api_sublayer_add, true, true },
	{ "sublayer.delete", api_sublayer_delete, true, true },
	{ "sublayer.list", api_sublayer_list, false, false },
	{ "provider.list", api_provider_list, false, false },
	{ "callout.list", api_callout_list, false, false },
	{ "callout.register", api_callout_register, true, true },
	{ "callout.unregister", api_callout_unregister, true, true },
	{ "pending.list", api_pending_list, false, false },
	{ "pending.answer", api_pending_answer, false, false },
	{ "apply", api_apply, true, true },
	{ "export", api_export, false, false },
	{ "flush", api_flush, true, true },
	{ "confirm", api_confirm, true, false },
	{ "explain", api_explain, false, false },
	{ "monitor", api_monitor, false, false },
	{ "subscribe", api_subscribe, false, false },
	{ "session", api_session, true, false },
	{ "txn.begin", api_txn_begin, true, true },
	{ "txn.commit", api_txn_commit, true, false },
	{ "txn.abort", api_txn_abort, true, false },
};

static bool user_error(int err)
{
	switch (err) {
	case -EINVAL:
	case -ENOENT:
	case -EEXIST:
	case -EPERM:
	case -EACCES:
	case -EBUSY:
	case -EOPNOTSUPP:
	case -E2BIG:
	case -ENOSPC:
	case -ERANGE: return true;
	default: return false;
	}
}

static json_t *diags_json(const struct lfp_diags *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < d->n; i++) {
		const struct lfp_diag *g = &d->v[i];

		json_array_append_new(arr,
				      json_pack("{s:s, s:i, s:i, s:s, s:s?}", "severity",
						g->severity == LFP_DIAG_ERROR ? "error" : "warning",
						"line", g->loc.line, "col", g->loc.col, "msg",
						g->msg, "text", g->text));
	}
	return arr;
}

/*
 * Another session holds the lock: wait (API_WAIT) until it is free or this
 * request's lock wait timeout passed, then fail with the holder named.
 */
static int lock_wait(struct api_req *r, const char *op)
{
	struct client *c = r->c, *owner = r->d->lock_owner;
	uint64_t now = now_ms();
	uint32_t ms = 0;
	int ret;

	if (!owner || owner == c || !r->d->eng.open_txn)
		return 0;
	if (!strcmp(op, "txn.begin")) {
		ret = req_timeout(r, &ms); /* a bad value fails now, not after the wait */
		if (ret)
			return ret;
	}
	if (!ms)
		ms = c->lock_timeout_ms ? c->lock_timeout_ms : LFP_LOCK_TIMEOUT_MS;
	if (!c->wait_deadline_ms) {
		c->wait_since_ms = now;
		c->wait_deadline_ms = now + ms;
	}
	if (now < c->wait_deadline_ms)
		return API_WAIT;
	lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
		      "%s: lock wait timed out after %" PRIu64 " ms: session %" PRIu64
		      " (pid %d%s%s%s) holds the transaction lock",
		      op, now - c->wait_since_ms, owner->session, (int)owner->pid,
		      owner->name[0] ? ", '" : "", owner->name, owner->name[0] ? "'" : "");
	return -ETIMEDOUT;
}

int api_handle(struct lfpd *d, struct client *c, const char *line)
{
	struct api_req r = { .d = d, .c = c };
	json_error_t jerr;
	const char *op;
	json_t *out;
	int ret = -EINVAL;
	uint64_t t0;
	size_t i;

	if (!c->session)
		c->session = ++d->next_session;

	r.reply = json_object();
	t0 = timing_us();
	r.req = json_loads(line, 0, &jerr);
	if (strlen(line) > 65536)
		lfp_print(LFP_DEBUG, "lfpd: request of %zu bytes decoded in %.1f ms\n",
			  strlen(line), timing_ms_since(t0));
	if (!r.req || !json_is_object(r.req)) {
		lfp_diags_add(&r.diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "malformed request: %s", r.req ? "not a JSON object" : jerr.text);
		goto reply;
	}
	op = req_str(&r, "op");
	for (i = 0; op && i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcmp(handlers[i].op, op))
			break;
	if (!op || i == sizeof(handlers) / sizeof(handlers[0])) {
		lfp_diags_add(&r.diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'op': %s%s%s", op ? "unknown operation '" : "missing",
			      op ? op : "", op ? "'" : "");
		goto reply;
	}
	if (handlers[i].privileged && !c->privileged) {
		lfp_diags_add(&r.diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "permission denied: '%s' changes policy, which needs root or "
			      "membership of group 'lfp' (you are uid %u)",
			      op, (unsigned int)c->uid);
		ret = -EACCES;
		goto reply;
	}
	if (handlers[i].writes) {
		ret = lock_wait(&r, op);
		if (ret == API_WAIT) {
			json_decref(r.reply);
			json_decref(r.req);
			lfp_diags_fini(&r.diags);
			return API_WAIT;
		}
		if (ret)
			goto reply;
	}
	ret = handlers[i].fn(&r);
reply:
	c->wait_since_ms = c->wait_deadline_ms = 0;
	if (!ret) {
		out = r.reply;
		json_object_set_new(out, "ok", json_true());
		if (r.diags.n)
			json_object_set_new(out, "diags", diags_json(&r.diags));
	} else {
		const char *msg = NULL;

		json_decref(r.reply);
		for (i = 0; i < r.diags.n && !msg; i++)
			if (r.diags.v[i].severity == LFP_DIAG_ERROR)
				msg = r.diags.v[i].msg;
		out = json_pack("{s:b, s:s, s:i, s:i, s:o}", "ok", 0, "error",
				msg ? msg : strerror(-ret), "exit", user_error(ret) ? 1 : 2,
				"errno", -ret, "diags", diags_json(&r.diags));
		if (r.diags.file)
			json_object_set_new(out, "file", json_string(r.diags.file));
	}
	if (r.req && json_is_object(r.req) && json_object_get(r.req, "id"))
		json_object_set(out, "id", json_object_get(r.req, "id"));
	client_send(d, c, out);
	json_decref(out);
	json_decref(r.req);
	lfp_diags_fini(&r.diags);
	return API_DONE;
}
