// SPDX-License-Identifier: MIT
/*
 * Pend and complete, lfpd's half (docs/callouts.md). The hooks let a pended
 * connect through and hold its first packet in lfpd's NFQUEUE; here lfpd
 * finds the hook's record for the packet (the record has the process: no
 * /proc on the way), asks (a person for `ask`, the registering session for
 * an external callout), and completes each flow on its own: verdicts by
 * packet id, so one slow answer never holds up another flow.
 *
 * Everything runs in lfpd's one thread, from its epoll loop; the queue fd is
 * non-blocking and the kernel queues what lfpd has not read yet (up to
 * --pend-queue-max, then it drops: fail closed, never --queue-bypass).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/inet_diag.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <bpf/bpf.h>

#include <lfp/common.h>
#include <lfp/oracle.h>
#include <lfp/layer.h>
#include <lfp/rule.h>
#include "event.h"
#include "lfpd.h"
#include "kern.h"
#include "pend.h"
#include "lfp_pend.h"

#define CHAIN "LFP_PEND"
/* how often flows a callout permitted are looked for (sock_diag), while there are any */
#define WATCH_POLL_MS 250u
/* completed blocks keep their record this long: stray packets are dropped from the queue */
#define BLOCK_KEEP_MS 60000u

/* completed records kept for a while: outbound blocks, inbound answers */
struct swept {
	uint8_t key[40]; /* struct lfp_pend_key, or lfp_pend_tuple when inbound */
	bool inbound;
	uint64_t at_ms;
};

struct pend {
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	int fd;
	struct lfp_kern_pend_maps m;
	bool active;
	char why[160]; /* why not active */
	uint32_t queue, queue_max;
	struct pend_table table;
	struct callout_registry reg;
	struct swept *blocked;
	size_t n_blocked;
	struct flow_watches watches; /* permitted callout flows, until they end */
	uint64_t watch_next_ms;
	uint64_t held, permitted, blocked_n, timeouts, pkts_dropped;
	/* layers with notify filters (bit per enum lfp_layer), as of generation notify_gen */
	uint32_t notify_layers;
	uint64_t notify_gen;
	bool notify_dirty;
	uint64_t notified, notify_failed;
	uint64_t clients_dropped; /* callout clients disconnected for not reading */
	/* cgroup id -> its ancestors (root first), for notify filters' cgroup conditions */
	struct cg_anc {
		uint64_t id;
		uint32_t depth;
		uint64_t ids[LFP_CGROUP_MAX_DEPTH];
	} cg_cache[16];
	size_t cg_next;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the engine's view of the registry ---- */

/* eng->callouts is what lowering and the oracle see: rebuilt from the registry */
static int sync_engine(struct lfpd *d)
{
	struct callout_registry *r = &d->pend->reg;
	struct lfp_callout *v = calloc(r->n ? r->n : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		v[i].name = strdup(r->v[i].name);
		v[i].type = (enum lfp_callout_type)r->v[i].type;
		if (!v[i].name) {
			while (i--)
				free(v[i].name);
			free(v);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < d->eng.n_callouts; i++)
		free(d->eng.callouts[i].name);
	free(d->eng.callouts);
	d->eng.callouts = v;
	d->eng.n_callouts = r->n;
	d->pend->notify_dirty = true;
	return 0;
}

/* Filters that name a callout change meaning when it comes or goes: recommit. */
static int recommit(struct lfpd *d, struct lfp_diags *diags)
{
	int r = sync_engine(d);

	if (r)
		return r;
	if (!d->kern)
		return 0;
	if (d->eng.open_txn)
		return 0; /* that transaction's commit lowers with the registry as it is then */
	return engine_refresh(&d->eng, diags);
}

/* ---- iptables: lfpd's chain in its own network namespace ---- */

static int run_cmd(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *const ipt_bins[] = { "iptables", "ip6tables" };
#define CHAIN_IN "LFP_PEND_IN"

static int chain_remove_in(const char *bin)
{
	char *del[] = { (char *)bin, "-w", "-D", "INPUT", "-j", CHAIN_IN, NULL };
	char *flush[] = { (char *)bin, "-w", "-F", CHAIN_IN, NULL };
	char *drop[] = { (char *)bin, "-w", "-X", CHAIN_IN, NULL };

	for (int i = 0; i < 16 && run_cmd(del) == 0; i++)
		;
	run_cmd(flush);
	return run_cmd(drop);
}

static int chain_remove_one(const char *bin)
{
	char *del[] = { (char *)bin, "-w", "-D", "OUTPUT", "-j", CHAIN, NULL };
	char *flush[] = { (char *)bin, "-w", "-F", CHAIN, NULL };
	char *drop[] = { (char *)bin, "-w", "-X", CHAIN, NULL };

	for (int i = 0; i < 16 && run_cmd(del) == 0; i++)
		;
	run_cmd(flush);
	return run_cmd(drop);
}

static int chain_setup(struct pend *p)
{
	char qs[16], qmark[32], rmark[32];

	snprintf(qs, sizeof(qs), "%u", p->queue);
	snprintf(qmark, sizeof(qmark), "0x%x/0x%x", LFP_PEND_MARK, LFP_PEND_MARK);
	snprintf(rmark, sizeof(rmark), "0x%x/0x%x", LFP_PEND_REJECT_MARK, LFP_PEND_REJECT_MARK);
	for (size_t i = 0; i < 2; i++) {
		char *bin = (char *)ipt_bins[i];
		char *mk[] = { bin, "-w", "-N", CHAIN, NULL };
		char *fl[] = { bin, "-w", "-F", CHAIN, NULL };
		char *chk[] = { bin, "-w", "-C", "OUTPUT", "-j", CHAIN, NULL };
		char *ins[] = { bin, "-w", "-I", "OUTPUT", "1", "-j", CHAIN, NULL };
		char *rule[] = { bin,
				 "-w",
				 "-A",
				 CHAIN,
				 "-m",
				 "mark",
				 "--mark",
				 qmark,
				 "-m",
				 "bpf",
				 "--object-pinned",
				 p->m.match_path,
				 "-j",
				 "NFQUEUE",
				 "--queue-num",
				 qs,
				 NULL };

		/* unconnected UDP: udp_sendmsg() copies the socket's mark before the
		 * sendmsg hook runs, so the first datagram of a pended (socket, remote)
		 * is not marked; UDP is matched by its record alone (one hash lookup) */
		char *urule[] = { bin,
				  "-w",
				  "-A",
				  CHAIN,
				  "-p",
				  "udp",
				  "-m",
				  "bpf",
				  "--object-pinned",
				  p->m.match_path,
				  "-j",
				  "NFQUEUE",
				  "--queue-num",
				  qs,
				  NULL };

		/* inbound (auth-recv-accept): blocked held packets come back (NF_REPEAT)
		 * with the reject mark and are refused: the client fails at once */
		char *rej_tcp[] = {
			bin,	"-w",	  "-A",	 CHAIN_IN, "-p",     "tcp",	      "-m",
			"mark", "--mark", rmark, "-j",	   "REJECT", "--reject-with", "tcp-reset",
			NULL
		};
		char *rej_udp[] = { bin,
				    "-w",
				    "-A",
				    CHAIN_IN,
				    "-p",
				    "udp",
				    "-m",
				    "mark",
				    "--mark",
				    rmark,
				    "-j",
				    "REJECT",
				    "--reject-with",
				    i ? "icmp6-port-unreachable" : "icmp-port-unreachable",
				    NULL };
		/* inbound (auth-recv-accept): the match holds the first packet of a flow
		 * that pends (and the retries of flows the ingress hook recorded) */
		char *mki[] = { bin, "-w", "-N", CHAIN_IN, NULL };
		char *fli[] = { bin, "-w", "-F", CHAIN_IN, NULL };
		char *chki[] = { bin, "-w", "-C", "INPUT", "-j", CHAIN_IN, NULL };
		char *insi[] = { bin, "-w", "-I", "INPUT", "1", "-j", CHAIN_IN, NULL };
		char *trule[] = { bin,
				  "-w",
				  "-A",
				  CHAIN_IN,
				  "-p",
				  "tcp",
				  "--syn",
				  "-m",
				  "bpf",
				  "--object-pinned",
				  p->m.match_in_path,
				  "-j",
				  "NFQUEUE",
				  "--queue-num",
				  qs,
				  NULL };
		char *irule[] = { bin,
				  "-w",
				  "-A",
				  CHAIN_IN,
				  "-p",
				  "udp",
				  "-m",
				  "bpf",
				  "--object-pinned",
				  p->m.match_in_path,
				  "-j",
				  "NFQUEUE",
				  "--queue-num",
				  qs,
				  NULL };

		run_cmd(mk);
		run_cmd(mki);
		if (run_cmd(fl) || (run_cmd(chk) && run_cmd(ins)) || run_cmd(rule) ||
		    run_cmd(urule) || run_cmd(fli) || (run_cmd(chki) && run_cmd(insi)) ||
		    run_cmd(rej_tcp) || run_cmd(rej_udp) || run_cmd(trule) || run_cmd(irule)) {
			snprintf(p->why, sizeof(p->why), "%s: cannot install chains %s, %s", bin,
				 CHAIN, CHAIN_IN);
			return -EIO;
		}
	}
	return 0;
}

int pend_unload(void)
{
	int r = 0;

	for (size_t i = 0; i < 2; i++) {
		if (chain_remove_one(ipt_bins[i]) > 1)
			r = -EIO;
		if (chain_remove_in(ipt_bins[i]) > 1)
			r = -EIO;
	}
	return r;
}

/* ---- records ---- */

static void tuple_of(const struct lfp_pend_key *k, const struct lfp_pend_val *v,
		     struct lfp_pend_tuple *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->laddr, v->laddr, 16);
	memcpy(t->raddr, k->raddr, 16);
	t->lport = v->lport;
	t->rport = k->rport;
	t->proto = k->proto;
}

static void udp_cache_set(struct pend *p, const struct lfp_pend_key *k, uint8_t verdict)
{
	struct lfp_udp_key uk = { .cookie = k->cookie, .rport = k->rport };
	struct lfp_udp_val uv;

	memcpy(uk.raddr, k->raddr, 16);
	if (bpf_map_lookup_elem(p->m.udp_cache, &uk, &uv))
		return;
	uv.verdict = verdict;
	bpf_map_update_elem(p->m.udp_cache, &uk, &uv, BPF_EXIST);
}

static const char *addr_text(const uint8_t *a, char *buf, size_t len)
{
	static const uint8_t v4m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, v4m, 12))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	return buf;
}

