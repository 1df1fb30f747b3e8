// SPDX-License-Identifier: MIT
/*
 * The redirector's relay (redir.h, docs/redirect.md): listeners on
 * 127.0.0.1 and ::1, accept, the original destination out of the kernel's
 * record, the upstream connect and handshake, then splice(2) both ways.
 *
 * One thread, one epoll loop, level-triggered. A flow owns two sockets and
 * one pipe per direction; the pipes are the relay's buffers, so data moves
 * socket → pipe → socket without a copy through user space. A direction
 * reads only while its pipe has room and writes only while its pipe holds
 * data: a slow reader stops its writer (back-pressure). EOF on one side is
 * passed on as a half-close (shutdown SHUT_WR) once the pipe is drained; the
 * flow ends when both directions did.
 *
 * Failure: a flow whose upstream cannot be reached, refuses, or answers
 * garbage is reset (SO_LINGER 0: the application sees ECONNRESET at once),
 * and reported. Never a fallback to a direct connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <bpf/bpf.h>

#include <lfp/common.h>
#include "kern.h"
#include "redir_int.h"
#include "redir_proto.h"

#define PIPE_CAP      (256u * 1024)
#define IDLE_DEFAULT  300
#define CONNECT_DEF   5000
#define BACKLOG	      4096
#define TAG_STOP      ((void *)1)
#define TAG_LISTEN4   ((void *)2)
#define TAG_LISTEN6   ((void *)3)

enum cstate {
	C_CONNECTING,
	C_SOCKS_METHOD,
	C_SOCKS_AUTH,
	C_SOCKS_REPLY,
	C_HTTP_REPLY,
	C_RELAY,
};

struct side_ref {
	int kind; /* REF_TCP */
	struct rconn *c;
	int side;
};

struct rconn {
	struct rconn *next, *prev;
	bool dead; /* freed at the end of the epoll batch (later events may name it) */
	int fd[2]; /* 0: the application's (accepted), 1: upstream */
	struct side_ref ref[2];
	uint32_t mask[2]; /* epoll interest; 0 = not registered */
	int pipe[2][2];	  /* pipe[d]: direction d, 0: app → upstream, 1: upstream → app */
	size_t queued[2];
	bool rd_eof[2];	 /* fd[d] has nothing more to read */
	bool wr_shut[2]; /* direction d's destination got its half-close */
	enum cstate st;
	uint64_t bytes[2];
	uint64_t deadline_ms; /* connect and handshake must be done by then */
	uint64_t last_ms;
	struct redir_url url;
	char pub[320];
	struct lfp_redir_key key;
	struct lfp_redir_orig orig;
	struct sockaddr_storage dst; /* the original destination */
	uint8_t out[600];
	size_t out_len, out_off;
	uint8_t *in; /* handshake reply, REDIR_HTTP_REPLY_MAX bytes while handshaking */
	size_t in_len;
};

uint64_t redir_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void redir_addr_to16(const struct sockaddr_storage *ss, __u8 *a, __u16 *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;

		memcpy(a, &a6->sin6_addr, 16);
		*port = ntohs(a6->sin6_port);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &a4->sin_addr, 4);
		*port = ntohs(a4->sin_port);
	}
}

static bool is_v4mapped(const __u8 *a)
{
	static const __u8 pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pfx, 12);
}

void redir_addr_from16(const __u8 *a, __u16 port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (is_v4mapped(a)) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		memcpy(&a4->sin_addr, a + 12, 4);
		a4->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		memcpy(&a6->sin6_addr, a, 16);
		a6->sin6_port = htons(port);
	}
}

socklen_t redir_ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

void redir_loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
	}
}

/* ---- events ---- */

