/* SPDX-License-Identifier: MIT */
/**
 * @file rule.h
 * @brief The rule language of CLI.md: parse and print.
 *
 * print(parse(x)) is canonical and parse(print(p)) == p. Errors are
 * appended to a struct lfp_diags with line and column; a ruleset with errors
 * is never returned half-filled.
 */
#pragma once

#include <lfp/policy.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfp_parse_opts {
	size_t sz;
	/** Name for messages, "<command line>" when NULL. */
	const char *file;
	/** Accept only filter/sublayer statements that a file may hold (default: all). */
	bool single_statement; /**< exactly one statement, as `lfp filter add ...` gives */
	/** Lifetime given to every object parsed (command-line --runtime etc.). */
	enum lfp_lifetime lifetime;
};

/**
 * Parse rule text (a whole file, or one statement without the leading `lfp`).
 * @param text NUL-terminated text.
 * @param opts options, may be NULL.
 * @param out on success a new ruleset the caller frees with lfp_ruleset_free().
 * @param diags receives every error and warning (with FILE:LINE:COL).
 * @return 0, -EINVAL when the text has errors (*out is NULL), -ENOMEM.
 */
int lfp_rule_parse(const char *text, const struct lfp_parse_opts *opts, struct lfp_ruleset **out,
		   struct lfp_diags *diags);

/**
 * Parse one filter statement's body given as argv words (what follows
 * `lfp filter add`). Words are joined with spaces and parsed as one line.
 */
int lfp_rule_parse_argv(int argc, char *const argv[], const struct lfp_parse_opts *opts,
			struct lfp_ruleset **out, struct lfp_diags *diags);

struct lfp_print_opts {
	size_t sz;
	bool show_secrets; /**< print credentials in redirect URLs (state files only) */
	bool with_id;	   /**< not used in statement text; reserved */
};

/**
 * Canonical statement text for a filter, without the leading "filter add",
 * e.g. `name no-curl layer auth-connect app /usr/bin/curl remote.port {80, 443} block`.
 * Credentials in redirect URLs are printed as `user:***` unless show_secrets.
 * @return a malloc'd string the caller frees, or NULL on ENOMEM.
 */
char *lfp_filter_to_text(const struct lfp_filter *f, const struct lfp_print_opts *opts);

/** Canonical text of one condition, e.g. `remote.port {80, 443}`. Caller frees. */
char *lfp_cond_to_text(const struct lfp_cond *c);

/**
 * A whole ruleset as a file `lfp -f` accepts: `provider NAME` (when set),
 * then `sublayer add` lines, then `filter add` lines. Caller frees.
 */
char *lfp_ruleset_to_text(const struct lfp_ruleset *rs, const struct lfp_print_opts *opts);

/** Structural equality of two filters (ignores id, loc, provider, lifetime). */
bool lfp_filter_equal(const struct lfp_filter *a, const struct lfp_filter *b);

/**
 * Parse a connection description for `explain`: FIELD VALUE pairs plus
 * `layer LAYER`. Values must be single values (no sets, ranges or ops).
 * Fills @p conn (see oracle.h), which is zeroed first: app and cgroup paths
 * are strdup'ed into conn (freed with lfp_conn_fini); user and group names
 * are resolved now (getpwnam_r/getgrnam_r), iface names with if_nametoindex;
 * ipver, when not given, comes from remote.addr (else local.addr).
 * @return 0, -EINVAL with diags (conn left zeroed), -ENOMEM.
 */
struct lfp_conn;
int lfp_conn_parse(const char *text, struct lfp_conn *conn, struct lfp_diags *diags);

#ifdef __cplusplus
}
#endif
