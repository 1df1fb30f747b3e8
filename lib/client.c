// SPDX-License-Identifier: MIT
/*
 * The client side of lfpd's API (include/lfp/client.h): the same line protocol
 * as lfp and lfpd (util/proto.c, compiled into liblfp), blocking request/reply
 * on one connection.
 *
 * lfpd may send filter changes at any time, also between a request and its
 * reply (a commit's changes go out before the commit's reply). So a call reads
 * lines until the one with "ok", and parks the others on s->queue for
 * lfp_session_dispatch(). Writes use send(MSG_NOSIGNAL): a library must not
 * kill its caller with SIGPIPE when lfpd goes away.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>
#include <lfp/client.h>
#include "util/proto.h"

#define OPT(o, field, def)                                                                         \
	((o) && (o)->sz >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field) ? (o)->field     \
										  : (def))

struct lfp_session {
	int fd;
	struct lfp_linebuf in;
	uint64_t id;
	json_t *queue; /* filter_change objects read while waiting for a reply */
	lfp_filter_change_fn cb;
	void *cb_ctx;
	lfp_classify_fn classify_cb; /* callouts: classify requests, notifications */
	lfp_callout_notify_fn notify_cb;
	void *classify_ctx;
	lfp_flow_delete_fn flow_delete_cb;
	void *flow_delete_ctx;
	lfp_classify_notify_fn cnotify_cb; /* notifications of callouts that cannot decide */
	void *cnotify_ctx;
};

static const char *lifetime_name(enum lfp_obj_lifetime lt)
{
	switch (lt) {
	case LFP_LIFETIME_PERSISTENT: return "persistent";
	case LFP_LIFETIME_RUNTIME: return "runtime";
	case LFP_LIFETIME_DYNAMIC: return "dynamic";
	case LFP_LIFETIME_BOOT_TIME: return "boot-time";
	case LFP_LIFETIME_DEFAULT: break;
	}
	return NULL;
}

static enum lfp_obj_lifetime lifetime_parse(const char *s)
{
	for (int i = LFP_LIFETIME_PERSISTENT; s && i <= LFP_LIFETIME_BOOT_TIME; i++)
		if (!strcmp(s, lifetime_name((enum lfp_obj_lifetime)i)))
			return (enum lfp_obj_lifetime)i;
	return LFP_LIFETIME_DEFAULT;
}

static int send_all(int fd, const json_t *msg)
{
	size_t len, off = 0;
	char *buf = lfp_msg_dump(msg, &len);

	if (!buf)
		return -ENOMEM;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return r;
		}
		off += (size_t)n;
	}
	free(buf);
	return 0;
}

/* next complete line as a JSON object, or NULL (*err set on a bad line) */
static json_t *next_buffered(struct lfp_session *s, int *err)
{
	char *line = lfp_linebuf_next(&s->in);
	json_t *j;

	*err = 0;
	if (!line) {
		if (s->in.overflow)
			*err = -EMSGSIZE;
		return NULL;
	}
	j = json_loads(line, 0, NULL);
	free(line);
	if (!json_is_object(j)) {
		json_decref(j);
		*err = -EPROTO;
		return NULL;
	}
	return j;
}

static int fill(struct lfp_session *s)
{
	for (;;) {
		int r = lfp_linebuf_fill(&s->in, s->fd);

		if (r == -EINTR)
			continue;
		if (r == 0)
			return -EPIPE;
		return r < 0 ? r : 0;
	}
}

/* what lfp_session_dispatch() delivers: filter changes, classify requests, notifications */
static bool deliverable(const struct lfp_session *s, const json_t *j)
{
	return (s->cb && json_is_object(json_object_get(j, "filter_change"))) ||
	       (s->classify_cb && (json_is_object(json_object_get(j, "classify")) ||
				   json_is_object(json_object_get(j, "callout_notify")))) ||
	       (s->flow_delete_cb && json_is_object(json_object_get(j, "callout_flow_deleted"))) ||
	       (s->cnotify_cb && json_is_object(json_object_get(j, "classify_notify")));
}

