#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ipforward (docs/packet-layers.md): a BPF netfilter program at FORWARD of lfpd's
# namespace, which routes between two others (a client and a server namespace, one veth
# each). ping and curl from the client to the server pass through it; filters by the
# destination, by protocol and port, and by ICMP type block them; block events name the
# forwarded packet (local = its source, remote = its destination). IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PING=/usr/bin/ping
CN=${T_NS}-c SN=${T_NS}-s
C4=10.234.1.2 R4C=10.234.1.1 S4=10.234.2.2 R4S=10.234.2.1
C6=fd34:1::2 R6C=fd34:1::1 S6=fd34:2::2 R6S=fd34:2::1

ns_cleanup() { ip netns del "$CN" 2>/dev/null; ip netns del "$SN" 2>/dev/null; return 0; }
T_CLEANUPS+=(ns_cleanup)
ip netns add "$CN" && ip netns add "$SN" || t_bail "ip netns add"
c_run() { nsenter --net="/run/netns/$CN" -- "$@"; }
s_run() { nsenter --net="/run/netns/$SN" -- "$@"; }
ns_run ip link add veth-c type veth peer name veth-r || t_bail "veth (client)"
ns_run ip link add veth-s type veth peer name veth-r2 || t_bail "veth (server)"
ns_run ip link set veth-r netns "$CN" && ns_run ip link set veth-r2 netns "$SN" ||
	t_bail "veths into the namespaces"
ns_run sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
	t_bail "forwarding in the router namespace"
ns_run ip addr add $R4C/24 dev veth-c && ns_run ip -6 addr add $R6C/64 dev veth-c nodad &&
	ns_run ip link set veth-c up && ns_run ip addr add $R4S/24 dev veth-s &&
	ns_run ip -6 addr add $R6S/64 dev veth-s nodad && ns_run ip link set veth-s up ||
	t_bail "router addresses"
c_run ip link set lo up && c_run ip addr add $C4/24 dev veth-r &&
	c_run ip -6 addr add $C6/64 dev veth-r nodad && c_run ip link set veth-r up &&
	c_run ip route add default via $R4C && c_run ip -6 route add default via $R6C ||
	t_bail "client addresses and routes"
s_run ip link set lo up && s_run ip addr add $S4/24 dev veth-r2 &&
	s_run ip -6 addr add $S6/64 dev veth-r2 nodad && s_run ip link set veth-r2 up &&
	s_run ip route add default via $R4S && s_run ip -6 route add default via $R6S ||
	t_bail "server addresses and routes"

ping_c() { if c_run $PING -n -c 1 -W 1 "$1" >/dev/null 2>&1; then echo ok; else echo fail; fi; }
curl_c() {
	c_run $CURL -s --max-time 2 -o /dev/null "$1"
	local rc=$?
	[ $rc = 0 ] && echo ok || echo "fail:$rc"
}
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }

# neighbor discovery on both legs first (a ping's 1 s may not cover it on a loaded machine)
for i in 1 2 3; do c_run $PING -n -c 1 -W 2 $S6 >/dev/null 2>&1 && break; done
t_expect "status: ipforward is enforced" enforced "$(layer_status ipforward state)"
t_expect "baseline: the client pings the server through the router" ok "$(ping_c $S4)"
t_expect "baseline: IPv6 too" ok "$(ping_c $S6)"
t_expect "baseline: curl to the server's closed port is refused" fail:7 "$(curl_c http://$S4:7/)"

add name no-s4 layer ipforward remote.addr $S4 block >/dev/null
t_expect "ipforward: nothing is forwarded to $S4" fail "$(ping_c $S4)"
t_expect "ipforward: IPv6 to the same server is" ok "$(ping_c $S6)"
t_expect "ipforward: the router itself still answers" ok "$(ping_c $R4C)"
if ev=$(ev_find layer=ipforward verdict=block filter_name=no-s4); then
	t_expect "event: local is the packet's source" $C4 "$(json_get "$ev" local_addr)"
	t_expect "event: remote is its destination" $S4 "$(json_get "$ev" remote_addr)"
	t_expect "event: ICMP echo request" 8 "$(json_get "$ev" icmp_type)"
else
	t_fail "an ipforward block event"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
del no-s4

add name no-echo6 layer ipforward proto icmpv6 icmp.type echo-request block >/dev/null
t_expect "ipforward by ICMPv6 type: no ping6" fail "$(ping_c $S6)"
t_expect "ipforward by ICMPv6 type: IPv4 ping passes" ok "$(ping_c $S4)"
t_check "IPv6 event" ev_quiet layer=ipforward verdict=block filter_name=no-echo6 ipver=6 \
	remote_addr=$S6
del no-echo6

add name no-7 layer ipforward proto tcp remote.port 7 block >/dev/null
t_expect "ipforward by port: the SYN is not forwarded (timeout)" fail:28 \
	"$(curl_c http://$S4:7/)"
t_expect "ipforward by port: IPv6 neither" fail:28 "$(curl_c "http://[$S6]:7/")"
t_expect "ipforward by port: another port is (refused)" fail:7 "$(curl_c http://$S4:8/)"
del no-7
exit 0
