"""Load and timing halves of the capture-tap scenarios (stdlib only).

  tap_load.py fetch HOST PORT CA USER PASS FIRST LAST OUT [--loop] [--seed N]
      logs in through STARTTLS, selects INBOX and fetches UIDs FIRST..LAST
      one command each (UID FETCH n BODY.PEEK[]); after each complete
      response appends "uid time sha256 size" to OUT (flushed, so a kill
      of the proxy leaves every completed fetch logged).  --loop: start at
      a random UID and go round until the connection dies.  --pace MS:
      sleep that long after each fetch.  Exits 0 when
      the connection is cut (the point of the kill test) or all are done.
  tap_load.py watch BOOTSTRAP TOPIC OUT
      runs kcat from the end of TOPIC and appends "time uid key" for each
      record as it arrives (headers only), until killed.
"""
import hashlib
import imaplib
import random
import re
import ssl
import subprocess
import sys
import time


def fetch(host, port, ca, user, pw, first, last, out, loop, seed, pace):
    rnd = random.Random(seed)
    uids = list(range(first, last + 1))
    if loop:
        k = rnd.randrange(len(uids))
        uids = uids[k:] + uids[:k]
    f = open(out, "a")
    try:
        c = imaplib.IMAP4(host, port, timeout=60)
        c.starttls(ssl_context=ssl.create_default_context(cafile=ca))
        c.login(user, pw)
        c.select("INBOX", readonly=True)
        while True:
            for uid in uids:
                typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[])")
                if typ != "OK":
                    raise SystemExit("FETCH %d: %s %r" % (uid, typ, data))
                body = [d for d in data if isinstance(d, tuple)]
                if not body:
                    continue
                got = int(re.search(rb"UID (\d+)", body[0][0]).group(1))
                v = body[0][1]
                f.write("%d %.6f %s %d\n" % (got, time.time(),
                                             hashlib.sha256(v).hexdigest(),
                                             len(v)))
                f.flush()
                if pace:
                    time.sleep(pace)
            if not loop:
                break
        c.logout()
    except (OSError, imaplib.IMAP4.abort, EOFError, ssl.SSLError):
        if not loop:
            raise
    return 0


def watch(bootstrap, topic, out):
    p = subprocess.Popen(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o",
                          "end", "-u", "-q", "-f", "%h\n"],
                         stdout=subprocess.PIPE)
    f = open(out, "a")
    for line in p.stdout:
        t = time.time()
        h = dict(kv.split("=", 1) for kv in line.decode().strip().split(",")
                 if "=" in kv)
        f.write("%.6f %s %s\n" % (t, h.get("uid", "-"),
                                  h.get("idempotency-key", "-")))
        f.flush()


def main(a):
    if a[1] == "fetch":
        loop = "--loop" in a
        seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 1
        pace = float(a[a.index("--pace") + 1]) / 1000 if "--pace" in a else 0
        return fetch(a[2], int(a[3]), a[4], a[5], a[6], int(a[7]),
                     int(a[8]), a[9], loop, seed, pace)
    if a[1] == "watch":
        return watch(a[2], a[3], a[4])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
