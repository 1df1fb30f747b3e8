// SPDX-License-Identifier: MIT
/* The callout registry and the pending table (daemon/callout.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lfp/oracle.h>
#include "pend.h"

static void test_registry(void **state)
{
	struct callout_registry r = { 0 };
	const struct callout_reg *e;

	(void)state;
	assert_int_equal(callout_registry_add(&r, "count", LFP_CALLOUT_INSPECTION, 0), 0);
	assert_int_equal(callout_registry_add(&r, "ids", LFP_CALLOUT_TERMINATING, 7), 0);
	assert_int_equal(callout_registry_add(&r, "ids", LFP_CALLOUT_TERMINATING, 8), -EEXIST);
	assert_int_equal(callout_registry_add(&r, "count", LFP_CALLOUT_TERMINATING, 8), -EEXIST);
	/* names the rule language can write, types that exist */
	assert_int_equal(callout_registry_add(&r, "", LFP_CALLOUT_TERMINATING, 8), -EINVAL);
	assert_int_equal(callout_registry_add(&r, NULL, LFP_CALLOUT_TERMINATING, 8), -EINVAL);
	assert_int_equal(callout_registry_add(&r, "9lives", LFP_CALLOUT_TERMINATING, 8), -EINVAL);
	assert_int_equal(callout_registry_add(&r, "a b", LFP_CALLOUT_TERMINATING, 8), -EINVAL);
	assert_int_equal(callout_registry_add(&r, "x", 17, 8), -EINVAL);
	{
		char longname[80];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		assert_int_equal(callout_registry_add(&r, longname, 0, 8), -EINVAL);
		longname[PEND_CALLOUT_NAME_MAX] = 0;
		assert_int_equal(callout_registry_add(&r, longname, 0, 8), 0);
		assert_int_equal(callout_registry_del(&r, longname, 8), 0);
	}
	e = callout_registry_find(&r, "ids");
	assert_non_null(e);
	assert_int_equal(e->session, 7);
	assert_int_equal(e->type, LFP_CALLOUT_TERMINATING);
	assert_null(callout_registry_find(&r, "nope"));
	assert_null(callout_registry_find(&r, NULL));

	/* a per-callout classify timeout: 0 (the default) or within the bounds */
	assert_int_equal(callout_registry_set_timeout(&r, "ids", 1500), 0);
	assert_int_equal(callout_registry_find(&r, "ids")->timeout_ms, 1500);
	assert_int_equal(callout_registry_set_timeout(&r, "ids", PEND_CALLOUT_TIMEOUT_MIN_MS - 1),
			 -ERANGE);
	assert_int_equal(callout_registry_set_timeout(&r, "ids", PEND_CALLOUT_TIMEOUT_MAX_MS + 1),
			 -ERANGE);
	assert_int_equal(callout_registry_find(&r, "ids")->timeout_ms, 1500);
	assert_int_equal(callout_registry_set_timeout(&r, "ids", 0), 0);
	assert_int_equal(callout_registry_find(&r, "ids")->timeout_ms, 0);
	assert_int_equal(callout_registry_set_timeout(&r, "nope", 1500), -ENOENT);

	/* only the owner unregisters; built-ins never */
	assert_int_equal(callout_registry_del(&r, "ids", 8), -EPERM);
	assert_int_equal(callout_registry_del(&r, "count", 0), -EPERM);
	assert_int_equal(callout_registry_del(&r, "nope", 7), -ENOENT);
	assert_int_equal(callout_registry_del(&r, "ids", 7), 0);
	assert_null(callout_registry_find(&r, "ids"));

	/* a session's callouts vanish with it, others stay */
	assert_int_equal(callout_registry_add(&r, "a", LFP_CALLOUT_TERMINATING, 9), 0);
	assert_int_equal(callout_registry_add(&r, "b", LFP_CALLOUT_UNKNOWN, 10), 0);
	assert_int_equal(callout_registry_add(&r, "c", LFP_CALLOUT_INSPECTION, 9), 0);
	assert_int_equal(callout_registry_drop_session(&r, 9), 2);
	assert_int_equal(callout_registry_drop_session(&r, 0), 0); /* built-ins stay */
	assert_int_equal(r.n, 2);
	assert_non_null(callout_registry_find(&r, "count"));
	assert_non_null(callout_registry_find(&r, "b"));
	callout_registry_fini(&r);
}

