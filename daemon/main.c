// SPDX-License-Identifier: MIT
/*
 * lfpd: loads (or adopts) the BPF programs, keeps the engine's policy in the
 * kernel, serves the Unix-socket API and streams events.
 *
 * One thread, one epoll loop: the listening socket, clients, the event ring
 * buffer, signals and inotify. Nothing here sits on the classification path:
 * the kernel decides on its own and only reports to us.
 *
 * `lfpd --boot` is the early loader: the same kernel side, the boot-time set
 * as the only policy, no socket, no loop; it exits and the pins enforce.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "event.h"
#include "discard.h"
#include "kern.h"
#include "lfpd.h"
#include "pend.h"
#include "redir.h"

#define TAG_LISTEN  ((uint64_t)1)
#define TAG_SIGNAL  ((uint64_t)2)
#define TAG_EVENTS  ((uint64_t)3)
#define TAG_INOTIFY ((uint64_t)4)
#define TAG_PEND    ((uint64_t)5)
#define TAG_REDIR   ((uint64_t)6)

static const char usage[] =
	"Usage: lfpd [OPTIONS]\n"
	"\n"
	"The Linux Filtering Platform daemon: enforces the WFP-style policy in the kernel\n"
	"(eBPF on cgroup hooks), serves the lfp API and streams connection events.\n"
	"With no persistent policy it runs in monitor mode: permit everything, log every\n"
	"connection.\n"
	"\n"
	"Options:\n"
	"  --cgroup PATH     cgroup v2 directory whose processes are filtered\n"
	"                    (default: the root of the cgroup v2 hierarchy)\n"
	"  --socket PATH     API socket (default /run/lfp/lfp.sock)\n"
	"  --state-dir DIR   persistent policy (default /var/lib/lfp)\n"
	"  --bpffs DIR       where programs and maps are pinned (default /sys/fs/bpf/lfp)\n"
	"  --foreground      stay in the foreground and print events to stdout\n"
	"  --quiet           with --foreground: do not print events\n"
	"  --no-log-permits  no events for permitted connections (blocks are always logged)\n"
	"  --unload          remove every program, map and pin lfp installed, then exit\n"
	"  --boot            early loader: load (or adopt) the programs, enforce the\n"
	"                    boot-time set (STATE-DIR/boot.json) alone, then exit; the\n"
	"                    pins enforce it until lfpd starts and drops it\n"
	"  --pend-queue N    NFQUEUE number that holds pended flows' first packets\n"
	"                    (ask, callouts; default 4400; lfpd's own iptables chain\n"
	"                    LFP_PEND in its network namespace sends them there)\n"
	"  --pend-queue-max N  packets the queue holds (default 1024); a full queue\n"
	"                    drops, never lets a flow through unjudged\n"
	"  -h, --help        this text\n"
	"  --version         print the version\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop lfpd; the persistent policy stays enforced by the\n"
	"pinned programs and a later lfpd adopts them. Runtime (--runtime) filters end with\n"
	"lfpd. A change applied with --confirm that is still unconfirmed is rolled back.\n"
	"\n"
	"Files: STATE-DIR/policy.json (persistent policy), STATE-DIR/boot.json (boot-time\n"
	"set), STATE-DIR/confirm.json (a change waiting for `lfp confirm`: a restarted lfpd\n"
	"rolls it back once its deadline passed), BPFFS/{maps,links}/ (pins).\n"
	"systemd units: dist/lfp-boot.service, dist/lfpd.service.\n"
	"See docs/lfpd.md and docs/api.md.\n";

static struct lfpd *the_daemon;
/* --boot: the early loader (kept here: nothing else in lfpd needs to know) */
static bool opt_boot;

