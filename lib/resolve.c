// SPDX-License-Identifier: MIT
/*
 * Commit-time resolution of named values: the kernel sees identities and
 * ids, never names, so a rule about /usr/bin/curl follows the file (not its
 * name) and a rule about `alice` follows her uid.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <mntent.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <lfp/oracle.h>
#include "resolve_int.h"

/* The kernel's dev_t (MAJOR << 20 | MINOR), which BPF reads from the inode. */
static uint64_t kernel_dev(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

static int sys_app(void *ctx, const char *path, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	/* stat, not lstat: a symlink's app is the file it leads to */
	if (stat(path, &st))
		return errno == ENOTDIR ? -ENOENT : -errno;
	*dev = kernel_dev(st.st_dev);
	*ino = st.st_ino;
	return 0;
}

/* getpw/getgr*_r report "no such name" in several ways (see getpwnam(3)). */
static int nss_not_found(int r)
{
	return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

int resolve_account_id(bool user, const char *name, uint32_t *id)
{
	long sz = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char *buf;
	int r;

	if (sz < 1024)
		sz = 1024;
	for (;;) {
		buf = malloc((size_t)sz);
		if (!buf)
			return -ENOMEM;
		if (user)
			r = getpwnam_r(name, &pw, buf, (size_t)sz, &pwp);
		else
			r = getgrnam_r(name, &gr, buf, (size_t)sz, &grp);
		if (r != ERANGE || sz >= (1l << 24))
			break;
		free(buf);
		sz *= 2;
	}
	free(buf);
	if (user ? !!pwp : !!grp) {
		*id = user ? pw.pw_uid : gr.gr_gid;
		return 0;
	}
	return nss_not_found(r) ? -ENOENT : -r;
}

static int sys_user(void *ctx, const char *name, uint32_t *uid)
{
	return resolve_account_id(true, name, uid);
}

static int sys_group(void *ctx, const char *name, uint32_t *gid)
{
	return resolve_account_id(false, name, gid);
}

/* The first cgroup2 mount in /proc/mounts (e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified). */
static int cgroup2_mount(char *out, size_t len)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	int r = -ENODEV;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		if (strlen(m->mnt_dir) >= len) {
			r = -ENAMETOOLONG;
			break;
		}
		strcpy(out, m->mnt_dir);
		r = 0;
		break;
	}
	endmntent(f);
	return r;
}

/* In cgroup v2 the cgroup id is the inode number of its directory. */
static int sys_cgroup(void *ctx, const char *path, uint64_t *id)
{
	char mnt[PATH_MAX], full[PATH_MAX];
	struct stat st;
	int r = cgroup2_mount(mnt, sizeof(mnt));

	if (r)
		return r;
	while (*path == '/')
		path++;
	if (snprintf(full, sizeof(full), "%s/%s", mnt, path) >= (int)sizeof(full))
		return -ENAMETOOLONG;
	if (stat(full, &st))
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOENT;
	*id = st.st_ino;
	return 0;
}

static int sys_iface(void *ctx, const char *name, uint32_t *ifindex)
{
	unsigned int idx = if_nametoindex(name);

	if (!idx)
		return errno == ENODEV || errno == ENXIO ? -ENOENT : -errno;
	*ifindex = idx;
	return 0;
}

const struct lfp_resolver lfp_resolver_system = {
	.app = sys_app,
	.user = sys_user,
	.group = sys_group,
	.cgroup = sys_cgroup,
	.iface = sys_iface,
};

static int diag_filter(struct lfp_diags *d, const struct lfp_filter *f, const struct lfp_value *v,
		       const char *fmt_what, const char *str, int err)
{
	char who[64];

	if (f->name)
		snprintf(who, sizeof(who), "'%s'", f->name);
	else if (f->id)
		snprintf(who, sizeof(who), "%llu", (unsigned long long)f->id);
	else
		snprintf(who, sizeof(who), "at line %u", f->loc.line);
	if (err == -ENOENT)
		return lfp_diags_add(d, LFP_DIAG_ERROR, v->loc.line ? v->loc : f->loc, NULL,
				     "filter %s: unknown %s '%s'", who, fmt_what, str);
	return lfp_diags_add(d, LFP_DIAG_ERROR, v->loc.line ? v->loc : f->loc, NULL,
			     "filter %s: cannot resolve %s '%s': %s", who, fmt_what, str,
			     strerror(-err));
}

/*
 * Resolve one value. @return 0, -ENOENT when a name is unknown (a user
 * error), or another -errno from the resolver.
 */
static int value_resolve(enum lfp_field field, struct lfp_value *v, const struct lfp_resolver *r)
{
	uint64_t a = 0, b = 0;
	uint32_t id = 0;
	int err;

	switch (field) {
	case LFP_F_APP:
		if (!v->str || !r->app)
			return 0;
		err = r->app(r->ctx, v->str, &a, &b);
		break;
	case LFP_F_CGROUP:
		if (!v->str || !r->cgroup)
			return 0;
		err = r->cgroup(r->ctx, v->str, &a);
		b = a;
		break;
	case LFP_F_USER:
	case LFP_F_GROUP:
	case LFP_F_IFACE:
		if (v->form != LFP_VF_NAME || !v->str)
			return 0;
		if (field == LFP_F_USER && r->user)
			err = r->user(r->ctx, v->str, &id);
		else if (field == LFP_F_GROUP && r->group)
			err = r->group(r->ctx, v->str, &id);
		else if (field == LFP_F_IFACE && r->iface)
			err = r->iface(r->ctx, v->str, &id);
		else
			return 0;
		a = b = id;
		break;
	default: return 0;
	}

	/* re-resolution starts afresh: a file replaced since last time has a new identity */
	v->resolved = false;
	v->absent = false;
	if (err == -ENOENT && (field == LFP_F_USER || field == LFP_F_GROUP))
		return -ENOENT;
	if (err == -ENOENT) {
		/* absent: matches nothing until it exists (and a commit re-resolves) */
		v->resolved = true;
		v->absent = true;
		return 0;
	}
	if (err)
		return err;
	v->lo = a;
	v->hi = b;
	v->resolved = true;
	return 0;
}

static const char *field_word(enum lfp_field f)
{
	switch (f) {
	case LFP_F_USER: return "user";
	case LFP_F_GROUP: return "group";
	case LFP_F_IFACE: return "interface";
	case LFP_F_CGROUP: return "cgroup";
	default: return "app";
	}
}

int lfp_policy_resolve(struct lfp_policy *p, const struct lfp_resolver *r, struct lfp_diags *diags)
{
	int ret = 0;

	/* keep going after an error so one pass reports every unknown name */
	for (size_t i = 0; i < p->n_filters; i++) {
		struct lfp_filter *f = &p->filters[i];

		for (size_t j = 0; j < f->n_conds; j++) {
			struct lfp_cond *c = &f->conds[j];

			for (size_t k = 0; k < c->n; k++) {
				struct lfp_value *v = &c->v[k];
				int err = value_resolve(c->field, v, r);

				if (!err)
					continue;
				if (err == -ENOMEM)
					return -ENOMEM;
				if (diag_filter(diags, f, v, field_word(c->field), v->str, err))
					return -ENOMEM;
				if (err == -ENOENT) {
					if (!ret)
						ret = -EINVAL;
				} else if (!ret || ret == -EINVAL) {
					ret = err;
				}
			}
		}
	}
	return ret;
}
