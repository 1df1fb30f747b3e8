/* SPDX-License-Identifier: MIT */
/**
 * @file explain.h
 * @brief `explain` as JSON, the same for lfpd (its live policy) and for
 * `lfp explain -f FILE` (a file, offline): one reply shape, one builder.
 */
#pragma once

#include <jansson.h>
#include <lfp/oracle.h>

/**
 * Classify @conn against @p with the oracle and add to the object @out:
 * "verdict", "hard", "layer", "filter" (id and name, or null), "sublayers"
 * (each one's name, weight, answer, hardness and filter), "before" (how the
 * layer that runs first on the same operation decided, or null) and "acts"
 * (the layers that act, in order). Returns 0 or a negative errno (@out may
 * then hold part of the reply; the caller drops it).
 */
int lfp_explain_json(const struct lfp_policy *p, const struct lfp_conn *conn, json_t *out);
