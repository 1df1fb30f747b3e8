#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Block by application: `app /usr/bin/curl` blocks curl, not python to the same port.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

id=$(lfp filter add name no-curl layer auth-connect app $CURL block)
t_check "filter add prints a numeric id" is_num "$id"
t_expect "status leaves monitor mode" false "$(status_get monitor_mode)"

SCOPE_PIDFILE=$T_TMP/curl.pid in_scope $CURL -sv --max-time 3 -o /dev/null \
	"http://127.0.0.1:$P1/" 2>"$T_TMP/curl.err"
t_expect "curl to 127.0.0.1:$P1 fails with EPERM" eperm "$(curl_verdict $?)"
t_expect "curl over ::1 is blocked too" eperm "$(curl_try "http://[::1]:$P1/")"
t_expect "python to the same port works" ok "$(py_tcp 127.0.0.1 $P1)"
ns_run $CURL -s --max-time 3 -o /dev/null "http://127.0.0.1:$P1/"
t_expect "curl in the netns but outside the test cgroup is not filtered" 0 $?

if ev=$(ev_find pid="$(cat "$T_TMP/curl.pid")" verdict=block); then
	t_expect "block event names the filter" no-curl "$(json_get "$ev" filter_name)"
	t_expect "block event carries the filter id" "$id" "$(json_get "$ev" filter_id)"
	t_expect "block event path" "$CURL" "$(json_get "$ev" path)"
	t_expect "block event ipver" 4 "$(json_get "$ev" ipver)"
	la=$(json_get "$ev" local_addr)
	t_check "block event of an IPv4 flow has an IPv4 local addr (got '$la')" \
		eval '[[ $la =~ ^[0-9.]+$ ]]'
else
	t_fail "a block event for the curl"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi

hits=$(lfp filter list --json | $PY -c 'import json,sys
print([f["hits"] for f in json.load(sys.stdin) if f.get("name") == "no-curl"][0])')
t_check "filter list counts hits for no-curl (got $hits)" test "${hits:-0}" -ge 2

lfp filter delete no-curl
t_expect "filter delete by name exits 0" 0 $?
t_expect "curl works again after the delete" ok "$(curl_try "http://127.0.0.1:$P1/")"
lfp filter delete no-curl 2>/dev/null
t_expect "deleting an unknown name exits 1" 1 $?
