#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Callout clients (docs/callouts.md, "Callout clients"): a callout registered with its
# own classify timeout (1.5 s) blocks its unanswered flow after that time, not 30 s; a
# timeout out of range is refused naming the field. A client that never reads while
# 1000 classifications are sent to it (notifications of its inspection callout, one
# per UDP remote) is disconnected once its backlog passes the cap: lfpd logs an error
# naming the session, its held TCP connect is blocked at once (never let through), its
# callouts and filters go, and lfpd serves everyone else. And what an unconnected UDP
# sender sees when its first datagram's flow is blocked.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start --no-log-permits
PC=$HERE/pend_client.py
CC=$HERE/callout_client.py

# start_client LOG ARGS...: callout_client.py in the background, ready when registered
start_client() {
	local log=$1 i
	shift
	$PY "$CC" "$T_SOCK" "$@" >"$log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q "^ready" "$log" && return 0
		grep -q "^error" "$log" && return 1
		sleep 0.1
	done
	return 1
}

# ---- per-callout timeout ----
start_client "$T_TMP/quick.log" quick terminating none --timeout-ms 1500 \
	"layer auth-connect remote.port $P1 callout quick" || t_bail "quick client"
out=$(in_scope $PY "$PC" tcp 127.0.0.1 $P1 10)
t_expect "a callout with a 1.5 s timeout that never answers: its connect is blocked" \
	ECONNABORTED "${out%% *}"
t_check "... after about 1.5 s, not 30 (1.2-6 s)" $PY -c \
	"import sys; t = float('${out##* }'); sys.exit(not 1.2 <= t <= 6)"
t_check "... the client was asked" grep -q "^classify .*remote=127.0.0.1:$P1" "$T_TMP/quick.log"
t_check "... lfpd says why" grep -q "blocked: the callout did not answer in time" "$T_TMP/lfpd.log"
$PY "$CC" "$T_SOCK" lister unknown none --list >"$T_TMP/list.out" 2>&1
t_expect "callout.list shows each callout's timeout" "quick=1500 lister=30000" "$($PY -c '
import json, sys
cs = json.loads(open(sys.argv[1]).read().split("\n")[1])
print(" ".join("%s=%d" % (c["name"], c["timeout_ms"]) for c in cs if not c["builtin"]))' \
	"$T_TMP/list.out")"
for bad in 50 600001 '"soon"'; do
	$PY - "$T_SOCK" "$bad" >"$T_TMP/bad.out" 2>&1 <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
s.sendall(('{"op":"callout.register","name":"b","timeout_ms":%s}\n' % sys.argv[2]).encode())
print(json.loads(f.readline()).get("error"))
EOF
	t_check "timeout_ms $bad is refused naming the field" grep -q "field 'timeout_ms'" "$T_TMP/bad.out"
done

# ---- unconnected UDP under a block (documented: sendto() cannot wait) ----
start_client "$T_TMP/blk.log" blk terminating block \
	"layer auth-connect proto udp remote.port $U1 callout blk" || t_bail "blk client"
t_expect "unconnected UDP the callout blocks: the first sendto() succeeds, its datagram is dropped, the next one fails EPERM" \
	"1 timeout EPERM" "$(in_scope $PY -c '
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
n = s.sendto(b"a", ("127.0.0.1", int(sys.argv[1])))
try:
    s.recvfrom(100); got = "echo"
except socket.timeout:
    got = "timeout"
try:
    s.sendto(b"b", ("127.0.0.1", int(sys.argv[1]))); r = "sent"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
print(n, got, r)' $U1)"
t_check "... the callout was asked once" test "$(grep -c "^classify .*proto=udp" "$T_TMP/blk.log")" = 1

# ---- a client that does not read ----
start_client "$T_TMP/slow.log" slow terminating permit --no-read --inspect insp \
	"layer auth-connect remote.port $P2 callout slow" \
	"layer auth-connect proto udp remote.port 20000-20999 callout insp" || t_bail "slow client"
in_scope $PY "$PC" tcp 127.0.0.1 $P2 40 >"$T_TMP/held.out" 2>&1 &
HELD=$!
T_PIDS+=($HELD)
for i in $(seq 50); do
	[ "$(lfp pending --json | tr -d ' \n')" != "[]" ] && break
	sleep 0.1
done
t_check "its callout holds a TCP connect" test "$(lfp pending --json | tr -d ' \n')" != "[]"
# 1000 classifications: one unconnected socket, 1000 remotes (nothing listens there)
in_scope $PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in range(20000, 21000):
    s.sendto(b"x", ("127.0.0.1", p))
print("sent")' >"$T_TMP/flood.out" 2>&1
t_check "1000 UDP remotes classified" grep -q sent "$T_TMP/flood.out"
dropped() {
	local i
	for i in $(seq 50); do
		grep -q "error: session [0-9]* (callout_client, pid [0-9]*) registered callouts but does not read" \
			"$T_TMP/lfpd.log" && return 0
		sleep 0.1
	done
	return 1
}
t_check "the client that does not read is disconnected, lfpd names its session" dropped
wait $HELD
out=$(cat "$T_TMP/held.out")
t_expect "... its held connect is blocked, not let through" ECONNABORTED "${out%% *}"
t_check "... at once, not after the 30 s timeout (< 15 s)" $PY -c \
	"import sys; sys.exit(float('${out##* }') >= 15)"
t_check "... lfpd says it was completed as a timeout" grep -q \
	"blocked: its callout's client stopped reading (disconnected): as a timeout" "$T_TMP/lfpd.log"
t_expect "lfp status counts one client dropped" 1 "$(lfp status --json | $PY -c '
import json, sys; print(json.load(sys.stdin)["pend"]["clients_dropped"])')"
$PY "$CC" "$T_SOCK" lister2 unknown none --list >"$T_TMP/list2.out" 2>&1
t_expect "... its callouts are gone" "" "$($PY -c '
import json, sys
cs = json.loads(open(sys.argv[1]).read().split("\n")[1])
print(" ".join(c["name"] for c in cs if c["name"] in ("slow", "insp")))' "$T_TMP/list2.out")"
out=$(in_scope $PY "$PC" tcp 127.0.0.1 $P2 5)
t_expect "... and its filters: the next connect goes through" ok "${out%% *}"
t_expect "the other callout client still works (its timeout still applies)" ECONNABORTED \
	"$(in_scope $PY "$PC" tcp 127.0.0.1 $P1 10 | cut -d' ' -f1)"
t_check "lfpd is alive" kill -0 "$T_LFPD_PID"
t_lfpd_stop
exit $T_FAILED
