# SPDX-License-Identifier: MIT
# N concurrent TCP connects from one process (threads), one line per connect when it
# finishes: "INDEX LOCALPORT RESULT SECONDS" (ok | ECONNABORTED | timeout | ...). Before
# connecting, each thread prints "INDEX LOCALPORT start" after binding, so the test can
# tell the held flows apart by local port.
# Usage: pend_many.py HOST PORT N TIMEOUT
import errno, socket, sys, threading, time
host, port, n, tmo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
lock = threading.Lock()
t0 = time.monotonic()
def out(s):
    with lock:
        print(s, flush=True)
def one(i):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind(("::1" if ":" in host else "127.0.0.1", 0))
    lp = s.getsockname()[1]
    out("%d %d start" % (i, lp))
    s.settimeout(tmo)
    try:
        s.connect((host, port))
        r = "ok"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    out("%d %d %s %.3f" % (i, lp, r, time.monotonic() - t0))
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
out("done")
