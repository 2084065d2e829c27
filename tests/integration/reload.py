#!/usr/bin/env python3
"""Reload and shutdown with a live session (driven by imap_reload.sh).

    reload.py HOST PORT NEW_PORT CA LMTP_PORT RELOAD_CMD BADRELOAD_CMD TERM_CMD

1. alice opens a session through PORT, selects INBOX and starts IDLE.
2. RELOAD_CMD (shell) installs a config with a new listener on NEW_PORT
   and sends SIGHUP.  The new listener must answer a login within 10 s;
   the old listener must still accept new sessions.
3. A delivery over LMTP must reach the idling session ("* n EXISTS"),
   then DONE, NOOP and FETCH must work on it: the reload kept it.
4. BADRELOAD_CMD installs a broken config and sends SIGHUP: the old
   session and both listeners must keep working.
5. TERM_CMD sends SIGTERM; the idling session must see BYE or EOF, not a
   hang.  Prints how long it took; the caller then times the exit.
"""
import os
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Closed, Conn, Timeout  # noqa: E402


def login_ok(host, port, ca, label):
    c = Conn.open(host, port, "implicit", ca, timeout=10)
    c.login("alice", "alicepw")
    r = c.cmd(b"n", b"NOOP")
    assert r[-1].startswith(b"n OK"), (label, r)
    c.cmd(b"z", b"LOGOUT")
    c.close()


def wait_login(host, port, ca, secs):
    deadline = time.monotonic() + secs
    while True:
        try:
            login_ok(host, port, ca, "new listener")
            return
        except (OSError, Closed, Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sh(cmd):
    r = subprocess.run(["bash", "-c", cmd])
    assert r.returncode == 0, "command failed: %s" % cmd


def main():
    host, port, new_port, ca, lmtp = sys.argv[1:6]
    port, new_port, lmtp = int(port), int(new_port), int(lmtp)
    reload_cmd, bad_cmd, term_cmd = sys.argv[6:9]

    s = Conn.open(host, port, "implicit", ca, timeout=10)
    s.login("alice", "alicepw")
    sel = s.cmd(b"s", b"SELECT INBOX")
    exists = [int(ln.split()[1]) for ln in sel if ln.endswith(b"EXISTS")][0]
    s.send(b"i IDLE\r\n")
    assert s.line().startswith(b"+"), "IDLE not accepted"
    print("  session open and idling (%d messages)" % exists)

    t0 = time.monotonic()
    sh(reload_cmd)
    wait_login(host, new_port, ca, 10)
    print("  SIGHUP: new listener %d answered a login after %.0f ms"
          % (new_port, (time.monotonic() - t0) * 1000))
    login_ok(host, port, ca, "old listener after reload")
    print("  old listener still accepts sessions")

    with smtplib.LMTP("127.0.0.1", lmtp) as l:
        l.sendmail("r@example.test", ["alice"],
                   "Subject: after reload\r\n\r\nstill here\r\n")
    while True:
        ln = s.line(timeout=10)
        if ln.endswith(b"EXISTS") and int(ln.split()[1]) > exists:
            break
    s.send(b"DONE\r\n")
    r = s.until_tagged(b"i")
    assert r[-1].startswith(b"i OK"), r
    r = s.cmd(b"n", b"NOOP")
    assert r[-1].startswith(b"n OK"), r
    r = s.cmd(b"f", b"FETCH %d BODY.PEEK[TEXT]" % (exists + 1))
    assert r[-1].startswith(b"f OK") and b"still here" in r[0], r
    print("  pre-reload session: EXISTS after delivery, DONE, NOOP, FETCH ok")

    sh(bad_cmd)
    time.sleep(1)
    r = s.cmd(b"n2", b"NOOP")
    assert r[-1].startswith(b"n2 OK"), r
    login_ok(host, port, ca, "old listener after bad reload")
    login_ok(host, new_port, ca, "new listener after bad reload")
    print("  SIGHUP with a broken config: kept running on the last good one")

    s.send(b"i2 IDLE\r\n")
    assert s.line().startswith(b"+"), "IDLE not accepted"
    t0 = time.monotonic()
    sh(term_cmd)
    how = None
    bound = float(os.environ.get("TERM_BOUND", "20"))
    try:
        while how is None:
            ln = s.line(timeout=bound)
            if ln.startswith(b"* BYE"):
                how = ln.decode(errors="replace")
    except Closed:
        how = "EOF"
    except Timeout:
        raise AssertionError("no BYE or EOF %.0f s after SIGTERM" % bound)
    print("  SIGTERM: idling session ended after %.0f ms (%s)"
          % ((time.monotonic() - t0) * 1000, how))
    return 0


if __name__ == "__main__":
    sys.exit(main())
