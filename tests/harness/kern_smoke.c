// SPDX-License-Identifier: MIT
/*
 * Privileged smoke test of lfpd's kernel side (daemon/kern.c) and the BPF
 * adapters: real hooks on a cgroup and a network namespace the test makes
 * for itself, hand-built policy generations, real connections.
 *
 * The BPF adapters cannot be run with BPF_PROG_TEST_RUN (sock_addr and
 * sock_ops have no test run), so every check samples them live: a client
 * process (this binary re-executed with --client, or a copy of it for app
 * identity) joins the test cgroup, enters the test namespace and connects
 * to listeners the test holds there; its exit output says what it saw.
 *
 * Safety: BPF is attached only to cgroups created under the cgroup v2 mount
 * here, only the test's clients run in them, traffic stays on loopback in
 * the test's own namespace, pins live under /sys/fs/bpf/lfp-test-*. Every
 * path removes what the test created.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include <lfp/common.h>
#include <lfp/lower.h>
#include <lfp/oracle.h>
#include "kern.h"
#include "kern_internal.h"

#define PORT_OK	    7001 /* TCP, never blocked by a port filter */
#define PORT_BLK    7002 /* TCP, blocked by port filters */
#define PORT_NOLOG  7003 /* TCP, permitted by a nolog / log filter */
#define PORT_RA_BLK 7004 /* TCP, re-authorization: blocked by a later commit */
#define PORT_RA_OK  7005 /* TCP, re-authorization: stays permitted */
#define UDP_BASE    7101 /* UDP receivers 7101..7104 */
#define N_UDP	    4
#define MAX_EVENTS  512

/* ---- fixture ---- */

static struct {
	char cg[PATH_MAX], cg2[PATH_MAX]; /* test cgroups (second: wrong-cgroup, refusal) */
	char netns[64];
	char pin[PATH_MAX], pin2[PATH_MAX];
	char self[PATH_MAX], copy[PATH_MAX]; /* this binary and a copy (other identity) */
	uint64_t self_dev, self_ino, copy_dev, copy_ino;
	int netns_fd;
	int tcp[3];	/* listeners on PORT_OK, PORT_BLK, PORT_NOLOG (dual stack) */
	int udp[N_UDP]; /* receivers */
	struct lfp_kern *k;
	uint64_t gen;
	char root[256]; /* cgroup v2 mount */
	pid_t main_pid;
	volatile pid_t client; /* running client, killed on a fatal signal */
} g = { .netns_fd = -1, .tcp = { -1, -1, -1 }, .udp = { -1, -1, -1, -1 } };

static struct {
	size_t n;
	struct lfp_event ev[MAX_EVENTS];
	size_t n_exec;
	struct lfp_exec_event exec[64];
} evs;

/* cgroup v2 mount from /proc/mounts (hybrid systems: /sys/fs/cgroup/unified) */
static int cgroup2_mount(char *out, size_t sz)
{
	char dev[64], dir[256], type[64];
	FILE *f = fopen("/proc/mounts", "r");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%63s %255s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, sz, "%s", dir);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static uint64_t kdev(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

static int exe_identity(const char *path, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*dev = kdev(st.st_dev);
	*ino = st.st_ino;
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0) {
		close(in);
		return -errno;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -EIO : 0;
}

/* Enter the test namespace for the duration of @fn (parent only). */
static int in_netns(int (*fn)(void *), void *arg)
{
	int self = open("/proc/self/ns/net", O_RDONLY), r;

	if (self < 0)
		return -errno;
	if (setns(g.netns_fd, CLONE_NEWNET)) {
		r = -errno;
		close(self);
		return r;
	}
	r = fn(arg);
	if (setns(self, CLONE_NEWNET))
		abort(); /* cannot go home: never continue in the wrong namespace */
	close(self);
	return r;
}

static int listen_all(void *arg)
{
	static const int tports[3] = { PORT_OK, PORT_BLK, PORT_NOLOG };
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct ifreq ifr = { 0 };
	int zero = 0, one = 1, fd;

	/* lo is down in a new namespace */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr))) {
		close(fd);
		return -errno;
	}
	close(fd);
	for (int i = 0; i < 3; i++) {
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		a.sin6_port = htons(tports[i]);
		if (fd < 0 || bind(fd, (void *)&a, sizeof(a)) || listen(fd, 256))
			return -errno;
		g.tcp[i] = fd;
	}
	for (int i = 0; i < N_UDP; i++) {
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		a.sin6_port = htons(UDP_BASE + i);
		if (fd < 0 || bind(fd, (void *)&a, sizeof(a)))
			return -errno;
		g.udp[i] = fd;
	}
	return 0;
}

/* Accept and close whatever the clients left in the listeners' queues. */
static void drain_listeners(void)
{
	for (int i = 0; i < 3; i++) {
		int c;

		while ((c = accept4(g.tcp[i], NULL, NULL, SOCK_NONBLOCK)) >= 0)
			close(c);
	}
}

