#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Persistence and adoption: persistent filters survive restarts (state dir) and keep
# being enforced by the pins while lfpd is down (clean stop or kill -9); a later
# lfpd adopts the pins without attaching twice; runtime filters end with lfpd;
# --unload leaves nothing behind.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

# cg_progs: attach type and name of the programs on the test cgroup, sorted, one a line
# (a hook may run several of lfp's programs, e.g. connect-redirect's and auth-connect's;
# the same program twice on one hook is a double attachment)
cg_progs() {
	bpftool -j cgroup show "$T_CG" | $PY -c 'import json,sys
txt = sys.stdin.read().strip()
for p in sorted(p["attach_type"] + ":" + p["name"] for p in (json.loads(txt) if txt else [])):
    print(p)'
}
check_hooks() { # WHEN
	local now dups
	now=$(cg_progs)
	dups=$(uniq -d <<<"$now")
	if [ -n "$now" ] && [ -z "$dups" ]; then
		t_ok "$1: exactly one program per hook on the test cgroup ($(echo $now))"
	else
		t_fail "$1: exactly one program per hook on the test cgroup"
		bpftool cgroup show "$T_CG" 2>&1 | t_diag
	fi
	t_expect "$1: the same hooks as at first start" "$hooks0" "$now"
}

t_expect "fresh start: not adopted" false "$(status_get adopted)"
keep=$(lfp filter add name keep layer auth-connect remote.port $P1 block) || t_bail "filter add"
lfp filter add --runtime name rt layer auth-connect remote.port $P2 block >/dev/null ||
	t_bail "filter add --runtime"
hooks0=$(cg_progs)
t_check "fresh start: programs are attached to the test cgroup" test -n "$hooks0"
t_expect "fresh start: no hook attached twice" "" "$(uniq -d <<<"$hooks0")"
t_expect "persistent block on $P1 enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "runtime block on $P2 enforced" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_check "filter list marks the runtime filter" eval 'lfp filter list | grep -q "(runtime)"'

# clean stop: the persistent block stays, the runtime one ends
t_lfpd_stop TERM
t_expect "after SIGTERM: persistent block still enforced by the pins" EPERM \
	"$(py_tcp 127.0.0.1 $P1)"
t_expect "after SIGTERM: runtime block is gone" ok "$(py_tcp 127.0.0.1 $P2)"
t_expect "after SIGTERM: other traffic flows" ok "$(curl_try "http://127.0.0.1:$P3/")"
t_check "after SIGTERM: the state dir holds the policy" test -s "$T_STATE/policy.json"

t_lfpd_start
t_expect "restart after SIGTERM: adopted" true "$(status_get adopted)"
t_expect "restart after SIGTERM: only the persistent filter, same id" "$keep" "$(filter_ids)"
t_expect "restart after SIGTERM: block on $P1 holds" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "restart after SIGTERM: $P2 flows" ok "$(py_tcp 127.0.0.1 $P2)"
check_hooks "restart after SIGTERM"

# crash: kill -9 leaves everything pinned and enforcing
t_lfpd_stop KILL
t_expect "after kill -9: block on $P1 still holds" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "after kill -9: $P3 flows" ok "$(py_tcp 127.0.0.1 $P3)"
t_lfpd_start
t_expect "restart after kill -9: adopted" true "$(status_get adopted)"
t_expect "restart after kill -9: same filter ids" "$keep" "$(filter_ids)"
t_expect "restart after kill -9: block on $P1 holds" EPERM "$(py_tcp 127.0.0.1 $P1)"
check_hooks "restart after kill -9"

# the adopted programs follow new policy
id=$(lfp filter add layer auth-connect remote.port $P3 block) || t_bail "filter add (adopted)"
t_expect "adopted: a new block on $P3 is enforced" EPERM "$(py_tcp 127.0.0.1 $P3)"
lfp filter delete "$id" || t_bail "filter delete (adopted)"
t_expect "adopted: after its delete $P3 flows" ok "$(py_tcp 127.0.0.1 $P3)"
t_check "adopted: a new id is not a reused one" test "$id" -gt "$keep"

# unload: no pins, no programs, traffic flows
t_lfpd_stop TERM
out=$(t_lfpd_unload 2>&1)
t_expect "lfpd --unload exits 0" 0 $?
left=$(find "$T_BPFFS" -mindepth 1 2>/dev/null)
t_expect "lfpd --unload leaves no pins under $T_BPFFS" "" "$left"
t_expect "lfpd --unload leaves no programs on the test cgroup" "" "$(cg_progs)"
t_expect "after --unload: $P1 flows" ok "$(py_tcp 127.0.0.1 $P1)"

# the state dir alone brings the policy back (fresh load, not adoption)
t_lfpd_start
t_expect "start after --unload: not adopted" false "$(status_get adopted)"
t_expect "start after --unload: the persistent filter is back" "$keep" "$(filter_ids)"
t_expect "start after --unload: block on $P1 enforced again" EPERM "$(py_tcp 127.0.0.1 $P1)"
check_hooks "start after --unload"
