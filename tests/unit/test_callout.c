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

static void test_flow_watch(void **state)
{
	struct flow_watches w = { 0 };
	uint64_t ids[8] = { 0 };
	const uint64_t live[] = { 5, 9, 30 };

	(void)state;
	assert_int_equal(flow_watch_add(&w, 0, 1, 7, "c"), -EINVAL);
	assert_int_equal(flow_watch_add(&w, 5, 1, 0, "c"), -EINVAL);
	assert_int_equal(flow_watch_add(&w, 5, 1, 7, "c"), 0);
	assert_int_equal(flow_watch_add(&w, 6, 2, 7, "c"), 0);
	assert_int_equal(flow_watch_add(&w, 9, 3, 8, "d"), 0);
	assert_int_equal(flow_watch_add(&w, 10, 4, 8, "d"), 0);
	/* 6 and 10 are gone: their requests 2 and 4 end, 5 and 9 stay */
	assert_int_equal(flow_watch_sweep(&w, live, 3, note_ended, ids), 2);
	assert_int_equal(ids[0], 2);
	assert_true((ids[1] == 2 && ids[2] == 4) || (ids[1] == 4 && ids[2] == 2));
	assert_int_equal(w.n, 2);
	/* nothing more ended: no second notification */
	assert_int_equal(flow_watch_sweep(&w, live, 3, note_ended, ids), 0);
	/* a session that ends takes its watches along, unnotified */
	assert_int_equal(flow_watch_drop_session(&w, 8), 1);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.v[0].id, 1);
	/* no live sockets at all: everything ended */
	assert_int_equal(flow_watch_sweep(&w, NULL, 0, note_ended, ids), 1);
	assert_int_equal(ids[3], 1);
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
		cmocka_unit_test(test_registry),      cmocka_unit_test(test_table),
		cmocka_unit_test(test_verdict_words), cmocka_unit_test(test_flow_watch),
		cmocka_unit_test(test_notify_msg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
