#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The boot-time set and the early loader. A boot-time filter is saved apart (boot.json),
# listed as (boot-time) and not enforced by a running lfpd. A "reboot" (lfpd stopped and
# --unload'ed: nothing enforced) followed by `lfpd --boot` (the test's own options) exits 0
# and leaves the boot-time block enforced by the pins with no lfpd running; a normal lfpd
# start then drops it (traffic flows) and enforces the persistent policy. `lfpd --boot`
# refuses to run beside a live lfpd. The systemd units in dist/ pass systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

# lfpd_boot: the early loader with the test's paths, in the test's netns (bounded)
lfpd_boot() {
	nsenter --net="/run/netns/$T_NS" -- timeout 30 "$LFPD" --boot --cgroup "$T_CG" \
		--socket "$T_SOCK" --state-dir "$T_STATE" --bpffs "$T_BPFFS" "$@"
}

pers=$(lfp filter add name pers layer auth-connect remote.port $P1 block) ||
	t_bail "filter add (persistent)"
out=$(lfp filter add --boot-time name early layer auth-connect remote.port $P2 block 2>&1)
t_expect "filter add --boot-time exits 0" 0 $?
boot=$(tail -n 1 <<<"$out")
t_check "filter add --boot-time prints the new id" is_num "$boot"
t_check "filter add --boot-time warns that lfpd does not enforce it" \
	grep -q "warning: .*lfpd --boot" <<<"$out"
t_check "filter list marks it (boot-time)" eval 'lfp filter list | grep -q "name early .*(boot-time)$"'
t_check "filter list marks nothing else (boot-time)" \
	eval '[ "$(lfp filter list | grep -c "(boot-time)")" = 1 ]'
t_expect "status counts it apart" 1 "$(status_get boot_time_filters)"
t_expect "status: 1 enforced filter" 1 "$(status_get filters)"
t_expect "running lfpd: the persistent block on $P1 is enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "running lfpd: the boot-time block on $P2 is not" ok "$(py_tcp 127.0.0.1 $P2)"
t_check "boot.json holds the boot-time filter" grep -q "remote.port $P2" "$T_STATE/boot.json"
t_check "policy.json does not" eval '! grep -q "remote.port $P2" "$T_STATE/policy.json"'
t_check "policy.json holds the persistent filter" grep -q "remote.port $P1" "$T_STATE/policy.json"
out=$(lfp export --boot-time)
t_check "export --boot-time has the boot-time filter" grep -q "name early" <<<"$out"
t_check "export --boot-time has no persistent filter" eval '! grep -q "name pers" <<<"$out"'
out=$(lfp export)
t_check "export has the persistent filter" grep -q "name pers" <<<"$out"
t_check "export has no boot-time filter" eval '! grep -q "name early" <<<"$out"'
out=$(lfp filter add --boot-time layer auth-connect sublayer nope block 2>&1)
t_expect "a boot-time filter in a missing sublayer: exit 1" 1 $?
lfp sublayer add rt weight 50 >/dev/null || t_bail "sublayer add"
out=$(lfp filter add --boot-time layer auth-connect sublayer rt block 2>&1)
t_expect "a boot-time filter in a persistent sublayer: exit 1" 1 $?
t_check "... with the lifetime mismatch explained" grep -q "boot-time set is enforced alone" \
	<<<"$out"
lfp sublayer delete rt >/dev/null || t_bail "sublayer delete"
out=$(lfpd_boot 2>&1)
t_expect "lfpd --boot beside a running lfpd exits 1" 1 $?
t_check "lfpd --boot says an lfpd runs" grep -q "an lfpd serves" <<<"$out"
t_expect "after the refused --boot: $P1 still blocked" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "after the refused --boot: $P2 still flows" ok "$(py_tcp 127.0.0.1 $P2)"

# ---- "reboot": lfpd gone, pins gone, nothing enforced ----
t_lfpd_stop TERM
t_lfpd_unload >/dev/null || t_bail "lfpd --unload"
t_expect "after --unload: $P1 flows" ok "$(py_tcp 127.0.0.1 $P1)"
t_expect "after --unload: $P2 flows" ok "$(py_tcp 127.0.0.1 $P2)"

# ---- the early loader ----
out=$(lfpd_boot 2>&1)
t_expect "lfpd --boot exits 0" 0 $?
echo "$out" | t_diag
t_check "lfpd --boot says what it enforces" grep -q "1 boot-time filters enforced" <<<"$out"
t_check "no lfpd is left running" eval '! pgrep -f -- "--bpffs $T_BPFFS" >/dev/null'
t_check "no socket: nothing serves the API" eval '! lfp status >/dev/null 2>&1'
t_expect "boot: the boot-time block on $P2 is enforced by the pins" EPERM \
	"$(py_tcp 127.0.0.1 $P2)"
t_expect "boot: over IPv6 too" EPERM "$(py_tcp ::1 $P2)"
t_expect "boot: the persistent block on $P1 is not (lfpd has not started)" ok \
	"$(py_tcp 127.0.0.1 $P1)"
t_expect "boot: $P3 flows" ok "$(py_tcp 127.0.0.1 $P3)"
t_check "boot: the state dir is untouched (boot.json still there)" \
	grep -q "remote.port $P2" "$T_STATE/boot.json"
out=$(lfpd_boot 2>&1)
t_expect "lfpd --boot again (adopting its own pins) exits 0" 0 $?
t_expect "boot again: $P2 still blocked" EPERM "$(py_tcp 127.0.0.1 $P2)"

