// SPDX-License-Identifier: MIT
/*
 * The packet layers' parser (common/lfp_pkt.h) in the kernel against its
 * user-space build, on random bytes: each case is run through
 * bpf/test_pkt.bpf.c with BPF_PROG_TEST_RUN (a cgroup_skb program reading
 * the skb through a dynptr, as the hooks do) and parsed here from the same
 * bytes; every field of the result must agree. Cases are drawn from a
 * seeded generator: pure noise, and mutated IPv4/IPv6 packets (bad IHL and
 * lengths, fragments, extension-header chains long, looping and cut short,
 * truncated transport headers, ICMP), so every status and branch is hit,
 * which the counts at the end show and the test asserts.
 *
 * Safety: the program is only loaded and run, never attached; nothing is
 * pinned. Needs root.
 *
 * Environment: LFP_PKT_SEED (default 1), LFP_PKT_CASES (default 50000).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct lfp_pkt_buf {
	const uint8_t *data;
	uint32_t len;
};

static int buf_read(const struct lfp_pkt_buf *b, uint32_t off, void *dst, uint32_t len)
{
	if (off > b->len || len > b->len - off)
		return -1;
	memcpy(dst, b->data + off, len);
	return 0;
}

typedef const struct lfp_pkt_buf *lfp_pkt_src_t;
#define LFP_PKT_READ(src, off, dst, len) buf_read((src), (off), (dst), (len))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#include "lfp_pkt.h"
#include "test_pkt.skel.h"

#define ETH_HLEN 14
#define MAX_PKT	 512

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static const uint8_t ext_hdrs[] = { 0, 43, 60, 44, 51 };
static const uint8_t l4_protos[] = { 6, 17, 136, 132, 1, 58, 50, 59, 47 };

/* A packet (from the IP header on) of @len bytes, returned: noise or a mutated header. */
static uint32_t gen_packet(uint8_t *p)
{
	uint32_t len, off, kind = rnd_below(10);

	for (uint32_t i = 0; i < MAX_PKT; i++)
		p[i] = (uint8_t)rnd();
	if (kind == 0) /* noise */
		return 1 + rnd_below(MAX_PKT);
	if (kind <= 4) {
		/* IPv4: mostly sane, sometimes not */
		uint32_t ihl = rnd_below(8) ? 5 + rnd_below(2) * rnd_below(11) : rnd_below(16);

		p[0] = (uint8_t)(rnd_below(12) ? 0x40 | ihl : p[0]);
		len = ihl * 4 + rnd_below(64);
		if (len < 1)
			len = 1;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		if (!rnd_below(6)) /* a total length shorter than the header */
			p[2] = 0, p[3] = (uint8_t)rnd_below(24);
		p[6] = rnd_below(3) ? 0x40 : p[6]; /* DF, or a random fragment field */
		p[7] = rnd_below(3) ? 0 : p[7];
		p[9] = l4_protos[rnd_below(sizeof(l4_protos))];
		return rnd_below(8) ? len : 1 + rnd_below(len);
	}
	/* IPv6 with an extension chain (possibly too long, possibly cut) */
	p[0] = (uint8_t)(rnd_below(12) ? 0x60 | (p[0] & 0xf) : p[0]);
	off = 40;
	{
		uint32_t n = rnd_below(4) ? rnd_below(4) : rnd_below(12);
		uint8_t *nh = &p[6];

		for (uint32_t i = 0; i < n && off + 8 <= MAX_PKT; i++) {
			uint8_t e = ext_hdrs[rnd_below(sizeof(ext_hdrs))];
			uint32_t hl;

			*nh = e;
			nh = &p[off];
			if (e == 44) {
				hl = 8;
				p[off + 2] = rnd_below(2) ? 0 : p[off + 2];
				p[off + 3] = rnd_below(2) ? (uint8_t)(p[off + 3] & 1) : p[off + 3];
			} else {
				p[off + 1] = (uint8_t)rnd_below(3);
				hl = e == 51 ? ((uint32_t)p[off + 1] + 2) * 4
					     : ((uint32_t)p[off + 1] + 1) * 8;
			}
			off += hl;
		}
		*nh = l4_protos[rnd_below(sizeof(l4_protos))];
	}
	len = off + rnd_below(24);
	if (len > MAX_PKT)
		len = MAX_PKT;
	return rnd_below(6) ? len : 1 + rnd_below(len);
}

