// SPDX-License-Identifier: GPL-2.0
/*
 * A test-only program around the packet parser (common/lfp_pkt.h) as the
 * packet layers' programs run it: through a dynptr over the skb of a
 * cgroup_skb program. tests/harness/test_pkt_fuzz.c feeds it random and
 * mutated packets with BPF_PROG_TEST_RUN (the kernel builds the skb with
 * its network header at offset 0, as at the hooks) and compares each answer
 * with the user-space build of the same parser. Never attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;

typedef const struct bpf_dynptr *lfp_pkt_src_t;
#define LFP_PKT_READ(src, off, dst, len) bpf_dynptr_read((dst), (len), (src), (off), 0)
#include "lfp_pkt.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lfp_pkt);
} lfp_test_pkt SEC(".maps");

/* @return 1 with the parse in lfp_test_pkt[0], 0 when the dynptr failed */
SEC("cgroup_skb/ingress")
int lfp_test_pkt_parse(struct __sk_buff *skb)
{
	struct bpf_dynptr dp;
	struct lfp_pkt *p;
	__u32 zero = 0;

	p = bpf_map_lookup_elem(&lfp_test_pkt, &zero);
	if (!p || bpf_dynptr_from_skb(skb, 0, &dp))
		return 0;
	lfp_pkt_parse(&dp, 0, p);
	return 1;
}