void redir_emit(struct redir *r, const struct lfp_redir_key *key,
		const struct lfp_redir_orig *orig, const struct redir_url *url, uint8_t proto,
		uint8_t verdict, uint64_t out, uint64_t in, const char *fmt, ...)
{
	struct redir_event re;
	struct lfp_event *e = &re.ev;
	struct sockaddr_storage up;
	struct timespec ts;
	va_list ap;

	memset(&re, 0, sizeof(re));
	/* CLOCK_MONOTONIC, as the kernel's bpf_ktime_get_ns() */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->ts_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	e->type = LFP_EV_CLASSIFY;
	e->layer = LFP_LAYER_CONNECT_REDIRECT;
	e->verdict = verdict;
	e->proto = proto;
	e->filter_id = orig->filter_id;
	e->cookie = orig->cookie;
	e->pid = orig->pid;
	e->uid = orig->uid;
	e->exe_dev = orig->exe_dev;
	e->exe_ino = orig->exe_ino;
	e->flags = LFP_CF_REDIRECTED;
	memcpy(e->laddr, key->addr, 16);
	e->lport = key->port;
	memcpy(e->oaddr, orig->oaddr, 16);
	e->oport = orig->oport;
	e->ipver = is_v4mapped(orig->oaddr) ? 4 : 6;
	/* remote: where the flow went (the upstream, or the original for direct) */
	if (url->kind == REDIR_DIRECT || !url->addrlen)
		redir_addr_from16(orig->oaddr, orig->oport, &up);
	else
		memcpy(&up, &url->addr, sizeof(up));
	redir_addr_to16(&up, e->raddr, &e->rport);
	re.bytes_out = out;
	re.bytes_in = in;
	va_start(ap, fmt);
	vsnprintf(re.note, sizeof(re.note), fmt, ap);
	va_end(ap);
	/* one write of less than PIPE_BUF is atomic; a full pipe loses the event, counted */
	if (write(r->evpipe[1], &re, sizeof(re)) != (ssize_t)sizeof(re))
		r->events_dropped++;
}

#define emit(r, c, verdict, ...)                                                               \
	redir_emit((r), &(c)->key, &(c)->orig, &(c)->url, IPPROTO_TCP, (verdict), (c)->bytes[0], \
		   (c)->bytes[1], __VA_ARGS__)

/* ---- flows ---- */

static void side_set(struct redir *r, struct rconn *c, int side, uint32_t mask)
{
	struct epoll_event ev = { .events = mask, .data.ptr = &c->ref[side] };

	if (c->fd[side] < 0 || mask == c->mask[side])
		return;
	/* a socket with nothing to wait for leaves the set: EPOLLHUP cannot be masked */
	if (!mask)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd[side], NULL);
	else
		epoll_ctl(r->epfd, c->mask[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[side], &ev);
	c->mask[side] = mask;
}

static void conn_free(struct redir *r, struct rconn *c, bool reset)
{
	for (int s = 0; s < 2; s++) {
		if (c->fd[s] < 0)
			continue;
		if (c->mask[s])
			epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd[s], NULL);
		if (reset) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(c->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd[s]);
	}
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++)
			if (c->pipe[d][k] >= 0)
				close(c->pipe[d][k]);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->n_conns--;
	free(c->in);
	c->in = NULL;
	explicit_bzero(&c->url, sizeof(c->url));
	explicit_bzero(c->out, sizeof(c->out));
	c->dead = true;
	c->next = r->dead;
	r->dead = c;
}

static void graveyard_empty(struct redir *r)
{
	while (r->dead) {
		struct rconn *c = r->dead;

		r->dead = c->next;
		free(c);
	}
}

/* The flow failed before or during the relay: reset the application's socket, report. */
static void conn_fail(struct redir *r, struct rconn *c, const char *why)
{
	lfp_print(LFP_WARN, "lfpd: redirect of %u to upstream %s failed: %s\n", c->orig.pid,
		  c->pub, why);
	emit(r, c, LFP_V_BLOCK, "%s failed: %s", c->pub, why);
	conn_free(r, c, true);
}

static void conn_done(struct redir *r, struct rconn *c, const char *how)
{
	emit(r, c, LFP_V_REDIRECT, "%s%s%s", c->pub, how ? " " : "", how ? how : "");
	conn_free(r, c, false);
}

static int relay_start(struct redir *r, struct rconn *c, size_t consumed);

/* Interest of each socket in the relay (see the file comment). */
static void relay_arm(struct redir *r, struct rconn *c)
{
	for (int s = 0; s < 2; s++) {
		uint32_t m = 0;

		if (!c->rd_eof[s] && c->queued[s] < PIPE_CAP)
			m |= EPOLLIN | EPOLLRDHUP;
		if (c->queued[1 - s])
			m |= EPOLLOUT;
		side_set(r, c, s, m);
	}
}

