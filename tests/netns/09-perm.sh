#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Who may change policy: an unprivileged user (nobody, not in group lfp) reads
# status but gets exit 1 "permission denied" for changes; a member of lfp may change.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen

# group lfp must exist before lfpd starts (it looks it up once); make it if missing
if ! getent group lfp >/dev/null; then
	groupadd --system lfp || t_bail "groupadd lfp"
	T_CLEANUPS+=("groupdel lfp")
fi
LFPGID=$(getent group lfp | cut -d: -f3)
t_lfpd_start

as_user() { "${NOBODY[@]}" "$LFP_BIN" --socket "$T_SOCK" "$@"; }
as_member() {
	setpriv --reuid=65534 --regid=65534 --groups="$LFPGID" -- "$LFP_BIN" --socket "$T_SOCK" "$@"
}

as_user status >/dev/null 2>"$T_TMP/err"
t_expect "nobody: status exits 0" 0 $?
as_user filter list >/dev/null 2>"$T_TMP/err"
t_expect "nobody: filter list exits 0" 0 $?

# an unprivileged monitor sees its own processes' events only
setpriv --reuid=65534 --regid=65534 --clear-groups -- "$LFP_BIN" --socket "$T_SOCK" \
	monitor --json >"$T_TMP/mon.json" 2>"$T_TMP/mon.err" &
T_PIDS+=($!)
seen=0
for i in $(seq 5); do
	in_scope "${NOBODY[@]}" $PY "$CLIENT" tcp 127.0.0.1 $PROBE_PORT >/dev/null
	if ev_find uid=65534 remote_port=$PROBE_PORT >/dev/null; then
		seen=1
		break
	fi
done
t_expect "nobody's monitor shows nobody's connection" 1 $seen
py_tcp 127.0.0.1 $P2 >/dev/null # root's
in_scope "${NOBODY[@]}" $PY "$CLIENT" tcp 127.0.0.1 $P3 >/dev/null
t_check "nobody's monitor shows nobody's later connection" ev_find uid=65534 remote_port=$P3
t_check "nobody's monitor does not show root's connection" eval \
	"! grep -q '\"uid\": *0,' '$T_TMP/mon.json'"

as_user filter add layer auth-connect remote.port $P1 block >"$T_TMP/out" 2>"$T_TMP/err"
t_expect "nobody: filter add exits 1" 1 $?
t_check "nobody: filter add says permission denied" grep -qi "permission denied" "$T_TMP/err"
t_expect "nobody: nothing was added" "" "$(filter_ids)"
t_expect "nobody: traffic unchanged" ok "$(py_tcp 127.0.0.1 $P1)"

printf 'filter add layer auth-connect remote.port %s block\n' $P1 >"$T_TMP/p.rules"
chmod 644 "$T_TMP/p.rules"
as_user -f "$T_TMP/p.rules" >/dev/null 2>"$T_TMP/err"
t_expect "nobody: lfp -f exits 1" 1 $?
t_check "nobody: lfp -f says permission denied" grep -qi "permission denied" "$T_TMP/err"
as_user sublayer add mine weight 5 >/dev/null 2>"$T_TMP/err"
t_expect "nobody: sublayer add exits 1" 1 $?

id=$(as_member filter add name by-member layer auth-connect remote.port $P1 block 2>"$T_TMP/err")
t_expect "group lfp member: filter add exits 0" 0 $?
t_check "group lfp member: filter add prints an id (got '$id')" is_num "$id"
t_expect "group lfp member's filter is enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"

as_user filter delete by-member >/dev/null 2>"$T_TMP/err"
t_expect "nobody: filter delete exits 1" 1 $?
t_check "nobody: filter delete says permission denied" grep -qi "permission denied" "$T_TMP/err"
as_user flush >/dev/null 2>"$T_TMP/err"
t_expect "nobody: flush exits 1" 1 $?
t_expect "nobody: the filter is still there" "$id" "$(filter_ids)"

as_member filter delete by-member 2>"$T_TMP/err"
t_expect "group lfp member: filter delete exits 0" 0 $?
t_expect "after the member's delete traffic flows" ok "$(py_tcp 127.0.0.1 $P1)"
