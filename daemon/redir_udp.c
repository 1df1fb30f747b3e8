// SPDX-License-Identifier: MIT
/*
 * The redirector's UDP side (docs/redirect.md, "UDP through the redirector").
 *
 * The kernel sends each (application socket, original destination) to its
 * own relay port (LFP_REDIR_UDP_SLOTS of them, on 127.0.0.1 and ::1), and
 * records the original under (socket address, socket port, relay port) at
 * the first datagram. Here a datagram's source and arrival port name a
 * session; a session owns the upstream side:
 *  - direct: a UDP socket connected to the original destination;
 *  - socks5: a TCP control connection with UDP ASSOCIATE (RFC 1928 §7) and a
 *    UDP socket connected to the relay the server named; each datagram
 *    carries the SOCKS5 header with the original destination, as the seed
 *    wanted, and the server's replies carry it back (stripped here).
 * Replies go back to the application from the relay port it sent to, so the
 * kernel's recvmsg hook shows them as coming from the original peer.
 *
 * A session ends after the idle timeout, when the SOCKS5 control connection
 * closes, or on an error; the next datagram starts a new one. Datagrams
 * that cannot be delivered are dropped (UDP), counted in the session's
 * event; a session that fails to set up is reported once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <bpf/bpf.h>

#include <lfp/common.h>
#include "redir_int.h"
#include "redir_proto.h"

#define UQ_MAX	       16 /* datagrams held while a SOCKS5 association is set up */
#define UDP_IDLE_MS    60000
#define UDP_SETUP_MS   5000
#define UDGRAM_MAX     65536
#define UNKNOWN_REPORT 1000 /* ms between reports of datagrams without a record */

enum { US_CONNECTING, US_HANDSHAKE, US_READY };
enum { HS_METHOD, HS_AUTH, HS_REPLY };

struct uref {
	int kind; /* REF_USESS */
	struct usess *s;
	int which; /* 0: SOCKS5 control, 1: upstream UDP */
};

struct udgram {
	size_t len;
	uint8_t data[];
};

struct usess {
	struct usess *next, *prev, *hnext;
	bool dead;
	struct lfp_redir_key key;
	struct lfp_redir_orig orig;
	struct sockaddr_storage app; /* the application's socket: replies go there */
	struct uslot *slot;
	struct redir_url url;
	char pub[320];
	struct sockaddr_storage dst; /* the original destination */
	int ctl, ufd;
	struct uref ref[2];
	uint32_t mask[2];
	int state, hs;
	uint8_t out[600];
	size_t out_len, out_off;
	uint8_t in[300];
	size_t in_len;
	struct udgram *q[UQ_MAX];
	size_t nq;
	uint64_t bytes[2], dropped;
	uint64_t last_ms, deadline_ms;
};

static uint8_t dgram[UDGRAM_MAX]; /* relay thread only */

static unsigned bucket(const struct lfp_redir_key *k)
{
	uint32_t h = 2166136261u;
	const uint8_t *p = (const uint8_t *)k;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h % USESS_BUCKETS;
}

/* ---- relay ports ---- */

static int bind_udp(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	int fd, one = 1;

	redir_loopback(family, port, &ss);
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, redir_ss_len(&ss))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static void slots_close(struct redir *r)
{
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < LFP_REDIR_UDP_SLOTS; i++) {
			if (r->uslots[f][i].fd >= 0)
				close(r->uslots[f][i].fd);
			r->uslots[f][i].fd = -1;
		}
}