static int log_print(enum lfp_print_level level, const char *fmt, va_list ap)
{
	if (level == LFP_DEBUG && !getenv("LFP_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_to_real(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec) -
	       ((uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec);
}

static char *find_cgroup2_root(void)
{
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64];
	char *res = NULL;

	if (!f)
		return NULL;
	while (fscanf(f, "%255s %4095s %63s %*s %*d %*d\n", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			res = strdup(dir);
			break;
		}
	}
	fclose(f);
	return res;
}

/* ---- clients ----
 *
 * Each client is an API session. A request that must wait for another
 * session's transaction (API_WAIT) is parked in c->deferred and the client is
 * not read meanwhile, so its requests are answered in order; clients_resume()
 * asks again when the lock is free or the wait timed out.
 */

static void client_close(struct lfpd *d, struct client *c)
{
	struct client **pp;

	/* its open transaction is aborted, its dynamic objects deleted (or queued) */
	api_session_end(d, c);
	for (pp = &d->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	lfp_linebuf_fini(&c->in);
	free(c->deferred);
	free(c->out);
	free(c);
}

static int client_flush(struct lfpd *d, struct client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	/* a waiting client is not read (EPOLLHUP and EPOLLERR still come) */
	struct epoll_event ev = { .events =
					  (c->deferred ? 0 : EPOLLIN) | (c->out_len ? EPOLLOUT : 0),
				  .data.ptr = c };

	epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

int client_send(struct lfpd *d, struct client *c, const json_t *msg)
{
	size_t len;
	char *s = lfp_msg_dump(msg, &len);
	char *o;

	if (!s)
		return -ENOMEM;
	if (c->out_len + len > CLIENT_OUT_MAX && c->monitor) {
		free(s);
		c->dropped++;
		d->events_to_clients_dropped++;
		return -ENOBUFS;
	}
	o = realloc(c->out, c->out_len + len);
	if (!o) {
		free(s);
		return -ENOMEM;
	}
	memcpy(o + c->out_len, s, len);
	c->out = o;
	c->out_len += len;
	free(s);
	return client_flush(d, c);
}

static bool peer_in_lfp_group(struct lfpd *d, int fd, const struct ucred *cr)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (!d->have_lfp_gid)
		return false;
	if (cr->gid == d->lfp_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == d->lfp_gid)
			return true;
	return false;
}

static void accept_clients(struct lfpd *d)
{
	for (;;) {
		int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct client *c;
		struct epoll_event ev = { .events = EPOLLIN };

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->session = ++d->next_session;
		c->pid = cr.pid;
		c->uid = cr.uid;
		c->gid = cr.gid;
		c->privileged = cr.uid == 0 || peer_in_lfp_group(d, fd, &cr);
		/* rule files may be large; only those who may apply them may send that much */
		c->in.max = c->privileged ? LFP_MSG_MAX_PRIV : LFP_MSG_MAX;
		ev.data.ptr = c;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		d->clients = c;
	}
}

/* Answer the buffered requests in order, stopping at one that waits for the lock.
 * @return -1 when @p c was closed. */
static int client_process(struct lfpd *d, struct client *c)
{
	char *line;

	while (!c->deferred && (line = lfp_linebuf_next(&c->in))) {
		if (api_handle(d, c, line) == API_WAIT) {
			c->deferred = line;
			client_flush(d, c); /* stop reading it */
			return 0;
		}
		free(line);
	}
	if (c->in.overflow) {
		char msg[160];
		json_t *err;

		snprintf(msg, sizeof(msg), "message too large (limit %zu MiB%s)",
			 (c->in.max ? c->in.max : LFP_MSG_MAX) >> 20,
			 c->privileged ? "" : " for clients that may not change policy");
		err = json_pack("{s:b, s:s, s:i}", "ok", 0, "error", msg, "exit", 1);

		client_send(d, c, err);
		json_decref(err);
		client_close(d, c);
		return -1;
	}
	return 0;
}

static void client_readable(struct lfpd *d, struct client *c)
{
	while (!c->deferred) {
		int r = lfp_linebuf_fill(&c->in, c->fd);

		if (client_process(d, c))
			return;
		if (c->deferred)
			return; /* an EOF read now is read again after the wait */
		if (r == -EAGAIN)
			return;
		if (r <= 0) {
			client_close(d, c);
			return;
		}
	}
}

/* Hand the lock to waiting sessions, oldest first, and time out those that waited too long. */
static void clients_resume(struct lfpd *d)
{
	uint64_t now = now_ms();

	for (int guard = 0; guard < 10000; guard++) {
		struct client *w = NULL;
		char *line;

		for (struct client *c = d->clients; c; c = c->next)
			if (c->deferred && !c->closing &&
			    (!d->lock_owner || now >= c->wait_deadline_ms) &&
			    (!w || c->wait_since_ms < w->wait_since_ms))
				w = c;
		if (!w)
			return;
		line = LFP_TAKE_PTR(w->deferred);
		if (api_handle(d, w, line) == API_WAIT) {
			w->deferred = line;
			continue;
		}
		free(line);
		if (client_process(d, w))
			continue;
		client_flush(d, w); /* read it again (or keep waiting on its next request) */
	}
}

static void clients_close_marked(struct lfpd *d)
{
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (c->closing)
			client_close(d, c);
	}
}

/* ---- events ---- */

static const char *proto_text(uint8_t p, char *buf, size_t size)
{
	const char *n = lfp_proto_name(p);

	if (n)
		return n;
	snprintf(buf, size, "%u", p);
	return buf;
}

static void publish_event(struct lfpd *d, const struct lfp_event *ke,
			  const struct redir_event *re);

static int on_kernel_event(void *ctx, const void *data, size_t size)
{
	struct lfpd *d = ctx;
	const struct lfp_event *ke = data;

	if (size < sizeof(uint64_t) + sizeof(uint32_t))
		return 0;
	if (ke->type == LFP_EV_EXEC && size >= sizeof(struct lfp_exec_event)) {
		const struct lfp_exec_event *xe = data;
		char fn[sizeof(xe->filename) + 1];

		memcpy(fn, xe->filename, sizeof(xe->filename));
		fn[sizeof(xe->filename)] = 0;
		exe_cache_learn(&d->exes, (pid_t)xe->pid, xe->exe_dev, xe->exe_ino, fn);
		return 0;
	}
	if (ke->type == LFP_EV_DATA && size < sizeof(struct lfp_data_event))
		return 0;
	if ((ke->type != LFP_EV_CLASSIFY && ke->type != LFP_EV_DISCARD &&
	     ke->type != LFP_EV_DATA) ||
	    size < sizeof(*ke))
		return 0;
	publish_event(d, ke, NULL);
	/* external callouts that cannot decide here are told (docs/callouts.md) */
	if (ke->type == LFP_EV_DATA)
		pend_data_notify(d, (const struct lfp_data_event *)ke);
	else
		pend_event_notify(d, ke);
	return 0;
}

void lfpd_publish_event(struct lfpd *d, const struct lfp_event *ke)
{
	publish_event(d, ke, NULL);
}

/* The redirector's events: flows it relayed (with bytes) or failed. */
static void redir_events(struct lfpd *d)
{
	struct redir_event re;

	while (d->redir && redir_event_read(d->redir, &re) == 1)
		publish_event(d, &re.ev, &re);
}

/* A classification (@p re: the redirector's record around it, or NULL) to the
 * console and the monitors. */
static void publish_event(struct lfpd *d, const struct lfp_event *ke, const struct redir_event *re)
{
	struct lfp_event_rec rec;
	char comm[17], pbuf[8];
	json_t *j;

	d->events_seen++;
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
	rec.proto = proto_text(ke->proto, pbuf, sizeof(pbuf));
	rec.ipver = ke->ipver;
	lfp_addr_format(ke->laddr, rec.laddr, sizeof(rec.laddr));
	lfp_addr_format(ke->raddr, rec.raddr, sizeof(rec.raddr));
	/* a blocked connect never got a local address: print it in the flow's family */
	if (ke->ipver == 4 && !strcmp(rec.laddr, "::"))
		snprintf(rec.laddr, sizeof(rec.laddr), "0.0.0.0");
	rec.lport = ke->lport;
	rec.rport = ke->rport;
	rec.cookie = ke->cookie;
	lfp_event_flags_format(ke->flags, rec.flags, sizeof(rec.flags));
	if (ke->flags & LFP_CF_REDIRECTED) {
		static const uint8_t zero[16];

		if (memcmp(ke->oaddr, zero, 16) || ke->oport) {
			lfp_addr_format(ke->oaddr, rec.oaddr, sizeof(rec.oaddr));
			rec.oport = ke->oport;
		}
	}
	if (re) {
		rec.has_bytes = true;
		rec.bytes_out = re->bytes_out;
		rec.bytes_in = re->bytes_in;
		rec.note = re->note;
	}
	/* ICMP messages, and ICMP errors (whose proto is the quoted flow's) */
	rec.icmp = (ke->ipver == 4 && ke->proto == 1) || (ke->ipver == 6 && ke->proto == 58) ||
		   ke->layer == LFP_LAYER_INBOUND_ICMP_ERROR ||
		   ke->layer == LFP_LAYER_OUTBOUND_ICMP_ERROR;
	rec.icmp_type = ke->icmp_type;
	rec.icmp_code = ke->icmp_code;
	if (ke->layer == LFP_LAYER_DATAGRAM_DATA || ke->layer == LFP_LAYER_STREAM)
		rec.direction = ke->direction == LFP_DIR_INBOUND ? "in" : "out";
	/* a payload excerpt: the record begins with the event (on_kernel_event checked
	 * its size) */
	if (ke->type == LFP_EV_DATA) {
		const struct lfp_data_event *de = (const struct lfp_data_event *)ke;

		/* what the callout saw, not a decision: the layer's block, if any, is
		 * its own event */
		rec.verdict = "inspect";
		rec.has_data = true;
		rec.data_len = de->len;
		rec.n_data = de->captured < sizeof(rec.data) ? de->captured : sizeof(rec.data);
		memcpy(rec.data, de->data, rec.n_data);
	}
	if (ke->type == LFP_EV_DISCARD) {
		rec.verdict = "discard";
		rec.layer = "discard";
		rec.icmp = ke->proto == 1 || ke->proto == 58;
		rec.reason = discard_reason_name(ke->reason);
	}
	if (d->opts.foreground && !d->opts.quiet) {
		char line[2048];

		lfp_event_rec_format(&rec, line, sizeof(line));
		printf("%s\n", line);
		fflush(stdout);
	}
	j = NULL;
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (!c->monitor || (!c->privileged && c->uid != rec.uid))
			continue;
		if (!j) {
			j = json_object();
			json_object_set_new(j, "event", lfp_event_rec_to_json(&rec));
		}
		client_send(d, c, j);
	}
	json_decref(j);
}

/*
 * Tell each monitor about events it did not get, as a {"dropped": {"kernel": N,
 * "client": M}} line in its stream: N lost in the kernel's ring buffer (any
 * process's; lfpd read too slowly), M that lfpd dropped for this subscriber
 * (it read too slowly). At most every 100 ms: the kernel's count takes a
 * syscall per statistic. A line that does not fit the subscriber's buffer now
 * waits for the next round rather than becoming a drop itself.
 */
static void monitors_note_drops(struct lfpd *d)
{
	struct lfp_kern_status st;
	uint64_t now = now_ms(), kd;
	bool any = false;

	for (struct client *c = d->clients; c && !any; c = c->next)
		any = c->monitor;
	if (!any || !d->kern || now < d->drops_checked_ms + 100)
		return;
	d->drops_checked_ms = now;
	if (lfp_kern_status(d->kern, &st))
		return;
	kd = st.stats[LFP_STAT_EVENT_DROPS];
	for (struct client *c = d->clients; c; c = c->next) {
		uint64_t kdelta = kd - c->kernel_drops_told, cdelta = c->dropped - c->dropped_told;
		json_t *j;

		if (!c->monitor || (!kdelta && !cdelta) || c->out_len + 256 > CLIENT_OUT_MAX)
			continue;
		j = json_pack("{s:{s:I, s:I}}", "dropped", "kernel", (json_int_t)kdelta, "client",
			      (json_int_t)cdelta);
		if (j && !client_send(d, c, j)) {
			c->kernel_drops_told = kd;
			c->dropped_told = c->dropped;
		}
		json_decref(j);
	}
}

/* ---- setup ---- */

/* Whether an lfpd serves @p path (connect succeeds). */
static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int probe;
	bool yes;

	if (strlen(path) >= sizeof(sa.sun_path) || access(path, F_OK))
		return false;
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return false;
	yes = !connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	close(probe);
	return yes;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *dir = strdup(path), *slash;
	int fd;

	if (!dir)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(dir);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	free(dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a stale socket from a killed lfpd: replace it, unless another lfpd answers on it */
	if (!access(path, F_OK)) {
		if (socket_answers(path)) {
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int r = -errno;

		close(fd);
		return r;
	}
	/* everyone may connect: reads are open, changes are checked per request (SO_PEERCRED) */
	chmod(path, 0666);
	return fd;
}

static uint32_t opt_u32(const char *arg, const char *opt, uint32_t max)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (!*arg || *end || v > max) {
		fprintf(stderr, "lfpd: %s: '%s' is not a number from 0 to %u\n", opt, arg, max);
		exit(1);
	}
	return (uint32_t)v;
}

static void parse_opts(int argc, char **argv, struct lfpd_opts *o)
{
	enum {
		O_CGROUP = 256,
		O_SOCKET,
		O_STATE,
		O_BPFFS,
		O_FG,
		O_UNLOAD,
		O_QUIET,
		O_NOLOG,
		O_BOOT,
		O_VER,
		O_PENDQ,
		O_PENDQMAX
	};
	static const struct option longopts[] = {
		{ "cgroup", required_argument, 0, O_CGROUP },
		{ "socket", required_argument, 0, O_SOCKET },
		{ "state-dir", required_argument, 0, O_STATE },
		{ "bpffs", required_argument, 0, O_BPFFS },
		{ "foreground", no_argument, 0, O_FG },
		{ "unload", no_argument, 0, O_UNLOAD },
		{ "quiet", no_argument, 0, O_QUIET },
		{ "no-log-permits", no_argument, 0, O_NOLOG },
		{ "boot", no_argument, 0, O_BOOT },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, O_VER },
		{ "pend-queue", required_argument, 0, O_PENDQ },
		{ "pend-queue-max", required_argument, 0, O_PENDQMAX },
		{ 0 },
	};
	int c;

	o->socket = "/run/lfp/lfp.sock";
	o->state_dir = "/var/lib/lfp";
	o->bpffs = "/sys/fs/bpf/lfp";
	o->log_permits = true;
	o->pend_queue = PEND_QUEUE_DEFAULT;
	o->pend_queue_max = PEND_QUEUE_MAX_DEFAULT;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CGROUP: o->cgroup = optarg; break;
		case O_SOCKET: o->socket = optarg; break;
		case O_STATE: o->state_dir = optarg; break;
		case O_BPFFS: o->bpffs = optarg; break;
		case O_FG: o->foreground = true; break;
		case O_UNLOAD: o->unload = true; break;
		case O_QUIET: o->quiet = true; break;
		case O_NOLOG: o->log_permits = false; break;
		case O_BOOT: opt_boot = true; break;
		case O_PENDQ: o->pend_queue = opt_u32(optarg, "--pend-queue", 65535); break;
		case O_PENDQMAX:
			o->pend_queue_max = opt_u32(optarg, "--pend-queue-max", 1u << 20);
			if (!o->pend_queue_max)
				o->pend_queue_max = 1;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case O_VER: printf("lfpd %s\n", lfp_version()); exit(0);
		default: fputs(usage, stderr); exit(1);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lfpd: unexpected argument '%s'\n%s", argv[optind], usage);
		exit(1);
	}
	if (opt_boot && o->unload) {
		fprintf(stderr, "lfpd: --boot and --unload exclude each other\n");
		exit(1);
	}
}