/* Move what can be moved in direction @p d. @return 0, or -errno (the flow is broken). */
static int pump(struct rconn *c, int d)
{
	int src = c->fd[d], dst = c->fd[1 - d];
	ssize_t n;
	bool progress;

	do {
		progress = false;
		if (!c->rd_eof[d] && c->queued[d] < PIPE_CAP) {
			n = splice(src, NULL, c->pipe[d][1], NULL, PIPE_CAP - c->queued[d],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				c->queued[d] += (size_t)n;
				progress = true;
			} else if (n == 0) {
				c->rd_eof[d] = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
		if (c->queued[d]) {
			n = splice(c->pipe[d][0], NULL, dst, NULL, c->queued[d],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				c->queued[d] -= (size_t)n;
				c->bytes[d] += (uint64_t)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
	} while (progress);
	if (c->rd_eof[d] && !c->queued[d] && !c->wr_shut[d]) {
		shutdown(dst, SHUT_WR);
		c->wr_shut[d] = true;
	}
	return 0;
}

static void relay_io(struct redir *r, struct rconn *c)
{
	int e;

	c->last_ms = redir_now_ms();
	for (int d = 0; d < 2; d++) {
		e = pump(c, d);
		if (e) {
			/* one side reset or vanished: the other one learns it the same way */
			conn_free(r, c, true);
			return;
		}
	}
	if (c->wr_shut[0] && c->wr_shut[1]) {
		conn_done(r, c, NULL);
		return;
	}
	relay_arm(r, c);
}

/* Send what is queued in c->out. @return 1 all sent, 0 wait, -errno. */
static int out_flush(struct rconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd[1], c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		c->out_off += (size_t)n;
	}
	return 1;
}

static void out_set(struct rconn *c, size_t len)
{
	c->out_len = len;
	c->out_off = 0;
}

/* The upstream is connected: start its protocol. */
static void upstream_connected(struct redir *r, struct rconn *c)
{
	size_t n;

	switch (c->url.kind) {
	case REDIR_SOCKS5:
		out_set(c, socks5_greeting(c->out, c->url.user[0] != 0));
		c->st = C_SOCKS_METHOD;
		break;
	case REDIR_HTTP:
		n = http_connect_req((char *)c->out, sizeof(c->out), (struct sockaddr *)&c->dst);
		out_set(c, n);
		c->st = C_HTTP_REPLY;
		break;
	default: relay_start(r, c, 0); return;
	}
	c->in = malloc(REDIR_HTTP_REPLY_MAX);
	if (!c->in) {
		conn_fail(r, c, "out of memory");
		return;
	}
	c->in_len = 0;
	side_set(r, c, 1, EPOLLIN | EPOLLOUT);
}

/* The upstream answered (some of) its handshake: parse, go on. */
static void handshake_io(struct redir *r, struct rconn *c)
{
	const char *why = "?";
	bool eof = false;
	int n;

	n = out_flush(c);
	if (n < 0) {
		conn_fail(r, c, strerror(-n));
		return;
	}
	side_set(r, c, 1, n ? EPOLLIN : EPOLLIN | EPOLLOUT);
	for (;;) {
		ssize_t got = recv(c->fd[1], c->in + c->in_len, REDIR_HTTP_REPLY_MAX - c->in_len, 0);

		if (got == 0) {
			/* a server that speaks first and closes may be right behind the
			 * reply: parse what came before judging the EOF */
			eof = true;
			break;
		}
		if (got < 0) {
			if (errno == EAGAIN)
				break;
			conn_fail(r, c, strerror(errno));
			return;
		}
		c->in_len += (size_t)got;
		if (c->in_len == REDIR_HTTP_REPLY_MAX)
			break;
	}
	for (;;) {
		int st;

		switch (c->st) {
		case C_SOCKS_METHOD:
			n = socks5_parse_method(c->in, c->in_len, c->url.user[0] != 0, &why);
			break;
		case C_SOCKS_AUTH: n = socks5_parse_auth(c->in, c->in_len, &why); break;
		case C_SOCKS_REPLY: n = socks5_parse_reply(c->in, c->in_len, NULL, &why); break;
		case C_HTTP_REPLY: n = http_parse_reply(c->in, c->in_len, &st, &why); break;
		default: return;
		}
		if (n < 0) {
			conn_fail(r, c, why);
			return;
		}
		if (n == 0) {
			if (c->in_len == REDIR_HTTP_REPLY_MAX) {
				conn_fail(r, c, "oversized reply from the upstream");
				return;
			}
			if (eof) {
				conn_fail(r, c,
					  "the upstream closed the connection during its handshake");
				return;
			}
			return; /* wait for more */
		}
		switch (c->st) {
		case C_SOCKS_METHOD:
			if (c->url.user[0]) {
				out_set(c, socks5_auth_req(c->out, c->url.user, c->url.pass));
				c->st = C_SOCKS_AUTH;
			} else {
				out_set(c, socks5_request(c->out, 1, (struct sockaddr *)&c->dst));
				c->st = C_SOCKS_REPLY;
			}
			break;
		case C_SOCKS_AUTH:
			out_set(c, socks5_request(c->out, 1, (struct sockaddr *)&c->dst));
			c->st = C_SOCKS_REPLY;
			break;
		default: relay_start(r, c, (size_t)n); return;
		}
		/* consume the reply, keep what followed it */
		memmove(c->in, c->in + n, c->in_len - (size_t)n);
		c->in_len -= (size_t)n;
		n = out_flush(c);
		if (n < 0) {
			conn_fail(r, c, strerror(-n));
			return;
		}
		side_set(r, c, 1, n ? EPOLLIN : EPOLLIN | EPOLLOUT);
	}
}

/* Handshake done; @p consumed bytes of c->in were its reply, the rest is stream data. */
static int relay_start(struct redir *r, struct rconn *c, size_t consumed)
{
	for (int d = 0; d < 2; d++) {
		if (pipe2(c->pipe[d], O_NONBLOCK | O_CLOEXEC)) {
			conn_fail(r, c, strerror(errno));
			return -1;
		}
		fcntl(c->pipe[d][1], F_SETPIPE_SZ, PIPE_CAP);
	}
	if (c->in && c->in_len > consumed) {
		/* a server that spoke first right behind the proxy's reply */
		ssize_t n = write(c->pipe[1][1], c->in + consumed, c->in_len - consumed);

		if (n != (ssize_t)(c->in_len - consumed)) {
			conn_fail(r, c, "buffering the upstream's first bytes");
			return -1;
		}
		c->queued[1] = (size_t)n;
	}
	free(c->in);
	c->in = NULL;
	explicit_bzero(c->out, sizeof(c->out));
	c->st = C_RELAY;
	c->last_ms = redir_now_ms();
	relay_io(r, c);
	return 0;
}

static void conn_event(struct redir *r, struct side_ref *ref, uint32_t events)
{
	struct rconn *c = ref->c;
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->dead)
		return;
	switch (c->st) {
	case C_CONNECTING:
		if (ref->side == 0) {
			/* the application gave up while the upstream connect was under way */
			if (events & (EPOLLHUP | EPOLLERR)) {
				emit(r, c, LFP_V_REDIRECT, "%s: the application closed first", c->pub);
				conn_free(r, c, true);
			}
			return;
		}
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			conn_fail(r, c, strerror(err ? err : errno));
			return;
		}
		upstream_connected(r, c);
		return;
	case C_RELAY: relay_io(r, c); return;
	default:
		if (ref->side == 0) {
			if (events & (EPOLLHUP | EPOLLERR)) {
				emit(r, c, LFP_V_REDIRECT, "%s: the application closed first", c->pub);
				conn_free(r, c, true);
			}
			return;
		}
		handshake_io(r, c);
	}
}

static void listeners_pause(struct redir *r)
{
	if (r->accept_resume_ms)
		return;
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->lfd4, NULL);
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->lfd6, NULL);
	r->accept_resume_ms = redir_now_ms() + 200;
}