static void test_parser_kernel_vs_user(void **state)
{
	const char *s = getenv("LFP_PKT_SEED"), *n = getenv("LFP_PKT_CASES");
	uint64_t cases = n ? strtoull(n, NULL, 0) : 50000;
	unsigned long st[3] = { 0 }, v4 = 0, v6 = 0, frag = 0, l4 = 0, icmp = 0;
	struct lfp_test_pkt *skel;
	uint8_t in[ETH_HLEN + MAX_PKT];
	int prog, map;
	__u32 zero = 0;

	(void)state;
	rng_state = s ? strtoull(s, NULL, 0) : 1;
	skel = lfp_test_pkt__open_and_load();
	if (!skel)
		fail_msg("loading bpf/test_pkt.bpf.o: %s", strerror(errno));
	prog = bpf_program__fd(skel->progs.lfp_test_pkt_parse);
	map = bpf_map__fd(skel->maps.lfp_test_pkt);
	for (uint64_t c = 0; c < cases; c++) {
		uint32_t len = gen_packet(in + ETH_HLEN);
		struct lfp_pkt_buf b = { in + ETH_HLEN, len };
		struct lfp_pkt want, got;
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = ETH_HLEN + len);

		memset(in, 0, ETH_HLEN);
		/*
		 * The ethertype only steers the kernel's skb->protocol (the parser
		 * reads the version nibble); the test run refuses an IPv4 or IPv6
		 * packet shorter than its fixed header, so those go as another
		 * protocol (0x88b5, local experimental) and still reach the parser.
		 */
		in[12] = (in[ETH_HLEN] >> 4) == 6 ? 0x86 : 0x08;
		in[13] = (in[ETH_HLEN] >> 4) == 6 ? 0xdd : 0x00;
		if (len < 40) {
			in[12] = 0x88;
			in[13] = 0xb5;
		}
		memset(&got, 0xa5, sizeof(got));
		assert_int_equal(bpf_map_update_elem(map, &zero, &got, BPF_ANY), 0);
		if (bpf_prog_test_run_opts(prog, &o))
			fail_msg("case %llu: test run of %u bytes (first %02x): %s",
				 (unsigned long long)c, len, in[ETH_HLEN], strerror(errno));
		if (o.retval != 1)
			fail_msg("case %llu: the program could not read the skb",
				 (unsigned long long)c);
		assert_int_equal(bpf_map_lookup_elem(map, &zero, &got), 0);
		lfp_pkt_parse(&b, 0, &want);
		if (memcmp(&want, &got, sizeof(want))) {
			fprintf(stderr, "case %llu (seed %llu), %u bytes:", (unsigned long long)c,
				(unsigned long long)(s ? strtoull(s, NULL, 0) : 1), len);
			for (uint32_t i = 0; i < len && i < 96; i++)
				fprintf(stderr, " %02x", in[ETH_HLEN + i]);
			fprintf(stderr,
				"\nuser: status %u ipver %u proto %u l4 %u frag %u l4off %u\n",
				want.status, want.ipver, want.proto, want.l4, want.frag,
				want.l4off);
			fprintf(stderr,
				"bpf:  status %u ipver %u proto %u l4 %u frag %u l4off %u\n",
				got.status, got.ipver, got.proto, got.l4, got.frag, got.l4off);
			fail_msg("kernel and user-space parsers disagree");
		}
		/* what the layers rely on: a malformed packet says nothing */
		if (want.status == LFP_PKT_MALFORMED)
			assert_true(!want.ipver && !want.proto && !want.l4);
		if (want.status != LFP_PKT_OK || want.frag)
			assert_false(want.l4);
		st[want.status]++;
		v4 += want.ipver == 4;
		v6 += want.ipver == 6;
		frag += want.frag;
		l4 += want.l4;
		icmp += want.l4 && lfp_pkt_is_icmp(want.ipver, want.proto);
	}
	printf("# packet parser: %llu cases, kernel = user space; ok %lu, truncated %lu, "
	       "malformed %lu; IPv4 %lu, IPv6 %lu, fragments %lu, with ports/ICMP %lu, ICMP %lu\n",
	       (unsigned long long)cases, st[0], st[1], st[2], v4, v6, frag, l4, icmp);
	/* the generator must reach every kind of answer, or the comparison proves little */
	if (cases >= 10000)
		assert_true(st[0] && st[1] && st[2] && v4 && v6 && frag && icmp);
	lfp_test_pkt__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_kernel_vs_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
