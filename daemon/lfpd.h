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
	bool closing;
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
};

struct lfpd {
	struct lfpd_opts opts;
	struct engine eng;
	struct lfp_kern *kern;
	struct exe_cache exes;
	int epfd, lfd, sigfd, inofd;
	int *wds; /**< inotify watches of app directories */
	struct app_id *apps; /**< app paths the policy names, with their identity at last commit */
	size_t n_apps;
	size_t n_wds;
	gid_t lfp_gid; /**< gid of group lfp, or (gid_t)-1 */
	bool have_lfp_gid;
	struct client *clients;
	uint64_t mono_to_real_ns;
	uint64_t events_seen;
	uint64_t events_to_clients_dropped;
	bool running;
	bool refresh_pending;
	uint64_t refresh_at_ms;
	char *netns;	  /**< "net:[4026531840]" */
	char *cgroup_abs; /**< absolute cgroup directory */
};

/** Handle one request line from @p c; writes the reply. */
void api_handle(struct lfpd *d, struct client *c, const char *line);

/** Queue @p msg for a client (non-blocking; used for replies and monitor streams). */
int client_send(struct lfpd *d, struct client *c, const json_t *msg);

/** Rebuild the inotify watches for the app paths the policy names. */
void appwatch_rebuild(struct lfpd *d);
/** Handle inotify readiness: schedules an identity check when a watched directory changed. */
void appwatch_handle(struct lfpd *d);
/** Whether some app path's identity differs from the last commit's. */
bool appwatch_identities_changed(struct lfpd *d);
void appwatch_fini(struct lfpd *d);
