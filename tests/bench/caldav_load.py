"""caldav_load.py URL CAFILE|- SECONDS CONNS - CalDAV load for the bench.

CONNS threads, each for SECONDS: a calendar-query REPORT of the whole
calendar (20 events, calendar-data included), then a GET of one event,
again and again, as user alice.  Connections are reused when the server
keeps them (Radicale closes after each answer, so every request pays a
connect - and a TLS handshake on https).  Prints one line:
  requests=N errors=E rps=R p50_ms=X p95_ms=Y
Standard library only."""
import base64
import http.client
import ssl
import sys
import threading
import time
import urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
CA = sys.argv[2]
SECS = float(sys.argv[3])
CONNS = int(sys.argv[4])
AUTH = {'Authorization': 'Basic ' + base64.b64encode(b'alice:alicepw').decode()}
REPORT = (b'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
          b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
          b'<C:calendar-data/></D:prop><C:filter><C:comp-filter '
          b'name="VCALENDAR"/></C:filter></C:calendar-query>')
lat, errors, lock = [], [0], threading.Lock()


def conn():
    if url.scheme == 'https':
        ctx = ssl.create_default_context(cafile=CA)
        return http.client.HTTPSConnection(url.hostname, url.port,
                                           context=ctx, timeout=10)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def worker(end):
    c = conn()
    mine, bad, i = [], 0, 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            if i % 2 == 0:
                c.request('REPORT', '/alice/bench/', REPORT,
                          dict(AUTH, Depth='1',
                               **{'Content-Type': 'application/xml'}))
            else:
                c.request('GET', '/alice/bench/e%d.ics' % (i % 20), None,
                          AUTH)
            r = c.getresponse()
            r.read()
            if r.status not in (200, 207):
                bad += 1
            if r.getheader('connection', '').lower() == 'close':
                c.close()
                c = conn()
        except (OSError, http.client.HTTPException):
            bad += 1
            c.close()
            c = conn()
        mine.append((time.monotonic() - t0) * 1000)
        i += 1
    with lock:
        lat.extend(mine)
        errors[0] += bad


end = time.monotonic() + SECS
ts = [threading.Thread(target=worker, args=(end,)) for _ in range(CONNS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
lat.sort()
n = len(lat)
print('requests=%d errors=%d rps=%.0f p50_ms=%.1f p95_ms=%.1f' % (
    n, errors[0], n / SECS, lat[n // 2] if n else 0,
    lat[min(n - 1, int(n * 0.95))] if n else 0))
