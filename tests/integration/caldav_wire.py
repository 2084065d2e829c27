"""caldav_wire.py HOST PORT CAFILE CHUNKED_ICS_OUT - raw HTTP/1.1 over TLS
against the CalDAV listener, for what curl will not send: six pipelined
requests in one write (a HEAD and a chunked PUT among them), and request
smuggling attempts.  Writes the iCalendar text it PUT chunked to
CHUNKED_ICS_OUT so the scenario can compare it with the Kafka record.
Standard library only; every read has a timeout."""
import base64
import socket
import ssl
import sys

HOST, PORT, CA, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
AUTH = 'Basic ' + base64.b64encode(b'alice:alicepw').decode()


def connect():
    ctx = ssl.create_default_context(cafile=CA)
    raw = socket.create_connection(('127.0.0.1', PORT), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=HOST)
    s.settimeout(10)
    return s, s.makefile('rb')


def read_response(f, head=False):
    """(status, headers, body); status 0 on EOF."""
    while True:
        line = f.readline()
        if not line:
            return 0, {}, b''
        status = int(line.split()[1])
        hdrs = {}
        while True:
            h = f.readline()
            if h in (b'\r\n', b''):
                break
            k, _, v = h.decode('latin-1').partition(':')
            hdrs[k.strip().lower()] = v.strip()
        if status >= 200:
            break
    if head or status in (204, 304):
        return status, hdrs, b''
    if 'chunked' in hdrs.get('transfer-encoding', '').lower():
        body = b''
        while True:
            n = int(f.readline().split(b';')[0], 16)
            if n == 0:
                while f.readline() not in (b'\r\n', b''):
                    pass
                return status, hdrs, body
            body += f.read(n)
            f.readline()
    if 'content-length' in hdrs:
        return status, hdrs, f.read(int(hdrs['content-length']))
    return status, hdrs, f.read()


def req(method, path, body=b'', extra='', chunked=False):
    h = '%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n%s' % (
        method, path, HOST, AUTH, extra)
    if chunked:
        out = h + 'Transfer-Encoding: chunked\r\n\r\n'
        out = out.encode()
        for i in range(0, len(body), 37):	# odd chunk sizes on purpose
            part = body[i:i + 37]
            out += b'%x;x=1\r\n%s\r\n' % (len(part), part)
        return out + b'0\r\nX-Trailer: yes\r\n\r\n'
    return (h + 'Content-Length: %d\r\n\r\n' % len(body)).encode() + body


def ics(uid, summary):
    return ('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crm-test//EN\r\n'
            'BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T090000Z\r\n'
            'DTSTART:20260120T100000Z\r\nSUMMARY:%s\r\n'
            'ORGANIZER:mailto:alice@acme.example\r\n'
            'END:VEVENT\r\nEND:VCALENDAR\r\n' % (uid, summary)).encode()


def check(cond, msg):
    if not cond:
        print('FAIL: ' + msg)
        sys.exit(1)


# ---- pipelining: six requests in one write ----
pipe1 = ics('pipe1@crm.test', 'Chunked upload ' + 'x' * 150)
with open(OUT, 'wb') as f:
    f.write(pipe1)
report = (b'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
          b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
          b'<C:calendar-data/></D:prop><C:filter><C:comp-filter '
          b'name="VCALENDAR"/></C:filter></C:calendar-query>')
ct = 'Content-Type: text/calendar\r\n'
batch = (req('PROPFIND', '/alice/work/', extra='Depth: 0\r\n') +
         req('HEAD', '/alice/work/') +
         req('PUT', '/alice/work/pipe1.ics', pipe1, ct, chunked=True) +
         req('GET', '/alice/work/pipe1.ics') +
         req('REPORT', '/alice/work/', report,
             'Depth: 1\r\nContent-Type: application/xml\r\n') +
         req('PUT', '/alice/work/pipe2.ics', ics('pipe2@crm.test', 'Plain'),
             ct))
s, f = connect()
s.sendall(batch)
want = [('PROPFIND', 207, False), ('HEAD', 200, True), ('PUT', 201, False),
        ('GET', 200, False), ('REPORT', 207, False), ('PUT', 201, False)]
got = []
for name, code, head in want:
    st, h, body = read_response(f, head)
    got.append((name, st, len(body)))
    check(st == code, '%s answered %d, expected %d' % (name, st, code))
    if name == 'GET':
        check(b'UID:pipe1@crm.test' in body, 'GET lacks the chunked PUT')
    if name == 'REPORT':
        check(b'pipe1@crm.test' in body, 'REPORT lacks the chunked PUT')
    if name == 'HEAD':
        check(body == b'', 'HEAD answer with a body')
print('  pipelined on one connection: ' +
      ', '.join('%s %d (%d bytes)' % g for g in got))
s.close()

# ---- smuggling: refused by the proxy itself ----
attacks = {
    'CL+TE': b'POST /alice/work/ HTTP/1.1\r\nHost: localhost\r\n'
             b'Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n'
             b'0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'two CLs': b'POST /alice/work/ HTTP/1.1\r\nHost: localhost\r\n'
               b'Content-Length: 0\r\nContent-Length: 44\r\n\r\n'
               b'GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'TE gzip': b'POST /alice/work/ HTTP/1.1\r\nHost: localhost\r\n'
               b'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    'obs-fold': b'GET /alice/ HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n'
                b' smuggled: yes\r\n\r\n',
    'space before colon': b'POST /smuggled HTTP/1.1\r\nHost: localhost\r\n'
                          b'Content-Length : 5\r\n\r\nhello',
}
for name, data in attacks.items():
    s, f = connect()
    s.sendall(data)
    st, h, body = read_response(f)
    check(st == 400, '%s: status %d, expected 400' % (name, st))
    check(f.read() == b'', '%s: connection not closed' % name)
    s.close()
print('  refused with 400 and closed: ' + ', '.join(attacks))

# a good request, then an attack on the same connection: the first is
# answered, the connection then closes, the attack never goes up
s, f = connect()
s.sendall(req('PROPFIND', '/alice/work/', extra='Depth: 0\r\n') +
          attacks['CL+TE'])
st, h, body = read_response(f)
check(st == 207, 'good request before an attack: %d' % st)
st, h, body = read_response(f)
check(st == 0, 'connection stayed open after the attack (%d)' % st)
print('  good request answered, then closed before the attack')
