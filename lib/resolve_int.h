/* SPDX-License-Identifier: MIT */
/* liblfp-internal: account names to ids, shared by the resolvers and lfp_conn_parse. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/**
 * Look a user (@p user true) or group name up (getpwnam_r/getgrnam_r).
 * @return 0 with *id set, -ENOENT when there is no such name, another -errno.
 */
int resolve_account_id(bool user, const char *name, uint32_t *id);
