// SPDX-License-Identifier: MIT
/*
 * lfpd's kernel side (daemon/kern.h): load or adopt the BPF object, attach
 * it to the scope cgroup with pinned links, commit policy generations.
 *
 * Pins are the source of truth, not this process: links under
 * BPFFS/links/ keep the programs attached when lfpd dies, maps under
 * BPFFS/maps/ keep policy, counters and socket state. A new lfpd reuses the
 * pinned maps and swaps its freshly loaded programs in behind the pinned
 * links (BPF_LINK_UPDATE): the hook is never empty and never doubled.
 *
 * docs/kernel.md is the long version.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <lfp/common.h>
#include "kern.h"
#include "kern_internal.h"
#include "timing.h"
#include "lfp.skel.h"

#define BPFFS_ROOT "/sys/fs/bpf"

/* auth-connect is enforced only when both connect hooks are */
#define HOOK_REQUIRED 1u
#define HOOK_CGROUP   2u
#define HOOK_ITER     4u   /* an iterator lfpd runs itself (after each commit) */
#define HOOK_ALIAS    8u   /* another hook's program, listed for a second layer: no attach */
#define HOOK_ONDEMAND 16u  /* an iterator lfpd runs when it needs it, not after commits */
#define HOOK_PINPROG  32u  /* not attached: pinned under BPFFS/progs for iptables (xt_bpf) */
#define HOOK_NF	      64u  /* a BPF netfilter link in lfpd's network namespace (kern_nf.c) */
#define HOOK_SOCKMAP  128u /* a sockmap link on lfp_stream_socks (the stream layer) */

/* netfilter: protocol families and hooks (linux/netfilter.h), lfp's priority */
#define NFPROTO_IPV4_	2
#define NFPROTO_IPV6_	10
#define NF_LOCAL_IN_	1
#define NF_FORWARD_	2
#define NF_LOCAL_OUT_	3
#define LFP_NF_PRIORITY 10 /* after the filter tables (0): their drops are final */

struct hook_desc {
	const char *name; /* status name and link pin name */
	const char *prog; /* program (function) name in lfp.bpf.c */
	int layer;
	unsigned flags;
	int nf_pf, nf_hook; /* HOOK_NF */
};

/* The inode of lfpd's own network namespace: the discard tracepoint reports
 * drops there only. 0 (unknown) makes it report nothing. */
static __u32 discard_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (__u32)st.st_ino;
}

static const struct hook_desc hook_descs[] = {
	/* connect-redirect first: cgroup programs of one hook run in attach order,
	 * and auth-connect must see the rewritten destination (WFP's order) */
	{ "redirect connect4", "lfp_redir_connect4", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "redirect connect6", "lfp_redir_connect6", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "redirect sendmsg4", "lfp_redir_sendmsg4", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "redirect sendmsg6", "lfp_redir_sendmsg6", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "redirect sock_ops", "lfp_redir_sockops", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "getpeername4", "lfp_redir_getpeername4", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "getpeername6", "lfp_redir_getpeername6", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "recvmsg4", "lfp_redir_recvmsg4", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "recvmsg6", "lfp_redir_recvmsg6", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "redirect egress", "lfp_redir_egress", LFP_LAYER_CONNECT_REDIRECT, HOOK_CGROUP },
	{ "connect4", "lfp_connect4", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP | HOOK_REQUIRED },
	{ "connect6", "lfp_connect6", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP | HOOK_REQUIRED },
	{ "sendmsg4", "lfp_sendmsg4", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP },
	{ "sendmsg6", "lfp_sendmsg6", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP },
	{ "sock_ops", "lfp_sockops", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP },
	{ "egress", "lfp_egress", LFP_LAYER_AUTH_CONNECT, HOOK_CGROUP },
	/* auth-listen: the sock_ops program above (its listen callback, no
	 * attachment of its own) marks listeners, ingress drops their SYNs */
	{ "sock_ops listen callback", "lfp_sockops", LFP_LAYER_AUTH_LISTEN, HOOK_ALIAS },
	{ "ingress", "lfp_ingress", LFP_LAYER_AUTH_LISTEN, HOOK_CGROUP },
	/* the packet layers: cgroup_skb programs of their own (bpf/packet.bpf.h) */
	{ "packet-egress", "lfp_pkt_egress", LFP_LAYER_OUTBOUND_TRANSPORT, HOOK_CGROUP },
	{ "packet-egress ip", "lfp_pkt_egress", LFP_LAYER_OUTBOUND_IPPACKET, HOOK_ALIAS },
	{ "packet-ingress", "lfp_pkt_ingress", LFP_LAYER_INBOUND_TRANSPORT, HOOK_CGROUP },
	{ "packet-ingress ip", "lfp_pkt_ingress", LFP_LAYER_INBOUND_IPPACKET, HOOK_ALIAS },
	/* datagram-data: UDP datagrams in the same programs (bpf/datagram.bpf.h) */
	{ "packet-egress udp", "lfp_pkt_egress", LFP_LAYER_DATAGRAM_DATA, HOOK_ALIAS },
	{ "packet-ingress udp", "lfp_pkt_ingress", LFP_LAYER_DATAGRAM_DATA, HOOK_ALIAS },
	/* the packet layers for traffic without a scope socket: netfilter (netfilter.bpf.h) */
	{ "nf-local-out4", "lfp_nf_out", LFP_LAYER_OUTBOUND_TRANSPORT, HOOK_NF, NFPROTO_IPV4_,
	  NF_LOCAL_OUT_ },
	{ "nf-local-out6", "lfp_nf_out", LFP_LAYER_OUTBOUND_TRANSPORT, HOOK_NF, NFPROTO_IPV6_,
	  NF_LOCAL_OUT_ },
	{ "nf-local-out ip", "lfp_nf_out", LFP_LAYER_OUTBOUND_IPPACKET, HOOK_ALIAS },
	{ "nf-local-out icmp-error", "lfp_nf_out", LFP_LAYER_OUTBOUND_ICMP_ERROR, HOOK_ALIAS },
	/* inbound packets no socket took, judged when the kernel's RST or port
	 * unreachable answering them leaves (bpf/unclaimed.bpf.h) */
	{ "nf-local-out answers (unclaimed inbound)", "lfp_nf_out", LFP_LAYER_INBOUND_TRANSPORT,
	  HOOK_ALIAS },
	{ "nf-local-in4", "lfp_nf_in", LFP_LAYER_INBOUND_TRANSPORT, HOOK_NF, NFPROTO_IPV4_,
	  NF_LOCAL_IN_ },
	{ "nf-local-in6", "lfp_nf_in", LFP_LAYER_INBOUND_TRANSPORT, HOOK_NF, NFPROTO_IPV6_,
	  NF_LOCAL_IN_ },
	{ "nf-local-in ip", "lfp_nf_in", LFP_LAYER_INBOUND_IPPACKET, HOOK_ALIAS },
	{ "nf-local-in icmp-error", "lfp_nf_in", LFP_LAYER_INBOUND_ICMP_ERROR, HOOK_ALIAS },
	{ "nf-forward4", "lfp_nf_fwd", LFP_LAYER_IPFORWARD, HOOK_NF, NFPROTO_IPV4_, NF_FORWARD_ },
	{ "nf-forward6", "lfp_nf_fwd", LFP_LAYER_IPFORWARD, HOOK_NF, NFPROTO_IPV6_, NF_FORWARD_ },
	{ "exec tracepoint", "lfp_exec", -1, 0 },
	/* discard events: the kernel's drops in lfpd's netns (bpf/discard.bpf.h) */
	{ "discard tracepoint skb:kfree_skb", "lfp_discard_btf", -1, 0 },
	/* the same without the owner, where the kernel refuses the BTF-typed one */
	{ "discard tracepoint skb:kfree_skb (raw, no owner)", "lfp_discard", -1, 0 },
	{ "reauth tcp", "lfp_reauth_tcp", LFP_LAYER_AUTH_CONNECT, HOOK_ITER },
	/* connected UDP: the record egress and ingress drop by (bpf/reauth_udp.bpf.h) */
	{ "reauth udp", "lfp_reauth_udp", LFP_LAYER_AUTH_CONNECT, HOOK_ITER },
	/* pend and complete (docs/callouts.md): lfpd's iptables rule runs the match,
	 * the iterators end the sockets of blocked pends */
	{ "pend match", "lfp_pend_match", LFP_LAYER_AUTH_CONNECT, HOOK_PINPROG },
	{ "pend match in", "lfp_pend_in_match", LFP_LAYER_AUTH_RECV_ACCEPT, HOOK_PINPROG },
	{ "pend end tcp", "lfp_pend_end_tcp", LFP_LAYER_AUTH_CONNECT, HOOK_ITER | HOOK_ONDEMAND },
	{ "pend end udp", "lfp_pend_end_udp", LFP_LAYER_AUTH_CONNECT, HOOK_ITER | HOOK_ONDEMAND },
	/* auth-recv-accept: ingress judges SYNs to listeners and first datagrams,
	 * sock_ops keeps the accepted flow's record, the iterator re-authorizes it */
	{ "ingress accept", "lfp_ingress", LFP_LAYER_AUTH_RECV_ACCEPT, HOOK_ALIAS },
	{ "sock_ops passive-established callback", "lfp_sockops", LFP_LAYER_AUTH_RECV_ACCEPT,
	  HOOK_ALIAS },
	{ "reauth tcp accepted", "lfp_reauth_tcp", LFP_LAYER_AUTH_RECV_ACCEPT, HOOK_ALIAS },
	/* auth-listen again: the walk moves a listener's SYN-drop mark after each commit
	 * (an alias comes after the hook it names) */
	{ "reauth tcp listeners", "lfp_reauth_tcp", LFP_LAYER_AUTH_LISTEN, HOOK_ALIAS },
	/* resource-assignment: explicit binds (which also stamp the owner of a UDP
	 * socket for auth-recv-accept), raw and ICMP socket creation */
	{ "post_bind4", "lfp_post_bind4", LFP_LAYER_RESOURCE_ASSIGNMENT, HOOK_CGROUP },
	{ "post_bind6", "lfp_post_bind6", LFP_LAYER_RESOURCE_ASSIGNMENT, HOOK_CGROUP },
	{ "sock_create", "lfp_sock_create", LFP_LAYER_RESOURCE_ASSIGNMENT, HOOK_CGROUP },
	/* implicit binds: connect and the first send of an unbound socket, before auth-connect */
	{ "connect4/6 implicit bind", "lfp_connect4", LFP_LAYER_RESOURCE_ASSIGNMENT, HOOK_ALIAS },
	{ "sendmsg4/6 implicit bind", "lfp_sendmsg4", LFP_LAYER_RESOURCE_ASSIGNMENT, HOOK_ALIAS },
	{ "bind4", "lfp_bind4", LFP_LAYER_BIND_REDIRECT, HOOK_CGROUP },
	{ "bind6", "lfp_bind6", LFP_LAYER_BIND_REDIRECT, HOOK_CGROUP },
	/* observe only: events of the flows a `log` filter at these layers decides */
	{ "sock_ops established callbacks", "lfp_sockops", LFP_LAYER_FLOW_ESTABLISHED, HOOK_ALIAS },
	{ "sock_ops state callback", "lfp_sockops", LFP_LAYER_ENDPOINT_CLOSURE, HOOK_ALIAS },
	{ "sock_release", "lfp_sock_release", LFP_LAYER_ENDPOINT_CLOSURE, HOOK_CGROUP },
	/* stream (docs/stream.md): sock_ops enrolls the flows a stream filter selects into
	 * lfp_stream_socks, whose programs judge their data */
	{ "sock_ops stream enrollment", "lfp_stream_sockops", LFP_LAYER_STREAM, HOOK_CGROUP },
	{ "sk_msg", "lfp_stream_msg", LFP_LAYER_STREAM, HOOK_SOCKMAP },
	{ "sk_skb verdict", "lfp_stream_skb", LFP_LAYER_STREAM, HOOK_SOCKMAP },
	/* after each commit: open flows a new stream filter selects are enrolled too */
	{ "stream enroll tcp", "lfp_stream_iter", LFP_LAYER_STREAM, HOOK_ITER },
};

