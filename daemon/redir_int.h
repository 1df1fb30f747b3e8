/* SPDX-License-Identifier: MIT */
/** @file redir_int.h @brief The redirector's private state, shared by daemon/redir*.c. */
#pragma once

#include <pthread.h>
#include "redir.h"

/** An upstream the policy named: ids are stable while lfpd runs, never reused. */
struct redir_upstream {
	uint32_t id; /**< index + 1 (0 means none) */
	char *text;  /**< the action text as written (with credentials) */
	char pub[320];
	struct redir_url url;
};

struct rconn;

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
};

/** The upstream with @p id (a copy of its URL), under the lock. @return 0 or -ENOENT. */
int redir_upstream_get(struct redir *r, uint32_t id, struct redir_url *url, char *pub,
		       size_t pubsz);

/** Free the upstream table. */
void redir_upstreams_free(struct redir *r);