static const char *flow_path(struct lfpd *d, const struct lfp_pend_val *v)
{
	const char *path = exe_cache_get(&d->exes, v->exe_dev, v->exe_ino);

	/* a process older than lfpd: learnt once, for display (the hook already attributed it) */
	if (!path)
		path = exe_cache_learn(&d->exes, (pid_t)v->pid, v->exe_dev, v->exe_ino, NULL);
	return path;
}

static json_t *flow_json(struct lfpd *d, const struct pend_flow *f, uint64_t now)
{
	const struct lfp_pend_val *v = (const void *)f->val;
	char ra[INET6_ADDRSTRLEN], la[INET6_ADDRSTRLEN], pwbuf[1024];
	struct passwd pw, *pwp = NULL;
	const char *path = flow_path(d, v);
	const char *fname = engine_filter_name(&d->eng, f->filter_id);
	char comm[17];

	memcpy(comm, v->comm, 16);
	comm[16] = 0;
	getpwuid_r(v->uid, &pw, pwbuf, sizeof(pwbuf), &pwp);
	return json_pack("{s:I, s:i, s:i, s:s?, s:s?, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:I, "
			 "s:I, s:I, s:s?, s:s, s:s?}",
			 "id", (json_int_t)f->id, "pid", (int)v->pid, "uid", (int)v->uid, "user",
			 pwp ? pw.pw_name : NULL, "path", path, "comm", comm, "layer",
			 f->inbound ? "auth-recv-accept" : "auth-connect", "proto",
			 f->proto == 6 ? "tcp" : "udp", "remote",
			 addr_text(f->raddr, ra, sizeof(ra)), "rport", (int)f->rport, "local",
			 v->have_local || f->inbound ? addr_text(f->laddr, la, sizeof(la)) : "",
			 "lport", (int)f->lport, "age_ms", (json_int_t)(now - f->start_ms),
			 "timeout_ms",
			 (json_int_t)(f->deadline_ms > now ? f->deadline_ms - now : 0), "filter",
			 (json_int_t)f->filter_id, "filter_name", fname, "default",
			 f->default_permit ? "permit" : "block", "callout", f->callout);
}

/* ---- completion ---- */

/* The completion as an event after the hook's `pend` one: the answer, by the same filter. */
static void completion_event(struct lfpd *d, const struct pend_flow *f, bool permit)
{
	const struct lfp_pend_val *v = (const void *)f->val;
	struct lfp_event e;
	struct timespec ts;

	memset(&e, 0, sizeof(e));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e.ts_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	e.type = LFP_EV_CLASSIFY;
	e.layer = f->inbound ? LFP_LAYER_AUTH_RECV_ACCEPT : LFP_LAYER_AUTH_CONNECT;
	e.verdict = permit ? LFP_V_PERMIT : LFP_V_BLOCK;
	e.proto = f->proto;
	e.ipver = v->ipver;
	e.filter_id = f->filter_id;
	e.cookie = f->inbound ? v->cookie : ((const struct lfp_pend_key *)f->key)->cookie;
	e.pid = v->pid;
	e.uid = v->uid;
	e.gid = v->gid;
	e.flags = v->cflags;
	e.cgroup = v->cgroup;
	e.exe_dev = v->exe_dev;
	e.exe_ino = v->exe_ino;
	memcpy(e.laddr, f->laddr, 16);
	memcpy(e.raddr, f->raddr, 16);
	e.lport = f->lport;
	e.rport = f->rport;
	memcpy(e.comm, v->comm, sizeof(e.comm));
	lfpd_publish_event(d, &e);
}

static void blocked_keep(struct pend *p, const struct pend_flow *f, uint64_t now)
{
	struct swept *b = realloc(p->blocked, (p->n_blocked + 1) * sizeof(*b));

	if (!b)
		return;
	p->blocked = b;
	memset(&b[p->n_blocked], 0, sizeof(*b));
	memcpy(b[p->n_blocked].key, f->key, sizeof(f->key));
	b[p->n_blocked].inbound = f->inbound;
	b[p->n_blocked++].at_ms = now;
}

/*
 * An inbound held packet's verdict. Refused ones go through INPUT again
 * (NF_REPEAT) with the reject mark, and LFP_PEND_IN's first rules answer them:
 * a TCP reset or ICMP port unreachable, so the client fails at once instead
 * of retrying into a silent drop.
 */
static int verdict_in(struct nfq_q_handle *qh, uint32_t id, bool permit)
{
	if (permit)
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	return nfq_set_verdict2(qh, id, NF_REPEAT, LFP_PEND_REJECT_MARK, 0, NULL);
}

/*
 * Inbound: the record decides at ingress (lfp.bpf.c's ale_accept ->
 * pend_hold_in), so it stays, permitted or blocked, until the sweep; the
 * released packet finds it permitted. Unconnected UDP: the receiving
 * socket's cache entry for the remote is completed too.
 */
static void complete_in(struct lfpd *d, struct pend_flow *f, bool permit)
{
	struct pend *p = d->pend;
	struct lfp_pend_val cur;

	if (bpf_map_lookup_elem(p->m.pend_in, f->key, &cur))
		memcpy(&cur, f->val, sizeof(cur));
	cur.state = permit ? LFP_PEND_PERMIT : LFP_PEND_BLOCK;
	bpf_map_update_elem(p->m.pend_in, f->key, &cur, BPF_ANY);
	if (f->proto == 17) {
		struct lfp_udp_key uk = { .cookie = cur.cookie, .rport = f->rport, .inbound = 1 };
		struct lfp_udp_val uv;

		memcpy(uk.raddr, f->raddr, 16);
		if (!bpf_map_lookup_elem(p->m.udp_cache, &uk, &uv)) {
			uv.verdict = permit ? LFP_V_PERMIT : LFP_V_BLOCK;
			bpf_map_update_elem(p->m.udp_cache, &uk, &uv, BPF_EXIST);
		}
	}
	blocked_keep(p, f, mono_ms());
}

/*
 * A flow its callout permitted: watched until it ends (WFP flowDeleteFn).
 * Outbound by the connecting or sending socket's cookie, inbound UDP by the
 * receiving socket's; inbound TCP by its 5-tuple, since the accepted socket
 * is made only after the released SYN. Unconnected UDP, either way, is one
 * flow per (socket, remote).
 */
