// SPDX-License-Identifier: MIT
/*
 * The canonical printer and structural equality. The printer is the
 * parser's inverse: whatever it prints lexes back into the same tokens
 * (rule_needs_quote() is the lexer's own notion of a word), so
 * parse(print(f)) == f. Filters built by hand (lfpd's `ask always`
 * answers) print too, so odd values fall back to numbers instead of failing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rule_int.h"

#define OPT(o, field, def)                                                                         \
	((o) && (o)->sz >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field) ? (o)->field     \
										  : (def))

struct sbuf {
	char *s;
	size_t len, cap;
	bool nomem;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t cap;
	char *s;

	if (b->nomem || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 128;
	while (cap < b->len + more + 1)
		cap *= 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->nomem = true;
		return;
	}
	b->s = s;
	b->cap = cap;
}

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (b->nomem)
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->nomem = true;
		return;
	}
	sb_putn(b, tmp, (size_t)n);
}

/* A word as the lexer reads it back: bare when it can be, else "quoted". */
static void sb_word(struct sbuf *b, const char *s)
{
	if (!rule_needs_quote(s)) {
		sb_puts(b, s);
		return;
	}
	sb_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_puts(b, "\\");
		sb_putn(b, s, 1);
	}
	sb_puts(b, "\"");
}

