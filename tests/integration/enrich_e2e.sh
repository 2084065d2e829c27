#!/usr/bin/env bash
# enrich_e2e.sh - the whole pipeline on real parts: mail and calendar
# clients -> crm-proxy (tap on) -> spool -> crm-capture -> Kafka ->
# crm-enrich -> PostgreSQL 15, and exactly the CRM rows a sales team
# would expect from what its reps did.
#
# Real parts: Dovecot 2.3 (users alice@acme.example and bob@acme.example),
# Radicale 3 over HTTPS, one crm-proxy with IMAP (STARTTLS + implicit TLS)
# and CalDAV listeners, tenant acme on both routes, capture into $T/spool;
# crm-capture shipping to a real Apache Kafka broker; crm-enrich consuming
# crm.mail.v1 and crm.calendar.v1 into PostgreSQL 15 migrated with
# crm-migrate.  Clients: mbsync (each rep pulls every mailbox), Python
# imaplib (alice APPENDs her answer to Sent), vdirsyncer (each rep syncs a
# calendar both ways) and curl (MKCALENDAR).
#
# The mail (tests/integration/enrich_e2e_mail.py): two customers -
# Initech writing from initech.com and eu.initech.com, Umbrella from
# umbrella.co.uk and sales.umbrella.co.uk - free-mail senders (gmail.com,
# yahoo.co.uk), a no-reply and an Auto-Submitted sender, internal mail,
# a three-message thread whose middle message is alice's APPEND to Sent,
# RFC 2047 subjects and names, one message in both reps' INBOXes.
# The calendar: alice's renewal review (bob and two Initech people
# invited), the same event in bob's calendar with his ACCEPTED (one
# meeting), then alice moves it (SEQUENCE 1, new PARTSTATs) and bob
# deletes his copy (the meeting stays); bob's Umbrella kickoff, then
# cancelled (STATUS:CANCELLED, SEQUENCE 1).
#
# Asserted: the full sorted output of queries over accounts (name,
# account domains, contact domains), contacts (address, name, account,
# internal), threads (subject, count, Message-IDs), messages per
# direction/owner/mailbox, machine senders, meetings and attendees with
# PARTSTAT, each compared with the expected text written below; nothing
# dead-lettered.
#
# Latency, defined: for every record crm-enrich consumed, from the
# record's observed-at header (the proxy's wall clock when it saw the
# message or calendar object begin, millisecond resolution) to the moment
# its transaction had committed.  crm-enrich logs "record ... done" right
# after COMMIT returns; with ENRICH_STAMP=1 each log line is stamped with
# the wall clock as the pipe delivers it (microseconds later), so the
# figure is an upper bound that includes the tap, the spool, crm-capture,
# Kafka, the consumer and the transaction.  As a cross-check the
# database's own clock is used as a lower bound for mail: messages.
# created_at (now() at the transaction's start) must lie between
# observed-at and the stamp.  Two legs are printed too: observed-at ->
# the Kafka record's timestamp (crm-capture's produce call) and from there
# to the commit.  Median and p95 are printed; p95 over 2 s fails.  All
# clocks are this machine's.  The consumer is warmed up first (see
# below): the figure is that of a running crm-enrich, not of a consumer
# group's first fetch.
#
# Searchable: crm-index follows PostgreSQL into the embedded vector store
# while the clients run.  For every message, from its observed-at to the
# first moment its chunk rows were visible to a query (a poller reads
# message_chunks every 50 ms and stamps each answer when it returns, so
# again an upper bound; the vectors are written before the rows).  p95
# over 5 s fails.  Then crm-search, the managers' CLI, finds messages by
# words of their subjects.
#
# Last, both topics replayed from offset 0 three times, each by a new
# consumer group, leave every table byte for byte as it was (db_dump:
# each table's rows in primary-key order), and pg_dump --data-only byte
# for byte too, sequences included: a replay rewrites no row and draws
# no id (enrich_kafka does the same over a larger set with poison).
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_e2e 13
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"
. "$TLIB/enrich.sh"
. "$TLIB/radicale.sh"
. "$TLIB/caldav.sh"
. "$TLIB/index.sh"
need_cmd mbsync kcat curl vdirsyncer
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-capture" ] &&
	[ "${CRM_TEST_DIRECT:-}" != 1 ] ||
	skip "the tap lives in crm-proxy: no direct mode"

