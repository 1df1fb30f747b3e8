// SPDX-License-Identifier: MIT
/*
 * lfpd's engine without a kernel: transactions, provider replacement, flush,
 * persistence, all-or-nothing behaviour when the kernel refuses a generation,
 * and what API sessions need: dynamic objects dropped when their session ends,
 * savepoints so that a failed operation does not poison an open transaction,
 * lifetime checks between filters and sublayers, the change hook; the boot-time set (kept and
 * saved apart, enforced only in boot mode); confirmations (`lfp -f FILE --confirm SECONDS`):
 * rollback with the same ids, refusals while one is pending, survival across a restart. The
 * kernel side is a recording double (below) that can be told to fail; it checks that every
 * generation it is given is a complete lowering.
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
	if (id > 0 && eng_txn_check_confirm(&txn, &d)) /* as lfpd's API does before commits */
		id = -EBUSY;
	if (id < 0)
		eng_txn_abort(&txn);
	else
		r = eng_txn_commit(&txn, &d);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return id < 0 ? id : r ? r : id;
}

static int apply_lt(struct engine *eng, const char *text, const char *prov, enum lfp_lifetime lt)
{
	LFP_OPTS(lfp_parse_opts, po, .file = "t.lfp");
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	int r;

	r = lfp_rule_parse(text, &po, &rs, &d);
	if (!r) {
		assert_int_equal(eng_txn_begin(eng, &txn), 0);
		r = eng_txn_replace_provider(&txn, rs->provider ? rs->provider : prov, rs, lt, &d);
		if (!r)
			r = eng_txn_check_confirm(&txn, &d);
		if (r)
			eng_txn_abort(&txn);
		else
			r = eng_txn_commit(&txn, &d);
	}
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return r;
}

static int apply(struct engine *eng, const char *text, const char *prov)
{
	return apply_lt(eng, text, prov, LFP_LT_PERSISTENT);
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

	/* every layer may be enforced one day: take one away to see the refusal */
	eng->enforced_layers &= ~(1u << LFP_LAYER_DATAGRAM_DATA);
	assert_int_equal(add(eng, "layer datagram-data block", LFP_LT_PERSISTENT, NULL),
			 -EOPNOTSUPP);
	eng->enforced_layers |= 1u << LFP_LAYER_DATAGRAM_DATA;
	/* ask pends at auth-connect and auth-recv-accept (docs/callouts.md): the layer
	 * table offers it nowhere else */
	assert_int_equal(add(eng, "layer auth-listen ask", LFP_LT_PERSISTENT, NULL), -EINVAL);
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
	assert_int_equal(fake.commits, commits); /* nothing changed: no new generation */
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
	text = engine_export(eng, "laptop", LFP_LT_PERSISTENT, false);
	assert_non_null(text);
	assert_non_null(strstr(text, "provider laptop"));
	assert_non_null(strstr(text, "sublayer add user weight 100"));
	assert_null(strstr(text, "mine"));
	free(text);
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_flush(&txn, "laptop", LFP_LT_PERSISTENT, &d), 0);
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

/* ---- sessions and transactions (the API's explicit transactions) ---- */

static struct lfp_filter *parse_filter(struct lfp_ruleset **rs, const char *text)
{
	LFP_OPTS(lfp_parse_opts, po, .single_statement = true);
	struct lfp_diags d = { 0 };
	char *stmt = NULL;

	assert_true(asprintf(&stmt, "filter add %s", text) > 0);
	assert_int_equal(lfp_rule_parse(stmt, &po, rs, &d), 0);
	free(stmt);
	lfp_diags_fini(&d);
	return &(*rs)->filters[0];
}

/* one operation of an open transaction, as lfpd's API runs it: undone alone on failure */
static int64_t txn_add(struct eng_txn *txn, const char *text, enum lfp_lifetime lt)
{
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct eng_savepoint sp;
	int64_t id;

	assert_int_equal(eng_txn_savepoint(txn, &sp), 0);
	id = eng_txn_add_filter(txn, parse_filter(&rs, text), NULL, lt, &d);
	if (id < 0)
		eng_txn_rollback(txn, &sp);
	else
		eng_savepoint_fini(&sp);
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return id;
}

