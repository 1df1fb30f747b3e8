// SPDX-License-Identifier: MIT
/*
 * The ICMP tables. ICMPv4 follows the seed's table (shared/seeds/000_...)
 * with the corrections WFP-MODEL.md asks for: the seed leaves 4 and 5
 * unclassified, but RFC 1122 3.2.2 and Linux's icmp_is_err() treat 3, 4, 5,
 * 11 and 12 as errors (each quotes the offending datagram); it leaves 14's
 * code blank (RFC 792: 0) and 18 unmarked (a reply, so a query). ICMPv6
 * comes from RFC 4443 (errors, echo), 4861 (neighbor discovery), 2710/3810
 * (MLD) and 4286 (multicast router discovery). docs/icmp.md explains each
 * choice; tests/unit/test_icmp.c holds the seed's rows against this.
 *
 * Linear scans: a table has about forty rows and nothing here is on a packet
 * path (the kernel side gets numbers, never names).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <lfp/icmp.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ROW(fam, t, c, cl, fl, n, d)                                                               \
	{                                                                                          \
		.family = (fam), .type = (t), .code = (c), .cls = (cl), .flags = (fl),             \
		.name = (n), .description = (d)                                                    \
	}
/* a type whose only code is 0: one row names both */
#define TYPE1(fam, t, cl, fl, n, d) ROW(fam, t, 0, cl, LFP_ICMP_F_TYPE | (fl), n, d)
/* a type with several codes: its row, then one CODE row each */
#define TYPEN(fam, t, cl, n, d)	      ROW(fam, t, LFP_ICMP_CODE_ANY, cl, LFP_ICMP_F_TYPE, n, d)
#define CODE(fam, t, c, cl, fl, n, d) ROW(fam, t, c, cl, fl, n, d)

#define Q    LFP_ICMP_QUERY
#define E    LFP_ICMP_ERROR
#define I    LFP_ICMP_INFO
#define N    LFP_ICMP_ND
#define KEEP LFP_ICMP_F_ND_PMTU

#define T1(t, cl, fl, n, d)   TYPE1(AF_INET, t, cl, fl, n, d)
#define TN(t, cl, n, d)	      TYPEN(AF_INET, t, cl, n, d)
#define C(t, c, cl, fl, n, d) CODE(AF_INET, t, c, cl, fl, n, d)
static const struct lfp_icmp_entry icmp4[] = {
	T1(0, Q, 0, "echo-reply", "Echo reply (ping reply)"),
	TN(3, E, "dest-unreachable", "Destination unreachable"),
	C(3, 0, E, 0, "net-unreachable", "Network unreachable"),
	C(3, 1, E, 0, "host-unreachable", "Host unreachable"),
	C(3, 2, E, 0, "protocol-unreachable", "Protocol unreachable"),
	C(3, 3, E, 0, "port-unreachable", "Port unreachable"),
	/* path MTU discovery (RFC 1191) lives on this one */
	C(3, 4, E, KEEP, "frag-needed",
	  "Fragmentation needed but don't-fragment set (path MTU discovery)"),
	C(3, 5, E, 0, "source-route-failed", "Source route failed"),
	C(3, 6, E, 0, "net-unknown", "Destination network unknown"),
	C(3, 7, E, 0, "host-unknown", "Destination host unknown"),
	C(3, 8, E, 0, "source-host-isolated", "Source host isolated (obsolete)"),
	C(3, 9, E, 0, "net-prohibited", "Destination network administratively prohibited"),
	C(3, 10, E, 0, "host-prohibited", "Destination host administratively prohibited"),
	C(3, 11, E, 0, "net-unreachable-for-tos", "Network unreachable for type of service"),
	C(3, 12, E, 0, "host-unreachable-for-tos", "Host unreachable for type of service"),
	C(3, 13, E, 0, "admin-prohibited",
	  "Communication administratively prohibited by filtering (RFC 1812)"),
	C(3, 14, E, 0, "host-precedence-violation", "Host precedence violation (RFC 1812)"),
	C(3, 15, E, 0, "precedence-cutoff", "Precedence cutoff in effect (RFC 1812)"),
	T1(4, E, 0, "source-quench", "Source quench (deprecated, RFC 6633)"),
	TN(5, E, "redirect", "Redirect"),
	C(5, 0, E, 0, "redirect-net", "Redirect for network"),
	C(5, 1, E, 0, "redirect-host", "Redirect for host"),
	C(5, 2, E, 0, "redirect-tos-net", "Redirect for type of service and network"),
	C(5, 3, E, 0, "redirect-tos-host", "Redirect for type of service and host"),
	T1(8, Q, 0, "echo-request", "Echo request (ping)"),
	T1(9, I, 0, "router-advertisement", "Router advertisement (RFC 1256)"),
	T1(10, I, 0, "router-solicitation", "Router solicitation (RFC 1256)"),
	TN(11, E, "time-exceeded", "Time exceeded"),
	C(11, 0, E, 0, "ttl-exceeded-in-transit", "TTL exceeded in transit"),
	C(11, 1, E, 0, "reassembly-time-exceeded", "Fragment reassembly time exceeded"),
	TN(12, E, "parameter-problem", "Parameter problem"),
	C(12, 0, E, 0, "pointer-indicates-error", "Bad IP header (the pointer locates the error)"),
	C(12, 1, E, 0, "missing-required-option", "Required option missing"),
	C(12, 2, E, 0, "bad-length", "Bad length (RFC 1812)"),
	T1(13, Q, 0, "timestamp-request", "Timestamp request"),
	T1(14, Q, 0, "timestamp-reply", "Timestamp reply"),
	T1(15, Q, 0, "info-request", "Information request (deprecated, RFC 6918)"),
	T1(16, Q, 0, "info-reply", "Information reply (deprecated, RFC 6918)"),
	T1(17, Q, 0, "address-mask-request",
	   "Address mask request (RFC 950; deprecated, RFC 6918)"),
	T1(18, Q, 0, "address-mask-reply", "Address mask reply (RFC 950; deprecated, RFC 6918)"),
};
#undef T1
#undef TN
#undef C

