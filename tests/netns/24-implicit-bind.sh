#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# resource-assignment, implicit binds: a connect() (TCP, UDP) or the first sendto() of an
# unbound UDP socket makes the kernel pick the local port; that is classified at
# resource-assignment with `flags implicit-bind` and local port 0, before auth-connect.
# A block fails connect()/sendto() with EPERM and is reported; a socket bound explicitly
# is not affected; a permit is reported when its filter says `log`. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

# imp.py tcp|udp|send HOST PORT [bind]: connect (tcp, udp) or sendto (send) from a
# fresh socket, bound explicitly to HOST's family's any address first with `bind`.
# Prints ok or the errno name.
cat >"$T_TMP/imp.py" <<'EOF'
import errno, socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
try:
    if len(sys.argv) > 4:
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 0))
    if kind == "send":
        s.sendto(b"x", (host, port))
    else:
        s.connect((host, port))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
try() {
	local name=$1
	shift
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/imp.py" "$@"
}
spid() { cat "$T_TMP/$1.pid"; }
# nothing listens on this port: a permitted TCP connect is refused by the peer
PORT=9241

mech=$(layer_status resource-assignment mechanism)
t_check "status: resource-assignment names the connect and sendmsg implicit binds" eval \
	"[[ \"\$mech\" == *connect4/6\ implicit\ bind* && \"\$mech\" == *sendmsg4/6\ implicit\ bind* ]]"
echo "mechanism: $mech" | t_diag

for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	t_expect "IPv$f: TCP connect without filters reaches the peer" ECONNREFUSED \
		"$(try z$f tcp $H $PORT)"
done

tid=$(lfp filter add name no-imp-tcp layer resource-assignment flags implicit-bind proto tcp block)
t_check "filter add flags implicit-bind prints an id" is_num "$tid"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	t_expect "IPv$f: TCP connect with an implicit bind is refused" EPERM "$(try t$f tcp $H $PORT)"
	if ev=$(ev_find pid="$(spid t$f)" layer=resource-assignment verdict=block); then
		t_expect "IPv$f tcp event: filter id" "$tid" "$(json_get "$ev" filter_id)"
		t_check "IPv$f tcp event: flags say implicit-bind" eval \
			"[[ \"$(json_get "$ev" flags)\" == *implicit-bind* ]]"
		t_expect "IPv$f tcp event: local port 0" 0 "$(json_get "$ev" local_port)"
		t_expect "IPv$f tcp event: proto" tcp "$(json_get "$ev" proto)"
		t_expect "IPv$f tcp event: ipver" $f "$(json_get "$ev" ipver)"
		t_expect "IPv$f tcp event: the process's executable" "$(readlink -f $PY)" \
			"$(json_get "$ev" path)"
	else
		t_fail "IPv$f: a resource-assignment block event for the TCP connect"
		tail -n 3 "$T_TMP/mon.json" | t_diag
	fi
	t_expect "IPv$f: resource-assignment goes first: no auth-connect event" "" \
		"$(grep "\"pid\": *$(spid t$f)\b" "$T_TMP/mon.json" | grep -v resource-assignment)"
	t_expect "IPv$f: a TCP socket bound explicitly connects" ECONNREFUSED \
		"$(try e$f tcp $H $PORT bind)"
	t_expect "IPv$f: UDP is not named by the filter" ok "$(try c$f udp $H $PORT)"
done

uid=$(lfp filter add name no-imp-udp layer resource-assignment flags implicit-bind proto udp block)
t_check "filter add proto udp prints an id" is_num "$uid"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	t_expect "IPv$f: UDP connect with an implicit bind is refused" EPERM "$(try u$f udp $H $PORT)"
	if ev=$(ev_find pid="$(spid u$f)" layer=resource-assignment verdict=block); then
		t_expect "IPv$f udp connect event: filter id" "$uid" "$(json_get "$ev" filter_id)"
		t_expect "IPv$f udp connect event: proto" udp "$(json_get "$ev" proto)"
	else
		t_fail "IPv$f: a resource-assignment block event for the UDP connect"
	fi
	t_expect "IPv$f: the first sendto of an unbound UDP socket is refused" EPERM \
		"$(try s$f send $H $PORT)"
	if ev=$(ev_find pid="$(spid s$f)" layer=resource-assignment verdict=block); then
		t_check "IPv$f udp send event: flags say implicit-bind" eval \
			"[[ \"$(json_get "$ev" flags)\" == *implicit-bind* ]]"
		t_expect "IPv$f udp send event: ipver" $f "$(json_get "$ev" ipver)"
	else
		t_fail "IPv$f: a resource-assignment block event for the UDP send"
	fi
	t_expect "IPv$f: sendto from a UDP socket bound explicitly works" ok \
		"$(try b$f send $H $PORT bind)"
done

lfp filter delete no-imp-tcp || t_fail "filter delete no-imp-tcp"
lfp filter delete no-imp-udp || t_fail "filter delete no-imp-udp"
lid=$(lfp filter add name log-imp layer resource-assignment flags implicit-bind permit log)
t_check "filter add permit log prints an id" is_num "$lid"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	t_expect "IPv$f: a logged implicit bind: TCP connect reaches the peer" ECONNREFUSED \
		"$(try p$f tcp $H $PORT)"
	if ev=$(ev_find pid="$(spid p$f)" layer=resource-assignment verdict=permit); then
		t_expect "IPv$f permit event: filter" log-imp "$(json_get "$ev" filter_name)"
	else
		t_fail "IPv$f: a permit event for the logged TCP implicit bind"
	fi
	t_expect "IPv$f: a logged implicit bind: UDP sendto works" ok "$(try q$f send $H $PORT)"
	if ev=$(ev_find pid="$(spid q$f)" layer=resource-assignment verdict=permit); then
		t_expect "IPv$f udp permit event: proto" udp "$(json_get "$ev" proto)"
	else
		t_fail "IPv$f: a permit event for the logged UDP implicit bind"
	fi
done
lfp filter delete log-imp || t_fail "filter delete log-imp"
t_expect "after delete: TCP connect reaches the peer" ECONNREFUSED "$(try x4 tcp 127.0.0.1 $PORT)"
