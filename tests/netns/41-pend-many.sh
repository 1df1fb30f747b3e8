#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many held flows at once (docs/callouts.md): 100 concurrent connects are held, 99 are
# answered in random order (permit or block) and complete while the 100th, never
# answered, still waits: one slow answer stalls nobody; it then times out (default
# block). A callout client killed while flows wait for it: they complete as for an
# unregistered callout, at once. A full queue (--pend-queue-max 2) never lets a flow
# through unjudged: flows beyond it stay held by the kernel (their SYNs dropped and
# retried) until lfpd has room, and then are asked too.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
PM=$HERE/pend_many.py
PC=$HERE/pend_client.py

lfp filter add name ask-many layer auth-connect remote.port $P1 ask timeout 12 >/dev/null ||
	t_bail "add ask filter"
in_scope $PY "$PM" 127.0.0.1 $P1 100 25 >"$T_TMP/many.out" 2>&1 &
T_PIDS+=($!)
MANY=$!
# pending entries by local port: wait until all 100 are held
for i in $(seq 100); do
	n=$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
	[ "$n" = 100 ] && break
	sleep 0.1
done
t_expect "100 concurrent connects are held" 100 "$n"
lfp pending --json >"$T_TMP/pend.json"
# answer 99 in random order (even local ports permit, odd block); keep one unanswered
$PY - "$T_TMP/pend.json" >"$T_TMP/plan" <<'PYEOF'
import json, random, sys
p = json.load(open(sys.argv[1]))
random.seed(7); random.shuffle(p)
for x in p[1:]:
    print(x["id"], x["lport"], "permit" if x["lport"] % 2 == 0 else "block")
print("keep", p[0]["id"], p[0]["lport"])
PYEOF
keep_lport=$(awk '$1 == "keep" {print $3}' "$T_TMP/plan")
t_start=$(date +%s.%N)
while read -r id lport v; do
	[ "$id" = keep ] && continue
	lfp pending answer "$id" "$v" >/dev/null || echo "answer $id failed" >>"$T_TMP/answer.err"
done <"$T_TMP/plan"
t_check "every answer was accepted" test ! -s "$T_TMP/answer.err"
# the 99 complete (the kept one still waits)
for i in $(seq 50); do
	[ "$(grep -c -E ' (ok|ECONNABORTED|timeout|E[A-Z]+) [0-9.]+$' "$T_TMP/many.out")" -ge 99 ] && break
	sleep 0.1
done
res=$($PY - "$T_TMP/many.out" "$T_TMP/plan" "$keep_lport" <<'PYEOF'
import sys
fin = {}
for l in open(sys.argv[1]):
    f = l.split()
    if len(f) == 4:
        fin[int(f[1])] = f[2]
want = {}
for l in open(sys.argv[2]):
    f = l.split()
    if f[0] != "keep":
        want[int(f[1])] = "ok" if f[2] == "permit" else "ECONNABORTED"
bad = [(lp, w, fin.get(lp)) for lp, w in want.items() if fin.get(lp) != w]
print("mismatches=%d kept_done=%s" % (len(bad), int(sys.argv[3]) in fin))
for b in bad[:5]: print(b, file=sys.stderr)
PYEOF
)
t_expect "all 99 answered flows completed as answered, in any order" "mismatches=0 kept_done=False" "$res"
t_expect "the unanswered flow still waits" 1 \
	"$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"
for i in $(seq 150); do grep -q '^done' "$T_TMP/many.out" && break; sleep 0.1; done
t_expect "the unanswered flow times out with the default (block)" ECONNABORTED \
	"$(awk -v lp="$keep_lport" '$2 == lp && NF == 4 {print $3}' "$T_TMP/many.out")"

# a callout client that registers, holds flows and is killed without answering
lfp filter delete ask-many >/dev/null
cat >"$T_TMP/callout.py" <<'PYEOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
def req(o):
    f.write((json.dumps(o) + "\n").encode()); f.flush()
    while True:
        r = json.loads(f.readline())
        if "ok" in r: return r
