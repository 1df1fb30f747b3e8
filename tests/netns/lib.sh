# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared setup for the netns suite. A test script sources this file, calls t_setup
# (cgroup + netns + temp dir + listeners), t_lfpd_start, runs clients with in_scope
# and reports each check with t_ok / t_fail / t_check. Everything it created is
# removed by the EXIT trap, also when the script fails or is interrupted.
#
# Safety: BPF is attached only to the test's own cgroup (lfpd --cgroup), lfpd and
# every client run inside the test's own network namespace (entered with nsenter,
# never `ip netns exec`, which would hide /sys/fs/cgroup and /sys/fs/bpf), traffic
# goes only to loopback inside that namespace, and lfpd never sees a default path.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LFP_BUILD=${LFP_BUILD:-$ROOT/build}
LFPD=$LFP_BUILD/daemon/lfpd
LFP_BIN=$LFP_BUILD/cli/lfp
PY=/usr/bin/python3
CLIENT=$HERE/client.py
CURL=/usr/bin/curl
T_NAME=$(basename "$0" .sh)

# ports inside each test's own namespace (no clash between tests: one netns each)
P1=8080 P2=8081 P3=8082
U1=9001 U2=9002 U3=9003 U4=9004 U5=9005
PROBE_PORT=7 # nothing listens: a refused connect that still produces an event

T_CG="" T_NS="" T_TMP="" T_BPFFS="" T_SOCK="" T_STATE=""
T_LFPD_PID="" T_PIDS=() T_CLEANUPS=()
T_FAILED=0

# ---- TAP ----

t_ok() { echo "ok - $T_NAME: $*"; }
t_fail() {
	echo "not ok - $T_NAME: $*"
	T_FAILED=1
}
t_diag() { sed 's/^/# /'; }

# t_check DESC CMD...: one check from a command's exit status
t_check() {
	local desc=$1
	shift
	if "$@"; then t_ok "$desc"; else t_fail "$desc"; fi
}

is_num() { [[ $1 =~ ^[0-9]+$ ]]; }

