#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# External callouts at the stream layer (docs/stream.md, docs/callouts.md): an inspection
# callout's client (examples/inspect_callout) is told of each message and skb of the
# flows its filter selects, with their first bytes (LFP_EV_DATA -> lfp_callout_notify);
# so is a terminating callout, which cannot hold stream data (nothing pends). Neither
# changes what the application sends or receives. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start --no-log-permits
INSP=$LFP_BUILD/examples/inspect_callout
[ -x "$INSP" ] || t_bail "no $INSP"
SC=$HERE/stream_client.py
REPLY='HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
REPLY_HEX=$(printf "$REPLY" | od -An -tx1 | tr -d ' \n')
REPLY_LEN=$(printf "$REPLY" | wc -c)
req() { echo "GET /$1 HTTP/1.0\\r\\n\\r\\n"; }

# start_callout LOG ARGS...: inspect_callout in the background, ready when registered
start_callout() {
	local log=$1 i
	shift
	"$INSP" --socket "$T_SOCK" "$@" >"$log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do
		grep -q "registered" "$log" && return 0
		sleep 0.1
	done
	t_diag <"$log"
	return 1
}
# told LOG PATTERN: up to 3 s for a notification line matching PATTERN
told() {
	local i
	for i in $(seq 30); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.1
	done
	grep "notify" "$1" | tail -n 4 | t_diag
	return 1
}

start_callout "$T_TMP/insp.log" --name sinsp stream || t_bail "inspection callout at stream"
INSP_PID=${T_PIDS[-1]}
for H in 127.0.0.1 ::1; do
	if [ $H = ::1 ]; then f=6; else f=4; fi
	r=$(in_scope $PY "$SC" $H $P1 "$(req insp$f)")
	t_expect "IPv$f inspection callout: the reply arrives unchanged" "ok $REPLY_HEX" \
		"$(json_get "$r" send) $(json_get "$r" recv)"
	lp=$(json_get "$r" local_port)
	n=$(printf "$(req insp$f)" | wc -c)
	t_check "IPv$f: the client is told of the request with its $n bytes" told "$T_TMP/insp.log" \
		"callout=sinsp .*layer=stream .*local=$H:$lp remote=$H:$P1 .*data=$n\$"
	t_check "IPv$f: ... and of the reply with its $REPLY_LEN bytes" told "$T_TMP/insp.log" \
		"callout=sinsp .*layer=stream .*local=$H:$lp remote=$H:$P1 .*data=$REPLY_LEN\$"
done
kill "$INSP_PID"
wait "$INSP_PID" 2>/dev/null

# a terminating callout cannot hold stream data: told the same way, nothing pends
start_callout "$T_TMP/term.log" --name sterm --type terminating stream ||
	t_bail "terminating callout at stream"
r=$(in_scope $PY "$SC" 127.0.0.1 $P2 "$(req term)")
t_expect "terminating callout at stream: nothing held, the reply arrives" "ok $REPLY_HEX" \
	"$(json_get "$r" send) $(json_get "$r" recv)"
lp=$(json_get "$r" local_port)
n=$(printf "$(req term)" | wc -c)
t_check "... its client is told of the request with its $n bytes" told "$T_TMP/term.log" \
	"callout=sterm .*layer=stream .*local=127.0.0.1:$lp remote=127.0.0.1:$P2 .*data=$n\$"
t_check "... and of the reply with its $REPLY_LEN bytes" told "$T_TMP/term.log" \
	"callout=sterm .*layer=stream .*local=127.0.0.1:$lp remote=127.0.0.1:$P2 .*data=$REPLY_LEN\$"
t_expect "... nothing is pending" "[]" "$(lfp pending --json | tr -d ' \n')"
