// SPDX-License-Identifier: MIT
/*
 * seed_callout: the seed program (shared/seeds: a WFP driver that logs every
 * connection and blocks one executable) on liblfp.
 *
 * The seed's shape, call for call: open the engine (a dynamic session),
 * begin a transaction (FwpmTransactionBegin), register a callout
 * (FwpsCalloutRegister + FwpmCalloutAdd), add a filter at auth-connect that
 * uses it (FwpmFilterAdd), commit (FwpmTransactionCommit). Then every
 * connection the filter decides is held until this program answers: it
 * prints the seed's log line and blocks the executable named on the command
 * line, permitting the rest. The seed's author had to undo all of it by hand
 * (FwpmFilterDeleteById, FwpsCalloutUnregisterById, FwpmEngineClose); here the
 * session is dynamic, so when the program exits or is killed, lfpd deletes
 * the filter and the callout and traffic flows as before.
 *
 *   seed_callout --socket /run/lfp/lfp.sock /usr/bin/curl
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lfp/client.h>

#define CALLOUT "seed"

struct seed {
	struct lfp_session *s;
	char target[PATH_MAX];
	unsigned long blocked, permitted;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void addr_port(char *buf, size_t len, const char *addr, unsigned int port)
{
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", *addr ? addr : "?", port);
}

static void on_classify(void *ctx, const struct lfp_classify_request *rq)
{
	struct seed *sd = ctx;
	struct lfp_diags diags = { 0 };
	char local[80], remote[80], real[PATH_MAX];
	bool block = false;
	int r;

	if (rq->path && realpath(rq->path, real))
		block = !strcmp(real, sd->target);
	addr_port(local, sizeof(local), rq->local, rq->lport);
	addr_port(remote, sizeof(remote), rq->remote, rq->rport);
	/* the seed's DbgPrint line; a user-space callout always runs at PASSIVE_LEVEL */
	printf("[WFP] IRQL=0, PID=%u, Path=%s, Local=%s, Remote=%s, Protocol=%s%s\n", rq->pid,
	       rq->path ? rq->path : rq->comm, local, remote,
	       !strcmp(rq->proto, "tcp") ? "TCP" : "UDP", block ? " -> BLOCKED" : "");
	fflush(stdout);
	r = lfp_session_classify_answer(sd->s, rq->id,
					block ? LFP_CALLOUT_BLOCK : LFP_CALLOUT_PERMIT, &diags);
	if (r) {
		/* timed out meanwhile: lfpd completed it already (blocked, fail closed) */
		fprintf(stderr, "seed_callout: answer %" PRIu64 ": %s\n", rq->id, strerror(-r));
		lfp_diags_print(&diags, stderr);
	} else if (block) {
		sd->blocked++;
	} else {
		sd->permitted++;
	}
	lfp_diags_fini(&diags);
}

static void on_notify(void *ctx, const struct lfp_callout_notify *n)
{
	(void)ctx;
	printf("[WFP] notify: filter %" PRIu64 " %s callout %s\n", n->filter_id,
	       n->change == LFP_CHANGE_ADD ? "now uses" : "no longer uses", n->callout);
	fflush(stdout);
}

/* the seed's WallFlowDeleteFn: a flow the callout permitted has ended */
static void on_flow_delete(void *ctx, const struct lfp_flow_delete *fd)
{
	char remote[80];

	(void)ctx;
	addr_port(remote, sizeof(remote), fd->remote, fd->rport);
	/* TCP outbound in the seed's words; the rest says which flow of its socket it was */
	printf("[WFP] flow deleted: id=%" PRIu64 ", cookie=%" PRIu64
	       ", callout=%s, Protocol=%s%s%s%s\n",
	       fd->id, fd->cookie, fd->callout, !strcmp(fd->proto, "tcp") ? "TCP" : "UDP",
	       strcmp(fd->direction, "inbound") ? "" : ", Direction=Inbound",
	       strcmp(fd->proto, "tcp") ? ", Remote=" : "", strcmp(fd->proto, "tcp") ? remote : "");
	fflush(stdout);
}

static int fail(const char *what, int r, struct lfp_diags *diags)
{
	fprintf(stderr, "seed_callout: %s: %s\n", what, strerror(-r));
	lfp_diags_print(diags, stderr);
	lfp_diags_fini(diags);
	return 1;
}

int main(int argc, char **argv)
{
	const char *sock = LFP_DEFAULT_SOCKET, *exe = NULL;
	struct lfp_diags diags = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	static struct seed sd;
	uint64_t fid = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			exe = NULL, argc = 0;
		else
			exe = argv[i];
	}
	if (!exe) {
		fprintf(stderr, "usage: seed_callout [--socket PATH] /path/to/executable\n"
				"Logs every connection in the seed's format and blocks the "
				"executable's; Ctrl-C (or kill) undoes everything.\n");
		return 2;
	}
	if (!realpath(exe, sd.target)) {
		fprintf(stderr, "seed_callout: %s: %s\n", exe, strerror(errno));
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	LFP_OPTS(lfp_session_opts, so, .socket = sock, .dynamic = true, .name = "seed_callout");
	r = lfp_session_open(&so, &sd.s, &diags);
	if (r)
		return fail("open session (FwpmEngineOpen)", r, &diags);
	lfp_session_on_classify(sd.s, on_classify, on_notify, &sd);
	lfp_session_on_flow_delete(sd.s, on_flow_delete, &sd);
	r = lfp_txn_begin(sd.s, &diags);
	if (r)
		return fail("begin (FwpmTransactionBegin)", r, &diags);
	r = lfp_session_callout_register(sd.s, CALLOUT, LFP_CALLOUT_KIND_TERMINATING, &diags);
	if (r)
		return fail("register callout (FwpsCalloutRegister)", r, &diags);
	r = lfp_session_filter_add(sd.s, "name seed-filter layer auth-connect callout " CALLOUT,
				   NULL, &fid, &diags);
	if (r)
		return fail("add filter (FwpmFilterAdd)", r, &diags);
	r = lfp_txn_commit(sd.s, &diags);
	if (r)
		return fail("commit (FwpmTransactionCommit)", r, &diags);
	printf("[WFP] callout '%s' registered, filter %" PRIu64 " at auth-connect; blocking %s\n",
	       CALLOUT, fid, sd.target);
	fflush(stdout);

	while (!stop) {
		r = lfp_session_dispatch(sd.s, 200);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "seed_callout: lfpd: %s\n", strerror(-r));
			break;
		}
	}
	/* the session is dynamic: closing it deletes the filter and the callout */
	lfp_session_close(sd.s);
	printf("[WFP] unloaded: %lu permitted, %lu blocked\n", sd.permitted, sd.blocked);
	lfp_diags_fini(&diags);
	return 0;
}
