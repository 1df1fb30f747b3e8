#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pend and complete at auth-connect (docs/callouts.md): an `ask` filter holds the
# connection's first packet; `lfp pending` shows it with pid, user, path and remote;
# a permit completes it within 1 s, a block ends the TCP socket at once (ECONNABORTED),
# the timeout applies the filter's default. IPv4 and IPv6, TCP, connected and
# unconnected UDP. A hard permit above the ask filter means nothing pends.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"
PC=$HERE/pend_client.py

t_expect "status: pend and complete is active" True "$(lfp status --json | $PY -c 'import json,sys
print(json.load(sys.stdin)["pend"]["active"])')"

lfp filter add name ask-p1 layer auth-connect remote.port "{$P1, $U1}" ask timeout 20 >/dev/null ||
	t_bail "add ask filter"

# cl NAME KIND HOST PORT [TIMEOUT]: a client in scope in the background, its output in
# $T_TMP/NAME.out
cl() {
	SCOPE_PIDFILE=$T_TMP/$1.pid in_scope $PY "$PC" "$2" "$3" "$4" "${5:-15}" >"$T_TMP/$1.out" 2>&1 &
	T_PIDS+=($!)
}
# wait_out NAME [TENTHS]: until the client printed its result
wait_out() {
	local i
	for i in $(seq "${2:-100}"); do
		[ -s "$T_TMP/$1.out" ] && break
		sleep 0.1
	done
	cut -d' ' -f1 "$T_TMP/$1.out"
}
# pend_id PID: the pending id of that process's held flow (waits up to 5 s)
pend_id() {
	local i id
	for i in $(seq 50); do
		id=$(lfp pending --json | $PY -c 'import json,sys
p = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])]
print(p[0]["id"] if p else "")' "$1")
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.1
	done
	return 1
}
# held_then NAME VERDICT: the client NAME is held, answer it, print its result and time to the answer
held_then() {
	local name=$1 v=$2 pid id t0 t1
	for i in $(seq 50); do [ -s "$T_TMP/$name.pid" ] && break; sleep 0.1; done
	pid=$(cat "$T_TMP/$name.pid")
	id=$(pend_id "$pid") || { echo "not-held"; return; }
	[ -s "$T_TMP/$name.out" ] && { echo "finished-before-answer:$(cat "$T_TMP/$name.out")"; return; }
	t0=$(date +%s.%N)
	lfp pending answer "$id" "$v" >/dev/null || { echo "answer-failed"; return; }
	r=$(wait_out "$name")
	t1=$(date +%s.%N)
	echo "$r $($PY -c "print('fast' if $t1 - $t0 < 1.0 else 'slow:%.2f' % ($t1 - $t0))")"
}

cl tcp4 tcp 127.0.0.1 $P1
t_expect "TCP IPv4: held, permit completes it within 1 s" "ok fast" "$(held_then tcp4 permit)"

cl tcp4b tcp 127.0.0.1 $P1
t_expect "TCP IPv4: held, block ends the socket at once" "ECONNABORTED fast" "$(held_then tcp4b block)"
ev_has() { ev_find "$@" >/dev/null; }
p=$(cat "$T_TMP/tcp4.pid")
t_check "monitor: the hook's pend event" ev_has verdict=pend layer=auth-connect pid=$p remote_port=$P1
t_check "monitor: then the completion, permit by the same filter" ev_has verdict=permit \
	layer=auth-connect pid=$p remote_port=$P1 filter_name=ask-p1
t_check "monitor: a blocked one's completion" ev_has verdict=block layer=auth-connect \
	pid="$(cat "$T_TMP/tcp4b.pid")" filter_name=ask-p1

cl tcp6 tcp ::1 $P1
t_expect "TCP IPv6: held, permit completes it" "ok fast" "$(held_then tcp6 permit)"

cl tcp6b tcp ::1 $P1
t_expect "TCP IPv6: held, block ends the socket at once" "ECONNABORTED fast" "$(held_then tcp6b block)"

cl udpc udpc 127.0.0.1 $U1
t_expect "connected UDP IPv4: held, permit delivers the datagram" "ok fast" "$(held_then udpc permit)"

cl udp6 udp ::1 $U1
t_expect "unconnected UDP IPv6: held, permit delivers the datagram" "ok fast" "$(held_then udp6 permit)"

cl udpb udp 127.0.0.1 $U1 3
t_expect "unconnected UDP IPv4: held, block: nothing arrives" "timeout" \
	"$(held_then udpb block | cut -d' ' -f1)"

