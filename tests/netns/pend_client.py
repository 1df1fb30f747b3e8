# SPDX-License-Identifier: MIT
# A client for the pend tests: connects (TCP) or sends and waits for the echo (UDP,
# connected or not), prints "RESULT SECONDS" once: ok | ECONNABORTED | EPERM | timeout | ...
# Usage: pend_client.py tcp|udp|udpc|hold HOST PORT [TIMEOUT]
# hold: TCP; after "ok ..." keeps the connection and prints "ended ERR" when it ends.
import errno, socket, sys, time
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
tmo = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
t0 = time.monotonic()
def done(res):
    print("%s %.3f" % (res, time.monotonic() - t0), flush=True)
    sys.exit(0)
try:
    if kind in ("tcp", "hold"):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(tmo)
        s.connect((host, port))
        if kind == "tcp":
            done("ok")
        print("ok %.3f" % (time.monotonic() - t0), flush=True)
        s.settimeout(None)
        try:
            r = s.recv(100)
            print("ended", "EOF" if not r else "data", flush=True)
        except OSError as e:
            print("ended", errno.errorcode.get(e.errno, str(e.errno)), flush=True)
        sys.exit(0)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(tmo)
    if kind == "udpc":
        s.connect((host, port))
        s.send(b"ping")
    else:
        s.sendto(b"ping", (host, port))
    s.recvfrom(100)
    done("ok")
except socket.timeout:
    done("timeout")
except OSError as e:
    done(errno.errorcode.get(e.errno, str(e.errno)))
