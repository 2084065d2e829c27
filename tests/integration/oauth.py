#!/usr/bin/env python3
"""XOAUTH2 and OAUTHBEARER through the target (raw socket).

    oauth.py HOST IMAP_PORT IMAPS_PORT CA

Tokens (tests/lib/dovecot.sh): tok-alice-0123456789 belongs to alice,
tok-bob-9876543210 to bob; anything else is inactive.  Dovecot checks each
token at the introspection endpoint.

Good tokens must log in with SASL-IR (RFC 4959) and with a continuation,
over implicit TLS and after STARTTLS, and the session must then work.
Bad tokens must fail cleanly: the server's JSON error challenge
(RFC 7628 3.2.2 for OAUTHBEARER; Google's XOAUTH2 does the same) reaches
the client as "+ base64(json)", the client's dummy response ("AQ==" =
%x01 for OAUTHBEARER, an empty line for XOAUTH2) gets a tagged NO, and the
connection is then either still usable or closed cleanly - never hung.  A
client that answers the challenge with "*" gets a tagged BAD (RFC 9051
6.2.2).  A valid token for another user fails too.
"""
import base64
import json
import os
import sys

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Closed, Conn, Timeout  # noqa: E402

ALICE = "tok-alice-0123456789"
BOB = "tok-bob-9876543210"


def xoauth2(user, tok):
    raw = "user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)
    return base64.b64encode(raw.encode())


def oauthbearer(user, tok, port):
    raw = "n,a=%s,\x01host=localhost\x01port=%d\x01auth=Bearer %s\x01\x01" % (
        user, port, tok)
    return base64.b64encode(raw.encode())


def connect(args, tls, source=None):
    host, port, sport, ca = args
    if tls == "implicit":
        return Conn.open(host, sport, "implicit", ca, timeout=10,
                         source=source), sport
    return Conn.open(host, port, "starttls", ca, timeout=10,
                     source=source), port


def caps(c):
    for ln in c.cmd(b"c0", b"CAPABILITY"):
        if ln.startswith(b"* CAPABILITY"):
            return ln.split()
    raise AssertionError("no CAPABILITY")


def good(args, mech, tls, sasl_ir):
    c, port = connect(args, tls)
    cap = caps(c)
    assert b"AUTH=" + mech.encode() in cap, cap
    if sasl_ir:
        assert b"SASL-IR" in cap, cap
    resp = (xoauth2("alice", ALICE) if mech == "XOAUTH2"
            else oauthbearer("alice", ALICE, port))
    if sasl_ir:
        c.send(b"a AUTHENTICATE " + mech.encode() + b" " + resp + b"\r\n")
    else:
        c.send(b"a AUTHENTICATE " + mech.encode() + b"\r\n")
        ln = c.line()
        assert ln.startswith(b"+"), ln
        c.send(resp + b"\r\n")
    lines = c.until_tagged(b"a")
    assert lines[-1].startswith(b"a OK"), lines
    sel = c.cmd(b"b", b"SELECT INBOX")
    assert sel[-1].startswith(b"b OK"), sel
    c.cmd(b"z", b"LOGOUT")
    c.close()
    print("  %-11s %-8s %-12s OK, then SELECT OK" %
          (mech, tls, "SASL-IR" if sasl_ir else "continuation"))


def bad(args, mech, tls, sasl_ir, user, tok, answer, source):
    """answer: 'dummy' (the mechanism's error response) or 'cancel' ('*').
    Each failure comes from its own loopback address: Dovecot doubles its
    failed-auth delay per client address (2, 4, 8, 16 s), and with the
    target forwarding the client address that penalty would otherwise add
    up across the cases."""
    c, port = connect(args, tls, source)
    resp = (xoauth2(user, tok) if mech == "XOAUTH2"
            else oauthbearer(user, tok, port))
    if sasl_ir:
        c.send(b"a AUTHENTICATE " + mech.encode() + b" " + resp + b"\r\n")
    else:
        c.send(b"a AUTHENTICATE " + mech.encode() + b"\r\n")
        ln = c.line()
        assert ln.startswith(b"+"), ln
        c.send(resp + b"\r\n")
    ln = c.line(timeout=15)
    challenge = None
    if ln.startswith(b"+"):
        payload = ln[1:].strip()
        challenge = json.loads(base64.b64decode(payload))
        assert "status" in challenge, challenge
        if answer == "cancel":
            c.send(b"*\r\n")
        elif mech == "OAUTHBEARER":
            c.send(b"AQ==\r\n")
        else:
            c.send(b"\r\n")
        lines = c.until_tagged(b"a", timeout=15)
        final = lines[-1]
    else:
        final = ln if ln.startswith(b"a ") else c.until_tagged(b"a")[-1]
    want = b"a BAD" if (answer == "cancel" and challenge) else b"a NO"
    assert final.startswith(want), (final, challenge)
    # still usable, or closed cleanly; never a hang
    try:
        r = c.cmd(b"n", b"NOOP", timeout=5)
        after = "usable (NOOP %s)" % r[-1].split()[1].decode()
        assert r[-1].startswith(b"n OK"), r
    except Closed:
        after = "closed cleanly"
    except Timeout:
        raise AssertionError("%s bad token: connection hangs after NO" % mech)
    c.close()
    print("  %-11s %-8s %-12s %-14s -> %s; challenge %s; %s" %
          (mech, tls, "SASL-IR" if sasl_ir else "continuation",
           "bad token" if tok not in (ALICE, BOB) else "other user's",
           final.split(b" ", 2)[1].decode(),
           json.dumps(challenge) if challenge else "none", after))


def main():
    args = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    for mech in ("XOAUTH2", "OAUTHBEARER"):
        good(args, mech, "implicit", True)
        good(args, mech, "implicit", False)
        good(args, mech, "starttls", True)
        good(args, mech, "starttls", False)
    bad(args, "XOAUTH2", "implicit", True, "alice", "tok-forged", "dummy",
        "127.0.0.11")
    bad(args, "OAUTHBEARER", "starttls", False, "alice", "tok-expired",
        "dummy", "127.0.0.12")
    bad(args, "OAUTHBEARER", "implicit", True, "alice", "tok-forged",
        "cancel", "127.0.0.13")
    bad(args, "XOAUTH2", "starttls", True, "alice", BOB, "dummy",
        "127.0.0.14")
    return 0


if __name__ == "__main__":
    sys.exit(main())