A=alice@acme.example
BO=bob@acme.example

step "PostgreSQL 15 + schema, Kafka + topics, Dovecot, Radicale"
enrich_stack
dovecot_start
"$PY" "$ROOT/tests/integration/enrich_e2e_mail.py" "$T/mail" >"$T/gen.out" ||
	fail "enrich_e2e_mail.py"
note "mailboxes: $(cat "$T/gen.out")"
dovecot_import "$A" "$T/mail/alice" || fail "doveadm import alice"
dovecot_import "$BO" "$T/mail/bob" || fail "doveadm import bob"
RADICALE_USERS="$A:alicepw $BO:bobpw" \
	radicale_start "$T/certs/dovecot.pem" "$T/certs/dovecot.key"

step "crm-capture, crm-proxy (IMAP + CalDAV, tenant acme), crm-enrich"
tap_capture_start
tap_proxy_capture acme
alloc_port CALPORT
PROXY_EXTRA="$PROXY_EXTRA
[listen cal]
address = 127.0.0.1:$CALPORT
protocol = caldav
tls = implicit
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key

[upstream radicale]
address = 127.0.0.1:$RADICALE_PORT
tls = implicit
ca_file = $CA
verify = yes
server_name = localhost

[route caldav]
default = radicale tenant=acme
"
target_start
wait_port "$CALPORT" 10 "$PROXY_PID" || fail "no CalDAV listener"
P="https://localhost:$CALPORT"
ENRICH_STAMP=1 enrich_start main
for i in $(seq 1 150); do
	grep -q 'partitions assigned' "$T/enrich-main.log" && break
	sleep 0.2
done
grep -q 'partitions assigned' "$T/enrich-main.log" ||
	fail "crm-enrich did not join its group"
# A consumer that has just joined gets its first records late: the
# broker does not wake the fetch that was waiting when they were
# appended, so they come with the next one, after fetch.wait.max.ms
# (500 ms; kcat shows the same, once after it starts).  A deployed
# crm-enrich runs for weeks, so the latency below is measured on a
# consumer that has already received records: a calendar with only a
# VTODO per rep, which crm-enrich ignores before it touches the database.
# (Without this step mail measured ~0.6 s median instead of ~0.2 s.)
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crm e2e//EN\r\nBEGIN:VTODO\r\nUID:warm-up\r\nEND:VTODO\r\nEND:VCALENDAR\r\n' >"$T/warmup.ics"
t0=$(now_ms)
for u in "$A" "$BO"; do
	kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.calendar.v1 -k "acme/$u" \
	    -H schema=crm.calendar/1 -H tenant=acme -H "user=$u" \
	    "$T/warmup.ics" || fail "kcat produce warm-up"
done
for i in $(seq 1 150); do
	[ "$(grep -c ' ignored ' "$T/enrich-main.log")" = 2 ] && break
	sleep 0.1
done
[ "$(grep -c ' ignored ' "$T/enrich-main.log")" = 2 ] ||
	fail "crm-enrich did not consume the warm-up records"
note "crm-enrich consuming: warm-up records processed $(($(now_ms) - t0)) ms after produce"

step "crm-index into the embedded vector store, a poller on message_chunks"
index_stack
index_start_wait main
# Each answer stamped when it returns (microseconds): an upper bound on
# when the rows became visible.
(
	while :; do
		keys="$(sql "SELECT DISTINCT message_key FROM message_chunks" 2>/dev/null)"
		ts="$(date +%s%6N)"
		[ -n "$keys" ] && printf '%s\n' "$keys" | sed "s/^/$ts /"
		sleep 0.05
	done
) >"$T/chunks.poll" &
POLL_PID=$!
track_pid "$POLL_PID" "message_chunks poller"

