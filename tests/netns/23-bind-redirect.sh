#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bind-redirect: `redirect to H:P` rewrites the local address and port of an explicit
# bind() before the kernel takes them (cgroup bind4/6): the socket ends up bound to the
# target, a client reaches it there, and a redirect event names the new local end and
# the one asked for (orig). TCP and UDP, IPv4 and IPv6; a bind the filter does not name
# is untouched; a redirect that cannot be carried out (an IPv6 target for an IPv4 socket)
# fails the bind with EPERM and a block event, never a silent bind.
. "$(dirname "$0")/lib.sh"
t_setup
t_lfpd_start
mon_start || t_bail "monitor stream did not show a probe event"

# bnd.py tcp|udp HOST PORT: bind, print the bound port (or the errno name), and for tcp
# listen and accept one connection (prints "accepted"), for udp echo one datagram
cat >"$T_TMP/bnd.py" <<'EOF'
import errno, socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
try:
    s.bind((host, port))
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    sys.exit(0)
print(s.getsockname()[1], flush=True)
s.settimeout(5)
try:
    if kind == "tcp":
        s.listen(4)
        c, _ = s.accept()
        print("accepted", flush=True)
    else:
        d, a = s.recvfrom(10)
        s.sendto(d, a)
        print("echoed", flush=True)
except socket.timeout:
    print("timeout", flush=True)
EOF
cat >"$T_TMP/cli.py" <<'EOF'
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.settimeout(2)
try:
    if kind == "tcp":
        s.connect((host, port))
    else:
        s.sendto(b"x", (host, port))
        s.recv(10)
    print("ok")
except OSError as e:
    print(type(e).__name__)
EOF
# bnd NAME KIND HOST PORT: the binder in scope, in the background; prints its first line
bnd() {
	local name=$1 i
	shift
	SCOPE_PIDFILE=$T_TMP/$name.pid in_scope $PY "$T_TMP/bnd.py" "$@" >"$T_TMP/$name.out" 2>&1 &
	T_PIDS+=($!)
	for i in $(seq 50); do [ -s "$T_TMP/$name.out" ] && break; sleep 0.1; done
	head -n 1 "$T_TMP/$name.out"
}
spid() { cat "$T_TMP/$1.pid"; }
# the binders run in command substitutions (their pids never reach T_PIDS): end them
# here and wait until they are gone, so the test cgroup can be removed
kill_binders() {
	local f pid i
	for f in "$T_TMP"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -KILL "$pid" 2>/dev/null
		for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	return 0
}
T_CLEANUPS+=(kill_binders)
line2() {
	local i
	for i in $(seq 30); do [ "$(wc -l <"$T_TMP/$1.out")" -ge 2 ] && break; sleep 0.1; done
	sed -n 2p "$T_TMP/$1.out"
}

t_expect "status: bind-redirect is enforced" enforced "$(layer_status bind-redirect state)"
t_expect "status: by bind4 and bind6" "bind4 + bind6" "$(layer_status bind-redirect mechanism)"

id4=$(lfp filter add name b4 layer bind-redirect local.port 9400 redirect to 127.0.0.1:9401)
t_check "filter add redirect to prints an id" is_num "$id4"
lfp filter add name b6 layer bind-redirect local.addr ::1 local.port 9410 redirect to "[::1]:9411" \
	>/dev/null || t_bail "filter add b6"
lfp filter add name bx layer bind-redirect ipver 4 local.port 9420 redirect to "[::1]:9421" \
	>/dev/null || t_bail "filter add bx"

for k in tcp udp; do
	t_expect "IPv4 $k: a bind to 9400 ends up on 9401" 9401 "$(bnd t4$k $k 127.0.0.1 9400)"
	t_expect "IPv4 $k: a client reaches it on 9401" ok "$(ns_run $PY "$T_TMP/cli.py" $k 127.0.0.1 9401)"
	t_expect "IPv4 $k: ... and the server saw it" "$([ $k = tcp ] && echo accepted || echo echoed)" \
		"$(line2 t4$k)"
	if ev=$(ev_find pid="$(spid t4$k)" layer=bind-redirect); then
		t_expect "IPv4 $k event: verdict" redirect "$(json_get "$ev" verdict)"
		t_expect "IPv4 $k event: filter id" "$id4" "$(json_get "$ev" filter_id)"
		t_expect "IPv4 $k event: the new local end" "127.0.0.1 9401" \
			"$(json_get "$ev" local_addr) $(json_get "$ev" local_port)"
		t_expect "IPv4 $k event: the one asked for" "127.0.0.1 9400" \
			"$(json_get "$ev" orig_addr) $(json_get "$ev" orig_port)"
		t_expect "IPv4 $k event: proto" $k "$(json_get "$ev" proto)"
	else
		t_fail "IPv4 $k: a bind-redirect event"
		tail -n 3 "$T_TMP/mon.json" | t_diag
	fi
