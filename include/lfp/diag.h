/* SPDX-License-Identifier: MIT */
/**
 * @file diag.h
 * @brief Diagnostics: user-input errors as data with a source location.
 *
 * Parsers and validators append struct lfp_diag records to a struct
 * lfp_diags list instead of printing. The caller decides how to show them;
 * lfp_diags_print() formats them as CLI.md asks:
 * `FILE:LINE:COL: error: message`, followed by the source line and a caret.
 */
#pragma once

#include <lfp/common.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lfp_diag_severity {
	LFP_DIAG_ERROR,
	LFP_DIAG_WARNING,
};

/** A location in rule text. line and col are 1-based; 0 means unknown. */
struct lfp_loc {
	uint32_t line;
	uint32_t col;
};

struct lfp_diag {
	enum lfp_diag_severity severity;
	struct lfp_loc loc;
	char *msg;  /**< owned */
	char *text; /**< owned copy of the source line, or NULL */
};

struct lfp_diags {
	char *file; /**< owned; name used in messages ("<command line>" when none) */
	struct lfp_diag *v;
	size_t n, cap;
};

/** Set the file name used by messages (copied). @return 0 or -ENOMEM. */
int lfp_diags_set_file(struct lfp_diags *d, const char *file);

/**
 * Append a diagnostic.
 * @param line_text the whole source line for the caret display, or NULL.
 * @return 0 or -ENOMEM.
 */
int lfp_diags_add(struct lfp_diags *d, enum lfp_diag_severity sev, struct lfp_loc loc,
		  const char *line_text, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/** Number of errors (not warnings) in the list. */
size_t lfp_diags_errors(const struct lfp_diags *d);

/**
 * Print every diagnostic to @p f as `FILE:LINE:COL: error: msg`, then the
 * source line and a caret under column COL when the text is known. A
 * diagnostic without a location prints as `error: msg`.
 */
void lfp_diags_print(const struct lfp_diags *d, FILE *f);

/** Free the records and the file name; the struct itself is left zeroed. */
void lfp_diags_fini(struct lfp_diags *d);

#ifdef __cplusplus
}
#endif
