// SPDX-License-Identifier: MIT
/*
 * The rule parser: statements of CLI.md into a struct lfp_ruleset.
 *
 * Errors never stop the parse: a statement with an error is dropped and
 * the parser moves to the next one, so one run reports every mistake in a
 * file. Value errors (a bad port, a field the layer lacks) do not even stop
 * the statement, because the structure around them is still known; only a
 * token out of place does. The caller gets the whole ruleset or nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rule_int.h"

#define OPT(o, field, def)                                                                         \
	((o) && (o)->sz >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field) ? (o)->field     \
										  : (def))

/* A statement's tokens: v[end] is its RT_EOL, which peek() returns at the end. */
struct cur {
	struct rule_tok *v;
	size_t i, end;
};

static struct rule_tok *peek(struct cur *c)
{
	return &c->v[c->i];
}

static struct rule_tok *take(struct cur *c)
{
	struct rule_tok *t = &c->v[c->i];

	if (c->i < c->end)
		c->i++;
	return t;
}

static bool at_end(const struct cur *c)
{
	return c->i >= c->end;
}

static bool is_kw(const struct rule_tok *t, const char *kw)
{
	return rule_tok_is_word(t) && !strcmp(t->text, kw);
}

/* A name given in this ruleset; duplicates are found after the parse by sorting. */
struct seen {
	const struct rule_tok *t;
	size_t idx;
};

struct parser {
	struct rule_ctx c;
	struct lfp_ruleset *rs;
	enum lfp_lifetime lifetime;
	bool single;
	size_t n_stmts;
	uint32_t first_stmt_line;
	size_t n_objects; /* sublayer and filter statements, good or bad */
	uint32_t provider_line;
	struct seen *fnames, *snames;
	size_t n_fnames, n_snames;
};

static void seen_add(struct seen *v, size_t *n, const struct rule_tok *t)
{
	v[*n].t = t;
	v[*n].idx = *n;
	(*n)++;
}

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int c = strcmp(x->t->text, y->t->text);

	return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Report every name given again, at the later use; sorting keeps this O(n log n). */
static void seen_report(struct parser *p, struct seen *v, size_t n, bool filters)
{
	qsort(v, n, sizeof(*v), seen_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(v[i].t->text, v[first].t->text)) {
			first = i;
			continue;
		}
		if (filters)
			rule_err(&p->c, v[i].t, "filter name '%s' is already used on line %u",
				 v[i].t->text, v[first].t->loc.line);
		else
			rule_err(&p->c, v[i].t, "sublayer '%s' is already added on line %u",
				 v[i].t->text, v[first].t->loc.line);
	}
}

static char *dup_or_nomem(struct parser *p, const char *s)
{
	char *d = strdup(s);

	if (!d)
		p->c.nomem = true;
	return d;
}

static bool name_ok(struct parser *p, const struct rule_tok *t, const char *what)
{
	size_t len = strlen(t->text);

	if (!len) {
		rule_err(&p->c, t, "%s name is empty", what);
		return false;
	}
	if (len > RULE_NAME_MAX) {
		rule_err(&p->c, t, "%s name is longer than %d bytes", what, RULE_NAME_MAX);
		return false;
	}
	return true;
}

static const char *const stmt_names[] = { "provider", "sublayer", "filter" };

static int action_by_name(const char *s)
{
	for (int a = LFP_ACT_PERMIT; a <= LFP_ACT_REDIRECT; a++)
		if (!strcmp(s, lfp_action_name((enum lfp_action_type)a)))
			return a;
	return -ENOENT;
}

/* ---- provider, sublayer ---- */

static void parse_provider(struct parser *p, struct cur *c)
{
	struct rule_tok *kw = take(c), *t;
	size_t e0 = p->c.errors;

	if (p->single) {
		rule_err(&p->c, kw, "'provider' is only allowed in a rule file");
		return;
	}
	if (p->n_objects)
		rule_err(&p->c, kw, "'provider' must come before sublayer and filter statements");
	else if (p->provider_line)
		rule_err(&p->c, kw, "provider given twice (first on line %u)", p->provider_line);
	if (!p->provider_line)
		p->provider_line = kw->loc.line;
	t = take(c);
	if (!rule_tok_is_word(t)) {
		rule_err(&p->c, t, "expected a provider name after 'provider', got %s",
			 TOK_WHAT(t));
		return;
	}
	name_ok(p, t, "provider");
	if (!at_end(c))
		rule_err(&p->c, peek(c), "unexpected %s after the provider name",
			 TOK_WHAT(peek(c)));
	if (p->c.errors == e0)
		p->rs->provider = dup_or_nomem(p, t->text);
}

