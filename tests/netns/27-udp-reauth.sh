#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-authorization of connected UDP sockets after a commit. A connected UDP client sends
# to its peer every 100 ms and counts the peer's datagrams; a commit that blocks the
# remote makes its next send() fail with EPERM (egress drop), the peer stops receiving
# and the peer's datagrams stop reaching the client (ingress drop), with a block event
# (layer auth-connect, flags reauthorize); the socket is not destroyed: deleting the
# filter lets the same socket send and receive again, with a permit event. A connected
# socket to a port the filter does not name keeps working. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

P4=9101 P6=9102 PO=9103 # blocked later (IPv4, IPv6) / never blocked

# the peer (out of scope): counts what it receives into a file, and pushes a datagram to
# the last sender every 100 ms
cat >"$T_TMP/peer.py" <<'EOF2'
import select, socket, sys, time
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
n, peer, last = 0, None, 0.0
while True:
    if select.select([s], [], [], 0.05)[0]:
        _, peer = s.recvfrom(64)
        n += 1
        with open(out + ".tmp", "w") as f:
            f.write(str(n))
        import os
        os.replace(out + ".tmp", out)
    if peer and time.time() - last >= 0.1:
        last = time.time()
        try:
            s.sendto(b"push", peer)
        except OSError:
            pass
EOF2
# the client (in scope): one connected socket; per 100 ms tick a JSON line with the
# send's result and the number of datagrams received so far
cat >"$T_TMP/client.py" <<'EOF2'
import errno, json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.setblocking(False)
rx = 0
while True:
    try:
        s.send(b"x")
        r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    time.sleep(0.1)
    while True:
        try:
            s.recv(64)
            rx += 1
        except BlockingIOError:
            break
        except OSError as e:
            break
    print(json.dumps({"send": r, "rx": rx}), flush=True)
EOF2

kill_pids() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_pids)
ns_run $PY "$T_TMP/peer.py" 127.0.0.1 $P4 "$T_TMP/peer4.n" >"$T_TMP/peer4.log" 2>&1 &
T_PIDS+=($!)
ns_run $PY "$T_TMP/peer.py" ::1 $P6 "$T_TMP/peer6.n" >"$T_TMP/peer6.log" 2>&1 &
T_PIDS+=($!)
ns_run $PY "$T_TMP/peer.py" 127.0.0.1 $PO "$T_TMP/peero.n" >"$T_TMP/peero.log" 2>&1 &
T_PIDS+=($!)
sleep 0.3
for c in "4 127.0.0.1 $P4" "6 ::1 $P6" "o 127.0.0.1 $PO"; do
	set -- $c
	SCOPE_PIDFILE=$T_TMP/c$1.pid in_scope $PY "$T_TMP/client.py" "$2" "$3" \
		>"$T_TMP/c$1.out" 2>"$T_TMP/c$1.err" &
	T_PIDS+=($!)
done

last() { tail -n 1 "$T_TMP/c$1.out" 2>/dev/null; }
send_of() { json_get "$(last "$1")" send; }
rx_of() { json_get "$(last "$1")" rx; }
peer_n() { cat "$T_TMP/peer$1.n" 2>/dev/null || echo 0; }
# wait_send WHICH WANT: up to 3 s for the client's latest send result to be WANT
wait_send() {
	local i
	for i in $(seq 30); do [ "$(send_of "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
# growing WHAT: the count WHAT prints grows within 0.6 s
growing() {
	local a b
	a=$("$@")
	sleep 0.6
	b=$("$@")
	[ "${b:-0}" -gt "${a:-0}" ]
}
still() {
	local a b
	a=$("$@")
	sleep 0.6
	b=$("$@")
	[ "${b:-0}" = "${a:-0}" ]
}
has_reauth() { [[ $(json_get "$1" flags) == *reauthorize* ]]; }

for w in 4 6 o; do wait_send $w ok || t_bail "client $w did not start: $(cat "$T_TMP/c$w.err")"; done
for v in 4 6; do
	t_check "IPv$v: before: the peer receives" growing peer_n $v
	t_check "IPv$v: before: the client receives the peer's datagrams" growing rx_of $v
done
t_expect "status: the UDP walk is listed" true "$(lfp status --json | $PY -c 'import json,sys
print(str(any(h["name"] == "reauth udp" and h["active"] for h in json.load(sys.stdin)["hooks"])).lower())')"
re0=$(lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["stats"]["reauthorizations"])')

t0=$(date +%s%N)
lfp filter add name udp-block layer auth-connect proto udp remote.port { $P4, $P6 } block \
	>/dev/null || t_bail "filter add"
for v in 4 6; do
	t_check "IPv$v: after the block commit: send() fails with EPERM" wait_send $v EPERM
	[ $v = 4 ] && echo "EPERM seen $((($(date +%s%N) - t0) / 1000000)) ms after the commit" | t_diag
	t_check "IPv$v: the peer stops receiving" still peer_n $v
	t_check "IPv$v: the peer's datagrams no longer reach the client (ingress)" still rx_of $v
	if ev=$(ev_find pid="$(cat "$T_TMP/c$v.pid")" verdict=block layer=auth-connect); then
		t_expect "IPv$v: block event: filter" udp-block "$(json_get "$ev" filter_name)"
		t_expect "IPv$v: block event: proto" udp "$(json_get "$ev" proto)"
		t_expect "IPv$v: block event: ipver" $v "$(json_get "$ev" ipver)"
		t_check "IPv$v: block event: flags reauthorize" has_reauth "$ev"
		t_check "IPv$v: block event: the socket's real local port" is_num "$(json_get "$ev" local_port)"
	else
		t_fail "IPv$v: a block event for the re-authorized UDP socket"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
done
t_expect "a connected socket to another port still sends" ok "$(send_of o)"
t_check "... and still receives" growing rx_of o
t_check "no block event for it" eval '! ev_find pid="$(cat "$T_TMP/co.pid")" verdict=block >/dev/null'

lfp filter delete udp-block || t_fail "filter delete"
for v in 4 6; do
	t_check "IPv$v: after the delete commit: the same socket sends again" wait_send $v ok
	t_check "IPv$v: the peer receives again" growing peer_n $v
	t_check "IPv$v: the client receives again" growing rx_of $v
	if ev=$(ev_find pid="$(cat "$T_TMP/c$v.pid")" verdict=permit layer=auth-connect \
		remote_port=$([ $v = 4 ] && echo $P4 || echo $P6) flags=loopback+reauthorize); then
		t_ok "IPv$v: a permit event with flags reauthorize"
	else
		t_fail "IPv$v: a permit event with flags reauthorize"
		grep "\"pid\": *$(cat "$T_TMP/c$v.pid")" "$T_TMP/mon.json" | tail -n 3 | t_diag
	fi
done
re1=$(lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["stats"]["reauthorizations"])')
t_check "status counts the re-authorizations ($re0 -> $re1)" [ $((re1 - re0)) -ge 4 ]
