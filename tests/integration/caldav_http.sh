#!/usr/bin/env bash
# caldav_http.sh - HTTP/1.1 mechanics of the CalDAV listener.
#
# Radicale closes every connection after one answer, so a real HTTP/1.1
# server that keeps connections open stands in front of it: nginx
# (reverse proxy, keep-alive, chunked request bodies), over HTTPS with its
# own certificate that crm-proxy verifies.  Clients: curl and a raw TLS
# socket (tests/integration/caldav_wire.py) for what curl will not send.
#
#   keep-alive   curl fetches 6 URLs: one TCP connection, 6 requests
#                (curl's num_connects, the proxy's close line);
#   pipelining   PROPFIND, HEAD, chunked PUT, GET, REPORT written in one
#                go; five answers come back in order, bodies intact, HEAD
#                without one;
#   chunked      a text/calendar PUT sent chunked is captured de-chunked,
#                byte for byte (Kafka value);
#   smuggling    Content-Length + Transfer-Encoding, two Content-Lengths,
#                obs-fold: the proxy answers 400 itself and nginx's access
#                log never sees the request or what it hid;
#   routing      [route caldav]: alice by user name, a Bearer request by
#                its Host, others to a default that is down (502);
#   PROXY        a listener behind a load balancer takes the client
#                address from a trusted PROXY header, refuses others;
#   memory       a client that stops reading a 24 MB answer costs the
#                worker at most 4 x buffer_high + 2 MB (RssAnon: a
#                worker's first TLS session also maps ~3.7 MB of
#                library code, which VmRSS would count);
#   upgrade      after 101 Switching Protocols (a scripted upstream: no
#                CalDAV server upgrades) bytes pass both ways unparsed;
#   object_max   a 3 MB event (curl sends Expect: 100-continue) is relayed
#                whole both ways, counted too big, never captured.
. "$(dirname "$0")/../lib/common.sh"
scenario_init caldav_http 8
. "$TLIB/certs.sh"
. "$TLIB/radicale.sh"
. "$TLIB/kafka.sh"
. "$TLIB/caldav.sh"
need_cmd curl nginx kcat java mvn
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-capture" ] ||
	fail "build first: make $B/crm-proxy $B/crm-capture"
kafka_fetch || { [ $? = 77 ] && skip "maven cannot fetch Kafka"; fail "fetching Kafka jars"; }

step "Radicale behind nginx (HTTPS, keep-alive), Kafka, crm-capture"
certs_make "$T/certs" || fail "certificates"
CA="$T/certs/ca.pem"
export CA
radicale_start
alloc_port NGINX_PORT
alloc_port DEAD_PORT	# nobody listens here
alloc_port LB_PORT	# a listener behind a (pretend) load balancer
alloc_port ECHO_PORT	# scripted upstream that upgrades (see below)
mkdir -p "$T/nginx"
NGUSER=""
[ "$(id -u)" = 0 ] && NGUSER="user nobody nogroup;"
cat >"$T/nginx/nginx.conf" <<EOF
$NGUSER
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 64; }
http {
	access_log $T/nginx/access.log;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	keepalive_requests 1000;
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $T/certs/dovecot.pem;
		ssl_certificate_key $T/certs/dovecot.key;
		client_max_body_size 64m;
		location /static/ {
			alias $T/nginx/static/;
		}
		location / {
			proxy_pass http://127.0.0.1:$RADICALE_PORT;
			proxy_set_header Host \$host;
		}
	}
}
EOF
chmod 644 "$T/certs/dovecot.key"	# nginx's worker reads it as nobody
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" >"$T/nginx/stderr" 2>&1 &
track_pid $! nginx
wait_port "$NGINX_PORT" 10 || { cat "$T/nginx/stderr" "$T/nginx/error.log"; fail "nginx"; }
caldav_capture_start

step "crm-proxy: alice by user, host cal.test by Host, the rest to a dead end"
cat >"$T/upstreams.conf" <<EOF
[upstream front]
address = 127.0.0.1:$NGINX_PORT
tls = implicit
ca_file = $CA
verify = yes
server_name = localhost

[upstream dead]
address = 127.0.0.1:$DEAD_PORT
tls = none

[upstream echo]
address = 127.0.0.1:$ECHO_PORT
tls = none

[route caldav]
user alice = front
host cal.test = front
host upgrade.test = echo
default = dead

