// SPDX-License-Identifier: MIT
/*
 * connect_bench: the connect() path under load, for bench/run.
 *
 * One thread, lockstep: socket() -> connect() to a loopback listener ->
 * accept() -> close() both. Lockstep (rather than a separate accept thread)
 * keeps the accept queue at most one deep, so a run never loses SYNs to a
 * full backlog and never waits out a 1 s SYN retransmit, which would turn
 * p99 into noise. The listener has SO_LINGER {1, 0}: accepted sockets
 * inherit it, the server side closes first with a RST, and neither side
 * goes through TIME_WAIT, so the ephemeral ports never run out and the loop
 * has no extra setsockopt() per connection. Every connection is a fresh
 * socket: that is the path lfp's connect4/connect6 programs sit on.
 *
 * Latency is clock_gettime() around connect() alone; the rate counts whole
 * iterations. Both are bounded: --duration and --count, whichever ends
 * first.
 *
 * With --bpf-stats CGROUP the tool also turns on the kernel's BPF run-time
 * statistics (BPF_ENABLE_STATS, held open for the measured phase only) and
 * reports, per cgroup hook, how many times the attached programs ran and
 * how long they took. Statistics cost two clock reads per program run, so
 * bench/run measures rate and latency in runs without them.
 *
 * Output: one JSON line on stdout. Exit 0, or 1 with {"error": ...}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBBPF
#include <bpf/bpf.h>
#include <linux/bpf.h>
#endif

#define MAX_DURATION_S 600.0
#define MAX_COUNT      20000000u
#define MAX_ERRORS     100u

struct opts {
	const char *addr;
	int port;
	double duration;
	double warmup;
	uint32_t count;
	const char *label;
	const char *stats_cgroup;
	bool calibrate;
	int probe_port; /* 0: no probe */
};

static void die(const char *what, int err)
{
	printf("{\"error\":\"%s: %s\"}\n", what, strerror(err));
	exit(1);
}

/* CPU time of this process (user + system): on a shared machine the rate
 * also counts time spent waiting for a CPU, this does not. */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- BPF run-time statistics of the programs on the bench cgroup ---- */

#ifdef HAVE_LIBBPF
#define MAX_PROGS 8

struct hook {
	const char *name;
	enum bpf_attach_type type;
	uint32_t n;
	int fd[MAX_PROGS];
	uint32_t id[MAX_PROGS];
	char prog_name[MAX_PROGS][BPF_OBJ_NAME_LEN];
	uint64_t cnt0, ns0, cnt1, ns1;
	/* per program: several programs can share a hook (lfp's and others') */
	uint64_t pcnt0[MAX_PROGS], pns0[MAX_PROGS], pcnt1[MAX_PROGS], pns1[MAX_PROGS];
};

/* The hooks a TCP connect passes through on lfp's side (and UDP's, so a
 * --addr ::1 or future UDP run reads the same table). */
static struct hook hooks[] = {
    {.name = "connect4", .type = BPF_CGROUP_INET4_CONNECT},
    {.name = "connect6", .type = BPF_CGROUP_INET6_CONNECT},
    {.name = "sendmsg4", .type = BPF_CGROUP_UDP4_SENDMSG},
    {.name = "sendmsg6", .type = BPF_CGROUP_UDP6_SENDMSG},
    {.name = "sock_ops", .type = BPF_CGROUP_SOCK_OPS},
    {.name = "egress", .type = BPF_CGROUP_INET_EGRESS},
    {.name = "ingress", .type = BPF_CGROUP_INET_INGRESS},
    {.name = "sock_create", .type = BPF_CGROUP_INET_SOCK_CREATE},
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))

static int stats_fd = -1;

/* Find the programs attached to the cgroup itself (links included) and keep
 * an fd on each, so the ids we read at the end are the same programs. */
