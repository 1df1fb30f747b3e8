#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The redirector through an HTTP proxy (CONNECT): a tiny proxy in python
# (redir_srv.py httpproxy), IPv4 and IPv6 destinations, a server that speaks first right
# behind the proxy's 200 reply, a 1 MiB echo across a half-close; a proxy that refuses
# (403), one that answers a malformed status line, and one that is not there: the
# application's connection fails at once, lfpd reports it and keeps serving.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
RC="$HERE/redir_client.py"
rc() { in_scope $PY "$RC" "$@"; }
BAN=2121 ECHO=2122 HP=3128 HP6=3129 DOWN=3999

nsenter --net="/run/netns/$T_NS" -- $PY "$HERE/redir_srv.py" "$T_TMP/rs.ready" banner:127.0.0.1:$BAN banner:[::1]:$BAN \
	echo:127.0.0.1:$ECHO echo:[::1]:$ECHO httpproxy:127.0.0.1:$HP httpproxy:[::1]:$HP6 \
	>"$T_TMP/rs.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do
	[ -f "$T_TMP/rs.ready" ] && break
	sleep 0.1
done
[ -f "$T_TMP/rs.ready" ] || t_bail "servers did not come up"

t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

lfp filter add name hp layer connect-redirect proto tcp remote.port "{$P1, $BAN, $ECHO, 1, 2}" \
	redirect http://127.0.0.1:$HP >/dev/null || t_bail "add hp"
lfp filter add name hp6 layer connect-redirect proto tcp remote.addr ::1 remote.port $P2 \
	redirect "http://[::1]:$HP6" >/dev/null || t_bail "add hp6"
lfp filter add name down layer connect-redirect proto tcp remote.port $P3 \
	redirect http://127.0.0.1:$DOWN >/dev/null || t_bail "add down"

r=$(rc tcp 127.0.0.1 $P1)
t_expect "http CONNECT: IPv4 destination reached" ok "$(json_get "$r" result)"
t_expect "... getpeername shows the original destination" 127.0.0.1:$P1 "$(json_get "$r" peer)"
r=$(rc tcp ::1 $P1)
t_expect "http CONNECT: IPv6 destination through an IPv4 proxy" ok "$(json_get "$r" result)"
r=$(rc tcp ::1 $P2)
t_expect "http CONNECT: through an IPv6 proxy" ok "$(json_get "$r" result)"
for h in 127.0.0.1 ::1; do
	r=$(rc banner $h $BAN)
	t_expect "http CONNECT [$h]: a server that speaks first" "220 lfp-banner" \
		"$(json_get "$r" reply)"
	r=$(rc big $h $ECHO 1048576)
	t_expect "http CONNECT [$h]: 1 MiB echoed intact across a half-close" ok \
		"$(json_get "$r" result)"
done
t_check "the flow's event names the proxy and counts the bytes" \
	eval "ev_find layer=connect-redirect verdict=redirect orig_port=$ECHO remote_port=$HP \
		bytes_out=1048576 bytes_in=1048576 >/dev/null"

for p in 1 2 $P3; do
	r=$(rc tcp 127.0.0.1 $p)
	res=$(json_get "$r" result)
	t_check "proxy refuses / garbles / is down (port $p): the connection fails ($res)" \
		eval "[ '$res' = ECONNRESET ] || [ '$res' = EPIPE ]"
	t_check "... promptly ($(json_get "$r" ms) ms)" test "$(json_get "$r" ms)" -lt 1500
done
t_check "403 reported with the reason" eval "ev_find layer=connect-redirect verdict=block \
	orig_port=1 'note=http://127.0.0.1:$HP failed: the HTTP proxy refused the CONNECT (403)' \
	>/dev/null"
t_check "malformed reply reported" eval "ev_find layer=connect-redirect verdict=block \
	orig_port=2 'note=http://127.0.0.1:$HP failed: malformed HTTP status line from the proxy' \
	>/dev/null"
r=$(rc tcp 127.0.0.1 $P1)
t_expect "the redirector keeps serving" ok "$(json_get "$r" result)"