int redir_udp_open(struct redir *r)
{
	struct epoll_event ev = { .events = EPOLLIN };
	static const int fams[2] = { AF_INET, AF_INET6 };
	uint32_t seed = (uint32_t)getpid() ^ (uint32_t)redir_now_ms();

	/* LFP_REDIR_UDP_SLOTS consecutive free ports on both families */
	for (int attempt = 0; attempt < 32; attempt++) {
		uint16_t base;
		int f, i, fd = 0;

		seed = seed * 1103515245u + 12345u;
		base = (uint16_t)(20000 + (seed >> 8) % 30000);
		for (f = 0; f < 2 && fd >= 0; f++) {
			for (i = 0; i < LFP_REDIR_UDP_SLOTS; i++) {
				fd = bind_udp(fams[f], (uint16_t)(base + i));
				if (fd < 0)
					break;
				r->uslots[f][i] = (struct uslot){ .kind = REF_USLOT,
								  .fd = fd,
								  .family = fams[f],
								  .port = (uint16_t)(base + i) };
			}
		}
		if (fd >= 0) {
			r->uport = base;
			for (f = 0; f < 2; f++)
				for (i = 0; i < LFP_REDIR_UDP_SLOTS; i++) {
					ev.data.ptr = &r->uslots[f][i];
					epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->uslots[f][i].fd, &ev);
				}
			return 0;
		}
		slots_close(r);
		if (fd != -EADDRINUSE)
			return fd;
	}
	return -EADDRINUSE;
}

/* ---- sessions ---- */