/* Append a zeroed element; capacity doubles at powers of two, so no cap field is needed. */
static int push(void **v, size_t *n, size_t elem)
{
	void *nv;

	if (!*n || !(*n & (*n - 1))) {
		nv = realloc(*v, (*n ? *n * 2 : 1) * elem);
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	nv = *v;
	memset((char *)nv + *n * elem, 0, elem);
	(*n)++;
	return 0;
}

static void parse_sublayer(struct parser *p, struct cur *c)
{
	struct rule_tok *kw = take(c), *t, *nt, *wt;
	size_t e0 = p->c.errors;
	struct lfp_sublayer *s;
	uint64_t w = 0;
	int r;

	p->n_objects++;
	t = take(c);
	if (!is_kw(t, "add")) {
		rule_err(&p->c, t, "expected 'add' after 'sublayer', got %s", TOK_WHAT(t));
		return;
	}
	nt = take(c);
	if (!rule_tok_is_word(nt)) {
		rule_err(&p->c, nt, "expected a sublayer name after 'sublayer add', got %s",
			 TOK_WHAT(nt));
		return;
	}
	if (name_ok(p, nt, "sublayer")) {
		if (!strcmp(nt->text, LFP_SUBLAYER_DEFAULT_NAME))
			rule_err(&p->c, nt, "sublayer 'default' is built in; it cannot be added");
		else
			seen_add(p->snames, &p->n_snames, nt);
	}
	t = take(c);
	if (!is_kw(t, "weight")) {
		rule_err(&p->c, t, "expected 'weight N' after the sublayer name, got %s",
			 TOK_WHAT(t));
		return;
	}
	wt = take(c);
	if (!rule_tok_is_word(wt)) {
		rule_err(&p->c, wt, "expected a number after 'weight', got %s", TOK_WHAT(wt));
		return;
	}
	r = rule_parse_u64(wt->text, &w);
	if (r == -EINVAL)
		rule_err(&p->c, wt, "invalid sublayer weight '%s' (a number 0-65535)", wt->text);
	else if (r || w > 0xffff)
		rule_err(&p->c, wt, "sublayer weight %s is out of range (0-65535)", wt->text);
	if (!at_end(c))
		rule_err(&p->c, peek(c), "unexpected %s after the sublayer weight",
			 TOK_WHAT(peek(c)));
	if (p->c.errors != e0)
		return;
	if (push((void **)&p->rs->sublayers, &p->rs->n_sublayers, sizeof(*s))) {
		p->c.nomem = true;
		return;
	}
	s = &p->rs->sublayers[p->rs->n_sublayers - 1];
	s->name = dup_or_nomem(p, nt->text);
	s->weight = (uint16_t)w;
	s->lifetime = p->lifetime;
	s->loc = kw->loc;
}

/* ---- filter ---- */

enum hdr { H_NAME, H_DESC, H_LAYER, H_SUBLAYER, H_WEIGHT, H_CLASS, H_COUNT };

static const char *const hdr_names[H_COUNT] = {
	[H_NAME] = "name",	   [H_DESC] = "desc",	  [H_LAYER] = "layer",
	[H_SUBLAYER] = "sublayer", [H_WEIGHT] = "weight", [H_CLASS] = "class",
};

static int hdr_by_name(const char *s)
{
	for (int i = 0; i < H_COUNT; i++)
		if (!strcmp(s, hdr_names[i]))
			return i;
	return -1;
}

struct fstate {
	struct lfp_filter f;
	bool have_layer;
	const struct rule_tok *action_tok;
};

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* One header keyword and its argument. @return 0, or -EINVAL when the statement is lost. */
static int parse_header(struct parser *p, struct cur *c, struct fstate *fs, enum hdr h,
			const struct rule_tok **seen_tok)
{
	static const char *const what[H_COUNT] = {
		[H_NAME] = "a filter name", [H_DESC] = "a description",
		[H_LAYER] = "a layer name", [H_SUBLAYER] = "a sublayer name",
		[H_WEIGHT] = "a weight",    [H_CLASS] = "a class number",
	};
	struct lfp_filter *f = &fs->f;
	struct rule_tok *kw = take(c), *t;
	char sug[96];
	uint64_t n = 0;
	int l;

	if (seen_tok[h])
		rule_err(&p->c, kw, "'%s' given twice in one filter", hdr_names[h]);
	else if ((h == H_WEIGHT && seen_tok[H_CLASS]) || (h == H_CLASS && seen_tok[H_WEIGHT]))
		rule_err(&p->c, kw, "'weight' and 'class' cannot be combined");
	seen_tok[h] = kw;
	t = take(c);
	if (!rule_tok_is_word(t)) {
		rule_err(&p->c, t, "expected %s after '%s', got %s", what[h], hdr_names[h],
			 TOK_WHAT(t));
		return -EINVAL;
	}
	switch (h) {
	case H_NAME:
		if (!name_ok(p, t, "filter"))
			break;
		if (all_digits(t->text)) {
			rule_err(&p->c, t, "filter name '%s' is all digits and would read as an id",
				 t->text);
			break;
		}
		seen_add(p->fnames, &p->n_fnames, t);
		free(f->name);
		f->name = dup_or_nomem(p, t->text);
		break;
	case H_DESC:
		if (strlen(t->text) > RULE_DESC_MAX) {
			rule_err(&p->c, t, "description is longer than %d bytes", RULE_DESC_MAX);
			break;
		}
		free(f->desc);
		f->desc = dup_or_nomem(p, t->text);
		break;
	case H_LAYER:
		l = lfp_layer_by_name(t->text);
		if (l < 0) {
			rule_err(&p->c, t, "unknown layer '%s'%s", t->text,
				 rule_suggest_layer(t->text, " (see lfp help layers)", sug,
						    sizeof(sug)));
			break;
		}
		f->layer = (enum lfp_layer)l;
		fs->have_layer = true;
		break;
	case H_SUBLAYER:
		if (!name_ok(p, t, "sublayer"))
			break;
		free(f->sublayer);
		f->sublayer = NULL;
		/* the built-in sublayer is spelled NULL so equal filters compare equal */
		if (strcmp(t->text, LFP_SUBLAYER_DEFAULT_NAME))
			f->sublayer = dup_or_nomem(p, t->text);
		break;
	case H_WEIGHT:
		l = rule_parse_u64(t->text, &n);
		if (l == -ERANGE)
			rule_err(&p->c, t, "weight %s is out of range (a 64-bit number)", t->text);
		else if (l)
			rule_err(&p->c, t,
				 "invalid weight '%s' (a 64-bit number, decimal or 0x hex)",
				 t->text);
		f->wkind = LFP_W_EXPLICIT;
		f->weight_arg = n;
		break;
	case H_CLASS:
		l = rule_parse_u64(t->text, &n);
		if (l == -EINVAL)
			rule_err(&p->c, t, "invalid class '%s' (a number 0-15)", t->text);
		else if (l || n > 15)
			rule_err(&p->c, t, "class %s is out of range (0-15)", t->text);
		f->wkind = LFP_W_CLASS;
		f->weight_arg = n;
		break;
	default: break;
	}
	return 0;
}

static const char *kind_says(enum lfp_field f)
{
	switch (lfp_field_info(f)->kind) {
	case LFP_FK_ADDR: return "takes addresses";
	case LFP_FK_APP:
	case LFP_FK_CGROUP: return "takes a path";
	case LFP_FK_FLAGS: return "takes connection flags";
	default: return "takes 'outbound' or 'inbound'";
	}
}

/* The checks on a comparison once its value is known. */
static void check_compare(struct parser *p, enum lfp_field f, const struct rule_tok *opt,
			  const struct rule_tok *vt, const struct lfp_value *v)
{
	const char *fname = lfp_field_info(f)->name;
	uint64_t max = lfp_field_info(f)->max;

	if (v->form == LFP_VF_RANGE) {
		rule_err(&p->c, vt, "operator '%s' needs a single number, not the range '%s'",
			 rule_op_str(opt->op), vt->text);
		return;
	}
	/* user, group and iface names are resolved at commit: no order yet */
	if (v->form == LFP_VF_NAME && f != LFP_F_PROTO && f != LFP_F_ICMP_TYPE &&
	    f != LFP_F_ICMP_CODE) {
		rule_err(&p->c, vt, "operator '%s' needs a number, not the name '%s'",
			 rule_op_str(opt->op), vt->text);
		return;
	}
	if ((opt->op == LFP_OP_LT && v->lo == 0) || (opt->op == LFP_OP_GT && v->lo >= max))
		rule_err(&p->c, opt, "'%s %s %s' matches nothing", fname, rule_op_str(opt->op),
			 vt->text);
}

/*
 * FIELD [OP] VALUE | FIELD [OP] { VALUE, ... }
 * @return 0 (value errors are reported, the statement goes on), -EINVAL
 * (the statement is lost), -ENOMEM.
 */
static int parse_cond(struct parser *p, struct cur *c, struct fstate *fs, enum lfp_field fld)
{
	const struct rule_tok *ft = take(c), *opt = NULL, *vt = NULL;
	const struct lfp_layer_info *li = lfp_layer_info(fs->f.layer);
	enum lfp_field_kind kind = lfp_field_info(fld)->kind;
	struct lfp_cond cond = { .field = fld, .op = LFP_OP_EQ, .loc = ft->loc };
	size_t e0 = p->c.errors, k = 0;
	bool compare;
	int r = 0;

	if (fs->have_layer && !lfp_layer_has_field(fs->f.layer, fld))
		rule_err(&p->c, ft,
			 "field '%s' is not available at layer '%s' (see lfp help layers)",
			 ft->text, li->name);
	if (peek(c)->type == RT_OP) {
		opt = take(c);
		cond.op = opt->op;
	}
	compare = cond.op != LFP_OP_EQ && cond.op != LFP_OP_NE;
	if (compare && (kind != LFP_FK_INT || fld == LFP_F_DIRECTION))
		rule_err(&p->c, opt, "operator '%s' needs an integer field; '%s' %s",
			 rule_op_str(cond.op), ft->text, kind_says(fld));
	else if (compare && peek(c)->type == RT_LBRACE)
		rule_err(&p->c, opt, "operator '%s' takes a single value, not a set",
			 rule_op_str(cond.op));
	if (peek(c)->type == RT_LBRACE) {
		cond.set = true;
		take(c);
	}
	for (;;) {
		struct lfp_value v;

		vt = take(c);
		if (cond.set && vt->type == RT_RBRACE && !k) {
			rule_err(&p->c, vt, "empty set");
			break;
		}
		if (!rule_tok_is_word(vt)) {
			rule_err(&p->c, vt, "expected a value for '%s', got %s", ft->text,
				 TOK_WHAT(vt));
			r = -EINVAL;
			break;
		}
		k++;
		r = rule_value_parse(&p->c, fld, vt, false, &v);
		if (r == -ENOMEM)
			break;
		if (!r) {
			if (compare && kind == LFP_FK_INT && fld != LFP_F_DIRECTION && !cond.set)
				check_compare(p, fld, opt, vt, &v);
			if (push((void **)&cond.v, &cond.n, sizeof(v))) {
				free(v.str);
				r = -ENOMEM;
				break;
			}
			cond.v[cond.n - 1] = v;
		}
		r = 0;
		if (!cond.set)
			break;
		vt = take(c);
		if (vt->type == RT_COMMA)
			continue;
		if (vt->type == RT_RBRACE)
			break;
		rule_err(&p->c, vt, "expected ',' or '}' in the set of '%s', got %s", ft->text,
			 TOK_WHAT(vt));
		r = -EINVAL;
		break;
	}
	if (r == -ENOMEM)
		p->c.nomem = true;
	if (!r && p->c.errors == e0 && !push((void **)&fs->f.conds, &fs->f.n_conds, sizeof(cond))) {
		fs->f.conds[fs->f.n_conds - 1] = cond;
		return 0;
	}
	if (!r && p->c.errors == e0) {
		p->c.nomem = true;
		r = -ENOMEM;
	}
	lfp_cond_fini(&cond);
	return r;
}

/* Copy s[0..len) into buf when it fits. */
static bool take_host(char *buf, size_t bufsz, const char *s, size_t len)
{
	if (len >= bufsz)
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	return true;
}

/* HOST:PORT where HOST is an IPv4 literal or a bracketed IPv6 literal. */
static bool hostport_ok(struct parser *p, const struct rule_tok *t, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	uint8_t a[16];
	uint64_t n;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close) {
			rule_err(&p->c, t, "missing ']' after the IPv6 address in '%s'", t->text);
			return false;
		}
		hl = (size_t)(close - s - 1);
		if (!take_host(host, sizeof(host), s + 1, hl) ||
		    inet_pton(AF_INET6, host, a) != 1) {
			rule_err(&p->c, t, "invalid IPv6 address '%.*s' in '%s'", (int)hl, s + 1,
				 t->text);
			return false;
		}
		port = close + 1;
	} else {
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':')) {
			rule_err(&p->c, t,
				 "an IPv6 address goes in brackets, as [ADDRESS]:PORT, "
				 "in '%s'",
				 t->text);
			return false;
		}
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (!take_host(host, sizeof(host), s, hl) || inet_pton(AF_INET, host, a) != 1) {
			rule_err(&p->c, t,
				 "invalid host '%.*s' in '%s' (an IPv4 address or a "
				 "bracketed IPv6 address)",
				 (int)hl, s, t->text);
			return false;
		}
		port = s + hl;
	}
	if (port[0] != ':' || !port[1]) {
		rule_err(&p->c, t, "missing port in '%s' (HOST:PORT)", t->text);
		return false;
	}
	port++;
	if (strspn(port, "0123456789") != strlen(port)) {
		rule_err(&p->c, t, "invalid port '%s' in '%s'", port, t->text);
		return false;
	}
	if (rule_parse_u64(port, &n) || n < 1 || n > 65535) {
		rule_err(&p->c, t, "port %s is out of range (1-65535) in '%s'", port, t->text);
		return false;
	}
	return true;
}

