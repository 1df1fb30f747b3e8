#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inbound pends hold the first packet (docs/callouts.md): under an `ask` filter at
# auth-recv-accept (user root), lfpd's INPUT match classifies the first SYN or datagram
# to a scope listener and holds it. A permit lets that very packet in (the client sent
# exactly one SYN: counted in the raw table, before lfpd's chains), a block refuses it
# at once (TCP reset, ICMP port unreachable: ECONNREFUSED). IPv4 and IPv6, TCP and UDP.
# A listener that no ask filter can match (uid 65534) never reaches the queue, nor does
# one auth-listen blocks until a commit permits it. A listener older than lfpd's hooks is
# held from its first SYN (noted by the commit's re-authorization walk); two listeners
# on one port (SO_REUSEPORT) take the fallback (the first SYN dropped, the retry held).
# Without the reject rule a block is a silent drop, never a repeat loop.
. "$(dirname "$0")/lib.sh"
t_setup
LT=7101 LT6=7102 LU=7103 LU6=7104 LN=7105 LE=7106 LB=7107 LR=7108

# listeners in scope: their owner is noted at listen()/bind() for the INPUT match
cat >"$T_TMP/lsn.py" <<'PYEOF'
import socket, sys, threading
def tcp(fam, host, port, reuseport=False):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port)); s.listen(64)
    while True:
        c, a = s.accept(); print("accepted", port, flush=True); c.close()
def udp(fam, host, port):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((host, port))
    while True:
        d, a = s.recvfrom(100); print("received", port, d.decode(), flush=True); s.sendto(b"echo:" + d, a)
