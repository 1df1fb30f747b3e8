#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build lfp into build/ (release-ish) and, with --asan, build-asan/ (ASan+UBSan, no BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
if [ "${1:-}" = "--asan" ]; then
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbpf=false >/dev/null
	fi
	ninja -C build-asan >/dev/null
fi
echo "build: ok"
