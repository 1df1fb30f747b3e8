/* SPDX-License-Identifier: MIT */
/**
 * @file event.h
 * @brief A net event as lfpd reports it (decoded from the kernel's struct
 * lfp_event, with the executable path and filter name filled in), its JSON
 * form (`lfp monitor --json`, the API) and its one-line text form.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>

struct lfp_event_rec {
	uint64_t time_ns;	 /**< CLOCK_REALTIME, ns */
	const char *verdict;	 /**< "permit", "block", "veto", "pend", "redirect" */
	const char *layer;	 /**< "auth-connect" */
	uint64_t filter_id;	 /**< 0: no filter (default permit) */
	const char *filter_name; /**< or NULL */
	uint32_t pid, uid, gid;
	uint64_t cgroup;
	const char *path; /**< executable path, or NULL when unknown */
	const char *comm;
	const char *proto; /**< "tcp", "udp", or a number as text */
	int ipver;
	char laddr[64], raddr[64]; /**< printable addresses */
	uint16_t lport, rport;
	uint64_t cookie;
	char flags[96]; /**< connection flags by name, "loopback+reauthorize", or "" */
	char oaddr[64]; /**< original destination of a redirected flow, "" when none */
	uint16_t oport;
	bool has_bytes;		      /**< a finished redirected flow: bytes_out/bytes_in are set */
	uint64_t bytes_out, bytes_in; /**< bytes the application sent / received through it */
	const char *note; /**< redirector: the upstream, or why the flow failed; or NULL */
	bool icmp;	  /**< ICMP or ICMPv6: icmp_type and icmp_code are set */
	uint8_t icmp_type, icmp_code;
	const char *reason;    /**< a discard: the kernel's drop reason ("NO_SOCKET"), or NULL */
	const char *direction; /**< datagram-data, stream: "in" or "out"; else NULL */
	bool has_data;	       /**< a payload excerpt (inspection callout): data_len, data */
	uint32_t data_len;     /**< the payload's length */
	size_t n_data;	       /**< bytes of it in data[] */
	uint8_t data[128];     /**< its first bytes (LFP_DATA_EXCERPT) */
};

/** Names of the LFP_CF_* bits in @p flags joined with '+' ("" for none). */
void lfp_event_flags_format(uint32_t flags, char *buf, size_t size);

/** JSON object for @p e (new reference). */
json_t *lfp_event_rec_to_json(const struct lfp_event_rec *e);

/**
 * Fill @p e from @p j. String members point into @p j (keep it alive).
 * @return 0 or -EINVAL.
 */
int lfp_event_rec_from_json(struct lfp_event_rec *e, const json_t *j);

/**
 * One line, the seed's log in spirit:
 * `2026-11-22T04:01:02.123Z block auth-connect filter=3(no-curl) pid=1234
 *  path=/usr/bin/curl uid=1000 proto=tcp local=10.0.0.1:43210 remote=93.184.216.34:443`
 */
int lfp_event_rec_format(const struct lfp_event_rec *e, char *buf, size_t size);

/** Printable address from 16 bytes (v4-mapped printed as IPv4). */
void lfp_addr_format(const uint8_t addr[16], char *buf, size_t size);
