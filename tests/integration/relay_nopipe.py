#!/usr/bin/env python3
"""A session that cannot get a pipe copies its literals instead.

    relay_nopipe.py   (environment from imap_plain.sh: TARGET_HOST,
                       TARGET_PLAIN, DIRECT_PORT, PROXY_PID, PROXY_LOG)

A plaintext-both-legs session logs in and selects INBOX.  Then the soft
descriptor limit of every worker is lowered to its lowest free
descriptor, so the pipe the relay makes for the first big literal
(pipe2) fails with EMFILE, as it would at the limit in production.  The
whole-mailbox FETCH (6-12 MB literals among them) must still arrive
byte-identical to Dovecot's own answer.  The limits are restored before
LOGOUT; the proxy log must then hold one "no pipe for splice" warning
and the session's close line no spliced= count.  Exit 1 otherwise.
"""
import os
import resource
import sys
import time

sys.path.insert(0, os.environ["TLIB"])
from imapwire import Conn  # noqa: E402
from procs import children  # noqa: E402

E = os.environ
HOST = E["TARGET_HOST"]
LOG = E["PROXY_LOG"]


def fail(msg):
    print("FAIL: " + msg)
    raise SystemExit(1)


def fetch_all(port):
    c = Conn.open(HOST, port, tls="plain", timeout=30)
    c.login("alice", "alicepw")
    c.cmd(b"s", b"SELECT INBOX")
    return c, lambda: c.cmd(b"f", b"UID FETCH 1:* (UID BODY.PEEK[])",
                            timeout=120)


def prlimit_nofile(pid, soft=None, restore=None):
    """Lowers pid's soft RLIMIT_NOFILE to soft (hard limit kept), or sets
    it back to restore; returns the limits it had.  Done from a child that
    takes the worker's own uid and gid: the test's root may lack
    CAP_SYS_RESOURCE (in a container), and the owner needs none."""
    ids = {}
    for ln in open("/proc/%d/status" % pid):
        k, _, v = ln.partition(":")
        if k in ("Uid", "Gid"):
            ids[k] = int(v.split()[0])
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(r)
            if os.getuid() != ids["Uid"]:
                os.setgroups([])
                os.setresgid(ids["Gid"], ids["Gid"], ids["Gid"])
                os.setresuid(ids["Uid"], ids["Uid"], ids["Uid"])
            old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            new = restore if restore is not None else (soft, old[1])
            resource.prlimit(pid, resource.RLIMIT_NOFILE, new)
            os.write(w, b"%d %d" % old)
            code = 0
        except Exception as e:  # reported by the parent
            os.write(w, b"error " + str(e).encode())
        os._exit(code)
    os.close(w)
    out = os.read(r, 512).decode()
    os.close(r)
    os.waitpid(child, 0)
    if out.startswith("error") or not out:
        fail("prlimit of worker %d: %s" % (pid, out or "no answer"))
    old_soft, old_hard = out.split()
    return int(old_soft), int(old_hard)


def lowest_free_fd(pid):
    used = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
    n = 0
    while n in used:
        n += 1
    return n


def main():
    d, fetch = fetch_all(int(E["DIRECT_PORT"]))
    want = fetch()
    d.cmd(b"z", b"LOGOUT")
    d.close()
    if not want[-1].startswith(b"f OK"):
        fail("direct FETCH: %r" % want[-1][:200])

    mark = os.path.getsize(LOG)
    c, fetch = fetch_all(int(E["TARGET_PLAIN"]))
    workers = children(int(E["PROXY_PID"]))
    if not workers:
        fail("no worker processes under PROXY_PID")
    saved = {}
    try:
        for w in workers:
            saved[w] = prlimit_nofile(w, soft=lowest_free_fd(w))
        got = fetch()
    finally:
        for w, lim in saved.items():
            prlimit_nofile(w, restore=lim)
    size = sum(len(x) for x in got)
    if not got[-1].startswith(b"f OK"):
        fail("FETCH without a pipe: %r" % got[-1][:200])
    if got[:-1] != want[:-1]:      # the tagged OKs differ in their timings
        fail("FETCH without a pipe differs from Dovecot's (%d responses, "
             "want %d)" % (len(got), len(want)))
    c.cmd(b"z", b"LOGOUT")
    c.close()

    for _ in range(50):
        with open(LOG, "rb") as f:
            f.seek(mark)
            new = f.read().decode("utf-8", "replace").splitlines()
        closed = [ln for ln in new if " closed: " in ln and "user=alice" in ln]
        if closed:
            break
        time.sleep(0.1)
    else:
        fail("no close line for the session in %s" % LOG)
    warned = [ln for ln in new if "no pipe for splice" in ln]
    if len(warned) != 1:
        fail("%d 'no pipe for splice' lines, want 1" % len(warned))
    if "spliced=" in closed[0]:
        fail("the session spliced without a pipe: %s" % closed[0])
    print("  %d workers at their descriptor limit: %d responses, %.1f MB "
          "copied byte-identical; warned once, nothing spliced"
          % (len(workers), len(got) - 1, size / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
