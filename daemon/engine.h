/* SPDX-License-Identifier: MIT */
/**
 * @file engine.h
 * @brief lfpd's engine: the object store (sublayers, filters, callouts),
 * transactions that commit atomically to the kernel, persistence.
 *
 * Every change runs in a transaction: begin, edits, commit. Commit resolves
 * names and identities, computes weights, lowers the whole policy and hands
 * it to the kernel as one new generation; only when the kernel has it does
 * the engine's state change (and the persistent part get saved). Any error
 * leaves the engine, the kernel and the state dir exactly as they were.
 *
 * Lifetimes: the kernel enforces every object except the boot-time set, which
 * the engine keeps (listed, saved in its own file) for `lfpd --boot`; an
 * engine in boot mode enforces the boot-time set alone and saves nothing.
 *
 * Confirmation: an apply may arm a rollback (`lfp -f FILE --confirm SECONDS`).
 * The engine then holds the provider's previous objects (a snapshot, also
 * saved in the state dir with the deadline) until `lfp confirm` or the
 * deadline; meanwhile changes to that provider are refused.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <lfp/lfp.h>
#include <lfp/lower.h>

struct lfp_kern;

struct eng_filter {
	struct lfp_filter f; /**< owned; f.id, f.provider and f.lifetime always set */
	uint32_t counter;    /**< hit counter slot in the kernel */
	bool fresh;	     /**< created by an uncommitted transaction */
	uint64_t session;    /**< LFP_LT_DYNAMIC: the API session that owns it, else 0 */
};

struct eng_txn;

/** One filter of a snapshot: a deep copy, with its owning session (dynamic filters). */
struct eng_snap_filter {
	struct lfp_filter f; /**< owned; f.id, f.provider and f.lifetime set */
	uint64_t session;
};

/** A provider's objects at one moment: what a rollback brings back, ids included. */
struct eng_snapshot {
	char *provider;		   /**< owned */
	struct lfp_sublayer *subs; /**< owned copies (never the built-in default) */
	uint64_t *sub_sessions;	   /**< parallel to subs */
	size_t n_subs;
	struct eng_snap_filter *filters;
	size_t n_filters;
};

/** A change applied with --confirm that rolls back unless confirmed in time. */
struct eng_confirm {
	struct eng_snapshot prev;   /**< the provider's objects before the change */
	enum lfp_lifetime lifetime; /**< of the apply */
	uint32_t seconds;	    /**< as asked */
	uint64_t applied_ms;	    /**< CLOCK_REALTIME, ms */
	uint64_t deadline_ms;	    /**< CLOCK_REALTIME, ms (saved: survives lfpd) */
	uint64_t deadline_mono_ms;  /**< CLOCK_MONOTONIC, ms (what lfpd waits on) */
	uint64_t session;	    /**< the session that applied it (0: unknown, re-armed) */
	int32_t pid;		    /**< its client's pid (0: unknown) */
	uint64_t retry_mono_ms;	    /**< after a failed rollback, not before this */
	char *error;		    /**< why the last rollback attempt failed, or NULL */
};

/**
 * Told after a commit, once per filter that the commit deleted (@p added false,
 * before it is freed) and then once per filter it added. Must not touch the engine.
 */
typedef void (*eng_change_fn)(void *ctx, const struct eng_filter *ef, bool added);

struct engine {
	struct eng_filter **filters; /**< sorted by id */
	size_t n_filters;
	struct lfp_sublayer *subs; /**< includes "default" (id 1) */
	uint64_t *sub_sessions;	   /**< parallel to subs: owning session of dynamic sublayers */
	size_t n_subs;
	uint64_t next_filter_id;
	uint32_t next_sublayer_id;
	uint8_t *slot_used; /**< counter slots in use */
	uint32_t n_slots;
	uint32_t slot_hint; /**< where the next free-slot search starts */
	struct lfp_kern *kern;	  /**< NULL: no kernel (offline tests) */
	char *state_dir;	  /**< NULL: no persistence */
	uint32_t enforced_layers; /**< bit per enum lfp_layer the kernel enforces */
	struct lfp_callout *callouts;
	size_t n_callouts;
	uint64_t gen;	       /**< last committed generation */
	bool dirty_identities; /**< an app file changed: recommit to re-resolve */
	/**
	 * The explicit transaction an API session holds open (owned; NULL when none).
	 * The engine has one writer: while it is open, the committed state changes
	 * through it alone. engine_fini() aborts it.
	 */
	struct eng_txn *open_txn;
	eng_change_fn on_change; /**< NULL: nobody listens */
	void *change_ctx;
	/** Boot mode (`lfpd --boot`): load, enforce only the boot-time set, never save. */
	bool boot_mode;
	/**
	 * Called with each lowered policy before the kernel gets it (NULL: none): the
	 * redirector gives redirect filters their targets (daemon/redir.h).
	 * @return 0, or -errno with a diag (the commit fails).
	 */
	int (*lower_hook)(void *ctx, struct lfp_lowered *lw, struct lfp_diags *diags);
	void *lower_ctx;
	struct eng_confirm *confirm; /**< the pending confirmation (owned), or NULL */
	char *last_rollback;	     /**< provider of the last rollback, or NULL */
	uint64_t last_rollback_ms;   /**< when (CLOCK_REALTIME, ms) */
};

