// SPDX-License-Identifier: MIT
/*
 * SOCKS5 and HTTP CONNECT, as the redirector speaks them to an upstream
 * (redir_proto.h). Replies are untrusted network input: every length is
 * checked before it is used, and anything unexpected is an error that
 * fails the one flow, never the redirector.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "redir_proto.h"

size_t socks5_greeting(uint8_t *buf, bool auth)
{
	buf[0] = 5;
	buf[1] = 1;
	buf[2] = auth ? 2 : 0;
	return 3;
}

int socks5_parse_method(const uint8_t *b, size_t n, bool auth, const char **why)
{
	if (n < 2)
		return 0;
	if (b[0] != 5) {
		*why = "not a SOCKS5 server (bad version in the method reply)";
		return -EPROTO;
	}
	if (b[1] == 0xff) {
		*why = auth ? "the SOCKS5 server refused username/password authentication"
			    : "the SOCKS5 server requires authentication";
		return -ECONNREFUSED;
	}
	if (b[1] != (auth ? 2 : 0)) {
		*why = "the SOCKS5 server chose a method that was not offered";
		return -EPROTO;
	}
	return 2;
}

size_t socks5_auth_req(uint8_t *buf, const char *user, const char *pass)
{
	size_t ul = strnlen(user, 255), pl = strnlen(pass, 255);

	buf[0] = 1;
	buf[1] = (uint8_t)ul;
	memcpy(buf + 2, user, ul);
	buf[2 + ul] = (uint8_t)pl;
	memcpy(buf + 3 + ul, pass, pl);
	return 3 + ul + pl;
}

int socks5_parse_auth(const uint8_t *b, size_t n, const char **why)
{
	if (n < 2)
		return 0;
	if (b[0] != 1) {
		*why = "bad version in the SOCKS5 authentication reply";
		return -EPROTO;
	}
	if (b[1] != 0) {
		*why = "the SOCKS5 server rejected the username/password";
		return -ECONNREFUSED;
	}
	return 2;
}

size_t socks5_request(uint8_t *buf, uint8_t cmd, const struct sockaddr *dst)
{
	size_t n = 4;

	buf[0] = 5;
	buf[1] = cmd;
	buf[2] = 0;
	if (dst->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)dst;

		buf[3] = 4;
		memcpy(buf + n, &a6->sin6_addr, 16);
		n += 16;
		memcpy(buf + n, &a6->sin6_port, 2);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)dst;

		buf[3] = 1;
		memcpy(buf + n, &a4->sin_addr, 4);
		n += 4;
		memcpy(buf + n, &a4->sin_port, 2);
	}
	return n + 2;
}

static const char *socks5_rep_text(uint8_t rep)
{
	static const char *const t[] = {
		[1] = "general SOCKS server failure",
		[2] = "connection not allowed by ruleset",
		[3] = "network unreachable",
		[4] = "host unreachable",
		[5] = "connection refused",
		[6] = "TTL expired",
		[7] = "command not supported",
		[8] = "address type not supported",
	};

	return rep < sizeof(t) / sizeof(t[0]) && t[rep] ? t[rep] : "unknown SOCKS5 error";
}

int socks5_parse_reply(const uint8_t *b, size_t n, struct sockaddr_storage *bound,
		       const char **why)
{
	size_t need;

	if (n < 4)
		return 0;
	if (b[0] != 5 || b[2] != 0) {
		*why = "malformed SOCKS5 reply";
		return -EPROTO;
	}
	if (b[1] != 0) {
		*why = socks5_rep_text(b[1]);
		return -ECONNREFUSED;
	}
	switch (b[3]) {
	case 1: need = 4 + 4 + 2; break;
	case 4: need = 4 + 16 + 2; break;
	case 3:
		if (n < 5)
			return 0;
		need = 4 + 1 + (size_t)b[4] + 2;
		break;
	default: *why = "unknown address type in the SOCKS5 reply"; return -EPROTO;
	}
	if (n < need)
		return 0;
	if (bound) {
		memset(bound, 0, sizeof(*bound));
		if (b[3] == 1) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)bound;

			a4->sin_family = AF_INET;
			memcpy(&a4->sin_addr, b + 4, 4);
			memcpy(&a4->sin_port, b + 8, 2);
		} else if (b[3] == 4) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)bound;

			a6->sin6_family = AF_INET6;
			memcpy(&a6->sin6_addr, b + 4, 16);
			memcpy(&a6->sin6_port, b + 20, 2);
		}
	}
	return (int)need;
}

size_t http_connect_req(char *buf, size_t size, const struct sockaddr *dst)
{
	char host[INET6_ADDRSTRLEN + 2];
	unsigned port;
	int n;

	if (dst->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)dst;

		host[0] = '[';
		inet_ntop(AF_INET6, &a6->sin6_addr, host + 1, INET6_ADDRSTRLEN);
		strcat(host, "]");
		port = ntohs(a6->sin6_port);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)dst;

		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		port = ntohs(a4->sin_port);
	}
	n = snprintf(buf, size, "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", host, port, host,
		     port);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

int http_parse_reply(const uint8_t *b, size_t n, int *status, const char **why)
{
	size_t end = 0;

	for (size_t i = 3; i < n; i++) {
		if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
			end = i + 1;
			break;
		}
	}
	if (!end) {
		if (n >= REDIR_HTTP_REPLY_MAX) {
			*why = "the HTTP proxy's reply header is too long";
			return -EPROTO;
		}
		if (n >= 5 && memcmp(b, "HTTP/", 5)) {
			*why = "not an HTTP reply from the proxy";
			return -EPROTO;
		}
		return 0;
	}
	if (end > REDIR_HTTP_REPLY_MAX) {
		*why = "the HTTP proxy's reply header is too long";
		return -EPROTO;
	}
	/* "HTTP/1.x SSS" */
	if (end < 12 || memcmp(b, "HTTP/1.", 7) || (b[7] != '0' && b[7] != '1') || b[8] != ' ' ||
	    b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' ||
	    (end > 12 && b[12] != ' ' && b[12] != '\r')) {
		*why = "malformed HTTP status line from the proxy";
		return -EPROTO;
	}
	*status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (*status / 100 != 2) {
		*why = *status == 407 ? "the HTTP proxy requires authentication"
		       : *status == 403 ? "the HTTP proxy refused the CONNECT (403)"
		       : *status == 502 || *status == 504
			       ? "the HTTP proxy could not reach the destination"
			       : "the HTTP proxy refused the CONNECT";
		return -ECONNREFUSED;
	}
	return (int)end;
}