static void stats_open(const char *cgroup)
{
	int cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (cg < 0)
		die("open cgroup", errno);
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		die("bpf_enable_stats", -stats_fd);
	for (size_t h = 0; h < N_HOOKS; h++) {
		uint32_t ids[MAX_PROGS], cnt = MAX_PROGS, aflags = 0;

		if (bpf_prog_query(cg, hooks[h].type, 0, &aflags, ids, &cnt))
			continue; /* hook unknown to this kernel: nothing attached */
		for (uint32_t i = 0; i < cnt && hooks[h].n < MAX_PROGS; i++) {
			int fd = bpf_prog_get_fd_by_id(ids[i]);

			if (fd < 0)
				continue; /* detached meanwhile */
			hooks[h].fd[hooks[h].n] = fd;
			hooks[h].id[hooks[h].n] = ids[i];
			hooks[h].n++;
		}
	}
	close(cg);
}

static void stats_read(bool end)
{
	for (size_t h = 0; h < N_HOOKS; h++) {
		uint64_t cnt = 0, ns = 0;

		for (uint32_t i = 0; i < hooks[h].n; i++) {
			struct bpf_prog_info info;
			uint32_t len = sizeof(info);

			memset(&info, 0, sizeof(info));
			if (bpf_obj_get_info_by_fd(hooks[h].fd[i], &info, &len))
				die("bpf_obj_get_info_by_fd", errno);
			cnt += info.run_cnt;
			ns += info.run_time_ns;
			(end ? hooks[h].pcnt1 : hooks[h].pcnt0)[i] = info.run_cnt;
			(end ? hooks[h].pns1 : hooks[h].pns0)[i] = info.run_time_ns;
			memcpy(hooks[h].prog_name[i], info.name, BPF_OBJ_NAME_LEN);
			hooks[h].prog_name[i][BPF_OBJ_NAME_LEN - 1] = 0;
		}
		if (end) {
			hooks[h].cnt1 = cnt;
			hooks[h].ns1 = ns;
		} else {
			hooks[h].cnt0 = cnt;
			hooks[h].ns0 = ns;
		}
	}
}

static void stats_print(uint64_t connects)
{
	uint64_t total_ns = 0;
	bool first = true;

	printf(",\"bpf\":{\"stats\":true,\"hooks\":[");
	for (size_t h = 0; h < N_HOOKS; h++) {
		uint64_t cnt = hooks[h].cnt1 - hooks[h].cnt0;
		uint64_t ns = hooks[h].ns1 - hooks[h].ns0;

		if (!hooks[h].n)
			continue;
		total_ns += ns;
		printf("%s{\"hook\":\"%s\",\"progs\":[", first ? "" : ",", hooks[h].name);
		for (uint32_t i = 0; i < hooks[h].n; i++) {
			uint64_t pc = hooks[h].pcnt1[i] - hooks[h].pcnt0[i];
			uint64_t pn = hooks[h].pns1[i] - hooks[h].pns0[i];

			printf("%s{\"id\":%" PRIu32 ",\"name\":\"%s\",\"run_cnt\":%" PRIu64
			       ",\"run_time_ns\":%" PRIu64 ",\"ns_per_run\":%.1f}",
			       i ? "," : "", hooks[h].id[i], hooks[h].prog_name[i], pc, pn,
			       pc ? (double)pn / (double)pc : 0.0);
		}
		printf("],\"run_cnt\":%" PRIu64 ",\"run_time_ns\":%" PRIu64 ",\"ns_per_run\":%.1f}",
		       cnt, ns, cnt ? (double)ns / (double)cnt : 0.0);
		first = false;
	}
	printf("],\"ns_per_connect_all_hooks\":%.1f}",
	       connects ? (double)total_ns / (double)connects : 0.0);
}

/*
 * The measurement floor: an empty connect4 program (r0 = 1; exit) linked to
 * the cgroup for this process's lifetime (a link, so it detaches when we
 * exit, however we exit). Its run time is what the statistics report for
 * doing nothing: the kernel's clock reads and the dispatch.
 */
static void calibrate_attach(const char *cgroup)
{
	static const struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
	int cg, prog, link;

	cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		die("open cgroup", errno);
	prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "bench_empty", "GPL", insns, 2, &po);
	if (prog < 0)
		die("load empty program", -prog);
	link = bpf_link_create(prog, cg, BPF_CGROUP_INET4_CONNECT, NULL);
	if (link < 0)
		die("link empty program", -link);
	/* the link holds the program; the link fd stays open until exit */
	close(prog);
	close(cg);
}

