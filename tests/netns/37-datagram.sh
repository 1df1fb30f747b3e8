#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The datagram-data layer (docs/packet-layers.md, "datagram-data"): every UDP datagram of
# the scope's sockets, both directions, with its owner from socket storage. A block of
# outbound datagrams makes sendto() fail with EPERM, a block of inbound ones drops the
# reply (the client times out); a DNS exchange with dnsmasq in the test's namespace is
# cut by direction; block events carry the layer, the direction, the filter and the
# sending process, and so do the kernel's discard events of the dropped datagrams (pid and
# path from socket storage); a `log` permit is reported; TCP is not classified there. IPv4
# and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

DNS_PORT=5353
DNSC=$HERE/dgram_client.py
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }
layer_state() {
	lfp status --json | $PY -c 'import json,sys
print([l["state"] for l in json.load(sys.stdin)["layers"] if l["name"] == sys.argv[1]][0])' "$1"
}
hook_field() {
	lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}.get(sys.argv[1], {})
print(str(h.get(sys.argv[2], "missing")).lower())' "$1" "$2"
}
# udp_one HOST PORT: one unconnected socket in scope sends and awaits the echo:
# delivered | EPERM | lost
udp_one() { json_get "$(in_scope $PY "$CLIENT" udp "$1" "$2")" "$2"; }
# dns HOST NAME: one query in scope to dnsmasq: prints the answer, or the failure
dns() {
	local r
	r=$(in_scope $PY "$DNSC" "$1" $DNS_PORT "$2")
	if [ "$(json_get "$r" result)" = ok ]; then json_get "$r" answer; else json_get "$r" result; fi
}

t_expect "status: datagram-data is enforced" enforced "$(layer_state datagram-data)"
t_expect "status: the egress hook is named and active" true "$(hook_field "packet-egress udp" active)"
t_expect "status: the ingress hook is named and active" true \
	"$(hook_field "packet-ingress udp" active)"

# dnsmasq in the test's namespace, outside the scope (the server is not filtered)
ns_run /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--bind-interfaces --listen-address=127.0.0.1,::1 --port=$DNS_PORT --pid-file= \
	--user=root --address=/lfp.test/192.0.2.7 --address=/lfp.test/2001:db8::7 \
	>"$T_TMP/dnsmasq.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 30); do
	[ "$(dns 127.0.0.1 lfp.test)" = 192.0.2.7 ] && break
	sleep 0.2
done
t_expect "baseline: dnsmasq answers over 127.0.0.1" 192.0.2.7 "$(dns 127.0.0.1 lfp.test)"
t_expect "baseline: dnsmasq answers over ::1" 192.0.2.7 "$(dns ::1 lfp.test)"
t_expect "baseline: UDP echo on 127.0.0.1" delivered "$(udp_one 127.0.0.1 $U1)"

# ---- outbound: sendto fails with EPERM ----
id=$(add name no-out4 layer datagram-data direction outbound remote.port $U1 block)
t_expect "outbound block: sendto 127.0.0.1:$U1 fails with EPERM" EPERM "$(udp_one 127.0.0.1 $U1)"
t_expect "outbound block: another port is delivered" delivered "$(udp_one 127.0.0.1 $U2)"
if ev=$(ev_find layer=datagram-data verdict=block filter_name=no-out4); then
	t_expect "event: filter id" "$id" "$(json_get "$ev" filter_id)"
	t_expect "event: direction" out "$(json_get "$ev" direction)"
	t_expect "event: proto" udp "$(json_get "$ev" proto)"
	t_expect "event: remote" 127.0.0.1 "$(json_get "$ev" remote_addr)"
	t_expect "event: remote port" $U1 "$(json_get "$ev" remote_port)"
	t_check "event: the sending process (socket storage)" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *python3* ]]'
else
	t_fail "a datagram-data block event for the outbound datagram"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
# the kernel's discard event of the dropped datagram names the process too (tp_btf reads
# lfp's socket storage); by reason: the baseline's late second echo, dropped at the closed
# client socket (NO_SOCKET, no owner), may be in the stream too
if ev=$(ev_find layer=discard remote_port=$U1 ipver=4 reason=BPF_CGROUP_EGRESS); then
	t_check "discard event: the blocked process's pid and path" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *python3* ]]'
