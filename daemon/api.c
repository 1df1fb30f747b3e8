// SPDX-License-Identifier: MIT
/*
 * The API: one JSON request per line, one JSON reply per line (docs/api.md).
 * Each mutating request is one engine transaction; a reply with "ok": false
 * means nothing changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "event.h"
#include "exe.h"
#include "kern.h"
#include "lfpd.h"

struct api_req {
	struct lfpd *d;
	struct client *c;
	json_t *req;
	json_t *reply; /* filled by handlers on success */
	struct lfp_diags diags;
};

typedef int (*api_fn)(struct api_req *r);

static const char *req_str(struct api_req *r, const char *key)
{
	json_t *v = json_object_get(r->req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int req_lifetime(struct api_req *r, enum lfp_lifetime *lt)
{
	const char *s = req_str(r, "lifetime");

	if (!s || !strcmp(s, "persistent"))
		*lt = LFP_LT_PERSISTENT;
	else if (!strcmp(s, "runtime"))
		*lt = LFP_LT_RUNTIME;
	else if (!strcmp(s, "boot-time"))
		*lt = LFP_LT_BOOT_TIME;
	else {
		lfp_diags_add(
			&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			"field 'lifetime': expected persistent, runtime or boot-time, got '%s'", s);
		return -EINVAL;
	}
	return 0;
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

/* ---- handlers ---- */

static int api_filter_add(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	enum lfp_lifetime lt;
	struct eng_txn txn;
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
	ret = eng_txn_begin(&r->d->eng, &txn);
	if (ret)
		return ret;
	id = eng_txn_add_filter(&txn, &rs->filters[0], req_str(r, "provider"), lt, &r->diags);
	ret = commit_or_abort(r, &txn, id < 0 ? (int)id : 0);
	if (ret)
		return ret;
	json_object_set_new(r->reply, "id", json_integer(id));
	return 0;
}

static int api_filter_delete(struct api_req *r)
{
	const char *target = req_str(r, "target");
	struct eng_txn txn;
	int ret;

	if (!target) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'target': missing (a filter id or name)");
		return -EINVAL;
	}
	ret = eng_txn_begin(&r->d->eng, &txn);
	if (ret)
		return ret;
	return commit_or_abort(r, &txn, eng_txn_del_filter(&txn, target, &r->diags));
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
	for (size_t i = 0; i < r->d->eng.n_filters; i++) {
		const struct eng_filter *ef = r->d->eng.filters[i];
		char *text;
		uint64_t hits = 0;

		if (lnum >= 0 && ef->f.layer != (enum lfp_layer)lnum)
			continue;
		text = lfp_filter_to_text(&ef->f, NULL);
		if (r->d->kern)
			lfp_kern_counter(r->d->kern, ef->counter, &hits);
		json_array_append_new(
			arr, json_pack("{s:I, s:s?, s:s, s:s, s:I, s:I, s:s, s:s, s:s?}", "id",
				       (json_int_t)ef->f.id, "name", ef->f.name, "layer",
				       lfp_layer_info(ef->f.layer)->name, "sublayer",
				       ef->f.sublayer ? ef->f.sublayer : LFP_SUBLAYER_DEFAULT_NAME,
				       "weight", (json_int_t)ef->f.weight, "hits", (json_int_t)hits,
				       "provider", ef->f.provider ? ef->f.provider : "", "lifetime",
				       lifetime_name(ef->f.lifetime), "text", text));
		free(text);
	}
	json_object_set_new(r->reply, "filters", arr);
	return 0;
}

static int api_sublayer_add(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	enum lfp_lifetime lt;
	struct eng_txn txn;
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
	ret = eng_txn_begin(&r->d->eng, &txn);
	if (ret)
		return ret;
	return commit_or_abort(r, &txn,
			       eng_txn_add_sublayer(&txn, &rs->sublayers[0], req_str(r, "provider"),
						    lt, &r->diags));
}

static int api_sublayer_delete(struct api_req *r)
{
	const char *name = req_str(r, "name");
	struct eng_txn txn;
	int ret;

	if (!name) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'name': missing");
		return -EINVAL;
	}
	ret = eng_txn_begin(&r->d->eng, &txn);
	if (ret)
		return ret;
	return commit_or_abort(r, &txn, eng_txn_del_sublayer(&txn, name, &r->diags));
}

static int api_sublayer_list(struct api_req *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < r->d->eng.n_subs; i++) {
		const struct lfp_sublayer *s = &r->d->eng.subs[i];
		size_t n = 0;

		for (size_t j = 0; j < r->d->eng.n_filters; j++) {
			const char *fs = r->d->eng.filters[j]->f.sublayer;

			n += fs ? !strcmp(fs, s->name) : s->id == 1;
		}
		json_array_append_new(arr, json_pack("{s:i, s:s, s:i, s:s, s:s, s:I}", "id", s->id,
						     "name", s->name, "weight", s->weight,
						     "provider", s->provider ? s->provider : "lfp",
						     "lifetime", lifetime_name(s->lifetime),
						     "filters", (json_int_t)n));
	}
	json_object_set_new(r->reply, "sublayers", arr);
	return 0;
}