#define N_HOOKS (sizeof(hook_descs) / sizeof(hook_descs[0]))

_Static_assert(N_HOOKS <= LFP_KERN_MAX_HOOKS, "status has room for every hook");

/* Maps that belong to one loaded object, never pinned: the exec dedup set
 * (a new lfpd must hear about every binary again), the scope cgroup slot
 * (set at every open), the adapters' scratch. */
static const char *const unpinned_maps[] = {
	"lfp_exec_seen",	   "lfp_scope",	       "lfp_scratch",
	"lfp_tcp_handover",	   "lfp_reauth_cg",    "lfp_pend_scratch",
	"lfp_accept_pend",	   "lfp_redir_cfg",    "lfp_pkt_rate",
	"lfp_pend_listen_scratch", "lfp_pend_in_work",
};

const char *lfp_kern_test_refuse;

struct lfp_kern {
	struct lfp_bpf *skel;
	char *bpffs;
	int cgroup_fd;
	uint64_t cgroup_id;
	bool adopted;
	struct lfp_state *state; /* lfp_state[0], mmapped */
	size_t state_len;
	struct bpf_link *links[N_HOOKS];
	struct lfp_kern_hook hooks[N_HOOKS];
	struct ring_buffer *rb;
	lfp_kern_event_fn ev_fn;
	void *ev_ctx;
};

/* ---- libbpf messages ---- */

/*
 * libbpf reports through one global print callback. Everything goes on to
 * lfp_print(); while a load is under way the callback also notes which
 * program the kernel refused and why, so the refusal can be reported per
 * hook and the load retried without that program.
 */
static struct {
	bool on;
	char prog[64];
	int err;
	char why[128];
	bool map_mismatch;
	char mismatch[160];
} cap;

static void last_log_line(const char *log, char *out, size_t outsz)
{
	const char *end = strstr(log, "-- END PROG LOAD LOG --");
	const char *begin = strstr(log, "-- BEGIN PROG LOAD LOG --");

	if (!begin || !end)
		return;
	begin = strchr(begin, '\n');
	if (!begin)
		return;
	/* the verifier's last lines are statistics; the reason is just before */
	while (end > begin) {
		const char *ls = end - 1;
		size_t len;

		while (ls > begin && ls[-1] != '\n')
			ls--;
		len = (size_t)(end - ls);
		while (len && (ls[len - 1] == '\n' || ls[len - 1] == ' '))
			len--;
		if (len && strncmp(ls, "processed ", 10) && strncmp(ls, "verification time", 17) &&
		    strncmp(ls, "stack depth", 11)) {
			if (len >= outsz)
				len = outsz - 1;
			memcpy(out, ls, len);
			out[len] = 0;
			return;
		}
		end = ls;
	}
}

static int kern_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[8192];
	const char *p;
	enum lfp_print_level lv;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (cap.on) {
		if ((p = strstr(buf, "prog '")) && strstr(buf, "failed to load: ")) {
			const char *q = strchr(p + 6, '\'');

			if (q && (size_t)(q - p - 6) < sizeof(cap.prog)) {
				memcpy(cap.prog, p + 6, q - p - 6);
				cap.prog[q - p - 6] = 0;
				cap.err = atoi(strstr(buf, "failed to load: ") + 16);
			}
		} else if (strstr(buf, "-- BEGIN PROG LOAD LOG --")) {
			cap.why[0] = 0;
			last_log_line(buf, cap.why, sizeof(cap.why));
		} else if (strstr(buf, "couldn't reuse pinned map")) {
			cap.map_mismatch = true;
			snprintf(cap.mismatch, sizeof(cap.mismatch), "%.150s", buf);
		}
	}
	/* refusals are summarised per hook at WARN; libbpf's own detail
	 * (verifier logs) goes to INFO */
	lv = level == LIBBPF_WARN && !cap.on ? LFP_WARN
	     : level == LIBBPF_DEBUG	     ? LFP_DEBUG
					     : LFP_INFO;
	lfp_print(lv, "libbpf: %s", buf);
	return 0;
}

/* Status text: truncation is fine, it is for people. */
__attribute__((format(printf, 2, 3))) static void reason_set(struct lfp_kern_hook *h,
							     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
	va_end(ap);
}

/* ---- paths ---- */

static int path_join(char *out, size_t sz, const char *a, const char *b, const char *c)
{
	int n = snprintf(out, sz, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");

	return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The pin directory must be on a bpf filesystem. Mount one at /sys/fs/bpf
 * when nothing is mounted there (minimal systems); a pin directory anywhere
 * else is the administrator's business.
 */
static int bpffs_prepare(const char *dir)
{
	char path[PATH_MAX];
	struct statfs sf;
	size_t rl = strlen(BPFFS_ROOT);
	int r;

	if (!strncmp(dir, BPFFS_ROOT, rl) && (dir[rl] == '/' || !dir[rl])) {
		if (statfs(BPFFS_ROOT, &sf))
			return -errno;
		if (sf.f_type != BPF_FS_MAGIC) {
			if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
				r = -errno;
				lfp_print(LFP_WARN,
					  "lfp: no bpffs at %s, and mounting one failed: %s\n",
					  BPFFS_ROOT, strerror(-r));
				return r;
			}
			lfp_print(LFP_INFO, "lfp: mounted a bpffs at %s\n", BPFFS_ROOT);
		}
	}
	r = mkdir_p(dir, 0700);
	if (r)
		return r;
	if (statfs(dir, &sf))
		return -errno;
	if (sf.f_type != BPF_FS_MAGIC) {
		lfp_print(LFP_WARN, "lfp: %s is not on a bpf filesystem\n", dir);
		return -ENOTSUP;
	}
	if ((r = path_join(path, sizeof(path), dir, "maps", NULL)) || (r = mkdir_p(path, 0700)))
		return r;
	if ((r = path_join(path, sizeof(path), dir, "links", NULL)) || (r = mkdir_p(path, 0700)))
		return r;
	return 0;
}

/* A cgroup v2 directory and its id (the kernfs inode number). */
static int cgroup_open(const char *dir, int *fd_out, uint64_t *id)
{
	struct statfs sf;
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int r = -errno;

		lfp_print(LFP_WARN, "lfp: cgroup %s: %s\n", dir, strerror(-r));
		return r;
	}
	if (fstatfs(fd, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC || fstat(fd, &st)) {
		lfp_print(LFP_WARN, "lfp: %s is not a cgroup v2 directory\n", dir);
		close(fd);
		return -EINVAL;
	}
	*fd_out = fd;
	*id = st.st_ino;
	return 0;
}

/* ---- adoption checks ---- */

static bool map_unpinned(const char *name)
{
	for (size_t i = 0; i < sizeof(unpinned_maps) / sizeof(unpinned_maps[0]); i++)
		if (!strcmp(name, unpinned_maps[i]))
			return true;
	return false;
}

static bool dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			any = true;
			break;
		}
	closedir(d);
	return any;
}

