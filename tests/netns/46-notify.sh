#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Callouts that are told, not asked (docs/callouts.md, "Notified, not held"): an
# inspection callout's filter at auth-connect holds nothing (connections complete at
# once, `lfp pending` stays empty) and its client (examples/inspect_callout.c) is told of
# every classification, permitted or blocked, TCP and UDP; at flow-established it is
# told of each established flow. A terminating callout at flow-established (a layer that
# cannot pend) is told too and changes nothing. lfpd runs with --no-log-permits: the
# kernel reports these classifications because a notify filter matched, not because
# permits are logged. At datagram-data the client is told of each datagram with its first
# bytes (the kernel's inspection path, LFP_EV_DATA).
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start --no-log-permits
PC=$HERE/pend_client.py
INSP=$LFP_BUILD/examples/inspect_callout
[ -x "$INSP" ] || t_bail "no $INSP"

# start_callout LOG ARGS...: inspect_callout in the background, ready when registered
start_callout() {
	local log=$1 i
	shift
	"$INSP" --socket "$T_SOCK" "$@" >"$log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q "registered" "$log" && return 0
		sleep 0.1
	done
	t_diag <"$log"
	return 1
}
start_callout "$T_TMP/watch.log" auth-connect flow-established ||
	t_bail "inspect_callout did not start"
WATCH=${T_PIDS[-1]}
lfp filter add name no-p2 layer auth-connect remote.port $P2 block >/dev/null ||
	t_bail "filter add block"

run() { in_scope $PY "$PC" "$1" "$2" "$3" 5; }
# told LOG PATTERN: up to 3 s for a notification line matching PATTERN
told() {
	local i
	for i in $(seq 30); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

out=$(run tcp 127.0.0.1 $P1)
t_expect "TCP under an inspection callout: connected" ok "${out%% *}"
t_check "... at once, not held (< 0.5 s)" $PY -c "import sys; sys.exit(float('${out##* }') >= 0.5)"
t_expect "... nothing is pending" "[]" "$(lfp pending --json | tr -d ' \n')"
t_check "... the callout is told of its auth-connect classification (permit)" told \
	"$T_TMP/watch.log" "layer=auth-connect verdict=permit .*proto=tcp .*remote=127.0.0.1:$P1 "
t_check "... and of its flow-established" told "$T_TMP/watch.log" \
	"layer=flow-established verdict=permit .*proto=tcp .*remote=127.0.0.1:$P1 "
t_check "... with the executable's path" told "$T_TMP/watch.log" \
	"layer=auth-connect .* path=$(readlink -f $PY) .*remote=127.0.0.1:$P1 "

out=$(run tcp ::1 $P1)
t_expect "TCP over IPv6: connected" ok "${out%% *}"
t_check "... told" told "$T_TMP/watch.log" "layer=auth-connect verdict=permit .*remote=::1:$P1 "

out=$(run tcp 127.0.0.1 $P2)
t_expect "a flow another filter blocks: blocked as before" EPERM "${out%% *}"
t_check "... the callout is told of the block" told "$T_TMP/watch.log" \
	"layer=auth-connect verdict=block .*remote=127.0.0.1:$P2 "

out=$(run udp 127.0.0.1 $U1)
t_expect "unconnected UDP: answered" ok "${out%% *}"
t_check "... told (per remote)" told "$T_TMP/watch.log" \
	"layer=auth-connect verdict=permit .*proto=udp .*remote=127.0.0.1:$U1 "

n_before=$(grep -c "layer=auth-connect" "$T_TMP/watch.log")

# a terminating callout at flow-established: told, cannot change the verdict
start_callout "$T_TMP/term.log" --name term --type terminating flow-established ||
	t_bail "terminating inspect_callout did not start"
out=$(run tcp 127.0.0.1 $P3)
t_expect "a terminating callout at flow-established: the flow lives" ok "${out%% *}"
t_check "... its client is told" told "$T_TMP/term.log" \
	"callout=term .*layer=flow-established verdict=permit .*remote=127.0.0.1:$P3 "
t_check "... and never asked" bash -c "! grep -q 'classify:' '$T_TMP/term.log'"
t_check "... the inspection callout is told too" told "$T_TMP/watch.log" \
	"layer=flow-established .*remote=127.0.0.1:$P3 "
t_expect "... one auth-connect notification more for the inspection callout" \
	$((n_before + 1)) "$(grep -c "layer=auth-connect" "$T_TMP/watch.log")"

# datagram-data reports payloads: the callout is told with the datagram's first bytes
start_callout "$T_TMP/dd.log" --name dd datagram-data || t_bail "datagram-data callout"
t_expect "UDP under an inspection callout at datagram-data: answered" ok "$(in_scope $PY -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b"hello-lfp", ("127.0.0.1", int(sys.argv[1]))); s.recvfrom(100); print("ok")' $U2)"
t_check "... its client is told of the datagram with its bytes (9)" told "$T_TMP/dd.log" \
	"callout=dd .*layer=datagram-data .*proto=udp .*remote=127.0.0.1:$U2 .*data=9$"

# flow-established with a direction condition: events carry the direction lfpd matches
$PY "$HERE/callout_client.py" "$T_SOCK" dir inspection none \
	"layer flow-established direction inbound callout dir" >"$T_TMP/dir.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q "^ready" "$T_TMP/dir.log" && break; sleep 0.1; done
grep -q "^ready" "$T_TMP/dir.log" || t_bail "direction callout client"
in_scope $PY -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7001)); s.listen(8); print("ready", flush=True)
while True:
    c, a = s.accept(); c.close()' >"$T_TMP/lsn.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q ready "$T_TMP/lsn.out" && break; sleep 0.1; done
