#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Flow-delete notifications beyond outbound TCP (docs/callouts.md): a callout client
# (callout_client.py) permits inbound TCP connections at auth-recv-accept (IPv4, IPv6),
# an inbound UDP flow, and outbound UDP flows at auth-connect (connected, and an
# unconnected socket talking to two remotes). Each is told once when it ends: the
# accepted socket closes (found by its 5-tuple: it did not exist at the permit), the UDP
# socket closes. A flow that still lives is not told.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
LT=7001 LT6=7002 LU=7003

# listeners in scope: TCP ones keep each connection until the peer closes it
cat >"$T_TMP/lsn.py" <<'PYEOF'
import socket, sys, threading
def serve(c):
    while c.recv(100):
        pass
    c.close()
def tcp(fam, host, port):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(64)
    while True:
        c, a = s.accept(); print("accepted", a[1], flush=True)
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=tcp, args=(socket.AF_INET, "127.0.0.1", int(sys.argv[1])), daemon=True).start()
threading.Thread(target=tcp, args=(socket.AF_INET6, "::1", int(sys.argv[2])), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PYEOF
in_scope $PY "$T_TMP/lsn.py" $LT $LT6 >"$T_TMP/lsn.out" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q ready "$T_TMP/lsn.out" && break; sleep 0.1; done
grep -q ready "$T_TMP/lsn.out" || t_bail "listeners"

# a UDP server in scope that echoes until told "bye", then closes its socket and exits
cat >"$T_TMP/usrv.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(100)
    s.sendto(b"echo:" + d, a)
    if d == b"bye":
        break
s.close()
print("closed", flush=True)
PYEOF
in_scope $PY "$T_TMP/usrv.py" $LU >"$T_TMP/usrv.out" 2>&1 &
USRV=$!
T_PIDS+=($USRV)
for i in $(seq 50); do grep -q ready "$T_TMP/usrv.out" && break; sleep 0.1; done
grep -q ready "$T_TMP/usrv.out" || t_bail "udp server"

$PY "$HERE/callout_client.py" "$T_SOCK" fd terminating permit \
	"layer auth-recv-accept local.port {$LT, $LT6, $LU} callout fd" \
	"layer auth-connect remote.port {$U1, $U2, $U3} callout fd" >"$T_TMP/co.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do grep -q ready "$T_TMP/co.log" && break; sleep 0.1; done
grep -q ready "$T_TMP/co.log" || {
	t_diag <"$T_TMP/co.log"
	t_bail "callout client"
}

# told PATTERN [N]: up to 8 s for the Nth (default 1st) deletion line matching PATTERN
told() {
	local i
	for i in $(seq 80); do
		[ "$(grep -Ec "^deleted .*$1" "$T_TMP/co.log")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
deleted() { grep -c '^deleted ' "$T_TMP/co.log"; }

# a TCP client outside the scope: connects, says "hi", keeps the connection HOLD s, closes
cat >"$T_TMP/tc.py" <<'PYEOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print("connected", s.getsockname()[1], flush=True)
s.sendall(b"hi")
time.sleep(float(sys.argv[3]))
s.close()
print("closed", flush=True)
PYEOF
ns_run $PY "$T_TMP/tc.py" 127.0.0.1 $LT 2.5 >"$T_TMP/tc1.out" 2>&1 &
TC=$!
T_PIDS+=($TC)
for i in $(seq 60); do grep -q connected "$T_TMP/tc1.out" && break; sleep 0.1; done
t_check "inbound TCP IPv4: the callout permitted it" grep -q "classify .*layer=auth-recv-accept proto=tcp local=127.0.0.1:$LT" "$T_TMP/co.log"
t_check "... connected" grep -q connected "$T_TMP/tc1.out"
CPORT=$(awk '/connected/ {print $2}' "$T_TMP/tc1.out")
sleep 1
t_expect "... not told while it lives" 0 "$(deleted)"
wait $TC
t_check "... told when it ends: inbound, tcp, its 5-tuple" told \
	"proto=tcp direction=inbound cookie=[1-9][0-9]* remote=127.0.0.1:$CPORT local=127.0.0.1:$LT"
id=$(grep "classify .*local=127.0.0.1:$LT" "$T_TMP/co.log" | sed -E 's/.*id=([0-9]+).*/\1/')
t_check "... with the id of the request it answered" grep -q "^deleted id=$id proto=tcp" "$T_TMP/co.log"

# (kept 1 s: lfpd looks every 250 ms; a flow it never saw is told after 5 s, cookie 0)
ns_run $PY "$T_TMP/tc.py" ::1 $LT6 1 >"$T_TMP/tc2.out" 2>&1
t_check "inbound TCP IPv6: connected and closed" grep -q closed "$T_TMP/tc2.out"
t_check "... told" told "proto=tcp direction=inbound cookie=[1-9][0-9]* remote=\[::1\]:[0-9]+ local=\[::1\]:$LT6"

# inbound UDP: the first datagram from a new remote was held; the flow ends with the socket
cat >"$T_TMP/uc.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
end = time.monotonic() + 10
while time.monotonic() < end:
    s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
    try:
        s.recvfrom(100); print("ok", flush=True); sys.exit(0)
    except socket.timeout:
        pass
print("timeout", flush=True)
PYEOF
t_expect "inbound UDP: permitted" ok "$(ns_run $PY "$T_TMP/uc.py" $LU ping)"
sleep 0.6
n=$(deleted)
t_check "... not told while the server's socket is open" bash -c "! grep -q 'proto=udp direction=inbound' '$T_TMP/co.log'"
t_expect "... the server closes its socket" ok "$(ns_run $PY "$T_TMP/uc.py" $LU bye)"
t_check "... told: inbound udp, the remote" told "proto=udp direction=inbound cookie=[1-9][0-9]* remote=127.0.0.1:[0-9]+ local=127.0.0.1:$LU"

# outbound UDP, connected: ends when the client's socket closes
t_expect "outbound connected UDP: permitted" ok "$(in_scope $PY "$HERE/pend_client.py" udpc 127.0.0.1 $U1 5 | cut -d' ' -f1)"
t_check "... told when its socket closed" told "proto=udp direction=outbound cookie=[1-9][0-9]* remote=127.0.0.1:$U1 "

# outbound unconnected UDP: one socket, two remotes = two flows, both end with the socket
cat >"$T_TMP/u2.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for p in sys.argv[1:]:
    s.sendto(b"ping", ("127.0.0.1", int(p))); s.recvfrom(100)
print("ok", flush=True)
time.sleep(1)
s.close()
print("closed", flush=True)
PYEOF
in_scope $PY "$T_TMP/u2.py" $U2 $U3 >"$T_TMP/u2.out" 2>&1 &
U2P=$!
T_PIDS+=($U2P)
for i in $(seq 80); do grep -q ok "$T_TMP/u2.out" && break; sleep 0.1; done
t_check "outbound unconnected UDP to two remotes: answered" grep -q ok "$T_TMP/u2.out"
sleep 0.5
t_check "... not told while the socket is open" bash -c "! grep -Eq 'remote=127.0.0.1:($U2|$U3) ' '$T_TMP/co.log'"
wait $U2P
t_check "... told for the first remote" told "proto=udp direction=outbound cookie=[1-9][0-9]* remote=127.0.0.1:$U2 "
t_check "... and for the second" told "proto=udp direction=outbound cookie=[1-9][0-9]* remote=127.0.0.1:$U3 "
sleep 0.5
t_expect "one notification per flow, none twice" "$(grep -c '^classify ' "$T_TMP/co.log")" "$(deleted)"

t_lfpd_stop
exit $T_FAILED
