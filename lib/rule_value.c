// SPDX-License-Identifier: MIT
/*
 * Values of conditions, shared by the rule parser and the connection parser
 * (explain), so `remote.addr 10.0.0.1` means the same bytes in both. Every
 * value becomes a closed range (policy.h); the written form is kept so the
 * printer gives back what the user wrote, in canonical spelling.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <lfp/icmp.h>
#include "rule_int.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Filter flags in bit order, which is also the canonical print order. */
static const char *const fflag_names[] = {
	"hard", "soft", "log", "permit-if-callout-unregistered", "nolog",
};

const char *rule_fflag_name(unsigned int bit)
{
	return bit < ARRAY_SIZE(fflag_names) ? fflag_names[bit] : NULL;
}

int rule_fflag_by_name(const char *name)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(fflag_names); i++)
		if (!strcmp(fflag_names[i], name))
			return (int)(1u << i);
	return -ENOENT;
}

int rule_parse_u64(const char *s, uint64_t *out)
{
	unsigned int base = 10;
	uint64_t n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (n > (UINT64_MAX - d) / base)
			return -ERANGE;
		n = n * base + d;
	}
	*out = n;
	return 0;
}

/* Levenshtein distance, capped: names are short, so the quadratic table is fine. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *rule_suggest(const char *word, const char *const *cands, size_t n, const char *fallback,
			 char *buf, size_t bufsz)
{
	size_t best = 3, len = strlen(word);
	const char *pick = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, cands[i]);

		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	/* a one-letter word is "close" to everything short */
	if (!pick || best >= len)
		return fallback;
	snprintf(buf, bufsz, " (did you mean '%s'?)", pick);
	return buf;
}

const char *rule_suggest_layer(const char *word, const char *fallback, char *buf, size_t bufsz)
{
	const char *names[LFP_LAYER_COUNT];

	for (int i = 0; i < LFP_LAYER_COUNT; i++)
		names[i] = lfp_layer_info((enum lfp_layer)i)->name;
	return rule_suggest(word, names, LFP_LAYER_COUNT, fallback, buf, bufsz);
}

const char *rule_suggest_field(const char *word, const char *fallback, char *buf, size_t bufsz)
{
	const char *names[LFP_F_COUNT];

	for (int i = 0; i < LFP_F_COUNT; i++)
		names[i] = lfp_field_info((enum lfp_field)i)->name;
	return rule_suggest(word, names, LFP_F_COUNT, fallback, buf, bufsz);
}

static const char *field_name(enum lfp_field f)
{
	return lfp_field_info(f)->name;
}

/* ---- integers ---- */

static bool user_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 32)
		return false;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')
			continue;
		if (ch == '$' && i == len - 1)
			continue;
		return false;
	}
	return true;
}

/* dev_valid_name() of the kernel */
static bool iface_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ')
			return false;
	return true;
}

static int set_str(struct rule_ctx *c, struct lfp_value *v, const char *s)
{
	v->str = strdup(s);
	if (!v->str) {
		c->nomem = true;
		return -ENOMEM;
	}
	return 0;
}

/* A name the ICMP tables know but icmp.type does not take gets a hint with numbers. */
static void icmp_type_err(struct rule_ctx *c, const struct rule_tok *t)
{
	const struct lfp_icmp_entry *e, *te;
	const char *s = t->text;

	if ((!lfp_icmp_by_name(AF_INET, s, &e) &&
	     !lfp_icmp_lookup(AF_INET, e->type, LFP_ICMP_CODE_ANY, &te)) ||
	    (!lfp_icmp_by_name(AF_INET6, s, &e) &&
	     !lfp_icmp_lookup(AF_INET6, e->type, LFP_ICMP_CODE_ANY, &te)))
		rule_err(c, t, "'%s' is a code of %s, not a type (write icmp.type %s icmp.code %s)",
			 s, te->name, te->name, s);
	else
		rule_err(c, t, "unknown ICMP type '%s' (a number 0-255 or a name, see lfp icmp)",
			 s);
}

static int value_name(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t,
		      struct lfp_value *v)
{
	const char *s = t->text;
	char lower[32];
	int n;