/* a line that is not a reply: keep what dispatch delivers, drop anything else */
static void park(struct lfp_session *s, json_t *j)
{
	if (deliverable(s, j))
		json_array_append(s->queue, j);
	json_decref(j);
}

static void diags_from_reply(struct lfp_diags *diags, const json_t *rep)
{
	const char *file = json_string_value(json_object_get(rep, "file"));
	json_t *arr = json_object_get(rep, "diags"), *g;
	size_t i;

	if (!diags)
		return;
	if (file && !diags->file)
		lfp_diags_set_file(diags, file);
	json_array_foreach(arr, i, g)
	{
		const char *sev = json_string_value(json_object_get(g, "severity"));
		const char *msg = json_string_value(json_object_get(g, "msg"));
		struct lfp_loc loc = {
			(uint32_t)json_integer_value(json_object_get(g, "line")),
			(uint32_t)json_integer_value(json_object_get(g, "col")),
		};

		lfp_diags_add(
			diags, sev && !strcmp(sev, "warning") ? LFP_DIAG_WARNING : LFP_DIAG_ERROR,
			loc, json_string_value(json_object_get(g, "text")), "%s", msg ? msg : "?");
	}
	if (!json_is_true(json_object_get(rep, "ok")) && !json_array_size(arr))
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL, "%s",
			      json_string_value(json_object_get(rep, "error"))
				      ?: "lfpd refused the request");
}

/*
 * Send @p req (stolen) and wait for its reply. @return 0 with *reply (when
 * @p reply is not NULL) or -errno, lfpd's messages in @p diags.
 */