static int parse_redirect(struct parser *p, struct cur *c, struct fstate *fs)
{
	const struct rule_tok *t = take(c), *hp;
	const char *rest, *at;
	bool socks;

	if (!rule_tok_is_word(t)) {
		rule_err(&p->c, t,
			 "expected a target after 'redirect' (socks5://H:P, http://H:P, "
			 "direct, to H:P), got %s",
			 TOK_WHAT(t));
		return -EINVAL;
	}
	if (!strcmp(t->text, "to")) {
		hp = take(c);
		if (!rule_tok_is_word(hp)) {
			rule_err(&p->c, hp, "expected HOST:PORT after 'redirect to', got %s",
				 TOK_WHAT(hp));
			return -EINVAL;
		}
		if (hostport_ok(p, hp, hp->text) &&
		    asprintf(&fs->f.action.redirect, "to %s", hp->text) < 0) {
			fs->f.action.redirect = NULL;
			p->c.nomem = true;
			return -ENOMEM;
		}
		return 0;
	}
	if (fs->have_layer && fs->f.layer == LFP_LAYER_BIND_REDIRECT) {
		rule_err(&p->c, t,
			 "at layer 'bind-redirect' only 'redirect to H:P' is possible (it "
			 "rewrites the local address)");
		return 0;
	}
	if (!strcmp(t->text, "direct")) {
		fs->f.action.redirect = dup_or_nomem(p, "direct");
		return 0;
	}
	socks = !strncmp(t->text, "socks5://", 9);
	if (!socks && strncmp(t->text, "http://", 7)) {
		const char *sep = strstr(t->text, "://");

		if (sep)
			rule_err(&p->c, t,
				 "unknown redirect scheme '%.*s' (socks5://, http://, direct, "
				 "to H:P)",
				 (int)(sep - t->text), t->text);
		else
			rule_err(&p->c, t,
				 "invalid redirect target '%s' (socks5://H:P, http://H:P, "
				 "direct, to H:P)",
				 t->text);
		return 0;
	}
	rest = t->text + (socks ? 9 : 7);
	at = strrchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));

		if (!socks) {
			rule_err(&p->c, t, "credentials are allowed only in socks5:// URLs");
			return 0;
		}
		if (!colon || colon == rest) {
			rule_err(&p->c, t, "socks5 credentials are written USER:PASS@ in '%s'",
				 t->text);
			return 0;
		}
		if (colon - rest > 255 || at - colon - 1 > 255) {
			rule_err(&p->c, t, "socks5 user and password are at most 255 bytes each");
			return 0;
		}
		rest = at + 1;
	}
	if (hostport_ok(p, t, rest))
		fs->f.action.redirect = dup_or_nomem(p, t->text);
	return 0;
}