static void watch_flow(struct pend *p, const struct pend_flow *f, const struct lfp_pend_val *cur)
{
	struct flow_watch spec = {
		.id = f->id,
		.session = f->session,
		.callout = f->callout,
		.proto = f->proto,
		.inbound = f->inbound,
		.lport = f->lport,
		.rport = f->rport,
	};

	memcpy(spec.laddr, f->laddr, 16);
	memcpy(spec.raddr, f->raddr, 16);
	if (!f->inbound) {
		spec.cookie = ((const struct lfp_pend_key *)f->key)->cookie;
		spec.per_remote = cur->from == LFP_PEND_FROM_SENDMSG;
	} else if (f->proto == IPPROTO_UDP) {
		spec.cookie = cur->cookie;
		spec.per_remote = true;
	}
	if (flow_watch_add(&p->watches, &spec, mono_ms()))
		lfp_print(LFP_WARN, "lfpd: pending %" PRIu64 ": cannot watch for its end\n", f->id);
}

static void complete(struct lfpd *d, struct pend_flow *f, bool permit, const char *why)
{
	struct pend *p = d->pend;
	struct lfp_pend_key *k = (void *)f->key;
	struct lfp_pend_val cur;
	struct lfp_pend_tuple t;
	char ra[INET6_ADDRSTRLEN];
	uint64_t now = mono_ms();

	completion_event(d, f, permit);
	if (f->inbound) {
		complete_in(d, f, permit);
		if (permit && f->callout_answered) {
			if (bpf_map_lookup_elem(p->m.pend_in, f->key, &cur))
				memcpy(&cur, f->val, sizeof(cur));
			watch_flow(p, f, &cur);
		}
		if (permit)
			p->permitted++;
		else
			p->blocked_n++;
		for (size_t i = 0; i < f->n_pkts; i++)
			verdict_in(p->qh, f->pkts[i], permit);
		lfp_print(LFP_INFO,
			  "lfpd: pending %" PRIu64 " (inbound %s from %s:%u to port %u) %s: %s\n",
			  f->id, f->proto == 6 ? "tcp" : "udp", addr_text(f->raddr, ra, sizeof(ra)),
			  f->rport, f->lport, permit ? "permitted" : "blocked", why);
		pend_table_remove(&p->table, f);
		pend_flow_free(f);
		return;
	}

	/* the record as the match left it (local end) */
	if (bpf_map_lookup_elem(p->m.pend, k, &cur))
		memcpy(&cur, f->val, sizeof(cur));
	if (cur.from == LFP_PEND_FROM_SENDMSG)
		udp_cache_set(p, k, permit ? LFP_V_PERMIT : LFP_V_BLOCK);
	if (permit && f->callout_answered)
		watch_flow(p, f, &cur);
	if (permit) {
		/* no record: the match lets its packets pass; retransmits never pend again */
		bpf_map_delete_elem(p->m.pend, k);
		if (cur.have_local) {
			tuple_of(k, &cur, &t);
			bpf_map_delete_elem(p->m.tuple, &t);
		}
		p->permitted++;
	} else {
		cur.state = LFP_PEND_BLOCK;
		bpf_map_update_elem(p->m.pend, k, &cur, BPF_EXIST);
		blocked_keep(p, f, now);
		p->blocked_n++;
	}
	for (size_t i = 0; i < f->n_pkts; i++)
		nfq_set_verdict(p->qh, f->pkts[i], permit ? NF_ACCEPT : NF_DROP, 0, NULL);
	if (!permit && cur.from == LFP_PEND_FROM_CONNECT) {
		uint8_t one = 1;

		/* end the socket now: connect() fails at once, no SYN retries */
		if (!bpf_map_update_elem(p->m.kill, &k->cookie, &one, BPF_ANY))
			lfp_kern_pend_end(d->kern);
		bpf_map_delete_elem(p->m.kill, &k->cookie);
	}
	lfp_print(LFP_INFO, "lfpd: pending %" PRIu64 " (pid %u, %s %s:%u) %s: %s\n", f->id, cur.pid,
		  k->proto == 6 ? "tcp" : "udp", addr_text(k->raddr, ra, sizeof(ra)), k->rport,
		  permit ? "permitted" : "blocked", why);
	pend_table_remove(&p->table, f);
	pend_flow_free(f);
}

static struct client *client_of(struct lfpd *d, uint64_t session)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->session == session && !c->closing)
			return c;
	return NULL;
}

/*
 * What lfpd sends a callout's client unasked (classify requests,
 * notifications, flow deletions, filter changes): a client that lets more
 * than PEND_CALLOUT_OUT_MAX wait unread is given up on (pend_client_overflow)
 * rather than let its backlog grow without bound. Replies to its own
 * requests are not capped here.
 */
static int callout_send(struct lfpd *d, struct client *c, const json_t *msg)
{
	if (c->out_len > PEND_CALLOUT_OUT_MAX) {
		pend_client_overflow(d, c);
		return -ENOBUFS;
	}
	return client_send(d, c, msg);
}

/* A new held flow: who answers, by when, and what happens without an answer. */
static void flow_start(struct lfpd *d, struct pend_flow *f)
{
	struct pend *p = d->pend;
	const struct lfp_pend_val *v = (const void *)f->val;
	char idbuf[32];
	struct eng_filter *ef;
	const struct callout_reg *reg;
	uint64_t now = mono_ms();
	json_t *msg;

	f->start_ms = now;
	f->filter_id = v->filter_id;
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, (uint64_t)v->filter_id);
	ef = v->filter_id ? engine_find_filter(&d->eng, idbuf) : NULL;
	if (!pend_table_add(&p->table, f)) {
		for (size_t i = 0; i < f->n_pkts; i++)
			nfq_set_verdict(p->qh, f->pkts[i], NF_DROP, 0, NULL);
		pend_flow_free(f);
		return;
	}
	p->held++;
	if (!ef) {
		complete(d, f, false, "its filter was deleted meanwhile (fail closed)");
		return;
	}
	if (ef->f.action.type == LFP_ACT_ASK) {
		f->deadline_ms = now + 1000ull * (ef->f.action.ask_timeout ?: PEND_ASK_TIMEOUT_S);
		f->default_permit = ef->f.action.ask_default_permit;
		return;
	}
	f->permit_if_unreg = !!(ef->f.flags & LFP_FF_PERMIT_IF_UNREG);
	reg = ef->f.action.type == LFP_ACT_CALLOUT
		      ? callout_registry_find(&p->reg, ef->f.action.callout)
		      : NULL;
	if (reg && !reg->session) {
		/* the built-in `callout ask`: a person, with ask's defaults */
		f->deadline_ms = now + 1000ull * PEND_ASK_TIMEOUT_S;
		return;
	}
	if (!reg || !client_of(d, reg->session)) {
		complete(d, f, f->permit_if_unreg,
			 f->permit_if_unreg
				 ? "callout not registered (permit-if-callout-unregistered)"
				 : "callout not registered");
		return;
	}
	f->session = reg->session;
	f->callout = strdup(reg->name);
	f->deadline_ms =
		now + (reg->timeout_ms ? reg->timeout_ms : 1000ull * PEND_CALLOUT_TIMEOUT_S);
	msg = json_pack("{s:o}", "classify", flow_json(d, f, now));
	if (msg) {
		callout_send(d, client_of(d, reg->session), msg);
		json_decref(msg);
	}
}

/* ---- the queue ---- */

static int parse_tuple(const uint8_t *pkt, int len, struct lfp_pend_tuple *t)
{
	int off;

	memset(t, 0, sizeof(*t));
	if (len < 20)
		return -EINVAL;
	if ((pkt[0] >> 4) == 4) {
		off = (pkt[0] & 0xf) * 4;
		t->proto = pkt[9];
		t->laddr[10] = t->laddr[11] = t->raddr[10] = t->raddr[11] = 0xff;
		memcpy(t->laddr + 12, pkt + 12, 4);
		memcpy(t->raddr + 12, pkt + 16, 4);
	} else if ((pkt[0] >> 4) == 6 && len >= 40) {
		off = 40;
		t->proto = pkt[6];
		memcpy(t->laddr, pkt + 8, 16);
		memcpy(t->raddr, pkt + 24, 16);
	} else {
		return -EINVAL;
	}
	if (len < off + 4 || (t->proto != 6 && t->proto != 17))
		return -EINVAL;
	t->lport = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
	t->rport = (uint16_t)(pkt[off + 2] << 8 | pkt[off + 3]);
	return 0;
}

static int parse_tuple(const uint8_t *pkt, int len, struct lfp_pend_tuple *t);