static int udp_received(int idx)
{
	char buf[64];
	int n = 0;

	while (recv(g.udp[idx], buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

static int cgroup_setup(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* fork + exec, no shell: also usable from the signal handler */
static int ip_netns_del(const char *name)
{
	char path[PATH_MAX + 16];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	if (access(path, F_OK))
		return 0;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("ip", "ip", "netns", "del", name, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	return 0;
}

/* Everything a run of this test creates, named by its pid: pins first (so
 * the programs leave the cgroups), then namespace, cgroups, the copy. */
static void remove_run(pid_t pid)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/fs/bpf/lfp-test-kern-%d", (int)pid);
	lfp_kern_unload(p);
	snprintf(p, sizeof(p), "/sys/fs/bpf/lfp-test-kern-%d-b", (int)pid);
	lfp_kern_unload(p);
	snprintf(p, sizeof(p), "lfp-test-kern-%d", (int)pid);
	if (ip_netns_del(p))
		fprintf(stderr, "could not delete netns %s\n", p);
	snprintf(p, sizeof(p), "%s/lfp-test-kern-%d", g.root, (int)pid);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/lfp-test-kern-%d-b", g.root, (int)pid);
	rmdir(p);
	snprintf(p, sizeof(p), "/tmp/lfp-test-kern-copy-%d", (int)pid);
	unlink(p);
}

/* Runs of this test that were killed (SIGKILL cannot be caught): their
 * leftovers carry the pid of a process that no longer exists. */
static void sweep_dead_runs(void)
{
	const char *dirs[] = { "/sys/fs/bpf", "/run/netns", g.root };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;
		int pid;

		if (!d)
			continue;
		while ((de = readdir(d)))
			if (sscanf(de->d_name, "lfp-test-kern-%d", &pid) == 1 && pid > 0 &&
			    kill(pid, 0) && errno == ESRCH)
				remove_run(pid);
		closedir(d);
	}
}

static void on_fatal_signal(int sig)
{
	if (getpid() == g.main_pid) {
		if (g.client > 0) {
			kill(g.client, SIGKILL);
			waitpid(g.client, NULL, 0);
		}
		remove_run(g.main_pid);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int setup(void)
{
	char path[PATH_MAX + 32];
	pid_t pid = getpid();
	ssize_t n;
	int r;

	if (geteuid() != 0) {
		fprintf(stderr, "kern_smoke needs root (BPF, cgroups, namespaces)\n");
		return -1;
	}
	if (cgroup2_mount(g.root, sizeof(g.root)))
		return -1;
	g.main_pid = pid;
	sweep_dead_runs();
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	signal(SIGPIPE, on_fatal_signal);
	snprintf(g.cg, sizeof(g.cg), "%s/lfp-test-kern-%d", g.root, pid);
	snprintf(g.cg2, sizeof(g.cg2), "%s/lfp-test-kern-%d-b", g.root, pid);
	snprintf(g.netns, sizeof(g.netns), "lfp-test-kern-%d", pid);
	snprintf(g.pin, sizeof(g.pin), "/sys/fs/bpf/lfp-test-kern-%d", pid);
	snprintf(g.pin2, sizeof(g.pin2), "/sys/fs/bpf/lfp-test-kern-%d-b", pid);
	snprintf(g.copy, sizeof(g.copy), "/tmp/lfp-test-kern-copy-%d", pid);
	n = readlink("/proc/self/exe", g.self, sizeof(g.self) - 1);
	if (n <= 0)
		return -1;
	g.self[n] = 0;
	if (cgroup_setup(g.cg) || cgroup_setup(g.cg2))
		return -1;
	snprintf(path, sizeof(path), "ip netns add %s", g.netns);
	if (system(path))
		return -1;
	snprintf(path, sizeof(path), "/run/netns/%s", g.netns);
	g.netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (g.netns_fd < 0)
		return -1;
	r = in_netns(listen_all, NULL);
	if (r) {
		fprintf(stderr, "listeners: %s\n", strerror(-r));
		return -1;
	}
	if (copy_file(g.self, g.copy) || exe_identity(g.self, &g.self_dev, &g.self_ino) ||
	    exe_identity(g.copy, &g.copy_dev, &g.copy_ino))
		return -1;
	return 0;
}

/* cmocka skips the group teardown when the setup fails: clean up here */
static int group_setup(void **state)
{
	if (setup() == 0)
		return 0;
	if (g.main_pid)
		remove_run(g.main_pid);
	return -1;
}

static void ra_close(void);

static int group_teardown(void **state)
{
	ra_close();
	lfp_kern_close(g.k);
	g.k = NULL;
	for (int i = 0; i < 3; i++)
		if (g.tcp[i] >= 0)
			close(g.tcp[i]);
	for (int i = 0; i < N_UDP; i++)
		if (g.udp[i] >= 0)
			close(g.udp[i]);
	if (g.netns_fd >= 0)
		close(g.netns_fd);
	remove_run(g.main_pid);
	return 0;
}

/* ---- clients ---- */

struct client {
	pid_t pid;
	int status;
	char out[1024];
};

/*
 * Run `exe --client ARGS...` in @cgroup and the test namespace; its stdout
 * is the result. The child joins the cgroup before it enters the namespace
 * and before exec, so the exec itself happens in scope. With @gate, the
 * client's first output line is read, gate() runs, and the client is let
 * go on (it waits for a byte on stdin): a socket that lives across a
 * commit.
 */
static int run_client_v(const char *exe, const char *cgroup, struct client *c, void (*gate)(void),
			va_list ap)
{
	char procs[PATH_MAX + 16];
	const char *argv[16] = { exe, "--client" };
	int out[2], in[2], argc = 2;
	ssize_t n, got = 0;

	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	argv[argc] = NULL;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	if (pipe(out))
		return -errno;
	if (pipe(in)) {
		close(out[0]);
		close(out[1]);
		return -errno;
	}
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		int fd = open(procs, O_WRONLY);

		if (fd < 0 || write(fd, "0", 1) != 1)
			_exit(120);
		close(fd);
		if (setns(g.netns_fd, CLONE_NEWNET))
			_exit(121);
		dup2(out[1], 1);
		dup2(in[0], 0);
		close(out[0]);
		close(out[1]);
		close(in[0]);
		close(in[1]);
		execv(exe, (char **)argv);
		_exit(122);
	}
	g.client = c->pid;
	close(out[1]);
	close(in[0]);
	if (gate) {
		/* up to the first newline, one byte at a time */
		while (got < (ssize_t)sizeof(c->out) - 1 && read(out[0], c->out + got, 1) == 1)
			if (c->out[got++] == '\n')
				break;
		gate();
		if (write(in[1], "g", 1) != 1)
			kill(c->pid, SIGKILL);
	}
	close(in[1]);
	while ((n = read(out[0], c->out + got, sizeof(c->out) - 1 - got)) > 0)
		got += n;
	c->out[got] = 0;
	close(out[0]);
	waitpid(c->pid, &c->status, 0);
	g.client = 0;
	drain_listeners();
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 ? 0 : -ECHILD;
}

static int run_client(const char *exe, const char *cgroup, struct client *c, ...)
{
	va_list ap;
	int r;

	va_start(ap, c);
	r = run_client_v(exe, cgroup, c, NULL, ap);
	va_end(ap);
	return r;
}

static int run_client_gated(const char *exe, const char *cgroup, struct client *c,
			    void (*gate)(void), ...)
{
	va_list ap;
	int r;

	va_start(ap, gate);
	r = run_client_v(exe, cgroup, c, gate, ap);
	va_end(ap);
	return r;
}

static void sa_parse(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (void *)ss;
	struct sockaddr_in6 *s6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
	} else {
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
	}
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (void *)&ss, &len))
		return 0;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Client side. Prints one line per attempt: "OK <local port>" or
 * "ERR <errno>".
 *   tcp ADDR PORT            connect()
 *   udpc ADDR PORT           connected UDP: connect() + send()
 *   udp ADDR PORT...         one unconnected socket, sendto() each port twice
 *   udpgate ADDR P1 P2       one unconnected socket: sendto() P1 and P2 (one
 *                            line), wait for a byte on stdin, again (a line)
 */
static int client_main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (argc < 4)
		return 2;
	sa_parse(argv[2], atoi(argv[3]), &ss, &len);
	if (!strcmp(argv[1], "tcp") || !strcmp(argv[1], "udpc")) {
		bool tcp = !strcmp(argv[1], "tcp");

		fd = socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
		if (fd < 0)
			return 3;
		if (connect(fd, (void *)&ss, len) || (!tcp && send(fd, "x", 1, 0) != 1))
			printf("ERR %d\n", errno);
		else
			printf("OK %d\n", local_port(fd));
		close(fd);
		return 0;
	}
	if (!strcmp(argv[1], "tcpgate") && argc == 5) {
		/* two connections that live across a commit: send on both after it */
		int fds[2];
		char go;

		for (int i = 0; i < 2; i++) {
			sa_parse(argv[2], atoi(argv[3 + i]), &ss, &len);
			fds[i] = socket(ss.ss_family, SOCK_STREAM, 0);
			if (fds[i] < 0)
				return 3;
			if (connect(fds[i], (void *)&ss, len))
				printf("%sERR %d", i ? " " : "", errno);
			else
				printf("%sOK %d", i ? " " : "", local_port(fds[i]));
		}
		printf("\n");
		fflush(stdout);
		if (read(0, &go, 1) != 1)
			return 4;
		for (int i = 0; i < 2; i++) {
			if (send(fds[i], "x", 1, MSG_NOSIGNAL) != 1)
				printf("%sERR %d", i ? " " : "", errno);
			else
				printf("%sOK 1", i ? " " : "");
			close(fds[i]);
		}
		printf("\n");
		return 0;
	}
	if (!strcmp(argv[1], "udpgate") && argc == 5) {
		char go;

		fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		if (fd < 0)
			return 3;
		for (int round = 0; round < 2; round++) {
			for (int i = 3; i < 5; i++) {
				sa_parse(argv[2], atoi(argv[i]), &ss, &len);
				if (sendto(fd, "x", 1, 0, (void *)&ss, len) != 1)
					printf("%sERR %d", i == 3 ? "" : " ", errno);
				else
					printf("%sOK %d", i == 3 ? "" : " ", local_port(fd));
			}
			printf("\n");
			fflush(stdout);
			if (!round && read(0, &go, 1) != 1)
				return 4;
		}
		close(fd);
		return 0;
	}
	if (!strcmp(argv[1], "udp")) {
		fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		if (fd < 0)
			return 3;
		for (int i = 3; i < argc; i++) {
			sa_parse(argv[2], atoi(argv[i]), &ss, &len);
			for (int rep = 0; rep < 2; rep++) {
				if (sendto(fd, "x", 1, 0, (void *)&ss, len) != 1)
					printf("ERR %d\n", errno);
				else
					printf("OK %d\n", local_port(fd));
			}
		}
		close(fd);
		return 0;
	}
	return 2;
}

/* ---- hand-built generations ---- */

/* A policy of single-condition filters at auth-connect, one tuple per
 * field, all in one sublayer: the shape lib/lower.c produces for it. */
struct cond {
	int field; /* LFP_F_REMOTE_PORT, LFP_F_APP, LFP_F_REMOTE_ADDR */
	uint32_t port;
	uint64_t dev, ino;
	uint8_t addr[16];
	uint8_t ans;   /* LFP_ANS_* */
	uint8_t flags; /* LFP_FF_* */
};

static void v4mapped(uint8_t *a, const char *ip4)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	inet_pton(AF_INET, ip4, a + 12);
}

#define FILTER_ID(i)  (1000 + (uint64_t)(i))
#define COUNTER_OF(i) (10 + (uint32_t)(i))

