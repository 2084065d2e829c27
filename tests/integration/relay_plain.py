#!/usr/bin/env python3
"""The relay's plaintext paths, compared with Dovecot's own answers.

    relay_plain.py   (environment from imap_plain.sh: TARGET_PLAIN,
                      TARGET_IMAPS, TARGET_HOST, TARGET_CA, DIRECT_PORT)

For each path (plaintext listener -> plaintext upstream; implicit-TLS
listener -> plaintext upstream) the same session runs through the proxy
and directly against Dovecot, and the responses must be identical:
a whole-mailbox UID FETCH of BODY.PEEK[] (every byte, literals included),
five commands pipelined in one packet, IDLE then DONE, CAPABILITY (the
proxy edits that line), the same fetch read by a client that stalls
first (the proxy must queue and pause, then catch up), and commands sent
a few bytes at a time (partial lines held between reads).  Two 3 MB
APPENDs ({n}, which must wait for Dovecot's "+", and {n+}) and a 600 KB
one sent with pauses inside its literal must land as the bytes sent, read back both directly and through the proxy; on the
plaintext-both-legs path these bodies and the big FETCH literals are
spliced (imap_plain.sh checks the proxy log for it).  COMPRESS must be
refused by the proxy with a tagged NO, and LOGOUT must deliver Dovecot's
BYE and tagged OK before the close.  Last, 200 TLS sessions that pipeline
SELECT, FETCH and LOGOUT behind their LOGIN, so the server answers and
closes within one read: every one must receive the whole answer before
the close (a deferred write callback once freed such sessions with their
last bytes unsent).  RELAY_ONLY=plain runs the plaintext path alone and
skips those sessions.  Exit 1 on the first difference.
"""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Closed, Conn, literal_len  # noqa: E402

E = os.environ
HOST = E["TARGET_HOST"]
CA = E["TARGET_CA"]
DIRECT = int(E["DIRECT_PORT"])
PATHS = [("plaintext both legs", int(E["TARGET_PLAIN"]), "plain"),
         ("TLS client, plaintext server", int(E["TARGET_IMAPS"]),
          "implicit")]
# RELAY_ONLY=plain: the plaintext path alone, without the TLS sessions
ONLY_PLAIN = E.get("RELAY_ONLY") == "plain"
if ONLY_PLAIN:
    PATHS = PATHS[:1]


def fail(msg):
    print("FAIL: " + msg)
    raise SystemExit(1)


def session(port, tls):
    c = Conn.open(HOST, port, tls=tls, ca=CA, timeout=30)
    r = c.login("alice", "alicepw")
    if not r[-1].startswith(b"L1 OK"):
        fail("login on %d: %r" % (port, r[-1]))
    return c


def fetch_all(c):
    t0 = time.monotonic()
    lines = c.cmd(b"f", b"UID FETCH 1:* (UID BODY.PEEK[])", timeout=120)
    secs = time.monotonic() - t0
    if not lines[-1].startswith(b"f OK"):
        fail("FETCH: %r" % lines[-1][:200])
    size = sum(len(x) for x in lines)
    return lines[:-1], size, secs


TIMING = re.compile(rb" \([0-9.]+ \+ [0-9.]+( \+ [0-9.]+)? secs\)")


def tagged_answers(c, want):
    """Lines until every tag in want has its tagged answer, timings
    removed, sorted (Dovecot may answer pipelined commands out of order)."""
    out = []
    while want:
        ln = c.line()
        want.discard(ln.split(b" ", 1)[0])
        out.append(TIMING.sub(b"", ln))
    return sorted(out)


def pipelined(c):
    """Dovecot may answer pipelined commands out of order: collect until
    every tag is back; compare as a sorted list, timings removed."""
    c.send(b"p1 NOOP\r\np2 STATUS INBOX (MESSAGES)\r\n"
           b"p3 UID SEARCH ALL\r\np4 EXAMINE INBOX\r\np5 NOOP\r\n")
    return tagged_answers(c, {b"p1", b"p2", b"p3", b"p4", b"p5"})


def capability(c):
    lines = c.cmd(b"k", b"CAPABILITY")
    if not lines[-1].startswith(b"k OK"):
        fail("CAPABILITY: %r" % lines[-1])
    return [TIMING.sub(b"", x) for x in lines]


