/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bind-redirect (WFP's ALE_BIND_REDIRECT): `redirect to H:P` rewrites the
 * local address and port of a bind() before the kernel takes them, at
 * cgroup/bind4/6, in the caller's context. The target comes from the
 * redirect target table the connect-redirect work keeps per generation
 * (common/lfp_redirect.h; `to H:P` only: the parser refuses proxies here).
 * Included by lfp.bpf.c after redirect.bpf.h and ale_flow.bpf.h.
 * docs/kernel.md, "bind-redirect", describes it.
 */
#pragma once

/*
 * The layer takes permit, callout and redirect: nothing but a redirect
 * that cannot be carried out (no target for the socket's family, an IPv6
 * target for an IPv4 socket) refuses the bind (EPERM, never a silent bind
 * to the address the policy moves away from). A redirect is always
 * reported (the new local end, the asked-for one as orig), a permit when
 * its filter says `log`. A layer without filters costs one array lookup.
 */
static __always_inline int ale_bind_redirect(struct bpf_sock_addr *ctx, bool v6)
{
	const struct lfp_redir_target *t = NULL;
	struct lfp_eval_out *out;
	struct lfp_eval_in *in;
	struct scratch *sc;
	struct lfp_event *e;
	const __u8 *na = NULL;
	__u16 np = 0;
	__u32 idx;
	int allow = 1;

	if (!ale_layer_used(LFP_LAYER_BIND_REDIRECT))
		return 1;
	sc = scratch_get();
	if (!sc) {
		stat_inc(LFP_STAT_ERRORS);
		return 0;
	}
	in = &sc->in;
	out = &sc->out;
	in->layer = LFP_LAYER_BIND_REDIRECT;
	in->proto = ctx->protocol;
	if (v6)
		addr_v6(in->laddr, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			ctx->user_ip6[3]);
	else
		addr_v4mapped(in->laddr, ctx->user_ip4);
	in->lport = bpf_ntohs((__u16)ctx->user_port);
	in->ipver = v6 && !addr_is_v4mapped(in->laddr) ? 6 : 4;
	if (addr_is_loopback(in->laddr))
		in->flags |= LFP_CF_LOOPBACK;
	ident_current(in, &sc->tid, sc->comm);
	lfp_classify(in, out, &sc->gen);
	if (out->verdict == LFP_V_REDIRECT && out->filter_idx >= 0) {
		idx = LFP_REDIR_TARGET_IDX(sc->gen, out->kf.target);
		t = bpf_map_lookup_elem(&lfp_redir_targets, &idx);
		if (t && !(t->flags & LFP_RT_REDIRECTOR)) {
			if (in->ipver == 4 && (t->flags & LFP_RT_HAS4)) {
				na = t->addr4;
				np = t->port4;
			} else if (in->ipver == 6 && (t->flags & LFP_RT_HAS6)) {
				na = t->addr6;
				np = t->port6;
			}
		}
		/* an IPv4 socket can only be bound to an IPv4 address */
		if (na && !v6 && !addr_is_v4mapped(na))
			na = NULL;
		if (na) {
			redir_set_dst(ctx, v6, na, np);
		} else {
			stat_inc(LFP_STAT_ERRORS);
			allow = 0;
		}
	}
	if (na || !allow || out->notify || (out->filter_idx >= 0 && (out->kf.flags & LFP_FF_LOG))) {
		/* no remote: the unspecified address of the family, in oaddr's place
		 * of the input (unused here) until the event takes the original */
		__builtin_memset(in->oaddr, 0, 16);
		if (in->ipver == 4)
			addr_v4mapped(in->oaddr, 0);
		e = event_flow(allow ? out->verdict : LFP_V_BLOCK, out_filter_id(out), in->flags,
			       in->proto, na ? na : in->laddr, na ? np : in->lport, in->oaddr, 0,
			       bpf_get_socket_cookie(ctx));
		if (e) {
			e->layer = LFP_LAYER_BIND_REDIRECT;
			e->ipver = in->ipver;
			if (na) {
				/* the local end the application asked for */
				__builtin_memcpy(e->oaddr, in->laddr, 16);
				e->oport = in->lport;
				e->flags |= LFP_CF_REDIRECTED;
			}
			event_who_in(e, in, sc->comm);
			ring_submit(e);
		}
	}
	scratch_put(sc);
	return allow;
}