static void listeners_resume(struct redir *r, uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (!r->accept_resume_ms || now < r->accept_resume_ms)
		return;
	r->accept_resume_ms = 0;
	ev.data.ptr = TAG_LISTEN4;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd4, &ev);
	ev.data.ptr = TAG_LISTEN6;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd6, &ev);
}

/* A new application connection: find its original destination, connect upstream. */
static void on_accept(struct redir *r, int lfd)
{
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct rconn *c;
		const struct sockaddr_storage *to;
		char why[128];
		int fd, one = 1;

		fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS) {
				/* out of descriptors: the listeners (level-triggered) would wake
				 * this loop for nothing; they rest, connections wait in the
				 * backlog, and flows that end free descriptors */
				lfp_print(LFP_WARN,
					  "lfpd: redirector: %s with %zu flows; accepting again "
					  "in 200 ms\n",
					  strerror(errno), r->n_conns);
				listeners_pause(r);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				lfp_print(LFP_WARN, "lfpd: redirector accept: %s\n",
					  strerror(errno));
			}
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd[0] = fd;
		c->fd[1] = -1;
		for (int d = 0; d < 2; d++) {
			c->pipe[d][0] = c->pipe[d][1] = -1;
			c->ref[d].kind = REF_TCP;
			c->ref[d].c = c;
			c->ref[d].side = d;
		}
		c->next = r->conns;
		if (r->conns)
			r->conns->prev = c;
		r->conns = c;
		r->n_conns++;
		snprintf(c->pub, sizeof(c->pub), "?");
		redir_addr_to16(&peer, c->key.addr, &c->key.port);
		c->key.proto = IPPROTO_TCP;
		if (r->orig_fd < 0 ||
		    bpf_map_lookup_and_delete_elem(r->orig_fd, &c->key, &c->orig)) {
			/* not one the kernel redirected (or its record was lost): never guess */
			memset(&c->orig, 0, sizeof(c->orig));
			memcpy(c->orig.oaddr, c->key.addr, 16);
			conn_fail(r, c, "no original destination recorded for this connection");
			continue;
		}
		if (redir_upstream_get(r, c->orig.upstream, &c->url, c->pub, sizeof(c->pub))) {
			conn_fail(r, c, "unknown upstream");
			continue;
		}
		redir_addr_from16(c->orig.oaddr, c->orig.oport, &c->dst);
		to = c->url.kind == REDIR_DIRECT ? &c->dst : &c->url.addr;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd[1] = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd[1] < 0) {
			conn_fail(r, c, strerror(errno));
			continue;
		}
		setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->deadline_ms = redir_now_ms() + r->connect_timeout_ms;
		c->st = C_CONNECTING;
		if (connect(c->fd[1], (const struct sockaddr *)to, redir_ss_len(to)) &&
		    errno != EINPROGRESS) {
			snprintf(why, sizeof(why), "connect: %s", strerror(errno));
			conn_fail(r, c, why);
			continue;
		}
		/* the application's socket waits unwatched until the relay starts: the
		 * deadline ends a setup it gave up on */
		side_set(r, c, 1, EPOLLOUT);
	}
}

