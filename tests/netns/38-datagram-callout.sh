#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inspection callouts at datagram-data (docs/packet-layers.md, "datagram-data"): a
# `callout count` filter never decides, counts every datagram it is reached for, and
# each of those datagrams reaches `lfp monitor` as a payload excerpt (verdict inspect,
# the direction, the payload's length and its first 128 bytes, the sending process).
# A DNS exchange with dnsmasq: the query's name in the outbound excerpt, the answer's
# address in the inbound one, on IPv4 and IPv6; a long datagram is cut at 128 bytes; a
# heavier block in the callout's sublayer is decided before the callout is reached (no
# excerpt), a lighter one after it (excerpt, then the block).
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"
# and one in text, for the excerpt's one-line form
"$LFP_BIN" --socket "$T_SOCK" monitor >"$T_TMP/mon.txt" 2>&1 &
T_PIDS+=($!)

DNS_PORT=5353
DNSC=$HERE/dgram_client.py
ev_quiet() { ev_find "$@" >/dev/null; }
add() { lfp filter add "$@" || t_bail "filter add $*"; }
del() { lfp filter delete "$1" || t_fail "filter delete $1"; }
dns() {
	local r
	r=$(in_scope $PY "$DNSC" "$1" $DNS_PORT "$2")
	if [ "$(json_get "$r" result)" = ok ]; then json_get "$r" answer; else json_get "$r" result; fi
}
hits() {
	lfp filter list --json | $PY -c 'import json,sys
print([f.get("hits") for f in json.load(sys.stdin) if f.get("name") == sys.argv[1]][0])' "$1"
}
# data_events KEY=VALUE...: how many payload excerpts match (now)
data_events() {
	$PY - "$T_TMP/mon.json" "$@" <<'PYEOF'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
n = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if "data_hex" in ev and all(str(ev.get(k)) == v for k, v in want.items()):
        n += 1
print(n)
PYEOF
}
# explain_insp CONDITIONS: "VERDICT INSPECTION-FILTER-NAME" for a UDP datagram to 127.0.0.1
explain_insp() {
	lfp --json explain layer datagram-data proto udp remote.addr 127.0.0.1 $1 | $PY -c '
import json, sys
r = json.load(sys.stdin)
print(r["verdict"], (r.get("inspected_by") or {}).get("name", ""))'
}

ns_run /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
	--bind-interfaces --listen-address=127.0.0.1,::1 --port=$DNS_PORT --pid-file= \
	--user=root --address=/peek.lfp.test/192.0.2.9 >"$T_TMP/dnsmasq.log" 2>&1 &
T_PIDS+=($!)
for i in $(seq 30); do
	[ "$(dns 127.0.0.1 peek.lfp.test)" = 192.0.2.9 ] && break
	sleep 0.2
done
t_expect "baseline: dnsmasq answers" 192.0.2.9 "$(dns 127.0.0.1 peek.lfp.test)"

# ---- a count callout: the exchange goes on, both datagrams are excerpted ----
id=$(add name peek layer datagram-data remote.port $DNS_PORT callout count)
t_expect "count: the query is answered (an inspection never decides)" 192.0.2.9 \
	"$(dns 127.0.0.1 peek.lfp.test)"
QNAME=$(printf '\004peek\003lfp\004test' | od -An -tx1 | tr -d ' \n')
if ev=$(ev_find layer=datagram-data verdict=inspect filter_name=peek direction=out ipver=4); then
	t_expect "excerpt: filter id" "$id" "$(json_get "$ev" filter_id)"
	t_check "excerpt: the query's name is in the outbound bytes" eval \
		'[[ "$(json_get "$ev" data_hex)" == *"$QNAME"* ]]'
	t_expect "excerpt: length of the query (12 + 15 + 4)" 31 "$(json_get "$ev" length)"
	t_expect "excerpt: all of it (shorter than 128)" 62 "$(json_get "$ev" data_hex | tr -d '\n' | wc -c)"
	t_expect "excerpt: remote port" $DNS_PORT "$(json_get "$ev" remote_port)"
	t_check "excerpt: the sending process" eval \
		'[ "$(json_get "$ev" pid)" -gt 0 ] && [[ "$(json_get "$ev" path)" == *python3* ]]'
else
	t_fail "an outbound payload excerpt of the DNS query"
	tail -n 3 "$T_TMP/mon.json" | t_diag
