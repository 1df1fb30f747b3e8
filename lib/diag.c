// SPDX-License-Identifier: MIT
/* Diagnostics with source locations, printed nftables-style with a caret. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/diag.h>

int lfp_diags_set_file(struct lfp_diags *d, const char *file)
{
	char *copy = strdup(file ? file : "<command line>");

	if (!copy)
		return -ENOMEM;
	free(d->file);
	d->file = copy;
	return 0;
}

int lfp_diags_add(struct lfp_diags *d, enum lfp_diag_severity sev, struct lfp_loc loc,
		  const char *line_text, const char *fmt, ...)
{
	struct lfp_diag *rec;
	va_list ap;
	int r;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct lfp_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	rec = &d->v[d->n];
	memset(rec, 0, sizeof(*rec));
	rec->severity = sev;
	rec->loc = loc;
	va_start(ap, fmt);
	r = vasprintf(&rec->msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		rec->msg = NULL;
		return -ENOMEM;
	}
	if (line_text) {
		size_t len = strcspn(line_text, "\n");

		rec->text = strndup(line_text, len);
		if (!rec->text) {
			free(rec->msg);
			return -ENOMEM;
		}
	}
	d->n++;
	return 0;
}

size_t lfp_diags_errors(const struct lfp_diags *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += d->v[i].severity == LFP_DIAG_ERROR;
	return n;
}

void lfp_diags_print(const struct lfp_diags *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct lfp_diag *r = &d->v[i];
		const char *sev = r->severity == LFP_DIAG_ERROR ? "error" : "warning";

		if (r->loc.line)
			fprintf(f, "%s:%u:%u: %s: %s\n", d->file ? d->file : "<command line>",
				r->loc.line, r->loc.col, sev, r->msg);
		else
			fprintf(f, "%s: %s\n", sev, r->msg);
		if (r->text && r->loc.col) {
			size_t len = strlen(r->text);

			fprintf(f, "  %s\n  ", r->text);
			for (uint32_t c = 1; c < r->loc.col; c++)
				fputc(c - 1 < len && r->text[c - 1] == '\t' ? '\t' : ' ', f);
			fputs("^\n", f);
		}
	}
}

void lfp_diags_fini(struct lfp_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].msg);
		free(d->v[i].text);
	}
	free(d->v);
	free(d->file);
	memset(d, 0, sizeof(*d));
}
