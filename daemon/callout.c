// SPDX-License-Identifier: MIT
/*
 * The callout registry and the pending table as plain data (no kernel, no
 * sockets), so tests/unit/test_callout.c can check them alone. The runtime
 * around them is daemon/pend.c; the model is docs/callouts.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/oracle.h>
#include "pend.h"

/* ---- pending table ---- */

uint64_t pend_table_add(struct pend_table *t, struct pend_flow *f)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct pend_flow **v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return 0;
		t->v = v;
		t->cap = cap;
	}
	f->id = ++t->next_id;
	t->v[t->n++] = f;
	return f->id;
}

struct pend_flow *pend_table_find(const struct pend_table *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->id == id)
			return t->v[i];
	return NULL;
}

struct pend_flow *pend_table_find_key(const struct pend_table *t, const void *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (!memcmp(t->v[i]->key, key, sizeof(t->v[i]->key)))
			return t->v[i];
	return NULL;
}

void pend_table_remove(struct pend_table *t, struct pend_flow *f)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] == f) {
			/* keep the order: `lfp pending` and the prompter show oldest first */
			memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
			t->n--;
			return;
		}
	}
}

struct pend_flow *pend_table_expired(const struct pend_table *t, uint64_t now_ms)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->deadline_ms && t->v[i]->deadline_ms <= now_ms)
			return t->v[i];
	return NULL;
}

void pend_flow_free(struct pend_flow *f)
{
	if (!f)
		return;
	free(f->callout);
	free(f);
}

