#!/usr/bin/env bash
# enrich_kafka.sh - crm-enrich against a real Kafka broker and PostgreSQL 15.
#
#   1. 120 generated messages (+ copies seen in a second mailbox) and 6
#      meetings, two tenants, produced with kcat: every expected row
#      appears, per tenant (messages, participants, threads, attachments,
#      meetings, attendees, contact addresses, accounts).
#   2. Poison: a record without a tenant header, one whose key does not
#      match its headers, one calendar record that is not iCalendar and one
#      the database rejects (a test trigger) go to crm.deadletter.v1 with
#      an error header; a valid record produced after them is still
#      processed.
#   3. SIGTERM: exits 0, offsets committed, group left.
#   4. Replay: the whole topics consumed three more times from offset 0,
#      each under a new group id: every table, dumped with its rows in
#      primary-key order (db_dump), is byte for byte what it was before
#      the first replay, and pg_dump --data-only is byte for byte the
#      same (rows in the order pg_dump writes them: no record rewrote a
#      row) except for the setval lines of the sequences the poison
#      record draws from: its transaction is rolled back after its
#      inserts took ids, on every replay (printed).  Everything else
#      draws no id on a replay: messages and meetings are looked up
#      before they are inserted.  Nothing is excluded from the tables:
#      the dead-letter records the replays write again go to Kafka, not
#      to the database.
#   5. crm-admin purge of an address: contact, addresses, participations
#      and the messages where they were the only external party are gone;
#      the audit row exists; the other tenant's identical address stays.
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_kafka 0
. "$TLIB/enrich.sh"
enrich_stack

step "--help, --check"
"$ENRICH" --help | grep -q -- '--check' || fail "crm-enrich --help"
enrich_conf "$T/ok.conf"
"$ENRICH" --check -c "$T/ok.conf" >/dev/null || fail "--check refused a good file"
printf '[database]\nconninfo = host=x password=hunter2\n' >"$T/bad.conf"
if "$ENRICH" --check -c "$T/bad.conf" 2>"$T/bad.err"; then fail "password accepted"; fi
grep -q "bad.conf:2: conninfo must not contain a password" "$T/bad.err" || fail "no file:line"
printf '[kafka]\nbrokers = x\nbogus = 1\n' >"$T/bad.conf"
if "$ENRICH" --check -c "$T/bad.conf" 2>"$T/bad.err"; then fail "unknown key accepted"; fi
grep -q 'bad.conf:3: unknown key "bogus"' "$T/bad.err" || fail "unknown key: no file:line"

step "generate and produce"
"$PY" "$GEN" "$T/gen" --count 120 --seed 3 >"$T/gen.out"
records="$(wc -l <"$T/gen/manifest.tsv")"
t0=$(now_ms)
produce_manifest "$T/gen/manifest.tsv"
note "$records records produced with kcat in $(($(now_ms) - t0)) ms"

step "consume"
t0=$(now_ms)
enrich_start a
want="$(sql "SELECT 1" >/dev/null; "$PY" -c "import json,sys; e=json.load(open(sys.argv[1])); print(sum(e[t]['messages'] for t in e))" "$T/gen/expected.json")"
wait_sql "SELECT count(*) FROM messages" "$want" 90
wait_sql "SELECT count(*) FROM meetings" 6 30
ms=$(($(now_ms) - t0))
note "$records records -> $want messages in $ms ms (includes joining the group)"
check_expected "$T/gen/expected.json"
check_order
# the copy seen in a second mailbox is one row, and was counted as such
dups="$(grep -c ' duplicate ' "$T/enrich-a.log")"
[ "$dups" -gt 0 ] || fail "no record was recognised as a duplicate"
note "$dups records were copies of a message already stored"
# spot checks on parsing
[ "$(sql "SELECT count(*) FROM messages WHERE subject LIKE 'Angebot für %'")" -gt 0 ] ||
	fail "RFC 2047 subjects not decoded"
[ "$(sql "SELECT count(*) FROM contact_addresses WHERE address = 'dave.ops@mail.initech.com'")" -ge 1 ] ||
	fail "addresses not lower-cased"
[ "$(sql "SELECT count(DISTINCT account_id) FROM account_domains d JOIN contact_addresses c USING (tenant_id) WHERE d.tenant_id = 'acme' AND d.domain = 'initech.com'")" = 1 ] ||
	fail "initech.com account missing"