static int txn_sub(struct eng_txn *txn, const char *name, uint16_t weight, enum lfp_lifetime lt)
{
	struct lfp_sublayer s = { .name = strdup(name), .weight = weight };
	struct lfp_diags d = { 0 };
	int r = eng_txn_add_sublayer(txn, &s, NULL, lt, &d);

	lfp_sublayer_fini(&s);
	lfp_diags_fini(&d);
	return r;
}

static bool has_filter(struct engine *eng, const char *name)
{
	return engine_find_filter(eng, name) != NULL;
}

static void test_dynamic_session_drop(void **state)
{
	struct engine *eng = *state, eng2;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	size_t commits;

	assert_true(add(eng, "name keep layer auth-connect remote.port 1 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	/* session 7: a dynamic sublayer with a filter in it, and a runtime filter */
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	txn.session = 7;
	assert_int_equal(txn_sub(&txn, "mine", 300, LFP_LT_DYNAMIC), 0);
	assert_true(txn_add(&txn, "name d7 layer auth-connect sublayer mine remote.port 2 block",
			    LFP_LT_DYNAMIC) > 0);
	assert_true(txn_add(&txn, "name rt7 layer auth-connect remote.port 3 block",
			    LFP_LT_RUNTIME) > 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	/* session 8: its own dynamic filter */
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	txn.session = 8;
	assert_true(txn_add(&txn, "name d8 layer auth-connect remote.port 4 block",
			    LFP_LT_DYNAMIC) > 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_true(engine_session_has_objects(eng, 7));
	assert_true(engine_session_has_objects(eng, 8));
	assert_false(engine_session_has_objects(eng, 9));
	assert_int_equal(eng->n_filters, 4);
	assert_int_equal(eng->n_subs, 2);

	/* dynamic objects are never saved */
	assert_int_equal(engine_init(&eng2, &fake, state_dir), 0);
	assert_int_equal(engine_load(&eng2, &d), 0);
	assert_int_equal(eng2.n_filters, 1);
	engine_fini(&eng2);

	/* session 7 ends: its dynamic filter and sublayer go, in one commit; nothing else */
	commits = fake.commits;
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_drop_session(&txn, 7), 2);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_int_equal(fake.commits, commits + 1);
	assert_false(has_filter(eng, "d7"));
	assert_true(has_filter(eng, "rt7")); /* not dynamic: outlives the session */
	assert_true(has_filter(eng, "d8"));
	assert_true(has_filter(eng, "keep"));
	assert_int_equal(eng->n_subs, 1);
	assert_false(engine_session_has_objects(eng, 7));
	assert_int_equal(fake.last_filters, 3);
	lfp_diags_fini(&d);
}

static void test_lifetime_mismatch_refused(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;

	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	txn.session = 1;
	assert_int_equal(txn_sub(&txn, "rt", 10, LFP_LT_RUNTIME), 0);
	assert_int_equal(txn_sub(&txn, "dyn", 11, LFP_LT_DYNAMIC), 0);
	/* a persistent filter would come back after a restart without its runtime sublayer */
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer rt block", LFP_LT_PERSISTENT),
			 -EINVAL);
	assert_true(txn_add(&txn, "layer auth-connect sublayer rt block", LFP_LT_RUNTIME) > 0);
	assert_true(txn_add(&txn, "layer auth-connect sublayer dyn block", LFP_LT_DYNAMIC) > 0);
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer dyn block", LFP_LT_RUNTIME),
			 -EINVAL);
	/* another session's dynamic sublayer is not this session's to fill */
	txn.session = 2;
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer dyn block", LFP_LT_DYNAMIC),
			 -EINVAL);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_int_equal(eng->n_filters, 2);
	lfp_diags_fini(&d);
}