/*
 * Pins from an earlier lfpd: usable only if they speak this ABI and guard
 * the same cgroup. Anything else needs `lfpd --unload` first; silently
 * replacing them would move or drop enforcement the user set up.
 * @return 1 adopt, 0 nothing pinned, -errno refuse.
 */
static int pins_check(const char *bpffs, uint64_t cgroup_id, const char *cgroup)
{
	char path[PATH_MAX];
	struct lfp_state st = { 0 };
	__u32 zero = 0;
	int fd, r;

	if ((r = path_join(path, sizeof(path), bpffs, "maps", "lfp_state")))
		return r;
	if (!path_exists(path)) {
		if ((r = path_join(path, sizeof(path), bpffs, "links", NULL)))
			return r;
		if (dir_has_entries(path)) {
			lfp_print(LFP_WARN,
				  "lfp: %s holds links but no state map (an interrupted unload?); "
				  "run `lfpd --unload` first\n",
				  bpffs);
			return -EUCLEAN;
		}
		return 0;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		r = -errno;
		lfp_print(LFP_WARN, "lfp: %s: %s\n", path, strerror(-r));
		return r;
	}
	r = bpf_map_lookup_elem(fd, &zero, &st) ? -errno : 0;
	close(fd);
	if (r) {
		lfp_print(LFP_WARN, "lfp: reading %s: %s\n", path, strerror(-r));
		return r;
	}
	if (st.abi != LFP_ABI_VERSION) {
		lfp_print(LFP_WARN,
			  "lfp: the programs pinned under %s speak ABI %u, this lfpd speaks %u; "
			  "run `lfpd --unload` first\n",
			  bpffs, st.abi, LFP_ABI_VERSION);
		return -EPROTO;
	}
	if (st.scope_cgroup != cgroup_id) {
		lfp_print(
			LFP_WARN,
			"lfp: the programs pinned under %s guard cgroup id %llu, not %s (id %llu); "
			"run `lfpd --unload` first to move enforcement\n",
			bpffs, (unsigned long long)st.scope_cgroup, cgroup,
			(unsigned long long)cgroup_id);
		return -EBUSY;
	}
	return 1;
}

/* ---- load ---- */

static int hook_index(const char *prog)
{
	for (size_t i = 0; i < N_HOOKS; i++)
		if (!strcmp(hook_descs[i].prog, prog))
			return (int)i;
	return -1;
}

/* Test hook (kern_internal.h): have the kernel refuse programs for real.
 * Only tracing-type programs may be sleepable; the flag on any of ours
 * fails the load. */
static void test_refuse(struct lfp_bpf *skel)
{
	const char *list = lfp_kern_test_refuse;

	if (!list)
		return;
	for (size_t i = 0; i < N_HOOKS; i++) {
		size_t len = strlen(hook_descs[i].prog);
		const char *p = list;

		while ((p = strstr(p, hook_descs[i].prog))) {
			if ((p == list || p[-1] == ',') && (p[len] == ',' || !p[len])) {
				bpf_program__set_flags(bpf_object__find_program_by_name(
							       skel->obj, hook_descs[i].prog),
						       BPF_F_SLEEPABLE);
				break;
			}
			p += len;
		}
	}
}

static int skel_open(struct lfp_kern *k, const bool *refused, struct lfp_bpf **out)
{
	char path[PATH_MAX];
	struct lfp_bpf *skel;
	struct bpf_map *m;
	int r;

	skel = lfp_bpf__open();
	if (!skel)
		return -errno ? -errno : -ENOMEM;
	bpf_object__for_each_map(m, skel->obj)
	{
		if (bpf_map__is_internal(m) || map_unpinned(bpf_map__name(m)))
			continue;
		if ((r = path_join(path, sizeof(path), k->bpffs, "maps", bpf_map__name(m))) ||
		    (r = bpf_map__set_pin_path(m, path))) {
			lfp_bpf__destroy(skel);
			return r;
		}
	}
	for (size_t i = 0; i < N_HOOKS; i++) {
		struct bpf_program *p =
			bpf_object__find_program_by_name(skel->obj, hook_descs[i].prog);

		if (!p) {
			lfp_bpf__destroy(skel);
			return -ENOENT;
		}
		if (refused[i])
			bpf_program__set_autoload(p, false);
		if ((hook_descs[i].flags & HOOK_NF) && (r = kern_nf_prepare(p))) {
			lfp_bpf__destroy(skel);
			return r;
		}
	}
	test_refuse(skel);
	*out = skel;
	return 0;
}

/*
 * Load the object, reusing pinned maps (libbpf's pin_path: reuse when
 * pinned and compatible, else create and pin). libbpf loads all programs or
 * none, so a program the kernel refuses is noted, switched off, and the
 * load retried: one refused hook never takes the others down.
 */
static int kern_load(struct lfp_kern *k)
{
	bool refused[N_HOOKS] = { false };

	for (size_t attempt = 0; attempt <= N_HOOKS; attempt++) {
		struct lfp_bpf *skel;
		int r, i;

		r = skel_open(k, refused, &skel);
		if (r) {
			lfp_print(LFP_WARN, "lfp: opening the BPF object: %s\n", strerror(-r));
			return r;
		}
		memset(&cap, 0, sizeof(cap));
		cap.on = true;
		r = lfp_bpf__load(skel);
		cap.on = false;
		if (!r) {
			k->skel = skel;
			return 0;
		}
		lfp_bpf__destroy(skel);
		if (cap.map_mismatch) {
			lfp_print(LFP_WARN,
				  "lfp: maps pinned under %s do not match this lfpd's (%s); "
				  "run `lfpd --unload` first\n",
				  k->bpffs, cap.mismatch);
			return -EPROTO;
		}
		i = cap.prog[0] ? hook_index(cap.prog) : -1;
		if (i < 0) {
			lfp_print(LFP_WARN, "lfp: loading the BPF object: %s\n", strerror(-r));
			return r;
		}
		refused[i] = true;
		k->hooks[i].active = false;
		reason_set(&k->hooks[i], "the kernel refused the program: %s%s%s",
			   strerror(-cap.err), cap.why[0] ? ": " : "", cap.why);
		lfp_print(LFP_WARN, "lfp: hook %s: %s\n", hook_descs[i].name, k->hooks[i].reason);
		if (hook_descs[i].flags & HOOK_REQUIRED)
			return cap.err < 0 ? cap.err : -EINVAL;
	}
	return -ELOOP;
}

/* ---- attach ---- */

static bool link_on_cgroup(int link_fd, uint64_t cgroup_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return false;
	return info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgroup_id;
}

/*
 * One cgroup hook. A pinned link (adoption) gets the new program swapped in
 * (an atomic replace in the kernel: no moment without the hook, never two);
 * otherwise attach and pin. A program that did not load leaves a pinned
 * link's old program in place, which is still enforcing.
 */
static void attach_cgroup_hook(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, hook_descs[i].prog);
	bool loaded = p && bpf_program__fd(p) >= 0;
	char path[PATH_MAX];
	struct bpf_link *l;
	int r;

	if (path_join(path, sizeof(path), k->bpffs, "links", hook_descs[i].name)) {
		reason_set(h, "pin path too long");
		return;
	}
	if (path_exists(path)) {
		l = bpf_link__open(path);
		if (!l) {
			r = -errno;
			reason_set(h, "opening pinned link %s: %s", path, strerror(-r));
			return;
		}
		if (!link_on_cgroup(bpf_link__fd(l), k->cgroup_id)) {
			reason_set(h,
				   "pinned link %s is not on the scope cgroup; run `lfpd --unload`",
				   path);
			bpf_link__destroy(l);
			return;
		}
		k->links[i] = l;
		h->active = true;
		if (!loaded) {
			/* keep the refusal reason: status says the old program runs */
			size_t n = strlen(h->reason);

			snprintf(h->reason + n, sizeof(h->reason) - n,
				 "; the previous program stays");
			return;
		}
		r = bpf_link__update_program(l, p);
		if (r)
			reason_set(h,
				   "replacing the program failed (%s); the previous program stays",
				   strerror(-r));
		return;
	}
	if (!loaded)
		return;
	l = bpf_program__attach_cgroup(p, k->cgroup_fd);
	if (!l) {
		r = -errno;
		reason_set(h, "attach: %s", strerror(-r));
		return;
	}
	r = bpf_link__pin(l, path);
	if (r) {
		/* an unpinned link dies with lfpd: report it rather than pretend */
		reason_set(h, "pinning the link: %s", strerror(-r));
		bpf_link__destroy(l);
		return;
	}
	k->links[i] = l;
	h->active = true;
}