static void stats_close(void)
{
	for (size_t h = 0; h < N_HOOKS; h++)
		for (uint32_t i = 0; i < hooks[h].n; i++)
			close(hooks[h].fd[i]);
	if (stats_fd >= 0)
		close(stats_fd);
}
#else
static void stats_open(const char *cgroup)
{
	die("--bpf-stats", ENOTSUP);
}
static void calibrate_attach(const char *cgroup)
{
	die("--calibrate", ENOTSUP);
}
static void stats_read(bool end)
{
}
static void stats_print(uint64_t connects)
{
}
static void stats_close(void)
{
}
#endif

/* ---- the load ---- */

union addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

static socklen_t addr_parse(const char *s, int port, union addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->in4.sin_addr) == 1) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons((uint16_t)port);
		return sizeof(a->in4);
	}
	if (inet_pton(AF_INET6, s, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		return sizeof(a->in6);
	}
	die("address", EINVAL);
	return 0;
}

static int listener_open(const union addr *a, socklen_t alen)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int one = 1;
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket", errno);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		die("setsockopt", errno);
	if (bind(fd, &a->sa, alen))
		die("bind", errno);
	if (listen(fd, 128))
		die("listen", errno);
	return fd;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted samples */
static double pct_us(const uint32_t *v, uint64_t n, double p)
{
	uint64_t rank;

	if (!n)
		return 0.0;
	rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1] / 1000.0;
}

/*
 * One iteration. Returns the connect() latency in ns, or -errno. The
 * accepted socket is closed first (RST, see the top comment).
 */
static int64_t one_connect(int lfd, const union addr *a, socklen_t alen)
{
	uint64_t t0, t1;
	int c, s, r;

	c = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	t0 = now_ns();
	r = connect(c, &a->sa, alen);
	t1 = now_ns();
	if (r) {
		r = -errno;
		close(c);
		return r;
	}
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		r = -errno;
		close(c);
		return r;
	}
	close(s);
	close(c);
	return (int64_t)(t1 - t0);
}

/*
 * The bypass probe: a connect to a port the policy blocks. lfp's connect4
 * program refuses it with EPERM before any packet; anything else (refused
 * by the empty port, or connected) means the connect got past the policy.
 */
