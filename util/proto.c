// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proto.h"

static size_t linebuf_max(const struct lfp_linebuf *lb)
{
	return lb->max ? lb->max : LFP_MSG_MAX;
}

int lfp_linebuf_fill(struct lfp_linebuf *lb, int fd)
{
	size_t max = linebuf_max(lb);
	ssize_t n;

	if (lb->cap - lb->len < 4096) {
		size_t cap = lb->cap ? lb->cap * 2 : 8192;
		char *b;

		if (cap > max + 8192)
			cap = max + 8192;
		if (cap <= lb->len) {
			/* no newline within LFP_MSG_MAX: the peer sends an oversized message */
			lb->overflow = 1;
			return -EMSGSIZE;
		}
		b = realloc(lb->buf, cap);
		if (!b)
			return -ENOMEM;
		lb->buf = b;
		lb->cap = cap;
	}
	n = read(fd, lb->buf + lb->len, lb->cap - lb->len);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	lb->len += (size_t)n;
	return (int)n;
}

char *lfp_linebuf_next(struct lfp_linebuf *lb)
{
	char *nl = lb->len ? memchr(lb->buf, '\n', lb->len) : NULL;
	size_t n;
	char *line;

	if (!nl) {
		if (lb->len > linebuf_max(lb))
			lb->overflow = 1;
		return NULL;
	}
	n = (size_t)(nl - lb->buf);
	if (n > linebuf_max(lb)) {
		lb->overflow = 1;
		return NULL;
	}
	line = malloc(n + 1);
	if (!line)
		return NULL;
	memcpy(line, lb->buf, n);
	line[n] = 0;
	memmove(lb->buf, nl + 1, lb->len - n - 1);
	lb->len -= n + 1;
	return line;
}

void lfp_linebuf_fini(struct lfp_linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

char *lfp_msg_dump(const json_t *msg, size_t *len)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n;
	char *r;

	if (!s)
		return NULL;
	n = strlen(s);
	r = realloc(s, n + 2);
	if (!r) {
		free(s);
		return NULL;
	}
	r[n] = '\n';
	r[n + 1] = 0;
	if (len)
		*len = n + 1;
	return r;
}

int lfp_msg_write(int fd, const json_t *msg)
{
	size_t len, off = 0;
	char *s = lfp_msg_dump(msg, &len);

	if (!s)
		return -ENOMEM;
	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(s);
			return -errno;
		}
		off += (size_t)n;
	}
	free(s);
	return 0;
}

int lfp_msg_read(int fd, struct lfp_linebuf *lb, json_t **out)
{
	for (;;) {
		char *line = lfp_linebuf_next(lb);
		int r;

		if (line) {
			json_error_t err;

			*out = json_loads(line, 0, &err);
			free(line);
			return *out && json_is_object(*out) ? 0 : -EPROTO;
		}
		if (lb->overflow)
			return -EMSGSIZE;
		r = lfp_linebuf_fill(lb, fd);
		if (r == 0)
			return -EPIPE;
		if (r < 0 && r != -EINTR)
			return r;
	}
}