step "mail: mbsync through the proxy (alice, then bob), APPEND to Sent"
mbsync_pull_conf "$T/mbsync-alice.rc" "$A" alicepw "$T/maildir-alice"
mbsync_pull_conf "$T/mbsync-bob.rc" "$BO" bobpw "$T/maildir-bob"
timeout 120 mbsync -q -c "$T/mbsync-alice.rc" target >"$T/mbsync.log" 2>&1 ||
	{ tail "$T/mbsync.log" >&2; fail "mbsync alice"; }
# alice's copy of the message both reps received is the one stored
wait_sql "SELECT count(*) FROM messages" 32 60
timeout 120 mbsync -q -c "$T/mbsync-bob.rc" target >>"$T/mbsync.log" 2>&1 ||
	{ tail "$T/mbsync.log" >&2; fail "mbsync bob"; }
wait_sql "SELECT count(*) FROM messages" 34 60
"$PY" - "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_CA" "$A" "$T/mail/sent.eml" <<'PYEOF' || fail "imaplib APPEND"
import imaplib, ssl, sys
host, port, ca, user, path = sys.argv[1:6]
c = imaplib.IMAP4(host, int(port))
c.starttls(ssl_context=ssl.create_default_context(cafile=ca))
c.login(user, "alicepw")
typ, data = c.append("Sent", "(\\Seen)", None, open(path, "rb").read())
assert typ == "OK", (typ, data)
c.logout()
print("  APPEND to Sent:", data[0].decode())
PYEOF
wait_sql "SELECT count(*) FROM messages" 35 60

step "calendar: vdirsyncer through the proxy (alice and bob)"
C=(curl -sS --max-time 10 --cacert "$CA")
for u in "$A:alicepw" "$BO:bobpw"; do
	code="$("${C[@]}" -u "$u" -o /dev/null -w '%{http_code}' \
		-X MKCALENDAR "$P/${u%%:*}/work/")"
	[ "$code" = 201 ] || fail "MKCALENDAR for ${u%%:*}: $code"
done
caldav_vdirsyncer alice "$P/" "$A" alicepw
caldav_vdirsyncer bob "$P/" "$BO" bobpw
caldav_vs alice discover cal
caldav_vs bob discover cal
# vevent UID SEQ STATUS START END SUMMARY ORGANIZER ATTENDEE...
# (ATTENDEE: PARTSTAT|CN|address)
vevent() {
	local uid="$1" seq="$2" st="$3" s="$4" e="$5" sum="$6" org="$7" a
	shift 7
	printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crm e2e//EN\r\n'
	printf 'BEGIN:VEVENT\r\nUID:%s\r\nSEQUENCE:%s\r\nSTATUS:%s\r\n' \
		"$uid" "$seq" "$st"
	printf 'DTSTAMP:20261120T09000%sZ\r\nDTSTART:%s\r\nDTEND:%s\r\n' \
		"$seq" "$s" "$e"
	printf 'SUMMARY:%s\r\nORGANIZER;CN=%s:mailto:%s\r\n' "$sum" \
		"${org%%|*}" "${org#*|}"
	for a in "$@"; do
		IFS='|' read -r ps cn ad <<<"$a"
		printf 'ATTENDEE;PARTSTAT=%s;CN=%s:mailto:%s\r\n' "$ps" "$cn" "$ad"
	done
	printf 'END:VEVENT\r\nEND:VCALENDAR\r\n'
}
R=renewal-review@acme.example
K=umbrella-kickoff@acme.example
vevent "$R" 0 CONFIRMED 20261203T140000Z 20261203T150000Z \
	"Initech renewal review" "Alice Seller|$A" \
	"NEEDS-ACTION|Bob Closer|$BO" "NEEDS-ACTION|Dana Whitfield|dana@initech.com" \
	"NEEDS-ACTION|Carl Berger|carl@eu.initech.com" \
	>"$T/vdir-alice/work/renewal.ics"
caldav_vs alice sync
wait_sql "SELECT count(*) FROM meetings" 1 30
# the same event in bob's calendar, with his answer: one meeting
vevent "$R" 0 CONFIRMED 20261203T140000Z 20261203T150000Z \
	"Initech renewal review" "Alice Seller|$A" \
	"ACCEPTED|Bob Closer|$BO" "NEEDS-ACTION|Dana Whitfield|dana@initech.com" \
	"NEEDS-ACTION|Carl Berger|carl@eu.initech.com" \
	>"$T/vdir-bob/work/renewal.ics"