# t_expect DESC WANT GOT: one check from an equality, with a diagnostic on failure
t_expect() {
	if [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_fail "$1"
		echo "expected '$2', got '$3'" | t_diag
	fi
}

# a setup step that failed ends the script: nothing after it would mean anything
t_bail() {
	t_fail "setup: $*"
	[ -n "$T_TMP" ] && [ -f "$T_TMP/lfpd.log" ] && tail -n 20 "$T_TMP/lfpd.log" | t_diag
	exit 1
}

# ---- setup and cleanup ----

cg2_mount() { awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts; }

t_setup() {
	local cg2 suf
	[ "$(id -u)" = 0 ] || t_bail "the netns suite needs root"
	[ -x "$LFPD" ] && [ -x "$LFP_BIN" ] || t_bail "no lfpd/lfp in $LFP_BUILD (build first)"
	cg2=$(cg2_mount)
	[ -n "$cg2" ] || t_bail "no cgroup2 mount in /proc/mounts"
	suf="${T_NAME//[^a-z0-9]/}-$$"
	trap t_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	T_TMP=$(mktemp -d "/tmp/lfp-netns-$suf.XXXXXX") || t_bail "mktemp"
	chmod 755 "$T_TMP" # unprivileged clients must reach the socket
	T_SOCK=$T_TMP/lfp.sock
	T_STATE=$T_TMP/state
	mkdir -p "$T_STATE"
	T_BPFFS=/sys/fs/bpf/lfp-test-$suf
	T_CG=$cg2/lfp-test-$suf
	mkdir "$T_CG" || {
		T_CG=""
		t_bail "mkdir test cgroup under $cg2"
	}
	T_NS=lfpt-$suf
	ip netns add "$T_NS" || {
		T_NS=""
		t_bail "ip netns add"
	}
	ns_run ip link set lo up || t_bail "lo up"
	ns_run sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 >/dev/null 2>&1 || true
	# the local copy of lfp is what unprivileged users run (the build dir may be private)
	cp "$LFP_BIN" "$T_TMP/lfp" && chmod 755 "$T_TMP/lfp" || t_bail "copy lfp"
	LFP_BIN=$T_TMP/lfp
}

# ns_run CMD...: in the test's netns, in this script's cgroup (not filtered)
ns_run() { nsenter --net="/run/netns/$T_NS" -- "$@"; }

# t_peer_ns A4 B4 A6 B6: a second namespace $EXT (ext_run runs in it) joined to the
# test namespace by veth-a (test side: A4/24, A6/64) and veth-b (peer side: B4, B6);
# removed by t_cleanup, also on failure
ext_run() { nsenter --net="/run/netns/$EXT" -- "$@"; }
ext_cleanup() { ip netns del "$EXT" 2>/dev/null; return 0; }
t_peer_ns() {
	EXT=${T_NS}-x
	T_CLEANUPS+=(ext_cleanup)
	ip netns add "$EXT" || t_bail "ip netns add $EXT"
	ns_run ip link add veth-a type veth peer name veth-b || t_bail "veth"
	ns_run ip link set veth-b netns "$EXT" || t_bail "veth into the peer namespace"
	ns_run ip addr add "$1/24" dev veth-a && ns_run ip -6 addr add "$3/64" dev veth-a nodad &&
		ns_run ip link set veth-a up || t_bail "addresses (test side)"
	ext_run ip link set lo up && ext_run ip addr add "$2/24" dev veth-b &&
		ext_run ip -6 addr add "$4/64" dev veth-b nodad && ext_run ip link set veth-b up ||
		t_bail "addresses (peer side)"
}

# t_bg CMD...: start CMD in the background, remember its pid for cleanup
t_bg() {
	"$@" &
	T_PIDS+=($!)
}

# t_listen: TCP on 127.0.0.1 (all of 127/8 via 0.0.0.0) and ::1 on P1..P3, UDP echo on U1..U5
t_listen() {
	local specs=() p i
	for p in $P1 $P2 $P3; do specs+=("tcp:0.0.0.0:$p" "tcp:[::1]:$p"); done
	for p in $U1 $U2 $U3 $U4 $U5; do specs+=("udp:0.0.0.0:$p" "udp:[::1]:$p"); done
	nsenter --net="/run/netns/$T_NS" -- $PY "$HERE/srv.py" "$T_TMP/srv.ready" "${specs[@]}" \
		>"$T_TMP/srv.log" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do
		[ -f "$T_TMP/srv.ready" ] && return 0
		kill -0 "${T_PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T_TMP/srv.log" | t_diag
	t_bail "listeners did not come up"
}

# t_lfpd_start [EXTRA OPTS]: lfpd in the test's netns with every path explicit
t_lfpd_start() {
	local i
	[ -n "$T_CG" ] && [ -n "$T_NS" ] || t_bail "lfpd without cgroup or netns"
	nsenter --net="/run/netns/$T_NS" -- "$LFPD" --foreground --cgroup "$T_CG" \
		--socket "$T_SOCK" --state-dir "$T_STATE" --bpffs "$T_BPFFS" "$@" \
		>>"$T_TMP/lfpd.log" 2>&1 &
	T_LFPD_PID=$!
	# loading verifies ~40 programs: seconds on a loaded 2-CPU machine
	for i in $(seq 300); do
		if ! kill -0 "$T_LFPD_PID" 2>/dev/null; then
			wait "$T_LFPD_PID" 2>/dev/null
			T_LFPD_PID=""
			t_bail "lfpd exited at start"
		fi
		lfp status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	t_bail "lfpd socket did not answer within 30 s"
}

# t_lfpd_stop [SIGNAL]: stop lfpd and wait for it (bounded); default SIGTERM
t_lfpd_stop() {
	local sig=${1:-TERM} i
	[ -n "$T_LFPD_PID" ] || return 0
	kill -"$sig" "$T_LFPD_PID" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$T_LFPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$T_LFPD_PID" 2>/dev/null; then
		echo "lfpd did not stop on SIG$sig within 10 s; killing it" | t_diag
		kill -KILL "$T_LFPD_PID" 2>/dev/null
	fi
	wait "$T_LFPD_PID" 2>/dev/null
	T_LFPD_PID=""
}

# lfpd --unload for the test's pins, inside the test's netns (it may remove netfilter
# rules, which must be the namespace's, never the machine's)
t_lfpd_unload() {
	[ -n "$T_NS" ] && [ -n "$T_BPFFS" ] || return 1
	nsenter --net="/run/netns/$T_NS" -- "$LFPD" --bpffs "$T_BPFFS" --unload
}

# ns_sweep: kill every process left in this test's namespaces ($T_NS and the
# $T_NS-* ones a script adds), lfpd excepted (it is stopped and unloaded below).
# A server started with `ns_run ... &` is a child of a subshell whose pid is
# what $! gives: killing that pid left the server running in a deleted namespace.
ns_sweep() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns == "$T_NS" || $ns == "$T_NS"-* ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[ "$pid" = "$T_LFPD_PID" ] || kill -KILL "$pid" 2>/dev/null
		done
	done
}