/*
 * Hold packet @id of the flow whose kernel record is @key (@klen bytes: a
 * pend key outbound, the 5-tuple inbound) with value @v: beside the flow's
 * earlier packets when it is held already, else as a new held flow. The key
 * is compared zero-padded to the table's key size, so both kinds of key
 * find their flow (and a short key never compares bytes past its end).
 */
static int pend_hold(struct lfpd *d, struct nfq_q_handle *qh, uint32_t id, const void *key,
		     size_t klen, const struct lfp_pend_val *v, const struct lfp_pend_tuple *flow,
		     bool inbound)
{
	struct pend *p = d->pend;
	uint8_t kbuf[sizeof(((struct pend_flow *)0)->key)] = { 0 };
	struct pend_flow *f;

	if (v->state != LFP_PEND_WAITING && inbound)
		return verdict_in(qh, id, v->state == LFP_PEND_PERMIT);
	if (v->state != LFP_PEND_WAITING)
		return nfq_set_verdict(qh, id, v->state == LFP_PEND_PERMIT ? NF_ACCEPT : NF_DROP,
				       0, NULL);
	memcpy(kbuf, key, klen < sizeof(kbuf) ? klen : sizeof(kbuf));
	f = pend_table_find_key(&p->table, kbuf);
	if (f) {
		if (f->n_pkts == PEND_PKTS_MAX) {
			p->pkts_dropped++;
			return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
		}
		f->pkts[f->n_pkts++] = id;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		p->pkts_dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	memcpy(f->key, kbuf, sizeof(kbuf));
	memcpy(f->val, v, sizeof(*v));
	f->inbound = inbound;
	f->proto = flow->proto;
	memcpy(f->raddr, flow->raddr, 16);
	memcpy(f->laddr, flow->laddr, 16);
	f->rport = flow->rport;
	f->lport = flow->lport;
	f->pkts[f->n_pkts++] = id;
	flow_start(d, f);
	return 0;
}

/* An inbound packet the INPUT match queued (lfp_pend_in_match): the first packet of a
 * flow it found pending, or a retry of one the ingress hook recorded. */
static int on_packet_in(struct lfpd *d, struct nfq_q_handle *qh, uint32_t id, const uint8_t *pkt,
			int len)
{
	struct pend *p = d->pend;
	struct lfp_pend_tuple t, in;
	struct lfp_pend_val v;

	/* parse_tuple reads source as local: swap for a packet coming in */
	if (len < 0 || parse_tuple(pkt, len, &t)) {
		p->pkts_dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	memset(&in, 0, sizeof(in));
	memcpy(in.laddr, t.raddr, 16);
	memcpy(in.raddr, t.laddr, 16);
	in.lport = t.rport;
	in.rport = t.lport;
	in.proto = t.proto;
	if (bpf_map_lookup_elem(p->m.pend_in, &in, &v)) {
		p->pkts_dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	return pend_hold(d, qh, id, &in, sizeof(in), &v, &in, true);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa,
		     void *data)
{
	struct lfpd *d = data;
	struct pend *p = d->pend;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	struct lfp_pend_tuple t, flow = { 0 };
	struct lfp_pend_key k;
	struct lfp_pend_val v;
	unsigned char *pkt;
	uint32_t id;
	int len;

	(void)nfmsg;
	if (!ph)
		return 0;
	id = ntohl(ph->packet_id);
	len = nfq_get_payload(nfa, &pkt);
	/* a refused packet back from its repeat: LFP_PEND_IN's reject rule did not
	 * take it (removed by hand?). Dropped: another repeat would loop. */
	if (ph->hook == NF_INET_LOCAL_IN && (nfq_get_nfmark(nfa) & LFP_PEND_REJECT_MARK)) {
		p->pkts_dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	if (ph->hook == NF_INET_LOCAL_IN)
		return on_packet_in(d, qh, id, pkt, len);
	/* unknown packet or tuple: drop (a TCP retry comes back; never through unjudged) */
	if (len < 0 || parse_tuple(pkt, len, &t) || bpf_map_lookup_elem(p->m.tuple, &t, &k)) {
		p->pkts_dropped++;
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	}
	if (bpf_map_lookup_elem(p->m.pend, &k, &v)) /* completed with permit meanwhile */
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	/* the flow as the table shows it: remote from the record, local end from the packet */
	memcpy(flow.raddr, k.raddr, 16);
	flow.rport = k.rport;
	memcpy(flow.laddr, t.laddr, 16);
	flow.lport = t.lport;
	flow.proto = k.proto;
	return pend_hold(d, qh, id, &k, sizeof(k), &v, &flow, false);
}

int pend_init(struct lfpd *d, uint32_t queue, uint32_t queue_max)
{
	struct pend *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	d->pend = p;
	p->fd = -1;
	p->queue = queue;
	p->queue_max = queue_max;
	if ((r = callout_registry_add(&p->reg, "count", LFP_CALLOUT_INSPECTION, 0)) ||
	    (r = callout_registry_add(&p->reg, "ask", LFP_CALLOUT_TERMINATING, 0)) ||
	    (r = sync_engine(d)))
		return r;
	if (!d->kern)
		return 0;
	r = lfp_kern_pend_maps(d->kern, &p->m);
	if (r) {
		snprintf(p->why, sizeof(p->why), "the pend programs are not active on this kernel");
		goto off;
	}
	p->h = nfq_open();
	if (!p->h) {
		r = -errno ?: -EIO;
		snprintf(p->why, sizeof(p->why), "nfq_open: %s", strerror(-r));
		goto off;
	}
	p->qh = nfq_create_queue(p->h, (uint16_t)queue, on_packet, d);
	if (!p->qh) {
		r = -errno ?: -EBUSY;
		snprintf(p->why, sizeof(p->why), "NFQUEUE %u: %s (another lfpd on it?)", queue,
			 strerror(-r));
		goto off;
	}
	/* headers are enough: lfpd reads the 5-tuple, the packet stays in the kernel */
	if (nfq_set_mode(p->qh, NFQNL_COPY_PACKET, 128) < 0 ||
	    nfq_set_queue_maxlen(p->qh, queue_max) < 0 ||
	    nfq_set_queue_flags(p->qh, NFQA_CFG_F_FAIL_OPEN, 0) < 0) {
		r = -EIO;
		snprintf(p->why, sizeof(p->why), "NFQUEUE %u: cannot configure", queue);
		goto off;
	}
	p->fd = nfq_fd(p->h);
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	/* the kernel drops on a full socket buffer too: give it room for the queue */
	nfnl_rcvbufsiz(nfq_nfnlh(p->h), 4u << 20);
	r = chain_setup(p);
	if (r)
		goto off;
	p->active = true;
	return 0;
off:
	lfp_print(LFP_WARN,
		  "lfpd: pend and complete unavailable: %s; flows that pend are "
		  "blocked (their packets are held by nobody)\n",
		  p->why);
	if (p->qh)
		nfq_destroy_queue(p->qh);
	if (p->h)
		nfq_close(p->h);
	p->qh = NULL;
	p->h = NULL;
	p->fd = -1;
	return 0;
}

int pend_fd(struct lfpd *d)
{
	return d->pend ? d->pend->fd : -1;
}

void pend_readable(struct lfpd *d)
{
	struct pend *p = d->pend;
	char buf[8192] __attribute__((aligned));

	for (int i = 0; p && p->fd >= 0 && i < 256; i++) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		if (n < 0) {
			/* ENOBUFS: the kernel lost queue messages; their packets stay queued
			 * until the queue drops them (fail closed), TCP retries */
			if (errno == ENOBUFS)
				continue;
			return;
		}
		nfq_handle_packet(p->h, buf, (int)n);
	}
}

/*
 * The TCP and UDP sockets of lfpd's network namespace (sock_diag, IPv4 and
 * IPv6, every state): cookie, 5-tuple, and for TCP whether the flow is over
 * (TIME_WAIT, which keeps the cookie for a minute, or CLOSE). sock_diag's
 * idiag_cookie is the socket cookie the hooks keyed the pend record by.
 * @return 0 with an array sorted by flow_live_sort(), or -errno (then nobody
 * is told anything).
 */
static int live_sockets(struct flow_live **out, size_t *n_out)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct flow_live *v = NULL;
	size_t n = 0, cap = 0;
	char buf[16384];
	int fd, err = 0;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	for (size_t qi = 0; qi < 4 && !err; qi++) {
		uint8_t fam = families[qi & 1], proto = protos[qi >> 1];
		struct {
			struct nlmsghdr nh;
			struct inet_diag_req_v2 r;
		} req = {
			.nh = { .nlmsg_len = sizeof(req),
				.nlmsg_type = SOCK_DIAG_BY_FAMILY,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = (uint32_t)qi + 1 },
			.r = { .sdiag_family = fam, .sdiag_protocol = proto, .idiag_states = ~0u },
		};
		bool done = false;

		if (send(fd, &req, sizeof(req), 0) < 0) {
			err = -errno;
			break;
		}
		while (!done && !err) {
			ssize_t len = recv(fd, buf, sizeof(buf), 0);
			struct nlmsghdr *h = (void *)buf;

			if (len < 0) {
				if (errno == EINTR)
					continue;
				err = -errno;
				break;
			}
			for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
				const struct inet_diag_msg *m = NLMSG_DATA(h);
				struct flow_live *l;

				if (h->nlmsg_type == NLMSG_DONE) {
					done = true;
					break;
				}
				if (h->nlmsg_type == NLMSG_ERROR) {
					const struct nlmsgerr *e = NLMSG_DATA(h);

					err = e->error ? e->error : -EIO;
					break;
				}
				if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
					continue;
				if (n == cap) {
					size_t c = cap ? cap * 2 : 64;
					struct flow_live *nv = realloc(v, c * sizeof(*nv));

					if (!nv) {
						err = -ENOMEM;
						break;
					}
					v = nv;
					cap = c;
				}
				l = &v[n++];
				memset(l, 0, sizeof(*l));
				l->cookie = (uint64_t)m->id.idiag_cookie[0] |
					    (uint64_t)m->id.idiag_cookie[1] << 32;
				l->proto = proto;
				l->over = proto == IPPROTO_TCP &&
					  (m->idiag_state == 6 /* TIME_WAIT */ ||
					   m->idiag_state == 7 /* CLOSE */);
				if (m->idiag_family == AF_INET) {
					l->laddr[10] = l->laddr[11] = l->raddr[10] = l->raddr[11] =
						0xff;
					memcpy(l->laddr + 12, m->id.idiag_src, 4);
					memcpy(l->raddr + 12, m->id.idiag_dst, 4);
				} else {
					memcpy(l->laddr, m->id.idiag_src, 16);
					memcpy(l->raddr, m->id.idiag_dst, 16);
				}
				l->lport = ntohs(m->id.idiag_sport);
				l->rport = ntohs(m->id.idiag_dport);
			}
		}
	}
	close(fd);
	if (err) {
		free(v);
		return err;
	}
	flow_live_sort(v, n);
	*out = v;
	*n_out = n;
	return 0;
}

/* A per-remote UDP flow lives while the socket's decision for that remote does. */
static bool udp_remote_alive(void *ctx, const struct flow_watch *fw)
{
	struct lfpd *d = ctx;
	struct lfp_udp_key uk = { .cookie = fw->cookie,
				  .rport = fw->rport,
				  .inbound = fw->inbound };
	struct lfp_udp_val uv;

	memcpy(uk.raddr, fw->raddr, 16);
	return !bpf_map_lookup_elem(d->pend->m.udp_cache, &uk, &uv);
}

static void flow_ended(void *ctx, const struct flow_watch *fw)
{
	struct lfpd *d = ctx;
	struct client *c = client_of(d, fw->session);
	char ra[INET6_ADDRSTRLEN], la[INET6_ADDRSTRLEN];
	json_t *msg;

	if (!c)
		return;

	msg = json_pack("{s:{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:i}}", "callout_flow_deleted",
			"id", (json_int_t)fw->id, "cookie", (json_int_t)fw->cookie, "callout",
			fw->callout, "proto", fw->proto == IPPROTO_TCP ? "tcp" : "udp", "direction",
			fw->inbound ? "inbound" : "outbound", "remote",
			addr_text(fw->raddr, ra, sizeof(ra)), "rport", (int)fw->rport, "local",
			addr_text(fw->laddr, la, sizeof(la)), "lport", (int)fw->lport);
	if (msg) {
		callout_send(d, c, msg);
		json_decref(msg);
	}
}

/* WFP's flowDeleteFn: tell callouts when the flows they permitted end */
static void watches_sweep(struct lfpd *d, uint64_t now)
{
	struct pend *p = d->pend;
	struct flow_live *live = NULL;
	size_t n_live = 0;
	int r;

	if (!p->watches.n || now < p->watch_next_ms)
		return;
	p->watch_next_ms = now + WATCH_POLL_MS;
	r = live_sockets(&live, &n_live);
	if (r) {
		lfp_print(LFP_WARN, "lfpd: sock_diag: %s: flow-delete notifications wait\n",
			  strerror(-r));
		return;
	}
	flow_watch_sweep(&p->watches, live, n_live, now, udp_remote_alive, flow_ended, d);
	free(live);
}

void pend_tick(struct lfpd *d)
{
	struct pend *p = d->pend;
	struct pend_flow *f;
	uint64_t now = mono_ms();
	size_t j = 0;

	if (!p || !p->active)
		return;
	while ((f = pend_table_expired(&p->table, now))) {
		p->timeouts++;
		complete(d, f, f->session ? false : f->default_permit,
			 f->session ? "the callout did not answer in time"
				    : (f->default_permit ? "timeout: the filter's default permit"
							 : "timeout: the filter's default block"));
	}
	for (size_t i = 0; i < p->n_blocked; i++) {
		if (now - p->blocked[i].at_ms >= BLOCK_KEEP_MS)
			bpf_map_delete_elem(p->blocked[i].inbound ? p->m.pend_in : p->m.pend,
					    p->blocked[i].key);
		else
			p->blocked[j++] = p->blocked[i];
	}
	p->n_blocked = j;
	watches_sweep(d, now);
}

void pend_client_overflow(struct lfpd *d, struct client *c)
{
	struct pend *p = d->pend;
	size_t n = 0;

	if (c->closing || !p)
		return;
	c->closing = true;
	p->clients_dropped++;
	/* not the watches: a sweep may be what is sending (pend_session_end drops them) */
	for (size_t i = 0; i < p->table.n;) {
		struct pend_flow *f = p->table.v[i];

		if (f->session == c->session) {
			p->timeouts++;
			complete(d, f, false,
				 "its callout's client stopped reading (disconnected): as a "
				 "timeout");
			n++;
		} else {
			i++;
		}
	}
	lfp_print(LFP_WARN,
		  "lfpd: error: session %" PRIu64
		  " (%s, pid %d) registered callouts but does not read "
		  "what it is sent (%zu bytes waiting): disconnected; %zu held flows blocked as "
		  "on a timeout\n",
		  c->session, c->name[0] ? c->name : "unnamed", (int)c->pid, c->out_len, n);
}

void pend_session_end(struct lfpd *d, uint64_t session)
{
	struct pend *p = d->pend;
	struct lfp_diags diags = { 0 };

	if (!p || !session)
		return;
	for (size_t i = 0; i < p->table.n;) {
		struct pend_flow *f = p->table.v[i];

		if (f->session == session)
			complete(d, f, f->permit_if_unreg,
				 "its callout's client went away (as unregistered)");
		else
			i++;
	}
	flow_watch_drop_session(&p->watches, session);
	if (callout_registry_drop_session(&p->reg, session) && !d->stopping &&
	    recommit(d, &diags)) {
		lfp_print(LFP_WARN, "lfpd: recommit after session %" PRIu64 "'s callouts went:\n",
			  session);
		lfp_diags_print(&diags, stderr);
	}
	lfp_diags_fini(&diags);
}

void pend_fini(struct lfpd *d)
{
	struct pend *p = d->pend;

	if (!p)
		return;
	/* held packets go with the queue (the kernel drops them: fail closed) */
	if (p->qh)
		nfq_destroy_queue(p->qh);
	if (p->h)
		nfq_close(p->h);
	pend_table_fini(&p->table);
	callout_registry_fini(&p->reg);
	flow_watches_fini(&p->watches);
	free(p->blocked);
	free(p);
	d->pend = NULL;
}

json_t *pend_status_json(struct lfpd *d)
{
	struct pend *p = d->pend;

	if (!p)
		return json_null();
	return json_pack("{s:b, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "active", p->active, "reason", p->why, "queue", (int)p->queue, "queue_max",
			 (int)p->queue_max, "waiting", (json_int_t)p->table.n, "held",
			 (json_int_t)p->held, "permitted", (json_int_t)p->permitted, "blocked",
			 (json_int_t)p->blocked_n, "timeouts", (json_int_t)p->timeouts,
			 "packets_dropped", (json_int_t)p->pkts_dropped, "notified",
			 (json_int_t)p->notified, "notify_failed", (json_int_t)p->notify_failed,
			 "clients_dropped", (json_int_t)p->clients_dropped);
}

/* ---- asynchronous notifications (docs/callouts.md, "Notified, not held") ---- */

/* A callout filter that cannot decide here: its external callout is told instead. */
static const struct callout_reg *notify_reg(struct lfpd *d, const struct lfp_filter *f)
{
	const struct callout_reg *reg;
	const struct lfp_layer_info *li;

	if (f->action.type != LFP_ACT_CALLOUT)
		return NULL;
	reg = callout_registry_find(&d->pend->reg, f->action.callout);
	if (!reg || !reg->session) /* built-ins: count counts, ask is a person */
		return NULL;
	li = lfp_layer_info(f->layer);
	if (reg->type != LFP_CALLOUT_INSPECTION && li && li->can_pend)
		return NULL; /* it pends: the classify request is its notification */
	/* payload layers: the kernel's inspection path reports it (pend_data_notify) */
	if (f->layer == LFP_LAYER_DATAGRAM_DATA || f->layer == LFP_LAYER_STREAM)
		return NULL;
	return reg;
}

/* Which layers have notify filters: recomputed after a commit or a registry change. */
static uint32_t notify_layers(struct lfpd *d)
{
	struct pend *p = d->pend;

	if (p->notify_dirty || p->notify_gen != d->eng.gen) {
		p->notify_layers = 0;
		for (size_t i = 0; i < d->eng.n_filters; i++) {
			const struct lfp_filter *f = &d->eng.filters[i]->f;

			if ((unsigned int)f->layer < 32 && notify_reg(d, f))
				p->notify_layers |= 1u << f->layer;
		}
		p->notify_layers &= d->eng.enforced_layers;
		p->notify_gen = d->eng.gen;
		p->notify_dirty = false;
	}
	return p->notify_layers;
}

/* The event as lfpd reports it (main.c's publish_event fills the same record). */
static json_t *event_json(struct lfpd *d, const struct lfp_event *ke)
{
	struct lfp_event_rec rec;
	char comm[17], pbuf[8];
	const char *pn;

	memset(&rec, 0, sizeof(rec));
	memcpy(comm, ke->comm, 16);
	comm[16] = 0;
	rec.time_ns = ke->ts_ns + d->mono_to_real_ns;
	rec.verdict = lfp_verdict_name(ke->verdict);
	rec.layer = lfp_layer_info(ke->layer) ? lfp_layer_info(ke->layer)->name : "?";
	rec.filter_id = ke->filter_id;
	rec.filter_name = ke->filter_id ? engine_filter_name(&d->eng, ke->filter_id) : NULL;
	rec.pid = ke->pid;
	rec.uid = ke->uid;
	rec.gid = ke->gid;
	rec.cgroup = ke->cgroup;
	rec.path = exe_cache_get(&d->exes, ke->exe_dev, ke->exe_ino);
	if (!rec.path && ke->exe_ino)
		rec.path =
			exe_cache_learn(&d->exes, (pid_t)ke->pid, ke->exe_dev, ke->exe_ino, NULL);
	rec.comm = comm;
	pn = lfp_proto_name(ke->proto);
	if (!pn) {
		snprintf(pbuf, sizeof(pbuf), "%u", ke->proto);
		pn = pbuf;
	}
	rec.proto = pn;
	rec.ipver = ke->ipver;
	lfp_addr_format(ke->laddr, rec.laddr, sizeof(rec.laddr));
	lfp_addr_format(ke->raddr, rec.raddr, sizeof(rec.raddr));
	rec.lport = ke->lport;
	rec.rport = ke->rport;
	rec.cookie = ke->cookie;
	lfp_event_flags_format(ke->flags, rec.flags, sizeof(rec.flags));
	rec.icmp = (ke->ipver == 4 && ke->proto == 1) || (ke->ipver == 6 && ke->proto == 58);
	rec.icmp_type = ke->icmp_type;
	rec.icmp_code = ke->icmp_code;
	if (ke->layer == LFP_LAYER_DATAGRAM_DATA || ke->layer == LFP_LAYER_STREAM)
		rec.direction = ke->direction == LFP_DIR_INBOUND ? "in" : "out";
	return lfp_event_rec_to_json(&rec);
}

int lfp_callout_notify(struct lfpd *d, const char *callout, uint64_t filter_id,
		       const struct lfp_event *ev, const void *bytes, size_t n)
{
	const struct callout_reg *reg;
	struct client *c;
	json_t *msg;
	int r;

	if (!d->pend || !callout || !ev || (n && !bytes))
		return -EINVAL;
	reg = callout_registry_find(&d->pend->reg, callout);
	if (!reg || !reg->session || !(c = client_of(d, reg->session)))
		return -ENOENT;
	msg = callout_notify_msg(reg->name, filter_id, event_json(d, ev), bytes, n);
	if (!msg)
		return -ENOMEM;
	r = callout_send(d, c, msg);
	json_decref(msg);
	if (r)
		d->pend->notify_failed++;
	else
		d->pend->notified++;
	return r;
}

/* The cgroup v2 mount point (its root cgroup), or NULL. */
static const char *cg2_root(void)
{
	static char root[PATH_MAX];
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f;

	if (root[0])
		return root;
	f = fopen("/proc/mounts", "re");
	if (!f)
		return NULL;
	while (fscanf(f, "%255s %4095s %63s %*s %*d %*d\n", dev, dir, type) == 3)
		if (!strcmp(type, "cgroup2")) {
			snprintf(root, sizeof(root), "%s", dir);
			break;
		}
	fclose(f);
	return root[0] ? root : NULL;
}

/* the directory under @dir (at most @depth levels down) whose inode is @id, into @out */
static bool cg_find(const char *dir, uint64_t id, int depth, char *out, size_t len)
{
	struct dirent *de;
	bool found = false;
	DIR *dp;

	if (depth < 0 || !(dp = opendir(dir)))
		return false;
	while (!found && (de = readdir(dp))) {
		char sub[PATH_MAX];
		struct stat st;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub) ||
		    stat(sub, &st))
			continue;
		if (st.st_ino == id) {
			snprintf(out, len, "%s", sub);
			found = true;
		} else {
			found = cg_find(sub, id, depth - 1, out, len);
		}
	}
	closedir(dp);
	return found;
}

