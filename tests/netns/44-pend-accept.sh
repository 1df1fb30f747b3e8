#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pend and complete at auth-recv-accept (docs/callouts.md): an `ask` filter on a
# listener's port holds inbound connections. The INPUT match holds the first SYN in
# lfpd's queue (49-pend-inbound.sh counts it); it is listed with the listener's pid and
# path; a permit lets it in, a block refuses it (the client's connect fails with
# ECONNREFUSED, nothing is accepted). UDP: the first datagram from a new remote is held
# the same way. IPv4 and IPv6; `always` writes an
# auth-recv-accept filter (scope app+remote+port: the local port) effective at once.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
LT=7001 LT6=7002 LU=7003

# listeners in scope: their identity is stamped at listen()/bind() for the ingress hook
cat >"$T_TMP/lsn.py" <<'PYEOF'
import socket, sys, threading
def tcp(fam, host, port):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(64)
    while True:
        c, a = s.accept(); print("accepted", a[1], flush=True); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    while True:
        d, a = s.recvfrom(100); s.sendto(b"echo:" + d, a)
threading.Thread(target=tcp, args=(socket.AF_INET, "127.0.0.1", int(sys.argv[1])), daemon=True).start()
threading.Thread(target=tcp, args=(socket.AF_INET6, "::1", int(sys.argv[2])), daemon=True).start()
threading.Thread(target=udp, args=(int(sys.argv[3]),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PYEOF
SCOPE_PIDFILE=$T_TMP/lsn.pid in_scope $PY "$T_TMP/lsn.py" $LT $LT6 $LU >"$T_TMP/lsn.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q ready "$T_TMP/lsn.out" && break; sleep 0.1; done
grep -q ready "$T_TMP/lsn.out" || t_bail "listeners"
LPID=$(cat "$T_TMP/lsn.pid")
T_CLEANUPS+=("kill -KILL $LPID")
# a UDP client that retries every 0.3 s until it hears the echo
cat >"$T_TMP/udpc.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    s.sendto(b"ping", ("127.0.0.1", int(sys.argv[1])))
    try:
        s.recvfrom(100); print("ok", flush=True); sys.exit(0)
    except socket.timeout:
        pass
print("timeout", flush=True)
PYEOF

lfp filter add name ask-in layer auth-recv-accept local.port "{$LT, $LT6, $LU}" ask timeout 20 \
	>/dev/null || t_bail "add ask filter"

n=0
# client NAME HOST PORT TIMEOUT: a TCP client outside the scope (its connect is not judged)
client() {
	nsenter --net="/run/netns/$T_NS" -- $PY "$HERE/pend_client.py" tcp "$2" "$3" "$4" \
		>"$T_TMP/$1.out" 2>&1 &
	T_PIDS+=($!)
}
res() {
	local i
	for i in $(seq 150); do [ -s "$T_TMP/$1.out" ] && break; sleep 0.1; done
	cut -d' ' -f1 "$T_TMP/$1.out"
}
# held PORT: the id of the pending inbound entry for local port PORT (waits up to 5 s)
held() {
	local i id
	for i in $(seq 50); do
		id=$(lfp pending --json | $PY -c 'import json,sys
p = [x for x in json.load(sys.stdin) if x["lport"] == int(sys.argv[1]) and x["layer"] == "auth-recv-accept"]
print(p[0]["id"] if p else "")' "$1")
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.1
	done
	echo none
}

client t1 127.0.0.1 $LT 10
id=$(held $LT)
t_check "TCP IPv4 inbound: held" test "$id" != none
entry=$(lfp pending --json | $PY -c 'import json,sys
p = [x for x in json.load(sys.stdin) if x["id"] == int(sys.argv[1])][0]
print(p["pid"], p["remote"], p["local"], p["lport"], p["filter_name"])' "$id")
t_expect "... listed with the listener's pid, the remote and the local end" \
	"$LPID 127.0.0.1 127.0.0.1 $LT ask-in" "$entry"
t_expect "... not accepted while it waits" 0 "$(grep -c accepted "$T_TMP/lsn.out")"
lfp pending answer "$id" permit >/dev/null
t_expect "TCP IPv4 inbound: permit lets the connection in" ok "$(res t1)"
t_expect "... and the listener accepted it" 1 "$(grep -c accepted "$T_TMP/lsn.out")"

client t2 127.0.0.1 $LT 4
id=$(held $LT)
lfp pending answer "$id" block >/dev/null
t_expect "TCP IPv4 inbound: block refuses it (the client's connect fails at once)" ECONNREFUSED \
	"$(res t2)"
t_expect "... nothing more was accepted" 1 "$(grep -c accepted "$T_TMP/lsn.out")"

client t3 ::1 $LT6 10
id=$(held $LT6)
t_check "TCP IPv6 inbound: held" test "$id" != none
lfp pending answer "$id" permit >/dev/null
t_expect "TCP IPv6 inbound: permit lets it in" ok "$(res t3)"

nsenter --net="/run/netns/$T_NS" -- $PY "$T_TMP/udpc.py" $LU 10 >"$T_TMP/u1.out" 2>&1 &
T_PIDS+=($!)
id=$(held $LU)
t_check "UDP inbound (first datagram from a new remote): held" test "$id" != none
lfp pending answer "$id" permit >/dev/null
t_expect "UDP inbound: permit lets the datagrams in (the echo comes back)" ok "$(res u1)"

# always, scope app+remote+port: an auth-recv-accept filter on the local port, at once
client t4 127.0.0.1 $LT 10
id=$(held $LT)
lfp pending answer "$id" permit always scope app+remote+port >/dev/null
t_expect "always: this connection is let in" ok "$(res t4)"
t_check "always: an auth-recv-accept hard permit for the app, remote and local port" grep -q \
	"layer auth-recv-accept .*app \"\?$(readlink -f $PY)\"\? remote.addr 127.0.0.1 proto tcp local.port $LT permit hard" \
	<<<"$(lfp filter list)"
client t5 127.0.0.1 $LT 10
t_expect "always: the next connection goes in without asking" ok "$(res t5)"
t_expect "... nothing is pending" 0 "$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"

t_lfpd_stop
exit $T_FAILED
