#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inbound packets no socket takes (docs/packet-layers.md, "Inbound packets no socket
# takes"): a SYN to a closed port and a UDP datagram to a closed port, sent from a peer
# namespace over a veth, are classified at inbound-ippacket and inbound-transport when
# the kernel's answer (RST, port unreachable) leaves. Blocked: the sender hears nothing
# (its connect and its recv time out) and a block event names the packet, with no
# process; permitted: connection refused. Packets a socket takes (a listener, a UDP
# server) are not judged there, even under a filter that blocks every inbound TCP and
# UDP packet. `lfp explain` of an ICMPv6 neighbor solicitation under a default deny at
# inbound-ippacket says what the hooks do (permitted by the ND/PMTU exemption) and names
# the filter it overrides; the kernel agrees. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
A4=10.239.0.1 B4=10.239.0.2 A6=fd39::1 B6=fd39::2
TP=8090 UP=9010 CT=7071 CU=7072
# a TCP listener and a UDP echo server on the veth addresses, outside the scope
nsenter --net="/run/netns/$T_NS" -- true || t_bail "netns"
t_peer_ns $A4 $B4 $A6 $B6
ns_run $PY "$HERE/srv.py" "$T_TMP/srv.ready" "tcp:$A4:$TP" "tcp:[$A6]:$TP" "udp:$A4:$UP" \
	"udp:[$A6]:$UP" >"$T_TMP/srv.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 50); do [ -f "$T_TMP/srv.ready" ] && break; sleep 0.1; done
[ -f "$T_TMP/srv.ready" ] || t_bail "servers did not come up"
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }
hook_field() {
	lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}.get(sys.argv[1], {})
print(str(h.get(sys.argv[2], "missing")).lower())' "$1" "$2"
}
# ext_try tcp|udp HOST PORT: from the peer namespace, 1.5 s:
# ok | ECONNREFUSED | timeout | other error name
ext_try() {
	ext_run $PY - "$@" <<'PYEOF'
import errno, socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.settimeout(1.5)
try:
    s.connect((host, port))
    if kind == "udp":
        s.send(b"hello")
        s.recv(100)
    print("ok")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
}

t_expect "status: the LOCAL_OUT answers are named and active" true \
	"$(hook_field "nf-local-out answers (unclaimed inbound)" active)"
t_expect "baseline: SYN to a closed port is refused (RST)" ECONNREFUSED "$(ext_try tcp $A4 $CT)"
t_expect "baseline: datagram to a closed port is refused (port unreachable)" ECONNREFUSED \
	"$(ext_try udp $A4 $CU)"
t_expect "baseline: the listener answers" ok "$(ext_try tcp $A4 $TP)"

# ---- inbound-transport: a closed TCP port ----
id=$(add name closed-tcp layer inbound-transport proto tcp local.port $CT block)
t_expect "blocked: the SYN to the closed port gets no RST (timeout)" timeout \
	"$(ext_try tcp $A4 $CT)"
if ev=$(ev_find layer=inbound-transport verdict=block filter_name=closed-tcp ipver=4); then
	t_expect "event: filter id" "$id" "$(json_get "$ev" filter_id)"
	t_expect "event: proto" tcp "$(json_get "$ev" proto)"
	t_expect "event: local end is the closed port" "$A4:$CT" \
		"$(json_get "$ev" local_addr):$(json_get "$ev" local_port)"
	t_expect "event: remote is the sender" $B4 "$(json_get "$ev" remote_addr)"
	t_expect "event: no process" 0 "$(json_get "$ev" pid)"
else
	t_fail "an inbound-transport block event for the unclaimed SYN"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
t_expect "blocked, IPv6: no RST either" timeout "$(ext_try tcp $A6 $CT)"
t_check "IPv6 event" ev_quiet layer=inbound-transport verdict=block filter_name=closed-tcp \
	ipver=6 remote_addr=$B6 local_port=$CT
t_expect "another closed port is still refused" ECONNREFUSED "$(ext_try tcp $A4 $((CT + 10)))"
del closed-tcp
t_expect "filter deleted: refused again" ECONNREFUSED "$(ext_try tcp $A4 $CT)"

# ---- inbound-transport: a closed UDP port ----
add name closed-udp layer inbound-transport proto udp local.port $CU block >/dev/null
t_expect "blocked: the datagram to the closed port gets no port unreachable" timeout \
	"$(ext_try udp $A4 $CU)"