static int api_apply(struct api_req *r)
{
	LFP_CLEANUP(lfp_ruleset_freep) struct lfp_ruleset *rs = NULL;
	const char *file = req_str(r, "file");
	const char *provider;
	enum lfp_lifetime lt;
	struct eng_txn txn;
	const char *text;
	int ret;

	if ((ret = need_text(r, &text)) || (ret = req_lifetime(r, &lt)))
		return ret;
	LFP_OPTS(lfp_parse_opts, po, .file = file, .lifetime = lt);
	lfp_diags_set_file(&r->diags, file);
	ret = lfp_rule_parse(text, &po, &rs, &r->diags);
	if (ret)
		return ret;
	provider = rs->provider ? rs->provider : req_str(r, "provider");
	if (!provider) {
		lfp_diags_add(&r->diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "no provider: the file has no 'provider NAME' line and the request "
			      "names none");
		return -EINVAL;
	}
	ret = eng_txn_begin(&r->d->eng, &txn);
	if (ret)
		return ret;
	ret = commit_or_abort(r, &txn, eng_txn_replace_provider(&txn, provider, rs, lt, &r->diags));
	if (!ret)
		json_object_set_new(r->reply, "provider", json_string(provider));
	return ret;
}

static int api_export(struct api_req *r)
{
	char *text = engine_export(&r->d->eng, req_str(r, "provider"), false);

	if (!text)
		return -ENOMEM;
	json_object_set_new(r->reply, "text", json_string(text));
	free(text);
	return 0;
}