static void on_signal(struct lfpd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			d->running = false;
	}
}

static void refresh_if_due(struct lfpd *d)
{
	struct lfp_diags diags = { 0 };
	int r;

	if (!d->refresh_pending || now_ms() < d->refresh_at_ms)
		return;
	d->refresh_pending = false;
	if (!appwatch_identities_changed(d))
		return; /* something else changed in those directories */
	r = engine_refresh(&d->eng, &diags);
	if (r) {
		fprintf(stderr, "lfpd: re-resolving app identities failed:\n");
		lfp_diags_print(&diags, stderr);
	} else {
		lfp_print(LFP_INFO, "lfpd: app identities re-resolved (generation %" PRIu64 ")\n",
			  d->eng.gen);
	}
	lfp_diags_fini(&diags);
	appwatch_rebuild(d);
}

static int run(struct lfpd *d)
{
	struct epoll_event evs[32];

	d->running = true;
	while (d->running) {
		int timeout = 100; /* the kernel batches wakeups: drain at least this often */
		int n = epoll_wait(d->epfd, evs, 32, timeout);

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == TAG_LISTEN)
				accept_clients(d);
			else if (tag == TAG_SIGNAL)
				on_signal(d);
			else if (tag == TAG_EVENTS || tag == TAG_REDIR)
				; /* drained below, every iteration */
			else if (tag == TAG_INOTIFY)
				appwatch_handle(d);
			else if (tag == TAG_PEND)
				pend_readable(d);
			else {
				struct client *c = evs[i].data.ptr;

				if (evs[i].events & EPOLLOUT && client_flush(d, c)) {
					client_close(d, c);
					continue;
				}
				/* a waiting client that hung up: nobody is left to answer */
				if (c->deferred && evs[i].events & (EPOLLHUP | EPOLLERR))
					client_close(d, c);
				else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					client_readable(d, c);
			}
		}
		if (d->kern)
			lfp_kern_event_poll(d->kern, on_kernel_event, d);
		redir_events(d);
		monitors_note_drops(d);
		refresh_if_due(d);
		pend_tick(d);
		api_tick(d);
		clients_resume(d);
		clients_close_marked(d);
	}
	return 0;
}