/*
 * The ancestors of scope cgroup @id, root first, as a `cgroup` condition's
 * subtree match wants them (the event has the cgroup's own id only). Found
 * below lfpd's --cgroup (events come from there only), cached; on failure
 * just @id itself.
 */
static void cg_ancestors(struct lfpd *d, uint64_t id, struct lfp_conn *c)
{
	struct pend *p = d->pend;
	const char *root = cg2_root();
	char path[PATH_MAX];
	struct cg_anc *a;
	struct stat st;

	for (size_t i = 0; i < sizeof(p->cg_cache) / sizeof(p->cg_cache[0]); i++)
		if (p->cg_cache[i].id == id && p->cg_cache[i].depth) {
			memcpy(c->cgroup_ids, p->cg_cache[i].ids, sizeof(c->cgroup_ids));
			c->cgroup_depth = p->cg_cache[i].depth;
			return;
		}
	if (!root || !d->cgroup_abs || strncmp(d->cgroup_abs, root, strlen(root)))
		return;
	if (!stat(d->cgroup_abs, &st) && st.st_ino == id)
		snprintf(path, sizeof(path), "%s", d->cgroup_abs);
	else if (!cg_find(d->cgroup_abs, id, 8, path, sizeof(path)))
		return;
	a = &p->cg_cache[p->cg_next++ % (sizeof(p->cg_cache) / sizeof(p->cg_cache[0]))];
	memset(a, 0, sizeof(*a));
	/* every prefix from the mount root down: "/sys/fs/cgroup", ".../a", ".../a/b" */
	for (size_t i = strlen(root), n = strlen(path);;) {
		char save = path[i];
		const char *q;

		path[i] = 0;
		if (!stat(path, &st) && a->depth < LFP_CGROUP_MAX_DEPTH)
			a->ids[a->depth++] = st.st_ino;
		path[i] = save;
		if (i >= n)
			break;
		q = strchr(path + i + 1, '/');
		i = q ? (size_t)(q - path) : n;
	}
	if (!a->depth || a->ids[a->depth - 1] != id) {
		a->depth = 0; /* raced with a rename or removal: own id only */
		return;
	}
	a->id = id;
	memcpy(c->cgroup_ids, a->ids, sizeof(c->cgroup_ids));
	c->cgroup_depth = a->depth;
}

