/* SPDX-License-Identifier: MIT */
/**
 * @file pend.h
 * @brief Pend and complete, lfpd's half (docs/callouts.md): the NFQUEUE that
 * holds pended flows' first packets, the table of pending entries, the
 * callout registry, and the API operations on them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <lfp/diag.h>

struct lfpd;
struct client;
struct pend;
struct eng_filter;

/** Default NFQUEUE number and length. */
#define PEND_QUEUE_DEFAULT     4400u
#define PEND_QUEUE_MAX_DEFAULT 1024u
/** Packets held per flow (SYN retransmits while a person thinks); more are dropped. */
#define PEND_PKTS_MAX 8
/** ask without `timeout`: seconds. */
#define PEND_ASK_TIMEOUT_S 30u
/** A callout client that does not answer within this many seconds: its flow is blocked. */
#define PEND_CALLOUT_TIMEOUT_S 30u
/** The per-callout classify timeout a client may ask for at registration (ms). */
#define PEND_CALLOUT_TIMEOUT_MIN_MS 100u
#define PEND_CALLOUT_TIMEOUT_MAX_MS 600000u
/**
 * Unread output a callout's client may have when lfpd has another message for
 * it unasked (classify request, notification, flow deletion): past it the
 * client is disconnected and its held flows complete as on a timeout. Small,
 * because each such message is a held flow or a notification it is not
 * reading; the socket buffer holds a few hundred more. Replies to its own
 * requests are not capped (they count in what waits, though).
 */
#define PEND_CALLOUT_OUT_MAX (64u << 10)
/** Longest callout name. */
#define PEND_CALLOUT_NAME_MAX 63

/** One held flow, as lfpd knows it (tests/unit: the table is pure data). */
struct pend_flow {
	uint64_t id;
	uint8_t key[40]; /**< struct lfp_pend_key (outbound) or lfp_pend_tuple (inbound) */
	bool inbound;	 /**< auth-recv-accept: lfp_pend_in, keyed by the 5-tuple */
	uint8_t proto;
	uint8_t raddr[16], laddr[16]; /**< network order, IPv4 v4-mapped */
	uint16_t rport, lport;
	uint8_t val[112]; /**< struct lfp_pend_val at the time it was queued */
	uint32_t pkts[PEND_PKTS_MAX];
	size_t n_pkts;
	uint64_t start_ms, deadline_ms;
	uint64_t filter_id;
	bool default_permit;  /**< what the timeout applies */
	bool permit_if_unreg; /**< callout filters: what its client's disappearance applies */
	uint64_t session;     /**< callout owner; 0: a person answers (ask) */
	char *callout;	      /**< callout name, or NULL for ask */
	bool callout_answered; /**< its callout answered (not a timeout or its going away) */
};

/** The pending table: flows by id, insertion order. */
struct pend_table {
	struct pend_flow **v;
	size_t n, cap;
	uint64_t next_id;
};

/** Add a flow (the table takes it). @return its id (> 0) or 0 for -ENOMEM. */
uint64_t pend_table_add(struct pend_table *t, struct pend_flow *f);
/** The flow with @p id, or NULL. */
struct pend_flow *pend_table_find(const struct pend_table *t, uint64_t id);
/** The flow with record key @p key, or NULL. */
struct pend_flow *pend_table_find_key(const struct pend_table *t, const void *key);
/** Remove @p f from the table (not freed). */
void pend_table_remove(struct pend_table *t, struct pend_flow *f);
/** The first flow whose deadline is at or before @p now_ms, or NULL. */
struct pend_flow *pend_table_expired(const struct pend_table *t, uint64_t now_ms);
void pend_flow_free(struct pend_flow *f);
void pend_table_fini(struct pend_table *t);

/** The callout registry: name -> type and owning session. */
struct callout_reg {
	char *name;
	int type;	     /**< enum lfp_callout_type */
	uint64_t session;    /**< 0: built in */
	uint32_t timeout_ms; /**< classify timeout; 0: PEND_CALLOUT_TIMEOUT_S */
};

struct callout_registry {
	struct callout_reg *v;
	size_t n;
};

/**
 * Register @p name for @p session. @return 0, -EINVAL (bad name),
 * -EEXIST (taken, also by a built-in), -ENOMEM.
 */
