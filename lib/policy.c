// SPDX-License-Identifier: MIT
/* Object model: ownership helpers (fini, copy) and names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/policy.h>
#include <lfp/oracle.h>

static int strdup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

void lfp_cond_fini(struct lfp_cond *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].str);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int cond_copy(struct lfp_cond *dst, const struct lfp_cond *src)
{
	*dst = *src;
	dst->v = calloc(src->n ? src->n : 1, sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = src->v[i];
		if (strdup_opt(&dst->v[i].str, src->v[i].str)) {
			dst->n = i;
			lfp_cond_fini(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

void lfp_filter_fini(struct lfp_filter *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->desc);
	free(f->provider);
	free(f->sublayer);
	for (size_t i = 0; i < f->n_conds; i++)
		lfp_cond_fini(&f->conds[i]);
	free(f->conds);
	free(f->action.callout);
	free(f->action.redirect);
	memset(f, 0, sizeof(*f));
}

int lfp_filter_copy(struct lfp_filter *dst, const struct lfp_filter *src)
{
	*dst = *src;
	dst->name = dst->desc = dst->provider = dst->sublayer = NULL;
	dst->conds = NULL;
	dst->n_conds = 0;
	dst->action.callout = dst->action.redirect = NULL;
	if (strdup_opt(&dst->name, src->name) || strdup_opt(&dst->desc, src->desc) ||
	    strdup_opt(&dst->provider, src->provider) ||
	    strdup_opt(&dst->sublayer, src->sublayer) ||
	    strdup_opt(&dst->action.callout, src->action.callout) ||
	    strdup_opt(&dst->action.redirect, src->action.redirect))
		goto nomem;
	if (src->n_conds) {
		dst->conds = calloc(src->n_conds, sizeof(*dst->conds));
		if (!dst->conds)
			goto nomem;
		for (size_t i = 0; i < src->n_conds; i++) {
			if (cond_copy(&dst->conds[i], &src->conds[i]))
				goto nomem;
			dst->n_conds = i + 1;
		}
	}
	return 0;
nomem:
	lfp_filter_fini(dst);
	return -ENOMEM;
}

void lfp_sublayer_fini(struct lfp_sublayer *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->provider);
	memset(s, 0, sizeof(*s));
}

int lfp_sublayer_copy(struct lfp_sublayer *dst, const struct lfp_sublayer *src)
{
	*dst = *src;
	dst->name = dst->provider = NULL;
	if (strdup_opt(&dst->name, src->name) || strdup_opt(&dst->provider, src->provider)) {
		lfp_sublayer_fini(dst);
		return -ENOMEM;
	}
	return 0;
}

void lfp_ruleset_fini(struct lfp_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->provider);
	for (size_t i = 0; i < rs->n_sublayers; i++)
		lfp_sublayer_fini(&rs->sublayers[i]);
	free(rs->sublayers);
	for (size_t i = 0; i < rs->n_filters; i++)
		lfp_filter_fini(&rs->filters[i]);
	free(rs->filters);
	memset(rs, 0, sizeof(*rs));
}

void lfp_ruleset_free(struct lfp_ruleset *rs)
{
	if (!rs)
		return;
	lfp_ruleset_fini(rs);
	free(rs);
}

void lfp_ruleset_freep(struct lfp_ruleset **rs)
{
	lfp_ruleset_free(*rs);
	*rs = NULL;
}

void lfp_conn_fini(struct lfp_conn *c)
{
	if (!c)
		return;
	free(c->app_path);
	free(c->cgroup_path);
	c->app_path = c->cgroup_path = NULL;
}

const char *lfp_action_name(enum lfp_action_type t)
{
	static const char *const names[] = {
		[LFP_ACT_PERMIT] = "permit",	 [LFP_ACT_BLOCK] = "block",
		[LFP_ACT_CALLOUT] = "callout",	 [LFP_ACT_ASK] = "ask",
		[LFP_ACT_REDIRECT] = "redirect",
	};

	return (unsigned int)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *lfp_verdict_name(enum lfp_verdict v)
{
	static const char *const names[] = {
		[LFP_V_PERMIT] = "permit", [LFP_V_BLOCK] = "block",	  [LFP_V_VETO] = "veto",
		[LFP_V_PEND] = "pend",	   [LFP_V_REDIRECT] = "redirect",
	};

	return (unsigned int)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}