static void lw_build(struct lfp_lowered *lw, const struct cond *c, size_t n)
{
	static const int fields[3] = { LFP_F_REMOTE_PORT, LFP_F_APP, LFP_F_REMOTE_ADDR };
	int tuple_of[LFP_F_COUNT];
	uint32_t next_label = 1;

	memset(lw, 0, sizeof(*lw));
	lw->port_labels = calloc(LFP_LBL_PORT_ENTRIES, sizeof(uint32_t));
	lw->small_labels = calloc(LFP_LBL_SMALL_ENTRIES, sizeof(uint32_t));
	lw->lpm_keys = calloc(n + 1, sizeof(*lw->lpm_keys));
	lw->lpm_vals = calloc(n + 1, sizeof(uint32_t));
	lw->hash_keys = calloc(n + 1, sizeof(*lw->hash_keys));
	lw->hash_vals = calloc(n + 1, sizeof(uint32_t));
	lw->tuples = calloc(3, sizeof(*lw->tuples));
	lw->rule_keys = calloc(n + 1, sizeof(*lw->rule_keys));
	lw->rule_vals = calloc(n + 1, sizeof(*lw->rule_vals));
	lw->filters = calloc(n + 1, sizeof(*lw->filters));
	assert_non_null(lw->port_labels);
	assert_non_null(lw->filters);

	for (int f = 0; f < LFP_F_COUNT; f++)
		tuple_of[f] = -1;
	for (size_t i = 0; i < n; i++) {
		for (int t = 0; t < 3; t++) {
			if (c[i].field != fields[t] || tuple_of[c[i].field] >= 0)
				continue;
			tuple_of[c[i].field] = (int)lw->n_tuples;
			lw->tuples[lw->n_tuples] =
				(struct lfp_tuple){ .id = (uint32_t)lw->n_tuples,
						    .sublayer_rank = 0,
						    .nfields = 1,
						    .fields = { (uint8_t)c[i].field } };
			lw->layer_cfg[LFP_LAYER_AUTH_CONNECT].used_fields |= 1u << c[i].field;
			lw->n_tuples++;
		}
	}
	lw->layer_cfg[LFP_LAYER_AUTH_CONNECT].n_tuples = (uint32_t)lw->n_tuples;
	lw->layer_cfg[LFP_LAYER_AUTH_CONNECT].n_sublayers = 1;

	for (size_t i = 0; i < n; i++) {
		uint32_t label = next_label++;

		switch (c[i].field) {
		case LFP_F_REMOTE_PORT:
			lw->port_labels[LFP_PORTIDX_REMOTE * 65536 + c[i].port] = label;
			break;
		case LFP_F_APP:
			lw->hash_keys[lw->n_hash] = (struct lfp_hash_key){ .field = LFP_F_APP,
									   .a = c[i].dev,
									   .b = c[i].ino };
			lw->hash_vals[lw->n_hash++] = label;
			break;
		case LFP_F_REMOTE_ADDR:
			lw->lpm_keys[lw->n_lpm].prefixlen = 32 + 128;
			lw->lpm_keys[lw->n_lpm].data[0] = LFP_F_REMOTE_ADDR;
			memcpy(&lw->lpm_keys[lw->n_lpm].data[4], c[i].addr, 16);
			lw->lpm_vals[lw->n_lpm++] = label;
			break;
		}
		lw->rule_keys[i] = (struct lfp_rule_key){ .tuple = (uint32_t)tuple_of[c[i].field],
							  .label = { label } };
		lw->rule_vals[i].filter_idx = (uint32_t)i;
		lw->filters[i] = (struct lfp_kfilter){
			.id = FILTER_ID(i),
			.weight = 1000000 - i,
			.counter = COUNTER_OF(i),
			.ans = c[i].ans,
			.flags = c[i].flags,
			.action = c[i].ans == LFP_ANS_BLOCK ? LFP_ACT_BLOCK : LFP_ACT_PERMIT,
		};
	}
	lw->n_rules = n;
	lw->n_filters = n;
}

struct kcommit_args {
	struct lfp_kern *k;
	const struct lfp_lowered *lw;
	uint64_t *gen;
};

static int kcommit_fn(void *arg)
{
	struct kcommit_args *a = arg;

	return lfp_kern_commit(a->k, a->lw, a->gen);
}

/* lfp_kern_commit() from inside the test namespace: its re-authorization
 * walk covers the sockets of the namespace it runs in, and this test's
 * walks must never see the machine's own. */
static int kcommit(struct lfp_kern *k, const struct lfp_lowered *lw, uint64_t *gen)
{
	struct kcommit_args a = { k, lw, gen };

	return in_netns(kcommit_fn, &a);
}

static void commit(const struct cond *c, size_t n)
{
	struct lfp_lowered lw;
	uint64_t gen = 0;

	lw_build(&lw, c, n);
	assert_int_equal(kcommit(g.k, &lw, &gen), 0);
	assert_int_equal(gen, g.gen + 1);
	assert_int_equal(lfp_kern_gen(g.k), gen);
	g.gen = gen;
	lfp_lowered_fini(&lw);
}

/* ---- events ---- */

static int on_event(void *ctx, const void *data, size_t size)
{
	const struct lfp_event *e = data;

	if (size >= sizeof(*e) && e->type == LFP_EV_CLASSIFY && evs.n < MAX_EVENTS)
		evs.ev[evs.n++] = *e;
	else if (size >= sizeof(struct lfp_exec_event) && e->type == LFP_EV_EXEC && evs.n_exec < 64)
		evs.exec[evs.n_exec++] = *(const struct lfp_exec_event *)data;
	return 0;
}

static void events_collect(struct lfp_kern *k)
{
	evs.n = 0;
	evs.n_exec = 0;
	while (lfp_kern_event_poll(k, on_event, NULL) > 0)
		;
}

/* The classify events of @pid to remote port @rport. */
static size_t events_of(pid_t pid, int rport, const struct lfp_event **first)
{
	size_t n = 0;

	for (size_t i = 0; i < evs.n; i++)
		if (evs.ev[i].pid == (uint32_t)pid && evs.ev[i].rport == rport) {
			if (!n && first)
				*first = &evs.ev[i];
			n++;
		}
	return n;
}

static bool exec_seen(uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < evs.n_exec; i++)
		if (evs.exec[i].exe_dev == dev && evs.exec[i].exe_ino == ino)
			return true;
	return false;
}

static bool is_v4mapped_of(const uint8_t *a, const char *ip4)
{
	uint8_t want[16];

	v4mapped(want, ip4);
	return !memcmp(a, want, 16);
}

static const char *port_str(int port)
{
	static char buf[8][8];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%d", port);
	return buf[i];
}

/* Client result line @line (0-based): OK -> local port, ERR -> -errno. */
static int result(const struct client *c, int line)
{
	const char *p = c->out;
	int v;

	for (; line > 0 && p; line--) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p || !*p)
		return -10000;
	if (sscanf(p, "OK %d", &v) == 1)
		return v;
	if (sscanf(p, "ERR %d", &v) == 1)
		return -v;
	return -10001;
}

static int tcp_from(const char *exe, const char *cgroup, const char *addr, int port,
		    struct client *c)
{
	assert_int_equal(run_client(exe, cgroup, c, "tcp", addr, port_str(port), NULL), 0);
	return result(c, 0);
}

/* ---- attachment ---- */

static const enum bpf_attach_type cg_types[] = {
	BPF_CGROUP_INET4_CONNECT, BPF_CGROUP_INET6_CONNECT,	BPF_CGROUP_UDP4_SENDMSG,
	BPF_CGROUP_UDP6_SENDMSG,  BPF_CGROUP_SOCK_OPS,		BPF_CGROUP_INET_EGRESS,
	BPF_CGROUP_INET_INGRESS,  BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME,
	BPF_CGROUP_UDP4_RECVMSG,  BPF_CGROUP_UDP6_RECVMSG,
};
#define N_CG_TYPES (sizeof(cg_types) / sizeof(cg_types[0]))

/* Programs lfp attaches per type: connect-redirect's run before auth-connect's on the
 * connect, sendmsg, sock_ops and egress hooks (docs/redirect.md); the packet layers'
 * beside egress and ingress (docs/packet-layers.md); the stream layer's enrollment
 * after the other sock_ops programs (docs/stream.md). */
static const unsigned cg_progs[N_CG_TYPES] = { 2, 2, 2, 2, 3, 3, 2, 1, 1, 1, 1 };

/* Programs attached to @cgroup per attach type; ids of the first. */
static void attached(const char *cgroup, unsigned cnt[N_CG_TYPES], __u32 ids[N_CG_TYPES])
{
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	for (size_t i = 0; i < N_CG_TYPES; i++) {
		__u32 prog_ids[8] = { 0 }, n = 8, flags = 0;

		assert_int_equal(bpf_prog_query(fd, cg_types[i], 0, &flags, prog_ids, &n), 0);
		cnt[i] = n;
		ids[i] = prog_ids[0];
	}
	close(fd);
}

