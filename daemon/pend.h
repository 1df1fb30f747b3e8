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
	int type;	  /**< enum lfp_callout_type */
	uint64_t session; /**< 0: built in */
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
/** Drop every callout of @p session. @return how many. */
size_t callout_registry_drop_session(struct callout_registry *r, uint64_t session);
/** The entry for @p name, or NULL. */
const struct callout_reg *callout_registry_find(const struct callout_registry *r, const char *name);
void callout_registry_fini(struct callout_registry *r);

/**
 * Flows a callout permitted, watched until they end (WFP flowDeleteFn):
 * lfpd tells the registering session when the socket is gone.
 */
struct flow_watch {
	uint64_t cookie;  /**< socket cookie (bpf_get_socket_cookie, sock_diag) */
	uint64_t id;	  /**< the classify request's id */
	uint64_t session; /**< who registered the callout */
	char *callout;
};

struct flow_watches {
	struct flow_watch *v;
	size_t n;
};

/** Watch @p cookie for @p session. @return 0, -EINVAL (cookie or session 0), -ENOMEM. */
int flow_watch_add(struct flow_watches *w, uint64_t cookie, uint64_t id, uint64_t session,
		   const char *callout);
/** Forget the watches of @p session (it ended). @return how many. */
size_t flow_watch_drop_session(struct flow_watches *w, uint64_t session);
/**
 * Remove every watch whose cookie is not in @p live (sorted ascending, @p n_live
 * entries) and call @p ended for it before it goes. @return how many ended.
 */
size_t flow_watch_sweep(struct flow_watches *w, const uint64_t *live, size_t n_live,
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
