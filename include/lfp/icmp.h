/* SPDX-License-Identifier: MIT */
/**
 * @file icmp.h
 * @brief The ICMPv4 and ICMPv6 type/code tables: names, classes, exemptions.
 *
 * One table per family (lib/icmp.c) gives every known type and code a
 * kebab-case name for rule text, a one-line description and a class. The
 * rule parser (`icmp.type NAME`), `lfp icmp`, the docs (docs/icmp.md) and the
 * ICMP layers of issue 4 all read these tables; nothing else spells ICMP
 * names or classes.
 *
 * A table is a list of rows ordered by type, then code. A row either names a
 * type as a whole or names one code of a type:
 *  - a type with several codes (ICMPv4 dest-unreachable, ICMPv6
 *    time-exceeded, ...) has a type row whose code is LFP_ICMP_CODE_ANY,
 *    followed by one row per code;
 *  - a type whose only code is 0 (echo-request, packet-too-big, ...) has a
 *    single row with code 0, and that row names the type
 *    (LFP_ICMP_F_TYPE is set on every row that names a type).
 * Names are unique within a family, not across families: `echo-request` is
 * ICMPv4 type 8 and ICMPv6 type 128.
 *
 * Families are AF_INET (ICMPv4) and AF_INET6 (ICMPv6); any other family is
 * -EAFNOSUPPORT. Entries are static and never freed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a message is to the flow machinery (WFP-MODEL.md, "ICMP"). */
enum lfp_icmp_class {
	/**
	 * A query or its reply: forms its own flow keyed by type, code and the
	 * identifier field (ICMPv4 0/8, 13/14, 15/16, 17/18; ICMPv6 128/129).
	 */
	LFP_ICMP_QUERY,
	/**
	 * An error: carries the header of the packet that caused it and belongs
	 * to that packet's flow (ICMPv4 3, 4, 5, 11, 12; ICMPv6 1-4).
	 */
	LFP_ICMP_ERROR,
	/**
	 * Informational, without an identifier: flows keyed by type and code
	 * only (ICMPv4 router discovery 9/10; ICMPv6 MLD and multicast router
	 * discovery).
	 */
	LFP_ICMP_INFO,
	/**
	 * ICMPv6 neighbor discovery (RFC 4861, types 133-137, redirect
	 * included): link-local plumbing without an identifier, kept open by a
	 * default-deny policy (lfp_icmp_needed_for_nd_pmtu()).
	 */
	LFP_ICMP_ND,
};

/** Code of a row that names a type with several codes, and "any code" in lookups. */
#define LFP_ICMP_CODE_ANY (-1)

/** The row names a type (its name stands for every code of the type). */
#define LFP_ICMP_F_TYPE (1u << 0)
/**
 * Neighbor discovery or path MTU discovery needs this message: a default-deny
 * policy lets it pass unless a filter names it (issue 4).
 */
#define LFP_ICMP_F_ND_PMTU (1u << 1)
/**
 * Receivers ignore the code of this type (ICMPv6 packet-too-big, RFC 4443
 * 3.2: "set to 0 by the originator and ignored by the receiver"), so every
 * code looks this row up.
 */
#define LFP_ICMP_F_ANY_CODE (1u << 2)

/** One row of a table. */
struct lfp_icmp_entry {
	int family;		 /**< AF_INET or AF_INET6 */
	uint8_t type;		 /**< ICMP type */
	int16_t code;		 /**< 0-255, or LFP_ICMP_CODE_ANY in a type row (see @file) */
	enum lfp_icmp_class cls; /**< the same for every row of a type */
	unsigned int flags;	 /**< LFP_ICMP_F_* */
	const char *name;	 /**< kebab-case, unique within the family: "port-unreachable" */
	const char *description; /**< one line of English: "Port unreachable" */
};

/**
 * The whole table of @p family, ordered by type then code.
 * @param family AF_INET or AF_INET6.
 * @param entries set to the first row (static storage).
 * @param n set to the number of rows.
 * @return 0, or -EAFNOSUPPORT (outputs untouched).
 */
int lfp_icmp_table(int family, const struct lfp_icmp_entry **entries, size_t *n);

/**
 * Look a message up by number.
 *
 * With @p code = LFP_ICMP_CODE_ANY: the row that names @p type. With a code:
 * the row of that code; for a type whose only row names it, code 0 (or any
 * code, with LFP_ICMP_F_ANY_CODE) gives that row.
 * @param entry set to the row on success (static storage).
 * @return 0; -ENOENT when the type, or the code of a known type, is not in
 * the table (ask again with LFP_ICMP_CODE_ANY for the type's row);
 * -EAFNOSUPPORT for another family; -EINVAL for a code outside -1..255.
 */
int lfp_icmp_lookup(int family, unsigned int type, int code, const struct lfp_icmp_entry **entry);

/**
 * Look a message up by name (exact, case-sensitive: names are lowercase).
 * @param entry set to the row on success. Its type is entry->type; the name
 * denotes a single code when (entry->flags & LFP_ICMP_F_TYPE) is clear, and
 * that code is entry->code.
 * @return 0, -ENOENT (no such name in this family), -EAFNOSUPPORT.
 */
int lfp_icmp_by_name(int family, const char *name, const struct lfp_icmp_entry **entry);

/**
 * The type a type name denotes: what `icmp.type NAME` means.
 * @return the type (0-255); -ENOENT for an unknown name or a name that
 * denotes a code (`port-unreachable`); -EAFNOSUPPORT.
 */
int lfp_icmp_type_by_name(int family, const char *name);

/**
 * Whether @p type of @p family is an error message (carries the offending
 * packet's header). ICMPv4: the table's error types (3, 4, 5, 11, 12, as
 * Linux's icmp_is_err). ICMPv6: every type below 128 (RFC 4443 2.1: the high
 * bit of the type tells errors from informational messages), known or not.
 * False for another family.
 */
bool lfp_icmp_is_error(int family, unsigned int type);

/**
 * Whether @p type of @p family is a query or a query's reply (class
 * LFP_ICMP_QUERY: flows keyed by type, code and identifier). False for an
 * unknown type or family.
 */
bool lfp_icmp_is_query(int family, unsigned int type);

/**
 * The other half of a query pair: the reply type for a request and the
 * request type for a reply (ICMPv4 8 <-> 0, 13 <-> 14, 15 <-> 16,
 * 17 <-> 18; ICMPv6 128 <-> 129), so that a flow key can use one of them.
 * @return the peer type, or -ENOENT when @p type is not a query;
 * -EAFNOSUPPORT.
 */
int lfp_icmp_query_peer(int family, unsigned int type);

/**
 * Whether neighbor discovery or path MTU discovery needs the message
 * @p type / @p code: ICMPv4 3/4 (frag-needed); ICMPv6 2 (packet-too-big,
 * any code, see LFP_ICMP_F_ANY_CODE) and 133-137 with code 0 (RFC 4861
 * receivers drop other codes). A default-deny policy lets these pass unless
 * a filter names them. False for anything else, including an unknown family.
 */
bool lfp_icmp_needed_for_nd_pmtu(int family, unsigned int type, unsigned int code);

/** "query", "error", "info", "nd"; NULL for a value outside the enum. */
const char *lfp_icmp_class_name(enum lfp_icmp_class cls);

/** "v4" for AF_INET, "v6" for AF_INET6, NULL otherwise (as `lfp icmp` spells them). */
const char *lfp_icmp_family_name(int family);

#ifdef __cplusplus
}
#endif
