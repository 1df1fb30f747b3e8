#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lfp -f FILE --confirm SECONDS, the way it is meant to be used: a remote admin applies
# a policy that locks them out (their own connection blocked) and cannot send
# `lfp confirm`; lfpd rolls back to the exact previous policy (same ids) and traffic flows
# again. A confirmed change stays. One confirmation at a time; the provider is frozen
# while it waits. lfpd killed with -9 while one waits: the next lfpd rolls back at once
# (deadline passed) or re-arms (not yet); a stopping lfpd rolls back before it exits.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

D=$T_TMP/rules
mkdir "$D"
# the admin's policy: their port ($P1) open, $P2 closed
cat >"$D/remote.lfp" <<EOR
provider remote
sublayer add remote weight 100
filter add name admin-ok layer auth-connect sublayer remote remote.port $P1 permit
filter add name p2-closed layer auth-connect sublayer remote remote.port $P2 block
EOR
# the mistake: a default deny that also cuts the admin's own connection
cat >"$D/lockout.lfp" <<EOR
provider remote
sublayer add remote weight 200
filter add name p2-closed layer auth-connect sublayer remote remote.port $P2 block
filter add name deny-all layer auth-connect sublayer remote block
EOR
# a harmless change, to be confirmed
cat >"$D/fine.lfp" <<EOR
provider remote
sublayer add remote weight 100
filter add name admin-ok layer auth-connect sublayer remote remote.port $P1 permit
filter add name p2-closed layer auth-connect sublayer remote remote.port $P2 block
filter add name p3-closed layer auth-connect sublayer remote remote.port $P3 block
EOR
cat >"$D/other.lfp" <<EOR
provider other
filter add name other-block layer auth-connect remote.addr 127.0.0.9 block
EOR

lfp -f "$D/remote.lfp" || t_bail "apply remote.lfp"
lfp filter add name cli-keep layer auth-connect remote.addr 127.0.0.8 block >/dev/null ||
	t_bail "filter add"
before=$(filter_texts)
subs_before=$(lfp sublayer list)
t_expect "base policy: $P1 flows" ok "$(py_tcp 127.0.0.1 $P1)"
t_expect "base policy: $P2 blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"
out=$(lfp confirm 2>&1)
t_expect "lfp confirm with nothing pending exits 1" 1 $?
t_check "lfp confirm with nothing pending says so" grep -q "nothing to confirm" <<<"$out"

# confirm_get KEY: one field of the pending confirmation in `lfp status --json` ("" if none)
confirm_get() {
	lfp status --json | $PY -c 'import json,sys
c = json.load(sys.stdin).get("confirm") or {}
print(c.get(sys.argv[1], ""))' "$1"
}