static void timeouts(struct redir *r)
{
	uint64_t now = redir_now_ms();

	listeners_resume(r, now);
	for (struct rconn *c = r->conns, *next; c; c = next) {
		next = c->next;
		if (c->st != C_RELAY) {
			if (now >= c->deadline_ms)
				conn_fail(r, c,
					  c->st == C_CONNECTING
						  ? "the upstream did not answer the connect in time"
						  : "the upstream did not finish its handshake in time");
		} else if (now - c->last_ms >= (uint64_t)r->idle_s * 1000) {
			conn_done(r, c, "idle timeout");
		}
	}
}

static void *redir_thread(void *arg)
{
	struct redir *r = arg;
	struct epoll_event evs[64];
	uint64_t last_scan = redir_now_ms();

	for (;;) {
		int n = epoll_wait(r->epfd, evs, 64, 250);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == TAG_STOP) {
				graveyard_empty(r);
				redir_udp_graveyard(r);
				return NULL;
			}
			if (tag == TAG_LISTEN4)
				on_accept(r, r->lfd4);
			else if (tag == TAG_LISTEN6)
				on_accept(r, r->lfd6);
			else if (*(int *)tag == REF_TCP)
				conn_event(r, tag, evs[i].events);
			else
				redir_udp_event(r, tag, evs[i].events);
		}
		graveyard_empty(r);
		redir_udp_graveyard(r);
		if (redir_now_ms() - last_scan >= 250) {
			timeouts(r);
			redir_udp_timeouts(r, redir_now_ms());
			redir_udp_graveyard(r);
			last_scan = redir_now_ms();
		}
	}
	return NULL;
}

/* ---- setup ---- */

static int listen_on(int family, uint16_t port, int *fd_out, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, r;

	redir_loopback(family, port, &ss);
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, redir_ss_len(&ss)) || listen(fd, BACKLOG)) {
		r = -errno;
		close(fd);
		return r;
	}
	len = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	*bound = family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	*fd_out = fd;
	return 0;
}