static bool names_cgroup(const struct lfp_filter *f)
{
	for (size_t i = 0; i < f->n_conds; i++)
		if (f->conds[i].field == LFP_F_CGROUP)
			return true;
	return false;
}

/* The flow of @ke as the filters' conditions see it. */
static void event_conn(const struct lfp_event *ke, struct lfp_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->layer = (enum lfp_layer)ke->layer;
	c->app_dev = ke->exe_dev;
	c->app_ino = ke->exe_ino;
	c->uid = ke->uid;
	c->gid = ke->gid;
	c->pid = ke->pid;
	/* the socket's own cgroup; its ancestors when a cgroup condition asks (cg_ancestors) */
	if (ke->cgroup) {
		c->cgroup_ids[0] = ke->cgroup;
		c->cgroup_depth = 1;
	}
	c->proto = ke->proto;
	c->ipver = ke->ipver;
	memcpy(c->laddr, ke->laddr, 16);
	memcpy(c->raddr, ke->raddr, 16);
	memcpy(c->oaddr, ke->oaddr, 16);
	c->lport = ke->lport;
	c->rport = ke->rport;
	c->oport = ke->oport;
	/* events say their direction at the payload layers, flow-established and
	 * endpoint-closure; elsewhere the layer does */
	if (ke->layer == LFP_LAYER_DATAGRAM_DATA || ke->layer == LFP_LAYER_STREAM ||
	    ke->layer == LFP_LAYER_FLOW_ESTABLISHED || ke->layer == LFP_LAYER_ENDPOINT_CLOSURE)
		c->direction = ke->direction;
	else
		c->direction = ke->layer == LFP_LAYER_AUTH_RECV_ACCEPT ||
				       ke->layer == LFP_LAYER_INBOUND_TRANSPORT ||
				       ke->layer == LFP_LAYER_INBOUND_IPPACKET ||
				       ke->layer == LFP_LAYER_INBOUND_ICMP_ERROR
			       ? LFP_DIR_INBOUND
			       : LFP_DIR_OUTBOUND;
	c->icmp_type = ke->icmp_type;
	c->icmp_code = ke->icmp_code;
	c->flags = ke->flags;
}

