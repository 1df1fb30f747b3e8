#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# endpoint-closure for UDP: cgroup/sock_release reports the close of a UDP socket that
# had a flow (connected, or sent from) when a `log` filter at endpoint-closure decides:
# the socket's owner, its local port, the remote of a connected socket. A socket never
# used is no endpoint; without a filter nothing is reported. Observe only. IPv4, IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

# udp.py connect|send|idle HOST PORT: a UDP socket that connects and sends, sends
# unconnected, or does nothing; prints its local port, then closes it.
cat >"$T_TMP/udp.py" <<'EOF'
import socket, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if mode == "connect":
    s.connect((host, port))
    s.send(b"x")
elif mode == "send":
    s.sendto(b"x", (host, port))
print(s.getsockname()[1])
s.close()
EOF
run() {
	local name=$1
	shift
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/udp.py" "$@"
}
spid() { cat "$T_TMP/$1.pid"; }
PORT=9251
# mark NAME: a later flow whose auth-connect event has arrived; events are in ring order,
# so an event of anything closed before it would be in mon.json by then
mark() {
	run "$1" send 127.0.0.1 $((PORT + 1)) >/dev/null
	ev_find pid="$(spid "$1")" layer=auth-connect >/dev/null || t_fail "marker $1: its event"
}

mech=$(layer_status endpoint-closure mechanism)
t_check "status: endpoint-closure names sock_release" eval "[[ \"\$mech\" == *sock_release* ]]"
echo "mechanism: $mech" | t_diag

# without a filter at endpoint-closure: the flow is reported (auth-connect), its close not
run n0 connect 127.0.0.1 $PORT >/dev/null
ev_find pid="$(spid n0)" layer=auth-connect >/dev/null ||
	t_fail "the unfiltered UDP flow has its auth-connect event"
mark m0
t_check "no filter at endpoint-closure: no closure event" \
	eval '! grep "\"pid\": *$(spid n0)\b" "$T_TMP/mon.json" | grep -q endpoint-closure'

cid=$(lfp filter add name log-close layer endpoint-closure proto udp permit log)
t_check "filter add endpoint-closure proto udp prints an id" is_num "$cid"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	run i$f idle $H $PORT >/dev/null
	lp=$(run c$f connect $H $PORT)
	if ev=$(ev_find pid="$(spid c$f)" layer=endpoint-closure); then
		t_expect "IPv$f connected: filter id" "$cid" "$(json_get "$ev" filter_id)"
		t_expect "IPv$f connected: verdict" permit "$(json_get "$ev" verdict)"
		t_expect "IPv$f connected: proto" udp "$(json_get "$ev" proto)"
		t_expect "IPv$f connected: local port" "$lp" "$(json_get "$ev" local_port)"
		t_expect "IPv$f connected: remote addr" $H "$(json_get "$ev" remote_addr)"
		t_expect "IPv$f connected: remote port" $PORT "$(json_get "$ev" remote_port)"
		t_expect "IPv$f connected: ipver" $f "$(json_get "$ev" ipver)"
		t_expect "IPv$f connected: the owner's executable" "$(readlink -f $PY)" \
			"$(json_get "$ev" path)"
	else
		t_fail "IPv$f: an endpoint-closure event for the connected UDP socket"
		tail -n 3 "$T_TMP/mon.json" | t_diag
	fi
	lp=$(run s$f send $H $PORT)
	if ev=$(ev_find pid="$(spid s$f)" layer=endpoint-closure); then
		t_expect "IPv$f unconnected: local port" "$lp" "$(json_get "$ev" local_port)"
		t_expect "IPv$f unconnected: no remote port" 0 "$(json_get "$ev" remote_port)"
	else
		t_fail "IPv$f: an endpoint-closure event for the unconnected UDP socket"
	fi
	# the idle socket closed before the others: its event would be there by now
	t_check "IPv$f: a socket never used has no closure event" \
		eval '! grep "\"pid\": *$(spid i$f)\b" "$T_TMP/mon.json" | grep -q endpoint-closure'
done

lfp filter delete log-close || t_fail "filter delete log-close"
lfp filter add name tcp-close layer endpoint-closure proto tcp permit log >/dev/null ||
	t_bail "filter add proto tcp"
run u4 connect 127.0.0.1 $PORT >/dev/null
ev_find pid="$(spid u4)" layer=auth-connect >/dev/null ||
	t_fail "the UDP flow after delete has its auth-connect event"
mark m1
t_check "a filter naming only TCP: no closure event for UDP" \
	eval '! grep "\"pid\": *$(spid u4)\b" "$T_TMP/mon.json" | grep -q endpoint-closure'
