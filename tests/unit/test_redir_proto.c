// SPDX-License-Identifier: MIT
/* The redirector's upstream protocols (daemon/redir_proto.c): requests byte for byte,
 * replies complete / incomplete / refused / malformed. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "redir_proto.h"

#define B(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void test_socks5_requests(void **st)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(443) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
	uint8_t buf[600];

	(void)st;
	assert_int_equal(socks5_greeting(buf, false), 3);
	assert_memory_equal(buf, "\x05\x01\x00", 3);
	assert_int_equal(socks5_greeting(buf, true), 3);
	assert_memory_equal(buf, "\x05\x01\x02", 3);
	assert_int_equal(socks5_auth_req(buf, "alice", "pw"), 10);
	assert_memory_equal(buf, "\x01\x05" "alice\x02pw", 10);
	inet_pton(AF_INET, "93.184.216.34", &a4.sin_addr);
	assert_int_equal(socks5_request(buf, 1, (struct sockaddr *)&a4), 10);
	assert_memory_equal(buf, "\x05\x01\x00\x01\x5d\xb8\xd8\x22\x01\xbb", 10);
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_int_equal(socks5_request(buf, 3, (struct sockaddr *)&a6), 22);
	assert_memory_equal(buf, "\x05\x03\x00\x04", 4);
	assert_int_equal(buf[19], 1);
	assert_memory_equal(buf + 20, "\x00\x50", 2);
}

static void test_socks5_replies(void **st)
{
	struct sockaddr_storage ss;
	const char *why = NULL;

	(void)st;
	assert_int_equal(socks5_parse_method(B("\x05"), false, &why), 0);
	assert_int_equal(socks5_parse_method(B("\x05\x00"), false, &why), 2);
	assert_int_equal(socks5_parse_method(B("\x05\x02"), false, &why), -EPROTO);
	assert_int_equal(socks5_parse_method(B("\x05\xff"), true, &why), -ECONNREFUSED);
	assert_string_equal(why, "the SOCKS5 server refused username/password authentication");
	assert_int_equal(socks5_parse_method(B("\x04\x00"), false, &why), -EPROTO);
	assert_int_equal(socks5_parse_auth(B("\x01\x00"), &why), 2);
	assert_int_equal(socks5_parse_auth(B("\x01\x01"), &why), -ECONNREFUSED);
	/* complete v4 reply followed by stream bytes: the reply alone is consumed */
	assert_int_equal(socks5_parse_reply(B("\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38" "220 hi"),
					    &ss, &why),
			 10);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(socks5_parse_reply(B("\x05\x00\x00\x01\x7f\x00"), &ss, &why), 0);
	assert_int_equal(socks5_parse_reply(B("\x05\x00\x00\x03\x03" "abc\x00\x50"), &ss, &why),
			 10);
	assert_int_equal(socks5_parse_reply(B("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"), &ss,
					    &why),
			 -ECONNREFUSED);
	assert_string_equal(why, "connection refused");
	assert_int_equal(socks5_parse_reply(B("\x05\x00\x00\x07\x00\x00\x00\x00\x00\x00"), &ss,
					    &why),
			 -EPROTO);
}

static void test_http(void **st)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(8080) };
	const char *why = NULL;
	char buf[128];
	int status = 0;

	(void)st;
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_int_equal(http_connect_req(buf, sizeof(buf), (struct sockaddr *)&a6), 49);
	assert_string_equal(buf, "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
	assert_int_equal(http_connect_req(buf, 10, (struct sockaddr *)&a6), 0);
	assert_int_equal(http_parse_reply(B("HTTP/1.1 200 OK\r\n\r\nbanner"), &status, &why), 19);
	assert_int_equal(status, 200);
	assert_int_equal(http_parse_reply(B("HTTP/1.0 200"), &status, &why), 0);
	assert_int_equal(http_parse_reply(B("HTTP/1.1 407 Auth\r\n\r\n"), &status, &why),
			 -ECONNREFUSED);
	assert_string_equal(why, "the HTTP proxy requires authentication");
	assert_int_equal(http_parse_reply(B("SSH-2.0-x\r\n"), &status, &why), -EPROTO);
	assert_int_equal(http_parse_reply(B("HTTP/1.1 2x0 OK\r\n\r\n"), &status, &why), -EPROTO);
}

static void test_socks5_udp(void **st)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(53) };
	struct sockaddr_storage from;
	const char *why = NULL;
	uint8_t buf[32];

	(void)st;
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	assert_int_equal(socks5_udp_header(buf, (struct sockaddr *)&a4), 10);
	assert_memory_equal(buf, "\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35", 10);
	assert_int_equal(socks5_udp_parse(B("\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35" "dns"),
					  &from, &why),
			 10);
	assert_int_equal(((struct sockaddr_in *)&from)->sin_port, htons(53));
	assert_int_equal(socks5_udp_parse(B("\x00\x00\x01\x01\x7f\x00\x00\x01\x00\x35"), &from,
					  &why),
			 -EPROTO);
	assert_string_equal(why, "fragmented SOCKS5 UDP datagram (not supported)");
	assert_int_equal(socks5_udp_parse(B("\x00\x00\x00\x04\x00"), &from, &why), -EPROTO);
	assert_int_equal(socks5_udp_parse(B("\x00\x00"), &from, &why), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socks5_requests),
		cmocka_unit_test(test_socks5_replies),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_socks5_udp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
