#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Block by user: `user 65534` blocks a client running as nobody, not root's.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

URL=http://127.0.0.1:$P1/
t_expect "before the rule, nobody's curl works" ok "$(curl_try --nobody "$URL")"

lfp filter add name no-nobody layer auth-connect user 65534 block >/dev/null ||
	t_bail "filter add user 65534"
SCOPE_PIDFILE=$T_TMP/curl.pid in_scope "${NOBODY[@]}" $CURL -sv --max-time 3 -o /dev/null \
	"$URL" 2>"$T_TMP/curl.err"
t_expect "user 65534: nobody's curl is blocked" eperm "$(curl_verdict $?)"
t_expect "user 65534: nobody's curl over ::1 is blocked" eperm \
	"$(curl_try --nobody "http://[::1]:$P1/")"
r=$(in_scope "${NOBODY[@]}" $PY "$CLIENT" tcp 127.0.0.1 $P1)
t_expect "user 65534: nobody's python is blocked" EPERM "$(json_get "$r" result)"
t_expect "user 65534: root's curl works" ok "$(curl_try "$URL")"
t_expect "user 65534: root's python works" ok "$(py_tcp 127.0.0.1 $P1)"
if ev=$(ev_find pid="$(cat "$T_TMP/curl.pid")" verdict=block); then
	t_expect "block event has uid 65534" 65534 "$(json_get "$ev" uid)"
	t_expect "block event names the user filter" no-nobody "$(json_get "$ev" filter_name)"
else
	t_fail "a block event for nobody's curl"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
lfp filter delete no-nobody || t_bail "filter delete"

# the same by name: resolved at commit
lfp filter add layer auth-connect user nobody block >/dev/null || t_bail "filter add user nobody"
t_expect "user nobody (by name): nobody's curl is blocked" eperm "$(curl_try --nobody "$URL")"
t_expect "user nobody (by name): root's curl works" ok "$(curl_try "$URL")"
