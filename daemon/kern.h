/* SPDX-License-Identifier: MIT */
/**
 * @file kern.h
 * @brief lfpd's kernel side: load or adopt the pinned BPF programs, attach
 * them to the scope cgroup, commit policy generations, read counters and
 * events. The only part of lfpd that talks to libbpf.
 *
 * Pins live under opts->bpffs (default /sys/fs/bpf/lfp): links (so
 * enforcement survives lfpd), the outer maps, state, counters, stats, the
 * event ring buffer. lfp_kern_open() adopts existing pins: it reuses the
 * maps, and replaces the programs behind the pinned links with
 * bpf_link_update (no gap, no duplicate attachment).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <lfp/lower.h>

struct lfp_kern;

struct lfp_kern_opts {
	size_t sz;
	const char *cgroup; /**< cgroup v2 directory to attach to (required) */
	const char *bpffs;  /**< pin directory (required) */
	bool log_permits;   /**< events for permitted connections */
	/**
	 * Link the BPF netfilter programs (packet layers, traffic without a
	 * socket) in the calling process's network namespace. Off: those hooks
	 * stay inactive, and status says so. lfpd sets it; a test that opens the
	 * kernel side outside its own namespace must not.
	 */
	bool netfilter;
};

/** One hook's status for `lfp status`. */
struct lfp_kern_hook {
	const char *name; /**< "connect4", "sendmsg6", "sock_ops", "exec tracepoint", ... */
	int layer;	  /**< enum lfp_layer it serves, or -1 */
	bool active;
	char reason[128]; /**< why not active ("" when active) */
};

#define LFP_KERN_MAX_HOOKS 80

struct lfp_kern_status {
	bool adopted; /**< pins existed and were adopted */
	uint64_t gen; /**< active generation (0: none, permit all) */
	uint64_t scope_cgroup_id;
	size_t n_hooks;
	struct lfp_kern_hook hooks[LFP_KERN_MAX_HOOKS];
	uint64_t stats[LFP_STAT_COUNT]; /**< summed over CPUs */
};

/**
 * Load (or adopt) and attach. On partial failure the hooks that loaded
 * stay active and the others are reported in status; returns 0 if at least
 * auth-connect is enforced, else a negative errno.
 */
int lfp_kern_open(const struct lfp_kern_opts *opts, struct lfp_kern **out);

/** Close handles; pinned programs keep enforcing. NULL-safe. */
void lfp_kern_close(struct lfp_kern *k);

/**
 * Remove every pin under @p bpffs (links first, so programs detach), then the
 * directory. @return 0 or -errno (ENOENT when nothing was pinned is 0).
 */
int lfp_kern_unload(const char *bpffs);

/**
 * Make @p lw the active policy: build a new generation of inner maps, place
 * it in the inactive slot, flip lfp_state.gen. All or nothing: on error the
 * old generation stays active. lw->filters[i].counter must be set.
 * @param gen_out the new generation number.
 */
int lfp_kern_commit(struct lfp_kern *k, const struct lfp_lowered *lw, uint64_t *gen_out);

/** The active generation recorded in the pinned state (0 = none). */
uint64_t lfp_kern_gen(struct lfp_kern *k);

/** Hit counter of one counter slot, summed over CPUs. */
int lfp_kern_counter(struct lfp_kern *k, uint32_t slot, uint64_t *hits);
/** Zero a counter slot (when a slot is given to a new filter). */
int lfp_kern_counter_reset(struct lfp_kern *k, uint32_t slot);

/** Turn events for permitted connections on or off. */
int lfp_kern_set_log_permits(struct lfp_kern *k, bool on);

/** Fill @p st. */
int lfp_kern_status(struct lfp_kern *k, struct lfp_kern_status *st);

/** The maps and the pinned match program of pend and complete (daemon/pend.c). */
struct lfp_kern_pend_maps {
	int pend, tuple, kill, udp_cache; /**< fds owned by the lfp_kern */
	int pend_in;			  /**< inbound records (auth-recv-accept) */
	char match_path[4096];		  /**< the pinned xt_bpf program (OUTPUT) */
	char match_in_path[4096];	  /**< and the one for INPUT */
};

/**
 * Fill @p m. @return 0, or -EOPNOTSUPP when the match program or the end
 * iterators are not active on this kernel (then nothing can pend).
 */
int lfp_kern_pend_maps(struct lfp_kern *k, struct lfp_kern_pend_maps *m);

/** End every socket whose cookie is in the kill map (runs the pend end iterators). */
int lfp_kern_pend_end(struct lfp_kern *k);

/** Callback for each event: data is a struct lfp_event or struct lfp_exec_event (check ->type). */
typedef int (*lfp_kern_event_fn)(void *ctx, const void *data, size_t size);

/** An fd to poll for events (readable when the ring buffer has data). */
int lfp_kern_event_fd(struct lfp_kern *k);

/** Consume available events, calling @p fn for each. @return number consumed or -errno. */
int lfp_kern_event_poll(struct lfp_kern *k, lfp_kern_event_fn fn, void *ctx);

/**
 * Whether every hook serving @p layer (enum lfp_layer) is attached: a layer
 * is enforced only when all of them are.
 */
bool lfp_kern_layer_ready(struct lfp_kern *k, int layer);

/** The fd of the loaded object's map named @p name, or -ENOENT. */
int lfp_kern_map_fd(struct lfp_kern *k, const char *name);

/** Maximum counter slots (size of the pinned counters map). */
#define LFP_KERN_COUNTER_SLOTS (1u << 21)
