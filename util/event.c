// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <lfp/layer.h>
#include "event.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void lfp_addr_format(const uint8_t addr[16], char *buf, size_t size)
{
	if (!memcmp(addr, v4mapped_prefix, 12))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)size);
}

json_t *lfp_event_rec_to_json(const struct lfp_event_rec *e)
{
	json_t *j = json_object();

	if (!j)
		return NULL;
	json_object_set_new(j, "time_ns", json_integer((json_int_t)e->time_ns));
	json_object_set_new(j, "verdict", json_string(e->verdict));
	json_object_set_new(j, "layer", json_string(e->layer));
	json_object_set_new(j, "filter_id", json_integer((json_int_t)e->filter_id));
	json_object_set_new(j, "filter_name",
			    e->filter_name ? json_string(e->filter_name) : json_null());
	json_object_set_new(j, "pid", json_integer(e->pid));
	json_object_set_new(j, "uid", json_integer(e->uid));
	json_object_set_new(j, "gid", json_integer(e->gid));
	json_object_set_new(j, "cgroup", json_integer((json_int_t)e->cgroup));
	json_object_set_new(j, "path", e->path ? json_string(e->path) : json_null());
	json_object_set_new(j, "comm", json_string(e->comm ? e->comm : ""));
	json_object_set_new(j, "proto", json_string(e->proto ? e->proto : "?"));
	json_object_set_new(j, "ipver", json_integer(e->ipver));
	json_object_set_new(j, "local_addr", json_string(e->laddr));
	json_object_set_new(j, "local_port", json_integer(e->lport));
	json_object_set_new(j, "remote_addr", json_string(e->raddr));
	json_object_set_new(j, "remote_port", json_integer(e->rport));
	json_object_set_new(j, "cookie", json_integer((json_int_t)e->cookie));
	json_object_set_new(j, "flags", json_string(e->flags));
	if (e->oaddr[0]) {
		json_object_set_new(j, "orig_addr", json_string(e->oaddr));
		json_object_set_new(j, "orig_port", json_integer(e->oport));
	}
	if (e->has_bytes) {
		json_object_set_new(j, "bytes_out", json_integer((json_int_t)e->bytes_out));
		json_object_set_new(j, "bytes_in", json_integer((json_int_t)e->bytes_in));
	}
	if (e->note)
		json_object_set_new(j, "note", json_string(e->note));
	if (e->reason)
		json_object_set_new(j, "reason", json_string(e->reason));
	if (e->icmp) {
		json_object_set_new(j, "icmp_type", json_integer(e->icmp_type));
		json_object_set_new(j, "icmp_code", json_integer(e->icmp_code));
	}
	if (e->direction)
		json_object_set_new(j, "direction", json_string(e->direction));
	if (e->has_data) {
		char hex[2 * sizeof(e->data) + 1];

		for (size_t i = 0; i < e->n_data && i < sizeof(e->data); i++)
			snprintf(hex + 2 * i, 3, "%02x", e->data[i]);
		hex[2 * (e->n_data < sizeof(e->data) ? e->n_data : sizeof(e->data))] = 0;
		json_object_set_new(j, "length", json_integer(e->data_len));
		json_object_set_new(j, "data_hex", json_string(hex));
	}
	return j;
}

