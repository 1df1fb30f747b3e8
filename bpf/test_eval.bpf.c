// SPDX-License-Identifier: GPL-2.0
/*
 * A test-only program around the kernel's evaluator: lfp_classify() of
 * classify.bpf.h over the maps of maps.bpf.h, exactly as the hooks of
 * lfp.bpf.c call it, but fed from a packet under BPF_PROG_TEST_RUN instead
 * of a socket. tests/harness/test_bpf_diff.c commits policies into this
 * object's maps with lfpd's own commit path and holds the answers against
 * the oracle. Never attached: a tc program only because sched_cls supports
 * BPF_PROG_TEST_RUN with packet data in and out.
 *
 * The only difference from a hook is where cgroup ancestors come from: the
 * packet (struct lfp_test_io, test_eval.h) instead of the current task.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "maps.bpf.h"

static __always_inline __u64 test_ancestor(__u32 level);
#define LFP_EVAL_CGROUP_ANCESTOR(env, in, level) test_ancestor(level)
#include "classify.bpf.h"
#include "test_eval.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * The packet is copied here: the evaluator's frames leave too little of
 * the 512-byte stack for it (lfp.bpf.c keeps its input in per-CPU scratch
 * for the same reason). One slot is enough: the harness runs one
 * classification at a time, and BPF_PROG_TEST_RUN does not migrate.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lfp_test_io);
} lfp_test_io SEC(".maps");

static __always_inline __u64 test_ancestor(__u32 level)
{
	__u32 zero = 0;
	struct lfp_test_io *io = bpf_map_lookup_elem(&lfp_test_io, &zero);

	return io && level < LFP_TEST_ANC_MAX ? io->anc[level] : 0;
}

/* @return 1 when the classification ran and io went back into the packet, else 0. */
SEC("tc")
int lfp_test_eval(struct __sk_buff *skb)
{
	struct lfp_test_io *io;
	__u32 zero = 0;

	io = bpf_map_lookup_elem(&lfp_test_io, &zero);
	if (!io)
		return 0;
	if (bpf_skb_load_bytes(skb, 0, io, sizeof(*io)))
		return 0;
	io->ret = lfp_classify(&io->in, &io->out, &io->gen);
	io->done = LFP_TEST_DONE;
	if (bpf_skb_store_bytes(skb, 0, io, sizeof(*io), 0))
		return 0;
	return 1;
}
