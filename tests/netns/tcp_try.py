#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# tcp_try.py HOST PORT [TIMEOUT_S]: one TCP connect with a bounded wait; prints
# ok | timeout | the errno name (ECONNREFUSED, EPERM, ...)
import errno, socket, sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 2)
try:
    s.connect((host, port))
    print("ok")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
