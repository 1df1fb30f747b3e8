#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Discard events (docs/packet-layers.md, "Discard events"): the kernel's drops in lfpd's
# network namespace, from skb:kfree_skb, with the drop reason named from the kernel's
# BTF. The seed's example: a SYN to a closed port is discarded (NO_SOCKET) and answered
# with a RST, on IPv4 and IPv6, with the flow's addresses and ports; a packet an lfp
# block filter drops at outbound-transport shows up with its reason (BPF_CGROUP_EGRESS);
# the same closed-port SYNs in another namespace never show up; `lfp status` names the
# hook and the text monitor prints the reason.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

CP4=39034 CP6=39035 CPX=39036 CPZ=39037 UB=39038
ev_quiet() { ev_find "$@" >/dev/null; }
hook_field() {
	lfp status --json | $PY -c 'import json,sys
h = {x["name"]: x for x in json.load(sys.stdin)["hooks"]}.get(sys.argv[1], {})
print(str(h.get(sys.argv[2], "missing")).lower())' "$1" "$2"
}
t_expect "status: the discard tracepoint is named and active" true \
	"$(hook_field "discard tracepoint skb:kfree_skb" active)"

# ---- the seed's example: SYN to a closed port ----
t_expect "closed port, IPv4: curl is refused (the kernel's RST)" fail:7 \
	"$(curl_try http://127.0.0.1:$CP4/)"
if ev=$(ev_find layer=discard local_port=$CP4 ipver=4); then
	t_expect "IPv4 discard: reason" NO_SOCKET "$(json_get "$ev" reason)"
	t_expect "IPv4 discard: verdict" discard "$(json_get "$ev" verdict)"
	t_expect "IPv4 discard: proto" tcp "$(json_get "$ev" proto)"
	t_expect "IPv4 discard: local address" 127.0.0.1 "$(json_get "$ev" local_addr)"
	t_expect "IPv4 discard: remote address" 127.0.0.1 "$(json_get "$ev" remote_addr)"
	t_check "IPv4 discard: remote port is the client's ephemeral port" eval \
		'[ "$(json_get "$ev" remote_port)" -ge 1024 ]'
else
	t_fail "a discard event for the SYN to 127.0.0.1:$CP4"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi

t_expect "closed port, IPv6: curl is refused" fail:7 "$(curl_try "http://[::1]:$CP6/")"
if ev=$(ev_find layer=discard local_port=$CP6 ipver=6); then
	t_expect "IPv6 discard: reason" NO_SOCKET "$(json_get "$ev" reason)"
	t_expect "IPv6 discard: proto" tcp "$(json_get "$ev" proto)"
	t_expect "IPv6 discard: local address" ::1 "$(json_get "$ev" local_addr)"
	t_expect "IPv6 discard: remote address" ::1 "$(json_get "$ev" remote_addr)"
	t_check "IPv6 discard: remote port is the client's ephemeral port" eval \
		'[ "$(json_get "$ev" remote_port)" -ge 1024 ]'
else
	t_fail "a discard event for the SYN to [::1]:$CP6"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi

# ---- a drop by an lfp block filter at a packet layer ----
lfp filter add name no-udp layer outbound-transport proto udp remote.port $UB block >/dev/null ||
	t_bail "filter add no-udp"
in_scope $PY "$CLIENT" udp 127.0.0.1 $UB >/dev/null 2>&1
if ev=$(ev_find layer=discard remote_port=$UB ipver=4); then
	t_expect "lfp block: discard reason" BPF_CGROUP_EGRESS "$(json_get "$ev" reason)"
	t_expect "lfp block: proto" udp "$(json_get "$ev" proto)"
	t_expect "lfp block: remote address" 127.0.0.1 "$(json_get "$ev" remote_addr)"
	if bev=$(ev_find layer=outbound-transport verdict=block filter_name=no-udp); then
		t_check "lfp block: the discard carries a socket cookie" eval "[ \"$(json_get "$ev" cookie)\" != 0 ]"
		t_expect "lfp block: the discard names the socket (the block event's cookie)" \
			"$(json_get "$bev" cookie)" "$(json_get "$ev" cookie)"
	else
		t_fail "lfp block: the block event of the filter too"
	fi
else
	t_fail "a discard event for the datagram no-udp blocked"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
lfp filter delete no-udp || t_fail "filter delete no-udp"

# ---- other namespaces: never reported ----
NS2=$T_NS-x
if ip netns add "$NS2"; then
	T_CLEANUPS+=("ip netns del $NS2")
	nsenter --net="/run/netns/$NS2" -- ip link set lo up
	nsenter --net="/run/netns/$NS2" -- sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 \
		>/dev/null 2>&1 || true
	for a in 127.0.0.1 ::1; do
		r=$(nsenter --net="/run/netns/$NS2" -- $PY "$CLIENT" tcp $a $CPX 2>&1)
		t_expect "other netns: connect to $a:$CPX is refused there too" ECONNREFUSED \
			"$(json_get "$r" result)"
	done
	# a drop of ours afterwards: once it is seen, the other namespace's would have been
	curl_try http://127.0.0.1:$CPZ/ >/dev/null
	t_check "own netns: a later closed-port SYN is reported" ev_quiet layer=discard \
		local_port=$CPZ
	t_check "other netns: its closed-port SYNs (IPv4, IPv6) are not reported" eval \
		'! grep -q "\"local_port\": *$CPX\b" "$T_TMP/mon.json"'
else
	t_fail "ip netns add $NS2"
fi

# ---- the text monitor prints the reason ----
lfp monitor >"$T_TMP/mon.txt" 2>&1 &
T_PIDS+=($!)
sleep 0.5
curl_try http://127.0.0.1:$CP4/ >/dev/null
for i in $(seq 30); do
	grep -q "discard discard .*local=127.0.0.1:$CP4 .*reason=NO_SOCKET" "$T_TMP/mon.txt" && break
	sleep 0.1
done
t_check "text monitor: the discard line with its reason" \
	grep -q "discard discard .*local=127.0.0.1:$CP4 .*reason=NO_SOCKET" "$T_TMP/mon.txt"