int callout_registry_add(struct callout_registry *r, const char *name, int type, uint64_t session);
/** Unregister @p name if @p session owns it. @return 0, -ENOENT, -EPERM. */
int callout_registry_del(struct callout_registry *r, const char *name, uint64_t session);
/**
 * Set @p name's classify timeout: 0 for the default, else
 * PEND_CALLOUT_TIMEOUT_MIN_MS..PEND_CALLOUT_TIMEOUT_MAX_MS.
 * @return 0, -ENOENT (not registered), -ERANGE.
 */
int callout_registry_set_timeout(struct callout_registry *r, const char *name, uint32_t timeout_ms);
/** Drop every callout of @p session. @return how many. */
size_t callout_registry_drop_session(struct callout_registry *r, uint64_t session);
/** The entry for @p name, or NULL. */
const struct callout_reg *callout_registry_find(const struct callout_registry *r, const char *name);
void callout_registry_fini(struct callout_registry *r);

/** A flow never seen alive is given up (told as ended) this long after its permit. */
#define FLOW_WATCH_GRACE_MS 5000u

/**
 * Flows a callout permitted, watched until they end (WFP flowDeleteFn):
 * lfpd tells the registering session when the flow is over. A flow is found
 * among the namespace's sockets by its socket cookie, or, for an inbound TCP
 * flow (whose accepted socket does not exist at the permit), by its 5-tuple
 * until its socket is seen (then by that socket's cookie).
 */
struct flow_watch {
	uint64_t cookie;  /**< socket cookie; 0: a tuple watch whose socket was not seen yet */
	uint64_t id;	  /**< the classify request's id */
	uint64_t session; /**< who registered the callout */
	char *callout;
	uint8_t proto; /**< IPPROTO_TCP or IPPROTO_UDP */
	bool inbound;  /**< auth-recv-accept */
	/** Unconnected UDP: the flow is (socket, remote); it also ends when the socket's
	 * decision for the remote is gone (LRU eviction of lfp_udp_cache). */
	bool per_remote;
	bool seen;		      /**< its socket was seen alive (cookie watches start seen) */
	uint8_t laddr[16], raddr[16]; /**< network order, IPv4 v4-mapped */
	uint16_t lport, rport;	      /**< host order */
	uint64_t since_ms;	      /**< when the watch began */
};

struct flow_watches {
	struct flow_watch *v;
	size_t n;
};

/** One socket of the namespace, as sock_diag shows it. */
struct flow_live {
	uint64_t cookie;
	uint8_t proto;
	bool over; /**< TCP in TIME_WAIT or CLOSE: the flow is over, the socket lingers */
	uint8_t laddr[16], raddr[16]; /**< network order, IPv4 v4-mapped */
	uint16_t lport, rport;	      /**< host order */
};

/**
 * Watch the flow @p spec describes (its callout string is copied; since_ms is
 * set to @p now_ms; seen is set for cookie watches). @return 0; -EINVAL
 * (session 0, proto not TCP or UDP, neither a cookie nor an inbound TCP tuple);
 * -ENOMEM.
 */
int flow_watch_add(struct flow_watches *w, const struct flow_watch *spec, uint64_t now_ms);
/** Forget the watches of @p session (it ended). @return how many. */
size_t flow_watch_drop_session(struct flow_watches *w, uint64_t session);
/** Sort @p live by cookie, as flow_watch_sweep() wants it. */
void flow_live_sort(struct flow_live *live, size_t n);
/**
 * Remove every watch whose flow is over and call @p ended for it before it
 * goes. A flow is over when its socket (by cookie, protocol) is not in @p live
 * (sorted by flow_live_sort()) or is `over`; a per-remote UDP flow also when
 * @p remote_alive (may be NULL) says no; a tuple watch whose socket was never
 * seen only after FLOW_WATCH_GRACE_MS (the accepted socket comes after the
 * permit). A tuple watch that finds its socket takes its cookie.
 * @return how many ended.
 */
size_t flow_watch_sweep(struct flow_watches *w, const struct flow_live *live, size_t n_live,
			uint64_t now_ms,
			bool (*remote_alive)(void *ctx, const struct flow_watch *fw),
			void (*ended)(void *ctx, const struct flow_watch *fw), void *ctx);
void flow_watches_fini(struct flow_watches *w);

/**
 * @p n bytes as standard base64 with padding, NUL-terminated.
 * @return a string the caller frees, or NULL (out of memory).
 */
char *callout_base64(const void *bytes, size_t n);