else
	t_fail "a discard event for the dropped outbound datagram"
fi
t_expect "outbound block, IPv6: sendto [::1]:$U1 fails with EPERM" EPERM "$(udp_one ::1 $U1)"
t_check "IPv6 outbound event" ev_quiet layer=datagram-data verdict=block filter_name=no-out4 \
	ipver=6 direction=out remote_addr=::1
del no-out4
t_expect "after delete: 127.0.0.1:$U1 is delivered again" delivered "$(udp_one 127.0.0.1 $U1)"

# ---- inbound: the reply is dropped ----
add name no-in layer datagram-data direction inbound remote.port $U2 block >/dev/null
t_expect "inbound block: the echo from 127.0.0.1:$U2 never arrives" lost \
	"$(udp_one 127.0.0.1 $U2)"
t_expect "inbound block, IPv6: the echo from [::1]:$U2 never arrives" lost "$(udp_one ::1 $U2)"
t_expect "inbound block: another port is delivered" delivered "$(udp_one 127.0.0.1 $U3)"
if ev=$(ev_find layer=datagram-data verdict=block filter_name=no-in ipver=4); then
	t_expect "inbound event: direction" in "$(json_get "$ev" direction)"
	t_expect "inbound event: remote port is the echo server's" $U2 \
		"$(json_get "$ev" remote_port)"
	t_check "inbound event: the receiving process (socket storage)" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *python3* ]]'
else
	t_fail "a datagram-data block event for the inbound datagram"
fi
t_check "IPv6 inbound event" ev_quiet layer=datagram-data verdict=block filter_name=no-in \
	ipver=6 direction=in
# (a cgroup ingress drop is the socket filter's, as the kernel counts it)
if ev=$(ev_find layer=discard remote_port=$U2 ipver=6 reason=SOCKET_FILTER); then
	t_check "inbound discard event: the receiving process (the socket it was for)" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *python3* ]]'
else
	t_fail "a discard event for the dropped inbound datagram"
fi
del no-in

# ---- DNS: a query leaves, its answer is dropped; the other family is untouched ----
add name no-dns-answers4 layer datagram-data direction inbound ipver 4 remote.port $DNS_PORT \
	block >/dev/null
t_expect "DNS: the IPv4 answer is dropped (the client times out)" timeout \
	"$(dns 127.0.0.1 lfp.test)"
t_expect "DNS: over ::1 it is answered" 192.0.2.7 "$(dns ::1 lfp.test)"
t_check "DNS: the dropped answer's event" ev_quiet layer=datagram-data verdict=block \
	filter_name=no-dns-answers4 remote_port=$DNS_PORT direction=in
del no-dns-answers4
add name no-dns6 layer datagram-data direction outbound ipver 6 remote.port $DNS_PORT block \
	>/dev/null
t_expect "DNS: the IPv6 query is refused (EPERM)" EPERM "$(dns ::1 lfp.test)"
t_expect "DNS: over 127.0.0.1 it is answered" 192.0.2.7 "$(dns 127.0.0.1 lfp.test)"
del no-dns6

# ---- by application; a `log` permit; TCP is not a datagram ----
PYREAL=$(readlink -f $PY)
add name py-log layer datagram-data app "$PYREAL" remote.port $DNS_PORT permit log >/dev/null
t_expect "permit log: the query is answered" 192.0.2.7 "$(dns 127.0.0.1 lfp.test)"
t_check "permit log: the outbound permit is reported" ev_quiet layer=datagram-data \
	verdict=permit filter_name=py-log direction=out remote_port=$DNS_PORT
t_check "permit log: the inbound permit is reported" ev_quiet layer=datagram-data \
	verdict=permit filter_name=py-log direction=in remote_port=$DNS_PORT
del py-log
add name all-dgrams layer datagram-data block >/dev/null
t_expect "TCP is not classified at datagram-data" ok "$(curl_try http://127.0.0.1:$P1/)"
t_expect "while every UDP datagram is blocked" EPERM "$(udp_one 127.0.0.1 $U3)"
del all-dgrams
t_expect "nothing left: UDP works" delivered "$(udp_one ::1 $U3)"
exit 0