static int call(struct lfp_session *s, json_t *req, json_t **reply, struct lfp_diags *diags)
{
	json_t *rep = NULL;
	int r, err;

	if (reply)
		*reply = NULL;
	if (!req)
		return -ENOMEM;
	r = send_all(s->fd, req);
	json_decref(req);
	/* lfpd may refuse a request before reading all of it: its reply still says why */
	if (r && r != -EPIPE && r != -ECONNRESET)
		return r;
	for (;;) {
		rep = next_buffered(s, &err);
		if (err)
			return err;
		if (rep && json_object_get(rep, "ok"))
			break;
		if (rep) {
			park(s, rep);
			continue;
		}
		err = fill(s);
		if (err)
			return r ? r : err;
	}
	diags_from_reply(diags, rep);
	if (!json_is_true(json_object_get(rep, "ok"))) {
		json_int_t e = json_integer_value(json_object_get(rep, "errno"));
		json_int_t code = json_integer_value(json_object_get(rep, "exit"));

		json_decref(rep);
		if (e > 0 && e < 4096)
			return -(int)e;
		return code == 1 ? -EINVAL : -EIO;
	}
	if (reply)
		*reply = rep;
	else
		json_decref(rep);
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int lfp_session_open(const struct lfp_session_opts *opts, struct lfp_session **out,
		     struct lfp_diags *diags)
{
	const char *sock = OPT(opts, socket, NULL);
	const char *name = OPT(opts, name, NULL);
	bool dynamic = OPT(opts, dynamic, false);
	uint32_t timeout = OPT(opts, lock_timeout_ms, 0);
	struct lfp_session *s;
	json_t *rep = NULL;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->in.max = LFP_MSG_MAX_REPLY; /* filter lists of large policies */
	s->queue = json_array();
	if (!s->queue) {
		free(s);
		return -ENOMEM;
	}
	s->fd = connect_unix(sock ? sock : LFP_DEFAULT_SOCKET);
	if (s->fd < 0) {
		r = s->fd;
		s->fd = -1;
		goto fail;
	}
	/* a plain session needs no declaration, so readers without privilege can open one */
	if (dynamic || name || timeout) {
		json_t *req = json_pack("{s:s, s:b}", "op", "session", "dynamic", dynamic);

		if (req && name)
			json_object_set_new(req, "name", json_string(name));
		if (req && timeout)
			json_object_set_new(req, "lock_timeout_ms", json_integer(timeout));
		r = call(s, req, &rep, diags);
		if (r)
			goto fail;
		s->id = (uint64_t)json_integer_value(
			json_object_get(json_object_get(rep, "session"), "id"));
		json_decref(rep);
	}
	*out = s;
	return 0;
fail:
	lfp_session_close(s);
	return r;
}

void lfp_session_close(struct lfp_session *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	lfp_linebuf_fini(&s->in);
	json_decref(s->queue);
	free(s);
}

uint64_t lfp_session_id(const struct lfp_session *s)
{
	return s->id;
}

int lfp_session_fd(const struct lfp_session *s)
{
	return s->fd;
}

static int simple(struct lfp_session *s, json_t *req, struct lfp_diags *diags)
{
	return call(s, req, NULL, diags);
}

int lfp_txn_begin(struct lfp_session *s, struct lfp_diags *diags)
{
	return simple(s, json_pack("{s:s}", "op", "txn.begin"), diags);
}

int lfp_txn_commit(struct lfp_session *s, struct lfp_diags *diags)
{
	return simple(s, json_pack("{s:s}", "op", "txn.commit"), diags);
}

int lfp_txn_abort(struct lfp_session *s, struct lfp_diags *diags)
{
	return simple(s, json_pack("{s:s}", "op", "txn.abort"), diags);
}

/* a request for an object statement with the options every add takes */
static json_t *add_req(const char *op, const char *text, const struct lfp_obj_opts *opts)
{
	enum lfp_obj_lifetime lt = OPT(opts, lifetime, LFP_LIFETIME_DEFAULT);
	const char *provider = OPT(opts, provider, NULL);
	json_t *req = json_pack("{s:s, s:s}", "op", op, "text", text);

	if (req && lifetime_name(lt))
		json_object_set_new(req, "lifetime", json_string(lifetime_name(lt)));
	if (req && provider)
		json_object_set_new(req, "provider", json_string(provider));
	return req;
}

int lfp_session_filter_add(struct lfp_session *s, const char *text, const struct lfp_obj_opts *opts,
			   uint64_t *id, struct lfp_diags *diags)
{
	json_t *rep;
	int r;

	if (!text || (unsigned)OPT(opts, lifetime, 0) > LFP_LIFETIME_BOOT_TIME)
		return -EINVAL;
	r = call(s, add_req("filter.add", text, opts), &rep, diags);
	if (r)
		return r;
	if (id)
		*id = (uint64_t)json_integer_value(json_object_get(rep, "id"));
	json_decref(rep);
	return 0;
}

int lfp_session_filter_delete(struct lfp_session *s, const char *id_or_name,
			      struct lfp_diags *diags)
{
	if (!id_or_name)
		return -EINVAL;
	return simple(s, json_pack("{s:s, s:s}", "op", "filter.delete", "target", id_or_name),
		      diags);
}

int lfp_session_sublayer_add(struct lfp_session *s, const char *text,
			     const struct lfp_obj_opts *opts, struct lfp_diags *diags)
{
	if (!text || (unsigned)OPT(opts, lifetime, 0) > LFP_LIFETIME_BOOT_TIME)
		return -EINVAL;
	return simple(s, add_req("sublayer.add", text, opts), diags);
}

int lfp_session_sublayer_delete(struct lfp_session *s, const char *name, struct lfp_diags *diags)
{
	if (!name)
		return -EINVAL;
	return simple(s, json_pack("{s:s, s:s}", "op", "sublayer.delete", "name", name), diags);
}

int lfp_session_apply(struct lfp_session *s, const char *text, const char *file,
		      const char *provider, struct lfp_diags *diags)
{
	if (!text)
		return -EINVAL;
	return simple(s,
		      json_pack("{s:s, s:s, s:s?, s:s?}", "op", "apply", "text", text, "file", file,
				"provider", provider),
		      diags);
}

/* ---- enumeration ---- */

static char *dup_str(const json_t *o, const char *key, bool *nomem)
{
	const char *v = json_string_value(json_object_get(o, key));
	char *d;

	if (!v)
		return NULL;
	d = strdup(v);
	if (!d)
		*nomem = true;
	return d;
}

static uint64_t get_u64(const json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

/* ask @p op, hand back the reply's array @p key */
static int list(struct lfp_session *s, json_t *req, const char *key, json_t **rep, json_t **arr,
		struct lfp_diags *diags)
{
	int r = call(s, req, rep, diags);

	if (r)
		return r;
	*arr = json_object_get(*rep, key);
	if (!json_is_array(*arr)) {
		json_decref(*rep);
		return -EPROTO;
	}
	return 0;
}

void lfp_filter_infos_free(struct lfp_filter_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].layer);
		free(v[i].sublayer);
		free(v[i].provider);
		free(v[i].text);
	}
	free(v);
}

