#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# auth-recv-accept: the SYN of an inbound TCP connection and the first datagram from a
# new remote to a UDP socket are classified at ingress with the listening/receiving
# socket's owner. A block drops the SYN (the client's connect times out, nothing is
# accepted) or the datagram (no reply); events name the layer, the listener's pid, the
# local and the remote end. Conditions on local.port, remote.addr and app; replies to
# a UDP flow the socket opened itself are not judged again; a commit that blocks an
# accepted connection ends it (re-authorization). IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PB=9100 PP=9101 PR=9102 PA=9103 PH=9104 # blocked / permitted / by remote / by app / held
UB=9110 UP=9111 UF=9112                    # UDP blocked / permitted / own flow

# servers in scope: tcp prints "listening", then per connection "accepted" and how it
# ended; udp prints "bound", then "got" per datagram and echoes it
cat >"$T_TMP/srv.py" <<'EOF'
import errno, socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
if kind == "tcp":
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        print("accepted", flush=True)
        try:
            while c.recv(100):
                pass
            print("eof", flush=True)
        except OSError as e:
            print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
        c.close()
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((host, port))
    print("bound", flush=True)
    while True:
        d, a = s.recvfrom(100)
        print("got", flush=True)
        s.sendto(d, a)
EOF
# clients (out of scope unless run with in_scope):
#   tcp HOST PORT [SRC]     connect (2 s): ok | timeout | error name
#   hold HOST PORT GOFILE   connect, print up, wait for GOFILE, then recv: eof | error | timeout
#   udp HOST PORT [SPORT]   one datagram, one reply awaited (1 s): reply | timeout | error
cat >"$T_TMP/cli.py" <<'EOF'
import errno, os, socket, sys, time
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
if kind in ("tcp", "hold"):
    s = socket.socket(fam)
    if kind == "tcp" and len(sys.argv) > 4:
        s.bind((sys.argv[4], 0))
    s.settimeout(2)
    try:
        s.connect((host, port))
    except socket.timeout:
        print("timeout"); sys.exit(0)
    except OSError as e:
        print(name(e)); sys.exit(0)
    if kind == "tcp":
        print("ok"); sys.exit(0)
    print("up", flush=True)
    for i in range(100):
        if os.path.exists(sys.argv[4]):
            break
        time.sleep(0.05)
    s.settimeout(4)
    try:
        print("eof" if s.recv(10) == b"" else "data")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print(name(e))
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if len(sys.argv) > 4:
        s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", int(sys.argv[4])))
    s.settimeout(1)
    try:
        s.sendto(b"x", (host, port))
        s.recv(10)
        print("reply")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print(name(e))
EOF
cp "$(readlink -f $PY)" "$T_TMP/pyother" || t_bail "copy python"

# srv_start NAME BIN KIND HOST PORT: a server in scope; prints its first line
srv_start() {
	local name=$1 bin=$2 i
	shift 2
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope "$bin" "$T_TMP/srv.py" "$@" \
		>"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	T_PIDS+=($!)
	for i in $(seq 50); do
		[ -s "$T_TMP/$name.out" ] && break
		sleep 0.1
	done
	head -n 1 "$T_TMP/$name.out"
}
kill_servers() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_servers)
cli() { ns_run $PY "$T_TMP/cli.py" "$@"; }
count() { grep -c "^$2\$" "$T_TMP/$1.out"; }
spid() { cat "$T_TMP/$1.pid"; }

t_expect "status: auth-recv-accept is enforced" enforced "$(layer_status auth-recv-accept state)"
mech=$(layer_status auth-recv-accept mechanism)
t_check "status: auth-recv-accept names ingress, sock_ops and the iterator" eval \
	"[[ \"\$mech\" == *'ingress accept'*'passive-established'*'reauth tcp accepted'* ]]"
echo "mechanism: $mech" | t_diag

lfp filter add name acc-block layer auth-recv-accept local.port $PB block >/dev/null ||
	t_bail "filter add local.port"
lfp filter add name acc-remote layer auth-recv-accept local.port $PR remote.addr 127.0.0.2 \
	block >/dev/null || t_bail "filter add remote.addr"
lfp filter add name acc-app layer auth-recv-accept app "$T_TMP/pyother" block >/dev/null ||
	t_bail "filter add app"
