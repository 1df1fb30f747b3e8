// SPDX-License-Identifier: MIT
/*
 * lfpd's engine without a kernel: transactions, provider replacement, flush,
 * persistence, and all-or-nothing behaviour when the kernel refuses a
 * generation. The kernel side is a recording double (below) that can be told
 * to fail; it checks that every generation it is given is a complete lowering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine.h"
#include "kern.h"

/* ---- kernel double ---- */
struct lfp_kern {
	int fail_next; /* -errno to return from the next commit */
	uint64_t gen;
	size_t commits;
	size_t last_filters; /* filters in the last accepted generation */
	uint64_t last_ids[64];
};

static struct lfp_kern fake;

int lfp_kern_commit(struct lfp_kern *k, const struct lfp_lowered *lw, uint64_t *gen_out)
{
	if (k->fail_next) {
		int r = k->fail_next;

		k->fail_next = 0;
		return r;
	}
	k->gen++;
	k->commits++;
	k->last_filters = lw->n_filters;
	for (size_t i = 0; i < lw->n_filters && i < 64; i++)
		k->last_ids[i] = lw->filters[i].id;
	*gen_out = k->gen;
	return 0;
}

int lfp_kern_counter_reset(struct lfp_kern *k, uint32_t slot)
{
	return 0;
}

/* ---- helpers ---- */

static char state_dir[64];

static int64_t add(struct engine *eng, const char *text, enum lfp_lifetime lt, const char *prov)
{
	LFP_OPTS(lfp_parse_opts, po, .single_statement = true);
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	char *stmt = NULL;
	int64_t id;
	int r;

	assert_true(asprintf(&stmt, "filter add %s", text) > 0);
	r = lfp_rule_parse(stmt, &po, &rs, &d);
	free(stmt);
	if (r) {
		lfp_diags_fini(&d);
		return r;
	}
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	id = eng_txn_add_filter(&txn, &rs->filters[0], prov, lt, &d);
	if (id < 0)
		eng_txn_abort(&txn);
	else
		r = eng_txn_commit(&txn, &d);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return id < 0 ? id : r ? r : id;
}

static int apply(struct engine *eng, const char *text, const char *prov)
{
	LFP_OPTS(lfp_parse_opts, po, .file = "t.lfp");
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	int r;

	r = lfp_rule_parse(text, &po, &rs, &d);
	if (!r) {
		assert_int_equal(eng_txn_begin(eng, &txn), 0);
		r = eng_txn_replace_provider(&txn, rs->provider ? rs->provider : prov, rs,
					     LFP_LT_PERSISTENT, &d);
		if (r)
			eng_txn_abort(&txn);
		else
			r = eng_txn_commit(&txn, &d);
	}
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return r;
}

static int setup(void **state)
{
	struct engine *eng = calloc(1, sizeof(*eng));

	snprintf(state_dir, sizeof(state_dir), "/tmp/lfp-test-engine.XXXXXX");
	assert_non_null(mkdtemp(state_dir));
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(engine_init(eng, &fake, state_dir), 0);
	*state = eng;
	return 0;
}

