#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install lfp from BUILD-DIR into a temporary destdir and compile session_demo.c
# against it with pkg-config alone, as an outside user would: proves that the
# installed headers are complete (<lfp/client.h>, <lfp/lfp.h> and what they
# include) and that lfp.pc links. The program is left at OUT.
# Usage: check-installed.sh BUILD-DIR OUT
set -euo pipefail
build=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "$0")" && pwd)
dest=$(mktemp -d /tmp/lfp-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null
pc=$(find "$dest" -name lfp.pc -print -quit)
[ -n "$pc" ] || { echo "check-installed: no lfp.pc installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
cflags=$(pkg-config --cflags lfp)
libs=$(pkg-config --libs lfp)
# every public header compiles on its own with -Werror (the lfp_*.h ones are shared with
# the BPF side and come in through them: lfp_abi.h wants its includer's integer types)
n=0
for h in "$dest"/usr/local/include/lfp/*.h; do
	case $(basename "$h") in lfp_*.h) continue ;; esac
	if ! printf '#include <lfp/%s>\n' "$(basename "$h")" |
		cc -std=gnu11 -Wall -Wextra -Werror $cflags -fsyntax-only -x c - 2>"$dest/err"; then
		head -n 5 "$dest/err" >&2
		echo "check-installed: <lfp/$(basename "$h")> does not compile alone" >&2
		exit 1
	fi
	n=$((n + 1))
done
[ $n -ge 9 ] || { echo "check-installed: only $n public headers installed" >&2; exit 1; }
# nothing from the source tree: only the destdir's headers and library
cc -std=gnu11 -Wall -Wextra -Werror $cflags -o "$out" "$here/session_demo.c" $libs
echo "check-installed: $out built against $(dirname "$pc")"
