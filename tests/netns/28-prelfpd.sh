#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sockets that existed before lfpd: the re-authorization walks stamp what the socket
# tells (uid, gid, cgroup) into a record when they meet a scope socket without one, so
# filters by user apply to them from the next commit on. Started as nobody (uid 65534)
# before lfpd: TCP listeners (IPv4, IPv6) that an auth-listen filter by user then closes
# to new connections, connected UDP clients (IPv4, IPv6) that an auth-connect filter by
# user then stops, and a bound UDP server whose datagrams an auth-recv-accept filter by
# user then drops. Events carry uid 65534 and pid 0 (who created the socket is not
# known). Root sockets in scope and sockets outside the scope are untouched.
. "$(dirname "$0")/lib.sh"
t_setup

PL=9201 PU4=9202 PU6=9203 PR=9204 PRR=9205 # listen / UDP peers / UDP server (nobody, root)
NB=65534

cat >"$T_TMP/lsn.py" <<'EOF2'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.close()
EOF2
# a UDP socket that counts what it receives into a file (a server, or a connected peer)
cat >"$T_TMP/count.py" <<'EOF2'
import os, socket, sys
host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
n = 0
open(out, "w").write("0")
while True:
    s.recvfrom(64)
    n += 1
    open(out + ".tmp", "w").write(str(n))
    os.replace(out + ".tmp", out)
EOF2
# a connected UDP client: a send every 100 ms, its result as the last line
cat >"$T_TMP/udpc.py" <<'EOF2'
import errno, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
while True:
    try:
        s.send(b"x")
        print("ok", flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    time.sleep(0.1)
EOF2
kill_pids() {
	local f
	for f in "$T_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
	return 0
}
T_CLEANUPS+=(kill_pids)
# scoped NAME [nobody] CMD...: in scope, in the background, pid in NAME.pid
scoped() {
	local name=$1 pre=()
	shift
	[ "$1" = nobody ] && { pre=("${NOBODY[@]}"); shift; }
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope "${pre[@]}" "$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	T_PIDS+=($!)
}
wait_for() { # FILE: up to 5 s for it to have content
	local i
	for i in $(seq 50); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

# nobody's processes write their counts here
mkdir -m 1777 "$T_TMP/nb" || t_bail "mkdir"

# before lfpd: listeners, connected UDP clients and UDP servers, as nobody and root
scoped l4 nobody $PY "$T_TMP/lsn.py" 127.0.0.1 $PL
scoped l6 nobody $PY "$T_TMP/lsn.py" ::1 $PL
ns_run $PY "$T_TMP/count.py" 127.0.0.1 $PU4 "$T_TMP/peer4.n" >/dev/null 2>&1 &
T_PIDS+=($!)
ns_run $PY "$T_TMP/count.py" ::1 $PU6 "$T_TMP/peer6.n" >/dev/null 2>&1 &
T_PIDS+=($!)
scoped srv nobody $PY "$T_TMP/count.py" 127.0.0.1 $PR "$T_TMP/nb/srv.n"
scoped srvroot $PY "$T_TMP/count.py" 127.0.0.1 $PRR "$T_TMP/srvroot.n"
for f in l4.out l6.out peer4.n peer6.n nb/srv.n srvroot.n; do wait_for "$T_TMP/$f" || t_bail "$f"; done
scoped u4 nobody $PY "$T_TMP/udpc.py" 127.0.0.1 $PU4
scoped u6 nobody $PY "$T_TMP/udpc.py" ::1 $PU6
for f in u4.out u6.out; do wait_for "$T_TMP/$f" || t_bail "$f: $(cat "$T_TMP/${f%.out}.err")"; done

t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

cli() { ns_run $PY "$(dirname "$0")/tcp_try.py" "$1" "$2" 1.5; } # ok | timeout | errno
last() { tail -n 1 "$T_TMP/$1.out"; }
wait_last() { # NAME WANT: up to 3 s for the last line of NAME.out to be WANT
	local i
	for i in $(seq 30); do [ "$(last "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
dgram() { ns_run $PY -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))' "$1"; }
cnt() { cat "$T_TMP/$1.n" 2>/dev/null; }

for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	t_expect "IPv$v: a listener from before lfpd accepts with no filter" ok "$(cli $H $PL)"
done

# auth-listen by user
lfp filter add name no-nobody-listen layer auth-listen user $NB block >/dev/null ||
	t_bail "filter add auth-listen"
for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 || H=::1
	t_expect "IPv$v: the listener from before lfpd is closed by a filter on its user" timeout \
		"$(cli $H $PL)"
	if ev=$(ev_find layer=auth-listen verdict=block local_port=$PL ipver=$v); then
		t_expect "IPv$v: listen block event: uid" $NB "$(json_get "$ev" uid)"
		t_expect "IPv$v: listen block event: gid (the socket file's credentials)" $NB \
			"$(json_get "$ev" gid)"
		t_expect "IPv$v: listen block event: pid unknown" 0 "$(json_get "$ev" pid)"
		t_expect "IPv$v: listen block event: the scope cgroup" \
			"$(stat -c %i "$T_CG")" "$(json_get "$ev" cgroup)"
		t_expect "IPv$v: listen block event: filter" no-nobody-listen "$(json_get "$ev" filter_name)"
	else
		t_fail "IPv$v: an auth-listen block event for the listener from before lfpd"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
done

# auth-connect by user: connected UDP from before lfpd
t_expect "connected UDP from before lfpd sends (IPv4)" ok "$(last u4)"
t_expect "connected UDP from before lfpd sends (IPv6)" ok "$(last u6)"
lfp filter add name no-nobody-udp layer auth-connect proto udp user $NB block >/dev/null ||
	t_bail "filter add auth-connect"
for v in 4 6; do
	t_check "IPv$v: connected UDP from before lfpd: send() fails with EPERM" wait_last u$v EPERM
	if ev=$(ev_find layer=auth-connect verdict=block proto=udp ipver=$v \
		remote_port=$([ $v = 4 ] && echo $PU4 || echo $PU6)); then
		t_expect "IPv$v: UDP block event: uid" $NB "$(json_get "$ev" uid)"
		t_expect "IPv$v: UDP block event: filter" no-nobody-udp "$(json_get "$ev" filter_name)"
	else
		t_fail "IPv$v: an auth-connect block event for the UDP socket from before lfpd"
	fi
done

# auth-recv-accept by user: UDP servers from before lfpd (the walks stamped them)
dgram $PR
dgram $PRR
sleep 0.3
n0=$(cnt nb/srv) r0=$(cnt srvroot)
lfp filter add name no-nobody-rx layer auth-recv-accept proto udp user $NB block >/dev/null ||
	t_bail "filter add auth-recv-accept"
dgram $PR
dgram $PRR
sleep 0.5
t_expect "a UDP server of nobody from before lfpd: datagrams dropped by a filter on its user" \
	"$n0" "$(cnt nb/srv)"
t_check "a root UDP server from before lfpd still receives ($r0 -> $(cnt srvroot))" \
	[ "$(cnt srvroot)" -gt "$r0" ]
if ev=$(ev_find layer=auth-recv-accept verdict=block local_port=$PR); then
	t_expect "recv-accept block event: uid" $NB "$(json_get "$ev" uid)"
else
	t_fail "an auth-recv-accept block event for the UDP server from before lfpd"
fi
