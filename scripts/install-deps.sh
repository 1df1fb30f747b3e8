#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what lfp needs to build, run and test on Debian 12, idempotently.
# Also: group `lfp` (may change policy), the BPF filesystem at /sys/fs/bpf.
set -euo pipefail

PKGS=(
	# build
	build-essential meson ninja-build pkg-config clang llvm
	libbpf-dev bpftool libelf-dev zlib1g-dev libjansson-dev
	# tests (unit, fuzz, netns clients)
	libcmocka-dev libclang-rt-14-dev valgrind iproute2 iptables curl python3 util-linux procps
	# benchmarks
	gnuplot-nox
)

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: run as root" >&2
	exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

getent group lfp >/dev/null || groupadd --system lfp

if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf
fi

if ! grep -q ' cgroup2 ' /proc/mounts; then
	echo "install-deps: no cgroup v2 hierarchy is mounted; lfp needs one" >&2
	exit 2
fi
echo "install-deps: ok"
