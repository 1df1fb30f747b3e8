// SPDX-License-Identifier: MIT
/*
 * lfp pending / lfp pending answer / lfp prompt: people answering `ask`
 * (docs/callouts.md). The prompter polls lfpd rather than subscribing: a
 * person reads at human speed, and a poll every 200 ms keeps the client
 * stateless (a restarted lfpd needs nothing from it).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"

static json_int_t jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void remote_text(const json_t *p, char *buf, size_t len)
{
	const char *ra = jstr(p, "remote");

	snprintf(buf, len,
		 strchr(ra, ':') ? "[%s]:%" JSON_INTEGER_FORMAT : "%s:%" JSON_INTEGER_FORMAT, ra,
		 jint(p, "rport"));
}

static int list(struct cli *cli)
{
	json_t *rep, *arr, *p;
	size_t i;
	int r;

	r = cli_call(cli, json_pack("{s:s}", "op", "pending.list"), &rep, NULL);
	if (r)
		return r;
	arr = json_object_get(rep, "pending");
	if (cli->json) {
		cli_print_json(arr);
		json_decref(rep);
		return 0;
	}
	if (!json_is_true(json_object_get(rep, "active")))
		printf("note: pend and complete is not active in lfpd (lfp status says why)\n");
	if (!json_array_size(arr)) {
		printf("no connection is waiting for an answer\n");
		json_decref(rep);
		return 0;
	}
	printf("%-6s %-7s %-10s %-5s %-28s %-7s %s\n", "ID", "PID", "USER", "PROTO", "REMOTE",
	       "AGE", "PATH");
	json_array_foreach(arr, i, p)
	{
		char rem[80];

		remote_text(p, rem, sizeof(rem));
		printf("%-6" JSON_INTEGER_FORMAT " %-7" JSON_INTEGER_FORMAT " %-10s %-5s %-28s "
		       "%5.1fs %s%s%s\n",
		       jint(p, "id"), jint(p, "pid"), *jstr(p, "user") ? jstr(p, "user") : "?",
		       jstr(p, "proto"), rem, (double)jint(p, "age_ms") / 1000.0,
		       *jstr(p, "path") ? jstr(p, "path") : jstr(p, "comm"),
		       *jstr(p, "callout") ? "  (callout " : "",
		       *jstr(p, "callout") ? jstr(p, "callout") : "");
		if (*jstr(p, "callout"))
			printf(")\n");
	}
	json_decref(rep);
	return 0;
}

static int answer(struct cli *cli, long long id, const char *verdict, const char *lifetime,
		  const char *scope)
{
	json_t *rep;
	int r;

	r = cli_call(cli,
		     json_pack("{s:s, s:I, s:s, s:s, s:s}", "op", "pending.answer", "pending",
			       (json_int_t)id, "verdict", verdict, "lifetime", lifetime, "scope",
			       scope),
		     &rep, NULL);
	if (r)
		return r;
	if (cli->json)
		cli_print_json(rep);
	else if (json_object_get(rep, "filter"))
		printf("%s; filter %" JSON_INTEGER_FORMAT
		       " (provider ask, %s) decides from now on\n",
		       !strcmp(verdict, "permit") ? "permitted" : "blocked", jint(rep, "filter"),
		       !strcmp(lifetime, "always") ? "persistent" : "until lfpd restarts");
	else
		printf("%s\n", !strcmp(verdict, "permit") ? "permitted" : "blocked");
	json_decref(rep);
	return 0;
}

static bool is_scope(const char *s)
{
	return !strcmp(s, "app") || !strcmp(s, "app+remote") || !strcmp(s, "app+remote+port");
}

/* lfp pending answer ID permit|block [once|until-restart|always] [scope S] */
static int cmd_answer(struct cli *cli, int argc, char **argv)
{
	const char *lifetime = "once", *scope = "app";
	char *end;
	long long id;

	if (argc < 3) {
		fprintf(stderr,
			"error: usage: lfp pending answer ID permit|block "
			"[once|until-restart|always] [scope app|app+remote|app+remote+port]\n");
		return EXIT_REQUEST;
	}
	id = strtoll(argv[1], &end, 10);
	if (!*argv[1] || *end || id <= 0) {
		fprintf(stderr, "error: '%s' is not a pending id (`lfp pending` lists them)\n",
			argv[1]);
		return EXIT_REQUEST;
	}
	if (strcmp(argv[2], "permit") && strcmp(argv[2], "block")) {
		fprintf(stderr, "error: '%s': answer permit or block\n", argv[2]);
		return EXIT_REQUEST;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "once") || !strcmp(argv[i], "until-restart") ||
		    !strcmp(argv[i], "always")) {
			lifetime = argv[i];
		} else if (!strcmp(argv[i], "scope") && i + 1 < argc && is_scope(argv[i + 1])) {
			scope = argv[++i];
		} else {
			fprintf(stderr,
				"error: '%s': expected once, until-restart, always or scope "
				"app|app+remote|app+remote+port\n",
				argv[i]);
			return EXIT_REQUEST;
		}
	}
	return answer(cli, id, argv[2], lifetime, scope);
}