caldav_vs bob sync
wait_sql "SELECT partstat FROM attendees WHERE address = '$BO'" ACCEPTED 30
vevent "$K" 0 CONFIRMED 20261208T093000Z 20261208T103000Z \
	"Umbrella onboarding kickoff" "Bob Closer|$BO" \
	"ACCEPTED|Frank Hale|frank@umbrella.co.uk" \
	"TENTATIVE|Ian Wright|ian@sales.umbrella.co.uk" \
	"NEEDS-ACTION|Olga Novak|olga@umbrella.co.uk" \
	"ACCEPTED|Alice Seller|$A" >"$T/vdir-bob/work/kickoff.ics"
caldav_vs bob sync
wait_sql "SELECT count(*) FROM meetings" 2 30
# alice moves the review; her copy has everyone's answers
vevent "$R" 1 CONFIRMED 20261204T100000Z 20261204T110000Z \
	"Initech renewal review (moved)" "Alice Seller|$A" \
	"ACCEPTED|Bob Closer|$BO" "ACCEPTED|Dana Whitfield|dana@initech.com" \
	"DECLINED|Carl Berger|carl@eu.initech.com" \
	>"$T/vdir-alice/work/renewal.ics"
caldav_vs alice sync
wait_sql "SELECT sequence FROM meetings WHERE uid = '$R'" 1 30
# bob cancels the kickoff, then deletes his copy of the review
vevent "$K" 1 CANCELLED 20261208T093000Z 20261208T103000Z \
	"Umbrella onboarding kickoff" "Bob Closer|$BO" \
	"ACCEPTED|Frank Hale|frank@umbrella.co.uk" \
	"TENTATIVE|Ian Wright|ian@sales.umbrella.co.uk" \
	"NEEDS-ACTION|Olga Novak|olga@umbrella.co.uk" \
	"ACCEPTED|Alice Seller|$A" >"$T/vdir-bob/work/kickoff.ics"
caldav_vs bob sync
wait_sql "SELECT status FROM meetings WHERE uid = '$K'" CANCELLED 30
rm -f "$(grep -l "UID:$R" "$T"/vdir-bob/work/*.ics)"
caldav_vs bob sync
caldav_vs alice sync
caldav_vs bob sync

step "every record consumed"
nmail="$(tap_kafka_read crm.mail.v1 "$T/mail.jsonl" --expect 36 --timeout 60)"
ncal="$(tap_kafka_read crm.calendar.v1 "$T/cal.jsonl" --expect 8 --timeout 60)"
total=$((nmail + ncal))
ncal=$((ncal - 2))	# the warm-up records
for i in $(seq 1 150); do
	n="$(grep -c ' debug: record \| dead-letter ' "$T/enrich-main.log")"
	[ "$n" -ge "$total" ] && break
	sleep 0.2
done
note "$nmail mail records, $ncal calendar records on Kafka; crm-enrich logged $n"
[ "$n" = "$total" ] || fail "crm-enrich processed $n of $total records"
[ "$nmail" = 36 ] || fail "crm.mail.v1 holds $nmail records, expected 36 (35 fetched + 1 appended)"
! grep -q 'dead-letter ' "$T/enrich-main.log" ||
	{ grep 'dead-letter ' "$T/enrich-main.log"; fail "records were dead-lettered"; }

step "searchable: observed-at -> chunk rows visible, then crm-search"
index_wait_idle 120
sleep 0.2
kill "$POLL_PID" 2>/dev/null
wait "$POLL_PID" 2>/dev/null
sql "SELECT idempotency_key || ' ' || (extract(epoch FROM observed_at) *
    1000000)::bigint FROM messages" >"$T/observed.txt"
"$PY" - "$T/observed.txt" "$T/chunks.poll" "$T/searchable.txt" <<'PYEOF' || fail "searchable latency"
import sys
observed, poll, out = sys.argv[1:4]
obs = dict(l.split() for l in open(observed))
first = {}
for l in open(poll):
    ts, key = l.split()
    first.setdefault(key, int(ts))