/* ACTION. @return 0, -EINVAL (statement lost), -ENOMEM. */
static int parse_action(struct parser *p, struct cur *c, struct fstate *fs, int type)
{
	const struct rule_tok *at = take(c), *t, *timeout_tok = NULL, *default_tok = NULL;
	struct lfp_action *a = &fs->f.action;
	const struct lfp_layer_info *li = lfp_layer_info(fs->f.layer);
	uint64_t n = 0;
	int r;

	fs->action_tok = at;
	a->type = (enum lfp_action_type)type;
	if (fs->have_layer && !(li->actions & (1u << type)))
		rule_err(&p->c, at,
			 "action '%s' is not available at layer '%s' (see lfp help layers)",
			 at->text, li->name);
	switch (type) {
	case LFP_ACT_CALLOUT:
		t = take(c);
		if (!rule_tok_is_word(t)) {
			rule_err(&p->c, t, "expected a callout name after 'callout', got %s",
				 TOK_WHAT(t));
			return -EINVAL;
		}
		if (name_ok(p, t, "callout"))
			a->callout = dup_or_nomem(p, t->text);
		return 0;
	case LFP_ACT_ASK:
		a->ask_timeout = 30;
		a->ask_default_permit = false;
		for (;;) {
			const struct rule_tok *kw = peek(c);
			bool is_timeout = is_kw(kw, "timeout");

			if (!is_timeout && !is_kw(kw, "default"))
				return 0;
			take(c);
			if ((is_timeout && timeout_tok) || (!is_timeout && default_tok))
				rule_err(&p->c, kw, "'%s' given twice after 'ask'", kw->text);
			if (is_timeout)
				timeout_tok = kw;
			else
				default_tok = kw;
			t = take(c);
			if (!rule_tok_is_word(t)) {
				rule_err(&p->c, t, "expected %s after '%s', got %s",
					 is_timeout ? "a number of seconds" : "'permit' or 'block'",
					 kw->text, TOK_WHAT(t));
				return -EINVAL;
			}
			if (!is_timeout) {
				if (!strcmp(t->text, "permit") || !strcmp(t->text, "block"))
					a->ask_default_permit = !strcmp(t->text, "permit");
				else
					rule_err(&p->c, t,
						 "expected 'permit' or 'block' after "
						 "'default', got '%s'",
						 t->text);
			} else if ((r = rule_parse_u64(t->text, &n)) == -EINVAL) {
				rule_err(&p->c, t, "invalid ask timeout '%s' (seconds, 1-%d)",
					 t->text, RULE_ASK_MAX);
			} else if (r || n < 1 || n > RULE_ASK_MAX) {
				rule_err(&p->c, t, "ask timeout %s is out of range (1-%d seconds)",
					 t->text, RULE_ASK_MAX);
			} else {
				a->ask_timeout = (uint32_t)n;
			}
		}
	case LFP_ACT_REDIRECT: return parse_redirect(p, c, fs);
	default: return 0;
	}
}

