// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "exe.h"

uint64_t exe_kdev(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

static size_t bucket(uint64_t dev, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) % EXE_BUCKETS;
}

int exe_cache_put(struct exe_cache *c, uint64_t dev, uint64_t ino, const char *path)
{
	size_t h = bucket(dev, ino);
	struct exe_entry *e;
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (e = c->b[h]; e; e = e->next) {
		if (e->dev == dev && e->ino == ino) {
			free(e->path);
			e->path = p;
			return 0;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(p);
		return -ENOMEM;
	}
	e->dev = dev;
	e->ino = ino;
	e->path = p;
	e->next = c->b[h];
	c->b[h] = e;
	c->n++;
	return 0;
}

const char *exe_cache_get(const struct exe_cache *c, uint64_t dev, uint64_t ino)
{
	for (struct exe_entry *e = c->b[bucket(dev, ino)]; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e->path;
	return NULL;
}

const char *exe_cache_learn(struct exe_cache *c, pid_t pid, uint64_t dev, uint64_t ino,
			    const char *fallback)
{
	char link[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 0 && !stat(link, &st) && exe_kdev(st.st_dev) == dev && st.st_ino == ino) {
		path[n] = 0;
		/* a replaced binary reads "/usr/bin/x (deleted)": keep the text, it is honest */
		exe_cache_put(c, dev, ino, path);
	} else if (fallback && *fallback) {
		/* the process is gone already (short-lived clients): the name given to
		 * execve may be a symlink; prefer the real file when it is the same one */
		char real[PATH_MAX];

		if (fallback[0] == '/' && realpath(fallback, real) && !stat(real, &st) &&
		    exe_kdev(st.st_dev) == dev && st.st_ino == ino)
			exe_cache_put(c, dev, ino, real);
		else
			exe_cache_put(c, dev, ino, fallback);
	}
	return exe_cache_get(c, dev, ino);
}

void exe_cache_scan_proc(struct exe_cache *c)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char link[300], path[PATH_MAX];
		struct stat st;
		ssize_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(link, sizeof(link), "/proc/%s/exe", de->d_name);
		if (stat(link, &st))
			continue;
		n = readlink(link, path, sizeof(path) - 1);
		if (n <= 0)
			continue;
		path[n] = 0;
		if (!exe_cache_get(c, exe_kdev(st.st_dev), st.st_ino))
			exe_cache_put(c, exe_kdev(st.st_dev), st.st_ino, path);
	}
	closedir(d);
}

void exe_cache_fini(struct exe_cache *c)
{
	for (size_t i = 0; i < EXE_BUCKETS; i++) {
		struct exe_entry *e = c->b[i];

		while (e) {
			struct exe_entry *next = e->next;

			free(e->path);
			free(e);
			e = next;
		}
		c->b[i] = NULL;
	}
	c->n = 0;
}
