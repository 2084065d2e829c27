#!/usr/bin/env bash
# enrich_batch.sh - crm-enrich writes a backlog in batches (real Kafka,
# PostgreSQL 15), and a bad record or a transient failure costs a batch
# nothing.
#
# 300 generated messages (about 350 records) and one record the database
# rejects (a test trigger on participants, permanent SQLSTATE) are
# produced before crm-enrich starts, so it finds a backlog and takes it in
# batches of at most batch_records = 16.  A second test trigger fails the
# first message insert once with a serialization failure (SQLSTATE 40001,
# transient).  Afterwards:
#   - records were written in batches (the log shows batches of 16), none
#     larger than 16;
#   - exactly one retry (the transient failure: its whole batch again),
#     exactly one dead letter (the rejected record, with the database's
#     reason), and nothing of the rejected message is stored;
#   - every other record took effect exactly once: the expected counts per
#     tenant, thread counters matching the threaded messages, one
#     tenant's records in offset order within a partition;
#   - two transactions storing one key at once (as two instances with a
#     copy each would) leave one row and one thread: the loser undoes the
#     thread it made and reports a duplicate;
#   - a replay of both topics under a new group changes no row count.
. "$(dirname "$0")/../lib/common.sh"
scenario_init enrich_batch 13
. "$TLIB/enrich.sh"
PRODUCE="$B/tests/tools/manifest-produce"
[ -x "$PRODUCE" ] || fail "build first: make $PRODUCE"
enrich_stack

step "triggers: one record rejected for good, one failure that goes away"
sql "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN IF NEW.address = 'boom@bad.example' THEN
    RAISE EXCEPTION 'rejected by test trigger'; END IF; RETURN NEW; END \$\$;
    CREATE TRIGGER boom BEFORE INSERT ON participants FOR EACH ROW
    EXECUTE FUNCTION boom();
    CREATE SEQUENCE once;
    GRANT USAGE ON SEQUENCE once TO crm_enrich;
    CREATE FUNCTION once() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN IF nextval('once') = 1 THEN RAISE EXCEPTION
    'test serialization failure' USING ERRCODE = '40001'; END IF;
    RETURN NEW; END \$\$;
    CREATE TRIGGER once BEFORE INSERT ON messages FOR EACH ROW
    EXECUTE FUNCTION once()" >/dev/null

step "a backlog: the generated records with the rejected one among them"
"$PY" "$GEN" "$T/gen" --count 300 --seed 7 --calendar 4 >/dev/null
records="$(wc -l <"$T/gen/manifest.tsv")"
want="$("$PY" -c "import json,sys; e=json.load(open(sys.argv[1])); print(sum(e[t]['messages'] for t in e))" "$T/gen/expected.json")"
head -n 150 "$T/gen/manifest.tsv" >"$T/first.tsv"
tail -n +151 "$T/gen/manifest.tsv" >"$T/rest.tsv"
"$PRODUCE" "$KAFKA_BOOTSTRAP" "$T/first.tsv" >/dev/null || fail "producing"
printf 'From: boom@bad.example\r\nTo: alice@acme.example\r\nMessage-ID: <boom@x>\r\nSubject: b\r\n\r\nbody\r\n' >"$T/boom.eml"
kcat -P -b "$KAFKA_BOOTSTRAP" -t crm.mail.v1 -k acme/alice@acme.example \
    -H schema=crm.mail/1 -H tenant=acme -H user=alice@acme.example \
    -H idempotency-key="$(printf '%064d' 3)" "$T/boom.eml" ||
    fail "kcat produce"
"$PRODUCE" "$KAFKA_BOOTSTRAP" "$T/rest.tsv" >/dev/null || fail "producing"
note "$((records + 1)) records, $want messages expected"

step "consume in batches of at most 16"
enrich_conf "$T/enrich-a.conf"
sed -i 's/^commit_interval_ms = .*/&\nbatch_records = 16/' "$T/enrich-a.conf"
"$ENRICH" --check -c "$T/enrich-a.conf" >/dev/null || fail "batch_records refused"
printf '[kafka]\nbrokers = x\nbatch_records = 0\n' >"$T/bad.conf"
if "$ENRICH" --check -c "$T/bad.conf" 2>"$T/bad.err"; then fail "batch_records = 0 accepted"; fi
grep -q 'bad.conf:3:' "$T/bad.err" || { cat "$T/bad.err"; fail "batch_records = 0: no file:line"; }
"$ENRICH" -c "$T/enrich-a.conf" >>"$T/enrich-a.log" 2>&1 &
ENRICH_PID_a=$!
track_pid "$ENRICH_PID_a" "crm-enrich a"
wait_sql "SELECT count(*) FROM messages" "$want" 180
wait_sql "SELECT count(*) FROM meetings" 4 60
# every record logged (the dead letter as a warning)
for i in $(seq 1 100); do
	n="$(grep -c -E 'debug: record |warning: dead-letter' "$T/enrich-a.log")"
	[ "$n" -ge $((records + 1)) ] && break
	sleep 0.2
done
stop_pid "$ENRICH_PID_a" 30 || fail "crm-enrich did not stop"

