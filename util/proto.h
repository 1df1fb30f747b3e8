/* SPDX-License-Identifier: MIT */
/**
 * @file proto.h
 * @brief lfpd's wire protocol: one JSON object per line over a Unix stream
 * socket (docs/api.md). Shared by lfpd and lfp.
 */
#pragma once

#include <stddef.h>
#include <jansson.h>

/** Largest accepted message (bytes, without the newline). Larger: an error reply, connection
 * closed. */
#define LFP_MSG_MAX (4u << 20)
/** Limit for clients that may change policy (a rule file of a million filters fits). */
#define LFP_MSG_MAX_PRIV ((size_t)512 << 20)
/** Limit the client applies to replies (filter lists and exports of large policies). */
#define LFP_MSG_MAX_REPLY ((size_t)1 << 30)

/** Incremental line reader for a (blocking or non-blocking) fd. */
struct lfp_linebuf {
	char *buf;
	size_t len, cap;
	size_t max;   /**< longest accepted line; 0 = LFP_MSG_MAX */
	int overflow; /**< a line longer than the limit was seen */
};

/**
 * Read what is available from @p fd into @p lb.
 * @return bytes read (>0), 0 on EOF, -EAGAIN when nothing is available, -errno.
 */
int lfp_linebuf_fill(struct lfp_linebuf *lb, int fd);

/**
 * Take the next complete line out of @p lb (without the newline).
 * @return a malloc'd NUL-terminated line, or NULL when no complete line is buffered.
 * With lb->overflow set the caller must answer with an error and close.
 */
char *lfp_linebuf_next(struct lfp_linebuf *lb);

void lfp_linebuf_fini(struct lfp_linebuf *lb);

/** Serialize @p msg compactly plus a newline and write it all (blocking). @return 0 or -errno. */
int lfp_msg_write(int fd, const json_t *msg);

/** Serialize @p msg compactly with a trailing newline into a malloc'd string. */
char *lfp_msg_dump(const json_t *msg, size_t *len);

/** Blocking: read one JSON object line from @p fd. @return 0, -EPIPE on EOF, -EPROTO on bad JSON.
 */
int lfp_msg_read(int fd, struct lfp_linebuf *lb, json_t **out);
