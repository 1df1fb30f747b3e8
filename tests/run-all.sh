#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every test lfp has, in one run: install, build, then
#   unit tests under ASan/UBSan, each fuzzer briefly over its corpus,
#   the privileged kernel smoke test, the kernel evaluator against the oracle
#   (BPF_PROG_TEST_RUN) and the netns suite (real hooks, real clients).
# Prints TAP-ish lines per test and ends with exactly one line `N passed, N failed`.
# Usage: tests/run-all.sh [--no-install] [--only unit|fuzz|kern|netns]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
install=1
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-install) install=0 ;;
	--only) only=$2; shift ;;
	*) echo "usage: $0 [--no-install] [--only unit|fuzz|kern|netns]" >&2; exit 2 ;;
	esac
	shift
done

passed=0
failed=0
failures=()

# count TAP lines from a file; a non-zero exit with no failure line counts as one failure
tally() { # name file rc
	local name=$1 file=$2 rc=$3 p f
	p=$(grep -cE '^ok ' "$file" || true)
	f=$(grep -cE '^not ok ' "$file" || true)
	grep -E '^not ok ' "$file" | sed "s/^/[$name] /" >&2 || true
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >&2
		tail -n 20 "$file" >&2
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failures+=("$name")
}

want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

if [ $install = 1 ]; then
	./scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
fi
./scripts/build.sh --asan || { echo "0 passed, 1 failed"; exit 1; }

tmp=$(mktemp -d /tmp/lfp-tests.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if want unit; then
	echo "# unit tests (ASan + UBSan)"
	for t in build-asan/tests/unit/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		n=$(basename "$t")
		CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			LFP_SRCDIR="$ROOT" "$t" >"$tmp/$n.out" 2>&1
		rc=$?
		grep -E '^(ok|not ok) ' "$tmp/$n.out" | sed "s/^/  /" | grep -v '^  ok' || true
		tally "$n" "$tmp/$n.out" $rc
	done
fi

if want fuzz && [ -x tests/fuzz/run.sh ]; then
	echo "# fuzzers over their corpora"
	tests/fuzz/run.sh "${LFP_FUZZ_SECONDS:-10}" >"$tmp/fuzz.out" 2>&1
	rc=$?
	cat "$tmp/fuzz.out" | grep -E '^(ok|not ok)' | sed 's/^/  /'
	tally fuzz "$tmp/fuzz.out" $rc
fi

if want kern && [ -x build/tests/harness/kern_smoke ]; then
	echo "# kernel smoke test (own cgroup + netns)"
	CMOCKA_MESSAGE_OUTPUT=TAP build/tests/harness/kern_smoke >"$tmp/kern.out" 2>&1
	rc=$?
	grep -E '^not ok' "$tmp/kern.out" | sed 's/^/  /'
	tally kern_smoke "$tmp/kern.out" $rc
fi

if want kern && [ -x build/tests/harness/test_bpf_diff ]; then
	echo "# kernel evaluator against the oracle (BPF_PROG_TEST_RUN)"
	CMOCKA_MESSAGE_OUTPUT=TAP build/tests/harness/test_bpf_diff >"$tmp/bpf_diff.out" 2>&1
	rc=$?
	grep -E '^(not ok|# kernel differential)' "$tmp/bpf_diff.out" | sed 's/^/  /'
	# a mismatch report is the diagnosis: show it before $tmp goes
	[ "$rc" = 0 ] || grep -vE '^(ok|not ok) ' "$tmp/bpf_diff.out" | sed 's/^/  /' >&2
	tally test_bpf_diff "$tmp/bpf_diff.out" $rc
fi

if want kern && [ -x build/tests/harness/test_pkt_fuzz ]; then
	echo "# packet parser: kernel against user space on random packets (BPF_PROG_TEST_RUN)"
	LFP_PKT_CASES=${LFP_PKT_CASES:-20000} CMOCKA_MESSAGE_OUTPUT=TAP \
		build/tests/harness/test_pkt_fuzz >"$tmp/pkt_fuzz.out" 2>&1
	rc=$?
	grep -E '^(not ok|# packet parser)' "$tmp/pkt_fuzz.out" | sed 's/^/  /'
	[ "$rc" = 0 ] || grep -vE '^(ok|not ok) ' "$tmp/pkt_fuzz.out" | sed 's/^/  /' >&2
	tally test_pkt_fuzz "$tmp/pkt_fuzz.out" $rc
fi

if want netns && [ -x tests/netns/run.sh ]; then
	echo "# netns suite (lfpd on real hooks, real clients)"
	tests/netns/run.sh >"$tmp/netns.out" 2>&1
	rc=$?
	grep -E '^(ok|not ok)' "$tmp/netns.out" | sed 's/^/  /'
	tally netns "$tmp/netns.out" $rc
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "# failing: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
