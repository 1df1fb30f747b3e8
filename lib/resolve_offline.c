// SPDX-License-Identifier: MIT
/* `lfp explain -f` works on a file, not on this machine's binaries: apps and
 * cgroups match by the path the user gives; only account names are looked up. */
#include <lfp/oracle.h>
#include "resolve_int.h"

static int offline_user(void *ctx, const char *name, uint32_t *uid)
{
	return resolve_account_id(true, name, uid);
}

static int offline_group(void *ctx, const char *name, uint32_t *gid)
{
	return resolve_account_id(false, name, gid);
}

const struct lfp_resolver lfp_resolver_offline = {
	.user = offline_user,
	.group = offline_group,
};
