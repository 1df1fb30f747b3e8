// SPDX-License-Identifier: MIT
/*
 * Connection descriptions for `lfp explain`: `layer LAYER` and FIELD VALUE
 * pairs. The values go through the same value parser as rules, so an
 * address or a flag means the same here as in a filter; only single values
 * make sense for one connection. Unlike rules, names are resolved at once
 * (getpwnam, getgrnam, if_nametoindex): explain asks about this machine now.
 */
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <lfp/icmp.h>
#include <lfp/oracle.h>
#include "resolve_int.h"
#include "rule_int.h"

struct conn_cur {
	struct rule_toks *tk;
	size_t i;
};

/* The next token that is not a statement end; the final RT_EOL at the end. */
static struct rule_tok *conn_take(struct conn_cur *c)
{
	while (c->i + 1 < c->tk->n && c->tk->v[c->i].type == RT_EOL)
		c->i++;
	return &c->tk->v[c->i < c->tk->n - 1 ? c->i++ : c->i];
}

static struct rule_tok *conn_peek(struct conn_cur *c)
{
	size_t i = c->i;

	while (i + 1 < c->tk->n && c->tk->v[i].type == RT_EOL)
		i++;
	return &c->tk->v[i];
}

static bool addr_is_v4(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

static int conn_set(struct rule_ctx *rc, struct lfp_conn *conn, enum lfp_field f,
		    const struct rule_tok *t, const struct lfp_value *v)
{
	char **path = NULL;
	uint32_t id = 0;
	int r;

	switch (f) {
	case LFP_F_APP: path = &conn->app_path; break;
	case LFP_F_CGROUP: path = &conn->cgroup_path; break;
	case LFP_F_USER:
	case LFP_F_GROUP:
		if (v->form != LFP_VF_NAME) {
			id = (uint32_t)v->lo;
		} else {
			r = resolve_account_id(f == LFP_F_USER, v->str, &id);
			if (r == -ENOMEM)
				return r;
			if (r) {
				rule_err(rc, t, "unknown %s '%s'",
					 f == LFP_F_USER ? "user" : "group", v->str);
				return -EINVAL;
			}
		}
		if (f == LFP_F_USER)
			conn->uid = id;
		else
			conn->gid = id;
		return 0;
	case LFP_F_PID: conn->pid = (uint32_t)v->lo; return 0;
	case LFP_F_PROTO: conn->proto = (uint8_t)v->lo; return 0;
	case LFP_F_IPVER: conn->ipver = (uint8_t)v->lo; return 0;
	case LFP_F_LOCAL_ADDR: memcpy(conn->laddr, v->alo, 16); return 0;
	case LFP_F_REMOTE_ADDR: memcpy(conn->raddr, v->alo, 16); return 0;
	case LFP_F_ORIG_ADDR: memcpy(conn->oaddr, v->alo, 16); return 0;
	case LFP_F_LOCAL_PORT: conn->lport = (uint16_t)v->lo; return 0;
	case LFP_F_REMOTE_PORT: conn->rport = (uint16_t)v->lo; return 0;
	case LFP_F_ORIG_PORT: conn->oport = (uint16_t)v->lo; return 0;
	case LFP_F_DIRECTION: conn->direction = (uint8_t)v->lo; return 0;
	case LFP_F_IFACE:
		if (v->form != LFP_VF_NAME) {
			conn->ifindex = (uint32_t)v->lo;
			return 0;
		}
		conn->ifindex = if_nametoindex(v->str);
		if (!conn->ifindex) {
			rule_err(rc, t, "unknown interface '%s'", v->str);
			return -EINVAL;
		}
		return 0;
	case LFP_F_ICMP_TYPE: conn->icmp_type = (uint8_t)v->lo; return 0;
	case LFP_F_ICMP_CODE: conn->icmp_code = (uint8_t)v->lo; return 0;
	case LFP_F_FLAGS: conn->flags = (uint32_t)v->lo; return 0;
	default: return 0;
	}
	*path = strdup(v->str);
	return *path ? 0 : -ENOMEM;
}

/*
 * ICMP names by the connection's family (ipver, given or from the addresses):
 * echo-request is 8 in IPv4 and 128 in IPv6. With no family known, ICMPv4's
 * meaning, else ICMPv6's. The value token follows its field token.
 */
static void conn_icmp(struct rule_ctx *rc, struct lfp_conn *conn, const struct rule_tok **seen)
{
	int fam = conn->ipver == 6 ? AF_INET6 : AF_INET;
	const struct lfp_icmp_entry *e;
	const struct rule_tok *vt;
	uint64_t n;
	int t;

	if (seen[LFP_F_ICMP_TYPE] && rule_parse_u64((vt = seen[LFP_F_ICMP_TYPE] + 1)->text, &n)) {
		t = lfp_icmp_type_by_name(fam, vt->text);
		if (t < 0 && !conn->ipver)
			t = lfp_icmp_type_by_name(AF_INET6, vt->text);
		if (t < 0)
			rule_err(rc, vt, "'%s' is not an ICMPv%d type name (see lfp icmp)",
				 vt->text, fam == AF_INET ? 4 : 6);
		else
			conn->icmp_type = (uint8_t)t;
	}
	if (seen[LFP_F_ICMP_CODE] && rule_parse_u64((vt = seen[LFP_F_ICMP_CODE] + 1)->text, &n)) {
		if ((lfp_icmp_by_name(fam, vt->text, &e) || (e->flags & LFP_ICMP_F_TYPE)) &&
		    (conn->ipver || lfp_icmp_by_name(AF_INET6, vt->text, &e) ||
		     (e->flags & LFP_ICMP_F_TYPE)))
			rule_err(rc, vt, "'%s' is not an ICMPv%d code name (see lfp icmp)",
				 vt->text, fam == AF_INET ? 4 : 6);
		else if (seen[LFP_F_ICMP_TYPE] && e->type != conn->icmp_type)
			rule_err(rc, vt, "'%s' is a code of type %u, not of icmp.type %u", vt->text,
				 e->type, conn->icmp_type);
		else
			conn->icmp_code = (uint8_t)e->code;
	}
}

/* ipver from the addresses when not given, and agreement when it is. */
static void conn_ipver(struct rule_ctx *rc, struct lfp_conn *conn,
		       const struct rule_tok *const seen[LFP_F_COUNT])
{
	const struct rule_tok *lt = seen[LFP_F_LOCAL_ADDR], *rt = seen[LFP_F_REMOTE_ADDR];
	uint8_t lv = addr_is_v4(conn->laddr) ? 4 : 6, rv = addr_is_v4(conn->raddr) ? 4 : 6;

	if (lt && rt && lv != rv)
		rule_err(rc, rt, "remote.addr is IPv%u but local.addr is IPv%u", rv, lv);
	if (!seen[LFP_F_IPVER]) {
		conn->ipver = rt ? rv : lt ? lv : 0;
		return;
	}
	if ((rt && rv != conn->ipver) || (lt && lv != conn->ipver))
		rule_err(rc, seen[LFP_F_IPVER], "ipver %u does not match the IPv%u address of %s",
			 conn->ipver, rt && rv != conn->ipver ? rv : lv,
			 rt && rv != conn->ipver ? "remote.addr" : "local.addr");
}

/*
 * A packet at the IP packet layers has its ICMP header even though no filter
 * there may name it: the hooks' ND/PMTU exemption reads it, so explain takes
 * icmp.type and icmp.code for those layers' packets too.
 */
static bool conn_packet_icmp(enum lfp_layer l, enum lfp_field f)
{
	return (l == LFP_LAYER_INBOUND_IPPACKET || l == LFP_LAYER_OUTBOUND_IPPACKET) &&
	       (f == LFP_F_ICMP_TYPE || f == LFP_F_ICMP_CODE);
}

static int conn_parse_toks(struct rule_ctx *rc, struct rule_toks *tk, struct lfp_conn *conn)
{
	const struct rule_tok *seen[LFP_F_COUNT] = { 0 }, *layer_tok = NULL;
	struct conn_cur c = { .tk = tk };
	char sug[96];
	int r, l;

	for (;;) {
		struct rule_tok *t = conn_take(&c), *vt;
		struct lfp_value v;
		int f;

		if (t->type == RT_EOL)
			break;
		if (t->type == RT_ERROR)
			continue; /* the lexer said why */
		if (!rule_tok_is_word(t)) {
			rule_err(rc, t, "expected a field name, got %s", TOK_WHAT(t));
			continue;
		}
		if (!strcmp(t->text, "layer")) {
			vt = conn_take(&c);
			if (!rule_tok_is_word(vt)) {
				rule_err(rc, vt, "expected a layer name after 'layer', got %s",
					 TOK_WHAT(vt));
				continue;
			}
			if (layer_tok) {
				rule_err(rc, t, "'layer' given twice");
				continue;
			}
			l = lfp_layer_by_name(vt->text);
			if (l < 0) {
				rule_err(rc, vt, "unknown layer '%s'%s", vt->text,
					 rule_suggest_layer(vt->text, " (see lfp help layers)", sug,
							    sizeof(sug)));
				continue;
			}
			conn->layer = (enum lfp_layer)l;
			layer_tok = t;
			continue;
		}
		f = lfp_field_by_name(t->text);
		if (f < 0) {
			rule_err(rc, t, "unknown field '%s'%s", t->text,
				 rule_suggest_field(t->text, "", sug, sizeof(sug)));
			if (rule_tok_is_word(conn_peek(&c)))
				conn_take(&c); /* its value */
			continue;
		}
		vt = conn_take(&c);
		if (vt->type == RT_OP) {
			rule_err(rc, vt, "operators are not allowed in a connection description");
			if (rule_tok_is_word(conn_peek(&c)))
				conn_take(&c); /* the value it compares with */
			continue;
		}
		if (vt->type == RT_LBRACE) {
			rule_err(rc, vt, "a connection has single values, not sets");
			while (vt->type != RT_RBRACE && vt->type != RT_EOL)
				vt = conn_take(&c);
			continue;
		}
		if (!rule_tok_is_word(vt)) {
			rule_err(rc, vt, "expected a value for '%s', got %s", t->text,
				 TOK_WHAT(vt));
			continue;
		}
		if (seen[f]) {
			rule_err(rc, t, "'%s' given twice", t->text);
			continue;
		}
		seen[f] = t;
		r = rule_value_parse(rc, (enum lfp_field)f, vt, true, &v);
		if (r == -ENOMEM)
			return r;
		if (r)
			continue;
		r = conn_set(rc, conn, (enum lfp_field)f, vt, &v);
		free(v.str);
		if (r == -ENOMEM)
			return r;
	}
	if (!layer_tok) {
		rule_err(rc, &tk->v[tk->n - 1],
			 "connection description has no layer (layer LAYER)");
	} else {
		for (int f = 0; f < LFP_F_COUNT; f++)
			if (seen[f] && !lfp_layer_has_field(conn->layer, (enum lfp_field)f) &&
			    !conn_packet_icmp(conn->layer, (enum lfp_field)f))
				rule_err(rc, seen[f],
					 "field '%s' is not available at layer '%s' (see "
					 "lfp help layers)",
					 seen[f]->text, lfp_layer_info(conn->layer)->name);
	}
	conn_ipver(rc, conn, seen);
	if (!rc->errors) /* a value already refused is not reported twice */
		conn_icmp(rc, conn, seen);
	return 0;
}

int lfp_conn_parse(const char *text, struct lfp_conn *conn, struct lfp_diags *diags)
{
	struct lfp_diags local = { 0 };
	struct rule_ctx rc = { .diags = diags ? diags : &local };
	struct rule_toks tk = { 0 };
	size_t n0;
	int r;

	if (!text || !conn)
		return -EINVAL;
	memset(conn, 0, sizeof(*conn));
	if (!rc.diags->file && lfp_diags_set_file(rc.diags, NULL))
		return -ENOMEM;
	n0 = rc.diags->n;
	r = rule_lex(text, &tk, &rc);
	if (!r)
		r = conn_parse_toks(&rc, &tk, conn);
	if (!r && rc.nomem)
		r = -ENOMEM;
	if (!r && rc.errors)
		r = -EINVAL;
	rule_toks_fini(&tk);
	rule_diags_sort(rc.diags, n0);
	if (r) {
		lfp_conn_fini(conn);
		memset(conn, 0, sizeof(*conn));
	}
	if (!diags)
		lfp_diags_fini(&local);
	return r;
}
