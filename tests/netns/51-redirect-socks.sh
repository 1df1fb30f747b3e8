#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The redirector, TCP: `redirect direct` and `redirect socks5://` (microsocks, with and
# without RFC 1929 credentials), IPv4 and IPv6. The application's connection carries
# nothing extra (a server that speaks first works), getpeername shows the original
# destination, a 1 MiB echo with half-close arrives intact, events report every
# redirected flow with bytes; an upstream that is down fails the application's
# connection at once (reset, never a direct connection) and is logged; auth-connect
# blocks by orig.port; credentials appear in no listing, export, event or log; lfpd
# itself in scope with a filter that redirects everything (the redirector's own
# connection to its upstream included) does not loop.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
RC="$HERE/redir_client.py"
rc() { in_scope $PY "$RC" "$@"; }
BAN=2121 ECHO=2122 ECHOD=2123 S4=1080 S6=1082 SA=1081 DOWN=1999

nsenter --net="/run/netns/$T_NS" -- $PY "$HERE/redir_srv.py" "$T_TMP/rs.ready" banner:127.0.0.1:$BAN banner:[::1]:$BAN \
	echo:127.0.0.1:$ECHO echo:[::1]:$ECHO echo:127.0.0.1:$ECHOD echo:[::1]:$ECHOD >"$T_TMP/rs.log" 2>&1 &
T_PIDS+=($!)
t_bg nsenter --net="/run/netns/$T_NS" -- microsocks -i 127.0.0.1 -p $S4 >/dev/null 2>&1
t_bg nsenter --net="/run/netns/$T_NS" -- microsocks -i ::1 -p $S6 >/dev/null 2>&1
t_bg nsenter --net="/run/netns/$T_NS" -- microsocks -i 127.0.0.1 -p $SA -u alice -P s3cret-pw >/dev/null 2>&1
for i in $(seq 50); do
	[ -f "$T_TMP/rs.ready" ] && ns_run $PY -c "
import socket,sys
for h,p in (('127.0.0.1',$S4),('::1',$S6),('127.0.0.1',$SA)):
    socket.create_connection((h,p),timeout=1).close()" 2>/dev/null && break
	sleep 0.1
done
[ "$i" -lt 50 ] || t_bail "servers did not come up"

t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

lfp filter add name dir layer connect-redirect proto tcp remote.port "{$P1, $ECHOD}" redirect direct \
	>/dev/null || t_bail "add direct"
lfp filter add name sx4 layer connect-redirect proto tcp remote.addr 127.0.0.0/8 \
	remote.port "{$P2, $ECHO}" redirect socks5://127.0.0.1:$S4 >/dev/null || t_bail "add sx4"
lfp filter add name sx6 layer connect-redirect proto tcp remote.addr ::1 \
	remote.port "{$P2, $ECHO}" redirect "socks5://[::1]:$S6" >/dev/null || t_bail "add sx6"
lfp filter add name auth layer connect-redirect proto tcp remote.port $BAN \
	redirect socks5://alice:s3cret-pw@127.0.0.1:$SA >/dev/null || t_bail "add auth"
lfp filter add name down layer connect-redirect proto tcp remote.port $P3 \
	redirect socks5://127.0.0.1:$DOWN >/dev/null || t_bail "add down"

r=$(rc tcp 127.0.0.1 $P1)
t_expect "direct: the connection reaches its destination" ok "$(json_get "$r" result)"
t_expect "direct: getpeername shows the original destination" 127.0.0.1:$P1 \
	"$(json_get "$r" peer)"
for h in 127.0.0.1 ::1; do
	r=$(rc big $h $ECHOD 4194304)
	t_expect "direct [$h]: 4 MiB echoed intact across a half-close" ok "$(json_get "$r" result)"
done
r=$(rc many 127.0.0.1 $ECHOD 2000)
t_expect "direct: 2000 flows open at once, each gets its own bytes back" ok \
	"$(json_get "$r" result)"
