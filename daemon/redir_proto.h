/* SPDX-License-Identifier: MIT */
/**
 * @file redir_proto.h
 * @brief The redirector's upstream protocols: SOCKS5 (RFC 1928, username and
 * password RFC 1929) and HTTP CONNECT. Request builders and reply parsers;
 * no I/O. Replies come from the network: every parser takes any bytes
 * (tests/fuzz/fuzz_redir.c) and answers "need more", "done" or an error with
 * a message.
 *
 * Parsers return the bytes the reply took (> 0: complete; bytes after it
 * belong to the relayed stream), 0 (incomplete: call again with more), or
 * -EPROTO / -ECONNREFUSED with @p why set to a static message.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define REDIR_HTTP_REPLY_MAX 8192 /* longest HTTP CONNECT reply header accepted */

/** Method selection request: "no authentication", or "username/password" when @p auth. */
size_t socks5_greeting(uint8_t *buf, bool auth);

/** Method selection reply: the server must choose the one method offered. */
int socks5_parse_method(const uint8_t *b, size_t n, bool auth, const char **why);

/** RFC 1929 request (user and password at most 255 bytes each); buf >= 513 bytes. */
size_t socks5_auth_req(uint8_t *buf, const char *user, const char *pass);

/** RFC 1929 reply: status 0 is success. */
int socks5_parse_auth(const uint8_t *b, size_t n, const char **why);

/** CONNECT (cmd 1) or UDP ASSOCIATE (cmd 3) request for @p dst; buf >= 22 bytes. */
size_t socks5_request(uint8_t *buf, uint8_t cmd, const struct sockaddr *dst);

/** The reply to a request; @p bound (may be NULL) gets BND.ADDR:BND.PORT when it is an address. */
int socks5_parse_reply(const uint8_t *b, size_t n, struct sockaddr_storage *bound,
		       const char **why);

/** CONNECT request for @p dst. @return its length, or 0 if @p size is too small. */
size_t http_connect_req(char *buf, size_t size, const struct sockaddr *dst);

/** The proxy's reply header; @p status gets the status code. 2xx is success. */
int http_parse_reply(const uint8_t *b, size_t n, int *status, const char **why);

/** SOCKS5 UDP request header (RSV, FRAG 0, DST.ADDR, DST.PORT) for @p dst; buf >= 22 bytes. */
size_t socks5_udp_header(uint8_t *buf, const struct sockaddr *dst);

/**
 * A datagram from a SOCKS5 UDP relay: @p from (may be NULL) gets its source.
 * @return the header length (the payload follows), or -EPROTO (truncated,
 * fragmented, unknown address type) with @p why. Never 0: a datagram is whole.
 */
int socks5_udp_parse(const uint8_t *b, size_t n, struct sockaddr_storage *from,
		     const char **why);