[ "$(sql "SELECT count(*) FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id WHERE a.address = 'dave.ops@mail.initech.com' AND c.account_id IS NULL")" = 0 ] ||
	fail "mail.initech.com not resolved to the initech.com account"
[ "$(sql "SELECT count(*) FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id WHERE a.domain IN ('gmail.com', 'vendor.io') AND c.account_id IS NOT NULL")" = 0 ] ||
	fail "free-mail or no-reply address got an account"
[ "$(sql "SELECT count(*) FROM contacts WHERE internal AND tenant_id = 'acme'")" = 2 ] ||
	fail "acme should have exactly 2 internal contacts"
[ "$(sql "SELECT count(*) FROM attachments WHERE sha256 !~ '^[0-9a-f]{64}$' OR filename NOT LIKE 'offer-%.pdf' OR content_type <> 'application/pdf'")" = 0 ] ||
	fail "attachment metadata wrong"
[ "$(sql "SELECT count(*) FROM messages WHERE body_text LIKE 'Hello,%'")" = "$want" ] ||
	fail "body_text missing"
[ "$(sql "SELECT count(*) FROM attendees WHERE partstat = 'ACCEPTED'")" = 6 ] ||
	fail "PARTSTAT not stored"
[ "$(sql "SELECT kafka_headers->>'tenant' FROM messages WHERE tenant_id = 'globex' LIMIT 1")" = globex ] ||
	fail "kafka headers not kept"

step "poison records go to the dead-letter topic, later records still flow"
printf 'From: x@y.example\r\nSubject: p\r\n\r\nbody\r\n' >"$T/p.eml"
kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.mail.v1 -k acme/alice@acme.example \
    -H schema=crm.mail/1 -H user=alice@acme.example \
    -H idempotency-key="$(printf '%064d' 1)" "$T/p.eml"
kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.mail.v1 -k acme/mallory@evil.example \
    -H schema=crm.mail/1 -H tenant=globex -H user=alice@acme.example \
    -H idempotency-key="$(printf '%064d' 2)" "$T/p.eml"
printf 'this is not a calendar\r\n' >"$T/p.ics"
kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.calendar.v1 -k acme/alice@acme.example \
    -H schema=crm.calendar/1 -H tenant=acme -H user=alice@acme.example "$T/p.ics"
# A value the database itself rejects (permanent SQLSTATE, raised here
# by a trigger in the middle of the pipelined participant inserts) is
# poison too, and the connection survives it.
sql "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN IF NEW.address = 'boom@bad.example' THEN
    RAISE EXCEPTION 'rejected by test trigger'; END IF; RETURN NEW; END \$\$;
    CREATE TRIGGER boom BEFORE INSERT ON participants FOR EACH ROW EXECUTE FUNCTION boom()" >/dev/null
printf 'From: boom@bad.example\r\nTo: alice@acme.example\r\nMessage-ID: <boom@x>\r\nSubject: b\r\n\r\nbody\r\n' >"$T/boom.eml"
kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.mail.v1 -k acme/alice@acme.example \
    -H schema=crm.mail/1 -H tenant=acme -H user=alice@acme.example \
    -H idempotency-key="$(printf '%064d' 3)" "$T/boom.eml"
"$PY" "$GEN" "$T/gen2" --count 1 --start 500 --seed 3 --calendar 0 >/dev/null
produce_manifest "$T/gen2/manifest.tsv"
wait_sql "SELECT count(*) FROM messages WHERE message_id = 'm500.3@' || tenant_id || '.mail.example'" 1 30
kcat -C -b "$KAFKA_BOOTSTRAP" -t crm.deadletter.v1 -o beginning -e -q \
    -f '%k|%h\n' >"$T/dlq.txt" 2>/dev/null
[ "$(wc -l <"$T/dlq.txt")" = 4 ] || { cat "$T/dlq.txt"; fail "expected 4 dead letters"; }
grep -q 'error=database: P0001 .*rejected by test trigger' "$T/dlq.txt" || fail "no database rejection"
[ "$(sql "SELECT count(*) FROM messages WHERE message_id = 'boom@x'")" = 0 ] ||
	fail "the rejected message was partly stored"