e=$(ev_find layer=connect-redirect verdict=redirect orig_port=$P1 note=direct)
t_check "direct: an event for the finished flow with its bytes" \
	eval "[ -n '$e' ] && [ \"\$(json_get '$e' bytes_in)\" -gt 0 ]"

for h in 127.0.0.1 ::1; do
	r=$(rc tcp $h $P2)
	t_expect "socks5 [$h]: the connection goes through the proxy" ok "$(json_get "$r" result)"
	r=$(rc turns $h $ECHO 1048576)
	t_expect "socks5 [$h]: 1 MiB echoed intact" ok "$(json_get "$r" result)"
done
r=$(rc banner 127.0.0.1 $BAN)
t_expect "socks5 with credentials: a server that speaks first" "220 lfp-banner" \
	"$(json_get "$r" reply)"
r=$(rc banner ::1 $BAN)
t_expect "... over IPv6 to an IPv4 proxy" "220 lfp-banner" "$(json_get "$r" reply)"
t_expect "... getpeername shows the original destination" "[::1]:$BAN" "$(json_get "$r" peer)"
e=$(ev_find layer=connect-redirect verdict=redirect orig_port=$ECHO remote_port=$S6)
t_check "socks5: the event names the upstream as remote, the original as orig" test -n "$e"
t_check "... and counts the bytes" eval "[ \"\$(json_get '$e' bytes_out)\" = 1048576 ]"

# upstream down: the application's connection fails at once, nothing goes direct
r=$(rc tcp 127.0.0.1 $P3)
res=$(json_get "$r" result)
t_check "upstream down: the connection fails (got $res)" \
	eval "[ '$res' = ECONNRESET ] || [ '$res' = EPIPE ] || [ '$res' = bad-reply ]"
t_check "... promptly ($(json_get "$r" ms) ms)" test "$(json_get "$r" ms)" -lt 1500
t_check "... reported as a block with the reason" \
	eval "ev_find layer=connect-redirect verdict=block orig_port=$P3 >/dev/null"
t_check "... and logged by lfpd" grep -q "redirect .* failed" "$T_TMP/lfpd.log"

# auth-connect judges the flow to the redirector by its original destination
lfp filter add name no-orig layer auth-connect orig.port $P2 block >/dev/null ||
	t_bail "add no-orig"
r=$(rc tcp 127.0.0.1 $P2)
t_expect "auth-connect blocks a redirected flow by orig.port" EPERM "$(json_get "$r" result)"
lfp filter delete no-orig >/dev/null || t_bail "delete no-orig"

# credentials
t_check "credentials: not in filter list" eval "! lfp filter list | grep -q s3cret"
t_check "credentials: not in filter list --json" eval "! lfp filter list --json | grep -q s3cret"
t_check "credentials: not in export" eval "! lfp export | grep -q s3cret"
t_check "credentials: export shows them masked" eval "lfp export | grep -q 'alice:\*\*\*@'"
t_check "credentials: not in events" eval "! grep -q s3cret '$T_TMP/mon.json'"
t_check "credentials: not in lfpd's log" eval "! grep -q s3cret '$T_TMP/lfpd.log'"

# loop guard: lfpd in scope, everything redirected, the proxy's port included
echo "$T_LFPD_PID" >"$T_CG/cgroup.procs" || t_bail "move lfpd into the test cgroup"
lfp filter delete down >/dev/null || t_bail "delete down"
lfp filter add name all layer connect-redirect weight 1 proto tcp \
	redirect socks5://127.0.0.1:$S4 >/dev/null || t_bail "add all"
r=$(rc tcp 127.0.0.1 $P3)
t_expect "loop guard: everything in scope redirected, the redirector's own connect is not" \
	ok "$(json_get "$r" result)"
t_check "redirector events name the executable" \
	eval "ev_find layer=connect-redirect note=direct path=$(readlink -f $PY) >/dev/null"
t_check "... lfpd still answers" eval "lfp status >/dev/null"
t_check "... the flow went through the proxy" \
	eval "ev_find layer=connect-redirect verdict=redirect orig_port=$P3 remote_port=$S4 >/dev/null"