static void sess_set(struct redir *r, struct usess *s, int which, uint32_t mask)
{
	int fd = which ? s->ufd : s->ctl;
	struct epoll_event ev = { .events = mask, .data.ptr = &s->ref[which] };

	if (fd < 0 || mask == s->mask[which])
		return;
	if (!mask)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
	else
		epoll_ctl(r->epfd, s->mask[which] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	s->mask[which] = mask;
}

static void sess_end(struct redir *r, struct usess *s, uint8_t verdict, const char *how)
{
	struct usess **pp = &r->ubuckets[bucket(&s->key)];

	if (s->dead)
		return;
	if (verdict == LFP_V_BLOCK)
		lfp_print(LFP_WARN, "lfpd: UDP redirect of %u to upstream %s failed: %s\n",
			  s->orig.pid, s->pub, how);
	redir_emit(r, &s->key, &s->orig, &s->url, IPPROTO_UDP, verdict, s->bytes[0], s->bytes[1],
		   "%s%s%s", s->pub, verdict == LFP_V_BLOCK ? " failed: " : how ? " " : "",
		   how ? how : "");
	for (int w = 0; w < 2; w++) {
		int fd = w ? s->ufd : s->ctl;

		if (fd >= 0) {
			if (s->mask[w])
				epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
	}
	s->ctl = s->ufd = -1;
	for (size_t i = 0; i < s->nq; i++)
		free(s->q[i]);
	s->nq = 0;
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		r->usess = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->n_usess--;
	explicit_bzero(&s->url, sizeof(s->url));
	explicit_bzero(s->out, sizeof(s->out));
	s->dead = true;
	s->next = r->udead;
	r->udead = s;
}

void redir_udp_graveyard(struct redir *r)
{
	while (r->udead) {
		struct usess *s = r->udead;

		r->udead = s->next;
		free(s);
	}
}

/* One datagram to the upstream. */
static void sess_send(struct redir *r, struct usess *s, const uint8_t *b, size_t n)
{
	ssize_t w;

	if (s->url.kind == REDIR_SOCKS5) {
		uint8_t hdr[24];
		struct iovec iov[2] = {
			{ .iov_base = hdr,
			  .iov_len = socks5_udp_header(hdr, (struct sockaddr *)&s->dst) },
			{ .iov_base = (void *)b, .iov_len = n },
		};

		w = writev(s->ufd, iov, 2);
	} else {
		w = send(s->ufd, b, n, 0);
	}
	if (w < 0)
		s->dropped++;
	else
		s->bytes[0] += n;
	s->last_ms = redir_now_ms();
}

static void sess_ready(struct redir *r, struct usess *s)
{
	/* a UDP session may live long: report its start, and its bytes at the end */
	redir_emit(r, &s->key, &s->orig, &s->url, IPPROTO_UDP, LFP_V_REDIRECT, 0, 0,
		   "%s (UDP session started)", s->pub);
	s->state = US_READY;
	s->last_ms = redir_now_ms();
	sess_set(r, s, 1, EPOLLIN);
	for (size_t i = 0; i < s->nq; i++) {
		sess_send(r, s, s->q[i]->data, s->q[i]->len);
		free(s->q[i]);
	}
	s->nq = 0;
}

/* A UDP socket connected to @p to. @return fd or -errno. */
static int udp_to(const struct sockaddr_storage *to)
{
	int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)to, redir_ss_len(to))) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static struct usess *sess_new(struct redir *r, struct uslot *slot,
			      const struct sockaddr_storage *peer, const struct lfp_redir_key *key)
{
	struct usess *s;
	unsigned b = bucket(key);
	int fd;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = *key;
	s->app = *peer;
	s->slot = slot;
	s->ctl = s->ufd = -1;
	for (int w = 0; w < 2; w++) {
		s->ref[w].kind = REF_USESS;
		s->ref[w].s = s;
		s->ref[w].which = w;
	}
	s->last_ms = redir_now_ms();
	s->deadline_ms = s->last_ms + UDP_SETUP_MS;
	snprintf(s->pub, sizeof(s->pub), "?");
	s->next = r->usess;
	if (r->usess)
		r->usess->prev = s;
	r->usess = s;
	s->hnext = r->ubuckets[b];
	r->ubuckets[b] = s;
	r->n_usess++;

	if (r->orig_fd < 0 || bpf_map_lookup_elem(r->orig_fd, key, &s->orig)) {
		memset(&s->orig, 0, sizeof(s->orig));
		memcpy(s->orig.oaddr, key->addr, 16);
		sess_end(r, s, LFP_V_BLOCK, "no original destination recorded for this datagram");
		return NULL;
	}
	if (redir_upstream_get(r, s->orig.upstream, &s->url, s->pub, sizeof(s->pub))) {
		sess_end(r, s, LFP_V_BLOCK, "unknown upstream");
		return NULL;
	}
	redir_addr_from16(s->orig.oaddr, s->orig.oport, &s->dst);
	switch (s->url.kind) {
	case REDIR_DIRECT:
		fd = udp_to(&s->dst);
		if (fd < 0) {
			sess_end(r, s, LFP_V_BLOCK, strerror(-fd));
			return NULL;
		}
		s->ufd = fd;
		sess_ready(r, s);
		return s;
	case REDIR_SOCKS5:
		s->ctl = socket(s->url.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->ctl < 0 || (connect(s->ctl, (struct sockaddr *)&s->url.addr, s->url.addrlen) &&
				   errno != EINPROGRESS)) {
			sess_end(r, s, LFP_V_BLOCK, strerror(errno));
			return NULL;
		}
		s->state = US_CONNECTING;
		sess_set(r, s, 0, EPOLLOUT);
		return s;
	default:
		sess_end(r, s, LFP_V_BLOCK, "this upstream carries no UDP");
		return NULL;
	}
}

