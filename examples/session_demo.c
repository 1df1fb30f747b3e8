// SPDX-License-Identifier: MIT
/*
 * session_demo: a dynamic lfp session from C.
 *
 * Opens a dynamic session, adds a sublayer and a filter that blocks outbound
 * connections to PORT in one transaction, lists the filters, then keeps the
 * session for HOLD seconds (printing filter changes as lfpd commits them).
 * When it exits, by returning or by being killed, lfpd deletes the sublayer
 * and the filter: nothing is left behind.
 *
 *   cc session_demo.c $(pkg-config --cflags --libs lfp) -o session_demo
 *   ./session_demo /run/lfp/lfp.sock 8080 10
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lfp/client.h>

static void on_change(void *ctx, const struct lfp_filter_change *ch)
{
	(void)ctx;
	printf("change: %s filter %" PRIu64 " %s\n",
	       ch->change == LFP_CHANGE_ADD ? "add" : "delete", ch->id, ch->text ? ch->text : "");
	fflush(stdout);
}

/* print lfpd's messages and say which call failed */
static int fail(const char *what, int r, struct lfp_diags *diags)
{
	fprintf(stderr, "session_demo: %s: %s\n", what, strerror(-r));
	lfp_diags_print(diags, stderr);
	lfp_diags_fini(diags);
	return 1;
}

int main(int argc, char **argv)
{
	struct lfp_diags diags = { 0 };
	struct lfp_session *s = NULL;
	struct lfp_filter_info *fs = NULL;
	struct lfp_sublayer_info *subs = NULL;
	struct lfp_provider_info *provs = NULL;
	struct timespec end, now;
	char rule[128];
	uint64_t id = 0;
	size_t n = 0;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SOCKET PORT [HOLD-SECONDS]\n", argv[0]);
		return 2;
	}
	LFP_OPTS(lfp_session_opts, so, .socket = argv[1], .dynamic = true, .name = "session_demo");
	r = lfp_session_open(&so, &s, &diags);
	if (r)
		return fail("open session", r, &diags);
	r = lfp_session_subscribe_filters(s, on_change, NULL, &diags);
	if (r)
		goto out;

	/* both objects or neither: one transaction, one kernel generation */
	r = lfp_txn_begin(s, &diags);
	if (r)
		goto out;
	r = lfp_session_sublayer_add(s, "demo weight 200", NULL, &diags);
	if (!r) {
		snprintf(rule, sizeof(rule),
			 "name demo-block layer auth-connect sublayer demo remote.port %s block",
			 argv[2]);
		r = lfp_session_filter_add(s, rule, NULL, &id, &diags);
	}
	if (r) {
		lfp_txn_abort(s, NULL);
		goto out;
	}
	r = lfp_txn_commit(s, &diags);
	if (r)
		goto out;
	printf("session %" PRIu64 ": committed filter %" PRIu64 "\n", lfp_session_id(s), id);

	r = lfp_session_filters(s, NULL, &fs, &n, &diags);
	if (r)
		goto out;
	for (size_t i = 0; i < n; i++)
		printf("filter %" PRIu64 " %s%s: %s\n", fs[i].id, fs[i].name ? fs[i].name : "-",
		       fs[i].lifetime == LFP_LIFETIME_DYNAMIC ? " (dynamic)" : "", fs[i].text);
	lfp_filter_infos_free(fs, n);

	r = lfp_session_sublayers(s, &subs, &n, &diags);
	if (r)
		goto out;
	for (size_t i = 0; i < n; i++)
		printf("sublayer %s weight %u filters %zu%s\n", subs[i].name, subs[i].weight,
		       subs[i].filters, subs[i].lifetime == LFP_LIFETIME_DYNAMIC ? " (dynamic)" : "");
	lfp_sublayer_infos_free(subs, n);

	r = lfp_session_providers(s, &provs, &n, &diags);
	if (r)
		goto out;
	for (size_t i = 0; i < n; i++)
		printf("provider %s filters %zu sublayers %zu\n", provs[i].name, provs[i].filters,
		       provs[i].sublayers);
	lfp_provider_infos_free(provs, n);
	printf("ready\n");
	fflush(stdout);

	/* keep the session (and its filter) alive, delivering changes as they come */
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += argc > 3 ? atoi(argv[3]) : 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		r = lfp_session_dispatch(s, 100);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	lfp_session_close(s); /* lfpd deletes the session's dynamic objects now */
	if (r)
		return fail("session", r, &diags);
	lfp_diags_fini(&diags);
	return 0;
}