struct eng_txn {
	struct engine *eng;
	struct eng_filter **filters;
	size_t n_filters, cap;
	/* every filter this txn created, also those it deleted again: freed by abort,
	 * or by commit when they did not survive (a savepoint can bring them back) */
	struct eng_filter **owned;
	size_t n_owned, cap_owned;
	struct lfp_sublayer *subs;
	uint64_t *sub_sessions; /**< parallel to subs */
	size_t n_subs;
	uint64_t next_filter_id;
	uint32_t next_sublayer_id;
	bool saved_changed; /**< persistent or boot-time objects changed: save at commit */
	bool names_later;   /**< bulk insert: filter names are checked once, afterwards */
	uint64_t session;   /**< owner given to the dynamic objects this txn adds */
};

/** The state of a transaction before one operation, to undo just that operation. */
struct eng_savepoint {
	struct eng_filter **filters;
	size_t n_filters, n_owned;
	struct lfp_sublayer *subs;
	uint64_t *sub_sessions;
	size_t n_subs;
	uint64_t next_filter_id;
	uint32_t next_sublayer_id;
	bool saved_changed;
};

/** Initialize @p eng: default sublayer, built-in callouts. */
int engine_init(struct engine *eng, struct lfp_kern *kern, const char *state_dir);
void engine_fini(struct engine *eng);

/**
 * Load the persistent policy and the boot-time set from the state dir and
 * commit (in boot mode: the boot-time set alone). A missing state file is an
 * empty set; the commit happens in any case, so the kernel then enforces
 * exactly what the state dir says. @return 0 or -errno with diags.
 */
int engine_load(struct engine *eng, struct lfp_diags *diags);

int eng_txn_begin(struct engine *eng, struct eng_txn *txn);
/** Drop every uncommitted change. */
void eng_txn_abort(struct eng_txn *txn);
/** Commit to the kernel and the state dir; on error nothing changes (txn is aborted). */
int eng_txn_commit(struct eng_txn *txn, struct lfp_diags *diags);

/**
 * Add a filter (the txn takes ownership of *f's contents; *f is zeroed).
 * @param provider owner tag (copied). @return the new id (>0) or -errno with diags.
 */
int64_t eng_txn_add_filter(struct eng_txn *txn, struct lfp_filter *f, const char *provider,
			   enum lfp_lifetime lt, struct lfp_diags *diags);
/** Delete by id or name. @return 0, -ENOENT. */
int eng_txn_del_filter(struct eng_txn *txn, const char *id_or_name, struct lfp_diags *diags);
int eng_txn_add_sublayer(struct eng_txn *txn, struct lfp_sublayer *s, const char *provider,
			 enum lfp_lifetime lt, struct lfp_diags *diags);
int eng_txn_del_sublayer(struct eng_txn *txn, const char *name, struct lfp_diags *diags);
/**
 * Make @p provider hold exactly @p rs (lfp -f): unchanged objects keep their
 * ids, others are removed or added. Objects of other providers are untouched.
 */
int eng_txn_replace_provider(struct eng_txn *txn, const char *provider, struct lfp_ruleset *rs,
			     enum lfp_lifetime lt, struct lfp_diags *diags);
/**
 * Delete the persistent objects (@p lt LFP_LT_PERSISTENT) or the boot-time set
 * (LFP_LT_BOOT_TIME), of @p provider or all when NULL.
 */
int eng_txn_flush(struct eng_txn *txn, const char *provider, enum lfp_lifetime lt,
		  struct lfp_diags *diags);
/** Delete every object with lifetime @p lt (runtime objects when lfpd stops). */
int eng_txn_drop_lifetime(struct eng_txn *txn, enum lfp_lifetime lt);
/**
 * Delete the dynamic objects of API session @p session (it ended). A dynamic
 * sublayer that still holds other filters is kept as a runtime sublayer.
 * @return how many objects were deleted.
 */
size_t eng_txn_drop_session(struct eng_txn *txn, uint64_t session);

/**
 * Remember @p txn's state so that one failed operation can be undone without
 * poisoning the transaction (WFP: the client may still commit the good ones).
 * @return 0 or -ENOMEM. Release with eng_savepoint_fini() or eng_txn_rollback().
 */
int eng_txn_savepoint(struct eng_txn *txn, struct eng_savepoint *sp);
/** Bring @p txn back to @p sp and release it. */
void eng_txn_rollback(struct eng_txn *txn, struct eng_savepoint *sp);
/** Release @p sp, keeping what the transaction did since. */
void eng_savepoint_fini(struct eng_savepoint *sp);

