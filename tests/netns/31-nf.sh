#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The packet layers for traffic without a socket (docs/packet-layers.md, "Netfilter"):
# BPF netfilter programs at LOCAL_IN/LOCAL_OUT of lfpd's namespace. A peer namespace
# on a veth pings this one and curls a closed port: the kernel's echo replies and RSTs
# (no socket) are blocked at outbound-transport / outbound-ippacket, echo requests at
# inbound-transport; block events say so, with no process. Under a default-deny policy
# at the transport layers, IPv6 neighbor discovery still passes unless a filter names
# it. IPv4 and IPv6. Every netfilter link is in the test's namespace only.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

PING=/usr/bin/ping
A4=10.231.0.1 B4=10.231.0.2 A6=fd31::1 B6=fd31::2

t_peer_ns $A4 $B4 $A6 $B6

status_hook() { # NAME: active | the reason
	lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}[sys.argv[1]]
print("active" if h["active"] else h["reason"])' "$1"
}
# ping_ext HOST: one echo from the peer namespace (outside the scope), 1 s; ok | fail
ping_ext() { if ext_run $PING -n -c 1 -W 1 "$1" >/dev/null 2>&1; then echo ok; else echo fail; fi; }
# curl_ext URL: prints ok | fail:RC (7 refused, 28 timeout)
curl_ext() {
	ext_run $CURL -s --max-time 2 -o /dev/null "$1"
	local rc=$?
	[ $rc = 0 ] && echo ok || echo "fail:$rc"
}
neigh_flush() { ns_run ip neigh flush dev veth-a; ext_run ip neigh flush dev veth-b; }
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }
stat_get() {
	lfp status --json | $PY -c 'import json,sys
print(json.load(sys.stdin)["stats"].get(sys.argv[1], "missing"))' "$1"
}

for h in nf-local-in4 nf-local-in6 nf-local-out4 nf-local-out6; do
	t_expect "status: $h is active" active "$(status_hook $h)"
done
t_check "the netfilter links are pinned under the test's bpffs" \
	test -e "$T_BPFFS/links/nf-local-out6"

t_expect "baseline: the peer pings $A4" ok "$(ping_ext $A4)"
t_expect "baseline: the peer pings $A6" ok "$(ping_ext $A6)"
t_expect "baseline: curl to a closed port is refused (RST)" fail:7 "$(curl_ext http://$A4:7/)"
t_expect "baseline: IPv6 too" fail:7 "$(curl_ext "http://[$A6]:7/")"

# ---- outbound-transport: the kernel's echo replies ----
add name no-reply4 layer outbound-transport proto icmp icmp.type echo-reply block >/dev/null
t_expect "outbound-transport: the kernel's IPv4 echo reply is blocked" fail "$(ping_ext $A4)"
t_expect "outbound-transport: IPv6 still answers" ok "$(ping_ext $A6)"
if ev=$(ev_find layer=outbound-transport verdict=block filter_name=no-reply4); then
	t_expect "event: icmp type (echo reply)" 0 "$(json_get "$ev" icmp_type)"
	t_expect "event: remote is the peer" $B4 "$(json_get "$ev" remote_addr)"
	t_expect "event: local" $A4 "$(json_get "$ev" local_addr)"
	t_expect "event: no process (pid 0)" 0 "$(json_get "$ev" pid)"
else
	t_fail "an outbound-transport block event for the kernel's echo reply"
fi
del no-reply4
add name no-reply6 layer outbound-transport ipver 6 icmp.type echo-reply block >/dev/null
t_expect "IPv6 outbound-transport: the kernel's echo reply is blocked" fail "$(ping_ext $A6)"
t_expect "IPv6 outbound-transport: IPv4 still answers" ok "$(ping_ext $A4)"
t_check "IPv6 event" ev_quiet layer=outbound-transport verdict=block filter_name=no-reply6 \
	icmp_type=129 ipver=6 remote_addr=$B6
del no-reply6

# ---- inbound-transport: echo requests the kernel would answer ----
add name no-req layer inbound-transport icmp.type echo-request ipver 4 block >/dev/null
t_expect "inbound-transport: echo requests to $A4 are dropped" fail "$(ping_ext $A4)"
t_check "inbound event" ev_quiet layer=inbound-transport verdict=block filter_name=no-req \
	icmp_type=8 remote_addr=$B4
del no-req
add name no-req6 layer inbound-transport proto icmpv6 icmp.type echo-request block >/dev/null
t_expect "IPv6 inbound-transport: echo requests to $A6 are dropped" fail "$(ping_ext $A6)"
del no-req6

# ---- the kernel's RST for a closed port ----
add name no-rst layer outbound-transport proto tcp local.port 7 block >/dev/null
t_expect "closed port: with the RST blocked the peer's curl times out" fail:28 \
	"$(curl_ext http://$A4:7/)"
t_expect "closed port, IPv6: times out too" fail:28 "$(curl_ext "http://[$A6]:7/")"
t_check "RST block event" ev_quiet layer=outbound-transport verdict=block filter_name=no-rst \
	proto=tcp local_port=7
del no-rst

# ---- outbound-ippacket: everything to the peer's address ----
add name not-b layer outbound-ippacket remote.addr $B4 block >/dev/null
t_expect "outbound-ippacket: nothing goes back to $B4" fail "$(ping_ext $A4)"
t_expect "outbound-ippacket: the RST neither (timeout)" fail:28 "$(curl_ext http://$A4:7/)"
del not-b

# ---- ND and PMTU pass a default deny ----
add name deny-in6 layer inbound-transport ipver 6 block >/dev/null
add name deny-out6 layer outbound-transport ipver 6 block >/dev/null
add name ping-in layer inbound-transport ipver 6 icmp.type echo-request permit \
	>/dev/null
add name ping-out layer outbound-transport ipver 6 icmp.type echo-reply permit \
	>/dev/null
neigh_flush
before=$(stat_get nd_pmtu_exempt)
t_expect "default deny: the peer's ping6 works (neighbor discovery passes)" ok "$(ping_ext $A6)"
t_check "default deny: ND passed as the exemption (counted)" eval \
	'[ "$(stat_get nd_pmtu_exempt)" -gt "$before" ]'
add name no-ns layer inbound-transport ipver 6 icmp.type neighbor-solicitation \
	block >/dev/null
neigh_flush
t_expect "a filter naming neighbor-solicitation blocks it: no ping6" fail "$(ping_ext $A6)"
t_check "... and its block is reported" ev_quiet layer=inbound-transport verdict=block \
	filter_name=no-ns icmp_type=135
exit 0
