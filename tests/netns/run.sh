#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The netns suite: lfpd and lfp on the real kernel hooks with real, short-lived clients.
# Runs every tests/netns/NN-*.sh (or those whose name contains an argument, e.g.
# `run.sh 03 persist`), one after another, each in its own cgroup and network
# namespace, and prints TAP: `ok N - ...` / `not ok N - ...` per check, `#` lines
# for diagnostics, the plan last. Exits 1 when a check failed or a script died
# without reporting a failure (that counts as one failed check).
# Env: LFP_BUILD (default <repo>/build), LFP_NETNS_TIMEOUT (per script, default 240 s).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
limit=${LFP_NETNS_TIMEOUT:-240}
RC_MARK="__lfp_netns_rc="

if [ "$(id -u)" != 0 ]; then
	echo "not ok 1 - netns suite: needs root"
	echo "1..1"
	exit 1
fi

scripts=()
for t in "$HERE"/[0-9][0-9]-*.sh; do
	keep=$(($# == 0))
	for pat in "$@"; do [[ $(basename "$t") == *"$pat"* ]] && keep=1; done
	[ $keep = 1 ] && scripts+=("$t")
done

host_ns=$(readlink /proc/self/ns/net) # this suite's own namespace (pid 1's may be unreadable)
# orphans SECS: processes started in the last SECS seconds whose network namespace is
# neither the host's nor a named one: what a script left running in a namespace it
# deleted (other scripts' namespaces are named, so they are not counted)
orphans() {
	local named=" " f pid ppid et ns ino
	for f in /run/netns/*; do [ -e "$f" ] && named+="$(stat -L -c %i "$f") "; done
	[ -n "$host_ns" ] || return 0
	ps -eo pid=,ppid=,etimes= | while read -r pid ppid et; do
		[ "$et" -le "$1" ] && [ "$pid" != 2 ] && [ "$ppid" != 2 ] || continue # kthreads
		ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || continue
		[ "$ns" = "$host_ns" ] && continue
		ino=${ns#net:[}
		ino=${ino%]}
		[[ $named == *" $ino "* ]] || echo "$pid"
	done
}

n=0
failed=0
for t in "${scripts[@]}"; do
	name=$(basename "$t" .sh)
	echo "# $name"
	start=$SECONDS
	bad=0
	rc=""
	# timeout signals the script's process group; the script's EXIT trap cleans up
	while IFS= read -r line; do
		case $line in
		"ok - "*)
			n=$((n + 1))
			echo "ok $n - ${line#ok - }"
			;;
		"not ok - "*)
			n=$((n + 1))
			bad=$((bad + 1))
			echo "not ok $n - ${line#not ok - }"
			;;
		"$RC_MARK"*) rc=${line#"$RC_MARK"} ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < <(
		timeout -k 15 "$limit" bash "$t" 2>&1 </dev/null
		echo "$RC_MARK$?"
	)
	if [ "$rc" != 0 ] && [ $bad = 0 ]; then
		n=$((n + 1))
		bad=1
		why="exited with status $rc"
		[ "$rc" = 124 ] && why="timed out after $limit s"
		echo "not ok $n - $name: $why"
	fi
	left=$(orphans $((SECONDS - start + 1)))
	if [ -n "$left" ]; then
		n=$((n + 1))
		bad=$((bad + 1))
		# shellcheck disable=SC2086 # one pid a word
		echo "not ok $n - $name: left processes running: $(ps -o pid=,args= -p ${left//$'\n'/,} | cut -c1-100 | tr '\n' ';')"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null
	fi
	failed=$((failed + bad))
	echo "# $name: $((SECONDS - start)) s, $bad failed"
done
echo "1..$n"
[ $failed = 0 ]