[listen cal-lb]
address = 127.0.0.1:$LB_PORT
protocol = caldav
tls = implicit
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key
proxy_protocol = yes
trusted_proxies = 127.0.0.1
EOF
PROXY_WORKERS=1 caldav_proxy_start "$T/upstreams.conf"

# --check names file:line for the CalDAV keys too (and exits nonzero)
bad="$T/bad.conf"
check_bad() { # PATTERN WHAT
	if "$B/crm-proxy" --check -c "$bad" >"$T/check.out" 2>&1; then
		fail "--check accepted: $2"
	fi
	grep -q "$1" "$T/check.out" || { cat "$T/check.out"; fail "--check: $2"; }
}
printf '[listen c]\naddress = 127.0.0.1:1\nprotocol = caldav\ntls = starttls\ncert = x\nkey = y\n[upstream u]\naddress = 127.0.0.1:2\n[route caldav]\ndefault = u\n' >"$bad"
check_bad "$bad:1: \[listen c\] protocol = caldav needs tls = implicit" "caldav listener with starttls not reported at file:line"
printf '[capture]\ntenant = a/b\n' >"$bad"
check_bad "$bad:2: tenant" "bad tenant not reported at file:line"
printf '[listen c]\naddress = 127.0.0.1:1\nprotocol = gopher\n' >"$bad"
check_bad "$bad:3: protocol" "unknown protocol not reported at file:line"
printf '[listen c]\naddress = 127.0.0.1:1\nprotocol = caldav\ntls = none\n[upstream u]\naddress = 127.0.0.1:2\n[route]\ndefault = u\n' >"$bad"
check_bad "no \[route caldav\]" "CalDAV listener without [route caldav] accepted"
C=(curl -sS --max-time 10 --cacert "$CA")
A=(-u alice:alicepw)

got="$("${C[@]}" "${A[@]}" -o /dev/null -w '%{http_code}' -X MKCALENDAR "$P/alice/work/")"
[ "$got" = 201 ] || fail "MKCALENDAR: $got"

step "keep-alive: six requests, one connection"
urls=()
for i in 1 2 3 4 5 6; do urls+=("$P/alice/work/"); done
n="$("${C[@]}" "${A[@]}" -X PROPFIND -H 'Depth: 0' \
	-w '%{http_code}:%{num_connects}\n' -o /dev/null -o /dev/null \
	-o /dev/null -o /dev/null -o /dev/null -o /dev/null "${urls[@]}")"
note "$(echo $n)"
[ "$(echo "$n" | grep -c '^207:')" = 6 ] || fail "not six 207s: $n"
[ "$(echo "$n" | awk -F: '{ s += $2 } END { print s }')" = 1 ] ||
	fail "curl needed more than one connection: $n"
sleep 0.3
grep -q 'caldav closed: .*requests=6 ' "$PROXY_LOG" ||
	fail "the proxy did not serve six requests on one connection"

step "pipelining, HEAD, chunked PUT; then smuggling attempts"
"$PY" "$ROOT/tests/integration/caldav_wire.py" localhost "$CALPORT" "$CA" \
	"$T/chunked.ics" || fail "wire checks"
sleep 0.5
if grep -E 'smuggled|POST ' "$T/nginx/access.log"; then
	fail "a request the proxy refused reached the server"
fi
grep -c '"GET /alice/work/pipe1.ics' "$T/nginx/access.log" >/dev/null ||
	fail "pipelined GET missing upstream"

step "an object over object_max: relayed whole (Expect: 100-continue), not captured"
"$PY" - "$T/big.ics" <<'PYEOF'
import sys
desc = 'DESCRIPTION:' + 'meeting notes ' * 230000	# ~3 MB, one line
open(sys.argv[1], 'w', newline='').write(
    'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n'
    'UID:big@crm.test\r\nDTSTAMP:20260101T090000Z\r\n'
    'DTSTART:20260125T100000Z\r\n' + desc + '\r\nEND:VEVENT\r\n'
    'END:VCALENDAR\r\n')
PYEOF
got="$("${C[@]}" "${A[@]}" -o /dev/null -w '%{http_code}' -X PUT \
	-H 'Content-Type: text/calendar' --data-binary @"$T/big.ics" \
	"$P/alice/work/big.ics")"
