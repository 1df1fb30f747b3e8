#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Flow-delete notifications (WFP flowDeleteFn, docs/callouts.md): the seed program on
# liblfp (examples/seed_callout.c) registers a callout and permits TCP flows; when such a
# flow ends, lfpd tells the session, and the program logs "[WFP] flow deleted: id=N" with
# the id of the classify request it answered; an unconnected UDP socket's flow when the
# socket closes. A flow that still lives and a flow the callout blocked get no
# notification (47-flow-delete-in: inbound flows and the other UDP cases).
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
PC=$HERE/pend_client.py
SEED=$LFP_BUILD/examples/seed_callout
[ -x "$SEED" ] || t_bail "no $SEED"
cp "$(readlink -f $PY)" "$T_TMP/pyblocked" || t_bail "copy python"

"$SEED" --socket "$T_SOCK" "$T_TMP/pyblocked" >"$T_TMP/seed.log" 2>&1 &
SEED_PID=$!
T_PIDS+=($SEED_PID)
for i in $(seq 50); do
	grep -q "callout 'seed' registered" "$T_TMP/seed.log" && break
	sleep 0.1
done
grep -q "callout 'seed' registered" "$T_TMP/seed.log" || {
	t_diag <"$T_TMP/seed.log"
	t_bail "seed_callout did not start"
}

run() { in_scope "$2" "$PC" "$1" "$3" "$4" 5 | cut -d' ' -f1; }
deleted() { grep -c '^\[WFP\] flow deleted: ' "$T_TMP/seed.log"; }
# wait_deleted N: up to 5 s for the Nth notification
wait_deleted() {
	local i
	for i in $(seq 50); do
		[ "$(deleted)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# the Nth notification's request id was a flow lfpd permitted for the callout, to HOST
id_matches() {
	local id
	id=$(grep '^\[WFP\] flow deleted: ' "$T_TMP/seed.log" | sed -n "$1p" |
		sed -E 's/.*id=([0-9]+),.*/\1/')
	[ -n "$id" ] && grep -Eq "pending $id \(pid [0-9]+, tcp $2:$P1\) permitted: callout answered" \
		"$T_TMP/lfpd.log"
}

t_expect "TCP over IPv4: permitted by the callout" ok "$(run tcp $PY 127.0.0.1 $P1)"
t_check "... its end is notified" wait_deleted 1
t_check "... with the classify request's id, callout and protocol" grep -Eq \
	'^\[WFP\] flow deleted: id=[0-9]+, cookie=[0-9]+, callout=seed, Protocol=TCP$' "$T_TMP/seed.log"
t_check "... the id is the request lfpd completed for 127.0.0.1" id_matches 1 127.0.0.1

t_expect "TCP over IPv6: permitted by the callout" ok "$(run tcp $PY ::1 $P1)"
t_check "... its end is notified" wait_deleted 2
t_check "... the id is the request lfpd completed for ::1" id_matches 2 ::1

# a flow that lives: connected, kept 3 s (the server closes its side after 2 s, ours stays)
cat >"$T_TMP/keep.py" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("ok", flush=True)
time.sleep(3)
s.close()
print("closed", flush=True)
EOF
in_scope $PY "$T_TMP/keep.py" 127.0.0.1 $P1 >"$T_TMP/keep.out" 2>&1 &
KEEP=$!
T_PIDS+=($KEEP)
for i in $(seq 50); do
	grep -q ok "$T_TMP/keep.out" && break
	sleep 0.1
done
t_check "a long flow: connected" grep -q ok "$T_TMP/keep.out"
sleep 1.5
t_expect "... no notification while it lives" 2 "$(deleted)"
wait $KEEP
t_check "... closed by its application" grep -q closed "$T_TMP/keep.out"
t_check "... then notified" wait_deleted 3

t_expect "TCP from the blocked executable: blocked" ECONNABORTED \
	"$(run tcp "$T_TMP/pyblocked" 127.0.0.1 $P1)"
sleep 1
t_expect "... a blocked flow is not notified" 3 "$(deleted)"
t_expect "UDP: permitted" ok "$(run udp $PY 127.0.0.1 $U1)"
t_check "... its flow to the remote is notified when its socket closes" wait_deleted 4
t_check "... as UDP, with the remote" grep -Eq \
	"^\[WFP\] flow deleted: id=[0-9]+, cookie=[0-9]+, callout=seed, Protocol=UDP, Remote=127.0.0.1:$U1\$" \
	"$T_TMP/seed.log"

kill -TERM $SEED_PID
wait $SEED_PID 2>/dev/null
t_check "the program unloads" grep -q '^\[WFP\] unloaded: ' "$T_TMP/seed.log"
t_check "lfpd is alive" kill -0 "$T_LFPD_PID"

t_lfpd_stop
exit $T_FAILED
