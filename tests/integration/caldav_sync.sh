#!/usr/bin/env bash
# caldav_sync.sh - CalDAV through crm-proxy, captured onto Kafka.
#
# Real parts: Radicale 3 over HTTPS (its own certificate, verified by the
# proxy against the test CA), crm-proxy with a protocol = caldav listener
# over TLS, crm-capture shipping the spool to a real Kafka broker, and
# real clients: curl and vdirsyncer (two-way sync).
#
# The client does: MKCALENDAR; PUT an event, REPORT it back three times,
# PUT a changed version, PUT the same version again, DELETE it; PUT a
# second event; vdirsyncer syncs both ways, uploads a new event, changes
# the second one, deletes the new one, and syncs again; bob tries to write
# into alice's calendar (403).
#
# Upstream must receive: every request unchanged (the calendars on both
# sides match at the end; Radicale's own REPORT shows every change).
# Kafka (crm.calendar.v1, read with kcat) must hold exactly one record per
# created, changed and deleted event - 7 - with the iCalendar text as the
# value, key initech/alice (the route's tenant, over [capture]'s acme),
# and headers parsed from it (UID, SEQUENCE,
# organizer, attendees, DTSTART); REPORTs and the repeated PUT add none.
. "$(dirname "$0")/../lib/common.sh"
scenario_init caldav_sync 9
. "$TLIB/certs.sh"
. "$TLIB/radicale.sh"
. "$TLIB/kafka.sh"
. "$TLIB/caldav.sh"
need_cmd curl vdirsyncer kcat java mvn
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-capture" ] ||
	fail "build first: make $B/crm-proxy $B/crm-capture"
kafka_fetch || { [ $? = 77 ] && skip "maven cannot fetch Kafka"; fail "fetching Kafka jars"; }

step "certificates, Radicale (HTTPS), Kafka, crm-capture"
certs_make "$T/certs" || fail "certificates"
CA="$T/certs/ca.pem"
export CA
radicale_start "$T/certs/dovecot.pem" "$T/certs/dovecot.key"
caldav_capture_start

step "crm-proxy with a CalDAV listener"
cat >"$T/upstreams.conf" <<EOF
[upstream radicale]
address = 127.0.0.1:$RADICALE_PORT
tls = implicit
ca_file = $CA
verify = yes
server_name = localhost

[route caldav]
default = radicale tenant=initech
EOF
caldav_proxy_start "$T/upstreams.conf"
C=(curl -sS --max-time 10 --cacert "$CA" -u alice:alicepw)

code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }
expect() { # WANT(regex) DESCRIPTION curl-args...
	local want="$1" what="$2" got
	shift 2
	got="$(code "$@")"
	[[ "$got" =~ ^($want)$ ]] || fail "$what: HTTP $got, expected $want"
	note "$what: $got"
}

ics() { # UID SEQUENCE SUMMARY
	printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crm-test//EN\r\n'
	printf 'BEGIN:VEVENT\r\nUID:%s\r\nSEQUENCE:%s\r\n' "$1" "$2"
	printf 'DTSTAMP:20260101T09000%sZ\r\nDTSTART:20260115T100000Z\r\n' "$2"
	printf 'DTEND:20260115T110000Z\r\nSUMMARY:%s\r\n' "$3"
	printf 'ORGANIZER;CN=Alice:mailto:alice@acme.example\r\n'
	printf 'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@customer.example\r\n'
	printf 'ATTENDEE:mailto:carol@customer.example\r\n'
	printf 'END:VEVENT\r\nEND:VCALENDAR\r\n'
}

step "TLS is real on the client leg"
if curl -sS --max-time 5 --cacert "$T/certs/rogue-ca.pem" -u alice:alicepw \
	"$P/alice/" -o /dev/null 2>/dev/null; then
	fail "a client trusting another CA reached the proxy"
fi

step "curl: MKCALENDAR, PUT, REPORT x3, PUT changed, PUT again, DELETE"
expect 201 MKCALENDAR -X MKCALENDAR "$P/alice/work/"
ics m1@crm.test 0 "Deal review with ACME" >"$T/m1.ics"
expect 201 "PUT m1" -X PUT -H 'Content-Type: text/calendar' \
	--data-binary @"$T/m1.ics" "$P/alice/work/m1.ics"
for i in 1 2 3; do
	"${C[@]}" --fail --compressed -X REPORT -H 'Depth: 1' \
		-H 'Content-Type: application/xml' --data-binary \
		'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>' \
		"$P/alice/work/" >"$T/report$i.xml" || fail "REPORT $i"
	grep -q 'Deal review with ACME' "$T/report$i.xml" || fail "REPORT $i lacks the event"
done
ics m1@crm.test 1 "Deal review moved" >"$T/m1b.ics"
expect "201|204" "PUT m1 changed" -X PUT -H 'Content-Type: text/calendar' \
	--data-binary @"$T/m1b.ics" "$P/alice/work/m1.ics"
expect "201|204" "PUT m1 unchanged" -X PUT -H 'Content-Type: text/calendar' \
	--data-binary @"$T/m1b.ics" "$P/alice/work/m1.ics"
expect 200 "DELETE m1" -X DELETE "$P/alice/work/m1.ics"
expect 404 "GET m1 after DELETE" "$P/alice/work/m1.ics"
ics m2@crm.test 0 "Pricing call" >"$T/m2.ics"
expect 201 "PUT m2" -X PUT -H 'Content-Type: text/calendar' \
	--data-binary @"$T/m2.ics" "$P/alice/work/m2.ics"
