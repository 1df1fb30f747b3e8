// SPDX-License-Identifier: MIT
/*
 * Redirect targets: from a filter's `redirect` text to the kernel's target
 * table (common/lfp_redirect.h) and the redirector's upstream table.
 *
 * Upstream ids are interned by text and never reused while lfpd runs: a
 * flow recorded under an older generation still finds its upstream after a
 * commit replaced the filter.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "redir_int.h"

static int host_port(const char *s, struct redir_url *u, char *err, size_t errsz)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	char *end;
	unsigned long p;
	size_t hl;

	memset(&u->addr, 0, sizeof(u->addr));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u->addr;

		if (!close || (size_t)(close - s - 1) >= sizeof(host))
			goto bad;
		hl = (size_t)(close - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			goto bad;
		a6->sin6_family = AF_INET6;
		u->addrlen = sizeof(*a6);
		port = close + 1;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&u->addr;
		const char *colon = strchr(s, ':');

		if (!colon || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		hl = (size_t)(colon - s);
		memcpy(host, s, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto bad;
		a4->sin_family = AF_INET;
		u->addrlen = sizeof(*a4);
		port = colon;
	}
	if (port[0] != ':' || !port[1])
		goto bad;
	errno = 0;
	p = strtoul(port + 1, &end, 10);
	if (errno || *end || p < 1 || p > 65535)
		goto bad;
	if (u->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&u->addr)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)&u->addr)->sin6_port = htons((uint16_t)p);
	return 0;
bad:
	snprintf(err, errsz, "invalid HOST:PORT '%s' (an IPv4 address or [IPv6]:PORT)", s);
	return -EINVAL;
}

int redir_url_parse(const char *text, struct redir_url *u, char *err, size_t errsz)
{
	const char *rest, *at;

	memset(u, 0, sizeof(*u));
	if (!text) {
		snprintf(err, errsz, "no redirect target");
		return -EINVAL;
	}
	if (!strcmp(text, "direct")) {
		u->kind = REDIR_DIRECT;
		return 0;
	}
	if (!strncmp(text, "to ", 3)) {
		u->kind = REDIR_TO;
		return host_port(text + 3, u, err, errsz);
	}
	if (!strncmp(text, "http://", 7)) {
		u->kind = REDIR_HTTP;
		rest = text + 7;
		if (strchr(rest, '@')) {
			snprintf(err, errsz, "credentials are allowed only in socks5:// URLs");
			return -EINVAL;
		}
		return host_port(rest, u, err, errsz);
	}
	if (strncmp(text, "socks5://", 9)) {
		snprintf(err, errsz, "unknown redirect target (socks5://H:P, http://H:P, direct, "
				     "to H:P)");
		return -EINVAL;
	}
	u->kind = REDIR_SOCKS5;
	rest = text + 9;
	at = strrchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		size_t ul, pl;

		if (!colon || colon == rest) {
			snprintf(err, errsz, "socks5 credentials are written USER:PASS@");
			return -EINVAL;
		}
		ul = (size_t)(colon - rest);
		pl = (size_t)(at - colon - 1);
		if (ul > 255 || pl > 255) {
			snprintf(err, errsz, "socks5 user and password are at most 255 bytes each");
			return -EINVAL;
		}
		memcpy(u->user, rest, ul);
		u->user[ul] = 0;
		memcpy(u->pass, colon + 1, pl);
		u->pass[pl] = 0;
		rest = at + 1;
	}
	return host_port(rest, u, err, errsz);
}

void redir_url_public(const char *text, char *buf, size_t size)
{
	const char *at, *colon;

	if (!text) {
		snprintf(buf, size, "?");
		return;
	}
	at = strncmp(text, "socks5://", 9) ? NULL : strrchr(text + 9, '@');
	colon = at ? memchr(text + 9, ':', (size_t)(at - text - 9)) : NULL;
	if (!colon) {
		snprintf(buf, size, "%s", text);
		return;
	}
	snprintf(buf, size, "%.*s:***%s", (int)(colon - text), text, at);
}

/* The id of @p text in the upstream table, adding it. @return id > 0, or 0 (out of memory). */
static uint32_t upstream_intern(struct redir *r, const char *text, const struct redir_url *u)
{
	struct redir_upstream *up, **grown;
	uint32_t id = 0;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_ups; i++) {
		if (!strcmp(r->ups[i]->text, text)) {
			id = r->ups[i]->id;
			goto out;
		}
	}
	up = calloc(1, sizeof(*up));
	grown = realloc(r->ups, (r->n_ups + 1) * sizeof(*r->ups));
	if (!up || !grown || !(up->text = strdup(text))) {
		if (grown)
			r->ups = grown;
		free(up);
		goto out;
	}
	r->ups = grown;
	up->id = (uint32_t)r->n_ups + 1;
	up->url = *u;
	redir_url_public(text, up->pub, sizeof(up->pub));
	r->ups[r->n_ups++] = up;
	id = up->id;
out:
	pthread_mutex_unlock(&r->mu);
	return id;
}

