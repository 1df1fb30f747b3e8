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
	# packet layers and ICMP (issue 4): iperf3 between namespaces, ping
	iperf3 iputils-ping
	# redirect (issue 6): SOCKS5 upstreams, a DNS server over UDP, the redsocks peer
	microsocks dante-server dnsmasq-base redsocks socat
	# benchmarks against the peers (issue 7)
	gnuplot-nox nftables opensnitch
	# bench/run: its driver, the NFQUEUE peer, the perf profile
	jq libnetfilter-queue-dev linux-perf
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
	# Packages with services (opensnitch, dante-server, redsocks) must not start
	# them: tests and benchmarks run them themselves inside their own namespaces,
	# and a firewall daemon started in the main namespace would change its
	# netfilter rules. policy-rc.d refuses every start during the install.
	prc=/usr/sbin/policy-rc.d
	prc_saved=""
	if [ -e $prc ]; then
		prc_saved=$(mktemp)
		cp -p $prc "$prc_saved"
	fi
	printf '#!/bin/sh\nexit 101\n' >$prc
	chmod 755 $prc
	restore_prc() {
		if [ -n "$prc_saved" ]; then mv "$prc_saved" $prc; else rm -f $prc; fi
	}
	trap restore_prc EXIT
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	restore_prc
	trap - EXIT
	# and never at boot either
	for svc in opensnitch danted redsocks; do
		systemctl disable "$svc" >/dev/null 2>&1 || true
	done
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