# (the trigger stays: replays must dead-letter that record again)
grep -q 'error=missing tenant header' "$T/dlq.txt" || fail "no missing-tenant reason"
grep -q '^acme/mallory@evil.example|.*error=key is not' "$T/dlq.txt" ||
	fail "no key mismatch reason"
grep -q 'error-topic=crm.calendar.v1.*' "$T/dlq.txt" || fail "no calendar dead letter"
grep -q 'idempotency-key=0000' "$T/dlq.txt" || fail "original headers not kept"
note "dead letters: $(cut -d'|' -f2 "$T/dlq.txt" | grep -o 'error=[^,]*' | sort | uniq -c | tr '\n' ';')"

step "the enrichment libraries: decoding, scrubbing, resolution, calendar"
# Hand-written records, each proving one stage of the pipeline with the
# exact row it must produce.  All in tenant acme, mailbox alice.
nwired=0
produce_one() { # TOPIC FILE [IDKEY-SEED]
	local h=(-H schema=crm.mail/1)
	[ "$1" = crm.calendar.v1 ] && h=(-H schema=crm.calendar/1)
	[ -n "${3:-}" ] && h+=(-H "idempotency-key=$(printf '%s' "$3" | sha256sum | cut -c1-64)")
	kcat -P -b "$KAFKA_BOOTSTRAP" -t "$1" -k acme/alice@acme.example \
	    -H tenant=acme -H user=alice@acme.example -H direction=in \
	    "${h[@]}" "$2" || fail "kcat produce $2"
	nwired=$((nwired + 1))
}
# RFC 2047 subject; a signature with title and international phone; a
# sender on a subdomain of a co.uk company.
printf '%s\r\n' 'From: Ian Wright <ian@sales.wayne.co.uk>' \
    'To: alice@acme.example' 'Message-ID: <w1@wayne.co.uk>' \
    'Subject: =?UTF-8?B?QW5nZWJvdCBmw7xy?= =?ISO-8859-1?Q?_Q3_=E0_voir?=' \
    'Date: Tue, 3 Nov 2026 09:00:00 +0000' \
    'Content-Type: text/plain; charset=utf-8' '' \
    'Please find our revised terms below.' '' 'Best regards,' 'Ian Wright' \
    'Head of Procurement' 'Wayne Enterprises Ltd' 'Tel: +44 20 7946 0018' \
    >"$T/w1.eml"
produce_one crm.mail.v1 "$T/w1.eml" w1
# HTML only, with the previous message quoted in a blockquote.
printf '%s\r\n' 'From: Dana <dana@initech.com>' 'To: alice@acme.example' \
    'Message-ID: <w2@initech.com>' 'Subject: Re: pricing' \
    'Date: Tue, 3 Nov 2026 10:00:00 +0000' 'MIME-Version: 1.0' \
    'Content-Type: text/html; charset=utf-8' '' \
    '<html><body><p>Thanks, the numbers work for us.</p>' \
    '<div>On Mon, 2 Nov 2026, Alice wrote:</div>' \
    '<blockquote><p>Here is our offer for the third quarter.</p></blockquote>' \
    '</body></html>' >"$T/w2.eml"
produce_one crm.mail.v1 "$T/w2.eml" w2
# A free-mail sender (a person, never an account) and an automated one
# (kept as a message and a participant, never a contact).
printf '%s\r\n' 'From: Zoe <zoe@yahoo.co.uk>' 'To: alice@acme.example' \
    'Message-ID: <w3@yahoo.co.uk>' 'Subject: hello' '' 'Hi Alice' >"$T/w3.eml"
produce_one crm.mail.v1 "$T/w3.eml" w3
printf '%s\r\n' 'From: GitHub <notifications@github.com>' \
    'To: alice@acme.example' 'Message-ID: <w4@github.com>' \
    'Subject: [acme/app] build failed' 'Auto-Submitted: auto-generated' \
    '' 'The build failed.' >"$T/w4.eml"