static int teardown(void **state)
{
	struct engine *eng = *state;
	char cmd[128];

	engine_fini(eng);
	free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- tests ---- */

static void test_add_delete(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	int64_t a, b;

	a = add(eng, "name a layer auth-connect remote.port 80 block", LFP_LT_PERSISTENT, NULL);
	b = add(eng, "layer auth-connect remote.port 81 block", LFP_LT_PERSISTENT, NULL);
	assert_true(a > 0 && b > a);
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(fake.last_filters, 2);
	/* duplicate names are refused and nothing changes */
	assert_int_equal(add(eng, "name a layer auth-connect block", LFP_LT_PERSISTENT, NULL),
			 -EEXIST);
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_del_filter(&txn, "a", &d), 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_int_equal(eng->n_filters, 1);
	assert_int_equal(eng->filters[0]->f.id, (uint64_t)b);
	assert_int_equal(fake.last_filters, 1);
	/* ids are never reused */
	assert_true(add(eng, "name a layer auth-connect block", LFP_LT_PERSISTENT, NULL) > b);
	lfp_diags_fini(&d);
}

static void test_kernel_refusal_changes_nothing(void **state)
{
	struct engine *eng = *state;
	uint64_t gen;
	size_t commits;

	assert_true(add(eng, "name keep layer auth-connect remote.port 22 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	gen = eng->gen;
	commits = fake.commits;
	fake.fail_next = -ENOMEM;
	assert_int_equal(add(eng, "name new layer auth-connect remote.port 23 block",
			     LFP_LT_PERSISTENT, NULL),
			 -EIO);
	assert_int_equal(eng->n_filters, 1);
	assert_string_equal(eng->filters[0]->f.name, "keep");
	assert_int_equal(eng->gen, gen);
	assert_int_equal(fake.commits, commits);
	/* the name of the failed filter is free again, its counter slot too */
	assert_true(add(eng, "name new layer auth-connect remote.port 23 block", LFP_LT_PERSISTENT,
			NULL) > 0);
}

static void test_unenforced_layer_and_action_refused(void **state)
{
	struct engine *eng = *state;

	assert_int_equal(add(eng, "layer auth-listen block", LFP_LT_PERSISTENT, NULL), -EOPNOTSUPP);
	assert_int_equal(add(eng, "layer auth-connect ask", LFP_LT_PERSISTENT, NULL), -EOPNOTSUPP);
	assert_int_equal(
		add(eng, "layer auth-connect sublayer nosuch block", LFP_LT_PERSISTENT, NULL),
		-ENOENT);
	assert_int_equal(eng->n_filters, 0);
}

static const char file1[] =
	"provider laptop\n"
	"sublayer add user weight 100\n"
	"filter add name no-curl layer auth-connect sublayer user app /usr/bin/curl "
	"remote.port {80, 443} block\n"
	"filter add layer auth-connect remote.addr 10.0.0.0/8 proto tcp permit hard\n";

static void test_apply_idempotent_and_scoped(void **state)
{
	struct engine *eng = *state;
	uint64_t ids[2];
	size_t commits;

	assert_true(add(eng, "name other layer auth-connect remote.port 9 block", LFP_LT_PERSISTENT,
			"cli") > 0);
	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(eng->n_filters, 3);
	assert_int_equal(eng->n_subs, 2);
	ids[0] = eng->filters[1]->f.id;
	ids[1] = eng->filters[2]->f.id;
	commits = fake.commits;
	/* the same file again: same objects, same ids */
	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(eng->n_filters, 3);
	assert_int_equal(eng->filters[1]->f.id, ids[0]);
	assert_int_equal(eng->filters[2]->f.id, ids[1]);
	assert_int_equal(fake.commits, commits + 1);
	/* a smaller file: the provider holds exactly that; cli's filter untouched */
	assert_int_equal(apply(eng,
			       "provider laptop\nfilter add layer auth-connect remote.addr "
			       "10.0.0.0/8 proto tcp permit hard\n",
			       "x"),
			 0);
	assert_int_equal(eng->n_filters, 2);
	assert_string_equal(eng->filters[0]->f.name, "other");
	assert_int_equal(eng->filters[1]->f.id, ids[1]);
	assert_int_equal(eng->n_subs, 1); /* its sublayer went with it */
}

static void test_apply_error_applies_nothing(void **state)
{
	struct engine *eng = *state;

	assert_int_equal(apply(eng, file1, "x"), 0);
	/* a filter naming a sublayer that the file does not define */
	assert_int_not_equal(apply(eng,
				   "provider laptop\n"
				   "filter add layer auth-connect remote.port 1 block\n"
				   "filter add layer auth-connect sublayer missing block\n",
				   "x"),
			     0);
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(eng->n_subs, 2);
	/* the kernel refusing it: same */
	fake.fail_next = -EINVAL;
	assert_int_not_equal(apply(eng, "provider laptop\n", "x"), 0);
	assert_int_equal(eng->n_filters, 2);
}

static void test_persistence_roundtrip(void **state)
{
	struct engine *eng = *state, eng2;
	struct lfp_diags d = { 0 };
	int64_t a;

	assert_int_equal(apply(eng, file1, "x"), 0);
	a = add(eng, "name rt layer auth-connect remote.port 7 block", LFP_LT_RUNTIME, NULL);
	assert_true(a > 0);
	assert_int_equal(engine_init(&eng2, &fake, state_dir), 0);
	assert_int_equal(engine_load(&eng2, &d), 0);
	/* persistent objects come back with their ids; runtime ones do not */
	assert_int_equal(eng2.n_filters, 2);
	assert_int_equal(eng2.filters[0]->f.id, eng->filters[0]->f.id);
	assert_int_equal(eng2.filters[0]->counter, eng->filters[0]->counter);
	assert_string_equal(eng2.filters[0]->f.provider, "laptop");
	assert_int_equal(eng2.n_subs, 2);
	/* ids continue after the highest ever given */
	assert_true(eng2.next_filter_id > (uint64_t)a - 1);
	engine_fini(&eng2);
	lfp_diags_fini(&d);
}

static void test_flush_and_export(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	char *text;

	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_true(add(eng, "name mine layer auth-connect remote.port 9 block", LFP_LT_PERSISTENT,
			"cli") > 0);
	text = engine_export(eng, "laptop", false);
	assert_non_null(text);
	assert_non_null(strstr(text, "provider laptop"));
	assert_non_null(strstr(text, "sublayer add user weight 100"));
	assert_null(strstr(text, "mine"));
	free(text);
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_flush(&txn, "laptop", &d), 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_int_equal(eng->n_filters, 1);
	assert_string_equal(eng->filters[0]->f.name, "mine");
	assert_int_equal(eng->n_subs, 1);
	lfp_diags_fini(&d);
}

static void test_sublayer_rules(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;

	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_del_sublayer(&txn, "user", &d), -EBUSY);
	assert_int_equal(eng_txn_del_sublayer(&txn, "default", &d), -EPERM);
	eng_txn_abort(&txn);
	assert_int_equal(eng->n_subs, 2);
	lfp_diags_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_refusal_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unenforced_layer_and_action_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_idempotent_and_scoped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_error_applies_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sublayer_rules, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
