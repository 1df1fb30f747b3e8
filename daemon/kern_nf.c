// SPDX-License-Identifier: MIT
/*
 * BPF netfilter links (kern_internal.h) without libbpf's help: Debian's
 * libbpf 1.1 predates BPF_PROG_TYPE_NETFILTER (kernel 6.4), so the program
 * type and expected attach type are set by number before load and the link
 * is created with the raw BPF_LINK_CREATE command and the netfilter
 * options laid out as the kernel's union bpf_attr has them.
 *
 * Netfilter hooks belong to a network namespace: the kernel links the hook
 * in the namespace of the calling process, lfpd's. Nothing here ever runs
 * in a namespace lfpd was not started in.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "kern_internal.h"

#define PROG_TYPE_NETFILTER 32 /* BPF_PROG_TYPE_NETFILTER */
#define ATTACH_NETFILTER    45 /* BPF_NETFILTER */
#define CMD_LINK_CREATE	    28 /* BPF_LINK_CREATE */

/* union bpf_attr, link_create with its netfilter member (kernel 6.4 and later) */
struct nf_link_attr {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint32_t pf;
	uint32_t hooknum;
	int32_t priority;
	uint32_t nf_flags;
	uint8_t rest[96]; /* the rest of union bpf_attr: zero */
};

int kern_nf_prepare(struct bpf_program *p)
{
	int r = bpf_program__set_type(p, (enum bpf_prog_type)PROG_TYPE_NETFILTER);

	return r ? r
		 : bpf_program__set_expected_attach_type(p, (enum bpf_attach_type)ATTACH_NETFILTER);
}

int kern_nf_link(int prog_fd, int pf, int hooknum, int priority)
{
	struct nf_link_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (uint32_t)prog_fd;
	a.attach_type = ATTACH_NETFILTER;
	a.pf = (uint32_t)pf;
	a.hooknum = (uint32_t)hooknum;
	a.priority = priority;
	fd = syscall(__NR_bpf, CMD_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : (int)fd;
}