static void shutdown_runtime(struct lfpd *d)
{
	struct lfp_diags diags = { 0 };
	struct eng_txn txn;
	bool any = false;

	for (size_t i = 0; i < d->eng.n_filters; i++)
		any |= d->eng.filters[i]->f.lifetime == LFP_LT_RUNTIME ||
		       d->eng.filters[i]->f.lifetime == LFP_LT_DYNAMIC;
	if (!any)
		return;
	if (!eng_txn_begin(&d->eng, &txn)) {
		eng_txn_drop_lifetime(&txn, LFP_LT_RUNTIME);
		eng_txn_drop_lifetime(&txn, LFP_LT_DYNAMIC);
		if (eng_txn_commit(&txn, &diags)) {
			fprintf(stderr, "lfpd: could not remove runtime filters at exit:\n");
			lfp_diags_print(&diags, stderr);
		}
	}
	lfp_diags_fini(&diags);
}

static size_t enforced_filters(struct lfpd *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->eng.n_filters; i++)
		n += engine_enforces(&d->eng, d->eng.filters[i]->f.lifetime);
	return n;
}

/*
 * lfpd --boot: the kernel side exactly as lfpd sets it up, the boot-time set
 * as the whole policy, then exit. It refuses to run beside a live lfpd: it
 * would replace that lfpd's policy behind its back.
 */
