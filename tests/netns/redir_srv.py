#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Servers for the redirect tests, run in the test's namespace (outside the test cgroup):
#   banner:HOST:PORT   speaks first ("220 lfp-banner"), then closes
#   echo:HOST:PORT     echoes until the client half-closes, then half-closes
#   httpproxy:HOST:PORT  a minimal HTTP CONNECT proxy (status 200, then relays);
#                      CONNECT to port 1 answers 403, to port 2 a malformed status line
# Writes READYFILE once everything is bound.  Usage: redir_srv.py READYFILE SPEC...
import os
import resource
import socket
import sys
import threading


def parse(spec):
    kind, rest = spec.split(":", 1)
    host, port = rest.rsplit(":", 1)
    host = host.strip("[]")
    return kind, socket.AF_INET6 if ":" in host else socket.AF_INET, host, int(port)


def banner(c):
    c.sendall(b"220 lfp-banner\r\n")
    c.close()


def echo(c):
    c.settimeout(10)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    c.close()


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def httpproxy(c):
    c.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 8192:
        d = c.recv(4096)
        if not d:
            c.close()
            return
        data += d
    line = data.split(b"\r\n")[0].decode("latin1").split()
    if len(line) != 3 or line[0] != "CONNECT":
        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        c.close()
        return
    host, port = line[1].rsplit(":", 1)
    host = host.strip("[]")
    if port == "1":
        c.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        c.close()
        return
    if port == "2":
        c.sendall(b"HTTX/9 what\r\n\r\n")
        c.close()
        return
    try:
        u = socket.create_connection((host, int(port)), timeout=5)
    except OSError:
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        c.close()
        return
    c.sendall(b"HTTP/1.1 200 Connection established\r\nProxy-Agent: lfp-test\r\n\r\n")
    c.settimeout(None)
    u.settimeout(None)
    t = threading.Thread(target=pipe, args=(u, c), daemon=True)
    t.start()
    pipe(c, u)
    t.join(10)
    c.close()
    u.close()


def loop(s, fn):
    while True:
        c, _ = s.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()


def nofile_raise():
    # thousands of flows at once: one descriptor each (the default soft limit is 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main():
    nofile_raise()
    ready, specs = sys.argv[1], sys.argv[2:]
    fns = {"banner": banner, "echo": echo, "httpproxy": httpproxy}
    for spec in specs:
        kind, fam, host, port = parse(spec)
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(4096)
        threading.Thread(target=loop, args=(s, fns[kind]), daemon=True).start()
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()) + "\n")
    os.rename(ready + ".tmp", ready)
    threading.Event().wait()


main()