static const struct lfp_kern_hook *hook(const struct lfp_kern_status *st, const char *name)
{
	for (size_t i = 0; i < st->n_hooks; i++)
		if (!strcmp(st->hooks[i].name, name))
			return &st->hooks[i];
	fail_msg("no hook %s in status", name);
	return NULL;
}

static struct lfp_kern *open_on(const char *cgroup, const char *pin, int *err)
{
	LFP_OPTS(lfp_kern_opts, o, .cgroup = cgroup, .bpffs = pin, .log_permits = true);
	struct lfp_kern *k = NULL;

	*err = lfp_kern_open(&o, &k);
	return k;
}

/* ---- tests ---- */

static void test_open_fresh(void **state)
{
	struct lfp_kern_status st;
	unsigned cnt[N_CG_TYPES];
	__u32 ids[N_CG_TYPES];
	char path[PATH_MAX + 32];
	int err;

	g.k = open_on(g.cg, g.pin, &err);
	assert_int_equal(err, 0);
	assert_non_null(g.k);
	assert_int_equal(lfp_kern_status(g.k, &st), 0);
	assert_false(st.adopted);
	assert_int_equal(st.gen, 0);
	/* connect-redirect's 10, the cgroup hooks, the listen callback (sock_ops again),
	 * exec, discard (skb:kfree_skb, BTF-typed and raw), reauth tcp, pend match and pend match
	 * in (pinned for iptables), the two pend end iterators, auth-recv-accept's three (ingress,
	 * sock_ops, the iterator again), resource-assignment's post_bind4/6 and sock_create (and
	 * connect4/6, sendmsg4/6 again for implicit binds), the established and state callbacks
	 * (sock_ops again), sock_release (UDP endpoint-closure), bind-redirect's bind4/6, the
	 * packet layers (two programs, each listed again for its IP packet layer), the netfilter
	 * links (four, and two aliases per program: IP packet and ICMP error layers), FORWARD
	 * (IPv4, IPv6), datagram-data (the packet programs again, egress and ingress), LOCAL_OUT's
	 * answers to unclaimed inbound packets (an alias), the stream layer's four */
	assert_int_equal(st.n_hooks, 62); /* and reauth tcp again for listeners, reauth udp */
	/* the stream layer: enrollment (sock_ops), sk_msg and sk_skb on the SOCKHASH */
	assert_int_equal(hook(&st, "sock_ops stream enrollment")->layer, LFP_LAYER_STREAM);
	assert_int_equal(hook(&st, "sk_msg")->layer, LFP_LAYER_STREAM);
	assert_int_equal(hook(&st, "sk_skb verdict")->layer, LFP_LAYER_STREAM);
	assert_int_equal(hook(&st, "stream enroll tcp")->layer, LFP_LAYER_STREAM);
	assert_int_equal(hook(&st, "packet-egress udp")->layer, LFP_LAYER_DATAGRAM_DATA);
	/* inbound packets no socket took: the LOCAL_OUT program again */
	assert_int_equal(hook(&st, "nf-local-out answers (unclaimed inbound)")->layer,
			 LFP_LAYER_INBOUND_TRANSPORT);
	assert_true(hook(&st, "packet-ingress udp")->active);
	assert_int_equal(hook(&st, "discard tracepoint skb:kfree_skb")->layer, -1);
	/* the BTF-typed program (with the owner) takes the drops; the raw one stands by */
	assert_true(hook(&st, "discard tracepoint skb:kfree_skb")->active);
	assert_false(hook(&st, "discard tracepoint skb:kfree_skb (raw, no owner)")->active);
	assert_int_equal(hook(&st, "packet-egress")->layer, LFP_LAYER_OUTBOUND_TRANSPORT);
	assert_int_equal(hook(&st, "packet-ingress ip")->layer, LFP_LAYER_INBOUND_IPPACKET);
	assert_int_equal(hook(&st, "sock_ops listen callback")->layer, LFP_LAYER_AUTH_LISTEN);
	assert_int_equal(hook(&st, "ingress")->layer, LFP_LAYER_AUTH_LISTEN);
	assert_int_equal(hook(&st, "reauth tcp listeners")->layer, LFP_LAYER_AUTH_LISTEN);
	assert_int_equal(hook(&st, "ingress accept")->layer, LFP_LAYER_AUTH_RECV_ACCEPT);
	assert_int_equal(hook(&st, "sock_ops passive-established callback")->layer,
			 LFP_LAYER_AUTH_RECV_ACCEPT);
	assert_int_equal(hook(&st, "reauth tcp accepted")->layer, LFP_LAYER_AUTH_RECV_ACCEPT);
	assert_int_equal(hook(&st, "post_bind4")->layer, LFP_LAYER_RESOURCE_ASSIGNMENT);
	assert_int_equal(hook(&st, "sock_create")->layer, LFP_LAYER_RESOURCE_ASSIGNMENT);
	assert_int_equal(hook(&st, "connect4/6 implicit bind")->layer,
			 LFP_LAYER_RESOURCE_ASSIGNMENT);
	assert_int_equal(hook(&st, "sendmsg4/6 implicit bind")->layer,
			 LFP_LAYER_RESOURCE_ASSIGNMENT);
	assert_int_equal(hook(&st, "sock_ops state callback")->layer, LFP_LAYER_ENDPOINT_CLOSURE);
	assert_int_equal(hook(&st, "sock_release")->layer, LFP_LAYER_ENDPOINT_CLOSURE);
	for (size_t i = 0; i < st.n_hooks; i++) {
		/* netfilter links are per namespace, and this test opens the kernel
		 * side in the machine's: never asked for, reported as such */
		if (!strncmp(st.hooks[i].name, "nf-", 3)) {
			assert_false(st.hooks[i].active);
			assert_non_null(strstr(st.hooks[i].reason, "not requested"));
			continue;
		}
		/* the raw discard program stands by for kernels without the typed one */
		if (!strcmp(st.hooks[i].name, "discard tracepoint skb:kfree_skb (raw, no owner)")) {
			assert_non_null(strstr(st.hooks[i].reason, "not needed"));
			continue;
		}
		if (!st.hooks[i].active)
			fail_msg("hook %s inactive: %s", st.hooks[i].name, st.hooks[i].reason);
		assert_string_equal(st.hooks[i].reason, "");
	}
	attached(g.cg, cnt, ids);
	for (size_t i = 0; i < N_CG_TYPES; i++)
		assert_int_equal(cnt[i], cg_progs[i]);
	snprintf(path, sizeof(path), "%s/maps/lfp_state", g.pin);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/links/connect4", g.pin);
	assert_int_equal(access(path, F_OK), 0);
	assert_true(lfp_kern_event_fd(g.k) >= 0);
}

/* No policy: permit everything, and report it (log_permits) with the real
 * local port from sock_ops and the executable's identity. */
static void test_permit_events(void **state)
{
	const struct lfp_event *e = NULL;
	struct client c;
	int lport;

	events_collect(g.k); /* earlier noise */
	lport = tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c);
	assert_true(lport > 0);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_OK, &e), 1);
	assert_int_equal(e->verdict, LFP_V_PERMIT);
	assert_int_equal(e->layer, LFP_LAYER_AUTH_CONNECT);
	assert_int_equal(e->proto, IPPROTO_TCP);
	assert_int_equal(e->ipver, 4);
	assert_int_equal(e->filter_id, 0);
	assert_int_equal(e->lport, lport);
	assert_true(is_v4mapped_of(e->laddr, "127.0.0.1"));
	assert_true(is_v4mapped_of(e->raddr, "127.0.0.1"));
	assert_true(e->flags & LFP_CF_LOOPBACK);
	assert_int_equal(e->exe_dev, g.self_dev);
	assert_int_equal(e->exe_ino, g.self_ino);
	assert_int_equal(e->uid, getuid());
	assert_true(e->cookie != 0);
	assert_true(e->cgroup != 0);
	/* the first exec of this binary in scope was reported */
	assert_true(exec_seen(g.self_dev, g.self_ino));
}