check_expected "$T/gen/expected.json"
check_order
[ "$(sql "SELECT count(*) FROM messages WHERE message_id = 'boom@x'")" = 0 ] ||
	fail "the rejected message was partly stored"
[ "$(sql "SELECT count(*) FROM contact_addresses WHERE address = 'boom@bad.example'")" = 0 ] ||
	fail "the rejected message left a contact"

sizes="$(grep -o 'batch of [0-9]*' "$T/enrich-a.log" | awk '{print $3}' | sort -n | uniq -c | tr '\n' ' ')"
note "batch sizes (count size): $sizes"
grep -q 'batch of 16)' "$T/enrich-a.log" || fail "the backlog was not taken in batches of 16"
big="$(grep -o 'batch of [0-9]*' "$T/enrich-a.log" | awk '$3 > 16' | wc -l)"
[ "$big" = 0 ] || fail "$big log lines show batches over batch_records"
retries="$(grep -c 'warning: retry ' "$T/enrich-a.log")"
[ "$retries" = 1 ] || fail "expected exactly 1 retry (the transient failure), saw $retries"
grep -q 'warning: retry .*40001' "$T/enrich-a.log" || fail "the retry was not the serialization failure"

kcat -C -b "$KAFKA_BOOTSTRAP" -t crm.deadletter.v1 -o beginning -e -q \
    -f '%k|%h\n' >"$T/dlq.txt" 2>/dev/null
[ "$(wc -l <"$T/dlq.txt")" = 1 ] || { cat "$T/dlq.txt"; fail "expected 1 dead letter"; }
grep -q 'error=database: P0001 .*rejected by test trigger' "$T/dlq.txt" ||
	fail "the dead letter does not carry the database's reason"
grep -q "idempotency-key=$(printf '%064d' 3)" "$T/dlq.txt" ||
	fail "the dead letter is not the rejected record"

step "two transactions race on one key: one row, one thread"
# What two instances do when each holds a copy of one message (two
# mailboxes, two partitions): B's call does not see A's uncommitted row,
# finds no thread and makes one, then its INSERT waits for A.  When A
# commits, B's call must undo its thread and report a duplicate (NULL).
race_call() { # SUBJECT
	printf "SELECT crm_store_message('acme', repeat('e', 64), 'race@x', NULL,
	    '{}', '%s', now(), 'in', 'alice@acme.example', NULL, NULL, NULL,
	    NULL, NULL, 10, 'hi', 'crm.mail.v1', 0, 0,
	    'acme/alice@acme.example', '{}', NULL, NULL, NULL, NULL, '%s',
	    false, true, '{from}', '{carol@initech.com}', '{initech.com}',
	    '{Carol}', '{f}', '{f}', '{initech.com}', NULL, NULL, NULL, NULL,
	    '{}', '{}', '{}', '{}') IS NOT NULL;\n" "$1" "$1"
}
as_enrich() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -U crm_enrich "$@"
}
{
	printf "BEGIN;\nSELECT set_config('crm.tenant_id', 'acme', true) \\g /dev/null\n"
	race_call "race"
	printf "SELECT pg_sleep(3) \\g /dev/null\nCOMMIT;\n"
} | as_enrich >"$T/race-a.out" 2>&1 &
RACE_A=$!
sleep 1
{
	printf "BEGIN;\nSELECT set_config('crm.tenant_id', 'acme', true) \\g /dev/null\n"
	race_call "race"
	printf "COMMIT;\n"
} | as_enrich >"$T/race-b.out" 2>&1 || { cat "$T/race-b.out"; fail "B's call failed"; }
wait "$RACE_A" || { cat "$T/race-a.out"; fail "A's call failed"; }
[ "$(cat "$T/race-a.out")" = t ] || { cat "$T/race-a.out"; fail "A did not store the message"; }
[ "$(cat "$T/race-b.out")" = f ] || { cat "$T/race-b.out"; fail "B did not see a duplicate"; }
[ "$(sql "SELECT count(*) FROM messages WHERE message_id = 'race@x'")" = 1 ] ||
	fail "the raced message is not exactly one row"
[ "$(sql "SELECT count(*) || '/' || sum(message_count) FROM threads WHERE subject = 'race'")" = 1/1 ] ||
	fail "the losing call left a thread behind: $(sql "SELECT count(*) FROM threads WHERE subject = 'race'")"
sql "DELETE FROM messages WHERE message_id = 'race@x'; DELETE FROM threads WHERE subject = 'race'" >/dev/null

step "replay under a new group: nothing changes"
before="$(table_counts)"
enrich_start r replay
for i in $(seq 1 600); do
	n="$(grep -c -E 'debug: record |warning: dead-letter' "$T/enrich-r.log")"
	[ "$n" -ge $((records + 1)) ] && break
	sleep 0.2
done
stop_pid "$ENRICH_PID_r" 30 || fail "replay instance did not stop"
[ "$(table_counts)" = "$before" ] || fail "the replay changed row counts"
dups="$(grep -c ' duplicate ' "$T/enrich-r.log")"
note "replay: $dups duplicates, counts unchanged"
pass "$((records + 1)) records in batches: 1 dead letter, 1 retry, every other record once"
