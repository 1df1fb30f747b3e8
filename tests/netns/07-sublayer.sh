#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sublayer arbitration on the real hook, checked against `lfp explain`:
# a soft permit in a higher sublayer is overridden by a block in a lower one,
# a hard permit is not.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

lfp sublayer add high weight 200 >/dev/null || t_bail "sublayer add high"
lfp sublayer add low weight 100 >/dev/null || t_bail "sublayer add low"
subs=$(lfp sublayer list)
t_check "sublayer list shows both" eval 'grep -qw high <<<"$subs" && grep -qw low <<<"$subs"'

lfp filter add name soft-permit layer auth-connect sublayer high remote.port $P1 permit \
	>/dev/null || t_bail "filter add soft permit"
lfp filter add name low-block-1 layer auth-connect sublayer low remote.port $P1 block \
	>/dev/null || t_bail "filter add low block 1"
lfp filter add name hard-permit layer auth-connect sublayer high remote.port $P2 permit hard \
	>/dev/null || t_bail "filter add hard permit"
lfp filter add name low-block-2 layer auth-connect sublayer low remote.port $P2 block \
	>/dev/null || t_bail "filter add low block 2"

# explain_verdict PORT: the daemon's answer for curl to 127.0.0.1:PORT
explain_json() {
	lfp explain --json layer auth-connect app $CURL proto tcp remote.addr 127.0.0.1 \
		remote.port "$1"
}
explain_filter() { # JSON -> deciding filter's name
	$PY -c 'import json,sys
f = json.loads(sys.argv[1]).get("filter")
print(f.get("name") if f else "")' "$1"
}

k1=$(curl_try "http://127.0.0.1:$P1/")
t_expect "soft permit (high) + block (low): kernel blocks" eperm "$k1"
e1=$(explain_json $P1)
t_expect "soft permit + block: explain says block" block "$(json_get "$e1" verdict)"
t_expect "soft permit + block: explain names the low block" low-block-1 "$(explain_filter "$e1")"

k2=$(curl_try "http://127.0.0.1:$P2/")
t_expect "hard permit (high) + block (low): kernel permits" ok "$k2"
e2=$(explain_json $P2)
t_expect "hard permit + block: explain says permit" permit "$(json_get "$e2" verdict)"
t_expect "hard permit + block: explain names the hard permit" hard-permit "$(explain_filter "$e2")"

k3=$(curl_try "http://127.0.0.1:$P3/")
e3=$(explain_json $P3)
t_expect "no filter matches $P3: kernel permits" ok "$k3"
t_expect "no filter matches $P3: explain says permit" permit "$(json_get "$e3" verdict)"

# text form agrees too (first line starts with the verdict)
first=$(lfp explain layer auth-connect proto tcp remote.addr 127.0.0.1 remote.port $P1 | head -n1)
t_check "explain text: first line starts with block for $P1 ('$first')" \
	eval '[[ $first == block* ]]'

# the other way round: a block (hard unless `soft`) in the higher sublayer is final;
# a hard permit in the lower one cannot undo it
lfp sublayer delete high >/dev/null 2>&1
t_expect "deleting a sublayer that still has filters is refused (exit 1)" 1 $?
lfp filter delete soft-permit && lfp filter delete hard-permit || t_bail "filter delete"
lfp filter add name hard-permit-low layer auth-connect sublayer low remote.port $P3 permit hard \
	>/dev/null || t_bail "filter add"
lfp filter add name high-block layer auth-connect sublayer high remote.port $P3 block \
	>/dev/null || t_bail "filter add"
k4=$(curl_try "http://127.0.0.1:$P3/")
e4=$(explain_json $P3)
t_expect "block (high) + hard permit (low): kernel blocks" eperm "$k4"
t_expect "block (high) + hard permit (low): explain says block" block "$(json_get "$e4" verdict)"
t_expect "block (high) + hard permit (low): explain names the high block" high-block \
	"$(explain_filter "$e4")"
