/* SPDX-License-Identifier: MIT */
/**
 * @file exe.h
 * @brief Executable identity -> path, for events. Filled from exec events
 * (the BPF tracepoint) and once from /proc at start; never read from /proc on
 * the classification path (that runs in the kernel and never waits for us).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct exe_entry {
	uint64_t dev, ino;
	char *path;
	struct exe_entry *next;
};

#define EXE_BUCKETS 4096

struct exe_cache {
	struct exe_entry *b[EXE_BUCKETS];
	size_t n;
};

/** Remember @p path for identity (dev, ino) (copied; replaces an older path). */
int exe_cache_put(struct exe_cache *c, uint64_t dev, uint64_t ino, const char *path);
/** Path for (dev, ino), or NULL. */
const char *exe_cache_get(const struct exe_cache *c, uint64_t dev, uint64_t ino);
/**
 * Learn the path of @p pid's executable from /proc/PID/exe, if its identity is
 * (dev, ino). Used for exec events and for events from processes the cache
 * does not know yet (lfpd started after them). @return the path or NULL.
 */
const char *exe_cache_learn(struct exe_cache *c, pid_t pid, uint64_t dev, uint64_t ino,
			    const char *fallback);
/** Walk /proc once and learn every running process's executable. */
void exe_cache_scan_proc(struct exe_cache *c);
void exe_cache_fini(struct exe_cache *c);
/** Kernel dev encoding (MAJOR << 20 | MINOR) of a stat st_dev. */
uint64_t exe_kdev(dev_t d);
