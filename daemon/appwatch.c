// SPDX-License-Identifier: MIT
/*
 * `app` conditions match executables by identity (device + inode). Package
 * upgrades replace the file (new inode) with a rename into place, so we watch
 * the directories of every app path the policy names (and of the file a
 * symlink points to). A change there only schedules a check; the policy is
 * re-resolved and committed only when some app path's identity really changed.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "exe.h"
#include "lfpd.h"

#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB |        \
	 IN_ONLYDIR)
#define CHECK_DELAY_MS 200

struct app_id {
	char *path;
	uint64_t dev, ino; /* 0, 0: absent */
};

static void app_id_stat(struct app_id *a)
{
	struct stat st;

	if (stat(a->path, &st)) {
		a->dev = a->ino = 0;
		return;
	}
	a->dev = exe_kdev(st.st_dev);
	a->ino = st.st_ino;
}

static void watch_dir_of(struct lfpd *d, const char *path, int **wds, size_t *n)
{
	char buf[PATH_MAX];
	int wd, *v;

	snprintf(buf, sizeof(buf), "%s", path);
	/* an already watched directory gives its existing wd: no churn */
	wd = inotify_add_watch(d->inofd, dirname(buf), WATCH_MASK);
	if (wd < 0)
		return; /* no such directory (yet): the path matches nothing */
	for (size_t i = 0; i < *n; i++)
		if ((*wds)[i] == wd)
			return;
	v = realloc(*wds, (*n + 1) * sizeof(*v));
	if (!v)
		return;
	*wds = v;
	(*wds)[(*n)++] = wd;
}

static void apps_free(struct lfpd *d)
{
	for (size_t i = 0; i < d->n_apps; i++)
		free(d->apps[i].path);
	free(d->apps);
	d->apps = NULL;
	d->n_apps = 0;
}

void appwatch_rebuild(struct lfpd *d)
{
	int *wds = NULL;
	size_t n = 0;

	if (d->inofd < 0)
		return;
	apps_free(d);
	for (size_t i = 0; i < d->eng.n_filters; i++) {
		const struct lfp_filter *f = &d->eng.filters[i]->f;

		for (size_t c = 0; c < f->n_conds; c++) {
			if (f->conds[c].field != LFP_F_APP)
				continue;
			for (size_t v = 0; v < f->conds[c].n; v++) {
				const char *p = f->conds[c].v[v].str;
				char real[PATH_MAX];
				struct app_id *a;

				if (!p)
					continue;
				watch_dir_of(d, p, &wds, &n);
				if (realpath(p, real) && strcmp(real, p))
					watch_dir_of(d, real, &wds, &n);
				a = realloc(d->apps, (d->n_apps + 1) * sizeof(*a));
				if (!a)
					continue;
				d->apps = a;
				a = &d->apps[d->n_apps];
				a->path = strdup(p);
				if (!a->path)
					continue;
				app_id_stat(a);
				d->n_apps++;
			}
		}
	}
	/* drop the watches the policy no longer needs */
	for (size_t i = 0; i < d->n_wds; i++) {
		bool keep = false;

		for (size_t j = 0; j < n && !keep; j++)
			keep = wds[j] == d->wds[i];
		if (!keep)
			inotify_rm_watch(d->inofd, d->wds[i]);
	}
	free(d->wds);
	d->wds = wds;
	d->n_wds = n;
}

void appwatch_handle(struct lfpd *d)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct timespec ts;
	bool changed = false;
	ssize_t n;

	while ((n = read(d->inofd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			/* IN_IGNORED: a watch we removed ourselves; not a change */
			if (!(ev->mask & IN_IGNORED))
				changed = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (!changed || d->refresh_pending)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	d->refresh_pending = true;
	d->refresh_at_ms =
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + CHECK_DELAY_MS;
}

bool appwatch_identities_changed(struct lfpd *d)
{
	bool changed = false;

	for (size_t i = 0; i < d->n_apps; i++) {
		struct app_id now = { .path = d->apps[i].path };

		app_id_stat(&now);
		if (now.dev != d->apps[i].dev || now.ino != d->apps[i].ino)
			changed = true;
	}
	return changed;
}

void appwatch_fini(struct lfpd *d)
{
	apps_free(d);
	free(d->wds);
	d->wds = NULL;
	d->n_wds = 0;
}