#define T1(t, cl, fl, n, d)   TYPE1(AF_INET6, t, cl, fl, n, d)
#define TN(t, cl, n, d)	      TYPEN(AF_INET6, t, cl, n, d)
#define C(t, c, cl, fl, n, d) CODE(AF_INET6, t, c, cl, fl, n, d)
static const struct lfp_icmp_entry icmp6[] = {
	TN(1, E, "dest-unreachable", "Destination unreachable"),
	C(1, 0, E, 0, "no-route", "No route to destination"),
	C(1, 1, E, 0, "admin-prohibited",
	  "Communication with destination administratively prohibited"),
	C(1, 2, E, 0, "beyond-scope", "Beyond scope of source address"),
	C(1, 3, E, 0, "addr-unreachable", "Address unreachable"),
	C(1, 4, E, 0, "port-unreachable", "Port unreachable"),
	C(1, 5, E, 0, "source-policy-failed", "Source address failed ingress/egress policy"),
	C(1, 6, E, 0, "reject-route", "Reject route to destination"),
	C(1, 7, E, 0, "source-routing-error", "Error in source routing header (RFC 6554)"),
	/* a router may set any code; RFC 4443 3.2 makes receivers ignore it */
	T1(2, E, KEEP | LFP_ICMP_F_ANY_CODE, "packet-too-big",
	   "Packet too big (path MTU discovery)"),
	TN(3, E, "time-exceeded", "Time exceeded"),
	C(3, 0, E, 0, "hop-limit-exceeded-in-transit", "Hop limit exceeded in transit"),
	C(3, 1, E, 0, "reassembly-time-exceeded", "Fragment reassembly time exceeded"),
	TN(4, E, "parameter-problem", "Parameter problem"),
	C(4, 0, E, 0, "erroneous-header-field", "Erroneous header field encountered"),
	C(4, 1, E, 0, "unrecognized-next-header", "Unrecognized next header type encountered"),
	C(4, 2, E, 0, "unrecognized-option", "Unrecognized IPv6 option encountered"),
	C(4, 3, E, 0, "incomplete-header-chain",
	  "First fragment has an incomplete header chain (RFC 7112)"),
	T1(128, Q, 0, "echo-request", "Echo request (ping)"),
	T1(129, Q, 0, "echo-reply", "Echo reply (ping reply)"),
	T1(130, I, 0, "mld-query", "Multicast listener query (MLD, RFC 2710, 3810)"),
	T1(131, I, 0, "mld-report", "Multicast listener report, version 1 (RFC 2710)"),
	T1(132, I, 0, "mld-done", "Multicast listener done (RFC 2710)"),
	/* RFC 4861 7.1.1 and friends: a code other than 0 is dropped by the receiver */
	T1(133, N, KEEP, "router-solicitation", "Router solicitation (neighbor discovery)"),
	T1(134, N, KEEP, "router-advertisement", "Router advertisement (neighbor discovery)"),
	T1(135, N, KEEP, "neighbor-solicitation", "Neighbor solicitation (neighbor discovery)"),
	T1(136, N, KEEP, "neighbor-advertisement", "Neighbor advertisement (neighbor discovery)"),
	T1(137, N, KEEP, "redirect", "Redirect (neighbor discovery)"),
	T1(143, I, 0, "mld2-report", "Multicast listener report, version 2 (RFC 3810)"),
	T1(151, I, 0, "mrd-advertisement", "Multicast router advertisement (RFC 4286)"),
	T1(152, I, 0, "mrd-solicitation", "Multicast router solicitation (RFC 4286)"),
	T1(153, I, 0, "mrd-termination", "Multicast router termination (RFC 4286)"),
};
#undef T1
#undef TN
#undef C
#undef Q
#undef E
#undef I
#undef N
#undef KEEP

