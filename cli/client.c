// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "cli.h"
#include "proto.h"

int cli_connect(const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

void cli_print_diags(const json_t *diags, const char *file)
{
	struct lfp_diags d = { 0 };
	size_t i;
	json_t *g;

	if (file)
		lfp_diags_set_file(&d, file);
	json_array_foreach(diags, i, g)
	{
		const char *sev = json_string_value(json_object_get(g, "severity"));
		struct lfp_loc loc = {
			(uint32_t)json_integer_value(json_object_get(g, "line")),
			(uint32_t)json_integer_value(json_object_get(g, "col")),
		};
		const char *msg = json_string_value(json_object_get(g, "msg"));
		const char *text = json_string_value(json_object_get(g, "text"));

		/* statements given on the command line have no file: `error: msg` + caret */
		if (!file)
			loc.line = 0;
		lfp_diags_add(&d,
			      sev && !strcmp(sev, "warning") ? LFP_DIAG_WARNING : LFP_DIAG_ERROR,
			      loc, text, "%s", msg ? msg : "?");
	}
	lfp_diags_print(&d, stderr);
	lfp_diags_fini(&d);
}

int cli_call(struct cli *cli, json_t *req, json_t **reply, const char *file)
{
	struct lfp_linebuf lb = { 0 };
	json_t *rep = NULL;
	int fd, r;

	*reply = NULL;
	fd = cli_connect(cli->socket);
	if (fd < 0) {
		fprintf(stderr, "error: cannot reach lfpd at %s: %s (is lfpd running?)\n",
			cli->socket, strerror(-fd));
		json_decref(req);
		return EXIT_SYSTEM;
	}
	lb.max = LFP_MSG_MAX_REPLY;
	r = lfp_msg_write(fd, req);
	json_decref(req);
	/* lfpd may refuse a request before reading all of it: its reply still says why */
	if (!r || r == -EPIPE || r == -ECONNRESET)
		r = lfp_msg_read(fd, &lb, &rep);
	lfp_linebuf_fini(&lb);
	close(fd);
	if (r) {
		fprintf(stderr, "error: lfpd at %s did not answer: %s\n", cli->socket,
			strerror(-r));
		return EXIT_SYSTEM;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		json_t *diags = json_object_get(rep, "diags");
		int code = (int)json_integer_value(json_object_get(rep, "exit"));

		if (json_array_size(diags))
			cli_print_diags(diags, file);
		else
			fprintf(stderr, "error: %s\n",
				json_string_value(json_object_get(rep, "error")) ?: "failed");
		json_decref(rep);
		return code == EXIT_REQUEST ? EXIT_REQUEST : EXIT_SYSTEM;
	}
	if (json_array_size(json_object_get(rep, "diags")))
		cli_print_diags(json_object_get(rep, "diags"), file);
	*reply = rep;
	return 0;
}

int cli_do(struct cli *cli, json_t *req, const char *file, json_t **keep)
{
	json_t *rep;
	int r = cli_call(cli, req, &rep, file);

	if (keep)
		*keep = NULL;
	if (r)
		return r;
	if (cli->json)
		cli_print_json(rep);
	if (keep)
		*keep = rep;
	else
		json_decref(rep);
	return 0;
}

bool cli_want_help(int argc, char **argv, const char *help)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(help, stdout);
			return true;
		}
	}
	return false;
}

static bool needs_quotes(const char *w)
{
	size_t n = strlen(w);

	if (!n)
		return true;
	/* a set quoted against the shell's brace expansion ("{80, 443}") stays a set */
	if (w[0] == '{' && w[n - 1] == '}' && !strpbrk(w, "\"#"))
		return false;
	for (const char *p = w; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '"' || *p == '#' || *p == '\\')
			return true;
	return false;
}

char *cli_join_words(int argc, char **argv)
{
	size_t len = 1;
	char *s, *p;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) * 2 + 3;
	s = p = malloc(len);
	if (!s)
		return NULL;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];

		if (i)
			*p++ = ' ';
		if (!needs_quotes(w)) {
			p = stpcpy(p, w);
			continue;
		}
		*p++ = '"';
		for (; *w; w++) {
			if (*w == '"' || *w == '\\')
				*p++ = '\\';
			*p++ = *w;
		}
		*p++ = '"';
	}
	*p = 0;
	return s;
}

char *cli_read_file(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *b = realloc(buf, cap = cap * 2 + 8192);

			if (!b) {
				free(buf);
				buf = NULL;
				errno = ENOMEM;
				break;
			}
			buf = b;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				free(buf);
				buf = NULL;
			} else {
				buf[len] = 0;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

void cli_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s) {
		puts(s);
		free(s);
	}
}
