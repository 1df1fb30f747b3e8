#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# auth-listen without BPF LSM: a listen() the policy blocks still succeeds, but the
# listener is marked and every SYN to it is dropped at ingress, so a client's connect
# times out and nothing is ever accepted; a block event (layer auth-listen) reports the
# listen. Another port, another application and the same port after the filter is
# deleted listen normally; a listener that was blocked is re-authorized when the
# filter is deleted. A permitted listen is reported only when its filter says
# `log`. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PB=9999 PO=9998 PA=9997 PN=9996 PL=9995 # blocked / other / app-filtered / app not named / logged

# a listener: prints "listening" once listen() returned, then "accepted" per connection
cat >"$T_TMP/lsn.py" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
try:
    s.listen(16)
except OSError as e:
    print("listen failed", e.errno, flush=True)
    sys.exit(1)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    print("accepted", flush=True)
    c.close()
EOF
# another application: a copy of the interpreter is another executable identity
cp "$(readlink -f $PY)" "$T_TMP/pyother" || t_bail "copy python"

# lsn_start NAME BIN HOST PORT: a listener in scope; waits for "listening" (or its failure)
lsn_start() {
	local name=$1 bin=$2 host=$3 port=$4 i
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope "$bin" "$T_TMP/lsn.py" "$host" "$port" \
		>"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q '^listen' "$T_TMP/$name.out" && break
		sleep 0.1
	done
	head -n 1 "$T_TMP/$name.out"
}
lsn_stop() { [ -f "$T_TMP/$1.pid" ] && kill -KILL "$(cat "$T_TMP/$1.pid")" 2>/dev/null; rm -f "$T_TMP/$1.pid"; }
kill_listeners() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_listeners)
cli() { ns_run $PY "$(dirname "$0")/tcp_try.py" "$1" "$2" 2; } # ok | timeout | errno
accepted() { grep -c '^accepted' "$T_TMP/$1.out"; }

t_expect "status: auth-listen is enforced" enforced "$(layer_status auth-listen state)"
t_expect "status: the listen callback and the ingress hook are active" "true true" \
	"$(lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}
print(str(h["sock_ops listen callback"]["active"]).lower(), str(h["ingress"]["active"]).lower())')"

mech=$(layer_status auth-listen mechanism)
t_check "status: auth-listen's mechanism names the attached hooks and why not LSM" eval \
	"[[ \"\$mech\" == *'sock_ops listen callback'*ingress*'BPF LSM'* ]]"
echo "mechanism: $mech" | t_diag

id=$(lfp filter add name no-listen layer auth-listen local.port $PB block)
t_check "filter add prints a numeric id" is_num "$id"

# IPv4
t_expect "IPv4: listen() on the blocked port succeeds" listening "$(lsn_start b4 $PY 127.0.0.1 $PB)"
t_expect "IPv4: a connect to it is never accepted" timeout "$(cli 127.0.0.1 $PB)"
t_expect "IPv4: the listener accepted nothing" 0 "$(accepted b4)"
if ev=$(ev_find pid="$(cat "$T_TMP/b4.pid")" layer=auth-listen verdict=block); then
	t_expect "IPv4 block event: filter" no-listen "$(json_get "$ev" filter_name)"
	t_expect "IPv4 block event: filter id" "$id" "$(json_get "$ev" filter_id)"
	t_expect "IPv4 block event: local port" $PB "$(json_get "$ev" local_port)"
	t_expect "IPv4 block event: local addr" 127.0.0.1 "$(json_get "$ev" local_addr)"
	t_expect "IPv4 block event: ipver" 4 "$(json_get "$ev" ipver)"
	t_expect "IPv4 block event: proto" tcp "$(json_get "$ev" proto)"
else
	t_fail "an auth-listen block event for the IPv4 listener"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
t_expect "IPv4: a listener on another port works" listening "$(lsn_start o4 $PY 127.0.0.1 $PO)"
t_expect "IPv4: a connect to the other port is accepted" ok "$(cli 127.0.0.1 $PO)"
t_check "no event for a permitted listen no filter asks to log (permits logged globally)" \
	eval '! ev_find pid="$(cat "$T_TMP/o4.pid")" layer=auth-listen >/dev/null'
lfp filter add name log-listen layer auth-listen local.port $PL permit log >/dev/null ||
	t_bail "filter add permit log"
t_expect "a listen a 'log' filter permits works" listening "$(lsn_start l4 $PY 127.0.0.1 $PL)"
if ev=$(ev_find pid="$(cat "$T_TMP/l4.pid")" layer=auth-listen); then
	t_expect "... and is reported: verdict" permit "$(json_get "$ev" verdict)"
	t_expect "... filter" log-listen "$(json_get "$ev" filter_name)"
else
	t_fail "a permit event for the listen the 'log' filter permits"
fi

# IPv6
t_expect "IPv6: listen() on [::1]:$PB succeeds" listening "$(lsn_start b6 $PY ::1 $PB)"
t_expect "IPv6: a connect to it is never accepted" timeout "$(cli ::1 $PB)"
t_expect "IPv6: the listener accepted nothing" 0 "$(accepted b6)"
if ev=$(ev_find pid="$(cat "$T_TMP/b6.pid")" layer=auth-listen verdict=block); then
	t_expect "IPv6 block event: ipver" 6 "$(json_get "$ev" ipver)"
	t_expect "IPv6 block event: local addr" ::1 "$(json_get "$ev" local_addr)"
else
	t_fail "an auth-listen block event for the IPv6 listener"
fi
t_expect "IPv6: a listener on another port works" listening "$(lsn_start o6 $PY ::1 $PO)"
t_expect "IPv6: a connect to the other port is accepted" ok "$(cli ::1 $PO)"

# by application
lfp filter add name no-other layer auth-listen app "$T_TMP/pyother" block >/dev/null ||
	t_bail "filter add app"
t_expect "app: the named application's listen() succeeds" listening \
	"$(lsn_start a4 "$T_TMP/pyother" 127.0.0.1 $PA)"
t_expect "app: ... and is never accepted" timeout "$(cli 127.0.0.1 $PA)"
if ev=$(ev_find pid="$(cat "$T_TMP/a4.pid")" layer=auth-listen verdict=block); then
	t_expect "app block event: filter" no-other "$(json_get "$ev" filter_name)"
else
	t_fail "an auth-listen block event for the named application"
fi
t_expect "app: another application listens normally" listening \
	"$(lsn_start n4 $PY 127.0.0.1 $PN)"
t_expect "app: ... and is accepted" ok "$(cli 127.0.0.1 $PN)"

# deleting the filter: the old listener is re-authorized (tests/netns/26-listen-reauth.sh
# has the details), and a new listen works
lfp filter delete no-listen || t_fail "filter delete no-listen"
t_expect "after delete: the listener blocked before is re-authorized and accepts" ok \
	"$(cli 127.0.0.1 $PB)"
lsn_stop b4
t_expect "after delete: a new listen() on $PB" listening "$(lsn_start r4 $PY 127.0.0.1 $PB)"
t_expect "after delete: a connect to the new listener is accepted" ok "$(cli 127.0.0.1 $PB)"
lsn_stop b6
t_expect "after delete: a new listen() on [::1]:$PB" listening "$(lsn_start r6 $PY ::1 $PB)"
t_expect "after delete: IPv6 connect to the new listener is accepted" ok "$(cli ::1 $PB)"
