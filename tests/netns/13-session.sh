#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sessions and transactions through the API, with real client processes: a dynamic
# session's filter blocks and vanishes when its process exits or is killed; one
# transaction per session; a failed operation does not poison a transaction; abort
# and a session dying mid-transaction apply nothing; a second session waits for the
# lock and times out; unprivileged sessions are refused; subscribers see changes;
# the C example, compiled against the installed library, runs for real.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

# sess.py SOCK [--hold-until FILE] REQ... [--then REQ...]: one session (one connection).
# Sends each request, printing every line lfpd sends (replies and filter changes), then
# READY; with --hold-until keeps the session (printing what arrives) until FILE exists,
# then sends the --then requests and closes the connection cleanly.
cat >"$T_TMP/sess.py" <<'PY'
import json, os, select, socket, sys
args = sys.argv[1:]
path = args.pop(0)
hold = None
if args and args[0] == "--hold-until":
    hold, args = args[1], args[2:]
then = []
if "--then" in args:
    i = args.index("--then")
    args, then = args[:i], args[i + 1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
buf = b""
def read_some(timeout):
    global buf
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return True
    d = s.recv(65536)
    if not d:
        return False
    buf += d
    return True
def out_lines():
    global buf
    got = []
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        print(line.decode(), flush=True)
        got.append(json.loads(line))
    return got
def call(req):
    s.sendall(req.encode() + b"\n")
    while True:
        for j in out_lines():
            if "ok" in j:
                return
        if not read_some(30):
            print("EOF", flush=True)
            sys.exit(1)
for r in args:
    call(r)
print("READY", flush=True)
if hold:
    while not os.path.exists(hold):
        if not read_some(0.05):
            print("EOF", flush=True)
            sys.exit(1)
        out_lines()
    for r in then:
        call(r)
s.close()
PY

sess() { $PY "$T_TMP/sess.py" "$T_SOCK" "$@"; }

# sess_bg NAME ARGS...: a held session in the background, output in $T_TMP/NAME.out;
# sets SESS_PID; waits (5 s at most) until it sent its requests
sess_bg() {
	local name=$1 i
	shift
	: >"$T_TMP/$name.out"
	# not through sess(): $! must be python's pid, the process that holds the session
	$PY "$T_TMP/sess.py" "$T_SOCK" --hold-until "$T_TMP/$name.go" "$@" \
		>"$T_TMP/$name.out" 2>&1 &
	SESS_PID=$!
	T_PIDS+=($SESS_PID)
	for i in $(seq 50); do
		grep -q '^READY' "$T_TMP/$name.out" && return 0
		kill -0 $SESS_PID 2>/dev/null || break
		sleep 0.1
	done
	cat "$T_TMP/$name.out" | t_diag
	return 1
}

# sess_end NAME PID: let a held session go on (its --then requests) and exit; bounded
sess_end() {
	local i
	touch "$T_TMP/$1.go"
	for i in $(seq 50); do
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	wait "$2" 2>/dev/null
}

# reply N: "ok exit error" of the Nth reply (0-based) in stdin; filter changes skipped
reply() { $PY -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith("{") and "\"ok\"" in l][int(sys.argv[1])]
print(r.get("ok"), r.get("exit"), r.get("error",""))' "$1"; }

# the Nth reply's value at a dotted path
reply_get() { $PY -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.startswith("{") and "\"ok\"" in l][int(sys.argv[1])]
for k in sys.argv[2].split("."):
    r = r[int(k)] if isinstance(r, list) else r.get(k)
print(r)' "$1" "$2"; }

# wait_until CMD...: up to 5 s for CMD to succeed
wait_until() {
	local i
	for i in $(seq 50); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
no_filters() { [ -z "$(filter_ids)" ]; }
gen() { json_get "$(lfp status --json)" generation; }
add_req() { printf '{"op":"filter.add","text":"%s"}' "$1"; }

# ---- a dynamic session: its filter blocks while it lives, and goes with it ----

sess_bg dyn1 '{"op":"session","dynamic":true,"name":"dyn1"}' \
	"$(add_req "name dyn-block layer auth-connect remote.port $P1 block")" ||
	t_bail "dynamic session did not start"
pid=$SESS_PID
t_expect "session reply: dynamic, named, with its pid" "True dyn1 $pid" \
	"$(reply_get 0 session.dynamic <"$T_TMP/dyn1.out") $(reply_get 0 session.name <"$T_TMP/dyn1.out") $(reply_get 0 session.pid <"$T_TMP/dyn1.out")"
t_check "lfp filter list marks the session's filter (dynamic)" eval \
	'lfp filter list | grep "dyn-block" | grep -q "(dynamic)"'
t_expect "the dynamic filter blocks" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_check "status names the session count" eval '[ "$(status_get sessions)" -ge 2 ]'
sess_end dyn1 $pid
t_check "clean exit: the session's filter is deleted" wait_until no_filters
t_expect "... and traffic flows again" ok "$(py_tcp 127.0.0.1 $P1)"
t_check "the state dir never held it" eval '! grep -q dyn-block "$T_STATE/policy.json" 2>/dev/null'

sess_bg dyn2 '{"op":"session","dynamic":true}' '{"op":"sublayer.add","text":"mine weight 300"}' \
	"$(add_req "name dyn-kill layer auth-connect sublayer mine remote.port $P2 block")" ||
	t_bail "dynamic session did not start"
pid=$SESS_PID
t_expect "a dynamic session's sublayer and filter block" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_check "the sublayer is listed as dynamic" eval 'lfp sublayer list | grep mine | grep -q dynamic'
kill -KILL $pid
wait $pid 2>/dev/null
t_check "kill -9: the session's filter is deleted" wait_until no_filters
t_check "... and its sublayer" eval '! lfp sublayer list | grep -q mine'
t_expect "... and traffic flows again" ok "$(py_tcp 127.0.0.1 $P2)"

# ---- transactions ----

out=$(sess '{"op":"txn.begin"}' '{"op":"txn.begin"}' '{"op":"txn.abort"}')
t_check "a second txn.begin in the session fails (exit 1), naming why" eval \
	"printf '%s\n' \"\$out\" | reply 1 | grep -q '^False 1 .*already open in this session'"
t_check "... and the first transaction is still there to abort" eval \
	"printf '%s\n' \"\$out\" | reply 2 | grep -q '^True'"
out=$(sess '{"op":"txn.commit"}' '{"op":"txn.abort"}')
t_check "txn.commit without a transaction: exit 1" eval \
	"printf '%s\n' \"\$out\" | reply 0 | grep -q '^False 1 .*no transaction is open'"
t_check "txn.abort without a transaction: exit 1" eval \
	"printf '%s\n' \"\$out\" | reply 1 | grep -q '^False 1 .*no transaction is open'"

g0=$(gen)
out=$(sess '{"op":"txn.begin"}' "$(add_req "name g1 layer auth-connect remote.port $P1 block")" \
	"$(add_req "name bad layer auth-connect remote.port 99999 block")" \
	"$(add_req "name g1 layer auth-connect remote.port $P3 block")" \
	"$(add_req "name g2 layer auth-connect remote.port $P2 block")" \
	'{"op":"filter.list"}' '{"op":"txn.commit"}')
t_check "inside a transaction: a bad rule fails with its location" eval \
	"printf '%s\n' \"\$out\" | reply 2 | grep -q '^False 1 .*65535'"
t_check "... a taken name fails" eval "printf '%s\n' \"\$out\" | reply 3 | grep -q '^False 1 .*exists already'"
t_expect "the transaction's view lists its two good filters, uncommitted" "2 True True" \
	"$(printf '%s\n' "$out" | reply_get 5 filters | $PY -c 'import ast,sys
f=ast.literal_eval(sys.stdin.read()); print(len(f), f[0].get("uncommitted"), f[1].get("uncommitted"))')"
t_check "commit after failed operations succeeds" eval "printf '%s\n' \"\$out\" | reply 6 | grep -q '^True'"
t_expect "the good operations are applied, in one generation" "g1 g2 $((g0 + 1))" \
	"$(lfp filter list --json | $PY -c 'import json,sys
print(" ".join(f["name"] for f in json.load(sys.stdin)))') $(gen)"
t_expect "... and enforced" "EPERM EPERM ok" \
	"$(py_tcp 127.0.0.1 $P1) $(py_tcp 127.0.0.1 $P2) $(py_tcp 127.0.0.1 $P3)"
lfp filter delete g1 >/dev/null && lfp filter delete g2 >/dev/null || t_bail "cleanup g1 g2"

g0=$(gen)
out=$(sess '{"op":"txn.begin"}' "$(add_req "name ab layer auth-connect remote.port $P1 block")" \
	'{"op":"sublayer.add","text":"absub weight 9"}' '{"op":"txn.abort"}')
t_check "txn.abort succeeds" eval "printf '%s\n' \"\$out\" | reply 3 | grep -q '^True'"
t_expect "abort applies nothing: no filter, no sublayer, same generation" "0 $g0" \
	"$(lfp filter list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') $(gen)"
t_check "... no sublayer" eval '! lfp sublayer list | grep -q absub'
t_expect "... and traffic flows" ok "$(py_tcp 127.0.0.1 $P1)"

# ---- a session that dies mid-transaction; the lock ----

g0=$(gen)
sess_bg mid '{"op":"session","name":"holder"}' '{"op":"txn.begin"}' \
	"$(add_req "name mid layer auth-connect remote.port $P1 block")" ||
	t_bail "mid-transaction session did not start"
pid=$SESS_PID
t_check "status shows the open transaction's session by pid" eval \
	"lfp status --json | grep -q '\"pid\": *$pid'"
t_expect "another session does not see the uncommitted filter" "" "$(filter_ids)"
t_expect "... and the kernel does not enforce it" ok "$(py_tcp 127.0.0.1 $P1)"
start=$(date +%s%N)
out=$(sess '{"op":"session","lock_timeout_ms":700}' \
	"$(add_req "layer auth-connect remote.port $P2 block")" '{"op":"status"}')
ms=$((($(date +%s%N) - start) / 1000000))
t_check "a change from another session times out on the lock: exit 2, holder named by pid" eval \
	"printf '%s\n' \"\$out\" | reply 1 | grep -q \"^False 2 .*lock wait timed out.*pid $pid, 'holder'\""
t_check "... after its own lock timeout (700 ms), not lfpd's default (waited $ms ms)" \
	eval "[ $ms -ge 650 ] && [ $ms -lt 5000 ]"
t_check "... and its next request is answered after it, in order" eval \
	"printf '%s\n' \"\$out\" | reply 2 | grep -q '^True'"
out=$(sess '{"op":"txn.begin","lock_timeout_ms":300}')
t_check "txn.begin with its own lock_timeout_ms times out too" eval \
	"printf '%s\n' \"\$out\" | reply 0 | grep -q '^False 2 .*lock wait timed out'"
kill -KILL $pid
wait $pid 2>/dev/null
start=$(date +%s%N)
lfp filter add name after layer auth-connect remote.port $P3 block >/dev/null
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
t_check "after the holder was killed, the lock is free at once (took $ms ms)" eval \
	"[ $rc = 0 ] && [ $ms -lt 3000 ]"
t_expect "the dead session's transaction applied nothing" "after $((g0 + 1))" \
	"$(lfp filter list --json | $PY -c 'import json,sys
print(" ".join(f["name"] for f in json.load(sys.stdin)))') $(gen)"
t_expect "... its filter is not enforced" ok "$(py_tcp 127.0.0.1 $P1)"
lfp filter delete after >/dev/null || t_bail "cleanup"

# a second session's change waits for the first one's commit, then goes through
sess_bg first '{"op":"txn.begin"}' "$(add_req "name first layer auth-connect remote.port $P1 block")" \
	--then '{"op":"txn.commit"}' || t_bail "first session did not start"
pid=$SESS_PID
lfp filter add name second layer auth-connect remote.port $P2 block >"$T_TMP/second.out" 2>&1 &
second=$!
T_PIDS+=($second)
sleep 1
t_check "the second session's change waits while the first's transaction is open" \
	kill -0 $second
t_check "... a read from a third session is answered meanwhile" eval 'lfp filter list >/dev/null'
sess_end first $pid
wait_until eval "! kill -0 $second 2>/dev/null"
wait $second
t_expect "after the first commits, the second's change goes through (exit 0)" 0 $?
t_expect "both applied, the first one first" "first second" \
	"$(lfp filter list --json | $PY -c 'import json,sys
print(" ".join(f["name"] for f in sorted(json.load(sys.stdin), key=lambda f: f["id"])))')"
t_expect "... and enforced" "EPERM EPERM" "$(py_tcp 127.0.0.1 $P1) $(py_tcp 127.0.0.1 $P2)"
lfp flush >/dev/null || t_bail "flush"

# ---- privilege ----

out=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- $PY "$T_TMP/sess.py" "$T_SOCK" \
	'{"op":"session","dynamic":true}' '{"op":"txn.begin"}' '{"op":"filter.list"}' \
	'{"op":"subscribe","what":"filters"}')
t_check "unprivileged session request refused: permission denied, exit 1" eval \
	"printf '%s\n' \"\$out\" | reply 0 | grep -q \"^False 1 permission denied: 'session'.*uid 65534\""
t_check "unprivileged txn.begin refused" eval \
	"printf '%s\n' \"\$out\" | reply 1 | grep -q \"^False 1 permission denied: 'txn.begin'\""
t_check "... reads and subscriptions stay open to it" eval \
	"[ \"\$(printf '%s\n' \"\$out\" | reply 2 | cut -d' ' -f1)\$(printf '%s\n' \"\$out\" | reply 3 | cut -d' ' -f1)\" = TrueTrue ]"

# ---- subscriptions and enumeration ----

sess_bg sub '{"op":"subscribe","what":"filters"}' || t_bail "subscriber did not start"
pid=$SESS_PID
id=$(lfp filter add name watched layer auth-connect remote.port $P3 block) || t_bail "add watched"
lfp filter delete watched >/dev/null || t_bail "delete watched"
wait_until grep -q '"change": *"delete"' "$T_TMP/sub.out"
sess_end sub $pid
t_expect "the subscriber saw the add then the delete, with id, name and layer" \
	"add $id watched auth-connect|delete $id watched auth-connect" \
	"$($PY -c 'import json,sys
c=[json.loads(l)["filter_change"] for l in open(sys.argv[1]) if "filter_change" in l]
print("|".join("%s %s %s %s" % (x["change"], x["id"], x["name"], x["layer"]) for x in c))' "$T_TMP/sub.out")"

out=$(sess '{"op":"sublayer.add","text":"p1sub weight 5","provider":"p1"}' \
	"$(printf '{"op":"filter.add","text":"layer auth-connect sublayer p1sub remote.port %s block","provider":"p1"}' $P3)" \
	'{"op":"provider.list"}' '{"op":"callout.list"}')
t_expect "provider.list counts a provider's filters and sublayers" "p1 1 1" \
	"$(printf '%s\n' "$out" | reply_get 2 providers.0.name) $(printf '%s\n' "$out" | reply_get 2 providers.0.filters) $(printf '%s\n' "$out" | reply_get 2 providers.0.sublayers)"
t_expect "callout.list has the built-in count callout" "count inspection" \
	"$(printf '%s\n' "$out" | reply_get 3 callouts.0.name) $(printf '%s\n' "$out" | reply_get 3 callouts.0.type)"
t_expect "... and the built-in ask callout (terminating), both built in" "ask terminating True" \
	"$(printf '%s\n' "$out" | reply_get 3 callouts.1.name) $(printf '%s\n' "$out" | reply_get 3 callouts.1.type) $(printf '%s\n' "$out" | reply_get 3 callouts.1.builtin)"
lfp flush >/dev/null || t_bail "flush"

# ---- the C example, compiled against the installed library, run for real ----

if "$ROOT/examples/check-installed.sh" "$LFP_BUILD" "$T_TMP/session_demo" >"$T_TMP/inst.log" 2>&1; then
	t_ok "session_demo compiles against the installed headers and lfp.pc"
else
	t_fail "session_demo compiles against the installed headers and lfp.pc"
	t_diag <"$T_TMP/inst.log"
fi
if [ -x "$T_TMP/session_demo" ]; then
	"$T_TMP/session_demo" "$T_SOCK" $P3 3 >"$T_TMP/demo.out" 2>&1 &
	demo=$!
	T_PIDS+=($demo)
	wait_until grep -q '^ready' "$T_TMP/demo.out"
	t_check "session_demo committed its sublayer and filter and listed them" eval \
		"grep -q '^filter [0-9]* demo-block (dynamic)' \"\$T_TMP/demo.out\""
	t_check "session_demo enumerated its dynamic sublayer with its filter count" eval \
		"grep -q '^sublayer demo weight 200 filters 1 (dynamic)' \"\$T_TMP/demo.out\""
	t_check "session_demo enumerated the default sublayer" eval \
		"grep -q '^sublayer default weight 32768 ' \"\$T_TMP/demo.out\""
	t_check "session_demo enumerated providers with their counts" eval \
		"grep -Eq '^provider cli filters [1-9][0-9]* sublayers [1-9]' \"\$T_TMP/demo.out\""
	t_expect "session_demo's filter blocks while it runs" EPERM "$(py_tcp 127.0.0.1 $P3)"
	t_check "... in its dynamic sublayer" eval 'lfp sublayer list | grep demo | grep -q dynamic'
	wait_until eval "! kill -0 $demo 2>/dev/null"
	wait $demo
	t_expect "session_demo exits 0" 0 $?
	t_check "session_demo saw its own filter's add through its subscription" eval \
		"grep -q '^change: add filter' \"\$T_TMP/demo.out\""
	t_check "when it has exited, its objects are gone" wait_until no_filters
	t_check "... its sublayer too" eval '! lfp sublayer list | grep -q demo'
	t_expect "... and traffic flows" ok "$(py_tcp 127.0.0.1 $P3)"
	[ $T_FAILED = 0 ] || t_diag <"$T_TMP/demo.out"
fi
t_check "lfpd is still up" eval 'lfp status >/dev/null'
