// SPDX-License-Identifier: MIT
/*
 * The rule lexer. Text becomes a flat token array with one RT_EOL per
 * statement, so the parser never thinks about comments, continuations or
 * quoting. Each token keeps its own physical line, which is what a caret
 * must be drawn under even inside a continued statement.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rule_int.h"

void rule_err(struct rule_ctx *c, const struct rule_tok *t, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int r;

	c->errors++;
	if (!c->diags)
		return;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		c->nomem = true;
		return;
	}
	if (lfp_diags_add(c->diags, LFP_DIAG_ERROR, t ? t->loc : (struct lfp_loc){ 0, 0 },
			  t ? t->line : NULL, "%s", msg))
		c->nomem = true;
	free(msg);
}

/* Show diagnostics in source order although the lexer reports before the parser. */
void rule_diags_sort(struct lfp_diags *d, size_t from)
{
	for (size_t i = from + 1; i < d->n; i++) {
		struct lfp_diag x = d->v[i];
		uint64_t kx = ((uint64_t)(x.loc.line ? x.loc.line : UINT32_MAX) << 32) | x.loc.col;
		size_t j = i;

		while (j > from) {
			const struct lfp_diag *y = &d->v[j - 1];
			uint64_t ky = ((uint64_t)(y->loc.line ? y->loc.line : UINT32_MAX) << 32) |
				      y->loc.col;

			if (ky <= kx)
				break;
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = x;
	}
}

void rule_toks_fini(struct rule_toks *tk)
{
	for (size_t i = 0; i < tk->n; i++)
		free(tk->v[i].text);
	free(tk->v);
	memset(tk, 0, sizeof(*tk));
}

/* Characters that end a bare word; the printer quotes any word holding one. */
static bool is_break(unsigned char ch)
{
	return ch <= ' ' || ch == 0x7f || strchr("{},\"=!<>", ch);
}

static bool is_control(unsigned char ch)
{
	return (ch < ' ' && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f;
}

/* A backslash followed only by blanks up to the end of the line joins the next line. */
static const char *continuation_end(const char *p)
{
	const char *q = p + 1;

	while (*q == ' ' || *q == '\t' || *q == '\r')
		q++;
	if (*q == '\n')
		return q + 1;
	if (!*q)
		return q;
	return NULL;
}

bool rule_needs_quote(const char *s)
{
	if (!*s || *s == '#')
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (is_break(*p) || *p == '\\')
			return true;
	return false;
}

const char *rule_op_str(enum lfp_op op)
{
	static const char *const s[] = {
		[LFP_OP_EQ] = "==", [LFP_OP_NE] = "!=", [LFP_OP_LT] = "<",
		[LFP_OP_LE] = "<=", [LFP_OP_GT] = ">",	[LFP_OP_GE] = ">=",
	};

	return (unsigned int)op < sizeof(s) / sizeof(s[0]) ? s[op] : "?";
}

const char *rule_tok_what(const struct rule_tok *t, char *buf, size_t sz)
{
	switch (t->type) {
	case RT_LBRACE: return "'{'";
	case RT_RBRACE: return "'}'";
	case RT_COMMA: return "','";
	case RT_OP:
		switch (t->op) {
		case LFP_OP_EQ: return "'=='";
		case LFP_OP_NE: return "'!='";
		case LFP_OP_LT: return "'<'";
		case LFP_OP_LE: return "'<='";
		case LFP_OP_GT: return "'>'";
		case LFP_OP_GE: return "'>='";
		}
		return "an operator";
	case RT_EOL: return "end of line";
	case RT_WORD:
	case RT_STRING:
		if (strlen(t->text) > 40)
			snprintf(buf, sz, "'%.40s...'", t->text);
		else
			snprintf(buf, sz, "'%s'", t->text);
		return buf;
	default: return "an invalid token";
	}
}

struct lexer {
	struct rule_ctx *c;
	struct rule_toks *out;
	const char *p;
	const char *line;
	uint32_t lineno;
	bool in_stmt; /* a token has been emitted since the last RT_EOL */
	struct lfp_loc prev_end;
	const char *prev_line;
};

static struct lfp_loc lex_loc(const struct lexer *lx, const char *at)
{
	return (struct lfp_loc){ lx->lineno, (uint32_t)(at - lx->line) + 1 };
}

static int lex_push(struct lexer *lx, enum rule_tok_type type, const char *start, char *text)
{
	struct rule_toks *tk = lx->out;
	struct rule_tok *t;

	if (tk->n == tk->cap) {
		size_t cap = tk->cap ? tk->cap * 2 : 64;
		struct rule_tok *v = realloc(tk->v, cap * sizeof(*v));

		if (!v) {
			free(text);
			return -ENOMEM;
		}
		tk->v = v;
		tk->cap = cap;
	}
	t = &tk->v[tk->n++];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->text = text;
	if (type == RT_EOL) {
		/* point just after the statement's last token: "missing action" goes there */
		t->loc = t->end = lx->in_stmt ? lx->prev_end : lex_loc(lx, start);
		t->line = lx->in_stmt ? lx->prev_line : lx->line;
		lx->in_stmt = false;
		return 0;
	}
	t->loc = lex_loc(lx, start);
	t->end = lex_loc(lx, lx->p);
	t->line = lx->line;
	lx->in_stmt = true;
	lx->prev_end = t->end;
	lx->prev_line = lx->line;
	return 0;
}

static int lex_error(struct lexer *lx, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int lex_error(struct lexer *lx, const char *at, const char *fmt, ...)
{
	struct rule_tok where = { .loc = lex_loc(lx, at), .line = lx->line };
	char *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	rule_err(lx->c, &where, "%s", msg);
	free(msg);
	return lex_push(lx, RT_ERROR, at, NULL);
}

/* "..." with \" and \\ escapes; a string ends on its line. */
static int lex_string(struct lexer *lx)
{
	const char *start = lx->p;
	const char *p = start + 1;
	const char *bad = NULL;
	char *buf, *o;

	buf = malloc(strcspn(p, "\n") + 1);
	if (!buf)
		return -ENOMEM;
	o = buf;
	for (;;) {
		unsigned char ch = (unsigned char)*p;

		if (!ch || ch == '\n' || (ch == '\\' && (!p[1] || p[1] == '\n'))) {
			free(buf);
			lx->p = ch == '\\' ? p + 1 : p;
			return lex_error(lx, start, "unterminated string");
		}
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (p[1] != '"' && p[1] != '\\') {
				if (!bad)
					bad = p;
				p += 2;
				continue;
			}
			*o++ = p[1];
			p += 2;
			continue;
		}
		if (ch < ' ' || ch == 0x7f) {
			if (!bad)
				bad = p;
			p++;
			continue;
		}
		*o++ = (char)ch;
		p++;
	}
	*o = 0;
	lx->p = p + 1;
	if (bad) {
		free(buf);
		if (*bad == '\\')
			return lex_error(
				lx, bad,
				"invalid escape '\\%c' in a quoted string (only \\\" and \\\\)",
				(unsigned char)bad[1] < ' ' ? '?' : bad[1]);
		return lex_error(lx, bad, "control character 0x%02x in a quoted string",
				 (unsigned char)*bad);
	}
	return lex_push(lx, RT_STRING, start, buf);
}

static int lex_word(struct lexer *lx)
{
	const char *start = lx->p;
	const char *p = start;
	char *text;

	while (*p && !is_break((unsigned char)*p)) {
		if (*p == '\\' && continuation_end(p))
			break;
		p++;
	}
	text = strndup(start, (size_t)(p - start));
	if (!text)
		return -ENOMEM;
	lx->p = p;
	return lex_push(lx, RT_WORD, start, text);
}

static int lex_op(struct lexer *lx)
{
	const char *start = lx->p;
	char ch = *start;
	bool eq = start[1] == '=';
	struct rule_tok *t;
	enum lfp_op op;
	int r;

	if ((ch == '=' || ch == '!') && !eq) {
		lx->p++;
		return lex_error(lx, start, "unexpected '%c' (did you mean '%c='?)", ch, ch);
	}
	switch (ch) {
	case '=': op = LFP_OP_EQ; break;
	case '!': op = LFP_OP_NE; break;
	case '<': op = eq ? LFP_OP_LE : LFP_OP_LT; break;
	default: op = eq ? LFP_OP_GE : LFP_OP_GT; break;
	}
	lx->p += eq ? 2 : 1;
	r = lex_push(lx, RT_OP, start, NULL);
	if (r)
		return r;
	t = &lx->out->v[lx->out->n - 1];
	t->op = op;
	return 0;
}

int rule_lex(const char *text, struct rule_toks *out, struct rule_ctx *c)
{
	struct lexer lx = {
		.c = c,
		.out = out,
		.p = text,
		.line = text,
		.lineno = 1,
		.prev_line = text,
	};
	int r = 0;

	memset(out, 0, sizeof(*out));
	while (*lx.p && !r) {
		unsigned char ch = (unsigned char)*lx.p;
		const char *next;

		switch (ch) {
		case ' ':
		case '\t':
		case '\r': lx.p++; continue;
		case '\n':
			if (lx.in_stmt)
				r = lex_push(&lx, RT_EOL, lx.p, NULL);
			lx.p++;
			lx.lineno++;
			lx.line = lx.p;
			continue;
		case '#': lx.p += strcspn(lx.p, "\n"); continue;
		case '"': r = lex_string(&lx); continue;
		case '{':
		case '}':
		case ',':
			lx.p++;
			r = lex_push(&lx,
				     ch == '{'	 ? RT_LBRACE
				     : ch == '}' ? RT_RBRACE
						 : RT_COMMA,
				     lx.p - 1, NULL);
			continue;
		case '=':
		case '!':
		case '<':
		case '>': r = lex_op(&lx); continue;
		case '\\':
			next = continuation_end(lx.p);
			if (next) {
				if (next[-1] == '\n') {
					lx.lineno++;
					lx.line = next;
				}
				lx.p = next;
				continue;
			}
			break;
		default: break;
		}
		if (is_control(ch)) {
			lx.p++;
			r = lex_error(&lx, lx.p - 1, "invalid character 0x%02x", ch);
			continue;
		}
		r = lex_word(&lx);
	}
	if (!r)
		r = lex_push(&lx, RT_EOL, lx.p, NULL);
	if (r) {
		c->nomem = true;
		rule_toks_fini(out);
	}
	return r;
}