/** Whether @p session owns dynamic objects in the committed state. */
bool engine_session_has_objects(struct engine *eng, uint64_t session);

/** Find a committed filter by id or name, or NULL. */
struct eng_filter *engine_find_filter(struct engine *eng, const char *id_or_name);
/** Name of the filter with @p id, or NULL. */
const char *engine_filter_name(struct engine *eng, uint64_t id);

/** Whether the kernel enforces objects of lifetime @p lt in this engine's mode. */
bool engine_enforces(const struct engine *eng, enum lfp_lifetime lt);

/**
 * Build a policy view of what the kernel enforces: the committed state without
 * the objects engine_enforces() leaves out (shallow; free with engine_policy_free).
 */
int engine_policy_view(struct engine *eng, struct lfp_policy *p);
void engine_policy_free(struct lfp_policy *p);

/**
 * Export the persistent objects (@p lt LFP_LT_PERSISTENT) or the boot-time set
 * (LFP_LT_BOOT_TIME), of @p provider or all, as `lfp -f` text. Caller frees.
 */
char *engine_export(struct engine *eng, const char *provider, enum lfp_lifetime lt,
		    bool show_secrets);

/** Recommit the current policy (re-resolve app identities). */
int engine_refresh(struct engine *eng, struct lfp_diags *diags);

/** Whether any committed filter names the app path @p path. */
bool engine_uses_app(struct engine *eng, const char *path);

/* ---- confirmation (lfp -f FILE --confirm SECONDS) ---- */

/** Deep-copy the committed objects of @p provider into @p snap. @return 0 or -ENOMEM. */
int engine_snapshot(struct engine *eng, const char *provider, struct eng_snapshot *snap);
void eng_snapshot_fini(struct eng_snapshot *snap);

/**
 * Make @p snap's provider hold exactly the snapshot's objects again, with
 * their ids: objects the snapshot has and the txn lacks come back (hit counters
 * start again), the provider's other objects go, the rest is untouched.
 * Dynamic filters come back only when @p alive says their session still lives.
 * @return 0 or -errno with diags.
 */
int eng_txn_restore(struct eng_txn *txn, const struct eng_snapshot *snap,
		    bool (*alive)(void *ctx, uint64_t session), void *ctx, struct lfp_diags *diags);

/**
 * While a confirmation is pending: refuse (-EBUSY with diags) a transaction
 * that changes the pending provider's objects, or that takes a name or a
 * sublayer the rollback needs. @return 0 when none is pending or nothing conflicts.
 */
int eng_txn_check_confirm(struct eng_txn *txn, struct lfp_diags *diags);

/**
 * Prepare a confirmation for applying @p provider: refuse (-EBUSY) when one is
 * pending, snapshot the provider, save the snapshot and the deadline (now +
 * @p seconds) in the state dir. Then either engine_confirm_arm() it (the apply
 * committed) or engine_confirm_cancel() it. @return 0 or -errno with diags.
 */
int engine_confirm_begin(struct engine *eng, const char *provider, enum lfp_lifetime lt,
			 uint32_t seconds, uint64_t session, int32_t pid, struct eng_confirm **out,
			 struct lfp_diags *diags);
/** The apply committed: @p c becomes the pending confirmation (the engine owns it). */
void engine_confirm_arm(struct engine *eng, struct eng_confirm *c);
/** The apply failed: forget @p c and its file. */
void engine_confirm_cancel(struct engine *eng, struct eng_confirm *c);

/**
 * `lfp confirm`: the pending change stays. @return 0 (a failure to remove the
 * file is a warning in diags), -ENOENT with diags when nothing is pending.
 */
int engine_confirm_clear(struct engine *eng, struct lfp_diags *diags);

/** Whether the pending confirmation's rollback is due (deadline passed, not retrying yet). */
bool engine_confirm_due(const struct engine *eng);

/**
 * Roll the pending change back in one transaction, say so in lfpd's log
 * (@p why: "the deadline passed", ...), forget the confirmation. On failure the
 * confirmation stays, with its error and a retry time 1 s later.
 * @return 0 or -errno with diags.
 */
int engine_confirm_rollback(struct engine *eng, const char *why,
			    bool (*alive)(void *ctx, uint64_t session), void *ctx,
			    struct lfp_diags *diags);

/**
 * At start: read a confirmation that an earlier lfpd left pending (it was
 * killed). Its deadline is re-armed; engine_confirm_due() tells whether it
 * passed meanwhile. @return 0 (also when there is none) or -errno with diags.
 */
int engine_confirm_load(struct engine *eng, struct lfp_diags *diags);

/** Milliseconds until the pending rollback (0 when due or none). */
uint64_t engine_confirm_remaining_ms(const struct engine *eng);