static void test_block_remote_port(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = PORT_BLK, .ans = LFP_ANS_BLOCK }
	};
	const struct lfp_event *e = NULL;
	struct lfp_kern_status st;
	uint64_t hits = 0;
	struct client c;

	commit(pol, 1);
	assert_int_equal(lfp_kern_counter_reset(g.k, COUNTER_OF(0)), 0);
	events_collect(g.k);

	assert_int_equal(tcp_from(g.self, g.cg, "127.0.0.1", PORT_BLK, &c), -EPERM);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_BLK, &e), 1);
	assert_int_equal(e->verdict, LFP_V_BLOCK);
	assert_int_equal(e->filter_id, FILTER_ID(0));
	assert_int_equal(e->lport, 0); /* never got one */
	assert_int_equal(e->ipver, 4);
	assert_true(is_v4mapped_of(e->laddr, "0.0.0.0"));
	assert_int_equal(e->exe_ino, g.self_ino);

	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);
	/* IPv6 and IPv4-mapped IPv6 */
	assert_int_equal(tcp_from(g.self, g.cg, "::1", PORT_BLK, &c), -EPERM);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_BLK, &e), 1);
	assert_int_equal(e->ipver, 6);
	assert_true(e->flags & LFP_CF_LOOPBACK);
	assert_true(tcp_from(g.self, g.cg, "::1", PORT_OK, &c) > 0);
	assert_int_equal(tcp_from(g.self, g.cg, "::ffff:127.0.0.1", PORT_BLK, &c), -EPERM);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_BLK, &e), 1);
	assert_int_equal(e->ipver, 4);
	assert_true(is_v4mapped_of(e->raddr, "127.0.0.1"));
	assert_true(is_v4mapped_of(e->laddr, "0.0.0.0"));
	assert_true(tcp_from(g.self, g.cg, "::ffff:127.0.0.1", PORT_OK, &c) > 0);

	assert_int_equal(lfp_kern_counter(g.k, COUNTER_OF(0), &hits), 0);
	assert_int_equal(hits, 3);
	assert_int_equal(lfp_kern_status(g.k, &st), 0);
	assert_int_equal(st.gen, g.gen);
	assert_true(st.stats[LFP_STAT_CLASSIFY] >= 6);
	assert_int_equal(st.stats[LFP_STAT_ERRORS], 0);
}

static void test_block_app(void **state)
{
	struct cond pol[] = {
		{ .field = LFP_F_APP, .dev = g.self_dev, .ino = g.self_ino, .ans = LFP_ANS_BLOCK }
	};
	const struct lfp_event *e = NULL;
	struct client c;
	int lport;

	commit(pol, 1);
	events_collect(g.k);
	assert_int_equal(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c), -EPERM);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_OK, &e), 1);
	assert_int_equal(e->verdict, LFP_V_BLOCK);
	assert_int_equal(e->filter_id, FILTER_ID(0));

	lport = tcp_from(g.copy, g.cg, "127.0.0.1", PORT_OK, &c);
	assert_true(lport > 0);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_OK, &e), 1);
	assert_int_equal(e->verdict, LFP_V_PERMIT);
	assert_int_equal(e->exe_dev, g.copy_dev);
	assert_int_equal(e->exe_ino, g.copy_ino);
	assert_int_equal(e->lport, lport);
	assert_true(exec_seen(g.copy_dev, g.copy_ino));
	assert_false(exec_seen(g.self_dev, g.self_ino)); /* reported once, earlier */
}

/* between the rounds of `udpgate`: peer 1 was blocked, now peer 2 is */
static void gate_swap_udp_block(void)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = UDP_BASE + 2, .ans = LFP_ANS_BLOCK },
	};

	commit(pol, 1);
}

/* One unconnected UDP socket, four peers, two of them blocked; each peer
 * decided once (the second datagram is a cache hit), the permitted ones
 * reported with the real local address from their first packet. */
static void test_udp(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = UDP_BASE + 1, .ans = LFP_ANS_BLOCK },
		{ .field = LFP_F_REMOTE_PORT, .port = UDP_BASE + 3, .ans = LFP_ANS_BLOCK },
	};
	const struct lfp_event *e = NULL;
	struct lfp_kern_status st0, st1;
	struct client c;
	int lport, a, b, d;

	commit(pol, 2);
	for (int i = 0; i < N_UDP; i++)
		udp_received(i);
	events_collect(g.k);
	assert_int_equal(lfp_kern_status(g.k, &st0), 0);
	assert_int_equal(run_client(g.self, g.cg, &c, "udp", "127.0.0.1", port_str(UDP_BASE),
				    port_str(UDP_BASE + 1), port_str(UDP_BASE + 2),
				    port_str(UDP_BASE + 3), NULL),
			 0);
	lport = result(&c, 0);
	assert_true(lport > 0);
	for (int i = 0; i < N_UDP; i++) {
		bool blocked = i == 1 || i == 3;

		for (int rep = 0; rep < 2; rep++)
			assert_int_equal(result(&c, 2 * i + rep), blocked ? -EPERM : lport);
		assert_int_equal(udp_received(i), blocked ? 0 : 2);
	}
	assert_int_equal(lfp_kern_status(g.k, &st1), 0);
	assert_true(st1.stats[LFP_STAT_UDP_CACHE_HIT] - st0.stats[LFP_STAT_UDP_CACHE_HIT] >= 4);

	events_collect(g.k);
	for (int i = 0; i < N_UDP; i++) {
		bool blocked = i == 1 || i == 3;

		assert_int_equal(events_of(c.pid, UDP_BASE + i, &e), 1);
		assert_int_equal(e->proto, IPPROTO_UDP);
		assert_int_equal(e->verdict, blocked ? LFP_V_BLOCK : LFP_V_PERMIT);
		assert_int_equal(e->filter_id, blocked ? FILTER_ID(i / 2) : 0);
		assert_int_equal(e->exe_ino, g.self_ino);
		if (!blocked) {
			assert_int_equal(e->lport, lport);
			assert_true(is_v4mapped_of(e->laddr, "127.0.0.1"));
		}
	}

	/* connected UDP: decided at connect(), reported at the first packet */
	assert_int_equal(
		run_client(g.self, g.cg, &c, "udpc", "127.0.0.1", port_str(UDP_BASE), NULL), 0);
	lport = result(&c, 0);
	assert_true(lport > 0);
	assert_int_equal(udp_received(0), 1);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, UDP_BASE, &e), 1);
	assert_int_equal(e->verdict, LFP_V_PERMIT);
	assert_int_equal(e->lport, lport);
	assert_int_equal(e->proto, IPPROTO_UDP);
	assert_int_equal(run_client(g.self, g.cg, &c, "udpc", "::1", port_str(UDP_BASE + 1), NULL),
			 0);
	assert_int_equal(result(&c, 0), -EPERM);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, UDP_BASE + 1, &e), 1);
	assert_int_equal(e->verdict, LFP_V_BLOCK);
	assert_int_equal(e->ipver, 6);

	/* a commit re-decides the peers a living socket has cached */
	for (int i = 0; i < N_UDP; i++)
		udp_received(i);
	events_collect(g.k);
	assert_int_equal(run_client_gated(g.self, g.cg, &c, gate_swap_udp_block, "udpgate",
					  "127.0.0.1", port_str(UDP_BASE + 1),
					  port_str(UDP_BASE + 2), NULL),
			 0);
	assert_int_equal(sscanf(c.out, "ERR %d OK %d\nOK %d ERR %d", &a, &lport, &b, &d), 4);
	assert_int_equal(a, EPERM);
	assert_int_equal(b, lport);
	assert_int_equal(d, EPERM);
	assert_int_equal(udp_received(1), 1);
	assert_int_equal(udp_received(2), 1);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, UDP_BASE + 1, NULL), 2);
	assert_int_equal(events_of(c.pid, UDP_BASE + 2, NULL), 2);
	for (size_t i = 0; i < evs.n; i++) {
		if (evs.ev[i].pid != (uint32_t)c.pid)
			continue;
		/* first round: fresh decisions; second: re-authorizations */
		assert_int_equal(!!(evs.ev[i].flags & LFP_CF_REAUTHORIZE),
				 (evs.ev[i].rport == UDP_BASE + 1) ==
					 (evs.ev[i].verdict == LFP_V_PERMIT));
	}
}

/* ---- re-authorization of TCP flows ---- */

static struct {
	int lst[2];   /* listeners on PORT_RA_BLK, PORT_RA_OK (never drained) */
	int outsider; /* the test's own connection to PORT_RA_BLK: outside the scope */
} ra = { { -1, -1 }, -1 };

