#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-authorization after a commit: a live TCP connection a new filter blocks is ended
# at once (the client sees ECONNABORTED) with a block event; a connection the filter
# does not block stays up; a connection of a process outside the test cgroup, in the
# same namespace, to the blocked port is never touched; an unconnected UDP socket that
# was permitted gets EPERM on its next send, with a block event. `lfp status` counts
# re-authorizations and ended flows.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PB=8090 PK=8091 # blocked later / never blocked

# an echo server that keeps connections open (this script's cgroup: out of scope)
cat >"$T_TMP/echo.py" <<'EOF'
import socket, sys, threading
def serve(c):
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
def loop(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
for p in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p)))
    s.listen(16)
    threading.Thread(target=loop, args=(s,), daemon=True).start()
open(sys.argv[1], "w").close()
threading.Event().wait()
EOF
# a long-lived client: connects, then sends and receives every 50 ms; prints
# "up" once connected and, when the connection fails, the error it got
cat >"$T_TMP/live.py" <<'EOF'
import errno, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
print("up", flush=True)
try:
    while True:
        s.sendall(b"ping")
        if s.recv(16) == b"":
            print("eof", flush=True)
            break
        time.sleep(0.05)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
EOF
ns_run $PY "$T_TMP/echo.py" "$T_TMP/echo.ready" $PB $PK >"$T_TMP/echo.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do [ -f "$T_TMP/echo.ready" ] && break; sleep 0.1; done
[ -f "$T_TMP/echo.ready" ] || t_bail "echo server did not come up"

live_start() { # NAME PORT [in|out]: start a live client, wait for "up"
	local name=$1 port=$2 where=${3:-in} i
	if [ "$where" = in ]; then
		SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/live.py" "$port" \
			>"$T_TMP/$name.out" 2>&1 &
	else
		ns_run $PY "$T_TMP/live.py" "$port" >"$T_TMP/$name.out" 2>&1 &
		echo $! >"$T_TMP/$name.pid"
	fi
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q '^up$' "$T_TMP/$name.out" && return 0
		sleep 0.1
	done
	cat "$T_TMP/$name.out" | t_diag
	return 1
}
# the clients' own pids (in_scope's $! is the subshell's): ended at cleanup
kill_clients() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_clients)
live_state() { tail -n 1 "$T_TMP/$1.out"; } # "up" while alive, else the error
no_ev() { ! ev_find "$@"; }

live_start blk $PB || t_bail "in-scope client to $PB"
live_start ok $PK || t_bail "in-scope client to $PK"
live_start outside $PB out || t_bail "out-of-scope client to $PB"

# a UDP socket that sends before and after the commit
cat >"$T_TMP/udp.py" <<'EOF'
import json, os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = {}
def send(k):
    try:
        s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))
        r[k] = "delivered"
    except OSError as e:
        r[k] = "EPERM" if e.errno == 1 else str(e.errno)
send("first")
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
send("second")
print(json.dumps(r), flush=True)
EOF
SCOPE_PIDFILE=$T_TMP/udp.pid in_scope $PY "$T_TMP/udp.py" $U1 "$T_TMP/go" >"$T_TMP/udp.out" 2>&1 &
UDP_PID=$!
T_PIDS+=($UDP_PID)
for i in $(seq 50); do grep -q ready "$T_TMP/udp.out" && break; sleep 0.1; done
grep -q ready "$T_TMP/udp.out" || t_bail "UDP client did not start"

re0=$(json_get "$(lfp status --json | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["stats"]))')" reauthorizations)
end0=$(json_get "$(lfp status --json | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["stats"]))')" flows_ended)

t0=$(date +%s%N)
lfp filter add name reauth-block layer auth-connect remote.port { $PB, $U1 } block >/dev/null ||
	t_bail "filter add"
for i in $(seq 20); do [ "$(live_state blk)" != up ] && break; sleep 0.05; done
ms=$((($(date +%s%N) - t0) / 1000000))
t_expect "blocked live connection ended: $(live_state blk)" yes \
	"$(case $(live_state blk) in ECONNABORTED | ECONNRESET | EPIPE) echo yes ;; *) live_state blk ;; esac)"
t_check "it ended within 1 s of the commit (${ms} ms)" [ "$ms" -lt 1000 ]
sleep 0.3
t_expect "a connection the filter does not block stays up" up "$(live_state ok)"
t_expect "a connection from outside the test cgroup stays up" up "$(live_state outside)"
if ev=$(ev_find pid="$(cat "$T_TMP/blk.pid")" verdict=block remote_port=$PB); then
	t_expect "re-authorization event: layer" auth-connect "$(json_get "$ev" layer)"
	t_expect "re-authorization event: filter" reauth-block "$(json_get "$ev" filter_name)"
	t_expect "re-authorization event: proto" tcp "$(json_get "$ev" proto)"
else
	t_fail "a block event for the ended connection"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
t_check "no event ends the out-of-scope connection" \
	no_ev pid="$(cat "$T_TMP/outside.pid")"
t_check "no block event for the connection left up" \
	no_ev pid="$(cat "$T_TMP/ok.pid")" verdict=block

touch "$T_TMP/go"
wait $UDP_PID
r=$(tail -n 1 "$T_TMP/udp.out")
t_expect "UDP: permitted before the filter" delivered "$(json_get "$r" first)"
t_expect "UDP: same socket gets EPERM on its next send" EPERM "$(json_get "$r" second)"
if ev=$(ev_find pid="$(cat "$T_TMP/udp.pid")" verdict=block remote_port=$U1); then
	t_expect "UDP re-authorization event: filter" reauth-block "$(json_get "$ev" filter_name)"
else
	t_fail "a block event for the UDP socket's next send"
fi

stats=$(lfp status --json | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["stats"]))')
re1=$(json_get "$stats" reauthorizations)
end1=$(json_get "$stats" flows_ended)
t_check "status counts re-authorizations ($re0 -> $re1)" [ "$((re1 - re0))" -ge 3 ]
t_expect "status counts one ended flow" 1 "$((end1 - end0))"
t_expect "status: the reauth hook is active" true "$(lfp status --json | $PY -c 'import json,sys
print(str(any(h["name"] == "reauth tcp" and h["active"] for h in json.load(sys.stdin)["hooks"])).lower())')"
