#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad input at the API: malformed, mistyped, unknown and oversized requests get an
# error reply naming what is wrong, nothing changes, and lfpd stays up.
. "$(dirname "$0")/lib.sh"
t_setup
t_listen
t_lfpd_start

# raw SOCK: send the given request lines (or bytes) as the given uid, print the replies
raw() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups -- $PY - "$T_SOCK" "$@" <<'PY'
import json, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
if mode == "lines":
    for line in sys.argv[3:]:
        s.sendall(line.encode() + b"\n")
elif mode == "big":          # one line of N bytes
    n = int(sys.argv[3])
    try:
        s.sendall(b'{"op":"status","pad":"' + b"x" * n + b'"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
elif mode == "binary":
    s.sendall(bytes(range(256)) + b"\n")
elif mode == "partial":      # half a request, then hang up
    s.sendall(b'{"op":"filter.add","te')
    s.close()
    sys.exit(0)
s.shutdown(socket.SHUT_WR)
buf = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(buf.decode(errors="replace"))
PY
}

# reply N from a reply stream: "ok exit error"
field() { $PY -c 'import json,sys
r=[json.loads(l) for l in sys.stdin if l.strip()][int(sys.argv[1])]
print(r.get("ok"), r.get("exit"), r.get("error",""))' "$1"; }

out=$(raw 0 lines 'this is not json' '[1,2]' '{"op":42}' '{"op":"nope"}' \
	'{"op":"filter.add"}' '{"op":"filter.add","text":17}' \
	'{"op":"filter.add","text":"layer auth-connect remote.port 99999 block"}' \
	'{"op":"filter.add","text":"layer auth-connect block","lifetime":"forever"}' \
	'{"op":"filter.delete","target":"no-such-filter"}' '{"op":"status","id":7}')
t_expect "eight error replies and two others, in order" 10 "$(printf '%s\n' "$out" | grep -c .)"
t_check "not JSON: error, exit 1" eval "printf '%s\n' \"\$out\" | field 0 | grep -q '^False 1 malformed request'"
t_check "not an object: error" eval "printf '%s\n' \"\$out\" | field 1 | grep -q '^False 1 malformed request: not a JSON object'"
t_check "op not a string: names field 'op'" eval "printf '%s\n' \"\$out\" | field 2 | grep -q \"field 'op'\""
t_check "unknown op: named" eval "printf '%s\n' \"\$out\" | field 3 | grep -q \"unknown operation 'nope'\""
t_check "filter.add without text: names field 'text'" eval "printf '%s\n' \"\$out\" | field 4 | grep -q \"field 'text'\""
t_check "filter.add with a number for text: names field 'text'" eval "printf '%s\n' \"\$out\" | field 5 | grep -q \"field 'text'\""
t_check "out-of-range port: a location-bearing parse error" eval "printf '%s\n' \"\$out\" | field 6 | grep -q '^False 1 .*65535'"
t_check "bad lifetime: names field 'lifetime'" eval "printf '%s\n' \"\$out\" | field 7 | grep -q \"field 'lifetime'\""
t_check "delete of an unknown filter: exit 1, named" eval "printf '%s\n' \"\$out\" | field 8 | grep -q \"^False 1 .*no-such-filter\""
t_check "a good request after bad ones in the same connection works, id echoed" eval \
	"printf '%s\n' \"\$out\" | sed -n 10p | grep -q '\"id\": *7'"
t_expect "nothing was added" "" "$(filter_ids)"

out=$(raw 65534 big $((5 << 20)))
t_check "5 MiB from an unprivileged client: 'message too large'" eval "printf '%s' \"\$out\" | grep -q 'message too large'"
t_check "lfpd is still up after it" eval "lfp status >/dev/null"
out=$(raw 0 big $((6 << 20)))
t_check "6 MiB from root (rule-file sized) is accepted" eval "printf '%s' \"\$out\" | grep -q '\"ok\": *true'"
out=$(raw 0 binary)
t_check "binary garbage: an error reply" eval "printf '%s' \"\$out\" | grep -q '\"ok\": *false'"
raw 0 partial >/dev/null
t_check "half a request then hang-up: lfpd is still up" eval "lfp status >/dev/null"

# many clients at once that connect and vanish
$PY - "$T_SOCK" <<'PY'
import socket, sys
socks = []
for i in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    if i % 2:
        s.sendall(b'{"op":"status"}')  # no newline: never complete
    socks.append(s)
for s in socks:
    s.close()
PY
t_check "200 clients that connect and vanish: lfpd is still up" eval "lfp status >/dev/null"
t_check "the daemon still enforces: a block added now works" eval \
	"lfp filter add layer auth-connect remote.port $P1 block >/dev/null"
t_expect "... and is enforced" EPERM "$(py_tcp 127.0.0.1 $P1)"

# a set quoted against the shell's brace expansion is still a set
lfp filter add layer auth-connect remote.port "{$P2, $P3}" block >/dev/null 2>"$T_TMP/err"
t_expect "filter add with a quoted set exits 0" 0 $?
t_expect "... and blocks the set's second port" EPERM "$(py_tcp 127.0.0.1 $P3)"