static int probe_connect(const union addr *a, socklen_t alen, int port)
{
	union addr p = *a;
	int c, r;

	if (p.sa.sa_family == AF_INET)
		p.in4.sin_port = htons((uint16_t)port);
	else
		p.in6.sin6_port = htons((uint16_t)port);
	c = socket(p.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	r = connect(c, &p.sa, alen) ? -errno : 0;
	close(c);
	return r;
}

static const char usage[] =
    "Usage: connect_bench [OPTIONS]\n"
    "Loopback TCP connect() load: socket/connect/accept/close in lockstep.\n"
    "  --addr A          listener and destination address (default 127.0.0.1; ::1 for IPv6)\n"
    "  --port N          listener port (default 18080)\n"
    "  --duration S      measured seconds (default 5, at most 600)\n"
    "  --count N         at most N measured connects (default and cap 20000000)\n"
    "  --warmup S        unmeasured seconds first (default 0.5)\n"
    "  --label NAME      copied into the JSON output\n"
    "  --bpf-stats CG    enable BPF run-time stats; report the programs on cgroup CG\n"
    "  --calibrate       with --bpf-stats: link an empty connect4 program to CG for\n"
    "                    this run (the measurement floor); CG must have no other\n"
    "                    connect4 program\n"
    "  --probe-port P    after every connect, connect to port P too, which the policy\n"
    "                    must block (EPERM); counts probes and bypasses (any other result)\n"
    "Prints one JSON line: connects, seconds, rate, p50_us, p99_us, cpu_us_per_connect, ...\n";

static void opts_parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"addr", required_argument, 0, 'a'},
	    {"port", required_argument, 0, 'p'},
	    {"duration", required_argument, 0, 'd'},
	    {"count", required_argument, 0, 'n'},
	    {"warmup", required_argument, 0, 'w'},
	    {"label", required_argument, 0, 'l'},
	    {"bpf-stats", required_argument, 0, 's'},
	    {"calibrate", no_argument, 0, 'c'},
	    {"probe-port", required_argument, 0, 'P'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	int c;

	*o = (struct opts){.addr = "127.0.0.1",
			   .port = 18080,
			   .duration = 5.0,
			   .warmup = 0.5,
			   .count = MAX_COUNT,
			   .label = ""};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->addr = optarg;
			break;
		case 'p':
			o->port = atoi(optarg);
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'n':
			o->count = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o->warmup = atof(optarg);
			break;
		case 'l':
			o->label = optarg;
			break;
		case 's':
			o->stats_cgroup = optarg;
			break;
		case 'c':
			o->calibrate = true;
			break;
		case 'P':
			o->probe_port = atoi(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(2);
		}
	}
	if (o->port < 1 || o->port > 65535 || !(o->duration > 0) || o->duration > MAX_DURATION_S ||
	    o->warmup < 0 || o->warmup > 60 || o->count == 0 || o->count > MAX_COUNT ||
	    strpbrk(o->label, "\"\\") || (o->calibrate && !o->stats_cgroup) || o->probe_port < 0 ||
	    o->probe_port > 65535) {
		fputs(usage, stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	union addr a;
	socklen_t alen;
	uint32_t *lat;
	uint64_t probes = 0, bypass = 0;
	uint64_t n = 0, warm = 0, errors = 0, t_start, t_end, deadline, cpu_start, cpu_end;
	int64_t last_err = 0;
	int lfd;

	opts_parse(argc, argv, &o);
	alen = addr_parse(o.addr, o.port, &a);
	lfd = listener_open(&a, alen);
	lat = malloc(sizeof(*lat) * o.count);
	if (!lat)
		die("malloc", ENOMEM);
	if (o.calibrate)
		calibrate_attach(o.stats_cgroup);

	/* warmup: caches, socket slabs, the policy's first lookups */
	deadline = now_ns() + (uint64_t)(o.warmup * 1e9);
	while (now_ns() < deadline) {
		int64_t r = one_connect(lfd, &a, alen);

		if (r >= 0)
			warm++;
		else if (++errors >= MAX_ERRORS)
			die("connect (warmup)", (int)-r);
	}
	errors = 0;

	if (o.stats_cgroup) {
		stats_open(o.stats_cgroup);
		stats_read(false);
	}
	cpu_start = cpu_ns();
	t_start = now_ns();
	deadline = t_start + (uint64_t)(o.duration * 1e9);
	while (n < o.count) {
		int64_t r = one_connect(lfd, &a, alen);

		if (r < 0) {
			last_err = r;
			if (++errors >= MAX_ERRORS)
				break;
		} else {
			lat[n++] = r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
		}
		if (o.probe_port) {
			probes++;
			bypass += probe_connect(&a, alen, o.probe_port) != -EPERM;
		}
		/* the clock every 64 iterations: cheap, and still ~1 ms of overshoot */
		if (!(n & 63) && now_ns() >= deadline)
			break;
	}
	t_end = now_ns();
	cpu_end = cpu_ns();
	if (o.stats_cgroup)
		stats_read(true);
	if (errors >= MAX_ERRORS)
		die("connect", (int)-last_err);

	qsort(lat, n, sizeof(*lat), cmp_u32);
	double secs = (double)(t_end - t_start) / 1e9;

	printf("{\"label\":\"%s\",\"addr\":\"%s\",\"port\":%d,\"connects\":%" PRIu64
	       ",\"warmup_connects\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%.2f,"
	       "\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f",
	       o.label, o.addr, o.port, n, warm, errors, secs, secs > 0 ? (double)n / secs : 0.0,
	       pct_us(lat, n, 50), pct_us(lat, n, 90), pct_us(lat, n, 99), pct_us(lat, n, 99.9),
	       n ? lat[n - 1] / 1000.0 : 0.0);
	printf(",\"cpu_seconds\":%.3f,\"cpu_us_per_connect\":%.3f",
	       (double)(cpu_end - cpu_start) / 1e9,
	       n ? (double)(cpu_end - cpu_start) / 1e3 / (double)n : 0.0);
	if (o.probe_port)
		printf(",\"probes\":%" PRIu64 ",\"probe_bypass\":%" PRIu64, probes, bypass);
	if (o.stats_cgroup)
		stats_print(n);
	printf("}\n");
	stats_close();
	free(lat);
	close(lfd);
	return 0;
}