lat, missing = [], []
with open(out, "w") as f:
    for key, us in obs.items():
        if key not in first:
            missing.append(key)
            continue
        ms = (first[key] - int(us)) / 1000.0
        lat.append(ms)
        f.write("%s %.1f\n" % (key, ms))
def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(p / 100.0 * len(v) + 0.999999) - 1))]
print("  observed-at -> searchable  n=%d  median %.1f ms  p95 %.1f ms  max %.1f ms"
      % (len(lat), pct(lat, 50), pct(lat, 95), max(lat)))
bad = []
if missing:
    bad.append("%d messages never got chunk rows: %s" % (len(missing), missing[:5]))
if len(lat) < 30:
    bad.append("only %d messages measured" % len(lat))
elif pct(lat, 95) > 5000:
    bad.append("p95 %.1f ms > 5000 ms" % pct(lat, 95))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PYEOF
# crm-search, as a manager runs it (role crm_api): subjects' words find
# their messages among the first ten.
found=0
while IFS='|' read -r key subject; do
	search_keys acme "$subject" 10 | grep -qxF "$key" ||
		fail "crm-search \"$subject\" did not return $key"
	found=$((found + 1))
done < <(sql "SELECT idempotency_key || '|' || subject FROM messages WHERE
    direction = 'in' AND subject ~ '^[A-Za-z]' ORDER BY id LIMIT 5")
[ "$found" = 5 ] || fail "crm-search checked $found messages, expected 5"
note "crm-search found each of $found messages by its subject's words"
stop_pid "$INDEX_PID_main" 20 || fail "crm-index did not stop on SIGTERM"

step "the CRM rows, compared in full"
# check NAME QUERY <<expected: the query's rows (one text column, sorted
# by the query) must equal the expected text exactly
check() {
	local name="$1" q="$2"
	cat >"$T/want-$name.txt"
	sql "$q" >"$T/got-$name.txt" || fail "query $name"
	if ! diff -u "$T/want-$name.txt" "$T/got-$name.txt" >"$T/diff-$name.txt"; then
		cat "$T/diff-$name.txt"
		fail "$name rows differ from the expected text"
	fi
	note "$name: $(wc -l <"$T/got-$name.txt") rows as expected"
}

check accounts "SELECT a.name || ' | ' || (SELECT string_agg(d.domain, ','
    ORDER BY d.domain) FROM account_domains d WHERE d.account_id = a.id)
    || ' | ' || (SELECT string_agg(DISTINCT ca.domain, ',' ORDER BY
    ca.domain) FROM contacts c JOIN contact_addresses ca ON ca.contact_id
    = c.id WHERE c.account_id = a.id) FROM accounts a ORDER BY 1" <<'EOF'
initech.com | initech.com | eu.initech.com,initech.com
umbrella.co.uk | umbrella.co.uk | sales.umbrella.co.uk,umbrella.co.uk
EOF

check contacts "SELECT ca.address || ' | ' || COALESCE(c.display_name, '-')
    || ' | ' || COALESCE(a.name, '-') || ' | ' || CASE WHEN c.internal
    THEN 'internal' ELSE 'external' END FROM contact_addresses ca JOIN
    contacts c ON c.id = ca.contact_id LEFT JOIN accounts a ON a.id =
    c.account_id ORDER BY 1" <<'EOF'
alice@acme.example | Alice Seller | - | internal
bob@acme.example | Bob Closer | - | internal
carl@eu.initech.com | Carl Berger | initech.com | external
dana@initech.com | Dana Whitfield | initech.com | external
erin@gmail.com | Erin Park | - | external
frank@umbrella.co.uk | Frank Hale | umbrella.co.uk | external
ian@sales.umbrella.co.uk | Ian Wright | umbrella.co.uk | external
juergen@initech.com | Jürgen Müller | initech.com | external
olga@umbrella.co.uk | Olga Novak | umbrella.co.uk | external
zoe@yahoo.co.uk | Zoe Adams | - | external
EOF

check machines "SELECT p.address || ' | ' || p.role || ' | ' ||
    COALESCE(p.contact_id::text, 'no contact') || ' | ' || m.message_id
    FROM participants p JOIN messages m ON m.id = p.message_id WHERE
    p.contact_id IS NULL ORDER BY 1" <<'EOF'