produce_one crm.mail.v1 "$T/w4.eml" w4
# A weekly meeting in Europe/Berlin (CEST in October: UTC+2) with one
# overridden instance, then its cancellation.
printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//crm tests//EN' \
    METHOD:REQUEST BEGIN:VTIMEZONE TZID:Europe/Berlin BEGIN:DAYLIGHT \
    TZOFFSETFROM:+0100 TZOFFSETTO:+0200 DTSTART:19700329T020000 \
    'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU' END:DAYLIGHT BEGIN:STANDARD \
    TZOFFSETFROM:+0200 TZOFFSETTO:+0100 DTSTART:19701025T030000 \
    'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU' END:STANDARD END:VTIMEZONE \
    BEGIN:VEVENT UID:weekly-1@acme.example SEQUENCE:0 \
    DTSTAMP:20260901T090000Z 'DTSTART;TZID=Europe/Berlin:20261005T100000' \
    'DTEND;TZID=Europe/Berlin:20261005T110000' 'RRULE:FREQ=WEEKLY;COUNT=4' \
    'SUMMARY:Weekly sync' ORGANIZER:mailto:alice@acme.example \
    'ATTENDEE;PARTSTAT=ACCEPTED;CN=Ian:mailto:Ian@Sales.Wayne.co.uk' \
    'ATTENDEE;PARTSTAT=TENTATIVE:mailto:dana@initech.com' END:VEVENT \
    BEGIN:VEVENT UID:weekly-1@acme.example SEQUENCE:0 \
    DTSTAMP:20260901T090000Z 'RECURRENCE-ID;TZID=Europe/Berlin:20261012T100000' \
    'DTSTART;TZID=Europe/Berlin:20261012T150000' \
    'DTEND;TZID=Europe/Berlin:20261012T160000' 'SUMMARY:Weekly sync (moved)' \
    ORGANIZER:mailto:alice@acme.example END:VEVENT END:VCALENDAR >"$T/w5.ics"
produce_one crm.calendar.v1 "$T/w5.ics"
wait_sql "SELECT count(*) FROM messages WHERE message_id LIKE 'w_@%'" 4 30
wait_sql "SELECT count(*) FROM meetings WHERE uid = 'weekly-1@acme.example'" 1 30
[ "$(sql "SELECT subject FROM messages WHERE message_id = 'w1@wayne.co.uk'")" = "Angebot für Q3 à voir" ] ||
	fail "RFC 2047 subject not decoded: $(sql "SELECT subject FROM messages WHERE message_id = 'w1@wayne.co.uk'")"
[ "$(sql "SELECT body_text FROM messages WHERE message_id = 'w1@wayne.co.uk'")" = "Please find our revised terms below." ] ||
	fail "signature left in body_text"
[ "$(sql "SELECT c.title || '|' || c.phone FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id WHERE a.tenant_id = 'acme' AND a.address = 'ian@sales.wayne.co.uk'")" = "Head of Procurement|+442079460018" ] ||
	fail "signature title/phone not on the contact"
[ "$(sql "SELECT d.domain FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id JOIN account_domains d ON d.account_id = c.account_id WHERE a.tenant_id = 'acme' AND a.address = 'ian@sales.wayne.co.uk'")" = wayne.co.uk ] ||
	fail "sales.wayne.co.uk not resolved to the registrable domain wayne.co.uk"
[ "$(sql "SELECT body_text FROM messages WHERE message_id = 'w2@initech.com'")" = "Thanks, the numbers work for us." ] ||
	fail "HTML-only body not scrubbed: $(sql "SELECT body_text FROM messages WHERE message_id = 'w2@initech.com'")"
[ "$(sql "SELECT count(*) FROM messages WHERE message_id = 'w2@initech.com' AND body_quoted LIKE '%Here is our offer for the third quarter.%' AND body_text NOT LIKE '%offer%'")" = 1 ] ||
	fail "quote not in body_quoted"
[ "$(sql "SELECT count(*) FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id WHERE a.tenant_id = 'acme' AND a.address = 'zoe@yahoo.co.uk' AND c.account_id IS NULL")" = 1 ] ||
	fail "free-mail sender: contact without account expected"
[ "$(sql "SELECT count(*) FROM account_domains WHERE domain LIKE '%yahoo%'")" = 0 ] ||
	fail "a free-mail domain became an account"
[ "$(sql "SELECT count(*) FROM participants p JOIN messages m ON m.id = p.message_id WHERE m.message_id = 'w4@github.com' AND p.address = 'notifications@github.com' AND p.contact_id IS NULL")" = 1 ] ||
	fail "automated sender: participant without contact expected"