	v->form = LFP_VF_NAME;
	switch (f) {
	case LFP_F_PROTO:
		n = lfp_proto_by_name(s);
		if (n < 0 || strlen(s) >= sizeof(lower))
			break;
		/* lfp_proto_by_name() ignores case; keywords print in lowercase */
		for (size_t i = 0; i <= strlen(s); i++)
			lower[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
		v->lo = v->hi = (uint64_t)n;
		return set_str(c, v, lower);
	case LFP_F_ICMP_TYPE:
		/*
		 * A type name of either family; the number is the one of the
		 * filter's family, settled once all its conditions are known
		 * (rule_icmp_family). Until then: ICMPv4's, else ICMPv6's.
		 */
		n = lfp_icmp_type_by_name(AF_INET, s);
		if (n < 0)
			n = lfp_icmp_type_by_name(AF_INET6, s);
		if (n < 0)
			break;
		v->lo = v->hi = (uint64_t)n;
		return set_str(c, v, s);
	case LFP_F_ICMP_CODE: {
		/* a code name of either family; checked against icmp.type later */
		const struct lfp_icmp_entry *e;

		if ((lfp_icmp_by_name(AF_INET, s, &e) || (e->flags & LFP_ICMP_F_TYPE)) &&
		    (lfp_icmp_by_name(AF_INET6, s, &e) || (e->flags & LFP_ICMP_F_TYPE)))
			break;
		v->lo = v->hi = (uint64_t)e->code;
		return set_str(c, v, s);
	}
	case LFP_F_USER:
	case LFP_F_GROUP:
		if (!user_name_ok(s)) {
			rule_err(c, t,
				 "invalid %s name '%s' for '%s' (a number, or a name of letters, "
				 "digits, '_', '.', '-')",
				 f == LFP_F_USER ? "user" : "group", s, field_name(f));
			return -EINVAL;
		}
		/* resolved at commit (lfp_policy_resolve) */
		return set_str(c, v, s);
	case LFP_F_IFACE:
		if (!iface_name_ok(s)) {
			rule_err(c, t,
				 "invalid interface name '%s' (at most 15 characters, no '/', "
				 "':' or blanks)",
				 s);
			return -EINVAL;
		}
		return set_str(c, v, s);
	default: break;
	}
	if (f == LFP_F_IPVER)
		rule_err(c, t, "ipver is 4 or 6, not '%s'", s);
	else if (f == LFP_F_PROTO)
		rule_err(c, t,
			 "unknown protocol '%s' (a number 0-255 or a name such as tcp, udp, "
			 "icmp, icmpv6, sctp)",
			 s);
	else if (f == LFP_F_ICMP_TYPE)
		icmp_type_err(c, t);
	else if (f == LFP_F_ICMP_CODE)
		rule_err(c, t,
			 "unknown ICMP code '%s' (a number 0-255 or a code name such as "
			 "port-unreachable, see lfp icmp)",
			 s);
	else
		rule_err(c, t, "invalid value '%s' for '%s' (a number 0-%llu or a range a-b)", s,
			 field_name(f), (unsigned long long)lfp_field_info(f)->max);
	return -EINVAL;
}

static int value_int(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t, bool single,
		     struct lfp_value *v)
{
	uint64_t max = lfp_field_info(f)->max;
	const char *s = t->text, *dash;
	uint64_t lo, hi;
	int r;

