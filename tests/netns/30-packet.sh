#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The packet layers on cgroup_skb (docs/packet-layers.md): inbound/outbound-transport and
# -ippacket filter every packet of the scope's sockets. Real tools: ping (raw socket as
# root, datagram ICMP socket as nobody) is blocked by echo-request at outbound-transport
# and by echo-reply at inbound-transport; curl is cut off by remote address at
# outbound-ippacket; curl to a closed port times out instead of being refused when the
# kernel's RST is dropped at inbound-transport; iperf3 runs through non-matching filters
# at all four layers and is stopped by a matching one. Block events carry the layer, the
# filter, ICMP type/code, the socket's user; a `log` permit is reported; a flood of
# blocked packets is rate-limited and counted. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PING=/usr/bin/ping
IPERF=/usr/bin/iperf3

stat_get() {
	lfp status --json | $PY -c 'import json,sys
print(json.load(sys.stdin)["stats"].get(sys.argv[1], "missing"))' "$1"
}
# ping_try [--nobody] HOST: one echo in scope, 1 s; prints ok | fail
ping_try() {
	local pre=()
	[ "$1" = --nobody ] && { pre=("${NOBODY[@]}"); shift; }
	if in_scope "${pre[@]}" $PING -n -c 1 -W 1 "$1" >"$T_TMP/ping.out" 2>&1; then
		echo ok
	else
		echo fail
	fi
}
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }

for l in inbound-transport outbound-transport inbound-ippacket outbound-ippacket; do
	t_expect "status: $l is enforced" enforced "$(layer_status $l state)"
done
t_check "status: the packet counters are reported" eval \
	'[ "$(stat_get packets_truncated)" != missing ] && [ "$(stat_get packet_events_limited)" != missing ]'

t_expect "baseline: ping 127.0.0.1" ok "$(ping_try 127.0.0.1)"
t_expect "baseline: ping ::1" ok "$(ping_try ::1)"

# ---- outbound-transport: echo requests ----
id=$(add name no-echo4 layer outbound-transport proto icmp icmp.type 8 block)
t_expect "outbound-transport: ping 127.0.0.1 is blocked" fail "$(ping_try 127.0.0.1)"
t_expect "outbound-transport: ping ::1 (another family) still works" ok "$(ping_try ::1)"
if ev=$(ev_find layer=outbound-transport verdict=block filter_name=no-echo4); then
	t_expect "event: filter id" "$id" "$(json_get "$ev" filter_id)"
	t_expect "event: proto" icmp "$(json_get "$ev" proto)"
	t_expect "event: icmp type" 8 "$(json_get "$ev" icmp_type)"
	t_expect "event: icmp code" 0 "$(json_get "$ev" icmp_code)"
	t_expect "event: remote" 127.0.0.1 "$(json_get "$ev" remote_addr)"
	t_expect "event: uid of the raw socket's owner" 0 "$(json_get "$ev" uid)"
else
	t_fail "an outbound-transport block event for the echo request"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
del no-echo4
t_expect "after delete: ping 127.0.0.1 works again" ok "$(ping_try 127.0.0.1)"

add name no-echo6 layer outbound-transport proto icmpv6 icmp.type echo-request block >/dev/null
t_expect "IPv6 outbound-transport: ping ::1 is blocked" fail "$(ping_try ::1)"
t_expect "IPv6 outbound-transport: ping 127.0.0.1 still works" ok "$(ping_try 127.0.0.1)"
if ev=$(ev_find layer=outbound-transport verdict=block filter_name=no-echo6); then
	t_expect "IPv6 event: ipver" 6 "$(json_get "$ev" ipver)"
	t_expect "IPv6 event: icmp type (echo-request by name, ICMPv6's number)" 128 "$(json_get "$ev" icmp_type)"
	t_expect "IPv6 event: remote" ::1 "$(json_get "$ev" remote_addr)"
else
	t_fail "an outbound-transport block event for the ICMPv6 echo request"
fi
del no-echo6

# ---- inbound-transport: echo replies, by user (datagram ICMP sockets as nobody) ----
ns_run sysctl -qw net.ipv4.ping_group_range="0 2147483647" || t_bail "ping_group_range"
t_expect "nobody: ping 127.0.0.1 over a datagram ICMP socket" ok "$(ping_try --nobody 127.0.0.1)"
add name no-reply-nobody layer inbound-transport user 65534 proto icmp icmp.type echo-reply block \
	>/dev/null
t_expect "inbound-transport: nobody's ping gets no reply" fail "$(ping_try --nobody 127.0.0.1)"
t_expect "inbound-transport: root's ping is not nobody's" ok "$(ping_try 127.0.0.1)"
if ev=$(ev_find layer=inbound-transport verdict=block filter_name=no-reply-nobody); then
	t_expect "inbound event: uid" 65534 "$(json_get "$ev" uid)"
	t_expect "inbound event: icmp type (echo reply)" 0 "$(json_get "$ev" icmp_type)"
else
	t_fail "an inbound-transport block event for nobody's echo reply"
fi
del no-reply-nobody
add name no-reply6 layer inbound-transport icmp.type echo-reply ipver 6 block >/dev/null
t_expect "IPv6 inbound-transport: ping ::1 gets no reply" fail "$(ping_try ::1)"
t_expect "IPv6 inbound-transport: nobody's ping ::1 neither" fail "$(ping_try --nobody ::1)"
t_expect "IPv6 inbound-transport: ping 127.0.0.1 works" ok "$(ping_try 127.0.0.1)"
del no-reply6

