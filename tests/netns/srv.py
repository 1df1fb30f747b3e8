#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Listeners for the netns suite, run inside the test's namespace (never in the test
# cgroup): a tiny HTTP/1.0 responder per tcp:HOST:PORT and an echo per udp:HOST:PORT.
# Writes READYFILE once every socket is bound, so the caller never races the bind.
# Usage: srv.py READYFILE SPEC...   (SPEC: tcp:127.0.0.1:8080, tcp:[::1]:8080, udp:0.0.0.0:9001)
import os
import socket
import sys
import threading

REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def parse(spec):
    proto, rest = spec.split(":", 1)
    host, port = rest.rsplit(":", 1)
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return proto, fam, host, int(port)


def tcp_conn(c):
    try:
        c.settimeout(2)
        data = b""
        while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < 8192:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.sendall(REPLY)
    except OSError:
        pass
    finally:
        c.close()


def tcp_loop(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def udp_loop(s):
    while True:
        data, peer = s.recvfrom(65535)
        try:
            s.sendto(b"echo:" + data, peer)
        except OSError:
            pass


def main():
    ready, specs = sys.argv[1], sys.argv[2:]
    socks = []
    for spec in specs:
        proto, fam, host, port = parse(spec)
        s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        if proto == "tcp":
            s.listen(64)
        socks.append((proto, s))
    for proto, s in socks:
        t = tcp_loop if proto == "tcp" else udp_loop
        threading.Thread(target=t, args=(s,), daemon=True).start()
    with open(ready + ".tmp", "w") as f:
        f.write(str(os.getpid()) + "\n")
    os.rename(ready + ".tmp", ready)
    threading.Event().wait()


if __name__ == "__main__":
    main()
