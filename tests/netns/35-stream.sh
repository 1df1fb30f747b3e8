#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stream layer (docs/stream.md): TCP flows a stream filter selects are enrolled at
# establishment (sock_ops → SOCKHASH); sk_msg judges what the application sends, sk_skb
# what it receives. Without a stream filter nothing is enrolled; `callout count` reports
# each message with its first bytes, both directions, and a `log` filter each
# classification; a block refuses sent data (send() fails with EACCES) or discards
# received data; a filter added while a flow is open enrolls it at the commit; removing
# the filters leaves open flows working and enrolls no new ones; an enrolled flow is
# judged by the new lfpd after a restart. Real python clients to the suite's HTTP listeners,
# IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

SC=$HERE/stream_client.py
REPLY='HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
hex() { printf "$1" | od -An -tx1 | tr -d ' \n'; }
REPLY_HEX=$(hex "$REPLY")
# a request as stream_client.py takes it (escapes, so no trailing newline is lost)
req() { echo "GET /$1 HTTP/1.0\\r\\n\\r\\n"; }
# run NAME HOST PORT PAYLOAD [GOFILE READYFILE]: the client in scope, its pid in NAME.pid
run() {
	local name=$1
	shift
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$SC" "$@"
}
spid() { cat "$T_TMP/$1.pid"; }
enrolled() { lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["stats"]["stream_enrolled"])'; }
# mark NAME: a later flow whose auth-connect event has arrived; events are in ring
# order, so a stream event of anything that ran before it would be in mon.json by now
mark() {
	run "$1" 127.0.0.1 $PROBE_PORT x >/dev/null
	ev_find pid="$(spid "$1")" layer=auth-connect >/dev/null || t_fail "marker $1: its event"
}
no_stream_events() { ! grep "\"pid\": *$(spid "$1")\b" "$T_TMP/mon.json" | grep -q '"layer": *"stream"'; }