	r = rule_parse_u64(s, &lo);
	if (!r) {
		if (f == LFP_F_IPVER && lo != 4 && lo != 6) {
			rule_err(c, t, "ipver is 4 or 6, not '%s'", s);
			return -EINVAL;
		}
		if (lo > max) {
			rule_err(c, t, "value %s is out of range for '%s' (0-%llu)", s,
				 field_name(f), (unsigned long long)max);
			return -EINVAL;
		}
		v->form = LFP_VF_NUMBER;
		v->lo = v->hi = lo;
		return 0;
	}
	if (r == -ERANGE) {
		rule_err(c, t, "value %s is out of range for '%s' (0-%llu)", s, field_name(f),
			 (unsigned long long)max);
		return -EINVAL;
	}
	dash = strchr(s, '-');
	if (dash && dash != s) {
		char head[32];
		size_t hl = (size_t)(dash - s);

		if (hl < sizeof(head)) {
			memcpy(head, s, hl);
			head[hl] = 0;
			if (!rule_parse_u64(head, &lo) && !rule_parse_u64(dash + 1, &hi)) {
				if (single) {
					rule_err(c, t,
						 "'%s' is a range; a connection has single values",
						 s);
					return -EINVAL;
				}
				if (f == LFP_F_IPVER) {
					rule_err(c, t, "ipver is 4 or 6, not a range");
					return -EINVAL;
				}
				if (lo > hi) {
					rule_err(c, t, "range '%s' is reversed (%llu > %llu)", s,
						 (unsigned long long)lo, (unsigned long long)hi);
					return -EINVAL;
				}
				if (hi > max) {
					rule_err(c, t,
						 "range '%s' is out of range for '%s' (0-%llu)", s,
						 field_name(f), (unsigned long long)max);
					return -EINVAL;
				}
				v->form = LFP_VF_RANGE;
				v->lo = lo;
				v->hi = hi;
				return 0;
			}
		}
	}
	return value_name(c, f, t, v);
}

static int value_direction(struct rule_ctx *c, const struct rule_tok *t, struct lfp_value *v)
{
	const char *s = t->text;

	v->form = LFP_VF_NAME;
	if (!strcmp(s, "outbound") || !strcmp(s, "out")) {
		v->lo = v->hi = LFP_DIR_OUTBOUND;
		return set_str(c, v, "outbound");
	}
	if (!strcmp(s, "inbound") || !strcmp(s, "in")) {
		v->lo = v->hi = LFP_DIR_INBOUND;
		return set_str(c, v, "inbound");
	}
	rule_err(c, t, "direction is 'outbound' or 'inbound', not '%s'", s);
	return -EINVAL;
}

static int value_flags(struct rule_ctx *c, const struct rule_tok *t, struct lfp_value *v)
{
	const char *s = t->text;
	uint64_t mask = 0;

	for (;;) {
		size_t len = strcspn(s, "+");
		char name[32];
		int bit;

		if (!len || len >= sizeof(name)) {
			rule_err(c, t,
				 "invalid flags '%s' (names joined with '+', e.g. "
				 "loopback+redirected)",
				 t->text);
			return -EINVAL;
		}
		memcpy(name, s, len);
		name[len] = 0;
		bit = lfp_cflag_by_name(name);
		if (bit < 0) {
			rule_err(c, t,
				 "unknown connection flag '%s' (loopback, redirected, "
				 "reauthorize, raw, implicit-bind)",
				 name);
			return -EINVAL;
		}
		if (mask & (uint64_t)bit) {
			rule_err(c, t, "connection flag '%s' given twice in '%s'", name, t->text);
			return -EINVAL;
		}
		mask |= (uint64_t)bit;
		if (!s[len])
			break;
		s += len + 1;
	}
	v->form = LFP_VF_FLAGS;
	v->lo = v->hi = mask;
	return 0;
}

/* ---- paths ---- */

static int value_path(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t,
		      struct lfp_value *v)
{
	const char *s = t->text;
	size_t len = strlen(s);

	if (s[0] != '/') {
		rule_err(c, t, "%s takes an absolute path, not '%s'", field_name(f), s);
		return -EINVAL;
	}
	if (len > RULE_PATH_MAX) {
		rule_err(c, t, "%s path is longer than %d bytes", field_name(f), RULE_PATH_MAX);
		return -EINVAL;
	}
	v->form = LFP_VF_PATH;
	if (f == LFP_F_APP) {
		if (s[len - 1] == '/') {
			rule_err(c, t, "app path '%s' names a directory, not an executable", s);
			return -EINVAL;
		}
		return set_str(c, v, s);
	}
	/* cgroup: a path below the cgroup v2 root; a trailing slash is dropped */
	while (len > 1 && s[len - 1] == '/')
		len--;
	for (size_t i = 1; i < len;) {
		size_t n = strcspn(s + i, "/");

		if (n > len - i)
			n = len - i;
		if (!n || (n == 1 && s[i] == '.') || (n == 2 && s[i] == '.' && s[i + 1] == '.')) {
			rule_err(c, t, "cgroup path '%s' must not contain '.', '..' or '//'", s);
			return -EINVAL;
		}
		i += n + 1;
	}
	v->str = strndup(s, len);
	if (!v->str) {
		c->nomem = true;
		return -ENOMEM;
	}
	return 0;
}

/* ---- addresses ---- */

static bool addr_parse(const char *s, size_t len, uint8_t out[16], bool *v4)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;

	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	if (inet_pton(AF_INET6, buf, out) == 1) {
		*v4 = false;
		return true;
	}
	return false;
}

