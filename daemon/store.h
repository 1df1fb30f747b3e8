/* SPDX-License-Identifier: MIT */
/**
 * @file store.h
 * @brief The state dir: the persistent policy (policy.json), the boot-time set
 * (boot.json) and a pending confirmation (confirm.json), as JSON, written
 * atomically (temporary file, fsync, rename, fsync of the directory), with ids
 * and counter slots so a restarted lfpd keeps them.
 */
#pragma once

#include <jansson.h>
#include <lfp/diag.h>

struct engine;

/** The persistent policy: objects lfpd loads and enforces at every start. */
#define STORE_POLICY "policy.json"
/** The boot-time set: what `lfpd --boot` enforces from boot until lfpd starts. */
#define STORE_BOOT "boot.json"
/** A change applied with --confirm that waits for `lfp confirm`: what a rollback restores. */
#define STORE_CONFIRM "confirm.json"

/**
 * Save the engine's persistent objects (STORE_POLICY) and its boot-time set
 * (STORE_BOOT), each file atomically. @return 0 or -errno (with a warning in diags).
 */
int store_save(struct engine *eng, struct lfp_diags *diags);

/**
 * Read STATE-DIR/@p file (a JSON object with "version": 1).
 * @return 0, -ENOENT (no such file yet), -EINVAL with diags.
 */
int store_read(const char *state_dir, const char *file, json_t **out, struct lfp_diags *diags);

/**
 * Write @p root to STATE-DIR/@p file atomically (the directory is created if
 * needed). @return 0 or -errno (the caller says what failed).
 */
int store_write(const char *state_dir, const char *file, const json_t *root);

/** Remove STATE-DIR/@p file durably. @return 0 (also when it did not exist) or -errno. */
int store_remove(const char *state_dir, const char *file);
