// SPDX-License-Identifier: MIT
/*
 * gen_policy: a realistic auth-connect policy of N filters for bench/run.
 *
 * Three sublayers of our own (blocklist, apps, ports), the shapes a real
 * deployment has: remote CIDR blocklists (random /16../32 IPv4 prefixes
 * outside 127/8, some IPv6 prefixes in 2000::/3, some combined with a port
 * set), per-application rules (existing binaries from /usr/bin and paths
 * that do not exist yet), port rules (single ports with a protocol, port
 * ranges), and one permit for the benchmark itself: the bench app, TCP, to
 * its port.
 *
 * The first filters are one of each shape, so a 10-filter policy has the
 * same tuples (sublayer x set of fields) as a 100000-filter one: comparing
 * the two measures the number of filters, not the number of tuples. The
 * output is deterministic for a given seed and /usr/bin listing.
 *
 * Nothing here may match the benchmark's own connection (127.0.0.1 or ::1,
 * TCP, --port, --app) except the permit: the blocklist never touches 127/8
 * or ::/8, port rules skip --port, and app rules name other binaries.
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BINS 512

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: fast, seedable, the same sequence on every host */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_range(uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd() % ((uint64_t)hi - lo + 1));
}

static char *bins[MAX_BINS];
static size_t n_bins;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Executables in /usr/bin, sorted so the choice does not depend on readdir
 * order. The bench binary itself is never among them (it lives in the
 * build directory). */
static void bins_load(void)
{
	DIR *d = opendir("/usr/bin");
	struct dirent *e;
	char path[PATH_MAX];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d)) && n_bins < MAX_BINS) {
		if (e->d_name[0] == '.' || strpbrk(e->d_name, " \"\\#{},"))
			continue;
		snprintf(path, sizeof(path), "/usr/bin/%s", e->d_name);
		if (lstat(path, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			continue;
		bins[n_bins++] = strdup(path);
	}
	closedir(d);
	qsort(bins, n_bins, sizeof(bins[0]), cmp_str);
}

/* half existing binaries, half paths of apps not installed (yet) */
static void app_path(char *buf, size_t len)
{
	uint32_t k = rnd_range(0, 99999);

	if (n_bins && (k & 1))
		snprintf(buf, len, "%s", bins[k % n_bins]);
	else
		snprintf(buf, len, "/opt/vendor%u/bin/app%u", k % 997, k);
}

/* a random port other than the bench's */
static uint32_t port_other(uint32_t bench)
{
	uint32_t p;

	do
		p = rnd_range(1, 65535);
	while (p == bench);
	return p;
}

/* IPv4 /16../32 outside 127/8 (and 0/8, which is not routable anyway) */
static void cidr4(char *buf, size_t len)
{
	uint32_t plen = rnd_range(16, 32), a;

	do
		a = (uint32_t)rnd();
	while ((a >> 24) == 127 || (a >> 24) == 0);
	if (plen < 32)
		a &= ~((1u << (32 - plen)) - 1);
	snprintf(buf, len, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
		 plen);
}

/* IPv6 /32../128 in 2000::/3 (global unicast: never ::1 or v4-mapped) */
static void cidr6(char *buf, size_t len)
{
	uint16_t w[8];
	uint32_t plen = rnd_range(32, 128);

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)rnd();
	w[0] = (uint16_t)(0x2000 | (w[0] & 0x1fff));
	for (uint32_t b = plen; b < 128; b++)
		w[b / 16] &= (uint16_t) ~(0x8000u >> (b % 16));
	snprintf(buf, len, "%x:%x:%x:%x:%x:%x:%x:%x/%u", w[0], w[1], w[2], w[3], w[4], w[5], w[6],
		 w[7], plen);
}

enum shape {
	SH_ADDR,       /* blocklist: remote.addr */
	SH_ADDR_PORTS, /* blocklist: remote.addr + remote.port set */
	SH_APP,	       /* apps: app */
	SH_APP_PORT,   /* apps: app + proto + remote.port (the bench permit's shape) */
	SH_APP_ADDR,   /* apps: app + remote.addr */
	SH_PROTO_PORT, /* ports: proto + remote.port */
	SH_PORT_RANGE, /* ports: remote.port range */
	SH_COUNT,
};