[ "$(sql "SELECT count(*) FROM contact_addresses WHERE address = 'notifications@github.com' OR domain = 'vendor.io'")" = 0 ] ||
	fail "an automated sender became a contact"
[ "$(sql "SELECT starts_at AT TIME ZONE 'UTC' || '|' || ends_at AT TIME ZONE 'UTC' || '|' || rrule || '|' || summary FROM meetings WHERE uid = 'weekly-1@acme.example'")" = "2026-10-05 08:00:00|2026-10-05 09:00:00|FREQ=WEEKLY;COUNT=4|Weekly sync" ] ||
	fail "recurring meeting in Europe/Berlin: $(sql "SELECT starts_at, ends_at, rrule, summary FROM meetings WHERE uid = 'weekly-1@acme.example'")"
[ "$(sql "SELECT string_agg(address || '=' || partstat, ',' ORDER BY address) FROM attendees a JOIN meetings m ON m.id = a.meeting_id WHERE m.uid = 'weekly-1@acme.example'")" = "dana@initech.com=TENTATIVE,ian@sales.wayne.co.uk=ACCEPTED" ] ||
	fail "attendees/PARTSTAT of the recurring meeting"
printf '%s\r\n' BEGIN:VCALENDAR VERSION:2.0 'PRODID:-//crm tests//EN' \
    METHOD:CANCEL BEGIN:VEVENT UID:weekly-1@acme.example SEQUENCE:1 \
    DTSTAMP:20260902T090000Z ORGANIZER:mailto:alice@acme.example \
    ATTENDEE:mailto:dana@initech.com STATUS:CANCELLED END:VEVENT \
    END:VCALENDAR >"$T/w6.ics"
produce_one crm.calendar.v1 "$T/w6.ics"
wait_sql "SELECT status FROM meetings WHERE uid = 'weekly-1@acme.example'" CANCELLED 30
[ "$(sql "SELECT count(*) || '|' || max(starts_at AT TIME ZONE 'UTC') FROM meetings WHERE uid = 'weekly-1@acme.example'")" = "1|2026-10-05 08:00:00" ] ||
	fail "CANCEL must keep one meeting and its times"
[ "$(sql "SELECT count(*) FROM attendees a JOIN meetings m ON m.id = a.meeting_id WHERE m.uid = 'weekly-1@acme.example'")" = 2 ] ||
	fail "CANCEL must not drop attendees"
# A CalDAV DELETE (no value, docs/events.md) takes the object out of one
# calendar: ignored, never dead-lettered, the meeting stays as it was.
ignored0="$(grep -c ' ignored ' "$T/enrich-a.log")"
meeting0="$(sql "SELECT m::text FROM meetings m WHERE uid = 'weekly-1@acme.example'")"
# (kcat skips empty values; with -K and -Z "key|" is a key and no value)
printf 'acme/alice@acme.example|\n' | kcat -P -K '|' -Z \
    -b "$KAFKA_BOOTSTRAP" -t crm.calendar.v1 -H schema=crm.calendar/1 \
    -H tenant=acme -H user=alice@acme.example \
    -H direction=out -H source=caldav -H http-method=DELETE \
    -H href=/alice@acme.example/work/weekly-1.ics \
    -H ical-uid=weekly-1@acme.example \
    -H "idempotency-key=$(printf 'delete weekly-1' | sha256sum | cut -c1-64)" \
    || fail "kcat produce DELETE"
nwired=$((nwired + 1))
for i in $(seq 1 100); do
	[ "$(grep -c ' ignored ' "$T/enrich-a.log")" -gt "$ignored0" ] && break
	sleep 0.2
done
grep ' ignored ' "$T/enrich-a.log" | tail -1 | grep -q 'crm.calendar.v1' ||
	fail "the CalDAV DELETE record was not ignored"
[ "$(sql "SELECT m::text FROM meetings m WHERE uid = 'weekly-1@acme.example'")" = "$meeting0" ] ||
	fail "a CalDAV DELETE changed the meeting"
note "$nwired records: RFC 2047 subject, signature fields, co.uk account, HTML scrubbed, free-mail and automated senders, recurring meeting in Europe/Berlin, its CANCEL, a CalDAV DELETE (ignored)"

