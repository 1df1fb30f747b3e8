#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# resource-assignment: creating a raw socket or an ICMP datagram (ping) socket, and an
# explicit bind(), are classified in the caller's context; a block makes socket() or
# bind() fail with EPERM, with a block event (layer resource-assignment, flags raw for
# raw sockets, the bound address and port for binds). Other sockets and ports are not
# affected; a permit is reported when its filter says `log`. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"
# datagram ping sockets for every group, in the test's namespace only
ns_run sysctl -qw net.ipv4.ping_group_range="0 2147483647" || t_bail "ping_group_range"

# sock.py raw|ping 4|6: create the socket; bind tcp|udp HOST PORT: bind one.
# Prints ok or the errno name; with a pid file, waits for GOFILE first (event lookup by pid).
cat >"$T_TMP/sock.py" <<'EOF'
import errno, socket, sys
kind = sys.argv[1]
try:
    if kind in ("raw", "ping"):
        fam = socket.AF_INET if sys.argv[2] == "4" else socket.AF_INET6
        proto = socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6
        socket.socket(fam, socket.SOCK_RAW if kind == "raw" else socket.SOCK_DGRAM, proto)
    else:
        host, port = sys.argv[2], int(sys.argv[3])
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        s.bind((host, port))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
# try NAME ARGS...: run sock.py in scope, its pid in $T_TMP/NAME.pid; prints its answer
try() {
	local name=$1
	shift
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/sock.py" "$@"
}
spid() { cat "$T_TMP/$1.pid"; }

t_expect "status: resource-assignment is enforced" enforced "$(layer_status resource-assignment state)"
mech=$(layer_status resource-assignment mechanism)
t_check "status: resource-assignment names post_bind4/6 and sock_create" eval \
	"[[ \"\$mech\" == *post_bind4*post_bind6*sock_create* ]]"
echo "mechanism: $mech" | t_diag

# before any filter: everything works
for f in 4 6; do
	t_expect "IPv$f: a raw ICMP socket without filters" ok "$(try r0$f raw $f)"
	t_expect "IPv$f: a ping socket without filters" ok "$(try p0$f ping $f)"
done

rid=$(lfp filter add name no-raw layer resource-assignment flags raw block)
t_check "filter add flags raw prints an id" is_num "$rid"
for f in 4 6; do
	t_expect "IPv$f: a raw socket is refused" EPERM "$(try r$f raw $f)"
	if ev=$(ev_find pid="$(spid r$f)" layer=resource-assignment verdict=block); then
		t_expect "IPv$f raw event: filter" no-raw "$(json_get "$ev" filter_name)"
		t_check "IPv$f raw event: flags say raw" eval \
			"[[ \"$(json_get "$ev" flags)\" == *raw* ]]"
		t_expect "IPv$f raw event: ipver" $f "$(json_get "$ev" ipver)"
		t_expect "IPv$f raw event: the process's executable" "$(readlink -f $PY)" \
			"$(json_get "$ev" path)"
	else
		t_fail "IPv$f: a resource-assignment block event for the raw socket"
		tail -n 3 "$T_TMP/mon.json" | t_diag
	fi
	t_expect "IPv$f: a ping socket is not raw: still created" ok "$(try q$f ping $f)"
done
lfp filter add name no-ping layer resource-assignment proto "{icmp, icmpv6}" block >/dev/null ||
	t_bail "filter add proto icmp"
for f in 4 6; do
	t_expect "IPv$f: a ping socket is refused by proto" EPERM "$(try p$f ping $f)"
	if ev=$(ev_find pid="$(spid p$f)" layer=resource-assignment verdict=block); then
		t_expect "IPv$f ping event: filter" no-ping "$(json_get "$ev" filter_name)"
	else
		t_fail "IPv$f: a resource-assignment block event for the ping socket"
	fi
done
t_expect "TCP and UDP sockets are not resources at creation" "ok ok" \
	"$(try t0 tcp 127.0.0.1 0) $(try u0 udp 127.0.0.1 0)"

# explicit binds
bid=$(lfp filter add name no-bind layer resource-assignment local.port 9200 block)
lfp filter add name log-bind layer resource-assignment local.port 9201 permit log >/dev/null ||
	t_bail "filter add log"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	for k in tcp udp; do
		t_expect "IPv$f $k: bind to the blocked port fails" EPERM "$(try b$f$k $k $H 9200)"
		if ev=$(ev_find pid="$(spid b$f$k)" layer=resource-assignment verdict=block); then
			t_expect "IPv$f $k bind event: filter id" "$bid" "$(json_get "$ev" filter_id)"
			t_expect "IPv$f $k bind event: local addr" $H "$(json_get "$ev" local_addr)"
			t_expect "IPv$f $k bind event: local port" 9200 "$(json_get "$ev" local_port)"
			t_expect "IPv$f $k bind event: proto" $k "$(json_get "$ev" proto)"
		else
			t_fail "IPv$f $k: a resource-assignment block event for the bind"
		fi
		t_expect "IPv$f $k: bind to another port works" ok "$(try o$f$k $k $H 9202)"
	done
	t_expect "IPv$f: a bind a 'log' filter permits works" ok "$(try l$f tcp $H 9201)"
	if ev=$(ev_find pid="$(spid l$f)" layer=resource-assignment verdict=permit); then
		t_expect "IPv$f: ... and is reported with its filter" log-bind \
			"$(json_get "$ev" filter_name)"
	else
		t_fail "IPv$f: a permit event for the logged bind"
	fi
	t_check "IPv$f: no event for a permitted bind no filter logs" \
		eval '! ev_find pid="$(spid o${f}tcp)" layer=resource-assignment >/dev/null'
done
t_expect "an IPv6 socket bound to a v4-mapped address is IPv4" EPERM \
	"$(try m4 tcp ::ffff:127.0.0.1 9200)"
if ev=$(ev_find pid="$(spid m4)" layer=resource-assignment verdict=block); then
	t_expect "v4-mapped bind event: ipver" 4 "$(json_get "$ev" ipver)"
else
	t_fail "a resource-assignment block event for the v4-mapped bind"
fi
lfp filter delete no-bind || t_fail "filter delete no-bind"
t_expect "after delete: bind to the port works" ok "$(try d4 tcp 127.0.0.1 9200)"
