// SPDX-License-Identifier: MIT
/*
 * inspect_callout: a callout that watches and never decides (WFP's inspection
 * callout, whose classifyFn may only answer continue), on liblfp.
 *
 * It opens a dynamic session, registers callout `watch` (or --name NAME),
 * adds one filter `callout NAME` per layer named on the command line and prints every
 * classification lfpd tells it about. Nothing is held: at auth-connect an
 * inspection callout's flows go on at once and the notification follows; at
 * layers that cannot pend (flow-established, endpoint-closure, the packet
 * layers ...) every callout type is told this way. With `--type terminating`
 * the callout is registered as terminating, to see that difference at
 * auth-connect (its flows are then held for an answer, which this program
 * never gives: it is not an answering callout).
 *
 *   inspect_callout --socket /run/lfp/lfp.sock auth-connect flow-established
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/client.h>

#define LAYERS_MAX 16

static volatile sig_atomic_t stop;
static unsigned long told;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_notify(void *ctx, const struct lfp_classify_notify *n)
{
	(void)ctx;
	told++;
	printf("[WFP] notify: callout=%s filter=%" PRIu64 " layer=%s verdict=%s pid=%u path=%s "
	       "proto=%s local=%s:%u remote=%s:%u cookie=%" PRIu64 " data=%zu\n",
	       n->callout, n->filter_id, n->layer, n->verdict, n->pid, n->path ? n->path : n->comm,
	       n->proto, n->local, n->lport, n->remote, n->rport, n->cookie, n->data_len);
	fflush(stdout);
}

/* classify requests come only for a terminating or unknown callout at a layer that pends */
static void on_classify(void *ctx, const struct lfp_classify_request *rq)
{
	(void)ctx;
	printf("[WFP] classify: id=%" PRIu64 " (held; not answered here)\n", rq->id);
	fflush(stdout);
}

static int fail(const char *what, int r, struct lfp_diags *diags)
{
	fprintf(stderr, "inspect_callout: %s: %s\n", what, strerror(-r));
	lfp_diags_print(diags, stderr);
	lfp_diags_fini(diags);
	return 1;
}

int main(int argc, char **argv)
{
	const char *sock = LFP_DEFAULT_SOCKET, *name = "watch", *layers[LAYERS_MAX];
	enum lfp_callout_kind kind = LFP_CALLOUT_KIND_INSPECTION;
	struct sigaction sa = { .sa_handler = on_signal };
	struct lfp_diags diags = { 0 };
	struct lfp_session *s;
	size_t n_layers = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			sock = argv[++i];
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "terminating"))
				kind = LFP_CALLOUT_KIND_TERMINATING;
			else if (!strcmp(argv[i], "unknown"))
				kind = LFP_CALLOUT_KIND_UNKNOWN;
			else if (strcmp(argv[i], "inspection"))
				n_layers = LAYERS_MAX + 1;
		} else if (argv[i][0] == '-' || n_layers >= LAYERS_MAX) {
			n_layers = LAYERS_MAX + 1;
			break;
		} else {
			layers[n_layers++] = argv[i];
		}
	}
	if (!n_layers || n_layers > LAYERS_MAX) {
		fprintf(stderr,
			"usage: inspect_callout [--socket PATH] [--name NAME] [--type inspection|"
			"terminating|unknown] LAYER...\n"
			"Registers callout NAME (default watch), adds a filter using it at each "
			"LAYER and prints what lfpd tells it; Ctrl-C (or kill) removes both.\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	LFP_OPTS(lfp_session_opts, so, .socket = sock, .dynamic = true, .name = "inspect_callout");
	r = lfp_session_open(&so, &s, &diags);
	if (r)
		return fail("open session", r, &diags);
	lfp_session_on_classify_notify(s, on_notify, NULL);
	lfp_session_on_classify(s, on_classify, NULL, NULL);
	r = lfp_txn_begin(s, &diags);
	if (r)
		return fail("begin", r, &diags);
	r = lfp_session_callout_register(s, name, kind, &diags);
	if (r)
		return fail("register callout", r, &diags);
	for (size_t i = 0; i < n_layers; i++) {
		char text[128];
		uint64_t fid = 0;

		snprintf(text, sizeof(text), "layer %s callout %s", layers[i], name);
		r = lfp_session_filter_add(s, text, NULL, &fid, &diags);
		if (r)
			return fail(layers[i], r, &diags);
		printf("[WFP] filter %" PRIu64 " at %s\n", fid, layers[i]);
	}
	r = lfp_txn_commit(s, &diags);
	if (r)
		return fail("commit", r, &diags);
	printf("[WFP] callout '%s' registered\n", name);
	fflush(stdout);

	while (!stop) {
		r = lfp_session_dispatch(s, 200);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "inspect_callout: lfpd: %s\n", strerror(-r));
			break;
		}
	}
	lfp_session_close(s);
	printf("[WFP] unloaded: told of %lu classifications\n", told);
	lfp_diags_fini(&diags);
	return 0;
}
