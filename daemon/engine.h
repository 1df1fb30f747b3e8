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
	bool persistent_changed;
	uint64_t session; /**< owner given to the dynamic objects this txn adds */
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
	bool persistent_changed;
};

/** Initialize @p eng: default sublayer, built-in callouts. */
int engine_init(struct engine *eng, struct lfp_kern *kern, const char *state_dir);
void engine_fini(struct engine *eng);

/**
 * Load the persistent policy from the state dir and commit it.
 * A missing state file is an empty policy. @return 0 or -errno with diags.
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
/** Delete the persistent objects (of @p provider, or all when NULL). */
int eng_txn_flush(struct eng_txn *txn, const char *provider, struct lfp_diags *diags);
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

/** Build a policy view of the committed state (shallow; free with engine_policy_free). */
int engine_policy_view(struct engine *eng, struct lfp_policy *p);
void engine_policy_free(struct lfp_policy *p);

/** Export persistent objects (of @p provider, or all) as `lfp -f` text. Caller frees. */
char *engine_export(struct engine *eng, const char *provider, bool show_secrets);

/** Recommit the current policy (re-resolve app identities). */
int engine_refresh(struct engine *eng, struct lfp_diags *diags);

/** Whether any committed filter names the app path @p path. */
bool engine_uses_app(struct engine *eng, const char *path);
