# SPDX-License-Identifier: MIT
# A callout client speaking lfpd's API directly (docs/api.md): opens a dynamic session,
# registers callout NAME of TYPE, adds the filters given (rule text after `filter add`),
# prints "ready", then one line per message:
#   classify id=N layer=L proto=P local=A:P remote=A:P   (answered with ANSWER unless "none")
#   deleted id=N proto=P direction=D cookie=C remote=A:P local=A:P
#   notify callout=N layer=L verdict=V remote=A:P
# Usage: callout_client.py SOCKET NAME TYPE ANSWER [--timeout-ms N] [--no-read]
#                          [--inspect NAME2] FILTER...
# --no-read: after "ready", never read again (lfpd's buffer for it fills up).
# --inspect NAME2: also register NAME2 as an inspection callout.
# --list: print callout.list's reply (JSON) after "ready" and exit.
import json, socket, sys, time

args = sys.argv[1:]
sock_path, name, ctype, answer = args[:4]
rest = args[4:]
timeout_ms = None
no_read = False
inspect = None
list_only = False
filters = []
while rest:
    a = rest.pop(0)
    if a == "--timeout-ms":
        timeout_ms = int(rest.pop(0))
    elif a == "--no-read":
        no_read = True
    elif a == "--inspect":
        inspect = rest.pop(0)
    elif a == "--list":
        list_only = True
    else:
        filters.append(a)

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
f = s.makefile("r")
queue = []


def call(req):
    s.sendall((json.dumps(req) + "\n").encode())
    while True:
        line = f.readline()
        if not line:
            print("eof", flush=True)
            sys.exit(1)
        m = json.loads(line)
        if "ok" in m:
            return m
        queue.append(m)


def check(rep, what):
    if not rep.get("ok"):
        print("error %s: %s" % (what, rep.get("error")), flush=True)
        sys.exit(1)
    return rep


check(call({"op": "session", "dynamic": True, "name": "callout_client"}), "session")
reg = {"op": "callout.register", "name": name, "type": ctype}
if timeout_ms is not None:
    reg["timeout_ms"] = timeout_ms
check(call(reg), "register")
if inspect:
    check(call({"op": "callout.register", "name": inspect, "type": "inspection"}), "register")
for t in filters:
    check(call({"op": "filter.add", "text": t}), "filter.add " + t)
print("ready", flush=True)
if list_only:
    print(json.dumps(check(call({"op": "callout.list"}), "list")["callouts"]), flush=True)
    sys.exit(0)
if no_read:
    while True:
        time.sleep(3600)


def ap(addr, port):
    return ("[%s]:%s" if ":" in str(addr) else "%s:%s") % (addr, port)


def handle(m):
    if "classify" in m:
        c = m["classify"]
        print("classify id=%d layer=%s proto=%s local=%s remote=%s" % (
            c["id"], c["layer"], c["proto"], ap(c["local"], c["lport"]),
            ap(c["remote"], c["rport"])), flush=True)
        if answer != "none":
            rep = call({"op": "pending.answer", "pending": c["id"], "verdict": answer})
            if not rep.get("ok"):
                print("answer %d: %s" % (c["id"], rep.get("error")), flush=True)
    elif "callout_flow_deleted" in m:
        d = m["callout_flow_deleted"]
        print("deleted id=%d proto=%s direction=%s cookie=%d remote=%s local=%s" % (
            d["id"], d["proto"], d.get("direction"), d["cookie"],
            ap(d.get("remote"), d.get("rport")), ap(d.get("local"), d.get("lport"))),
            flush=True)
    elif "classify_notify" in m:
        n = m["classify_notify"]
        e = n["event"]
        print("notify callout=%s layer=%s verdict=%s remote=%s" % (
            n["callout"], e["layer"], e["verdict"], ap(e["remote_addr"], e["remote_port"])),
            flush=True)


while True:
    while queue:
        handle(queue.pop(0))
    line = f.readline()
    if not line:
        print("eof", flush=True)
        sys.exit(0)
    handle(json.loads(line))