# ---- lfpd starts: the persistent policy replaces the boot-time set ----
t_lfpd_start
t_expect "lfpd start: adopted the pins of lfpd --boot" true "$(status_get adopted)"
t_expect "lfpd start: the boot-time block is dropped ($P2 flows)" ok "$(py_tcp 127.0.0.1 $P2)"
t_expect "lfpd start: the persistent block on $P1 is enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"
t_expect "lfpd start: the boot-time filter is still listed, same id" "$boot" \
	"$(lfp filter list | awk '/\(boot-time\)$/ { print $1 }')"
t_expect "lfpd start: both ids, as before" "$pers $boot" "$(filter_ids)"

# ---- a boot-time file beside the provider's persistent objects; flush --boot-time ----
cat >"$T_TMP/early.lfp" <<EOR
provider early
sublayer add early-sub weight 300
filter add name early-file layer auth-connect sublayer early-sub remote.port $P3 block
EOR
lfp -f "$T_TMP/early.lfp" --boot-time 2>/dev/null
t_expect "lfp -f FILE --boot-time exits 0" 0 $?
lfp filter add --provider early name early-pers layer auth-connect remote.addr 127.0.0.9 block \
	>/dev/null || t_bail "filter add (provider early)"
t_expect "boot-time file: $P3 not enforced by lfpd" ok "$(py_tcp 127.0.0.1 $P3)"
lfp -f "$T_TMP/early.lfp" --boot-time 2>/dev/null
t_check "the boot-time file again leaves the provider's persistent filter" \
	eval 'lfp filter list | grep -q "name early-pers"'
t_check "export --boot-time --provider early gives the file back" \
	eval 'lfp export --boot-time --provider early | grep -q "sublayer add early-sub weight 300"'
lfp flush --boot-time
t_expect "flush --boot-time exits 0" 0 $?
t_expect "flush --boot-time: no boot-time filter left" 0 "$(status_get boot_time_filters)"
t_check "flush --boot-time: the persistent filters stay" \
	eval 'lfp filter list | grep -q "name pers" && lfp filter list | grep -q "name early-pers"'
t_check "flush --boot-time: boot.json is empty" eval '! grep -q "remote.port" "$T_STATE/boot.json"'

# ---- the systemd units ----
U=$ROOT/dist
t_check "dist/lfp-boot.service and dist/lfpd.service exist" \
	test -f "$U/lfp-boot.service" -a -f "$U/lfpd.service"
# unit_get FILE SECTION KEY: the key's values, space-joined (a minimal parser: it runs even
# without systemd, and pins the properties that make the early loader early)
unit_get() {
	$PY - "$@" <<'EOF'
import sys
path, section, key = sys.argv[1:]
cur, vals = None, []
for line in open(path):
    line = line.strip()
    if not line or line[0] in "#;":
        continue
    if line.startswith("[") and line.endswith("]"):
        cur = line[1:-1]
        continue
    if "=" not in line:
        sys.exit("not a unit line: " + line)
    k, v = line.split("=", 1)
    if cur == section and k.strip() == key:
        vals.append(v.strip())
print(" ".join(vals))
EOF
}
t_expect "lfp-boot.service: Type=oneshot" oneshot "$(unit_get "$U/lfp-boot.service" Service Type)"
t_expect "lfp-boot.service: ExecStart" "/usr/local/sbin/lfpd --boot" \
	"$(unit_get "$U/lfp-boot.service" Service ExecStart)"
t_expect "lfp-boot.service: DefaultDependencies=no" no \
	"$(unit_get "$U/lfp-boot.service" Unit DefaultDependencies)"
t_check "lfp-boot.service: Before=network-pre.target" \
	grep -qw network-pre.target <<<"$(unit_get "$U/lfp-boot.service" Unit Before)"
t_check "lfp-boot.service: Wants=network-pre.target" \
	grep -qw network-pre.target <<<"$(unit_get "$U/lfp-boot.service" Unit Wants)"
t_check "lfp-boot.service: After=local-fs.target" \
	grep -qw local-fs.target <<<"$(unit_get "$U/lfp-boot.service" Unit After)"
t_expect "lfp-boot.service: WantedBy=sysinit.target" sysinit.target \
	"$(unit_get "$U/lfp-boot.service" Install WantedBy)"
t_check "lfpd.service: After=lfp-boot.service" \
	grep -qw lfp-boot.service <<<"$(unit_get "$U/lfpd.service" Unit After)"
t_expect "lfpd.service: Restart=on-failure" on-failure \
	"$(unit_get "$U/lfpd.service" Service Restart)"
if command -v systemd-analyze >/dev/null; then
	# ExecStart names the installed path; a private mount namespace puts the built lfpd
	# there for the check without installing anything on this machine
	verify() {
		unshare -m --propagation private sh -c 'mount -t tmpfs lfp-test /usr/local/sbin &&
			cp "$1" /usr/local/sbin/lfpd && shift && systemd-analyze verify "$@"' \
			sh "$LFPD" "$@"
	}
	out=$(verify "$U/lfp-boot.service" "$U/lfpd.service" 2>&1)
	t_expect "systemd-analyze verify dist/*.service exits 0" 0 $?
	[ -z "$out" ] || echo "$out" | t_diag
	# the check can fail: a unit naming a missing program does
	sed 's|^ExecStart=.*|ExecStart=/nonexistent/lfpd --boot|' "$U/lfp-boot.service" \
		>"$T_TMP/lfp-boot.service"
	verify "$T_TMP/lfp-boot.service" >/dev/null 2>&1
	t_check "systemd-analyze verify fails for a broken unit" test $? != 0
else
	echo "# skipped: no systemd-analyze"
fi
