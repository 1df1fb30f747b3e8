// SPDX-License-Identifier: MIT
/*
 * Drop reason names for discard events (bpf/discard.bpf.h). Taken from the
 * kernel's BTF at run time, never from a table of our own: the enum grows
 * and is renumbered between kernel versions.
 */
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

#include "discard.h"

static struct btf *vmlinux_btf;
static const struct btf_type *reason_enum;
static int looked_up;

static void reasons_load(void)
{
	int id;

	looked_up = 1;
	vmlinux_btf = btf__load_vmlinux_btf();
	if (!vmlinux_btf)
		return;
	id = btf__find_by_name_kind(vmlinux_btf, "skb_drop_reason", BTF_KIND_ENUM);
	if (id > 0)
		reason_enum = btf__type_by_id(vmlinux_btf, id);
}

const char *discard_reason_name(uint32_t reason)
{
	static char other[32];
	static const char prefix[] = "SKB_DROP_REASON_";

	if (!looked_up)
		reasons_load();
	if (reason_enum) {
		const struct btf_enum *m = btf_enum(reason_enum);

		for (unsigned i = 0; i < btf_vlen(reason_enum); i++, m++) {
			const char *name;

			if ((uint32_t)m->val != reason)
				continue;
			name = btf__name_by_offset(vmlinux_btf, m->name_off);
			if (!name)
				break;
			if (!strncmp(name, prefix, sizeof(prefix) - 1))
				name += sizeof(prefix) - 1;
			return name;
		}
	}
	snprintf(other, sizeof(other), "reason-%u", reason);
	return other;
}
