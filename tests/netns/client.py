#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Short-lived clients for the netns suite. Every blocking call has a timeout.
# Prints one JSON object on stdout; exit 0 when everything asked for worked,
# 3 when the (first) failure was EPERM, 4 for any other failure.
#
#   client.py tcp HOST PORT            connect, send an HTTP request, read the reply
#   client.py udp HOST PORT,PORT,...   one unconnected socket sendto()s each port
#                                      (twice: the second send takes the cached path),
#                                      then collects echoes: {"PORT": "delivered"|"EPERM"|...}
#   client.py udpconn HOST PORT        connected UDP: connect(), send(), recv()
#   client.py udpwait HOST PORT GOFILE one unconnected socket: sendto, wait (<= 5 s) for
#                                      GOFILE to exist, sendto again on the same socket:
#                                      {"first": ..., "second": ...} (a policy change in
#                                      between must reach a socket that sent before)
#   client.py execv PATH ARGV0 ARG...  execv(PATH, [ARGV0, ARG...]): argv[0] spoofing
import errno
import json
import os
import select
import socket
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno \
        else type(e).__name__


def out(obj, rc):
    print(json.dumps(obj), flush=True)
    sys.exit(rc)


def tcp(host, port):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        local = s.getsockname()[1]
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = s.recv(4096)
    except OSError as e:
        out({"result": err_name(e), "pid": os.getpid()}, 3 if e.errno == errno.EPERM else 4)
    finally:
        s.close()
    ok = data.startswith(b"HTTP/1.0 200")
    out({"result": "ok" if ok else "bad-reply", "local_port": local, "pid": os.getpid()},
        0 if ok else 4)


def udp(host, ports):
    ports = [int(p) for p in ports.split(",")]
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.setblocking(False)
    res = {}
    for rnd in range(2):
        for p in ports:
            try:
                s.sendto(b"%d:%d" % (p, rnd), (host, p))
                res.setdefault(p, "sent")
            except OSError as e:
                # both rounds must agree: a cached verdict may not differ from the first
                prev = res.get(p)
                res[p] = err_name(e) if prev in (None, err_name(e)) else "inconsistent"
    deadline = time.monotonic() + 2
    want = {p for p, r in res.items() if r == "sent"}
    while want and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        data, peer = s.recvfrom(65535)
        if peer[1] in want:
            res[peer[1]] = "delivered"
            want.discard(peer[1])
    for p in want:
        res[p] = "lost"
    s.close()
    bad = [r for r in res.values() if r != "delivered"]
    out({str(p): r for p, r in res.items()},
        0 if not bad else 3 if all(r == "EPERM" for r in bad) else 4)


def udpconn(host, port):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect((host, int(port)))
        s.send(b"hello")
        data = s.recv(4096)
    except OSError as e:
        out({"result": err_name(e)}, 3 if e.errno == errno.EPERM else 4)
    finally:
        s.close()
    out({"result": "ok" if data.startswith(b"echo:") else "bad-reply"}, 0)


def udpwait(host, port, gofile):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    res = {}

    def one(key):
        try:
            s.sendto(key.encode(), (host, int(port)))
            s.recvfrom(65535)
            res[key] = "delivered"
        except OSError as e:
            res[key] = err_name(e)

    one("first")
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + 5
    while not os.path.exists(gofile) and time.monotonic() < deadline:
        time.sleep(0.05)
    one("second")
    s.close()
    out(res, 0)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tcp":
        tcp(*args)
    elif cmd == "udp":
        udp(*args)
    elif cmd == "udpconn":
        udpconn(*args)
    elif cmd == "udpwait":
        udpwait(*args)
    elif cmd == "execv":
        os.execv(args[0], args[1:])
    else:
        sys.exit("client.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