# ---- outbound-ippacket: by remote address ----
add name no-127-2 layer outbound-ippacket remote.addr 127.0.0.2 block >/dev/null
t_check "outbound-ippacket: curl to 127.0.0.2 does not get through" eval \
	'[ "$(curl_try http://127.0.0.2:$P1/)" != ok ]'
t_expect "outbound-ippacket: curl to 127.0.0.1 works" ok "$(curl_try http://127.0.0.1:$P1/)"
if ev=$(ev_find layer=outbound-ippacket verdict=block filter_name=no-127-2); then
	t_expect "ippacket event: proto" tcp "$(json_get "$ev" proto)"
	t_expect "ippacket event: remote port" $P1 "$(json_get "$ev" remote_port)"
	t_check "ippacket event: the connecting process (socket storage)" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *curl* ]]'
else
	t_fail "an outbound-ippacket block event for curl"
fi
del no-127-2
add name no-v6-lo layer outbound-ippacket ipver 6 remote.addr ::1 block >/dev/null
t_check "IPv6 outbound-ippacket: curl to [::1] does not get through" eval \
	'[ "$(curl_try "http://[::1]:$P1/")" != ok ]'
t_expect "IPv6 outbound-ippacket: curl to 127.0.0.1 works" ok "$(curl_try http://127.0.0.1:$P1/)"
t_check "IPv6 ippacket block event" ev_quiet layer=outbound-ippacket verdict=block \
	filter_name=no-v6-lo remote_addr=::1 ipver=6
del no-v6-lo

# ---- inbound-ippacket: by remote address, ICMP included ----
add name in-no-v4 layer inbound-ippacket ipver 4 remote.addr 127.0.0.1 block >/dev/null
t_expect "inbound-ippacket: ping 127.0.0.1 gets no reply" fail "$(ping_try 127.0.0.1)"
t_expect "inbound-ippacket: ping ::1 works" ok "$(ping_try ::1)"
del in-no-v4

# ---- a closed port: the kernel's RST dropped at the client's inbound-transport ----
t_expect "closed port: curl is refused" fail:7 "$(curl_try http://127.0.0.1:$PROBE_PORT/)"
add name no-rst layer inbound-transport proto tcp remote.port $PROBE_PORT block >/dev/null
t_expect "closed port: with the RST dropped curl times out" fail:28 \
	"$(curl_try http://127.0.0.1:$PROBE_PORT/)"
t_expect "closed port, IPv6: curl times out" fail:28 "$(curl_try "http://[::1]:$PROBE_PORT/")"
t_check "closed port: the RST's block event" ev_quiet layer=inbound-transport verdict=block \
	filter_name=no-rst remote_port=$PROBE_PORT
del no-rst

# ---- iperf3 through filters at all four layers ----
for l in inbound-transport outbound-transport; do
	add layer $l proto udp remote.port 1 block >/dev/null
done
for l in inbound-ippacket outbound-ippacket; do
	add layer $l remote.addr 192.0.2.1 block >/dev/null
done
iperf_run() { # HOST: sets IPERF_R to ok | fail (not in a subshell: the server is tracked)
	local port=$((5201 + RANDOM % 100)) spid
	in_scope $IPERF -s -1 -p $port -B "$1" >"$T_TMP/iperf-s.out" 2>&1 &
	spid=$!
	T_PIDS+=($spid)
	sleep 0.4
	if in_scope timeout 8 $IPERF -c "$1" -p $port -t 1 --connect-timeout 1000 \
		>"$T_TMP/iperf-c.out" 2>&1; then
		IPERF_R=ok
	else
		IPERF_R=fail
	fi
	kill "$spid" 2>/dev/null
}
iperf_run 127.0.0.1
t_expect "iperf3 over 127.0.0.1 through non-matching filters at every packet layer" ok "$IPERF_R"
iperf_run ::1
t_expect "iperf3 over ::1 through the same filters" ok "$IPERF_R"
add name no-iperf layer outbound-transport proto tcp remote.port 5201-5300 block >/dev/null
iperf_run 127.0.0.1
t_expect "iperf3 stopped by a matching outbound-transport filter" fail "$IPERF_R"
del no-iperf

# ---- a permit with `log`; the event rate limit ----
add name log-echo layer outbound-transport proto icmp icmp.type 8 permit log >/dev/null
t_expect "permit log: ping works" ok "$(ping_try 127.0.0.1)"
t_check "permit log: the permit is reported" ev_quiet layer=outbound-transport verdict=permit \
	filter_name=log-echo icmp_type=8
add name flood layer outbound-transport proto udp remote.port $U5 block >/dev/null
in_scope $PY -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
for i in range(3000):
    try:
        s.sendto(b"x", ("127.0.0.1", int(sys.argv[1])))
    except PermissionError:
        n += 1
print(n)' $U5 >"$T_TMP/flood.out" 2>&1
t_expect "flood: every datagram was refused (EPERM)" 3000 "$(cat "$T_TMP/flood.out")"
t_check "flood: events over the rate were counted, not sent" eval \
	'[ "$(stat_get packet_events_limited)" -gt 0 ]'
exit 0