lfp filter add name acc-udp layer auth-recv-accept proto udp local.port "{$UB, $UF}" block \
	>/dev/null || t_bail "filter add udp"

for fam in 4 6; do
	if [ $fam = 4 ]; then H=127.0.0.1; else H=::1; fi
	t_expect "IPv$fam: a listener on the blocked port listens" listening \
		"$(srv_start b$fam $PY tcp $H $PB)"
	t_expect "IPv$fam: a connect to it times out" timeout "$(cli tcp $H $PB)"
	t_expect "IPv$fam: nothing was accepted" 0 "$(count b$fam accepted)"
	if ev=$(ev_find pid="$(spid b$fam)" layer=auth-recv-accept verdict=block); then
		t_expect "IPv$fam block event: filter" acc-block "$(json_get "$ev" filter_name)"
		t_expect "IPv$fam block event: local addr" $H "$(json_get "$ev" local_addr)"
		t_expect "IPv$fam block event: local port" $PB "$(json_get "$ev" local_port)"
		t_expect "IPv$fam block event: remote addr" $H "$(json_get "$ev" remote_addr)"
		t_check "IPv$fam block event: the client's port" eval \
			"[ \"$(json_get "$ev" remote_port)\" -gt 1023 ]"
		t_expect "IPv$fam block event: ipver" $fam "$(json_get "$ev" ipver)"
		t_expect "IPv$fam block event: proto" tcp "$(json_get "$ev" proto)"
	else
		t_fail "IPv$fam: an auth-recv-accept block event naming the listener"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
	t_expect "IPv$fam: a listener on another port" listening "$(srv_start p$fam $PY tcp $H $PP)"
	t_expect "IPv$fam: a connect to it works" ok "$(cli tcp $H $PP)"
	if ev=$(ev_find pid="$(spid p$fam)" layer=auth-recv-accept verdict=permit); then
		t_expect "IPv$fam permit event: local port" $PP "$(json_get "$ev" local_port)"
		t_expect "IPv$fam permit event: the listener's executable" \
			"$(readlink -f $PY)" "$(json_get "$ev" path)"
	else
		t_fail "IPv$fam: an auth-recv-accept permit event naming the listener"
	fi
	sleep 0.2
	t_expect "IPv$fam: the connection was accepted" 1 "$(count p$fam accepted)"

	# UDP
	t_expect "IPv$fam UDP: a server on the blocked port binds" bound \
		"$(srv_start ub$fam $PY udp $H $UB)"
	t_expect "IPv$fam UDP: a datagram to it gets no reply" timeout "$(cli udp $H $UB)"
	t_expect "IPv$fam UDP: the server got nothing" 0 "$(count ub$fam got)"
	if ev=$(ev_find pid="$(spid ub$fam)" layer=auth-recv-accept verdict=block); then
		t_expect "IPv$fam UDP block event: filter" acc-udp "$(json_get "$ev" filter_name)"
		t_expect "IPv$fam UDP block event: proto" udp "$(json_get "$ev" proto)"
		t_expect "IPv$fam UDP block event: local port" $UB "$(json_get "$ev" local_port)"
		t_expect "IPv$fam UDP block event: remote addr" $H "$(json_get "$ev" remote_addr)"
	else
		t_fail "IPv$fam UDP: an auth-recv-accept block event naming the server"
	fi
	t_expect "IPv$fam UDP: a server on another port binds" bound \
		"$(srv_start up$fam $PY udp $H $UP)"
	t_expect "IPv$fam UDP: a datagram to it is answered" reply "$(cli udp $H $UP 9120)"
	t_expect "IPv$fam UDP: the same remote again" reply "$(cli udp $H $UP 9120)"
	if ev=$(ev_find pid="$(spid up$fam)" layer=auth-recv-accept verdict=permit proto=udp); then
		t_expect "IPv$fam UDP permit event: remote port" 9120 "$(json_get "$ev" remote_port)"
	else
		t_fail "IPv$fam UDP: an auth-recv-accept permit event naming the server"
	fi
	t_expect "IPv$fam UDP: one event for one remote (cached)" 1 "$($PY - "$T_TMP/mon.json" \
		"$(spid up$fam)" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    n += e.get("layer") == "auth-recv-accept" and str(e.get("pid")) == sys.argv[2]
