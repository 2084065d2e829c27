#!/usr/bin/env python3
"""Concurrent clients spread evenly over the proxy's workers.

    worker_spread.py ROUNDS   (environment from imap_plain.sh:
                               TARGET_HOST, TARGET_PLAIN, PROXY_PID)

Each round waits until the workers hold no session, opens four sessions
on the plaintext listener, one after the other, logs each in, and then counts which worker holds each client
connection (the worker whose descriptors include the socket's inode).
With two workers the rounds must come out two and two: each new
connection goes to the worker that serves fewer sessions.  Without that,
whichever worker wins the accept race takes it, and four sessions often
land on one worker.  The balance is best effort by design: the heavier
worker gives way for at most 500 us (proxy/worker.c), and on a loaded
machine the lighter one may not get a CPU in that time, so one round in
ROUNDS may come out three and one.  Four and none in any round, or a
second uneven round, fails.  The sessions log out before the next round
starts.  Exit 1 with the per-round splits on failure.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Conn  # noqa: E402
from procs import children  # noqa: E402

E = os.environ
HOST = E["TARGET_HOST"]
PORT = int(E["TARGET_PLAIN"])
PARENT = int(E["PROXY_PID"])
LISTENERS = {PORT, int(E["TARGET_IMAP"]), int(E["TARGET_IMAPS"])}


def socket_inodes(pid):
    inodes = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(os.path.join(d, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    return inodes


def proxy_side_inodes(ports):
    """Inodes of the proxy's ends of client connections: local port in
    ports, established (state 01)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        local, state, inode = f[1], f[3], f[9]
        if state == "01" and int(local.split(":")[1], 16) in ports:
            found.add(inode)
    return found


def held(ws):
    """Client sessions each worker holds, on any of the proxy's ports."""
    mine = proxy_side_inodes(LISTENERS)
    return [len(mine & socket_inodes(w)) for w in ws]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    ws = children(PARENT)
    if len(ws) != 2:
        print("FAIL: want 2 workers, found %r" % ws)
        return 1
    splits = []
    for r in range(rounds):
        # Sessions of earlier steps would count in the balance: start
        # from none.
        deadline = time.monotonic() + 10
        while any(held(ws)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if any(held(ws)):
            print("FAIL: sessions still held before round %d: %r" %
                  (r + 1, held(ws)))
            return 1
        conns = []
        for i in range(4):
            c = Conn.open(HOST, PORT, tls="plain", timeout=30)
            c.login("alice", "alicepw")
            conns.append(c)
        split = sorted(held(ws))
        splits.append(split)
        for c in conns:
            c.cmd(b"Z", b"LOGOUT")
            c.close()
    print("splits per round (sessions per worker): %s" % splits)
    uneven = [s for s in splits if s != [2, 2]]
    if any(s != [1, 3] for s in uneven) or len(uneven) > 1:
        print("FAIL: four sessions were not spread two and two "
              "(one round of three and one allowed)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