for spec in sys.argv[1:]:
    kind, host, port = spec.split(",")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    if kind == "tcpr":  # SO_REUSEPORT: give it twice for two sockets on one port
        args = (fam, host, int(port), True)
    else:
        args = (fam, host, int(port))
    threading.Thread(target=tcp if kind.startswith("tcp") else udp, args=args, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PYEOF
# start_listener NAME "SPEC..." [PREFIX...]: a listener process in scope (PREFIX: e.g. NOBODY),
# its pid in $T_TMP/NAME.pid
start_listener() {
	local name=$1 specs=$2 i
	shift 2
	# shellcheck disable=SC2086 # SPECs are words
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope "$@" $PY "$T_TMP/lsn.py" $specs \
		>"$T_TMP/$name.out" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do grep -qs ready "$T_TMP/$name.out" && break; sleep 0.1; done
	grep -q ready "$T_TMP/$name.out" || { t_diag <"$T_TMP/$name.out"; t_bail "listener $name"; }
	T_CLEANUPS+=("kill -KILL $(cat "$T_TMP/$name.pid")")
}
# a listener older than lfpd's hooks: noted by the re-authorization walk of the first
# commit (its owner as the walk stamps it: uid, cgroup; pid and executable unknown)
start_listener early "tcp,127.0.0.1,$LE"
t_lfpd_start
start_listener root "tcp,127.0.0.1,$LT tcp,::1,$LT6 udp,127.0.0.1,$LU udp,::1,$LU6"
LPID=$(cat "$T_TMP/root.pid")
start_listener nobody "tcp,127.0.0.1,$LN" "${NOBODY[@]}"
# a listener auth-listen blocks (its SYNs are ingress's to drop, never asked about)
lfp filter add name no-listen layer auth-listen local.port $LB block >/dev/null ||
	t_bail "add auth-listen block"
start_listener blk "tcp,127.0.0.1,$LB"
# two sockets on one port (SO_REUSEPORT): which one a SYN reaches is the kernel's
# choice, so the match leaves them to ingress (the fallback)
start_listener rp "tcpr,127.0.0.1,$LR tcpr,127.0.0.1,$LR"

# the client (outside the scope: its own connect is not judged); prints "RESULT EPOCH"
# at completion: ok | ECONNREFUSED | timeout | ...
cat >"$T_TMP/cli.py" <<'PYEOF'
import errno, socket, sys, time
kind, host, port, tmo = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
def done(r):
    print(r, "%.3f" % time.time(), flush=True); sys.exit(0)
try:
    s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(tmo)
    if kind == "tcp":
        s.connect((host, port))
    elif kind == "udpc":  # connected: an ICMP error fails the receive
        s.connect((host, port)); s.send(b"ping"); s.recv(100)
    else:  # one datagram, never repeated: it arrives only if it was held, not dropped
        s.sendto(b"ping", (host, port)); s.recvfrom(100)
    done("ok")
except socket.timeout:
    done("timeout")
except OSError as e:
    done(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
client() {
	nsenter --net="/run/netns/$T_NS" -- $PY "$T_TMP/cli.py" "$2" "$3" "$4" "$5" \
		>"$T_TMP/$1.out" 2>&1 &
	T_PIDS+=($!)
}
res() {
	local i
	for i in $(seq 150); do [ -s "$T_TMP/$1.out" ] && break; sleep 0.1; done
	cut -d' ' -f1 "$T_TMP/$1.out"
}
# late NAME T0: "fast" when the client finished within 1 s after epoch T0 (the answer)
late() {
	$PY -c 'import sys
d = float(sys.argv[1]) - float(sys.argv[2])
print("fast" if 0 <= d < 1.0 else "%.3f s after the answer" % d)' \
		"$(cut -d' ' -f2 "$T_TMP/$1.out")" "$2"
}
# pend_first: the id of the (only) pending entry, as soon as it is listed (up to 5 s);
# no python on the way: the SYN retransmit comes 1 s after the SYN
pend_first() {
	local i id
	for i in $(seq 250); do
		id=$(lfp pending --json | grep -oE '"id": *[0-9]+' | head -1 | tr -dc 0-9)
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.02
	done
	echo none
}
answer() { T_ANS=$(date +%s.%N); lfp pending answer "$1" "$2" >/dev/null; }
# SYNs the client sent to PORT, counted in the raw table (before any of lfpd's rules)
for b in iptables ip6tables; do
	for p in $LT $LT6 $LE $LB $LR; do
		ns_run $b -t raw -A OUTPUT -p tcp --syn --dport $p || t_bail "$b raw counter"
	done
done
syns() {
	ns_run "$1" -t raw -nvxL OUTPUT | awk -v p="dpt:$2" '$0 ~ p { s += $1 } END { print s + 0 }'
}
zero_syns() { ns_run iptables -t raw -Z OUTPUT && ns_run ip6tables -t raw -Z OUTPUT; }
# packets lfpd's INPUT chains sent to the queue
queued_in() {
	{
		ns_run iptables -nvxL LFP_PEND_IN
		ns_run ip6tables -nvxL LFP_PEND_IN
	} | awk '/NFQUEUE/ { s += $1 } END { print s + 0 }'
}
held_n() { lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["pend"]["held"])'; }
accepted() { grep -c "accepted $1" "$T_TMP/root.out"; }

lfp filter add name ask-root layer auth-recv-accept user root ask timeout 20 >/dev/null ||
	t_bail "add ask filter"

# --- TCP IPv4, permit: the first SYN is the one that gets in
zero_syns
client t1 tcp 127.0.0.1 $LT 5
id=$(pend_first)
answer "$id" permit
t_check "TCP IPv4: the first SYN is held" test "$id" != none
t_expect "TCP IPv4: permit completes the connection" ok "$(res t1)"
t_expect "... within 1 s of the answer" fast "$(late t1 "$T_ANS")"
t_expect "... the client sent exactly one SYN" 1 "$(syns iptables $LT)"
t_expect "... the listener accepted it" 1 "$(accepted $LT)"

# --- TCP IPv6, permit
zero_syns
client t2 tcp ::1 $LT6 5
id=$(pend_first)
answer "$id" permit
t_check "TCP IPv6: the first SYN is held" test "$id" != none
t_expect "TCP IPv6: permit completes the connection" ok "$(res t2)"
t_expect "... within 1 s of the answer" fast "$(late t2 "$T_ANS")"
t_expect "... the client sent exactly one SYN" 1 "$(syns ip6tables $LT6)"

# --- TCP IPv4, block: listed with the listener's process, then refused at once
client t3 tcp 127.0.0.1 $LT 10
id=$(pend_first)
t_check "TCP IPv4 (block): held" test "$id" != none
entry=$(lfp pending --json | $PY -c 'import json,sys
p = [x for x in json.load(sys.stdin) if x["id"] == int(sys.argv[1])][0]
print(p["layer"], p["pid"], p["path"], p["user"], p["remote"], p["lport"])' "$id")
t_expect "... lfp pending lists it with the listener's process" \
	"auth-recv-accept $LPID $(readlink -f $PY) root 127.0.0.1 $LT" "$entry"
answer "$id" block
t_expect "TCP IPv4: block refuses the connection (ECONNREFUSED)" ECONNREFUSED "$(res t3)"
t_expect "... within 1 s of the answer" fast "$(late t3 "$T_ANS")"
t_expect "... nothing more was accepted" 1 "$(accepted $LT)"

# --- TCP IPv6, block
client t4 tcp ::1 $LT6 10
id=$(pend_first)
answer "$id" block
t_expect "TCP IPv6: block refuses the connection (ECONNREFUSED)" ECONNREFUSED "$(res t4)"
t_expect "... within 1 s of the answer" fast "$(late t4 "$T_ANS")"

# --- UDP: one datagram, held and delivered after the permit
for v in 4 6; do
	if [ $v = 4 ]; then host=127.0.0.1 port=$LU; else host=::1 port=$LU6; fi
	client u$v udp $host $port 10
	id=$(pend_first)
	t_check "UDP IPv$v: the first datagram is held" test "$id" != none
	t_expect "... not delivered while it waits" 0 "$(grep -c "received $port" "$T_TMP/root.out")"
	answer "$id" permit
	t_expect "UDP IPv$v: permit delivers that datagram (the echo comes back)" ok "$(res u$v)"
	t_expect "... it was received once" 1 "$(grep -c "received $port" "$T_TMP/root.out")"
done

# --- connected UDP, block: ICMP port unreachable fails the client's receive at once
client u5 udpc 127.0.0.1 $LU 10
id=$(pend_first)
answer "$id" block
t_expect "UDP IPv4: block refuses the datagram (ECONNREFUSED)" ECONNREFUSED "$(res u5)"
t_expect "... within 1 s of the answer" fast "$(late u5 "$T_ANS")"

# --- a listener auth-listen blocks: not asked about, not queued; once a commit
# permits it (listener re-authorization), its SYNs are held like the others'
q0=$(queued_in)
client b1 tcp 127.0.0.1 $LB 2
t_expect "a blocked listener: the connection is not let in" timeout "$(res b1)"
t_expect "... nothing was queued for it" "$q0" "$(queued_in)"
t_expect "... nothing is pending" 0 "$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"
lfp filter delete no-listen >/dev/null || t_fail "filter delete no-listen"
zero_syns
client b2 tcp 127.0.0.1 $LB 5
id=$(pend_first)
t_check "the same listener permitted by a commit: its first SYN is held" test "$id" != none
answer "$id" permit
t_expect "... permit completes the connection" ok "$(res b2)"
t_expect "... the client sent exactly one SYN" 1 "$(syns iptables $LB)"

# --- a listener older than lfpd: held from its first SYN too
zero_syns
client e1 tcp 127.0.0.1 $LE 10
id=$(pend_first)
t_check "a listener older than lfpd: its first SYN is held" test "$id" != none
answer "$id" permit
t_expect "... permit completes the connection" ok "$(res e1)"
t_expect "... the listener accepted it" 1 "$(grep -c "accepted $LE" "$T_TMP/early.out")"
t_expect "... the client sent exactly one SYN" 1 "$(syns iptables $LE)"

# --- the fallback (SO_REUSEPORT): ingress drops the first SYN and records the flow, the
# client's retry is held, a permit lets it in
zero_syns
client r1 tcp 127.0.0.1 $LR 10
id=$(pend_first)
t_check "two listeners on one port: held (the retried SYN)" test "$id" != none
answer "$id" permit
t_expect "... permit completes the connection" ok "$(res r1)"
t_check "... the client sent its SYN again (the first was dropped)" test "$(syns iptables $LR)" -ge 2

# --- a listener no ask filter can match (uid 65534): never through the queue
q0=$(queued_in) h0=$(held_n)
t_check "the queue counters count the held flows above" test "$q0" -ge 7
client n1 tcp 127.0.0.1 $LN 5
t_expect "uid 65534's listener: connected at once" ok "$(res n1)"
t_expect "... the listener accepted it" 1 "$(grep -c "accepted $LN" "$T_TMP/nobody.out")"
t_expect "... no packet went to lfpd's queue" "$q0" "$(queued_in)"
t_expect "... nothing was held" "$h0" "$(held_n)"
t_expect "... nothing is pending" 0 "$(lfp pending --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')"

# --- without the reject rule (deleted by hand), a block is a silent drop, not a loop
ns_run iptables -D LFP_PEND_IN -p tcp -m mark --mark 0x20000000/0x20000000 \
	-j REJECT --reject-with tcp-reset || t_fail "delete the TCP reject rule"
d0=$(lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["pend"]["packets_dropped"])')
client x1 tcp 127.0.0.1 $LT 2
id=$(pend_first)
answer "$id" block
t_expect "no reject rule: the blocked connection is dropped (the client times out)" timeout \
	"$(res x1)"
t_check "... lfpd dropped the repeated packet and still answers" test \
	"$(lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["pend"]["packets_dropped"])')" -gt "$d0"

t_lfpd_stop
exit $T_FAILED
