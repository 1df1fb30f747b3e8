// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for connection descriptions (lfp explain). A success
 * leaves a consistent connection; a failure is reported and leaves the
 * struct empty, so lfp_conn_fini on it is always safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/rule.h>
#include <lfp/layer.h>
#include <lfp/oracle.h>

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct lfp_diags d = { 0 };
	struct lfp_conn c;
	char *text = malloc(size + 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	r = lfp_conn_parse(text, &c, &d);
	if (r) {
		check(r == -EINVAL || r == -ENOMEM);
		check(r == -ENOMEM || lfp_diags_errors(&d) > 0);
		check(!c.app_path && !c.cgroup_path);
		f = open_memstream(&buf, &len);
		if (f) {
			lfp_diags_print(&d, f);
			fclose(f);
			free(buf);
		}
	} else {
		check(lfp_diags_errors(&d) == 0);
		check(lfp_layer_info(c.layer) != NULL);
		check(c.ipver == 0 || c.ipver == 4 || c.ipver == 6);
		check(!c.app_path || c.app_path[0] == '/');
		check(!c.cgroup_path || c.cgroup_path[0] == '/');
	}
	lfp_conn_fini(&c);
	lfp_diags_fini(&d);
	free(text);
	return 0;
}