static struct pend_flow *flow(uint8_t tag, uint64_t deadline)
{
	struct pend_flow *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->key[0] = tag;
	f->deadline_ms = deadline;
	return f;
}

static void test_table(void **state)
{
	struct pend_table t = { 0 };
	struct pend_flow *a = flow(1, 500), *b = flow(2, 100), *c = flow(3, 0);
	uint8_t key[40] = { 2 };

	(void)state;
	assert_int_equal(pend_table_add(&t, a), 1);
	assert_int_equal(pend_table_add(&t, b), 2);
	assert_int_equal(pend_table_add(&t, c), 3);
	assert_ptr_equal(pend_table_find(&t, 2), b);
	assert_null(pend_table_find(&t, 4));
	assert_ptr_equal(pend_table_find_key(&t, key), b);
	key[0] = 9;
	assert_null(pend_table_find_key(&t, key));

	/* deadlines: none due, then only b, a flow without deadline never */
	assert_null(pend_table_expired(&t, 99));
	assert_ptr_equal(pend_table_expired(&t, 100), b);
	pend_table_remove(&t, b);
	pend_flow_free(b);
	assert_null(pend_table_expired(&t, 499));
	assert_ptr_equal(pend_table_expired(&t, 10000), a);

	/* order kept, ids never reused */
	assert_int_equal(t.n, 2);
	assert_ptr_equal(t.v[0], a);
	assert_ptr_equal(t.v[1], c);
	assert_int_equal(pend_table_add(&t, flow(4, 0)), 4);
	for (int i = 0; i < 100; i++)
		assert_int_equal(pend_table_add(&t, flow(5, 0)), 5 + i);
	assert_int_equal(t.n, 103);
	pend_table_fini(&t);
	assert_int_equal(t.n, 0);
}

static void test_verdict_words(void **state)
{
	(void)state;
	assert_int_equal(pend_verdict_parse("permit"), 0);
	assert_int_equal(pend_verdict_parse("block"), 1);
	assert_int_equal(pend_verdict_parse("continue"), 2);
	assert_int_equal(pend_verdict_parse("Permit"), -EINVAL);
	assert_int_equal(pend_verdict_parse(""), -EINVAL);
	assert_int_equal(pend_verdict_parse(NULL), -EINVAL);
}

/* flow-delete watches: a watch ends when its cookie is no longer live, once */
static void note_ended(void *ctx, const struct flow_watch *fw)
{
	uint64_t *ids = ctx;

	ids[ids[0]++ + 1] = fw->id;
}

static struct flow_watch cookie_watch(uint64_t cookie, uint64_t id, uint64_t session,
				      const char *callout)
{
	return (struct flow_watch){ .cookie = cookie,
				    .id = id,
				    .session = session,
				    .callout = (char *)callout,
				    .proto = 6 };
}

static struct flow_live live_tcp(uint64_t cookie, bool over)
{
	return (struct flow_live){ .cookie = cookie, .proto = 6, .over = over };
}

