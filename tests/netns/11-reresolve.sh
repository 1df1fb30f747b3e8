#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `app PATH` follows the path: when the file is replaced (rename over it, as package
# upgrades do, or delete and create), lfpd re-resolves the identity within 2 s; the
# old file (still reachable through a hard link) is no longer matched.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

A=$T_TMP/app
mkdir "$A" "$T_TMP/keep"
cp "$(readlink -f $PY)" "$A/tool" || t_bail "copy python"
ln "$A/tool" "$T_TMP/keep/old-tool" || t_bail "hard link"
tool_py() { # BIN -> ok | EPERM | ...
	json_get "$(in_scope "$1" "$CLIENT" tcp 127.0.0.1 $P1 2>/dev/null)" result
}
t_expect "python copy as tool works before the rule" ok "$(tool_py "$A/tool")"

lfp filter add name tool layer auth-connect app "$A/tool" block >/dev/null ||
	t_bail "filter add app $A/tool"
t_expect "rule on $A/tool blocks it" EPERM "$(tool_py "$A/tool")"
t_expect "... and its hard link (same identity)" EPERM "$(tool_py "$T_TMP/keep/old-tool")"
t_expect "... not /usr/bin/python3" ok "$(py_tcp 127.0.0.1 $P1)"

# poll_blocked DESC CHECKCMD...: CHECKCMD prints the verdict; a block must come within 2 s
poll_blocked() {
	local desc=$1 start ms v
	shift
	start=$(date +%s%N)
	while :; do
		v=$("$@")
		ms=$((($(date +%s%N) - start) / 1000000))
		case $v in eperm | EPERM) break ;; esac
		[ $ms -ge 2000 ] && break
		sleep 0.05
	done
	case $v in
	eperm | EPERM) t_ok "$desc (after $ms ms)" ;;
	*) t_fail "$desc (still '$v' after $ms ms)" ;;
	esac
}

# replace by rename: curl now lives at the path
cp $CURL "$A/.tool.new" && mv -f "$A/.tool.new" "$A/tool" || t_bail "replace by rename"
poll_blocked "after rename-over, the new file (curl) at $A/tool is blocked" \
	curl_try --bin "$A/tool" "http://127.0.0.1:$P1/"
t_expect "the old file (hard link to the replaced inode) is no longer blocked" ok \
	"$(tool_py "$T_TMP/keep/old-tool")"
t_expect "curl at its own path is not blocked (another identity)" ok \
	"$(curl_try "http://127.0.0.1:$P1/")"

# delete, then create: the path matches nothing in between, then the new file
rm -f "$A/tool"
cp "$(readlink -f $PY)" "$A/tool" || t_bail "create again"
poll_blocked "after delete and create, the new file at $A/tool is blocked" \
	tool_py "$A/tool"
e=$(lfp explain --json layer auth-connect app "$A/tool" proto tcp remote.addr 127.0.0.1 \
	remote.port $P1)
t_expect "explain for the rule's path (the new file) says block" block "$(json_get "$e" verdict)"