step "database outage: records wait and retry, in order, none dead-lettered"
pg_stop "$T/pg"
"$PY" "$GEN" "$T/gen3" --count 8 --start 600 --seed 3 --calendar 0 >/dev/null
produce_manifest "$T/gen3/manifest.tsv"
for i in $(seq 1 100); do
	grep -q 'warning: retry crm.mail.v1' "$T/enrich-a.log" && break
	sleep 0.2
done
grep -q 'warning: retry crm.mail.v1' "$T/enrich-a.log" || fail "no retry logged during the outage"
sleep 3    # a few back-off rounds
pg_restart "$T/pg"
wait_sql "SELECT count(*) FROM messages WHERE message_id LIKE 'm60_.3@%'" 8 60
check_order
kcat -C -b "$KAFKA_BOOTSTRAP" -t crm.deadletter.v1 -o beginning -e -q \
    -f '%k\n' 2>/dev/null | wc -l | grep -qx 4 || fail "the outage dead-lettered records"
note "$(grep -c 'warning: retry' "$T/enrich-a.log") retries logged during the outage, 8 records stored in order afterwards"

step "SIGTERM: finish, commit, leave the group"
stop_pid "$ENRICH_PID_a" 20 || fail "crm-enrich did not stop on SIGTERM"
wait "$ENRICH_PID_a"; rc=$?
[ "$rc" = 0 ] || fail "crm-enrich exited $rc on SIGTERM"
grep -q 'partitions revoked' "$T/enrich-a.log" || fail "no revoke on close"
grep -q 'stopped: done=' "$T/enrich-a.log" || fail "no final stats line"
total=$((records + 5 + nwired + $(wc -l <"$T/gen3/manifest.tsv")))
before="$(table_counts)"
note "$before"
seqs() {
	sql "SELECT string_agg(sequencename || '=' || COALESCE(last_value, 0),
	    ' ' ORDER BY sequencename) FROM pg_sequences WHERE
	    schemaname = 'public'"
}
pgdump_lines() {
	pg_dump --data-only --no-owner "$PGDATABASE" ||
	    fail "pg_dump"
}
db_dump "$T/dump-0.txt"
pgdump_lines >"$T/pg_dump-0.sql"
seq0="$(seqs)"

for g in replay-1 replay-2 replay-3; do
	step "replay the whole topics ($g)"
	enrich_start "$g" "$g"
	pid_var="ENRICH_PID_${g//-/_}"
	pid="${!pid_var}"
	for i in $(seq 1 300); do
		n="$(grep -c -E '^crm-enrich\[[0-9]+\]: debug: record |dead-letter ' "$T/enrich-$g.log")"
		[ "$n" -ge "$total" ] && break
		sleep 0.2
	done
	[ "$n" -ge "$total" ] || fail "$g processed $n of $total records"
	stop_pid "$pid" 20 || fail "$g did not stop"
	after="$(table_counts)"
	[ "$after" = "$before" ] || fail "row counts changed after $g:
  before: $before
  after:  $after"
	db_dump "$T/dump-$g.txt"
	if ! cmp -s "$T/dump-0.txt" "$T/dump-$g.txt"; then
		diff "$T/dump-0.txt" "$T/dump-$g.txt" | head -20
		fail "the database changed after $g"
	fi
	done_n="$(grep -c ' done ' "$T/enrich-$g.log")"
	note "$g: $n records, $(grep -c ' duplicate ' "$T/enrich-$g.log") duplicates, $done_n 'done' (calendar upserts), $(wc -c <"$T/dump-$g.txt") bytes of table data identical"
done
pgdump_lines >"$T/pg_dump-3.sql"
# (\restrict and \unrestrict carry a random key per pg_dump run)
if ! diff <(grep -v -E '^SELECT pg_catalog.setval|^\\(un)?restrict ' "$T/pg_dump-0.sql") \
    <(grep -v -E '^SELECT pg_catalog.setval|^\\(un)?restrict ' "$T/pg_dump-3.sql") \
    >"$T/pg_dump.diff"; then
	head -20 "$T/pg_dump.diff"
	fail "pg_dump --data-only differs after three replays (rows or their order)"
fi
# Which sequences moved: only those the poison record's rolled-back
# transaction draws from (it never gets as far as a meeting or an
# attachment).
moved="$(diff <(grep '^SELECT pg_catalog.setval' "$T/pg_dump-0.sql") \
    <(grep '^SELECT pg_catalog.setval' "$T/pg_dump-3.sql") |
    sed -n "s/^> SELECT pg_catalog.setval('public.\\([a-z_]*\\)'.*/\\1/p" | sort | tr '\n' ' ')"