/* The exec tracepoint is global and observe-only: attached per lfpd
 * process, not pinned, filtered in the program to the scope cgroup. */
static void attach_tracepoint(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, hook_descs[i].prog);
	__u32 zero = 0;
	struct bpf_link *l;
	int r;

	if (!p || bpf_program__fd(p) < 0)
		return;
	if (bpf_map_update_elem(bpf_map__fd(k->skel->maps.lfp_scope), &zero, &k->cgroup_fd,
				BPF_ANY)) {
		r = -errno;
		reason_set(h, "setting the scope cgroup: %s", strerror(-r));
		return;
	}
	l = bpf_program__attach(p);
	if (!l) {
		r = -errno;
		reason_set(h, "attach: %s", strerror(-r));
		return;
	}
	k->links[i] = l;
	h->active = true;
}

/*
 * The re-authorization iterator: a link per lfpd process, not pinned (it
 * runs only when lfpd reads it). The kernel walks the sockets of the
 * network namespace of the process that creates the iterator, lfpd's.
 */
static void attach_iter(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, hook_descs[i].prog);
	struct bpf_link *l;
	int r;

	if (!p || bpf_program__fd(p) < 0)
		return;
	l = bpf_program__attach_iter(p, NULL);
	if (!l) {
		r = -errno;
		reason_set(h, "attach: %s", strerror(-r));
		return;
	}
	k->links[i] = l;
	h->active = true;
}

/*
 * A program iptables runs (xt_bpf --object-pinned): pinned under
 * BPFFS/progs/<program name>, replacing an older lfpd's pin; rules that name the
 * old one keep it until lfpd rebuilds its chain.
 */
static void pin_prog(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, hook_descs[i].prog);
	char path[PATH_MAX];
	int r;

	if (!p || bpf_program__fd(p) < 0)
		return;
	if (path_join(path, sizeof(path), k->bpffs, "progs", NULL)) {
		reason_set(h, "pin path too long");
		return;
	}
	if (mkdir(path, 0700) && errno != EEXIST) {
		reason_set(h, "mkdir %s: %s", path, strerror(errno));
		return;
	}
	if (path_join(path, sizeof(path), k->bpffs, "progs", hook_descs[i].prog)) {
		reason_set(h, "pin path too long");
		return;
	}
	unlink(path);
	if (bpf_obj_pin(bpf_program__fd(p), path)) {
		r = -errno;
		reason_set(h, "pin %s: %s", path, strerror(-r));
		return;
	}
	h->active = true;
}

/*
 * A netfilter hook: linked in lfpd's network namespace (the kernel takes the
 * caller's) and pinned like the cgroup links, so it outlives lfpd. The
 * kernel cannot swap a netfilter link's program, so at adoption the new link
 * is made first and the pinned one detached after: for a moment both run
 * (the same policy), the hook is never empty.
 */
static void attach_netfilter(struct lfp_kern *k, size_t i, bool wanted)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	const struct hook_desc *d = &hook_descs[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, d->prog);
	char path[PATH_MAX];
	int fd, old = -1;

	if (!wanted) {
		reason_set(h, "netfilter hooks not requested (a test outside its namespace)");
		return;
	}
	if (!p || bpf_program__fd(p) < 0) {
		/* refused at load: the reason sits on the program's first hook */
		for (size_t j = 0; j < i && !h->reason[0]; j++)
			if (!strcmp(hook_descs[j].prog, d->prog))
				reason_set(h, "%s", k->hooks[j].reason);
		return;
	}
	if (path_join(path, sizeof(path), k->bpffs, "links", d->name)) {
		reason_set(h, "pin path too long");
		return;
	}
	if (path_exists(path))
		old = bpf_obj_get(path);
	fd = kern_nf_link(bpf_program__fd(p), d->nf_pf, d->nf_hook, LFP_NF_PRIORITY);
	if (fd < 0) {
		reason_set(h, "netfilter link: %s%s", strerror(-fd),
			   fd == -EINVAL ? " (BPF netfilter links need kernel 6.4)" : "");
		if (old >= 0) {
			/* the pinned link's older program still runs */
			close(old);
			h->active = true;
		}
		return;
	}
	if (old >= 0) {
		unlink(path);
		bpf_link_detach(old);
		close(old);
	}
	if (bpf_obj_pin(fd, path)) {
		reason_set(h, "pinning the link: %s", strerror(errno));
		bpf_link_detach(fd);
		close(fd);
		return;
	}
	close(fd);
	k->links[i] = bpf_link__open(path);
	if (!k->links[i]) {
		reason_set(h, "opening pinned link %s: %s", path, strerror(errno));
		return;
	}
	h->active = true;
}

/*
 * A stream program on lfp_stream_socks, through a sockmap link pinned like
 * the cgroup links (kernel 6.10 has them; libbpf 1.1 does not know them, so
 * the link is made with the plain syscall). At adoption the pinned link gets
 * the new program swapped in; the enrolled flows never go unjudged.
 */
