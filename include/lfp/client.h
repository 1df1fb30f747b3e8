/* SPDX-License-Identifier: MIT */
/**
 * @file client.h
 * @brief Talk to lfpd from C: sessions, transactions, filters, enumeration
 * and filter-change subscriptions over lfpd's API socket (docs/api.md).
 *
 * A struct lfp_session is one connection to lfpd, and lfpd treats each
 * connection as a session (WFP's FwpmEngineOpen). A *dynamic* session's
 * objects get lifetime dynamic unless a call names another lifetime, and
 * lfpd deletes them, in one commit, when the session ends: lfp_session_close(),
 * exit, or the process dying (kill -9 closes the socket too).
 *
 * Transactions follow WFP: lfp_txn_begin() takes lfpd's one writer lock
 * (waiting up to the session's lock timeout, default 15 s, for another
 * session's transaction); until lfp_txn_commit() or lfp_txn_abort() every
 * change acts on the transaction, not on the kernel, and enumeration shows the
 * transaction's view. A failed call inside a transaction is undone alone; the
 * others can still be committed. Commit hands the whole result to the kernel
 * as one policy generation. A session that ends with a transaction open has it
 * aborted. Without lfp_txn_begin() every change is its own transaction.
 *
 * Conventions (lfp/common.h): calls return 0 or a negative errno; options
 * structs start with their size (declare them with LFP_OPTS); the library
 * never prints. lfpd's error messages come back as records in the caller's
 * struct lfp_diags (may be NULL when not wanted), with line and column inside
 * the rule text sent. Errors from lfpd map to errno values: -EACCES (not root
 * or group lfp), -EINVAL (bad rule text or argument), -ENOENT (no such object,
 * no open transaction), -EEXIST, -EBUSY (a transaction is already open in
 * this session; a sublayer still holds filters), -ETIMEDOUT (lock wait timed
 * out; the message names the session holding the lock by pid), -EIO (the
 * kernel refused the policy). -EPIPE or -ECONNRESET: lfpd went away, the
 * session is over (only lfp_session_close() remains useful).
 *
 * A session is not thread-safe: use it from one thread at a time.
 *
 * Link with `pkg-config --cflags --libs lfp`.
 */
#pragma once

#include <lfp/common.h>
#include <lfp/diag.h>