void pend_event_notify(struct lfpd *d, const struct lfp_event *ke)
{
	struct lfp_conn conn;
	bool anc = false;

	if (!d->pend || ke->type != LFP_EV_CLASSIFY || ke->layer >= 32 ||
	    !(notify_layers(d) & (1u << ke->layer)))
		return;
	event_conn(ke, &conn);
	for (size_t i = 0; i < d->eng.n_filters; i++) {
		const struct lfp_filter *f = &d->eng.filters[i]->f;

		if (f->layer != (enum lfp_layer)ke->layer || !notify_reg(d, f))
			continue;
		if (!anc && ke->cgroup && names_cgroup(f)) {
			cg_ancestors(d, ke->cgroup, &conn);
			anc = true;
		}
		if (!lfp_filter_matches(f, &conn))
			continue;
		lfp_callout_notify(d, f->action.callout, f->id, ke, NULL, 0);
	}
}

void pend_data_notify(struct lfpd *d, const struct lfp_data_event *de)
{
	char idbuf[32];
	const struct eng_filter *ef;
	const struct callout_reg *reg;

	if (!d->pend || !de->ev.filter_id)
		return;
	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, (uint64_t)de->ev.filter_id);
	ef = engine_find_filter(&d->eng, idbuf);
	if (!ef || ef->f.action.type != LFP_ACT_CALLOUT)
		return;
	reg = callout_registry_find(&d->pend->reg, ef->f.action.callout);
	if (!reg || !reg->session) /* `count`: the monitors have it */
		return;
	lfp_callout_notify(d, reg->name, ef->f.id, &de->ev, de->data,
			   de->captured < sizeof(de->data) ? de->captured : sizeof(de->data));
}

/* ---- API ---- */

static bool may_see(const struct client *c, const struct pend_flow *f)
{
	const struct lfp_pend_val *v = (const void *)f->val;

	return c->privileged || c->uid == v->uid || (f->session && f->session == c->session);
}

int pend_api_list(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
		  struct lfp_diags *diags)
{
	struct pend *p = d->pend;
	json_t *arr = json_array();
	uint64_t now = mono_ms();

	(void)req;
	(void)diags;
	for (size_t i = 0; p && i < p->table.n; i++)
		if (may_see(c, p->table.v[i]))
			json_array_append_new(arr, flow_json(d, p->table.v[i], now));
	json_object_set_new(reply, "pending", arr);
	json_object_set_new(reply, "active", json_boolean(p && p->active));
	return 0;
}

enum scope { SCOPE_APP, SCOPE_APP_REMOTE, SCOPE_APP_REMOTE_PORT };

/* `always` / `until-restart`: a hard filter just above the ask filter, provider ask */
static int write_rule(struct lfpd *d, const struct pend_flow *f, bool permit, bool persistent,
		      enum scope scope, struct lfp_diags *diags, uint64_t *id_out)
{
	LFP_OPTS(lfp_parse_opts, po, .single_statement = true,
		 .lifetime = persistent ? LFP_LT_PERSISTENT : LFP_LT_RUNTIME);
	const struct lfp_pend_val *v = (const void *)f->val;
	struct lfp_ruleset *rs = NULL;
	struct eng_filter *ef;
	struct eng_txn txn;
	const char *path = flow_path(d, v);
	char idbuf[32], ra[INET6_ADDRSTRLEN], *text = NULL;
	int64_t id;
	int r;

	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, f->filter_id);
	ef = engine_find_filter(&d->eng, idbuf);
	if (!ef) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "pending %" PRIu64 ": its ask filter %" PRIu64
			      " is gone: answer 'once' instead",
			      f->id, f->filter_id);
		return -ENOENT;
	}
	if (!path) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "pending %" PRIu64 ": the executable's path is unknown, no rule "
			      "can name it: answer 'once' instead",
			      f->id);
		return -ENOENT;
	}
	if (ef->f.weight == UINT64_MAX) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "pending %" PRIu64 ": filter %" PRIu64
			      " has the highest weight, nothing fits above it",
			      f->id, f->filter_id);
		return -ERANGE;
	}
	if (d->eng.open_txn) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "pending %" PRIu64 ": another session holds the transaction lock; "
			      "try again, or answer 'once'",
			      f->id);
		return -EBUSY;
	}
	addr_text(f->raddr, ra, sizeof(ra));
	/* inbound, the port that identifies the service is the local one */
	snprintf(idbuf, sizeof(idbuf), "%u", f->inbound ? f->lport : f->rport);
	if (asprintf(&text,
		     "filter add layer %s sublayer \"%s\" weight %" PRIu64
		     " app \"%s\"%s%s%s%s%s %s",
		     f->inbound ? "auth-recv-accept" : "auth-connect",
		     ef->f.sublayer ? ef->f.sublayer : LFP_SUBLAYER_DEFAULT_NAME, ef->f.weight + 1,
		     path, scope >= SCOPE_APP_REMOTE ? " remote.addr " : "",
		     scope >= SCOPE_APP_REMOTE ? ra : "",
		     scope == SCOPE_APP_REMOTE_PORT ? (f->proto == 6 ? " proto tcp" : " proto udp")
						    : "",
		     scope == SCOPE_APP_REMOTE_PORT
			     ? (f->inbound ? " local.port " : " remote.port ")
			     : "",
		     scope == SCOPE_APP_REMOTE_PORT ? idbuf : "",
		     permit ? "permit hard" : "block") < 0)
		return -ENOMEM;
	r = lfp_rule_parse(text, &po, &rs, diags);
	free(text);
	if (r)
		goto out;
	r = eng_txn_begin(&d->eng, &txn);
	if (r)
		goto out;
	id = eng_txn_add_filter(&txn, &rs->filters[0], "ask",
				persistent ? LFP_LT_PERSISTENT : LFP_LT_RUNTIME, diags);
	if (id < 0) {
		eng_txn_abort(&txn);
		r = (int)id;
		goto out;
	}
	r = eng_txn_commit(&txn, diags);
	if (!r) {
		*id_out = (uint64_t)id;
		appwatch_rebuild(d);
	}
out:
	lfp_ruleset_free(rs);
	return r;
}