t_cleanup() {
	local rc=$? pid i fn alive
	trap - EXIT INT TERM
	[ -n "$T_NS" ] && ns_sweep
	for fn in "${T_CLEANUPS[@]}"; do eval "$fn" || true; done
	[ -n "$T_LFPD_PID" ] && t_lfpd_stop TERM
	# background processes: SIGTERM, at most 2 s, then SIGKILL (cleanup never hangs)
	for pid in "${T_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for i in $(seq 20); do
		alive=0
		for pid in "${T_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${T_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	for pid in "${T_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	if [ -n "$T_NS" ] && [ -n "$T_BPFFS" ]; then
		t_lfpd_unload >/dev/null 2>&1 || true
	fi
	# only pins of this test, and only if --unload left any
	[ -n "$T_BPFFS" ] && [ -e "$T_BPFFS" ] && rm -rf "$T_BPFFS"
	if [ -n "$T_CG" ] && [ -d "$T_CG" ]; then
		# whatever is still in the test cgroup was started by this test
		for i in $(seq 50); do
			# (cgroup files have size 0: test the content, not -s)
			[ -n "$(cat "$T_CG/cgroup.procs" 2>/dev/null)" ] || break
			while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$T_CG/cgroup.procs"
			sleep 0.1
		done
		rmdir "$T_CG" 2>/dev/null || echo "# cleanup: could not remove $T_CG"
	fi
	[ -n "$T_NS" ] && ip netns del "$T_NS" 2>/dev/null
	if [ -n "$T_TMP" ] && [ -d "$T_TMP" ]; then
		if [ "$T_FAILED" = 1 ] && [ -f "$T_TMP/lfpd.log" ]; then
			echo "# lfpd log (last 30 lines):"
			tail -n 30 "$T_TMP/lfpd.log" | t_diag
		fi
		rm -rf "$T_TMP"
	fi
	[ "$T_FAILED" = 0 ] || rc=1
	exit "$rc"
}

# ---- clients ----

# lfp ARGS...: the client, talking to the test's daemon (from this script's context)
lfp() { "$LFP_BIN" --socket "$T_SOCK" "$@"; }

# in_scope CMD...: a fresh process that first joins the test cgroup, then enters the
# test netns and execs CMD (same pid throughout: sh -> nsenter -> CMD are execs).
# With SCOPE_PIDFILE set, that pid is written there.
in_scope() {
	/bin/sh -c 'cg=$1 ns=$2 pf=$3; shift 3
		echo $$ >"$cg/cgroup.procs" || exit 125
		[ -z "$pf" ] || echo $$ >"$pf"
		exec nsenter --net="/run/netns/$ns" -- "$@"' \
		sh "$T_CG" "$T_NS" "${SCOPE_PIDFILE:-}" "$@"
}

# NOBODY: prefix for in_scope, drops to uid/gid 65534 with no supplementary groups
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)