# other users are the server's business; what it refuses is never captured
got="$(curl -sS --max-time 10 --cacert "$CA" -u bob:bobpw -o /dev/null \
	-w '%{http_code}' -X PUT -H 'Content-Type: text/calendar' \
	--data-binary @"$T/m2.ics" "$P/alice/work/intruder.ics")"
[ "$got" = 403 ] || fail "bob writing alice's calendar: $got, expected 403"
note "bob -> alice's calendar: 403"

step "vdirsyncer: two-way sync through the proxy"
caldav_vdirsyncer alice "$P/" alice alicepw
vs() { caldav_vs alice "$@"; }
vs discover cal
vs sync
f2="$(grep -rl 'UID:m2@crm.test' "$T/vdir-alice/work/")" || fail "m2 not synced down"
ics m3@crm.test 0 "Kick-off onsite" >"$T/vdir-alice/work/local-m3.ics"
vs sync
sed -i -e 's/SEQUENCE:0/SEQUENCE:1/' -e 's/Pricing call/Pricing call (final)/' "$f2"
vs sync
rm -f "$(grep -rl 'UID:m3@crm.test' "$T/vdir-alice/work/")"
vs sync
vs sync

step "both sides hold the same calendar"
radicale_report alice work >"$T/server.xml" || fail "direct REPORT to Radicale"
"$PY" - "$T/server.xml" "$T/vdir-alice/work" <<'PYEOF' || fail "calendars differ"
import os, re, sys, html
xml = open(sys.argv[1]).read()
server = {}
for data in re.findall(r'<C:calendar-data>(.*?)</C:calendar-data>', xml, re.S):
    t = html.unescape(data).replace('\r\n', '\n')
    server[re.search(r'^UID:(.*)$', t, re.M).group(1)] = \
        re.search(r'^SUMMARY:(.*)$', t, re.M).group(1)
local = {}
for n in os.listdir(sys.argv[2]):
    t = open(os.path.join(sys.argv[2], n)).read().replace('\r\n', '\n')
    local[re.search(r'^UID:(.*)$', t, re.M).group(1)] = \
        re.search(r'^SUMMARY:(.*)$', t, re.M).group(1)
print('  server:', sorted(server.items()))
print('  local: ', sorted(local.items()))
want = {'m2@crm.test': 'Pricing call (final)'}
sys.exit(0 if server == local == want else 1)
PYEOF

step "Kafka: exactly one record per change"
caldav_kafka_records 7
"$PY" - "$T/kafka.json" "$T/m1.ics" "$T/m1b.ics" "$T/m2.ics" <<'PYEOF' || fail "Kafka records"
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def hdrs(r):
    h = r.get('headers') or []
    return dict(zip(h[0::2], h[1::2]))
# per-user order is what Kafka guarantees: one key, so one partition
got = sorted(((r['partition'], r['offset']), hdrs(r), r) for r in recs)
seen = []
keys = set()
for _, h, r in got:
    line = (h.get('http-method'), h.get('ical-uid'), h.get('ical-sequence'))
    seen.append(line)
    print('  %-6s %-13s seq=%-4s href=%s' % (line[0], line[1], line[2],
          h.get('href')))
    assert r['key'] == 'initech/alice', r['key']
    assert h['schema'] == 'crm.calendar/1' and h['tenant'] == 'initech'
    assert h['user'] == 'alice' and h['source'] == 'caldav'
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z',
                        h['observed-at']), h['observed-at']
    assert re.fullmatch(r'[0-9a-f]{64}', h['idempotency-key'])
    keys.add(h['idempotency-key'])
    assert h['href'].startswith('/alice/work/'), h['href']
    body = r.get('payload') or ''
    if h['http-method'] == 'DELETE':
        assert body == '', 'a DELETE carries no value'
        continue
    assert body.startswith('BEGIN:VCALENDAR'), body[:40]
    assert 'UID:%s' % h['ical-uid'] in body
    assert h['ical-component'] == 'VEVENT'
    assert h['organizer'] == 'alice@acme.example', h['organizer']
    assert h['attendees'] == 'bob@customer.example,carol@customer.example'
    assert h['dtstart'] == '20260115T100000Z', h['dtstart']
    assert 'ical-method' not in h
# the exact bytes PUT through the proxy are the value
put = [r['payload'] for _, h, r in got if h.get('http-method') == 'PUT']
for f in sys.argv[2:]:
    assert open(f, newline='').read() in put, f + ' not captured verbatim'
want = [('PUT', 'm1@crm.test', '0'), ('PUT', 'm1@crm.test', '1'),
        ('DELETE', 'm1@crm.test', None), ('PUT', 'm2@crm.test', '0'),
        ('PUT', 'm3@crm.test', '0'), ('PUT', 'm2@crm.test', '1'),
        ('DELETE', 'm3@crm.test', None)]
if seen != want:
    print('  want:', want)
    sys.exit(1)
assert len(keys) == len(recs), 'idempotency keys must differ per change'
print('  %d records, each change once, headers parsed' % len(recs))
PYEOF

step "proxy health"
caldav_proxy_check_log
grep -c 'already published' "$PROXY_LOG" | sed 's/^/  duplicates suppressed: /'
pass "curl + vdirsyncer through the proxy; 7 changes, 7 Kafka records"