def stalled_fetch(c):
    """Ask for the whole mailbox, read nothing for a second (the socket
    buffers fill and the proxy's queue passes its high watermark), then
    read it all."""
    c.send(b"g UID FETCH 1:* (UID BODY.PEEK[])\r\n")
    time.sleep(1.0)
    lines = c.until_tagged(b"g", timeout=120)
    if not lines[-1].startswith(b"g OK"):
        fail("stalled FETCH: %r" % lines[-1][:200])
    return lines[:-1]


def trickled(c):
    """Commands in pieces of 1 to 5 bytes, 2 ms apart: every read ends
    inside a line."""
    data = (b"t1 NOOP\r\nt2 STATUS INBOX (MESSAGES UIDNEXT)\r\n"
            b"t3 UID FETCH 1:2 (UID FLAGS RFC822.SIZE)\r\n")
    i = 0
    while i < len(data):
        n = 1 + i % 5
        c.send(data[i:i + n])
        i += n
        time.sleep(0.002)
    return tagged_answers(c, {b"t1", b"t2", b"t3"})


APPEND_BOX = b"relay-append"
APPENDUID = re.compile(rb"\[APPENDUID [0-9]+ ([0-9]+)\]")
APPEND_KIND = {False: "{n}", True: "{n+}", "paused": "{n+} with pauses"}


def big_message(seed, size):
    """A message of about size bytes, CRLF lines, different per seed."""
    head = (b"From: rep@example.test\r\nTo: buyer@example.test\r\n"
            b"Subject: appended %d\r\n\r\n" % seed)
    body = bytearray()
    i = 0
    while len(head) + len(body) < size:
        body += hashlib.sha256(b"%d.%d" % (seed, i)).hexdigest().encode()
        body += b"\r\n"
        i += 1
    return head + bytes(body)


def append(c, msg, nonsync):
    """APPEND msg with a synchronizing literal (the proxy must wait for
    Dovecot's "+") or a LITERAL+ one (sent at once); returns its UID."""
    if nonsync:
        c.send(b"a APPEND " + APPEND_BOX + b" {%d+}\r\n" % len(msg) + msg +
               b"\r\n")
    else:
        c.send(b"a APPEND " + APPEND_BOX + b" {%d}\r\n" % len(msg))
        cont = c.line()
        if not cont.startswith(b"+"):
            fail("APPEND: no continuation but %r" % cont[:200])
        c.send(msg + b"\r\n")
    r = c.until_tagged(b"a", timeout=60)
    m = APPENDUID.search(r[-1])
    if not r[-1].startswith(b"a OK") or m is None:
        fail("APPEND: %r" % r[-1][:200])
    return int(m.group(1))


def fetched_body(c, uid):
    """The literal of UID FETCH uid BODY.PEEK[] in the selected box."""
    lines = c.cmd(b"b", b"UID FETCH %d (BODY.PEEK[])" % uid, timeout=60)
    if not lines[-1].startswith(b"b OK") or len(lines) != 2:
        fail("FETCH of appended UID %d: %r" % (uid, lines[-1][:200]))
    head, _, data = lines[0].partition(b"}\r\n")
    n = literal_len(head + b"}")
    if n is None:
        fail("FETCH of appended UID %d: no literal" % uid)
    return data[:n]


def append_paused(c, msg):
    """APPEND msg as a LITERAL+ sent in pieces with pauses inside it: at
    each pause less is still to come than the proxy last waited for, and
    the last pause falls between the literal's end and its CRLF.  Every
    byte must go on as it comes (a wait for more than is coming would
    stall the APPEND until the timeout); returns its UID."""
    n = len(msg)
    cuts = [0, 100000, n - 50000, n - 10, n]
    c.send(b"a APPEND " + APPEND_BOX + b" {%d+}\r\n" % n)
    for a, b in zip(cuts, cuts[1:]):
        c.send(msg[a:b])
        time.sleep(0.3)
    c.send(b"\r\n")
    r = c.until_tagged(b"a", timeout=20)
    m = APPENDUID.search(r[-1])
    if not r[-1].startswith(b"a OK") or m is None:
        fail("paused APPEND: %r" % r[-1][:200])
    return int(m.group(1))


