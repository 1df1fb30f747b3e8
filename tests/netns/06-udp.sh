#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# UDP: one unconnected socket sendto()s five ports; a port-set rule blocks two of
# them: exactly those fail with EPERM (also on the second, cached send), the others
# deliver and echo. Connected UDP is blocked at connect().
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

ALL=$U1,$U2,$U3,$U4,$U5
r=$(in_scope $PY "$CLIENT" udp 127.0.0.1 $ALL)
t_expect "no policy: all five ports deliver" 0 $?
for p in $U1 $U2 $U3 $U4 $U5; do
	t_expect "no policy: port $p" delivered "$(json_get "$r" $p)"
done

lfp filter add name udp-block layer auth-connect proto udp remote.port { $U2, $U4 } block \
	>/dev/null || t_bail "filter add port set"

check_ports() { # HOST
	local host=$1 r p want
	r=$(SCOPE_PIDFILE=$T_TMP/udp.pid in_scope $PY "$CLIENT" udp "$host" $ALL)
	for p in $U1 $U2 $U3 $U4 $U5; do
		case $p in $U2 | $U4) want=EPERM ;; *) want=delivered ;; esac
		t_expect "$host one socket, port $p: $want" $want "$(json_get "$r" $p)"
	done
}
check_ports 127.0.0.1
if ev=$(ev_find pid="$(cat "$T_TMP/udp.pid")" verdict=block remote_port=$U2); then
	t_expect "UDP block event: proto" udp "$(json_get "$ev" proto)"
	t_expect "UDP block event: filter" udp-block "$(json_get "$ev" filter_name)"
else
	t_fail "a block event for the UDP sendto to $U2"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
check_ports ::1

r=$(in_scope $PY "$CLIENT" udpconn 127.0.0.1 $U2)
t_expect "connected UDP to $U2: connect fails with EPERM" EPERM "$(json_get "$r" result)"
r=$(in_scope $PY "$CLIENT" udpconn ::1 $U4)
t_expect "connected UDP to [::1]:$U4: connect fails with EPERM" EPERM "$(json_get "$r" result)"
r=$(in_scope $PY "$CLIENT" udpconn 127.0.0.1 $U3)
t_expect "connected UDP to $U3 works" ok "$(json_get "$r" result)"

t_expect "proto udp rule leaves TCP to the same port number alone" ok \
	"$(py_tcp 127.0.0.1 $P1)"

# the verdict cache must follow policy changes, also for a socket that already sent
run_udpwait() { # PORT -> starts the client, waits until its first send is done
	rm -f "$T_TMP/go" "$T_TMP/udpwait.out"
	in_scope $PY "$CLIENT" udpwait 127.0.0.1 "$1" "$T_TMP/go" >"$T_TMP/udpwait.out" &
	UDPWAIT_PID=$!
	for i in $(seq 50); do
		grep -q ready "$T_TMP/udpwait.out" && return 0
		sleep 0.1
	done
	return 1
}
udpwait_finish() { # -> $r: the client's result (not in $(...): wait needs this shell)
	touch "$T_TMP/go"
	wait $UDPWAIT_PID
	r=$(tail -n 1 "$T_TMP/udpwait.out")
}
run_udpwait $U2 || t_fail "udpwait client did not start"
lfp filter delete udp-block || t_bail "filter delete"
udpwait_finish
t_expect "same socket: $U2 blocked before the delete" EPERM "$(json_get "$r" first)"
t_expect "same socket: $U2 delivers after the delete" delivered "$(json_get "$r" second)"
r=$(in_scope $PY "$CLIENT" udp 127.0.0.1 $ALL)
t_expect "after the delete, all five ports deliver again (new socket)" 0 $?

run_udpwait $U5 || t_fail "udpwait client did not start"
lfp filter add layer auth-connect proto udp remote.port $U5 block >/dev/null || t_bail "filter add"
udpwait_finish
t_expect "same socket: $U5 delivers before the block is added" delivered "$(json_get "$r" first)"
t_expect "same socket: $U5 blocked after the block is added (cache invalidated)" EPERM \
	"$(json_get "$r" second)"