size_t socks5_udp_header(uint8_t *buf, const struct sockaddr *dst)
{
	/* the same layout as a request after VER CMD: RSV RSV FRAG ATYP ADDR PORT */
	size_t n = socks5_request(buf, 0, dst);

	buf[0] = 0;
	buf[1] = 0;
	buf[2] = 0;
	return n;
}

int socks5_udp_parse(const uint8_t *b, size_t n, struct sockaddr_storage *from,
		     const char **why)
{
	size_t need;

	if (n < 4) {
		*why = "truncated SOCKS5 UDP datagram";
		return -EPROTO;
	}
	if (b[0] || b[1]) {
		*why = "malformed SOCKS5 UDP datagram";
		return -EPROTO;
	}
	if (b[2]) {
		*why = "fragmented SOCKS5 UDP datagram (not supported)";
		return -EPROTO;
	}
	switch (b[3]) {
	case 1: need = 4 + 4 + 2; break;
	case 4: need = 4 + 16 + 2; break;
	case 3: need = n > 4 ? 4 + 1 + (size_t)b[4] + 2 : 5 + 2; break;
	default: *why = "unknown address type in a SOCKS5 UDP datagram"; return -EPROTO;
	}
	if (n < need) {
		*why = "truncated SOCKS5 UDP datagram";
		return -EPROTO;
	}
	if (from) {
		memset(from, 0, sizeof(*from));
		if (b[3] == 1) {
			struct sockaddr_in *a4 = (struct sockaddr_in *)from;

			a4->sin_family = AF_INET;
			memcpy(&a4->sin_addr, b + 4, 4);
			memcpy(&a4->sin_port, b + 8, 2);
		} else if (b[3] == 4) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)from;

			a6->sin6_family = AF_INET6;
			memcpy(&a6->sin6_addr, b + 4, 16);
			memcpy(&a6->sin6_port, b + 20, 2);
		}
	}
	return (int)need;
}
