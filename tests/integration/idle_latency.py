#!/usr/bin/env python3
"""IDLE delivery latency through the target and directly, in the same run.

    idle_latency.py TARGET_PORT DIRECT_PORT CA LMTP_PORT N OUT_PREFIX

Two sessions for alice idle on INBOX: one through the target (implicit
TLS), one straight at Dovecot.  N messages are delivered over LMTP one at
a time; for each, the time from just before the LMTP transaction to the
"* n EXISTS" line on each session is recorded.  Writes OUT_PREFIX.target,
.direct and .delta (target - direct per delivery, milliseconds, one a
line).  Both sessions see the same delivery, so the paired delta cancels
Dovecot's own notification delay and shows only what the target adds.
"""
import os
import re
import select
import smtplib
import sys
import time

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Conn  # noqa: E402

EXISTS = re.compile(rb"^\* (\d+) EXISTS")

# Dovecot 2.3 does not announce a change the moment inotify reports it: it
# arms a 500 ms timer (NOTIFY_DELAY_MSECS in lib-storage/mailbox-watch.c)
# and also wakes on its own and other sessions' index-log writes.  With
# deliveries close together the timers of the two sessions drift out of
# phase and the per-delivery difference swings by +-450 ms on a plain
# Dovecot with no proxy at all.  Letting both sessions go quiet between
# deliveries puts both timers on the same event, so the paired difference
# measures the relay and not Dovecot's timer phase.
QUIET = 0.7


def open_idle(port, ca):
    c = Conn.open("localhost", port, "implicit", ca, timeout=10)
    c.login("alice", "alicepw")
    lines = c.cmd(b"s", b"SELECT INBOX")
    assert lines[-1].startswith(b"s OK"), lines
    n = 0
    for ln in lines:
        m = EXISTS.match(ln)
        if m:
            n = int(m.group(1))
    c.send(b"i IDLE\r\n")
    ln = c.line()
    assert ln.startswith(b"+"), ln
    return c, n


def main():
    tport, dport, ca, lport, n, out = sys.argv[1:7]
    n = int(n)
    conns = {}
    counts = {}
    for name, port in (("target", int(tport)), ("direct", int(dport))):
        conns[name], counts[name] = open_idle(port, ca)
    assert counts["target"] == counts["direct"], counts
    base = counts["target"]
    res = {"target": [], "direct": []}
    lmtp_ms = []
    for i in range(n):
        want = base + i + 1
        msg = ("From: idle@example.test\r\nTo: alice@example.test\r\n"
               "Subject: idle %d\r\nMessage-ID: <idle-%d@example.test>\r\n"
               "\r\nping %d\r\n" % (i, i, i))
        t0 = time.monotonic()
        with smtplib.LMTP("127.0.0.1", int(lport)) as l:
            l.sendmail("idle@example.test", ["alice"], msg)
        lmtp_ms.append((time.monotonic() - t0) * 1000)
        seen = {}
        deadline = t0 + 10
        while len(seen) < 2:
            for name, c in conns.items():
                if name in seen:
                    continue
                while c.buf.find(b"\r\n") >= 0 or c.sock.pending():
                    ln = c.line()
                    m = EXISTS.match(ln)
                    if m and int(m.group(1)) >= want:
                        seen[name] = (time.monotonic() - t0) * 1000
                        break
                    if not ln.startswith(b"*"):
                        raise AssertionError("%s: unexpected %r" % (name, ln))
            if len(seen) == 2:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("delivery %d: no EXISTS within 10 s on %s"
                                     % (i, [k for k in conns if k not in seen]))
            socks = [c.sock for k, c in conns.items() if k not in seen]
            r, _, _ = select.select(socks, [], [], left)
            for name, c in conns.items():
                if c.sock in r:
                    c._fill(time.monotonic() + 1)
        for name in res:
            res[name].append(seen[name])
        time.sleep(QUIET)
    for name, c in conns.items():
        c.send(b"DONE\r\n")
        lines = c.until_tagged(b"i")
        assert lines[-1].startswith(b"i OK"), (name, lines)
        c.cmd(b"z", b"LOGOUT")
        c.close()
    for name, vals in res.items():
        with open("%s.%s" % (out, name), "w") as f:
            f.write("".join("%.2f\n" % v for v in vals))
    with open(out + ".delta", "w") as f:
        f.write("".join("%.2f\n" % (a - b) for a, b in
                        zip(res["target"], res["direct"])))
    print("  %d deliveries; LMTP transaction median %.1f ms"
          % (n, sorted(lmtp_ms)[n // 2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
