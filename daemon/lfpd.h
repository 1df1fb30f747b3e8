/* SPDX-License-Identifier: MIT */
/** @file lfpd.h @brief lfpd's process-wide state, shared by its modules. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "engine.h"
#include "exe.h"
#include "proto.h"

struct app_id;
struct pend;
struct redir;

/** A monitor reading slower than this loses events (counted); a filter-change subscriber is
 * disconnected. */
#define CLIENT_OUT_MAX (8u << 20)
/** How long a session waits for another session's transaction by default (WFP: 15 s). */
#define LFP_LOCK_TIMEOUT_MS 15000u
/** Longest lock wait a session may ask for. */
#define LFP_LOCK_TIMEOUT_MAX_MS (24u * 3600 * 1000)
/** Longest session name. */
#define LFP_SESSION_NAME_MAX 63

/**
 * One API connection = one session (WFP-MODEL.md). Session state lives in
 * fixed fields: the only heap object a session can hold is the engine's open
 * transaction, which the engine owns.
 */
struct client {
	int fd;
	struct lfp_linebuf in;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool privileged; /**< root or member of group lfp */
	bool monitor;	 /**< subscribed to events */
	char *out;	 /**< pending output (monitor streams) */
	size_t out_len;
	uint64_t dropped; /**< events this subscriber missed because it read too slowly */
	uint64_t dropped_told;	    /**< of those, how many a "dropped" line reported */
	uint64_t kernel_drops_told; /**< the kernel's event_drops when last reported to it */
	bool closing;	  /**< close at the end of this loop iteration */
	uint64_t session; /**< session id, > 0 once the client made a request */
	bool declared;	  /**< sent its "session" request */
	bool dynamic;	  /**< objects without an explicit lifetime are dynamic */
	char name[LFP_SESSION_NAME_MAX + 1];
	uint32_t lock_timeout_ms; /**< 0: LFP_LOCK_TIMEOUT_MS */
	bool sub_filters;	  /**< subscribed to filter changes */
	/** A request waiting for the engine lock (owned by main.c), and when it started and
	 * stops waiting; api.c sets and clears the times. */
	char *deferred;
	uint64_t wait_since_ms, wait_deadline_ms;
	struct client *next;
};

struct lfpd_opts {
	const char *cgroup;
	const char *socket;
	const char *state_dir;
	const char *bpffs;
	bool foreground;
	bool unload;
	bool quiet; /**< --foreground without printing events */
	bool log_permits;
	uint32_t pend_queue;	 /**< NFQUEUE number of pended flows (docs/callouts.md) */
	uint32_t pend_queue_max; /**< its length */
};

struct lfpd {
	struct lfpd_opts opts;
	struct engine eng;
	struct lfp_kern *kern;
	struct redir *redir; /**< the redirector (connect-redirect), or NULL */
	struct exe_cache exes;
	int epfd, lfd, sigfd, inofd;
	int *wds;	     /**< inotify watches of app directories */
	struct app_id *apps; /**< app paths the policy names, with their identity at last commit */
	size_t n_apps;
	size_t n_wds;
	gid_t lfp_gid; /**< gid of group lfp, or (gid_t)-1 */
	bool have_lfp_gid;
	struct client *clients;
	struct client *lock_owner; /**< the session whose transaction is open (eng.open_txn) */
	uint64_t next_session;
	/** Ended dynamic sessions whose objects wait for the lock to be deleted. */
	uint64_t *dead_sessions;
	size_t n_dead_sessions;
	uint64_t drop_retry_ms; /**< after a failed drop, not before this */
	bool stopping;		/**< lfpd is exiting: shutdown_runtime() drops everything */
	uint64_t mono_to_real_ns;
	uint64_t events_seen;
	uint64_t events_to_clients_dropped;
	uint64_t drops_checked_ms; /**< when monitors were last told about lost events */
	bool running;
	bool refresh_pending;
	uint64_t refresh_at_ms;
	char *netns;	  /**< "net:[4026531840]" */
	char *cgroup_abs; /**< absolute cgroup directory */
	struct pend *pend; /**< pend and complete, callout registry (daemon/pend.c) */
};

/** api_handle(): the request was answered. */
#define API_DONE 0
/** api_handle(): the request needs the engine lock, which another session holds; call
 * again with the same line when the lock is free or the client's wait_deadline_ms passed. */
#define API_WAIT 1

/** Handle one request line from @p c; writes the reply. @return API_DONE or API_WAIT. */
int api_handle(struct lfpd *d, struct client *c, const char *line);

/**
 * @p c is going away (EOF, error, lfpd stopping): abort its open transaction,
 * and delete its dynamic objects now or, while another session holds the lock,
 * as soon as the lock is free.
 */
void api_session_end(struct lfpd *d, struct client *c);

/** Periodic work: retry deleting ended sessions' objects that failed to commit. */
void api_tick(struct lfpd *d);

/** Engine change hook: tells filter-change subscribers (ctx is the struct lfpd). */
void api_filter_changed(void *ctx, const struct eng_filter *ef, bool added);

struct lfp_event;
/** An event lfpd makes itself (a completed pend) to the console and the monitors. */
void lfpd_publish_event(struct lfpd *d, const struct lfp_event *ke);

/** Queue @p msg for a client (non-blocking; used for replies and monitor streams). */
int client_send(struct lfpd *d, struct client *c, const json_t *msg);

/** Rebuild the inotify watches for the app paths the policy names. */
void appwatch_rebuild(struct lfpd *d);
/** Handle inotify readiness: schedules an identity check when a watched directory changed. */
void appwatch_handle(struct lfpd *d);
/** Whether some app path's identity differs from the last commit's. */
bool appwatch_identities_changed(struct lfpd *d);
void appwatch_fini(struct lfpd *d);