billing@vendorly.io | from | no contact | invoice-1@vendorly.io
noreply@vendorly.io | from | no contact | notice-1@vendorly.io
EOF

check messages "SELECT direction || ' | ' || mailbox_owner || ' | ' ||
    mailbox || ' | ' || count(*) || ' messages, ' || sum((SELECT count(*)
    FROM participants p WHERE p.message_id = m.id)) || ' participants'
    FROM messages m GROUP BY direction, mailbox_owner, mailbox ORDER BY 1" <<'EOF'
in | alice@acme.example | INBOX | 32 messages, 66 participants
in | bob@acme.example | INBOX | 2 messages, 5 participants
out | alice@acme.example | Sent | 1 messages, 2 participants
EOF

check threads "SELECT t.subject || ' | ' || t.message_count || ' | ' ||
    string_agg(m.message_id, ' ' ORDER BY m.sent_at, m.message_id) FROM
    threads t JOIN messages m ON m.thread_id = t.id GROUP BY t.id ORDER
    BY 1" <<'EOF'
Angebot für Q1 – Lieferung | 1 | angebot-1@sales.umbrella.co.uk
Bestellung Nr. 4711 übermittelt | 1 | po-1@initech.com
Budget approval received | 1 | f10@eu.initech.com
Competitor comparison | 1 | f19@sales.umbrella.co.uk
Data migration questions | 1 | frank-2@umbrella.co.uk
Delivery window for January | 1 | f16@eu.initech.com
Discount for 500 seats | 1 | f06@sales.umbrella.co.uk
Feature request: audit log export | 1 | f17@initech.com
Follow-up on retail pilots | 1 | f11@gmail.com
Go-live checklist | 1 | f18@umbrella.co.uk
Intro from the conference | 1 | erin-1@mail.gmail.com
Invoice INV-2026-118 is available | 1 | invoice-1@vendorly.io
Invoice address change | 1 | f01@initech.com
Legal review of the DPA | 1 | f12@initech.com
Lieferadresse Werk 2 | 1 | f04@initech.com
Looking for a reference customer | 1 | zoe-1@yahoo.co.uk
Onboarding kickoff agenda | 1 | kickoff-1@umbrella.co.uk
Pipeline review Friday | 1 | pipeline-1@acme.example
Pricing sheet update | 1 | f15@sales.umbrella.co.uk
Purchase order 88213 | 1 | f02@eu.initech.com
Quarterly business review slides | 1 | f08@initech.com
Rechnung 2026-0042 | 1 | f14@initech.com
Reference call next week | 1 | f09@sales.umbrella.co.uk
Renewal signature process | 1 | f20@initech.com
Renewal terms for 2027 | 3 | renewal-1@initech.com renewal-2@acme.example renewal-3@initech.com
SSO configuration | 1 | f07@umbrella.co.uk
Sandbox access for the IT team | 1 | f13@umbrella.co.uk
Second site rollout | 1 | f21@eu.initech.com
Security questionnaire | 1 | security-1@initech.com
Support escalation path | 1 | f22@umbrella.co.uk
Training dates in December | 1 | f05@umbrella.co.uk
VAT number for the EU entity | 1 | f03@eu.initech.com
Your Vendorly password was changed | 1 | notice-1@vendorly.io
EOF

check meetings "SELECT uid || ' | ' || sequence || ' | ' || summary || ' | '
    || COALESCE(status, '-') || ' | ' || to_char(starts_at AT TIME ZONE
    'UTC', 'YYYY-MM-DD HH24:MI') || ' - ' || to_char(ends_at AT TIME ZONE
    'UTC', 'HH24:MI') || ' | ' || organizer || ' | ' || mailbox_owner FROM
    meetings ORDER BY 1" <<'EOF'
renewal-review@acme.example | 1 | Initech renewal review (moved) | CONFIRMED | 2026-12-04 10:00 - 11:00 | alice@acme.example | alice@acme.example
umbrella-kickoff@acme.example | 1 | Umbrella onboarding kickoff | CANCELLED | 2026-12-08 09:30 - 10:30 | bob@acme.example | bob@acme.example
EOF