# curl_try [--bin PATH] [--nobody] URL: one curl in scope; prints ok | eperm | fail:RC
# (eperm only when the connect itself failed with "Operation not permitted")
curl_try() {
	local bin=$CURL pre=()
	while :; do
		case $1 in
		--bin) bin=$2; shift 2 ;;
		--nobody) pre=("${NOBODY[@]}"); shift ;;
		*) break ;;
		esac
	done
	in_scope "${pre[@]}" "$bin" -sv --max-time 3 -o /dev/null "$1" 2>"$T_TMP/curl.err"
	curl_verdict $?
}

# curl_verdict RC: classify a finished curl from its rc and $T_TMP/curl.err
curl_verdict() {
	local rc=$1
	if [ "$rc" = 0 ]; then
		echo ok
	elif grep -q "Operation not permitted" "$T_TMP/curl.err"; then
		echo eperm
	else
		echo "fail:$rc"
	fi
}

# py_tcp HOST PORT: a fresh python process connects; prints ok | EPERM | ...
py_tcp() {
	local r
	r=$(in_scope $PY "$CLIENT" tcp "$1" "$2")
	json_get "$r" result
}

# json_get JSON KEY: one top-level value of a JSON object ("" when absent)
json_get() {
	$PY -c 'import json,sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2], "")
except Exception:
    v = "unparsable:" + sys.argv[1][:80]
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}

# ---- events ----

# mon_start: `lfp monitor --json` into $T_TMP/mon.json, ready once a probe event arrived
mon_start() {
	local i
	: >"$T_TMP/mon.json"
	"$LFP_BIN" --socket "$T_SOCK" monitor --json >"$T_TMP/mon.json" 2>"$T_TMP/mon.err" &
	T_MON_PID=$!
	T_PIDS+=($T_MON_PID)
	for i in $(seq 30); do
		in_scope $PY "$CLIENT" tcp 127.0.0.1 $PROBE_PORT >/dev/null 2>&1
		sleep 0.1
		grep -q "\"remote_port\": *$PROBE_PORT\b" "$T_TMP/mon.json" && return 0
	done
	cat "$T_TMP/mon.err" | t_diag
	return 1
}

# ev_find KEY=VALUE...: print the first event in mon.json with all these values (as text)
# and succeed, waiting up to 3 s for it to arrive
ev_find() {
	local i
	for i in $(seq 30); do
		$PY - "$T_TMP/mon.json" "$@" <<'EOF' && return 0
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[2:])
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if all(str(ev.get(k)) == v for k, v in want.items()):
        print(json.dumps(ev))
        sys.exit(0)
sys.exit(1)
EOF
		sleep 0.1
	done
	return 1
}

# filter_ids: the sorted ids of the daemon's filters, one line
filter_ids() {
	lfp filter list --json | $PY -c 'import json,sys
print(" ".join(str(f["id"]) for f in sorted(json.load(sys.stdin), key=lambda f: f["id"])))'
}

# filter_texts: id and rule text of every filter (what must not change), one per line
filter_texts() {
	lfp filter list --json | $PY -c 'import json,sys
for f in sorted(json.load(sys.stdin), key=lambda f: f["id"]):
    print(f["id"], f.get("name"), f["text"])'
}

# status_get KEY: one top-level value of `lfp status --json`
# layer_status LAYER KEY: that layer's KEY (state, mechanism, ...) from `lfp status --json`
layer_status() {
	lfp status --json | $PY -c 'import json,sys
print([l[sys.argv[2]] for l in json.load(sys.stdin)["layers"] if l["name"] == sys.argv[1]][0])' "$1" "$2"
}
status_get() { json_get "$(lfp status --json)" "$1"; }
