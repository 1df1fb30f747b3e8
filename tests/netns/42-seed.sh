#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The seed program on liblfp (examples/seed_callout.c): a dynamic session registers a
# callout, adds a filter at auth-connect that uses it and commits; every connection is
# held for it, logged in the seed's format and answered: the named executable is blocked
# (its TCP connect fails at once), everything else permitted. When the program exits
# (SIGTERM) or is killed (SIGKILL), its filter and callout vanish and traffic flows.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
PC=$HERE/pend_client.py
SEED=$LFP_BUILD/examples/seed_callout
[ -x "$SEED" ] || t_bail "no $SEED"
cp "$(readlink -f $PY)" "$T_TMP/pyblocked" || t_bail "copy python"
PYREAL=$(readlink -f $PY)

# run KIND BIN HOST PORT: one client in scope, prints its result word
run() { in_scope "$2" "$PC" "$1" "$3" "$4" 5 | cut -d' ' -f1; }
seed_start() {
	"$SEED" --socket "$T_SOCK" "$T_TMP/pyblocked" >"$T_TMP/seed.log" 2>&1 &
	SEED_PID=$!
	T_PIDS+=($SEED_PID)
	for i in $(seq 50); do
		grep -q "callout 'seed' registered" "$T_TMP/seed.log" && return 0
		sleep 0.1
	done
	cat "$T_TMP/seed.log" | t_diag
	t_bail "seed_callout did not start"
}
# gone: the seed's filter and callout are no longer in lfpd
gone() {
	local i
	for i in $(seq 30); do
		if ! lfp filter list | grep -q seed-filter && [ "$(lfp_callouts)" = "ask count" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
lfp_callouts() {
	$PY - "$T_SOCK" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"op":"callout.list"}\n'); buf = b""
while not buf.endswith(b"\n"): buf += s.recv(65536)
print(" ".join(sorted(c["name"] for c in json.loads(buf)["callouts"])))
PYEOF
}

seed_start
t_expect "the callout is registered" "ask count seed" "$(lfp_callouts)"
t_check "the filter is listed (dynamic)" grep -q 'seed-filter.*callout seed' <<<"$(lfp filter list)"
t_check "the callout was told about its filter" grep -q 'notify: filter [0-9]* now uses callout seed' "$T_TMP/seed.log"

t_expect "TCP from another executable: permitted by the callout" ok "$(run tcp $PY 127.0.0.1 $P1)"
t_check "... and logged in the seed's format" grep -Eq \
	"^\[WFP\] IRQL=0, PID=[0-9]+, Path=$PYREAL, Local=127\.0\.0\.1:[0-9]+, Remote=127\.0\.0\.1:$P1, Protocol=TCP$" \
	"$T_TMP/seed.log"
r=$(in_scope "$T_TMP/pyblocked" "$PC" tcp 127.0.0.1 $P1 5)
t_expect "TCP from the named executable: blocked at once" ECONNABORTED "$(cut -d' ' -f1 <<<"$r")"
t_check "... within 1 s (took $(cut -d' ' -f2 <<<"$r") s)" $PY -c "import sys; sys.exit(not $(cut -d' ' -f2 <<<"$r") < 1)"
t_check "... logged as blocked" grep -Eq "Path=$T_TMP/pyblocked, .*Remote=127\.0\.0\.1:$P1, Protocol=TCP -> BLOCKED" "$T_TMP/seed.log"
t_expect "UDP over IPv6 from another executable: permitted" ok "$(run udp $PY ::1 $U1)"
t_check "... logged with Protocol=UDP" grep -Eq "Remote=\[::1\]:$U1, Protocol=UDP$" "$T_TMP/seed.log"

kill -TERM $SEED_PID
wait $SEED_PID 2>/dev/null
t_check "SIGTERM: the program unloads" grep -q '^\[WFP\] unloaded: [0-9]* permitted, 1 blocked' "$T_TMP/seed.log"
t_check "SIGTERM: its filter and callout vanish" gone
t_expect "after exit: the named executable connects again" ok "$(run tcp "$T_TMP/pyblocked" 127.0.0.1 $P1)"

seed_start
t_expect "started again: the named executable is blocked again" ECONNABORTED \
	"$(run tcp "$T_TMP/pyblocked" 127.0.0.1 $P1)"
kill -KILL $SEED_PID
wait $SEED_PID 2>/dev/null
t_check "SIGKILL: its filter and callout vanish" gone
t_expect "after kill -9: the named executable connects again" ok "$(run tcp "$T_TMP/pyblocked" 127.0.0.1 $P1)"
t_expect "after kill -9: nothing is left pending" 0 "$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"

t_lfpd_stop
exit $T_FAILED
