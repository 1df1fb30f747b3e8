#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fresh Debian 12 machine, as root: install what is needed, build, and run lfpd in
# the foreground in monitor mode (permit all, log all), printing live connections.
# Extra arguments go to lfpd (e.g. --cgroup /sys/fs/cgroup/unified/mygroup).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
exec ./build/daemon/lfpd --foreground "$@"