void pend_table_fini(struct pend_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		pend_flow_free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* ---- callout registry ---- */

/* The rule language's identifier rules, so every registered name can be written in a filter. */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > PEND_CALLOUT_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

const struct callout_reg *callout_registry_find(const struct callout_registry *r, const char *name)
{
	for (size_t i = 0; name && i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return &r->v[i];
	return NULL;
}

int callout_registry_add(struct callout_registry *r, const char *name, int type, uint64_t session)
{
	struct callout_reg *v;
	char *dup;

	if (!name_ok(name) || type < LFP_CALLOUT_TERMINATING || type > LFP_CALLOUT_UNKNOWN)
		return -EINVAL;
	if (callout_registry_find(r, name))
		return -EEXIST;
	dup = strdup(name);
	v = realloc(r->v, (r->n + 1) * sizeof(*v));
	if (!dup || !v) {
		free(dup);
		if (v)
			r->v = v;
		return -ENOMEM;
	}
	r->v = v;
	r->v[r->n++] = (struct callout_reg){ .name = dup, .type = type, .session = session };
	return 0;
}

int callout_registry_set_timeout(struct callout_registry *r, const char *name, uint32_t timeout_ms)
{
	struct callout_reg *e = (struct callout_reg *)callout_registry_find(r, name);

	if (!e)
		return -ENOENT;
	if (timeout_ms &&
	    (timeout_ms < PEND_CALLOUT_TIMEOUT_MIN_MS || timeout_ms > PEND_CALLOUT_TIMEOUT_MAX_MS))
		return -ERANGE;
	e->timeout_ms = timeout_ms;
	return 0;
}

static void reg_remove(struct callout_registry *r, size_t i)
{
	free(r->v[i].name);
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
	r->n--;
}

int callout_registry_del(struct callout_registry *r, const char *name, uint64_t session)
{
	for (size_t i = 0; name && i < r->n; i++) {
		if (strcmp(r->v[i].name, name))
			continue;
		/* built-ins (session 0) belong to nobody who could unregister them */
		if (!r->v[i].session || r->v[i].session != session)
			return -EPERM;
		reg_remove(r, i);
		return 0;
	}
	return -ENOENT;
}

size_t callout_registry_drop_session(struct callout_registry *r, uint64_t session)
{
	size_t n = 0;

	if (!session)
		return 0;
	for (size_t i = 0; i < r->n;) {
		if (r->v[i].session == session) {
			reg_remove(r, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

void callout_registry_fini(struct callout_registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].name);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- flows watched for their end ---- */

int flow_watch_add(struct flow_watches *w, const struct flow_watch *spec, uint64_t now_ms)
{
	struct flow_watch *v;
	char *dup;

	if (!spec->session || (spec->proto != 6 && spec->proto != 17) ||
	    (!spec->cookie && !(spec->inbound && spec->proto == 6)))
		return -EINVAL;
	dup = strdup(spec->callout ? spec->callout : "");
	v = realloc(w->v, (w->n + 1) * sizeof(*v));
	if (!dup || !v) {
		free(dup);
		if (v)
			w->v = v;
		return -ENOMEM;
	}
	w->v = v;
	w->v[w->n] = *spec;
	w->v[w->n].callout = dup;
	w->v[w->n].since_ms = now_ms;
	/* a socket we have the cookie of exists now (connect, the receiving socket) */
	w->v[w->n].seen = spec->cookie != 0;
	w->n++;
	return 0;
}

static void watch_remove(struct flow_watches *w, size_t i)
{
	free(w->v[i].callout);
	w->v[i] = w->v[--w->n];
}

size_t flow_watch_drop_session(struct flow_watches *w, uint64_t session)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n;) {
		if (w->v[i].session == session) {
			watch_remove(w, i);
			n++;
		} else {
			i++;
		}
	}
	return n;
}

static int live_cmp(const void *a, const void *b)
{
	const struct flow_live *x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return x->proto < y->proto ? -1 : x->proto > y->proto;
}

void flow_live_sort(struct flow_live *live, size_t n)
{
	if (n)
		qsort(live, n, sizeof(*live), live_cmp);
}

/* the socket of @fw among @live, or NULL */
static const struct flow_live *live_find(struct flow_watch *fw, const struct flow_live *live,
					 size_t n)
{
	if (fw->cookie) {
		struct flow_live k = { .cookie = fw->cookie, .proto = fw->proto };

		return n ? bsearch(&k, live, n, sizeof(*live), live_cmp) : NULL;
	}
	/* an inbound TCP flow before its accepted socket was seen: by 5-tuple; a listener
	 * (no remote) never matches, the remote port is never 0 */
	for (size_t i = 0; i < n; i++) {
		const struct flow_live *l = &live[i];

		if (l->proto == fw->proto && l->lport == fw->lport && l->rport == fw->rport &&
		    !memcmp(l->laddr, fw->laddr, 16) && !memcmp(l->raddr, fw->raddr, 16))
			return l;
	}
	return NULL;
}

size_t flow_watch_sweep(struct flow_watches *w, const struct flow_live *live, size_t n_live,
			uint64_t now_ms,
			bool (*remote_alive)(void *ctx, const struct flow_watch *fw),
			void (*ended)(void *ctx, const struct flow_watch *fw), void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < w->n;) {
		struct flow_watch *fw = &w->v[i];
		const struct flow_live *l = live_find(fw, live, n_live);
		bool alive = l && !l->over;

		if (l && !fw->cookie)
			fw->cookie = l->cookie; /* its accepted socket: followed by cookie now */
		if (alive && fw->per_remote && remote_alive && !remote_alive(ctx, fw))
			alive = false;
		if (alive)
			fw->seen = true;
		if (alive || (!l && !fw->seen && now_ms - fw->since_ms < FLOW_WATCH_GRACE_MS)) {
			i++;
			continue;
		}
		if (ended)
			ended(ctx, fw);
		watch_remove(w, i);
		n++;
	}
	return n;
}

void flow_watches_fini(struct flow_watches *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].callout);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

int pend_verdict_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "permit"))
		return 0;
	if (!strcmp(s, "block"))
		return 1;
	if (!strcmp(s, "continue"))
		return 2;
	return -EINVAL;
}

/* ---- asynchronous notifications ---- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *callout_base64(const void *bytes, size_t n)
{
	const uint8_t *b = bytes;
	char *out, *o;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = malloc((n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)b[i + 1] << 8;
		if (i + 2 < n)
			v |= b[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	*o = 0;
	return out;
}

json_t *callout_notify_msg(const char *callout, uint64_t filter_id, json_t *event,
			   const void *bytes, size_t n)
{
	json_t *body = json_object(), *msg;
	char *data = NULL;

	if (!body || !event || !callout || (n && !bytes))
		goto fail;
	if (n && !(data = callout_base64(bytes, n)))
		goto fail;
	if (json_object_set_new(body, "callout", json_string(callout)) ||
	    json_object_set_new(body, "filter", json_integer((json_int_t)filter_id)) ||
	    json_object_set(body, "event", event) ||
	    (data && (json_object_set_new(body, "data", json_string(data)) ||
		      json_object_set_new(body, "data_len", json_integer((json_int_t)n)))))
		goto fail;
	free(data);
	json_decref(event);
	msg = json_object();
	if (!msg || json_object_set_new(msg, "classify_notify", body)) {
		json_decref(msg);
		return NULL;
	}
	return msg;
fail:
	free(data);
	json_decref(body);
	json_decref(event);
	return NULL;
}