static void attach_sockmap(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];
	struct bpf_program *p = bpf_object__find_program_by_name(k->skel->obj, hook_descs[i].prog);
	int map_fd = bpf_map__fd(k->skel->maps.lfp_stream_socks);
	char path[PATH_MAX];
	struct bpf_link *l;
	int fd, r;

	if (!p || bpf_program__fd(p) < 0)
		return; /* refused at load: the reason is set */
	if (path_join(path, sizeof(path), k->bpffs, "links", hook_descs[i].name)) {
		reason_set(h, "pin path too long");
		return;
	}
	if (path_exists(path)) {
		l = bpf_link__open(path);
		if (!l) {
			reason_set(h, "opening pinned link %s: %s", path, strerror(errno));
			return;
		}
		k->links[i] = l;
		h->active = true;
		r = bpf_link__update_program(l, p);
		if (r)
			reason_set(h,
				   "replacing the program failed (%s); the previous program stays",
				   strerror(-r));
		return;
	}
	fd = bpf_link_create(bpf_program__fd(p), map_fd, bpf_program__expected_attach_type(p),
			     NULL);
	if (fd < 0) {
		r = -errno;
		reason_set(h, "sockmap link: %s%s", strerror(-r),
			   r == -EINVAL ? " (sockmap links need kernel 6.10)" : "");
		return;
	}
	if (bpf_obj_pin(fd, path)) {
		reason_set(h, "pinning the link: %s", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	k->links[i] = bpf_link__open(path);
	if (!k->links[i]) {
		reason_set(h, "opening pinned link %s: %s", path, strerror(errno));
		return;
	}
	h->active = true;
}

static bool hook_active(const struct lfp_kern *k, const char *name)
{
	for (size_t i = 0; i < N_HOOKS; i++)
		if (!strcmp(hook_descs[i].name, name))
			return k->hooks[i].active;
	return false;
}

/* An alias is as active as the first hook running the same program, which
 * comes earlier in hook_descs. */
static void alias_hook(struct lfp_kern *k, size_t i)
{
	struct lfp_kern_hook *h = &k->hooks[i];

	for (size_t j = 0; j < i; j++) {
		if (strcmp(hook_descs[j].prog, hook_descs[i].prog))
			continue;
		h->active = k->hooks[j].active;
		if (!h->active)
			reason_set(h, "%s: %s", hook_descs[j].name, k->hooks[j].reason);
		return;
	}
	reason_set(h, "no hook runs %s", hook_descs[i].prog);
}

/*
 * Adopted pins from an lfpd without connect-redirect: a redirect link
 * attached now would run after the pinned auth-connect programs (attach
 * order is run order), which would then judge the original destination and
 * never see `flags redirected`. Such a layer stays off, with the reason.
 */
static bool redirect_after_auth(struct lfp_kern *k, size_t i)
{
	char mine[PATH_MAX], auth[PATH_MAX];

	if (!k->adopted || hook_descs[i].layer != LFP_LAYER_CONNECT_REDIRECT ||
	    !(hook_descs[i].flags & HOOK_CGROUP))
		return false;
	if (path_join(mine, sizeof(mine), k->bpffs, "links", hook_descs[i].name) ||
	    path_join(auth, sizeof(auth), k->bpffs, "links", "connect4"))
		return false;
	return !path_exists(mine) && path_exists(auth);
}

static int ring_cb(void *ctx, void *data, size_t size)
{
	struct lfp_kern *k = ctx;

	return k->ev_fn ? k->ev_fn(k->ev_ctx, data, size) : 0;
}

static int state_map(struct lfp_kern *k)
{
	int fd = bpf_map__fd(k->skel->maps.lfp_state);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	k->state_len = (sizeof(struct lfp_state) + page - 1) / page * page;
	p = mmap(NULL, k->state_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	k->state = p;
	return 0;
}

static void kern_free(struct lfp_kern *k)
{
	if (!k)
		return;
	ring_buffer__free(k->rb);
	for (size_t i = 0; i < N_HOOKS; i++)
		bpf_link__destroy(k->links[i]); /* closes our fd; pinned links stay */
	if (k->state)
		munmap(k->state, k->state_len);
	lfp_bpf__destroy(k->skel);
	if (k->cgroup_fd >= 0)
		close(k->cgroup_fd);
	free(k->bpffs);
	free(k);
}

int lfp_kern_open(const struct lfp_kern_opts *opts, struct lfp_kern **out)
{
	struct lfp_kern *k;
	int r;

	if (!opts || !out || !opts->cgroup || !opts->bpffs)
		return -EINVAL;
	*out = NULL;
	libbpf_set_print(kern_libbpf_print);

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->cgroup_fd = -1;
	for (size_t i = 0; i < N_HOOKS; i++) {
		k->hooks[i].name = hook_descs[i].name;
		k->hooks[i].layer = hook_descs[i].layer;
	}
	k->bpffs = strdup(opts->bpffs);
	if (!k->bpffs) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = bpffs_prepare(k->bpffs)) ||
	    (r = cgroup_open(opts->cgroup, &k->cgroup_fd, &k->cgroup_id)))
		goto fail;
	r = pins_check(k->bpffs, k->cgroup_id, opts->cgroup);
	if (r < 0)
		goto fail;
	k->adopted = r == 1;

	r = kern_load(k);
	if (r)
		goto fail_unpin;
	r = state_map(k);
	if (r)
		goto fail_unpin;
	if (!k->adopted) {
		k->state->abi = LFP_ABI_VERSION;
		k->state->scope_cgroup = k->cgroup_id;
		__atomic_store_n(&k->state->gen, 0, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&k->state->log_permits, opts->log_permits ? 1 : 0, __ATOMIC_RELAXED);

	for (size_t i = 0; i < N_HOOKS; i++) {
		if (hook_descs[i].flags & HOOK_ALIAS)
			alias_hook(k, i);
		else if (redirect_after_auth(k, i))
			reason_set(
				&k->hooks[i],
				"the pinned auth-connect programs predate connect-redirect, which "
				"would run after them; `lfpd --unload` and start lfpd again");
		else if (hook_descs[i].flags & HOOK_NF)
			attach_netfilter(k, i,
					 opts->sz >= offsetof(struct lfp_kern_opts, netfilter) +
								 sizeof(opts->netfilter) &&
						 opts->netfilter);
		else if (hook_descs[i].flags & HOOK_CGROUP)
			attach_cgroup_hook(k, i);
		else if (hook_descs[i].flags & HOOK_ITER)
			attach_iter(k, i);
		else if (hook_descs[i].flags & HOOK_PINPROG)
			pin_prog(k, i);
		else if (!strcmp(hook_descs[i].prog, "lfp_discard") &&
			 hook_active(k, "discard tracepoint skb:kfree_skb"))
			reason_set(&k->hooks[i], "not needed: the BTF-typed program reports the "
						 "drops, with their owner");
		else if (hook_descs[i].flags & HOOK_SOCKMAP)
			attach_sockmap(k, i);
		else
			attach_tracepoint(k, i);
		/* refusals at load were reported already */
		if (!k->hooks[i].active && !strstr(k->hooks[i].reason, "refused") &&
		    !strstr(k->hooks[i].reason, "not needed"))
			lfp_print(LFP_WARN, "lfp: hook %s inactive: %s\n", hook_descs[i].name,
				  k->hooks[i].reason);
	}
	/* events the missing hooks would have completed go out early instead */
	k->skel->data->lfp_late_tcp = hook_active(k, "sock_ops");
	k->skel->data->lfp_discard_netns = discard_netns();
	k->skel->data->lfp_late_udp = hook_active(k, "egress");
	/* adopted sockets may carry a re-authorization's UDP block already */
	k->skel->data->lfp_udp_blocked = k->adopted;
	for (size_t i = 0; i < N_HOOKS; i++) {
		if ((hook_descs[i].flags & HOOK_REQUIRED) && !k->hooks[i].active) {
			r = -ENOLINK;
			goto fail_unpin;
		}
	}

	k->rb = ring_buffer__new(bpf_map__fd(k->skel->maps.lfp_events), ring_cb, k, NULL);
	if (!k->rb) {
		r = -errno;
		lfp_print(LFP_WARN, "lfp: event ring buffer: %s\n", strerror(-r));
		goto fail_unpin;
	}
	*out = k;
	return 0;

fail_unpin:
	/* a fresh load that failed leaves nothing behind; adopted pins stay
	 * (the previous programs are still enforcing behind them) */
	if (!k->adopted) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", k->bpffs);
		kern_free(k);
		lfp_kern_unload(dir);
		return r;
	}
fail:
	kern_free(k);
	return r;
}

void lfp_kern_close(struct lfp_kern *k)
{
	kern_free(k);
}

/* ---- unload ---- */

/* Remove every pin in @dir; links are detached first (BPF_LINK_DETACH), so
 * the programs leave the cgroup even while some lfpd still holds an fd. */
static int pins_remove(const char *dir, bool links)
{
	char path[PATH_MAX];
	struct dirent *de;
	int r = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (path_join(path, sizeof(path), dir, de->d_name, NULL)) {
			r = -ENAMETOOLONG;
			continue;
		}
		if (links) {
			int fd = bpf_obj_get(path);

			if (fd >= 0) {
				if (bpf_link_detach(fd) && !r)
					r = -errno;
				close(fd);
			}
		}
		if (unlink(path) && errno != ENOENT && !r)
			r = -errno;
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT && !r)
		r = -errno;
	return r;
}

int lfp_kern_unload(const char *bpffs)
{
	char path[PATH_MAX];
	int r, r2;

	if (!bpffs)
		return -EINVAL;
	if ((r = path_join(path, sizeof(path), bpffs, "links", NULL)))
		return r;
	r = pins_remove(path, true);
	if ((r2 = path_join(path, sizeof(path), bpffs, "maps", NULL)))
		return r2;
	r2 = pins_remove(path, false);
	if (!r)
		r = r2;
	if ((r2 = path_join(path, sizeof(path), bpffs, "progs", NULL)))
		return r2;
	r2 = pins_remove(path, false);
	if (!r)
		r = r2;
	if (rmdir(bpffs) && errno != ENOENT && !r)
		r = -errno;
	return r;
}

/* ---- commit ---- */

struct gen_maps {
	int fd[LFP_ROLE_COUNT];
};

static void gen_close(struct gen_maps *g)
{
	for (int i = 0; i < LFP_ROLE_COUNT; i++)
		if (g->fd[i] >= 0)
			close(g->fd[i]);
}

static int map_new(const char *name, enum bpf_map_type type, __u32 ksz, __u32 vsz, __u32 max,
		   __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	int fd = bpf_map_create(type, name, ksz, vsz, max ? max : 1, &o);

	return fd < 0 ? -errno : fd;
}

/*
 * Fill @n entries. The batch call copies them in one syscall; map types
 * without batch support (LPM tries on older kernels) take the loop.
 */
static int map_fill(int fd, const void *keys, size_t ksz, const void *vals, size_t vsz, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
	const char *kp = keys, *vp = vals;
	__u32 count;
	int r;

	while (n) {
		count = n > (1u << 20) ? (1u << 20) : (__u32)n;
		r = bpf_map_update_batch(fd, kp, vp, &count, &o);
		if (r) {
			r = -errno;
			/* 524: the kernel's ENOTSUPP, which uapi headers lack */
			if (r != -EINVAL && r != -ENOTSUP && r != -EOPNOTSUPP && r != -524)
				return r;
			break;
		}
		kp += (size_t)count * ksz;
		vp += (size_t)count * vsz;
		n -= count;
	}
	for (; n; n--, kp += ksz, vp += vsz)
		if (bpf_map_update_elem(fd, kp, vp, BPF_ANY))
			return -errno;
	return 0;
}

/* The ARRAY label maps start zeroed: only the non-zero labels are written. */
/* Write the non-zero elements of an array map's contents (@p n elements of @p vsz
 * bytes, 4 or 8): a fresh array map reads zero everywhere else. */
static int fill_sparse(int fd, const void *vals, size_t vsz, size_t n)
{
	static const char zero[8];
	const char *v = vals;
	size_t cnt = 0;
	__u32 *keys;
	char *out;
	int r;

	if (!vals)
		return 0;
	for (size_t i = 0; i < n; i++)
		cnt += memcmp(v + i * vsz, zero, vsz) != 0;
	if (!cnt)
		return 0;
	keys = malloc(cnt * sizeof(*keys));
	out = malloc(cnt * vsz);
	if (!keys || !out) {
		free(keys);
		free(out);
		return -ENOMEM;
	}
	cnt = 0;
	for (size_t i = 0; i < n; i++) {
		if (!memcmp(v + i * vsz, zero, vsz))
			continue;
		keys[cnt] = (__u32)i;
		memcpy(out + cnt++ * vsz, v + i * vsz, vsz);
	}
	r = map_fill(fd, keys, sizeof(*keys), out, vsz, cnt);
	free(keys);
	free(out);
	return r;
}

