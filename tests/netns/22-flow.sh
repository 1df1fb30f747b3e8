#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flow-established and endpoint-closure: observe-only layers on sock_ops. A `log` filter
# at flow-established reports a TCP flow when it is established (our connect completed,
# or an accepted connection's handshake), with the owner (the connecting process, or the
# listener's for an accepted flow) and both ends; a `log` filter at endpoint-closure
# reports the same flow when its endpoint closes. Filters without `log` report nothing,
# nothing is ever refused, and block is not an action of these layers. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PI=9300 # an in-scope listener's port (inbound flows)

cat >"$T_TMP/lsn.py" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(10)
    c.close()
EOF
cat >"$T_TMP/cli.py" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=2)
print(s.getsockname()[1])
s.close()
EOF
kill_lsn() { [ -f "$T_TMP/lsn.pid" ] && kill -KILL "$(cat "$T_TMP/lsn.pid")" 2>/dev/null; return 0; }
T_CLEANUPS+=(kill_lsn)
# n_events KEY=VALUE...: how many events in mon.json have all these values
n_events() {
	$PY - "$T_TMP/mon.json" "$@" <<'EOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
n = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    n += all(str(ev.get(k)) == v for k, v in want.items())
print(n)
EOF
}

st=$(lfp status --json)
for l in flow-established endpoint-closure; do
	t_expect "status: $l is enforced" enforced "$(layer_status $l state)"
done
t_expect "status: the mechanisms are the sock_ops callbacks" \
	"sock_ops established callbacks|sock_ops state callback + sock_release" "$(echo "$st" | $PY -c 'import json,sys
m = {l["name"]: l["mechanism"] for l in json.load(sys.stdin)["layers"]}
print(m["flow-established"] + "|" + m["endpoint-closure"])')"

out=$(lfp filter add layer flow-established remote.port $P1 block 2>&1)
t_check "block is refused at flow-established, naming the action" eval \
	"[[ \"\$out\" == *block*flow-established* ]]"
echo "$out" | t_diag

# without filters at these layers: no such events
r=$(in_scope $PY "$CLIENT" tcp 127.0.0.1 $P2)
t_expect "a connection with no filter at the layers" ok "$(json_get "$r" result)"
sleep 0.3
t_expect "... gives no flow-established or endpoint-closure event" "0 0" \
	"$(n_events layer=flow-established) $(n_events layer=endpoint-closure)"

est=$(lfp filter add name est layer flow-established remote.port $P1 permit log)
cls=$(lfp filter add name cls layer endpoint-closure remote.port $P1 permit log)
lfp filter add name est-quiet layer flow-established remote.port $P3 permit >/dev/null ||
	t_bail "filter add without log"
lfp filter add name est-in layer flow-established local.port $PI permit log >/dev/null ||
	t_bail "filter add inbound"
lfp filter add name cls-in layer endpoint-closure local.port $PI permit log >/dev/null ||
	t_bail "filter add inbound closure"

for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(in_scope $PY "$CLIENT" tcp $H $P1)
	t_expect "IPv$f outbound: the connection works" ok "$(json_get "$r" result)"
	pid=$(json_get "$r" pid) lport=$(json_get "$r" local_port)
	if ev=$(ev_find pid="$pid" layer=flow-established); then
		t_expect "IPv$f outbound established: verdict" permit "$(json_get "$ev" verdict)"
		t_expect "IPv$f outbound established: filter" "$est" "$(json_get "$ev" filter_id)"
		t_expect "IPv$f outbound established: local port" "$lport" "$(json_get "$ev" local_port)"
		t_expect "IPv$f outbound established: remote" "$H $P1" \
			"$(json_get "$ev" remote_addr) $(json_get "$ev" remote_port)"
		t_expect "IPv$f outbound established: ipver" $f "$(json_get "$ev" ipver)"
	else
		t_fail "IPv$f outbound: a flow-established event"
		tail -n 3 "$T_TMP/mon.json" | t_diag
	fi
	if ev=$(ev_find pid="$pid" layer=endpoint-closure); then
		t_expect "IPv$f outbound closure: filter" "$cls" "$(json_get "$ev" filter_id)"
		t_expect "IPv$f outbound closure: local port" "$lport" "$(json_get "$ev" local_port)"
	else
		t_fail "IPv$f outbound: an endpoint-closure event"
	fi
	r=$(in_scope $PY "$CLIENT" tcp $H $P3)
	t_expect "IPv$f: a connection a filter without log decides" ok "$(json_get "$r" result)"
	sleep 0.3
	t_expect "IPv$f: ... is not reported at flow-established" 0 \
		"$(n_events pid="$(json_get "$r" pid)" layer=flow-established)"

	# inbound: the listener in scope, the client outside
	SCOPE_PIDFILE=$T_TMP/lsn.pid in_scope $PY "$T_TMP/lsn.py" $H $PI >"$T_TMP/lsn.out" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do grep -q listening "$T_TMP/lsn.out" && break; sleep 0.1; done
	cport=$(ns_run $PY "$T_TMP/cli.py" $H $PI)
	t_check "IPv$f inbound: the connection works" is_num "$cport"
	lpid=$(cat "$T_TMP/lsn.pid")
	if ev=$(ev_find pid="$lpid" layer=flow-established); then
		t_expect "IPv$f inbound established: filter" est-in "$(json_get "$ev" filter_name)"
		t_expect "IPv$f inbound established: the client's port" "$cport" \
			"$(json_get "$ev" remote_port)"
		t_expect "IPv$f inbound established: local port" $PI "$(json_get "$ev" local_port)"
	else
		t_fail "IPv$f inbound: a flow-established event naming the listener"
	fi
	if ev=$(ev_find pid="$lpid" layer=endpoint-closure); then
		t_expect "IPv$f inbound closure: filter" cls-in "$(json_get "$ev" filter_name)"
		t_expect "IPv$f inbound closure: the client's port" "$cport" \
			"$(json_get "$ev" remote_port)"
	else
		t_fail "IPv$f inbound: an endpoint-closure event naming the listener"
	fi
	kill_lsn
	rm -f "$T_TMP/lsn.pid"
done
