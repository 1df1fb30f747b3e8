// SPDX-License-Identifier: MIT
/*
 * lfpd's API request handling under libFuzzer: bytes -> the line reader -> JSON ->
 * api_handle() -> engine transactions (parse, resolve, weigh, lower, commit to a
 * recording kernel double). Every reply must be one JSON object line with "ok";
 * nothing may crash or leak, whatever the bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kern.h"
#include "lfpd.h"
#include "pend.h"

/* ---- kernel double: accepts every generation ---- */
struct lfp_kern {
	uint64_t gen;
};

int lfp_kern_commit(struct lfp_kern *k, const struct lfp_lowered *lw, uint64_t *gen_out)
{
	*gen_out = ++k->gen;
	return 0;
}

int lfp_kern_counter_reset(struct lfp_kern *k, uint32_t slot)
{
	return 0;
}

int lfp_kern_counter(struct lfp_kern *k, uint32_t slot, uint64_t *hits)
{
	*hits = 0;
	return 0;
}

int lfp_kern_status(struct lfp_kern *k, struct lfp_kern_status *st)
{
	memset(st, 0, sizeof(*st));
	st->gen = k->gen;
	return 0;
}

/* pend and complete needs the kernel: without it only the registry and the API run */
int lfp_kern_pend_maps(struct lfp_kern *k, struct lfp_kern_pend_maps *m)
{
	return -EOPNOTSUPP;
}

int lfp_kern_pend_end(struct lfp_kern *k)
{
	return 0;
}

/* events lfpd makes itself: nobody listens here */
void lfpd_publish_event(struct lfpd *d, const struct lfp_event *ke)
{
}

/* ---- the daemon's side of a client: replies are checked, then dropped ---- */
int client_send(struct lfpd *d, struct client *c, const json_t *msg)
{
	if (!json_is_object(msg) || !json_is_boolean(json_object_get(msg, "ok")))
		abort();
	return 0;
}

static int quiet(enum lfp_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lfp_kern kern;
	static struct lfpd d;
	struct client c = { .privileged = true };
	struct lfp_linebuf lb = { .max = 1 << 16 };
	int sv[2];
	char *line;

	if (size > 60000)
		return 0; /* one socketpair buffer */
	lfp_set_print(quiet);
	memset(&d, 0, sizeof(d));
	d.inofd = -1;
	d.cgroup_abs = (char *)"/";
	d.opts.bpffs = "/nonexistent";
	if (engine_init(&d.eng, &kern, NULL))
		return 0;
	if (pend_init(&d, PEND_QUEUE_DEFAULT, PEND_QUEUE_MAX_DEFAULT)) {
		pend_fini(&d);
		engine_fini(&d.eng);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		engine_fini(&d.eng);
		return 0;
	}
	if (write(sv[0], data, size) != (ssize_t)size)
		abort();
	close(sv[0]);
	while (lfp_linebuf_fill(&lb, sv[1]) > 0) {
		while ((line = lfp_linebuf_next(&lb))) {
			api_handle(&d, &c, line);
			free(line);
		}
		if (lb.overflow)
			break;
	}
	close(sv[1]);
	lfp_linebuf_fini(&lb);
	/* the notify path: the classification the input's last bytes describe, at every
	 * layer, matched against whatever callout filters the requests left */
	{
		struct lfp_event ev;

		memset(&ev, 0, sizeof(ev));
		memcpy(&ev, data + size - (size < sizeof(ev) ? size : sizeof(ev)),
		       size < sizeof(ev) ? size : sizeof(ev));
		ev.type = LFP_EV_CLASSIFY;
		for (unsigned int l = 0; l < LFP_LAYER_COUNT; l++) {
			ev.layer = (uint8_t)l;
			pend_event_notify(&d, &ev);
		}
	}
	pend_session_end(&d, c.session);
	pend_fini(&d);
	engine_fini(&d.eng);
	appwatch_fini(&d);
	return 0;
}
