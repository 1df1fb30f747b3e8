/* SPDX-License-Identifier: MIT */
/** @file redir_int.h @brief The redirector's private state, shared by daemon/redir*.c. */
#pragma once

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include "redir.h"

/** An upstream the policy named: ids are stable while lfpd runs, never reused. */
struct redir_upstream {
	uint32_t id; /**< index + 1 (0 means none) */
	char *text;  /**< the action text as written (with credentials) */
	char pub[320];
	struct redir_url url;
};

struct rconn;
struct usess;

/* What an epoll tag points to (the first member of each tagged struct). */
enum redir_ref_kind {
	REF_TCP = 1, /**< struct side_ref: one socket of a relayed TCP flow */
	REF_USLOT,   /**< struct uslot: a UDP relay port */
	REF_USESS,   /**< struct uref: a UDP session's upstream socket or SOCKS5 control */
};

/** A UDP relay port: the applications' datagrams to one peer arrive here. */
struct uslot {
	int kind; /* REF_USLOT */
	int fd;
	int family;
	uint16_t port;
};

#define USESS_BUCKETS 1024

struct redir {
	struct lfp_kern *kern;
	int targets_fd, orig_fd; /**< kernel maps, -1 without a kernel */
	uint16_t port;
	int lfd4, lfd6;
	int epfd;
	int stop_fd; /**< eventfd: the thread stops */
	int evpipe[2];
	pthread_t thread;
	bool started;
	unsigned idle_s, connect_timeout_ms;
	pthread_mutex_t mu; /**< guards ups / n_ups */
	struct redir_upstream **ups;
	size_t n_ups;
	struct rconn *conns; /**< relay thread only */
	struct rconn *dead;  /**< freed flows, released after the current epoll batch */
	size_t n_conns;
	uint64_t events_dropped;
	uint64_t accept_resume_ms; /**< out of descriptors: listeners rest until then (0: not) */
	/* UDP (daemon/redir_udp.c; relay thread only, except setup) */
	uint16_t uport; /**< first relay port; LFP_REDIR_UDP_SLOTS follow, on both families */
	struct uslot uslots[2][LFP_REDIR_UDP_SLOTS];
	struct usess *usess, *udead;
	struct usess *ubuckets[USESS_BUCKETS];
	size_t n_usess;
	uint64_t unknown_last_ms; /**< last report of a datagram without a record */
};

/**
 * Report a flow of the redirector (struct redir_event on the pipe): @p key the
 * application's end, @p orig its record, @p url the upstream (for the remote
 * end), @p proto IPPROTO_TCP/UDP, @p out/@p in bytes.
 */
void redir_emit(struct redir *r, const struct lfp_redir_key *key,
		const struct lfp_redir_orig *orig, const struct redir_url *url, uint8_t proto,
		uint8_t verdict, uint64_t out, uint64_t in, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));

uint64_t redir_now_ms(void);
void redir_addr_to16(const struct sockaddr_storage *ss, __u8 *a, __u16 *port);
void redir_addr_from16(const __u8 *a, __u16 port, struct sockaddr_storage *ss);

/** Bind the UDP relay ports (before the thread starts). @return 0 or -errno. */
int redir_udp_open(struct redir *r);
/** An epoll event for a REF_USLOT or REF_USESS tag. */
void redir_udp_event(struct redir *r, void *tag, uint32_t events);
/** End sessions idle or stuck in their handshake. */
void redir_udp_timeouts(struct redir *r, uint64_t now);
/** Free the sessions ended in this epoll batch. */
void redir_udp_graveyard(struct redir *r);
/** End every session, close the relay ports. */
void redir_udp_close(struct redir *r);

/** The upstream with @p id (a copy of its URL), under the lock. @return 0 or -ENOENT. */
int redir_upstream_get(struct redir *r, uint32_t id, struct redir_url *url, char *pub,
		       size_t pubsz);

/** Free the upstream table. */
void redir_upstreams_free(struct redir *r);

/** The length of @p ss's address for its family (bind, connect, sendto). */
socklen_t redir_ss_len(const struct sockaddr_storage *ss);

/** Fill @p ss with the loopback address of @p family (AF_INET or AF_INET6) and @p port. */
void redir_loopback(int family, uint16_t port, struct sockaddr_storage *ss);