static int ra_listen(void *arg)
{
	static const int ports[2] = { PORT_RA_BLK, PORT_RA_OK };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;

	for (int i = 0; i < 2; i++) {
		ra.lst[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(ra.lst[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		a.sin_port = htons(ports[i]);
		if (ra.lst[i] < 0 || bind(ra.lst[i], (void *)&a, sizeof(a)) ||
		    listen(ra.lst[i], 16))
			return -errno;
	}
	ra.outsider = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(PORT_RA_BLK);
	if (ra.outsider < 0 || connect(ra.outsider, (void *)&a, sizeof(a)))
		return -errno;
	return 0;
}

static void ra_close(void)
{
	for (int i = 0; i < 2; i++)
		if (ra.lst[i] >= 0)
			close(ra.lst[i]);
	if (ra.outsider >= 0)
		close(ra.outsider);
	ra.lst[0] = ra.lst[1] = ra.outsider = -1;
}

/* between connect and send of `tcpgate`: block PORT_RA_BLK */
static void gate_block_ra(void)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = PORT_RA_BLK, .ans = LFP_ANS_BLOCK },
	};

	commit(pol, 1);
}

/*
 * A commit ends the scope's TCP flows the new generation blocks
 * (ECONNABORTED for the application, an event with the reauthorize flag)
 * and leaves the permitted ones alone. A connection outside the scope
 * cgroup in the same namespace survives even with a permit record in the
 * storage map (written here by hand, as no hook of the scope ever runs for
 * it): the iterator's scope check, not the lack of a record, spares it.
 */
static void test_reauth_tcp(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = 7999, .ans = LFP_ANS_BLOCK },
	};
	char path[PATH_MAX + 32];
	struct lfp_kern_status st0, st1;
	const struct lfp_event *e = NULL;
	struct lfp_sk rec = { 0 };
	int a, lp_blk, lp_ok, b, fd, err = -1;
	socklen_t elen = sizeof(err);
	struct client c;
	size_t n_re = 0;

	commit(pol, 1);
	assert_int_equal(in_netns(ra_listen, NULL), 0);
	snprintf(path, sizeof(path), "%s/maps/lfp_sk_store", g.pin);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	rec.gen = g.gen;
	rec.verdict = LFP_V_PERMIT;
	rec.proto = IPPROTO_TCP;
	rec.pid = getpid();
	v4mapped(rec.raddr, "127.0.0.1");
	rec.rport = PORT_RA_BLK;
	assert_int_equal(bpf_map_update_elem(fd, &ra.outsider, &rec, BPF_ANY), 0);
	close(fd);

	events_collect(g.k);
	assert_int_equal(lfp_kern_status(g.k, &st0), 0);
	assert_int_equal(run_client_gated(g.self, g.cg, &c, gate_block_ra, "tcpgate", "127.0.0.1",
					  port_str(PORT_RA_BLK), port_str(PORT_RA_OK), NULL),
			 0);
	assert_int_equal(sscanf(c.out, "OK %d OK %d\n%*s %d OK %d", &lp_blk, &lp_ok, &a, &b), 4);
	assert_true(lp_blk > 0 && lp_ok > 0);
	assert_true(strstr(c.out, "\nERR ") != NULL);
	assert_int_equal(a, ECONNABORTED); /* the blocked flow was ended */
	assert_int_equal(b, 1);		   /* the permitted one is alive */

	/* outside the scope: alive, no error */
	assert_int_equal(getsockopt(ra.outsider, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
	assert_int_equal(err, 0);
	assert_int_equal(send(ra.outsider, "x", 1, MSG_NOSIGNAL), 1);
	ra_close();

	assert_int_equal(lfp_kern_status(g.k, &st1), 0);
	assert_int_equal(st1.stats[LFP_STAT_REAUTH_ENDED] - st0.stats[LFP_STAT_REAUTH_ENDED], 1);
	assert_true(st1.stats[LFP_STAT_REAUTH] - st0.stats[LFP_STAT_REAUTH] >= 2);

	events_collect(g.k);
	for (size_t i = 0; i < evs.n; i++) {
		e = &evs.ev[i];
		if (!(e->flags & LFP_CF_REAUTHORIZE))
			continue;
		n_re++;
		assert_int_equal(e->pid, c.pid);
		assert_int_equal(e->rport, PORT_RA_BLK);
		assert_int_equal(e->lport, lp_blk);
		assert_int_equal(e->verdict, LFP_V_BLOCK);
		assert_int_equal(e->layer, LFP_LAYER_AUTH_CONNECT);
		assert_int_equal(e->proto, IPPROTO_TCP);
		assert_int_equal(e->filter_id, FILTER_ID(0));
		assert_int_equal(e->exe_ino, g.self_ino);
		assert_true(is_v4mapped_of(e->raddr, "127.0.0.1"));
	}
	assert_int_equal(n_re, 1);
	/* both connects were reported at connect time, without the flag */
	assert_int_equal(events_of(c.pid, PORT_RA_OK, NULL), 1);
	assert_int_equal(events_of(c.pid, PORT_RA_BLK, NULL), 2);

	/* a second commit finds nothing left to end */
	gate_block_ra();
	assert_int_equal(lfp_kern_status(g.k, &st0), 0);
	assert_int_equal(st0.stats[LFP_STAT_REAUTH_ENDED], st1.stats[LFP_STAT_REAUTH_ENDED]);
}

static void test_log_flags(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT,
		  .port = PORT_NOLOG,
		  .ans = LFP_ANS_PERMIT,
		  .flags = LFP_FF_NOLOG },
	};
	const struct cond pol_log[] = {
		{ .field = LFP_F_REMOTE_PORT,
		  .port = PORT_NOLOG,
		  .ans = LFP_ANS_PERMIT,
		  .flags = LFP_FF_LOG },
	};
	struct client c, c2;

	commit(pol, 1);
	events_collect(g.k);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_NOLOG, &c) > 0);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_NOLOG, NULL), 0);

	/* global switch off: default permits are quiet, log filters are not */
	assert_int_equal(lfp_kern_set_log_permits(g.k, false), 0);
	commit(pol_log, 1);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_NOLOG, &c2) > 0);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_OK, NULL), 0);
	assert_int_equal(events_of(c2.pid, PORT_NOLOG, NULL), 1);
	assert_int_equal(lfp_kern_set_log_permits(g.k, true), 0);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);
	events_collect(g.k);
	assert_int_equal(events_of(c.pid, PORT_OK, NULL), 1);
}

/*
 * Enforcement belongs to the pins: close the handle, then let another
 * process adopt, commit, and die by SIGKILL. The policy it committed must
 * stay enforced.
 */
static void test_persist(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = PORT_BLK, .ans = LFP_ANS_BLOCK }
	};
	const struct cond pol2[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = PORT_OK, .ans = LFP_ANS_BLOCK }
	};
	struct client c;
	int status, p[2];
	char ok = 0;
	pid_t pid;

	commit(pol, 1);
	lfp_kern_close(g.k);
	g.k = NULL;
	assert_int_equal(tcp_from(g.self, g.cg, "127.0.0.1", PORT_BLK, &c), -EPERM);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lfp_kern_status st;
		struct lfp_lowered lw;
		uint64_t gen;
		int err;

		close(p[0]);
		g.k = open_on(g.cg, g.pin, &err);
		if (!err && !lfp_kern_status(g.k, &st) && st.adopted && st.gen == g.gen) {
			lw_build(&lw, pol2, 1);
			if (!kcommit(g.k, &lw, &gen) && gen == g.gen + 1)
				ok = 1;
		}
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(ok, 1);
	g.gen++;
	assert_int_equal(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c), -EPERM);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_BLK, &c) > 0);
}

/* Adoption swaps the programs behind the pinned links: new program ids,
 * still exactly one per hook, the generation kept. */
static void test_adopt(void **state)
{
	unsigned cnt0[N_CG_TYPES], cnt1[N_CG_TYPES];
	__u32 ids0[N_CG_TYPES], ids1[N_CG_TYPES];
	struct lfp_kern_status st;
	struct client c;
	int err;

	attached(g.cg, cnt0, ids0);
	g.k = open_on(g.cg, g.pin, &err);
	assert_int_equal(err, 0);
	assert_int_equal(lfp_kern_status(g.k, &st), 0);
	assert_true(st.adopted);
	assert_int_equal(st.gen, g.gen);
	for (size_t i = 0; i < st.n_hooks; i++)
		if (!st.hooks[i].active && strncmp(st.hooks[i].name, "nf-", 3) &&
		    !strstr(st.hooks[i].reason, "not needed"))
			fail_msg("hook %s inactive: %s", st.hooks[i].name, st.hooks[i].reason);
	attached(g.cg, cnt1, ids1);
	for (size_t i = 0; i < N_CG_TYPES; i++) {
		assert_int_equal(cnt0[i], cg_progs[i]);
		assert_int_equal(cnt1[i], cg_progs[i]);
		assert_int_not_equal(ids0[i], ids1[i]);
	}
	assert_int_equal(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c), -EPERM);
	/* and it commits on top of the adopted generation */
	commit(NULL, 0);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);
}

