"""smtpbench.py - SMTP submission load generator for smtp.bench.sh.

  smtpbench.py PORT MODE [--tls] [--auth] [--conns N] [--secs S]
               [--size BYTES] [--ca FILE]

MODE "msgs": N connections, each logs in once and sends messages of SIZE
bytes back to back for S seconds.  MODE "sessions": N connections in a
loop of connect + (TLS) + EHLO + AUTH + one message + QUIT.
Prints one line: "<count> <rate>/s p50=<ms> p95=<ms> errors=<n>", the
count being messages (msgs) or sessions (sessions).

Threads are enough: the work is socket and TLS I/O (OpenSSL releases the
GIL), and the same client drives every target, so ratios are fair.
"""
import argparse
import smtplib
import ssl
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("mode", choices=["msgs", "sessions"])
ap.add_argument("--tls", action="store_true")
ap.add_argument("--auth", action="store_true")
ap.add_argument("--conns", type=int, default=4)
ap.add_argument("--secs", type=float, default=5)
ap.add_argument("--size", type=int, default=10000)
ap.add_argument("--ca", default=None)
a = ap.parse_args()

line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqr\r\n"
body = b"Subject: bench\r\nFrom: alice@example.test\r\n\r\n" + \
    line * max(1, a.size // len(line))
ctx = ssl.create_default_context(cafile=a.ca) if a.tls else None
if ctx is not None and a.ca is None:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
lock = threading.Lock()
lat = []
errors = [0]
stop_at = time.monotonic() + a.secs


def connect():
    if a.tls:
        s = smtplib.SMTP_SSL("127.0.0.1", a.port, context=ctx, timeout=30)
    else:
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
    s.ehlo("bench.example")
    if a.auth:
        s.login("alice", "alicepw")
    return s


def worker():
    s = None
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        try:
            if a.mode == "sessions":
                s = connect()
                s.sendmail("alice@example.test", ["r@example.test"], body)
                s.quit()
                s = None
            else:
                if s is None:
                    s = connect()
                s.sendmail("alice@example.test", ["r@example.test"], body)
        except Exception as e:
            with lock:
                errors[0] += 1
                if errors[0] == 1:
                    print(f"smtpbench: first error: {e!r}",
                          file=sys.stderr)
            s = None
            continue
        with lock:
            lat.append(time.monotonic() - t0)
    if s is not None:
        try:
            s.quit()
        except Exception:
            pass


t_start = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(a.conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
elapsed = time.monotonic() - t_start
lat.sort()
n = len(lat)
p50 = lat[n // 2] * 1000 if n else float("nan")
p95 = lat[min(n - 1, int(n * 0.95))] * 1000 if n else float("nan")
print(f"{n} {n / elapsed:.1f}/s p50={p50:.1f} p95={p95:.1f} "
      f"errors={errors[0]}")
