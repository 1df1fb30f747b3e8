#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Answers to `ask` (docs/callouts.md): once (the next connection asks again),
# until-restart (a runtime hard filter of provider ask, scoped to app+remote+port, just
# above the ask filter: effective at once, gone after a restart), always (a persistent
# one, scope app: still there after a restart). Who may answer: a user sees and answers
# only their own processes' connections, never root's. `lfp prompt` driven with keys
# through tmux and through a pipe.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
PC=$HERE/pend_client.py
cp "$(readlink -f $PY)" "$T_TMP/pyA" && cp "$(readlink -f $PY)" "$T_TMP/pyB" || t_bail "copy python"
chmod 755 "$T_TMP/pyA" "$T_TMP/pyB"

lfp filter add name ask-a layer auth-connect remote.port "{$P1, $P2}" ask timeout 20 >/dev/null ||
	t_bail "add ask filter"
ASKW=$(lfp filter list --json | $PY -c 'import json,sys
print([f["weight"] for f in json.load(sys.stdin) if f.get("name") == "ask-a"][0])')

n=0
# cl [PREFIX...] BIN PORT: a client in scope in the background; sets CL to its name
cl() {
	n=$((n + 1))
	CL=c$n
	SCOPE_PIDFILE=$T_TMP/$CL.pid in_scope "$@" "$PC" tcp 127.0.0.1 "$P" 10 >"$T_TMP/$CL.out" 2>&1 &
	T_PIDS+=($!)
}
res() {
	local i
	for i in $(seq 100); do [ -s "$T_TMP/$1.out" ] && break; sleep 0.1; done
	cut -d' ' -f1 "$T_TMP/$1.out"
}
# pid_of NAME, id_of NAME [LFP...]: the client's pid; its pending id as seen by LFP
pid_of() {
	local i
	for i in $(seq 50); do [ -s "$T_TMP/$1.pid" ] && break; sleep 0.1; done
	cat "$T_TMP/$1.pid"
}
id_of() {
	local name=$1 pid i id
	shift
	pid=$(pid_of "$name")
	for i in $(seq 50); do
		id=$("${@:-lfp}" pending --json | $PY -c 'import json,sys
p = [x for x in json.load(sys.stdin) if x["pid"] == int(sys.argv[1])]
print(p[0]["id"] if p else "")' "$pid")
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.1
	done
	echo none
}
npending() { lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
ask_filters() {
	lfp filter list --json | $PY -c 'import json,sys
for f in json.load(sys.stdin):
    if f.get("provider") == "ask": print(f["lifetime"], f["weight"], f["text"])'
}

# once
P=$P1
cl $PY
lfp pending answer "$(id_of $CL)" permit once >/dev/null
t_expect "once: permitted" ok "$(res $CL)"
cl $PY
id=$(id_of $CL)
t_check "once: the next connection asks again" test "$id" != none
lfp pending answer "$id" block >/dev/null
t_expect "once: ... and can be blocked" ECONNABORTED "$(res $CL)"
t_expect "once: no rule written" "" "$(ask_filters)"

# until-restart, scope app+remote+port
cl "$T_TMP/pyA"
out=$(lfp pending answer "$(id_of $CL)" permit until-restart scope app+remote+port)
t_check "until-restart: lfp says which filter decides from now on" grep -q 'until lfpd restarts' <<<"$out"
t_expect "until-restart: permitted" ok "$(res $CL)"
t_expect "until-restart: a runtime hard filter of provider ask, just above the ask filter" \
	"runtime $((ASKW + 1)) layer auth-connect weight $((ASKW + 1)) app $T_TMP/pyA remote.addr 127.0.0.1 proto tcp remote.port $P1 permit hard" \
	"$(ask_filters | sed 's/"//g')"
cl "$T_TMP/pyA"
t_expect "until-restart: the same app, remote and port connect without asking" ok "$(res $CL)"
t_expect "... nothing was pending" 0 "$(npending)"
P=$P2
cl "$T_TMP/pyA"
id=$(id_of $CL)
t_check "until-restart, scope with port: another port still asks" test "$id" != none
lfp pending answer "$id" permit >/dev/null
res $CL >/dev/null

# always, scope app
cl "$T_TMP/pyB"
lfp pending answer "$(id_of $CL)" block always >/dev/null
t_expect "always block: this connection fails at once" ECONNABORTED "$(res $CL)"
t_check "always: a persistent hard block of provider ask for the app" grep -q \
	"^persistent $((ASKW + 1)) .*app \"\?$T_TMP/pyB\"\? block" <<<"$(ask_filters)"
P=$P1
cl "$T_TMP/pyB"
t_expect "always block: the app's next connection (another port) is refused at connect" EPERM "$(res $CL)"

# restart: the runtime filter goes, the persistent one stays
t_lfpd_stop
t_lfpd_start
t_expect "after a restart: only the persistent answer is left" 1 "$(ask_filters | wc -l)"
cl "$T_TMP/pyA"
id=$(id_of $CL)
t_check "after a restart: the until-restart app asks again" test "$id" != none
lfp pending answer "$id" permit >/dev/null
res $CL >/dev/null
cl "$T_TMP/pyB"
t_expect "after a restart: the always-blocked app is still refused" EPERM "$(res $CL)"

# who may answer: nobody sees and answers its own connections only
as_user() { "${NOBODY[@]}" "$LFP_BIN" --socket "$T_SOCK" "$@"; }
cl $PY
ROOTC=$CL
rid=$(id_of $ROOTC)
cl "${NOBODY[@]}" $PY
USERC=$CL
uid_=$(id_of $USERC as_user)
t_check "nobody: its own connection is listed for it" test "$uid_" != none
t_expect "nobody: root's connection is not listed for it" "" \
	"$(as_user pending --json | $PY -c 'import json,sys
print(" ".join(str(x["id"]) for x in json.load(sys.stdin) if x["id"] == int(sys.argv[1])))' "$rid")"
out=$(as_user pending answer "$rid" permit 2>&1)
rc=$?
t_expect "nobody: answering root's connection fails (exit 1)" 1 "$rc"
t_check "... with permission denied naming the owner" grep -q "permission denied: pending $rid is a connection of uid 0" <<<"$out"
as_user pending answer "$uid_" permit >/dev/null
t_expect "nobody: answers its own connection" ok "$(res $USERC)"
lfp pending answer "$rid" block >/dev/null
t_expect "root answers root's connection" ECONNABORTED "$(res $ROOTC)"

# lfp prompt through a pipe: one key per held connection
cl $PY
id_of $CL >/dev/null
printf 'a' | lfp prompt >"$T_TMP/prompt.out" 2>&1
t_expect "lfp prompt (pipe): key a permits" ok "$(res $CL)"
t_check "... after showing the connection" grep -q "wants tcp to 127.0.0.1:$P1" "$T_TMP/prompt.out"

# lfp prompt in a terminal (tmux): keys without Enter
TM="tmux -S $T_TMP/tmux.sock"
T_CLEANUPS+=("$TM kill-server")
$TM new-session -d -x 120 -y 40 "$LFP_BIN --socket $T_SOCK prompt; sleep 30" || t_bail "tmux"
cl $PY
id_of $CL >/dev/null
for i in $(seq 50); do $TM capture-pane -p | grep -q "wants tcp" && break; sleep 0.1; done
t_check "lfp prompt (tmux): shows the held connection with its executable" \
	grep -q "$(readlink -f $PY) (pid $(pid_of $CL), user root) wants tcp to 127.0.0.1:$P1" \
	<<<"$($TM capture-pane -p)"
$TM send-keys d
t_expect "lfp prompt (tmux): key d blocks" ECONNABORTED "$(res $CL)"
cl $PY
id_of $CL >/dev/null
for i in $(seq 50); do [ "$($TM capture-pane -p | grep -c 'wants tcp')" -ge 2 ] && break; sleep 0.1; done
$TM send-keys a
t_expect "lfp prompt (tmux): key a permits the next one" ok "$(res $CL)"
$TM send-keys q
for i in $(seq 30); do $TM capture-pane -p | grep -q '^\$\|sleep' && break; sleep 0.1; done

t_lfpd_stop
exit $T_FAILED