static const char *jstr(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static uint64_t jint(const json_t *j, const char *k)
{
	const json_t *v = json_object_get(j, k);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

int lfp_event_rec_from_json(struct lfp_event_rec *e, const json_t *j)
{
	const char *s;

	if (!json_is_object(j))
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->time_ns = jint(j, "time_ns");
	e->verdict = jstr(j, "verdict");
	e->layer = jstr(j, "layer");
	if (!e->verdict || !e->layer)
		return -EINVAL;
	e->filter_id = jint(j, "filter_id");
	e->filter_name = jstr(j, "filter_name");
	e->pid = (uint32_t)jint(j, "pid");
	e->uid = (uint32_t)jint(j, "uid");
	e->gid = (uint32_t)jint(j, "gid");
	e->cgroup = jint(j, "cgroup");
	e->path = jstr(j, "path");
	e->comm = jstr(j, "comm");
	e->proto = jstr(j, "proto");
	e->ipver = (int)jint(j, "ipver");
	s = jstr(j, "local_addr");
	snprintf(e->laddr, sizeof(e->laddr), "%s", s ? s : "");
	s = jstr(j, "remote_addr");
	snprintf(e->raddr, sizeof(e->raddr), "%s", s ? s : "");
	e->lport = (uint16_t)jint(j, "local_port");
	e->rport = (uint16_t)jint(j, "remote_port");
	e->cookie = jint(j, "cookie");
	s = jstr(j, "flags");
	snprintf(e->flags, sizeof(e->flags), "%s", s ? s : "");
	s = jstr(j, "orig_addr");
	snprintf(e->oaddr, sizeof(e->oaddr), "%s", s ? s : "");
	e->oport = (uint16_t)jint(j, "orig_port");
	e->has_bytes = json_object_get(j, "bytes_out") != NULL;
	e->bytes_out = jint(j, "bytes_out");
	e->bytes_in = jint(j, "bytes_in");
	e->note = jstr(j, "note");
	e->reason = jstr(j, "reason");
	e->icmp = json_is_integer(json_object_get(j, "icmp_type"));
	e->icmp_type = (uint8_t)jint(j, "icmp_type");
	e->icmp_code = (uint8_t)jint(j, "icmp_code");
	e->direction = jstr(j, "direction");
	s = jstr(j, "data_hex");
	if (s) {
		size_t n = strlen(s) / 2;

		e->has_data = true;
		e->data_len = (uint32_t)jint(j, "length");
		for (e->n_data = 0; e->n_data < n && e->n_data < sizeof(e->data); e->n_data++) {
			unsigned int b;

			if (sscanf(s + 2 * e->n_data, "%2x", &b) != 1)
				return -EINVAL;
			e->data[e->n_data] = (uint8_t)b;
		}
	}
	return 0;
}

/* A payload excerpt as text: printable ASCII as is, the rest (and quote and
 * backslash) as \xNN, so one event stays one line. */
static void data_format(const struct lfp_event_rec *e, char *buf, size_t size)
{
	size_t off;

	buf[0] = 0;
	if (!e->has_data)
		return;
	off = (size_t)snprintf(buf, size, " len=%u data=\"", e->data_len);
	for (size_t i = 0; i < e->n_data && i < sizeof(e->data) && off + 5 < size; i++) {
		uint8_t c = e->data[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[off++] = (char)c;
		else
			off += (size_t)snprintf(buf + off, size - off, "\\x%02x", c);
	}
	if (off + 2 < size) {
		buf[off++] = '"';
		buf[off] = 0;
	}
}

static void endpoint(char *buf, size_t size, const char *addr, uint16_t port)
{
	if (strchr(addr, ':'))
		snprintf(buf, size, "[%s]:%u", addr, port);
	else
		snprintf(buf, size, "%s:%u", addr, port);
}

int lfp_event_rec_format(const struct lfp_event_rec *e, char *buf, size_t size)
{
	char ts[40], filt[160], loc[80], rem[80], orig[96] = "", bytes[64] = "", icmp[40] = "";
	char dir[16] = "", data[4 * 128 + 32];
	time_t secs = (time_t)(e->time_ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (e->filter_id)
		snprintf(filt, sizeof(filt), "%" PRIu64 "%s%s%s", e->filter_id,
			 e->filter_name ? "(" : "", e->filter_name ? e->filter_name : "",
			 e->filter_name ? ")" : "");
	else
		snprintf(filt, sizeof(filt), "none");
	endpoint(loc, sizeof(loc), e->laddr, e->lport);
	endpoint(rem, sizeof(rem), e->raddr, e->rport);
	if (e->oaddr[0]) {
		memcpy(orig, " orig=", 6);
		endpoint(orig + 6, sizeof(orig) - 6, e->oaddr, e->oport);
	}
	if (e->has_bytes)
		snprintf(bytes, sizeof(bytes), " bytes_out=%" PRIu64 " bytes_in=%" PRIu64,
			 e->bytes_out, e->bytes_in);
	if (e->icmp)
		snprintf(icmp, sizeof(icmp), " icmp=%u/%u", e->icmp_type, e->icmp_code);
	if (e->direction)
		snprintf(dir, sizeof(dir), " dir=%s", e->direction);
	data_format(e, data, sizeof(data));
	return snprintf(buf, size,
			"%s.%03uZ %s %s filter=%s pid=%u path=%s uid=%u proto=%s local=%s "
			"remote=%s%s%s%s%s%s%s%s%s%s%s%s",
			ts, (unsigned int)(e->time_ns / 1000000 % 1000), e->verdict, e->layer, filt,
			e->pid, e->path ? e->path : (e->comm ? e->comm : "?"), e->uid,
			e->proto ? e->proto : "?", loc, rem, dir, icmp, orig,
			e->flags[0] ? " flags=" : "", e->flags, bytes, e->note ? " note=" : "",
			e->note ? e->note : "", e->reason ? " reason=" : "",
			e->reason ? e->reason : "", data);
}

void lfp_event_flags_format(uint32_t flags, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned int bit = 0; bit < 32 && off < size; bit++) {
		const char *name;

		if (!(flags & (1u << bit)))
			continue;
		name = lfp_cflag_name(bit);
		off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? "+" : "",
					name ? name : "?");
	}
}
