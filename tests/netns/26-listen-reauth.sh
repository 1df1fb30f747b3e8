#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-authorization of listeners after a commit (auth-listen). A listener blocked at
# listen() is kept, closed to new connections; once a commit permits it, the
# re-authorization walk clears its mark and a new client is accepted, with a permit
# event (flags reauthorize). A listener permitted at listen() that a later commit
# blocks stays open as a socket but refuses new clients (their SYNs are dropped),
# with a block event; a connection it accepted before is not ended by auth-listen;
# deleting the filter opens the same listener again. A listener outside the test
# cgroup is never touched. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PB=9990 PP=9991 PO=9992 # blocked at listen() / permitted at listen() / out of scope

# a listener: "listening" once listen() returned, then "accepted" per connection; the
# accepted connections stay open (an echo per line)
cat >"$T_TMP/lsn.py" <<'EOF2'
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(16)
print("listening", flush=True)
def echo(c):
    try:
        while True:
            d = c.recv(64)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    print("accepted", flush=True)
    threading.Thread(target=echo, args=(c,), daemon=True).start()
EOF2
# a client that stays connected: "up", then the echo's fate after a file appears
cat >"$T_TMP/live.py" <<'EOF2'
import errno, os, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(3)
s.connect((host, port))
print("up", flush=True)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
try:
    s.sendall(b"ping")
    print("alive" if s.recv(16) == b"ping" else "eof", flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
EOF2

# lsn_start NAME HOST PORT [out]: a listener (in scope unless "out"); waits for "listening"
lsn_start() {
	local name=$1 host=$2 port=$3 i
	if [ "${4:-in}" = in ]; then
		SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/lsn.py" "$host" "$port" \
			>"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	else
		ns_run $PY "$T_TMP/lsn.py" "$host" "$port" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
		echo $! >"$T_TMP/$name.pid"
	fi
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q '^listening' "$T_TMP/$name.out" 2>/dev/null && break
		sleep 0.1
	done
	head -n 1 "$T_TMP/$name.out"
}
kill_pids() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_pids)
cli() { ns_run $PY "$(dirname "$0")/tcp_try.py" "$1" "$2" 1.5; } # ok | timeout | errno
has_reauth() { [[ $(json_get "$1" flags) == *reauthorize* ]]; }

lfp filter add name no-listen layer auth-listen local.port $PB block >/dev/null ||
	t_bail "filter add no-listen"
t_expect "status: the listener walk is listed at auth-listen" "true auth-listen" \
	"$(lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}["reauth tcp listeners"]
print(str(h["active"]).lower(), h["layer"])')"

for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	t_expect "IPv$v: listen() on the blocked port succeeds" listening "$(lsn_start b$v $H $PB)"
	t_expect "IPv$v: blocked listener: a connect times out" timeout "$(cli $H $PB)"
	t_expect "IPv$v: permitted listener: listen()" listening "$(lsn_start p$v $H $PP)"
	t_expect "IPv$v: permitted listener: a connect is accepted" ok "$(cli $H $PP)"
done
t_expect "IPv4: listener outside the test cgroup" listening "$(lsn_start o4 127.0.0.1 $PO out)"
SCOPE_PIDFILE=$T_TMP/live4.pid in_scope $PY "$T_TMP/live.py" 127.0.0.1 $PP "$T_TMP/go" \
	>"$T_TMP/live4.out" 2>&1 &
T_PIDS+=($!)
SCOPE_PIDFILE=$T_TMP/live6.pid in_scope $PY "$T_TMP/live.py" ::1 $PP "$T_TMP/go" \
	>"$T_TMP/live6.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do
	grep -qs up "$T_TMP/live4.out" && grep -qs up "$T_TMP/live6.out" && break
	sleep 0.1
done
t_check "connections accepted before the block are up" \
	eval 'grep -q up "$T_TMP/live4.out" && grep -q up "$T_TMP/live6.out"'

# blocked -> permitted: a heavier permit filter, committed
lfp filter add name ok-listen layer auth-listen class 15 local.port $PB permit >/dev/null ||
	t_bail "filter add ok-listen"
for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	t_expect "IPv$v: the listener blocked at listen() accepts after the permit commit" ok \
		"$(cli $H $PB)"
	if ev=$(ev_find pid="$(cat "$T_TMP/b$v.pid")" layer=auth-listen verdict=permit); then
		t_expect "IPv$v: permit event: filter" ok-listen "$(json_get "$ev" filter_name)"
		t_expect "IPv$v: permit event: local port" $PB "$(json_get "$ev" local_port)"
		t_expect "IPv$v: permit event: ipver" $v "$(json_get "$ev" ipver)"
		t_check "IPv$v: permit event: flags reauthorize" has_reauth "$ev"
	else
		t_fail "IPv$v: an auth-listen permit event for the re-authorized listener"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
done

# permitted -> blocked
lfp filter add name no-listen-2 layer auth-listen local.port { $PP, $PO } block >/dev/null ||
	t_bail "filter add no-listen-2"
for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	if ev=$(ev_find pid="$(cat "$T_TMP/p$v.pid")" layer=auth-listen verdict=block); then
		t_expect "IPv$v: block event: filter" no-listen-2 "$(json_get "$ev" filter_name)"
		t_expect "IPv$v: block event: local addr" $H "$(json_get "$ev" local_addr)"
		t_check "IPv$v: block event: flags reauthorize" has_reauth "$ev"
	else
		t_fail "IPv$v: an auth-listen block event for the re-authorized listener"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
done
for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	t_expect "IPv$v: the listener permitted at listen() refuses a new client after the block" \
		timeout "$(cli $H $PP)"
done
t_expect "the listener outside the test cgroup still accepts" ok "$(cli 127.0.0.1 $PO)"
t_check "no event for the listener outside the test cgroup" \
	eval '! ev_find pid="$(cat "$T_TMP/o4.pid")" >/dev/null'
touch "$T_TMP/go"
for v in 4 6; do
	for i in $(seq 30); do [ "$(tail -n 1 "$T_TMP/live$v.out")" != up ] && break; sleep 0.1; done
	t_expect "IPv$v: a connection accepted before the block is not ended by auth-listen" \
		alive "$(tail -n 1 "$T_TMP/live$v.out")"
done
t_check "the blocked listeners are still there (kept, not destroyed)" \
	eval 'kill -0 "$(cat "$T_TMP/p4.pid")" && kill -0 "$(cat "$T_TMP/p6.pid")"'

# deleting the block opens the same listener again
lfp filter delete no-listen-2 || t_fail "filter delete no-listen-2"
t_expect "IPv6: after delete the same listener accepts again" ok "$(cli ::1 $PP)"