static int out_flush(struct usess *s)
{
	while (s->out_off < s->out_len) {
		ssize_t n = send(s->ctl, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		s->out_off += (size_t)n;
	}
	return 1;
}

static void out_set(struct usess *s, size_t n)
{
	s->out_len = n;
	s->out_off = 0;
}

/* The SOCKS5 control connection: connect, handshake, then only watch for its end. */
static void sess_ctl(struct redir *r, struct usess *s)
{
	struct sockaddr_in any4 = { .sin_family = AF_INET };
	struct sockaddr_in6 any6 = { .sin6_family = AF_INET6 };
	struct sockaddr_storage bnd;
	const char *why = "?";
	int err = 0, n, fd;
	socklen_t len = sizeof(err);

	if (s->state == US_CONNECTING) {
		if (getsockopt(s->ctl, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			sess_end(r, s, LFP_V_BLOCK, strerror(err ? err : errno));
			return;
		}
		out_set(s, socks5_greeting(s->out, s->url.user[0] != 0));
		s->hs = HS_METHOD;
		s->state = US_HANDSHAKE;
	}
	if (s->state == US_READY) {
		/* the association lives as long as its control connection */
		ssize_t got = recv(s->ctl, s->in, sizeof(s->in), 0);

		if (got == 0 || (got < 0 && errno != EAGAIN))
			sess_end(r, s, LFP_V_REDIRECT, "(the SOCKS5 server ended the association)");
		return;
	}
	for (;;) {
		ssize_t got;

		n = out_flush(s);
		if (n < 0) {
			sess_end(r, s, LFP_V_BLOCK, strerror(-n));
			return;
		}
		sess_set(r, s, 0, n ? EPOLLIN : EPOLLIN | EPOLLOUT);
		got = recv(s->ctl, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);
		if (got == 0) {
			sess_end(r, s, LFP_V_BLOCK,
				 "the upstream closed the connection during its handshake");
			return;
		}
		if (got < 0) {
			if (errno != EAGAIN)
				sess_end(r, s, LFP_V_BLOCK, strerror(errno));
			return;
		}
		s->in_len += (size_t)got;
		switch (s->hs) {
		case HS_METHOD:
			n = socks5_parse_method(s->in, s->in_len, s->url.user[0] != 0, &why);
			break;
		case HS_AUTH: n = socks5_parse_auth(s->in, s->in_len, &why); break;
		default: n = socks5_parse_reply(s->in, s->in_len, &bnd, &why); break;
		}
		if (n < 0) {
			sess_end(r, s, LFP_V_BLOCK, why);
			return;
		}
		if (n == 0) {
			if (s->in_len == sizeof(s->in)) {
				sess_end(r, s, LFP_V_BLOCK, "oversized reply from the upstream");
				return;
			}
			continue;
		}
		memmove(s->in, s->in + n, s->in_len - (size_t)n);
		s->in_len -= (size_t)n;
		if (s->hs == HS_METHOD && s->url.user[0]) {
			out_set(s, socks5_auth_req(s->out, s->url.user, s->url.pass));
			s->hs = HS_AUTH;
			continue;
		}
		if (s->hs != HS_REPLY) {
			/* UDP ASSOCIATE from an address not known yet: all zeros (RFC 1928 §7) */
			out_set(s, socks5_request(s->out, 3,
						  s->url.addr.ss_family == AF_INET6
							  ? (struct sockaddr *)&any6
							  : (struct sockaddr *)&any4));
			s->hs = HS_REPLY;
			continue;
		}
		/* BND.ADDR:BND.PORT is the server's relay; an unspecified address means
		 * the server's own */
		if (bnd.ss_family == AF_INET &&
		    !((struct sockaddr_in *)&bnd)->sin_addr.s_addr && s->url.addr.ss_family == AF_INET)
			((struct sockaddr_in *)&bnd)->sin_addr =
				((struct sockaddr_in *)&s->url.addr)->sin_addr;
		else if (bnd.ss_family == AF_INET6 &&
			 IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&bnd)->sin6_addr) &&
			 s->url.addr.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&bnd)->sin6_addr =
				((struct sockaddr_in6 *)&s->url.addr)->sin6_addr;
		if (bnd.ss_family != AF_INET && bnd.ss_family != AF_INET6) {
			sess_end(r, s, LFP_V_BLOCK, "the SOCKS5 server named its UDP relay by name");
			return;
		}
		fd = udp_to(&bnd);
		if (fd < 0) {
			sess_end(r, s, LFP_V_BLOCK, strerror(-fd));
			return;
		}
		s->ufd = fd;
		explicit_bzero(s->out, sizeof(s->out));
		sess_set(r, s, 0, EPOLLIN);
		sess_ready(r, s);
		return;
	}
}