static int fill_dense(int fd, const void *vals, size_t vsz, size_t n)
{
	__u32 *keys;
	int r;

	if (!n)
		return 0;
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		keys[i] = (__u32)i;
	r = map_fill(fd, keys, sizeof(*keys), vals, vsz, n);
	free(keys);
	return r;
}

/* The auxiliary tables of one generation (common/lfp_abi.h, AUX_HDR/AUX). */
struct aux {
	struct lfp_aux_hdr hdr[LFP_AUX_HDR_ENTRIES];
	__u64 *words; /* LFP_AUX_ENTRIES */
	size_t used;
};

static __u64 tuples_all(__u32 n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

/* Reserve @n words of AUX; false when they do not fit. */
static bool aux_reserve(struct aux *ax, size_t n, __u32 *base)
{
	if (n > LFP_AUX_ENTRIES - ax->used)
		return false;
	*base = (__u32)ax->used;
	ax->used += n;
	return true;
}

/*
 * Tuple masks, derived from the rule keys: every rule key marks, for each
 * field of its tuple, the key's label there as one the tuple can match.
 * @return 0, or 1 when the rules do not have the layout lfp_lower()
 * promises (a rule naming a tuple outside its layer's run): then the
 * generation gets no auxiliary tables at all.
 */
static int aux_masks(const struct lfp_lowered *lw, struct aux *ax, __u8 *tlayer)
{
	struct lfp_aux_hdr *hdr = ax->hdr;

	memset(tlayer, 0xff, lw->n_tuples);
	for (__u32 l = 0; l < LFP_LAYER_COUNT; l++) {
		const struct lfp_layer_cfg *cfg = &lw->layer_cfg[l];

		for (__u32 f = 0; f < LFP_F_COUNT; f++)
			hdr[LFP_AUX_HDR_IDX(l, f)].free = tuples_all(cfg->n_tuples);
		if (!cfg->n_tuples)
			continue;
		if (cfg->n_tuples > LFP_MAX_TUPLES || cfg->tuple_base > lw->n_tuples ||
		    cfg->n_tuples > lw->n_tuples - cfg->tuple_base)
			return 1;
		for (__u32 i = 0; i < cfg->n_tuples; i++) {
			const struct lfp_tuple *t = &lw->tuples[cfg->tuple_base + i];

			tlayer[cfg->tuple_base + i] = (__u8)l;
			for (__u32 j = 0; j < t->nfields && j < LFP_TUPLE_MAX_FIELDS; j++)
				if (t->fields[j] < LFP_F_COUNT)
					hdr[LFP_AUX_HDR_IDX(l, t->fields[j])].free &= ~(1ull << i);
		}
	}
	/* each (layer, field) needs a mask for every label its rule keys carry */
	for (size_t r = 0; r < lw->n_rules; r++) {
		const struct lfp_rule_key *k = &lw->rule_keys[r];
		const struct lfp_tuple *t;

		if (k->tuple >= lw->n_tuples || lw->tuples[k->tuple].id != k->tuple ||
		    tlayer[k->tuple] == 0xff)
			return 1;
		t = &lw->tuples[k->tuple];
		for (__u32 j = 0; j < t->nfields && j < LFP_TUPLE_MAX_FIELDS; j++) {
			struct lfp_aux_hdr *h;

			if (t->fields[j] >= LFP_F_COUNT)
				continue;
			h = &hdr[LFP_AUX_HDR_IDX(tlayer[k->tuple], t->fields[j])];
			if (k->label[j] >= LFP_AUX_ENTRIES)
				h->len = LFP_AUX_ENTRIES; /* cannot fit: no masks */
			else if (k->label[j] >= h->len)
				h->len = k->label[j] + 1;
		}
	}
	for (__u32 l = 0; l < LFP_LAYER_COUNT; l++) {
		for (__u32 f = 0; f < LFP_F_COUNT; f++) {
			struct lfp_aux_hdr *h = &hdr[LFP_AUX_HDR_IDX(l, f)];

			if (h->len && !aux_reserve(ax, h->len, &h->base)) {
				/* this field narrows nothing: every tuple counts as free */
				h->len = 0;
				h->free = tuples_all(lw->layer_cfg[l].n_tuples);
			}
		}
	}
	for (size_t r = 0; r < lw->n_rules; r++) {
		const struct lfp_rule_key *k = &lw->rule_keys[r];
		const struct lfp_tuple *t = &lw->tuples[k->tuple];
		__u32 l = tlayer[k->tuple];
		__u32 i = k->tuple - lw->layer_cfg[l].tuple_base;

		for (__u32 j = 0; j < t->nfields && j < LFP_TUPLE_MAX_FIELDS; j++) {
			const struct lfp_aux_hdr *h;

			if (t->fields[j] >= LFP_F_COUNT)
				continue;
			h = &hdr[LFP_AUX_HDR_IDX(l, t->fields[j])];
			if (k->label[j] < h->len)
				ax->words[h->base + k->label[j]] |= 1ull << i;
		}
	}
	return 0;
}

/* v4-mapped ::ffff:0:0/96, the first 12 bytes of an address */
static const __u8 v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void aux_v4_set(__u64 *tab, __u32 n, __u32 label)
{
	tab[n / 2] &= ~(0xffffffffull << (32 * (n % 2)));
	tab[n / 2] |= (__u64)label << (32 * (n % 2));
}

/*
 * The IPv4 /16 table of address field @f from the lbl_lpm entries (sorted,
 * disjoint): a /16 that one entry covers whole, or none touches, has one
 * label; one that an entry covers in part asks the trie. Entries that do
 * not keep the promised order (overlap, or out of order) leave the field
 * without a table.
 */
static void aux_v4(const struct lfp_lowered *lw, struct aux *ax, __u32 f)
{
	struct lfp_aux_hdr *h = &ax->hdr[LFP_AUX_HDR_V4(f)];
	__u64 next = 0; /* first IPv4 address not yet covered by an earlier entry */
	bool any = false;
	__u64 *tab;
	__u32 base;

	for (size_t i = 0; i < lw->n_lpm && !any; i++)
		any = lw->lpm_keys[i].data[0] == f;
	if (!any || !aux_reserve(ax, LFP_AUX_V4_WORDS, &base))
		return;
	tab = &ax->words[base];
	for (size_t i = 0; i < lw->n_lpm; i++) {
		const struct lfp_lpm_key *k = &lw->lpm_keys[i];
		__u32 bits, v4, p;
		__u64 lo, hi;

		if (k->data[0] != f)
			continue;
		if (k->prefixlen < 32 || k->prefixlen > 32 + 128)
			goto bad;
		bits = k->prefixlen - 32;
		if (bits < 96) {
			/* a prefix shorter than the block: it holds all of IPv4 or none */
			__u8 mask = (__u8)(0xff00 >> (bits % 8));

			if (memcmp(&k->data[4], v4mapped_prefix, bits / 8) ||
			    (bits % 8 &&
			     (k->data[4 + bits / 8] ^ v4mapped_prefix[bits / 8]) & mask))
				continue;
			lo = 0;
			hi = 0xffffffffull;
		} else {
			if (memcmp(&k->data[4], v4mapped_prefix, 12))
				continue;
			p = bits - 96;
			v4 = (__u32)k->data[16] << 24 | (__u32)k->data[17] << 16 |
			     (__u32)k->data[18] << 8 | k->data[19];
			lo = p ? v4 & ~((1ull << (32 - p)) - 1) & 0xffffffffull : 0;
			hi = lo + (1ull << (32 - p)) - 1;
		}
		if (lo < next)
			goto bad;
		next = hi + 1;
		if (!lw->lpm_vals[i])
			goto bad;
		for (__u64 n = lo >> 16; n <= hi >> 16; n++) {
			/* whole /16s take the entry's label, a part of one asks the trie */
			bool whole = (n << 16) >= lo && ((n << 16) | 0xffff) <= hi;

			aux_v4_set(tab, (__u32)n, whole ? lw->lpm_vals[i] : LFP_AUX_V4_TRIE);
		}
	}
	h->base = base;
	h->len = 65536;
	return;
bad:
	memset(tab, 0, LFP_AUX_V4_WORDS * sizeof(*tab));
}

/*
 * Build the auxiliary tables of generation @gen (common/lfp_abi.h). The
 * marker in hdr[0] is written only when the whole generation is covered; a
 * layout lfp_lower() does not promise leaves it unset, and the kernel then
 * classifies as it would without these tables.
 */
static int aux_build(const struct lfp_lowered *lw, uint64_t gen, struct aux *ax)
{
	__u8 *tlayer;
	int r;

	memset(ax->hdr, 0, sizeof(ax->hdr));
	ax->used = 0;
	ax->words = calloc(LFP_AUX_ENTRIES, sizeof(*ax->words));
	tlayer = malloc(lw->n_tuples ? lw->n_tuples : 1);
	if (!ax->words || !tlayer) {
		free(tlayer);
		return -ENOMEM;
	}
	r = aux_masks(lw, ax, tlayer);
	free(tlayer);
	if (r)
		return 0;
	aux_v4(lw, ax, LFP_F_REMOTE_ADDR);
	aux_v4(lw, ax, LFP_F_LOCAL_ADDR);
	aux_v4(lw, ax, LFP_F_ORIG_ADDR);
	ax->hdr[0].free = gen;
	ax->hdr[0].base = LFP_AUX_MAGIC;
	return 0;
}

/* The inner maps of generation @gen, built per the role table of lfp_abi.h
 * (the object's inner templates must match, or installing fails). */
/*
 * The LPM trie is the slowest map to fill (one kernel node allocation per
 * prefix, under the trie's lock: about 2 us each, 200 ms for 100k prefixes)
 * and needs nothing the other maps need: it fills from a thread of its own
 * while this one fills the rest.
 */
struct lpm_job {
	int fd;
	const struct lfp_lowered *lw;
	int err;
};

static void *lpm_fill(void *arg)
{
	struct lpm_job *j = arg;

	j->err = map_fill(j->fd, j->lw->lpm_keys, sizeof(struct lfp_lpm_key), j->lw->lpm_vals, 4,
			  j->lw->n_lpm);
	return NULL;
}

static int gen_build(const struct lfp_lowered *lw, uint64_t gen, struct gen_maps *g)
{
	struct lpm_job lpm;
	pthread_t lpm_tid;
	bool lpm_thread;
	struct aux *ax;
	int r;

	for (int i = 0; i < LFP_ROLE_COUNT; i++)
		g->fd[i] = -1;
	if (lw->n_tuples > LFP_TUPLES_ENTRIES || lw->n_filters > UINT32_MAX ||
	    lw->n_rules > UINT32_MAX || lw->n_lpm > UINT32_MAX || lw->n_hash > UINT32_MAX)
		return -E2BIG;

#define NEW(role, ...)                                                                             \
	do {                                                                                       \
		r = map_new(__VA_ARGS__);                                                          \
		if (r < 0)                                                                         \
			return r;                                                                  \
		g->fd[role] = r;                                                                   \
	} while (0)

	NEW(LFP_ROLE_LBL_PORT, "lfp_g_port", BPF_MAP_TYPE_ARRAY, 4, 4, LFP_LBL_PORT_ENTRIES, 0);
	NEW(LFP_ROLE_LBL_SMALL, "lfp_g_small", BPF_MAP_TYPE_ARRAY, 4, 4, LFP_LBL_SMALL_ENTRIES, 0);
	NEW(LFP_ROLE_LBL_LPM, "lfp_g_lpm", BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lfp_lpm_key), 4,
	    (__u32)lw->n_lpm, BPF_F_NO_PREALLOC);
	NEW(LFP_ROLE_LBL_HASH, "lfp_g_hash", BPF_MAP_TYPE_HASH, sizeof(struct lfp_hash_key), 4,
	    (__u32)lw->n_hash, 0);
	NEW(LFP_ROLE_TUPLES, "lfp_g_tuples", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct lfp_tuple),
	    LFP_TUPLES_ENTRIES, 0);
	NEW(LFP_ROLE_RULES, "lfp_g_rules", BPF_MAP_TYPE_HASH, sizeof(struct lfp_rule_key),
	    sizeof(struct lfp_rule_val), (__u32)lw->n_rules, 0);
	NEW(LFP_ROLE_FILTERS, "lfp_g_filters", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct lfp_kfilter),
	    (__u32)lw->n_filters, BPF_F_INNER_MAP);
	NEW(LFP_ROLE_LAYER_CFG, "lfp_g_layers", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct lfp_layer_cfg),
	    LFP_LAYER_COUNT, 0);
	NEW(LFP_ROLE_AUX_HDR, "lfp_g_auxhdr", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct lfp_aux_hdr),
	    LFP_AUX_HDR_ENTRIES, 0);
	NEW(LFP_ROLE_AUX, "lfp_g_aux", BPF_MAP_TYPE_ARRAY, 4, sizeof(__u64), LFP_AUX_ENTRIES, 0);