void lfp_sublayer_infos_free(struct lfp_sublayer_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].provider);
	}
	free(v);
}

void lfp_provider_infos_free(struct lfp_provider_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

static void filter_info_decode(void *elem, const json_t *j, bool *nomem)
{
	*(struct lfp_filter_info *)elem = (struct lfp_filter_info){
		.id = get_u64(j, "id"),
		.name = dup_str(j, "name", nomem),
		.layer = dup_str(j, "layer", nomem),
		.sublayer = dup_str(j, "sublayer", nomem),
		.weight = get_u64(j, "weight"),
		.hits = get_u64(j, "hits"),
		.provider = dup_str(j, "provider", nomem),
		.lifetime = lifetime_parse(json_string_value(json_object_get(j, "lifetime"))),
		.session = get_u64(j, "session"),
		.uncommitted = json_is_true(json_object_get(j, "uncommitted")),
		.text = dup_str(j, "text", nomem),
	};
}

static void sublayer_info_decode(void *elem, const json_t *j, bool *nomem)
{
	*(struct lfp_sublayer_info *)elem = (struct lfp_sublayer_info){
		.id = (uint32_t)get_u64(j, "id"),
		.name = dup_str(j, "name", nomem),
		.weight = (uint16_t)get_u64(j, "weight"),
		.provider = dup_str(j, "provider", nomem),
		.lifetime = lifetime_parse(json_string_value(json_object_get(j, "lifetime"))),
		.session = get_u64(j, "session"),
		.filters = (size_t)get_u64(j, "filters"),
	};
}

static void provider_info_decode(void *elem, const json_t *j, bool *nomem)
{
	*(struct lfp_provider_info *)elem = (struct lfp_provider_info){
		.name = dup_str(j, "name", nomem),
		.filters = (size_t)get_u64(j, "filters"),
		.sublayers = (size_t)get_u64(j, "sublayers"),
	};
}

/* One enumeration: send @p req, decode the reply's array @p key into a new array of
 * @p size-byte elements; on failure nothing is returned and nothing leaks. */
static int enumerate(struct lfp_session *s, json_t *req, const char *key, size_t size,
		     void (*decode)(void *elem, const json_t *j, bool *nomem),
		     void (*free_fn)(void *v, size_t n), void **out, size_t *n,
		     struct lfp_diags *diags)
{
	json_t *rep, *arr, *j;
	bool nomem = false;
	char *v;
	size_t i;
	int r;

	*out = NULL;
	*n = 0;
	r = list(s, req, key, &rep, &arr, diags);
	if (r)
		return r;
	v = calloc(json_array_size(arr) + 1, size);
	if (!v) {
		json_decref(rep);
		return -ENOMEM;
	}
	json_array_foreach(arr, i, j) decode(v + i * size, j, &nomem);
	i = json_array_size(arr);
	json_decref(rep);
	if (nomem) {
		free_fn(v, i);
		return -ENOMEM;
	}
	*out = v;
	*n = i;
	return 0;
}

static void filter_infos_free_v(void *v, size_t n)
{
	lfp_filter_infos_free(v, n);
}

static void sublayer_infos_free_v(void *v, size_t n)
{
	lfp_sublayer_infos_free(v, n);
}

static void provider_infos_free_v(void *v, size_t n)
{
	lfp_provider_infos_free(v, n);
}

int lfp_session_filters(struct lfp_session *s, const char *layer, struct lfp_filter_info **out,
			size_t *n, struct lfp_diags *diags)
{
	return enumerate(s, json_pack("{s:s, s:s?}", "op", "filter.list", "layer", layer),
			 "filters", sizeof(**out), filter_info_decode, filter_infos_free_v,
			 (void **)out, n, diags);
}

int lfp_session_sublayers(struct lfp_session *s, struct lfp_sublayer_info **out, size_t *n,
			  struct lfp_diags *diags)
{
	return enumerate(s, json_pack("{s:s}", "op", "sublayer.list"), "sublayers", sizeof(**out),
			 sublayer_info_decode, sublayer_infos_free_v, (void **)out, n, diags);
}

int lfp_session_providers(struct lfp_session *s, struct lfp_provider_info **out, size_t *n,
			  struct lfp_diags *diags)
{
	return enumerate(s, json_pack("{s:s}", "op", "provider.list"), "providers", sizeof(**out),
			 provider_info_decode, provider_infos_free_v, (void **)out, n, diags);
}

int lfp_session_status_json(struct lfp_session *s, char **out, struct lfp_diags *diags)
{
	json_t *rep;
	int r;

	*out = NULL;
	r = call(s, json_pack("{s:s}", "op", "status"), &rep, diags);
	if (r)
		return r;
	*out = json_dumps(json_object_get(rep, "status"), JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rep);
	return *out ? 0 : -ENOMEM;
}

/* ---- subscriptions ---- */

int lfp_session_subscribe_filters(struct lfp_session *s, lfp_filter_change_fn cb, void *ctx,
				  struct lfp_diags *diags)
{
	int r;

	if (!cb)
		return -EINVAL;
	/* set first: changes can arrive before the reply */
	s->cb = cb;
	s->cb_ctx = ctx;
	r = simple(s, json_pack("{s:s, s:s}", "op", "subscribe", "what", "filters"), diags);
	if (r)
		s->cb = NULL;
	return r;
}

static void deliver_classify(struct lfp_session *s, const json_t *c)
{
	struct lfp_classify_request rq = {
		.id = get_u64(c, "id"),
		.callout = json_string_value(json_object_get(c, "callout")),
		.filter_id = get_u64(c, "filter"),
		.filter_name = json_string_value(json_object_get(c, "filter_name")),
		.pid = (uint32_t)get_u64(c, "pid"),
		.uid = (uint32_t)get_u64(c, "uid"),
		.user = json_string_value(json_object_get(c, "user")),
		.path = json_string_value(json_object_get(c, "path")),
		.comm = json_string_value(json_object_get(c, "comm")) ?: "",
		.proto = json_string_value(json_object_get(c, "proto")) ?: "",
		.local = json_string_value(json_object_get(c, "local")) ?: "",
		.lport = (uint16_t)get_u64(c, "lport"),
		.remote = json_string_value(json_object_get(c, "remote")) ?: "",
		.rport = (uint16_t)get_u64(c, "rport"),
	};

	if (s->classify_cb)
		s->classify_cb(s->classify_ctx, &rq);
}

static void deliver_notify(struct lfp_session *s, const json_t *c)
{
	const char *kind = json_string_value(json_object_get(c, "change"));
	struct lfp_callout_notify n = {
		.change = kind && !strcmp(kind, "delete") ? LFP_CHANGE_DELETE : LFP_CHANGE_ADD,
		.callout = json_string_value(json_object_get(c, "callout")) ?: "",
		.filter_id = get_u64(c, "filter"),
	};

	if (s->notify_cb)
		s->notify_cb(s->classify_ctx, &n);
}

static void deliver_flow_delete(struct lfp_session *s, const json_t *c)
{
	struct lfp_flow_delete fd = {
		.id = get_u64(c, "id"),
		.cookie = get_u64(c, "cookie"),
		.callout = json_string_value(json_object_get(c, "callout")) ?: "",
		.proto = json_string_value(json_object_get(c, "proto")) ?: "",
		.direction = json_string_value(json_object_get(c, "direction")) ?: "outbound",
		.remote = json_string_value(json_object_get(c, "remote")) ?: "",
		.rport = (uint16_t)get_u64(c, "rport"),
		.local = json_string_value(json_object_get(c, "local")) ?: "",
		.lport = (uint16_t)get_u64(c, "lport"),
	};

	if (s->flow_delete_cb)
		s->flow_delete_cb(s->flow_delete_ctx, &fd);
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* standard base64 with padding; @return the length, or -1 for text that is not base64 */
static ssize_t base64_decode(const char *in, uint8_t *out)
{
	uint32_t v = 0;
	size_t n = 0;
	int bits = 0;

	for (; *in && *in != '='; in++) {
		const char *p = strchr(b64_alphabet, *in);

		if (!p)
			return -1;
		v = v << 6 | (uint32_t)(p - b64_alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(v >> bits);
		}
	}
	return (ssize_t)n;
}

static void deliver_classify_notify(struct lfp_session *s, const json_t *c)
{
	const json_t *e = json_object_get(c, "event");
	const char *data = json_string_value(json_object_get(c, "data"));
	uint8_t *bytes = NULL;
	ssize_t n = 0;
	struct lfp_classify_notify cn = {
		.callout = json_string_value(json_object_get(c, "callout")) ?: "",
		.filter_id = get_u64(c, "filter"),
		.layer = json_string_value(json_object_get(e, "layer")) ?: "",
		.verdict = json_string_value(json_object_get(e, "verdict")) ?: "",
		.decided_by = get_u64(e, "filter_id"),
		.pid = (uint32_t)get_u64(e, "pid"),
		.uid = (uint32_t)get_u64(e, "uid"),
		.path = json_string_value(json_object_get(e, "path")),
		.comm = json_string_value(json_object_get(e, "comm")) ?: "",
		.proto = json_string_value(json_object_get(e, "proto")) ?: "",
		.local = json_string_value(json_object_get(e, "local_addr")) ?: "",
		.lport = (uint16_t)get_u64(e, "local_port"),
		.remote = json_string_value(json_object_get(e, "remote_addr")) ?: "",
		.rport = (uint16_t)get_u64(e, "remote_port"),
		.cookie = get_u64(e, "cookie"),
	};

	if (data) {
		bytes = malloc(strlen(data) / 4 * 3 + 3);
		n = bytes ? base64_decode(data, bytes) : -1;
		if (n < 0) { /* not lfpd's: deliver the rest without data */
			free(bytes);
			bytes = NULL;
			n = 0;
		}
	}
	cn.data = bytes;
	cn.data_len = (size_t)n;
	if (s->cnotify_cb)
		s->cnotify_cb(s->cnotify_ctx, &cn);
	free(bytes);
}

static void deliver(struct lfp_session *s, const json_t *j)
{
	if (json_is_object(json_object_get(j, "classify_notify"))) {
		deliver_classify_notify(s, json_object_get(j, "classify_notify"));
		return;
	}
	if (json_is_object(json_object_get(j, "callout_flow_deleted"))) {
		deliver_flow_delete(s, json_object_get(j, "callout_flow_deleted"));
		return;
	}
	const json_t *c = json_object_get(j, "filter_change");

	if (json_is_object(json_object_get(j, "classify"))) {
		deliver_classify(s, json_object_get(j, "classify"));
		return;
	}
	if (json_is_object(json_object_get(j, "callout_notify"))) {
		deliver_notify(s, json_object_get(j, "callout_notify"));
		return;
	}
	const char *kind = json_string_value(json_object_get(c, "change"));
	struct lfp_filter_change ch = {
		.change = kind && !strcmp(kind, "delete") ? LFP_CHANGE_DELETE : LFP_CHANGE_ADD,
		.id = get_u64(c, "id"),
		.name = json_string_value(json_object_get(c, "name")),
		.layer = json_string_value(json_object_get(c, "layer")),
		.sublayer = json_string_value(json_object_get(c, "sublayer")),
		.provider = json_string_value(json_object_get(c, "provider")),
		.lifetime = lifetime_parse(json_string_value(json_object_get(c, "lifetime"))),
		.text = json_string_value(json_object_get(c, "text")),
	};

	if (s->cb)
		s->cb(s->cb_ctx, &ch);
}

bool lfp_session_pending(const struct lfp_session *s)
{
	return json_array_size(s->queue) ||
	       (s->in.len && memchr(s->in.buf, '\n', s->in.len) != NULL);
}

/* deliver the parked changes and the complete lines already read */
static int deliver_buffered(struct lfp_session *s)
{
	int n = 0, err;
	json_t *j;

	while (json_array_size(s->queue)) {
		/* the callback may call into the session: take the change off the queue first */
		j = json_incref(json_array_get(s->queue, 0));
		json_array_remove(s->queue, 0);
		deliver(s, j);
		json_decref(j);
		n++;
	}
	while ((j = next_buffered(s, &err))) {
		if (json_object_get(j, "ok")) {
			json_decref(j); /* nothing is waiting for a reply here */
			return -EPROTO;
		}
		if (deliverable(s, j)) {
			deliver(s, j);
			n++;
		}
		json_decref(j);
	}
	return err ? err : n;
}

int lfp_session_dispatch(struct lfp_session *s, int timeout_ms)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	int n, r;

	n = deliver_buffered(s);
	if (n)
		return n;
	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	r = fill(s);
	if (r)
		return r;
	return deliver_buffered(s);
}

/* ---- callouts ---- */

static const char *const kind_names[] = { "terminating", "inspection", "unknown" };

int lfp_session_callout_register(struct lfp_session *s, const char *name,
				 enum lfp_callout_kind kind, struct lfp_diags *diags)
{
	if (!name || (unsigned int)kind > LFP_CALLOUT_KIND_UNKNOWN)
		return -EINVAL;
	return simple(s,
		      json_pack("{s:s, s:s, s:s}", "op", "callout.register", "name", name, "type",
				kind_names[kind]),
		      diags);
}

int lfp_session_callout_register_opts(struct lfp_session *s, const char *name,
				      enum lfp_callout_kind kind,
				      const struct lfp_callout_opts *opts, struct lfp_diags *diags)
{
	json_t *req;

	if (!name || (unsigned int)kind > LFP_CALLOUT_KIND_UNKNOWN)
		return -EINVAL;
	req = json_pack("{s:s, s:s, s:s}", "op", "callout.register", "name", name, "type",
			kind_names[kind]);
	/* fields past the caller's sz are not there: an older caller's struct is shorter */
	if (req && opts &&
	    opts->sz >= offsetof(struct lfp_callout_opts, timeout_ms) + sizeof(opts->timeout_ms) &&
	    opts->timeout_ms)
		json_object_set_new(req, "timeout_ms", json_integer(opts->timeout_ms));
	return simple(s, req, diags);
}

int lfp_session_callout_unregister(struct lfp_session *s, const char *name, struct lfp_diags *diags)
{
	if (!name)
		return -EINVAL;
	return simple(s, json_pack("{s:s, s:s}", "op", "callout.unregister", "name", name), diags);
}

int lfp_session_on_classify(struct lfp_session *s, lfp_classify_fn cb, lfp_callout_notify_fn notify,
			    void *ctx)
{
	if (!cb)
		return -EINVAL;
	s->classify_cb = cb;
	s->notify_cb = notify;
	s->classify_ctx = ctx;
	return 0;
}

int lfp_session_on_classify_notify(struct lfp_session *s, lfp_classify_notify_fn cb, void *ctx)
{
	if (!cb)
		return -EINVAL;
	s->cnotify_cb = cb;
	s->cnotify_ctx = ctx;
	return 0;
}

int lfp_session_on_flow_delete(struct lfp_session *s, lfp_flow_delete_fn cb, void *ctx)
{
	if (!cb)
		return -EINVAL;
	s->flow_delete_cb = cb;
	s->flow_delete_ctx = ctx;
	return 0;
}

int lfp_session_classify_answer(struct lfp_session *s, uint64_t id, enum lfp_callout_answer a,
				struct lfp_diags *diags)
{
	static const char *const words[] = { "permit", "block", "continue" };

	if ((unsigned int)a > LFP_CALLOUT_CONTINUE || !id)
		return -EINVAL;
	return simple(s,
		      json_pack("{s:s, s:I, s:s}", "op", "pending.answer", "pending",
				(json_int_t)id, "verdict", words[a]),
		      diags);
}
