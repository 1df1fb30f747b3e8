/* SPDX-License-Identifier: MIT */
/**
 * @file store.h
 * @brief The state dir: the persistent policy as JSON (policy.json), written
 * atomically (temporary file, fsync, rename), with ids and counter slots so a
 * restarted lfpd keeps them.
 */
#pragma once

#include <jansson.h>
#include <lfp/diag.h>

struct engine;

/** Save the engine's persistent objects. @return 0 or -errno. */
int store_save(struct engine *eng, struct lfp_diags *diags);

/** Read policy.json. @return 0, -ENOENT (no state yet), -EINVAL with diags. */
int store_read(const char *state_dir, json_t **out, struct lfp_diags *diags);