static int api_flush(struct api_req *r)
{
	struct eng_txn txn;
	int ret = eng_txn_begin(&r->d->eng, &txn);

	if (ret)
		return ret;
	return commit_or_abort(r, &txn, eng_txn_flush(&txn, req_str(r, "provider"), &r->diags));
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

static json_t *filter_ref(const struct lfp_filter *f)
{
	if (!f)
		return json_null();
	return json_pack("{s:I, s:s?}", "id", (json_int_t)f->id, "name", f->name);
}

static const char *answer_name(const struct lfp_sublayer_result *s)
{
	if (s->pend)
		return "pend";
	return s->answer.ans == LFP_ANS_PERMIT	? "permit"
	       : s->answer.ans == LFP_ANS_BLOCK ? "block"
						: "none";
}

static int api_explain(struct api_req *r)
{
	struct lfp_classify_result res = { 0 };
	struct lfp_conn conn = { 0 };
	struct lfp_policy p;
	const char *text;
	struct stat st;
	json_t *subs;
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
	ret = lfp_oracle_classify(&p, &conn, &res);
	if (ret) {
		engine_policy_free(&p);
		goto out;
	}
	json_object_set_new(r->reply, "verdict", json_string(lfp_verdict_name(res.verdict)));
	json_object_set_new(r->reply, "hard", json_boolean(res.hard));
	json_object_set_new(r->reply, "layer", json_string(lfp_layer_info(conn.layer)->name));
	json_object_set_new(r->reply, "filter", filter_ref(res.filter));
	subs = json_array();
	for (size_t i = 0; i < res.n_subs; i++) {
		const struct lfp_sublayer_result *s = &res.subs[i];

		json_array_append_new(
			subs, json_pack("{s:s, s:i, s:s, s:b, s:o}", "name", s->sublayer->name,
					"weight", s->sublayer->weight, "answer", answer_name(s),
					"hard", s->answer.hard, "filter", filter_ref(s->filter)));
	}
	json_object_set_new(r->reply, "sublayers", subs);
	lfp_classify_result_fini(&res);
	engine_policy_free(&p);
out:
	lfp_conn_fini(&conn);
	return ret;
}

static json_t *status_json(struct lfpd *d)
{
	struct lfp_kern_status st;
	json_t *j = json_object(), *hooks = json_array(), *layers = json_array(), *stats;
	size_t per_layer[LFP_LAYER_COUNT] = { 0 };
	static const char *const stat_names[LFP_STAT_COUNT] = {
		"classifications",    "events",		"event_drops",
		"generation_retries", "udp_cache_hits", "errors",
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
	json_object_set_new(j, "monitor_mode", json_boolean(d->eng.n_filters == 0));
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
		per_layer[d->eng.filters[i]->f.layer]++;
	for (int l = 0; l < LFP_LAYER_COUNT; l++) {
		const struct lfp_layer_info *li = lfp_layer_info(l);
		bool enforced = d->eng.enforced_layers & (1u << l);
		bool any = false, all = true;
		const char *why = NULL;

		for (size_t i = 0; i < st.n_hooks; i++) {
			if (st.hooks[i].layer != l)
				continue;
			any = true;
			all &= st.hooks[i].active;
			if (!st.hooks[i].active)
				why = st.hooks[i].reason;
		}
		json_array_append_new(layers,
				      json_pack("{s:s, s:s, s:s, s:I}", "name", li->name, "state",
						!enforced      ? "not implemented in this version"
						: (any && all) ? "enforced"
						: any	       ? "partly enforced"
							       : "unavailable",
						"mechanism", enforced ? li->hook : (why ? why : ""),
						"filters", (json_int_t)per_layer[l]));
	}
	json_object_set_new(j, "layers", layers);
	json_object_set_new(j, "filters", json_integer((json_int_t)d->eng.n_filters));
	json_object_set_new(j, "sublayers", json_integer((json_int_t)d->eng.n_subs));
	stats = json_object();
	for (int i = 0; i < LFP_STAT_COUNT; i++)
		json_object_set_new(stats, stat_names[i], json_integer((json_int_t)st.stats[i]));
	json_object_set_new(stats, "events_received", json_integer((json_int_t)d->events_seen));
	json_object_set_new(stats, "client_drops",
			    json_integer((json_int_t)d->events_to_clients_dropped));
	json_object_set_new(j, "stats", stats);
	return j;
}

static int api_status(struct api_req *r)
{
	json_object_set_new(r->reply, "status", status_json(r->d));
	return 0;
}

static int api_monitor(struct api_req *r)
{
	r->c->monitor = true;
	json_object_set_new(r->reply, "monitor", json_true());
	json_object_set_new(r->reply, "own_events_only", json_boolean(!r->c->privileged));
	return 0;
}

static const struct {
	const char *op;
	api_fn fn;
	bool privileged;
} handlers[] = {
	{ "status", api_status, false },
	{ "filter.add", api_filter_add, true },
	{ "filter.delete", api_filter_delete, true },
	{ "filter.list", api_filter_list, false },
	{ "sublayer.add", api_sublayer_add, true },
	{ "sublayer.delete", api_sublayer_delete, true },
	{ "sublayer.list", api_sublayer_list, false },
	{ "apply", api_apply, true },
	{ "export", api_export, false },
	{ "flush", api_flush, true },
	{ "explain", api_explain, false },
	{ "monitor", api_monitor, false },
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

void api_handle(struct lfpd *d, struct client *c, const char *line)
{
	struct api_req r = { .d = d, .c = c };
	json_error_t jerr;
	const char *op;
	json_t *out;
	int ret = -EINVAL;
	size_t i;

	r.reply = json_object();
	r.req = json_loads(line, 0, &jerr);
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
	ret = handlers[i].fn(&r);
reply:
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
		out = json_pack("{s:b, s:s, s:i, s:o}", "ok", 0, "error",
				msg ? msg : strerror(-ret), "exit", user_error(ret) ? 1 : 2,
				"diags", diags_json(&r.diags));
		if (r.diags.file)
			json_object_set_new(out, "file", json_string(r.diags.file));
	}
	if (r.req && json_is_object(r.req) && json_object_get(r.req, "id"))
		json_object_set(out, "id", json_object_get(r.req, "id"));
	client_send(d, c, out);
	json_decref(out);
	json_decref(r.req);
	lfp_diags_fini(&r.diags);
}
