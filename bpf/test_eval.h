/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The packet bpf/test_eval.bpf.c classifies under BPF_PROG_TEST_RUN, shared
 * with tests/harness/test_bpf_diff.c. Include after common/lfp_eval.h (or
 * bpf/classify.bpf.h), which defines struct lfp_eval_in and lfp_eval_out.
 *
 * The harness fills anc and in and passes the struct as the packet
 * (data_in); the program writes the whole struct back with the outputs
 * filled, and the kernel returns it as data_out.
 */
#pragma once

/* Cgroup ancestors the harness can give: the oracle's LFP_CGROUP_MAX_DEPTH. */
#define LFP_TEST_ANC_MAX 32
/* io.done once the program has classified (a short or garbled run leaves 0). */
#define LFP_TEST_DONE 0x6c667064u

struct lfp_test_io {
	/* in: the connection's cgroup ids by level (root first, in.cgroup_level
	 * its own), what bpf_get_current_ancestor_cgroup_id() gives in a hook */
	__u64 anc[LFP_TEST_ANC_MAX];
	struct lfp_eval_in in;
	/* out */
	struct lfp_eval_out out;
	__u64 gen;  /* generation lfp_classify() answered from */
	__s32 ret;  /* lfp_classify()'s return: 0 or -LFP_EVAL_* */
	__u32 done; /* LFP_TEST_DONE */
};