[ "$got" = 201 ] || fail "3 MB PUT: $got"
"${C[@]}" "${A[@]}" "$P/alice/work/big.ics" -o "$T/big.back"
[ "$(stat -c %s "$T/big.back")" -gt 3000000 ] || fail "3 MB event did not come back whole"
note "3 MB PUT 201, GET back $(stat -c %s "$T/big.back") bytes"

step "bounded memory: a client stalls in the middle of a 24 MB answer"
# nginx serves it from a file: Radicale needs minutes for an event this big
mkdir -p "$T/nginx/static"
"$PY" - "$T/nginx/static/huge.ics" <<'PYEOF'
import sys
desc = 'DESCRIPTION:' + 'minutes of the quarterly review ' * 780000
open(sys.argv[1], 'w', newline='').write(
    'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n'
    'UID:huge@crm.test\r\nDTSTAMP:20260101T090000Z\r\n'
    'DTSTART:20260126T100000Z\r\n' + desc + '\r\nEND:VEVENT\r\n'
    'END:VCALENDAR\r\n')
PYEOF
chmod -R a+rX "$T/nginx/static"
worker="$(pgrep -P "$PROXY_PID" | head -1)"
rss0="$(awk '/^RssAnon:/ { print $2 }' "/proc/$worker/status")"
"$PY" - "$CALPORT" "$CA" "$worker" "$(stat -c %s "$T/nginx/static/huge.ics")" <<'PYEOF' >"$T/stall.out" || { cat "$T/stall.out"; fail "stalled download"; }
import base64, socket, ssl, sys, time
port, ca, worker, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def rss():
    for l in open('/proc/%s/status' % worker):
        if l.startswith('RssAnon:'):
            return int(l.split()[1])
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(('127.0.0.1', port), timeout=60)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s = ctx.wrap_socket(raw, server_hostname='localhost')
auth = base64.b64encode(b'alice:alicepw').decode()
s.sendall(('GET /static/huge.ics HTTP/1.1\r\nHost: localhost\r\n'
           'Authorization: Basic %s\r\nAccept-Encoding: identity\r\n\r\n'
           % auth).encode())
got = s.recv(65536)
peak = 0
for _ in range(30):		# 3 s stalled: the server keeps sending
    time.sleep(0.1)
    peak = max(peak, rss())
while b'\r\n\r\n' not in got:
    got += s.recv(65536)
head, body = got.split(b'\r\n\r\n', 1)
length = int([l.split(b':')[1] for l in head.split(b'\r\n')
              if l.lower().startswith(b'content-length:')][0])
parts = [body]
n = len(body)
while n < length:
    b = s.recv(1 << 20)
    if not b:
        break
    parts.append(b)
    n += len(b)
body = b''.join(parts)
print('peak_rss_kb=%d body=%d' % (peak, len(body)))
assert len(body) >= size - 100, (len(body), size)
PYEOF
peak="$(sed -n 's/^peak_rss_kb=\([0-9]*\) .*/\1/p' "$T/stall.out")"
note "worker anonymous RSS before ${rss0} kB, peak while the client stalled ${peak} kB; $(cat "$T/stall.out")"
# buffer_high is 256k per direction: 4 x that + 2 MB of slack, as for IMAP.
# Not under AddressSanitizer: its quarantine keeps every freed buffer of
# the bytes relayed before the stall, so RSS no longer shows live memory.
if grep -qa __asan_init "$B/crm-proxy"; then
	note "sanitizer build: RSS bound not checked (quarantine)"
else
	[ $((peak - rss0)) -le 3072 ] ||
		fail "worker grew by $((peak - rss0)) kB while a client stalled"
fi

step "routing by Host for a Bearer token, default for unknown users"
got="$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer not-a-real-token' \
	-H 'Host: cal.test' -X PROPFIND "$P/alice/")"
# Radicale does not take Bearer tokens: 401 from the server, passed on
[ "$got" = 401 ] || fail "Bearer via Host cal.test: $got, expected the server's 401"
grep -q 'PROPFIND /alice/ user=- via front' "$PROXY_LOG" || fail "Host route not taken"
got="$("${C[@]}" -o /dev/null -w '%{http_code}' -u bob:bobpw -X PROPFIND "$P/bob/")"
[ "$got" = 502 ] || fail "bob -> default (down): $got, expected 502"
note "Bearer + Host cal.test -> front (401 from the server); bob -> dead end (502)"