#undef NEW

	lpm = (struct lpm_job){ g->fd[LFP_ROLE_LBL_LPM], lw, 0 };
	lpm_thread = !pthread_create(&lpm_tid, NULL, lpm_fill, &lpm);
	if (!lpm_thread)
		lpm_fill(&lpm);
	if ((r = fill_sparse(g->fd[LFP_ROLE_LBL_PORT], lw->port_labels, sizeof(__u32),
			     LFP_LBL_PORT_ENTRIES)) ||
	    (r = fill_sparse(g->fd[LFP_ROLE_LBL_SMALL], lw->small_labels, sizeof(__u32),
			     LFP_LBL_SMALL_ENTRIES)) ||
	    (r = map_fill(g->fd[LFP_ROLE_LBL_HASH], lw->hash_keys, sizeof(struct lfp_hash_key),
			  lw->hash_vals, 4, lw->n_hash)) ||
	    (r = fill_dense(g->fd[LFP_ROLE_TUPLES], lw->tuples, sizeof(struct lfp_tuple),
			    lw->n_tuples)) ||
	    (r = map_fill(g->fd[LFP_ROLE_RULES], lw->rule_keys, sizeof(struct lfp_rule_key),
			  lw->rule_vals, sizeof(struct lfp_rule_val), lw->n_rules)) ||
	    (r = fill_dense(g->fd[LFP_ROLE_FILTERS], lw->filters, sizeof(struct lfp_kfilter),
			    lw->n_filters)) ||
	    (r = fill_dense(g->fd[LFP_ROLE_LAYER_CFG], lw->layer_cfg, sizeof(struct lfp_layer_cfg),
			    LFP_LAYER_COUNT)))
		goto join;

	ax = malloc(sizeof(*ax));
	if (!ax) {
		r = -ENOMEM;
		goto join;
	}
	r = aux_build(lw, gen, ax);
	if (!r)
		r = fill_sparse(g->fd[LFP_ROLE_AUX], ax->words, sizeof(__u64), ax->used);
	if (!r)
		r = fill_dense(g->fd[LFP_ROLE_AUX_HDR], ax->hdr, sizeof(struct lfp_aux_hdr),
			       LFP_AUX_HDR_ENTRIES);
	free(ax->words);
	free(ax);
join:
	if (lpm_thread)
		pthread_join(lpm_tid, NULL);
	if (r >= 0 && lpm.err)
		r = lpm.err;
	return r < 0 ? r : 0;
}

static int outer_fd(struct lfp_kern *k, int role)
{
	switch (role) {
	case LFP_ROLE_LBL_PORT: return bpf_map__fd(k->skel->maps.lfp_o_lbl_port);
	case LFP_ROLE_LBL_SMALL: return bpf_map__fd(k->skel->maps.lfp_o_lbl_small);
	case LFP_ROLE_LBL_LPM: return bpf_map__fd(k->skel->maps.lfp_o_lbl_lpm);
	case LFP_ROLE_LBL_HASH: return bpf_map__fd(k->skel->maps.lfp_o_lbl_hash);
	case LFP_ROLE_TUPLES: return bpf_map__fd(k->skel->maps.lfp_o_tuples);
	case LFP_ROLE_RULES: return bpf_map__fd(k->skel->maps.lfp_o_rules);
	case LFP_ROLE_FILTERS: return bpf_map__fd(k->skel->maps.lfp_o_filters);
	case LFP_ROLE_LAYER_CFG: return bpf_map__fd(k->skel->maps.lfp_o_layer_cfg);
	case LFP_ROLE_AUX_HDR: return bpf_map__fd(k->skel->maps.lfp_o_aux_hdr);
	case LFP_ROLE_AUX: return bpf_map__fd(k->skel->maps.lfp_o_aux);
	}
	return -1;
}

struct install_job {
	int outer;
	__u32 slot;
	int fd;
	int err;
};

static void *install_one(void *arg)
{
	struct install_job *j = arg;

	j->err = bpf_map_update_elem(j->outer, &j->slot, &j->fd, BPF_ANY) ? -errno : 0;
	return NULL;
}

/*
 * Put every role's new map into slot @p slot of its outer map. The kernel
 * waits for an RCU grace period after each update of an array-of-maps
 * element (maybe_wait_bpf_programs(): no program may still use the old
 * inner map when the call returns), 10-15 ms on a small VM: one after the
 * other, the ten roles cost ten grace periods, from one thread each the
 * waits overlap. A thread that cannot start leaves its update to the
 * calling thread, which only makes it slower.
 */
