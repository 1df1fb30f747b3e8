#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# inbound/outbound-icmp-error (docs/packet-layers.md): ICMP and ICMPv6 errors are
# classified with the header they quote. A scope process sends UDP to a closed port of
# a peer namespace; the peer's port-unreachable error is blocked at inbound-icmp-error
# by the quoted flow's remote port (the client then times out instead of seeing
# ECONNREFUSED), and the event names the quoted flow and its process. The peer sends
# UDP to a closed port here; this host's error is blocked at outbound-icmp-error by the
# quoted local port. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

A4=10.232.0.1 B4=10.232.0.2 A6=fd32::1 B6=fd32::2
CLOSED=9999 OTHER=9998

t_peer_ns $A4 $B4 $A6 $B6
# the kernel rate-limits ICMP errors per destination: not in this test
ns_run sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
ext_run sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0

# a connected UDP client: send, then wait 1 s for the error: ECONNREFUSED | timeout
cat >"$T_TMP/udp.py" <<'EOF'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect((host, port))
try:
    s.send(b"x")
    s.recv(100)
    print("reply")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
udp_in() { in_scope $PY "$T_TMP/udp.py" "$1" "$2"; } # from the scope to the peer
udp_ext() { ext_run $PY "$T_TMP/udp.py" "$1" "$2"; } # from the peer to this namespace
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }

for l in inbound-icmp-error outbound-icmp-error; do
	t_expect "status: $l is enforced" enforced "$(layer_status $l state)"
done
t_expect "baseline: UDP to the peer's closed port is refused" ECONNREFUSED "$(udp_in $B4 $CLOSED)"
t_expect "baseline: IPv6 too" ECONNREFUSED "$(udp_in $B6 $CLOSED)"
t_expect "baseline: the peer's UDP to a closed port here is refused" ECONNREFUSED \
	"$(udp_ext $A4 $CLOSED)"

# ---- inbound: the peer's port unreachable, by the quoted flow ----
add name no-unreach layer inbound-icmp-error proto udp remote.port $CLOSED block >/dev/null
pidf=$T_TMP/cli.pid
r=$(SCOPE_PIDFILE=$pidf in_scope $PY "$T_TMP/udp.py" $B4 $CLOSED)
t_expect "inbound-icmp-error: the error about port $CLOSED is dropped (timeout)" timeout "$r"
t_expect "inbound-icmp-error: another port's error still arrives" ECONNREFUSED \
	"$(udp_in $B4 $OTHER)"
if ev=$(ev_find layer=inbound-icmp-error verdict=block filter_name=no-unreach); then
	t_expect "event: ICMP type/code of the error (port unreachable)" 3/3 \
		"$(json_get "$ev" icmp_type)/$(json_get "$ev" icmp_code)"
	t_expect "event: the quoted flow's protocol" udp "$(json_get "$ev" proto)"
	t_expect "event: the quoted flow's remote" "$B4:$CLOSED" \
		"$(json_get "$ev" remote_addr):$(json_get "$ev" remote_port)"
	t_expect "event: the quoted flow's local address" $A4 "$(json_get "$ev" local_addr)"
	t_expect "event: attributed to the flow's process" "$(cat $pidf)" "$(json_get "$ev" pid)"
else
	t_fail "an inbound-icmp-error block event"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
t_expect "IPv6 inbound-icmp-error: dropped too" timeout "$(udp_in $B6 $CLOSED)"
t_check "IPv6 event: dest-unreachable/port-unreachable (1/4)" ev_quiet \
	layer=inbound-icmp-error verdict=block filter_name=no-unreach ipver=6 icmp_type=1 icmp_code=4
del no-unreach
add name by-name layer inbound-icmp-error ipver 6 icmp.type dest-unreachable \
	icmp.code port-unreachable block >/dev/null
t_expect "by name (ICMPv6 names): IPv6 error dropped" timeout "$(udp_in $B6 $OTHER)"
t_expect "by name: the IPv4 error is not ICMPv6's" ECONNREFUSED "$(udp_in $B4 $OTHER)"
del by-name

# ---- outbound: this host's port unreachable, by the quoted local port ----
add name no-tell layer outbound-icmp-error proto udp local.port $CLOSED block >/dev/null
t_expect "outbound-icmp-error: our error about port $CLOSED is not sent" timeout \
	"$(udp_ext $A4 $CLOSED)"
t_expect "outbound-icmp-error: IPv6 neither" timeout "$(udp_ext $A6 $CLOSED)"
t_expect "outbound-icmp-error: another port's error is sent" ECONNREFUSED \
	"$(udp_ext $A4 $OTHER)"
if ev=$(ev_find layer=outbound-icmp-error verdict=block filter_name=no-tell ipver=4); then
	t_expect "outbound event: quoted local port" $CLOSED "$(json_get "$ev" local_port)"
	t_expect "outbound event: quoted remote (the peer)" $B4 "$(json_get "$ev" remote_addr)"
	t_expect "outbound event: no process" 0 "$(json_get "$ev" pid)"
else
	t_fail "an outbound-icmp-error block event"
fi
del no-tell
exit 0