# wait_no_confirm SECONDS: until status shows no pending confirmation
wait_no_confirm() {
	local i
	for i in $(seq $(($1 * 10))); do
		[ "$(status_get confirm)" = "" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. lock-out, no confirm: rolled back ----
out=$(lfp -f "$D/lockout.lfp" --confirm 2 2>&1)
t_expect "lfp -f lockout.lfp --confirm 2 exits 0" 0 $?
t_check "apply --confirm says when it rolls back" grep -q "rolled back at .* unless .lfp confirm" \
	<<<"$out"
t_expect "lock-out applied: the admin's $P1 is blocked" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "lock-out applied: $P3 is blocked" EPERM "$(py_tcp 127.0.0.1 $P3)"
t_expect "status --json shows the pending confirmation" remote "$(confirm_get provider)"
t_check "lfp status shows the deadline" eval 'lfp status | grep -q "^confirm: .*provider .remote. .*rolled back at"'
out=$(lfp -f "$D/other.lfp" --confirm 5 2>&1)
t_expect "a second --confirm while one waits exits 1" 1 $?
t_check "the refusal names the pending provider and its time" \
	grep -q "provider 'remote'.*rolled back in [0-9]* s" <<<"$out"
echo "$out" | t_diag
out=$(lfp filter add --provider remote layer auth-connect remote.port 9 block 2>&1)
t_expect "a change to the pending provider is refused (exit 1)" 1 $?
t_check "the refusal says why" grep -q "waiting for confirmation" <<<"$out"
out=$(lfp filter delete p2-closed 2>&1)
t_expect "deleting the pending provider's filter is refused (exit 1)" 1 $?
t_check "another provider may change meanwhile" eval 'lfp -f "$D/other.lfp"'
t_check "wait: the rollback comes within 4 s" wait_no_confirm 4
t_expect "rolled back: the admin's $P1 flows again" ok "$(py_tcp 127.0.0.1 $P1)"
t_expect "rolled back: $P1 flows over IPv6 too" ok "$(py_tcp ::1 $P1)"
t_expect "rolled back: $P2 still blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_expect "rolled back: $P3 flows" ok "$(py_tcp 127.0.0.1 $P3)"
lfp filter delete other-block >/dev/null || t_bail "delete other-block"
t_expect "rolled back: the same filters with the same ids" "$before" "$(filter_texts)"
t_expect "rolled back: the sublayer's weight is back" "$subs_before" "$(lfp sublayer list)"
t_check "lfpd's log says it rolled back" grep -q "rollback: .*provider 'remote'.*not confirmed" \
	"$T_TMP/lfpd.log"
t_check "the state dir holds the old policy" eval 'grep -q admin-ok "$T_STATE/policy.json" && ! grep -q deny-all "$T_STATE/policy.json"'
t_check "no confirmation file is left" test ! -e "$T_STATE/confirm.json"
out=$(lfp confirm 2>&1)
t_expect "lfp confirm after the rollback exits 1" 1 $?
t_check "... and says the change was rolled back" grep -q "rolled back" <<<"$out"

# ---- 2. a confirmed change stays ----
lfp -f "$D/fine.lfp" --confirm 2 >/dev/null
t_expect "fine.lfp --confirm 2 exits 0" 0 $?
out=$(lfp confirm)
t_expect "lfp confirm exits 0" 0 $?
t_check "lfp confirm says what stays" grep -q "provider 'remote' stays" <<<"$out"
fine=$(filter_texts)
sleep 3
t_expect "confirmed: nothing pending" "" "$(status_get confirm)"
t_expect "confirmed, after the deadline: $P3 still blocked" EPERM "$(py_tcp 127.0.0.1 $P3)"
t_expect "confirmed, after the deadline: filters unchanged" "$fine" "$(filter_texts)"
t_check "confirmed: no confirmation file" test ! -e "$T_STATE/confirm.json"
lfp -f "$D/remote.lfp" || t_bail "apply remote.lfp again"
before=$(filter_texts)

# ---- 3. kill -9 while pending, restart after the deadline: rolled back at once ----
lfp -f "$D/lockout.lfp" --confirm 2 >/dev/null || t_bail "apply lockout (kill -9)"
t_expect "kill -9 case: $P1 blocked" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_check "the pending confirmation is in the state dir" test -s "$T_STATE/confirm.json"
t_lfpd_stop KILL
sleep 3
t_expect "lfpd down past the deadline: the pins still enforce the change" EPERM \
	"$(py_tcp 127.0.0.1 $P1)"
t_lfpd_start
t_expect "restart after the deadline: nothing pending" "" "$(status_get confirm)"
t_expect "restart after the deadline: $P1 flows at once" ok "$(py_tcp 127.0.0.1 $P1)"
t_expect "restart after the deadline: same filters, same ids" "$before" "$(filter_texts)"
t_check "restart after the deadline: the log says so" \
	grep -q "deadline passed while lfpd was down" "$T_TMP/lfpd.log"
t_check "restart after the deadline: no confirmation file" test ! -e "$T_STATE/confirm.json"

# ---- 4. kill -9 while pending, restart before the deadline: re-armed ----
# 20 s: the restart verifies every program again, seconds on a loaded 2-CPU machine
lfp -f "$D/lockout.lfp" --confirm 20 >/dev/null || t_bail "apply lockout (re-arm)"
t_lfpd_stop KILL
t_lfpd_start
rem=$(confirm_get remaining_ms)
if is_num "$rem" && [ "$rem" -gt 0 ] && [ "$rem" -le 20000 ]; then
	t_ok "restart before the deadline: re-armed ($rem ms left)"
else
	t_fail "restart before the deadline: re-armed"
	echo "remaining_ms: '$rem'" | t_diag
fi
t_expect "re-armed: the change is still enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_check "re-armed: the rollback comes by the original deadline" wait_no_confirm 22
t_expect "re-armed and rolled back: $P1 flows" ok "$(py_tcp 127.0.0.1 $P1)"
t_expect "re-armed and rolled back: same ids" "$before" "$(filter_texts)"

# ---- 5. lfpd stopped (SIGTERM) while pending: rolled back before it exits ----
lfp -f "$D/lockout.lfp" --confirm 60 >/dev/null || t_bail "apply lockout (SIGTERM)"
t_expect "SIGTERM case: $P1 blocked" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_lfpd_stop TERM
t_expect "after SIGTERM: the pins enforce the old policy ($P1 flows)" ok \
	"$(py_tcp 127.0.0.1 $P1)"
t_expect "after SIGTERM: $P2 still blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_check "after SIGTERM: no confirmation file" test ! -e "$T_STATE/confirm.json"
t_lfpd_start
t_expect "restart after SIGTERM: same ids" "$before" "$(filter_texts)"
t_expect "restart after SIGTERM: nothing pending" "" "$(status_get confirm)"

# ---- 6. bad input ----
out=$(lfp -f "$D/lockout.lfp" --confirm 0 2>&1)
t_expect "--confirm 0 exits 1" 1 $?
out=$(lfp -f "$D/lockout.lfp" --confirm soon 2>&1)
t_expect "--confirm soon exits 1" 1 $?
t_expect "bad --confirm changed nothing" "$before" "$(filter_texts)"
lfp -f "$D/lockout.lfp" --confirm 30 >/dev/null || t_bail "apply lockout (nobody)"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- "$LFP_BIN" --socket "$T_SOCK" \
	confirm 2>&1)
t_expect "lfp confirm as nobody exits 1" 1 $?
t_check "lfp confirm as nobody: permission denied" grep -q "permission denied" <<<"$out"
t_check "still pending after nobody's confirm" test -n "$(status_get confirm)"
lfp confirm >/dev/null
t_expect "root's lfp confirm exits 0" 0 $?