done
t_expect "IPv6: a bind to [::1]:9410 ends up on 9411" 9411 "$(bnd t6 tcp ::1 9410)"
t_expect "IPv6: a client reaches it on 9411" ok "$(ns_run $PY "$T_TMP/cli.py" tcp ::1 9411)"
if ev=$(ev_find pid="$(spid t6)" layer=bind-redirect); then
	t_expect "IPv6 event: new and asked-for local end" "::1 9411 ::1 9410" \
		"$(json_get "$ev" local_addr) $(json_get "$ev" local_port) $(json_get "$ev" orig_addr) $(json_get "$ev" orig_port)"
	t_expect "IPv6 event: ipver" 6 "$(json_get "$ev" ipver)"
else
	t_fail "IPv6: a bind-redirect event"
fi
t_expect "a bind the filters do not name is untouched" 9402 "$(bnd n4 tcp 127.0.0.1 9402)"
t_check "... and not reported" eval '! ev_find pid="$(spid n4)" layer=bind-redirect >/dev/null'
t_expect "an IPv4 bind with only an IPv6 target fails" EPERM "$(bnd x4 tcp 127.0.0.1 9420)"
if ev=$(ev_find pid="$(spid x4)" layer=bind-redirect); then
	t_expect "... with a block event" block "$(json_get "$ev" verdict)"
else
	t_fail "a bind-redirect block event for the redirect that cannot be done"
fi
lfp filter delete b4 || t_fail "filter delete b4"
t_expect "after delete: a bind to 9400 stays on 9400" 9400 "$(bnd d4 tcp 127.0.0.1 9400)"

# explain says which layer acts: a redirect layer runs first on the same operation
lfp filter add name cr layer connect-redirect proto tcp remote.port 7777 \
	redirect to 127.0.0.1:9401 >/dev/null || t_bail "filter add connect-redirect"
acts() { $PY -c 'import json,sys
j = json.load(sys.stdin)
print(" ".join(j["acts"]), (j["before"] or {}).get("verdict", "-"))'; }
t_expect "explain auth-connect: connect-redirect acts first" \
	"connect-redirect auth-connect redirect" \
	"$(lfp --json explain layer auth-connect proto tcp remote.addr 127.0.0.1 remote.port 7777 | acts)"
t_check "explain text names the redirect that acts first" eval \
	'lfp explain layer auth-connect proto tcp remote.addr 127.0.0.1 remote.port 7777 |
		grep -q "acts first: connect-redirect, redirect by filter [0-9]* (cr)"'
t_expect "explain auth-connect of a flow no redirect names: auth-connect alone" \
	"auth-connect permit" \
	"$(lfp --json explain layer auth-connect proto tcp remote.addr 127.0.0.1 remote.port 7778 | acts)"
t_expect "explain resource-assignment: bind-redirect acts first" \
	"bind-redirect resource-assignment redirect" \
	"$(lfp --json explain layer resource-assignment proto tcp local.addr ::1 local.port 9410 | acts)"
t_expect "explain auth-listen: nothing runs before it" "auth-listen -" \
	"$(lfp --json explain layer auth-listen proto tcp local.port 9410 | acts)"
echo 'filter add name cr layer connect-redirect remote.port 7777 redirect to 127.0.0.1:9401' \
	>"$T_TMP/cr.lfp"
t_expect "offline explain says the same" "connect-redirect auth-connect redirect" \
	"$("$LFP_BIN" --json explain -f "$T_TMP/cr.lfp" layer auth-connect proto tcp remote.addr 127.0.0.1 remote.port 7777 | acts)"