int redir_start(struct lfp_kern *kern, const struct redir_opts *opts, struct redir **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t all, old;
	struct redir *r;
	uint16_t p4 = 0, p6 = 0;
	int e = 0;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kern = kern;
	r->lfd4 = r->lfd6 = r->epfd = r->stop_fd = r->evpipe[0] = r->evpipe[1] = -1;
	r->targets_fd = r->orig_fd = -1;
	for (int f = 0; f < 2; f++)
		for (int i = 0; i < LFP_REDIR_UDP_SLOTS; i++)
			r->uslots[f][i].fd = -1;
	r->idle_s = opts && opts->idle_s ? opts->idle_s : IDLE_DEFAULT;
	r->connect_timeout_ms =
		opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : CONNECT_DEF;
	pthread_mutex_init(&r->mu, NULL);
	{
		/* every relayed TCP flow holds six descriptors (two sockets, two
		 * pipes): thousands of flows need more than the usual soft limit */
		struct rlimit rl;

		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (kern) {
		struct lfp_redir_cfg cfg = { .tgid = (__u32)getpid() };
		__u32 zero = 0;
		int cfd = lfp_kern_map_fd(kern, "lfp_redir_cfg");

		r->targets_fd = lfp_kern_map_fd(kern, "lfp_redir_targets");
		r->orig_fd = lfp_kern_map_fd(kern, "lfp_redir_orig");
		if (r->targets_fd < 0 || r->orig_fd < 0 || cfd < 0) {
			e = -ENOENT;
			goto fail;
		}
		/* the loop guard first: no connection of this process is redirected */
		if (bpf_map_update_elem(cfd, &zero, &cfg, BPF_ANY)) {
			e = -errno;
			goto fail;
		}
	}
	/* the same port on both families; an ephemeral v4 port may be taken on v6 */
	for (int tries = 0; tries < 16; tries++) {
		e = listen_on(AF_INET, opts ? opts->port : 0, &r->lfd4, &p4);
		if (e)
			goto fail;
		e = listen_on(AF_INET6, p4, &r->lfd6, &p6);
		if (!e)
			break;
		close(r->lfd4);
		r->lfd4 = -1;
		if (e != -EADDRINUSE || (opts && opts->port))
			goto fail;
	}
	if (e)
		goto fail;
	r->port = p4;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		e = -errno;
		goto fail;
	}
	e = redir_udp_open(r);
	if (e)
		goto fail;
	r->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->epfd < 0 || r->stop_fd < 0 || pipe2(r->evpipe, O_NONBLOCK | O_CLOEXEC)) {
		e = -errno;
		goto fail;
	}
	fcntl(r->evpipe[1], F_SETPIPE_SZ, 1 << 20);
	ev.data.ptr = TAG_STOP;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stop_fd, &ev);
	ev.data.ptr = TAG_LISTEN4;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd4, &ev);
	ev.data.ptr = TAG_LISTEN6;
	epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd6, &ev);
	/* the thread takes no signals: lfpd's main loop reads them from a signalfd, and
	 * a process-directed SIGTERM must not land (unblocked) here */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = -pthread_create(&r->thread, NULL, redir_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		goto fail;
	r->started = true;
	*out = r;
	return 0;
fail:
	redir_stop(r);
	return e ? e : -EINVAL;
}

void redir_stop(struct redir *r)
{
	uint64_t one = 1;

	if (!r)
		return;
	if (r->started) {
		if (write(r->stop_fd, &one, sizeof(one)) < 0)
			pthread_cancel(r->thread);
		pthread_join(r->thread, NULL);
	}
	while (r->conns)
		conn_free(r, r->conns, true);
	graveyard_empty(r);
	redir_udp_close(r);
	if (r->lfd4 >= 0)
		close(r->lfd4);
	if (r->lfd6 >= 0)
		close(r->lfd6);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	for (int k = 0; k < 2; k++)
		if (r->evpipe[k] >= 0)
			close(r->evpipe[k]);
	redir_upstreams_free(r);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int redir_event_fd(const struct redir *r)
{
	return r ? r->evpipe[0] : -1;
}

int redir_event_read(struct redir *r, struct redir_event *ev)
{
	ssize_t n = read(r->evpipe[0], ev, sizeof(*ev));

	if (n == (ssize_t)sizeof(*ev))
		return 1;
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n < 0 ? -errno : 0;
}

uint16_t redir_port(const struct redir *r)
{
	return r ? r->port : 0;
}
