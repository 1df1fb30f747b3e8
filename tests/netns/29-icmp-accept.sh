#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# auth-recv-accept for ICMP: while the layer has filters, the first ICMP message of each
# type and code from a remote to a ping or raw socket is classified with icmp.type and
# icmp.code filled (and flags raw for a raw socket), once per socket, remote, type and
# code. A filter blocking echo replies makes a ping socket's echo requests go unanswered
# (IPv4: type 0, IPv6: type 129), with one block event naming the type, the socket's
# owner (stamped at socket()) and the remote; a filter on another type lets them
# through, with a permit event carrying the type.
. "$(dirname "$0")/lib.sh"
t_setup
ns_run sysctl -qw net.ipv4.ping_group_range="0 2147483647" || t_bail "ping_group_range"
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

# ping HOST [raw]: two echo requests on one ping (or raw) socket; prints the types of the
# replies it got ("0 0", "129 129") or "timeout"; a raw socket skips its own requests
cat >"$T_TMP/ping.py" <<'EOF2'
import socket, struct, sys, time
host = sys.argv[1]
raw = len(sys.argv) > 2
v6 = ":" in host
fam = socket.AF_INET6 if v6 else socket.AF_INET
proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
s = socket.socket(fam, socket.SOCK_RAW if raw else socket.SOCK_DGRAM, proto)
s.settimeout(0.7)
req = 128 if v6 else 8
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
got = []
for seq in range(2):
    body = struct.pack("!HH", 0x4c46, seq) + b"lfp"
    pkt = struct.pack("!BBH", req, 0, 0) + body
    if raw:
        pkt = struct.pack("!BBH", req, 0, csum(pkt)) + body
    s.sendto(pkt, (host, 0))
    end = time.time() + 0.7
    while time.time() < end:
        try:
            d = s.recv(128)
        except socket.timeout:
            break
        if raw and not v6:
            d = d[(d[0] & 0xf) * 4:]
        if d[0] != req:
            got.append(str(d[0]))
            break
print(" ".join(got) if got else "timeout")
EOF2
pingt() { SCOPE_PIDFILE=$T_TMP/$1.pid in_scope $PY "$T_TMP/ping.py" "${@:2}"; }
# evs KEY=VALUE...: how many events in mon.json have all these values
evs() {
	sleep 0.3
	$PY - "$T_TMP/mon.json" "$@" <<'EOF2'
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
n = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    n += all(str(ev.get(k)) == v for k, v in want.items())
print(n)
EOF2
}

t_expect "IPv4: a ping socket gets its echo replies" "0 0" "$(pingt p0 127.0.0.1)"
t_expect "no auth-recv-accept event for ICMP while the layer has no filters" 0 \
	"$(evs layer=auth-recv-accept proto=icmp)"

# a filter on another type: classified, permitted, reported with the type
lfp filter add name no-unreach layer auth-recv-accept proto icmp icmp.type dest-unreachable \
	block >/dev/null || t_bail "filter add no-unreach"
t_expect "IPv4: a filter on another type lets echo replies through" "0 0" \
	"$(pingt p1 127.0.0.1)"
if ev=$(ev_find pid="$(cat "$T_TMP/p1.pid")" layer=auth-recv-accept); then
	t_expect "permit event: verdict" permit "$(json_get "$ev" verdict)"
	t_expect "permit event: icmp type" 0 "$(json_get "$ev" icmp_type)"
	t_expect "permit event: proto" icmp "$(json_get "$ev" proto)"
	t_expect "permit event: remote" 127.0.0.1 "$(json_get "$ev" remote_addr)"
else
	t_fail "a permit event at auth-recv-accept for the echo reply"
	tail -n 5 "$T_TMP/mon.json" | t_diag
fi
t_expect "one event for two replies of one type from one remote" 1 \
	"$(evs pid="$(cat "$T_TMP/p1.pid")" layer=auth-recv-accept)"

lfp filter add name no-echo-reply4 layer auth-recv-accept proto icmp icmp.type echo-reply block \
	>/dev/null || t_bail "filter add no-echo-reply4"
lfp filter add name no-echo-reply6 layer auth-recv-accept proto icmpv6 icmp.type echo-reply \
	block >/dev/null || t_bail "filter add no-echo-reply6"
for v in 4 6; do
	[ $v = 4 ] && H=127.0.0.1 T=0 P=icmp || H=::1 T=129 P=icmpv6
	t_expect "IPv$v: echo replies blocked at auth-recv-accept" timeout "$(pingt b$v $H)"
	if ev=$(ev_find pid="$(cat "$T_TMP/b$v.pid")" layer=auth-recv-accept verdict=block); then
		t_expect "IPv$v: block event: filter" no-echo-reply$v "$(json_get "$ev" filter_name)"
		t_expect "IPv$v: block event: icmp type" $T "$(json_get "$ev" icmp_type)"
		t_expect "IPv$v: block event: icmp code" 0 "$(json_get "$ev" icmp_code)"
		t_expect "IPv$v: block event: proto" $P "$(json_get "$ev" proto)"
		t_expect "IPv$v: block event: remote" $H "$(json_get "$ev" remote_addr)"
	else
		t_fail "IPv$v: a block event at auth-recv-accept for the echo reply"
		tail -n 5 "$T_TMP/mon.json" | t_diag
	fi
	t_expect "IPv$v: one block event for both replies (cached per remote and type)" 1 \
		"$(evs pid="$(cat "$T_TMP/b$v.pid")" layer=auth-recv-accept verdict=block)"
done

# a raw ICMP socket (root): flags raw
t_expect "IPv4 raw: echo replies blocked" timeout "$(pingt r4 127.0.0.1 raw)"
if ev=$(ev_find pid="$(cat "$T_TMP/r4.pid")" layer=auth-recv-accept verdict=block); then
	t_check "IPv4 raw: block event: flags raw ($(json_get "$ev" flags))" \
		eval '[[ $(json_get "$ev" flags) == *raw* ]]'
	t_expect "IPv4 raw: block event: icmp type" 0 "$(json_get "$ev" icmp_type)"
else
	t_fail "IPv4 raw: a block event at auth-recv-accept"
fi
lfp filter delete no-echo-reply4 || t_fail "filter delete"
t_expect "IPv4: after the delete a new ping socket gets its replies" "0 0" "$(pingt p2 127.0.0.1)"
