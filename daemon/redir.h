/* SPDX-License-Identifier: MIT */
/**
 * @file redir.h
 * @brief lfp's redirector (docs/redirect.md): the targets of `redirect`
 * filters, and the relay that carries redirected TCP flows to their upstream
 * (`direct`, `socks5://`, `http://`).
 *
 * The relay runs in its own thread of lfpd, with its own epoll loop; lfpd's
 * main thread talks to it only through the functions below (targets, under
 * a lock) and reads its events from a pipe (redir_event_fd()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/types.h>
#include <lfp/diag.h>
#include <lfp/lower.h>
#include "lfp_abi.h"

struct lfp_kern;
struct redir;

/** What a `redirect` URL asks for. */
enum redir_kind {
	REDIR_TO,     /**< `to H:P`: plain rewrite in the kernel, no relay */
	REDIR_DIRECT, /**< relay to the original destination */
	REDIR_SOCKS5, /**< relay through a SOCKS5 server (CONNECT) */
	REDIR_HTTP,   /**< relay through an HTTP proxy (CONNECT) */
};

/** A parsed `redirect` URL. */
struct redir_url {
	enum redir_kind kind;
	struct sockaddr_storage addr; /**< H:P (TO, SOCKS5, HTTP) */
	socklen_t addrlen;
	char user[256]; /**< SOCKS5 credentials ("" when none); never printed */
	char pass[256];
};

/**
 * Parse the action text of a `redirect` filter as lib/rule_parse.c stores it
 * ("to H:P", "direct", "socks5://[user:pass@]H:P", "http://H:P").
 * @return 0 or -EINVAL (with a message in @p err, which never repeats credentials).
 */
int redir_url_parse(const char *text, struct redir_url *u, char *err, size_t errsz);

/** @p text with credentials replaced by `user:***` (for logs and events). */
void redir_url_public(const char *text, char *buf, size_t size);

/** A redirector event (a finished, failed or refused redirected flow). */
struct redir_event {
	struct lfp_event ev; /**< layer connect-redirect, flags redirected, oaddr = original */
	uint64_t bytes_out;  /**< application → upstream */
	uint64_t bytes_in;   /**< upstream → application */
	char note[160];	     /**< the upstream (public form), and the failure if any */
};

struct redir_opts {
	size_t sz;
	uint16_t port;	 /**< listening port on 127.0.0.1 and ::1; 0 = any free one */
	unsigned idle_s; /**< a relayed flow idle this long is closed; 0 = 300 */
	unsigned connect_timeout_ms; /**< upstream connect + handshake; 0 = 5000 */
};

/**
 * Start the redirector: listeners, the relay thread, the loop guard (this
 * process's connections are never redirected). @p kern may be NULL (no
 * kernel: targets are checked but not written).
 * @return 0 or -errno.
 */
int redir_start(struct lfp_kern *kern, const struct redir_opts *opts, struct redir **out);

/** Stop the thread, close every flow and listener. NULL-safe. */
void redir_stop(struct redir *r);

/**
 * Give every redirect filter of @p lw its target (lw->filters[i].target)
 * and write the targets of generation @p gen into the kernel table.
 * @return 0; -EINVAL / -E2BIG / -EOPNOTSUPP with a diag naming the filter.
 */
int redir_targets_lower(struct redir *r, struct lfp_lowered *lw, uint64_t gen,
			struct lfp_diags *diags);

/** Readable when events wait (a pipe; records are struct redir_event). */
int redir_event_fd(const struct redir *r);

/** Read one event. @return 1, 0 (none waiting) or -errno. */
int redir_event_read(struct redir *r, struct redir_event *ev);

/** The listening port (the same on 127.0.0.1 and ::1). */
uint16_t redir_port(const struct redir *r);