def appended(c, direct, seed):
    """Three APPENDs through c (3 MB {n}, 3 MB {n+}, 600 KB {n+} sent
    with pauses), each read back from Dovecot directly and through c;
    every copy must be the bytes sent."""
    for k, nonsync in enumerate((False, True, "paused")):
        if nonsync == "paused":
            msg = big_message(seed + k, 600000)
            uid = append_paused(c, msg)
        else:
            msg = big_message(seed + k, 3 << 20)
            uid = append(c, msg, nonsync)
        direct.cmd(b"x", b"EXAMINE " + APPEND_BOX)
        if fetched_body(direct, uid) != msg:
            fail("APPEND %s: Dovecot holds other bytes than were sent"
                 % APPEND_KIND[nonsync])
        c.cmd(b"y", b"EXAMINE " + APPEND_BOX)
        if fetched_body(c, uid) != msg:
            fail("APPEND %s: read back through the proxy, it differs"
                 % APPEND_KIND[nonsync])
        c.cmd(b"y", b"SELECT INBOX")


def idle(c):
    c.send(b"i IDLE\r\n")
    first = c.line()
    if not first.startswith(b"+"):
        fail("IDLE: %r" % first)
    c.send(b"DONE\r\n")
    return c.until_tagged(b"i")[-1].split(b" ", 2)[:2]


def main():
    d = session(DIRECT, "plain")
    d.cmd(b"s", b"SELECT INBOX")
    want, want_size, dsecs = fetch_all(d)
    want_pipe = pipelined(d)
    want_caps = capability(d)
    want_trickle = trickled(d)
    d.cmd(b"z", b"LOGOUT")
    d.close()
    direct = session(DIRECT, "plain")
    direct.cmd(b"m", b"CREATE " + APPEND_BOX)
    digest = hashlib.sha256(b"\n".join(want)).hexdigest()
    print("  direct: %d FETCH responses, %.1f MB in %.2f s, sha256 %s"
          % (len(want), want_size / 1e6, dsecs, digest[:16]))
    for pi, (name, port, tls) in enumerate(PATHS):
        c = session(port, tls)
        c.cmd(b"s", b"SELECT INBOX")
        got, size, secs = fetch_all(c)
        if got != want:
            for i, (a, b) in enumerate(zip(got, want)):
                if a != b:
                    fail("%s: FETCH response %d differs (%d vs %d bytes)"
                         % (name, i, len(a), len(b)))
            fail("%s: %d FETCH responses, want %d" % (name, len(got),
                                                      len(want)))
        if pipelined(c) != want_pipe:
            fail("%s: pipelined answers differ from Dovecot's" % name)
        if capability(c) != want_caps:
            fail("%s: CAPABILITY differs from Dovecot's" % name)
        if stalled_fetch(c) != want:
            fail("%s: the stalled reader's FETCH differs" % name)
        if trickled(c) != want_trickle:
            fail("%s: trickled commands answered differently" % name)
        r = c.cmd(b"c", b"COMPRESS DEFLATE")
        if not r[-1].startswith(b"c NO"):
            fail("%s: COMPRESS answered %r" % (name, r[-1]))
        appended(c, direct, 3 * pi)
        st = idle(c)
        if st != [b"i", b"OK"]:
            fail("%s: IDLE ended %r" % (name, st))
        c.send(b"z LOGOUT\r\n")
        bye = c.until_tagged(b"z")
        if not (bye[0].startswith(b"* BYE") and bye[-1].startswith(b"z OK")):
            fail("%s: LOGOUT answered %r" % (name, bye))
        try:
            extra = c.line(timeout=5)
            fail("%s: data after LOGOUT: %r" % (name, extra[:80]))
        except Closed:
            pass
        print("  %-30s identical: %d responses, %.1f MB in %.2f s; "
              "pipelined, CAPABILITY, stalled reader, trickled commands, "
              "COMPRESS NO, 3 MB APPENDs {n} and {n+}, paused APPEND, IDLE, "
              "BYE ok"
              % (name, len(got), size / 1e6, secs))
    direct.cmd(b"z", b"LOGOUT")
    direct.close()
    if ONLY_PLAIN:
        return 0
    lost = 0
    for i in range(200):
        c = Conn.open(HOST, int(E["TARGET_IMAPS"]), tls="implicit", ca=CA,
                      timeout=10)
        c.send(b"p1 CAPABILITY\r\np2 NOOP\r\np3 LOGIN alice alicepw\r\n"
               b"p4 SELECT INBOX\r\n"
               b"p5 FETCH 1:3 (FLAGS)\r\np7 LOGOUT\r\n")
        try:
            c.until_tagged(b"p7")
        except Closed:
            lost += 1
        c.close()
    if lost:
        fail("%d of 200 pipelined LOGOUT sessions lost their last answer"
             % lost)
    print("  pipelined LOGOUT over TLS      200 of 200 sessions got the "
          "whole answer before the close")
    return 0


if __name__ == "__main__":
    sys.exit(main())