static void parse_flags(struct parser *p, struct cur *c, struct fstate *fs)
{
	struct lfp_filter *f = &fs->f;
	char sug[96];

	while (!at_end(c)) {
		const struct rule_tok *t = take(c);
		int flag;

		if (!rule_tok_is_word(t)) {
			rule_err(&p->c, t, "unexpected %s after the action", TOK_WHAT(t));
			return;
		}
		flag = rule_fflag_by_name(t->text);
		if (flag < 0) {
			static const char *const flags[] = {
				"hard", "soft", "log", "permit-if-callout-unregistered", "nolog",
			};

			if (hdr_by_name(t->text) >= 0)
				rule_err(&p->c, t,
					 "'%s' must come before the conditions and the "
					 "action",
					 t->text);
			else if (lfp_field_by_name(t->text) >= 0)
				rule_err(&p->c, t,
					 "condition '%s' after the action (conditions come "
					 "before the action)",
					 t->text);
			else if (action_by_name(t->text) >= 0)
				rule_err(&p->c, t, "a filter has one action; '%s' follows '%s'",
					 t->text, fs->action_tok->text);
			else
				rule_err(&p->c, t, "unknown flag '%s'%s", t->text,
					 rule_suggest(t->text, flags, 5,
						      " (flags: hard, soft, log, "
						      "permit-if-callout-unregistered, nolog)",
						      sug, sizeof(sug)));
			return;
		}
		if (f->flags & (uint32_t)flag)
			rule_err(&p->c, t, "flag '%s' given twice", t->text);
		else if ((flag == LFP_FF_HARD && (f->flags & LFP_FF_SOFT)) ||
			 (flag == LFP_FF_SOFT && (f->flags & LFP_FF_HARD)))
			rule_err(&p->c, t, "'hard' and 'soft' cannot be combined");
		else if ((flag == LFP_FF_LOG && (f->flags & LFP_FF_NOLOG)) ||
			 (flag == LFP_FF_NOLOG && (f->flags & LFP_FF_LOG)))
			rule_err(&p->c, t, "'log' and 'nolog' cannot be combined");
		else if (flag == LFP_FF_PERMIT_IF_UNREG && f->action.type != LFP_ACT_CALLOUT)
			rule_err(&p->c, t,
				 "'permit-if-callout-unregistered' applies only to "
				 "'callout' actions");
		f->flags |= (uint32_t)flag;
	}
}