/* Query pairs: request first. Kept beside the tables so the classes and pairs agree. */
static const uint8_t pairs4[][2] = { { 8, 0 }, { 13, 14 }, { 15, 16 }, { 17, 18 } };
static const uint8_t pairs6[][2] = { { 128, 129 } };

static const char *const class_names[] = {
	[LFP_ICMP_QUERY] = "query",
	[LFP_ICMP_ERROR] = "error",
	[LFP_ICMP_INFO] = "info",
	[LFP_ICMP_ND] = "nd",
};

int lfp_icmp_table(int family, const struct lfp_icmp_entry **entries, size_t *n)
{
	if (family == AF_INET) {
		*entries = icmp4;
		*n = ARRAY_SIZE(icmp4);
	} else if (family == AF_INET6) {
		*entries = icmp6;
		*n = ARRAY_SIZE(icmp6);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

int lfp_icmp_lookup(int family, unsigned int type, int code, const struct lfp_icmp_entry **entry)
{
	const struct lfp_icmp_entry *t, *type_row = NULL;
	size_t n;
	int r;

	r = lfp_icmp_table(family, &t, &n);
	if (r)
		return r;
	if (type > 255 || code < LFP_ICMP_CODE_ANY || code > 255)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (t[i].type != type)
			continue;
		if (t[i].flags & LFP_ICMP_F_TYPE)
			type_row = &t[i];
		if (code != LFP_ICMP_CODE_ANY && t[i].code == code) {
			*entry = &t[i];
			return 0;
		}
	}
	if (type_row && (code == LFP_ICMP_CODE_ANY || (type_row->flags & LFP_ICMP_F_ANY_CODE))) {
		*entry = type_row;
		return 0;
	}
	return -ENOENT;
}

int lfp_icmp_by_name(int family, const char *name, const struct lfp_icmp_entry **entry)
{
	const struct lfp_icmp_entry *t;
	size_t n;
	int r;

	r = lfp_icmp_table(family, &t, &n);
	if (r)
		return r;
	if (!name)
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(t[i].name, name)) {
			*entry = &t[i];
			return 0;
		}
	}
	return -ENOENT;
}

int lfp_icmp_type_by_name(int family, const char *name)
{
	const struct lfp_icmp_entry *e;
	int r;

	r = lfp_icmp_by_name(family, name, &e);
	if (r)
		return r;
	return (e->flags & LFP_ICMP_F_TYPE) ? e->type : -ENOENT;
}

bool lfp_icmp_is_error(int family, unsigned int type)
{
	const struct lfp_icmp_entry *e;

	/* ICMPv6 defines the class by the type's high bit, so unassigned errors count too */
	if (family == AF_INET6)
		return type < 128;
	return !lfp_icmp_lookup(family, type, LFP_ICMP_CODE_ANY, &e) && e->cls == LFP_ICMP_ERROR;
}

bool lfp_icmp_is_query(int family, unsigned int type)
{
	const struct lfp_icmp_entry *e;

	return !lfp_icmp_lookup(family, type, LFP_ICMP_CODE_ANY, &e) && e->cls == LFP_ICMP_QUERY;
}

int lfp_icmp_query_peer(int family, unsigned int type)
{
	const uint8_t(*p)[2];
	size_t n;

	if (family == AF_INET) {
		p = pairs4;
		n = ARRAY_SIZE(pairs4);
	} else if (family == AF_INET6) {
		p = pairs6;
		n = ARRAY_SIZE(pairs6);
	} else {
		return -EAFNOSUPPORT;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i][0] == type)
			return p[i][1];
		if (p[i][1] == type)
			return p[i][0];
	}
	return -ENOENT;
}

bool lfp_icmp_needed_for_nd_pmtu(int family, unsigned int type, unsigned int code)
{
	const struct lfp_icmp_entry *e;

	if (code > 255)
		return false;
	return !lfp_icmp_lookup(family, type, (int)code, &e) && (e->flags & LFP_ICMP_F_ND_PMTU);
}

const char *lfp_icmp_class_name(enum lfp_icmp_class cls)
{
	if ((unsigned int)cls >= ARRAY_SIZE(class_names))
		return NULL;
	return class_names[cls];
}

const char *lfp_icmp_family_name(int family)
{
	if (family == AF_INET)
		return "v4";
	if (family == AF_INET6)
		return "v6";
	return NULL;
}
