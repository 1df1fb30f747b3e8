// SPDX-License-Identifier: MIT
/*
 * `app` conditions match executables by identity (device + inode). Package
 * upgrades replace the file (new inode) with a rename into place, so we watch
 * the directories of every app path the policy names (and of the file a
 * symlink points to) and re-resolve shortly after a change.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>
#include "lfpd.h"

#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB)
#define REFRESH_DELAY_MS 200

static void watch_dir_of(struct lfpd *d, const char *path)
{
	char buf[PATH_MAX];

	int wd, *v;

	snprintf(buf, sizeof(buf), "%s", path);
	wd = inotify_add_watch(d->inofd, dirname(buf), WATCH_MASK | IN_ONLYDIR);
	if (wd < 0)
		return; /* the directory does not exist (yet): the path matches nothing */
	for (size_t i = 0; i < d->n_wds; i++)
		if (d->wds[i] == wd)
			return;
	v = realloc(d->wds, (d->n_wds + 1) * sizeof(*v));
	if (!v)
		return;
	d->wds = v;
	d->wds[d->n_wds++] = wd;
}

void appwatch_rebuild(struct lfpd *d)
{
	if (d->inofd < 0)
		return;
	for (size_t i = 0; i < d->n_wds; i++)
		inotify_rm_watch(d->inofd, d->wds[i]);
	d->n_wds = 0;
	for (size_t i = 0; i < d->eng.n_filters; i++) {
		const struct lfp_filter *f = &d->eng.filters[i]->f;

		for (size_t c = 0; c < f->n_conds; c++) {
			if (f->conds[c].field != LFP_F_APP)
				continue;
			for (size_t v = 0; v < f->conds[c].n; v++) {
				const char *p = f->conds[c].v[v].str;
				char real[PATH_MAX];

				if (!p)
					continue;
				watch_dir_of(d, p);
				if (realpath(p, real) && strcmp(real, p))
					watch_dir_of(d, real);
			}
		}
	}
}

void appwatch_handle(struct lfpd *d)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct timespec ts;
	bool changed = false;
	ssize_t n;

	while ((n = read(d->inofd, buf, sizeof(buf))) > 0)
		changed = true;
	if (!changed)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	d->refresh_pending = true;
	d->refresh_at_ms =
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + REFRESH_DELAY_MS;
}