static int boot_load(struct lfpd *d, const struct lfp_kern_opts *kopts)
{
	struct lfp_diags diags = { 0 };
	int r;

	if (socket_answers(d->opts.socket)) {
		fprintf(stderr,
			"lfpd --boot: an lfpd serves %s: it enforces the persistent policy "
			"already (the boot-time set is for boot, before lfpd starts)\n",
			d->opts.socket);
		return 1;
	}
	r = lfp_kern_open(kopts, &d->kern);
	if (r) {
		fprintf(stderr, "lfpd --boot: cannot enforce auth-connect on %s: %s\n",
			d->cgroup_abs, strerror(-r));
		return 2;
	}
	r = engine_init(&d->eng, d->kern, d->opts.state_dir);
	if (r)
		goto out;
	d->eng.boot_mode = true;
	r = engine_load(&d->eng, &diags);
	lfp_diags_print(&diags, stderr);
	if (r) {
		fprintf(stderr,
			"lfpd --boot: the boot-time set in %s/boot.json could not be "
			"enforced (see above)\n",
			d->opts.state_dir);
		goto out;
	}
	fprintf(stderr,
		"lfpd --boot: %zu boot-time filters enforced on cgroup %s (%s, generation "
		"%" PRIu64 "); lfpd drops them when it starts\n",
		d->eng.n_filters, d->cgroup_abs, d->netns, d->eng.gen);
out:
	lfp_diags_fini(&diags);
	engine_fini(&d->eng);
	lfp_kern_close(d->kern);
	d->kern = NULL;
	return r ? 2 : 0;
}