/* share of each shape in per-mille, after the first one of each */
static const uint32_t share[SH_COUNT] = {
    [SH_ADDR] = 900,   [SH_ADDR_PORTS] = 60, [SH_APP] = 5,	   [SH_APP_PORT] = 5,
    [SH_APP_ADDR] = 5, [SH_PROTO_PORT] = 15, [SH_PORT_RANGE] = 10,
};

static void emit(enum shape sh, uint32_t bench_port)
{
	char a[64], app[PATH_MAX];
	uint32_t p, q;

	switch (sh) {
	case SH_ADDR:
		/* one in twenty is IPv6 */
		if (rnd_range(0, 19) == 0)
			cidr6(a, sizeof(a));
		else
			cidr4(a, sizeof(a));
		printf("filter add layer auth-connect sublayer blocklist remote.addr %s block\n",
		       a);
		break;
	case SH_ADDR_PORTS:
		cidr4(a, sizeof(a));
		printf("filter add layer auth-connect sublayer blocklist remote.addr %s "
		       "remote.port {80, 443, 8080} block\n",
		       a);
		break;
	case SH_APP:
		app_path(app, sizeof(app));
		printf("filter add layer auth-connect sublayer apps app %s block\n", app);
		break;
	case SH_APP_PORT:
		app_path(app, sizeof(app));
		printf(
		    "filter add layer auth-connect sublayer apps app %s proto tcp remote.port %u "
		    "%s\n",
		    app, port_other(bench_port), rnd_range(0, 1) ? "permit" : "block");
		break;
	case SH_APP_ADDR:
		app_path(app, sizeof(app));
		cidr4(a, sizeof(a));
		printf("filter add layer auth-connect sublayer apps app %s remote.addr %s block\n",
		       app, a);
		break;
	case SH_PROTO_PORT:
		printf(
		    "filter add layer auth-connect sublayer ports proto %s remote.port %u block\n",
		    rnd_range(0, 2) ? "tcp" : "udp", port_other(bench_port));
		break;
	case SH_PORT_RANGE:
		do {
			p = rnd_range(1, 65535);
			q = p + rnd_range(0, 199);
		} while (q > 65535 || (p <= bench_port && bench_port <= q));
		printf("filter add layer auth-connect sublayer ports remote.port %u-%u block\n", p,
		       q);
		break;
	default:
		break;
	}
}

static const char usage[] =
    "Usage: gen_policy --filters N --port P --app PATH [--seed S] [--provider NAME]\n"
    "Prints an lfp rule file of N auth-connect filters (N >= 8) in three sublayers;\n"
    "the only filter matching a TCP connect from PATH to port P is a permit.\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"filters", required_argument, 0, 'n'},
	    {"port", required_argument, 0, 'p'},
	    {"app", required_argument, 0, 'a'},
	    {"seed", required_argument, 0, 's'},
	    {"provider", required_argument, 0, 'P'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	const char *app = NULL, *provider = "bench";
	uint64_t n = 0, seed = 1;
	uint32_t port = 0, emitted = 0;
	int64_t acc[SH_COUNT] = {0};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			port = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			app = optarg;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'P':
			provider = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (n < SH_COUNT + 1 || n > 10000000 || !port || port > 65535 || !app || app[0] != '/' ||
	    strpbrk(app, " \"\\#{},")) {
		fputs(usage, stderr);
		return 2;
	}
	rng_state ^= seed * 0x100000001b3ull;
	if (!rng_state)
		rng_state = 1;
	bins_load();

	printf("# generated by bench/gen_policy --filters %" PRIu64 " --port %u --seed %" PRIu64
	       "\n",
	       n, port, seed);
	printf("provider %s\n", provider);
	printf("sublayer add blocklist weight 30000\n");
	printf("sublayer add apps weight 20000\n");
	printf("sublayer add ports weight 10000\n");
	printf("filter add name bench-permit layer auth-connect sublayer apps app %s proto tcp "
	       "remote.port %u permit\n",
	       app, port);
	emitted = 1;
	for (int sh = 0; sh < SH_COUNT; sh++, emitted++)
		emit((enum shape)sh, port);
	/* the rest by share, deterministically interleaved (largest deficit first) */
	while (emitted < n) {
		int best = 0;

		for (int sh = 0; sh < SH_COUNT; sh++) {
			acc[sh] += share[sh];
			if (acc[sh] > acc[best])
				best = sh;
		}
		acc[best] -= 1000;
		emit((enum shape)best, port);
		emitted++;
	}
	for (size_t i = 0; i < n_bins; i++)
		free(bins[i]);
	return 0;
}