out=$(ns_run $PY "$PC" tcp 127.0.0.1 7001 5)
t_expect "an inbound connection to a listener in scope" ok "${out%% *}"
t_check "... a 'direction inbound' callout at flow-established is told" told "$T_TMP/dir.log" \
	"notify callout=dir layer=flow-established verdict=permit remote=127.0.0.1:[0-9]+$"
run tcp 127.0.0.1 $P1 >/dev/null
sleep 0.5
t_expect "... and not of an outbound one" 1 "$(grep -c "^notify" "$T_TMP/dir.log")"

# a cgroup condition naming an ancestor of the process's cgroup (a child of the scope)
SUB=$T_CG/sub
mkdir "$SUB" || t_bail "mkdir a child cgroup"
kill_sub() {
	local p i
	for i in $(seq 20); do
		p=$(cat "$SUB/cgroup.procs" 2>/dev/null)
		[ -z "$p" ] && break
		kill -KILL $p 2>/dev/null
		sleep 0.1
	done
	rmdir "$SUB" 2>/dev/null
}
T_CLEANUPS+=(kill_sub)
$PY "$HERE/callout_client.py" "$T_SOCK" cg inspection none \
	"layer auth-connect remote.port $P3 cgroup \"${T_CG#$(cg2_mount)}\" callout cg" \
	>"$T_TMP/cg.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q "^ready" "$T_TMP/cg.log" && break; sleep 0.1; done
grep -q "^ready" "$T_TMP/cg.log" || {
	t_diag <"$T_TMP/cg.log"
	t_bail "cgroup callout client"
}
out=$(/bin/sh -c 'cg=$1 ns=$2; shift 2; echo $$ >"$cg/cgroup.procs" || exit 125
	exec nsenter --net="/run/netns/$ns" -- "$@"' sh "$SUB" "$T_NS" $PY "$PC" tcp 127.0.0.1 $P3 5)
t_expect "a connect from a child cgroup of the scope" ok "${out%% *}"
t_check "... a callout whose filter names the parent cgroup is told" told "$T_TMP/cg.log" \
	"notify callout=cg layer=auth-connect verdict=permit remote=127.0.0.1:$P3$"

lfp filter delete no-p2 >/dev/null || t_bail "filter delete"
kill "$WATCH"
wait "$WATCH" 2>/dev/null
t_check "the inspection callout's client exits: its summary" grep -q "told of" "$T_TMP/watch.log"
t_expect "... its filters are gone with its session" "" \
	"$(lfp filter list --json | $PY -c 'import json,sys
print(" ".join(f["text"] for f in json.load(sys.stdin) if "watch" in f["text"]))')"
n=$(grep -c "notify:" "$T_TMP/watch.log")
run tcp 127.0.0.1 $P1 >/dev/null
sleep 0.5
t_expect "... and it is told nothing more" "$n" "$(grep -c "notify:" "$T_TMP/watch.log")"
t_expect "lfp status counts the notifications" yes \
	"$(lfp status --json | $PY -c 'import json,sys
p = json.load(sys.stdin)["pend"]
print("yes" if p["notified"] >= 7 and p["notify_failed"] == 0 else p)')"
exit $T_FAILED