print(n)
EOF
)"
	# a reply to a datagram the socket sent itself belongs to its own flow
	t_expect "IPv$fam UDP: replies to the socket's own flow pass the block" reply \
		"$(in_scope $PY "$T_TMP/cli.py" udp $H $U1 $UF)"
	t_expect "IPv$fam UDP: ... while a new remote to that port is dropped" timeout \
		"$(SCOPE_PIDFILE= in_scope $PY -c "$(cat <<EOF
import socket
fam = socket.AF_INET6 if ":" in "$H" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(("$H", $UF))
s.settimeout(1)
try:
    s.recv(10)
    print("got")
except socket.timeout:
    print("timeout")
EOF
)" & sleep 0.3; cli udp $H $UF >/dev/null; wait)"
	kill_servers
done

# by remote address and by application (IPv4)
t_expect "remote: a listener" listening "$(srv_start r4 $PY tcp 127.0.0.1 $PR)"
t_expect "remote: from 127.0.0.2 the connect times out" timeout "$(cli tcp 127.0.0.1 $PR 127.0.0.2)"
t_expect "remote: from 127.0.0.1 it works" ok "$(cli tcp 127.0.0.1 $PR 127.0.0.1)"
if ev=$(ev_find pid="$(spid r4)" layer=auth-recv-accept verdict=block); then
	t_expect "remote block event: remote addr" 127.0.0.2 "$(json_get "$ev" remote_addr)"
	t_expect "remote block event: filter" acc-remote "$(json_get "$ev" filter_name)"
else
	t_fail "remote: an auth-recv-accept block event"
fi
t_expect "app: the named application listens" listening \
	"$(srv_start a4 "$T_TMP/pyother" tcp 127.0.0.1 $PA)"
t_expect "app: ... and accepts nothing" timeout "$(cli tcp 127.0.0.1 $PA)"
if ev=$(ev_find pid="$(spid a4)" layer=auth-recv-accept verdict=block); then
	t_expect "app block event: filter" acc-app "$(json_get "$ev" filter_name)"
else
	t_fail "app: an auth-recv-accept block event"
fi

# re-authorization: an accepted connection a new filter blocks is ended
for fam in 4 6; do
	if [ $fam = 4 ]; then H=127.0.0.1; else H=::1; fi
	rm -f "$T_TMP/go"
	t_expect "reauth IPv$fam: a listener" listening "$(srv_start h$fam $PY tcp $H $PH)"
	cli hold $H $PH "$T_TMP/go" >"$T_TMP/hold$fam.out" &
	T_PIDS+=($!)
	for i in $(seq 30); do grep -q up "$T_TMP/hold$fam.out" && break; sleep 0.1; done
	sleep 0.2
	t_expect "reauth IPv$fam: the connection is up and accepted" "up 1" \
		"$(head -n 1 "$T_TMP/hold$fam.out") $(count h$fam accepted)"
	id=$(lfp filter add name acc-hold$fam layer auth-recv-accept local.port $PH block)
	touch "$T_TMP/go"
	wait "${T_PIDS[-1]}"
	t_expect "reauth IPv$fam: the client sees its connection reset" ECONNRESET \
		"$(tail -n 1 "$T_TMP/hold$fam.out")"
	sleep 0.2
	t_expect "reauth IPv$fam: the server's recv fails" ECONNABORTED "$(tail -n 1 "$T_TMP/h$fam.out")"
	if ev=$(ev_find filter_id="$id" layer=auth-recv-accept verdict=block); then
		t_check "reauth IPv$fam event: flags say reauthorize" eval \
			"[[ \"$(json_get "$ev" flags)\" == *reauthorize* ]]"
		t_expect "reauth IPv$fam event: the listener's pid" "$(spid h$fam)" "$(json_get "$ev" pid)"
		t_expect "reauth IPv$fam event: local port" $PH "$(json_get "$ev" local_port)"
	else
		t_fail "reauth IPv$fam: an auth-recv-accept re-authorization event"
	fi
	lfp filter delete acc-hold$fam || t_fail "filter delete acc-hold$fam"
	kill_servers
done
