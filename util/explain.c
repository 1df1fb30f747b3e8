// SPDX-License-Identifier: MIT
/*
 * The explain reply, built once for lfpd and for the offline CLI so both
 * say the same thing about the same policy.
 */
#include <lfp/layer.h>
#include <lfp/policy.h>
#include "explain.h"

static json_t *filter_ref(const struct lfp_filter *f)
{
	if (!f)
		return json_null();
	return json_pack("{s:I, s:s?}", "id", (json_int_t)f->id, "name", f->name);
}

static const char *answer_name(const struct lfp_sublayer_result *s)
{
	if (s->pend)
		return "pend";
	return s->answer.ans == LFP_ANS_PERMIT	? "permit"
	       : s->answer.ans == LFP_ANS_BLOCK ? "block"
						: "none";
}

/*
 * Which layer acts: the layer that runs first on the same operation
 * (connect-redirect before auth-connect) classified too. A redirect there
 * means the layer asked about sees the rewritten operation: "acts" lists
 * both, in order, and "before" says how the first one decided.
 */
static int explain_before(json_t *out, const struct lfp_policy *p, const struct lfp_conn *conn)
{
	struct lfp_classify_result pres = { 0 };
	int pre = lfp_oracle_layer_before(conn->layer);
	json_t *acts = json_array();
	struct lfp_conn c2;
	int r;

	json_object_set_new(out, "before", json_null());
	if (pre >= 0) {
		c2 = *conn; /* borrowed: never finalized */
		c2.layer = (enum lfp_layer)pre;
		r = lfp_oracle_classify(p, &c2, &pres);
		if (r) {
			json_decref(acts);
			return r;
		}
		json_object_set_new(out, "before",
				    json_pack("{s:s, s:s, s:o}", "layer", lfp_layer_info(pre)->name,
					      "verdict", lfp_verdict_name(pres.verdict), "filter",
					      filter_ref(pres.filter)));
		if (pres.verdict == LFP_V_REDIRECT)
			json_array_append_new(acts, json_string(lfp_layer_info(pre)->name));
		lfp_classify_result_fini(&pres);
	}
	json_array_append_new(acts, json_string(lfp_layer_info(conn->layer)->name));
	json_object_set_new(out, "acts", acts);
	return 0;
}

int lfp_explain_json(const struct lfp_policy *p, const struct lfp_conn *conn, json_t *out)
{
	struct lfp_classify_result res = { 0 };
	json_t *subs;
	int r;

	r = lfp_oracle_classify(p, conn, &res);
	if (r)
		return r;
	json_object_set_new(out, "verdict", json_string(lfp_verdict_name(res.verdict)));
	json_object_set_new(out, "hard", json_boolean(res.hard));
	json_object_set_new(out, "layer", json_string(lfp_layer_info(conn->layer)->name));
	json_object_set_new(out, "filter", filter_ref(res.filter));
	subs = json_array();
	for (size_t i = 0; i < res.n_subs; i++) {
		const struct lfp_sublayer_result *s = &res.subs[i];

		json_array_append_new(
			subs, json_pack("{s:s, s:i, s:s, s:b, s:o}", "name", s->sublayer->name,
					"weight", s->sublayer->weight, "answer", answer_name(s),
					"hard", s->answer.hard, "filter", filter_ref(s->filter)));
	}
	json_object_set_new(out, "sublayers", subs);
	lfp_classify_result_fini(&res);
	return explain_before(out, p, conn);
}
