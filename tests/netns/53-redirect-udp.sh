#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# UDP through the redirector: DNS over UDP to dnsmasq through dante's SOCKS5 UDP ASSOCIATE
# (IPv4 and IPv6 destinations), `redirect direct` for unconnected and connected UDP; one
# socket talking to several peers sees each reply from the peer it sent to (recvmsg);
# a SOCKS5 upstream that is down drops the datagrams (never a direct send) and is
# reported; UDP to an HTTP proxy fails with EPERM.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
RC="$HERE/redir_client.py"
rc() { in_scope $PY "$RC" "$@"; }
DNS=5353 DANTE=1085 DOWN=1999

cat >"$T_TMP/danted.conf" <<EOC
logoutput: $T_TMP/danted.log
internal: 127.0.0.1 port = $DANTE
external: 127.0.0.1
external: ::1
external.rotation: route
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  command: connect udpassociate udpreply
  log: connect disconnect error
}
socks pass {
  from: 0.0.0.0/0 to: ::/0
  command: connect udpassociate udpreply
  log: connect disconnect error
}
socks pass {
  from: ::/0 to: 0.0.0.0/0
  command: udpreply
  log: connect disconnect error
}
socks pass {
  from: ::/0 to: ::/0
  command: udpreply
  log: connect disconnect error
}
EOC
logoutput: $T_TMP/danted.log
internal: 127.0.0.1 port = $DANTE
external: 127.0.0.1
external: ::1
external.rotation: route
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate udpreply log: error }
socks pass { from: 0.0.0.0/0 to: ::/0 command: connect udpassociate udpreply log: error }
socks pass { from: ::/0 to: 0.0.0.0/0 command: udpreply log: error }
socks pass { from: ::/0 to: ::/0 command: udpreply log: error }
EOC
t_bg nsenter --net="/run/netns/$T_NS" -- danted -f "$T_TMP/danted.conf" -p "$T_TMP/danted.pid"
t_bg nsenter --net="/run/netns/$T_NS" -- dnsmasq --keep-in-foreground --conf-file=/dev/null \
	--no-resolv --no-hosts --port=$DNS --listen-address=127.0.0.1,::1 --bind-interfaces \
	--user=root --pid-file="$T_TMP/dnsmasq.pid" --address=/lfp.test/10.9.8.7
for i in $(seq 50); do
	ns_run $PY -c "
import socket
socket.create_connection(('127.0.0.1', $DANTE), timeout=1).close()" 2>/dev/null && break
	sleep 0.1
done
[ "$i" -lt 50 ] || t_bail "dante did not come up"
r=$(ns_run $PY "$RC" dns 127.0.0.1 $DNS x.lfp.test)
[ "$(json_get "$r" answer)" = 10.9.8.7 ] || t_bail "dnsmasq does not answer: $r"

t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

lfp filter add name dns layer connect-redirect proto udp remote.port $DNS \
	redirect socks5://127.0.0.1:$DANTE >/dev/null || t_bail "add dns"
lfp filter add name echo layer connect-redirect proto udp remote.port "{$U2, $U3}" \
	redirect socks5://127.0.0.1:$DANTE >/dev/null || t_bail "add echo"
lfp filter add name dir layer connect-redirect proto udp remote.port $U1 redirect direct \
	>/dev/null || t_bail "add dir"
lfp filter add name down layer connect-redirect proto udp remote.port $U4 \
	redirect socks5://127.0.0.1:$DOWN >/dev/null || t_bail "add down"
lfp filter add name hp layer connect-redirect proto udp remote.port $U5 \
	redirect http://127.0.0.1:3128 >/dev/null || t_bail "add hp"

for h in 127.0.0.1 ::1; do
	r=$(rc dns $h $DNS x.lfp.test)
	t_expect "DNS over UDP through dante [$h]: answered" 10.9.8.7 "$(json_get "$r" answer)"
	case $h in *:*) want="[$h]:$DNS" ;; *) want=$h:$DNS ;; esac
	t_expect "... the reply reads as from the server asked" "$want" "$(json_get "$r" from)"
done
t_check "the association went through dante (event names it)" \
	eval "ev_find layer=connect-redirect verdict=redirect proto=udp orig_port=$DNS \
		remote_port=$DANTE >/dev/null"
t_check "dante logged the UDP associations" grep -q "udp/udpassociate" "$T_TMP/danted.log"

# one socket, several peers through the proxy, and one direct
r=$(rc udp 127.0.0.1 $U2,$U3,$U1)
from=$(json_get "$r" from)
for p in $U2 $U3 $U1; do
	t_expect "one socket, three peers: the reply of $p reads as from $p" 127.0.0.1:$p \
		"$($PY -c 'import ast,sys; print(ast.literal_eval(sys.argv[1])[sys.argv[2]])' "$from" $p)"
done
r=$(rc udpconn 127.0.0.1 $U1)
t_expect "connected UDP through the redirector (direct)" ok "$(json_get "$r" result)"
t_expect "... the reply reads as from the original peer" 127.0.0.1:$U1 "$(json_get "$r" from)"

# failures: never a direct send
r=$(rc udp 127.0.0.1 $U4)
t_check "SOCKS5 upstream down: no reply (nothing went direct)" \
	eval "json_get '$r' from | grep -q no-reply"
t_check "... reported as a block" \
	eval "ev_find layer=connect-redirect verdict=block proto=udp orig_port=$U4 >/dev/null"
r=$(rc udp 127.0.0.1 $U5)
t_check "UDP to an HTTP proxy fails with EPERM" eval "json_get '$r' from | grep -q EPERM"
