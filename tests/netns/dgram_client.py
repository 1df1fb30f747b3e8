#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A DNS-like client for the datagram-data tests: one A query for NAME over UDP, one
# answer awaited (1.5 s). Prints one JSON object: {"result": "ok"|"EPERM"|"timeout"|...,
# "answer": "a.b.c.d" or "", "pid": PID}; exit 0 on an answer, 3 on EPERM, 4 otherwise.
#
#   dgram_client.py HOST PORT NAME
import errno
import json
import os
import socket
import struct
import sys


def query(name, qid):
    hdr = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return hdr + q + struct.pack("!HH", 1, 1)


def first_a(reply, qid):
    if len(reply) < 12 or struct.unpack("!H", reply[:2])[0] != qid:
        return ""
    an = struct.unpack("!H", reply[6:8])[0]
    off = 12
    while off < len(reply) and reply[off]:  # the question's name
        off += reply[off] + 1
    off += 5
    for _ in range(an):
        if off < len(reply) and reply[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while off < len(reply) and reply[off]:
                off += reply[off] + 1
            off += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", reply[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(reply[off:off + 4])
        off += rdlen
    return ""


def main():
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    qid = os.getpid() & 0xFFFF
    res = {"result": "ok", "answer": "", "pid": os.getpid()}
    rc = 0
    try:
        s.sendto(query(name, qid), (host, port))
        reply, _ = s.recvfrom(4096)
        res["answer"] = first_a(reply, qid)
    except socket.timeout:
        res["result"], rc = "timeout", 4
    except OSError as e:
        res["result"] = errno.errorcode.get(e.errno, str(e.errno))
        rc = 3 if e.errno == errno.EPERM else 4
    print(json.dumps(res), flush=True)
    sys.exit(rc)


main()
