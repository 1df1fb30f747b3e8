// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the redirector's upstream reply parsers (daemon/redir_proto.c).
 * The first byte picks the parser; the rest is what an upstream sent. Besides
 * not crashing, a parser must never claim more bytes than it was given, and a
 * complete reply must stay complete with more bytes behind it (the stream
 * that follows a reply is not part of it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "redir_proto.h"

static int parse(uint8_t which, const uint8_t *b, size_t n)
{
	struct sockaddr_storage ss;
	const char *why = NULL;
	int st = 0, r;

	switch (which % 6) {
	case 0: r = socks5_parse_method(b, n, false, &why); break;
	case 1: r = socks5_parse_method(b, n, true, &why); break;
	case 2: r = socks5_parse_auth(b, n, &why); break;
	case 3: r = socks5_parse_reply(b, n, &ss, &why); break;
	case 5:
		/* a datagram is whole: never "incomplete" */
		r = socks5_udp_parse(b, n, &ss, &why);
		if (r == 0)
			abort();
		return r < 0 ? r : 0; /* no "more bytes" property: the payload follows */
	default:
		r = http_parse_reply(b, n, &st, &why);
		if (r > 0 && (st < 200 || st > 299))
			abort();
		break;
	}
	if (r > (int)n)
		abort();
	if (r < 0 && !why)
		abort(); /* every error says why */
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *more;
	int r;

	if (size < 1)
		return 0;
	r = parse(data[0], data + 1, size - 1);
	if (r > 0) {
		more = malloc(size - 1 + 16);
		if (!more)
			return 0;
		memcpy(more, data + 1, size - 1);
		memset(more + size - 1, 'x', 16);
		if (parse(data[0], more, size - 1 + 16) != r)
			abort();
		free(more);
	}
	return 0;
}