static int redir_lower(void *ctx, struct lfp_lowered *lw, struct lfp_diags *diags)
{
	struct lfpd *d = ctx;

	return redir_targets_lower(d->redir, lw, lfp_kern_gen(d->kern) + 1, diags);
}

/*
 * connect-redirect is enforced when its hooks are attached and the
 * redirector runs (a policy that names an upstream needs it). Without it,
 * filters at that layer are refused with the reason in `lfp status`.
 */
static void redirector_start(struct lfpd *d)
{
	LFP_OPTS(redir_opts, ropts);
	int r;

	if (!lfp_kern_layer_ready(d->kern, LFP_LAYER_CONNECT_REDIRECT))
		return;
	r = redir_start(d->kern, &ropts, &d->redir);
	if (r) {
		fprintf(stderr, "lfpd: the redirector did not start (%s): connect-redirect is "
				"not enforced\n",
			strerror(-r));
		return;
	}
	d->eng.enforced_layers |= 1u << LFP_LAYER_CONNECT_REDIRECT;
	/* `redirect to H:P` at bind-redirect uses the same target table */
	if (lfp_kern_layer_ready(d->kern, LFP_LAYER_BIND_REDIRECT))
		d->eng.enforced_layers |= 1u << LFP_LAYER_BIND_REDIRECT;
	d->eng.lower_hook = redir_lower;
	d->eng.lower_ctx = d;
}