case " $moved" in
*" meetings_id_seq "*|*" attachments_id_seq "*)
	fail "a replay drew ids it should not have: $moved";;
esac
how="byte for byte apart from the random \\restrict key and the sequences the poison record draws from (${moved:-none})"
note "pg_dump --data-only: $(wc -c <"$T/pg_dump-0.sql") bytes before, $(wc -c <"$T/pg_dump-3.sql") after three replays: $how"
note "sequences before: $seq0"
note "sequences after:  $(seqs)"

step "purge an address"
carol_acme_msgs="$(sql "SELECT count(*) FROM participants WHERE tenant_id = 'acme' AND address = 'carol@initech.com'")"
carol_globex="$(sql "SELECT count(*) FROM participants WHERE tenant_id = 'globex' AND address = 'carol@initech.com'")"
only_carol="$(sql "SELECT count(*) FROM messages m WHERE tenant_id = 'acme' AND EXISTS (SELECT 1 FROM participants p WHERE p.message_id = m.id AND p.address = 'carol@initech.com') AND NOT EXISTS (SELECT 1 FROM participants o WHERE o.message_id = m.id AND o.address <> 'carol@initech.com' AND split_part(o.address, '@', 2) <> 'acme.example')")"
msgs_before="$(sql "SELECT count(*) FROM messages WHERE tenant_id = 'acme'")"
[ "$carol_acme_msgs" -gt 0 ] && [ "$carol_globex" -gt 0 ] && [ "$only_carol" -gt 0 ] ||
	fail "test data lacks carol ($carol_acme_msgs/$carol_globex/$only_carol)"
counts0="$(table_counts)"
"$ADMIN" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich" purge \
    --tenant acme --address carol@initech.com --dry-run >"$T/dry.out" ||
	fail "purge --dry-run"
grep -q "would purge tenant=acme .*\"messages\": $only_carol," "$T/dry.out" ||
	{ cat "$T/dry.out"; fail "dry-run counts"; }
[ "$(table_counts)" = "$counts0" ] || fail "--dry-run changed rows"
"$ADMIN" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich" purge \
    --tenant acme --address Carol@Initech.com --actor test >"$T/purge.out" ||
	fail "crm-admin purge failed"
cat "$T/purge.out"
[ "$(sql "SELECT count(*) FROM participants WHERE tenant_id = 'acme' AND address = 'carol@initech.com'")" = 0 ] ||
	fail "participations left"
[ "$(sql "SELECT count(*) FROM contact_addresses WHERE tenant_id = 'acme' AND address = 'carol@initech.com'")" = 0 ] ||
	fail "contact address left"
[ "$(sql "SELECT count(*) FROM attendees WHERE tenant_id = 'acme' AND address = 'carol@initech.com'")" = 0 ] ||
	fail "attendance left"
[ "$(sql "SELECT count(*) FROM messages WHERE tenant_id = 'acme'")" = $((msgs_before - only_carol)) ] ||
	fail "expected exactly $only_carol messages deleted"
[ "$(sql "SELECT count(*) FROM participants WHERE tenant_id = 'globex' AND address = 'carol@initech.com'")" = "$carol_globex" ] ||
	fail "purge in acme touched globex"
[ "$(sql "SELECT counts->>'messages' FROM purge_audit WHERE tenant_id = 'acme' AND target_kind = 'address' AND target_sha256 = encode(sha256('carol@initech.com'), 'hex')")" = "$only_carol" ] ||
	fail "no audit row with the right count"
[ "$(sql "SELECT count(*) FROM purge_audit WHERE counts::text LIKE '%carol%'")" = 0 ] ||
	fail "the audit keeps the address"
[ "$(sql "SELECT COALESCE(sum(message_count), 0) = (SELECT count(*) FROM messages WHERE tenant_id = 'acme') FROM threads WHERE tenant_id = 'acme'")" = t ] ||
	fail "thread counts not maintained by the purge"
note "purged carol@initech.com from acme: $only_carol messages only she took part in"