int cmd_pending(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "answer"))
		return cmd_answer(cli, argc - 1, argv + 1);
	if (argc > 1) {
		fprintf(stderr, "error: pending: unknown argument '%s' (lfp pending --help)\n",
			argv[1]);
		return EXIT_REQUEST;
	}
	return list(cli);
}

/* ---- lfp prompt ---- */

static const char prompt_keys[] =
	"  [a] allow once   [d] deny once   [A] allow always   [D] deny always\n"
	"  [r] allow until lfpd restarts    [R] deny until lfpd restarts\n"
	"  [s] skip (ask again later)       [q] quit\n";

/* one key, without Enter when stdin is a terminal; EOF -> 'q' */
static int read_key(int timeout_ms)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (read(0, &c, 1) != 1)
		return 'q';
	return (unsigned char)c;
}

static json_t *first_unseen(json_t *arr, long long *skipped, size_t n_skipped)
{
	json_t *p;
	size_t i;

	json_array_foreach(arr, i, p)
	{
		bool skip = *jstr(p, "callout") != 0; /* callouts answer their own */

		for (size_t j = 0; j < n_skipped && !skip; j++)
			skip = skipped[j] == jint(p, "id");
		if (!skip)
			return p;
	}
	return NULL;
}

int cmd_prompt(struct cli *cli, int argc, char **argv)
{
	struct termios old, raw;
	bool tty = isatty(0);
	long long skipped[256];
	size_t n_skipped = 0;
	int r = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "error: prompt takes no arguments\n");
		return EXIT_REQUEST;
	}
	if (tty && !tcgetattr(0, &old)) {
		raw = old;
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		tcsetattr(0, TCSANOW, &raw);
	} else {
		tty = false;
	}
	printf("lfp prompt: answering held connections (q quits)\n");
	fflush(stdout);
	for (;;) {
		json_t *rep, *p;
		char rem[80];
		int key;

		r = cli_call(cli, json_pack("{s:s}", "op", "pending.list"), &rep, NULL);
		if (r)
			break;
		p = first_unseen(json_object_get(rep, "pending"), skipped, n_skipped);
		if (!p) {
			json_decref(rep);
			key = read_key(200);
			if (key == 'q')
				break;
			continue;
		}
		remote_text(p, rem, sizeof(rem));
		printf("\n#%" JSON_INTEGER_FORMAT " %s (pid %" JSON_INTEGER_FORMAT
		       ", user %s) wants "
		       "%s to %s\n   default %s in %" JSON_INTEGER_FORMAT " s\n%s> ",
		       jint(p, "id"), *jstr(p, "path") ? jstr(p, "path") : jstr(p, "comm"),
		       jint(p, "pid"), *jstr(p, "user") ? jstr(p, "user") : "?", jstr(p, "proto"),
		       rem, jstr(p, "default"), (jint(p, "timeout_ms") + 999) / 1000, prompt_keys);
		fflush(stdout);
		for (;;) {
			const char *v = NULL, *lt = "once";

			key = read_key(-1);
			switch (key) {
			case 'a': v = "permit"; break;
			case 'd': v = "block"; break;
			case 'A': v = "permit", lt = "always"; break;
			case 'D': v = "block", lt = "always"; break;
			case 'r': v = "permit", lt = "until-restart"; break;
			case 'R': v = "block", lt = "until-restart"; break;
			case 's':
				if (n_skipped < sizeof(skipped) / sizeof(skipped[0]))
					skipped[n_skipped++] = jint(p, "id");
				printf("skipped\n");
				break;
			case 'q': break;
			default: continue; /* newlines and other keys */
			}
			if (key == 'q' || key == 's')
				break;
			printf("%c\n", key);
			fflush(stdout);
			/* the answer's own errors (timed out meanwhile) do not end the prompter */
			answer(cli, jint(p, "id"), v, lt, "app");
			break;
		}
		json_decref(rep);
		fflush(stdout);
		if (key == 'q')
			break;
	}
	if (tty)
		tcsetattr(0, TCSANOW, &old);
	return r;
}