/* Replies from the upstream, back to the application from its relay port. */
static void sess_upstream(struct redir *r, struct usess *s)
{
	for (int k = 0; k < 64; k++) {
		const uint8_t *p = dgram;
		const char *why;
		ssize_t n = recv(s->ufd, dgram, sizeof(dgram), 0);
		int h;

		if (n < 0) {
			if (errno != EAGAIN && errno != ECONNREFUSED)
				sess_end(r, s, LFP_V_BLOCK, strerror(errno));
			return;
		}
		if (s->url.kind == REDIR_SOCKS5) {
			h = socks5_udp_parse(dgram, (size_t)n, NULL, &why);
			if (h < 0) {
				s->dropped++; /* a bad datagram is dropped, the session goes on */
				continue;
			}
			p += h;
			n -= h;
		}
		if (sendto(s->slot->fd, p, (size_t)n, 0, (struct sockaddr *)&s->app,
			   redir_ss_len(&s->app)) < 0)
			s->dropped++;
		else
			s->bytes[1] += (uint64_t)n;
		s->last_ms = redir_now_ms();
	}
}

static void slot_readable(struct redir *r, struct uslot *slot)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct lfp_redir_key key;
		struct usess *s;
		ssize_t n;

		n = recvfrom(slot->fd, dgram, sizeof(dgram), 0, (struct sockaddr *)&peer, &plen);
		if (n < 0)
			return;
		memset(&key, 0, sizeof(key));
		redir_addr_to16(&peer, key.addr, &key.port);
		key.proto = IPPROTO_UDP;
		key.relay = slot->port;
		for (s = r->ubuckets[bucket(&key)]; s; s = s->hnext)
			if (!memcmp(&s->key, &key, sizeof(key)))
				break;
		if (!s) {
			struct lfp_redir_orig probe;

			if (r->orig_fd < 0 || bpf_map_lookup_elem(r->orig_fd, &key, &probe)) {
				/* not a redirected flow: report now and then, never flood */
				uint64_t now = redir_now_ms();

				if (now - r->unknown_last_ms < UNKNOWN_REPORT)
					continue;
				r->unknown_last_ms = now;
			}
			s = sess_new(r, slot, &peer, &key);
			if (!s)
				continue;
		}
		if (s->state == US_READY) {
			sess_send(r, s, dgram, (size_t)n);
		} else if (s->nq < UQ_MAX) {
			struct udgram *d = malloc(sizeof(*d) + (size_t)n);

			if (!d) {
				s->dropped++;
				continue;
			}
			d->len = (size_t)n;
			memcpy(d->data, dgram, (size_t)n);
			s->q[s->nq++] = d;
		} else {
			s->dropped++;
		}
	}
}

void redir_udp_event(struct redir *r, void *tag, uint32_t events)
{
	if (*(int *)tag == REF_USLOT) {
		slot_readable(r, tag);
	} else {
		struct uref *u = tag;

		if (u->s->dead)
			return;
		if (u->which == 0)
			sess_ctl(r, u->s);
		else
			sess_upstream(r, u->s);
	}
}

void redir_udp_timeouts(struct redir *r, uint64_t now)
{
	for (struct usess *s = r->usess, *next; s; s = next) {
		next = s->next;
		if (s->state != US_READY && now >= s->deadline_ms)
			sess_end(r, s, LFP_V_BLOCK, "the upstream did not set up UDP in time");
		else if (s->state == US_READY && now - s->last_ms >= UDP_IDLE_MS)
			sess_end(r, s, LFP_V_REDIRECT, "idle timeout");
	}
}

void redir_udp_close(struct redir *r)
{
	while (r->usess)
		sess_end(r, r->usess, LFP_V_REDIRECT, "lfpd is stopping");
	redir_udp_graveyard(r);
	slots_close(r);
}
