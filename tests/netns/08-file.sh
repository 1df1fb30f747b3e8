#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rule files: an error on line 3 is reported as FILE:3:COL, exits 1 and applies
# nothing; a good file applied twice changes nothing; `lfp -c -f` needs no daemon.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen

D=$T_TMP/rules
mkdir "$D"
cat >"$D/bad-syntax.rules" <<EOR
provider t08
filter add name b1 layer auth-connect remote.port $P1 block
filter add name b2 layer auth-connect remote.prot $P2 block
EOR
cat >"$D/bad-sublayer.rules" <<EOR
provider t08
filter add name b1 layer auth-connect remote.port $P1 block
filter add name b2 layer auth-connect sublayer no-such-sublayer remote.port $P2 block
EOR
cat >"$D/good.rules" <<EOR
# two blocks, one in our own sublayer
provider t08
sublayer add t08 weight 300
filter add name g1 layer auth-connect sublayer t08 remote.port $P2 block
filter add name g2 layer auth-connect app $CURL \\
	remote.port $P3 block
EOR

# -c: no daemon needed (the socket does not exist), silent on success
out=$("$LFP_BIN" --socket "$T_TMP/no-such.sock" -c -f "$D/good.rules" 2>&1)
t_expect "lfp -c -f good file without a daemon exits 0" 0 $?
t_expect "lfp -c -f good file prints nothing" "" "$out"
out=$("$LFP_BIN" --socket "$T_TMP/no-such.sock" -c -f "$D/bad-syntax.rules" 2>&1)
t_expect "lfp -c -f bad file exits 1" 1 $?
t_check "lfp -c -f bad file reports FILE:3:COL" \
	grep -qE "^$D/bad-syntax.rules:3:[0-9]+: error" <<<"$out"
echo "$out" | t_diag

t_lfpd_start
lfp filter add name keep layer auth-connect remote.addr 127.0.0.9 block >/dev/null ||
	t_bail "filter add"
before=$(filter_texts)

for bad in bad-syntax bad-sublayer; do
	out=$(lfp -f "$D/$bad.rules" 2>&1)
	t_expect "$bad: lfp -f exits 1" 1 $?
	if grep -qE "^$D/$bad.rules:3:[0-9]+: error" <<<"$out"; then
		t_ok "$bad: error reported as FILE:3:COL"
	else
		t_fail "$bad: error reported as FILE:3:COL"
		echo "$out" | t_diag
	fi
	t_expect "$bad: filter list unchanged" "$before" "$(filter_texts)"
	t_expect "$bad: traffic unchanged (line 2's block on $P1 not applied)" ok \
		"$(py_tcp 127.0.0.1 $P1)"
done

lfp -f "$D/good.rules"
t_expect "good file: lfp -f exits 0" 0 $?
ids1=$(filter_ids)
texts1=$(filter_texts)
t_expect "good file: python to $P2 blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"
t_expect "good file: curl to $P3 blocked" eperm "$(curl_try "http://127.0.0.1:$P3/")"
t_expect "good file: python to $P3 works" ok "$(py_tcp 127.0.0.1 $P3)"
t_expect "good file: python to $P1 works" ok "$(py_tcp 127.0.0.1 $P1)"

lfp -f "$D/good.rules"
t_expect "good file again: exits 0" 0 $?
t_expect "good file again: same filter ids" "$ids1" "$(filter_ids)"
t_expect "good file again: same filters" "$texts1" "$(filter_texts)"
t_check "the cli provider's filter is left alone" grep -q " keep " <<<"$(filter_texts)"

# the file's provider holds exactly what the file says: drop g2, g1 keeps its id
g1=$(filter_texts | awk '$2 == "g1" { print $1 }')
grep -v -e '^filter add name g2' -e '^	remote.port' "$D/good.rules" >"$D/t08.rules"
lfp -f "$D/t08.rules"
t_expect "smaller file: exits 0" 0 $?
t_check "smaller file: g2 is gone" eval '! filter_texts | grep -q " g2 "'
t_expect "smaller file: g1 keeps its id" "$g1" "$(filter_texts | awk '$2 == "g1" { print $1 }')"
t_expect "smaller file: curl to $P3 works again" ok "$(curl_try "http://127.0.0.1:$P3/")"
t_expect "smaller file: python to $P2 still blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"

# export round-trips through -c
lfp export >"$D/export.rules"
t_expect "export exits 0" 0 $?
t_check "export output passes lfp -c -f" "$LFP_BIN" -c -f "$D/export.rules"