void rule_addr_ntop(const uint8_t a[16], bool v4, char *buf, size_t sz)
{
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, buf, (socklen_t)sz))
		snprintf(buf, sz, "?");
}

static int value_addr(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t, bool single,
		      struct lfp_value *v)
{
	const char *s = t->text;
	const char *dash = strchr(s, '-');
	const char *slash = strchr(s, '/');
	bool v4 = false, v4b = false;
	uint64_t plen;
	unsigned int bits;

	if (dash && !slash) {
		if (!addr_parse(s, (size_t)(dash - s), v->alo, &v4) ||
		    !addr_parse(dash + 1, strlen(dash + 1), v->ahi, &v4b))
			goto invalid;
		if (single) {
			rule_err(c, t, "'%s' is a range; a connection has single addresses", s);
			return -EINVAL;
		}
		if (v4 != v4b) {
			rule_err(c, t, "range '%s' mixes IPv4 and IPv6 addresses", s);
			return -EINVAL;
		}
		if (memcmp(v->alo, v->ahi, 16) > 0) {
			rule_err(c, t, "range '%s' is reversed (the first address is higher)", s);
			return -EINVAL;
		}
		v->form = LFP_VF_RANGE;
		v->v4 = v4;
		return 0;
	}
	if (dash)
		goto invalid;
	if (!addr_parse(s, slash ? (size_t)(slash - s) : strlen(s), v->alo, &v4))
		goto invalid;
	bits = v4 ? 32 : 128;
	plen = bits;
	if (slash) {
		const char *p = slash + 1;

		/* decimal only: a prefix length in hex would only confuse */
		if (!*p || strspn(p, "0123456789") != strlen(p) || rule_parse_u64(p, &plen)) {
			rule_err(c, t, "invalid prefix length in '%s'", s);
			return -EINVAL;
		}
		if (plen > bits) {
			rule_err(c, t, "prefix length %s is out of range for %s (0-%u)", p,
				 v4 ? "IPv4" : "IPv6", bits);
			return -EINVAL;
		}
		if (single && plen != bits) {
			rule_err(c, t, "'%s' is a prefix; a connection has single addresses", s);
			return -EINVAL;
		}
	}
	/* the range of the prefix: v4 /n is the v4-mapped /(96+n) */
	{
		unsigned int total = (unsigned int)plen + (v4 ? 96 : 0);
		bool host = false;

		memcpy(v->ahi, v->alo, 16);
		for (unsigned int i = 0; i < 128; i++) {
			uint8_t bit = (uint8_t)(0x80 >> (i % 8));

			if (i < total)
				continue;
			if (v->alo[i / 8] & bit)
				host = true;
			v->ahi[i / 8] |= bit;
		}
		if (host) {
			char net[INET6_ADDRSTRLEN];
			uint8_t a[16];

			memcpy(a, v->alo, 16);
			for (unsigned int i = total; i < 128; i++)
				a[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
			rule_addr_ntop(a, v4, net, sizeof(net));
			rule_err(c, t, "'%s' has host bits set beyond /%u (the prefix is %s/%u)", s,
				 (unsigned int)plen, net, (unsigned int)plen);
			return -EINVAL;
		}
	}
	v->form = LFP_VF_PREFIX;
	v->plen = (uint8_t)plen;
	v->v4 = v4;
	return 0;
invalid:
	rule_err(c, t, "invalid address '%s' for '%s' (IPv4 or IPv6, a prefix a/n or a range a-b)",
		 s, field_name(f));
	return -EINVAL;
}

int rule_value_parse(struct rule_ctx *c, enum lfp_field f, const struct rule_tok *t, bool single,
		     struct lfp_value *v)
{
	memset(v, 0, sizeof(*v));
	v->loc = t->loc;
	switch (f) {
	case LFP_F_APP:
	case LFP_F_CGROUP: return value_path(c, f, t, v);
	case LFP_F_LOCAL_ADDR:
	case LFP_F_REMOTE_ADDR:
	case LFP_F_ORIG_ADDR: return value_addr(c, f, t, single, v);
	case LFP_F_FLAGS: return value_flags(c, t, v);
	case LFP_F_DIRECTION: return value_direction(c, t, v);
	default: return value_int(c, f, t, single, v);
	}
}