#ifdef __cplusplus
extern "C" {
#endif

/** lfpd's socket when none is given. */
#define LFP_DEFAULT_SOCKET "/run/lfp/lfp.sock"

struct lfp_session;

struct lfp_session_opts {
	size_t sz;
	/** lfpd's API socket; NULL: LFP_DEFAULT_SOCKET. */
	const char *socket;
	/** Objects without an explicit lifetime are dynamic: deleted when the session ends. */
	bool dynamic;
	/** Shown in lfpd's status and in lock-timeout messages (1-63 characters); may be NULL. */
	const char *name;
	/** How long lfp_txn_begin() and changes wait for another session's transaction;
	 * 0: lfpd's default (15000). At most 86400000. */
	uint32_t lock_timeout_ms;
};

/**
 * Connect to lfpd and open a session.
 * @param opts options (LFP_OPTS(lfp_session_opts, o, ...)); NULL: defaults.
 * @param out receives the session, which the caller ends with lfp_session_close().
 *        Set to NULL on failure.
 * @param diags receives lfpd's message on refusal; may be NULL.
 * @return 0; -ENOENT or -ECONNREFUSED when lfpd does not listen there; -EACCES when
 * a dynamic, named or lock-timeout session is asked for by a client that may not
 * change policy (plain sessions may read: enumeration, status, subscriptions);
 * -EINVAL for bad options; -ENOMEM.
 */
int lfp_session_open(const struct lfp_session_opts *opts, struct lfp_session **out,
		     struct lfp_diags *diags);

/**
 * End the session: close the connection. lfpd aborts a transaction still open
 * and deletes the session's dynamic objects. NULL-safe.
 */
void lfp_session_close(struct lfp_session *s);

/** lfpd's id of this session (shown in `lfp status` and in filter lists). */
uint64_t lfp_session_id(const struct lfp_session *s);

/**
 * Begin a transaction; waits while another session holds the lock.
 * @return 0; -EBUSY when this session has one open already; -ETIMEDOUT when the
 * lock wait timed out; -EACCES.
 */
int lfp_txn_begin(struct lfp_session *s, struct lfp_diags *diags);

/**
 * Commit the open transaction: the kernel gets all of it as one generation, or,
 * on failure, none of it (the transaction is then aborted).
 * @return 0; -ENOENT when no transaction is open; -EIO when the kernel refused.
 */
int lfp_txn_commit(struct lfp_session *s, struct lfp_diags *diags);

/** Abort the open transaction: nothing of it is applied. @return 0 or -ENOENT. */
int lfp_txn_abort(struct lfp_session *s, struct lfp_diags *diags);

/** Lifetime of an object added through a session. */
enum lfp_obj_lifetime {
	LFP_LIFETIME_DEFAULT,	 /**< dynamic in a dynamic session, else persistent */
	LFP_LIFETIME_PERSISTENT, /**< saved in lfpd's state dir, enforced again after restart */
	LFP_LIFETIME_RUNTIME,	 /**< until deleted or lfpd stops */
	LFP_LIFETIME_DYNAMIC,	 /**< until the session ends (needs a dynamic session) */
	LFP_LIFETIME_BOOT_TIME, /**< the boot-time set (enforced by `lfpd --boot` until lfpd starts)
				 */
};

struct lfp_obj_opts {
	size_t sz;
	enum lfp_obj_lifetime lifetime;
	/** Owner tag; NULL: "cli". */
	const char *provider;
};

/**
 * Add a filter.
 * @param text the statement after `filter add` in the rule language (CLI.md), e.g.
 *        "name no-telnet layer auth-connect remote.port 23 block".
 * @param opts lifetime and provider; may be NULL.
 * @param id receives the new filter's id (final also inside a transaction); may be NULL.
 * @return 0; -EINVAL with located diagnostics for bad text; -EEXIST for a taken name.
 */
int lfp_session_filter_add(struct lfp_session *s, const char *text, const struct lfp_obj_opts *opts,
			   uint64_t *id, struct lfp_diags *diags);

/** Delete a filter by id ("42") or name. @return 0 or -ENOENT. */
int lfp_session_filter_delete(struct lfp_session *s, const char *id_or_name,
			      struct lfp_diags *diags);

/**
 * Add a sublayer.
 * @param text `NAME weight N` (the statement after `sublayer add`).
 * @return 0; -EEXIST; -EINVAL.
 */
int lfp_session_sublayer_add(struct lfp_session *s, const char *text,
			     const struct lfp_obj_opts *opts, struct lfp_diags *diags);

/** Delete a sublayer. @return 0; -ENOENT; -EBUSY while it holds filters. */
int lfp_session_sublayer_delete(struct lfp_session *s, const char *name, struct lfp_diags *diags);

/**
 * Make a provider hold exactly what a rule file says (`lfp -f`): unchanged
 * filters keep their ids, others are added or deleted.
 * @param text the whole file.
 * @param file name used in diagnostics; may be NULL.
 * @param provider used when the file has no `provider` line; may be NULL then.
 * @return 0; -EINVAL with FILE:LINE:COL diagnostics.
 */
int lfp_session_apply(struct lfp_session *s, const char *text, const char *file,
		      const char *provider, struct lfp_diags *diags);

/** One filter as lfpd lists it. Strings are owned by the array. */
struct lfp_filter_info {
	uint64_t id;
	char *name; /**< NULL when unnamed */
	char *layer;
	char *sublayer;
	uint64_t weight; /**< effective weight (0 for uncommitted filters) */
	uint64_t hits;
	char *provider;
	enum lfp_obj_lifetime lifetime;
	uint64_t session; /**< dynamic filters: the owning session, else 0 */
	bool uncommitted; /**< added by this session's open transaction */
	char *text;	  /**< canonical rule text, credentials masked */
};

/**
 * List filters: the committed ones, or this session's transaction's view while
 * one is open.
 * @param layer only this layer; NULL: every layer.
 * @param out receives an array the caller frees with lfp_filter_infos_free().
 * @param n receives its length.
 */
int lfp_session_filters(struct lfp_session *s, const char *layer, struct lfp_filter_info **out,
			size_t *n, struct lfp_diags *diags);
/** Free an array from lfp_session_filters(). NULL-safe. */
void lfp_filter_infos_free(struct lfp_filter_info *v, size_t n);

struct lfp_sublayer_info {
	uint32_t id;
	char *name;
	uint16_t weight;
	char *provider; /**< "lfp" for the built-in sublayer */
	enum lfp_obj_lifetime lifetime;
	uint64_t session; /**< dynamic sublayers: the owning session */
	size_t filters;	  /**< how many filters it holds */
};

/** List sublayers (transaction view as for lfp_session_filters()). Free with
 * lfp_sublayer_infos_free(). */
int lfp_session_sublayers(struct lfp_session *s, struct lfp_sublayer_info **out, size_t *n,
			  struct lfp_diags *diags);
/** Free an array from lfp_session_sublayers(). NULL-safe. */
void lfp_sublayer_infos_free(struct lfp_sublayer_info *v, size_t n);

struct lfp_provider_info {
	char *name;
	size_t filters, sublayers; /**< objects it owns */
};

/** List the providers that own objects, with counts. Free with lfp_provider_infos_free(). */
int lfp_session_providers(struct lfp_session *s, struct lfp_provider_info **out, size_t *n,
			  struct lfp_diags *diags);
/** Free an array from lfp_session_providers(). NULL-safe. */
void lfp_provider_infos_free(struct lfp_provider_info *v, size_t n);

/**
 * lfpd's status as the JSON text of the `status` reply's "status" object
 * (docs/api.md lists its fields).
 * @param out receives a NUL-terminated string the caller frees with free().
 */
int lfp_session_status_json(struct lfp_session *s, char **out, struct lfp_diags *diags);

enum lfp_change_type {
	LFP_CHANGE_ADD,
	LFP_CHANGE_DELETE,
};

/** One committed filter change. Valid only during the callback. */
struct lfp_filter_change {
	enum lfp_change_type change;
	uint64_t id;
	const char *name; /**< NULL when unnamed */
	const char *layer;
	const char *sublayer;
	const char *provider;
	enum lfp_obj_lifetime lifetime;
	const char *text;
};

/** Called by lfp_session_dispatch() for each change, in commit order. */
typedef void (*lfp_filter_change_fn)(void *ctx, const struct lfp_filter_change *change);

/**
 * Subscribe to filter changes: after every commit (of any session) lfpd sends
 * one change per filter deleted, then per filter added. They are delivered by
 * lfp_session_dispatch(). A subscriber that does not read for long (8 MiB of
 * backlog) is disconnected rather than silently missing changes.
 * @param cb called for each change; @p ctx is passed through.
 * @return 0, -EINVAL for a NULL callback.
 */
int lfp_session_subscribe_filters(struct lfp_session *s, lfp_filter_change_fn cb, void *ctx,
				  struct lfp_diags *diags);

/**
 * The connection's file descriptor, for poll()/epoll: readable when lfpd sent
 * something. Owned by the session; do not read, write or close it.
 */
int lfp_session_fd(const struct lfp_session *s);

/**
 * Deliver subscribed changes. Changes that arrived while another call waited
 * for its reply are delivered first, without waiting; otherwise waits up to
 * @p timeout_ms (0: do not wait, -1: until something arrives) and delivers
 * what came. Call it after poll() says the fd is readable, and also after
 * other calls on the session (they may have buffered changes: see
 * lfp_session_pending()).
 * @return the number of changes delivered (>= 0); -EPIPE when lfpd closed the
 * connection; -EPROTO for a line that is not lfpd's protocol.
 */
int lfp_session_dispatch(struct lfp_session *s, int timeout_ms);

/** Whether changes are buffered that lfp_session_dispatch() would deliver without reading. */
bool lfp_session_pending(const struct lfp_session *s);

/* ---- callouts (docs/callouts.md) ---- */

/** What a callout's client is: how its answers count (WFP-MODEL.md, Objects). */
enum lfp_callout_kind {
	LFP_CALLOUT_KIND_TERMINATING, /**< must answer permit or block (continue counts as block) */
	LFP_CALLOUT_KIND_INSPECTION,  /**< never decides: told of its flows, never asked
					   (lfp_session_on_classify_notify()) */
	LFP_CALLOUT_KIND_UNKNOWN,     /**< may answer anything */
};

/**
 * Register callout @p name for this session. A terminating or unknown
 * callout's filters at auth-connect and auth-recv-accept then hold each flow
 * they decide until this session answers (lfp_session_classify_answer()). An
 * inspection callout's filters, and any callout's filters at the other
 * layers, hold nothing: the session is told of each classification they match
 * (lfp_session_on_classify_notify()) and cannot change its verdict. The
 * callout vanishes with the session; its held flows then complete as for an
 * unregistered callout (block, or permit with
 * `permit-if-callout-unregistered`). A held flow waits 30 s for the answer
 * (lfp_session_callout_register_opts() sets another time), then it is
 * blocked. A session with callouts that does not read what lfpd sends it
 * (64 KiB waiting beyond the socket's buffer when another classify request or
 * notification comes) is disconnected: its held flows are blocked as on a
 * timeout. Needs root or group lfp.
 * @return 0, -EEXIST (taken), -EINVAL (bad name), -EACCES, or another -errno.
 */
int lfp_session_callout_register(struct lfp_session *s, const char *name,
				 enum lfp_callout_kind kind, struct lfp_diags *diags);

/** Options of lfp_session_callout_register_opts() (LFP_OPTS(lfp_callout_opts, o, ...)). */
struct lfp_callout_opts {
	size_t sz;
	/** How long a held flow waits for this callout's answer before it is blocked, in
	 * ms: 100..600000; 0: lfpd's default (30000). */
	uint32_t timeout_ms;
};

/**
 * lfp_session_callout_register() with options (@p opts may be NULL: defaults).
 * @return as lfp_session_callout_register(); -ERANGE for a timeout out of range.
 */
int lfp_session_callout_register_opts(struct lfp_session *s, const char *name,
				      enum lfp_callout_kind kind,
				      const struct lfp_callout_opts *opts, struct lfp_diags *diags);

/** Unregister a callout of this session. @return 0, -ENOENT, -EPERM (not this session's). */
int lfp_session_callout_unregister(struct lfp_session *s, const char *name,
				   struct lfp_diags *diags);

/** One held flow a filter with this session's callout decided. Valid during the callback. */
struct lfp_classify_request {
	uint64_t id;		 /**< answer with this id */
	const char *callout;	 /**< which of the session's callouts */
	uint64_t filter_id;	 /**< the deciding filter */
	const char *filter_name; /**< NULL when unnamed */
	uint32_t pid, uid;	 /**< the process, as the kernel hook saw it */
	const char *user;	 /**< NULL when the uid has no name */
	const char *path;	 /**< the executable, NULL when unknown */
	const char *comm;
	const char *proto; /**< "tcp" or "udp" */
	const char *local; /**< local address (text); "" until the first packet */
	uint16_t lport;
	const char *remote; /**< remote address (text) */
	uint16_t rport;
};

/** Called by lfp_session_dispatch() for each classify request. */
typedef void (*lfp_classify_fn)(void *ctx, const struct lfp_classify_request *req);

/** A filter naming one of the session's callouts was added or deleted (WFP notifyFn). */
struct lfp_callout_notify {
	enum lfp_change_type change;
	const char *callout;
	uint64_t filter_id;
};

typedef void (*lfp_callout_notify_fn)(void *ctx, const struct lfp_callout_notify *n);

/**
 * Receive classify requests (and, with @p notify, filter add/delete
 * notifications) through lfp_session_dispatch(). Set before registering.
 * @return 0, -EINVAL for a NULL @p cb.
 */
int lfp_session_on_classify(struct lfp_session *s, lfp_classify_fn cb, lfp_callout_notify_fn notify,
			    void *ctx);

/** A flow one of the session's callouts permitted has ended (WFP flowDeleteFn). */
struct lfp_flow_delete {
	uint64_t id;	     /**< the classify request's id (lfp_classify_request.id) */
	uint64_t cookie;     /**< the flow's socket cookie (inbound TCP: the accepted socket's,
				  0 when it was never seen) */
	const char *callout; /**< which of the session's callouts permitted it */
	const char *proto;   /**< "tcp" or "udp" */
	const char *direction; /**< "outbound" (auth-connect) or "inbound" (auth-recv-accept) */
	const char *remote;    /**< remote address (text) */
	uint16_t rport;
	const char *local; /**< local address (text; "" when not known) */
	uint16_t lport;
};

typedef void (*lfp_flow_delete_fn)(void *ctx, const struct lfp_flow_delete *fd);

/**
 * Be told through lfp_session_dispatch() when a flow this session's callout
 * answered permit ends (lfpd looks every 250 ms, in its own network
 * namespace): a TCP flow when its socket is closed, aborted or in TIME_WAIT
 * (inbound: the accepted socket, found by its addresses and ports); a UDP
 * flow when its socket is closed, and an unconnected socket's flow to one
 * remote also when the kernel's decision for that remote is evicted. One
 * notification per flow; flows of a callout that was not answered (timeout,
 * session gone) are not watched. docs/callouts.md.
 * @return 0, -EINVAL for a NULL @p cb.
 */
int lfp_session_on_flow_delete(struct lfp_session *s, lfp_flow_delete_fn cb, void *ctx);

/**
 * A classification one of the session's callouts was told about but cannot
 * change (WFP: an inspection callout's classifyFn, or a callout at a layer that
 * cannot pend). Nothing waits for an answer. Valid during the callback.
 */
struct lfp_classify_notify {
	const char *callout; /**< which of the session's callouts */
	uint64_t filter_id;  /**< the filter that names it */
	const char *layer;   /**< "auth-connect", "flow-established", ... */
	const char *verdict; /**< what the layer decided: "permit", "block", "pend", ... */
	uint64_t decided_by; /**< the deciding filter, 0 when none matched */
	uint32_t pid, uid;   /**< the process, as the kernel hook saw it (0: none) */
	const char *path;    /**< the executable, NULL when unknown */
	const char *comm;
	const char *proto; /**< "tcp", "udp", "icmp", or a number */
	const char *local; /**< local address (text) */
	uint16_t lport;
	const char *remote; /**< remote address (text) */
	uint16_t rport;
	uint64_t cookie;     /**< socket cookie, 0 without a socket */
	const uint8_t *data; /**< bytes that came with it (a stream's), or NULL */
	size_t data_len;
};

/** Called by lfp_session_dispatch() for each classify notification. */
typedef void (*lfp_classify_notify_fn)(void *ctx, const struct lfp_classify_notify *n);

/**
 * Receive classify notifications through lfp_session_dispatch(): one per
 * classification a filter naming one of the session's callouts matched where
 * the callout cannot decide (docs/callouts.md). They are sent whether or not
 * a callback is set; without one they are dropped here.
 * @return 0, -EINVAL for a NULL @p cb.
 */
int lfp_session_on_classify_notify(struct lfp_session *s, lfp_classify_notify_fn cb, void *ctx);

enum lfp_callout_answer {
	LFP_CALLOUT_PERMIT,
	LFP_CALLOUT_BLOCK,
	LFP_CALLOUT_CONTINUE,
};

/**
 * Complete held flow @p id: permit lets its packets through, block (and
 * continue, for a terminating callout) ends it; a blocked TCP connect fails
 * at once. May be called from the classify callback.
 * @return 0, -ENOENT (unknown or completed id: timed out meanwhile), -EACCES.
 */
int lfp_session_classify_answer(struct lfp_session *s, uint64_t id, enum lfp_callout_answer a,
				struct lfp_diags *diags);

#ifdef __cplusplus
}
#endif
