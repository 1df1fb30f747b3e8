#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Clients for the redirect tests (50-59). One JSON object on stdout; every blocking call
# has a timeout.
#   redir_client.py tcp HOST PORT       connect, getpeername, send an HTTP request, read
#                                       the reply: {"result", "peer", "reply"}
#   redir_client.py banner HOST PORT    connect and only read (a server that speaks first)
#   redir_client.py big HOST PORT N     send N bytes, half-close, read the echo back
#                                       (sha256 of both)
#   redir_client.py turns HOST PORT N   the same in 64 KiB turns, without a half-close
#   redir_client.py udp HOST PORT,...   one unconnected socket sends to each port and
#                                       reports the source address of each reply
#   redir_client.py udpconn HOST PORT   connected UDP: send, recv, getpeername
#   redir_client.py many HOST PORT N    N connections open at once, each echoes its own line
#   redir_client.py dns HOST PORT NAME  one A query over unconnected UDP: {"answer", "from"}
import errno
import hashlib
import json
import os
import resource
import select
import socket
import sys
import time


def nofile_raise():
    # thousands of flows at once: one descriptor each (the default soft limit is 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ep(a):
    return "[%s]:%d" % (a[0], a[1]) if ":" in a[0] else "%s:%d" % (a[0], a[1])


def err(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    return errno.errorcode.get(e.errno, str(e.errno)) if getattr(e, "errno", None) else \
        type(e).__name__


def done(obj):
    print(json.dumps(obj), flush=True)
    sys.exit(0 if obj.get("result") == "ok" else 4)


def recv_all(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def tcp(host, port, mode, n=0):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(3)
    res = {}
    try:
        t0 = time.monotonic()
        s.connect((host, int(port)))
        res["peer"] = ep(s.getpeername())
        res["local"] = ep(s.getsockname())
        if mode == "tcp":
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = recv_all(s)
            res["reply"] = data.split(b"\r\n")[0].decode("latin1")
            res["result"] = "ok" if data.startswith(b"HTTP/1.0 200") else "bad-reply"
        elif mode == "banner":
            data = s.recv(4096)
            res["reply"] = data.decode("latin1").strip()
            res["result"] = "ok" if data else "eof"
        else:
            payload = os.urandom(int(n))
            s.settimeout(10)
            if mode == "big":
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                data = recv_all(s, len(payload) + 1)
            else:
                # no half-close (some proxies end both directions at the first EOF):
                # send and read back in turns
                data = b""
                for off in range(0, len(payload), 65536):
                    s.sendall(payload[off:off + 65536])
                    want = min(len(payload), off + 65536)
                    while len(data) < want:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
            res["sent"] = hashlib.sha256(payload).hexdigest()
            res["got"] = hashlib.sha256(data).hexdigest()
            res["result"] = "ok" if data == payload else "mismatch:%d" % len(data)
        res["ms"] = int((time.monotonic() - t0) * 1000)
    except OSError as e:
        res["result"] = err(e)
        res["ms"] = int((time.monotonic() - t0) * 1000)
    finally:
        s.close()
    done(res)


def udp(host, ports):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.setblocking(False)
    res = {"result": "ok", "from": {}}
    want = set()
    for p in ports.split(","):
        try:
            s.sendto(b"hello %s" % p.encode(), (host, int(p)))
            want.add(p)
        except OSError as e:
            res["from"][p] = err(e)
            res["result"] = "fail"
    deadline = time.monotonic() + 2
    while want and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
        if not r:
            break
        data, peer = s.recvfrom(65535)
        p = data.decode("latin1").rsplit(" ", 1)[-1]
        if p in want:
            res["from"][p] = ep(peer)
            want.discard(p)
    for p in want:
        res["from"][p] = "no-reply"
        res["result"] = "fail"
    done(res)


def udpconn(host, port):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    res = {}
    try:
        s.connect((host, int(port)))
        s.send(b"hello")
        data, peer = s.recvfrom(65535)
        res["from"] = ep(peer)
        res["peer"] = ep(s.getpeername())
        res["reply"] = data.decode("latin1")
        res["result"] = "ok"
    except OSError as e:
        res["result"] = err(e)
    done(res)


def many(host, port, n):
    nofile_raise()
    socks, res = [], {}
    t0 = time.monotonic()
    try:
        for i in range(int(n)):
            s = socket.socket(fam(host), socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect((host, int(port)))
            s.sendall(b"flow %d\n" % i)
            socks.append(s)
        bad = 0
        for i, s in enumerate(socks):
            want = b"flow %d\n" % i
            got = b""
            while len(got) < len(want):
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            bad += got != want
        res["open"] = len(socks)
        res["result"] = "ok" if not bad else "mismatch:%d" % bad
    except OSError as e:
        res["result"] = err(e)
        res["open"] = len(socks)
    finally:
        for s in socks:
            s.close()
    res["ms"] = int((time.monotonic() - t0) * 1000)
    done(res)


def dns(host, port, name):
    import struct
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    q = struct.pack(">HHHHHH", 0x4c46, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    res = {}
    try:
        s.sendto(q, (host, int(port)))
        data, peer = s.recvfrom(4096)
        res["from"] = ep(peer)
        an = struct.unpack(">H", data[6:8])[0]
        res["answer"] = socket.inet_ntoa(data[-4:]) if an else "none"
        res["result"] = "ok" if data[:2] == q[:2] and an else "bad-reply"
    except OSError as e:
        res["result"] = err(e)
    done(res)


def main():
    a = sys.argv[1:]
    if a[0] in ("tcp", "banner"):
        tcp(a[1], a[2], a[0])
    elif a[0] in ("big", "turns"):
        tcp(a[1], a[2], a[0], a[3])
    elif a[0] == "udp":
        udp(a[1], a[2])
    elif a[0] == "udpconn":
        udpconn(a[1], a[2])
    elif a[0] == "many":
        many(a[1], a[2], a[3])
    elif a[0] == "dns":
        dns(a[1], a[2], a[3])
    else:
        sys.exit("unknown mode " + a[0])


main()
