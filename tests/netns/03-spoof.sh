#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `app` matches the executable's identity, not its name: a copy is another app, a
# symlink is the same app, argv[0] is irrelevant, and a rule naming a symlink
# means the file it points to.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

URL=http://127.0.0.1:$P1/
mkdir "$T_TMP/bin"
cp $CURL "$T_TMP/bin/curl-copy"
ln -s $CURL "$T_TMP/bin/curl-link"
ln -s $CURL "$T_TMP/bin/firefox"

# events name the executable, not the name it was started by (first, before anything
# else ran curl: lfpd must not learn the executable's path from how it was started)
ev_path() { # VERDICT BIN DESC
	SCOPE_PIDFILE=$T_TMP/ev.pid in_scope "$2" -sv --max-time 3 -o /dev/null "$URL" \
		2>"$T_TMP/curl.err"
	t_expect "$3: $1" "$1" "$(curl_verdict $?)"
	if ev=$(ev_find pid="$(cat "$T_TMP/ev.pid")"); then
		t_expect "$3: its event names the executable $CURL" "$CURL" "$(json_get "$ev" path)"
	else
		t_fail "$3: an event for it"
	fi
}
ev_path ok "$T_TMP/bin/firefox" "curl started through a symlink named firefox"
ev_path ok $CURL "then curl by its own path"

lfp filter add name no-curl layer auth-connect app $CURL block >/dev/null ||
	t_bail "filter add app $CURL"
t_expect "curl by its path is blocked" eperm "$(curl_try "$URL")"
t_expect "a copy of curl at another path is not blocked (another app)" ok \
	"$(curl_try --bin "$T_TMP/bin/curl-copy" "$URL")"
t_expect "a symlink to curl is blocked (same identity)" eperm \
	"$(curl_try --bin "$T_TMP/bin/curl-link" "$URL")"

in_scope bash -c 'exec -a firefox "$0" -sv --max-time 3 -o /dev/null "$1"' $CURL "$URL" \
	2>"$T_TMP/curl.err"
t_expect "argv[0] spoofing with exec -a is still blocked" eperm "$(curl_verdict $?)"
in_scope $PY "$CLIENT" execv $CURL firefox-esr -sv --max-time 3 -o /dev/null "$URL" \
	2>"$T_TMP/curl.err"
t_expect "argv[0] spoofing with os.execv is still blocked" eperm "$(curl_verdict $?)"

ev_path eperm "$T_TMP/bin/firefox" "blocked curl started through a symlink named firefox"

lfp filter add name no-copy layer auth-connect app "$T_TMP/bin/curl-copy" block >/dev/null
t_expect "a rule naming the copy blocks the copy" eperm \
	"$(curl_try --bin "$T_TMP/bin/curl-copy" "$URL")"

lfp filter delete no-curl && lfp filter delete no-copy || t_bail "filter delete"
t_expect "with the rules deleted curl works" ok "$(curl_try "$URL")"
lfp filter add name via-link layer auth-connect app "$T_TMP/bin/curl-link" block >/dev/null ||
	t_bail "filter add app (symlink)"
t_expect "a rule naming a symlink blocks curl run by its real path" eperm "$(curl_try "$URL")"
t_expect "... and not the copy" ok "$(curl_try --bin "$T_TMP/bin/curl-copy" "$URL")"
t_expect "... and not python" ok "$(py_tcp 127.0.0.1 $P1)"