static int bad(struct lfp_diags *diags, int err, const char *fmt, const char *arg)
	__attribute__((format(printf, 3, 0)));

/* one diagnostic with one string argument (the offending value) */
static int bad(struct lfp_diags *diags, int err, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL, fmt, arg ? arg : "");
#pragma GCC diagnostic pop
	return err;
}

int pend_api_answer(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
		    struct lfp_diags *diags)
{
	struct pend *p = d->pend;
	json_t *jid = json_object_get(req, "pending");
	const char *vs = json_string_value(json_object_get(req, "verdict"));
	const char *lt = json_string_value(json_object_get(req, "lifetime"));
	const char *sc = json_string_value(json_object_get(req, "scope"));
	const struct lfp_pend_val *v;
	enum scope scope = SCOPE_APP;
	struct pend_flow *f;
	uint64_t rule_id = 0;
	char idtext[32];
	int verdict, r;

	if (!json_is_integer(jid) || json_integer_value(jid) <= 0)
		return bad(diags, -EINVAL, "field 'pending': missing or not a positive integer%s",
			   NULL);
	snprintf(idtext, sizeof(idtext), "%" JSON_INTEGER_FORMAT, json_integer_value(jid));
	verdict = pend_verdict_parse(vs);
	if (verdict < 0)
		return bad(diags, -EINVAL, "field 'verdict': '%s' is not permit, block or continue",
			   vs);
	if (lt && strcmp(lt, "once") && strcmp(lt, "until-restart") && strcmp(lt, "always"))
		return bad(diags, -EINVAL,
			   "field 'lifetime': '%s' is not once, until-restart or always", lt);
	if (sc && !strcmp(sc, "app+remote"))
		scope = SCOPE_APP_REMOTE;
	else if (sc && !strcmp(sc, "app+remote+port"))
		scope = SCOPE_APP_REMOTE_PORT;
	else if (sc && strcmp(sc, "app"))
		return bad(diags, -EINVAL,
			   "field 'scope': '%s' is not app, app+remote or app+remote+port", sc);
	f = p ? pend_table_find(&p->table, (uint64_t)json_integer_value(jid)) : NULL;
	if (!f)
		return bad(diags, -ENOENT,
			   "no held connection with id %s (answered already, timed out, or "
			   "never held): `lfp pending` lists them",
			   idtext);
	v = (const void *)f->val;
	if (f->session) {
		/* a callout's flow: its client answers, continue counts as block */
		if (c->session != f->session)
			return bad(diags, -EACCES,
				   "pending %s waits for callout '%s': only the session that "
				   "registered it answers",
				   idtext);
		if (lt && strcmp(lt, "once"))
			return bad(diags, -EINVAL,
				   "pending %s: a callout answers once (lifetime '%s' is for "
				   "people)",
				   idtext);
		f->callout_answered = true;
		complete(d, f, verdict == 0,
			 verdict == 2 ? "callout answered continue (block)" : "callout answered");
		return 0;
	}
	if (!c->privileged && c->uid != v->uid) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "permission denied: pending %s is a connection of uid %u; only "
			      "root, group lfp or uid %u may answer it (you are uid %u)",
			      idtext, v->uid, v->uid, (unsigned int)c->uid);
		return -EACCES;
	}
	if (verdict == 2)
		return bad(diags, -EINVAL, "pending %s: a person answers permit or block", idtext);
	if (lt && strcmp(lt, "once")) {
		r = write_rule(d, f, verdict == 0, !strcmp(lt, "always"), scope, diags, &rule_id);
		if (r)
			return r;
		json_object_set_new(reply, "filter", json_integer((json_int_t)rule_id));
		/* the flow may have been completed by the commit's side effects: look again */
		f = pend_table_find(&p->table, (uint64_t)json_integer_value(jid));
		if (!f)
			return 0;
	}
	complete(d, f, verdict == 0, "answered");
	return 0;
}

static int callout_type_parse(const char *s)
{
	if (!s || !strcmp(s, "terminating"))
		return LFP_CALLOUT_TERMINATING;
	if (!strcmp(s, "inspection"))
		return LFP_CALLOUT_INSPECTION;
	if (!strcmp(s, "unknown"))
		return LFP_CALLOUT_UNKNOWN;
	return -EINVAL;
}

int pend_api_callout_register(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
			      struct lfp_diags *diags)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *ts = json_string_value(json_object_get(req, "type"));
	json_t *jt = json_object_get(req, "timeout_ms");
	int type = callout_type_parse(ts), r;
	json_int_t tmo = 0;

	(void)reply;
	if (!d->pend)
		return -EOPNOTSUPP;
	if (type < 0)
		return bad(diags, -EINVAL,
			   "field 'type': '%s' is not terminating, inspection or unknown", ts);
	if (jt && !json_is_integer(jt))
		return bad(diags, -EINVAL, "field 'timeout_ms': not an integer%s", NULL);
	if (jt)
		tmo = json_integer_value(jt);
	if (tmo && (tmo < PEND_CALLOUT_TIMEOUT_MIN_MS || tmo > PEND_CALLOUT_TIMEOUT_MAX_MS)) {
		lfp_diags_add(diags, LFP_DIAG_ERROR, (struct lfp_loc){ 0 }, NULL,
			      "field 'timeout_ms': %" JSON_INTEGER_FORMAT
			      " is out of range (0 for the default %u s, or %u..%u)",
			      tmo, PEND_CALLOUT_TIMEOUT_S, PEND_CALLOUT_TIMEOUT_MIN_MS,
			      PEND_CALLOUT_TIMEOUT_MAX_MS);
		return -ERANGE;
	}
	r = callout_registry_add(&d->pend->reg, name, type, c->session);
	if (r == -EINVAL)
		return bad(diags, r,
			   "field 'name': '%s' is not a callout name (letters, digits, _ - ., "
			   "at most 63, not starting with a digit)",
			   name ? name : "(missing)");
	if (r == -EEXIST)
		return bad(diags, r, "callout '%s' is registered already", name);
	if (r)
		return r;
	callout_registry_set_timeout(&d->pend->reg, name, (uint32_t)tmo); /* checked above */
	r = recommit(d, diags);
	if (r) {
		callout_registry_del(&d->pend->reg, name, c->session);
		sync_engine(d);
	}
	return r;
}

int pend_api_callout_unregister(struct lfpd *d, struct client *c, json_t *req, json_t *reply,
				struct lfp_diags *diags)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct pend *p = d->pend;
	int r;

	(void)reply;
	if (!p)
		return -EOPNOTSUPP;
	r = callout_registry_del(&p->reg, name, c->session);
	if (r == -ENOENT)
		return bad(diags, r, "no callout '%s' is registered", name ? name : "(missing)");
	if (r == -EPERM)
		return bad(diags, r, "callout '%s' belongs to another session (or is built in)",
			   name);
	for (size_t i = 0; i < p->table.n;) {
		struct pend_flow *f = p->table.v[i];

		if (f->session == c->session && f->callout && !strcmp(f->callout, name))
			complete(d, f, f->permit_if_unreg, "its callout was unregistered");
		else
			i++;
	}
	return recommit(d, diags);
}

void pend_filter_changed(struct lfpd *d, const struct eng_filter *ef, bool added)
{
	const struct callout_reg *reg;
	struct client *c;
	json_t *msg;

	if (!d->pend || ef->f.action.type != LFP_ACT_CALLOUT)
		return;
	reg = callout_registry_find(&d->pend->reg, ef->f.action.callout);
	if (!reg || !reg->session || !(c = client_of(d, reg->session)))
		return;
	msg = json_pack("{s:{s:s, s:s, s:I}}", "callout_notify", "change", added ? "add" : "delete",
			"callout", reg->name, "filter", (json_int_t)ef->f.id);
	if (msg)
		callout_send(d, c, msg);
	json_decref(msg);
}

json_t *pend_callouts_json(struct lfpd *d)
{
	static const char *const types[] = { "terminating", "inspection", "unknown" };
	json_t *arr = json_array();

	for (size_t i = 0; d->pend && i < d->pend->reg.n; i++) {
		const struct callout_reg *r = &d->pend->reg.v[i];

		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:b, s:I, s:I}", "name", r->name, "type",
				  types[r->type], "builtin", !r->session, "session",
				  (json_int_t)r->session, "timeout_ms",
				  (json_int_t)(r->timeout_ms ? r->timeout_ms
							     : PEND_CALLOUT_TIMEOUT_S * 1000u)));
	}
	return arr;
}