/* Pins guard one cgroup; another --cgroup is refused, nothing changes. */
static void test_adopt_wrong_cgroup(void **state)
{
	unsigned cnt[N_CG_TYPES];
	__u32 ids[N_CG_TYPES];
	struct lfp_kern *k2;
	int err;

	k2 = open_on(g.cg2, g.pin, &err);
	assert_null(k2);
	assert_int_equal(err, -EBUSY);
	attached(g.cg2, cnt, ids);
	for (size_t i = 0; i < N_CG_TYPES; i++)
		assert_int_equal(cnt[i], 0);
	assert_int_equal(lfp_kern_gen(g.k), g.gen);
}

/* Programs the kernel refuses are reported; the other hooks work, and
 * events a missing hook would have completed go out early. */
static void test_refused_program(void **state)
{
	const struct cond pol[] = {
		{ .field = LFP_F_REMOTE_PORT, .port = PORT_BLK, .ans = LFP_ANS_BLOCK },
		{ .field = LFP_F_REMOTE_PORT, .port = UDP_BASE + 1, .ans = LFP_ANS_BLOCK },
	};
	const struct lfp_event *e = NULL;
	struct lfp_kern_status st;
	struct lfp_lowered lw;
	unsigned cnt[N_CG_TYPES];
	__u32 ids[N_CG_TYPES];
	struct lfp_kern *k2;
	struct client c;
	uint64_t gen;
	int err;

	lfp_kern_test_refuse = "lfp_sendmsg4,lfp_sockops";
	k2 = open_on(g.cg2, g.pin2, &err);
	lfp_kern_test_refuse = NULL;
	assert_int_equal(err, 0);
	assert_int_equal(lfp_kern_status(k2, &st), 0);
	assert_false(hook(&st, "sendmsg4")->active);
	assert_non_null(strstr(hook(&st, "sendmsg4")->reason, "refused"));
	assert_false(hook(&st, "sock_ops")->active);
	assert_non_null(strstr(hook(&st, "sock_ops")->reason, "refused"));
	/* the listen callback is the same program: it goes with it */
	assert_false(hook(&st, "sock_ops listen callback")->active);
	assert_non_null(strstr(hook(&st, "sock_ops listen callback")->reason, "refused"));
	assert_true(hook(&st, "ingress")->active);
	assert_true(hook(&st, "connect4")->active);
	assert_true(hook(&st, "connect6")->active);
	assert_true(hook(&st, "sendmsg6")->active);
	assert_true(hook(&st, "egress")->active);
	assert_true(hook(&st, "exec tracepoint")->active);
	attached(g.cg2, cnt, ids);
	for (size_t i = 0; i < N_CG_TYPES; i++)
		assert_int_equal(cnt[i],
				 cg_progs[i] - (cg_types[i] == BPF_CGROUP_UDP4_SENDMSG ||
								cg_types[i] == BPF_CGROUP_SOCK_OPS
							? 1
							: 0));

	lw_build(&lw, pol, 2);
	assert_int_equal(kcommit(k2, &lw, &gen), 0);
	assert_int_equal(gen, 1);
	lfp_lowered_fini(&lw);
	assert_int_equal(tcp_from(g.self, g.cg2, "127.0.0.1", PORT_BLK, &c), -EPERM);
	while (lfp_kern_event_poll(k2, on_event, NULL) > 0)
		;
	assert_true(tcp_from(g.self, g.cg2, "127.0.0.1", PORT_OK, &c) > 0);
	events_collect(k2);
	assert_int_equal(events_of(c.pid, PORT_OK, &e), 1);
	assert_int_equal(e->verdict, LFP_V_PERMIT);
	assert_int_equal(e->lport, 0); /* no sock_ops: reported at connect() */
	/* IPv6 UDP is judged; IPv4 UDP has no hook and goes through */
	assert_int_equal(run_client(g.self, g.cg2, &c, "udp", "::1", port_str(UDP_BASE + 1), NULL),
			 0);
	assert_int_equal(result(&c, 0), -EPERM);
	assert_int_equal(
		run_client(g.self, g.cg2, &c, "udp", "127.0.0.1", port_str(UDP_BASE + 1), NULL), 0);
	assert_true(result(&c, 0) > 0);
	assert_int_equal(udp_received(1), 2);

	lfp_kern_close(k2);
	assert_int_equal(lfp_kern_unload(g.pin2), 0);
	assert_int_equal(access(g.pin2, F_OK), -1);
	attached(g.cg2, cnt, ids);
	for (size_t i = 0; i < N_CG_TYPES; i++)
		assert_int_equal(cnt[i], 0);
	assert_true(tcp_from(g.self, g.cg2, "127.0.0.1", PORT_BLK, &c) > 0);
}

/* ---- a policy lowered by lib/lower.c, held against the oracle ---- */

static void pol_cond(struct lfp_filter *f, enum lfp_field field, struct lfp_value v)
{
	struct lfp_cond *c;

	f->conds = realloc(f->conds, (f->n_conds + 1) * sizeof(*f->conds));
	assert_non_null(f->conds);
	c = &f->conds[f->n_conds++];
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->op = LFP_OP_EQ;
	c->v = calloc(1, sizeof(*c->v));
	assert_non_null(c->v);
	c->v[0] = v;
	c->n = 1;
}

static struct lfp_filter *pol_filter(struct lfp_policy *p, const char *sublayer,
				     enum lfp_action_type act, uint64_t weight)
{
	struct lfp_filter *f = &p->filters[p->n_filters++];

	memset(f, 0, sizeof(*f));
	f->id = 500 + p->n_filters;
	f->layer = LFP_LAYER_AUTH_CONNECT;
	f->sublayer = strdup(sublayer);
	f->action.type = act;
	f->wkind = LFP_W_EXPLICIT;
	f->weight_arg = f->weight = weight;
	return f;
}

static struct lfp_value val_num(uint64_t lo, uint64_t hi)
{
	return (struct lfp_value){ .form = lo == hi ? LFP_VF_NUMBER : LFP_VF_RANGE,
				   .lo = lo,
				   .hi = hi };
}

static struct lfp_value val_path(const char *path, uint64_t lo, uint64_t hi)
{
	return (struct lfp_value){
		.form = LFP_VF_PATH, .str = strdup(path), .lo = lo, .hi = hi, .resolved = true
	};
}

static struct lfp_value val_addr(const char *a6)
{
	struct lfp_value v = { .form = LFP_VF_PREFIX, .plen = 128 };

	inet_pton(AF_INET6, a6, v.alo);
	memcpy(v.ahi, v.alo, 16);
	return v;
}

struct lk_case {
	bool copy;	  /* client is the copy (else this binary) */
	const char *mode; /* "tcp" or "udp" */
	const char *addr;
	int port;
	enum lfp_verdict verdict; /* expected (and the oracle's) */
	int filter;		  /* deciding filter: index in the policy, -1 none */
};

/*
 * Multi-field filters in two sublayers, lowered by lfp_lower() and run by
 * the kernel: what the adapters feed the evaluator (app identity, uid,
 * cgroup and its ancestors, protocol, address, port, flags) must make the
 * kernel agree with the oracle on the verdict and the deciding filter.
 */