/* WFP: a failed operation does not poison the transaction */
static void test_failed_op_does_not_poison(void **state)
{
	struct engine *eng = *state;
	LFP_OPTS(lfp_parse_opts, po, .file = "t.lfp");
	struct lfp_ruleset *rs = NULL;
	struct lfp_diags d = { 0 };
	struct eng_savepoint sp;
	struct eng_txn txn;
	size_t commits;
	int64_t a, b;

	assert_int_equal(apply(eng, file1, "x"), 0); /* provider laptop: 2 filters, sublayer user */
	commits = fake.commits;
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	a = txn_add(&txn, "name good1 layer auth-connect remote.port 5 block", LFP_LT_PERSISTENT);
	assert_true(a > 0);
	/* fails: a taken name */
	assert_int_equal(txn_add(&txn, "name good1 layer auth-connect block", LFP_LT_PERSISTENT),
			 -EEXIST);
	/* fails half way: apply removes laptop's filters, then meets an unknown sublayer */
	assert_int_equal(lfp_rule_parse("provider laptop\n"
					"filter add layer auth-connect remote.port 6 block\n"
					"filter add layer auth-connect sublayer nosuch block\n",
					&po, &rs, &d),
			 0);
	assert_int_equal(eng_txn_savepoint(&txn, &sp), 0);
	assert_int_not_equal(eng_txn_replace_provider(&txn, "laptop", rs, LFP_LT_PERSISTENT, &d),
			     0);
	eng_txn_rollback(&txn, &sp);
	lfp_ruleset_free(rs);
	/* fails: deleting good1 (fresh) then an unknown one, as one operation */
	assert_int_equal(eng_txn_savepoint(&txn, &sp), 0);
	assert_int_equal(eng_txn_del_filter(&txn, "good1", &d), 0);
	assert_int_equal(eng_txn_del_filter(&txn, "nosuch", &d), -ENOENT);
	eng_txn_rollback(&txn, &sp); /* good1 is back (and not freed) */
	b = txn_add(&txn, "name good2 layer auth-connect remote.port 7 block", LFP_LT_PERSISTENT);
	assert_true(b > a);
	/* nothing reached the kernel yet */
	assert_int_equal(fake.commits, commits);
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	/* the good operations, all of them, in one generation */
	assert_int_equal(fake.commits, commits + 1);
	assert_int_equal(eng->n_filters, 4);
	assert_true(has_filter(eng, "good1"));
	assert_true(has_filter(eng, "good2"));
	assert_true(has_filter(eng, "no-curl"));
	assert_int_equal(eng->n_subs, 2);
	assert_int_equal(fake.last_filters, 4);
	lfp_diags_fini(&d);
}