step "PROXY protocol: the client address from a trusted balancer, others refused"
"$PY" - "$LB_PORT" "$CA" <<'PYEOF' || fail "PROXY protocol listener"
import base64, socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(('127.0.0.1', port), timeout=10)
raw.sendall(b'PROXY TCP4 192.0.2.7 127.0.0.1 40000 443\r\n')
s = ctx.wrap_socket(raw, server_hostname='localhost')
auth = base64.b64encode(b'alice:alicepw').decode()
s.sendall(('PROPFIND /alice/work/ HTTP/1.1\r\nHost: localhost\r\n'
           'Authorization: Basic %s\r\nDepth: 0\r\nContent-Length: 0\r\n'
           '\r\n' % auth).encode())
resp = s.recv(64)
assert resp.startswith(b'HTTP/1.1 207'), resp
s.close()
# 127.0.0.2 is not a trusted balancer: closed before anything is read
raw = socket.socket()
raw.settimeout(10)
raw.bind(('127.0.0.2', 0))
raw.connect(('127.0.0.1', port))
raw.sendall(b'PROXY TCP4 192.0.2.8 127.0.0.1 40000 443\r\n')
try:
    assert raw.recv(64) == b''
except ConnectionResetError:
    pass
print('  via balancer: 207; untrusted sender: closed')
PYEOF
sleep 0.3
grep -q 'PROXY v1: client 192.0.2.7 via 127.0.0.1' "$PROXY_LOG" ||
	fail "the client address from the PROXY header is not the session's"
grep -q 'untrusted address 127.0.0.2' "$PROXY_LOG" ||
	fail "an untrusted PROXY sender was not refused"

step "101 Switching Protocols: the connection becomes a byte tunnel"
# scripted: no real CalDAV server upgrades (tests/integration/caldav_upgrade_srv.py)
"$PY" "$ROOT/tests/integration/caldav_upgrade_srv.py" "$ECHO_PORT" &
track_pid $! upgrade-server
wait_port "$ECHO_PORT" 5 || fail "upgrade server"
"$PY" - "$CALPORT" "$CA" <<'PYEOF' || fail "tunnel after 101"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10),
                    server_hostname='localhost')
s.sendall(b'GET /chat HTTP/1.1\r\nHost: upgrade.test\r\n'
          b'Connection: Upgrade\r\nUpgrade: echo\r\n\r\n')
got = b''
while b'\r\n\r\n' not in got:
    got += s.recv(4096)
assert got.startswith(b'HTTP/1.1 101'), got
for msg in (b'hello tunnel\n', b'\x00\x01 GET / HTTP/9.9 not http at all\r\n\r\n'):
    s.sendall(msg)
    back = b''
    while len(back) < len(msg):
        back += s.recv(4096)
    assert back == msg.upper(), (back, msg)
print('  101, then bytes both ways untouched (not parsed as HTTP)')
PYEOF

step "Kafka: the chunked PUT, captured once, de-chunked"
caldav_kafka_records 2
"$PY" - "$T/kafka.json" "$T/chunked.ics" <<'PYEOF' || fail "Kafka records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = open(sys.argv[2], newline='').read()
def hdrs(r):
    h = r.get('headers') or []
    return dict(zip(h[0::2], h[1::2]))
puts = [(hdrs(r), r['payload']) for r in recs
        if hdrs(r).get('http-method') == 'PUT']
for h, _ in puts:
    print('  %s %s %s' % (h['http-method'], h['ical-uid'], h['href']))
assert len(puts) == 2, len(recs)	# pipe1 (chunked) and pipe2 (length)
chunked = [b for h, b in puts if h['href'] == '/alice/work/pipe1.ics']
assert chunked == [want], 'chunked body not captured verbatim'
assert len(recs) == 2, 'GET/REPORT/PROPFIND must add nothing'
PYEOF
caldav_proxy_check_log
# the worker's counters reach the log when it exits
stop_pid "$PROXY_PID" 10 || fail "crm-proxy did not stop on SIGTERM"
grep -E 'caldav tap: published=[0-9]+ .*too_big=1 ' "$PROXY_LOG" ||
	fail "the 3 MB object was not counted as too big"
pass "keep-alive, pipelining, HEAD, chunked, smuggling refused, routing"