# the pending entry: who, what
cl show tcp 127.0.0.1 $P1
for i in $(seq 50); do [ -s "$T_TMP/show.pid" ] && break; sleep 0.1; done
id=$(pend_id "$(cat "$T_TMP/show.pid")")
entry=$(lfp pending --json | $PY -c 'import json,sys,os
p = [x for x in json.load(sys.stdin) if x["id"] == int(sys.argv[1])][0]
print(p["user"], os.path.basename(p["path"]), p["proto"], p["remote"], p["rport"], p["filter_name"], p["default"])' "$id")
t_expect "lfp pending: user, executable, protocol, remote, filter, default" \
	"root $(basename "$(readlink -f $PY)") tcp 127.0.0.1 $P1 ask-p1 block" "$entry"
text=$(lfp pending)
t_check "lfp pending (text) lists the id and remote" grep -q "^$id .*127.0.0.1:$P1" <<<"$text"
lfp pending answer "$id" permit >/dev/null
wait_out show >/dev/null
out=$(lfp pending answer "$id" permit 2>&1)
t_check "answering a completed id: a clear error" grep -q "no held connection with id $id" <<<"$out"
out=$(lfp pending answer 999 maybe 2>&1)
t_check "a malformed answer: a clear error" grep -q "answer permit or block" <<<"$out"

# a hard permit above the ask filter: the answer cannot matter, nothing pends
lfp sublayer add top weight 60000 >/dev/null
lfp filter add layer auth-connect sublayer top remote.addr ::1 remote.port $P1 permit hard >/dev/null
cl hp tcp ::1 $P1
t_expect "a hard permit above the ask filter: connects without pending" ok "$(wait_out hp 30)"

# timeout: the filter's default (block, then permit) for that flow only
lfp filter delete ask-p1 >/dev/null
lfp filter add name ask-short layer auth-connect remote.port $P2 ask timeout 2 >/dev/null
cl tmo tcp 127.0.0.1 $P2
r=$(wait_out tmo 60)
t=$(cut -d' ' -f2 "$T_TMP/tmo.out")
t_expect "timeout, default block: the connect fails when the timeout passes" ECONNABORTED "$r"
t_check "... after about 2 s (took $t s)" $PY -c "import sys; sys.exit(not 1.5 <= $t <= 4)"
lfp filter delete ask-short >/dev/null
lfp filter add name ask-open layer auth-connect remote.port $P2 ask timeout 1 default permit >/dev/null
cl tmo2 tcp 127.0.0.1 $P2
t_expect "timeout, default permit: the connection goes through" ok "$(wait_out tmo2 60)"
t_expect "a timeout writes no rule" "0" "$(lfp filter list --json | $PY -c 'import json,sys
print(len([f for f in json.load(sys.stdin) if f.get("provider") == "ask"]))')"
cnt=$(lfp status --json | $PY -c 'import json,sys
p = json.load(sys.stdin)["pend"]; print(p["timeouts"], p["waiting"])')
t_expect "status: 2 timeouts, nothing waiting" "2 0" "$cnt"

# re-authorization never asks again: an answered flow survives commits while the ask
# filter still matches; a hard block added later ends it
PH=7777
nsenter --net="/run/netns/$T_NS" -- $PY -c 'import socket,sys,time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); open(sys.argv[2], "w").close(); c = []
while True: c.append(s.accept()[0])' $PH "$T_TMP/ph.ready" &
T_PIDS+=($!)
for i in $(seq 30); do [ -f "$T_TMP/ph.ready" ] && break; sleep 0.1; done
lfp filter add name ask-ph layer auth-connect remote.port $PH ask timeout 20 >/dev/null
SCOPE_PIDFILE=$T_TMP/hold.pid in_scope $PY "$PC" hold 127.0.0.1 $PH 5 >"$T_TMP/hold.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do [ -s "$T_TMP/hold.pid" ] && break; sleep 0.1; done
lfp pending answer "$(pend_id "$(cat "$T_TMP/hold.pid")")" permit >/dev/null
for i in $(seq 30); do grep -q '^ok' "$T_TMP/hold.out" && break; sleep 0.1; done
lfp filter add layer auth-connect remote.port 1 block >/dev/null
sleep 0.5
t_expect "an answered flow survives a commit (re-authorization does not ask again)" \
	"ok" "$(cut -d' ' -f1 "$T_TMP/hold.out" | tr '\n' ' ' | sed 's/ $//')"
lfp filter add layer auth-connect sublayer top remote.port $PH block >/dev/null
for i in $(seq 30); do grep -q '^ended' "$T_TMP/hold.out" && break; sleep 0.1; done
t_expect "... a hard block added later ends it" "ended ECONNABORTED" "$(grep '^ended' "$T_TMP/hold.out")"

t_lfpd_stop
exit $T_FAILED