static void parse_filter(struct parser *p, struct cur *c)
{
	const struct rule_tok *hdr_seen[H_COUNT] = { 0 };
	struct rule_tok *kw = take(c), *t;
	struct fstate fs = { 0 };
	size_t e0 = p->c.errors;
	int r = 0, h, fld, act = -1;
	char sug[96];

	p->n_objects++;
	fs.f.loc = kw->loc;
	fs.f.lifetime = p->lifetime;
	t = take(c);
	if (!is_kw(t, "add")) {
		rule_err(&p->c, t, "expected 'add' after 'filter', got %s", TOK_WHAT(t));
		return;
	}
	while (rule_tok_is_word(peek(c)) && (h = hdr_by_name(peek(c)->text)) >= 0) {
		r = parse_header(p, c, &fs, (enum hdr)h, hdr_seen);
		if (r)
			goto out;
	}
	if (!hdr_seen[H_LAYER])
		rule_err(&p->c, peek(c),
			 "filter has no layer ('layer LAYER' comes before the "
			 "conditions and the action)");
	for (;;) {
		t = peek(c);
		if (at_end(c)) {
			rule_err(&p->c, t,
				 "filter has no action (permit, block, callout NAME, ask, "
				 "redirect URL)");
			goto out;
		}
		if (!rule_tok_is_word(t)) {
			rule_err(&p->c, t, "expected a condition or an action, got %s",
				 TOK_WHAT(t));
			goto out;
		}
		fld = lfp_field_by_name(t->text);
		if (fld >= 0) {
			r = parse_cond(p, c, &fs, (enum lfp_field)fld);
			if (r)
				goto out;
			continue;
		}
		act = action_by_name(t->text);
		if (act >= 0)
			break;
		if (hdr_by_name(t->text) >= 0)
			rule_err(&p->c, t, "'%s' must come before the conditions and the action",
				 t->text);
		else if (rule_fflag_by_name(t->text) >= 0)
			rule_err(&p->c, t, "flag '%s' before any action (flags follow the action)",
				 t->text);
		else
			rule_err(&p->c, t, "unknown field or action '%s'%s", t->text,
				 rule_suggest_field(t->text, "", sug, sizeof(sug)));
		goto out;
	}
	r = parse_action(p, c, &fs, act);
	if (r)
		goto out;
	parse_flags(p, c, &fs);
	/* ICMP names take the number of the filter's family */
	if (p->c.errors == e0)
		rule_icmp_family(&p->c, &fs.f, c->v, c->end + 1);
out:
	if (p->c.errors == e0 && !p->c.nomem &&
	    !push((void **)&p->rs->filters, &p->rs->n_filters, sizeof(fs.f))) {
		p->rs->filters[p->rs->n_filters - 1] = fs.f;
		return;
	}
	if (p->c.errors == e0)
		p->c.nomem = true;
	lfp_filter_fini(&fs.f);
}

