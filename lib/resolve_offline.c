// SPDX-License-Identifier: MIT
/* `lfp explain -f` works on a file, not on this machine's binaries: apps and
 * cgroups match by the path the user gives; only account names are looked up. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <lfp/oracle.h>

static int offline_user(void *ctx, const char *name, uint32_t *uid)
{
	struct passwd *pw = getpwnam(name);

	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	return 0;
}

static int offline_group(void *ctx, const char *name, uint32_t *gid)
{
	struct group *gr = getgrnam(name);

	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

const struct lfp_resolver lfp_resolver_offline = {
	.user = offline_user,
	.group = offline_group,
};