static char *sb_take(struct sbuf *b)
{
	if (b->nomem) {
		free(b->s);
		errno = ENOMEM;
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

static void print_addr(struct sbuf *b, const uint8_t a[16], bool v4)
{
	char buf[INET6_ADDRSTRLEN];

	rule_addr_ntop(a, v4, buf, sizeof(buf));
	sb_puts(b, buf);
}

static void print_value(struct sbuf *b, enum lfp_field f, const struct lfp_value *v)
{
	bool addr = lfp_field_info(f)->kind == LFP_FK_ADDR;
	bool first = true;

	if (f == LFP_F_DIRECTION) {
		sb_puts(b, v->lo == LFP_DIR_INBOUND ? "inbound" : "outbound");
		return;
	}
	switch (v->form) {
	case LFP_VF_RANGE:
		if (addr) {
			print_addr(b, v->alo, v->v4);
			sb_puts(b, "-");
			print_addr(b, v->ahi, v->v4);
		} else {
			sb_printf(b, "%llu-%llu", (unsigned long long)v->lo,
				  (unsigned long long)v->hi);
		}
		return;
	case LFP_VF_PREFIX:
		print_addr(b, v->alo, v->v4);
		if (v->plen != (v->v4 ? 32 : 128))
			sb_printf(b, "/%u", v->plen);
		return;
	case LFP_VF_NAME:
	case LFP_VF_PATH:
		if (v->str) {
			sb_word(b, v->str);
			return;
		}
		break;
	case LFP_VF_FLAGS:
		for (unsigned int i = 0; i < 32; i++) {
			const char *name = lfp_cflag_name(i);

			if (!(v->lo & (1ull << i)) || !name)
				continue;
			if (!first)
				sb_puts(b, "+");
			sb_puts(b, name);
			first = false;
		}
		if (first)
			sb_puts(b, "\"\""); /* no flag: prints as an error, not as a wrong rule */
		return;
	default: break;
	}
	if (addr)
		print_addr(b, v->alo, v->v4);
	else
		sb_printf(b, "%llu", (unsigned long long)v->lo);
}

static void print_cond(struct sbuf *b, const struct lfp_cond *c)
{
	const struct lfp_field_info *fi = lfp_field_info(c->field);

	sb_puts(b, fi ? fi->name : "?");
	if (c->op != LFP_OP_EQ) {
		sb_puts(b, " ");
		sb_puts(b, rule_op_str(c->op));
	}
	sb_puts(b, c->set ? " {" : " ");
	for (size_t i = 0; i < c->n; i++) {
		if (i)
			sb_puts(b, ", ");
		print_value(b, c->field, &c->v[i]);
	}
	if (c->set)
		sb_puts(b, "}");
}

/* The URL as written, with the password of socks5://user:pass@ hidden. */
static void print_redirect(struct sbuf *b, const char *url, bool secrets)
{
	const char *rest, *at, *colon;

	if (!secrets && !strncmp(url, "socks5://", 9)) {
		rest = url + 9;
		at = strrchr(rest, '@');
		colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
		if (colon) {
			char *masked = NULL;

			if (asprintf(&masked, "%.*s:***%s", (int)(colon - url), url, at) < 0) {
				b->nomem = true;
				return;
			}
			sb_word(b, masked);
			free(masked);
			return;
		}
	}
	if (!strncmp(url, "to ", 3)) {
		sb_puts(b, "to ");
		sb_word(b, url + 3);
		return;
	}
	sb_word(b, url);
}

static void print_filter(struct sbuf *b, const struct lfp_filter *f, bool secrets)
{
	const struct lfp_layer_info *li = lfp_layer_info(f->layer);

	if (f->name) {
		sb_puts(b, "name ");
		sb_word(b, f->name);
		sb_puts(b, " ");
	}
	if (f->desc) {
		/* always quoted: a description is prose */
		sb_puts(b, "desc \"");
		for (const char *s = f->desc; *s; s++) {
			if (*s == '"' || *s == '\\')
				sb_puts(b, "\\");
			sb_putn(b, s, 1);
		}
		sb_puts(b, "\" ");
	}
	sb_puts(b, "layer ");
	sb_puts(b, li ? li->name : "?");
	if (f->sublayer && strcmp(f->sublayer, LFP_SUBLAYER_DEFAULT_NAME)) {
		sb_puts(b, " sublayer ");
		sb_word(b, f->sublayer);
	}
	if (f->wkind == LFP_W_EXPLICIT)
		sb_printf(b, " weight %llu", (unsigned long long)f->weight_arg);
	else if (f->wkind == LFP_W_CLASS)
		sb_printf(b, " class %llu", (unsigned long long)f->weight_arg);
	for (size_t i = 0; i < f->n_conds; i++) {
		sb_puts(b, " ");
		print_cond(b, &f->conds[i]);
	}
	sb_puts(b, " ");
	sb_puts(b, lfp_action_name(f->action.type));
	switch (f->action.type) {
	case LFP_ACT_CALLOUT:
		sb_puts(b, " ");
		sb_word(b, f->action.callout ? f->action.callout : "");
		break;
	case LFP_ACT_ASK:
		sb_printf(b, " timeout %u default %s", f->action.ask_timeout,
			  f->action.ask_default_permit ? "permit" : "block");
		break;
	case LFP_ACT_REDIRECT:
		sb_puts(b, " ");
		print_redirect(b, f->action.redirect ? f->action.redirect : "", secrets);
		break;
	default: break;
	}
	for (unsigned int i = 0; i < 32; i++) {
		if (f->flags & (1u << i) && rule_fflag_name(i)) {
			sb_puts(b, " ");
			sb_puts(b, rule_fflag_name(i));
		}
	}
}

char *lfp_filter_to_text(const struct lfp_filter *f, const struct lfp_print_opts *opts)
{
	struct sbuf b = { 0 };

	print_filter(&b, f, OPT(opts, show_secrets, false));
	return sb_take(&b);
}

char *lfp_cond_to_text(const struct lfp_cond *c)
{
	struct sbuf b = { 0 };

	print_cond(&b, c);
	return sb_take(&b);
}

char *lfp_ruleset_to_text(const struct lfp_ruleset *rs, const struct lfp_print_opts *opts)
{
	bool secrets = OPT(opts, show_secrets, false);
	struct sbuf b = { 0 };

	if (rs->provider) {
		sb_puts(&b, "provider ");
		sb_word(&b, rs->provider);
		sb_puts(&b, "\n");
	}
	for (size_t i = 0; i < rs->n_sublayers; i++) {
		sb_puts(&b, "sublayer add ");
		sb_word(&b, rs->sublayers[i].name ? rs->sublayers[i].name : "");
		sb_printf(&b, " weight %u\n", rs->sublayers[i].weight);
	}
	for (size_t i = 0; i < rs->n_filters; i++) {
		sb_puts(&b, "filter add ");
		print_filter(&b, &rs->filters[i], secrets);
		sb_puts(&b, "\n");
	}
	return sb_take(&b);
}

/* ---- equality ---- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool sublayer_eq(const char *a, const char *b)
{
	if (a && !strcmp(a, LFP_SUBLAYER_DEFAULT_NAME))
		a = NULL;
	if (b && !strcmp(b, LFP_SUBLAYER_DEFAULT_NAME))
		b = NULL;
	return str_eq(a, b);
}

/*
 * What the text says, not what commit made of it: a user name and an app
 * path compare by their text, so a stored (resolved) filter equals the same
 * line parsed again, which is how `lfp -f` keeps unchanged filters.
 */
static bool value_eq(enum lfp_field f, const struct lfp_value *a, const struct lfp_value *b)
{
	bool addr = lfp_field_info(f)->kind == LFP_FK_ADDR;

	if (a->form != b->form)
		return false;
	switch (a->form) {
	case LFP_VF_NAME:
	case LFP_VF_PATH:
		if (!a->str || !b->str)
			return !a->str && !b->str && a->lo == b->lo && a->hi == b->hi;
		return !strcmp(a->str, b->str);
	case LFP_VF_FLAGS: return a->lo == b->lo;
	case LFP_VF_PREFIX:
		return !memcmp(a->alo, b->alo, 16) && a->plen == b->plen && a->v4 == b->v4;
	case LFP_VF_RANGE:
		if (addr)
			return !memcmp(a->alo, b->alo, 16) && !memcmp(a->ahi, b->ahi, 16) &&
			       a->v4 == b->v4;
		return a->lo == b->lo && a->hi == b->hi;
	default:
		if (addr)
			return !memcmp(a->alo, b->alo, 16) && a->v4 == b->v4;
		return a->lo == b->lo && a->hi == b->hi;
	}
}

static bool cond_eq(const struct lfp_cond *a, const struct lfp_cond *b)
{
	if (a->field != b->field || a->op != b->op || a->set != b->set || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!value_eq(a->field, &a->v[i], &b->v[i]))
			return false;
	return true;
}

static bool action_eq(const struct lfp_action *a, const struct lfp_action *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case LFP_ACT_CALLOUT: return str_eq(a->callout, b->callout);
	case LFP_ACT_ASK:
		return a->ask_timeout == b->ask_timeout &&
		       a->ask_default_permit == b->ask_default_permit;
	case LFP_ACT_REDIRECT: return str_eq(a->redirect, b->redirect);
	default: return true;
	}
}

bool lfp_filter_equal(const struct lfp_filter *a, const struct lfp_filter *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (!str_eq(a->name, b->name) || !str_eq(a->desc, b->desc) || a->layer != b->layer ||
	    !sublayer_eq(a->sublayer, b->sublayer) || a->wkind != b->wkind ||
	    (a->wkind != LFP_W_AUTO && a->weight_arg != b->weight_arg) ||
	    a->n_conds != b->n_conds || !action_eq(&a->action, &b->action) || a->flags != b->flags)
		return false;
	for (size_t i = 0; i < a->n_conds; i++)
		if (!cond_eq(&a->conds[i], &b->conds[i]))
			return false;
	return true;
}