static void parse_stmt(struct parser *p, struct rule_toks *tk, size_t b, size_t e)
{
	struct cur c = { .v = tk->v, .i = b, .end = e };
	struct rule_tok *t = &tk->v[b];
	char sug[96];

	p->n_stmts++;
	for (size_t i = b; i < e; i++)
		if (tk->v[i].type == RT_ERROR)
			return; /* reported by the lexer */
	if (p->single && p->n_stmts > 1) {
		rule_err(&p->c, t, "only one statement is allowed here (the first is on line %u)",
			 p->first_stmt_line);
		return;
	}
	p->first_stmt_line = p->first_stmt_line ? p->first_stmt_line : t->loc.line;
	if (is_kw(t, "provider"))
		parse_provider(p, &c);
	else if (is_kw(t, "sublayer"))
		parse_sublayer(p, &c);
	else if (is_kw(t, "filter"))
		parse_filter(p, &c);
	else if (rule_tok_is_word(t))
		rule_err(&p->c, t, "unknown statement '%s'%s", t->text,
			 rule_suggest(t->text, stmt_names, 3,
				      " (provider, sublayer add, filter add)", sug, sizeof(sug)));
	else
		rule_err(&p->c, t,
			 "expected a statement (provider, sublayer add, filter add), got %s",
			 TOK_WHAT(t));
}