static int install_all(const int outer[LFP_ROLE_COUNT], __u32 slot, const struct gen_maps *g)
{
	struct install_job job[LFP_ROLE_COUNT];
	pthread_t tid[LFP_ROLE_COUNT];
	bool started[LFP_ROLE_COUNT];
	int r = 0;

	for (int role = 0; role < LFP_ROLE_COUNT; role++) {
		job[role] = (struct install_job){ outer[role], slot, g->fd[role], 0 };
		started[role] = !pthread_create(&tid[role], NULL, install_one, &job[role]);
		if (!started[role])
			install_one(&job[role]);
	}
	for (int role = 0; role < LFP_ROLE_COUNT; role++) {
		if (started[role])
			pthread_join(tid[role], NULL);
		if (job[role].err && !r) {
			r = job[role].err;
			lfp_print(LFP_WARN, "lfp: outer map of role %d: %s\n", role, strerror(-r));
		}
	}
	return r;
}

/*
 * Build the whole next generation beside the active one, install it in the
 * inactive slot, then publish it with one aligned store of the generation
 * number: a classification reads gen once and takes every map from slot
 * gen & 1, so it sees either generation whole. Until that store nothing
 * the kernel reads has changed, which is what makes a failure harmless.
 * Takes bare fds (kern_internal.h) so tests can run this very path into a
 * second object carrying the same maps.
 */
int lfp_kern_commit_maps(const int outer[LFP_ROLE_COUNT], struct lfp_state *state,
			 const struct lfp_lowered *lw, uint64_t *gen_out)
{
	struct gen_maps g;
	uint64_t gen, t0 = timing_us(), t1;
	__u32 slot;
	int r;

	if (!outer || !state || !lw)
		return -EINVAL;
	gen = __atomic_load_n(&state->gen, __ATOMIC_ACQUIRE);
	slot = (__u32)((gen + 1) & 1);
	r = gen_build(lw, gen + 1, &g);
	t1 = timing_us();
	if (r) {
		lfp_print(LFP_WARN, "lfp: building generation %llu: %s\n",
			  (unsigned long long)gen + 1, strerror(-r));
		goto out;
	}
	r = install_all(outer, slot, &g);
	if (r) {
		lfp_print(LFP_WARN, "lfp: installing generation %llu: %s\n",
			  (unsigned long long)gen + 1, strerror(-r));
		goto out;
	}
	__atomic_store_n(&state->gen, gen + 1, __ATOMIC_RELEASE);
	lfp_print(LFP_DEBUG, "lfp: generation %llu: maps built in %.1f ms, installed in %.1f ms\n",
		  (unsigned long long)gen + 1, (double)(t1 - t0) / 1000, timing_ms_since(t1));
	if (gen_out)
		*gen_out = gen + 1;
out:
	/* the outer maps hold their own references to the installed maps */
	gen_close(&g);
	return r;
}

/*
 * Re-authorize the scope's TCP flows against the generation just published:
 * reading an iterator runs lfp_reauth_tcp over every TCP socket of this
 * process's network namespace (it touches only the scope's). The program
 * writes nothing, so read() returns 0 once the walk is done.
 */
static int kern_reauth(struct lfp_kern *k)
{
	char buf[64];
	ssize_t n;
	int fd, r = 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		if (!(hook_descs[i].flags & HOOK_ITER) || (hook_descs[i].flags & HOOK_ONDEMAND) ||
		    !k->links[i])
			continue;
		fd = bpf_iter_create(bpf_link__fd(k->links[i]));
		if (fd < 0)
			return -errno;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			r = -errno;
		close(fd);
	}
	return r;
}

int lfp_kern_commit(struct lfp_kern *k, const struct lfp_lowered *lw, uint64_t *gen_out)
{
	int outer[LFP_ROLE_COUNT];
	int r;

	if (!k || !lw)
		return -EINVAL;
	for (int role = 0; role < LFP_ROLE_COUNT; role++)
		outer[role] = outer_fd(k, role);
	r = lfp_kern_commit_maps(outer, k->state, lw, gen_out);
	if (r)
		return r;
	/* the generation is active either way: a failed walk leaves existing
	 * TCP flows as they were (reported, and retried at the next commit) */
	r = kern_reauth(k);
	if (r)
		lfp_print(LFP_WARN, "lfp: re-authorizing TCP flows: %s\n", strerror(-r));
	return 0;
}

uint64_t lfp_kern_gen(struct lfp_kern *k)
{
	return k && k->state ? __atomic_load_n(&k->state->gen, __ATOMIC_ACQUIRE) : 0;
}

/* ---- counters, stats, events ---- */

int lfp_kern_counter(struct lfp_kern *k, uint32_t slot, uint64_t *hits)
{
	__u64 v;

	if (!k || !hits || slot >= LFP_KERN_COUNTER_SLOTS)
		return -EINVAL;
	if (bpf_map_lookup_elem(bpf_map__fd(k->skel->maps.lfp_counters), &slot, &v))
		return -errno;
	*hits = v;
	return 0;
}

int lfp_kern_counter_reset(struct lfp_kern *k, uint32_t slot)
{
	__u64 zero = 0;

	if (!k || slot >= LFP_KERN_COUNTER_SLOTS)
		return -EINVAL;
	if (bpf_map_update_elem(bpf_map__fd(k->skel->maps.lfp_counters), &slot, &zero, BPF_ANY))
		return -errno;
	return 0;
}

int lfp_kern_set_log_permits(struct lfp_kern *k, bool on)
{
	if (!k)
		return -EINVAL;
	__atomic_store_n(&k->state->log_permits, on ? 1 : 0, __ATOMIC_RELAXED);
	return 0;
}

int lfp_kern_status(struct lfp_kern *k, struct lfp_kern_status *st)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd;
	__u64 *vals;

	if (!k || !st)
		return -EINVAL;
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	memset(st, 0, sizeof(*st));
	st->adopted = k->adopted;
	st->gen = lfp_kern_gen(k);
	st->scope_cgroup_id = k->state->scope_cgroup;
	st->n_hooks = N_HOOKS;
	memcpy(st->hooks, k->hooks, sizeof(k->hooks));

	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	fd = bpf_map__fd(k->skel->maps.lfp_stats);
	for (__u32 i = 0; i < LFP_STAT_COUNT; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals)) {
			int r = -errno;

			free(vals);
			return r;
		}
		for (int c = 0; c < ncpu; c++)
			st->stats[i] += vals[c];
	}
	free(vals);
	return 0;
}

bool lfp_kern_layer_ready(struct lfp_kern *k, int layer)
{
	bool any = false;

	if (!k)
		return false;
	for (size_t i = 0; i < N_HOOKS; i++) {
		if (hook_descs[i].layer != layer)
			continue;
		if (!k->hooks[i].active)
			return false;
		any = true;
	}
	return any;
}

int lfp_kern_map_fd(struct lfp_kern *k, const char *name)
{
	int fd;

	if (!k || !name)
		return -EINVAL;
	fd = bpf_object__find_map_fd_by_name(k->skel->obj, name);
	return fd < 0 ? -ENOENT : fd;
}

int lfp_kern_event_fd(struct lfp_kern *k)
{
	return k && k->rb ? ring_buffer__epoll_fd(k->rb) : -EINVAL;
}

int lfp_kern_event_poll(struct lfp_kern *k, lfp_kern_event_fn fn, void *ctx)
{
	int r;

	if (!k || !k->rb)
		return -EINVAL;
	k->ev_fn = fn;
	k->ev_ctx = ctx;
	r = ring_buffer__consume(k->rb);
	k->ev_fn = NULL;
	k->ev_ctx = NULL;
	return r;
}

/* ---- pend and complete (daemon/pend.c) ---- */

int lfp_kern_pend_maps(struct lfp_kern *k, struct lfp_kern_pend_maps *m)
{
	if (!k || !k->skel)
		return -EINVAL;
	m->pend = bpf_map__fd(k->skel->maps.lfp_pend);
	m->tuple = bpf_map__fd(k->skel->maps.lfp_pend_tuple);
	m->kill = bpf_map__fd(k->skel->maps.lfp_pend_kill);
	m->udp_cache = bpf_map__fd(k->skel->maps.lfp_udp_cache);
	m->pend_in = bpf_map__fd(k->skel->maps.lfp_pend_in);
	if (path_join(m->match_path, sizeof(m->match_path), k->bpffs, "progs", "lfp_pend_match") ||
	    path_join(m->match_in_path, sizeof(m->match_in_path), k->bpffs, "progs",
		      "lfp_pend_in_match"))
		return -ENAMETOOLONG;
	return hook_active(k, "pend match") && hook_active(k, "pend end tcp") ? 0 : -EOPNOTSUPP;
}

int lfp_kern_pend_end(struct lfp_kern *k)
{
	char buf[64];
	ssize_t n;
	int fd, r = 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		if (!(hook_descs[i].flags & HOOK_ONDEMAND) || !k->links[i])
			continue;
		fd = bpf_iter_create(bpf_link__fd(k->links[i]));
		if (fd < 0)
			return -errno;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n < 0)
			r = -errno;
		close(fd);
	}
	return r;
}