check attendees "SELECT m.uid || ' | ' || a.address || ' | ' || a.partstat
    || ' | ' || COALESCE(a.display_name, '-') || ' | ' || CASE WHEN
    a.contact_id IS NULL THEN 'no contact' ELSE COALESCE((SELECT ac.name
    FROM contacts c JOIN accounts ac ON ac.id = c.account_id WHERE c.id =
    a.contact_id), 'contact without account') END FROM attendees a JOIN
    meetings m ON m.id = a.meeting_id ORDER BY 1" <<'EOF'
renewal-review@acme.example | bob@acme.example | ACCEPTED | Bob Closer | contact without account
renewal-review@acme.example | carl@eu.initech.com | DECLINED | Carl Berger | initech.com
renewal-review@acme.example | dana@initech.com | ACCEPTED | Dana Whitfield | initech.com
umbrella-kickoff@acme.example | alice@acme.example | ACCEPTED | Alice Seller | contact without account
umbrella-kickoff@acme.example | frank@umbrella.co.uk | ACCEPTED | Frank Hale | umbrella.co.uk
umbrella-kickoff@acme.example | ian@sales.umbrella.co.uk | TENTATIVE | Ian Wright | umbrella.co.uk
umbrella-kickoff@acme.example | olga@umbrella.co.uk | NEEDS-ACTION | Olga Novak | umbrella.co.uk
EOF

check tenant "SELECT tenant_id || ' | ' || (SELECT string_agg(domain, ','
    ORDER BY domain) FROM tenant_domains d WHERE d.tenant_id =
    t.tenant_id) FROM tenants t ORDER BY 1" <<'EOF'
acme | acme.example
EOF

step "latency: observed-at -> committed"
sql "SELECT kafka_topic || ' ' || kafka_partition || ' ' || kafka_offset ||
    ' ' || (extract(epoch FROM created_at) * 1000000)::bigint FROM
    messages" >"$T/created.txt"
"$PY" - "$T/mail.jsonl" "$T/cal.jsonl" "$T/enrich-main.log" "$T/created.txt" \
    "$T/latency.txt" <<'PYEOF' || fail "latency"
import datetime, json, re, sys
mail, cal, log, created, out = sys.argv[1:6]
obs = {}
warm = set()
for topic, path in (("crm.mail.v1", mail), ("crm.calendar.v1", cal)):
    for l in open(path):
        r = json.loads(l)
        if "observed-at" not in r["headers"]:     # kcat's warm-up
            warm.add((topic, r["partition"], r["offset"]))
            continue
        t = datetime.datetime.strptime(r["headers"]["observed-at"],
                                       "%Y-%m-%dT%H:%M:%S.%fZ")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1e6
        obs[(topic, r["partition"], r["offset"])] = (t, r["timestamp"] * 1e3)
pat = re.compile(r"^(\d+) crm-enrich\[\d+\]: debug: record (\S+)\[(\d+)\]@(\d+)"
                 r" tenant=\S+ (\w+) (\d+) ms")
rows = []
for l in open(log):
    m = pat.match(l)
    if m:
        k = (m.group(2), int(m.group(3)), int(m.group(4)))
        rows.append((k, int(m.group(1)), m.group(5), int(m.group(6))))
bad = []
lat = {"crm.mail.v1": [], "crm.calendar.v1": []}
legs = ([], [])     # observed -> produced, produced -> committed
with open(out, "w") as f:
    for k, stamp, res, proc in rows:
        if k in warm:
            continue
        if k not in obs:
            bad.append("logged record %s not read from Kafka" % (k,))
            continue
        ms = (stamp - obs[k][0]) / 1000.0
        lat[k[0]].append(ms)
        legs[0].append((obs[k][1] - obs[k][0]) / 1000.0)
        legs[1].append((stamp - obs[k][1]) / 1000.0)
        f.write("%s %d %d %s %.1f\n" % (k[0], k[1], k[2], res, ms))
