#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Monitor mode: lfpd with no policy permits everything and reports every connect,
# with the client's pid, executable, remote and its real (non-zero) local port.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

t_expect "no policy: status says monitor mode" true "$(status_get monitor_mode)"
st=$(layer_status auth-connect state)
t_expect "status: auth-connect is enforced" enforced "$st"
mech=$(layer_status auth-connect mechanism)
t_check "status: auth-connect's mechanism names its attached hooks" eval \
	"[[ \"\$mech\" == *connect4*connect6*sendmsg4*sendmsg6* ]]"

# --count N: the monitor ends by itself after N events
"$LFP_BIN" --socket "$T_SOCK" monitor --json --count 1 >"$T_TMP/count.json" 2>&1 &
cpid=$!
T_PIDS+=($cpid)
for i in $(seq 30); do
	kill -0 $cpid 2>/dev/null || break
	py_tcp 127.0.0.1 $PROBE_PORT >/dev/null
	sleep 0.1
done
if kill -0 $cpid 2>/dev/null; then
	t_fail "monitor --count 1 ends after one event (still running after 30 connections)"
else
	wait $cpid
	t_expect "monitor --count 1 exits 0" 0 $?
	t_expect "monitor --count 1 printed one event" 1 "$(grep -c '"verdict"' "$T_TMP/count.json")"
fi
mon_start || t_bail "monitor stream did not show a probe event"

# check_event FAMILY ADDR URLHOST
check_event() {
	local fam=$1 addr=$2 url=$3 v pid ev
	SCOPE_PIDFILE=$T_TMP/curl.pid in_scope $CURL -sv --max-time 3 -o /dev/null "$url" \
		2>"$T_TMP/curl.err"
	v=$(curl_verdict $?)
	pid=$(cat "$T_TMP/curl.pid")
	t_expect "$fam: curl to $addr:$P1 is permitted in monitor mode" ok "$v"
	if ev=$(ev_find pid="$pid" remote_port="$P1"); then
		t_ok "$fam: monitor shows an event for that curl (pid $pid)"
	else
		t_fail "$fam: monitor shows an event for that curl (pid $pid)"
		tail -n 5 "$T_TMP/mon.json" | t_diag
		return
	fi
	t_expect "$fam: event verdict" permit "$(json_get "$ev" verdict)"
	t_expect "$fam: event layer" auth-connect "$(json_get "$ev" layer)"
	t_expect "$fam: event path is the executable" "$CURL" "$(json_get "$ev" path)"
	t_expect "$fam: event uid" 0 "$(json_get "$ev" uid)"
	t_expect "$fam: event proto" tcp "$(json_get "$ev" proto)"
	t_expect "$fam: event remote addr" "$addr" "$(json_get "$ev" remote_addr)"
	t_expect "$fam: event remote port" "$P1" "$(json_get "$ev" remote_port)"
	lp=$(json_get "$ev" local_port)
	if [ -n "$lp" ] && [ "$lp" != 0 ]; then
		t_ok "$fam: event has the real local port ($lp)"
	else
		t_fail "$fam: event has the real local port (got '$lp')"
		echo "$ev" | t_diag
	fi
}

check_event ipv4 127.0.0.1 "http://127.0.0.1:$P1/"
check_event ipv6 ::1 "http://[::1]:$P1/"

# a python client's local port as the kernel assigned it matches the event's
r=$(SCOPE_PIDFILE=$T_TMP/py.pid in_scope $PY "$CLIENT" tcp 127.0.0.1 $P2)
t_expect "python client permitted in monitor mode" ok "$(json_get "$r" result)"
lp=$(json_get "$r" local_port)
if ev=$(ev_find pid="$(cat "$T_TMP/py.pid")" remote_port="$P2"); then
	t_expect "python: event local port is the socket's port" "$lp" "$(json_get "$ev" local_port)"
	t_expect "python: event path is the interpreter's executable" \
		"$(readlink -f $PY)" "$(json_get "$ev" path)"
else
	t_fail "python: monitor shows an event for the python client"
fi