static int parse_text(const char *text, const struct lfp_parse_opts *opts, bool single,
		      struct lfp_ruleset **out, struct lfp_diags *diags)
{
	struct lfp_diags local = { 0 };
	struct lfp_diags *d = diags ? diags : &local;
	struct rule_toks tk = { 0 };
	struct parser p = { 0 };
	const char *file = OPT(opts, file, NULL);
	size_t n0;
	int r = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!text)
		return -EINVAL;
	if ((file || !d->file) && lfp_diags_set_file(d, file))
		return -ENOMEM;
	n0 = d->n;
	p.c.diags = d;
	p.single = single;
	p.lifetime = OPT(opts, lifetime, LFP_LT_PERSISTENT);
	p.rs = calloc(1, sizeof(*p.rs));
	if (!p.rs || rule_lex(text, &tk, &p.c)) {
		r = -ENOMEM;
		goto out;
	}
	p.fnames = calloc(tk.n, sizeof(*p.fnames));
	p.snames = calloc(tk.n, sizeof(*p.snames));
	if (!p.fnames || !p.snames) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < tk.n && !p.c.nomem;) {
		size_t e = i;

		while (tk.v[e].type != RT_EOL)
			e++;
		if (e > i)
			parse_stmt(&p, &tk, i, e);
		i = e + 1;
	}
	seen_report(&p, p.fnames, p.n_fnames, true);
	seen_report(&p, p.snames, p.n_snames, false);
	if (single && !p.n_stmts && !p.c.errors)
		rule_err(&p.c, NULL, "no statement given");
	if (p.c.nomem)
		r = -ENOMEM;
	else if (p.c.errors)
		r = -EINVAL;
out:
	rule_diags_sort(d, n0);
	free(p.fnames);
	free(p.snames);
	rule_toks_fini(&tk);
	if (r)
		lfp_ruleset_free(p.rs);
	else
		*out = p.rs;
	if (!diags)
		lfp_diags_fini(&local);
	return r;
}

int lfp_rule_parse(const char *text, const struct lfp_parse_opts *opts, struct lfp_ruleset **out,
		   struct lfp_diags *diags)
{
	return parse_text(text, opts, OPT(opts, single_statement, false), out, diags);
}

int lfp_rule_parse_argv(int argc, char *const argv[], const struct lfp_parse_opts *opts,
			struct lfp_ruleset **out, struct lfp_diags *diags)
{
	size_t len = sizeof("filter add");
	char *line, *o;
	int r;

	if (out)
		*out = NULL;
	if (argc < 0 || (argc && !argv))
		return -EINVAL;
	for (int i = 0; i < argc; i++)
		len += 2 * strlen(argv[i]) + 3;
	line = malloc(len);
	if (!line)
		return -ENOMEM;
	/* the shell already split the words: quote the ones the lexer would split again */
	o = stpcpy(line, "filter add");
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		bool quote = !*w || *w == '#' || strpbrk(w, " \t\r\n\"\\");

		*o++ = ' ';
		if (!quote) {
			o = stpcpy(o, w);
			continue;
		}
		*o++ = '"';
		for (; *w; w++) {
			if (*w == '"' || *w == '\\')
				*o++ = '\\';
			*o++ = *w;
		}
		*o++ = '"';
	}
	*o = 0;
	r = parse_text(line, opts, true, out, diags);
	free(line);
	return r;
}
