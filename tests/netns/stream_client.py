#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A TCP client for 35-stream: connects to HOST PORT, sends PAYLOAD, reads until the
# peer closes (2 s at most), prints one JSON line: the local port, what send() did
# ("ok" or the errno name) and the bytes it received (hex).
# With GOFILE, PAYLOAD is sent in two halves: the second once GOFILE exists (10 s at
# most), so a test can change the policy while the flow is open; READYFILE is written
# after the first half.
# Usage: stream_client.py HOST PORT PAYLOAD [GOFILE READYFILE]
import errno
import json
import os
import socket
import sys
import time

# PAYLOAD may carry \r, \n and \xNN escapes (arguments cannot end with a newline)
host, port = sys.argv[1], int(sys.argv[2])
payload = sys.argv[3].encode().decode("unicode_escape").encode("latin1")
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(2)
res = {"connect": "ok", "send": "ok", "recv": ""}
try:
    s.connect((host, port))
except OSError as e:
    res["connect"] = errno.errorcode.get(e.errno, str(e.errno))
    print(json.dumps(res))
    sys.exit(0)
res["local_port"] = s.getsockname()[1]
parts = [payload]
if len(sys.argv) > 5:
    parts = [payload[: len(payload) // 2], payload[len(payload) // 2 :]]
try:
    for i, part in enumerate(parts):
        if i:
            open(sys.argv[5], "w").close()
            for _ in range(100):
                if os.path.exists(sys.argv[4]):
                    break
                time.sleep(0.1)
        s.sendall(part)
except OSError as e:
    res["send"] = errno.errorcode.get(e.errno, str(e.errno))
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    res["recv_timeout"] = True
except OSError as e:
    res["recv_error"] = errno.errorcode.get(e.errno, str(e.errno))
res["recv"] = data.hex()
print(json.dumps(res))
