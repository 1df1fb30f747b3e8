/* SPDX-License-Identifier: MIT */
/*
 * Internal to the rule-language files (rule_lex.c, rule_value.c, rule_parse.c,
 * rule_print.c, conn_parse.c): tokens, the error context, value parsing and
 * the name tables both the rule and the connection parser read.
 */
#pragma once

#include <lfp/rule.h>
#include <lfp/layer.h>

#define RULE_HIDDEN __attribute__((visibility("hidden")))

/* Limits that keep every printed statement sane; docs/rule-language.md lists them. */
#define RULE_NAME_MAX 255 /* filter, sublayer, provider and callout names */
#define RULE_DESC_MAX 1023
#define RULE_PATH_MAX 4095
#define RULE_ASK_MAX  86400 /* seconds */

enum rule_tok_type {
	RT_WORD,   /* a bare word */
	RT_STRING, /* a double-quoted string, unescaped */
	RT_LBRACE,
	RT_RBRACE,
	RT_COMMA,
	RT_OP,	  /* == != < <= > >= */
	RT_EOL,	  /* end of a statement (after continuations are joined) */
	RT_ERROR, /* the lexer reported an error here: the statement is skipped */
};

struct rule_tok {
	enum rule_tok_type type;
	enum lfp_op op;	    /* RT_OP */
	char *text;	    /* RT_WORD, RT_STRING: owned */
	struct lfp_loc loc; /* first character; for RT_EOL just after the last token */
	struct lfp_loc end; /* just after the last character */
	const char *line;   /* start of the physical source line, for the caret display */
};

/* Every statement, including the last, ends with one RT_EOL. */
struct rule_toks {
	struct rule_tok *v;
	size_t n, cap;
};

/* Where errors go while parsing; nomem latches the first allocation failure. */
struct rule_ctx {
	struct lfp_diags *diags;
	size_t errors;
	bool nomem;
};

/* Append an error located at @t (its line text gives the caret). */
RULE_HIDDEN void rule_err(struct rule_ctx *c, const struct rule_tok *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sort d->v[from..] by line and column (stable), so messages read in source order. */
RULE_HIDDEN void rule_diags_sort(struct lfp_diags *d, size_t from);

/* Split @text into tokens; lexical errors go to @c and leave RT_ERROR tokens. */
RULE_HIDDEN int rule_lex(const char *text, struct rule_toks *out, struct rule_ctx *c);
RULE_HIDDEN void rule_toks_fini(struct rule_toks *tk);

/* Whether @s must be double-quoted to lex back as one word. */
RULE_HIDDEN bool rule_needs_quote(const char *s);
/* Spelling of an operator. */
RULE_HIDDEN const char *rule_op_str(enum lfp_op op);
/* RT_WORD or RT_STRING */
static inline bool rule_tok_is_word(const struct rule_tok *t)
{
	return t->type == RT_WORD || t->type == RT_STRING;
}
/* How a token reads in a message: 'word', '{', end of line. Uses @buf for words. */
RULE_HIDDEN const char *rule_tok_what(const struct rule_tok *t, char *buf, size_t sz);
#define TOK_WHAT(t) rule_tok_what((t), (char[72]){ 0 }, 72)

/* ICMP type and code names of @f get the numbers of the filter's family (ipver, proto);
 * errors located at the value tokens among @toks[0..n). */
RULE_HIDDEN void rule_icmp_family(struct rule_ctx *rc, struct lfp_filter *f,
				  const struct rule_tok *toks, size_t n);

/* A non-negative integer: decimal or 0x hex, no sign, no spaces. 0 or -EINVAL / -ERANGE. */
RULE_HIDDEN int rule_parse_u64(const char *s, uint64_t *out);

/* Filter flags (LFP_FF_*) by bit number and by name (@return the mask or -ENOENT). */
RULE_HIDDEN const char *rule_fflag_name(unsigned int bit);
RULE_HIDDEN int rule_fflag_by_name(const char *name);

/* inet_ntop of a 16-byte address; @v4: print the v4-mapped address as a dotted quad. */
RULE_HIDDEN void rule_addr_ntop(const uint8_t a[16], bool v4, char *buf, size_t sz);

/* " (did you mean 'x'?)" when @word is close to one of @cands, else @fallback. */
RULE_HIDDEN const char *rule_suggest(const char *word, const char *const *cands, size_t n,
				     const char *fallback, char *buf, size_t bufsz);
RULE_HIDDEN const char *rule_suggest_layer(const char *word, const char *fallback, char *buf,
					   size_t bufsz);
RULE_HIDDEN const char *rule_suggest_field(const char *word, const char *fallback, char *buf,
					   size_t bufsz);

/*
 * Parse the value token @t of field @f into @v (zeroed first, loc set).
 * @single: a connection description: no ranges, no prefixes shorter than
 * the address. Errors are reported at @t.
 * @return 0, -EINVAL (reported), -ENOMEM.
 */
RULE_HIDDEN int rule_value_parse(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t,
				 bool single, struct lfp_value *v);