/**
 * The `classify_notify` message to a callout's client (docs/callouts.md):
 * `{"classify_notify": {"callout", "filter", "event": EVENT, "data", "data_len"}}`,
 * data (base64) only when @p n > 0. Takes @p event's reference, also on failure.
 * @return a new message, or NULL (bad arguments: no callout or event, bytes NULL with
 * @p n > 0; out of memory).
 */
json_t *callout_notify_msg(const char *callout, uint64_t filter_id, json_t *event,
			   const void *bytes, size_t n);

/** Parse a verdict word of an answer: "permit", "block", "continue". @return 0/1/2 or -EINVAL. */
int pend_verdict_parse(const char *s);

/**
 * Set up pend and complete: built-in callouts, the NFQUEUE, lfpd's iptables
 * chain. Without a kernel handle only the registry exists. Failure to set up
 * the queue is reported and leaves pend unavailable (filters that pend are
 * then held by nothing: their packets are dropped, fail closed).
 */
int pend_init(struct lfpd *d, uint32_t queue, uint32_t queue_max);
/** The queue fd for epoll, or -1. */
int pend_fd(struct lfpd *d);
/** Read the queue. */
void pend_readable(struct lfpd *d);
/** Timeouts and the sweep of completed blocks. */
void pend_tick(struct lfpd *d);
/**
 * Client @p c registered callouts and does not read what it is sent (more
 * than PEND_CALLOUT_OUT_MAX waits when lfpd has another classify request,
 * notification or flow deletion for it): it is marked for closing, an error
 * naming its session is logged, and its held flows complete now as on a
 * timeout (block: never let through unjudged). Its watches and callouts go
 * when it is closed (pend_session_end()).
 */
void pend_client_overflow(struct lfpd *d, struct client *c);
/** Session @p session ended: its callouts go, their flows complete. */
void pend_session_end(struct lfpd *d, uint64_t session);
/** Close the queue; the chain stays (packets of pended flows are dropped while lfpd is away). */
void pend_fini(struct lfpd *d);
/** `lfpd --unload`: remove lfpd's iptables chain in this network namespace. */
int pend_unload(void);

/* API operations (daemon/api.c dispatches): 0 or -errno with @p diags */
int pend_api_list(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
		  struct lfp_diags *diags);
int pend_api_answer(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
		    struct lfp_diags *diags);
int pend_api_callout_register(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
			      struct lfp_diags *diags);
int pend_api_callout_unregister(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
				struct lfp_diags *diags);
struct lfp_event;
/**
 * Tell the client that registered @p callout about a classification it cannot
 * change (WFP: an inspection callout's classifyFn, or any callout at a layer
 * that cannot pend): a `classify_notify` message with @p ev as lfpd reports
 * events, the filter @p filter_id that named the callout, and @p n bytes of
 * data (a stream's bytes; NULL/0 for none). Nothing is held and no answer is
 * expected. Non-blocking: the message joins the client's output buffer.
 * @return 0; -ENOENT when @p callout is not registered by a connected client
 * (built-ins have no client); -ENOBUFS when the client's buffer is full (the
 * client is being disconnected, docs/callouts.md); -EINVAL, -ENOMEM.
 */
int lfp_callout_notify(struct lfpd *d, const char *callout, uint64_t filter_id,
		       const struct lfp_event *ev, const void *bytes, size_t n);
/**
 * A classification the kernel reported (lfpd's event reader): tell every external
 * callout whose notify filter (inspection, or a callout at a layer that cannot pend)
 * at that layer matches it. Costs nothing at layers without such filters.
 */
void pend_event_notify(struct lfpd *d, const struct lfp_event *ev);

struct lfp_data_event;
/**
 * A payload an inspection filter was reached for (LFP_EV_DATA, datagram-data
 * and stream): when the filter names an external callout, its client is told
 * with the captured bytes (lfp_callout_notify()); `count` is for monitors only.
 */
void pend_data_notify(struct lfpd *d, const struct lfp_data_event *de);

/** A filter was committed or deleted: tell the owner of the callout it names (WFP notifyFn). */
void pend_filter_changed(struct lfpd *d, const struct eng_filter *ef, bool added);
/** The registry for `callout.list`: name, type, builtin, session. */
json_t *pend_callouts_json(struct lfpd *d);
/** pend status for `lfp status`. */
json_t *pend_status_json(struct lfpd *d);