static void test_flow_watch(void **state)
{
	struct flow_watches w = { 0 };
	uint64_t ids[8] = { 0 };
	struct flow_watch spec;
	struct flow_live live[] = { live_tcp(30, false), live_tcp(5, false), live_tcp(9, false) };

	(void)state;
	flow_live_sort(live, 3);
	spec = cookie_watch(0, 1, 7, "c"); /* no cookie and not an inbound TCP tuple */
	assert_int_equal(flow_watch_add(&w, &spec, 0), -EINVAL);
	spec = cookie_watch(5, 1, 0, "c"); /* no session */
	assert_int_equal(flow_watch_add(&w, &spec, 0), -EINVAL);
	spec = cookie_watch(5, 1, 7, "c");
	spec.proto = 1;
	assert_int_equal(flow_watch_add(&w, &spec, 0), -EINVAL);
	spec = cookie_watch(5, 1, 7, "c");
	assert_int_equal(flow_watch_add(&w, &spec, 0), 0);
	spec = cookie_watch(6, 2, 7, "c");
	assert_int_equal(flow_watch_add(&w, &spec, 0), 0);
	spec = cookie_watch(9, 3, 8, "d");
	assert_int_equal(flow_watch_add(&w, &spec, 0), 0);
	spec = cookie_watch(10, 4, 8, "d");
	assert_int_equal(flow_watch_add(&w, &spec, 0), 0);
	/* 6 and 10 are gone: their requests 2 and 4 end, 5 and 9 stay */
	assert_int_equal(flow_watch_sweep(&w, live, 3, 100, NULL, note_ended, ids), 2);
	assert_int_equal(ids[0], 2);
	assert_true((ids[1] == 2 && ids[2] == 4) || (ids[1] == 4 && ids[2] == 2));
	assert_int_equal(w.n, 2);
	/* nothing more ended: no second notification */
	assert_int_equal(flow_watch_sweep(&w, live, 3, 200, NULL, note_ended, ids), 0);
	/* a socket in TIME_WAIT or CLOSE lingers, its flow is over */
	live[2].over = true; /* cookie 30: nobody's */
	assert_int_equal(flow_watch_sweep(&w, live, 3, 300, NULL, note_ended, ids), 0);
	live[1].over = true; /* cookie 9: request 3 */
	assert_int_equal(flow_watch_sweep(&w, live, 3, 300, NULL, note_ended, ids), 1);
	assert_int_equal(ids[3], 3);
	live[1].over = false;
	/* a session that ends takes its watches along, unnotified */
	spec = cookie_watch(9, 5, 8, "d");
	assert_int_equal(flow_watch_add(&w, &spec, 0), 0);
	assert_int_equal(flow_watch_drop_session(&w, 8), 1);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0].id, 1);
	/* no live sockets at all: everything ended */
	assert_int_equal(flow_watch_sweep(&w, NULL, 0, 400, NULL, note_ended, ids), 1);
	assert_int_equal(ids[4], 1);
	assert_int_equal(w.n, 0);
	flow_watches_fini(&w);
}

static bool remote_alive(void *ctx, const struct flow_watch *fw)
{
	const uint16_t *alive_port = ctx;

	return fw->rport == *alive_port;
}

static uint64_t udp_ended_id;

static void note_udp(void *ctx, const struct flow_watch *fw)
{
	(void)ctx;
	udp_ended_id = fw->id;
}

/*
 * An inbound TCP flow is found by its 5-tuple (its accepted socket comes after
 * the permit), then followed by the socket's cookie; one never seen ends after
 * the grace time. An unconnected UDP flow is (socket, remote): it ends when the
 * socket's decision for that remote is gone, though the socket lives.
 */