fi
if ev=$(ev_find layer=datagram-data verdict=inspect filter_name=peek direction=in ipver=4); then
	t_check "excerpt: the answer's address (192.0.2.9) is in the inbound bytes" eval \
		'[[ "$(json_get "$ev" data_hex)" == *c0000209* ]]'
else
	t_fail "an inbound payload excerpt of the DNS answer"
fi
t_expect "count: IPv6, the query is answered" 192.0.2.9 "$(dns ::1 peek.lfp.test)"
if ev=$(ev_find layer=datagram-data verdict=inspect filter_name=peek direction=out ipver=6); then
	t_check "IPv6 excerpt: the query's name" eval '[[ "$(json_get "$ev" data_hex)" == *"$QNAME"* ]]'
	t_expect "IPv6 excerpt: remote" ::1 "$(json_get "$ev" remote_addr)"
else
	t_fail "an IPv6 outbound payload excerpt"
fi
t_check "IPv6 inbound excerpt" ev_quiet layer=datagram-data verdict=inspect filter_name=peek \
	direction=in ipver=6
t_check "count: the filter's hits count the datagrams (4 or more)" eval '[ "$(hits peek)" -ge 4 ]'
t_check "text monitor: the excerpt as one line (direction, length, escaped bytes)" grep -q \
	'inspect datagram-data filter=[0-9]*(peek) .* dir=out .*len=31 data=".*\\x04peek\\x03lfp\\x04test' \
	"$T_TMP/mon.txt"
del peek

# ---- a long datagram: the excerpt is bounded ----
add name peek-long layer datagram-data direction outbound remote.port $U1 callout count >/dev/null
in_scope $PY -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"L" * 1000, ("127.0.0.1", int(sys.argv[1])))' $U1
if ev=$(ev_find layer=datagram-data verdict=inspect filter_name=peek-long); then
	t_expect "long datagram: its length" 1000 "$(json_get "$ev" length)"
	t_expect "long datagram: 128 bytes excerpted" "$(printf '4c%.0s' $(seq 128))" \
		"$(json_get "$ev" data_hex)"
else
	t_fail "a payload excerpt of the long datagram"
fi
del peek-long

# ---- weight order in a sublayer: a heavier block decides before the callout ----
add name heavy-block layer datagram-data weight 20 remote.port $U2 block >/dev/null
add name light-peek layer datagram-data weight 10 remote.port $U2 callout count >/dev/null
t_expect "heavier block: sendto fails with EPERM" EPERM \
	"$(json_get "$(in_scope $PY "$CLIENT" udp 127.0.0.1 $U2)" $U2)"
t_check "heavier block: its event" ev_quiet layer=datagram-data verdict=block \
	filter_name=heavy-block
t_expect "heavier block: the callout was not reached (no excerpt, no hit)" "0 0" \
	"$(data_events filter_name=light-peek) $(hits light-peek)"
t_expect "explain agrees: no inspection filter reached" "block " \
	"$(explain_insp "direction outbound remote.port $U2")"
del heavy-block
del light-peek
add name heavy-peek layer datagram-data weight 20 remote.port $U3 callout count >/dev/null
add name light-block layer datagram-data weight 10 remote.port $U3 block >/dev/null
t_expect "lighter block: sendto fails with EPERM" EPERM \
	"$(json_get "$(in_scope $PY "$CLIENT" udp 127.0.0.1 $U3)" $U3)"
t_check "lighter block: the callout saw the datagram first" ev_quiet layer=datagram-data \
	verdict=inspect filter_name=heavy-peek direction=out
t_check "lighter block: its block event" ev_quiet layer=datagram-data verdict=block \
	filter_name=light-block
t_expect "lighter block: one excerpt per datagram sent (two), two hits" "2 2" \
	"$(data_events filter_name=heavy-peek) $(hits heavy-peek)"
t_expect "explain agrees: block, inspected by heavy-peek" "block heavy-peek" \
	"$(explain_insp "direction outbound remote.port $U3")"
t_check "explain (text): names the inspection filter" eval \
	"lfp explain layer datagram-data proto udp remote.addr 127.0.0.1 direction outbound \
	remote.port $U3 | grep -q 'inspected by filter [0-9]* (heavy-peek)'"
exit 0