t_check "UDP event" ev_quiet layer=inbound-transport verdict=block filter_name=closed-udp \
	proto=udp remote_addr=$B4 local_port=$CU
t_expect "blocked, IPv6: no port unreachable" timeout "$(ext_try udp $A6 $CU)"
t_check "IPv6 UDP event" ev_quiet layer=inbound-transport verdict=block \
	filter_name=closed-udp ipver=6 local_port=$CU
del closed-udp
t_expect "filter deleted: the datagram is refused again" ECONNREFUSED "$(ext_try udp $A6 $CU)"

# ---- what a socket takes is not judged here ----
add name all-in layer inbound-transport proto tcp block >/dev/null
add name all-in-udp layer inbound-transport proto udp block >/dev/null
t_expect "every inbound TCP blocked: the listener (a socket took the SYN) answers" ok \
	"$(ext_try tcp $A4 $TP)"
t_expect "every inbound TCP blocked: the IPv6 listener answers" ok "$(ext_try tcp $A6 $TP)"
t_expect "every inbound UDP blocked: the echo server answers" ok "$(ext_try udp $A4 $UP)"
t_expect "every inbound TCP blocked: a closed port is silent" timeout "$(ext_try tcp $A4 $CT)"
del all-in
del all-in-udp

# ---- inbound-ippacket, by the sender's address ----
add name from-b layer inbound-ippacket remote.addr $B6 block >/dev/null
t_expect "inbound-ippacket: the IPv6 SYN to a closed port gets no RST" timeout \
	"$(ext_try tcp $A6 $CT)"
t_check "inbound-ippacket event" ev_quiet layer=inbound-ippacket verdict=block \
	filter_name=from-b remote_addr=$B6 local_port=$CT
t_expect "inbound-ippacket: the IPv4 sender is refused" ECONNREFUSED "$(ext_try tcp $A4 $CT)"
del from-b

# ---- explain and the ND/PMTU exemption (docs/packet-layers.md) ----
NS6="proto icmpv6 ipver 6 icmp.type neighbor-solicitation icmp.code 0 remote.addr $B6"
add name deny6 layer inbound-ippacket ipver 6 block >/dev/null
out=$(lfp explain layer inbound-ippacket $NS6)
t_check "explain: a neighbor solicitation under a default deny is permitted by the exemption" \
	grep -q '^permit (the ND/PMTU exemption) at inbound-ippacket' <<<"$out"
t_check "explain: it names the filter that would otherwise block" \
	grep -q 'filter [0-9]* (deny6) would block it' <<<"$out"
js=$(lfp --json explain layer inbound-ippacket $NS6)
t_expect "explain --json: verdict and the overridden filter" "permit deny6 block" \
	"$(json_get "$js" verdict) $($PY -c 'import json,sys
e = json.loads(sys.argv[1])["exemption"]
print(e["filter"]["name"], e["verdict"])' "$js")"
t_expect "explain: an echo request is blocked (no exemption)" block \
	"$(json_get "$(lfp --json explain layer inbound-ippacket proto icmpv6 ipver 6 \
		icmp.type echo-request remote.addr $B6)" verdict)"
# the kernel agrees: the peer resolves our address while everything else from it is dropped
ns_run ip neigh flush dev veth-a
ext_run ip neigh flush dev veth-b
ext_run $PY -c 'import socket,sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"x", (sys.argv[1], 9))' $A6
for i in $(seq 20); do
	ext_run ip -6 neigh show $A6 dev veth-b | grep -qE 'REACHABLE|STALE|DELAY' && break
	sleep 0.1
done
t_check "kernel: under the same deny the peer's neighbor solicitation is answered" eval \
	"ext_run ip -6 neigh show $A6 dev veth-b | grep -qE 'REACHABLE|STALE|DELAY'"
t_expect "kernel: and its SYN is not (inbound-ippacket block, no RST)" timeout \
	"$(ext_try tcp $A6 $CT)"
add name no-ns layer inbound-transport ipver 6 icmp.type neighbor-solicitation block >/dev/null
t_expect "explain: a filter naming the type blocks it at inbound-transport" block \
	"$(json_get "$(lfp --json explain layer inbound-transport $NS6)" verdict)"
t_expect "explain: and no exemption is reported" "" \
	"$(json_get "$(lfp --json explain layer inbound-transport $NS6)" exemption)"
del no-ns
del deny6
exit 0
