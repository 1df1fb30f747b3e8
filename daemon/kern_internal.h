/* SPDX-License-Identifier: MIT */
/*
 * Test-only knobs and entry points of daemon/kern.c. Production code never
 * uses them.
 */
#pragma once

#include <stdint.h>
#include <lfp/lower.h>

/**
 * Comma-separated BPF program names ("lfp_sendmsg4,lfp_sockops") that
 * lfp_kern_open() marks sleepable before load, which the kernel refuses
 * for these program types: tests use it to check that refused programs
 * leave the other hooks working and are reported in status. NULL: off.
 */
extern const char *lfp_kern_test_refuse;

struct bpf_program;

/** daemon/kern_nf.c: make @p p a BPF netfilter program (libbpf 1.1 cannot). 0 or -errno. */
int kern_nf_prepare(struct bpf_program *p);

/**
 * daemon/kern_nf.c: link @p prog_fd at netfilter hook @p hooknum (NF_INET_*) of
 * protocol family @p pf (NFPROTO_IPV4/6) in the caller's network namespace.
 * @return the link fd, or -errno.
 */
int kern_nf_link(int prog_fd, int pf, int hooknum, int priority);

/**
 * lfp_kern_commit() minus the lfp_kern handle: build the inner maps of
 * @p lw, install them in slot (gen + 1) & 1 of the outer ARRAY_OF_MAPS
 * maps @p outer (indexed by enum lfp_role), then publish gen + 1 in
 * @p state (the mmapped lfp_state). lfp_kern_commit() is this over its
 * skeleton's maps; tests/harness/test_bpf_diff.c runs it into a test object
 * that carries the same maps (bpf/maps.bpf.h), so the kernel's evaluator is
 * tested on exactly what lfpd commits.
 * @return 0 or -errno; on error the old generation stays active.
 */
int lfp_kern_commit_maps(const int outer[LFP_ROLE_COUNT], struct lfp_state *state,
			 const struct lfp_lowered *lw, uint64_t *gen_out);