st=$(lfp status --json)
mech=$(echo "$st" | $PY -c 'import json,sys
print(" ".join(l["state"] + ": " + l["mechanism"] for l in json.load(sys.stdin)["layers"] if l["name"] == "stream"))')
echo "stream: $mech" | t_diag
t_check "status: stream is enforced through sock_ops, sk_msg and sk_skb" \
	eval '[[ "$mech" == enforced:*"sock_ops stream enrollment"*sk_msg*"sk_skb verdict"* ]]'

# 1. no stream filter: no enrollment, no stream events, the data goes through
e0=$(enrolled)
r=$(run n0 127.0.0.1 $P1 "$(req none)")
t_expect "no stream filter: the reply arrives" "$REPLY_HEX" "$(json_get "$r" recv)"
mark m0
t_expect "no stream filter: no flow enrolled" "$e0" "$(enrolled)"
t_check "no stream filter: no stream events" no_stream_events n0

# 1b. a flow opened before any stream filter is enrolled by the commit that adds one
# (the iterator after each commit): its next message is judged
run ol 127.0.0.1 $P3 "$(req opened-before)" "$T_TMP/go0" "$T_TMP/ready0" >"$T_TMP/ol.out" &
T_PIDS+=($!)
olpid=$!
for i in $(seq 50); do [ -f "$T_TMP/ready0" ] && break; sleep 0.1; done
[ -f "$T_TMP/ready0" ] || t_fail "the flow opened before the filter sent its first half"
t_expect "an open flow, no stream filter yet: not enrolled" "$e0" "$(enrolled)"
oid=$(lfp filter add name sblk0 layer stream app $PY remote.port $P3 direction outbound block)
t_expect "the commit that adds a filter selecting it enrolls the open flow" $((e0 + 1)) \
	"$(enrolled)"
touch "$T_TMP/go0"
wait $olpid
t_expect "... and its next send() fails with EACCES" EACCES "$(json_get "$(cat "$T_TMP/ol.out")" send)"
lfp filter delete sblk0 >/dev/null || t_fail "filter delete sblk0"
e0=$(enrolled)

# 2. `callout count` on the app's flows to one port: each message, both directions, with
# its first bytes (an inspection callout never decides); a `log` filter under it
# reports each classification, with the direction, without bytes
lid=$(lfp filter add name slog layer stream app $PY permit log)
t_check "filter add layer stream app ... permit log prints an id" is_num "$lid"
cid=$(lfp filter add name scount layer stream app $PY remote.port $P1 callout count)
t_check "filter add layer stream ... callout count prints an id" is_num "$cid"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(run c$f $H $P1 "$(req count$f)")
	t_expect "IPv$f count: the reply arrives unchanged" "$REPLY_HEX" "$(json_get "$r" recv)"
	lp=$(json_get "$r" local_port)
	if ev=$(ev_find pid="$(spid c$f)" layer=stream direction=out filter_id=$cid); then
		t_expect "IPv$f out: the request's bytes" "$(hex "$(req count$f)")" \
			"$(json_get "$ev" data_hex)"
		t_expect "IPv$f out: length" "$(printf "$(req count$f)" | wc -c)" \
			"$(json_get "$ev" length)"
		t_expect "IPv$f out: shown as an inspection" inspect "$(json_get "$ev" verdict)"
		t_expect "IPv$f out: the flow" "$H $lp $P1 $f" "$(json_get "$ev" local_addr) \
$(json_get "$ev" local_port) $(json_get "$ev" remote_port) $(json_get "$ev" ipver)"
		t_expect "IPv$f out: the owner's executable" "$(readlink -f $PY)" "$(json_get "$ev" path)"
	else
		t_fail "IPv$f: an inspection event for the request"
	fi
	if ev=$(ev_find pid="$(spid c$f)" layer=stream direction=in filter_id=$cid); then
		t_expect "IPv$f in: the reply's bytes" "$REPLY_HEX" "$(json_get "$ev" data_hex)"
		t_expect "IPv$f in: length" "$(printf "$REPLY" | wc -c)" "$(json_get "$ev" length)"
		t_expect "IPv$f in: local port" "$lp" "$(json_get "$ev" local_port)"
	else
		t_fail "IPv$f: an inspection event for the reply"
	fi
	for d in out in; do
		if ev=$(ev_find pid="$(spid c$f)" layer=stream direction=$d filter_id=$lid); then
			t_expect "IPv$f $d: the log filter's event, no bytes" "permit -" \
				"$(json_get "$ev" verdict) $(json_get "$ev" data_hex)-"
		else
			t_fail "IPv$f $d: the log filter's event"
		fi
	done
done
hits=$(lfp filter list --json | $PY -c 'import json,sys
print([f["hits"] for f in json.load(sys.stdin) if f["name"] == "scount"][0])')
t_check "callout count counts each message and skb it saw (4 or more): $hits" \
	eval '[ "$hits" -ge 4 ]'
t_expect "count/log filters: both flows enrolled" $((e0 + 2)) "$(enrolled)"

# 3. block what the app sends to one port: send() fails, another port is unaffected
bid=$(lfp filter add name sblk layer stream app $PY remote.port $P2 direction outbound block)
t_check "filter add ... direction outbound block prints an id" is_num "$bid"
ex=$(lfp explain layer stream app $PY remote.port $P2 direction outbound | head -n 1)
t_expect "explain: outbound data to port $P2 is blocked by sblk" \
	"block (hard) by filter $bid (sblk) at stream" "$ex"
ex=$(lfp explain layer stream app $PY remote.port $P2 direction inbound | head -n 1)
t_expect "explain: inbound data from port $P2 is permitted by slog" \
	"permit by filter $lid (slog) at stream" "$ex"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(run b$f $H $P2 "$(req blocked$f)")
	t_expect "IPv$f block out: connect succeeds" ok "$(json_get "$r" connect)"
	t_expect "IPv$f block out: send() fails with EACCES" EACCES "$(json_get "$r" send)"
	if ev=$(ev_find pid="$(spid b$f)" layer=stream direction=out verdict=block); then
		t_expect "IPv$f block out: filter" "$bid" "$(json_get "$ev" filter_id)"
	else
		t_fail "IPv$f: a block event for the refused send"
	fi
	r=$(run o$f $H $P1 "$(req other$f)")
	t_expect "IPv$f block out: port $P1 unaffected" "ok $REPLY_HEX" \
		"$(json_get "$r" send) $(json_get "$r" recv)"
done

# 4. block what the app receives from another port: the data is discarded, the
# connection still ends with the server's FIN (no timeout)
iid=$(lfp filter add name sblkin layer stream app $PY remote.port $P3 direction inbound block)
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(run i$f $H $P3 "$(req inblock$f)")
	t_expect "IPv$f block in: the request is sent" ok "$(json_get "$r" send)"
	t_expect "IPv$f block in: nothing of the reply arrives, EOF does" "-" \
		"$(json_get "$r" recv)-$(json_get "$r" recv_timeout)"
	if ev=$(ev_find pid="$(spid i$f)" layer=stream direction=in verdict=block); then
		t_expect "IPv$f block in: filter" "$iid" "$(json_get "$ev" filter_id)"
	else
		t_fail "IPv$f: a block event for the discarded reply"
	fi
done
t_expect "status: stream_blocked counts the refused sends and skbs" 5 \
	"$(lfp status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["stats"]["stream_blocked"])')"

# 5. remove every stream filter while an enrolled flow is open: it keeps working
# (permit), and new flows are not enrolled
run lf 127.0.0.1 $P1 "$(req longflow)" "$T_TMP/go" "$T_TMP/ready" >"$T_TMP/lf.out" &
T_PIDS+=($!)
lfpid=$!
for i in $(seq 50); do [ -f "$T_TMP/ready" ] && break; sleep 0.1; done
[ -f "$T_TMP/ready" ] || t_fail "the long flow sent its first half"
lfp filter delete slog && lfp filter delete scount && lfp filter delete sblk &&
	lfp filter delete sblkin ||
	t_fail "filter delete"
e1=$(enrolled)
touch "$T_TMP/go"
wait $lfpid
r=$(cat "$T_TMP/lf.out")
t_expect "a flow enrolled before the filters went: still served" "ok $REPLY_HEX" \
	"$(json_get "$r" send) $(json_get "$r" recv)"
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(run a$f $H $P2 "$(req after$f)")
	t_expect "IPv$f after delete: port $P2 works again" "ok $REPLY_HEX" \
		"$(json_get "$r" send) $(json_get "$r" recv)"
done
mark m1
t_expect "after delete: no new flow enrolled" "$e1" "$(enrolled)"
t_check "after delete: no stream events for new flows" eval 'no_stream_events a4 && no_stream_events a6'

# 6. lfpd restarts (adoption): an enrolled flow stays in the pinned SOCKHASH and is judged
# by the new lfpd's programs (swapped in behind the pinned sockmap links)
lfp filter add name srs layer stream app $PY remote.port $P1 permit >/dev/null ||
	t_fail "filter add srs"
run rs 127.0.0.1 $P1 "$(req restart)" "$T_TMP/go2" "$T_TMP/ready2" >"$T_TMP/rs.out" &
T_PIDS+=($!)
rspid=$!
for i in $(seq 50); do [ -f "$T_TMP/ready2" ] && break; sleep 0.1; done
[ -f "$T_TMP/ready2" ] || t_fail "the flow across the restart sent its first half"
t_lfpd_stop TERM
t_lfpd_start
t_expect "after the restart (adopted): stream enforced" enforced "$(layer_status stream state)"
t_check "... through the sockmap links" eval '[[ "$(layer_status stream mechanism)" == *sk_msg*"sk_skb verdict"* ]]'
t_check "... the new programs swapped in behind the pinned links" \
	eval '! grep -q "sk_msg.*previous program\|sk_skb verdict.*previous program" "$T_TMP/lfpd.log"'
lfp filter add name srs-blk layer stream app $PY remote.port $P1 direction outbound block \
	>/dev/null || t_fail "filter add after the restart"
touch "$T_TMP/go2"
wait $rspid
t_expect "a flow enrolled before lfpd restarted: its next send() is refused by the new policy" \
	EACCES "$(json_get "$(cat "$T_TMP/rs.out")" send)"