for o in ({"op": "session", "dynamic": True, "name": "mute"},
          {"op": "callout.register", "name": "mute"},
          {"op": "filter.add", "text": "layer auth-connect remote.port %s callout mute" % sys.argv[2]},
          {"op": "filter.add", "text": "layer auth-connect remote.port %s callout mute permit-if-callout-unregistered" % sys.argv[3]}):
    r = req(o)
    if not r["ok"]: print("failed", r, flush=True); sys.exit(1)
print("ready", flush=True)
while True:
    l = f.readline()
    if not l: break
    if b"classify" in l: print("classify", flush=True)
PYEOF
$PY "$T_TMP/callout.py" "$T_SOCK" $P2 $P3 >"$T_TMP/callout.out" 2>&1 &
CO=$!
T_PIDS+=($CO)
for i in $(seq 50); do grep -q ready "$T_TMP/callout.out" && break; sleep 0.1; done
t_check "the callout client registered and added its filters" grep -q ready "$T_TMP/callout.out"
SCOPE_PIDFILE=$T_TMP/c1.pid in_scope $PY "$PC" tcp 127.0.0.1 $P2 10 >"$T_TMP/c1.out" 2>&1 &
T_PIDS+=($!)
SCOPE_PIDFILE=$T_TMP/c2.pid in_scope $PY "$PC" tcp 127.0.0.1 $P3 10 >"$T_TMP/c2.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do [ "$(grep -c classify "$T_TMP/callout.out")" = 2 ] && break; sleep 0.1; done
t_expect "both flows were sent to the callout client" 2 "$(grep -c classify "$T_TMP/callout.out")"
t_expect "... and wait for it" "" "$(cat "$T_TMP/c1.out" "$T_TMP/c2.out")"
{ kill -KILL $CO; wait $CO; } 2>/dev/null
for i in $(seq 30); do [ -s "$T_TMP/c1.out" ] && [ -s "$T_TMP/c2.out" ] && break; sleep 0.1; done
t_expect "client killed: its flow completes as unregistered (block), at once" ECONNABORTED \
	"$(cut -d' ' -f1 "$T_TMP/c1.out")"
t_expect "... with permit-if-callout-unregistered: permit" ok "$(cut -d' ' -f1 "$T_TMP/c2.out")"
t_expect "... and its filters are gone" "" "$(lfp filter list | grep 'callout mute')"

# a full queue: flows beyond it are held by the kernel, never let through
t_lfpd_stop
t_lfpd_start --pend-queue-max 2
lfp filter add name ask-q layer auth-connect remote.port $P1 ask timeout 30 >/dev/null
in_scope $PY "$PM" 127.0.0.1 $P1 5 20 >"$T_TMP/q.out" 2>&1 &
T_PIDS+=($!)
sleep 2.5
t_expect "queue of 2: no flow got through unjudged" 0 "$(grep -c ' ok ' "$T_TMP/q.out")"
n=$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
t_check "queue of 2: at most 2 flows waiting in lfpd (got $n)" test "$n" -le 2 -a "$n" -ge 1
# answer whatever waits until all 5 were asked and permitted (their SYNs retried)
for i in $(seq 200); do
	for id in $(lfp pending --json | $PY -c 'import json,sys; print(" ".join(str(x["id"]) for x in json.load(sys.stdin)))'); do
		lfp pending answer "$id" permit >/dev/null 2>&1
	done
	[ "$(grep -c ' ok ' "$T_TMP/q.out")" = 5 ] && break
	sleep 0.1
done
t_expect "queue of 2: the other flows were asked once there was room, all 5 permitted" 5 \
	"$(grep -c ' ok ' "$T_TMP/q.out")"

t_lfpd_stop
exit $T_FAILED
