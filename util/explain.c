// SPDX-License-Identifier: MIT
/*
 * The explain reply, built once for lfpd and for the offline CLI so both
 * say the same thing about the same policy.
 */
#include <string.h>
#include <sys/socket.h>
#include <lfp/icmp.h>
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

/* The layers whose hooks apply the ND/PMTU exemption: the packet layers. */
static bool layer_exempts(enum lfp_layer l)
{
	switch (l) {
	case LFP_LAYER_INBOUND_TRANSPORT:
	case LFP_LAYER_OUTBOUND_TRANSPORT:
	case LFP_LAYER_INBOUND_IPPACKET:
	case LFP_LAYER_OUTBOUND_IPPACKET:
	case LFP_LAYER_INBOUND_ICMP_ERROR:
	case LFP_LAYER_OUTBOUND_ICMP_ERROR:
	case LFP_LAYER_IPFORWARD: return true;
	default: return false;
	}
}

static bool names_icmp_type(const struct lfp_filter *f)
{
	for (size_t i = 0; f && i < f->n_conds; i++)
		if (f->conds[i].field == LFP_F_ICMP_TYPE)
			return true;
	return false;
}

/*
 * The hooks' exemption (docs/packet-layers.md, "ICMPv6 ND and PMTU under a
 * default deny"): a message neighbor or path MTU discovery needs passes a
 * block at a packet layer unless the deciding filter names ICMP types. The
 * oracle answers the filters' verdict; explain says what the kernel does,
 * and which filter it overrode. NULL when it does not apply.
 */
static json_t *exemption(const struct lfp_conn *c, const struct lfp_classify_result *res)
{
	int family = c->ipver == 4 ? AF_INET : AF_INET6;

	if (!layer_exempts(c->layer) || res->verdict == LFP_V_PERMIT || !res->filter ||
	    names_icmp_type(res->filter))
		return NULL;
	if (!((c->ipver == 4 && c->proto == 1) || (c->ipver == 6 && c->proto == 58)) ||
	    !lfp_icmp_needed_for_nd_pmtu(family, c->icmp_type, c->icmp_code))
		return NULL;
	return json_pack("{s:s, s:s, s:o, s:i, s:i}", "rule", "nd-pmtu", "verdict",
			 lfp_verdict_name(res->verdict), "filter", filter_ref(res->filter),
			 "icmp_type", c->icmp_type, "icmp_code", c->icmp_code);
}

/* An inspection filter where payloads are reported (datagram-data, stream):
 * `count`, or any registered callout but `ask` (those layers cannot pend). */
static bool inspects(const struct lfp_policy *p, const struct lfp_filter *f)
{
	const char *n = f->action.callout;

	if (f->action.type != LFP_ACT_CALLOUT || !n || !strcmp(n, "ask"))
		return false;
	if (!strcmp(n, "count"))
		return true;
	for (size_t i = 0; i < p->n_callouts; i++)
		if (p->callouts[i].name && !strcmp(p->callouts[i].name, n))
			return true;
	return false;
}

/* Within a sublayer: the higher weight first, then the lower id (WFP's order). */
static bool heavier(const struct lfp_filter *a, const struct lfp_filter *b)
{
	return a->weight > b->weight || (a->weight == b->weight && a->id < b->id);
}

/*
 * The inspection filter whose callout sees the payload, as the kernel picks
 * it (docs/classification.md, "Inspection filters"): in sublayer order, the
 * heaviest matching one of the first sublayer where its sublayer's decider
 * does not outweigh it; none after a sublayer that answered a hard block.
 */
static const struct lfp_filter *inspected(const struct lfp_policy *p, const struct lfp_conn *c,
					  const struct lfp_classify_result *res)
{
	if (c->layer != LFP_LAYER_DATAGRAM_DATA && c->layer != LFP_LAYER_STREAM)
		return NULL;
	for (size_t i = 0; i < res->n_subs; i++) {
		const struct lfp_sublayer_result *s = &res->subs[i];
		const struct lfp_filter *best = NULL;

		for (size_t j = 0; j < p->n_filters; j++) {
			const struct lfp_filter *f = &p->filters[j];
			const char *sl = f->sublayer ? f->sublayer : LFP_SUBLAYER_DEFAULT_NAME;

			if (f->layer != c->layer || !s->sublayer->name ||
			    strcmp(sl, s->sublayer->name) || !inspects(p, f) ||
			    !lfp_filter_matches(f, c))
				continue;
			if (!best || heavier(f, best))
				best = f;
		}
		if (best && !(s->filter && heavier(s->filter, best)))
			return best;
		if (s->answer.ans == LFP_ANS_BLOCK && s->answer.hard)
			return NULL;
	}
	return NULL;
}

int lfp_explain_json(const struct lfp_policy *p, const struct lfp_conn *conn, json_t *out)
{
	json_t *ex;
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
	json_object_set_new(out, "inspected_by", filter_ref(inspected(p, conn, &res)));
	/* what the hook does instead: permit, no filter; the overridden one named */
	ex = exemption(conn, &res);
	json_object_set_new(out, "exemption", ex ? ex : json_null());
	if (ex) {
		json_object_set_new(out, "verdict", json_string("permit"));
		json_object_set_new(out, "hard", json_false());
		json_object_set_new(out, "filter", json_null());
	}
	lfp_classify_result_fini(&res);
	return explain_before(out, p, conn);
}
