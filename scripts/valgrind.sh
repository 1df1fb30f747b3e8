#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The unit tests of a non-sanitized build under valgrind (memcheck, leak check):
# a test fails when it fails on its own or when valgrind finds an error or a leak.
# ASan and valgrind do not mix, so this builds its own directory (default
# build-valgrind/, release-ish, no BPF needed). Ends with `N passed, N failed`.
# Usage: scripts/valgrind.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
dir=${1:-build-valgrind}

if ! command -v valgrind >/dev/null; then
	echo "valgrind: not installed (scripts/install-deps.sh installs it)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" -Dbpf=false -Db_sanitize=none >/dev/null ||
		{ echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$dir" >/dev/null || { echo "build failed" >&2; echo "0 passed, 1 failed"; exit 1; }

tmp=$(mktemp -d /tmp/lfp-valgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
for t in "$dir"/tests/unit/test_*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	n=$(basename "$t")
	CMOCKA_MESSAGE_OUTPUT=TAP LFP_SRCDIR="$ROOT" \
		valgrind --quiet --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --track-origins=yes \
		--log-file="$tmp/$n.vg" "$t" >"$tmp/$n.out" 2>&1
	rc=$?
	if [ $rc = 0 ] && [ ! -s "$tmp/$n.vg" ]; then
		echo "ok - $n"
		passed=$((passed + 1))
	else
		echo "not ok - $n (exit $rc)"
		grep -E '^not ok' "$tmp/$n.out" | sed 's/^/  /'
		sed 's/^/  /' "$tmp/$n.vg" | head -n 40
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