static void test_lowered_policy(void **state)
{
	static const struct lk_case cases[] = {
		{ false, "tcp", "127.0.0.1", PORT_OK, LFP_V_PERMIT, -1 },
		{ false, "tcp", "127.0.0.1", PORT_BLK, LFP_V_BLOCK, 2 },
		{ false, "tcp", "::1", PORT_BLK, LFP_V_PERMIT, 3 },
		{ true, "tcp", "127.0.0.1", PORT_OK, LFP_V_BLOCK, 0 },
		{ true, "tcp", "::1", PORT_BLK, LFP_V_BLOCK, 0 }, /* blocks are hard */
		{ true, "tcp", "::1", PORT_NOLOG, LFP_V_PERMIT, 3 },
		{ false, "udp", "127.0.0.1", UDP_BASE + 2, LFP_V_BLOCK, 1 },
		{ false, "udp", "::1", UDP_BASE, LFP_V_PERMIT, 3 },
		{ false, "udp", "127.0.0.1", UDP_BASE, LFP_V_BLOCK, 4 },
	};
	struct lfp_filter filters[5];
	struct lfp_sublayer subs[2] = {
		{ .id = 1, .name = strdup("default"), .weight = LFP_SUBLAYER_DEFAULT_WEIGHT },
		{ .id = 2, .name = strdup("high"), .weight = 0x9000 },
	};
	struct lfp_policy p = { .sublayers = subs, .n_sublayers = 2, .filters = filters };
	struct lfp_diags diags = { 0 };
	struct lfp_lowered lw;
	struct lfp_filter *f;
	struct stat st;
	uint64_t cg_id, root_id, gen;

	assert_int_equal(stat(g.cg, &st), 0);
	cg_id = st.st_ino;
	assert_int_equal(stat(g.root, &st), 0);
	root_id = st.st_ino;

	/* high: the copy may not reach 7001-7002 */
	f = pol_filter(&p, "high", LFP_ACT_BLOCK, 100);
	pol_cond(f, LFP_F_APP, val_path(g.copy, g.copy_dev, g.copy_ino));
	pol_cond(f, LFP_F_REMOTE_PORT, val_num(PORT_OK, PORT_BLK));
	/* high: UDP to the third receiver */
	f = pol_filter(&p, "high", LFP_ACT_BLOCK, 100);
	pol_cond(f, LFP_F_PROTO, val_num(IPPROTO_UDP, IPPROTO_UDP));
	pol_cond(f, LFP_F_REMOTE_PORT, val_num(UDP_BASE + 2, UDP_BASE + 2));
	/* default: nothing in the test cgroup reaches 7002 ... */
	f = pol_filter(&p, "default", LFP_ACT_BLOCK, 100);
	pol_cond(f, LFP_F_CGROUP, val_path(g.cg, cg_id, 0));
	pol_cond(f, LFP_F_REMOTE_PORT, val_num(PORT_BLK, PORT_BLK));
	/* ... except root over IPv6 loopback (heavier: wins in its sublayer;
	 * the hard block from the sublayer above still stands) */
	f = pol_filter(&p, "default", LFP_ACT_PERMIT, 200);
	pol_cond(f, LFP_F_REMOTE_ADDR, val_addr("::1"));
	pol_cond(f, LFP_F_USER, val_num(0, 0));
	pol_cond(f, LFP_F_FLAGS,
		 (struct lfp_value){
			 .form = LFP_VF_FLAGS, .lo = LFP_CF_LOOPBACK, .hi = LFP_CF_LOOPBACK });
	/* high: a soft block of UDP to the first receiver, which the permit
	 * below it overrides */
	f = pol_filter(&p, "high", LFP_ACT_BLOCK, 100);
	f->flags = LFP_FF_SOFT;
	pol_cond(f, LFP_F_PROTO, val_num(IPPROTO_UDP, IPPROTO_UDP));
	pol_cond(f, LFP_F_REMOTE_PORT, val_num(UDP_BASE, UDP_BASE));

	assert_int_equal(lfp_lower(&p, NULL, &lw, &diags), 0);
	for (size_t i = 0; i < lw.n_filters; i++)
		lw.filters[i].counter = 100 + (uint32_t)i;
	assert_int_equal(kcommit(g.k, &lw, &gen), 0);
	g.gen = gen;
	lfp_lowered_fini(&lw);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lk_case *t = &cases[i];
		struct lfp_classify_result res = { 0 };
		struct lfp_conn conn = { 0 };
		const struct lfp_event *e = NULL;
		bool udp = !strcmp(t->mode, "udp");
		struct client c;
		int got;

		conn.layer = LFP_LAYER_AUTH_CONNECT;
		conn.app_dev = t->copy ? g.copy_dev : g.self_dev;
		conn.app_ino = t->copy ? g.copy_ino : g.self_ino;
		conn.uid = getuid();
		conn.gid = getgid();
		conn.cgroup_ids[0] = root_id;
		conn.cgroup_ids[1] = cg_id;
		conn.cgroup_depth = 2;
		conn.proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
		conn.ipver = strchr(t->addr, ':') ? 6 : 4;
		v4mapped(conn.raddr, "127.0.0.1");
		if (conn.ipver == 6)
			inet_pton(AF_INET6, t->addr, conn.raddr);
		conn.rport = t->port;
		conn.direction = LFP_DIR_OUTBOUND;
		conn.flags = LFP_CF_LOOPBACK;
		assert_int_equal(lfp_oracle_classify(&p, &conn, &res), 0);
		if (res.verdict != t->verdict ||
		    res.filter != (t->filter >= 0 ? &filters[t->filter] : NULL))
			fail_msg("case %zu: oracle says %s by filter %lld", i,
				 lfp_verdict_name(res.verdict),
				 res.filter ? (long long)(res.filter - filters) : -1LL);

		events_collect(g.k);
		assert_int_equal(run_client(t->copy ? g.copy : g.self, g.cg, &c, t->mode, t->addr,
					    port_str(t->port), NULL),
				 0);
		got = result(&c, 0);
		if ((res.verdict == LFP_V_PERMIT) != (got > 0))
			fail_msg("case %zu (%s %s %s:%d): kernel %d, oracle %s", i,
				 t->copy ? "copy" : "self", t->mode, t->addr, t->port, got,
				 lfp_verdict_name(res.verdict));
		events_collect(g.k);
		assert_int_equal(events_of(c.pid, t->port, &e), 1);
		assert_int_equal(e->verdict, res.verdict);
		assert_int_equal(e->filter_id, res.filter ? res.filter->id : 0);
		lfp_classify_result_fini(&res);
		if (udp)
			udp_received((t->port - UDP_BASE) % N_UDP);
	}
	for (size_t i = 0; i < p.n_filters; i++)
		lfp_filter_fini(&filters[i]);
	lfp_sublayer_fini(&subs[0]);
	lfp_sublayer_fini(&subs[1]);
	lfp_diags_fini(&diags);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 100k remote-address filters: the commit stays well under a second and
 * the classification finds the one that matters. */
static void test_commit_100k(void **state)
{
	const size_t n = 100000;
	struct cond *pol = calloc(n, sizeof(*pol));
	struct lfp_lowered lw;
	struct client c;
	double t0, t1;
	uint64_t gen;

	assert_non_null(pol);
	for (size_t i = 0; i < n; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "127.%zu.%zu.%zu", 1 + i / 65536, (i / 256) % 256,
			 i % 256);
		pol[i].field = LFP_F_REMOTE_ADDR;
		v4mapped(pol[i].addr, ip);
		pol[i].ans = LFP_ANS_BLOCK;
	}
	lw_build(&lw, pol, n);
	t0 = now_ms();
	assert_int_equal(kcommit(g.k, &lw, &gen), 0);
	t1 = now_ms();
	g.gen = gen;
	lfp_lowered_fini(&lw);
	free(pol);
	print_message("# commit of %zu filters: %.1f ms\n", n, t1 - t0);
	assert_true(t1 - t0 < 2000);
	/* i = 5 -> 127.1.0.5; i = 70000 -> 127.2.17.112 */
	assert_int_equal(tcp_from(g.self, g.cg, "127.1.0.5", PORT_OK, &c), -EPERM);
	assert_int_equal(tcp_from(g.self, g.cg, "127.2.17.112", PORT_OK, &c), -EPERM);
	assert_true(tcp_from(g.self, g.cg, "127.0.0.1", PORT_OK, &c) > 0);
	assert_true(tcp_from(g.self, g.cg, "127.3.0.1", PORT_OK, &c) > 0);
}

static void test_unload(void **state)
{
	unsigned cnt[N_CG_TYPES];
	__u32 ids[N_CG_TYPES];
	struct client c;

	lfp_kern_close(g.k);
	g.k = NULL;
	assert_int_equal(lfp_kern_unload(g.pin), 0);
	assert_int_equal(access(g.pin, F_OK), -1);
	attached(g.cg, cnt, ids);
	for (size_t i = 0; i < N_CG_TYPES; i++)
		assert_int_equal(cnt[i], 0);
	assert_true(tcp_from(g.self, g.cg, "127.1.0.5", PORT_OK, &c) > 0);
	/* nothing pinned: still fine */
	assert_int_equal(lfp_kern_unload(g.pin), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_fresh),
		cmocka_unit_test(test_permit_events),
		cmocka_unit_test(test_block_remote_port),
		cmocka_unit_test(test_block_app),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_reauth_tcp),
		cmocka_unit_test(test_log_flags),
		cmocka_unit_test(test_lowered_policy),
		cmocka_unit_test(test_persist),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_adopt_wrong_cgroup),
		cmocka_unit_test(test_refused_program),
		cmocka_unit_test(test_commit_100k),
		cmocka_unit_test(test_unload),
	};

	if (argc > 1 && !strcmp(argv[1], "--client"))
		return client_main(argc - 1, argv + 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