step "purge a domain"
"$ADMIN" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich" purge \
    --tenant globex --domain initech.com >"$T/purge2.out" || fail "domain purge"
cat "$T/purge2.out"
[ "$(sql "SELECT count(*) FROM contact_addresses WHERE tenant_id = 'globex' AND domain LIKE '%initech.com'")" = 0 ] ||
	fail "initech.com addresses left"
[ "$(sql "SELECT count(*) FROM account_domains WHERE tenant_id = 'globex' AND domain = 'initech.com'")" = 0 ] ||
	fail "initech.com account left"
[ "$(sql "SELECT count(*) FROM account_domains WHERE tenant_id = 'acme' AND domain = 'initech.com'")" = 1 ] ||
	fail "acme's initech.com account was touched"
step "account-domain: hooli.example joins umbrella.co.uk's account (acme)"
ADM=("$ADMIN" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich")
acct() { sql "SELECT account_id FROM account_domains WHERE tenant_id = '$1' AND domain = '$2'"; }
u="$(acct acme umbrella.co.uk)" h="$(acct acme hooli.example)"
gh="$(acct globex hooli.example)"
[ -n "$u" ] && [ -n "$h" ] && [ -n "$gh" ] && [ "$u" != "$h" ] ||
	fail "expected separate umbrella.co.uk and hooli.example accounts in acme"
hc="$(sql "SELECT count(*) FROM contacts WHERE tenant_id = 'acme' AND account_id = $h")"
uc="$(sql "SELECT count(*) FROM contacts WHERE tenant_id = 'acme' AND account_id = $u")"
"${ADM[@]}" account-domain --tenant acme --domain hooli.example \
    --into umbrella.co.uk --dry-run >"$T/merge-dry.out" || fail "account-domain --dry-run"
grep -q "^would move tenant=acme domain=hooli.example into account $u " "$T/merge-dry.out" ||
	{ cat "$T/merge-dry.out"; fail "dry run output"; }
[ "$(acct acme hooli.example)" = "$h" ] || fail "--dry-run changed the account"
"${ADM[@]}" account-domain --tenant acme --domain Hooli.Example \
    --into umbrella.co.uk >"$T/merge.out" || fail "account-domain"
cat "$T/merge.out"
grep -q "\"contacts\": $hc, .*\"accounts_removed\": 1" "$T/merge.out" || fail "merge counts"
[ "$(acct acme hooli.example)" = "$u" ] || fail "hooli.example not moved"
[ "$(sql "SELECT count(*) FROM accounts WHERE id = $h")" = 0 ] || fail "old account left"
[ "$(sql "SELECT count(*) FROM contacts WHERE tenant_id = 'acme' AND account_id = $u")" = $((uc + hc)) ] ||
	fail "contacts not moved"
[ "$(acct globex hooli.example)" = "$gh" ] || fail "globex's hooli.example account touched"
"${ADM[@]}" account-domain --tenant acme --domain hooli.example \
    --into umbrella.co.uk >"$T/merge2.out" || fail "second account-domain"
grep -q 'already belongs' "$T/merge2.out" || fail "second run not a no-op"
if "${ADM[@]}" account-domain --tenant acme --domain x.example \
    --into nosuch.example 2>"$T/merge3.err"; then fail "unknown --into accepted"; fi
grep -q 'no account of tenant acme owns the domain nosuch.example' "$T/merge3.err" ||
	fail "unknown --into: no clear error"
# mail from someone new at hooli.example now lands in the merged account
enrich_start after crm-enrich
printf 'From: "Nia Park" <nia@hooli.example>\r\nTo: alice@acme.example\r\nMessage-ID: <nia@hooli.example>\r\nSubject: hello\r\nDate: Tue, 01 Sep 2026 10:00:00 +0000\r\n\r\nhello\r\n' >"$T/nia.eml"
produce_one crm.mail.v1 "$T/nia.eml" nia
wait_sql "SELECT c.account_id FROM contacts c JOIN contact_addresses a ON a.contact_id = c.id WHERE a.address = 'nia@hooli.example'" "$u" 60
stop_pid "$ENRICH_PID_after" 20 || fail "crm-enrich did not stop"
note "hooli.example and its $hc contacts joined account $u; later mail from it resolves there"

pass "$records records, replayed three times with no change, 4 dead letters, purges audited, account domains merged"
