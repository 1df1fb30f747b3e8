#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target over its seed corpus for N seconds (default 20).
#   tests/fuzz/run.sh [SECONDS] [BUILDDIR]
# BUILDDIR defaults to $LFP_FUZZ_BUILD or build-fuzz/ in the source tree and is configured
# (CC=clang, -Dfuzz=true) when it does not exist yet. New inputs go to a
# scratch directory, never into the checked-in corpus; a crash leaves its
# input under the scratch directory and makes the script exit 1.
set -uo pipefail

secs=${1:-20}
build=${2:-${LFP_FUZZ_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-fuzz}}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src" -Dfuzz=true -Dbpf=false -Dtests=false >/dev/null ||
		{ echo "fuzz: meson setup failed" >&2; exit 2; }
fi
ninja -C "$build" tests/fuzz/fuzz_rule tests/fuzz/fuzz_conn tests/fuzz/fuzz_api \
	tests/fuzz/fuzz_redir >/dev/null ||
	{ echo "fuzz: build failed" >&2; exit 2; }

scratch=$(mktemp -d /tmp/lfp-fuzz.XXXXXX)
status=0
for target in rule conn api redir; do
	exe="$build/tests/fuzz/fuzz_$target"
	work="$scratch/$target"
	mkdir -p "$work/corpus" "$work/crash"
	"$exe" -max_total_time="$secs" -dict="$here/rule.dict" -artifact_prefix="$work/crash/" \
		-print_final_stats=1 "$work/corpus" "$here/corpus/$target" >"$work/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "ok - fuzz_$target: ${runs:-?} runs in ${secs}s, no crash"
	else
		status=1
		crash=$(ls "$work/crash" 2>/dev/null | head -1)
		echo "not ok - fuzz_$target: FAILED (exit $rc), input: $work/crash/${crash:-?}, log: $work/log"
	fi
done
[ $status -eq 0 ] && rm -rf "$scratch"
exit $status