lower = []
for l in open(created):
    topic, p, o, us = l.split()
    k = (topic, int(p), int(o))
    stamp = [s for kk, s, _, _ in rows if kk == k]
    if not stamp:
        bad.append("message row from %s has no log line" % (k,)); continue
    # created_at is now() at BEGIN: after observed-at (ms, truncated),
    # before the commit stamp
    if not (obs[k][0] <= int(us) <= stamp[0]):
        bad.append("%s: created_at %s not within [observed %d, stamp %d]"
                   % (k, us, obs[k][0], stamp[0]))
    lower.append((int(us) - obs[k][0]) / 1000.0)
def pct(v, p):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(p / 100.0 * len(v) + 0.999999) - 1))]
allv = lat["crm.mail.v1"] + lat["crm.calendar.v1"]
for name, v in (("mail", lat["crm.mail.v1"]),
                ("calendar", lat["crm.calendar.v1"]), ("all", allv),
                ("mail, database clock (lower bound)", lower),
                ("leg: observed-at -> produced", legs[0]),
                ("leg: produced -> committed", legs[1])):
    if v:
        print("  %-36s n=%-3d median %7.1f ms  p95 %7.1f ms  max %7.1f ms"
              % (name, len(v), pct(v, 50), pct(v, 95), max(v)))
for b in bad[:10]:
    print("  " + b)
if len(allv) < 30:
    bad.append("only %d records measured" % len(allv))
if pct(allv, 95) > 2000:
    bad.append("p95 %.1f ms > 2000 ms" % pct(allv, 95))
    print("  " + bad[-1])
sys.exit(1 if bad else 0)
PYEOF

stop_pid "$ENRICH_PID_main" 20 || fail "crm-enrich did not stop on SIGTERM"
db_dump "$T/dump-0.txt"
# pg_dump too, whole: rows in its own order and the sequences' positions
# (\restrict and \unrestrict carry a random key per run).
pg_data() {
	pg_dump --data-only --no-owner "$PGDATABASE" |
	    grep -v -E '^\\(un)?restrict ' || fail "pg_dump"
}
pg_data >"$T/pg_dump-0.sql"
for g in 1 2 3; do
	step "replay $g: both topics from offset 0, new group: every table unchanged"
	enrich_start "replay$g" "replay-$g"
	for i in $(seq 1 300); do
		n="$(grep -c ' debug: record \| dead-letter ' "$T/enrich-replay$g.log")"
		[ "$n" -ge "$total" ] && break
		sleep 0.2
	done
	[ "$n" -ge "$total" ] || fail "replay $g processed $n of $total records"
	pid_var="ENRICH_PID_replay$g"
	stop_pid "${!pid_var}" 20 || fail "replay $g did not stop"
	db_dump "$T/dump-$g.txt"
	cmp -s "$T/dump-0.txt" "$T/dump-$g.txt" ||
		{ diff "$T/dump-0.txt" "$T/dump-$g.txt" | head -20; fail "replay $g changed the database"; }
	pg_data >"$T/pg_dump-$g.sql"
	cmp -s "$T/pg_dump-0.sql" "$T/pg_dump-$g.sql" ||
		{ diff "$T/pg_dump-0.sql" "$T/pg_dump-$g.sql" | head -20; fail "replay $g: pg_dump --data-only differs"; }
	l="$T/enrich-replay$g.log"
	note "$(wc -c <"$T/dump-$g.txt") bytes of table data and $(wc -c <"$T/pg_dump-$g.sql") bytes of pg_dump identical ($(grep -c ' duplicate ' "$l") duplicates, $(grep -c ' done ' "$l") calendar upserts, $(grep -c ' ignored ' "$l") ignored, $(grep -c 'dead-letter ' "$l") dead letters)"
done

proxy_alive
proxy_check_log
pass "36 mail + $ncal calendar records through proxy, capture, Kafka and crm-enrich: every expected row, searchable p95 $(awk '{print $2}' "$T/searchable.txt" | sort -n | awk '{v[NR]=$1} END {r=int(0.95*NR+0.999999); print v[r]}') ms, replayed 3 times unchanged, latency p95 $(awk '{print $5}' "$T/latency.txt" | sort -n | awk '{v[NR]=$1} END {r=int(0.95*NR+0.999999); print v[r]}') ms"
