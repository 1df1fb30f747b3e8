// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "event.h"
#include "proto.h"

/* lfpd's note of events this stream did not get: on stderr, so that stdout stays
 * one event per line (also with --json) */
static void monitor_drops(const json_t *d)
{
	json_int_t k = json_integer_value(json_object_get(d, "kernel"));
	json_int_t c = json_integer_value(json_object_get(d, "client"));

	if (k > 0)
		fprintf(stderr,
			"lfp monitor: %lld events lost in the kernel (ring buffer full: lfpd read "
			"too slowly; any process's)\n",
			(long long)k);
	if (c > 0)
		fprintf(stderr,
			"lfp monitor: %lld events dropped by lfpd for this monitor (it read too "
			"slowly)\n",
			(long long)c);
}

int cmd_monitor(struct cli *cli, int argc, char **argv)
{
	struct lfp_linebuf lb = { 0 };
	json_t *msg = NULL, *req;
	long limit = -1, seen = 0;
	int fd, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			limit = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "error: monitor: unexpected '%s'\n", argv[i]);
			return EXIT_REQUEST;
		}
	}
	fd = cli_connect(cli->socket);
	if (fd < 0) {
		fprintf(stderr, "error: cannot reach lfpd at %s: %s (is lfpd running?)\n",
			cli->socket, strerror(-fd));
		return EXIT_SYSTEM;
	}
	lb.max = LFP_MSG_MAX_REPLY;
	req = json_pack("{s:s}", "op", "monitor");
	r = lfp_msg_write(fd, req);
	json_decref(req);
	if (!r)
		r = lfp_msg_read(fd, &lb, &msg);
	if (r || !json_is_true(json_object_get(msg, "ok"))) {
		fprintf(stderr, "error: lfpd refused the subscription: %s\n",
			r ? strerror(-r) : json_string_value(json_object_get(msg, "error")));
		json_decref(msg);
		close(fd);
		return r ? EXIT_SYSTEM : EXIT_REQUEST;
	}
	if (json_is_true(json_object_get(msg, "own_events_only")))
		fprintf(stderr, "lfp monitor: showing your own processes' connections only "
				"(root and group lfp see all)\n");
	json_decref(msg);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (limit < 0 || seen < limit) {
		struct lfp_event_rec rec;
		json_t *ev;

		r = lfp_msg_read(fd, &lb, &msg);
		if (r)
			break;
		monitor_drops(json_object_get(msg, "dropped"));
		ev = json_object_get(msg, "event");
		if (ev && !lfp_event_rec_from_json(&rec, ev)) {
			if (cli->json) {
				char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

				puts(s);
				free(s);
			} else {
				char line[2048];

				lfp_event_rec_format(&rec, line, sizeof(line));
				puts(line);
			}
			seen++;
		}
		json_decref(msg);
	}
	lfp_linebuf_fini(&lb);
	close(fd);
	if (r && r != -EPIPE) {
		fprintf(stderr, "error: event stream: %s\n", strerror(-r));
		return EXIT_SYSTEM;
	}
	return 0;
}