int redir_upstream_get(struct redir *r, uint32_t id, struct redir_url *url, char *pub,
		       size_t pubsz)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&r->mu);
	if (id >= 1 && id <= r->n_ups) {
		*url = r->ups[id - 1]->url;
		snprintf(pub, pubsz, "%s", r->ups[id - 1]->pub);
		ret = 0;
	}
	pthread_mutex_unlock(&r->mu);
	return ret;
}

void redir_upstreams_free(struct redir *r)
{
	for (size_t i = 0; i < r->n_ups; i++) {
		/* credentials do not outlive their use in freed memory */
		explicit_bzero(r->ups[i]->text, strlen(r->ups[i]->text));
		explicit_bzero(&r->ups[i]->url, sizeof(r->ups[i]->url));
		free(r->ups[i]->text);
		free(r->ups[i]);
	}
	free(r->ups);
	r->ups = NULL;
	r->n_ups = 0;
}

static void mapped4(__u8 *a, const struct in_addr *in)
{
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	memcpy(a + 12, in, 4);
}

/* The kernel target of @p u (upstream @p up for the redirector). */
static void target_of(const struct redir *r, const struct redir_url *u, uint32_t up,
		      struct lfp_redir_target *t)
{
	struct in_addr lo4 = { htonl(INADDR_LOOPBACK) };

	memset(t, 0, sizeof(*t));
	if (u->kind == REDIR_TO) {
		if (u->addr.ss_family == AF_INET) {
			const struct sockaddr_in *a4 = (const struct sockaddr_in *)&u->addr;

			/* dual-stack IPv6 sockets reach an IPv4 target v4-mapped */
			mapped4(t->addr4, &a4->sin_addr);
			memcpy(t->addr6, t->addr4, 16);
			t->port4 = t->port6 = ntohs(a4->sin_port);
			t->flags = LFP_RT_HAS4 | LFP_RT_HAS6;
		} else {
			const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&u->addr;

			memcpy(t->addr6, &a6->sin6_addr, 16);
			t->port6 = ntohs(a6->sin6_port);
			t->flags = LFP_RT_HAS6;
		}
		return;
	}
	mapped4(t->addr4, &lo4);
	memcpy(t->addr6, &in6addr_loopback, 16);
	t->port4 = t->port6 = r->port;
	t->flags = LFP_RT_HAS4 | LFP_RT_HAS6 | LFP_RT_REDIRECTOR;
	t->upstream = up;
	/* UDP: relayed direct or through SOCKS5 UDP ASSOCIATE; an HTTP proxy has no UDP */
	if (u->kind != REDIR_HTTP && r->uport) {
		t->uport = r->uport;
		t->uslots = LFP_REDIR_UDP_SLOTS;
	}
}

int redir_targets_lower(struct redir *r, struct lfp_lowered *lw, uint64_t gen,
			struct lfp_diags *diags)
{
	struct lfp_redir_target tab[LFP_REDIR_TARGETS];
	size_t n = 0;
	char err[160];
	int ret = 0;

	memset(tab, 0, sizeof(tab));
	for (size_t i = 0; i < lw->n_filters; i++) {
		const struct lfp_filter *f = lw->filter_src[i];
		struct lfp_redir_target t;
		struct redir_url u;
		uint32_t up = 0;
		size_t k;

		if (lw->filters[i].action != LFP_ACT_REDIRECT || !f)
			continue;
		if (redir_url_parse(f->action.redirect, &u, err, sizeof(err))) {
			lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL, "filter '%s': %s",
				      f->name ? f->name : "(unnamed)", err);
			ret = -EINVAL;
			continue;
		}
		if (u.kind != REDIR_TO) {
			if (!r) {
				lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
					      "filter '%s': this lfpd runs no redirector (only "
					      "'redirect to H:P' works without one)",
					      f->name ? f->name : "(unnamed)");
				ret = -EOPNOTSUPP;
				continue;
			}
			up = upstream_intern(r, f->action.redirect, &u);
			if (!up) {
				ret = -ENOMEM;
				break;
			}
		}
		target_of(r, &u, up, &t);
		explicit_bzero(&u, sizeof(u));
		for (k = 0; k < n; k++)
			if (!memcmp(&tab[k], &t, sizeof(t)))
				break;
		if (k == n) {
			if (n == LFP_REDIR_TARGETS) {
				lfp_diags_add(diags, LFP_DIAG_ERROR, f->loc, NULL,
					      "filter '%s': more than %d distinct redirect "
					      "targets",
					      f->name ? f->name : "(unnamed)", LFP_REDIR_TARGETS);
				ret = -E2BIG;
				break;
			}
			tab[n++] = t;
		}
		lw->filters[i].target = (__u16)k;
	}
	if (ret || !r || r->targets_fd < 0)
		return ret;
	for (__u32 k = 0; k < LFP_REDIR_TARGETS; k++) {
		__u32 idx = LFP_REDIR_TARGET_IDX(gen, k);

		if (bpf_map_update_elem(r->targets_fd, &idx, &tab[k], BPF_ANY))
			return -errno;
	}
	return 0;
}