static void test_abort_applies_nothing(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	size_t commits;

	assert_true(add(eng, "name keep layer auth-connect remote.port 1 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	commits = fake.commits;
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_true(txn_add(&txn, "name a layer auth-connect remote.port 2 block",
			    LFP_LT_PERSISTENT) > 0);
	assert_int_equal(txn_sub(&txn, "s", 5, LFP_LT_PERSISTENT), 0);
	assert_int_equal(eng_txn_del_filter(&txn, "keep", &d), 0);
	eng_txn_abort(&txn);
	assert_int_equal(fake.commits, commits);
	assert_int_equal(eng->n_filters, 1);
	assert_true(has_filter(eng, "keep"));
	assert_int_equal(eng->n_subs, 1);
	/* the name is free again: the aborted filter never existed */
	assert_true(add(eng, "name a layer auth-connect remote.port 2 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	lfp_diags_fini(&d);
}

struct changes {
	char log[512];
};

static void record_change(void *ctx, const struct eng_filter *ef, bool added)
{
	struct changes *c = ctx;
	size_t n = strlen(c->log);

	snprintf(c->log + n, sizeof(c->log) - n, "%s%s ", added ? "+" : "-",
		 ef->f.name ? ef->f.name : "?");
}

static void test_change_hook(void **state)
{
	struct engine *eng = *state;
	struct changes ch = { "" };
	struct lfp_diags d = { 0 };
	struct eng_txn txn;

	assert_true(add(eng, "name old layer auth-connect remote.port 1 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	eng->on_change = record_change;
	eng->change_ctx = &ch;
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_true(txn_add(&txn, "name new layer auth-connect remote.port 2 block",
			    LFP_LT_PERSISTENT) > 0);
	assert_true(txn_add(&txn, "name gone layer auth-connect remote.port 3 block",
			    LFP_LT_PERSISTENT) > 0);
	assert_int_equal(eng_txn_del_filter(&txn, "gone", &d), 0); /* never committed: not told */
	assert_int_equal(eng_txn_del_filter(&txn, "old", &d), 0);
	assert_string_equal(ch.log, ""); /* nothing before the commit */
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_string_equal(ch.log, "-old +new ");
	/* a refused commit tells nothing */
	ch.log[0] = 0;
	fake.fail_next = -EINVAL;
	assert_int_equal(add(eng, "name x layer auth-connect block", LFP_LT_PERSISTENT, NULL),
			 -EIO);
	assert_string_equal(ch.log, "");
	eng->on_change = NULL;
	lfp_diags_fini(&d);
}

/* a session's open transaction belongs to the engine: engine_fini() aborts it (ASan: no leak) */
static void test_open_txn_freed_with_engine(void **state)
{
	struct engine eng2;

	assert_int_equal(engine_init(&eng2, &fake, NULL), 0);
	eng2.open_txn = calloc(1, sizeof(*eng2.open_txn));
	assert_non_null(eng2.open_txn);
	assert_int_equal(eng_txn_begin(&eng2, eng2.open_txn), 0);
	eng2.open_txn->session = 3;
	assert_int_equal(txn_sub(eng2.open_txn, "s", 5, LFP_LT_DYNAMIC), 0);
	assert_true(txn_add(eng2.open_txn, "name a layer auth-connect sublayer s block",
			    LFP_LT_DYNAMIC) > 0);
	engine_fini(&eng2);
	assert_null(eng2.open_txn);
}

/* ---- the boot-time set ---- */

static bool file_has(const char *file, const char *needle)
{
	char path[128], buf[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", state_dir, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static bool lowered(uint64_t id)
{
	for (size_t i = 0; i < fake.last_filters && i < 64; i++)
		if (fake.last_ids[i] == id)
			return true;
	return false;
}

static void test_boot_time_set(void **state)
{
	struct engine *eng = *state, boot;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	int64_t p, b;
	char *text;

	p = add(eng, "name pers layer auth-connect remote.port 80 block", LFP_LT_PERSISTENT, NULL);
	b = add(eng, "name bt layer auth-connect remote.port 81 block", LFP_LT_BOOT_TIME, NULL);
	assert_true(p > 0 && b > p);
	/* lfpd keeps and lists it, but the kernel does not get it */
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(fake.last_filters, 1);
	assert_true(lowered((uint64_t)p));
	assert_false(lowered((uint64_t)b));
	assert_true(eng->filters[1]->f.weight != 0); /* weighed all the same, for filter list */
	/* saved apart */
	assert_true(file_has("boot.json", "remote.port 81"));
	assert_false(file_has("boot.json", "remote.port 80"));
	assert_true(file_has("policy.json", "remote.port 80"));
	assert_false(file_has("policy.json", "remote.port 81"));
	/* the boot-time set is complete in itself: its own sublayers (or default) */
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(txn_sub(&txn, "ps", 10, LFP_LT_PERSISTENT), 0);
	assert_int_equal(txn_sub(&txn, "bs", 11, LFP_LT_BOOT_TIME), 0);
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer ps block", LFP_LT_BOOT_TIME),
			 -EINVAL);
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer bs block", LFP_LT_PERSISTENT),
			 -EINVAL);
	assert_int_equal(txn_add(&txn, "layer auth-connect sublayer bs block", LFP_LT_RUNTIME),
			 -EINVAL);
	assert_true(txn_add(&txn, "name bt2 layer auth-connect sublayer bs remote.port 82 block",
			    LFP_LT_BOOT_TIME) > 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_int_equal(fake.last_filters, 1);

	/* boot mode: the boot-time set alone reaches the kernel; nothing is saved */
	assert_int_equal(engine_init(&boot, &fake, state_dir), 0);
	boot.boot_mode = true;
	assert_int_equal(engine_load(&boot, &d), 0);
	assert_int_equal(boot.n_filters, 2);
	assert_int_equal(fake.last_filters, 2);
	assert_true(lowered((uint64_t)b));
	assert_false(lowered((uint64_t)p));
	assert_non_null(engine_find_filter(&boot, "bt2"));
	assert_int_equal(boot.n_subs, 2); /* default and bs, not ps */
	engine_fini(&boot);

	/* a normal start loads both, enforces the persistent policy: the boot set is dropped */
	assert_int_equal(engine_init(&boot, &fake, state_dir), 0);
	assert_int_equal(engine_load(&boot, &d), 0);
	assert_int_equal(boot.n_filters, 3);
	assert_int_equal(fake.last_filters, 1);
	assert_true(lowered((uint64_t)p));
	engine_fini(&boot);

	/* export and flush work on one set */
	text = engine_export(eng, NULL, LFP_LT_BOOT_TIME, false);
	assert_non_null(text);
	assert_non_null(strstr(text, "remote.port 81"));
	assert_non_null(strstr(text, "sublayer add bs weight 11"));
	assert_null(strstr(text, "remote.port 80"));
	assert_null(strstr(text, "sublayer add ps"));
	free(text);
	assert_int_equal(eng_txn_begin(eng, &txn), 0);
	assert_int_equal(eng_txn_flush(&txn, NULL, LFP_LT_BOOT_TIME, &d), 0);
	assert_int_equal(eng_txn_commit(&txn, &d), 0);
	assert_non_null(engine_find_filter(eng, "pers"));
	assert_null(engine_find_filter(eng, "bt"));
	assert_null(engine_find_filter(eng, "bt2"));
	assert_false(file_has("boot.json", "remote.port 8"));
	lfp_diags_fini(&d);
}

/* one provider may have a persistent policy and a boot-time set: applying one leaves the other */
static void test_boot_time_apply_is_a_set_apart(void **state)
{
	struct engine *eng = *state;
	static const char boot_file[] =
		"provider laptop\n"
		"sublayer add early weight 100\n"
		"filter add name b1 layer auth-connect sublayer early remote.port 22 block\n";

	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(eng->n_filters, 2);
	assert_int_equal(apply_lt(eng, boot_file, "x", LFP_LT_BOOT_TIME), 0);
	assert_int_equal(eng->n_filters, 3);
	assert_non_null(engine_find_filter(eng, "no-curl"));
	assert_int_equal(engine_find_filter(eng, "b1")->f.lifetime, LFP_LT_BOOT_TIME);
	/* the persistent file again: the boot-time set stays */
	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(eng->n_filters, 3);
	assert_non_null(engine_find_filter(eng, "b1"));
	/* a sublayer name of the other set is refused with a clear error, nothing changes */
	assert_int_equal(apply_lt(eng, file1, "x", LFP_LT_BOOT_TIME), -EEXIST);
	assert_int_equal(eng->n_filters, 3);
	/* an empty boot-time file empties the boot-time set only */
	assert_int_equal(apply_lt(eng, "provider laptop\n", "x", LFP_LT_BOOT_TIME), 0);
	assert_int_equal(eng->n_filters, 2);
	assert_null(engine_find_filter(eng, "b1"));
	assert_non_null(engine_find_filter(eng, "no-curl"));
	assert_int_equal(eng->n_subs, 2); /* default and user; early went with its set */
}

/* a crash between the renames of policy.json and boot.json: both name one filter */
static void test_boot_time_duplicate_after_crash(void **state)
{
	struct engine *eng = *state, eng2;
	struct lfp_diags d = { 0 };
	char path[128];
	FILE *f;

	assert_true(add(eng, "name same layer auth-connect remote.port 80 block", LFP_LT_PERSISTENT,
			NULL) > 0);
	snprintf(path, sizeof(path), "%s/boot.json", state_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\": 1, \"sublayers\": [], \"filters\": ["
	      "{\"id\": 1, \"text\": \"name same layer auth-connect remote.port 81 block\"},"
	      "{\"id\": 9, \"text\": \"name other layer auth-connect remote.port 82 block\"}]}",
	      f);
	fclose(f);
	assert_int_equal(engine_init(&eng2, &fake, state_dir), 0);
	assert_int_equal(engine_load(&eng2, &d), 0);
	/* the persistent one wins, the rest of the boot-time set loads, with a warning */
	assert_int_equal(eng2.n_filters, 2);
	assert_int_equal(engine_find_filter(&eng2, "same")->f.lifetime, LFP_LT_PERSISTENT);
	assert_int_equal(engine_find_filter(&eng2, "other")->f.lifetime, LFP_LT_BOOT_TIME);
	assert_true(d.n > 0 && d.v[0].severity == LFP_DIAG_WARNING);
	engine_fini(&eng2);
	lfp_diags_fini(&d);
}

/* ---- confirmation ---- */

static int apply_confirm(struct engine *eng, const char *text, uint32_t secs)
{
	LFP_OPTS(lfp_parse_opts, po, .file = "t.lfp");
	struct lfp_ruleset *rs = NULL;
	struct eng_confirm *c = NULL;
	struct lfp_diags d = { 0 };
	struct eng_txn txn;
	int r;

	r = lfp_rule_parse(text, &po, &rs, &d);
	assert_int_equal(r, 0);
	r = engine_confirm_begin(eng, rs->provider, LFP_LT_PERSISTENT, secs, 5, 4242, &c, &d);
	if (!r) {
		assert_int_equal(eng_txn_begin(eng, &txn), 0);
		r = eng_txn_replace_provider(&txn, rs->provider, rs, LFP_LT_PERSISTENT, &d);
		if (!r)
			r = eng_txn_check_confirm(&txn, &d);
		if (r)
			eng_txn_abort(&txn);
		else
			r = eng_txn_commit(&txn, &d);
		if (r)
			engine_confirm_cancel(eng, c);
		else
			engine_confirm_arm(eng, c);
	}
	lfp_ruleset_free(rs);
	lfp_diags_fini(&d);
	return r;
}

/* what must come back: every filter's id, provider and text, sublayers with weights */
static char *policy_text(struct engine *eng)
{
	char *out = calloc(1, 8192);
	size_t n = 0;

	for (size_t i = 0; i < eng->n_subs; i++)
		n += (size_t)snprintf(out + n, 8192 - n, "S%u %s %u %s %d;", eng->subs[i].id,
				      eng->subs[i].name, eng->subs[i].weight,
				      eng->subs[i].provider ? eng->subs[i].provider : "-",
				      eng->subs[i].lifetime);
	for (size_t i = 0; i < eng->n_filters; i++) {
		char *t = lfp_filter_to_text(&eng->filters[i]->f, NULL);

		n += (size_t)snprintf(out + n, 8192 - n, "F%llu %s %d %s;",
				      (unsigned long long)eng->filters[i]->f.id,
				      eng->filters[i]->f.provider, eng->filters[i]->f.lifetime, t);
		free(t);
	}
	return out;
}

static bool state_file_exists(const char *file)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", state_dir, file);
	return access(path, F_OK) == 0;
}

static const char file2[] = "provider laptop\n"
			    "sublayer add user weight 200\n"
			    "sublayer add lock weight 300\n"
			    "filter add name lockout layer auth-connect sublayer lock block\n"
			    "filter add layer auth-connect remote.addr 10.0.0.0/8 proto tcp permit "
			    "hard\n";

static void test_confirm_rollback_restores_ids(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };
	struct eng_confirm *c2;
	char *before, *after, *saved_before;
	size_t commits;

	assert_true(add(eng, "name other layer auth-connect remote.port 9 block", LFP_LT_PERSISTENT,
			"cli") > 0);
	assert_int_equal(apply(eng, file1, "x"), 0);
	before = policy_text(eng);
	saved_before = engine_export(eng, NULL, LFP_LT_PERSISTENT, true);
	assert_int_equal(apply_confirm(eng, file2, 30), 0);
	assert_non_null(eng->confirm);
	assert_true(state_file_exists("confirm.json"));
	assert_non_null(engine_find_filter(eng, "lockout"));
	assert_null(engine_find_filter(eng, "no-curl"));
	assert_false(engine_confirm_due(eng));
	assert_true(engine_confirm_remaining_ms(eng) > 28000);

	/* one at a time: a second one is refused, naming the first */
	assert_int_equal(engine_confirm_begin(eng, "cli", LFP_LT_PERSISTENT, 5, 6, 1, &c2, &d),
			 -EBUSY);
	assert_non_null(strstr(d.v[d.n - 1].msg, "provider 'laptop'"));
	/* the pending provider's objects cannot change meanwhile; others' can */
	assert_int_equal(
		add(eng, "layer auth-connect remote.port 1 block", LFP_LT_PERSISTENT, "laptop"),
		-EBUSY);
	assert_int_equal(apply(eng, file1, "x"), -EBUSY);
	assert_true(add(eng, "name mine layer auth-connect remote.port 2 block", LFP_LT_PERSISTENT,
			"cli") > 0);
	/* nor may others take a name or a sublayer the rollback needs */
	assert_int_equal(
		add(eng, "name no-curl layer auth-connect block", LFP_LT_PERSISTENT, "cli"),
		-EBUSY);
	assert_int_equal(
		add(eng, "layer auth-connect sublayer lock block", LFP_LT_PERSISTENT, "cli"),
		-EBUSY);

	/* the deadline passes: one commit brings laptop's objects back, same ids */
	eng->confirm->deadline_mono_ms = 0;
	assert_true(engine_confirm_due(eng));
	commits = fake.commits;
	assert_int_equal(engine_confirm_rollback(eng, "the test said so", NULL, NULL, &d), 0);
	assert_int_equal(fake.commits, commits + 1);
	assert_null(eng->confirm);
	assert_false(state_file_exists("confirm.json"));
	assert_string_equal(eng->last_rollback, "laptop");
	assert_true(engine_find_filter(eng, "mine") != NULL); /* not laptop's: stays */
	{
		struct eng_txn t;

		/* drop "mine" so the comparison sees exactly the state before */
		assert_int_equal(eng_txn_begin(eng, &t), 0);
		assert_int_equal(eng_txn_del_filter(&t, "mine", &d), 0);
		assert_int_equal(eng_txn_commit(&t, &d), 0);
	}
	after = policy_text(eng);
	assert_string_equal(after, before);
	free(after);
	after = engine_export(eng, NULL, LFP_LT_PERSISTENT, true);
	assert_string_equal(after, saved_before);
	/* and the state dir says so too: a restart gets the same */
	assert_true(file_has("policy.json", "no-curl"));
	assert_false(file_has("policy.json", "lockout"));
	/* nothing pending any more */
	assert_int_equal(engine_confirm_clear(eng, &d), -ENOENT);
	assert_non_null(strstr(d.v[d.n - 1].msg, "rolled back"));
	free(after);
	free(before);
	free(saved_before);
	lfp_diags_fini(&d);
}

static void test_confirm_keeps(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };

	assert_int_equal(engine_confirm_clear(eng, &d), -ENOENT);
	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(apply_confirm(eng, file2, 30), 0);
	assert_int_equal(engine_confirm_clear(eng, &d), 0);
	assert_null(eng->confirm);
	assert_false(state_file_exists("confirm.json"));
	assert_false(engine_confirm_due(eng));
	assert_non_null(engine_find_filter(eng, "lockout"));
	/* the provider may change again, and another confirmation may start */
	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(apply_confirm(eng, file2, 30), 0);
	assert_int_equal(engine_confirm_clear(eng, &d), 0);
	lfp_diags_fini(&d);
}

/* lfpd killed while a confirmation waits: the next lfpd rolls back (deadline passed) or re-arms */
static void test_confirm_survives_restart(void **state)
{
	struct engine *eng = *state, eng2;
	struct lfp_diags d = { 0 };
	char *before, *after;
	uint64_t lockout_id;

	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_true(add(eng, "name rt layer auth-connect remote.port 7 block", LFP_LT_RUNTIME,
			"laptop") > 0);
	before = engine_export(eng, NULL, LFP_LT_PERSISTENT, true);
	assert_int_equal(apply_confirm(eng, file2, 30), 0);
	lockout_id = engine_find_filter(eng, "lockout")->f.id;

	/* "restart" before the deadline: re-armed, not due */
	assert_int_equal(engine_init(&eng2, &fake, state_dir), 0);
	assert_int_equal(engine_load(&eng2, &d), 0);
	assert_int_equal(engine_confirm_load(&eng2, &d), 0);
	assert_non_null(eng2.confirm);
	assert_string_equal(eng2.confirm->prev.provider, "laptop");
	assert_int_equal(eng2.confirm->seconds, 30);
	assert_int_equal(eng2.confirm->pid, 4242);
	assert_false(engine_confirm_due(&eng2));
	assert_true(engine_confirm_remaining_ms(&eng2) > 25000);
	assert_non_null(engine_find_filter(&eng2, "lockout"));
	/* the runtime filter was not saved, and does not come back from the file */
	assert_int_equal(eng2.confirm->prev.n_filters, 2);
	/* "restart" after the deadline: the rollback happens at once */
	eng2.confirm->deadline_mono_ms = 0;
	assert_true(engine_confirm_due(&eng2));
	assert_int_equal(engine_confirm_rollback(&eng2, "test", NULL, NULL, &d), 0);
	after = engine_export(&eng2, NULL, LFP_LT_PERSISTENT, true);
	assert_string_equal(after, before);
	assert_null(engine_find_filter(&eng2, "lockout"));
	assert_false(state_file_exists("confirm.json"));
	/* ids are never reused, also across the rollback */
	assert_true(eng2.next_filter_id > lockout_id);
	engine_fini(&eng2);
	free(before);
	free(after);
	lfp_diags_fini(&d);
}

/* the kernel refuses the rollback: the confirmation stays pending, with the reason, and retries */
static void test_confirm_rollback_failure_retries(void **state)
{
	struct engine *eng = *state;
	struct lfp_diags d = { 0 };

	assert_int_equal(apply(eng, file1, "x"), 0);
	assert_int_equal(apply_confirm(eng, file2, 30), 0);
	eng->confirm->deadline_mono_ms = 0;
	fake.fail_next = -ENOMEM;
	assert_int_equal(engine_confirm_rollback(eng, "test", NULL, NULL, &d), -EIO);
	assert_non_null(eng->confirm);
	assert_non_null(eng->confirm->error);
	assert_true(state_file_exists("confirm.json"));
	assert_false(engine_confirm_due(eng)); /* retried 1 s later, not in a busy loop */
	assert_non_null(engine_find_filter(eng, "lockout"));
	eng->confirm->retry_mono_ms = 0;
	assert_true(engine_confirm_due(eng));
	assert_int_equal(engine_confirm_rollback(eng, "test", NULL, NULL, &d), 0);
	assert_null(engine_find_filter(eng, "lockout"));
	assert_non_null(engine_find_filter(eng, "no-curl"));
	lfp_diags_fini(&d);
}

/* a refused change (the kernel says no) arms nothing and leaves no file */
static void test_confirm_failed_apply_arms_nothing(void **state)
{
	struct engine *eng = *state;

	assert_int_equal(apply(eng, file1, "x"), 0);
	fake.fail_next = -EINVAL;
	assert_int_equal(apply_confirm(eng, file2, 30), -EIO);
	assert_null(eng->confirm);
	assert_false(state_file_exists("confirm.json"));
	assert_non_null(engine_find_filter(eng, "no-curl"));
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
		cmocka_unit_test_setup_teardown(test_dynamic_session_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime_mismatch_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_op_does_not_poison, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_applies_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_txn_freed_with_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_time_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_time_apply_is_a_set_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_boot_time_duplicate_after_crash, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_confirm_rollback_restores_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_confirm_keeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_rollback_failure_retries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_confirm_failed_apply_arms_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