/* A confirmation an earlier (killed) lfpd left: roll back now if due, else wait again. */
static void confirm_resume(struct lfpd *d)
{
	struct lfp_diags diags = { 0 };
	int r = engine_confirm_load(&d->eng, &diags);

	if (r) {
		fprintf(stderr, "lfpd: a pending confirmation could not be read:\n");
		lfp_diags_print(&diags, stderr);
	} else if (d->eng.confirm && engine_confirm_due(&d->eng)) {
		r = engine_confirm_rollback(&d->eng, "its deadline passed while lfpd was down",
					    NULL, NULL, &diags);
		lfp_diags_print(&diags, stderr);
	} else if (d->eng.confirm) {
		fprintf(stderr,
			"lfpd: the change of provider '%s' still waits for confirmation: "
			"rolled back in %" PRIu64 " s unless `lfp confirm` comes first\n",
			d->eng.confirm->prev.provider,
			(engine_confirm_remaining_ms(&d->eng) + 999) / 1000);
	}
	lfp_diags_fini(&diags);
}

int main(int argc, char **argv)
{
	static struct lfpd daemon;
	struct lfpd *d = &daemon;
	LFP_OPTS(lfp_kern_opts, kopts);
	struct lfp_diags diags = { 0 };
	struct group *gr;
	sigset_t mask;
	struct epoll_event ev;
	char nsbuf[64];
	ssize_t nl;
	int r;

	the_daemon = d;
	lfp_set_print(log_print);
	parse_opts(argc, argv, &d->opts);
	if (geteuid() != 0) {
		fprintf(stderr, "lfpd: must run as root (it loads BPF programs)\n");
		return 2;
	}
	if (d->opts.unload) {
		/* lfpd's iptables chain of this network namespace goes first: it names a pin */
		if (pend_unload())
			fprintf(stderr, "lfpd: removing the iptables chain LFP_PEND failed\n");
		r = lfp_kern_unload(d->opts.bpffs);
		if (r) {
			fprintf(stderr, "lfpd: unload of %s failed: %s\n", d->opts.bpffs,
				strerror(-r));
			return 2;
		}
		printf("lfpd: removed every program, map and pin under %s\n", d->opts.bpffs);
		return 0;
	}
	d->cgroup_abs = d->opts.cgroup ? realpath(d->opts.cgroup, NULL) : find_cgroup2_root();
	if (!d->cgroup_abs) {
		fprintf(stderr, "lfpd: cgroup %s: %s\n",
			d->opts.cgroup ? d->opts.cgroup : "v2 root",
			d->opts.cgroup ? strerror(errno) : "no cgroup2 mount in /proc/mounts");
		return 2;
	}
	nl = readlink("/proc/self/ns/net", nsbuf, sizeof(nsbuf) - 1);
	nsbuf[nl > 0 ? nl : 0] = 0;
	d->netns = strdup(nsbuf);
	gr = getgrnam("lfp");
	if (gr) {
		d->lfp_gid = gr->gr_gid;
		d->have_lfp_gid = true;
	}
	d->mono_to_real_ns = mono_to_real();

	kopts.cgroup = d->cgroup_abs;
	kopts.bpffs = d->opts.bpffs;
	kopts.log_permits = d->opts.log_permits;
	kopts.netfilter = true; /* lfpd guards the namespace it runs in */
	if (opt_boot) {
		r = boot_load(d, &kopts);
		free(d->netns);
		free(d->cgroup_abs);
		return r;
	}
	r = lfp_kern_open(&kopts, &d->kern);
	if (r) {
		fprintf(stderr, "lfpd: cannot enforce auth-connect on %s: %s\n", d->cgroup_abs,
			strerror(-r));
		return 2;
	}
	exe_cache_scan_proc(&d->exes);
	r = engine_init(&d->eng, d->kern, d->opts.state_dir);
	if (r)
		goto fail;
	/* before the policy loads: filters naming `callout ask` lower as pends */
	r = pend_init(d, d->opts.pend_queue, d->opts.pend_queue_max);
	if (r)
		goto fail;
	redirector_start(d);
	r = engine_load(&d->eng, &diags);
	if (r) {
		fprintf(stderr,
			"lfpd: the persistent policy in %s could not be loaded; the "
			"pinned policy stays enforced:\n",
			d->opts.state_dir);
		lfp_diags_print(&diags, stderr);
		goto fail;
	}
	if (diags.n)
		lfp_diags_print(&diags, stderr);
	lfp_diags_fini(&diags);
	/* engine_load() committed what the state dir says (an empty policy too: monitor
	 * mode is explicit, and adopted pins or a boot-time set are replaced by it) */
	confirm_resume(d);
	d->eng.on_change = api_filter_changed;
	d->eng.change_ctx = d;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->lfd = listen_socket(d->opts.socket);
	if (d->lfd < 0) {
		r = d->lfd;
		fprintf(stderr, "lfpd: socket %s: %s\n", d->opts.socket,
			r == -EADDRINUSE ? "another lfpd is serving it" : strerror(-r));
		goto fail;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u64 = TAG_LISTEN;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev);
	ev.data.u64 = TAG_SIGNAL;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev);
	ev.data.u64 = TAG_INOTIFY;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->inofd, &ev);
	ev.data.u64 = TAG_PEND;
	if (pend_fd(d) >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, pend_fd(d), &ev);
	ev.data.u64 = TAG_EVENTS;
	if (lfp_kern_event_fd(d->kern) >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, lfp_kern_event_fd(d->kern), &ev);
	ev.data.u64 = TAG_REDIR;
	if (redir_event_fd(d->redir) >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, redir_event_fd(d->redir), &ev);
	appwatch_rebuild(d);

	{
		struct lfp_kern_status st;

		lfp_kern_status(d->kern, &st);
		fprintf(stderr,
			"lfpd %s: %s cgroup %s, %s, %zu filters, generation %" PRIu64
			", socket %s%s\n",
			lfp_version(), st.adopted ? "adopted pinned programs on" : "enforcing on",
			d->cgroup_abs, d->netns, enforced_filters(d), d->eng.gen, d->opts.socket,
			enforced_filters(d) ? "" : " (monitor mode: permit all, log all)");
	}
	r = run(d);
	/* open transactions are aborted; one commit then drops runtime and dynamic objects */
	d->stopping = true;
	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		client_close(d, c);
	}
	if (d->eng.confirm) {
		/* nobody would watch the deadline: an unconfirmed change never outlives its lfpd */
		engine_confirm_rollback(&d->eng, "lfpd is stopping", NULL, NULL, &diags);
		lfp_diags_print(&diags, stderr);
		lfp_diags_fini(&diags);
	}
	shutdown_runtime(d);
	redir_stop(d->redir);
	d->redir = NULL;
	close(d->lfd);
	unlink(d->opts.socket);
	fprintf(stderr, "lfpd: stopped; the persistent policy stays enforced by the pinned "
			"programs (lfpd --unload removes them)\n");
fail:
	lfp_diags_fini(&diags);
	pend_fini(d);
	redir_stop(d->redir);
	engine_fini(&d->eng);
	exe_cache_fini(&d->exes);
	lfp_kern_close(d->kern);
	appwatch_fini(d);
	free(d->dead_sessions);
	free(d->netns);
	free(d->cgroup_abs);
	return r ? 2 : 0;
}