static void test_flow_watch_kinds(void **state)
{
	struct flow_watches w = { 0 };
	uint64_t ids[8] = { 0 };
	struct flow_watch in = { .id = 11,
				 .session = 7,
				 .callout = "c",
				 .proto = 6,
				 .inbound = true,
				 .lport = 80,
				 .rport = 40000 };
	struct flow_live live[3] = { 0 };
	uint16_t alive_port = 53;

	(void)state;
	in.laddr[10] = in.laddr[11] = in.raddr[10] = in.raddr[11] = 0xff;
	in.laddr[12] = in.raddr[12] = 127;
	in.laddr[15] = in.raddr[15] = 1;
	assert_int_equal(flow_watch_add(&w, &in, 1000), 0);
	assert_false(w.v[0].seen);
	/* not there yet, within the grace time: kept */
	assert_int_equal(flow_watch_sweep(&w, NULL, 0, 1000 + FLOW_WATCH_GRACE_MS - 1, NULL,
					  note_ended, ids),
			 0);
	/* the listener (no remote) and the client's socket (the tuple reversed) are not it */
	live[0] = (struct flow_live){ .cookie = 70, .proto = 6, .lport = 80 };
	memcpy(live[0].laddr, in.laddr, 16);
	live[1] = (struct flow_live){ .cookie = 71, .proto = 6, .lport = 40000, .rport = 80 };
	memcpy(live[1].laddr, in.raddr, 16);
	memcpy(live[1].raddr, in.laddr, 16);
	live[2] = (struct flow_live){ .cookie = 72, .proto = 17, .lport = 80, .rport = 40000 };
	memcpy(live[2].laddr, in.laddr, 16);
	memcpy(live[2].raddr, in.raddr, 16);
	flow_live_sort(live, 3);
	assert_int_equal(flow_watch_sweep(&w, live, 3, 2000, NULL, note_ended, ids), 0);
	assert_int_equal(w.v[0].cookie, 0);
	/* the accepted socket: found by its tuple, takes its cookie */
	live[0] = (struct flow_live){ .cookie = 99, .proto = 6, .lport = 80, .rport = 40000 };
	memcpy(live[0].laddr, in.laddr, 16);
	memcpy(live[0].raddr, in.raddr, 16);
	flow_live_sort(live, 3);
	assert_int_equal(flow_watch_sweep(&w, live, 3, 2000, NULL, note_ended, ids), 0);
	assert_int_equal(w.v[0].cookie, 99);
	assert_true(w.v[0].seen);
	/* gone: ended at once, long before the grace time would matter */
	assert_int_equal(flow_watch_sweep(&w, NULL, 0, 2100, NULL, note_ended, ids), 1);
	assert_int_equal(ids[1], 11);

	/* never seen: given up as ended after the grace time */
	assert_int_equal(flow_watch_add(&w, &in, 5000), 0);
	assert_int_equal(
		flow_watch_sweep(&w, NULL, 0, 5000 + FLOW_WATCH_GRACE_MS, NULL, note_ended, ids),
		1);
	assert_int_equal(ids[2], 11);

	/* unconnected UDP to two remotes of one socket: the decision for port 54 goes */
	struct flow_watch u = { .cookie = 500,
				.id = 21,
				.session = 7,
				.callout = "c",
				.proto = 17,
				.per_remote = true,
				.rport = 53 };

	assert_int_equal(flow_watch_add(&w, &u, 0), 0);
	u.id = 22;
	u.rport = 54;
	assert_int_equal(flow_watch_add(&w, &u, 0), 0);
	live[0] = (struct flow_live){ .cookie = 500, .proto = 17 };
	flow_live_sort(live, 1);
	assert_int_equal(flow_watch_sweep(&w, live, 1, 100, remote_alive, note_udp, &alive_port),
			 1);
	assert_int_equal(udp_ended_id, 22);
	/* a TCP socket with the same cookie is not the UDP one */
	live[0].proto = 6;
	assert_int_equal(flow_watch_sweep(&w, live, 1, 200, remote_alive, note_udp, &alive_port),
			 1);
	assert_int_equal(udp_ended_id, 21);
	assert_int_equal(w.n, 0);
	flow_watches_fini(&w);
}

/* RFC 4648's test vectors, and the classify_notify message around them */
static void test_notify_msg(void **state)
{
	static const char *const vec[][2] = { { "", "" },
					      { "f", "Zg==" },
					      { "fo", "Zm8=" },
					      { "foo", "Zm9v" },
					      { "foob", "Zm9vYg==" },
					      { "fooba", "Zm9vYmE=" },
					      { "foobar", "Zm9vYmFy" } };
	json_t *m, *body;
	char *b;

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		b = callout_base64(vec[i][0], strlen(vec[i][0]));
		assert_non_null(b);
		assert_string_equal(b, vec[i][1]);
		free(b);
	}
	b = callout_base64("\xff\x00\xfe", 3);
	assert_string_equal(b, "/wD+");
	free(b);

	m = callout_notify_msg("ids", 7, json_pack("{s:s}", "layer", "auth-connect"), "GET /", 5);
	assert_non_null(m);
	body = json_object_get(m, "classify_notify");
	assert_true(json_is_object(body));
	assert_string_equal(json_string_value(json_object_get(body, "callout")), "ids");
	assert_int_equal(json_integer_value(json_object_get(body, "filter")), 7);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(body, "event"), "layer")),
		"auth-connect");
	assert_string_equal(json_string_value(json_object_get(body, "data")), "R0VUIC8=");
	assert_int_equal(json_integer_value(json_object_get(body, "data_len")), 5);
	json_decref(m);

	/* no bytes: no data member */
	m = callout_notify_msg("ids", 7, json_object(), NULL, 0);
	assert_non_null(m);
	assert_null(json_object_get(json_object_get(m, "classify_notify"), "data"));
	json_decref(m);

	/* bad arguments: NULL, the event's reference released (ASan would see a leak) */
	assert_null(callout_notify_msg(NULL, 7, json_object(), NULL, 0));
	assert_null(callout_notify_msg("ids", 7, NULL, NULL, 0));
	assert_null(callout_notify_msg("ids", 7, json_object(), NULL, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),	 cmocka_unit_test(test_table),
		cmocka_unit_test(test_verdict_words),	 cmocka_unit_test(test_flow_watch),
		cmocka_unit_test(test_flow_watch_kinds), cmocka_unit_test(test_notify_msg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
